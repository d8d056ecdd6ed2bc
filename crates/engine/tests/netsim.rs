//! Floor 2: the engine in a simulated network.
//!
//! A seeded virtual network of hosts whose every port has a known behaviour (listen,
//! refuse, drop, reject with ICMP), with loss in both directions, duplication,
//! reordering, RTT jitter and rate limits on RSTs and ICMP errors at the targets.
//! Time is virtual, so a scan of thousands of ports runs in milliseconds, and every run
//! with the same seed is the same run. Each scan must end with exactly the true states.

use monban_engine::targets::Target;
use monban_engine::{
    ConnectOutcome, Event, HostReport, PingProbe, PortState, Reason, Scan, ScanConfig, ScanType,
    Timing,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Listen,
    Refuse,
    Drop,
    /// ICMP destination unreachable with this (v4) code; 13 = admin prohibited.
    Reject(u8),
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
}

/// Token bucket in virtual time.
struct Bucket {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}
impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        if self.per_sec <= 0.0 {
            return true;
        }
        if let Some(l) = self.last {
            self.tokens =
                (self.tokens + now.duration_since(l).as_secs_f64() * self.per_sec).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct SimHost {
    /// Half-open connections (peer, peer port, our port) -> the peer's ISN, as a Linux
    /// listener keeps them until the peer's kernel answers our SYN/ACK with RST.
    /// The value is (ISN, when the last SYN/ACK was sent).
    half_open: HashMap<(IpAddr, u16, u16), (u32, Instant)>,
    ports: HashMap<u16, Behaviour>,
    default: Behaviour,
    rst_limit: Bucket,
    /// ICMP errors per source address, as Linux keeps them per peer.
    icmp_limits: HashMap<IpAddr, Bucket>,
    icmp_per_sec: f64,
    icmp_burst: f64,
    /// Answers ICMP echo requests.
    echo: bool,
    /// Answers ICMP timestamp requests (IPv4).
    timestamp: bool,
}

impl SimHost {
    /// Whether the ICMP bucket for `peer` has a token at `now` (and takes it).
    fn icmp_allowed(&mut self, peer: IpAddr, now: Instant) -> bool {
        let (per_sec, burst) = (self.icmp_per_sec, self.icmp_burst);
        self.icmp_limits
            .entry(peer)
            .or_insert(Bucket {
                per_sec,
                burst,
                tokens: burst,
                last: None,
            })
            .take(now)
    }
}

#[derive(Clone)]
struct Net {
    loss: f64,
    dup: f64,
    rtt: Duration,
    jitter: Duration,
    rst_per_sec: f64,
    icmp_per_sec: f64,
}

impl Default for Net {
    fn default() -> Net {
        Net {
            loss: 0.0,
            dup: 0.0,
            rtt: Duration::from_millis(2),
            jitter: Duration::ZERO,
            rst_per_sec: 0.0,
            icmp_per_sec: 0.0,
        }
    }
}

struct Outcome {
    /// When each probe left, from the start of the scan.
    send_times: Vec<Duration>,
    reports: Vec<HostReport>,
    open_events: usize,
    sent: u64,
    elapsed: Duration,
}

const SCANNER4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SCANNER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fn csum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP(v6) destination-unreachable from `from` to `to`, quoting `probe`.
fn icmp_unreach(from: IpAddr, to: IpAddr, probe: &[u8], code4: u8) -> Vec<u8> {
    match (from, to) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let quote = &probe[..28.min(probe.len())];
            let mut icmp = vec![3, code4, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(quote);
            let c = csum(&icmp);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            let total = 20 + icmp.len();
            let mut ip = vec![
                0x45,
                0,
                (total >> 8) as u8,
                total as u8,
                0,
                0,
                0,
                0,
                64,
                1,
                0,
                0,
            ];
            ip.extend_from_slice(&src.octets());
            ip.extend_from_slice(&dst.octets());
            let c = csum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            ip.extend_from_slice(&icmp);
            ip
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let code6 = match code4 {
                13 => 1,
                1 => 3,
                0 => 0,
                _ => 4,
            };
            let mut icmp = vec![1, code6, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(probe);
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&src.octets());
            pseudo.extend_from_slice(&dst.octets());
            pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 58]);
            pseudo.extend_from_slice(&icmp);
            let c = csum(&pseudo);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
            ip.extend_from_slice(&[58, 64]);
            ip.extend_from_slice(&src.octets());
            ip.extend_from_slice(&dst.octets());
            ip.extend_from_slice(&icmp);
            ip
        }
        _ => Vec::new(),
    }
}

/// A timestamp reply to the request `probe` (IPv4, no options).
fn timestamp_reply(probe: &[u8]) -> Option<Vec<u8>> {
    let p = monban_wire::parse(probe).ok()?;
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (p.dst, p.src) else {
        return None;
    };
    if probe.len() < 40 || probe[20] != 13 {
        return None;
    }
    let mut buf = [0u8; 64];
    let n = monban_wire::build_timestamp(
        &mut buf,
        &monban_wire::TimestampProbe {
            src,
            dst,
            ttl: 61,
            ip_id: 0,
            ident: u16::from_be_bytes([probe[24], probe[25]]),
            seq: u16::from_be_bytes([probe[26], probe[27]]),
            originate: u32::from_be_bytes([probe[28], probe[29], probe[30], probe[31]]),
        },
    )
    .ok()?;
    // Type 14 with receive and transmit times, and the ICMP checksum made right again:
    // the engine takes no reply whose checksum fails.
    buf[20] = 14;
    buf[32..36].copy_from_slice(&1000u32.to_be_bytes());
    buf[36..40].copy_from_slice(&1001u32.to_be_bytes());
    buf[22..24].copy_from_slice(&[0, 0]);
    let sum = monban_wire::checksum::finish(monban_wire::checksum::data(&buf[20..n]));
    buf[22..24].copy_from_slice(&sum.to_be_bytes());
    Some(buf[..n].to_vec())
}

