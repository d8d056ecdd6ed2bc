//! Service and version detection (`-sV`): talks to open TCP ports and asks the probe
//! database what answered.
//!
//! For every `(address, port)` a plan of steps is made: the probes of
//! [`ProbeDb::probes_for`] in order, and a TLS handshake ([`tls`]) — first on a usual TLS
//! port ([`tls::TLS_PORTS`]), second otherwise (from intensity 1, or as soon as a plain
//! reply looks like TLS). Each step is one new connection: connect, send the probe's
//! payload (nothing for the null probe, which waits for servers that speak first: SSH,
//! FTP, SMTP, POP3, IMAP, MySQL...), read the reply, and match it with
//! [`ProbeDb::identify`].
//!
//! A port's steps run in parallel, bounded by [`VersionOptions::per_port`]: the first
//! step runs alone for [`VersionOptions::head_start`] (a server that speaks first is then
//! identified with one connection), then the others join it. The hard match of the
//! earliest step in plan order wins: once one is found no further step starts, later
//! steps still running are closed, and earlier ones get at most
//! [`VersionOptions::settle`] more to beat it. A soft match (the service but not the
//! product) narrows the steps not started yet to those with hard rules for that service
//! ([`Probe::has_rules_for`]). So a port costs about its slowest useful probe, not the
//! sum of every probe's wait.
//!
//! When a TLS handshake succeeds (rustls, any certificate accepted: we inspect, we do not
//! trust), its version, cipher suite and certificate are kept, the plain steps still
//! running are closed, and the plan starts again inside the tunnel, with the probes of the
//! port's plaintext counterpart first ([`tls::plain_port`]: 443 → 80's). The handshake's
//! connection carries the first of them. The service is then what answered inside
//! ([`ServiceResult::in_tunnel`]), as nmap reports `ssl/http`.
//!
//! Everything is bounded, per connection, without global sleeps:
//! - a reply is read until the server closes, a hard match, [`MAX_REPLY_BYTES`], the
//!   probe's [`wait`](Probe::wait), or [`VersionOptions::settle`] of silence after the
//!   reply started, whichever comes first; a server that streams forever or never speaks
//!   costs one probe wait at most;
//! - a TLS handshake ends at [`VersionOptions::tls_wait`] or
//!   [`tls::MAX_HANDSHAKE_BYTES`] (a peer that stalls, streams or sends garbage);
//! - all steps of one port share [`VersionOptions::port_budget`].
//!
//! Ports and hosts are probed in parallel: non-blocking sockets under one `epoll`, at most
//! [`VersionOptions::max_parallel`] connections at once and never more than the open-file
//! limit allows (raised to its hard maximum first); running out of descriptors (EMFILE)
//! lowers the parallelism (back-pressure), it is not an error. Sockets close with linger 0
//! (RST), so no TIME_WAIT piles up.
//!
//! Per-port failures (refused, connect timeout, budget exhausted, stopped) are kept in
//! [`ServiceResult::error`]; only failures of the machinery itself (epoll, sockets, the
//! interface) end [`detect`] with an error.

// TLS and certificates serve version detection only: they live under it.
#[path = "tls.rs"]
pub mod tls;
#[path = "x509.rs"]
pub mod x509;
// The UDP side shares the options, results and probe database.
#[path = "udp_version.rs"]
pub mod udp;

pub use self::udp::detect_udp;

use self::tls::{is_tls_port, looks_like_tls, plain_port, Pumped, TlsError, TlsStream};
use crate::connect::raise_nofile_limit;
use crate::NetError;
use monban_engine::types::{Protocol, ServiceDetail, TlsDetail};
use monban_probes::{clean, Probe, ProbeDb, ServiceMatch, Transport, MAX_REPLY_BYTES};
use socket2::{Domain, SockAddr, Socket, Type};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// At most this many leading bytes of a reply make up [`ServiceResult::banner`].
pub const BANNER_BYTES: usize = 256;

/// Descriptors kept free for outputs and the rest of the process.
const RESERVED_FDS: u64 = 64;
/// Longest sleep between looks at the stop flag.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Bytes read per `read` call.
const CHUNK: usize = 4096;
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

/// How [`detect`] probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionOptions {
    /// 0 to 9 (`--version-intensity`): probes rarer than this are not tried, unless they
    /// list the port. Values above 9 act as 9.
    pub intensity: u8,
    /// Most connections open at once (also bounded by the open-file limit); 0 acts as 1.
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
    /// Network interface to bind the sockets to (`-e`).
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

/// What detection found on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceResult {
    /// The target address.
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
    /// TCP ([`detect`]) or UDP ([`detect_udp`]).
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
    /// Probes that got a connection (the null probe and TLS handshakes included).
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
    /// The result as a report entry ([`monban_engine::HostReport::services`]): `None` when
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

