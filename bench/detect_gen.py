#!/usr/bin/env python3
"""Writes the synthetic capture of bench/detect.sh's throughput part: a pcap (Ethernet,
microsecond timestamps) of about N packets, a mixture, in time order, over SECONDS seconds:

- a spoofed-source SYN flood (30%): SYNs to 10.77.1.10:80 from random addresses in
  100.64.0.0/10, each answered by a SYN/ACK that nobody answers (the sources are spoofed);
- port scans and sweeps (20%), SCANNERS sources in 10.88.0.0/16, started at random times:
  nmap-like SYN scans of 500 ports of one host (RST from closed ports, SYN/ACK then the
  scanner's RST from open ones), FIN scans (RST back), UDP scans (ICMP port unreachable
  back) and SYN sweeps of port 445 over 500 hosts of 10.77.0.0/16 (a tenth answer RST, the
  rest stay silent);
- benign TCP connections (50%), 10 packets each (handshake, a request, an answer, both
  FINs), from 5,000 clients in 10.89.0.0/16 to open ports (80, 443, 22) of 20 servers in
  10.77.1.0/24.

The file only ever exists on disk: nothing here is sent anywhere.

    python3 bench/detect_gen.py OUT.pcap [--packets N] [--scanners K] [--seconds S] [--seed X]
                                         [--flood SHARE] [--benign SHARE]

Prints one line to stdout: `packets P scanners K scanner_net 10.88.0.0/16 benign_net
10.89.0.0/16 flood_net 100.64.0.0/10` (the ground truth: every scanner source must be
alerted on, no other source).
"""

import argparse
import heapq
import random
import struct
import sys

ETH = bytes.fromhex("020000000001" "020000000002" "0800")
SERVER_PORTS = (80, 443, 22)
# nmap's SYN option: MSS 1460 only.
NMAP_MSS = bytes.fromhex("020405b4")
# A Linux connect() SYN's options: MSS, SACK permitted, timestamps, NOP, window scale.
LINUX_OPTS = bytes.fromhex("020405b4" "0402" "080a00000000" "00000000" "01" "030307")

F_FIN, F_SYN, F_RST, F_PSH, F_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident, ttl=64, df=False):
    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, 0x4000 if df else 0, ttl,
                      proto, 0, src, dst)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def tcp(src, dst, sport, dport, seq, ack, flags, window, opts=b"", data=b"", ident=0,
        ttl=64, df=False):
    off = (20 + len(opts)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + opts + data
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return ipv4(src, dst, 6, seg, ident, ttl, df)


def udp(src, dst, sport, dport, data, ident, ttl=64):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(seg))
    c = csum(pseudo + seg) or 0xFFFF
    seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    return ipv4(src, dst, 17, seg, ident, ttl)


def icmp_unreach(src, dst, quoted, ident):
    body = struct.pack("!BBHI", 3, 3, 0, 0) + quoted[:28]
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return ipv4(src, dst, 1, body, ident)


def a4(n):
    return struct.pack("!I", n)


