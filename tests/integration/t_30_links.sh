#!/bin/bash
# t_30_links — a stock dockerd pulls through hubgate over each kind of
# upstream link, with hubgate's own resolver POISONED: in hubgate's mount
# namespace /etc/hosts maps the three Docker Hub names to 203.0.113.99
# (TEST-NET-3, no route from the client namespace), while the proxies and
# relays, in the hub namespace, resolve them to the stand-in. A pull that
# works cannot have gone direct:
#   0. control: via = direct fails (hubgate answers 502, docker pull fails);
#   1. socks5://proxy.links.test:1080            microsocks, no auth
#   2. socks5://USER:PASS@proxy.links.test:1081  danted, username method
#   3. http://USER:PASS@proxy.links.test:8888     tinyproxy, Basic auth
#   4. relay:https://hub.relay.test               nginx one-name relay
#   5. relay + [relay] (three names)              Caddy relay
#   6. relay:https://hub.relay.test via socks5://proxy.links.test:1080, with
#      hub.relay.test poisoned for hubgate too (only microsocks resolves it).
# (proxy.links.test is 198.51.100.14, from hubgate's hosts file; IP-literal
# proxy hosts are t_31's.) Each case pulls its own image: RepoDigest = the
# registry's, layers = the pushed ones; every request of it in hubgate's log
# names the link, none is on direct; the stand-in served it all, none of it
# straight to hubgate's address; the proxy's or relay's own log shows the
# traffic of this pull; proxy passwords never reach hubgate's log.
# Packages: microsocks dante-server tinyproxy caddy (installed if missing).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=links/common.sh
. "$(dirname "$0")/links/common.sh"
hg_init t_30_links
hgl_need_pkgs microsocks dante-server tinyproxy caddy

hg_topology_up
hg_hub_up
hg_hub_check
hgl_net_up

DANTE_USER=hgdante
DANTE_PASS=dp$(openssl rand -hex 8)
TINY_USER=hgtiny
TINY_PASS=tp$(openssl rand -hex 8)
P=$HGL_PROXY_NAME
SOCKS=socks5://$P:$HGL_MICROSOCKS_PORT
DANTE=socks5://$P:$HGL_DANTE_PORT
TINY=http://$P:$HGL_TINYPROXY_PORT

hgl_microsocks
hgl_dante "$DANTE_USER" "$DANTE_PASS"
hgl_tinyproxy "$TINY_USER" "$TINY_PASS"
hgl_nginx_relay
hgl_caddy_relay
hg_log "microsocks, danted, tinyproxy, nginx relay, Caddy relay up"

# --- each proxy and relay works on its own (curl from the client namespace,
# no hubgate): the Docker Hub 401 challenge, realms rewritten by relays.
ca=$HG_TMP/pki/ca.crt
# challenge DESC CURL-ARGS... : prints the WWW-Authenticate value of a 401.
challenge() {
    local desc=$1 hdr
    shift
    hdr=$(hgl_curl --cacert "$ca" -o /dev/null -D - "$@" | tr -d '\r') \
        || hg_fail "$desc: curl failed"
    printf '%s\n' "$hdr" | grep -E '^HTTP/' | tail -n1 | grep ' 401' >/dev/null \
        || hg_fail "$desc: no 401 challenge: $hdr"
    printf '%s\n' "$hdr" | awk 'tolower($1) == "www-authenticate:" {sub(/^[^:]*: */, ""); print}'
}
want_realm='Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
[ "$(challenge microsocks --socks5-hostname "$HGL_PROXY_IP:$HGL_MICROSOCKS_PORT" https://registry-1.docker.io/v2/)" = "$want_realm" ] \
    || hg_fail "microsocks: unexpected challenge"
[ "$(challenge danted --socks5-hostname "$DANTE_USER:$DANTE_PASS@$HGL_PROXY_IP:$HGL_DANTE_PORT" https://registry-1.docker.io/v2/)" = "$want_realm" ] \
    || hg_fail "danted: unexpected challenge"
