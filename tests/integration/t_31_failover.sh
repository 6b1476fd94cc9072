#!/bin/bash
# t_31_failover — hubgate's failover between upstream links, with a stock
# dockerd pulling and hubgate's resolver poisoned for the Docker Hub names
# (links/common.sh), so that only the links can work:
#   1. a dead first link: via = socks5://127.0.0.1:1, socks5://proxy.links.test:1080
#      -> the pull succeeds; the log shows the failover and its reason; the
#      metrics count it; every request was served on the second link.
#   2. a relay answering 429 (Retry-After: 30) to every manifest request
#      ahead of a working link: via = relay:https://fault.relay.test,
#      socks5://proxy.links.test:1080 -> the pull succeeds; the log shows
#      "failed on relay:https://fault.relay.test (answered 429); failing over";
#      no 429 reaches the client; the relay rests (in every worker): it saw
#      exactly one manifest request (the 429) and no blob request; manifests
#      and blobs were served on the SOCKS link. Then the same for a GET, by
#      curl on a fresh hubgate: one 200 answer, the registry's manifest.
#   3. a relay that cuts the first large blob after 6 MiB (then serves the
#      Range request): via = relay:https://fault.relay.test -> the pull
#      succeeds through hubgate's Range resume: the log has "cut at byte N ...
#      resuming" and "resumed at byte N"; the relay saw the cut GET and one
#      "Range: bytes=N-" answered 206; hubgate's access log has ONE 200 GET
#      of that blob with all its bytes; dockerd retried nothing; the layer
#      docker unpacked is the one pushed.
#   4. every link down -> the client gets hubgate's 502 at once (it must not
#      be left waiting);
#   5. a proxy given as an IP literal (socks5://198.51.100.14:1080) costs no
#      DNS lookup: a spy DNS server in the client namespace must not be
#      asked for "198.51.100.14".
# Checks whose failure leaves the rest meaningful are collected ("FAIL (going
# on)") and reported together at the end.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=links/common.sh
. "$(dirname "$0")/links/common.sh"
hg_init t_31_failover
hgl_need_pkgs microsocks

hg_topology_up
hg_hub_up
hg_hub_check
hgl_net_up
hgl_microsocks
SOCKS=socks5://$HGL_PROXY_NAME:$HGL_MICROSOCKS_PORT
CUT=$((6 * 1024 * 1024))

t0=$(date +%s)
hgl_image dead
hgl_image ratelimited
hgl_image big "text:etc/big.txt:big $(openssl rand -hex 8)" \
    "random:data/big-$(openssl rand -hex 4).bin:25165824"
hg_log "pushed 3 images in $(( $(date +%s) - t0 ))s"
big_blob=$(awk '$1 == "layer" {print $5, $3}' "$HG_TMP/oci/big.sum" | sort -n | tail -n1)
big_size=${big_blob% *}
big_blob=${big_blob#* }
[ "$big_size" -gt $((3 * CUT)) ] || hg_fail "the big layer is only $big_size bytes"

hgl_hosts "$HG_TMP/hosts.poison"
# Failures that leave the rest of the test meaningful are collected and
# reported together at the end, so that one hubgate bug does not hide others.
problems=()
check_fail() {
    problems+=("$*")
    echo "FAIL (going on): $*" >&2
}
metrics() {
    hgl_curl "http://127.0.0.1:3129/metrics" || hg_fail "cannot read hubgate's /metrics"
}

# --- 1. dead first link
hgl_config "$HG_TMP/dead.ini" "socks5://127.0.0.1:1, $SOCKS"
hgl_hubgate_start "$HG_TMP/dead.ini" "$HG_TMP/hosts.poison"
hg_dockerd_start || hg_fail "dockerd cannot start here (see its log)"
img=dead
hgl_pull "$img"
hgl_assert_link "$img" "$SOCKS"
hgl_assert_no_direct
hgl_assert_hub_saw "$img"
line=$(hgl_log_new | grep -F -m1 " failed on socks5://127.0.0.1:1 (" || true)
[ -n "$line" ] || { hgl_show_log; hg_fail "dead link: no failover line for socks5://127.0.0.1:1 in hubgate's log"; }
case $line in
    *"failed on socks5://127.0.0.1:1 ("?*"); failing over to $SOCKS") ;;
    *) hg_fail "dead link: the failover line does not name its reason and the next link: $line" ;;
