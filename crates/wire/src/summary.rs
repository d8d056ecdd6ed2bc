//! The summary API the scan engine uses: one call to read any reply ([`parse`]) and one
//! call per probe kind to write a complete IP packet ([`build_tcp`], [`build_udp`],
//! [`build_echo`]). Both families go through the same code.
#![deny(clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{icmp, icmpv4, icmpv6, ip, ipv4, ipv6, tcp, udp, TcpFlags, WireError};

/// TCP option bytes for a maximum segment size of 1460 (kind 2, length 4).
pub const TCP_OPT_MSS_1460: [u8; 4] = [2, 4, 0x05, 0xb4];

/// A packet read by [`parse`]: addresses, TTL and what the transport layer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Source address of the IP header.
    pub src: IpAddr,
    /// Destination address of the IP header.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The transport layer.
    pub l4: L4<'a>,
}

/// The transport layer of a parsed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
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
        /// Flags.
        flags: TcpFlags,
        /// Window (unscaled).
        window: u16,
        /// Payload after the options.
        payload: &'a [u8],
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Payload (up to the UDP length; for a first fragment, what this fragment holds).
        payload: &'a [u8],
    },
    /// An ICMP or ICMPv6 error quoting one of our probes (or anyone's packet).
    IcmpError {
        /// What went wrong.
        kind: IcmpError,
        /// The quoted header.
        quoted: Quoted,
    },
    /// ICMP echo reply (type 0) or ICMPv6 echo reply (type 129), any code.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Payload.
        payload: &'a [u8],
    },
    /// ICMP echo request (type 8) or ICMPv6 echo request (type 128), any code.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Payload.
        payload: &'a [u8],
    },
    /// ICMP timestamp reply (type 14, IPv4 only), any code.
    TimestampReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Originate timestamp, copied from the request.
        originate: u32,
        /// When the answering host received the request (ms since midnight UT).
        receive: u32,
        /// When it sent the reply.
        transmit: u32,
    },
    /// Anything else: other protocols, other ICMP messages, non-first fragments.
    Other {
        /// IPv4 protocol or IPv6 upper-layer next header (after extension headers).
        protocol: u8,
    },
}

/// Destination-unreachable codes mapped to one enum for v4 and v6; other ICMP errors too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpError {
    /// v4 type 3 code 0; v6 type 1 code 0 (no route to destination).
    NetUnreachable,
    /// v4 type 3 code 1; v6 type 1 code 3 (address unreachable).
    HostUnreachable,
    /// v4 type 3 code 2.
    ProtocolUnreachable,
    /// v4 type 3 code 3; v6 type 1 code 4.
    PortUnreachable,
    /// v4 type 3 code 4 (fragmentation needed and DF set).
    FragmentationNeeded,
    /// v4 type 3 code 9.
    NetProhibited,
    /// v4 type 3 code 10.
    HostProhibited,
    /// v4 type 3 code 13; v6 type 1 codes 1, 5 (ingress/egress policy) and 6 (reject route).
    AdminProhibited,
    /// Any other destination-unreachable code, as received.
    OtherUnreachable(u8),
    /// v4 type 11; v6 type 3.
    TimeExceeded,
    /// v4 type 12; v6 type 4.
    ParameterProblem,
    /// v6 type 2.
    PacketTooBig,
}

impl IcmpError {
    /// Maps an ICMPv4 destination-unreachable code.
    pub const fn from_v4_unreachable(code: u8) -> IcmpError {
        use icmpv4::unreach;
        match code {
            unreach::NET => IcmpError::NetUnreachable,
            unreach::HOST => IcmpError::HostUnreachable,
            unreach::PROTOCOL => IcmpError::ProtocolUnreachable,
            unreach::PORT => IcmpError::PortUnreachable,
            unreach::FRAG_NEEDED => IcmpError::FragmentationNeeded,
            unreach::NET_PROHIBITED => IcmpError::NetProhibited,
            unreach::HOST_PROHIBITED => IcmpError::HostProhibited,
            unreach::ADMIN_PROHIBITED => IcmpError::AdminProhibited,
            c => IcmpError::OtherUnreachable(c),
        }
    }

