//! The probe database: parsing, probe order, and matching replies.

use std::sync::OnceLock;
use std::time::Duration;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::lex::{self, Line};
use crate::template::Template;
use crate::ProbeDbError;

/// The embedded database (format in the crate docs and at the top of the file).
const PROBES_TXT: &str = monban_data::PROBES;

/// Only the first this-many bytes of a reply are matched; the rest is ignored (a banner is
/// read with a size limit anyway). Documented, so nothing is dropped silently.
pub const MAX_REPLY_BYTES: usize = 16 * 1024;

/// Compiled-program size limit for one regex, and for the set of one probe's regexes.
const REGEX_SIZE_LIMIT: usize = 2 << 20;
/// Cache limit of the lazy DFA for one regex or set.
const DFA_SIZE_LIMIT: usize = 4 << 20;

pub use monban_data::Protocol;

/// What a reply told us about the service behind a port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceMatch {
    /// Service name (IANA style where one exists: `ssh`, `http`, `domain`, `microsoft-ds`).
    pub service: String,
    /// Product, e.g. `OpenSSH`, `nginx`.
    pub product: Option<String>,
    /// Product version, e.g. `9.2p1`, `1.22.1`.
    pub version: Option<String>,
    /// Extra information: distribution patch level, protocol version, page title, ...
    pub info: Option<String>,
    /// Host name the service announced (SMTP greeting, SNMP sysDescr, ...).
    pub hostname: Option<String>,
    /// Operating system hint, e.g. `Linux`, `Windows`.
    pub os: Option<String>,
    /// CPE names (`cpe:/a:openbsd:openssh:9.2p1`), application first.
    pub cpe: Vec<String>,
    /// A soft match knows the service but not the product: further probes that have rules
    /// for this service may refine it.
    pub soft: bool,
}

/// One match rule: a regex over the reply and the field templates.
#[derive(Debug)]
struct Rule {
    line: usize,
    service: String,
    soft: bool,
    regex: Regex,
    product: Option<Template>,
    version: Option<Template>,
    info: Option<Template>,
    hostname: Option<Template>,
    os: Option<Template>,
    cpe: Vec<Template>,
}

impl Rule {
    fn apply(&self, reply: &[u8]) -> Option<ServiceMatch> {
        let caps = self.regex.captures(reply)?;
        let field = |t: &Option<Template>| t.as_ref().and_then(|t| t.expand(&caps));
        Some(ServiceMatch {
            service: self.service.clone(),
            product: field(&self.product),
            version: field(&self.version),
            info: field(&self.info),
            hostname: field(&self.hostname),
            os: field(&self.os),
            cpe: self.cpe.iter().filter_map(|t| t.expand(&caps)).collect(),
            soft: self.soft,
        })
    }
}

/// One probe: what to send, where first, how rare, how long to wait, and its rules.
#[derive(Debug)]
pub struct Probe {
    name: String,
    transport: Protocol,
    payload: Vec<u8>,
    ports: Vec<(u16, u16)>,
    rarity: u8,
    wait: Duration,
    fallback: Vec<usize>,
    rules: Vec<Rule>,
    set: RegexSet,
    line: usize,
}

impl Probe {
    /// The probe's name, unique in its database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// TCP or UDP.
    pub fn transport(&self) -> Protocol {
        self.transport
    }

    /// The bytes to send; empty for the null probe (connect and listen).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// True for the TCP probe that sends nothing and waits for the server to speak first.
    pub fn is_null(&self) -> bool {
        self.payload.is_empty()
    }

    /// Ports where this probe is tried first, as inclusive ranges.
    pub fn ports(&self) -> &[(u16, u16)] {
        &self.ports
    }

    /// Does this probe list `port` among the ports it is tried on first?
    pub fn is_for_port(&self, port: u16) -> bool {
        self.ports.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
    }

    /// 1 (tried at every intensity) to 9 (only at intensity 9).
    pub fn rarity(&self) -> u8 {
        self.rarity
    }

    /// How long to wait for a reply after sending.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Does this probe have a hard rule for `service`? After a soft match, only such
    /// probes can still refine the answer.
    pub fn has_rules_for(&self, service: &str) -> bool {
        self.rules.iter().any(|r| !r.soft && r.service == service)
    }

