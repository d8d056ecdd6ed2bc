//! ICMP for IPv6 (RFC 4443): message types, unreachable codes and a plain [`Repr`].
//! The byte view is the shared [`crate::icmp::Packet`]; checksums cover a pseudo-header.

use std::net::Ipv6Addr;

pub use crate::icmp::{Packet, HEADER_LEN};
use crate::WireError;

/// ICMPv6 message types.
pub mod msg_type {
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router solicitation (NDP).
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement (NDP).
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor solicitation (NDP).
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor advertisement (NDP).
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect (NDP).
    pub const REDIRECT: u8 = 137;
}

/// Destination-unreachable codes (RFC 4443 §3.1).
pub mod unreach {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication with destination administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable.
    pub const ADDR_UNREACHABLE: u8 = 3;
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 4;
    /// Source address failed ingress/egress policy.
    pub const FAILED_POLICY: u8 = 5;
    /// Reject route to destination.
    pub const REJECT_ROUTE: u8 = 6;
}

/// An ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Echo request (type 128).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Echo reply (type 129).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Destination unreachable (type 1).
    DstUnreachable {
        /// Code (see [`unreach`]).
        code: u8,
        /// The quoted packet.
        quoted: &'a [u8],
    },
    /// Packet too big (type 2).
    PacketTooBig {
        /// MTU of the next hop.
        mtu: u32,
        /// The quoted packet.
        quoted: &'a [u8],
    },
    /// Time exceeded (type 3).
    TimeExceeded {
        /// 0 hop limit exceeded in transit, 1 reassembly time exceeded.
        code: u8,
        /// The quoted packet.
        quoted: &'a [u8],
    },
    /// Parameter problem (type 4).
    ParamProblem {
        /// Code.
        code: u8,
        /// Offset of the faulty byte in the quoted packet.
        pointer: u32,
        /// The quoted packet.
        quoted: &'a [u8],
    },
    /// Any other message, kept raw.
    Other {
        /// Message type.
        msg_type: u8,
        /// Code.
        code: u8,
        /// The four type-dependent header bytes.
        rest_of_header: u32,
        /// Data after the header.
        data: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Reads a message; the checksum is not verified (see [`Packet::verify_checksum_v6`]).
    ///
    /// # Errors
    /// [`WireError::Truncated`] below 8 bytes.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>, WireError> {
        packet.check_len()?;
        let all = packet.bytes();
        let data = &all[HEADER_LEN..];
        let code = packet.msg_code();
        let rest = packet.rest_of_header();
        Ok(match packet.msg_type() {
            msg_type::ECHO_REQUEST if code == 0 => Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            msg_type::ECHO_REPLY if code == 0 => Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            msg_type::DST_UNREACHABLE => Repr::DstUnreachable { code, quoted: data },
            msg_type::PACKET_TOO_BIG if code == 0 => Repr::PacketTooBig {
                mtu: rest,
                quoted: data,
            },
            msg_type::TIME_EXCEEDED => Repr::TimeExceeded { code, quoted: data },
            msg_type::PARAM_PROBLEM => Repr::ParamProblem {
                code,
                pointer: rest,
                quoted: data,
            },
            msg_type => Repr::Other {
                msg_type,
                code,
                rest_of_header: rest,
                data,
            },
        })
    }

    fn parts(&self) -> (u8, u8, u32, &'a [u8]) {
        match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                msg_type::ECHO_REQUEST,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                msg_type::ECHO_REPLY,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Repr::DstUnreachable { code, quoted } => (msg_type::DST_UNREACHABLE, code, 0, quoted),
            Repr::PacketTooBig { mtu, quoted } => (msg_type::PACKET_TOO_BIG, 0, mtu, quoted),
            Repr::TimeExceeded { code, quoted } => (msg_type::TIME_EXCEEDED, code, 0, quoted),
            Repr::ParamProblem {
                code,
                pointer,
                quoted,
            } => (msg_type::PARAM_PROBLEM, code, pointer, quoted),
            Repr::Other {
                msg_type,
                code,
                rest_of_header,
                data,
            } => (msg_type, code, rest_of_header, data),
        }
    }

    /// Length [`Repr::emit`] writes: header and data.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.parts().3.len()
    }

    /// Writes the message, checksum over the pseudo-header of `src` → `dst` included, into
    /// the first [`Repr::buffer_len`] bytes of `buf`; returns the length written.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize, WireError> {
        let (t, code, rest, data) = self.parts();
        let n = HEADER_LEN + data.len();
        let out = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        out[HEADER_LEN..].copy_from_slice(data);
        let mut p = Packet::new_unchecked(out);
        p.set_msg_type(t);
        p.set_msg_code(code);
        p.set_rest_of_header(rest);
        p.fill_checksum_v6(src, dst)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn deconstruct_port_unreachable() {
        let m = &V6_PORT_UNREACHABLE[40..];
        let p = Packet::new_checked(m).unwrap();
        assert!(p.verify_checksum_v6(a("2001:db8::2"), a("2001:db8::1")));
        assert_eq!(
            Repr::parse(&p),
            Ok(Repr::DstUnreachable {
                code: unreach::PORT_UNREACHABLE,
                quoted: &m[8..]
            })
        );
        assert_eq!(m[8..].len(), 52);
    }

    #[test]
    fn deconstruct_packet_too_big() {
        let m = &V6_PACKET_TOO_BIG[40..];
        let p = Packet::new_checked(m).unwrap();
        assert!(p.verify_checksum_v6(a("2001:db8::fe"), a("2001:db8::1")));
        assert_eq!(
            Repr::parse(&p),
            Ok(Repr::PacketTooBig {
                mtu: 1280,
                quoted: &m[8..]
            })
        );
    }

    #[test]
    fn construct_echo_request() {
        let r = Repr::EchoRequest {
            ident: 0xabcd,
            seq_no: 2,
            data: b"ping",
        };
        let mut b = [0u8; 12];
        assert_eq!(r.emit(&mut b, a("2001:db8::1"), a("2001:db8::2")), Ok(12));
        assert_eq!(b, BUILT_V6_ECHO[40..]);
        assert_eq!(
            r.emit(&mut b[..11], a("2001:db8::1"), a("2001:db8::2")),
            Err(WireError::BufferTooSmall)
        );
    }

    #[test]
    fn emit_parse_round_trip_all_variants() {
        let q = [0x60u8, 0, 0, 0];
        let (s, d) = (a("fe80::1"), a("ff02::1"));
        for r in [
            Repr::EchoRequest {
                ident: 1,
                seq_no: 2,
                data: b"x",
            },
            Repr::EchoReply {
                ident: 0xffff,
                seq_no: 0,
                data: b"",
            },
            Repr::DstUnreachable {
                code: unreach::REJECT_ROUTE,
                quoted: &q,
            },
            Repr::PacketTooBig {
                mtu: 1280,
                quoted: &q,
            },
            Repr::TimeExceeded {
                code: 0,
                quoted: &q,
            },
            Repr::ParamProblem {
                code: 1,
                pointer: 40,
                quoted: &q,
            },
            Repr::Other {
                msg_type: msg_type::NEIGHBOR_SOLICIT,
                code: 0,
                rest_of_header: 0,
                data: &q,
            },
        ] {
            let mut b = [0u8; 16];
            let n = r.emit(&mut b, s, d).unwrap();
            assert_eq!(n, r.buffer_len());
            let p = Packet::new_checked(&b[..n]).unwrap();
            assert!(p.verify_checksum_v6(s, d));
            assert_eq!(Repr::parse(&p), Ok(r));
        }
    }

    #[test]
    fn truncated_at_every_length() {
        let m = &V6_PORT_UNREACHABLE[40..];
        for n in 0..m.len() {
            let r = Repr::parse(&Packet::new_unchecked(&m[..n]));
            if n < 8 {
                assert_eq!(r, Err(WireError::Truncated));
            } else {
                assert_eq!(
                    r,
                    Ok(Repr::DstUnreachable {
                        code: 4,
                        quoted: &m[8..n]
                    })
                );
            }
        }
    }
}
