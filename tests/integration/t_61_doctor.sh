#!/bin/bash
# t_61_doctor — `hubgate doctor -c FILE` against the Docker Hub stand-in of
# lib.sh (hubgate in the client namespace, the hub in the other):
#   1. everything up (trust store and dockerd's environment through the
#      test hooks HUBGATE_TRUST_BUNDLE / HUBGATE_DOCKERD_ENV_FILE): every
#      line OK, exit 0, no colour when stdout is not a terminal, green OK
#      when it is;
#   2. every link kind works: socks5:// with credentials (a small SOCKS5
#      server here), http:// (a second hubgate that tunnels the Docker Hub
#      names), relay:https:// (the stand-in answers /v2/ like a relay) and
#      direct: all OK;
#   3. failures turn exactly the right lines to FAIL, each with a fix line,
#      exit 1: ca.key mode 0644; a trust bundle without the CA; dockerd's
#      environment without HTTPS_PROXY, with a NO_PROXY covering docker.io,
#      or no dockerd at all ("fix: systemctl start docker"); dead socks5 and
#      http links; a CA expiring in 10 days; local DNS sending auth.docker.io
#      to another server ("looks poisoned"); a broken config;
#   4. hubgate stopped: the listening and end-to-end lines FAIL.
# HUBGATE=path picks the binary (lib.sh), e.g. the sanitizer build.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
hg_init t_61_doctor
[ "$HUBGATE_DIRECT" = 1 ] && hg_skip "HUBGATE_DIRECT=1: nothing to check without hubgate"
command -v script >/dev/null 2>&1 || hg_skip "missing script (bsdutils)"

DOCTOR=("$HUBGATE" doctor)
probe=$("$HUBGATE" doctor -c /nonexistent 2>&1 || true)
[[ $probe != *"unknown argument"* ]] || hg_fail "$HUBGATE does not know 'doctor'"
hg_log "doctor: ${DOCTOR[*]}"

hg_topology_up
hg_hub_up
hg_make_image hello --ref latest --platform linux/amd64 --platform linux/arm64/v8 \
    --layer 'text:hello:Hello from the Docker Hub stand-in of hubgate tests'
hg_push "$HG_TMP/oci/hello" latest library/hello-world:latest --all >/dev/null
hubgate_config "$HG_TMP/hubgate.ini"
hubgate_start "$HG_TMP/hubgate.ini"
conf=$HG_TMP/hubgate.ini
ca_dir=$HG_HUBGATE_CA_DIR

# The test hooks: a trust store holding hubgate's CA, dockerd's environment.
cp "$(hg_client_bundle)" "$HG_TMP/trust.pem"
printf 'PATH=/usr/bin\0HTTPS_PROXY=http://%s\0NO_PROXY=localhost,127.0.0.1\0' "$HG_PROXY" \
    >"$HG_TMP/dockerd.env"
export HUBGATE_TRUST_BUNDLE=$HG_TMP/trust.pem HUBGATE_DOCKERD_ENV_FILE=$HG_TMP/dockerd.env

# doctor NAME CONFIG: runs the doctor in the client namespace; output in
# $HG_LOGS/doctor-NAME.log, exit status in $rc.
rc=0
doctor() {
    rc=0
    hg_client timeout 120 env HUBGATE_TRUST_BUNDLE="$HUBGATE_TRUST_BUNDLE" \
        HUBGATE_DOCKERD_ENV_FILE="$HUBGATE_DOCKERD_ENV_FILE" \
        "${DOCTOR[@]}" -c "$2" >"$HG_LOGS/doctor-$1.log" 2>&1 || rc=$?
}