esac
hg_log "dead link: ${line#* warn }"
m=$(metrics)
printf '%s\n' "$m" | grep -E "^hubgate_failovers_total\{from=\"socks5://127.0.0.1:1\",to=\"$SOCKS\"\} [1-9]" >/dev/null \
    || hg_fail "dead link: /metrics has no hubgate_failovers_total{from=\"socks5://127.0.0.1:1\",to=\"$SOCKS\"}: $(printf '%s\n' "$m" | grep failover | head -n 5)"
printf '%s\n' "$m" | grep -E "^hubgate_upstream_failures_total\{link=\"socks5://127.0.0.1:1\",reason=\"[a-z]+\"\} [1-9]" >/dev/null \
    || hg_fail "dead link: /metrics counts no upstream failure of socks5://127.0.0.1:1"
hg_log "dead link: pull ok on $SOCKS, failover logged and counted"

# --- 2. a relay answering 429 to manifests, ahead of a working link
hgl_fault_relay fault429 --429-manifests --retry-after 30
hgl_config "$HG_TMP/429.ini" "relay:https://fault.relay.test, $SOCKS"
hgl_hubgate_restart "$HG_TMP/429.ini" "$HG_TMP/hosts.poison"
img=ratelimited
pulled=1
if ! ( hgl_pull "$img" ); then
    pulled=0
    check_fail "429: docker pull hubgate-links/$img:1 failed behind a relay answering 429 with $SOCKS next: $(tail -n 1 "$HG_LOGS/pull.$img.log" | cut -c1-200)"
fi
hgl_assert_no_direct
line=$(hgl_log_new | grep -F " failed on relay:https://fault.relay.test (answered 429); failing over to $SOCKS" | head -n1 || true)
[ -n "$line" ] || { hgl_show_log; hg_fail "429: no 'failed on relay:https://fault.relay.test (answered 429); failing over to $SOCKS' in hubgate's log"; }
case $line in
    *"/v2/hubgate-links/$img/manifests/"*) ;;
    *) hg_fail "429: the failover was not for the manifest request: $line" ;;
esac
hg_log "429: ${line#* warn }"
n429=$(hgl_fault_count fault429 'r["status"] == 429')
[ "$n429" = 1 ] || check_fail "429: the relay answered 429 $n429 times; after the first (Retry-After: 30) the link must rest: $(hgl_log_new | grep -F 'failing over' | cut -c25-230 | tr '\n' '|')"
nman=$(hgl_fault_count fault429 '"/manifests/" in r["path"]')
[ "$nman" = 1 ] || check_fail "429: the relay saw $nman manifest requests, want 1 (then it rests)"
nblob=$(hgl_fault_count fault429 '"/blobs/" in r["path"]')
[ "$nblob" = 0 ] || check_fail "429: the resting relay still got $nblob blob request(s)"
metrics | grep -E "^hubgate_failovers_total\{from=\"relay:https://fault.relay.test\",to=\"$SOCKS\"\} $n429\$" >/dev/null \
    || check_fail "429: /metrics does not count the $n429 failover(s) from the relay to $SOCKS: $(metrics | grep '^hubgate_failovers_total' | tr '\n' '|')"
# The client never saw the 429 (it went to the next link instead).
if hgl_log_new | grep ' access ' | grep -F "/v2/hubgate-links/$img/" | grep ' 429 ' >/dev/null; then
    check_fail "429: the relay's 429 reached the client although hubgate failed over: $(hgl_log_new | grep ' access ' | grep -F "/v2/hubgate-links/$img/" | grep ' 429 ' | head -n 2 | cut -c1-200)"
fi
if [ "$pulled" = 1 ]; then
    hgl_assert_hub_saw "$img"
    # Manifests and blobs were served on the SOCKS link, blobs with 200.
    if hgl_log_new | grep ' access ' | grep -F "/v2/hubgate-links/$img/manifests/" | grep -vF " link=$SOCKS" | grep . >/dev/null; then
        check_fail "429: a manifest request was answered on another link than $SOCKS (the relay should rest)"
    fi
    for b in $(hgl_blobs "$img"); do
        hgl_log_new | grep ' access ' | grep -F "/blobs/$b 200 " | grep -F " link=$SOCKS" >/dev/null \
            || check_fail "429: blob $b was not served on $SOCKS (the relay should rest): $(hgl_log_new | grep ' access ' | grep -F "/blobs/$b " | cut -c25-200)"
    done
    hg_log "429: pull ok; one 429, the relay rested, manifests and blobs on $SOCKS"
