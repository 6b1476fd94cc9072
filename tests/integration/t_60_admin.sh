#!/bin/bash
# t_60_admin — the admin endpoint ([admin] listen) in a network namespace of
# its own (loopback only, so ports never collide):
#   1. GET /healthz answers 200 "ok"; HEAD answers without a body;
#   2. GET /metrics is text/plain; version=0.0.4, passes `promtool check
#      metrics`, has HELP/TYPE for every known metric, and the CA expiry
#      gauge equals ca.crt's notAfter;
#   3. GET /ca.crt is byte-identical to [ca] dir/ca.crt;
#   4. GET / is a self-contained HTML page (version, listen addresses, the
#      links without credentials, the request just made through hubgate),
#      rendered by headless Chromium into a non-trivial screenshot;
#   5. POST / is 405 (with Allow), an unknown path 404, a malformed request
#      400, an oversized head 431;
#   6. an idle connection is closed by the connection deadline (~10 s); a
#      flood of connections past the limit is shed and the endpoint serves
#      again once they close;
#   7. a peer outside [proxy] allow gets 403;
#   8. SIGTERM: /healthz answers 503 while hubgate drains; the process
#      exits 0.
# HUBGATE=path picks the binary (default ./hubgate; for the sanitizers:
# build/san-address-undefined/hubgate). HTML escaping of the page and label
# escaping are unit-tested (test_admin, test_metrics).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
HUBGATE=${HUBGATE:-$top/hubgate}
ADMIN=127.0.0.1:3129

# shellcheck source=wait.sh
. "$top/tests/integration/wait.sh"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "# $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespace)"
for c in ip curl promtool chromium openssl python3; do
    command -v "$c" >/dev/null 2>&1 || skip "missing $c (apt-get install prometheus chromium curl)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-admin.XXXXXX")
ns=hgadm$$
pid=""
bgpids=()
cleanup() {
    local rc=$? p
    set +e
    for p in "${bgpids[@]}" $pid; do kill "$p" 2>/dev/null; done
    [ -n "$pid" ] && wait "$pid" 2>/dev/null
    if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -f "$tmp/server.log" ]; then
        echo "---- server log (last 30 lines)"; tail -n 30 "$tmp/server.log"
    fi
    ip netns del "$ns" 2>/dev/null
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns" || skip "cannot create a network namespace"
ip -n "$ns" link set lo up
# Background jobs run `ip netns exec` directly (it execs the command), so
# that $! is the server's own pid, not a subshell's.
in_ns() { ip netns exec "$ns" "$@"; }
get() { in_ns curl -sS --max-time 10 "$@"; }

# write_conf FILE ALLOW [ADMIN_SECTION]
write_conf() {
    {
        printf '[proxy]\nlisten = 127.0.0.1:3128\nallow = %s\n' "$2"
        printf '[ca]\ndir = %s/ca\n[upstream]\nvia = %s\n' "$tmp" "$via"
        [ -z "${3:-}" ] || printf '[admin]\nlisten = %s\n' "$ADMIN"
    } >"$1"
}

# A link with credentials when the config knows such links, to check the
# page never shows them.
via="socks5://user:s3cr3t@127.0.0.1:1080, direct"
write_conf "$tmp/probe.ini" "127.0.0.0/8"
"$HUBGATE" -t -c "$tmp/probe.ini" >/dev/null 2>&1 || via=direct

write_conf "$tmp/probe.ini" "127.0.0.0/8" admin
[ -x "$HUBGATE" ] || fail "no hubgate binary at $HUBGATE (make hubgate)"
"$HUBGATE" -t -c "$tmp/probe.ini" >/dev/null 2>&1 || fail "hubgate -t refuses an [admin] section"
log "via = $via"

# start ALLOW: starts the server, waits for the admin port.
start() {
    local i
    write_conf "$tmp/hubgate.ini" "$1" admin
    ip netns exec "$ns" "$HUBGATE" -c "$tmp/hubgate.ini" >>"$tmp/server.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        get -o /dev/null "http://$ADMIN/healthz" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || fail "server exited early"
        sleep 0.1
    done
    fail "nothing answers on $ADMIN"
}

# stop: SIGTERM, must exit 0 within 10 s.
stop() {
    local i rc=0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "server still running 10 s after SIGTERM"
    wait "$pid" || rc=$?
    pid=""
    [ "$rc" = 0 ] || fail "server exited $rc after SIGTERM"
}

start "127.0.0.0/8"

# An idle connection, watched in the background: the deadline must close it.
ip netns exec "$ns" python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 3129)); t = time.time(); s.settimeout(30)
d = s.recv(1); print("%.1f %d" % (time.time() - t, len(d)))' >"$tmp/idle.out" 2>&1 &
bgpids+=($!)
idle_pid=$!

