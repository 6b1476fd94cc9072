#!/bin/sh
# setup-docker.sh - points this host's dockerd (and containerd, or k3s's
# containerd on a Kubernetes node) at hubgate, trusting its CA. Run as root.
#
#   scripts/setup-docker.sh [--config FILE] [--hubgate PATH] [--containerd]
#                           [--k3s[=server|agent]] [--no-proxy LIST]
#   scripts/setup-docker.sh --proxy http://GATEWAY:3128 --ca-sha256 HEX
#                           [--admin http://GATEWAY:3129] [--containerd] [--k3s]
#   scripts/setup-docker.sh --undo
# Common options: --dry-run (print what would change, change nothing),
# --root DIR (write every file under DIR instead of /; for tests).
#
# Local mode (hubgate runs on this host), steps:
#   1. CA: `hubgate -t -c FILE`, then `hubgate ca-new -c FILE` if the [ca]
#      dir has no CA, or `hubgate ca-new --force` when `hubgate ca-new
#      --check` says the CA does not permit every intercepted name (a
#      registry was added) (ca.key mode 0600; CA dir and files owned by the
#      hubgate user when it exists). Its certificate is installed as
#      /usr/local/share/ca-certificates/hubgate.crt (re-encoded by openssl,
#      one certificate, mode 0644).
#   2. /etc/systemd/system/docker.service.d/http-proxy.conf with HTTP_PROXY
#      and HTTPS_PROXY = http://[proxy] listen (0.0.0.0 -> 127.0.0.1,
#      [::] -> [::1]) and NO_PROXY = localhost,127.0.0.0/8,::1 plus this
#      host's `hostname` and `hostname -f`. Existing settings are never
#      clobbered: a drop-in (or /etc/default/docker, or daemon.json
#      "proxies") that sets HTTP(S)_PROXY to another value stops the script;
#      an http-proxy.conf holding anything else is kept and ours goes to
#      hubgate-proxy.conf (read after it); a NO_PROXY found there is merged
#      into ours. The same proxy with a user (http://NAME:PASS@host:port,
#      needed when [proxy] users is set: put it in a drop-in of your own) is
#      not another proxy.
#   3. --containerd: the same for containerd.service. On a Kubernetes node
#      (kubeadm style: /etc/kubernetes/kubelet.conf or
#      /var/lib/kubelet/config.yaml exists) containerd's NO_PROXY also gets
#      .svc, .CLUSTER-DOMAIN (cluster.local), the service CIDR
#      (--service-cluster-ip-range of the kube-apiserver manifest, else
#      kubeadm's default 10.96.0.0/12), the pod CIDR (--cluster-cidr of the
#      kube-controller-manager manifest, or FLANNEL_NETWORK of
#      /run/flannel/subnet.env; else a note asks for --no-proxy), the API
#      server's host (kubelet.conf "server:") and this host's addresses
#      (hostname -I, without fe80::).
#      --k3s: k3s runs containerd inside k3s.service (server) or
#      k3s-agent.service (agent; --k3s alone picks the one whose unit or
#      env file is in /etc/systemd/system). Its env file
#      /etc/systemd/system/k3s[-agent].service.env gets a block of
#      CONTAINERD_HTTP_PROXY, CONTAINERD_HTTPS_PROXY, CONTAINERD_NO_PROXY
#      (containerd only: k3s's own API traffic stays direct) between two
#      marker lines; the file's other lines, mode and owner are kept, and
#      only the block is printed (the file may hold K3S_TOKEN). NO_PROXY
#      gets the cluster entries as above from k3s's flags or
#      /etc/rancher/k3s/config.yaml (defaults 10.42.0.0/16, 10.43.0.0/16,
#      cluster.local) and, for an agent, K3S_URL's host. A different proxy
#      in that file, /etc/default/k3s[-agent], /etc/sysconfig/k3s[-agent],
#      the unit or its drop-ins stops the script. With --containerd (on a
#      Kubernetes node) or --k3s, docker is skipped unless docker.service
#      is installed.
#   --no-proxy LIST: entries (comma-separated) appended to every NO_PROXY
#      written.
#   4. update-ca-certificates if the CA file changed; systemctl daemon-reload
#      and restart of docker (containerd, then k3s, first) if its drop-in
#      (env file) or the CA changed; then `hubgate doctor -c FILE`, whose
#      failure fails the script. Go's crypto/x509 (dockerd, containerd,
#      k3s) reads /etc/ssl/certs/ca-certificates.crt once, at start: that
#      restart is all a new CA needs. With --containerd or --k3s, the
#      crictl pull to check with is printed ("check:").
# Fleet mode (--proxy: hubgate runs on GATEWAY): fetches GATEWAY's CA from
#   its admin endpoint (http://GATEWAY:3129/ca.crt, or --admin URL + /ca.crt),
#   refuses it unless its SHA-256 fingerprint (openssl x509 -fingerprint
#   -sha256; case and colons ignored) equals --ca-sha256 and it is a CA, then
#   does steps 1 (trust only), 2, 3 with GATEWAY as the proxy, and 4 with
#   `docker info`'s proxy lines instead of doctor. Nothing else is installed.
#
# Rules:
#   - Every step prints what it does: "run:", "write:", "edit:",
#     "restore:", "remove:", or "nothing to do:"; with --dry-run those
#     before the last read "would ...".
#   - A second run with the same options changes nothing and restarts
#     nothing: files are compared before they are written.
#   - --root DIR: every file this script writes goes under DIR, and commands
#     that act on the running system (update-ca-certificates, systemctl,
#     hubgate doctor, docker info) are never run, only printed as
#     "would run:". --config is taken as given; its [ca] dir must lie inside
#     DIR (the CA is made there by hubgate ca-new).
#   - State: $ROOT/var/lib/hubgate/setup-docker.state lists every file
#     written (with its sha256), every file edited (k3s's env file: its
#     sha256 after, and before or "absent"), every directory created and
#     every unit configured. --undo removes exactly those files, if
#     unchanged since (a changed one is kept and named), puts an edited
#     file back as it was (byte for byte; if it changed since, only the
#     lines between the markers are removed), then the directories if
#     empty, then runs update-ca-certificates, daemon-reload and the
#     restarts (printed under --root). The CA itself (/var/lib/hubgate) is
#     never removed.
set -eu

