#!/usr/bin/env python3
"""udp-inject.py IFACE MAC SRC DST PORT [COUNT]: send COUNT (5) UDP datagrams
SRC -> DST:PORT as Ethernet frames to MAC on IFACE, whatever the routes say.

What a container's code can do with a raw socket (CAP_NET_RAW is one of
Docker's default capabilities); run it in a container's network namespace
(nsenter -t PID -n python3 udp-inject.py ...) to send as that container.
t0750 sends a customer's frames to the shared service's MAC, addressed to
another customer, to see whether the shared service forwards them."""
import socket
import struct
import sys


def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    iface, mac, src, dst, port = sys.argv[1:6]
    count = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    payload = b"udp-inject"
    udp = struct.pack("!HHHH", 40000, int(port), 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    addr = (iface, 0x0800, 0, 0, bytes.fromhex(mac.replace(":", "")))
    for _ in range(count):
        s.sendto(hdr + udp, addr)


main()
