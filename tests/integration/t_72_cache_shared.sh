#!/bin/bash
# t_72_cache_shared — the blob cache shared and squeezed:
#   1. two hubgate processes (127.0.0.1:3128 and :3130) on one [cache] dir;
#      four skopeo copies of hubgate-test/shared:1 at once, two through
#      each: every copy intact, each layer fetched from the blob host at
#      most once per process, the layout afterwards valid (skopeo reads the
#      tag from it, `hubgate cache verify` passes, state.json knows every
#      blob); then copies through each process again: zero bytes from the
#      blob host (a blob one process filled is the other's hit).
#   3. (before 2) a fill outlives its client: curl A fetches a 24 MiB layer
#      slowly through a hubgate with segments = 1, curl B joins the fill,
#      A is killed: B gets the layer whole, the blob host sends it once, it
#      is kept, and curl C has a hit.
#   2. a cache directory on a 3 MiB tmpfs (max_size far larger): a copy of
#      the 7 MiB image through a third hubgate succeeds, and its log says
#      once that caching stopped (ENOSPC).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
hg_init t_72_cache_shared
command -v skopeo >/dev/null 2>&1 || hg_skip "missing: skopeo"

hg_topology_up
hg_hub_up
case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64/v8 ;;
    *) hg_skip "no test image for $(uname -m)" ;;
esac
hg_make_image shared --ref 1 --platform "linux/$arch" --cmd /app/run \
    --layer 'random:data/s1.bin:4194304' --layer 'random:data/s2.bin:3145728'
# OCI media types: skopeo 1.9 finds a tag in a layout only for OCI manifests
hg_push "$HG_TMP/oci/shared" 1 hubgate-test/shared:1 --format=oci >/dev/null
layers=$(awk -v p="linux/$arch" '$1 == "layer" && $2 == p {print $3}' "$HG_TMP/oci/shared.sum")

CACHE=$HG_TMP/cache
NGX=$HG_LOGS/nginx.access.log
# conf FILE PORT DIR: a hubgate configuration on PORT with its cache in DIR.
conf() {
    hubgate_config "$1"
    sed -i "s|^listen = .*|listen = 127.0.0.1:$2|" "$1"
    printf '[admin]\nlisten =\n[cache]\ndir = %s\nmax_size = 256MiB\n' "$3" >>"$1"
}
conf "$HG_TMP/a.ini" 3128 "$CACHE"
conf "$HG_TMP/b.ini" 3130 "$CACHE"
grep -q '^\[admin\]' "$HG_TMP/a.ini" || hg_fail "test config lost its [admin] section"
hubgate_start "$HG_TMP/a.ini"
hg_start hubgate2 "$HG_NS_CLIENT" "$HUBGATE" -c "$HG_TMP/b.ini"
hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3130 hubgate2 15
bundle=$(hg_client_bundle)

