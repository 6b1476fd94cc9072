# shellcheck shell=bash disable=SC2034  # globals (SEC_RC, HG_PID...) are read by the tests
# sec/lib.sh — shared by t_40_security, t_41_faults and t_42_soak: two
# network namespaces joined by a veth pair, the origins of sec/origin.py,
# and helpers to run and measure ./hubgate. Source it, then call sec_init.
#
#   netns A  hgsec<pid>   lo, and 198.51.100.1/24 on the veth
#     hubgate instances (listen 0.0.0.0:PORT), loopback clients,
#     a banner server on 127.0.0.1:8022 (a loopback-only service);
#     routes to 10.77.0.0/24, 192.168.77.0/24 and 169.254.169.254 on the veth
#     /etc/netns/A/hosts: the names below; resolv.conf names 127.0.0.1,
#     where nothing answers, so any other name fails at once
#   netns B  hgsec<pid>b  198.51.100.2  a "LAN client" (allowed)
#                         198.51.100.66 a client outside [proxy] allow
#                         198.51.100.3  Docker Hub stand-in: TLS :443 for
#                                       registry-1.docker.io, auth.docker.io,
#                                       production.cloudflare.docker.com
#                                       (certificate by SNI); plain HTTP :80
#                                       records every byte (origin.test),
#                                       :8080 serves the same paths as :443
#                         198.51.100.4  site.example.test TLS :443 (tunnelled)
#                         10.77.0.7, 192.168.77.7  private LAN hosts (banner :443)
#                         169.254.169.254          "cloud metadata" (banner :443, :80)
#
# Names in A's hosts file: the Docker Hub three and origin.test -> .3,
# site.example.test -> .4, lan.test -> 10.77.0.7, metadata.test ->
# 169.254.169.254, loop.test -> 127.0.0.1, self.test -> 198.51.100.1.
#
# Each test records results with good/bad and ends with sec_finish (exit 1
# when any case failed). Everything made goes at exit, also on failure.
#   HUBGATE=path  binary (default: the repository's ./hubgate)
#   HG_KEEP=1     keep the temp dir (logs, configs, PKI)
#   HG_VERBOSE=1  set -x

set -uo pipefail

SEC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
SEC_DIR=$SEC_TOP/tests/integration/sec
# shellcheck source=../wait.sh
. "$SEC_TOP/tests/integration/wait.sh"
HUBGATE=${HUBGATE:-$SEC_TOP/hubgate}
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy \
      SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE CURL_HOME || true

A_IP=198.51.100.1
LAN_IP=198.51.100.2
HUB_IP=198.51.100.3
SITE_IP=198.51.100.4
OUT_IP=198.51.100.66
LAN_HOST_IP=10.77.0.7
LAN2_HOST_IP=192.168.77.7
META_IP=169.254.169.254
HUB_HOSTS="registry-1.docker.io auth.docker.io production.cloudflare.docker.com"

SEC_NAME=""
NS_A=""
NS_B=""
TMP=""
declare -A SEC_PID=()
SEC_FAILS=()
sec_ns_made=0

sec_log() { echo "# $*"; }
sec_skip() { echo "SKIP: $*"; exit 77; }
# bad MSG: a failed case; the run goes on. good MSG: a passed one.
bad() { echo "FAIL: $*"; SEC_FAILS+=("$*"); }
good() { echo "ok: $*"; }

# sec_init NAME: prerequisites (skip when not root or a tool is missing),
# temp dir, cleanup trap, namespaces, PKI.
sec_init() {
    SEC_NAME=$1
    local c
    [ "$(id -u)" = 0 ] || sec_skip "$SEC_NAME needs root (network namespaces)"
    for c in ip curl openssl timeout sha256sum head awk nsenter unshare mount; do
        command -v "$c" >/dev/null 2>&1 || sec_skip "missing $c"
    done
    [ -x "$PY" ] || sec_skip "missing $PY"
    [ -x "$HUBGATE" ] || { echo "FAIL: no hubgate binary at $HUBGATE (make hubgate)"; exit 1; }
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-sec.XXXXXX")
    chmod 755 "$TMP"
    trap sec_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    [ "${HG_VERBOSE:-0}" = 1 ] && set -x
    sec_log "$SEC_NAME: temp dir $TMP"
    sec_topology
    sh "$SEC_TOP/tests/pki/gen.sh" "$TMP/pki" $HUB_HOSTS site.example.test lan.test \
        >/dev/null 2>&1 || { echo "FAIL: tests/pki/gen.sh"; exit 1; }
}

