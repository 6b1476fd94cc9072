#!/bin/bash
# t_05_http_edge — HTTP relaying edge cases through the real ./hubgate, on
# loopback in a network namespace of its own (hgedge<pid>), where
# /etc/netns/hgedge<pid>/hosts maps origin.test to 127.0.0.1 and down.test
# to 127.0.0.2 (nothing listens there). The origin is edge/origin.py (TLS
# for origin.test on 443 and 8443, plain HTTP on 80, certificates from a
# test CA made now by tests/pki/gen.sh); hubgate intercepts origin.test and
# down.test and trusts that CA upstream. Clients: curl, and edge/client.py
# where curl cannot say it. Each case checks exact bytes or statuses:
#    1. keep-alive: three requests on one client connection (curl reuses
#       it), one origin connection (same X-Conn);
#    2. bodies both ways: Content-Length and chunked downloads; POST and PUT
#       uploads with Content-Length and chunked, intercepted and plain;
#    3. HEAD with Content-Length, then a request on the same connection;
#    4. 204, 304, and 304 with a Content-Length, then a request on the same
#       connection;
#    5. Expect: 100-continue upload (the 100 passes, the body follows);
#    6. Range: 206 with Content-Range and exactly those bytes;
#    7. 200 MB generated, sha256 compared, downloaded and uploaded;
#    8. a body without a length, read until close;
#    9. an origin closing mid-body (Content-Length and chunked): the client
#       sees an incomplete transfer, not a clean short file;
#   10. an unreachable origin (plain and intercepted): 502, JSON naming it;
#   11. Host naming another host inside the intercepted tunnel: 421;
#   12. SNI naming another host: the TLS handshake fails;
#   13. CONNECT to origin.test:8443 is tunnelled (the origin's own cert);
#   14. plain absolute-form http:// GET forwarded;
#   15. garbage: 400 at once (plain, and inside an intercepted tunnel);
#   16. a client outside [proxy] allow (a second hubgate, allow=10.0.0.0/8): 403;
#   17. pipelined requests answered in order;
#   18. framing: a Connection option naming Content-Length, whitespace
#       before a colon, a chunked trailer split across reads (request and
#       response);
#   19. an origin that sends a forged second response after a HEAD, 204 or
#       304 answer: the client's next request on that connection (to
#       another host on the plain path) gets its own answer (#15.1);
#   20. an HTTP/1.0 client gets a chunked answer de-chunked, and the
#       connection closed at its end (#15.3);
#   21. CONNECT origin.test.:443 (trailing dot, any case) is intercepted;
#   22. one configuration generation for both loops (hubgate runs with
#       HUBGATE_WORKERS=2, HG_WORKERS to change): 20 CONNECTs (spread over
#       the loops by SO_REUSEPORT) show one leaf serial; a SIGHUP with a bad
#       config (unknown key; ca_file missing) logs "reload refused" once
#       and changes nothing; a good one logs "reloaded" once and 20 new
#       connections all obey it (the allow list); a reload that keeps the
#       CA keeps the leaf (same serial after);
#   23. a blob redirect to a loopback service (origin.test is 127.0.0.1
#       here): 502 naming the refusal, and the service is never asked;
#   24. [log] format = json (a third hubgate): a request path with '"' and
#       '\' (plain and intercepted), then every line hubgate wrote, from
#       start to exit, is one JSON object (python3's json.loads), access
#       events carry the path as sent.
# Nothing time-based is pass/fail except "answered within 5 s". All cases
# run; the test fails if any did, printing the tails of hubgate's and the
# origin's logs. Everything (namespace, processes, files) goes at exit.
#   HUBGATE=path  binary (default ./hubgate)   HG_KEEP=1  keep the temp dir
#   HG_CASES="keepalive big ..."  run only these cases (names: case_* below)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
edge=$top/tests/integration/edge
# shellcheck source=wait.sh
. "$top/tests/integration/wait.sh"
HUBGATE=${HUBGATE:-$top/hubgate}
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy \
      SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE CURL_HOME || true

