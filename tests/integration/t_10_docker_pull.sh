#!/bin/bash
# t_10_docker_pull — a stock dockerd pulls from the Docker Hub stand-in
# through hubgate (HTTPS_PROXY=127.0.0.1:3128, trusting only hubgate's CA):
#   1. hello-world (short name): a multi-arch OCI index, linux/amd64 + arm64;
#   2. bitnami/postgresql:16: a namespaced Docker schema2 image;
#   3. hubgate-test/multilayer:1: 3 layers, one of 32 MiB of random bytes.
# For each, the RepoDigest docker records must be the registry's own manifest
# digest and the layers docker unpacked must be the ones pushed; hubgate's log
# must show the requests to all three Docker Hub hosts, blobs included.
# HUBGATE_DIRECT=1 runs the same pulls with no hubgate (baseline).
# HG_CLIENT=skopeo pulls with skopeo instead of dockerd (also the fallback
# when dockerd cannot start on the machine).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
hg_init t_10_docker_pull

hg_topology_up
hg_hub_up
hg_hub_check

# --- images, pushed straight to the stand-in
case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64/v8 ;;
    *) hg_skip "no test image for $(uname -m)" ;;
esac
hg_make_image hello --ref latest --platform linux/amd64 --platform linux/arm64/v8 \
    --layer 'text:hello:Hello from the Docker Hub stand-in of hubgate tests'
hg_make_image postgres --ref 16 --platform "linux/$arch" --cmd /usr/local/bin/postgres \
    --layer 'text:etc/os-release:PRETTY_NAME=stand-in' \
    --layer 'text:usr/local/bin/postgres:postgres stand-in'
hg_make_image multi --ref 1 --platform "linux/$arch" --cmd /app/run \
    --layer 'text:etc/base.txt:base layer' \
    --layer 'random:data/big.bin:33554432' \
    --layer 'text:app/run:multilayer app'

# name:tag  oci-dir  oci-ref  extra skopeo args
images=(
    "library/hello-world:latest hello latest --all"
    "bitnami/postgresql:16 postgres 16 --format=v2s2"
    "hubgate-test/multilayer:1 multi 1 --format=oci"
)
declare -A want_digest=()
t0=$(date +%s)
for spec in "${images[@]}"; do
    read -r dest dir ref extra <<<"$spec"
    pushed=$(hg_push "$HG_TMP/oci/$dir" "$ref" "$dest" "$extra")
    reg=$(hg_registry_digest "${dest%:*}" "${dest##*:}") \
        || hg_fail "registry has no manifest for $dest"
    [ "$pushed" = "$reg" ] || hg_fail "$dest: skopeo pushed $pushed, registry says $reg"
    want_digest[$dest]=$reg
    hg_log "pushed $dest: $reg"
done
hg_log "pushes took $(( $(date +%s) - t0 ))s"
big_layer=$(awk '$1 == "layer" {print $5, $3}' "$HG_TMP/oci/multi.sum" | sort -n | tail -n1 | cut -d' ' -f2)
hg_check_blob_redirect hubgate-test/multilayer "$big_layer"

# --- the client: hubgate (unless direct), then dockerd (or skopeo)
if [ "$HUBGATE_DIRECT" != 1 ]; then
    hubgate_config "$HG_TMP/hubgate.ini"
    hubgate_start "$HG_TMP/hubgate.ini"
fi

# platform_layers SUMMARY FIELD: the layers' FIELD (3 = blob digest,
# 4 = diff_id) of this machine's platform, one a line.
platform_layers() {
    awk -v p="linux/$arch" -v f="$2" '$1 == "layer" && $2 == p {print $f}' "$1"
}

