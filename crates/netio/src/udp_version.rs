//! Service and version detection over UDP (`-sU -sV`).
//!
//! UDP has no connection to learn from and no greeting to wait for: a service answers
//! only a request it understands. So every UDP probe of
//! [`ProbeDb::probes_for`]`(port, udp, intensity)` is sent at once, each from its own
//! socket `connect()`ed to the port: the kernel then delivers only that peer's datagrams
//! to it (a forged reply from elsewhere never reaches us), and an ICMP port unreachable
//! surfaces as `ECONNREFUSED` on it.
//!
//! A probe without an answer is sent once more half-way through its
//! [`wait`](Probe::wait) (one lost datagram must not hide a service). Its first reply
//! datagram is matched with [`ProbeDb::identify`] and the socket is closed, so a peer that
//! floods datagrams costs one read. As for TCP, the hard match of the earliest probe in
//! plan order wins: once one is found the later probes are dropped and the earlier ones
//! get at most [`VersionOptions::settle`] more.
//!
//! What a port's probes tell:
//! - a reply: the port is open ([`ServiceResult::answered`]), whatever the scan said
//!   (a port the scan left `open|filtered` is promoted, as nmap does); the service is its
//!   hard match, else its soft match, else unknown;
//! - port unreachable: the port is closed now ([`PortError::Refused`]);
//! - nothing within every probe's wait (or the port's
//!   [`port_budget`](VersionOptions::port_budget)): unchanged, no service.
//!
//! Sockets are bounded like the TCP side: at most [`VersionOptions::max_parallel`] at once
//! and never more than the open-file limit allows.

