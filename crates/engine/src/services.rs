//! Service names by port: our own table, written from the facts of the IANA "Service Name and
//! Transport Protocol Port Number Registry" (see the header of `files/services.txt` in
//! `monban-data`).
//!
//! The table is embedded in the binary and parsed once, on first use. Each (port, protocol)
//! pair has at most one name: the IANA service name, which is what monban shows. Names and
//! aliases (`msrpc` for `epmap`, `rdp` for `ms-wbt-server`, ...) both select ports in `-p`.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use crate::Protocol;

/// The embedded table (format described in its header).
const SERVICES_TXT: &str = monban_data::SERVICES;

/// Longest service name IANA allows, and so the longest we accept in our table.
const MAX_NAME_LEN: usize = 15;

/// One line of our own data files that does not follow its format.
///
/// Only our own embedded files are parsed with it; the unit tests parse them strictly, so a
/// malformed line is caught before release rather than at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataError {
    /// 1-based line number.
    pub(crate) line: usize,
    /// What is wrong with it.
    pub(crate) reason: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// One name (primary or alias) for one (port, protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameEntry {
    name: &'static str,
    port: u16,
    proto: Protocol,
}

/// The parsed table.
#[derive(Debug, Default)]
struct Table {
    /// (port, protocol) → the name shown for it.
    by_port: HashMap<(u16, Protocol), &'static str>,
    /// Every name and alias with each (port, protocol) it stands for, in file order.
    names: Vec<NameEntry>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    // The embedded file is ours and a unit test parses it strictly, so the fallback (an empty
    // table: no names) is never taken in a released build; it only keeps this panic-free.
    TABLE.get_or_init(|| parse_table(SERVICES_TXT).unwrap_or_default())
}

/// IANA's three port ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortClass {
    /// 0-1023: the standard services.
    WellKnown,
    /// 1024-49151: services registered with IANA.
    Registered,
    /// 49152-65535: dynamic (ephemeral) ports, picked by clients for their own end.
    Dynamic,
}

impl PortClass {
    /// The class of `port`.
    pub fn of(port: u16) -> PortClass {
        match port {
            0..=1023 => PortClass::WellKnown,
            1024..=49151 => PortClass::Registered,
            _ => PortClass::Dynamic,
        }
    }

    /// `well-known`, `registered` or `dynamic`.
    pub fn as_str(self) -> &'static str {
        match self {
            PortClass::WellKnown => "well-known",
            PortClass::Registered => "registered",
            PortClass::Dynamic => "dynamic",
        }
    }
}

/// The usual service name of a port (`80`/TCP → `"http"`), if our table has one.
pub fn service_name(port: u16, proto: Protocol) -> Option<&'static str> {
    table().by_port.get(&(port, proto)).copied()
}

/// The ports a service name stands for, for `-p http,ssh`: every (port, protocol) whose name
/// or alias matches `name`, sorted by port then protocol (TCP first), without duplicates.
///
/// Matching ignores ASCII case. `*` (any run of characters) and `?` (one character) work as
/// wildcards, as in nmap (`-p 'http*'`). An unknown name gives an empty list.
pub fn ports_named(name: &str) -> Vec<(u16, Protocol)> {
    let pattern = name.trim().to_ascii_lowercase();
    if pattern.is_empty() {
        return Vec::new();
    }
    let wild = pattern.contains(['*', '?']);
    let mut out: Vec<(u16, Protocol)> = table()
        .names
        .iter()
        .filter(|e| {
            if wild {
                glob_match(pattern.as_bytes(), e.name.as_bytes())
            } else {
                e.name == pattern
            }
        })
        .map(|e| (e.port, e.proto))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `text` matches the wildcard `pattern` (`*` any run, `?` one byte).
///
/// Greedy with one backtrack point: O(len(pattern) × len(text)) at worst, no recursion.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Whether `name` is a well-formed service name for our table: lower-case letters, digits and
/// single inner hyphens, at least one letter, at most 15 characters (IANA's rules, RFC 6335,
/// restricted to lower case since we store names folded).
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b.iter().any(|c| c.is_ascii_lowercase())
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
        && !name.contains("--")
}

