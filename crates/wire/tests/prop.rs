//! Property tests for every packet view and `Repr` of monban-wire, on stable Rust with no
//! test dependency: a seeded splitmix64 generator drives
//!
//! 1. random bytes and mutated valid packets through every parser: never a panic, and what
//!    a parser returns lies inside its input;
//! 2. emit-then-parse of random valid `Repr`s (IPv4, IPv6, TCP with options, UDP, ICMPv4,
//!    ICMPv6, ARP, NDP, and whole IP packets through [`monban_wire::parse`]): the same
//!    `Repr` comes back and every checksum verifies;
//! 3. every truncation of a valid packet: never a panic, and the error the docs promise.
//!
//! Counts (the crate is built with opt-level 2 in test builds, see the workspace
//! `Cargo.toml`; the whole file runs in about a second): 500,000 random buffers and
//! 500,000 mutated packets, each through every parser; 20,000 round trips per `Repr`
//! kind (180,000 in all); every truncation of 4,000 valid packets (about 480,000
//! prefixes), and of 2,000 more per transport.
//! A failure names the seed, the iteration and the input in hex.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use monban_wire::tcp::{TcpOption, TcpOptions};
use monban_wire::{arp, icmp, icmpv4, icmpv6, ip, ipv4, ipv6, ndp, tcp, udp};
use monban_wire::{parse, MacAddr, TcpFlags, WireError, L4};

// ---------------------------------------------------------------------------------------
// Generator and helpers.

/// splitmix64: tiny, seeded, reproducible.
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
    fn bool(&mut self) -> bool {
        self.next() & 1 == 0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }
    fn v4(&mut self) -> Ipv4Addr {
        Ipv4Addr::from(self.u32())
    }
    fn v6(&mut self) -> Ipv6Addr {
        Ipv6Addr::from((u128::from(self.next()) << 64) | u128::from(self.next()))
    }
    fn mac(&mut self) -> MacAddr {
        let b = self.bytes(6);
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }
    /// A payload length: mostly short, sometimes a full Ethernet MTU.
    fn len(&mut self) -> usize {
        match self.below(10) {
            0 => self.below(1500),
            1 => 0,
            _ => self.below(64),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `f`; if it panics, fails naming what ran, the seed, the iteration and the input.
fn guard<R>(what: &str, seed: u64, i: usize, input: &[u8], f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => panic!(
            "{what} panicked: seed {seed:#x} iteration {i}, input ({} bytes) {}",
            input.len(),
            hex(input)
        ),
    }
}

/// Whether `part` lies inside `whole` (a parser returned a slice of its input).
fn inside(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}

// ---------------------------------------------------------------------------------------
// Every parser on one buffer.

/// Runs every view, `Repr::parse` and walker of the crate over `b`, reading every accessor
/// of each view that checked, and asserting that returned slices lie inside `b`.
/// Returns how many parsers accepted it.
fn poke_all(b: &[u8]) -> usize {
    let mut ok = 0;
    let a4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let a6 = IpAddr::V6(Ipv6Addr::LOCALHOST);

    if let Ok(p) = ipv4::Packet::new_checked(b) {
        ok += 1;
        let _ = (
            p.version(),
            p.header_len(),
            p.dscp(),
            p.ecn(),
            p.total_len(),
        );
        let _ = (
            p.ident(),
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.ttl(),
        );
        let _ = (p.protocol(), p.checksum(), p.src_addr(), p.dst_addr());
        let _ = p.verify_checksum();
        assert!(inside(b, p.options()) && inside(b, p.payload()));
        assert!(inside(b, p.after_header()));
        let r = ipv4::Repr::parse(&p).expect("a checked IPv4 packet parses");
        assert_eq!(r.payload_len, p.payload().len());
    }
    let h = ipv4::Packet::new_unchecked(b);
    if h.check_header().is_ok() {
        let _ = (
            h.header_len(),
            h.total_len(),
            h.verify_checksum(),
            h.options(),
        );
        assert!(inside(b, h.after_header()));
    }
    if let Ok(r) = ipv4::Repr::parse(&ipv4::Packet::new_unchecked(b)) {
        assert!(r.payload_len + 20 <= b.len());
    }

    if let Ok(p) = ipv6::Packet::new_checked(b) {
        ok += 1;
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.payload_len(),
        );
        let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
        assert!(inside(b, p.payload()) && inside(b, p.after_header()));
        if let Ok(u) = ipv6::walk_extension_headers(p.next_header(), p.payload()) {
            assert!(inside(b, u.payload));
            let _ = u.has_transport_header();
        }
        match ipv6::Repr::parse(&p) {
            Ok(r) => assert_eq!(r.payload_len, p.payload().len()),
            Err(e) => assert_eq!(e, WireError::Jumbogram),
        }
    }
    let _ = ipv6::Repr::parse(&ipv6::Packet::new_unchecked(b));
    for nh in [ip::HOP_BY_HOP, ip::IPV6_ROUTING, ip::IPV6_FRAGMENT, ip::TCP] {
        if let Ok(u) = ipv6::walk_extension_headers(nh, b) {
            assert!(inside(b, u.payload));
        }
    }
    if let Ok(e) = ipv6::ExtHeader::new_checked(b) {
        let _ = (e.next_header(), e.header_len());
        assert!(inside(b, e.data()));
    }
    if let Ok(f) = ipv6::FragHeader::new_checked(b) {
        let _ = (f.next_header(), f.frag_offset(), f.more_frags(), f.ident());
    }

    if let Ok(p) = tcp::Packet::new_checked(b) {
        ok += 1;
        let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number());
        let _ = (
            p.header_len(),
            p.flags(),
            p.window_len(),
            p.checksum(),
            p.urgent_at(),
        );
        let _ = (p.verify_checksum(a4, a4), p.verify_checksum(a6, a6));
        let _ = p.verify_checksum(a4, a6);
        assert!(inside(b, p.options()) && inside(b, p.payload()));
        // Each option takes at least one byte: the iterator ends.
        assert!(p.option_iter().count() <= p.options().len());
        for o in p.option_iter().flatten() {
            if let TcpOption::Sack(d) | TcpOption::Unknown { data: d, .. } = o {
                assert!(inside(b, d));
            }
        }
        let r = tcp::Repr::parse(&p).expect("a checked TCP segment parses");
        assert_eq!(r.options.len() + r.payload.len() + 20, b.len());
    }
    assert!(TcpOptions::new(b).count() <= b.len());

    if let Ok(p) = udp::Packet::new_checked(b) {
        ok += 1;
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.len(),
            p.is_empty(),
            p.checksum(),
        );
        let _ = (p.verify_checksum(a4, a4), p.verify_checksum(a6, a6));
        assert!(inside(b, p.payload()));
        let r = udp::Repr::parse(&p).expect("a checked UDP datagram parses");
        assert_eq!(r.payload.len() + 8, usize::from(p.len()));
    }

    if let Ok(p) = icmp::Packet::new_checked(b) {
        ok += 1;
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.rest_of_header());
        let _ = (p.echo_ident(), p.echo_seq_no(), p.verify_checksum_v4());
        let _ = p.verify_checksum_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
        assert!(inside(b, p.data()));
        let r4 = icmpv4::Repr::parse(&p).expect("a checked ICMP message parses");
        assert!(r4.buffer_len() <= b.len());
        let r6 = icmpv6::Repr::parse(&p).expect("a checked ICMPv6 message parses");
        assert_eq!(r6.buffer_len(), b.len());
    }
    let _ = icmpv4::Repr::parse(&icmp::Packet::new_unchecked(b));
    let _ = icmpv6::Repr::parse(&icmp::Packet::new_unchecked(b));
    if ndp::Repr::parse(b).is_ok_and(|r| r.is_some()) {
        ok += 1;
    }

    if let Ok(p) = arp::Packet::new_checked(b) {
        ok += 1;
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len());
        let _ = (p.protocol_len(), p.operation(), p.sender_hardware_addr());
        let _ = (p.sender_protocol_addr(), p.target_hardware_addr());
        let _ = p.target_protocol_addr();
        let r = arp::Repr::parse(&p).expect("a checked ARP packet parses");
        let _ = (r.is_ethernet_ipv4(), r.is_gratuitous());
    }
    if let Ok((_, rest)) = arp::EthernetHeader::parse(b) {
        assert!(inside(b, rest));
    }
    let _ = arp::parse_frame(b);

    if let Ok(p) = parse(b) {
        ok += 1;
        let slice = match p.l4 {
            L4::Tcp { payload, .. }
            | L4::Udp { payload, .. }
            | L4::EchoReply { payload, .. }
            | L4::EchoRequest { payload, .. } => payload,
            _ => &[],
        };
        assert!(inside(b, slice));
    }
    ok
}