use super::{
    after, connection_limit, is_fd_exhaustion, socket_error, PortError, ServiceResult,
    VersionOptions, BANNER_BYTES, MAX_SLEEP,
};
use crate::NetError;
use monban_engine::types::Protocol;
use monban_probes::{clean, Probe, ProbeDb, ServiceMatch, Transport, MAX_REPLY_BYTES};
use socket2::{Domain, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The largest UDP payload (IPv4; IPv6 jumbograms aside).
const MAX_DATAGRAM: usize = 65_535;

/// Identifies the services on `targets` (UDP ports that are open or open|filtered) with
/// `db` (usually [`ProbeDb::builtin`]).
///
/// Returns one result per target, in the order of `targets`, with
/// [`ServiceResult::proto`] UDP. Setting `stop` ends the run early; unfinished ports then
/// carry [`PortError::Stopped`]. Errors only when the machinery fails (no socket can be
/// created at all, a bad interface).
pub fn detect_udp(
    db: &ProbeDb,
    targets: &[(IpAddr, u16)],
    opts: &VersionOptions,
    stop: &AtomicBool,
) -> Result<Vec<ServiceResult>, NetError> {
    let limit = connection_limit(opts);
    let mut jobs: Vec<Job<'_>> = targets
        .iter()
        .map(|&(addr, port)| Job::new(db, addr, port, opts.intensity))
        .collect();
    let mut waiting: VecDeque<usize> = (0..jobs.len()).collect();
    let mut steps: Vec<Step<'_>> = Vec::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) {
            for job in jobs.iter_mut().filter(|j| !j.done) {
                job.finish(now, Some(PortError::Stopped));
            }
            break;
        }
        // Start the plans of waiting ports while sockets are free.
        while steps.len() < limit {
            let Some(&j) = waiting.front() else { break };
            let job = &mut jobs[j];
            let Some(&probe) = job.plan.get(job.next).filter(|_| !job.done) else {
                waiting.pop_front();
                if job.running == 0 && !job.done {
                    job.finish(now, None);
                }
                continue;
            };
            let index = job.next;
            job.next += 1;
            job.started.get_or_insert(now);
            match open_socket(job.addr, job.port, opts) {
                Ok(sock) => {
                    let step = Step {
                        job: j,
                        index,
                        probe,
                        sock,
                        sent: now,
                        resent: false,
                        deadline: job.deadline(now, probe.wait(), opts.port_budget),
                    };
                    job.running += 1;
                    step.send(job);
                    steps.push(step);
                }
                Err(e) if is_fd_exhaustion(&e) && !steps.is_empty() => {
                    // Back-pressure: retry this step once a socket is freed.
                    job.next -= 1;
                    break;
                }
                Err(e) => return Err(socket_error(opts, e)),
            }
        }
        if jobs.iter().all(|j| j.done) && steps.is_empty() {
            break;
        }
        // Wait for replies (bounded: deadlines, resends, the stop flag).
        let wake = steps
            .iter()
            .map(|s| s.next_wake())
            .min()
            .unwrap_or(now + MAX_SLEEP)
            .min(now + MAX_SLEEP);
        let mut fds: Vec<libc::pollfd> = steps
            .iter()
            .map(|s| libc::pollfd {
                fd: s.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = wake.saturating_duration_since(now).as_millis();
        let ms = libc::c_int::try_from(ms).unwrap_or(50).max(1);
        // SAFETY: `fds` is a valid, initialised array of `fds.len()` pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(NetError::Io {
                    what: "poll",
                    source: e,
                });
            }
        }
        let now = Instant::now();
        // Read what arrived; end the steps that are over.
        let mut ended: Vec<(usize, Outcome)> = Vec::new();
        for (i, (step, fd)) in steps.iter_mut().zip(&fds).enumerate() {
            if fd.revents != 0 {
                if let Some(outcome) = step.read(&mut buf) {
                    ended.push((i, outcome));
                    continue;
                }
            }
            if now >= step.deadline {
                ended.push((i, Outcome::Silent));
            } else if !step.resent && now >= step.resend_at() {
                step.resent = true;
                let job = &mut jobs[step.job];
                step.send(job);
            }
        }
        for (i, outcome) in ended.into_iter().rev() {
            let step = steps.swap_remove(i);
            let job = &mut jobs[step.job];
            job.running -= 1;
            job.record(db, &step, outcome, now, opts.settle);
        }
        // Decide the ports that know enough; drop the steps of decided ports.
        for job in jobs.iter_mut().filter(|j| !j.done) {
            if job.is_decided(now) {
                job.finish(now, None);
            } else if job
                .started
                .is_some_and(|t| now >= after(t, opts.port_budget))
            {
                job.finish(now, Some(PortError::OutOfTime));
            }
        }
        steps.retain(|s| {
            let job = &mut jobs[s.job];
            if job.done {
                job.running -= 1;
            }
            !job.done
        });
        for job in jobs.iter_mut().filter(|j| !j.done && j.running == 0) {
            if job.next >= job.plan.len() {
                job.finish(now, None);
            }
        }
    }
    Ok(jobs.into_iter().map(Job::into_result).collect())
}

/// How one probe ended.
#[derive(Debug)]
enum Outcome {
    /// The first reply datagram.
    Reply(Vec<u8>),
    /// ICMP port unreachable: the port is closed.
    Refused,
    /// Nothing came (or an ICMP error other than port unreachable).
    Silent,
}

/// One probe in flight, on its own connected socket.
struct Step<'a> {
    job: usize,
    /// Its index in the port's plan.
    index: usize,
    probe: &'a Probe,
    sock: Socket,
    sent: Instant,
    resent: bool,
    deadline: Instant,
}

impl Step<'_> {
    fn send(&self, job: &mut Job<'_>) {
        // A failed send (no route, buffer full) reads as silence; the resend may work.
        if self.sock.send(self.probe.payload()).is_ok() {
            job.probes_sent += 1;
        }
    }

    fn resend_at(&self) -> Instant {
        self.sent + self.deadline.saturating_duration_since(self.sent) / 2
    }

    fn next_wake(&self) -> Instant {
        if self.resent {
            self.deadline
        } else {
            self.resend_at().min(self.deadline)
        }
    }

    /// Reads one datagram; `None` when nothing is there after all.
    fn read(&self, buf: &mut [u8]) -> Option<Outcome> {
        // SAFETY: u8 and MaybeUninit<u8> have the same layout; recv only writes to it.
        let uninit = unsafe {
            std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<u8>>(), buf.len())
        };
        match self.sock.recv(uninit) {
            Ok(n) => Some(Outcome::Reply(
                buf.get(..n.min(MAX_REPLY_BYTES))
                    .unwrap_or_default()
                    .to_vec(),
            )),
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Some(Outcome::Refused),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            // Host or network unreachable, prohibited: no service answers.
            Err(_) => Some(Outcome::Silent),
        }
    }
}

