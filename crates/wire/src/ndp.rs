//! IPv6 Neighbor Discovery (RFC 4861): Neighbor Solicitation and Advertisement with their
//! link-layer address options, and the solicited-node multicast address (RFC 4291 §2.7.1).
//!
//! Messages are ICMPv6 messages (the view is [`crate::icmp::Packet`]); [`Repr::parse`]
//! reads one as a raw ICMPv6 socket delivers it (no IPv6 header), [`Repr::emit`] writes
//! one with its checksum. Neighbor Discovery is only valid with hop limit 255 (§7.1.1):
//! the IPv6 layer, or the driver reading the hop limit from its socket, checks that.

use std::net::Ipv6Addr;

use crate::arp::MacAddr;
use crate::icmp::Packet;
use crate::icmpv6::msg_type;
use crate::WireError;

mod field {
    use crate::bytes::Field;
    /// Flags of an advertisement (first byte of the four after the checksum).
    pub const FLAGS: usize = 4;
    pub const TARGET: Field = 8..24;
}

/// Length of a Neighbor Solicitation or Advertisement before its options.
pub const BODY_LEN: usize = field::TARGET.end;
/// Length of a link-layer address option carrying an Ethernet address.
pub const LLADDR_OPT_LEN: usize = 8;
/// The hop limit every Neighbor Discovery message is sent and must be received with.
pub const HOP_LIMIT: u8 = 255;

/// Option types (RFC 4861 §4.6).
pub mod option {
    /// Source link-layer address.
    pub const SOURCE_LLADDR: u8 = 1;
    /// Target link-layer address.
    pub const TARGET_LLADDR: u8 = 2;
}

/// Flag bits of a Neighbor Advertisement (in the byte after the checksum).
pub mod flags {
    /// Router: the sender is a router.
    pub const ROUTER: u8 = 0x80;
    /// Solicited: sent in response to a solicitation.
    pub const SOLICITED: u8 = 0x40;
    /// Override: the advertisement should replace a cached link-layer address.
    pub const OVERRIDE: u8 = 0x20;
}

/// A Neighbor Solicitation or Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr {
    /// Neighbor Solicitation (type 135): who has `target`?
    Solicit {
        /// The address being resolved.
        target: Ipv6Addr,
        /// The sender's link-layer address (source link-layer address option).
        source_lladdr: Option<MacAddr>,
    },
    /// Neighbor Advertisement (type 136): `target` is here.
    Advert {
        /// Flag bits (see [`flags`]).
        flags: u8,
        /// The address advertised.
        target: Ipv6Addr,
        /// The advertiser's link-layer address (target link-layer address option).
        target_lladdr: Option<MacAddr>,
    },
}

impl Repr {
    /// Reads an ICMPv6 message. Returns `Ok(None)` for any message that is not a
    /// solicitation or advertisement with code 0 (RFC 4861 §7.1 says to drop other codes).
    ///
    /// Options other than the link-layer address ones are skipped; an Ethernet address is
    /// read from a link-layer option of length 1 (8 bytes), the first one of its kind
    /// wins. The checksum is not verified (see [`Packet::verify_checksum_v6`]).
    ///
    /// # Errors
    /// [`WireError::Truncated`] when the message ends before the 24-byte body;
    /// [`WireError::BadOption`] for an option of length 0 or one that runs past the end
    /// (§7.1.1: such a message must be dropped).
    pub fn parse(message: &[u8]) -> Result<Option<Repr>, WireError> {
        let packet = Packet::new_checked(message)?;
        let kind = packet.msg_type();
        if packet.msg_code() != 0
            || (kind != msg_type::NEIGHBOR_SOLICIT && kind != msg_type::NEIGHBOR_ADVERT)
        {
            return Ok(None);
        }
        let body = message.get(..BODY_LEN).ok_or(WireError::Truncated)?;
        let mut t = [0u8; 16];
        t.copy_from_slice(&body[field::TARGET]);
        let target = Ipv6Addr::from(t);
        let wanted = if kind == msg_type::NEIGHBOR_SOLICIT {
            option::SOURCE_LLADDR
        } else {
            option::TARGET_LLADDR
        };
        let lladdr = find_lladdr(message.get(BODY_LEN..).unwrap_or(&[]), wanted)?;
        Ok(Some(if kind == msg_type::NEIGHBOR_SOLICIT {
            Repr::Solicit {
                target,
                source_lladdr: lladdr,
            }
        } else {
            Repr::Advert {
                flags: body[field::FLAGS] & (flags::ROUTER | flags::SOLICITED | flags::OVERRIDE),
                target,
                target_lladdr: lladdr,
            }
        }))
    }