// ---------------------------------------------------------------------------------------
// Valid packets, built by the crate's own emitters from random Reprs.

/// An owned TCP option, so that random ones outlive the `TcpOption` views of them.
#[derive(Debug, Clone)]
enum Opt {
    Eol,
    Nop,
    Mss(u16),
    Ws(u8),
    SackPerm,
    Sack(Vec<u8>),
    Ts(u32, u32),
    Unknown(u8, Vec<u8>),
}

impl Opt {
    fn view(&self) -> TcpOption<'_> {
        match self {
            Opt::Eol => TcpOption::EndOfList,
            Opt::Nop => TcpOption::NoOperation,
            Opt::Mss(v) => TcpOption::MaxSegmentSize(*v),
            Opt::Ws(v) => TcpOption::WindowScale(*v),
            Opt::SackPerm => TcpOption::SackPermitted,
            Opt::Sack(d) => TcpOption::Sack(d),
            Opt::Ts(a, b) => TcpOption::Timestamp {
                tsval: *a,
                tsecr: *b,
            },
            Opt::Unknown(kind, d) => TcpOption::Unknown {
                kind: *kind,
                data: d,
            },
        }
    }
}

/// Random valid options, at most 40 bytes in all; an end-of-list only last.
fn random_options(rng: &mut Rng) -> Vec<Opt> {
    let mut out: Vec<Opt> = Vec::new();
    let mut len = 0;
    for _ in 0..rng.below(8) {
        let o = match rng.below(9) {
            0 => Opt::Nop,
            1 => Opt::Mss(rng.u16()),
            2 => Opt::Ws(rng.u8()),
            3 => Opt::SackPerm,
            4 => {
                let n = 8 * (1 + rng.below(4));
                Opt::Sack(rng.bytes(n))
            }
            5 | 6 => Opt::Ts(rng.u32(), rng.u32()),
            7 => {
                // Kinds the parser does not know.
                let kind = loop {
                    let k = rng.u8();
                    if ![0, 1, 2, 3, 4, 5, 8].contains(&k) {
                        break k;
                    }
                };
                let n = rng.below(7);
                Opt::Unknown(kind, rng.bytes(n))
            }
            _ => Opt::Eol,
        };
        let n = o.view().buffer_len();
        if len + n > tcp::MAX_OPTIONS_LEN {
            break;
        }
        len += n;
        let last = matches!(o, Opt::Eol);
        out.push(o);
        if last {
            break;
        }
    }
    out
}

