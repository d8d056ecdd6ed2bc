//! Peers: nmap (Debian package) scans the same lab as monban.
//!
//! `nmap_agrees_with_ground_truth` proves the lab itself: nmap's view of every port of every
//! host, over IPv4 and IPv6, equals the ground truth built into the lab. The other tests hold
//! monban to nmap, port for port, and check that nmap's own `ndiff` reads monban's XML.

mod common;

use std::time::Duration;

use common::{assert_matches_truth, lab, parse_jsonl, parse_xml, read, run, scratch, targets};
use monban_lab::Lab;

/// nmap -sS -p- over the lab takes about 15 s here; leave room for a loaded machine.
const SCAN_LIMIT: Duration = Duration::from_secs(300);

fn nmap_syn(lab: &Lab, v6: bool, xml: &std::path::Path) {
    let mut args: Vec<String> = ["-n", "-Pn", "-sS", "-T4", "-p", "1-65535", "--reason"]
        .map(String::from)
        .to_vec();
    if v6 {
        args.push("-6".into());
    }
    args.push("-oX".into());
    args.push(xml.display().to_string());
    args.extend(targets(lab, v6));
    let ran = run(&mut lab.scanner_cmd("nmap", &args), SCAN_LIMIT);
    assert!(
        ran.status.success(),
        "nmap failed ({}): {}",
        ran.status,
        ran.stderr
    );
}

fn monban_syn(lab: &Lab, xml: &std::path::Path, jsonl: &std::path::Path) {
    let mut args: Vec<String> = [
        "scan",
        "-sS",
        "-p-",
        "-n",
        "-Pn",
        "--reason",
        "--no-progress",
        "-T4",
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "-oX".into(),
        xml.display().to_string(),
        "-oJ".into(),
        jsonl.display().to_string(),
    ]);
    args.extend(targets(lab, false));
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), SCAN_LIMIT);
    assert!(
        ran.status.success(),
        "monban failed ({}): {}",
        ran.status,
        ran.stderr
    );
}

#[test]
fn nmap_agrees_with_ground_truth() {
    let lab = lab(Lab::builder());
    let dir = scratch("nmap-truth");
    for v6 in [false, true] {
        let xml = dir.join(if v6 { "nmap6.xml" } else { "nmap4.xml" });
        nmap_syn(&lab, v6, &xml);
        let report = parse_xml(&read(&xml), &xml.display().to_string());
        let what = if v6 { "nmap -6 -sS" } else { "nmap -sS" };
        assert_matches_truth(what, &lab, v6, &report, |h, p| h.truth(p));
    }
}

#[test]
fn monban_agrees_with_nmap_and_ndiff_reads_its_xml() {
    let lab = lab(Lab::builder());
    let dir = scratch("peer-ndiff");
    let nmap_xml = dir.join("nmap.xml");
    let monban_xml = dir.join("monban.xml");
    let monban_json = dir.join("monban.jsonl");
    nmap_syn(&lab, false, &nmap_xml);
    monban_syn(&lab, &monban_xml, &monban_json);

    let theirs = parse_xml(&read(&nmap_xml), "nmap.xml");
    let ours = parse_xml(&read(&monban_xml), "monban.xml");
    let json = parse_jsonl(&read(&monban_json), "monban.jsonl");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "hosts in monban.xml vs nmap.xml"
    );
    for (addr, nmap_table) in &theirs {
        // nmap's view is the reference here.
        let truth = |p: u16| nmap_table.get(p).unwrap_or(("missing-in-nmap", "-"));
        for (name, table) in [("monban.xml", &ours), ("monban.jsonl", &json.hosts)] {
            let Some(t) = table.get(addr) else {
                panic!("{name} lacks host {addr}");
            };
            let diff = common::mismatches(t, truth);
            assert!(
                diff.is_empty(),
                "{name} disagrees with nmap on {addr}:\n  {}",
                diff.join("\n  ")
            );
        }
    }

    // ndiff (nmap's own XML reader) must read monban's file: exit 0 (same) or 1 (differs).
    let nd = run(
        std::process::Command::new("ndiff")
            .arg(&nmap_xml)
            .arg(&monban_xml),
        Duration::from_secs(60),
    );
    let code = nd.status.code();
    assert!(
        matches!(code, Some(0 | 1))
            && !nd.stderr.contains("Traceback")
            && nd.stderr.trim().is_empty(),
        "ndiff nmap.xml monban.xml: status {:?}\nstdout:\n{}\nstderr:\n{}",
        nd.status,
        nd.stdout,
        nd.stderr
    );
    // ndiff lists a changed port as "-PORT/tcp STATE SERVICE" (nmap) and "+PORT/tcp STATE
    // SERVICE" (monban). Service names come from each tool's own data and may differ by
    // design (monban does not use nmap-services); the states must not.
    let states = |sign: char| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = nd
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix(sign))
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let port = f.next()?;
                let state = f.next()?;
                port.ends_with("/tcp")
                    .then(|| (port.to_owned(), state.to_owned()))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        states('-'),
        states('+'),
        "ndiff sees port state differences between nmap (-) and monban (+):\n{}",
        nd.stdout
    );

    let same = run(
        std::process::Command::new("ndiff")
            .arg(&monban_xml)
            .arg(&monban_xml),
        Duration::from_secs(60),
    );
    assert_eq!(
        same.status.code(),
        Some(0),
        "ndiff monban.xml monban.xml must find no difference\nstdout:\n{}\nstderr:\n{}",
        same.stdout,
        same.stderr
    );
    assert!(
        same.stderr.trim().is_empty(),
        "ndiff stderr: {}",
        same.stderr
    );
}
