//! The detector in simulation: scans and benign clients written packet by packet, with
//! the target's answers, fed on a simulated clock. Every expectation is exact: technique,
//! kind, tool, sources, and the probe at which the alert comes.

#[path = "sim/pkt.rs"]
mod pkt;

use monban_detect::{Config, Detector, Event, Kind, Net, Report, Technique, Timestamp, Tool};
use monban_wire::mark::mark;
use pkt::*;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
/// 2026-12-06T00:00:00Z, so that times in reports read like dates.
const T0: u64 = 1_796_515_200 * SEC;

/// Packets on a simulated wire, fed to the detector in time order.
struct Wire {
    queue: BinaryHeap<Reverse<(u64, u64, Vec<u8>)>>,
    n: u64,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            queue: BinaryHeap::new(),
            n: 0,
        }
    }

    fn at(&mut self, t: u64, p: Vec<u8>) {
        self.n += 1;
        self.queue.push(Reverse((T0 + t, self.n, p)));
    }

    fn run(self, cfg: Config) -> Outcome {
        let mut det = Detector::new(cfg);
        let mut events = Vec::new();
        for Reverse((t, _, p)) in self.queue.into_sorted_vec().into_iter().rev() {
            det.on_packet(Timestamp::from_nanos(t), &p);
            while let Some(e) = det.poll_event() {
                events.push(e);
            }
        }
        det.finish();
        while let Some(e) = det.poll_event() {
            events.push(e);
        }
        Outcome { events, det }
    }
}

struct Outcome {
    events: Vec<Event>,
    det: Detector,
}

impl Outcome {
    fn alerts(&self) -> Vec<&Report> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Alert(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Summaries of campaigns that stand on their own (not merged into a larger one).
    fn summaries(&self) -> Vec<&Report> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Summary(r) if r.merged_into.is_none() => Some(r),
                _ => None,
            })
            .collect()
    }

    /// The only campaign: its alert and summary.
    fn one(&self) -> (&Report, &Report) {
        let a = self.alerts();
        let s = self.summaries();
        assert_eq!(a.len(), 1, "alerts: {a:#?}");
        assert_eq!(s.len(), 1, "summaries: {s:#?}");
        assert_eq!(a[0].id, s[0].id);
        (a[0], s[0])
    }

    fn quiet(&self) {
        assert!(
            self.events.is_empty(),
            "expected no alert: {:#?}",
            self.events
        );
    }
}

/// How a prober writes its probes.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Nmap,
    Masscan,
    Zmap,
    Monban,
    /// The kernel, through connect(): Linux's options, DF.
    Kernel,
}