fn options_bytes(opts: &[Opt]) -> Vec<u8> {
    let mut v = vec![0u8; 64];
    let mut at = 0;
    for o in opts {
        at += o.view().emit(&mut v[at..]).expect("option fits");
    }
    v.truncate(at);
    v
}

/// A random address pair of one family.
fn pair(rng: &mut Rng) -> (IpAddr, IpAddr) {
    if rng.bool() {
        (IpAddr::V4(rng.v4()), IpAddr::V4(rng.v4()))
    } else {
        (IpAddr::V6(rng.v6()), IpAddr::V6(rng.v6()))
    }
}

/// Wraps a transport message in an IP header of the pair's family.
fn ip_wrap(rng: &mut Rng, src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut buf = vec![0u8; 20 + l4.len()];
            buf[20..].copy_from_slice(l4);
            let r = ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: proto,
                payload_len: l4.len(),
                ttl: rng.u8(),
                ident: rng.u16(),
                dont_frag: rng.bool(),
            };
            r.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]))
                .expect("IPv4 header fits");
            buf
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut buf = vec![0u8; 40 + l4.len()];
            buf[40..].copy_from_slice(l4);
            let r = ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: proto,
                payload_len: l4.len(),
                hop_limit: rng.u8(),
            };
            r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]))
                .expect("IPv6 header fits");
            buf
        }
        _ => unreachable!("pair() gives one family"),
    }
}

/// A random valid packet: an IP packet carrying TCP, UDP or ICMP, or a bare transport
/// message, ARP packet or frame, or NDP message.
fn random_packet(rng: &mut Rng) -> Vec<u8> {
    let (src, dst) = pair(rng);
    let payload = {
        let n = rng.len();
        rng.bytes(n)
    };
    let (proto, l4) = match rng.below(3) {
        0 => {
            let opts = options_bytes(&random_options(rng));
            let r = tcp::Repr {
                src_port: rng.u16(),
                dst_port: rng.u16(),
                seq_number: rng.u32(),
                ack_number: rng.u32(),
                flags: TcpFlags(rng.u8()),
                window_len: rng.u16(),
                urgent_at: rng.u16(),
                options: &opts,
                payload: &payload,
            };
            let mut seg = vec![0u8; r.buffer_len()];
            r.emit(&mut seg, src, dst).expect("TCP fits");
            (ip::TCP, seg)
        }
        1 => {
            let r = udp::Repr {
                src_port: rng.u16(),
                dst_port: rng.u16(),
                payload: &payload,
            };
            let mut seg = vec![0u8; r.buffer_len()];
            r.emit(&mut seg, src, dst).expect("UDP fits");
            (ip::UDP, seg)
        }
        _ => match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if rng.below(3) == 0 {
                    let r = random_ndp(rng);
                    let mut m = vec![0u8; r.buffer_len()];
                    r.emit(&mut m, s, d).expect("NDP fits");
                    (ip::ICMPV6, m)
                } else {
                    let r = random_icmpv6(rng, &payload);
                    let mut m = vec![0u8; r.buffer_len()];
                    r.emit(&mut m, s, d).expect("ICMPv6 fits");
                    (ip::ICMPV6, m)
                }
            }
            _ => {
                let r = random_icmpv4(rng, &payload);
                let mut m = vec![0u8; r.buffer_len()];
                r.emit(&mut m).expect("ICMP fits");
                (ip::ICMP, m)
            }
        },
    };
    match rng.below(8) {
        0 => l4,
        1 => {
            let r = random_arp(rng);
            let mut buf = vec![0u8; arp::FRAME_LEN];
            if rng.bool() {
                r.emit_frame(rng.mac(), &mut buf).expect("frame fits");
            } else {
                buf.truncate(arp::PACKET_LEN);
                r.emit(&mut buf).expect("ARP fits");
            }
            buf
        }
        _ => ip_wrap(rng, src, dst, proto, &l4),
    }
}

