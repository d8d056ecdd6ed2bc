#!/usr/bin/env bash
# Version detection: monban -sV vs nmap -sV, TCP and then UDP (-sU -sV), in the same run
# against the same real daemons.
#
#   cargo build --release && sudo bash bench/version.sh        # 3 runs each, ~8 minutes
#   sudo RUNS=1 bash bench/version.sh                           # one run each
#   sudo MONBAN=/path/to/monban bash bench/version.sh           # a binary built elsewhere
#
# Needs root (network namespaces, raw sockets), nmap, python3, gcc, iproute2, GNU time and
# the daemons' Debian packages (as scripts/test.sh installs them: openssh-server nginx
# vsftpd redis-server memcached postfix dovecot-imapd dovecot-pop3d postgresql
# dnsmasq-base snmpd); builds the release monban and monban-lab itself (bench/lib.sh).
#
# One lab host (`monban-lab up --hosts 1`) runs the daemons of tests/lab_version.rs, on the
# same ports with the same private configurations (lab/src/daemons.rs), each started here
# in the host's namespace as `ip netns exec NS DAEMON` with its configuration written into
# this run's scratch directory, and waited for by its own sign of life (bench/version.py
# ready): sshd 2222, nginx 8081, vsftpd 2121, a vsftpd that can only say "500 OOPS" 2100,
# Postfix 25, Dovecot IMAP 143 and POP3 110, PostgreSQL 5432, redis 6379, memcached 11211,
# dnsmasq 5353 (TCP and UDP), net-snmp's snmpd 1161/udp (community public), plus the lab's
# own accept-and-close listener on 22 (no product). Every daemon is stopped by its pid when
# the script ends, also when it fails.
#
# TCP round: `nmap -sV -T4 -Pn -n -p PORTS` and `monban scan -sV -T4 -Pn -n -p PORTS` from
# the scanner namespace, RUNS times each (default 3), alternating. Each XML report is checked
# against the truth: products by name, versions against `dpkg-query -W` (bench/version.py).
# Prints the table (medians; ratio of monban's time to nmap's) and, per port, what each tool
# said. Issue 5's goal: monban identifies at least as many as nmap (products, right
# products, right versions; medians) in at most half its median time.
#
# UDP round, after it: `nmap -sU -sV -T4 -Pn -n -p UDP_PORTS` and the same monban command,
# RUNS times each, alternating, over dnsmasq 5353 and snmpd 1161 (open only once a -sV probe
# gets an answer: snmpd ignores an empty datagram), the lab's own UDP listeners on 53, 123
# and 161 (they answer anything with "monban-lab udp": open, no product), its silent port
# 9999 (bound, never answers: open|filtered, where every -sV probe is spent in vain) and
# the closed port 7. The truth of the lab's ports is read from lab/src/lib.rs. Each report is
# checked for states, products and versions; a second table (medians) and per-port answers.
# UDP goal: monban's medians get at least as many states, right products and right versions
# as nmap's, and no more false products. Time is reported (time/nmap), not judged.
# The script fails if either goal is not met, after printing both rounds.
#
# Run time (RUNS=3, measured): TCP round ~100 s, UDP round ~325 s (nmap -sU -sV ~100 s a run:
# it tries its every UDP probe on the lab ports that answer unrecognised data; monban ~7 s),
# plus the build and ~30 s of setup.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=version
. bench/lib.sh

