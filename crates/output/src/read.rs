//! Reading scan results back: nmap's XML (`nmap -oX`, and monban's own `-oX`, which is
//! nmap-compatible) and monban's JSON Lines (`-oJ`, schema 1).
//!
//! [`read`] sniffs the format; [`read_xml`] and [`read_jsonl`] read one format. The
//! result, a [`ScanFile`], holds per host the ports listed one by one and the summarised
//! ones ([`ScannedExtra`], with exact port ranges when the file gives them);
//! [`ScannedHost::state_of`] answers the state of any port from both.
//!
//! Input is untrusted. Whatever it holds, the readers return a typed [`ReadError`] or a
//! correct result, never panic. A file cut short (an interrupted scan, a full disk) is
//! read up to its last complete host and marked [`ScanFile::truncated`].

use std::net::IpAddr;

use monban_engine::types::{PortState, Protocol};
use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::Value;

/// A scan file read back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanFile {
    /// The program that wrote it, as the file says (`nmap`, `monban`); empty if unsaid.
    pub scanner: String,
    /// Its command line, if the file gives it.
    pub args: Option<String>,
    /// When the scan started, in seconds since the Unix epoch, if the file gives it.
    pub start: Option<u64>,
    /// The complete hosts, in file order.
    pub hosts: Vec<ScannedHost>,
    /// The file ends before its end (no `</nmaprun>`, no final `end` event, or a last line
    /// cut in the middle): `hosts` are those written completely before the cut.
    pub truncated: bool,
}

/// One host of a scan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedHost {
    /// Its IPv4 or IPv6 address.
    pub addr: IpAddr,
    /// Its status as written: `up`, `down` (nmap also knows `unknown`, `skipped`).
    pub status: String,
    /// Its names (user-given, PTR), without duplicates, in file order.
    pub names: Vec<String>,
    /// Ports listed one by one, in file order. Ports of protocols other than TCP and
    /// UDP (nmap's SCTP and IP protocol scans) are left out.
    pub ports: Vec<ScannedPort>,
    /// Summarised ports ("Not shown: 995 closed tcp ports").
    pub extra: Vec<ScannedExtra>,
}

/// A port listed one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedPort {
    /// Its protocol.
    pub proto: Protocol,
    /// Its number.
    pub port: u16,
    /// Its state.
    pub state: PortState,
    /// Why it got that state (`syn-ack`, `reset`, ...), if written.
    pub reason: Option<String>,
    /// The service name (from version detection or the services table), if written.
    pub service: Option<String>,
    /// The product version detection found, if any.
    pub product: Option<String>,
    /// The product's version, if any.
    pub version: Option<String>,
}

/// Ports of one state and protocol summarised instead of listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedExtra {
    /// Their state.
    pub state: PortState,
    /// How many ports.
    pub count: u64,
    /// Their protocol; `None` when the file does not say (nmap before 7.9x wrote no
    /// protocol per summary) and it could not be inferred.
    pub proto: Option<Protocol>,
    /// The ports as inclusive ranges, ascending, merged: exact when the file gives them
    /// (monban's outputs, nmap 7.9x's `<extrareasons ports=...>`) or when they follow from
    /// the scanned ports (`<scaninfo services=...>`) and the counts; else empty.
    pub ports: Vec<(u16, u16)>,
}

impl ScannedHost {
    /// The state of `port`/`proto` on this host: the listed port's, else that of the
    /// summary whose ranges hold it, else `None` (not scanned, or not knowable from the
    /// file).
    pub fn state_of(&self, proto: Protocol, port: u16) -> Option<PortState> {
        if let Some(p) = self
            .ports
            .iter()
            .find(|p| p.proto == proto && p.port == port)
        {
            return Some(p.state);
        }
        self.extra
            .iter()
            .filter(|e| e.proto == Some(proto))
            .find(|e| ranges_hold(&e.ports, port))
            .map(|e| e.state)
    }
}

/// Why a scan file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The input is empty or only white space.
    #[error("the scan file is empty")]
    Empty,
    /// The input is neither XML nor JSON Lines of a scan.
    #[error("not a scan file (neither nmap XML nor monban JSON Lines): it starts with {start:?}")]
    NotScanFile {
        /// The first characters of the input (at most 40).
        start: String,
    },
    /// XML whose root element is not `<nmaprun>`.
    #[error("not an nmap XML file: its root element is <{root}>, not <nmaprun>")]
    WrongRoot {
        /// The root element's name (at most 40 characters).
        root: String,
    },
    /// The input is not UTF-8 text.
    #[error("not UTF-8 text: bad byte at offset {offset}")]
    NotUtf8 {
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// The XML is not well-formed.
    #[error("bad XML at line {line} (byte {offset}): {message}")]
    Xml {
        /// Line of the fault, from 1.
        line: usize,
        /// Byte offset of the fault.
        offset: usize,
        /// What is wrong (at most about 200 characters).
        message: String,
    },
    /// A line of JSON Lines is not JSON.
    #[error("bad JSON at line {line}: {message}")]
    Json {
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// JSON Lines of a schema version this reader does not know.
    #[error("monban JSON Lines schema {found} is not supported (this reader knows schema 1)")]
    Schema {
        /// The `schema` value found (JSON text, at most 40 characters).
        found: String,
    },
    /// Well-formed, but a value is missing or wrong (a port of 70000, an address that is
    /// not one, a state nmap does not know, a number written as text...).
    #[error("line {line}: {what}")]
    Invalid {
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

/// Reads a scan file of either format: XML when it starts (after an optional UTF-8 byte
/// order mark and white space) with `<`, JSON Lines when with `{`.
///
/// A last UTF-8 character cut in the middle (a truncated file) is dropped.
pub fn read(bytes: &[u8]) -> Result<ScanFile, ReadError> {
    let (bom, bytes) = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => (3, rest),
        None => (0, bytes),
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // Cut inside the last character: keep what precedes it.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&bytes[..e.valid_up_to()])
            .map_err(|e| ReadError::NotUtf8 {
                offset: bom + e.valid_up_to(),
            })?,
        Err(e) => {
            return Err(ReadError::NotUtf8 {
                offset: bom + e.valid_up_to(),
            })
        }
    };
    let body = text.trim_start();
    match body.chars().next() {
        None => Err(ReadError::Empty),
        Some('<') => read_xml(text),
        Some('{') => read_jsonl(text),
        Some(_) => Err(ReadError::NotScanFile { start: clip(body) }),
    }
}

/// The first 40 characters of `s`.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// At most about 200 characters of a message that may quote the input.
fn clip_message(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The line (from 1) holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// `tcp` or `udp`.
fn parse_proto(s: &str) -> Option<Protocol> {
    match s {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        _ => None,
    }
}

/// Reads nmap's port ranges (`1-21,23,25-79`) as ascending, merged, inclusive ranges.
fn parse_ranges(s: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?),
            None => {
                let p = part.parse::<u16>().ok()?;
                (p, p)
            }
        };
        if lo > hi {
            return None;
        }
        out.push((lo, hi));
    }
    Some(merge_ranges(out))
}

/// Sorts ranges and merges those that overlap or touch.
fn merge_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Whether ascending, merged `ranges` hold `port`.
fn ranges_hold(ranges: &[(u16, u16)], port: u16) -> bool {
    let i = ranges.partition_point(|&(_, hi)| hi < port);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= port)
}

/// Number of ports in ranges.
fn ranges_len(ranges: &[(u16, u16)]) -> u64 {
    ranges.iter().map(|&(lo, hi)| u64::from(hi - lo) + 1).sum()
}

/// The protocol of a summary's reason.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReasonProto {
    /// The file does not say.
    Unsaid,
    Known(Protocol),
    /// One we do not represent (SCTP, IP): the reason is left out.
    Other,
}

impl ReasonProto {
    fn of(name: Option<&str>) -> ReasonProto {
        match name {
            None => ReasonProto::Unsaid,
            Some(name) => parse_proto(name).map_or(ReasonProto::Other, ReasonProto::Known),
        }
    }
}