fn random_icmpv4<'a>(rng: &mut Rng, data: &'a [u8]) -> icmpv4::Repr<'a> {
    use icmpv4::Repr as R;
    match rng.below(8) {
        0 => R::EchoRequest {
            ident: rng.u16(),
            seq_no: rng.u16(),
            data,
        },
        1 => R::EchoReply {
            ident: rng.u16(),
            seq_no: rng.u16(),
            data,
        },
        2 => R::DstUnreachable {
            code: rng.u8(),
            next_hop_mtu: rng.u16(),
            quoted: data,
        },
        3 => R::Timestamp {
            ident: rng.u16(),
            seq_no: rng.u16(),
            originate: rng.u32(),
            receive: rng.u32(),
            transmit: rng.u32(),
        },
        4 => R::TimestampReply {
            ident: rng.u16(),
            seq_no: rng.u16(),
            originate: rng.u32(),
            receive: rng.u32(),
            transmit: rng.u32(),
        },
        5 => R::TimeExceeded {
            code: rng.u8(),
            quoted: data,
        },
        6 => R::ParamProblem {
            code: rng.u8(),
            pointer: rng.u8(),
            quoted: data,
        },
        _ => {
            // Other: a type that parses as Other (echo and timestamp types only with a
            // non-zero code, which the parser does not read as echo or timestamp).
            let msg_type = loop {
                let t = rng.u8();
                if ![3, 11, 12].contains(&t) {
                    break t;
                }
            };
            let code = if [0, 8, 13, 14].contains(&msg_type) {
                1 + rng.below(255) as u8
            } else {
                rng.u8()
            };
            R::Other {
                msg_type,
                code,
                rest_of_header: rng.u32(),
                data,
            }
        }
    }
}

fn random_icmpv6<'a>(rng: &mut Rng, data: &'a [u8]) -> icmpv6::Repr<'a> {
    use icmpv6::Repr as R;
    match rng.below(7) {
        0 => R::EchoRequest {
            ident: rng.u16(),
            seq_no: rng.u16(),
            data,
        },
        1 => R::EchoReply {
            ident: rng.u16(),
            seq_no: rng.u16(),
            data,
        },
        2 => R::DstUnreachable {
            code: rng.u8(),
            quoted: data,
        },
        3 => R::PacketTooBig {
            mtu: rng.u32(),
            quoted: data,
        },
        4 => R::TimeExceeded {
            code: rng.u8(),
            quoted: data,
        },
        5 => R::ParamProblem {
            code: rng.u8(),
            pointer: rng.u32(),
            quoted: data,
        },
        _ => {
            let msg_type = loop {
                let t = rng.u8();
                if ![1, 3, 4].contains(&t) {
                    break t;
                }
            };
            let code = if [2, 128, 129].contains(&msg_type) {
                1 + rng.below(255) as u8
            } else {
                rng.u8()
            };
            R::Other {
                msg_type,
                code,
                rest_of_header: rng.u32(),
                data,
            }
        }
    }
}

fn random_arp(rng: &mut Rng) -> arp::Repr {
    arp::Repr {
        hardware_type: if rng.bool() {
            arp::HTYPE_ETHERNET
        } else {
            rng.u16()
        },
        protocol_type: if rng.bool() {
            arp::PTYPE_IPV4
        } else {
            rng.u16()
        },
        operation: rng.u16(),
        sender_hardware_addr: rng.mac(),
        sender_protocol_addr: rng.v4(),
        target_hardware_addr: rng.mac(),
        target_protocol_addr: rng.v4(),
    }
}

