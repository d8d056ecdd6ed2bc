//! Test helpers: a seeded xorshift generator and a checksum reference written without
//! the crate's checksum module.

/// xorshift64* — small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn u8(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    pub fn u16(&mut self) -> u16 {
        (self.next_u64() >> 48) as u16
    }

    pub fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bool(&mut self) -> bool {
        self.next_u64() & (1 << 40) != 0
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.u8();
        }
    }
}

/// Reference ones-complement sum over the concatenation of `chunks`, byte by byte: each
/// even-indexed byte is a high byte.
pub fn ref_sum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut i = 0usize;
    for c in chunks {
        for b in c.iter() {
            sum += if i % 2 == 0 {
                u64::from(*b) << 8
            } else {
                u64::from(*b)
            };
            i += 1;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Pseudo-header bytes (RFC 768 / RFC 8200 layout) for a transport checksum.
pub fn pseudo_header_bytes(
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    proto: u8,
    len: usize,
) -> Vec<u8> {
    use std::net::IpAddr::{V4, V6};
    let mut v = Vec::new();
    match (src, dst) {
        (V4(s), V4(d)) => {
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&[0, proto]);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (V6(s), V6(d)) => {
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&(len as u32).to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => panic!("family mismatch in test"),
    }
    v
}

/// Checks every checksum of a packet built by this crate against [`ref_sum`]: the IPv4
/// header sum, and the transport sum over pseudo-header (ICMPv4: none) and segment.
pub fn assert_checksums(packet: &[u8]) {
    let (src, dst, proto, l4): (std::net::IpAddr, std::net::IpAddr, u8, &[u8]) =
        match packet[0] >> 4 {
            4 => {
                let hl = usize::from(packet[0] & 0x0f) * 4;
                assert_eq!(ref_sum(&[&packet[..hl]]), 0xffff, "IPv4 header checksum");
                let s: [u8; 4] = packet[12..16].try_into().unwrap();
                let d: [u8; 4] = packet[16..20].try_into().unwrap();
                (s.into(), d.into(), packet[9], &packet[hl..])
            }
            6 => {
                let s: [u8; 16] = packet[8..24].try_into().unwrap();
                let d: [u8; 16] = packet[24..40].try_into().unwrap();
                (s.into(), d.into(), packet[6], &packet[40..])
            }
            v => panic!("version {v}"),
        };
    let sum = if proto == crate::ip::ICMP {
        ref_sum(&[l4])
    } else {
        let ph = pseudo_header_bytes(src, dst, proto, l4.len());
        ref_sum(&[&ph, l4])
    };
    assert_eq!(sum, 0xffff, "transport checksum, protocol {proto}");
}
