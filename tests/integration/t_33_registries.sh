#!/bin/bash
# t_33_registries — a stock dockerd (and containerd's ctr) pull from stand-ins
# of ghcr.io, quay.io, registry.k8s.io and mcr.microsoft.com BY THEIR FULL
# NAMES through hubgate ([intercept] hosts = (empty), registries = ghcr.io
# quay.io registry.k8s.io mcr.microsoft.com), each stand-in authenticating
# and redirecting as the real registry does (shared REGISTRIES.md):
#
#   netns hgc-ID (client) 198.51.100.1        netns hgh-ID (hub, "the internet")
#     hubgate 127.0.0.1:3128, its /etc/hosts    198.51.100.20:443 nginx (registries/nginx.conf.in)
#       poisons every registry name              ghcr.io  realm https://ghcr.io/token (token_service.py),
#       (203.0.113.99, no route)                          docker-registry :5101, blob GET 307 ->
#     dockerd, containerd + ctr (HTTPS_PROXY,             pkg-containers.githubusercontent.com
#       trusting only hubgate's CA; the client   quay.io  realm https://quay.io/v2/auth, :5102, blob GET
#       namespace's hosts poison the names too)           302 -> cdn01.quay.io/...?Expires=&Signature=
#                                                         (400 to any Authorization, 403 unsigned)
#                                                registry.k8s.io  (archeio) a correlation token from its own
#                                                         /token, no credentials; manifests AND
#                                                         blobs 307 -> us-west1-docker.pkg.dev/v2/
#                                                         k8s-artifacts-prod/images/... (:5103, no
#                                                         auth), whose blob GETs 307 to a RELATIVE
#                                                         /artifacts-downloads/... on the same host
#                                                mcr.microsoft.com  no token, no redirect (:5104)
#                                               198.51.100.14:1080 microsocks (resolves the names)
#                                               198.51.100.21:443 nginx per-host relays
#                                                 ghcr|quay|k8s|mcr.relay.test (registries/nginx-relay.conf.in)
# (198.51.100.2 is lib.sh's Docker Hub stand-in: docker.io/hubgate-reg/app:1 in A.)
# hubgate's [upstream] credentials is a docker config.json with accounts for
# ghcr.io ("auth") and quay.io (username/password); ghcr.io/owner/private is
# granted by the ghcr token service only to that account.
#
#   A. via = socks5://proxy.links.test:1080: docker pull of
#      ghcr.io/owner/app:1, ghcr.io/owner/private:1, quay.io/org/app:1,
#      registry.k8s.io/pause:3.9 (a 2-platform OCI index), mcr.microsoft.com/x/y:1;
#      RepoDigests = what skopeo pushed, layers = the pushed ones. Then a
#      containerd in the client namespace: ctr images pull registry.k8s.io/pause:3.9
#      (HTTPS_PROXY = hubgate, SSL_CERT_FILE = hubgate's CA) exits 0 with the
#      pushed index digest.
#   B. via = relay, [relay] maps all four registries to the nginx relays:
#      the same five docker pulls (images removed first).
#   C. via = socks5, no credentials file: the private pull fails.
#   D. via = relay:https://ONE-NAME-RELAY, socks5: ghcr.io goes over SOCKS5
#      only (a one-name relay relays Docker Hub only); that relay alone is
#      refused by hubgate -t.
# After A and B: each account's Basic credentials reached only its own
# registry's token service (the token services' records and nginx's log:
# the ghcr account only at ghcr.io /token, the quay account only at quay.io
# /v2/auth; no Basic anywhere else, no request with wrong credentials); the
# blob/CDN hosts saw no Authorization header at all, no 400/403, and served
# every blob; hubgate's log has no tunnel to or certificate for a blob/CDN
# host (a curl CONNECT at the end proves such a line would show), no
# request on the direct link, and no secret (tokens, their base64, the CDN
# signature) in its log, /metrics or status page. Also: docker.io by its
# full name in A (lib.sh's Docker Hub stand-in), and a client that sends its
# own Basic credentials (skopeo --creds) keeps them (hubgate adds none).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=links/common.sh
. "$(dirname "$0")/links/common.sh"
hg_init t_33_registries
for c in microsocks containerd ctr; do
    command -v "$c" >/dev/null 2>&1 || hg_skip "missing: $c"
done

REGDIR=$HG_TOP/tests/integration/registries
REG_IP=198.51.100.20
RELAY_IP=198.51.100.21
REG_NAMES="ghcr.io pkg-containers.githubusercontent.com quay.io cdn01.quay.io registry.k8s.io us-west1-docker.pkg.dev mcr.microsoft.com"
CDN_NAMES="pkg-containers.githubusercontent.com cdn01.quay.io us-west1-docker.pkg.dev production.cloudflare.docker.com"
RELAY_NAMES="ghcr.relay.test quay.relay.test k8s.relay.test mcr.relay.test"
REGISTRIES="ghcr.io quay.io registry.k8s.io mcr.microsoft.com"
T0=$(date +%s)

hg_topology_up
hg_hub_up
for ip in "$HGL_PROXY_IP" "$REG_IP" "$RELAY_IP"; do
    ip -n "$HG_NS_HUB" addr add "$ip/24" dev "hgh$HG_ID"
