//! monban-wire: packet parse and build for IPv4, IPv6, TCP, UDP, ICMPv4 and ICMPv6.
//!
//! Pure functions over byte slices: no I/O, no allocation, and no panic on any input —
//! malformed or hostile packets give a [`WireError`].
//!
//! Two layers:
//! - per-protocol modules in the style of smoltcp's `wire`: a `Packet<T: AsRef<[u8]>>` view
//!   with field accessors (and setters when `T: AsMut<[u8]>`), checked once by
//!   `new_checked`, plus a plain `Repr` with `parse` and `emit`;
//! - the summary API the scan engine uses: [`parse`] reads any reply into a [`Parsed`],
//!   [`build_tcp`], [`build_udp`] and [`build_echo`] write complete probes.
//!
//! Checksums are computed when building and never checked when parsing (packets captured
//! on veth or loopback often carry unfinished offload checksums); each view has a
//! `verify_checksum` for callers who care.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arp;
pub mod checksum;
pub mod icmp;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod mark;
pub mod ndp;
pub mod tcp;
pub mod udp;

mod bytes;
mod error;
mod summary;

#[cfg(test)]
mod testdata;
#[cfg(test)]
mod testutil;

pub use std::net::IpAddr;

pub use arp::MacAddr;
pub use error::WireError;
pub use summary::{
    build_echo, build_tcp, build_timestamp, build_udp, checksums_ok, parse, EchoProbe, IcmpError,
    Parsed, Quoted, TcpProbe, TimestampProbe, UdpProbe, L4, TCP_OPT_MSS_1460,
};
pub use tcp::TcpFlags;