skip() { echo "SKIP: $*"; exit 77; }
log() { echo "# $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespace)"
for c in ip curl openssl sha256sum timeout head; do
    command -v "$c" >/dev/null 2>&1 || skip "missing $c"
done
[ -x "$PY" ] || skip "missing $PY"
if [ ! -x "$HUBGATE" ]; then
    echo "FAIL: no hubgate binary at $HUBGATE (make hubgate)"
    exit 1
fi

ns=hgedge$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-edge.XXXXXX")
declare -A pids=()
failures=()
ns_made=0

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT INT TERM HUP
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        for f in hubgate origin hubgate-deny hubgate-json; do
            [ -s "$tmp/$f.log" ] || continue
            echo "---- $f.log (last 40 lines)"
            tail -n 40 "$tmp/$f.log"
        done
    fi
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ "$ns_made" = 1 ]; then
        # Anything still in the namespace was started by this test.
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$p" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
        rmdir /etc/netns 2>/dev/null
    fi
    if [ "${HG_KEEP:-0}" = 1 ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# nsx CMD...: CMD in the namespace (with its /etc/hosts).
nsx() { ip netns exec "$ns" "$@"; }

# bad MSG: records a failed case; the run goes on.
bad() {
    echo "FAIL: $*"
    failures+=("$*")
}
good() { echo "ok: $*"; }

# start NAME CMD...: CMD in the namespace in the background, output in
# $tmp/NAME.log.
start() {
    local name=$1
    shift
    ip netns exec "$ns" "$@" >>"$tmp/$name.log" 2>&1 &
    pids[$name]=$!
}

stop() {
    local p=${pids[$1]:-}
    [ -n "$p" ] || return 0
    unset "pids[$1]"
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    return 0
}

alive() { [ -n "${pids[$1]:-}" ] && kill -0 "${pids[$1]}" 2>/dev/null; }

# wait_port PORT NAME: until something listens on 127.0.0.1:PORT (10 s).
wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        if nsx "$PY" -c 'import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))))' "$1" 2>/dev/null; then
            return 0
        fi
        alive "$2" || break
        sleep 0.1
    done
    echo "FAIL: $2 does not listen on 127.0.0.1:$1"
    exit 1
}

# ---------------------------------------------------------------- setup

ip netns add "$ns" || skip "cannot create a network namespace"
ns_made=1
ip -n "$ns" link set lo up
mkdir -p "/etc/netns/$ns"
printf '127.0.0.1 localhost origin.test\n127.0.0.2 down.test\n::1 localhost\n' \
    >"/etc/netns/$ns/hosts"
# A DNS query for anything else fails at once, inside the namespace.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$ns/resolv.conf"

sh "$top/tests/pki/gen.sh" "$tmp/pki" origin.test >/dev/null || { echo "FAIL: pki"; exit 1; }
mkdir -p "$tmp/data" "$tmp/empty"
head -c 1000 /dev/urandom >"$tmp/data/small.bin"
head -c 100000 /dev/urandom >"$tmp/data/mid.bin"
head -c 200M /dev/urandom >"$tmp/data/big.bin"
big_sha=$(sha256sum <"$tmp/data/big.bin" | cut -d' ' -f1)

start origin "$PY" -u "$edge/origin.py" --cert "$tmp/pki/origin.test.crt" \
    --key "$tmp/pki/origin.test.key" --data "$tmp/data" \
    --tls 127.0.0.1:443 --tls 127.0.0.1:8443 --http 127.0.0.1:80
wait_port 443 origin
wait_port 8443 origin
wait_port 80 origin

# hubgate_conf FILE PORT CADIR ALLOW: also turns the admin endpoint off
# (its default port would collide between the two instances), when this
# hubgate knows [admin].
admin_off=$'[admin]\nlisten ='
hubgate_conf() {
    cat >"$1" <<EOF
[proxy]
listen = 127.0.0.1:$2
allow = $4
drain_timeout = 3s
[ca]
dir = $3
[intercept]
hosts = origin.test down.test
[upstream]
via = direct
ca_file = $tmp/pki/ca.crt
[dns]
servers =
$admin_off
EOF
}

hubgate_conf "$tmp/hubgate.ini" 3128 "$tmp/ca" "127.0.0.0/8"
if ! nsx "$HUBGATE" -t -c "$tmp/hubgate.ini" >/dev/null 2>&1; then
    admin_off=""
    hubgate_conf "$tmp/hubgate.ini" 3128 "$tmp/ca" "127.0.0.0/8"
fi
hubgate_conf "$tmp/hubgate-deny.ini" 3138 "$tmp/ca-deny" "10.0.0.0/8"
for f in hubgate hubgate-deny; do
    out=$(nsx "$HUBGATE" -t -c "$tmp/$f.ini" 2>&1) || { echo "FAIL: hubgate -t -c $f.ini: $out"; exit 1; }
done

start_hubgate() {
    start hubgate env HUBGATE_WORKERS="${HG_WORKERS:-2}" "$HUBGATE" -c "$tmp/hubgate.ini"
    wait_port 3128 hubgate
    local i
    for ((i = 0; i < 100; i++)); do
        [ -s "$tmp/ca/ca.crt" ] && break
        sleep 0.1
    done
    [ -s "$tmp/ca/ca.crt" ] || { echo "FAIL: hubgate made no $tmp/ca/ca.crt"; exit 1; }
}
start_hubgate
hgca=$tmp/ca/ca.crt
log "origin and hubgate up in netns $ns (temp dir $tmp)"

# curl through hubgate, trusting exactly hubgate's CA.
C=(curl -sS --proxy http://127.0.0.1:3128 --cacert "$hgca" --capath "$tmp/empty" --max-time 20
   --suppress-connect-headers)
