#!/usr/bin/env python3
"""Readiness checks, ground truth, checking and the tables for bench/version.sh.

    version.py ready SECONDS NAME=PORT...
        Run inside the target's namespace: waits until every daemon NAME on PORT passes its
        own readiness check (a TCP connect, its greeting, or a DNS answer over UDP), all
        within SECONDS; exits 1 naming the first one that did not.
    version.py truth NAME=PORT...
        Prints the ground truth as JSON: per port the daemon, the product keyword a right
        answer names, the installed Debian package and its upstream version (dpkg-query).
    version.py check TRUTH.json REPORT.xml
        Prints "PRODUCTS PRODUCT+VERSION RIGHT_PRODUCTS RIGHT_VERSIONS" for an nmap-format
        XML report (nmap's or monban's) and writes REPORT.ports (JSON: what it said per port).
    version.py table RESULTS
        RESULTS holds lines "TOOL RUN SECONDS PRODUCTS PRODUCT+VERSION RIGHT_P RIGHT_V";
        prints medians per tool and the ratio of each tool's median time to nmap's.
    version.py goal RESULTS
        Issue 5's goal: exits 1 unless monban's medians name at least as many products,
        right products and right versions as nmap's, in at most half nmap's median time.
    version.py ports TRUTH.json TOOL=REPORT.xml...
        The per-port comparison: truth, then what each tool said and whether it is right.

    The UDP round (-sU -sV) has its own five:
    version.py truth-udp LAB_LIB_RS NAME=PORT...
        UDP ground truth as JSON: NAME a daemon above (dnsmasq, snmpd: open, as the answer
        to its -sV probe makes it) or "lab" (host 0's own UDP behaviour, read from the lab's
        lib.rs constants as its truth_for(Probe::Udp, port) uses them).
    version.py check-udp TRUTH.json REPORT.xml
        Prints "STATES RESOLVED PRODUCTS PRODUCT+VERSION RIGHT_P RIGHT_V FALSE_P" for the
        report's UDP ports and writes REPORT.ports.
    version.py table-udp TRUTH.json RESULTS
        Medians per tool under a "truth" row holding the best possible counts.
    version.py goal-udp RESULTS
        Exits 1 unless monban's medians have at least nmap's states, right products and
        right versions, and no more false products. Time is shown, not judged.
    version.py ports-udp TRUTH.json TOOL=REPORT.xml...
        The per-port comparison for UDP, with state and reason.

A product is right when it contains the daemon's keyword (case-insensitive: "OpenSSH",
"Postfix smtpd" and "Dovecot imapd" all count); where there is no daemon (the lab's own
accept-and-close listener) the right answer is no product. A version is right when its
first word is the installed upstream version (epoch, Debian revision and +dfsg/+ds repack
suffix removed): nmap's "9.2p1 Debian 2+deb12u10" is right for OpenSSH 9.2p1. Some daemons
never tell their version before login (PostgreSQL, Dovecot POP3, vsftpd's error greeting):
there the truth still is the installed version, and the table marks it "hidden".

UDP states: "states" counts ports whose state is the truth's (open|filtered included: the
lab's silent port can be nothing else), "resolved" those of them that are open or closed.
net-snmp's agent never names its own version (sysDescr is the host's uname), so its version
is "hidden" too; a "false product" is a wrong product, or any product on a port where no
software answers (the lab's "monban-lab udp" echo, its silent port, a closed port).
"""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

# name: (product keyword, Debian package or None, version shown before login?, readiness)
# Readiness: ("connect",), ("greeting", bytes) or ("udp", payload).
DNS_VERSION_BIND = (
    b"\x6d\x62\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    b"\x07version\x04bind\x00\x00\x10\x00\x03"
)


def snmp_get_sysdescr(community):
    """An SNMPv1 GetRequest for sysDescr.0 (lab/src/daemons.rs snmp_get_sysdescr)."""
    c = community.encode()
    varbinds = b"\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00"
    pdu = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + varbinds
    body = b"\x02\x01\x00\x04" + bytes([len(c)]) + c + b"\xa0" + bytes([len(pdu)]) + pdu
    return b"\x30" + bytes([len(body)]) + body


