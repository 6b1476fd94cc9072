#!/bin/bash
# t_34_relay_other_registry — a one-name relay (via = relay:https://HOST) is a
# Docker Hub relay: it must never be handed another registry's requests.
#   [intercept] hosts = (empty), registries = docker.io ghcr.io,
#   [upstream] via = relay:https://hub.relay.test (links/nginx-relay.conf.in,
#   which relays /v2/ to registry-1.docker.io and /token to auth.docker.io),
#   credentials = a docker config.json with a ghcr.io account.
# The Docker Hub stand-in holds an image owner/app:1 (the "impostor"); no
# ghcr.io stand-in is needed: hubgate's resolver and the client namespace
# poison ghcr.io, so the only way to an answer is the relay.
#   1. docker pull ghcr.io/owner/app:1 must not give Docker Hub's owner/app:1
#      (image confusion: the user asked for another registry's image);
#   2. GET https://ghcr.io/token?service=ghcr.io through hubgate (a client
#      without credentials) must not bring hubgate's ghcr.io account to the
#      Docker Hub relay (its log names the Basic user), nor get a token from
#      Docker Hub's token service.
# Accepted outcomes: hubgate -t refuses the configuration, or both requests
# fail without reaching the relay for ghcr.io.
# At c3d7b6b (branch regtest) this FAILS: route_attempt() sends every
# intercepted host to a LINK_RELAY's one host, and own_auth() adds the
# ghcr.io account to GET ghcr.io/token whatever the link, so the pull gets
# Docker Hub's owner/app:1 and hub.relay.test logs user=<the ghcr.io user>.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=links/common.sh
. "$(dirname "$0")/links/common.sh"
hg_init t_34_relay_other_registry

hg_topology_up
hg_hub_up
hgl_net_up
# links/common.sh's nginx relay (as hgl_nginx_relay starts it), its log
# also naming the Basic user of each request ($remote_user, not the secret).
relay_conf=$HG_TMP/nginx-relay.conf
hgl_render "$HGL_DIR/nginx-relay.conf.in" "$relay_conf" RELAY_IP="$HGL_NGINX_IP" RELAY_NAME=hub.relay.test
sed -i "s|upstatus=\$upstream_status'|upstatus=\$upstream_status user=\$remote_user'|" "$relay_conf"
# shellcheck disable=SC2016  # nginx's variable, literally
grep -qF 'user=$remote_user' "$relay_conf" || hg_fail "could not add \$remote_user to the relay's log format"
hg_hub timeout 20 nginx -t -q -e "$HG_LOGS/nginx-relay.error.log" -c "$relay_conf" \
    >"$HG_LOGS/nginx-relay-t.log" 2>&1 || hg_fail "nginx -t rejects $relay_conf: $(cat "$HG_LOGS/nginx-relay-t.log")"
hg_start nginx-relay "$HG_NS_HUB" nginx -e "$HG_LOGS/nginx-relay.error.log" -c "$relay_conf"
hg_wait_port "$HG_NS_HUB" "$HGL_NGINX_IP" 443 nginx-relay
hgl_image impostor
# hgl_image pushed hubgate-links/impostor:1; the same manifest as owner/app:1
impostor=$(hg_push "$HG_TMP/oci/impostor" 1 owner/app:1 --format=oci)
hg_log "Docker Hub stand-in: owner/app:1 = $impostor"
echo "$HGL_POISON_IP ghcr.io" >>"/etc/netns/$HG_NS_CLIENT/hosts"

GH_USER=ghuser$(openssl rand -hex 3)
GH_TOKEN=ghp_$(openssl rand -hex 18)
creds=$HG_TMP/docker-config.json
( umask 077
  printf '{"auths": {"ghcr.io": {"auth": "%s"}}}\n' "$(printf '%s:%s' "$GH_USER" "$GH_TOKEN" | base64 -w0)" >"$creds" )
