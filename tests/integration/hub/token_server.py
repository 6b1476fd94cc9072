#!/usr/bin/python3
"""Stand-in for auth.docker.io: the Docker registry token service.

Issues RS256 JWTs in the format distribution's `auth: token:` checks: the
header carries `x5c` with the signing certificate (which must be in the
registry's rootcertbundle), the claims carry iss, aud (= service), exp, nbf,
iat, jti and `access`. Anyone gets `pull`; `push`, `delete` and `*` only with
HTTP Basic credentials matching --push-user, as on Docker Hub. A
--private-repo repository is granted nothing without those credentials (an empty grant, as
Docker Hub answers for a private repository: the registry then says 401).

    token_server.py --listen 127.0.0.1:5001 --key token.key --cert token.crt \
        --issuer ISSUER --service registry.docker.io --push-user USER:PASS

GET /token?service=...&scope=...&scope=...   (docker, skopeo)
POST /token  grant_type=password|refresh_token (OAuth2 form)
Logs one line per request to stderr.
"""

import argparse
import base64
import datetime
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

EXPIRES_IN = 300
PULL_ONLY = {"pull"}


def parse_scope(scope):
    """'repository:library/x:pull,push' -> ('repository', 'library/x', [...]).

    The name may hold a ':' only in a registry-qualified form we never see,
    so split the type off the front and the actions off the back."""
    typ, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not typ or not name:
        return None
    typ = typ.split("(", 1)[0]  # "repository(plugin)" -> "repository"
    return typ, name, [a for a in actions.split(",") if a]


class Issuer:
    def __init__(self, args):
        with open(args.key, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), None)
        with open(args.cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.x5c = [base64.b64encode(
            cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.issuer = args.issuer
        self.service = args.service
        self.push_user = args.push_user
        # (registries/token_service.py builds an Issuer from its own
        # arguments, whose --private means something else)
        self.private_repos = set(getattr(args, "private_repo", None) or [])

    def grant(self, scopes, account, authed):
        access = []
        for s in scopes:
            parsed = parse_scope(s)
            if parsed is None:
                continue
            typ, name, actions = parsed
            if authed:
                allowed = [a for a in actions
                           if a in ("pull", "push", "delete", "*")]
            elif name in self.private_repos:
                allowed = []
            else:
                allowed = [a for a in actions if a in PULL_ONLY]
            if typ != "repository" and not authed:
                allowed = []
            access.append({"type": typ, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": now + EXPIRES_IN,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = jwt.encode(claims, self.key, algorithm="RS256",
                           headers={"x5c": self.x5c})
        issued = datetime.datetime.fromtimestamp(
            now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "access_token": token,
                "expires_in": EXPIRES_IN, "issued_at": issued}


class Handler(BaseHTTPRequestHandler):
    server_version = "hubgate-test-token/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("token: %s %s\n" % (self.address_string(),
                                             fmt % args))
        sys.stderr.flush()

    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def basic_user(self):
        """None: no credentials; False: wrong ones; else the user name."""
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None
        try:
            user_pass = base64.b64decode(h[6:].strip()).decode()
        except Exception:
            return False
        return check_user(self.server.issuer, user_pass)

    def deny(self):
        self.send_json(401, {"details": "incorrect username or password"},
                       {"WWW-Authenticate":
                        'Basic realm="hubgate test token service"'})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/token":
            self.send_json(404, {"details": "not found"})
            return
        q = parse_qs(url.query)
        iss = self.server.issuer
        if q.get("service", [iss.service])[0] != iss.service:
            self.send_json(400, {"details": "unknown service"})
            return
        user = self.basic_user()
        if user is False:
            self.deny()
            return
        account = user or q.get("account", [""])[0]
        self.send_json(200, iss.grant(q.get("scope", []), account,
                                      bool(user)))

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path != "/token":
            self.send_json(404, {"details": "not found"})
            return
        n = int(self.headers.get("Content-Length", "0") or 0)
        form = parse_qs(self.rfile.read(n).decode()) if n else {}
        iss = self.server.issuer
        grant = form.get("grant_type", [""])[0]
        user = None
        if grant == "password":
            user = check_user(iss, "%s:%s" % (form.get("username", [""])[0],
                                              form.get("password", [""])[0]))
            if not user:
                self.deny()
                return
        elif grant == "refresh_token":
            token = form.get("refresh_token", [""])[0]
            user = iss.push_user.partition(":")[0] if (
                token == "refresh-" + iss.push_user) else None
            if not user:
                self.deny()
                return
        else:
            self.send_json(400, {"details": "unsupported grant_type"})
            return
        resp = iss.grant(" ".join(form.get("scope", [])).split(), user, True)
        if form.get("access_type", [""])[0] == "offline":
            resp["refresh_token"] = "refresh-" + iss.push_user
        self.send_json(200, resp)


def check_user(issuer, user_pass):
    if issuer.push_user and secrets.compare_digest(
            user_pass.encode(), issuer.push_user.encode()):
        return user_pass.partition(":")[0]
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:5001")
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", default="registry.docker.io")
    p.add_argument("--push-user", default="", help="USER:PASS allowed to push")
    p.add_argument("--private-repo", action="append", default=[],
                   help="repository pulled only with --push-user's credentials")
    args = p.parse_args()
    host, _, port = args.listen.rpartition(":")
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.issuer = Issuer(args)
    sys.stderr.write("token: listening on %s\n" % args.listen)
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