/// Identifies the services on `targets` (open TCP ports) with `db` (usually
/// [`ProbeDb::builtin`]).
///
/// Returns one result per target, in the order of `targets`. Setting `stop` ends the run
/// early; unfinished ports then carry [`PortError::Stopped`]. Errors only when the
/// machinery fails (epoll, no socket can be created at all, a bad interface).
pub fn detect(
    db: &ProbeDb,
    targets: &[(IpAddr, u16)],
    opts: &VersionOptions,
    stop: &AtomicBool,
) -> Result<Vec<ServiceResult>, NetError> {
    let limit = connection_limit(opts);
    let mut d = Driver {
        db,
        opts,
        jobs: targets
            .iter()
            .map(|&(addr, port)| Job::new(db, addr, port, opts))
            .collect(),
        conns: HashMap::new(),
        heap: BinaryHeap::new(),
        wakes: BinaryHeap::new(),
        ready: (0..targets.len()).collect(),
        remaining: targets.len(),
        next_token: 0,
        limit,
        ep: epoll()?,
    };
    d.run(stop)?;
    Ok(d.jobs.into_iter().map(Job::into_result).collect())
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
            .probes_for(port, Transport::Tcp, opts.intensity)
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

    /// Skips the steps a soft match ruled out; the next step worth starting, if any.
    fn peek_step(&mut self) -> Option<(usize, Step<'a>)> {
        while let Some(&step) = self.plan.get(self.next) {
            match (&self.found.soft, step) {
                (Some((_, m)), Step::Probe(p)) if !p.has_rules_for(&m.service) => self.next += 1,
                _ => return Some((self.next, step)),
            }
        }
        None
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

/// One connection carrying one step.
struct Conn<'a> {
    job: usize,
    /// Index of the step in its job's plan, and the plan's generation.
    index: usize,
    gen: u32,
    step: Step<'a>,
    sock: Socket,
    /// The TLS session, for TLS steps and for every step inside a tunnel.
    tls: Option<Box<TlsStream>>,
    connected: bool,
    /// Whether EPOLLOUT is asked for.
    writable: bool,
    /// Payload bytes written so far (plain text).
    written: usize,
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

    fn payload(&self) -> &[u8] {
        match self.step {
            Step::Probe(p) => p.payload(),
            Step::Tls => &[],
        }
    }

    fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
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

struct Driver<'a, 'o> {
    db: &'a ProbeDb,
    opts: &'o VersionOptions,
    jobs: Vec<Job<'a>>,
    conns: HashMap<u64, Conn<'a>>,
    /// Connection deadlines, earliest first; stale entries are skipped when popped.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// When jobs waiting for a head start to pass may start more steps.
    wakes: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Jobs that may be able to start a step.
    ready: VecDeque<usize>,
    /// Jobs not done yet.
    remaining: usize,
    next_token: u64,
    limit: usize,
    ep: OwnedFd,
}

/// Result of trying to start a job's next step.
enum Launch {
    /// A connection is in flight, or there was nothing to start.
    Ok,
    /// Out of descriptors: try again when a connection closes.
    Busy(io::Error),
}

impl<'a> Driver<'a, '_> {
    fn run(&mut self, stop: &AtomicBool) -> Result<(), NetError> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            if stop.load(Ordering::Relaxed) {
                self.stop_all();
                return Ok(());
            }
            let now = Instant::now();
            self.expire(now);
            // Each pass starts at most one step per job, so ports share the slots.
            let mut passes = self.ready.len();
            while self.conns.len() < self.limit && passes > 0 {
                passes -= 1;
                let Some(j) = self.ready.pop_front() else {
                    break;
                };
                match self.launch(j, now)? {
                    Launch::Ok => {
                        let again = self
                            .jobs
                            .get_mut(j)
                            .is_some_and(|job| job.may_launch(self.opts, now));
                        if again {
                            self.ready.push_back(j);
                            passes += 1;
                        }
                    }
                    Launch::Busy(e) => {
                        self.ready.push_front(j);
                        if self.conns.is_empty() {
                            // Nothing of ours will free a descriptor: no progress is possible.
                            return Err(NetError::Io {
                                what: "socket",
                                source: e,
                            });
                        }
                        self.limit = self.conns.len();
                        break;
                    }
                }
            }
            if self.remaining == 0 {
                return Ok(());
            }
            let n = self.wait(&mut events)?;
            let now = Instant::now();
            for ev in events.iter().take(n) {
                self.on_event(ev.u64, ev.events, now);
            }
        }
    }

    /// Waits for socket events until the next deadline (at most [`MAX_SLEEP`]).
    fn wait(&self, events: &mut [libc::epoll_event]) -> Result<usize, NetError> {
        let now = Instant::now();
        let next = [
            self.heap.peek().map(|Reverse((t, _))| *t),
            self.wakes.peek().map(|Reverse((t, _))| *t),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = next
            .map_or(MAX_SLEEP, |t| t.saturating_duration_since(now))
            .min(MAX_SLEEP);
        // Round up so that a deadline is never polled for in a busy loop.
        let ms = sleep.as_micros().div_ceil(1000);
        let ms = i32::try_from(ms).unwrap_or(i32::MAX);
        let len = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: `events` is a live buffer of at least `len` entries.
        let n = unsafe { libc::epoll_wait(self.ep.as_raw_fd(), events.as_mut_ptr(), len, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(NetError::Io {
                what: "epoll_wait",
                source: e,
            });
        }
        Ok(usize::try_from(n).unwrap_or(0))
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
        while let Some(&Reverse((t, token))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let Some(c) = self.conns.get_mut(&token) else {
                continue; // already ended
            };
            let due = c.deadline();
            if due > now {
                c.armed = due;
                self.heap.push(Reverse((due, token)));
                continue;
            }
            let end = if !c.connected {
                End::Failed(PortError::ConnectTimeout)
            } else if c.handshaking() {
                End::Tls(TlsError::Timeout)
            } else {
                End::Reply
            };
            self.end(token, end, now);
        }
    }

    /// Starts job `j`'s next step, or finishes the job if nothing is left to do.
    fn launch(&mut self, j: usize, now: Instant) -> Result<Launch, NetError> {
        let budget = self.opts.port_budget;
        let opts = self.opts;
        let Some(job) = self.jobs.get_mut(j) else {
            return Ok(Launch::Ok);
        };
        if !job.may_launch(opts, now) {
            self.settle_job(j, now);
            return Ok(Launch::Ok);
        }
        let Some((index, step)) = job.peek_step() else {
            return Ok(Launch::Ok);
        };
        let budget_end = after(job.started.unwrap_or(now), budget);
        if now >= budget_end {
            if job.running == 0 {
                self.complete(j, Some(PortError::OutOfTime), now);
            }
            return Ok(Launch::Ok);
        }
        let addr = SocketAddr::new(job.addr, job.port);
        let in_tunnel = job.in_tunnel();
        let gen = job.gen;
        let tls = match (step, in_tunnel) {
            (Step::Tls, _) | (Step::Probe(_), true) => match TlsStream::new(job.addr) {
                Ok(t) => Some(Box::new(t)),
                Err(e) => {
                    // Without a TLS client this step cannot run; the plan goes on.
                    job.next = index + 1;
                    job.tls = TlsState::Failed(e);
                    self.ready.push_back(j);
                    return Ok(Launch::Ok);
                }
            },
            (Step::Probe(_), false) => None,
        };
        let sock = match self.socket(addr) {
            Ok(s) => s,
            Err(e) if is_fd_exhaustion(&e) => return Ok(Launch::Busy(e)),
            Err(e) => return Err(self.socket_error(e)),
        };
        match sock.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if is_fd_exhaustion(&e) => return Ok(Launch::Busy(e)),
            Err(e) => {
                let Some(job) = self.jobs.get_mut(j) else {
                    return Ok(Launch::Ok);
                };
                job.next = index + 1;
                if job.probes_sent == 0 && job.running == 0 {
                    // The port cannot be reached at all.
                    self.complete(j, Some(connect_error(&e)), now);
                } else {
                    job.connect_error.get_or_insert(connect_error(&e));
                    self.settle_job(j, now);
                }
                return Ok(Launch::Ok);
            }
        }
        let Some(job) = self.jobs.get_mut(j) else {
            return Ok(Launch::Ok);
        };
        job.next = index + 1;
        job.running += 1;
        job.started.get_or_insert(now);
        let token = self.next_token;
        self.next_token += 1;
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP;
        epoll_ctl(&self.ep, libc::EPOLL_CTL_ADD, &sock, events, token)?;
        let until = after(now, self.step_wait(step)).min(budget_end);
        let mut conn = Conn {
            job: j,
            index,
            gen,
            step,
            sock,
            tls,
            connected: false,
            writable: true,
            written: 0,
            reply: Vec::new(),
            checked_len: 0,
            checks: 0,
            until,
            quiet: None,
            armed: until,
            peer_closed: false,
            connected_at: None,
        };
        if let (Some(t), Step::Probe(p)) = (conn.tls.as_mut(), step) {
            t.send_after_handshake(p.payload());
        }
        self.heap.push(Reverse((until, token)));
        self.conns.insert(token, conn);
        Ok(Launch::Ok)
    }

    /// The longest a step may take: its probe's wait; a TLS handshake's wait.
    fn step_wait(&self, step: Step<'_>) -> Duration {
        match step {
            Step::Probe(p) => p.wait(),
            Step::Tls => self.opts.tls_wait,
        }
    }

    /// A non-blocking stream socket towards `addr`, closing with RST.
    fn socket(&self, addr: SocketAddr) -> io::Result<Socket> {
        let sock = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            None,
        )?;
        sock.set_linger(Some(Duration::ZERO))?;
        if let Some(ifname) = &self.opts.interface {
            sock.bind_device(Some(ifname.as_bytes()))?;
        }
        Ok(sock)
    }

    fn socket_error(&self, e: io::Error) -> NetError {
        socket_error(self.opts, e)
    }

    fn on_event(&mut self, token: u64, events: u32, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if !c.connected {
            let reset = match c.sock.take_error() {
                Ok(None) => false,
                // Connected, then reset by the server before we looked.
                Ok(Some(e)) if is_reset(&e) => true,
                Ok(Some(e)) | Err(e) => {
                    let end = End::Failed(connect_error(&e));
                    self.end(token, end, now);
                    return;
                }
            };
            c.connected = true;
            c.connected_at = Some(now);
            let wait = match c.step {
                Step::Probe(p) => p.wait(),
                Step::Tls => self.opts.tls_wait,
            };
            let index = c.index;
            let job = self.jobs.get_mut(c.job);
            let started = job.map(|job| {
                job.probes_sent += 1;
                if index == 0 {
                    job.lead_since = Some(now);
                }
                job.started
            });
            if index == 0 {
                self.wakes
                    .push(Reverse((after(now, self.opts.head_start), c.job)));
            }
            let started = started.flatten();
            let until = after(now, wait);
            c.until = started.map_or(until, |s| until.min(after(s, self.opts.port_budget)));
            if reset {
                c.peer_closed = true;
                let end = if c.tls.is_some() {
                    End::Tls(TlsError::Closed)
                } else {
                    End::Reply
                };
                self.end(token, end, now);
                return;
            }
        }
        if c.tls.is_some() {
            self.on_tls_event(token, now);
        } else {
            self.on_plain_event(token, events, now);
        }
    }

    fn on_plain_event(&mut self, token: u64, events: u32, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        let payload_len = c.payload().len();
        if c.written < payload_len {
            let rest = c.payload().get(c.written..).unwrap_or_default();
            match c.sock.send_with_flags(rest, libc::MSG_NOSIGNAL) {
                Ok(n) => c.written += n,
                Err(e) if is_transient(&e) => {}
                // The peer is gone; whatever it said before is read below.
                Err(_) => c.written = payload_len,
            }
        }
        let writing = c.written < payload_len;
        if !writing && events & libc::EPOLLOUT as u32 != 0 && !self.set_writable(token, false) {
            self.end(token, End::Reply, now);
            return;
        }
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        let before = c.reply.len();
        let mut chunk = [0u8; CHUNK];
        let finished = loop {
            let room = MAX_REPLY_BYTES.saturating_sub(c.reply.len()).min(CHUNK);
            let Some(buf) = chunk.get_mut(..room).filter(|b| !b.is_empty()) else {
                break true; // read as much as we ever look at
            };
            match (&c.sock).read(buf) {
                Ok(0) => {
                    c.peer_closed = true;
                    break true;
                }
                Ok(n) => c.reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(_) => {
                    // Reset: keep what arrived.
                    c.peer_closed = true;
                    break true;
                }
            }
        };
        if finished {
            self.end(token, End::Reply, now);
            return;
        }
        self.on_reply_growth(token, before, now);
    }

    fn on_tls_event(&mut self, token: u64, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        let Some(tls) = c.tls.as_mut() else {
            return;
        };
        let was_handshaking = tls.is_handshaking();
        let before = c.reply.len();
        let pumped = tls.pump(&c.sock, &mut c.reply, MAX_REPLY_BYTES);
        let up = was_handshaking && !tls.is_handshaking();
        let wants_write = tls.wants_write();
        match pumped {
            Pumped::Failed(e) => {
                let end = if was_handshaking {
                    End::Tls(e)
                } else {
                    End::Reply
                };
                self.end(token, end, now);
                return;
            }
            Pumped::Closed if !up => {
                self.end(token, End::Reply, now);
                return;
            }
            Pumped::Closed | Pumped::Pending => {}
        }
        if up && matches!(c.step, Step::Tls) {
            self.tls_up(token, now);
            return;
        }
        if wants_write != c.writable && !self.set_writable(token, wants_write) {
            self.end(token, End::Reply, now);
            return;
        }
        if matches!(pumped, Pumped::Closed) {
            self.end(token, End::Reply, now);
            return;
        }
        self.on_reply_growth(token, before, now);
    }

    /// Asks for writability or stops asking; false if epoll refused.
    fn set_writable(&mut self, token: u64, on: bool) -> bool {
        let Some(c) = self.conns.get_mut(&token) else {
            return true;
        };
        let mut ev = libc::EPOLLIN | libc::EPOLLRDHUP;
        if on {
            ev |= libc::EPOLLOUT;
        }
        c.writable = on;
        epoll_ctl(&self.ep, libc::EPOLL_CTL_MOD, &c.sock, ev, token).is_ok()
    }

    /// After new reply bytes: an early match attempt and the settle timer.
    fn on_reply_growth(&mut self, token: u64, before: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if c.reply.len() == before {
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
                    self.end(token, End::Reply, now);
                    return;
                }
            }
        }
        c.quiet = Some(after(now, self.opts.settle));
        let due = c.deadline();
        if due < c.armed {
            c.armed = due;
            self.heap.push(Reverse((due, token)));
        }
    }

    /// A TLS step's handshake finished: keep what it showed, close the plain-text steps,
    /// and start the plan again inside the tunnel, on this connection first.
    fn tls_up(&mut self, token: u64, now: Instant) {
        let Some(c) = self.conns.get(&token) else {
            return;
        };
        let j = c.job;
        let detail = c.tls.as_ref().and_then(|t| t.detail());
        let (Some(job), Some(detail)) = (self.jobs.get_mut(j), detail) else {
            return;
        };
        job.tls = TlsState::Up(Box::new(detail));
        job.plain = Some(std::mem::take(&mut job.found));
        job.gen += 1;
        job.wants_tls = false;
        job.plan = self
            .db
            .probes_for(plain_port(job.port), Transport::Tcp, job.intensity)
            .map(Step::Probe)
            .collect();
        let gen = job.gen;
        let first = job.plan.first().copied();
        let started = job.started;
        // This connection stays; every other one of the port is plain text.
        let others: Vec<u64> = self
            .conns
            .iter()
            .filter(|(&t, c)| c.job == j && t != token)
            .map(|(&t, _)| t)
            .collect();
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
            self.end(token, End::Cancelled, now);
            return;
        };
        job.next = 1;
        job.probes_sent += 1;
        self.wakes
            .push(Reverse((after(now, self.opts.head_start), j)));
        let budget_end = after(started.unwrap_or(now), self.opts.port_budget);
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        c.index = 0;
        c.gen = gen;
        c.step = Step::Probe(p);
        c.until = after(now, p.wait()).min(budget_end);
        c.quiet = None;
        c.checked_len = 0;
        c.checks = 0;
        if let Some(t) = c.tls.as_mut() {
            t.send_after_handshake(p.payload());
        }
        if c.until < c.armed {
            c.armed = c.until;
            self.heap.push(Reverse((c.until, token)));
        }
        // Send the first probe and read what came with the end of the handshake.
        self.on_tls_event(token, now);
    }

    /// Ends a connection (dropping the socket sends RST) and moves its job on.
    fn end(&mut self, token: u64, end: End, now: Instant) {
        let Some(c) = self.conns.remove(&token) else {
            return;
        };
        // Deregister before the descriptor closes; a failure here changes nothing.
        let _ = epoll_ctl(&self.ep, libc::EPOLL_CTL_DEL, &c.sock, 0, token);
        drop(c.sock);
        let j = c.job;
        let opts = self.opts;
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
        for t in later {
            self.end(t, End::Cancelled, now);
        }
    }

    /// Completes job `j` when nothing runs and nothing more will start.
    fn settle_job(&mut self, j: usize, now: Instant) {
        let opts = self.opts;
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
        let left: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.job == j)
            .map(|(&t, _)| t)
            .collect();
        for t in left {
            self.end(t, End::Cancelled, now);
        }
    }

    fn stop_all(&mut self) {
        let now = Instant::now();
        self.conns.clear();
        for j in 0..self.jobs.len() {
            self.complete(j, Some(PortError::Stopped), now);
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

fn connect_error(e: &io::Error) -> PortError {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => PortError::Refused,
        Some(libc::ETIMEDOUT) => PortError::ConnectTimeout,
        Some(errno) => PortError::Connect { errno },
        None => PortError::Connect { errno: libc::EIO },
    }
}

/// How many sockets may be open at once: [`VersionOptions::max_parallel`], within the
/// open-file limit (raised to its hard maximum first) less [`RESERVED_FDS`].
fn connection_limit(opts: &VersionOptions) -> usize {
    let fd_budget = raise_nofile_limit().saturating_sub(RESERVED_FDS).max(8);
    opts.max_parallel
        .clamp(1, usize::try_from(fd_budget).unwrap_or(usize::MAX))
}

/// A socket's creation failed: a bad `-e` interface is named, anything else is I/O.
fn socket_error(opts: &VersionOptions, e: io::Error) -> NetError {
    match (&opts.interface, e.raw_os_error()) {
        (Some(name), Some(libc::ENODEV)) => NetError::NoSuchInterface(name.clone()),
        _ => NetError::Io {
            what: "socket",
            source: e,
        },
    }
}

/// `t + d`, or a time far in the future if that cannot be represented.
fn after(t: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    t.checked_add(d).or_else(|| t.checked_add(FAR)).unwrap_or(t)
}

fn is_reset(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ECONNRESET) | Some(libc::EPIPE))
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

