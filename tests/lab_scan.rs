//! monban against the lab: every port of every host, every TCP scan type, both address
//! families, and under random loss, must read exactly as the lab was built.
//!
//! Under `-sT` the lab's rejected ports still read `admin-prohibited`: the kernel turns
//! ICMP admin-prohibited into EHOSTUNREACH (IPv4) or, after one SYN retransmission, EACCES
//! (IPv6), but the ICMP type and code themselves arrive on the socket's error queue
//! (`IP_RECVERR`), which is what monban reads.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_matches_truth, lab, parse_jsonl, parse_xml, read, run, scratch, targets};
use monban_lab::{Lab, Probe};

/// A full-range scan of three lab hosts takes seconds; the limit only catches a hang.
const SCAN_LIMIT: Duration = Duration::from_secs(300);

struct Outputs {
    xml: PathBuf,
    jsonl: PathBuf,
}

fn scan_args(scan: &str, v6: bool, timing: &str, out: &Outputs) -> Vec<String> {
    let mut args: Vec<String> = [
        "scan",
        scan,
        "-p-",
        "-n",
        "-Pn",
        "--reason",
        "--no-progress",
    ]
    .map(String::from)
    .to_vec();
    args.push(timing.into());
    if v6 {
        args.push("-6".into());
    }
    args.extend([
        "-oJ".into(),
        out.jsonl.display().to_string(),
        "-oX".into(),
        out.xml.display().to_string(),
    ]);
    args
}

/// Runs a full-range scan of every lab host and checks both outputs port by port.
fn full_range_matches_truth(name: &str, lab: &Lab, scan: &str, v6: bool) {
    let probe = match scan {
        "-sT" => Probe::Connect,
        "-sF" | "-sN" | "-sX" => Probe::FinNullXmas,
        "-sA" => Probe::Ack,
        "-sW" => Probe::Window,
        "-sU" => Probe::Udp,
        _ => Probe::Syn,
    };
    let dir = scratch(name);
    let out = Outputs {
        xml: dir.join("scan.xml"),
        jsonl: dir.join("scan.jsonl"),
    };
    let mut args = scan_args(scan, v6, "-T4", &out);
    args.extend(targets(lab, v6));
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), SCAN_LIMIT);
    assert!(
        ran.status.success(),
        "monban {} failed ({}):\n{}",
        args.join(" "),
        ran.status,
        ran.stderr
    );

    let what = format!("monban {scan}{}", if v6 { " -6" } else { "" });
    let json = parse_jsonl(&read(&out.jsonl), &format!("{what} -oJ"));
    assert_matches_truth(&format!("{what} -oJ"), lab, v6, &json.hosts, |h, p| {
        h.truth_for(probe, p)
    });
    let xml = parse_xml(&read(&out.xml), &format!("{what} -oX"));
    assert_matches_truth(&format!("{what} -oX"), lab, v6, &xml, |h, p| {
        h.truth_for(probe, p)
    });

    // Ports whose true state is open are streamed as `port` events before their host
    // completes, and no others (FIN, NULL, Xmas, ACK and window scans stream none).
    let streamed = json.streamed_open(&what);
    for h in lab.hosts() {
        let addr = if v6 {
            h.v6.to_string()
        } else {
            h.v4.to_string()
        };
        let open: Vec<u16> = (1..=65535u16)
            .filter(|&p| h.truth_for(probe, p).0 == "open")
            .collect();
        let expected = (!open.is_empty()).then_some(open);
        assert_eq!(
            streamed.get(&addr).cloned(),
            expected,
            "{what}: streamed open ports of {addr}"
        );
    }
    let end = json.end(&what);
    let n = lab.hosts().len() as u64;
    assert_eq!(
        end["hosts_up"].as_u64(),
        Some(n),
        "{what}: hosts_up in {end}"
    );
    assert_eq!(
        end["hosts_total"].as_u64(),
        Some(n),
        "{what}: hosts_total in {end}"
    );
    assert_eq!(
        end["interrupted"].as_bool(),
        Some(false),
        "{what}: interrupted in {end}"
    );
}

#[test]
fn syn_v4_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("syn-v4", &lab, "-sS", false);
}

#[test]
fn syn_v6_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("syn-v6", &lab, "-sS", true);
}

#[test]
fn connect_v4_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("connect-v4", &lab, "-sT", false);
}

#[test]
fn connect_v6_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("connect-v6", &lab, "-sT", true);
}

#[test]
fn fin_v4_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("fin-v4", &lab, "-sF", false);
}

