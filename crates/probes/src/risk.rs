//! Risk advice for open ports: which services are risky to expose, why, and what to do.
//!
//! The table is our own text, `files/risks.txt` in `monban-data` (format at its top), embedded
//! and parsed on first use. [`risk_for`] answers for one open port.

use std::fmt;
use std::sync::OnceLock;

use crate::lex;
use crate::{Protocol, RiskTableError};

/// The embedded table.
const RISKS_TXT: &str = monban_data::RISKS;

/// How bad it is to leave a port open to untrusted networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskLevel {
    /// Worth knowing; fix when convenient.
    Low,
    /// Leaks information or credentials; fix soon.
    Medium,
    /// A common way in; close or restrict it now.
    High,
    /// Gives an attacker control with little effort; close it first.
    Critical,
}

impl RiskLevel {
    /// Lower-case name (`low`, `medium`, `high`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low" => RiskLevel::Low,
            "medium" => RiskLevel::Medium,
            "high" => RiskLevel::High,
            "critical" => RiskLevel::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The risk note for one open port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Risk {
    /// Name of the table entry (`telnet`, `trojan-netbus`, ...).
    pub name: &'static str,
    /// How bad it is.
    pub level: RiskLevel,
    /// Why it is risky, one sentence.
    pub why: &'static str,
    /// What to do about it, one or two sentences.
    pub advice: &'static str,
}

/// One entry of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    risk: Risk,
    tcp: Vec<(u16, u16)>,
    udp: Vec<(u16, u16)>,
    services: Vec<&'static str>,
}

impl Entry {
    fn has_port(&self, port: u16, proto: Protocol) -> bool {
        let ranges = match proto {
            Protocol::Tcp => &self.tcp,
            Protocol::Udp => &self.udp,
        };
        ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
    }
}

/// The parsed risk table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskTable {
    entries: Vec<Entry>,
}

impl RiskTable {
    /// The table shipped inside monban, parsed on first use. The unit tests parse it, so
    /// the error is not expected; it is returned rather than panicking.
    pub fn builtin() -> Result<&'static RiskTable, RiskTableError> {
        static TABLE: OnceLock<Result<RiskTable, RiskTableError>> = OnceLock::new();
        TABLE
            .get_or_init(|| RiskTable::parse(RISKS_TXT))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses a table in the format described at the top of `risks.txt`.
    pub fn parse(text: &'static str) -> Result<RiskTable, RiskTableError> {
        parse(text)
    }

    /// Every entry's risk, in file order.
    pub fn all(&self) -> impl Iterator<Item = Risk> + '_ {
        self.entries.iter().map(|e| e.risk)
    }

    /// The risk of an open `port` over `proto`.
    ///
    /// - `service: None` (not identified): the entry that claims this port, if any.
    /// - `service: Some(name)` (identified, e.g. by the probe database): the entry that lists
    ///   this service name (preferring one that also claims the port), whatever the port;
    ///   `None` if no entry lists it, even on a port another entry claims (SSH answering on
    ///   port 23 is not telnet). Pass `None` for "unknown" rather than a placeholder name.
    pub fn lookup(&self, port: u16, proto: Protocol, service: Option<&str>) -> Option<Risk> {
        let found = match service {
            None => self.entries.iter().find(|e| e.has_port(port, proto)),
            Some(s) => {
                let mut by_name = self.entries.iter().filter(|e| e.services.contains(&s));
                let first = by_name.clone().next();
                by_name.find(|e| e.has_port(port, proto)).or(first)
            }
        };
        found.map(|e| e.risk)
    }
}

/// The risk of an open `port` over `proto`, from the embedded table; see
/// [`RiskTable::lookup`] for how `service` is used. `None` if the port is not known to be
/// risky (or, never in a tested build, if the embedded table did not parse).
pub fn risk_for(port: u16, proto: Protocol, service: Option<&str>) -> Option<Risk> {
    RiskTable::builtin().ok()?.lookup(port, proto, service)
}

#[derive(Default)]
struct Draft {
    line: usize,
    name: &'static str,
    tcp: Option<Vec<(u16, u16)>>,
    udp: Option<Vec<(u16, u16)>>,
    services: Option<Vec<&'static str>>,
    level: Option<RiskLevel>,
    why: Option<&'static str>,
    advice: Option<&'static str>,
}

