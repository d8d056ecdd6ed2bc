//! Firewall logs as detector input: each record is a probe whose answer is unknown.
//!
//! The formats (`parse`) turn lines into [`LogRecord`]s; `explain` says in plain words what
//! one record means. Both are pure: no file is opened here.

use crate::time::Timestamp;
use std::net::IpAddr;

/// An address as the log wrote it: most logs give it whole, some mask part of it
/// (`210.3.xxx.xxx`), which is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAddr {
    /// A whole IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A masked or otherwise partial address, as written.
    Masked(String),
}

/// Which way the packet went, seen from the logging host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From outside to this host (iptables INPUT: `IN=` set, `OUT=` empty).
    Inbound,
    /// From this host out (`IN=` empty, `OUT=` set).
    Outbound,
    /// Through this host (`IN=` and `OUT=` both set).
    Forwarded,
    /// The record does not say.
    Unknown,
}

/// What the firewall did with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Dropped or rejected.
    Blocked,
    /// Let through.
    Allowed,
    /// The record does not say (a plain LOG rule with a prefix that names no action).
    Unknown,
}

/// The record's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogProto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// ICMPv6.
    Icmpv6,
    /// Another IP protocol, by number.
    Other(u8),
}

/// The format a record was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// A Linux kernel LOG line (iptables, nftables, ufw, firewalld), as syslog or kern.log
    /// writes it, or as `journalctl -k` prints it (short format).
    Kernel,
    /// `journalctl -k -o json`: one JSON object per line, the kernel line in `MESSAGE`.
    JournalJson,
    /// Windows Defender Firewall's `pfirewall.log` (W3C extended, columns from `#Fields:`).
    Pfirewall,
    /// The Japanese personal-firewall record (several lines: 日付 / 時刻, what happened,
    /// 詳細, the direction and protocol, the remote address and local service).
    PersonalFirewallJa,
}

impl LogFormat {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Kernel => "kernel",
            LogFormat::JournalJson => "journal-json",
            LogFormat::Pfirewall => "pfirewall",
            LogFormat::PersonalFirewallJa => "personal-firewall-ja",
        }
    }
}

/// One firewall log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The format it was read in.
    pub format: LogFormat,
    /// When it was logged (UTC), if the record says (a syslog line without a year takes
    /// the year the reader was given).
    pub time: Option<Timestamp>,
    /// The direction.
    pub direction: Direction,
    /// The firewall's action.
    pub action: Action,
    /// The protocol.
    pub protocol: LogProto,
    /// Where the packet came from.
    pub src: Option<LogAddr>,
    /// Where it went.
    pub dst: Option<LogAddr>,
    /// Source port (TCP, UDP).
    pub src_port: Option<u16>,
    /// Destination port (TCP, UDP).
    pub dst_port: Option<u16>,
    /// The local service by name when the log names it instead of a port (`http`).
    pub service: Option<String>,
    /// TCP flags, when logged (bits as in the TCP header: FIN 0x01 ... CWR 0x80).
    pub tcp_flags: Option<u8>,
    /// TCP window, when logged.
    pub window: Option<u16>,
    /// TCP options bytes, when logged (`--log-tcp-options`, nft `flags tcp options`).
    pub tcp_options: Option<Vec<u8>>,
    /// ICMP type and code, when logged.
    pub icmp: Option<(u8, u8)>,
    /// IP TTL or hop limit.
    pub ttl: Option<u8>,
    /// IPv4 identification.
    pub ip_id: Option<u16>,
    /// IPv4 don't-fragment bit (`DF` in kernel lines).
    pub df: Option<bool>,
    /// Packet length.
    pub length: Option<u32>,
    /// Input and output interfaces (`IN=`, `OUT=`), empty when the log left them empty.
    pub interfaces: (Option<String>, Option<String>),
    /// The log prefix (`[UFW BLOCK]`, `DROP: `, a firewalld zone prefix...).
    pub prefix: Option<String>,
}

pub mod explain;
pub mod parse;
