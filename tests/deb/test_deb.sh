#!/bin/bash
# test_deb.sh — the Debian package, end to end (`make test-deb`, as root):
#
#   1. `make deb` in this tree; lintian on the result: no E: or W: tag.
#   2. A second package from a copy of the tree (never this one) with the
#      version VERSION+test1 and a changed default config, so an upgrade
#      over an edited config must leave the new default as .dpkg-dist.
#   3. In a throwaway minbase root (mmdebstrap, of this host's Debian suite
#      and mirror; the tarball stays in build/deb-test/ for the next run,
#      until `make clean` or `make deb` clears build/):
#      install, check, upgrade, remove, purge, checking every step, and in
#      the end compare the root's file list with the one before install.
#
# No systemd runs there: the maintainer scripts' systemd calls are checked by
# reading them, and by a policy-rc.d that logs what deb-systemd-invoke is
# asked to do (start on install, restart on upgrade, stop on remove) and
# refuses it. Every chroot command runs in a mount namespace of its own, so
# no mount outlives it.
#
# One line per check, "ok - ..." or "not ok - ..."; the last line is
# "N passed, N failed"; the exit status is 0 only when nothing failed. Logs
# of every step go to build/deb-test/logs/.
#
# Environment: MIRROR (default: this host's apt sources), SUITE (default:
# this host's codename), DEB_JOBS (default 2).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
cache_dir=$top/build/deb-test
passed=0 failed=0 aborted=1
tmp=""

ok() { passed=$((passed + 1)); printf 'ok - %s\n' "$*"; }
nok() { failed=$((failed + 1)); printf 'not ok - %s\n' "$*"; }
# check DESC CMD...: one check; CMD's status decides.
check() {
    desc=$1; shift
    if "$@" >>"$tmp/logs/checks.log" 2>&1; then ok "$desc"; else nok "$desc"; fi
}
# fatal DESC: a step the rest depends on failed.
fatal() { nok "$*"; exit 1; }

cleanup() {
    rc=$?
    trap - EXIT INT TERM
    set +e
    if [ "$aborted" = 1 ] && [ "$failed" = 0 ]; then
        nok "the test stopped early (exit $rc); see the logs"
    fi
    if [ -n "$tmp" ] && [ -d "$tmp" ]; then
        # The chroot's mounts lived in namespaces that are gone; should one
        # remain, leave the directory rather than delete through it.
        if grep -q " $tmp/" /proc/mounts; then
            echo "test_deb.sh: mounts left under $tmp; not deleting it" >&2
        else
            mkdir -p "$cache_dir"
            # The minbase tarball, set aside while `make deb` cleaned build/.
            if [ -f "$tmp/root.tar" ] && [ -f "$tmp/root.tar.id" ]; then
                mv -f "$tmp/root.tar" "$tmp/root.tar.id" "$cache_dir/"
            fi
            rm -rf "$cache_dir/logs"
            cp -r "$tmp/logs" "$cache_dir/logs" 2>/dev/null || true
            rm -rf --one-file-system "$tmp"
        fi
    fi
    [ "$failed" = 0 ] || echo "logs: $cache_dir/logs"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ] && [ "$rc" = 0 ] || exit 1
    exit 0
}

if [ "$(id -u)" != 0 ]; then
    echo "test_deb.sh: run as root (sudo make test-deb): it builds a chroot and installs into it" >&2
    exit 1
