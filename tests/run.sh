#!/bin/sh
# run.sh — runs every unit test binary in DIR, then every integration test
# tests/integration/t_*.sh, and ends with one line "N passed, N failed".
#   tests/run.sh DIR               all
#   tests/run.sh --unit-only DIR   unit tests only
#   T=t_name tests/run.sh DIR      only integration tests whose name contains T
#   TEST_TIMEOUT=S tests/run.sh .. a time limit of S seconds for every test
#                                  (default: 120 for a unit binary, 600 for
#                                  an integration script)
# An integration test exits 0 (pass), 77 (skipped: says why) or else (fail).
# Before that last line, every failed test is summed up again (its last
# steps, why it failed, hubgate's log), so that a log that keeps only its
# tail still says why.
# A test still running at its limit counts as failed and says "timed out
# after S s", so one hung test cannot stop the run: its process group gets
# SIGTERM (an integration test's trap then removes its namespaces), and
# SIGKILL 30 s later if it is still there (t_10 alone gives dockerd 20 s to
# stop in its cleanup).
set -u
unit_only=0
if [ "${1:-}" = "--unit-only" ]; then unit_only=1; shift; fi
dir=${1:?usage: tests/run.sh [--unit-only] DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
unit_limit=${TEST_TIMEOUT:-120}
integ_limit=${TEST_TIMEOUT:-600}
case "$unit_limit" in
    ''|*[!0-9]*) echo "run.sh: TEST_TIMEOUT is '$unit_limit'; give a number of seconds" >&2
                 exit 2 ;;
esac
passed=0 failed=0 skipped=0
failures=""
child=""
out=$(mktemp "${TMPDIR:-/tmp}/hubgate-run.XXXXXX") || exit 2
# the last lines of each failed integration test, printed again at the end
# (where a long run's tail, all a CI log may keep, shows why it failed)
details=$(mktemp "${TMPDIR:-/tmp}/hubgate-run-fail.XXXXXX") || exit 2

# timeout(1) puts the test in a process group of its own (so that a
# timeout reaches the test's children too), which the terminal's ^C no
# longer reaches: pass it on ourselves.
stop_child() {
    [ -z "$child" ] || { kill "-$1" "$child" 2>/dev/null; wait "$child"; }
    rm -f "$out" "$details"
}
trap 'stop_child INT; exit 130' INT
trap 'stop_child TERM; exit 143' TERM
trap 'rm -f "$out" "$details"' EXIT

# limited LIMIT CMD...: CMD under timeout(1); sets rc to its exit status
# and timed_out to 1 when it ran out of time. 124 or 137 alone does not
# say so: a test may exit 124 itself (set -e after a failed timeout ...).
limited() {
    limit=$1
    shift
    t0=$(date +%s)
    timeout --kill-after=30 "$limit" "$@" &
    child=$!
    wait "$child"; rc=$?
    child=""
    took=$(( $(date +%s) - t0 ))
    timed_out=0
    if { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ "$took" -ge "$limit" ]; then
        timed_out=1
    fi
}

for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    limited "$unit_limit" "$t" >"$out" 2>&1
    cat "$out"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    if [ "$timed_out" = 1 ]; then
        echo "$(basename "$t"): timed out after $unit_limit s"
        f=$((f + 1))
    elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1     # crashed before its summary
    fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" != 0 ]; then
        failures="$failures $(basename "$t")"
        { echo "--- $(basename "$t"): its last 40 lines:"; tail -n 40 "$out"; } >>"$details"
    fi
done

if [ "$unit_only" = 0 ]; then
    for t in "$top"/tests/integration/t_*.sh; do
        [ -f "$t" ] || continue
        name=$(basename "$t" .sh)
        case "$name" in *"${T:-}"*) ;; *) continue ;; esac
        echo "=== $name"
        # in the background: stdin is /dev/null (as sh would make it anyway)
        limited "$integ_limit" bash "$t" </dev/null >"$out" 2>&1
        cat "$out"
        verdict=""
        if [ "$timed_out" = 1 ]; then
            verdict="FAIL: timed out after $integ_limit s"
        else
            case $rc in
                0) passed=$((passed + 1)); echo "=== $name: PASS (${took}s)" ;;
                77) skipped=$((skipped + 1)); echo "=== $name: SKIP (${took}s)" ;;
                *) verdict="FAIL rc=$rc (${took}s)" ;;
            esac
        fi
        if [ -n "$verdict" ]; then
            failed=$((failed + 1)); failures="$failures $name"
            echo "=== $name: $verdict"
            {
                echo "--- $name: $verdict"
                grep -E '^(FAIL|ok|# )' "$out" | tail -n 12
                # hubgate's own log, out of the test's dump of its logs
                awk '/^-------- hubgate[^ ]*\.log: /{p=1; print; next} /^(--------|========) /{p=0} p' "$out"
            } >>"$details"
        fi
    done
fi

if [ -n "$failures" ]; then
    cat "$details"
    echo "failed:$failures"
fi
if [ "$skipped" != 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