fn lcg(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

/// A probe's IP and TCP fields as `shape` writes them.
fn shaped(shape: Shape, dst: &str, dport: u16, flags: u8, seed: u64) -> (Ip, Tcp<'static>) {
    let seq = (lcg(seed ^ u64::from(dport)) >> 16) as u32;
    let mut t = Tcp {
        sport: 51_000,
        dport,
        seq,
        flags,
        ..Tcp::default()
    };
    let mut h = Ip {
        id: (lcg(seed + u64::from(dport)) >> 40) as u16,
        ..Ip::default()
    };
    match shape {
        Shape::Nmap => {
            h.ttl = 44;
            t.window = 1024;
            t.opts = if flags & SYN != 0 {
                &NMAP_SYN_OPTS
            } else {
                &[]
            };
        }
        Shape::Masscan => {
            h.ttl = 255;
            let d = match addr(dst) {
                IpAddr::V4(a) => u32::from(a),
                _ => 0,
            };
            h.id = (d as u16) ^ dport ^ (seq as u16);
            t.window = 1024;
            t.sport = 61_000;
        }
        Shape::Zmap => {
            h.ttl = 255;
            h.id = 54321;
            t.window = 65535;
            t.opts = &NMAP_SYN_OPTS;
        }
        Shape::Monban => {
            h.id = mark(seq);
            t.window = mark(seq);
            t.opts = if flags & SYN != 0 {
                &NMAP_SYN_OPTS
            } else {
                &[]
            };
        }
        Shape::Kernel => {
            h.df = true;
            t.window = 64240;
            t.opts = if flags & SYN != 0 {
                &LINUX_SYN_OPTS
            } else {
                &[]
            };
            t.sport = 40_000 + (seed as u16 % 1000) + dport % 7000;
        }
    }
    (h, t)
}

/// A target's ports: open ones answer SYN/ACK, dropped ones nothing, the rest RST.
struct Host {
    addr: &'static str,
    open: Vec<u16>,
    dropped: Vec<u16>,
}

impl Host {
    fn new(addr: &'static str, open: &[u16]) -> Host {
        Host {
            addr,
            open: open.to_vec(),
            dropped: Vec::new(),
        }
    }
}

const RTT: u64 = MS / 2;

/// A TCP scan of `ports` on `host` from `src`, one probe every `gap` ns from `start`,
/// with the host's answers and the prober's reactions (a raw scanner's kernel resets a
/// SYN/ACK; a connect scan completes the handshake and resets at once).
#[allow(clippy::too_many_arguments)]
fn tcp_scan(
    w: &mut Wire,
    src: &'static str,
    host: &Host,
    ports: &[u16],
    flags: u8,
    shape: Shape,
    start: u64,
    gap: u64,
) {
    for (i, &port) in ports.iter().enumerate() {
        let t = start + i as u64 * gap;
        let (h, p) = shaped(shape, host.addr, port, flags, 7);
        w.at(t, tcp(src, host.addr, h, p));
        if host.dropped.contains(&port) {
            continue;
        }
        let reply = |fl: u8, ack: u32| Tcp {
            sport: port,
            dport: p.sport,
            seq: 777,
            ack,
            flags: fl,
            window: 0,
            ..Tcp::default()
        };
        let open = host.open.contains(&port);
        if flags & SYN != 0 {
            if open {
                w.at(
                    t + RTT,
                    tcp(host.addr, src, Ip::default(), reply(SYN | ACK, p.seq + 1)),
                );
                let back = |fl: u8| Tcp {
                    seq: p.seq + 1,
                    ack: 778,
                    flags: fl,
                    ..p
                };
                if shape == Shape::Kernel {
                    w.at(t + 2 * RTT, tcp(src, host.addr, h, back(ACK)));
                    w.at(t + 2 * RTT + 1000, tcp(src, host.addr, h, back(RST | ACK)));
                } else {
                    w.at(t + 2 * RTT, tcp(src, host.addr, h, back(RST)));
                }
            } else {
                w.at(
                    t + RTT,
                    tcp(host.addr, src, Ip::default(), reply(RST | ACK, p.seq + 1)),
                );
            }
        } else if flags & ACK != 0 || !open {
            // ACK probes are reset by open and closed ports; FIN/NULL/Xmas by closed ones.
            w.at(t + RTT, tcp(host.addr, src, Ip::default(), reply(RST, 0)));
        }
    }
}

fn cfg() -> Config {
    Config::default()
}

fn ports(r: std::ops::Range<u16>) -> Vec<u16> {
    r.collect()
}

fn tech(r: &Report) -> Vec<&'static str> {
    r.techniques.iter().map(|t| t.name()).collect()
}

fn addrs(v: &[&str]) -> Vec<IpAddr> {
    v.iter().map(|a| addr(a)).collect()
}

#[test]
fn nmap_syn_scan_is_named_at_its_fourth_probe() {
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22, 80, 443]);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(1..1001),
        SYN,
        Shape::Nmap,
        0,
        MS / 10,
    );
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(a.kind, Kind::Portscan);
    assert_eq!(tech(a), ["syn"]);
    assert_eq!(a.tool, Tool::Nmap);
    assert_eq!(a.sources, addrs(&["10.0.0.2"]));
    assert_eq!(a.targets, addrs(&["10.0.0.9"]));
    assert_eq!(a.probes_before_alert, 4);
    assert_eq!((s.ports, s.probes), (1000, 1000));
    assert_eq!(s.first_seen, Timestamp::from_nanos(T0));
    assert_eq!(s.last_seen, Timestamp::from_nanos(T0 + 999 * MS / 10));
    // The prober's kernel reset the SYN/ACKs of the three open ports.
    assert_eq!(s.responsive, addrs(&["10.0.0.2"]));
}

#[test]
fn every_tools_syn_scan_is_named() {
    for (shape, tool, src) in [
        (Shape::Masscan, Tool::Masscan, "10.0.0.3"),
        (Shape::Zmap, Tool::Zmap, "10.0.0.4"),
        (Shape::Monban, Tool::Monban, "10.0.0.5"),
        (Shape::Kernel, Tool::Unknown, "10.0.0.6"),
    ] {
        let mut w = Wire::new();
        let host = Host::new("10.0.0.9", &[22, 80]);
        tcp_scan(&mut w, src, &host, &ports(1..200), SYN, shape, 0, MS);
        let o = w.run(cfg());
        let (a, s) = o.one();
        assert_eq!(a.tool, tool, "{src}");
        let want = if shape == Shape::Kernel {
            vec!["connect"]
        } else {
            vec!["syn"]
        };
        assert_eq!(tech(s), want, "{src}");
        assert_eq!(a.probes_before_alert, 4, "{src}");
        assert_eq!(s.ports, 199);
    }
}

