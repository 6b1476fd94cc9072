#!/bin/bash
# bench/run.sh — hubgate's benchmark (make bench). Run as root from anywhere.
# See bench/README.md for what each case measures.
#
#   BENCH_ROUNDS=N    rounds, every case once a round (default 5); figures
#                     are medians over rounds, with min–max
#   BENCH_QUICK=1     1-round smoke: 32 MiB blob, fewer connections
#   BENCH_DOCKER=0    skip case 3 (docker pull through a fresh dockerd)
#   BENCH_PROFILE=1   also profile hubgate on an intercepted blob
#                     (bench/results/profile.txt; see README)
#   BENCH_BLOB_MIB=N  size of the case 1 blob (default 256, quick 32)
#   BENCH_SHAPED=0    skip case 8 (a blob over a link shaped per connection)
#   BENCH_SHAPED_MIB=N, BENCH_SHAPED_RATE=R, BENCH_SHAPED_ROUNDS=N
#                     its blob (64 MiB, quick 16), the rate per connection
#                     (4MiB, bytes/s) and the rounds it runs in (first 2)
#   BENCH_CASES="..." only these cases (default all: blob latency parallel
#                     idle leaf docker shaped), e.g. "blob shaped" for the
#                     passthrough and the shaped link alone
#   BENCH_HG_EXTRA=.. lines added to the config of hubgate and hubgate-dg
#                     (printf %b: "[upstream]\nsegments = 1")
#   HUBGATE=path      binary under test (default ./hubgate)
#   BENCH_OUT=dir     where latest.md/png go (default bench/results)
# Writes bench/results/latest.md, latest.png, latest-samples.tsv and prints
# the table. Everything (namespaces, processes, temp files) is removed on
# exit, also on failure or ^C.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tests/integration/lib.sh
. "$BENCH_DIR/../tests/integration/lib.sh"
# shellcheck source=services.sh
. "$BENCH_DIR/services.sh"
# shellcheck source=cases.sh
. "$BENCH_DIR/cases.sh"
# shellcheck source=profile.sh
. "$BENCH_DIR/profile.sh"

BENCH_QUICK=${BENCH_QUICK:-0}
BENCH_DOCKER=${BENCH_DOCKER:-1}
BENCH_PROFILE=${BENCH_PROFILE:-0}
BENCH_SHAPED=${BENCH_SHAPED:-1}
SHAPED_RATE=${BENCH_SHAPED_RATE:-4MiB}
SHAPED_ROUNDS=${BENCH_SHAPED_ROUNDS:-2}
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/results}
BENCH_ALL_CASES="blob latency parallel idle leaf docker shaped"
BENCH_CASES=${BENCH_CASES:-$BENCH_ALL_CASES}
case " $BENCH_CASES " in *" docker "*) ;; *) BENCH_DOCKER=0 ;; esac
case " $BENCH_CASES " in *" shaped "*) ;; *) BENCH_SHAPED=0 ;; esac
# want CASE: true when CASE is among BENCH_CASES.
want() { case " $BENCH_CASES " in *" $1 "*) return 0 ;; esac; return 1; }
if [ "$BENCH_QUICK" = 1 ]; then
    ROUNDS=${BENCH_ROUNDS:-1}
    BLOB_MIB=${BENCH_BLOB_MIB:-32}
    SHAPED_MIB=${BENCH_SHAPED_MIB:-16}
    LAT_N=2000 LAT_N_TINYPROXY=100 PAR_C=200 PAR_N=10 IDLE_N=1000 IDLE_INT_N=200
    DOCKER_LAYERS_MIB="8 16 24"
else
    ROUNDS=${BENCH_ROUNDS:-5}
    BLOB_MIB=${BENCH_BLOB_MIB:-256}
    SHAPED_MIB=${BENCH_SHAPED_MIB:-64}
    LAT_N=2000 LAT_N_TINYPROXY=200 PAR_C=200 PAR_N=50 IDLE_N=8000 IDLE_INT_N=1000
    DOCKER_LAYERS_MIB="32 48 64 96"
