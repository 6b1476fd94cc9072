# shellcheck shell=bash
# cases.sh — one function per benchmark case, each doing one round over its
# subjects (in an order rotated by the round number) and recording samples.
# Sourced by bench/run.sh after services.sh.

# rec CASE SUBJECT METRIC ROUND VALUE: one sample.
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"; }
# bench_warn CASE SUBJECT ROUND MESSAGE: a failed measurement (reported as
# such in the table, never silently dropped).
bench_warn() {
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(printf '%s' "$4" | tr '\t\n' '  ' | cut -c1-300)" >>"$FAILURES"
    printf 'bench: WARNING: %s %s round %s: %.300s\n' "$1" "$2" "$3" "$4" >&2
}

# rotate ROUND ITEMS...: ITEMS rotated left by ROUND-1.
rotate() {
    local r=$1 n i
    shift
    n=$#
    local a=("$@")
    for ((i = 0; i < n; i++)); do printf '%s\n' "${a[(i + r - 1) % n]}"; done
}

# kv KEY LINE: the value of KEY=VALUE in LINE.
kv() { printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {v = $2} END {print v}'; }

# ---------------------------------------------------------------- case 1 + 7

# case_blob ROUND: the big blob through every subject; throughput (MiB/s)
# and, for proxies, CPU seconds per GiB (utime+stime of the service's
# processes before/after the transfer).
case_blob() {
    local r=$1 s svc path out c0 c1 m0 m1 code bytes t
    for s in $(rotate "$r" direct hubgate hubgate-digest hubgate-cache hubgate-pass mitmproxy \
                   mitmproxy-pass squid squid-splice tinyproxy nginx nginx-tuned nginx-disk socat); do
        svc=${S_SVC[$s]}
        path=/v2/bench/blobs/sha256:$BLOB_HEX
        c0=0
        [ -z "$svc" ] || c0=$(svc_cpu "$svc")
        m0=$(machine_cpu)
        if ! out=$(subj_curl "$s" "" "$path" "$BLOB_TMO" 2>&1); then
            bench_warn blob "$s" "$r" "curl: $out"
            continue
        fi
        m1=$(machine_cpu)
        # socat's per-connection child counts once its parent has waited
        # for it (svc_cpu's cutime), a moment after curl closes.
        [ "$s" != socat ] || sleep 0.3
        c1=0
        [ -z "$svc" ] || c1=$(svc_cpu "$svc")
        read -r code bytes t _ <<<"$out"
        if [ "$code" != 200 ] || [ "$bytes" != "$BLOB_BYTES" ]; then
            bench_warn blob "$s" "$r" "HTTP $code, $bytes of $BLOB_BYTES bytes"
            continue
        fi
        rec blob "$s" mibps "$r" "$(awk -v b="$bytes" -v t="$t" 'BEGIN {printf "%.1f", b / 1048576 / t}')"
        rec mcpu "$s" s_per_gib "$r" \
            "$(awk -v c=$((m1 - m0)) -v hz="$CLK_TCK" -v b="$bytes" 'BEGIN {printf "%.3f", c / hz / (b / 1073741824)}')"
        [ -z "$svc" ] || rec cpu "$s" s_per_gib "$r" \
            "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v b="$bytes" 'BEGIN {printf "%.3f", c / hz / (b / 1073741824)}')"
        printf '  blob %-16s %s\n' "$s" "$out"
    done
}

# bench_cache_warm: the big blob once through hubgate-cache, so that case 1
# measures hits (the access log must say cache=fill, then hit).
bench_cache_warm() {
    local out
    out=$(subj_curl hubgate-cache "" "/v2/bench/blobs/sha256:$BLOB_HEX" "$BLOB_TMO" 2>&1) \
        || hg_fail "cache warm-up failed: $out"
    grep -q "blobs/sha256:$BLOB_HEX 200 .* cache=fill" "$HG_LOGS/hubgate-cache.log" \
        || hg_fail "cache warm-up: hubgate-cache did not fill the blob ($out)"
    bench_log "cache warm-up: the blob is in hubgate-cache's cache"
}

# ---------------------------------------------------------------- case 8

# case_shaped ROUND: the SHAPED_MIB blob over a link that caps every
# connection at SHAPED_RATE (tests/integration/links/shaper.py): curl
# through the shaper alone (one connection: the speed a client gets
# today), then through hubgate with [upstream] segments = 1, 2, 4 (their
# link is the shaper). MiB/s = bytes / curl's time_total.
case_shaped() {
    local r=$1 s out code bytes t
    for s in $(rotate "$r" shaper hubgate-s1 hubgate-s2 hubgate-s4); do
        if ! out=$(shaped_curl "$s" "/v2/bench/blobs/sha256:$SHAPED_HEX" "$SHAPED_TMO" 2>&1); then
            bench_warn shaped "$s" "$r" "curl: $out"
            continue
        fi
        read -r code bytes t _ <<<"$out"
        if [ "$code" != 200 ] || [ "$bytes" != "$SHAPED_BYTES" ]; then
            bench_warn shaped "$s" "$r" "HTTP $code, $bytes of $SHAPED_BYTES bytes"
            continue
        fi
        rec shaped "$s" mibps "$r" "$(awk -v b="$bytes" -v t="$t" 'BEGIN {printf "%.2f", b / 1048576 / t}')"
        printf '  shaped %-14s %s\n' "$s" "$out"
    done
}

# ---------------------------------------------------------------- case 2

# case_latency ROUND: LAT_N manifest GETs over one keep-alive connection.
case_latency() {
    local r=$1 s out
    local n
    for s in $(rotate "$r" direct hubgate hubgate-pass mitmproxy squid tinyproxy nginx); do
        # tinyproxy leaves Nagle on: ~44 ms a GET, so it gets fewer of them.
        n=$LAT_N
        [ "$s" != tinyproxy ] || n=$LAT_N_TINYPROXY
        if ! out=$(subj_hgbench lat "$s" --path "$MANIFEST_PATH" -n "$n" --max-time 300 2>&1); then
            bench_warn lat "$s" "$r" "$out"
            continue
        fi
        rec lat "$s" p50_us "$r" "$(kv p50_us "$out")"
        rec lat "$s" p99_us "$r" "$(kv p99_us "$out")"
        printf '  lat  %-16s %s\n' "$s" "$out"
    done
}

# ---------------------------------------------------------------- case 4

# case_parallel ROUND: PAR_C clients at once, PAR_N small-blob GETs each.
case_parallel() {
    local r=$1 s out
    for s in $(rotate "$r" direct hubgate hubgate-pass mitmproxy squid tinyproxy nginx); do
        if ! out=$(subj_hgbench par "$s" --path "/v2/bench/blobs/sha256:$SMALL_HEX" \
                       -c "$PAR_C" -n "$PAR_N" --max-time 300 2>&1); then
            bench_warn par "$s" "$r" "$out"
            continue
        fi
        rec par "$s" rps "$r" "$(kv rps "$out")"
        rec par "$s" p50_us "$r" "$(kv p50_us "$out")"
        rec par "$s" p99_us "$r" "$(kv p99_us "$out")"
        printf '  par  %-16s %s\n' "$s" "$out"
    done
}

# ---------------------------------------------------------------- case 5

# idle_one ROUND CASE SUBJECT N ARGS...: N connections held through SUBJECT
# (hgbench idle ARGS), the service's RSS and descriptors while they are
# open, then closed and waited for.
idle_one() {
    local r=$1 c=$2 s=$3 n=$4 svc out pid i before after ready b_rss b_fds a_rss a_fds
    shift 4
    svc=${S_SVC[$s]}
    out=$HG_TMP/idle.$c.$s.$r
    before=$(svc_mem "$svc")
    if [ -n "${S_VIA[$s]}" ]; then
        set -- --connect "${S_VIA[$s]}" --proxy "$@"
    else
        set -- --connect "${S_ADDR[$s]}" "$@"
    fi
    # ip netns exec execs hgbench, so $! is hgbench itself (a function in
    # the background would be a subshell, and TERM would orphan hgbench).
    ip netns exec "$HG_NS_CLIENT" "$HGBENCH" idle -c "$n" --hold 600 --max-time 600 "$@" \
        >"$out" 2>"$out.err" &
    pid=$!
    BENCH_BG+=("$pid")
    for ((i = 0; i < 6000; i++)); do
        grep -q '^ready=' "$out" 2>/dev/null && break
        hg_alive "$pid" || break
        sleep 0.1
    done
    sleep 1
    after=$(svc_mem "$svc")
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ready=$(kv ready "$(cat "$out" 2>/dev/null)")
    if [ "${ready:-0}" != "$n" ]; then
        bench_warn "$c" "$s" "$r" "only ${ready:-0} of $n connections: $(head -c 300 "$out.err")"
    else
        read -r b_rss b_fds <<<"$before"
        read -r a_rss a_fds <<<"$after"
        rec "$c" "$s" rss_mib "$r" "$(awk -v k="$a_rss" 'BEGIN {printf "%.1f", k / 1024}')"
        rec "$c" "$s" kib_per_conn "$r" "$(awk -v a="$a_rss" -v b="$b_rss" -v n="$n" 'BEGIN {printf "%.1f", (a - b) / n}')"
        rec "$c" "$s" fds "$r" "$a_fds"
        rec "$c" "$s" fds_added "$r" "$((a_fds - b_fds))"
        printf '  %-10s %-16s %s; rss %s -> %s KiB, fds %s -> %s\n' "$c" "$s" \
            "$(cat "$out")" "$b_rss" "$a_rss" "$b_fds" "$a_fds"
    fi
    # Let the service close its side before the next subject.
    read -r b_rss b_fds <<<"$before"
    for ((i = 0; i < 600; i++)); do
        read -r a_rss a_fds <<<"$(svc_mem "$svc")"
        [ "$a_fds" -gt $((b_fds + 20)) ] || break
        sleep 0.1
    done
}

# case_idle ROUND: IDLE_N idle CONNECT tunnels (to the sink), and
# IDLE_INT_N intercepted connections idle after one manifest GET each, each
# measured on a freshly started service.
case_idle() {
    local r=$1 s
    for s in $(rotate "$r" hubgate mitmproxy squid tinyproxy); do
        svc_restart "${S_SVC[$s]}"
        idle_one "$r" idle_tunnel "$s" "$IDLE_N" --no-tls --host "$PASS_HOST" --port "$SINK_PORT"
    done
    for s in $(rotate "$r" hubgate mitmproxy squid nginx); do
        svc_restart "${S_SVC[$s]}"
        idle_one "$r" idle_int "$s" "$IDLE_INT_N" --tls --host "${S_HOST[$s]}" \
            --port "${S_PORT[$s]}" --cafile "${S_CA[$s]}" --path "$MANIFEST_PATH"
    done
}

# ---------------------------------------------------------------- case 6

# case_leaf ROUND: time to first byte of a manifest GET on a new connection
# for a host name the proxy has not seen (its leaf is minted), then again
# for the same name (leaf cached). Two fresh names a round.
case_leaf() {
    local r=$1 name s out1 out2 k f_ttfb f_tls c_ttfb c_tls
    for k in 1 2; do
        name=${LEAF_NAMES[$(((r - 1) * 2 + k - 1))]}
        for s in $(rotate "$r" direct hubgate mitmproxy squid); do
            if ! out1=$(subj_curl "$s" "$name" "$MANIFEST_PATH" 30 2>&1) ||
               ! out2=$(subj_curl "$s" "$name" "$MANIFEST_PATH" 30 2>&1); then
                bench_warn leaf "$s" "$r" "$name: ${out1:-} ${out2:-}"
                continue
            fi
            if [ "${out1%% *}" != 200 ] || [ "${out2%% *}" != 200 ]; then
                bench_warn leaf "$s" "$r" "$name: HTTP ${out1%% *} ${out2%% *}"
                continue
            fi
            # curl -w: code bytes total ttfb appconnect (seconds)
            read -r _ _ _ f_ttfb f_tls <<<"$out1"
            read -r _ _ _ c_ttfb c_tls <<<"$out2"
            rec leaf "$s" first_ms "$r" "$(awk -v t="$f_ttfb" 'BEGIN {printf "%.2f", t * 1000}')"
            rec leaf "$s" cached_ms "$r" "$(awk -v t="$c_ttfb" 'BEGIN {printf "%.2f", t * 1000}')"
            rec leaf "$s" first_tls_ms "$r" "$(awk -v t="$f_tls" 'BEGIN {printf "%.2f", t * 1000}')"
            rec leaf "$s" cached_tls_ms "$r" "$(awk -v t="$c_tls" 'BEGIN {printf "%.2f", t * 1000}')"
            printf '  leaf %-16s %s first ttfb %s tls %s, again ttfb %s tls %s\n' "$s" "$name" \
                "$f_ttfb" "$f_tls" "$c_ttfb" "$c_tls"
        done
    done
}

# ---------------------------------------------------------------- case 3

# case_docker_shaped ROUND: case 3's pull through hubgate-s1 and -s4, whose
# link is case 8's shaper (every connection at SHAPED_RATE): a fresh dockerd
# each, wall time of the pull only.
case_docker_shaped() {
    local r=$1 s t0 t1 ok
    for s in $(rotate "$r" hubgate-s1 hubgate-s4); do
        HG_PROXY=127.0.0.1:${SEG_PORT[${s#hubgate-s}]} HUBGATE_DIRECT=0
        rm -rf "$HG_TMP/docker"
        if ! hg_dockerd_start 2>>"$HG_LOGS/bench-dockerd.log"; then
            bench_warn docker_shaped "$s" "$r" "dockerd did not start"
            HG_PROXY=127.0.0.1:3128
            continue
        fi
        t0=$(date +%s.%N)
        ok=0
        hg_docker_timeout "$DOCKER_TMO" pull benchimg/pull:1 >"$HG_LOGS/pull.shaped.$s.$r.log" 2>&1 && ok=1
        t1=$(date +%s.%N)
        if [ "$ok" = 1 ] && hg_docker image inspect benchimg/pull:1 >/dev/null 2>&1; then
            rec docker_shaped "$s" pull_s "$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')"
            printf '  docker-shaped %-14s %.2fs\n' "$s" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
        else
            bench_warn docker_shaped "$s" "$r" "pull failed: $(tail -n 3 "$HG_LOGS/pull.shaped.$s.$r.log")"
        fi
        hg_stop dockerd TERM 30
        rm -rf "$HG_TMP/docker"
        HG_PROXY=127.0.0.1:3128
    done
}

# bench_docker_setup: lib.sh's Docker Hub stand-in and a multi-layer image
# pushed to it.
bench_docker_setup() {
    local arch l layers=()
    case $(uname -m) in
        x86_64) arch=amd64 ;;
        aarch64) arch=arm64/v8 ;;
        *) hg_fail "no docker image for $(uname -m)" ;;
    esac
    for l in $DOCKER_LAYERS_MIB; do layers+=(--layer "random:data/layer-$l.bin:$((l * 1048576))"); done
    hg_make_image pull --ref 1 --platform "linux/$arch" --cmd /data/run \
        --layer 'text:data/run:hubgate bench image' "${layers[@]}"
    hg_push "$HG_TMP/oci/pull" 1 benchimg/pull:1 --format=oci >/dev/null
    DOCKER_IMAGE_BYTES=$(awk '$1 == "layer" {s += $5} END {print s}' "$HG_TMP/oci/pull.sum")
    hg_log "pushed benchimg/pull:1 ($DOCKER_IMAGE_BYTES bytes of layers)"
    bench_docker_cache_warm
}

# bench_docker_cache_warm: case 3's image pulled once through hubgate-cache
# (a fresh dockerd, not timed), so that its pulls in the rounds are all
# cache hits: every layer must have been kept (cache=fill in its log).
bench_docker_cache_warm() {
    local l n=0 seen=0
    HG_PROXY=$HG_PROXY_CACHE HUBGATE_DIRECT=0
    rm -rf "$HG_TMP/docker"
    hg_dockerd_start 2>>"$HG_LOGS/bench-dockerd.log" || hg_fail "docker cache warm-up: dockerd did not start"
    hg_docker_timeout "$DOCKER_TMO" pull benchimg/pull:1 >"$HG_LOGS/pull.cache-warm.log" 2>&1 \
        || hg_fail "docker cache warm-up through hubgate-cache failed: $(tail -n 3 "$HG_LOGS/pull.cache-warm.log")"
    hg_stop dockerd TERM 30
    rm -rf "$HG_TMP/docker"
    HG_PROXY=127.0.0.1:3128
    while read -r l; do
        seen=$((seen + 1))
        grep -q "blobs/$l 200 .* cache=fill" "$HG_LOGS/hubgate-cache.log" || n=$((n + 1))
    done < <(awk '$1 == "layer" {print $3}' "$HG_TMP/oci/pull.sum")
    [ "$seen" -gt 0 ] || hg_fail "docker cache warm-up: no layer listed in $HG_TMP/oci/pull.sum"
    [ "$n" = 0 ] || hg_fail "docker cache warm-up: $n of $seen layer(s) not kept by hubgate-cache (see its log)"
    bench_log "docker cache warm-up: benchimg/pull:1 ($seen layers) is in hubgate-cache's cache"
}

# docker_all_hits LINE: true when hubgate-cache's log after line LINE has
# no blob or manifest fetched upstream (cache=fill, join or miss). Through
# a file: under pipefail "tail | grep -q" fails when grep exits early.
docker_all_hits() {
    tail -n +"$(($1 + 1))" "$HG_LOGS/hubgate-cache.log" >"$HG_TMP/hubgate-cache.since"
    ! grep -q 'cache=\(fill\|join\|miss\)' "$HG_TMP/hubgate-cache.since"
}

# hg_client_bundle (lib.sh's, widened): what dockerd trusts through a proxy,
# hubgate's CA and the peers' CA.
hg_client_bundle() {
    local b=$HG_TMP/client-ca-bundle.pem
    { if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cat /etc/ssl/certs/ca-certificates.crt; fi
      cat "$HG_HUBGATE_CA_DIR/ca.crt" "$PEERCA"; } >"$b"
    printf '%s\n' "$b"
}

# case_docker ROUND: a fresh dockerd (state in the temp dir) pulls the
# image directly, through hubgate, through hubgate-cache (which holds the
# whole image: every blob and manifest a hit, only the tag's HEAD goes
# upstream) and through mitmproxy; wall time of the pull only (dockerd
# start and teardown are not counted).
case_docker() {
    local r=$1 s t0 t1 ok mark
    for s in $(rotate "$r" direct hubgate hubgate-cache mitmproxy); do
        HUBGATE_DIRECT=0
        case $s in
            direct) HUBGATE_DIRECT=1 ;;
            *) HG_PROXY=${S_VIA[$s]} ;;
        esac
        rm -rf "$HG_TMP/docker"
        if ! hg_dockerd_start 2>>"$HG_LOGS/bench-dockerd.log"; then
            bench_warn docker "$s" "$r" "dockerd did not start"
            HG_PROXY=127.0.0.1:3128 HUBGATE_DIRECT=0
            continue
        fi
        mark=$(wc -l <"$HG_LOGS/hubgate-cache.log")
        t0=$(date +%s.%N)
        ok=0
        hg_docker_timeout "$DOCKER_TMO" pull benchimg/pull:1 >"$HG_LOGS/pull.$s.$r.log" 2>&1 && ok=1
        t1=$(date +%s.%N)
        if [ "$ok" = 1 ] && [ "$s" = hubgate-cache ] && ! docker_all_hits "$mark"; then
            bench_warn docker "$s" "$r" "not all cache hits (hubgate-cache.log: cache=fill/join/miss)"
        elif [ "$ok" = 1 ] && hg_docker image inspect benchimg/pull:1 >/dev/null 2>&1; then
            rec docker "$s" pull_s "$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')"
            printf '  docker %-14s %.2fs\n' "$s" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
        else
            bench_warn docker "$s" "$r" "pull failed: $(tail -n 3 "$HG_LOGS/pull.$s.$r.log")"
        fi
        hg_stop dockerd TERM 30
        rm -rf "$HG_TMP/docker"
        HG_PROXY=127.0.0.1:3128 HUBGATE_DIRECT=0
    done
}
