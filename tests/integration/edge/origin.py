#!/usr/bin/python3
"""origin.py — the origin server of t_05_http_edge (Python stdlib only).

    origin.py --cert C --key K --data DIR --tls 127.0.0.1:443 \
              [--tls 127.0.0.1:8443] [--http 127.0.0.1:80]

Serves the same paths on every listener, HTTP/1.1 with keep-alive; every
response carries X-Conn: the number of the connection it went out on, so
a test can tell whether hubgate reused its upstream connection. Logs one
line per connection and per request to stdout.

    GET  /hello            200 "hello\\n" (Content-Length)
    GET  /file/NAME        DIR/NAME (Content-Length); "Range: bytes=A-B"
                           (or A-) answers 206 with Content-Range
    GET  /chunked          chunked: "chunk-0\\n" .. "chunk-9\\n"
    GET  /noclen           200 without Content-Length or chunked; the
                           body ends when the connection closes
    GET  /cut              Content-Length 100000, 50000 bytes, then close
    GET  /cut-chunked      chunked, a chunk cut short, then close
    GET  /204              204, no body
    GET  /304              304 with ETag, no body
    GET  /304cl            304 with ETag and the Content-Length of the
                           representation (RFC 9110 8.6), no body
    GET  /trailer-split    chunked "hello" and a trailer field whose value
                           is written in two pieces 0.3 s apart
    GET  /headers          the request's header fields, one per line
    POST|PUT /echo         reads the body (Content-Length or chunked,
                           trailers skipped) and answers
                           "len=N sha256=HEX framing=cl|chunked|none\\n"
    HEAD                   any GET path: the head only
"""
import argparse
import hashlib
import http.server
import os
import re
import socket
import socketserver
import ssl
import sys
import threading
import time

LOCK = threading.Lock()
STATE = {"conns": 0}


