//! monban-output: result sinks that turn scan events into nmap-style outputs.
//!
//! The scanner never prints. It hands events to a [`Sink`]: [`Sink::begin`] once,
//! [`Sink::port`] for each open port as soon as it is found, [`Sink::host`] when a host
//! is done, and [`Sink::end`] once, also when the scan was interrupted. Four sinks
//! write the four formats users know from nmap:
//!
//! - [`NormalSink`]: the human table (`nmap` on a terminal, `-oN`);
//! - [`XmlSink`]: nmap's XML (`-oX`), readable by `ndiff` and nmap importers;
//! - [`GrepSink`]: the one-line-per-host grepable format (`-oG`);
//! - [`JsonSink`]: monban's JSON Lines (`-oJ`), schema version 1.
//!
//! [`MultiSink`] fans events out to several sinks. Every sink flushes after each host
//! (the JSON sink after each line) so that a killed scan leaves as much as possible.
//!
//! All sinks share nmap's rule for hiding uninteresting ports: [`collapse`].
//!
//! [`read`] reads results back: nmap's XML (nmap's or ours) and our JSON Lines.

#![warn(missing_docs)]

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use monban_engine::types::{HostReport, PortResult, PortState, Protocol, Reason, ScanType};

pub mod audit;
pub mod diff;
mod grep;
mod json;
mod normal;
pub mod read;
mod text;
mod time;
mod xml;

pub use grep::GrepSink;
pub use json::{JsonSink, JSON_SCHEMA_VERSION};
pub use normal::NormalSink;
pub use text::{is_bidi_control, safe_text, table, xml_escape};
pub use time::utc_seconds;
pub use xml::XmlSink;

/// What is known about a scan when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// The command line as typed, joined by spaces (shown in headers).
    pub args: String,
    /// When the scan started.
    pub start: SystemTime,
    /// How ports are probed.
    pub scan_type: ScanType,
    /// Ports scanned on every host (of the scan type's protocol: UDP for a UDP scan),
    /// sorted ascending, without duplicates.
    pub tcp_ports: Vec<u16>,
    /// monban's version, e.g. `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// Number of target addresses, if known in advance (shown with `-v`).
    pub num_hosts_hint: Option<u128>,
    /// `--resume`: the outputs already hold an interrupted run's results and are being
    /// continued. Normal and grepable files get a "resumed" comment instead of their
    /// header, JSON Lines a `start` event with `"resumed": true`, and the XML sink writes
    /// no header at all (the file was cut back to its last finished host).
    pub resumed: bool,
}

/// Options shared by all sinks, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkOptions {
    /// `--reason`: show why each port got its state.
    pub reason: bool,
    /// `--open`: show only open ports (the rest is summarised).
    pub open_only: bool,
    /// `-v` count: raises the collapsing threshold and shows down hosts.
    pub verbose: u8,
    /// `--audit`: a verdict per up host (see [`audit`]) in normal, XML and JSON output.
    pub audit: bool,
}

/// Totals known when the scan ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// When the scan ended.
    pub end: SystemTime,
    /// Wall time the scan took.
    pub elapsed: Duration,
    /// Hosts found up.
    pub hosts_up: u64,
    /// Hosts found down.
    pub hosts_down: u64,
    /// Hosts scanned (up + down + not finished).
    pub hosts_total: u64,
    /// Ctrl-C or SIGTERM stopped the scan: results are partial.
    pub interrupted: bool,
}

/// Why a sink could not write.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing to the destination (file, terminal, pipe) failed.
    #[error("cannot write output")]
    Io(#[from] std::io::Error),
    /// Sink methods were called out of order (`begin` must come first, once; `end` last,
    /// once). This is a bug in the caller.
    #[error("output sink: `{call}` called {problem}")]
    OutOfOrder {
        /// The method that was called.
        call: &'static str,
        /// What was wrong, e.g. "before begin".
        problem: &'static str,
    },
}

