#!/bin/bash
# t_71_cache_pull — the blob cache serving real pulls through hubgate
# ([cache] dir), against lib.sh's Docker Hub stand-in (token service with
# hubgate-test/private granted only with credentials, registry, nginx blob
# host whose access log counts every blob byte):
#   1. dockerd pulls hubgate-test/app:1 (blobs fill the cache); a fresh
#      dockerd (data wiped) pulls it again: zero bytes from the blob host,
#      hubgate's log says cache=hit.
#   2. a damaged cached layer (bytes appended) is survived: the pull works,
#      the layer is fetched again.
#   3. two pulls at once (dockerd and skopeo) of hubgate-test/conc:1, not
#      cached yet: the blob host serves each layer once.
#   4. hubgate-test/private:1 pulled with credentials (skopeo --src-creds),
#      then, with curl through hubgate, its layer is refused: without a
#      token, with an anonymous token (straight from the token service and
#      one relayed by hubgate), with another repository's token, and under
#      another repository's path; the credentials' token gets it (a hit).
#   5. max_size (12 MiB, less than the three images) is kept, the least
#      recently used layer evicted.
#   6. offline: an image imported (hubgate cache import) while hubgate runs;
#      nginx (registry, token service, blob host) stopped, hubgate
#      restarted; a fresh dockerd pulls hubgate-test/conc:1 and the imported
#      hubgate-test/imported:1 by tag from the cache; the private layer is
#      not served offline (no token, or a fresh token with credentials that
#      upstream never saw).
#   7. offline with DNS poisoned: nginx up again, but hubgate's resolver
#      (the client namespace's hosts file) names the site's address for the
#      hub's names, a host whose certificate is not theirs; the same pulls
#      and refusal as in 6, and nothing reaches the registry. Then an
#      address whose packets vanish: the same, and no manifest request
#      waits for the connect timeout (the link rests after the first).
#   8. rate limited: nginx answers every request to the hub's names 429
#      with Retry-After (hub/nginx-429.conf.in); the same pulls and refusal
#      as in 6, hubgate having asked upstream first.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
hg_init t_71_cache_pull
command -v skopeo >/dev/null 2>&1 || hg_skip "missing: skopeo"

HG_TOKEN_PRIVATE=hubgate-test/private
hg_topology_up
hg_hub_up
hg_hub_check

case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64/v8 ;;
    *) hg_skip "no test image for $(uname -m)" ;;
esac
hg_make_image app --ref 1 --platform "linux/$arch" --cmd /app/run \
    --layer 'text:app/run:cached app' --layer 'random:data/a.bin:6291456'
hg_make_image conc --ref 1 --platform "linux/$arch" --cmd /app/run \
    --layer 'random:data/c1.bin:5242880' --layer 'random:data/c2.bin:3145728'
hg_make_image priv --ref 1 --platform "linux/$arch" --cmd /app/run \
    --layer 'random:data/secret.bin:2097152'
for spec in "app 1 hubgate-test/app:1" "conc 1 hubgate-test/conc:1" "priv 1 hubgate-test/private:1"; do
    read -r dir ref dest <<<"$spec"
    hg_push "$HG_TMP/oci/$dir" "$ref" "$dest" --format=v2s2 >/dev/null
done
layers() { awk -v p="linux/$arch" '$1 == "layer" && $2 == p {print $3}' "$HG_TMP/oci/$1.sum"; }
priv_layer=$(layers priv)
hg_log "pushed app, conc, private (layer $priv_layer)"

CACHE=$HG_TMP/cache
MAX=$((12 * 1024 * 1024))
hubgate_config "$HG_TMP/hubgate.ini"
printf '[cache]\ndir = %s\nmax_size = %s\n' "$CACHE" "$MAX" >>"$HG_TMP/hubgate.ini"
hubgate_start "$HG_TMP/hubgate.ini"
hg_dockerd_start || hg_skip "dockerd cannot run here"

NGX=$HG_LOGS/nginx.access.log
# blob_bytes_since LINE: bytes the blob host sent after line LINE of its log.
blob_bytes_since() {
    tail -n +"$(($1 + 1))" "$NGX" | awk '/host=production.cloudflare.docker.com/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9][0-9][0-9]$/ && $(i + 1) ~ /^[0-9]+$/) { s += $(i + 1); break } }
        END { print s + 0 }'
}
# blob_gets_since LINE DIGEST: blob host GETs of DIGEST after line LINE.
blob_gets_since() {
    tail -n +"$(($1 + 1))" "$NGX" | grep -c "host=production.cloudflare.docker.com \"GET [^ ]*${2#sha256:}" || true
}
mark() { wc -l <"$NGX"; }
fresh_dockerd() {
    hg_stop dockerd TERM 20
    rm -rf "$HG_TMP/docker/data"
    hg_dockerd_start || hg_fail "dockerd did not restart"
}
pull() {
    hg_docker_timeout 90 pull "$1" >"$HG_LOGS/pull.$2.log" 2>&1 || hg_fail "docker pull $1 failed ($2): $(tail -n 3 "$HG_LOGS/pull.$2.log")"
}