fn reply(hosts: &mut HashMap<IpAddr, SimHost>, probe: &[u8], now: Instant) -> Option<Vec<u8>> {
    let p = monban_wire::parse(probe).ok()?;
    if let monban_wire::L4::Udp {
        src_port, dst_port, ..
    } = p.l4
    {
        let host = hosts.get_mut(&p.dst)?;
        return match *host.ports.get(&dst_port).unwrap_or(&host.default) {
            Behaviour::Listen => {
                let mut buf = [0u8; 128];
                let r = monban_wire::UdpProbe {
                    src: p.dst,
                    dst: p.src,
                    ttl: 61,
                    ip_id: 0,
                    src_port: dst_port,
                    dst_port: src_port,
                    payload: b"hello",
                };
                let n = monban_wire::build_udp(&mut buf, &r).ok()?;
                Some(buf[..n].to_vec())
            }
            // A closed UDP port answers with ICMP port unreachable (rate-limited).
            Behaviour::Refuse => host
                .icmp_allowed(p.src, now)
                .then(|| icmp_unreach(p.dst, p.src, probe, 3)),
            Behaviour::Drop => None,
            Behaviour::Reject(code) => host
                .icmp_allowed(p.src, now)
                .then(|| icmp_unreach(p.dst, p.src, probe, code)),
        };
    }
    if let monban_wire::L4::Other { protocol: 1 } = p.l4 {
        return match hosts.get(&p.dst) {
            Some(h) if h.timestamp => timestamp_reply(probe),
            _ => None,
        };
    }
    if let monban_wire::L4::EchoRequest { ident, seq, .. } = p.l4 {
        if !hosts.get(&p.dst)?.echo {
            return None;
        }
        let mut buf = [0u8; 128];
        let n = monban_wire::build_echo(
            &mut buf,
            &monban_wire::EchoProbe {
                src: p.dst,
                dst: p.src,
                ttl: 61,
                ip_id: 0,
                ident,
                seq,
                payload: &[],
            },
        )
        .ok()?;
        // Turn the request into a reply (ICMP type 0, ICMPv6 type 129); the engine
        // does not check ICMP checksums.
        let at = if p.dst.is_ipv4() { 20 } else { 40 };
        buf[at] = if p.dst.is_ipv4() { 0 } else { 129 };
        return Some(buf[..n].to_vec());
    }
    let monban_wire::L4::Tcp {
        src_port,
        dst_port,
        seq,
        ack: probe_ack,
        flags: probe_flags,
        ..
    } = p.l4
    else {
        return None;
    };
    let host = hosts.get_mut(&p.dst)?;
    let b = *host.ports.get(&dst_port).unwrap_or(&host.default);
    let mut buf = [0u8; 128];
    let has = |f: monban_wire::TcpFlags| probe_flags.contains(f);
    // How RFC 9293 (3.10.7) answers a segment that does not belong to a connection:
    // a probe with ACK gets <SEQ=SEG.ACK><CTL=RST>; one without gets
    // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (SYN and FIN count one each).
    let reset = |buf: &mut [u8]| {
        let (rseq, rack, rflags) = if has(monban_wire::TcpFlags::ACK) {
            (probe_ack, 0, monban_wire::TcpFlags::RST)
        } else {
            let used = u32::from(has(monban_wire::TcpFlags::SYN))
                + u32::from(has(monban_wire::TcpFlags::FIN));
            (
                0,
                seq.wrapping_add(used),
                monban_wire::TcpFlags::RST | monban_wire::TcpFlags::ACK,
            )
        };
        let r = monban_wire::TcpProbe {
            src: p.dst,
            dst: p.src,
            ttl: 61,
            ip_id: 0,
            src_port: dst_port,
            dst_port: src_port,
            seq: rseq,
            ack: rack,
            flags: rflags,
            window: 0,
            options: &[],
            payload: &[],
        };
        monban_wire::build_tcp(buf, &r).ok()
    };
    let tcp = |flags: monban_wire::TcpFlags, buf: &mut [u8]| {
        let probe = monban_wire::TcpProbe {
            src: p.dst,
            dst: p.src,
            ttl: 61,
            ip_id: 0,
            src_port: dst_port,
            dst_port: src_port,
            seq: 12345,
            ack: seq.wrapping_add(1),
            flags,
            window: 64240,
            options: &[],
            payload: &[],
        };
        monban_wire::build_tcp(buf, &probe).ok()
    };
    match b {
        // A Linux listener answers ACK with RST and drops FIN, NULL and Xmas.
        Behaviour::Listen if !has(monban_wire::TcpFlags::SYN) => {
            if has(monban_wire::TcpFlags::ACK) {
                let n = reset(&mut buf)?;
                Some(buf[..n].to_vec())
            } else {
                None
            }
        }
        Behaviour::Listen => {
            let key = (p.src, src_port, dst_port);
            if let Some(&(isn, last)) = host.half_open.get(&key) {
                if isn == seq {
                    // A retransmitted SYN: Linux re-sends the SYN/ACK, at most once per
                    // 500 ms (net.ipv4.tcp_invalid_ratelimit).
                    if now.duration_since(last) < Duration::from_millis(500) {
                        return None;
                    }
                    host.half_open.insert(key, (seq, now));
                    let n = tcp(
                        monban_wire::TcpFlags::SYN | monban_wire::TcpFlags::ACK,
                        &mut buf,
                    )?;
                    return Some(buf[..n].to_vec());
                }
                // A new SYN inside the window of a half-open connection: Linux answers
                // with RST. A scanner that retransmitted this way would read an open
                // port as closed.
                let flags = monban_wire::TcpFlags::RST | monban_wire::TcpFlags::ACK;
                let n = tcp(flags, &mut buf)?;
                return Some(buf[..n].to_vec());
            }
            host.half_open.insert(key, (seq, now));
            let n = tcp(
                monban_wire::TcpFlags::SYN | monban_wire::TcpFlags::ACK,
                &mut buf,
            )?;
            Some(buf[..n].to_vec())
        }
        Behaviour::Refuse => {
            if !host.rst_limit.take(now) {
                return None;
            }
            let n = reset(&mut buf)?;
            Some(buf[..n].to_vec())
        }
        Behaviour::Drop => None,
        Behaviour::Reject(code) => {
            if !host.icmp_allowed(p.src, now) {
                return None;
            }
            Some(icmp_unreach(p.dst, p.src, probe, code))
        }
    }
}

fn connect_outcome(
    hosts: &mut HashMap<IpAddr, SimHost>,
    dst: IpAddr,
    port: u16,
    now: Instant,
) -> Option<ConnectOutcome> {
    let host = hosts.get_mut(&dst)?;
    match *host.ports.get(&port).unwrap_or(&host.default) {
        Behaviour::Listen => Some(ConnectOutcome::Connected),
        Behaviour::Refuse => host.rst_limit.take(now).then_some(ConnectOutcome::Refused),
        Behaviour::Drop => None,
        Behaviour::Reject(13) => host
            .icmp_allowed(IpAddr::V4(SCANNER4), now)
            .then_some(ConnectOutcome::Unreachable(Reason::AdminProhibited)),
        Behaviour::Reject(_) => host
            .icmp_allowed(IpAddr::V4(SCANNER4), now)
            .then_some(ConnectOutcome::Unreachable(Reason::HostUnreach)),
    }
}

enum InFlight {
    Packet(Vec<u8>),
    Connect(IpAddr, u16, u8, ConnectOutcome),
}

/// One simulated scan: what is scanned, how, and through which network.
struct Case {
    scan_type: ScanType,
    targets: Vec<IpAddr>,
    ports: Vec<u16>,
    net: Net,
    timing: Timing,
    seed: u64,
    /// `-g`: every try from the same source port.
    fixed_port: bool,
    /// `--shard`: (index, count).
    shard: Option<(u32, u32)>,
}

/// A discovery run: `live` hosts exist (and answer like `truth_default`), `absent` ones
/// do not exist at all.
fn discover(
    live: Vec<IpAddr>,
    absent: Vec<IpAddr>,
    pings: Vec<PingProbe>,
    loss: f64,
    seed: u64,
) -> Outcome {
    let case = Case {
        scan_type: ScanType::Syn,
        targets: live.iter().chain(&absent).copied().collect(),
        // The sim hosts' behaviour on the ports the pings go to.
        ports: vec![22, 80, 81, 443],
        net: Net {
            loss,
            ..Net::default()
        },
        timing: Timing::template(4),
        seed,
        fixed_port: false,
        shard: None,
    };
    run_with(&case, &truth_default, Some(pings), &live)
}

