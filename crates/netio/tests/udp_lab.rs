//! UDP scan against a real Linux kernel with its default ICMP rate limit (a burst of 6,
//! then one port unreachable per second per source address): the engine, driven by the
//! raw driver, must learn the limit and end with every port exact — open, closed,
//! filtered (admin-prohibited) and open|filtered only where the port is truly silent —
//! within 1.5x of the time the limit itself imposes; with 4 source addresses (added by
//! this test to the scanner's namespace) the target keeps 4 buckets and the scan is
//! several times faster.
//!
//! Needs root (the lab). The target keeps the kernel's ICMP limits (the lab's
//! `unlimited_icmp` is off).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use monban_engine::targets::Target;
use monban_engine::{Event, HostReport, Progress, Scan, ScanConfig, ScanType, Timing};
use monban_lab::{Lab, Probe, SCANNER_V4};
use monban_netio::{syn, DriveOptions, Handler};

/// The extra source addresses: the scanner's subnet is 10.77.0.0/24, where the router
/// reaches them directly.
const EXTRA: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 77, 0, 3),
    Ipv4Addr::new(10, 77, 0, 4),
    Ipv4Addr::new(10, 77, 0, 5),
];

/// Answering services (53, 123, 161 and 5000 on host 0), the bound-but-silent 9999, one
/// dropped and one rejected port, and 36 closed ports.
fn ports() -> Vec<u16> {
    let mut p: Vec<u16> = [53, 123, 161, 5000, 9999, 20000, 21000]
        .into_iter()
        .chain(1000..=1035)
        .collect();
    p.sort_unstable();
    p
}

/// Ports whose answer is an ICMP error from the target, so each costs a token of its
/// bucket: the closed ports and the rejected one.
const ICMP_PORTS: u32 = 37;

#[derive(Default)]
struct Collect {
    reports: Vec<HostReport>,
    last: Progress,
}

impl Handler for Collect {
    fn event(&mut self, event: Event) {
        if let Event::Host(r) = event {
            self.reports.push(*r);
        }
    }
    fn progress(&mut self, progress: &Progress) {
        self.last = *progress;
    }
}

/// Scans the lab's first host from the scanner namespace with the given sources.
fn scan(lab: &Lab, extra: Vec<IpAddr>) -> (HostReport, Duration, Progress) {
    let target = IpAddr::V4(lab.hosts()[0].v4);
    let cfg = ScanConfig {
        scan_type: ScanType::Udp,
        timing: Timing::template(4),
        ports: ports(),
        randomize_ports: true,
        seed: 4,
        source_v4: Some(SCANNER_V4),
        source_v6: None,
        sources: extra,
        source_port: 47001,
        fixed_source_port: false,
        tcp_flags: None,
        assume_up: true,
        wall_start: std::time::SystemTime::now(),
        max_group_slots: 1 << 16,
        shard: None,
        pings: None,
    };
    let (mut reports, took, progress) = monban_lab::in_namespace(lab.scanner_ns(), move || {
        let start = Instant::now();
        let targets = std::iter::once(Target {
            addr: target,
            name: None,
        });
        let mut scan = Scan::new(cfg, Box::new(targets), 1, start).expect("a valid scan");
        let mut out = Collect::default();
        syn::run(&mut scan, &DriveOptions::default(), &mut out).expect("the raw driver");
        (out.reports, start.elapsed(), out.last)
    })
    .expect("the scanner namespace");
    assert_eq!(reports.len(), 1);
    (reports.remove(0), took, progress)
}

fn check_exact(lab: &Lab, report: &HostReport) {
    let host = &lab.hosts()[0];
    let got: Vec<(u16, &str, &str)> = report
        .ports
        .iter()
        .map(|p| (p.port, p.state.as_str(), p.reason.as_str()))
        .collect();
    let want: Vec<(u16, &str, &str)> = ports()
        .into_iter()
        .map(|p| {
            let (state, reason) = host.truth_for(Probe::Udp, p);
            (p, state, reason)
        })
        .collect();
    assert_eq!(got, want);
}

fn run(what: &str, args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn udp_is_exact_under_linux_icmp_limits_and_faster_with_four_sources() {
    let lab = Lab::builder()
        .hosts(1)
        .unlimited_icmp(false)
        .build()
        .expect("the lab needs root, ip and nft (scripts/test.sh)");
    let target_ns = lab.hosts()[0].ns.clone();
    let limit = run(
        "sysctl",
        &[
            "ip",
            "netns",
            "exec",
            &target_ns,
            "sysctl",
            "-n",
            "net.ipv4.icmp_ratelimit",
        ],
    );
    assert_eq!(
        limit.trim(),
        "1000",
        "the target keeps Linux's default limit"
    );

    // One source: the limit allows 6 ICMP errors at once, then one per second.
    let (one, t1, p1) = scan(&lab, Vec::new());
    check_exact(&lab, &one);
    let ideal1 = Duration::from_secs(u64::from(ICMP_PORTS - 6));
    eprintln!(
        "1 source: {t1:?} (the limit's own time {ideal1:?}), {} probes",
        p1.probes_sent
    );
    assert!(t1 <= ideal1.mul_f64(1.5), "{t1:?} vs {ideal1:?}");
    assert!(t1 >= ideal1, "faster than the kernel allows: {t1:?}");

    // Four sources: three more addresses on the scanner's interface; the router reaches
    // them on its directly connected subnet.
    for a in EXTRA {
        let cidr = format!("{a}/24");
        run(
            "ip addr add",
            &[
                "ip",
                "netns",
                "exec",
                lab.scanner_ns(),
                "ip",
                "addr",
                "add",
                &cidr,
                "dev",
                "eth0",
            ],
        );
        let route = run(
            "ip route get",
            &[
                "ip",
                "netns",
                "exec",
                lab.router_ns(),
                "ip",
                "route",
                "get",
                &a.to_string(),
            ],
        );
        assert!(route.contains("dev s0"), "router route to {a}: {route}");
    }
    // The first source's bucket was drained by the first scan: let it refill.
    std::thread::sleep(Duration::from_secs(6));
    let extra: Vec<IpAddr> = EXTRA.iter().copied().map(IpAddr::V4).collect();
    let (four, t4, p4) = scan(&lab, extra);
    check_exact(&lab, &four);
    let ideal4 = Duration::from_secs_f64(f64::from(ICMP_PORTS - 4 * 6) / 4.0);
    eprintln!(
        "4 sources: {t4:?} (the limit's own time {ideal4:?}), {} probes",
        p4.probes_sent
    );
    assert!(
        t4.as_secs_f64() * 4.0 <= t1.as_secs_f64(),
        "4 sources {t4:?} vs 1 source {t1:?}"
    );
}