done
{
    echo "$HG_HUB_IP $HG_HUB_HOSTS"
    echo "$REG_IP $REG_NAMES"
    echo "$RELAY_IP $RELAY_NAMES"
} >>"/etc/netns/$HG_NS_HUB/hosts"
# dockerd and ctr must not reach any of these names but through hubgate.
echo "$HGL_POISON_IP $REG_NAMES $RELAY_NAMES" >>"/etc/netns/$HG_NS_CLIENT/hosts"
# shellcheck disable=SC2086
hgl_cert $REG_NAMES $RELAY_NAMES

# --- the registries
GH_USER=ghuser$(openssl rand -hex 3)
GH_TOKEN=ghp_$(openssl rand -hex 18)
QUAY_USER=quayuser$(openssl rand -hex 3)
QUAY_TOKEN=quaytok$(openssl rand -hex 18)
CDN_SIG=sig$(openssl rand -hex 20)
CDN_EXPIRES=$(( $(date +%s) + 3600 ))

# reg_yml NAME PORT PUBLIC-HOST [REALM SERVICE [REDIRECT-BASEURL]]
reg_yml() {
    local name=$1 port=$2 host=$3 realm=${4:-} service=${5:-} redir=${6:-}
    mkdir -p "$HG_TMP/regdata/$name"
    {
        echo "version: 0.1"
        echo "log: {level: warn, formatter: text}"
        echo "storage:"
        echo "  filesystem: {rootdirectory: $HG_TMP/regdata/$name}"
        echo "  delete: {enabled: true}"
        echo "  redirect: {disable: false}"
        echo "  maintenance: {uploadpurging: {enabled: false}}"
        echo "http:"
        echo "  addr: 127.0.0.1:$port"
        echo "  host: https://$host"
        echo "  secret: $(openssl rand -hex 16)"
        if [ -n "$realm" ]; then
            echo "auth:"
            echo "  token: {realm: \"$realm\", service: $service, issuer: $HG_TOKEN_ISSUER, rootcertbundle: $HG_TMP/pki/token.crt}"
        fi
        if [ -n "$redir" ]; then
            echo "middleware:"
            echo "  storage:"
            echo "    - name: redirect"
            echo "      options: {baseurl: \"$redir\"}"
        fi
        echo "health: {storagedriver: {enabled: false}}"
    } >"$HG_TMP/registry-$name.yml"
    hg_start "registry-$name" "$HG_NS_HUB" docker-registry serve "$HG_TMP/registry-$name.yml"
}
reg_yml ghcr 5101 ghcr.io https://ghcr.io/token ghcr.io https://pkg-containers.githubusercontent.com
reg_yml quay 5102 quay.io https://quay.io/v2/auth quay.io https://cdn01.quay.io
reg_yml pkgdev 5103 us-west1-docker.pkg.dev
reg_yml mcr 5104 mcr.microsoft.com

# token_svc NAME PORT PATH SERVICE ACCOUNT [--private REPO]
token_svc() {
    local name=$1 port=$2 path=$3 service=$4 account=$5
    shift 5
    : >"$HG_LOGS/token-$name.record"
    hg_start "token-$name" "$HG_NS_HUB" "$HG_PY" "$REGDIR/token_service.py" \
        --listen "127.0.0.1:$port" --path "$path" --service "$service" \
        --key "$HG_TMP/pki/token.key" --cert "$HG_TMP/pki/token.crt" --issuer "$HG_TOKEN_ISSUER" \
        --push-user "$HG_PUSH_USER" --account "$account" --record "$HG_LOGS/token-$name.record" "$@"
}
token_svc ghcr 5111 /token ghcr.io "$GH_USER:$GH_TOKEN" --private owner/private
token_svc quay 5112 /v2/auth quay.io "$QUAY_USER:$QUAY_TOKEN"

hgl_render "$REGDIR/nginx.conf.in" "$HG_TMP/nginx-reg.conf" REG_IP="$REG_IP" \
    REGDATA="$HG_TMP/regdata" CDN_SIG="$CDN_SIG" CDN_EXPIRES="$CDN_EXPIRES"
hg_hub timeout 20 nginx -t -q -e "$HG_LOGS/nginx-reg.error.log" -c "$HG_TMP/nginx-reg.conf" \
    >"$HG_LOGS/nginx-reg-t.log" 2>&1 || hg_fail "nginx -t rejects nginx-reg.conf: $(cat "$HG_LOGS/nginx-reg-t.log")"
hg_start nginx-reg "$HG_NS_HUB" nginx -e "$HG_LOGS/nginx-reg.error.log" -c "$HG_TMP/nginx-reg.conf"
hgl_render "$REGDIR/nginx-relay.conf.in" "$HG_TMP/nginx-regrelay.conf" RELAY_IP="$RELAY_IP"
for p in 5101 5102 5103 5104 5111 5112; do
    n=$(case $p in 5101) echo registry-ghcr ;; 5102) echo registry-quay ;; 5103) echo registry-pkgdev ;;
        5104) echo registry-mcr ;; 5111) echo token-ghcr ;; 5112) echo token-quay ;; esac)
    hg_wait_port "$HG_NS_HUB" 127.0.0.1 "$p" "$n"
