//! ICMP for IPv4 (RFC 792): message types, unreachable codes and a plain [`Repr`].
//! The byte view is the shared [`crate::icmp::Packet`].

pub use crate::icmp::{Packet, HEADER_LEN};
use crate::WireError;

/// ICMPv4 message types.
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// Destination-unreachable codes (RFC 792, RFC 1122, RFC 1812).
pub mod unreach {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set.
    pub const FRAG_NEEDED: u8 = 4;
    /// Source route failed.
    pub const SOURCE_ROUTE: u8 = 5;
    /// Destination network unknown.
    pub const NET_UNKNOWN: u8 = 6;
    /// Destination host unknown.
    pub const HOST_UNKNOWN: u8 = 7;
    /// Source host isolated.
    pub const ISOLATED: u8 = 8;
    /// Network administratively prohibited.
    pub const NET_PROHIBITED: u8 = 9;
    /// Host administratively prohibited.
    pub const HOST_PROHIBITED: u8 = 10;
    /// Network unreachable for type of service.
    pub const NET_TOS: u8 = 11;
    /// Host unreachable for type of service.
    pub const HOST_TOS: u8 = 12;
    /// Communication administratively prohibited (a filter).
    pub const ADMIN_PROHIBITED: u8 = 13;
    /// Host precedence violation.
    pub const PRECEDENCE_VIOLATION: u8 = 14;
    /// Precedence cutoff in effect.
    pub const PRECEDENCE_CUTOFF: u8 = 15;
}

