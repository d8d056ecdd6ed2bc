#!/usr/bin/env bash
# monban detect: detection against psad on the same traffic in the same run, and throughput.
#
#   cargo build --release && sudo bash bench/detect.sh       # RUNS=3: 237 s measured, 75 s of
#                                                            # them monban's 3 passes over big.pcap
#   sudo RUNS=1 HOSTS=2 GAP=4 bash bench/detect.sh
#   sudo PACKETS=3000000 REF_TSHARK=0 bash bench/detect.sh
#
# Needs root (network namespaces, raw sockets, the kernel log), nmap, masscan, zmap, tcpdump,
# curl, psad, nft, iproute2, python3, gcc, taskset and GNU time from Debian (apt-get install
# nmap masscan zmap tcpdump curl psad nftables iproute2 python3 gcc util-linux time), tshark
# for the reference reader (REF_TSHARK=0 skips it); builds the release monban and monban-lab
# itself (bench/lib.sh; MONBAN=path uses a binary built elsewhere).
#
# Part 1, detection. A lab of HOSTS targets (default 3). Every scan gets its own source
# address, added to the scanner's eth0 (10.77.0.10-23; the benign clients 10.77.0.30-33), each
# checked to be routed back through the router. On the router, an nft forward chain logs
# every packet from the scanner side to 10.77.1.0/24 (`log flags tcp options`, kernel LOG
# format) with one of three prefixes: E (part of an established connection), S (a new
# connection to a service the lab really runs: a default-deny firewall would accept it) and D
# (the rest: what that firewall would drop and log). Kernel logging from namespaces needs
# net.netfilter.nf_log_all_netns=1: set for the run, restored on exit. The lines are read
# from /dev/kmsg as they come (the ring buffer holds only ~500 of them), kept by this run's
# prefix, and written in syslog format. At the same time tcpdump captures the router's
# scanner-side link (s0: both directions, and probes to absent hosts of a sweep, which never
# reach the targets' bridge). Scenarios, one after the other with GAP seconds (default 5)
# between them, so that no two campaigns overlap in time:
#   nmap -sS -sT -sF -sN -sX -sA (PORTS on every host), -sU (UPORTS), -sn (ping sweep of
#   10.77.1.0/27), masscan SYN (PORTS, 1,000/s), zmap SYN sweep (port 80 of 10.77.1.0/27),
#   monban -sS and -sA; nmap -sS and -sF of host 0 at the same time from two sources (two
#   independent campaigns); benign: curl x10 to a web server on host 0, a client refused by
#   2 closed ports before it finds that server, a DNS-like UDP client of host 0, a monitor
#   sending a line to ports 22 and 80 of every host three times.
# Then psad 2.4.6 in analysis mode (`psad -A -m LOG --analysis-write-data`, its config a copy
# of /etc/psad/psad.conf with every directory moved under the scratch directory) reads (a)
# every logged line and (b) only the D lines (psad's intended deployment: the log of a
# default-deny firewall); for each source: its danger level, what it named (TCP flags and
# the nmap option it maps them to, Masscan / sweep styles, signatures) and, by bisection over
# the source's own lines, how many logged packets it needed to flag it. `monban detect -r
# capture.pcap -oJ` reads the capture. The table compares them per source; the script FAILS
# if monban misses a scan or reports a benign source, and lists every report whose
# technique, kind or tool differs from what the scan is (no pass/fail against psad).
#
# Part 2, throughput. bench/detect_gen.py writes PACKETS (default 1,000,000) packets: a
# spoofed-source SYN flood with its SYN/ACKs, 200 scans and sweeps, benign connections.
# `monban detect -r big.pcap --stats -oJ` pinned to one core (taskset), RUNS times, with
# /usr/bin/time: median packets/s (goal >= 1,000,000) and max RSS; `tcpdump -r big.pcap -w
# /dev/null` in every run and `tshark -r big.pcap -q` once as reference readers (ratios).
# FAILS if a scanner of that capture is not reported or another source is.
#
# Part 1b: `monban detect --log` over the default-deny firewall's log (the D lines psad/fw
# reads), in the same table. Part 3, firewall-log throughput: bench/detect_loggen.py writes
# LOG_LINES (default 1,000,000) kernel LOG lines (200 scanners, a spoofed flood, 5,000 benign
# clients); `monban detect --log` RUNS times on one core: median lines/s (goal >= 200,000),
# max RSS; FAILS unless every scanner and no benign client is alerted.
#
# Prints the table of part 1 (with every monban report that differs from what the scan is),
# part 2's packets/s, max RSS and ratios, and the run time; keeps every file (capture,
# firewall log, psad's and monban's outputs) in the scratch directory it names.
#
# Network safety: every probe goes from the scanner namespace to the lab's own addresses
# (10.77.1.0/24); zmap gets an empty blocklist file and the /27 only, masscan and zmap the
# router's MAC; every tool runs under timeout. The big capture is written to a file only.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=detect
. bench/lib.sh

