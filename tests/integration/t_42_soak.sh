#!/bin/bash
# t_42_soak — one ./hubgate, 200 concurrent clients (sec/soak.py) for a
# bounded time (< 2 min in all), in the network namespaces of sec/lib.sh:
# intercepted blob downloads (/v2/library/soak/blobs/sha256:HEX, so hubgate
# checks each digest as it streams) and intercepted CDN files, passthrough
# tunnels to site.example.test (its own certificate), plain absolute-form
# GETs, garbage on the proxy port, and a few blobs whose bytes do not match
# their digest. Files: 1 KB .. 5 MB of random bytes with known sha256.
#
# Asserts: every good transfer is byte-exact (sha256 and length); every
# bad-digest blob fails; every garbage connection is answered or closed in
# < 5 s; no client is stuck; afterwards (once idle upstream connections
# have timed out of the pool, up to 40 s) hubgate's descriptor count is its
# start ± 2 and its RSS at most 2 times its start (glibc keeps
# 10-14 MB of a 30 MB peak fragmented here, before and after the exchange
# rework alike; a leak per request would be far more); it still serves a
# request and exits 0 on SIGTERM.
#   HUBGATE=path  binary   HG_KEEP=1  keep the temp dir
#   SOAK_CLIENTS=200 SOAK_OPS=3 SOAK_SEED=1   the load
#   SOAK_ROUNDS=1   rounds of it (more: does RSS keep growing?)
#   SOAK_ENV="MALLOC_MMAP_THRESHOLD_=65536"   environment for hubgate
source "$(dirname "$0")/sec/lib.sh"

sec_init t_42_soak
mkdir -p "$TMP/data"
head -c 1000 /dev/urandom >"$TMP/data/a-1k.bin"
head -c 65536 /dev/urandom >"$TMP/data/b-64k.bin"
head -c 524288 /dev/urandom >"$TMP/data/c-512k.bin"
head -c 2097152 /dev/urandom >"$TMP/data/d-2m.bin"
head -c 5242880 /dev/urandom >"$TMP/data/e-5m.bin"
sec_origins

hg_conf "$TMP/soak.ini" 3128 "[intercept]" "verify_digest = always"
# shellcheck disable=SC2086  # SOAK_ENV is a list of VAR=VALUE words
hg_up soak 3128 "$TMP/soak.ini" env ${SOAK_ENV:-}
PID=$HG_PID
CA=$TMP/ca-3128
P=http://127.0.0.1:3128
sha() { sha256sum "$TMP/data/$1" | cut -d' ' -f1; }

# descriptors at rest (no pooled upstream connection yet); then a warm-up,
# one of each kind, so the leaves are minted, and the RSS to compare with
fd0=$(fd_count "$PID")
x=$(pcurl "$NS_A" -x "$P" --cacert "$CA/ca.crt" \
    "https://registry-1.docker.io/v2/library/soak/blobs/sha256:$(sha b-64k.bin)" | sha256sum | cut -d' ' -f1)
[ "$x" = "$(sha b-64k.bin)" ] || { echo "FAIL: warm-up blob: sha256 $x"; exit 1; }
pcurl "$NS_A" -o /dev/null -x "$P" --cacert "$CA/ca.crt" https://production.cloudflare.docker.com/file/a-1k.bin
pcurl "$NS_A" -o /dev/null -x "$P" --cacert "$TMP/pki/ca.crt" https://site.example.test/file/a-1k.bin
pcurl "$NS_A" -o /dev/null -x "$P" http://origin.test:8080/file/a-1k.bin
rss0=$(rss_kb "$PID")
sec_log "start: $fd0 descriptors, RSS $rss0 kB"

# verdict JSON: one line per finding of a round: "ok ...", "bad ...", "err ...".
verdict() {
    "$PY" - "$1" "$(( ${SOAK_CLIENTS:-200} * ${SOAK_OPS:-3} / 2 ))" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1] or "{}")
least = int(sys.argv[2])
ok, fail = r.get("ok", {}), r.get("fail", {})
print("ok %s" % " ".join("%s=%d" % kv for kv in sorted(ok.items())))
for k in ("blob", "cdn", "tunnel", "plain", "garbage"):
    if fail.get(k):
        print("bad %s: %d failed" % (k, fail[k]))
if fail.get("baddigest"):
    print("bad baddigest: %d blobs with wrong bytes were delivered whole" % fail["baddigest"])
if fail.get("deadline"):
    print("bad deadline: %d clients ran out of time" % fail["deadline"])
if r.get("mismatch"):
    print("bad mismatch: %d bodies with a wrong sha256" % r["mismatch"])
if r.get("stuck"):
    print("bad stuck: %d clients never finished" % r["stuck"])
good = sum(ok.get(k, 0) for k in ("blob", "cdn", "tunnel", "plain"))
if good < least:
    print("bad volume: only %d good transfers (want %d or more)" % (good, least))