# --- 1. /healthz
body=$(get "http://$ADMIN/healthz")
[ "$body" = ok ] || fail "/healthz: '$body'"
hdr=$(get -I "http://$ADMIN/healthz" | tr -d '\r')
printf '%s\n' "$hdr" | head -n1 | grep -q '^HTTP/1.1 200 ' || fail "HEAD /healthz: $hdr"
log "/healthz: 200 ok; HEAD 200"

# --- 2. /metrics
ct=$(get -o "$tmp/metrics.txt" -w '%{content_type}' "http://$ADMIN/metrics")
case $ct in *"text/plain; version=0.0.4"*) ;; *) fail "/metrics content type '$ct'" ;; esac
promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 \
    || fail "promtool check metrics: $(cat "$tmp/promtool.out")"
for m in hubgate_requests_total:counter hubgate_bytes_total:counter \
         hubgate_upstream_failures_total:counter hubgate_failovers_total:counter \
         hubgate_connections:gauge hubgate_leaf_certs_minted_total:counter \
         hubgate_tls_handshake_failures_total:counter \
         hubgate_dockerhub_ratelimit_remaining:gauge hubgate_ca_expiry_timestamp_seconds:gauge; do
    grep -qx "# TYPE ${m%%:*} ${m##*:}" "$tmp/metrics.txt" || fail "/metrics lacks TYPE of $m"
    grep -q "^# HELP ${m%%:*} ." "$tmp/metrics.txt" || fail "/metrics lacks HELP of ${m%%:*}"
done
want=$(date -d "$(openssl x509 -in "$tmp/ca/ca.crt" -noout -enddate | cut -d= -f2)" +%s)
got=$(awk '$1 == "hubgate_ca_expiry_timestamp_seconds" {print $2}' "$tmp/metrics.txt")
[ "$got" = "$want" ] || fail "CA expiry gauge $got, ca.crt says $want"
grep -q '^hubgate_connections{kind="client"} [0-9]' "$tmp/metrics.txt" \
    || fail "/metrics has no hubgate_connections{kind=\"client\"}"
log "/metrics: promtool ok, $(grep -c '^# TYPE' "$tmp/metrics.txt") metrics, CA expiry $got"

# --- 3. /ca.crt
get -o "$tmp/got-ca.crt" "http://$ADMIN/ca.crt"
cmp -s "$tmp/got-ca.crt" "$tmp/ca/ca.crt" || fail "/ca.crt differs from $tmp/ca/ca.crt"
log "/ca.crt: identical to ca.crt"

# --- 4. the status page, after one request through hubgate (a plain-HTTP
# forward to a local web server), which the page must list
{
    mkdir -p "$tmp/www"
    echo probe >"$tmp/www/hubgate-admin-probe"
    ip netns exec "$ns" python3 -m http.server 8080 --bind 127.0.0.1 --directory "$tmp/www" \
        >"$tmp/www.log" 2>&1 &
    bgpids+=($!)
    for ((i = 0; i < 50; i++)); do
        get -o /dev/null "http://127.0.0.1:8080/" 2>/dev/null && break
        sleep 0.1
    done
    body=$(get -x http://127.0.0.1:3128 "http://127.0.0.1:8080/hubgate-admin-probe") \
        || fail "request through hubgate failed"
    [ "$body" = probe ] || fail "request through hubgate: '$body'"
    get -o "$tmp/metrics2.txt" "http://$ADMIN/metrics"
    # 127.0.0.1 is no configured host: counted under "other", never under
    # a name the client chose (which would add a series per name)
    grep -q '^hubgate_requests_total{registry="other",host="other",.*code="200"} 1$' "$tmp/metrics2.txt" \
        || fail "/metrics does not count the request through hubgate under host=\"other\""
    ! grep -q 'host="127.0.0.1"' "$tmp/metrics2.txt" \
        || fail "/metrics has a series labelled with the host the client sent"
    promtool check metrics <"$tmp/metrics2.txt" >"$tmp/promtool.out" 2>&1 \
        || fail "promtool check metrics (after a request): $(cat "$tmp/promtool.out")"
}
ct=$(get -o "$tmp/page.html" -w '%{content_type}' "http://$ADMIN/")
case $ct in text/html*) ;; *) fail "/ content type '$ct'" ;; esac
for s in "<h1>hubgate" "127.0.0.1:3128" "$ADMIN" "direct"; do
    grep -qF "$s" "$tmp/page.html" || fail "status page lacks '$s'"
done
! grep -q 's3cr3t' "$tmp/page.html" || fail "status page shows a link password"
! grep -Eqi '(src|href)="(https?:)?//' "$tmp/page.html" || fail "status page loads external assets"
grep -qF '/hubgate-admin-probe' "$tmp/page.html" || fail "status page lacks the recent request"
mkdir -p "$tmp/chromium"
in_ns timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/chromium" --screenshot="$tmp/page.png" --window-size=1000,700 \
    "http://$ADMIN/" >"$tmp/chromium.log" 2>&1 || fail "chromium: $(tail -n 5 "$tmp/chromium.log")"
