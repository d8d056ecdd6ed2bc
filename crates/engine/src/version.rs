//! Service and version detection (`-sV`): the sans-IO session that decides what to say
//! to open ports and what their answers mean.
//!
//! [`VersionSession`] never opens a socket and never reads a clock. A driver (netio's
//! `version.rs`) does what [`VersionSession::poll_action`] says — open a connection, start
//! a TLS handshake on it, send bytes, close it — and feeds back what happened, each event
//! with the time it happened ([`on_connected`](VersionSession::on_connected),
//! [`on_data`](VersionSession::on_data), [`on_closed`](VersionSession::on_closed),
//! [`on_tls_up`](VersionSession::on_tls_up), ...), and calls
//! [`handle_timeout`](VersionSession::handle_timeout) at
//! [`next_timeout`](VersionSession::next_timeout):
//!
//! ```text
//! session.handle_timeout(now)                         // starts the first connections
//! loop {
//!     while let Some(a) = session.poll_action() { do_it(a) }  // Connect, StartTls, Send, Close
//!     if session.is_done() { break }
//!     wait for sockets until session.next_timeout(): feed events; handle_timeout(now)
//! }
//! session.into_results()
//! ```
//!
//! So every rule below is tested in simulation, with a clock the test advances and
//! scripted servers (see the tests at the end), not against wall-clock windows.
//!
//! # The policy
//!
//! For every `(address, port)` a plan of steps is made: the probes of
//! [`ProbeDb::probes_for`] in order, and a TLS handshake — first on a usual TLS port
//! ([`TLS_PORTS`]), second otherwise (from intensity 1, or as soon as a plain reply looks
//! like TLS). Each step is one new connection: connect, send the probe's payload (nothing
//! for the null probe, which waits for servers that speak first: SSH, FTP, SMTP, POP3,
//! IMAP, MySQL...), read the reply, and match it with [`ProbeDb::identify`].
//!
//! A port's steps run in parallel, bounded by [`VersionOptions::per_port`]: the first step
//! runs alone for [`VersionOptions::head_start`] (a server that speaks first is then
//! identified with one connection), then the others join it. The hard match of the
//! earliest step in plan order wins: once one is found no further step starts, later steps
//! still running are closed, and earlier ones get at most [`VersionOptions::settle`] more
//! to beat it. A soft match (the service but not the product) narrows the steps not
//! started yet to those with hard rules for that service ([`Probe::has_rules_for`]). So a
//! port costs about its slowest useful probe, not the sum of every probe's wait.
//!
//! When a TLS handshake succeeds, its version, cipher suite and certificate are kept, the
//! plain steps still running are closed, and the plan starts again inside the tunnel,
//! with the probes of the port's plaintext counterpart first ([`plain_port`]: 443 → 80's).
//! The handshake's connection carries the first of them. The service is then what
//! answered inside ([`ServiceResult::in_tunnel`]), as nmap reports `ssl/http`.
//!
//! Everything is bounded, per connection:
//! - a reply is read until the server closes, a hard match, [`MAX_REPLY_BYTES`], the
//!   probe's [`wait`](Probe::wait), or [`VersionOptions::settle`] of silence after the
//!   reply started, whichever comes first; a server that streams forever or never speaks
//!   costs one probe wait at most; a reply is matched early at most
//!   `MAX_EARLY_CHECKS` times while it grows (a trickling server cannot cost more);
//! - a TLS handshake ends at [`VersionOptions::tls_wait`] (the driver also ends one at
//!   [`MAX_HANDSHAKE_BYTES`] and reports [`TlsError::TooLong`]);
//! - all steps of one port share [`VersionOptions::port_budget`];
//! - at most `limit` connections are open at once (see [`VersionSession::new`]); a driver
//!   that runs out of descriptors says so ([`VersionSession::on_no_descriptors`]) and the
//!   limit drops to what is open (back-pressure, not an error).
//!
//! Per-port failures (refused, connect timeout, budget exhausted, stopped) are kept in
//! [`ServiceResult::error`]. A port that accepts the null probe's connection and closes it
//! at once without a word, and says nothing to any other probe, is [`TCPWRAPPED`].
//!
//! The UDP side (`-sU -sV`) is [`udp`].

#[path = "version_udp.rs"]
pub mod udp;

use crate::types::{Protocol, ServiceDetail, TlsDetail};
use monban_probes::{clean, Probe, ProbeDb, ServiceMatch, MAX_REPLY_BYTES};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// At most this many leading bytes of a reply make up [`ServiceResult::banner`].
pub const BANNER_BYTES: usize = 256;
/// Raw bytes a server may send before its TLS handshake is complete; a driver ends a
/// handshake that gets more with [`TlsError::TooLong`].
pub const MAX_HANDSHAKE_BYTES: usize = 256 * 1024;
/// How many times a reply is matched while it is still arriving (it is always matched
/// once more at the end); bounds the work a server trickling bytes can cause.
const MAX_EARLY_CHECKS: u8 = 32;
/// The service of a port that accepts connections and closes them without a word.
pub const TCPWRAPPED: &str = "tcpwrapped";
/// A null probe's connection closed by the server this soon, without a byte, is a sign of
/// `tcpwrapped`; a server that hangs up on an idle client later is not one.
const WRAPPED_WITHIN: Duration = Duration::from_secs(2);
/// Service names of plain-text replies that say "this port speaks TLS".
const TLS_SERVICES: [&str; 3] = ["ssl", "tls", "https"];