/// An ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Echo request (type 8).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DstUnreachable {
        /// Code (see [`unreach`]).
        code: u8,
        /// Next-hop MTU (RFC 1191), meaningful with code 4.
        next_hop_mtu: u16,
        /// The quoted datagram.
        quoted: &'a [u8],
    },
    /// Timestamp request (type 13, RFC 792): times are milliseconds since midnight UT.
    Timestamp {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Originate timestamp: when the sender sent the request.
        originate: u32,
        /// Receive timestamp (0 in a request).
        receive: u32,
        /// Transmit timestamp (0 in a request).
        transmit: u32,
    },
    /// Timestamp reply (type 14): the request's identifier, sequence number and
    /// originate timestamp, plus when the answering host received it and sent the reply.
    TimestampReply {
        /// Identifier, copied from the request.
        ident: u16,
        /// Sequence number, copied from the request.
        seq_no: u16,
        /// Originate timestamp, copied from the request.
        originate: u32,
        /// When the answering host received the request.
        receive: u32,
        /// When it sent the reply.
        transmit: u32,
    },
    /// Time exceeded (type 11).
    TimeExceeded {
        /// 0 TTL exceeded in transit, 1 reassembly time exceeded.
        code: u8,
        /// The quoted datagram.
        quoted: &'a [u8],
    },
    /// Parameter problem (type 12).
    ParamProblem {
        /// Code.
        code: u8,
        /// Offset of the faulty byte in the quoted datagram.
        pointer: u8,
        /// The quoted datagram.
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

/// Length of a timestamp message's data: originate, receive and transmit times.
pub const TIMESTAMP_DATA_LEN: usize = 12;

/// Reads the three times of a timestamp message's data (at least 12 bytes).
fn timestamps(data: &[u8]) -> Option<(u32, u32, u32)> {
    match data {
        [a, b, c, d, e, f, g, h, i, j, k, l, ..] => Some((
            u32::from_be_bytes([*a, *b, *c, *d]),
            u32::from_be_bytes([*e, *f, *g, *h]),
            u32::from_be_bytes([*i, *j, *k, *l]),
        )),
        _ => None,
    }
}

impl<'a> Repr<'a> {
    /// Reads a message; the checksum is not verified (see [`Packet::verify_checksum_v4`]).
    ///
    /// A timestamp request or reply (code 0) is read as such only with its 12 bytes of
    /// times; bytes after them are ignored. A shorter one is kept as [`Repr::Other`].
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
            t @ (msg_type::TIMESTAMP | msg_type::TIMESTAMP_REPLY) if code == 0 => {
                match timestamps(data) {
                    Some((originate, receive, transmit)) => {
                        let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
                        if t == msg_type::TIMESTAMP {
                            Repr::Timestamp {
                                ident,
                                seq_no,
                                originate,
                                receive,
                                transmit,
                            }
                        } else {
                            Repr::TimestampReply {
                                ident,
                                seq_no,
                                originate,
                                receive,
                                transmit,
                            }
                        }
                    }
                    None => Repr::Other {
                        msg_type: t,
                        code,
                        rest_of_header: rest,
                        data,
                    },
                }
            }
            msg_type::DST_UNREACHABLE => Repr::DstUnreachable {
                code,
                next_hop_mtu: rest as u16,
                quoted: data,
            },
            msg_type::TIME_EXCEEDED => Repr::TimeExceeded { code, quoted: data },
            msg_type::PARAM_PROBLEM => Repr::ParamProblem {
                code,
                pointer: (rest >> 24) as u8,
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

    /// Type, code, rest of header and data; timestamp messages give their times apart.
    fn parts(&self) -> (u8, u8, u32, &'a [u8], Option<[u32; 3]>) {
        let (t, code, rest, data) = match *self {
            Repr::Timestamp {
                ident,
                seq_no,
                originate,
                receive,
                transmit,
            } => {
                return (
                    msg_type::TIMESTAMP,
                    0,
                    (u32::from(ident) << 16) | u32::from(seq_no),
                    &[],
                    Some([originate, receive, transmit]),
                )
            }
            Repr::TimestampReply {
                ident,
                seq_no,
                originate,
                receive,
                transmit,
            } => {
                return (
                    msg_type::TIMESTAMP_REPLY,
                    0,
                    (u32::from(ident) << 16) | u32::from(seq_no),
                    &[],
                    Some([originate, receive, transmit]),
                )
            }
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
            Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quoted,
            } => (
                msg_type::DST_UNREACHABLE,
                code,
                u32::from(next_hop_mtu),
                quoted,
            ),
            Repr::TimeExceeded { code, quoted } => (msg_type::TIME_EXCEEDED, code, 0, quoted),
            Repr::ParamProblem {
                code,
                pointer,
                quoted,
            } => (
                msg_type::PARAM_PROBLEM,
                code,
                u32::from(pointer) << 24,
                quoted,
            ),
            Repr::Other {
                msg_type,
                code,
                rest_of_header,
                data,
            } => (msg_type, code, rest_of_header, data),
        };
        (t, code, rest, data, None)
    }

    /// Length [`Repr::emit`] writes: header and data.
    pub fn buffer_len(&self) -> usize {
        let (_, _, _, data, times) = self.parts();
        HEADER_LEN + data.len() + times.map_or(0, |_| TIMESTAMP_DATA_LEN)
    }

    /// Writes the message, checksum included, into the first [`Repr::buffer_len`] bytes of
    /// `buf`; returns the length written.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let (t, code, rest, data, times) = self.parts();
        let n = self.buffer_len();
        let out = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        match times {
            Some(times) => {
                for (chunk, v) in out[HEADER_LEN..].chunks_exact_mut(4).zip(times) {
                    chunk.copy_from_slice(&v.to_be_bytes());
                }
            }
            None => out[HEADER_LEN..].copy_from_slice(data),
        }
        let mut p = Packet::new_unchecked(out);
        p.set_msg_type(t);
        p.set_msg_code(code);
        p.set_rest_of_header(rest);
        p.fill_checksum_v4();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    #[test]
    fn deconstruct_echo_reply() {
        let r = Repr::parse(&Packet::new_unchecked(&V4_ECHO_REPLY[20..])).unwrap();
        assert_eq!(
            r,
            Repr::EchoReply {
                ident: 0x1234,
                seq_no: 7,
                data: b"monban!!"
            }
        );
    }

    #[test]
    fn deconstruct_admin_prohibited() {
        let m = &V4_ADMIN_PROHIBITED[20..];
        let p = Packet::new_checked(m).unwrap();
        assert!(p.verify_checksum_v4());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            r,
            Repr::DstUnreachable {
                code: unreach::ADMIN_PROHIBITED,
                next_hop_mtu: 0,
                quoted: &m[8..]
            }
        );
        assert_eq!(r.buffer_len(), 36);
    }

    #[test]
    fn deconstruct_time_exceeded() {
        let m = &V4_TIME_EXCEEDED_UDP[20..];
        let r = Repr::parse(&Packet::new_unchecked(m)).unwrap();
        assert_eq!(
            r,
            Repr::TimeExceeded {
                code: 0,
                quoted: &m[8..]
            }
        );
        assert_eq!(m[8..].len(), 33);
    }

    // Hand-computed: 08 00 [cs] ab cd 00 01: 0x0800 + 0xabcd + 0x0001 = 0xb3ce; !0xb3ce = 0x4c31.
    #[test]
    fn construct_echo_request_hand_checksum() {
        let r = Repr::EchoRequest {
            ident: 0xabcd,
            seq_no: 1,
            data: &[],
        };
        let mut b = [0u8; 8];
        assert_eq!(r.emit(&mut b), Ok(8));
        assert_eq!(b, [0x08, 0x00, 0x4c, 0x31, 0xab, 0xcd, 0x00, 0x01]);
        assert_eq!(b, BUILT_V4_ECHO[20..]);
        assert_eq!(r.emit(&mut b[..7]), Err(WireError::BufferTooSmall));
    }

    #[test]
    fn emit_parse_round_trip_all_variants() {
        let q = [0x45u8, 0, 0, 28];
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
                code: unreach::FRAG_NEEDED,
                next_hop_mtu: 1400,
                quoted: &q,
            },
            Repr::TimeExceeded {
                code: 1,
                quoted: &q,
            },
            Repr::ParamProblem {
                code: 0,
                pointer: 9,
                quoted: &q,
            },
            Repr::Other {
                msg_type: msg_type::TIMESTAMP,
                code: 0,
                rest_of_header: 0x01020304,
                data: &q,
            },
        ] {
            let mut b = [0u8; 16];
            let n = r.emit(&mut b).unwrap();
            assert_eq!(n, r.buffer_len());
            let p = Packet::new_checked(&b[..n]).unwrap();
            assert!(p.verify_checksum_v4());
            assert_eq!(Repr::parse(&p), Ok(r));
        }
        // An echo type with a non-zero code is not an echo.
        let b = [8u8, 1, 0, 0, 0, 1, 0, 2];
        assert!(matches!(
            Repr::parse(&Packet::new_unchecked(&b[..])),
            Ok(Repr::Other {
                msg_type: 8,
                code: 1,
                ..
            })
        ));
    }

    /// Timestamp reply: ident 0x1234 seq 7, originate 100, receive 123456, transmit
    /// 123457 (ms since midnight UT). Checksum by hand: 0x0e00 + 0x1234 + 0x0007 +
    /// 0x0000 + 0x0064 + 0x0001 + 0xe240 + 0x0001 + 0xe241 = 0x1e522 -> 0xe523,
    /// complemented 0x1adc.
    const TIMESTAMP_REPLY: [u8; 20] = [
        0x0e, 0x00, 0x1a, 0xdc, 0x12, 0x34, 0x00, 0x07, 0x00, 0x00, 0x00, 0x64, 0x00, 0x01, 0xe2,
        0x40, 0x00, 0x01, 0xe2, 0x41,
    ];

    #[test]
    fn deconstruct_and_construct_timestamp_reply() {
        let p = Packet::new_checked(&TIMESTAMP_REPLY[..]).unwrap();
        assert!(p.verify_checksum_v4());
        let r = Repr::parse(&p).unwrap();
        let want = Repr::TimestampReply {
            ident: 0x1234,
            seq_no: 7,
            originate: 100,
            receive: 123_456,
            transmit: 123_457,
        };
        assert_eq!(r, want);
        assert_eq!(r.buffer_len(), 20);
        let mut b = [0u8; 20];
        assert_eq!(want.emit(&mut b), Ok(20));
        assert_eq!(b, TIMESTAMP_REPLY);
        assert_eq!(want.emit(&mut b[..19]), Err(WireError::BufferTooSmall));
        // Bytes after the three times are ignored.
        let mut long = TIMESTAMP_REPLY.to_vec();
        long.extend_from_slice(b"pad");
        assert_eq!(Repr::parse(&Packet::new_unchecked(&long[..])), Ok(want));
    }

    #[test]
    fn timestamp_request_round_trip_and_truncation() {
        let req = Repr::Timestamp {
            ident: 0xbeef,
            seq_no: 0x0102,
            originate: 0x0400_0000,
            receive: 0,
            transmit: 0,
        };
        let mut b = [0u8; 20];
        assert_eq!(req.emit(&mut b), Ok(20));
        assert_eq!(&b[..2], &[13, 0]);
        assert_eq!(&b[4..12], &[0xbe, 0xef, 0x01, 0x02, 0x04, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum_v4());
        assert_eq!(Repr::parse(&p), Ok(req));
        // Cut short: below 8 bytes an error, from 8 to 19 bytes kept raw.
        for n in 0..20 {
            let r = Repr::parse(&Packet::new_unchecked(&TIMESTAMP_REPLY[..n]));
            if n < 8 {
                assert_eq!(r, Err(WireError::Truncated), "{n}");
            } else {
                assert_eq!(
                    r,
                    Ok(Repr::Other {
                        msg_type: msg_type::TIMESTAMP_REPLY,
                        code: 0,
                        rest_of_header: 0x1234_0007,
                        data: &TIMESTAMP_REPLY[8..n],
                    }),
                    "{n}"
                );
            }
        }
        // A non-zero code is not a timestamp message.
        let mut odd = TIMESTAMP_REPLY;
        odd[1] = 1;
        assert!(matches!(
            Repr::parse(&Packet::new_unchecked(&odd[..])),
            Ok(Repr::Other {
                msg_type: 14,
                code: 1,
                ..
            })
        ));
    }

    #[test]
    fn truncated_at_every_length() {
        let m = &V4_ADMIN_PROHIBITED[20..];
        for n in 0..m.len() {
            let r = Repr::parse(&Packet::new_unchecked(&m[..n]));
            if n < 8 {
                assert_eq!(r, Err(WireError::Truncated));
            } else {
                assert_eq!(
                    r,
                    Ok(Repr::DstUnreachable {
                        code: 13,
                        next_hop_mtu: 0,
                        quoted: &m[8..n]
                    })
                );
            }
        }
    }
}