# --- 1. a second fresh dockerd pulls from the cache
m=$(mark)
pull hubgate-test/app:1 first
first=$(blob_bytes_since "$m")
[ "$first" -gt 6000000 ] || hg_fail "first pull: the blob host sent only $first bytes"
fresh_dockerd
m=$(mark)
pull hubgate-test/app:1 second
second=$(blob_bytes_since "$m")
[ "$second" = 0 ] || hg_fail "second pull: the blob host sent $second bytes (want 0)"
grep -q 'cache=hit digest=sha256' "$HG_LOGS/hubgate.log" || hg_fail "no cache=hit in hubgate's log"
# metric NAME: its value on hubgate's /metrics (0 when absent).
metric() {
    hg_client curl -sS --max-time 5 http://127.0.0.1:3129/metrics \
        | awk -v n="$1" '$1 == n {v = $2} END {printf "%d\n", v + 0}'
}
[ "$(metric hubgate_cache_served_bytes_total)" -ge "$first" ] \
    || hg_fail "metrics: $(metric hubgate_cache_served_bytes_total) bytes served from the cache, want >= $first"
[ "$(metric hubgate_cache_hits_total)" -ge 3 ] || hg_fail "metrics: $(metric hubgate_cache_hits_total) hits"
hg_client curl -sS --max-time 5 http://127.0.0.1:3129/ | grep -q '<h2>Cache</h2>' \
    || hg_fail "the status page shows no cache"
hg_log "1. first pull: $first blob bytes from the blob host; fresh dockerd: $second"

