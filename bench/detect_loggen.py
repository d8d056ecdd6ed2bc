#!/usr/bin/env python3
"""Writes the firewall log of bench/detect.sh's log throughput part: N kernel LOG lines
(iptables format, syslog dates, 2,000 lines a second of log time), a mixture:

- 30%: 200 scanners in 10.88.0.0/16 (SYN, FIN, ACK and Xmas probes to random ports of 20
  hosts, nmap-like: window 1024, a TTL drawn per packet), all DROP;
- 30%: a spoofed-source SYN flood to port 80 from random addresses in 100.64.0.0/10, DROP;
- 40%: 5,000 benign clients in 10.89.0.0/16 opening connections to ports 80, 443 and 22,
  ACCEPT (each client's TTL fixed, as an operating system's is).

The file only ever exists on disk.

    python3 bench/detect_loggen.py OUT.log [N]
"""

import random
import sys

def main():
    out_path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rnd = random.Random(7)
    flags = ["SYN", "SYN", "SYN", "FIN", "ACK", "URG PSH FIN"]
    scanners = [f"10.88.{i // 250}.{i % 250 + 1}" for i in range(200)]
    with open(out_path, "w") as out:
        for i in range(n):
            sec = i // 2000
            r = rnd.random()
            if r < 0.3:
                src = scanners[rnd.randrange(200)]
                dpt, fl, pre = rnd.randrange(1, 65536), rnd.choice(flags), "DROP"
                ttl = 37 + rnd.randrange(23)
            elif r < 0.6:
                src = f"100.{64 + rnd.randrange(64)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
                dpt, fl, pre, ttl = 80, "SYN", "DROP", 50
            else:
                src = f"10.89.{rnd.randrange(20)}.{rnd.randrange(1, 250)}"
                dpt, fl, pre = rnd.choice([80, 443, 22]), "SYN", "ACCEPT"
                ttl = 50 + sum(map(int, src.split("."))) % 10
            out.write(
                f"Dec  6 {sec // 3600 % 24:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} fw kernel: "
                f"[{sec}.{i % 1000000:06d}] {pre} IN=eth0 OUT= "
                f"MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC={src} "
                f"DST=192.0.2.{10 + i % 20} LEN=44 TOS=0x00 PREC=0x00 TTL={ttl} ID={i % 65536} "
                f"PROTO=TCP SPT={1024 + i % 60000} DPT={dpt} WINDOW=1024 RES=0x00 {fl} URGP=0\n")
    print(f"lines {n} scanners 200 scanner_net 10.88.0.0/16 benign_net 10.89.0.0/16")

main()
