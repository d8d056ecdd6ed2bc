//! Service and version detection (`-sV`): the driver of the engine's sans-IO session.
//!
//! Every decision — the plan of steps per port, the head start, per-port parallelism,
//! when a reply is complete, early matches, soft-match narrowing, earliest hard match
//! wins, TLS inside the tunnel, `tcpwrapped`, the budgets — is
//! [`monban_engine::version::VersionSession`]'s, and its module docs explain the policy.
//! This file only does what the session says and tells it what happened:
//! - non-blocking sockets (closing with linger 0, i.e. RST, so no TIME_WAIT piles up)
//!   under one `epoll`, bound to `-e`'s interface if one is given;
//! - rustls pumping ([`tls`]): the session says "start TLS on this connection", the
//!   driver runs the handshake and reports it up (with its [`TlsDetail`]) or failed;
//! - errno → event: refused, reset, unreachable, EMFILE;
//! - descriptors: at most [`VersionOptions::max_parallel`] connections and never more
//!   than the open-file limit allows (raised to its hard maximum first); running out
//!   (EMFILE) lowers the session's parallelism (back-pressure), it is not an error.
//!
//! Only failures of the machinery itself (epoll, no socket can be created at all, a bad
//! interface) end [`detect`] with an error; per-port failures are in
//! [`ServiceResult::error`].

// TLS and certificates serve version detection only: they live under it.
#[path = "tls.rs"]
pub mod tls;
#[path = "x509.rs"]
pub mod x509;
// The UDP side shares the options, results and probe database.
#[path = "udp_version.rs"]
pub mod udp;

pub use self::udp::detect_udp;
pub use monban_engine::version::{
    PortError, ServiceResult, VersionOptions, BANNER_BYTES, TCPWRAPPED,
};

use self::tls::{Pumped, TlsStream};
use crate::connect::raise_nofile_limit;
use crate::NetError;
use monban_engine::types::TlsDetail;
use monban_engine::version::{Action, ConnId, VersionSession};
use monban_probes::ProbeDb;
use socket2::{Domain, SockAddr, Socket, Type};
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Descriptors kept free for outputs and the rest of the process.
const RESERVED_FDS: u64 = 64;
/// Longest sleep between looks at the stop flag.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Bytes read per `read` call.
const CHUNK: usize = 4096;

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
    let mut session = VersionSession::new(db, targets, opts, connection_limit(opts));
    let mut d = Driver {
        opts,
        conns: HashMap::new(),
        ep: epoll()?,
    };
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        if stop.load(Ordering::Relaxed) {
            session.stop(Instant::now());
            d.apply(&mut session, Instant::now())?;
            break;
        }
        session.handle_timeout(Instant::now());
        d.apply(&mut session, Instant::now())?;
        if session.is_done() {
            break;
        }
        let n = d.wait(&mut events, session.next_timeout())?;
        let now = Instant::now();
        for ev in events.iter().take(n) {
            d.on_event(&mut session, ConnId(ev.u64), now)?;
        }
    }
    Ok(session.into_results())
}

/// One socket the session asked for.
struct Conn<'db> {
    sock: Socket,
    addr: IpAddr,
    /// The TLS client, once the session started TLS on this connection.
    tls: Option<Box<TlsStream>>,
    connected: bool,
    /// Whether EPOLLOUT is asked for.
    writable: bool,
    /// Plain-text payload to send, and how much of it went out.
    out: &'db [u8],
    written: usize,
}

/// The sockets under one epoll.
///
/// Our own ~60 lines of `epoll` rather than mio: one thread, level-triggered, a token
/// per connection and nothing else; mio would add a dependency (and CI build time) for
/// the same three system calls, and its edge-triggered registration would make each read
/// loop drain to `WouldBlock`, which a reply bounded by `MAX_REPLY_BYTES` does not want.
struct Driver<'db, 'o> {
    opts: &'o VersionOptions,
    conns: HashMap<ConnId, Conn<'db>>,
    ep: OwnedFd,
}

