//! What one firewall log record means, in plain words.
//!
//! [`explain`] reasons a [`LogRecord`] through the way a person would: which way the packet
//! went and who sent it, what kind of packet it was (a connection attempt, a stealth probe,
//! a stray), which service and port class it aimed at and how risky that service is, which
//! worms were known for that port at that date, and what to do about it. The worms come
//! from our own table, `files/worms.txt` in `monban-data` (format at its top), embedded and
//! parsed on first use. Nothing here prints or panics: every field of a record may be missing.

use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;

use monban_engine::services;
use monban_engine::Protocol;
use monban_probes::{risk_for, Risk};
use serde_json::{json, Value};

use super::{Action, Direction, LogAddr, LogFormat, LogProto, LogRecord};
use crate::time::Timestamp;

/// The embedded worm table.
const WORMS_TXT: &str = monban_data::WORMS;

// ---- the worm table ----

/// A year, and a month when the source gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearMonth {
    /// The year.
    pub year: u16,
    /// The month, 1-12, if known.
    pub month: Option<u8>,
}

impl YearMonth {
    /// The first month it covers, as a comparable number.
    fn start(self) -> u32 {
        u32::from(self.year) * 12 + u32::from(self.month.unwrap_or(1)) - 1
    }

    /// The last month it covers, as a comparable number.
    fn end(self) -> u32 {
        u32::from(self.year) * 12 + u32::from(self.month.unwrap_or(12)) - 1
    }

    fn parse(s: &str) -> Option<YearMonth> {
        let (y, m) = match s.split_once('-') {
            Some((y, m)) => (y, Some(m)),
            None => (s, None),
        };
        if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: u16 = y.parse().ok()?;
        let month = match m {
            None => None,
            Some(m) if m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()) => {
                let m: u8 = m.parse().ok()?;
                if !(1..=12).contains(&m) {
                    return None;
                }
                Some(m)
            }
            Some(_) => return None,
        };
        Some(YearMonth { year, month })
    }
}

impl fmt::Display for YearMonth {
    /// `July 2001`, or `2001` without a month.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.month {
            Some(m) => write!(f, "{} {}", month_name(m), self.year),
            None => write!(f, "{}", self.year),
        }
    }
}

fn month_name(m: u8) -> &'static str {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    NAMES
        .get(usize::from(m.saturating_sub(1)))
        .copied()
        .unwrap_or("?")
}

/// Where a worm's packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WormPort {
    /// A TCP port.
    Tcp(u16),
    /// A UDP port.
    Udp(u16),
    /// ICMP echo requests (pings).
    Icmp,
}

impl WormPort {
    fn parse(s: &str) -> Option<WormPort> {
        if s == "icmp" {
            return Some(WormPort::Icmp);
        }
        let (port, proto) = s.split_once('/')?;
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port: u16 = port.parse().ok()?;
        match proto {
            "tcp" => Some(WormPort::Tcp(port)),
            "udp" => Some(WormPort::Udp(port)),
            _ => None,
        }
    }
}

impl fmt::Display for WormPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WormPort::Tcp(p) => write!(f, "{p}/tcp"),
            WormPort::Udp(p) => write!(f, "{p}/udp"),
            WormPort::Icmp => f.write_str("icmp"),
        }
    }
}

/// How a worm found its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// It swept addresses across the internet: any host can see its knocks.
    Scan,
    /// It spread inside local networks: seen from a neighbour, not from the internet.
    Local,
    /// It found its targets through a web search engine, not by scanning addresses.
    Search,
}

impl Reach {
    /// The word the table uses (`scan`, `local`, `search`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Scan => "scan",
            Reach::Local => "local",
            Reach::Search => "search",
        }
    }
}

/// One entry of the worm table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worm {
    /// Unique id (`code-red`).
    pub id: &'static str,
    /// Name shown (`Code Red`).
    pub name: &'static str,
    /// Where its packets go.
    pub ports: Vec<WormPort>,
    /// Source ports its packets always come from, whatever their destination.
    pub from_ports: Vec<WormPort>,
    /// When it appeared.
    pub first: YearMonth,
    /// The end of its wide spread; `None`: still active.
    pub last: Option<YearMonth>,
    /// How it found targets.
    pub reach: Reach,
    /// One sentence: what it did.
    pub what: &'static str,
    /// Where the facts come from (advisories, bulletins, write-ups).
    pub sources: Vec<&'static str>,
}

impl Worm {
    /// Whether `year`/`month` falls within its active years.
    pub fn active_in(&self, year: u16, month: u8) -> bool {
        let at = u32::from(year) * 12 + u32::from(month) - 1;
        at >= self.first.start()
            && match self.last {
                None => true,
                Some(l) => at <= l.end(),
            }
    }

    /// `March 2004`, `2001, from July`, `October 2016 to 2017`,
    /// `since November 2008, still active`.
    pub fn active_text(&self) -> String {
        match self.last {
            None => format!("since {}, still active", self.first),
            Some(l) if l == self.first => self.first.to_string(),
            Some(l) if l.year == self.first.year && l.month.is_none() => match self.first.month {
                Some(m) => format!("{}, from {}", l.year, month_name(m)),
                None => l.year.to_string(),
            },
            Some(l) => format!("{} to {}", self.first, l),
        }
    }
}

/// A line of the worm table that does not follow its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WormTableError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for WormTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worms.txt line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for WormTableError {}

/// The worm table shipped inside monban, parsed on first use. The unit tests parse it
/// strictly, so the error is not expected in a released build; it is returned, not
/// panicked on.
pub fn worm_table() -> Result<&'static [Worm], WormTableError> {
    static TABLE: OnceLock<Result<Vec<Worm>, WormTableError>> = OnceLock::new();
    TABLE
        .get_or_init(|| parse_worms(WORMS_TXT))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