# expect NAME RC FAIL_PATTERN...: the last doctor run exited RC and its
# FAIL lines are exactly those matching the patterns (one each, in order),
# each followed by a fix line.
expect() {
    local name=$1 want_rc=$2 log=$HG_LOGS/doctor-$1.log fails n=0 p
    shift 2
    [ "$rc" = "$want_rc" ] || hg_fail "doctor ($name) exited $rc, want $want_rc: $(cat "$log")"
    fails=$(grep '^FAIL ' "$log" || true)
    for p in "$@"; do
        n=$((n + 1))
        sed -n "${n}p" <<<"$fails" | grep -q -- "$p" \
            || hg_fail "doctor ($name): FAIL line $n does not match '$p': $(cat "$log")"
    done
    [ "$(grep -c '^FAIL ' "$log")" = "$n" ] || hg_fail "doctor ($name): want $n FAIL lines: $(cat "$log")"
    [ "$(grep -c '^     fix: ' "$log")" = "$n" ] || hg_fail "doctor ($name): want $n fix lines: $(cat "$log")"
    if grep -vq -e '^OK   ' -e '^FAIL ' -e '^     fix: ' "$log"; then
        hg_fail "doctor ($name): unexpected output: $(grep -v -e '^OK   ' -e '^FAIL ' -e '^     fix: ' "$log")"
    fi
    hg_log "doctor ($name): exit $rc, $(grep -c '^OK ' "$log") OK, $n FAIL as expected"
}

# --- 1. everything up
doctor all "$conf"
expect all 0
for p in "^OK   config " "^OK   CA in $ca_dir" "^OK   CA key $ca_dir/ca.key readable only by its owner" \
         "^OK   CA certificate in the trust store" "^OK   CA certificate valid 30 more days" \
         "^OK   dockerd uses hubgate as HTTPS_PROXY" "^OK   hubgate listening on $HG_PROXY" \
         "^OK   link direct reaches registry-1.docker.io:443" \
         "^OK   local DNS for registry-1.docker.io ($HG_HUB_IP serves" \
         "^OK   local DNS for auth.docker.io" "^OK   local DNS for production.cloudflare.docker.com" \
         "^OK   end to end: a pull token" "^OK   end to end: HEAD library/hello-world:latest"; do
    grep -qF -- "${p#^}" "$HG_LOGS/doctor-all.log" || hg_fail "doctor (all): no line '$p': $(cat "$HG_LOGS/doctor-all.log")"
done
! grep -q $'\033' "$HG_LOGS/doctor-all.log" || hg_fail "doctor: colour codes without a terminal"
hg_client env HUBGATE_TRUST_BUNDLE="$HUBGATE_TRUST_BUNDLE" HUBGATE_DOCKERD_ENV_FILE="$HUBGATE_DOCKERD_ENV_FILE" \
    script -qec "timeout 120 ${DOCTOR[*]} -c $conf" /dev/null >"$HG_LOGS/doctor-tty.log" 2>&1 || true
grep -q $'\033\[32mOK' "$HG_LOGS/doctor-tty.log" || hg_fail "doctor: no green OK on a terminal: $(cat -v "$HG_LOGS/doctor-tty.log" | head -5)"
hg_log "doctor: colour only on a terminal"

