//! What the detector reads of a packet: a tolerant decoder of IPv4 and IPv6 headers and of
//! the TCP, UDP, ICMP and ICMPv6 header that follows.
//!
//! Unlike the scanner's parser (`monban_wire::parse`), this one takes what is there: a
//! packet cut by the capture's snap length still gives its addresses and ports, and the
//! IP total length is not checked against the bytes captured. The fields a tool
//! fingerprint needs (IP identification, TTL, DF, TCP window and options) are kept.
//! It never panics: every read goes through `get`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a packet could not be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the IP header (or the transport header it announces).
    #[error("packet truncated")]
    Truncated,
    /// Neither IPv4 nor IPv6.
    #[error("not an IPv4 or IPv6 packet (version {0})")]
    BadVersion(u8),
    /// An IPv4 header length below 20 bytes.
    #[error("bad IPv4 header length")]
    BadHeaderLen,
}

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE and CWR (ECN), ignored when naming a probe.
    pub const ECN: u8 = 0xc0;
}

/// The TCP options of a segment, as sent (at most 40 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    bytes: [u8; 40],
    len: u8,
}

impl TcpOptions {
    /// No options.
    pub const NONE: TcpOptions = TcpOptions {
        bytes: [0; 40],
        len: 0,
    };

    /// Options from their bytes (at most 40 are kept).
    pub fn from_bytes(src: &[u8]) -> TcpOptions {
        TcpOptions::new(src)
    }

    fn new(src: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::NONE;
        let n = src.len().min(40);
        if let (Some(dst), Some(src)) = (o.bytes.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        o.len = n as u8;
        o
    }

    /// The option bytes (what the capture holds of them).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The maximum segment size option's value, if present.
    pub fn mss(&self) -> Option<u16> {
        let b = self.as_bytes();
        let mut i = 0;
        while let Some(&kind) = b.get(i) {
            match kind {
                0 => return None,
                1 => i += 1,
                _ => {
                    let len = usize::from(*b.get(i + 1)?);
                    if kind == 2 && len == 4 {
                        return Some(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]));
                    }
                    if len < 2 {
                        return None;
                    }
                    i += len;
                }
            }
        }
        None
    }
}

impl std::fmt::Debug for TcpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TcpOptions({:02x?})", self.as_bytes())
    }
}

/// An ICMP or ICMPv6 message, by what it means to the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
    /// Echo request (ICMP 8, ICMPv6 128).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Bytes after the 8-byte header (from the IP length when the capture cut it).
        data_len: u16,
    },
    /// Echo reply (ICMP 0, ICMPv6 129).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Timestamp request (ICMP 13).
    TimestampRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Timestamp reply (ICMP 14).
    TimestampReply,
    /// Address mask request (ICMP 17), another probe nobody sends for a living.
    MaskRequest,
    /// Destination unreachable (ICMP 3, ICMPv6 1) and the packet it quotes.
    Unreachable {
        /// The code.
        code: u8,
        /// The quoted probe, if enough of it was quoted.
        quoted: Option<Quoted>,
    },
    /// Any other message.
    Other {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
}

/// The header of a probe quoted in an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// Source of the quoted packet (the prober).
    pub src: IpAddr,
    /// Destination of the quoted packet (the probed host).
    pub dst: IpAddr,
    /// Its protocol number.
    pub protocol: u8,
    /// Source port (TCP and UDP; 0 otherwise).
    pub src_port: u16,
    /// Destination port (TCP and UDP; 0 otherwise).
    pub dst_port: u16,
}

/// The transport part of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A TCP segment.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// Flag byte (see [`flags`]).
        flags: u8,
        /// Window.
        window: u16,
        /// Options.
        options: TcpOptions,
        /// Payload length, from the IP length (what was sent, not what was captured).
        payload_len: u16,
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Payload length, from the UDP length field.
        payload_len: u16,
    },
    /// ICMP (IPv4) or ICMPv6.
    Icmp(Icmp),
    /// Another protocol (or a fragment after the first).
    Other {
        /// Protocol number (the last next-header for IPv6).
        protocol: u8,
    },
}

