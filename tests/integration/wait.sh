# shellcheck shell=bash
# wait.sh — waiting for an event instead of sleeping a fixed time and
# hoping it happened. Sourced by sec/lib.sh and the tests that stand alone
# (t_05_http_edge, t_60_admin); it sets no shell options.

# wait_for SECONDS CMD...: runs CMD until it succeeds (returns 0), every
# 0.1 s, for at most SECONDS (returns 1). Give SECONDS generously: a busy
# machine gets the time it needs, an idle one waits no longer than the
# event takes. The test then asserts on the event it waited for.
wait_for() {
    local limit=$1 t0=$SECONDS
    shift
    until "$@"; do
        [ $((SECONDS - t0)) -lt "$limit" ] || return 1
        sleep 0.1
    done
}

# log_count FILE PATTERN: the number of lines of FILE matching the
# extended regular expression PATTERN (0 when there is no FILE).
log_count() {
    local n
    n=$(grep -cE -- "$2" "$1" 2>/dev/null) || true
    echo "${n:-0}"
}

# log_grows FILE PATTERN N: true once FILE has more than N lines matching
# PATTERN (for: remember N = log_count ..., signal, wait_for 10 log_grows).
log_grows() {
    [ "$(log_count "$1" "$2")" -gt "$3" ]
}