def log(msg):
    with LOCK:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, ctx, data):
        self.ctx = ctx
        self.data = data
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ctx is not None:
            # The handshake runs in the connection's thread (setup()), so a
            # client that stalls it cannot block the accept loop.
            sock = self.ctx.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        log("error on a connection from %s:%s: %s" % (client_address[0], client_address[1],
                                                      sys.exc_info()[1]))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "edge-origin"
    sys_version = ""
    timeout = 60

    def setup(self):
        with LOCK:
            STATE["conns"] += 1
            self.conn_id = STATE["conns"]
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()
        log("conn=%d accepted on port %d" % (self.conn_id, self.server.server_address[1]))

    def log_message(self, fmt, *args):
        pass

    def w(self, b):
        self.wfile.write(b)
        self.wfile.flush()

    def head(self, status, fields, reason=None):
        self.send_response(status, reason)
        self.send_header("X-Conn", str(self.conn_id))
        for k, v in fields:
            self.send_header(k, v)
        self.end_headers()

    def simple(self, status, body, ctype="text/plain"):
        self.head(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        if self.command != "HEAD":
            self.w(body)

    # ---- GET / HEAD

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        log("conn=%d %s %s" % (self.conn_id, self.command, self.path))
        p = self.path.split("?", 1)[0]
        if p == "/hello":
            self.simple(200, b"hello\n")
        elif p.startswith("/file/"):
            self.serve_file(p[6:])
        elif p == "/chunked":
            self.head(200, [("Transfer-Encoding", "chunked")])
            if self.command != "HEAD":
                for i in range(10):
                    part = b"chunk-%d\n" % i
                    self.w(b"%x\r\n%s\r\n" % (len(part), part))
                self.w(b"0\r\n\r\n")
        elif p == "/noclen":
            self.head(200, [("Content-Type", "text/plain")])
            if self.command != "HEAD":
                for i in range(100):
                    self.w(b"line %03d of a body that ends at close\n" % i)
            self.close_connection = True
        elif p == "/cut":
            self.head(200, [("Content-Length", "100000")])
            if self.command != "HEAD":
                self.w(b"x" * 50000)
            self.close_connection = True
        elif p == "/cut-chunked":
            self.head(200, [("Transfer-Encoding", "chunked")])
            if self.command != "HEAD":
                self.w(b"1000\r\n" + b"y" * 2000)
            self.close_connection = True
        elif p.startswith("/v2/") and "/blobs/sha256:" in p:
            # a registry sending the blob to a loopback service: hubgate
            # must not fetch it for anyone
            self.head(307, [("Location", "https://origin.test:8443/secret"),
                            ("Content-Length", "0")])
        elif p == "/secret":
            self.simple(200, b"loopback secret\n")
        elif p in ("/forge-head", "/forge-204", "/forge-304"):
            # A bodiless answer, and in the same write a second response
            # nobody asked for: it must reach no client.
            st = {"/forge-head": 200, "/forge-204": 204, "/forge-304": 304}[p]
            cl = b"Content-Length: 5\r\n" if st == 200 else b""
            self.w(b"HTTP/1.1 %d X\r\n%sX-Conn: %d\r\n\r\n" % (st, cl, self.conn_id) +
                   b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Forged: yes\r\n\r\nforged\n")
            self.close_connection = True
        elif p == "/204":
            self.head(204, [])
        elif p == "/304":
            self.head(304, [("ETag", '"v1"')])
        elif p == "/304cl":
            self.head(304, [("ETag", '"v1"'), ("Content-Length", "1234")])
        elif p == "/trailer-split":
            self.head(200, [("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum")])
            if self.command != "HEAD":
                self.w(b"5\r\nhello\r\n0\r\nX-Checksum: ab")
                time.sleep(0.3)
                self.w(b"cdef\r\n\r\n")
        elif p == "/headers":
            body = "".join("%s: %s\n" % (k, v) for k, v in self.headers.items()).encode()
            self.simple(200, body)
        else:
            self.simple(404, b"no such path\n")

    def serve_file(self, name):
        if "/" in name or name.startswith("."):
            self.simple(404, b"bad name\n")
            return
        path = os.path.join(self.server.data, name)
        try:
            size = os.path.getsize(path)
        except OSError:
            self.simple(404, b"no such file\n")
            return
        start, end, status, fields = 0, size - 1, 200, []
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not m or int(m.group(1)) >= size:
                self.head(416, [("Content-Range", "bytes */%d" % size), ("Content-Length", "0")])
                return
            start = int(m.group(1))
            if m.group(2):
                end = min(int(m.group(2)), size - 1)
            status = 206
            fields.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        n = end - start + 1
        fields += [("Content-Type", "application/octet-stream"), ("Content-Length", str(n)),
                   ("Accept-Ranges", "bytes")]
        self.head(status, fields)
        if self.command == "HEAD":
            return
        with open(path, "rb") as f:
            f.seek(start)
            while n > 0:
                b = f.read(min(n, 1 << 20))
                if not b:
                    break
                self.wfile.write(b)
                n -= len(b)
        self.wfile.flush()

    # ---- POST / PUT

    def read_hashed(self, left, h):
        """Reads exactly left body bytes into hash h; returns left."""
        n = left
        while left:
            b = self.rfile.read(min(left, 1 << 20))
            if not b:
                raise ConnectionError("body cut")
            h.update(b)
            left -= len(b)
        return n

    def do_POST(self):
        log("conn=%d %s %s" % (self.conn_id, self.command, self.path))
        if self.path.split("?", 1)[0] != "/echo":
            self.simple(404, b"no such path\n")
            return
        h = hashlib.sha256()
        total = 0
        te = self.headers.get("Transfer-Encoding", "")
        cl = self.headers.get("Content-Length")
        if te.lower() == "chunked":
            framing = "chunked"
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += self.read_hashed(size, h)
                if self.rfile.read(2) != b"\r\n":
                    raise ConnectionError("bad chunk end")
        elif cl is not None:
            framing = "cl"
            total = self.read_hashed(int(cl), h)
        else:
            framing = "none"
        log("conn=%d %s /echo: %d bytes, %s" % (self.conn_id, self.command, total, framing))
        self.simple(200, b"len=%d sha256=%s framing=%s\n" % (total, h.hexdigest().encode(),
                                                             framing.encode()))

    def do_PUT(self):
        self.do_POST()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tls", action="append", default=[])
    ap.add_argument("--http", action="append", default=[])
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    servers = []
    for spec, c in [(s, ctx) for s in a.tls] + [(s, None) for s in a.http]:
        host, port = spec.rsplit(":", 1)
        srv = Server((host, int(port)), Handler, c, a.data)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        log("listening on %s (%s)" % (spec, "tls" if c else "http"))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
