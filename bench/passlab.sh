#!/bin/bash
# bench/passlab.sh — the passthrough tunnel against plain TCP relays, and
# splicelab's variants of it, on the benchmark's kind of topology (client
# namespace with the relays, origin namespace behind a veth pair). Run as
# root; everything it makes is removed on exit. Findings: bench/README.md,
# "The passthrough tunnel against socat".
#
#   bench/passlab.sh [ROUNDS [MIB]]      default 5 rounds of a 256 MiB blob
#   HUBGATE=path (default ./hubgate)     PASSLAB_ONLY="socat hubgate" (subset)
#   HUBGATE_B=path                       a second build as subject hubgate-b
#                                        (A/B of a change in the same rounds)
#   PASSLAB_STRACE=1                     also strace -c one transfer through
#                                        hubgate and socat
#
# Per subject: MiB/s (bytes / curl's time_total), the relay's CPU seconds per
# GiB (utime+stime, children included) and the machine's (both cores, as
# case 7); medians over rounds, subjects in an order rotated each round.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-5}
MIB=${2:-256}
HUBGATE=${HUBGATE:-$TOP/hubgate}
ID=$$
NSC=plc$ID NSH=plh$ID
TMP=$(mktemp -d /tmp/passlab.XXXXXX)
PIDS=()
CLK=$(getconf CLK_TCK)

cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.3
    ip netns del "$NSC" 2>/dev/null
    ip netns del "$NSH" 2>/dev/null
    rm -rf "/etc/netns/$NSC" "$TMP"
}
trap cleanup EXIT

inc() { ip netns exec "$NSC" "$@"; }
inh() { ip netns exec "$NSH" "$@"; }
start() { local ns=$1; shift; ip netns exec "$ns" "$@" >>"$TMP/svc.log" 2>&1 & PIDS+=($!); }

ip netns add "$NSC"
ip netns add "$NSH"
ip link add "vc$ID" type veth peer name "vh$ID"
ip link set "vc$ID" netns "$NSC"
ip link set "vh$ID" netns "$NSH"
ip -n "$NSC" addr add 10.77.0.1/24 dev "vc$ID"
ip -n "$NSH" addr add 10.77.0.4/24 dev "vh$ID"
for ns in "$NSC" "$NSH"; do ip -n "$ns" link set lo up; done
ip -n "$NSC" link set "vc$ID" up
ip -n "$NSH" link set "vh$ID" up
mkdir -p "/etc/netns/$NSC"
printf '127.0.0.1 localhost\n10.77.0.4 origin.lab\n' >"/etc/netns/$NSC/hosts"

# The origin: nginx, TLS 1.3, sendfile, as the benchmark's.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=origin.lab -addext subjectAltName=DNS:origin.lab \
    -keyout "$TMP/o.key" -out "$TMP/o.crt" 2>/dev/null
mkdir -p "$TMP/www"
head -c "$((MIB * 1048576))" /dev/urandom >"$TMP/www/blob"
cat >"$TMP/nginx.conf" <<EOF
user root; worker_processes 2; daemon off; pid $TMP/nginx.pid; error_log $TMP/nginx.err warn;
events { worker_connections 1024; }
http { access_log off; sendfile on; client_body_temp_path $TMP/b; proxy_temp_path $TMP/p;
  fastcgi_temp_path $TMP/f; uwsgi_temp_path $TMP/u; scgi_temp_path $TMP/s;
  server { listen 10.77.0.4:443 ssl; ssl_certificate $TMP/o.crt; ssl_certificate_key $TMP/o.key;
           ssl_protocols TLSv1.3; root $TMP/www; } }
EOF
start "$NSH" nginx -c "$TMP/nginx.conf"

# The relays, each on its own port in the client namespace.
cat >"$TMP/hubgate.ini" <<EOF
[proxy]
listen = 127.0.0.1:3128
[ca]
dir = $TMP/ca
[intercept]
hosts = nothing.invalid
[admin]
listen =
EOF
start "$NSC" "$HUBGATE" -c "$TMP/hubgate.ini"
HG_PID=${PIDS[-1]}
if [ -n "${HUBGATE_B:-}" ]; then
    sed -e 's|^listen = 127.0.0.1:3128|listen = 127.0.0.1:3129|' -e "s|^dir = .*|dir = $TMP/ca-b|" \
        "$TMP/hubgate.ini" >"$TMP/hubgate-b.ini"
    start "$NSC" "$HUBGATE_B" -c "$TMP/hubgate-b.ini"
    HGB_PID=${PIDS[-1]}
fi
cc -O2 -o "$TMP/splicelab" "$TOP/bench/splicelab.c"
declare -A PORT=() RPID=()
relay() {   # relay NAME PORT CMD...
    local n=$1 p=$2
    shift 2
    start "$NSC" "$@"
    PORT[$n]=$p RPID[$n]=${PIDS[-1]}
}
relay socat 3143 socat TCP-LISTEN:3143,bind=127.0.0.1,reuseaddr,fork TCP:10.77.0.4:443
relay socat-64k 3144 socat -b 65536 TCP-LISTEN:3144,bind=127.0.0.1,reuseaddr,fork TCP:10.77.0.4:443
L=$TMP/splicelab
relay lab-hubgate-like 3150 "$L" 127.0.0.1:3150 10.77.0.4:443
relay lab-et 3151 "$L" 127.0.0.1:3151 10.77.0.4:443 --et
relay lab-pipe64k 3152 "$L" 127.0.0.1:3152 10.77.0.4:443 --pipe 65536
relay lab-pipe1m 3153 "$L" 127.0.0.1:3153 10.77.0.4:443 --pipe 1048576
relay lab-et-pipe1m 3154 "$L" 127.0.0.1:3154 10.77.0.4:443 --et --pipe 1048576
relay lab-lowat64k 3155 "$L" 127.0.0.1:3155 10.77.0.4:443 --lowat 65536
relay lab-copy64k 3156 "$L" 127.0.0.1:3156 10.77.0.4:443 --copy 65536
relay lab-more 3157 "$L" 127.0.0.1:3157 10.77.0.4:443 --more
PORT[hubgate]=3128 RPID[hubgate]=$HG_PID
[ -z "${HUBGATE_B:-}" ] || { PORT[hubgate-b]=3129 RPID[hubgate-b]=$HGB_PID; }
PORT[direct]=443 RPID[direct]=""
sleep 2

