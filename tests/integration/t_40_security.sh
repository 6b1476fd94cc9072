#!/bin/bash
# t_40_security — access control, destination checks, framing, limits, the
# CA and secrets, against the real ./hubgate in network namespaces (see
# sec/lib.sh for the topology: hubgate in hgsec<pid> on 0.0.0.0, a LAN
# client and the origins in hgsec<pid>b on 198.51.100.0/24, private
# ranges and a "cloud metadata" address reachable on the veth).
#
# Instances (one at a time unless said): MAIN :3128 (allow loopback and
# the LAN range 198.51.100.0/30, header_timeout 2s, via a SOCKS5 link with a
# password that refuses, then direct), AUTH :3129 (users = alice:secret),
# PORTS :3130 (connect_ports = 443), IDLE :3131, MAXC :3132
# (max_connections = 50), FDS :3133 (ulimit -n 64).
#
# Cases (all run; the test fails if any did):
#  access   a client outside allow gets 403 before it sends a byte (< 1 s);
#           the LAN client is served
#  dest     CONNECT or GET to hubgate's own listener (127.0.0.1, the veth
#           address, a name for it) -> 403; 169.254.169.254 and a name
#           resolving to it -> 403 (nothing reaches it); 127.0.0.1 and a name
#           resolving to it: 403 from the LAN client, 200 from loopback;
#           10.77.0.7, 192.168.77.7 reachable from both; a loopback HTTP
#           service fetched by a loopback client stays 403 for the LAN
#           client, pooled upstream connection or not (#15.2: POOL :3134,
#           one worker, so that both clients share one pool)
#  ports    connect_ports = 443: CONNECT :22 -> 403, :443 -> 200
#  auth     users = alice:secret: 407 + Proxy-Authenticate: Basic without
#           or with wrong credentials (GET and CONNECT), 200 with them
#  framing  CL+TE, duplicate CL, obs-fold, space before colon, bad chunk
#           size, SP inside a name, HTTP/0.9 line, TAB in the target,
#           TE chunked not last -> 400 and the recording origin got nothing
#  garbage  non-HTTP first bytes answered (400 or close) in < 1 s
#  limits   head > 64KiB -> 431 at once; a 20 KB head -> 200; 101 fields
#           -> 431; 100 fields -> 200
#  slowloris header_timeout 2s closes a trickled head after ~2 s while a
#           concurrent good request is answered in < 1 s
#  idle     300 idle clients with half a head: a good request < 1 s
#  maxconn  max_connections 50: connection 51 gets 503; after, 200
#  emfile   ulimit -n 64, 120 connections: "pausing accepts" logged, CPU
#           < 0.5 s over 3 s, serving again once the clients close
#  ca       ca.key 0600; nameConstraints permit the three names, exclude
#           every IPv4 and IPv6 address; ca.key 0644 -> start refused with
#           "chmod 600"; a host the CA does not permit -> start refused
#           naming "hubgate ca-new --force"; SIGHUP with it -> refused, old
#           config kept; leaves only for listed names (site, IP tunnelled);
#           SNI naming another host -> TLS alert
#  secrets  Authorization, Proxy-Authorization, signed query strings and a
#           SOCKS5 link password never in any log or -t output
#   HUBGATE=path  binary   HG_KEEP=1  keep the temp dir
#   SEC_CASES="access dest ..."  run only these cases
source "$(dirname "$0")/sec/lib.sh"

sec_init t_40_security
mkdir -p "$TMP/data"
head -c 100000 /dev/urandom >"$TMP/data/mid.bin"
sec_origins

want() { [ -z "${SEC_CASES:-}" ] || [[ " $SEC_CASES " == *" $1 "* ]]; }

PROXY=http://127.0.0.1:3128
LANPROXY=http://$A_IP:3128
# what hubgate logs once a SIGHUP is dealt with, either way
RELOAD_DONE='reload refused|reloaded: new connections'

# connect_status NS PORT TARGET [SRC]: status line of a CONNECT answer, and
# the first line the tunnel brings (the banner), space-joined.
connect_status() {
    local ns=$1 port=$2 target=$3 src=${4:-} out
    out=$(client "$ns" send "$([ "$ns" = "$NS_A" ] && echo 127.0.0.1 || echo "$A_IP")" "$port" \
        ${src:+--src "$src"} --wait 6 --until banner \
        --data "CONNECT $target HTTP/1.1\\r\\nHost: $target\\r\\n\\r\\n")
    printf '%s|%s\n' "$(jget "$out" status)" \
        "$(jget "$out" head | tr -d '\r' | awk 'NR > 1 && /^banner/ {print; exit}')"
}

# ================================================================ MAIN
hg_conf "$TMP/main.ini" 3128 "[proxy]" "header_timeout = 2s" "[upstream]" \
    "via = socks5://u:SECRET4@127.0.0.1:1, direct"
# the appended via line would add to "direct": write it first instead
sed -i '/^via = direct$/d' "$TMP/main.ini"
cp "$TMP/main.ini" "$TMP/main.ini.orig"
hg_up main 3128 "$TMP/main.ini"
MAIN_PID=$HG_PID
sec_log "MAIN hubgate pid $MAIN_PID"