#[derive(Default)]
struct WormDraft {
    line: usize,
    id: &'static str,
    name: Option<&'static str>,
    ports: Option<Vec<WormPort>>,
    from: Option<Vec<WormPort>>,
    active: Option<(YearMonth, Option<YearMonth>)>,
    reach: Option<Reach>,
    what: Option<&'static str>,
    sources: Option<Vec<&'static str>>,
}

fn parse_worms(text: &'static str) -> Result<Vec<Worm>, WormTableError> {
    let mut out: Vec<Worm> = Vec::new();
    let mut cur: Option<WormDraft> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |reason: String| WormTableError { line, reason };
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (keyword, rest) = match l.split_once(char::is_whitespace) {
            Some((k, r)) => (k, r.trim()),
            None => (l, ""),
        };
        if rest.is_empty() {
            return Err(err(format!("`{keyword}` needs a value")));
        }
        if keyword == "worm" {
            if let Some(d) = cur.take() {
                out.push(finish_worm(d, &out)?);
            }
            let ok = rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(err(format!("bad worm id `{rest}`")));
            }
            cur = Some(WormDraft {
                line,
                id: rest,
                ..WormDraft::default()
            });
            continue;
        }
        let Some(d) = cur.as_mut() else {
            return Err(err(format!("`{keyword}` outside a `worm` entry")));
        };
        let dup = || err(format!("`{keyword}` given twice"));
        match keyword {
            "name" => {
                if d.name.replace(rest).is_some() {
                    return Err(dup());
                }
            }
            "ports" | "from" => {
                let items = rest
                    .split_whitespace()
                    .map(|s| WormPort::parse(s).ok_or_else(|| err(format!("bad port `{s}`"))))
                    .collect::<Result<Vec<_>, _>>()?;
                if keyword == "from" && items.contains(&WormPort::Icmp) {
                    return Err(err("`from` takes TCP or UDP ports".to_string()));
                }
                let slot = if keyword == "ports" {
                    &mut d.ports
                } else {
                    &mut d.from
                };
                if slot.replace(items).is_some() {
                    return Err(dup());
                }
            }
            "active" => {
                let mut parts = rest.split_whitespace();
                let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(err("`active` takes FIRST and LAST".to_string()));
                };
                let first = YearMonth::parse(a).ok_or_else(|| err(format!("bad date `{a}`")))?;
                let last = if b == "ongoing" {
                    None
                } else {
                    let l = YearMonth::parse(b).ok_or_else(|| err(format!("bad date `{b}`")))?;
                    if l.end() < first.start() {
                        return Err(err(format!("`{b}` is before `{a}`")));
                    }
                    Some(l)
                };
                if d.active.replace((first, last)).is_some() {
                    return Err(dup());
                }
            }
            "reach" => {
                let r = match rest {
                    "scan" => Reach::Scan,
                    "local" => Reach::Local,
                    "search" => Reach::Search,
                    other => return Err(err(format!("bad reach `{other}`"))),
                };
                if d.reach.replace(r).is_some() {
                    return Err(dup());
                }
            }
            "what" => {
                if d.what.replace(rest).is_some() {
                    return Err(dup());
                }
            }
            "source" => {
                let list: Vec<&'static str> = rest
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if list.is_empty() {
                    return Err(err("`source` names no source".to_string()));
                }
                if d.sources.replace(list).is_some() {
                    return Err(dup());
                }
            }
            other => return Err(err(format!("unknown keyword `{other}`"))),
        }
    }
    if let Some(d) = cur.take() {
        out.push(finish_worm(d, &out)?);
    }
    Ok(out)
}

fn finish_worm(d: WormDraft, done: &[Worm]) -> Result<Worm, WormTableError> {
    let line = d.line;
    let missing = |k: &str| WormTableError {
        line,
        reason: format!("worm `{}` has no `{k}`", d.id),
    };
    if done.iter().any(|w| w.id == d.id) {
        return Err(WormTableError {
            line,
            reason: format!("worm `{}` given twice", d.id),
        });
    }
    let ports = d.ports.unwrap_or_default();
    let from_ports = d.from.unwrap_or_default();
    if ports.is_empty() && from_ports.is_empty() {
        return Err(missing("ports` or `from"));
    }
    let (first, last) = d.active.ok_or_else(|| missing("active"))?;
    Ok(Worm {
        id: d.id,
        name: d.name.ok_or_else(|| missing("name"))?,
        ports,
        from_ports,
        first,
        last,
        reach: d.reach.ok_or_else(|| missing("reach"))?,
        what: d.what.ok_or_else(|| missing("what"))?,
        sources: d.sources.ok_or_else(|| missing("source"))?,
    })
}

// ---- the explanation ----

/// The scan a record's source was found part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRef {
    /// The campaign's id in the detector's report.
    pub id: u64,
    /// What kind of scan it is (`vertical`, `horizontal`, ...), as the detector names it.
    pub kind: String,
}

pub use monban_engine::services::PortClass;

/// The numbers of a port class, for explanations.
fn class_range(class: PortClass) -> &'static str {
    match class {
        PortClass::WellKnown => "0-1023",
        PortClass::Registered => "1024-49151",
        PortClass::Dynamic => "49152-65535",
    }
}

/// What kind of packet the record shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// SYN alone: a normal connection attempt.
    Syn,
    /// SYN and ACK: the answer to a connection attempt.
    SynAck,
    /// FIN alone: a stealth probe.
    Fin,
    /// No flag at all: a stealth probe.
    Null,
    /// FIN, PSH and URG: a stealth probe.
    Xmas,
    /// ACK alone: a firewall-mapping probe, or a stray packet of an old connection.
    Ack,
    /// RST (with or without ACK): a reset.
    Rst,
    /// Other flags with ACK (FIN+ACK, PSH+ACK): a late packet of a connection.
    Stray(u8),
    /// A combination no ordinary TCP stack sends (SYN+FIN, URG alone...).
    OddFlags(u8),
    /// TCP, flags not logged.
    Tcp,
    /// A UDP datagram.
    Udp,
    /// ICMP or ICMPv6 with its type and code.
    Icmp {
        /// Type.
        kind: u8,
        /// Code.
        code: u8,
        /// ICMPv6 numbering.
        v6: bool,
    },
    /// ICMP or ICMPv6, type not logged.
    IcmpUnknown,
    /// Another IP protocol, by number.
    OtherProto(u8),
}