    /// Maps an ICMPv6 destination-unreachable code.
    pub const fn from_v6_unreachable(code: u8) -> IcmpError {
        use icmpv6::unreach;
        match code {
            unreach::NO_ROUTE => IcmpError::NetUnreachable,
            unreach::ADMIN_PROHIBITED | unreach::FAILED_POLICY | unreach::REJECT_ROUTE => {
                IcmpError::AdminProhibited
            }
            unreach::ADDR_UNREACHABLE => IcmpError::HostUnreachable,
            unreach::PORT_UNREACHABLE => IcmpError::PortUnreachable,
            c => IcmpError::OtherUnreachable(c),
        }
    }
}

/// The original datagram header quoted inside an ICMP error (as much as was quoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// Source of the original datagram (normally us).
    pub src: IpAddr,
    /// Destination of the original datagram (the target).
    pub dst: IpAddr,
    /// Transport protocol of the original (for IPv6, after the quoted extension headers;
    /// if those are cut short, the extension header where the quote ends).
    pub protocol: u8,
    /// Source port, if the protocol has ports and 4 transport bytes were quoted.
    pub src_port: Option<u16>,
    /// Destination port, likewise.
    pub dst_port: Option<u16>,
    /// TCP sequence number, if 8 bytes of a TCP header were quoted.
    pub seq: Option<u32>,
}

/// Reads a packet that starts at its IP header, dispatching on the version nibble.
///
/// Checksums are not verified (captured packets often carry unfinished offload
/// checksums). Bytes past the IP length are ignored (link padding). Non-first fragments
/// give [`L4::Other`]; a first fragment is read as far as it goes.
///
/// # Errors
/// [`WireError::Truncated`], [`WireError::BadVersion`], [`WireError::BadHeaderLen`],
/// [`WireError::BadLength`], [`WireError::Jumbogram`], [`WireError::TooManyExtensionHeaders`]:
/// the packet or the transport header it carries is malformed.
pub fn parse(packet: &[u8]) -> Result<Parsed<'_>, WireError> {
    match packet.first().map(|b| b >> 4) {
        None => Err(WireError::Truncated),
        Some(4) => parse_v4(packet),
        Some(6) => parse_v6(packet),
        Some(_) => Err(WireError::BadVersion),
    }
}

/// Whether the checksums of a packet (starting at its IP header) hold: the IPv4 header's,
/// and the TCP, UDP, ICMP or ICMPv6 checksum of an unfragmented packet.
///
/// [`parse`] reads packets without looking at checksums; a scanner that takes a reply as
/// an answer must look, or a damaged or forged packet the target's kernel would never have
/// accepted could decide a port's state. Two cases count as good without summing to zero:
/// an IPv4 UDP checksum of zero (none was computed), and a TCP or UDP checksum field that
/// holds exactly the pseudo-header's sum, the *partial* checksum a sender on the same
/// machine leaves for the network card to finish, which virtual links (veth, tap) deliver
/// as is. A fragment's transport checksum covers data it does not hold and is not checked.
/// A packet [`parse`] would reject gives false.
pub fn checksums_ok(packet: &[u8]) -> bool {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            let Ok(p) = ipv4::Packet::new_checked(packet) else {
                return false;
            };
            if !p.verify_checksum() {
                return false;
            }
            if p.frag_offset() != 0 || p.more_frags() {
                return true;
            }
            let Some(l4) = packet.get(p.header_len()..usize::from(p.total_len())) else {
                return false;
            };
            let (src, dst) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
            transport_checksum_ok(src, dst, p.protocol(), l4)
        }
        Some(6) => {
            let Ok(p) = ipv6::Packet::new_checked(packet) else {
                return false;
            };
            let end = ipv6::HEADER_LEN + usize::from(p.payload_len());
            let Some(payload) = packet.get(ipv6::HEADER_LEN..end) else {
                return false;
            };
            let Ok(upper) = ipv6::walk_extension_headers(p.next_header(), payload) else {
                return false;
            };
            if upper.fragment.is_some() {
                return true;
            }
            let (src, dst) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
            transport_checksum_ok(src, dst, upper.protocol, upper.payload)
        }
        _ => false,
    }
}

