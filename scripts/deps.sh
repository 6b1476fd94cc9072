#!/bin/sh
# deps.sh — install what hubgate needs from Debian, only what is missing.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   build and test dependencies (integration tests)
set -eu

BUILD="gcc make pkg-config libssl-dev libc-ares-dev libinih-dev node-llhttp ca-certificates"
TEST="libcmocka-dev docker.io docker-registry skopeo nginx python3 python3-jwt \
python3-cryptography iproute2 curl openssl util-linux procps psmisc \
prometheus chromium bsdutils microsocks dante-server tinyproxy caddy \
clang libclang-rt-14-dev valgrind"

want="$BUILD"
[ "${1:-}" = "--test" ] && want="$want $TEST"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
