#!/usr/bin/python3
"""A Docker Hub token service that demands HTTP Basic credentials (stdlib).

Test double for auth.docker.io in t_32: TLS on --listen with the
auth.docker.io certificate of the test internet CA. A GET /token must carry
"Authorization: Basic base64(--expect)" (the contents of the file, one line
user:token); then it is passed on, without the Authorization header, to the
real token service (--token-url, lib.sh's token_server.py) and its answer
returned. Without credentials, or with others, it answers 401.

--record gets one line per request, never the credentials themselves:
    basic=ok user=NAME status=200
    basic=missing status=401
    basic=wrong status=401
"""

import argparse
import base64
import secrets
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tls_server import TLSServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "auth-double"

    def log_message(self, fmt, *args):
        # The request line holds only the path and the scope query.
        sys.stderr.write("auth-double: %s %s\n" % (self.address_string(), fmt % args))
        sys.stderr.flush()

    def record(self, line):
        with self.server.lock:
            with open(self.server.args.record, "a") as f:
                f.write(line + "\n")

    def send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if urlsplit(self.path).path != "/token":
            self.send(404, b'{"details":"not found"}')
            return
        h = self.headers.get("Authorization", "")
        got = None
        if h[:6].lower() == "basic ":
            try:
                got = base64.b64decode(h[6:].strip(), validate=True)
            except ValueError:
                got = b""
        want = self.server.expect
        if got is None or not secrets.compare_digest(got, want):
            kind = "missing" if got is None else "wrong"
            self.send(401, b'{"details":"incorrect username or password"}',
                      extra=[("WWW-Authenticate", 'Basic realm="auth double"')])
            self.record("basic=%s status=401" % kind)
            return
        # Passed on as an anonymous request: the query, no Authorization.
        req = urllib.request.Request(self.server.args.token_url + self.path[len("/token"):])
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                code, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as e:
            code, body, ctype = e.code, e.read(), "application/json"
        except OSError as e:
            code, body, ctype = 502, ('{"details":"%s"}' % e).encode(), "application/json"
        self.send(code, body, ctype)
        self.record("basic=ok user=%s status=%d" % (want.split(b":", 1)[0].decode(), code))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="IP:PORT")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--expect", required=True, help="file with one line user:token")
    p.add_argument("--token-url", required=True, help="e.g. http://127.0.0.1:5001/token")
    p.add_argument("--record", required=True)
    a = p.parse_args()
    with open(a.expect, "rb") as f:
        expect = f.read().strip()
    srv = TLSServer(a.listen, Handler, "auth-double", a.cert, a.key, 60)
    srv.args = a
    srv.expect = expect
    srv.lock = threading.Lock()
    sys.stderr.write("auth-double: listening on %s\n" % a.listen)
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
