#!/bin/bash
# t_41_faults — faults on either side of the real ./hubgate, in the network
# namespaces of sec/lib.sh. Each fault must end in a clear error for that
# one request; hubgate keeps serving, and afterwards its open descriptor
# count (ls /proc/PID/fd | wc -l) is back to where it started: after each
# case no client socket and no half-closed socket is left (the worker
# loops' pools may hold idle upstream connections), and at the end, once
# those have timed out (30 s), the count is the one at start.
#
# Instance FAULTS :3128 ([upstream] read_timeout = 2s, connect_timeout 3s):
#  cut       origin closes mid-body (Content-Length and chunked, intercepted
#            and plain): the client sees an incomplete transfer (curl exit
#            18 or 56), never a clean short file
#  stall     origin sends a head and 1000 bytes then nothing: the client is
#            cut within ~3 s; origin sends nothing at all: 504 within ~3 s
#  leave     client disconnects mid-stream (a 50 MB slow body): hubgate
#            closes the origin side within 5 s
#  dns       a name that does not resolve (sec/dns_nx.py answers NXDOMAIN
#            on 127.0.0.1:53): 502 with a JSON body naming DNS (plain GET
#            and CONNECT)
# Instance LINK :3129 ([upstream] via = socks5://127.0.0.1:1 only,
#            [passthrough] via the same): intercepted GET and CONNECT ->
#            502 naming socks5://127.0.0.1:1
#  cadir     [ca] dir is a regular file, or under a read-only mount (a
#            private mount namespace): start refused, exit non-zero, message
#            naming the directory
#  logfull   hubgate's stderr on a full 16k tmpfs (private mount namespace):
#            it keeps serving (10 requests), and stops cleanly on SIGTERM
#   HUBGATE=path  binary   HG_KEEP=1  keep the temp dir
#   SEC_CASES="cut stall ..."  run only these cases
source "$(dirname "$0")/sec/lib.sh"

sec_init t_41_faults
mkdir -p "$TMP/data"
head -c 10000 /dev/urandom >"$TMP/data/small.bin"
sec_origins
# A resolver that answers NXDOMAIN for every name, as a real one does for a
# name that does not exist (names of the test live in the hosts file).
sec_start dns "$NS_A" "$PY" -u "$SEC_DIR/dns_nx.py" 127.0.0.1

want() { [ -z "${SEC_CASES:-}" ] || [[ " $SEC_CASES " == *" $1 "* ]]; }

hg_conf "$TMP/faults.ini" 3128 "[upstream]" "read_timeout = 2s"
hg_up faults 3128 "$TMP/faults.ini"
PID=$HG_PID
CA=$TMP/ca-3128
P=http://127.0.0.1:3128
HUB=https://registry-1.docker.io
PLAIN=http://origin.test:8080

# serving: a good intercepted and a good plain request both answer.
serving() {
    local a b
    a=$(pcurl "$NS_A" -x "$P" --cacert "$CA/ca.crt" "$HUB/hello")
    b=$(pcurl "$NS_A" -x "$P" "$PLAIN/hello")
    [ "$a" = hello ] && [ "$b" = hello ]
}
# after CASE: still serving, descriptors back to FD0.
after() {
    local n
    if serving && alive faults; then
        good "$1: still serving"
    else
        bad "$1: hubgate no longer serves (alive: $(alive faults && echo y || echo n))"
    fi
    n=$(fd_settle "$PID" "$FD0" 10)
    socks=$(hg_socks "$PID" "$NS_A")
    cl=$(awk '$1 != "LISTEN" && $2 ~ /:3128$/' <<<"$socks" | wc -l)
    cw=$(awk '$1 != "ESTAB" && $1 != "LISTEN"' <<<"$socks" | wc -l)
    if [ "$n" -le "$FD0" ]; then
        good "$1: descriptors back to $n (start $FD0)"
    elif [ "$cl" = 0 ] && [ "$cw" = 0 ]; then
        # Each worker loop keeps its own pool of idle upstream connections
        # (30 s): more after a case is fine while none is a client's or
        # half-closed; the count at rest is checked at the end.
        good "$1: $n descriptors (start $FD0): no client socket left, the rest idle upstream"
    else
        bad "$1: $n descriptors 10 s later, $FD0 at start; $cl client socket(s), $cw not established: $(tr '\n' '|' <<<"$socks")"
    fi
}

