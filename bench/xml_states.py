#!/usr/bin/env python3
"""Prints one line "ADDRESS PORT STATE REASON" for every TCP port of an nmap-format XML
report (nmap's or monban's), collapsed ports included (from <extrareasons ports=...>).

    xml_states.py REPORT.xml
    xml_states.py --truth LAB.json [--v6]   # the lab's ground truth, same format (SYN scan)

Used by the benchmarks to check what scanners saw against each other and against the lab.
Exits 2 when the report cannot say every port's state (no ports= ranges) or is not
well-formed XML.
"""
import json
import sys
import xml.etree.ElementTree as ET


def ranges(text):
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        yield from range(int(a), int(b or a) + 1)


def states(path, proto="tcp"):
    """{(address, port): (state, reason)} for every `proto` port of an XML report,
    collapsed ports included (extrareasons ports=). Raises ET.ParseError or OSError for a
    report that cannot be read, ValueError for one that cannot say every port's state."""
    root = ET.parse(path).getroot()
    out = {}
    for host in root.iter("host"):
        addr = next((a.get("addr") for a in host.iter("address")
                     if a.get("addrtype") in ("ipv4", "ipv6")), None)
        if addr is None:
            continue
        for extra in host.iter("extraports"):
            for r in extra.iter("extrareasons"):
                if r.get("proto", proto) != proto:
                    continue
                if r.get("ports") is None:
                    raise ValueError(f"{path}: {addr}: extrareasons without ports=")
                for p in ranges(r.get("ports")):
                    out[(addr, p)] = (extra.get("state"), r.get("reason"))
        for port in host.iter("port"):
            st = port.find("state")
            if port.get("protocol") == proto and st is not None:
                out[(addr, int(port.get("portid")))] = (st.get("state"), st.get("reason"))
    return out


def main(path):
    try:
        found = states(path)
    except (ET.ParseError, OSError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    for (addr, p), (state, reason) in sorted(found.items()):
        print(addr, p, state, reason)
    return 0


def truth(path, family):
    """The SYN-scan ground truth written by `monban-lab up`."""
    with open(path) as f:
        lab = json.load(f)
    out = []
    for h in lab["hosts"]:
        opened = set(h["open"])
        dropped = set(ranges(h["dropped"]))
        rejected = set(ranges(h["rejected"]))
        for p in range(1, 65536):
            if p in opened:
                out.append((h[family], p, "open", "syn-ack"))
            elif p in dropped:
                out.append((h[family], p, "filtered", "no-response"))
            elif p in rejected:
                out.append((h[family], p, "filtered", "admin-prohibited"))
            else:
                out.append((h[family], p, "closed", "reset"))
    for addr, p, state, reason in sorted(out):
        print(addr, p, state, reason)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 1:
        sys.exit(main(args[0]))
    if len(args) in (2, 3) and args[0] == "--truth" and args[2:] in ([], ["--v6"]):
        sys.exit(truth(args[1], "v6" if args[2:] else "v4"))
    print("usage: xml_states.py REPORT.xml | xml_states.py --truth LAB.json [--v6]",
          file=sys.stderr)
    sys.exit(2)