/// One reason of a summary as read: its protocol, count and ports.
struct ReasonIn {
    proto: ReasonProto,
    count: u64,
    ports: Option<Vec<(u16, u16)>>,
}

/// A summary of the file (nmap's `<extraports>`, a JSON `extraports` entry) as one
/// [`ScannedExtra`] per protocol of its reasons; none if all its reasons are of
/// protocols left out.
fn summaries(state: PortState, count: u64, reasons: Vec<ReasonIn>) -> Vec<ScannedExtra> {
    if reasons.is_empty() {
        return vec![ScannedExtra {
            state,
            count,
            proto: None,
            ports: Vec::new(),
        }];
    }
    let mut out: Vec<(ScannedExtra, bool)> = Vec::new();
    for r in reasons {
        let proto = match r.proto {
            ReasonProto::Unsaid => None,
            ReasonProto::Known(p) => Some(p),
            ReasonProto::Other => continue,
        };
        let i = match out.iter().position(|(e, _)| e.proto == proto) {
            Some(i) => i,
            None => {
                out.push((
                    ScannedExtra {
                        state,
                        count: 0,
                        proto,
                        ports: Vec::new(),
                    },
                    true,
                ));
                out.len() - 1
            }
        };
        let (e, exact) = &mut out[i];
        e.count = e.count.saturating_add(r.count);
        match r.ports {
            Some(p) if *exact => e.ports.extend(p),
            _ => *exact = false,
        }
    }
    out.into_iter()
        .map(|(mut e, exact)| {
            e.ports = if exact && e.proto.is_some() {
                merge_ranges(std::mem::take(&mut e.ports))
            } else {
                Vec::new()
            };
            e
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// XML

/// nmap XML elements the reader uses, each only where nmap's DTD puts it; any other
/// element, or one of these elsewhere, is `Other` and ignored with all it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    NmapRun,
    ScanInfo,
    Host,
    Status,
    Address,
    Hostnames,
    Hostname,
    Ports,
    ExtraPorts,
    ExtraReasons,
    Port,
    State,
    Service,
    Other,
}

fn classify(name: &[u8], parent: Option<Tag>) -> Tag {
    match (name, parent) {
        (b"nmaprun", None) => Tag::NmapRun,
        (b"scaninfo", Some(Tag::NmapRun)) => Tag::ScanInfo,
        (b"host", Some(Tag::NmapRun)) => Tag::Host,
        (b"status", Some(Tag::Host)) => Tag::Status,
        (b"address", Some(Tag::Host)) => Tag::Address,
        (b"hostnames", Some(Tag::Host)) => Tag::Hostnames,
        (b"hostname", Some(Tag::Hostnames)) => Tag::Hostname,
        (b"ports", Some(Tag::Host)) => Tag::Ports,
        (b"extraports", Some(Tag::Ports)) => Tag::ExtraPorts,
        (b"extrareasons", Some(Tag::ExtraPorts)) => Tag::ExtraReasons,
        (b"port", Some(Tag::Ports)) => Tag::Port,
        (b"state", Some(Tag::Port)) => Tag::State,
        (b"service", Some(Tag::Port)) => Tag::Service,
        _ => Tag::Other,
    }
}

/// Why an element could not be taken.
enum Fault {
    /// Not well-formed (a bad attribute or entity).
    Xml(String),
    /// Well-formed but wrong.
    Invalid(String),
}

/// An element's attributes, unescaped and normalised.
struct Attrs(Vec<(Vec<u8>, String)>);

impl Attrs {
    fn of(e: &BytesStart<'_>) -> Result<Attrs, Fault> {
        let mut out = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|e| Fault::Xml(e.to_string()))?;
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| Fault::Xml(e.to_string()))?;
            out.push((a.key.as_ref().to_vec(), value.into_owned()));
        }
        Ok(Attrs(out))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty value.
    fn text(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    fn need(&self, elem: &str, key: &str) -> Result<&str, Fault> {
        self.get(key)
            .ok_or_else(|| Fault::Invalid(format!("<{elem}> without {key}")))
    }

    fn number<T: std::str::FromStr>(&self, elem: &str, key: &str) -> Result<T, Fault> {
        let v = self.need(elem, key)?;
        v.trim()
            .parse()
            .map_err(|_| Fault::Invalid(format!("<{elem}> {key}={:?} is not valid", clip(v))))
    }

    fn state(&self, elem: &str) -> Result<PortState, Fault> {
        let v = self.need(elem, "state")?;
        PortState::parse(v)
            .ok_or_else(|| Fault::Invalid(format!("<{elem}> state={:?} is unknown", clip(v))))
    }
}

#[derive(Default)]
struct HostIn {
    addr: Option<IpAddr>,
    status: Option<String>,
    names: Vec<String>,
    ports: Vec<ScannedPort>,
    extra: Vec<ScannedExtra>,
}

struct PortIn {
    /// `None`: a protocol we do not represent; the port is skipped.
    proto: Option<Protocol>,
    port: u16,
    state: Option<(PortState, Option<String>)>,
    service: Option<String>,
    product: Option<String>,
    version: Option<String>,
}

struct ExtraIn {
    state: PortState,
    count: u64,
    reasons: Vec<ReasonIn>,
}

#[derive(Default)]
struct XmlRead {
    file: ScanFile,
    /// Ports scanned per protocol (`<scaninfo>`), to infer old nmap's summaries.
    scanned: Vec<(Protocol, Vec<(u16, u16)>)>,
    /// A protocol we do not represent was scanned too (SCTP, IP).
    scanned_other: bool,
    host: Option<HostIn>,
    port: Option<PortIn>,
    extra: Option<ExtraIn>,
}

impl XmlRead {
    fn open(&mut self, tag: Tag, a: &Attrs) -> Result<(), Fault> {
        match tag {
            Tag::NmapRun => {
                self.file.scanner = a.get("scanner").unwrap_or_default().to_owned();
                self.file.args = a.get("args").map(str::to_owned);
                self.file.start = a.get("start").and_then(|s| s.trim().parse().ok());
            }
            Tag::ScanInfo => {
                let proto = a.get("protocol").and_then(parse_proto);
                self.scanned_other |= proto.is_none();
                if let (Some(proto), Some(services)) = (proto, a.get("services")) {
                    let ranges = parse_ranges(services).ok_or_else(|| {
                        Fault::Invalid(format!(
                            "<scaninfo> services={:?} is not valid",
                            clip(services)
                        ))
                    })?;
                    match self.scanned.iter_mut().find(|(p, _)| *p == proto) {
                        Some((_, r)) => {
                            r.extend(ranges);
                            *r = merge_ranges(std::mem::take(r));
                        }
                        None => self.scanned.push((proto, ranges)),
                    }
                }
            }
            Tag::Host => self.host = Some(HostIn::default()),
            Tag::Status => {
                if let Some(h) = &mut self.host {
                    h.status = Some(a.need("status", "state")?.to_owned());
                }
            }
            Tag::Address => {
                let kind = a.get("addrtype").unwrap_or("ipv4");
                if let (Some(h), "ipv4" | "ipv6") = (&mut self.host, kind) {
                    let addr: IpAddr = a.number("address", "addr")?;
                    h.addr.get_or_insert(addr);
                }
            }
            Tag::Hostname => {
                if let (Some(h), Some(name)) = (&mut self.host, a.text("name")) {
                    if !h.names.contains(&name) {
                        h.names.push(name);
                    }
                }
            }
            Tag::ExtraPorts => {
                self.extra = Some(ExtraIn {
                    state: a.state("extraports")?,
                    count: a.number("extraports", "count")?,
                    reasons: Vec::new(),
                });
            }
            Tag::ExtraReasons => {
                let proto = ReasonProto::of(a.get("proto"));
                let count = match a.get("count") {
                    Some(_) => a.number("extrareasons", "count")?,
                    None => 0,
                };
                let ports = match a.get("ports") {
                    Some(p) => Some(parse_ranges(p).ok_or_else(|| {
                        Fault::Invalid(format!("<extrareasons> ports={:?} is not valid", clip(p)))
                    })?),
                    None => None,
                };
                if let Some(e) = &mut self.extra {
                    e.reasons.push(ReasonIn {
                        proto,
                        count,
                        ports,
                    });
                }
            }
            Tag::Port => {
                self.port = Some(PortIn {
                    proto: parse_proto(a.need("port", "protocol")?),
                    port: a.number("port", "portid")?,
                    state: None,
                    service: None,
                    product: None,
                    version: None,
                });
            }
            Tag::State => {
                if let Some(p) = &mut self.port {
                    p.state = Some((a.state("state")?, a.text("reason")));
                }
            }
            Tag::Service => {
                if let Some(p) = &mut self.port {
                    p.service = a.text("name");
                    p.product = a.text("product");
                    p.version = a.text("version");
                }
            }
            Tag::Hostnames | Tag::Ports | Tag::Other => {}
        }
        Ok(())
    }

    fn close(&mut self, tag: Tag) -> Result<(), Fault> {
        match tag {
            Tag::Port => {
                let (Some(p), Some(h)) = (self.port.take(), &mut self.host) else {
                    return Ok(());
                };
                let Some((state, reason)) = p.state else {
                    return Err(Fault::Invalid(format!("<port> {} without <state>", p.port)));
                };
                if let Some(proto) = p.proto {
                    h.ports.push(ScannedPort {
                        proto,
                        port: p.port,
                        state,
                        reason,
                        service: p.service,
                        product: p.product,
                        version: p.version,
                    });
                }
            }
            Tag::ExtraPorts => {
                if let (Some(e), Some(h)) = (self.extra.take(), &mut self.host) {
                    h.extra.extend(summaries(e.state, e.count, e.reasons));
                }
            }
            Tag::Host => {
                let Some(h) = self.host.take() else {
                    return Ok(());
                };
                let addr = h.addr.ok_or_else(|| {
                    Fault::Invalid("<host> without an IPv4 or IPv6 address".to_owned())
                })?;
                let mut host = ScannedHost {
                    addr,
                    status: h.status.unwrap_or_else(|| "unknown".to_owned()),
                    names: h.names,
                    ports: h.ports,
                    extra: h.extra,
                };
                infer_ranges(&mut host, &self.scanned, self.scanned_other);
                self.file.hosts.push(host);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Gives old nmap's summaries (no `ports` on `<extrareasons>`) their ranges where they
/// follow for certain: for each scanned protocol, when exactly one summary of it (or of
/// unsaid protocol, if only one protocol was scanned) lacks ranges and its count equals
/// the number of scanned ports neither listed nor in another summary.
fn infer_ranges(
    host: &mut ScannedHost,
    scanned: &[(Protocol, Vec<(u16, u16)>)],
    scanned_other: bool,
) {
    let one_protocol = scanned.len() == 1 && !scanned_other;
    for (proto, ranges) in scanned {
        let fits = |e: &ScannedExtra| {
            e.ports.is_empty() && (e.proto == Some(*proto) || (e.proto.is_none() && one_protocol))
        };
        let mut open = host.extra.iter().enumerate().filter(|(_, e)| fits(e));
        let (Some((i, _)), None) = (open.next(), open.next()) else {
            continue;
        };
        let mut left = vec![false; 65536];
        for &(lo, hi) in ranges {
            for p in lo..=hi {
                left[usize::from(p)] = true;
            }
        }
        for p in host.ports.iter().filter(|p| p.proto == *proto) {
            left[usize::from(p.port)] = false;
        }
        for e in host.extra.iter().filter(|e| e.proto == Some(*proto)) {
            for &(lo, hi) in &e.ports {
                for p in lo..=hi {
                    left[usize::from(p)] = false;
                }
            }
        }
        let mut rest: Vec<(u16, u16)> = Vec::new();
        for p in 0..=u16::MAX {
            if left[usize::from(p)] {
                match rest.last_mut() {
                    Some(last) if u32::from(last.1) + 1 == u32::from(p) => last.1 = p,
                    _ => rest.push((p, p)),
                }
            }
        }
        if let Some(e) = host.extra.get_mut(i) {
            if ranges_len(&rest) == e.count && e.count > 0 {
                e.proto = Some(*proto);
                e.ports = rest;
            }
        }
    }
}

/// Whether a reader error means the input ended inside markup (a cut file), rather than
/// bad XML.
fn cut_short(e: &XmlError, at_end: bool) -> bool {
    match e {
        // The reader reports syntax errors only on reaching the end inside markup.
        XmlError::Syntax(_) => true,
        XmlError::IllFormed(IllFormedError::UnclosedReference) => at_end,
        _ => false,
    }
}

/// Reads nmap's XML (`nmap -oX`, monban's `-oX`).
///
/// Reads the run's `scanner`, `args` and `start`, and per `<host>` its status, first
/// IPv4/IPv6 address (MAC addresses are ignored), names, ports and summaries. Other
/// elements (scripts, OS detection, traces...) are skipped. A document cut short gives
/// the hosts complete before the cut, with [`ScanFile::truncated`] set.
pub fn read_xml(text: &str) -> Result<ScanFile, ReadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut read = XmlRead::default();
    // Open elements, innermost last.
    let mut stack: Vec<Tag> = Vec::new();
    let mut root_seen = false;
    let fault = |f: Fault, at: u64| {
        let offset = usize::try_from(at).unwrap_or(usize::MAX).min(text.len());
        match f {
            Fault::Xml(message) => ReadError::Xml {
                line: line_at(text, offset),
                offset,
                message: clip_message(&message),
            },
            Fault::Invalid(what) => ReadError::Invalid {
                line: line_at(text, offset),
                what: clip_message(&what),
            },
        }
    };
    loop {
        let at = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let at_end = reader.buffer_position() >= text.len() as u64;
                if root_seen && cut_short(&e, at_end) {
                    read.file.truncated = true;
                    break;
                }
                return Err(fault(Fault::Xml(e.to_string()), reader.error_position()));
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let parent = stack.last().copied();
                if parent.is_none() {
                    // The first element (the loop ends with the root element).
                    if e.name().as_ref() != b"nmaprun" {
                        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                        return Err(ReadError::WrongRoot { root: clip(&name) });
                    }
                    root_seen = true;
                }
                let tag = classify(e.name().as_ref(), parent);
                if tag != Tag::Other {
                    let attrs = Attrs::of(e).map_err(|f| fault(f, at))?;
                    read.open(tag, &attrs).map_err(|f| fault(f, at))?;
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(tag);
                } else {
                    read.close(tag).map_err(|f| fault(f, at))?;
                    if stack.is_empty() {
                        break; // <nmaprun/>
                    }
                }
            }
            Event::End(_) => {
                if let Some(tag) = stack.pop() {
                    read.close(tag).map_err(|f| fault(f, at))?;
                }
                if stack.is_empty() {
                    break;
                }
            }
            Event::Eof => {
                if !root_seen {
                    return Err(match text.trim() {
                        "" => ReadError::Empty,
                        t => ReadError::NotScanFile { start: clip(t) },
                    });
                }
                read.file.truncated = true;
                break;
            }
            _ => {}
        }
    }
    Ok(read.file)
}

// ---------------------------------------------------------------------------------------
// JSON Lines

/// A field of a JSON object: `None` when missing or `null`.
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn opt_str(v: &Value, key: &str, line: usize) -> Result<Option<String>, ReadError> {
    match field(v, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(key, "a string", other, line)),
    }
}

fn need_str<'a>(v: &'a Value, key: &str, line: usize) -> Result<&'a str, ReadError> {
    match field(v, key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(key, "a string", other, line)),
        None => Err(missing(key, line)),
    }
}

