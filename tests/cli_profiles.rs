//! Risk notes end to end and the `profiles` subcommand, on loopback only: a listener on a
//! risky port inside this test, a connect scan of that one port of 127.0.0.1.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::{read, run, scratch, MONBAN};
use monban_probes::{risk_for, Protocol};

/// Listens on telnet's port 23; if something else holds it, on Redis's 6379, then
/// memcached's 11211 (all three are in the risk table).
fn risky_listener() -> (TcpListener, u16) {
    for port in [23, 6379, 11211] {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return (l, port);
        }
    }
    panic!("ports 23, 6379 and 11211 of 127.0.0.1 are all taken");
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[test]
fn open_risky_port_carries_its_risk_note() {
    let (_listener, port) = risky_listener();
    let dir = scratch("risk");
    let json = dir.join("out.jsonl");
    let xml = dir.join("out.xml");
    let ran = run(
        Command::new(MONBAN).args([
            "scan",
            "-sT",
            "-p",
            &port.to_string(),
            "-n",
            "-Pn",
            "--no-progress",
            "-oJ",
            json.to_str().unwrap_or_default(),
            "-oX",
            xml.to_str().unwrap_or_default(),
            "127.0.0.1",
        ]),
        Duration::from_secs(60),
    );
    assert!(ran.status.success(), "{ran:?}");
    let risk = risk_for(port, Protocol::Tcp, None).expect("the port is in the risk table");

    // Normal output on stdout: the notes block and the end-of-scan summary.
    let line = format!(
        "  {port}/tcp {} [{}]: {} \u{2192} {}\n",
        risk.name, risk.level, risk.why, risk.advice
    );
    assert!(
        ran.stdout.contains(&format!("Risk notes:\n{line}")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!(
            "\nRisky open services: 1 (1 {}) on 1 host\n",
            risk.level
        )),
        "{}",
        ran.stdout
    );

    // JSON Lines: the host event's port entry.
    let body = read(&json);
    let host = body
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "host")
        .expect("a host event");
    let ports = host["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 1, "{host}");
    let entry = &ports[0];
    assert_eq!(entry["port"], serde_json::json!(port));
    assert_eq!(entry["state"], "open");
    assert_eq!(
        entry["risk"],
        serde_json::json!({
            "level": risk.level.as_str(),
            "why": risk.why,
            "advice": risk.advice,
        })
    );

    // XML: the host's monban-risk script (a hostscript: see crates/output/src/xml.rs).
    let doc = read(&xml);
    let script = format!(
        "<hostscript><script id=\"monban-risk\" output=\"{}\"/></hostscript>",
        xml_escape(&format!(
            "{port}/tcp {} [{}]: {} Advice: {}",
            risk.name,
            risk.level.as_str(),
            risk.why,
            risk.advice
        ))
    );
    assert!(doc.contains(&script), "{doc}");
    assert!(
        doc.contains(&format!("<port protocol=\"tcp\" portid=\"{port}\">")),
        "{doc}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn profiles_subcommand_lists_the_six() {
    let ran = run(
        Command::new(MONBAN).arg("profiles"),
        Duration::from_secs(30),
    );
    assert_eq!(ran.status.code(), Some(0), "{ran:?}");
    let names: Vec<&str> = ran
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["prescan", "quick", "stealth", "trojan", "tcp-low", "udp-low"]
    );
    assert_eq!(ran.stderr, "");
}