fi
# The same failover for a GET (an answer with a body), by curl on a fresh
# hubgate: exactly one response, the manifest, as the registry has it.
hgl_hubgate_restart "$HG_TMP/429.ini" "$HG_TMP/hosts.poison"
tok=$(hgl_curl --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" \
    "https://auth.docker.io/token?service=registry.docker.io&scope=repository:hubgate-links/$img:pull" \
    | "$HG_PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])') || hg_fail "429: no token through hubgate"
hgl_curl --proxy "http://$HG_PROXY" --cacert "$HG_HUBGATE_CA_DIR/ca.crt" -D "$HG_TMP/429.head" \
    -o "$HG_TMP/429.body" -H "Authorization: Bearer $tok" "${HG_ACCEPT_ALL[@]}" \
    "https://registry-1.docker.io/v2/hubgate-links/$img/manifests/1" || true
status=$(tr -d '\r' <"$HG_TMP/429.head" 2>/dev/null | grep '^HTTP/' | grep -v ' Connection established' | tr '\n' '|' || true)
got=sha256:$(sha256sum <"$HG_TMP/429.body" | cut -d' ' -f1)
if [ "$status" != "HTTP/1.1 200 OK|" ] || [ "$got" != "${HGL_DIGEST[$img]}" ]; then
    check_fail "429: GET of the manifest on a fresh hubgate (relay 429, then $SOCKS): status line(s) '$status', body $got ($(head -c 60 "$HG_TMP/429.body" | tr -c '[:print:]' '.')...), want one 200 with ${HGL_DIGEST[$img]}; hubgate: $(hgl_log_new | grep -F "/manifests/1" | cut -c25-200 | tr '\n' '|')"
else
    hg_log "429: a GET fails over too: one 200 with the manifest"
fi
hg_stop fault429

# --- 3. a relay cutting the first large blob after 6 MiB
hgl_fault_relay faultcut --cut-after "$CUT"
# segments = 1: the resume of one connection (segmented fetches recover
# their cut segments on their own: t_35_segments)
hgl_config "$HG_TMP/cut.ini" "relay:https://fault.relay.test" "segments = 1"
hgl_hubgate_restart "$HG_TMP/cut.ini" "$HG_TMP/hosts.poison"
dockerd_mark=$(wc -l <"$HG_LOGS/dockerd.log")
img=big
if ! ( hgl_pull "$img" ); then
    check_fail "cut: docker pull hubgate-links/$img:1 failed: $(tail -n 1 "$HG_LOGS/pull.$img.log" | cut -c1-200)"
fi
hgl_assert_no_direct
# The fault relay did its part: one cut, of the big layer, after $CUT bytes.
ncut=$(hgl_fault_count faultcut 'r["cut"]')
[ "$ncut" = 1 ] || hg_fail "cut: the relay cut $ncut responses, want 1"
cutpath=$("$HG_PY" -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["cut"]: print(r["path"], r["sent"])' "$HG_LOGS/faultcut.jsonl")
case $cutpath in
    *"/${big_blob#sha256:}/data $CUT") ;;
    *) hg_fail "cut: the relay cut '$cutpath', want the big layer $big_blob after $CUT bytes" ;;
esac
# hubgate resumed it itself ...
blob_log=$(hgl_log_new | grep -F "/blobs/$big_blob" | cut -c25-260 | tr '\n' '|' || true)
line=$(hgl_log_new | grep -F " cut at byte $CUT of $big_size on relay:https://fault.relay.test; resuming" || true)
[ -n "$line" ] || check_fail "cut: hubgate's log has no 'cut at byte $CUT of $big_size on relay:https://fault.relay.test; resuming'; its lines for the blob: $blob_log"
hgl_log_new | grep -F " resumed at byte $CUT on relay:https://fault.relay.test" >/dev/null \
    || check_fail "cut: hubgate's log has no 'resumed at byte $CUT on relay:https://fault.relay.test'"