/// Ports where a TLS service usually listens, with the port its plaintext protocol
/// usually has (so that the probes for that protocol go first inside the tunnel).
pub const TLS_PORTS: &[(u16, u16)] = &[
    (443, 80),    // https
    (465, 25),    // submissions (SMTP over TLS)
    (563, 119),   // nntps
    (636, 389),   // ldaps
    (853, 53),    // domain-s (DNS over TLS)
    (990, 21),    // ftps
    (992, 23),    // telnets
    (993, 143),   // imaps
    (995, 110),   // pop3s
    (3269, 3268), // global catalog over TLS
    (5061, 5060), // sips
    (5986, 5985), // WinRM over HTTPS
    (6697, 6667), // ircs
    (8443, 8080), // https-alt
];

/// Whether TLS usually listens on `port`.
pub fn is_tls_port(port: u16) -> bool {
    TLS_PORTS.iter().any(|&(p, _)| p == port)
}

/// The port whose probes go first inside a TLS tunnel on `port`: its plaintext
/// counterpart for a usual TLS port, else `port` itself.
pub fn plain_port(port: u16) -> u16 {
    TLS_PORTS
        .iter()
        .find(|&&(p, _)| p == port)
        .map_or(port, |&(_, plain)| plain)
}

/// Whether `reply` starts like a TLS record (a handshake or an alert of TLS 1.0-1.3):
/// what a TLS server answers to plain text, if it answers.
pub fn looks_like_tls(reply: &[u8]) -> bool {
    matches!(reply, [0x15 | 0x16, 0x03, 0x00..=0x04, ..])
}

/// How detection probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionOptions {
    /// 0 to 9 (`--version-intensity`): probes rarer than this are not tried, unless they
    /// list the port. Values above 9 act as 9.
    pub intensity: u8,
    /// Most connections open at once (the driver also bounds it by the open-file limit);
    /// 0 acts as 1.
    pub max_parallel: usize,
    /// Most connections to one port at once; 0 acts as 1 (one probe after the other).
    pub per_port: usize,
    /// How long a port's first step runs alone (after it connected) before the others
    /// join it, unless it ends sooner.
    pub head_start: Duration,
    /// Longest time all probes to one port may take together, counted from its first
    /// connect. Ports still unidentified then end with [`PortError::OutOfTime`].
    pub port_budget: Duration,
    /// Once a reply has started and does not match yet, this much silence ends it (the
    /// probe's own wait still bounds it). Servers send a greeting or an answer in one go;
    /// waiting the whole probe wait for more is what makes detection slow.
    pub settle: Duration,
    /// Try TLS: a handshake, then the probes inside the tunnel.
    pub tls: bool,
    /// Longest TLS handshake, from the connect.
    pub tls_wait: Duration,
    /// Network interface to bind the sockets to (`-e`); the driver's business.
    pub interface: Option<String>,
}

impl Default for VersionOptions {
    /// Intensity 7, 256 connections, 6 per port after a 300 ms head start, 30 s per port,
    /// 500 ms settle, TLS with 5 s handshakes, any interface.
    fn default() -> VersionOptions {
        VersionOptions {
            intensity: 7,
            max_parallel: 256,
            per_port: 6,
            head_start: Duration::from_millis(300),
            port_budget: Duration::from_secs(30),
            settle: Duration::from_millis(500),
            tls: true,
            tls_wait: Duration::from_secs(5),
            interface: None,
        }
    }
}

/// Why detection on one port ended without trying everything it could.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The port refused a connection (it closed after the port scan, or a firewall
    /// rejects with RST).
    #[error("connection refused")]
    Refused,
    /// A connect got no answer within the probe's wait.
    #[error("connect timed out")]
    ConnectTimeout,
    /// A connect failed otherwise (unreachable, prohibited, ...).
    #[error("connect failed: {}", io::Error::from_raw_os_error(*errno))]
    Connect {
        /// The OS error number.
        errno: i32,
    },
    /// The port's [`VersionOptions::port_budget`] ran out before every probe was tried.
    #[error("time budget for this port ran out")]
    OutOfTime,
    /// The stop flag was set before detection on this port finished.
    #[error("stopped")]
    Stopped,
}

/// Why a TLS handshake did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The handshake did not finish within the probe's wait (the peer stalled).
    #[error("TLS handshake timed out")]
    Timeout,
    /// The peer closed the connection before the handshake finished.
    #[error("connection closed during the TLS handshake")]
    Closed,
    /// The peer sent more than [`MAX_HANDSHAKE_BYTES`] without finishing the handshake.
    #[error("more than {MAX_HANDSHAKE_BYTES} bytes without a finished TLS handshake")]
    TooLong,
    /// The peer's bytes are not TLS, it sent an alert, or no common version or cipher
    /// suite exists; the text is the TLS library's description.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The TLS client could not be set up (a bug or an unusable crypto provider).
    #[error("TLS client setup failed: {0}")]
    Setup(String),
}

