#!/usr/bin/env bash
# Regenerates the real-tool captures in this folder (see README.md): brings a 2-host
# monban-lab up, runs every scanner / benign client in the lab's scanner namespace while
# tcpdump listens in the router namespace (on s0, its link to the scanner, so both
# directions are seen; nmap-D on br0, the targets' side), and tears the lab down on exit
# (also on error or Ctrl-C).
#
# Usage (root; nmap masscan zmap tcpdump curl python3 from Debian):
#   crates/detect/testdata/real/make.sh            # every fixture
#   crates/detect/testdata/real/make.sh nmap-sS zmap   # only these
# OUT=dir writes elsewhere. MONBAN=/path/to/monban and LAB=/path/to/monban-lab skip the build.
#
# Network safety: every scan is bounded (timeout, small port lists) and aimed at the lab's
# own addresses only (10.77.1.0/24, fd77:1::/64 inside the lab namespaces).

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
OUT=${OUT:-$here}
mkdir -p "$OUT"

[ "$(id -u)" = 0 ] || { echo "make.sh: run as root" >&2; exit 1; }
for t in nmap masscan zmap tcpdump curl python3 ip timeout; do
    command -v "$t" >/dev/null || { echo "make.sh: $t not found" >&2; exit 1; }
done

if [ -z "${MONBAN:-}" ] || [ -z "${LAB:-}" ]; then
    (cd "$root" && cargo build --release -q -p monban-lab -p monban)
fi
MONBAN=${MONBAN:-$root/target/release/monban}
LAB=${LAB:-$root/target/release/monban-lab}

work=$(mktemp -d /tmp/monban-fixtures.XXXXXX)
lab_pid="" cap_pid="" srv_pid=""