fi
for c in dpkg-buildpackage lintian mmdebstrap unshare; do
    command -v "$c" >/dev/null || { echo "test_deb.sh: no $c: run scripts/deps.sh --deb-test (make test-deb does)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-test-deb.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$tmp/logs"
R=$tmp/root
# A cached tarball goes aside first: `make deb` cleans build/.
if [ -f "$cache_dir/root.tar" ] && [ -f "$cache_dir/root.tar.id" ]; then
    mv -f "$cache_dir/root.tar" "$cache_dir/root.tar.id" "$tmp/"
fi

# logged NAME CMD...: runs CMD with its output in logs/NAME.log; on failure
# shows the end of it.
logged() {
    name=$1; shift
    if "$@" >"$tmp/logs/$name.log" 2>&1; then return 0; fi
    tail -n 25 "$tmp/logs/$name.log" | sed 's/^/    | /'
    return 1
}

# ------------------------------------------------------------------ 1. build, lint

arch=$(dpkg --print-architecture)
ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
deb1=$(dirname "$top")/hubgate_${ver}_${arch}.deb
rm -f "$deb1"
logged build1 make -C "$top" deb DEB_JOBS="${DEB_JOBS:-2}" || fatal "make deb builds the package"
[ -f "$deb1" ] || fatal "make deb made $deb1"
ok "make deb built $deb1"
check "make deb says where the package is" grep -qF "make deb: built $deb1" "$tmp/logs/build1.log"

changes=${deb1%.deb}.changes
lintian "$changes" >"$tmp/logs/lintian.log" 2>&1 || true
sed 's/^/    | /' "$tmp/logs/lintian.log"
if grep -qE '^[EW]: ' "$tmp/logs/lintian.log"; then nok "lintian: no errors, no warnings"
else ok "lintian: no errors, no warnings"; fi

# ------------------------------------------------------------------ 2. the newer build

ver2=$ver+test1
src=$tmp/src/hubgate
mkdir -p "$src"
tar -C "$top" --exclude=./.git --exclude=./build --exclude=./var --exclude=./hubgate -cf - . \
    | tar -C "$src" -xf -
{
    printf 'hubgate (%s) unstable; urgency=medium\n\n' "$ver2"
    printf '  * Test build of tests/deb/test_deb.sh, with a changed default config.\n\n'
    printf ' -- hubgate developers <hubgate@example.org>  %s\n\n' "$(date -R)"
    cat "$top/debian/changelog"
} >"$src/debian/changelog"
marker="; default changed by the test build $ver2"
printf '%s\n' "$marker" >>"$src/conf/hubgate.ini"
deb2=$tmp/src/hubgate_${ver2}_${arch}.deb
DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck \
    logged build2 make -C "$src" deb DEB_JOBS="${DEB_JOBS:-2}" || fatal "make deb builds the $ver2 package"
[ -f "$deb2" ] || fatal "the $ver2 build made $deb2"
ok "a copy of the tree with version $ver2 builds $deb2"

# ------------------------------------------------------------------ 3. the throwaway root

# The suite and mirror of this host, so the chroot matches what the package
# was built against.
# shellcheck disable=SC1091  # the host's, read at run time
suite=${SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
host_mirror() {
    # One-line sources: "deb [opts] URI SUITE COMPONENTS".
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk -v s="$suite" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i ~ /^[a-z+]+:\/\// && $(i + 1) == s) { print $i; exit } }'
    # deb822 sources: the first URI of a stanza whose Suites name SUITE.
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk -v s="$suite" 'BEGIN { RS = "" }
            { u = ""; hit = 0; off = 0
              n = split($0, line, "\n")
              for (i = 1; i <= n; i++) {
                  if (line[i] ~ /^URIs:/) { split(line[i], f, /[ \t]+/); u = f[2] }
                  if (line[i] ~ /^Suites:/) { m = split(line[i], f, /[ \t]+/); for (j = 2; j <= m; j++) if (f[j] == s) hit = 1 }
                  if (line[i] ~ /^Enabled:[ \t]*no/) off = 1
              }
              if (hit && !off && u != "") { print u; exit } }'
}
mirror=${MIRROR:-$(host_mirror | head -n 1)}
[ -n "$mirror" ] || fatal "no $suite mirror found in /etc/apt/sources.list*: set MIRROR=URL"
id="$suite minbase $mirror"
if [ -f "$tmp/root.tar" ] && [ "$(cat "$tmp/root.tar.id" 2>/dev/null)" = "$id" ] \
        && [ -n "$(find "$tmp/root.tar" -mtime -7)" ]; then
    ok "minbase $suite root: reused the tarball of an earlier run"
else
    rm -f "$tmp/root.tar" "$tmp/root.tar.id"
    logged mmdebstrap mmdebstrap --variant=minbase "$suite" "$tmp/root.tar" "$mirror" \
        || fatal "mmdebstrap --variant=minbase $suite from $mirror"
    printf '%s\n' "$id" >"$tmp/root.tar.id"
    ok "minbase $suite root made by mmdebstrap from $mirror"
fi
mkdir "$R"
tar -C "$R" --numeric-owner -xpf "$tmp/root.tar"
cp /etc/resolv.conf "$R/etc/resolv.conf"
cp "$deb1" "$deb2" "$R/tmp/"

# in_root CMD...: CMD in the chroot, with /proc, in a private mount namespace.
# shellcheck disable=SC2016  # $0 and $@ are the inner shell's
in_root() {
    unshare --mount --propagation private -- \
        sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$R" \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"
}
apt_in_root() { in_root apt-get -y -o Dpkg::Use-Pty=0 "$@"; }

logged apt-update apt_in_root update || fatal "apt-get update in the chroot"
# The package's dependencies first, so that the file lists before install
# and after purge differ by hubgate's traces alone.
depends=$(dpkg-deb -f "$deb1" Depends)
logged depends apt_in_root satisfy "$depends" || fatal "apt-get satisfy '$depends' in the chroot"

# No systemd runs here. /run/systemd/system makes the maintainer scripts
# call deb-systemd-invoke, which asks policy-rc.d first ("UNIT ACTION"):
# this one logs the question and says no (101).
mkdir -p "$R/run/systemd/system"
printf '#!/bin/sh\necho "$*" >>/tmp/systemd.log\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"

# snapshot: every file of the chroot with type, mode and owner, but for
# apt's and dpkg's bookkeeping, logs, caches, and the user database backups.
snapshot() {
    in_root find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
        -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/cache/apt \
        -o -path /var/cache/debconf -o -path /var/cache/ldconfig -o -path /var/log \) -prune \
        -o -printf '%y %m %U:%G %p\n' \
        | grep -vE ' /etc/(passwd|group|shadow|gshadow)-$' | sort
}
snapshot >"$tmp/before.txt"
calls() { cat "$R/tmp/systemd.log" 2>/dev/null; : >"$R/tmp/systemd.log"; }

# ------------------------------------------------------------------ install

logged install apt_in_root install "/tmp/${deb1##*/}" || fatal "apt-get install ./${deb1##*/} in the chroot"
ok "apt-get install ./${deb1##*/}: dependencies resolved, installed"
installed_calls=$(calls)

# shellcheck disable=SC2016  # dpkg-query's fields
status() { in_root dpkg-query -W -f='${Status} ${Version}' hubgate 2>/dev/null; }
# has FILE TEXT...: FILE holds every TEXT (fixed strings).
has() { f=$1; shift; for t in "$@"; do grep -qF -- "$t" "$f" || return 1; done; }
# out_has TEXT CMD...: CMD succeeds and prints TEXT.
out_has() { t=$1; shift; o=$("$@") && grep -qF -- "$t" <<<"$o"; }
# shellcheck disable=SC2016  # dpkg-query's fields
conffiles() { in_root dpkg-query -W -f='${Conffiles}\n' hubgate; }
dry_run_defaults() {
    o=$(in_root hubgate-setup-docker --dry-run) \
        && grep -qF 'local mode: config /etc/hubgate/hubgate.ini' <<<"$o" \
        && grep -qF 'would run: /usr/bin/hubgate ca-new' <<<"$o"
}
user_gone() { ! in_root getent passwd hubgate && ! in_root getent group hubgate; }
no_override() { ! in_root dpkg-statoverride --list /etc/hubgate/hubgate.ini; }
not_installed() { s=$(status || true); [ -z "$s" ] || [ "${s#*ok }" = "not-installed " ]; }
check "dpkg: hubgate $ver installed" test "$(status)" = "install ok installed $ver"
check "hubgate --version prints the changelog's version $ver" test "$(in_root hubgate --version)" = "hubgate $ver"
check "man pages: hubgate(8), hubgate-setup-docker(8)" \
    test -f "$R/usr/share/man/man8/hubgate.8.gz" -a -f "$R/usr/share/man/man8/hubgate-setup-docker.8.gz"
check "man page title carries version $ver" out_has "\"hubgate $ver\"" zcat "$R/usr/share/man/man8/hubgate.8.gz"
check "conffile: /etc/hubgate/hubgate.ini" out_has ' /etc/hubgate/hubgate.ini ' conffiles
check "shipped default /usr/share/hubgate/hubgate.ini equals the installed config" \
    cmp "$R/usr/share/hubgate/hubgate.ini" "$R/etc/hubgate/hubgate.ini"
check "unit /lib/systemd/system/hubgate.service: ExecStart=/usr/bin/hubgate" \
    grep -qx 'ExecStart=/usr/bin/hubgate -c /etc/hubgate/hubgate.ini' "$R/lib/systemd/system/hubgate.service"
check "unit enabled (multi-user.target.wants)" \
    test "$(readlink "$R/etc/systemd/system/multi-user.target.wants/hubgate.service")" = /lib/systemd/system/hubgate.service
check "install asked systemd to start hubgate.service" \
    grep -qx 'hubgate.service start' <<<"$installed_calls"
check "hubgate-setup-docker --help" out_has '  hubgate-setup-docker --undo' in_root hubgate-setup-docker --help
check "hubgate-setup-docker's defaults: /usr/bin/hubgate and /etc/hubgate/hubgate.ini (--dry-run)" dry_run_defaults
check "system user hubgate: home /var/lib/hubgate, no shell" \
    out_has ':/var/lib/hubgate:/usr/sbin/nologin' in_root getent passwd hubgate
check "system group hubgate" in_root getent group hubgate
conf_mode() { in_root stat -c '%a %U:%G' /etc/hubgate/hubgate.ini; }
check "config root:hubgate 0640" test "$(conf_mode)" = "640 root:hubgate"
check "statoverride root hubgate 640 on the config" \
    test "$(in_root dpkg-statoverride --list /etc/hubgate/hubgate.ini)" = "root hubgate 640 /etc/hubgate/hubgate.ini"
check "CA dir /var/lib/hubgate hubgate:hubgate 0700" \
    test "$(in_root stat -c '%a %U:%G' /var/lib/hubgate)" = "700 hubgate:hubgate"
check "user hubgate reads the config (hubgate -t)" \
    in_root setpriv --reuid hubgate --regid hubgate --init-groups hubgate -t -c /etc/hubgate/hubgate.ini
check "dpkg --verify hubgate: nothing changed" test -z "$(in_root dpkg --verify hubgate)"
check "postinst enables the unit (deb-systemd-helper enable)" \
    grep -q "deb-systemd-helper enable 'hubgate.service'" "$R/var/lib/dpkg/info/hubgate.postinst"
# shellcheck disable=SC2016  # the scripts' text
check "postinst starts on install, restarts on upgrade (deb-systemd-invoke)" \
    has "$R/var/lib/dpkg/info/hubgate.postinst" '_dh_action=restart' '_dh_action=start' \
    "deb-systemd-invoke \$_dh_action 'hubgate.service'"
# shellcheck disable=SC2016  # the scripts' text
check "prerm stops the unit on remove" \
    has "$R/var/lib/dpkg/info/hubgate.prerm" '[ "$1" = remove ]' "deb-systemd-invoke stop 'hubgate.service'"
check "postinst runs again cleanly (configure $ver)" \
    in_root env DPKG_MAINTSCRIPT_PACKAGE=hubgate DPKG_MAINTSCRIPT_NAME=postinst \
    /var/lib/dpkg/info/hubgate.postinst configure "$ver"
calls >/dev/null

# ------------------------------------------------------------------ upgrade

# The admin edits the config; the CA exists.
sed -i 's/^;max_connections = 4096$/max_connections = 1000/' "$R/etc/hubgate/hubgate.ini"
cp "$R/etc/hubgate/hubgate.ini" "$tmp/edited.ini"
check "the edited config passes hubgate -t" in_root hubgate -t -c /etc/hubgate/hubgate.ini
check "hubgate ca-new makes the CA in /var/lib/hubgate" in_root hubgate ca-new -c /etc/hubgate/hubgate.ini
ca_sums() { (cd "$R/var/lib/hubgate" && sha256sum ca.crt ca.key); }
ca_sums >"$tmp/ca.sum" 2>/dev/null || true

logged upgrade apt_in_root -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    install "/tmp/${deb2##*/}" || fatal "apt-get install ./${deb2##*/} (upgrade) in the chroot"
ok "upgrade to $ver2, non-interactive"
upgrade_calls=$(calls)
check "dpkg: hubgate $ver2 installed" test "$(status)" = "install ok installed $ver2"
check "hubgate --version prints $ver2" test "$(in_root hubgate --version)" = "hubgate $ver2"
check "upgrade kept the edited hubgate.ini" cmp "$tmp/edited.ini" "$R/etc/hubgate/hubgate.ini"
check "upgrade left the new default as hubgate.ini.dpkg-dist" grep -qxF "$marker" "$R/etc/hubgate/hubgate.ini.dpkg-dist"
check "config still root:hubgate 0640 after upgrade" test "$(conf_mode)" = "640 root:hubgate"
ca_kept() { [ -s "$tmp/ca.sum" ] && (cd "$R/var/lib/hubgate" && sha256sum -c --quiet "$tmp/ca.sum"); }
check "upgrade kept the CA" ca_kept
check "upgrade asked systemd to restart hubgate.service" \
    grep -qx 'hubgate.service restart' <<<"$upgrade_calls"
check "upgrade did not stop the service first" test -z "$(grep 'hubgate.service stop' <<<"$upgrade_calls")"

# ------------------------------------------------------------------ remove

# What hubgate-setup-docker leaves (as it would write them): not the
# package's, so neither remove nor purge may touch them.
dropin=/etc/systemd/system/docker.service.d/http-proxy.conf
trust=/usr/local/share/ca-certificates/hubgate.crt
mkdir -p "$R${dropin%/*}" "$R${trust%/*}"
echo "# Written by hubgate's scripts/setup-docker.sh" >"$R$dropin"
cp "$R/var/lib/hubgate/ca.crt" "$R$trust"
printf 'file %s %s\nfile %s %s\n' "$(sha256sum <"$R$dropin" | cut -d' ' -f1)" "$dropin" \
    "$(sha256sum <"$R$trust" | cut -d' ' -f1)" "$trust" >"$R/var/lib/hubgate/setup-docker.state"
mkdir -p "$R/var/cache/hubgate" && echo cached >"$R/var/cache/hubgate/blob"

logged remove apt_in_root remove hubgate || fatal "apt-get remove hubgate in the chroot"
ok "apt-get remove hubgate"
remove_calls=$(calls)
check "dpkg: hubgate removed, config files kept" test "$(status)" = "deinstall ok config-files $ver2"
check "remove asked systemd to stop hubgate.service" grep -qx 'hubgate.service stop' <<<"$remove_calls"
check "remove deleted /usr/bin/hubgate and the unit" \
    test ! -e "$R/usr/bin/hubgate" -a ! -e "$R/lib/systemd/system/hubgate.service" -a ! -e "$R/usr/sbin/hubgate-setup-docker"
check "remove kept /etc/hubgate/hubgate.ini, as edited" cmp "$tmp/edited.ini" "$R/etc/hubgate/hubgate.ini"
check "remove kept the CA" ca_kept
check "remove kept the hubgate user" in_root getent passwd hubgate
check "remove says hubgate-setup-docker --undo is still to do" grep -q 'hubgate-setup-docker --undo' "$tmp/logs/remove.log"

# ------------------------------------------------------------------ purge

logged purge apt_in_root purge hubgate || fatal "apt-get purge hubgate in the chroot"
ok "apt-get purge hubgate"
check "dpkg: hubgate gone" not_installed
check "purge removed /etc/hubgate" test ! -e "$R/etc/hubgate"
check "purge removed /var/lib/hubgate (the CA)" test ! -e "$R/var/lib/hubgate"
check "purge removed /var/cache/hubgate" test ! -e "$R/var/cache/hubgate"
check "purge removed the hubgate user and group" user_gone
check "purge removed the statoverride" no_override
check "purge kept docker's drop-in and the trusted CA (only --undo removes them)" test -f "$R$dropin" -a -f "$R$trust"
check "purge names the files hubgate-setup-docker left" grep -q "hubgate:   $dropin" "$tmp/logs/purge.log"
rm -f "$R$dropin" "$R$trust"
rmdir "$R${dropin%/*}"
# left_files: the packages' files (not directories) still in the chroot.
left_files() {
    { dpkg-deb -c "$deb1"; dpkg-deb -c "$deb2"; } | awk '$1 !~ /^d/ { print substr($6, 2) }' | sort -u \
        | while read -r f; do if [ -e "$R$f" ] || [ -L "$R$f" ]; then echo "$f"; fi; done
}
check "no file of either package is left" test -z "$(left_files)"
snapshot >"$tmp/after.txt"
if diff -u "$tmp/before.txt" "$tmp/after.txt" >"$tmp/logs/snapshot.diff"; then
    ok "the chroot's files after purge are those before install"
else
    nok "the chroot's files after purge are those before install"
    grep '^[-+][^-+]' "$tmp/logs/snapshot.diff" | head -n 20 | sed 's/^/    | /'
fi

aborted=0