RUNS=${RUNS:-3}
HOSTS=${HOSTS:-3}
GAP=${GAP:-5}
PACKETS=${PACKETS:-1000000}
LOG_LINES=${LOG_LINES:-1000000}
REF_TSHARK=${REF_TSHARK:-1}
LIMIT=${LIMIT:-120}
LOCK_WAIT=${LOCK_WAIT:-1800}
# Open on some hosts (1, 22, 80, 443, 3306, 8080), closed, dropped (20001), rejected (21001).
PORTS=${PORTS:-1-30,53,80,110,143,443,3306,8080,20001,21001}
UPORTS=${UPORTS:-7,53,67,69,111,123,137,161,500,1900,5000,9999,20001,21001}
SWEEP=10.77.1.0/27
# The benign clients' web server on host 0 (python3 -m http.server; no psad signature names
# this port, where 8000 would match psad's "MISC HP Web JetAdmin" signature).
WEB_PORT=8008

need_root
need_tools nmap masscan zmap tcpdump curl psad python3 gcc ip nft timeout flock taskset /usr/bin/time
[ "$REF_TSHARK" = 0 ] || need_tools tshark
[ -e /proc/sys/net/netfilter/nf_log_all_netns ] || fail "no net.netfilter.nf_log_all_netns: this kernel cannot log from namespaces"
[ -r /dev/kmsg ] || fail "cannot read /dev/kmsg"
build_all
t_start=$(date +%s)
# What was built (others may be editing the tree).
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates src 2>/dev/null || rev="$rev + uncommitted changes in crates/ or src/"

tag="MBD$$"
log_old=""
pids=()
# Stops what this script started (by PID), restores the sysctl, then the lab.
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
    [ -z "$log_old" ] || sysctl -q -w net.netfilter.nf_log_all_netns="$log_old" || true
    lab_down
}
trap cleanup EXIT

