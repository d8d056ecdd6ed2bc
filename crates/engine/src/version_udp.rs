//! Service and version detection over UDP (`-sU -sV`): the sans-IO session.
//!
//! UDP has no connection to learn from and no greeting to wait for: a service answers
//! only a request it understands. So every UDP probe of
//! [`ProbeDb::probes_for`]`(port, udp, intensity)` is sent at once, each from its own
//! socket (the driver `connect()`s it to the port: the kernel then delivers only that
//! peer's datagrams to it, and an ICMP port unreachable surfaces as `ECONNREFUSED`).
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
//! [`UdpVersionSession`] never opens a socket and never reads a clock: the driver does
//! its [`UdpAction`]s and feeds back datagrams, port unreachables and the time, as for
//! [`super::VersionSession`]. At most `limit` sockets are open at once.

use super::{after, ConnId, PortError, ServiceResult, VersionOptions, BANNER_BYTES};
use crate::types::Protocol;
use monban_probes::{clean, Probe, ProbeDb, ServiceMatch, MAX_REPLY_BYTES};
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What the UDP session asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpAction<'db> {
    /// Open a UDP socket connected to `addr`; on no descriptor, report
    /// [`UdpVersionSession::on_no_descriptors`].
    Open {
        /// The socket.
        id: ConnId,
        /// Its peer.
        addr: SocketAddr,
    },
    /// Send `data` as one datagram; if that fails, report
    /// [`UdpVersionSession::on_send_failed`].
    Send {
        /// The socket.
        id: ConnId,
        /// The probe's payload.
        data: &'db [u8],
    },
    /// Close the socket; the session has forgotten it.
    Close {
        /// The socket.
        id: ConnId,
    },
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

/// One probe in flight, on its own socket.
struct Step<'a> {
    job: usize,
    /// Its index in the port's plan.
    index: usize,
    probe: &'a Probe,
    sent: Instant,
    resent: bool,
    deadline: Instant,
}

impl Step<'_> {
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
        let plan: Vec<&Probe> = db.probes_for(port, Protocol::Udp, intensity).collect();
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

/// Service detection over UDP on a list of `(address, port)`: see the module docs.
pub struct UdpVersionSession<'db> {
    db: &'db ProbeDb,
    settle: Duration,
    budget: Duration,
    jobs: Vec<Job<'db>>,
    /// Probes in flight, by socket (ordered, so that equal deadlines end in id order).
    steps: BTreeMap<ConnId, Step<'db>>,
    /// Ports whose plan is not all started yet, first first.
    waiting: VecDeque<usize>,
    limit: usize,
    next_id: u64,
    actions: VecDeque<UdpAction<'db>>,
}