fn need_u64(v: &Value, key: &str, line: usize) -> Result<u64, ReadError> {
    match field(v, key) {
        Some(n) => n
            .as_u64()
            .ok_or_else(|| wrong_type(key, "a whole number", n, line)),
        None => Err(missing(key, line)),
    }
}

fn need_array<'a>(v: &'a Value, key: &str, line: usize) -> Result<&'a [Value], ReadError> {
    match field(v, key) {
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(wrong_type(key, "an array", other, line)),
        None => Ok(&[]),
    }
}

fn wrong_type(key: &str, want: &str, got: &Value, line: usize) -> ReadError {
    ReadError::Invalid {
        line,
        what: format!("`{key}` is {}, not {want}", clip(&got.to_string())),
    }
}

fn missing(key: &str, line: usize) -> ReadError {
    ReadError::Invalid {
        line,
        what: format!("`{key}` is missing"),
    }
}

fn need_state(v: &Value, line: usize) -> Result<PortState, ReadError> {
    let s = need_str(v, "state", line)?;
    PortState::parse(s).ok_or_else(|| ReadError::Invalid {
        line,
        what: format!("unknown port state {:?}", clip(s)),
    })
}

/// A `host` event.
fn json_host(v: &Value, line: usize) -> Result<ScannedHost, ReadError> {
    let addr_text = need_str(v, "addr", line)?;
    let addr: IpAddr = addr_text.parse().map_err(|_| ReadError::Invalid {
        line,
        what: format!("`addr` {:?} is not an IP address", clip(addr_text)),
    })?;
    let mut host = ScannedHost {
        addr,
        status: need_str(v, "status", line)?.to_owned(),
        names: opt_str(v, "name", line)?
            .filter(|n| !n.is_empty())
            .into_iter()
            .collect(),
        ports: Vec::new(),
        extra: Vec::new(),
    };
    for p in need_array(v, "ports", line)? {
        let port = need_u64(p, "port", line)?;
        let port = u16::try_from(port).map_err(|_| ReadError::Invalid {
            line,
            what: format!("port {port} is out of range"),
        })?;
        let state = need_state(p, line)?;
        let Some(proto) = parse_proto(need_str(p, "proto", line)?) else {
            continue;
        };
        host.ports.push(ScannedPort {
            proto,
            port,
            state,
            reason: opt_str(p, "reason", line)?,
            service: opt_str(p, "service", line)?,
            product: opt_str(p, "product", line)?,
            version: opt_str(p, "version", line)?,
        });
    }
    for e in need_array(v, "extraports", line)? {
        let mut reasons = Vec::new();
        for r in need_array(e, "reasons", line)? {
            let proto = ReasonProto::of(opt_str(r, "proto", line)?.as_deref());
            let ports = match opt_str(r, "ports", line)? {
                None => None,
                Some(p) => Some(parse_ranges(&p).ok_or_else(|| ReadError::Invalid {
                    line,
                    what: format!("`ports` {:?} is not a port list", clip(&p)),
                })?),
            };
            reasons.push(ReasonIn {
                proto,
                count: need_u64(r, "count", line)?,
                ports,
            });
        }
        host.extra.extend(summaries(
            need_state(e, line)?,
            need_u64(e, "count", line)?,
            reasons,
        ));
    }
    Ok(host)
}