fn run(case: &Case, behaviours: &dyn Fn(IpAddr, u16) -> Behaviour) -> Outcome {
    run_with(case, behaviours, None, &case.targets)
}

/// What [`Case`] does not say: extra source addresses, the targets' ICMP burst and
/// which hosts answer echo and timestamp requests.
struct Extra {
    sources: Vec<IpAddr>,
    icmp_burst: f64,
    echo: fn(IpAddr) -> bool,
    timestamp: fn(IpAddr) -> bool,
}

impl Default for Extra {
    fn default() -> Extra {
        Extra {
            sources: Vec::new(),
            icmp_burst: 6.0,
            echo: |_| true,
            timestamp: |_| false,
        }
    }
}

/// [`run`], optionally as a discovery scan, where only the hosts in `live` exist.
fn run_with(
    case: &Case,
    behaviours: &dyn Fn(IpAddr, u16) -> Behaviour,
    pings: Option<Vec<PingProbe>>,
    live: &[IpAddr],
) -> Outcome {
    run_full(case, behaviours, pings, live, &Extra::default())
}

/// [`run_with`] with [`Extra`] settings.
fn run_full(
    case: &Case,
    behaviours: &dyn Fn(IpAddr, u16) -> Behaviour,
    pings: Option<Vec<PingProbe>>,
    live: &[IpAddr],
    extra: &Extra,
) -> Outcome {
    let Case {
        scan_type,
        targets,
        ports,
        net,
        timing,
        seed,
        fixed_port,
        shard,
    } = case;
    let (scan_type, seed, fixed_port) = (*scan_type, *seed, *fixed_port);
    let (targets, ports, net, timing) =
        (targets.clone(), ports.clone(), net.clone(), timing.clone());
    let t0 = Instant::now();
    let mut hosts = HashMap::new();
    for &t in targets.iter().filter(|t| live.contains(t)) {
        let mut m = HashMap::new();
        for &p in &ports {
            m.insert(p, behaviours(t, p));
        }
        hosts.insert(
            t,
            SimHost {
                half_open: HashMap::new(),
                ports: m,
                default: Behaviour::Refuse,
                rst_limit: Bucket {
                    per_sec: net.rst_per_sec,
                    burst: 50.0,
                    tokens: 50.0,
                    last: None,
                },
                icmp_limits: HashMap::new(),
                icmp_per_sec: net.icmp_per_sec,
                icmp_burst: extra.icmp_burst,
                echo: (extra.echo)(t),
                timestamp: (extra.timestamp)(t),
            },
        );
    }
    let cfg = ScanConfig {
        scan_type,
        timing,
        ports,
        randomize_ports: true,
        seed,
        source_v4: Some(SCANNER4),
        source_v6: Some(SCANNER6),
        sources: extra.sources.clone(),
        source_port: 47001,
        fixed_source_port: fixed_port,
        tcp_flags: None,
        assume_up: pings.is_none(),
        wall_start: SystemTime::UNIX_EPOCH,
        max_group_slots: 1 << 14,
        shard: *shard,
        pings,
    };
    let n = targets.len() as u128;
    let iter = targets.into_iter().map(|addr| Target { addr, name: None });
    let mut scan = Scan::new(cfg, Box::new(iter), n, t0).unwrap();
    let mut rng = Rng(seed | 1);
    // (deliver time, sequence) -> packet towards the scanner.
    let mut queue: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut payloads: HashMap<u64, InFlight> = HashMap::new();
    let mut seqno = 0u64;
    let mut now = t0;
    let mut buf = [0u8; 256];
    let mut reports = Vec::new();
    let mut open_events = 0;
    let mut send_times = Vec::new();
    let half = net.rtt / 2;
    let jitter = |rng: &mut Rng| {
        if net.jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.next() % net.jitter.as_nanos() as u64)
        }
    };
    for _round in 0..50_000_000u64 {
        while let Some(t) = scan.poll_transmit(now, &mut buf) {
            send_times.push(now - t0);
            // Forward path: loss, then the target answers at now + rtt/2.
            if rng.chance(net.loss) {
                continue;
            }
            let at_target = now + half + jitter(&mut rng);
            let answer = match scan_type {
                ScanType::Connect => connect_outcome(&mut hosts, t.dst, t.port, at_target)
                    .map(|o| InFlight::Connect(t.dst, t.port, t.attempt, o)),
                _ => reply(&mut hosts, &buf[..t.len], at_target).map(InFlight::Packet),
            };
            let Some(answer) = answer else { continue };
            if rng.chance(net.loss) {
                continue;
            }
            if let InFlight::Packet(reply) = &answer {
                // The SYN/ACK reached the scanner, whose kernel answers it with RST: the
                // target forgets the half-open connection.
                if let Ok(r) = monban_wire::parse(reply) {
                    if let monban_wire::L4::Tcp {
                        src_port, dst_port, ..
                    } = r.l4
                    {
                        if let Some(h) = hosts.get_mut(&r.src) {
                            h.half_open.remove(&(r.dst, dst_port, src_port));
                        }
                    }
                }
            }
            let copies = if rng.chance(net.dup) { 2 } else { 1 };
            for c in 0..copies {
                let at = at_target + half + jitter(&mut rng) + Duration::from_micros(c * 300);
                seqno += 1;
                let dup = match &answer {
                    InFlight::Packet(p) => InFlight::Packet(p.clone()),
                    InFlight::Connect(a, b, c2, d) => InFlight::Connect(*a, *b, *c2, *d),
                };
                payloads.insert(seqno, dup);
                queue.push(Reverse((at, seqno)));
            }
        }
        while let Some(ev) = scan.poll_event() {
            match ev {
                Event::OpenPort { .. } => open_events += 1,
                Event::Host(r) => reports.push(*r),
            }
        }
        if scan.is_done() {
            let p = scan.progress();
            return Outcome {
                send_times,
                reports,
                open_events,
                sent: p.probes_sent,
                elapsed: now - t0,
            };
        }
        let wake = scan.next_timeout();
        let arrival = queue.peek().map(|Reverse((t, _))| *t);
        let next = match (wake, arrival) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => panic!("scan stalled: nothing to wait for and not done"),
        };
        now = now.max(next);
        while let Some(Reverse((t, id))) = queue.peek().copied() {
            if t > now {
                break;
            }
            queue.pop();
            match payloads.remove(&id) {
                Some(InFlight::Packet(p)) => {
                    scan.on_packet(now, &p);
                }
                Some(InFlight::Connect(a, port, att, o)) => {
                    scan.on_connect_result(now, a, port, att, o);
                }
                None => {}
            }
        }
        scan.handle_timeout(now);
    }
    panic!("simulation did not finish");
}

