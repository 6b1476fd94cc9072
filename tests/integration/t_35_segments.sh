#!/bin/bash
# t_35_segments — segmented blob fetches (issue 13): a stock dockerd pulls
# an image with a 48 MiB layer through hubgate, whose link is a SOCKS5
# server shaping every connection (shaper.py) to 8 MiB/s, and hubgate, having
# seen the first connection slow for half a second, fetches the rest of that
# layer as 8 MiB Range requests over 4 connections at once:
#   1. shaped link: the pull works (RepoDigest, layers as pushed); the
#      blob's access line is one 200 of all its bytes, verified by hubgate
#      (verify_digest = always) and segments=N; /metrics counts them;
#   2. every connection cut after 5 MiB (shaper --cut-after): each cut
#      segment is fetched again from where it stopped; one 200 to dockerd;
#   3. every connection stalls after 5 MiB (shaper --stall-after): each
#      stalled segment is fetched again on another connection;
#   4. an origin without ranges (fault relay --ranges none, reached
#      through a shaper: no Accept-Ranges, Range not honoured): the blob
#      comes over one connection, no segments=, no Range request reached it;
#   5. an origin that says Accept-Ranges but answers a Range with 200
#      (--ranges ignore): hubgate logs it, the first connection carries the
#      rest of the blob, and that origin's blobs go over one connection from
#      then on; the pull works with one answer to dockerd.
#   6. the blob cache on ([cache] dir): the layer comes in segments
#      written into the cache file at their offsets as they arrive, dockerd
#      reading that file (cache=fill, kept whole); pulled again after
#      docker rmi, it is a hit and the blob host sees no GET of it.
#   7. two shaped links in via, segments_across_links = yes: the pull works,
#      and both links carry segments (/metrics, the second shaper's log);
#   8. a client's own Range (curl, one shaped link): the origin's 206 and
#      the range's bytes, fetched in segments.
# No timing is asserted (the bench measures speed: bench/README.md, case 8).
# Packages: none beyond lib.sh's.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=links/common.sh
. "$(dirname "$0")/links/common.sh"
hg_init t_35_segments

hg_topology_up
hg_hub_up
hg_hub_check
hgl_net_up

IMG=seg
IMAGE=hubgate-links/$IMG:1
hgl_image "$IMG" "text:etc/seg.txt:seg $(openssl rand -hex 8)" \
    "random:data/seg-$(openssl rand -hex 4).bin:50331648"
blob=$(awk '$1 == "layer" {print $5, $3}' "$HG_TMP/oci/$IMG.sum" | sort -n | tail -n1)
size=${blob% *}
blob=${blob#* }
hgl_hosts "$HG_TMP/hosts.poison"

STARTED=0
problems=()
check_fail() {
    problems+=("$*")
    echo "FAIL (going on): $*" >&2
}

# blob_lines: hubgate's access lines (since the mark) for the big blob.
blob_lines() {
    hgl_log_new | grep ' access ' | grep -F " GET registry-1.docker.io /v2/hubgate-links/$IMG/blobs/$blob " || true
}

# pull_case NAME VIA [CONFIG-LINE...]: a fresh hubgate on VIA pulls the
# image (removed first), which must be as pushed.
pull_case() {
    local name=$1 via=$2
    shift 2
    hg_docker_timeout 30 rmi "$IMAGE" >/dev/null 2>&1 || true
    hgl_config "$HG_TMP/$name.ini" "$via" "$@" "[intercept]" "verify_digest = always"
    if [ "$STARTED" = 1 ]; then
        hgl_hubgate_restart "$HG_TMP/$name.ini" "$HG_TMP/hosts.poison"
    else
        hgl_hubgate_start "$HG_TMP/$name.ini" "$HG_TMP/hosts.poison"
        hg_dockerd_start || hg_fail "dockerd cannot start here (see its log)"
        STARTED=1
    fi
    if ! ( hgl_pull "$IMG" ); then
        check_fail "$name: docker pull $IMAGE failed: $(tail -n 2 "$HG_LOGS/pull.$IMG.log" | tr '\n' ' ')"
        return 1
    fi
}

# one_segmented_200 NAME: the client got one answer for the blob: 200, all
# its bytes, verified, in segments (at least 4: the first half second goes
# over one connection).
one_segmented_200() {
    local name=$1 acc n
    acc=$(blob_lines)
    n=$(printf '%s\n' "$acc" | grep -c . || true)
    case $n:$acc in
        "1:"*"/blobs/$blob 200 ${size}B "*" digest=$blob verified=yes segments="[4-9]*|"1:"*"/blobs/$blob 200 ${size}B "*" digest=$blob verified=yes segments="[1-9][0-9]*)
            hg_log "$name: one 200 of ${size} bytes, verified, ${acc##* }" ;;
        *) hgl_show_log 80
           check_fail "$name: want one '200 ${size}B ... verified=yes segments=N' for the blob, got $n: $(printf '%s\n' "$acc" | cut -c25-320 | tr '\n' '|')" ;;
    esac
}

