//! Port specifications (`-p`, `--exclude-ports`), port lists and our own top-ports ranking.
//!
//! [`parse_ports`] reads nmap's port syntax: a comma list of ports (`80`), ranges (`1-1024`,
//! `-1024`, `60000-`, `-`), classes (`well-known`, `registered`, `dynamic`, `all`) and service
//! names (`http`, `ssh`, `http*`), with `T:` / `U:` prefixes that pick the protocol of the items
//! after them. [`top_ports`] returns the first ports of our own ranking
//! (`files/top-ports-*.txt` in `monban-data`).

use std::sync::OnceLock;

use crate::services::{parse_data_port, ports_named, DataError};
use crate::Protocol;

/// Ports to scan, per protocol; each list sorted ascending, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortList {
    /// TCP ports.
    pub tcp: Vec<u16>,
    /// UDP ports.
    pub udp: Vec<u16>,
}

/// Writes sorted ports compactly as nmap does: `[1,2,3,5,7,8]` → `"1-3,5,7-8"`.
///
/// The input should be ascending; duplicates are folded. An empty slice gives `""`.
pub fn format_ranges(ports: &[u16]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ports.len() {
        let start = ports[i];
        let mut end = start;
        let mut j = i + 1;
        while j < ports.len() && (ports[j] == end || Some(ports[j]) == end.checked_add(1)) {
            end = ports[j];
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod format_tests {
    use super::format_ranges;

    #[test]
    fn ranges_fold() {
        assert_eq!(format_ranges(&[]), "");
        assert_eq!(format_ranges(&[80]), "80");
        assert_eq!(format_ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(format_ranges(&[1, 1, 2, 65535]), "1-2,65535");
        assert_eq!(format_ranges(&[65534, 65535]), "65534-65535");
    }
}

impl PortList {
    /// Number of (port, protocol) pairs: TCP ports plus UDP ports.
    pub fn len(&self) -> usize {
        self.tcp.len() + self.udp.len()
    }

    /// Whether there is no port at all.
    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.udp.is_empty()
    }

    /// The ports of one protocol.
    pub fn ports(&self, proto: Protocol) -> &[u16] {
        match proto {
            Protocol::Tcp => &self.tcp,
            Protocol::Udp => &self.udp,
        }
    }

    /// Removes every port of `other` from this list, protocol by protocol
    /// (`--exclude-ports`). `other` need not be sorted.
    pub fn remove(&mut self, other: &PortList) {
        let drop_tcp = PortSet::from_ports(&other.tcp);
        let drop_udp = PortSet::from_ports(&other.udp);
        self.tcp.retain(|&p| !drop_tcp.contains(p));
        self.udp.retain(|&p| !drop_udp.contains(p));
    }
}

/// A bad port specification. Every message quotes the offending item (cut to 40 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The whole specification is empty or blank.
    #[error("empty port specification: give ports such as 22,80,443 or 1-1024")]
    Empty,
    /// An item between two commas, or after a `T:` / `U:` prefix, is empty.
    #[error(
        "empty item #{index} in the port specification (two commas in a row, a comma at \
         either end, or a T:/U: prefix with no port after it)"
    )]
    EmptyItem {
        /// 1-based position of the item in the comma list.
        index: usize,
    },
    /// A port number above 65535.
    #[error("bad port {item:?}: ports go from 0 to 65535")]
    OutOfRange {
        /// The item as written.
        item: String,
    },
    /// A range whose start is after its end, such as `100-1`.
    #[error("bad port range {item:?}: start is after end")]
    ReversedRange {
        /// The item as written.
        item: String,
    },
    /// A protocol prefix other than `T:` or `U:`.
    #[error("bad protocol prefix in {item:?}: use T: for TCP or U: for UDP")]
    BadPrefix {
        /// The item as written.
        item: String,
    },
    /// A name that is neither a port class nor a service name monban knows.
    #[error(
        "unknown service name {item:?}: not a port class (well-known, registered, dynamic, \
         all) nor a service in monban's table"
    )]
    UnknownService {
        /// The item as written.
        item: String,
    },
    /// A known service that has no port for the protocol its prefix asked for (`U:imap`).
    #[error("service {item:?} has no {proto} port")]
    NoPortForProtocol {
        /// The item as written.
        item: String,
        /// The protocol the prefix asked for.
        proto: Protocol,
    },
    /// An item that is no port, range, class or name at all.
    #[error(
        "bad port item {item:?}: expected a port (80), a range (1-1024, -1024, 60000-, -), \
         a class (well-known, registered, dynamic, all) or a service name (http)"
    )]
    Invalid {
        /// The item as written.
        item: String,
    },
}

