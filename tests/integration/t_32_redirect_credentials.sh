#!/bin/bash
# t_32_redirect_credentials — two [upstream] features, with a stock dockerd:
#   A. hub_credentials = FILE (0600, "user:token"): auth.docker.io is a test
#      double (links/auth_double.py) that demands HTTP Basic user:token.
#      Without the file the pull fails (the double saw no credentials); with
#      it the pull succeeds and the double saw Basic user:token on every
#      token request. Then neither the token, nor user:token, nor its base64
#      appears in hubgate's whole log, its /metrics or its admin page.
#   B. follow_redirects (default yes): [intercept] hosts = registry-1.docker.io
#      auth.docker.io only. The registry answers blob GETs 307 to
#      production.cloudflare.docker.com; hubgate fetches the target itself,
#      so the pull succeeds although dockerd trusts only hubgate's CA (a
#      tunnel to the blob host would fail its TLS check): dockerd got 200s
#      for the blobs, the stand-in served each blob once to hubgate, and
#      hubgate's log has no CONNECT to / certificate for the blob host. A
#      curl CONNECT to the blob host at the end proves such a line would show.
# A runs first: hubgate's CA is made for the hosts intercepted at its first
# start (nameConstraints), and B intercepts fewer.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=links/common.sh
. "$(dirname "$0")/links/common.sh"
hg_init t_32_redirect_credentials

hg_topology_up
hg_hub_up
hg_hub_check
hgl_net_up

t0=$(date +%s)
hgl_image redirect
hgl_image nocreds
hgl_image creds
hg_log "pushed 3 images in $(( $(date +%s) - t0 ))s"

# --- A. hub_credentials
user=hguser$(openssl rand -hex 3)
token=dckr_pat_$(openssl rand -hex 18)
creds=$HG_TMP/hub-credentials
( umask 077; printf '%s:%s\n' "$user" "$token" >"$creds" )
b64=$(printf '%s:%s' "$user" "$token" | base64 -w0)
hgl_auth_double "$creds"
hgl_hosts "$HG_TMP/hosts.authdouble" "$HG_HUB_IP registry-1.docker.io production.cloudflare.docker.com" \
    "$HGL_AUTH_IP auth.docker.io"
# The double really demands the credentials.
code=$(hgl_curl -o /dev/null -w '%{http_code}' --cacert "$HG_TMP/pki/ca.crt" \
    --resolve "auth.docker.io:443:$HGL_AUTH_IP" \
    "https://auth.docker.io/token?service=registry.docker.io&scope=repository:hubgate-links/creds:pull") || true
[ "$code" = 401 ] || hg_fail "credentials: the auth double answered $code without credentials, want 401"
code=$(hgl_curl -o /dev/null -w '%{http_code}' --cacert "$HG_TMP/pki/ca.crt" -u "$user:$token" \
    --resolve "auth.docker.io:443:$HGL_AUTH_IP" \
    "https://auth.docker.io/token?service=registry.docker.io&scope=repository:hubgate-links/creds:pull") || true
[ "$code" = 200 ] || hg_fail "credentials: the auth double answered $code with the credentials, want 200"
: >"$HG_LOGS/auth-double.record"

# Without hub_credentials the pull fails: the double never sees credentials.
hgl_config "$HG_TMP/nocreds.ini" direct
hgl_hubgate_start "$HG_TMP/nocreds.ini" "$HG_TMP/hosts.authdouble"
hg_dockerd_start || hg_fail "dockerd cannot start here (see its log)"
if hg_docker_timeout 90 pull hubgate-links/nocreds:1 >"$HG_LOGS/pull.nocreds.log" 2>&1; then
    hg_fail "credentials: the pull worked without hub_credentials: the auth double does not demand them"
fi
grep -q '^basic=missing status=401$' "$HG_LOGS/auth-double.record" \
    || hg_fail "credentials: without hub_credentials the double did not record a request without credentials"
if grep -q '^basic=ok' "$HG_LOGS/auth-double.record"; then
    hg_fail "credentials: the double saw valid credentials although hubgate has none"
fi
hg_log "credentials: without hub_credentials docker pull fails ($(tail -n1 "$HG_LOGS/pull.nocreds.log" | cut -c1-100))"

# With them the pull succeeds, and every token request carried them.
: >"$HG_LOGS/auth-double.record"
hgl_config "$HG_TMP/creds.ini" direct "hub_credentials = $creds"
hgl_hubgate_restart "$HG_TMP/creds.ini" "$HG_TMP/hosts.authdouble"
img=creds
hgl_pull "$img"
hgl_assert_link "$img" direct
nok=$(hgl_count "$HG_LOGS/auth-double.record" "^basic=ok user=$user status=200\$")
nbad=$(hgl_count "$HG_LOGS/auth-double.record" '^basic=(missing|wrong)')
{ [ "$nok" -ge 1 ] && [ "$nbad" = 0 ]; } \
    || hg_fail "credentials: the double recorded $nok requests with Basic $user:<token> and $nbad without or with wrong ones: $(head -n 5 "$HG_LOGS/auth-double.record" | tr '\n' '|')"