def ip_of(s):
    p = [int(x) for x in s.split(".")]
    return (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def rid(self):
        return self.r.getrandbits(16)


def in_order(items, slack):
    """Yields (t, pkt) items in time order, given that no item comes more than `slack`
    seconds before one already produced."""
    heap, k = [], 0
    for t, pkt in items:
        while heap and heap[0][0] + slack < t:
            yield heapq.heappop(heap)[::2]
        heapq.heappush(heap, (t, k, pkt))
        k += 1
    while heap:
        yield heapq.heappop(heap)[::2]


def flood(g, n, t0, t1, target, port):
    """n/2 spoofed SYNs at a steady rate, each followed by the target's SYN/ACK."""
    r = g.r
    k = n // 2
    step = (t1 - t0) / max(k, 1)
    base = ip_of("100.64.0.0")
    for i in range(k):
        t = t0 + i * step
        src = a4(base + r.getrandbits(22))
        sport = 1024 + r.getrandbits(15)
        seq = r.getrandbits(32)
        yield t, tcp(src, target, sport, port, seq, 0, F_SYN, 512, ident=g.rid(), ttl=64 + r.getrandbits(6))
        yield t + 0.00005, tcp(target, src, port, sport, r.getrandbits(32), (seq + 1) & 0xFFFFFFFF,
                               F_SYN | F_ACK, 64240, NMAP_MSS, ident=0, df=True)


def portscan(g, src, host, kind, start, probes, open_ports, rate=2000.0):
    """One scanner against one host: probes ports 1.. in random order at `rate` per second."""
    r = g.r
    ports = list(range(1, probes + 1))
    r.shuffle(ports)
    sport = 40000 + r.getrandbits(12)
    win = r.choice((1024, 2048, 3072, 4096))
    t = start
    for p in ports:
        t += 1.0 / rate
        seq = r.getrandbits(32)
        if kind == "udp":
            q = udp(src, host, sport, p, b"", g.rid())
            yield t, q
            if p not in open_ports:
                yield t + 0.0002, icmp_unreach(host, src, q, g.rid())
            continue
        flags = F_SYN if kind == "syn" else F_FIN
        opts = NMAP_MSS if kind == "syn" else b""
        yield t, tcp(src, host, sport, p, seq, 0, flags, win, opts, ident=g.rid(), ttl=40)
        if kind == "syn" and p in open_ports:
            yield t + 0.0002, tcp(host, src, p, sport, r.getrandbits(32), (seq + 1) & 0xFFFFFFFF,
                                  F_SYN | F_ACK, 64240, NMAP_MSS, df=True)
            yield t + 0.0003, tcp(src, host, sport, p, (seq + 1) & 0xFFFFFFFF, 0, F_RST, 0, ident=0, df=True)
        elif kind == "syn" or p not in open_ports:
            yield t + 0.0002, tcp(host, src, p, sport, 0, (seq + 1) & 0xFFFFFFFF, F_RST | F_ACK, 0, df=True)


def sweep(g, src, start, hosts, rate=1000.0):
    """SYNs to port 445 of `hosts` addresses of 10.77.0.0/16; a tenth answer RST."""
    r = g.r
    base = ip_of("10.77.0.0")
    t = start
    sport = 40000 + r.getrandbits(12)
    for _ in range(hosts):
        t += 1.0 / rate
        dst = a4(base + r.getrandbits(16))
        seq = r.getrandbits(32)
        yield t, tcp(src, dst, sport, 445, seq, 0, F_SYN, 1024, NMAP_MSS, ident=g.rid(), ttl=40)
        if r.random() < 0.1:
            yield t + 0.0002, tcp(dst, src, 445, sport, 0, (seq + 1) & 0xFFFFFFFF, F_RST | F_ACK, 0, df=True)


def benign(g, n, t0, t1, clients, servers):
    """n packets of 10-packet connections from `clients` to open ports of `servers`."""
    r = g.r
    conns = n // 10
    step = (t1 - t0) / max(conns, 1)
    cbase = ip_of("10.89.0.0")
    sbase = ip_of("10.77.1.100")
    for i in range(conns):
        t = t0 + i * step
        c = a4(cbase + r.randrange(clients))
        s = a4(sbase + r.randrange(servers))
        port = r.choice(SERVER_PORTS)
        sp = 32768 + r.getrandbits(14)
        cs, ss = r.getrandbits(32), r.getrandbits(32)
        req, resp = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        ident = g.rid()
        pk = [
            (c, s, sp, port, cs, 0, F_SYN, 64240, LINUX_OPTS, b""),
            (s, c, port, sp, ss, cs + 1, F_SYN | F_ACK, 65160, LINUX_OPTS, b""),
            (c, s, sp, port, cs + 1, ss + 1, F_ACK, 502, b"", b""),
            (c, s, sp, port, cs + 1, ss + 1, F_ACK | F_PSH, 502, b"", req),
            (s, c, port, sp, ss + 1, cs + 1 + len(req), F_ACK, 509, b"", b""),
            (s, c, port, sp, ss + 1, cs + 1 + len(req), F_ACK | F_PSH, 509, b"", resp),
            (c, s, sp, port, cs + 1 + len(req), ss + 1 + len(resp), F_ACK, 502, b"", b""),
            (c, s, sp, port, cs + 1 + len(req), ss + 1 + len(resp), F_ACK | F_FIN, 502, b"", b""),
            (s, c, port, sp, ss + 1 + len(resp), cs + 2 + len(req), F_ACK | F_FIN, 509, b"", b""),
            (c, s, sp, port, cs + 2 + len(req), ss + 2 + len(resp), F_ACK, 502, b"", b""),
        ]
        for j, (a, b, p1, p2, sq, ak, fl, w, o, d) in enumerate(pk):
            yield t + j * 0.0003, tcp(a, b, p1, p2, sq & 0xFFFFFFFF, ak & 0xFFFFFFFF, fl, w, o, d,
                                       ident=(ident + j) & 0xFFFF, df=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--scanners", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--flood", type=float, default=0.30, help="share of the flood's packets")
    ap.add_argument("--benign", type=float, default=0.50, help="share of benign packets")
    a = ap.parse_args()
    g = Gen(a.seed)
    n = a.packets
    t0 = 1_700_000_000.0
    t1 = t0 + a.seconds
    nf, nb = int(n * a.flood) // 2 * 2, int(n * a.benign) // 10 * 10
    streams = [flood(g, nf, t0, t1, a4(ip_of("10.77.1.10")), 80),
               in_order(benign(g, nb, t0, t1, 5000, 20), 0.01)]
    # Scans: the budget left, split among the scanners; each runs at its own start time.
    left = n - nf - nb
    sbase = ip_of("10.88.0.0")
    kinds = ("syn", "syn", "syn", "syn", "syn", "fin", "fin", "udp", "udp", "sweep")
    per = max(left // max(a.scanners, 1), 20)
    for i in range(a.scanners):
        src = a4(sbase + 1 + i)
        kind = kinds[i % len(kinds)]
        start = t0 + g.r.uniform(0, a.seconds * 0.9)
        host = a4(ip_of("10.77.1.100") + g.r.randrange(20))
        if kind == "sweep":
            streams.append(sweep(g, src, start, int(per / 1.1)))
        elif kind == "syn":
            # About half of the packets are probes; a few open ports answer SYN/ACK.
            streams.append(portscan(g, src, host, kind, start, per // 2, {22, 80, 443}))
        else:
            streams.append(portscan(g, src, host, kind, start, per // 2, {22, 80, 443}))
    count = 0
    with open(a.out, "wb", buffering=1 << 20) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        rec = struct.Struct("<IIII")
        for t, pkt in heapq.merge(*streams, key=lambda x: x[0]):
            frame = ETH + pkt
            sec = int(t)
            f.write(rec.pack(sec, int((t - sec) * 1e6), len(frame), len(frame)))
            f.write(frame)
            count += 1
    print(f"packets {count} scanners {a.scanners} scanner_net 10.88.0.0/16 "
          f"benign_net 10.89.0.0/16 flood_net 100.64.0.0/10")


if __name__ == "__main__":
    sys.exit(main())