fn random_ndp(rng: &mut Rng) -> ndp::Repr {
    let lladdr = if rng.bool() { Some(rng.mac()) } else { None };
    if rng.bool() {
        ndp::Repr::Solicit {
            target: rng.v6(),
            source_lladdr: lladdr,
        }
    } else {
        let all = ndp::flags::ROUTER | ndp::flags::SOLICITED | ndp::flags::OVERRIDE;
        ndp::Repr::Advert {
            flags: rng.u8() & all,
            target: rng.v6(),
            target_lladdr: lladdr,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Mutation.

const INTERESTING: [u16; 12] = [0, 1, 4, 5, 7, 8, 20, 40, 0x7fff, 0x8000, 0xfffe, 0xffff];

/// One to four random changes: byte set, bit flip, interesting 16-bit value, cut, insert,
/// delete, duplicated chunk, nibble tweak of the first byte (version and IHL).
fn mutate(rng: &mut Rng, v: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.u8();
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            2 if len > 1 => {
                let i = rng.below(len - 1);
                let x = INTERESTING[rng.below(INTERESTING.len())];
                let x = if rng.bool() {
                    x
                } else {
                    x.wrapping_add(len as u16)
                };
                v[i..i + 2].copy_from_slice(&x.to_be_bytes());
            }
            3 => v.truncate(rng.below(len + 1)),
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let junk = rng.bytes(n);
                v.splice(at..at, junk);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(16)).min(len - at);
                v.drain(at..at + n);
            }
            6 if len > 0 => {
                let from = rng.below(len);
                let n = rng.below(len - from + 1).min(64);
                let chunk = v[from..from + n].to_vec();
                let to = rng.below(len + 1);
                v.splice(to..to, chunk);
            }
            _ if len > 0 => v[0] = (v[0] & 0xf0) | (rng.u8() & 0x0f),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// (1) Random and mutated input never panics.

#[test]
fn random_bytes_never_panic_in_any_parser() {
    const SEED: u64 = 0x6d6f_6e62_616e_7731;
    let mut rng = Rng(SEED);
    let mut accepted = 0usize;
    for i in 0..500_000 {
        let n = match rng.below(8) {
            0 => rng.below(1600),
            _ => rng.below(96),
        };
        let mut b = rng.bytes(n);
        // Bias the headers so the parsers get past their first checks often.
        if n > 0 && rng.bool() {
            b[0] = [0x45, 0x46, 0x4f, 0x60, 0x61, 0x50][rng.below(6)];
        }
        if n > 9 && b[0] >> 4 == 4 && rng.bool() {
            b[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            b[6] &= 0xe0;
            b[9] = [1, 6, 17, 58][rng.below(4)];
        }
        if n > 6 && b[0] >> 4 == 6 && rng.bool() {
            b[4..6].copy_from_slice(&(n as u16).wrapping_sub(40).to_be_bytes());
            b[6] = [0, 6, 17, 43, 44, 58, 60][rng.below(7)];
        }
        if n > 12 && rng.below(4) == 0 {
            b[12] = (5 + rng.below(11) as u8) << 4; // TCP data offset 5..15
        }
        if n > 5 && rng.below(4) == 0 {
            b[4..6].copy_from_slice(&(n as u16).to_be_bytes()); // UDP length
        }
        if n > 1 && rng.below(4) == 0 {
            b[0] = [135, 136, 3, 11, 12, 13, 14, 1, 2, 4, 128, 129][rng.below(12)];
            b[1] = 0;
        }
        accepted += guard("random bytes", SEED, i, &b, || poke_all(&b));
    }
    // The biasing gets random bytes past the first checks: about 1.9 parsers accept each.
    assert!(accepted > 750_000, "only {accepted} parses accepted");
}

#[test]
fn mutated_valid_packets_never_panic_in_any_parser() {
    const SEED: u64 = 0x6d6f_6e62_616e_7732;
    let mut rng = Rng(SEED);
    let mut accepted = 0usize;
    for i in 0..500_000 {
        let mut p = random_packet(&mut rng);
        mutate(&mut rng, &mut p);
        accepted += guard("mutated packet", SEED, i, &p, || poke_all(&p));
    }
    // Mutants stay close to valid packets: about 2.4 parsers accept each.
    assert!(accepted > 1_000_000, "only {accepted} parses accepted");
}

// ---------------------------------------------------------------------------------------
// (2) Parse after emit is the identity, and checksums verify.

const ROUND_TRIPS: usize = 20_000;

#[test]
fn ipv4_round_trip() {
    const SEED: u64 = 0x0004;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let r = ipv4::Repr {
            src_addr: rng.v4(),
            dst_addr: rng.v4(),
            protocol: rng.u8(),
            payload_len: if i % 100 == 0 { 65515 } else { rng.len() },
            ttl: rng.u8(),
            ident: rng.u16(),
            dont_frag: rng.bool(),
        };
        let mut buf = vec![0u8; 20 + r.payload_len + rng.below(4)];
        r.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]))
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: emit {r:?}: {e}"));
        let p = ipv4::Packet::new_checked(&buf[..])
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: {e} on {}", hex(&buf[..20])));
        assert!(
            p.verify_checksum(),
            "seed {SEED:#x} #{i}: {}",
            hex(&buf[..20])
        );
        assert_eq!(ipv4::Repr::parse(&p), Ok(r), "seed {SEED:#x} #{i}");
        assert_eq!(p.payload().len(), r.payload_len);
    }
    // One byte more than the length field holds is refused, not wrapped.
    let r = ipv4::Repr {
        src_addr: Ipv4Addr::LOCALHOST,
        dst_addr: Ipv4Addr::LOCALHOST,
        protocol: 6,
        payload_len: 65516,
        ttl: 1,
        ident: 0,
        dont_frag: false,
    };
    let mut buf = [0u8; 20];
    assert_eq!(
        r.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..])),
        Err(WireError::TooLong)
    );
    assert_eq!(
        r.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..19])),
        Err(WireError::BufferTooSmall)
    );
}

#[test]
fn ipv6_round_trip() {
    const SEED: u64 = 0x0006;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let r = ipv6::Repr {
            src_addr: rng.v6(),
            dst_addr: rng.v6(),
            next_header: rng.u8(),
            payload_len: if i % 100 == 0 { 65535 } else { 1 + rng.len() },
            hop_limit: rng.u8(),
        };
        let mut buf = vec![0u8; 40 + r.payload_len + rng.below(4)];
        r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]))
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: emit {r:?}: {e}"));
        let p = ipv6::Packet::new_checked(&buf[..])
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: {e} on {}", hex(&buf[..40])));
        assert_eq!(ipv6::Repr::parse(&p), Ok(r), "seed {SEED:#x} #{i}");
        assert_eq!((p.traffic_class(), p.flow_label()), (0, 0));
    }
    // Payload length 0 emits but reads back as the unsupported jumbogram.
    let r = ipv6::Repr {
        src_addr: Ipv6Addr::LOCALHOST,
        dst_addr: Ipv6Addr::LOCALHOST,
        next_header: ip::IPV6_NO_NEXT,
        payload_len: 0,
        hop_limit: 1,
    };
    let mut buf = [0u8; 40];
    r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]))
        .unwrap();
    assert_eq!(
        ipv6::Repr::parse(&ipv6::Packet::new_unchecked(&buf[..])),
        Err(WireError::Jumbogram)
    );
    let r = ipv6::Repr {
        payload_len: 65536,
        ..r
    };
    assert_eq!(
        r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..])),
        Err(WireError::TooLong)
    );
}