# The name it runs under: setup-docker.sh in the source tree,
# hubgate-setup-docker in the Debian package.
PROG=${0##*/}
ROOT=""
CONFIG=/etc/hubgate/hubgate.ini
HUBGATE=""
DRY=0
UNDO=0
CONTAINERD=0
K3S=""
EXTRA_NO_PROXY=""
PROXY=""
CA_SHA=""
ADMIN=""

CA_TRUST=/usr/local/share/ca-certificates/hubgate.crt
STATE=/var/lib/hubgate/setup-docker.state
MARK="# Written by hubgate's scripts/setup-docker.sh"
# Around the lines this script adds to k3s's env file.
BEGIN_MARK="# >>> hubgate scripts/setup-docker.sh: k3s's containerd pulls through hubgate"
END_MARK="# <<< hubgate scripts/setup-docker.sh (remove with: setup-docker.sh --undo)"

usage() {
    sed -n '2,12{s/^# \{0,1\}//;p;}' "$0" \
        | if [ "$PROG" = setup-docker.sh ]; then cat; else sed -e "s|scripts/setup-docker\.sh|$PROG|" -e "s|^setup-docker\.sh |$PROG |"; fi
    exit "${1:-0}"
}

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

need_arg() { [ "$#" -ge 2 ] || die "$1 needs a value (see --help)"; }

while [ "$#" -gt 0 ]; do
    case $1 in
        --*=*)
            opt=${1%%=*} val=${1#*=}
            shift
            set -- "$opt" "$val" "$@"
            continue ;;
    esac
    case $1 in
        --root) need_arg "$@"; ROOT=$2; shift ;;
        --config) need_arg "$@"; CONFIG=$2; shift ;;
        --hubgate) need_arg "$@"; HUBGATE=$2; shift ;;
        --proxy) need_arg "$@"; PROXY=$2; shift ;;
        --ca-sha256) need_arg "$@"; CA_SHA=$2; shift ;;
        --admin) need_arg "$@"; ADMIN=$2; shift ;;
        --dry-run|-n) DRY=1 ;;
        --undo) UNDO=1 ;;
        --containerd) CONTAINERD=1 ;;
        --k3s)
            K3S=auto
            case ${2:-} in server|agent) K3S=$2; shift ;; esac ;;
        --no-proxy) need_arg "$@"
            case $2 in *[!A-Za-z0-9.:/,*_-]*) die "--no-proxy: only host names, addresses, CIDRs and commas (got $2)" ;; esac
            EXTRA_NO_PROXY=$EXTRA_NO_PROXY,$2; shift ;;
        -h|--help) usage 0 ;;
        *) printf '%s: unknown argument %s\n' "$PROG" "$1" >&2; usage 2 >&2 ;;
    esac
    shift
done

if [ -n "$ROOT" ]; then
    case $ROOT in /*) ;; *) ROOT=$(pwd)/$ROOT ;; esac
    [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" = / ] && ROOT=""
fi
if [ "$(id -u)" != 0 ] && [ -z "$ROOT" ] && [ "$DRY" = 0 ]; then
    die "run as root (sudo $0 ...), or try --dry-run"
fi

# A proxy from the caller's environment must not carry our own fetch.
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy || true
umask 022
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-setup.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ output

say() { printf '%s\n' "$*"; }
step() { printf '== %s\n' "$*"; }
nothing() { printf '   nothing to do: %s\n' "$*"; }
note() { printf '   note: %s\n' "$*"; }
# did VERB WHAT: "   VERB: WHAT", or "   would VERB: WHAT" in a dry run.
did() {
    if [ "$DRY" = 1 ]; then printf '   would %s: %s\n' "$1" "$2"; else printf '   %s: %s\n' "$1" "$2"; fi
}
show_file() { sed 's/^/     | /' "$1"; }

# run CMD...: a command on files of this run (hubgate ca-new, chown): runs
# unless --dry-run. Its output goes to stderr, indented.
run() {
    did run "$*"
    [ "$DRY" = 1 ] && return 0
    rc=0
    "$@" >"$tmp/run.out" 2>&1 || rc=$?
    sed 's/^/     > /' "$tmp/run.out" >&2
    [ "$rc" = 0 ] || die "$1 failed (exit $rc)"
}

# sysrun CMD...: a command on the running system: printed only, as "would
# run:", under --dry-run or --root. Returns the command's status.
sysrun() {
    if [ "$DRY" = 1 ] || [ -n "$ROOT" ]; then
        printf '   would run: %s\n' "$*"
        return 0
    fi
    printf '   run: %s\n' "$*"
    rc=0
    "$@" || rc=$?
    return "$rc"
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# ------------------------------------------------------------------ state

# $tmp/state holds the entries, in order: "dir PATH", "file SHA256 PATH",
# "edit SHA256-AFTER SHA256-BEFORE|absent PATH", "unit NAME". Paths are as
# on the target system (without ROOT).
: >"$tmp/state"
if [ -f "$ROOT$STATE" ]; then
grep -E '^(dir /|file [0-9a-f]{64} /|edit [0-9a-f]{64} ([0-9a-f]{64}|absent) /|unit [a-z])' "$ROOT$STATE" >"$tmp/state" || true
fi

# save_state: writes the state file if its content changed (never in a dry
# run). An empty state removes the file.
save_state() {
    [ "$DRY" = 1 ] && return 0
    if [ ! -s "$tmp/state" ]; then
        rm -f "$ROOT$STATE"
        return 0
    fi
    ensure_dir "$(dirname "$STATE")"
    {
        echo "# hubgate scripts/setup-docker.sh: what it wrote; --undo removes exactly this."
        cat "$tmp/state"
    } >"$tmp/state.out"
    if ! cmp -s "$tmp/state.out" "$ROOT$STATE" 2>/dev/null; then
        cp "$tmp/state.out" "$ROOT$STATE.tmp"
        chmod 0644 "$ROOT$STATE.tmp"
        mv -f "$ROOT$STATE.tmp" "$ROOT$STATE"
    fi
}

state_add() {
    grep -qxF -- "$*" "$tmp/state" || printf '%s\n' "$*" >>"$tmp/state"
}

# state_file_set PATH SHA: records that PATH holds what we wrote.
state_file_set() {
    if grep -q "^file [0-9a-f]* $1\$" "$tmp/state"; then
        awk -v p="$1" -v s="$2" '$1 == "file" && $3 == p {$2 = s} {print}' \
            "$tmp/state" >"$tmp/state.new"
        mv -f "$tmp/state.new" "$tmp/state"
    else
        state_add file "$2" "$1"
    fi
}

# ours PATH: true if ROOT/PATH is a file this script wrote, unchanged since.
ours() {
    [ -f "$ROOT$1" ] || return 1
    s=$(sha256 "$ROOT$1")
    grep -qxF -- "file $s $1" "$tmp/state"
}

# ensure_dir PATH: makes ROOT/PATH and missing parents (0755), recording
# each; in a dry run only says so.
ensure_dir() {
    d=$1 missing=""
    while [ -n "$d" ] && [ "$d" != / ] && [ ! -d "$ROOT$d" ]; do
        missing="$d $missing"
        d=$(dirname "$d")
    done
    for d in $missing; do
        if [ "$DRY" = 1 ]; then
            did mkdir "$ROOT$d"
            continue
        fi
        mkdir -m 0755 "$ROOT$d"
        state_add dir "$d"
    done
    return 0
}

# put SRC PATH [quiet]: makes ROOT/PATH hold SRC's bytes (mode 0644),
# recording it; shows the content unless quiet. Returns 0 if it wrote (or
# would), 1 if it was already so.
put() {
    src=$1 dst=$ROOT$2 quiet=${3:-}
    if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
        nothing "$dst is up to date"
        if [ "$DRY" = 0 ]; then state_file_set "$2" "$(sha256 "$dst")"; save_state; fi
        return 1
    fi
    if [ -e "$dst" ]; then did replace "$dst"; else did write "$dst"; fi
    [ -n "$quiet" ] || show_file "$src"
    [ "$DRY" = 1 ] && return 0
    ensure_dir "$(dirname "$2")"
    cp "$src" "$dst.tmp.$$"
    chmod 0644 "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"
    state_file_set "$2" "$(sha256 "$dst")"
    save_state
    return 0
}

# ------------------------------------------------------------------ config

# ini_get SECTION KEY: the last value of KEY in [SECTION] of CONFIG, as
# inih reads it (first '=' or ':' splits, " ;" starts a comment).
ini_get() {
    awk -v want_s="$1" -v want_k="$2" '
        function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
        { line = $0; sub(/\r$/, "", line) }
        line ~ /^[ \t]*[;#]/ || line ~ /^[ \t]*$/ { next }
        line ~ /^[ \t]*\[/ { s = line; sub(/^[ \t]*\[/, "", s); sub(/\].*/, "", s); sec = trim(s); next }
        sec == want_s {
            i = match(line, /[=:]/)
            if (i == 0) next
            k = trim(substr(line, 1, i - 1)); v = substr(line, i + 1)
            c = match(v, /[ \t];/)
            if (c > 0) v = substr(v, 1, c - 1)
            if (k == want_k) { val = trim(v); found = 1 }
        }
        END { if (found) print val }' "$CONFIG"
}