/// TCP flag bits.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;

impl PacketKind {
    fn of(rec: &LogRecord) -> PacketKind {
        match rec.protocol {
            LogProto::Tcp => match rec.tcp_flags {
                None => PacketKind::Tcp,
                // ECE and CWR (ECN) do not change what the packet is.
                Some(f) => match f & 0x3f {
                    SYN => PacketKind::Syn,
                    x if x == SYN | ACK => PacketKind::SynAck,
                    FIN => PacketKind::Fin,
                    0 => PacketKind::Null,
                    x if x == FIN | PSH | URG => PacketKind::Xmas,
                    ACK => PacketKind::Ack,
                    x if x & RST != 0 && x & (SYN | FIN) == 0 => PacketKind::Rst,
                    x if x & ACK != 0 && x & (SYN | RST) == 0 => PacketKind::Stray(f),
                    _ => PacketKind::OddFlags(f),
                },
            },
            LogProto::Udp => PacketKind::Udp,
            LogProto::Icmp | LogProto::Icmpv6 => match rec.icmp {
                Some((kind, code)) => PacketKind::Icmp {
                    kind,
                    code,
                    v6: rec.protocol == LogProto::Icmpv6,
                },
                None => PacketKind::IcmpUnknown,
            },
            LogProto::Other(n) => PacketKind::OtherProto(n),
        }
    }

    /// A short machine name (`syn`, `fin`, `null`, `xmas`, `icmp-echo-request`...).
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Syn => "syn",
            PacketKind::SynAck => "syn-ack",
            PacketKind::Fin => "fin",
            PacketKind::Null => "null",
            PacketKind::Xmas => "xmas",
            PacketKind::Ack => "ack",
            PacketKind::Rst => "rst",
            PacketKind::Stray(_) => "stray",
            PacketKind::OddFlags(_) => "odd-flags",
            PacketKind::Tcp => "tcp",
            PacketKind::Udp => "udp",
            PacketKind::Icmp { .. } if self.is_echo_request() => "icmp-echo-request",
            PacketKind::Icmp { .. } => "icmp",
            PacketKind::IcmpUnknown => "icmp",
            PacketKind::OtherProto(_) => "other-protocol",
        }
    }

    /// FIN, NULL or Xmas: probes made to slip past simple filters.
    pub fn is_stealth(self) -> bool {
        matches!(self, PacketKind::Fin | PacketKind::Null | PacketKind::Xmas)
    }

    /// An ICMP or ICMPv6 echo request (a ping).
    pub fn is_echo_request(self) -> bool {
        matches!(
            self,
            PacketKind::Icmp {
                kind: 8,
                v6: false,
                ..
            } | PacketKind::Icmp {
                kind: 128,
                v6: true,
                ..
            }
        )
    }

    /// Whether a worm's first packet can look like this: a SYN (or TCP with unlogged
    /// flags), a UDP datagram, a ping (or ICMP of unlogged type).
    fn can_be_worm(self) -> bool {
        matches!(
            self,
            PacketKind::Syn | PacketKind::Tcp | PacketKind::Udp | PacketKind::IcmpUnknown
        ) || self.is_echo_request()
    }

    /// What it is and what that suggests, one or two sentences.
    pub fn meaning(self) -> String {
        match self {
            PacketKind::Syn => {
                "It was a plain TCP connection attempt (SYN), the opening of a full \
                handshake: not a stealth scan. A SYN scan opens the same way, so one record \
                cannot tell a scanner from an ordinary client."
                    .to_string()
            }
            PacketKind::SynAck => "It was a SYN+ACK, the answer to a connection attempt. Arriving \
                unasked, it is usually backscatter (the reply to a forged packet that used this \
                address as its source) or the late answer to a connection this host gave up on."
                .to_string(),
            PacketKind::Fin => "It was a FIN probe (FIN alone, outside any connection): a stealth \
                scan that tries to slip past filters that only watch SYNs; closed ports answer \
                it, open ones stay silent."
                .to_string(),
            PacketKind::Null => "It was a NULL probe (no TCP flag at all): no real connection \
                sends that, so it is a stealth scan meant to slip past filters that only watch \
                SYNs."
                .to_string(),
            PacketKind::Xmas => "It was an Xmas probe (FIN, PSH and URG together): no real \
                connection sends that, so it is a stealth scan meant to slip past filters that \
                only watch SYNs."
                .to_string(),
            PacketKind::Ack => "It was an ACK alone, outside any connection: either a \
                firewall-mapping probe (an ACK scan asks which ports a firewall filters) or a \
                stray packet of an old connection the firewall had already forgotten."
                .to_string(),
            PacketKind::Rst => "It was a reset (RST): the other side ending or refusing a \
                connection. Unasked, it is a stray of an old connection or backscatter from a \
                forged packet, not a knock."
                .to_string(),
            PacketKind::Stray(f) => format!(
                "It carried {} outside any connection the firewall knew: most often a late \
                 packet of a connection that had already ended{}.",
                flag_names(f),
                if f & 0x3f == FIN | ACK {
                    " (a Maimon scan also sends FIN+ACK)"
                } else {
                    ""
                }
            ),
            PacketKind::OddFlags(f) => format!(
                "It carried {}, a combination no ordinary TCP stack sends: a crafted probe, used \
                 to fingerprint systems or to slip past filters.",
                flag_names(f)
            ),
            PacketKind::Tcp => "It was a TCP packet; the log does not give its flags, so it \
                cannot tell a connection attempt from a stealth probe."
                .to_string(),
            PacketKind::Udp => "It was a UDP datagram: UDP has no handshake, so one datagram is \
                either a probe for a service or the attack itself."
                .to_string(),
            PacketKind::Icmp { kind, code, v6 } => icmp_meaning(kind, code, v6),
            PacketKind::IcmpUnknown => "It was an ICMP message; the log does not give its type \
                (a ping is the usual one)."
                .to_string(),
            PacketKind::OtherProto(n) => format!(
                "It was a packet of IP protocol {n}, neither TCP, UDP nor ICMP: tunnels and \
                 routing protocols use such packets, and an IP protocol scan sends them to see \
                 which protocols a host speaks."
            ),
        }
    }
}