    /// Number of match rules of this probe (not counting its fallbacks).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Line of the data file where the probe starts.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// A parsed and compiled probe database.
#[derive(Debug)]
pub struct ProbeDb {
    probes: Vec<Probe>,
    null: Option<usize>,
}

impl ProbeDb {
    /// The database shipped inside monban, parsed and compiled on first use.
    ///
    /// The embedded file is ours and the unit tests parse it, so the error is not expected;
    /// it is returned rather than panicking.
    pub fn builtin() -> Result<&'static ProbeDb, ProbeDbError> {
        static DB: OnceLock<Result<ProbeDb, ProbeDbError>> = OnceLock::new();
        DB.get_or_init(|| ProbeDb::parse(PROBES_TXT))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The text of the embedded database.
    pub fn builtin_text() -> &'static str {
        PROBES_TXT
    }

    /// Parses and compiles a database in monban's probe format.
    pub fn parse(text: &str) -> Result<ProbeDb, ProbeDbError> {
        Parser::default().run(text)
    }

    /// All probes, in file order.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// The probe called `name`.
    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.name == name)
    }

    /// The TCP null probe (sends nothing), if the database has one.
    pub fn null_probe(&self) -> Option<&Probe> {
        self.null.and_then(|i| self.probes.get(i))
    }

    /// The probes to try against `port` over `transport`, in the order to try them:
    ///
    /// 1. probes that list `port` (whatever their rarity), the null probe first among them,
    ///    then by rarity;
    /// 2. for TCP, the null probe if it was not already listed (it costs nothing to send);
    /// 3. the other probes whose rarity is at most `intensity` (0-9; higher values act as 9),
    ///    by rarity.
    ///
    /// Ties keep file order.
    pub fn probes_for(
        &self,
        port: u16,
        transport: Protocol,
        intensity: u8,
    ) -> impl Iterator<Item = &Probe> + '_ {
        let mut chosen: Vec<(u8, bool, u8, usize)> = self
            .probes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.transport == transport)
            .filter_map(|(i, p)| {
                let group = if p.is_for_port(port) {
                    0
                } else if p.is_null() {
                    1
                } else if p.rarity <= intensity {
                    2
                } else {
                    return None;
                };
                Some((group, !p.is_null(), p.rarity, i))
            })
            .collect();
        chosen.sort_unstable();
        chosen.into_iter().filter_map(|(.., i)| self.probes.get(i))
    }

    /// Matches `reply` (what came back after sending `probe`) against the probe's rules,
    /// then its fallbacks' rules (for TCP, the null probe's rules always come last: a server
    /// that speaks first greets whatever was sent).
    ///
    /// The first hard match in that order wins; if there is none, the first soft match.
    /// Only the first [`MAX_REPLY_BYTES`] bytes are looked at. Captured text is decoded
    /// lossily and cleaned (see [`clean`](crate::clean)). An empty reply never matches.
    /// `probe` must come from this database; a foreign probe is matched by its own rules only.
    pub fn identify(&self, probe: &Probe, reply: &[u8]) -> Option<ServiceMatch> {
        let reply = reply.get(..MAX_REPLY_BYTES).unwrap_or(reply);
        if reply.is_empty() {
            return None;
        }
        let fallbacks = probe.fallback.iter().filter_map(|&i| self.probes.get(i));
        let mut soft: Option<ServiceMatch> = None;
        for p in std::iter::once(probe).chain(fallbacks) {
            for idx in p.set.matches(reply).iter() {
                let Some(rule) = p.rules.get(idx) else {
                    continue;
                };
                if rule.soft && soft.is_some() {
                    continue;
                }
                match rule.apply(reply) {
                    Some(m) if m.soft => soft = Some(m),
                    Some(m) => return Some(m),
                    None => {}
                }
            }
        }
        soft
    }

    /// Line in the data file of the rule that [`identify`](Self::identify) would use for
    /// `reply`; for explaining a match ("why do you think this is nginx?").
    pub fn matching_rule_line(&self, probe: &Probe, reply: &[u8]) -> Option<usize> {
        let reply = reply.get(..MAX_REPLY_BYTES).unwrap_or(reply);
        if reply.is_empty() {
            return None;
        }
        let fallbacks = probe.fallback.iter().filter_map(|&i| self.probes.get(i));
        let mut soft = None;
        for p in std::iter::once(probe).chain(fallbacks) {
            for idx in p.set.matches(reply).iter() {
                match p.rules.get(idx) {
                    Some(r) if !r.soft => return Some(r.line),
                    Some(r) if soft.is_none() => soft = Some(r.line),
                    _ => {}
                }
            }
        }
        soft
    }
}