size=$(stat -c %s "$tmp/page.png" 2>/dev/null || echo 0)
[ "$size" -gt 10000 ] || fail "screenshot is $size bytes: not a rendered page"
[ -z "${HG_KEEP_SCREENSHOT:-}" ] || cp "$tmp/page.png" "$HG_KEEP_SCREENSHOT"
log "status page: rendered by chromium ($size bytes of PNG)"

# --- 5. errors
code=$(get -o /dev/null -w '%{http_code}' -X POST "http://$ADMIN/")
[ "$code" = 405 ] || fail "POST /: $code, want 405"
get -D - -o /dev/null -X DELETE "http://$ADMIN/metrics" | tr -d '\r' | grep -qix 'allow: GET, HEAD' \
    || fail "405 without Allow"
code=$(get -o /dev/null -w '%{http_code}' "http://$ADMIN/nope")
[ "$code" = 404 ] || fail "GET /nope: $code, want 404"
code=$(get -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 10000 /dev/zero | tr '\0' a)" \
    "http://$ADMIN/")
[ "$code" = 431 ] || fail "10 KB header: $code, want 431"
raw=$(in_ns python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 3129)); s.settimeout(5)
s.sendall(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n"); print(s.recv(100).split(b"\r\n")[0].decode())')
[ "$raw" = "HTTP/1.1 400 Bad Request" ] || fail "malformed request: '$raw', want 400"
log "errors: 405 with Allow, 404, 431, 400"

# --- 6. deadline and connection limit
# Waits until 16 are shed, rather than counting after a fixed sleep (a busy
# machine may take longer to accept and close them); at most 5 s, well
# before the 10 s deadline closes the served ones too.
out=$(in_ns python3 -c '
import select, socket, time
socks = [socket.create_connection(("127.0.0.1", 3129)) for _ in range(48)]
open_ = set(socks)
shed, end = 0, time.monotonic() + 5
while shed < 16 and time.monotonic() < end:
    r, _, _ = select.select(list(open_), [], [], 0.1)
    for s in r:
        try:
            d = s.recv(1)
        except ConnectionResetError:
            d = b""
        if d == b"":
            shed += 1
            open_.discard(s)
for s in socks:
    s.close()
print(shed)')
# 48 opened, at most 32 served at once (the idle watcher holds one).
[ "$out" -ge 16 ] || fail "connection flood: only $out of 48 shed, want >= 16"
for ((i = 0; i < 50; i++)); do
    body=$(get "http://$ADMIN/healthz" 2>/dev/null) && [ "$body" = ok ] && break
    sleep 0.1
done
[ "$body" = ok ] || fail "endpoint does not serve after a connection flood"
log "flood: $out of 48 connections shed, served again afterwards"
wait "$idle_pid" || true
read -r took n <"$tmp/idle.out" || fail "idle watcher: $(cat "$tmp/idle.out")"
[ "$n" = 0 ] || fail "idle connection got $n bytes"
awk -v t="$took" 'BEGIN {exit !(t >= 8 && t <= 13)}' || fail "idle connection closed after ${took}s, want ~10"
log "idle connection closed after ${took}s"

# --- 8. SIGTERM: while a tunnel keeps hubgate draining, /healthz is 503.
{
    # the tunnel stays open until told (tunnel.stop), so hubgate drains
    # for as long as the check below needs
    ip netns exec "$ns" python3 -c '
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", 3128))
s.sendall(b"CONNECT 127.0.0.1:8080 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
print(s.recv(200).split(b"\r\n")[0].decode(), flush=True)
end = time.monotonic() + 30
while not os.path.exists(sys.argv[1]) and time.monotonic() < end:
    time.sleep(0.05)' "$tmp/tunnel.stop" >"$tmp/tunnel.out" 2>&1 &
    tpid=$!
    bgpids+=("$tpid")
    for ((i = 0; i < 50; i++)); do
        [ -s "$tmp/tunnel.out" ] && break
        sleep 0.1
    done
    grep -q '^HTTP/1.[01] 200' "$tmp/tunnel.out" || fail "CONNECT through hubgate: $(cat "$tmp/tunnel.out")"
    kill -TERM "$pid" 2>/dev/null || true
    # the admin endpoint's loop turns to draining when it reads the
    # command the signal became: wait for that, not a fixed time
    healthz_503() { code=$(get -o /dev/null -w '%{http_code}' "http://$ADMIN/healthz"); [ "$code" = 503 ]; }
    wait_for 10 healthz_503 || fail "/healthz while draining: $code 10 s after SIGTERM, want 503"
    touch "$tmp/tunnel.stop"
    wait "$tpid" || true
    log "draining: /healthz 503"
}
stop
log "SIGTERM: exit 0"

# --- 7. a peer outside [proxy] allow
start "192.0.2.0/24"
code=$(get -o /dev/null -w '%{http_code}' "http://$ADMIN/metrics")
[ "$code" = 403 ] || fail "peer outside allow: $code, want 403"
stop
log "peer outside [proxy] allow: 403"