flock -w "$LOCK_WAIT" /run/monban-lab.lock true || fail "another lab held /run/monban-lab.lock for $LOCK_WAIT s"
lab_up --hosts "$HOSTS"
host_ns() { grep -o "\"index\":$1,\"ns\":\"[^\"]*\"" "$lab_json" | cut -d'"' -f6; }
t0_ns=$(host_ns 0)
[ -n "$t0_ns" ] || fail "cannot read host 0's namespace"
web=${hosts[0]}
last=${hosts[$((${#hosts[@]} - 1))]}

# ---------------------------------------------------------------- sources
SCAN_SRC=(10.77.0.10 10.77.0.11 10.77.0.12 10.77.0.13 10.77.0.14 10.77.0.15 10.77.0.16
    10.77.0.17 10.77.0.18 10.77.0.19 10.77.0.20 10.77.0.21 10.77.0.22 10.77.0.23)
BENIGN_SRC=(10.77.0.30 10.77.0.31 10.77.0.32 10.77.0.33)
for a in "${SCAN_SRC[@]}" "${BENIGN_SRC[@]}"; do
    ip netns exec "$scan_ns" ip addr add "$a/24" dev eth0 || fail "cannot add $a to the scanner's eth0"
    ip netns exec "$rt_ns" ip route get "$a" | grep -q 'dev s0' || fail "the router does not route $a to the scanner"
done
# A web server on host 0 (WEB_PORT) for the benign clients.
mkdir -p "$work/www"
echo "hello" >"$work/www/index.html"
timeout "$LIMIT" ip netns exec "$t0_ns" python3 -m http.server "$WEB_PORT" --bind "$web" --directory "$work/www" \
    >"$work/http.log" 2>&1 &
pids+=($!)
# Every source reaches a target and gets its answer back (before the capture starts).
for a in "${SCAN_SRC[@]}" "${BENIGN_SRC[@]}"; do
    ok=no
    for _ in $(seq 50); do
        if ip netns exec "$scan_ns" curl -s -o /dev/null -m 2 --interface "$a" "http://$web:$WEB_PORT/"; then
            ok=yes
            break
        fi
        sleep 0.1
    done
    [ "$ok" = yes ] || fail "no HTTP answer from $web:$WEB_PORT to source $a"
done

# ---------------------------------------------------------------- firewall log
# The services a default-deny firewall in front of the targets would let in: the lab's
# listeners (lab.json), the web server, and the UDP ports every host answers (Host::udp_open).
services=$(python3 - "$lab_json" "$web" "$WEB_PORT" <<'EOF'
import json, sys
lab = json.load(open(sys.argv[1]))
s = [f"{sys.argv[2]} . tcp . {sys.argv[3]}"]
for h in lab["hosts"]:
    s += [f"{h['v4']} . tcp . {p}" for p in h["open"]]
    s += [f"{h['v4']} . udp . {p}" for p in (53, 123, 161, 5000 + h["index"])]
print(", ".join(s))
EOF
)
ip netns exec "$rt_ns" nft -f - <<EOF || fail "cannot add the log rules on the router"
table ip monban_detect_log {
    set services {
        type ipv4_addr . inet_proto . inet_service
        elements = { $services }
    }
    chain forward {
        type filter hook forward priority -20; policy accept;
        iifname "s0" ip daddr 10.77.1.0/24 ct state established,related log prefix "${tag}E " level info flags tcp options accept
        iifname "s0" ip daddr 10.77.1.0/24 ct state new ip daddr . meta l4proto . th dport @services log prefix "${tag}S " level info flags tcp options accept
        iifname "s0" ip daddr 10.77.1.0/24 log prefix "${tag}D " level info flags tcp options
    }
}
EOF
log_old=$(sysctl -n net.netfilter.nf_log_all_netns)
sysctl -q -w net.netfilter.nf_log_all_netns=1 || fail "cannot set net.netfilter.nf_log_all_netns"

timeout $((LIMIT * 5)) python3 bench/detect_psad.py kmsg "$tag" "$work/fw.log" 2>"$work/kmsg.err" &
kmsg_pid=$!
pids+=("$kmsg_pid")
# Both directions on the scanner side of the router, without ARP.
# (env --default-signal: a background job starts with SIGINT ignored, and tcpdump keeps that.)
timeout $((LIMIT * 5)) ip netns exec "$rt_ns" env --default-signal=INT tcpdump -i s0 -U -n -w "$work/capture.pcap" 'not arp' \
    2>"$work/tcpdump.err" &
cap_pid=$!
pids+=("$cap_pid")
for _ in $(seq 100); do
    grep -q listening "$work/tcpdump.err" && break
    sleep 0.05
done
grep -q listening "$work/tcpdump.err" || fail "tcpdump did not start: $(cat "$work/tcpdump.err")"
sleep 0.5

# ---------------------------------------------------------------- traffic
scen=$work/scenarios
: >"$scen"
# run SOURCE NAME EXPECTED CMD... : one scenario in the scanner namespace, bounded by LIMIT
# (masscan may need its timeout: see bench/local16.sh), then GAP seconds of quiet.
run() {
    local src=$1 name=$2 expect=$3 rc=0 cmd
    shift 3
    cmd="$*"
    cmd=${cmd//[$'\n'|]/ }
    cmd=$(tr -s ' ' <<<"${cmd:0:90}")
    echo "== $name from $src: $cmd" >&2
    echo "$src|$name|$cmd|$expect" >>"$scen"
    timeout "$LIMIT" ip netns exec "$scan_ns" "$@" >"$work/$name.out" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] && ! { [ "$name" = masscan ] && [ "$rc" -eq 124 ]; }; then
        fail "$name: $* exited $rc: $(tail -3 "$work/$name.out")"
    fi
    sleep "$GAP"
}
NMAP=(nmap -n -Pn -T4 --max-retries 2 -e eth0)
T=("${hosts[@]}")
: >"$work/empty.blocklist"
run 10.77.0.10 nmap-sS syn,portscan,nmap "${NMAP[@]}" -S 10.77.0.10 -sS -p "$PORTS" "${T[@]}"
run 10.77.0.11 nmap-sT connect,portscan,unknown "${NMAP[@]}" -S 10.77.0.11 -sT -p "$PORTS" "${T[@]}"
run 10.77.0.12 nmap-sF fin,portscan,nmap "${NMAP[@]}" -S 10.77.0.12 -sF -p "$PORTS" "${T[@]}"
run 10.77.0.13 nmap-sN null,portscan,nmap "${NMAP[@]}" -S 10.77.0.13 -sN -p "$PORTS" "${T[@]}"
run 10.77.0.14 nmap-sX xmas,portscan,nmap "${NMAP[@]}" -S 10.77.0.14 -sX -p "$PORTS" "${T[@]}"
run 10.77.0.15 nmap-sA ack,portscan,nmap "${NMAP[@]}" -S 10.77.0.15 -sA -p "$PORTS" "${T[@]}"
# nmap's UDP probes carry no habit monban knows (crates/detect/src/fingerprint.rs): either tool.
run 10.77.0.16 nmap-sU udp,portscan,nmap/unknown "${NMAP[@]}" -S 10.77.0.16 -sU -p "$UPORTS" "${T[@]}"
run 10.77.0.17 nmap-sn syn+ack+icmp-echo+icmp-timestamp,sweep,nmap \
    nmap -n -sn -T4 -e eth0 -S 10.77.0.17 "$SWEEP"
run 10.77.0.18 masscan syn,portscan,masscan \
    masscan --interface eth0 --router-mac "$router_mac" --adapter-ip 10.77.0.18 --rate 1000 --wait 2 \
    --seed 7 -p "$PORTS" "${hosts[0]}-$last"
run 10.77.0.19 zmap syn,sweep,zmap \
    zmap -i eth0 -S 10.77.0.19 -G "$router_mac" -r 300 -c 2 -b "$work/empty.blocklist" -o - -p 80 "$SWEEP"
run 10.77.0.20 monban-sS syn,portscan,monban \
    "$MONBAN" scan -n -Pn -T4 --no-progress -S 10.77.0.20 -sS -p "$PORTS" "${T[@]}"
run 10.77.0.21 monban-sA ack,portscan,monban \
    "$MONBAN" scan -n -Pn -T4 --no-progress -S 10.77.0.21 -sA -p "$PORTS" "${T[@]}"
# Two independent scans of the same host at the same time, different sources and techniques:
# two campaigns, not one scanner with its decoys.
echo "== concurrent: nmap -sS from 10.77.0.22 and nmap -sF from 10.77.0.23, both against $web" >&2
echo "10.77.0.22|concurrent-sS|nmap -sS -p PORTS $web, with concurrent-sF|syn,portscan,nmap" >>"$scen"
echo "10.77.0.23|concurrent-sF|nmap -sF -p PORTS $web, with concurrent-sS|fin,portscan,nmap" >>"$scen"
timeout "$LIMIT" ip netns exec "$scan_ns" bash -c '"${@:3}" -S 10.77.0.22 -sS -p "$1" "$2" & "${@:3}" -S 10.77.0.23 -sF -p "$1" "$2"; wait' \
    _ "$PORTS" "$web" "${NMAP[@]}" >"$work/concurrent.out" 2>&1 || fail "concurrent nmap scans failed: $(tail -3 "$work/concurrent.out")"
sleep "$GAP"
run 10.77.0.30 benign-curl benign \
    bash -c 'for i in $(seq 10); do curl -s -o /dev/null -m 5 --interface 10.77.0.30 "http://$0:$1/"; sleep 0.3; done' "$web" "$WEB_PORT"
run 10.77.0.31 benign-2closed benign \
    python3 -c '
import socket, subprocess, sys, time
web, port = sys.argv[1], sys.argv[2]
for closed in (8001, 8001, 8081):          # refused twice, then another closed port
    s = socket.socket()
    s.bind(("10.77.0.31", 0))
    s.settimeout(2)
    try:
        s.connect((web, closed))
    except OSError:
        pass
    s.close()
    time.sleep(0.5)
for _ in range(3):                       # then the right port
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "5", "--interface", "10.77.0.31",
                    f"http://{web}:{port}/"], check=True)
    time.sleep(0.3)' "$web" "$WEB_PORT"
run 10.77.0.32 benign-udp benign \
    python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.32", 0))
s.settimeout(2)
for i in range(6):
    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03lab\x00\x00\x01\x00\x01", (sys.argv[1], 53))
    s.recvfrom(512)
    time.sleep(0.3)' "$web"
run 10.77.0.33 benign-monitor benign \
    python3 -c '
import socket, sys, time
for _ in range(3):
    for host in sys.argv[1:]:
        for port in (22, 80):
            s = socket.create_connection((host, port), timeout=2, source_address=("10.77.0.33", 0))
            s.sendall(b"monitor\r\n")
            s.close()
    time.sleep(1)' "${hosts[@]}"
# Late answers (ICMP host unreachable after the router's ARP timeout) and silence settle.
sleep 4
kill -INT "$cap_pid"
wait "$cap_pid" 2>/dev/null || true
kill -TERM "$kmsg_pid"
kmsg_rc=0
wait "$kmsg_pid" || kmsg_rc=$?
pids=("${pids[0]}")
sysctl -q -w net.netfilter.nf_log_all_netns="$log_old" && log_old=""
cat "$work/kmsg.err" >&2
[ "$kmsg_rc" -eq 0 ] || fail "the kernel log reader lost lines (ring buffer overrun) or failed ($kmsg_rc): $(cat "$work/kmsg.err")"
[ -s "$work/fw.log" ] || fail "no firewall log line in the kernel log (prefix $tag)"
[ -s "$work/capture.pcap" ] || fail "tcpdump captured nothing"
echo "capture: $(tail -2 "$work/tcpdump.err" | head -1); firewall log: $(wc -l <"$work/fw.log") lines" >&2

# ---------------------------------------------------------------- detectors
echo "== psad -A (every logged packet, then the default-deny firewall's log only)" >&2
python3 bench/detect_psad.py psad /etc/psad/psad.conf "$work/fw.log" "$work/psad-all" "$work/psad-all.json" &
psad_pid=$!
pids+=("$psad_pid")
python3 bench/detect_psad.py psad /etc/psad/psad.conf "$work/fw.log" "$work/psad-fw" "$work/psad-fw.json" "${tag}D " ||
    fail "psad analysis (firewall log) failed"
wait "$psad_pid" || fail "psad analysis (every line) failed"
pids=("${pids[0]}")
echo "== monban detect -r capture.pcap" >&2
/usr/bin/time -f '%e %M' -o "$work/detect.time" \
    "$MONBAN" detect -r "$work/capture.pcap" -oJ "$work/detect.jsonl" --stats >"$work/detect.out" 2>"$work/detect.err" ||
    fail "monban detect failed: $(tail -3 "$work/detect.err")"
read -r d_secs d_rss <"$work/detect.time"

echo "monban $rev; psad $(psad -V 2>/dev/null | grep -o 'v[0-9.]*' | head -1), $(nmap --version | head -1 | cut -d' ' -f1-3), masscan $(masscan --version 2>/dev/null | grep -o '[0-9]\+\.[0-9.]\+' | head -1), zmap $(zmap --version 2>/dev/null | grep -o '[0-9]\+\.[0-9.]\+' | head -1)"
echo
echo "Part 1: $(wc -l <"$scen") sources, $(tcpdump -r "$work/capture.pcap" 2>/dev/null | wc -l) packets captured on the router's s0, $(wc -l <"$work/fw.log") firewall log lines"
echo "  (E $(grep -c "${tag}E " "$work/fw.log" || true), S $(grep -c "${tag}S " "$work/fw.log" || true), D $(grep -c "${tag}D " "$work/fw.log" || true)); monban detect took $d_secs s, $d_rss KB"
table_rc=0
python3 bench/detect_psad.py table "$scen" "$work/psad-all.json" "$work/psad-fw.json" "$work/detect.jsonl" || table_rc=$?
echo "monban detect --stats: $(tail -1 "$work/detect.err")"

# The same scans from the default-deny firewall's log (its D lines), as psad/fw reads them.
echo
echo "Part 1b: monban detect --log over the default-deny firewall's log (the D lines)"
grep " ${tag}D " "$work/fw.log" >"$work/fw-d.log" || fail "no D line in the firewall log"
"$MONBAN" detect --log "$work/fw-d.log" --year "$(date -u +%Y)" --home 10.77.1.0/24 \
    -oJ "$work/detect-log.jsonl" --stats >/dev/null 2>"$work/detect-log.err" ||
    fail "monban detect --log failed: $(tail -3 "$work/detect-log.err")"
log_rc=0
python3 bench/detect_psad.py table "$scen" "$work/psad-all.json" "$work/psad-fw.json" "$work/detect-log.jsonl" || log_rc=$?
echo "  (a log keeps no sequence number: masscan's fingerprint cannot show, its tool reads unknown)"

# ---------------------------------------------------------------- throughput
echo
echo "== Part 2: detect_gen.py $PACKETS packets" >&2
python3 bench/detect_gen.py "$work/big.pcap" --packets "$PACKETS" >"$work/big.truth" || fail "detect_gen.py"
npk=$(awk '{ print $2 }' "$work/big.truth")
m_secs=() m_rss=() r_secs=()
for i in $(seq "$RUNS"); do
    echo "== throughput run $i/$RUNS" >&2
    /usr/bin/time -f '%e %M' -o "$work/big-$i.time" timeout "$LIMIT" taskset -c 0 \
        "$MONBAN" detect -r "$work/big.pcap" --stats -oJ "$work/big-$i.jsonl" >/dev/null 2>"$work/big-$i.err" ||
        fail "monban detect -r big.pcap failed: $(tail -3 "$work/big-$i.err")"
    read -r s r <"$work/big-$i.time"
    m_secs+=("$s")
    m_rss+=("$r")
    /usr/bin/time -f '%e %M' -o "$work/tcpdump-$i.time" timeout "$LIMIT" taskset -c 0 \
        tcpdump -r "$work/big.pcap" -w /dev/null 2>/dev/null || fail "tcpdump -r big.pcap failed"
    read -r s _ <"$work/tcpdump-$i.time"
    r_secs+=("$s")
    echo "  monban ${m_secs[-1]} s ${m_rss[-1]} KB; tcpdump -r -w /dev/null $s s" >&2
done
t_secs=""
if [ "$REF_TSHARK" != 0 ]; then
    /usr/bin/time -f '%e %M' -o "$work/tshark.time" timeout $((LIMIT * 2)) taskset -c 0 \
        tshark -r "$work/big.pcap" -q >/dev/null 2>&1 || fail "tshark -r big.pcap failed"
    read -r t_secs _ <"$work/tshark.time"
fi
med=$(median "${m_secs[@]}")
rmed=$(median "${r_secs[@]}")
rss=$(printf '%s\n' "${m_rss[@]}" | sort -n | tail -1)
echo "Part 2: $(cat "$work/big.truth" | cut -d' ' -f1-4), $(du -m "$work/big.pcap" | cut -f1) MB; one core (taskset -c 0), median of $RUNS runs"
awk -v n="$npk" -v m="$med" -v r="$rmed" -v t="$t_secs" -v rss="$rss" 'BEGIN {
    pps = (m > 0) ? n / m : 0
    printf "  monban detect: %.2f s, %.0f packets/s (goal >= 1,000,000: %s), max RSS %.1f MB\n", m, pps, (pps >= 1000000 ? "met" : "MISSED"), rss / 1024
    printf "  tcpdump -r -w /dev/null: %.2f s (monban / tcpdump = %.1f)\n", r, (r > 0) ? m / r : 0
    if (t != "") printf "  tshark -r -q (1 run): %.2f s (monban / tshark = %.3f)\n", t, (t > 0) ? m / t : 0
}'
echo "  monban detect --stats: $(grep -m1 'monban detect:' "$work/big-1.err" || tail -1 "$work/big-1.err")"
big_rc=0
python3 bench/detect_psad.py big "$work/big.truth" "$work/big-1.jsonl" || big_rc=$?

# Part 3: firewall-log throughput on LOG_LINES kernel LOG lines.
echo
echo "== Part 3: detect_loggen.py $LOG_LINES lines" >&2
python3 bench/detect_loggen.py "$work/big.log" "$LOG_LINES" >"$work/biglog.truth" || fail "detect_loggen.py"
l_secs=() l_rss=()
for i in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$work/biglog-$i.time" timeout "$LIMIT" taskset -c 0 \
        "$MONBAN" detect --log "$work/big.log" --year 2026 -oJ "$work/biglog-$i.jsonl" >/dev/null 2>"$work/biglog-$i.err" ||
        fail "monban detect --log big.log failed: $(tail -3 "$work/biglog-$i.err")"
    read -r s r <"$work/biglog-$i.time"
    l_secs+=("$s")
    l_rss+=("$r")
    echo "  monban --log $s s $r KB" >&2
done
lmed=$(median "${l_secs[@]}")
lrss=$(printf '%s\n' "${l_rss[@]}" | sort -n | tail -1)
awk -v n="$LOG_LINES" -v m="$lmed" -v rss="$lrss" 'BEGIN {
    lps = (m > 0) ? n / m : 0
    printf "Part 3: %d firewall log lines; one core, median of runs: %.2f s, %.0f lines/s (goal >= 200,000: %s), max RSS %.1f MB\n", n, m, lps, (lps >= 200000 ? "met" : "MISSED"), rss / 1024
}'
scanned=$(grep '"event":"alert"' "$work/biglog-1.jsonl" | grep -o '"sources":\["10\.88\.[0-9.]*"' | sort -u | wc -l)
benign=$(grep '"event":"alert"' "$work/biglog-1.jsonl" | grep -c '"sources":\["10\.89\.' || true)
echo "  scanners alerted: $scanned / 200; benign clients alerted: $benign"
[ "$scanned" -eq 200 ] && [ "$benign" -eq 0 ] || big_rc=1
echo
echo "run time: $(($(date +%s) - t_start)) s"
[ "$table_rc" -eq 0 ] || fail "monban missed a scan or reported a benign source in part 1 (see above; files in $work)"
[ "$log_rc" -eq 0 ] || fail "monban --log missed a scan or reported a benign source in part 1b (see above; files in $work)"
[ "$big_rc" -eq 0 ] || fail "monban missed a scanner or reported another source in big.pcap (files in $work)"
echo "monban reported every scan and no benign source"