/// What detection found on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceResult {
    /// The target address.
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
    /// TCP ([`VersionSession`]) or UDP ([`udp::UdpVersionSession`]).
    pub proto: Protocol,
    /// Some probe got a reply. Over UDP that proves the port open.
    pub answered: bool,
    /// The best match: a hard match, else the first soft match, else `None`. On a TLS
    /// port, what answered inside the tunnel; if nothing did, a plain-text hard match if
    /// there was one, else a soft match for service `ssl`.
    pub service: Option<ServiceMatch>,
    /// `service` was identified by probes inside a TLS tunnel (nmap's `tunnel="ssl"`).
    pub in_tunnel: bool,
    /// What the TLS handshake showed, if one succeeded.
    pub tls: Option<TlsDetail>,
    /// Why the TLS handshake that was tried failed, if it did (a plain-text service
    /// usually fails it; see [`service`](Self::service)).
    pub tls_error: Option<TlsError>,
    /// Probes that got a connection (the null probe and TLS handshakes included); over
    /// UDP, datagrams sent.
    pub probes_sent: u32,
    /// The first [`BANNER_BYTES`] bytes of the reply that matched (hard before soft), or
    /// of the first non-empty reply, cleaned with [`clean`]; `None` if nothing was received.
    pub banner: Option<String>,
    /// Why detection stopped early, if it did; [`service`](Self::service) may still hold
    /// what was learnt before.
    pub error: Option<PortError>,
    /// Time from the port's first connect to its last answer.
    pub elapsed: Duration,
}

impl ServiceResult {
    /// The result as a report entry ([`crate::HostReport::services`]): `None` when
    /// nothing was identified and no TLS handshake succeeded.
    pub fn detail(&self) -> Option<ServiceDetail> {
        let m = self.service.as_ref()?;
        Some(ServiceDetail {
            port: self.port,
            proto: self.proto,
            name: m.service.clone(),
            product: m.product.clone(),
            version: m.version.clone(),
            info: m.info.clone(),
            hostname: m.hostname.clone(),
            os: m.os.clone(),
            cpe: m.cpe.clone(),
            soft: m.soft,
            tunnel: self.in_tunnel.then(|| "ssl".to_owned()),
            tls: self.tls.clone(),
        })
    }
}

/// One connection of a session, as the driver knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the session asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'db> {
    /// Open a TCP connection to `addr`; report [`VersionSession::on_connected`],
    /// [`VersionSession::on_connect_failed`] or [`VersionSession::on_no_descriptors`].
    Connect {
        /// The connection.
        id: ConnId,
        /// Where to.
        addr: SocketAddr,
    },
    /// Start a TLS client handshake on the (connected) connection; from now on bytes go
    /// both ways through the tunnel. Report [`VersionSession::on_tls_up`] or
    /// [`VersionSession::on_tls_failed`].
    StartTls {
        /// The connection.
        id: ConnId,
    },
    /// Send `data` (through the tunnel if TLS was started: queued until it is up).
    Send {
        /// The connection.
        id: ConnId,
        /// The probe's payload.
        data: &'db [u8],
    },
    /// Close the connection (with RST: no TIME_WAIT); the session has forgotten it.
    Close {
        /// The connection.
        id: ConnId,
    },
}

/// One step of a port's plan.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    /// Send a probe's payload (inside the tunnel once TLS is up).
    Probe(&'a Probe),
    /// Try a TLS handshake.
    Tls,
}

/// Where a port stands with TLS.
#[derive(Debug)]
enum TlsState {
    /// No handshake finished or failed yet.
    Untried,
    /// A handshake failed.
    Failed(TlsError),
    /// A handshake succeeded: the plan now runs inside the tunnel.
    Up(Box<TlsDetail>),
}

/// What the replies of one plan told.
#[derive(Debug, Default)]
struct Found {
    /// The hard match of the earliest step, and that step's index.
    hard: Option<(usize, ServiceMatch)>,
    /// The soft match of the earliest step, and that step's index.
    soft: Option<(usize, ServiceMatch)>,
    /// The banner, how good its reply was (see [`banner_rank`]) and its step's index:
    /// the best reply, the earliest step among equals.
    banner: Option<(u8, usize, String)>,
}

/// Detection state of one port.
struct Job<'a> {
    addr: IpAddr,
    port: u16,
    intensity: u8,
    /// Steps to try, in order.
    plan: Vec<Step<'a>>,
    /// Index in `plan` of the next step to consider.
    next: usize,
    /// Steps (indices) that could not get a descriptor: started again before `next`.
    retry: Vec<usize>,
    /// Connections in flight for this port.
    running: usize,
    /// Bumped when TLS comes up: connections of an older generation are plain text.
    gen: u32,
    /// When the plan's first step connected (others may join `head_start` later).
    lead_since: Option<Instant>,
    /// The plan's first step has ended.
    lead_done: bool,
    started: Option<Instant>,
    finished: Option<Instant>,
    found: Found,
    /// What plain text found before TLS came up.
    plain: Option<Found>,
    tls: TlsState,
    /// A TLS step should run even after a hard match (a reply looked like TLS).
    wants_tls: bool,
    /// The server closed the null probe's connection without a byte: with no other
    /// reply anywhere, the port is `tcpwrapped`.
    null_closed: bool,
    probes_sent: u32,
    /// A connect failure of a step, kept in case no step ever connects.
    connect_error: Option<PortError>,
    error: Option<PortError>,
    done: bool,
}

