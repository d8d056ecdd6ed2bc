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
    /// The kernel's stamp, time since the logging host booted (`[12345.678901]`), where the
    /// line has one: the only clock of `dmesg` lines.
    pub uptime: Option<std::time::Duration>,
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

impl LogRecord {
    /// A record of `format` that says nothing yet: direction and action unknown, TCP, every
    /// other field empty. Readers fill in what their line says.
    pub fn blank(format: LogFormat) -> LogRecord {
        LogRecord {
            format,
            time: None,
            uptime: None,
            direction: Direction::Unknown,
            action: Action::Unknown,
            protocol: LogProto::Tcp,
            src: None,
            dst: None,
            src_port: None,
            dst_port: None,
            service: None,
            tcp_flags: None,
            window: None,
            tcp_options: None,
            icmp: None,
            ttl: None,
            ip_id: None,
            df: None,
            length: None,
            interfaces: (None, None),
            prefix: None,
        }
    }
}

use crate::packet::{Icmp, Packet, TcpOptions, Transport};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The probe a record describes, as the detector reads packets: `None` when the source
/// address is masked or missing (such a record can be explained, not tracked). A record
/// without a destination stands for this host (the unspecified address of the source's
/// family); TCP without logged flags is taken for a SYN (a log line of a new connection).
pub fn to_packet(rec: &LogRecord) -> Option<Packet> {
    let LogAddr::Ip(src) = rec.src.as_ref()? else {
        return None;
    };
    let dst = match &rec.dst {
        Some(LogAddr::Ip(d)) => *d,
        _ if src.is_ipv4() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let transport = match rec.protocol {
        LogProto::Tcp => Transport::Tcp {
            src_port: rec.src_port.unwrap_or(0),
            dst_port: rec.dst_port.unwrap_or(0),
            seq: 0,
            ack: 0,
            flags: rec.tcp_flags.unwrap_or(crate::packet::flags::SYN),
            window: rec.window.unwrap_or(0),
            options: TcpOptions::from_bytes(rec.tcp_options.as_deref().unwrap_or(&[])),
            payload_len: 0,
        },
        LogProto::Udp => Transport::Udp {
            src_port: rec.src_port.unwrap_or(0),
            dst_port: rec.dst_port.unwrap_or(0),
            payload_len: 0,
        },
        LogProto::Icmp | LogProto::Icmpv6 => {
            let v6 = rec.protocol == LogProto::Icmpv6;
            let (ty, code) = rec.icmp.unwrap_or((if v6 { 128 } else { 8 }, 0));
            Transport::Icmp(match (v6, ty) {
                (false, 8) | (true, 128) => Icmp::EchoRequest {
                    ident: 0,
                    seq: 0,
                    data_len: 0,
                },
                (false, 13) => Icmp::TimestampRequest { ident: 0, seq: 0 },
                (false, 17) => Icmp::MaskRequest,
                _ => Icmp::Other {
                    icmp_type: ty,
                    code,
                },
            })
        }
        LogProto::Other(protocol) => Transport::Other { protocol },
    };
    Some(Packet {
        src: *src,
        dst,
        ttl: rec.ttl.unwrap_or(64),
        ip_id: if src.is_ipv4() { rec.ip_id } else { None },
        df: rec.df.unwrap_or(false),
        transport,
    })
}

/// The detector's clock for a record: its date, else its kernel uptime counted from the
/// epoch (a `dmesg` line's only clock: reports then read 1970-01-01 plus the uptime, but
/// order and spacing are right), else `None` (the caller keeps the last time seen).
pub fn clock(rec: &LogRecord) -> Option<Timestamp> {
    rec.time.or_else(|| {
        rec.uptime
            .map(|u| Timestamp::from_nanos(u64::try_from(u.as_nanos()).unwrap_or(u64::MAX)))
    })
}

/// Whether a record's SYN could as well be a connect scan's: the log kept neither the
/// TCP options nor the DF bit, which is what tells a kernel's SYN from a crafted one.
pub fn syn_or_connect_unknown(rec: &LogRecord) -> bool {
    rec.protocol == LogProto::Tcp && rec.tcp_options.is_none() && rec.df.is_none()
}
