#!/usr/bin/env bash
# UDP, ACK and FIN scans: monban vs nmap -T4, measured in the same run against the same lab.
#
#   cargo build --release && sudo bash bench/scan_types.sh         # 3 runs each, ~11 minutes
#   sudo RUNS=1 bash bench/scan_types.sh                           # one run each, ~4 minutes
#   sudo UDP_PORTS=53,123,161,5000,1000-1040 TCP_HOSTS=2 bash bench/scan_types.sh
#
# Needs root (network namespaces, raw sockets), nmap, nft, iproute2, python3, gcc and GNU time
# from Debian (apt-get install nmap nftables iproute2 python3 gcc time); builds the release
# monban and monban-lab itself (bench/lib.sh; MONBAN=path uses a binary built elsewhere).
#
# UDP: one lab host that keeps Linux's default ICMP limits (`monban-lab up --icmp-limits`:
# per source address a burst of 6 errors, then one a second), UDP_PORTS (~100 ports: the
# lab's answering ports, its bound-but-silent port, dropped, rejected and closed ports).
# `nmap -sU -T4` vs `monban scan -sU -T4`, and monban with 4 source addresses (`-S
# 10.77.0.2-5`, after adding 10.77.0.3-5 to the scanner's interface and checking that they
# are routed back), each RUNS times, alternating, with UDP_REST seconds (default 7) before
# every run so that each starts with a full ICMP bucket.
# ACK and FIN: TCP_HOSTS more lab hosts (default 2, hosts 1 and 2, their ICMP limits lifted as
# the lab does by default), every port (1-65535), `nmap -sA/-sF -T4 -p-` vs
# `monban scan -sA/-sF -T4 -p-`, RUNS times each, alternating.
# One lab serves the whole run; it first waits up to LOCK_WAIT s (default 1800) for other labs.
# All scans use -n -Pn. Every port of every run is checked against the lab's ground truth
# (bench/scan_types.py, which replicates monban_lab::Host::truth_for): a port is exact when
# state and reason both match; unresolved = left open|filtered although the truth is decided.
# Prints a table per scenario (medians, ratio to nmap's time), monban's UDP time against the
# time the ICMP limit itself imposes (goal <= 1.5x), and every port any tool got wrong;
# fails if monban got any port wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=scan_types
. bench/lib.sh

RUNS=${RUNS:-3}
TCP_HOSTS=${TCP_HOSTS:-2}
UDP_REST=${UDP_REST:-7}
LOCK_WAIT=${LOCK_WAIT:-1800}
# Answering (53,123,161 and 5000 on host 0), silent (9999), dropped (20000-20001), rejected
# (21000-21001), and 91 closed ports, mostly where UDP services usually live: 100 ports.
UDP_PORTS=${UDP_PORTS:-7,9,13,17,19,37,42,53,67-69,88,111,123,135,137-139,161,162,177,389,427,443,445,464,497,500,514,515,518,520,593,623,626,631,996-999,1022-1030,1194,1433,1434,1645,1646,1701,1718,1719,1812,1813,1900,2000,2048,2049,2222,2223,3283,3456,3478,3702,3703,4444,4500,5000,5060,5353,5355,5632,9200,9999,10000,11211,17185,20000,20001,20031,21000,21001,31337,32768,32769,32771,33281,33434,47808,49152-49156,65535}
EXTRA_SOURCES=(10.77.0.3 10.77.0.4 10.77.0.5)

need_root
need_tools nmap python3 gcc ip nft timeout flock /usr/bin/time
build_all
results=$work/results
: >"$results"

# record SCENARIO TOOL RUN SECONDS PROBE PORTS LAB_JSON REPORT HOST_INDEX...
record() {
    local scenario=$1 tool=$2 run=$3 secs=$4 probe=$5 ports=$6 lab=$7 report=$8 line
    shift 8
    line=$(python3 bench/scan_types.py check "$lab" "$probe" "$ports" "$report" "$@") ||
        fail "cannot check $report"
    echo "$scenario $tool $run $secs $line" >>"$results"
    echo "  $tool: $secs s, exact/total/unresolved: $line" >&2
}

# One lab for the whole run (labs are serialised machine-wide; a second one could wait behind
# other users' labs): host 0 keeps Linux's default ICMP limits for UDP, hosts 1..TCP_HOSTS get
# them lifted for ACK and FIN exactly as `monban-lab up` does without --icmp-limits.
flock -w "$LOCK_WAIT" /run/monban-lab.lock true || fail "another lab held /run/monban-lab.lock for $LOCK_WAIT s"
lab_up --hosts $((TCP_HOSTS + 1)) --icmp-limits
host_ns() { grep -o "\"index\":$1,\"ns\":\"[^\"]*\"" "$lab_json" | cut -d'"' -f6; }
target=${hosts[0]}
tcp_hosts=("${hosts[@]:1}")
tcp_indexes=$(seq 1 "$TCP_HOSTS")
ns0=$(host_ns 0)
[ -n "$ns0" ] || fail "cannot read host 0's namespace from $lab_json"
limit=$(ip netns exec "$ns0" sysctl -n net.ipv4.icmp_ratelimit)
[ "$limit" = 1000 ] || fail "$ns0: net.ipv4.icmp_ratelimit is $limit, not Linux's default 1000"
for i in $tcp_indexes; do
    ns=$(host_ns "$i")
    [ -n "$ns" ] || fail "cannot read host $i's namespace from $lab_json"
    ip netns exec "$ns" sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 ||
        fail "$ns: cannot lift the ICMP rate limit"
    # Per-namespace only on recent kernels; elsewhere the host-wide budget applies.
    if ip netns exec "$ns" test -e /proc/sys/net/ipv4/icmp_msgs_per_sec; then
        ip netns exec "$ns" sysctl -q -w net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=100000 ||
            fail "$ns: cannot lift the ICMP budget"
    fi
    [ "$(ip netns exec "$ns" sysctl -n net.ipv4.icmp_ratelimit)" = 0 ] || fail "$ns: ICMP limit still on"
