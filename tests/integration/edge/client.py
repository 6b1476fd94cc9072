#!/usr/bin/python3
"""client.py — raw HTTP/1.1 clients for the cases of t_05_http_edge that
curl cannot express (Python stdlib only). Each case prints "ok: ..." and
exits 0, or prints "FAIL: ..." and exits 1. Every socket operation has a
timeout (--timeout, default 5 s): a case that waits longer fails.

    client.py --proxy 127.0.0.1:3128 --cafile HUBGATE_CA CASE

Cases:
    head-keepalive      HEAD /file/small.bin then GET /hello on one
                        intercepted connection: the HEAD answer has the
                        Content-Length but no body, the GET is intact
    after-no-body PATH  GET PATH (204/304/304cl) then GET /hello on one
                        intercepted connection
    pipeline            three requests in one write on an intercepted
                        connection, answered in order
    sni-mismatch        CONNECT origin.test:443, ClientHello naming
                        other.test: the handshake fails with an alert
    garbage             bytes that are not HTTP to the proxy port, and
                        inside an intercepted connection: 400 at once
    trailer-split-req   plain-HTTP chunked POST whose trailer value comes
                        in two writes 0.3 s apart: forwarded whole
    framing-in-connection  plain-HTTP POST with "Connection:
                        Content-Length": the origin still gets the body
                        framed by Content-Length
    space-before-colon  plain-HTTP GET with "X-Test : 1": 400
    forged-after PATH MODE  HEAD or GET PATH (/forge-head, -204, -304: the
                        origin sends a forged second response in the same
                        write), then GET /hello on the same client
                        connection, to another host for MODE plain: the
                        answer is the real one, never the forged
    http10 MODE         an HTTP/1.0 keep-alive GET /chunked (MODE plain or
                        tunnel): the body de-chunked, no Transfer-Encoding,
                        and the connection closed at its end
    trailing-dot TARGET CONNECT TARGET (origin.test.:443, ORIGIN.TEST.:443):
                        the leaf for origin.test, GET /hello answered
    leaf-serials N      N CONNECTs to origin.test:443 one after the other,
                        each on a new connection (the kernel spreads them
                        over hubgate's loops), GET /hello on each: every
                        one shows the same leaf (one serial, printed)
"""
import argparse
import socket
import ssl
import sys
import time

ORIGIN = "origin.test"


class Fail(Exception):
    pass


def recv_until(sock, marker, limit=1 << 20):
    """Reads byte by byte up to and including marker (no over-read)."""
    data = b""
    while not data.endswith(marker):
        b = sock.recv(1)
        if not b:
            raise Fail("connection closed after %r" % data[-200:])
        data += b
        if len(data) > limit:
            raise Fail("no %r in %d bytes" % (marker, limit))
    return data


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        b = sock.recv(n - len(data))
        if not b:
            raise Fail("connection closed after %d of %d body bytes" % (len(data), n))
        data += b
    return data