fi
BENCH_LEAVES=$((ROUNDS * 2))
BLOB_TMO=$((60 + BLOB_MIB / 2))
SHAPED_TMO=$((60 + SHAPED_MIB * 2))   # 4 MiB/s: 16 s for 64 MiB; a slower rate needs a bigger one
DOCKER_TMO=600
CLK_TCK=$(getconf CLK_TCK)
BENCH_BG=()
HG_NAME=bench
HG_PROXY_DG=127.0.0.1:3135   # a second hubgate, verify_digest = always (services.sh)
HG_PROXY_CACHE=127.0.0.1:3137 # a third, with a blob cache (services.sh)

bench_log() { printf 'bench: %s\n' "$*"; }

# bench_deps: Debian packages the benchmark needs, installed when missing.
bench_deps() {
    local want="nginx mitmproxy squid-openssl tinyproxy gnuplot-nox curl openssl iproute2
                util-linux procps gcc libssl-dev python3 socat" p missing=""
    [ "$BENCH_DOCKER" != 1 ] || want="$want docker.io docker-registry skopeo python3-jwt python3-cryptography"
    [ "$BENCH_PROFILE" != 1 ] || want="$want valgrind linux-perf strace"
    for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    bench_log "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

bench_cleanup() {
    local rc=$? p
    set +e
    for p in "${BENCH_BG[@]}"; do kill -TERM "$p" 2>/dev/null; done
    (exit "$rc")
    hg_cleanup
}

# bench_init: what lib.sh's hg_init does, minus its test-only prerequisites.
bench_init() {
    [ "$(id -u)" = 0 ] || { echo "bench: run as root (network namespaces)" >&2; exit 1; }
    [ -x "$HUBGATE" ] || { echo "bench: no hubgate binary at $HUBGATE (make hubgate)" >&2; exit 1; }
    bench_deps
    ulimit -n 20000
    HG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-bench.XXXXXX")
    chmod 711 "$HG_TMP"   # squid's helpers run as user proxy
    HG_LOGS=$HG_TMP/logs HG_RUN=$HG_TMP/run
    mkdir -p "$HG_LOGS" "$HG_RUN"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    SAMPLES=$HG_TMP/samples.tsv FAILURES=$HG_TMP/failures.tsv
    : >"$SAMPLES"
    : >"$FAILURES"
    # One binary for the whole run, whatever rebuilds ./hubgate meanwhile.
    cp "$HUBGATE" "$HG_TMP/hubgate"
    HUBGATE_SRC=$HUBGATE HUBGATE=$HG_TMP/hubgate
    HGBENCH=$HG_TMP/hgbench
    cc -O2 -Wall -o "$HGBENCH" "$BENCH_DIR/hgbench.c" -lssl -lcrypto -lpthread
    bench_log "temp dir $HG_TMP; $ROUNDS round(s), blob $BLOB_MIB MiB, docker=$BENCH_DOCKER, shaped=$BENCH_SHAPED"
}

# bench_warmup: one request through every subject, so each proxy has its
# origin.test leaf and its processes warm before round 1.
bench_warmup() {
    local s out
    for s in "${!S_SVC[@]}"; do
        out=$(subj_curl "$s" "" "/v2/bench/blobs/sha256:$SMALL_HEX" 30 2>&1) \
            || hg_fail "warm-up through $s failed: $out"
        [ "${out%% *}" = 200 ] || hg_fail "warm-up through $s: HTTP $out"
    done
    bench_log "warm-up: every subject answers 200"
}

# bench_meta: facts for the report's header.
bench_meta() {
    local rev
    rev=$(git -C "$HG_TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$HG_TOP" diff --quiet HEAD -- proxy mitm ca dns 2>/dev/null || rev="$rev+local changes"
    {
        printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf 'rounds\t%s\n' "$ROUNDS"
        printf 'quick\t%s\n' "$BENCH_QUICK"
        printf 'docker\t%s\n' "$BENCH_DOCKER"
        printf 'shaped\t%s\n' "$BENCH_SHAPED"
        printf 'shaped_mib\t%s\n' "$SHAPED_MIB"
        printf 'shaped_rate\t%s\n' "$SHAPED_RATE"
        printf 'shaped_rounds\t%s\n' "$(( SHAPED_ROUNDS < ROUNDS ? SHAPED_ROUNDS : ROUNDS ))"
        printf 'blob_mib\t%s\n' "$BLOB_MIB"
        printf 'lat_n\t%s\n' "$LAT_N"
        printf 'lat_n_tinyproxy\t%s\n' "$LAT_N_TINYPROXY"
        printf 'par\t%s clients x %s GETs of %s bytes\n' "$PAR_C" "$PAR_N" "$SMALL_BYTES"
        printf 'idle_n\t%s\n' "$IDLE_N"
        printf 'idle_int_n\t%s\n' "$IDLE_INT_N"
        printf 'docker_image\t%s MiB layers: %s\n' "$(( ${DOCKER_IMAGE_BYTES:-0} / 1048576 ))" "$DOCKER_LAYERS_MIB"
        printf 'hubgate\t%s (%s, %s, sha256 %.12s)\n' "$("$HUBGATE" --version 2>&1 | sed -n 1p)" \
            "$HUBGATE_SRC" "$rev" "$(sha256sum "$HUBGATE" | cut -d' ' -f1)"
        printf 'machine\t%s cores, %s MiB, kernel %s\n' "$(nproc)" \
            "$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)" "$(uname -r)"
        printf 'peers\tmitmproxy %s, squid %s, tinyproxy %s, nginx %s, curl %s\n' \
            "$(dpkg-query -W -f='${Version}' mitmproxy)" "$(dpkg-query -W -f='${Version}' squid-openssl)" \
            "$(dpkg-query -W -f='${Version}' tinyproxy)" "$(dpkg-query -W -f='${Version}' nginx)" \
            "$(dpkg-query -W -f='${Version}' curl)"
        printf 'socat\t%s\n' "$(dpkg-query -W -f='${Version}' socat)"
        if [ "$BENCH_CASES" = "$BENCH_ALL_CASES" ]; then printf 'cases\tall\n'; else printf 'cases\t%s\n' "$BENCH_CASES"; fi
    } >"$HG_TMP/meta.tsv"
}

main() {
    local r t0
    t0=$(date +%s)
    bench_init
    hg_topology_up
    if [ "$BENCH_DOCKER" = 1 ]; then
        hg_hub_up
        hg_hub_check
    fi
    bench_pki
    bench_names
    bench_content
    bench_origin_up
    bench_hubgate_up
    bench_peers_up
    bench_subjects
    bench_warmup
    bench_cache_warm
    [ "$BENCH_SHAPED" != 1 ] || bench_shaped_up
    [ "$BENCH_DOCKER" != 1 ] || bench_docker_setup
    for ((r = 1; r <= ROUNDS; r++)); do
        bench_log "round $r of $ROUNDS"
        want blob && case_blob "$r"
        want latency && case_latency "$r"
        want parallel && case_parallel "$r"
        want idle && case_idle "$r"
        want leaf && case_leaf "$r"
        [ "$BENCH_DOCKER" != 1 ] || case_docker "$r"
        [ "$BENCH_SHAPED" != 1 ] || [ "$r" -gt "$SHAPED_ROUNDS" ] || case_shaped "$r"
        [ "$BENCH_SHAPED" != 1 ] || [ "$BENCH_DOCKER" != 1 ] || [ "$r" -gt "$SHAPED_ROUNDS" ] \
            || case_docker_shaped "$r"
        hg_check_alive hubgate
        [ "$BENCH_SHAPED" != 1 ] || hg_check_alive shaper
    done
    bench_meta
    mkdir -p "$BENCH_OUT"
    /usr/bin/python3 "$BENCH_DIR/report.py" "$HG_TMP" "$BENCH_OUT"
    # After the report: a profile that fails costs no figures.
    [ "$BENCH_PROFILE" != 1 ] || bench_profile
    bench_log "done in $(( $(date +%s) - t0 ))s; $BENCH_OUT/latest.md, latest.png"
}

[ "${BENCH_SOURCE_ONLY:-0}" = 1 ] || main "$@"