done
hg_wait_port "$HG_NS_HUB" "$REG_IP" 443 nginx-reg
# The relays resolve their upstreams at start: after nginx-reg is up.
hg_hub timeout 20 nginx -t -q -e "$HG_LOGS/nginx-regrelay.error.log" -c "$HG_TMP/nginx-regrelay.conf" \
    >"$HG_LOGS/nginx-regrelay-t.log" 2>&1 || hg_fail "nginx -t rejects nginx-regrelay.conf: $(cat "$HG_LOGS/nginx-regrelay-t.log")"
hg_start nginx-regrelay "$HG_NS_HUB" nginx -e "$HG_LOGS/nginx-regrelay.error.log" -c "$HG_TMP/nginx-regrelay.conf"
hg_wait_port "$HG_NS_HUB" "$RELAY_IP" 443 nginx-regrelay
hgl_microsocks
hg_log "registries up: 4 docker-registry, 2 token services, nginx, relays, microsocks ($(( $(date +%s) - T0 ))s)"

# --- the images, pushed with skopeo through the stand-ins' own names, in
# the hub namespace (trusting the test internet CA).
hgl_arch
declare -A WANT=() SUM=()
# push OCI-NAME REF DEST [SKOPEO-ARGS...]: prints the pushed digest.
push() {
    local dir=$1 ref=$2 dest=$3 df=$HG_TMP/digest.$RANDOM
    shift 3
    : >"$HG_TMP/registries.conf"
    mkdir -p "$HG_TMP/skopeo-tmp"
    timeout 120 ip netns exec "$HG_NS_HUB" env SSL_CERT_FILE="$HG_TMP/pki/ca.crt" \
        CONTAINERS_REGISTRIES_CONF="$HG_TMP/registries.conf" \
        sh -c 'mount -t tmpfs tmpfs /var/lib && exec "$@"' sh \
        skopeo --insecure-policy --tmpdir "$HG_TMP/skopeo-tmp" copy --retry-times 2 \
        --dest-creds "$HG_PUSH_USER" --digestfile "$df" "$@" "oci:$HG_TMP/oci/$dir:$ref" "docker://$dest" \
        >>"$HG_LOGS/skopeo-push.log" 2>&1 || hg_fail "skopeo could not push $dest (see skopeo-push.log)"
    cat "$df"
}
# image NAME (as pulled) PUSH-DEST OCI-NAME REF [oci_layout args]
image() {
    local name=$1 dest=$2 dir=$3 ref=$4 extra=()
    shift 4
    if [ "$dir" = pause ]; then
        hg_make_image "$dir" --ref "$ref" --platform linux/amd64 --platform linux/arm64/v8 --cmd /pause \
            --layer "text:pause:pause $(openssl rand -hex 8)"
        extra=(--all)
    else
        hg_make_image "$dir" --ref "$ref" --platform "linux/$HGL_ARCH" --cmd /bin/true \
            --layer "text:etc/$dir.txt:$name $(openssl rand -hex 8)" \
            --layer "random:data/$dir-$(openssl rand -hex 4).bin:131072"
        extra=(--format=oci)
    fi
    WANT[$name]=$(push "$dir" "$ref" "$dest" "${extra[@]}")
    SUM[$name]=$HG_TMP/oci/$dir.sum
    hg_log "pushed $name (as $dest): ${WANT[$name]}"
}
IMAGES="ghcr.io/owner/app:1 ghcr.io/owner/private:1 quay.io/org/app:1 registry.k8s.io/pause:3.9 mcr.microsoft.com/x/y:1"
image ghcr.io/owner/app:1 ghcr.io/owner/app:1 ghcrapp 1
image ghcr.io/owner/private:1 ghcr.io/owner/private:1 ghcrpriv 1
image quay.io/org/app:1 quay.io/org/app:1 quayapp 1
image registry.k8s.io/pause:3.9 us-west1-docker.pkg.dev/k8s-artifacts-prod/images/pause:3.9 pause 3.9
image mcr.microsoft.com/x/y:1 mcr.microsoft.com/x/y:1 mcrxy 1
# Docker Hub (lib.sh's stand-in) too, by its full name, in A only.
hg_make_image hubapp --ref 1 --platform "linux/$HGL_ARCH" --cmd /bin/true \
    --layer "text:etc/hubapp.txt:docker.io $(openssl rand -hex 8)"
WANT[docker.io/hubgate-reg/app:1]=$(hg_push "$HG_TMP/oci/hubapp" 1 hubgate-reg/app:1 --format=oci)
SUM[docker.io/hubgate-reg/app:1]=$HG_TMP/oci/hubapp.sum
hg_log "pushed docker.io/hubgate-reg/app:1: ${WANT[docker.io/hubgate-reg/app:1]}"
hg_log "pushes took $(( $(date +%s) - T0 ))s since start"

