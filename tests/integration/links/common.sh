# shellcheck shell=bash
# links/common.sh — helpers of the upstream-link tests (t_30_links,
# t_31_failover, t_32_redirect_credentials). Source it after lib.sh; it only
# adds to lib.sh, with the prefix hgl_.
#
# Topology added to lib.sh's (all inside its namespaces, removed with them):
#   hub namespace, on its veth besides 198.51.100.2 and .3:
#     198.51.100.10  hub.relay.test        nginx one-name relay   (nginx-relay.conf.in)
#     198.51.100.11  registry|auth|blobs.relay.test  Caddy three-name relay (Caddyfile.in)
#     198.51.100.12  fault.relay.test      python fault relay     (fault_relay.py)
#     198.51.100.13  auth.docker.io        python token service demanding Basic (auth_double.py)
#     198.51.100.14  proxy.links.test      :1080 microsocks, :1081 danted
#                    (user/pass), :8888 tinyproxy (Basic), :1090 and up
#                    shaper.py (hgl_shaper: a rate-limited SOCKS5 link)
#   and the hub namespace's hosts file maps the Docker Hub names to the
#   stand-in (198.51.100.2) and the relay names to their addresses, so the
#   SOCKS/HTTP proxies and relays resolve them correctly there.
#   hubgate is started (hgl_hubgate_start) in the client namespace in a
#   private mount namespace whose /etc/hosts is a file of the test's choice:
#   usually the Docker Hub names all map to 203.0.113.99 (TEST-NET-3, no
#   route from the client namespace), so a pull that works cannot have gone
#   direct. hubgate's hosts file names the proxies (proxy.links.test) so that
#   it resolves them from the file: an IP literal would cost a DNS lookup
#   (see t_31), and this namespace's DNS server refuses.

HGL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HGL_POISON_IP=203.0.113.99
HGL_NGINX_IP=198.51.100.10
HGL_CADDY_IP=198.51.100.11
HGL_FAULT_IP=198.51.100.12
HGL_AUTH_IP=198.51.100.13
HGL_PROXY_IP=198.51.100.14
HGL_PROXY_NAME=proxy.links.test
HGL_MICROSOCKS_PORT=1080
HGL_DANTE_PORT=1081
HGL_TINYPROXY_PORT=8888
HGL_PULL_TIMEOUT=${HGL_PULL_TIMEOUT:-120}
HGL_LOG_MARK=0
declare -A HGL_DIGEST=()
HGL_ARCH=""

# hgl_need_pkgs PKG...: installs the Debian packages that are missing
# (apt-get, non-interactive, no recommends); skips the test if that fails.
hgl_need_pkgs() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null \
            || missing+=("$p")
    done
    [ "${#missing[@]}" = 0 ] && return 0
    hg_log "installing missing packages: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -q \
            --no-install-recommends "${missing[@]}" >"$HG_LOGS/apt.log" 2>&1; then
        timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -q >>"$HG_LOGS/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -q \
            --no-install-recommends "${missing[@]}" >>"$HG_LOGS/apt.log" 2>&1 \
            || hg_skip "cannot install ${missing[*]} (see apt.log)"
    fi
}

# hgl_arch: sets HGL_ARCH to this machine's image platform (amd64, arm64/v8).
hgl_arch() {
    case $(uname -m) in
        x86_64) HGL_ARCH=amd64 ;;
        aarch64) HGL_ARCH=arm64/v8 ;;
        *) hg_skip "no test image for $(uname -m)" ;;
    esac
}

# hgl_cert NAME...: a server certificate per NAME from the test internet CA
# ($HG_TMP/pki, made by lib.sh's hg_hub_up), as tests/pki/gen.sh makes them.
hgl_cert() {
    local pki=$HG_TMP/pki name
    for name in "$@"; do
        [ -s "$pki/$name.crt" ] && continue
        (
            umask 077
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout "$pki/$name.key" -out "$pki/$name.csr" -subj "/O=hubgate tests/CN=$name" \
                2>/dev/null
            printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
                'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' \
                "subjectAltName=DNS:$name" >"$pki/$name.ext"
            openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
                -set_serial "0x$(openssl rand -hex 16)" -days 7 -sha256 \
                -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
            rm -f "$pki/$name.csr" "$pki/$name.ext"
            chmod 644 "$pki/$name.crt"
        ) || hg_fail "could not make a test certificate for $name"
    done
}

