#!/bin/sh
# run.sh — runs every unit test binary in DIR, then every integration test
# tests/integration/t_*.sh, and ends with one line "N passed, N failed".
#   tests/run.sh DIR               all
#   tests/run.sh --unit-only DIR   unit tests only
#   T=t_name tests/run.sh DIR      only integration tests whose name contains T
# An integration test exits 0 (pass), 77 (skipped: says why) or else (fail).
set -u
unit_only=0
if [ "${1:-}" = "--unit-only" ]; then unit_only=1; shift; fi
dir=${1:?usage: tests/run.sh [--unit-only] DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0 skipped=0
failures=""

for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi   # crashed before its summary
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" != 0 ] && failures="$failures $(basename "$t")"
done

if [ "$unit_only" = 0 ]; then
    for t in "$top"/tests/integration/t_*.sh; do
        [ -f "$t" ] || continue
        name=$(basename "$t" .sh)
        case "$name" in *"${T:-}"*) ;; *) continue ;; esac
        echo "=== $name"
        start=$(date +%s)
        bash "$t"; rc=$?
        took=$(( $(date +%s) - start ))
        case $rc in
            0) passed=$((passed + 1)); echo "=== $name: PASS (${took}s)" ;;
            77) skipped=$((skipped + 1)); echo "=== $name: SKIP (${took}s)" ;;
            *) failed=$((failed + 1)); failures="$failures $name"
               echo "=== $name: FAIL rc=$rc (${took}s)" ;;
        esac
    done
fi

[ -n "$failures" ] && echo "failed:$failures"
if [ "$skipped" != 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