/// The item as quoted in error messages: at most 40 characters, `…` marking a cut.
fn shown(item: &str) -> String {
    const MAX: usize = 40;
    if item.chars().count() <= MAX {
        item.to_string()
    } else {
        let mut s: String = item.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// A set of ports as a bitmap (8 KiB), so that `-p-` and `all` cost nothing to sort.
struct PortSet {
    words: Vec<u64>,
}

impl PortSet {
    const WORDS: usize = 65536 / 64;

    fn new() -> Self {
        PortSet {
            words: vec![0; Self::WORDS],
        }
    }

    fn from_ports(ports: &[u16]) -> Self {
        let mut set = Self::new();
        for &p in ports {
            set.insert(p);
        }
        set
    }

    fn insert(&mut self, port: u16) {
        if let Some(w) = self.words.get_mut(usize::from(port >> 6)) {
            *w |= 1u64 << (port & 63);
        }
    }

    fn insert_range(&mut self, lo: u16, hi: u16) {
        for p in lo..=hi {
            self.insert(p);
        }
    }

    fn contains(&self, port: u16) -> bool {
        self.words
            .get(usize::from(port >> 6))
            .is_some_and(|w| w & (1u64 << (port & 63)) != 0)
    }

    /// The ports in ascending order.
    fn to_vec(&self) -> Vec<u16> {
        let mut out = Vec::new();
        for (i, &word) in self.words.iter().enumerate() {
            let mut w = word;
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                if let Ok(port) = u16::try_from(i * 64 + bit) {
                    out.push(port);
                }
                w &= w - 1;
            }
        }
        out
    }
}

/// What one item (without its prefix) stands for.
enum Item {
    /// An inclusive range, for whichever protocols the prefix selects.
    Range(u16, u16),
    /// Service ports, each with its own protocol.
    Named(Vec<(u16, Protocol)>),
}

/// Port classes by name (IANA's three ranges, plus `all`).
const CLASSES: &[(&str, u16, u16)] = &[
    ("well-known", 0, 1023),
    ("registered", 1024, 49151),
    ("dynamic", 49152, 65535),
    ("private", 49152, 65535),
    ("all", 0, 65535),
];

/// Parses a port number written in a spec: digits only (leading zeros allowed), 0-65535.
fn port_number(s: &str, item: &str) -> Result<u16, PortError> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(PortError::Invalid { item: shown(item) });
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 5 {
        return Err(PortError::OutOfRange { item: shown(item) });
    }
    if digits.is_empty() {
        return Ok(0);
    }
    digits
        .parse::<u32>()
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| PortError::OutOfRange { item: shown(item) })
}

/// Parses one item body (prefix already removed); `item` is the whole item, for messages.
fn parse_item(body: &str, item: &str) -> Result<Item, PortError> {
    if body == "-" {
        return Ok(Item::Range(1, 65535));
    }
    if body
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b'-' || c == b' ' || c == b'\t')
    {
        let (lo, hi) = match body.split_once('-') {
            None => {
                let p = port_number(body, item)?;
                (p, p)
            }
            Some((a, b)) => {
                let (a, b) = (a.trim(), b.trim());
                let lo = if a.is_empty() {
                    1
                } else {
                    port_number(a, item)?
                };
                let hi = if b.is_empty() {
                    65535
                } else {
                    port_number(b, item)?
                };
                (lo, hi)
            }
        };
        if lo > hi {
            return Err(PortError::ReversedRange { item: shown(item) });
        }
        return Ok(Item::Range(lo, hi));
    }
    if let Some(&(_, lo, hi)) = CLASSES
        .iter()
        .find(|(name, _, _)| body.eq_ignore_ascii_case(name))
    {
        return Ok(Item::Range(lo, hi));
    }
    let name_like = body
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'*' | b'?'));
    if !name_like {
        return Err(PortError::Invalid { item: shown(item) });
    }
    let ports = ports_named(body);
    if !ports.is_empty() {
        Ok(Item::Named(ports))
    } else if body.starts_with(|c: char| c.is_ascii_digit()) {
        // `80x`, `1-http`: a mangled number, not a name.
        Err(PortError::Invalid { item: shown(item) })
    } else {
        Err(PortError::UnknownService { item: shown(item) })
    }
}