# hgl_net_up: the extra addresses in the hub namespace, its hosts file (the
# Docker Hub and relay names, for the proxies and relays running there) and
# the relays' certificates. After hg_topology_up and hg_hub_up.
hgl_net_up() {
    local ip
    for ip in "$HGL_NGINX_IP" "$HGL_CADDY_IP" "$HGL_FAULT_IP" "$HGL_AUTH_IP" "$HGL_PROXY_IP"; do
        ip -n "$HG_NS_HUB" addr add "$ip/24" dev "hgh$HG_ID"
    done
    {
        echo "$HG_HUB_IP $HG_HUB_HOSTS"
        echo "$HGL_NGINX_IP hub.relay.test"
        echo "$HGL_CADDY_IP registry.relay.test auth.relay.test blobs.relay.test"
        echo "$HGL_FAULT_IP fault.relay.test"
    } >>"/etc/netns/$HG_NS_HUB/hosts"
    hgl_cert hub.relay.test registry.relay.test auth.relay.test blobs.relay.test fault.relay.test
    hg_log "links: relay addresses up; hub namespace resolves the Docker Hub and relay names"
}

# hgl_hosts OUT [IP NAME...]...: a hosts file for hubgate. Each argument is
# one line "IP NAME...". Default: every Docker Hub name poisoned
# (203.0.113.99), the relay names and proxy.links.test correct.
hgl_hosts() {
    local out=$1 line
    shift
    {
        echo "127.0.0.1 localhost"
        echo "::1 localhost ip6-localhost ip6-loopback"
        if [ "$#" = 0 ]; then
            echo "$HGL_POISON_IP $HG_HUB_HOSTS"
            echo "$HGL_NGINX_IP hub.relay.test"
            echo "$HGL_CADDY_IP registry.relay.test auth.relay.test blobs.relay.test"
            echo "$HGL_FAULT_IP fault.relay.test"
            echo "$HGL_PROXY_IP $HGL_PROXY_NAME"
        fi
        for line in "$@"; do echo "$line"; done
    } >"$out"
}

# hgl_config OUT VIA [LINE...]: a hubgate config for the tests: lib.sh's
# settings (listener, CA dir, intercepted hosts, test internet CA), [upstream]
# via = VIA, then each LINE as given (sections such as [relay] included).
# HGL_INTERCEPT overrides [intercept] hosts (set and empty: none);
# HGL_REGISTRIES adds [intercept] registries. HG_TEST_CACHE=1 adds a
# [cache] in $HG_TMP/cache (to run a link test with the cache on).
hgl_config() {
    local out=$1 via=$2 line
    shift 2
    HG_HUBGATE_CA_DIR=$HG_TMP/hubgate-ca
    {
        echo "[proxy]"
        echo "listen = $HG_PROXY"
        echo "allow = 127.0.0.0/8 ::1/128"
        echo "drain_timeout = 3s"
        echo "[ca]"
        echo "dir = $HG_HUBGATE_CA_DIR"
        echo "[intercept]"
        echo "hosts = ${HGL_INTERCEPT-$HG_HUB_HOSTS}"
        [ -z "${HGL_REGISTRIES:-}" ] || echo "registries = $HGL_REGISTRIES"
        echo "[dns]"
        echo "servers ="
        if [ "${HG_TEST_CACHE:-0}" = 1 ]; then
            echo "[cache]"
            echo "dir = $HG_TMP/cache"
        fi
        echo "[upstream]"
        echo "via = $via"
        echo "ca_file = $HG_TMP/pki/ca.crt"
        for line in "$@"; do echo "$line"; done
    } >"$out"
}

