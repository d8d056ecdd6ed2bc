//! What changed between two scans, in the spirit of nmap's `ndiff`.
//!
//! [`diff`] is a pure function over two [`ScanFile`]s as [`crate::read`] gives them (from
//! nmap's or monban's XML, or monban's JSON Lines; later from a database): it never reads
//! or prints anything. [`text()`], [`json()`] and [`xml()`] render its [`ScanDiff`].
//!
//! # What is compared
//!
//! Hosts are matched by address. A host only in B is [`Presence::Added`], only in A
//! [`Presence::Removed`]; a host in both is reported when its status (`up`, `down`), its
//! names or its ports differ. When a file gives one address twice, its last entry is used.
//!
//! The ports compared one by one are those **listed** (not summarised) in either file. Each
//! side's state comes from [`ScannedHost::state_of`], so a port listed as `open` in B and
//! only summarised in A's "Not shown: 995 closed ports" is [`PortChange::Opened`].
//!
//! A listed port whose state the other file cannot tell (it was not scanned there, or the
//! file's summary gives no port ranges) is [`PortChange::NotScannedInA`] /
//! [`PortChange::NotScannedInB`]. A port listed in neither file is never reported one by
//! one, even when one file summarises it and the other did not scan it: two scans of
//! different port ranges would otherwise bury the changes under thousands of lines that
//! say nothing about the host, only about the scans. Ports that both files summarise,
//! with different states (a firewall now drops what was refused), are reported as ranges:
//! [`SummaryDiff`].
//!
//! Service name, product and version are compared on ports open in both files
//! ([`PortChange::Service`]); [`ScanDiff::states_only`] drops those and name changes.
//!
//! Order is deterministic: hosts by address (IPv4 before IPv6), ports by protocol (TCP
//! before UDP) and number, summaries by protocol and first port.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use monban_engine::types::{PortState, Protocol};
use serde_json::{json, Value};

use crate::read::{ScanFile, ScannedHost, ScannedPort};
use crate::text::{safe_text, table, xml_escape};

/// Everything that differs between scan A and scan B.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanDiff {
    /// Hosts with a difference, by address.
    pub hosts: Vec<HostDiff>,
}

/// Whether a host is in A, B or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// In both.
    Both,
}

impl Presence {
    /// `added`, `removed`, `changed`: the word the JSON and XML outputs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Added => "added",
            Presence::Removed => "removed",
            Presence::Both => "changed",
        }
    }
}

/// One host that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDiff {
    /// Its address.
    pub addr: IpAddr,
    /// In A, B or both.
    pub presence: Presence,
    /// Its status in A as written (`up`, `down`...), `None` if not in A.
    pub status_a: Option<String>,
    /// Its status in B, `None` if not in B.
    pub status_b: Option<String>,
    /// Its names in A (empty if not in A).
    pub names_a: Vec<String>,
    /// Its names in B (empty if not in B).
    pub names_b: Vec<String>,
    /// In both files, with a different set of names.
    pub names_changed: bool,
    /// Ports that differ, by (protocol, port). For an added or removed host: every port
    /// its file lists, as [`PortChange::NotScannedInA`] / [`PortChange::NotScannedInB`].
    pub ports: Vec<PortDiff>,
    /// Ports both files summarise, with different states.
    pub summaries: Vec<SummaryDiff>,
}

impl HostDiff {
    /// In both files with a different status (`up` ↔ `down`).
    pub fn status_changed(&self) -> bool {
        self.presence == Presence::Both && self.status_a != self.status_b
    }

    /// The name to show: B's first, else A's.
    pub fn name(&self) -> Option<&str> {
        self.names_b
            .first()
            .or(self.names_a.first())
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }

    fn has_changes(&self) -> bool {
        self.presence != Presence::Both
            || self.status_changed()
            || self.names_changed
            || !self.ports.is_empty()
            || !self.summaries.is_empty()
    }
}

/// How a port differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortChange {
    /// Known and not open in A, open in B.
    Opened,
    /// Open in A, known and not open in B.
    NoLongerOpen,
    /// Known in both, different, open in neither (`closed` → `filtered`...).
    State,
    /// Listed in B; A cannot tell its state (not scanned, or the host is not in A).
    NotScannedInA,
    /// Listed in A; B cannot tell its state.
    NotScannedInB,
    /// Open in both; service name, product or version differ.
    Service,
}

impl PortChange {
    /// `opened`, `no-longer-open`, `state`, `not-scanned-in-a`, `not-scanned-in-b`,
    /// `service`: the word the JSON and XML outputs use.
    pub fn as_str(self) -> &'static str {
        match self {
            PortChange::Opened => "opened",
            PortChange::NoLongerOpen => "no-longer-open",
            PortChange::State => "state",
            PortChange::NotScannedInA => "not-scanned-in-a",
            PortChange::NotScannedInB => "not-scanned-in-b",
            PortChange::Service => "service",
        }
    }
}

/// A port as one file knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSide {
    /// Its state (listed, or from a summary).
    pub state: PortState,
    /// Listed one by one (`false`: known from a summary, with no service).
    pub listed: bool,
    /// Service name, if written.
    pub service: Option<String>,
    /// Product, if written.
    pub product: Option<String>,
    /// Version, if written.
    pub version: Option<String>,
}

impl PortSide {
    fn listed(p: &ScannedPort) -> PortSide {
        PortSide {
            state: p.state,
            listed: true,
            service: p.service.clone().filter(|s| !s.is_empty()),
            product: p.product.clone().filter(|s| !s.is_empty()),
            version: p.version.clone().filter(|s| !s.is_empty()),
        }
    }