#[test]
fn stealth_flag_scans_are_named() {
    for (flags, name, shape) in [
        (FIN, "fin", Shape::Nmap),
        (0, "null", Shape::Nmap),
        (FIN | PSH | URG, "xmas", Shape::Nmap),
        (ACK, "ack", Shape::Nmap),
        (FIN | ACK, "maimon", Shape::Nmap),
        (SYN | FIN, "custom", Shape::Nmap),
        (FIN, "fin", Shape::Monban),
        (ACK, "ack", Shape::Monban),
    ] {
        let mut w = Wire::new();
        let host = Host::new("10.0.0.9", &[22, 80]);
        tcp_scan(
            &mut w,
            "10.0.0.2",
            &host,
            &ports(1..100),
            flags,
            shape,
            0,
            MS,
        );
        let o = w.run(cfg());
        let (a, s) = o.one();
        assert_eq!(tech(s), [name]);
        let tool = if shape == Shape::Nmap {
            Tool::Nmap
        } else {
            Tool::Monban
        };
        assert_eq!(a.tool, tool, "{name}");
        assert_eq!(a.probes_before_alert, 4, "{name}");
    }
}

#[test]
fn a_kernel_ack_scan_is_caught_by_its_resets() {
    // ACK probes shaped like a kernel's (no tool habit): every one is answered by a RST,
    // which no live connection would get.
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22]);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(1000..1050),
        ACK,
        Shape::Kernel,
        0,
        MS,
    );
    let o = w.run(cfg());
    let (a, _) = o.one();
    assert_eq!(tech(a), ["ack"]);
    assert_eq!(a.tool, Tool::Unknown);
    assert_eq!(a.probes_before_alert, 4);
}

#[test]
fn connect_scan_through_a_dropping_firewall_is_caught_by_silence() {
    let mut w = Wire::new();
    let mut host = Host::new("10.0.0.9", &[]);
    host.dropped = ports(1..100);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(1..100),
        SYN,
        Shape::Kernel,
        0,
        100 * MS,
    );
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(tech(s), ["connect"]);
    assert_eq!(a.reason, "4 of 4 first contacts failed: 4 unanswered");
    // Silence takes the reply timeout (3 s) to count: the alert comes then.
    assert!(a.alert_time >= Timestamp::from_nanos(T0 + 3 * SEC + 300 * MS));
    assert!(a.alert_time <= Timestamp::from_nanos(T0 + 5 * SEC));
}

#[test]
fn udp_scan_closed_ports_answer_port_unreachable() {
    let mut w = Wire::new();
    for (i, port) in (100..300u16).enumerate() {
        let t = i as u64 * MS;
        let h = Ip {
            ttl: 52,
            id: 9000 + port,
            df: false,
        };
        let probe = udp("10.0.0.2", 45_000, "10.0.0.9", port, h, 0);
        if port == 161 {
            w.at(
                t + RTT,
                udp("10.0.0.9", 161, "10.0.0.2", 45_000, Ip::default(), 40),
            );
        } else {
            w.at(t + RTT, unreachable("10.0.0.9", "10.0.0.2", 3, &probe));
        }
        w.at(t, probe);
    }
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(tech(a), ["udp"]);
    assert_eq!(a.tool, Tool::Unknown);
    assert_eq!(a.probes_before_alert, 4);
    assert_eq!(s.ports, 200);
}

#[test]
fn ping_sweeps_are_sweeps() {
    // nmap -sn as root: echo request without data, no DF, to 64 hosts, all of them up.
    let mut w = Wire::new();
    for i in 0..64u16 {
        let dst = format!("10.0.1.{}", i + 1);
        let dst: &'static str = Box::leak(dst.into_boxed_str());
        let t = u64::from(i) * MS;
        let h = Ip {
            ttl: 40,
            id: 1000 + i,
            df: false,
        };
        w.at(t, echo("10.0.0.2", dst, h, 0x1234, i, 0));
        w.at(t, timestamp("10.0.0.2", dst, h, 0x1234, i));
        w.at(t + RTT, echo_reply(dst, "10.0.0.2", 0x1234, i));
    }
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(s.kind, Kind::Sweep);
    assert_eq!(tech(s), ["icmp-echo", "icmp-timestamp"]);
    assert_eq!(a.tool, Tool::Nmap);
    assert_eq!(s.target_count, 64);
    assert_eq!(a.probes_before_alert, 4);
}