# proxy_from_listen HOST:PORT: the URL clients on this host use.
proxy_from_listen() {
    case $1 in
        \[*\]:*) h=${1%%]:*}; h=${h#\[}; p=${1##*]:} ;;
        *:*) h=${1%:*}; p=${1##*:} ;;
        *) die "$CONFIG: [proxy] listen = $1 is not host:port" ;;
    esac
    case $h in
        0.0.0.0) h=127.0.0.1 ;;
        ::) h=::1 ;;
    esac
    case $h in
        *:*) printf 'http://[%s]:%s\n' "$h" "$p" ;;
        *) printf 'http://%s:%s\n' "$h" "$p" ;;
    esac
}

# no_proxy_list: localhost, loopback and this host's names.
no_proxy_list() {
    list="localhost,127.0.0.0/8,::1"
    for n in "$(hostname 2>/dev/null || uname -n)" "$(timeout 5 hostname -f 2>/dev/null || true)"; do
        case $n in ''|localhost|*[!A-Za-z0-9.-]*) continue ;; esac
        case ",$list," in *",$n,"*) continue ;; esac
        list="$list,$n"
    done
    printf '%s\n' "$list"
}

# np_add LIST ENTRY...: LIST with each ENTRY (comma-separated lists too)
# appended unless already there.
np_add() {
    l=$1
    shift
    set -f  # an entry like *.example is not a file pattern
    for e in $(printf '%s\n' "$@" | tr ',' ' '); do
        case ",$l," in *",$e,"*) ;; *) l=$l,$e ;; esac
    done
    set +f
    printf '%s\n' "${l#,}"
}

# manifest_flag FILE FLAG: the value of "- --FLAG=VALUE" in a static pod
# manifest (kubeadm), or nothing.
manifest_flag() {
    if [ -f "$ROOT$1" ]; then
        sed -n "s/^[[:space:]]*-[[:space:]]*--$2=[\"']\{0,1\}\([^\"'[:space:]]*\).*/\1/p" "$ROOT$1" | tail -n 1
    fi
}

# yaml_key FILE KEY: the value of a top-level "KEY: VALUE" line, or nothing.
yaml_key() {
    if [ -f "$ROOT$1" ]; then
        sed -n "s/^$2:[[:space:]]*[\"']\{0,1\}\([^\"'[:space:]#]*\).*/\1/p" "$ROOT$1" | tail -n 1
    fi
}

# url_host URL: the host of http(s)://HOST[:PORT][/...], without brackets.
url_host() {
    h=${1#*://}; h=${h%%/*}
    case $h in
        \[*) h=${h#\[}; h=${h%%]*} ;;
        *) h=${h%:*} ;;
    esac
    case $h in *[!A-Za-z0-9.:-]*) ;; *) printf '%s\n' "$h" ;; esac
}

# node_ips: this host's addresses (hostname -I), link-local ones left out.
node_ips() {
    for a in $(hostname -I 2>/dev/null || true); do
        case $a in fe80:*|169.254.*) ;; *) printf '%s\n' "$a" ;; esac
    done
}

# KUBEADM=1 if this is a kubeadm-style Kubernetes node.
KUBEADM=0
if [ -f "$ROOT/etc/kubernetes/kubelet.conf" ] || [ -f "$ROOT/var/lib/kubelet/config.yaml" ]; then
    KUBEADM=1
fi

# kubeadm_no_proxy: what containerd on a kubeadm node must reach directly.
kubeadm_no_proxy() {
    m=/etc/kubernetes/manifests
    domain=$(yaml_key /var/lib/kubelet/config.yaml clusterDomain)
    svc=$(manifest_flag $m/kube-apiserver.yaml service-cluster-ip-range)
    pods=$(manifest_flag $m/kube-controller-manager.yaml cluster-cidr)
    if [ -z "$pods" ] && [ -f "$ROOT/run/flannel/subnet.env" ]; then
        pods=$(sed -n 's/^FLANNEL_NETWORK=//p' "$ROOT/run/flannel/subnet.env" | tail -n 1)
    fi
    api=""
    if [ -f "$ROOT/etc/kubernetes/kubelet.conf" ]; then
        api=$(url_host "$(sed -n 's/^[[:space:]]*server:[[:space:]]*//p' "$ROOT/etc/kubernetes/kubelet.conf" | head -n 1)")
    fi
    printf '%s\n' ".svc,.${domain:-cluster.local},${svc:-10.96.0.0/12}${pods:+,$pods}${api:+,$api}"
}

# k3s_opt KEY: k3s's --KEY from its unit's ExecStart, else from
# /etc/rancher/k3s/config.yaml, or nothing.
k3s_opt() {
    v=""
    if [ -f "$ROOT/etc/systemd/system/$K3S_UNIT.service" ]; then
        v=$(grep -oE -- "--$1[= ]+['\"]?[^'\"[:space:]\\]+" "$ROOT/etc/systemd/system/$K3S_UNIT.service" \
                | tail -n 1 | sed -E "s/^--$1[= ]+['\"]?//") || true
    fi
    [ -n "$v" ] || v=$(yaml_key /etc/rancher/k3s/config.yaml "$1")
    printf '%s\n' "$v"
}