done

# ---------------------------------------------------------------- UDP, default ICMP limits
# Extra sources on the scanner's interface; the router reaches 10.77.0.0/24 directly.
four=yes
for a in "${EXTRA_SOURCES[@]}"; do
    ip netns exec "$scan_ns" ip addr add "$a/24" dev eth0 || { four=no; break; }
    ip netns exec "$rt_ns" ip route get "$a" | grep -q 'dev s0' || { four=no; break; }
    # A datagram from $a to the target's answering port 53 must be answered.
    ip netns exec "$scan_ns" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.settimeout(2)
s.sendto(b"x", (sys.argv[2], 53))
s.recvfrom(512)' "$a" "$target" || { four=no; break; }
done
[ "$four" = yes ] || echo "extra source addresses do not work here: no 4-source run" >&2

nports=$(python3 bench/scan_types.py icmp-ports "$lab_json" "$UDP_PORTS" 0 | tail -1)
total=$(python3 -c 'import sys; sys.path.insert(0, "bench"); import scan_types as s; print(len(list(s.ranges(sys.argv[1]))))' "$UDP_PORTS")
for i in $(seq "$RUNS"); do
    echo "== udp run $i/$RUNS" >&2
    sleep "$UDP_REST"
    r=$(timed "udp-nmap-$i" nmap -n -Pn -sU -T4 -p "$UDP_PORTS" -oX "$work/udp-nmap-$i.xml" "$target")
    record udp nmap "$i" "${r%% *}" udp "$UDP_PORTS" "$lab_json" "$work/udp-nmap-$i.xml" 0
    sleep "$UDP_REST"
    r=$(timed "udp-monban-$i" "$MONBAN" scan -n -Pn -sU -T4 -p "$UDP_PORTS" --no-progress -oX "$work/udp-monban-$i.xml" "$target")
    record udp monban "$i" "${r%% *}" udp "$UDP_PORTS" "$lab_json" "$work/udp-monban-$i.xml" 0
    if [ "$four" = yes ]; then
        sleep "$UDP_REST"
        r=$(timed "udp-monban4-$i" "$MONBAN" scan -n -Pn -sU -T4 -S 10.77.0.2-5 -p "$UDP_PORTS" --no-progress -oX "$work/udp-monban4-$i.xml" "$target")
        record udp monban-4src "$i" "${r%% *}" udp "$UDP_PORTS" "$lab_json" "$work/udp-monban4-$i.xml" 0
    fi
done

# ---------------------------------------------------------------- ACK and FIN, every port
for scan in ack fin; do
    flag=-sA
    [ "$scan" = ack ] || flag=-sF
    for i in $(seq "$RUNS"); do
        echo "== $scan run $i/$RUNS" >&2
        r=$(timed "$scan-nmap-$i" nmap -n -Pn "$flag" -T4 -p- -oX "$work/$scan-nmap-$i.xml" "${tcp_hosts[@]}")
        # shellcheck disable=SC2086
        record "$scan" nmap "$i" "${r%% *}" "$scan" 1-65535 "$lab_json" "$work/$scan-nmap-$i.xml" $tcp_indexes
        r=$(timed "$scan-monban-$i" "$MONBAN" scan -n -Pn "$flag" -T4 -p- --no-progress -oX "$work/$scan-monban-$i.xml" "${tcp_hosts[@]}")
        # shellcheck disable=SC2086
        record "$scan" monban "$i" "${r%% *}" "$scan" 1-65535 "$lab_json" "$work/$scan-monban-$i.xml" $tcp_indexes
    done
done

echo
echo "UDP: $total ports on 1 host with Linux's default ICMP limit; $nports of them answer with an ICMP error"
echo "  (Linux allows a burst of 6 per source address, then 1/s: that is the limit's own time below)"
echo "ACK, FIN: $TCP_HOSTS hosts x 65,535 ports, unlimited ICMP; all scans -n -Pn -T4; medians of $RUNS runs"
python3 bench/scan_types.py table "$results"
# monban's UDP time against the time the ICMP limit itself imposes (issue 4's goal: <= 1.5x).
echo
for tool in monban:1:6 monban-4src:4:24; do
    IFS=: read -r name n burst <<<"$tool"
    t=$(awk -v t="$name" '$1 == "udp" && $2 == t { print $4 }' "$results")
    [ -n "$t" ] || continue
    # shellcheck disable=SC2086
    awk -v m="$(median $t)" -v k="$nports" -v n="$n" -v b="$burst" -v name="$name" 'BEGIN {
        own = (k > b ? k - b : 0) / n
        if (own > 0) printf "udp %s / the limit'"'"'s own time (%.1f s): %.2f (goal <= 1.5: %s)\n", name, own, m / own, m / own <= 1.5 ? "met" : "MISSED" }'
done

status=0
for f in "$work"/*.wrong; do
    [ -s "$f" ] || continue
    name=$(basename "$f" .wrong)
    echo
    echo "$name: $(wc -l <"$f") ports differ from the lab's truth"
    python3 bench/scan_types.py summary "$f"
    case $name in *monban*) status=1 ;; esac
done
[ "$status" -eq 0 ] || fail "monban reported ports that differ from the lab's ground truth (see above; files in $work)"
echo
echo "monban reported the lab's ground truth on every port of every run"