fn epoll() -> Result<OwnedFd, NetError> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(NetError::Io {
            what: "epoll_create",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn epoll_ctl(
    ep: &OwnedFd,
    op: libc::c_int,
    sock: &Socket,
    events: libc::c_int,
    token: u64,
) -> Result<(), NetError> {
    let fd: RawFd = sock.as_raw_fd();
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: token,
    };
    // SAFETY: both descriptors are open; `ev` is a live epoll_event.
    if unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) } < 0 {
        return Err(NetError::Io {
            what: "epoll_ctl",
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
    use std::sync::Arc;
    use tls::TlsError;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A small database with short waits; on an unlisted port at intensity 9 the plan is
    /// NULL, Hello, Other, Thing.
    const TEST_DB: &str = r#"
probe NULL tcp
  send null
  rarity 1
  wait 300ms
  match ssh
    regex ^SSH-([\d.]+)-(\S+)
    product $2
probe Hello tcp
  send "HELLO\r\n"
  rarity 1
  wait 300ms
  softmatch thing
    regex ^THING\r\n
  match echo
    regex ^HELLO\r\n
    product echo server
probe Other tcp
  send "OTHER\r\n"
  rarity 2
  wait 300ms
  match other
    regex ^OTHER\r\n
    product other server
probe Thing tcp
  send "THING?\r\n"
  rarity 2
  wait 300ms
  match thing
    regex ^THING (\d+)\r\n
    product thingd
    version $1
"#;

    fn test_db() -> ProbeDb {
        ProbeDb::parse(TEST_DB).unwrap()
    }

    /// Serves each connection of a fresh loopback listener on its own thread.
    fn serve_on(ip: IpAddr, handler: fn(TcpStream)) -> u16 {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                std::thread::spawn(move || handler(s));
            }
        });
        port
    }

    fn serve(handler: fn(TcpStream)) -> u16 {
        serve_on(LOOPBACK, handler)
    }

    /// Reads until the client goes away.
    fn drain(mut s: TcpStream) {
        let mut buf = [0u8; 512];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    }

    fn ssh_server(mut s: TcpStream) {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
        drain(s);
    }

    /// Answers only a GET, and only once the request head is complete.
    fn http_server(s: TcpStream) {
        http_on(s);
    }

    fn http_on<S: Read + Write>(s: S) {
        let mut r = BufReader::new(s);
        let mut head = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(n) if n > 0 => head.extend_from_slice(&line),
                _ => return,
            }
            if line == b"\r\n" {
                break;
            }
        }
        if !head.starts_with(b"GET ") {
            return;
        }
        let body = "<html><head><title>Welcome to nginx!</title></head></html>\n";
        let reply = format!(
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = r.get_mut().write_all(reply.as_bytes());
        let _ = r.get_mut().flush();
    }

    /// Line-based: HELLO draws a soft "THING", THING? the version, OTHER a hard match
    /// for another service (so sending it would show).
    fn thing_server(s: TcpStream) {
        let mut r = BufReader::new(s);
        let mut line = String::new();
        while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
            let reply: &[u8] = match line.as_str() {
                "HELLO\r\n" => b"THING\r\n",
                "THING?\r\n" => b"THING 42\r\n",
                "OTHER\r\n" => b"OTHER\r\n",
                _ => b"",
            };
            if r.get_mut().write_all(reply).is_err() {
                return;
            }
            line.clear();
        }
    }

    fn endless_server(mut s: TcpStream) {
        let chunk = [b'x'; 4096];
        if s.write_all(b"STREAM ").is_err() {
            return;
        }
        while s.write_all(&chunk).is_ok() {}
    }

    fn trickle_server(mut s: TcpStream) {
        while s.write_all(b"x\n").is_ok() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn greeting_server(mut s: TcpStream) {
        let _ = s.write_all(b"UNKNOWN GREETING\r\n");
        drain(s);
    }

    fn closing_server(s: TcpStream) {
        drop(s);
    }

    /// Every probe of the test database, no TLS step: NULL, Hello, Other, Thing.
    fn fast() -> VersionOptions {
        VersionOptions {
            intensity: 9,
            tls: false,
            ..VersionOptions::default()
        }
    }

    /// The same, one probe after the other.
    fn serial() -> VersionOptions {
        VersionOptions {
            per_port: 1,
            ..fast()
        }
    }

    fn run(db: &ProbeDb, targets: &[(IpAddr, u16)], opts: &VersionOptions) -> Vec<ServiceResult> {
        let stop = AtomicBool::new(false);
        detect(db, targets, opts, &stop).unwrap()
    }

    fn one(db: &ProbeDb, port: u16, opts: &VersionOptions) -> (ServiceResult, Duration) {
        let t = Instant::now();
        let mut r = run(db, &[(LOOPBACK, port)], opts);
        assert_eq!(r.len(), 1);
        (r.remove(0), t.elapsed())
    }

    #[test]
    fn ssh_banner_is_identified_by_the_builtin_database() {
        let db = ProbeDb::builtin().unwrap();
        let port = serve(ssh_server);
        let (r, took) = one(db, port, &VersionOptions::default());
        let m = r.service.unwrap();
        assert_eq!(m.service, "ssh");
        assert_eq!(m.product.as_deref(), Some("OpenSSH"));
        assert_eq!(m.version.as_deref(), Some("9.2p1"));
        assert_eq!(m.info.as_deref(), Some("Debian 2+deb12u3; protocol 2.0"));
        assert_eq!(m.os.as_deref(), Some("Linux"));
        assert!(!m.soft);
        assert_eq!(r.probes_sent, 1);
        assert_eq!(
            r.banner.as_deref(),
            Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")
        );
        assert_eq!(r.error, None);
        assert_eq!((r.addr, r.port), (LOOPBACK, port));
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    #[test]
    fn ssh_banner_over_ipv6() {
        let db = ProbeDb::builtin().unwrap();
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let port = serve_on(v6, ssh_server);
        let r = run(db, &[(v6, port)], &VersionOptions::default());
        let m = r.first().and_then(|r| r.service.clone()).unwrap();
        assert_eq!(m.product.as_deref(), Some("OpenSSH"));
        assert_eq!(m.version.as_deref(), Some("9.2p1"));
    }

    #[test]
    fn http_needs_a_get_after_the_null_probe() {
        let db = ProbeDb::builtin().unwrap();
        let port = serve(http_server);
        let opts = VersionOptions {
            intensity: 1,
            tls: false,
            ..VersionOptions::default()
        };
        let plan: Vec<&str> = db
            .probes_for(port, Transport::Tcp, 1)
            .map(|p| p.name())
            .collect();
        assert_eq!(plan, ["NULL", "GetRequest"]);
        let (r, took) = one(db, port, &opts);
        let m = r.service.unwrap();
        assert_eq!(m.service, "http");
        assert_eq!(m.product.as_deref(), Some("nginx"));
        assert_eq!(m.version.as_deref(), Some("1.22.1"));
        assert_eq!(m.info.as_deref(), Some("title: Welcome to nginx!"));
        assert_eq!(r.probes_sent, 2);
        assert!(r
            .banner
            .unwrap()
            .starts_with("HTTP/1.1 200 OK Server: nginx/1.22.1 "));
        assert_eq!(
            (r.error, r.tls, r.tls_error, r.in_tunnel),
            (None, None, None, false)
        );
        // The null probe runs alone for the head start, then GET answers at once; the
        // silent null probe, earlier in the plan, then gets the settle time to beat it.
        let least = opts.head_start + opts.settle;
        assert!(
            took >= least && took < least + Duration::from_millis(400),
            "{took:?}"
        );
    }

    #[test]
    fn a_soft_match_narrows_the_remaining_probes() {
        let db = test_db();
        let port = serve(thing_server);
        let (r, _) = one(&db, port, &serial());
        let m = r.service.unwrap();
        assert_eq!(m.service, "thing");
        assert_eq!(m.product.as_deref(), Some("thingd"));
        assert_eq!(m.version.as_deref(), Some("42"));
        assert!(!m.soft);
        // NULL (silent), Hello (soft: thing), Thing; Other has no rules for thing.
        assert_eq!(r.probes_sent, 3);
        assert_eq!(r.banner.as_deref(), Some("THING 42"));
    }

    #[test]
    fn in_parallel_the_earliest_hard_match_wins() {
        let db = test_db();
        let port = serve(thing_server);
        let (r, took) = one(&db, port, &fast());
        // Hello, Other and Thing start together after the head start; Other (plan index
        // 2) and Thing (3) both match hard, and Other comes first in the plan.
        let m = r.service.unwrap();
        assert_eq!(
            (m.service.as_str(), m.product.as_deref()),
            ("other", Some("other server"))
        );
        // Thing is closed when Other's answer comes first, connected or not yet.
        assert!((3..=4).contains(&r.probes_sent), "{}", r.probes_sent);
        assert_eq!(r.banner.as_deref(), Some("OTHER"));
        // Hello (index 1, before Other) got a soft reply and runs to its 300 ms wait:
        // an earlier step may still beat a later hard match.
        let least = fast().head_start + Duration::from_millis(300);
        assert!(
            took >= least && took < least + Duration::from_millis(300),
            "{took:?}"
        );
    }

    #[test]
    fn a_silent_server_costs_each_probe_its_wait_and_no_more() {
        let db = test_db();
        let port = serve(drain);
        let (r, took) = one(&db, port, &serial());
        assert_eq!(r.service, None);
        assert_eq!(r.probes_sent, 4);
        assert_eq!(r.banner, None);
        assert_eq!(r.error, None);
        let waits = Duration::from_millis(4 * 300);
        assert!(
            took >= waits && took < waits + Duration::from_millis(800),
            "{took:?}"
        );
        assert!(r.elapsed >= waits && r.elapsed <= took, "{:?}", r.elapsed);
    }

    #[test]
    fn in_parallel_a_silent_server_costs_the_head_start_and_one_wait() {
        let db = test_db();
        let port = serve(drain);
        let (r, took) = one(&db, port, &fast());
        assert_eq!(
            (r.service, r.probes_sent, r.banner, r.error),
            (None, 4, None, None)
        );
        // NULL alone for 300 ms (its whole wait), then the other three together.
        let least = Duration::from_millis(600);
        assert!(
            took >= least && took < least + Duration::from_millis(400),
            "{took:?}"
        );
    }

    #[test]
    fn the_port_budget_cuts_a_silent_server_short() {
        let db = test_db();
        let port = serve(drain);
        let opts = VersionOptions {
            port_budget: Duration::from_millis(500),
            ..serial()
        };
        let (r, took) = one(&db, port, &opts);
        assert_eq!(r.service, None);
        // NULL waits 300 ms, Hello is cut at 500 ms, Other never starts.
        assert_eq!(r.probes_sent, 2);
        assert_eq!(r.error, Some(PortError::OutOfTime));
        assert!(took >= Duration::from_millis(500), "{took:?}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
        // In parallel every probe starts, and the budget cuts them all.
        let opts = VersionOptions {
            port_budget: Duration::from_millis(500),
            ..fast()
        };
        let (r, took) = one(&db, port, &opts);
        assert_eq!((r.probes_sent, r.error), (4, Some(PortError::OutOfTime)));
        assert!(took >= Duration::from_millis(500), "{took:?}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
    }

    #[test]
    fn an_endless_banner_is_read_up_to_the_limit_only() {
        let db = test_db();
        let port = serve(endless_server);
        let (r, took) = one(&db, port, &fast());
        assert_eq!(r.service, None);
        assert_eq!(r.probes_sent, 4);
        let want = format!("STREAM {}", "x".repeat(BANNER_BYTES - 7));
        assert_eq!(r.banner.as_deref(), Some(want.as_str()));
        // Each probe ends when MAX_REPLY_BYTES are in, long before its 300 ms wait.
        assert!(took < Duration::from_millis(600), "{took:?}");
    }

    #[test]
    fn a_trickling_server_ends_at_the_probe_wait() {
        let db = test_db();
        let port = serve(trickle_server);
        let (r, took) = one(&db, port, &fast());
        assert_eq!(r.service, None);
        assert_eq!(r.probes_sent, 4);
        assert!(r.banner.unwrap().starts_with("x x x"));
        // NULL's 300 ms alone, then three 300 ms waits side by side.
        let waits = Duration::from_millis(2 * 300);
        assert!(
            took >= waits && took < waits + Duration::from_millis(500),
            "{took:?}"
        );
    }

    #[test]
    fn silence_after_an_unknown_reply_ends_the_probe() {
        let db = test_db();
        let port = serve(greeting_server);
        let opts = VersionOptions {
            settle: Duration::from_millis(50),
            ..serial()
        };
        let (r, took) = one(&db, port, &opts);
        assert_eq!(r.service, None);
        assert_eq!(r.probes_sent, 4);
        assert_eq!(r.banner.as_deref(), Some("UNKNOWN GREETING"));
        // Four 50 ms settles, not four 300 ms waits.
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_millis(700), "{took:?}");
    }

    #[test]
    fn a_server_that_closes_at_once_gets_every_probe_quickly() {
        let db = test_db();
        let port = serve(closing_server);
        let (r, took) = one(&db, port, &fast());
        // Accepted and closed without a word, to the null probe and every other one:
        // nmap's `tcpwrapped`, with no product.
        let m = r.service.unwrap();
        assert_eq!((m.service.as_str(), m.product), (TCPWRAPPED, None));
        assert_eq!(r.probes_sent, 4);
        assert_eq!(r.banner, None);
        assert!(!r.answered);
        assert_eq!(r.error, None);
        assert!(took < Duration::from_millis(600), "{took:?}");
    }

    #[test]
    fn a_closed_port_is_refused() {
        let db = test_db();
        let port = {
            let l = TcpListener::bind((LOOPBACK, 0)).unwrap();
            l.local_addr().unwrap().port()
        };
        let (r, _) = one(&db, port, &fast());
        assert_eq!(r.service, None);
        assert_eq!(r.probes_sent, 0);
        assert_eq!(r.error, Some(PortError::Refused));
    }

    #[test]
    fn ports_are_probed_in_parallel_and_results_keep_target_order() {
        let db = test_db();
        let silent = serve(drain);
        let ssh = serve(ssh_server);
        let mut targets = vec![(LOOPBACK, silent); 20];
        targets.insert(7, (LOOPBACK, ssh));
        let t = Instant::now();
        let r = run(&db, &targets, &fast());
        let took = t.elapsed();
        assert_eq!(r.len(), 21);
        for (i, r) in r.iter().enumerate() {
            if i == 7 {
                let m = r.service.as_ref().unwrap();
                assert_eq!((r.port, m.product.as_deref()), (ssh, Some("OpenSSH_9.2p1")));
                assert_eq!(r.probes_sent, 1);
            } else {
                assert_eq!((r.port, &r.service, r.probes_sent), (silent, &None, 4));
            }
        }
        // In series this would take 20 x 1.2 s; each port takes 0.6 s, all at once.
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }

    #[test]
    fn max_parallel_bounds_the_connections() {
        let db = test_db();
        let silent = serve(drain);
        let opts = VersionOptions {
            max_parallel: 1,
            ..fast()
        };
        // (per_port stays 6: the global limit wins.)
        let t = Instant::now();
        let r = run(&db, &[(LOOPBACK, silent), (LOOPBACK, silent)], &opts);
        let took = t.elapsed();
        assert_eq!(r.iter().map(|r| r.probes_sent).sum::<u32>(), 8);
        // One connection at a time: eight 300 ms waits back to back.
        assert!(took >= Duration::from_millis(2400), "{took:?}");
    }

    #[test]
    fn the_stop_flag_ends_everything() {
        let db = test_db();
        let port = serve(drain);
        let stop = AtomicBool::new(true);
        let t = Instant::now();
        let r = detect(&db, &[(LOOPBACK, port), (LOOPBACK, port)], &fast(), &stop).unwrap();
        assert!(t.elapsed() < Duration::from_millis(100));
        assert_eq!(r.len(), 2);
        for r in r {
            assert_eq!((r.probes_sent, r.error), (0, Some(PortError::Stopped)));
        }
    }

    #[test]
    fn an_unknown_interface_is_a_typed_error() {
        let db = test_db();
        let port = serve(drain);
        let opts = VersionOptions {
            interface: Some("monban-none0".into()),
            ..fast()
        };
        let stop = AtomicBool::new(false);
        let e = detect(&db, &[(LOOPBACK, port)], &opts, &stop).unwrap_err();
        assert!(
            matches!(&e, NetError::NoSuchInterface(n) if n == "monban-none0"),
            "{e:?}"
        );
    }

    // ---- TLS ----

    /// A rustls server speaking `versions` with the test certificate.
    fn tls_config(
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(tls::fixture::cert())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(tls::fixture::key())),
            )
            .unwrap();
        Arc::new(config)
    }

    /// Serves `http_server` inside TLS on a fresh loopback port.
    fn serve_https(versions: &[&'static rustls::SupportedProtocolVersion]) -> u16 {
        let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = tls_config(versions);
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let config = Arc::clone(&config);
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    http_on(rustls::StreamOwned::new(conn, s));
                });
            }
        });
        port
    }

    #[test]
    fn https_is_identified_inside_the_tunnel_with_its_certificate() {
        let db = ProbeDb::builtin().unwrap();
        let port = serve_https(&[&rustls::version::TLS13]);
        let (r, took) = one(db, port, &VersionOptions::default());
        let m = r.service.clone().unwrap();
        assert_eq!(
            (
                m.service.as_str(),
                m.product.as_deref(),
                m.version.as_deref()
            ),
            ("http", Some("nginx"), Some("1.22.1"))
        );
        assert!(r.in_tunnel);
        assert_eq!(r.tls_error, None);
        assert_eq!(r.error, None);
        let detail = r.detail().unwrap();
        assert_eq!(
            (
                detail.name.as_str(),
                detail.tunnel.as_deref(),
                detail.tls.as_ref()
            ),
            ("http", Some("ssl"), r.tls.as_ref())
        );
        let tls = r.tls.unwrap();
        assert_eq!(tls.version, "TLSv1.3");
        assert_eq!(tls.cipher, "TLS_AES_256_GCM_SHA384");
        assert_eq!(tls.cert_error, None);
        let cert = tls.cert.unwrap();
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            cert.subject,
            [pair("CN", "tls.test"), pair("O", "Monban Test")]
        );
        assert_eq!(cert.issuer, cert.subject);
        assert_eq!(cert.not_before, "2026-11-21T07:59:39Z");
        assert_eq!(cert.not_after, "2036-11-18T07:59:39Z");
        assert_eq!(cert.alt_names, ["DNS:tls.test", "IP:127.0.0.1"]);
        assert_eq!(cert.key.as_deref(), Some("ec 256 (P-256)"));
        assert_eq!(cert.signature, "ecdsa-with-SHA256");
        assert_eq!(
            cert.sha256,
            "d959d590cea55df31e7d0a112b7ad5fa8714600c64a2c202007825b60a89fc60"
        );
        // Plain: NULL alone, then TLS; inside: NULL alone, then GET, then NULL's grace.
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn tls_1_2_is_spoken_too() {
        let db = ProbeDb::builtin().unwrap();
        let port = serve_https(&[&rustls::version::TLS12]);
        let (r, _) = one(db, port, &VersionOptions::default());
        let tls = r.tls.unwrap();
        assert_eq!(
            (tls.version.as_str(), tls.cipher.as_str()),
            ("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
        );
        assert_eq!(r.service.unwrap().product.as_deref(), Some("nginx"));
        assert!(r.in_tunnel);
    }

    #[test]
    fn without_tls_a_tls_port_is_only_seen_from_outside() {
        let db = ProbeDb::builtin().unwrap();
        let port = serve_https(&[&rustls::version::TLS13]);
        let opts = VersionOptions {
            tls: false,
            intensity: 1,
            ..VersionOptions::default()
        };
        let (r, _) = one(db, port, &opts);
        assert_eq!((r.tls, r.tls_error, r.in_tunnel), (None, None, false));
        // rustls answers plain text with an alert record: the probe DB's soft "ssl".
        let m = r.service.unwrap();
        assert_eq!((m.service.as_str(), m.soft), ("ssl", true));
    }

    /// Reads whatever comes first (or nothing, for the null probe: then it waits forever),
    /// answers with `reply`, then reads until the client goes away.
    fn answer_then_drain(mut s: TcpStream, reply: &[u8]) {
        let mut buf = [0u8; 4096];
        if !matches!(s.read(&mut buf), Ok(n) if n > 0) {
            return;
        }
        if s.write_all(reply).is_err() {
            return;
        }
        drain(s);
    }

    /// The start of a TLS handshake record announcing 100 bytes, then nothing more.
    fn stalling_server(s: TcpStream) {
        answer_then_drain(s, &[0x16, 0x03, 0x03, 0x00, 0x64, 0x02, 0x00, 0x00]);
    }

    /// Bytes that start like a TLS alert, then garbage.
    fn garbage_server(s: TcpStream) {
        answer_then_drain(
            s,
            b"\x15\x03\x03\x00\x02\x02\x28garbage\xff\x00 not TLS at all",
        );
    }

    /// Endless handshake records of zeros.
    fn endless_tls_server(mut s: TcpStream) {
        let mut buf = [0u8; 4096];
        if !matches!(s.read(&mut buf), Ok(n) if n > 0) {
            return;
        }
        let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00];
        record.resize(5 + 0x4000, 0);
        while s.write_all(&record).is_ok() {}
    }

    fn hostile(server: fn(TcpStream)) -> (ServiceResult, Duration) {
        let db = test_db();
        let port = serve(server);
        let opts = VersionOptions {
            tls: true,
            tls_wait: Duration::from_millis(400),
            ..fast()
        };
        one(&db, port, &opts)
    }

    #[test]
    fn a_peer_that_stalls_mid_handshake_costs_the_tls_wait() {
        let (r, took) = hostile(stalling_server);
        assert_eq!(r.tls_error, Some(TlsError::Timeout));
        assert_eq!((r.tls, r.in_tunnel, r.service), (None, false, None));
        // NULL alone 300 ms, then the handshake's 400 ms.
        let least = Duration::from_millis(700);
        assert!(
            took >= least && took < least + Duration::from_millis(400),
            "{took:?}"
        );
    }

    #[test]
    fn a_peer_that_sends_garbage_fails_the_handshake_at_once() {
        let (r, took) = hostile(garbage_server);
        assert!(
            matches!(r.tls_error, Some(TlsError::Handshake(_))),
            "{:?}",
            r.tls_error
        );
        assert_eq!((r.tls, r.in_tunnel, r.service), (None, false, None));
        assert!(took < Duration::from_millis(1100), "{took:?}");
    }

    #[test]
    fn a_peer_that_streams_records_forever_is_cut_off() {
        let (r, took) = hostile(endless_tls_server);
        assert!(
            matches!(r.tls_error, Some(TlsError::Handshake(_))),
            "{:?}",
            r.tls_error
        );
        assert_eq!((r.tls, r.in_tunnel), (None, false));
        assert!(took < Duration::from_millis(1100), "{took:?}");
    }

    #[test]
    fn no_targets_no_work() {
        let db = test_db();
        assert_eq!(run(&db, &[], &fast()), Vec::new());
    }
}
