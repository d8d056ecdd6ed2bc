//! Scale: a SYN scan of a whole /16 × 1,000 ports (65,536,000 probes) through the lab host
//! that answers for 10.78.0.0/16 keeps monban under 64 MB of resident memory, and every
//! address reads exactly as the lab built it.
//!
//! The lab's path carries about 80,000-100,000 closed-port probes per second on the 2-core
//! machine (bench/path_limit.sh), so this scan cannot take less than about 11 minutes there
//! (a release build took 14 min 17 s and 42 MB max RSS; this test's debug build 16 min 30 s
//! and 47 MB): the limit below only catches a hang.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{lab, read, reap, scratch, MONBAN};
use monban_lab::Lab;

/// Ports scanned on every address.
const PORTS: std::ops::RangeInclusive<u16> = 1..=1000;
/// The most resident memory monban may use, in KiB (`ru_maxrss` unit on Linux).
const RSS_LIMIT_KIB: i64 = 64 * 1024;
/// Catches a hang; the scan itself is bounded by the lab path's packet limit.
const SCAN_LIMIT: Duration = Duration::from_secs(40 * 60);

/// One host line of grepable output: its address, its open ports, and the collapsed state.
fn parse_host_line(line: &str) -> Option<(Ipv4Addr, Vec<u16>, String)> {
    let rest = line.strip_prefix("Host: ")?;
    let (addr, rest) = rest.split_once(' ')?;
    let ports = rest.split('\t').find_map(|f| f.strip_prefix("Ports: "))?;
    let ignored = rest
        .split('\t')
        .find_map(|f| f.strip_prefix("Ignored State: "))
        .unwrap_or("")
        .to_owned();
    let mut open = Vec::new();
    for entry in ports.split(", ") {
        let mut fields = entry.split('/');
        let port: u16 = fields.next()?.parse().ok()?;
        if fields.next()? == "open" {
            open.push(port);
        }
    }
    Some((addr.parse().ok()?, open, ignored))
}

#[test]
fn slash16_by_1000_ports_under_64_mb_and_exact() {
    let lab: Lab = lab(Lab::builder().hosts(1).local_net(true));
    let Some((net, prefix)) = lab.local_net() else {
        panic!("the lab was built with a local /16 but reports none");
    };
    assert_eq!((net, prefix), (Ipv4Addr::new(10, 78, 0, 0), 16));
    let host = &lab.hosts()[0];
    let open: Vec<u16> = host
        .open_ports()
        .iter()
        .copied()
        .filter(|p| PORTS.contains(p))
        .collect();
    // The lab decides which ports listen; every address of the /16 has the same ones.
    assert_eq!(open, [1, 22, 80, 443]);
    let closed = PORTS.len() - open.len();
    assert!(PORTS
        .clone()
        .all(|p| !host.dropped_ports().contains(&p) && !host.rejected_ports().contains(&p)));

    let dir = scratch("scale");
    let gnmap = dir.join("scan.gnmap");
    let errors = dir.join("scan.err");
    let err_file = match std::fs::File::create(&errors) {
        Ok(f) => f,
        Err(e) => panic!("cannot create {}: {e}", errors.display()),
    };
    let target = format!("{net}/{prefix}");
    let ports = format!("{}-{}", PORTS.start(), PORTS.end());
    let args = [
        "scan",
        "-sS",
        "-n",
        "-Pn",
        "-T4",
        "--no-progress",
        "-p",
        &ports,
        "-oG",
        &gnmap.display().to_string(),
        &target,
    ]
    .map(String::from);
    let mut cmd: Command = lab.scanner_cmd(MONBAN, &args);
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot start monban {}: {e}", args.join(" ")),
    };
    let done = reap(&mut child, SCAN_LIMIT, "monban /16 x 1000 ports");
    let stderr = read(&errors);
    assert!(
        done.status.success(),
        "monban {} ended with {} after {:?}:\n{stderr}",
        args.join(" "),
        done.status,
        done.elapsed
    );
    eprintln!(
        "monban {target} x {ports}: {:.1} s, max RSS {} KiB",
        done.elapsed.as_secs_f64(),
        done.max_rss_kib
    );
    assert!(
        done.max_rss_kib < RSS_LIMIT_KIB,
        "monban used {} KiB of resident memory (limit {RSS_LIMIT_KIB} KiB)",
        done.max_rss_kib
    );

    let text = read(&gnmap);
    let mut seen = BTreeSet::new();
    let want_ignored = format!("closed ({closed})");
    for line in text.lines().filter(|l| l.contains("\tPorts: ")) {
        let Some((addr, got_open, ignored)) = parse_host_line(line) else {
            panic!("unreadable grepable line: {line}");
        };
        assert_eq!(
            u32::from(addr) >> 16,
            u32::from(net) >> 16,
            "{addr} outside {target}"
        );
        assert_eq!(got_open, open, "{addr}: open ports");
        assert_eq!(ignored, want_ignored, "{addr}: collapsed ports");
        assert!(seen.insert(addr), "{addr} reported twice");
    }
    assert_eq!(seen.len(), 65_536, "addresses with a port line");
}
