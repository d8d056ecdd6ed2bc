//! Scanning without root: the binary granted only `CAP_NET_RAW` (`setcap cap_net_raw+ep`)
//! and run as `nobody` makes a real SYN scan (raw sockets), not a fallback connect scan.
//! Loopback only; needs root to set the capability, `setcap` (libcap2-bin) and `setpriv`.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::{run, scratch, MONBAN};

#[test]
fn a_syn_scan_with_only_cap_net_raw() {
    let dir = scratch("caps");
    // World-readable: `nobody` must reach and execute the copy.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bin = dir.join("monban");
    std::fs::copy(MONBAN, &bin).expect("copy the binary");
    let b = bin.to_str().unwrap();
    let r = run(
        Command::new("setcap").args(["cap_net_raw+ep", b]),
        Duration::from_secs(30),
    );
    assert!(
        r.status.success(),
        "setcap (apt-get install libcap2-bin): {r:?}"
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ports = format!("{open},{closed}");
    let as_nobody = |args: &[&str]| {
        run(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", b])
                .args(args),
            Duration::from_secs(60),
        )
    };
    let r = as_nobody(&[
        "scan",
        "-sS",
        "-n",
        "-Pn",
        "-p",
        &ports,
        "-oJ",
        "-",
        "127.0.0.1",
    ]);
    assert!(r.status.success(), "{r:?}");
    let report = common::parse_jsonl(&r.stdout, "scan as nobody");
    assert_eq!(
        report.events[0]["scan"], "syn",
        "a SYN scan, not a connect scan"
    );
    let table = &report.hosts["127.0.0.1"];
    assert_eq!(table.get(open), Some(("open", "syn-ack")));
    assert_eq!(table.get(closed), Some(("closed", "reset")));
    // The same as nobody without the capability: no raw sockets, so a connect scan.
    let plain = dir.join("plain");
    std::fs::copy(MONBAN, &plain).unwrap();
    let r = run(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&plain)
            .args(["scan", "-n", "-Pn", "-p", &ports, "-oJ", "-", "127.0.0.1"]),
        Duration::from_secs(60),
    );
    assert!(r.status.success(), "{r:?}");
    assert_eq!(
        common::parse_jsonl(&r.stdout, "plain").events[0]["scan"],
        "connect"
    );
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}