RUNS=${RUNS:-3}
LOCK_WAIT=${LOCK_WAIT:-1800}
START_LIMIT=${START_LIMIT:-30}
# The ports of tests/lab_version.rs.
SSH_PORT=2222
HTTP_PORT=8081
FTP_PORT=2121
FTP_OOPS_PORT=2100
SMTP_PORT=25
POP3_PORT=110
IMAP_PORT=143
PG_PORT=5432
REDIS_PORT=6379
MEMCACHED_PORT=11211
DNS_PORT=5353
SNMP_PORT=1161
LAB_PORT=22
CHECKS=(sshd=$SSH_PORT nginx=$HTTP_PORT vsftpd=$FTP_PORT vsftpd-oops=$FTP_OOPS_PORT
    postfix=$SMTP_PORT dovecot-imap=$IMAP_PORT dovecot-pop3=$POP3_PORT postgresql=$PG_PORT
    redis=$REDIS_PORT memcached=$MEMCACHED_PORT dnsmasq=$DNS_PORT lab-listener=$LAB_PORT)
PORTS=$(printf '%s\n' "${CHECKS[@]}" | cut -d= -f2 | sort -n | paste -sd,)
# UDP: the two daemons, then host 0's own UDP ports (lab/src/lib.rs UDP_ANSWER, UDP_SILENT)
# and a closed one.
UDP_CHECKS=(dnsmasq=$DNS_PORT snmpd=$SNMP_PORT lab=53 lab=123 lab=161 lab=9999 lab=7)
UDP_PORTS=$(printf '%s\n' "${UDP_CHECKS[@]}" | cut -d= -f2 | sort -n | paste -sd,)

need_root
need_tools nmap python3 gcc ip timeout flock ssh-keygen setpriv dpkg-query /usr/bin/time
build_all

# ---------------------------------------------------------------- daemons, stopped by pid
daemon_pids=()
daemon_sigs=()
daemons_down() {
    local i pid n
    for i in "${!daemon_pids[@]}"; do
        kill "-${daemon_sigs[$i]}" "${daemon_pids[$i]}" 2>/dev/null || true
    done
    for i in "${!daemon_pids[@]}"; do
        pid=${daemon_pids[$i]}
        for n in $(seq 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    daemon_pids=()
    daemon_sigs=()
}
# The daemons go before the lab's namespaces do.
trap 'daemons_down; lab_down' EXIT

# start NAME SIGNAL PROGRAM ARGS... : PROGRAM in the target's namespace, output in
# $dd/NAME.log. `ip netns exec` execs the program, so $! is the daemon's own pid.
start() {
    local name=$1 sig=$2 program=$3
    shift 3
    [ -x "$program" ] || fail "$program not found (install the package that ships it)"
    ip netns exec "$ns" "$program" "$@" </dev/null >"$dd/$name.log" 2>&1 &
    daemon_pids+=("$!")
    daemon_sigs+=("$sig")
}

flock -w "$LOCK_WAIT" /run/monban-lab.lock true || fail "another lab held /run/monban-lab.lock for $LOCK_WAIT s"
lab_up --hosts 1
target=${hosts[0]}
ns=$(grep -o '"index":0,"ns":"[^"]*"' "$lab_json" | cut -d'"' -f6)
[ -n "$ns" ] || fail "cannot read host 0's namespace from $lab_json"
grep -q "\"open\":\[[0-9,]*\b$LAB_PORT\b" "$lab_json" || fail "host 0 has no listener on $LAB_PORT"

# Daemons that drop privileges (postgres, dovecot's and postfix's helpers) read below here.
chmod 755 "$work"
dd=$work/daemons
mkdir -p "$dd"

# sshd (lab/src/daemons.rs sshd)
ssh-keygen -q -t ed25519 -N '' -f "$dd/ssh_host_ed25519_key" || fail "ssh-keygen"
mkdir -p /run/sshd
printf 'Port %s\nHostKey %s\nPidFile none\nUsePAM no\n' "$SSH_PORT" "$dd/ssh_host_ed25519_key" >"$dd/sshd_config"
start sshd TERM /usr/sbin/sshd -D -e -f "$dd/sshd_config"

# nginx
cat >"$dd/nginx.conf" <<EOF
daemon off;
master_process off;
pid $dd/nginx.pid;
error_log $dd/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  default_type text/html;
  client_body_temp_path $dd/body;
  proxy_temp_path $dd/proxy;
  fastcgi_temp_path $dd/fastcgi;
  uwsgi_temp_path $dd/uwsgi;
  scgi_temp_path $dd/scgi;
  server {
    listen $HTTP_PORT;
    location / { return 200 "<html><head><title>monban lab</title></head></html>\n"; }
  }
}
EOF
start nginx TERM /usr/sbin/nginx -p "$dd/" -e "$dd/nginx-error.log" -c "$dd/nginx.conf"