# --- the stand-ins behave as described (curl from the hub namespace, no hubgate)
hcurl() { hg_hub timeout 20 curl -sS --max-time 15 --cacert "$HG_TMP/pki/ca.crt" "$@"; }
hdr() { hcurl -o /dev/null -D - "$@" | tr -d '\r'; }
blob_of() { awk -v p="linux/$HGL_ARCH" '$1 == "layer" && $2 == p {print $3; exit}' "$1"; }
h=$(hdr https://ghcr.io/v2/)
printf '%s\n' "$h" | grep -qi '^www-authenticate: Bearer realm="https://ghcr.io/token",service="ghcr.io"' \
    || hg_fail "stand-in ghcr.io: /v2/ challenge: $h"
h=$(hdr https://quay.io/v2/)
printf '%s\n' "$h" | grep -qi '^www-authenticate: Bearer realm="https://quay.io/v2/auth",service="quay.io"' \
    || hg_fail "stand-in quay.io: /v2/ challenge: $h"
tok=$(hcurl "https://quay.io/v2/auth?service=quay.io&scope=repository:org/app:pull" \
    | "$HG_PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])') || hg_fail "stand-in quay.io: no token"
b=$(blob_of "${SUM[quay.io/org/app:1]}")
h=$(hdr -H "Authorization: Bearer $tok" "https://quay.io/v2/org/app/blobs/$b")
loc=$(printf '%s\n' "$h" | awk 'tolower($1) == "location:" {print $2}')
printf '%s\n' "$h" | head -n1 | grep -q ' 302' || hg_fail "stand-in quay.io: blob GET is not a 302: $h"
case $loc in "https://cdn01.quay.io/docker/registry/v2/blobs/sha256/"*"?Expires=$CDN_EXPIRES&Signature=$CDN_SIG&"*) ;;
    *) hg_fail "stand-in quay.io: blob Location $loc" ;; esac
[ "$(hcurl -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer x' "$loc")" = 400 ] \
    || hg_fail "stand-in cdn01.quay.io does not refuse a request with Authorization"
[ "$(hcurl -o /dev/null -w '%{http_code}' "${loc%%\?*}")" = 403 ] \
    || hg_fail "stand-in cdn01.quay.io serves an unsigned URL"
[ "sha256:$(hcurl "$loc" | sha256sum | cut -d' ' -f1)" = "$b" ] || hg_fail "stand-in cdn01.quay.io: wrong bytes for $b"
b=$(blob_of "${SUM[registry.k8s.io/pause:3.9]}")
h=$(hdr -H 'Accept: application/vnd.oci.image.index.v1+json' https://registry.k8s.io/v2/pause/manifests/3.9)
printf '%s\n' "$h" | grep -Eqi "^location: https://us-west1-docker\.pkg\.dev/v2/k8s-artifacts-prod/images/pause/manifests/3\.9\?rid=[0-9a-f]{32}\$" \
    || hg_fail "stand-in registry.k8s.io: manifest not redirected: $h"
h=$(hdr "https://us-west1-docker.pkg.dev/v2/k8s-artifacts-prod/images/pause/blobs/$b")
printf '%s\n' "$h" | grep -qi "^location: /artifacts-downloads/.*/${b#sha256:}/data\$" \
    || hg_fail "stand-in us-west1-docker.pkg.dev: blob Location not relative: $h"
[ "sha256:$(hcurl -L "https://registry.k8s.io/v2/pause/blobs/$b" | sha256sum | cut -d' ' -f1)" = "$b" ] \
    || hg_fail "stand-in registry.k8s.io: the redirect chain does not serve $b"
h=$(hdr https://registry.k8s.io/v2/)
printf '%s\n' "$h" | grep -qi '^www-authenticate: Bearer realm="https://registry.k8s.io/token",service="registry.k8s.io"' \
    || hg_fail "stand-in registry.k8s.io: /v2/ challenge: $h"
h=$(hdr https://mcr.microsoft.com/v2/)
printf '%s\n' "$h" | head -n1 | grep -q ' 200' || hg_fail "stand-in mcr.microsoft.com: /v2/ is not 200: $h"
code=$(hcurl -o /dev/null -w '%{http_code}' "https://ghcr.io/token?service=ghcr.io&scope=repository:owner/private:pull")
[ "$code" = 200 ] || hg_fail "stand-in ghcr.io: anonymous token request answered $code"
: >"$HG_LOGS/token-ghcr.record"; : >"$HG_LOGS/token-quay.record"
hg_log "stand-ins answer like the real ones (challenges, 302 signed CDN URL refusing Authorization, k8s 307 chain with relative Location)"

# --- hubgate's configurations
creds=$HG_TMP/docker-config.json
( umask 077
  printf '{"auths": {"ghcr.io": {"auth": "%s"}, "https://quay.io": {"username": "%s", "password": "%s"}}}\n' \
      "$(printf '%s:%s' "$GH_USER" "$GH_TOKEN" | base64 -w0)" "$QUAY_USER" "$QUAY_TOKEN" >"$creds" )
SECRETS=("$GH_TOKEN" "$QUAY_TOKEN" "$(printf '%s:%s' "$GH_USER" "$GH_TOKEN" | base64 -w0)"
         "$(printf '%s:%s' "$QUAY_USER" "$QUAY_TOKEN" | base64 -w0)" "$CDN_SIG")
# conf OUT VIA [LINE...]: links/common.sh's config, no hosts but the
# registries (CONF_REGISTRIES, default $REGISTRIES) by name.
conf() {
    HGL_INTERCEPT="" HGL_REGISTRIES=${CONF_REGISTRIES:-$REGISTRIES} hgl_config "$@"
}
hosts=$HG_TMP/hosts.hubgate
# shellcheck disable=SC2086
hgl_hosts "$hosts" "$HGL_POISON_IP $REG_NAMES $HG_HUB_HOSTS" "$RELAY_IP $RELAY_NAMES" \
    "$HGL_PROXY_IP $HGL_PROXY_NAME"
SOCKS=socks5://$HGL_PROXY_NAME:$HGL_MICROSOCKS_PORT

# pull IMAGE: docker pull IMAGE; RepoDigests hold the pushed digest, the
# layers unpacked are the pushed ones of this platform.
pull() {
    local img=$1 t got repo want=${WANT[$1]} log=$HG_LOGS/pull.${1//[\/:]/_}.$PHASE.log
    t=$(date +%s)
    if ! hg_docker_timeout 90 pull "$img" >"$log" 2>&1; then
        hgl_show_log 80
        hg_fail "$PHASE: docker pull $img failed: $(tail -n 3 "$log" | tr '\n' ' ')"
    fi
    got=$(hg_docker_timeout 30 image inspect -f '{{json .RepoDigests}}' "$img")
    repo=${img%:*}
    case $got in *"\"${repo#docker.io/}@$want\""*) ;;
        *) hg_fail "$PHASE: $img: RepoDigests $got, pushed $want" ;; esac
    got=$(hg_docker_timeout 30 image inspect -f '{{range .RootFS.Layers}}{{println .}}{{end}}' "$img" | sed '/^$/d')
    want=$(awk -v p="linux/$HGL_ARCH" '$1 == "layer" && $2 == p {print $4}' "${SUM[$img]}")
    [ "$got" = "$want" ] || hg_fail "$PHASE: $img: docker unpacked layers [$got], pushed [$want]"
    echo "ok: $PHASE: docker pull $img in $(( $(date +%s) - t ))s, RepoDigest ${WANT[$img]}, layers as pushed"
}

# phase_checks LINK: hubgate's log of this phase and the stand-ins' logs.
REG_MARK=0
phase_checks() {
    local link=$1 new lines bad img b reg repo s
    new=$(tail -n "+$((REG_MARK + 1))" "$HG_LOGS/nginx-reg.access.log")
    lines=$(hgl_log_new | grep ' access ' || true)
    bad=$(printf '%s\n' "$lines" | sed 's/$/ /' | grep -vF " link=$link " || true)
    [ -z "$bad" ] || { hgl_show_log; hg_fail "$PHASE: requests not on link $link: $bad"; }
    hgl_assert_no_direct
    # every blob of every image: a 200 GET in hubgate's log (redirects
    # followed by hubgate), served by the blob/CDN host or registry
    for img in $IMAGES; do
        reg=${img%%/*} repo=${img#*/}
        repo=${repo%:*}
        for b in $(awk -v p="linux/$HGL_ARCH" '($1 == "layer" || $1 == "config") && $2 == p {print $3}' "${SUM[$img]}"); do
            printf '%s\n' "$lines" | grep -F " GET $reg /v2/$repo/blobs/$b 200 " >/dev/null \
                || { hgl_show_log 80; hg_fail "$PHASE: no 200 GET of $reg/$repo blob $b in hubgate's log"; }
            case $reg in
                ghcr.io) s=pkg-containers.githubusercontent.com ;;
                quay.io) s=cdn01.quay.io ;;
                registry.k8s.io) s=us-west1-docker.pkg.dev ;;
                *) s=$reg ;;
            esac
            printf '%s\n' "$new" | grep -F "sni=$s " | grep -F "${b#sha256:}" | grep -E '" 200 ' >/dev/null \
                || hg_fail "$PHASE: $s never served $b with 200"
        done
        printf '%s\n' "$lines" | grep -E " GET $reg /v2/$repo/manifests/[^ ]+ 200 " >/dev/null \
            || { hgl_show_log 80; hg_fail "$PHASE: no 200 manifest GET of $img in hubgate's log"; }
    done
    # the k8s front redirected manifests and blobs; Artifact Registry's
    # relative Location was fetched on its own host
    printf '%s\n' "$new" | grep -E 'sni=registry\.k8s\.io "GET /v2/pause/manifests/[^ ]+ HTTP/[0-9.]+" 307 ' >/dev/null \
        || hg_fail "$PHASE: registry.k8s.io redirected no manifest GET"
    printf '%s\n' "$new" | grep -E 'sni=us-west1-docker\.pkg\.dev "GET /artifacts-downloads/' | grep -E '" 200 ' >/dev/null \
        || hg_fail "$PHASE: us-west1-docker.pkg.dev served nothing under /artifacts-downloads/"
    # registry.k8s.io got dockerd's correlation Bearer token; the hops to
    # Artifact Registry (another host) carried no Authorization
    printf '%s\n' "$new" | grep -E 'sni=registry\.k8s\.io "GET /v2/pause/(manifests|blobs)/' | grep -F ' auth=bearer ' >/dev/null \
        || hg_fail "$PHASE: registry.k8s.io saw no Bearer token on manifests/blobs (the hop check below would prove nothing)"
    bad=$(printf '%s\n' "$new" | grep -F 'sni=us-west1-docker.pkg.dev ' | grep -v ' auth=none ' || true)
    [ -z "$bad" ] || hg_fail "$PHASE: registry.k8s.io's Authorization followed the redirect to us-west1-docker.pkg.dev: $bad"
    # blob/CDN hosts: no Authorization at all, never refused
    bad=$(printf '%s\n' "$new" | grep -E 'sni=(pkg-containers\.githubusercontent\.com|cdn01\.quay\.io) |"GET /artifacts-downloads/' \
        | grep -v ' auth=none ' || true)
    [ -z "$bad" ] || hg_fail "$PHASE: a blob/CDN host got an Authorization header: $bad"
    bad=$(printf '%s\n' "$new" | grep -E 'sni=(pkg-containers\.githubusercontent\.com|cdn01\.quay\.io) ' \
        | grep -E '" (400|403) ' || true)
    [ -z "$bad" ] || hg_fail "$PHASE: a CDN refused a request: $bad"
    # Basic credentials: each account only at its own realm
    bad=$(printf '%s\n' "$new" | grep ' auth=basic ' | grep -v 'ua="skopeo/' \
        | grep -vE "sni=ghcr\.io \"GET /token\?[^ ]* HTTP/[0-9.]+\" [0-9]+ [0-9]+ auth=basic user=$GH_USER " \
        | grep -vE "sni=quay\.io \"GET /v2/auth\?[^ ]* HTTP/[0-9.]+\" [0-9]+ [0-9]+ auth=basic user=$QUAY_USER " || true)
    [ -z "$bad" ] || hg_fail "$PHASE: Basic credentials went where they do not belong: $bad"
    echo "ok: $PHASE: every request on $link; every blob 200 to dockerd, served by its blob/CDN host; the CDNs saw no Authorization"
    REG_MARK=$(wc -l <"$HG_LOGS/nginx-reg.access.log")
}