CL=(--proxy 127.0.0.1:3128 --cafile "$hgca" --timeout 5)
O=https://origin.test

# check_alive CASE: after a case, hubgate must still run; restarts it if not.
check_alive() {
    if ! alive hubgate; then
        bad "$1: hubgate died (see its log)"
        unset "pids[hubgate]"
        start_hubgate
    fi
}

# body_is NAME WANT GOT
body_is() {
    if [ "$3" = "$2" ]; then
        return 0
    fi
    bad "$1: body $(printf '%q' "$3" | head -c 300), want $(printf '%q' "$2" | head -c 300)"
    return 1
}

# client CASE [ARGS...]: a case of edge/client.py, reported as ok or failed.
client() {
    local out rc=0
    out=$(nsx "$PY" "$edge/client.py" "${CL[@]}" "$@" 2>&1) || rc=$?
    if [ "$rc" = 0 ]; then
        good "${out#ok: }"
    else
        bad "${out#FAIL: }"
    fi
    return "$rc"
}

# echo_line LEN SHA FRAMING: the origin's /echo answer.
echo_line() { printf 'len=%s sha256=%s framing=%s' "$1" "$2" "$3"; }
small_sha=$(sha256sum <"$tmp/data/small.bin" | cut -d' ' -f1)
mid_sha=$(sha256sum <"$tmp/data/mid.bin" | cut -d' ' -f1)

# ---------------------------------------------------------------- cases

# 1. keep-alive
case_keepalive() {
    local out conns n
    out=$(nsx "${C[@]}" -v -D - "$O/hello" "$O/hello" "$O/hello" 2>"$tmp/curl-ka.err")
    n=$(grep -c '^hello$' <<<"$out")
    [ "$n" = 3 ] || { bad "keep-alive: $n of 3 bodies"; return; }
    n=$(grep -c 'Re-using existing connection' "$tmp/curl-ka.err")
    [ "$n" = 2 ] || { bad "keep-alive: curl reused its connection $n times, want 2"; return; }
    conns=$(tr -d '\r' <<<"$out" | awk 'tolower($1) == "x-conn:" {print $2}' | sort -u)
    [ "$(wc -l <<<"$conns")" = 1 ] && [ -n "$conns" ] \
        || { bad "keep-alive: origin connections $(echo $conns), want one"; return; }
    good "keep-alive: 3 requests on one client connection, one origin connection ($conns)"
}

# 2. bodies both ways
case_bodies() {
    local got want
    got=$(nsx "${C[@]}" "$O/file/mid.bin" | sha256sum | cut -d' ' -f1)
    body_is "download with Content-Length" "$mid_sha" "$got" || return
    want=$(for i in 0 1 2 3 4 5 6 7 8 9; do echo "chunk-$i"; done)
    got=$(nsx "${C[@]}" -D "$tmp/h-chunked" "$O/chunked")
    body_is "chunked download" "$want" "$got" || return
    grep -qi '^transfer-encoding: chunked' "$tmp/h-chunked" \
        || { bad "chunked download: no Transfer-Encoding: chunked in $(tr -d '\r' <"$tmp/h-chunked")"; return; }
    for m in POST PUT; do
        got=$(nsx "${C[@]}" -X "$m" --data-binary @"$tmp/data/mid.bin" "$O/echo")
        body_is "$m upload, Content-Length" "$(echo_line 100000 "$mid_sha" cl)" "$got" || return
        got=$(nsx "${C[@]}" -X "$m" -H 'Transfer-Encoding: chunked' \
            --data-binary @"$tmp/data/mid.bin" "$O/echo")
        body_is "$m upload, chunked" "$(echo_line 100000 "$mid_sha" chunked)" "$got" || return
        got=$(nsx "${C[@]}" -X "$m" -H 'Transfer-Encoding: chunked' \
            --data-binary @"$tmp/data/small.bin" "http://origin.test/echo")
        body_is "$m upload, chunked, plain HTTP" "$(echo_line 1000 "$small_sha" chunked)" "$got" \
            || return
    done
    good "bodies: Content-Length and chunked, down and up (POST, PUT), intercepted and plain"
}

# 3, 4. HEAD, 204, 304 and what follows them on the connection
case_no_body() {
    local hdr out p
    hdr=$(nsx "${C[@]}" -I "$O/file/small.bin" | tr -d '\r')
    grep -qx 'HTTP/1.1 200 OK' <<<"$hdr" && grep -qix 'content-length: 1000' <<<"$hdr" \
        || { bad "HEAD: $hdr"; return; }
    client head-keepalive
    for p in /204 /304 /304cl; do
        client after-no-body "$p"
    done
    out=$(nsx "${C[@]}" -o /dev/null -w '%{http_code} %{size_download}' "$O/204") || true
    [ "$out" = "204 0" ] && good "curl: 204 with no body" || bad "curl 204: $out"
}