/// A field of a rule as read: its line and source text.
type Src = Option<(usize, String)>;

#[derive(Default)]
struct RuleDraft {
    line: usize,
    service: String,
    soft: bool,
    regex: Src,
    product: Src,
    version: Src,
    info: Src,
    hostname: Src,
    os: Src,
    cpe: Vec<(usize, String)>,
}

#[derive(Default)]
struct ProbeDraft {
    line: usize,
    name: String,
    transport: Option<Protocol>,
    payload: Vec<u8>,
    send: Option<bool>, // Some(true): null; Some(false): quoted payload(s)
    ports: Vec<(u16, u16)>,
    ports_seen: bool,
    rarity: Option<u8>,
    wait: Option<Duration>,
    fallback: Vec<(usize, String)>,
    fallback_seen: bool,
    rules: Vec<RuleDraft>,
}

#[derive(Default)]
struct Parser {
    probes: Vec<Probe>,
    /// Per probe, the fallback names to resolve at the end.
    fallbacks: Vec<Vec<(usize, String)>>,
    null: Option<usize>,
}

impl Parser {
    fn run(mut self, text: &str) -> Result<ProbeDb, ProbeDbError> {
        let mut cur: Option<ProbeDraft> = None;
        for l in lex::lines(text) {
            if l.keyword == "probe" {
                if let Some(done) = cur.take() {
                    self.finish(done)?;
                }
                cur = Some(start_probe(&l)?);
                continue;
            }
            let Some(probe) = cur.as_mut() else {
                return Err(match keyword_name(l.keyword) {
                    Some(k) => ProbeDbError::OutsideProbe {
                        line: l.no,
                        keyword: k,
                    },
                    None => ProbeDbError::UnknownKeyword {
                        line: l.no,
                        keyword: l.keyword.to_string(),
                    },
                });
            };
            probe_line(probe, &l)?;
        }
        if let Some(done) = cur.take() {
            self.finish(done)?;
        }
        self.resolve()
    }

    fn finish(&mut self, d: ProbeDraft) -> Result<(), ProbeDbError> {
        let missing = |keyword| ProbeDbError::MissingProbeField {
            line: d.line,
            probe: d.name.clone(),
            keyword,
        };
        let transport = d.transport.ok_or_else(|| missing("transport"))?;
        let null = d.send.ok_or_else(|| missing("send"))?;
        let rarity = d.rarity.ok_or_else(|| missing("rarity"))?;
        let wait = d.wait.ok_or_else(|| missing("wait"))?;
        if self.probes.iter().any(|p| p.name == d.name) {
            return Err(ProbeDbError::DuplicateProbe {
                line: d.line,
                name: d.name,
            });
        }
        if null {
            if self.null.is_some() {
                return Err(ProbeDbError::SecondNullProbe { line: d.line });
            }
            self.null = Some(self.probes.len());
        }
        let rules = d
            .rules
            .into_iter()
            .map(compile_rule)
            .collect::<Result<Vec<_>, _>>()?;
        let set = RegexSetBuilder::new(rules.iter().map(|r| r.regex.as_str()))
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT * 8)
            .dfa_size_limit(DFA_SIZE_LIMIT * 4)
            .build()
            .map_err(|source| ProbeDbError::Regex {
                line: d.line,
                source,
            })?;
        self.fallbacks.push(d.fallback);
        self.probes.push(Probe {
            name: d.name,
            transport,
            payload: d.payload,
            ports: d.ports,
            rarity,
            wait,
            fallback: Vec::new(),
            rules,
            set,
            line: d.line,
        });
        Ok(())
    }

    fn resolve(mut self) -> Result<ProbeDb, ProbeDbError> {
        for (i, names) in self.fallbacks.iter().enumerate() {
            let mut resolved = Vec::new();
            for (line, name) in names {
                let target = self.probes.iter().position(|p| &p.name == name);
                let ok = target.filter(|&t| t != i);
                match ok {
                    Some(t) => resolved.push(t),
                    None => {
                        return Err(ProbeDbError::BadFallback {
                            line: *line,
                            name: name.clone(),
                        })
                    }
                }
            }
            if let (Some(n), Some(p)) = (self.null, self.probes.get(i)) {
                if n != i && p.transport == Protocol::Tcp && !resolved.contains(&n) {
                    resolved.push(n);
                }
            }
            if let Some(p) = self.probes.get_mut(i) {
                p.fallback = resolved;
            }
        }
        Ok(ProbeDb {
            probes: self.probes,
            null: self.null,
        })
    }
}

