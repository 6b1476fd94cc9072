# shellcheck shell=bash
# services.sh — the benchmark's origin, PKI, hubgate and peers. Sourced by
# bench/run.sh after tests/integration/lib.sh (whose topology, hg_start,
# hg_stop, hg_wait_port and cleanup it reuses).
#
#   netns client hgc-ID 198.51.100.1            netns hub hgh-ID
#     hubgate   127.0.0.1:3128                    198.51.100.4:443  origin nginx (TLS,
#     mitmdump  127.0.0.1:3140                      origin.test *.origin.test tunnel.test)
#     squid     127.0.0.1:3141                    198.51.100.4:9000 hgbench sink (idle
#     tinyproxy 127.0.0.1:3142                      tunnel target)
#     nginx reverse proxy 127.0.0.1:8443/8444     198.51.100.2/.3  lib.sh's Docker Hub
#     socat     127.0.0.1:3143 (TCP relay)          stand-in (BENCH_DOCKER=1 only)
#     shaper    127.0.0.1:3144 (SOCKS5, per-connection rate; BENCH_SHAPED=1)
#     hubgate-s1/s2/s4 127.0.0.1:3145-3147 (via the shaper, segments 1/2/4)
#     curl, hgbench, dockerd

ORIGIN_IP=198.51.100.4
SINK_PORT=9000
INT_HOST=origin.test       # intercepted by hubgate, bumped by squid
PASS_HOST=tunnel.test      # tunnelled by hubgate, spliced by squid
SOCAT_PORT=3143            # socat: a plain TCP relay to the origin's :443
SHAPER_PORT=3144           # tests/integration/links/shaper.py
declare -A SEG_PORT=([1]=3145 [2]=3146 [4]=3147)   # hubgate-sN: segments = N
SHAPED_HEX="" SHAPED_BYTES=0
MANIFEST_PATH=/v2/bench/manifests/latest
SMALL_BYTES=32768
TESTCA=""                  # the test "internet" CA (origin certificates)
PEERCA=""                  # the interception CA of mitmproxy and squid
HGCA=""                    # hubgate's own CA (made by hubgate at start)
BLOB_HEX="" SMALL_HEX="" BLOB_BYTES=0
LEAF_NAMES=()

# bench_pki: the test internet CA (lib.sh's hub makes it when BENCH_DOCKER=1),
# one origin certificate for every benchmark name, the peers' CA.
bench_pki() {
    local p=$HG_TMP/pki n san="DNS:$INT_HOST,DNS:*.$INT_HOST,DNS:$PASS_HOST"
    [ -s "$p/ca.crt" ] || "$HG_TOP/tests/pki/gen.sh" "$p" "$INT_HOST"
    TESTCA=$p/ca.crt
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$p/bench-origin.key" -out "$p/bench-origin.csr" \
        -subj "/O=hubgate bench/CN=$INT_HOST" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=$san" >"$p/bench-origin.ext"
    openssl x509 -req -in "$p/bench-origin.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days 2 -sha256 \
        -extfile "$p/bench-origin.ext" -out "$p/bench-origin.crt" 2>/dev/null
    # RSA, as both peers' documentation shows; leaves are minted by each tool.
    n=$HG_TMP/peerca
    mkdir -p "$n/mitm"
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$n/ca.key" -out "$n/ca.crt" \
        -days 2 -sha256 -subj "/O=hubgate bench/CN=bench peer interception CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    cat "$n/ca.key" "$n/ca.crt" >"$n/mitm/mitmproxy-ca.pem"
    cp "$n/ca.crt" "$n/mitm/mitmproxy-ca-cert.pem"
    PEERCA=$n/ca.crt
}

# bench_names: the origin's address in the hub namespace and its names in the
# client namespace's hosts file (one a line).
bench_names() {
    local i
    ip -n "$HG_NS_HUB" addr add "$ORIGIN_IP/24" dev "hgh$HG_ID"
    # Case 5 opens 4 x 8,000 tunnels to one sink address a round; the
    # proxies close first, so their ports sit in TIME_WAIT: without these
    # (per-namespace) settings the last subject's connect()s crawl through an
    # exhausted port range. The services' own ports are kept out of it: a
    # service restarted (case 5) or started late (the profile's second
    # hubgate) found its port taken by a client socket.
    ip netns exec "$HG_NS_CLIENT" sysctl -q -w net.ipv4.ip_local_port_range="10000 65535" \
        net.ipv4.ip_local_reserved_ports="3128-3150,8443-8444,9000" net.ipv4.tcp_tw_reuse=1
    for ((i = 1; i <= BENCH_LEAVES; i++)); do LEAF_NAMES+=("$(printf 'leaf-%02d.%s' "$i" "$INT_HOST")"); done
    for i in "$INT_HOST" "$PASS_HOST" "${LEAF_NAMES[@]}"; do
        echo "$ORIGIN_IP $i"
    done >>"/etc/netns/$HG_NS_CLIENT/hosts"
}