impl<'db> UdpVersionSession<'db> {
    /// A session for `targets` (UDP ports open or open|filtered) with `db`, with at most
    /// `limit` sockets at once (0 acts as 1). Nothing starts before the first
    /// [`handle_timeout`](Self::handle_timeout).
    pub fn new(
        db: &'db ProbeDb,
        targets: &[(IpAddr, u16)],
        opts: &VersionOptions,
        limit: usize,
    ) -> UdpVersionSession<'db> {
        UdpVersionSession {
            db,
            settle: opts.settle,
            budget: opts.port_budget,
            jobs: targets
                .iter()
                .map(|&(addr, port)| Job::new(db, addr, port, opts.intensity))
                .collect(),
            steps: BTreeMap::new(),
            waiting: (0..targets.len()).collect(),
            limit: limit.max(1),
            next_id: 0,
            actions: VecDeque::new(),
        }
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<UdpAction<'db>> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do, if ever.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.steps.values().map(Step::next_wake).min()
    }

    /// Whether every port has its result.
    pub fn is_done(&self) -> bool {
        self.steps.is_empty() && self.jobs.iter().all(|j| j.done)
    }

    /// Sockets the session counts as open.
    pub fn open_sockets(&self) -> usize {
        self.steps.len()
    }

    /// Ends what is due at `now` (resends half-way), and starts what may start.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (&id, step) in &mut self.steps {
            if now >= step.deadline {
                due.push(id);
            } else if !step.resent && now >= step.resend_at() {
                step.resent = true;
                if let Some(job) = self.jobs.get_mut(step.job) {
                    job.probes_sent += 1;
                }
                self.actions.push_back(UdpAction::Send {
                    id,
                    data: step.probe.payload(),
                });
            }
        }
        for id in due {
            self.end(id, Outcome::Silent, now);
        }
        self.progress(now);
    }

    /// A datagram arrived on socket `id` (only its first counts: the socket closes).
    pub fn on_datagram(&mut self, now: Instant, id: ConnId, data: &[u8]) {
        let reply = data.get(..MAX_REPLY_BYTES).unwrap_or(data).to_vec();
        self.end(id, Outcome::Reply(reply), now);
        self.progress(now);
    }

    /// ICMP port unreachable on socket `id`: the port is closed.
    pub fn on_refused(&mut self, now: Instant, id: ConnId) {
        self.end(id, Outcome::Refused, now);
        self.progress(now);
    }

    /// Another error on socket `id` (host or network unreachable, prohibited): no
    /// service answers there.
    pub fn on_error(&mut self, now: Instant, id: ConnId) {
        self.end(id, Outcome::Silent, now);
        self.progress(now);
    }

    /// A send on socket `id` failed (no route, buffer full): it reads as silence, the
    /// resend may work; it does not count as sent.
    pub fn on_send_failed(&mut self, _now: Instant, id: ConnId) {
        if let Some(job) = self.steps.get(&id).and_then(|s| self.jobs.get_mut(s.job)) {
            job.probes_sent = job.probes_sent.saturating_sub(1);
        }
    }

    /// The driver had no descriptor for socket `id`: it was not opened. Its probe is sent
    /// again later, and no more sockets than are open now are asked for.
    pub fn on_no_descriptors(&mut self, _now: Instant, id: ConnId) {
        let Some(step) = self.steps.remove(&id) else {
            return;
        };
        if let Some(job) = self.jobs.get_mut(step.job) {
            job.running = job.running.saturating_sub(1);
            job.probes_sent = job.probes_sent.saturating_sub(1);
            job.next = job.next.min(step.index);
            if !self.waiting.contains(&step.job) {
                self.waiting.push_front(step.job);
            }
        }
        if !self.steps.is_empty() {
            self.limit = self.steps.len();
        }
    }

    /// Ends everything: unfinished ports get [`PortError::Stopped`].
    pub fn stop(&mut self, now: Instant) {
        for job in self.jobs.iter_mut().filter(|j| !j.done) {
            job.finish(now, Some(PortError::Stopped));
        }
        self.close_done();
    }

    /// The results, one per target in the order of the targets.
    pub fn into_results(self) -> Vec<ServiceResult> {
        self.jobs.into_iter().map(Job::into_result).collect()
    }

    fn end(&mut self, id: ConnId, outcome: Outcome, now: Instant) {
        let Some(step) = self.steps.remove(&id) else {
            return;
        };
        self.actions.push_back(UdpAction::Close { id });
        if let Some(job) = self.jobs.get_mut(step.job) {
            job.running = job.running.saturating_sub(1);
            job.record(self.db, &step, outcome, now, self.settle);
        }
    }

    /// Closes the sockets of ports that are done.
    fn close_done(&mut self) {
        let jobs = &mut self.jobs;
        let actions = &mut self.actions;
        self.steps.retain(|&id, s| {
            let Some(job) = jobs.get_mut(s.job) else {
                return false;
            };
            if job.done {
                job.running = job.running.saturating_sub(1);
                actions.push_back(UdpAction::Close { id });
            }
            !job.done
        });
    }

    /// Decides the ports that know enough, then starts probes while sockets are free.
    fn progress(&mut self, now: Instant) {
        let budget = self.budget;
        for job in self.jobs.iter_mut().filter(|j| !j.done) {
            if job.is_decided(now) {
                job.finish(now, None);
            } else if job.started.is_some_and(|t| now >= after(t, budget)) {
                job.finish(now, Some(PortError::OutOfTime));
            }
        }
        self.close_done();
        for job in self.jobs.iter_mut().filter(|j| !j.done && j.running == 0) {
            if job.next >= job.plan.len() {
                job.finish(now, None);
            }
        }
        // Start the plans of waiting ports while sockets are free.
        while self.steps.len() < self.limit {
            let Some(&j) = self.waiting.front() else {
                break;
            };
            let Some(job) = self.jobs.get_mut(j) else {
                self.waiting.pop_front();
                continue;
            };
            let Some(&probe) = job.plan.get(job.next).filter(|_| !job.done) else {
                self.waiting.pop_front();
                if job.running == 0 && !job.done {
                    job.finish(now, None);
                }
                continue;
            };
            let index = job.next;
            job.next += 1;
            job.started.get_or_insert(now);
            job.running += 1;
            job.probes_sent += 1;
            let end = job.started.map_or(now, |t| after(t, budget));
            let deadline = after(now, probe.wait()).min(end);
            let id = ConnId(self.next_id);
            self.next_id += 1;
            let addr = SocketAddr::new(job.addr, job.port);
            self.steps.insert(
                id,
                Step {
                    job: j,
                    index,
                    probe,
                    sent: now,
                    resent: false,
                    deadline,
                },
            );
            self.actions.push_back(UdpAction::Open { id, addr });
            self.actions.push_back(UdpAction::Send {
                id,
                data: probe.payload(),
            });
        }
    }
}