# vsftpd, and one that can only greet with "500 OOPS" (its secure_chroot_dir is missing)
mkdir -p "$dd/ftproot" "$dd/ftproot-oops"
vsftpd_conf() {
    printf 'listen=YES\nlisten_ipv6=NO\nlisten_port=%s\nbackground=NO\nanonymous_enable=YES\nanon_root=%s\nwrite_enable=NO\nlocal_enable=NO\nseccomp_sandbox=NO\nsecure_chroot_dir=%s\nxferlog_enable=NO\n' "$@"
}
vsftpd_conf "$FTP_PORT" "$dd/ftproot" /var/run/vsftpd/empty >"$dd/vsftpd.conf"
vsftpd_conf "$FTP_OOPS_PORT" "$dd/ftproot-oops" "$dd/no-such-dir" >"$dd/vsftpd-oops.conf"
start vsftpd TERM /usr/sbin/vsftpd "$dd/vsftpd.conf"
start vsftpd-oops TERM /usr/sbin/vsftpd "$dd/vsftpd-oops.conf"

# Postfix: only the services smtpd needs to greet; the banner names the version.
pf=$dd/postfix
mkdir -p "$pf/spool/pid" "$pf/spool/public" "$pf/spool/private" "$pf/data"
chown -R postfix "$pf/spool/public" "$pf/spool/private" "$pf/data"
cat >"$pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
myhostname = mail.lab.monban
mydestination =
relayhost =
mynetworks = 127.0.0.0/8
inet_interfaces = all
inet_protocols = all
smtpd_banner = \$myhostname ESMTP \$mail_name \$mail_version (Debian/GNU)
maillog_file = /dev/stdout
EOF
cat >"$pf/master.cf" <<EOF
$SMTP_PORT inet n - n - - smtpd
anvil unix - - n - 1 anvil
cleanup unix n - n - 0 cleanup
rewrite unix - - n - - trivial-rewrite
proxymap unix - - n - - proxymap
postlog unix-dgram n - n - 1 postlogd
EOF
start postfix TERM /usr/lib/postfix/sbin/master -c "$pf" -s

# Dovecot: IMAP and POP3, plain text; IMAP ID names the version (imap_id_send).
dv=$dd/dovecot
mkdir -p "$dv/home"
cat >"$dv/dovecot.conf" <<EOF
base_dir = $dv/run
state_dir = $dv/state
protocols = imap pop3
listen = *, ::
log_path = /dev/stderr
ssl = no
auth_mechanisms = plain
passdb {
  driver = static
  args = password=monban-lab
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dv/home
}
mail_location = maildir:$dv/home/mail
imap_id_send = "name" * "version" *
service imap-login {
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $POP3_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
EOF
start dovecot TERM /usr/sbin/dovecot -F -c "$dv/dovecot.conf"

# PostgreSQL (the newest installed major): every login refused; SIGINT is a fast shutdown.
pg_major=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
    cut -d/ -f5 | sort -n | tail -1)
[ -n "$pg_major" ] || fail "no /usr/lib/postgresql/<major>/bin/postgres (apt-get install postgresql)"
pg_bin=/usr/lib/postgresql/$pg_major/bin
pg=$dd/postgresql
mkdir -p "$pg"
chown -R postgres "$pg"
setpriv --reuid=postgres --regid=postgres --init-groups "$pg_bin/initdb" -D "$pg/data" \
    -U postgres -A reject --no-sync --no-instructions >"$dd/initdb.log" 2>&1 ||
    fail "initdb: $(tail -3 "$dd/initdb.log")"
