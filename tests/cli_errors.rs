//! Invalid command lines exit 2 with one line on stderr that names the offending input.
//!
//! Each runs inside a fresh, empty network namespace (`unshare -n`), so that even a
//! misbehaving binary cannot send a packet (or a DNS query) anywhere.

mod common;

use std::process::Command;
use std::time::Duration;

use common::run;

fn expect_usage_error(args: &[&str], names: &str) {
    let ran = run(
        Command::new("unshare")
            .arg("--net")
            .arg(common::MONBAN)
            .args(args),
        Duration::from_secs(30),
    );
    let shown = format!("monban {}", args.join(" "));
    assert_eq!(
        ran.status.code(),
        Some(2),
        "{shown}: exit status\nstderr: {}",
        ran.stderr
    );
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{shown}: stderr must be one line, got:\n{}",
        ran.stderr
    );
    assert!(
        lines.iter().all(|l| l.contains(names)),
        "{shown}: the message should name {names:?}: {}",
        ran.stderr
    );
    assert!(
        ran.stdout.is_empty(),
        "{shown}: nothing on stdout, got {}",
        ran.stdout
    );
}

#[test]
fn port_out_of_range_is_a_usage_error() {
    expect_usage_error(&["scan", "-p", "70000", "127.0.0.1"], "70000");
}

#[test]
fn unknown_option_is_a_usage_error() {
    expect_usage_error(&["scan", "--bogus"], "--bogus");
}

#[test]
fn bad_address_is_a_usage_error() {
    expect_usage_error(&["scan", "-p", "80", "300.1.1.1"], "300.1.1.1");
}
