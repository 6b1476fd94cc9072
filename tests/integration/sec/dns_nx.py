#!/usr/bin/python3
"""dns_nx.py — a DNS server that knows no name: every query over UDP on
ADDR:53 gets NXDOMAIN at once, as a real resolver answers for a name that
does not exist (t_41_faults; stdlib only).

    dns_nx.py ADDR
"""
import socket
import sys


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 53))
    print("dns_nx up on %s:53" % sys.argv[1], flush=True)
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        # same id; QR=1, opcode from the query, RD copied, RA=1, RCODE=3;
        # the question section echoed, no records
        flags = 0x8000 | (q[2] & 0x79) << 8 | 0x80 | 3
        qd = int.from_bytes(q[4:6], "big")
        end = 12
        for _ in range(qd):
            while end < len(q) and q[end] != 0:
                end += 1 + q[end]
            end += 5
        r = q[:2] + flags.to_bytes(2, "big") + q[4:6] + b"\0\0\0\0\0\0" + q[12:end]
        s.sendto(r, peer)


if __name__ == "__main__":
    main()