fn truth_default(addr: IpAddr, port: u16) -> Behaviour {
    let h = match addr {
        IpAddr::V4(a) => u32::from(a) as u16,
        IpAddr::V6(a) => u128::from(a) as u16,
    };
    match port {
        22 | 80 | 443 | 8080 => Behaviour::Listen,
        p if p % 97 == h % 7 => Behaviour::Listen,
        1000..=1099 => Behaviour::Drop,
        1100..=1149 => Behaviour::Reject(13),
        1150..=1159 => Behaviour::Reject(1),
        _ => Behaviour::Refuse,
    }
}

fn expected(b: Behaviour, scan: ScanType) -> (PortState, Reason) {
    if scan == ScanType::Udp {
        return match b {
            Behaviour::Listen => (PortState::Open, Reason::UdpResponse),
            Behaviour::Refuse => (PortState::Closed, Reason::PortUnreach),
            Behaviour::Drop => (PortState::OpenFiltered, Reason::NoResponse),
            Behaviour::Reject(13) => (PortState::Filtered, Reason::AdminProhibited),
            Behaviour::Reject(_) => (PortState::Filtered, Reason::HostUnreach),
        };
    }
    let fin_like = matches!(scan, ScanType::Fin | ScanType::Null | ScanType::Xmas);
    match (b, scan) {
        (Behaviour::Listen | Behaviour::Drop, _) if fin_like => {
            (PortState::OpenFiltered, Reason::NoResponse)
        }
        (Behaviour::Listen | Behaviour::Refuse, ScanType::Ack) => {
            (PortState::Unfiltered, Reason::Reset)
        }
        // RSTs from this target carry window 0.
        (Behaviour::Listen | Behaviour::Refuse, ScanType::Window) => {
            (PortState::Closed, Reason::Reset)
        }
        (Behaviour::Listen, _) => (PortState::Open, Reason::SynAck),
        (Behaviour::Refuse, ScanType::Connect) => (PortState::Closed, Reason::ConnRefused),
        (Behaviour::Refuse, _) => (PortState::Closed, Reason::Reset),
        (Behaviour::Drop, _) => (PortState::Filtered, Reason::NoResponse),
        (Behaviour::Reject(13), _) => (PortState::Filtered, Reason::AdminProhibited),
        (Behaviour::Reject(_), _) => (PortState::Filtered, Reason::HostUnreach),
    }
}

fn targets4(n: u8) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 1, 0, 10 + i)))
        .collect()
}

fn targets6(n: u16) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x10 + i)))
        .collect()
}

/// Runs a scan and checks every port of every host against the truth. Returns the
/// outcome for further bounds.
fn check_exact(
    scan_type: ScanType,
    targets: Vec<IpAddr>,
    ports: Vec<u16>,
    net: Net,
    timing: Timing,
    seed: u64,
    rate_limited_icmp_ok: bool,
) -> Outcome {
    let case = Case {
        scan_type,
        targets,
        ports,
        net,
        timing,
        seed,
        fixed_port: false,
        shard: None,
    };
    check_case(&case, rate_limited_icmp_ok)
}

/// [`check_exact`] for a whole [`Case`].
fn check_case(case: &Case, rate_limited_icmp_ok: bool) -> Outcome {
    let (scan_type, targets, ports) = (case.scan_type, &case.targets, &case.ports);
    let out = run(case, &truth_default);
    assert_eq!(out.reports.len(), targets.len(), "every host reported once");
    let mut seen = BTreeMap::new();
    for r in &out.reports {
        assert!(!r.incomplete && !r.timed_out);
        assert_eq!(r.ports.len(), ports.len(), "{}: every port decided", r.addr);
        for pr in &r.ports {
            let b = truth_default(r.addr, pr.port);
            let (state, reason) = expected(b, scan_type);
            if rate_limited_icmp_ok && matches!(b, Behaviour::Reject(_)) {
                // An ICMP error swallowed by the target's rate limit is indistinguishable
                // from a drop: filtered either way.
                assert_eq!(pr.state, PortState::Filtered, "{} port {}", r.addr, pr.port);
                continue;
            }
            assert_eq!(
                (pr.state, pr.reason),
                (state, reason),
                "{} port {} ({b:?})",
                r.addr,
                pr.port
            );
        }
        seen.insert(r.addr, ());
    }
    assert_eq!(seen.len(), targets.len());
    let open: usize = out
        .reports
        .iter()
        .map(|r| {
            r.ports
                .iter()
                .filter(|p| p.state == PortState::Open)
                .count()
        })
        .sum();
    assert!(out.open_events >= open, "each open port was streamed");
    out
}

fn ports_0_2000() -> Vec<u16> {
    (1..=2000).collect()
}

fn ideal_probes(targets: &[IpAddr], ports: &[u16], retries: u32) -> u64 {
    let mut n = 0;
    for &t in targets {
        for &p in ports {
            n += match truth_default(t, p) {
                Behaviour::Drop => u64::from(retries + 1),
                _ => 1,
            };
        }
    }
    n
}

#[test]
fn lossless_scans_are_exact_and_minimal() {
    // Without loss every answering port costs one probe and every silent port
    // retries + 1: exactly, for SYN over both families and for connect.
    let t = Timing::template(4);
    let ports = ports_0_2000();
    for (seed, scan, targets) in [
        (1, ScanType::Syn, targets4(3)),
        (2, ScanType::Syn, targets6(3)),
        (3, ScanType::Connect, targets4(2)),
    ] {
        let ideal = ideal_probes(&targets, &ports, t.max_retries);
        let out = check_exact(
            scan,
            targets,
            ports.clone(),
            Net::default(),
            t.clone(),
            seed,
            false,
        );
        assert_eq!(out.sent, ideal, "{scan:?} seed {seed}");
    }
}

#[test]
fn random_loss_up_to_ten_percent_stays_exact() {
    for (i, loss) in [0.01, 0.03, 0.05, 0.10].into_iter().enumerate() {
        let mut t = Timing::template(4);
        // 10 % each way is ~19 % per try: give the unlucky ports enough tries.
        t.max_retries = 10;
        let ports = ports_0_2000();
        let net = Net {
            loss,
            ..Net::default()
        };
        let out = check_exact(
            ScanType::Syn,
            targets4(3),
            ports.clone(),
            net,
            t.clone(),
            10 + i as u64,
            false,
        );
        // Expected probes per answering port: 1 / (1-loss)^2; allow 50 % more than that.
        let per_try = (1.0 - loss) * (1.0 - loss);
        let ideal = ideal_probes(&targets4(3), &ports, t.max_retries) as f64;
        let bound = ideal * (1.0 + 1.5 * (1.0 / per_try - 1.0)) + 50.0;
        assert!(
            (out.sent as f64) < bound,
            "loss {loss}: sent {} bound {bound}",
            out.sent
        );
    }
}

#[test]
fn duplication_reordering_and_jitter_stay_exact() {
    let net = Net {
        loss: 0.02,
        dup: 0.2,
        jitter: Duration::from_millis(30),
        ..Net::default()
    };
    let mut t = Timing::template(4);
    t.max_retries = 8;
    check_exact(
        ScanType::Syn,
        targets4(2),
        ports_0_2000(),
        net.clone(),
        t.clone(),
        21,
        false,
    );
    check_exact(
        ScanType::Syn,
        targets6(2),
        ports_0_2000(),
        net.clone(),
        t.clone(),
        22,
        false,
    );
    check_exact(
        ScanType::Connect,
        targets4(2),
        ports_0_2000(),
        net,
        t,
        23,
        false,
    );
}

