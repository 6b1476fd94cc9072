#!/bin/bash
# t_20_passthrough — hubgate intercepts only the Docker Hub hosts:
#   1. CONNECT to site.example.test (not a Docker Hub host) is tunnelled
#      untouched: curl trusting only the test internet CA gets the page, and
#      the certificate it sees is the site's own (same fingerprint as the one
#      nginx serves, issuer = the test internet CA, not hubgate's CA);
#   2. the same URL with only hubgate's CA trusted fails certificate
#      verification (curl exit 60): hubgate did not mint a leaf for it;
#   3. https://registry-1.docker.io/v2/ through hubgate, trusting only
#      hubgate's CA, answers Docker Hub's 401 with
#      WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io"
#      and the leaf is issued by hubgate's CA (intercepted);
#   4. plain http://site.example.test/ in absolute form is forwarded;
#   5. SIGTERM: hubgate exits 0 within 10 s.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
hg_init t_20_passthrough
[ "$HUBGATE_DIRECT" = 1 ] && hg_skip "HUBGATE_DIRECT=1: nothing to check without hubgate"

hg_topology_up
hg_hub_up
hubgate_config "$HG_TMP/hubgate.ini"
hubgate_start "$HG_TMP/hubgate.ini"

test_ca=$HG_TMP/pki/ca.crt
hubgate_ca=$HG_HUBGATE_CA_DIR/ca.crt
url=https://$HG_SITE_HOST/
# An empty --capath: curl trusts exactly the --cacert given, whatever
# /etc/ssl/certs holds.
mkdir -p "$HG_TMP/empty-capath"
proxy=(-x "http://$HG_PROXY" --max-time 20 --capath "$HG_TMP/empty-capath")
test_ca_subject=$(openssl x509 -in "$test_ca" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')

# fingerprint PEM_FILE_OR_STDIN: SHA-256 fingerprint of the first certificate.
fingerprint() { openssl x509 -noout -fingerprint -sha256 "$@" | sed 's/.*=//'; }

# --- 1. passthrough: the site's own certificate, end to end
rc=0
body=$(hg_client curl -sS -v "${proxy[@]}" --cacert "$test_ca" "$url" 2>"$HG_LOGS/curl-site.log") || rc=$?
[ "$rc" = 0 ] || hg_fail "curl -x hubgate --cacert <test CA> $url: exit $rc: $(tail -n 5 "$HG_LOGS/curl-site.log")"
case $body in
    *"$HG_SITE_MARK"*) ;;
    *) hg_fail "$url through hubgate: wrong page: $body" ;;
esac
grep -q '^< HTTP/1.1 200 Connection established\|^< HTTP/1\.[01] 200' "$HG_LOGS/curl-site.log" \
    || hg_fail "no 200 answer to CONNECT in curl -v output"
issuer=$(sed -n 's/^\*  issuer: //p' "$HG_LOGS/curl-site.log" | head -n1)
case $issuer in
    *"CN=hubgate test internet root CA"*) ;;
    *) hg_fail "$url: curl saw issuer '$issuer', want the test internet CA ($test_ca_subject)" ;;
esac
hg_log "passthrough: curl got the site's page; issuer: $issuer"

want_fp=$(fingerprint -in "$HG_TMP/pki/$HG_SITE_HOST.crt")
hg_client openssl s_client -proxy "$HG_PROXY" -connect "$HG_SITE_HOST:443" \
    -servername "$HG_SITE_HOST" -CAfile "$test_ca" -no-CApath -no-CAstore -verify_return_error </dev/null \
    >"$HG_LOGS/s_client-site.log" 2>&1 || hg_fail "openssl s_client -proxy $HG_PROXY $HG_SITE_HOST:443 failed: $(tail -n 5 "$HG_LOGS/s_client-site.log")"
got_fp=$(fingerprint <"$HG_LOGS/s_client-site.log") || hg_fail "s_client printed no certificate"
[ "$got_fp" = "$want_fp" ] \
    || hg_fail "certificate through hubgate has fingerprint $got_fp, the site's is $want_fp"
hg_log "passthrough: s_client through hubgate sees the site's own certificate ($got_fp)"
grep -q "^$HG_CLIENT_IP sni=$HG_SITE_HOST host=$HG_SITE_HOST \"GET / HTTP/[0-9.]*\" 200 " "$HG_LOGS/nginx.access.log" \
    || hg_fail "nginx did not log the site request from $HG_CLIENT_IP"

# --- 2. not intercepted: hubgate's CA alone cannot verify the site
rc=0
hg_client curl -sS -v "${proxy[@]}" --cacert "$hubgate_ca" -o /dev/null "$url" \
    2>"$HG_LOGS/curl-site-hubgate-ca.log" || rc=$?
[ "$rc" = 60 ] || hg_fail "curl --cacert <hubgate CA> $url: exit $rc, want 60 (certificate not verifiable): $(tail -n 5 "$HG_LOGS/curl-site-hubgate-ca.log")"
hg_log "passthrough: with only hubgate's CA trusted, curl rejects the site's certificate (exit 60)"