/// A decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 identification (None for IPv6).
    pub ip_id: Option<u16>,
    /// IPv4 don't-fragment bit.
    pub df: bool,
    /// The transport part.
    pub transport: Transport,
}

/// Protocol numbers used here.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn v4_addr(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(a)))
}

fn v6_addr(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(a)))
}

/// The IP header's facts and where the transport header starts.
struct Ip {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    ip_id: Option<u16>,
    df: bool,
    protocol: u8,
    /// Offset of the transport header.
    l4: usize,
    /// Transport bytes the IP header announces (may exceed what was captured).
    l4_len: usize,
    /// A non-first fragment: no transport header here.
    later_fragment: bool,
}

fn ip_header(b: &[u8]) -> Result<Ip, PacketError> {
    let first = *b.first().ok_or(PacketError::Truncated)?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 {
                return Err(PacketError::BadHeaderLen);
            }
            let total = usize::from(be16(b, 2).ok_or(PacketError::Truncated)?);
            let frag = be16(b, 6).ok_or(PacketError::Truncated)?;
            let src = v4_addr(b, 12).ok_or(PacketError::Truncated)?;
            let dst = v4_addr(b, 16).ok_or(PacketError::Truncated)?;
            Ok(Ip {
                src,
                dst,
                ttl: *b.get(8).ok_or(PacketError::Truncated)?,
                ip_id: be16(b, 4),
                df: frag & 0x4000 != 0,
                protocol: *b.get(9).ok_or(PacketError::Truncated)?,
                l4: ihl,
                // A total length of 0 (TSO on the capturing host) or below the header:
                // trust the capture instead.
                l4_len: if total > ihl {
                    total - ihl
                } else {
                    b.len().saturating_sub(ihl)
                },
                later_fragment: frag & 0x1fff != 0,
            })
        }
        6 => {
            let src = v6_addr(b, 8).ok_or(PacketError::Truncated)?;
            let dst = v6_addr(b, 24).ok_or(PacketError::Truncated)?;
            let payload_len = usize::from(be16(b, 4).ok_or(PacketError::Truncated)?);
            let ttl = *b.get(7).ok_or(PacketError::Truncated)?;
            let mut next = *b.get(6).ok_or(PacketError::Truncated)?;
            let mut at = 40;
            let mut later_fragment = false;
            // Walk the extension headers (at most 8, so a hostile chain costs nothing).
            for _ in 0..8 {
                match next {
                    // Hop-by-hop, routing, destination options: length in 8-byte units.
                    0 | 43 | 60 => {
                        let n = *b.get(at).ok_or(PacketError::Truncated)?;
                        let len =
                            (usize::from(*b.get(at + 1).ok_or(PacketError::Truncated)?) + 1) * 8;
                        next = n;
                        at += len;
                    }
                    // Fragment: 8 bytes; a non-first fragment has no transport header.
                    44 => {
                        let n = *b.get(at).ok_or(PacketError::Truncated)?;
                        let off = be16(b, at + 2).ok_or(PacketError::Truncated)?;
                        later_fragment = off & 0xfff8 != 0;
                        next = n;
                        at += 8;
                    }
                    // Authentication header: length in 4-byte units, plus 2.
                    51 => {
                        let n = *b.get(at).ok_or(PacketError::Truncated)?;
                        let len =
                            (usize::from(*b.get(at + 1).ok_or(PacketError::Truncated)?) + 2) * 4;
                        next = n;
                        at += len;
                    }
                    _ => break,
                }
            }
            let end = if payload_len == 0 {
                b.len()
            } else {
                40 + payload_len
            };
            Ok(Ip {
                src,
                dst,
                ttl,
                ip_id: None,
                df: false,
                protocol: next,
                l4: at,
                l4_len: end.saturating_sub(at),
                later_fragment,
            })
        }
        v => Err(PacketError::BadVersion(v)),
    }
}