cpu_of() {  # utime+stime(+children) of a pid and its descendants, ticks
    local root=$1 t=0 p v
    [ -n "$root" ] || { echo 0; return; }
    for p in $(ps -e -o pid=,ppid= | awk -v r="$root" '{par[$1]=$2} END {for (p in par) {q=p; n=0;
              while (q > 1 && n++ < 64) {if (q == r) {print p; break} q = par[q]}}}'); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13+$14+$15}') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
mcpu() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
# Packets sent on the client namespace's loopback: relay -> curl, one per
# skb (loopback takes GSO super-packets whole), so bytes / packets is the
# size of the skbs the relay's sends make.
lopk() { inc cat /sys/class/net/lo/statistics/tx_packets; }

get() {     # get SUBJECT: prints "bytes seconds"
    local s=$1 a
    case $s in
        direct) a=(--resolve origin.lab:443:10.77.0.4) ;;
        hubgate) a=(-x http://127.0.0.1:3128) ;;
        hubgate-b) a=(-x http://127.0.0.1:3129) ;;
        *) a=(--resolve "origin.lab:443:127.0.0.1" --connect-to "origin.lab:443:127.0.0.1:${PORT[$s]}") ;;
    esac
    inc curl -sS -k --http1.1 --max-time 120 "${a[@]}" -o /dev/null \
        -w '%{size_download} %{time_total}\n' https://origin.lab/blob
}

SUBJ=${PASSLAB_ONLY:-direct hubgate socat socat-64k lab-hubgate-like lab-et lab-pipe64k lab-pipe1m lab-et-pipe1m lab-copy64k lab-more}
read -ra SA <<<"$SUBJ"
for s in "${SA[@]}"; do                              # warm-up
    get "$s" >/dev/null || { echo "passlab: warm-up through $s failed; services' log:" >&2
                             tail -n 20 "$TMP/svc.log" >&2; exit 1; }
done
: >"$TMP/samples"
for ((r = 0; r < ROUNDS; r++)); do
    n=${#SA[@]}
    for ((i = 0; i < n; i++)); do
        s=${SA[(i + r) % n]}
        c0=$(cpu_of "${RPID[$s]}") m0=$(mcpu) p0=$(lopk)
        read -r b t <<<"$(get "$s")"
        m1=$(mcpu) p1=$(lopk)
        [ "$s" = direct ] || sleep 0.3   # forked children are counted once reaped
        c1=$(cpu_of "${RPID[$s]}")
        [ "$b" = "$((MIB * 1048576))" ] || { echo "passlab: $s got $b bytes" >&2; continue; }
        awk -v s="$s" -v b="$b" -v t="$t" -v c=$((c1 - c0)) -v m=$((m1 - m0)) -v hz="$CLK" \
            -v p=$((p1 - p0)) 'BEGIN {g = b / 1073741824
                printf "%s %.1f %.3f %.3f %.1f\n", s, b / 1048576 / t, c / hz / g, m / hz / g, (p > 0 ? b / p / 1024 : 0)}' \
            >>"$TMP/samples"
    done
done
if [ "${PASSLAB_STRACE:-0}" = 1 ]; then
    # Syscalls of one transfer through hubgate and through socat.
    for s in hubgate socat; do
        timeout 60 strace -c -f -p "${RPID[$s]}" -o "$TMP/strace.$s" &
        sp=$!
        sleep 1
        get "$s" >/dev/null
        sleep 0.5
        kill -INT "$sp"
        wait "$sp" 2>/dev/null || true
        echo "strace -c -f, one $MIB MiB transfer through $s:"
        head -n 14 "$TMP/strace.$s"
    done
fi
printf '%-18s %9s %14s %16s %14s\n' subject MiB/s "relay CPU s/GiB" "machine CPU s/GiB" "KiB per lo skb"
for s in "${SA[@]}"; do
    awk -v s="$s" '$1 == s {n++; a[n] = $2; c[n] = $3; m[n] = $4; k[n] = $5}
        function med(v, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
            if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t } return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
        END { if (n) printf "%-18s %9.1f %14.3f %16.3f %14.1f   (%d rounds, %.1f-%.1f MiB/s)\n", s, med(a, n), med(c, n), med(m, n), med(k, n), n, a[1], a[n] }' \
        "$TMP/samples"
done
echo "splicelab's counters, last transfer of each variant:"
for s in "${SA[@]}"; do
    case $s in lab-*) grep -h "^127.0.0.1:${PORT[$s]}: " "$TMP/svc.log" | tail -n 1 | sed "s/^/  $s /" ;; esac
done