# creds_checks: the token services' records since they were emptied.
creds_checks() {
    local g=$HG_LOGS/token-ghcr.record q=$HG_LOGS/token-quay.record
    [ "$(hgl_count "$g" "auth=basic user=$GH_USER cred=account status=200 scope=repository:owner/private:pull")" -ge 1 ] \
        || hg_fail "$PHASE: the ghcr token service never saw the ghcr account for owner/private: $(head -n 5 "$g" | tr '\n' '|')"
    [ "$(hgl_count "$q" "auth=basic user=$QUAY_USER cred=account status=200")" -ge 1 ] \
        || hg_fail "$PHASE: the quay token service never saw the quay account: $(head -n 5 "$q" | tr '\n' '|')"
    ! grep -E -e "user=$QUAY_USER" -e 'cred=(wrong|push)' -e 'auth=(bearer|other)' "$g" >/dev/null \
        || hg_fail "$PHASE: ghcr's realm saw other credentials: $(grep -E -e "user=$QUAY_USER" -e 'cred=(wrong|push)' -e 'auth=(bearer|other)' "$g" | head -n 3)"
    ! grep -E -e "user=$GH_USER" -e 'cred=(wrong|push)' -e 'auth=(bearer|other)' "$q" >/dev/null \
        || hg_fail "$PHASE: quay's realm saw other credentials: $(grep -E -e "user=$GH_USER" -e 'cred=(wrong|push)' -e 'auth=(bearer|other)' "$q" | head -n 3)"
    grep -qv 'auth=basic' "$g" "$q" 2>/dev/null && \
        hg_fail "$PHASE: a token request without hubgate's credentials: $(grep -hv 'auth=basic' "$g" "$q" | head -n 3)"
    echo "ok: $PHASE: ghcr.io/token saw only the ghcr account ($(wc -l <"$g") requests), quay.io/v2/auth only the quay account ($(wc -l <"$q"))"
    : >"$g"; : >"$q"
}

