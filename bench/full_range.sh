#!/usr/bin/env bash
# Lab hosts x every TCP port, lossless and under random loss: monban vs nmap -T4, measured in
# the same run against the same lab, with the lab path's packet limit measured first.
#
#   sudo bash bench/full_range.sh                          # 4 hosts, 3 runs, 3% loss
#   sudo HOSTS=4 RUNS=3 LOSS=30 NMAP_LOSS_RUNS=1 bash bench/full_range.sh
#   sudo NMAP_LOSS_RUNS=0 bash bench/full_range.sh         # skip nmap under loss (~15 min a run)
#
# Scans: `nmap -n -Pn -sS -T4 -p-` and `monban scan -n -Pn -sS -T4 -p- --no-progress` (release
# build), alternating, RUNS times each lossless, then again with LOSS per mille random loss on
# the router's forward path (both directions; nmap only NMAP_LOSS_RUNS times there, default 1,
# because it slows down about 50-fold). Every port of every run is checked against the lab's
# ground truth (bench/xml_states.py). The ideal time is what the path allows:
# HOSTS x 65,535 / (closed-port path limit) + FINAL_TIMEOUT (default 1 s: the wait a silent
# port needs after its last probe). Prints medians, ports wrong, monban/ideal and
# monban/nmap ratios, and whether monban met its targets (<= 1.3x ideal lossless, lossy
# <= 1.5x its lossless time). Fails if monban misreports any port, or nmap does lossless.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=full_range
. bench/lib.sh

RUNS=${RUNS:-3}
HOSTS=${HOSTS:-4}
LOSS=${LOSS:-30}
NMAP_LOSS_RUNS=${NMAP_LOSS_RUNS:-1}
NMAP_LOSS_LIMIT=${NMAP_LOSS_LIMIT:-1800}
FINAL_TIMEOUT=${FINAL_TIMEOUT:-1}

need_root
need_tools nmap python3 gcc ip nft timeout /usr/bin/time
build_all
lab_up --hosts "$HOSTS"
targets=$(IFS=,; echo "${hosts[*]}")

python3 bench/xml_states.py --truth "$lab_json" | cut -d' ' -f1-3 >"$work/truth.states" ||
    fail "cannot compute the ground truth from $lab_json"

# Number of ports whose state in report $1 differs from the truth (missing ports count).
wrong() {
    python3 bench/xml_states.py "$1" | cut -d' ' -f1-3 >"${1%.xml}.states" || fail "cannot read $1"
    diff "$work/truth.states" "${1%.xml}.states" | grep -c '^<' || true
}

echo "== path limit, closed ports" >&2
limit=$(path_limit "$targets" "$CLOSED_PORTS")
ports=$((HOSTS * 65535))
ideal=$(awk -v p="$ports" -v l="$limit" -v f="$FINAL_TIMEOUT" 'BEGIN { printf "%.2f", p / l + f }')

declare -A times wrongs
for scenario in lossless loss; do
    if [ "$scenario" = loss ]; then router_loss "$LOSS"; else router_loss 0; fi
    for i in $(seq "$RUNS"); do
        echo "== $scenario run $i/$RUNS" >&2
        if [ "$scenario" = lossless ] || [ "$i" -le "$NMAP_LOSS_RUNS" ]; then
            lim=$LIMIT
            [ "$scenario" = lossless ] || lim=$NMAP_LOSS_LIMIT
            r=$(LIMIT=$lim timed "nmap-$scenario-$i" nmap -n -Pn -sS -T4 -p- -oX "$work/nmap-$scenario-$i.xml" "${hosts[@]}") || exit 1
            times[nmap-$scenario]+="${r%% *} "
            w=$(wrong "$work/nmap-$scenario-$i.xml") || exit 1
            wrongs[nmap-$scenario]+="$w "
        fi
        r=$(timed "monban-$scenario-$i" "$MONBAN" scan -n -Pn -sS -T4 -p- --no-progress -oX "$work/monban-$scenario-$i.xml" "${hosts[@]}") || exit 1
        times[monban-$scenario]+="${r%% *} "
        w=$(wrong "$work/monban-$scenario-$i.xml") || exit 1
        wrongs[monban-$scenario]+="$w "
    done
done
router_loss 0

echo
echo "full-range SYN scan (-sS -T4 -p-), $HOSTS hosts x 65,535 ports = $ports ports, medians of $RUNS runs"
echo "path limit $limit probes/s (closed ports); ideal = $ports / $limit + $FINAL_TIMEOUT s = $ideal s"
printf '%-9s %-7s %-30s %8s %12s %10s %12s\n' scenario tool "wall time per run (s)" median "ports wrong" "x ideal" "x nmap"
status=0
for scenario in lossless loss; do
    nm=""
    [ -z "${times[nmap-$scenario]:-}" ] || nm=$(median ${times[nmap-$scenario]})
    for tool in nmap monban; do
        t=${times[$tool-$scenario]:-}
        [ -n "$t" ] || { printf '%-9s %-7s %-30s\n' "$scenario" "$tool" "(not run)"; continue; }
        m=$(median $t)
        xn="-"
        [ -z "$nm" ] || xn=$(awk -v m="$m" -v n="$nm" 'BEGIN { printf "%.3f", m / n }')
        xi=$(awk -v m="$m" -v i="$ideal" 'BEGIN { printf "%.2f", m / i }')
        printf '%-9s %-7s %-30s %8s %12s %10s %12s\n' "$scenario" "$tool" "$t" "$m" "${wrongs[$tool-$scenario]}" "$xi" "$xn"
    done
done
ml=$(median ${times[monban-lossless]})
mx=$(median ${times[monban-loss]})
echo "loss scenario: $LOSS/1000 random loss on the router, both directions"
awk -v l="$ml" -v i="$ideal" 'BEGIN { r = l / i; printf "monban lossless / ideal: %.2f (target <= 1.3: %s)\n", r, r <= 1.3 ? "met" : "MISSED" }'
awk -v l="$ml" -v x="$mx" 'BEGIN { r = x / l; printf "monban loss / lossless: %.2f (target <= 1.5: %s)\n", r, r <= 1.5 ? "met" : "MISSED" }'
if [ -n "${times[nmap-loss]:-}" ]; then
    awk -v a="$(median ${times[nmap-lossless]})" -v b="$(median ${times[nmap-loss]})" 'BEGIN { printf "nmap loss / lossless: %.1f\n", b / a }'
fi
for tool in monban nmap; do
    for scenario in lossless loss; do
        for w in ${wrongs[$tool-$scenario]:-}; do
            if [ "$w" -ne 0 ]; then
                echo "$tool $scenario: $w ports differ from the lab's ground truth (files in $work)" >&2
                if [ "$tool" = monban ] || [ "$scenario" = lossless ]; then status=1; fi
            fi
        done
    done
done
[ "$status" -eq 0 ] || fail "port states differ from the lab's ground truth (see above)"
echo "monban reported the lab's ground truth on all $ports ports in every run"
