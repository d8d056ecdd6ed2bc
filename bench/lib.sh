# Shared by the benchmarks in bench/: source it, do not run it.
#
# Gives: fail, need_root, need_tools, build_all (release monban, monban-lab, synblast),
# lab_up (a lab in the background, torn down on exit), median, timed (wall time and max RSS
# of one command inside the scanner namespace) and path_limit (the lab path's packet limit,
# bench/pathlimit/synblast.c binary-searched). Every variable a function sets is listed in
# its comment. BENCH names the calling script for messages.

BENCH=${BENCH:-bench}
LIMIT=${LIMIT:-600}

fail() {
    echo "$BENCH: FAILED: $*" >&2
    exit 1
}

need_root() {
    [ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, raw sockets)"
}

# need_tools TOOL... : every tool must be on PATH (say which Debian package ships it).
need_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || fail "$t not found (apt-get install nmap masscan zmap gcc nftables iproute2 time)"
    done
}

# Sets MONBAN, LAB, SYNBLAST, work (a fresh scratch directory) and the EXIT trap. A MONBAN
# given in the environment (a binary built elsewhere) is used as it is; else monban is built.
build_all() {
    local pkgs=(-p monban-lab)
    [ -n "${MONBAN:-}" ] || pkgs+=(-p monban)
    echo "== cargo build --release ${pkgs[*]}; gcc bench/pathlimit/synblast.c" >&2
    cargo build --release -q "${pkgs[@]}" || fail "cargo build --release ${pkgs[*]}"
    MONBAN=${MONBAN:-$PWD/target/release/monban}
    [ -x "$MONBAN" ] || fail "no monban binary at $MONBAN"
    LAB=$PWD/target/release/monban-lab
    work=$(mktemp -d "/tmp/monban-$BENCH.XXXXXX")
    SYNBLAST=$work/synblast
    gcc -O2 -Wall -Wextra -pthread -o "$SYNBLAST" bench/pathlimit/synblast.c || fail "gcc synblast.c"
    lab_pid=""
    trap lab_down EXIT
    trap 'exit 130' INT TERM
}

lab_down() {
    if [ -n "${lab_pid:-}" ]; then
        kill -TERM "$lab_pid" 2>/dev/null || true
        wait "$lab_pid" 2>/dev/null || true
        lab_pid=""
    fi
    echo "results kept in $work" >&2
}

# lab_up ARGS... : `monban-lab up ARGS` in the background. Sets lab_pid, lab_json (the lab's
# description), scan_ns, rt_ns, hosts (IPv4 addresses), router_mac (the router's MAC on the
# scanner's link, for raw senders that bypass the scanner's neighbour table).
lab_up() {
    lab_json=$work/lab.json
    : >"$lab_json"
    "$LAB" up --ignore-stdin "$@" >"$lab_json" 2>"$work/lab.err" &
    lab_pid=$!
    # Another lab (a test, another benchmark) may hold the lab lock: monban-lab waits for it
    # (MONBAN_LAB_LOCK_WAIT, default 30 min), and so do we, a little longer.
    local i
    for i in $(seq 19000); do
        [ -s "$lab_json" ] && break
        kill -0 "$lab_pid" 2>/dev/null || fail "monban-lab up died: $(cat "$work/lab.err")"
        [ "$i" -ne 50 ] || echo "waiting for the lab lock ($(cat /run/monban-lab.lock 2>/dev/null))" >&2
        sleep 0.1
    done
    [ -s "$lab_json" ] || fail "the lab did not come up within 31 min: $(cat "$work/lab.err")"
    scan_ns=$(grep -o '"scanner":{"ns":"[^"]*"' "$lab_json" | cut -d'"' -f6)
    rt_ns=$(grep -o '"router":{"ns":"[^"]*"' "$lab_json" | cut -d'"' -f6)
    mapfile -t hosts < <(grep -o '"v4":"10\.77\.1\.[0-9]*"' "$lab_json" | cut -d'"' -f4)
    [ -n "$scan_ns" ] && [ -n "$rt_ns" ] && [ "${#hosts[@]}" -ge 1 ] ||
        fail "cannot read the lab description: $(cat "$lab_json")"
    router_mac=$(ip netns exec "$rt_ns" cat /sys/class/net/s0/address) || fail "router MAC"
    echo "lab: scanner namespace $scan_ns, targets ${hosts[*]}, monban-lab up $*" >&2
}