# hgl_hubgate_start CONFIG HOSTS: as lib.sh's hubgate_start, but hubgate
# runs in its own mount namespace whose /etc/hosts is HOSTS (so its resolver
# gives the answers the test chose). Marks the log: hgl_log_new shows only
# what this run of hubgate wrote.
hgl_hubgate_start() {
    local conf=$1 hosts=$2 out rc=0
    [ -x "$HUBGATE" ] || hg_fail "no hubgate binary at $HUBGATE (make hubgate)"
    out=$(hg_client timeout 20 "$HUBGATE" -t -c "$conf" 2>&1) || rc=$?
    [ "$rc" = 0 ] || hg_fail "hubgate -t -c $conf exited $rc: $out"
    HG_HUBGATE_CA_DIR=$HG_TMP/hubgate-ca
    mkdir -p "$HG_HUBGATE_CA_DIR"
    touch "$HG_LOGS/hubgate.log"
    HGL_LOG_MARK=$(wc -l <"$HG_LOGS/hubgate.log")
    # shellcheck disable=SC2016  # $1 is the inner shell's
    hg_start hubgate "$HG_NS_CLIENT" unshare -m --propagation private sh -c \
        'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$hosts" \
        "$HUBGATE" -c "$conf"
    hg_wait_hubgate
    hg_log "hubgate up: $(grep -m1 '^via' "$conf" | sed 's|//[^@/ ]*@|//***@|g'), resolver: $(grep -v localhost "$hosts" | tr '\n' ';')"
}

# hgl_hubgate_restart CONFIG HOSTS: stops hubgate (must exit 0) and starts
# it again with CONFIG and HOSTS.
hgl_hubgate_restart() {
    hubgate_stop
    hgl_hubgate_start "$@"
}

# hgl_count FILE ERE: how many lines of FILE match ERE (0 if none, or no FILE).
hgl_count() {
    local n
    n=$(grep -cE -- "$2" "$1" 2>/dev/null) || true
    echo "${n:-0}"
}

# hgl_log_new: hubgate's log since the last hgl_hubgate_start.
hgl_log_new() {
    tail -n "+$((HGL_LOG_MARK + 1))" "$HG_LOGS/hubgate.log"
}

# hgl_show_log [N]: the first N (60) lines of hubgate's log since the mark.
hgl_show_log() {
    echo "---- hubgate log of this case (first ${1:-60} lines):" >&2
    hgl_log_new | head -n "${1:-60}" >&2 || true
}

# hgl_curl ARGS...: curl in the client namespace (with its hosts file), 20 s.
hgl_curl() {
    hg_client timeout 30 curl -sS --max-time 20 "$@"
}

# hgl_via_hubgate_code URL: the status hubgate answers a GET of URL with
# (curl through hubgate, trusting hubgate's CA).
hgl_via_hubgate_code() {
    hgl_curl -o /dev/null -w '%{http_code}' --proxy "http://$HG_PROXY" \
        --cacert "$HG_HUBGATE_CA_DIR/ca.crt" "$1" || true
}

# ---------------------------------------------------------------- images

# hgl_image NAME [LAYER...]: makes hubgate-links/NAME:1 (this platform, a
# text layer unique to NAME and 256 KiB of random bytes, or the LAYERs
# given), pushes it straight to the stand-in and keeps the registry's
# manifest digest in HGL_DIGEST[NAME]. Summary in $HG_TMP/oci/NAME.sum.
hgl_image() {
    local name=$1 pushed reg
    shift
    [ -n "$HGL_ARCH" ] || hgl_arch
    [ "$#" -gt 0 ] || set -- "text:etc/$name.txt:$name $(openssl rand -hex 8)" \
        "random:data/$name-$(openssl rand -hex 4).bin:262144"
    local args=() l
    for l in "$@"; do args+=(--layer "$l"); done
    hg_make_image "$name" --ref 1 --platform "linux/$HGL_ARCH" --cmd /bin/true "${args[@]}"
    pushed=$(hg_push "$HG_TMP/oci/$name" 1 "hubgate-links/$name:1" --format=oci)
    reg=$(hg_registry_digest "hubgate-links/$name" 1) || hg_fail "registry has no manifest for hubgate-links/$name:1"
    [ "$pushed" = "$reg" ] || hg_fail "hubgate-links/$name:1: skopeo pushed $pushed, registry says $reg"
    HGL_DIGEST[$name]=$reg
}

# hgl_blobs NAME: the blob digests (layers and config) of image NAME.
hgl_blobs() {
    awk '$1 == "layer" || $1 == "config" {print $3}' "$HG_TMP/oci/$1.sum"
}