impl<'a> Job<'a> {
    fn new(db: &'a ProbeDb, addr: IpAddr, port: u16, opts: &VersionOptions) -> Job<'a> {
        let mut plan: Vec<Step<'a>> = db
            .probes_for(port, Protocol::Tcp, opts.intensity)
            .map(Step::Probe)
            .collect();
        if opts.tls {
            if is_tls_port(port) {
                plan.insert(0, Step::Tls);
            } else if opts.intensity >= 1 {
                plan.insert(plan.len().min(1), Step::Tls);
            }
        }
        Job {
            addr,
            port,
            intensity: opts.intensity,
            plan,
            next: 0,
            retry: Vec::new(),
            running: 0,
            gen: 0,
            lead_since: None,
            lead_done: false,
            started: None,
            finished: None,
            found: Found::default(),
            plain: None,
            tls: TlsState::Untried,
            wants_tls: false,
            null_closed: false,
            probes_sent: 0,
            connect_error: None,
            error: None,
            done: false,
        }
    }

    fn in_tunnel(&self) -> bool {
        matches!(self.tls, TlsState::Up(_))
    }

    /// Whether a soft match rules step `step` out.
    fn ruled_out(&self, step: Step<'a>) -> bool {
        match (&self.found.soft, step) {
            (Some((_, m)), Step::Probe(p)) => !p.has_rules_for(&m.service),
            _ => false,
        }
    }

    /// Skips the steps a soft match ruled out; the next step worth starting, if any
    /// (a step to retry first).
    fn peek_step(&mut self) -> Option<(usize, Step<'a>)> {
        while let Some(&i) = self.retry.first() {
            match self.plan.get(i).copied() {
                Some(step) if !self.ruled_out(step) => return Some((i, step)),
                _ => {
                    self.retry.remove(0);
                }
            }
        }
        while let Some(&step) = self.plan.get(self.next) {
            if self.ruled_out(step) {
                self.next += 1;
            } else {
                return Some((self.next, step));
            }
        }
        None
    }

    /// Marks step `index` as started.
    fn take_step(&mut self, index: usize) {
        if let Some(at) = self.retry.iter().position(|&i| i == index) {
            self.retry.remove(at);
        } else {
            self.next = index + 1;
        }
    }

    /// Whether another step may start now.
    fn may_launch(&mut self, opts: &VersionOptions, now: Instant) -> bool {
        if self.done || self.running >= opts.per_port.max(1) {
            return false;
        }
        let Some((_, step)) = self.peek_step() else {
            return false;
        };
        if self.found.hard.is_some() && !(matches!(step, Step::Tls) && self.wants_tls) {
            return false;
        }
        if self.running == 0 || self.lead_done {
            return true;
        }
        self.lead_since
            .is_some_and(|t| now >= after(t, opts.head_start))
    }

    /// A reply looked like TLS: a TLS step must run (next, unless one runs or ran).
    fn want_tls(&mut self, opts: &VersionOptions, tls_running: bool) {
        if !opts.tls || self.wants_tls || !matches!(self.tls, TlsState::Untried) {
            return;
        }
        self.wants_tls = true;
        if tls_running {
            return;
        }
        let ran = self
            .plan
            .iter()
            .take(self.next)
            .any(|s| matches!(s, Step::Tls));
        if ran {
            return;
        }
        if let Some(i) = self
            .plan
            .iter()
            .skip(self.next)
            .position(|s| matches!(s, Step::Tls))
        {
            self.plan.remove(self.next + i);
        }
        let at = self.next.min(self.plan.len());
        self.plan.insert(at, Step::Tls);
        // Steps waiting for a retry moved one place on.
        for i in self.retry.iter_mut().filter(|i| **i >= at) {
            *i += 1;
        }
    }

    /// Records a reply to step `index`; returns the index of a new earliest hard match.
    fn record(&mut self, index: usize, m: Option<ServiceMatch>, reply: &[u8]) -> Option<usize> {
        if reply.is_empty() {
            return None;
        }
        let rank = banner_rank(m.as_ref());
        let better = match &self.found.banner {
            Some((r, i, _)) => rank > *r || (rank == *r && index < *i),
            None => true,
        };
        if better {
            let head = reply.get(..BANNER_BYTES).unwrap_or(reply);
            self.found.banner = Some((rank, index, clean(head)));
        }
        match m {
            Some(m) if !m.soft && earlier(index, self.found.hard.as_ref()) => {
                self.found.hard = Some((index, m));
                Some(index)
            }
            Some(m) if m.soft && earlier(index, self.found.soft.as_ref()) => {
                self.found.soft = Some((index, m));
                None
            }
            _ => None,
        }
    }

    fn into_result(self) -> ServiceResult {
        let elapsed = match (self.started, self.finished) {
            (Some(s), Some(f)) => f.saturating_duration_since(s),
            _ => Duration::ZERO,
        };
        let (tls, tls_error) = match self.tls {
            TlsState::Up(d) => (Some(*d), None),
            TlsState::Failed(e) => (None, Some(e)),
            TlsState::Untried => (None, None),
        };
        let inner = self.found.hard.or(self.found.soft).map(|(_, m)| m);
        let (service, in_tunnel, banner) = match (tls.is_some(), inner) {
            (true, Some(m)) => (Some(m), true, self.found.banner),
            (true, None) => {
                let plain = self.plain.unwrap_or_default();
                let service = plain.hard.map(|(_, m)| m).unwrap_or(ServiceMatch {
                    service: "ssl".to_owned(),
                    soft: true,
                    ..ServiceMatch::default()
                });
                (Some(service), false, self.found.banner.or(plain.banner))
            }
            // Accepted, then closed before a byte was said, to every probe: a TCP wrapper
            // or a service that only serves allowed clients (nmap's `tcpwrapped`).
            (false, None) if self.null_closed && self.found.banner.is_none() => (
                Some(ServiceMatch {
                    service: TCPWRAPPED.to_owned(),
                    ..ServiceMatch::default()
                }),
                false,
                None,
            ),
            (false, m) => (m, false, self.found.banner),
        };
        ServiceResult {
            addr: self.addr,
            port: self.port,
            proto: Protocol::Tcp,
            answered: banner.is_some(),
            service,
            in_tunnel,
            tls,
            tls_error,
            probes_sent: self.probes_sent,
            banner: banner.map(|(_, _, b)| b),
            error: self.error,
            elapsed,
        }
    }
}

/// Whether step `index` comes before the one that found `m` (or nothing did).
fn earlier(index: usize, m: Option<&(usize, ServiceMatch)>) -> bool {
    match m {
        Some((i, _)) => index < *i,
        None => true,
    }
}

/// Where a connection stands with TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tunnel {
    /// Plain text.
    No,
    /// TLS will start once connected.
    Wanted,
    /// The handshake is going on.
    Handshaking,
    /// The handshake is done: data goes through the tunnel.
    Up,
}