impl<'db> Driver<'db, '_> {
    /// Does everything the session asks for, until it asks nothing more.
    fn apply(&mut self, s: &mut VersionSession<'db>, now: Instant) -> Result<(), NetError> {
        while let Some(action) = s.poll_action() {
            match action {
                Action::Connect { id, addr } => self.connect(s, id, addr, now)?,
                Action::StartTls { id } => {
                    let Some(c) = self.conns.get_mut(&id) else {
                        continue;
                    };
                    match TlsStream::new(c.addr) {
                        Ok(t) => c.tls = Some(Box::new(t)),
                        Err(e) => s.on_tls_failed(now, id, e),
                    }
                }
                Action::Send { id, data } => {
                    let Some(c) = self.conns.get_mut(&id) else {
                        continue;
                    };
                    match c.tls.as_mut() {
                        Some(t) => t.send_after_handshake(data),
                        None => {
                            c.out = data;
                            c.written = 0;
                        }
                    }
                    if !c.writable {
                        self.set_writable(id, true)?;
                    }
                }
                Action::Close { id } => {
                    if let Some(c) = self.conns.remove(&id) {
                        // Deregister before the descriptor closes; a failure changes nothing.
                        let _ = epoll_ctl(&self.ep, libc::EPOLL_CTL_DEL, &c.sock, 0, id.0);
                    }
                }
            }
        }
        Ok(())
    }

    /// Opens connection `id` to `addr`, or tells the session why not.
    fn connect(
        &mut self,
        s: &mut VersionSession<'db>,
        id: ConnId,
        addr: SocketAddr,
        now: Instant,
    ) -> Result<(), NetError> {
        let sock = match socket(addr, self.opts) {
            Ok(sock) => sock,
            Err(e) if is_fd_exhaustion(&e) => return self.no_descriptors(s, id, e, now),
            Err(e) => return Err(socket_error(self.opts, e)),
        };
        match sock.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if is_fd_exhaustion(&e) => return self.no_descriptors(s, id, e, now),
            Err(e) => {
                s.on_connect_failed(now, id, connect_error(&e));
                return Ok(());
            }
        }
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP;
        epoll_ctl(&self.ep, libc::EPOLL_CTL_ADD, &sock, events, id.0)?;
        self.conns.insert(
            id,
            Conn {
                sock,
                addr: addr.ip(),
                tls: None,
                connected: false,
                writable: true,
                out: &[],
                written: 0,
            },
        );
        Ok(())
    }

    /// Out of descriptors: back-pressure, unless nothing of ours will ever free one.
    fn no_descriptors(
        &mut self,
        s: &mut VersionSession<'db>,
        id: ConnId,
        e: io::Error,
        now: Instant,
    ) -> Result<(), NetError> {
        if self.conns.is_empty() {
            return Err(NetError::Io {
                what: "socket",
                source: e,
            });
        }
        s.on_no_descriptors(now, id);
        Ok(())
    }

    /// Waits for socket events until `next` (at most [`MAX_SLEEP`]).
    fn wait(
        &self,
        events: &mut [libc::epoll_event],
        next: Option<Instant>,
    ) -> Result<usize, NetError> {
        let now = Instant::now();
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

    /// The socket of connection `id` is ready: tells the session what happened on it.
    fn on_event(
        &mut self,
        s: &mut VersionSession<'db>,
        id: ConnId,
        now: Instant,
    ) -> Result<(), NetError> {
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(()); // closed earlier in this batch
        };
        if !c.connected {
            let reset = match c.sock.take_error() {
                Ok(None) => false,
                // Connected, then reset by the server before we looked.
                Ok(Some(e)) if is_reset(&e) => true,
                Ok(Some(e)) | Err(e) => {
                    s.on_connect_failed(now, id, connect_error(&e));
                    return self.apply(s, now);
                }
            };
            c.connected = true;
            s.on_connected(now, id);
            self.apply(s, now)?;
            if reset {
                s.on_closed(now, id);
                return self.apply(s, now);
            }
        }
        match self.conns.get(&id) {
            Some(c) if c.tls.is_some() => self.on_tls_event(s, id, now),
            Some(_) => self.on_plain_event(s, id, now),
            None => Ok(()),
        }
    }

    fn on_plain_event(
        &mut self,
        s: &mut VersionSession<'db>,
        id: ConnId,
        now: Instant,
    ) -> Result<(), NetError> {
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        if c.written < c.out.len() {
            let rest = c.out.get(c.written..).unwrap_or_default();
            match c.sock.send_with_flags(rest, libc::MSG_NOSIGNAL) {
                Ok(n) => c.written += n,
                Err(e) if is_transient(&e) => {}
                // The peer is gone; whatever it said before is read below.
                Err(_) => c.written = c.out.len(),
            }
        }
        if c.written >= c.out.len() && c.writable {
            self.set_writable(id, false)?;
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let room = s.room(id);
        let mut reply = Vec::new();
        let mut chunk = [0u8; CHUNK];
        let closed = loop {
            let want = room.saturating_sub(reply.len()).min(CHUNK);
            let Some(buf) = chunk.get_mut(..want).filter(|b| !b.is_empty()) else {
                break false; // as much as the session looks at: it ends the reply
            };
            match (&c.sock).read(buf) {
                Ok(0) => break true,
                Ok(n) => reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                // Reset: keep what arrived.
                Err(_) => break true,
            }
        };
        if !reply.is_empty() {
            s.on_data(now, id, &reply);
            self.apply(s, now)?;
        }
        if closed {
            s.on_closed(now, id);
            self.apply(s, now)?;
        }
        Ok(())
    }

    fn on_tls_event(
        &mut self,
        s: &mut VersionSession<'db>,
        id: ConnId,
        now: Instant,
    ) -> Result<(), NetError> {
        // A second round when the handshake finishes: the session then says what to send
        // inside, and what came with the end of the handshake is read.
        for _ in 0..2 {
            let room = s.room(id);
            let Some(c) = self.conns.get_mut(&id) else {
                return Ok(());
            };
            let Some(tls) = c.tls.as_mut() else {
                return Ok(());
            };
            let was_handshaking = tls.is_handshaking();
            let mut reply = Vec::new();
            let pumped = tls.pump(&c.sock, &mut reply, room);
            let up = was_handshaking && !tls.is_handshaking();
            let detail: Option<TlsDetail> = if up { tls.detail() } else { None };
            let wants_write = tls.wants_write();
            if let Some(detail) = detail {
                s.on_tls_up(now, id, detail);
                self.apply(s, now)?;
            }
            if !reply.is_empty() {
                s.on_data(now, id, &reply);
                self.apply(s, now)?;
            }
            match pumped {
                Pumped::Failed(e) => {
                    s.on_tls_failed(now, id, e);
                    return self.apply(s, now);
                }
                Pumped::Closed => {
                    s.on_closed(now, id);
                    return self.apply(s, now);
                }
                Pumped::Pending => {}
            }
            let Some(c) = self.conns.get(&id) else {
                return Ok(());
            };
            let wants_write = wants_write || c.tls.as_ref().is_some_and(|t| t.wants_write());
            if wants_write != c.writable {
                self.set_writable(id, wants_write)?;
            }
            if !up {
                break;
            }
        }
        Ok(())
    }

    /// Asks for writability or stops asking.
    fn set_writable(&mut self, id: ConnId, on: bool) -> Result<(), NetError> {
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let mut ev = libc::EPOLLIN | libc::EPOLLRDHUP;
        if on {
            ev |= libc::EPOLLOUT;
        }
        c.writable = on;
        epoll_ctl(&self.ep, libc::EPOLL_CTL_MOD, &c.sock, ev, id.0)
    }
}