#[test]
fn zmap_sweep_of_one_port() {
    let mut w = Wire::new();
    for i in 0..300u32 {
        let dst = format!("10.1.{}.{}", i / 250, i % 250 + 1);
        let dst: &'static str = Box::leak(dst.into_boxed_str());
        let (h, p) = shaped(Shape::Zmap, dst, 80, SYN, u64::from(i));
        w.at(u64::from(i) * MS, tcp("10.0.0.2", dst, h, p));
    }
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(s.kind, Kind::Sweep);
    assert_eq!(a.tool, Tool::Zmap);
    assert_eq!(s.target_count, 300);
    assert_eq!(s.ports, 1);
    // More than MAX_LISTED_TARGETS: the JSON gives the number.
    assert_eq!(s.to_json(true)["targets"], 300);
}

#[test]
fn slow_scan_one_probe_every_five_minutes() {
    // nmap -T0: one probe every 5 minutes for two hours.
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22]);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(20..44),
        SYN,
        Shape::Nmap,
        0,
        300 * SEC,
    );
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(a.probes_before_alert, 4);
    assert_eq!(a.alert_time, Timestamp::from_nanos(T0 + 3 * 300 * SEC));
    assert_eq!(s.probes, 24);
    assert_eq!(s.last_seen, Timestamp::from_nanos(T0 + 23 * 300 * SEC));
}

#[test]
fn campaign_ends_after_idle_timeout_with_a_summary() {
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[]);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(1..10),
        SYN,
        Shape::Nmap,
        0,
        MS,
    );
    // Other traffic an hour later moves the clock past the idle timeout.
    w.at(
        3600 * SEC,
        udp("10.0.0.7", 5353, "10.0.0.9", 53, Ip::default(), 30),
    );
    let o = w.run(cfg());
    let (_, s) = o.one();
    // The summary came before the late packet, not at the end of input.
    let pos = o
        .events
        .iter()
        .position(|e| matches!(e, Event::Summary(_)))
        .unwrap();
    assert_eq!(pos, 1);
    assert_eq!(s.probes, 9);
}

#[test]
fn decoys_are_one_campaign_and_the_real_scanner_is_named() {
    // nmap -D 10.9.0.50,10.9.0.51,ME: every probe from each decoy and from the scanner.
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22, 80]);
    for (k, src) in ["10.9.0.50", "10.9.0.51", "10.0.0.2"]
        .into_iter()
        .enumerate()
    {
        let mut w2 = Wire::new();
        tcp_scan(
            &mut w2,
            src,
            &host,
            &ports(1..150),
            SYN,
            Shape::Nmap,
            k as u64 * 1000,
            MS,
        );
        for Reverse((t, _, p)) in w2.queue.into_vec() {
            let decoy = src != "10.0.0.2";
            // A decoy's kernel does not exist: no RST after a SYN/ACK.
            let from_decoy_to_host = decoy && p[12..16] == addr(src).to_string_octets();
            if from_decoy_to_host && p[33] & RST != 0 {
                continue;
            }
            w.at(t - T0, p);
        }
    }
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(a.kind, Kind::Decoy);
    assert_eq!(s.sources, addrs(&["10.0.0.2", "10.9.0.50", "10.9.0.51"]));
    assert_eq!(s.responsive, addrs(&["10.0.0.2"]));
    assert_eq!(tech(s), ["syn"]);
    assert_eq!(s.tool, Tool::Nmap);
    assert_eq!(s.ports, 149);
}

trait Octets {
    fn to_string_octets(&self) -> [u8; 4];
}

impl Octets for IpAddr {
    fn to_string_octets(&self) -> [u8; 4] {
        match self {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(_) => [0; 4],
        }
    }
}

