"""Driver of bench/local.sh: namespaces with listeners, timed runs, checks, table."""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

MONBAN, NS, PER, RUNS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
PREFIX = "monban-bench-local-"
HOLD = r"""
import resource, socket, sys, time
n, base = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", base + i))
    s.listen(1)
    socks.append(s)
sys.stderr.write("listening\n"); sys.stderr.flush()
time.sleep(900)
"""


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def timed(argv, out=subprocess.DEVNULL):
    """Wall seconds and peak RSS (KiB) of one run."""
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"local: FAILED: {argv} exited {p.returncode}: {err}")
    return wall, usage.ru_maxrss


names = [f"{PREFIX}{i}" for i in range(NS)]
holders = []
try:
    for n in names:
        subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
        h = subprocess.Popen(["ip", "netns", "exec", n, "python3", "-c", HOLD, str(PER), "30000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        line = h.stderr.readline().decode()
        if "listening" not in line:
            raise SystemExit(f"local: FAILED: holder in {n}: {line}")
        holders.append(h)
    ns0 = f"--net=/run/netns/{names[0]}"
    # Correctness first.
    out = subprocess.run(["nsenter", ns0, "ss", "-tlnH"], check=True, capture_output=True, text=True).stdout
    if len(out.splitlines()) != PER:  # -t: ss counts TCP only here
        raise SystemExit(f"local: FAILED: ss sees {len(out.splitlines())} sockets in {names[0]}, want {PER}")
    with tempfile.NamedTemporaryFile("w+", suffix=".jsonl") as f:
        timed([MONBAN, "local", "-t", "-oJ", f.name])
        counts = {n: 0 for n in names}
        owners = {}
        for line in open(f.name):
            v = json.loads(line)
            if v["event"] == "socket" and v["netns"] in counts:
                counts[v["netns"]] += 1
                owners.setdefault(v["netns"], set()).update(p["pid"] for p in v["processes"])
        for n, h in zip(names, holders):
            if counts[n] != PER or owners.get(n) != {h.pid}:
                raise SystemExit(f"local: FAILED: {n}: {counts[n]} sockets owned by {owners.get(n)}, want {PER} by {h.pid}")
    rows = {"ss-1ns": [], "ss-all": [], "monban": [], "monban-oJ": []}
    for _ in range(RUNS):
        rows["ss-1ns"].append(timed(["nsenter", ns0, "ss", "-tulpn"]))
        total, peak = 0.0, 0
        for n in names:
            w, m = timed(["nsenter", f"--net=/run/netns/{n}", "ss", "-tulpn"])
            total, peak = total + w, max(peak, m)
        rows["ss-all"].append((total, peak))
        rows["monban"].append(timed([MONBAN, "local"]))
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
            rows["monban-oJ"].append(timed([MONBAN, "local", "-oJ", f.name]))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for k, v in rows.items()}
    print(f"\nmonban local vs ss: {NS} namespaces x {PER} listening TCP sockets, median of {RUNS} runs")
    print(f"{'command':<10} {'covers':>22} {'wall s':>8} {'peak MB':>8} {'ratio to ss-1ns':>16}")
    every = f"all ns, {NS * PER}+ sockets"
    covers = {"ss-1ns": f"1 ns, {PER} sockets", "ss-all": f"{NS} ns, {NS * PER} sockets", "monban": every, "monban-oJ": every}
    for k, (w, m) in med.items():
        print(f"{k:<10} {covers[k]:>22} {w:8.3f} {m / 1024:8.1f} {w / med['ss-1ns'][0]:16.2f}")
finally:
    for h in holders:
        h.kill()
        h.wait()
    for n in names:
        subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)
