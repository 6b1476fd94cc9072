#!/bin/bash
# t_70_cache_layout — the blob cache directory is an OCI layout that
# skopeo reads, and `hubgate cache ...` tends it (no hubgate running, no
# network: the layout tools only):
#   1. `hubgate cache import` of a two-platform layout made by
#      hub/oci_layout.py (ref docker.io/library/hello:latest): OK line,
#      exit 0; `cache ls` lists the tag and pinned blobs;
#   2. skopeo inspects and copies oci:CACHE:docker.io/library/hello:latest
#      (both platforms), and the copy's index digest is the source's;
#   3. a damaged layer: `cache verify` FAILs it (exit 1) and removes it; a
#      second verify is OK; a re-import restores the layer;
#   4. `cache rm` of the tag unpins everything, `cache gc` with max_size
#      1MiB gets under it (the 1.5 MB layer goes), and the layout stays
#      valid: an empty OCI index, skopeo finds no tag.
# HUBGATE=path picks the binary (lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
hg_init t_70_cache_layout
probe=$("$HUBGATE" cache ls -c /nonexistent 2>&1 || true)
[[ $probe != *"unknown argument"* ]] || hg_skip "$HUBGATE has no 'cache' command"

REF=docker.io/library/hello:latest
hg_make_image hello --ref "$REF" --platform linux/amd64 --platform linux/arm64/v8 \
    --layer 'text:hello:Hello from the cache test' --layer 'random:blob:1500000'
src=$HG_TMP/oci/hello
cache=$HG_TMP/cache
conf=$HG_TMP/hubgate.ini
printf '[ca]\ndir = %s/ca\n[cache]\ndir = %s\nmax_size = 64MiB\n' "$HG_TMP" "$cache" >"$conf"
sk() { timeout 120 skopeo --insecure-policy --tmpdir "$HG_TMP" "$@"; }
cmd() { rc=0; "$HUBGATE" cache "$@" -c "$conf" >"$HG_LOGS/cache.log" 2>&1 || rc=$?; cat "$HG_LOGS/cache.log"; }

hg_log "1. import"
cmd import "$src"
[ "$rc" = 0 ] || hg_fail "import exited $rc"
grep -q "^OK   imported $REF (pinned)" "$HG_LOGS/cache.log" || hg_fail "no OK line for the import"
cmd ls
grep -q "$REF" "$HG_LOGS/cache.log" || hg_fail "ls does not list $REF"
pinned=$(grep -c ' yes ' "$HG_LOGS/cache.log")
want=$(grep -c '' <(ls "$src/blobs/sha256"))
[ "$pinned" = "$want" ] || hg_fail "ls shows $pinned pinned blobs, the layout has $want"

hg_log "2. skopeo reads the cache"
sk inspect --raw "oci:$cache:$REF" >"$HG_LOGS/raw.json" || hg_fail "skopeo inspect failed"
top=$(awk '$1 == "top" {print $2}' "$src.sum")
got=sha256:$(sha256sum <"$HG_LOGS/raw.json" | cut -d' ' -f1)
[ "$got" = "$top" ] || hg_fail "skopeo read $got, the layout's top is $top"
sk copy --all "oci:$cache:$REF" "oci:$HG_TMP/copy:$REF" >>"$HG_LOGS/skopeo.log" 2>&1 \
    || hg_fail "skopeo copy from the cache failed (skopeo.log)"
for d in $(awk '$1 == "layer" {print $3}' "$src.sum"); do
    [ -f "$HG_TMP/copy/blobs/sha256/${d#sha256:}" ] || hg_fail "copy lacks layer $d"
done

hg_log "3. damage, verify, re-import"
layer=$(awk '$1 == "layer" {print $3; exit}' "$src.sum")
printf 'x' >>"$cache/blobs/sha256/${layer#sha256:}"
cmd verify
[ "$rc" = 1 ] || hg_fail "verify of a damaged cache exited $rc, not 1"
[ "$(grep -c '^FAIL' "$HG_LOGS/cache.log")" = 1 ] || hg_fail "verify: not exactly one FAIL"
grep -q "^FAIL $layer does not match its digest: removed" "$HG_LOGS/cache.log" \
    || hg_fail "verify does not name the damaged layer"
[ ! -e "$cache/blobs/sha256/${layer#sha256:}" ] || hg_fail "the damaged layer is still there"
cmd verify
[ "$rc" = 0 ] || hg_fail "second verify exited $rc"
cmd import "$src"
[ "$rc" = 0 ] && [ -f "$cache/blobs/sha256/${layer#sha256:}" ] || hg_fail "re-import did not restore the layer"

hg_log "4. rm, gc, an empty but valid layout"
cmd rm hello
[ "$rc" = 0 ] || hg_fail "rm hello exited $rc"
printf '[ca]\ndir = %s/ca\n[cache]\ndir = %s\nmax_size = 1MiB\n' "$HG_TMP" "$cache" >"$conf"
cmd gc
[ "$rc" = 0 ] || hg_fail "gc exited $rc"
cmd ls
! grep -q ' yes ' "$HG_LOGS/cache.log" || hg_fail "blobs still pinned after rm"
kept=$(find "$cache/blobs/sha256" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
[ "$kept" -le 1048576 ] || hg_fail "gc to 1MiB kept $kept bytes"
if sk inspect --raw "oci:$cache:$REF" >/dev/null 2>&1; then
    hg_fail "skopeo still finds $REF after rm"
fi
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["schemaVersion"] == 2 and d["manifests"] == []' \
    "$cache/index.json" || hg_fail "index.json is not an empty OCI index"
hg_log "PASS"