#[test]
fn shards_are_one_distributed_campaign() {
    // masscan --shards 1/2 and 2/2 from two addresses: odd and even ports.
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22, 80, 443]);
    let odd: Vec<u16> = (1..400).filter(|p| p % 2 == 1).collect();
    let even: Vec<u16> = (1..400).filter(|p| p % 2 == 0).collect();
    tcp_scan(&mut w, "10.0.0.3", &host, &odd, SYN, Shape::Masscan, 0, MS);
    tcp_scan(&mut w, "10.0.0.4", &host, &even, SYN, Shape::Masscan, 0, MS);
    let o = w.run(cfg());
    let s = o.summaries();
    assert_eq!(s.len(), 1, "{s:#?}");
    let s = s[0];
    assert_eq!(s.kind, Kind::Distributed);
    assert_eq!(s.sources, addrs(&["10.0.0.3", "10.0.0.4"]));
    assert_eq!(s.tool, Tool::Masscan);
    assert_eq!(s.ports, 399);
    assert_eq!(s.probes, 399);
}

#[test]
fn ipv6_scans_are_caught() {
    let mut w = Wire::new();
    let host = Host::new("fd00::9", &[22]);
    tcp_scan(
        &mut w,
        "fd00::2",
        &host,
        &ports(1..100),
        SYN,
        Shape::Monban,
        0,
        MS,
    );
    for i in 0..10u16 {
        let probe = udp("fd00::3", 40_000, "fd00::9", 600 + i, Ip::default(), 0);
        w.at(200 * MS + u64::from(i) * MS, probe.clone());
        w.at(
            200 * MS + u64::from(i) * MS + RTT,
            unreachable("fd00::9", "fd00::3", 4, &probe),
        );
    }
    let o = w.run(cfg());
    let s = o.summaries();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].sources, addrs(&["fd00::2"]));
    assert_eq!(s[0].tool, Tool::Monban);
    assert_eq!(tech(s[0]), ["syn"]);
    assert_eq!(s[1].sources, addrs(&["fd00::3"]));
    assert_eq!(tech(s[1]), ["udp"]);
    assert_eq!(s[1].probes_before_alert, 4);
}

#[test]
fn ip_protocol_scan() {
    let mut w = Wire::new();
    for (i, proto) in [0u8, 2, 3, 4, 5, 7, 8, 9, 41, 47, 50, 51]
        .into_iter()
        .enumerate()
    {
        let t = i as u64 * MS;
        let probe = other_proto("10.0.0.2", "10.0.0.9", proto, Ip::default());
        w.at(t, probe.clone());
        if proto != 47 {
            w.at(t + RTT, unreachable("10.0.0.9", "10.0.0.2", 2, &probe));
        }
    }
    let o = w.run(cfg());
    let (a, s) = o.one();
    assert_eq!(tech(a), ["ip-proto"]);
    assert_eq!(a.probes_before_alert, 4);
    assert_eq!(s.ports, 12);
}

/// A client that connects and talks: handshake, data, close.
fn http_session(w: &mut Wire, client: &'static str, server: &'static str, port: u16, t: u64) {
    let sport = 30_000 + (t / MS % 30_000) as u16;
    let h = Ip {
        df: true,
        ..Ip::default()
    };
    let c = Tcp {
        sport,
        dport: port,
        seq: 1,
        flags: SYN,
        window: 64240,
        opts: &LINUX_SYN_OPTS,
        ..Tcp::default()
    };
    let s = Tcp {
        sport: port,
        dport: sport,
        seq: 9,
        ack: 2,
        flags: SYN | ACK,
        window: 65160,
        ..Tcp::default()
    };
    w.at(t, tcp(client, server, h, c));
    w.at(t + RTT, tcp(server, client, h, s));
    let plain = Tcp { opts: &[], ..c };
    w.at(
        t + 2 * RTT,
        tcp(
            client,
            server,
            h,
            Tcp {
                flags: ACK,
                ..plain
            },
        ),
    );
    w.at(
        t + 2 * RTT + 10,
        tcp(
            client,
            server,
            h,
            Tcp {
                flags: ACK | PSH,
                payload: 300,
                ..plain
            },
        ),
    );
    w.at(
        t + 3 * RTT,
        tcp(
            server,
            client,
            h,
            Tcp {
                flags: ACK | PSH,
                payload: 1200,
                ..s
            },
        ),
    );
    w.at(
        t + 4 * RTT,
        tcp(
            client,
            server,
            h,
            Tcp {
                flags: FIN | ACK,
                ..plain
            },
        ),
    );
}

