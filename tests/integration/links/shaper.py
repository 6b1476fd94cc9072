#!/usr/bin/python3
"""A SOCKS5 server that shapes every connection to a fixed rate (stdlib).

It stands in for a cross-border link shaped per flow: each TCP connection
through it gets --rate bytes/s however many there are, so a client that
opens N connections gets N times the rate, as on the real links hubgate's
segmented fetches are for (issue 13).

SOCKS5 (RFC 1928) CONNECT without authentication; IPv4, IPv6 and domain
targets (names resolved here). Each connection has a token bucket per
direction: --rate bytes/s towards the client, --up-rate (default --rate)
towards the target. The bucket holds at most BUCKET bytes (two 16 KiB
chunks: one chunk plus what the timer's oversleep earns), so a connection
idle for a while gains no burst credit.

Faults, for tests (each applies to the first --faults connections that
reach it; 0 means every connection):
  --cut-after N     close the connection once N bytes went to the client
  --stall-after N   after N bytes to the client, forward nothing more in
                    either direction but keep the connection open until
                    the client closes it

One line per connection on stderr (and appended to --log when given):
  shaper: conn 3 198.51.100.4:443 down=67108864 up=512 secs=16.01
          down_mibps=4.00 end=eof|cut|stall|reset|refused
"""

import argparse
import asyncio
import ipaddress
import re
import socket
import struct
import sys
import time

CHUNK = 16 * 1024
BUCKET = 2 * CHUNK


def parse_size(s):
    m = re.fullmatch(r"(\d+)(|KiB|MiB|k|K|M)", s.strip())
    if not m:
        raise argparse.ArgumentTypeError("%r: a number of bytes, or with KiB or MiB" % s)
    mult = {"": 1, "KiB": 1024, "k": 1024, "K": 1024, "MiB": 1048576, "M": 1048576}
    return int(m.group(1)) * mult[m.group(2)]


def parse_hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class Bucket:
    """Token bucket: rate bytes/s, at most BUCKET bytes of credit."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = float(CHUNK)
        self.t = time.monotonic()

    def _fill(self):
        now = time.monotonic()
        self.tokens = min(BUCKET, self.tokens + (now - self.t) * self.rate)
        self.t = now

    async def take(self, n):
        if self.rate <= 0:
            return
        self._fill()
        if self.tokens < n:
            await asyncio.sleep((n - self.tokens) / self.rate)
            self._fill()
        self.tokens -= n    # may go below 0 by a timer's slack: paid next time


class Shaper:
    def __init__(self, args):
        self.args = args
        self.n = 0
        self.cuts = 0
        self.stalls = 0
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def fault(self, kind):
        """True when this connection may take fault kind (cut or stall)."""
        a = self.args
        if a.faults != 0 and getattr(self, kind + "s") >= a.faults:
            return False
        setattr(self, kind + "s", getattr(self, kind + "s") + 1)
        return True

    def line(self, s):
        sys.stderr.write("shaper: " + s + "\n")
        sys.stderr.flush()
        if self.log:
            self.log.write(s + "\n")

    async def handshake(self, r, w):
        """The SOCKS5 greeting and CONNECT; returns (host, port) or None."""
        ver, nm = await r.readexactly(2)
        methods = await r.readexactly(nm)
        if ver != 5 or 0 not in methods:
            w.write(b"\x05\xff")
            return None
        w.write(b"\x05\x00")
        ver, cmd, _, atyp = await r.readexactly(4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(await r.readexactly(4)))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(await r.readexactly(16)))
        elif atyp == 3:
            (ln,) = await r.readexactly(1)
            host = (await r.readexactly(ln)).decode("ascii", "replace")
        else:
            w.write(b"\x05\x08\x00\x01" + bytes(6))
            return None
        (port,) = struct.unpack("!H", await r.readexactly(2))
        if ver != 5 or cmd != 1:
            w.write(b"\x05\x07\x00\x01" + bytes(6))
            return None
        return host, port

    async def pump(self, src, dst, bucket, st, key, limit):
        """Copies src to dst at bucket's rate until EOF (or the fault)."""
        while True:
            want = CHUNK
            if limit is not None:
                want = min(want, limit - st[key])
                if want <= 0:
                    return "limit"
            data = await src.read(want)
            if not data:
                return "eof"
            await bucket.take(len(data))
            dst.write(data)
            st[key] += len(data)
            await dst.drain()

    async def client(self, cr, cw):
        self.n += 1
        cid = self.n
        t0 = time.monotonic()
        st = {"down": 0, "up": 0}
        target, end = "?", "eof"
        ur = uw = None
        try:
            hp = await self.handshake(cr, cw)
            if hp is None:
                end = "refused"
                await cw.drain()
                return
            target = "%s:%d" % hp
            try:
                ur, uw = await asyncio.open_connection(hp[0], hp[1])
            except OSError:
                end = "refused"
                cw.write(b"\x05\x05\x00\x01" + bytes(6))
                await cw.drain()
                return
            cw.write(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + b"\x00\x00")
            await cw.drain()
            a = self.args
            limit, kind = None, None
            if a.cut_after is not None:
                limit, kind = a.cut_after, "cut"
            elif a.stall_after is not None:
                limit, kind = a.stall_after, "stall"
            if kind is not None and not self.fault(kind):
                limit, kind = None, None
            up = asyncio.ensure_future(self.pump(cr, uw, Bucket(a.up_rate), st, "up", None))
            down = asyncio.ensure_future(
                self.pump(ur, cw, Bucket(a.rate), st, "down", limit))
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if down in done and down.result() == "limit":
                end = kind
                up.cancel()
                await asyncio.gather(up, return_exceptions=True)
                if kind == "stall":
                    # Keep both sockets open and silent until the client goes.
                    while await cr.read(CHUNK):
                        pass
            elif down in done:
                # The target finished: pass its EOF on, let the client close.
                if cw.can_write_eof():
                    cw.write_eof()
                await asyncio.wait({up}, timeout=a.linger)
                up.cancel()
            else:
                # The client half-closed: tell the target, finish the reply.
                if uw.can_write_eof():
                    uw.write_eof()
                await down
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            end = "reset"
        finally:
            for w in (uw, cw):
                if w is not None:
                    w.close()
            secs = time.monotonic() - t0
            self.line("conn %d %s down=%d up=%d secs=%.2f down_mibps=%.2f end=%s" % (
                cid, target, st["down"], st["up"], secs,
                st["down"] / 1048576 / secs if secs > 0 else 0.0, end))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=parse_hostport, default=("127.0.0.1", 1080))
    ap.add_argument("--rate", type=parse_size, required=True,
                    help="bytes/s per connection towards the client (4MiB)")
    ap.add_argument("--up-rate", type=parse_size, default=None,
                    help="bytes/s per connection towards the target (default --rate)")
    ap.add_argument("--cut-after", type=parse_size, default=None)
    ap.add_argument("--stall-after", type=parse_size, default=None)
    ap.add_argument("--faults", type=int, default=1,
                    help="connections that take a fault (0: all; default 1)")
    ap.add_argument("--linger", type=float, default=30.0,
                    help="seconds the client may keep sending after the target's EOF")
    ap.add_argument("--log", default=None)
    args = ap.parse_args()
    if args.up_rate is None:
        args.up_rate = args.rate
    sh = Shaper(args)
    srv = await asyncio.start_server(sh.client, args.listen[0], args.listen[1],
                                     reuse_address=True)
    sh.line("listening on %s:%d, %d bytes/s per connection" % (
        args.listen[0], args.listen[1], args.rate))
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
