#!/usr/bin/env python3
"""Helpers of bench/detect.sh: the kernel log reader, psad's runner and parser, and the
comparison table.

    detect_psad.py kmsg PREFIX OUT          # until SIGTERM: the kernel log lines whose text
                                            # starts with PREFIX, as syslog lines (psad's input)
    detect_psad.py psad CONF LOG DIR OUT.json [GREP]
                                            # psad -A on LOG (only lines containing GREP if
                                            # given); per source: danger level, what psad
                                            # named, and the logged packets it took to flag
    detect_psad.py table SCENARIOS PSAD.json PSADNEW.json MONBAN.jsonl
                                            # the table; exit 1 if monban missed a scan or
                                            # alerted on a benign source
    detect_psad.py big TRUTH MONBAN.jsonl   # the throughput capture's alerts vs its truth

SCENARIOS: one line per source, `source|name|command|expected` (expected is
`benign` or `technique,kind,tool`, `|` separated alternatives with `/`).
"""

import glob
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

# ------------------------------------------------------------------------------ kmsg


def kmsg(prefix, out):
    """Follows /dev/kmsg (from the oldest record still in the ring buffer) and writes the
    records whose message starts with PREFIX as `Mon DD HH:MM:SS host kernel: MSG`, until
    SIGTERM; then drains what is left and exits. Lost records (ring buffer overrun) are
    counted on stderr."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    # printk times are CLOCK_MONOTONIC microseconds; the wall clock of boot turns them into
    # syslog times.
    boot = time.time() - time.monotonic()
    host = os.uname().nodename.split(".")[0] or "lab"
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    lost = kept = 0
    pre = prefix.encode()
    with open(out, "w", buffering=1 << 16) as f:
        idle_after_stop = 0
        while True:
            r, _, _ = select.select([fd], [], [], 0.2)
            if not r:
                if stop:
                    idle_after_stop += 1
                    if idle_after_stop >= 2:
                        break
                continue
            try:
                rec = os.read(fd, 16384)
            except BlockingIOError:
                continue
            except BrokenPipeError:
                lost += 1
                continue
            head, _, msg = rec.partition(b";")
            msg = msg.split(b"\n", 1)[0]
            if not msg.startswith(pre):
                continue
            try:
                usec = int(head.split(b",")[2])
            except (IndexError, ValueError):
                continue
            t = boot + usec / 1e6
            stamp = time.strftime("%b %e %H:%M:%S", time.localtime(t))
            f.write(f"{stamp} {host} kernel: {msg.decode(errors='replace')}\n")
            kept += 1
    print(f"kmsg: {kept} lines kept, {lost} overruns", file=sys.stderr)
    return 0 if lost == 0 else 3


# ------------------------------------------------------------------------------ psad

SRC_RE = re.compile(r"\sSRC=(\S+)")


def psad_config(conf_in, conf_out, d):
    """psad.conf with every directory psad writes to moved under D, no lookups."""
    over = {
        "HOSTNAME": "lab",
        "PSAD_DIR": f"{d}/var",
        "PSAD_RUN_DIR": f"{d}/run",
        "PSAD_FIFO_DIR": f"{d}/fifo",
        "ENABLE_WHOIS_LOOKUPS": "N",
        "ENABLE_DNS_LOOKUPS": "N",
        "ENABLE_SYSLOG_FILE": "Y",
        "IPT_SYSLOG_FILE": f"{d}/none",
    }
    lines = []
    for line in open(conf_in):
        k = line.split(None, 1)[0] if line.strip() and not line.startswith("#") else None
        if k in over:
            line = f"{k}    {over[k]};\n"
        lines.append(line)
    open(conf_out, "w").writelines(lines)


def run_psad(conf, log, d):
    """psad -A on LOG; returns {source: {"dl", "names"}} of the sources psad assigned a
    danger level."""
    res = subprocess.run(
        ["psad", "-c", conf, "-A", "-m", log, "--analysis-write-data",
         "--no-whois", "--no-rdns", "--no-netstat"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, text=True)
    if res.returncode != 0:
        raise SystemExit(f"psad -A failed ({res.returncode}): {res.stdout[-2000:]}")
    found = {}
    for src_dir in glob.glob(f"{d}/var/ipt_analysis/*/danger_level"):
        src = os.path.basename(os.path.dirname(src_dir))
        try:
            dl = int(open(src_dir).read().split()[0])
        except (IndexError, ValueError):
            continue
        if dl < 1:
            continue
        names = []
        for alert in sorted(glob.glob(os.path.join(os.path.dirname(src_dir), "*_email_alert"))):
            names.extend(psad_names(open(alert, errors="replace").read()))
        found[src] = {"dl": dl, "names": sorted(set(names))}
    return found


def psad_names(text):
    """What psad said about a scan in its alert: TCP flags with the nmap option it maps them
    to, Masscan / port sweep / IP protocol scan styles, UDP and ICMP, signature names."""
    names = []
    for m in re.finditer(r"\[([A-Z ]+): \d+ packets(?:, ([^\]]+))?\]", text):
        flags, style = m.group(1).strip(), (m.group(2) or "").strip()
        style = style.replace("Nmap: ", "nmap ")
        names.append(f"{flags.replace(' ', '+')}" + (f"({style})" if style else ""))
    if re.search(r"Scanned UDP ports:", text):
        names.append("UDP")
    if re.search(r"IP Protocol scan:", text):
        names.append("nmap -sO")
    for m in re.finditer(r'^\s+"([^"]+)"\s*$', text, re.M):
        names.append(f'sig "{m.group(1)}"')
    return names


def psad_main(conf_in, log, d, out, grep=None):
    os.makedirs(d, exist_ok=True)
    conf = f"{d}/psad.conf"
    psad_config(conf_in, conf, d)
    lines = [l for l in open(log, errors="replace") if grep is None or grep in l]
    mylog = f"{d}/input.log"
    open(mylog, "w").writelines(lines)
    found = run_psad(conf, mylog, d)
    # Logged packets psad needed: the shortest prefix of the source's own lines that gets a
    # danger level (psad keeps its state per source, so its other lines do not matter).
    per_src = {}
    for l in lines:
        m = SRC_RE.search(l)
        if m:
            per_src.setdefault(m.group(1), []).append(l)
    for src, info in found.items():
        mine = per_src.get(src, [])
        info["logged"] = len(mine)
        lo, hi = 0, len(mine)
        part = f"{d}/part.log"
        while hi - lo > 1:
            mid = (lo + hi) // 2
            open(part, "w").writelines(mine[:mid])
            if src in run_psad(conf, part, d):
                hi = mid
            else:
                lo = mid
        info["to_flag"] = hi
    # Sources that were logged but not flagged, with their packet counts.
    quiet = {s: len(v) for s, v in per_src.items() if s not in found}
    with open(out, "w") as f:
        json.dump({"flagged": found, "quiet": quiet, "lines": len(lines)}, f, indent=1)
    return 0


# ------------------------------------------------------------------------------ table


def monban_by_source(path):
    """source -> the first alert that names it, and source -> the summary that names it
    (a group's summary rather than the source's own earlier one)."""
    alerts, summaries = {}, {}
    for line in open(path):
        r = json.loads(line)
        for s in r["sources"]:
            if r["event"] == "alert":
                alerts.setdefault(s, r)
            elif s not in summaries or r.get("merged_into") is None:
                summaries[s] = r
    return alerts, summaries


def expected_ok(exp, r):
    """exp: technique,kind,tool; each may list alternatives with '/'; techniques joined
    with '+' must be the exact set."""
    tech, kind, tool = exp.split(",")
    got_t = "+".join(r["techniques"])
    ok_t = got_t in tech.split("/")
    return ok_t, r["kind"] in kind.split("/"), r["tool"] in tool.split("/")


def alert_differs(exp, a):
    """How the first alert's naming differs from the expectation: its techniques must be
    some of the expected ones (more come later), its kind and tool the expected ones."""
    tech, kind, tool = exp.split(",")
    want = {t for alt in tech.split("/") for t in alt.split("+")}
    out = []
    if not set(a["techniques"]) <= want:
        out.append(f"technique {'+'.join(a['techniques'])}")
    if a["kind"] not in kind.split("/"):
        out.append(f"kind {a['kind']}")
    if a["tool"] not in tool.split("/"):
        out.append(f"tool {a['tool']}")
    return out


def table(scen_path, psad_path, psadnew_path, monban_path):
    scen = []
    for line in open(scen_path):
        if line.strip():
            src, name, cmd, exp = line.rstrip("\n").split("|", 3)
            scen.append((src, name, cmd, exp))
    psad = json.load(open(psad_path))
    psadnew = json.load(open(psadnew_path))
    alerts, summaries = monban_by_source(monban_path)
    head = ["source", "scenario", "psad", "psad named", "pkts", "psad/fw", "monban",
            "technique", "kind", "tool", "to alert", "expected (technique,kind,tool)"]
    rows, problems, fatal = [], [], []
    for src, name, cmd, exp in scen:
        p = psad["flagged"].get(src)
        pn = psadnew["flagged"].get(src)
        ptxt = f"DL{p['dl']}" if p else "no"
        pnames = "; ".join(p["names"]) if p else "-"
        ppk = f"{p['to_flag']}/{p['logged']}" if p else f"-/{psad['quiet'].get(src, 0)}"
        pntxt = f"DL{pn['dl']}@{pn['to_flag']}" if pn else "no"
        r = summaries.get(src) or alerts.get(src)
        a = alerts.get(src)
        alerted = a is not None
        if r is None:
            mtxt, t, k, tl, pba = "no", "-", "-", "-", "-"
        else:
            mtxt = "yes" if alerted else "late"
            if len(r["sources"]) > 1:
                mtxt += f" #{r['id']}({len(r['sources'])} src)"
            t, k, tl = "+".join(r["techniques"]), r["kind"], r["tool"]
            pba = str(a["probes_before_alert"] if a is not None else r["probes_before_alert"])
        # What the first alert said, where it differs from the summary.
        kd, tld = k, tl
        if a is not None and r is not None and a["kind"] != r["kind"]:
            kd += f" (alert: {a['kind']})"
        if a is not None and r is not None and a["tool"] != r["tool"]:
            tld += f" (alert: {a['tool']})"
        rows.append([src, name, ptxt, pnames, ppk, pntxt, mtxt, t, kd, tld, pba, exp])
        if exp == "benign":
            if r is not None:
                fatal.append(f"{src} ({name}, benign) was reported by monban: {t} {k} {tl}, "
                             f"{r['probes']} probes: {r['reason']}")
            continue
        if r is None:
            fatal.append(f"{src} ({name}: {cmd}) was not reported by monban")
            continue
        if not alerted:
            problems.append(f"{src} ({name}): only in a summary (no alert of its own): it "
                            f"joined campaign #{r['id']} of {', '.join(r['sources'])}")
        ok_t, ok_k, ok_tl = expected_ok(exp, r)
        wrong = [f"technique {t} (expected {exp.split(',')[0]})"] if not ok_t else []
        wrong += [f"kind {k} (expected {exp.split(',')[1]})"] if not ok_k else []
        wrong += [f"tool {tl} (expected {exp.split(',')[2]})"] if not ok_tl else []
        if len(r["sources"]) > 1:
            wrong.append(f"joined with {', '.join(s for s in r['sources'] if s != src)} into "
                         f"a {k} campaign #{r['id']}")
        if a is not None:
            early = alert_differs(exp, a)
            if early:
                wrong.append(f"its first alert (#{a['id']}, after {a['probes_before_alert']} "
                             f"probes) said {', '.join(early)}")
        if wrong:
            problems.append(f"{src} ({name}): " + "; ".join(wrong))
    # Reports on sources that are no scenario at all (the lab's own addresses, say).
    known = {s for s, *_ in scen}
    for s, r in sorted(summaries.items()):
        if s not in known:
            problems.append(f"{s} (no scenario) reported: {'+'.join(r['techniques'])} "
                            f"{r['kind']} {r['tool']}, {r['probes']} probes")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    print(fmt.format(*head))
    for r in rows:
        print(fmt.format(*r))
    print()
    print("psad: psad -A over every logged inbound packet, its danger level (DL1-5) or no;")
    print("  pkts = the source's logged packets psad needed to flag it / all it logged.")
    print("psad/fw: psad -A over the log of a default-deny firewall that lets the lab's services")
    print("  in (no established connection, no new one to a real service): DL@packets needed.")
    print("monban: yes = alerted, late = only in a summary (no alert of its own), #id(n src) =")
    print("  joined into a campaign of n sources; technique, kind, tool from the campaign's")
    print("  summary, (alert: X) where its first alert said otherwise; to alert = the first")
    print("  alert's probes_before_alert.")
    scans = [s for s in scen if s[3] != "benign"]
    benign = [s for s in scen if s[3] == "benign"]
    for label, res in (("psad", psad), ("psad/fw", psadnew)):
        hit = sum(1 for s in scans if s[0] in res["flagged"])
        fp = sum(1 for s in benign if s[0] in res["flagged"])
        print(f"{label}: {hit}/{len(scans)} scans flagged, {fp}/{len(benign)} benign sources flagged")
    hit = sum(1 for s in scans if s[0] in summaries or s[0] in alerts)
    fp = sum(1 for s in benign if s[0] in summaries or s[0] in alerts)
    print(f"monban: {hit}/{len(scans)} scans reported, {fp}/{len(benign)} benign sources reported")
    if problems:
        print("\nmonban's reports that differ from what was expected:")
        for p in problems:
            print("  " + p)
    if fatal:
        print("\nFAILED:")
        for p in fatal:
            print("  " + p)
        return 1
    return 0


# ------------------------------------------------------------------------------ big


def big(truth, monban_path):
    """The throughput capture: every scanner (10.88.0.0/16) must be reported, no other
    source; prints one summary line and the grouping of independent scanners."""
    n = int(dict(zip(*[iter(open(truth).read().split())] * 2))["scanners"])
    scanners = {f"10.88.{(i + 1) >> 8}.{(i + 1) & 255}" for i in range(n)}
    alerted, reported, groups, others = set(), set(), [], set()
    alerts = 0
    for line in open(monban_path):
        r = json.loads(line)
        srcs = set(r["sources"])
        if r["event"] == "alert":
            alerts += 1
            alerted |= srcs
        else:
            reported |= srcs
            if len(srcs) > 1:
                groups.append(r)
        others |= srcs - scanners
    missed = scanners - reported - alerted
    late = scanners - alerted - missed
    mixed = [g for g in groups if len(g["techniques"]) > 1]
    print(f"big.pcap: {n - len(missed)}/{n} scanners reported ({len(late)} only in a group's "
          f"summary, no alert of their own), {len(others)} other sources reported, {alerts} alerts; "
          f"{len(groups)} {'/'.join(sorted({g['kind'] for g in groups})) or 'multi-source'} "
          f"campaigns join {sum(len(g['sources']) for g in groups)} independent scanners "
          f"({len(mixed)} of them mixing techniques, e.g. "
          f"{'; '.join(', '.join(g['sources']) + ': ' + '+'.join(g['techniques']) for g in mixed[:2]) or '-'})")
    bad = []
    if missed:
        bad.append(f"missed scanners: {', '.join(sorted(missed)[:10])}")
    if others:
        bad.append(f"reported non-scanners: {', '.join(sorted(others)[:10])}")
    if bad:
        print("big.pcap FAILED: " + "; ".join(bad))
        return 1
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "kmsg":
        return kmsg(argv[1], argv[2])
    if len(argv) in (5, 6) and argv[0] == "psad":
        return psad_main(*argv[1:])
    if len(argv) == 5 and argv[0] == "table":
        return table(*argv[1:])
    if len(argv) == 3 and argv[0] == "big":
        return big(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