#[test]
fn rst_rate_limit_at_target_stays_exact() {
    // The target answers at most 200 RSTs per second; the scan must slow down or retry
    // until every closed port was seen closed.
    let net = Net {
        rst_per_sec: 200.0,
        ..Net::default()
    };
    let mut t = Timing::template(4);
    t.max_retries = 10;
    t.max_rto = Duration::from_secs(2);
    let ports: Vec<u16> = (1..=600).collect();
    check_exact(ScanType::Syn, targets4(1), ports, net, t, 31, false);
}

#[test]
fn icmp_rate_limit_still_filtered() {
    // Linux-like: ICMP errors at 1/s after a burst of 6. Rejected ports are filtered
    // whether or not their ICMP got through; every other port stays exact.
    let net = Net {
        icmp_per_sec: 1.0,
        ..Net::default()
    };
    let out = check_exact(
        ScanType::Syn,
        targets4(2),
        ports_0_2000(),
        net,
        Timing::template(4),
        41,
        true,
    );
    // The scan is not held hostage by the limit: it ends after the retries of the
    // silent ports, not after 60 rejected ports × 1 s.
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
}

#[test]
fn same_seed_same_run_and_serial_templates_work() {
    let case = Case {
        scan_type: ScanType::Syn,
        targets: targets4(1),
        ports: (1..=200).collect(),
        net: Net {
            loss: 0.05,
            ..Net::default()
        },
        timing: Timing::template(4),
        seed: 7,
        fixed_port: false,
        shard: None,
    };
    let a = run(&case, &truth_default);
    let b = run(&case, &truth_default);
    assert_eq!(a.sent, b.sent);
    assert_eq!(a.elapsed, b.elapsed);
    assert_eq!(a.reports[0].ports, b.reports[0].ports);
    // T2: one probe at a time, 0.4 s apart.
    let out = check_exact(
        ScanType::Syn,
        targets4(1),
        (1..=20).collect(),
        Net::default(),
        Timing::template(2),
        8,
        false,
    );
    assert_eq!(out.sent, 20);
    assert!(
        out.elapsed >= Duration::from_millis(19 * 400),
        "{:?}",
        out.elapsed
    );
}

#[test]
fn many_hosts_in_groups_all_reported() {
    // 300 hosts × 50 ports with a group budget of 16 384 slots: several groups.
    let targets: Vec<IpAddr> = (0..300u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a02_0000 + i)))
        .collect();
    let ports: Vec<u16> = (1..=50)
        .chain([80, 443])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    check_exact(
        ScanType::Syn,
        targets,
        ports,
        Net {
            loss: 0.01,
            ..Net::default()
        },
        Timing::template(5).clone_with_retries(6),
        51,
        false,
    );
}

trait WithRetries {
    fn clone_with_retries(&self, n: u32) -> Timing;
}
impl WithRetries for Timing {
    fn clone_with_retries(&self, n: u32) -> Timing {
        let mut t = self.clone();
        t.max_retries = n;
        t
    }
}

#[test]
fn stop_reports_partial_hosts() {
    let t0 = Instant::now();
    let cfg = ScanConfig {
        assume_up: true,
        ..plain_config(ScanType::Syn, (1..=1000).collect(), 1)
    };
    let targets = targets4(2)
        .into_iter()
        .map(|addr| Target { addr, name: None });
    let mut scan = Scan::new(cfg, Box::new(targets), 2, t0).unwrap();
    let mut buf = [0u8; 128];
    let mut sent = 0;
    while scan.poll_transmit(t0, &mut buf).is_some() {
        sent += 1;
    }
    assert!(sent > 0);
    scan.stop(t0 + Duration::from_millis(1));
    let mut reports = 0;
    while let Some(ev) = scan.poll_event() {
        if let Event::Host(r) = ev {
            assert!(r.incomplete);
            assert!(r.ports.is_empty());
            reports += 1;
        }
    }
    assert_eq!(reports, 2);
    assert!(scan.is_done());
    assert!(scan.poll_transmit(t0, &mut buf).is_none());
}

/// Every probe monban writes carries its mark (`monban_wire::mark`), so that defenders and
/// `monban detect` can name monban from one packet: the TCP window and the IPv4
/// identification are mark(seq); a UDP probe's identification is mark(ports).
#[test]
fn every_crafted_probe_carries_the_mark() {
    use monban_wire::mark::{mark, mark_pair};
    let t0 = Instant::now();
    let be16 = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    for scan_type in [
        ScanType::Syn,
        ScanType::Fin,
        ScanType::Null,
        ScanType::Xmas,
        ScanType::Ack,
        ScanType::Window,
        ScanType::Udp,
    ] {
        let cfg = ScanConfig {
            assume_up: true,
            ..plain_config(scan_type, (1..=50).collect(), 9)
        };
        let mut scan = one_target(cfg, IpAddr::V4(Ipv4Addr::new(10, 1, 0, 10)), t0);
        let mut buf = [0u8; 1500];
        let mut n = 0;
        let mut now = t0;
        // Paced: step the clock until every port's first probe has gone out.
        while n < 50 && now < t0 + Duration::from_secs(1) {
            let Some(t) = scan.poll_transmit(now, &mut buf) else {
                now += Duration::from_millis(1);
                continue;
            };
            if t.attempt > 0 {
                continue;
            }
            let p = &buf[..t.len];
            let id = be16(p, 4);
            if scan_type == ScanType::Udp {
                assert_eq!(id, mark_pair(be16(p, 20), be16(p, 22)), "{scan_type:?}");
            } else {
                let seq = u32::from_be_bytes([p[24], p[25], p[26], p[27]]);
                assert_eq!(be16(p, 34), mark(seq), "{scan_type:?} window");
                assert_eq!(id, mark(seq), "{scan_type:?} identification");
            }
            n += 1;
        }
        assert_eq!(n, 50, "{scan_type:?}");
    }
}

/// A scan of `ports` from SCANNER4, source port 40000, -T4, ports in order, hosts not
/// assumed up.
fn plain_config(scan_type: ScanType, ports: Vec<u16>, seed: u64) -> ScanConfig {
    ScanConfig {
        scan_type,
        timing: Timing::template(4),
        ports,
        randomize_ports: false,
        seed,
        source_v4: Some(SCANNER4),
        source_v6: None,
        sources: Vec::new(),
        source_port: 40000,
        fixed_source_port: false,
        tcp_flags: None,
        assume_up: false,
        wall_start: SystemTime::UNIX_EPOCH,
        max_group_slots: 1 << 20,
        shard: None,
        pings: None,
    }
}

/// A scan of the one host `addr`.
fn one_target(cfg: ScanConfig, addr: IpAddr, t0: Instant) -> Scan {
    Scan::new(
        cfg,
        Box::new(std::iter::once(Target { addr, name: None })),
        1,
        t0,
    )
    .unwrap()
}