# bench_content: the blob (random, named by its digest as a registry would
# serve it), a 32 KiB small blob, a ~2 KB manifest.
bench_content() {
    local w=$HG_TMP/www f i
    mkdir -p "$w/blobs" "$w/manifests"
    f=$w/blob.tmp
    head -c "$((BLOB_MIB * 1048576))" /dev/urandom >"$f"
    BLOB_HEX=$(sha256sum "$f" | cut -d' ' -f1)
    BLOB_BYTES=$((BLOB_MIB * 1048576))
    mv "$f" "$w/blobs/sha256:$BLOB_HEX"
    head -c "$SMALL_BYTES" /dev/urandom >"$f"
    SMALL_HEX=$(sha256sum "$f" | cut -d' ' -f1)
    mv "$f" "$w/blobs/sha256:$SMALL_HEX"
    if [ "$BENCH_SHAPED" = 1 ]; then
        head -c "$((SHAPED_MIB * 1048576))" /dev/urandom >"$f"
        SHAPED_HEX=$(sha256sum "$f" | cut -d' ' -f1)
        SHAPED_BYTES=$((SHAPED_MIB * 1048576))
        mv "$f" "$w/blobs/sha256:$SHAPED_HEX"
    fi
    {
        printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        printf '"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"sha256:%s"},"layers":[' "$SMALL_HEX"
        for i in $(seq 1 9); do
            [ "$i" = 1 ] || printf ','
            printf '{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"sha256:%s"}' \
                "$((i * 1048576 + i))" "$(printf '%s%d' "$BLOB_HEX" "$i" | sha256sum | cut -d' ' -f1)"
        done
        printf '],"annotations":{"org.opencontainers.image.description":"hubgate bench manifest"}}\n'
    } >"$w/manifests/latest"
}

# bench_origin_up: nginx in the hub namespace (TLS, HTTP/1.1 only, so every
# path compares like with like), and the idle-tunnel sink.
bench_origin_up() {
    local w=$HG_TMP/www c=$HG_TMP/origin.conf
    cat >"$c" <<EOF
user root;
worker_processes 2;
worker_rlimit_nofile 20000;
daemon off;
pid $HG_RUN/origin.pid;
error_log $HG_LOGS/origin.error.log warn;
events { worker_connections 10000; }
http {
    access_log off;
    client_body_temp_path $HG_RUN/origin-body;
    proxy_temp_path $HG_RUN/origin-proxy;
    fastcgi_temp_path $HG_RUN/origin-fastcgi;
    uwsgi_temp_path $HG_RUN/origin-uwsgi;
    scgi_temp_path $HG_RUN/origin-scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen $ORIGIN_IP:443 ssl default_server;
        server_name $INT_HOST *.$INT_HOST $PASS_HOST;
        ssl_certificate $HG_TMP/pki/bench-origin.crt;
        ssl_certificate_key $HG_TMP/pki/bench-origin.key;
        location /v2/bench/blobs/ { alias $w/blobs/; }
        location /v2/bench/manifests/ {
            alias $w/manifests/;
            default_type application/vnd.docker.distribution.manifest.v2+json;
        }
        location / { return 404; }
    }
}
EOF
    hg_hub nginx -t -q -e "$HG_LOGS/origin.error.log" -c "$c" >"$HG_LOGS/origin-t.log" 2>&1 \
        || hg_fail "nginx -t rejects $c: $(head -c 2000 "$HG_LOGS/origin-t.log")"
    hg_start origin "$HG_NS_HUB" nginx -e "$HG_LOGS/origin.error.log" -c "$c"
    hg_start sink "$HG_NS_HUB" "$HGBENCH" sink --listen "$ORIGIN_IP:$SINK_PORT" --hold 86400
    hg_wait_port "$HG_NS_HUB" "$ORIGIN_IP" 443 origin
    hg_wait_port "$HG_NS_HUB" "$ORIGIN_IP" "$SINK_PORT" sink
}