/// Parses a port specification in nmap's `-p` syntax.
///
/// Items are separated by commas; whitespace around items is ignored. An item is a port
/// (`80`), a range (`1-1024`), an open range (`-1024` starts at 1, `60000-` ends at 65535,
/// `-` alone is 1-65535 as in `-p-`), a class (`well-known` 0-1023, `registered` 1024-49151,
/// `dynamic` or `private` 49152-65535, `all` 0-65535), or a service name from our table
/// (`http`, `ssh`, wildcards `http*`). A `T:` or `U:` prefix makes that item and the following
/// ones TCP or UDP until the next prefix (`U:53,111,T:21-25,80`). Items before any prefix go
/// to both lists (the scan uses the protocol it needs), except service names, which go to the
/// protocols IANA lists for them. Port 0 is included only when written (`0`, `0-10`, `all`,
/// `well-known`).
///
/// The result is sorted and without duplicates. Any bad item is an error; this never panics.
pub fn parse_ports(spec: &str) -> Result<PortList, PortError> {
    if spec.trim().is_empty() {
        return Err(PortError::Empty);
    }
    let mut tcp = PortSet::new();
    let mut udp = PortSet::new();
    let mut current: Option<Protocol> = None;
    for (i, raw) in spec.split(',').enumerate() {
        let index = i + 1;
        let item = raw.trim();
        if item.is_empty() {
            return Err(PortError::EmptyItem { index });
        }
        let body = match item.split_once(':') {
            Some((prefix, rest)) => {
                current = Some(match prefix.trim() {
                    "T" | "t" => Protocol::Tcp,
                    "U" | "u" => Protocol::Udp,
                    _ => return Err(PortError::BadPrefix { item: shown(item) }),
                });
                let rest = rest.trim();
                if rest.is_empty() {
                    return Err(PortError::EmptyItem { index });
                }
                rest
            }
            None => item,
        };
        match parse_item(body, item)? {
            Item::Range(lo, hi) => {
                if current != Some(Protocol::Udp) {
                    tcp.insert_range(lo, hi);
                }
                if current != Some(Protocol::Tcp) {
                    udp.insert_range(lo, hi);
                }
            }
            Item::Named(ports) => {
                let mut any = false;
                for (port, proto) in ports {
                    if current.is_some_and(|c| c != proto) {
                        continue;
                    }
                    any = true;
                    match proto {
                        Protocol::Tcp => tcp.insert(port),
                        Protocol::Udp => udp.insert(port),
                    }
                }
                if let (false, Some(proto)) = (any, current) {
                    return Err(PortError::NoPortForProtocol {
                        item: shown(item),
                        proto,
                    });
                }
            }
        }
    }
    Ok(PortList {
        tcp: tcp.to_vec(),
        udp: udp.to_vec(),
    })
}

/// Parses `--exclude-ports`: the same syntax as [`parse_ports`]. Remove the result from the
/// scan's list with [`PortList::remove`] (bare items exclude both protocols).
pub fn parse_exclude_ports(spec: &str) -> Result<PortList, PortError> {
    parse_ports(spec)
}

/// Our TCP ranking (format and provenance in its header).
const TOP_TCP_TXT: &str = monban_data::TOP_PORTS_TCP;
/// Our UDP ranking (format and provenance in its header).
const TOP_UDP_TXT: &str = monban_data::TOP_PORTS_UDP;