DAEMONS = {
    "sshd": ("openssh", "openssh-server", True, ("connect",)),
    "nginx": ("nginx", "nginx", True, ("connect",)),
    "vsftpd": ("vsftpd", "vsftpd", True, ("connect",)),
    "vsftpd-oops": ("vsftpd", "vsftpd", False, ("greeting", b"500 OOPS: ")),
    "postfix": ("postfix", "postfix", True, ("greeting", b"220 ")),
    "dovecot-imap": ("dovecot", "dovecot-core", True, ("greeting", b" ready.\r\n")),
    "dovecot-pop3": ("dovecot", "dovecot-core", False, ("greeting", b" ready.\r\n")),
    "postgresql": ("postgresql", "postgresql", False, ("connect",)),
    "redis": ("redis", "redis-server", True, ("connect",)),
    "memcached": ("memcached", "memcached", True, ("connect",)),
    "dnsmasq": ("dnsmasq", "dnsmasq-base", True, ("udp", DNS_VERSION_BIND)),
    # UDP only. net-snmp's agent never tells its version: sysDescr is the host's uname.
    "snmpd": ("net-snmp", "snmpd", False, ("udp", snmp_get_sysdescr("public"))),
    # The lab's own listener: accepts and closes, no software behind it.
    "lab-listener": (None, None, False, ("connect",)),
}


def pairs(args):
    out = []
    for a in args:
        name, _, port = a.partition("=")
        if name not in DAEMONS or not port.isdigit():
            sys.exit(f"version.py: bad NAME=PORT {a!r} (names: {', '.join(DAEMONS)})")
        out.append((name, int(port)))
    return out


def is_ready(port, how):
    addr = ("127.0.0.1", port)
    try:
        if how[0] == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                s.sendto(how[1], addr)
                return len(s.recv(2048)) > 0
        with socket.create_connection(addr, timeout=0.2) as s:
            if how[0] == "connect":
                return True
            got, until = b"", time.monotonic() + 2
            s.settimeout(0.2)
            while time.monotonic() < until and len(got) < 65536:
                try:
                    chunk = s.recv(1024)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                got += chunk
                if how[1] in got:
                    return True
    except OSError:
        pass
    return False


def cmd_ready(limit, args):
    until = time.monotonic() + float(limit)
    for name, port in pairs(args):
        while not is_ready(port, DAEMONS[name][3]):
            if time.monotonic() >= until:
                sys.exit(f"version.py: {name} on port {port} not ready within {limit} s")
            time.sleep(0.05)


def postgresql_package():
    """The newest installed PostgreSQL server's package (postgresql-15), as lab/src/daemons.rs."""
    majors = [
        int(m)
        for m in os.listdir("/usr/lib/postgresql")
        if m.isdigit() and os.path.exists(f"/usr/lib/postgresql/{m}/bin/postgres")
    ]
    if not majors:
        sys.exit("version.py: no /usr/lib/postgresql/<major>/bin/postgres")
    return f"postgresql-{max(majors)}"


def upstream(full):
    """'1:2.3.19.1+dfsg1-2.1+deb12u7' -> '2.3.19.1' (what the program itself says)."""
    v = full.split(":", 1)[-1]
    v = v.rsplit("-", 1)[0] if "-" in v else v
    for suffix in ("+dfsg", "+ds"):
        v = v.split(suffix, 1)[0]
    return v


def daemon_truth(name, port):
    keyword, package, shown, _ = DAEMONS[name]
    version = None
    if package == "postgresql":
        package = postgresql_package()
    if package:
        full = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        version = upstream(full)
    return {"port": port, "daemon": name, "keyword": keyword, "package": package,
            "version": version, "shown": shown}


def cmd_truth(args):
    json.dump([daemon_truth(name, port) for name, port in pairs(args)], sys.stdout)
    print()


def lab_udp_consts(lib_rs):
    """The UDP behaviour every lab target has, read from lab/src/lib.rs (UDP_ANSWER,
    UDP_SILENT, the firewall's DROPPED and REJECTED ranges) so the truth cannot drift."""
    with open(lib_rs) as f:
        src = f.read()

    def const(name, pattern):
        m = re.search(rf"pub const {name}: [^=]+= {pattern};", src)
        if not m:
            sys.exit(f"version.py: cannot read {name} from {lib_rs}")
        return m

    answer = [int(x) for x in const("UDP_ANSWER", r"\[([0-9, ]+)\]").group(1).split(",")]
    silent = [int(x) for x in const("UDP_SILENT", r"\[([0-9, ]+)\]").group(1).split(",")]
    dropped = tuple(int(x) for x in const("DROPPED", r"([0-9]+)\.\.=([0-9]+)").groups())
    rejected = tuple(int(x) for x in const("REJECTED", r"([0-9]+)\.\.=([0-9]+)").groups())
    return answer, silent, dropped, rejected