/// The transport checksum of a whole segment `l4` of `protocol` between `src` and `dst`.
fn transport_checksum_ok(src: IpAddr, dst: IpAddr, protocol: u8, l4: &[u8]) -> bool {
    use crate::checksum::{combine, data, pseudo_header};
    let field_at = match protocol {
        ip::TCP => 16,
        ip::UDP => 6,
        ip::ICMP if src.is_ipv4() => return data(l4) == 0xffff,
        ip::ICMPV6 if src.is_ipv6() => 2,
        _ => return true,
    };
    let Ok(len) = u32::try_from(l4.len()) else {
        return false;
    };
    let Ok(pseudo) = pseudo_header(src, dst, protocol, len) else {
        return false;
    };
    let Some(&[hi, lo]) = l4.get(field_at..field_at + 2) else {
        return false;
    };
    let field = u16::from_be_bytes([hi, lo]);
    if combine(&[pseudo, data(l4)]) == 0xffff {
        return true;
    }
    match protocol {
        ip::UDP if src.is_ipv4() && field == 0 => true,
        ip::TCP | ip::UDP => field == pseudo,
        _ => false,
    }
}

fn parse_v4(data: &[u8]) -> Result<Parsed<'_>, WireError> {
    let p = ipv4::Packet::new_checked(data)?;
    let src = IpAddr::V4(p.src_addr());
    let dst = IpAddr::V4(p.dst_addr());
    let protocol = p.protocol();
    let l4 = if p.frag_offset() != 0 {
        L4::Other { protocol }
    } else {
        let payload = data
            .get(p.header_len()..usize::from(p.total_len()))
            .ok_or(WireError::Truncated)?;
        parse_l4(Family::V4, protocol, payload, p.more_frags())?
    };
    Ok(Parsed {
        src,
        dst,
        ttl: p.ttl(),
        l4,
    })
}

