//! Which tool wrote a probe, from the probe alone.
//!
//! Scanners that write their own packets leave habits in fields an operating system fills
//! in differently. Each rule below says which facts it rests on; the facts were read off
//! captures of the real tools (Debian's nmap 7.93, masscan 1.3.2, zmap 2.1.1, and monban)
//! in our lab, saved under `crates/detect/testdata/real/` with the commands that made them.
//! Probes written by the kernel (`connect()`, `ping`) carry no such habit and give
//! [`Tool::Unknown`]; so does any probe that matches no rule.
//!
//! | tool | facts |
//! |---|---|
//! | monban | TCP window = mark(seq), and over IPv4 the identification equals it; UDP and ICMP over IPv4: identification = mark(ports) / mark(ident, seq) — see `monban_wire::mark` |
//! | zmap | IPv4 identification is always 54321; TTL 255; SYN window 65535 |
//! | masscan | IPv4 identification = low 16 bits of (destination address XOR destination port XOR sequence number); TTL 255; SYN window 1024 |
//! | nmap | raw TCP probes: window 1024, 2048, 3072 or 4096; a SYN carries exactly one option, MSS 1460; FIN, NULL, Xmas, ACK and Maimon probes carry none; ICMP echo without data; no DF |
//!
//! A campaign's tool is the one most of its probes name ([`ToolVotes`]).

use crate::packet::{flags, Icmp, Packet, Transport};
use monban_wire::mark::{mark, mark_pair};
use std::net::IpAddr;

/// A scanning tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    /// Nmap.
    Nmap,
    /// masscan.
    Masscan,
    /// ZMap.
    Zmap,
    /// monban itself.
    Monban,
    /// Nothing in the packets names a tool.
    Unknown,
}

impl Tool {
    /// The name used in alerts.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Nmap => "nmap",
            Tool::Masscan => "masscan",
            Tool::Zmap => "zmap",
            Tool::Monban => "monban",
            Tool::Unknown => "unknown",
        }
    }

    const KNOWN: [Tool; 4] = [Tool::Nmap, Tool::Masscan, Tool::Zmap, Tool::Monban];
}

/// The SYN option nmap's raw SYN probes carry, and nothing else: MSS 1460.
const NMAP_SYN_OPTIONS: [u8; 4] = [2, 4, 0x05, 0xb4];
/// zmap's fixed IPv4 identification.
const ZMAP_IP_ID: u16 = 54321;

/// The tool whose habits a probe shows, or [`Tool::Unknown`].
pub fn classify(p: &Packet) -> Tool {
    match p.transport {
        Transport::Tcp {
            dst_port,
            seq,
            flags: f,
            window,
            options,
            ..
        } => {
            let marked = mark(seq);
            if window == marked && p.ip_id.is_none_or(|id| id == marked) {
                return Tool::Monban;
            }
            if p.ip_id == Some(ZMAP_IP_ID) {
                return Tool::Zmap;
            }
            if let (Some(id), IpAddr::V4(dst)) = (p.ip_id, p.dst) {
                let d = u32::from(dst);
                if id == (d as u16) ^ dst_port ^ (seq as u16) && p.ttl == 255 {
                    return Tool::Masscan;
                }
            }
            let nmap_window = matches!(window, 1024 | 2048 | 3072 | 4096);
            if nmap_window && !p.df {
                let syn = f & flags::SYN != 0;
                let opts = options.as_bytes();
                if (syn && opts == NMAP_SYN_OPTIONS) || (!syn && opts.is_empty()) {
                    return Tool::Nmap;
                }
            }
            Tool::Unknown
        }
        Transport::Udp {
            src_port, dst_port, ..
        } => match p.ip_id {
            Some(id) if id == mark_pair(src_port, dst_port) => Tool::Monban,
            Some(ZMAP_IP_ID) => Tool::Zmap,
            _ => Tool::Unknown,
        },
        Transport::Icmp(Icmp::EchoRequest {
            ident,
            seq,
            data_len,
        }) => icmp_tool(p, ident, seq, data_len),
        // A timestamp request has no data beyond its 12 bytes of times.
        Transport::Icmp(Icmp::TimestampRequest { ident, seq }) => icmp_tool(p, ident, seq, 0),
        _ => Tool::Unknown,
    }
}

fn icmp_tool(p: &Packet, ident: u16, seq: u16, data_len: u16) -> Tool {
    if p.ip_id == Some(mark_pair(ident, seq)) {
        Tool::Monban
    } else if p.ip_id == Some(ZMAP_IP_ID) {
        Tool::Zmap
    } else if data_len == 0 && !p.df {
        Tool::Nmap
    } else {
        Tool::Unknown
    }
}

/// Votes of a campaign's probes for a tool.
#[derive(Debug, Clone, Default)]
pub struct ToolVotes {
    counts: [u32; 5],
}

impl ToolVotes {
    /// Counts one probe's tool.
    pub fn add(&mut self, t: Tool) {
        if let Some(c) = self.counts.get_mut(t as usize) {
            *c = c.saturating_add(1);
        }
    }

    /// Adds another campaign's votes.
    pub fn merge(&mut self, other: &ToolVotes) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
    }

    /// The tool named by more than half of the probes that name one, and by at least a
    /// fifth of all probes (a connect scan's kernel SYNs name nobody; a few stray matches
    /// in a crowd of them must not name a tool).
    pub fn winner(&self) -> Tool {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        let named: u64 = total - u64::from(self.counts[Tool::Unknown as usize]);
        Tool::KNOWN
            .into_iter()
            .find(|&t| {
                let c = u64::from(self.counts[t as usize]);
                c * 2 > named && c * 5 >= total
            })
            .unwrap_or(Tool::Unknown)
    }

    /// Probes that named `t`.
    pub fn count(&self, t: Tool) -> u32 {
        self.counts[t as usize]
    }
}