conf=$HG_TMP/hubgate.ini
HG_HUBGATE_CA_DIR=$HG_TMP/hubgate-ca
cat >"$conf" <<EOF2
[proxy]
listen = $HG_PROXY
allow = 127.0.0.0/8 ::1/128
drain_timeout = 3s
[ca]
dir = $HG_HUBGATE_CA_DIR
[intercept]
hosts =
registries = docker.io ghcr.io
[dns]
servers =
[upstream]
via = relay:https://hub.relay.test
ca_file = $HG_TMP/pki/ca.crt
credentials = $creds
EOF2
hgl_hosts "$HG_TMP/hosts.hubgate"
echo "$HGL_POISON_IP ghcr.io" >>"$HG_TMP/hosts.hubgate"

rc=0
out=$(hg_client timeout 20 "$HUBGATE" -t -c "$conf" 2>&1) || rc=$?
if [ "$rc" != 0 ]; then
    echo "ok: hubgate -t refuses a one-name relay with registries other than docker.io: $out"
    exit 0
fi
hgl_hubgate_start "$conf" "$HG_TMP/hosts.hubgate"
hg_dockerd_start || hg_fail "dockerd cannot start here (see its log)"
relay_mark=$(wc -l <"$HG_LOGS/nginx-relay.access.log")

fails=0
if hg_docker_timeout 60 pull ghcr.io/owner/app:1 >"$HG_LOGS/pull.ghcr.log" 2>&1; then
    got=$(hg_docker_timeout 30 image inspect -f '{{json .RepoDigests}}' ghcr.io/owner/app:1)
    echo "FAIL: docker pull ghcr.io/owner/app:1 succeeded with RepoDigests $got: Docker Hub's owner/app:1 is $impostor (hubgate sent ghcr.io's requests to the Docker Hub relay)" >&2
    fails=$((fails + 1))
else
    echo "ok: docker pull ghcr.io/owner/app:1 fails: $(tail -n1 "$HG_LOGS/pull.ghcr.log" | cut -c1-120)"
fi
hgl_log_new | grep ' access ' | grep ' ghcr.io ' | head -n 8 | cut -c1-200 >&2 || true
tail -n "+$((relay_mark + 1))" "$HG_LOGS/nginx-relay.access.log" | head -n 8 >&2

hdr=$(hgl_curl --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" -D - -o "$HG_TMP/token.body" \
    "https://ghcr.io/token?service=ghcr.io&scope=repository:owner/app:pull" | tr -d '\r') || true
printf '%s\n' "$hdr" | head -n1 >&2
leak=$(tail -n "+$((relay_mark + 1))" "$HG_LOGS/nginx-relay.access.log" | grep -F "user=$GH_USER" || true)
if [ -n "$leak" ]; then
    echo "FAIL: hubgate sent its ghcr.io account (Basic $GH_USER:...) to the Docker Hub relay, which passes it to auth.docker.io: $leak" >&2
    fails=$((fails + 1))
else
    echo "ok: the Docker Hub relay never saw the ghcr.io account"
fi
if grep -q 'incorrect username or password' "$HG_TMP/token.body"; then
    echo "FAIL: GET https://ghcr.io/token through hubgate was answered by Docker Hub's token service with 401 'incorrect username or password': hubgate sent its ghcr.io credentials (Basic $GH_USER:...) to hub.relay.test/token, i.e. to auth.docker.io" >&2
    fails=$((fails + 1))
elif grep -q '"token"' "$HG_TMP/token.body"; then
    echo "FAIL: GET https://ghcr.io/token through hubgate got a token from the Docker Hub relay: $(head -c 120 "$HG_TMP/token.body")" >&2
    fails=$((fails + 1))
else
    echo "ok: GET https://ghcr.io/token is not answered by Docker Hub's token service: $(head -c 120 "$HG_TMP/token.body")"
fi
[ "$fails" = 0 ] || hg_fail "$fails check(s) failed: a one-name Docker Hub relay carries ghcr.io's requests"
hubgate_stop
