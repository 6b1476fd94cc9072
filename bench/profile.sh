# shellcheck shell=bash
# profile.sh — BENCH_PROFILE=1: where hubgate's cycles go on case 1
# (intercepted blob). Sourced by bench/run.sh; writes $BENCH_OUT/profile.txt:
#   1. syscalls per MiB: strace -c -f on the running hubgate during a transfer
#   2. perf record --call-graph dwarf (cpu-clock, a software event: where
#      the PMU has no hardware counters) on the running hubgate
#   3. valgrind --tool=callgrind on a second hubgate (port 3132, same CA) for
#      a PROF_MIB transfer, top functions by instructions (the brief's fallback
#      when `perf stat -e instructions` is not supported)

PROF_MIB=${BENCH_PROF_MIB:-32}

# prof_section TITLE CMD...: a titled section of the profile.
prof_section() {
    local title=$1
    shift
    printf '\n===== %s\n$ %s\n' "$title" "$*"
    "$@" 2>&1
}

bench_profile() {
    local out=$BENCH_OUT/profile.txt pid=${HG_PID[hubgate]} f=$HG_TMP/prof s path
    mkdir -p "$f" "$BENCH_OUT"
    path=/v2/bench/blobs/sha256:$BLOB_HEX
    bench_log "profile: strace, perf, callgrind of hubgate (pid $pid)"
    {
        printf 'hubgate profile, case 1 intercepted (%s MiB blob, default configuration: direct link, no digest hash)\n' "$BLOB_MIB"
        printf 'made by BENCH_PROFILE=1 bench/run.sh on %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    } >"$out"

    # 1. syscalls: strace counts while one transfer runs.
    timeout 300 strace -c -f -o "$f/strace.txt" -p "$pid" 2>"$f/strace.err" &
    s=$!
    sleep 1
    subj_curl hubgate "" "$path" "$BLOB_TMO" >"$f/strace.curl" 2>&1 || true
    kill -INT "$s" 2>/dev/null || true
    wait "$s" 2>/dev/null || true
    {
        printf '\n===== syscalls during one %s MiB intercepted transfer (strace slows it)\n' "$BLOB_MIB"
        printf '$ strace -c -f -p %s   (curl: %s)\n' "$pid" "$(cat "$f/strace.curl")"
        head -n 40 "$f/strace.txt"
        awk -v mib="$BLOB_MIB" '$NF == "total" {printf "total %d syscalls = %.0f per MiB\n", $(NF-2), $(NF-2) / mib}' "$f/strace.txt"
    } >>"$out"

    # 1b. syscalls per small GET (case 2's manifest, one keep-alive
    # connection).
    timeout 300 strace -c -f -o "$f/strace-lat.txt" -p "$pid" 2>"$f/strace-lat.err" &
    s=$!
    sleep 1
    subj_hgbench lat hubgate --path "$MANIFEST_PATH" -n 1000 --max-time 120 >"$f/strace-lat.out" 2>&1 || true
    kill -INT "$s" 2>/dev/null || true
    wait "$s" 2>/dev/null || true
    {
        printf '\n===== syscalls during 1000 manifest GETs on one intercepted keep-alive connection\n'
        printf '$ strace -c -f -p %s   (hgbench lat -n 1000: %s)\n' "$pid" "$(cat "$f/strace-lat.out")"
        head -n 20 "$f/strace-lat.txt"
        awk '$NF == "total" {printf "total %d syscalls = %.1f per GET\n", $(NF-2), $(NF-2) / 1000}' "$f/strace-lat.txt"
    } >>"$out"

    # 2. perf, sampling the live process (software clock, DWARF call
    # chains, so libcrypto's time is charged to the hubgate call that
    # caused it).
    if command -v perf >/dev/null 2>&1; then
        timeout 300 perf record -e cpu-clock -F 1000 --call-graph dwarf,16384 -o "$f/perf.data" \
            -p "$pid" >"$f/perf.rec.log" 2>&1 &
        s=$!
        sleep 1
        subj_curl hubgate "" "$path" "$BLOB_TMO" >"$f/perf.curl" 2>&1 || true
        kill -INT "$s" 2>/dev/null || true
        wait "$s" 2>/dev/null || true
        {
            printf '\n===== perf: cpu-clock samples of hubgate during one transfer (curl: %s)\n' "$(cat "$f/perf.curl")"
            printf '$ perf record -e cpu-clock -F 1000 --call-graph dwarf -p %s\n' "$pid"
            printf '\n--- self time by shared object: perf report --no-children --sort dso\n'
            perf report -i "$f/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null \
                | grep -v '^#' | grep -v '^$' | sed -n '1,12p'
            printf '\n--- inclusive (children) and self time by function, >= 2%%, unresolved libcrypto/libssl internals left out:\n'
            printf '$ perf report --children --sort sym -g none --percent-limit 2\n'
            perf report -i "$f/perf.data" --stdio --children --sort sym -g none --percent-limit 2 \
                2>/dev/null | grep -v '^#' | grep -v '^$' | grep -v '\] 0x0000' | sed -n '1,70p'
        } >>"$out"
    fi

    # 3. callgrind: a second hubgate with the same CA under valgrind.
    if command -v valgrind >/dev/null 2>&1; then
        local conf=$f/hubgate-vg.ini vgpid blob=$HG_TMP/www/blobs/prof.tmp hex
        head -c "$((PROF_MIB * 1048576))" /dev/urandom >"$blob"
        hex=$(sha256sum "$blob" | cut -d' ' -f1)
        mv "$blob" "$HG_TMP/www/blobs/sha256:$hex"
        sed -e "s|^listen = .*|listen = 127.0.0.1:3132|" "$HG_TMP/hubgate.ini" >"$conf"
        # Its admin listener (where hubgate has one) must not clash with the
        # first hubgate's.
        printf '[admin]\nlisten = 127.0.0.1:3133\n' >>"$conf"
        hg_client "$HUBGATE" -t -c "$conf" >/dev/null 2>&1 \
            || sed -e "s|^listen = .*|listen = 127.0.0.1:3132|" "$HG_TMP/hubgate.ini" >"$conf"
        hg_start hubgate-vg "$HG_NS_CLIENT" valgrind --tool=callgrind \
            --callgrind-out-file="$f/callgrind.out" "$HUBGATE" -c "$conf"
        hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3132 hubgate-vg 120
        hg_client curl -sS --http1.1 --max-time 60 --cacert "$HGCA" --proxy http://127.0.0.1:3132 \
            -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' \
            "https://$INT_HOST/v2/bench/blobs/sha256:$hex" >"$f/vg.warm" 2>&1 || true
        vgpid=${HG_PID[hubgate-vg]}
        hg_client curl -sS --http1.1 --max-time 900 --cacert "$HGCA" --proxy http://127.0.0.1:3132 \
            -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' \
            "https://$INT_HOST/v2/bench/blobs/sha256:$hex" >"$f/vg.curl" 2>&1 || true
        hg_stop hubgate-vg TERM 60
        {
            printf '\n===== callgrind: hubgate (pid %s) serving the same %s MiB intercepted blob twice\n' "$vgpid" "$PROF_MIB"
            printf '(curl: %s / %s); instructions (Ir), exclusive, whole run incl. start-up\n' \
                "$(cat "$f/vg.warm")" "$(cat "$f/vg.curl")"
            printf 'Note: valgrind counts instructions: AES-GCM (vectorised) and memcpy (rep movsb)\n'
            printf 'weigh differently than in time; the perf section above is the native picture.\n'
            printf '$ valgrind --tool=callgrind hubgate -c hubgate-vg.ini; callgrind_annotate\n'
            printf '\n--- exclusive\n'
            callgrind_annotate --threshold=99 "$f/callgrind.out" 2>/dev/null \
                | grep -v '^--' | grep -v '^$' | sed -n '/PROGRAM TOTALS/,$p' | sed -n '1,25p'
            printf '\n--- inclusive\n'
            callgrind_annotate --inclusive=yes --threshold=99 "$f/callgrind.out" 2>/dev/null \
                | grep -v '^--' | grep -v '^$' | sed -n '/PROGRAM TOTALS/,$p' | sed -n '1,32p'
        } >>"$out"
    fi
    bench_log "profile written to $out"
}