/// Detection state of one UDP port.
struct Job<'a> {
    addr: IpAddr,
    port: u16,
    plan: Vec<&'a Probe>,
    next: usize,
    running: usize,
    /// Steps of the plan that have ended, by index.
    ended: Vec<bool>,
    started: Option<Instant>,
    finished: Option<Instant>,
    last_answer: Option<Instant>,
    /// The hard match of the earliest step, and that step's index.
    hard: Option<(usize, ServiceMatch)>,
    soft: Option<(usize, ServiceMatch)>,
    /// The banner, its rank (3 hard, 2 soft, 1 none) and its step's index.
    banner: Option<(u8, usize, String)>,
    /// Earlier steps still running when a hard match came get until then.
    settle_until: Option<Instant>,
    answered: bool,
    refused: bool,
    probes_sent: u32,
    error: Option<PortError>,
    done: bool,
}

impl<'a> Job<'a> {
    fn new(db: &'a ProbeDb, addr: IpAddr, port: u16, intensity: u8) -> Job<'a> {
        let plan: Vec<&Probe> = db.probes_for(port, Transport::Udp, intensity).collect();
        Job {
            addr,
            port,
            ended: vec![false; plan.len()],
            plan,
            next: 0,
            running: 0,
            started: None,
            finished: None,
            last_answer: None,
            hard: None,
            soft: None,
            banner: None,
            settle_until: None,
            answered: false,
            refused: false,
            probes_sent: 0,
            error: None,
            done: false,
        }
    }

    /// A step's deadline: its wait, within the port's budget.
    fn deadline(&self, now: Instant, wait: Duration, budget: Duration) -> Instant {
        let end = self.started.map_or(now, |t| after(t, budget));
        after(now, wait).min(end)
    }

    fn record(
        &mut self,
        db: &ProbeDb,
        step: &Step<'_>,
        outcome: Outcome,
        now: Instant,
        settle: Duration,
    ) {
        if let Some(e) = self.ended.get_mut(step.index) {
            *e = true;
        }
        match outcome {
            Outcome::Reply(reply) => {
                self.answered = true;
                self.last_answer = Some(now);
                let m = db.identify(step.probe, &reply);
                let rank = match &m {
                    Some(m) if !m.soft => 3,
                    Some(_) => 2,
                    None => 1,
                };
                let better = self
                    .banner
                    .as_ref()
                    .is_none_or(|(r, i, _)| rank > *r || (rank == *r && step.index < *i));
                if better && !reply.is_empty() {
                    let head = reply.get(..BANNER_BYTES).unwrap_or(&reply);
                    self.banner = Some((rank, step.index, clean(head)));
                }
                let earliest = |found: &Option<(usize, ServiceMatch)>| {
                    found.as_ref().is_none_or(|(i, _)| step.index < *i)
                };
                match m {
                    Some(m) if !m.soft && earliest(&self.hard) => {
                        self.hard = Some((step.index, m));
                        self.settle_until = Some(after(now, settle));
                    }
                    Some(m) if m.soft && earliest(&self.soft) => {
                        self.soft = Some((step.index, m));
                    }
                    _ => {}
                }
            }
            Outcome::Refused => self.refused = true,
            Outcome::Silent => {}
        }
    }

    /// A hard match whose earlier steps have all ended (or had their settle time), or a
    /// port that turned out closed.
    fn is_decided(&self, now: Instant) -> bool {
        if self.refused && !self.answered {
            return true;
        }
        let Some((index, _)) = &self.hard else {
            return false;
        };
        let earlier_done = self.ended.iter().take(*index).all(|e| *e);
        earlier_done || self.settle_until.is_some_and(|t| now >= t)
    }

    fn finish(&mut self, now: Instant, error: Option<PortError>) {
        self.done = true;
        self.finished = Some(self.last_answer.unwrap_or(now));
        self.error = error.or((self.refused && !self.answered).then_some(PortError::Refused));
    }

    fn into_result(self) -> ServiceResult {
        let elapsed = match (self.started, self.finished) {
            (Some(s), Some(f)) => f.saturating_duration_since(s),
            _ => Duration::ZERO,
        };
        ServiceResult {
            addr: self.addr,
            port: self.port,
            proto: Protocol::Udp,
            answered: self.answered,
            service: self.hard.or(self.soft).map(|(_, m)| m),
            in_tunnel: false,
            tls: None,
            tls_error: None,
            probes_sent: self.probes_sent,
            banner: self.banner.map(|(_, _, b)| b),
            error: self.error,
            elapsed,
        }
    }
}

/// A non-blocking UDP socket connected to `addr:port`.
fn open_socket(addr: IpAddr, port: u16, opts: &VersionOptions) -> io::Result<Socket> {
    let to = SocketAddr::new(addr, port);
    let sock = Socket::new(
        Domain::for_address(to),
        Type::DGRAM.nonblocking().cloexec(),
        None,
    )?;
    if let Some(ifname) = &opts.interface {
        sock.bind_device(Some(ifname.as_bytes()))?;
    }
    sock.connect(&to.into())?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, UdpSocket};
    use std::sync::Arc;
    use std::thread::JoinHandle;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A DNS answer to a version.bind TXT CH `query`, naming `text`.
    fn version_bind_answer(query: &[u8], text: &str) -> Vec<u8> {
        let mut a = query.get(..2).unwrap_or_default().to_vec();
        a.extend_from_slice(b"\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00");
        a.extend_from_slice(query.get(12..).unwrap_or_default());
        a.extend_from_slice(b"\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00");
        a.extend_from_slice(&u16::try_from(text.len() + 1).unwrap().to_be_bytes());
        a.push(u8::try_from(text.len()).unwrap());
        a.extend_from_slice(text.as_bytes());
        a
    }

