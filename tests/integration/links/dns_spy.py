#!/usr/bin/python3
"""A DNS server that knows nothing and tells what it was asked (stdlib).

Listens on UDP --listen (e.g. 127.0.0.1:53, the client namespace's name
server in lib.sh's resolv.conf), appends each question's name and type to
--log ("NAME TYPE" a line) and answers NXDOMAIN at once, as a real resolver
would for a name that does not exist. t_31 uses it to see whether hubgate
sends an IP literal (a proxy's address) to DNS.
"""

import argparse
import socket
import sys


def question(msg):
    """The first question's name, type and end offset, or None."""
    i, labels = 12, []
    try:
        while msg[i]:
            n = msg[i]
            labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype = int.from_bytes(msg[i + 1:i + 3], "big")
    except IndexError:
        return None
    return ".".join(labels), {1: "A", 28: "AAAA"}.get(qtype, str(qtype)), i + 5


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:53")
    p.add_argument("--log", required=True)
    a = p.parse_args()
    host, _, port = a.listen.rpartition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    sys.stderr.write("dns-spy: listening on %s\n" % a.listen)
    sys.stderr.flush()
    with open(a.log, "a", buffering=1) as log:
        while True:
            msg, peer = s.recvfrom(4096)
            if len(msg) < 12:
                continue
            q = question(msg)
            if not q:
                continue
            log.write("%s %s\n" % q[:2])
            # QR=1, opcode and RD copied, RA=1, RCODE=3 (NXDOMAIN); one
            # question echoed, no answers.
            flags = 0x8000 | (msg[2] & 0x79) << 8 | 0x80 | 3
            s.sendto(msg[:2] + flags.to_bytes(2, "big") + b"\0\1" + b"\0" * 6 +
                     msg[12:q[2]], peer)


if __name__ == "__main__":
    main()