def cmd_truth_udp(lib_rs, args):
    """UDP truth: daemons (NAME=PORT, a DAEMONS name) answer their -sV probe, so they are
    open; lab=PORT is the lab's own behaviour on host 0, as lab/src/lib.rs truth_for(Probe::Udp)
    says: UDP_ANSWER and 5000 + index answer "monban-lab udp" (open, no software behind it),
    UDP_SILENT and the dropped range stay open|filtered, the rejected range is filtered, every
    other port is closed (port unreachable)."""
    answer, silent, dropped, rejected = lab_udp_consts(lib_rs)
    answer = answer + [5000]  # host 0
    truth = []
    for a in args:
        name, _, port = a.partition("=")
        if not port.isdigit() or (name != "lab" and name not in DAEMONS):
            sys.exit(f"version.py: bad NAME=PORT {a!r} (names: lab, {', '.join(DAEMONS)})")
        port = int(port)
        if name != "lab":
            t = daemon_truth(name, port)
            t["state"] = "open"
        else:
            t = {"port": port, "keyword": None, "package": None, "version": None, "shown": False}
            if dropped[0] <= port <= dropped[1] or port in silent:
                t["state"], t["daemon"] = "open|filtered", "lab: bound, never answers"
            elif rejected[0] <= port <= rejected[1]:
                t["state"], t["daemon"] = "filtered", "lab: firewall rejects"
            elif port in answer:
                t["state"], t["daemon"] = "open", 'lab: answers "monban-lab udp"'
            else:
                t["state"], t["daemon"] = "closed", "lab: nothing bound"
        truth.append(t)
    json.dump(truth, sys.stdout)
    print()


def said(xml_path, proto="tcp"):
    """{port: {state, reason, name, product, version, extrainfo}} of every PROTO port in
    the report."""
    out = {}
    for port in ET.parse(xml_path).getroot().iter("port"):
        if port.get("protocol") != proto:
            continue
        state = port.find("state")
        svc = port.find("service")
        s = svc.attrib if svc is not None else {}
        out[int(port.get("portid"))] = {
            "state": state.get("state") if state is not None else None,
            "reason": state.get("reason") if state is not None else None,
            "name": s.get("name"),
            "tunnel": s.get("tunnel"),
            "product": s.get("product"),
            "version": s.get("version"),
            "extrainfo": s.get("extrainfo"),
        }
    return out


def judge(t, got):
    """("right"/"wrong"/"none", "right"/"wrong"/"none") for one port."""
    product, version = got.get("product"), got.get("version")
    if t["keyword"] is None:
        p = "wrong" if product else "right"
    elif not product:
        p = "none"
    else:
        p = "right" if t["keyword"] in product.lower() else "wrong"
    if not version:
        v = "none"
    else:
        v = "right" if t["version"] and version.split()[0] == t["version"] else "wrong"
    return p, v


def cmd_check(truth_path, xml_path):
    with open(truth_path) as f:
        truth = json.load(f)
    got = said(xml_path)
    products = both = right_p = right_v = 0
    for t in truth:
        g = got.get(t["port"], {})
        p, v = judge(t, g)
        products += bool(g.get("product"))
        both += bool(g.get("product") and g.get("version"))
        right_p += p == "right" and t["keyword"] is not None
        right_v += v == "right"
    with open(os.path.splitext(xml_path)[0] + ".ports", "w") as f:
        json.dump({str(k): v for k, v in got.items()}, f)
    print(products, both, right_p, right_v)


def read_results(results):
    """({tool: [(secs, counts...) per run]}, {tool: [medians]}) of a RESULTS file."""
    rows = {}
    with open(results) as f:
        for line in f:
            tool, _run, secs, *counts = line.split()
            rows.setdefault(tool, []).append((float(secs), *map(int, counts)))
    med = {t: [statistics.median(c) for c in zip(*r)] for t, r in rows.items()}
    return rows, med