fn flag_names(f: u8) -> String {
    const NAMES: [(u8, &str); 8] = [
        (0x01, "FIN"),
        (0x02, "SYN"),
        (0x04, "RST"),
        (0x08, "PSH"),
        (0x10, "ACK"),
        (0x20, "URG"),
        (0x40, "ECE"),
        (0x80, "CWR"),
    ];
    let set: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|&(_, n)| n)
        .collect();
    if set.is_empty() {
        "no flag".to_string()
    } else {
        set.join("+")
    }
}

fn icmp_meaning(kind: u8, code: u8, v6: bool) -> String {
    let (what, suggests) = match (v6, kind) {
        (false, 8) | (true, 128) => (
            "an echo request: a ping",
            "someone checking whether this address is alive, often the first step of a sweep",
        ),
        (false, 0) | (true, 129) => (
            "an echo reply",
            "the answer to a ping; unasked, it is backscatter or a reply to a forged ping",
        ),
        (false, 3) | (true, 1) => (
            "a destination-unreachable message",
            "a router or host reporting that an earlier packet could not be delivered",
        ),
        (false, 11) | (true, 3) => (
            "a time-exceeded message",
            "a packet ran out of hops on the way; traceroute works by causing these",
        ),
        (false, 5) | (true, 137) => (
            "a redirect",
            "a router suggesting another route; from outside it is suspect and best ignored",
        ),
        (false, 13) => (
            "a timestamp request",
            "a probe for the host's clock, used by scanners to find live hosts that ignore pings",
        ),
        (false, 4) => (
            "a source quench (obsolete)",
            "nothing current sends these; likely a crafted packet",
        ),
        (true, 2) => (
            "a packet-too-big message",
            "path MTU discovery; blocking these can break IPv6 connections",
        ),
        (true, 133..=137) => (
            "a neighbour-discovery message",
            "ordinary IPv6 housekeeping on the local link",
        ),
        _ => (
            "an ICMP message",
            "uncommon; look at what else this source sent",
        ),
    };
    let v = if v6 { "ICMPv6" } else { "ICMP" };
    format!("It was {what} ({v} type {kind}, code {code}): {suggests}.")
}

/// A worm that fits the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WormMatch {
    /// The worm's table entry.
    pub worm: &'static Worm,
    /// What of the record it matched: `80/tcp`, `icmp`, or `from 4000/udp`.
    pub matched: String,
}

/// The plain-words explanation of one record. Every field is also in
/// [`Explanation::to_json`], and the text lines are in `summary`.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The format the record was read in.
    pub format: LogFormat,
    /// When it was logged, if the record says.
    pub time: Option<Timestamp>,
    /// Which way the packet went.
    pub direction: Direction,
    /// What the firewall did.
    pub action: Action,
    /// The protocol.
    pub protocol: LogProto,
    /// The other end: the source of an inbound packet, the destination of an outbound one
    /// (for a forwarded packet, its source).
    pub remote: Option<LogAddr>,
    /// The remote end's port.
    pub remote_port: Option<u16>,
    /// This host's end: the destination of an inbound packet, the source of an outbound one
    /// (for a forwarded packet, its destination behind this host).
    pub local: Option<LogAddr>,
    /// This host's port.
    pub local_port: Option<u16>,
    /// The port the packet was aimed at (its destination port, or the port of the service
    /// the log names instead).
    pub port: Option<u16>,
    /// The service on that port: as the log names it, else the usual name of the port.
    pub service: Option<String>,
    /// The port's class.
    pub port_class: Option<PortClass>,
    /// The risk of exposing that service, when our table has one.
    pub risk: Option<Risk>,
    /// What kind of packet it was.
    pub packet: PacketKind,
    /// `Some(true)` when the log says the port was unused (blocked because nothing listens
    /// there); `None` when it does not say.
    pub port_unused: Option<bool>,
    /// The worms known for this port (or source port) whose active years hold the record's
    /// date, or all of them when the date is unknown.
    pub worms: Vec<WormMatch>,
    /// Whether the record had a date to compare with the worms' years.
    pub date_known: bool,
    /// The scan this source was found part of.
    pub campaign: Option<CampaignRef>,
    /// The scanning tool whose habits the logged fields show (`crate::fingerprint`), if any.
    pub tool: Option<&'static str>,
    /// What to do, in one or two sentences.
    pub advice: String,
    /// The explanation as short lines of plain English.
    pub summary: Vec<String>,
}

fn transport(p: LogProto) -> Option<Protocol> {
    match p {
        LogProto::Tcp => Some(Protocol::Tcp),
        LogProto::Udp => Some(Protocol::Udp),
        _ => None,
    }
}

fn addr_text(a: &LogAddr) -> String {
    match a {
        LogAddr::Ip(ip) => ip.to_string(),
        LogAddr::Masked(s) => format!("{s} (partly masked in the log)"),
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
        Direction::Forwarded => "forwarded",
        Direction::Unknown => "unknown",
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Blocked => "blocked",
        Action::Allowed => "allowed",
        Action::Unknown => "unknown",
    }
}

fn proto_name(p: LogProto) -> (&'static str, u8) {
    match p {
        LogProto::Tcp => ("tcp", 6),
        LogProto::Udp => ("udp", 17),
        LogProto::Icmp => ("icmp", 1),
        LogProto::Icmpv6 => ("icmpv6", 58),
        LogProto::Other(n) => ("other", n),
    }
}