hgl_log_new | grep ' access ' | grep -F ' GET auth.docker.io /token 200 ' >/dev/null \
    || hg_fail "credentials: hubgate's log has no 200 token request"
hg_log "credentials: pull ok; the auth double saw Basic $user:<token> on $nok token request(s), never without"

# Secrets: the token, user:token and its base64 appear nowhere hubgate shows.
hgl_curl -o "$HG_TMP/metrics.txt" "http://127.0.0.1:3129/metrics" || hg_fail "cannot read hubgate's /metrics"
hgl_curl -o "$HG_TMP/admin.html" "http://127.0.0.1:3129/" || hg_fail "cannot read hubgate's admin page"
[ -s "$HG_TMP/metrics.txt" ] || hg_fail "hubgate's /metrics is empty"
for f in "$HG_LOGS/hubgate.log" "$HG_TMP/metrics.txt" "$HG_TMP/admin.html"; do
    for s in "$token" "$b64" "$user:$token"; do
        if grep -F -- "$s" "$f" >/dev/null; then
            hg_fail "credentials: a secret from hub_credentials appears in $(basename "$f")"
        fi
    done
done
hg_log "credentials: neither the token nor base64(user:token) in hubgate's log ($(wc -l <"$HG_LOGS/hubgate.log") lines), /metrics or admin page"

# --- B. redirects followed by hubgate; the blob host is not intercepted
hgl_hosts "$HG_TMP/hosts.true" "$HG_HUB_IP $HG_HUB_HOSTS"
HGL_INTERCEPT="registry-1.docker.io auth.docker.io" \
    hgl_config "$HG_TMP/redirect.ini" direct
if grep -q '^follow_redirects' "$HG_TMP/redirect.ini"; then
    hg_fail "the config must use the default follow_redirects"
fi
hgl_hubgate_restart "$HG_TMP/redirect.ini" "$HG_TMP/hosts.true"
hub_mark=$(wc -l <"$HG_LOGS/nginx.access.log")
img=redirect
hgl_pull "$img"
hgl_assert_link "$img" direct          # every blob GET answered 200 to dockerd
new_hub=$(tail -n "+$((hub_mark + 1))" "$HG_LOGS/nginx.access.log")
for b in $(hgl_blobs "$img"); do
    n=$(printf '%s\n' "$new_hub" | grep -F "sni=production.cloudflare.docker.com " \
        | grep -F "/${b#sha256:}/data HTTP" | grep -c '" 200 ' || true)
    [ "$n" = 1 ] || hg_fail "redirect: the blob host served $b $n times during the pull, want once (fetched by hubgate)"
    n=$(printf '%s\n' "$new_hub" | grep -F "sni=registry-1.docker.io " \
        | grep -F "/blobs/$b HTTP" | grep -c '" 307 ' || true)
    [ "$n" = 1 ] || hg_fail "redirect: the registry answered the GET of $b with 307 $n times, want once"
done
if hgl_log_new | grep -F "production.cloudflare.docker.com" >/dev/null; then
    hgl_show_log
    hg_fail "redirect: hubgate's log names production.cloudflare.docker.com (a client CONNECT to it, or a certificate minted for it)"
fi
hg_log "redirect: dockerd got every blob with 200; hubgate followed each 307 itself; nothing connected to the blob host through hubgate"
# The check above can fail: a CONNECT to the blob host shows in the log.
hgl_curl -o /dev/null --proxy "http://$HG_PROXY" --cacert "$HG_TMP/pki/ca.crt" \
    https://production.cloudflare.docker.com/ || true
hgl_log_new | grep -F "production.cloudflare.docker.com" >/dev/null \
    || hg_fail "redirect: a CONNECT to production.cloudflare.docker.com leaves no trace in hubgate's log, so the check above proves nothing"
hg_log "redirect: (a tunnel to the blob host does show: $(hgl_log_new | grep -F -m1 production.cloudflare.docker.com | cut -c25-160))"


hubgate_stop
for s in "$token" "$b64" "$user:$token"; do
    if grep -F -- "$s" "$HG_LOGS/hubgate.log" >/dev/null; then
        hg_fail "credentials: a secret from hub_credentials appears in hubgate's log"
    fi
done
hg_log "t_32_redirect_credentials: ok"