# docker_pull_check IMAGE DEST SUMMARY: docker pull IMAGE (the name a user
# types); RepoDigests must hold the registry's digest of DEST, RootFS.Layers
# the diff_ids pushed for this platform.
docker_pull_check() {
    local image=$1 dest=$2 sum=$3 t got want=${want_digest[$2]}
    local log=$HG_LOGS/pull.${image//[\/:]/_}.log
    t=$(date +%s)
    hg_docker_timeout 60 pull "$image" >"$log" 2>&1 || hg_fail "docker pull $image failed (see $(basename "$log"))"
    hg_log "docker pull $image: ok in $(( $(date +%s) - t ))s"
    got=$(hg_docker image inspect -f '{{json .RepoDigests}}' "$image") || hg_fail "docker has no image $image"
    case $got in
        *"@$want\""*) ;;
        *) hg_fail "$image: RepoDigests $got, but the registry's digest of $dest is $want" ;;
    esac
    got=$(hg_docker image inspect -f '{{range .RootFS.Layers}}{{println .}}{{end}}' "$image" | sed '/^$/d')
    [ "$got" = "$(platform_layers "$sum" 4)" ] \
        || hg_fail "$image: docker unpacked layers [$got], pushed [$(platform_layers "$sum" 4)]"
    hg_log "$image: RepoDigest $want, $(printf '%s\n' "$got" | wc -l) layer(s) as pushed"
}