# k3s_no_proxy: what k3s's containerd must reach directly.
k3s_no_proxy() {
    api=""
    if [ "$K3S" = agent ]; then
        url=""
        if [ -f "$ROOT$K3S_ENV" ]; then
            url=$(strip_block "$ROOT$K3S_ENV" | sed -n "s/^[[:space:]]*K3S_URL=[\"']\{0,1\}\([^\"'[:space:]]*\).*/\1/p" | tail -n 1)
        fi
        [ -n "$url" ] || url=$(k3s_opt server)
        [ -z "$url" ] || api=$(url_host "$url")
    fi
    svc=$(k3s_opt service-cidr) pods=$(k3s_opt cluster-cidr) domain=$(k3s_opt cluster-domain)
    printf '%s\n' ".svc,.${domain:-cluster.local},${svc:-10.43.0.0/16},${pods:-10.42.0.0/16}${api:+,$api}"
}

# noproxy_for UNIT: the NO_PROXY list for UNIT (docker, containerd, or k3s
# for k3s's env file), before entries found in foreign files.
noproxy_for() {
    l=$NO_PROXY_LIST
    case $1 in
        containerd) [ "$KUBEADM" = 0 ] || l=$(np_add "$l" "$KUBEADM_NO_PROXY" "$NODE_IPS") ;;
        k3s) l=$(np_add "$l" "$K3S_NO_PROXY" "$NODE_IPS") ;;
    esac
    np_add "$l" "$EXTRA_NO_PROXY"
}

# ------------------------------------------------------------------ CA trust

