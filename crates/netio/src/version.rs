//! Service and version detection (`-sV`): talks to open TCP ports and asks the probe
//! database what answered.
//!
//! For every `(address, port)`, the probes of [`ProbeDb::probes_for`] are tried in order,
//! one new connection per probe: connect, send the probe's payload (nothing for the null
//! probe, which waits for servers that speak first: SSH, FTP, SMTP, POP3, IMAP, MySQL...),
//! read the reply, and match it with [`ProbeDb::identify`]. A hard match ends the port. A
//! soft match (the service but not the product) narrows the remaining probes to those with
//! hard rules for that service ([`Probe::has_rules_for`]).
//!
//! Everything is bounded, per connection, without global sleeps:
//! - a reply is read until the server closes, a hard match, [`MAX_REPLY_BYTES`], the
//!   probe's [`wait`](Probe::wait), or [`VersionOptions::settle`] of silence after the
//!   reply started, whichever comes first; a server that streams forever or never speaks
//!   costs one probe wait at most;
//! - all probes to one port share [`VersionOptions::port_budget`].
//!
//! Ports and hosts are probed in parallel: non-blocking sockets under one `epoll`, at most
//! [`VersionOptions::max_parallel`] connections at once and never more than the open-file
//! limit allows (raised to its hard maximum first); running out of descriptors (EMFILE)
//! lowers the parallelism (back-pressure), it is not an error. Sockets close with linger 0
//! (RST), so no TIME_WAIT piles up. TLS is not spoken here: a TLS port reports what the
//! plaintext probes drew from it.
//!
//! Per-port failures (refused, connect timeout, budget exhausted, stopped) are kept in
//! [`ServiceResult::error`]; only failures of the machinery itself (epoll, sockets, the
//! interface) end [`detect`] with an error.

use crate::connect::raise_nofile_limit;
use crate::NetError;
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

/// How [`detect`] probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionOptions {
    /// 0 to 9 (`--version-intensity`): probes rarer than this are not tried, unless they
    /// list the port. Values above 9 act as 9.
    pub intensity: u8,
    /// Most connections open at once (also bounded by the open-file limit); 0 acts as 1.
    pub max_parallel: usize,
    /// Longest time all probes to one port may take together, counted from its first
    /// connect. Ports still unidentified then end with [`PortError::OutOfTime`].
    pub port_budget: Duration,
    /// Once a reply has started and does not match yet, this much silence ends it (the
    /// probe's own wait still bounds it). Servers send a greeting or an answer in one go;
    /// waiting the whole probe wait for more is what makes detection slow.
    pub settle: Duration,
    /// Network interface to bind the sockets to (`-e`).
    pub interface: Option<String>,
}

impl Default for VersionOptions {
    /// Intensity 7, 256 connections, 30 s per port, 500 ms settle, any interface.
    fn default() -> VersionOptions {
        VersionOptions {
            intensity: 7,
            max_parallel: 256,
            port_budget: Duration::from_secs(30),
            settle: Duration::from_millis(500),
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
    /// The TCP port.
    pub port: u16,
    /// The best match: a hard match, else the first soft match, else `None`.
    pub service: Option<ServiceMatch>,
    /// Probes that got a connection (the null probe included).
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
    let nofile = raise_nofile_limit();
    let fd_budget = nofile.saturating_sub(RESERVED_FDS).max(8);
    let fd_budget = usize::try_from(fd_budget).unwrap_or(usize::MAX);
    let mut d = Driver {
        db,
        opts,
        jobs: targets
            .iter()
            .map(|&(addr, port)| Job::new(db, addr, port, opts.intensity))
            .collect(),
        conns: HashMap::new(),
        heap: BinaryHeap::new(),
        ready: (0..targets.len()).collect(),
        remaining: targets.len(),
        next_token: 0,
        limit: opts.max_parallel.clamp(1, fd_budget),
        ep: epoll()?,
    };
    d.run(stop)?;
    Ok(d.jobs.into_iter().map(Job::into_result).collect())
}

/// Detection state of one port.
struct Job<'a> {
    addr: IpAddr,
    port: u16,
    /// Probes to try, in order.
    plan: Vec<&'a Probe>,
    /// Index in `plan` of the next probe to consider.
    next: usize,
    started: Option<Instant>,
    finished: Option<Instant>,
    hard: Option<ServiceMatch>,
    soft: Option<ServiceMatch>,
    /// The banner and how good its reply was (see [`banner_rank`]).
    banner: Option<(u8, String)>,
    probes_sent: u32,
    error: Option<PortError>,
    done: bool,
}

impl<'a> Job<'a> {
    fn new(db: &'a ProbeDb, addr: IpAddr, port: u16, intensity: u8) -> Job<'a> {
        Job {
            addr,
            port,
            plan: db.probes_for(port, Transport::Tcp, intensity).collect(),
            next: 0,
            started: None,
            finished: None,
            hard: None,
            soft: None,
            banner: None,
            probes_sent: 0,
            error: None,
            done: false,
        }
    }

    /// The next probe worth sending, skipping those a soft match ruled out.
    fn next_probe(&mut self) -> Option<&'a Probe> {
        while let Some(&p) = self.plan.get(self.next) {
            match &self.soft {
                Some(m) if !p.has_rules_for(&m.service) => self.next += 1,
                _ => return Some(p),
            }
        }
        None
    }