/// Receives scan events and writes them in one format.
///
/// Call order: `begin` once, then any number of `port` and `host`, then `end` once.
/// Calls out of that order return [`OutputError::OutOfOrder`].
pub trait Sink {
    /// Opens the document (headers).
    fn begin(&mut self, run: &RunInfo) -> Result<(), OutputError>;
    /// An open port found just now (streamed before its host completes). Most sinks ignore it.
    fn port(&mut self, addr: IpAddr, result: &PortResult) -> Result<(), OutputError>;
    /// A host is done: writes its report.
    fn host(&mut self, host: &HostReport) -> Result<(), OutputError>;
    /// Closes the document. Called also when the scan was interrupted: the file must be
    /// valid and complete.
    fn end(&mut self, stats: &RunStats) -> Result<(), OutputError>;
    /// How far the scan is (`--stats-every`). Most sinks ignore it.
    fn progress(&mut self, _p: &ProgressInfo) -> Result<(), OutputError> {
        Ok(())
    }
}

/// How far a running scan is, for `--stats-every` (and the web page's progress).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressInfo {
    /// Now.
    pub time: SystemTime,
    /// Since the scan began.
    pub elapsed: Duration,
    /// Host × port pairs with a final state.
    pub done: u64,
    /// Host × port pairs in the scan (an upper bound while targets are still read).
    pub total: u64,
    /// Hosts finished.
    pub hosts_done: u64,
}

impl ProgressInfo {
    /// Percent done, 0 to 100.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 * 100.0 / self.total as f64).min(100.0)
        }
    }

    /// Time left at the pace so far; `None` before anything is done.
    pub fn eta(&self) -> Option<Duration> {
        if self.done == 0 || self.total == 0 {
            return None;
        }
        let left = self.total.saturating_sub(self.done) as f64 / self.done as f64;
        Some(self.elapsed.mul_f64(left))
    }
}

/// Sends every event to several sinks.
///
/// One sink's error does not stop the others: every sink gets every event, and the
/// first error of the call is returned once all sinks have been served.
#[derive(Default)]
pub struct MultiSink(pub Vec<Box<dyn Sink + Send>>);

impl MultiSink {
    /// An empty fan-out.
    pub fn new() -> MultiSink {
        MultiSink(Vec::new())
    }

    /// Adds a sink.
    pub fn push(&mut self, sink: Box<dyn Sink + Send>) {
        self.0.push(sink);
    }

    /// Number of sinks.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no sink.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn each(
        &mut self,
        mut f: impl FnMut(&mut (dyn Sink + Send)) -> Result<(), OutputError>,
    ) -> Result<(), OutputError> {
        let mut first = None;
        for sink in &mut self.0 {
            if let Err(e) = f(sink.as_mut()) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for MultiSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiSink")
            .field("sinks", &self.0.len())
            .finish()
    }
}

impl Sink for MultiSink {
    fn begin(&mut self, run: &RunInfo) -> Result<(), OutputError> {
        self.each(|s| s.begin(run))
    }

    fn port(&mut self, addr: IpAddr, result: &PortResult) -> Result<(), OutputError> {
        self.each(|s| s.port(addr, result))
    }

    fn host(&mut self, host: &HostReport) -> Result<(), OutputError> {
        self.each(|s| s.host(host))
    }

    fn end(&mut self, stats: &RunStats) -> Result<(), OutputError> {
        self.each(|s| s.end(stats))
    }

    fn progress(&mut self, p: &ProgressInfo) -> Result<(), OutputError> {
        self.each(|s| s.progress(p))
    }
}

/// One reason inside a collapsed state: how many ports of one protocol got that state
/// for that reason, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraReason {
    /// The reason (e.g. `reset`).
    pub reason: Reason,
    /// Protocol of these ports.
    pub proto: Protocol,
    /// Number of ports.
    pub count: usize,
    /// The ports, ascending, without duplicates.
    pub ports: Vec<u16>,
}

/// A collapsed state: nmap's "Not shown: 64000 closed tcp ports (reset)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPorts {
    /// The state.
    pub state: PortState,
    /// Number of ports in that state (all protocols).
    pub count: usize,
    /// Breakdown by (reason, protocol), most frequent first.
    pub reasons: Vec<ExtraReason>,
}

