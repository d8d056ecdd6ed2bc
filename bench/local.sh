#!/usr/bin/env bash
# monban local against ss on a host with NS x PER listening sockets (default 10 x 1,000).
#
#   cargo build --release && sudo bash bench/local.sh          # RUNS=5 by default
#   sudo NS=4 PER=500 RUNS=3 bash bench/local.sh
#
# Needs root (network namespaces), python3 and ss (iproute2), nsenter (util-linux). Makes NS
# namespaces monban-bench-local-N (lo up), each with one Python process holding PER listening
# TCP sockets on 0.0.0.0 (ports 30000 up), and removes them again on exit, also on failure.
# Then, RUNS times each, median wall time and peak memory (ru_maxrss of the child):
#   ss-1ns   nsenter --net=NS0 ss -tulpn            one namespace: PER sockets
#   ss-all   the same for each of the NS namespaces, one after the other (summed)
#   monban   monban local                           every namespace of the host at once (table)
#   monban-oJ  monban local -oJ FILE                the same, also writing JSON Lines
# and checks that monban found exactly PER sockets in each bench namespace, each owned by
# that namespace's Python process, and that ss found PER in NS0. Goal (issue 11): monban no
# slower than ss over one namespace while covering all of them.
set -euo pipefail
BENCH=local
NS=${NS:-10}
PER=${PER:-1000}
RUNS=${RUNS:-5}
fail() { echo "$BENCH: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces)"
for t in python3 ss nsenter ip; do command -v "$t" >/dev/null || fail "$t not found (apt-get install iproute2 util-linux python3)"; done
if [ -z "${MONBAN:-}" ]; then
    cargo build --release -q -p monban || fail "cargo build --release"
    MONBAN=$PWD/target/release/monban
fi
[ -x "$MONBAN" ] || fail "no monban at $MONBAN"
exec python3 "$(dirname "$0")/local_bench.py" "$MONBAN" "$NS" "$PER" "$RUNS"