#[test]
fn forged_and_stray_replies_are_ignored() {
    let t0 = Instant::now();
    let cfg = plain_config(ScanType::Syn, vec![80], 5);
    let target = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 10));
    let mut scan = one_target(cfg, target, t0);
    let mut buf = [0u8; 128];
    let t = scan.poll_transmit(t0, &mut buf).unwrap();
    assert_eq!((t.dst, t.port, t.attempt), (target, 80, 0));
    // A SYN/ACK with the wrong acknowledgement number (a forger who does not know the key).
    let mut forged = [0u8; 128];
    let n = monban_wire::build_tcp(
        &mut forged,
        &monban_wire::TcpProbe {
            src: target,
            dst: IpAddr::V4(SCANNER4),
            ttl: 64,
            ip_id: 1,
            src_port: 80,
            dst_port: 40000,
            seq: 1,
            ack: 0x1234_5678,
            flags: monban_wire::TcpFlags::SYN | monban_wire::TcpFlags::ACK,
            window: 100,
            options: &[],
            payload: &[],
        },
    )
    .unwrap();
    assert!(!scan.on_packet(t0, &forged[..n]));
    // Garbage of every length.
    for len in 0..buf.len() {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        assert!(!scan.on_packet(t0, &junk));
    }
    // The real port never answers: the host is reported down (no -Pn).
    let mut now = t0;
    let mut report = None;
    while !scan.is_done() {
        now = scan
            .next_timeout()
            .unwrap_or(now + Duration::from_millis(10))
            .max(now);
        while scan.poll_transmit(now, &mut buf).is_some() {}
        scan.handle_timeout(now);
        while let Some(ev) = scan.poll_event() {
            if let Event::Host(r) = ev {
                report = Some(r);
            }
        }
        assert!(now < t0 + Duration::from_secs(60), "did not end");
    }
    let r = report.expect("a host report");
    assert_eq!(r.status, monban_engine::HostStatus::Down);
    assert_eq!(scan.progress().probes_sent, 7);
}

#[test]
fn perfect_cookies_in_broken_packets_are_ignored() {
    // A liar on the path sees the probe and can echo its cookie; what it cannot do is make
    // a packet the target's kernel would accept and still lie. A SYN/ACK that acknowledges
    // the probe exactly but fails its IP or TCP checksum, and an admin-prohibited that
    // quotes the probe's ports but not its sequence number, must not decide the port: a
    // dropped port would otherwise read open or admin-prohibited.
    let t0 = Instant::now();
    let target = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 10));
    let me = IpAddr::V4(SCANNER4);
    let mut scan = one_target(plain_config(ScanType::Syn, vec![80], 6), target, t0);
    let mut probe = [0u8; 128];
    let t = scan.poll_transmit(t0, &mut probe).unwrap();
    let probe = &probe[..t.len];
    let Ok(monban_wire::Parsed {
        l4: monban_wire::L4::Tcp { src_port, seq, .. },
        ..
    }) = monban_wire::parse(probe)
    else {
        panic!("not a TCP probe: {probe:02x?}");
    };
    let mut synack = [0u8; 128];
    let n = monban_wire::build_tcp(
        &mut synack,
        &monban_wire::TcpProbe {
            src: target,
            dst: me,
            ttl: 64,
            ip_id: 1,
            src_port: 80,
            dst_port: src_port,
            seq: 7,
            ack: seq.wrapping_add(1),
            flags: monban_wire::TcpFlags::SYN | monban_wire::TcpFlags::ACK,
            window: 100,
            options: &[],
            payload: &[],
        },
    )
    .unwrap();
    let synack = &synack[..n];
    let mut bad_ip = synack.to_vec();
    bad_ip[10] ^= 0x5a;
    assert!(!scan.on_packet(t0, &bad_ip), "bad IPv4 header checksum");
    let mut bad_tcp = synack.to_vec();
    bad_tcp[37] ^= 0x34;
    assert!(!scan.on_packet(t0, &bad_tcp), "bad TCP checksum");
    let short = icmp_unreach(target, me, &probe[..24], 13);
    assert!(
        !scan.on_packet(t0, &short),
        "a quote without the sequence number"
    );
    // The whole probe quoted is an answer; so is the perfect SYN/ACK after it, as a second
    // opinion (the first answer stands).
    let full = icmp_unreach(target, me, probe, 13);
    let mut again = one_target(plain_config(ScanType::Syn, vec![80], 6), target, t0);
    let mut buf = [0u8; 128];
    again.poll_transmit(t0, &mut buf).unwrap();
    assert!(again.on_packet(t0, &full), "a full quote");
    // The same SYN/ACK with the partial checksum of offload (the pseudo-header's sum, as a
    // local sender leaves it on a veth) is the target's own answer.
    let mut partial = synack.to_vec();
    let sum = monban_wire::checksum::pseudo_header(target, me, 6, 20).unwrap();
    partial[36..38].copy_from_slice(&sum.to_be_bytes());
    assert!(scan.on_packet(t0, &partial), "partial checksum");
    let mut open = None;
    while let Some(ev) = scan.poll_event() {
        if let Event::Host(r) = ev {
            open = r.ports.iter().find(|p| p.port == 80).map(|p| p.state);
        }
    }
    assert_eq!(open, Some(PortState::Open));
}

#[test]
fn lost_syn_acks_never_turn_open_into_closed() {
    // Heavy loss both ways: many SYN/ACKs are lost while the target keeps the half-open
    // connection. Every retransmission must still read the open port as open.
    for (seed, fixed) in [(61, false), (62, true)] {
        let net = Net {
            loss: 0.15,
            ..Net::default()
        };
        let mut t = Timing::template(4);
        t.max_retries = 14;
        let case = Case {
            scan_type: ScanType::Syn,
            targets: targets4(2),
            ports: ports_0_2000(),
            net,
            timing: t,
            seed,
            fixed_port: fixed,
            shard: None,
        };
        check_case(&case, false);
    }
}

#[test]
fn fin_null_xmas_ack_window_read_like_a_linux_target() {
    for (i, scan) in [
        ScanType::Fin,
        ScanType::Null,
        ScanType::Xmas,
        ScanType::Ack,
        ScanType::Window,
    ]
    .into_iter()
    .enumerate()
    {
        let net = Net {
            loss: 0.03,
            ..Net::default()
        };
        let mut t = Timing::template(4);
        t.max_retries = 8;
        check_exact(
            scan,
            targets4(2),
            ports_0_2000(),
            net.clone(),
            t.clone(),
            70 + i as u64,
            false,
        );
        check_exact(
            scan,
            targets6(1),
            ports_0_2000(),
            net,
            t,
            80 + i as u64,
            false,
        );
    }
}