sec_cleanup() {
    local rc=$? p n f
    set +e +x
    trap - EXIT INT TERM HUP
    if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -d "$TMP" ]; then
        for f in "$TMP"/*.log; do
            [ -s "$f" ] || continue
            echo "---- $(basename "$f") (last ${HG_LOG_LINES:-25} lines)"
            tail -n "${HG_LOG_LINES:-25}" "$f" | cut -c1-400
        done
    fi
    for n in "${!SEC_PID[@]}"; do
        kill "${SEC_PID[$n]}" 2>/dev/null
    done
    for n in "${!SEC_PID[@]}"; do
        timeout 5 tail --pid="${SEC_PID[$n]}" -f /dev/null 2>/dev/null
        kill -KILL "${SEC_PID[$n]}" 2>/dev/null
        wait "${SEC_PID[$n]}" 2>/dev/null
    done
    if [ "$sec_ns_made" = 1 ]; then
        # Anything still in our namespaces was started by this test.
        for n in "$NS_A" "$NS_B"; do
            for p in $(ip netns pids "$n" 2>/dev/null); do
                kill -KILL "$p" 2>/dev/null
            done
        done
        ip netns del "$NS_A" 2>/dev/null
        ip netns del "$NS_B" 2>/dev/null
        rm -rf "/etc/netns/$NS_A" "/etc/netns/$NS_B"
        rmdir /etc/netns 2>/dev/null
    fi
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        awk -v p="$TMP/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r \
            | while read -r m; do umount -l "$m" 2>/dev/null; done
        if [ "${HG_KEEP:-0}" = 1 ]; then
            echo "kept $TMP"
        else
            rm -rf --one-file-system "$TMP"
        fi
    fi
    exit "$rc"
}

sec_topology() {
    local va=hgs$$a vb=hgs$$b
    NS_A=hgsec$$
    NS_B=hgsec${$}b
    ip netns add "$NS_A" || sec_skip "cannot create a network namespace"
    sec_ns_made=1
    ip netns add "$NS_B" || { echo "FAIL: netns $NS_B"; exit 1; }
    ip link add "$va" netns "$NS_A" type veth peer name "$vb" netns "$NS_B" \
        || { echo "FAIL: veth"; exit 1; }
    ip -n "$NS_A" link set lo up
    ip -n "$NS_B" link set lo up
    ip -n "$NS_A" addr add "$A_IP/24" dev "$va"
    for a in "$LAN_IP/24" "$HUB_IP/24" "$SITE_IP/24" "$OUT_IP/24" "$LAN_HOST_IP/24" \
             "$LAN2_HOST_IP/24" "$META_IP/32"; do
        ip -n "$NS_B" addr add "$a" dev "$vb"
    done
    ip -n "$NS_A" link set "$va" up
    ip -n "$NS_B" link set "$vb" up
    ip -n "$NS_A" route add 10.77.0.0/24 dev "$va"
    ip -n "$NS_A" route add 192.168.77.0/24 dev "$va"
    ip -n "$NS_A" route add "$META_IP/32" dev "$va"
    # replies to A go back on the veth whatever the source address
    ip -n "$NS_B" route add "$A_IP/32" dev "$vb" 2>/dev/null || true
    mkdir -p "/etc/netns/$NS_A" "/etc/netns/$NS_B"
    {
        echo "127.0.0.1 localhost loop.test"
        echo "::1 localhost ip6-localhost"
        echo "$HUB_IP $HUB_HOSTS origin.test"
        echo "$SITE_IP site.example.test"
        echo "$LAN_HOST_IP lan.test"
        echo "$LAN2_HOST_IP lan2.test"
        echo "$META_IP metadata.test"
        echo "$A_IP self.test"
    } >"/etc/netns/$NS_A/hosts"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$NS_B/hosts"
    for n in "$NS_A" "$NS_B"; do
        printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$n/resolv.conf"
    done
    sec_log "namespaces $NS_A ($A_IP) <-> $NS_B (LAN $LAN_IP, hub $HUB_IP, site $SITE_IP)"
}

inA() { ip netns exec "$NS_A" "$@"; }
inB() { ip netns exec "$NS_B" "$@"; }

# sec_start NAME NS CMD...: CMD in NS in the background, output appended to
# $TMP/NAME.log; its pid in SEC_PID[NAME].
sec_start() {
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" >>"$TMP/$name.log" 2>&1 &
    SEC_PID[$name]=$!
}

# sec_stop NAME [SIGNAL]: signals it and waits (10 s, then SIGKILL). Sets
# SEC_RC to its exit status.
SEC_RC=0
sec_stop() {
    local p=${SEC_PID[$1]:-} sig=${2:-TERM}
    SEC_RC=0
    [ -n "$p" ] || return 0
    unset "SEC_PID[$1]"
    kill "-$sig" "$p" 2>/dev/null
    if ! timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null; then
        kill -KILL "$p" 2>/dev/null
    fi
    wait "$p" 2>/dev/null
    SEC_RC=$?
    return 0
}

alive() {
    local p=${SEC_PID[$1]:-} st
    [ -n "$p" ] || return 1
    st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# wait_port NS ADDR PORT NAME: until ADDR:PORT accepts in NS (15 s), failing
# the test when NAME died first.
wait_port() {
    local ns=$1 addr=$2 port=$3 name=$4 i
    for ((i = 0; i < 150; i++)); do
        if ip netns exec "$ns" "$PY" -c 'import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))))' "$addr" "$port" 2>/dev/null; then
            return 0
        fi
        alive "$name" || break
        sleep 0.1
    done
    echo "FAIL: $name does not listen on $addr:$port in $ns"
    exit 1
}

# sec_origins: sec/origin.py in B (TLS hub and site, plain recorder, banners)
# and a banner on A's loopback. Files served come from $TMP/data.
sec_origins() {
    mkdir -p "$TMP/data" "$TMP/rec"
    sec_start origin "$NS_B" "$PY" -u "$SEC_DIR/origin.py" --pki "$TMP/pki" \
        --data "$TMP/data" --rec "$TMP/rec" \
        --tls "$HUB_IP:443" --tls "$SITE_IP:443" --record "$HUB_IP:80" --http "$HUB_IP:8080" \
        --banner "$LAN_HOST_IP:443" --banner "$LAN2_HOST_IP:443" \
        --banner "$META_IP:443" --banner "$META_IP:80" --banner "$LAN_HOST_IP:22"
    sec_start origin-a "$NS_A" "$PY" -u "$SEC_DIR/origin.py" --rec "$TMP/rec" \
        --banner 127.0.0.1:8022 --banner 127.0.0.1:22 --record 127.0.0.1:8081
    wait_port "$NS_B" "$HUB_IP" 443 origin
    wait_port "$NS_B" "$SITE_IP" 443 origin
    wait_port "$NS_B" "$HUB_IP" 80 origin
    wait_port "$NS_B" "$HUB_IP" 8080 origin
    wait_port "$NS_B" "$META_IP" 443 origin
    wait_port "$NS_A" 127.0.0.1 8022 origin-a
    wait_port "$NS_A" 127.0.0.1 8081 origin-a
}

# hg_conf FILE PORT [LINES...]: a hubgate config listening on 0.0.0.0:PORT,
# CA in $TMP/ca-PORT, intercepting the Docker Hub names, trusting the test
# PKI upstream, admin endpoint off. Extra "[section]" and "key = value"
# LINES are appended (a repeated key: the last wins, lists append).
hg_conf() {
    local f=$1 port=$2 l
    shift 2
    {
        echo "[proxy]"
        echo "listen = 0.0.0.0:$port"
        echo "allow = 127.0.0.0/8 198.51.100.0/30"   # the LAN range .0-.3; .66 is outside
        echo "drain_timeout = 2s"
        echo "[ca]"
        echo "dir = $TMP/ca-$port"
        echo "[intercept]"
        echo "hosts = $HUB_HOSTS"
        echo "[upstream]"
        echo "via = direct"
        echo "ca_file = $TMP/pki/ca.crt"
        echo "connect_timeout = 3s"
        echo "[dns]"
        echo "servers ="
        echo "[admin]"
        echo "listen ="
        for l in "$@"; do echo "$l"; done
    } >"$f"
}

# hg_up NAME PORT CONF [PREFIX...]: runs hubgate -c CONF in A (PREFIX, e.g.
# "sh -c 'ulimit -n 64; exec \"\$0\" \"\$@\"'", wraps it), waits for PORT.
# HG_PID is its pid.
HG_PID=""
hg_up() {
    local name=$1 port=$2 conf=$3
    shift 3
    mkdir -p "$TMP/ca-$port"
    sec_start "$name" "$NS_A" "$@" "$HUBGATE" -c "$conf"
    wait_port "$NS_A" 127.0.0.1 "$port" "$name"
    HG_PID=${SEC_PID[$name]}
}

fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# fds_at_least PID N: true once PID has N descriptors or more open (for
# wait_for: hubgate took connections out of its accept queue).
fds_at_least() { [ "$(fd_count "$1")" -ge "$2" ]; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
# cpu_ticks PID: user + system time in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# fd_settle PID WANT [SECONDS]: waits until the descriptor count of PID is
# WANT (default 10 s); prints the last count.
fd_settle() {
    local pid=$1 want=$2 t=${3:-10} i n
    for ((i = 0; i < t * 10; i++)); do
        n=$(fd_count "$pid")
        [ "$n" -le "$want" ] && break
        sleep 0.1
    done
    echo "$n"
}

# pcurl NS [CURL ARGS...]: curl, killed after 20 s, no config file.
pcurl() {
    local ns=$1
    shift
    timeout 25 ip netns exec "$ns" curl -q -sS --max-time 20 "$@"
}

# client NS ARGS...: sec/client.py in NS.
client() {
    local ns=$1
    shift
    timeout 120 ip netns exec "$ns" "$PY" -u "$SEC_DIR/client.py" "$@"
}

# rec_bytes NAME: bytes the recorder got on listener NAME (e.g. 198.51.100.3_80).
rec_bytes() { cat "$TMP/rec/$1".bin 2>/dev/null | wc -c; }
rec_conns() { cat "$TMP/rec/$1".conns 2>/dev/null || echo 0; }

sec_finish() {
    local f
    # a sanitizer build (make SAN=address,undefined) reports into the logs
    for f in "$TMP"/*.log; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$f"; then
            bad "sanitizer report in $(basename "$f"): $(grep -m1 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f" | cut -c1-200)"
        fi
    done
    if [ "${#SEC_FAILS[@]}" -gt 0 ]; then
        echo "$SEC_NAME: ${#SEC_FAILS[@]} case(s) failed:"
        printf '  - %s\n' "${SEC_FAILS[@]}"
        exit 1
    fi
    echo "$SEC_NAME: all cases passed"
    exit 0
}

# jget JSON KEY: a field of a JSON object ("" when null or absent).
jget() {
    "$PY" -c 'import json, sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print("" if v is None else v)' "$1" "$2" 2>/dev/null
}

# hg_socks PID NS: the TCP sockets of PID in NS, one "STATE LOCAL PEER" a line.
hg_socks() {
    ip netns exec "$2" ss -tanpH 2>/dev/null | awk -v p="pid=$1," 'index($0, p) {print $1, $4, $5}'
}

# no_client_sock PID PORT: true when PID, in netns A, holds no socket on
# :PORT but its listener (every client it served has gone).
no_client_sock() {
    ! hg_socks "$1" "$NS_A" | awk -v p=":$2\$" '$1 != "LISTEN" && $2 ~ p {f = 1} END {exit !f}'
}