# Random loss on the router's forward path, PERMILLE per thousand packets (0 removes it).
router_loss() {
    ip netns exec "$rt_ns" nft delete table inet monban_bench 2>/dev/null || true
    [ "$1" -gt 0 ] || return 0
    printf 'table inet monban_bench {\n chain forward {\n  type filter hook forward priority -10; policy accept;\n  numgen random mod 1000 < %d drop\n }\n}\n' "$1" |
        ip netns exec "$rt_ns" nft -f - || fail "cannot add the loss rule on the router"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# timed NAME CMD... : runs CMD in the scanner namespace, bounded by LIMIT seconds, output in
# $work/NAME.out and .err. Prints "WALL_SECONDS MAX_RSS_KB".
timed() {
    local name=$1 rc=0
    shift
    /usr/bin/time -f '%e %M' -o "$work/$name.time" \
        timeout "$LIMIT" ip netns exec "$scan_ns" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "$name: $* exited $rc (124 = over LIMIT=$LIMIT s): $(tail -3 "$work/$name.err")"
    tail -1 "$work/$name.time"
}

# synblast_trial RATE N TARGETS PORTS : one synblast run; prints its result line.
synblast_trial() {
    local targets ports
    targets=$3
    ports=$4
    timeout 120 ip netns exec "$scan_ns" "$SYNBLAST" -i eth0 -s 10.77.0.2 -m "$router_mac" \
        -t "$targets" -p "$ports" -n "$2" -r "$1" -w 500 || fail "synblast failed"
}

# path_limit TARGETS PORTS : the highest rate (probes/s) at which every probe to
# TARGETS x PORTS (comma lists) is answered, paced within 2% of the rate asked for. An
# unpaced run gives the upper bound; then PL_STEPS (default 7) bisection steps of
# PL_SECONDS (default 2) seconds each; a step passes if one of PL_TRIES (default 2) trials
# does (other load on the machine can slow one trial down). Prints the rate; the trials go
# to stderr.
path_limit() {
    local targets=$1 ports=$2 steps=${PL_STEPS:-7} secs=${PL_SECONDS:-2} tries=${PL_TRIES:-2}
    local line sent rate answered drop lo hi mid n ok best=0
    line=$(synblast_trial 10000000 300000 "$targets" "$ports")
    echo "  unpaced: $line" >&2
    read -r _ sent _ _ _ rate _ answered _ _ _ _ _ _ _ drop <<<"$line"
    hi=$(awk -v r="$rate" 'BEGIN { printf "%d", r * 1.1 }')
    lo=$(awk -v r="$rate" 'BEGIN { printf "%d", r * 0.4 }')
    for _ in $(seq "$steps"); do
        mid=$(((lo + hi) / 2))
        n=$((mid * secs))
        ok=0
        for _ in $(seq "$tries"); do
            line=$(synblast_trial "$mid" "$n" "$targets" "$ports")
            read -r _ sent _ _ _ rate _ answered _ _ _ _ _ _ _ drop <<<"$line"
            if [ "$answered" -eq "$sent" ] && [ "$drop" -eq 0 ] &&
                awk -v r="$rate" -v m="$mid" 'BEGIN { exit !(r >= 0.98 * m) }'; then
                ok=1
                break
            fi
            echo "  $mid/s: trial failed: $line" >&2
        done
        if [ "$ok" -eq 1 ]; then
            echo "  $mid/s: pass: $line" >&2
            best=$mid
            lo=$mid
        else
            echo "  $mid/s: fail: $line" >&2
            hi=$mid
        fi
    done
    [ "$best" -gt 0 ] || fail "no rate passed between $lo and $hi probes/s"
    echo "$best"
}

# Ports closed on every lab host (none open there, none in the firewall ranges).
CLOSED_PORTS=10000-19999
# Ports open on every lab host.
OPEN_PORTS=22,80,443