FD_REST=$(fd_count "$PID")
serving || { echo "FAIL: the fault-free requests do not work"; exit 1; }
# the baseline: the warm-up's pooled upstream connections, no client socket
wait_for 10 no_client_sock "$PID" 3128
FD0=$(fd_count "$PID")
sec_log "hubgate pid $PID, $FD_REST descriptors at rest, $FD0 after warm-up"

# -------------------------------------------------------------- cut
if want cut; then
    for u in "$HUB/cut" "$HUB/cut-chunked" "$PLAIN/cut" "$PLAIN/cut-chunked"; do
        args=(); [[ $u == https* ]] && args=(--cacert "$CA/ca.crt")
        pcurl "$NS_A" -x "$P" "${args[@]}" -o "$TMP/cut.out" "$u" 2>"$TMP/cut.err"
        rc=$?
        got=$(stat -c %s "$TMP/cut.out" 2>/dev/null || echo 0)
        if [ "$rc" = 18 ] || [ "$rc" = 56 ] || [ "$rc" = 92 ]; then
            good "origin cut $u: client sees an incomplete transfer (curl $rc after $got bytes)"
        else
            bad "origin cut $u: want curl exit 18/56 (transfer cut), got exit $rc after $got bytes: $(head -c 200 "$TMP/cut.err")"
        fi
    done
    after "cut"
fi

