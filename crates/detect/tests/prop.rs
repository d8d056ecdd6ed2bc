//! Property tests of the detector's readers, seeded (splitmix64), no test dependency:
//!
//! - [`decode`] on packets built by `monban_wire` reads back every field that was built,
//!   and on random and mutated packets never panics and agrees with the scanner's parser
//!   wherever that one accepts the packet;
//! - the log line parser on mutated lines of `testdata/logs/`: reading a line alone and
//!   through [`LogReader`] give the same record, and setting one field of a kernel line
//!   (`SPT=`, `DPT=`, `TTL=`, ...) to another valid value changes that field of the record
//!   and nothing else.
//!
//! (The capture-file reader has its own seeded mutation loop in `tests/capture.rs`.)
//!
//! Counts (this crate is built at opt-level 2 in test builds): 100,000 built packets,
//! 500,000 mutated and 300,000 random buffers through `decode`; 200,000 mutated log lines
//! (each read twice) and 100,000 field changes; about two seconds in all. A failure names
//! the seed, the iteration and the input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use monban_detect::log::parse::{parse_line, LogReader};
use monban_detect::log::{clock, syn_or_connect_unknown, to_packet, LogAddr, LogFormat, LogRecord};
use monban_detect::packet::{decode, Icmp, Packet, Transport};
use monban_wire::{
    build_echo, build_tcp, build_timestamp, build_udp, parse, EchoProbe, TcpFlags, TcpProbe,
    TimestampProbe, UdpProbe, L4,
};

/// splitmix64: a tiny seeded generator, so every run tests the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn u8(&mut self) -> u8 {
        self.next() as u8
    }
    fn u16(&mut self) -> u16 {
        self.next() as u16
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// decode.

/// A random probe built by the scanner's builders, and the packet decode must read.
fn built(rng: &mut Rng) -> (Vec<u8>, Packet) {
    let v6 = rng.next() & 1 == 0;
    let (src, dst) = if v6 {
        let a = |r: &mut Rng| IpAddr::V6(Ipv6Addr::from((u128::from(r.next()) << 64) | 1));
        (a(rng), a(rng))
    } else {
        (
            IpAddr::V4(Ipv4Addr::from(rng.u32())),
            IpAddr::V4(Ipv4Addr::from(rng.u32())),
        )
    };
    let (ttl, ip_id) = (rng.u8(), rng.u16());
    let payload = {
        let n = rng.below(64);
        rng.bytes(n)
    };
    let mut buf = vec![0u8; 1600];
    let (n, transport) = match rng.below(if v6 { 3 } else { 4 }) {
        0 => {
            // Options: whole valid ones and odd bytes alike (decode keeps them raw).
            let opts = {
                let n = rng.below(41);
                rng.bytes(n)
            };
            let p = TcpProbe {
                src,
                dst,
                ttl,
                ip_id,
                src_port: rng.u16(),
                dst_port: rng.u16(),
                seq: rng.u32(),
                ack: rng.u32(),
                flags: TcpFlags(rng.u8()),
                window: rng.u16(),
                options: &opts,
                payload: &payload,
            };
            let mut padded = opts.clone();
            padded.resize(opts.len().div_ceil(4) * 4, 0);
            let t = Transport::Tcp {
                src_port: p.src_port,
                dst_port: p.dst_port,
                seq: p.seq,
                ack: p.ack,
                flags: p.flags.bits(),
                window: p.window,
                options: monban_detect::packet::TcpOptions::from_bytes(&padded),
                payload_len: payload.len() as u16,
            };
            (build_tcp(&mut buf, &p).unwrap(), t)
        }
        1 => {
            let p = UdpProbe {
                src,
                dst,
                ttl,
                ip_id,
                src_port: rng.u16(),
                dst_port: rng.u16(),
                payload: &payload,
            };
            let t = Transport::Udp {
                src_port: p.src_port,
                dst_port: p.dst_port,
                payload_len: payload.len() as u16,
            };
            (build_udp(&mut buf, &p).unwrap(), t)
        }
        2 => {
            let p = EchoProbe {
                src,
                dst,
                ttl,
                ip_id,
                ident: rng.u16(),
                seq: rng.u16(),
                payload: &payload,
            };
            let t = Transport::Icmp(Icmp::EchoRequest {
                ident: p.ident,
                seq: p.seq,
                data_len: payload.len() as u16,
            });
            (build_echo(&mut buf, &p).unwrap(), t)
        }
        _ => {
            let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
                unreachable!("timestamps are IPv4 only")
            };
            let p = TimestampProbe {
                src: s,
                dst: d,
                ttl,
                ip_id,
                ident: rng.u16(),
                seq: rng.u16(),
                originate: rng.u32(),
            };
            let t = Transport::Icmp(Icmp::TimestampRequest {
                ident: p.ident,
                seq: p.seq,
            });
            (build_timestamp(&mut buf, &p).unwrap(), t)
        }
    };
    buf.truncate(n);
    let want = Packet {
        src,
        dst,
        ttl,
        ip_id: (!v6).then_some(ip_id),
        df: false,
        transport,
    };
    (buf, want)
}