    /// A UDP server on loopback that answers each datagram with `answer(datagram)` (any
    /// number of datagrams, none for an empty list) until `stop`.
    fn server(
        answer: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
        stop: Arc<AtomicBool>,
    ) -> (u16, JoinHandle<()>) {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    for d in answer(&buf[..n]) {
                        let _ = sock.send_to(&d, from);
                    }
                }
            }
        });
        (port, h)
    }

    fn opts() -> VersionOptions {
        VersionOptions {
            port_budget: Duration::from_secs(10),
            ..VersionOptions::default()
        }
    }

    fn by_port(results: &[ServiceResult], port: u16) -> &ServiceResult {
        results.iter().find(|r| r.port == port).unwrap()
    }

    #[test]
    fn a_dns_server_is_named_a_silent_port_is_not_and_a_closed_one_refuses() {
        let db = ProbeDb::builtin().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        // Answers only the DNS probe; the SNMP and NTP probes it also gets go unanswered.
        let (dns, dns_h) = server(
            |q| {
                if q.starts_with(b"mb\x00\x00") {
                    vec![version_bind_answer(q, "dnsmasq-2.90")]
                } else {
                    Vec::new()
                }
            },
            Arc::clone(&done),
        );
        let (silent, silent_h) = server(|_| Vec::new(), Arc::clone(&done));
        let closed = {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            s.local_addr().unwrap().port()
        };
        let targets = [(LO, dns), (LO, silent), (LO, closed)];
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        let r = detect_udp(db, &targets, &opts(), &stop).unwrap();
        let took = t0.elapsed();
        done.store(true, Ordering::Relaxed);
        dns_h.join().unwrap();
        silent_h.join().unwrap();

        let names: Vec<&str> = db
            .probes_for(silent, Transport::Udp, 7)
            .map(Probe::name)
            .collect();
        assert_eq!(names, ["DNSVersionBind", "SNMPv1GetRequest", "NTPRequest"]);
        let plan = names.len();
        let d = by_port(&r, dns);
        let m = d.service.as_ref().unwrap();
        assert_eq!(
            (
                m.service.as_str(),
                m.product.as_deref(),
                m.version.as_deref()
            ),
            ("domain", Some("dnsmasq"), Some("2.90"))
        );
        assert!(d.answered && !m.soft && d.error.is_none(), "{d:?}");
        assert_eq!(d.proto, Protocol::Udp);
        assert_eq!(d.detail().unwrap().proto, Protocol::Udp);
        let s = by_port(&r, silent);
        assert!(
            !s.answered && s.service.is_none() && s.banner.is_none(),
            "{s:?}"
        );
        assert_eq!(s.error, None);
        // Each probe went twice: once, and again half-way through its wait.
        assert_eq!(s.probes_sent as usize, 2 * plan);
        let c = by_port(&r, closed);
        assert_eq!(c.error, Some(PortError::Refused), "{c:?}");
        assert!(!c.answered);
        // Everything ran at once: about one probe wait (3 s), not one per probe or port.
        assert!(took < Duration::from_secs(6), "{took:?}");
    }

    #[test]
    fn floods_garbage_and_empty_datagrams_are_bounded_and_unnamed() {
        let db = ProbeDb::builtin().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let (flood, flood_h) = server(
            |_| (0..200u8).map(|i| vec![b'A' + i % 26; 200]).collect(),
            Arc::clone(&done),
        );
        let (empty, empty_h) = server(|_| vec![Vec::new()], Arc::clone(&done));
        // A DNS-looking answer to another query ID, then a truncated one to ours.
        let (liar, liar_h) = server(
            |q| {
                let mut other = version_bind_answer(q, "dnsmasq-9.9");
                other[1] = 0x07;
                let mut cut = version_bind_answer(q, "dnsmasq-2.90");
                cut.truncate(20);
                vec![other, cut]
            },
            Arc::clone(&done),
        );
        let targets = [(LO, flood), (LO, empty), (LO, liar)];
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        let r = detect_udp(db, &targets, &opts(), &stop).unwrap();
        let took = t0.elapsed();
        done.store(true, Ordering::Relaxed);
        for h in [flood_h, empty_h, liar_h] {
            h.join().unwrap();
        }
        let f = by_port(&r, flood);
        assert!(f.answered && f.service.is_none(), "{f:?}");
        // Only the first datagram counts ("AAA...", 200 bytes, under BANNER_BYTES): the
        // "BBB..." after it is never read into the reply.
        assert_eq!(f.banner, Some("A".repeat(200)), "{f:?}");
        let e = by_port(&r, empty);
        assert!(
            e.answered && e.service.is_none() && e.banner.is_none(),
            "{e:?}"
        );
        // Only the first datagram of each probe counts: the foreign query ID.
        let l = by_port(&r, liar);
        assert!(l.answered && l.service.is_none(), "{l:?}");
        assert!(took < Duration::from_secs(6), "{took:?}");
    }

    #[test]
    fn stop_ends_every_port_at_once() {
        let db = ProbeDb::builtin().unwrap();
        let stop = AtomicBool::new(true);
        let r = detect_udp(db, &[(LO, 9), (LO, 53)], &opts(), &stop).unwrap();
        assert!(
            r.iter().all(|r| r.error == Some(PortError::Stopped)),
            "{r:?}"
        );
        assert!(r.iter().all(|r| r.probes_sent == 0));
    }

    #[test]
    fn an_unknown_interface_is_a_typed_error() {
        let db = ProbeDb::builtin().unwrap();
        let o = VersionOptions {
            interface: Some("monban-none0".to_owned()),
            ..opts()
        };
        let stop = AtomicBool::new(false);
        match detect_udp(db, &[(LO, 53)], &o, &stop) {
            Err(NetError::NoSuchInterface(n)) => assert_eq!(n, "monban-none0"),
            other => panic!("{other:?}"),
        }
    }
}