# no_cdn_in_log: hubgate's log of this phase names no blob/CDN host (no
# tunnel to one, no certificate minted for one).
no_cdn_in_log() {
    local n
    for n in $CDN_NAMES; do
        if hgl_log_new | grep -F "$n" >/dev/null; then
            hgl_show_log 80
            hg_fail "$PHASE: hubgate's log names $n (a tunnel to it, or a certificate for it)"
        fi
    done
}

# --- A. SOCKS5 link
PHASE=A-socks5
CONF_REGISTRIES="docker.io $REGISTRIES" conf "$HG_TMP/a.ini" "$SOCKS" "credentials = $creds"
hgl_hubgate_start "$HG_TMP/a.ini" "$hosts"
hg_dockerd_start || hg_fail "dockerd cannot start here (see its log)"
REG_MARK=$(wc -l <"$HG_LOGS/nginx-reg.access.log")
for img in $IMAGES; do pull "$img"; done
phase_checks "$SOCKS"
creds_checks
no_cdn_in_log

# docker.io by its full name ([intercept] registries = docker.io): its token
# service answers 401 to any Basic credentials but the pusher's, so a pull
# that works also shows the ghcr/quay accounts did not reach auth.docker.io.
pull docker.io/hubgate-reg/app:1
for b in $(awk '$1 == "layer" || $1 == "config" {print $3}' "${SUM[docker.io/hubgate-reg/app:1]}"); do
    hgl_log_new | grep -F " GET registry-1.docker.io /v2/hubgate-reg/app/blobs/$b 200 " | grep -F " link=$SOCKS" >/dev/null \
        || { hgl_show_log 80; hg_fail "$PHASE: no 200 GET of docker.io blob $b on $SOCKS in hubgate's log"; }
