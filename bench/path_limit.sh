#!/usr/bin/env bash
# The lab path's packet limit: the highest rate at which scanner veth -> router -> bridge ->
# targets still delivers every probe and every reply, measured with a minimal batched raw
# sender written for this benchmark (bench/pathlimit/synblast.c: AF_PACKET + sendmmsg in
# batches of 64, replies counted on the scanner side with AF_PACKET + recvmmsg behind a BPF
# filter).
#
#   sudo bash bench/path_limit.sh                   # 4 hosts
#   sudo HOSTS=2 PL_STEPS=9 PL_SECONDS=3 bash bench/path_limit.sh
#
# Closed ports cost a SYN and a RST; open ports a SYN, a SYN/ACK and the scanner kernel's RST.
# The rate is bisected (PL_STEPS steps of PL_SECONDS each, after one unpaced run that bounds
# it); a rate passes when every probe is answered and the sender kept within 2% of it.
# On veth the sender's own CPU carries the whole path in softirq context, so the path pushes
# back on the sender instead of dropping: the limit is where the sender, paced, still keeps up.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=path_limit
. bench/lib.sh

HOSTS=${HOSTS:-4}
need_root
need_tools gcc ip nft timeout /usr/bin/time
build_all
lab_up --hosts "$HOSTS"
targets=$(IFS=,; echo "${hosts[*]}")

echo "== closed ports ($CLOSED_PORTS on ${hosts[*]})" >&2
closed=$(path_limit "$targets" "$CLOSED_PORTS")
echo "== open ports ($OPEN_PORTS on ${hosts[*]})" >&2
open=$(path_limit "$targets" "$OPEN_PORTS")

echo
echo "lab path limit, $HOSTS hosts, synblast (AF_PACKET, sendmmsg x64), every probe and reply delivered"
printf '%-14s %14s   %s\n' ports "probes/s" "packets per probe"
printf '%-14s %14s   %s\n' closed "$closed" "2 (SYN, RST)"
printf '%-14s %14s   %s\n' open "$open" "3 (SYN, SYN/ACK, RST)"
