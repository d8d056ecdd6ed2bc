//! The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-header sums.
//!
//! Sums here are *folded but not inverted* 16-bit ones-complement sums, so they can be
//! combined; the value written into a header is `!combine(&[...])`. A packet whose checksum
//! is correct sums (including its checksum field) to `0xffff`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::WireError;

/// Folds a 32-bit (or wider) accumulator into 16 bits, adding the carries back in.
const fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The ones-complement sum of `data`, read as big-endian 16-bit words; an odd final byte
/// is padded with a zero byte on the right.
pub fn data(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    // Eight bytes at a time: four words summed in one go keeps the loop short.
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_be_bytes(w);
        sum += (v >> 48) + ((v >> 32) & 0xffff) + ((v >> 16) & 0xffff) + (v & 0xffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        sum += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold(sum)
}

/// Combines partial sums (from [`data`] and the pseudo-header functions) into one.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The sum of the IPv4 pseudo-header: source, destination, zero, protocol, length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    fold(
        u64::from(s >> 16)
            + u64::from(s & 0xffff)
            + u64::from(d >> 16)
            + u64::from(d & 0xffff)
            + u64::from(protocol)
            + u64::from(length),
    )
}

/// The sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, upper-layer
/// length (32 bits), three zero bytes, next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    combine(&[
        data(&src.octets()),
        data(&dst.octets()),
        fold(u64::from(length >> 16) + u64::from(length & 0xffff) + u64::from(next_header)),
    ])
}

/// The pseudo-header sum for either family.
///
/// # Errors
/// [`WireError::FamilyMismatch`] if `src` and `dst` are of different families.
pub fn pseudo_header(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    length: u32,
) -> Result<u16, WireError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ok(pseudo_header_v4(s, d, protocol, length)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ok(pseudo_header_v6(s, d, protocol, length)),
        _ => Err(WireError::FamilyMismatch),
    }
}

/// The value to store in a checksum field, given the sum of everything it covers
/// (with the field itself taken as zero).
pub const fn finish(sum: u16) -> u16 {
    !sum
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    #[test]
    fn rfc1071_example() {
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(data(&[0x12]), 0x1200);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn all_lengths_agree_with_naive_sum() {
        let bytes: Vec<u8> = (0..70u32).map(|i| (i * 37 + 11) as u8 | 0x80).collect();
        for n in 0..bytes.len() {
            let mut naive: u32 = 0;
            for (i, b) in bytes[..n].iter().enumerate() {
                naive += if i % 2 == 0 {
                    u32::from(*b) << 8
                } else {
                    u32::from(*b)
                };
            }
            while naive > 0xffff {
                naive = (naive & 0xffff) + (naive >> 16);
            }
            assert_eq!(u32::from(data(&bytes[..n])), naive, "length {n}");
        }
    }

    // Classic IPv4 header example: 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7.
    #[test]
    fn ipv4_header_example() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(finish(data(&h)), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(data(&h), 0xffff);
    }

    #[test]
    fn pseudo_headers() {
        // 10.0.0.1 -> 10.0.0.2, TCP, 20 bytes: 0x0a00+0x0001+0x0a00+0x0002+6+20 = 0x141d
        let v4 = pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            6,
            20,
        );
        assert_eq!(v4, 0x141d);
        // 2001:db8::1 -> 2001:db8::2, UDP(17), 8 bytes:
        // 2*(0x2001+0x0db8) + 1 + 2 + 17 + 8 = 0x5b72 + 0x1c = 0x5b8e
        let v6 = pseudo_header_v6(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            17,
            8,
        );
        assert_eq!(v6, 0x5b8e);
        assert_eq!(
            pseudo_header("10.0.0.1".parse().unwrap(), "::1".parse().unwrap(), 6, 0),
            Err(WireError::FamilyMismatch)
        );
        // Lengths above 16 bits (jumbo-sized) are folded in.
        let big = pseudo_header_v6(Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, 0, 0x0001_0002);
        assert_eq!(big, 3);
    }

    #[test]
    fn combine_folds_carries() {
        assert_eq!(combine(&[0xffff, 0x0001]), 0x0001);
        assert_eq!(combine(&[0x8000, 0x8000]), 0x0001);
        assert_eq!(combine(&[]), 0);
    }
}