done
hgl_log_new | grep -F " GET auth.docker.io /token 200 " >/dev/null || hg_fail "$PHASE: no 200 GET auth.docker.io /token"
echo "ok: $PHASE: docker.io/hubgate-reg/app:1 through the same registries list (blobs followed from production.cloudflare.docker.com)"

# A client that sends its own credentials keeps them: hubgate adds none.
: >"$HG_LOGS/token-ghcr.record"
got=$(hg_skopeo SSL_CERT_FILE="$(hg_client_bundle)" HTTPS_PROXY="http://$HG_PROXY" \
    inspect --raw --creds "$HG_PUSH_USER" docker://ghcr.io/owner/app:1 2>"$HG_LOGS/skopeo-inspect-creds.log" \
    | sha256sum | cut -d' ' -f1)
[ "sha256:$got" = "${WANT[ghcr.io/owner/app:1]}" ] \
    || hg_fail "$PHASE: skopeo --creds through hubgate saw manifest sha256:$got: $(tail -n 2 "$HG_LOGS/skopeo-inspect-creds.log")"
if [ "$(hgl_count "$HG_LOGS/token-ghcr.record" "auth=basic user=${HG_PUSH_USER%%:*} cred=push status=200")" = 0 ] ||
        grep -F "user=$GH_USER" "$HG_LOGS/token-ghcr.record" >/dev/null; then
    hg_fail "$PHASE: a client's own credentials were not passed on as sent: $(head -n 3 "$HG_LOGS/token-ghcr.record" | tr '\n' '|')"
fi
echo "ok: $PHASE: a client sending its own Basic credentials (skopeo --creds) reaches ghcr.io/token with them, not hubgate's account"
: >"$HG_LOGS/token-ghcr.record"

# containerd's ctr, same hubgate
cd_dir=$HG_TMP/containerd
mkdir -p "$cd_dir/root" "$cd_dir/state" "$cd_dir/opt"
cat >"$cd_dir/config.toml" <<EOF2
version = 2
root = "$cd_dir/root"
state = "$cd_dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$cd_dir/containerd.sock"
[ttrpc]
  address = "$cd_dir/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$cd_dir/opt"
EOF2
# shellcheck disable=SC2016
hg_start_raw containerd unshare -m --propagation private sh -c \
    'exec 3<"$1"; shift; exec nsenter --net=/proc/self/fd/3 "$@"' sh "/run/netns/$HG_NS_CLIENT" \
    containerd --config "$cd_dir/config.toml"
for ((i = 0; i < 300; i++)); do
    [ -S "$cd_dir/containerd.sock" ] && timeout 10 ctr -a "$cd_dir/containerd.sock" version >/dev/null 2>&1 && break
    hg_check_alive containerd
    sleep 0.1
done
timeout 10 ctr -a "$cd_dir/containerd.sock" version >/dev/null 2>&1 || hg_fail "containerd did not come up"
t=$(date +%s)
rc=0
hg_client timeout 90 env HTTPS_PROXY="http://$HG_PROXY" SSL_CERT_FILE="$(hg_client_bundle)" \
    ctr -a "$cd_dir/containerd.sock" -n hgtest images pull --snapshotter native \
    registry.k8s.io/pause:3.9 >"$HG_LOGS/ctr-pull.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || { hgl_show_log 80; hg_fail "ctr images pull registry.k8s.io/pause:3.9 exited $rc: $(tail -n 3 "$HG_LOGS/ctr-pull.log" | tr '\n' ' ')"; }
got=$(timeout 20 ctr -a "$cd_dir/containerd.sock" -n hgtest images ls | awk '$1 == "registry.k8s.io/pause:3.9" {print $3}')
[ "$got" = "${WANT[registry.k8s.io/pause:3.9]}" ] \
    || hg_fail "ctr: registry.k8s.io/pause:3.9 has digest '$got', pushed ${WANT[registry.k8s.io/pause:3.9]}"
echo "ok: $PHASE: ctr images pull registry.k8s.io/pause:3.9 exit 0 in $(( $(date +%s) - t ))s, digest $got"
hg_stop containerd TERM 10
no_cdn_in_log

# --- B. per-host relays
PHASE=B-relay
for img in $IMAGES; do hg_docker_timeout 30 rmi "$img" >/dev/null || hg_fail "docker rmi $img"; done
conf "$HG_TMP/b.ini" relay "credentials = $creds" "[relay]" \
    "ghcr.io = https://ghcr.relay.test" "quay.io = https://quay.relay.test" \
    "registry.k8s.io = https://k8s.relay.test" "mcr.microsoft.com = https://mcr.relay.test"
relay_mark=$(wc -l <"$HG_LOGS/nginx-regrelay.access.log")
hgl_hubgate_restart "$HG_TMP/b.ini" "$hosts"
for img in $IMAGES; do pull "$img"; done
phase_checks relay
creds_checks
no_cdn_in_log
for n in $RELAY_NAMES; do
    tail -n "+$((relay_mark + 1))" "$HG_LOGS/nginx-regrelay.access.log" | grep -F "sni=$n " | grep -E '" 200 ' >/dev/null \
        || hg_fail "$PHASE: relay $n carried nothing"