# hgl_pull NAME: docker pull hubgate-links/NAME:1 through hubgate; the
# RepoDigest must be the registry's and the layers unpacked the ones pushed.
hgl_pull() {
    local name=$1 image=hubgate-links/$1:1 t got want log
    want=${HGL_DIGEST[$name]}
    log=$HG_LOGS/pull.$name.log
    t=$(date +%s)
    if ! hg_docker_timeout "$HGL_PULL_TIMEOUT" pull "$image" >"$log" 2>&1; then
        hgl_show_log 80
        hg_fail "docker pull $image failed: $(tail -n 3 "$log" | tr '\n' ' ')"
    fi
    got=$(hg_docker_timeout 30 image inspect -f '{{json .RepoDigests}}' "$image")
    case $got in
        *"@$want\""*) ;;
        *) hg_fail "$image: RepoDigests $got, but the registry's digest is $want" ;;
    esac
    got=$(hg_docker_timeout 30 image inspect -f '{{range .RootFS.Layers}}{{println .}}{{end}}' "$image" | sed '/^$/d')
    want=$(awk '$1 == "layer" {print $4}' "$HG_TMP/oci/$name.sum")
    [ "$got" = "$want" ] || hg_fail "$image: docker unpacked layers [$got], pushed [$want]"
    hg_log "docker pull $image: ok in $(( $(date +%s) - t ))s, digest ${HGL_DIGEST[$name]}, layers as pushed"
}

# hgl_assert_link NAME LINK: in hubgate's log since the mark, every access
# line for image NAME went out on LINK (link=LINK), and there is a 200 GET of
# a manifest and of every blob of NAME.
hgl_assert_link() {
    local name=$1 link=$2 lines bad b
    lines=$(hgl_log_new | grep ' access ' | grep -F "/v2/hubgate-links/$name/" || true)
    [ -n "$lines" ] || { hgl_show_log; hg_fail "$name: no access line in hubgate's log"; }
    bad=$(printf '%s\n' "$lines" | sed 's/$/ /' | grep -vF " link=$link " || true)
    [ -z "$bad" ] || { hgl_show_log; hg_fail "$name: requests not on link $link: $bad"; }
    printf '%s\n' "$lines" | grep -E " GET registry-1\.docker\.io /v2/hubgate-links/$name/manifests/[^ ]+ 200 " >/dev/null \
        || { hgl_show_log; hg_fail "$name: no 200 manifest GET in hubgate's log"; }
    for b in $(hgl_blobs "$name"); do
        printf '%s\n' "$lines" | grep -F " GET registry-1.docker.io /v2/hubgate-links/$name/blobs/$b 200 " >/dev/null \
            || { hgl_show_log; hg_fail "$name: no 200 GET of blob $b in hubgate's log"; }
    done
    hg_log "$name: every request ($(printf '%s\n' "$lines" | wc -l)) went out on $link"
}

# hgl_assert_no_direct: hubgate's log since the mark shows no request on
# the direct link and no mention of the poisoned address.
hgl_assert_no_direct() {
    if hgl_log_new | grep -e ' link=direct' -e ' on direct' -e 'last: direct' -e "$HGL_POISON_IP" >/dev/null; then
        hgl_show_log
        hg_fail "hubgate went direct, or tried to (see its log above)"
    fi
}

# hgl_assert_hub_saw NAME: the stand-in's nginx served the manifest and
# every blob of image NAME, and never to a connection from the client
# namespace's address (198.51.100.1, where hubgate runs): the link carried
# them. (Proxies and relays connect from the hub namespace's own addresses.)
hgl_assert_hub_saw() {
    local name=$1 pats=$HG_TMP/hub-saw.$1 lines b
    # What was asked after the pushes (skopeo's user agent left out).
    lines=$(grep -v 'ua="skopeo/' "$HG_LOGS/nginx.access.log" || true)
    printf '%s\n' "$lines" | grep -F "\"GET /v2/hubgate-links/$name/manifests/" >/dev/null \
        || hg_fail "$name: the stand-in never served its manifest"
    echo "/hubgate-links/$name/" >"$pats"
    for b in $(hgl_blobs "$name"); do
        printf '%s\n' "$lines" | grep -F "/${b#sha256:}/data " | grep '" 200 ' >/dev/null \
            || hg_fail "$name: the stand-in never served blob $b"
        echo "/${b#sha256:}/data " >>"$pats"
    done
    if printf '%s\n' "$lines" | grep -F -f "$pats" | grep "^$HG_CLIENT_IP " >/dev/null; then
        hg_fail "$name: the stand-in served some of its requests straight to $HG_CLIENT_IP (hubgate went direct)"
    fi
    hg_log "$name: the stand-in served manifest and blobs, none straight to hubgate's address"
}