# bench_hubgate_up: hubgate on 127.0.0.1:3128 in the client namespace,
# intercepting origin.test, the leaf-NN names and (for the docker case) the
# Docker Hub hosts, verifying origins with the test CA.
bench_hubgate_up() {
    local c=$HG_TMP/hubgate.ini h
    {
        printf '[proxy]\nlisten = %s\nallow = 127.0.0.0/8\n' "$HG_PROXY"
        printf 'max_connections = 20000\nidle_timeout = 600s\n'
        printf '[ca]\ndir = %s\n[intercept]\nhosts = %s\n' "$HG_TMP/hubgate-ca" "$INT_HOST"
        for h in "${LEAF_NAMES[@]}"; do printf 'hosts = %s\n' "$h"; done
        [ "$BENCH_DOCKER" != 1 ] || printf 'hosts = %s\n' "$HG_HUB_HOSTS"
        printf '[upstream]\nvia = direct\nca_file = %s\n[dns]\nservers =\n' "$TESTCA"
        [ -z "${BENCH_HG_EXTRA:-}" ] || printf '%b\n' "$BENCH_HG_EXTRA"
    } >"$c"
    hubgate_start "$c"
    HGCA=$HG_HUBGATE_CA_DIR/ca.crt
    # hubgate-dg: the same binary, CA and config but verify_digest = always,
    # so case 1 also measures the blob path with hubgate's SHA-256 check
    # (the default, auto, checks only when a relay is among the links).
    sed -e "s|^listen = .*|listen = $HG_PROXY_DG|" "$c" >"$HG_TMP/hubgate-dg.ini"
    printf '[intercept]\nverify_digest = always\n[admin]\nlisten = 127.0.0.1:3136\n' \
        >>"$HG_TMP/hubgate-dg.ini"
    svc_start hubgate-dg
    # hubgate-cache: the same with a blob cache; the blob is fetched once
    # (bench_cache_warm), then every case 1 transfer through it is a hit.
    sed -e "s|^listen = .*|listen = $HG_PROXY_CACHE|" "$c" >"$HG_TMP/hubgate-cache.ini"
    printf '[admin]\nlisten = 127.0.0.1:3138\n[cache]\ndir = %s\nmax_size = 4GiB\n' \
        "$HG_TMP/hgcache" >>"$HG_TMP/hubgate-cache.ini"
    svc_start hubgate-cache
}

# bench_peers_up: mitmdump, squid (bump origin names, splice the rest),
# tinyproxy (tunnels), nginx reverse proxy with default and tuned buffers.
bench_peers_up() {
    peer_config
    svc_start mitmproxy
    svc_start squid
    svc_start tinyproxy
    svc_start rp
    svc_start socat
}

# bench_shaped_up: the shaping SOCKS5 server (every connection capped at
# SHAPED_RATE) and three more hubgates whose link is that server, with
# [upstream] segments = 1, 2 and 4; one small GET through each to warm it.
bench_shaped_up() {
    local n c out
    svc_start shaper
    for n in "${!SEG_PORT[@]}"; do
        c=$HG_TMP/hubgate-s$n.ini
        sed -e "s|^listen = .*|listen = 127.0.0.1:${SEG_PORT[$n]}|" \
            -e "s|^via = direct|via = socks5://127.0.0.1:$SHAPER_PORT|" "$HG_TMP/hubgate.ini" >"$c"
        printf '[upstream]\nsegments = %s\n[admin]\nlisten =\n' "$n" >>"$c"
        out=$(hg_client "$HUBGATE" -t -c "$c" 2>&1) || hg_fail "hubgate -t -c $c: $out"
        svc_start "hubgate-s$n"
        out=$(shaped_curl "hubgate-s$n" "/v2/bench/blobs/sha256:$SMALL_HEX" 30 2>&1) \
            || hg_fail "warm-up through hubgate-s$n failed: $out"
        [ "${out%% *}" = 200 ] || hg_fail "warm-up through hubgate-s$n: HTTP $out"
    done
    bench_log "shaped link: $SHAPED_RATE per connection, hubgate-s1/s2/s4 answer 200"
}