/// One connection carrying one step.
struct Conn<'a> {
    job: usize,
    /// Index of the step in its job's plan, and the plan's generation.
    index: usize,
    gen: u32,
    step: Step<'a>,
    tunnel: Tunnel,
    connected: bool,
    reply: Vec<u8>,
    /// Reply length at the last early match attempt, and how many were made.
    checked_len: usize,
    checks: u8,
    /// End of the step's wait (or of the port's budget, if sooner).
    until: Instant,
    /// End of the settle time after the last bytes received.
    quiet: Option<Instant>,
    /// Earliest deadline queued for this connection in the timer heap.
    armed: Instant,
    /// The server closed (FIN or RST), rather than our wait ending.
    peer_closed: bool,
    /// When the connect completed.
    connected_at: Option<Instant>,
}

impl Conn<'_> {
    fn deadline(&self) -> Instant {
        self.quiet.map_or(self.until, |q| q.min(self.until))
    }

    fn handshaking(&self) -> bool {
        matches!(self.tunnel, Tunnel::Wanted | Tunnel::Handshaking)
    }
}

/// How a connection ended.
enum End {
    /// It connected; the reply (possibly empty) is complete.
    Reply,
    /// It never connected.
    Failed(PortError),
    /// Its TLS handshake failed.
    Tls(TlsError),
    /// Closed because its job no longer needs it; nothing is recorded.
    Cancelled,
}

/// Service detection over TCP on a list of `(address, port)`: see the module docs.
pub struct VersionSession<'db> {
    db: &'db ProbeDb,
    opts: VersionOptions,
    jobs: Vec<Job<'db>>,
    conns: HashMap<ConnId, Conn<'db>>,
    /// Connection deadlines, earliest first; stale entries are skipped when popped.
    heap: BinaryHeap<Reverse<(Instant, ConnId)>>,
    /// When jobs waiting for a head start to pass may start more steps.
    wakes: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Jobs that may be able to start a step.
    ready: VecDeque<usize>,
    /// Jobs not done yet.
    remaining: usize,
    next_id: u64,
    limit: usize,
    actions: VecDeque<Action<'db>>,
}