start postgresql INT /usr/bin/setpriv --reuid=postgres --regid=postgres --init-groups \
    "$pg_bin/postgres" -D "$pg/data" -p "$PG_PORT" -c 'listen_addresses=*' \
    -c "unix_socket_directories=$pg" -c logging_collector=off

# redis, memcached
start redis TERM /usr/bin/redis-server --port "$REDIS_PORT" --bind 0.0.0.0 --protected-mode no \
    --save '' --appendonly no --daemonize no --dir "$dd"
start memcached TERM /usr/bin/memcached -p "$MEMCACHED_PORT" -U 0 -u root -l 0.0.0.0

# dnsmasq: DNS only, no upstream, one local name.
printf 'port=%s\nno-resolv\nno-hosts\nno-poll\npid-file=%s\nuser=nobody\nlog-facility=-\naddress=/lab.monban/10.77.1.10\n' \
    "$DNS_PORT" "$dd/dnsmasq.pid" >"$dd/dnsmasq.conf"
start dnsmasq TERM /usr/sbin/dnsmasq -k -C "$dd/dnsmasq.conf"

# snmpd (lab/src/daemons.rs snmpd): no system configuration (-C), no MIB files (-m ''),
# read-only community "public", its persistent state here.
mkdir -p "$dd/snmp"
printf 'agentAddress udp:%s,udp6:%s\nrocommunity public default\nrocommunity6 public default\nsysLocation monban lab\nsysContact lab@monban.invalid\nsysName target.lab.monban\n[snmp] persistentDir %s\n' \
    "$SNMP_PORT" "$SNMP_PORT" "$dd/snmp" >"$dd/snmpd.conf"
start snmpd TERM /usr/sbin/snmpd -f -Lo -C -m '' -c "$dd/snmpd.conf" -p "$dd/snmpd.pid"