    /// Product and version, space separated (nmap's VERSION column without extra info).
    pub fn version_text(&self) -> String {
        [&self.product, &self.version]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What one file knows of one host's ports, indexed: each listed port (its first entry,
/// as [`ScannedHost::state_of`] takes), and the host's summaries alone, so that the state
/// of a port not listed comes from `state_of` without walking the listed ports again (a
/// host answering on every port lists 65535 of them).
struct Known<'a> {
    listed: BTreeMap<(Protocol, u16), &'a ScannedPort>,
    summaries: ScannedHost,
}

impl<'a> Known<'a> {
    fn of(h: &'a ScannedHost) -> Known<'a> {
        let mut listed = BTreeMap::new();
        for p in &h.ports {
            listed.entry((p.proto, p.port)).or_insert(p);
        }
        let summaries = ScannedHost {
            addr: h.addr,
            status: String::new(),
            names: Vec::new(),
            ports: Vec::new(),
            extra: h.extra.clone(),
        };
        Known { listed, summaries }
    }

    /// The port as this file knows it; `None` when it cannot tell.
    fn side(&self, proto: Protocol, port: u16) -> Option<PortSide> {
        if let Some(p) = self.listed.get(&(proto, port)) {
            return Some(PortSide::listed(p));
        }
        self.summaries.state_of(proto, port).map(|state| PortSide {
            state,
            listed: false,
            service: None,
            product: None,
            version: None,
        })
    }
}

/// One port that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDiff {
    /// Protocol.
    pub proto: Protocol,
    /// Number.
    pub port: u16,
    /// How it differs.
    pub change: PortChange,
    /// As A knows it; `None` when A cannot tell.
    pub a: Option<PortSide>,
    /// As B knows it; `None` when B cannot tell.
    pub b: Option<PortSide>,
}

/// Ports both files summarise (none lists them), in a different state in each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryDiff {
    /// Protocol.
    pub proto: Protocol,
    /// State in A.
    pub a: PortState,
    /// State in B.
    pub b: PortState,
    /// The ports, as inclusive ranges, ascending, merged.
    pub ports: Vec<(u16, u16)>,
}

impl SummaryDiff {
    /// Number of ports.
    pub fn count(&self) -> u64 {
        self.ports
            .iter()
            .map(|&(lo, hi)| u64::from(hi - lo) + 1)
            .sum()
    }
}

impl ScanDiff {
    /// No difference at all.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Hosts only in B.
    pub fn added(&self) -> impl Iterator<Item = &HostDiff> {
        self.hosts.iter().filter(|h| h.presence == Presence::Added)
    }

    /// Hosts only in A.
    pub fn removed(&self) -> impl Iterator<Item = &HostDiff> {
        self.hosts
            .iter()
            .filter(|h| h.presence == Presence::Removed)
    }

    /// The same diff without service, product, version and name changes: hosts added or
    /// removed, status and port states only. Hosts left with no change are dropped.
    pub fn states_only(mut self) -> ScanDiff {
        for h in &mut self.hosts {
            h.names_changed = false;
            h.ports.retain(|p| p.change != PortChange::Service);
        }
        self.hosts.retain(HostDiff::has_changes);
        self
    }
}

/// The hosts of a file by address; the last entry of an address wins.
fn by_addr(f: &ScanFile) -> BTreeMap<IpAddr, &ScannedHost> {
    f.hosts.iter().map(|h| (h.addr, h)).collect()
}

/// Names as a set, for comparison.
fn name_set(h: &ScannedHost) -> BTreeSet<&str> {
    h.names.iter().map(String::as_str).collect()
}

/// Every port of a host only one file has, as "not scanned" in the other.
fn lone_ports(h: &ScannedHost, in_b: bool) -> Vec<PortDiff> {
    let known = Known::of(h);
    known
        .listed
        .keys()
        .filter_map(|&(proto, port)| {
            let side = known.side(proto, port)?;
            Some(if in_b {
                PortDiff {
                    proto,
                    port,
                    change: PortChange::NotScannedInA,
                    a: None,
                    b: Some(side),
                }
            } else {
                PortDiff {
                    proto,
                    port,
                    change: PortChange::NotScannedInB,
                    a: Some(side),
                    b: None,
                }
            })
        })
        .collect()
}

/// The service fields compared on ports open in both.
fn service_key(s: &PortSide) -> (&Option<String>, &Option<String>, &Option<String>) {
    (&s.service, &s.product, &s.version)
}

fn compare_ports(a: &ScannedHost, b: &ScannedHost) -> Vec<PortDiff> {
    let (ka, kb) = (Known::of(a), Known::of(b));
    let keys: BTreeSet<(Protocol, u16)> =
        ka.listed.keys().chain(kb.listed.keys()).copied().collect();
    let mut out = Vec::new();
    for (proto, port) in keys {
        let sa = ka.side(proto, port);
        let sb = kb.side(proto, port);
        let change = match (&sa, &sb) {
            (None, None) => continue,
            (None, Some(_)) => PortChange::NotScannedInA,
            (Some(_), None) => PortChange::NotScannedInB,
            (Some(x), Some(y)) if x.state != y.state => {
                if y.state == PortState::Open {
                    PortChange::Opened
                } else if x.state == PortState::Open {
                    PortChange::NoLongerOpen
                } else {
                    PortChange::State
                }
            }
            (Some(x), Some(y)) => {
                if x.state == PortState::Open
                    && x.listed
                    && y.listed
                    && service_key(x) != service_key(y)
                {
                    PortChange::Service
                } else {
                    continue;
                }
            }
        };
        out.push(PortDiff {
            proto,
            port,
            change,
            a: sa,
            b: sb,
        });
    }
    out
}