/// A client's kernel trying one port that is closed.
fn closed_try(w: &mut Wire, client: &'static str, server: &'static str, port: u16, t: u64) {
    let h = Ip {
        df: true,
        ..Ip::default()
    };
    let c = Tcp {
        sport: 33_000 + (t / MS % 20_000) as u16,
        dport: port,
        seq: 5,
        flags: SYN,
        window: 64240,
        opts: &LINUX_SYN_OPTS,
        ..Tcp::default()
    };
    w.at(t, tcp(client, server, h, c));
    w.at(
        t + RTT,
        tcp(
            server,
            client,
            h,
            Tcp {
                sport: port,
                dport: c.sport,
                seq: 0,
                ack: 6,
                flags: RST | ACK,
                window: 0,
                opts: &[],
                payload: 0,
            },
        ),
    );
}

#[test]
fn benign_traffic_raises_nothing() {
    let mut w = Wire::new();
    // Web clients of two servers, many sessions each.
    for i in 0..200u64 {
        http_session(&mut w, "10.0.5.1", "10.0.0.9", 443, i * 50 * MS);
        http_session(&mut w, "10.0.5.2", "10.0.0.10", 80, i * 70 * MS + 3 * MS);
    }
    // A client retrying one closed port five times.
    for i in 0..5 {
        closed_try(&mut w, "10.0.5.3", "10.0.0.9", 8080, i * SEC);
    }
    // A client that touches three closed ports once each.
    for (i, port) in [8080u16, 8443, 3000].into_iter().enumerate() {
        closed_try(&mut w, "10.0.5.4", "10.0.0.9", port, i as u64 * 2 * SEC);
    }
    // DNS clients: queries from random source ports, every one answered.
    for i in 0..500u16 {
        let t = u64::from(i) * 7 * MS;
        let client = if i % 2 == 0 { "10.0.5.5" } else { "10.0.5.6" };
        w.at(
            t,
            udp(client, 20_000 + i, "10.0.0.53", 53, Ip::default(), 30),
        );
        w.at(
            t + RTT,
            udp("10.0.0.53", 53, client, 20_000 + i, Ip::default(), 90),
        );
    }
    // A busy NAT address: 40 users' sessions to 60 servers on 443 and 80, one connection
    // in twenty to a server that is down (reset).
    for i in 0..1200u64 {
        let server: &'static str =
            Box::leak(format!("10.2.{}.{}", i % 3, i % 60 + 1).into_boxed_str());
        let port = if i % 2 == 0 { 443 } else { 80 };
        if i % 20 == 7 {
            closed_try(&mut w, "10.0.5.7", server, port, i * 13 * MS);
        } else {
            http_session(&mut w, "10.0.5.7", server, port, i * 13 * MS);
        }
    }
    // Pings from a monitoring host to 3 servers every 10 s, all answered.
    for i in 0..30u16 {
        for s in ["10.0.0.9", "10.0.0.10", "10.0.0.53"] {
            let h = Ip {
                df: true,
                ..Ip::default()
            };
            w.at(u64::from(i) * 10 * SEC, echo("10.0.5.8", s, h, 77, i, 56));
            w.at(
                u64::from(i) * 10 * SEC + RTT,
                echo_reply(s, "10.0.5.8", 77, i),
            );
        }
    }
    let o = w.run(cfg());
    o.quiet();
    assert_eq!(o.det.stats().probes, 2198);
}

#[test]
fn allowed_sources_are_counted_not_judged() {
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22]);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(1..50),
        SYN,
        Shape::Nmap,
        0,
        MS,
    );
    let mut c = cfg();
    c.allow = Net::parse_list("10.0.0.0/30").unwrap();
    let o = w.run(c);
    o.quiet();
    assert_eq!(o.det.stats().allowed_probes, 49);
}

#[test]
fn home_limits_what_counts_as_a_probe() {
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22]);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(1..50),
        SYN,
        Shape::Nmap,
        0,
        MS,
    );
    let mut c = cfg();
    c.home = Net::parse_list("192.168.0.0/16").unwrap();
    w.run(c).quiet();
}

