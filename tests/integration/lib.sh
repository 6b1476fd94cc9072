# shellcheck shell=bash
# lib.sh — shared helpers of the integration tests. Source it from a
# tests/integration/t_*.sh (run with bash, as root), then call hg_init.
#
# Topology (names unique per run, all removed at exit, even on failure/^C):
#   netns "client" hgc-ID  198.51.100.1/24  -- veth --  netns "hub" hgh-ID
#     hubgate on 127.0.0.1:3128               198.51.100.2  registry-1.docker.io,
#     dockerd (nsenter --net), curl, skopeo                 auth.docker.io,
#     /etc/netns/hgc-ID/hosts maps the names                production.cloudflare.docker.com
#                                           198.51.100.3  site.example.test
#   In hub: docker-registry (distribution 2.8, token auth, redirect
#   middleware), the token service (hub/token_server.py), nginx (TLS from the
#   test internet CA made by tests/pki/gen.sh). Nothing routes anywhere else.
#
# Environment knobs:
#   HUBGATE=path        binary under test (default: repository root ./hubgate)
#   HUBGATE_DIRECT=1    no hubgate: dockerd talks to the stand-in directly
#                       (resolving the names through a bind-mounted hosts
#                       file, trusting the test internet CA) — a baseline
#   HG_CLIENT=skopeo    t_10 pulls with skopeo instead of dockerd (also its
#                       fallback when dockerd cannot start on the machine)
#   DOCKER_CLI=path     docker CLI (default /usr/bin/docker, Debian's)
#   HG_SKOPEO_TIMEOUT=s time limit of one skopeo run (default 120)
#   HG_KEEP=1           keep the temp dir (logs, configs, PKI) after the run
#   HG_LOG_LINES=N      lines of each log shown on failure (default 40)
#   HG_VERBOSE=1        trace the test (set -x)

set -euo pipefail

HG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HG_HUBDIR=$HG_TOP/tests/integration/hub
HUBGATE=${HUBGATE:-$HG_TOP/hubgate}
HUBGATE_DIRECT=${HUBGATE_DIRECT:-0}
HG_PY=/usr/bin/python3          # Debian's, which has python3-jwt
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}

HG_CLIENT_IP=198.51.100.1
HG_HUB_IP=198.51.100.2
HG_SITE_IP=198.51.100.3
HG_HUB_HOSTS="registry-1.docker.io auth.docker.io production.cloudflare.docker.com"
HG_SITE_HOST=site.example.test
HG_PROXY=127.0.0.1:3128
HG_TOKEN_ISSUER="hubgate-test-token-issuer"

# A proxy from the caller's environment must not leak into anything we run;
# the proxy under test is set explicitly where it is wanted.
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy \
      NO_PROXY no_proxy SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE || true

HG_NAME=""
HG_TMP=""
HG_LOGS=""
HG_RUN=""
HG_ID=""
HG_NS_CLIENT=""
HG_NS_HUB=""
HG_PUSH_USER=""
HG_SITE_MARK=""
HG_DOCKER_SOCK=""
HG_HUBGATE_CA_DIR=""
declare -A HG_PID=()
HG_ORDER=()

hg_log()  { printf '# %s\n' "$*"; }
hg_fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
hg_skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

# hg_init NAME: checks prerequisites (skips if not root or a tool is missing),
# makes the per-run temp dir and installs the cleanup trap.
hg_init() {
    HG_NAME=$1
    [ "$(id -u)" = 0 ] || hg_skip "$HG_NAME needs root (network namespaces)"
    local c missing=""
    for c in ip nsenter unshare nginx docker-registry skopeo curl openssl ss \
             dockerd timeout sha256sum; do
        command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
    done
    [ -x "$HG_PY" ] || missing="$missing $HG_PY"
    [ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker 2>/dev/null || echo docker)
    command -v "$DOCKER_CLI" >/dev/null 2>&1 || missing="$missing docker"
    [ -z "$missing" ] || hg_skip "missing:$missing (run scripts/deps.sh --test)"
    "$HG_PY" -c 'import jwt, cryptography' 2>/dev/null \
        || hg_skip "$HG_PY lacks jwt/cryptography (python3-jwt python3-cryptography)"
    ip netns list >/dev/null 2>&1 || hg_skip "cannot use network namespaces here"

    HG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hubgate-it.XXXXXX")
    HG_LOGS=$HG_TMP/logs
    HG_RUN=$HG_TMP/run
    mkdir -p "$HG_LOGS" "$HG_RUN"
    trap hg_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    [ "${HG_VERBOSE:-0}" = 1 ] && set -x
    hg_log "$HG_NAME: temp dir $HG_TMP"
}

