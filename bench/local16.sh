#!/usr/bin/env bash
# One lab host answering for a whole /16 (10.78.0.0/16, `ip route add local ... dev lo` in its
# namespace) x port 80, open on every address: monban vs zmap vs masscan, measured in the
# same run, with the lab path's packet limit for open ports measured first.
#
#   sudo bash bench/local16.sh
#   sudo RUNS=5 ZMAP_RATE=200000 MASSCAN_RATE=1000000 bash bench/local16.sh
#
# Every packet stays inside the lab: each tool runs in the scanner namespace on its veth
# (eth0) with the source address 10.77.0.2 and the router's MAC given explicitly, and is
# told to scan 10.78.0.0/16 only (zmap with an empty blocklist file instead of its default,
# which would refuse 10/8 anyway; no tool is ever pointed at another network).
#   monban  scan -n -Pn -sS -T4 -p80 --no-progress -oG FILE 10.78.0.0/16
#   zmap    -p 80 -i eth0 -S 10.77.0.2 -G MAC -r ZMAP_RATE (default 1,000,000: above the path
#           limit, so zmap goes as fast as the path lets it) -c ZMAP_COOLDOWN (default 1 s)
#   masscan -p80 --interface eth0 --adapter-ip 10.77.0.2 --router-mac MAC --rate MASSCAN_RATE
#           (default 1,000,000) --wait MASSCAN_WAIT (default 1 s)
# Recall = distinct addresses reported with 80 open / 65,536 (all of them answer). The ideal
# time is 65,536 / (open-port path limit) + FINAL_TIMEOUT (default 1 s).
#
# masscan 1.3.2 never returns after its wait when no packet reaches its receive thread (its
# countdown runs negative forever); a UDP datagram from the router every 20 ms (bash's
# /dev/udp, to the discard port) keeps that thread waking up, and costs the scan nothing
# measurable (50 packets/s).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=local16
. bench/lib.sh

RUNS=${RUNS:-3}
ZMAP_RATE=${ZMAP_RATE:-1000000}
ZMAP_COOLDOWN=${ZMAP_COOLDOWN:-1}
MASSCAN_RATE=${MASSCAN_RATE:-1000000}
MASSCAN_WAIT=${MASSCAN_WAIT:-1}
FINAL_TIMEOUT=${FINAL_TIMEOUT:-1}
LIMIT=${LIMIT:-120}
NET=10.78.0.0/16
ADDRS=65536

need_root
need_tools zmap masscan gcc ip nft timeout /usr/bin/time
build_all
lab_up --hosts 1 --local-net
grep -q '"local_net":{"net":"10.78.0.0/16"' "$lab_json" || fail "the lab has no local /16: $(cat "$lab_json")"
: >"$work/empty.blocklist"

echo "== path limit, open ports (10.78.0.1-255 port 80)" >&2
limit=$(path_limit "$(seq -s, -f '10.78.0.%g' 1 255)" 80)
ideal=$(awk -v p="$ADDRS" -v l="$limit" -v f="$FINAL_TIMEOUT" 'BEGIN { printf "%.2f", p / l + f }')

# recall FILE PATTERN : distinct 10.78.x.y addresses on lines matching PATTERN, / 65,536.
recall() {
    grep -E "$2" "$1" | grep -oE '10\.78\.[0-9]+\.[0-9]+' | sort -u | wc -l |
        awk -v n="$ADDRS" '{ printf "%.4f", $1 / n }'
}

declare -A times recalls
for i in $(seq "$RUNS"); do
    echo "== run $i/$RUNS" >&2
    r=$(timed "monban-$i" "$MONBAN" scan -n -Pn -sS -T4 -p80 --no-progress -oG "$work/monban-$i.gnmap" "$NET") || exit 1
    times[monban]+="${r%% *} "
    recalls[monban]+="$(recall "$work/monban-$i.gnmap" 'Ports: 80/open/') "

    r=$(timed "zmap-$i" zmap -q -p 80 -i eth0 -S 10.77.0.2 -G "$router_mac" -r "$ZMAP_RATE" \
        -c "$ZMAP_COOLDOWN" -b "$work/empty.blocklist" -o "$work/zmap-$i.csv" "$NET") || exit 1
    times[zmap]+="${r%% *} "
    recalls[zmap]+="$(recall "$work/zmap-$i.csv" '^10\.78\.') "

    ip netns exec "$rt_ns" bash -c 'for _ in $(seq 30000); do echo >/dev/udp/10.77.0.2/9; sleep 0.02; done' \
        >/dev/null 2>&1 &
    ping_pid=$!
    r=$(timed "masscan-$i" masscan "$NET" -p80 --interface eth0 --adapter-ip 10.77.0.2 \
        --router-mac "$router_mac" --rate "$MASSCAN_RATE" --wait "$MASSCAN_WAIT" \
        -oL "$work/masscan-$i.txt") || { kill "$ping_pid"; exit 1; }
    kill "$ping_pid" 2>/dev/null || true
    wait "$ping_pid" 2>/dev/null || true
    times[masscan]+="${r%% *} "
    recalls[masscan]+="$(recall "$work/masscan-$i.txt" '^open tcp 80 ') "
done

mm=$(median ${times[monban]})
echo
echo "$NET x port 80 (open on all $ADDRS addresses, one lab host), medians of $RUNS runs"
echo "path limit $limit probes/s (open ports); ideal = $ADDRS / $limit + $FINAL_TIMEOUT s = $ideal s"
printf '%-8s %-22s %8s %-24s %8s %8s %9s\n' tool "wall time per run (s)" median "recall per run" recall "x ideal" "x monban"
for tool in monban zmap masscan; do
    m=$(median ${times[$tool]})
    rc=$(median ${recalls[$tool]})
    printf '%-8s %-22s %8s %-24s %8s %8s %9s\n' "$tool" "${times[$tool]}" "$m" "${recalls[$tool]}" "$rc" \
        "$(awk -v m="$m" -v i="$ideal" 'BEGIN { printf "%.2f", m / i }')" \
        "$(awk -v m="$m" -v n="$mm" 'BEGIN { printf "%.2f", m / n }')"
done
echo "zmap -r $ZMAP_RATE -c $ZMAP_COOLDOWN; masscan --rate $MASSCAN_RATE --wait $MASSCAN_WAIT"
awk -v m="$mm" -v i="$ideal" 'BEGIN { r = m / i; printf "monban / ideal: %.2f (target <= 1.3: %s)\n", r, r <= 1.3 ? "met" : "MISSED" }'
for r in ${recalls[monban]}; do
    [ "$r" = "1.0000" ] || fail "monban's recall was $r in a run, not 1.0 (files in $work)"
done
echo "monban found all $ADDRS addresses in every run"