# copy PORT NAME: skopeo copy of shared:1 through the hubgate on PORT.
copy() {
    HG_SKOPEO_TIMEOUT=90 hg_skopeo HTTPS_PROXY="http://127.0.0.1:$1" SSL_CERT_FILE="$bundle" \
        copy --src-no-creds docker://docker.io/hubgate-test/shared:1 "dir:$HG_TMP/out.$2" \
        >"$HG_LOGS/skopeo.$2.log" 2>&1
}
check_copy() {
    local l
    for l in $layers; do
        [ "$(sha256sum <"$HG_TMP/out.$1/${l#sha256:}" | cut -d' ' -f1)" = "${l#sha256:}" ] \
            || hg_fail "copy $1: layer $l damaged or missing"
    done
}
blob_bytes_since() {
    tail -n +"$(($1 + 1))" "$NGX" | awk '/host=production.cloudflare.docker.com/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9][0-9][0-9]$/ && $(i + 1) ~ /^[0-9]+$/) { s += $(i + 1); break } }
        END { print s + 0 }'
}

# --- 1. two processes, one directory
m=$(wc -l <"$NGX")
pids=()
for c in "3128 a1" "3130 b1" "3128 a2" "3130 b2"; do
    read -r port name <<<"$c"
    copy "$port" "$name" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || hg_fail "a concurrent copy failed (skopeo.*.log)"; done
for n in a1 b1 a2 b2; do check_copy "$n"; done
for l in $layers; do
    n=$(tail -n +"$((m + 1))" "$NGX" | grep -c "host=production.cloudflare.docker.com \"GET [^ ]*${l#sha256:}" || true)
    if [ "$n" -lt 1 ] || [ "$n" -gt 2 ]; then
        hg_fail "layer $l fetched $n times by two processes (want 1 or 2)"
    fi
    [ -f "$CACHE/blobs/sha256/${l#sha256:}" ] || hg_fail "layer $l not in the shared cache"
    grep -q "${l#sha256:}" "$CACHE/hubgate/state.json" || hg_fail "state.json lost layer $l"
done
out=$(hg_client "$HUBGATE" cache verify -c "$HG_TMP/a.ini" 2>&1) || hg_fail "cache verify failed: $out"
HG_SKOPEO_TIMEOUT=30 hg_skopeo inspect "oci:$CACHE:docker.io/hubgate-test/shared:1" >/dev/null 2>"$HG_LOGS/inspect.log" \
    || hg_fail "skopeo cannot read the shared cache as a layout: $(tail -n 2 "$HG_LOGS/inspect.log")"
hg_log "1. four copies through two processes: intact; layout valid; cache verify ok"
m=$(wc -l <"$NGX")
copy 3130 b3 || hg_fail "copy through process B failed"
copy 3128 a3 || hg_fail "copy through process A failed"
check_copy b3
check_copy a3
[ "$(blob_bytes_since "$m")" = 0 ] || hg_fail "second round: the blob host sent $(blob_bytes_since "$m") bytes"
hg_log "1. second round through both processes: 0 bytes from the blob host"

# --- 3. a fill outlives its client: curl A pulls a 24 MiB layer slowly
# through a fourth hubgate, curl B joins it, A is killed; B gets the whole
# layer, the blob host sends it once, it is kept, and curl C has a hit.
# That hubgate fetches over one connection (segments = 1), so the fill
# moves at A's pace: in segments it would run ahead at the link's pace and
# be over before A left.
C4=$HG_TMP/cache4
conf "$HG_TMP/d.ini" 3132 "$C4"
printf '[upstream]\nsegments = 1\n' >>"$HG_TMP/d.ini"
hg_start hubgate4 "$HG_NS_CLIENT" "$HUBGATE" -c "$HG_TMP/d.ini"
hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3132 hubgate4 15
hg_make_image big --ref 1 --platform "linux/$arch" --cmd /app/run \
    --layer 'random:data/big.bin:25165824'
hg_push "$HG_TMP/oci/big" 1 hubgate-test/big:1 --format=oci >/dev/null
big=$(awk -v p="linux/$arch" '$1 == "layer" && $2 == p {print $3}' "$HG_TMP/oci/big.sum")
tok=$(hg_token hubgate-test/big pull) || hg_fail "no token for hubgate-test/big"
url=https://registry-1.docker.io/v2/hubgate-test/big/blobs/$big
# blob_get NAME [CURL-ARGS...]: GET the big layer through hubgate4 into
# $HG_TMP/NAME. In the background, $! is curl's own pid (ip netns exec
# execs it).
blob_get() {
    local name=$1
    shift
    ip netns exec "$HG_NS_CLIENT" curl -sS --fail --max-time 120 --proxy http://127.0.0.1:3132 \
        --cacert "$bundle" -H "Authorization: Bearer $tok" -o "$HG_TMP/$name" "$@" "$url" \
        2>"$HG_LOGS/curl.$name.log"
}
m=$(wc -l <"$NGX")
ip netns exec "$HG_NS_CLIENT" curl -sS --max-time 120 --proxy http://127.0.0.1:3132 --cacert "$bundle" \
    -H "Authorization: Bearer $tok" -o "$HG_TMP/big.a" --limit-rate 1M "$url" 2>"$HG_LOGS/curl.big.a.log" &
pa=$!
for ((i = 0; i < 100; i++)); do
    [ "$(stat -c %s "$HG_TMP/big.a" 2>/dev/null || echo 0)" -gt 1000000 ] && break
    sleep 0.1
done
blob_get big.b &
pb=$!
sleep 1
kill "$pa" 2>/dev/null || hg_fail "curl A ended before it was killed (see curl.big.a.log)"
wait "$pa" || true
wait "$pb" || hg_fail "curl B, which joined A's fill, failed: $(cat "$HG_LOGS/curl.big.b.log")"
[ "sha256:$(sha256sum <"$HG_TMP/big.b" | cut -d' ' -f1)" = "$big" ] || hg_fail "curl B got a damaged layer"
n=$(blob_bytes_since "$m")
if [ "$n" -lt 25165824 ] || [ "$n" -ge $((2 * 25165824)) ]; then
    hg_fail "the blob host sent $n bytes for one 25165824-byte layer (want it once)"
fi
grep -F "left during registry-1.docker.io /v2/hubgate-test/big/blobs/" "$HG_LOGS/hubgate4.log" >/dev/null \
    || hg_fail "hubgate4's log does not say it carried the fill on after curl A left"
for ((i = 0; i < 100; i++)); do
    [ -f "$C4/blobs/sha256/${big#sha256:}" ] && break
    sleep 0.1
done
[ -f "$C4/blobs/sha256/${big#sha256:}" ] || hg_fail "the carried fill was not kept"
m=$(wc -l <"$NGX")
blob_get big.c || hg_fail "curl C failed: $(cat "$HG_LOGS/curl.big.c.log")"
cmp -s "$HG_TMP/big.b" "$HG_TMP/big.c" || hg_fail "curl C got other bytes than B"
[ "$(blob_bytes_since "$m")" = 0 ] || hg_fail "curl C: the blob host sent $(blob_bytes_since "$m") bytes"
hg_log "3. client A left its fill: B got the layer whole, the blob host sent it once ($n bytes), C had a hit"
hg_stop hubgate4 TERM 10
[ "$HG_STOP_RC" = 0 ] || hg_fail "hubgate4 exited $HG_STOP_RC"

# --- 2. a full disk
mkdir -p "$HG_TMP/small"
mount -t tmpfs -o size=3m tmpfs "$HG_TMP/small" || hg_skip "cannot mount a tmpfs"
conf "$HG_TMP/c.ini" 3131 "$HG_TMP/small/cache"
hg_start hubgate3 "$HG_NS_CLIENT" "$HUBGATE" -c "$HG_TMP/c.ini"
hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3131 hubgate3 15
copy 3131 c1 || hg_fail "copy through the hubgate whose disk is full failed"
check_copy c1
copy 3131 c2 || hg_fail "second copy through the hubgate whose disk is full failed"
check_copy c2
n=$(grep -c 'caching stopped' "$HG_LOGS/hubgate3.log" || true)
[ "$n" = 1 ] || hg_fail "full disk: $n 'caching stopped' log lines (want 1)"
hg_log "2. full disk: copies intact, one log line: $(grep 'caching stopped' "$HG_LOGS/hubgate3.log" | cut -c1-160)"
hg_stop hubgate3 TERM 10
hg_stop hubgate2 TERM 10
[ "$HG_STOP_RC" = 0 ] || hg_fail "hubgate2 exited $HG_STOP_RC"
hubgate_stop
