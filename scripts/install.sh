#!/bin/sh
# install.sh - installs or removes hubgate; `make install` and `make uninstall`
# run it from the repository root, after `make hubgate`.
#
#   scripts/install.sh install      (sudo make install)
#   scripts/install.sh uninstall    (sudo make uninstall)
#
# Environment (defaults in brackets):
#   PREFIX      [/usr/local]           hubgate goes to PREFIX/bin
#   DESTDIR     []                     staging root, prepended to every path
#   SYSCONFDIR  [/etc]                 config in SYSCONFDIR/hubgate/hubgate.ini
#   UNITDIR     [/lib/systemd/system]  hubgate.service
#   MANDIR      [PREFIX/share/man]     hubgate.8 in MANDIR/man8
#   HUBGATE_BIN [./hubgate]            the binary to install
#
# install puts in place:
#   PREFIX/bin/hubgate, MANDIR/man8/hubgate.8, UNITDIR/hubgate.service (its
#   ExecStart names the real PREFIX and SYSCONFDIR),
#   SYSCONFDIR/hubgate/hubgate.ini: the commented default config. An existing
#     config is never overwritten: if it differs from the default, the default
#     goes to hubgate.ini.new next to it (said so on the terminal).
#   PREFIX/share/hubgate/hubgate.ini: the default config as shipped, for
#     `diff` and for uninstall to tell a changed config from the default.
#   PREFIX/share/hubgate/install.manifest: every file and directory install
#     added, so that uninstall removes exactly those.
# Without DESTDIR (a real install, as root) it also creates the `hubgate`
# system user (useradd --system) if missing, makes the config 0640
# root:hubgate, and runs `systemctl daemon-reload` when systemd runs. With
# DESTDIR nothing outside DESTDIR is touched and the config is 0644.
#
# uninstall removes what the manifest lists. It keeps a config that differs
# from the shipped default, the hubgate user, and the CA (/var/lib/hubgate);
# directories are removed only if install created them and they are empty.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-/lib/systemd/system}
MANDIR=${MANDIR:-$PREFIX/share/man}
HUBGATE_BIN=${HUBGATE_BIN:-$top/hubgate}

BINDIR=$PREFIX/bin
CONFDIR=$SYSCONFDIR/hubgate
CONF=$CONFDIR/hubgate.ini
SHAREDIR=$PREFIX/share/hubgate
MANIFEST=$SHAREDIR/install.manifest
USER_NAME=hubgate

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

