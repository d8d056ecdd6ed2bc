//! Packets written by hand for the simulation tests: IPv4 or IPv6 by the address given,
//! checksums left at zero (the detector never checks them).

use std::net::IpAddr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

/// Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
pub const LINUX_SYN_OPTS: [u8; 20] = [
    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];
/// nmap's raw SYN option: MSS 1460 alone.
pub const NMAP_SYN_OPTS: [u8; 4] = [2, 4, 5, 0xb4];

pub fn addr(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// IP header fields a test may set.
#[derive(Clone, Copy)]
pub struct Ip {
    pub ttl: u8,
    pub id: u16,
    pub df: bool,
}

impl Default for Ip {
    fn default() -> Ip {
        Ip {
            ttl: 64,
            id: 0x4242,
            df: false,
        }
    }
}

pub fn ip(src: &str, dst: &str, proto: u8, h: Ip, l4: &[u8]) -> Vec<u8> {
    match (addr(src), addr(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + l4.len()) as u16;
            let mut b = vec![0x45, 0];
            b.extend_from_slice(&total.to_be_bytes());
            b.extend_from_slice(&h.id.to_be_bytes());
            b.extend_from_slice(&(if h.df { 0x4000u16 } else { 0 }).to_be_bytes());
            b.extend_from_slice(&[h.ttl, proto, 0, 0]);
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            b.extend_from_slice(l4);
            b
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut b = vec![0x60, 0, 0, 0];
            b.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            b.extend_from_slice(&[proto, h.ttl]);
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            b.extend_from_slice(l4);
            b
        }
        _ => panic!("mixed families"),
    }
}

/// A TCP segment's fields.
#[derive(Clone, Copy)]
pub struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub opts: &'a [u8],
    pub payload: usize,
}

impl Default for Tcp<'_> {
    fn default() -> Self {
        Tcp {
            sport: 40000,
            dport: 80,
            seq: 1000,
            ack: 0,
            flags: SYN,
            window: 1024,
            opts: &[],
            payload: 0,
        }
    }
}

pub fn tcp(src: &str, dst: &str, h: Ip, t: Tcp<'_>) -> Vec<u8> {
    let mut opts = t.opts.to_vec();
    while !opts.len().is_multiple_of(4) {
        opts.push(1);
    }
    let off = ((20 + opts.len()) / 4) as u8;
    let mut b = Vec::new();
    b.extend_from_slice(&t.sport.to_be_bytes());
    b.extend_from_slice(&t.dport.to_be_bytes());
    b.extend_from_slice(&t.seq.to_be_bytes());
    b.extend_from_slice(&t.ack.to_be_bytes());
    b.extend_from_slice(&[off << 4, t.flags]);
    b.extend_from_slice(&t.window.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&opts);
    b.extend(std::iter::repeat_n(b'x', t.payload));
    ip(src, dst, 6, h, &b)
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16, h: Ip, payload: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend(std::iter::repeat_n(0u8, payload));
    ip(src, dst, 17, h, &b)
}

fn icmp_proto(src: &str) -> u8 {
    if addr(src).is_ipv6() {
        58
    } else {
        1
    }
}

pub fn echo(src: &str, dst: &str, h: Ip, ident: u16, seq: u16, data: usize) -> Vec<u8> {
    let ty = if addr(src).is_ipv6() { 128 } else { 8 };
    let mut b = vec![ty, 0, 0, 0];
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend(std::iter::repeat_n(0u8, data));
    ip(src, dst, icmp_proto(src), h, &b)
}

pub fn echo_reply(src: &str, dst: &str, ident: u16, seq: u16) -> Vec<u8> {
    let ty = if addr(src).is_ipv6() { 129 } else { 0 };
    let mut b = vec![ty, 0, 0, 0];
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    ip(src, dst, icmp_proto(src), Ip::default(), &b)
}

pub fn timestamp(src: &str, dst: &str, h: Ip, ident: u16, seq: u16) -> Vec<u8> {
    let mut b = vec![13, 0, 0, 0];
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&[0; 12]);
    ip(src, dst, 1, h, &b)
}

/// An ICMP (or ICMPv6) destination unreachable from `src` quoting `probe`.
pub fn unreachable(src: &str, dst: &str, code: u8, probe: &[u8]) -> Vec<u8> {
    let ty = if addr(src).is_ipv6() { 1 } else { 3 };
    let mut b = vec![ty, code, 0, 0, 0, 0, 0, 0];
    let quoted_len = if addr(src).is_ipv6() { 48 } else { 28 };
    b.extend_from_slice(&probe[..probe.len().min(quoted_len)]);
    ip(src, dst, icmp_proto(src), Ip::default(), &b)
}

pub fn other_proto(src: &str, dst: &str, proto: u8, h: Ip) -> Vec<u8> {
    ip(src, dst, proto, h, &[0; 8])
}
