//! The lab itself: it carries both families, its listeners answer, its firewall rules are in
//! place, and it leaves nothing behind.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use monban_lab::{in_namespace, Lab, NETNS_DIR};

fn build(b: monban_lab::LabBuilder) -> Lab {
    b.build()
        .unwrap_or_else(|e| panic!("cannot build the monban lab: {e}"))
}

fn ns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// Connects from the scanner namespace; returns the error kind, or None when it connected.
fn connect_from_scanner(lab: &Lab, addrs: Vec<SocketAddr>) -> Vec<Option<ErrorKind>> {
    in_namespace(lab.scanner_ns(), move || {
        addrs
            .iter()
            .map(|a| {
                TcpStream::connect_timeout(a, Duration::from_secs(3))
                    .err()
                    .map(|e| e.kind())
            })
            .collect()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn lab_serves_its_ground_truth_and_tears_down() {
    let lab = build(Lab::builder().hosts(2));
    let names: Vec<String> = std::iter::once(lab.scanner_ns().to_owned())
        .chain(std::iter::once(lab.router_ns().to_owned()))
        .chain(lab.hosts().iter().map(|h| h.ns.clone()))
        .collect();
    assert_eq!(names.len(), 4);
    for n in &names {
        assert!(ns_exists(n), "{n} exists while the lab lives");
        assert!(n.starts_with(lab.prefix()), "{n} carries the lab prefix");
    }
    assert_eq!(lab.hosts()[1].v4.to_string(), "10.77.1.11");
    assert_eq!(lab.hosts()[1].v6.to_string(), "fd77:1::11");

    let mut addrs = Vec::new();
    for h in lab.hosts() {
        for ip in [h.v4.into(), h.v6.into()] {
            for &p in h.open_ports() {
                addrs.push(SocketAddr::new(ip, p));
            }
            addrs.push(SocketAddr::new(ip, 2)); // closed
        }
    }
    let got = connect_from_scanner(&lab, addrs.clone());
    for (a, kind) in addrs.iter().zip(&got) {
        let want = if a.port() == 2 {
            Some(ErrorKind::ConnectionRefused)
        } else {
            None
        };
        assert_eq!(*kind, want, "connect to {a}");
    }

    // Many connections in a row never fill a backlog: the listener accepts and closes.
    let h0 = lab.hosts()[0].v4;
    let burst: Vec<SocketAddr> = (0..3000).map(|_| SocketAddr::from((h0, 22))).collect();
    let got = connect_from_scanner(&lab, burst);
    assert!(
        got.iter().all(Option::is_none),
        "3000 connects to :22 all succeed"
    );

    drop(lab);
    for n in &names {
        assert!(!ns_exists(n), "{n} is gone after drop");
    }
}

#[test]
fn firewall_rules_and_options_are_installed() {
    let lab = build(
        Lab::builder()
            .hosts(1)
            .loss_permille(30)
            .rate_limit_kbit(100_000),
    );
    let run = |ns: &str, args: &[&str]| -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec: {e}"));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let t0 = &lab.hosts()[0].ns;
    let rules = run(t0, &["nft", "list", "ruleset"]);
    assert!(
        rules.contains("meta l4proto { tcp, udp } th dport 20000-20999 drop"),
        "{rules}"
    );
    assert!(
        rules.contains(
            "meta l4proto { tcp, udp } th dport 21000-21499 reject with icmpx admin-prohibited"
        ),
        "{rules}"
    );
    let rt = run(lab.router_ns(), &["nft", "list", "ruleset"]);
    assert!(rt.contains("numgen random mod 1000 < 30 drop"), "{rt}");
    let qdisc = run(lab.router_ns(), &["tc", "qdisc", "show", "dev", "br0"]);
    assert!(
        qdisc.contains("tbf") && qdisc.contains("rate 100Mbit"),
        "{qdisc}"
    );
    let icmp = run(
        t0,
        &[
            "sysctl",
            "-n",
            "net.ipv4.icmp_ratelimit",
            "net.ipv6.icmp.ratelimit",
        ],
    );
    assert_eq!(icmp, "0\n0\n");
    let fwd = run(
        lab.router_ns(),
        &[
            "sysctl",
            "-n",
            "net.ipv4.ip_forward",
            "net.ipv6.conf.all.forwarding",
        ],
    );
    assert_eq!(fwd, "1\n1\n");
}

#[test]
fn stale_labs_of_dead_processes_are_swept() {
    // A process that has certainly exited: its pid names a stale namespace.
    let mut child = std::process::Command::new("true")
        .spawn()
        .unwrap_or_else(|e| panic!("spawn true: {e}"));
    let dead = child.id();
    let _ = child.wait();
    let stale = format!("mb{dead}x0-scan");
    let out = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .output()
        .unwrap_or_else(|e| panic!("ip netns add: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ns_exists(&stale));
    let lab = build(Lab::builder().hosts(1));
    assert!(
        !ns_exists(&stale),
        "{stale} was swept when a new lab started"
    );
    assert!(
        ns_exists(lab.scanner_ns()),
        "our own lab survives the sweep"
    );
}

#[test]
fn bad_options_are_refused() {
    let e = Lab::builder().hosts(0).build().map(drop);
    assert!(
        matches!(e, Err(monban_lab::LabError::Config { .. })),
        "hosts(0): {e:?}"
    );
    let e = Lab::builder().loss_permille(1000).build().map(drop);
    assert!(
        matches!(e, Err(monban_lab::LabError::Config { .. })),
        "loss 1000: {e:?}"
    );
}

#[test]
fn json_describes_the_lab() {
    let lab = build(Lab::builder().hosts(1));
    let json = lab.to_json();
    let want = format!(
        "\"hosts\":[{{\"index\":0,\"ns\":\"{}-t0\",\"v4\":\"10.77.1.10\",\"v6\":\"fd77:1::10\",\
         \"open\":[1,22,80,443,8080,31337,50000],\"dropped\":\"20000-20999\",\
         \"rejected\":\"21000-21499\",\"closed\":\"every other port\"}}]}}",
        lab.prefix()
    );
    assert!(json.ends_with(&want), "{json}");
    assert!(
        json.starts_with(&format!("{{\"pid\":{},", std::process::id())),
        "{json}"
    );
}