if ! ip netns exec "$ns" python3 bench/version.py ready "$START_LIMIT" "${CHECKS[@]}" \
    "snmpd=$SNMP_PORT" 2>"$dd/ready.err"; then
    for f in "$dd"/*.log; do echo "--- $f" >&2; tail -5 "$f" >&2; done
    fail "$(cat "$dd/ready.err")"
fi
alive() {
    local i
    for i in "${!daemon_pids[@]}"; do
        kill -0 "${daemon_pids[$i]}" 2>/dev/null || fail "daemon pid ${daemon_pids[$i]} exited (logs in $dd)"
    done
}
alive
truth=$work/truth.json
python3 bench/version.py truth "${CHECKS[@]}" >"$truth" || fail "cannot read the installed versions"
utruth=$work/truth-udp.json
python3 bench/version.py truth-udp lab/src/lib.rs "${UDP_CHECKS[@]}" >"$utruth" ||
    fail "cannot build the UDP truth"
echo "daemons up in $ns ($target): TCP ports $PORTS, UDP ports $UDP_PORTS" >&2

# ---------------------------------------------------------------- the TCP runs
results=$work/results
: >"$results"
nmap_xml=()
monban_xml=()
tcp_start=$SECONDS
for i in $(seq "$RUNS"); do
    echo "== TCP run $i/$RUNS" >&2
    x=$work/nmap-$i.xml
    r=$(timed "nmap-$i" nmap -sV -T4 -Pn -n -p "$PORTS" -oX "$x" "$target")
    line=$(python3 bench/version.py check "$truth" "$x") || fail "cannot check $x"
    echo "nmap $i ${r%% *} $line" >>"$results"
    echo "  nmap: ${r%% *} s, product / product+version / right products / right versions: $line" >&2
    nmap_xml+=("$x")
    x=$work/monban-$i.xml
    r=$(timed "monban-$i" "$MONBAN" scan -sV -T4 -Pn -n -p "$PORTS" --no-progress -oX "$x" "$target")
    line=$(python3 bench/version.py check "$truth" "$x") || fail "cannot check $x"
    echo "monban $i ${r%% *} $line" >>"$results"
    echo "  monban: ${r%% *} s, product / product+version / right products / right versions: $line" >&2
    monban_xml+=("$x")
    alive
done

tcp_secs=$((SECONDS - tcp_start))

ndaemons=$((${#CHECKS[@]} - 1))
echo
echo "-sV -T4 -Pn -n over ${#CHECKS[@]} TCP ports of one lab host: $ndaemons real daemons and the lab's"
echo "accept-and-close listener on $LAB_PORT; medians of $RUNS runs. 'right prod' counts the $ndaemons daemon"
echo "ports; 'right ver' = first word of the version is the installed upstream version."
python3 bench/version.py table "$results"
echo
echo "Per port (every distinct answer over the runs):"
python3 bench/version.py ports "$truth" "nmap=$(IFS=,; echo "${nmap_xml[*]}")" \
    "monban=$(IFS=,; echo "${monban_xml[*]}")"
echo
tcp_goal=0
python3 bench/version.py goal "$results" || tcp_goal=1

# ---------------------------------------------------------------- the UDP runs
uresults=$work/results-udp
: >"$uresults"
unmap_xml=()
umonban_xml=()
udp_start=$SECONDS
for i in $(seq "$RUNS"); do
    echo "== UDP run $i/$RUNS" >&2
    x=$work/nmap-udp-$i.xml
    r=$(timed "nmap-udp-$i" nmap -sU -sV -T4 -Pn -n -p "$UDP_PORTS" -oX "$x" "$target")
    line=$(python3 bench/version.py check-udp "$utruth" "$x") || fail "cannot check $x"
    echo "nmap $i ${r%% *} $line" >>"$uresults"
    echo "  nmap: ${r%% *} s, states / resolved / product / prod+ver / right prod / right ver / false prod: $line" >&2
    unmap_xml+=("$x")
    x=$work/monban-udp-$i.xml
    r=$(timed "monban-udp-$i" "$MONBAN" scan -sU -sV -T4 -Pn -n -p "$UDP_PORTS" --no-progress -oX "$x" "$target")
    line=$(python3 bench/version.py check-udp "$utruth" "$x") || fail "cannot check $x"
    echo "monban $i ${r%% *} $line" >>"$uresults"
    echo "  monban: ${r%% *} s, states / resolved / product / prod+ver / right prod / right ver / false prod: $line" >&2
    umonban_xml+=("$x")
    alive
done
udp_secs=$((SECONDS - udp_start))

echo
echo "-sU -sV -T4 -Pn -n over ${#UDP_CHECKS[@]} UDP ports of the same host: dnsmasq $DNS_PORT, snmpd $SNMP_PORT,"
echo "the lab's answering listeners 53 123 161, its silent 9999, closed 7; medians of $RUNS runs."
echo "'states' = state as the truth (open|filtered included), 'resolved' = of those open or closed;"
echo "'right prod' counts the 2 daemon ports; 'false prod' = a wrong product, or any product where"
echo "no software answers. The truth row is the best a tool can do."
python3 bench/version.py table-udp "$utruth" "$uresults"
echo
echo "Per UDP port (every distinct answer over the runs):"
python3 bench/version.py ports-udp "$utruth" "nmap=$(IFS=,; echo "${unmap_xml[*]}")" \
    "monban=$(IFS=,; echo "${umonban_xml[*]}")"
echo
udp_goal=0
python3 bench/version.py goal-udp "$uresults" || udp_goal=1
echo "(wall time: TCP round $tcp_secs s, UDP round $udp_secs s)"
[ "$tcp_goal" -eq 0 ] || fail "issue 5's goal is not met (see above; files in $work)"
[ "$udp_goal" -eq 0 ] || fail "the UDP goal is not met (see above; files in $work)"