# trust_ca PEM: installs PEM (one certificate) as CA_TRUST. Sets CA_CHANGED
# (1: new, 2: replaced another certificate).
CA_CHANGED=0
trust_ca() {
    fp=$(openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
    subj=$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
    say "   CA: $subj, sha256 $fp"
    was=1
    [ -e "$ROOT$CA_TRUST" ] && was=2
    if put "$1" "$CA_TRUST" quiet; then CA_CHANGED=$was; fi
}

# local_ca: step 1 of local mode. Sets CA_FP.
local_ca() {
    step "[1/4] hubgate's CA, trusted by this host"
    preflight
    cadir=$(ini_get ca dir)
    [ -n "$cadir" ] || cadir=/var/lib/hubgate
    case $cadir in /*) ;; *) cadir=$(pwd)/$cadir ;; esac
    if [ -n "$ROOT" ]; then
        case $cadir/ in
            "$ROOT"/*) ;;
            *) die "--root $ROOT: the config's [ca] dir $cadir is outside it; refusing to write there" ;;
        esac
    fi
    ca_rc=0
    [ -f "$cadir/ca.crt" ] && "$HUBGATE" ca-new --check -c "$CONFIG" >/dev/null 2>&1 || ca_rc=$?
    if [ -f "$cadir/ca.crt" ] && [ -f "$cadir/ca.key" ] && [ "$ca_rc" = 0 ]; then
        nothing "CA exists in $cadir"
    elif [ -f "$cadir/ca.crt" ] && [ -f "$cadir/ca.key" ] && [ "$ca_rc" = 1 ]; then
        # The config intercepts a name the CA was not made for (a registry
        # added): a new CA, trusted below in place of the old one.
        note "the CA in $cadir does not permit every intercepted name: making a new one (the old pair is kept as ca.*.bak-*)"
        run "$HUBGATE" ca-new --force -c "$CONFIG"
        if getent passwd hubgate >/dev/null 2>&1; then
            run chown hubgate:hubgate "$cadir" "$cadir/ca.key" "$cadir/ca.crt"
        fi
        [ "$DRY" = 0 ] || { did write "$ROOT$CA_TRUST (the new CA)"; CA_CHANGED=1; return 0; }
    else
        [ -d "$(dirname "$cadir")" ] || run mkdir -p "$(dirname "$cadir")"
        run "$HUBGATE" ca-new -c "$CONFIG"
        if [ "$DRY" = 0 ] && [ ! -f "$cadir/ca.crt" ]; then
            die "hubgate ca-new made no $cadir/ca.crt"
        fi
        if getent passwd hubgate >/dev/null 2>&1; then
            run chown hubgate:hubgate "$cadir" "$cadir/ca.key" "$cadir/ca.crt"
        fi
        [ "$DRY" = 0 ] || { did write "$ROOT$CA_TRUST (the new CA)"; CA_CHANGED=1; return 0; }
    fi
    openssl x509 -in "$cadir/ca.crt" -out "$tmp/ca.pem" \
        || die "$cadir/ca.crt is not a PEM certificate"
    trust_ca "$tmp/ca.pem"
    # hubgate serving other machines: tell how to set them up.
    case ${listen:-127.0.0.1:3128} in
        127.*|\[::1\]:*) ;;
        *) note "other hosts using this hubgate: scripts/setup-docker.sh --proxy http://$(timeout 5 hostname -f 2>/dev/null || hostname):${listen##*:} --ca-sha256 $fp" ;;
    esac
}

# fetch URL OUT: HTTP GET without any proxy.
fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 20 --noproxy '*' -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 20 --no-proxy -O "$2" "$1"
    else
        die "need curl or wget to fetch $1"
    fi
}

# fleet_ca: step 1 of fleet mode: the gateway's CA, pinned by --ca-sha256.
fleet_ca() {
    step "[1/4] the gateway's CA, trusted by this host"
    url=${ADMIN%/}/ca.crt
    say "   fetch: $url"
    fetch "$url" "$tmp/served.crt" || die "cannot fetch $url; nothing was changed"
    # Re-encoding keeps the first certificate only: nothing appended to the
    # served file can ride along into the trust store.
    openssl x509 -in "$tmp/served.crt" -out "$tmp/ca.pem" 2>/dev/null \
        || die "$url did not serve a PEM certificate; nothing was changed"
    n=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$tmp/served.crt" || true)
    [ "$n" -le 1 ] || note "$url served $n certificates; only the first is considered"
    got=$(openssl x509 -in "$tmp/ca.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
    if [ "$got" != "$CA_SHA" ]; then
        die "REFUSED: the CA served at $url has sha256 $got, not the expected $CA_SHA; nothing was changed"
    fi
    openssl x509 -in "$tmp/ca.pem" -noout -text | grep -q 'CA:TRUE' \
        || die "REFUSED: the certificate at $url is not a CA certificate; nothing was changed"
    say "   fingerprint matches --ca-sha256"
    preflight
    trust_ca "$tmp/ca.pem"
}

# ------------------------------------------------------------------ drop-ins

# proxy_settings FILE: "NAME VALUE" for each http(s)_proxy / no_proxy it
# sets, any case: Environment= lines of a unit file, or VAR=value lines of
# an environment file.
proxy_settings() {
    sed -n -e 's/^[[:space:]]*Environment[[:space:]]*=//p' \
        -e 's/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}\([A-Za-z_]*=\)/\2/p' "$1" \
        | grep -oiE '(https?|no)_proxy=("[^"]*"|[^"[:space:]]*)' \
        | sed 's/"//g; s/=/ /' | awk '{print tolower($1), $2}' || true
}

# check_foreign UNIT DIR: stops if anything else sets another proxy for
# UNIT; collects foreign NO_PROXY entries in $tmp/noproxy.
check_foreign() {
    unit=$1 dir=$2
    : >"$tmp/noproxy"
    for f in "$ROOT$dir"/*.conf "$ROOT/etc/default/$unit"; do
        [ -f "$f" ] || continue
        ours "${f#"$ROOT"}" && continue
        cmp -s "$f" "$tmp/dropin" && continue
        proxy_settings "$f" >"$tmp/settings"
        while read -r name value; do
            # The same proxy with a user (http://name:password@host:port)
            # is not another proxy.
            bare=$value
            case $value in http://*@*) bare=http://${value#*@} ;; esac
            case $name in
                no_proxy) printf '%s\n' "$value" | tr ',' '\n' >>"$tmp/noproxy" ;;
                *) [ "$bare" = "$PROXY_URL" ] || [ "$bare" = "$PROXY_URL/" ] \
                       || die "$f sets $(echo "$name" | tr '[:lower:]' '[:upper:]')=${bare} for $unit, not $PROXY_URL.
  Refusing to override another proxy: remove that setting (or the file) and
  run this again. To send hubgate's own traffic through that proxy, see
  [upstream] via in hubgate(8)." ;;
            esac
        done <"$tmp/settings"
    done
    if [ "$unit" = docker ] && [ -f "$ROOT/etc/docker/daemon.json" ]; then
        grep -oE '"https?-proxy"[[:space:]]*:[[:space:]]*"[^"]*"' "$ROOT/etc/docker/daemon.json" \
            | sed 's/.*"\([^"]*\)"$/\1/' >"$tmp/settings" || true
        while read -r value; do
            [ "$value" = "$PROXY_URL" ] || [ "$value" = "$PROXY_URL/" ] \
                || die "$ROOT/etc/docker/daemon.json sets \"proxies\" to $value, which dockerd prefers
  over the environment. Remove it there and run this again."
        done <"$tmp/settings"
    fi
}

# preflight: stops, before anything is written, if another proxy is set for
# a unit we are to configure.
preflight() {
    for u in $([ "$DOCKER" = 1 ] && echo docker) $([ "$CONTAINERD" = 1 ] && echo containerd); do
        write_dropin "$u" "$(noproxy_for "$u")"
        check_foreign "$u" "/etc/systemd/system/$u.service.d"
    done
    [ -z "$K3S" ] || k3s_foreign
}

# dropin UNIT STEP: step 2 or 3, the proxy drop-in of UNIT.service.
dropin() {
    unit=$1
    step "$2 $unit.service: proxy $PROXY_URL"
    dir=/etc/systemd/system/$unit.service.d
    main=$dir/http-proxy.conf alt=$dir/hubgate-proxy.conf
    if [ "$unit" = containerd ] && [ "$KUBEADM" = 1 ]; then
        note "a Kubernetes node (kubelet's config is here): NO_PROXY adds $KUBEADM_NO_PROXY and this host's addresses"
        [ -n "$(manifest_flag /etc/kubernetes/manifests/kube-controller-manager.yaml cluster-cidr)" ] \
            || [ -f "$ROOT/run/flannel/subnet.env" ] \
            || note "the pod CIDR is not known here (no kube-controller-manager manifest, no /run/flannel/subnet.env): add it with --no-proxy CIDR"
    fi

    noproxy=$(noproxy_for "$unit")
    write_dropin "$unit" "$noproxy"
    check_foreign "$unit" "$dir"
    # Foreign NO_PROXY entries are kept, after ours.
    sed 's/[[:space:]]//g; /^$/d' "$tmp/noproxy" | sort -u >"$tmp/noproxy.sorted"
    while read -r e; do
        case ",$noproxy," in
            *",$e,"*) ;;
            *) noproxy="$noproxy,$e"
               note "keeping NO_PROXY entry $e, set elsewhere for $unit" ;;
        esac
    done <"$tmp/noproxy.sorted"
    write_dropin "$unit" "$noproxy"

    if ours "$alt"; then
        target=$alt
    elif [ ! -e "$ROOT$main" ] || ours "$main" || cmp -s "$ROOT$main" "$tmp/dropin"; then
        target=$main
    elif [ ! -e "$ROOT$alt" ] || cmp -s "$ROOT$alt" "$tmp/dropin"; then
        target=$alt
        note "$ROOT$main holds other settings: kept; ours goes to $(basename "$alt")"
    else
        die "$ROOT$main and $ROOT$alt both hold settings not written by $PROG; refusing to change them"
    fi
    if put "$tmp/dropin" "$target"; then eval "CHANGED_$unit=1"; fi
    if [ "$AUTH" = 1 ]; then
        note "[proxy] users is set: $unit needs a user in its proxy URLs. Put"
        note "HTTP_PROXY and HTTPS_PROXY=http://NAME:PASSWORD@${PROXY_URL#http://} in $dir/zz-hubgate-auth.conf"
        note "(mode 0600; read after ours, and accepted by this script)"
    fi
    if [ "$DRY" = 0 ]; then state_add unit "$unit"; save_state; fi
}

write_dropin() {
    {
        echo "$MARK: $1 reaches Docker Hub"
        echo "# through hubgate. Remove with: scripts/setup-docker.sh --undo"
        echo "[Service]"
        echo "Environment=\"HTTP_PROXY=$PROXY_URL\""
        echo "Environment=\"HTTPS_PROXY=$PROXY_URL\""
        echo "Environment=\"NO_PROXY=$2\""
    } >"$tmp/dropin"
}

# ------------------------------------------------------------------ k3s

# strip_block FILE: FILE without the lines between our markers (included).
strip_block() {
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" '$0 == b {skip = 1; next} skip && $0 == e {skip = 0; next} !skip' "$1"
}

# k3s_block NOPROXY: our lines for k3s's env file, in $tmp/k3s.block.
k3s_block() {
    {
        echo "$BEGIN_MARK"
        echo "CONTAINERD_HTTP_PROXY=$PROXY_URL"
        echo "CONTAINERD_HTTPS_PROXY=$PROXY_URL"
        echo "CONTAINERD_NO_PROXY=$1"
        echo "$END_MARK"
    } >"$tmp/k3s.block"
}

# k3s_foreign: stops if k3s (or its containerd) is given another proxy
# anywhere it reads its environment; NO_PROXY entries found there
# (NO_PROXY or CONTAINERD_NO_PROXY) go to $tmp/noproxy.
k3s_foreign() {
    : >"$tmp/noproxy"
    d=/etc/systemd/system
    for f in "$ROOT$K3S_ENV" "$ROOT$d/$K3S_UNIT.service" "$ROOT$d/$K3S_UNIT.service.d"/*.conf \
             "$ROOT/etc/default/$K3S_UNIT" "$ROOT/etc/sysconfig/$K3S_UNIT"; do
        [ -f "$f" ] || continue
        strip_block "$f" >"$tmp/k3s.other"
        # CONTAINERD_HTTPS_PROXY=... reads as https_proxy here: another
        # proxy for containerd is as much a conflict as one for k3s.
        proxy_settings "$tmp/k3s.other" >"$tmp/settings"
        while read -r name value; do
            bare=$value
            case $value in http://*@*) bare=http://${value#*@} ;; esac
            case $name in
                no_proxy) printf '%s\n' "$value" | tr ',' '\n' >>"$tmp/noproxy" ;;
                *) [ "$bare" = "$PROXY_URL" ] || [ "$bare" = "$PROXY_URL/" ] \
                       || die "$f sets $(grep -oiE "[a-z_]*${name}=" "$tmp/k3s.other" | head -n 1 | tr -d = | tr '[:lower:]' '[:upper:]')=${bare} for $K3S_UNIT, not $PROXY_URL.
  Refusing to override another proxy: remove that setting and run this
  again. To send hubgate's own traffic through that proxy, see
  [upstream] via in hubgate(8)." ;;
            esac
        done <"$tmp/settings"
    done
}

# k3s_env STEP: step 3 for k3s: our block in $K3S_ENV.
k3s_env() {
    step "$1 $K3S_UNIT.service (k3s $K3S): containerd's proxy $PROXY_URL in $K3S_ENV"
    dst=$ROOT$K3S_ENV
    k3s_foreign
    noproxy=$(noproxy_for k3s)
    sed 's/[[:space:]]//g; /^$/d' "$tmp/noproxy" | sort -u >"$tmp/noproxy.sorted"
    while read -r e; do
        case ",$noproxy," in
            *",$e,"*) ;;
            *) noproxy="$noproxy,$e"
               note "keeping NO_PROXY entry $e, set elsewhere for $K3S_UNIT" ;;
        esac
    done <"$tmp/noproxy.sorted"
    k3s_block "$noproxy"
    # The block replaces ours where it is, or goes at the end.
    if [ -f "$dst" ]; then
        awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v blk="$tmp/k3s.block" '
            function put() { while ((getline l < blk) > 0) print l; close(blk); done = 1 }
            $0 == b { if (!done) put(); skip = 1; next }
            skip && $0 == e { skip = 0; next }
            !skip { print }
            END { if (!done) put() }' "$dst" >"$tmp/k3s.env"
        # A last line without its newline: awk added one; that line is
        # the file's, so the state's "before" below keeps the original.
    else
        cp "$tmp/k3s.block" "$tmp/k3s.env"
    fi
    if [ -f "$dst" ] && cmp -s "$tmp/k3s.env" "$dst"; then
        nothing "$dst is up to date"
    else
        if [ -e "$dst" ]; then did edit "$dst (its other lines kept; hubgate's lines:)"; else did write "$dst"; fi
        show_file "$tmp/k3s.block"
        K3S_CHANGED=1
    fi
    if [ "$DRY" = 0 ]; then
        before=$(awk -v p="$K3S_ENV" '$1 == "edit" && $4 == p {print $3}' "$tmp/state")
        if [ -z "$before" ]; then
            if [ ! -f "$dst" ]; then
                before=absent
            elif grep -qxF -- "$BEGIN_MARK" "$dst"; then
                # Our block without a state entry (the state was removed).
                before=$(strip_block "$dst" | sha256sum | cut -d' ' -f1)
            else
                before=$(sha256 "$dst")
            fi
        fi
        if [ "$K3S_CHANGED" = 1 ]; then
            ensure_dir "$(dirname "$K3S_ENV")"
            # The file may hold K3S_TOKEN: never readable by others, not
            # even while it is written; mode and owner of the old file kept.
            (umask 077 && cp "$tmp/k3s.env" "$dst.tmp.$$")
            if [ -f "$dst" ]; then
                chmod --reference="$dst" "$dst.tmp.$$"
                chown --reference="$dst" "$dst.tmp.$$" 2>/dev/null || true
            fi
            mv -f "$dst.tmp.$$" "$dst"
        fi
        after=$(sha256 "$dst")
        if grep -q "^edit [0-9a-f]* [0-9a-f]* $K3S_ENV\$" "$tmp/state"; then
            # In place: a rerun leaves the state file as it was.
            awk -v p="$K3S_ENV" -v s="$after" '$1 == "edit" && $4 == p {$2 = s} {print}' \
                "$tmp/state" >"$tmp/state.new"
            mv -f "$tmp/state.new" "$tmp/state"
        else
            state_add edit "$after" "$before" "$K3S_ENV"
        fi
        state_add unit "$K3S_UNIT"
        save_state
    fi
}

# k3s_undo SUM-AFTER BEFORE PATH: puts PATH back as it was before our
# block was added.
k3s_undo() {
    f=$ROOT$3
    if [ ! -e "$f" ]; then
        nothing "$f is already gone"
        return 0
    fi
    strip_block "$f" >"$tmp/k3s.orig"
    if [ "$(sha256 "$f")" = "$1" ]; then
        if [ "$2" = absent ]; then
            did remove "$f"
            [ "$DRY" = 1 ] || rm -f "$f"
            return 0
        fi
        # The original's last line may have had no newline.
        if [ "$(sha256 "$tmp/k3s.orig")" != "$2" ] && [ -s "$tmp/k3s.orig" ]; then
            head -c -1 "$tmp/k3s.orig" >"$tmp/k3s.orig1"
            [ "$(sha256 "$tmp/k3s.orig1")" != "$2" ] || mv -f "$tmp/k3s.orig1" "$tmp/k3s.orig"
        fi
        did restore "$f (as before $PROG edited it)"
    elif cmp -s "$tmp/k3s.orig" "$f"; then
        note "$f has no lines of $PROG any more: kept as it is"
        return 0
    else
        note "$f changed since $PROG edited it: only the lines between its markers are removed"
        did edit "$f"
    fi
    [ "$DRY" = 1 ] && return 0
    (umask 077 && cp "$tmp/k3s.orig" "$f.tmp.$$")
    chmod --reference="$f" "$f.tmp.$$"
    chown --reference="$f" "$f.tmp.$$" 2>/dev/null || true
    mv -f "$f.tmp.$$" "$f"
}

# ------------------------------------------------------------------ apply

# unit_exists UNIT: true if systemd knows UNIT.service.
unit_exists() { systemctl cat "$1.service" >/dev/null 2>&1; }

# restart_units UNIT...: daemon-reload, then restart each (printed only
# under --root or --dry-run).
restart_units() {
    sysrun systemctl daemon-reload
    for u in "$@"; do
        if [ "$DRY" = 0 ] && [ -z "$ROOT" ] && ! unit_exists "$u"; then
            note "$u.service is not installed: nothing to restart (its drop-in applies once it is)"
            continue
        fi
        sysrun systemctl restart "$u.service" || die "systemctl restart $u.service failed: journalctl -u $u.service"
    done
}

# run_doctor: hubgate doctor, whose failure fails the script. On a
# Kubernetes node without docker its dockerd check cannot pass, and only
# that failure is let through.
run_doctor() {
    if [ "$DOCKER" = 1 ] || [ "$DRY" = 1 ] || [ -n "$ROOT" ]; then
        sysrun "$HUBGATE" doctor -c "$CONFIG" || die "hubgate doctor found problems (above)"
        return 0
    fi
    printf '   run: %s doctor -c %s\n' "$HUBGATE" "$CONFIG"
    rc=0
    "$HUBGATE" doctor -c "$CONFIG" >"$tmp/doctor.out" 2>&1 || rc=$?
    cat "$tmp/doctor.out"
    [ "$rc" != 0 ] || return 0
    dockerd_fail='FAIL dockerd uses hubgate as HTTPS_PROXY: dockerd is not running'
    if grep -qxF -- "$dockerd_fail" "$tmp/doctor.out" \
            && ! grep '^FAIL' "$tmp/doctor.out" | grep -qvxF -- "$dockerd_fail"; then
        note "docker is not installed on this node: doctor's dockerd check does not apply here"
        return 0
    fi
    die "hubgate doctor found problems (above)"
}

apply() {
    step "[4/4] apply"
    # A replaced certificate keeps its file name: --fresh redoes the links.
    case $CA_CHANGED in
        1) sysrun update-ca-certificates || die "update-ca-certificates failed" ;;
        2) sysrun update-ca-certificates --fresh || die "update-ca-certificates failed" ;;
    esac
    # Go programs read the trust store once, at start: a new CA needs a
    # restart as much as new proxy settings do.
    units=""
    if [ "$CONTAINERD" = 1 ] && { [ "$CA_CHANGED" != 0 ] || [ "$CHANGED_containerd" = 1 ]; }; then
        units=containerd
    fi
    # Restarting k3s restarts its containerd; running pods are kept.
    if [ -n "$K3S" ] && { [ "$CA_CHANGED" != 0 ] || [ "$K3S_CHANGED" = 1 ]; }; then
        units="$units $K3S_UNIT"
    fi
    if [ "$DOCKER" = 1 ] && { [ "$CA_CHANGED" != 0 ] || [ "$CHANGED_docker" = 1 ]; }; then
        units="$units docker"
    fi
    if [ -n "$units" ]; then
        # shellcheck disable=SC2086  # a list of unit names
        restart_units $units
    else
        nothing "no restart needed"
    fi
    if [ -z "$PROXY" ]; then
        if [ "$DRY" = 0 ] && [ -z "$ROOT" ] && unit_exists hubgate \
                && ! systemctl is-active --quiet hubgate.service; then
            note "hubgate.service is not running: sudo systemctl enable --now hubgate"
        fi
        run_doctor
    elif [ "$DOCKER" = 1 ]; then
        if [ "$DRY" = 1 ] || [ -n "$ROOT" ]; then
            printf '   would run: docker info (its proxy lines)\n'
        else
            printf '   run: docker info (its proxy lines)\n'
            timeout 30 docker info 2>/dev/null | grep -i 'proxy' | sed 's/^ */     /' \
                || note "docker info shows no proxy: is dockerd running? (systemctl status docker)"
        fi
    fi
    # Kubernetes images come from registry.k8s.io: without it in the
    # config they pass through as a plain tunnel, not through the links.
    if [ -z "$PROXY" ] && { [ -n "$K3S" ] || [ "$KUBEADM" = 1 ]; }; then
        case " $(ini_get intercept registries) $(ini_get intercept hosts) " in
            *" registry.k8s.io "*) ;;
            *) note "$CONFIG does not intercept registry.k8s.io: Kubernetes images would pass as a plain tunnel. Add it: [intercept] registries = docker.io registry.k8s.io, then run this again (the CA is renewed for it)" ;;
        esac
    fi
    # crictl asks containerd (CRI) to pull, so containerd's own proxy and
    # trust are tested; `ctr images pull` would fetch in the ctr process.
    if [ -n "$K3S" ]; then
        say "   check: sudo k3s crictl pull registry.k8s.io/pause:3.9"
    fi
    if [ "$CONTAINERD" = 1 ] && [ "$KUBEADM" = 1 ]; then
        say "   check: sudo crictl --runtime-endpoint unix:///run/containerd/containerd.sock pull registry.k8s.io/pause:3.9"
    fi
}