/// A non-blocking stream socket towards `addr`, closing with RST.
fn socket(addr: SocketAddr, opts: &VersionOptions) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    sock.set_linger(Some(Duration::ZERO))?;
    if let Some(ifname) = &opts.interface {
        sock.bind_device(Some(ifname.as_bytes()))?;
    }
    Ok(sock)
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
    use monban_probes::Protocol;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
    use std::sync::Arc;
    use tls::TlsError;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// The only time bound of these tests: a hang catcher, far above any expected time
    /// (the exact times of the policy are tested in simulation, in the engine's
    /// `tests/version_sim.rs`).
    const HANG: Duration = Duration::from_secs(20);

    /// The engine's simulation tests' small database (waits of 300 ms; on an unlisted port
    /// at intensity 9 the plan is NULL, Hello, Other, Thing), so both test the same plan.
    const TEST_DB: &str = include_str!("../../engine/tests/data/tcp_probes.txt");

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

    fn endless_server(mut s: TcpStream) {
        let chunk = [b'x'; 4096];
        if s.write_all(b"STREAM ").is_err() {
            return;
        }
        while s.write_all(&chunk).is_ok() {}
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
        assert!(took < HANG, "{took:?}");
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
            .probes_for(port, Protocol::Tcp, 1)
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
        // When: the head start, then the settle time (exactly, in the engine's simulation).
        assert!(took < HANG, "{took:?}");
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
        // The driver stops reading at the session's limit (MAX_REPLY_BYTES): each probe
        // ends there, not at its wait (exactly when: in the engine's simulation).
        assert!(took < HANG, "{took:?}");
    }

    #[test]
    fn a_server_that_closes_at_once_is_tcpwrapped() {
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
        assert!(took < HANG, "{took:?}");
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
    fn the_stop_flag_ends_everything() {
        let db = test_db();
        let port = serve(drain);
        let stop = AtomicBool::new(true);
        let t = Instant::now();
        let r = detect(&db, &[(LOOPBACK, port), (LOOPBACK, port)], &fast(), &stop).unwrap();
        assert!(t.elapsed() < HANG);
        assert_eq!(r.len(), 2);
        for r in r {
            assert_eq!((r.probes_sent, r.error), (0, Some(PortError::Stopped)));
        }
    }

    #[test]
    fn the_stop_flag_ends_a_running_detection() {
        let db = test_db();
        let port = serve(drain);
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        let r = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                stop.store(true, Ordering::Relaxed);
            });
            detect(&db, &[(LOOPBACK, port)], &fast(), &stop).unwrap()
        });
        assert!(t.elapsed() < HANG);
        // The null probe had connected (a silent server keeps it 300 ms).
        assert_eq!(
            (r[0].probes_sent, r[0].error.clone()),
            (1, Some(PortError::Stopped))
        );
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
        assert!(took < HANG, "{took:?}");
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
    fn a_peer_that_sends_garbage_fails_the_handshake_at_once() {
        let (r, took) = hostile(garbage_server);
        assert!(
            matches!(r.tls_error, Some(TlsError::Handshake(_))),
            "{:?}",
            r.tls_error
        );
        assert_eq!((r.tls, r.in_tunnel, r.service), (None, false, None));
        assert!(took < HANG, "{took:?}");
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
        assert!(took < HANG, "{took:?}");
    }
}