# --- 1. a shaped link, no faults
hgl_shaper shaper 1090 --rate 8MiB
SHAPED=socks5://$HGL_PROXY_NAME:1090
if pull_case shaped "$SHAPED"; then
    one_segmented_200 shaped
    hgl_log_new | grep -E "/blobs/$blob: $size bytes from production\.cloudflare\.docker\.com at [0-9.]+ MiB/s: on in segments of 8388608, 4 at a time, from byte [0-9]+" >/dev/null \
        || check_fail "shaped: no 'at R MiB/s: on in segments of 8388608, 4 at a time' line for the blob"
    m=$(hgl_curl "http://127.0.0.1:3129/metrics") || hg_fail "cannot read hubgate's /metrics"
    printf '%s\n' "$m" | grep -E "^hubgate_segments_total\{link=\"$SHAPED\"\} [4-9]" >/dev/null \
        || check_fail "shaped: /metrics: no hubgate_segments_total{link=\"$SHAPED\"} of 4 or more: $(printf '%s\n' "$m" | grep segment | tr '\n' '|')"
    # the bytes after the switch, most of the blob
    printf '%s\n' "$m" | grep -E "^hubgate_segment_bytes_total\{link=\"$SHAPED\"\} [0-9]{8}\$" >/dev/null \
        || check_fail "shaped: /metrics: hubgate_segment_bytes_total{link=\"$SHAPED\"} is not tens of MB: $(printf '%s\n' "$m" | grep segment | tr '\n' '|')"
fi
hg_stop shaper

# --- 2. every connection cut after 5 MiB
hgl_shaper shapercut 1091 --rate 8MiB --cut-after 5MiB --faults 0
if pull_case cut "socks5://$HGL_PROXY_NAME:1091"; then
    one_segmented_200 cut
    n=$(hgl_log_new | grep -cE "/blobs/$blob: segment at byte [0-9]+ (was cut|failed) on .*; fetching it again" || true)
    [ "$n" -ge 1 ] || check_fail "cut: no 'segment at byte N ... fetching it again' line"
    hg_log "cut: $n segment(s) cut and fetched again; $(hgl_count "$HG_LOGS/shapercut.conns" 'end=cut') connection(s) cut by the shaper"
fi
hg_stop shapercut

# --- 3. every connection stalls after 5 MiB
hgl_shaper shaperstall 1092 --rate 8MiB --stall-after 5MiB --faults 0
if pull_case stall "socks5://$HGL_PROXY_NAME:1092"; then
    one_segmented_200 stall
    n=$(hgl_log_new | grep -cE "/blobs/$blob: segment at byte [0-9]+ stalled on .*; fetching it again" || true)
    [ "$n" -ge 1 ] || check_fail "stall: no 'segment at byte N stalled ... fetching it again' line"
    hg_log "stall: $n segment(s) stalled and fetched again on other connections"
fi
hg_stop shaperstall

# --- 4. an origin without ranges (the relay reached through a shaper, so
# that the first connection is slow)
hgl_shaper shaper2 1093 --rate 8MiB
RELAY="relay:https://fault.relay.test via socks5://$HGL_PROXY_NAME:1093"
hgl_fault_relay noranges --ranges none
if pull_case noranges "$RELAY"; then
    acc=$(blob_lines)
    case $acc in
        *"/blobs/$blob 200 ${size}B "*" digest=$blob verified=yes") hg_log "noranges: one 200 over one connection, verified" ;;
        *) check_fail "noranges: want one '200 ${size}B ... verified=yes' without segments: $(printf '%s\n' "$acc" | cut -c25-320 | tr '\n' '|')" ;;
    esac
    n=$(hgl_fault_count noranges 'r["range"] != ""')
    [ "$n" = 0 ] || check_fail "noranges: hubgate sent $n Range request(s) to an origin without Accept-Ranges"