nrange=$(hgl_fault_count faultcut "r[\"range\"] == \"bytes=$CUT-\" and r[\"status\"] == 206 and \"${big_blob#sha256:}\" in r[\"path\"]")
[ "$nrange" = 1 ] || check_fail "cut: the relay answered 'Range: bytes=$CUT-' with 206 $nrange times, want 1 (Range requests it saw: $(hgl_fault_count faultcut 'r["range"] != ""'))"
# ... and the client saw one response: one access line for the blob, 200,
# all its bytes (dockerd resuming by itself would show as a second GET),
# hashed by hubgate across the resume: with a relay among the links,
# verify_digest = auto checks every blob.
acc=$(hgl_log_new | grep ' access ' | grep -F " GET registry-1.docker.io /v2/hubgate-links/$img/blobs/$big_blob " || true)
nacc=$(printf '%s\n' "$acc" | grep -c . || true)
case $nacc:$acc in
    "1:"*"/blobs/$big_blob 200 ${big_size}B "*" digest=$big_blob verified=yes") ;;
    *) check_fail "cut: the client got $nacc answer(s) to its GET of the big blob, want one '200 ${big_size}B ... verified=yes': $(printf '%s\n' "$acc" | cut -c25-300 | tr '\n' '|')" ;;
esac
if tail -n "+$((dockerd_mark + 1))" "$HG_LOGS/dockerd.log" | grep -v 'module=grpc' \
        | grep -i -e 'retrying' -e 'unexpected EOF' >/dev/null; then
    check_fail "cut: dockerd saw the cut: $(tail -n "+$((dockerd_mark + 1))" "$HG_LOGS/dockerd.log" | grep -i -e retrying -e 'unexpected EOF' | head -n 3)"
fi
if [ -n "$line" ]; then hg_log "cut: pull ok; ${line#* warn }"; fi
hg_stop faultcut

# --- 4. every link down: hubgate must answer 502 at once.
hgl_config "$HG_TMP/down.ini" "socks5://$HGL_PROXY_NAME:1, direct"
hgl_hubgate_restart "$HG_TMP/down.ini" "$HG_TMP/hosts.poison"
t=$(date +%s%N)
code=$(hg_client timeout 30 curl -sS -o /dev/null -w '%{http_code}' --max-time 15 --proxy "http://$HG_PROXY" \
    --cacert "$HG_HUBGATE_CA_DIR/ca.crt" https://registry-1.docker.io/v2/ 2>/dev/null) || true
ms=$(( ($(date +%s%N) - t) / 1000000 ))
if [ "$code" != 502 ] || [ "$ms" -gt 5000 ]; then
    check_fail "every link down: the client got '$code' after ${ms} ms, want 502 at once (hubgate's log: $(hgl_log_new | grep -F 'cannot reach' | head -n1 | cut -c1-240))"
else
    hg_log "every link down: 502 in ${ms} ms"
fi

# --- 5. an IP-literal proxy is not looked up in DNS.
: >"$HG_LOGS/dns-spy.queries"
hg_start dns-spy "$HG_NS_CLIENT" timeout 300 "$HG_PY" "$HGL_DIR/dns_spy.py" \
    --listen 127.0.0.1:53 --log "$HG_LOGS/dns-spy.queries"
for ((i = 0; i < 50; i++)); do
    hg_client ss -Hlun 'sport = :53' 2>/dev/null | grep . >/dev/null && break
    sleep 0.1
done
hgl_config "$HG_TMP/literal.ini" "socks5://$HGL_PROXY_IP:$HGL_MICROSOCKS_PORT"
hgl_hubgate_restart "$HG_TMP/literal.ini" "$HG_TMP/hosts.poison"
t=$(date +%s%N)
code=$(hgl_via_hubgate_code https://registry-1.docker.io/v2/)
ms=$(( ($(date +%s%N) - t) / 1000000 ))
asked=$(grep -F "$HGL_PROXY_IP" "$HG_LOGS/dns-spy.queries" | sort -u | tr '\n' ',' || true)
# What shows a lookup is the spy's log, not the time: the spy answers at
# once, so a query would cost nothing measurable (curl's --max-time bounds
# the request).
if [ "$code" != 401 ] || [ -n "$asked" ]; then
    check_fail "IP-literal proxy socks5://$HGL_PROXY_IP:$HGL_MICROSOCKS_PORT: got '$code' in ${ms} ms, DNS asked for [$asked] (want 401, no DNS query for an address)"
else
    hg_log "IP-literal proxy: 401 in ${ms} ms, no DNS query"
fi
hg_stop dns-spy

if [ "${#problems[@]}" -gt 0 ]; then
    printf 'FAIL: %s\n' "${problems[@]}" >&2
    hg_fail "${#problems[@]} check(s) failed (listed above)"
fi
hubgate_stop
hg_log "t_31_failover: dead link, 429 failover and rest, Range resume, 502 when all links fail, IP-literal links"