/// The `&'static` spelling of a keyword of the format, if `word` is one.
fn keyword_name(word: &str) -> Option<&'static str> {
    const KEYWORDS: [&str; 15] = [
        "probe",
        "send",
        "ports",
        "rarity",
        "wait",
        "fallback",
        "match",
        "softmatch",
        "regex",
        "product",
        "version",
        "info",
        "host",
        "os",
        "cpe",
    ];
    KEYWORDS.iter().copied().find(|k| *k == word)
}

fn start_probe(l: &Line<'_>) -> Result<ProbeDraft, ProbeDbError> {
    let mut words = l.rest.split_whitespace();
    let (Some(name), Some(transport), None) = (words.next(), words.next(), words.next()) else {
        return Err(ProbeDbError::BadProbeLine { line: l.no });
    };
    if !lex::is_name(name) {
        return Err(ProbeDbError::BadName {
            line: l.no,
            name: name.to_string(),
        });
    }
    let transport = match transport {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        other => {
            return Err(ProbeDbError::BadTransport {
                line: l.no,
                value: other.to_string(),
            })
        }
    };
    Ok(ProbeDraft {
        line: l.no,
        name: name.to_string(),
        transport: Some(transport),
        ..ProbeDraft::default()
    })
}

fn probe_line(p: &mut ProbeDraft, l: &Line<'_>) -> Result<(), ProbeDbError> {
    let line = l.no;
    let Some(keyword) = keyword_name(l.keyword) else {
        return Err(ProbeDbError::UnknownKeyword {
            line,
            keyword: l.keyword.to_string(),
        });
    };
    if l.rest.is_empty() {
        return Err(ProbeDbError::MissingValue { line, keyword });
    }
    let dup = || ProbeDbError::Duplicate { line, keyword };
    let rest = l.rest;
    match keyword {
        "send" => {
            if rest == "null" {
                if p.send.is_some() {
                    return Err(ProbeDbError::MixedSend { line });
                }
                if p.transport == Some(Protocol::Udp) {
                    return Err(ProbeDbError::NullUdp { line });
                }
                p.send = Some(true);
            } else {
                if p.send == Some(true) {
                    return Err(ProbeDbError::MixedSend { line });
                }
                if let Some(name) = rest.strip_prefix("payload ") {
                    // A request written once, in the UDP payload table (`-sU` sends it too).
                    let name = name.trim();
                    let found = monban_data::payloads::udp_payloads()
                        .iter()
                        .find(|u| u.name == name)
                        .ok_or_else(|| ProbeDbError::UnknownPayload {
                            line,
                            name: name.to_string(),
                        })?;
                    p.payload.extend_from_slice(found.bytes);
                } else {
                    let bytes = lex::quoted(rest)
                        .map_err(|reason| ProbeDbError::BadString { line, reason })?;
                    p.payload.extend_from_slice(&bytes);
                }
                p.send = Some(false);
            }
        }
        "ports" => {
            if std::mem::replace(&mut p.ports_seen, true) {
                return Err(dup());
            }
            for item in rest.split_whitespace() {
                let range = lex::port_range(item).ok_or_else(|| ProbeDbError::BadPort {
                    line,
                    value: item.to_string(),
                })?;
                p.ports.push(range);
            }
        }
        "rarity" => {
            if p.rarity.is_some() {
                return Err(dup());
            }
            let r = match rest.as_bytes() {
                [d @ b'1'..=b'9'] => d - b'0',
                _ => {
                    return Err(ProbeDbError::BadRarity {
                        line,
                        value: rest.to_string(),
                    })
                }
            };
            p.rarity = Some(r);
        }
        "wait" => {
            if p.wait.is_some() {
                return Err(dup());
            }
            p.wait = Some(lex::duration(rest).ok_or_else(|| ProbeDbError::BadWait {
                line,
                value: rest.to_string(),
            })?);
        }
        "fallback" => {
            if std::mem::replace(&mut p.fallback_seen, true) {
                return Err(dup());
            }
            p.fallback = rest
                .split_whitespace()
                .map(|n| (line, n.to_string()))
                .collect();
        }
        "match" | "softmatch" => {
            if !lex::is_name(rest) {
                return Err(ProbeDbError::BadName {
                    line,
                    name: rest.to_string(),
                });
            }
            p.rules.push(RuleDraft {
                line,
                service: rest.to_string(),
                soft: keyword == "softmatch",
                ..RuleDraft::default()
            });
        }
        _ => {
            let Some(rule) = p.rules.last_mut() else {
                return Err(ProbeDbError::OutsideRule { line, keyword });
            };
            let value = (line, rest.to_string());
            let slot = match keyword {
                "regex" => &mut rule.regex,
                "product" => &mut rule.product,
                "version" => &mut rule.version,
                "info" => &mut rule.info,
                "host" => &mut rule.hostname,
                "os" => &mut rule.os,
                _ => {
                    rule.cpe.push(value);
                    return Ok(());
                }
            };
            if slot.is_some() {
                return Err(dup());
            }
            *slot = Some(value);
        }
    }
    Ok(())
}