if hgl_curl --cacert "$ca" -o /dev/null --socks5-hostname "$DANTE_USER:wrong@$HGL_PROXY_IP:$HGL_DANTE_PORT" \
        https://registry-1.docker.io/v2/ 2>/dev/null; then
    hg_fail "danted accepted a wrong password: it does not check credentials"
fi
[ "$(challenge tinyproxy --proxy "http://$TINY_USER:$TINY_PASS@$HGL_PROXY_IP:$HGL_TINYPROXY_PORT" https://registry-1.docker.io/v2/)" = "$want_realm" ] \
    || hg_fail "tinyproxy: unexpected challenge"
if hgl_curl --cacert "$ca" -o /dev/null --proxy "http://$HGL_PROXY_IP:$HGL_TINYPROXY_PORT" \
        https://registry-1.docker.io/v2/ 2>/dev/null; then
    hg_fail "tinyproxy let a CONNECT without credentials through"
fi
got=$(challenge "nginx relay" --resolve "hub.relay.test:443:$HGL_NGINX_IP" https://hub.relay.test/v2/)
[ "$got" = 'Bearer realm="https://hub.relay.test/token",service="registry.docker.io"' ] \
    || hg_fail "nginx relay: realm not rewritten to itself: $got"
got=$(challenge "Caddy relay" --resolve "registry.relay.test:443:$HGL_CADDY_IP" https://registry.relay.test/v2/)
[ "$got" = 'Bearer realm="https://auth.relay.test/token",service="registry.docker.io"' ] \
    || hg_fail "Caddy relay: realm not rewritten to auth.relay.test: $got"
hg_log "each proxy and relay answers the Docker Hub challenge on its own (relays rewrite the realm)"

# --- one image per case, pushed straight to the stand-in
t0=$(date +%s)
for n in socks dante tiny nginx caddy relaysocks; do hgl_image "$n"; done
hg_log "pushed 6 images in $(( $(date +%s) - t0 ))s"

# --- 0. control: with the poisoned resolver, direct cannot work
hgl_hosts "$HG_TMP/hosts.poison"
hgl_config "$HG_TMP/direct.ini" direct
hgl_hubgate_start "$HG_TMP/direct.ini" "$HG_TMP/hosts.poison"
hg_dockerd_start || hg_fail "dockerd cannot start here (see its log)"
code=$(hgl_via_hubgate_code https://registry-1.docker.io/v2/)
[ "$code" = 502 ] || hg_fail "control: via = direct with a poisoned resolver answered '$code', want 502 (anything else: the registry was reachable, or hubgate did not answer)"
if hg_docker_timeout 60 pull hubgate-links/socks:1 >"$HG_LOGS/pull.control.log" 2>&1; then
    hg_fail "control: docker pull worked with via = direct and a poisoned resolver: the test proves nothing"
fi
hgl_log_new | grep -F "cannot reach registry-1.docker.io" | grep -F "direct" >/dev/null \
    || { hgl_show_log; hg_fail "control: hubgate's log does not show that direct could not reach registry-1.docker.io"; }
hg_log "control: via = direct cannot reach the registry ($code): $(hgl_log_new | grep -F -m1 "cannot reach registry-1.docker.io" | cut -c1-220)"

# --- 1. microsocks
hgl_config "$HG_TMP/socks.ini" "$SOCKS"
hgl_hubgate_restart "$HG_TMP/socks.ini" "$HG_TMP/hosts.poison"
img=socks
ms_reg=$(hgl_count "$HG_LOGS/microsocks.log" 'connected to registry-1\.docker\.io:443')
ms_blob=$(hgl_count "$HG_LOGS/microsocks.log" 'connected to production\.cloudflare\.docker\.com:443')
hgl_pull "$img"
hgl_assert_link "$img" "$SOCKS"
hgl_assert_no_direct
hgl_assert_hub_saw "$img"
# microsocks logs "client[N] IP: connected to HOST:PORT" per connection: it
# got the names, and connected to both hosts for this pull.
[ "$(hgl_count "$HG_LOGS/microsocks.log" 'connected to registry-1\.docker\.io:443')" -gt "$ms_reg" ] \
    || hg_fail "microsocks did not connect to registry-1.docker.io:443 for the pull (its log: $(tail -n 5 "$HG_LOGS/microsocks.log"))"
[ "$(hgl_count "$HG_LOGS/microsocks.log" 'connected to production\.cloudflare\.docker\.com:443')" -gt "$ms_blob" ] \
    || hg_fail "microsocks did not connect to production.cloudflare.docker.com:443 for the pull"

# --- 2. danted, username/password
hgl_config "$HG_TMP/dante.ini" "socks5://$DANTE_USER:$DANTE_PASS@$P:$HGL_DANTE_PORT"
hgl_hubgate_restart "$HG_TMP/dante.ini" "$HG_TMP/hosts.poison"
img=dante
dante_seen=$(hgl_count "$HG_LOGS/dante.log" "tcp/connect \\[: username%$DANTE_USER@$HG_CLIENT_IP\\.[0-9]+ .* $HG_HUB_IP\\.443\$")
hgl_pull "$img"
hgl_assert_link dante "$DANTE"
hgl_assert_no_direct
hgl_assert_hub_saw "$img"
# danted logs each connection it passes with the authenticated user and the
# address it resolved the name to (the stand-in's).
[ "$(hgl_count "$HG_LOGS/dante.log" "tcp/connect \\[: username%$DANTE_USER@$HG_CLIENT_IP\\.[0-9]+ .* $HG_HUB_IP\\.443\$")" -gt "$dante_seen" ] \
    || hg_fail "danted's log shows no connection of user $DANTE_USER to the stand-in for the pull (last: $(tail -n 3 "$HG_LOGS/dante.log"))"

# --- 3. tinyproxy, Basic proxy auth
hgl_config "$HG_TMP/tiny.ini" "http://$TINY_USER:$TINY_PASS@$P:$HGL_TINYPROXY_PORT"
hgl_hubgate_restart "$HG_TMP/tiny.ini" "$HG_TMP/hosts.poison"
img=tiny
tiny_seen=$(hgl_count "$HG_LOGS/tinyproxy.log" 'CONNECT.*production\.cloudflare\.docker\.com:443')
hgl_pull "$img"
hgl_assert_link tiny "$TINY"
hgl_assert_no_direct
hgl_assert_hub_saw "$img"
[ "$(hgl_count "$HG_LOGS/tinyproxy.log" 'CONNECT.*production\.cloudflare\.docker\.com:443')" -gt "$tiny_seen" ] \
    || hg_fail "tinyproxy's log shows no CONNECT production.cloudflare.docker.com:443 for the pull (last: $(tail -n 3 "$HG_LOGS/tinyproxy.log"))"

# --- 4. nginx one-name relay
hgl_config "$HG_TMP/nginx.ini" relay:https://hub.relay.test
hgl_hubgate_restart "$HG_TMP/nginx.ini" "$HG_TMP/hosts.poison"
# The relay's name never reaches the client: the challenge names auth.docker.io.
got=$(hgl_curl --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" -o /dev/null -D - \
    https://registry-1.docker.io/v2/ | tr -d '\r' | awk 'tolower($1) == "www-authenticate:" {sub(/^[^:]*: */, ""); print}')
[ "$got" = "$want_realm" ] || hg_fail "nginx relay via hubgate: the client got the challenge '$got', want '$want_realm'"
img=nginx
hgl_pull "$img"
hgl_assert_link nginx relay:https://hub.relay.test
hgl_assert_no_direct
hgl_assert_hub_saw "$img"
for p in "/v2/hubgate-links/nginx/manifests/" "/token?" "/docker/registry/v2/blobs/sha256/"; do
    grep -F "$p" "$HG_LOGS/nginx-relay.access.log" | grep "^$HG_CLIENT_IP " >/dev/null \
        || hg_fail "the nginx relay's log has no request for $p from hubgate ($HG_CLIENT_IP)"
done
hg_log "nginx relay: manifests, token and blobs all went through hub.relay.test; the client saw auth.docker.io"

# --- 5. Caddy three-name relay, via = relay with a [relay] section
hgl_config "$HG_TMP/caddy.ini" relay "[relay]" \
    "registry-1.docker.io = https://registry.relay.test" \
    "auth.docker.io = https://auth.relay.test" \
    "production.cloudflare.docker.com = https://blobs.relay.test"
hgl_hubgate_restart "$HG_TMP/caddy.ini" "$HG_TMP/hosts.poison"
got=$(hgl_curl --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" -o /dev/null -D - \
    https://registry-1.docker.io/v2/ | tr -d '\r' | awk 'tolower($1) == "www-authenticate:" {sub(/^[^:]*: */, ""); print}')
[ "$got" = "$want_realm" ] || hg_fail "Caddy relay via hubgate: the client got the challenge '$got', want '$want_realm'"
img=caddy
hgl_pull "$img"
hgl_assert_link caddy relay
hgl_assert_no_direct
hgl_assert_hub_saw "$img"
for h in registry.relay.test auth.relay.test blobs.relay.test; do
    grep -F "\"host\":\"$h\"" "$HG_LOGS/caddy.access.log" | grep '"status":200' >/dev/null \
        || hg_fail "Caddy's access log has no 200 answer on $h"
done
grep -F '"host":"registry.relay.test"' "$HG_LOGS/caddy.access.log" | grep "/v2/hubgate-links/caddy/manifests/" >/dev/null \
    || hg_fail "Caddy's access log has no manifest request of hubgate-links/caddy"
hg_log "Caddy relay: registry, auth and blob requests went to their three relay names"

# --- 6. the nginx relay reached through microsocks; hubgate cannot resolve
# hub.relay.test itself (poisoned too), microsocks can.
hgl_hosts "$HG_TMP/hosts.poison-relay" "$HGL_POISON_IP $HG_HUB_HOSTS hub.relay.test" \
    "$HGL_PROXY_IP $HGL_PROXY_NAME"
hgl_config "$HG_TMP/relaysocks.ini" "relay:https://hub.relay.test via $SOCKS"
hgl_hubgate_restart "$HG_TMP/relaysocks.ini" "$HG_TMP/hosts.poison-relay"
socks_before=$(hgl_count "$HG_LOGS/microsocks.log" 'connected to hub\.relay\.test:443')
img=relaysocks
hgl_pull "$img"
hgl_assert_link relaysocks "relay:https://hub.relay.test via $SOCKS"
hgl_assert_no_direct
hgl_assert_hub_saw "$img"
socks_after=$(hgl_count "$HG_LOGS/microsocks.log" 'connected to hub\.relay\.test:443')
[ "$socks_after" -gt "$socks_before" ] \
    || hg_fail "microsocks never connected to hub.relay.test:443 for the relay-via-socks pull"
grep -F "/v2/hubgate-links/relaysocks/manifests/" "$HG_LOGS/nginx-relay.access.log" >/dev/null \
    || hg_fail "the nginx relay never saw the manifest request of hubgate-links/relaysocks"
if grep -F "/hubgate-links/relaysocks/" "$HG_LOGS/nginx-relay.access.log" | grep "^$HG_CLIENT_IP " >/dev/null; then
    hg_fail "the nginx relay saw relaysocks requests straight from hubgate's address, not through microsocks"
fi
hg_log "relay via socks5: microsocks carried the connections to hub.relay.test"

# --- secrets: proxy passwords never in hubgate's log
for s in "$DANTE_PASS" "$TINY_PASS"; do
    if grep -F -- "$s" "$HG_LOGS/hubgate.log" >/dev/null; then
        hg_fail "a proxy password from [upstream] via appears in hubgate's log"
    fi
done
hg_log "no proxy password in hubgate's log"

hubgate_stop
hg_log "t_30_links: all link kinds pulled with a poisoned resolver"