for e in r.get("errors", []):
    print("err %s" % e)
PYEOF
}

for ((round = 1; round <= ${SOAK_ROUNDS:-1}; round++)); do
    t0=$(date +%s)
    timeout 150 ip netns exec "$NS_A" "$PY" -u "$SEC_DIR/soak.py" --proxy 127.0.0.1:3128 \
        --hubgate-ca "$CA/ca.crt" --site-ca "$TMP/pki/ca.crt" --data "$TMP/data" \
        --clients "${SOAK_CLIENTS:-200}" --ops "${SOAK_OPS:-3}" --seed "$(( ${SOAK_SEED:-1} + round - 1 ))" \
        --deadline 60 >"$TMP/soak.json" 2>"$TMP/soak.err"
    rc=$?
    fdpeak=$(fd_count "$PID") rsspeak=$(rss_kb "$PID")
    res=$(cat "$TMP/soak.json")
    sec_log "round $round: soak.py rc $rc after $(($(date +%s) - t0)) s: $res"
    sec_log "round $round, right after: $fdpeak descriptors, RSS $rsspeak kB"
    [ "$rc" = 0 ] && [ -n "$res" ] || bad "soak.py failed (rc $rc): $(tail -n 5 "$TMP/soak.err")"

    verdict "$res" >"$TMP/verdict"
    while read -r tag rest; do
        case $tag in
            ok) good "transfers: $rest; $(jget "$res" bytes) bytes in $(jget "$res" secs) s" ;;
            bad) bad "soak: $rest" ;;
            err) echo "# first errors: $rest" ;;
        esac
    done <"$TMP/verdict"
done

alive soak || bad "hubgate died during the soak"
# idle close: keep-alive clients and pooled upstream connections go
for ((i = 0; i < 40; i++)); do
    n=$(fd_count "$PID")
    [ "$n" -le $((fd0 + 2)) ] && break
    sleep 1
done
# freed heap goes back a few seconds after the last connection closes
# (the idle trim): wait for it rather than judge the first reading
for ((j = 0; j < 20; j++)); do
    rss1=$(rss_kb "$PID")
    [ "$rss1" -le $((rss0 * 2)) ] && break
    sleep 1
done
if [ "$n" -ge $((fd0 - 2)) ] && [ "$n" -le $((fd0 + 2)) ]; then
    good "descriptors back to $n (start $fd0, peak $fdpeak) after $i s"
else
    kinds=$(ls -l "/proc/$PID/fd" | awk 'NR > 1 {print $NF}' | sed 's/[0-9]*//g' | sort | uniq -c | tr '\n' ' ')
    # shellcheck disable=SC2010  # /proc/PID/fd holds numbers only
    pipes=$(ls -l "/proc/$PID/fd" | grep -o 'pipe:\[[0-9]*\]' | sort | uniq -c | awk '{n++; if ($1 == 1) one++} END {printf "%d pipes, %d with one end open", n, one}')
    bad "descriptors: $n after 40 s idle, $fd0 at start (peak $fdpeak): $kinds($pipes)"
fi
if grep -q __asan_init "$HUBGATE" 2>/dev/null; then
    # AddressSanitizer's allocator quarantines and keeps freed memory: RSS
    # says nothing about hubgate there (its leak check runs at exit).
    good "RSS not judged under AddressSanitizer ($rss1 kB, start $rss0, peak $rsspeak)"
elif [ "$rss1" -le $((rss0 * 2)) ]; then
    good "RSS $rss1 kB (start $rss0, peak $rsspeak)"
else
    bad "RSS $rss1 kB after the soak, over 2 x the start $rss0 kB (peak $rsspeak)"
fi
x=$(pcurl "$NS_A" -x "$P" --cacert "$CA/ca.crt" \
    "https://registry-1.docker.io/v2/library/soak/blobs/sha256:$(sha d-2m.bin)" | sha256sum | cut -d' ' -f1)
[ "$x" = "$(sha d-2m.bin)" ] && good "still serves: a 2 MB blob, digest ok" || bad "after the soak: blob sha256 $x"
grep -q " digest=sha256:$(sha d-2m.bin) verified=yes$" "$TMP/soak.log" \
    && good "verify_digest = always: the blob was hashed by hubgate (verified=yes)" \
    || bad "verify_digest = always: no 'digest=sha256:$(sha d-2m.bin) verified=yes' in hubgate's log"
sec_stop soak TERM
[ "$SEC_RC" = 0 ] && good "SIGTERM: exit 0" || bad "hubgate exited $SEC_RC after SIGTERM"
grep -E ' (error|crit)|assert|sanitizer' "$TMP/soak.log" | head -n 5 | while read -r l; do echo "# log: $l"; done
sec_finish
