#!/usr/bin/env python3
"""mkseeds.py — writes the seed corpora of tests/fuzz/corpus/<target>/.

The seeds are committed; this script is how they were made, so they can be
regenerated (python3 tests/fuzz/mkseeds.py) after a format change. Every
seed starts with the target's option byte (see the comment at the top of
each fuzz_<target>.c). Messages follow Docker Hub's pull protocol as
dockerd speaks it: the /v2/ challenge, the token request, manifest HEAD and
GET, the blob GET answered by a 307 to production.cloudflare.docker.com.
"""
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

UA = "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.1.0-13-amd64 os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))"
DIGEST = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a"
LAYER = "sha256:c1ec31eb59444d78df06a974d155e597c894ab4cda84f08294145e845394988e"
TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3MiOltdfQ.c2lnbmF0dXJl"
ACCEPTS = [
    "application/json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
]


def crlf(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def req(method, target, host, *hdrs, body=b""):
    return crlf(f"{method} {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {UA}", *hdrs) + body


def chunked(*parts, trailer=""):
    out = b""
    for p in parts:
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n" + trailer.encode() + b"\r\n"


INDEX = (b'{"manifests":[{"annotations":{},"digest":"sha256:e2fc4e5012d16e7fe466f5291c476431beaa1f9b'
         b'90a5c2125b493ed28e2aba57","mediaType":"application/vnd.oci.image.manifest.v1+json",'
         b'"platform":{"architecture":"amd64","os":"linux"},"size":861}],'
         b'"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}')
ERR401 = (b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
          b'"detail":null}]}\n')
TOKJSON = ('{"token":"%s","access_token":"%s","expires_in":300,'
           '"issued_at":"2024-07-23T01:04:08.98927365Z"}' % (TOKEN, TOKEN)).encode()
BLOB = b"\x1f\x8b\x08\x00" + bytes(range(64))
LOC = ("https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/"
       "d2/%s/data?verify=1721700000-abcdefABCDEF%%3D" % DIGEST[7:])


def http1_request():
    R = "registry-1.docker.io"
    acc = [f"Accept: {a}" for a in ACCEPTS]
    auth = f"Authorization: Bearer {TOKEN}"
    s = {}
    s["v2_challenge"] = (0x00, req("GET", "/v2/", R, "Accept-Encoding: gzip", "Connection: close"))
    s["token"] = (0x01 | 3 << 2, req(
        "GET", "/token?scope=repository%3Alibrary%2Fhello-world%3Apull&service=registry.docker.io",
        "auth.docker.io", "Authorization: Basic dXNlcjpwYXNz", "Accept-Encoding: gzip"))
    s["manifest_head"] = (0x02 | 2 << 2 | 1 << 5,
                          req("HEAD", "/v2/library/hello-world/manifests/latest", R, *acc, auth))
    s["manifest_get"] = (0x03, req("GET", f"/v2/library/hello-world/manifests/{DIGEST}", R,
                                   *acc, auth, "Accept-Encoding: gzip"))
    s["blob_get"] = (0x01 | 5 << 2, req("GET", f"/v2/library/hello-world/blobs/{LAYER}", R, auth,
                                        "Accept-Encoding: identity", "Range: bytes=0-"))
    s["cdn_get"] = (0x00, req("GET", LOC[len("https://production.cloudflare.docker.com"):],
                              "production.cloudflare.docker.com", "Referer: https://registry-1.docker.io/v2/"))
    s["connect"] = (0x00, crlf("CONNECT registry-1.docker.io:443 HTTP/1.1",
                               "Host: registry-1.docker.io:443", "User-Agent: Go-http-client/1.1",
                               "Proxy-Authorization: Basic YWxpY2U6c2VjcmV0")
                    + b"\x16\x03\x01\x00\x05hello")
    s["absolute_form"] = (0x02 | 4 << 2, crlf(
        "GET http://site.example.test/index.html?verify=SECRET2&X-Amz-Signature=SECRET3 HTTP/1.1",
        "Host: site.example.test", "Proxy-Connection: keep-alive",
        "Proxy-Authorization: Basic YWxpY2U6c2VjcmV0", "Accept: */*"))
    s["absolute_form_docker"] = (0x00, crlf(
        "GET https://registry-1.docker.io/v2/library/nginx/tags/list HTTP/1.1",
        "Host: registry-1.docker.io", auth))
    s["patch_chunked"] = (0x01 | 6 << 2, req(
        "PATCH", "/v2/library/x/blobs/uploads/3f1c2b?_state=abc", R, auth,
        "Content-Type: application/octet-stream", "Transfer-Encoding: chunked",
        body=chunked(b"layer-bytes-", b"more;", b"x" * 30, trailer="X-Checksum: abc\r\n")))
    s["put_manifest"] = (0x00, req("PUT", "/v2/library/x/manifests/latest", R, auth,
                                   "Content-Type: application/vnd.oci.image.index.v1+json",
                                   f"Content-Length: {len(INDEX)}", body=INDEX))
    s["pipelined"] = (0x02 | 3 << 2 | 2 << 5,
                      req("GET", "/v2/", R) + req("HEAD", "/v2/library/alpine/manifests/3.19", R, auth)
                      + req("GET", "/v2/library/alpine/manifests/3.19", R, auth, "Connection: close"))
    s["expect_continue"] = (0x00, req("POST", "/token", "auth.docker.io", "Expect: 100-continue",
                                      "Content-Type: application/x-www-form-urlencoded",
                                      "Content-Length: 58",
                                      body=b"grant_type=password&service=registry.docker.io&x=yy"))
    s["http10"] = (0x00, b"GET /v2/ HTTP/1.0\r\nHost: registry-1.docker.io\r\n\r\n")
    s["upgrade"] = (0x00, req("GET", "/ws", R, "Connection: Upgrade", "Upgrade: websocket",
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="))
    s["connection_options"] = (0x00, req("GET", "/v2/", R, "Connection: keep-alive, X-Private, content-length",
                                         "X-Private: 1", "Keep-Alive: timeout=5", "TE: trailers",
                                         "Content-Length: 0"))
    s["many_headers"] = (0x80, req("GET", "/v2/", R, *[f"X-H{i}: {i}" for i in range(97)]))
    # framing attacks: each must end in an error, never in a forwarded head
    s["cl_te"] = (0x00, req("POST", "/v2/", R, "Content-Length: 4", "Transfer-Encoding: chunked",
                            body=b"0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"))
    s["dup_cl"] = (0x00, req("POST", "/v2/", R, "Content-Length: 4", "Content-Length: 40", body=b"abcd"))
    s["obs_fold"] = (0x00, req("GET", "/v2/", R, "X-Folded: a", " b"))
    s["space_colon"] = (0x00, req("GET", "/v2/", R, "Transfer-Encoding : chunked"))
    s["bad_chunk"] = (0x00, req("POST", "/v2/", R, "Transfer-Encoding: chunked", body=b"zz\r\nabc\r\n0\r\n\r\n"))
    s["te_gzip_chunked"] = (0x00, req("POST", "/v2/", R, "Transfer-Encoding: gzip, chunked",
                                      body=chunked(b"abc")))
    s["te_not_last"] = (0x00, req("POST", "/v2/", R, "Transfer-Encoding: chunked, gzip", body=b"3\r\nabc"))
    s["bare_lf"] = (0x00, b"GET /v2/ HTTP/1.1\nHost: registry-1.docker.io\n\n")
    s["garbage"] = (0x00, bytes((i * 37 + 11) & 0xff for i in range(200)))
    return s


def resp(status, *hdrs, body=b""):
    return crlf(f"HTTP/1.1 {status}", *hdrs) + body


def http1_response():
    s = {}
    chal = 'WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    s["v2_401"] = (0x00, resp("401 Unauthorized", "Content-Type: application/json",
                              "Docker-Distribution-Api-Version: registry/2.0", chal,
                              f"Content-Length: {len(ERR401)}", body=ERR401))
    s["v2_401_rewrite"] = (0x01 | 2 << 2, resp("401 Unauthorized", chal, "Content-Length: 0"))
    s["token_chunked"] = (0x02 | 1 << 2 | 1 << 5, resp(
        "200 OK", "Content-Type: application/json", "Transfer-Encoding: chunked",
        body=chunked(TOKJSON[:40], TOKJSON[40:])))
    s["manifest_head"] = (0x40, resp("200 OK", "Content-Type: application/vnd.oci.image.index.v1+json",
                                     f"Docker-Content-Digest: {DIGEST}", f"Content-Length: {len(INDEX)}",
                                     "RateLimit-Limit: 100;w=21600", "RateLimit-Remaining: 76;w=21600"))
    s["manifest_get"] = (0x03, resp("200 OK", "Content-Type: application/vnd.oci.image.index.v1+json",
                                    f"Docker-Content-Digest: {DIGEST}", f"Content-Length: {len(INDEX)}",
                                    body=INDEX))
    s["blob_307"] = (0x01 | 2 << 2, resp("307 Temporary Redirect", f"Location: {LOC}",
                                         "Content-Type: text/html; charset=utf-8", "Content-Length: 0"))
    s["cdn_blob"] = (0x00, resp("200 OK", "Content-Type: application/octet-stream",
                                f"Content-Length: {len(BLOB)}", "Accept-Ranges: bytes",
                                'ETag: "abc"', "CF-Cache-Status: HIT", body=BLOB))
    s["cdn_206"] = (0x01 | 4 << 2, resp("206 Partial Content", "Content-Type: application/octet-stream",
                                        f"Content-Range: bytes 10-{len(BLOB) - 1}/{len(BLOB)}",
                                        f"Content-Length: {len(BLOB) - 10}", body=BLOB[10:]))
    s["continue_then_201"] = (0x00, b"HTTP/1.1 100 Continue\r\n\r\n" + resp(
        "201 Created", "Location: /v2/x/blobs/" + DIGEST, "Content-Length: 0"))
    s["no_content"] = (0x00, resp("204 No Content", "Content-Length: 10")
                       + resp("304 Not Modified", 'ETag: "x"') + resp("200 OK", "Content-Length: 2", body=b"ok"))
    s["until_close_10"] = (0x00, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"body until close" * 4)
    s["until_close_11"] = (0x04, resp("200 OK", "Connection: close", body=b"until close"))
    s["chunked_trailer"] = (0x02 | 3 << 2, resp("200 OK", "Transfer-Encoding: chunked", "Trailer: Digest",
                                                body=chunked(b"a" * 17, b"b", trailer="Digest: sha-256=x\r\n")))
    s["429"] = (0x00, resp("429 Too Many Requests", "Retry-After: 21600", "Content-Type: application/json",
                           "Content-Length: 2", body=b"{}"))
    s["503_keepalive_pair"] = (0x00, resp("503 Service Unavailable", "Retry-After: 1", "Content-Length: 0")
                               + resp("200 OK", "Content-Length: 3", body=b"abc"))
    s["connect_established"] = (0x40, b"HTTP/1.1 200 Connection established\r\nProxy-Agent: squid\r\n\r\n"
                                + b"\x16\x03\x03\x00\x10serverhello")
    s["proxy_407"] = (0x00, resp("407 Proxy Authentication Required", 'Proxy-Authenticate: Basic realm="up"',
                                 "Connection: close", "Content-Length: 0"))
    s["hop_fields"] = (0x00, resp("200 OK", "Connection: X-Hop, close", "X-Hop: 1", "Keep-Alive: timeout=5",
                                  "Proxy-Connection: close", "Upgrade: h2c", "Content-Length: 1", body=b"x"))
    s["cl_te"] = (0x00, resp("200 OK", "Content-Length: 3", "Transfer-Encoding: chunked", body=b"3\r\nabc\r\n0\r\n\r\n"))
    s["bad_chunk"] = (0x00, resp("200 OK", "Transfer-Encoding: chunked", body=b"-1\r\nab\r\n"))
    s["huge_cl"] = (0x00, resp("200 OK", "Content-Length: 18446744073709551615", body=b"x"))
    s["switching"] = (0x00, resp("101 Switching Protocols", "Connection: Upgrade", "Upgrade: websocket"))
    s["status_oddities"] = (0x00, b"HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\nHTTP/1.1 600 X\r\n\r\n")
    return s


def connect_target():
    items = [
        "registry-1.docker.io:443", "auth.docker.io:443", "production.cloudflare.docker.com:443",
        "site.example.test:443", "[::1]:3128", "[2001:db8::1]:443", "[::ffff:127.0.0.1]:443",
        "127.0.0.1:22", "169.254.169.254:80", "198.51.100.2:443", "0.0.0.0:3128",
        "http://site.example.test/index.html", "http://site.example.test:8080",
        "https://user:pass@registry-1.docker.io:8443/v2/?q=1#frag",
        "socks5://u:SECRET4@127.0.0.1:1080", "socks5://127.0.0.1:1", "http://u%3Ax:p%40ss@proxy:3128",
        "relay:https://hub.example.com", "relay:https://hub.example.com:8443 via socks5://a:b@10.0.0.1:1080",
        "relay", "direct", "[fe80::1%eth0]:443", "host:0", "host:65536", "a:b:c", ":443", "[::1]",
        "registry-1.docker.io:443\r\nX: y", "exa mple.com:80", "h\x00st:80",
    ]
    return {f"t{i:02d}": ((i * 5) & 7, it.encode()) for i, it in enumerate(items)}


def socks5_reply():
    port = struct.pack(">H", 443)
    v4 = b"\x05\x00\x00\x01" + bytes([198, 51, 100, 2]) + port
    v6 = b"\x05\x00\x00\x04" + bytes(range(16)) + port
    name = b"\x05\x00\x00\x03" + bytes([20]) + b"registry-1.docker.io" + port
    tail = b"\x16\x03\x03\x00\x31\x02\x00\x00\x2d\x03\x03" + bytes(8)
    s = {
        "noauth_v4": (0x00, b"\x05\x00" + v4),
        "noauth_v6": (0x02, b"\x05\x00" + v6),
        "noauth_name": (0x04, b"\x05\x00" + name),
        "noauth_v4_tail": (0x06, b"\x05\x00" + v4 + tail),
        "userpass_v4": (0x01, b"\x05\x02\x01\x00" + v4),
        "userpass_name_tail": (0x03 | 0x10, b"\x05\x02\x01\x00" + name + tail),
        "userpass_v6_small": (0x05 | 0x20, b"\x05\x02\x01\x00" + v6),
        "auth_refused": (0x01, b"\x05\x02\x01\x01"),
        "method_refused": (0x00, b"\x05\xff"),
        "method_unoffered": (0x00, b"\x05\x02"),
        "not_socks": (0x00, b"HTTP/1.1 400 Bad Request\r\n\r\n"),
        "socks4_answer": (0x00, b"\x00\x5a\x00\x00\x00\x00\x00\x00"),
        "rep_refused": (0x00, b"\x05\x00\x05\x05\x00\x01" + bytes(6)),
        "rep_unknown": (0x00, b"\x05\x00\x05\x2a\x00\x01" + bytes(6)),
        "rep_ttl": (0x02, b"\x05\x00\x05\x06\x00\x03\x00" + port),
        "bad_atyp": (0x00, b"\x05\x00\x05\x00\x00\x07" + bytes(8)),
        "name_255": (0x40 | 0x01, b"\x05\x02\x01\x00\x05\x00\x00\x03\xff" + b"a" * 255 + port + tail),
        "name_empty": (0x00, b"\x05\x00\x05\x00\x00\x03\x00" + port),
    }
    return s


def config():
    s = {}
    with open(os.path.join(HERE, "..", "..", "conf", "hubgate.ini"), "rb") as f:
        s["sample_ini"] = (0x00, f.read())
    s["test_ini"] = (0x00, b"""[proxy]
listen = 127.0.0.1:3128
allow = 127.0.0.0/8 ::1/128
[ca]
dir = /tmp/hubgate-it/hubgate-ca
[intercept]
hosts = registry-1.docker.io auth.docker.io production.cloudflare.docker.com
[upstream]
via = direct
ca_file = /tmp/hubgate-it/pki/ca.crt
[dns]
servers =
""")
    s["full_ini"] = (0x00, b"""; every key
[proxy]
listen = [::1]:3128
allow = 127.0.0.0/8, ::1/128, 198.51.100.0/24
users = alice:secret bob:hunter2
users_file = /tmp/hubgate-fuzz/users
deny_targets = 169.254.0.0/16 fe80::/10 10.0.0.0/8
connect_ports = 443 8443
handshake_timeout = 500ms
header_timeout = 2s
idle_timeout = 2m
drain_timeout = 10
max_header_bytes = 1MiB
max_connections = 50
[ca]
dir = var/ca
[intercept]
hosts = registry-1.docker.io auth.docker.io
hosts = production.cloudflare.docker.com
[upstream]
via = socks5://u:SECRET4@127.0.0.1:1080, http://proxy.example:3128, relay, direct
via = relay:https://hub.example.com:8443 via socks5://127.0.0.1:1080
ca_file = /etc/ssl/certs/ca-certificates.crt
connect_timeout = 10s
read_timeout = 300s
retry_after_cap = 60s
follow_redirects = no
hub_credentials = /tmp/hubgate-fuzz/hub
[passthrough]
via = socks5://127.0.0.1:1080, direct
[relay]
registry-1.docker.io = https://hub.example.com
Auth.Docker.IO = https://auth.example.com:8443 ; comment
[admin]
listen = 127.0.0.1:3129
[log]
format = json
[dns]
servers = 198.51.100.53 [2001:db8::53]:53
""")
    s["crlf_continuation"] = (0x00, b"[intercept]\r\nhosts = registry-1.docker.io\r\n  auth.docker.io\r\n[proxy]\r\nallow = 10.0.0.0/8\r\n")
    s["bad_listen"] = (0x00, b"[proxy]\nlisten = 127.0.0.1\n")
    s["bad_key"] = (0x00, b"[proxy]\nlisten 127.0.0.1:3128\nfoo = bar\n")
    s["bad_section"] = (0x00, b"[proxyy]\nallow = 1.2.3.4\n")
    s["link_secret_bad_port"] = (0x00, b"[upstream]\nvia = socks5://u:SECRET4@127.0.0.1:99999\n")
    s["link_secret_bad_scheme"] = (0x00, b"[upstream]\nvia = ftp://u:SECRET4@127.0.0.1:21\n")
    s["relay_secret"] = (0x00, b"[relay]\nregistry-1.docker.io = https://u:SECRET5@relay.example:0\n")
    s["users_bad"] = (0x00, b"[proxy]\nusers = alice:SECRETPW alice:OTHERPW bob\n")
    s["users_ctl"] = (0x03, b"[proxy]\nusers = alice:pa\x01ss\n")
    s["users644"] = (0x00, b"[proxy]\nusers_file = /tmp/hubgate-fuzz/users644\n")
    s["hub_missing"] = (0x02, b"[upstream]\nhub_credentials = /tmp/hubgate-fuzz/nonexistent\n")
    s["relay_without_map"] = (0x00, b"[upstream]\nvia = relay\n")
    s["passthrough_relay"] = (0x00, b"[passthrough]\nvia = relay:https://hub.example.com\n")
    s["empty_lists"] = (0x00, b"[intercept]\nhosts =\n[proxy]\nallow =\n")
    s["ranges"] = (0x01, b"[proxy]\nmax_header_bytes = 1KiB\nmax_connections = 1048577\nheader_timeout = 0s\n")
    s["long_line"] = (0x00, b"[proxy]\nallow = " + b"10.0.0.1 " * 30 + b"\n")
    s["nul"] = (0x00, b"[proxy]\nallow = 1.2.3.4\x00\n")
    s["no_bracket"] = (0x00, b"[proxy\nallow = 1.2.3.4\n")
    return s


TARGETS = {
    "http1_request": http1_request,
    "http1_response": http1_response,
    "connect_target": connect_target,
    "socks5_reply": socks5_reply,
    "config": config,
}


def main():
    for target, fn in TARGETS.items():
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.unlink(os.path.join(d, old))
        for name, (opt, data) in sorted(fn().items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(bytes([opt]) + data)
        print(f"{target}: {len(os.listdir(d))} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