/// `(year, month)` of a timestamp, UTC.
fn year_month(t: Timestamp) -> Option<(u16, u8)> {
    let s = t.rfc3339();
    let y = s.get(0..4)?.parse().ok()?;
    let m = s.get(5..7)?.parse().ok()?;
    Some((y, m))
}

/// `2001-11-20 16:22:45 UTC`.
fn time_text(t: Timestamp) -> String {
    let s = t.rfc3339();
    match (s.get(0..10), s.get(11..19)) {
        (Some(d), Some(h)) => format!("{d} {h} UTC"),
        _ => s,
    }
}

/// Whether the record says the port was unused. The Japanese personal firewall blocks
/// inbound packets with its unused-port blocking (nothing on the machine listens on the
/// port; docs/background.md, "Reading a firewall log"), so its inbound blocks say so; other
/// formats say it only in a prefix.
fn port_unused(rec: &LogRecord) -> Option<bool> {
    if rec.direction != Direction::Inbound || rec.action != Action::Blocked {
        return None;
    }
    if rec.format == LogFormat::PersonalFirewallJa {
        return Some(true);
    }
    let p = rec.prefix.as_deref()?.to_ascii_lowercase();
    (p.contains("unused") || p.contains("未使用")).then_some(true)
}

fn worms_for(
    rec: &LogRecord,
    packet: PacketKind,
    port: Option<u16>,
    src_port: Option<u16>,
    when: Option<(u16, u8)>,
) -> Vec<WormMatch> {
    if !packet.can_be_worm() {
        return Vec::new();
    }
    let Ok(table) = worm_table() else {
        return Vec::new();
    };
    let aimed = match (rec.protocol, port) {
        (LogProto::Tcp, Some(p)) => Some(WormPort::Tcp(p)),
        (LogProto::Udp, Some(p)) => Some(WormPort::Udp(p)),
        (LogProto::Icmp, _)
            if matches!(packet, PacketKind::IcmpUnknown) || packet.is_echo_request() =>
        {
            Some(WormPort::Icmp)
        }
        _ => None,
    };
    let from = match (rec.protocol, src_port) {
        (LogProto::Tcp, Some(p)) => Some(WormPort::Tcp(p)),
        (LogProto::Udp, Some(p)) => Some(WormPort::Udp(p)),
        _ => None,
    };
    table
        .iter()
        .filter(|w| match when {
            None => true,
            Some((y, m)) => w.active_in(y, m),
        })
        .filter_map(|w| {
            if let Some(a) = aimed.filter(|a| w.ports.contains(a)) {
                return Some(WormMatch {
                    worm: w,
                    matched: a.to_string(),
                });
            }
            from.filter(|f| w.from_ports.contains(f))
                .map(|f| WormMatch {
                    worm: w,
                    matched: format!("from {f}"),
                })
        })
        .collect()
}

/// Explains one record; `campaign` is the scan its source was found part of, if any.
pub fn explain(rec: &LogRecord, campaign: Option<&CampaignRef>) -> Explanation {
    let packet = PacketKind::of(rec);
    let proto = transport(rec.protocol);

    // The port aimed at: the destination port, else the port of the service the log names.
    let mut service = rec.service.clone().filter(|s| !s.trim().is_empty());
    let port = rec.dst_port.or_else(|| {
        let p = proto?;
        let name = service.as_deref()?;
        services::ports_named(name)
            .into_iter()
            .find(|&(_, pr)| pr == p)
            .map(|(port, _)| port)
    });
    if service.is_none() {
        if let (Some(port), Some(p)) = (port, proto) {
            service = services::service_name(port, p).map(str::to_string);
        }
    }
    let port_class = port.filter(|_| proto.is_some()).map(PortClass::of);
    let risk = proto.and_then(|t| match port {
        Some(p) => risk_for(p, t, None),
        None => service.as_deref().and_then(|s| risk_for(0, t, Some(s))),
    });

    let (remote, remote_port, local, local_port) = match rec.direction {
        Direction::Outbound => (rec.dst.clone(), rec.dst_port, rec.src.clone(), rec.src_port),
        _ => (rec.src.clone(), rec.src_port, rec.dst.clone(), port),
    };

    let when = rec.time.and_then(year_month);
    let worms = worms_for(rec, packet, port, rec.src_port, when);
    let unused = port_unused(rec);

    let mut e = Explanation {
        format: rec.format,
        time: rec.time,
        direction: rec.direction,
        action: rec.action,
        protocol: rec.protocol,
        remote,
        remote_port,
        local,
        local_port,
        port,
        service,
        port_class,
        risk,
        packet,
        port_unused: unused,
        worms,
        date_known: when.is_some(),
        campaign: campaign.cloned(),
        tool: super::to_packet(rec)
            .map(|p| crate::fingerprint::classify(&p))
            .filter(|t| *t != crate::fingerprint::Tool::Unknown)
            .map(crate::fingerprint::Tool::name),
        advice: String::new(),
        summary: Vec::new(),
    };
    e.advice = advice(&e);
    e.summary = lines(&e, when);
    e
}

/// `port 80 (http)`, `port 80`, `the http service`, or `a port the log does not give`.
fn target_text(e: &Explanation) -> String {
    match (e.port, e.service.as_deref()) {
        (Some(p), Some(s)) => format!("port {p} ({s})"),
        (Some(p), None) => format!("port {p}"),
        (None, Some(s)) => format!("the {s} service"),
        (None, None) => "a port the log does not give".to_string(),
    }
}