fn parse_v6(data: &[u8]) -> Result<Parsed<'_>, WireError> {
    let p = ipv6::Packet::new_checked(data)?;
    if p.payload_len() == 0 {
        return Err(WireError::Jumbogram);
    }
    let payload = data
        .get(ipv6::HEADER_LEN..ipv6::HEADER_LEN + usize::from(p.payload_len()))
        .ok_or(WireError::Truncated)?;
    let upper = ipv6::walk_extension_headers(p.next_header(), payload)?;
    let l4 = if upper.has_transport_header() {
        let first_fragment = upper.fragment.is_some_and(|f| f.more);
        parse_l4(Family::V6, upper.protocol, upper.payload, first_fragment)?
    } else {
        L4::Other {
            protocol: upper.protocol,
        }
    };
    Ok(Parsed {
        src: IpAddr::V6(p.src_addr()),
        dst: IpAddr::V6(p.dst_addr()),
        ttl: p.hop_limit(),
        l4,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// Reads the transport header at the start of `data`. `first_fragment`: more fragments
/// follow, so a UDP length beyond `data` is expected and not an error.
fn parse_l4(
    family: Family,
    protocol: u8,
    data: &[u8],
    first_fragment: bool,
) -> Result<L4<'_>, WireError> {
    match (family, protocol) {
        (_, ip::TCP) => {
            let p = tcp::Packet::new_checked(data)?;
            Ok(L4::Tcp {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
                seq: p.seq_number(),
                ack: p.ack_number(),
                flags: p.flags(),
                window: p.window_len(),
                payload: data.get(p.header_len()..).ok_or(WireError::BadHeaderLen)?,
            })
        }
        (_, ip::UDP) => {
            let p = udp::Packet::new_unchecked(data);
            let end = if first_fragment {
                if data.len() < udp::HEADER_LEN {
                    return Err(WireError::Truncated);
                }
                if usize::from(p.len()) < udp::HEADER_LEN {
                    return Err(WireError::BadLength);
                }
                usize::from(p.len()).min(data.len())
            } else {
                p.check_len()?;
                usize::from(p.len())
            };
            Ok(L4::Udp {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
                payload: data.get(udp::HEADER_LEN..end).ok_or(WireError::BadLength)?,
            })
        }
        (Family::V4, ip::ICMP) => parse_icmp(Family::V4, data),
        (Family::V6, ip::ICMPV6) => parse_icmp(Family::V6, data),
        _ => Ok(L4::Other { protocol }),
    }
}

fn parse_icmp(family: Family, data: &[u8]) -> Result<L4<'_>, WireError> {
    let p = icmp::Packet::new_checked(data)?;
    let body = data.get(icmp::HEADER_LEN..).ok_or(WireError::Truncated)?;
    let (ident, seq) = (p.echo_ident(), p.echo_seq_no());
    let code = p.msg_code();
    let kind = match (family, p.msg_type()) {
        (Family::V4, icmpv4::msg_type::ECHO_REPLY) | (Family::V6, icmpv6::msg_type::ECHO_REPLY) => {
            return Ok(L4::EchoReply {
                ident,
                seq,
                payload: body,
            })
        }
        (Family::V4, icmpv4::msg_type::ECHO_REQUEST)
        | (Family::V6, icmpv6::msg_type::ECHO_REQUEST) => {
            return Ok(L4::EchoRequest {
                ident,
                seq,
                payload: body,
            })
        }
        (Family::V4, icmpv4::msg_type::TIMESTAMP_REPLY) => {
            let (originate, receive, transmit) = match body {
                [a, b, c, d, e, f, g, h, i, j, k, l, ..] => (
                    u32::from_be_bytes([*a, *b, *c, *d]),
                    u32::from_be_bytes([*e, *f, *g, *h]),
                    u32::from_be_bytes([*i, *j, *k, *l]),
                ),
                _ => return Err(WireError::Truncated),
            };
            return Ok(L4::TimestampReply {
                ident,
                seq,
                originate,
                receive,
                transmit,
            });
        }
        (Family::V4, icmpv4::msg_type::DST_UNREACHABLE) => IcmpError::from_v4_unreachable(code),
        (Family::V4, icmpv4::msg_type::TIME_EXCEEDED) => IcmpError::TimeExceeded,
        (Family::V4, icmpv4::msg_type::PARAM_PROBLEM) => IcmpError::ParameterProblem,
        (Family::V6, icmpv6::msg_type::DST_UNREACHABLE) => IcmpError::from_v6_unreachable(code),
        (Family::V6, icmpv6::msg_type::PACKET_TOO_BIG) => IcmpError::PacketTooBig,
        (Family::V6, icmpv6::msg_type::TIME_EXCEEDED) => IcmpError::TimeExceeded,
        (Family::V6, icmpv6::msg_type::PARAM_PROBLEM) => IcmpError::ParameterProblem,
        (Family::V4, _) => return Ok(L4::Other { protocol: ip::ICMP }),
        (Family::V6, _) => {
            return Ok(L4::Other {
                protocol: ip::ICMPV6,
            })
        }
    };
    let quoted = match family {
        Family::V4 => parse_quoted_v4(body)?,
        Family::V6 => parse_quoted_v6(body)?,
    };
    Ok(L4::IcmpError { kind, quoted })
}

/// Reads the IPv4 header quoted in an ICMP error. Its total length describes the
/// original datagram, not the quote, so it is not used.
fn parse_quoted_v4(data: &[u8]) -> Result<Quoted, WireError> {
    let p = ipv4::Packet::new_unchecked(data);
    p.check_header()?;
    let transport = if p.frag_offset() == 0 {
        data.get(p.header_len()..).unwrap_or_default()
    } else {
        &[]
    };
    Ok(quoted(
        IpAddr::V4(p.src_addr()),
        IpAddr::V4(p.dst_addr()),
        p.protocol(),
        transport,
    ))
}