# --- 2. a damaged file
a_big=$(layers app | tail -n1)
printf 'damage' >>"$CACHE/blobs/sha256/${a_big#sha256:}"
fresh_dockerd
m=$(mark)
pull hubgate-test/app:1 damaged
[ "$(blob_gets_since "$m" "$a_big")" = 1 ] || hg_fail "damaged layer: not fetched again"
[ "$(sha256sum <"$CACHE/blobs/sha256/${a_big#sha256:}" | cut -d' ' -f1)" = "${a_big#sha256:}" ] \
    || hg_fail "damaged layer: the cache still holds a bad file"
hg_log "2. damaged layer dropped, fetched again, pull ok"

# --- 3. concurrent pulls fetch each layer once
# (last use is kept in seconds: what app used is older than what comes now,
# so eviction below picks app's blobs, not conc's own)
sleep 2
penv=(HTTPS_PROXY="http://$HG_PROXY" SSL_CERT_FILE="$(hg_client_bundle)")
m=$(mark)
hg_docker_timeout 90 pull hubgate-test/conc:1 >"$HG_LOGS/pull.conc.log" 2>&1 &
dpid=$!
HG_SKOPEO_TIMEOUT=90 hg_skopeo "${penv[@]}" copy --src-no-creds docker://docker.io/hubgate-test/conc:1 \
    "dir:$HG_TMP/conc-copy" >"$HG_LOGS/skopeo.conc.log" 2>&1 || hg_fail "skopeo copy conc failed"
wait "$dpid" || hg_fail "docker pull conc failed"
for l in $(layers conc); do
    n=$(blob_gets_since "$m" "$l")
    [ "$n" = 1 ] || hg_fail "concurrent pulls: the blob host served $l $n times (want 1)"
    [ "$(sha256sum <"$HG_TMP/conc-copy/${l#sha256:}" | cut -d' ' -f1)" = "${l#sha256:}" ] \
        || hg_fail "skopeo got $l damaged"
done
hg_log "3. concurrent docker + skopeo: each layer from the blob host once ($(grep -c 'cache=join' "$HG_LOGS/hubgate.log") join(s), $(grep -c 'cache=hit' "$HG_LOGS/hubgate.log") hit(s) so far)"

# --- 4. the private image
HG_SKOPEO_TIMEOUT=90 hg_skopeo "${penv[@]}" copy --src-creds "$HG_PUSH_USER" \
    docker://docker.io/hubgate-test/private:1 "dir:$HG_TMP/priv-copy" >"$HG_LOGS/skopeo.priv.log" 2>&1 \
    || hg_fail "skopeo copy of the private image with credentials failed"
[ -f "$CACHE/blobs/sha256/${priv_layer#sha256:}" ] || hg_fail "the private layer is not in the cache"
viahg() { hg_client curl -sS --max-time 20 --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" "$@"; }
# try WHAT PATH STATUS [TOKEN]: a blob GET through hubgate must answer STATUS.
try() {
    local what=$1 path=$2 want=$3 tok=${4:-} code auth=()
    [ -z "$tok" ] || auth=(-H "Authorization: Bearer $tok")
    code=$(viahg -o "$HG_TMP/try.out" -w '%{http_code}' "${auth[@]}" "https://registry-1.docker.io$path") || true
    [ "$code" = "$want" ] || hg_fail "private blob $what: status $code (want $want)"
    if [ "$want" != 200 ] && grep -q . "$HG_TMP/try.out" && \
       [ "$(sha256sum <"$HG_TMP/try.out" | cut -d' ' -f1)" = "${priv_layer#sha256:}" ]; then
        hg_fail "private blob $what: the layer's bytes came back"
    fi
    hg_log "4. private blob $what: $code"
}
P=/v2/hubgate-test/private/blobs/$priv_layer
anon=$(hg_token hubgate-test/private pull client) || hg_fail "no anonymous token"
relayed=$(viahg -G --data-urlencode service=registry.docker.io \
    --data-urlencode scope=repository:hubgate-test/private:pull https://auth.docker.io/token \
    | "$HG_PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])') || hg_fail "no token through hubgate"
other=$(hg_token hubgate-test/app pull client) || hg_fail "no token for app"
creds=$(hg_client curl -sS --fail --max-time 10 --cacert "$HG_TMP/pki/ca.crt" -u "$HG_PUSH_USER" -G \
    --data-urlencode service=registry.docker.io --data-urlencode scope=repository:hubgate-test/private:pull \
    https://auth.docker.io/token | "$HG_PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
try "without a token" "$P" 401
try "with an anonymous token" "$P" 401 "$anon"
try "with an anonymous token relayed by hubgate" "$P" 401 "$relayed"
try "with another repository's token" "$P" 401 "$other"
try "under another repository's path" "/v2/hubgate-test/app/blobs/$priv_layer" 404 "$other"
m=$(mark)
try "with the credentials' token" "$P" 200 "$creds"
[ "$(sha256sum <"$HG_TMP/try.out" | cut -d' ' -f1)" = "${priv_layer#sha256:}" ] || hg_fail "credentials: wrong bytes"
[ "$(blob_bytes_since "$m")" = 0 ] || hg_fail "credentials: served from the blob host, not the cache"

# --- 5. max_size
held=$(du -cb "$CACHE"/blobs/sha256/* | tail -n1 | cut -f1)
[ "$held" -le "$MAX" ] || hg_fail "the cache holds $held bytes, max_size $MAX"
[ ! -e "$CACHE/blobs/sha256/${a_big#sha256:}" ] || hg_fail "max_size: app's big layer (least recently used) was not evicted"
[ "$(metric hubgate_cache_evictions_total)" -ge 1 ] || hg_fail "metrics: no eviction counted"
hg_log "5. $held bytes held (max_size $MAX); app's big layer evicted"

# --- 6. offline
creds2=$(hg_client curl -sS --fail --max-time 10 --cacert "$HG_TMP/pki/ca.crt" -u "$HG_PUSH_USER" -G \
    --data-urlencode service=registry.docker.io --data-urlencode scope=repository:hubgate-test/private:pull \
    --data-urlencode account=again https://auth.docker.io/token | "$HG_PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
# an image that never was on the registry, imported while hubgate runs
hg_make_image imp --ref docker.io/hubgate-test/imported:1 --platform "linux/$arch" --cmd /app/run \
    --layer 'random:data/i.bin:1048576'
out=$(hg_client "$HUBGATE" cache import "$HG_TMP/oci/imp" -c "$HG_TMP/hubgate.ini" 2>&1) \
    || hg_fail "cache import failed: $out"
# hglog_since LINE: hubgate's log after line LINE, into $HG_TMP/hglog.since
# (a file: under pipefail "tail | grep -q" fails when grep exits early).
hglog_since() { tail -n +"$(($1 + 1))" "$HG_LOGS/hubgate.log" >"$HG_TMP/hglog.since"; }
# offline_pulls ID STEP WHY: a fresh dockerd pulls conc and imported by
# tag from the cache; the private layer is refused (no token, or a fresh
# one with credentials that upstream never saw). hubgate's log must say it
# served the tags from the cache, upstream having failed as WHY says.
offline_pulls() {
    local id=$1 step=$2 why=$3 tok code auth lines
    lines=$(wc -l <"$HG_LOGS/hubgate.log")
    fresh_dockerd
    pull hubgate-test/conc:1 "$id"
    pull hubgate-test/imported:1 "$id-imported"
    hglog_since "$lines"
    grep -q 'may be stale' "$HG_TMP/hglog.since" \
        || hg_fail "$step: no 'may be stale' log line (tags not answered from the cache)"
    # (once a request failed, the link rests and the next ones say so)
    grep -q "failed on every link (last: direct: \(resting [0-9]*s: \)\?$why); serving docker.io/hubgate-test/conc:1" \
        "$HG_TMP/hglog.since" || hg_fail "$step: hubgate's log does not say upstream failed with '$why'"
    for tok in "" "$creds2"; do
        auth=()
        [ -z "$tok" ] || auth=(-H "Authorization: Bearer $tok")
        code=$(viahg -o /dev/null -w '%{http_code}' "${auth[@]}" "https://registry-1.docker.io$P") || true
        [ "$code" != 200 ] || hg_fail "$step: the private layer was served (token: ${tok:+a fresh one with credentials}${tok:-none})"
    done
    hg_log "$step: pulls of hubgate-test/conc:1 and of the imported hubgate-test/imported:1 ok; private layer refused ($code)"
}
# nginx_start CONF: nginx of the hub with CONF (a rendered template).
nginx_start() {
    hg_start nginx "$HG_NS_HUB" nginx -e "$HG_LOGS/nginx.error.log" -c "$1"
    hg_wait_port "$HG_NS_HUB" "$HG_HUB_IP" 443 nginx
}
hg_stop nginx TERM 10
hubgate_stop
hubgate_start "$HG_TMP/hubgate.ini"
offline_pulls offline "6. offline (links dead), after a restart of hubgate" \
    "connect: Connection refused"
hubgate_stop

# --- 7. DNS poisoned: the hub's names resolve to the site's address
nginx_start "$HG_TMP/nginx.conf"
hosts=/etc/netns/$HG_NS_CLIENT/hosts
cp "$hosts" "$HG_TMP/hosts.good"
# written in place: ip netns exec bind-mounts this very inode over /etc/hosts
sed "s/^$HG_HUB_IP /$HG_SITE_IP /" "$HG_TMP/hosts.good" >"$hosts"
grep -q "^$HG_SITE_IP registry-1.docker.io" "$hosts" || hg_fail "hosts file not poisoned: $(cat "$hosts")"
hubgate_start "$HG_TMP/hubgate.ini"
m=$(mark)
offline_pulls poisoned "7. DNS poisoned (the hub's names at $HG_SITE_IP)" \
    "TLS: certificate verify failed: hostname mismatch"
n=$(tail -n +"$((m + 1))" "$NGX" | grep -c 'host=registry-1.docker.io\|host=production.cloudflare.docker.com') || true
[ "$n" = 0 ] || hg_fail "DNS poisoned: the registry or blob host still got $n request(s)"
hubgate_stop
# now to an address whose packets vanish (the hub forwards nothing): every
# connect runs into [upstream] connect_timeout
ip -n "$HG_NS_CLIENT" route add 203.0.113.0/24 via "$HG_HUB_IP"
sed "s/^$HG_HUB_IP /203.0.113.9 /" "$HG_TMP/hosts.good" >"$hosts"
hubgate_start "$HG_TMP/hubgate.ini"
l=$(wc -l <"$HG_LOGS/hubgate.log")
offline_pulls blackholed "7. DNS poisoned (the hub's names at a black hole)" "connect timed out"
# only the first request waits for connect_timeout (10 s); while the link
# rests, what the cache may answer is answered at once
hglog_since "$l"
slow=$(awk '/ access / && / (GET|HEAD) / && /\/manifests\// {
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+ms$/ && $i + 0 >= 5000) n++ } END { print n + 0 }' \
    "$HG_TMP/hglog.since")
[ "$slow" = 0 ] || hg_fail "black hole: $slow manifest request(s) waited for the connect timeout"
hubgate_stop
cat "$HG_TMP/hosts.good" >"$hosts"

# --- 8. rate limited: every request to the hub's names answers 429
hg_stop nginx TERM 10
hg_render "$HG_HUBDIR/nginx-429.conf.in" "$HG_TMP/nginx-429.conf"
nginx_start "$HG_TMP/nginx-429.conf"
hubgate_start "$HG_TMP/hubgate.ini"
m=$(mark)
offline_pulls limited "8. upstream answering 429" "answered 429"
n=$(tail -n +"$((m + 1))" "$NGX" | grep -c '" 429 ') || true
[ "$n" -gt 0 ] || hg_fail "429: hubgate never asked upstream (no 429 in nginx's log)"
n=$(tail -n +"$((m + 1))" "$NGX" | grep -vc '" 429 ') || true
[ "$n" = 0 ] || hg_fail "429: nginx answered $n request(s) with something else"
hubgate_stop