#[test]
fn tcp_round_trip_with_options() {
    const SEED: u64 = 0x0600;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let opts = random_options(&mut rng);
        let opt_bytes = options_bytes(&opts);
        let payload = {
            let n = rng.len();
            rng.bytes(n)
        };
        let (src, dst) = pair(&mut rng);
        let r = tcp::Repr {
            src_port: rng.u16(),
            dst_port: rng.u16(),
            seq_number: rng.u32(),
            ack_number: rng.u32(),
            flags: TcpFlags(rng.u8()),
            window_len: rng.u16(),
            urgent_at: rng.u16(),
            options: &opt_bytes,
            payload: &payload,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        let n = r
            .emit(&mut buf, src, dst)
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: emit {r:?}: {e}"));
        assert_eq!(n, buf.len());
        let ctx = || format!("seed {SEED:#x} #{i}: {}", hex(&buf));
        let p = tcp::Packet::new_checked(&buf[..]).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert!(p.verify_checksum(src, dst), "{}", ctx());
        let back = tcp::Repr::parse(&p).unwrap();
        // Options come back padded with zero (end-of-list) bytes to a multiple of 4.
        let padded = tcp::padded_options_len(&opt_bytes);
        assert_eq!(back.options.len(), padded, "{}", ctx());
        assert_eq!(
            &back.options[..opt_bytes.len()],
            &opt_bytes[..],
            "{}",
            ctx()
        );
        assert!(back.options[opt_bytes.len()..].iter().all(|&b| b == 0));
        assert_eq!(
            tcp::Repr {
                options: &opt_bytes,
                ..back
            },
            r,
            "{}",
            ctx()
        );
        // The options read back one by one as generated (then the padding's end-of-list).
        let mut want: Vec<TcpOption> = opts.iter().map(Opt::view).collect();
        if padded > opt_bytes.len() && !matches!(opts.last(), Some(Opt::Eol)) {
            want.push(TcpOption::EndOfList);
        }
        let got: Vec<TcpOption> = p
            .option_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert_eq!(got, want, "{}", ctx());
    }
    // Over-long options are refused.
    let long = [1u8; 41];
    let r = tcp::Repr {
        src_port: 1,
        dst_port: 2,
        seq_number: 0,
        ack_number: 0,
        flags: TcpFlags::SYN,
        window_len: 0,
        urgent_at: 0,
        options: &long,
        payload: &[],
    };
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(
        r.emit(&mut [0u8; 100], a, a),
        Err(WireError::OptionsTooLong)
    );
}

#[test]
fn udp_round_trip() {
    const SEED: u64 = 0x1700;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let payload = {
            let n = rng.len();
            rng.bytes(n)
        };
        let (src, dst) = pair(&mut rng);
        let r = udp::Repr {
            src_port: rng.u16(),
            dst_port: rng.u16(),
            payload: &payload,
        };
        // Room after the datagram: the length field, not the buffer, ends the payload.
        let mut buf = vec![0u8; r.buffer_len() + rng.below(4)];
        r.emit(&mut buf, src, dst)
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: emit {r:?}: {e}"));
        let ctx = || format!("seed {SEED:#x} #{i}: {}", hex(&buf));
        let p = udp::Packet::new_checked(&buf[..]).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert!(p.verify_checksum(src, dst), "{}", ctx());
        assert_ne!(p.checksum(), 0, "{}", ctx()); // 0 means "no checksum" in UDP
        assert_eq!(udp::Repr::parse(&p), Ok(r), "{}", ctx());
    }
}

#[test]
fn icmpv4_round_trip() {
    const SEED: u64 = 0x0100;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let data = {
            let n = rng.len();
            rng.bytes(n)
        };
        let r = random_icmpv4(&mut rng, &data);
        let mut buf = vec![0u8; r.buffer_len()];
        let n = r
            .emit(&mut buf)
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: emit {r:?}: {e}"));
        assert_eq!(n, buf.len());
        let ctx = || format!("seed {SEED:#x} #{i}: {}", hex(&buf));
        let p = icmp::Packet::new_checked(&buf[..]).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert!(p.verify_checksum_v4(), "{}", ctx());
        assert_eq!(icmpv4::Repr::parse(&p), Ok(r), "{}", ctx());
    }
}

#[test]
fn icmpv6_round_trip() {
    const SEED: u64 = 0x3a00;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let data = {
            let n = rng.len();
            rng.bytes(n)
        };
        let r = random_icmpv6(&mut rng, &data);
        let (s, d) = (rng.v6(), rng.v6());
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf, s, d)
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: emit {r:?}: {e}"));
        let ctx = || format!("seed {SEED:#x} #{i}: {}", hex(&buf));
        let p = icmp::Packet::new_checked(&buf[..]).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert!(p.verify_checksum_v6(s, d), "{}", ctx());
        assert_eq!(icmpv6::Repr::parse(&p), Ok(r), "{}", ctx());
    }
}