fn parse(text: &'static str) -> Result<RiskTable, RiskTableError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut cur: Option<Draft> = None;
    for l in lex::lines(text) {
        let line = l.no;
        let keyword = match l.keyword {
            "risk" => "risk",
            "tcp" => "tcp",
            "udp" => "udp",
            "services" => "services",
            "level" => "level",
            "why" => "why",
            "advice" => "advice",
            other => {
                return Err(RiskTableError::UnknownKeyword {
                    line,
                    keyword: other.to_string(),
                })
            }
        };
        if l.rest.is_empty() {
            return Err(RiskTableError::MissingValue { line, keyword });
        }
        if keyword == "risk" {
            if let Some(d) = cur.take() {
                entries.push(finish(d, &entries)?);
            }
            if !is_lower_name(l.rest) {
                return Err(RiskTableError::BadName {
                    line,
                    name: l.rest.to_string(),
                });
            }
            cur = Some(Draft {
                line,
                name: l.rest,
                ..Draft::default()
            });
            continue;
        }
        let Some(d) = cur.as_mut() else {
            return Err(RiskTableError::OutsideEntry { line, keyword });
        };
        let dup = RiskTableError::Duplicate { line, keyword };
        match keyword {
            "tcp" | "udp" => {
                let ranges = l
                    .rest
                    .split_whitespace()
                    .map(|item| {
                        lex::port_range(item).ok_or_else(|| RiskTableError::BadPort {
                            line,
                            value: item.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                for &(lo, hi) in &ranges {
                    let proto = if keyword == "tcp" {
                        Protocol::Tcp
                    } else {
                        Protocol::Udp
                    };
                    let taken = entries
                        .iter()
                        .find(|e| (lo..=hi).any(|p| e.has_port(p, proto)));
                    if let Some(other) = taken {
                        let port = (lo..=hi).find(|&p| other.has_port(p, proto)).unwrap_or(lo);
                        return Err(RiskTableError::PortTaken {
                            line,
                            proto: proto.as_str(),
                            port,
                            other: other.risk.name.to_string(),
                        });
                    }
                }
                let slot = if keyword == "tcp" {
                    &mut d.tcp
                } else {
                    &mut d.udp
                };
                if slot.replace(ranges).is_some() {
                    return Err(dup);
                }
            }
            "services" => {
                let names: Vec<&'static str> = l.rest.split_whitespace().collect();
                if let Some(bad) = names.iter().find(|n| !is_lower_name(n)) {
                    return Err(RiskTableError::BadName {
                        line,
                        name: bad.to_string(),
                    });
                }
                if d.services.replace(names).is_some() {
                    return Err(dup);
                }
            }
            "level" => {
                let level = RiskLevel::parse(l.rest).ok_or_else(|| RiskTableError::BadLevel {
                    line,
                    value: l.rest.to_string(),
                })?;
                if d.level.replace(level).is_some() {
                    return Err(dup);
                }
            }
            "why" => {
                if d.why.replace(l.rest).is_some() {
                    return Err(dup);
                }
            }
            _ => {
                if d.advice.replace(l.rest).is_some() {
                    return Err(dup);
                }
            }
        }
    }
    if let Some(d) = cur.take() {
        entries.push(finish(d, &entries)?);
    }
    Ok(RiskTable { entries })
}

fn finish(d: Draft, done: &[Entry]) -> Result<Entry, RiskTableError> {
    let missing = |keyword| RiskTableError::MissingField {
        line: d.line,
        name: d.name.to_string(),
        keyword,
    };
    if done.iter().any(|e| e.risk.name == d.name) {
        return Err(RiskTableError::DuplicateName {
            line: d.line,
            name: d.name.to_string(),
        });
    }
    if d.tcp.is_none() && d.udp.is_none() {
        return Err(missing("tcp` or `udp"));
    }
    Ok(Entry {
        risk: Risk {
            name: d.name,
            level: d.level.ok_or_else(|| missing("level"))?,
            why: d.why.ok_or_else(|| missing("why"))?,
            advice: d.advice.ok_or_else(|| missing("advice"))?,
        },
        tcp: d.tcp.unwrap_or_default(),
        udp: d.udp.unwrap_or_default(),
        services: d.services.unwrap_or_default(),
    })
}

fn is_lower_name(s: &str) -> bool {
    lex::is_name(s) && !s.contains('_') && !s.bytes().any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Protocol::{Tcp, Udp};

    #[test]
    fn builtin_table_parses() {
        let t = RiskTable::builtin().unwrap();
        assert!(t.all().count() >= 30, "{}", t.all().count());
        for r in t.all() {
            assert!(r.why.ends_with('.'), "{}: why must be a sentence", r.name);
            assert!(
                r.advice.ends_with('.'),
                "{}: advice must be a sentence",
                r.name
            );
        }
    }

    #[test]
    fn every_port_of_the_course_table_is_flagged() {
        let course: &[(u16, Protocol, &str)] = &[
            (23, Tcp, "telnet"),
            (69, Udp, "tftp"),
            (110, Tcp, "pop3"),
            (111, Tcp, "sunrpc"),
            (111, Udp, "sunrpc"),
            (135, Tcp, "msrpc"),
            (137, Udp, "netbios"),
            (138, Udp, "netbios"),
            (139, Tcp, "netbios"),
            (161, Udp, "snmp"),
            (162, Udp, "snmp"),
            (445, Tcp, "microsoft-ds"),
            (512, Tcp, "rexec"),
            (513, Tcp, "rlogin"),
            (514, Tcp, "rsh"),
            (514, Udp, "syslog"),
            (1433, Tcp, "ms-sql-s"),
            (1434, Udp, "ms-sql-m"),
            (2049, Tcp, "nfs"),
            (2049, Udp, "nfs"),
        ];
        for &(port, proto, name) in course {
            let r = risk_for(port, proto, None);
            assert_eq!(r.map(|r| r.name), Some(name), "{port}/{proto}");
        }
    }

    #[test]
    fn exact_lookups() {
        let telnet = risk_for(23, Tcp, None).unwrap();
        assert_eq!(telnet.level, RiskLevel::High);
        assert_eq!(
            telnet.why,
            "Telnet carries the password and the whole session in cleartext, so anyone on \
             the path can read or hijack it."
        );
        assert_eq!(
            risk_for(445, Tcp, None).map(|r| r.level),
            Some(RiskLevel::Critical)
        );
        assert_eq!(
            risk_for(6379, Tcp, Some("redis")).map(|r| (r.name, r.level)),
            Some(("redis", RiskLevel::Critical))
        );
        // The service decides over the port: telnet on 2323 is telnet, SSH on 23 is not.
        assert_eq!(
            risk_for(2323, Tcp, Some("telnet")).map(|r| r.name),
            Some("telnet")
        );
        assert_eq!(risk_for(23, Tcp, Some("ssh")), None);
        // Same port number, different transport, different risk.
        assert_eq!(risk_for(514, Tcp, None).map(|r| r.name), Some("rsh"));
        assert_eq!(risk_for(514, Udp, None).map(|r| r.name), Some("syslog"));
        // Trojan ports count only while nothing else is identified there.
        assert_eq!(
            risk_for(12345, Tcp, None).map(|r| r.name),
            Some("trojan-netbus")
        );
        assert_eq!(risk_for(12345, Tcp, Some("http")), None);
        assert_eq!(risk_for(22, Tcp, None), None);
        assert_eq!(risk_for(443, Tcp, Some("https")), None);
        // Ranges.
        assert_eq!(risk_for(6010, Tcp, None).map(|r| r.name), Some("x11"));
        assert_eq!(
            risk_for(5901, Tcp, Some("rfb")).map(|r| r.name),
            Some("vnc")
        );
    }

    #[test]
    fn levels_order() {
        assert!(RiskLevel::Critical > RiskLevel::High);
        assert!(RiskLevel::High > RiskLevel::Medium);
        assert!(RiskLevel::Medium > RiskLevel::Low);
        assert_eq!(RiskLevel::Critical.to_string(), "critical");
    }

    const ENTRY: &str = "risk a\ntcp 1\nlevel low\nwhy w.\nadvice a.\n";

    #[test]
    fn table_errors() {
        let e = |t: &'static str| RiskTable::parse(t).unwrap_err();
        assert_eq!(
            e("tcp 1"),
            RiskTableError::OutsideEntry {
                line: 1,
                keyword: "tcp"
            }
        );
        assert_eq!(
            e("risk a\nport 1"),
            RiskTableError::UnknownKeyword {
                line: 2,
                keyword: "port".into()
            }
        );
        assert_eq!(
            e("risk a\nlevel dire"),
            RiskTableError::BadLevel {
                line: 2,
                value: "dire".into()
            }
        );
        assert_eq!(
            e("risk A"),
            RiskTableError::BadName {
                line: 1,
                name: "A".into()
            }
        );
        assert_eq!(
            e("risk a\ntcp 70000"),
            RiskTableError::BadPort {
                line: 2,
                value: "70000".into()
            }
        );
        assert_eq!(
            e("risk a\ntcp 1\nlevel low\nwhy w."),
            RiskTableError::MissingField {
                line: 1,
                name: "a".into(),
                keyword: "advice"
            }
        );
        assert_eq!(
            e("risk a\nlevel low\nwhy w.\nadvice a."),
            RiskTableError::MissingField {
                line: 1,
                name: "a".into(),
                keyword: "tcp` or `udp"
            }
        );
        assert_eq!(
            e("risk a\nwhy"),
            RiskTableError::MissingValue {
                line: 2,
                keyword: "why"
            }
        );
        assert_eq!(
            e("risk a\nwhy x.\nwhy y."),
            RiskTableError::Duplicate {
                line: 3,
                keyword: "why"
            }
        );
        const TWO: &str = "risk a\ntcp 1\nlevel low\nwhy w.\nadvice a.\nrisk b\ntcp 5 1-3\n";
        assert_eq!(
            e(TWO),
            RiskTableError::PortTaken {
                line: 7,
                proto: "tcp",
                port: 1,
                other: "a".into()
            }
        );
        const DUP: &str = "risk a\ntcp 1\nlevel low\nwhy w.\nadvice a.\nrisk a\nudp 1\nlevel low\nwhy w.\nadvice a.\n";
        assert_eq!(
            e(DUP),
            RiskTableError::DuplicateName {
                line: 6,
                name: "a".into()
            }
        );
        let t = RiskTable::parse(ENTRY).unwrap();
        assert_eq!(
            t.lookup(1, Tcp, None),
            Some(Risk {
                name: "a",
                level: RiskLevel::Low,
                why: "w.",
                advice: "a."
            })
        );
        assert_eq!(t.lookup(1, Udp, None), None);
    }
}
