#!/bin/bash
# t_50_setup_docker - the operator scripts: scripts/setup-docker.sh and
# scripts/install.sh, on temporary trees, never on this host's own files.
#   1. setup-docker.sh --root (local mode, --containerd) on a fresh tree: the
#      CA is made, the files and the state equal the golden ones in
#      tests/integration/setup/ (host names substituted), stdout too;
#   2. a second run changes nothing (same checksums, "nothing to do" lines);
#   3. --dry-run on a fresh tree writes nothing; --undo removes exactly what
#      was written (the tree is as before, plus the CA, which stays);
#   4. a foreign http-proxy.conf with other settings is kept (ours goes to
#      hubgate-proxy.conf, its NO_PROXY merged); one with another
#      HTTPS_PROXY makes the script stop with nothing changed;
#   4b. Kubernetes nodes: --containerd on a kubeadm-style tree (containerd
#      unit, kubelet.conf, static pod manifests) puts the cluster's names,
#      CIDRs, API server and node addresses in containerd's NO_PROXY (golden),
#      skips docker; --k3s on a tree with k3s.service and a k3s.service.env
#      holding other lines: --dry-run writes nothing, the CONTAINERD_* block
#      (golden) keeps the other lines and mode 0600, a rerun changes nothing,
#      --undo restores the file byte for byte (also without a final newline);
#      a different proxy there is refused naming the file; an agent is found
#      by k3s-agent.service.env (K3S_URL's host in NO_PROXY). Nothing is
#      started: crictl and k3s are not Debian packages;
#   5. fleet mode, in a network namespace where a python3 http.server on
#      192.0.2.10:3129 serves the gateway's ca.crt (with a second
#      certificate appended): a wrong --ca-sha256 is refused with nothing
#      changed; the right one (as openssl prints it) is accepted, only the
#      first certificate is trusted, the drop-in names the gateway; undo;
#   6. trust: in a mount namespace over temporary copies of /etc/ssl/certs
#      and /usr/local/share/ca-certificates, with the CA file setup-docker.sh
#      installed, update-ca-certificates makes curl trust a hubgate leaf
#      WITHOUT --cacert: ./hubgate intercepting origin.test (a python TLS
#      origin on 127.0.0.1:443 of a fresh network namespace, signed by a test
#      CA given as [upstream] ca_file); before the update curl refuses it;
#   7. without --root, in a private mount namespace over temporary
#      /etc/systemd/system, /var/lib, /etc/docker and trust store, with stub
#      systemctl and doctor: the CA is made in /var/lib/hubgate and trusted
#      by the real update-ca-certificates (no hooks), daemon-reload and the
#      restarts run; a second run runs only doctor; a failing doctor fails
#      the script; --undo runs update-ca-certificates --fresh and restarts;
#   8. install.sh with DESTDIR and PREFIX=/usr: files, modes, ExecStart,
#      the man page documents every key of proxy/core/config.def, the config
#      passes hubgate -t, systemd-analyze verify; a reinstall changes
#      nothing; a changed config makes hubgate.ini.new; uninstall leaves the
#      tree as before, except a changed config;
#   9. install.sh without DESTDIR, in a mount namespace over copies of /etc
#      and /usr/local: the hubgate system user is created there, the config
#      is 0640 root:hubgate; uninstall keeps the user.
# HG_UPDATE_GOLDEN=1 rewrites the golden files from this run (then review
# the diff). HG_KEEP=1 keeps the temp dir. HUBGATE=path: binary under test.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HUBGATE=${HUBGATE:-$TOP/hubgate}
GOLDEN=$TOP/tests/integration/setup
SETUP=$TOP/scripts/setup-docker.sh
INSTALL=$TOP/scripts/install.sh
PY=/usr/bin/python3
GW_IP=192.0.2.10

unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy \
      NO_PROXY no_proxy SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE || true

log()  { printf '# %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces)"
missing=""
for c in openssl curl ip unshare nsenter update-ca-certificates sha256sum timeout \
         hostname ss getent; do
    command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -x "$PY" ] || missing="$missing $PY"
[ -z "$missing" ] || skip "missing:$missing (run scripts/deps.sh --test)"
[ -x "$HUBGATE" ] || fail "no hubgate binary at $HUBGATE (make hubgate)"
ip netns list >/dev/null 2>&1 || skip "cannot use network namespaces here"

T=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-t50.XXXXXX")
NS=""
umask 022