impl<'db> VersionSession<'db> {
    /// A session for `targets` (open TCP ports) with `db` (usually
    /// [`ProbeDb::builtin`]), keeping at most `limit` connections open at once (the
    /// driver passes [`VersionOptions::max_parallel`] bounded by its descriptors; 0 acts
    /// as 1). Nothing starts before the first [`handle_timeout`](Self::handle_timeout).
    pub fn new(
        db: &'db ProbeDb,
        targets: &[(IpAddr, u16)],
        opts: &VersionOptions,
        limit: usize,
    ) -> VersionSession<'db> {
        VersionSession {
            db,
            opts: opts.clone(),
            jobs: targets
                .iter()
                .map(|&(addr, port)| Job::new(db, addr, port, opts))
                .collect(),
            conns: HashMap::new(),
            heap: BinaryHeap::new(),
            wakes: BinaryHeap::new(),
            ready: (0..targets.len()).collect(),
            remaining: targets.len(),
            next_id: 0,
            limit: limit.max(1),
            actions: VecDeque::new(),
        }
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<Action<'db>> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do, if ever.
    pub fn next_timeout(&self) -> Option<Instant> {
        [
            self.heap.peek().map(|Reverse((t, _))| *t),
            self.wakes.peek().map(|Reverse((t, _))| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether every port has its result.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Whether connection `id` is still wanted (the driver stops reading once it is not).
    pub fn is_open(&self, id: ConnId) -> bool {
        self.conns.contains_key(&id)
    }

    /// How many more reply bytes connection `id` will take.
    pub fn room(&self, id: ConnId) -> usize {
        self.conns
            .get(&id)
            .map_or(0, |c| MAX_REPLY_BYTES.saturating_sub(c.reply.len()))
    }

    /// Connections the session counts as open (asked for and not closed).
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Most connections open at once now (lowered by
    /// [`on_no_descriptors`](Self::on_no_descriptors)).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Ends what is due at `now` and starts what may start.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.progress(now);
    }

    /// Ends everything: unfinished ports get [`PortError::Stopped`].
    pub fn stop(&mut self, now: Instant) {
        for j in 0..self.jobs.len() {
            self.complete(j, Some(PortError::Stopped), now);
        }
    }

    /// The results, one per target in the order of the targets.
    pub fn into_results(self) -> Vec<ServiceResult> {
        self.jobs.into_iter().map(Job::into_result).collect()
    }

    /// Connection `id` is established.
    pub fn on_connected(&mut self, now: Instant, id: ConnId) {
        let budget = self.opts.port_budget;
        let head_start = self.opts.head_start;
        let tls_wait = self.opts.tls_wait;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.connected {
            return;
        }
        c.connected = true;
        c.connected_at = Some(now);
        let Some(job) = self.jobs.get_mut(c.job) else {
            return;
        };
        job.probes_sent += 1;
        if c.index == 0 {
            job.lead_since = Some(now);
            self.wakes.push(Reverse((after(now, head_start), c.job)));
        }
        let wait = match c.step {
            Step::Probe(p) => p.wait(),
            Step::Tls => tls_wait,
        };
        let until = after(now, wait);
        c.until = job.started.map_or(until, |s| until.min(after(s, budget)));
        if c.until < c.armed {
            c.armed = c.until;
            self.heap.push(Reverse((c.until, id)));
        }
        if c.tunnel == Tunnel::Wanted {
            c.tunnel = Tunnel::Handshaking;
            self.actions.push_back(Action::StartTls { id });
        }
        if let Step::Probe(p) = c.step {
            if !p.payload().is_empty() {
                self.actions.push_back(Action::Send {
                    id,
                    data: p.payload(),
                });
            }
        }
        self.progress(now);
    }

    /// Connection `id` could not be established (refused, unreachable, ...).
    pub fn on_connect_failed(&mut self, now: Instant, id: ConnId, error: PortError) {
        self.end(id, End::Failed(error), now);
        self.progress(now);
    }

    /// The driver had no descriptor for connection `id`: it was not opened. Its step is
    /// tried again later, and no more connections than are open now are asked for.
    pub fn on_no_descriptors(&mut self, _now: Instant, id: ConnId) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        if let Some(job) = self.jobs.get_mut(c.job) {
            job.running = job.running.saturating_sub(1);
            if c.gen == job.gen && !job.done {
                job.retry.push(c.index);
                job.retry.sort_unstable();
                job.retry.dedup();
                self.ready.push_front(c.job);
            }
        }
        if !self.conns.is_empty() {
            self.limit = self.conns.len();
        }
    }

    /// Reply bytes arrived on connection `id` (decrypted, inside a tunnel).
    pub fn on_data(&mut self, now: Instant, id: ConnId, data: &[u8]) {
        let settle = self.opts.settle;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if !c.connected || data.is_empty() {
            return;
        }
        let before = c.reply.len();
        let take = MAX_REPLY_BYTES.saturating_sub(before).min(data.len());
        c.reply
            .extend_from_slice(data.get(..take).unwrap_or_default());
        if c.reply.len() >= MAX_REPLY_BYTES {
            // Read as much as we ever look at.
            self.end(id, End::Reply, now);
            self.progress(now);
            return;
        }
        // Match early only when the reply grew enough to be worth it: a new line, or twice
        // the length of the last attempt.
        let fresh = c.reply.get(before..).unwrap_or_default();
        let worth = fresh.contains(&b'\n') || c.reply.len() >= 2 * c.checked_len.max(1);
        if worth && c.checks < MAX_EARLY_CHECKS {
            c.checks += 1;
            c.checked_len = c.reply.len();
            if let Step::Probe(p) = c.step {
                if matches!(self.db.identify(p, &c.reply), Some(m) if !m.soft) {
                    self.end(id, End::Reply, now);
                    self.progress(now);
                    return;
                }
            }
        }
        c.quiet = Some(after(now, settle));
        let due = c.deadline();
        if due < c.armed {
            c.armed = due;
            self.heap.push(Reverse((due, id)));
        }
        self.progress(now);
    }

    /// The server closed connection `id` (FIN or RST); what it sent before counts.
    pub fn on_closed(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.peer_closed = true;
        let end = if c.handshaking() {
            End::Tls(TlsError::Closed)
        } else {
            End::Reply
        };
        self.end(id, end, now);
        self.progress(now);
    }

    /// The TLS handshake on connection `id` finished, showing `detail`.
    pub fn on_tls_up(&mut self, now: Instant, id: ConnId, detail: TlsDetail) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.tunnel != Tunnel::Handshaking {
            return;
        }
        c.tunnel = Tunnel::Up;
        if matches!(c.step, Step::Tls) {
            self.tls_up(id, detail, now);
        }
        self.progress(now);
    }

    /// The TLS handshake on connection `id` failed (after it, a broken record just ends
    /// the reply).
    pub fn on_tls_failed(&mut self, now: Instant, id: ConnId, error: TlsError) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let end = if c.handshaking() {
            End::Tls(error)
        } else {
            End::Reply
        };
        self.end(id, end, now);
        self.progress(now);
    }

