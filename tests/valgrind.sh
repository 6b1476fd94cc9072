#!/bin/sh
# valgrind.sh — runs every unit test binary in DIR under valgrind's memcheck
# (leaks and invalid accesses fail). Skipped for sanitizer builds, which
# valgrind cannot run.
set -u
dir=${1:?usage: tests/valgrind.sh DIR}
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (apt-get install valgrind)"; exit 1; }
rc=0
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    if valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=9 "$t" >"$t.valgrind.log" 2>&1; then
        echo "valgrind ok   $(basename "$t")"
    else
        echo "valgrind FAIL $(basename "$t") (see $t.valgrind.log)"
        rc=1
    fi
done
exit $rc