# -------------------------------------------------------------- access
if want access; then
    out=$(client "$NS_B" send "$A_IP" 3128 --src "$OUT_IP" --wait 3)
    st=$(jget "$out" status) ms=$(jget "$out" first_ms)
    if [[ $st == "HTTP/1.1 403"* ]] && [ -n "$ms" ] && [ "$ms" -lt 1000 ]; then
        good "client $OUT_IP outside allow: 403 after ${ms} ms without sending a byte"
    else
        bad "client outside allow: want 403 at once without a request, got: $out"
    fi
    code=$(pcurl "$NS_B" --interface "$OUT_IP" -o /dev/null -w '%{http_code}' -x "$LANPROXY" \
        http://origin.test/hello 2>"$TMP/curl.err")
    if [ "$code" = 403 ]; then
        good "curl from $OUT_IP: 403"
    else
        bad "curl from a client outside allow: want 403, got '$code' ($(head -c 200 "$TMP/curl.err"))"
    fi
    grep -q "client $OUT_IP.*not in \[proxy\] allow" "$TMP/main.log" \
        && good "refusal logged" || bad "no 'not in [proxy] allow' log line for $OUT_IP"
    body=$(pcurl "$NS_B" --interface "$LAN_IP" -x "$LANPROXY" http://origin.test/hello)
    [ "$body" = ok ] && good "LAN client $LAN_IP served" || bad "LAN client: want 'ok', got '$body'"
fi

# -------------------------------------------------------------- dest
if want dest; then
    for t in 127.0.0.1:3128 "$A_IP:3128" self.test:3128 loop.test:3128; do
        r=$(connect_status "$NS_A" 3128 "$t")
        [[ $r == "HTTP/1.1 403"* ]] && good "CONNECT $t (hubgate itself): 403" \
            || bad "CONNECT $t (hubgate's own listener): want 403, got '$r'"
    done
    code=$(pcurl "$NS_A" -o /dev/null -w '%{http_code}' -x "$PROXY" http://self.test:3128/x)
    [ "$code" = 403 ] && good "GET http://self.test:3128/ (loop): 403" \
        || bad "GET to hubgate's own listener: want 403, got $code"
    before=$(rec_conns "${META_IP}_443")
    for t in "$META_IP:443" metadata.test:443; do
        r=$(connect_status "$NS_A" 3128 "$t")
        [[ $r == "HTTP/1.1 403"* ]] && good "CONNECT $t (deny_targets): 403" \
            || bad "CONNECT $t: want 403 (deny_targets 169.254.0.0/16), got '$r'"
    done
    code=$(pcurl "$NS_A" -o /dev/null -w '%{http_code}' -x "$PROXY" \
        "http://metadata.test/latest/meta-data/")
    [ "$code" = 403 ] && good "GET http://metadata.test/ (169.254.169.254): 403" \
        || bad "GET to a name resolving to 169.254.169.254: want 403, got $code"
    [ "$(rec_conns "${META_IP}_443")" = "$before" ] && [ "$(rec_conns "${META_IP}_80")" = 0 ] \
        && good "nothing reached 169.254.169.254" \
        || bad "a connection reached 169.254.169.254 ($(rec_conns "${META_IP}_443")/$(rec_conns "${META_IP}_80"))"
    for t in 127.0.0.1:8022 loop.test:8022; do
        r=$(connect_status "$NS_B" 3128 "$t" "$LAN_IP")
        [[ $r == "HTTP/1.1 403"* ]] && good "CONNECT $t from LAN client: 403" \
            || bad "CONNECT $t from the LAN client: want 403 (loopback target), got '$r'"
        r=$(connect_status "$NS_A" 3128 "$t")
        [[ $r == "HTTP/1.1 200"*"|banner 127.0.0.1_8022" ]] && good "CONNECT $t from loopback: 200, reached" \
            || bad "CONNECT $t from a loopback client: want 200 and the banner, got '$r'"
    done
    code=$(pcurl "$NS_B" --interface "$LAN_IP" -o /dev/null -w '%{http_code}' -x "$LANPROXY" \
        http://loop.test:8022/)
    [ "$code" = 403 ] && good "GET http://loop.test:8022/ from LAN client: 403" \
        || bad "GET to a loopback target from the LAN client: want 403, got $code"
    # A pooled connection must not carry a LAN client where a new one may
    # not go: the loopback recorder, fetched first by a loopback client.
    hg_conf "$TMP/pool.ini" 3134
    hg_up pool 3134 "$TMP/pool.ini" env HUBGATE_WORKERS=1
    before=$(rec_conns 127.0.0.1_8081)
    body=$(pcurl "$NS_A" -x http://127.0.0.1:3134 http://loop.test:8081/)
    code=$(pcurl "$NS_B" --interface "$LAN_IP" -o /dev/null -w '%{http_code}' \
        -x "http://$A_IP:3134" http://loop.test:8081/)
    if [ "$body" = ok ] && [ "$code" = 403 ] && [ "$(rec_conns 127.0.0.1_8081)" = $((before + 1)) ]; then
        good "loopback HTTP service: 200 to the loopback client, then 403 to the LAN client (pooled connection not reused)"
    else
        bad "loopback service after a pooled fetch: loopback client got '$body', LAN client $code (want 403), recorder connections $before -> $(rec_conns 127.0.0.1_8081) (want one more)"
    fi
    sec_stop pool
    for t in lan.test:443 "$LAN_HOST_IP:443" "$LAN2_HOST_IP:443"; do
        ip=${t%:*}; [ "$ip" = lan.test ] && ip=$LAN_HOST_IP
        for who in lan loop; do
            if [ $who = lan ]; then r=$(connect_status "$NS_B" 3128 "$t" "$LAN_IP")
            else r=$(connect_status "$NS_A" 3128 "$t"); fi
            [[ $r == "HTTP/1.1 200"*"|banner ${ip}_443" ]] && good "CONNECT $t ($who client): reached" \
                || bad "CONNECT $t (private LAN) from the $who client: want 200 and its banner, got '$r'"
        done
    done
fi

# -------------------------------------------------------------- framing
if want framing; then
    rec=${HUB_IP}_80
    out=$(client "$NS_A" send 127.0.0.1 3128 --wait 3 \
        --data 'GET http://origin.test/ok HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n')
    if [[ $(jget "$out" status) == "HTTP/1.1 200"* ]] && [ "$(rec_bytes "$rec")" -gt 0 ]; then
        good "framing control: a good request reaches the recording origin"
    else
        bad "framing control request failed: $out"
    fi
    H='POST http://origin.test/x HTTP/1.1\r\nHost: origin.test\r\n'
    declare -A bodies=(
        [cl_te]="${H}Content-Length: 6\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nG"
        [dup_cl]="${H}Content-Length: 3\\r\\nContent-Length: 30\\r\\n\\r\\nabc"
        [obs_fold]="${H}X-Folded: a\\r\\n b\\r\\nContent-Length: 0\\r\\n\\r\\n"
        [space_colon]="${H}Content-Length : 3\\r\\n\\r\\nabc"
        [bad_chunk]="${H}Transfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\nabc\\r\\n0\\r\\n\\r\\n"
        [te_not_last]="${H}Transfer-Encoding: chunked, identity\\r\\n\\r\\n3\\r\\nabc\\r\\n0\\r\\n\\r\\n"
        [sp_in_name]="${H}Content Length: 3\\r\\nContent-Length: 0\\r\\n\\r\\n"
        [http09]='GET http://origin.test/x\r\nHost: origin.test\r\n\r\n'
        [tab_target]='GET http://origin.test/a\tb HTTP/1.1\r\nHost: origin.test\r\n\r\n'
    )
    for k in cl_te dup_cl obs_fold space_colon bad_chunk te_not_last sp_in_name http09 tab_target; do
        b0=$(rec_bytes "$rec") c0=$(rec_conns "$rec")
        out=$(client "$NS_A" send 127.0.0.1 3128 --wait 3 --data "${bodies[$k]}")
        sleep 0.2
        b1=$(rec_bytes "$rec") c1=$(rec_conns "$rec")
        st=$(jget "$out" status)
        if [[ $st == "HTTP/1.1 400"* ]] && [ "$b1" = "$b0" ] && [ "$c1" = "$c0" ]; then
            good "framing $k: 400, the origin saw nothing"
        else
            bad "framing $k: want 400 and nothing at the origin; got '$st', origin got $((b1 - b0)) bytes on $((c1 - c0)) new connection(s): $(tail -c $((b1 - b0 > 300 ? 300 : b1 - b0)) "$TMP/rec/$rec.bin" | tr '\r\n' '~|')"
        fi
    done
fi

# -------------------------------------------------------------- garbage
if want garbage; then
    for g in ssh tls random; do
        case $g in
            ssh) args=(--data 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n') ;;
            tls) args=(--data '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x12\x34') ;;
            random) args=(--data '\xff' --random 300) ;;
        esac
        out=$(client "$NS_A" send 127.0.0.1 3128 --wait 5 "${args[@]}")
        ms=$(jget "$out" close_ms); [ -n "$ms" ] || ms=$(jget "$out" first_ms)
        if [ -n "$ms" ] && [ "$ms" -lt 1000 ] && [ "$(jget "$out" timeout)" != True ]; then
            good "garbage ($g): answered '$(jget "$out" status)' in ${ms} ms"
        else
            bad "garbage ($g): want an answer or close in < 1 s, got $out"
        fi
    done
fi

# -------------------------------------------------------------- limits
if want limits; then
    rec=${HUB_IP}_80
    big=$("$PY" -c 'print("X-Big: " + "b" * 70000, end="")')
    b0=$(rec_bytes "$rec")
    out=$(client "$NS_A" send 127.0.0.1 3128 --wait 5 \
        --data "GET http://origin.test/big HTTP/1.1\\r\\nHost: origin.test\\r\\n$big\\r\\n\\r\\n")
    st=$(jget "$out" status) ms=$(jget "$out" first_ms)
    if [[ $st == "HTTP/1.1 431"* ]] && [ -n "$ms" ] && [ "$ms" -lt 1000 ]; then
        good "head > 64KiB: 431 in ${ms} ms"
    else
        bad "head of 70 KB > max_header_bytes (64KiB): want 431 at once, got '$st' (answer after ${ms:-none} ms, closed after $(jget "$out" close_ms) ms, reset $(jget "$out" reset); header_timeout is 2 s)"
    fi
    [ "$(rec_bytes "$rec")" = "$b0" ] || bad "the 70 KB head (431) reached the origin"
    mid=$("$PY" -c 'print("X-Mid: " + "m" * 20000, end="")')
    out=$(client "$NS_A" send 127.0.0.1 3128 --wait 5 \
        --data "GET http://origin.test/mid HTTP/1.1\\r\\nHost: origin.test\\r\\nConnection: close\\r\\n$mid\\r\\n\\r\\n")
    st=$(jget "$out" status)
    [[ $st == "HTTP/1.1 200"* ]] && good "head of 20 KB (< max_header_bytes 64KiB): 200" \
        || bad "head of 20 KB, under max_header_bytes (64KiB): want 200, got '$st' (closed after $(jget "$out" close_ms) ms; header_timeout is 2 s)"
    b0=$(rec_bytes "$rec")  # the 20 KB request above reached it, as it should
    many() { "$PY" -c 'import sys; print("".join("X-F%d: v\\r\\n" % i for i in range(int(sys.argv[1]))), end="")' "$1"; }
    out=$(client "$NS_A" send 127.0.0.1 3128 --wait 5 \
        --data "GET http://origin.test/many HTTP/1.1\\r\\nHost: origin.test\\r\\n$(many 100)\\r\\n")
    [[ $(jget "$out" status) == "HTTP/1.1 431"* ]] && good "101 fields: 431" \
        || bad "101 header fields: want 431, got '$(jget "$out" status)'"
    [ "$(rec_bytes "$rec")" = "$b0" ] && good "431 requests never reached the origin" \
        || bad "a 431 request reached the origin"
    out=$(client "$NS_A" send 127.0.0.1 3128 --wait 5 \
        --data "GET http://origin.test/ninety-nine HTTP/1.1\\r\\nHost: origin.test\\r\\nConnection: close\\r\\n$(many 98)\\r\\n")
    [[ $(jget "$out" status) == "HTTP/1.1 200"* ]] && good "100 fields: 200" \
        || bad "100 header fields (the limit): want 200, got '$(jget "$out" status)'"
fi

# -------------------------------------------------------------- slowloris
if want slowloris; then
    rm -f "$TMP/trickle.ready"
    client "$NS_A" trickle 127.0.0.1 3128 --every 0.25 --max 10 --ready "$TMP/trickle.ready" \
        --data 'GET http://origin.test/slow HTTP/1.1\r\nHost: origin.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' \
        >"$TMP/trickle.json" &
    tpid=$!
    # the good request goes while the slow head is being sent
    wait_for 10 test -s "$TMP/trickle.ready" || bad "slowloris: the trickling client sent nothing in 10 s"
    t=$(pcurl "$NS_A" -o /dev/null -w '%{http_code} %{time_total}' -x "$PROXY" http://origin.test/during-slowloris)
    wait "$tpid"
    tr=$(cat "$TMP/trickle.json")
    ms=$(jget "$tr" closed_ms)
    if [ -n "$ms" ] && [ "$ms" -ge 1500 ] && [ "$ms" -le 3500 ]; then
        good "slowloris closed after ${ms} ms (header_timeout 2s), answer '$(jget "$tr" status)'"
    else
        bad "slowloris: want closed after ~2 s (header_timeout = 2s), got $tr"
    fi
    if [[ $t == "200 "* ]] && awk -v s="${t#* }" 'BEGIN {exit !(s < 1.0)}'; then
        good "good request during slowloris: $t s"
    else
        bad "good request during slowloris: want 200 in < 1 s, got '$t'"
    fi
fi

# -------------------------------------------------------------- ca
CA=$TMP/ca-3128
if want ca; then
    m=$(stat -c %a "$CA/ca.key")
    [ "$m" = 600 ] && good "ca.key mode 0600" || bad "ca.key mode: want 600, got $m"
    txt=$(openssl x509 -in "$CA/ca.crt" -noout -text)
    nc=$(printf '%s\n' "$txt" | awk '/Name Constraints/ {f = 1} f && /X509v3/ && !/Name Constraints/ {f = 0} f')
    ok=1
    for h in $HUB_HOSTS; do
        printf '%s\n' "$nc" | awk '/Permitted:/ {p = 1} /Excluded:/ {p = 0} p' | grep -q "DNS:$h\$" || ok=0
    done
    exc=$(printf '%s\n' "$nc" | awk '/Excluded:/ {p = 1} p')
    printf '%s\n' "$exc" | grep -q 'IP:0\.0\.0\.0/0\.0\.0\.0' || ok=0
    printf '%s\n' "$exc" | grep -Eq 'IP:(0:){7}0/(0:){7}0|IP:::/::' || ok=0
    [ $ok = 1 ] && good "nameConstraints: permitted DNS for each host, excluded 0.0.0.0/0 and ::/0" \
        || bad "CA nameConstraints not as expected: $(printf '%s' "$nc" | tr '\n' ' ')"

    # a second process on a copy of the CA: ca.key 0644 must be refused
    cp -a "$CA" "$TMP/ca-3140"
    hg_conf "$TMP/ca644.ini" 3140
    chmod 644 "$TMP/ca-3140/ca.key"
    out=$(timeout 10 ip netns exec "$NS_A" "$HUBGATE" -c "$TMP/ca644.ini" 2>&1); rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'chmod 600' <<<"$out"; then
        good "ca.key 0644: start refused (rc $rc): $(head -n1 <<<"$out" | cut -c1-150)"
    else
        bad "ca.key 0644: want start refused with 'chmod 600', got rc $rc: $(head -c 300 <<<"$out")"
    fi
    chmod 600 "$TMP/ca-3140/ca.key"

    # a host the CA's nameConstraints do not permit
    hg_conf "$TMP/evil.ini" 3140
    sed -i "s|^hosts = .*|hosts = $HUB_HOSTS evil.example|" "$TMP/evil.ini"
    out=$(timeout 10 ip netns exec "$NS_A" "$HUBGATE" -c "$TMP/evil.ini" 2>&1); rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'hubgate ca-new --force' <<<"$out"; then
        good "intercepting a name the CA does not permit: start refused, names 'hubgate ca-new --force'"
    else
        bad "a host outside the CA's constraints: want start refused naming 'hubgate ca-new --force', got rc $rc: $(head -c 300 <<<"$out")"
    fi

    # the same by SIGHUP: refused, old config kept
    cp "$TMP/main.ini" "$TMP/main.ini.keep"
    sed -i "s|^hosts = .*|hosts = $HUB_HOSTS evil.example|" "$TMP/main.ini"
    n0=$(wc -l <"$TMP/main.log")
    nr=$(log_count "$TMP/main.log" "$RELOAD_DONE")
    kill -HUP "$MAIN_PID"
    wait_for 10 log_grows "$TMP/main.log" "$RELOAD_DONE" "$nr"
    newlog=$(tail -n +"$((n0 + 1))" "$TMP/main.log")
    body=$(pcurl "$NS_A" -x "$PROXY" --cacert "$CA/ca.crt" https://registry-1.docker.io/v2/)
    if alive main && [ "$body" = "{}" ] && grep -q 'refused.*ca-new --force' <<<"$newlog"; then
        good "SIGHUP with a host outside the CA: refused, still serving ($(grep 'refused' <<<"$newlog" | head -n1 | cut -c25-160))"
    else
        bad "SIGHUP with a host outside the CA: want refused and old config serving; alive=$(alive main && echo y || echo n) body='$body' log: $(tr '\n' '|' <<<"$newlog" | cut -c1-300)"
    fi
    cp "$TMP/main.ini.keep" "$TMP/main.ini"
    # evil.example must not have been minted: CONNECT evil.example is no intercept
    issuer() {
        timeout 10 ip netns exec "$NS_A" openssl s_client -proxy 127.0.0.1:3128 \
            -connect "$1" -servername "$2" </dev/null 2>/dev/null \
            | openssl x509 -noout -issuer 2>/dev/null
    }
    is_hg=$(openssl x509 -in "$CA/ca.crt" -noout -subject | sed 's/^subject=//')
    for h in registry-1.docker.io auth.docker.io; do
        i=$(issuer "$h:443" "$h")
        [ "${i#issuer=}" = "$is_hg" ] && good "leaf for $h from hubgate's CA" \
            || bad "intercepted $h: want a leaf from hubgate's CA ($is_hg), got '$i'"
    done
    i=$(issuer site.example.test:443 site.example.test)
    [[ $i == *"hubgate test internet root CA"* ]] && good "site.example.test tunnelled: its own certificate" \
        || bad "site.example.test: want the site's own certificate (test CA), got '$i'"
    i=$(issuer "$HUB_IP:443" registry-1.docker.io)
    [[ $i == *"hubgate test internet root CA"* ]] && good "CONNECT $HUB_IP:443 (an IP) tunnelled, no leaf minted" \
        || bad "CONNECT to an IP: want it tunnelled (origin's certificate), got '$i'"
    # SNI naming another host than the CONNECT authority
    for sni in auth.docker.io evil.example; do
        out=$(timeout 10 ip netns exec "$NS_A" openssl s_client -proxy 127.0.0.1:3128 \
            -connect registry-1.docker.io:443 -servername "$sni" -CAfile "$CA/ca.crt" </dev/null 2>&1)
        if grep -qi 'alert' <<<"$out" && ! grep -q 'BEGIN CERTIFICATE' <<<"$out"; then
            good "SNI $sni inside CONNECT registry-1.docker.io: TLS alert ($(grep -o 'alert number [0-9]*' <<<"$out" | head -n1))"
        else
            bad "SNI $sni inside CONNECT registry-1.docker.io: want a TLS alert and no certificate, got: $(grep -E 'alert|subject=|issuer=' <<<"$out" | head -n 3 | tr '\n' '|')"
        fi
    done
    out=$(timeout 10 ip netns exec "$NS_A" openssl s_client -proxy 127.0.0.1:3128 \
        -connect registry-1.docker.io:443 -servername registry-1.docker.io -verify_hostname registry-1.docker.io \
        -CAfile "$CA/ca.crt" </dev/null 2>&1)
    grep -q 'Verify return code: 0 (ok)' <<<"$out" && good "matching SNI verifies against hubgate's CA" \
        || bad "matching SNI: want a verified handshake, got $(grep 'Verify return' <<<"$out")"
fi

# -------------------------------------------------------------- secrets
if want secrets; then
    b64=$(printf 'alice:SECRET5' | base64)
    body=$(pcurl "$NS_A" -x "$PROXY" --cacert "$CA/ca.crt" -H 'Authorization: Bearer SECRET1' \
        --proxy-header "Proxy-Authorization: Basic $b64" \
        'https://registry-1.docker.io/v2/?verify=SECRET2&X-Amz-Signature=SECRET3')
    [ "$body" = "{}" ] && good "intercepted request with secrets served (after the SOCKS5 link refused)" \
        || bad "intercepted request with secrets: want '{}', got '$body'"
    body=$(pcurl "$NS_A" -x "$PROXY" -H 'Authorization: Bearer SECRET1' \
        -H "Proxy-Authorization: Basic $b64" \
        'http://origin.test/data?verify=SECRET2&X-Amz-Signature=SECRET3')
    [ "$body" = "ok" ] && good "plain request with secrets served" || bad "plain request with secrets: got '$body'"
    body=$(pcurl "$NS_A" -x "$PROXY" --cacert "$CA/ca.crt" -H 'Authorization: Bearer SECRET1' \
        'https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/d2/x/data?verify=SECRET2&X-Amz-Signature=SECRET3')
    # a refused config naming a link with a password: -t output and SIGHUP
    cp "$TMP/main.ini" "$TMP/main.ini.keep"
    sed -i 's|^via = .*|via = socks5://u:SECRET4@127.0.0.1:99999, direct|' "$TMP/main.ini"
    out=$(timeout 10 ip netns exec "$NS_A" "$HUBGATE" -t -c "$TMP/main.ini" 2>&1)
    nr=$(log_count "$TMP/main.log" "$RELOAD_DONE")
    kill -HUP "$MAIN_PID"
    # the file must stay bad until hubgate has read it
    wait_for 10 log_grows "$TMP/main.log" "$RELOAD_DONE" "$nr" \
        || bad "SIGHUP with a bad link: no reload outcome logged within 10 s"
    cp "$TMP/main.ini.keep" "$TMP/main.ini"
    if grep -q SECRET4 <<<"$out"; then
        bad "hubgate -t shows a link password: $(grep SECRET4 <<<"$out" | head -n1)"
    else
        good "hubgate -t on a bad link does not show its password ($(head -n1 <<<"$out" | cut -c1-120))"
    fi
    # a mistyped scheme separator is still a URL with a password
    for v in 'socks5:/u:SECRET6@127.0.0.1:1080' 'u:SECRET6@127.0.0.1:1080'; do
        sed "s|^via = .*|via = $v|" "$TMP/main.ini" >"$TMP/typo.ini"
        out=$(timeout 10 ip netns exec "$NS_A" "$HUBGATE" -t -c "$TMP/typo.ini" 2>&1)
        if grep -q SECRET6 <<<"$out"; then
            bad "hubgate -t shows the password of a mistyped link '$v': $(grep -o '"[^"]*SECRET6[^"]*"' <<<"$out" | head -n1)"
        else
            good "mistyped link '$v': password not shown"
        fi
    done
fi

# ================================================================ AUTH
if want auth; then
    hg_conf "$TMP/auth.ini" 3129 "[proxy]" "users = alice:secret"
    hg_up auth 3129 "$TMP/auth.ini"
    AP=http://127.0.0.1:3129
    for how in none wrong; do
        cred=(); [ $how = wrong ] && cred=(--proxy-user alice:wrongpw)
        hdr=$(pcurl "$NS_A" -D - -o /dev/null -x "$AP" "${cred[@]}" http://origin.test/hello | tr -d '\r')
        if head -n1 <<<"$hdr" | grep -q ' 407' && grep -qi '^Proxy-Authenticate: Basic' <<<"$hdr"; then
            good "auth GET ($how credentials): 407 with Proxy-Authenticate: Basic"
        else
            bad "auth GET ($how credentials): want 407 + Proxy-Authenticate: Basic, got: $(tr '\n' '|' <<<"$hdr" | cut -c1-200)"
        fi
        r=$(client "$NS_A" send 127.0.0.1 3129 --wait 2 --data \
            "CONNECT lan.test:443 HTTP/1.1\\r\\nHost: lan.test:443\\r\\n$([ $how = wrong ] && echo "Proxy-Authorization: Basic $(printf alice:wrongpw | base64)\\r\\n")\\r\\n")
        if [[ $(jget "$r" status) == "HTTP/1.1 407"* ]] && grep -qi 'Proxy-Authenticate: Basic' <<<"$(jget "$r" head)"; then
            good "auth CONNECT ($how credentials): 407"
        else
            bad "auth CONNECT ($how credentials): want 407, got '$(jget "$r" status)'"
        fi
    done
    body=$(pcurl "$NS_A" -x "$AP" --proxy-user alice:secret http://origin.test/hello)
    [ "$body" = ok ] && good "auth GET with alice:secret: 200" || bad "auth GET with the right credentials: got '$body'"
    body=$(pcurl "$NS_A" -x "$AP" --proxy-user alice:secret --cacert "$TMP/ca-3129/ca.crt" https://registry-1.docker.io/v2/)
    [ "$body" = "{}" ] && good "auth CONNECT+intercept with alice:secret: 200" \
        || bad "auth CONNECT with the right credentials: got '$body'"
    if grep -q 'wrongpw\|secret\b' "$TMP/auth.log"; then
        bad "a proxy password is in the log: $(grep -m1 'wrongpw\|secret\b' "$TMP/auth.log")"
    else
        good "no proxy password in the log"
    fi
    sec_stop auth
fi

# ================================================================ PORTS
if want ports; then
    hg_conf "$TMP/ports.ini" 3130 "[proxy]" "connect_ports = 443"
    hg_up ports 3130 "$TMP/ports.ini"
    r=$(connect_status "$NS_A" 3130 lan.test:22)
    [[ $r == "HTTP/1.1 403"* ]] && good "connect_ports = 443: CONNECT :22 -> 403" \
        || bad "connect_ports = 443: CONNECT lan.test:22: want 403, got '$r'"
    r=$(connect_status "$NS_A" 3130 127.0.0.1:22)
    [[ $r == "HTTP/1.1 403"* ]] && good "connect_ports = 443: CONNECT 127.0.0.1:22 -> 403" \
        || bad "connect_ports = 443: CONNECT 127.0.0.1:22: want 403, got '$r'"
    r=$(connect_status "$NS_A" 3130 lan.test:443)
    [[ $r == "HTTP/1.1 200"*"|banner ${LAN_HOST_IP}_443" ]] && good "connect_ports = 443: CONNECT :443 -> 200" \
        || bad "connect_ports = 443: CONNECT lan.test:443: want 200, got '$r'"
    sec_stop ports
fi

# ================================================================ IDLE
if want idle; then
    hg_conf "$TMP/idle.ini" 3131
    hg_up idle 3131 "$TMP/idle.ini"
    IPID=$HG_PID
    ifd0=$(fd_count "$IPID")
    rm -f "$TMP/idle.ready" "$TMP/idle.stop"
    client "$NS_A" hold 127.0.0.1 3131 300 --secs 30 --ready "$TMP/idle.ready" --stop "$TMP/idle.stop" \
        --data 'GET http://origin.test/idle HTTP/1.1\r\nHost: origin.test\r\n' >"$TMP/idle.json" &
    hpid=$!
    wait_for 10 test -s "$TMP/idle.ready"
    # the good request must meet the idle clients inside hubgate, not in
    # its accept queue: wait until it holds their sockets
    read -r held _ <"$TMP/idle.ready" 2>/dev/null || held=0
    wait_for 10 fds_at_least "$IPID" $((ifd0 + held)) \
        || bad "idle: hubgate holds $(fd_count "$IPID") descriptors 10 s after $held clients connected (start $ifd0)"
    t=$(pcurl "$NS_A" -o /dev/null -w '%{http_code} %{time_total}' -x http://127.0.0.1:3131 http://origin.test/good)
    touch "$TMP/idle.stop"
    wait "$hpid"
    if [[ $t == "200 "* ]] && awk -v s="${t#* }" 'BEGIN {exit !(s < 1.0)}'; then
        good "300 idle clients ($(cat "$TMP/idle.ready" | tr '\n' ' ')open/failed): good request $t s"
    else
        bad "300 idle clients: good request want 200 in < 1 s, got '$t' (clients: $(cat "$TMP/idle.json"))"
    fi
    sec_stop idle
fi

# ================================================================ MAXC
if want maxconn; then
    hg_conf "$TMP/maxc.ini" 3132 "[proxy]" "max_connections = 50"
    hg_up maxc 3132 "$TMP/maxc.ini"
    MPID=$HG_PID
    mfd0=$(fd_count "$MPID")
    rm -f "$TMP/maxc.ready" "$TMP/maxc.stop"
    client "$NS_A" hold 127.0.0.1 3132 50 --secs 20 --ready "$TMP/maxc.ready" --stop "$TMP/maxc.stop" \
        >"$TMP/maxc.json" &
    hpid=$!
    wait_for 10 test -s "$TMP/maxc.ready"
    # connection 51 must come after hubgate took (and counted) the 50
    wait_for 10 fds_at_least "$MPID" $((mfd0 + 50)) \
        || bad "maxconn: hubgate holds $(fd_count "$MPID") descriptors 10 s after 50 clients connected (start $mfd0)"
    out=$(client "$NS_A" send 127.0.0.1 3132 --wait 3 \
        --data 'GET http://origin.test/51 HTTP/1.1\r\nHost: origin.test\r\n\r\n')
    touch "$TMP/maxc.stop"
    wait "$hpid"
    [[ $(jget "$out" status) == "HTTP/1.1 503"* ]] && good "max_connections 50: connection 51 gets 503" \
        || bad "max_connections 50: connection 51 want 503, got '$(jget "$out" status)' (held: $(cat "$TMP/maxc.json"))"
    code=""
    for ((i = 0; i < 20; i++)); do
        code=$(pcurl "$NS_A" -o /dev/null -w '%{http_code}' -x http://127.0.0.1:3132 http://origin.test/after)
        [ "$code" = 200 ] && break
        sleep 0.25
    done
    [ "$code" = 200 ] && good "max_connections: served again once clients left" \
        || bad "max_connections: after the clients left, want 200, got $code"
    sec_stop maxc
fi

# ================================================================ FDS
if want emfile; then
    hg_conf "$TMP/fds.ini" 3133
    hg_up fds 3133 "$TMP/fds.ini" sh -c 'ulimit -n 64 && exec "$0" "$@"'
    FPID=$HG_PID
    lim=$(awk '/^Max open files/ {print $4}' "/proc/$FPID/limits")
    # warm up: the upstream pool then holds its idle connection to origin.test
    pcurl "$NS_A" -o /dev/null -x http://127.0.0.1:3133 http://origin.test/warm-up
    wait_for 10 no_client_sock "$FPID" 3133
    fd0=$(fd_count "$FPID")
    rm -f "$TMP/fds.ready" "$TMP/fds.stop"
    client "$NS_A" hold 127.0.0.1 3133 120 --secs 30 --ready "$TMP/fds.ready" --stop "$TMP/fds.stop" \
        --data 'GET http://origin.test/fd HTTP/1.1\r\nHost: origin.test\r\n' >"$TMP/fds.json" &
    hpid=$!
    wait_for 10 test -s "$TMP/fds.ready"
    # measure once hubgate is out of descriptors (it says so), not after a
    # guess of how long that takes
    wait_for 10 grep -q 'pausing accepts' "$TMP/fds.log"
    c0=$(cpu_ticks "$FPID")
    sleep 3
    c1=$(cpu_ticks "$FPID")
    hz=$(getconf CLK_TCK)
    fdmax=$(fd_count "$FPID")
    touch "$TMP/fds.stop"
    wait "$hpid"
    if grep -q 'pausing accepts' "$TMP/fds.log"; then
        good "ulimit -n $lim: EMFILE back-off logged ($(grep -c 'pausing accepts' "$TMP/fds.log") lines; fds $fd0 -> $fdmax)"
    else
        bad "ulimit -n $lim with 120 clients: no 'pausing accepts' (EMFILE back-off) in the log; fds $fd0 -> $fdmax"
    fi
    if [ $((c1 - c0)) -lt $((hz / 2)) ]; then
        good "no spin at EMFILE: $((c1 - c0)) ticks of CPU in 3 s (HZ $hz)"
    else
        bad "hubgate spins at EMFILE: $((c1 - c0)) ticks of CPU in 3 s (HZ $hz)"
    fi
    code=""
    for ((i = 0; i < 40; i++)); do
        code=$(pcurl "$NS_A" -o /dev/null -w '%{http_code}' --max-time 3 -x http://127.0.0.1:3133 http://origin.test/fd-after)
        [ "$code" = 200 ] && break
        sleep 0.25
    done
    if alive fds && [ "$code" = 200 ]; then
        good "served again after the clients closed"
    else
        bad "after EMFILE and the clients closing: want 200, got '$code' (alive: $(alive fds && echo y || echo n))"
    fi
    n=$(fd_settle "$FPID" "$fd0" 10)
    socks=$(hg_socks "$FPID" "$NS_A")
    cl=$(awk '$1 != "LISTEN" && $2 ~ /:3133$/' <<<"$socks" | wc -l)
    if [ "$n" -le "$fd0" ]; then
        good "descriptors back to $n (start $fd0)"
    elif [ "$cl" = 0 ] && ! awk '$1 != "ESTAB" && $1 != "LISTEN"' <<<"$socks" | grep -q .; then
        good "descriptors $n (start $fd0): no client socket left, the rest idle upstream (pool per worker)"
    else
        bad "after EMFILE: $n descriptors open, $fd0 at start; $cl client socket(s): $(tr '\n' '|' <<<"$socks")"
    fi
    sec_stop fds
fi

# ================================================================ secrets, last
if want secrets; then
    sec_stop main
    leaks=$(grep -ho 'SECRET[0-9]' "$TMP"/main.log "$TMP"/auth.log 2>/dev/null | sort -u | tr '\n' ' ')
    b64=$(printf 'alice:SECRET5' | base64)
    grep -q "$b64" "$TMP/main.log" && leaks="$leaks base64(alice:SECRET5)"
    if [ -z "$leaks" ]; then
        good "no secret in any log (SECRET1..5, the Basic credentials)"
    else
        bad "secrets in hubgate's log: $leaks: $(grep -h 'SECRET[0-9]' "$TMP/main.log" | head -n 3 | cut -c1-200 | tr '\n' '|')"
    fi
fi

sec_finish