# ---------------------------------------------------------------- processes

# hg_alive PID: true while PID runs (a zombie counts as gone).
hg_alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# hg_start NAME NETNS CMD...: runs CMD in NETNS (ip netns exec, so /etc/netns
# files apply) in the background, output in $HG_LOGS/NAME.log.
hg_start() {
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" >>"$HG_LOGS/$name.log" 2>&1 &
    HG_PID[$name]=$!
    HG_ORDER+=("$name")
}

# hg_start_raw NAME CMD...: as hg_start, CMD enters namespaces itself.
hg_start_raw() {
    local name=$1
    shift
    "$@" >>"$HG_LOGS/$name.log" 2>&1 &
    HG_PID[$name]=$!
    HG_ORDER+=("$name")
}

# hg_stop NAME [SIGNAL [TIMEOUT]]: signals the service, waits up to TIMEOUT
# seconds (default 10), then SIGKILLs it. Sets HG_STOP_RC to its exit status
# (or 137 if it had to be killed). Returns 0 always.
HG_STOP_RC=0
hg_stop() {
    local name=$1 sig=${2:-TERM} tmo=${3:-10} pid i
    HG_STOP_RC=0
    pid=${HG_PID[$name]:-}
    [ -n "$pid" ] || return 0
    unset "HG_PID[$name]"
    if hg_alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < tmo * 10; i++)); do
            hg_alive "$pid" || break
            sleep 0.1
        done
        if hg_alive "$pid"; then
            echo "lib.sh: $name (pid $pid) still running ${tmo}s after SIG$sig; killing" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || HG_STOP_RC=$?
    return 0
}

# hg_check_alive NAME: fails the test, with the service's log, if it died.
hg_check_alive() {
    local name=$1 pid=${HG_PID[$1]:-}
    if [ -z "$pid" ] || ! hg_alive "$pid"; then
        hg_fail "$name is not running (see its log below)"
    fi
}

# hg_wait_port NETNS ADDR PORT NAME [TIMEOUT]: waits until something listens
# on ADDR:PORT in NETNS, failing early if service NAME died.
hg_wait_port() {
    local ns=$1 addr=$2 port=$3 name=$4 tmo=${5:-30} i
    for ((i = 0; i < tmo * 10; i++)); do
        if nsenter --net="/run/netns/$ns" ss -Hltn "sport = :$port" 2>/dev/null \
                | awk '{print $4}' | grep -Fqx -e "$addr:$port" -e "*:$port" \
                    -e "0.0.0.0:$port"; then
            return 0
        fi
        hg_check_alive "$name"
        sleep 0.1
    done
    hg_fail "$name: nothing listens on $addr:$port in $ns after ${tmo}s"
}

# ---------------------------------------------------------------- cleanup

hg_dump_logs() {
    local f n=${HG_LOG_LINES:-40}
    [ -d "$HG_LOGS" ] || return 0
    echo "======== logs of $HG_NAME ($HG_LOGS) ========"
    for f in "$HG_LOGS"/*; do
        [ -f "$f" ] || continue
        echo "-------- $(basename "$f"): last $n lines --------"
        case $f in
            */dockerd.log) grep -v -e 'module=grpc' -e 'loading plugin' "$f" | tail -n "$n" ;;
            *) tail -n "$n" "$f" ;;
        esac
    done
    echo "======== end of logs ========"
}