    /// The target address.
    pub fn target(&self) -> Ipv6Addr {
        match *self {
            Repr::Solicit { target, .. } | Repr::Advert { target, .. } => target,
        }
    }

    /// Whether this is an advertisement with the Solicited flag (an answer to a
    /// solicitation, not an unsolicited announcement).
    pub fn is_solicited_advert(&self) -> bool {
        matches!(*self, Repr::Advert { flags: f, .. } if f & flags::SOLICITED != 0)
    }

    fn lladdr(&self) -> Option<(u8, MacAddr)> {
        match *self {
            Repr::Solicit { source_lladdr, .. } => {
                source_lladdr.map(|m| (option::SOURCE_LLADDR, m))
            }
            Repr::Advert { target_lladdr, .. } => target_lladdr.map(|m| (option::TARGET_LLADDR, m)),
        }
    }

    /// Length [`Repr::emit`] writes: 24 bytes, plus 8 with a link-layer address.
    pub fn buffer_len(&self) -> usize {
        BODY_LEN + self.lladdr().map_or(0, |_| LLADDR_OPT_LEN)
    }

    /// Writes the message, checksum over the pseudo-header of `src` → `dst` included,
    /// into the first [`Repr::buffer_len`] bytes of `buf`; returns the length written.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize, WireError> {
        let n = self.buffer_len();
        let out = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        out.fill(0);
        let (kind, first) = match *self {
            Repr::Solicit { .. } => (msg_type::NEIGHBOR_SOLICIT, 0),
            Repr::Advert { flags, .. } => (msg_type::NEIGHBOR_ADVERT, flags),
        };
        out[field::FLAGS] = first;
        out[field::TARGET].copy_from_slice(&self.target().octets());
        if let Some((opt, mac)) = self.lladdr() {
            out[BODY_LEN] = opt;
            out[BODY_LEN + 1] = 1;
            out[BODY_LEN + 2..BODY_LEN + 8].copy_from_slice(&mac.0);
        }
        let mut p = Packet::new_unchecked(out);
        p.set_msg_type(kind);
        p.set_msg_code(0);
        p.fill_checksum_v6(src, dst)?;
        Ok(n)
    }
}

/// Walks the options; returns the first Ethernet address in an option of type `wanted`.
fn find_lladdr(mut opts: &[u8], wanted: u8) -> Result<Option<MacAddr>, WireError> {
    let mut found = None;
    // Each option is at least 8 bytes, so this ends after len/8 rounds.
    while !opts.is_empty() {
        let (&kind, rest) = opts.split_first().ok_or(WireError::BadOption)?;
        let units = rest.first().copied().ok_or(WireError::BadOption)?;
        if units == 0 {
            return Err(WireError::BadOption);
        }
        let len = usize::from(units) * 8;
        let this = opts.get(..len).ok_or(WireError::BadOption)?;
        if found.is_none() && kind == wanted && units == 1 {
            let mut m = [0u8; 6];
            m.copy_from_slice(&this[2..8]);
            found = Some(MacAddr(m));
        }
        opts = &opts[len..];
    }
    Ok(found)
}

