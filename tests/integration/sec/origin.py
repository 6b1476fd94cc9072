#!/usr/bin/python3
"""origin.py — origins for t_40_security, t_41_faults, t_42_soak (stdlib only).

    origin.py [--pki DIR --data DIR] --rec DIR
              [--tls ADDR:PORT]... [--http ADDR:PORT]...
              [--record ADDR:PORT]... [--banner ADDR:PORT]...

--tls      HTTP/1.1 over TLS; the certificate is chosen by SNI from
           DIR/NAME.crt and DIR/NAME.key (tests/pki/gen.sh), default
           registry-1.docker.io. Paths:
             GET /hello                 200 "hello\\n"
             GET /v2/                   200 "{}"
             GET /file/NAME             --data/NAME, Content-Length
             GET /v2/NAME/blobs/sha256:HEX
                                        the file of --data whose sha256 is HEX
                                        (404 when none)
             GET /v2/bad/blobs/sha256:HEX   200 with the file of that digest,
                                        its last bit flipped (digest mismatch)
             GET /cut                   Content-Length 1000000, 300000 bytes, close
             GET /cut-chunked           chunked, a chunk cut short, close
             GET /stall                 head (Content-Length 1000000) and 1000
                                        bytes, then nothing for 60 s
             GET /stall-head            nothing at all for 60 s
             GET /slow                  Content-Length 50000000, 64 KiB every
                                        50 ms (a client leaves mid-stream)
             GET /anything-else?...     200 "ok\\n"
           Each request is logged as "REQ <conn> <method> <path>" and each
           connection's end as "END <conn> sent=<bytes> why=<reason>".
--http     the same paths without TLS.
--record   reads everything a connection sends, appending it to
           REC/ADDR_PORT.bin and counting connections in REC/ADDR_PORT.conns;
           answers each complete head with 200 "ok" (Content-Length).
--banner   on accept writes "banner ADDR:PORT\\n", then echoes what it reads;
           counts connections in REC/ADDR_PORT.conns.
"""
import argparse
import hashlib
import os
import socket
import ssl
import sys
import threading
import time

LOCK = threading.Lock()
STATE = {"conn": 0}
SHA = {}


def log(msg):
    with LOCK:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()


def bump(rec, name):
    path = os.path.join(rec, name + ".conns")
    with LOCK:
        try:
            n = int(open(path).read().strip() or 0)
        except (OSError, ValueError):
            n = 0
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % (n + 1))
        os.replace(path + ".tmp", path)


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


def listener(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(hostport(addr))
    s.listen(1024)
    return s


def serve(sock, handler, *args):
    def loop():
        while True:
            try:
                c, peer = sock.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c, peer) + args, daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


# ---------------------------------------------------------------- record / banner

def record(c, peer, rec, name):
    bump(rec, name)
    buf = b""
    c.settimeout(120)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            with LOCK:
                with open(os.path.join(rec, name + ".bin"), "ab") as f:
                    f.write(d)
            buf += d
            while b"\r\n\r\n" in buf:
                buf = buf.split(b"\r\n\r\n", 1)[1]
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    except OSError:
        pass
    finally:
        c.close()


def banner(c, peer, rec, name):
    bump(rec, name)
    c.settimeout(120)
    try:
        c.sendall(b"banner " + name.encode() + b"\n")
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    finally:
        c.close()


# ---------------------------------------------------------------- HTTP

class Conn:
    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.sent = 0

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
            if len(self.buf) > 1 << 20:
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
        hdrs = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        return method, target, hdrs

    def skip_body(self, hdrs):
        n = int(hdrs.get("content-length", "0") or 0)
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                break
            self.buf += d
        self.buf = self.buf[n:]

    def w(self, b):
        self.s.sendall(b)
        self.sent += len(b)


def answer(c, status, body, ctype="text/plain", extra=()):
    h = ["HTTP/1.1 %s" % status, "Content-Type: %s" % ctype, "Content-Length: %d" % len(body)]
    h += list(extra)
    c.w(("\r\n".join(h) + "\r\n\r\n").encode() + body)


def send_file(c, method, path):
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        c.w(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % size)
        if method == "HEAD":
            return
        while True:
            b = f.read(256 * 1024)
            if not b:
                break
            c.w(b)


