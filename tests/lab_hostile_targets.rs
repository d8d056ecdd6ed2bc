//! monban against a lying network: the hostile-target lab.
//!
//! `monban_lab::liar` puts a forger on the router, on the scanner's link. For every probe
//! to a chosen port (every open port of the lab, the first ports of the dropped and the
//! rejected ranges, every 50th port) it answers first, before the target can, with
//! forged packets that each carry a defect a correct scanner must catch: wrong
//! acknowledgement numbers and cookies, replies from ports and addresses never probed or
//! to ports that are not ours, bad IP and TCP/UDP checksums, headers cut short or lying
//! about their length, absurd TCP options, ICMP errors quoting packets monban never sent
//! or too little of what it sent, ten copies of a wrong RST, IPv6 extension-header chains
//! and fragments; and it sends nine more copies of every true answer from a chosen port
//! (`Lie` lists each kind). The liar reads every probe of a full-range scan (its counters
//! say so) and answers within microseconds, so for dropped ports, where the target says
//! nothing, the lies are the only answers there are.
//!
//! Scans: `-sS` over IPv4 and IPv6, `-sA`, all 65,535 ports of three hosts; `-sU` over
//! both families and `-sT` over the ports where the truth varies. Then a hostile host:
//! `liar::HOSTILE_V4`, an address the router drops everything for and whose every probe
//! the liar answers, so that lies are all it ever says; its 2,000 scanned ports must all
//! read filtered, no-response. Under `-sT` the lies
//! meet the scanner's kernel, not monban: the liar's ICMP errors quote sequence numbers
//! far outside the connection's window, because Linux takes an error quoting any number
//! from the SYN's to the next one as the connection's own (the liar first flipped the
//! cookie's lowest bit, and `-sT` read dropped and open ports as unreachable).
//! IPv6 packets with extension headers never reach monban's engine: its kernel filter
//! passes only TCP, UDP and ICMPv6 right after the fixed header.
//!
//! Under that flood every port of the honest hosts must still read exactly as the lab
//! built it (`Host::truth_for`), in the XML and the JSON Lines outputs, with no host but
//! the lab's; each scan must end within [`SCAN_LIMIT`] and stay under [`MAX_RSS_KIB`] of
//! peak memory; and the liar's counters must show that it sent every kind of lie the scan
//! type allows, so a dead liar fails the test.
//!
//! Needs root (the lab).

mod common;

use std::collections::BTreeMap;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{lab, parse_jsonl, parse_xml, read, scratch, targets};
use monban_lab::liar::{Liar, LiarOptions, LiarReport, Lie, HOSTILE_V4, HOSTILE_V6};
use monban_lab::{Lab, Probe};

/// Lie about every port divisible by this too (1,310 of a full range per host).
const EVERY: u16 = 50;

/// The hang catcher for one scan. A full-range SYN scan of three lab hosts takes a few
/// seconds here under the liar; a scan that waits for a forged conversation to finish, or
/// loops on a malformed header, would not end at all.
const SCAN_LIMIT: Duration = Duration::from_secs(60);

/// The bound on the scanner's peak resident memory (`ru_maxrss` of the child). A full-range
/// SYN scan of three hosts takes about 18 MiB in a debug build without a liar, and as much
/// under it: replies are read one at a time and never stored, so the liar's thirty-odd
/// forgeries per probe must cost nothing. 40 MiB is far above the need and far below what
/// keeping state per forged reply would take.
///
/// `ru_maxrss` is only the scanner's own if the test process is small when it forks: a
/// forked child starts with its parent's high-water mark, which survives `exec`. So every
/// scan runs before any output is read into memory.
const MAX_RSS_KIB: i64 = 40 * 1024;

/// How long the liar's counters must stand still before a scan starts or is counted.
const SETTLE: Duration = Duration::from_millis(300);

/// What one measured scan left behind.
struct Measured {
    status: ExitStatus,
    stderr: String,
    elapsed: Duration,
    /// Peak resident set of the child, KiB.
    max_rss_kib: i64,
}