# -------------------------------------------------------------- stall
if want stall; then
    for u in "$HUB/stall" "$PLAIN/stall"; do
        args=(); [[ $u == https* ]] && args=(--cacert "$CA/ca.crt")
        t=$(pcurl "$NS_A" -x "$P" "${args[@]}" -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$u" 2>/dev/null)
        rc=$?
        secs=${t##* }
        if [ "$rc" != 0 ] && awk -v s="$secs" 'BEGIN {exit !(s >= 1.5 && s < 4.5)}'; then
            good "origin stalls mid-body ($u): client cut after $secs s (curl $rc, read_timeout 2s)"
        else
            bad "origin stalls mid-body ($u): want the client cut within ~3 s, got curl $rc, '$t'"
        fi
    done
    for u in "$HUB/stall-head" "$PLAIN/stall-head"; do
        args=(); [[ $u == https* ]] && args=(--cacert "$CA/ca.crt")
        t=$(pcurl "$NS_A" -x "$P" "${args[@]}" -o "$TMP/stall.body" -w '%{http_code} %{time_total}' "$u" 2>/dev/null)
        code=${t%% *} secs=${t##* }
        if [ "$code" = 504 ] && awk -v s="$secs" 'BEGIN {exit !(s >= 1.5 && s < 4.5)}'; then
            good "origin sends no head ($u): 504 after $secs s ($(head -c 120 "$TMP/stall.body"))"
        else
            bad "origin sends no head ($u): want 504 within ~3 s, got '$t'"
        fi
    done
    after "stall"
fi

# -------------------------------------------------------------- leave
if want leave; then
    for u in "$HUB/slow" "$PLAIN/slow"; do
        args=(); [[ $u == https* ]] && args=(--cacert "$CA/ca.crt")
        n0=$(wc -l <"$TMP/origin.log")
        pcurl "$NS_A" -x "$P" "${args[@]}" -o /dev/null --max-time 1 "$u" 2>/dev/null
        ok=0
        for ((i = 0; i < 50; i++)); do
            if tail -n +"$((n0 + 1))" "$TMP/origin.log" | grep -q '^END .*why=client-gone'; then
                ok=1
                break
            fi
            sleep 0.1
        done
        if [ $ok = 1 ]; then
            good "client left mid-stream ($u): hubgate closed the origin side ($(tail -n +"$((n0 + 1))" "$TMP/origin.log" | grep -m1 '^END .*client-gone'))"
        else
            bad "client left mid-stream ($u): the origin still sends 5 s later (hubgate keeps the origin connection)"
        fi
    done
    after "leave"
fi

# -------------------------------------------------------------- dns
if want dns; then
    out=$(pcurl "$NS_A" -x "$P" -w '\n%{http_code}' http://nowhere.invalid/x)
    code=$(tail -n1 <<<"$out") body=$(head -n -1 <<<"$out")
    if [ "$code" = 502 ] && grep -q '"errors"' <<<"$body" && grep -qi 'dns' <<<"$body"; then
        good "unresolvable name (GET): 502, $(cut -c1-140 <<<"$body")"
    else
        bad "unresolvable name (GET): want 502 with a JSON body naming DNS, got $code: $body"
    fi
    out=$(client "$NS_A" send 127.0.0.1 3128 --wait 8 \
        --data 'CONNECT nowhere.invalid:443 HTTP/1.1\r\nHost: nowhere.invalid:443\r\n\r\n')
    head=$(jget "$out" head)
    if [[ $(jget "$out" status) == "HTTP/1.1 502"* ]] && grep -qi 'dns' <<<"$head"; then
        good "unresolvable name (CONNECT): 502 naming DNS"
    else
        bad "unresolvable name (CONNECT): want 502 naming DNS, got: $(tr '\r\n' '  ' <<<"$head" | cut -c1-200)"
    fi
    after "dns"
fi

# -------------------------------------------------------------- link
if want link; then
    hg_conf "$TMP/link.ini" 3129 "[passthrough]" "via = socks5://127.0.0.1:1"
    sed -i 's|^via = direct$|via = socks5://127.0.0.1:1|' "$TMP/link.ini"
    hg_up link 3129 "$TMP/link.ini"
    LPID=$HG_PID
    lfd0=$(fd_count "$LPID")
    out=$(pcurl "$NS_A" -x http://127.0.0.1:3129 --cacert "$TMP/ca-3129/ca.crt" -w '\n%{http_code} %{time_total}' "$HUB/v2/")
    code=$(tail -n1 <<<"$out") body=$(head -n -1 <<<"$out")
    if [[ $code == "502 "* ]] && grep -q 'socks5://127.0.0.1:1' <<<"$body"; then
        good "upstream link refuses: 502 naming it ($(cut -c1-160 <<<"$body"), ${code#* } s)"
    else
        bad "upstream link refuses (via = socks5://127.0.0.1:1): want 502 naming the link, got '$code': $body"
    fi
    out=$(client "$NS_A" send 127.0.0.1 3129 --wait 8 \
        --data 'CONNECT site.example.test:443 HTTP/1.1\r\nHost: site.example.test:443\r\n\r\n')
    if [[ $(jget "$out" status) == "HTTP/1.1 502"* ]] && grep -q 'socks5://127.0.0.1:1\|SOCKS5' <<<"$(jget "$out" head)"; then
        good "passthrough link refuses: CONNECT 502 naming it"
    else
        bad "passthrough link refuses: want 502 naming socks5://127.0.0.1:1, got: $(jget "$out" head | tr '\r\n' '  ' | cut -c1-200)"
    fi
    alive link && good "link: still running" || bad "link: hubgate died"
    n=$(fd_settle "$LPID" "$lfd0" 10)
    [ "$n" -le "$lfd0" ] && good "link: descriptors back to $n" || bad "link: $n descriptors, $lfd0 at start"
    sec_stop link
fi

# -------------------------------------------------------------- cadir
if want cadir; then
    : >"$TMP/not-a-dir"
    hg_conf "$TMP/cafile.ini" 3140
    sed -i "s|^dir = .*|dir = $TMP/not-a-dir|" "$TMP/cafile.ini"
    out=$(timeout 10 ip netns exec "$NS_A" "$HUBGATE" -c "$TMP/cafile.ini" 2>&1); rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "$TMP/not-a-dir" <<<"$out"; then
        good "[ca] dir is a file: refused (rc $rc): $(grep -m1 not-a-dir <<<"$out" | cut -c25-200)"
    else
        bad "[ca] dir is a regular file: want exit non-zero naming it, got rc $rc: $(head -c 300 <<<"$out")"
    fi
    mkdir -p "$TMP/ro"
    hg_conf "$TMP/caro.ini" 3141
    sed -i "s|^dir = .*|dir = $TMP/ro/ca|" "$TMP/caro.ini"
    out=$(timeout 10 ip netns exec "$NS_A" unshare -m --propagation private sh -c \
        'mount -t tmpfs -o ro,size=64k tmpfs "$1" && shift && exec "$@"' sh \
        "$TMP/ro" "$HUBGATE" -c "$TMP/caro.ini" 2>&1); rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "$TMP/ro/ca" <<<"$out"; then
        good "[ca] dir on a read-only mount: refused (rc $rc): $(grep -m1 "$TMP/ro/ca" <<<"$out" | cut -c25-200)"
    else
        bad "[ca] dir on a read-only mount: want exit non-zero naming it, got rc $rc: $(head -c 300 <<<"$out")"
    fi
fi

# -------------------------------------------------------------- logfull
if want logfull; then
    mkdir -p "$TMP/full"
    hg_conf "$TMP/full.ini" 3142
    # In a private mount namespace: a 16k tmpfs, filled, holds stderr.
    sec_start full "$NS_A" unshare -m --propagation private sh -c '
        mount -t tmpfs -o size=16k tmpfs "$1" || exit 3
        dd if=/dev/zero of="$1/filler" bs=1k count=64 2>/dev/null
        df -k "$1" | tail -n 1 >&2
        shift
        exec "$@" 2>>"$0/hubgate.log" >&2' "$TMP/full" "$TMP/full" "$HUBGATE" -c "$TMP/full.ini"
    wait_port "$NS_A" 127.0.0.1 3142 full
    ok=0
    for ((i = 0; i < 10; i++)); do
        [ "$(pcurl "$NS_A" -x http://127.0.0.1:3142 --cacert "$TMP/ca-3142/ca.crt" "$HUB/hello")" = hello ] && ok=$((ok + 1))
        [ "$(pcurl "$NS_A" -x http://127.0.0.1:3142 "$PLAIN/hello")" = hello ] && ok=$((ok + 1))
    done
    if [ "$ok" = 20 ] && alive full; then
        good "stderr on a full disk: 20 of 20 requests served"
    else
        bad "stderr on a full disk: $ok of 20 requests served (alive: $(alive full && echo y || echo n)); $(head -n 2 "$TMP/full.log")"
    fi
    sec_stop full TERM
    [ "$SEC_RC" = 0 ] && good "stderr on a full disk: SIGTERM exits 0" \
        || bad "stderr on a full disk: exit status $SEC_RC after SIGTERM"
fi

# At rest again: the pools' idle upstream connections time out after 30 s.
n=$(fd_settle "$PID" "$FD_REST" 40)
if [ "$n" -le "$FD_REST" ]; then
    good "at rest after all faults: $n descriptors, as at start"
else
    bad "at rest after all faults (40 s idle): $n descriptors, $FD_REST at start: $(hg_socks "$PID" "$NS_A" | tr '\n' '|') $(ls -l "/proc/$PID/fd" | awk 'NR > 1 {print $NF}' | sed 's/[0-9]//g' | sort | uniq -c | tr '\n' ' ')"
fi
sec_stop faults TERM
[ "$SEC_RC" = 0 ] && good "SIGTERM: exit 0" || bad "hubgate exited $SEC_RC after SIGTERM"
sec_finish