    /// Ends what is due, then starts steps while connections are free.
    fn progress(&mut self, now: Instant) {
        self.expire(now);
        // Each pass starts at most one step per job, so ports share the slots.
        let mut passes = self.ready.len();
        while self.conns.len() < self.limit && passes > 0 {
            passes -= 1;
            let Some(j) = self.ready.pop_front() else {
                break;
            };
            self.launch(j, now);
            let opts = &self.opts;
            let again = self
                .jobs
                .get_mut(j)
                .is_some_and(|job| job.may_launch(opts, now));
            if again {
                self.ready.push_back(j);
                passes += 1;
            }
        }
    }

    /// Ends the connections whose deadline has passed; queues jobs whose head start is over.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((t, j))) = self.wakes.peek() {
            if t > now {
                break;
            }
            self.wakes.pop();
            self.ready.push_back(j);
        }
        while let Some(&Reverse((t, id))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let Some(c) = self.conns.get_mut(&id) else {
                continue; // already ended
            };
            let due = c.deadline();
            if due > now {
                c.armed = due;
                self.heap.push(Reverse((due, id)));
                continue;
            }
            let end = if !c.connected {
                End::Failed(PortError::ConnectTimeout)
            } else if c.handshaking() {
                End::Tls(TlsError::Timeout)
            } else {
                End::Reply
            };
            self.end(id, end, now);
        }
    }

    /// Starts job `j`'s next step, or finishes the job if nothing is left to do.
    fn launch(&mut self, j: usize, now: Instant) {
        let opts = &self.opts;
        let budget = opts.port_budget;
        let Some(job) = self.jobs.get_mut(j) else {
            return;
        };
        if !job.may_launch(opts, now) {
            self.settle_job(j, now);
            return;
        }
        let Some((index, step)) = job.peek_step() else {
            return;
        };
        let budget_end = after(job.started.unwrap_or(now), budget);
        if now >= budget_end {
            if job.running == 0 {
                self.complete(j, Some(PortError::OutOfTime), now);
            }
            return;
        }
        job.take_step(index);
        job.running += 1;
        job.started.get_or_insert(now);
        let tunnel = if matches!(step, Step::Tls) || job.in_tunnel() {
            Tunnel::Wanted
        } else {
            Tunnel::No
        };
        let wait = match step {
            Step::Probe(p) => p.wait(),
            Step::Tls => opts.tls_wait,
        };
        let until = after(now, wait).min(budget_end);
        let id = ConnId(self.next_id);
        self.next_id += 1;
        let addr = SocketAddr::new(job.addr, job.port);
        self.conns.insert(
            id,
            Conn {
                job: j,
                index,
                gen: job.gen,
                step,
                tunnel,
                connected: false,
                reply: Vec::new(),
                checked_len: 0,
                checks: 0,
                until,
                quiet: None,
                armed: until,
                peer_closed: false,
                connected_at: None,
            },
        );
        self.heap.push(Reverse((until, id)));
        self.actions.push_back(Action::Connect { id, addr });
    }

    /// A TLS step's handshake finished: keep what it showed, close the plain-text steps,
    /// and start the plan again inside the tunnel, on this connection first.
    fn tls_up(&mut self, id: ConnId, detail: TlsDetail, now: Instant) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let j = c.job;
        let Some(job) = self.jobs.get_mut(j) else {
            return;
        };
        job.tls = TlsState::Up(Box::new(detail));
        job.plain = Some(std::mem::take(&mut job.found));
        job.gen += 1;
        job.wants_tls = false;
        job.retry.clear();
        job.plan = self
            .db
            .probes_for(plain_port(job.port), Protocol::Tcp, job.intensity)
            .map(Step::Probe)
            .collect();
        let gen = job.gen;
        let first = job.plan.first().copied();
        let started = job.started;
        // This connection stays; every other one of the port is plain text.
        let mut others: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(&t, c)| c.job == j && t != id)
            .map(|(&t, _)| t)
            .collect();
        others.sort_unstable();
        for t in others {
            self.end(t, End::Cancelled, now);
        }
        let Some(job) = self.jobs.get_mut(j) else {
            return;
        };
        job.running = 1;
        job.lead_since = Some(now);
        job.lead_done = false;
        let Some(Step::Probe(p)) = first else {
            // Nothing to ask inside: the handshake was all.
            job.next = 0;
            self.end(id, End::Cancelled, now);
            return;
        };
        job.next = 1;
        job.probes_sent += 1;
        self.wakes
            .push(Reverse((after(now, self.opts.head_start), j)));
        let budget_end = after(started.unwrap_or(now), self.opts.port_budget);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.index = 0;
        c.gen = gen;
        c.step = Step::Probe(p);
        c.until = after(now, p.wait()).min(budget_end);
        c.quiet = None;
        c.checked_len = 0;
        c.checks = 0;
        if !p.payload().is_empty() {
            self.actions.push_back(Action::Send {
                id,
                data: p.payload(),
            });
        }
        if c.until < c.armed {
            c.armed = c.until;
            self.heap.push(Reverse((c.until, id)));
        }
    }

    /// Ends a connection (the driver closes it) and moves its job on.
    fn end(&mut self, id: ConnId, end: End, now: Instant) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        self.actions.push_back(Action::Close { id });
        let j = c.job;
        let opts = &self.opts;
        let tls_running = self
            .conns
            .values()
            .any(|o| o.job == j && matches!(o.step, Step::Tls));
        let Some(job) = self.jobs.get_mut(j) else {
            return;
        };
        job.running = job.running.saturating_sub(1);
        if c.gen != job.gen || job.done || matches!(end, End::Cancelled) {
            self.settle_job(j, now);
            return;
        }
        if c.index == 0 {
            job.lead_done = true;
        }
        let mut new_hard = None;
        match end {
            End::Cancelled => {}
            End::Failed(e) => {
                if job.probes_sent == 0 && job.running == 0 {
                    self.complete(j, Some(e), now);
                    return;
                }
                job.connect_error.get_or_insert(e);
            }
            // Inside a tunnel a failed handshake is a probe without a reply.
            End::Tls(e) if !job.in_tunnel() => job.tls = TlsState::Failed(e),
            End::Tls(_) => {}
            End::Reply => {
                if matches!(c.step, Step::Tls) && !job.in_tunnel() {
                    job.tls = TlsState::Failed(TlsError::Closed);
                }
                if let Step::Probe(p) = c.step {
                    let quick = c
                        .connected_at
                        .is_some_and(|t| now.saturating_duration_since(t) < WRAPPED_WITHIN);
                    if p.is_null()
                        && c.peer_closed
                        && quick
                        && c.reply.is_empty()
                        && !job.in_tunnel()
                    {
                        job.null_closed = true;
                    }
                    let m = self.db.identify(p, &c.reply);
                    let tlsish = looks_like_tls(&c.reply)
                        || m.as_ref()
                            .is_some_and(|m| TLS_SERVICES.contains(&m.service.as_str()));
                    if tlsish {
                        job.want_tls(opts, tls_running);
                    }
                    new_hard = job.record(c.index, m, &c.reply);
                }
            }
        }
        if let Some(index) = new_hard {
            self.trim(j, index, now);
        }
        self.ready.push_back(j);
        self.settle_job(j, now);
    }

    /// A hard match at step `index`: closes the job's later steps and gives earlier ones
    /// at most the settle time to beat it. A TLS step the job still wants is left alone.
    fn trim(&mut self, j: usize, index: usize, now: Instant) {
        let wants_tls = self.jobs.get(j).is_some_and(|job| job.wants_tls);
        let grace = after(now, self.opts.settle);
        let mut later = Vec::new();
        for (&t, c) in self.conns.iter_mut().filter(|(_, c)| c.job == j) {
            if matches!(c.step, Step::Tls) && wants_tls {
                continue;
            }
            if c.index > index {
                later.push(t);
            } else if c.until > grace {
                c.until = grace;
                if grace < c.armed {
                    c.armed = grace;
                    self.heap.push(Reverse((grace, t)));
                }
            }
        }
        later.sort_unstable();
        for t in later {
            self.end(t, End::Cancelled, now);
        }
    }

    /// Completes job `j` when nothing runs and nothing more will start.
    fn settle_job(&mut self, j: usize, now: Instant) {
        let opts = &self.opts;
        let Some(job) = self.jobs.get_mut(j) else {
            return;
        };
        if job.done || job.running > 0 {
            return;
        }
        if job.may_launch(opts, now) {
            return;
        }
        // Nothing runs: either a hard match blocks further steps or none is left.
        let out_of_time = job
            .started
            .is_some_and(|s| now >= after(s, opts.port_budget));
        let error = if job.probes_sent == 0 {
            job.connect_error.clone()
        } else if out_of_time && job.found.hard.is_none() {
            Some(PortError::OutOfTime)
        } else {
            None
        };
        self.complete(j, error, now);
    }

    fn complete(&mut self, j: usize, error: Option<PortError>, now: Instant) {
        let Some(job) = self.jobs.get_mut(j) else {
            return;
        };
        if job.done {
            return;
        }
        job.done = true;
        job.error = error;
        job.finished = Some(now);
        self.remaining = self.remaining.saturating_sub(1);
        let mut left: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.job == j)
            .map(|(&t, _)| t)
            .collect();
        left.sort_unstable();
        for t in left {
            self.end(t, End::Cancelled, now);
        }
    }
}