#[test]
fn arp_round_trip() {
    const SEED: u64 = 0x0806;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let r = random_arp(&mut rng);
        let mut buf = vec![0u8; arp::PACKET_LEN + rng.below(32)];
        assert_eq!(r.emit(&mut buf), Ok(arp::PACKET_LEN));
        let ctx = || format!("seed {SEED:#x} #{i}: {}", hex(&buf));
        let p = arp::Packet::new_checked(&buf[..]).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert_eq!(arp::Repr::parse(&p), Ok(r), "{}", ctx());
        let dst = rng.mac();
        let mut frame = vec![0u8; arp::FRAME_LEN];
        assert_eq!(r.emit_frame(dst, &mut frame), Ok(arp::FRAME_LEN));
        let (eth, back) = arp::parse_frame(&frame)
            .unwrap_or_else(|e| panic!("{e}: seed {SEED:#x} #{i}: {}", hex(&frame)))
            .expect("an ARP frame");
        assert_eq!(back, r);
        assert_eq!(
            eth,
            arp::EthernetHeader {
                dst,
                src: r.sender_hardware_addr,
                ethertype: arp::ETHERTYPE_ARP
            }
        );
    }
}

#[test]
fn ndp_round_trip() {
    const SEED: u64 = 0x0087;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let r = random_ndp(&mut rng);
        let (s, d) = (rng.v6(), rng.v6());
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf, s, d)
            .unwrap_or_else(|e| panic!("seed {SEED:#x} #{i}: emit {r:?}: {e}"));
        let ctx = || format!("seed {SEED:#x} #{i}: {}", hex(&buf));
        let p = icmp::Packet::new_checked(&buf[..]).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert!(p.verify_checksum_v6(s, d), "{}", ctx());
        assert_eq!(ndp::Repr::parse(&buf), Ok(Some(r)), "{}", ctx());
    }
}

/// Whole packets: IP header and transport built by the per-protocol emitters, read back
/// by the summary parser the engine uses.
#[test]
fn ip_packets_round_trip_through_the_summary_parser() {
    const SEED: u64 = 0x5e5e;
    let mut rng = Rng(SEED);
    for i in 0..ROUND_TRIPS {
        let (src, dst) = pair(&mut rng);
        let payload = {
            let n = rng.len();
            rng.bytes(n)
        };
        let (sp, dp, seq, ack, flags, win) = (
            rng.u16(),
            rng.u16(),
            rng.u32(),
            rng.u32(),
            TcpFlags(rng.u8()),
            rng.u16(),
        );
        let opts = options_bytes(&random_options(&mut rng));
        let (proto, l4, want) = if rng.bool() {
            let r = tcp::Repr {
                src_port: sp,
                dst_port: dp,
                seq_number: seq,
                ack_number: ack,
                flags,
                window_len: win,
                urgent_at: 0,
                options: &opts,
                payload: &payload,
            };
            let mut seg = vec![0u8; r.buffer_len()];
            r.emit(&mut seg, src, dst).unwrap();
            let want = L4::Tcp {
                src_port: sp,
                dst_port: dp,
                seq,
                ack,
                flags,
                window: win,
                payload: &payload,
            };
            (ip::TCP, seg, want)
        } else {
            let r = udp::Repr {
                src_port: sp,
                dst_port: dp,
                payload: &payload,
            };
            let mut seg = vec![0u8; r.buffer_len()];
            r.emit(&mut seg, src, dst).unwrap();
            let want = L4::Udp {
                src_port: sp,
                dst_port: dp,
                payload: &payload,
            };
            (ip::UDP, seg, want)
        };
        let mut pkt = ip_wrap(&mut rng, src, dst, proto, &l4);
        let ttl = match src {
            IpAddr::V4(_) => pkt[8],
            IpAddr::V6(_) => pkt[7],
        };
        // Link padding after the packet is ignored.
        let pad = rng.below(8);
        pkt.extend(std::iter::repeat(0).take(pad));
        let got = parse(&pkt).unwrap_or_else(|e| panic!("{e}: seed {SEED:#x} #{i}: {}", hex(&pkt)));
        assert_eq!(
            (got.src, got.dst, got.ttl, got.l4),
            (src, dst, ttl, want),
            "seed {SEED:#x} #{i}: {}",
            hex(&pkt)
        );
    }
}

// ---------------------------------------------------------------------------------------
// (3) Every truncation of a valid packet errors cleanly.

#[test]
fn every_truncation_of_valid_packets_errors_cleanly() {
    const SEED: u64 = 0x7275_6e63;
    let mut rng = Rng(SEED);
    let mut prefixes = 0usize;
    for i in 0..4_000 {
        let full = random_packet(&mut rng);
        for n in 0..full.len() {
            prefixes += 1;
            let b = &full[..n];
            guard("truncated packet", SEED, i, b, || poke_all(b));
            let fail = |what: &str, got: &dyn std::fmt::Debug| {
                panic!(
                    "{what}: seed {SEED:#x} #{i}, prefix {n} of {}: {got:?}",
                    hex(&full)
                )
            };
            match full[0] >> 4 {
                // An IP packet we built: total/payload length is the whole buffer, so
                // every prefix is truncated, for the views and for the summary parser.
                4 if ipv4::Packet::new_checked(&full[..])
                    .is_ok_and(|p| usize::from(p.total_len()) == full.len()) =>
                {
                    let r = ipv4::Repr::parse(&ipv4::Packet::new_unchecked(b));
                    if r != Err(WireError::Truncated) {
                        fail("IPv4 prefix", &r);
                    }
                    if parse(b).is_ok() {
                        fail("IPv4 prefix through parse", &parse(b));
                    }
                }
                6 if ipv6::Packet::new_checked(&full[..])
                    .is_ok_and(|p| usize::from(p.payload_len()) + 40 == full.len()) =>
                {
                    let r = ipv6::Repr::parse(&ipv6::Packet::new_unchecked(b));
                    if r != Err(WireError::Truncated) {
                        fail("IPv6 prefix", &r);
                    }
                    if parse(b).is_ok() {
                        fail("IPv6 prefix through parse", &parse(b));
                    }
                }
                _ => {}
            }
        }
    }
    assert!(prefixes > 400_000, "only {prefixes} prefixes");
}