hg_cleanup() {
    local rc=$? i name pid ns
    set +e +x
    trap - EXIT
    # Nothing may stop the cleanup half-way: not a second ^C, and not a
    # write to a reader that is gone (^C on "t.sh | less").
    trap '' INT TERM HUP PIPE
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        hg_dump_logs
    fi
    for ((i = ${#HG_ORDER[@]} - 1; i >= 0; i--)); do
        name=${HG_ORDER[i]}
        case $name in
            dockerd) hg_stop "$name" TERM 20 ;;
            nginx) hg_stop "$name" QUIT 5 ;;
            *) hg_stop "$name" TERM 10 ;;
        esac
    done
    # Anything still in our namespaces was started by this run.
    for ns in "$HG_NS_CLIENT" "$HG_NS_HUB"; do
        [ -n "$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
    done
    if [ -n "$HG_TMP" ]; then
        # Unmount anything left below the temp dir before removing it.
        awk -v p="$HG_TMP/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r \
            | while read -r m; do umount -l "$m" 2>/dev/null; done
    fi
    for ns in "$HG_NS_CLIENT" "$HG_NS_HUB"; do
        [ -n "$ns" ] || continue
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done
    rmdir /etc/netns 2>/dev/null
    if [ -n "$HG_TMP" ] && [ -d "$HG_TMP" ]; then
        if [ "${HG_KEEP:-0}" = 1 ]; then
            echo "lib.sh: kept $HG_TMP"
        elif awk -v p="$HG_TMP/" 'index($2, p) == 1 {f = 1} END {exit !f}' /proc/mounts; then
            echo "lib.sh: mounts remain below $HG_TMP; not removing it" >&2
        else
            rm -rf --one-file-system "$HG_TMP"
        fi
    fi
    exit "$rc"
}

# ---------------------------------------------------------------- topology

# hg_topology_up: the two namespaces, the veth pair, addresses, /etc/netns.
hg_topology_up() {
    local try vc vh ns
    for try in 1 2 3 4 5 6 7 8; do
        HG_ID=$(printf '%x%02x' "$$" $((RANDOM % 256)))
        if ip netns add "hgh-$HG_ID" 2>/dev/null; then
            HG_NS_HUB=hgh-$HG_ID
            if ip netns add "hgc-$HG_ID" 2>/dev/null; then
                HG_NS_CLIENT=hgc-$HG_ID
                break
            fi
            ip netns del "$HG_NS_HUB"
            HG_NS_HUB=""
        fi
        [ "$try" = 8 ] && hg_fail "could not create network namespaces"
    done
    vc=hgc$HG_ID vh=hgh$HG_ID
    ip link add "$vc" netns "$HG_NS_CLIENT" type veth peer name "$vh" netns "$HG_NS_HUB"
    ip -n "$HG_NS_CLIENT" link set lo up
    ip -n "$HG_NS_HUB" link set lo up
    ip -n "$HG_NS_CLIENT" addr add "$HG_CLIENT_IP/24" dev "$vc"
    ip -n "$HG_NS_HUB" addr add "$HG_HUB_IP/24" dev "$vh"
    ip -n "$HG_NS_HUB" addr add "$HG_SITE_IP/24" dev "$vh"
    ip -n "$HG_NS_CLIENT" link set "$vc" up
    ip -n "$HG_NS_HUB" link set "$vh" up

    # ip netns exec bind-mounts these over /etc/hosts and /etc/resolv.conf.
    # resolv.conf names the client's own loopback: a DNS query for anything
    # not in hosts fails at once instead of leaving the namespace.
    mkdir -p "/etc/netns/$HG_NS_CLIENT" "/etc/netns/$HG_NS_HUB"
    {
        echo "127.0.0.1 localhost"
        echo "::1 localhost ip6-localhost ip6-loopback"
        echo "$HG_HUB_IP $HG_HUB_HOSTS"
        echo "$HG_SITE_IP $HG_SITE_HOST"
    } >"/etc/netns/$HG_NS_CLIENT/hosts"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$HG_NS_HUB/hosts"
    for ns in "$HG_NS_CLIENT" "$HG_NS_HUB"; do
        printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' \
            >"/etc/netns/$ns/resolv.conf"
    done
    hg_log "namespaces $HG_NS_CLIENT ($HG_CLIENT_IP) <-> $HG_NS_HUB ($HG_HUB_IP, $HG_SITE_IP)"
}

# hg_client CMD...: runs CMD in the client namespace (with its hosts file).
hg_client() { ip netns exec "$HG_NS_CLIENT" "$@"; }
# hg_hub CMD...: runs CMD in the hub namespace.
hg_hub() { ip netns exec "$HG_NS_HUB" "$@"; }

# ---------------------------------------------------------------- the hub

# hg_render TEMPLATE OUT: fills in @VARS@ of a hub/ template.
hg_render() {
    sed -e "s|@REGISTRY_ROOT@|$HG_TMP/registry|g" \
        -e "s|@HTTP_SECRET@|$(openssl rand -hex 16)|g" \
        -e "s|@TOKEN_ISSUER@|$HG_TOKEN_ISSUER|g" \
        -e "s|@TOKEN_CERT@|$HG_TMP/pki/token.crt|g" \
        -e "s|@RUN@|$HG_RUN|g" \
        -e "s|@LOGS@|$HG_LOGS|g" \
        -e "s|@PKI@|$HG_TMP/pki|g" \
        -e "s|@HUB_IP@|$HG_HUB_IP|g" \
        -e "s|@SITE_IP@|$HG_SITE_IP|g" \
        -e "s|@SITE_ROOT@|$HG_TMP/site|g" \
        "$1" >"$2"
    local left
    left=$(grep -v '^[[:space:]]*#' "$2" | grep -o '@[A-Z_][A-Z_]*@' | sort -u | tr '\n' ' ') || true
    [ -z "$left" ] || hg_fail "hg_render: unfilled placeholders in $2: $left"
}

# hg_hub_up: test PKI, then registry, token service and nginx in the hub
# namespace, each waited for.
hg_hub_up() {
    "$HG_TOP/tests/pki/gen.sh" "$HG_TMP/pki"
    mkdir -p "$HG_TMP/registry" "$HG_TMP/site"
    HG_SITE_MARK="hubgate-site-$(openssl rand -hex 8)"
    printf '<html><body>%s</body></html>\n' "$HG_SITE_MARK" >"$HG_TMP/site/index.html"
    HG_PUSH_USER="pusher:$(openssl rand -hex 12)"

    hg_render "$HG_HUBDIR/registry.yml.in" "$HG_TMP/registry.yml"
    hg_render "$HG_HUBDIR/nginx.conf.in" "$HG_TMP/nginx.conf"

    hg_start token "$HG_NS_HUB" "$HG_PY" "$HG_HUBDIR/token_server.py" \
        --listen 127.0.0.1:5001 --key "$HG_TMP/pki/token.key" \
        --cert "$HG_TMP/pki/token.crt" --issuer "$HG_TOKEN_ISSUER" \
        --service registry.docker.io --push-user "$HG_PUSH_USER" \
        ${HG_TOKEN_PRIVATE:+--private-repo "$HG_TOKEN_PRIVATE"}
    hg_start registry "$HG_NS_HUB" docker-registry serve "$HG_TMP/registry.yml"
    if ! hg_hub nginx -t -q -e "$HG_LOGS/nginx.error.log" -c "$HG_TMP/nginx.conf" \
            >"$HG_LOGS/nginx-t.log" 2>&1; then
        hg_fail "nginx -t rejects $HG_TMP/nginx.conf: $(cat "$HG_LOGS/nginx-t.log")"
    fi
    hg_start nginx "$HG_NS_HUB" nginx -e "$HG_LOGS/nginx.error.log" -c "$HG_TMP/nginx.conf"

    hg_wait_port "$HG_NS_HUB" 127.0.0.1 5001 token
    hg_wait_port "$HG_NS_HUB" 127.0.0.1 5000 registry
    hg_wait_port "$HG_NS_HUB" "$HG_HUB_IP" 443 nginx
    hg_wait_port "$HG_NS_HUB" "$HG_SITE_IP" 443 nginx
    hg_wait_port "$HG_NS_HUB" "$HG_SITE_IP" 80 nginx
    hg_log "hub up: registry, token service, nginx"
}

# hg_hub_check: the stand-in answers as Docker Hub does, straight from the
# client namespace (no hubgate): 401 challenge, anonymous pull token, /v2/.
hg_hub_check() {
    local ca=$HG_TMP/pki/ca.crt hdr tok code
    hdr=$(hg_client curl -sS --max-time 10 --cacert "$ca" -o /dev/null -D - \
        https://registry-1.docker.io/v2/) || hg_fail "stand-in: GET registry-1.docker.io/v2/ failed"
    printf '%s\n' "$hdr" | head -n1 | grep -q ' 401' \
        || hg_fail "stand-in: /v2/ did not answer 401: $hdr"
    printf '%s\n' "$hdr" | tr -d '\r' | grep -qix \
        'www-authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io"' \
        || hg_fail "stand-in: /v2/ challenge is not Docker Hub's: $hdr"
    tok=$(hg_token library/hello-world pull client) || hg_fail "stand-in: no token"
    code=$(hg_client curl -sS --max-time 10 --cacert "$ca" -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer $tok" https://registry-1.docker.io/v2/)
    [ "$code" = 200 ] || hg_fail "stand-in: /v2/ with a token answered $code"
    hg_log "stand-in answers like Docker Hub (401 challenge, token, /v2/ 200)"
}

# hg_token REPO ACTIONS [client|hub]: prints a token for REPO. From the client
# namespace it goes through nginx (https://auth.docker.io), from the hub one
# straight to the service. Push actions use the push credentials.
hg_token() {
    local repo=$1 actions=$2 where=${3:-hub} url auth=()
    case $actions in *push*|*delete*) auth=(-u "$HG_PUSH_USER") ;; esac
    if [ "$where" = client ]; then
        url=https://auth.docker.io/token
        hg_client curl -sS --fail --max-time 10 --cacert "$HG_TMP/pki/ca.crt" "${auth[@]}" \
            -G --data-urlencode service=registry.docker.io \
            --data-urlencode "scope=repository:$repo:$actions" "$url"
    else
        url=http://127.0.0.1:5001/token
        hg_hub curl -sS --fail --max-time 10 "${auth[@]}" \
            -G --data-urlencode service=registry.docker.io \
            --data-urlencode "scope=repository:$repo:$actions" "$url"
    fi | "$HG_PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

HG_ACCEPT_ALL=(-H 'Accept: application/vnd.oci.image.index.v1+json'
               -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json'
               -H 'Accept: application/vnd.oci.image.manifest.v1+json'
               -H 'Accept: application/vnd.docker.distribution.manifest.v2+json')

# hg_registry_digest REPO REF: the manifest digest the registry itself
# reports (Docker-Content-Digest of a HEAD, straight to the registry in hub).
hg_registry_digest() {
    local repo=$1 ref=$2 tok d
    tok=$(hg_token "$repo" pull hub) || return 1
    d=$(hg_hub curl -sS --fail --max-time 10 -I "${HG_ACCEPT_ALL[@]}" \
            -H "Authorization: Bearer $tok" "http://127.0.0.1:5000/v2/$repo/manifests/$ref" \
        | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')
    [ -n "$d" ] || return 1
    printf '%s\n' "$d"
}

# hg_check_blob_redirect REPO DIGEST: from the client namespace, a blob GET
# answers 307 to production.cloudflare.docker.com, which serves the bytes.
hg_check_blob_redirect() {
    local repo=$1 digest=$2 tok hdr loc got
    tok=$(hg_token "$repo" pull client) || hg_fail "stand-in: no token for $repo"
    hdr=$(hg_client curl -sS --max-time 10 --cacert "$HG_TMP/pki/ca.crt" -o /dev/null -D - \
        -H "Authorization: Bearer $tok" "https://registry-1.docker.io/v2/$repo/blobs/$digest" | tr -d '\r')
    printf '%s\n' "$hdr" | head -n1 | grep -q ' 307' \
        || hg_fail "stand-in: blob GET did not answer 307: $hdr"
    loc=$(printf '%s\n' "$hdr" | awk 'tolower($1) == "location:" {print $2}')
    case $loc in
        "https://production.cloudflare.docker.com/docker/registry/v2/blobs/sha256/${digest:7:2}/${digest#sha256:}/data"*) ;;
        *) hg_fail "stand-in: unexpected blob redirect: $loc" ;;
    esac
    got=$(hg_client curl -sS --fail --max-time 30 --cacert "$HG_TMP/pki/ca.crt" "$loc" | sha256sum | cut -d' ' -f1)
    [ "sha256:$got" = "$digest" ] || hg_fail "stand-in: blob host served sha256:$got for $digest"
    hg_log "stand-in: blob $digest -> 307 $loc -> 200, digest ok"
}

# hg_skopeo [VAR=VALUE...] ARGS...: skopeo in the client namespace, trusting
# the test internet CA unless a SSL_CERT_FILE=... says otherwise, in a private
# mount namespace (ip netns exec makes one) where a tmpfs hides /var/lib so
# skopeo's blob-info cache stays off the host. Killed after
# HG_SKOPEO_TIMEOUT (default 120) seconds.
hg_skopeo() {
    local envs=(SSL_CERT_FILE="$HG_TMP/pki/ca.crt")
    while [ "$#" -gt 0 ] && [[ $1 == [A-Za-z_]*=* ]]; do envs+=("$1"); shift; done
    : >"$HG_TMP/registries.conf"
    mkdir -p "$HG_TMP/skopeo-tmp"
    timeout "${HG_SKOPEO_TIMEOUT:-120}" ip netns exec "$HG_NS_CLIENT" env "${envs[@]}" \
        CONTAINERS_REGISTRIES_CONF="$HG_TMP/registries.conf" \
        sh -c 'if [ -d /var/lib/containers ]; then mount -t tmpfs tmpfs /var/lib/containers;
               else mount -t tmpfs tmpfs /var/lib; fi && exec "$@"' sh \
        skopeo --insecure-policy --tmpdir "$HG_TMP/skopeo-tmp" "$@"
}

# hg_push OCI_DIR REF DEST [SKOPEO_COPY_ARGS...]: pushes oci:OCI_DIR:REF to
# docker://docker.io/DEST on the stand-in, directly (not through hubgate).
# Prints the pushed manifest digest.
hg_push() {
    local dir=$1 ref=$2 dest=$3 df
    shift 3
    df=$HG_TMP/digest.$$.$RANDOM
    if ! hg_skopeo copy --retry-times 2 --dest-creds "$HG_PUSH_USER" --digestfile "$df" "$@" \
            "oci:$dir:$ref" "docker://docker.io/$dest" >>"$HG_LOGS/skopeo-push.log" 2>&1; then
        hg_fail "skopeo could not push $dest to the stand-in (see skopeo-push.log)"
    fi
    cat "$df"
}

# hg_make_image NAME ARGS...: writes an OCI layout with hub/oci_layout.py into
# $HG_TMP/oci/NAME; its summary goes to $HG_TMP/oci/NAME.sum.
hg_make_image() {
    local name=$1
    shift
    mkdir -p "$HG_TMP/oci"
    "$HG_PY" "$HG_HUBDIR/oci_layout.py" "$HG_TMP/oci/$name" "$@" >"$HG_TMP/oci/$name.sum"
}

# ---------------------------------------------------------------- hubgate

# hubgate_config FILE: writes the test configuration of hubgate to FILE.
hubgate_config() {
    HG_HUBGATE_CA_DIR=$HG_TMP/hubgate-ca
    cat >"$1" <<EOF
[proxy]
listen = $HG_PROXY
allow = 127.0.0.0/8 ::1/128
[ca]
dir = $HG_HUBGATE_CA_DIR
[intercept]
hosts = $HG_HUB_HOSTS
[upstream]
via = direct
ca_file = $HG_TMP/pki/ca.crt
[dns]
servers =
EOF
}

# hubgate_start CONFIG: checks CONFIG with -t, then runs hubgate in the client
# namespace and waits for its port and its CA certificate.
# hg_wait_hubgate: the hubgate just started listens on $HG_PROXY and has
# its CA in $HG_HUBGATE_CA_DIR (made at first start), or the test fails.
hg_wait_hubgate() {
    local i
    hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 "${HG_PROXY##*:}" hubgate 15
    for ((i = 0; i < 100; i++)); do
        [ -s "$HG_HUBGATE_CA_DIR/ca.crt" ] && break
        sleep 0.1
    done
    [ -s "$HG_HUBGATE_CA_DIR/ca.crt" ] || hg_fail "hubgate made no $HG_HUBGATE_CA_DIR/ca.crt"
}

hubgate_start() {
    local conf=$1 out rc=0 dir
    [ -x "$HUBGATE" ] || hg_fail "no hubgate binary at $HUBGATE (make hubgate)"
    out=$(hg_client "$HUBGATE" -t -c "$conf" 2>&1) || rc=$?
    [ "$rc" = 0 ] || hg_fail "hubgate -t -c $conf exited $rc: $out"
    dir=$(awk -F= '/^\[/ {s = $0} s == "[ca]" && $1 ~ /^ *dir *$/ {gsub(/^ +| +$/, "", $2); print $2}' "$conf")
    HG_HUBGATE_CA_DIR=${dir:-$HG_HUBGATE_CA_DIR}
    [ -z "$HG_HUBGATE_CA_DIR" ] || mkdir -p "$HG_HUBGATE_CA_DIR"
    hg_start hubgate "$HG_NS_CLIENT" "$HUBGATE" -c "$conf"
    hg_wait_hubgate
    hg_log "hubgate up on $HG_PROXY in $HG_NS_CLIENT (CA $HG_HUBGATE_CA_DIR/ca.crt)"
}

# hubgate_stop: SIGTERM; hubgate must exit 0 within 10 s.
hubgate_stop() {
    [ -n "${HG_PID[hubgate]:-}" ] || return 0
    hg_stop hubgate TERM 10
    [ "$HG_STOP_RC" = 0 ] || hg_fail "hubgate exited $HG_STOP_RC after SIGTERM (want 0 within 10 s)"
    # A sanitizer build (make SAN=...) reports here even when it exits 0.
    if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$HG_LOGS/hubgate.log"; then
        hg_fail "hubgate's log has a sanitizer report"
    fi
    hg_log "hubgate stopped cleanly"
}

# hubgate_log_has METHOD HOST PATH_PART [STATUS]: true if hubgate's log has a
# request line naming all of them (METHOD and STATUS as words). One awk, no
# pipeline: under pipefail "grep | grep -q" fails when -q exits early.
hubgate_log_has() {
    awk -v m="$1" -v host="$2" -v path="$3" -v st="${4:-}" '
        function word(w) {
            return w == "" || $0 ~ ("(^|[^A-Za-z0-9_])" w "([^A-Za-z0-9_]|$)")
        }
        index($0, host) && index($0, path) && word(m) && word(st) { found = 1; exit }
        END { exit !found }' "$HG_LOGS/hubgate.log"
}

# ---------------------------------------------------------------- dockerd

# hg_dockerd_start: a stock dockerd in the client namespace, all state in the
# temp dir. Through hubgate (HTTPS_PROXY, trusting hubgate's CA, as the
# systemd drop-in and update-ca-certificates would set it up), or with
# HUBGATE_DIRECT=1 straight to the stand-in (hosts file bind-mounted, trusting
# the test internet CA). nsenter --net, not ip netns exec, which remounts /sys
# and so hides the cgroup mounts dockerd needs. A private mount namespace
# hides the host's /etc/docker, where dockerd 20.10 would write key.json, and
# /run, where it would make /run/docker/plugins. Returns 1, with the tail of
# dockerd's log on stderr, if dockerd does not come up within 60 s.
hg_dockerd_start() {
    local d=$HG_TMP/docker hosts="" env=() i
    mkdir -p "$d/data" "$d/exec" "$d/etc" "$d/cli" "$d/run"
    echo '{}' >"$d/daemon.json"
    echo '{}' >"$d/cli/config.json"
    HG_DOCKER_SOCK=$d/docker.sock
    if [ "$HUBGATE_DIRECT" = 1 ]; then
        cp "$HG_TMP/pki/ca.crt" "$d/ca-bundle.pem"
        hosts=/etc/netns/$HG_NS_CLIENT/hosts
    else
        cp "$(hg_client_bundle)" "$d/ca-bundle.pem"
        env=(HTTPS_PROXY="http://$HG_PROXY" HTTP_PROXY="http://$HG_PROXY")
    fi
    # The netns is opened before /run is covered (dockerd makes
    # /run/docker/plugins whatever its --exec-root).
    # shellcheck disable=SC2016  # $1..$4 are the inner shell's
    hg_start_raw dockerd env "${env[@]}" SSL_CERT_FILE="$d/ca-bundle.pem" \
        unshare -m --propagation private sh -c '
            set -e
            exec 3<"$1"
            if [ -d /etc/docker ]; then mount --bind "$2" /etc/docker; fi
            if [ -n "$3" ]; then mount --bind "$3" /etc/hosts; fi
            mount --bind "$4" /run
            shift 4
            exec nsenter --net=/proc/self/fd/3 "$@"' sh \
            "/run/netns/$HG_NS_CLIENT" "$d/etc" "$hosts" "$d/run" \
        dockerd --config-file "$d/daemon.json" --data-root "$d/data" \
            --exec-root "$d/exec" --pidfile "$d/dockerd.pid" -H "unix://$HG_DOCKER_SOCK" \
            --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs
    for ((i = 0; i < 600; i++)); do
        if [ -S "$HG_DOCKER_SOCK" ] && hg_docker version >/dev/null 2>&1; then
            hg_log "dockerd up ($(hg_docker version -f '{{.Server.Version}}'), $([ "$HUBGATE_DIRECT" = 1 ] && echo direct || echo "via hubgate $HG_PROXY"))"
            return 0
        fi
        hg_alive "${HG_PID[dockerd]}" || break
        sleep 0.1
    done
    echo "lib.sh: dockerd did not come up; last lines of its log:" >&2
    grep -v -e 'module=grpc' -e 'loading plugin' "$HG_LOGS/dockerd.log" | tail -n 25 >&2
    hg_stop dockerd TERM 10
    return 1
}

# hg_docker ARGS...: the docker CLI against the test dockerd.
hg_docker() {
    DOCKER_CONFIG=$HG_TMP/docker/cli "$DOCKER_CLI" -H "unix://$HG_DOCKER_SOCK" "$@"
}

# hg_docker_timeout SECONDS ARGS...: hg_docker, killed after SECONDS.
hg_docker_timeout() {
    local t=$1
    shift
    DOCKER_CONFIG=$HG_TMP/docker/cli timeout "$t" "$DOCKER_CLI" -H "unix://$HG_DOCKER_SOCK" "$@"
}

# hg_client_bundle: a CA bundle as update-ca-certificates would make it after
# installing hubgate's CA: the system roots plus hubgate's CA. The test
# internet CA is not in it, so only TLS that hubgate intercepts verifies.
hg_client_bundle() {
    local b=$HG_TMP/client-ca-bundle.pem
    [ -s "$HG_HUBGATE_CA_DIR/ca.crt" ] || hg_fail "hubgate CA not there: start hubgate first"
    { if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cat /etc/ssl/certs/ca-certificates.crt; fi
      cat "$HG_HUBGATE_CA_DIR/ca.crt"; } >"$b"
    printf '%s\n' "$b"
}
