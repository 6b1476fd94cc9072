#!/bin/sh
# deps.sh — install what hubgate needs from Debian, only what is missing.
#   scripts/deps.sh              build dependencies
#   scripts/deps.sh --test       build and test dependencies (integration tests)
#   scripts/deps.sh --deb        what `make deb` needs: the packaging tools and
#                                debian/control's Build-Depends
#   scripts/deps.sh --deb-test   --deb, plus mmdebstrap for `make test-deb`
set -eu

BUILD="gcc make pkg-config libssl-dev libc-ares-dev libinih-dev libjansson-dev node-llhttp ca-certificates"
TEST="libcmocka-dev docker.io docker-registry skopeo nginx python3 python3-jwt \
python3-cryptography iproute2 curl openssl util-linux procps psmisc \
prometheus chromium bsdutils microsocks dante-server tinyproxy caddy \
clang libclang-rt-14-dev valgrind"
# The rest of the package build's needs come from debian/control (below), so
# that they are listed in one place.
DEB="dpkg-dev lintian"
DEB_TEST="mmdebstrap"

want="$BUILD"
deb=0
case ${1:-} in
    "") ;;
    --test) want="$want $TEST" ;;
    --deb) want="$DEB"; deb=1 ;;
    --deb-test) want="$DEB $DEB_TEST"; deb=1 ;;
    *) echo "usage: scripts/deps.sh [--test|--deb|--deb-test]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing Debian packages: $1" >&2
        echo "deps.sh: run as root, or: sudo $2" >&2
        exit 1
    fi
}

updated=0
if [ -n "$missing" ]; then
    need_root "$missing" "apt-get install$missing"
    echo "deps.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    updated=1
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
[ "$deb" = 1 ] || exit 0

# Build-Depends of debian/control (with the build profiles in
# DEB_BUILD_PROFILES, e.g. nocheck), checked by dpkg itself.
cd "$(dirname "$0")/.."
unmet=$(dpkg-checkbuilddeps 2>&1 >/dev/null) && exit 0
unmet=${unmet#*Unmet build dependencies: }
need_root "$unmet" "apt-get build-dep ./ (in $(pwd))"
echo "deps.sh: installing the build dependencies of debian/control: $unmet"
export DEBIAN_FRONTEND=noninteractive
[ "$updated" = 1 ] || apt-get update -qq
apt-get build-dep -y -qq --no-install-recommends ./
