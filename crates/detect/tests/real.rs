//! The detector on captures of the real tools (`testdata/real/`, made by `make.sh` there
//! in our lab; its README gives each file's command line and ground truth). Every scan
//! must be found with its exact kind, techniques, tool, sources and targets, within five
//! probes where the technique allows it; every benign capture must raise nothing.
//!
//! Connect scans (`-sT`) are named `unknown`: their packets are written by the prober's
//! kernel, and nothing in them says which program called `connect()`.

use monban_detect::capture::{ip_packet, CaptureReader};
use monban_detect::{Config, Detector, Event, Kind, Report, Tool};
use std::fs::File;
use std::net::IpAddr;
use std::path::PathBuf;

fn run(name: &str) -> Vec<Event> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real")
        .join(format!("{name}.pcap"));
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = CaptureReader::new(file).unwrap();
    let mut det = Detector::new(Config::default());
    let mut events = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        let ip = ip_packet(f.link, f.data).unwrap();
        det.on_packet(f.ts, ip);
        while let Some(e) = det.poll_event() {
            events.push(e);
        }
    }
    det.finish();
    while let Some(e) = det.poll_event() {
        events.push(e);
    }
    events
}

/// The campaigns that stand on their own (not merged into a larger one).
fn campaigns(events: &[Event]) -> Vec<&Report> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Summary(r) if r.merged_into.is_none() => Some(r),
            _ => None,
        })
        .collect()
}

struct Want {
    kind: Kind,
    techniques: &'static [&'static str],
    tool: Tool,
    sources: &'static [&'static str],
    targets: u64,
    ports: u64,
    /// Most probes before the alert.
    within: u64,
}

fn check(name: &str, want: Want) {
    let events = run(name);
    let c = campaigns(&events);
    assert_eq!(c.len(), 1, "{name}: {c:#?}");
    let r = c[0];
    let techniques: Vec<&str> = r.techniques.iter().map(|t| t.name()).collect();
    let sources: Vec<IpAddr> = want.sources.iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(r.kind, want.kind, "{name}");
    assert_eq!(techniques, want.techniques, "{name}");
    assert_eq!(r.tool, want.tool, "{name}");
    assert_eq!(r.sources, sources, "{name}");
    assert_eq!(r.target_count, want.targets, "{name}");
    assert_eq!(r.ports, want.ports, "{name}");
    assert!(
        r.probes_before_alert <= want.within,
        "{name}: alert after {} probes",
        r.probes_before_alert
    );
    // The alert came before the summary, with the same id.
    let alert = events.iter().find_map(|e| match e {
        Event::Alert(a) if a.id == r.id => Some(a),
        _ => None,
    });
    assert!(alert.is_some(), "{name}: no alert for #{}", r.id);
}

const PORTS: u64 = 155;
const UPORTS: u64 = 16;

fn portscan(techniques: &'static [&'static str], tool: Tool) -> Want {
    Want {
        kind: Kind::Portscan,
        techniques,
        tool,
        sources: &["10.77.0.2"],
        targets: 2,
        ports: PORTS,
        within: 5,
    }
}

#[test]
fn nmap_tcp_scans() {
    check("nmap-sS", portscan(&["syn"], Tool::Nmap));
    check("nmap-sF", portscan(&["fin"], Tool::Nmap));
    check("nmap-sN", portscan(&["null"], Tool::Nmap));
    check("nmap-sX", portscan(&["xmas"], Tool::Nmap));
    check("nmap-sA", portscan(&["ack"], Tool::Nmap));
    // The window scan sends the ACK scan's very packets.
    check("nmap-sW", portscan(&["ack"], Tool::Nmap));
    check("nmap-sM", portscan(&["maimon"], Tool::Nmap));
    // A connect scan's evidence is the target's answers, which come after nmap's next
    // connects have left.
    check(
        "nmap-sT",
        Want {
            within: 8,
            ..portscan(&["connect"], Tool::Unknown)
        },
    );
    check(
        "nmap-6-sS",
        Want {
            sources: &["fd77::2"],
            targets: 1,
            ..portscan(&["syn"], Tool::Nmap)
        },
    );
}

#[test]
fn nmap_udp_protocol_and_version_scans() {
    // UDP probes carry no habit but nmap's random TTLs; once four probes have shown them,
    // the doors knocked on before count as crafted too.
    check(
        "nmap-sU",
        Want {
            ports: UPORTS,
            ..portscan(&["udp"], Tool::Nmap)
        },
    );
    check(
        "nmap-sO",
        Want {
            targets: 1,
            ports: 11,
            ..portscan(&["ack", "udp", "icmp-echo", "ip-proto"], Tool::Nmap)
        },
    );
    // -sV: the SYN scan of 4 ports, then connections that carry the service probes.
    check(
        "nmap-sV",
        Want {
            targets: 1,
            ports: 4,
            ..portscan(&["syn", "connect"], Tool::Nmap)
        },
    );
}