# ---------------------------------------------------------------- services

# hgl_render TEMPLATE OUT [VAR=VALUE...]: fills in @VAR@ from the arguments,
# then lib.sh's placeholders (hg_render), which must leave none.
hgl_render() {
    local tpl=$1 out=$2 kv args=()
    shift 2
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    if [ "${#args[@]}" = 0 ]; then cp "$tpl" "$out.pre"; else sed "${args[@]}" "$tpl" >"$out.pre"; fi
    hg_render "$out.pre" "$out"
    rm -f "$out.pre"
}

# hgl_microsocks: microsocks (no auth) on 198.51.100.14:1080 in the hub.
hgl_microsocks() {
    hg_start microsocks "$HG_NS_HUB" microsocks -i "$HGL_PROXY_IP" -p "$HGL_MICROSOCKS_PORT"
    hg_wait_port "$HG_NS_HUB" "$HGL_PROXY_IP" "$HGL_MICROSOCKS_PORT" microsocks
}

# hgl_dante USER PASS: danted on 198.51.100.14:1081 in the hub, with
# username authentication against private copies of /etc/passwd and
# /etc/shadow holding USER (bind-mounted in danted's own mount namespace).
hgl_dante() {
    local user=$1 pass=$2 d=$HG_TMP/dante hash
    mkdir -p "$d"
    hash=$(openssl passwd -6 "$pass")
    { cat /etc/passwd; echo "$user:x:64999:64999:hubgate test:/nonexistent:/usr/sbin/nologin"; } >"$d/passwd"
    # Only the test user: the host's own shadow file is not copied.
    ( umask 077; echo "$user:$hash:19000:0:99999:7:::" >"$d/shadow" )
    hgl_render "$HGL_DIR/danted.conf.in" "$d/danted.conf" DANTE_PORT="$HGL_DANTE_PORT" \
        PROXY_IP="$HGL_PROXY_IP"
    # shellcheck disable=SC2016  # $1.. are the inner shell's
    hg_start dante "$HG_NS_HUB" unshare -m --propagation private sh -c \
        'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow && shift 2 && exec "$@"' \
        sh "$d/passwd" "$d/shadow" danted -f "$d/danted.conf" -N 1
    hg_wait_port "$HG_NS_HUB" "$HGL_PROXY_IP" "$HGL_DANTE_PORT" dante
}

# hgl_tinyproxy USER PASS: tinyproxy (CONNECT to 443, Basic auth USER:PASS)
# on 198.51.100.14:8888 in the hub.
hgl_tinyproxy() {
    hgl_render "$HGL_DIR/tinyproxy.conf.in" "$HG_TMP/tinyproxy.conf" \
        TINYPROXY_PORT="$HGL_TINYPROXY_PORT" TINYPROXY_USER="$1" TINYPROXY_PASS="$2" \
        PROXY_IP="$HGL_PROXY_IP"
    hg_start tinyproxy "$HG_NS_HUB" tinyproxy -d -c "$HG_TMP/tinyproxy.conf"
    hg_wait_port "$HG_NS_HUB" "$HGL_PROXY_IP" "$HGL_TINYPROXY_PORT" tinyproxy
}

# hgl_nginx_relay: the one-name nginx relay hub.relay.test on 198.51.100.10.
hgl_nginx_relay() {
    local conf=$HG_TMP/nginx-relay.conf
    hgl_render "$HGL_DIR/nginx-relay.conf.in" "$conf" RELAY_IP="$HGL_NGINX_IP" RELAY_NAME=hub.relay.test
    hg_hub timeout 20 nginx -t -q -e "$HG_LOGS/nginx-relay.error.log" -c "$conf" \
        >"$HG_LOGS/nginx-relay-t.log" 2>&1 || hg_fail "nginx -t rejects $conf: $(cat "$HG_LOGS/nginx-relay-t.log")"
    hg_start nginx-relay "$HG_NS_HUB" nginx -e "$HG_LOGS/nginx-relay.error.log" -c "$conf"
    hg_wait_port "$HG_NS_HUB" "$HGL_NGINX_IP" 443 nginx-relay
}