# --- 3. intercepted: Docker Hub's challenge, through hubgate's leaf
rc=0
hdr=$(hg_client curl -sS -v "${proxy[@]}" --suppress-connect-headers --cacert "$hubgate_ca" -o /dev/null -D - \
    https://registry-1.docker.io/v2/ 2>"$HG_LOGS/curl-registry.log") || rc=$?
[ "$rc" = 0 ] || hg_fail "curl -x hubgate --cacert <hubgate CA> https://registry-1.docker.io/v2/: exit $rc: $(tail -n 5 "$HG_LOGS/curl-registry.log")"
hdr=$(printf '%s\n' "$hdr" | tr -d '\r')
printf '%s\n' "$hdr" | head -n1 | grep -q '^HTTP/1\.1 401 ' \
    || hg_fail "registry-1.docker.io/v2/ through hubgate: want 401, got: $hdr"
printf '%s\n' "$hdr" | grep -qix 'www-authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io"' \
    || hg_fail "registry-1.docker.io/v2/ through hubgate: no Docker Hub challenge in: $hdr"
# The leaf hubgate presents: issued by its CA, verified for the host name.
hg_client openssl s_client -proxy "$HG_PROXY" -connect registry-1.docker.io:443 \
    -servername registry-1.docker.io -verify_hostname registry-1.docker.io \
    -CAfile "$hubgate_ca" -no-CApath -no-CAstore -verify_return_error </dev/null \
    >"$HG_LOGS/s_client-registry.log" 2>&1 \
    || hg_fail "s_client through hubgate to registry-1.docker.io does not verify with hubgate's CA: $(tail -n 5 "$HG_LOGS/s_client-registry.log")"
leaf_issuer=$(openssl x509 -noout -issuer -nameopt RFC2253 <"$HG_LOGS/s_client-registry.log" | sed 's/^issuer=//')
ca_subject=$(openssl x509 -noout -subject -nameopt RFC2253 -in "$hubgate_ca" | sed 's/^subject=//')
[ "$leaf_issuer" = "$ca_subject" ] \
    || hg_fail "registry-1.docker.io leaf issuer '$leaf_issuer' is not hubgate's CA '$ca_subject'"
hubgate_log_has GET registry-1.docker.io /v2/ 401 \
    || hg_fail "hubgate's log has no 'GET registry-1.docker.io /v2/ 401' line"
hg_log "intercepted: registry-1.docker.io/v2/ -> 401 Bearer challenge; leaf issued by hubgate's CA ($ca_subject)"

# --- 3b. upstream TLS sessions are resumed: the stand-in closes the
# connection after each answer at /hubgate-test/close, so every request
# after the first needs a new upstream connection, whichever of hubgate's
# loops takes it; each must resume the session of an earlier one (nginx's
# $ssl_session_reused: "r"), not pay a full handshake (".").
for i in 1 2 3 4; do
    hg_client curl -sS -o /dev/null "${proxy[@]}" --cacert "$hubgate_ca" \
        https://registry-1.docker.io/hubgate-test/close 2>>"$HG_LOGS/curl-close.log" \
        || hg_fail "curl -x hubgate https://registry-1.docker.io/hubgate-test/close ($i): $(tail -n 3 "$HG_LOGS/curl-close.log")"
done
reused=$(grep -F '"GET /hubgate-test/close HTTP/1.1" 200' "$HG_LOGS/nginx.access.log" \
    | sed 's/.* reused=//' | tr '\n' ' ')
case $reused in
    ?" r r r ") hg_log "upstream TLS resumption: new connections resumed (nginx: $reused)" ;;
    *) hg_fail "upstream TLS resumption: nginx's \$ssl_session_reused for 4 requests on new connections was '$reused', want the last 3 'r'" ;;
esac

# --- 4. plain HTTP in absolute form is forwarded
rc=0
body=$(hg_client curl -sS "${proxy[@]}" "http://$HG_SITE_HOST/" 2>&1) || rc=$?
[ "$rc" = 0 ] || hg_fail "curl -x hubgate http://$HG_SITE_HOST/: exit $rc: $body"
case $body in
    *"$HG_SITE_MARK"*) ;;
    *) hg_fail "http://$HG_SITE_HOST/ through hubgate: wrong page: $body" ;;
esac
grep -q "^$HG_CLIENT_IP sni=- host=$HG_SITE_HOST \"GET / HTTP/1\.[01]\" 200 " "$HG_LOGS/nginx.access.log" \
    || hg_fail "nginx did not log the plain-HTTP site request"
hg_log "plain HTTP: http://$HG_SITE_HOST/ forwarded"

# --- 5. clean exit
# [passthrough] via fails over in order: a dead SOCKS5 link first, then
# direct. The tunnel must still reach the site, and the log say so.
hubgate_stop
hubgate_config "$HG_TMP/hubgate-pass.ini"
printf '[passthrough]\nvia = socks5://127.0.0.1:9, direct\n' >>"$HG_TMP/hubgate-pass.ini"
hubgate_start "$HG_TMP/hubgate-pass.ini"
rc=0
body=$(hg_client curl -sS "${proxy[@]}" --cacert "$test_ca" "$url" 2>"$HG_LOGS/curl-pass-failover.log") || rc=$?
case "$rc $body" in
    "0 "*"$HG_SITE_MARK"*) ;;
    *) hg_fail "tunnel with [passthrough] via = dead socks5, direct: exit $rc: $body $(tail -n 3 "$HG_LOGS/curl-pass-failover.log")" ;;
esac
grep -q "CONNECT $HG_SITE_HOST:443 failed on socks5://127.0.0.1:9 .*failing over to direct" "$HG_LOGS/hubgate.log" \
    || hg_fail "no 'failing over to direct' line for the tunnel in hubgate's log"
hg_log "passthrough failover: the dead SOCKS5 link was passed over, the tunnel went direct"

hubgate_stop