/// A host's ports split into those listed one by one and those summarised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Collapsed {
    /// Ports listed one by one, in ascending (protocol, port) order.
    pub shown: Vec<PortResult>,
    /// Summarised states, in [`PortState::ALL`] order.
    pub extra: Vec<ExtraPorts>,
}

/// Ports of one state beyond which the state is summarised (nmap's value).
const COLLAPSE_LIMIT: usize = 25;

fn state_index(state: PortState) -> usize {
    match state {
        PortState::Open => 0,
        PortState::Closed => 1,
        PortState::Filtered => 2,
        PortState::Unfiltered => 3,
        PortState::OpenFiltered => 4,
        PortState::ClosedFiltered => 5,
    }
}

/// nmap's collapsing rule, shared by all sinks.
///
/// Open ports are always shown. Any other state with more than 25 ports (25 × the
/// verbosity with `-v`) is summarised as an [`ExtraPorts`]. With `--open` every state but
/// `open` is summarised whatever its size.
pub fn collapse(ports: &[PortResult], opts: &SinkOptions) -> Collapsed {
    let limit = COLLAPSE_LIMIT.saturating_mul(usize::from(opts.verbose.max(1)));
    let mut counts = [0usize; 6];
    for p in ports {
        counts[state_index(p.state)] += 1;
    }
    let collapsed = |state: PortState| {
        state != PortState::Open && (opts.open_only || counts[state_index(state)] > limit)
    };

    let mut shown: Vec<PortResult> = ports
        .iter()
        .filter(|p| !collapsed(p.state))
        .copied()
        .collect();
    shown.sort_by_key(|p| (p.proto, p.port));

    let mut extra = Vec::new();
    for state in PortState::ALL {
        if !collapsed(state) || counts[state_index(state)] == 0 {
            continue;
        }
        let mut reasons: Vec<ExtraReason> = Vec::new();
        for p in ports.iter().filter(|p| p.state == state) {
            // Two reasons with the same spelling are one reason to a reader.
            let found = reasons
                .iter_mut()
                .find(|r| r.proto == p.proto && r.reason.as_str() == p.reason.as_str());
            match found {
                Some(r) => {
                    r.count += 1;
                    r.ports.push(p.port);
                }
                None => reasons.push(ExtraReason {
                    reason: p.reason,
                    proto: p.proto,
                    count: 1,
                    ports: vec![p.port],
                }),
            }
        }
        for r in &mut reasons {
            r.ports.sort_unstable();
            r.ports.dedup();
        }
        reasons.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.proto.cmp(&b.proto))
                .then(a.reason.as_str().cmp(b.reason.as_str()))
        });
        extra.push(ExtraPorts {
            state,
            count: counts[state_index(state)],
            reasons,
        });
    }
    Collapsed { shown, extra }
}

/// Where a sink is in its life: `begin` → events → `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Running,
    Ended,
}

impl Phase {
    fn begin(&mut self) -> Result<(), OutputError> {
        match self {
            Phase::New => {
                *self = Phase::Running;
                Ok(())
            }
            Phase::Running => Err(OutputError::OutOfOrder {
                call: "begin",
                problem: "twice",
            }),
            Phase::Ended => Err(OutputError::OutOfOrder {
                call: "begin",
                problem: "after end",
            }),
        }
    }

    fn check(&self, call: &'static str) -> Result<(), OutputError> {
        match self {
            Phase::Running => Ok(()),
            Phase::New => Err(OutputError::OutOfOrder {
                call,
                problem: "before begin",
            }),
            Phase::Ended => Err(OutputError::OutOfOrder {
                call,
                problem: "after end",
            }),
        }
    }

    fn end(&mut self) -> Result<(), OutputError> {
        self.check("end")?;
        *self = Phase::Ended;
        Ok(())
    }
}

/// Number of ports a host should have had but does not (interrupted scans).
fn unresolved(scanned: usize, host: &HostReport) -> usize {
    scanned.saturating_sub(host.ports.len())
}