#[test]
fn sweeps() {
    let sweep = |techniques, tool, targets| Want {
        kind: Kind::Sweep,
        techniques,
        tool,
        sources: &["10.77.0.2"],
        targets,
        ports: 1,
        within: 5,
    };
    check(
        "nmap-sn",
        Want {
            ports: 4,
            ..sweep(
                &["syn", "ack", "icmp-echo", "icmp-timestamp"],
                Tool::Nmap,
                8,
            )
        },
    );
    check("nmap-PE", sweep(&["icmp-echo"], Tool::Nmap, 8));
    check("zmap", sweep(&["syn"], Tool::Zmap, 256));
    check("zmap-icmp", sweep(&["icmp-echo"], Tool::Zmap, 32));
    check("zmap-udp", sweep(&["udp"], Tool::Zmap, 32));
    check("masscan-ping", sweep(&["icmp-echo"], Tool::Masscan, 32));
    check(
        "monban-sn",
        Want {
            ports: 3,
            ..sweep(&["syn", "ack", "icmp-echo"], Tool::Monban, 8)
        },
    );
}

#[test]
fn masscan_and_its_shards() {
    check("masscan", portscan(&["syn"], Tool::Masscan));
    // Two masscan instances, --shard 1/2 and 2/2, from two addresses: one campaign. The
    // alert for the pair comes once each shard has knocked on enough doors to tell shards
    // from two unrelated scans.
    check(
        "masscan-shards",
        Want {
            kind: Kind::Distributed,
            sources: &["10.77.0.2", "10.77.0.3"],
            within: 100,
            ..portscan(&["syn"], Tool::Masscan)
        },
    );
}

#[test]
fn nmap_decoys() {
    let events = run("nmap-D");
    let c = campaigns(&events);
    assert_eq!(c.len(), 1, "{c:#?}");
    let r = c[0];
    assert_eq!(r.kind, Kind::Decoy);
    let all: Vec<IpAddr> = ["10.77.0.2", "10.77.0.50", "10.77.0.51"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(r.sources, all);
    // Only the real scanner's kernel reacted to the target's SYN/ACKs.
    assert_eq!(r.responsive, vec!["10.77.0.2".parse::<IpAddr>().unwrap()]);
    assert_eq!(r.tool, Tool::Nmap);
    assert_eq!(r.ports, PORTS);
    // Each probe went out from all three: the pair's alert by the 4th probe of each.
    assert!(r.probes_before_alert <= 12, "{}", r.probes_before_alert);
}

#[test]
fn monban_scans_carry_its_mark() {
    check("monban-sS", portscan(&["syn"], Tool::Monban));
    check("monban-sF", portscan(&["fin"], Tool::Monban));
    check("monban-sA", portscan(&["ack"], Tool::Monban));
    check(
        "monban-sU",
        Want {
            ports: UPORTS,
            ..portscan(&["udp"], Tool::Monban)
        },
    );
    check(
        "monban-sT",
        Want {
            within: 8,
            ..portscan(&["connect"], Tool::Unknown)
        },
    );
}

#[test]
fn benign_captures_raise_nothing() {
    for name in [
        "benign-http",
        "benign-closed-retry",
        "benign-three-closed",
        "benign-dns",
    ] {
        let events = run(name);
        assert!(events.is_empty(), "{name}: {events:#?}");
    }
}

/// nmap -T0 and -T1 without waiting: the real -sS capture re-timed so that its probes
/// leave five minutes (T0) or fifteen seconds (T1) apart, each answer as long after its
/// probe as it came in the capture.
#[test]
fn slow_scans_from_a_retimed_capture() {
    use monban_detect::Timestamp;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/real/nmap-sS.pcap");
    let scanner: IpAddr = "10.77.0.2".parse().unwrap();
    for gap_secs in [300u64, 15] {
        let mut r = CaptureReader::new(File::open(&path).unwrap()).unwrap();
        let mut det = Detector::new(Config::default());
        let mut events = Vec::new();
        let (mut slot, mut last_probe_orig, mut base) = (0u64, None, None);
        while let Some(f) = r.next_frame().unwrap() {
            let ip = ip_packet(f.link, f.data).unwrap();
            let p = monban_detect::packet::decode(ip).unwrap();
            let t0 = *base.get_or_insert(f.ts.as_nanos());
            let ts = if p.src == scanner {
                slot += 1;
                last_probe_orig = Some(f.ts.as_nanos());
                t0 + slot * gap_secs * 1_000_000_000
            } else {
                let since = f.ts.as_nanos() - last_probe_orig.unwrap_or(f.ts.as_nanos());
                t0 + slot * gap_secs * 1_000_000_000 + since.min(1_000_000_000)
            };
            det.on_packet(Timestamp::from_nanos(ts), ip);
            while let Some(e) = det.poll_event() {
                events.push(e);
            }
        }
        det.finish();
        while let Some(e) = det.poll_event() {
            events.push(e);
        }
        let c = campaigns(&events);
        assert_eq!(c.len(), 1, "gap {gap_secs} s: {c:#?}");
        let r = c[0];
        assert_eq!(
            (r.kind, r.tool),
            (Kind::Portscan, Tool::Nmap),
            "gap {gap_secs} s"
        );
        assert_eq!(r.ports, PORTS);
        assert_eq!(r.probes_before_alert, 4, "gap {gap_secs} s");
        // The whole scan, hours long at T0, is one campaign.
        assert!(r.last_seen.since(r.first_seen).as_secs() >= 300 * gap_secs);
    }
}
