#!/usr/bin/python3
"""client.py — raw clients for t_40_security and t_41_faults (stdlib only).
Every command prints one JSON object on stdout.

  client.py send HOST PORT [--src IP] [--data S] [--random N] [--wait SECS]
           [--until STR]
      Connects, sends S (Python escapes: \\r\\n, \\xNN) then N random bytes,
      reads until the server closes, STR arrives, or SECS (5) pass.
      -> {"connected", "status": first line, "first_ms", "close_ms", "bytes",
          "reset", "timeout", "head": first 300 bytes}

  client.py trickle HOST PORT [--src IP] --data S [--every SECS] [--max SECS]
           [--ready FILE]
      Sends S one byte every SECS (0.25), until the server answers or
      closes, or MAX (10) pass. Writes FILE once the first byte is sent.
      -> {"closed_ms", "status", "sent", "reset"}

  client.py hold HOST PORT N [--src IP] [--data S] [--secs SECS]
           [--ready FILE] [--stop FILE]
      Opens N connections (sending S on each, when given), writes
      "OPENED FAILED" to FILE, then holds them until --stop FILE exists or
      SECS (30) pass, noting which ones the server answered or closed.
      -> {"opened", "failed", "answered", "closed_by_server", "statuses"}
"""
import argparse
import ast
import json
import os
import select
import socket
import sys
import time


def unescape(s):
    return ast.literal_eval("b'''" + s.replace("'''", "\\'\\'\\'") + "'''")


def connect(host, port, src, timeout=5):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def cmd_send(a):
    out = {"connected": False, "status": "", "first_ms": None, "close_ms": None, "bytes": 0,
           "reset": False, "timeout": False, "head": ""}
    data = unescape(a.data or "") + os.urandom(a.random)
    t0 = time.monotonic()
    try:
        s = connect(a.host, a.port, a.src)
    except OSError as e:
        out["error"] = str(e)
        print(json.dumps(out))
        return
    out["connected"] = True
    got = b""
    try:
        if data:
            s.sendall(data)
        s.settimeout(a.wait)
        while True:
            d = s.recv(65536)
            if not d:
                out["close_ms"] = int((time.monotonic() - t0) * 1000)
                break
            if out["first_ms"] is None:
                out["first_ms"] = int((time.monotonic() - t0) * 1000)
            got += d
            if a.until and a.until.encode() in got:
                break
    except socket.timeout:
        out["timeout"] = True
    except ConnectionResetError:
        out["reset"] = True
        out["close_ms"] = int((time.monotonic() - t0) * 1000)
    except OSError as e:
        out["error"] = str(e)
    s.close()
    out["bytes"] = len(got)
    out["status"] = got.split(b"\r\n", 1)[0].decode("latin-1") if got else ""
    out["head"] = got[:300].decode("latin-1")
    print(json.dumps(out))


def cmd_trickle(a):
    data = unescape(a.data)
    out = {"closed_ms": None, "status": "", "sent": 0, "reset": False}
    t0 = time.monotonic()
    s = connect(a.host, a.port, a.src)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    got = b""
    i = 0
    while time.monotonic() - t0 < a.max:
        if i < len(data):
            try:
                s.send(data[i:i + 1])
                i += 1
                out["sent"] = i
            except OSError:
                out["reset"] = True
                break
            if i == 1 and a.ready:
                with open(a.ready, "w") as f:
                    f.write("sending\n")
        r, _, _ = select.select([s], [], [], a.every)
        if r:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                out["reset"] = True
                out["closed_ms"] = int((time.monotonic() - t0) * 1000)
                break
            if not d:
                out["closed_ms"] = int((time.monotonic() - t0) * 1000)
                break
            got += d
    s.close()
    out["status"] = got.split(b"\r\n", 1)[0].decode("latin-1") if got else ""
    print(json.dumps(out))


def cmd_hold(a):
    data = unescape(a.data) if a.data else b""
    socks, failed = [], 0
    for _ in range(a.n):
        try:
            s = connect(a.host, a.port, a.src, timeout=3)
            if data:
                s.sendall(data)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write("%d %d\n" % (len(socks), failed))
        os.replace(a.ready + ".tmp", a.ready)
    answered, closed, statuses = set(), set(), {}
    byfd = {s.fileno(): s for s in socks}
    poll = select.poll()
    for s in socks:
        poll.register(s, select.POLLIN)
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.secs and not (a.stop and os.path.exists(a.stop)):
        for fd, _ in poll.poll(100):
            s = byfd[fd]
            try:
                d = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if d:
                if s.fileno() not in answered:
                    st = d.split(b"\r\n", 1)[0].decode("latin-1")[:40]
                    statuses[st] = statuses.get(st, 0) + 1
                answered.add(s.fileno())
            else:
                closed.add(s.fileno())
                poll.unregister(s)
    for s in socks:
        s.close()
    print(json.dumps({"opened": len(socks), "failed": failed, "answered": len(answered),
                      "closed_by_server": len(closed), "statuses": statuses}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--src")
    p.add_argument("--data")
    p.add_argument("--random", type=int, default=0)
    p.add_argument("--wait", type=float, default=5)
    p.add_argument("--until")
    p = sub.add_parser("trickle")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--src")
    p.add_argument("--data", required=True)
    p.add_argument("--every", type=float, default=0.25)
    p.add_argument("--max", type=float, default=10)
    p.add_argument("--ready")
    p = sub.add_parser("hold")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--src")
    p.add_argument("--data")
    p.add_argument("--secs", type=float, default=30)
    p.add_argument("--ready")
    p.add_argument("--stop")
    a = ap.parse_args()
    {"send": cmd_send, "trickle": cmd_trickle, "hold": cmd_hold}[a.cmd](a)


if __name__ == "__main__":
    main()