#[test]
fn null_v6_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("null-v6", &lab, "-sN", true);
}

#[test]
fn xmas_v4_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("xmas-v4", &lab, "-sX", false);
}

#[test]
fn ack_v4_and_v6_full_range_map_the_firewall() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("ack-v4", &lab, "-sA", false);
    full_range_matches_truth("ack-v6", &lab, "-sA", true);
}

#[test]
fn window_v4_full_range_matches_truth() {
    let lab = lab(Lab::builder());
    full_range_matches_truth("window-v4", &lab, "-sW", false);
}

#[test]
fn udp_v4_and_v6_full_range_match_truth() {
    // The lab lifts the targets' ICMP rate limits, so every closed port answers with
    // port unreachable; answering UDP services read open, a bound silent socket and the
    // dropped range open|filtered, the rejected range admin-prohibited.
    let lab = lab(Lab::builder());
    full_range_matches_truth("udp-v4", &lab, "-sU", false);
    full_range_matches_truth("udp-v6", &lab, "-sU", true);
}

#[test]
fn syn_v4_under_3_percent_loss_matches_truth() {
    let lab = lab(Lab::builder().loss_permille(30));
    full_range_matches_truth("syn-v4-loss", &lab, "-sS", false);
}

#[test]
fn sigint_stops_the_scan_and_leaves_valid_outputs() {
    let lab = lab(Lab::builder().hosts(1));
    let dir = scratch("sigint");
    let out = Outputs {
        xml: dir.join("scan.xml"),
        jsonl: dir.join("scan.jsonl"),
    };
    let mut args = scan_args("-sS", false, "-T2", &out);
    args.extend(targets(&lab, false));
    let mut child = lab
        .scanner_cmd(common::MONBAN, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start monban: {e}"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "a -T2 full-range scan ended within 2 s; it cannot be interrupted"
    );
    // `ip netns exec` execs monban, so the child's pid is monban's.
    let pid = libc::pid_t::try_from(child.id()).unwrap_or(0);
    // SAFETY: sends SIGINT to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill -INT");
    let sent = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if sent.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("monban did not stop within 5 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !status.success(),
        "an interrupted scan must not exit 0 ({status})"
    );
    check_interrupted_outputs(&out.xml, &out.jsonl);
}

fn check_interrupted_outputs(xml: &Path, jsonl: &Path) {
    let body = read(xml);
    assert!(
        body.starts_with("<?xml"),
        "XML head: {:?}",
        &body[..body.len().min(80)]
    );
    assert!(
        body.trim_end().ends_with("</nmaprun>"),
        "interrupted XML must be closed; it ends with {:?}",
        &body[body.len().saturating_sub(200)..]
    );
    assert!(
        body.contains("<runstats>"),
        "interrupted XML lacks <runstats>"
    );
    // Reading it must not trip over half-written hosts.
    let _ = parse_xml(&body, "interrupted -oX");

    let json = parse_jsonl(&read(jsonl), "interrupted -oJ");
    let end = json.end("interrupted -oJ");
    assert_eq!(
        end["interrupted"].as_bool(),
        Some(true),
        "the end event must say interrupted: {end}"
    );
}

/// When every SYN/ACK of one open port is lost on the way back, the port is unreachable from
/// the scanner: filtered, no-response (nmap says the same). A retransmitted SYN that reuses
/// the first one's ports with a different, in-window sequence number makes the target's
/// half-open connection answer with a RST, which would read "closed" — wrong.
#[test]
fn lost_syn_acks_read_filtered_never_closed() {
    let lab = lab(Lab::builder()
        .hosts(1)
        .router_rule("ip saddr 10.77.1.10 tcp sport 80 tcp flags & (syn|ack) == syn|ack drop"));
    let dir = scratch("lost-syn-ack");
    let out = Outputs {
        xml: dir.join("scan.xml"),
        jsonl: dir.join("scan.jsonl"),
    };
    let mut args = scan_args("-sS", false, "-T4", &out);
    args.extend(targets(&lab, false));
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), SCAN_LIMIT);
    assert!(
        ran.status.success(),
        "monban failed ({}): {}",
        ran.status,
        ran.stderr
    );
    let json = parse_jsonl(&read(&out.jsonl), "lost SYN/ACK -oJ");
    assert_matches_truth(
        "monban -sS, SYN/ACKs of :80 lost",
        &lab,
        false,
        &json.hosts,
        |h, p| {
            if p == 80 {
                ("filtered", "no-response")
            } else {
                h.truth(p)
            }
        },
    );
}