# shaped_curl SUBJECT PATH MAXTIME: curl of origin.test's PATH through the
# shaper alone (SUBJECT shaper: SOCKS5, the name resolved by the shaper) or
# through hubgate-sN; prints the subj_curl -w line.
shaped_curl() {
    local s=$1 path=$2 tmo=$3 a
    case $s in
        shaper) a=(--cacert "$TESTCA" --socks5-hostname "127.0.0.1:$SHAPER_PORT") ;;
        hubgate-s*) a=(--cacert "$HGCA" --proxy "http://127.0.0.1:${SEG_PORT[${s#hubgate-s}]}") ;;
        *) hg_fail "shaped_curl: unknown subject $s" ;;
    esac
    hg_client curl -sS --http1.1 --max-time "$tmo" "${a[@]}" -o /dev/null \
        -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer} %{time_appconnect}\n' \
        "https://$INT_HOST$path"
}

# peer_config: the peers' configuration files and Squid's certificate store.
peer_config() {
    local d=$HG_TMP/squid t=$HG_TMP/tinyproxy.conf r=$HG_TMP/rp.conf srv port
    mkdir -p "$d"
    install -m 600 "$HG_TMP/peerca/ca.key" "$d/ca.key"
    cp "$HG_TMP/peerca/ca.crt" "$d/ca.crt"
    /usr/lib/squid/security_file_certgen -c -s "$d/ssl_db" -M 16MB >"$HG_LOGS/certgen.log" 2>&1
    cat >"$d/squid.conf" <<EOF
http_port 127.0.0.1:3141 ssl-bump tls-cert=$d/ca.crt tls-key=$d/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program /usr/lib/squid/security_file_certgen -s $d/ssl_db -M 16MB
sslcrtd_children 5 startup=1 idle=1
acl step1 at_step SslBump1
acl bumphost ssl::server_name .$INT_HOST
ssl_bump peek step1
ssl_bump bump bumphost
ssl_bump splice all
tls_outgoing_options cafile=$TESTCA
http_access allow localhost
http_access deny all
cache deny all
cache_mem 0 MB
max_filedescriptors 20000
workers 1
visible_hostname hubgate-bench
pid_filename $d/squid.pid
cache_log $d/cache.log
access_log none
cache_store_log none
logfile_rotate 0
netdb_filename none
coredump_dir $d
shutdown_lifetime 1 seconds
client_persistent_connections on
server_persistent_connections on
EOF
    chown -R proxy:proxy "$d"
    hg_client squid -k parse -f "$d/squid.conf" >"$HG_LOGS/squid-parse.log" 2>&1 \
        || hg_fail "squid rejects $d/squid.conf: $(tail -n 5 "$HG_LOGS/squid-parse.log")"
    cat >"$t" <<EOF
Port 3142
Listen 127.0.0.1
Timeout 600
MaxClients 10000
Allow 127.0.0.1
ConnectPort 443
ConnectPort $SINK_PORT
LogLevel Error
PidFile "$HG_RUN/tinyproxy.pid"
EOF
    {
        cat <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $HG_RUN/rp.pid;
error_log $HG_LOGS/rp.error.log warn;
events { worker_connections 10000; }
http {
    access_log off;
    client_body_temp_path $HG_RUN/rp-body;
    proxy_temp_path $HG_RUN/rp-proxy;
    fastcgi_temp_path $HG_RUN/rp-fastcgi;
    uwsgi_temp_path $HG_RUN/rp-uwsgi;
    scgi_temp_path $HG_RUN/rp-scgi;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    upstream origin {
        server $ORIGIN_IP:443;
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
EOF
        for srv in "8443 default" "8444 tuned"; do
            read -r port srv <<<"$srv"
            cat <<EOF
    server {
        listen 127.0.0.1:$port ssl;
        server_name $INT_HOST;
        ssl_certificate $HG_TMP/pki/bench-origin.crt;
        ssl_certificate_key $HG_TMP/pki/bench-origin.key;
        $([ "$srv" = tuned ] && echo "proxy_buffers 8 256k;")
        location / {
            proxy_pass https://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $INT_HOST;
            proxy_ssl_server_name on;
            proxy_ssl_name $INT_HOST;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $TESTCA;
            proxy_ssl_session_reuse on;
        }
    }
EOF
        done
        # nginx serving the blob file itself, from disk over TLS: what a
        # cache hit is measured against
        cat <<EOF
    server {
        listen 127.0.0.1:8445 ssl;
        server_name $INT_HOST;
        ssl_certificate $HG_TMP/pki/bench-origin.crt;
        ssl_certificate_key $HG_TMP/pki/bench-origin.key;
        default_type application/octet-stream;
        sendfile on;
        location /v2/bench/blobs/ { alias $HG_TMP/www/blobs/; }
        location / { return 404; }
    }
EOF
        echo "}"
    } >"$r"
    hg_client nginx -t -q -e "$HG_LOGS/rp.error.log" -c "$r" >"$HG_LOGS/rp-t.log" 2>&1 \
        || hg_fail "nginx -t rejects $r: $(head -c 2000 "$HG_LOGS/rp-t.log")"
}

# svc_start NAME: starts a service (hubgate or a peer) and waits for its
# ports.
svc_start() {
    case $1 in
        hubgate)
            hubgate_start "$HG_TMP/hubgate.ini" >/dev/null ;;
        hubgate-dg)
            hg_start hubgate-dg "$HG_NS_CLIENT" "$HUBGATE" -c "$HG_TMP/hubgate-dg.ini"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 "${HG_PROXY_DG##*:}" hubgate-dg 15 ;;
        hubgate-cache)
            hg_start hubgate-cache "$HG_NS_CLIENT" "$HUBGATE" -c "$HG_TMP/hubgate-cache.ini"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 "${HG_PROXY_CACHE##*:}" hubgate-cache 15 ;;
        mitmproxy)
            hg_start mitmproxy "$HG_NS_CLIENT" mitmdump --listen-host 127.0.0.1 --listen-port 3140 \
                --set confdir="$HG_TMP/peerca/mitm" --set stream_large_bodies=1m \
                --set ssl_verify_upstream_trusted_ca="$TESTCA" --set flow_detail=0 \
                --set termlog_verbosity=warn --ignore-hosts "^${PASS_HOST//./\\.}$"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3140 mitmproxy 60 ;;
        squid)
            hg_start squid "$HG_NS_CLIENT" squid -N -f "$HG_TMP/squid/squid.conf"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3141 squid 30 ;;
        tinyproxy)
            hg_start tinyproxy "$HG_NS_CLIENT" tinyproxy -d -c "$HG_TMP/tinyproxy.conf"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 3142 tinyproxy ;;
        socat)
            # socat's defaults (8 KiB buffer, read/write, a process per
            # connection): the plain TCP relay a tunnel is measured against.
            hg_start socat "$HG_NS_CLIENT" socat \
                "TCP-LISTEN:$SOCAT_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:$ORIGIN_IP:443"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 "$SOCAT_PORT" socat ;;
        shaper)
            hg_start shaper "$HG_NS_CLIENT" /usr/bin/python3 \
                "$HG_TOP/tests/integration/links/shaper.py" --listen "127.0.0.1:$SHAPER_PORT" \
                --rate "$SHAPED_RATE" --log "$HG_LOGS/shaper.conns"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 "$SHAPER_PORT" shaper 30 ;;
        hubgate-s[0-9]*)
            hg_start "$1" "$HG_NS_CLIENT" "$HUBGATE" -c "$HG_TMP/$1.ini"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 "${SEG_PORT[${1#hubgate-s}]}" "$1" 15 ;;
        rp)
            hg_start rp "$HG_NS_CLIENT" nginx -e "$HG_LOGS/rp.error.log" -c "$HG_TMP/rp.conf"
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 8443 rp
            hg_wait_port "$HG_NS_CLIENT" 127.0.0.1 8444 rp ;;
        *) hg_fail "svc_start: unknown service $1" ;;
    esac
}