/// Runs `cmd` (whose pid is monban's: `ip netns exec` execs it), reaped by
/// [`common::reap`] to learn its peak memory.
fn run_measured(cmd: &mut Command, limit: Duration, log: &std::path::Path) -> Measured {
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    let err = std::fs::File::create(log).expect("log file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let done = common::reap(&mut child, limit, &format!("{shown} under the liar"));
    Measured {
        status: done.status,
        stderr: read(log),
        elapsed: start.elapsed(),
        max_rss_kib: done.max_rss_kib,
    }
}

/// The kinds of lie a scan must have met: all but those its family or protocol rules out.
fn expected_lies(v6: bool, udp: bool) -> Vec<Lie> {
    Lie::ALL
        .into_iter()
        .filter(|l| match l {
            Lie::BadIpChecksum => !v6,
            Lie::ExtensionChain => v6 && !udp,
            Lie::SynAckWrongAck
            | Lie::RstWrongAck
            | Lie::RstWrongSeq
            | Lie::UnprobedPort
            | Lie::Oversized
            | Lie::AbsurdOptions
            | Lie::IcmpShortQuote => !udp,
            _ => true,
        })
        .collect()
}

/// What the liar sent during one scan: `after` minus `before`.
fn delta(before: &LiarReport, after: &LiarReport) -> LiarReport {
    LiarReport {
        probes: after.probes - before.probes,
        lied_to: after.lied_to - before.lied_to,
        sent: after
            .sent
            .iter()
            .map(|&(l, n)| (l, n - before.count(l)))
            .collect(),
        send_errors: after.send_errors - before.send_errors,
    }
}

/// One scan under the liar, not yet checked.
struct Run {
    what: String,
    scan: &'static str,
    v6: bool,
    ports: &'static str,
    dir: std::path::PathBuf,
    ran: Measured,
    lies: LiarReport,
}

/// Scans every lab host under the liar with `scan` over `ports`, measuring the scanner and
/// counting the liar's forgeries.
fn scan_under_liar(
    lab: &Lab,
    liar: &Liar,
    scan: &'static str,
    v6: bool,
    ports: &'static str,
) -> Run {
    scan_of(lab, liar, scan, v6, ports, targets(lab, v6))
}

/// Like [`scan_under_liar`], of the addresses `to`.
fn scan_of(
    lab: &Lab,
    liar: &Liar,
    scan: &'static str,
    v6: bool,
    ports: &'static str,
    to: Vec<String>,
) -> Run {
    let what = format!(
        "monban {scan}{} -p {ports} {}",
        if v6 { " -6" } else { "" },
        to.join(" ")
    );
    let dir = scratch(&format!(
        "liar{scan}{}-{}",
        if v6 { "-6" } else { "" },
        to.len()
    ));
    let mut args: Vec<String> = ["scan", scan, "-p", ports, "-n", "-Pn", "--reason"]
        .map(String::from)
        .to_vec();
    args.extend(["--no-progress".into(), "-T4".into()]);
    if v6 {
        args.push("-6".into());
    }
    args.extend([
        "-oJ".into(),
        dir.join("scan.jsonl").display().to_string(),
        "-oX".into(),
        dir.join("scan.xml").display().to_string(),
    ]);
    args.extend(to);
    let before = liar.settle(SETTLE, SCAN_LIMIT);
    let ran = run_measured(
        &mut lab.scanner_cmd(common::MONBAN, &args),
        SCAN_LIMIT,
        &dir.join("stderr"),
    );
    // Forgeries of the last probes may still be on their way; they cannot matter once the
    // scan has ended, but the counters should include them.
    let lies = delta(&before, &liar.settle(SETTLE, SCAN_LIMIT));
    eprintln!(
        "{what}: {:.1} s, peak RSS {} KiB; liar: {lies}",
        ran.elapsed.as_secs_f64(),
        ran.max_rss_kib
    );
    Run {
        what,
        scan,
        v6,
        ports,
        dir,
        ran,
        lies,
    }
}

/// Checks one scan: its exit, its bounds, every port of both outputs against the truth,
/// and that the liar told it every lie its scan type allows.
fn check(lab: &Lab, run: &Run) {
    let Run {
        what,
        v6,
        ran,
        lies,
        ..
    } = run;
    let v6 = *v6;
    let (probe, udp) = match run.scan {
        "-sT" => (Probe::Connect, false),
        "-sA" => (Probe::Ack, false),
        "-sU" => (Probe::Udp, true),
        _ => (Probe::Syn, false),
    };
    check_ran(what, ran);

    let mut scanned = common::parse_ranges(run.ports, "ports");
    scanned.sort_unstable();
    let json = parse_jsonl(&read(&run.dir.join("scan.jsonl")), &format!("{what} -oJ"));
    let xml = parse_xml(&read(&run.dir.join("scan.xml")), &format!("{what} -oX"));
    let mut want_hosts: Vec<String> = targets(lab, v6);
    want_hosts.sort();
    for (out, report) in [("-oJ", &json.hosts), ("-oX", &xml)] {
        // Exactly the lab's hosts: never an address the liar spoke for.
        let got: Vec<&String> = report.keys().collect();
        assert_eq!(
            got,
            want_hosts.iter().collect::<Vec<_>>(),
            "{what} {out}: hosts"
        );
        let mut wrong: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for h in lab.hosts() {
            let addr = if v6 {
                h.v6.to_string()
            } else {
                h.v4.to_string()
            };
            let table = &report[&addr];
            assert_eq!(table.len(), scanned.len(), "{what} {out}: ports of {addr}");
            for &p in &scanned {
                let want = h.truth_for(probe, p);
                let got = table.get(p);
                if got != Some(want) {
                    let got = got.map_or("missing".into(), |(s, r)| format!("{s}/{r}"));
                    wrong
                        .entry((got, format!("{}/{}", want.0, want.1)))
                        .or_default()
                        .push(format!("{addr}:{p}"));
                }
            }
        }
        let lines: Vec<String> = wrong
            .iter()
            .map(|((got, want), ps)| {
                format!("{} got {got}, want {want}: {}", ps.len(), ps.join(" "))
            })
            .collect();
        assert!(
            lines.is_empty(),
            "{what} {out}: the liar changed states:\n  {}",
            lines.join("\n  ")
        );
    }
    let end = json.end(what);
    let n = lab.hosts().len() as u64;
    assert_eq!(
        end["hosts_up"].as_u64(),
        Some(n),
        "{what}: hosts_up in {end}"
    );
    assert_eq!(end["hosts_total"].as_u64(), Some(n), "{what}: hosts_total");
    // Open ports are streamed once each, and only the true ones.
    let streamed = json.streamed_open(what);
    for h in lab.hosts() {
        let addr = if v6 {
            h.v6.to_string()
        } else {
            h.v4.to_string()
        };
        let open: Vec<u16> = scanned
            .iter()
            .copied()
            .filter(|&p| h.truth_for(probe, p).0 == "open")
            .collect();
        let want = (!open.is_empty()).then_some(open);
        assert_eq!(
            streamed.get(&addr).cloned(),
            want,
            "{what}: streamed open of {addr}"
        );
    }

    // The liar was alive and told every lie this scan allows.
    assert!(lies.probes > 0, "{what}: the liar saw no probe: {lies}");
    for lie in expected_lies(v6, udp) {
        assert!(
            lies.count(lie) > 0,
            "{what}: no {} sent: {lies}",
            lie.name()
        );
    }
}

/// Checks the scan of the hostile host: the router drops everything sent to it, so its
/// only answers are the liar's, and every port must read filtered, no-response.
/// The scan ended well and within the memory bound.
fn check_ran(what: &str, ran: &Measured) {
    assert!(
        ran.status.success(),
        "{what} failed ({}):\n{}",
        ran.status,
        ran.stderr
    );
    assert!(
        ran.max_rss_kib < MAX_RSS_KIB,
        "{what}: peak RSS {} KiB, bound {MAX_RSS_KIB} KiB",
        ran.max_rss_kib
    );
}

fn check_hostile(run: &Run) {
    let Run {
        what, ran, lies, ..
    } = run;
    check_ran(what, ran);
    let addr = HOSTILE_V4.to_string();
    let scanned = common::parse_ranges(run.ports, "ports");
    let json = parse_jsonl(&read(&run.dir.join("scan.jsonl")), &format!("{what} -oJ"));
    let xml = parse_xml(&read(&run.dir.join("scan.xml")), &format!("{what} -oX"));
    for (out, report) in [("-oJ", &json.hosts), ("-oX", &xml)] {
        let got: Vec<&String> = report.keys().collect();
        assert_eq!(got, vec![&addr], "{what} {out}: hosts");
        let table = &report[&addr];
        assert_eq!(table.len(), scanned.len(), "{what} {out}: ports");
        let wrong: Vec<String> = scanned
            .iter()
            .filter(|&&p| table.get(p) != Some(("filtered", "no-response")))
            .map(|p| format!("{p} {:?}", table.get(*p)))
            .collect();
        assert!(
            wrong.is_empty(),
            "{what} {out}: the liar made ports: {wrong:?}"
        );
    }
    assert!(
        json.streamed_open(what).is_empty(),
        "{what}: streamed open ports"
    );
    let end = json.end(what);
    assert_eq!(
        end["hosts_up"].as_u64(),
        Some(1),
        "{what}: hosts_up in {end}"
    );
    for lie in expected_lies(false, false) {
        // The host never answers, so there is no true answer to repeat.
        if lie != Lie::Duplicate {
            assert!(
                lies.count(lie) > 0,
                "{what}: no {} sent: {lies}",
                lie.name()
            );
        }
    }
}

/// UDP and connect scans cover the ports where the lab's truth varies: every answering and
/// silent UDP port, the edges of the dropped and rejected ranges, the open TCP ports.
const SOME: &str = "1-1100,5000-5005,8080,9999,19990-20010,20990-21010,21490-21510,\
                    31337,49153,50000,54321,61000,65535";

#[test]
fn forged_replies_change_no_port_state() {
    // The hostile host: an address the router drops everything for, whose every port the
    // liar answers.
    let lab = lab(Lab::builder()
        .router_rule(&format!("ip daddr {HOSTILE_V4} drop"))
        .router_rule(&format!("ip6 daddr {HOSTILE_V6} drop")));
    let mut opts = LiarOptions::for_lab(&lab, EVERY);
    opts.every_port_of = vec![HOSTILE_V4.into(), HOSTILE_V6.into()];
    let mut liar = Liar::start(&lab, opts).unwrap_or_else(|e| panic!("cannot start the liar: {e}"));
    let start = Instant::now();
    // Every scan first, then the checks: see MAX_RSS_KIB.
    let runs = [
        scan_under_liar(&lab, &liar, "-sS", false, "1-65535"),
        scan_under_liar(&lab, &liar, "-sS", true, "1-65535"),
        scan_under_liar(&lab, &liar, "-sA", false, "1-65535"),
        scan_under_liar(&lab, &liar, "-sU", false, SOME),
        scan_under_liar(&lab, &liar, "-sU", true, SOME),
        scan_under_liar(&lab, &liar, "-sT", false, SOME),
    ];
    let hostile = scan_of(
        &lab,
        &liar,
        "-sS",
        false,
        "1-2000",
        vec![HOSTILE_V4.to_string()],
    );
    let total = liar
        .stop()
        .unwrap_or_else(|e| panic!("the liar failed: {e}"));
    eprintln!(
        "all scans: {:.1} s; liar in all: {total}",
        start.elapsed().as_secs_f64()
    );
    for run in &runs {
        check(&lab, run);
    }
    check_hostile(&hostile);
}
