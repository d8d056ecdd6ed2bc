#!/usr/bin/env bash
# Full-range SYN scan of the lab: nmap vs monban, measured in the same run.
#
#   sudo bash bench/syn_full_range.sh          # 3 hosts, no loss, 3 runs each
#   sudo RUNS=5 LOSS=30 bash bench/syn_full_range.sh   # 3% random loss on the router
#
# Builds a lab with `monban-lab up`, runs `nmap -n -Pn -sS -T4 -p- HOSTS` and
# `monban scan -n -Pn -sS -T4 -p- --no-progress HOSTS` (release build) alternately, checks
# every port's state against the lab's ground truth and between the two tools, and prints
# the medians and the ratio monban/nmap. Fails if monban misreports any port, or if nmap does
# on a loss-free lab (under LOSS, nmap's own misses are only shown). Every run is bounded by
# LIMIT seconds; the lab is torn down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
HOSTS=${HOSTS:-3}
LOSS=${LOSS:-0}
LIMIT=${LIMIT:-600}

fail() {
    echo "bench/syn_full_range.sh: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, raw sockets)"
for tool in nmap python3 ip nft timeout; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install nmap ndiff nftables iproute2)"
done

echo "== cargo build --release (monban, monban-lab)" >&2
cargo build --release -q -p monban -p monban-lab || fail "cargo build --release"
MONBAN=$PWD/target/release/monban
LAB=$PWD/target/release/monban-lab

work=$(mktemp -d /tmp/monban-bench.XXXXXX)
lab_pid=""
cleanup() {
    if [ -n "$lab_pid" ]; then
        kill -TERM "$lab_pid" 2>/dev/null || true
        wait "$lab_pid" 2>/dev/null || true
    fi
    echo "results kept in $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$LAB" up --hosts "$HOSTS" --loss "$LOSS" --ignore-stdin >"$work/lab.json" 2>"$work/lab.err" &
lab_pid=$!
for _ in $(seq 600); do
    [ -s "$work/lab.json" ] && break
    kill -0 "$lab_pid" 2>/dev/null || fail "monban-lab up died: $(cat "$work/lab.err")"
    sleep 0.1
done
[ -s "$work/lab.json" ] || fail "the lab did not come up within 60 s: $(cat "$work/lab.err")"

scan_ns=$(grep -o '"scanner":{"ns":"[^"]*"' "$work/lab.json" | cut -d'"' -f6)
mapfile -t hosts < <(grep -o '"v4":"10\.77\.1\.[0-9]*"' "$work/lab.json" | cut -d'"' -f4)
[ -n "$scan_ns" ] && [ "${#hosts[@]}" -eq "$HOSTS" ] || fail "cannot read the lab description: $(cat "$work/lab.json")"
echo "lab: scanner namespace $scan_ns, targets ${hosts[*]}, loss ${LOSS}‰" >&2

# Runs one timed scan; prints its wall time in seconds.
timed() {
    local name=$1 rc=0
    shift
    local t0 t1
    t0=$(date +%s.%N)
    timeout "$LIMIT" ip netns exec "$scan_ns" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "$name: $* exited $rc (124 = over LIMIT=$LIMIT s): $(tail -3 "$work/$name.err")"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

# The lab's ground truth, one "ADDRESS PORT STATE" line per port.
python3 bench/xml_states.py --truth "$work/lab.json" | cut -d' ' -f1-3 >"$work/truth.states" ||
    fail "cannot compute the ground truth from $work/lab.json"

# Number of ports whose state in report $1 differs from the truth (missing ports count).
wrong() {
    python3 bench/xml_states.py "$1" | cut -d' ' -f1-3 >"${1%.xml}.states" ||
        fail "cannot read $1"
    diff "$work/truth.states" "${1%.xml}.states" | grep -c '^<' || true
}

nmap_times=()
monban_times=()
nmap_wrong=()
monban_wrong=()
for i in $(seq "$RUNS"); do
    echo "== run $i/$RUNS" >&2
    t=$(timed "nmap-$i" nmap -n -Pn -sS -T4 -p- -oX "$work/nmap-$i.xml" "${hosts[@]}") || exit 1
    nmap_times+=("$t")
    t=$(timed "monban-$i" "$MONBAN" scan -n -Pn -sS -T4 -p- --no-progress -oX "$work/monban-$i.xml" "${hosts[@]}") || exit 1
    monban_times+=("$t")
    w=$(wrong "$work/nmap-$i.xml") || exit 1
    nmap_wrong+=("$w")
    w=$(wrong "$work/monban-$i.xml") || exit 1
    monban_wrong+=("$w")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
nm=$(median "${nmap_times[@]}")
mm=$(median "${monban_times[@]}")
ports=$((HOSTS * 65535))

echo
echo "full-range SYN scan (-T4), $HOSTS hosts x 65535 ports, random loss ${LOSS}/1000, $RUNS runs each, alternating"
printf '%-8s %-26s %8s   %s\n' tool "wall time per run (s)" "median" "ports wrong per run (of $ports)"
printf '%-8s %-26s %8s   %s\n' nmap "${nmap_times[*]}" "$nm" "${nmap_wrong[*]}"
printf '%-8s %-26s %8s   %s\n' monban "${monban_times[*]}" "$mm" "${monban_wrong[*]}"
awk -v m="$mm" -v n="$nm" 'BEGIN { printf "ratio monban/nmap (medians): %.3f  (monban %.1fx faster)\n", m / n, n / m }'

bad=0
for i in $(seq "$RUNS"); do
    if [ "${monban_wrong[$((i - 1))]}" -ne 0 ]; then
        echo "run $i: monban misreported ${monban_wrong[$((i - 1))]} ports; first differences (< truth, > monban):" >&2
        { diff "$work/truth.states" "$work/monban-$i.states" || true; } | head -10 >&2
        bad=1
    fi
    if [ "${nmap_wrong[$((i - 1))]}" -ne 0 ]; then
        echo "run $i: nmap misreported ${nmap_wrong[$((i - 1))]} ports; first differences (< truth, > nmap):" >&2
        { diff "$work/truth.states" "$work/nmap-$i.states" || true; } | head -10 >&2
        # On a clean lab nmap must see the truth; otherwise the lab itself is broken.
        [ "$LOSS" -gt 0 ] || bad=1
    fi
done
[ "$bad" -eq 0 ] || fail "port states differ from the lab's ground truth (see above)"
if [ "$LOSS" -eq 0 ]; then
    echo "states identical: nmap and monban both report the lab's ground truth on all $ports ports in every run"
else
    echo "monban reported the lab's ground truth on all $ports ports in every run"
fi
