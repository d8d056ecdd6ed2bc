//! `monban scan -b` end to end: a real vsftpd (Debian package) in lab target 0's namespace,
//! configured to connect to third parties (`port_promiscuous=YES`), bounces the scan to
//! lab target 1; every output must hold that host's true port states as vsftpd can see
//! them.
//!
//! What vsftpd 3.0.3 tells, measured in this lab (see crates/netio/tests/bounce_lab.rs):
//! open → open; closed and rejected (its connect fails at once) → closed; dropped →
//! `425` after its `connect_timeout` (2 s here) → filtered; ports below 1024 are refused
//! by vsftpd itself → left out, with a warning.
//!
//! Needs root (the lab) and vsftpd (`scripts/test.sh` installs it); nothing is skipped.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{lab, parse_jsonl, parse_xml, read, run, scratch};
use monban_lab::{daemons, Lab};

const FTP_PORT: u16 = 2121;
const START_LIMIT: Duration = Duration::from_secs(15);
const SCAN_LIMIT: Duration = Duration::from_secs(120);

#[test]
fn bounce_scan_reports_the_third_partys_ports_in_every_output() {
    let lab: Lab = lab(Lab::builder().hosts(2));
    let ftp = lab.hosts()[0].clone();
    let target = lab.hosts()[1].clone();
    let dir = scratch("bounce");
    // Declared after `lab`, so vsftpd is killed before the namespaces go.
    let mut vsftpd = vec![(
        FTP_PORT,
        daemons::vsftpd_with(
            &ftp.ns,
            &dir,
            FTP_PORT,
            &["port_promiscuous=YES", "connect_timeout=2"],
        )
        .unwrap_or_else(|e| panic!("{e}")),
    )];
    daemons::wait_ready(&ftp.ns, &mut vsftpd, START_LIMIT).unwrap_or_else(|e| panic!("{e}"));

    // 22 is open but privileged: vsftpd refuses it, so it must be left out, not guessed.
    let open: Vec<u16> = target
        .open_ports()
        .iter()
        .copied()
        .filter(|p| *p >= 1024)
        .collect();
    assert_eq!(open, [3306, 49153, 65535], "lab host 1 changed");
    let scanned = [1500, 3306, 3307, 20000, 20001, 21000, 49153, 65535];
    let xml = dir.join("out.xml");
    let json = dir.join("out.jsonl");
    let args: Vec<String> = [
        "scan",
        "-b",
        &format!("anonymous:monban@@{}:{FTP_PORT}", ftp.v4),
        "-Pn",
        "-n",
        "-T4",
        "--reason",
        "--no-progress",
        "-p",
        "22,1500,3306,3307,20000,20001,21000,49153,65535",
        "-oX",
        &xml.display().to_string(),
        "-oJ",
        &json.display().to_string(),
        &target.v4.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), SCAN_LIMIT);
    eprintln!("{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.status.success(), "{ran:?}");
    assert!(
        ran.stderr.contains(
            "monban: 1 port(s) not scanned: the FTP server refuses data connections to ports \
             below 1024"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.contains("3306/tcp  open"),
        "normal output lists the open ports: {}",
        ran.stdout
    );

    let truth = |port: u16| -> (&str, &str) {
        if open.contains(&port) {
            ("open", "syn-ack")
        } else if (20000..=20999).contains(&port) {
            ("filtered", "no-response")
        } else {
            ("closed", "conn-refused")
        }
    };
    let want: BTreeMap<u16, (&str, &str)> = scanned.iter().map(|&p| (p, truth(p))).collect();

    let x = read(&xml);
    assert!(
        x.contains(r#"<scaninfo type="bounce" protocol="tcp""#),
        "{x}"
    );
    let tables = parse_xml(&x, "xml");
    let table = &tables[&target.v4.to_string()];
    assert_eq!(table.len(), scanned.len(), "{x}");
    for (port, (state, reason)) in &want {
        assert_eq!(table.get(*port), Some((*state, *reason)), "xml port {port}");
    }
    assert_eq!(table.get(22), None, "privileged port must be left out");

    let report = parse_jsonl(&read(&json), "jsonl");
    let table = &report.hosts[&target.v4.to_string()];
    assert_eq!(table.len(), scanned.len());
    for (port, (state, reason)) in &want {
        assert_eq!(
            table.get(*port),
            Some((*state, *reason)),
            "json port {port}"
        );
    }
    assert_eq!(
        report.streamed_open("jsonl")[&target.v4.to_string()],
        open,
        "open ports are streamed as found"
    );
}
