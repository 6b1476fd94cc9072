#!/bin/bash
# run.sh — builds hubgate's libFuzzer targets into build/fuzz/ and runs each.
#
#   tests/fuzz/run.sh [SECONDS]     build, replay, fuzz each target SECONDS (30)
#   tests/fuzz/run.sh 0             build and replay only (no fuzzing)
#   FUZZ_TARGETS="config socks5_reply" tests/fuzz/run.sh 60    some targets
#
# For each target, in order:
#   1. replays tests/fuzz/regress/<target>/* (every crash ever found, kept as
#      a regression input) and the seed corpus tests/fuzz/corpus/<target>/;
#   2. fuzzes for SECONDS with -max_total_time, the HTTP dictionary for the
#      HTTP targets. New corpus entries go to build/fuzz/work/<target>/
#      (kept between runs, outside git); the committed seeds are only read.
#      A crash input lands in build/fuzz/artifacts/<target>/.
# Each fuzzer's output goes to build/fuzz/logs/<target>.log; only a summary
# is printed. Exits 0 when every replay and run was clean, 1 when one
# crashed (its input, log and a command to reproduce are named), 2 when the
# toolchain is missing (clang 14, libclang-rt-14-dev).
#
# A crash found here becomes tests/fuzz/regress/<target>/<name> (copy the
# artifact there) in the same change as its fix.
set -u

secs=${1:-30}
case $secs in *[!0-9]*|"") echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
fz=tests/fuzz
out=build/fuzz
CC=${FUZZ_CC:-clang}
LLHTTP_DIR=/usr/share/llhttp
LLHTTP_INC=/usr/share/include/llhttp
ALL_TARGETS="http1_request http1_response connect_target socks5_reply config"
targets=${FUZZ_TARGETS:-$ALL_TARGETS}

# Sources each target links, besides its own fuzz_<target>.c.
srcs_of() {
    case $1 in
        http1_request)  echo mitm/http/http1.c mitm/http/hdr.c base/uri.c base/buf.c base/json.c ;;
        http1_response) echo mitm/http/http1.c mitm/http/hdr.c base/buf.c base/json.c ;;
        connect_target) echo base/addr.c base/uri.c proxy/core/link.c ;;
        socks5_reply)   echo proxy/up/socks5.c base/buf.c ;;
        config)         echo proxy/core/config.c proxy/core/config_value.c proxy/core/config_secret.c \
                             proxy/core/config_creds.c proxy/core/registry.c proxy/core/links.c \
                             base/addr.c proxy/core/link.c base/uri.c ;;
        *) return 1 ;;
    esac
}
needs_llhttp() { case $1 in http1_*) return 0 ;; *) return 1 ;; esac; }
uses_dict() { case $1 in http1_*|connect_target) return 0 ;; *) return 1 ;; esac; }

command -v "$CC" >/dev/null 2>&1 || { echo "fuzz: no $CC (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}\n' >"$probe/p.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >"$probe/log" 2>&1; then
    echo "fuzz: $CC cannot link libFuzzer (apt-get install libclang-rt-14-dev):" >&2
    head -n 5 "$probe/log" >&2
    exit 2
fi
[ -f "$LLHTTP_DIR/llhttp.c" ] || { echo "fuzz: no $LLHTTP_DIR/llhttp.c (apt-get install node-llhttp)" >&2; exit 2; }

SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
CFLAGS_F="-g -O1 $SAN -D_DEFAULT_SOURCE -D_GNU_SOURCE -I. -I$LLHTTP_INC"
PKG=$(pkg-config --cflags --libs openssl libcares inih jansson 2>/dev/null)
mkdir -p "$out/llhttp" "$out/logs"

# llhttp once, instrumented (coverage guides the fuzzer through its states),
# without -Werror: not our code, not warning-free.
for f in llhttp api http; do
    o=$out/llhttp/$f.o
    if [ ! -f "$o" ] || [ "$LLHTTP_DIR/$f.c" -nt "$o" ]; then
        echo "  CC      $LLHTTP_DIR/$f.c (llhttp, fuzz)"
        "$CC" -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
            -I"$LLHTTP_INC" -c -o "$o" "$LLHTTP_DIR/$f.c" || exit 1
    fi
done

build_failed=""
for t in $targets; do
    s=$(srcs_of "$t") || { echo "fuzz: unknown target $t" >&2; exit 2; }
    extra=()
    needs_llhttp "$t" && extra=("$out/llhttp/llhttp.o" "$out/llhttp/api.o" "$out/llhttp/http.o")
    echo "  CCLD    $out/fuzz_$t"
    # shellcheck disable=SC2086  # word lists on purpose
    if ! "$CC" $CFLAGS_F -Wall -Wextra -Werror -Wno-sign-compare -o "$out/fuzz_$t.tmp" \
            "$fz/fuzz_$t.c" $s "${extra[@]}" $PKG >"$out/logs/build_$t.log" 2>&1; then
        echo "fuzz: building fuzz_$t failed:" >&2
        head -n 30 "$out/logs/build_$t.log" >&2
        build_failed="$build_failed $t"
        continue
    fi
    mv -f "$out/fuzz_$t.tmp" "$out/fuzz_$t"
done
[ -z "$build_failed" ] || { echo "fuzz: build failed:$build_failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=""
for t in $targets; do
    bin=$out/fuzz_$t log=$out/logs/$t.log
    mkdir -p "$out/work/$t" "$out/artifacts/$t"
    : >"$log"
    # 1. every regression input, then every seed, once each
    inputs=()
    for f in "$fz/regress/$t"/* "$fz/corpus/$t"/*; do
        [ -f "$f" ] && inputs+=("$f")
    done
    if [ "${#inputs[@]}" -gt 0 ]; then
        if ! timeout 300 "$bin" -runs=1 -timeout=10 "${inputs[@]}" >"$log.replay" 2>&1; then
            echo "FAIL $t: a regression or seed input crashes; last lines of $log.replay:"
            grep -aE '^(Running|==[0-9]+==ERROR|SUMMARY|.*invariant broken)' "$log.replay" \
                | tail -n 8
            failed="$failed $t"
            continue
        fi
        echo "ok   $t: replayed ${#inputs[@]} regression and seed inputs"
    fi
    [ "$secs" = 0 ] && continue
    # 2. fuzz
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384
          -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/")
    uses_dict "$t" && args+=(-dict="$fz/http.dict")
    # the work dir first: libFuzzer adds new inputs to the first directory
    timeout $((secs + 120)) "$bin" "${args[@]}" "$out/work/$t" "$fz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -aEo 'cov: [0-9]+' "$log" | tail -n 1)
    if [ "$rc" != 0 ]; then
        art=$(grep -aEo "$out/artifacts/$t/[a-z]+-[0-9a-f]+" "$log" | tail -n 1)
        echo "FAIL $t: rc=$rc after ${execs:-?} runs; input: ${art:-none}; log: $log"
        grep -aE '==[0-9]+==ERROR|SUMMARY|invariant broken|runtime error' "$log" | head -n 5
        [ -n "$art" ] && echo "     reproduce: $bin $art"
        failed="$failed $t"
    else
        echo "ok   $t: ${secs}s, ${execs:-?} runs, ${cov:-cov ?}, corpus $(find "$out/work/$t" -type f | wc -l) in $out/work/$t"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed"
    exit 1
fi
echo "fuzz: all clean ($targets)"