# skopeo_pull_check IMAGE DEST SUMMARY: the fallback client (HG_CLIENT=skopeo,
# or when dockerd cannot run here):
# skopeo through hubgate; the manifest it sees must have the registry's digest
# and the blobs it copies the pushed digests.
skopeo_pull_check() {
    local image=$1 dest=$2 sum=$3 t got want=${want_digest[$2]} out penv=()
    out=$HG_TMP/pulled/${image//[\/:]/_}
    if [ "$HUBGATE_DIRECT" != 1 ]; then
        penv=(HTTPS_PROXY="http://$HG_PROXY" HTTP_PROXY="http://$HG_PROXY" SSL_CERT_FILE="$(hg_client_bundle)")
    fi
    t=$(date +%s)
    mkdir -p "$out"
    HG_SKOPEO_TIMEOUT=30 hg_skopeo "${penv[@]}" inspect --raw --no-creds "docker://docker.io/$dest" \
        >"$out.manifest" 2>"$HG_LOGS/inspect.${image//[\/:]/_}.log" || hg_fail "skopeo inspect $dest failed"
    got=$(sha256sum <"$out.manifest" | cut -d' ' -f1)
    [ "sha256:$got" = "$want" ] || hg_fail "$image: skopeo saw manifest sha256:$got, registry has $want"
    HG_SKOPEO_TIMEOUT=60 hg_skopeo "${penv[@]}" copy --src-no-creds "docker://docker.io/$dest" "dir:$out" \
        >"$HG_LOGS/pull.${image//[\/:]/_}.log" 2>&1 || hg_fail "skopeo copy $dest failed"
    for got in $(platform_layers "$sum" 3); do
        [ "$(sha256sum <"$out/${got#sha256:}" | cut -d' ' -f1)" = "${got#sha256:}" ] \
            || hg_fail "$image: skopeo did not copy layer $got intact"
    done
    hg_log "skopeo copy $dest: manifest $want and layers ok in $(( $(date +%s) - t ))s"
}

pulls=(
    "hello-world library/hello-world:latest hello"
    "bitnami/postgresql:16 bitnami/postgresql:16 postgres"
    "hubgate-test/multilayer:1 hubgate-test/multilayer:1 multi"
)
client=${HG_CLIENT:-docker}
case $client in docker|skopeo) ;; *) hg_fail "HG_CLIENT=$client: want docker or skopeo" ;; esac
if [ "$client" = docker ] && ! hg_dockerd_start; then
    echo "WARNING: dockerd cannot run on this machine (its log is above);" \
         "falling back to skopeo as the registry client" >&2
    client=skopeo
fi
[ "$client" = skopeo ] || [ "$HUBGATE_DIRECT" = 1 ] \
    || hg_log "docker info: $(hg_docker info -f 'HTTPS proxy {{.HTTPSProxy}}')"
for p in "${pulls[@]}"; do
    read -r image dest sum <<<"$p"
    "${client}_pull_check" "$image" "$dest" "$HG_TMP/oci/$sum.sum"
done

[ "$HUBGATE_DIRECT" = 1 ] && { hg_log "direct mode: pulls ok without hubgate"; exit 0; }

# --- the requests went through hubgate, intercepted: its log has a line per
# request, naming method, host, path and status. A blob GET either shows the
# registry's 307 and then the blob host's 200 (hubgate relays the redirect),
# or a 200 from the registry (hubgate follows the redirect itself); either
# way nginx must have served every blob, whole, from the blob host to a
# request hubgate made for the pulling client (not curl, whose only blob
# fetch was the direct check above).
missing=0
miss() { echo "hubgate log: $*" >&2; missing=$((missing + 1)); }
need() { hubgate_log_has "$@" || miss "no request line '$*'"; }
need GET registry-1.docker.io /v2/ 401
need GET auth.docker.io /token 200     # the scope is in the query, which a log may omit
followed=0 relayed=0
for p in "${pulls[@]}"; do
    read -r image dest sum <<<"$p"
    repo=${dest%:*}
    need GET registry-1.docker.io "/v2/$repo/manifests/" 200
    while read -r blob size; do
        hex=${blob#sha256:}
        if hubgate_log_has GET registry-1.docker.io "/v2/$repo/blobs/$blob" 307; then
            need GET production.cloudflare.docker.com "/$hex/data" 200
            relayed=$((relayed + 1))
        elif hubgate_log_has GET registry-1.docker.io "/v2/$repo/blobs/$blob" 200; then
            followed=$((followed + 1))
        else
            miss "no 'GET registry-1.docker.io /v2/$repo/blobs/$blob' line with 307 or 200"
        fi
        # A large blob comes in segments ([upstream] segments): 206 answers
        # to Range requests, and the first connection's 200 cut short.
        answer="200 $size"
        if grep -F "/v2/$repo/blobs/$blob " "$HG_LOGS/hubgate.log" | grep -F ' access ' \
                | grep -E " segments=[2-9]" >/dev/null; then
            answer="206 [0-9]+"
        fi
        grep -E "^$HG_CLIENT_IP sni=production.cloudflare.docker.com .*\"GET /docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data HTTP/[0-9.]+\" $answer ua=" \
                "$HG_LOGS/nginx.access.log" | grep -v 'ua="curl/' >/dev/null \
            || miss "nginx did not serve $blob ($size bytes) from the blob host for the pull ($answer)"
    done < <(awk -v p="linux/$arch" '($1 == "layer" || $1 == "config") && $2 == p {print $3, $NF}' \
                 "$HG_TMP/oci/$sum.sum")
done
if [ "$missing" != 0 ]; then
    echo "---- hubgate.log ($(wc -l <"$HG_LOGS/hubgate.log") lines), first 60:"
    head -n 60 "$HG_LOGS/hubgate.log"
    hg_fail "$missing request(s) missing from hubgate's log or nginx's"
fi
hg_log "hubgate's log shows the token, manifest and blob requests of all pulls" \
       "(blob redirects: $relayed relayed to the client, $followed followed by hubgate)"

# verify_digest = auto with only the direct link: the TLS to the registry is
# verified end to end, so hubgate leaves the digest check to the client and
# does not hash the blobs (t_31 shows the check with a relay, t_42 with
# verify_digest = always).
blobs=$(grep -c ' access .* GET registry-1.docker.io /v2/.*/blobs/sha256:.* 200 ' "$HG_LOGS/hubgate.log" || true)
hashed=$(grep ' access .* GET registry-1.docker.io /v2/.*/blobs/sha256:.* 200 ' "$HG_LOGS/hubgate.log" \
    | grep -vcE ' verified=no( segments=[0-9]+)?$' || true)
[ "$blobs" -gt 0 ] && [ "$hashed" = 0 ] \
    || hg_fail "verify_digest = auto, direct link: want every blob line to end 'verified=no' (then segments=N for a segmented one); $blobs blob line(s), $hashed other(s)"
hg_log "verify_digest = auto, direct link: $blobs blob GET(s), none hashed by hubgate"

hubgate_stop