cleanup() {
    local rc=$? pid m
    set +e
    trap - EXIT INT TERM HUP
    if [ -n "$NS" ]; then
        for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$NS" 2>/dev/null
        rm -rf "/etc/netns/$NS"
        rmdir /etc/netns 2>/dev/null
    fi
    awk -v p="$T/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r \
        | while read -r m; do umount -l "$m" 2>/dev/null; done
    if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -d "$T/logs" ]; then
        for m in "$T"/logs/*; do
            [ -f "$m" ] || continue
            echo "-------- $(basename "$m"): last 30 lines"
            tail -n 30 "$m"
        done
    fi
    if [ "${HG_KEEP:-0}" = 1 ]; then
        echo "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
mkdir -p "$T/logs"
log "temp dir $T, hubgate $HUBGATE ($("$HUBGATE" --version 2>&1 | head -n1))"

# ------------------------------------------------------------------ helpers

# expected_no_proxy [CMD-PREFIX...]: the NO_PROXY list setup-docker.sh
# should write, from hostname and hostname -f run the same way.
expected_no_proxy() {
    local list="localhost,127.0.0.0/8,::1" n
    for n in "$("$@" hostname)" "$("$@" timeout 5 hostname -f 2>/dev/null || true)"; do
        case $n in ''|localhost|*[!A-Za-z0-9.-]*) continue ;; esac
        case ",$list," in *",$n,"*) continue ;; esac
        list="$list,$n"
    done
    printf '%s\n' "$list"
}

# snapshot DIR: every path below DIR with its type, mode and, for files,
# sha256: two snapshots are equal iff the trees are.
snapshot() {
    (cd "$1" && find . -mindepth 1 -printf '%y %m %p\n' | sort -k3 | while read -r y m p; do
        if [ "$y" = f ]; then
            printf '%s %s %s %s\n' "$y" "$m" "$p" "$(sha256sum <"$p" | cut -d' ' -f1)"
        else
            printf '%s %s %s\n' "$y" "$m" "$p"
        fi
    done)
}

# tree DIR: paths and modes only (for golden files).
tree() { (cd "$1" && find . -mindepth 1 -printf '%y %m %p\n' | sort -k3); }

# SUBST holds "literal<TAB>placeholder" lines; norm replaces each literal
# (longest first, literally) in stdin.
SUBST=$T/subst
: >"$SUBST"
subst_add() { printf '%s\t%s\n' "$1" "$2" >>"$SUBST"; }
norm() {
    "$PY" -c '
import sys
pairs = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if "\t" in l]
pairs.sort(key=lambda p: -len(p[0]))
text = sys.stdin.read()
for lit, ph in pairs:
    if lit:
        text = text.replace(lit, ph)
sys.stdout.write(text)' "$SUBST"
}

# golden NAME FILE: FILE, normalised, equals tests/integration/setup/NAME.
golden() {
    local name=$1 file=$2
    norm <"$file" >"$T/norm.$name"
    if [ "${HG_UPDATE_GOLDEN:-0}" = 1 ]; then
        mkdir -p "$GOLDEN"
        cp "$T/norm.$name" "$GOLDEN/$name"
        log "golden: wrote $GOLDEN/$name"
        return 0
    fi
    [ -f "$GOLDEN/$name" ] || fail "no golden file $GOLDEN/$name (HG_UPDATE_GOLDEN=1 makes it)"
    if ! diff -u "$GOLDEN/$name" "$T/norm.$name" >"$T/diff.$name"; then
        head -n 60 "$T/diff.$name" >&2
        fail "$name differs from the golden file (diff above; HG_UPDATE_GOLDEN=1 to accept)"
    fi
    log "golden: $name matches"
}

# setup ARGS...: setup-docker.sh, bounded in time; stdout in $T/out,
# stderr in $T/err; sets RC.
RC=0
setup() {
    RC=0
    timeout 120 "$SETUP" "$@" >"$T/out" 2>"$T/err" || RC=$?
    cat "$T/out" "$T/err" >>"$T/logs/setup-docker.log"
}

# unless the hubgate user exists here, setup-docker.sh prints no chown line.
drop_chown() { grep -v '^   run: chown hubgate:hubgate ' || true; }

fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | sed 's/.*=//'; }
fp_hex() { fingerprint "$1" | tr -d ':' | tr 'A-F' 'a-f'; }

# ------------------------------------------------------------------ 1. local mode

R=$T/root
HOSTS=$(expected_no_proxy)
FQDN=$(timeout 5 hostname -f 2>/dev/null || hostname)
mkdir -p "$R/etc/hubgate"
cat >"$R/etc/hubgate/hubgate.ini" <<EOF
; test config of t_50: the CA goes inside the tree
[proxy]
listen = 0.0.0.0:3128
[ca]
dir = $R/var/lib/hubgate
EOF
subst_add "$R" "@ROOT@"
subst_add "$HUBGATE" "@HUBGATE@"
subst_add "NO_PROXY=$HOSTS\"" "NO_PROXY=@NO_PROXY@\""
subst_add "--proxy http://$FQDN:3128" "--proxy http://@FQDN@:3128"
LOCAL=(--root "$R" --config "$R/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE" --containerd)

# 3a. a dry run on the fresh tree writes nothing.
snapshot "$R" >"$T/snap.fresh"
setup "${LOCAL[@]}" --dry-run
[ "$RC" = 0 ] || fail "setup-docker.sh --dry-run exited $RC: $(cat "$T/err")"
snapshot "$R" >"$T/snap.dry"
cmp -s "$T/snap.fresh" "$T/snap.dry" || fail "--dry-run changed the tree: $(diff "$T/snap.fresh" "$T/snap.dry" | head -n 20)"
drop_chown <"$T/out" >"$T/out.n"
golden local-dry-run.out "$T/out.n"
log "--dry-run on a fresh tree: nothing written"

# 1. first run.
setup "${LOCAL[@]}"
[ "$RC" = 0 ] || fail "setup-docker.sh exited $RC: $(cat "$T/err")"
CA=$R/var/lib/hubgate/ca.crt
{ [ -s "$CA" ] && [ -s "$R/var/lib/hubgate/ca.key" ]; } || fail "no CA made in $R/var/lib/hubgate"
[ "$(stat -c %a "$R/var/lib/hubgate/ca.key")" = 600 ] || fail "ca.key is not mode 0600"
if getent passwd hubgate >/dev/null; then
    [ "$(stat -c %U "$R/var/lib/hubgate/ca.key")" = hubgate ] || fail "ca.key not owned by the hubgate user"
fi
subst_add "$(fp_hex "$CA")" "@CA_SHA256@"
subst_add "$(openssl x509 -in "$CA" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" "@CA_SUBJECT@"
drop_chown <"$T/out" >"$T/out.n"
golden local-run1.out "$T/out.n"
tree "$R" >"$T/tree"
golden local-tree.txt "$T/tree"
cmp -s "$CA" "$R/usr/local/share/ca-certificates/hubgate.crt" \
    || fail "the trusted hubgate.crt is not the CA's ca.crt"
golden docker-http-proxy.conf "$R/etc/systemd/system/docker.service.d/http-proxy.conf"
golden containerd-http-proxy.conf "$R/etc/systemd/system/containerd.service.d/http-proxy.conf"
STATE=$R/var/lib/hubgate/setup-docker.state
sed -E 's/ [0-9a-f]{64} / @SHA256@ /' "$STATE" >"$T/state.n"
golden local.state "$T/state.n"
# Every file the state names holds the checksum recorded.
while read -r kind sum path; do
    [ "$kind" = file ] || continue
    [ "$(sha256sum <"$R$path" | cut -d' ' -f1)" = "$sum" ] || fail "state: wrong sha256 for $path"
done <"$STATE"
log "first run: CA made, trusted, drop-ins for docker and containerd, state as expected"

# 2. second run: nothing changes.
snapshot "$R" >"$T/snap.1"
setup "${LOCAL[@]}"
[ "$RC" = 0 ] || fail "second run exited $RC: $(cat "$T/err")"
snapshot "$R" >"$T/snap.2"
cmp -s "$T/snap.1" "$T/snap.2" || fail "the second run changed the tree: $(diff "$T/snap.1" "$T/snap.2" | head -n 20)"
grep -Eq '^   (would )?(write|replace|remove|rmdir|mkdir)' "$T/out" && fail "second run wants changes: $(cat "$T/out")"
grep -q 'would run: systemctl' "$T/out" && fail "second run would restart units: $(cat "$T/out")"
[ "$(grep -c '^   nothing to do:' "$T/out")" -ge 5 ] || fail "second run: too few 'nothing to do' lines"
golden local-run2.out "$T/out"
log "second run: same checksums, $(grep -c '^   nothing to do:' "$T/out") 'nothing to do' lines, no restart"

# 3b. undo: the tree as before, plus the CA (kept on purpose).
setup "${LOCAL[@]}" --undo --dry-run
[ "$RC" = 0 ] || fail "--undo --dry-run exited $RC"
snapshot "$R" >"$T/snap.3"
cmp -s "$T/snap.2" "$T/snap.3" || fail "--undo --dry-run changed the tree"
setup "${LOCAL[@]}" --undo
[ "$RC" = 0 ] || fail "--undo exited $RC: $(cat "$T/err")"
golden local-undo.out "$T/out"
snapshot "$R" >"$T/snap.undo"
{ cat "$T/snap.fresh"
  grep -E ' \./var($|/lib$|/lib/hubgate$|/lib/hubgate/ca\.(crt|key) )' "$T/snap.1"
} | sort -k3 >"$T/snap.want"
if ! diff -u "$T/snap.want" "$T/snap.undo" >"$T/diff.undo"; then
    head -n 40 "$T/diff.undo" >&2
    fail "--undo did not restore the tree (want: as before, plus the CA)"
fi
setup "${LOCAL[@]}" --undo
{ [ "$RC" = 0 ] && grep -q 'nothing to do: no state file' "$T/out"; } || fail "a second --undo is not a no-op"
log "--undo: tree restored exactly (the CA stays in var/lib/hubgate); a second --undo does nothing"

# ------------------------------------------------------------------ 4. foreign drop-ins

D=$R/etc/systemd/system/docker.service.d
mkdir -p "$D"
printf '[Service]\nEnvironment="HTTPS_PROXY=http://corp.example:8080" "HTTP_PROXY=http://corp.example:8080"\n' >"$D/http-proxy.conf"
snapshot "$R" >"$T/snap.f0"
setup --root "$R" --config "$R/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE"
[ "$RC" != 0 ] || fail "a foreign HTTPS_PROXY did not stop setup-docker.sh"
grep -q 'sets HTTPS_PROXY=http://corp.example:8080 for docker' "$T/err" \
    || fail "no clear message about the foreign proxy: $(cat "$T/err")"
snapshot "$R" >"$T/snap.f1"
cmp -s "$T/snap.f0" "$T/snap.f1" || fail "refused run changed the tree: $(diff "$T/snap.f0" "$T/snap.f1" | head)"
log "foreign HTTPS_PROXY: refused with nothing changed: $(head -n1 "$T/err")"

printf '[Service]\nLimitNOFILE=1048576\nEnvironment="NO_PROXY=registry.internal,.corp"\n' >"$D/http-proxy.conf"
cp "$D/http-proxy.conf" "$T/foreign.conf"
snapshot "$R" >"$T/snap.fa"
setup --root "$R" --config "$R/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE"
[ "$RC" = 0 ] || fail "setup-docker.sh with a foreign drop-in exited $RC: $(cat "$T/err")"
cmp -s "$T/foreign.conf" "$D/http-proxy.conf" || fail "the foreign http-proxy.conf was changed"
[ -f "$D/hubgate-proxy.conf" ] || fail "no hubgate-proxy.conf next to the foreign drop-in"
subst_add "NO_PROXY=$HOSTS,.corp,registry.internal\"" "NO_PROXY=@NO_PROXY@,.corp,registry.internal\""
golden foreign-hubgate-proxy.conf "$D/hubgate-proxy.conf"
snapshot "$R" >"$T/snap.f2"
setup --root "$R" --config "$R/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE"
snapshot "$R" >"$T/snap.f3"
{ [ "$RC" = 0 ] && cmp -s "$T/snap.f2" "$T/snap.f3"; } || fail "second run with a foreign drop-in changed things"
setup --root "$R" --config "$R/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE" --undo
[ "$RC" = 0 ] || fail "--undo exited $RC"
{ [ ! -e "$D/hubgate-proxy.conf" ] && cmp -s "$T/foreign.conf" "$D/http-proxy.conf"; } \
    || fail "--undo did not remove only ours"
snapshot "$R" >"$T/snap.f4"
cmp -s "$T/snap.fa" "$T/snap.f4" || fail "--undo after the foreign case left changes: $(diff "$T/snap.fa" "$T/snap.f4" | head)"
rm -rf "$R/etc/systemd"
log "foreign drop-in with other settings: kept byte for byte, ours in hubgate-proxy.conf (NO_PROXY merged); undo removes only ours"

# ------------------------------------------------------------------ 4b. Kubernetes nodes

# node_ips_csv: this host's addresses as setup-docker.sh adds them to a
# Kubernetes node's NO_PROXY (hostname -I, without link-local ones).
node_ips_csv() {
    local a out=""
    for a in $(hostname -I 2>/dev/null || true); do
        case $a in fe80:*|169.254.*) ;; *) out=$out,$a ;; esac
    done
    printf '%s\n' "${out#,}"
}
IPS=$(node_ips_csv)
[ -n "$IPS" ] || fail "hostname -I shows no address: the Kubernetes goldens need one"
subst_add ",$IPS," ",@NODE_IPS@,"
subst_add "NO_PROXY=$HOSTS,.svc," "NO_PROXY=@NO_PROXY@,.svc,"

# kroot DIR: a tree with its own hubgate config (CA inside) for a node.
kroot() {
    mkdir -p "$1/etc/hubgate" "$1/etc/systemd/system"
    printf '[proxy]\nlisten = 127.0.0.1:3128\n[intercept]\nregistries = docker.io registry.k8s.io\n[ca]\ndir = %s/var/lib/hubgate\n' \
        "$1" >"$1/etc/hubgate/hubgate.ini"
    subst_add "$1" "@ROOT@"
}

# kubeadm style: containerd.service (no docker), kubelet's config, the
# control plane's static pod manifests.
KR=$T/kubeadm
kroot "$KR"
mkdir -p "$KR/lib/systemd/system" "$KR/etc/kubernetes/manifests" "$KR/var/lib/kubelet"
printf '[Service]\nExecStart=/usr/bin/containerd\n' >"$KR/lib/systemd/system/containerd.service"
printf 'apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0t\n    server: https://k8s-api.example:6443\n  name: kubernetes\n' \
    >"$KR/etc/kubernetes/kubelet.conf"
printf 'apiVersion: kubelet.config.k8s.io/v1beta1\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\n' \
    >"$KR/var/lib/kubelet/config.yaml"
printf 'spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --service-cluster-ip-range=10.96.0.0/12\n' \
    >"$KR/etc/kubernetes/manifests/kube-apiserver.yaml"
printf 'spec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --cluster-cidr=10.244.0.0/16\n' \
    >"$KR/etc/kubernetes/manifests/kube-controller-manager.yaml"
KUBEADM=(--root "$KR" --config "$KR/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE" --containerd --no-proxy registry.lan)
snapshot "$KR" >"$T/snap.k0"
setup "${KUBEADM[@]}" --dry-run
[ "$RC" = 0 ] || fail "kubeadm --dry-run exited $RC: $(cat "$T/err")"
snapshot "$KR" >"$T/snap.k1"
cmp -s "$T/snap.k0" "$T/snap.k1" || fail "kubeadm --dry-run changed the tree"
setup "${KUBEADM[@]}"
[ "$RC" = 0 ] || fail "kubeadm --containerd exited $RC: $(cat "$T/err")"
subst_add "$(fp_hex "$KR/var/lib/hubgate/ca.crt")" "@CA_SHA256@"
drop_chown <"$T/out" >"$T/out.n"
golden kubeadm-run1.out "$T/out.n"
golden kubeadm-containerd-http-proxy.conf "$KR/etc/systemd/system/containerd.service.d/http-proxy.conf"
[ ! -e "$KR/etc/systemd/system/docker.service.d" ] || fail "kubeadm node without docker.service got a docker drop-in"
snapshot "$KR" >"$T/snap.k2"
setup "${KUBEADM[@]}"
snapshot "$KR" >"$T/snap.k3"
{ [ "$RC" = 0 ] && cmp -s "$T/snap.k2" "$T/snap.k3"; } || fail "kubeadm second run changed the tree: $(cat "$T/out")"
grep -q 'nothing to do: no restart needed' "$T/out" || fail "kubeadm second run would restart: $(cat "$T/out")"
setup "${KUBEADM[@]}" --undo
[ "$RC" = 0 ] || fail "kubeadm --undo exited $RC"
grep -qx '   would run: systemctl restart containerd.service' "$T/out" || fail "kubeadm --undo does not restart containerd"
snapshot "$KR" >"$T/snap.k4"
{ cat "$T/snap.k0"
  grep -E ' \./var/lib/hubgate($|/ca\.(crt|key) )' "$T/snap.k2"
} | sort -k3 >"$T/snap.kwant"
diff -u "$T/snap.kwant" "$T/snap.k4" >"$T/diff.k" || { head -n 30 "$T/diff.k" >&2; fail "kubeadm --undo did not restore the tree"; }
log "kubeadm node: containerd's NO_PROXY has .svc, .cluster.local, both CIDRs, the API server, the node's addresses and --no-proxy; docker skipped; rerun no-op; undo restores"

# k3s server: k3s.service with a --cluster-cidr flag, a config.yaml with
# service-cidr, and an env file holding other lines (mode 0600).
K3=$T/k3s
kroot "$K3"
mkdir -p "$K3/etc/rancher/k3s"
ENVF=$K3/etc/systemd/system/k3s.service.env
# As k3s's install.sh writes it (INSTALL_K3S_EXEC="--cluster-cidr=...").
cat >"$K3/etc/systemd/system/k3s.service" <<'UNIT'
[Service]
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/k3s.service.env
ExecStart=/usr/local/bin/k3s \
    server \
	'--cluster-cidr=10.52.0.0/16' \

UNIT
printf 'write-kubeconfig-mode: "0644"\nservice-cidr: "10.53.0.0/16"\n' >"$K3/etc/rancher/k3s/config.yaml"
printf 'K3S_TOKEN=K10t50::server:secret\nK3S_NODE_NAME=node1\nNO_PROXY=.corp.example\n' >"$ENVF"
chmod 0600 "$ENVF"
cp -p "$ENVF" "$T/k3s.env.orig"
K3SARGS=(--root "$K3" --config "$K3/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE" --k3s)
snapshot "$K3" >"$T/snap.s0"
setup "${K3SARGS[@]}" --dry-run
[ "$RC" = 0 ] || fail "--k3s --dry-run exited $RC: $(cat "$T/err")"
snapshot "$K3" >"$T/snap.s1"
cmp -s "$T/snap.s0" "$T/snap.s1" || fail "--k3s --dry-run changed the tree: $(diff "$T/snap.s0" "$T/snap.s1" | head)"
grep -q "would edit: $ENVF" "$T/out" || fail "--k3s --dry-run does not say it would edit $ENVF: $(cat "$T/out")"
setup "${K3SARGS[@]}"
[ "$RC" = 0 ] || fail "--k3s exited $RC: $(cat "$T/err")"
subst_add "$(fp_hex "$K3/var/lib/hubgate/ca.crt")" "@CA_SHA256@"
drop_chown <"$T/out" >"$T/out.n"
golden k3s-run1.out "$T/out.n"
golden k3s.service.env "$ENVF"
sed -E 's/ [0-9a-f]{64} / @SHA256@ /; s/ [0-9a-f]{64} / @SHA256@ /' "$K3/var/lib/hubgate/setup-docker.state" >"$T/state.n"
golden k3s.state "$T/state.n"
grep -qF K10t50 "$T/out" && fail "--k3s printed the env file's K3S_TOKEN"
[ "$(head -n 3 "$ENVF")" = "$(cat "$T/k3s.env.orig")" ] || fail "--k3s did not keep the env file's other lines first"
[ "$(stat -c %a "$ENVF")" = 600 ] || fail "--k3s changed the env file's mode to $(stat -c %a "$ENVF")"
snapshot "$K3" >"$T/snap.s2"
setup "${K3SARGS[@]}"
[ "$RC" = 0 ] || fail "--k3s second run exited $RC: $(cat "$T/err")"
snapshot "$K3" >"$T/snap.s3"
cmp -s "$T/snap.s2" "$T/snap.s3" || fail "--k3s second run changed the tree: $(diff "$T/snap.s2" "$T/snap.s3" | head)"
grep -q "nothing to do: $ENVF is up to date" "$T/out" || fail "--k3s second run: no 'nothing to do' for the env file"
grep -q 'would run: systemctl' "$T/out" && fail "--k3s second run would restart: $(cat "$T/out")"
golden k3s-run2.out "$T/out"
setup "${K3SARGS[@]}" --undo
[ "$RC" = 0 ] || fail "--k3s --undo exited $RC: $(cat "$T/err")"
golden k3s-undo.out "$T/out"
cmp -s "$T/k3s.env.orig" "$ENVF" || fail "--undo did not restore k3s.service.env byte for byte: $(diff "$T/k3s.env.orig" "$ENVF")"
[ "$(stat -c %a "$ENVF")" = 600 ] || fail "--undo changed the env file's mode"
snapshot "$K3" >"$T/snap.s4"
{ cat "$T/snap.s0"
  grep -E ' \./var($|/lib$|/lib/hubgate$|/lib/hubgate/ca\.(crt|key) )' "$T/snap.s2"
} | sort -k3 >"$T/snap.swant"
diff -u "$T/snap.swant" "$T/snap.s4" >"$T/diff.s" || { head -n 30 "$T/diff.s" >&2; fail "--k3s --undo did not restore the tree"; }
log "k3s server: CONTAINERD_* block in k3s.service.env (other lines and mode 0600 kept, token not printed); rerun no-op; undo restores the file byte for byte"

# An env file whose last line has no newline comes back the same.
printf 'K3S_TOKEN=K10t50::server:secret' >"$ENVF"
cp -p "$ENVF" "$T/k3s.env.orig"
setup "${K3SARGS[@]}"
[ "$RC" = 0 ] || fail "--k3s on an env file without a final newline exited $RC: $(cat "$T/err")"
setup "${K3SARGS[@]}" --undo
cmp -s "$T/k3s.env.orig" "$ENVF" || fail "--undo did not restore an env file without a final newline"
log "k3s: an env file without a final newline is restored byte for byte"

# A different proxy in the env file: refused, naming the file.
printf 'K3S_TOKEN=K10t50::server:secret\nHTTPS_PROXY=http://corp.example:8080\n' >"$ENVF"
snapshot "$K3" >"$T/snap.s5"
setup "${K3SARGS[@]}"
[ "$RC" != 0 ] || fail "--k3s accepted a different HTTPS_PROXY in the env file"
grep -q "$ENVF sets HTTPS_PROXY=http://corp.example:8080 for k3s" "$T/err" \
    || fail "no clear message about the env file's proxy: $(cat "$T/err")"
snapshot "$K3" >"$T/snap.s6"
cmp -s "$T/snap.s5" "$T/snap.s6" || fail "the refused --k3s run changed the tree"
log "k3s: a different proxy in the env file refused, nothing changed: $(head -n 1 "$T/err")"

# Agent: found by its env file; K3S_URL's host goes to NO_PROXY. Both
# server and agent present: --k3s alone is refused.
rm -f "$ENVF" "$K3/etc/systemd/system/k3s.service"
printf 'K3S_URL=https://k3s-server.example:6443\nK3S_TOKEN=x\n' >"$K3/etc/systemd/system/k3s-agent.service.env"
setup "${K3SARGS[@]}" --dry-run
[ "$RC" = 0 ] || fail "--k3s (agent) --dry-run exited $RC: $(cat "$T/err")"
grep -q '^== \[3/4\] k3s-agent.service (k3s agent)' "$T/out" || fail "--k3s did not find the agent: $(cat "$T/out")"
grep -q '^     | CONTAINERD_NO_PROXY=.*,k3s-server\.example,' "$T/out" || fail "agent: K3S_URL's host not in NO_PROXY: $(cat "$T/out")"
grep -qx '   would run: systemctl restart k3s-agent.service' "$T/out" || fail "agent: no restart of k3s-agent"
touch "$K3/etc/systemd/system/k3s.service"
setup "${K3SARGS[@]}" --dry-run
{ [ "$RC" != 0 ] && grep -q 'say which with --k3s=server or --k3s=agent' "$T/err"; } || fail "--k3s with both units present: $(cat "$T/out" "$T/err")"
setup "${K3SARGS[@]}" --k3s=agent --dry-run
[ "$RC" = 0 ] || fail "--k3s=agent with both units present exited $RC: $(cat "$T/err")"
log "k3s agent: found by k3s-agent.service.env, K3S_URL's host in NO_PROXY; both present: --k3s=server|agent needed"

# ------------------------------------------------------------------ namespace

for _ in 1 2 3 4 5 6 7 8; do
    id=$(printf '%x%02x' "$$" $((RANDOM % 256)))
    if ip netns add "hgs-$id" 2>/dev/null; then NS=hgs-$id; break; fi
done
[ -n "$NS" ] || fail "could not create a network namespace"
ip -n "$NS" link set lo up
# The gateway's address, on lo (no dummy module needed).
ip -n "$NS" addr add "$GW_IP/32" dev lo
mkdir -p "/etc/netns/$NS"
printf '127.0.0.1 localhost origin.test\n::1 localhost\n' >"/etc/netns/$NS/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$NS/resolv.conf"
log "network namespace $NS (lo: 127.0.0.1, $GW_IP)"

# wait_port ADDR PORT PID NAME: until something listens in NS.
wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        if nsenter --net="/run/netns/$NS" ss -Hltn "sport = :$2" 2>/dev/null | grep -q "$1:$2"; then
            return 0
        fi
        kill -0 "$3" 2>/dev/null || fail "$4 died (see logs)"
        sleep 0.1
    done
    fail "$4: nothing listens on $1:$2 after 10 s"
}

# ------------------------------------------------------------------ 5. fleet mode

"$TOP/tests/pki/gen.sh" "$T/pki" origin.test >"$T/logs/pki.log" 2>&1 || fail "tests/pki/gen.sh failed"
mkdir -p "$T/served"
# The gateway's CA (the one made above), then an unrelated certificate that
# must not ride along into the trust store.
cat "$CA" "$T/pki/ca.crt" >"$T/served/ca.crt"
ip netns exec "$NS" timeout 600 "$PY" -m http.server 3129 --bind "$GW_IP" \
    --directory "$T/served" >"$T/logs/http-server.log" 2>&1 &
srv=$!
wait_port "$GW_IP" 3129 "$srv" "http.server"

F=$T/froot
mkdir -p "$F"
FHOSTS=$(expected_no_proxy ip netns exec "$NS")
subst_add "NO_PROXY=$FHOSTS\"" "NO_PROXY=@NO_PROXY@\""
subst_add "$F" "@ROOT@"
FLEET=(--root "$F" --proxy "http://$GW_IP:3128")
snapshot "$F" >"$T/snap.fl0"
wrong=$(printf '%s' "$(fp_hex "$T/pki/ca.crt")")
RC=0
ip netns exec "$NS" timeout 60 "$SETUP" "${FLEET[@]}" --ca-sha256 "$wrong" >"$T/out" 2>"$T/err" || RC=$?
[ "$RC" != 0 ] || fail "fleet mode accepted a wrong --ca-sha256"
grep -q "REFUSED: the CA served at http://$GW_IP:3129/ca.crt has sha256 $(fp_hex "$CA"), not the expected $wrong" "$T/err" \
    || fail "no clear refusal: $(cat "$T/err")"
snapshot "$F" >"$T/snap.fl1"
cmp -s "$T/snap.fl0" "$T/snap.fl1" || fail "the refused fleet run changed the tree"
log "fleet, wrong fingerprint: $(head -n1 "$T/err")"

# The fingerprint as openssl prints it: upper case, colons.
right=$(fingerprint "$CA")
ip netns exec "$NS" timeout 60 "$SETUP" "${FLEET[@]}" --ca-sha256 "$right" --dry-run >"$T/out" 2>"$T/err" \
    || fail "fleet --dry-run failed: $(cat "$T/err")"
snapshot "$F" >"$T/snap.fl1"
cmp -s "$T/snap.fl0" "$T/snap.fl1" || fail "fleet --dry-run changed the tree"
grep -q "would write: $F/etc/systemd/system/docker.service.d/http-proxy.conf" "$T/out" \
    || fail "fleet --dry-run does not say what it would write: $(cat "$T/out")"
RC=0
ip netns exec "$NS" timeout 60 "$SETUP" "${FLEET[@]}" --ca-sha256 "$right" >"$T/out" 2>"$T/err" || RC=$?
[ "$RC" = 0 ] || fail "fleet mode with the right fingerprint exited $RC: $(cat "$T/err")"
golden fleet-run1.out "$T/out"
[ "$(grep -c 'BEGIN CERTIFICATE' "$F/usr/local/share/ca-certificates/hubgate.crt")" = 1 ] \
    || fail "fleet mode trusted more than the one pinned certificate"
cmp -s "$CA" "$F/usr/local/share/ca-certificates/hubgate.crt" || fail "fleet mode trusted another certificate"
golden fleet-http-proxy.conf "$F/etc/systemd/system/docker.service.d/http-proxy.conf"
tree "$F" >"$T/tree"
golden fleet-tree.txt "$T/tree"
snapshot "$F" >"$T/snap.fl2"
ip netns exec "$NS" timeout 60 "$SETUP" "${FLEET[@]}" --ca-sha256 "$right" >"$T/out" 2>"$T/err" || fail "fleet second run failed"
snapshot "$F" >"$T/snap.fl3"
cmp -s "$T/snap.fl2" "$T/snap.fl3" || fail "the second fleet run changed the tree"
grep -q 'nothing to do: no restart needed' "$T/out" || fail "second fleet run would restart: $(cat "$T/out")"
ip netns exec "$NS" timeout 60 "$SETUP" --root "$F" --undo >"$T/out" 2>"$T/err" || fail "fleet --undo failed"
snapshot "$F" >"$T/snap.fl4"
cmp -s "$T/snap.fl0" "$T/snap.fl4" || fail "fleet --undo did not restore the tree: $(diff "$T/snap.fl0" "$T/snap.fl4" | head)"
kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null || true
log "fleet, right fingerprint: only the pinned CA trusted, drop-in -> http://$GW_IP:3128; rerun no-op; undo restores"

# ------------------------------------------------------------------ 6. trust

# hubgate intercepting origin.test; its CA made and installed by
# setup-docker.sh (into a tree, as above).
TR=$T/troot
mkdir -p "$TR/etc/hubgate"
cat >"$TR/etc/hubgate/hubgate.ini" <<EOF
[proxy]
listen = 127.0.0.1:3128
[ca]
dir = $TR/var/lib/hubgate
[intercept]
hosts = origin.test
[upstream]
ca_file = $T/pki/ca.crt
[dns]
servers =
EOF
setup --root "$TR" --config "$TR/etc/hubgate/hubgate.ini" --hubgate "$HUBGATE"
[ "$RC" = 0 ] || fail "setup-docker.sh for the trust test exited $RC: $(cat "$T/err")"
mark="hubgate-t50-$(openssl rand -hex 8)"
printf '%s\n' "$mark" >"$T/origin.body"
cp -a /etc/ssl/certs "$T/certs"
cp -a /usr/local/share/ca-certificates "$T/local-certs" 2>/dev/null || mkdir -p "$T/local-certs"
mkdir -p "$T/nohooks"
cat >"$T/origin.py" <<'EOF'
import http.server, ssl, sys
cert, key, body_file = sys.argv[1:4]
body = open(body_file, "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        sys.stderr.write("origin: " + (fmt % args) + "\n")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
# Everything below runs in NS and in one private mount namespace, where the
# copies hide the host's trust store; nothing leaves it.
cat >"$T/trust.sh" <<'EOF'
set -eu
T=$1 HUBGATE=$2 TR=$3 PY=$4 MARK=$5
mount --bind "$T/certs" /etc/ssl/certs
mount --bind "$T/local-certs" /usr/local/share/ca-certificates
"$PY" "$T/origin.py" "$T/pki/origin.test.crt" "$T/pki/origin.test.key" "$T/origin.body" \
    >>"$T/logs/origin.log" 2>&1 &
origin=$!
"$HUBGATE" -c "$TR/etc/hubgate/hubgate.ini" >>"$T/logs/hubgate.log" 2>&1 &
hub=$!
trap 'kill $origin $hub 2>/dev/null; wait 2>/dev/null' EXIT
for i in $(seq 100); do
    if ss -Hltn 'sport = :443' | grep -q 127.0.0.1:443 && ss -Hltn 'sport = :3128' | grep -q 127.0.0.1:3128; then
        break
    fi
    kill -0 $origin && kill -0 $hub || { echo "origin or hubgate died"; exit 1; }
    sleep 0.1
done
# Before: hubgate's CA is not trusted, so its leaf is refused.
rc=0
curl -sS --max-time 10 -x http://127.0.0.1:3128 https://origin.test/ >/dev/null 2>"$T/logs/curl-before.log" || rc=$?
[ "$rc" = 60 ] || { echo "before update-ca-certificates: curl exit $rc, want 60: $(cat "$T/logs/curl-before.log")"; exit 1; }
echo "before: curl exit 60 (hubgate's leaf not trusted)"
cp "$TR/usr/local/share/ca-certificates/hubgate.crt" /usr/local/share/ca-certificates/hubgate.crt
update-ca-certificates --hooksdir "$T/nohooks" >"$T/logs/update-ca-certificates.log" 2>&1
grep -E '^[0-9]+ added' "$T/logs/update-ca-certificates.log"
[ -L /etc/ssl/certs/hubgate.pem ] || { echo "no /etc/ssl/certs/hubgate.pem"; exit 1; }
body=$(curl -sS -v --max-time 10 -x http://127.0.0.1:3128 https://origin.test/ 2>"$T/logs/curl-after.log") \
    || { echo "after: curl failed: $(tail -n 5 "$T/logs/curl-after.log")"; exit 1; }
[ "$body" = "$MARK" ] || { echo "after: wrong body: $body"; exit 1; }
grep -q 'issuer: O=hubgate; CN=hubgate local CA' "$T/logs/curl-after.log" \
    || { echo "after: the leaf is not hubgate's: $(grep -i issuer "$T/logs/curl-after.log")"; exit 1; }
echo "after: curl -x hubgate https://origin.test/ (no --cacert) got the origin's body; leaf issued by hubgate's CA"
EOF
out=$(ip netns exec "$NS" timeout 120 unshare -m --propagation private \
    bash "$T/trust.sh" "$T" "$HUBGATE" "$TR" "$PY" "$mark" 2>&1) || fail "trust: $out"
printf '%s\n' "$out" | sed 's/^/# trust: /'
# The host's own trust store never saw it.
if [ -e /etc/ssl/certs/hubgate.pem ] && cmp -s /etc/ssl/certs/hubgate.pem "$TR/var/lib/hubgate/ca.crt"; then
    fail "the host's /etc/ssl/certs was changed"
fi
log "trust: update-ca-certificates in a mount namespace made curl trust hubgate's leaf without --cacert"

# ------------------------------------------------------------------ 7. without --root

# setup-docker.sh as on a real host (no --root), in a private mount
# namespace where /etc/systemd/system, /var/lib, /etc/docker and the trust
# store are temporary directories of this test; systemctl is a stub that
# logs its calls, update-ca-certificates runs without hooks (the hooks of
# this host would reach outside), and `hubgate doctor` is a stub
# (HG_STUB_DOCTOR=fail makes it fail). The stubs are written with printf
# into $X/bin, which must be set: never a path derived from an empty var.
X=$T/real
{ [ -n "$T" ] && [ -d "$T" ]; } || fail "no temp dir"
mkdir -p "$X/systemd" "$X/varlib" "$X/docker" "$X/bin" "$X/certs" "$X/local-certs" "$T/nohooks"
cp -a /etc/ssl/certs/. "$X/certs/"
cp -a /usr/local/share/ca-certificates/. "$X/local-certs/" 2>/dev/null || true
printf '%s\n' '#!/bin/sh' \
    "echo \"systemctl \$*\" >>'$X/calls'" \
    'exit 0' >"$X/bin/systemctl"
printf '%s\n' '#!/bin/sh' \
    "echo \"update-ca-certificates \$*\" >>'$X/calls'" \
    "exec /usr/sbin/update-ca-certificates --hooksdir '$T/nohooks' \"\$@\" >>'$T/logs/update-ca-certificates.log' 2>&1" \
    >"$X/bin/update-ca-certificates"
# shellcheck disable=SC2016  # the stub's own expansions
printf '%s\n' '#!/bin/sh' \
    'if [ "$1" = doctor ]; then' \
    "    echo \"hubgate \$*\" >>'$X/calls'" \
    '    if [ "${HG_STUB_DOCTOR:-}" = fail ]; then echo "FAIL stub check"; exit 1; fi' \
    '    if [ "${HG_STUB_DOCTOR:-}" = nodockerd ]; then' \
    '        echo "OK   stub check"' \
    '        echo "FAIL dockerd uses hubgate as HTTPS_PROXY: dockerd is not running"' \
    '        echo "     fix: systemctl start docker"; exit 1' \
    '    fi' \
    '    echo "OK   stub check"; exit 0' \
    'fi' \
    "exec '$HUBGATE' \"\$@\"" >"$X/bin/hubgate"
chmod 755 "$X/bin/systemctl" "$X/bin/update-ca-certificates" "$X/bin/hubgate"
printf '[proxy]\nlisten = 127.0.0.1:3128\n' >"$X/hubgate.ini"
# shellcheck disable=SC2016  # the script's own expansions
printf '%s\n' 'set -eu' 'X=$1 SETUP=$2' 'shift 2' \
    'mount --bind "$X/systemd" /etc/systemd/system' \
    'mount --bind "$X/varlib" /var/lib' \
    'if [ -d /etc/docker ]; then mount --bind "$X/docker" /etc/docker; fi' \
    'if [ -f /etc/default/docker ]; then mount --bind /dev/null /etc/default/docker; fi' \
    'mount --bind "$X/certs" /etc/ssl/certs' \
    'mount --bind "$X/local-certs" /usr/local/share/ca-certificates' \
    '# A host without docker: the distribution units hidden (systemctl is a stub).' \
    'if [ "${HG_NO_DOCKER_UNIT:-}" = 1 ]; then' \
    '    for d in /lib/systemd/system /usr/lib/systemd/system; do [ ! -d "$d" ] || mount -t tmpfs tmpfs "$d"; done' \
    'fi' \
    'PATH=$X/bin:$PATH; export PATH' \
    'rc=0' \
    'timeout 120 "$SETUP" --config "$X/hubgate.ini" --hubgate "$X/bin/hubgate" "$@" || rc=$?' \
    'if [ -L /etc/ssl/certs/hubgate.pem ]; then echo "ns: /etc/ssl/certs/hubgate.pem present"; else echo "ns: /etc/ssl/certs/hubgate.pem absent"; fi' \
    'exit "$rc"' >"$X/ns.sh"
real() {
    RC=0
    unshare -m --propagation private sh "$X/ns.sh" "$X" "$SETUP" "$@" >"$T/out" 2>"$T/err" || RC=$?
    cat "$T/out" "$T/err" >>"$T/logs/setup-docker.log"
}
subst_add "$X" "@X@"
real --containerd
[ "$RC" = 0 ] || fail "setup-docker.sh without --root exited $RC: $(cat "$T/err")"
subst_add "$(fp_hex "$X/varlib/hubgate/ca.crt")" "@CA_SHA256@"
drop_chown <"$T/out" >"$T/out.n"
golden real-run1.out "$T/out.n"
golden real-run1.calls "$X/calls"
grep -qx 'ns: /etc/ssl/certs/hubgate.pem present' "$T/out" || fail "update-ca-certificates did not link hubgate.pem"
grep -qF "$(sed -n 2p "$X/varlib/hubgate/ca.crt")" "$X/certs/ca-certificates.crt" \
    || fail "the CA is not in the rebuilt ca-certificates.crt"
cmp -s "$X/varlib/hubgate/ca.crt" "$X/local-certs/hubgate.crt" || fail "hubgate.crt is not the CA"
{ [ -f "$X/systemd/docker.service.d/http-proxy.conf" ] \
      && [ -f "$X/systemd/containerd.service.d/http-proxy.conf" ]; } || fail "no drop-ins in /etc/systemd/system"
log "without --root: CA made in /var/lib/hubgate and trusted (update-ca-certificates), drop-ins, daemon-reload, restarts, doctor"
: >"$X/calls"
real --containerd
[ "$RC" = 0 ] || fail "second run without --root exited $RC: $(cat "$T/err")"
golden real-run2.calls "$X/calls"
if grep -q -e '^   run: systemctl' -e '^   run: update-ca' "$T/out"; then
    fail "second run without --root ran: $(cat "$T/out")"
fi
log "without --root, second run: only doctor runs ($(tr '\n' ';' <"$X/calls"))"
: >"$X/calls"
export HG_STUB_DOCTOR=fail
real --containerd
unset HG_STUB_DOCTOR
{ [ "$RC" != 0 ] && grep -q 'hubgate doctor found problems' "$T/err"; } \
    || fail "a failing doctor did not fail setup-docker.sh"
log "without --root: a failing doctor fails setup-docker.sh: $(tail -n1 "$T/err")"
: >"$X/calls"
real --undo
[ "$RC" = 0 ] || fail "--undo without --root exited $RC: $(cat "$T/err")"
golden real-undo.out "$T/out"
golden real-undo.calls "$X/calls"
grep -qx 'ns: /etc/ssl/certs/hubgate.pem absent' "$T/out" || fail "--undo left /etc/ssl/certs/hubgate.pem"
[ -z "$(ls -A "$X/systemd")" ] || fail "--undo left files in /etc/systemd/system: $(ls -R "$X/systemd")"
[ ! -e "$X/local-certs/hubgate.crt" ] || fail "--undo left hubgate.crt"
log "without --root, --undo: update-ca-certificates --fresh, daemon-reload, restarts; files gone"

# --k3s without --root, on a node without docker (the distribution's unit
# files hidden in the namespace): the env file edited in place (mode
# kept), k3s.service restarted, docker left alone; doctor's "dockerd is not
# running" alone does not fail the script, another failure does; --undo
# restores the env file and restarts k3s.
printf '[Service]\nExecStart=/usr/local/bin/k3s server\n' >"$X/systemd/k3s.service"
printf 'K3S_TOKEN=K10t50::server:secret\n' >"$X/systemd/k3s.service.env"
chmod 0600 "$X/systemd/k3s.service.env"
cp -p "$X/systemd/k3s.service.env" "$T/real-k3s.env.orig"
export HG_NO_DOCKER_UNIT=1
: >"$X/calls"
export HG_STUB_DOCTOR=nodockerd
real --k3s
unset HG_STUB_DOCTOR
[ "$RC" = 0 ] || fail "--k3s without --root (doctor: only dockerd not running) exited $RC: $(cat "$T/out" "$T/err")"
grep -q "note: docker is not installed on this node: doctor's dockerd check does not apply here" "$T/out" \
    || fail "--k3s without docker: no note about doctor's dockerd check: $(cat "$T/out")"
grep -qx 'systemctl restart k3s.service' "$X/calls" || fail "--k3s did not restart k3s.service: $(cat "$X/calls")"
grep -q 'docker\.service' "$X/calls" && fail "--k3s on a node without docker touched docker: $(cat "$X/calls")"
[ ! -e "$X/systemd/docker.service.d" ] || fail "--k3s on a node without docker wrote a docker drop-in"
grep -q '^CONTAINERD_HTTPS_PROXY=http://127.0.0.1:3128$' "$X/systemd/k3s.service.env" || fail "no CONTAINERD_HTTPS_PROXY in k3s.service.env"
[ "$(stat -c %a "$X/systemd/k3s.service.env")" = 600 ] || fail "--k3s changed the env file's mode"
export HG_STUB_DOCTOR=fail
real --k3s
unset HG_STUB_DOCTOR
{ [ "$RC" != 0 ] && grep -q 'hubgate doctor found problems' "$T/err"; } \
    || fail "on a node without docker, another doctor failure did not fail setup-docker.sh"
: >"$X/calls"
real --undo
[ "$RC" = 0 ] || fail "--undo (k3s) without --root exited $RC: $(cat "$T/err")"
grep -qx 'systemctl restart k3s.service' "$X/calls" || fail "--undo did not restart k3s.service: $(cat "$X/calls")"
cmp -s "$T/real-k3s.env.orig" "$X/systemd/k3s.service.env" || fail "--undo without --root did not restore k3s.service.env"
unset HG_NO_DOCKER_UNIT
rm -f "$X/systemd/k3s.service" "$X/systemd/k3s.service.env"
log "without --root, --k3s on a node without docker: env file edited and restored, k3s restarted, docker untouched; doctor's dockerd check alone let through"

# ------------------------------------------------------------------ 8. install.sh

I=$T/inst
mkdir -p "$I/usr"                    # an existing directory stays
snapshot "$I" >"$T/snap.i0"
inst() { timeout 60 env DESTDIR="$I" PREFIX=/usr HUBGATE_BIN="$HUBGATE" "$INSTALL" "$@" \
             >"$T/out" 2>"$T/err" || fail "install.sh $*: $(cat "$T/out" "$T/err" | tail -n 5)"; }
inst install
tree "$I" >"$T/tree"
golden install-tree.txt "$T/tree"
grep -qx 'ExecStart=/usr/bin/hubgate -c /etc/hubgate/hubgate.ini' "$I/lib/systemd/system/hubgate.service" \
    || fail "hubgate.service: ExecStart does not name /usr/bin/hubgate"
cmp -s "$HUBGATE" "$I/usr/bin/hubgate" || fail "installed binary differs"
"$HUBGATE" -t -c "$I/etc/hubgate/hubgate.ini" >/dev/null || fail "the installed config fails hubgate -t"
cmp -s "$I/etc/hubgate/hubgate.ini" "$I/usr/share/hubgate/hubgate.ini" || fail "shipped copy differs"
grep -qx ';dir = /var/lib/hubgate' "$I/etc/hubgate/hubgate.ini" || fail "installed config: [ca] dir is not the packaged default"
# Every key of config.def: in the man page under its section, and in the
# installed config.
sed -n 's/^CFG(\([a-z_]*\), *\([a-z_]*\),.*/\1 \2/p' "$TOP/proxy/core/config.def" >"$T/keys"
[ -s "$T/keys" ] || fail "no keys read from proxy/core/config.def"
undocumented=$(awk 'NR == FNR {want[$1 " " $2] = 1; next}
    /^\.SS \[/ {s = $2; gsub(/[][]/, "", s); next}
    /^\.S[SH] / {s = ""; next}
    /^\.BR [a-z_]+ " = "/ && s != "" {delete want[s " " $2]}
    END {for (k in want) print k}' "$T/keys" "$I/usr/share/man/man8/hubgate.8" | sort)
[ -z "$undocumented" ] || fail "hubgate.8 does not document: $(echo "$undocumented" | tr '\n' ';')"
notinconf=$(awk 'NR == FNR {want[$1 " " $2] = 1; next}
    /^\[[a-z_]+\]/ {s = $0; gsub(/[][]/, "", s); next}
    /^;?[a-z_]+ *=/ {k = $0; sub(/^;/, "", k); sub(/ *=.*/, "", k); delete want[s " " k]}
    END {for (k in want) print k}' "$T/keys" "$I/etc/hubgate/hubgate.ini" | sort)
[ -z "$notinconf" ] || fail "the installed hubgate.ini lacks: $(echo "$notinconf" | tr '\n' ';')"
log "install: $(wc -l <"$T/keys") config keys, all in hubgate.8 and the installed hubgate.ini"
if command -v groff >/dev/null 2>&1; then
    w=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$I/usr/share/man/man8/hubgate.8" 2>&1)
    [ -z "$w" ] || fail "groff warns about hubgate.8: $w"
    log "install: groff -man -ww: no warnings"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$T/verify"
    sed "s|^ExecStart=/usr/bin/hubgate|ExecStart=$I/usr/bin/hubgate|" \
        "$I/lib/systemd/system/hubgate.service" >"$T/verify/hubgate.service"
    v=$(MANPATH=$I/usr/share/man timeout 60 systemd-analyze verify "$T/verify/hubgate.service" 2>&1) \
        || fail "systemd-analyze verify hubgate.service: $v"
    log "install: systemd-analyze verify hubgate.service: ok (man:hubgate(8) resolves)"
fi
snapshot "$I" >"$T/snap.i1"
inst install
snapshot "$I" >"$T/snap.i2"
cmp -s "$T/snap.i1" "$T/snap.i2" || fail "a reinstall changed files: $(diff "$T/snap.i1" "$T/snap.i2" | head)"
grep -q "unchanged $I/usr/bin/hubgate" "$T/out" || fail "reinstall did not say unchanged"
inst uninstall
snapshot "$I" >"$T/snap.i3"
cmp -s "$T/snap.i0" "$T/snap.i3" || fail "uninstall did not restore the tree: $(diff "$T/snap.i0" "$T/snap.i3" | head)"
log "install: reinstall changes nothing; uninstall leaves the tree exactly as before"

inst install
echo 'listen = 127.0.0.1:3999' >>"$I/etc/hubgate/hubgate.ini"
cp "$I/etc/hubgate/hubgate.ini" "$T/changed.ini"
inst install
[ -f "$I/etc/hubgate/hubgate.ini.new" ] || fail "reinstall over a changed config made no hubgate.ini.new"
grep -q 'kept your' "$T/out" || fail "reinstall did not say it kept the changed config"
cmp -s "$T/changed.ini" "$I/etc/hubgate/hubgate.ini" || fail "reinstall overwrote the changed config"
inst uninstall
grep -q "kept $I/etc/hubgate/hubgate.ini" "$T/out" || fail "uninstall did not say it kept the changed config"
snapshot "$I" >"$T/snap.i4"
{ cat "$T/snap.i0"; grep -E ' \./etc($|/hubgate$|/hubgate/hubgate\.ini )' "$T/snap.i2" \
      | sed "s/\(hubgate\.ini\) [0-9a-f]*$/\1 $(sha256sum <"$T/changed.ini" | cut -d' ' -f1)/"; } \
    | sort -k3 >"$T/snap.iwant"
diff -u "$T/snap.iwant" "$T/snap.i4" >"$T/diff.i" || { head -n 30 "$T/diff.i" >&2; fail "uninstall with a changed config"; }
log "install: a changed config is kept (reinstall: hubgate.ini.new; uninstall: only the changed config stays)"

# ------------------------------------------------------------------ 9. install.sh into /

# A real install (no DESTDIR), in a private mount namespace over copies of
# /etc and /usr/local and an empty /lib/systemd/system: the hubgate user
# is created (in the copy of /etc/passwd), the config is 0640 root:hubgate;
# uninstall keeps the user.
if command -v useradd >/dev/null 2>&1 && ! getent passwd hubgate >/dev/null; then
    Y=$T/slash
    mkdir -p "$Y/etc" "$Y/usrlocal" "$Y/unit"
    cp -a /etc/. "$Y/etc/"
    cp -a /usr/local/. "$Y/usrlocal/"
    # shellcheck disable=SC2016  # the script's own expansions
    printf '%s\n' 'set -eu' 'Y=$1 INSTALL=$2' \
        'mount --bind "$Y/etc" /etc' \
        'mount --bind "$Y/usrlocal" /usr/local' \
        'mount --bind "$Y/unit" /lib/systemd/system' \
        '"$INSTALL" install' \
        'echo "ns: user $(getent passwd hubgate | cut -d: -f1,6,7)"' \
        'echo "ns: config $(stat -c "%a %U %G" /etc/hubgate/hubgate.ini)"' \
        'echo "ns: unit $(grep ^ExecStart= /lib/systemd/system/hubgate.service)"' \
        '"$INSTALL" uninstall' \
        'echo "ns: after uninstall: user $(getent passwd hubgate | cut -d: -f1), /etc/hubgate $(test -e /etc/hubgate && echo present || echo gone)"' \
        >"$Y/ns.sh"
    out=$(HUBGATE_BIN=$HUBGATE timeout 120 unshare -m --propagation private sh "$Y/ns.sh" "$Y" "$INSTALL" 2>&1) \
        || fail "install.sh into / (mount namespace): $out"
    printf '%s\n' "$out" >"$T/logs/install-slash.log"
    printf '%s\n' "$out" | grep -qx 'ns: user hubgate:/var/lib/hubgate:/usr/sbin/nologin' \
        || fail "install.sh did not create the hubgate system user: $out"
    printf '%s\n' "$out" | grep -qx 'ns: config 640 root hubgate' || fail "config not 0640 root:hubgate: $out"
    printf '%s\n' "$out" | grep -qx 'ns: unit ExecStart=/usr/local/bin/hubgate -c /etc/hubgate/hubgate.ini' \
        || fail "unit ExecStart: $out"
    printf '%s\n' "$out" | grep -qx 'ns: after uninstall: user hubgate, /etc/hubgate gone' \
        || fail "uninstall into /: $out"
    ! getent passwd hubgate >/dev/null || fail "the host got a hubgate user"
    log "install into / (mount namespace): user hubgate created, config 0640 root:hubgate; uninstall keeps the user"
else
    log "install into /: skipped (no useradd, or this host already has a hubgate user)"
fi

log "t_50_setup_docker: all checks passed"