# ------------------------------------------------------------------ undo

undo() {
    step "undo: remove what $PROG wrote (state $ROOT$STATE)"
    if [ ! -s "$tmp/state" ]; then
        nothing "no state file $ROOT$STATE: nothing recorded to undo"
        return 0
    fi
    ca_removed=0 units=""
    awk '$1 == "edit" {print $2, $3, $4}' "$tmp/state" | tac >"$tmp/edits"
    while read -r after before path; do
        k3s_undo "$after" "$before" "$path"
        u=${path#/etc/systemd/system/}
        units="$units ${u%.service.env}"
    done <"$tmp/edits"
    awk '$1 == "file" {print $2, $3}' "$tmp/state" | tac >"$tmp/files"
    while read -r sum path; do
        f=$ROOT$path
        if [ ! -e "$f" ]; then
            nothing "$f is already gone"
        elif [ "$(sha256 "$f")" != "$sum" ]; then
            note "kept $f: changed since $PROG wrote it"
            continue
        else
            did remove "$f"
            [ "$DRY" = 1 ] || rm -f "$f"
        fi
        case $path in
            "$CA_TRUST") ca_removed=1 ;;
            /etc/systemd/system/*.service.d/*)
                u=${path#/etc/systemd/system/}; u=${u%%.service.d/*}
                units="$units $u" ;;
        esac
    done <"$tmp/files"
    did remove "$ROOT$STATE"
    [ "$DRY" = 1 ] || rm -f "$ROOT$STATE"
    awk '$1 == "dir" {print $2}' "$tmp/state" | tac >"$tmp/dirs"
    while read -r path; do
        d=$ROOT$path
        [ -d "$d" ] || continue
        if [ -n "$(ls -A "$d")" ]; then
            [ "$DRY" = 1 ] || note "kept directory $d (not empty)"
            continue
        fi
        did rmdir "$d"
        [ "$DRY" = 1 ] || rmdir "$d"
    done <"$tmp/dirs"

    step "undo: apply"
    if [ "$ca_removed" = 1 ]; then
        # --fresh also drops the link to the removed file.
        sysrun update-ca-certificates --fresh || die "update-ca-certificates failed"
        units="$units $(awk '$1 == "unit" {printf "%s ", $2}' "$tmp/state")"
    fi
    # containerd and k3s before docker, each once.
    list=""
    for u in containerd k3s k3s-agent docker; do
        case " $units " in *" $u "*) list="$list $u" ;; esac
    done
    if [ -n "$list" ]; then
        # shellcheck disable=SC2086  # a list of unit names
        restart_units $list
    else
        nothing "no restart needed"
    fi
}

# ------------------------------------------------------------------ main

if [ "$UNDO" = 1 ]; then
    [ "$DRY" = 1 ] && say "$PROG: dry run: nothing is changed"
    [ -n "$ROOT" ] && say "$PROG: files under $ROOT; system commands are only printed"
    undo
    exit 0
fi

CHANGED_docker=0
CHANGED_containerd=0
K3S_CHANGED=0
AUTH=0
NO_PROXY_LIST=$(no_proxy_list)
NODE_IPS=""
KUBEADM_NO_PROXY=""
K3S_NO_PROXY=""
K3S_UNIT="" K3S_ENV=""
if [ -n "$K3S" ]; then
    sd=/etc/systemd/system
    if [ "$K3S" = auto ]; then
        server=0 agent=0
        if [ -e "$ROOT$sd/k3s.service" ] || [ -e "$ROOT$sd/k3s.service.env" ]; then server=1; fi
        if [ -e "$ROOT$sd/k3s-agent.service" ] || [ -e "$ROOT$sd/k3s-agent.service.env" ]; then agent=1; fi
        case $server$agent in
            10) K3S=server ;;
            01) K3S=agent ;;
            11) die "both k3s.service and k3s-agent.service are in $ROOT$sd: say which with --k3s=server or --k3s=agent" ;;
            *) die "--k3s: no k3s.service or k3s-agent.service (or .env) in $ROOT$sd: is k3s installed? (or --k3s=server|agent)" ;;
        esac
    fi
    if [ "$K3S" = server ]; then K3S_UNIT=k3s; else K3S_UNIT=k3s-agent; fi
    K3S_ENV=$sd/$K3S_UNIT.service.env
    K3S_NO_PROXY=$(k3s_no_proxy)
fi
if [ -n "$K3S" ] || { [ "$CONTAINERD" = 1 ] && [ "$KUBEADM" = 1 ]; }; then
    NODE_IPS=$(node_ips)
fi
[ "$CONTAINERD" = 0 ] || [ "$KUBEADM" = 0 ] || KUBEADM_NO_PROXY=$(kubeadm_no_proxy)
# On a Kubernetes node docker is configured only where it is installed.
DOCKER=1
if [ -n "$K3S" ] || [ -n "$KUBEADM_NO_PROXY" ]; then
    DOCKER=0
    for d in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
        [ ! -e "$ROOT$d/docker.service" ] || DOCKER=1
    done
fi

if [ -n "$PROXY" ]; then
    # Fleet mode: GATEWAY from --proxy http://HOST:PORT[/].
    [ -n "$CA_SHA" ] || die "--proxy needs --ca-sha256 HEX: the gateway's CA fingerprint
  (on the gateway: openssl x509 -noout -fingerprint -sha256 -in /var/lib/hubgate/ca.crt)"
    CA_SHA=$(printf '%s' "${CA_SHA#sha256:}" | tr -d ': ' | tr 'A-F' 'a-f')
    case $CA_SHA in
        *[!0-9a-f]*|'') die "--ca-sha256: not a hex fingerprint" ;;
    esac
    [ "${#CA_SHA}" = 64 ] || die "--ca-sha256: a SHA-256 fingerprint has 64 hex digits (got ${#CA_SHA})"
    PROXY_URL=${PROXY%/}
    hostport=${PROXY_URL#http://}
    case $PROXY_URL in
        http://\[*\]:*) gw=${hostport%]:*}]; port=${hostport##*]:} ;;
        http://*:*) gw=${hostport%:*}; port=${hostport##*:} ;;
        *) die "--proxy must be http://HOST:PORT (got $PROXY)" ;;
    esac
    case $gw in
        ''|*[!A-Za-z0-9.:\[\]-]*) die "--proxy: bad host in $PROXY" ;;
    esac
    case $port in
        ''|*[!0-9]*) die "--proxy: bad port in $PROXY" ;;
    esac
    [ -n "$ADMIN" ] || ADMIN=http://$gw:3129
    case $ADMIN in http://*|https://*) ;; *) die "--admin must be an http:// URL (got $ADMIN)" ;; esac
    say "$PROG: fleet mode: proxy $PROXY_URL, CA from $ADMIN, sha256 $CA_SHA"
else
    if [ -n "$CA_SHA" ] || [ -n "$ADMIN" ]; then
        die "--ca-sha256 and --admin go with --proxy (fleet mode)"
    fi
    [ -f "$CONFIG" ] || die "no config $CONFIG: install hubgate first (apt install hubgate, or sudo make install), or give --config FILE"
    if [ -z "$HUBGATE" ]; then
        HUBGATE=$(command -v hubgate 2>/dev/null || echo /usr/local/bin/hubgate)
    fi
    [ -x "$HUBGATE" ] || die "no hubgate binary at $HUBGATE: apt install hubgate, or sudo make install, or give --hubgate PATH"
    out=$("$HUBGATE" -t -c "$CONFIG" 2>&1) || die "$CONFIG does not pass hubgate -t: $out"
    listen=$(ini_get proxy listen)
    if [ -n "$(ini_get proxy users)" ] || [ -n "$(ini_get proxy users_file)" ]; then AUTH=1; fi
    PROXY_URL=$(proxy_from_listen "${listen:-127.0.0.1:3128}")
    say "$PROG: local mode: config $CONFIG, proxy $PROXY_URL"
fi
[ "$DRY" = 1 ] && say "$PROG: dry run: nothing is changed"
[ -n "$ROOT" ] && say "$PROG: files under $ROOT; system commands are only printed"

if [ -n "$PROXY" ]; then fleet_ca; else local_ca; fi
if [ "$DOCKER" = 1 ]; then
    dropin docker "[2/4]"
else
    step "[2/4] docker.service: skipped (not installed on this Kubernetes node)"
fi
if [ "$CONTAINERD" = 1 ]; then
    dropin containerd "[3/4]"
fi
[ -z "$K3S" ] || k3s_env "[3/4]"
if [ "$CONTAINERD" = 0 ] && [ -z "$K3S" ]; then
    step "[3/4] containerd.service: skipped (no --containerd)"
fi
apply
say "$PROG: done"