# hgl_caddy_relay: the three-name Caddy relay on 198.51.100.11.
hgl_caddy_relay() {
    local d=$HG_RUN/caddy conf=$HG_TMP/Caddyfile
    mkdir -p "$d/data" "$d/config" "$HG_RUN/caddy-data"
    hgl_render "$HGL_DIR/Caddyfile.in" "$conf" CADDY_IP="$HGL_CADDY_IP"
    hg_hub env HOME="$d" XDG_DATA_HOME="$d/data" XDG_CONFIG_HOME="$d/config" \
        timeout 30 caddy validate --config "$conf" --adapter caddyfile >"$HG_LOGS/caddy-validate.log" 2>&1 \
        || hg_fail "caddy validate rejects $conf: $(tail -n 5 "$HG_LOGS/caddy-validate.log")"
    hg_start caddy "$HG_NS_HUB" env HOME="$d" XDG_DATA_HOME="$d/data" XDG_CONFIG_HOME="$d/config" \
        caddy run --config "$conf" --adapter caddyfile
    hg_wait_port "$HG_NS_HUB" "$HGL_CADDY_IP" 443 caddy
}

# hgl_fault_relay NAME ARGS...: fault_relay.py (service NAME) as
# fault.relay.test on 198.51.100.12:443, with the fault ARGS, logging each
# request to $HG_LOGS/NAME.jsonl. Stop it (hg_stop NAME) before another.
hgl_fault_relay() {
    local name=$1
    shift
    hg_start "$name" "$HG_NS_HUB" timeout 900 "$HG_PY" "$HGL_DIR/fault_relay.py" \
        --listen "$HGL_FAULT_IP:443" --cert "$HG_TMP/pki/fault.relay.test.crt" \
        --key "$HG_TMP/pki/fault.relay.test.key" --ca "$HG_TMP/pki/ca.crt" \
        --origin https://fault.relay.test --log "$HG_LOGS/$name.jsonl" "$@"
    hg_wait_port "$HG_NS_HUB" "$HGL_FAULT_IP" 443 "$name"
}

# hgl_shaper NAME PORT ARGS...: shaper.py (service NAME), a SOCKS5 server
# shaping every connection (--rate 4MiB, --cut-after N, --stall-after N,
# --faults K), on proxy.links.test (198.51.100.14):PORT in the hub
# namespace; one line per connection in $HG_LOGS/NAME.conns. For hubgate:
# via = socks5://proxy.links.test:PORT.
hgl_shaper() {
    local name=$1 port=$2
    shift 2
    hg_start "$name" "$HG_NS_HUB" timeout 900 "$HG_PY" "$HGL_DIR/shaper.py" \
        --listen "$HGL_PROXY_IP:$port" --log "$HG_LOGS/$name.conns" "$@"
    hg_wait_port "$HG_NS_HUB" "$HGL_PROXY_IP" "$port" "$name"
}

# hgl_fault_count NAME PYTHON-EXPR: how many requests in fault relay NAME's
# log satisfy the python expression over r (one request's record).
hgl_fault_count() {
    "$HG_PY" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if eval(sys.argv[2], {}, {"r": r}):
        n += 1
print(n)' "$HG_LOGS/$1.jsonl" "$2"
}

# hgl_auth_double CREDFILE: auth_double.py as auth.docker.io on
# 198.51.100.13:443, demanding Basic CREDFILE's user:token; records to
# $HG_LOGS/auth-double.record.
hgl_auth_double() {
    hg_start auth-double "$HG_NS_HUB" timeout 900 "$HG_PY" "$HGL_DIR/auth_double.py" \
        --listen "$HGL_AUTH_IP:443" --cert "$HG_TMP/pki/auth.docker.io.crt" \
        --key "$HG_TMP/pki/auth.docker.io.key" --expect "$1" \
        --token-url http://127.0.0.1:5001/token --record "$HG_LOGS/auth-double.record"
    hg_wait_port "$HG_NS_HUB" "$HGL_AUTH_IP" 443 auth-double
}