fi
hg_stop noranges

# --- 5. an origin that ignores ranges although it says it serves them
hgl_fault_relay ignoreranges --ranges ignore
if pull_case ignore "$RELAY"; then
    hgl_log_new | grep -F "fault.relay.test answered a Range request with 200, not the 206 asked for; its blobs go over one connection from now on, this one on the first" >/dev/null \
        || check_fail "ignore: no line about the origin answering a Range request with 200"
    acc=$(blob_lines)
    case $(printf '%s\n' "$acc" | grep -c .):$acc in
        "1:"*"/blobs/$blob 200 ${size}B "*" verified=yes"*) ;;
        *) check_fail "ignore: want one verified 200 of the whole blob: $(printf '%s\n' "$acc" | cut -c25-320 | tr '\n' '|')" ;;
    esac
    hg_log "ignore: logged, then one connection; pull ok"
fi
hg_stop ignoreranges
hg_stop shaper2

# --- 6. the blob cache on: a segmented layer fills it
# blob_gets: the blob host's GETs of the big blob so far.
blob_gets() {
    grep -c "host=production.cloudflare.docker.com \"GET [^ ]*${blob#sha256:}" "$HG_LOGS/nginx.access.log" || true
}
hgl_shaper shapercache 1094 --rate 8MiB
rm -rf "$HG_TMP/cache"
if HG_TEST_CACHE=1 pull_case cache "socks5://$HGL_PROXY_NAME:1094"; then
    one_segmented_200 cache
    blob_lines | grep -F " cache=fill " >/dev/null \
        || check_fail "cache: the segmented blob did not fill the cache: $(blob_lines | cut -c25-320)"
    hgl_log_new | grep -E "/blobs/$blob: $size bytes from .* on in segments of .*, written into the cache as they arrive" >/dev/null \
        || check_fail "cache: the segments were not written into the cache at their offsets (no 'written into the cache as they arrive' line)"
    [ "$(stat -c %s "$HG_TMP/cache/blobs/sha256/${blob#sha256:}" 2>/dev/null)" = "$size" ] \
        || check_fail "cache: blobs/sha256/${blob#sha256:} is not kept whole ($size bytes)"
    before=$(blob_gets)
    hg_docker_timeout 30 rmi "$IMAGE" >/dev/null 2>&1 || true
    if ( hgl_pull "$IMG" ); then
        after=$(blob_gets)
        blob_lines | tail -n1 | grep -E "/blobs/$blob 200 ${size}B .* cache=hit " >/dev/null \
            || check_fail "cache: the second pull's blob is no hit: $(blob_lines | tail -n1 | cut -c25-320)"
        [ "$after" = "$before" ] \
            || check_fail "cache: the second pull made $((after - before)) GET(s) of the blob at the blob host"
        hg_log "cache: segmented fill kept; second pull a hit, no GET of the blob at the blob host"
    else
        check_fail "cache: the second docker pull failed: $(tail -n 2 "$HG_LOGS/pull.$IMG.log" | tr '\n' ' ')"
    fi
fi
hg_stop shapercache

# --- 7. two shaped links, segments_across_links = yes: both carry segments
hgl_shaper shapera 1095 --rate 8MiB
hgl_shaper shaperb 1096 --rate 8MiB
LINKA=socks5://$HGL_PROXY_NAME:1095
LINKB=socks5://$HGL_PROXY_NAME:1096
: >"$HG_LOGS/shaperb.conns"
if pull_case across "$LINKA, $LINKB" "segments_across_links = yes"; then
    one_segmented_200 across
    hgl_log_new | grep -E "/blobs/$blob: $size bytes from production\.cloudflare\.docker\.com at [0-9.]+ MiB/s: on in segments of 8388608, 4 at a time, from byte [0-9]+, over several links" >/dev/null \
        || check_fail "across: no 'on in segments ..., over several links' line for the blob"
    m=$(hgl_curl "http://127.0.0.1:3129/metrics") || hg_fail "cannot read hubgate's /metrics"
    for l in "$LINKA" "$LINKB"; do
        printf '%s\n' "$m" | grep -E "^hubgate_segments_total\{link=\"$l\"\} [1-9]" >/dev/null \
            || check_fail "across: /metrics: no hubgate_segments_total{link=\"$l\"}: $(printf '%s\n' "$m" | grep '^hubgate_segments_total' | tr '\n' '|')"
        printf '%s\n' "$m" | grep -E "^hubgate_upstream_throughput_bytes_per_second_count\{link=\"$l\",kind=\"segment\"\} [1-9]" >/dev/null \
            || check_fail "across: /metrics: no throughput of segments on $l: $(printf '%s\n' "$m" | grep '^hubgate_upstream_throughput_bytes_per_second_count' | tr '\n' '|')"
    done
    hg_log "across: $(printf '%s\n' "$m" | grep '^hubgate_segments_total' | tr '\n' ' ')"
fi

# --- 8. a client's own Range, answered 206 by the blob host, in segments:
# curl through hubgate (one shaped link) gets the 206 and the range's bytes
hgl_config "$HG_TMP/range.ini" "$LINKA"
hgl_hubgate_restart "$HG_TMP/range.ini" "$HG_TMP/hosts.poison"
# the second link's segment connections, closed by the restart: logged
n=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^down=/ && substr($i, 6) + 0 >= 8388608) n++} END {print n + 0}' "$HG_LOGS/shaperb.conns")
[ "$n" -ge 1 ] || check_fail "across: $LINKB carried no connection of a segment's bytes: $(tr '\n' '|' <"$HG_LOGS/shaperb.conns")"
hg_stop shaperb
file=$HG_TMP/oci/$IMG/blobs/sha256/${blob#sha256:}
[ "$(stat -c %s "$file" 2>/dev/null)" = "$size" ] || hg_fail "range: no blob file $file of $size bytes"
r0=1000000
r1=$((size - 1000001))
tok=$(hgl_curl --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" \
    "https://auth.docker.io/token?service=registry.docker.io&scope=repository:hubgate-links/$IMG:pull" \
    | "$HG_PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])') || hg_fail "range: no token through hubgate"
hgl_curl --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" -D "$HG_TMP/range.head" \
    -o "$HG_TMP/range.body" -H "Authorization: Bearer $tok" -H "Range: bytes=$r0-$r1" \
    "https://registry-1.docker.io/v2/hubgate-links/$IMG/blobs/$blob" || true
status=$(tr -d '\r' <"$HG_TMP/range.head" 2>/dev/null | grep '^HTTP/' | grep -v ' Connection established' | tr '\n' '|' || true)
crange=$(tr -d '\r' <"$HG_TMP/range.head" 2>/dev/null | grep -i '^content-range:' || true)
if [ "$status" != "HTTP/1.1 206 Partial Content|" ] || [ "${crange#*: }" != "bytes $r0-$r1/$size" ]; then
    check_fail "range: want one '206 Partial Content' with Content-Range bytes $r0-$r1/$size, got '$status' '$crange'"
elif [ "$(stat -c %s "$HG_TMP/range.body")" != $((r1 - r0 + 1)) ] ||
        ! cmp -s -i "$r0:0" -n $((r1 - r0 + 1)) "$file" "$HG_TMP/range.body"; then
    check_fail "range: the body ($(stat -c %s "$HG_TMP/range.body") bytes) is not bytes $r0-$r1 of the blob"
else
    acc=$(blob_lines)
    case $acc in
        *"/blobs/$blob 206 $((r1 - r0 + 1))B "*" segments="[1-9]*) hg_log "range: one 206 of bytes $r0-$r1 as in the blob, ${acc##* }" ;;
        *) hgl_show_log 80
           check_fail "range: want an access line '206 $((r1 - r0 + 1))B ... segments=N': $(printf '%s\n' "$acc" | cut -c25-320 | tr '\n' '|')" ;;
    esac
fi
hg_stop shapera

if [ "${#problems[@]}" -gt 0 ]; then
    printf 'FAIL: %s\n' "${problems[@]}" >&2
    hg_fail "${#problems[@]} check(s) failed (listed above)"
fi
hubgate_stop
hg_log "t_35_segments: segmented pulls over a shaped link, cut and stalled segments recovered, origins without or ignoring ranges served, segments across two links, a client's range in segments"
