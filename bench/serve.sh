#!/usr/bin/env bash
# monban serve: a quick self-scan through the page's API, end to end, against nmap -sS of the
# same 37 ports from the command line, in the same lab and the same run.
#
#   cargo build --release && sudo bash bench/serve.sh          # RUNS=5 by default
#
# Needs root (the lab), nmap, python3 and iproute2; builds the release monban and monban-lab
# (MONBAN=path uses a binary built elsewhere). A lab with one target; `monban serve` in the
# scanner's namespace (10.77.0.2:8080); the visitor is the target (10.77.1.10), a Python
# client inside its namespace that does what the page's script does: GET / for the CSRF
# cookie, POST /api/scans {"profile":"quick"}, then reads /api/scans/ID/events until `done`
# and fetches the table. Measured per run: from the POST to the first `progress` event, and
# from the POST to the last row (the table fetched after `done`); nmap -sS -PE -n -p <the 37
# ports> 10.77.1.10 from the scanner's namespace, wall time. Medians of RUNS runs. Both
# tables are checked: 37 rows from the page, the same open ports as nmap's.
set -euo pipefail
BENCH=serve
RUNS=${RUNS:-5}
source "$(dirname "$0")/lib.sh"
need_root
need_tools nmap python3 ip
build_all
lab_up --hosts 1
target=${hosts[0]}
db=$work/serve.db
ip netns exec "$scan_ns" "$MONBAN" serve --listen 10.77.0.2:8080 --db "$db" --hourly 1000 \
    2> "$work/serve.log" &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null || true; lab_down' EXIT
for _ in $(seq 50); do grep -q listening "$work/serve.log" && break; sleep 0.1; done
grep -q listening "$work/serve.log" || fail "monban serve did not start: $(cat "$work/serve.log")"
t0_ns=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['hosts'][0]['ns'])" "$lab_json")
ports="1-10,20,21,22,23,25,53,59,79,80,110,113,135,139,443,445,1080,1125,1243,1999,5000,6776,7789,8080,12345,31337,54320,54321"
ip netns exec "$t0_ns" python3 "$(dirname "$0")/serve_client.py" "$RUNS" > "$work/page.txt" ||
    fail "the page client: $(cat "$work/page.txt")"
: > "$work/nmap.txt"
for _ in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    ip netns exec "$scan_ns" nmap -sS -PE -n -p "$ports" -oX "$work/nmap.xml" "$target" > /dev/null
    end=$(date +%s.%N)
    echo "$start $end" | awk '{printf "%.3f\n", $2 - $1}' >> "$work/nmap.txt"
done
nmap_open=$(grep -o 'portid="[0-9]*"><state state="open"' "$work/nmap.xml" | grep -o '[0-9]*' | sort -n | tr '\n' ',')
page_open=$(grep '^open ' "$work/page.txt" | tail -1 | cut -d' ' -f2)
[ "$nmap_open" = "$page_open" ] || fail "open ports differ: nmap $nmap_open, page $page_open"
python3 - "$work/page.txt" "$work/nmap.txt" "$RUNS" <<'PY'
import statistics, sys
page = [l.split() for l in open(sys.argv[1]) if l.startswith("run ")]
nmap = [float(l) for l in open(sys.argv[2]) if l.strip()]
first = statistics.median(float(r[1]) for r in page)
last = statistics.median(float(r[2]) for r in page)
n = statistics.median(nmap)
print(f"\nmonban serve, quick self-scan of 37 ports vs nmap -sS, median of {sys.argv[3]} runs")
print(f"{'':34} {'seconds':>8} {'vs nmap':>8}")
print(f"{'page: POST to first progress':34} {first:8.3f} {first / n:8.2f}")
print(f"{'page: POST to last row':34} {last:8.3f} {last / n:8.2f}")
print(f"{'nmap -sS -PE -p <37 ports>':34} {n:8.3f} {1.0:8.2f}")
PY