/// 3: the reply matched hard; 2: soft; 1: no match.
fn banner_rank(m: Option<&ServiceMatch>) -> u8 {
    match m {
        Some(m) if !m.soft => 3,
        Some(_) => 2,
        None => 1,
    }
}

/// `t + d`, or a time far in the future if that cannot be represented.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    t.checked_add(d).or_else(|| t.checked_add(FAR)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_ports_map_to_their_plain_protocols() {
        assert!(is_tls_port(443) && is_tls_port(993) && is_tls_port(8443));
        assert!(!is_tls_port(80) && !is_tls_port(4443));
        assert_eq!(plain_port(443), 80);
        assert_eq!(plain_port(993), 143);
        assert_eq!(plain_port(995), 110);
        assert_eq!(plain_port(4443), 4443);
    }

    #[test]
    fn tls_records_are_recognised() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x03, 0x00]));
        assert!(!looks_like_tls(&[0x16, 0x03]));
        assert!(!looks_like_tls(b"HTTP/1.1 400 Bad Request"));
        assert!(!looks_like_tls(&[0x17, 0x03, 0x03, 0x00]));
    }

    #[test]
    fn a_far_deadline_does_not_overflow() {
        let now = Instant::now();
        assert!(after(now, Duration::MAX) > now);
    }
}