def cmd_table(results):
    rows, med = read_results(results)
    base = med.get("nmap", [None])[0]
    print(f"{'tool':<8} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} "
          f"{'product':>8} {'prod+ver':>9} {'right prod':>10} {'right ver':>10} {'time/nmap':>10}")
    for tool, r in rows.items():
        m = med[tool]
        times = [x[0] for x in r]
        spread = {tuple(x[1:]) for x in r}
        ratio = f"{m[0] / base:.2f}" if base else "-"
        note = "" if len(spread) == 1 else "  (counts differ between runs)"
        print(f"{tool:<8} {len(r):>4} {m[0]:>9.2f} {min(times):>7.2f} {max(times):>7.2f} "
              f"{m[1]:>8g} {m[2]:>9g} {m[3]:>10g} {m[4]:>10g} {ratio:>10}{note}")


def cmd_goal(results):
    """Exit 1 unless monban's medians identify at least as many as nmap's (products, right
    products, right versions) in at most half nmap's median time."""
    _, med = read_results(results)
    n, m = med["nmap"], med["monban"]
    short = [what for what, i in (("products", 1), ("right products", 3), ("right versions", 4))
             if m[i] < n[i]]
    if m[0] > n[0] / 2:
        short.append(f"time {m[0]:.2f} s > half of nmap's {n[0]:.2f} s")
    if short:
        print(f"goal NOT met: monban is behind nmap in {', '.join(short)}")
        sys.exit(1)
    print(f"goal met: monban identifies at least as many as nmap (right versions {m[4]:g} vs "
          f"{n[4]:g}) in {m[0] / n[0]:.2f} of its time")


def show(g, udp=False):
    if not g:
        return "(port missing)"
    if udp:
        # Every state matters here, and why: "open udp-response", "open|filtered no-response".
        parts = [f"{g.get('state')} {g.get('reason') or '?'}", g.get("name") or "-"]
    elif g.get("state") != "open":
        return f"[{g.get('state')}]"
    else:
        parts = [g.get("name") or "?"]
    if g.get("tunnel"):
        parts[0] = f"{g['tunnel']}/{parts[0]}"
    for k in ("product", "version"):
        if g.get(k):
            parts.append(g[k])
    if g.get("extrainfo"):
        parts.append(f"({g['extrainfo']})")
    return " ".join(parts)


def cmd_ports(truth_path, reports, proto="tcp"):
    udp = proto == "udp"
    with open(truth_path) as f:
        truth = json.load(f)
    tools = []
    for r in reports:
        tool, _, paths = r.partition("=")
        tools.append((tool, [said(p, proto) for p in paths.split(",")]))
    for t in truth:
        if t["keyword"] is None:
            want = f"{t['state']}, no product" if udp else "no product (accept-and-close)"
        else:
            want = ((f"{t['state']}, " if udp else "")
                    + f"{t['keyword']} {t['version']} ({t['package']})"
                    + ("" if t["shown"] else ", version hidden"))
        print(f"{t['port']}/{proto} {t['daemon']}: want {want}")
        for tool, runs in tools:
            # Answers that differ only in extra information (memcached's or snmpd's uptime)
            # are one.
            seen = {}
            for got in runs:
                g = got.get(t["port"], {})
                p, v = judge(t, g)
                verdict = f"product {p}, version {v}"
                if udp:
                    s = "right" if g.get("state") == t["state"] else "wrong"
                    verdict = f"state {s}, {verdict}"
                key = (g.get("state"), g.get("reason") if udp else None, g.get("name"),
                       g.get("product"), g.get("version"))
                seen.setdefault(key, f"{show(g, udp=udp)}   [{verdict}]")
            many = "" if len(seen) == 1 else f"  ({len(seen)} different answers over {len(runs)} runs)"
            for line in seen.values():
                print(f"    {tool:<7} {line}{many}")


# ---------------------------------------------------------------------------------- UDP
# UDP counts: STATES (state as the truth says, open|filtered included), RESOLVED (of those,
# open or closed: what a scan can settle), PRODUCTS, PRODUCT+VERSION, RIGHT_P (daemon ports
# naming the right product), RIGHT_V (right versions), FALSE_P (a wrong product, or any
# product where no software answers).
UDP_COLUMNS = ("states", "resolved", "product", "prod+ver", "right prod", "right ver",
               "false prod")


