#!/usr/bin/python3
"""A registry token service for the stand-ins of t_33_registries (ghcr.io's
realm https://ghcr.io/token, quay.io's https://quay.io/v2/auth): the RS256
tokens of hub/token_server.py (its Issuer), on a path of choice, with one
private repository and a record of every request's credentials.

    token_service.py --listen 127.0.0.1:5111 --path /token --service ghcr.io \
        --key token.key --cert token.crt --issuer ISSUER \
        --push-user USER:PASS --account USER:TOKEN --private owner/private \
        --record FILE

GET PATH?service=...&scope=...: anonymous callers get pull on every
repository but the --private ones (an empty grant there, as ghcr.io answers
for a private package without credentials: the registry then says 401);
Basic --account gets pull on all, including --private; Basic --push-user
gets everything. Wrong Basic credentials: 401. Each request appends one
line to --record:
    host=HOST path=PATH auth=none|basic|bearer|other user=NAME|- cred=account|push|wrong|- status=N scope=...
(the user name, never the secret).
"""

import argparse
import base64
import os
import secrets
import sys
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "hub"))
import token_server  # noqa: E402  (hub/token_server.py)


class Handler(token_server.Handler):
    server_version = "hubgate-test-registry-token/1"

    def record(self, auth, user, cred, status, scopes):
        line = "host=%s path=%s auth=%s user=%s cred=%s status=%d scope=%s\n" % (
            self.headers.get("Host", "-"), urlsplit(self.path).path, auth,
            user or "-", cred or "-", status, ",".join(scopes) or "-")
        with open(self.server.record, "a") as f:
            f.write(line)

    def do_GET(self):
        srv = self.server
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        scopes = q.get("scope", [])
        h = self.headers.get("Authorization", "")
        kind = h.split(" ", 1)[0].lower() if h else "none"
        if kind not in ("none", "basic", "bearer"):
            kind = "other"
        user, cred = None, None
        if kind == "basic":
            try:
                up = base64.b64decode(h[6:].strip()).decode()
            except Exception:
                up = ""
            user = up.partition(":")[0] or "?"
            if srv.account and secrets.compare_digest(up.encode(), srv.account.encode()):
                cred = "account"
            elif srv.issuer.push_user and secrets.compare_digest(
                    up.encode(), srv.issuer.push_user.encode()):
                cred = "push"
            else:
                cred = "wrong"
        if url.path != srv.path:
            self.record(kind, user, cred, 404, scopes)
            self.send_json(404, {"details": "not found"})
            return
        if q.get("service", [srv.issuer.service])[0] != srv.issuer.service:
            self.record(kind, user, cred, 400, scopes)
            self.send_json(400, {"details": "unknown service"})
            return
        if cred == "wrong":
            self.record(kind, user, cred, 401, scopes)
            self.deny()
            return
        if cred not in ("account", "push"):
            # The private repositories: no access for anyone else.
            scopes_ok = [s for s in scopes
                         if (token_server.parse_scope(s) or ("", "", []))[1]
                         not in srv.private]
        else:
            scopes_ok = scopes
        resp = srv.issuer.grant(scopes_ok, user or "", cred == "push")
        self.record(kind, user, cred, 200, scopes)
        self.send_json(200, resp)

    def do_POST(self):
        self.record("-", None, None, 405, [])
        self.send_json(405, {"details": "GET only"})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--path", default="/token")
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--push-user", default="")
    p.add_argument("--account", default="", help="USER:TOKEN that may pull --private")
    p.add_argument("--private", action="append", default=[])
    p.add_argument("--record", required=True)
    args = p.parse_args()
    host, _, port = args.listen.rpartition(":")
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.issuer = token_server.Issuer(args)
    srv.path = args.path
    srv.account = args.account
    srv.private = set(args.private)
    srv.record = args.record
    sys.stderr.write("token(%s): listening on %s%s\n" % (args.service, args.listen, args.path))
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