    fn into_result(self) -> ServiceResult {
        let elapsed = match (self.started, self.finished) {
            (Some(s), Some(f)) => f.saturating_duration_since(s),
            _ => Duration::ZERO,
        };
        ServiceResult {
            addr: self.addr,
            port: self.port,
            service: self.hard.or(self.soft),
            probes_sent: self.probes_sent,
            banner: self.banner.map(|(_, b)| b),
            error: self.error,
            elapsed,
        }
    }
}

/// One connection carrying one probe.
struct Conn<'a> {
    job: usize,
    probe: &'a Probe,
    sock: Socket,
    connected: bool,
    /// Payload bytes written so far.
    written: usize,
    reply: Vec<u8>,
    /// Reply length at the last early match attempt, and how many were made.
    checked_len: usize,
    checks: u8,
    /// End of the probe's wait (or of the port's budget, if sooner).
    until: Instant,
    /// End of the settle time after the last bytes received.
    quiet: Option<Instant>,
    /// Earliest deadline queued for this connection in the timer heap.
    armed: Instant,
}

impl Conn<'_> {
    fn deadline(&self) -> Instant {
        self.quiet.map_or(self.until, |q| q.min(self.until))
    }
}

/// How a connection ended.
enum End {
    /// It connected; the reply (possibly empty) is complete.
    Reply,
    /// It never connected.
    Failed(PortError),
}

struct Driver<'a, 'o> {
    db: &'a ProbeDb,
    opts: &'o VersionOptions,
    jobs: Vec<Job<'a>>,
    conns: HashMap<u64, Conn<'a>>,
    /// Connection deadlines, earliest first; stale entries are skipped when popped.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Jobs whose next probe is due.
    ready: VecDeque<usize>,
    /// Jobs not done yet.
    remaining: usize,
    next_token: u64,
    limit: usize,
    ep: OwnedFd,
}