#[test]
fn decode_reads_every_field_the_scanner_builds() {
    const SEED: u64 = 0x6d6f_6e62_616e_6431;
    let mut rng = Rng(SEED);
    for i in 0..100_000 {
        let (pkt, want) = built(&mut rng);
        assert_eq!(
            decode(&pkt),
            Ok(want),
            "seed {SEED:#x} iteration {i}: {}",
            hex(&pkt)
        );
    }
}

/// decode never panics on `b`, and where the scanner's strict parser reads a transport
/// header, the tolerant decoder reads the same addresses and fields.
fn check_decode(what: &str, seed: u64, i: usize, b: &[u8]) -> bool {
    let ctx = || format!("{what}: seed {seed:#x} iteration {i}, input {}", hex(b));
    let got = catch_unwind(|| decode(b)).unwrap_or_else(|_| panic!("decode panicked: {}", ctx()));
    let Ok(strict) = parse(b) else {
        return got.is_ok();
    };
    // Where the scanner's parser stops at a protocol it does not read (`L4::Other`: AH,
    // ...) the decoder may walk on and find the packet cut: only a transport header both
    // read must be read alike.
    let transport = matches!(
        strict.l4,
        L4::Tcp { .. } | L4::Udp { .. } | L4::EchoReply { .. } | L4::EchoRequest { .. }
    );
    let p = match got {
        Ok(p) => p,
        Err(_) if !transport => return false,
        Err(e) => panic!("the scanner's parser reads it, decode: {e}: {}", ctx()),
    };
    assert_eq!(
        (p.src, p.dst, p.ttl),
        (strict.src, strict.dst, strict.ttl),
        "{}",
        ctx()
    );
    match (strict.l4, p.transport) {
        (
            L4::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                ..
            },
            Transport::Tcp {
                src_port: sp,
                dst_port: dp,
                seq: s,
                ack: a,
                flags: f,
                window: w,
                ..
            },
        ) => assert_eq!(
            (src_port, dst_port, seq, ack, flags.bits(), window),
            (sp, dp, s, a, f, w),
            "{}",
            ctx()
        ),
        (
            L4::Udp {
                src_port, dst_port, ..
            },
            Transport::Udp {
                src_port: sp,
                dst_port: dp,
                ..
            },
        ) => assert_eq!((src_port, dst_port), (sp, dp), "{}", ctx()),
        (
            L4::EchoReply { ident, seq, .. },
            Transport::Icmp(Icmp::EchoReply { ident: d, seq: s }),
        ) => {
            assert_eq!((ident, seq), (d, s), "{}", ctx())
        }
        (
            L4::EchoRequest { ident, seq, .. },
            Transport::Icmp(Icmp::EchoRequest {
                ident: d, seq: s, ..
            }),
        ) => {
            assert_eq!((ident, seq), (d, s), "{}", ctx())
        }
        (L4::Tcp { .. } | L4::Udp { .. }, t) => {
            panic!(
                "the scanner's parser reads {:?}, decode {t:?}: {}",
                strict.l4,
                ctx()
            )
        }
        _ => {}
    }
    true
}

#[test]
fn decode_never_panics_and_agrees_with_the_scanners_parser() {
    const SEED: u64 = 0x6d6f_6e62_616e_6432;
    let mut rng = Rng(SEED);
    let mut ok = 0usize;
    for i in 0..500_000 {
        let (mut pkt, _) = built(&mut rng);
        for _ in 0..1 + rng.below(4) {
            let len = pkt.len();
            match rng.below(7) {
                0 if len > 0 => {
                    let at = rng.below(len);
                    pkt[at] = rng.u8();
                }
                1 if len > 0 => {
                    let at = rng.below(len);
                    pkt[at] ^= 1 << rng.below(8);
                }
                2 => pkt.truncate(rng.below(len + 1)),
                3 => {
                    let at = rng.below(len + 1);
                    let n = 1 + rng.below(16);
                    let junk = rng.bytes(n);
                    pkt.splice(at..at, junk);
                }
                4 if len > 9 => {
                    // An IPv6 next header or IPv4 protocol swapped for an extension
                    // header, AH or another transport: deeper walks.
                    let at = if pkt[0] >> 4 == 6 { 6 } else { 9 };
                    pkt[at] = [0, 43, 44, 51, 60, 1, 6, 17, 58][rng.below(9)];
                }
                5 if len > 5 => {
                    // A length field set to something interesting.
                    let at = [2, 4][rng.below(2)];
                    let v = [0u16, 1, 8, 20, 40, 0xffff, len as u16][rng.below(7)];
                    pkt[at..at + 2].copy_from_slice(&v.to_be_bytes());
                }
                _ if len > 0 => {
                    let at = rng.below(len);
                    pkt.drain(at..(at + 1 + rng.below(8)).min(len));
                }
                _ => {}
            }
        }
        ok += usize::from(check_decode("mutated packet", SEED, i, &pkt));
    }
    for i in 0..300_000 {
        let n = rng.below(120);
        let mut b = rng.bytes(n);
        if n > 0 {
            b[0] = [0x45, 0x46, 0x4f, 0x60, 0x44, b[0]][rng.below(6)];
        }
        ok += usize::from(check_decode("random bytes", SEED, i, &b));
    }
    assert!(ok > 300_000, "only {ok} decoded");
}