# --- 1b. a registry added to the config, the CA made for the old list:
# ca-new --check, the start and doctor all name it and the rotation (#12)
sed 's|^hosts = \(.*\)|hosts = \1\nregistries = ghcr.io|' "$conf" >"$HG_TMP/ghcr.ini"
rc=0
out=$(hg_client "$HUBGATE" ca-new --check -c "$HG_TMP/ghcr.ini" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -qF "does not permit ghcr.io; rotate it: hubgate ca-new --force -c $HG_TMP/ghcr.ini" <<<"$out" \
    || hg_fail "ca-new --check with ghcr.io added: want exit 1 naming ghcr.io and the rotation, got $rc: $out"
rc=0
out=$(hg_client "$HUBGATE" ca-new --check -c "$conf" 2>&1) || rc=$?
[ "$rc" = 0 ] || hg_fail "ca-new --check with the CA's own list: exit $rc: $out"
rc=0
out=$(hg_client timeout 10 "$HUBGATE" -c "$HG_TMP/ghcr.ini" 2>&1) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "does not permit intercept host(s) ghcr.io.*hubgate-setup-docker" <<<"$out" \
    || hg_fail "start with ghcr.io added: want refused naming ghcr.io and hubgate-setup-docker, got $rc: $out"
doctor ghcr "$HG_TMP/ghcr.ini"
grep -q '^FAIL CA permits every intercepted name: not ghcr.io' "$HG_LOGS/doctor-ghcr.log" &&
    grep -A1 '^FAIL CA permits' "$HG_LOGS/doctor-ghcr.log" | grep -q 'fix: hubgate-setup-docker' &&
    [ "$rc" = 1 ] || hg_fail "doctor with ghcr.io added: $(cat "$HG_LOGS/doctor-ghcr.log")"
grep -q '^OK   CA permits every intercepted name (3)' "$HG_LOGS/doctor-all.log" \
    || hg_fail "doctor (all): no 'CA permits every intercepted name' line"
hg_log "a registry the CA was not made for: ca-new --check, the start and doctor name it and the rotation"

# --- 2. every kind of link: a SOCKS5 server with credentials, a second
# hubgate as HTTP proxy (tunnelling the Docker Hub names), a relay.
cat >"$HG_TMP/socks5.py" <<'EOF'
import socket, struct, sys, threading
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
def serve(c):
    try:
        n = c.recv(2)[1]; methods = c.recv(n)
        if 2 not in methods: c.sendall(b"\x05\xff"); return
        c.sendall(b"\x05\x02")
        ulen = c.recv(2)[1]; user = c.recv(ulen); plen = c.recv(1)[0]; pw = c.recv(plen)
        if (user, pw) != (b"tester", b"pw"): c.sendall(b"\x01\x01"); return
        c.sendall(b"\x01\x00")
        ver, cmd, _, atyp = c.recv(4)
        if atyp != 3: c.sendall(b"\x05\x08\x00\x01" + bytes(6)); return
        host = c.recv(c.recv(1)[0]).decode(); port = struct.unpack(">H", c.recv(2))[0]
        u = socket.create_connection((host, port), timeout=5); u.settimeout(None)
        c.sendall(b"\x05\x00\x00\x01" + bytes(6))
        threading.Thread(target=pump, args=(u, c), daemon=True).start(); pump(c, u)
    except Exception as e:
        print("socks5:", e, file=sys.stderr)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 1080)); s.listen(16)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
hg_start socks5 "$HG_NS_CLIENT" "$HG_PY" "$HG_TMP/socks5.py"
sed -e "s|^listen = .*|listen = 127.0.0.1:3138|" -e "s|^dir = .*|dir = $HG_TMP/hubgate2-ca|" \
    -e "s|^hosts = .*|hosts = $HG_SITE_HOST|" "$conf" >"$HG_TMP/hubgate2.ini"
mkdir -p "$HG_TMP/hubgate2-ca"
# The first hubgate holds the admin port: none for this one (when hubgate
# knows [admin]).
printf '[admin]\nlisten =\n' >>"$HG_TMP/hubgate2.ini"
"$HUBGATE" -t -c "$HG_TMP/hubgate2.ini" >/dev/null 2>&1 || sed -i '/^\[admin\]$/,$d' "$HG_TMP/hubgate2.ini"
hg_start hubgate2 "$HG_NS_CLIENT" "$HUBGATE" -c "$HG_TMP/hubgate2.ini"
hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 1080 socks5
hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3138 hubgate2
sed "s|^via = .*|via = socks5://tester:pw@127.0.0.1:1080, http://127.0.0.1:3138, relay:https://registry-1.docker.io, direct|" \
    "$conf" >"$HG_TMP/links.ini"
doctor links "$HG_TMP/links.ini"
expect links 0
for p in "link socks5://127.0.0.1:1080 reaches" "link http://127.0.0.1:3138 reaches" \
         "link relay:https://registry-1.docker.io answers /v2/ with a token challenge"; do
    grep -q "^OK   $p" "$HG_LOGS/doctor-links.log" || hg_fail "doctor (links): no OK line '$p': $(cat "$HG_LOGS/doctor-links.log")"