/// Reads the IPv6 header quoted in an ICMPv6 error, walking whatever extension headers
/// the quote holds; its payload length is not used.
fn parse_quoted_v6(data: &[u8]) -> Result<Quoted, WireError> {
    let p = ipv6::Packet::new_unchecked(data);
    p.check_header()?;
    let rest = data.get(ipv6::HEADER_LEN..).unwrap_or_default();
    let w = ipv6::walk(p.next_header(), rest);
    let transport = if w.stopped.is_none() && w.upper.has_transport_header() {
        w.upper.payload
    } else {
        &[]
    };
    Ok(quoted(
        IpAddr::V6(p.src_addr()),
        IpAddr::V6(p.dst_addr()),
        w.upper.protocol,
        transport,
    ))
}

fn quoted(src: IpAddr, dst: IpAddr, protocol: u8, transport: &[u8]) -> Quoted {
    let (src_port, dst_port) = match transport {
        [a, b, c, d, ..] if ip::has_ports(protocol) => (
            Some(u16::from_be_bytes([*a, *b])),
            Some(u16::from_be_bytes([*c, *d])),
        ),
        _ => (None, None),
    };
    let seq = match transport {
        [_, _, _, _, a, b, c, d, ..] if protocol == ip::TCP => {
            Some(u32::from_be_bytes([*a, *b, *c, *d]))
        }
        _ => None,
    };
    Quoted {
        src,
        dst,
        protocol,
        src_port,
        dst_port,
        seq,
    }
}

/// A TCP probe for [`build_tcp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpProbe<'a> {
    /// Source address (our address on the route to `dst`).
    pub src: IpAddr,
    /// Destination address; same family as `src`.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window.
    pub window: u16,
    /// Raw option bytes, at most 40; padded with zero bytes to a multiple of 4.
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

/// A UDP probe for [`build_udp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpProbe<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address; same family as `src`.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

/// An ICMP echo request for [`build_echo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoProbe<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address; same family as `src`.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
    /// Echo identifier.
    pub ident: u16,
    /// Echo sequence number.
    pub seq: u16,
    /// Payload.
    pub payload: &'a [u8],
}

/// An ICMP timestamp request for [`build_timestamp`]. IPv4 only: ICMPv6 has no
/// timestamp message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampProbe {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// TTL.
    pub ttl: u8,
    /// IPv4 identification.
    pub ip_id: u16,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
    /// Originate timestamp (ms since midnight UT, or any value the sender likes: the
    /// reply copies it).
    pub originate: u32,
}

/// Writes an IPv4 header and an ICMP timestamp request (type 13; receive and transmit
/// times 0) with all checksums into `buf`; returns the packet length (40).
///
/// # Errors
/// [`WireError::BufferTooSmall`].
pub fn build_timestamp(buf: &mut [u8], p: &TimestampProbe) -> Result<usize, WireError> {
    let repr = icmpv4::Repr::Timestamp {
        ident: p.ident,
        seq_no: p.seq,
        originate: p.originate,
        receive: 0,
        transmit: 0,
    };
    build_ip(
        buf,
        Pair::V4(p.src, p.dst),
        ip::ICMP,
        p.ttl,
        p.ip_id,
        repr.buffer_len(),
        |m| repr.emit(m),
    )
}

/// Writes an IPv4 or IPv6 header and a TCP segment (options padded to 4 bytes) with all
/// checksums into `buf`; returns the packet length. IPv4: no options, DSCP 0, DF clear.
/// IPv6: traffic class 0, flow label 0.
///
/// # Errors
/// [`WireError::FamilyMismatch`], [`WireError::OptionsTooLong`] (over 40 bytes),
/// [`WireError::TooLong`], [`WireError::BufferTooSmall`].
pub fn build_tcp(buf: &mut [u8], p: &TcpProbe) -> Result<usize, WireError> {
    let pair = Pair::new(p.src, p.dst)?;
    if p.options.len() > tcp::MAX_OPTIONS_LEN {
        return Err(WireError::OptionsTooLong);
    }
    let repr = tcp::Repr {
        src_port: p.src_port,
        dst_port: p.dst_port,
        seq_number: p.seq,
        ack_number: p.ack,
        flags: p.flags,
        window_len: p.window,
        urgent_at: 0,
        options: p.options,
        payload: p.payload,
    };
    build_ip(
        buf,
        pair,
        ip::TCP,
        p.ttl,
        p.ip_id,
        repr.buffer_len(),
        |seg| repr.emit(seg, p.src, p.dst),
    )
}