/// Per-protocol truncation: the documented error below each header, and what is left
/// read as a shorter message where the format allows it.
#[test]
fn transport_truncations_give_the_documented_errors() {
    const SEED: u64 = 0x7472_756e;
    let mut rng = Rng(SEED);
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    for i in 0..2_000 {
        let ctx = |b: &[u8], n: usize| format!("seed {SEED:#x} #{i}, prefix {n} of {}", hex(b));
        // TCP: below 20 Truncated, below the header length BadHeaderLen, then a segment
        // with a shorter payload (TCP has no length field).
        let opts = options_bytes(&random_options(&mut rng));
        let n = rng.below(40);
        let payload = rng.bytes(n);
        let r = tcp::Repr {
            src_port: rng.u16(),
            dst_port: rng.u16(),
            seq_number: rng.u32(),
            ack_number: rng.u32(),
            flags: TcpFlags(rng.u8()),
            window_len: rng.u16(),
            urgent_at: rng.u16(),
            options: &opts,
            payload: &payload,
        };
        let mut seg = vec![0u8; r.buffer_len()];
        r.emit(&mut seg, a, a).unwrap();
        let hl = r.header_len();
        for n in 0..seg.len() {
            let got = tcp::Repr::parse(&tcp::Packet::new_unchecked(&seg[..n]));
            match n {
                _ if n < 20 => assert_eq!(got, Err(WireError::Truncated), "{}", ctx(&seg, n)),
                _ if n < hl => assert_eq!(got, Err(WireError::BadHeaderLen), "{}", ctx(&seg, n)),
                _ => assert_eq!(
                    got.map(|g| g.payload),
                    Ok(&payload[..n - hl]),
                    "{}",
                    ctx(&seg, n)
                ),
            }
        }

        // UDP: below 8 Truncated, then BadLength (the length field says more).
        let r = udp::Repr {
            src_port: rng.u16(),
            dst_port: rng.u16(),
            payload: &payload,
        };
        let mut dgram = vec![0u8; r.buffer_len()];
        r.emit(&mut dgram, a, a).unwrap();
        for n in 0..dgram.len() {
            let got = udp::Repr::parse(&udp::Packet::new_unchecked(&dgram[..n]));
            let want = if n < 8 {
                WireError::Truncated
            } else {
                WireError::BadLength
            };
            assert_eq!(got, Err(want), "{}", ctx(&dgram, n));
        }

        // ICMP: below 8 Truncated; after that the message reads with less data.
        let r = random_icmpv4(&mut rng, &payload);
        let mut m = vec![0u8; r.buffer_len()];
        r.emit(&mut m).unwrap();
        for n in 0..m.len() {
            let p = icmp::Packet::new_unchecked(&m[..n]);
            let (g4, g6) = (icmpv4::Repr::parse(&p), icmpv6::Repr::parse(&p));
            if n < 8 {
                assert_eq!(g4, Err(WireError::Truncated), "{}", ctx(&m, n));
                assert_eq!(g6, Err(WireError::Truncated), "{}", ctx(&m, n));
            } else {
                assert!(g4.is_ok() && g6.is_ok(), "{}", ctx(&m, n));
            }
        }

        // ARP: any prefix of the 28 bytes is Truncated.
        let r = random_arp(&mut rng);
        let mut pkt = [0u8; arp::PACKET_LEN];
        r.emit(&mut pkt).unwrap();
        for n in 0..pkt.len() {
            let got = arp::Repr::parse(&arp::Packet::new_unchecked(&pkt[..n]));
            assert_eq!(got, Err(WireError::Truncated), "{}", ctx(&pkt, n));
        }

        // NDP: Truncated before the 24-byte body; the body alone reads without its
        // link-layer option; a cut option is BadOption (RFC 4861 §7.1.1: drop it).
        let r = random_ndp(&mut rng);
        let mut msg = vec![0u8; r.buffer_len()];
        r.emit(&mut msg, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST)
            .unwrap();
        for n in 0..msg.len() {
            let got = ndp::Repr::parse(&msg[..n]);
            match n {
                _ if n < ndp::BODY_LEN => {
                    assert_eq!(got, Err(WireError::Truncated), "{}", ctx(&msg, n))
                }
                ndp::BODY_LEN => assert_eq!(
                    got.map(|g| g.map(|g| g.target())),
                    Ok(Some(r.target())),
                    "{}",
                    ctx(&msg, n)
                ),
                _ => assert_eq!(got, Err(WireError::BadOption), "{}", ctx(&msg, n)),
            }
        }
    }
}