for v in PREFIX SYSCONFDIR UNITDIR MANDIR; do
    eval "val=\$$v"
    # shellcheck disable=SC2154  # val is set by the eval
    case $val in
        /*) ;;
        *) die "$v must be an absolute path (got '$val')" ;;
    esac
done
case $DESTDIR in
    ''|/*) ;;
    *) DESTDIR=$(pwd)/$DESTDIR ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The manifest: one "dir PATH", "file PATH" or "config PATH" a line, paths
# without DESTDIR, in the order they were added. Old entries are kept across
# reinstalls, so a directory made by the first install stays recorded.
: >"$tmp/manifest"
if [ -f "$DESTDIR$MANIFEST" ]; then
    grep -E '^(dir|file|config) /' "$DESTDIR$MANIFEST" >"$tmp/manifest" || true
fi

record() {
    grep -qxF -- "$1 $2" "$tmp/manifest" || printf '%s %s\n' "$1" "$2" >>"$tmp/manifest"
}

# ensure_dir PATH: makes DESTDIR/PATH and its missing parents (mode 0755),
# recording each one made.
ensure_dir() {
    d=$1 missing=""
    while [ -n "$d" ] && [ "$d" != / ] && [ ! -d "$DESTDIR$d" ]; do
        missing="$d $missing"
        d=$(dirname "$d")
    done
    for d in $missing; do
        mkdir -m 0755 "$DESTDIR$d"
        record dir "$d"
        say "created directory $DESTDIR$d"
    done
}

# put SRC PATH MODE: installs SRC as DESTDIR/PATH unless it is already there
# with the same bytes and mode.
put() {
    src=$1 dst=$DESTDIR$2 mode=$3
    ensure_dir "$(dirname "$2")"
    if [ -f "$dst" ] && cmp -s "$src" "$dst" \
            && [ "$(stat -c %a "$dst")" = "${mode#0}" ]; then
        say "unchanged $dst"
    else
        install -m "$mode" "$src" "$dst.tmp.$$"
        mv -f "$dst.tmp.$$" "$dst"
        say "installed $dst"
    fi
}

# shipped_config OUT: the default config, made from the repository's sample
# conf/hubgate.ini (the one source of every key and its comment): the
# sample's CA dir, relative for `make run`, becomes the packaged default,
# commented out like every other default.
shipped_config() {
    src=$top/conf/hubgate.ini
    [ -f "$src" ] || die "no $src"
    grep -qx 'dir = var/ca' "$src" \
        || die "$src has no line 'dir = var/ca'; update shipped_config() in $0"
    # shellcheck disable=SC2016  # backquotes of the sample's text, not a command
    grep -qx 'dir = var/cache' "$src" \
        || die "$src has no line 'dir = var/cache'; update shipped_config() in $0"
    sed -e 's|^dir = var/ca$|;dir = /var/lib/hubgate|' \
        -e 's|^dir = var/cache$|;dir =|' \
        -e 's|^; This is the sample used by `make run` from the repository root; a packaged$|; An upgrade keeps your changes: a new default goes next to this file, as\
; hubgate.ini.new (make install) or hubgate.ini.dpkg-dist (the package).|' \
        -e 's|^; install reads /etc/hubgate/hubgate.ini. Every key shown commented out is$|; hubgate reads this file unless given -c FILE. Every key commented out is|' \
        -e 's|scripts/install-ca.sh|scripts/setup-docker.sh|' \
        "$src" >"$1"
}

# subst IN OUT: the unit or man page with the real paths, and the man
# page's title line with the version of the binary installed.
subst() {
    sed -e "s|/usr/local/bin/hubgate|$BINDIR/hubgate|g" \
        -e "s|^\\(\\.TH HUBGATE 8 \"[^\"]*\" \"hubgate\\)[^\"]*\"|\\1 $VERSION\"|" \
        -e "s|/usr/local/share/hubgate|$SHAREDIR|g" \
        -e "s|/etc/hubgate/hubgate.ini|$CONF|g" \
        -e "s|/lib/systemd/system/hubgate.service|$UNITDIR/hubgate.service|g" \
        "$1" >"$2"
}

systemd_running() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

do_install() {
    [ -x "$HUBGATE_BIN" ] || die "no hubgate binary at $HUBGATE_BIN: run make hubgate first"
    if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
        die "installing into / needs root: sudo make install (or set DESTDIR)"
    fi
    VERSION=$("$HUBGATE_BIN" --version | sed -n 's/^hubgate //p')
    [ -n "$VERSION" ] || die "$HUBGATE_BIN --version did not print 'hubgate VERSION'"
    shipped_config "$tmp/hubgate.ini"
    # The shipped config must be one this hubgate accepts.
    if ! out=$("$HUBGATE_BIN" -t -c "$tmp/hubgate.ini" 2>&1); then
        die "the default config does not pass hubgate -t: $out"
    fi
    subst "$top/dist/hubgate.service" "$tmp/hubgate.service"
    subst "$top/dist/hubgate.8" "$tmp/hubgate.8"

    if [ -z "$DESTDIR" ]; then
        if getent passwd "$USER_NAME" >/dev/null; then
            say "system user $USER_NAME exists"
        else
            say "creating system user $USER_NAME"
            useradd --system --user-group --home-dir /var/lib/hubgate --no-create-home \
                --shell /usr/sbin/nologin --comment "hubgate proxy" "$USER_NAME"
        fi
    else
        say "DESTDIR set: not creating the $USER_NAME user (the package must)"
    fi

    put "$HUBGATE_BIN" "$BINDIR/hubgate" 0755
    record file "$BINDIR/hubgate"
    put "$tmp/hubgate.8" "$MANDIR/man8/hubgate.8" 0644
    record file "$MANDIR/man8/hubgate.8"
    put "$tmp/hubgate.service" "$UNITDIR/hubgate.service" 0644
    record file "$UNITDIR/hubgate.service"
    put "$tmp/hubgate.ini" "$SHAREDIR/hubgate.ini" 0644
    record file "$SHAREDIR/hubgate.ini"

    # The config may come to hold upstream credentials: readable by the
    # service's group only, on a real install.
    cmode=0644
    if [ -z "$DESTDIR" ]; then cmode=0640; fi
    ensure_dir "$CONFDIR"
    if [ ! -e "$DESTDIR$CONF" ]; then
        put "$tmp/hubgate.ini" "$CONF" "$cmode"
        record config "$CONF"
        if [ -z "$DESTDIR" ]; then chgrp "$USER_NAME" "$DESTDIR$CONF"; fi
    elif cmp -s "$tmp/hubgate.ini" "$DESTDIR$CONF"; then
        say "unchanged $DESTDIR$CONF (the default)"
        record config "$CONF"
    else
        put "$tmp/hubgate.ini" "$CONF.new" "$cmode"
        record config "$CONF.new"
        if [ -z "$DESTDIR" ]; then chgrp "$USER_NAME" "$DESTDIR$CONF.new"; fi
        say "NOTE: kept your $DESTDIR$CONF (it differs from the default);"
        say "      the new default is $DESTDIR$CONF.new: diff -u $DESTDIR$CONF $DESTDIR$CONF.new"
    fi

    record file "$MANIFEST"
    {
        echo "# hubgate install manifest: what scripts/install.sh install added;"
        echo "# scripts/install.sh uninstall removes these (configs only if unchanged)."
        cat "$tmp/manifest"
    } >"$tmp/manifest.out"
    put "$tmp/manifest.out" "$MANIFEST" 0644

    if systemd_running; then
        say "running: systemctl daemon-reload"
        systemctl daemon-reload
    fi
    say "done. Next: sudo systemctl enable --now hubgate; sudo scripts/setup-docker.sh"
}

do_uninstall() {
    if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
        die "removing from / needs root: sudo make uninstall (or set DESTDIR)"
    fi
    if [ ! -f "$DESTDIR$MANIFEST" ]; then
        say "no $DESTDIR$MANIFEST: removing the default file list"
        {
            echo "file $BINDIR/hubgate"
            echo "file $MANDIR/man8/hubgate.8"
            echo "file $UNITDIR/hubgate.service"
            echo "file $SHAREDIR/hubgate.ini"
            echo "config $CONF"
            echo "config $CONF.new"
        } >"$tmp/manifest"
    fi
    # The default as shipped: the copy install left, else today's.
    if [ -f "$DESTDIR$SHAREDIR/hubgate.ini" ]; then
        cp "$DESTDIR$SHAREDIR/hubgate.ini" "$tmp/shipped.ini"
    else
        shipped_config "$tmp/shipped.ini"
    fi

    if systemd_running && [ -f "$UNITDIR/hubgate.service" ]; then
        say "running: systemctl disable --now hubgate.service"
        systemctl disable --now hubgate.service || say "(systemctl failed; continuing)"
    fi

    # Configs first (they are compared with the shipped copy), then files,
    # then directories, newest first.
    grep '^config ' "$tmp/manifest" | while read -r _ p; do
        f=$DESTDIR$p
        if [ ! -e "$f" ]; then
            :
        elif cmp -s "$f" "$tmp/shipped.ini"; then
            rm -f "$f"
            say "removed $f (the default)"
        else
            say "kept $f: it differs from the default (your changes)"
        fi
    done
    grep '^file ' "$tmp/manifest" | while read -r _ p; do
        f=$DESTDIR$p
        if [ -e "$f" ] || [ -L "$f" ]; then
            rm -f "$f"
            say "removed $f"
        fi
    done
    grep '^dir ' "$tmp/manifest" | tac | while read -r _ p; do
        d=$DESTDIR$p
        [ -d "$d" ] || continue
        if rmdir "$d" 2>/dev/null; then
            say "removed directory $d"
        else
            say "kept directory $d (not empty)"
        fi
    done
    if systemd_running; then
        say "running: systemctl daemon-reload"
        systemctl daemon-reload
    fi
    say "done. Kept: the $USER_NAME user, the CA in /var/lib/hubgate; undo the docker"
    say "      setup with: sudo scripts/setup-docker.sh --undo"
}

case ${1:-} in
    install) do_install ;;
    uninstall) do_uninstall ;;
    *) echo "usage: scripts/install.sh install|uninstall (env: PREFIX DESTDIR SYSCONFDIR UNITDIR MANDIR)" >&2
       exit 2 ;;
esac