#[test]
fn a_scan_inside_a_flood_of_spoofed_sources_is_still_found() {
    // A million SYNs from a million spoofed sources (one each), and in the middle of it an
    // nmap SYN scan at one probe per 200 flood packets; the state stays within its cap.
    let mut det = Detector::new(Config {
        max_sources: 50_000,
        ..Config::default()
    });
    let host = "10.0.0.9";
    let mut x = 1u64;
    let mut events = Vec::new();
    let mut scan_port = 1u16;
    let mut peak = 0;
    for i in 0..1_000_000u64 {
        let t = Timestamp::from_nanos(T0 + i * 1000);
        x = lcg(x);
        let a = (x >> 32) as u32;
        let src = std::net::Ipv4Addr::from(a | 0x0100_0000).to_string();
        let h = Ip {
            id: (x >> 16) as u16,
            df: true,
            ttl: 60,
        };
        let t_ = Tcp {
            sport: (x >> 8) as u16,
            dport: 80,
            flags: SYN,
            window: 5840,
            opts: &LINUX_SYN_OPTS,
            ..Tcp::default()
        };
        det.on_packet(t, &tcp(&src, host, h, t_));
        if i % 200 == 100 && scan_port < 1000 {
            let (h, p) = shaped(Shape::Nmap, host, scan_port, SYN, 3);
            det.on_packet(t, &tcp("10.0.0.2", host, h, p));
            scan_port += 1;
        }
        if i % 10_000 == 0 {
            peak = peak.max(det.stats().sources);
        }
        while let Some(e) = det.poll_event() {
            events.push(e);
        }
    }
    det.finish();
    while let Some(e) = det.poll_event() {
        events.push(e);
    }
    assert!(peak <= 50_000, "{peak}");
    let alerts: Vec<&Report> = events
        .iter()
        .filter_map(|e| match e {
            Event::Alert(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].sources, addrs(&["10.0.0.2"]));
    assert_eq!(alerts[0].tool, Tool::Nmap);
    assert_eq!(alerts[0].probes_before_alert, 4);
    assert!(det.stats().evicted > 900_000);
}

#[test]
fn json_contract() {
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[]);
    tcp_scan(
        &mut w,
        "10.0.0.2",
        &host,
        &ports(1..6),
        SYN,
        Shape::Nmap,
        0,
        MS,
    );
    let o = w.run(cfg());
    let (a, s) = o.one();
    let a = a.to_json(false);
    let s = s.to_json(true);
    assert_eq!(a["event"], "alert");
    assert_eq!(s["event"], "summary");
    for k in [
        "id",
        "kind",
        "sources",
        "targets",
        "techniques",
        "tool",
        "ports",
        "probes",
        "probes_before_alert",
        "first_seen",
        "alert_time",
        "reason",
    ] {
        assert!(a.get(k).is_some(), "alert lacks {k}: {a}");
        assert!(s.get(k).is_some(), "summary lacks {k}: {s}");
    }
    assert!(a.get("last_seen").is_none());
    assert_eq!(s["last_seen"], "2026-12-06T00:00:00.004000Z");
    assert_eq!(a["first_seen"], "2026-12-06T00:00:00.000000Z");
    assert_eq!(a["alert_time"], "2026-12-06T00:00:00.003000Z");
    assert_eq!(a["sources"], serde_json::json!(["10.0.0.2"]));
    assert_eq!(a["targets"], serde_json::json!(["10.0.0.9"]));
    assert_eq!(a["techniques"], serde_json::json!(["syn"]));
    assert_eq!(
        a["reason"],
        "4 of 4 first contacts failed: 4 crafted probes"
    );
    assert_eq!(s["probes"], 5);
    let _ = Technique::ALL;
}

#[test]
fn scans_one_after_the_other_stay_apart() {
    // Three sources scan the same ports of the same host one after the other (each within
    // a second of the last), and a fourth scans them with another technique at the same
    // time as the third: four campaigns, no decoys, no shards.
    let mut w = Wire::new();
    let host = Host::new("10.0.0.9", &[22, 80]);
    let p = ports(1..200);
    tcp_scan(&mut w, "10.0.0.2", &host, &p, SYN, Shape::Nmap, 0, MS);
    tcp_scan(
        &mut w,
        "10.0.0.3",
        &host,
        &p,
        SYN,
        Shape::Nmap,
        400 * MS,
        MS,
    );
    tcp_scan(
        &mut w,
        "10.0.0.4",
        &host,
        &p,
        SYN,
        Shape::Nmap,
        800 * MS,
        MS,
    );
    tcp_scan(
        &mut w,
        "10.0.0.5",
        &host,
        &p,
        FIN,
        Shape::Nmap,
        800 * MS,
        MS,
    );
    let o = w.run(cfg());
    let s = o.summaries();
    let kinds: Vec<(Vec<IpAddr>, Kind)> = s.iter().map(|r| (r.sources.clone(), r.kind)).collect();
    assert_eq!(
        kinds,
        [
            (addrs(&["10.0.0.2"]), Kind::Portscan),
            (addrs(&["10.0.0.3"]), Kind::Portscan),
            (addrs(&["10.0.0.4"]), Kind::Portscan),
            (addrs(&["10.0.0.5"]), Kind::Portscan),
        ]
    );
}