/// Parses a ranking strictly: one port (1-65535) a line, `#` comments, no port twice.
fn parse_ranking(text: &str) -> Result<Vec<u16>, DataError> {
    let mut seen = PortSet::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split_once('#').map_or(raw, |(b, _)| b).trim();
        if line.is_empty() {
            continue;
        }
        let err = |reason: String| DataError {
            line: i + 1,
            reason,
        };
        let port = parse_data_port(line).ok_or_else(|| err(format!("{line:?} is not a port")))?;
        if port == 0 {
            return Err(err("port 0 cannot be ranked".to_string()));
        }
        if seen.contains(port) {
            return Err(err(format!("port {port} is ranked twice")));
        }
        seen.insert(port);
        out.push(port);
    }
    Ok(out)
}

fn ranking(proto: Protocol) -> &'static [u16] {
    static TCP: OnceLock<Vec<u16>> = OnceLock::new();
    static UDP: OnceLock<Vec<u16>> = OnceLock::new();
    // The files are ours and the unit tests parse them strictly; the empty fallback only keeps
    // this panic-free.
    match proto {
        Protocol::Tcp => TCP.get_or_init(|| parse_ranking(TOP_TCP_TXT).unwrap_or_default()),
        Protocol::Udp => UDP.get_or_init(|| parse_ranking(TOP_UDP_TXT).unwrap_or_default()),
    }
}

