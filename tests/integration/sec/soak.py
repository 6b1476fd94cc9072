#!/usr/bin/python3
"""soak.py — N concurrent clients through hubgate for t_42_soak (stdlib only).

    soak.py --proxy HOST:PORT --hubgate-ca FILE --site-ca FILE --data DIR
            [--clients 200] [--ops 3] [--seed 1] [--deadline SECS]

Each client thread waits at a barrier, then runs OPS operations picked at
random (seeded) from:
  blob     GET https://registry-1.docker.io/v2/library/soak/blobs/sha256:HEX
           through CONNECT, intercepted (trusting hubgate's CA only);
           hubgate checks the digest as the body streams
  cdn      GET https://production.cloudflare.docker.com/file/NAME, intercepted
  tunnel   GET https://site.example.test/file/NAME through CONNECT,
           passed through (trusting the test CA only: hubgate must not
           intercept it)
  plain    GET http://origin.test:8080/file/NAME, absolute-form
  garbage  random bytes to the proxy port: must be answered or closed
           within 5 s
  baddigest GET a blob whose bytes do not match its digest: must fail
           (hubgate resets the connection), never succeed
Every body is compared with the file's sha256. Prints one JSON object:
{"ok": {kind: n}, "fail": {kind: n}, "mismatch": n, "errors": [first 10],
 "bytes": total, "secs": elapsed}.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import ssl
import sys
import threading
import time

LOCK = threading.Lock()
RES = {"ok": {}, "fail": {}, "mismatch": 0, "errors": [], "bytes": 0}


def note(kind, ok, err=None, nbytes=0, mismatch=False):
    with LOCK:
        d = RES["ok"] if ok else RES["fail"]
        d[kind] = d.get(kind, 0) + 1
        RES["bytes"] += nbytes
        if mismatch:
            RES["mismatch"] += 1
        if err and len(RES["errors"]) < 10:
            RES["errors"].append("%s: %s" % (kind, err))


def get_summed(c, target):
    """GET target on connection c, closing it; (status, sha256, bytes, Content-Length)."""
    try:
        c.request("GET", target, headers={"User-Agent": "hubgate-soak", "Connection": "close"})
        r = c.getresponse()
        h = hashlib.sha256()
        n = 0
        while True:
            b = r.read(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
        return r.status, h.hexdigest(), n, r.getheader("Content-Length")
    finally:
        c.close()


def fetch_tls(proxy, host, path, ctx):
    ph, pp = proxy
    c = http.client.HTTPSConnection(ph, pp, timeout=60, context=ctx)
    c.set_tunnel(host, 443)
    return get_summed(c, path)


def fetch_plain(proxy, url):
    ph, pp = proxy
    return get_summed(http.client.HTTPConnection(ph, pp, timeout=60), url)


def garbage(proxy, rnd):
    s = socket.create_connection(proxy, timeout=5)
    try:
        s.sendall(b"\xff" + bytes(rnd.getrandbits(8) for _ in range(199)))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            d = s.recv(4096)
            if not d:
                return True
            if d.startswith(b"HTTP/1.1 4"):
                return True
        return False
    except ConnectionResetError:
        return True
    finally:
        s.close()


def client(i, a, files, barrier, ctx_hub, ctx_site, deadline):
    rnd = random.Random(a.seed * 100003 + i)
    kinds = ["blob"] * 30 + ["cdn"] * 15 + ["tunnel"] * 25 + ["plain"] * 12 + \
            ["garbage"] * 15 + ["baddigest"] * 3
    weights = [30, 30, 20, 12, 8]
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    for _ in range(a.ops):
        if time.monotonic() > deadline:
            note("deadline", False, "client %d ran out of time" % i)
            return
        kind = rnd.choice(kinds)
        name, size, hexd = rnd.choices(files, weights=weights[:len(files)])[0]
        try:
            if kind == "garbage":
                ok = garbage(a.proxy, rnd)
                note(kind, ok, None if ok else "not answered within 5 s")
                continue
            if kind == "blob":
                st, got, n, cl = fetch_tls(a.proxy, "registry-1.docker.io",
                                           "/v2/library/soak/blobs/sha256:" + hexd, ctx_hub)
            elif kind == "cdn":
                st, got, n, cl = fetch_tls(a.proxy, "production.cloudflare.docker.com",
                                           "/file/" + name, ctx_hub)
            elif kind == "tunnel":
                st, got, n, cl = fetch_tls(a.proxy, "site.example.test", "/file/" + name, ctx_site)
            elif kind == "plain":
                st, got, n, cl = fetch_plain(a.proxy, "http://origin.test:8080/file/" + name)
            else:  # baddigest: must not succeed
                st, got, n, cl = fetch_tls(a.proxy, "registry-1.docker.io",
                                           "/v2/bad/blobs/sha256:" + hexd, ctx_hub)
                # Python's ssl module may end a reset stream quietly (ragged
                # EOF): what counts is that the client never got it whole.
                if st == 200 and n == size:
                    note(kind, False, "a blob with the wrong bytes was delivered whole "
                         "(status %d, %d bytes)" % (st, n), n, mismatch=True)
                else:
                    note(kind, True, None, n)
                continue
            if st == 200 and got == hexd and n == size:
                note(kind, True, None, n)
            else:
                note(kind, False, "%s status %d, %d of %d bytes, sha256 %s" %
                     (name, st, n, size, "ok" if got == hexd else "MISMATCH"), n,
                     mismatch=(st == 200 and n == size and got != hexd))
        except Exception as e:  # noqa: BLE001 - every failure is a result
            if kind == "baddigest":
                note(kind, True)
            else:
                note(kind, False, "%s %s: %s" % (name, type(e).__name__, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--hubgate-ca", required=True)
    ap.add_argument("--site-ca", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--ops", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--deadline", type=float, default=90)
    a = ap.parse_args()
    h, p = a.proxy.rsplit(":", 1)
    a.proxy = (h, int(p))
    files = []
    for n in sorted(os.listdir(a.data), key=lambda n: os.path.getsize(os.path.join(a.data, n))):
        path = os.path.join(a.data, n)
        with open(path, "rb") as f:
            files.append((n, os.path.getsize(path), hashlib.sha256(f.read()).hexdigest()))
    ctx_hub = ssl.create_default_context(cafile=a.hubgate_ca)
    ctx_site = ssl.create_default_context(cafile=a.site_ca)
    barrier = threading.Barrier(a.clients)
    t0 = time.monotonic()
    deadline = t0 + a.deadline
    th = [threading.Thread(target=client, args=(i, a, files, barrier, ctx_hub, ctx_site, deadline),
                           daemon=True) for i in range(a.clients)]
    for t in th:
        t.start()
    for t in th:
        t.join(max(1.0, deadline + 30 - time.monotonic()))
    RES["secs"] = round(time.monotonic() - t0, 1)
    RES["stuck"] = sum(1 for t in th if t.is_alive())
    print(json.dumps(RES))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