cleanup() {
    local p
    for p in "$cap_pid" "$srv_pid"; do
        if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
    done
    if [ -n "$lab_pid" ]; then
        kill -TERM "$lab_pid" 2>/dev/null || true
        wait "$lab_pid" 2>/dev/null || true
    fi
    echo "make.sh: logs in $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$LAB" up --hosts 2 --ignore-stdin >"$work/lab.json" 2>"$work/lab.err" &
lab_pid=$!
for _ in $(seq 6000); do
    [ -s "$work/lab.json" ] && break
    kill -0 "$lab_pid" 2>/dev/null || { echo "make.sh: lab died: $(cat "$work/lab.err")" >&2; exit 1; }
    sleep 0.1
done
[ -s "$work/lab.json" ] || { echo "make.sh: lab did not come up" >&2; exit 1; }
scan_ns=$(grep -o '"scanner":{"ns":"[^"]*"' "$work/lab.json" | cut -d'"' -f6)
rt_ns=$(grep -o '"router":{"ns":"[^"]*"' "$work/lab.json" | cut -d'"' -f6)
t0_ns=$(grep -o '"ns":"[^"]*-t0"' "$work/lab.json" | cut -d'"' -f4)
router_mac=$(ip netns exec "$rt_ns" cat /sys/class/net/s0/address)
echo "make.sh: lab up: scanner $scan_ns, router $rt_ns ($router_mac), t0 $t0_ns" >&2

# Everything but ARP, IPv6 hop-by-hop (MLD) and neighbour discovery (ICMPv6 133-137).
FILTER='not arp and not (ip6 and ip6[6] == 0) and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)'
PORTS=1-150,443,3306,8080,20001,21001      # open 1,22,80,443,8080 / 3306 (t1); 20001 dropped; 21001 rejected
UPORTS=7,53,67,69,111,123,137,161,500,1900,5000,9999,12345,20001,21001,40125
T2=10.77.1.10-11
: >"$work/empty.blocklist"

selected=("$@")
is_selected() {
    [ ${#selected[@]} -eq 0 ] && return 0
    local s
    for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

# cap NAME CMD... : capture on the router's interface $IFACE (default s0, the scanner-side
# link: every probe with its original TTL, even to addresses nobody answers for, and every
# answer) into $OUT/NAME.pcap while CMD runs in the scanner namespace (bounded by 180 s),
# then AFTER (default 1) s more for late answers. Sweeps wait 4 s: the router's ICMP host
# unreachables for silent addresses come ~3 s late and must not leak into the next file.
IFACE=s0
cap() {
    local name=$1 rc=0
    shift
    is_selected "$name" || return 0
    echo "== $name: $*" >&2
    rm -f "$OUT/$name.pcap"
    ip netns exec "$rt_ns" tcpdump -i "$IFACE" -Z root -U -n -w "$OUT/$name.pcap" "$FILTER" 2>"$work/$name.tcpdump" &
    cap_pid=$!
    for _ in $(seq 100); do grep -q listening "$work/$name.tcpdump" && break; sleep 0.05; done
    sleep 0.3
    timeout 180 ip netns exec "$scan_ns" "$@" >"$work/$name.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || echo "make.sh: $name exited $rc (see $work/$name.out)" >&2
    sleep "${AFTER:-1}"
    kill -INT "$cap_pid"
    wait "$cap_pid" 2>/dev/null || true
    cap_pid=""
    tail -1 "$work/$name.tcpdump" >&2
}

# ---- nmap ----
NMAP=(nmap -n -Pn -T4 --max-retries 2)
cap nmap-sS "${NMAP[@]}" -sS -p "$PORTS" $T2
cap nmap-sT "${NMAP[@]}" -sT -p "$PORTS" $T2
cap nmap-sF "${NMAP[@]}" -sF -p "$PORTS" $T2
cap nmap-sN "${NMAP[@]}" -sN -p "$PORTS" $T2
cap nmap-sX "${NMAP[@]}" -sX -p "$PORTS" $T2
cap nmap-sA "${NMAP[@]}" -sA -p "$PORTS" $T2
cap nmap-sW "${NMAP[@]}" -sW -p "$PORTS" $T2
cap nmap-sM "${NMAP[@]}" -sM -p "$PORTS" $T2
cap nmap-sU "${NMAP[@]}" -sU -p "$UPORTS" $T2
cap nmap-sO "${NMAP[@]}" -sO -p 1,2,4,6,17,41,47,50,103,132,255 10.77.1.10
AFTER=4 cap nmap-sn nmap -n -sn -T4 10.77.1.8-15
AFTER=4 cap nmap-PE nmap -n -sn -PE -T4 10.77.1.8-15
# Captured on br0 (the targets' side): the targets' answers to the decoys never reach s0
# (the router cannot resolve the decoys' addresses there).
IFACE=br0 cap nmap-D "${NMAP[@]}" -sS -D 10.77.0.50,10.77.0.51,ME -p "$PORTS" 10.77.1.10
cap nmap-6-sS "${NMAP[@]}" -6 -sS -p "$PORTS" fd77:1::10
cap nmap-sV "${NMAP[@]}" -sV -p 22,80,443,8080 10.77.1.10

# ---- masscan (invocation as in bench/local16.sh) ----
# masscan 1.3.2 sometimes never returns after its --wait (see bench/local16.sh): SIGINT it
# after 12 s (its probes take < 1 s here), SIGKILL 5 s later.
MASSCAN=(timeout -s INT -k 5 12 masscan --interface eth0 --router-mac "$router_mac" --rate 1000 --wait 2 --seed 7)
cap masscan "${MASSCAN[@]}" --adapter-ip 10.77.0.2 -p "$PORTS" 10.77.1.10-10.77.1.11
# Two cooperating instances, one per shard, from two source addresses (10.77.0.3 is not the
# kernel's: masscan answers ARP for it itself and sends its own RSTs).
cap masscan-shards bash -c "${MASSCAN[*]} --adapter-ip 10.77.0.2 --shard 1/2 -p $PORTS 10.77.1.10-10.77.1.11 &
    ${MASSCAN[*]} --adapter-ip 10.77.0.3 --shard 2/2 -p $PORTS 10.77.1.10-10.77.1.11; wait"
AFTER=4 cap masscan-ping "${MASSCAN[@]}" --adapter-ip 10.77.0.2 --ping 10.77.1.0/27

# ---- zmap (invocation as in bench/local16.sh) ----
ZMAP=(zmap -i eth0 -S 10.77.0.2 -G "$router_mac" -r 300 -c 2 -b "$work/empty.blocklist" -o -)
AFTER=4 cap zmap "${ZMAP[@]}" -p 80 10.77.1.0/24
AFTER=4 cap zmap-icmp "${ZMAP[@]}" -M icmp_echoscan 10.77.1.0/27
AFTER=4 cap zmap-udp "${ZMAP[@]}" -M udp -p 53 10.77.1.0/27

# ---- monban ----
MB=("$MONBAN" scan -n -Pn -T4 --no-progress)
cap monban-sS "${MB[@]}" -sS -p "$PORTS" $T2
cap monban-sT "${MB[@]}" -sT -p "$PORTS" $T2
cap monban-sF "${MB[@]}" -sF -p "$PORTS" $T2
cap monban-sA "${MB[@]}" -sA -p "$PORTS" $T2
cap monban-sU "${MB[@]}" -sU -p "$UPORTS" $T2
AFTER=4 cap monban-sn "$MONBAN" scan -n -sn -T4 --no-progress 10.77.1.8-15

# ---- benign traffic ----
if is_selected benign-http; then
    ip netns exec "$t0_ns" python3 -m http.server 8000 --bind 10.77.1.10 --directory "$work" \
        >"$work/http.log" 2>&1 &
    srv_pid=$!
    sleep 1
    cap benign-http bash -c 'for i in 1 2 3 4 5; do curl -s -o /dev/null -m 5 http://10.77.1.10:8000/lab.json; sleep 0.5; done'
    kill -TERM "$srv_pid"; wait "$srv_pid" 2>/dev/null || true; srv_pid=""
fi
cap benign-closed-retry bash -c 'for i in 1 2 3 4 5; do curl -s -m 3 http://10.77.1.10:7070/; sleep 1; done; true'
cap benign-three-closed bash -c 'for p in 7070 7071 7072; do curl -s -m 3 http://10.77.1.10:$p/; sleep 0.5; done; true'
# Five DNS A queries (a stub resolver's retries and a few names) to the lab's UDP 53
# listener, which answers every datagram with a short non-DNS line.
cap benign-dns python3 -c '
import socket, struct, random, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for name in ["example.com", "www.example.com", "monban.test", "example.com", "mail.example.com"]:
    q = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    s.sendto(q, ("10.77.1.10", 53))
    try: s.recvfrom(512)
    except OSError: pass
    time.sleep(0.3)
'

ls -l "$OUT"/*.pcap >&2