done
echo "ok: $PHASE: all four relays carried their registry's pull"
# hubgate's other outputs: /metrics and the status page hold no secret.
hgl_curl -o "$HG_TMP/metrics.txt" "http://127.0.0.1:3129/metrics" || hg_fail "cannot read hubgate's /metrics"
hgl_curl -o "$HG_TMP/admin.html" "http://127.0.0.1:3129/" || hg_fail "cannot read hubgate's status page"
if [ ! -s "$HG_TMP/metrics.txt" ] || [ ! -s "$HG_TMP/admin.html" ]; then
    hg_fail "hubgate's /metrics or status page is empty"
fi
for f in "$HG_TMP/metrics.txt" "$HG_TMP/admin.html"; do
    for s in "${SECRETS[@]}"; do
        if grep -F -- "$s" "$f" >/dev/null; then
            hg_fail "a secret (credential, its base64, or the CDN signature) appears in hubgate's $(basename "$f")"
        fi
    done
done
echo "ok: $PHASE: no credential or CDN signature in hubgate's /metrics or status page"

# --- C. no credentials file: the private image is refused
PHASE=C-nocreds
conf "$HG_TMP/c.ini" "$SOCKS"
hgl_hubgate_restart "$HG_TMP/c.ini" "$hosts"
if hg_docker_timeout 60 pull ghcr.io/owner/private:1 >"$HG_LOGS/pull.private.nocreds.log" 2>&1; then
    hg_fail "$PHASE: ghcr.io/owner/private:1 pulled without credentials: the token service does not protect it"
fi
grep -q 'auth=basic' "$HG_LOGS/token-ghcr.record" && hg_fail "$PHASE: Basic credentials sent without a credentials file"
grep -q 'scope=repository:owner/private:pull' "$HG_LOGS/token-ghcr.record" \
    || hg_fail "$PHASE: the ghcr token service saw no request for owner/private"
echo "ok: $PHASE: without [upstream] credentials the private pull fails ($(tail -n1 "$HG_LOGS/pull.private.nocreds.log" | cut -c1-90))"

# --- D. a one-name relay (relay:https://HOST) relays Docker Hub only: a
# ghcr.io request never goes there (it would fetch Docker Hub's image of the
# same name, and take the ghcr account along); alone, the config is refused.
PHASE=D-hubrelay
conf "$HG_TMP/d-bad.ini" "relay:https://ghcr.relay.test" "credentials = $creds"
rc=0
out=$(hg_client "$HUBGATE" -t -c "$HG_TMP/d-bad.ini" 2>&1) || rc=$?
case "$rc:$out" in
    "2:"*"[upstream] via: no link can carry ghcr.io: a relay:https://HOST link relays Docker Hub only"*) ;;
    *) hg_fail "$PHASE: hubgate -t with only a one-name relay and ghcr.io intercepted: rc $rc: $out" ;;
esac
echo "ok: $PHASE: hubgate -t refuses a one-name relay as the only link for ghcr.io: ${out#*: }"
conf "$HG_TMP/d.ini" "relay:https://ghcr.relay.test, $SOCKS" "credentials = $creds"
relay_mark=$(wc -l <"$HG_LOGS/nginx-regrelay.access.log")
hgl_hubgate_restart "$HG_TMP/d.ini" "$hosts"
for img in ghcr.io/owner/app:1 ghcr.io/owner/private:1; do
    hg_docker_timeout 30 rmi "$img" >/dev/null || hg_fail "docker rmi $img"
    pull "$img"
done
seen=$(tail -n "+$((relay_mark + 1))" "$HG_LOGS/nginx-regrelay.access.log")
[ -z "$seen" ] || hg_fail "$PHASE: ghcr.io requests went to the Docker Hub relay: $seen"
bad=$(hgl_log_new | grep ' access ' | grep -vF " link=$SOCKS " || true)
[ -z "$bad" ] || hg_fail "$PHASE: requests not on $SOCKS: $bad"
hgl_log_new | grep -F 'failing over' && hg_fail "$PHASE: the relay link was tried for ghcr.io"
echo "ok: $PHASE: ghcr.io pulls (public, private) went over $SOCKS only; the one-name relay saw nothing"

# --- the log check can fail: a tunnel to a CDN host does show
hgl_curl -o /dev/null --proxy "http://$HG_PROXY" --cacert "$HG_TMP/pki/ca.crt" https://cdn01.quay.io/ || true
hgl_log_new | grep -F cdn01.quay.io >/dev/null \
    || hg_fail "a CONNECT to cdn01.quay.io leaves no trace in hubgate's log, so the CDN checks prove nothing"
echo "ok: (a tunnel to a CDN host does show in hubgate's log: $(hgl_log_new | grep -F -m1 cdn01.quay.io | cut -c25-150))"

hubgate_stop
for s in "${SECRETS[@]}"; do
    if grep -F -- "$s" "$HG_LOGS/hubgate.log" >/dev/null; then
        hg_fail "a secret (credential, its base64, or the CDN signature) appears in hubgate's log"
    fi
done
echo "ok: no credential, base64 of one, or CDN signature in hubgate's log ($(wc -l <"$HG_LOGS/hubgate.log") lines)"
hg_log "t_33_registries: ok in $(( $(date +%s) - T0 ))s"