def http_conn(sock, peer, ctx, data, cid):
    why = "eof"
    c = None
    try:
        sock.settimeout(120)
        if ctx is not None:
            sock = ctx.wrap_socket(sock, server_side=True)
        c = Conn(sock)
        while True:
            r = c.read_head()
            if r is None:
                break
            method, target, hdrs = r
            c.skip_body(hdrs)
            path = target.split("?", 1)[0]
            log("REQ %d %s %s" % (cid, method, path))
            if path == "/hello":
                answer(c, "200 OK", b"hello\n")
            elif path == "/v2/":
                answer(c, "200 OK", b"{}", "application/json",
                       ["Docker-Distribution-Api-Version: registry/2.0"])
            elif path.startswith("/file/") and data:
                p = os.path.join(data, os.path.basename(path[6:]))
                if os.path.isfile(p):
                    send_file(c, method, p)
                else:
                    answer(c, "404 Not Found", b"no such file\n")
            elif path.startswith("/v2/bad/blobs/sha256:"):
                hexd = path.rsplit("sha256:", 1)[1]
                if hexd in SHA:
                    # the file with its last bit flipped: one byte wrong
                    with open(SHA[hexd], "rb") as f:
                        body = bytearray(f.read())
                    body[-1] ^= 1
                    body = bytes(body)
                else:
                    body = b"these are not the bytes you hashed\n" * 100
                answer(c, "200 OK", body, "application/octet-stream")
            elif "/blobs/sha256:" in path and path.startswith("/v2/"):
                hexd = path.rsplit("sha256:", 1)[1]
                if hexd in SHA:
                    send_file(c, method, SHA[hexd])
                else:
                    answer(c, "404 Not Found", b'{"errors":[{"code":"BLOB_UNKNOWN"}]}',
                           "application/json")
            elif path == "/cut":
                c.w(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"c" * 300000)
                why = "cut"
                break
            elif path == "/cut-chunked":
                c.w(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"10000\r\n" + b"k" * 30000)
                why = "cut"
                break
            elif path == "/stall":
                c.w(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"s" * 1000)
                why = stall(sock, 60)
                break
            elif path == "/stall-head":
                why = stall(sock, 60)
                break
            elif path == "/slow":
                c.w(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n")
                chunk = b"w" * 65536
                try:
                    for _ in range(50000000 // 65536):
                        c.w(chunk)
                        time.sleep(0.05)
                    why = "done"
                except OSError as e:
                    why = "client-gone:%s" % type(e).__name__
                break
            else:
                answer(c, "200 OK", b"ok\n")
            if hdrs.get("connection", "").lower() == "close":
                break
    except (OSError, ssl.SSLError, ValueError) as e:
        why = "error:%s" % type(e).__name__
    finally:
        log("END %d sent=%d why=%s" % (cid, c.sent if c else 0, why))
        try:
            sock.close()
        except OSError:
            pass


def stall(sock, secs):
    """Waits up to secs for the peer to close; returns why it stopped."""
    sock.settimeout(secs)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return "peer-closed"
    except socket.timeout:
        return "stall-timeout"
    except (OSError, ssl.SSLError) as e:
        return "peer-gone:%s" % type(e).__name__


def http_accept(c, peer, ctx, data):
    with LOCK:
        STATE["conn"] += 1
        cid = STATE["conn"]
    http_conn(c, peer, ctx, data, cid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pki")
    ap.add_argument("--data")
    ap.add_argument("--rec", required=True)
    ap.add_argument("--tls", action="append", default=[])
    ap.add_argument("--http", action="append", default=[])
    ap.add_argument("--record", action="append", default=[])
    ap.add_argument("--banner", action="append", default=[])
    a = ap.parse_args()
    os.makedirs(a.rec, exist_ok=True)
    if a.data:
        for n in os.listdir(a.data):
            p = os.path.join(a.data, n)
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
            SHA[h.hexdigest()] = p
    ctx = None
    if a.tls:
        ctxs = {}
        for n in os.listdir(a.pki):
            if n.endswith(".crt") and n not in ("ca.crt", "token.crt"):
                name = n[:-4]
                x = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                x.load_cert_chain(os.path.join(a.pki, n), os.path.join(a.pki, name + ".key"))
                ctxs[name] = x
        ctx = ctxs["registry-1.docker.io"]

        def pick(sslsock, name, _ctx):
            if name in ctxs:
                sslsock.context = ctxs[name]
        ctx.sni_callback = pick
    for addr in a.tls:
        serve(listener(addr), http_accept, ctx, a.data)
    for addr in a.http:
        serve(listener(addr), http_accept, None, a.data)
    for addr in a.record:
        serve(listener(addr), record, a.rec, addr.replace(":", "_"))
    for addr in a.banner:
        serve(listener(addr), banner, a.rec, addr.replace(":", "_"))
    log("origin up: tls=%s http=%s record=%s banner=%s files=%d" %
        (a.tls, a.http, a.record, a.banner, len(SHA)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