fn first_line(e: &Explanation) -> String {
    let at = e
        .time
        .map(|t| format!(" at {}", time_text(t)))
        .unwrap_or_default();
    let remote = e
        .remote
        .as_ref()
        .map(addr_text)
        .unwrap_or_else(|| "an address the log does not give".to_string());
    let has_port = matches!(e.protocol, LogProto::Tcp | LogProto::Udp);
    let target = if has_port {
        target_text(e)
    } else {
        "it".to_string()
    };
    let proto = match e.protocol {
        LogProto::Tcp => "TCP".to_string(),
        LogProto::Udp => "UDP".to_string(),
        LogProto::Icmp => "ICMP".to_string(),
        LogProto::Icmpv6 => "ICMPv6".to_string(),
        LogProto::Other(n) => format!("IP protocol {n}"),
    };
    // Replies and strays come from outside too, but nobody "knocked" with them.
    let reply = matches!(
        e.packet,
        PacketKind::SynAck | PacketKind::Rst | PacketKind::Stray(_)
    );
    match e.direction {
        Direction::Inbound => {
            let head = if reply {
                "Inbound: a packet from outside reached this host's firewall."
            } else {
                "Inbound: someone outside knocked on this host."
            };
            if has_port {
                let verb = if reply { "sent it to" } else { "tried" };
                format!("{head} {remote} {verb} {target} over {proto}{at}.")
            } else {
                format!("{head} {remote} sent {proto}{at}.")
            }
        }
        Direction::Outbound => {
            let what = if has_port {
                format!("to {remote}, {target}")
            } else {
                format!("{proto} to {remote}")
            };
            format!("Outbound: something on this host sent a packet out {what}{at}.")
        }
        Direction::Forwarded => {
            let dst = e
                .local
                .as_ref()
                .map(addr_text)
                .unwrap_or_else(|| "an address the log does not give".to_string());
            format!(
                "Forwarded: the packet was passing through this host (a router or gateway) from {remote} to {dst}{}{at}.",
                if has_port { format!(", {target}") } else { String::new() }
            )
        }
        Direction::Unknown => format!(
            "The record does not say which way the packet went; it came from {remote}{}{at}.",
            if has_port {
                format!(" to {target}")
            } else {
                String::new()
            }
        ),
    }
}

fn port_class_line(e: &Explanation) -> Option<String> {
    let (p, c) = (e.port?, e.port_class?);
    let what = match c {
        PortClass::WellKnown => "the range of the standard services",
        PortClass::Registered => "services registered with IANA, and many programs' own ports",
        PortClass::Dynamic => {
            "the range clients pick their own end from, so few services live there"
        }
    };
    let svc = match e.service.as_deref() {
        Some(s) => format!("; its usual service is {s}"),
        None => "; our table has no usual service for it".to_string(),
    };
    Some(format!(
        "Port {p} is a {} port ({}): {what}{svc}.",
        c.as_str(),
        class_range(c)
    ))
}

fn risk_line(e: &Explanation) -> Option<String> {
    let r = e.risk?;
    // Outbound, the service is the other end's: its risk is not this host's to fix.
    if e.direction == Direction::Outbound {
        return None;
    }
    if matches!(e.action, Action::Allowed | Action::Unknown) {
        Some(format!(
            "Risk of {} ({}): {} {}",
            r.name, r.level, r.why, r.advice
        ))
    } else {
        Some(format!(
            "Risk of {} ({}) if it were reachable: {}",
            r.name, r.level, r.why
        ))
    }
}

fn worm_lines(e: &Explanation, when: Option<(u16, u8)>) -> Vec<String> {
    let mut out = Vec::new();
    if !e.packet.can_be_worm() {
        if e.packet.is_stealth() || matches!(e.packet, PacketKind::OddFlags(_)) {
            out.push(
                "Worms open with an ordinary SYN, so this crafted packet points at a scanning \
                 tool, not at a worm."
                    .to_string(),
            );
        } else if e.packet == PacketKind::Ack {
            out.push("Worms open with an ordinary SYN, so this is not a worm's knock.".to_string());
        }
        return out;
    }
    let what = e
        .worms
        .first()
        .map(|w| w.matched.clone())
        .unwrap_or_default();
    if e.worms.is_empty() {
        if when.is_some() && e.port.is_some() {
            out.push("No worm in our table is known for this port at that date.".to_string());
        }
        return out;
    }
    let head = match (when, e.direction) {
        (Some((y, m)), Direction::Outbound) => format!(
            "Worms that sent exactly this ({what}) around that date ({} {y}); a host infected with one of them sends such packets:",
            month_name(m)
        ),
        (Some((y, m)), _) => format!(
            "Worms that hit {what} around that date ({} {y}):",
            month_name(m)
        ),
        (None, _) => format!(
            "The date is unknown, so here are all the worms known for {what}, whatever the year:"
        ),
    };
    out.push(head);
    for m in &e.worms {
        let w = m.worm;
        let mut s = format!("- {} ({}): {}", w.name, w.active_text(), w.what);
        match w.reach {
            Reach::Local => s.push_str(
                " It spread inside local networks, so it fits only if the source is on your own network.",
            ),
            Reach::Search => s.push_str(
                " It found its targets through a search engine, not by scanning addresses, so it fits only if this host runs what it attacked.",
            ),
            Reach::Scan => {}
        }
        s.push_str(&format!(" Sources: {}.", w.sources.join(", ")));
        out.push(s);
    }
    let scanners = e.worms.iter().any(|m| m.worm.reach == Reach::Scan);
    if scanners && e.direction == Direction::Inbound {
        out.push(
            "Worms that sweep addresses knock on every host they hit, used or not, so a lone \
             knock from a stranger like this one is just what their spread looked like."
                .to_string(),
        );
    }
    out
}

