#!/usr/bin/env python3
"""Ground truth, checking and the result table for bench/scan_types.sh.

    scan_types.py check LAB.json PROBE PORTS REPORT.xml HOST_INDEX...
        Prints "EXACT TOTAL UNRESOLVED" for an nmap-format XML report (nmap's or monban's)
        against the lab's truth for PROBE (udp, ack or fin) on PORTS (e.g. "1-65535" or
        "53,123,1000-1010") of the given lab hosts, and writes every port that differs to
        REPORT.wrong as "ADDRESS PORT GOT_STATE/GOT_REASON WANT_STATE/WANT_REASON".
        A port is exact when state and reason both equal the truth; it is unresolved when
        the report leaves it open|filtered or closed|filtered although the truth is decided
        (for UDP under Linux's ICMP limit: mostly closed ports that never got their ICMP).
    scan_types.py icmp-ports LAB.json PORTS HOST_INDEX
        Number of PORTS whose UDP answer is an ICMP error (closed or rejected): each costs
        a token of the target's per-source ICMP bucket.
    scan_types.py table RESULTS
        RESULTS holds lines "SCENARIO TOOL RUN SECONDS EXACT TOTAL UNRESOLVED"; prints one
        table per scenario: medians, and the ratio of each tool's median time to nmap's.
    scan_types.py summary REPORT.wrong
        The differing ports of a report, grouped by (got, want), with their port lists.

The truth replicates monban_lab::Host::truth_for (lab/src/lib.rs); the UDP constants are
read from that file so that a change there fails loudly here instead of silently.
"""
import json
import os
import re
import statistics
import sys
from collections import defaultdict

# bench/ is the script's directory, so its sibling module imports directly.
import xml_states
from xml_states import ranges

LIB_RS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab", "src", "lib.rs")
# Each lab host also answers UDP on UDP_HOST_BASE + its index (Host::udp_open).
UDP_HOST_BASE = 5000
AMBIGUOUS = ("open|filtered", "closed|filtered")


def compress(ports):
    """[1,2,3,7] -> "1-3,7"."""
    out, ports = [], sorted(ports)
    i = 0
    while i < len(ports):
        j = i
        while j + 1 < len(ports) and ports[j + 1] == ports[j] + 1:
            j += 1
        out.append(str(ports[i]) if i == j else f"{ports[i]}-{ports[j]}")
        i = j + 1
    return ",".join(out)


def lab_udp_constants():
    with open(LIB_RS) as f:
        src = f.read()
    consts = {}
    for name in ("UDP_ANSWER", "UDP_SILENT"):
        m = re.search(rf"pub const {name}: \[u16; \d+\] = \[([0-9, ]+)\];", src)
        if m is None:
            sys.exit(f"scan_types.py: cannot find {name} in {LIB_RS}")
        consts[name] = {int(p) for p in m.group(1).split(",")}
    if f"v.push({UDP_HOST_BASE} + u16::try_from(self.index)" not in src:
        sys.exit(f"scan_types.py: Host::udp_open in {LIB_RS} no longer adds {UDP_HOST_BASE} + index")
    return consts["UDP_ANSWER"], consts["UDP_SILENT"]


class Host:
    def __init__(self, h):
        self.index = h["index"]
        self.v4 = h["v4"]
        self.open = set(h["open"])
        self.dropped = set(ranges(h["dropped"]))
        self.rejected = set(ranges(h["rejected"]))

    def truth(self, probe, port, udp):
        """Host::truth_for(Probe::{Udp, Ack, FinNullXmas}, port)."""
        dropped, rejected, is_open = port in self.dropped, port in self.rejected, port in self.open
        if probe == "udp":
            answer, silent = udp
            if dropped or port in silent:
                return ("open|filtered", "no-response")
            if rejected:
                return ("filtered", "admin-prohibited")
            if port in answer or port == UDP_HOST_BASE + self.index:
                return ("open", "udp-response")
            return ("closed", "port-unreach")
        if rejected:
            return ("filtered", "admin-prohibited")
        if probe == "fin":
            if dropped or is_open:
                return ("open|filtered", "no-response")
            return ("closed", "reset")
        if probe == "ack":
            if dropped:
                return ("filtered", "no-response")
            return ("unfiltered", "reset")
        sys.exit(f"scan_types.py: unknown probe {probe} (udp, ack or fin)")