done
! grep -q 'tester\|:pw@' "$HG_LOGS/doctor-links.log" || hg_fail "doctor prints link credentials"

# dead links: nothing listens on 1081 and 3139
sed "s|^via = .*|via = socks5://127.0.0.1:1081, http://127.0.0.1:3139, direct|" "$conf" >"$HG_TMP/dead.ini"
doctor dead "$HG_TMP/dead.ini"
expect dead 1 "^FAIL link socks5://127.0.0.1:1081 reaches registry-1.docker.io:443: connect to 127.0.0.1:1081: Connection refused" \
              "^FAIL link http://127.0.0.1:3139 reaches registry-1.docker.io:443: connect to 127.0.0.1:3139"
grep -qF 'fix: curl -v --proxy socks5h://127.0.0.1:1081 https://registry-1.docker.io/v2/' "$HG_LOGS/doctor-dead.log" \
    || hg_fail "doctor (dead): no curl fix for the socks5 link"

# --- 3. the CA
chmod 0644 "$ca_dir/ca.key"
doctor keymode "$conf"
chmod 0600 "$ca_dir/ca.key"
expect keymode 1 "^FAIL CA key $ca_dir/ca.key readable only by its owner: mode 0644"
grep -qx "     fix: chmod 600 $ca_dir/ca.key" "$HG_LOGS/doctor-keymode.log" || hg_fail "doctor (keymode): wrong fix"

cp /dev/null "$HG_TMP/trust-empty.pem"
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$HG_TMP/trust-empty.pem"
HUBGATE_TRUST_BUNDLE=$HG_TMP/trust-empty.pem doctor untrusted "$conf"
expect untrusted 1 "^FAIL CA certificate in the trust store $HG_TMP/trust-empty.pem: not there"
grep -qF "fix: cp $ca_dir/ca.crt /usr/local/share/ca-certificates/hubgate.crt && update-ca-certificates" \
    "$HG_LOGS/doctor-untrusted.log" || hg_fail "doctor (untrusted): wrong fix"

mkdir -p "$HG_TMP/shortca"
# constrained to the intercepted names, as hubgate's own: only its age is wrong
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 10 -subj /CN=short \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "nameConstraints=critical,permitted;DNS:registry-1.docker.io,permitted;DNS:auth.docker.io,permitted;DNS:production.cloudflare.docker.com" \
    -keyout "$HG_TMP/shortca/ca.key" -out "$HG_TMP/shortca/ca.crt" 2>/dev/null
chmod 0600 "$HG_TMP/shortca/ca.key"
sed "s|^dir = .*|dir = $HG_TMP/shortca|" "$conf" >"$HG_TMP/short.ini"
cat "$HG_TMP/trust.pem" "$HG_TMP/shortca/ca.crt" >"$HG_TMP/trust-short.pem"
HUBGATE_TRUST_BUNDLE=$HG_TMP/trust-short.pem doctor short "$HG_TMP/short.ini"
# hubgate serves with its own CA, not this one: the end-to-end TLS fails too.
expect short 1 "^FAIL CA certificate valid 30 more days: it expires on" \
               "^FAIL end to end: a pull token .*certificate verify failed" "^FAIL end to end: HEAD"

# --- dockerd's environment
printf 'PATH=/usr/bin\nNO_PROXY=localhost\n' >"$HG_TMP/env-noproxy"
HUBGATE_DOCKERD_ENV_FILE=$HG_TMP/env-noproxy doctor noenv "$conf"
expect noenv 1 "^FAIL dockerd uses hubgate as HTTPS_PROXY: no HTTPS_PROXY in $HG_TMP/env-noproxy"
printf 'HTTPS_PROXY=http://%s\nNO_PROXY=localhost,.docker.io\n' "$HG_PROXY" >"$HG_TMP/env-bypass"
HUBGATE_DOCKERD_ENV_FILE=$HG_TMP/env-bypass doctor bypass "$conf"
expect bypass 1 "^FAIL dockerd uses hubgate as HTTPS_PROXY: NO_PROXY=localhost,.docker.io sends registry-1.docker.io around hubgate"
printf 'HTTPS_PROXY=http://127.0.0.1:9999\n' >"$HG_TMP/env-other"
HUBGATE_DOCKERD_ENV_FILE=$HG_TMP/env-other doctor other "$conf"
expect other 1 "^FAIL dockerd uses hubgate as HTTPS_PROXY: HTTPS_PROXY=http://127.0.0.1:9999, hubgate listens on $HG_PROXY"
HUBGATE_DOCKERD_ENV_FILE=$HG_TMP/no-such-file doctor nodockerd "$conf"
expect nodockerd 1 "^FAIL dockerd uses hubgate as HTTPS_PROXY: dockerd is not running"
grep -qx "     fix: systemctl start docker" "$HG_LOGS/doctor-nodockerd.log" || hg_fail "doctor (nodockerd): wrong fix"