# 5. Expect: 100-continue
case_expect() {
    local got
    got=$(nsx "${C[@]}" -v -H 'Expect: 100-continue' --expect100-timeout 10 \
        --data-binary @"$tmp/data/mid.bin" "$O/echo" 2>"$tmp/curl-expect.err")
    body_is "Expect: 100-continue" "$(echo_line 100000 "$mid_sha" cl)" "$got" || return
    grep -q '^< HTTP/1.1 100 Continue' "$tmp/curl-expect.err" \
        || { bad "Expect: 100-continue: no 100 Continue reached curl: $(grep '^[<>] ' "$tmp/curl-expect.err" | head -20)"; return; }
    good "Expect: 100-continue: 100 passed on, then the body, answer exact"
}

# 6. Range
case_range() {
    local want got hdr
    want=$(tail -c +101 "$tmp/data/mid.bin" | head -c 100 | sha256sum | cut -d' ' -f1)
    got=$(nsx "${C[@]}" -r 100-199 -D "$tmp/h-range" "$O/file/mid.bin" | sha256sum | cut -d' ' -f1)
    hdr=$(tr -d '\r' <"$tmp/h-range")
    head -n1 <<<"$hdr" | grep -qx 'HTTP/1.1 206 Partial Content' \
        || { bad "Range: $hdr"; return; }
    grep -qix 'content-range: bytes 100-199/100000' <<<"$hdr" \
        || { bad "Range: no Content-Range: bytes 100-199/100000 in $hdr"; return; }
    grep -qix 'content-length: 100' <<<"$hdr" || { bad "Range: $hdr"; return; }
    body_is "Range bytes" "$want" "$got" || return
    good "Range: 206, Content-Range bytes 100-199/100000, those 100 bytes"
}

# 7. 200 MB both ways
case_big() {
    local got
    got=$(nsx "${C[@]}" --max-time 180 "$O/file/big.bin" | sha256sum | cut -d' ' -f1)
    body_is "200 MB download" "$big_sha" "$got" || return
    got=$(nsx "${C[@]}" --max-time 180 -T "$tmp/data/big.bin" "$O/echo")
    body_is "200 MB PUT" "$(echo_line 209715200 "$big_sha" cl)" "$got" || return
    got=$(nsx "${C[@]}" --max-time 180 -H 'Transfer-Encoding: chunked' \
        --data-binary @"$tmp/data/big.bin" "$O/echo")
    body_is "200 MB chunked POST" "$(echo_line 209715200 "$big_sha" chunked)" "$got" || return
    good "200 MB: download and uploads (Content-Length, chunked), sha256 $big_sha"
}

# 8. no length: read until close
case_noclen() {
    local want got
    want=$(for i in $(seq 0 99); do printf 'line %03d of a body that ends at close\n' "$i"; done)
    got=$(nsx "${C[@]}" "$O/noclen") || { bad "no length: curl failed"; return; }
    body_is "body read until close" "$want" "$got" || return
    got=$(nsx "${C[@]}" "http://origin.test/noclen") || { bad "no length (plain): curl failed"; return; }
    body_is "body read until close (plain)" "$want" "$got" || return
    good "no length: the whole body, ended by close (intercepted and plain)"
}

# 9. the origin closes mid-body
case_cut() {
    local rc p url
    for p in /cut /cut-chunked; do
        for url in "$O$p" "http://origin.test$p"; do
            rc=0
            nsx "${C[@]}" -o "$tmp/cut.out" "$url" 2>"$tmp/curl-cut.err" || rc=$?
            case $rc in
                18|56) ;;   # partial file, receive error
                0) bad "$url: a cut body ended as a clean $(stat -c %s "$tmp/cut.out")-byte transfer"; return ;;
                *) bad "$url: curl exit $rc: $(head -c 300 "$tmp/curl-cut.err")"; return ;;
            esac
        done
    done
    good "origin closing mid-body: curl sees an incomplete transfer (Content-Length, chunked)"
}

# 10. unreachable origin: answered at once, 502 with a JSON body naming it
case_unreachable() {
    local out code msg url host ok=1
    for url in http://origin.test:81/x https://down.test/x; do
        host=$(sed 's|^[a-z]*://\([^:/]*\).*|\1|' <<<"$url")
        out=$(nsx "${C[@]}" --max-time 5 -w '\n%{http_code}' "$url" 2>&1) || true
        code=${out##*$'\n'}
        msg=$("$PY" -c 'import json, sys
d = json.loads(sys.stdin.read().rstrip("\n").rsplit("\n", 1)[0])
e = d["errors"][0]
print(e["code"], e["message"])' <<<"$out" 2>/dev/null) || msg=""
        if [ "$code" != 502 ] || [ -z "$msg" ]; then
            bad "$url: want 502 with a JSON error body within 5 s, got: $(head -c 400 <<<"$out")"
            ok=0
            continue
        fi
        case $msg in
            UNAVAILABLE*"$host"*[Rr]efused*) ;;
            *) bad "$url: the 502 does not name the host and cause: $msg"; ok=0 ;;
        esac
    done
    # a tunnel to a closed port: the CONNECT itself is answered 502
    out=$(nsx "${C[@]}" --max-time 5 -o /dev/null -w '%{http_connect}' https://origin.test:81/x \
        2>/dev/null) || true
    [ "$out" = 502 ] || { bad "CONNECT origin.test:81 (closed): answered '$out' within 5 s, want 502"; ok=0; }
    [ "$ok" = 1 ] && good "unreachable origin: 502 at once, JSON naming host and cause (plain, intercepted), CONNECT 502"
}