/// Writes an IPv4 or IPv6 header and a UDP datagram with all checksums into `buf`;
/// returns the packet length.
///
/// # Errors
/// [`WireError::FamilyMismatch`], [`WireError::TooLong`], [`WireError::BufferTooSmall`].
pub fn build_udp(buf: &mut [u8], p: &UdpProbe) -> Result<usize, WireError> {
    let pair = Pair::new(p.src, p.dst)?;
    let repr = udp::Repr {
        src_port: p.src_port,
        dst_port: p.dst_port,
        payload: p.payload,
    };
    build_ip(
        buf,
        pair,
        ip::UDP,
        p.ttl,
        p.ip_id,
        repr.buffer_len(),
        |seg| repr.emit(seg, p.src, p.dst),
    )
}

/// Writes an ICMP echo request (IPv4 type 8, or ICMPv6 type 128 whose checksum covers the
/// pseudo-header) with all checksums into `buf`; returns the packet length.
///
/// # Errors
/// [`WireError::FamilyMismatch`], [`WireError::TooLong`], [`WireError::BufferTooSmall`].
pub fn build_echo(buf: &mut [u8], p: &EchoProbe) -> Result<usize, WireError> {
    let pair = Pair::new(p.src, p.dst)?;
    let len = icmp::HEADER_LEN + p.payload.len();
    match pair {
        Pair::V4(..) => {
            let repr = icmpv4::Repr::EchoRequest {
                ident: p.ident,
                seq_no: p.seq,
                data: p.payload,
            };
            build_ip(buf, pair, ip::ICMP, p.ttl, p.ip_id, len, |m| repr.emit(m))
        }
        Pair::V6(s, d) => {
            let repr = icmpv6::Repr::EchoRequest {
                ident: p.ident,
                seq_no: p.seq,
                data: p.payload,
            };
            build_ip(buf, pair, ip::ICMPV6, p.ttl, p.ip_id, len, |m| {
                repr.emit(m, s, d)
            })
        }
    }
}

/// Source and destination of one family.
#[derive(Clone, Copy)]
enum Pair {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl Pair {
    fn new(src: IpAddr, dst: IpAddr) -> Result<Pair, WireError> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Ok(Pair::V4(s, d)),
            (IpAddr::V6(s), IpAddr::V6(d)) => Ok(Pair::V6(s, d)),
            _ => Err(WireError::FamilyMismatch),
        }
    }
}

/// Writes the IP header for `l4_len` bytes of `protocol`, then lets `emit` write the
/// transport part after it.
fn build_ip(
    buf: &mut [u8],
    pair: Pair,
    protocol: u8,
    ttl: u8,
    ip_id: u16,
    l4_len: usize,
    emit: impl FnOnce(&mut [u8]) -> Result<usize, WireError>,
) -> Result<usize, WireError> {
    let header_len = match pair {
        Pair::V4(..) => ipv4::HEADER_LEN,
        Pair::V6(..) => ipv6::HEADER_LEN,
    };
    let ip_len_field = match pair {
        Pair::V4(..) => header_len + l4_len,
        Pair::V6(..) => l4_len,
    };
    if ip_len_field > usize::from(u16::MAX) {
        return Err(WireError::TooLong);
    }
    let total = header_len + l4_len;
    let out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
    let (header, rest) = out.split_at_mut(header_len);
    match pair {
        Pair::V4(src_addr, dst_addr) => ipv4::Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len: l4_len,
            ttl,
            ident: ip_id,
            dont_frag: false,
        }
        .emit(&mut ipv4::Packet::new_unchecked(header))?,
        Pair::V6(src_addr, dst_addr) => ipv6::Repr {
            src_addr,
            dst_addr,
            next_header: protocol,
            payload_len: l4_len,
            hop_limit: ttl,
        }
        .emit(&mut ipv6::Packet::new_unchecked(header))?,
    }
    emit(rest)?;
    Ok(total)
}

#[cfg(test)]
mod tests;