# Without the hook and without systemd: dockerd is found in /proc. A PID
# namespace of our own, so that only our stand-in dockerd (a copy of sleep)
# is there, whatever runs on the host.
if [ ! -d /run/systemd/system ]; then
    cp "$(command -v sleep)" "$HG_TMP/dockerd"
    rc=0
    # shellcheck disable=SC2016  # $1.. are the inner shell's
    hg_client unshare -pf --mount-proc sh -c '
        env -i HTTPS_PROXY="http://$1" NO_PROXY=localhost "$2/dockerd" 60 &
        d=$! i=0
        # doctor looks for it in /proc: wait until env has become it
        until [ "$(cat "/proc/$d/comm" 2>/dev/null)" = dockerd ] || [ "$i" -ge 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        t=$3
        shift 3
        env -u HUBGATE_DOCKERD_ENV_FILE HUBGATE_TRUST_BUNDLE="$t" timeout 120 "$@"' sh \
        "$HG_PROXY" "$HG_TMP" "$HUBGATE_TRUST_BUNDLE" "${DOCTOR[@]}" -c "$conf" \
        >"$HG_LOGS/doctor-procenv.log" 2>&1 || rc=$?
    sed -i '/^sh: /d' "$HG_LOGS/doctor-procenv.log"
    expect procenv 0
    grep -q "^OK   dockerd uses hubgate as HTTPS_PROXY (http://$HG_PROXY, from /proc/[0-9]*/environ)" \
        "$HG_LOGS/doctor-procenv.log" || hg_fail "doctor (procenv): dockerd not read from /proc: $(cat "$HG_LOGS/doctor-procenv.log")"
fi

# --- poisoned local DNS: a new hosts file (new inode) for new processes
# only; the running hubgate keeps the one it was started with.
hosts=/etc/netns/$HG_NS_CLIENT/hosts
cp "$hosts" "$HG_TMP/hosts.good"
sed "s|^$HG_HUB_IP .*|$HG_HUB_IP registry-1.docker.io production.cloudflare.docker.com\n$HG_SITE_IP auth.docker.io|" \
    "$HG_TMP/hosts.good" >"$HG_TMP/hosts.bad"
mv "$HG_TMP/hosts.bad" "$hosts"
doctor poisoned "$conf"
cp "$HG_TMP/hosts.good" "$HG_TMP/hosts.restore" && mv "$HG_TMP/hosts.restore" "$hosts"
expect poisoned 1 "^FAIL local DNS for auth.docker.io looks poisoned: $HG_SITE_IP does not serve auth.docker.io; direct will not work, use a socks5/http/relay link"

# --- a broken config
printf '[proxy]\nlisten = nonsense\n' >"$HG_TMP/broken.ini"
doctor broken "$HG_TMP/broken.ini"
expect broken 1 "^FAIL config $HG_TMP/broken.ini: "

# --- 4. hubgate stopped
hubgate_stop
doctor stopped "$conf"
expect stopped 1 "^FAIL hubgate listening on $HG_PROXY: connect to $HG_PROXY: Connection refused" \
                 "^FAIL end to end: a pull token .*skipped: hubgate is not listening" \
                 "^FAIL end to end: HEAD .*skipped: no token"