/// Result of trying to start a job's next probe.
enum Launch {
    /// A connection is in flight, or the job is done.
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
            while self.conns.len() < self.limit {
                let Some(j) = self.ready.pop_front() else {
                    break;
                };
                if let Launch::Busy(e) = self.launch(j, now)? {
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
        let sleep = self
            .heap
            .peek()
            .map_or(MAX_SLEEP, |Reverse((t, _))| {
                t.saturating_duration_since(now)
            })
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

    /// Ends the connections whose deadline has passed.
    fn expire(&mut self, now: Instant) {
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
            let end = if c.connected {
                End::Reply
            } else {
                End::Failed(PortError::ConnectTimeout)
            };
            self.end(token, end, now);
        }
    }

    /// Starts job `j`'s next probe, or finishes the job if there is none.
    fn launch(&mut self, j: usize, now: Instant) -> Result<Launch, NetError> {
        let budget = self.opts.port_budget;
        let Some(job) = self.jobs.get_mut(j) else {
            return Ok(Launch::Ok);
        };
        if job.done {
            return Ok(Launch::Ok);
        }
        let Some(probe) = job.next_probe() else {
            self.complete(j, None, now);
            return Ok(Launch::Ok);
        };
        let budget_end = after(job.started.unwrap_or(now), budget);
        if now >= budget_end {
            self.complete(j, Some(PortError::OutOfTime), now);
            return Ok(Launch::Ok);
        }
        let addr = SocketAddr::new(job.addr, job.port);
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
                self.complete(j, Some(connect_error(&e)), now);
                return Ok(Launch::Ok);
            }
        }
        if let Some(job) = self.jobs.get_mut(j) {
            job.next += 1;
            job.started.get_or_insert(now);
        }
        let token = self.next_token;
        self.next_token += 1;
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP;
        epoll_ctl(&self.ep, libc::EPOLL_CTL_ADD, &sock, events, token)?;
        let until = after(now, probe.wait()).min(budget_end);
        self.heap.push(Reverse((until, token)));
        self.conns.insert(
            token,
            Conn {
                job: j,
                probe,
                sock,
                connected: false,
                written: 0,
                reply: Vec::new(),
                checked_len: 0,
                checks: 0,
                until,
                quiet: None,
                armed: until,
            },
        );
        Ok(Launch::Ok)
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
        match (&self.opts.interface, e.raw_os_error()) {
            (Some(name), Some(libc::ENODEV)) => NetError::NoSuchInterface(name.clone()),
            _ => NetError::Io {
                what: "socket",
                source: e,
            },
        }
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
            let started = self.jobs.get_mut(c.job).and_then(|job| {
                job.probes_sent += 1;
                job.started
            });
            let until = after(now, c.probe.wait());
            c.until = started.map_or(until, |s| until.min(after(s, self.opts.port_budget)));
            if reset {
                self.end(token, End::Reply, now);
                return;
            }
        }
        if c.written < c.probe.payload().len() {
            let rest = c.probe.payload().get(c.written..).unwrap_or_default();
            match c.sock.send_with_flags(rest, libc::MSG_NOSIGNAL) {
                Ok(n) => c.written += n,
                Err(e) if is_transient(&e) => {}
                // The peer is gone; whatever it said before is read below.
                Err(_) => c.written = c.probe.payload().len(),
            }
        }
        let writing = c.written < c.probe.payload().len();
        if !writing && events & libc::EPOLLOUT as u32 != 0 {
            // Done writing: stop asking for writability (level-triggered).
            let ev = libc::EPOLLIN | libc::EPOLLRDHUP;
            if epoll_ctl(&self.ep, libc::EPOLL_CTL_MOD, &c.sock, ev, token).is_err() {
                self.end(token, End::Reply, now);
                return;
            }
        }
        let before = c.reply.len();
        let mut chunk = [0u8; CHUNK];
        let finished = loop {
            let room = MAX_REPLY_BYTES.saturating_sub(c.reply.len()).min(CHUNK);
            let Some(buf) = chunk.get_mut(..room).filter(|b| !b.is_empty()) else {
                break true; // read as much as we ever look at
            };
            match (&c.sock).read(buf) {
                Ok(0) => break true,
                Ok(n) => c.reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(_) => break true, // reset: keep what arrived
            }
        };
        if finished {
            self.end(token, End::Reply, now);
            return;
        }
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
            if matches!(self.db.identify(c.probe, &c.reply), Some(m) if !m.soft) {
                self.end(token, End::Reply, now);
                return;
            }
        }
        c.quiet = Some(after(now, self.opts.settle));
        let due = c.deadline();
        if due < c.armed {
            c.armed = due;
            self.heap.push(Reverse((due, token)));
        }
    }

    /// Ends a connection (dropping the socket sends RST) and moves its job on.
    fn end(&mut self, token: u64, end: End, now: Instant) {
        let Some(c) = self.conns.remove(&token) else {
            return;
        };
        // Deregister before the descriptor closes; a failure here changes nothing.
        let _ = epoll_ctl(&self.ep, libc::EPOLL_CTL_DEL, &c.sock, 0, token);
        drop(c.sock);
        if let End::Failed(e) = end {
            self.complete(c.job, Some(e), now);
            return;
        }
        let Some(job) = self.jobs.get_mut(c.job) else {
            return;
        };
        if !c.reply.is_empty() {
            let m = self.db.identify(c.probe, &c.reply);
            let rank = banner_rank(m.as_ref());
            let better = match &job.banner {
                Some((r, _)) => rank > *r,
                None => true,
            };
            if better {
                let head = c.reply.get(..BANNER_BYTES).unwrap_or(&c.reply);
                job.banner = Some((rank, clean(head)));
            }
            match m {
                Some(m) if !m.soft => {
                    job.hard = Some(m);
                    self.complete(c.job, None, now);
                    return;
                }
                Some(m) if job.soft.is_none() => job.soft = Some(m),
                _ => {}
            }
        }
        self.ready.push_back(c.job);
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

    fn fast() -> VersionOptions {
        VersionOptions {
            intensity: 9,
            ..VersionOptions::default()
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
            ..VersionOptions::default()
        };
        let plan: Vec<&str> = db
            .probes_for(port, Transport::Tcp, 1)
            .map(|p| p.name())
            .collect();
        let get = plan.iter().position(|&n| n == "GetRequest").unwrap();
        assert_eq!(plan.first(), Some(&"NULL"));
        let null_wait = db.null_probe().unwrap().wait();
        let (r, took) = one(db, port, &opts);
        let m = r.service.unwrap();
        assert_eq!(m.service, "http");
        assert_eq!(m.product.as_deref(), Some("nginx"));
        assert_eq!(m.version.as_deref(), Some("1.22.1"));
        assert_eq!(m.info.as_deref(), Some("title: Welcome to nginx!"));
        assert_eq!(r.probes_sent, u32::try_from(get + 1).unwrap());
        assert!(r
            .banner
            .unwrap()
            .starts_with("HTTP/1.1 200 OK Server: nginx/1.22.1 "));
        assert_eq!(r.error, None);
        // Every probe before GET waits its full time on a silent server; GET ends at once.
        let waits: Duration = plan
            .iter()
            .take(get)
            .map(|n| db.probe(n).unwrap().wait())
            .sum();
        assert!(waits >= null_wait);
        assert!(
            took >= waits && took < waits + Duration::from_secs(1),
            "{took:?}"
        );
    }

    #[test]
    fn a_soft_match_narrows_the_remaining_probes() {
        let db = test_db();
        let port = serve(thing_server);
        let (r, _) = one(&db, port, &fast());
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
    fn a_silent_server_costs_each_probe_its_wait_and_no_more() {
        let db = test_db();
        let port = serve(drain);
        let (r, took) = one(&db, port, &fast());
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
    fn the_port_budget_cuts_a_silent_server_short() {
        let db = test_db();
        let port = serve(drain);
        let opts = VersionOptions {
            port_budget: Duration::from_millis(500),
            ..fast()
        };
        let (r, took) = one(&db, port, &opts);
        assert_eq!(r.service, None);
        // NULL waits 300 ms, Hello is cut at 500 ms, Other never starts.
        assert_eq!(r.probes_sent, 2);
        assert_eq!(r.error, Some(PortError::OutOfTime));
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
        let waits = Duration::from_millis(4 * 300);
        assert!(
            took >= waits && took < waits + Duration::from_millis(800),
            "{took:?}"
        );
    }

    #[test]
    fn silence_after_an_unknown_reply_ends_the_probe() {
        let db = test_db();
        let port = serve(greeting_server);
        let opts = VersionOptions {
            settle: Duration::from_millis(50),
            ..fast()
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
        assert_eq!(r.service, None);
        assert_eq!(r.probes_sent, 4);
        assert_eq!(r.banner, None);
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
        // In series this would take 20 x 1.2 s.
        assert!(took < Duration::from_millis(2500), "{took:?}");
    }

    #[test]
    fn max_parallel_bounds_the_connections() {
        let db = test_db();
        let silent = serve(drain);
        let opts = VersionOptions {
            max_parallel: 1,
            ..fast()
        };
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

    #[test]
    fn no_targets_no_work() {
        let db = test_db();
        assert_eq!(run(&db, &[], &fast()), Vec::new());
    }
}