/// The quoted probe inside an ICMP error: its IP header and the first 8 bytes after it.
fn quoted(b: &[u8]) -> Option<Quoted> {
    let ip = ip_header(b).ok()?;
    let (src_port, dst_port) = match ip.protocol {
        proto::TCP | proto::UDP if !ip.later_fragment => {
            (be16(b, ip.l4).unwrap_or(0), be16(b, ip.l4 + 2).unwrap_or(0))
        }
        _ => (0, 0),
    };
    Some(Quoted {
        src: ip.src,
        dst: ip.dst,
        protocol: ip.protocol,
        src_port,
        dst_port,
    })
}

/// Decodes an IPv4 or IPv6 packet (starting at the IP header).
///
/// # Errors
/// [`PacketError`] when not even the IP header and the transport header's first bytes are
/// there.
pub fn decode(b: &[u8]) -> Result<Packet, PacketError> {
    let ip = ip_header(b)?;
    let l4 = b.get(ip.l4..).unwrap_or(&[]);
    let transport = if ip.later_fragment {
        Transport::Other {
            protocol: ip.protocol,
        }
    } else {
        match ip.protocol {
            proto::TCP => {
                let t = PacketError::Truncated;
                let off = usize::from(*l4.get(12).ok_or(t)? >> 4) * 4;
                let options = TcpOptions::new(l4.get(20..off.max(20)).unwrap_or_else(|| {
                    // The capture cut the options: keep what is there.
                    l4.get(20..).unwrap_or(&[])
                }));
                Transport::Tcp {
                    src_port: be16(l4, 0).ok_or(t)?,
                    dst_port: be16(l4, 2).ok_or(t)?,
                    seq: be32(l4, 4).ok_or(t)?,
                    ack: be32(l4, 8).ok_or(t)?,
                    flags: *l4.get(13).ok_or(t)?,
                    window: be16(l4, 14).ok_or(t)?,
                    options,
                    payload_len: u16::try_from(ip.l4_len.saturating_sub(off.max(20)))
                        .unwrap_or(u16::MAX),
                }
            }
            proto::UDP => {
                let t = PacketError::Truncated;
                Transport::Udp {
                    src_port: be16(l4, 0).ok_or(t)?,
                    dst_port: be16(l4, 2).ok_or(t)?,
                    payload_len: be16(l4, 4).ok_or(t)?.saturating_sub(8),
                }
            }
            proto::ICMP | proto::ICMPV6 => {
                let v6 = ip.protocol == proto::ICMPV6;
                let t = PacketError::Truncated;
                let ty = *l4.first().ok_or(t)?;
                let code = *l4.get(1).ok_or(t)?;
                let id_seq = || (be16(l4, 4).unwrap_or(0), be16(l4, 6).unwrap_or(0));
                let icmp = match (v6, ty) {
                    (false, 8) | (true, 128) => {
                        let (ident, seq) = id_seq();
                        Icmp::EchoRequest {
                            ident,
                            seq,
                            data_len: u16::try_from(ip.l4_len.saturating_sub(8))
                                .unwrap_or(u16::MAX),
                        }
                    }
                    (false, 0) | (true, 129) => {
                        let (ident, seq) = id_seq();
                        Icmp::EchoReply { ident, seq }
                    }
                    (false, 13) => {
                        let (ident, seq) = id_seq();
                        Icmp::TimestampRequest { ident, seq }
                    }
                    (false, 14) => Icmp::TimestampReply,
                    (false, 17) => Icmp::MaskRequest,
                    (false, 3) | (true, 1) => Icmp::Unreachable {
                        code,
                        quoted: l4.get(8..).and_then(quoted),
                    },
                    _ => Icmp::Other {
                        icmp_type: ty,
                        code,
                    },
                };
                Transport::Icmp(icmp)
            }
            protocol => Transport::Other { protocol },
        }
    };
    Ok(Packet {
        src: ip.src,
        dst: ip.dst,
        ttl: ip.ttl,
        ip_id: ip.ip_id,
        df: ip.df,
        transport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 SYN as nmap sends it: window 1024, MSS 1460 only.
    pub(crate) const SYN_V4: [u8; 44] = [
        0x45, 0, 0, 44, 0x12, 0x34, 0, 0, 48, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 9, //
        0xa0, 0x00, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0x04, 0x00, 0, 0, 0, 0, //
        2, 4, 5, 0xb4,
    ];

    #[test]
    fn decodes_a_syn() {
        let p = decode(&SYN_V4).unwrap();
        assert_eq!(p.src, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(p.dst, "10.0.0.9".parse::<IpAddr>().unwrap());
        assert_eq!((p.ttl, p.ip_id, p.df), (48, Some(0x1234), false));
        match p.transport {
            Transport::Tcp {
                src_port,
                dst_port,
                seq,
                flags,
                window,
                options,
                payload_len,
                ..
            } => {
                assert_eq!((src_port, dst_port, seq), (40960, 80, 1));
                assert_eq!((flags, window, payload_len), (flags::SYN, 1024, 0));
                assert_eq!(options.as_bytes(), &[2, 4, 5, 0xb4]);
                assert_eq!(options.mss(), Some(1460));
            }
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn snaplen_cut_options_keep_the_ports() {
        let p = decode(&SYN_V4[..42]).unwrap();
        match p.transport {
            Transport::Tcp {
                dst_port, options, ..
            } => {
                assert_eq!(dst_port, 80);
                assert_eq!(options.as_bytes(), &[2, 4]);
                assert_eq!(options.mss(), None);
            }
            t => panic!("{t:?}"),
        }
        assert_eq!(decode(&SYN_V4[..30]), Err(PacketError::Truncated));
    }

    #[test]
    fn decodes_a_quoted_udp_probe() {
        // ICMP port unreachable from 10.0.0.9 quoting a UDP probe 10.0.0.2:5000 -> :53.
        let mut b = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 2, //
            3, 3, 0, 0, 0, 0, 0, 0,
        ];
        b.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 9, //
            0x13, 0x88, 0, 53, 0, 8, 0, 0,
        ]);
        let p = decode(&b).unwrap();
        match p.transport {
            Transport::Icmp(Icmp::Unreachable {
                code: 3,
                quoted: Some(q),
            }) => {
                assert_eq!((q.protocol, q.src_port, q.dst_port), (17, 5000, 53));
                assert_eq!(q.dst, "10.0.0.9".parse::<IpAddr>().unwrap());
            }
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn ipv6_extension_chain_and_fragments() {
        // IPv6, hop-by-hop (8 bytes) then UDP.
        let mut b = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
        b.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        b.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        b.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0x13, 0x88, 0, 161, 0, 8, 0, 0]);
        let p = decode(&b).unwrap();
        assert_eq!(
            p.transport,
            Transport::Udp {
                src_port: 5000,
                dst_port: 161,
                payload_len: 0
            }
        );
        // A later fragment: no transport header.
        b[6] = 44;
        b[40..48].copy_from_slice(&[17, 0, 0, 8, 0, 0, 0, 1]);
        let p = decode(&b).unwrap();
        assert_eq!(p.transport, Transport::Other { protocol: 17 });
    }

    #[test]
    fn never_panics_on_prefixes_and_garbage() {
        let mut x: u64 = 7;
        for len in 0..SYN_V4.len() {
            let _ = decode(&SYN_V4[..len]);
        }
        let mut buf = [0u8; 96];
        for _ in 0..200_000 {
            for b in buf.iter_mut() {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *b = (x >> 56) as u8;
            }
            // Keep the version nibble plausible half the time.
            if x & 1 == 0 {
                buf[0] = 0x45;
            } else if x & 2 == 0 {
                buf[0] = 0x60;
            }
            let n = (x >> 8) as usize % buf.len();
            let _ = decode(&buf[..n]);
        }
    }
}