#[test]
fn shards_cover_the_space_exactly_once() {
    let targets: Vec<IpAddr> = targets4(2).into_iter().chain(targets6(1)).collect();
    let ports = ports_0_2000();
    let mut seen: HashMap<(IpAddr, u16), (PortState, Reason)> = HashMap::new();
    let count = 3;
    for index in 0..count {
        let mut timing = Timing::template(4);
        timing.max_retries = 8;
        let case = Case {
            scan_type: ScanType::Syn,
            targets: targets.clone(),
            ports: ports.clone(),
            net: Net {
                loss: 0.03,
                ..Net::default()
            },
            timing,
            // The same seed on every machine; each run differs only in its shard.
            seed: 99,
            fixed_port: false,
            shard: Some((index, count)),
        };
        let out = run(&case, &truth_default);
        let mut mine = 0;
        for r in &out.reports {
            for p in &r.ports {
                let before = seen.insert((r.addr, p.port), (p.state, p.reason));
                assert!(before.is_none(), "{} port {} in two shards", r.addr, p.port);
                assert_eq!(
                    (p.state, p.reason),
                    expected(truth_default(r.addr, p.port), ScanType::Syn)
                );
                mine += 1;
            }
        }
        // A keyed hash splits 6,000 pairs about evenly.
        assert!((1700..=2300).contains(&mine), "shard {index}: {mine} pairs");
    }
    assert_eq!(
        seen.len(),
        targets.len() * ports.len(),
        "every pair in some shard"
    );
}

#[test]
fn max_rate_holds_within_five_percent_over_every_second() {
    let mut timing = Timing::template(4);
    timing.max_rate = Some(2_000.0);
    timing.initial_rate = Some(2_000.0);
    let case = Case {
        scan_type: ScanType::Syn,
        targets: targets4(1),
        ports: (1..=10_000).collect(),
        net: Net::default(),
        timing,
        seed: 5,
        fixed_port: false,
        shard: None,
    };
    let out = run(&case, &truth_default);
    let times = &out.send_times;
    assert!(times.len() >= 10_000);
    let mut busiest = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] < times[i] + Duration::from_secs(1) {
            j += 1;
        }
        busiest = busiest.max(j - i);
    }
    assert!(
        busiest <= 2_100,
        "{busiest} probes in one second at --max-rate 2000"
    );
    // And the rate is used, not wasted: on average at least 90% of it.
    let span = times[times.len() - 1] - times[0];
    let average = times.len() as f64 / span.as_secs_f64();
    assert!(average >= 1_800.0, "{average:.0} probes/s over {span:?}");
}

#[test]
fn discovery_finds_exactly_the_live_hosts() {
    let live: Vec<IpAddr> = targets4(3).into_iter().chain(targets6(1)).collect();
    let absent: Vec<IpAddr> = (50..60u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 1, 0, i)))
        .collect();
    for (seed, loss) in [(1, 0.0), (2, 0.05)] {
        let out = discover(
            live.clone(),
            absent.clone(),
            PingProbe::DEFAULT_RAW.to_vec(),
            loss,
            seed,
        );
        assert_eq!(out.reports.len(), live.len() + absent.len());
        for r in &out.reports {
            assert!(r.ports.is_empty(), "discovery reports carry no ports");
            if live.contains(&r.addr) {
                assert_eq!(r.status, monban_engine::HostStatus::Up, "{}", r.addr);
                assert!(
                    matches!(
                        r.status_reason,
                        Reason::EchoReply | Reason::SynAck | Reason::Reset
                    ),
                    "{}: {:?}",
                    r.addr,
                    r.status_reason
                );
                assert_eq!(r.status_ttl, Some(61));
            } else {
                assert_eq!(r.status, monban_engine::HostStatus::Down, "{}", r.addr);
                assert_eq!(r.status_reason, Reason::NoResponse);
            }
        }
        if loss == 0.0 {
            // A live host stops being probed at its first answer; a dead one gets every
            // probe with every retry (T4: 6 retries).
            let bound = live.len() as u64 * 3 + absent.len() as u64 * 3 * 7;
            assert!(out.sent <= bound, "{} probes, bound {bound}", out.sent);
            assert!(out.sent >= absent.len() as u64 * 3 * 7);
        }
    }
}

#[test]
fn tcp_pings_alone_find_hosts_that_drop_echo() {
    let live = targets4(2);
    let absent = vec![IpAddr::V4(Ipv4Addr::new(10, 1, 0, 99))];
    // Port 22 listens on every sim host (SYN/ACK), port 81 is closed (RST to ACK).
    let out = discover(live.clone(), absent, vec![PingProbe::Syn(22)], 0.0, 3);
    for r in &out.reports {
        let up = live.contains(&r.addr);
        assert_eq!(r.status == monban_engine::HostStatus::Up, up, "{}", r.addr);
        if up {
            assert_eq!(r.status_reason, Reason::SynAck);
        }
    }
    let out = discover(live.clone(), vec![], vec![PingProbe::Ack(81)], 0.0, 4);
    assert!(out
        .reports
        .iter()
        .all(|r| r.status == monban_engine::HostStatus::Up && r.status_reason == Reason::Reset));
}

#[test]
fn udp_reads_answers_port_unreachables_and_silence() {
    // Port 443's payload (1,200 bytes) does not fit the 256-byte buffer this harness
    // hands the engine: it must still be probed (without payload), never stall the scan.
    let net = Net {
        loss: 0.03,
        ..Net::default()
    };
    let mut t = Timing::template(4);
    t.max_retries = 8;
    check_exact(
        ScanType::Udp,
        targets4(2),
        ports_0_2000(),
        net.clone(),
        t.clone(),
        90,
        false,
    );
    check_exact(
        ScanType::Udp,
        targets6(1),
        ports_0_2000(),
        net,
        t,
        91,
        false,
    );
}

#[test]
fn timestamp_and_udp_pings_find_hosts_that_drop_echo() {
    let v4 = |d: u8| IpAddr::V4(Ipv4Addr::new(10, 1, 0, d));
    let v6 = |d: u16| IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, d));
    // Nobody answers echo. A answers timestamps only; B answers on UDP 40125; C says
    // port unreachable there; D rejects it with admin-prohibited (not "up"); F is IPv6
    // (no timestamp in ICMPv6) and drops 40125; G is IPv6 and says port unreachable.
    let (a, b, c, d, f, g) = (v4(10), v4(11), v4(12), v4(13), v6(0x10), v6(0x11));
    let absent = v4(99);
    let behaviour = move |addr: IpAddr, port: u16| match (addr, port) {
        (x, 40125) if x == b => Behaviour::Listen,
        (x, 40125) if x == c || x == g => Behaviour::Refuse,
        (x, 40125) if x == d => Behaviour::Reject(13),
        _ => Behaviour::Drop,
    };
    let live = vec![a, b, c, d, f, g];
    let extra = Extra {
        echo: |_| false,
        timestamp: |x| x == IpAddr::V4(Ipv4Addr::new(10, 1, 0, 10)) || x.is_ipv6(),
        ..Extra::default()
    };
    let probes = vec![
        PingProbe::Timestamp,
        PingProbe::Udp(PingProbe::DEFAULT_UDP_PORT),
    ];
    for (seed, loss) in [(1, 0.0), (2, 0.05)] {
        let case = Case {
            scan_type: ScanType::Syn,
            targets: live.iter().copied().chain([absent]).collect(),
            ports: vec![40125],
            net: Net {
                loss,
                ..Net::default()
            },
            timing: Timing::template(4),
            seed,
            fixed_port: false,
            shard: None,
        };
        let out = run_full(&case, &behaviour, Some(probes.clone()), &live, &extra);
        let got: BTreeMap<IpAddr, (monban_engine::HostStatus, Reason, Option<u8>)> = out
            .reports
            .iter()
            .map(|r| (r.addr, (r.status, r.status_reason, r.status_ttl)))
            .collect();
        use monban_engine::HostStatus::{Down, Up};
        let want: BTreeMap<IpAddr, (monban_engine::HostStatus, Reason, Option<u8>)> = [
            (a, (Up, Reason::TimestampReply, Some(61))),
            (b, (Up, Reason::UdpResponse, Some(61))),
            (c, (Up, Reason::PortUnreach, Some(64))),
            (d, (Down, Reason::NoResponse, None)),
            (f, (Down, Reason::NoResponse, None)),
            (g, (Up, Reason::PortUnreach, Some(64))),
            (absent, (Down, Reason::NoResponse, None)),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want, "seed {seed}");
        assert_eq!(out.reports.len(), 7);
        if loss == 0.0 {
            // Up hosts: one probe each (A's timestamp, or the UDP ping; the other may
            // have left before the answer). Down IPv4 hosts: both probes with 6
            // retries; F (IPv6) only the UDP ping: no timestamp is ever sent to it.
            let down = 2 * 2 * 7 + 7;
            assert!(out.sent >= down && out.sent <= down + 4 * 2, "{}", out.sent);
        }
    }
    // -PP alone: only A is up; the IPv6 hosts get no probe at all and are down.
    let case = Case {
        scan_type: ScanType::Syn,
        targets: live.clone(),
        ports: vec![40125],
        net: Net::default(),
        timing: Timing::template(4),
        seed: 3,
        fixed_port: false,
        shard: None,
    };
    let out = run_full(
        &case,
        &behaviour,
        Some(vec![PingProbe::Timestamp]),
        &live,
        &extra,
    );
    for r in &out.reports {
        assert_eq!(
            r.status == monban_engine::HostStatus::Up,
            r.addr == a,
            "{}",
            r.addr
        );
    }
    assert_eq!(out.sent, 1 + 3 * 7, "A once, B, C and D with every retry");
}