# 11. Host naming another host inside the tunnel
case_421() {
    local out
    out=$(nsx "${C[@]}" -H 'Host: other.test' -w '\n%{http_code}' "$O/hello") || true
    [ "${out##*$'\n'}" = 421 ] || { bad "Host: other.test in the origin.test tunnel: $out"; return; }
    out=$(nsx "${C[@]}" -w '\n%{http_code}' --request-target 'https://other.test/hello' "$O/hello") || true
    [ "${out##*$'\n'}" = 421 ] || { bad "absolute target naming other.test: $out"; return; }
    good "Host or target naming another host inside the tunnel: 421"
}

# 12. SNI naming another host; 13. a non-intercepted CONNECT
case_tls() {
    local out rc=0 issuer
    client sni-mismatch
    out=$(nsx curl -sS -v --proxy http://127.0.0.1:3128 --cacert "$tmp/pki/ca.crt" \
        --capath "$tmp/empty" --max-time 20 https://origin.test:8443/hello 2>"$tmp/curl-pass.err") || rc=$?
    [ "$rc" = 0 ] && [ "$out" = hello ] || { bad "CONNECT origin.test:8443: exit $rc: $out $(tail -n 3 "$tmp/curl-pass.err")"; return; }
    issuer=$(sed -n 's/^\*  issuer: //p' "$tmp/curl-pass.err" | head -n1)
    case $issuer in
        *"hubgate test internet root CA"*) ;;
        *) bad "CONNECT origin.test:8443: issuer '$issuer', want the test CA"; return ;;
    esac
    rc=0
    nsx "${C[@]}" -o /dev/null https://origin.test:8443/hello 2>/dev/null || rc=$?
    [ "$rc" = 60 ] || { bad "CONNECT origin.test:8443 trusting only hubgate's CA: exit $rc, want 60"; return; }
    good "origin.test:8443 tunnelled: the origin's own certificate ($issuer)"
}