# svc_restart NAME: stops the service and starts a fresh process, so what
# it holds afterwards owes nothing to earlier cases (memory a process freed
# is rarely returned to the kernel, so a used process's RSS is a high-water
# mark).
svc_restart() {
    case $1 in
        rp) hg_stop rp QUIT 10 ;;
        *) hg_stop "$1" TERM 15 ;;
    esac
    svc_start "$1"
}

# ---------------------------------------------------------------- subjects

# A subject is a way for a client to reach the origin: S_SVC (service whose
# CPU and memory are counted), S_VIA (proxy for CONNECT, or empty), S_HOST,
# S_PORT (of the URL), S_ADDR (where TCP goes when there is no proxy), S_CA.
declare -A S_SVC=() S_VIA=() S_HOST=() S_PORT=() S_ADDR=() S_CA=()
sdef() { S_SVC[$1]=$2 S_VIA[$1]=$3 S_HOST[$1]=$4 S_PORT[$1]=$5 S_ADDR[$1]=$6 S_CA[$1]=$7; }

bench_subjects() {
    local o=$ORIGIN_IP:443
    sdef direct         ""        ""             "$INT_HOST"  443  "$o"             "$TESTCA"
    sdef hubgate        hubgate   "$HG_PROXY"    "$INT_HOST"  443  ""               "$HGCA"
    sdef hubgate-digest hubgate-dg "$HG_PROXY_DG" "$INT_HOST" 443  ""               "$HGCA"
    sdef hubgate-cache  hubgate-cache "$HG_PROXY_CACHE" "$INT_HOST" 443 ""           "$HGCA"
    sdef hubgate-pass   hubgate   "$HG_PROXY"    "$PASS_HOST" 443  ""               "$TESTCA"
    sdef mitmproxy      mitmproxy 127.0.0.1:3140 "$INT_HOST"  443  ""               "$PEERCA"
    sdef mitmproxy-pass mitmproxy 127.0.0.1:3140 "$PASS_HOST" 443  ""               "$TESTCA"
    sdef squid          squid     127.0.0.1:3141 "$INT_HOST"  443  ""               "$PEERCA"
    sdef squid-splice   squid     127.0.0.1:3141 "$PASS_HOST" 443  ""               "$TESTCA"
    sdef tinyproxy      tinyproxy 127.0.0.1:3142 "$PASS_HOST" 443  ""               "$TESTCA"
    sdef nginx          rp        ""             "$INT_HOST"  8443 127.0.0.1:8443   "$TESTCA"
    sdef nginx-tuned    rp        ""             "$INT_HOST"  8444 127.0.0.1:8444   "$TESTCA"
    sdef nginx-disk     rp        ""             "$INT_HOST"  8445 127.0.0.1:8445   "$TESTCA"
    sdef socat          socat     ""             "$PASS_HOST" "$SOCAT_PORT" "127.0.0.1:$SOCAT_PORT" "$TESTCA"
}