fn advice(e: &Explanation) -> String {
    let target = target_text(e);
    let campaign = e.campaign.is_some();
    match (e.direction, e.action) {
        (Direction::Inbound | Direction::Unknown, Action::Blocked) => {
            if e.port_unused == Some(true) {
                "It was blocked on an unused port: nothing on this host listens there, so the \
                 host was already protected. Nothing to do."
                    .to_string()
            } else if matches!(e.protocol, LogProto::Icmp | LogProto::Icmpv6) {
                "It was blocked, so this host did not answer: it was already protected. Nothing \
                 to do."
                    .to_string()
            } else {
                let extra = if campaign {
                    " The scan it belongs to may try other ports: make sure they are blocked too."
                } else {
                    ""
                };
                format!(
                    "It was blocked before any program saw it, so the host was already \
                     protected; nothing to do. If you meant to offer a service on {target}, this \
                     block is what stops it.{extra}"
                )
            }
        }
        (Direction::Inbound | Direction::Unknown, Action::Allowed) => {
            if matches!(e.protocol, LogProto::Tcp | LogProto::Udp) {
                format!(
                    "It was let through to {target}: make sure that service is meant to be \
                     reachable from outside. If it is, keep it patched and let in only who needs \
                     it; if not, stop the service or close the port."
                )
            } else {
                "It was let through: if this host should not answer it, block it in the \
                 firewall."
                    .to_string()
            }
        }
        (Direction::Inbound | Direction::Unknown, Action::Unknown) => format!(
            "The record does not say whether it was blocked: check whether anything listens on \
             {target} (e.g. with `ss -ltnup`) and treat it as reached if so."
        ),
        (Direction::Outbound, Action::Blocked) => {
            let worms = if e.worms.is_empty() {
                ""
            } else {
                " If no program should, check the host for the worms above."
            };
            format!(
                "Something on this host tried to connect out and was stopped: find which \
                 program, e.g. with `ss -tp` or `lsof -i`, and whether it should be doing \
                 that.{worms}"
            )
        }
        (Direction::Outbound, _) => {
            "An outgoing packet: normal if a program you use talks to that address; if you do \
             not know which program, find it, e.g. with `ss -tp` or `lsof -i`."
                .to_string()
        }
        (Direction::Forwarded, Action::Blocked) => {
            "This host, as a router, blocked it: the machine behind it was protected. Nothing \
             to do."
                .to_string()
        }
        (Direction::Forwarded, _) => format!(
            "It passed through this router to the machine behind it: make sure that machine is \
             meant to offer {target} to the outside, and keep it patched."
        ),
    }
}

fn lines(e: &Explanation, when: Option<(u16, u8)>) -> Vec<String> {
    let mut out = vec![first_line(e), e.packet.meaning()];
    if let Some(l) = port_class_line(e) {
        out.push(l);
    }
    if let Some(l) = risk_line(e) {
        out.push(l);
    }
    if let Some(t) = e.tool {
        out.push(format!(
            "Its logged fields carry {t}'s habits (see `monban detect --help`): a scanning tool \
             wrote this packet, not an operating system's own stack."
        ));
    }
    out.extend(worm_lines(e, when));
    if let Some(c) = &e.campaign {
        out.push(format!(
            "This source was found part of scan #{} ({}): this record is one probe of that scan, \
             not a one-off.",
            c.id, c.kind
        ));
    }
    out.push(e.advice.clone());
    out
}

fn addr_json(a: Option<&LogAddr>, port: Option<u16>) -> Value {
    let (address, masked, family) = match a {
        Some(LogAddr::Ip(ip)) => (
            Value::from(ip.to_string()),
            false,
            Value::from(match ip {
                IpAddr::V4(_) => "ipv4",
                IpAddr::V6(_) => "ipv6",
            }),
        ),
        Some(LogAddr::Masked(s)) => (Value::from(s.clone()), true, Value::Null),
        None => (Value::Null, false, Value::Null),
    };
    json!({ "address": address, "masked": masked, "family": family, "port": port })
}

impl Explanation {
    /// The explanation as several short lines of plain English.
    pub fn to_text(&self) -> String {
        let mut s = self.summary.join("\n");
        s.push('\n');
        s
    }

    /// Every field, machine-readable; the text lines under `summary`.
    pub fn to_json(&self) -> Value {
        let (proto, number) = proto_name(self.protocol);
        let icmp = match self.packet {
            PacketKind::Icmp { kind, code, .. } => json!({ "type": kind, "code": code }),
            _ => Value::Null,
        };
        let flags = match self.packet {
            PacketKind::Syn
            | PacketKind::SynAck
            | PacketKind::Fin
            | PacketKind::Null
            | PacketKind::Xmas
            | PacketKind::Ack
            | PacketKind::Rst
            | PacketKind::Stray(_)
            | PacketKind::OddFlags(_) => self.tcp_flags(),
            _ => None,
        };
        let worms: Vec<Value> = self
            .worms
            .iter()
            .map(|m| {
                let w = m.worm;
                json!({
                    "id": w.id,
                    "name": w.name,
                    "matched": m.matched,
                    "active_first": w.first.to_string(),
                    "active_last": w.last.map_or("ongoing".to_string(), |l| l.to_string()),
                    "reach": w.reach.as_str(),
                    "what": w.what,
                    "sources": w.sources,
                })
            })
            .collect();
        json!({
            "format": self.format.name(),
            "time": self.time.map(Timestamp::rfc3339),
            "direction": direction_name(self.direction),
            "action": action_name(self.action),
            "protocol": proto,
            "protocol_number": number,
            "remote": addr_json(self.remote.as_ref(), self.remote_port),
            "local": addr_json(self.local.as_ref(), self.local_port),
            "port": self.port,
            "service": self.service,
            "port_class": self.port_class.map(PortClass::as_str),
            "risk": self.risk.map(|r| json!({
                "name": r.name,
                "level": r.level.as_str(),
                "why": r.why,
                "advice": r.advice,
            })),
            "packet": {
                "kind": self.packet.name(),
                "stealth": self.packet.is_stealth(),
                "tcp_flags": flags,
                "icmp": icmp,
                "meaning": self.packet.meaning(),
            },
            "port_unused": self.port_unused,
            "date_known": self.date_known,
            "worms": worms,
            "campaign": self.campaign.as_ref().map(|c| json!({ "id": c.id, "kind": c.kind })),
            "tool": self.tool,
            "advice": self.advice,
            "summary": self.summary,
        })
    }

