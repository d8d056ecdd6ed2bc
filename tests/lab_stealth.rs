//! `--profile stealth` end to end: a stateless filter on the lab's router drops every
//! SYN (without ACK) to three ports of a target and lets other segments pass. A SYN scan
//! sees those ports as filtered; the stealth profile's FIN/NULL/Xmas/ACK probes must show
//! the two closed ones as closed (their RST to FIN) and the open one as open|filtered
//! (silent to FIN while ACK gets through), and every other port of the quick list exactly
//! as the lab built it.
//!
//! Needs root (the lab); nothing is skipped.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{lab, parse_jsonl, read, run, scratch};
use monban_lab::Lab;

const SCAN_LIMIT: Duration = Duration::from_secs(120);
/// The quick list (docs/background.md, "The online scan suite"): 1-10 and 27 named ports.
const QUICK: [u16; 37] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 23, 25, 53, 59, 79, 80, 110, 113, 135, 139, 443,
    445, 1080, 1125, 1243, 1999, 5000, 6776, 7789, 8080, 12345, 31337, 54320, 54321,
];

fn scan(lab: &Lab, profile: &str, target: &str, out: &std::path::Path) -> common::JsonReport {
    let args = [
        "scan",
        "--audit",
        "--profile",
        profile,
        "-Pn",
        "-n",
        "-T4",
        "--reason",
        "--no-progress",
        "-oJ",
        out.to_str().unwrap_or_default(),
        target,
    ];
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, args), SCAN_LIMIT);
    eprintln!("{}", ran.stdout);
    assert!(ran.status.success(), "{ran:?}");
    parse_jsonl(&read(out), profile)
}

#[test]
fn stealth_profile_sees_closed_ports_behind_a_syn_filter() {
    let lab: Lab = lab(Lab::builder().hosts(1).router_rule(
        "ip daddr 10.77.1.10 tcp dport { 22, 23, 25 } tcp flags & (syn|ack) == syn drop",
    ));
    let host = lab.hosts()[0].clone();
    assert!(host.open_ports().contains(&22) && !host.open_ports().contains(&23));
    let target = host.v4.to_string();
    let dir = scratch("stealth");

    let want = |port: u16, stealth: bool| -> (&'static str, &'static str) {
        match port {
            22 if stealth => ("open|filtered", "no-response"),
            23 | 25 if stealth => ("closed", "reset"),
            22 | 23 | 25 => ("filtered", "no-response"),
            p if host.open_ports().contains(&p) => ("open", "syn-ack"),
            _ => ("closed", "reset"),
        }
    };
    for (profile, stealth) in [("quick", false), ("stealth", true)] {
        let report = scan(
            &lab,
            profile,
            &target,
            &dir.join(format!("{profile}.jsonl")),
        );
        let table = &report.hosts[&target];
        assert_eq!(table.len(), QUICK.len(), "{profile}");
        let got: BTreeMap<u16, (String, String)> = QUICK
            .iter()
            .map(|&p| {
                let (s, r) = table
                    .get(p)
                    .unwrap_or_else(|| panic!("{profile}: port {p} missing"));
                (p, (s.to_owned(), r.to_owned()))
            })
            .collect();
        let expected: BTreeMap<u16, (String, String)> = QUICK
            .iter()
            .map(|&p| {
                let (s, r) = want(p, stealth);
                (p, (s.to_owned(), r.to_owned()))
            })
            .collect();
        assert_eq!(got, expected, "{profile}");

        // --audit: exposed, the backdoor port first; 22 undecided only in stealth.
        let host_event = report
            .events
            .iter()
            .find(|e| e["event"] == "host")
            .expect("a host event");
        let audit = &host_event["audit"];
        assert_eq!(audit["verdict"], "exposed", "{audit}");
        assert_eq!(audit["open"][0]["port"], 31337, "{audit}");
        assert_eq!(audit["open"][0]["risk"], "high", "{audit}");
        let mut open: Vec<u64> = audit["open"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["port"].as_u64())
            .collect();
        open.sort_unstable();
        assert_eq!(open, [1, 80, 443, 8080, 31337], "{audit}");
        let (blocked, undecided) = if stealth { (0, "22") } else { (3, "") };
        assert_eq!(audit["blocked"], blocked, "{audit}");
        assert_eq!(audit["undecided"], undecided, "{audit}");
    }
}