# subj_curl SUBJECT HOST PATH MAXTIME [CURL_ARGS...]: curl through SUBJECT
# (HOST replaces the subject's name when not empty); prints curl's -w line
# "code bytes total_s ttfb_s tls_done_s" (tls_done: curl's time_appconnect,
# the end of the TLS handshake with whoever presents the origin's name).
subj_curl() {
    local s=$1 host=${2:-${S_HOST[$1]}} path=$3 tmo=$4 a=()
    shift 4
    if [ -n "${S_VIA[$s]}" ]; then
        a=(--proxy "http://${S_VIA[$s]}")
    else
        a=(--resolve "$host:${S_PORT[$s]}:${S_ADDR[$s]%:*}")
    fi
    hg_client curl -sS --http1.1 --max-time "$tmo" --cacert "${S_CA[$s]}" "${a[@]}" "$@" \
        -o /dev/null -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer} %{time_appconnect}\n' \
        "https://$host:${S_PORT[$s]}$path"
}

# subj_hgbench MODE SUBJECT ARGS...: hgbench MODE through SUBJECT.
subj_hgbench() {
    local mode=$1 s=$2 a=()
    shift 2
    if [ -n "${S_VIA[$s]}" ]; then
        a=(--connect "${S_VIA[$s]}" --proxy)
    else
        a=(--connect "${S_ADDR[$s]}")
    fi
    hg_client "$HGBENCH" "$mode" "${a[@]}" --host "${S_HOST[$s]}" --port "${S_PORT[$s]}" \
        --cafile "${S_CA[$s]}" "$@"
}

# svc_pids NAME: the service's process and all its descendants.
svc_pids() {
    local root=${HG_PID[$1]:-}
    [ -n "$root" ] || return 0
    ps -e -o pid=,ppid= | awk -v r="$root" '
        { parent[$1] = $2 }
        END { for (p in parent) { q = p; n = 0
                while (q > 1 && n++ < 64) { if (q == r) { print p; break } q = parent[q] } } }'
}

# svc_cpu NAME: utime+stime of the service's processes, in clock ticks,
# with cutime+cstime: what their children that have exited and been waited
# for used (socat's per-connection processes).
svc_cpu() {
    local p t=0 v
    for p in $(svc_pids "$1"); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# machine_cpu: busy time of the whole machine (every CPU: user, nice,
# system, irq, softirq; not idle, iowait or steal), in clock ticks. Client,
# proxy and origin share the 2 cores, so this is what a transfer costs in
# all; throughput follows it when the cores are the limit.
machine_cpu() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }

# svc_mem NAME: "RSS_KiB FDS" summed over the service's processes.
svc_mem() {
    local p rss=0 fds=0 v
    for p in $(svc_pids "$1"); do
        v=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
        rss=$((rss + ${v:-0}))
        v=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || v=0
        fds=$((fds + v))
    done
    echo "$rss $fds"
}