    fn tcp_flags(&self) -> Option<u8> {
        match self.packet {
            PacketKind::Syn => Some(SYN),
            PacketKind::SynAck => Some(SYN | ACK),
            PacketKind::Fin => Some(FIN),
            PacketKind::Null => Some(0),
            PacketKind::Xmas => Some(FIN | PSH | URG),
            PacketKind::Ack => Some(ACK),
            PacketKind::Stray(f) | PacketKind::OddFlags(f) => Some(f),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_worm_table_parses_and_every_entry_has_a_source() {
        let t = worm_table().unwrap();
        assert!(t.len() >= 15, "{}", t.len());
        for w in t {
            assert!(!w.sources.is_empty(), "{}: no source", w.id);
            assert!(w.what.ends_with('.'), "{}: what must be a sentence", w.id);
            assert!(!w.ports.is_empty() || !w.from_ports.is_empty(), "{}", w.id);
            assert!(!w.name.is_empty());
        }
        // Strictly: every non-comment line is a known keyword, parsed above.
        assert_eq!(parse_worms(WORMS_TXT).map(|v| v.len()).unwrap(), t.len());
        let ids = [
            "code-red",
            "code-red-ii",
            "nimda",
            "slammer",
            "blaster",
            "welchia",
        ];
        for id in ids {
            assert!(t.iter().any(|w| w.id == id), "{id}");
        }
    }

    #[test]
    fn table_dates_and_ports() {
        let t = worm_table().unwrap();
        let get = |id: &str| t.iter().find(|w| w.id == id).unwrap();
        let nimda = get("nimda");
        assert!(nimda.active_in(2001, 11));
        assert!(!nimda.active_in(2001, 8));
        assert!(!nimda.active_in(2002, 1));
        assert!(get("conficker").active_in(2030, 1));
        assert!(get("witty").from_ports.contains(&WormPort::Udp(4000)));
        assert_eq!(get("code-red").active_text(), "2001, from July");
        assert_eq!(get("witty").active_text(), "March 2004");
        assert_eq!(get("lion").active_text(), "2001");
        assert_eq!(get("hajime").active_text(), "October 2016 to 2017");
        assert_eq!(
            get("mirai").active_text(),
            "since August 2016, still active"
        );
    }

    #[test]
    fn table_errors() {
        let e = |t: &'static str| parse_worms(t).unwrap_err();
        assert_eq!(e("name x").line, 1);
        assert!(e("worm a\nport 1/tcp").reason.contains("unknown keyword"));
        assert!(e("worm A").reason.contains("bad worm id"));
        assert!(e("worm a\nports 80/sctp").reason.contains("bad port"));
        assert!(e("worm a\nports 70000/tcp").reason.contains("bad port"));
        assert!(e("worm a\nactive 2001-13 2002").reason.contains("bad date"));
        assert!(e("worm a\nactive 2003 2001").reason.contains("before"));
        assert!(e("worm a\nfrom icmp").reason.contains("TCP or UDP"));
        assert!(e("worm a\nsource ;").reason.contains("no source"));
        assert!(e("worm a\nwhat x.\nwhat y.").reason.contains("twice"));
        const NO_SOURCE: &str =
            "worm a\nname A\nports 1/tcp\nactive 2001 2001\nreach scan\nwhat w.\n";
        let err = e(NO_SOURCE);
        assert_eq!(err.line, 1);
        assert!(err.reason.contains("`source`"), "{}", err.reason);
        const OK: &str =
            "worm a\nname A\nports 1/tcp icmp\nactive 2001-02 ongoing\nreach local\nwhat w.\nsource S1; S2\n";
        let w = parse_worms(OK).unwrap();
        assert_eq!(w[0].ports, vec![WormPort::Tcp(1), WormPort::Icmp]);
        assert_eq!(w[0].sources, vec!["S1", "S2"]);
        assert_eq!(w[0].last, None);
        let twice: &'static str = "worm a\nname A\nports 1/tcp\nactive 2001 2001\nreach scan\nwhat w.\nsource s\nworm a\nname A\nports 1/tcp\nactive 2001 2001\nreach scan\nwhat w.\nsource s\n";
        assert!(e(twice).reason.contains("given twice"));
    }

    #[test]
    fn flags_classify() {
        let rec = |f: u8| LogRecord {
            direction: Direction::Inbound,
            action: Action::Blocked,
            tcp_flags: Some(f),
            ..LogRecord::blank(LogFormat::Kernel)
        };
        assert_eq!(PacketKind::of(&rec(0x02)), PacketKind::Syn);
        assert_eq!(PacketKind::of(&rec(0xc2)), PacketKind::Syn);
        assert_eq!(PacketKind::of(&rec(0x12)), PacketKind::SynAck);
        assert_eq!(PacketKind::of(&rec(0x01)), PacketKind::Fin);
        assert_eq!(PacketKind::of(&rec(0x00)), PacketKind::Null);
        assert_eq!(PacketKind::of(&rec(0x29)), PacketKind::Xmas);
        assert_eq!(PacketKind::of(&rec(0x10)), PacketKind::Ack);
        assert_eq!(PacketKind::of(&rec(0x04)), PacketKind::Rst);
        assert_eq!(PacketKind::of(&rec(0x14)), PacketKind::Rst);
        assert_eq!(PacketKind::of(&rec(0x11)), PacketKind::Stray(0x11));
        assert_eq!(PacketKind::of(&rec(0x03)), PacketKind::OddFlags(0x03));
        assert_eq!(PacketKind::of(&rec(0x20)), PacketKind::OddFlags(0x20));
        assert_eq!(flag_names(0x29), "FIN+PSH+URG");
        assert_eq!(flag_names(0), "no flag");
    }
}