def udp_counts(truth, got):
    c = [0] * len(UDP_COLUMNS)
    for t in truth:
        g = got.get(t["port"], {})
        p, v = judge(t, g)
        right_state = g.get("state") == t["state"]
        c[0] += right_state
        c[1] += right_state and t["state"] in ("open", "closed")
        c[2] += bool(g.get("product"))
        c[3] += bool(g.get("product") and g.get("version"))
        c[4] += p == "right" and t["keyword"] is not None
        c[5] += v == "right"
        c[6] += p == "wrong"
    return c


def cmd_check_udp(truth_path, xml_path):
    with open(truth_path) as f:
        truth = json.load(f)
    got = said(xml_path, "udp")
    with open(os.path.splitext(xml_path)[0] + ".ports", "w") as f:
        json.dump({str(k): v for k, v in got.items()}, f)
    print(*udp_counts(truth, got))


def cmd_table_udp(truth_path, results):
    """Medians per tool, after the truth's own counts (the best a tool can do)."""
    with open(truth_path) as f:
        truth = json.load(f)
    best = udp_counts(truth, {t["port"]: {
        "state": t["state"],
        "product": t["keyword"] if t["keyword"] else None,
        "version": t["version"] if t["keyword"] and t["shown"] else None,
    } for t in truth})
    rows, med = read_results(results)
    base = med.get("nmap", [None])[0]
    width = [max(len(c), 6) for c in UDP_COLUMNS]
    head = "".join(f" {c:>{w}}" for c, w in zip(UDP_COLUMNS, width))
    print(f"{'tool':<8} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7}{head} "
          f"{'time/nmap':>10}")
    cells = "".join(f" {n:>{w}g}" for n, w in zip(best, width))
    print(f"{'truth':<8} {'':>4} {'':>9} {'':>7} {'':>7}{cells} {'':>10}")
    for tool, r in rows.items():
        m = med[tool]
        times = [x[0] for x in r]
        spread = {tuple(x[1:]) for x in r}
        ratio = f"{m[0] / base:.2f}" if base else "-"
        note = "" if len(spread) == 1 else "  (counts differ between runs)"
        cells = "".join(f" {n:>{w}g}" for n, w in zip(m[1:], width))
        print(f"{tool:<8} {len(r):>4} {m[0]:>9.2f} {min(times):>7.2f} {max(times):>7.2f}"
              f"{cells} {ratio:>10}{note}")


def cmd_goal_udp(results):
    """Exit 1 unless monban's medians get at least as many UDP states, right products and
    right versions as nmap's, and no more false products. Time is reported, not judged."""
    _, med = read_results(results)
    n, m = med["nmap"], med["monban"]
    short = [what for what, i in (("states", 1), ("right products", 5), ("right versions", 6))
             if m[i] < n[i]]
    if m[7] > n[7]:
        short.append(f"false products ({m[7]:g} vs nmap's {n[7]:g})")
    if short:
        print(f"UDP goal NOT met: monban is behind nmap in {', '.join(short)}")
        sys.exit(1)
    print(f"UDP goal met: monban identifies at least as many UDP services as nmap (states "
          f"{m[1]:g} vs {n[1]:g}, right products {m[5]:g} vs {n[5]:g}, right versions "
          f"{m[6]:g} vs {n[6]:g}, false products {m[7]:g} vs {n[7]:g}); time {m[0]:.2f} s vs "
          f"{n[0]:.2f} s = {m[0] / n[0]:.2f} of nmap's (reported, not judged)")


def main(argv):
    if len(argv) >= 2 and argv[0] == "ready":
        cmd_ready(argv[1], argv[2:])
    elif argv and argv[0] == "truth":
        cmd_truth(argv[1:])
    elif len(argv) == 3 and argv[0] == "check":
        cmd_check(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "table":
        cmd_table(argv[1])
    elif len(argv) == 2 and argv[0] == "goal":
        cmd_goal(argv[1])
    elif len(argv) >= 3 and argv[0] == "ports":
        cmd_ports(argv[1], argv[2:])
    elif len(argv) >= 3 and argv[0] == "truth-udp":
        cmd_truth_udp(argv[1], argv[2:])
    elif len(argv) == 3 and argv[0] == "check-udp":
        cmd_check_udp(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "table-udp":
        cmd_table_udp(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "goal-udp":
        cmd_goal_udp(argv[1])
    elif len(argv) >= 3 and argv[0] == "ports-udp":
        cmd_ports(argv[1], argv[2:], "udp")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