def load_hosts(lab_json, indexes):
    with open(lab_json) as f:
        lab = json.load(f)
    by_index = {h["index"]: Host(h) for h in lab["hosts"]}
    try:
        return [by_index[int(i)] for i in indexes]
    except (KeyError, ValueError) as e:
        sys.exit(f"scan_types.py: no lab host {e}")


def report_states(path, proto):
    """{(address, port): (state, reason)} for every `proto` port of an XML report."""
    try:
        return xml_states.states(path, proto)
    except ValueError as e:
        sys.exit(f"scan_types.py: {e}")


def check(lab_json, probe, ports, report, indexes):
    udp = lab_udp_constants() if probe == "udp" else None
    hosts = load_hosts(lab_json, indexes)
    got = report_states(report, "udp" if probe == "udp" else "tcp")
    exact = unresolved = total = 0
    wrong = []
    for h in hosts:
        for p in ranges(ports):
            total += 1
            want = h.truth(probe, p, udp)
            g = got.get((h.v4, p), ("missing", "-"))
            if g == want:
                exact += 1
                continue
            if g[0] in AMBIGUOUS and want[0] != g[0]:
                unresolved += 1
            wrong.append(f"{h.v4} {p} {g[0]}/{g[1]} {want[0]}/{want[1]}")
    with open(os.path.splitext(report)[0] + ".wrong", "w") as f:
        f.writelines(line + "\n" for line in wrong)
    print(exact, total, unresolved)


def icmp_ports(lab_json, ports, index):
    udp = lab_udp_constants()
    (h,) = load_hosts(lab_json, [index])
    print(sum(1 for p in ranges(ports)
              if h.truth("udp", p, udp)[1] in ("port-unreach", "admin-prohibited")))


def med(values):
    m = statistics.median(values)
    return f"{m:g}"


def table(results):
    rows = defaultdict(list)
    order = []
    with open(results) as f:
        for line in f:
            scenario, tool, _run, secs, exact, total, unres = line.split()
            if (scenario, tool) not in rows:
                order.append((scenario, tool))
            rows[(scenario, tool)].append((float(secs), int(exact), int(total), int(unres)))
    scenarios = list(dict.fromkeys(s for s, _ in order))
    for s in scenarios:
        print(f"\n[{s}]")
        print(f"{'tool':<13} {'runs (s)':<26} {'median s':>9} {'exact/total':>14} "
              f"{'unresolved':>10} {'x nmap':>7}")
        nmap = rows.get((s, "nmap"))
        nmap_t = statistics.median(r[0] for r in nmap) if nmap else None
        for (s2, tool) in order:
            if s2 != s:
                continue
            rs = rows[(s, tool)]
            t = statistics.median(r[0] for r in rs)
            runs = " ".join(f"{r[0]:g}" for r in rs)
            ex = f"{med([r[1] for r in rs])}/{rs[0][2]}"
            ratio = f"{t / nmap_t:.3f}" if nmap_t else "-"
            print(f"{tool:<13} {runs:<26} {t:>9g} {ex:>14} {med([r[3] for r in rs]):>10} "
                  f"{ratio:>7}")


def summary(wrong_file):
    groups = defaultdict(lambda: defaultdict(list))
    with open(wrong_file) as f:
        for line in f:
            addr, port, g, w = line.split()
            groups[(g, w)][addr].append(int(port))
    for (g, w), per_addr in sorted(groups.items()):
        for addr, ports in sorted(per_addr.items()):
            print(f"  {addr}: {len(ports)} ports reported {g}, truth {w}: {compress(ports)}")


def main(args):
    if len(args) >= 6 and args[0] == "check":
        return check(args[1], args[2], args[3], args[4], args[5:])
    if len(args) == 4 and args[0] == "icmp-ports":
        return icmp_ports(args[1], args[2], args[3])
    if len(args) == 2 and args[0] == "table":
        return table(args[1])
    if len(args) == 2 and args[0] == "summary":
        return summary(args[1])
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