fn compile_rule(d: RuleDraft) -> Result<Rule, ProbeDbError> {
    let Some((rline, pattern)) = d.regex else {
        return Err(ProbeDbError::MissingRegex {
            line: d.line,
            service: d.service,
        });
    };
    let regex = RegexBuilder::new(&pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .map_err(|source| ProbeDbError::Regex {
            line: rline,
            source,
        })?;
    let groups = regex.captures_len().saturating_sub(1);
    let tpl = |src: Src| -> Result<Option<Template>, ProbeDbError> {
        src.map(|(line, s)| Template::parse(&s, groups, line))
            .transpose()
    };
    Ok(Rule {
        line: d.line,
        service: d.service,
        soft: d.soft,
        product: tpl(d.product)?,
        version: tpl(d.version)?,
        info: tpl(d.info)?,
        hostname: tpl(d.hostname)?,
        os: tpl(d.os)?,
        cpe: d
            .cpe
            .into_iter()
            .map(|(line, s)| Template::parse(&s, groups, line))
            .collect::<Result<_, _>>()?,
        regex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
# a tiny database
probe NULL tcp
  send null
  ports 21-22
  rarity 1
  wait 5s
  match ssh
    regex ^SSH-([\d.]+)-OpenSSH_(\S+)\r?\n
    product OpenSSH
    version $2
    info protocol $1
    cpe cpe:/a:openbsd:openssh:$2
  softmatch ftp
    regex ^220[ -]
probe Get tcp
  send "GET / HTTP/1.0\r\n"
  send "\r\n"
  ports 80 8080
  rarity 1
  wait 500ms
  softmatch http
    regex ^HTTP/1\.[01] \d\d\d
  match http
    regex (?i)\r\nserver: nginx/([\d.]+)
    product nginx
    version $1
probe Rare tcp
  send "x"
  rarity 8
  wait 1s
probe Mid tcp
  send "y"
  rarity 3
  wait 1s
  fallback Rare
probe U udp
  send "\x00"
  ports 53
  rarity 1
  wait 1s
"#;

    fn names<'a>(it: impl Iterator<Item = &'a Probe>) -> Vec<&'a str> {
        it.map(Probe::name).collect()
    }

    #[test]
    fn parses_small_database() {
        let db = ProbeDb::parse(SMALL).unwrap();
        assert_eq!(db.probes().len(), 5);
        let get = db.probe("Get").unwrap();
        assert_eq!(get.payload(), b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(get.ports(), &[(80, 80), (8080, 8080)]);
        assert_eq!(get.wait(), Duration::from_millis(500));
        assert_eq!(get.transport(), Protocol::Tcp);
        assert_eq!(get.line(), 16);
        assert!(get.has_rules_for("http"));
        assert!(!get.has_rules_for("ssh"));
        assert!(db.null_probe().unwrap().is_null());
        assert_eq!(db.probe("Mid").unwrap().fallback, vec![2, 0]);
        assert_eq!(db.probe("U").unwrap().fallback, Vec::<usize>::new());
    }

    #[test]
    fn probe_order() {
        let db = ProbeDb::parse(SMALL).unwrap();
        assert_eq!(
            names(db.probes_for(80, Protocol::Tcp, 7)),
            ["Get", "NULL", "Mid"]
        );
        assert_eq!(names(db.probes_for(22, Protocol::Tcp, 0)), ["NULL"]);
        assert_eq!(
            names(db.probes_for(9, Protocol::Tcp, 9)),
            ["NULL", "Get", "Mid", "Rare"]
        );
        assert_eq!(names(db.probes_for(53, Protocol::Udp, 0)), ["U"]);
        assert_eq!(
            names(db.probes_for(54, Protocol::Udp, 0)),
            Vec::<&str>::new()
        );
        assert_eq!(names(db.probes_for(54, Protocol::Udp, 200)), ["U"]);
    }

    #[test]
    fn hard_beats_soft_and_fallback_to_null() {
        let db = ProbeDb::parse(SMALL).unwrap();
        let get = db.probe("Get").unwrap();
        let m = db
            .identify(get, b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n")
            .unwrap();
        assert_eq!(m.product.as_deref(), Some("nginx"));
        assert_eq!(m.version.as_deref(), Some("1.22.1"));
        assert!(!m.soft);
        let m = db.identify(get, b"HTTP/1.0 404 Nope\r\n\r\n").unwrap();
        assert_eq!(
            m,
            ServiceMatch {
                service: "http".into(),
                soft: true,
                ..ServiceMatch::default()
            }
        );
        // A server that speaks first answers GET with its greeting: the null rules apply.
        let m = db.identify(get, b"SSH-2.0-OpenSSH_9.2p1\r\n").unwrap();
        assert_eq!(
            m,
            ServiceMatch {
                service: "ssh".into(),
                product: Some("OpenSSH".into()),
                version: Some("9.2p1".into()),
                info: Some("protocol 2.0".into()),
                cpe: vec!["cpe:/a:openbsd:openssh:9.2p1".into()],
                ..ServiceMatch::default()
            }
        );
        assert_eq!(
            db.matching_rule_line(get, b"SSH-2.0-OpenSSH_9.2p1\n"),
            Some(8)
        );
        assert_eq!(db.identify(get, b""), None);
        assert_eq!(db.identify(get, b"nothing"), None);
    }

    #[test]
    fn reply_is_capped() {
        let db = ProbeDb::parse(SMALL).unwrap();
        let get = db.probe("Get").unwrap();
        let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
        reply.resize(MAX_REPLY_BYTES, b'a');
        reply.extend_from_slice(b"\r\nServer: nginx/1.0\r\n");
        let m = db.identify(get, &reply).unwrap();
        assert!(m.soft, "the Server header lies past the cap");
    }

    fn err(text: &str) -> ProbeDbError {
        ProbeDb::parse(text).unwrap_err()
    }

    const HEAD: &str = "probe A tcp\nsend \"a\"\nrarity 1\nwait 1s\n";

    #[test]
    fn send_payload_takes_the_bytes_of_a_named_udp_payload() {
        let db = ProbeDb::parse("probe D udp\n  send payload dns\n  rarity 1\n  wait 1s\n")
            .expect("parses");
        let dns = monban_data::payloads::udp_payload(53).expect("dns payload");
        assert_eq!(db.probe("D").expect("probe D").payload(), dns);
        let twice =
            "probe D udp\n  send \"\\x00\\x1e\"\n  send payload dns\n  rarity 1\n  wait 1s\n";
        let db = ProbeDb::parse(twice).expect("parses");
        assert_eq!(
            db.probe("D").expect("probe D").payload(),
            [b"\x00\x1e", dns].concat()
        );
        assert_eq!(
            ProbeDb::parse("probe D udp\n  send payload nosuch\n  rarity 1\n  wait 1s\n")
                .map(|_| ())
                .unwrap_err(),
            ProbeDbError::UnknownPayload {
                line: 2,
                name: "nosuch".into()
            }
        );
    }

    #[test]
    fn errors_carry_line_numbers() {
        assert_eq!(
            err("send null"),
            ProbeDbError::OutsideProbe {
                line: 1,
                keyword: "send"
            }
        );
        assert_eq!(
            err("bogus 1"),
            ProbeDbError::UnknownKeyword {
                line: 1,
                keyword: "bogus".into()
            }
        );
        assert_eq!(
            err(&format!("{HEAD}frobnicate x")),
            ProbeDbError::UnknownKeyword {
                line: 5,
                keyword: "frobnicate".into()
            }
        );
        assert_eq!(
            err(&format!("{HEAD}regex x")),
            ProbeDbError::OutsideRule {
                line: 5,
                keyword: "regex"
            }
        );
        assert_eq!(
            err(&format!("{HEAD}rarity 2")),
            ProbeDbError::Duplicate {
                line: 5,
                keyword: "rarity"
            }
        );
        assert_eq!(err("probe A"), ProbeDbError::BadProbeLine { line: 1 });
        assert_eq!(
            err("probe A sctp"),
            ProbeDbError::BadTransport {
                line: 1,
                value: "sctp".into()
            }
        );
        assert_eq!(
            err("probe A/b tcp"),
            ProbeDbError::BadName {
                line: 1,
                name: "A/b".into()
            }
        );
        assert_eq!(
            err("probe A tcp\nsend \"a\"\nrarity 1"),
            ProbeDbError::MissingProbeField {
                line: 1,
                probe: "A".into(),
                keyword: "wait"
            }
        );
        assert_eq!(
            err(&format!("{HEAD}{}", HEAD.replace("\"a\"", "null"))),
            ProbeDbError::DuplicateProbe {
                line: 5,
                name: "A".into()
            }
        );
        assert_eq!(
            err("probe A udp\nsend null"),
            ProbeDbError::NullUdp { line: 2 }
        );
        assert_eq!(
            err("probe A tcp\nsend \"a\"\nsend null"),
            ProbeDbError::MixedSend { line: 3 }
        );
        assert_eq!(
            err("probe A tcp\nsend null\nrarity 1\nwait 1s\nprobe B tcp\nsend null\nrarity 1\nwait 1s"),
            ProbeDbError::SecondNullProbe { line: 5 }
        );
        assert!(matches!(
            err("probe A tcp\nsend \"\\q\""),
            ProbeDbError::BadString { line: 2, .. }
        ));
        assert_eq!(
            err(&format!("{HEAD}ports 80 0")),
            ProbeDbError::BadPort {
                line: 5,
                value: "0".into()
            }
        );
        assert_eq!(
            err("probe A tcp\nrarity 0"),
            ProbeDbError::BadRarity {
                line: 2,
                value: "0".into()
            }
        );
        assert_eq!(
            err("probe A tcp\nwait 2h"),
            ProbeDbError::BadWait {
                line: 2,
                value: "2h".into()
            }
        );
        assert_eq!(
            err(&format!("{HEAD}ports")),
            ProbeDbError::MissingValue {
                line: 5,
                keyword: "ports"
            }
        );
        assert_eq!(
            err(&format!("{HEAD}fallback Nope")),
            ProbeDbError::BadFallback {
                line: 5,
                name: "Nope".into()
            }
        );
        assert_eq!(
            err(&format!("{HEAD}fallback A")),
            ProbeDbError::BadFallback {
                line: 5,
                name: "A".into()
            }
        );
        assert_eq!(
            err(&format!("{HEAD}match x\nproduct y")),
            ProbeDbError::MissingRegex {
                line: 5,
                service: "x".into()
            }
        );
        assert!(matches!(
            err(&format!("{HEAD}match x\nregex (unclosed")),
            ProbeDbError::Regex { line: 6, .. }
        ));
        assert_eq!(
            err(&format!("{HEAD}match x\nregex (a)\nversion $2")),
            ProbeDbError::NoSuchGroup {
                line: 7,
                group: 2,
                groups: 1
            }
        );
        assert_eq!(
            err(&format!("{HEAD}match x\nregex a\nregex b")),
            ProbeDbError::Duplicate {
                line: 7,
                keyword: "regex"
            }
        );
    }

    #[test]
    fn unicode_classes_are_rejected_not_silently_ascii() {
        // Unicode is off: `\pL` cannot be honoured, so it must not compile.
        assert!(matches!(
            err(&format!("{HEAD}match x\nregex \\pL")),
            ProbeDbError::Regex { line: 6, .. }
        ));
    }

    #[test]
    fn huge_regex_is_refused() {
        assert!(matches!(
            err(&format!("{HEAD}match x\nregex (?:a{{1000}}){{1000}}")),
            ProbeDbError::Regex { line: 6, .. }
        ));
    }

    #[test]
    fn bytes_and_case_insensitivity_without_unicode() {
        let db = ProbeDb::parse(&format!(
            "{HEAD}match x\nregex (?i)^\\xff\\xfb(\\w+)\\s(\\d+)\nversion $1 $2"
        ))
        .unwrap();
        let a = db.probe("A").unwrap();
        assert_eq!(
            db.identify(a, b"\xff\xfbAbc 12")
                .unwrap()
                .version
                .as_deref(),
            Some("Abc 12")
        );
        assert_eq!(db.identify(a, b"\xc3\xbf\xfbAbc 12"), None);
    }
}