def read_response(sock, method="GET"):
    """Returns (status, {lower name: value}, raw head, body)."""
    raw = recv_until(sock, b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    hdrs = {}
    for ln in lines[1:]:
        if ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, hdrs, raw, b""
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(recv_until(sock, b"\r\n").split(b";")[0], 16)
            if size == 0:
                while recv_until(sock, b"\r\n") != b"\r\n":
                    pass
                return status, hdrs, raw, body
            body += recv_exact(sock, size)
            if recv_exact(sock, 2) != b"\r\n":
                raise Fail("bad chunk end")
    if "content-length" in hdrs:
        return status, hdrs, raw, recv_exact(sock, int(hdrs["content-length"]))
    body = b""
    while True:
        b = sock.recv(65536)
        if not b:
            return status, hdrs, raw, body
        body += b


class Client:
    def __init__(self, a):
        self.proxy = a.proxy
        self.cafile = a.cafile
        self.timeout = a.timeout

    def plain(self):
        host, port = self.proxy.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def tunnel(self, sni=ORIGIN, target=ORIGIN + ":443"):
        s = self.plain()
        s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode()))
        head = recv_until(s, b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise Fail("CONNECT %s: %r" % (target, head))
        ctx = ssl.create_default_context(cafile=self.cafile)  # that CA only
        t = ctx.wrap_socket(s, server_hostname=sni)
        t.settimeout(self.timeout)
        return t


def req(path, method="GET", extra=""):
    return ("%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method, path, ORIGIN, extra)).encode()


def case_head_keepalive(c, args):
    s = c.tunnel()
    s.sendall(req("/file/small.bin", "HEAD"))
    st, h, raw, body = read_response(s, "HEAD")
    if st != 200 or h.get("content-length") != "1000":
        raise Fail("HEAD: want 200 with Content-Length: 1000, got %r" % raw)
    s.sendall(req("/hello"))
    st, h2, raw2, body = read_response(s)
    if st != 200 or body != b"hello\n":
        raise Fail("GET after HEAD: %r %r" % (raw2, body))
    if h.get("x-conn") != h2.get("x-conn"):
        raise Fail("origin connections differ: %s, %s" % (h.get("x-conn"), h2.get("x-conn")))
    print("ok: HEAD -> 200 Content-Length: 1000 and no body; GET /hello after it intact "
          "(origin conn %s both)" % h.get("x-conn"))


def case_after_no_body(c, args):
    path = args[0]
    want = int(path.strip("/")[:3])
    s = c.tunnel()
    s.sendall(req(path))
    st, h, raw, body = read_response(s)
    if st != want:
        raise Fail("GET %s: want %d, got %r" % (path, want, raw))
    s.sendall(req("/hello"))
    st, h2, raw2, body = read_response(s)
    if st != 200 or body != b"hello\n":
        raise Fail("GET /hello after %s: %r %r" % (path, raw2, body))
    # Nothing else may be pending on the connection.
    s.settimeout(0.5)
    try:
        extra = s.recv(100)
    except (socket.timeout, TimeoutError):
        extra = b""
    if extra:
        raise Fail("bytes after the answers: %r" % extra)
    print("ok: GET %s -> %d without a body, then GET /hello intact" % (path, want))


def case_pipeline(c, args):
    s = c.tunnel()
    s.sendall(req("/hello") + req("/file/small.bin", "HEAD") + req("/chunked"))
    st1, _, raw1, b1 = read_response(s)
    st2, h2, raw2, b2 = read_response(s, "HEAD")
    st3, _, raw3, b3 = read_response(s)
    want3 = b"".join(b"chunk-%d\n" % i for i in range(10))
    if (st1, b1) != (200, b"hello\n") or st2 != 200 or b2 or h2.get("content-length") != "1000" \
            or (st3, b3) != (200, want3):
        raise Fail("pipelined answers: %r %r / %r / %r %r" % (raw1, b1, raw2, raw3, b3))
    print("ok: three pipelined requests answered in order")


def case_sni_mismatch(c, args):
    try:
        s = c.tunnel(sni="other.test")
    except (socket.timeout, TimeoutError):
        raise Fail("handshake with SNI other.test: no answer within %.0f s" % c.timeout)
    except ssl.SSLError as e:
        # An alert (unrecognized_name), not a certificate for either name.
        if "ALERT" not in str(e).upper() and "UNRECOGNIZED_NAME" not in str(e).upper():
            raise Fail("handshake with SNI other.test failed without an alert: %s" % e)
        print("ok: ClientHello naming other.test refused with an alert: %s" % e)
        return
    except OSError as e:
        raise Fail("handshake with SNI other.test: connection dropped without an alert: %r" % e)
    s.close()
    raise Fail("TLS handshake with SNI other.test inside CONNECT origin.test:443 succeeded")


def expect_400_now(s, what):
    t0 = time.monotonic()
    try:
        head = recv_until(s, b"\r\n\r\n")
    except (socket.timeout, TimeoutError):
        raise Fail("%s: no answer within %.0f s" % (what, s.gettimeout()))
    if not head.startswith(b"HTTP/1.1 400 "):
        raise Fail("%s: want 400, got %r" % (what, head))
    return time.monotonic() - t0


def case_garbage(c, args):
    s = c.plain()
    s.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n")
    dt1 = expect_400_now(s, "TLS bytes to the proxy port")
    s = c.plain()
    s.sendall(b"GET\x00/ HTTP/1.1\r\n")   # not even a whole head
    dt2 = expect_400_now(s, "NUL in the request line")
    s = c.tunnel()
    s.sendall(b"\x00\x01\x02 not http\r\n\r\n")
    dt3 = expect_400_now(s, "garbage inside an intercepted connection")
    print("ok: garbage answered 400 (%.2f s, %.2f s, %.2f s)" % (dt1, dt2, dt3))


def case_trailer_split_req(c, args):
    s = c.plain()
    s.sendall(b"POST http://origin.test/echo HTTP/1.1\r\nHost: origin.test\r\n"
              b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
              b"5\r\nhello\r\n0\r\nX-Checksum: ab")
    time.sleep(0.3)
    s.sendall(b"cdef\r\n\r\n")
    st, h, raw, body = read_response(s)
    want = b"len=5 sha256=2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 " \
           b"framing=chunked\n"
    if st != 200 or body != want:
        raise Fail("chunked POST with a split trailer: %r %r" % (raw, body))
    print("ok: chunked POST whose trailer came in two writes forwarded whole")


def case_framing_in_connection(c, args):
    s = c.plain()
    s.sendall(b"POST http://origin.test/echo HTTP/1.1\r\nHost: origin.test\r\n"
              b"Content-Length: 5\r\nConnection: Content-Length\r\n\r\nhello")
    st, h, raw, body = read_response(s)
    if st == 400:
        print("ok: refused with 400")
        return
    want = b"len=5 sha256=2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 " \
           b"framing=cl\n"
    if st != 200 or body != want:
        raise Fail("POST with Connection: Content-Length: the origin got %r %r "
                   "(the body without its framing)" % (raw, body))
    print("ok: Content-Length kept though Connection named it")


def case_space_before_colon(c, args):
    s = c.plain()
    s.sendall(b"GET http://origin.test/headers HTTP/1.1\r\nHost: origin.test\r\n"
              b"X-Test : 1\r\n\r\n")
    st, h, raw, body = read_response(s)
    if st != 400:
        raise Fail("GET with \"X-Test : 1\": want 400 (RFC 9112 5.1), got %d; the origin "
                   "received: %r" % (st, body))
    print("ok: whitespace before a colon answered 400")




def case_forged_after(c, args):
    path, mode = args[0], args[1]
    method = "HEAD" if path == "/forge-head" else "GET"
    if mode == "plain":
        s = c.plain()
        first = ("%s http://%s%s HTTP/1.1\r\nHost: %s\r\n\r\n" %
                 (method, ORIGIN, path, ORIGIN)).encode()
        # the same origin server under another name: a new upstream
        second = b"GET http://127.0.0.1/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    else:
        s = c.tunnel()
        first, second = req(path, method), req("/hello")
    s.sendall(first)
    st, h, raw, body = read_response(s, method)
    if h.get("x-forged"):
        raise Fail("%s %s answered by the forged response: %r" % (method, path, raw))
    s.sendall(second)
    st2, h2, raw2, body2 = read_response(s)
    if h2.get("x-forged") or body2 != b"hello\n" or st2 != 200:
        raise Fail("GET /hello after %s %s (%s): got %r %r" % (method, path, mode, raw2, body2))
    print("ok: %s %s -> %d; the origin's forged extra response reached nobody, GET /hello "
          "after it on the same %s connection got its own answer" % (method, path, st, mode))


def case_http10(c, args):
    mode = args[0]
    if mode == "plain":
        s = c.plain()
        target = "http://%s/chunked" % ORIGIN
    else:
        s = c.tunnel()
        target = "/chunked"
    s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n" %
               (target, ORIGIN)).encode())
    data = b""
    while True:  # until hubgate closes: a 1.0 body without a length ends so
        d = s.recv(65536)
        if not d:
            break
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
              for l in lines[1:] if ":" in l}
    want = b"".join(b"chunk-%d\n" % i for i in range(10))
    if not lines[0].startswith("HTTP/1.1 200"):
        raise Fail("status %r" % lines[0])
    if "transfer-encoding" in fields:
        raise Fail("an HTTP/1.0 client got Transfer-Encoding: %s" % fields["transfer-encoding"])
    if body != want:
        raise Fail("body %r, want %r" % (body[:200], want))
    print("ok: HTTP/1.0 GET /chunked (%s): %d body bytes de-chunked, no Transfer-Encoding, "
          "closed at the end" % (mode, len(body)))