/// A host's summarised ports of one protocol as (first, last, state) segments.
fn segments(h: &ScannedHost, proto: Protocol) -> Vec<(u16, u16, PortState)> {
    h.extra
        .iter()
        .filter(|e| e.proto == Some(proto))
        .flat_map(|e| e.ports.iter().map(move |&(lo, hi)| (lo, hi, e.state)))
        .collect()
}

/// Sorts ranges and merges those that overlap or touch.
fn merge(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
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

/// `lo..=hi` without the ports of `holes`.
fn punch(lo: u16, hi: u16, holes: &BTreeSet<u16>, out: &mut Vec<(u16, u16)>) {
    let mut start = u32::from(lo);
    for &p in holes.range(lo..=hi) {
        if u32::from(p) > start {
            // Both ends lie in lo..=hi.
            out.push((start as u16, p - 1));
        }
        start = u32::from(p) + 1;
    }
    if start <= u32::from(hi) {
        out.push((start as u16, hi));
    }
}

fn compare_summaries(a: &ScannedHost, b: &ScannedHost) -> Vec<SummaryDiff> {
    let mut out = Vec::new();
    for proto in [Protocol::Tcp, Protocol::Udp] {
        let (sa, sb) = (segments(a, proto), segments(b, proto));
        if sa.is_empty() || sb.is_empty() {
            continue;
        }
        // Listed ports are compared one by one, by `compare_ports`.
        let listed: BTreeSet<u16> = a
            .ports
            .iter()
            .chain(&b.ports)
            .filter(|p| p.proto == proto)
            .map(|p| p.port)
            .collect();
        let mut groups: BTreeMap<(PortState, PortState), Vec<(u16, u16)>> = BTreeMap::new();
        for &(alo, ahi, ast) in &sa {
            for &(blo, bhi, bst) in &sb {
                let (lo, hi) = (alo.max(blo), ahi.min(bhi));
                if ast == bst || lo > hi {
                    continue;
                }
                punch(lo, hi, &listed, groups.entry((ast, bst)).or_default());
            }
        }
        for ((a_state, b_state), ranges) in groups {
            let ports = merge(ranges);
            if !ports.is_empty() {
                out.push(SummaryDiff {
                    proto,
                    a: a_state,
                    b: b_state,
                    ports,
                });
            }
        }
    }
    out.sort_by_key(|s| (s.proto, s.ports.first().copied()));
    out
}

/// What changed from scan `a` to scan `b` (see the module documentation).
pub fn diff(a: &ScanFile, b: &ScanFile) -> ScanDiff {
    let (ha, hb) = (by_addr(a), by_addr(b));
    let addrs: BTreeSet<IpAddr> = ha.keys().chain(hb.keys()).copied().collect();
    let mut hosts = Vec::new();
    for addr in addrs {
        let (x, y) = (ha.get(&addr).copied(), hb.get(&addr).copied());
        let host = match (x, y) {
            (None, None) => continue,
            (Some(x), None) => HostDiff {
                addr,
                presence: Presence::Removed,
                status_a: Some(x.status.clone()),
                status_b: None,
                names_a: x.names.clone(),
                names_b: Vec::new(),
                names_changed: false,
                ports: lone_ports(x, false),
                summaries: Vec::new(),
            },
            (None, Some(y)) => HostDiff {
                addr,
                presence: Presence::Added,
                status_a: None,
                status_b: Some(y.status.clone()),
                names_a: Vec::new(),
                names_b: y.names.clone(),
                names_changed: false,
                ports: lone_ports(y, true),
                summaries: Vec::new(),
            },
            (Some(x), Some(y)) => HostDiff {
                addr,
                presence: Presence::Both,
                status_a: Some(x.status.clone()),
                status_b: Some(y.status.clone()),
                names_a: x.names.clone(),
                names_b: y.names.clone(),
                names_changed: name_set(x) != name_set(y),
                ports: compare_ports(x, y),
                summaries: compare_summaries(x, y),
            },
        };
        if host.has_changes() {
            hosts.push(host);
        }
    }
    ScanDiff { hosts }
}

// ---------------------------------------------------------------------------------------
// Rendering

/// Ranges as nmap writes them: `1-21,23,25-79`.
fn ranges_text(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Latest start time shown as a date (the year 9999); later ones are shown as numbers.
const LAST_DATE: u64 = 253_402_300_799;

/// "Sun Dec  6 07:12:21 2026 UTC", or the raw number for an absurd time.
fn start_text(secs: u64) -> String {
    if secs > LAST_DATE {
        return format!("{secs} (seconds since 1970)");
    }
    format!(
        "{} UTC",
        crate::time::ctime_utc(UNIX_EPOCH + Duration::from_secs(secs))
    )
}

/// "nmap scan initiated Sun Dec  6 07:12:21 2026 UTC as: nmap -p 22 host", safe.
fn banner(f: &ScanFile) -> String {
    let mut s = if f.scanner.is_empty() {
        "unknown scanner".to_string()
    } else {
        safe_text(&f.scanner)
    };
    s.push_str(" scan");
    if let Some(t) = f.start {
        let _ = write!(s, " initiated {}", start_text(t));
    }
    if let Some(args) = f.args.as_deref() {
        let _ = write!(s, " as: {}", safe_text(args));
    }
    if f.truncated {
        s.push_str(" (file cut short: partial results)");
    }
    s
}

/// "name (addr)" or "addr", safe.
fn host_label(h: &HostDiff) -> String {
    match h.name() {
        Some(n) => format!("{} ({})", safe_text(n), h.addr),
        None => h.addr.to_string(),
    }
}

/// A table row of one side of a port: PORT, STATE, SERVICE, VERSION.
fn port_row(d: &PortDiff, side: Option<&PortSide>) -> Vec<String> {
    let port = format!("{}/{}", d.port, d.proto);
    match side {
        None => vec![port, "not-scanned".to_string()],
        Some(s) => vec![
            port,
            s.state.as_str().to_string(),
            safe_text(s.service.as_deref().unwrap_or("")),
            safe_text(&s.version_text()),
        ],
    }
}

fn status_line(status: &str) -> String {
    format!("Host is {}.", safe_text(status))
}

fn names_line(names: &[String]) -> String {
    if names.is_empty() {
        "Names: (none)".to_string()
    } else {
        let shown: Vec<String> = names.iter().map(|n| safe_text(n)).collect();
        format!("Names: {}", shown.join(", "))
    }
}

/// The diff as text, like `ndiff`: a header with both scans, then one block per host
/// that differs, its lines marked `-` (A only), `+` (B only) or ` ` (both). All text taken
/// from the files is made safe with [`safe_text`].
pub fn text(d: &ScanDiff, a: &ScanFile, b: &ScanFile) -> String {
    let mut out = format!("-{}\n+{}\n", banner(a), banner(b));
    for h in &d.hosts {
        out.push('\n');
        // Marked lines of the block, the port table laid out in one piece.
        let mut lines: Vec<(char, String)> = Vec::new();
        let lone = match h.presence {
            Presence::Added => Some('+'),
            Presence::Removed => Some('-'),
            Presence::Both => None,
        };
        lines.push((lone.unwrap_or(' '), format!("{}:", host_label(h))));
        match lone {
            Some(mark) => {
                let status = h.status_a.as_deref().or(h.status_b.as_deref());
                lines.push((mark, status_line(status.unwrap_or("unknown"))));
            }
            None => {
                if h.status_changed() {
                    lines.push(('-', status_line(h.status_a.as_deref().unwrap_or(""))));
                    lines.push(('+', status_line(h.status_b.as_deref().unwrap_or(""))));
                }
                if h.names_changed {
                    lines.push(('-', names_line(&h.names_a)));
                    lines.push(('+', names_line(&h.names_b)));
                }
            }
        }
        if !h.ports.is_empty() {
            let mut marks = vec![lone.unwrap_or(' ')];
            let mut rows = vec![vec![
                "PORT".to_string(),
                "STATE".to_string(),
                "SERVICE".to_string(),
                "VERSION".to_string(),
            ]];
            for p in &h.ports {
                if lone != Some('+') {
                    marks.push('-');
                    rows.push(port_row(p, p.a.as_ref()));
                }
                if lone != Some('-') {
                    marks.push('+');
                    rows.push(port_row(p, p.b.as_ref()));
                }
            }
            for (mark, row) in marks.into_iter().zip(table(&rows).lines()) {
                lines.push((mark, row.to_string()));
            }
        }
        for s in &h.summaries {
            let ports = ranges_text(&s.ports);
            for (mark, state) in [('-', s.a), ('+', s.b)] {
                lines.push((
                    mark,
                    format!(
                        "Not shown: {} {} ports {state} ({ports})",
                        s.count(),
                        s.proto
                    ),
                ));
            }
        }
        for (mark, line) in lines {
            out.push(mark);
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn side_json(f: &ScanFile) -> Value {
    json!({
        "scanner": f.scanner,
        "args": f.args,
        "start": f.start,
        "truncated": f.truncated,
    })
}

fn port_side_json(s: Option<&PortSide>) -> Value {
    match s {
        None => Value::Null,
        Some(s) => json!({
            "state": s.state.as_str(),
            "listed": s.listed,
            "service": s.service,
            "product": s.product,
            "version": s.version,
        }),
    }
}

/// The diff as one JSON object (one line, then a newline):
///
/// - `a`, `b`: each scan: `scanner`, `args` (or null), `start` (Unix seconds, or null),
///   `truncated` (the file was cut short);
/// - `identical`: true when nothing differs;
/// - `hosts`: the hosts that differ, by address, each with
///   - `addr`; `change`: `added` (only in B), `removed` (only in A) or `changed`;
///   - `status_a`, `status_b`: `up`, `down`... or null when not in that file;
///     `status_changed`: in both, with different statuses;
///   - `names_a`, `names_b` (lists); `names_changed`;
///   - `ports`: `proto`, `port`, `change` (see [`PortChange::as_str`]) and `a`, `b`: the
///     port as each file knows it (`state`, `listed`, `service`, `product`, `version`),
///     null when that file cannot tell;
///   - `summaries`: ports both files summarise with different states: `proto`, `ports`
///     (nmap's range syntax), `count`, `a` and `b` (states).
pub fn json(d: &ScanDiff, a: &ScanFile, b: &ScanFile) -> String {
    let hosts: Vec<Value> = d
        .hosts
        .iter()
        .map(|h| {
            let ports: Vec<Value> = h
                .ports
                .iter()
                .map(|p| {
                    json!({
                        "proto": p.proto.as_str(),
                        "port": p.port,
                        "change": p.change.as_str(),
                        "a": port_side_json(p.a.as_ref()),
                        "b": port_side_json(p.b.as_ref()),
                    })
                })
                .collect();
            let summaries: Vec<Value> = h
                .summaries
                .iter()
                .map(|s| {
                    json!({
                        "proto": s.proto.as_str(),
                        "ports": ranges_text(&s.ports),
                        "count": s.count(),
                        "a": s.a.as_str(),
                        "b": s.b.as_str(),
                    })
                })
                .collect();
            json!({
                "addr": h.addr.to_string(),
                "change": h.presence.as_str(),
                "status_a": h.status_a,
                "status_b": h.status_b,
                "status_changed": h.status_changed(),
                "names_a": h.names_a,
                "names_b": h.names_b,
                "names_changed": h.names_changed,
                "ports": ports,
                "summaries": summaries,
            })
        })
        .collect();
    let doc = json!({
        "a": side_json(a),
        "b": side_json(b),
        "identical": d.is_empty(),
        "hosts": hosts,
    });
    format!("{doc}\n")
}

fn xml_side(tag: &str, f: &ScanFile) -> String {
    let mut s = format!("<{tag} scanner=\"{}\"", xml_escape(&f.scanner));
    if let Some(args) = &f.args {
        let _ = write!(s, " args=\"{}\"", xml_escape(args));
    }
    if let Some(t) = f.start {
        let _ = write!(s, " start=\"{t}\"");
    }
    let _ = writeln!(s, " truncated=\"{}\"/>", f.truncated);
    s
}

fn xml_port_side(tag: &str, s: Option<&PortSide>) -> String {
    let Some(s) = s else {
        return String::new();
    };
    let mut out = format!("<{tag} state=\"{}\" listed=\"{}\"", s.state, s.listed);
    for (key, v) in [
        ("service", &s.service),
        ("product", &s.product),
        ("version", &s.version),
    ] {
        if let Some(v) = v {
            let _ = write!(out, " {key}=\"{}\"", xml_escape(v));
        }
    }
    out.push_str("/>");
    out
}

/// The diff as XML, with the same content as [`json()`]:
///
/// ```text
/// <monbandiff version="1" identical="false">
/// <a scanner=".." args=".." start=".." truncated="false"/> <b .../>
/// <host addr=".." change="changed" status_a="up" status_b="up">
/// <hostname side="a" name=".."/>...
/// <port protocol="tcp" portid="22" change="opened"><a state="closed" listed="false"/><b state="open" listed="true" service="ssh"/></port>
/// <summary protocol="tcp" ports="1-21" count="21" a="closed" b="filtered"/>
/// </host>
/// </monbandiff>
/// ```
pub fn xml(d: &ScanDiff, a: &ScanFile, b: &ScanFile) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<monbandiff version=\"1\" identical=\"{}\">\n",
        d.is_empty()
    );
    out.push_str(&xml_side("a", a));
    out.push_str(&xml_side("b", b));
    for h in &d.hosts {
        let _ = write!(
            out,
            "<host addr=\"{}\" change=\"{}\"",
            h.addr,
            h.presence.as_str()
        );
        for (key, v) in [("status_a", &h.status_a), ("status_b", &h.status_b)] {
            if let Some(v) = v {
                let _ = write!(out, " {key}=\"{}\"", xml_escape(v));
            }
        }
        let _ = writeln!(
            out,
            " status_changed=\"{}\" names_changed=\"{}\">",
            h.status_changed(),
            h.names_changed
        );
        for (side, names) in [("a", &h.names_a), ("b", &h.names_b)] {
            for n in names {
                let _ = writeln!(
                    out,
                    "<hostname side=\"{side}\" name=\"{}\"/>",
                    xml_escape(n)
                );
            }
        }
        for p in &h.ports {
            let _ = writeln!(
                out,
                "<port protocol=\"{}\" portid=\"{}\" change=\"{}\">{}{}</port>",
                p.proto,
                p.port,
                p.change.as_str(),
                xml_port_side("a", p.a.as_ref()),
                xml_port_side("b", p.b.as_ref())
            );
        }
        for s in &h.summaries {
            let _ = writeln!(
                out,
                "<summary protocol=\"{}\" ports=\"{}\" count=\"{}\" a=\"{}\" b=\"{}\"/>",
                s.proto,
                ranges_text(&s.ports),
                s.count(),
                s.a,
                s.b
            );
        }
        out.push_str("</host>\n");
    }
    out.push_str("</monbandiff>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{read, ScannedExtra};

    fn port(proto: Protocol, port: u16, state: PortState) -> ScannedPort {
        ScannedPort {
            proto,
            port,
            state,
            reason: None,
            service: None,
            product: None,
            version: None,
        }
    }

    fn tcp(p: u16, state: PortState) -> ScannedPort {
        port(Protocol::Tcp, p, state)
    }

    fn svc(mut p: ScannedPort, name: &str, product: &str, version: &str) -> ScannedPort {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        p.service = some(name);
        p.product = some(product);
        p.version = some(version);
        p
    }

    fn host(addr: &str, ports: Vec<ScannedPort>, extra: Vec<ScannedExtra>) -> ScannedHost {
        ScannedHost {
            addr: addr.parse().unwrap(),
            status: "up".to_string(),
            names: Vec::new(),
            ports,
            extra,
        }
    }

    fn extra(state: PortState, proto: Protocol, ports: &[(u16, u16)]) -> ScannedExtra {
        ScannedExtra {
            state,
            count: ports.iter().map(|&(l, h)| u64::from(h - l) + 1).sum(),
            proto: Some(proto),
            ports: ports.to_vec(),
        }
    }

    fn scan(hosts: Vec<ScannedHost>) -> ScanFile {
        ScanFile {
            scanner: "monban".to_string(),
            args: Some("monban -p 1-1000 x".to_string()),
            start: Some(1_796_540_090),
            hosts,
            truncated: false,
        }
    }

    fn changes(d: &ScanDiff) -> Vec<(String, Protocol, u16, PortChange)> {
        d.hosts
            .iter()
            .flat_map(|h| {
                h.ports
                    .iter()
                    .map(move |p| (h.addr.to_string(), p.proto, p.port, p.change))
            })
            .collect()
    }

    use PortState::{Closed, Filtered, Open};
    use Protocol::{Tcp, Udp};

    #[test]
    fn identical_scans_have_an_empty_diff() {
        let a = scan(vec![host(
            "10.0.0.1",
            vec![svc(tcp(22, Open), "ssh", "OpenSSH", "9.2")],
            vec![extra(Closed, Tcp, &[(1, 21), (23, 1000)])],
        )]);
        let d = diff(&a, &a);
        assert!(d.is_empty());
        assert_eq!(d, ScanDiff::default());
        let t = text(&d, &a, &a);
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(t.starts_with("-monban scan initiated Sun Dec  6 06:54:50 2026 UTC as: monban -p 1-1000 x\n+monban"), "{t}");
        let j: Value = serde_json::from_str(&json(&d, &a, &a)).unwrap();
        assert_eq!(j["identical"], true);
        assert_eq!(j["hosts"], json!([]));
        assert!(xml(&d, &a, &a).contains("identical=\"true\""));
        assert!(diff(&ScanFile::default(), &ScanFile::default()).is_empty());
    }

    #[test]
    fn every_change_kind() {
        let a = scan(vec![
            host(
                "10.0.0.2",
                vec![
                    tcp(22, Open),
                    svc(tcp(80, Open), "http", "nginx", "1.22"),
                    tcp(443, Open),
                    tcp(8080, Closed),
                    tcp(9000, Open),
                    port(Udp, 53, PortState::OpenFiltered),
                ],
                vec![extra(
                    Closed,
                    Tcp,
                    &[(1, 21), (23, 79), (81, 442), (444, 3400)],
                )],
            ),
            host("10.0.0.1", vec![tcp(22, Open)], vec![]),
            host("10.0.0.3", vec![], vec![]),
        ]);
        let mut b = scan(vec![
            host("10.0.0.4", vec![tcp(25, Open)], vec![]),
            host(
                "10.0.0.2",
                vec![
                    svc(tcp(80, Open), "http", "nginx", "1.24"),
                    tcp(443, Open),
                    tcp(8080, Filtered),
                    tcp(3306, Open),
                    tcp(20000, Open),
                    port(Udp, 53, Open),
                ],
                // 22 now only summarised (closed); 3306 was summarised in A.
                vec![extra(
                    Closed,
                    Tcp,
                    &[(1, 79), (81, 442), (444, 3305), (3307, 3400)],
                )],
            ),
            host("10.0.0.3", vec![], vec![]),
        ]);
        b.hosts[2].status = "down".to_string();
        let d = diff(&a, &b);
        let got = changes(&d);
        use PortChange::*;
        let h = |s: &str| s.to_string();
        assert_eq!(
            got,
            [
                (h("10.0.0.1"), Tcp, 22, NotScannedInB),
                (h("10.0.0.2"), Tcp, 22, NoLongerOpen),
                (h("10.0.0.2"), Tcp, 80, Service),
                (h("10.0.0.2"), Tcp, 3306, Opened),
                (h("10.0.0.2"), Tcp, 8080, State),
                (h("10.0.0.2"), Tcp, 9000, NotScannedInB),
                (h("10.0.0.2"), Tcp, 20000, NotScannedInA),
                (h("10.0.0.2"), Udp, 53, Opened),
                (h("10.0.0.4"), Tcp, 25, NotScannedInA),
            ]
        );
        let presence: Vec<(String, Presence, bool)> = d
            .hosts
            .iter()
            .map(|h| (h.addr.to_string(), h.presence, h.status_changed()))
            .collect();
        assert_eq!(
            presence,
            [
                (h("10.0.0.1"), Presence::Removed, false),
                (h("10.0.0.2"), Presence::Both, false),
                (h("10.0.0.3"), Presence::Both, true),
                (h("10.0.0.4"), Presence::Added, false),
            ]
        );
        assert_eq!(d.added().count(), 1);
        assert_eq!(d.removed().count(), 1);
        // 22 in B comes from the summary: known, not listed.
        let p22 = &d.hosts[1].ports[0];
        assert_eq!(
            p22.b.as_ref().map(|s| (s.state, s.listed)),
            Some((Closed, false))
        );
        // 8080 closed in A (listed), filtered in B: a state change, not "opened".
        // A summary of A (closed 1-1000) and B (closed to 3400) overlap: same state, no
        // summary diff.
        assert!(d.hosts[1].summaries.is_empty());

        let t = text(&d, &a, &b);
        assert!(
            t.contains("\n-10.0.0.1:\n-Host is up.\n-PORT   STATE SERVICE VERSION\n-22/tcp open\n"),
            "{t}"
        );
        assert!(
            t.contains("\n+10.0.0.4:\n+Host is up.\n+PORT   STATE SERVICE VERSION\n+25/tcp open\n"),
            "{t}"
        );
        assert!(
            t.contains("\n 10.0.0.3:\n-Host is up.\n+Host is down.\n"),
            "{t}"
        );
        assert!(t.contains("\n-80/tcp    open          http    nginx 1.22\n+80/tcp    open          http    nginx 1.24\n"), "{t}");
        assert!(
            t.contains("\n-20000/tcp not-scanned\n+20000/tcp open\n"),
            "{t}"
        );
        assert!(
            t.contains("\n-9000/tcp  open\n+9000/tcp  not-scanned\n"),
            "{t}"
        );
        assert!(
            t.contains("\n-53/udp    open|filtered\n+53/udp    open\n"),
            "{t}"
        );

        let j: Value = serde_json::from_str(&json(&d, &a, &b)).unwrap();
        assert_eq!(j["identical"], false);
        assert_eq!(j["hosts"][0]["change"], "removed");
        assert_eq!(j["hosts"][0]["status_b"], Value::Null);
        assert_eq!(j["hosts"][2]["status_changed"], true);
        assert_eq!(j["hosts"][3]["change"], "added");
        let p = &j["hosts"][1]["ports"][2];
        assert_eq!(p["port"], 3306);
        assert_eq!(p["change"], "opened");
        assert_eq!(p["a"]["state"], "closed");
        assert_eq!(p["a"]["listed"], false);
        assert_eq!(p["b"]["state"], "open");
        assert_eq!(j["hosts"][1]["ports"][1]["b"]["version"], "1.24");
        assert_eq!(j["hosts"][1]["ports"][4]["b"], Value::Null);

        let x = xml(&d, &a, &b);
        assert!(x.contains("<port protocol=\"tcp\" portid=\"3306\" change=\"opened\"><a state=\"closed\" listed=\"false\"/><b state=\"open\" listed=\"true\"/></port>"), "{x}");
        assert!(
            x.contains("<host addr=\"10.0.0.4\" change=\"added\" status_b=\"up\""),
            "{x}"
        );

        // Without services: the 80/tcp version change goes, the rest stays.
        let s = d.clone().states_only();
        assert_eq!(changes(&s).len(), got.len() - 1);
        assert!(!changes(&s).iter().any(|c| c.3 == Service));
    }

    #[test]
    fn extraports_against_listed_both_ways() {
        // A: 22 closed via the summary; B: 22 listed open, the rest summarised.
        let a = scan(vec![host(
            "fd00::1",
            vec![tcp(80, Open)],
            vec![extra(Closed, Tcp, &[(1, 79), (81, 1000)])],
        )]);
        let b = scan(vec![host(
            "fd00::1",
            vec![tcp(22, Open), tcp(80, Open)],
            vec![extra(Closed, Tcp, &[(1, 21), (23, 79), (81, 1000)])],
        )]);
        let d = diff(&a, &b);
        assert_eq!(
            changes(&d),
            [("fd00::1".to_string(), Tcp, 22, PortChange::Opened)]
        );
        let back = diff(&b, &a);
        assert_eq!(
            changes(&back),
            [("fd00::1".to_string(), Tcp, 22, PortChange::NoLongerOpen)]
        );
        // A summary without ranges cannot tell: not scanned.
        let mut vague = a.clone();
        vague.hosts[0].extra[0].ports.clear();
        vague.hosts[0].extra[0].proto = None;
        assert_eq!(
            changes(&diff(&vague, &b)),
            [("fd00::1".to_string(), Tcp, 22, PortChange::NotScannedInA)]
        );
        // Same for a port outside A's scanned ranges.
        let c = scan(vec![host(
            "fd00::1",
            vec![tcp(80, Open), tcp(5000, Open)],
            vec![extra(Closed, Tcp, &[(1, 79), (81, 1000)])],
        )]);
        assert_eq!(
            changes(&diff(&a, &c)),
            [("fd00::1".to_string(), Tcp, 5000, PortChange::NotScannedInA)]
        );
        // Ports only summarised in one file and not scanned in the other are not reported.
        let narrow = scan(vec![host("fd00::1", vec![tcp(80, Open)], vec![])]);
        assert!(diff(&a, &narrow).is_empty());
    }

    #[test]
    fn summaries_that_changed_state() {
        let a = scan(vec![host(
            "10.0.0.1",
            vec![tcp(22, Open)],
            vec![
                extra(Closed, Tcp, &[(1, 21), (23, 1000)]),
                extra(Closed, Udp, &[(1, 100)]),
            ],
        )]);
        let b = scan(vec![host(
            "10.0.0.1",
            vec![tcp(22, Open), tcp(500, Closed)],
            vec![
                extra(Filtered, Tcp, &[(1, 21), (23, 499), (501, 600)]),
                extra(Closed, Tcp, &[(601, 1000)]),
                extra(Closed, Udp, &[(1, 100)]),
            ],
        )]);
        let d = diff(&a, &b);
        assert!(d.hosts[0].ports.is_empty(), "500 is closed in both");
        assert_eq!(
            d.hosts[0].summaries,
            [SummaryDiff {
                proto: Tcp,
                a: Closed,
                b: Filtered,
                ports: vec![(1, 21), (23, 499), (501, 600)],
            }]
        );
        assert_eq!(d.hosts[0].summaries[0].count(), 598);
        let t = text(&d, &a, &b);
        assert!(
            t.ends_with(" 10.0.0.1:\n-Not shown: 598 tcp ports closed (1-21,23-499,501-600)\n+Not shown: 598 tcp ports filtered (1-21,23-499,501-600)\n"),
            "{t}"
        );
        let j: Value = serde_json::from_str(&json(&d, &a, &b)).unwrap();
        assert_eq!(
            j["hosts"][0]["summaries"],
            json!([{"proto": "tcp", "ports": "1-21,23-499,501-600", "count": 598, "a": "closed", "b": "filtered"}])
        );
        // A port listed in B inside the range is taken out of the range.
        let mut holes = Vec::new();
        punch(1, 10, &BTreeSet::from([1, 5, 6, 10]), &mut holes);
        assert_eq!(holes, [(2, 4), (7, 9)]);
        let mut all = Vec::new();
        punch(0, 65535, &BTreeSet::from([0, 65535]), &mut all);
        assert_eq!(all, [(1, 65534)]);
    }

    #[test]
    fn names_and_order_and_duplicates() {
        let mut a1 = host("10.0.0.10", vec![tcp(1, Open)], vec![]);
        a1.names = vec!["old.example".to_string()];
        let mut b1 = a1.clone();
        b1.names = vec!["new.example".to_string()];
        let a = scan(vec![
            host("::1", vec![tcp(1, Open)], vec![]),
            host("10.0.0.9", vec![tcp(1, Open)], vec![]),
            a1,
            // Given twice: the last entry wins.
            host("10.0.0.9", vec![tcp(2, Open)], vec![]),
        ]);
        let b = scan(vec![b1, host("::1", vec![], vec![])]);
        let d = diff(&a, &b);
        let addrs: Vec<String> = d.hosts.iter().map(|h| h.addr.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.9", "10.0.0.10", "::1"]);
        assert_eq!(changes(&d)[0].2, 2);
        assert!(d.hosts[1].names_changed);
        let t = text(&d, &a, &b);
        assert!(
            t.contains("\n new.example (10.0.0.10):\n-Names: old.example\n+Names: new.example\n"),
            "{t}"
        );
        // States only: the name change alone is no difference.
        let s = d.states_only();
        assert_eq!(s.hosts.len(), 2);
    }

    #[test]
    fn hostile_text_is_made_safe() {
        let evil = "x\u{1b}]0;pwned\u{7}\n+10.6.6.6:\r";
        let mut h = host(
            "10.0.0.1",
            vec![svc(tcp(22, Open), evil, evil, evil)],
            vec![],
        );
        h.names = vec![evil.to_string()];
        h.status = evil.to_string();
        let mut a = scan(vec![h]);
        a.scanner = evil.to_string();
        a.args = Some(evil.to_string());
        let b = ScanFile {
            scanner: String::new(),
            args: None,
            start: Some(u64::MAX),
            hosts: Vec::new(),
            truncated: true,
        };
        let d = diff(&a, &b);
        let t = text(&d, &a, &b);
        for c in t.chars() {
            assert!(c == '\n' || !c.is_control(), "{c:?} in {t}");
        }
        // Every line is a marked line of the diff: nothing forged a line of its own.
        assert_eq!(
            t.lines().filter(|l| l.starts_with("+10.6.6.6")).count(),
            0,
            "{t}"
        );
        assert!(t.contains("x\\x1b]0;pwned\\x07\\x0a+10.6.6.6:\\x0d"), "{t}");
        assert!(t.contains("+unknown scanner scan initiated 18446744073709551615 (seconds since 1970) (file cut short: partial results)\n"), "{t}");
        let j: Value = serde_json::from_str(json(&d, &a, &b).trim_end()).unwrap();
        assert_eq!(j["hosts"][0]["names_a"][0], evil);
        assert_eq!(j["b"]["truncated"], true);
        let x = xml(&d, &a, &b);
        assert!(!x.contains('\u{1b}') && !x.contains('\u{7}'), "{x}");
        assert!(x.contains("pwned"));
        // The rendered XML is well-formed: our own reader-grade parser accepts it.
        let mut r = quick_xml::Reader::from_str(&x);
        loop {
            match r.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{e}: {x}"),
            }
        }
    }

    /// A host answering on every port lists all 65535: the diff stays quick.
    #[test]
    fn hosts_listing_every_port() {
        let all: Vec<ScannedPort> = (1..=65535).map(|p| tcp(p, Open)).collect();
        let half: Vec<ScannedPort> = (1..=32767).map(|p| tcp(p, Open)).collect();
        let a = scan(vec![host("10.0.0.1", all, vec![])]);
        let b = scan(vec![host(
            "10.0.0.1",
            half,
            vec![extra(Filtered, Tcp, &[(32768, 65535)])],
        )]);
        let start = std::time::Instant::now();
        let d = diff(&a, &b);
        assert_eq!(d.hosts[0].ports.len(), 32768);
        assert!(d.hosts[0]
            .ports
            .iter()
            .all(|p| p.change == PortChange::NoLongerOpen && p.port >= 32768));
        let added = diff(&ScanFile::default(), &a);
        assert_eq!(added.hosts[0].ports.len(), 65535);
        assert_eq!(text(&d, &a, &b).lines().count(), 2 + 1 + 1 + 1 + 2 * 32768);
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
    }

    /// nmap's own XML, read by the reader, against monban's of the same ports.
    #[test]
    fn through_the_reader() {
        let nmap = r#"<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -sT -p 1-100 127.0.0.1" start="1796541141" version="7.93">
<scaninfo type="connect" protocol="tcp" numservices="100" services="1-100"/>
<host><status state="up" reason="user-set" reason_ttl="0"/>
<address addr="127.0.0.1" addrtype="ipv4"/><hostnames/>
<ports><extraports state="closed" count="98">
<extrareasons reason="conn-refused" count="98" proto="tcp" ports="1-21,23-79,81-100"/>
</extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="http" method="table" conf="3"/></port>
</ports></host></nmaprun>"#;
        let monban = r#"{"event":"start","schema":1,"args":"monban -p 1-100 -oJ - 127.0.0.1","time":1796541142}
{"event":"host","addr":"127.0.0.1","status":"up","ports":[{"port":22,"proto":"tcp","state":"open","reason":"syn-ack"},{"port":81,"proto":"tcp","state":"open","reason":"syn-ack"}],"extraports":[{"state":"closed","count":98,"reasons":[{"reason":"conn-refused","count":98,"proto":"tcp","ports":"1-21,23-80,82-100"}]}]}
{"event":"end","interrupted":false}
"#;
        let a = read(nmap.as_bytes()).unwrap();
        let b = read(monban.as_bytes()).unwrap();
        let d = diff(&a, &b);
        let c = changes(&d);
        assert_eq!(
            c,
            [
                ("127.0.0.1".to_string(), Tcp, 22, PortChange::Service),
                ("127.0.0.1".to_string(), Tcp, 80, PortChange::NoLongerOpen),
                ("127.0.0.1".to_string(), Tcp, 81, PortChange::Opened),
            ]
        );
        assert_eq!(changes(&d.states_only()).len(), 2);
    }
}