/// `n` followed by the singular or plural word.
fn plural(n: u128, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// "3 IP addresses (3 hosts up) scanned in 12.34 seconds", nmap's summary.
fn summary(stats: &RunStats) -> String {
    format!(
        "{} ({} up) scanned in {:.2} seconds",
        plural(u128::from(stats.hosts_total), "IP address", "IP addresses"),
        plural(u128::from(stats.hosts_up), "host", "hosts"),
        stats.elapsed.as_secs_f64()
    )
}

/// nmap's version text for a detected service: product, version, then extra information
/// in parentheses ("OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)"); not made safe yet.
pub(crate) fn version_text(d: &monban_engine::types::ServiceDetail) -> String {
    let mut parts: Vec<String> = Vec::new();
    for f in [&d.product, &d.version].into_iter().flatten() {
        if !f.is_empty() {
            parts.push(f.clone());
        }
    }
    if let Some(info) = d.info.as_deref().filter(|i| !i.is_empty()) {
        parts.push(format!("({info})"));
    }
    parts.join(" ")
}

/// The SERVICE column's name: `ssl/http` for a service found inside TLS (nmap's way),
/// else the name; not made safe yet.
pub(crate) fn service_label(d: &monban_engine::types::ServiceDetail) -> String {
    match d.tunnel.as_deref().filter(|t| !t.is_empty()) {
        Some(tunnel) => format!("{tunnel}/{}", d.name),
        None => d.name.clone(),
    }
}

/// A distinguished name as text: `CN=lab.example, O=Example`; a `\` or `,` inside a
/// value is escaped with `\`. Not made safe yet.
pub(crate) fn dn_text(attrs: &[(String, String)]) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('\\', "\\\\").replace(',', "\\,")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first value of attribute `key` (`CN`, `O`, ...) of a distinguished name.
pub(crate) fn dn_get<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The one-line certificate summary under a TLS port in normal output (not made safe
/// yet): `subject CN=a, O=b; issuer CN=c; expires 2035-06-30T23:59:59Z; TLSv1.3`.
pub(crate) fn tls_line(t: &monban_engine::types::TlsDetail) -> String {
    match &t.cert {
        Some(c) => format!(
            "subject {}; issuer {}; expires {}; {}",
            dn_text(&c.subject),
            dn_text(&c.issuer),
            c.not_after,
            t.version
        ),
        None => format!(
            "certificate not read ({}); {}",
            t.cert_error.as_deref().unwrap_or("none"),
            t.version
        ),
    }
}

/// The lines of a TLS port in the `ssl-cert` script (not escaped yet): the port with its
/// TLS version and cipher, then the certificate's fields indented.
pub(crate) fn tls_script_lines(
    port: u16,
    proto: Protocol,
    t: &monban_engine::types::TlsDetail,
) -> Vec<String> {
    let mut lines = vec![format!("{port}/{proto}: {} {}", t.version, t.cipher)];
    match &t.cert {
        Some(c) => {
            lines.push(format!("  Subject: {}", dn_text(&c.subject)));
            lines.push(format!("  Issuer: {}", dn_text(&c.issuer)));
            lines.push(format!("  Not valid before: {}", c.not_before));
            lines.push(format!("  Not valid after: {}", c.not_after));
            if !c.alt_names.is_empty() {
                lines.push(format!("  Alternative names: {}", c.alt_names.join(", ")));
            }
            lines.push(format!(
                "  Key: {}; signature: {}",
                c.key.as_deref().unwrap_or("unknown"),
                c.signature
            ));
            lines.push(format!("  SHA-256: {}", c.sha256));
        }
        None => lines.push(format!(
            "  Certificate not read: {}",
            t.cert_error.as_deref().unwrap_or("none")
        )),
    }
    lines
}

/// Looks up a port's usual service name; [`monban_engine::services::service_name`] outside
/// tests.
type ServiceFn = fn(u16, Protocol) -> Option<&'static str>;

/// Message written when the scan was interrupted.
const INTERRUPTED: &str = "Scan interrupted before completion: results are partial.";

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