/// The UDP ground truth for the rate-limit tests: three answering services, three
/// silent ports, every other port closed.
fn udp_truth(_addr: IpAddr, port: u16) -> Behaviour {
    match port {
        53 | 123 | 161 => Behaviour::Listen,
        7 | 99 | 150 => Behaviour::Drop,
        _ => Behaviour::Refuse,
    }
}

/// A UDP scan of `targets`, ports 1-200, against Linux-like ICMP buckets (burst 6,
/// 1 per second per source address), with `extra_sources` besides the scanner's own
/// addresses. Checks every port exactly; returns the outcome.
fn udp_paced(targets: Vec<IpAddr>, extra_sources: Vec<IpAddr>, loss: f64, seed: u64) -> Outcome {
    let ports: Vec<u16> = (1..=200).collect();
    let case = Case {
        scan_type: ScanType::Udp,
        targets: targets.clone(),
        ports: ports.clone(),
        net: Net {
            loss,
            icmp_per_sec: 1.0,
            ..Net::default()
        },
        timing: Timing::template(4),
        seed,
        fixed_port: false,
        shard: None,
    };
    let extra = Extra {
        sources: extra_sources,
        ..Extra::default()
    };
    let out = run_full(&case, &udp_truth, None, &targets, &extra);
    assert_eq!(out.reports.len(), targets.len());
    for r in &out.reports {
        assert_eq!(r.ports.len(), ports.len(), "{}", r.addr);
        for pr in &r.ports {
            let b = udp_truth(r.addr, pr.port);
            assert_eq!(
                (pr.state, pr.reason),
                expected(b, ScanType::Udp),
                "{} port {} ({b:?}), loss {loss}, seed {seed}",
                r.addr,
                pr.port
            );
        }
    }
    out
}

/// The time the ICMP limit itself imposes on one host's 194 closed ports with `n`
/// sources: what the buckets' bursts do not cover, at 1 per second per source.
fn icmp_ideal(n: u32) -> Duration {
    Duration::from_secs_f64((194.0 - 6.0 * f64::from(n)) / f64::from(n))
}

#[test]
fn udp_learns_the_icmp_rate_and_resolves_every_closed_port() {
    // Three hosts in parallel, lossless and with 5 % loss each way: every port exact
    // (open, closed, and open|filtered only for the three silent ones), within 1.5x of
    // the time the limit imposes.
    let targets: Vec<IpAddr> = targets4(2).into_iter().chain(targets6(1)).collect();
    for (seed, loss) in [(101, 0.0), (102, 0.02), (103, 0.05)] {
        let out = udp_paced(targets.clone(), Vec::new(), loss, seed);
        let ideal = icmp_ideal(1);
        assert!(
            out.elapsed <= ideal.mul_f64(1.5),
            "loss {loss}: {:?}, ideal {ideal:?}",
            out.elapsed
        );
        // Not faster than the limit allows either: the simulation's buckets are real.
        assert!(out.elapsed >= ideal, "{:?}", out.elapsed);
    }
}

#[test]
fn four_sources_give_four_buckets_and_four_times_the_speed() {
    let targets: Vec<IpAddr> = targets4(2).into_iter().chain(targets6(1)).collect();
    let extra: Vec<IpAddr> = (3..=5)
        .map(|d| IpAddr::V4(Ipv4Addr::new(10, 0, 0, d)))
        .chain((3..=5).map(|d| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, d))))
        .collect();
    let one = udp_paced(targets.clone(), Vec::new(), 0.03, 111);
    for (seed, loss) in [(112, 0.0), (113, 0.05)] {
        let four = udp_paced(targets.clone(), extra.clone(), loss, seed);
        let ideal = icmp_ideal(4);
        assert!(
            four.elapsed <= ideal.mul_f64(1.5),
            "loss {loss}: {:?}, ideal {ideal:?}",
            four.elapsed
        );
        let speedup = one.elapsed.as_secs_f64() / four.elapsed.as_secs_f64();
        assert!(speedup >= 3.5, "speed-up {speedup:.2}");
    }
}

#[test]
fn replies_to_an_address_that_is_not_ours_are_ignored() {
    let t0 = Instant::now();
    let target = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 10));
    let cfg = ScanConfig {
        source_v4: None,
        sources: vec![
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 4)),
        ],
        ..plain_config(ScanType::Udp, vec![53], 5)
    };
    let mut scan = one_target(cfg, target, t0);
    let mut buf = [0u8; 256];
    let t = scan.poll_transmit(t0, &mut buf).unwrap();
    let sent = monban_wire::parse(&buf[..t.len]).unwrap();
    assert_eq!(sent.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)));
    let answer = |to: IpAddr| {
        let mut r = [0u8; 64];
        let n = monban_wire::build_udp(
            &mut r,
            &monban_wire::UdpProbe {
                src: target,
                dst: to,
                ttl: 60,
                ip_id: 0,
                src_port: 53,
                dst_port: 40000,
                payload: b"x",
            },
        )
        .unwrap();
        r[..n].to_vec()
    };
    assert!(!scan.on_packet(t0, &answer(IpAddr::V4(SCANNER4))));
    // Any of our sources is ours, not only the one this try left from.
    assert!(scan.on_packet(t0, &answer(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 4)))));
}