/// Firewall log records as the detector's input: blocked probes are failed first contacts.
mod logs {
    use super::*;
    use monban_detect::log::{
        syn_or_connect_unknown, to_packet, Action, Direction, LogAddr, LogFormat, LogProto,
        LogRecord,
    };

    fn record(src: &str, dport: u16, action: Action, opts: Option<Vec<u8>>) -> LogRecord {
        LogRecord {
            format: LogFormat::Kernel,
            time: None,
            uptime: None,
            direction: Direction::Inbound,
            action,
            protocol: LogProto::Tcp,
            src: Some(LogAddr::Ip(addr(src))),
            dst: Some(LogAddr::Ip(addr("10.0.0.9"))),
            src_port: Some(40_000),
            dst_port: Some(dport),
            service: None,
            tcp_flags: Some(SYN),
            window: Some(1024),
            df: opts.as_ref().map(|_| false),
            tcp_options: opts,
            icmp: None,
            ttl: Some(44 + (dport % 15) as u8),
            ip_id: Some(dport.wrapping_mul(7919)),
            length: Some(44),
            interfaces: (Some("eth0".into()), None),
            prefix: Some("DROP: ".into()),
        }
    }

    fn feed(records: &[(u64, LogRecord)]) -> Vec<Event> {
        let mut det = Detector::new(Config::default());
        let mut events = Vec::new();
        for (t, r) in records {
            let p = to_packet(r).expect("a tracked source");
            det.on_logged(
                Timestamp::from_nanos(T0 + t),
                &p,
                r.action == Action::Allowed,
                syn_or_connect_unknown(r),
            );
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

    #[test]
    fn a_scan_in_a_firewall_log_is_named() {
        // nmap's SYNs as iptables logs them with --log-tcp-options: MSS 1460 only, no DF.
        let recs: Vec<(u64, LogRecord)> = (1..=30u16)
            .map(|p| {
                (
                    u64::from(p) * MS,
                    record("10.0.0.2", p, Action::Blocked, Some(NMAP_SYN_OPTS.to_vec())),
                )
            })
            .collect();
        let ev = feed(&recs);
        let a: Vec<&Report> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Alert(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(a.len(), 1, "{ev:#?}");
        assert_eq!(a[0].tool, Tool::Nmap);
        assert_eq!(tech(a[0]), ["syn"]);
        assert_eq!(a[0].probes_before_alert, 4);
        assert_eq!(
            a[0].reason,
            "4 of 4 first contacts failed: 4 crafted probes"
        );
    }

    #[test]
    fn a_log_without_options_says_syn_and_notes_it() {
        // pfirewall-like: no options, no DF: the SYN's author is unknown.
        let mut recs = Vec::new();
        for p in [21u16, 22, 23, 25, 80, 110] {
            let mut r = record("10.0.0.3", p, Action::Blocked, None);
            r.window = None;
            r.ttl = Some(120);
            recs.push((u64::from(p) * MS, r));
        }
        let ev = feed(&recs);
        let s: Vec<&Report> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Summary(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(s.len(), 1, "{ev:#?}");
        assert_eq!(tech(s[0]), ["syn"]);
        assert_eq!(s[0].tool, Tool::Unknown);
        assert_eq!(
            s[0].reason,
            "6 of 6 first contacts failed: 6 blocked by the firewall; \
             the log cannot tell a SYN scan from a connect scan"
        );
    }

    #[test]
    fn allowed_connections_and_three_blocked_ports_raise_nothing() {
        let mut recs = Vec::new();
        for i in 0..50u64 {
            recs.push((i * SEC, record("10.0.0.4", 443, Action::Allowed, None)));
        }
        for (i, p) in [8080u16, 8443, 3000].into_iter().enumerate() {
            recs.push((i as u64 * SEC, record("10.0.0.5", p, Action::Blocked, None)));
        }
        // A masked source is explained, not tracked.
        let mut masked = record("10.0.0.6", 80, Action::Blocked, None);
        masked.src = Some(LogAddr::Masked("210.3.xxx.xxx".into()));
        assert!(to_packet(&masked).is_none());
        assert!(feed(&recs).is_empty());
    }
}