/// Parses a decimal port number of our data files: digits only, 0-65535.
pub(crate) fn parse_data_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `port[-port]/proto[,proto]`.
fn parse_ports_field(field: &str) -> Result<(u16, u16, Vec<Protocol>), String> {
    let (ports, protos) = field
        .split_once('/')
        .ok_or_else(|| format!("{field:?}: expected port/proto"))?;
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse_data_port(a), parse_data_port(b)),
        None => (parse_data_port(ports), parse_data_port(ports)),
    };
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Err(format!("{ports:?}: not a port or port range"));
    };
    if lo > hi {
        return Err(format!("{ports:?}: range start is after its end"));
    }
    let mut list = Vec::new();
    for p in protos.split(',') {
        let proto = match p {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return Err(format!("{p:?}: protocol must be tcp or udp")),
        };
        if list.contains(&proto) {
            return Err(format!("{protos:?}: protocol listed twice"));
        }
        list.push(proto);
    }
    Ok((lo, hi, list))
}

/// Parses our services table strictly: any malformed line, bad name, or (port, protocol) given
/// twice is an error naming the line.
fn parse_table(text: &'static str) -> Result<Table, DataError> {
    let mut table = Table::default();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |reason: String| DataError {
            line: line_no,
            reason,
        };
        let body = raw.split_once('#').map_or(raw, |(b, _)| b);
        let mut fields = body.split_whitespace();
        let Some(name) = fields.next() else {
            continue;
        };
        let ports = fields
            .next()
            .ok_or_else(|| err(format!("{name:?} has no port/proto field")))?;
        let aliases: Vec<&'static str> = fields.collect();
        for n in std::iter::once(name).chain(aliases.iter().copied()) {
            if !valid_name(n) {
                return Err(err(format!("{n:?} is not a well-formed service name")));
            }
        }
        if aliases.contains(&name) {
            return Err(err(format!("{name:?} is listed as its own alias")));
        }
        let (lo, hi, protos) = parse_ports_field(ports).map_err(err)?;
        for port in lo..=hi {
            for &proto in &protos {
                if let Some(old) = table.by_port.insert((port, proto), name) {
                    return Err(err(format!("{port}/{proto} already has the name {old:?}")));
                }
                for &n in std::iter::once(&name).chain(aliases.iter()) {
                    table.names.push(NameEntry {
                        name: n,
                        port,
                        proto,
                    });
                }
            }
        }
    }
    if table.by_port.is_empty() {
        return Err(DataError {
            line: 0,
            reason: "the table has no entries".to_string(),
        });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Protocol::{Tcp, Udp};

    #[test]
    fn embedded_table_parses_strictly() {
        let t = parse_table(SERVICES_TXT).unwrap_or_else(|e| panic!("services.txt {e}"));
        // Pin the size so that an accidental truncation or a lost range is noticed.
        assert_eq!(t.by_port.len(), 1826);
        let tcp = t.by_port.keys().filter(|k| k.1 == Tcp).count();
        let udp = t.by_port.keys().filter(|k| k.1 == Udp).count();
        assert_eq!((tcp, udp), (925, 901));
        assert!(tcp >= 350 && udp >= 350);
    }

    #[test]
    fn header_names_the_source() {
        let first = SERVICES_TXT.lines().next().unwrap_or("");
        assert!(first.starts_with("# monban service table. Source: the IANA"));
        assert!(
            SERVICES_TXT.contains("https://www.iana.org/assignments/service-names-port-numbers")
        );
    }

    #[test]
    fn names_do_not_shadow_port_classes() {
        let t = parse_table(SERVICES_TXT).unwrap_or_default();
        for e in &t.names {
            assert!(
                !["well-known", "registered", "dynamic", "all"].contains(&e.name),
                "{} would shadow a port class",
                e.name
            );
        }
    }

    #[test]
    fn well_known_names() {
        let cases: &[(u16, Protocol, &str)] = &[
            (20, Tcp, "ftp-data"),
            (21, Tcp, "ftp"),
            (22, Tcp, "ssh"),
            (23, Tcp, "telnet"),
            (25, Tcp, "smtp"),
            (53, Tcp, "domain"),
            (53, Udp, "domain"),
            (67, Udp, "bootps"),
            (69, Udp, "tftp"),
            (79, Tcp, "finger"),
            (80, Tcp, "http"),
            (88, Tcp, "kerberos"),
            (110, Tcp, "pop3"),
            (111, Tcp, "sunrpc"),
            (111, Udp, "sunrpc"),
            (113, Tcp, "auth"),
            (123, Udp, "ntp"),
            (135, Tcp, "epmap"),
            (137, Udp, "netbios-ns"),
            (138, Udp, "netbios-dgm"),
            (139, Tcp, "netbios-ssn"),
            (143, Tcp, "imap"),
            (161, Udp, "snmp"),
            (162, Udp, "snmptrap"),
            (389, Tcp, "ldap"),
            (443, Tcp, "https"),
            (443, Udp, "https"),
            (445, Tcp, "microsoft-ds"),
            (465, Tcp, "submissions"),
            (500, Udp, "isakmp"),
            (512, Tcp, "exec"),
            (512, Udp, "biff"),
            (513, Tcp, "login"),
            (513, Udp, "who"),
            (514, Tcp, "shell"),
            (514, Udp, "syslog"),
            (515, Tcp, "printer"),
            (520, Udp, "router"),
            (587, Tcp, "submission"),
            (623, Udp, "asf-rmcp"),
            (631, Tcp, "ipp"),
            (636, Tcp, "ldaps"),
            (873, Tcp, "rsync"),
            (993, Tcp, "imaps"),
            (995, Tcp, "pop3s"),
        ];
        for &(port, proto, name) in cases {
            assert_eq!(service_name(port, proto), Some(name), "{port}/{proto}");
        }
    }

    #[test]
    fn registered_names() {
        let cases: &[(u16, Protocol, &str)] = &[
            (1080, Tcp, "socks"),
            (1194, Udp, "openvpn"),
            (1243, Tcp, "serialgateway"),
            (1433, Tcp, "ms-sql-s"),
            (1434, Udp, "ms-sql-m"),
            (1521, Tcp, "ncube-lm"),
            (1723, Tcp, "pptp"),
            (1900, Udp, "ssdp"),
            (1999, Tcp, "tcp-id-port"),
            (2049, Tcp, "nfs"),
            (2049, Udp, "nfs"),
            (3306, Tcp, "mysql"),
            (3389, Tcp, "ms-wbt-server"),
            (4500, Udp, "ipsec-nat-t"),
            (5060, Udp, "sip"),
            (5353, Udp, "mdns"),
            (5432, Tcp, "postgresql"),
            (5900, Tcp, "rfb"),
            (6000, Tcp, "x11"),
            (6063, Tcp, "x11"),
            (6379, Tcp, "redis"),
            (8080, Tcp, "http-alt"),
            (8443, Tcp, "pcsync-https"),
            (9100, Tcp, "pdl-datastream"),
            (12345, Tcp, "italk"),
            (47808, Udp, "bacnet"),
        ];
        for &(port, proto, name) in cases {
            assert_eq!(service_name(port, proto), Some(name), "{port}/{proto}");
        }
    }

    #[test]
    fn unknown_ports_have_no_name() {
        // Port 0 is reserved; 8, 1024 and 31337 are unassigned; IANA reserved IMAP and
        // IMAPS over UDP; redis has no UDP port; 65535 is dynamic.
        for (port, proto) in [
            (0, Tcp),
            (8, Tcp),
            (1024, Tcp),
            (31337, Tcp),
            (143, Udp),
            (993, Udp),
            (6379, Udp),
            (6064, Tcp),
            (65535, Udp),
        ] {
            assert_eq!(service_name(port, proto), None, "{port}/{proto}");
        }
    }

    #[test]
    fn names_to_ports() {
        assert_eq!(ports_named("http"), vec![(80, Tcp), (80, Udp)]);
        assert_eq!(ports_named("ssh"), vec![(22, Tcp), (22, Udp)]);
        assert_eq!(ports_named("SSH"), vec![(22, Tcp), (22, Udp)]);
        assert_eq!(ports_named(" imap "), vec![(143, Tcp)]);
        assert_eq!(ports_named("shell"), vec![(514, Tcp)]);
        assert_eq!(ports_named("syslog"), vec![(514, Udp)]);
        assert_eq!(
            ports_named("http-alt"),
            vec![
                (591, Tcp),
                (591, Udp),
                (8008, Tcp),
                (8008, Udp),
                (8080, Tcp),
                (8080, Udp)
            ]
        );
        assert_eq!(ports_named("nosuchservice"), vec![]);
        assert_eq!(ports_named(""), vec![]);
        assert_eq!(ports_named("   "), vec![]);
    }

    #[test]
    fn aliases_to_ports() {
        assert_eq!(ports_named("msrpc"), vec![(135, Tcp), (135, Udp)]);
        assert_eq!(ports_named("rdp"), vec![(3389, Tcp), (3389, Udp)]);
        assert_eq!(ports_named("vnc"), vec![(5900, Tcp), (5900, Udp)]);
        assert_eq!(ports_named("ident"), vec![(113, Tcp), (113, Udp)]);
        assert_eq!(ports_named("smb"), vec![(445, Tcp), (445, Udp)]);
        assert_eq!(ports_named("rsh"), vec![(514, Tcp)]);
        assert_eq!(ports_named("dns"), vec![(53, Tcp), (53, Udp)]);
        assert_eq!(ports_named("http-proxy"), vec![(8080, Tcp), (8080, Udp)]);
    }

    #[test]
    fn wildcards() {
        assert_eq!(
            ports_named("netbios-*"),
            vec![
                (137, Tcp),
                (137, Udp),
                (138, Tcp),
                (138, Udp),
                (139, Tcp),
                (139, Udp)
            ]
        );
        assert_eq!(
            ports_named("pop?"),
            vec![(109, Tcp), (109, Udp), (110, Tcp), (110, Udp)]
        );
        assert_eq!(
            ports_named("ms-sql-?"),
            vec![(1433, Tcp), (1433, Udp), (1434, Tcp), (1434, Udp)]
        );
        assert_eq!(ports_named("x11").len(), 128);
        assert_eq!(ports_named("*").len(), 1826);
        assert_eq!(ports_named("zz*"), vec![]);
    }

    #[test]
    fn glob_matcher() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*", b"abc"));
        assert!(glob_match(b"a*c", b"abbbc"));
        assert!(glob_match(b"a*c*", b"acxc"));
        assert!(glob_match(b"?b?", b"abc"));
        assert!(glob_match(b"**a", b"a"));
        assert!(!glob_match(b"a*c", b"abcd"));
        assert!(!glob_match(b"?", b""));
        assert!(!glob_match(b"abc", b"ab"));
        assert!(!glob_match(b"", b"a"));
        assert!(glob_match(b"", b""));
    }

    #[test]
    fn name_rules() {
        for good in ["http", "ftp-data", "9pfs", "914c-g", "netconfsoaphttp"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "HTTP",
            "-x",
            "x-",
            "a--b",
            "123",
            "sql*net",
            "a_b",
            "netconfsoaphttps",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn strict_parser_rejects_malformed_lines() {
        let cases: &[(&'static str, usize, &str)] = &[
            ("http 80/tcp\nssh\n", 2, "has no port/proto"),
            ("http 80\n", 1, "expected port/proto"),
            ("http 80/sctp\n", 1, "protocol must be"),
            ("http 80/tcp,tcp\n", 1, "listed twice"),
            ("http 99999/tcp\n", 1, "not a port"),
            ("http 9-1/tcp\n", 1, "start is after"),
            (
                "http 80/tcp\nwww 80/tcp\n",
                2,
                "already has the name \"http\"",
            ),
            ("Http 80/tcp\n", 1, "not a well-formed"),
            ("http 80/tcp Bad_Alias\n", 1, "not a well-formed"),
            ("http 80/tcp http\n", 1, "its own alias"),
            ("http +80/tcp\n", 1, "not a port"),
        ];
        for &(text, line, reason) in cases {
            let e = parse_table(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.reason.contains(reason), "{text:?}: {e}");
        }
        assert_eq!(
            parse_table("# only comments\n\n").expect_err("empty").line,
            0
        );
        let t = parse_table("a 1-2/tcp,udp b # c\n").expect("valid");
        assert_eq!(t.by_port.len(), 4);
        assert_eq!(t.names.len(), 8);
    }
}
