#!/usr/bin/python3
"""A misbehaving HTTPS relay for hubgate's failover tests (stdlib only).

It is a one-name relay like tests/integration/links/nginx-relay.conf.in:
    /v2/...   -> https://registry-1.docker.io
    /token    -> https://auth.docker.io
    anything  -> https://production.cloudflare.docker.com
with WWW-Authenticate realms and Location headers rewritten to its own
origin (--origin). The Docker Hub names must resolve where it runs (the hub
namespace's hosts file); upstream TLS is verified against --ca.

Faults (any combination):
  --429-manifests        GET/HEAD of /v2/<name>/manifests/<ref> is answered
                         429 with Retry-After: --retry-after (the request is
                         not forwarded)
  --cut-after N          the first GET of a blob body (a path below
                         /docker/registry/v2/blobs/ or /v2/<name>/blobs/,
                         without Range, larger than N bytes) gets the real
                         head and the first N body bytes, then the
                         connection is closed; later requests (the Range
                         request that resumes it) are relayed as they are
  --ranges MODE          pass (default): Range and Accept-Ranges as the
                         origin has them; none: an origin without ranges
                         (Range not forwarded, no Accept-Ranges); ignore:
                         one that says Accept-Ranges: bytes but answers
                         every Range with the whole body (200)

Every request is appended to --log as one JSON object a line:
    {"method", "path" (no query), "range", "status", "sent", "cut", "note"}
Authorization values and query strings are never written.
"""

import argparse
import http.client
import json
import re
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tls_server import TLSServer

REGISTRY = "registry-1.docker.io"
AUTH = "auth.docker.io"
BLOBS = "production.cloudflare.docker.com"
MANIFEST_RE = re.compile(r"^/v2/.+/manifests/[^/]+$")
BLOB_RE = re.compile(r"^(/docker/registry/v2/blobs/|/v2/.+/blobs/sha256:)")
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
       "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"}
FORWARD = ("authorization", "accept", "range", "user-agent", "if-none-match",
           "if-range", "docker-distribution-api-version")
CHUNK = 64 * 1024


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.cut_done = False
        self.log = open(args.log, "a", buffering=1)

    def record(self, **kw):
        with self.lock:
            self.log.write(json.dumps(kw, sort_keys=True) + "\n")

    def take_cut(self):
        """True once: the caller is the request to cut."""
        with self.lock:
            if self.cut_done or self.args.cut_after <= 0:
                return False
            self.cut_done = True
            return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-relay"

    def log_message(self, fmt, *args):
        sys.stderr.write("fault-relay: %s %s\n" % (self.address_string(),
                                                     fmt % args))
        sys.stderr.flush()

    def do_GET(self):
        self.relay()

    def do_HEAD(self):
        self.relay()

    def rewrite(self, value):
        own = self.server.state.args.origin
        for name in (AUTH, BLOBS):
            value = value.replace("https://" + name, own)
        return value

    def reply(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def relay(self):
        st = self.server.state
        path = urlsplit(self.path).path
        rng = self.headers.get("Range", "")
        if st.args.too_many_manifests and MANIFEST_RE.match(path):
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"fault relay: 429"}]}'
            self.reply(429, body, [("Retry-After", str(st.args.retry_after))])
            st.record(method=self.command, path=path, range=rng, status=429,
                      sent=len(body), cut=False, note="429-manifests")
            return
        if path.startswith("/v2/"):
            host = REGISTRY
        elif path.startswith("/token"):
            host = AUTH
        else:
            host = BLOBS
        ctx = ssl.create_default_context(cafile=st.args.ca)
        up = http.client.HTTPSConnection(host, 443, timeout=60, context=ctx)
        try:
            hdrs = {"Host": host, "Connection": "close"}
            for k in FORWARD:
                if k == "range" and st.args.ranges != "pass":
                    continue
                v = self.headers.get(k)
                if v is not None:
                    hdrs[k] = v
            # Several Accept lines must all reach the registry.
            accepts = self.headers.get_all("Accept") or []
            if len(accepts) > 1:
                hdrs["Accept"] = ", ".join(accepts)
            up.request(self.command, self.path, headers=hdrs)
            resp = up.getresponse()
        except (OSError, http.client.HTTPException) as e:
            body = json.dumps({"errors": [{"code": "UNAVAILABLE",
                                           "message": "fault relay: %s" % e}]}).encode()
            self.reply(502, body)
            st.record(method=self.command, path=path, range=rng, status=502,
                      sent=len(body), cut=False, note="upstream %s" % e)
            up.close()
            return
        length = resp.getheader("Content-Length")
        body = None
        if length is None and self.command != "HEAD":
            body = resp.read()
            length = str(len(body))
        cut = (self.command == "GET" and not rng and resp.status == 200 and
               BLOB_RE.match(path) is not None and length is not None and
               int(length) > st.args.cut_after > 0 and st.take_cut())
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP or lk == "content-length":
                continue
            if lk == "accept-ranges" and st.args.ranges != "pass":
                continue
            if lk in ("location", "www-authenticate"):
                v = self.rewrite(v)
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        if st.args.ranges == "ignore" and resp.status == 200:
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        sent = 0
        try:
            if self.command == "HEAD":
                pass
            elif body is not None:
                self.wfile.write(body)
                sent = len(body)
            else:
                left = int(length)
                limit = st.args.cut_after if cut else left
                while sent < limit:
                    data = resp.read(min(CHUNK, limit - sent))
                    if not data:
                        break
                    self.wfile.write(data)
                    sent += len(data)
                if cut:
                    self.wfile.flush()
                    self.close_connection = True
                    # An abrupt end: no close_notify, just the TCP close.
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        finally:
            up.close()
            st.record(method=self.command, path=path, range=rng, status=resp.status,
                      sent=sent, cut=bool(cut), note="relayed to %s" % host)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="IP:PORT")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True, help="CA bundle to verify the origins")
    p.add_argument("--origin", required=True, help="own origin, https://NAME[:PORT]")
    p.add_argument("--log", required=True)
    p.add_argument("--429-manifests", dest="too_many_manifests", action="store_true")
    p.add_argument("--retry-after", type=int, default=30)
    p.add_argument("--cut-after", type=int, default=0)
    p.add_argument("--ranges", choices=("pass", "none", "ignore"), default="pass")
    a = p.parse_args()
    srv = TLSServer(a.listen, Handler, "fault-relay", a.cert, a.key, 120)
    srv.state = State(a)
    sys.stderr.write("fault-relay: listening on %s as %s (429-manifests=%s, cut-after=%d)\n"
                     % (a.listen, a.origin, a.too_many_manifests, a.cut_after))
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
