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

/// Files read whole are read with a bound: an endless device, a directory or binary junk
/// as a target list, an exclude list or a scan to resume is one clear line, not all of
/// memory or a hang.
#[test]
fn hostile_input_files_are_usage_errors() {
    let junk = std::env::temp_dir().join(format!("monban-junk-{}", std::process::id()));
    std::fs::write(&junk, b"\xff\xfe\x00garbage\x80").unwrap();
    let junk = junk.to_str().unwrap().to_string();
    for flag in ["-iL", "--excludefile"] {
        let with = |file: &str, names: &str| {
            let mut args = vec!["scan", "-p", "80", flag, file];
            if flag == "--excludefile" {
                args.push("127.0.0.1");
            }
            expect_usage_error(&args, names);
        };
        with("/dev/zero", "larger than 1024 MiB");
        with("/", "is a directory");
        with(&junk, "not UTF-8 text");
    }
    expect_usage_error(&["scan", "--resume", "/dev/zero"], "larger than 1024 MiB");
    expect_usage_error(&["scan", "--resume", "/"], "is a directory");
    std::fs::remove_file(&junk).unwrap();
}
