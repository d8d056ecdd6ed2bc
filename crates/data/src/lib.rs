//! Every piece of data monban ships, in one place.
//!
//! All of it is our own, written by the monban authors from public registries and
//! protocol specifications; none of it is derived from another scanner's data files. The
//! text tables are embedded at build time; each crate that reads one parses it on first
//! use and documents the parser. Each file states its format and provenance at its top.
//!
//! | data | what it is | read by |
//! |---|---|---|
//! | `files/services.txt` ([`SERVICES`]) | service names per port and protocol (IANA registry facts) | `monban_engine::services` |
//! | `files/top-ports-tcp.txt`, `files/top-ports-udp.txt` ([`TOP_PORTS_TCP`], [`TOP_PORTS_UDP`]) | our ranking of ports for `--top-ports` and the default port list | `monban_engine::ports` |
//! | `files/probes.txt` ([`PROBES`]) | the service probe database of `-sV`: what to send, how to read the reply | `monban_probes` |
//! | `files/risks.txt` ([`RISKS`]) | risk notes and advice for exposed services | `monban_probes::risk` |
//! | `files/worms.txt` ([`WORMS`]) | ports that worms and mass exploitation campaigns are known to probe | `monban_detect::log::explain` |
//! | [`payloads`] | the UDP datagrams of `-sU`, built from the protocol specifications in code | `monban_engine::scan`, and `probes.txt` by name (`send payload NAME`) |
//!
//! A request is written once: where `-sV` sends the same datagram as `-sU` (DNS, NTP,
//! SNMP, memcached), the probe database names the payload instead of repeating its bytes.
//! Fixed values that a reply echoes (transaction and request ids) spell `mb` or `monban`
//! in ASCII, so a capture shows whose they are.
//!
//! [`Protocol`] is the one TCP/UDP type of the workspace: the engine's ports, the probe
//! database's probes and the outputs all use it.

#![warn(missing_docs)]

use std::fmt;

pub mod payloads;

/// Service names: `files/services.txt`.
pub const SERVICES: &str = include_str!("../files/services.txt");
/// The TCP port ranking: `files/top-ports-tcp.txt`.
pub const TOP_PORTS_TCP: &str = include_str!("../files/top-ports-tcp.txt");
/// The UDP port ranking: `files/top-ports-udp.txt`.
pub const TOP_PORTS_UDP: &str = include_str!("../files/top-ports-udp.txt");
/// The service probe database: `files/probes.txt`.
pub const PROBES: &str = include_str!("../files/probes.txt");
/// The risk table: `files/risks.txt`.
pub const RISKS: &str = include_str!("../files/risks.txt");
/// The worm and campaign table: `files/worms.txt`.
pub const WORMS: &str = include_str!("../files/worms.txt");

/// Transport protocol of a port or a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP: a probe is written to a connected stream.
    Tcp,
    /// UDP: a probe is one datagram.
    Udp,
}

impl Protocol {
    /// Both protocols.
    pub const ALL: [Protocol; 2] = [Protocol::Tcp, Protocol::Udp];

    /// The protocol of an [`as_str`](Self::as_str) spelling.
    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Lower-case name as nmap writes it and the data files spell it (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_spellings_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Protocol::parse("TCP"), None);
        assert_eq!(Protocol::parse("sctp"), None);
    }

    #[test]
    fn every_table_is_embedded() {
        for (name, text) in [
            ("services", SERVICES),
            ("top-ports-tcp", TOP_PORTS_TCP),
            ("top-ports-udp", TOP_PORTS_UDP),
            ("probes", PROBES),
            ("risks", RISKS),
            ("worms", WORMS),
        ] {
            assert!(text.lines().count() > 20, "{name} is nearly empty");
            assert!(text.starts_with('#'), "{name} starts without its header");
        }
    }
}