def case_trailing_dot(c, args):
    s = c.tunnel(sni=ORIGIN, target=args[0])
    cert = s.getpeercert()
    names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
    s.sendall(req("/hello"))
    st, h, raw, body = read_response(s)
    if st != 200 or body != b"hello\n":
        raise Fail("GET /hello through CONNECT %s: %r %r" % (args[0], raw, body))
    print("ok: CONNECT %s intercepted with the leaf for %s; GET /hello -> 200" %
          (args[0], ",".join(names)))


def case_leaf_serials(c, args):
    n = int(args[0])
    serials = {}
    for i in range(n):
        s = c.tunnel()
        serial = s.getpeercert()["serialNumber"]
        s.sendall(req("/hello", extra="Connection: close\r\n"))
        st, h, raw, body = read_response(s)
        s.close()
        if st != 200 or body != b"hello\n":
            raise Fail("connection %d: GET /hello: %r %r" % (i + 1, raw, body))
        serials[serial] = serials.get(serial, 0) + 1
    if len(serials) != 1:
        raise Fail("%d connections showed %d leaves (serial: count) %r" %
                   (n, len(serials), serials))
    print("ok: %d CONNECTs to %s, one leaf (serial %s)" % (n, ORIGIN, next(iter(serials))))


CASES = {
    "head-keepalive": case_head_keepalive,
    "after-no-body": case_after_no_body,
    "pipeline": case_pipeline,
    "sni-mismatch": case_sni_mismatch,
    "garbage": case_garbage,
    "trailer-split-req": case_trailer_split_req,
    "framing-in-connection": case_framing_in_connection,
    "space-before-colon": case_space_before_colon,
    "forged-after": case_forged_after,
    "http10": case_http10,
    "trailing-dot": case_trailing_dot,
    "leaf-serials": case_leaf_serials,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", default="127.0.0.1:3128")
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    try:
        CASES[a.case](Client(a), a.args)
    except Fail as e:
        print("FAIL: %s: %s" % (a.case, e))
        return 1
    except (socket.timeout, TimeoutError):
        print("FAIL: %s: no answer within %.0f s" % (a.case, a.timeout))
        return 1
    except (OSError, ValueError, IndexError) as e:
        print("FAIL: %s: %r" % (a.case, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
