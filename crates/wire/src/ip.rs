//! IP protocol / next-header numbers (IANA "Assigned Internet Protocol Numbers").

/// IPv6 Hop-by-Hop Options extension header.
pub const HOP_BY_HOP: u8 = 0;
/// ICMP for IPv4.
pub const ICMP: u8 = 1;
/// TCP.
pub const TCP: u8 = 6;
/// UDP.
pub const UDP: u8 = 17;
/// DCCP (ports in the first four bytes, like TCP and UDP).
pub const DCCP: u8 = 33;
/// IPv6 Routing extension header.
pub const IPV6_ROUTING: u8 = 43;
/// IPv6 Fragment extension header.
pub const IPV6_FRAGMENT: u8 = 44;
/// ICMP for IPv6.
pub const ICMPV6: u8 = 58;
/// IPv6 "no next header".
pub const IPV6_NO_NEXT: u8 = 59;
/// IPv6 Destination Options extension header.
pub const IPV6_DEST_OPTS: u8 = 60;
/// SCTP (ports in the first four bytes).
pub const SCTP: u8 = 132;
/// UDP-Lite (ports in the first four bytes).
pub const UDPLITE: u8 = 136;

/// Whether a transport protocol starts with 16-bit source and destination ports.
pub const fn has_ports(protocol: u8) -> bool {
    matches!(protocol, TCP | UDP | DCCP | SCTP | UDPLITE)
}