/// The solicited-node multicast address of `addr`: ff02::1:ff00:0/104 with the low 24
/// bits of `addr`. Solicitations for `addr` go there.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast address an IPv6 multicast group maps to (RFC 2464 §7):
/// 33:33 followed by the group's low 32 bits.
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ref_sum, Rng};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);

    /// Solicitation for 2001:db8::20 from fe80::1 (02:00:5e:10:20:30) to ff02::1:ff00:20,
    /// laid out by hand from RFC 4861 §4.3; checksum computed by `ref_sum` in the test.
    const NS: [u8; 32] = [
        0x87, 0x00, 0x00, 0x00, // type 135, code, checksum (filled in the test)
        0x00, 0x00, 0x00, 0x00, // reserved
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x20, // target
        0x01, 0x01, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // SLLA option
    ];

    /// Advertisement, solicited + override, for 2001:db8::20 at 52:54:00:ab:cd:ef, with an
    /// unknown 16-byte option (type 200) before the TLLA option.
    const NA: [u8; 48] = [
        0x88, 0x00, 0x00, 0x00, // type 136, code, checksum
        0x60, 0x00, 0x00, 0x00, // S|O
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x20, // target
        200, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, // unknown option
        0x02, 0x01, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, // TLLA option
    ];

    fn pseudo(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
        crate::testutil::pseudo_header_bytes(src.into(), dst.into(), 58, len)
    }

    #[test]
    fn construct_solicitation() {
        let (src, dst) = (a("fe80::1"), solicited_node(a("2001:db8::20")));
        assert_eq!(dst, a("ff02::1:ff00:20"));
        let r = Repr::Solicit {
            target: a("2001:db8::20"),
            source_lladdr: Some(MacAddr([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30])),
        };
        let mut b = [0xeeu8; 40];
        assert_eq!(r.emit(&mut b, src, dst), Ok(32));
        assert_eq!(b[..2], NS[..2]);
        assert_eq!(b[4..32], NS[4..]);
        assert_eq!(b[32], 0xee);
        assert_eq!(ref_sum(&[&pseudo(src, dst, 32), &b[..32]]), 0xffff);
        assert_eq!(Repr::parse(&b[..32]), Ok(Some(r)));
        for n in 0..32 {
            assert_eq!(
                r.emit(&mut b[..n], src, dst),
                Err(WireError::BufferTooSmall)
            );
        }
    }

    #[test]
    fn deconstruct_advertisement() {
        let r = Repr::parse(&NA).unwrap().unwrap();
        assert_eq!(
            r,
            Repr::Advert {
                flags: flags::SOLICITED | flags::OVERRIDE,
                target: a("2001:db8::20"),
                target_lladdr: Some(MAC),
            }
        );
        assert!(r.is_solicited_advert());
        assert_eq!(r.target(), a("2001:db8::20"));
    }

    #[test]
    fn advert_without_option_and_reserved_bits() {
        let mut m = NA;
        m[4] = 0xff; // every flag and the reserved bits set
        let r = Repr::parse(&m[..24]).unwrap().unwrap();
        assert_eq!(
            r,
            Repr::Advert {
                flags: 0xe0,
                target: a("2001:db8::20"),
                target_lladdr: None
            }
        );
        m[4] = flags::OVERRIDE; // unsolicited announcement
        assert!(!Repr::parse(&m).unwrap().unwrap().is_solicited_advert());
    }

    #[test]
    fn wrong_kind_of_lladdr_is_not_taken() {
        // An advertisement carrying only a *source* link-layer option has no TLLA.
        let mut m = NA;
        m[40] = option::SOURCE_LLADDR;
        let r = Repr::parse(&m).unwrap().unwrap();
        assert_eq!(
            r,
            Repr::Advert {
                flags: 0x60,
                target: a("2001:db8::20"),
                target_lladdr: None
            }
        );
        // A link-layer option longer than 8 bytes is not an Ethernet address.
        let mut long = [0u8; 40];
        long[..24].copy_from_slice(&NA[..24]);
        long[24] = option::TARGET_LLADDR;
        long[25] = 2;
        assert_eq!(
            Repr::parse(&long),
            Ok(Some(Repr::Advert {
                flags: 0x60,
                target: a("2001:db8::20"),
                target_lladdr: None
            }))
        );
    }

    #[test]
    fn bad_options() {
        let mut m = NA;
        m[25] = 0; // unknown option with length 0
        assert_eq!(Repr::parse(&m), Err(WireError::BadOption));
        let mut m = NA;
        m[25] = 4; // runs past the end
        assert_eq!(Repr::parse(&m), Err(WireError::BadOption));
        // A lone type byte at the end.
        assert_eq!(Repr::parse(&NA[..25]), Err(WireError::BadOption));
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..NA.len() {
            let got = Repr::parse(&NA[..n]);
            match n {
                0..=23 => assert_eq!(got, Err(WireError::Truncated), "length {n}"),
                24 => assert!(matches!(got, Ok(Some(_))), "length {n}"),
                _ if n == 40 || n == 48 => assert!(matches!(got, Ok(Some(_))), "length {n}"),
                _ => assert_eq!(got, Err(WireError::BadOption), "length {n}"),
            }
        }
    }

    #[test]
    fn other_messages_are_not_nd() {
        let mut m = NA;
        m[1] = 1; // code 1
        assert_eq!(Repr::parse(&m), Ok(None));
        for t in [1u8, 128, 129, 133, 134, 137] {
            let mut m = NA;
            m[0] = t;
            assert_eq!(Repr::parse(&m), Ok(None), "type {t}");
        }
        // A short echo is not an error either: it is simply not ND.
        assert_eq!(Repr::parse(&[128, 0, 0, 0, 0, 0, 0, 0]), Ok(None));
    }

    #[test]
    fn round_trip_random() {
        let mut rng = Rng::new(0x4e44);
        for _ in 0..500 {
            let mut t = [0u8; 16];
            rng.fill(&mut t);
            let mut m = [0u8; 6];
            rng.fill(&mut m);
            let lladdr = rng.bool().then_some(MacAddr(m));
            let r = if rng.bool() {
                Repr::Solicit {
                    target: t.into(),
                    source_lladdr: lladdr,
                }
            } else {
                Repr::Advert {
                    flags: rng.u8() & 0xe0,
                    target: t.into(),
                    target_lladdr: lladdr,
                }
            };
            let (s, d) = (a("fe80::99"), solicited_node(t.into()));
            let mut b = [0u8; 32];
            let n = r.emit(&mut b, s, d).unwrap();
            assert_eq!(n, r.buffer_len());
            assert!(Packet::new_checked(&b[..n])
                .unwrap()
                .verify_checksum_v6(s, d));
            assert_eq!(Repr::parse(&b[..n]), Ok(Some(r)));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng::new(99);
        let mut buf = [0u8; 96];
        for _ in 0..20_000 {
            let n = rng.below(buf.len() + 1);
            rng.fill(&mut buf[..n]);
            if n > 1 && rng.bool() {
                buf[0] = if rng.bool() { 135 } else { 136 };
                buf[1] = 0;
            }
            let _ = Repr::parse(&buf[..n]);
        }
    }

    #[test]
    fn multicast_addresses() {
        assert_eq!(
            solicited_node(a("fd77:1::11")),
            a("ff02::1:ff00:11"),
            "low 24 bits"
        );
        assert_eq!(
            solicited_node(a("fe80::5054:ff:feab:cdef")),
            a("ff02::1:ffab:cdef")
        );
        assert_eq!(
            multicast_mac(a("ff02::1:ffab:cdef")),
            MacAddr([0x33, 0x33, 0xff, 0xab, 0xcd, 0xef])
        );
    }
}
