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
//! | monban | TCP window = mark(seq), and over IPv4 the identification equals it (so a firewall log, which keeps no sequence number, still shows window = identification); UDP and ICMP over IPv4: identification = mark(ports) / mark(ident, seq) — see `monban_wire::mark` |
//! | zmap | IPv4 identification is always 54321; TTL 255; SYN window 65535 |
//! | masscan | IPv4 identification = low 16 bits of (destination address XOR destination port XOR sequence number); TTL 255; SYN window 1024 |
//! | nmap | raw TCP probes: window 1024, 2048, 3072 or 4096; a SYN carries exactly one option, MSS 1460; FIN, NULL, Xmas, ACK and Maimon probes carry none; ICMP echo without data; no DF; over IPv4 every packet draws its TTL from 37..=59 ([`TtlSpread`], judged over a source's probes) |
//! | masscan (`--ping`) | ICMP echo with 48 data bytes, no DF, TTL above 128 (sent as 255) |
//!
//! A campaign's tool is the one most of its probes name ([`ToolVotes`]); a source whose
//! TTLs are random as nmap's are names nmap for its probes that name nothing else (UDP and
//! IP-protocol probes carry no other habit). Packets the kernel writes for a raw scanner
//! (the RST after a SYN/ACK) are not probes and are not counted.

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
/// Bytes after the header of masscan's echo request (`--ping`): 0x08, 0x09, ... 0x37.
const MASSCAN_ECHO_DATA: u16 = 48;

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
            // A firewall log keeps the window and the identification but not the sequence
            // number: monban writes mark(seq) into both, so they are equal.
            if window != 0 && p.ip_id == Some(window) && f & flags::RST == 0 {
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
    } else if data_len == MASSCAN_ECHO_DATA && !p.df && p.ttl > 128 {
        Tool::Masscan
    } else {
        Tool::Unknown
    }
}

/// The TTL habit of nmap's raw probes over IPv4: each packet gets its own TTL, drawn from
/// 37..=59 (23 values in every capture we made). An operating system uses one TTL per
/// path, and a NAT mixing systems spreads its TTLs by 64 or more, so a source whose
/// probes' TTLs spread over [`RANDOM_TTL_MIN_SPREAD`]..=[`RANDOM_TTL_MAX_SPREAD`] below
/// [`RANDOM_TTL_CEILING`] is writing its own TTLs at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlSpread {
    min: u8,
    max: u8,
    n: u32,
}

/// Smallest spread that counts as random TTLs.
pub const RANDOM_TTL_MIN_SPREAD: u8 = 6;
/// Largest spread that counts (nmap's is 22; wider means several systems).
pub const RANDOM_TTL_MAX_SPREAD: u8 = 24;
/// Highest TTL of such probes (nmap's highest is 59; routers only lower it).
pub const RANDOM_TTL_CEILING: u8 = 60;
/// Probes needed before the spread is judged.
pub const RANDOM_TTL_PROBES: u32 = 4;

impl Default for TtlSpread {
    fn default() -> TtlSpread {
        TtlSpread {
            min: u8::MAX,
            max: 0,
            n: 0,
        }
    }
}

impl TtlSpread {
    /// Counts one IPv4 probe's TTL.
    pub fn add(&mut self, ttl: u8) {
        self.min = self.min.min(ttl);
        self.max = self.max.max(ttl);
        self.n = self.n.saturating_add(1);
    }

    /// Whether the TTLs look drawn at random per packet, as nmap draws them.
    pub fn random(&self) -> bool {
        let spread = self.max.saturating_sub(self.min);
        self.n >= RANDOM_TTL_PROBES
            && (RANDOM_TTL_MIN_SPREAD..=RANDOM_TTL_MAX_SPREAD).contains(&spread)
            && self.max <= RANDOM_TTL_CEILING
    }
}

/// Probes naming a tool that name it for the campaign even among many unnamed ones.
pub const MIN_NAMING_PROBES: u64 = 4;

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
    /// fifth of all probes or by [`MIN_NAMING_PROBES`] of them (a connect scan's kernel
    /// SYNs name nobody; one stray match in a crowd of them must not name a tool, while
    /// nmap `-sV`'s few raw SYNs before its many connections do name nmap).
    pub fn winner(&self) -> Tool {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        let named: u64 = total - u64::from(self.counts[Tool::Unknown as usize]);
        Tool::KNOWN
            .into_iter()
            .find(|&t| {
                let c = u64::from(self.counts[t as usize]);
                c * 2 > named && (c * 5 >= total || c >= MIN_NAMING_PROBES)
            })
            .unwrap_or(Tool::Unknown)
    }

    /// Probes that named `t`.
    pub fn count(&self, t: Tool) -> u32 {
        self.counts[t as usize]
    }
}