// ---------------------------------------------------------------------------------------
// Firewall log lines.

const YEAR: i32 = 2026;

fn pool() -> Vec<String> {
    let mut lines = Vec::new();
    for name in [
        "iptables.log",
        "nftables.log",
        "ufw.log",
        "firewalld.log",
        "dmesg-real.txt",
        "journal-short.txt",
        "journal.json",
        "pfirewall-default.log",
        "mixed.log",
        "truncated.log",
        "unknown.log",
    ] {
        let path = format!("{}/testdata/logs/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        lines.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    }
    lines
}

/// Everything that uses a record works on it.
fn use_record(r: &LogRecord) {
    let _ = (to_packet(r), clock(r), syn_or_connect_unknown(r));
}

/// The line read alone and as a one-line file: the same record.
fn check_line(seed: u64, i: usize, line: &str, forced: Option<LogFormat>) -> Option<LogRecord> {
    let ctx = || format!("seed {seed:#x} iteration {i}, {forced:?}, line {line:?}");
    let (alone, read) = catch_unwind(AssertUnwindSafe(|| {
        let alone = parse_line(line, YEAR, forced);
        let text = format!("{line}\n");
        let mut reader = LogReader::new(text.as_bytes(), YEAR, forced);
        let read = reader.next_record().expect("reading from memory");
        (alone, read)
    }))
    .unwrap_or_else(|_| panic!("the log parser panicked: {}", ctx()));
    let alone = alone.ok().flatten();
    assert_eq!(
        alone.as_ref(),
        read.as_ref().map(|(_, r)| r),
        "parse_line and LogReader differ: {}",
        ctx()
    );
    if let Some(r) = &alone {
        use_record(r);
    }
    alone
}

const VALUES: [&str; 24] = [
    "",
    "0",
    "-1",
    "1",
    "255",
    "256",
    "65535",
    "65536",
    "4294967296",
    "99999999999999999999",
    "0x10",
    "1.2.3.4",
    "1.2.3.256",
    "::1",
    "::ffff:1.2.3.4",
    "fe80::1%eth0",
    "TCP",
    "UDP",
    "ICMP",
    "ICMPv6",
    "é",
    "=",
    "(",
    "SYN",
];

/// Replaces the value of the `KEY=` field at byte `at` (just after the `=`).
fn set_value(line: &str, at: usize, value: &str) -> String {
    let end = line[at..].find([' ', '"']).map_or(line.len(), |n| at + n);
    format!("{}{value}{}", &line[..at], &line[end..])
}

#[test]
fn mutated_log_lines_read_alike_alone_and_in_a_file() {
    const SEED: u64 = 0x6d6f_6e62_616e_6c31;
    let pool = pool();
    let modes = [
        None,
        Some(LogFormat::Kernel),
        Some(LogFormat::JournalJson),
        Some(LogFormat::Pfirewall),
    ];
    let mut rng = Rng(SEED);
    let mut records = 0usize;
    for i in 0..200_000 {
        let mut line = pool[rng.below(pool.len())].clone();
        for _ in 0..1 + rng.below(3) {
            let eqs: Vec<usize> = line.match_indices('=').map(|(at, _)| at + 1).collect();
            let words: Vec<usize> = line.match_indices(' ').map(|(at, _)| at).collect();
            match rng.below(5) {
                0 | 1 if !eqs.is_empty() => {
                    let at = eqs[rng.below(eqs.len())];
                    line = set_value(&line, at, VALUES[rng.below(VALUES.len())]);
                }
                2 if !words.is_empty() => {
                    // Drop a word.
                    let from = words[rng.below(words.len())];
                    let to = line[from + 1..]
                        .find(' ')
                        .map_or(line.len(), |n| from + 1 + n);
                    line.replace_range(from..to, "");
                }
                3 if !words.is_empty() => {
                    // Duplicate a word.
                    let from = words[rng.below(words.len())];
                    let to = line[from + 1..]
                        .find(' ')
                        .map_or(line.len(), |n| from + 1 + n);
                    let w = line[from..to].to_owned();
                    line.insert_str(from, &w);
                }
                _ => {
                    let cut = rng.below(line.len() + 1);
                    if line.is_char_boundary(cut) {
                        line.truncate(cut);
                    }
                }
            }
        }
        let forced = modes[i % modes.len()];
        records += usize::from(check_line(SEED, i, &line, forced).is_some());
    }
    assert!(records > 10_000, "only {records} records");
}

/// Kernel fields and the record field each one fills.
type Field = (
    &'static str,
    fn(&LogRecord) -> String,
    fn(&mut Rng, bool) -> String,
);

fn fields() -> [Field; 8] {
    fn port(r: &mut Rng, _: bool) -> String {
        (1 + r.below(65535)).to_string()
    }
    fn addr(r: &mut Rng, v6: bool) -> String {
        if v6 {
            Ipv6Addr::from((u128::from(r.next()) << 64) | u128::from(r.next())).to_string()
        } else {
            Ipv4Addr::from(r.u32()).to_string()
        }
    }
    fn show<T: std::fmt::Debug>(v: T) -> String {
        format!("{v:?}")
    }
    fn ip(a: &Option<LogAddr>) -> String {
        match a {
            Some(LogAddr::Ip(ip)) => ip.to_string(),
            other => format!("{other:?}"),
        }
    }
    [
        ("SPT=", |r| show(r.src_port.unwrap_or(0)), port),
        ("DPT=", |r| show(r.dst_port.unwrap_or(0)), port),
        (
            "TTL=",
            |r| show(r.ttl.unwrap_or(0)),
            |r, _| (1 + r.below(255)).to_string(),
        ),
        (
            "ID=",
            |r| show(r.ip_id.unwrap_or(0)),
            |r, _| r.u16().to_string(),
        ),
        (
            "WINDOW=",
            |r| show(r.window.unwrap_or(0)),
            |r, _| r.u16().to_string(),
        ),
        (
            "LEN=",
            |r| show(r.length.unwrap_or(0)),
            |r, _| (20 + r.below(65516)).to_string(),
        ),
        ("SRC=", |r| ip(&r.src), addr),
        ("DST=", |r| ip(&r.dst), addr),
    ]
}

#[test]
fn setting_one_kernel_field_changes_that_field_alone() {
    const SEED: u64 = 0x6d6f_6e62_616e_6c32;
    let pool: Vec<String> = pool()
        .into_iter()
        .filter(|l| l.contains(" SRC=") && l.contains(" PROTO="))
        .collect();
    assert!(pool.len() > 20, "{} kernel lines", pool.len());
    let fields = fields();
    let mut rng = Rng(SEED);
    let mut checked = 0usize;
    for i in 0..100_000 {
        let line = &pool[rng.below(pool.len())];
        let (key, get, gen) = fields[rng.below(fields.len())];
        let Some(pos) = line.find(&format!(" {key}")) else {
            continue;
        };
        let at = pos + 1 + key.len();
        let Some(before) = check_line(SEED, i, line, None) else {
            continue;
        };
        let old = &line[at..line[at..].find([' ', '"']).map_or(line.len(), |n| at + n)];
        // Only fields this line's record shows as written (the parser may ignore some).
        if get(&before) != old {
            continue;
        }
        // Addresses keep their family.
        let value = gen(&mut rng, old.contains(':'));
        let changed = set_value(line, at, &value);
        let ctx = || format!("seed {SEED:#x} iteration {i}: {key}{value} in {changed:?}");
        let after = check_line(SEED, i, &changed, None)
            .unwrap_or_else(|| panic!("no record any more: {}", ctx()));
        assert_eq!(get(&after), value, "{}", ctx());
        // Everything else is as before.
        let mut expect = after.clone();
        match key {
            "SPT=" => expect.src_port = before.src_port,
            "DPT=" => expect.dst_port = before.dst_port,
            "TTL=" => expect.ttl = before.ttl,
            "ID=" => expect.ip_id = before.ip_id,
            "WINDOW=" => expect.window = before.window,
            "LEN=" => expect.length = before.length,
            "SRC=" => expect.src.clone_from(&before.src),
            _ => expect.dst.clone_from(&before.dst),
        }
        assert_eq!(expect, before, "{}", ctx());
        checked += 1;
    }
    assert!(checked > 25_000, "only {checked} field changes checked");
}