# 14. plain absolute-form GET
case_plain() {
    local got
    got=$(nsx "${C[@]}" -D "$tmp/h-plain" http://origin.test/hello) || { bad "plain GET failed"; return; }
    body_is "plain GET" hello "$got" || return
    got=$(nsx "${C[@]}" http://origin.test/headers)
    grep -qx 'Host: origin.test' <<<"$got" || { bad "plain GET: origin got headers $got"; return; }
    if grep -qi '^proxy-' <<<"$got"; then
        bad "plain GET: Proxy-* fields reached the origin: $got"
        return
    fi
    good "plain absolute-form GET forwarded (Host: origin.test, no Proxy-* fields)"
}

# 15. garbage; 17. pipelining; 18. framing
case_raw() {
    local c
    for c in garbage pipeline framing-in-connection space-before-colon; do
        client "$c"
        check_alive "$c"
    done
}

# 19-21. forged bytes after a bodiless answer, HTTP/1.0 clients, FQDN dot
case_protocol() {
    local p m
    for p in /forge-head /forge-204 /forge-304; do
        for m in plain tunnel; do
            client forged-after "$p" "$m"
        done
    done
    client http10 plain
    client http10 tunnel
    client trailing-dot origin.test.:443
    client trailing-dot ORIGIN.Test.:443
    case_redirect_target
}

case_redirect_target() {
    local out code
    out=$(nsx "${C[@]}" -w '\n%{http_code}' \
        "$O/v2/lib/x/blobs/sha256:$(printf '%064d' 7)" 2>&1) || true
    code=${out##*$'\n'}
    if [ "$code" = 502 ] && grep -q 'refused the redirect target origin.test: loopback' <<<"$out" &&
       ! grep -q 'GET /secret' "$tmp/origin.log"; then
        good "blob redirect to a loopback service: 502 naming the refusal, the service never asked"
    else
        bad "blob redirect to a loopback service: $code $(head -c 300 <<<"$out"); origin saw: $(grep -c 'GET /secret' "$tmp/origin.log") GET /secret"
    fi
}

# 16. a client outside [proxy] allow
case_403() {
    local out
    start hubgate-deny "$HUBGATE" -c "$tmp/hubgate-deny.ini"
    wait_port 3138 hubgate-deny
    out=$(nsx curl -sS --proxy http://127.0.0.1:3138 --max-time 5 -o /dev/null -w '%{http_code}' \
        http://origin.test/hello 2>&1) || true
    [ "$out" = 403 ] || { bad "client 127.0.0.1 outside allow=10.0.0.0/8: $out, want 403"; stop hubgate-deny; return; }
    out=$(nsx curl -sS --proxy http://127.0.0.1:3138 --max-time 5 -o /dev/null -w '%{http_code}' \
        https://origin.test/hello 2>&1) || true
    case $out in
        *403*) ;;
        *) bad "CONNECT from outside allow: $out, want 403"; stop hubgate-deny; return ;;
    esac
    stop hubgate-deny
    good "client outside [proxy] allow: 403 (plain and CONNECT)"
}

# 18. trailers split across reads (run last: an over-read on this path could
# take hubgate down; check_alive restarts it for the cases after)
case_trailers() {
    local out want=hello
    out=$(nsx "${C[@]}" "$O/trailer-split") && [ "$out" = "$want" ] \
        && good "chunked response with a trailer split across reads: whole" \
        || bad "chunked response with a trailer split across reads: curl got '$out'"
    check_alive trailer-split-response
    client trailer-split-req
    check_alive trailer-split-request
}

# 24. [log] format = json: every line is one JSON object, whatever the path
case_json_log() {
    local out req conf=$tmp/hubgate-json.ini
    hubgate_conf "$conf" 3148 "$tmp/ca" "127.0.0.0/8"
    printf '[log]\nformat = json\n' >>"$conf"
    out=$(nsx "$HUBGATE" -t -c "$conf" 2>&1) || { bad "json log: hubgate -t: $out"; return; }
    : >"$tmp/hubgate-json.log"
    start hubgate-json "$HUBGATE" -c "$conf"
    wait_port 3148 hubgate-json
    # shellcheck disable=SC2016  # python, not shell
    req=$(nsx "$PY" -c '
import socket, ssl, sys
path = b"/json-log/q\"x\\y/"
def head(s):
    got = b""
    while b"\r\n\r\n" not in got:
        b = s.recv(4096)
        if not b:
            break
        got += b
    return got.split(b"\r\n")[0].decode()
s = socket.create_connection(("127.0.0.1", 3148), timeout=10)
s.sendall(b"GET http://origin.test" + path + b" HTTP/1.1\r\nHost: origin.test\r\n"
          b"Connection: close\r\n\r\n")
print("plain", head(s))
s.close()
# control and non-UTF-8 bytes: refused or not, the log stays JSON
s = socket.create_connection(("127.0.0.1", 3148), timeout=10)
s.sendall(b"GET http://origin.test/json-raw/\x01\xff\xc3( HTTP/1.1\r\nHost: origin.test\r\n"
          b"Connection: close\r\n\r\n")
print("raw", head(s))
s.close()
s = socket.create_connection(("127.0.0.1", 3148), timeout=10)
s.sendall(b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n")
print("connect", head(s))
t = ssl.create_default_context(cafile=sys.argv[1]).wrap_socket(s, server_hostname="origin.test")
t.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
print("intercepted", head(t))
t.close()' "$hgca" 2>&1) || { bad "json log: the requests failed: $req"; stop hubgate-json; return; }
    # Whatever was answered (400 for the raw bytes, or 404): the exit lines
    # too must be JSON, so stop hubgate (and wait for it) first.
    stop hubgate-json
    # shellcheck disable=SC2016
    out=$("$PY" -c '
import json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
if lines[-1] != b"":
    sys.exit("the log does not end with a newline")
n, paths = 0, []
for i, l in enumerate(lines[:-1], 1):
    try:
        d = json.loads(l)
    except ValueError as e:
        sys.exit("line %d is not JSON (%s): %r" % (i, e, l))
    if not isinstance(d, dict) or not d.get("time") or d.get("level") not in ("debug", "info", "warn", "error"):
        sys.exit("line %d has no time or level: %r" % (i, l))
    if d.get("event") == "access":
        paths.append(d["path"])
        if not isinstance(d.get("status"), int) or not isinstance(d.get("bytes"), int):
            sys.exit("line %d: status or bytes not a number: %r" % (i, l))
    elif not isinstance(d.get("msg"), str):
        sys.exit("line %d: neither an access event nor a msg: %r" % (i, l))
    n += 1
want = "/json-log/q\"x\\y/"
hits = [p for p in paths if p.startswith(want)]
if len(hits) != 2:
    sys.exit("want 2 access events with a path starting %r, got paths %r" % (want, paths))
print("%d lines, %d access events" % (n, len(paths)))' "$tmp/hubgate-json.log" 2>&1) \
        || { bad "json log: $out (answers: $(tr '\n' ' ' <<<"$req"))"; return; }
    good "[log] format = json: $out, all valid JSON; paths with '\"' and '\\' intact"
}

# 16. SIGHUP: new connections get the new config, a download in flight goes
#     on (and, being long, logs its progress)
# reload_hup ALLOW: rewrites hubgate.ini with allow = ALLOW, sends SIGHUP,
# and waits for worker 0's "reloaded" line (the other workers reload on
# the same signal).
reload_hup() {
    local n
    n=$(log_count "$tmp/hubgate.log" 'reloaded: new connections use')
    hubgate_conf "$tmp/hubgate.ini" 3128 "$tmp/ca" "$1"
    kill -HUP "${pids[hubgate]}"
    wait_for 10 log_grows "$tmp/hubgate.log" 'reloaded: new connections use' "$n" \
        || bad "reload: no 'reloaded' line within 10 s of SIGHUP (allow = $1)"
}
# new_code: sets code to the status a new connection gets for $O/hello.
new_code() {
    code=$(nsx "${C[@]}" -o /dev/null -w '%{http_code}' "$O/hello" 2>/dev/null) || true
}
code_is_200() { new_code; [ "$code" = 200 ]; }
code_not_200() { new_code; [ "$code" != 200 ]; }

case_reload() {
    local got code refused dl
    # slow enough (about 14 s) for one progress line (every 10 s over 100 MB)
    nsx "${C[@]}" --max-time 60 --limit-rate 15M "$O/file/big.bin" -o "$tmp/reload.out" &
    dl=$!
    # the SIGHUP must come while the download is in flight
    wait_for 10 test -s "$tmp/reload.out" || bad "reload: the download did not start within 10 s"
    reload_hup "10.0.0.0/8"
    # whichever worker takes it, a new connection is refused once that
    # worker too has reloaded (at once, or a moment after worker 0)
    wait_for 10 code_not_200
    refused=$code
    wait "$dl" || { bad "reload: the download in flight failed"; }
    got=$(sha256sum <"$tmp/reload.out" | cut -d' ' -f1)
    reload_hup "127.0.0.0/8"
    wait_for 10 code_is_200 || bad "reload: allow restored, new connections still get '$code' 10 s later"
    body_is "reload: 200 MB download across SIGHUP" "$big_sha" "$got" || return
    [ "$refused" != 200 ] || { bad "reload: new connections still got 200 10 s after allow changed"; return; }
    grep -q 'refused: not in \[proxy\] allow' "$tmp/hubgate.log" \
        || { bad "reload: no refusal logged for the new connection"; return; }
    good "SIGHUP: the download in flight finished intact, a new connection was refused by the new allow list"
    grep -q 'progress .* /file/big.bin [0-9]*/209715200 bytes' "$tmp/hubgate.log" \
        && good "a progress line for the 200 MB transfer" \
        || bad "no progress line for a 200 MB transfer that took over 10 s"
}

# since LINE: hubgate's log after its first LINE lines.
since() { tail -n +"$(($1 + 1))" "$tmp/hubgate.log"; }

# hup WANT: SIGHUP, then until hubgate's log says WANT (a grep pattern),
# at most 5 s; the new lines land in $hup_log.
hup() {
    local n0 i
    n0=$(wc -l <"$tmp/hubgate.log")
    kill -HUP "${pids[hubgate]}"
    for ((i = 0; i < 50; i++)); do
        since "$n0" | grep -q "$1" && break
        sleep 0.1
    done
    sleep 0.3   # the loops take the new generation from their pipes
    hup_log=$(since "$n0")
}

# count PATTERN: lines of $hup_log matching PATTERN.
count() { grep -c "$1" <<<"$hup_log"; }

# statuses N URL: the status of N plain requests, each on a new connection.
statuses() {
    local i
    for ((i = 0; i < $1; i++)); do
        nsx curl -sS --proxy http://127.0.0.1:3128 --max-time 5 -o /dev/null \
            -w '%{http_code}\n' "$2" 2>/dev/null || true
    done | sort | uniq -c | awk '{printf "%s%sx%s", sep, $1, $2; sep=" "}'
}

# 22. one generation for every loop
case_gen() {
    local out serial serial2 st deny n0 n
    grep -q 'with 2 event loop(s)' "$tmp/hubgate.log" \
        || { bad "generation: hubgate did not start 2 loops (HG_WORKERS=${HG_WORKERS:-2})"; return; }
    out=$(nsx "$PY" "$edge/client.py" "${CL[@]}" leaf-serials 20 2>&1) \
        || { bad "generation: ${out#FAIL: }"; return; }
    serial=$(sed -n 's/.*(serial \([0-9A-Fa-f]*\)).*/\1/p' <<<"$out")
    good "${out#ok: } across the loops"

    # refused at the config (unknown key) and at the generation (ca_file)
    printf '[proxy]\nno_such_key = 1\n' >>"$tmp/hubgate.ini"
    hup 'reload refused'
    hubgate_conf "$tmp/hubgate.ini" 3128 "$tmp/ca" "127.0.0.0/8"
    [ "$(count 'reload refused, keeping the running configuration')" = 1 ] && [ "$(count reloaded)" = 0 ] \
        || { bad "SIGHUP with an unknown key: want one 'reload refused' and no 'reloaded', log: $(tr '\n' '|' <<<"$hup_log")"; return; }
    sed -i "s|^ca_file = .*|ca_file = $tmp/no-such-ca.pem|" "$tmp/hubgate.ini"
    hup 'reload refused'
    hubgate_conf "$tmp/hubgate.ini" 3128 "$tmp/ca" "127.0.0.0/8"
    [ "$(count 'reload refused.*no-such-ca.pem')" = 1 ] && [ "$(count 'reload refused')" = 1 ] \
        && [ "$(count reloaded)" = 0 ] \
        || { bad "SIGHUP with a missing ca_file: want one 'reload refused' naming it, log: $(tr '\n' '|' <<<"$hup_log")"; return; }
    st=$(statuses 20 http://origin.test/hello)
    [ "$st" = "20x200" ] || { bad "after two refused reloads: 20 requests answered $st, want 20x200"; return; }
    good "SIGHUP with a bad config (unknown key, missing ca_file): refused once each, both loops serve on"

    # a good reload: said once, and every loop obeys the new allow list
    hubgate_conf "$tmp/hubgate.ini" 3128 "$tmp/ca" "10.0.0.0/8"
    hup reloaded
    [ "$(count 'reloaded: new connections use the new configuration')" = 1 ] \
        && [ "$(count 'SIGHUP: reloading')" = 1 ] && [ "$(count 'reload refused')" = 0 ] \
        || { bad "good SIGHUP: want one 'SIGHUP: reloading' and one 'reloaded', log: $(tr '\n' '|' <<<"$hup_log")"; return; }
    n0=$(wc -l <"$tmp/hubgate.log")
    deny=$(statuses 20 http://origin.test/hello)
    n=$(since "$n0" | grep -c 'refused: not in \[proxy\] allow')
    # 403, or a reset when the refusal closes before curl's request is read
    [[ $deny != *x200* ]] && [ "$n" = 20 ] \
        || { bad "after allow = 10.0.0.0/8: 20 new connections answered $deny, $n refusals logged, want none served and 20 refused"; return; }
    hubgate_conf "$tmp/hubgate.ini" 3128 "$tmp/ca" "127.0.0.0/8"
    hup reloaded
    [ "$(count reloaded)" = 1 ] || { bad "reload back: $(count reloaded) 'reloaded' lines"; return; }
    st=$(statuses 20 http://origin.test/hello)
    [ "$st" = "20x200" ] || { bad "after allow back to 127.0.0.0/8: 20 connections answered $st"; return; }
    good "good SIGHUP: 'reloaded' once; 20 new connections refused by the new allow list ($deny), then 20 served after it was put back"

    out=$(nsx "$PY" "$edge/client.py" "${CL[@]}" leaf-serials 20 2>&1) \
        || { bad "generation after reloads: ${out#FAIL: }"; return; }
    serial2=$(sed -n 's/.*(serial \([0-9A-Fa-f]*\)).*/\1/p' <<<"$out")
    [ -n "$serial" ] && [ "$serial2" = "$serial" ] \
        || { bad "reloads with the same CA: leaf serial $serial2, want $serial (kept)"; return; }
    good "after two reloads with the same CA: 20 CONNECTs, still the one leaf (serial $serial)"
}

for c in ${HG_CASES:-keepalive bodies no_body expect range big noclen cut unreachable 421 tls plain \
                    raw protocol 403 json_log trailers reload gen}; do
    "case_$c"
    check_alive "$c"
done

# Clean exit on SIGTERM.
stop_rc=0
kill -TERM "${pids[hubgate]}" 2>/dev/null
for ((i = 0; i < 100; i++)); do
    kill -0 "${pids[hubgate]}" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "${pids[hubgate]}" 2>/dev/null; then
    kill -KILL "${pids[hubgate]}" 2>/dev/null
    bad "hubgate still running 10 s after SIGTERM"
fi
wait "${pids[hubgate]}" 2>/dev/null || stop_rc=$?
unset "pids[hubgate]"
[ "$stop_rc" = 0 ] || bad "hubgate exited $stop_rc after SIGTERM"
# Every client has gone by now: a connection still open means hubgate
# missed a close (or never finished an answer).
if grep -q 'still open after' "$tmp/hubgate.log"; then
    bad "at SIGTERM hubgate still held client connections though every client had closed: $(grep 'draining\|still open' "$tmp/hubgate.log" | tail -n 2 | tr '\n' ' ')"
fi

if [ "${#failures[@]}" != 0 ]; then
    echo "t_05_http_edge: ${#failures[@]} case(s) failed:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "t_05_http_edge: all cases passed"
exit 0