/// The `n` ports most likely open for `proto`, most likely first (`--top-ports N`), from our
/// own ranking. `n` larger than the ranking gives all of it (at least 1000 TCP and 200 UDP
/// ports, always including every port 1-1024). The result is in rank order, not sorted.
pub fn top_ports(proto: Protocol, n: usize) -> Vec<u16> {
    ranking(proto).iter().take(n).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Protocol::{Tcp, Udp};

    fn ok(spec: &str) -> PortList {
        parse_ports(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"))
    }

    fn both(ports: &[u16]) -> PortList {
        PortList {
            tcp: ports.to_vec(),
            udp: ports.to_vec(),
        }
    }

    fn err(spec: &str) -> String {
        match parse_ports(spec) {
            Ok(list) => panic!("{spec:?} parsed as {list:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn single_ports_and_lists() {
        assert_eq!(ok("80"), both(&[80]));
        assert_eq!(ok("443,80,22"), both(&[22, 80, 443]));
        assert_eq!(ok("80,80,80"), both(&[80]));
        assert_eq!(ok("65535"), both(&[65535]));
        assert_eq!(ok("0"), both(&[0]));
        assert_eq!(ok("080"), both(&[80]));
        assert_eq!(ok("00000000000000000022"), both(&[22]));
        assert_eq!(ok(" 22 , 80\t,443 "), both(&[22, 80, 443]));
    }

    #[test]
    fn ranges() {
        assert_eq!(ok("1-5"), both(&[1, 2, 3, 4, 5]));
        assert_eq!(ok("5-5"), both(&[5]));
        assert_eq!(ok("0-2"), both(&[0, 1, 2]));
        assert_eq!(ok("8-10,1-3,2-4"), both(&[1, 2, 3, 4, 8, 9, 10]));
        assert_eq!(ok("10 - 12"), both(&[10, 11, 12]));
        assert_eq!(ok("-3"), both(&[1, 2, 3]));
        assert_eq!(ok("65533-"), both(&[65533, 65534, 65535]));
        assert_eq!(ok("65535-65535"), both(&[65535]));
        let all: Vec<u16> = (1..=65535).collect();
        assert_eq!(ok("-"), both(&all));
        assert_eq!(ok("1-"), both(&all));
        assert_eq!(ok("-65535"), both(&all));
        assert_eq!(ok("0-").tcp.len(), 65536);
        assert_eq!(ok("-1024").tcp, (1..=1024).collect::<Vec<u16>>());
    }

    #[test]
    fn classes() {
        assert_eq!(ok("well-known").tcp, (0..=1023).collect::<Vec<u16>>());
        assert_eq!(ok("registered").udp, (1024..=49151).collect::<Vec<u16>>());
        assert_eq!(ok("dynamic").tcp, (49152..=65535).collect::<Vec<u16>>());
        assert_eq!(ok("private"), ok("dynamic"));
        assert_eq!(ok("all").tcp, (0..=65535).collect::<Vec<u16>>());
        assert_eq!(ok("ALL"), ok("all"));
        assert_eq!(ok("Well-Known"), ok("well-known"));
        assert_eq!(ok("well-known,registered,dynamic"), ok("all"));
        let t = ok("T:dynamic");
        assert_eq!(t.tcp.len(), 16384);
        assert!(t.udp.is_empty());
    }

    #[test]
    fn port_zero_only_when_written() {
        assert_eq!(ok("-").tcp.first(), Some(&1));
        assert_eq!(ok("-10").tcp.first(), Some(&1));
        assert_eq!(ok("registered").tcp.first(), Some(&1024));
        assert_eq!(ok("0,-").tcp.first(), Some(&0));
        assert_eq!(ok("well-known").tcp.first(), Some(&0));
    }

    #[test]
    fn protocol_prefixes() {
        assert_eq!(
            ok("U:53,111,T:21-25,80"),
            PortList {
                tcp: vec![21, 22, 23, 24, 25, 80],
                udp: vec![53, 111],
            }
        );
        assert_eq!(
            ok("22,T:80,U:53"),
            PortList {
                tcp: vec![22, 80],
                udp: vec![22, 53],
            }
        );
        assert_eq!(
            ok("t:1-2, u:3 ,4"),
            PortList {
                tcp: vec![1, 2],
                udp: vec![3, 4],
            }
        );
        assert_eq!(
            ok("T : 7"),
            PortList {
                tcp: vec![7],
                udp: vec![],
            }
        );
        assert_eq!(
            ok("U:-"),
            PortList {
                tcp: vec![],
                udp: (1..=65535).collect(),
            }
        );
        assert_eq!(
            ok("T:80,U:80"),
            PortList {
                tcp: vec![80],
                udp: vec![80],
            }
        );
    }

    #[test]
    fn service_names() {
        assert_eq!(
            ok("http,ssh"),
            PortList {
                tcp: vec![22, 80],
                udp: vec![22, 80],
            }
        );
        assert_eq!(
            ok("T:http"),
            PortList {
                tcp: vec![80],
                udp: vec![],
            }
        );
        assert_eq!(
            ok("U:domain,snmp"),
            PortList {
                tcp: vec![],
                udp: vec![53, 161],
            }
        );
        // Names follow their own protocols when no prefix is given.
        assert_eq!(
            ok("imap,shell,syslog"),
            PortList {
                tcp: vec![143, 514],
                udp: vec![514],
            }
        );
        assert_eq!(
            ok("HTTPS,rdp,8080"),
            PortList {
                tcp: vec![443, 3389, 8080],
                udp: vec![443, 3389, 8080],
            }
        );
        assert_eq!(
            ok("T:netbios-*"),
            PortList {
                tcp: vec![137, 138, 139],
                udp: vec![],
            }
        );
        assert_eq!(
            ok("T:ftp-data,ftp"),
            PortList {
                tcp: vec![20, 21],
                udp: vec![],
            }
        );
    }

    #[test]
    fn error_messages_quote_the_item() {
        assert_eq!(err("100-1"), "bad port range \"100-1\": start is after end");
        assert_eq!(
            err("T:100-1"),
            "bad port range \"T:100-1\": start is after end"
        );
        assert_eq!(err("-0"), "bad port range \"-0\": start is after end");
        assert_eq!(err("65536"), "bad port \"65536\": ports go from 0 to 65535");
        assert_eq!(
            err("1-99999999999999999999"),
            "bad port \"1-99999999999999999999\": ports go from 0 to 65535"
        );
        assert_eq!(
            err("S:80"),
            "bad protocol prefix in \"S:80\": use T: for TCP or U: for UDP"
        );
        assert_eq!(
            err("http:80"),
            "bad protocol prefix in \"http:80\": use T: for TCP or U: for UDP"
        );
        assert_eq!(
            err("nosuchsvc"),
            "unknown service name \"nosuchsvc\": not a port class (well-known, registered, \
             dynamic, all) nor a service in monban's table"
        );
        assert_eq!(err("U:imap"), "service \"U:imap\" has no udp port");
        assert_eq!(err("T:biff"), "service \"T:biff\" has no tcp port");
        let invalid = |item: &str| {
            format!(
                "bad port item {item:?}: expected a port (80), a range (1-1024, -1024, 60000-, -), \
                 a class (well-known, registered, dynamic, all) or a service name (http)"
            )
        };
        for bad in [
            "8x0", "1-2-3", "--", "1--", "8 0", "+80", "80+", "1-http", "a b", "é", "T:U:80",
        ] {
            assert_eq!(err(bad), invalid(bad), "{bad:?}");
        }
        assert_eq!(
            err(&"9".repeat(100)),
            format!("bad port \"{}…\": ports go from 0 to 65535", "9".repeat(40))
        );
    }

    #[test]
    fn empty_spec_and_items() {
        assert_eq!(parse_ports(""), Err(PortError::Empty));
        assert_eq!(parse_ports("  \t "), Err(PortError::Empty));
        assert_eq!(
            parse_ports("80,,81"),
            Err(PortError::EmptyItem { index: 2 })
        );
        assert_eq!(parse_ports(",80"), Err(PortError::EmptyItem { index: 1 }));
        assert_eq!(parse_ports("80,"), Err(PortError::EmptyItem { index: 2 }));
        assert_eq!(
            parse_ports("80, ,81"),
            Err(PortError::EmptyItem { index: 2 })
        );
        assert_eq!(parse_ports("T:"), Err(PortError::EmptyItem { index: 1 }));
        assert_eq!(
            parse_ports("22,U: ,80"),
            Err(PortError::EmptyItem { index: 2 })
        );
        assert_eq!(parse_ports(","), Err(PortError::EmptyItem { index: 1 }));
        assert_eq!(
            err("80,,81"),
            "empty item #2 in the port specification (two commas in a row, a comma at either \
             end, or a T:/U: prefix with no port after it)"
        );
        assert_eq!(
            err(""),
            "empty port specification: give ports such as 22,80,443 or 1-1024"
        );
    }

    #[test]
    fn error_variants() {
        assert_eq!(
            parse_ports("100-1"),
            Err(PortError::ReversedRange {
                item: "100-1".into()
            })
        );
        assert_eq!(
            parse_ports("80,70000"),
            Err(PortError::OutOfRange {
                item: "70000".into()
            })
        );
        assert_eq!(
            parse_ports("x:1"),
            Err(PortError::BadPrefix { item: "x:1".into() })
        );
        assert_eq!(
            parse_ports("gopherish"),
            Err(PortError::UnknownService {
                item: "gopherish".into()
            })
        );
        assert_eq!(
            parse_ports("U:ssh,U:imaps"),
            Err(PortError::NoPortForProtocol {
                item: "U:imaps".into(),
                proto: Udp
            })
        );
        assert_eq!(
            parse_ports("80;81"),
            Err(PortError::Invalid {
                item: "80;81".into()
            })
        );
    }

    #[test]
    fn list_len_and_remove() {
        let mut list = ok("U:53,111,T:21-25,80");
        assert_eq!(list.len(), 8);
        assert!(!list.is_empty());
        assert_eq!(list.ports(Tcp), &[21, 22, 23, 24, 25, 80]);
        assert_eq!(list.ports(Udp), &[53, 111]);
        list.remove(&parse_exclude_ports("22-24,111").unwrap_or_default());
        assert_eq!(
            list,
            PortList {
                tcp: vec![21, 25, 80],
                udp: vec![53],
            }
        );
        list.remove(&parse_exclude_ports("T:53").unwrap_or_default());
        assert_eq!(list.udp, vec![53]);
        list.remove(&PortList {
            tcp: vec![80, 21, 25],
            udp: vec![53],
        });
        assert!(list.is_empty());
        assert_eq!(list.len(), 0);
        assert_eq!(PortList::default().len(), 0);

        let mut all = ok("-");
        all.remove(&ok("2-65535"));
        assert_eq!(all, both(&[1]));
    }

    #[test]
    fn exclude_is_parse() {
        for spec in ["80", "U:53,T:1-3", "http", "", "1-0"] {
            assert_eq!(parse_exclude_ports(spec), parse_ports(spec), "{spec:?}");
        }
    }

    #[test]
    fn rankings_parse_strictly() {
        let tcp = parse_ranking(TOP_TCP_TXT).unwrap_or_else(|e| panic!("top-ports-tcp.txt {e}"));
        let udp = parse_ranking(TOP_UDP_TXT).unwrap_or_else(|e| panic!("top-ports-udp.txt {e}"));
        assert_eq!(tcp.len(), 1467);
        assert_eq!(udp.len(), 1269);
        for (name, list) in [("tcp", &tcp), ("udp", &udp)] {
            let set = PortSet::from_ports(list);
            for p in 1..=1024u16 {
                assert!(set.contains(p), "{name} ranking lacks port {p}");
            }
        }
        assert!(TOP_TCP_TXT.starts_with("# monban top-ports ranking, TCP.\n# Source: our own"));
        assert!(TOP_UDP_TXT.starts_with("# monban top-ports ranking, UDP.\n# Source: our own"));
    }

    /// The `# ---- positions A-B: ...` markers in the ranking files must tell the truth.
    #[test]
    fn ranking_section_markers_match_positions() {
        for text in [TOP_TCP_TXT, TOP_UDP_TXT] {
            let mut count = 0usize;
            let mut open: Option<(usize, usize)> = None;
            let mut sections = 0;
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("# ---- positions ") {
                    if let Some((a, b)) = open {
                        assert_eq!(count, b, "section {a}-{b} ends at {count}");
                    }
                    let range = rest.split(':').next().unwrap_or("");
                    let (a, b) = range.split_once('-').unwrap_or(("", ""));
                    let (a, b): (usize, usize) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
                    assert_eq!(a, count + 1, "section {range} starts after {count}");
                    open = Some((a, b));
                    sections += 1;
                } else if !line.split('#').next().unwrap_or("").trim().is_empty() {
                    count += 1;
                }
            }
            assert_eq!(open.map(|(_, b)| b), Some(count));
            assert_eq!(sections, 4);
        }
    }

    #[test]
    fn ranking_parser_rejects_bad_lines() {
        assert_eq!(
            parse_ranking("80\n443 # https\n\n# c\n22"),
            Ok(vec![80, 443, 22])
        );
        let e = parse_ranking("80\n80\n").expect_err("dup");
        assert_eq!((e.line, e.reason.as_str()), (2, "port 80 is ranked twice"));
        assert_eq!(parse_ranking("1\nx\n").expect_err("x").line, 2);
        assert_eq!(parse_ranking("0\n").expect_err("0").line, 1);
        assert_eq!(parse_ranking("70000\n").expect_err("big").line, 1);
        assert_eq!(parse_ranking("80 443\n").expect_err("two").line, 1);
    }

    #[test]
    fn top_ports_order() {
        assert_eq!(top_ports(Tcp, 0), Vec::<u16>::new());
        assert_eq!(
            top_ports(Tcp, 10),
            vec![80, 443, 22, 21, 25, 3389, 8080, 53, 445, 23]
        );
        assert_eq!(top_ports(Udp, 8), vec![53, 123, 161, 137, 138, 67, 68, 500]);
        assert_eq!(top_ports(Tcp, 1000).len(), 1000);
        assert_eq!(top_ports(Udp, 200).len(), 200);
        assert_eq!(top_ports(Tcp, usize::MAX).len(), 1467);
        assert_eq!(top_ports(Udp, 100_000).len(), 1269);
        // Positions 1000 and the last of the whole list, pinned.
        assert_eq!(top_ports(Tcp, 1000).last(), Some(&913));
        assert_eq!(top_ports(Tcp, usize::MAX).last(), Some(&1024));
        let top = top_ports(Tcp, 1000);
        let mut sorted = top.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
    }

    /// A tiny deterministic generator (xorshift64*), so the random tests are reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn assert_well_formed(spec: &str, list: &PortList) {
        assert!(!list.is_empty(), "{spec:?} gave an empty list");
        for v in [&list.tcp, &list.udp] {
            assert!(
                v.windows(2).all(|w| w[0] < w[1]),
                "{spec:?} not sorted/unique"
            );
        }
    }

    /// Random strings over the characters that matter (and some that do not): never a panic,
    /// and every success is sorted, unique and non-empty.
    #[test]
    fn random_strings_never_panic() {
        const ALPHABET: &[&str] = &[
            "0",
            "1",
            "2",
            "5",
            "6",
            "9",
            "-",
            "-",
            ",",
            ",",
            ":",
            " ",
            "\t",
            "T",
            "U",
            "t",
            "u",
            "S",
            "h",
            "t",
            "p",
            "s",
            "*",
            "?",
            "a",
            "l",
            "w",
            "e",
            "é",
            "日",
            "\u{0}",
            "\n",
            "65535",
            "65536",
            "http",
            "ssh",
            "all",
            "well-known",
            "T:",
            "U:",
            "-",
        ];
        let mut rng = Rng(0x6d6f_6e62_616e_2d31);
        let mut oks = 0;
        for _ in 0..20_000 {
            let len = rng.below(16);
            let spec: String = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            match parse_ports(&spec) {
                Ok(list) => {
                    oks += 1;
                    assert_well_formed(&spec, &list);
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        // The alphabet is rich enough that both outcomes happen often.
        assert!(oks > 500, "only {oks} specs parsed");
    }

    /// Random valid specs built from numbers, ranges and prefixes, checked against a naive
    /// model of the syntax.
    #[test]
    fn random_valid_specs_match_a_model() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for _ in 0..3_000 {
            let mut items = Vec::new();
            let mut model_tcp = std::collections::BTreeSet::new();
            let mut model_udp = std::collections::BTreeSet::new();
            let mut current: Option<Protocol> = None;
            for _ in 0..1 + rng.below(6) {
                let mut item = String::new();
                match rng.below(4) {
                    0 => {
                        item.push_str("T:");
                        current = Some(Tcp);
                    }
                    1 => {
                        item.push_str("U:");
                        current = Some(Udp);
                    }
                    _ => {}
                }
                // Ranges stay small so the model stays cheap.
                let a = rng.below(65536) as u16;
                let b = a.saturating_add(rng.below(50) as u16);
                let (lo, hi) = match rng.below(4) {
                    0 => {
                        item.push_str(&a.to_string());
                        (a, a)
                    }
                    1 => {
                        item.push_str(&format!("{a}-{b}"));
                        (a, b)
                    }
                    2 => {
                        let s = 65535u16.saturating_sub(rng.below(40) as u16);
                        item.push_str(&format!("{s}-"));
                        (s, 65535)
                    }
                    _ => {
                        let e = 1 + rng.below(40) as u16;
                        item.push_str(&format!("-{e}"));
                        (1, e)
                    }
                };
                for p in lo..=hi {
                    if current != Some(Udp) {
                        model_tcp.insert(p);
                    }
                    if current != Some(Tcp) {
                        model_udp.insert(p);
                    }
                }
                if rng.below(3) == 0 {
                    item = format!(" {item} ");
                }
                items.push(item);
            }
            let spec = items.join(",");
            let list = ok(&spec);
            assert_eq!(
                list.tcp,
                model_tcp.into_iter().collect::<Vec<_>>(),
                "{spec:?}"
            );
            assert_eq!(
                list.udp,
                model_udp.into_iter().collect::<Vec<_>>(),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(42);
        for _ in 0..5_000 {
            let len = rng.below(40);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let spec = String::from_utf8_lossy(&bytes);
            if let Ok(list) = parse_ports(&spec) {
                assert_well_formed(&spec, &list);
            }
            let _ = crate::services::ports_named(&spec);
        }
    }
}