/// Reads monban's JSON Lines (`-oJ`, schema 1).
///
/// The first line must be a `start` event. `host` events give the hosts; `port` events
/// (repeated in the `host` events) and unknown events are skipped. A resumed run's second
/// `start` continues the same file. A last line cut in the middle is ignored and, like a
/// missing final `end` event, marks the file [`ScanFile::truncated`].
pub fn read_jsonl(text: &str) -> Result<ScanFile, ReadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = ScanFile::default();
    let mut started = false;
    let mut ended = false;
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len() - 1; // `split` yields at least one piece.
    for (i, raw) in lines.iter().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            // A last line without its newline, cut by an interrupted write.
            Err(_) if i == last && started => {
                file.truncated = true;
                continue;
            }
            Err(_) if !started && !raw.starts_with('{') => {
                return Err(ReadError::NotScanFile { start: clip(raw) });
            }
            Err(e) => {
                return Err(ReadError::Json {
                    line,
                    message: clip_message(&e.to_string()),
                })
            }
        };
        let event = v.get("event").and_then(Value::as_str);
        if !started {
            if event != Some("start") {
                return Err(ReadError::NotScanFile { start: clip(raw) });
            }
            match field(&v, "schema") {
                Some(s) if s.as_u64() == Some(1) => {}
                Some(s) => {
                    return Err(ReadError::Schema {
                        found: clip(&s.to_string()),
                    })
                }
                None => {
                    return Err(ReadError::Schema {
                        found: "(none)".to_owned(),
                    })
                }
            }
            started = true;
            file.scanner = opt_str(&v, "scanner", line)?.unwrap_or_default();
            file.args = opt_str(&v, "args", line)?;
            file.start = field(&v, "time")
                .and_then(Value::as_f64)
                .filter(|t| t.is_finite() && *t >= 0.0 && *t < 1.8e19)
                .map(|t| t as u64);
            continue;
        }
        if !v.is_object() {
            return Err(ReadError::Invalid {
                line,
                what: "not a JSON object".to_owned(),
            });
        }
        match event {
            Some("start") => ended = false, // A resumed run continues.
            Some("host") => {
                file.hosts.push(json_host(&v, line)?);
                ended = false;
            }
            Some("end") => ended = true,
            _ => {}
        }
    }
    if !started {
        return Err(ReadError::Empty);
    }
    if !ended {
        file.truncated = true;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use monban_engine::types::{HostReport, HostStatus, PortResult};

    use super::*;
    use crate::fixtures::*;
    use crate::{JsonSink, Sink, SinkOptions, XmlSink};

    fn opts(open_only: bool, verbose: u8) -> SinkOptions {
        SinkOptions {
            reason: false,
            open_only,
            verbose,
            audit: false,
        }
    }

    fn write_xml(opts: SinkOptions, hosts: &[HostReport]) -> String {
        let mut sink = XmlSink::new(Vec::new(), opts).with_services(test_services);
        sink.begin(&run_info()).unwrap();
        for h in hosts {
            sink.host(h).unwrap();
        }
        sink.end(&stats(false)).unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    fn write_jsonl(opts: SinkOptions, hosts: &[HostReport]) -> String {
        let mut sink = JsonSink::new(Vec::new(), opts).with_services(test_services);
        sink.begin(&run_info()).unwrap();
        for h in hosts {
            for p in &h.ports {
                sink.port(h.addr, p).unwrap();
            }
            sink.host(h).unwrap();
        }
        sink.end(&stats(false)).unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    /// A host with a non-ASCII name (cut points inside a character).
    fn host_named() -> HostReport {
        HostReport {
            name: Some("門番.example".to_string()),
            ..host_small()
        }
    }

    fn all_hosts() -> Vec<HostReport> {
        vec![
            host_v4(),
            host_v6(),
            host_small(),
            host_down(),
            host_timed_out(),
            host_versions(),
            host_tls(),
            host_risks(),
            host_named(),
        ]
    }

    /// Every port of the host read back has the state (and, when listed, the reason)
    /// that was written, and no other port has a state.
    fn assert_same_ports(report: &HostReport, read: &ScannedHost, ports_written: bool) {
        assert_eq!(read.addr, report.addr);
        assert_eq!(read.status, report.status.as_str());
        let expected: BTreeMap<(Protocol, u16), &PortResult> = if ports_written {
            report
                .ports
                .iter()
                .map(|p| ((p.proto, p.port), p))
                .collect()
        } else {
            BTreeMap::new()
        };
        for proto in [Protocol::Tcp, Protocol::Udp] {
            for port in 0..=u16::MAX {
                assert_eq!(
                    read.state_of(proto, port),
                    expected.get(&(proto, port)).map(|p| p.state),
                    "{} {proto} {port}",
                    report.addr
                );
            }
        }
        for p in &read.ports {
            let written = expected[&(p.proto, p.port)];
            assert_eq!(p.reason.as_deref(), Some(written.reason.as_str()));
        }
        // Summaries carry exact ranges whose sizes are their counts.
        for e in &read.extra {
            assert!(e.proto.is_some());
            assert_eq!(ranges_len(&e.ports), e.count, "{e:?}");
        }
    }

    #[test]
    fn xml_round_trip_gives_every_port_its_state() {
        let reports = all_hosts();
        for o in [
            opts(false, 0),
            opts(true, 0),
            opts(false, 1),
            opts(false, 3),
        ] {
            let f = read(write_xml(o, &reports).as_bytes()).unwrap();
            assert_eq!(f.scanner, "monban");
            assert_eq!(f.args.as_deref(), Some("monban scan -sS \\x1b[31m<&>"));
            assert_eq!(f.start, Some(START));
            assert!(!f.truncated);
            // Down hosts are written with -v only, as nmap does.
            let written: Vec<&HostReport> = reports
                .iter()
                .filter(|h| h.status == HostStatus::Up || o.verbose > 0)
                .collect();
            assert_eq!(f.hosts.len(), written.len());
            for (report, read) in written.iter().zip(&f.hosts) {
                // A timed-out host's ports are not written.
                assert_same_ports(report, read, !report.timed_out);
            }
        }
    }

    #[test]
    fn jsonl_round_trip_gives_every_port_its_state() {
        let reports = all_hosts();
        for o in [opts(false, 0), opts(true, 0), opts(false, 3)] {
            let f = read(write_jsonl(o, &reports).as_bytes()).unwrap();
            assert_eq!(f.scanner, "monban");
            assert_eq!(f.args.as_deref(), Some("monban scan -sS \u{1b}[31m<&>"));
            assert_eq!(f.start, Some(START));
            assert!(!f.truncated);
            assert_eq!(f.hosts.len(), reports.len());
            for (report, read) in reports.iter().zip(&f.hosts) {
                assert_same_ports(report, read, true);
            }
        }
    }

    #[test]
    fn round_trip_keeps_names_and_versions() {
        let reports = [host_v4(), host_versions(), host_named()];
        let xml = read_xml(&write_xml(opts(false, 0), &reports)).unwrap();
        let json = read_jsonl(&write_jsonl(opts(false, 0), &reports)).unwrap();
        // XML cannot carry U+0001: the sink writes it visibly.
        assert_eq!(xml.hosts[0].names, ["evil<&\"'\\x01"]);
        assert_eq!(json.hosts[0].names, ["evil<&\"'\u{1}"]);
        assert_eq!(xml.hosts[2].names, ["門番.example"]);
        assert_eq!(json.hosts[2].names, ["門番.example"]);
        assert!(xml.hosts[1].names.is_empty());
        for f in [&xml, &json] {
            let v = &f.hosts[1];
            let port = |n: u16| v.ports.iter().find(|p| p.port == n).unwrap();
            assert_eq!(port(22).service.as_deref(), Some("ssh"));
            assert_eq!(port(22).product.as_deref(), Some("OpenSSH"));
            assert_eq!(port(22).version.as_deref(), Some("9.2p1 Debian 2+deb12u3"));
            assert_eq!(port(25).product.as_deref(), Some("Evil<&\"'/,\tmta"));
            assert_eq!(port(443).service, None);
        }
        assert_eq!(
            xml.hosts[1].ports[1].version.as_deref(),
            Some("1.0\\x1b[31m")
        );
        assert_eq!(
            json.hosts[1].ports[1].version.as_deref(),
            Some("1.0\u{1b}[31m")
        );
        // A soft match: the name without product (XML), the name (JSON).
        assert_eq!(xml.hosts[1].ports[2].service.as_deref(), Some("http"));
        assert_eq!(xml.hosts[1].ports[2].product, None);
    }

    /// Offsets just after each `needle` in `text`.
    fn ends_of(text: &str, needle: &str) -> Vec<usize> {
        text.match_indices(needle)
            .map(|(i, m)| i + m.len())
            .collect()
    }

    #[test]
    fn xml_cut_anywhere_gives_the_complete_hosts() {
        let reports = [host_v4(), host_named(), host_versions(), host_v6()];
        let text = write_xml(opts(false, 0), &reports);
        let full = read_xml(&text).unwrap();
        let host_ends = ends_of(&text, "</host>");
        let root_end = ends_of(&text, "xmloutputversion=\"1.05\">")[0];
        let doc_end = ends_of(&text, "</nmaprun>")[0];
        for cut in 0..=text.len() {
            let got = read(&text.as_bytes()[..cut]);
            match got {
                Ok(f) => {
                    let complete = host_ends.iter().filter(|&&e| e <= cut).count();
                    assert_eq!(f.hosts, full.hosts[..complete], "cut at {cut}");
                    assert_eq!(f.truncated, cut < doc_end, "cut at {cut}");
                    assert_eq!(f.scanner, "monban");
                }
                Err(e) => assert!(cut < root_end, "cut at {cut}: {e}"),
            }
        }
    }

    #[test]
    fn jsonl_cut_anywhere_gives_the_complete_hosts() {
        let reports = [host_v4(), host_named(), host_down(), host_versions()];
        let text = write_jsonl(opts(false, 0), &reports);
        let full = read_jsonl(&text).unwrap();
        // Ends of the lines (before their newline).
        let line_ends: Vec<(usize, &str)> = text
            .split_inclusive('\n')
            .scan(0, |at, l| {
                *at += l.len();
                Some((*at - 1, l))
            })
            .collect();
        let host_ends: Vec<usize> = line_ends
            .iter()
            .filter(|(_, l)| l.starts_with("{\"event\":\"host\""))
            .map(|(e, _)| *e)
            .collect();
        let start_end = line_ends[0].0;
        let doc_end = line_ends[line_ends.len() - 1].0;
        for cut in 0..=text.len() {
            match read(&text.as_bytes()[..cut]) {
                Ok(f) => {
                    let complete = host_ends.iter().filter(|&&e| e <= cut).count();
                    assert_eq!(f.hosts, full.hosts[..complete], "cut at {cut}");
                    assert_eq!(f.truncated, cut < doc_end, "cut at {cut}");
                }
                Err(e) => assert!(cut < start_end, "cut at {cut}: {e}"),
            }
        }
    }

    #[test]
    fn empty_and_unknown_inputs() {
        assert_eq!(read(b""), Err(ReadError::Empty));
        assert_eq!(read(b" \n\t\r\n"), Err(ReadError::Empty));
        assert_eq!(read(b"\xef\xbb\xbf  "), Err(ReadError::Empty));
        assert_eq!(read_xml(""), Err(ReadError::Empty));
        assert_eq!(read_jsonl(""), Err(ReadError::Empty));
        assert_eq!(read_jsonl("\n\n"), Err(ReadError::Empty));
        assert_eq!(
            read(b"Starting Nmap 7.93"),
            Err(ReadError::NotScanFile {
                start: "Starting Nmap 7.93".to_string()
            })
        );
        assert!(matches!(read(b"[1,2]"), Err(ReadError::NotScanFile { .. })));
        assert!(matches!(read(b"{}"), Err(ReadError::NotScanFile { .. })));
        assert!(matches!(
            read_jsonl("[1]"),
            Err(ReadError::NotScanFile { .. })
        ));
        assert!(matches!(
            read(b"{\"event\":\"host\",\"addr\":\"10.0.0.1\"}\n"),
            Err(ReadError::NotScanFile { .. })
        ));
        assert!(matches!(
            read_jsonl("garbage\n"),
            Err(ReadError::NotScanFile { .. })
        ));
        assert_eq!(read(b"\xff\xfe<x/>"), Err(ReadError::NotUtf8 { offset: 0 }));
        assert_eq!(
            read(b"\xef\xbb\xbf<nmaprun \xff/>"),
            Err(ReadError::NotUtf8 { offset: 12 })
        );
        // Only a prolog: not knowably a scan file.
        assert!(matches!(
            read(b"<?xml version=\"1.0\"?>\n<!-- nothing -->"),
            Err(ReadError::NotScanFile { .. })
        ));
        // The long first characters are clipped in the error.
        let long = "x".repeat(10_000);
        match read(long.as_bytes()) {
            Err(ReadError::NotScanFile { start }) => assert_eq!(start.len(), 40),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_root_element() {
        assert_eq!(
            read(b"<?xml version=\"1.0\"?>\n<html><body/></html>"),
            Err(ReadError::WrongRoot {
                root: "html".to_string()
            })
        );
        assert_eq!(
            read_xml("<ndiff/>"),
            Err(ReadError::WrongRoot {
                root: "ndiff".to_string()
            })
        );
        // An empty run is a run.
        let f = read(b"\xef\xbb\xbf\n<?xml version=\"1.0\"?><!DOCTYPE nmaprun><!-- c --><nmaprun scanner=\"nmap\"/>")
            .unwrap();
        assert_eq!(f.scanner, "nmap");
        assert!(f.hosts.is_empty());
        assert!(!f.truncated);
    }

    /// A one-host nmap document around `inner` (the host's ports).
    fn doc(inner: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<nmaprun scanner=\"nmap\">\n<host><status state=\"up\"/>\n\
             <address addr=\"10.0.0.1\" addrtype=\"ipv4\"/>\n<ports>{inner}</ports>\n</host>\n</nmaprun>\n"
        )
    }

    fn invalid_line(r: Result<ScanFile, ReadError>) -> (usize, String) {
        match r {
            Err(ReadError::Invalid { line, what }) => (line, what),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn xml_wrong_values_are_typed_errors() {
        let (line, what) = invalid_line(read_xml(&doc(
            "\n<port protocol=\"tcp\" portid=\"70000\"/>",
        )));
        assert_eq!(line, 6);
        assert!(what.contains("portid=\"70000\""), "{what}");
        let (_, what) = invalid_line(read_xml(&doc(
            "<port protocol=\"tcp\" portid=\"22\"></port>",
        )));
        assert!(what.contains("without <state>"), "{what}");
        let (_, what) = invalid_line(read_xml(&doc(
            "<port protocol=\"tcp\" portid=\"22\"><state state=\"ajar\"/></port>",
        )));
        assert!(what.contains("ajar"), "{what}");
        let (_, what) = invalid_line(read_xml(&doc(
            "<extraports state=\"closed\" count=\"-1\"></extraports>",
        )));
        assert!(what.contains("count"), "{what}");
        let (_, what) = invalid_line(read_xml(&doc(
            "<extraports state=\"closed\" count=\"2\"><extrareasons reason=\"reset\" count=\"2\" proto=\"tcp\" ports=\"9-1\"/></extraports>",
        )));
        assert!(what.contains("ports"), "{what}");
        let (line, what) = invalid_line(read_xml(
            "<nmaprun>\n<host>\n<address addr=\"999.1.1.1\" addrtype=\"ipv4\"/></host></nmaprun>",
        ));
        assert_eq!(line, 3);
        assert!(what.contains("999.1.1.1"), "{what}");
        let (_, what) = invalid_line(read_xml(
            "<nmaprun><host><address addr=\"00:11:22:33:44:55\" addrtype=\"mac\"/></host></nmaprun>",
        ));
        assert!(what.contains("without an IPv4 or IPv6"), "{what}");
    }

    #[test]
    fn bad_xml_is_a_typed_error_with_its_place() {
        match read_xml("<nmaprun>\n<host>\n</nmaprun>") {
            Err(ReadError::Xml { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
        // An unknown entity, a duplicate attribute, a bad character reference.
        for bad in [
            "<port protocol=\"tcp\" portid=\"&bogus;\"/>",
            "<port protocol=\"tcp\" protocol=\"udp\" portid=\"1\"/>",
            "<port protocol=\"tcp\" portid=\"&#0;\"/>",
        ] {
            assert!(
                matches!(read_xml(&doc(bad)), Err(ReadError::Xml { line: 5, .. })),
                "{bad}"
            );
        }
        // A huge mismatched end tag: the message is clipped.
        let bad = format!("<nmaprun><host></{}></nmaprun>", "h".repeat(100_000));
        match read_xml(&bad) {
            Err(ReadError::Xml { message, .. }) => assert!(message.len() < 300),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn entities_are_unescaped() {
        let f = read_xml(&doc(
            "<port protocol=\"tcp\" portid=\"25\"><state state=\"open\" reason=\"syn-ack\"/>\
             <service name=\"smtp\" product=\"a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;&#10;&#x41;&#9;z\"/></port>",
        ))
        .unwrap();
        assert_eq!(
            f.hosts[0].ports[0].product.as_deref(),
            Some("a <b> & \"c\" 'd'\nA\tz")
        );
    }

    #[test]
    fn huge_attributes() {
        let big = "A".repeat(10 * 1024 * 1024);
        let f = read_xml(&format!(
            "<nmaprun scanner=\"nmap\" args=\"{big}\"><host><status state=\"up\"/>\
             <address addr=\"::1\" addrtype=\"ipv6\"/><hostnames><hostname name=\"{big}\"/></hostnames></host></nmaprun>"
        ))
        .unwrap();
        assert_eq!(f.args.as_deref().map(str::len), Some(big.len()));
        assert_eq!(f.hosts[0].names[0].len(), big.len());
        // In a number: an error that does not quote it all.
        let err =
            read_xml(&doc(&format!("<port protocol=\"tcp\" portid=\"{big}\"/>"))).unwrap_err();
        assert!(err.to_string().len() < 300, "{}", err.to_string().len());
        let err = read_xml(&doc(&format!(
            "<extraports state=\"closed\" count=\"1\"><extrareasons count=\"1\" proto=\"tcp\" ports=\"{big}\"/></extraports>"
        )))
        .unwrap_err();
        assert!(err.to_string().len() < 300);
        // JSON: a huge name is read, a huge port is an error.
        let start = "{\"event\":\"start\",\"scanner\":\"monban\",\"schema\":1}\n";
        let f = read_jsonl(&format!(
            "{start}{{\"event\":\"host\",\"addr\":\"10.0.0.1\",\"status\":\"up\",\"name\":\"{big}\"}}\n{{\"event\":\"end\"}}\n"
        ))
        .unwrap();
        assert_eq!(f.hosts[0].names[0].len(), big.len());
        let err = read_jsonl(&format!(
            "{start}{{\"event\":\"host\",\"addr\":\"10.0.0.1\",\"status\":\"up\",\"ports\":[{{\"port\":\"{big}\",\"proto\":\"tcp\",\"state\":\"open\"}}]}}\n"
        ))
        .unwrap_err();
        assert!(err.to_string().len() < 300);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!("<nmaprun>{}", "<a>".repeat(200_000));
        let f = read_xml(&deep).unwrap();
        assert!(f.truncated);
        assert!(f.hosts.is_empty());
        let deep = format!(
            "{{\"event\":\"start\",\"schema\":1}}\n{}\n{{\"event\":\"end\"}}\n",
            "[".repeat(100_000)
        );
        assert!(matches!(
            read_jsonl(&deep),
            Err(ReadError::Json { line: 2, .. })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let alphabet: &[u8] =
            b"<>/=\"' \n?!-nmaprunhostportstateaddrextrasscaninfo{}[]:,0123456789&;#x\xc3\xa9\xff";
        let seeds = [
            write_xml(opts(false, 0), &[host_small(), host_v6()]),
            write_jsonl(opts(false, 0), &[host_small(), host_v6()]),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3000 {
            let input: Vec<u8> = if round % 2 == 0 {
                let len = (next() % 300) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            } else {
                // A real file with a few bytes changed.
                let mut bytes = seeds[round % 4 / 2].clone().into_bytes();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
                bytes
            };
            let _ = read(&input);
        }
    }

    fn jsonl(lines: &[&str]) -> String {
        let mut out = String::from(
            "{\"event\":\"start\",\"time\":1795239000.5,\"scanner\":\"monban\",\"args\":\"monban -oJ x\",\"schema\":1}\n",
        );
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    #[test]
    fn jsonl_wrong_types_are_typed_errors() {
        let host = |ports: &str| {
            format!("{{\"event\":\"host\",\"addr\":\"10.0.0.1\",\"status\":\"up\",\"ports\":[{ports}]}}")
        };
        for (ports, needle) in [
            (
                "{\"port\":\"22\",\"proto\":\"tcp\",\"state\":\"open\"}",
                "`port`",
            ),
            (
                "{\"port\":70000,\"proto\":\"tcp\",\"state\":\"open\"}",
                "70000",
            ),
            (
                "{\"port\":-1,\"proto\":\"tcp\",\"state\":\"open\"}",
                "`port`",
            ),
            (
                "{\"port\":22.5,\"proto\":\"tcp\",\"state\":\"open\"}",
                "`port`",
            ),
            ("{\"port\":22,\"proto\":\"tcp\",\"state\":\"ajar\"}", "ajar"),
            ("{\"port\":22,\"proto\":\"tcp\",\"state\":1}", "`state`"),
            (
                "{\"port\":22,\"proto\":\"tcp\",\"state\":\"open\",\"product\":[]}",
                "`product`",
            ),
            (
                "{\"proto\":\"tcp\",\"state\":\"open\"}",
                "`port` is missing",
            ),
        ] {
            let (line, what) = invalid_line(read_jsonl(&jsonl(&["", &host(ports)])));
            assert_eq!(line, 3, "{ports}");
            assert!(what.contains(needle), "{ports}: {what}");
        }
        let (_, what) = invalid_line(read_jsonl(&jsonl(&[
            "{\"event\":\"host\",\"addr\":\"nope\",\"status\":\"up\"}",
        ])));
        assert!(what.contains("nope"), "{what}");
        let (_, what) = invalid_line(read_jsonl(&jsonl(&[
            "{\"event\":\"host\",\"addr\":\"10.0.0.1\",\"status\":\"up\",\"ports\":{}}",
        ])));
        assert!(what.contains("`ports`"), "{what}");
        let (_, what) = invalid_line(read_jsonl(&jsonl(&[
            "{\"event\":\"host\",\"addr\":\"10.0.0.1\",\"status\":\"up\",\"extraports\":[{\"state\":\"closed\",\"count\":2,\"reasons\":[{\"count\":2,\"proto\":\"tcp\",\"ports\":\"1-x\"}]}]}",
        ])));
        assert!(what.contains("1-x"), "{what}");
        let (line, _) = invalid_line(read_jsonl(&jsonl(&["42"])));
        assert_eq!(line, 2);
        // A bad line that is not the last is bad JSON, not a cut.
        assert!(matches!(
            read_jsonl(&jsonl(&["{\"event\":\"host\",", "{\"event\":\"end\"}"])),
            Err(ReadError::Json { line: 2, .. })
        ));
        // Schema.
        for (start, found) in [
            ("{\"event\":\"start\",\"schema\":2}", "2"),
            ("{\"event\":\"start\",\"schema\":\"1\"}", "\"1\""),
            ("{\"event\":\"start\"}", "(none)"),
        ] {
            assert_eq!(
                read_jsonl(start),
                Err(ReadError::Schema {
                    found: found.to_string()
                })
            );
        }
    }

    #[test]
    fn jsonl_events_resumed_runs_and_cuts() {
        let host = |addr: &str| {
            format!("{{\"event\":\"host\",\"addr\":\"{addr}\",\"status\":\"up\",\"name\":\"n\",\"ports\":[{{\"port\":22,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"service\":null}},{{\"port\":53,\"proto\":\"sctp\",\"state\":\"open\"}}],\"extraports\":[],\"future\":{{\"x\":1}}}}")
        };
        let a = host("10.0.0.1");
        let b = host("fd00::2");
        let f = read_jsonl(&jsonl(&[
            "{\"event\":\"port\",\"addr\":\"10.0.0.1\",\"port\":22}",
            &a,
            "{\"event\":\"end\",\"interrupted\":true}",
            "{\"event\":\"start\",\"resumed\":true,\"args\":\"other\",\"schema\":1}",
            "{\"event\":\"novel\"}",
            &b,
            "{\"event\":\"end\",\"interrupted\":false}",
        ]))
        .unwrap();
        assert_eq!(f.scanner, "monban");
        assert_eq!(f.args.as_deref(), Some("monban -oJ x"));
        assert_eq!(f.start, Some(1_795_239_000));
        assert!(!f.truncated);
        assert_eq!(f.hosts.len(), 2);
        assert_eq!(f.hosts[1].addr, "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!(f.hosts[0].names, ["n"]);
        // The SCTP port is left out.
        assert_eq!(
            f.hosts[0].ports,
            [ScannedPort {
                proto: Protocol::Tcp,
                port: 22,
                state: PortState::Open,
                reason: Some("syn-ack".to_string()),
                service: None,
                product: None,
                version: None,
            }]
        );
        // Resumed but never ended: truncated.
        let f = read_jsonl(&jsonl(&[
            &a,
            "{\"event\":\"end\",\"interrupted\":true}",
            "{\"event\":\"start\",\"resumed\":true,\"schema\":1}",
        ]))
        .unwrap();
        assert!(f.truncated);
        // A cut last line is dropped; CRLF line ends are fine.
        let text = jsonl(&[&a]).replace('\n', "\r\n") + &b[..40];
        let f = read_jsonl(&text).unwrap();
        assert!(f.truncated);
        assert_eq!(f.hosts.len(), 1);
        // Odd start times are left out.
        for time in ["-5", "1e300", "\"soon\""] {
            let f = read_jsonl(&format!(
                "{{\"event\":\"start\",\"time\":{time},\"schema\":1}}\n"
            ))
            .unwrap();
            assert_eq!(f.start, None, "{time}");
            assert!(f.truncated);
        }
    }

    /// nmap 7.93's XML of a SYN and UDP scan with version detection, scripts and OS
    /// detection (elements the reader must skip without being misled by their names).
    const NMAP_793: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.93 scan initiated Sun Dec  6 06:54:50 2026 as: nmap -sS -sU -sV -O -p T:1-1000,U:53,161 -oX - 10.0.0.0/30 -->
<nmaprun scanner="nmap" args="nmap -sS -sU -sV -O -p T:1-1000,U:53,161 -oX - 10.0.0.0/30" start="1796540090" startstr="Sun Dec  6 06:54:50 2026" version="7.93" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="1000" services="1-1000"/>
<scaninfo type="udp" protocol="udp" numservices="2" services="53,161"/>
<verbose level="0"/>
<debugging level="0"/>
<hosthint><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="10.0.0.1" addrtype="ipv4"/>
</hosthint>
<host starttime="1796540090" endtime="1796540100"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="52:54:00:12:34:56" addrtype="mac" vendor="QEMU virtual NIC"/>
<address addr="10.0.0.1" addrtype="ipv4"/>
<hostnames>
<hostname name="gw.example" type="user"/>
<hostname name="gw.example" type="PTR"/>
<hostname name="router&amp;co.example" type="PTR"/>
</hostnames>
<ports><extraports state="closed" count="997">
<extrareasons reason="reset" count="990" proto="tcp" ports="1-21,23-79,81-442,444-990"/>
<extrareasons reason="port-unreach" count="1" proto="udp" ports="161"/>
<extrareasons reason="reset" count="6" proto="tcp" ports="991-996"/>
</extraports>
<extraports state="filtered" count="4">
<extrareasons reason="no-response" count="4" proto="tcp" ports="997-1000"/>
</extraports>
<extraports state="filtered" count="3">
<extrareasons reason="no-response" count="3" proto="sctp" ports="1-3"/>
</extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="ssh" product="OpenSSH" version="9.2p1 Debian 2+deb12u3" extrainfo="protocol 2.0" ostype="Linux" method="probed" conf="10"><cpe>cpe:/a:openbsd:openssh:9.2p1</cpe></service><script id="banner" output="state: closed"><elem key="state">closed</elem></script></port>
<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="http" product="nginx" method="probed" conf="10"/></port>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="https" method="table" conf="3"/></port>
<port protocol="udp" portid="53"><state state="open|filtered" reason="no-response" reason_ttl="0"/><service name="domain" method="table" conf="3"/></port>
<port protocol="sctp" portid="80"><state state="open" reason="init-ack" reason_ttl="64"/></port>
</ports>
<hostscript><script id="x"><table key="port"><elem key="state">filtered</elem></table></script></hostscript>
<os><portused state="open" proto="tcp" portid="22"/><portused state="closed" proto="udp" portid="161"/>
<osmatch name="Linux 5.0 - 5.14" accuracy="100" line="67705"><osclass type="general purpose" vendor="Linux" osfamily="Linux" osgen="5.X" accuracy="100"><cpe>cpe:/o:linux:linux_kernel:5</cpe></osclass></osmatch>
</os>
<uptime seconds="12345" lastboot="Sun Dec  6 03:29:05 2026"/>
<distance value="1"/>
<times srtt="115" rttvar="91" to="100000"/>
</host>
<host starttime="1796540090" endtime="1796540100"><status state="down" reason="no-response" reason_ttl="0"/>
<address addr="10.0.0.2" addrtype="ipv4"/>
</host>
<runstats><finished time="1796540100" timestr="Sun Dec  6 06:55:00 2026" summary="Nmap done" elapsed="10.00" exit="success"/><hosts up="1" down="1" total="2"/>
</runstats>
</nmaprun>
"#;

    #[test]
    fn nmap_793_document() {
        let f = read(NMAP_793.as_bytes()).unwrap();
        assert_eq!(f.scanner, "nmap");
        assert_eq!(
            f.args.as_deref(),
            Some("nmap -sS -sU -sV -O -p T:1-1000,U:53,161 -oX - 10.0.0.0/30")
        );
        assert_eq!(f.start, Some(1_796_540_090));
        assert!(!f.truncated);
        assert_eq!(f.hosts.len(), 2);
        let h = &f.hosts[0];
        assert_eq!(h.addr, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(h.status, "up");
        assert_eq!(h.names, ["gw.example", "router&co.example"]);
        assert_eq!(h.ports.len(), 4, "the SCTP port is left out");
        // So is the SCTP summary (below).
        assert_eq!(
            h.ports[0],
            ScannedPort {
                proto: Protocol::Tcp,
                port: 22,
                state: PortState::Open,
                reason: Some("syn-ack".to_string()),
                service: Some("ssh".to_string()),
                product: Some("OpenSSH".to_string()),
                version: Some("9.2p1 Debian 2+deb12u3".to_string()),
            }
        );
        assert_eq!(
            h.extra,
            [
                ScannedExtra {
                    state: PortState::Closed,
                    count: 996,
                    proto: Some(Protocol::Tcp),
                    ports: vec![(1, 21), (23, 79), (81, 442), (444, 996)],
                },
                ScannedExtra {
                    state: PortState::Closed,
                    count: 1,
                    proto: Some(Protocol::Udp),
                    ports: vec![(161, 161)],
                },
                ScannedExtra {
                    state: PortState::Filtered,
                    count: 4,
                    proto: Some(Protocol::Tcp),
                    ports: vec![(997, 1000)],
                },
            ]
        );
        let tcp = |p| h.state_of(Protocol::Tcp, p);
        assert_eq!(tcp(22), Some(PortState::Open));
        assert_eq!(tcp(1), Some(PortState::Closed));
        assert_eq!(tcp(996), Some(PortState::Closed));
        assert_eq!(tcp(1000), Some(PortState::Filtered));
        assert_eq!(tcp(1001), None);
        assert_eq!(tcp(161), Some(PortState::Closed));
        assert_eq!(h.state_of(Protocol::Udp, 161), Some(PortState::Closed));
        assert_eq!(h.state_of(Protocol::Udp, 53), Some(PortState::OpenFiltered));
        assert_eq!(h.state_of(Protocol::Udp, 22), None);
        assert_eq!(h.state_of(Protocol::Udp, 1), None);
        let down = &f.hosts[1];
        assert_eq!(down.status, "down");
        assert!(down.ports.is_empty() && down.extra.is_empty());
    }

    /// nmap before 7.9x: no `ports` or `proto` on `<extrareasons>`.
    fn old_nmap(closed_count: u32, more_scaninfo: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -p 1-1000 10.0.0.1" start="1600000000" version="7.80" xmloutputversion="1.04">
<scaninfo type="syn" protocol="tcp" numservices="1000" services="1-1000"/>{more_scaninfo}
<host><status state="up" reason="echo-reply" reason_ttl="64"/>
<address addr="10.0.0.1" addrtype="ipv4"/>
<hostnames/>
<ports><extraports state="closed" count="{closed_count}">
<extrareasons reason="resets" count="{closed_count}"/>
</extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="http" method="table" conf="3"/></port>
</ports>
</host>
</nmaprun>
"#
        )
    }

    #[test]
    fn old_nmap_summaries_get_their_ranges_from_the_scanned_ports() {
        let f = read_xml(&old_nmap(998, "")).unwrap();
        let h = &f.hosts[0];
        assert_eq!(
            h.extra,
            [ScannedExtra {
                state: PortState::Closed,
                count: 998,
                proto: Some(Protocol::Tcp),
                ports: vec![(1, 21), (23, 79), (81, 1000)],
            }]
        );
        assert_eq!(h.state_of(Protocol::Tcp, 1000), Some(PortState::Closed));
        assert_eq!(h.state_of(Protocol::Tcp, 80), Some(PortState::Open));
        assert_eq!(h.state_of(Protocol::Tcp, 1001), None);
        // Counts that do not add up: nothing is guessed.
        let f = read_xml(&old_nmap(997, "")).unwrap();
        let h = &f.hosts[0];
        assert_eq!(h.extra[0].proto, None);
        assert!(h.extra[0].ports.is_empty());
        assert_eq!(h.state_of(Protocol::Tcp, 1), None);
        assert_eq!(h.state_of(Protocol::Tcp, 22), Some(PortState::Open));
        // Two protocols scanned: a summary of unsaid protocol could be either.
        for more in [
            "<scaninfo type=\"udp\" protocol=\"udp\" services=\"53\"/>",
            "<scaninfo type=\"sctpinit\" protocol=\"sctp\" services=\"1-10\"/>",
        ] {
            let f = read_xml(&old_nmap(998, more)).unwrap();
            assert_eq!(f.hosts[0].extra[0].proto, None, "{more}");
            assert_eq!(f.hosts[0].state_of(Protocol::Tcp, 1), None, "{more}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_ranges(""), Some(vec![]));
        assert_eq!(
            parse_ranges("5,1-3, 4 ,10-12,11,65535,0"),
            Some(vec![(0, 5), (10, 12), (65535, 65535)])
        );
        assert_eq!(parse_ranges("0-65535"), Some(vec![(0, 65535)]));
        for bad in ["3-1", "65536", "1-", "-5", "a", "1-2-3", "١"] {
            assert_eq!(parse_ranges(bad), None, "{bad}");
        }
        let r = [(1, 3), (7, 7), (10, 65535)];
        for (port, held) in [
            (0, false),
            (1, true),
            (3, true),
            (4, false),
            (7, true),
            (8, false),
            (65535, true),
        ] {
            assert_eq!(ranges_hold(&r, port), held, "{port}");
        }
        assert!(!ranges_hold(&[], 1));
        assert_eq!(ranges_len(&r), 3 + 1 + 65526);
    }
}
