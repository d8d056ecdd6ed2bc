//! The port-scan state machine.
//!
//! [`Scan`] owns the order of probes, their pacing, retransmission and the state of
//! every port; it performs no I/O. A driver feeds it time and replies:
//!
//! ```text
//! loop {
//!     while let Some(t) = scan.poll_transmit(now, &mut buf) { send(t, &buf[..t.len]) }
//!     for packet in receive(until scan.next_timeout()) { scan.on_packet(now, packet) }
//!     while let Some(ev) = scan.poll_event() { sinks.handle(ev) }
//!     if scan.is_done() { break }
//! }
//! ```
//!
//! Targets are consumed lazily from an iterator in *groups* of hosts small enough that
//! group × ports slots fit a fixed budget, so memory does not grow with the number of
//! targets. Within a group, probes go in a keyed pseudo-random order over hosts × ports
//! ([`crate::perm::Permutation`]), or with `-r` port by port with hosts interleaved.
//!
//! A port is decided by the first valid answer. An unanswered probe is retransmitted
//! after the current RTO until `max_retries` retransmissions went unanswered; only then
//! is the port called filtered (no-response). A valid answer that arrives after that, while
//! the host is still being scanned, replaces the guess with the truth.
//!
//! # Paced UDP: telling a rate limit from silence
//!
//! A closed UDP port answers with ICMP port unreachable, but the target sends those only
//! as fast as its per-peer token bucket allows (Linux: a burst of 6, then 1 per second
//! per source address). Past the bucket a closed port is as silent as an open one, so
//! plain retransmission would call most closed ports open|filtered. Instead, once a
//! host has answered one port with port unreachable (so it sends them) and a probe to it
//! went unanswered, the host is *paced*:
//!
//! - Each of our source addresses for the host is a *lane* with its own bucket estimate
//!   ([`IcmpRate`]); several sources mean several buckets at the target, and the host's
//!   unresolved ports are shared among its lanes.
//! - A lane probes in *rounds*, one token's worth of time apart: a group of unresolved
//!   ports, then a *witness* — a probe to a port already known closed, sent last. If the
//!   witness's port unreachable comes back, the target still had a token after every
//!   closed port of the round (packets on one path arrive in order), so any port of the
//!   round that stayed silent was not rate-limited: the silence is *evidence* that the
//!   port is silent (or that the probe or its answer was lost). If the witness stays
//!   unanswered, the round ran out of tokens and its silences prove nothing.
//! - Loss is told apart from silence by repetition: a port becomes open|filtered only
//!   after [`paced_evidence`] witnessed silences; random loss would have to strike that
//!   many witnessed rounds in a row. A rate limit never produces a witnessed silence.
//! - The witness also makes the rate estimate a matter of speed, never of correctness:
//!   rounds that go too fast are only unwitnessed. The rate is learnt from the ICMP
//!   errors that come back per round ([`IcmpRate::on_round`]).
//! - A lane whose rounds bring back no ICMP at all for [`DEAD_WITNESS_ROUNDS`] rounds in
//!   a row (the host stopped answering) takes silence as evidence again, so a scan always
//!   ends.

use crate::cookie::CookieJar;
use crate::perm::{splitmix64, Permutation};
use crate::targets::Target;
use crate::timing::{IcmpRate, RateControl, RttEstimator, Timing};
use crate::types::{HostReport, HostStatus, PingProbe, PortResult, PortState, Reason, ScanType};
use monban_wire as wire;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant, SystemTime};

/// Bytes a probe can take: the buffer handed to [`Scan::poll_transmit`] should hold this
/// much (an IPv6 header plus the largest UDP payload we ship fits well within it).
pub const MAX_PROBE_LEN: usize = 1500;
/// Default budget of port slots held in memory at once (12 bytes each).
pub const DEFAULT_GROUP_SLOTS: usize = 1 << 20;
/// Most hosts in one group.
pub const MAX_GROUP_HOSTS: usize = 4096;
/// Active groups at once: one finishing its retransmissions while the next starts.
const MAX_ACTIVE_GROUPS: usize = 2;
/// Source ports a SYN scan uses: try *k* of a probe leaves from `source_port + k`
/// (the last port for every later try), so no retransmission shares a 4-tuple with an
/// earlier try whose SYN/ACK may have been lost (see [`crate::cookie`]).
pub const SOURCE_PORTS: u16 = 16;
/// How often host timeouts are checked.
const HOST_TIMEOUT_CHECK: Duration = Duration::from_millis(100);
/// Paced UDP: rounds in a row without any ICMP error back after which a lane takes
/// silence as evidence again (the host stopped answering).
pub const DEAD_WITNESS_ROUNDS: u32 = 8;
/// Known-closed ports remembered per host as witnesses for paced UDP.
const MAX_WITNESSES: usize = 8;
/// Most witnessed-silent ports re-probed in one round.
const MAX_ROUND_SUSPECTS: usize = 512;

/// Paced UDP: witnessed silences a port needs before it is called open|filtered
/// (`max_retries`, at most 6: each is a silence the rate limit cannot explain, so only
/// loss striking that many witnessed rounds in a row could hide a closed port: at 5 %
/// loss each way, about one port in a million).
pub fn paced_evidence(max_retries: u32) -> u8 {
    max_retries.clamp(1, 6) as u8
}

/// What the scan is asked to do.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// SYN or connect.
    pub scan_type: ScanType,
    /// Timing, after templates and options were merged.
    pub timing: Timing,
    /// TCP ports, sorted ascending without duplicates.
    pub ports: Vec<u16>,
    /// Random probe order (false with `-r`).
    pub randomize_ports: bool,
    /// Seed for the probe order, cookies and source port.
    pub seed: u64,
    /// Source address for IPv4 probes (SYN scan); asked for through [`Scan::needs_source`] if None.
    pub source_v4: Option<Ipv4Addr>,
    /// Source address for IPv6 probes (SYN scan).
    pub source_v6: Option<Ipv6Addr>,
    /// More source addresses (`-S` with a list or a range), IPv4 and IPv6 mixed. Probes
    /// to a host are spread over every address of its family (`source_v4`/`source_v6`
    /// first when set): a target's per-peer limits, such as Linux's ICMP rate limit,
    /// then apply per (target, source), and a paced UDP scan gets one bucket per source.
    /// Each address must be configured on the sending host, or no reply comes back.
    pub sources: Vec<IpAddr>,
    /// TCP source port of a SYN probe's first try. Try *k* leaves from
    /// `source_port + k` (up to [`SOURCE_PORTS`] ports), unless `fixed_source_port`.
    pub source_port: u16,
    /// `-g`: every try leaves from `source_port`, retransmissions are identical SYNs.
    pub fixed_source_port: bool,
    /// `--scanflags`: TCP flags to send instead of the scan type's own; replies are
    /// still read as the scan type says.
    pub tcp_flags: Option<u8>,
    /// `-Pn`: report every host up, even if nothing answered.
    pub assume_up: bool,
    /// Wall-clock time corresponding to `mono_start`, for report timestamps.
    pub wall_start: SystemTime,
    /// Most port slots held at once.
    pub max_group_slots: usize,
    /// `--shard`: scan only the (host, port) pairs of this shard, as (index, count) with
    /// index in `0..count`. Every pair belongs to exactly one shard, chosen by a keyed
    /// hash of the pair under `seed`: machines with the same seed and targets cover the
    /// space exactly once between them.
    pub shard: Option<(u32, u32)>,
    /// Host discovery instead of a port scan: each host gets these probes (with the
    /// usual retransmissions) and is reported up on the first answer from it, down
    /// when none came; reports carry no ports. `ports` is ignored.
    pub pings: Option<Vec<PingProbe>>,
}

/// Why a scan could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScanError {
    /// No ports were given.
    #[error("no ports to scan")]
    NoPorts,
    /// A shard index outside `0..count`, or zero shards.
    #[error("shard {index} of {count} does not exist")]
    BadShard {
        /// The 0-based index given.
        index: u32,
        /// The number of shards given.
        count: u32,
    },
    /// The port list is not sorted or has duplicates.
    #[error("the port list must be sorted and without duplicates")]
    UnsortedPorts,
    /// The timing options contradict each other.
    #[error(transparent)]
    Timing(#[from] crate::timing::TimingError),
}

/// One probe to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub port: u16,
    /// 0 for the first try, 1 for the first retransmission, ...
    pub attempt: u8,
    /// Bytes of the IP packet written into the buffer (SYN scan); 0 for connect scan.
    pub len: usize,
    /// How long the engine waits for an answer to this try; a connect driver may
    /// abandon the attempt after it.
    pub timeout: Duration,
}

/// How a `connect()` attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// The handshake completed.
    Connected,
    /// The target answered with RST.
    Refused,
    /// An ICMP error ended the attempt; the reason says which.
    Unreachable(Reason),
    /// The attempt ended without an answer (abandoned or a local error): the engine's
    /// own retransmission timer decides what happens next.
    NoAnswer,
}

/// Something the scan found.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An open port, reported the moment it is found.
    OpenPort {
        /// Host address.
        addr: IpAddr,
        /// The port's result.
        result: PortResult,
    },
    /// A host is finished (or the scan was stopped while it was in progress).
    Host(Box<HostReport>),
}

/// Counters for the progress display and the end-of-scan summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// Ports (host × port pairs) in the whole scan, as far as known (upper bound).
    pub ports_total: u128,
    /// Ports with a final state.
    pub ports_done: u64,
    /// Probes sent, retransmissions included.
    pub probes_sent: u64,
    /// Retransmissions sent.
    pub retransmits: u64,
    /// Hosts reported.
    pub hosts_done: u64,
    /// Valid replies matched to a probe.
    pub replies: u64,
    /// Packets that were not replies to our probes or were malformed.
    pub ignored: u64,
    /// Current send rate, probes per second (None: unpaced).
    pub rate: Option<f64>,
    /// Probes awaiting an answer.
    pub in_flight: usize,
}

const ST_PENDING: u8 = 0;
const ST_INFLIGHT: u8 = 1;
const ST_QUEUED: u8 = 2;
const ST_FINAL: u8 = 3;
/// Belongs to another shard: never probed, never reported.
const ST_FOREIGN: u8 = 4;
/// Held by a paced UDP host (in its queues or in a round), not by the retransmit queue.
const ST_PACED: u8 = 5;

/// What one answer (or the lack of one) says about a port.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Verdict {
    state: PortState,
    reason: Reason,
    ttl: Option<u8>,
}

/// A reply matched to a probe: which port it speaks for and what it says.
#[derive(Debug, Clone, Copy)]
struct Answer {
    addr: IpAddr,
    port: u16,
    /// The try it answers; `u8::MAX` when that cannot be told.
    attempt: u8,
    verdict: Verdict,
    /// Sent by the target itself (so the host is up), not by a router on the way.
    from_target: bool,
    /// Our address the reply came to, where known (paced UDP lanes).
    via: Option<IpAddr>,
}

/// Per (host, port) state; 12 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    status: u8,
    tries: u8,
    state: u8,
    reason: u8,
    ttl: u8,
    has_ttl: bool,
    /// Decided by a reply (not by running out of tries).
    answered: bool,
    /// Send time of the latest try, in ticks since the scan started.
    sent: u32,
}

impl Slot {
    fn set_verdict(&mut self, v: Verdict, answered: bool) {
        self.status = ST_FINAL;
        self.state = state_code(v.state);
        self.reason = reason_code(v.reason);
        self.ttl = v.ttl.unwrap_or(0);
        self.has_ttl = v.ttl.is_some();
        self.answered = answered;
    }
}

/// Tick length for send times stored in slots.
const TICK_NANOS: u64 = 10_000;

fn state_code(s: PortState) -> u8 {
    PortState::ALL.iter().position(|x| *x == s).unwrap_or(2) as u8
}

fn code_state(c: u8) -> PortState {
    PortState::ALL
        .get(usize::from(c))
        .copied()
        .unwrap_or(PortState::Filtered)
}

const REASONS: [Reason; 16] = [
    Reason::SynAck,
    Reason::Reset,
    Reason::ConnRefused,
    Reason::NoResponse,
    Reason::AdminProhibited,
    Reason::HostUnreach,
    Reason::NetUnreach,
    Reason::PortUnreach,
    Reason::ProtoUnreach,
    Reason::HostProhibited,
    Reason::NetProhibited,
    Reason::UdpResponse,
    Reason::EchoReply,
    Reason::UserSet,
    Reason::LocalhostResponse,
    Reason::TimestampReply,
];

fn reason_code(r: Reason) -> u8 {
    REASONS.iter().position(|x| *x == r).unwrap_or(3) as u8
}

fn code_reason(c: u8) -> Reason {
    REASONS
        .get(usize::from(c))
        .copied()
        .unwrap_or(Reason::NoResponse)
}

#[derive(Debug)]
struct HostEntry {
    target: Target,
    start: Option<Instant>,
    unresolved: u32,
    responded: Option<(Reason, Option<u8>)>,
    done: bool,
    srtt: Option<Duration>,
    /// UDP: indices of ports the host itself answered with port unreachable.
    closed: Vec<u32>,
    /// UDP: the paced state, once the host is paced.
    pace: Option<Box<Pace>>,
}

/// A paced UDP host (see the module documentation).
#[derive(Debug)]
struct Pace {
    /// Unresolved ports without witnessed silence yet.
    fresh: VecDeque<u32>,
    /// Ports with at least one witnessed silence.
    suspects: VecDeque<u32>,
    /// Witnessed silences per port.
    evidence: HashMap<u32, u8>,
    /// Ports in some lane's current round.
    in_round: HashSet<u32>,
    lanes: Vec<Lane>,
    next_witness: usize,
}

/// One source address's view of a paced host.
#[derive(Debug)]
struct Lane {
    src: IpAddr,
    rate: IcmpRate,
    last_round: Option<Instant>,
    /// When this lane wants attention (its round's deadline, or its next round).
    timer: Option<Instant>,
    round: Option<Round>,
    /// ICMP errors from the target to this source since the last round ended.
    icmp: u32,
    /// Rounds in a row that got no ICMP error at all.
    blank: u32,
}

#[derive(Debug)]
struct Round {
    /// Since the previous round started.
    elapsed: Duration,
    /// Port index, and whether it was fresh (not yet witnessed silent).
    members: Vec<(u32, bool)>,
    next: usize,
    witness: u32,
    witness_sent: bool,
    witnessed: bool,
}

#[derive(Debug)]
struct Group {
    id: u64,
    hosts: Vec<HostEntry>,
    slots: Vec<Slot>,
    order: Option<Permutation>,
    cursor: u64,
    hosts_left: usize,
}

impl Group {
    fn n(&self) -> u64 {
        self.slots.len() as u64
    }
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    group: u64,
    slot: u32,
    sent_tick: u32,
    sent: Instant,
}

/// A port scan in progress. See the module documentation for the driving loop.
pub struct Scan {
    cfg: ScanConfig,
    ports_len: usize,
    jar: CookieJar,
    targets: Box<dyn Iterator<Item = Target> + Send>,
    targets_total: u128,
    targets_exhausted: bool,
    held: Option<Target>,
    groups: VecDeque<Group>,
    next_group_id: u64,
    addr_index: HashMap<IpAddr, (u64, u32)>,
    inflight: VecDeque<Flight>,
    in_flight: usize,
    max_in_flight: usize,
    retx: VecDeque<(u64, u32)>,
    rtt: RttEstimator,
    rate: RateControl,
    events: VecDeque<Event>,
    start: Instant,
    last_host_check: Instant,
    stopped: bool,
    need_source: Option<IpAddr>,
    progress: Progress,
    /// Source addresses per family: [IPv4, IPv6].
    srcs: [Vec<IpAddr>; 2],
    /// Paced UDP lanes' timers: (when, group, host, lane).
    lane_timers: BinaryHeap<Reverse<(Instant, u64, u32, u16)>>,
    /// Lanes with a round being sent.
    sending: VecDeque<(u64, u32, u16)>,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("progress", &self.progress)
            .field("groups", &self.groups.len())
            .finish()
    }
}

impl Scan {
    /// Sets up a scan of `targets` (consumed lazily; `targets_total` is an upper bound
    /// on their number, for progress) starting at `now`.
    pub fn new(
        cfg: ScanConfig,
        targets: Box<dyn Iterator<Item = Target> + Send>,
        targets_total: u128,
        now: Instant,
    ) -> Result<Scan, ScanError> {
        let mut cfg = cfg;
        if let Some(pings) = &cfg.pings {
            // A slot's "port" is the index of its ping probe.
            cfg.ports = (0..pings.len().min(usize::from(u16::MAX)) as u16).collect();
        }
        if cfg.ports.is_empty() {
            return Err(ScanError::NoPorts);
        }
        if cfg.ports.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ScanError::UnsortedPorts);
        }
        cfg.timing.validate()?;
        if let Some((index, count)) = cfg.shard {
            if count == 0 || index >= count {
                return Err(ScanError::BadShard { index, count });
            }
        }
        let ports_len = cfg.ports.len();
        let mut srcs: [Vec<IpAddr>; 2] = [Vec::new(), Vec::new()];
        let firsts = [cfg.source_v4.map(IpAddr::V4), cfg.source_v6.map(IpAddr::V6)];
        for a in firsts
            .into_iter()
            .flatten()
            .chain(cfg.sources.iter().copied())
        {
            let list = &mut srcs[usize::from(a.is_ipv6())];
            if !list.contains(&a) {
                list.push(a);
            }
        }
        let shards = cfg.shard.map_or(1, |(_, n)| u128::from(n.max(1)));
        let progress = Progress {
            ports_total: targets_total.saturating_mul(ports_len as u128) / shards,
            ..Progress::default()
        };
        Ok(Scan {
            jar: CookieJar::new(splitmix64(cfg.seed ^ 0x6d6f_6e62_616e)),
            rtt: RttEstimator::new(&cfg.timing),
            rate: RateControl::new(&cfg.timing),
            max_in_flight: cfg.timing.max_in_flight,
            ports_len,
            targets,
            targets_total,
            targets_exhausted: false,
            held: None,
            groups: VecDeque::new(),
            next_group_id: 0,
            addr_index: HashMap::new(),
            inflight: VecDeque::new(),
            in_flight: 0,
            retx: VecDeque::new(),
            events: VecDeque::new(),
            start: now,
            last_host_check: now,
            stopped: false,
            need_source: None,
            progress,
            srcs,
            lane_timers: BinaryHeap::new(),
            sending: VecDeque::new(),
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ScanConfig {
        &self.cfg
    }

    /// Upper bound on the number of targets, as given.
    pub fn targets_total(&self) -> u128 {
        self.targets_total
    }

    /// Counters.
    pub fn progress(&self) -> Progress {
        Progress {
            rate: self.rate.rate(),
            in_flight: self.in_flight,
            ..self.progress
        }
    }

    /// Current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Smoothed RTT over all hosts, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// A SYN scan needs a source address for `target`'s family before it can go on:
    /// the driver finds one (e.g. from the route) and calls [`Scan::set_source`].
    pub fn needs_source(&self) -> Option<IpAddr> {
        self.need_source
    }

    /// Sets the source address for one address family.
    pub fn set_source(&mut self, addr: IpAddr) {
        let old = match addr {
            IpAddr::V4(a) => self.cfg.source_v4.replace(a).map(IpAddr::V4),
            IpAddr::V6(a) => self.cfg.source_v6.replace(a).map(IpAddr::V6),
        };
        let list = &mut self.srcs[usize::from(addr.is_ipv6())];
        list.retain(|a| Some(*a) != old && *a != addr);
        list.insert(0, addr);
        if self
            .need_source
            .is_some_and(|n| n.is_ipv4() == addr.is_ipv4())
        {
            self.need_source = None;
        }
    }

    /// Lowers the number of probes in flight, e.g. when the driver runs out of sockets.
    pub fn limit_in_flight(&mut self, max: usize) {
        self.max_in_flight = max.clamp(1, self.cfg.timing.max_in_flight);
    }

    /// The driver could not hand probes to the kernel, or the kernel dropped replies
    /// before we read them: treated as congestion.
    pub fn on_backpressure(&mut self, now: Instant) {
        self.rate.on_backpressure(now);
    }

    /// True once every target has been reported (or the scan was stopped).
    pub fn is_done(&self) -> bool {
        self.events.is_empty()
            && (self.stopped
                || (self.targets_exhausted && self.held.is_none() && self.groups.is_empty()))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Stops sending: every host in progress is reported with what is known so far
    /// (marked incomplete); hosts not yet started are not reported.
    pub fn stop(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let groups: Vec<Group> = self.groups.drain(..).collect();
        for mut g in groups {
            for h in 0..g.hosts.len() {
                if !g.hosts[h].done {
                    self.finish_host(&mut g, h, now, true);
                }
            }
        }
        self.addr_index.clear();
        self.inflight.clear();
        self.retx.clear();
        self.lane_timers.clear();
        self.sending.clear();
        self.in_flight = 0;
    }

    fn tick(&self, now: Instant) -> u32 {
        (now.saturating_duration_since(self.start).as_nanos() / u128::from(TICK_NANOS)) as u32
    }

    fn group_pos(&self, id: u64) -> Option<usize> {
        self.groups.iter().position(|g| g.id == id)
    }

    /// When the driver should call in again at the latest (None: only when a packet
    /// arrives, or never if the scan is done).
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n: Instant| n.min(t)));
        };
        if let Some(f) = self.inflight.front() {
            consider(f.sent + self.rtt.rto());
        }
        if let Some(Reverse((t, ..))) = self.lane_timers.peek() {
            consider(*t);
        }
        if self.has_work() && self.in_flight < self.max_in_flight && self.need_source.is_none() {
            consider(self.rate.next_send().unwrap_or(self.start));
        }
        if self.cfg.timing.host_timeout.is_some() && !self.groups.is_empty() {
            consider(self.last_host_check + HOST_TIMEOUT_CHECK);
        }
        next
    }

    /// Whether a probe could be produced now (pacing and in-flight limits aside).
    fn has_work(&self) -> bool {
        let can_open = self.groups.len() < MAX_ACTIVE_GROUPS
            && match &self.held {
                Some(t) => !self.addr_index.contains_key(&t.addr),
                None => !self.targets_exhausted,
            };
        !self.retx.is_empty()
            || !self.sending.is_empty()
            || self.groups.back().is_some_and(|g| g.cursor < g.n())
            || can_open
    }

    /// Processes timers that expired by `now` (also done by every other call).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        let rto = self.rtt.rto();
        while let Some(f) = self.inflight.front().copied() {
            if f.sent + rto > now {
                break;
            }
            self.inflight.pop_front();
            let Some(gi) = self.group_pos(f.group) else {
                continue;
            };
            let slot = self.groups[gi].slots[f.slot as usize];
            if slot.status != ST_INFLIGHT || slot.sent != f.sent_tick {
                continue;
            }
            if self.pace_on_timeout(now, gi, f.slot) {
                continue;
            }
            if u32::from(slot.tries) <= self.cfg.timing.max_retries {
                self.in_flight -= 1;
                self.groups[gi].slots[f.slot as usize].status = ST_QUEUED;
                self.retx.push_back((f.group, f.slot));
            } else {
                let silence = Verdict {
                    state: self.cfg.scan_type.silent_state(),
                    reason: Reason::NoResponse,
                    ttl: None,
                };
                self.resolve_slot(gi, f.slot, silence, false, now);
            }
        }
        while let Some(Reverse((t, gid, h, lane))) = self.lane_timers.peek().copied() {
            if t > now {
                break;
            }
            self.lane_timers.pop();
            self.on_lane_timer(now, t, gid, h, lane);
        }
        if let Some(limit) = self.cfg.timing.host_timeout {
            if now >= self.last_host_check + HOST_TIMEOUT_CHECK {
                self.last_host_check = now;
                self.expire_hosts(now, limit);
            }
        }
    }

    fn expire_hosts(&mut self, now: Instant, limit: Duration) {
        for gi in 0..self.groups.len() {
            for h in 0..self.groups[gi].hosts.len() {
                let host = &self.groups[gi].hosts[h];
                let expired = !host.done && host.start.is_some_and(|s| now >= s + limit);
                if !expired {
                    continue;
                }
                let p = self.ports_len;
                let g = &mut self.groups[gi];
                for s in &mut g.slots[h * p..(h + 1) * p] {
                    if s.status == ST_INFLIGHT {
                        self.in_flight -= 1;
                    }
                    if s.status != ST_FINAL {
                        s.status = ST_FINAL;
                        self.progress.ports_done += 1;
                    }
                }
                g.hosts[h].unresolved = 0;
                g.hosts[h].pace = None;
                let mut g = std::mem::replace(&mut self.groups[gi], empty_group());
                self.finish_host_timed_out(&mut g, h, now);
                self.groups[gi] = g;
            }
        }
        self.drop_finished_groups();
    }

    /// The next probe to send at `now`, written into `buf` for a raw scan (`buf` should
    /// hold [`MAX_PROBE_LEN`] bytes; TCP probes need 128). None when pacing, the in-flight limit or a missing
    /// source address says wait (see [`Scan::next_timeout`]) or nothing is left.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.handle_timeout(now);
        if self.stopped || self.need_source.is_some() {
            return None;
        }
        if self.in_flight >= self.max_in_flight || !self.rate.may_send(now) {
            return None;
        }
        if let Some(t) = self.poll_round(now, buf) {
            return Some(t);
        }
        loop {
            let (gid, slot_idx) = self.next_slot(now)?;
            let gi = self.group_pos(gid)?;
            if self.skip_slot(now, gi, slot_idx) {
                continue;
            }
            return self.send_slot(now, gid, gi, slot_idx, None, buf);
        }
    }

    /// A slot that needs no probe after all: a timestamp ping to an IPv6 target (ICMPv6
    /// has no timestamp message) is settled as unanswered without sending anything.
    fn skip_slot(&mut self, now: Instant, gi: usize, slot_idx: u32) -> bool {
        let p = self.ports_len;
        let h = slot_idx as usize / p;
        let slot_port = self.cfg.ports[slot_idx as usize % p];
        let v6 = self.groups[gi].hosts[h].target.addr.is_ipv6();
        if v6 && self.ping(slot_port) == Some(PingProbe::Timestamp) {
            let silence = Verdict {
                state: self.cfg.scan_type.silent_state(),
                reason: Reason::NoResponse,
                ttl: None,
            };
            self.resolve_slot(gi, slot_idx, silence, false, now);
            return true;
        }
        false
    }

    /// The source address for a probe to `dst`: the family's addresses in turn by `key`.
    fn pick_source(&self, dst: IpAddr, key: usize) -> Option<IpAddr> {
        let list = &self.srcs[usize::from(dst.is_ipv6())];
        list.get(key % list.len().max(1)).copied()
    }

    /// Whether `addr` is one of our source addresses.
    fn is_ours(&self, addr: IpAddr) -> bool {
        self.srcs[usize::from(addr.is_ipv6())].contains(&addr)
    }

    /// Writes the probe for a slot's port (`slot_port`: a real port, or a ping index in
    /// a discovery scan) into `buf`; returns its length and destination port.
    fn build_probe(
        &mut self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        slot_port: u16,
        sport: u16,
    ) -> Result<(usize, u16), wire::WireError> {
        let ping = self.ping(slot_port);
        let port = match ping {
            Some(
                PingProbe::Syn(p) | PingProbe::Ack(p) | PingProbe::Connect(p) | PingProbe::Udp(p),
            ) => p,
            Some(PingProbe::Echo | PingProbe::Timestamp) => 0,
            None => slot_port,
        };
        // The cookie goes into the sequence number, and into the acknowledgement number
        // too when the probe carries ACK: a RST to an ACK probe echoes that number as
        // its own sequence number.
        let cookie = self.jar.seq(dst, port, sport);
        let udp = match ping {
            None => self.cfg.scan_type == ScanType::Udp,
            Some(k) => matches!(k, PingProbe::Udp(_)),
        };
        let len = if udp {
            let mut udp = wire::UdpProbe {
                src,
                dst,
                ttl: 64,
                ip_id: wire::mark::mark_pair(sport, port),
                src_port: sport,
                dst_port: port,
                payload: monban_data::payloads::udp_payload(port).unwrap_or(&[]),
            };
            // A payload that does not fit the caller's buffer: send the bare datagram
            // rather than nothing.
            wire::build_udp(buf, &udp).or_else(|_| {
                udp.payload = &[];
                wire::build_udp(buf, &udp)
            })?
        } else if ping == Some(PingProbe::Echo) {
            let echo = wire::EchoProbe {
                src,
                dst,
                ttl: 64,
                ip_id: wire::mark::mark_pair(sport, cookie as u16),
                ident: sport,
                seq: cookie as u16,
                payload: &[],
            };
            wire::build_echo(buf, &echo)?
        } else if ping == Some(PingProbe::Timestamp) {
            let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
                return Err(wire::WireError::FamilyMismatch);
            };
            let ts = wire::TimestampProbe {
                src,
                dst,
                ttl: 64,
                ip_id: wire::mark::mark_pair(sport, cookie as u16),
                ident: sport,
                seq: cookie as u16,
                originate: cookie,
            };
            wire::build_timestamp(buf, &ts)?
        } else {
            let flags = match ping {
                Some(PingProbe::Syn(_)) => wire::TcpFlags::SYN,
                Some(_) => wire::TcpFlags::ACK,
                None => self.probe_flags(),
            };
            let with_ack = flags.contains(wire::TcpFlags::ACK);
            let probe = wire::TcpProbe {
                src,
                dst,
                ttl: 64,
                ip_id: wire::mark::mark(cookie),
                src_port: sport,
                dst_port: port,
                seq: cookie,
                ack: if with_ack { cookie } else { 0 },
                flags,
                // monban's signature (see `monban_wire::mark`): defenders can tell our
                // probes from anyone else's; the window of a probe changes no answer.
                window: wire::mark::mark(cookie),
                options: if flags.contains(wire::TcpFlags::SYN) {
                    &wire::TCP_OPT_MSS_1460
                } else {
                    &[]
                },
                payload: &[],
            };
            wire::build_tcp(buf, &probe)?
        };
        Ok((len, port))
    }

    /// Sends the next try of one slot, from `src` or from the source its turn gives.
    fn send_slot(
        &mut self,
        now: Instant,
        gid: u64,
        gi: usize,
        slot_idx: u32,
        src: Option<IpAddr>,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        let p = self.ports_len;
        let host_idx = slot_idx as usize / p;
        let slot_port = self.cfg.ports[slot_idx as usize % p];
        let dst = self.groups[gi].hosts[host_idx].target.addr;
        let attempt = self.groups[gi].slots[slot_idx as usize].tries;
        let ping = self.ping(slot_port);
        let connect = match ping {
            Some(k) => k.is_connect(),
            None => self.cfg.scan_type == ScanType::Connect,
        };
        let (len, port) = if connect {
            let port = match ping {
                Some(PingProbe::Connect(p)) => p,
                _ => slot_port,
            };
            (0, port)
        } else {
            let key = slot_idx as usize + usize::from(attempt);
            let Some(src) = src.or_else(|| self.pick_source(dst, key)) else {
                // Put the probe back and ask the driver for a source address.
                self.requeue_front(gid, slot_idx);
                self.need_source = Some(dst);
                return None;
            };
            let sport = self.sport_for(attempt);
            match self.build_probe(buf, src, dst, slot_port, sport) {
                Ok(built) => built,
                Err(_) => {
                    self.requeue_back(gid, slot_idx);
                    return None;
                }
            }
        };
        let tick = self.tick(now);
        let g = &mut self.groups[gi];
        let host = &mut g.hosts[host_idx];
        host.start.get_or_insert(now);
        let s = &mut g.slots[slot_idx as usize];
        s.status = ST_INFLIGHT;
        s.tries = s.tries.saturating_add(1);
        s.sent = tick;
        self.inflight.push_back(Flight {
            group: gid,
            slot: slot_idx,
            sent_tick: tick,
            sent: now,
        });
        self.in_flight += 1;
        self.progress.probes_sent += 1;
        if attempt > 0 {
            self.progress.retransmits += 1;
        }
        self.rate.on_send(now);
        Some(Transmit {
            dst,
            port,
            attempt,
            len,
            timeout: self.rtt.rto(),
        })
    }

    /// Whether this scan paces UDP hosts (a UDP port scan, not discovery).
    fn paces_udp(&self) -> bool {
        self.cfg.scan_type == ScanType::Udp && self.cfg.pings.is_none()
    }

    /// A probe of slot `slot` timed out. For a host that answers with port unreachable,
    /// the slot goes to the host's paced queues instead of being retransmitted at once
    /// (true); otherwise the usual retransmission applies (false).
    fn pace_on_timeout(&mut self, now: Instant, gi: usize, slot: u32) -> bool {
        if !self.paces_udp() {
            return false;
        }
        let p = self.ports_len;
        let h = slot as usize / p;
        let m = slot % p as u32;
        let host = &self.groups[gi].hosts[h];
        if host.done || (host.closed.is_empty() && host.pace.is_none()) {
            return false;
        }
        self.in_flight -= 1;
        self.groups[gi].slots[slot as usize].status = ST_PACED;
        self.ensure_pace(now, gi, h);
        if let Some(pace) = self.groups[gi].hosts[h].pace.as_mut() {
            if !pace.in_round.contains(&m) {
                pace.fresh.push_back(m);
            }
        }
        self.kick_lanes(now, gi, h);
        true
    }

    /// Makes host `h` paced: one lane per source address of its family. Ports already
    /// given up as silent by plain retransmission are taken up again, since they may
    /// have been rate-limited closed ports.
    fn ensure_pace(&mut self, now: Instant, gi: usize, h: usize) {
        if self.groups[gi].hosts[h].pace.is_some() {
            return;
        }
        let dst = self.groups[gi].hosts[h].target.addr;
        let srcs = self.srcs[usize::from(dst.is_ipv6())].clone();
        let min_interval = self.rtt.rto();
        let lanes = srcs
            .into_iter()
            .map(|src| Lane {
                src,
                rate: IcmpRate::new(min_interval),
                last_round: Some(now),
                timer: None,
                round: None,
                icmp: 0,
                blank: 0,
            })
            .collect();
        let mut pace = Pace {
            fresh: VecDeque::new(),
            suspects: VecDeque::new(),
            evidence: HashMap::new(),
            in_round: HashSet::new(),
            lanes,
            next_witness: 0,
        };
        let p = self.ports_len;
        let silent = state_code(self.cfg.scan_type.silent_state());
        let g = &mut self.groups[gi];
        for (m, s) in g.slots[h * p..(h + 1) * p].iter_mut().enumerate() {
            if s.status == ST_FINAL && !s.answered && s.state == silent {
                s.status = ST_PACED;
                pace.fresh.push_back(m as u32);
                g.hosts[h].unresolved += 1;
                self.progress.ports_done -= 1;
            }
        }
        g.hosts[h].pace = Some(Box::new(pace));
    }

    /// Gives idle lanes of a paced host with work a timer for their next round.
    fn kick_lanes(&mut self, now: Instant, gi: usize, h: usize) {
        let gid = self.groups[gi].id;
        let Some(pace) = self.groups[gi].hosts[h].pace.as_mut() else {
            return;
        };
        if pace.fresh.is_empty() && pace.suspects.is_empty() {
            return;
        }
        for (l, lane) in pace.lanes.iter_mut().enumerate() {
            if lane.round.is_none() && lane.timer.is_none() {
                let at = lane
                    .last_round
                    .map_or(now, |t| t + lane.rate.interval())
                    .max(now);
                lane.timer = Some(at);
                self.lane_timers
                    .push(Reverse((at, gid, h as u32, l as u16)));
            }
        }
    }

    /// A lane's timer went off: judge its finished round, then start the next one.
    fn on_lane_timer(&mut self, now: Instant, at: Instant, gid: u64, h: u32, l: u16) {
        let Some(gi) = self.group_pos(gid) else {
            return;
        };
        let h = h as usize;
        let l = usize::from(l);
        let needed = paced_evidence(self.cfg.timing.max_retries);
        let p = self.ports_len;
        let mut silent = Vec::new();
        {
            let g = &mut self.groups[gi];
            if g.hosts[h].done {
                return;
            }
            let Some(pace) = g.hosts[h].pace.as_mut() else {
                return;
            };
            let Some(lane) = pace.lanes.get_mut(l) else {
                return;
            };
            if lane.timer != Some(at) {
                return;
            }
            lane.timer = None;
            let Some(round) = lane.round.take() else {
                self.start_round(now, gi, h, l);
                return;
            };
            {
                let icmp = std::mem::take(&mut lane.icmp);
                lane.blank = if icmp == 0 { lane.blank + 1 } else { 0 };
                lane.rate.on_round(round.elapsed, icmp, round.witnessed);
                let evidence = round.witnessed || lane.blank >= DEAD_WITNESS_ROUNDS;
                for (m, fresh) in round.members {
                    pace.in_round.remove(&m);
                    let s = &mut g.slots[h * p + m as usize];
                    match s.status {
                        ST_FINAL | ST_FOREIGN => continue,
                        ST_INFLIGHT => self.in_flight -= 1,
                        _ => {}
                    }
                    s.status = ST_PACED;
                    if evidence {
                        let e = pace.evidence.entry(m).or_insert(0);
                        *e += 1;
                        if *e >= needed {
                            silent.push(m);
                        } else {
                            pace.suspects.push_back(m);
                        }
                    } else if fresh {
                        pace.fresh.push_front(m);
                    } else {
                        pace.suspects.push_back(m);
                    }
                }
            }
        }
        for m in silent {
            let v = Verdict {
                state: self.cfg.scan_type.silent_state(),
                reason: Reason::NoResponse,
                ttl: None,
            };
            self.resolve_slot(gi, (h * p) as u32 + m, v, false, now);
        }
        // The next round goes one token's worth after this one started.
        if let Some(gi) = self.group_pos(gid) {
            self.kick_lanes(now, gi, h);
        }
    }

    /// Starts a round on an idle lane if its host has unresolved ports.
    fn start_round(&mut self, now: Instant, gi: usize, h: usize, l: usize) {
        let gid = self.groups[gi].id;
        let host = &mut self.groups[gi].hosts[h];
        if host.done || host.closed.is_empty() {
            return;
        }
        let closed = &host.closed;
        let Some(pace) = host.pace.as_mut() else {
            return;
        };
        if pace.fresh.is_empty() && pace.suspects.is_empty() {
            return;
        }
        let witness = closed[pace.next_witness % closed.len()];
        pace.next_witness = pace.next_witness.wrapping_add(1);
        let Some(lane) = pace.lanes.get_mut(l) else {
            return;
        };
        let elapsed = lane
            .last_round
            .map_or(lane.rate.interval(), |t| now.saturating_duration_since(t));
        let mut members = Vec::new();
        for _ in 0..lane.rate.fresh_count(elapsed) {
            match pace.fresh.pop_front() {
                Some(m) => members.push((m, true)),
                None => break,
            }
        }
        for _ in 0..MAX_ROUND_SUSPECTS {
            match pace.suspects.pop_front() {
                Some(m) => members.push((m, false)),
                None => break,
            }
        }
        for (m, _) in &members {
            pace.in_round.insert(*m);
        }
        lane.last_round = Some(now);
        lane.round = Some(Round {
            elapsed,
            members,
            next: 0,
            witness,
            witness_sent: false,
            witnessed: false,
        });
        self.sending.push_back((gid, h as u32, l as u16));
    }

    /// The next probe of a round being sent: its members, then its witness.
    fn poll_round(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let p = self.ports_len;
        while let Some(&(gid, h, l)) = self.sending.front() {
            let (h, l) = (h as usize, usize::from(l));
            let Some(gi) = self.group_pos(gid) else {
                self.sending.pop_front();
                continue;
            };
            let host = &mut self.groups[gi].hosts[h];
            let dst = host.target.addr;
            let done = host.done;
            let Some(lane) = host.pace.as_mut().and_then(|pc| pc.lanes.get_mut(l)) else {
                self.sending.pop_front();
                continue;
            };
            let src = lane.src;
            let Some(round) = lane.round.as_mut().filter(|_| !done) else {
                self.sending.pop_front();
                continue;
            };
            if let Some(&(m, _)) = round.members.get(round.next) {
                round.next += 1;
                let slot = (h * p) as u32 + m;
                if self.groups[gi].slots[slot as usize].status != ST_PACED {
                    continue;
                }
                // Its place in the queues is the round; a timeout leaves it there.
                if let Some(t) = self.send_slot(now, gid, gi, slot, Some(src), buf) {
                    return Some(t);
                }
                continue;
            }
            let witness = round.witness;
            round.witness_sent = true;
            let deadline = now + self.rtt.rto();
            lane.timer = Some(deadline);
            self.lane_timers
                .push(Reverse((deadline, gid, h as u32, l as u16)));
            self.sending.pop_front();
            let slot_port = self.cfg.ports[witness as usize];
            let sport = self.sport_for(SOURCE_PORTS as u8 - 1);
            let Ok((len, port)) = self.build_probe(buf, src, dst, slot_port, sport) else {
                continue;
            };
            self.progress.probes_sent += 1;
            self.rate.on_send(now);
            return Some(Transmit {
                dst,
                port,
                attempt: SOURCE_PORTS as u8 - 1,
                len,
                timeout: self.rtt.rto(),
            });
        }
        None
    }

    /// Puts a probe that could not be built behind every other waiting probe, so that
    /// one unbuildable probe never blocks the rest.
    fn requeue_back(&mut self, gid: u64, slot: u32) {
        if let Some(gi) = self.group_pos(gid) {
            self.groups[gi].slots[slot as usize].status = ST_QUEUED;
            self.retx.push_back((gid, slot));
        }
    }

    fn requeue_front(&mut self, gid: u64, slot: u32) {
        if let Some(gi) = self.group_pos(gid) {
            self.groups[gi].slots[slot as usize].status = ST_QUEUED;
            self.retx.push_front((gid, slot));
        }
    }

    /// A probe the driver could not send after all (e.g. out of file descriptors): it is
    /// put back to be sent again later, without counting as a try.
    pub fn unsend(&mut self, t: &Transmit) {
        let Some(&(gid, h)) = self.addr_index.get(&t.dst) else {
            return;
        };
        let Some(pi) = self.slot_port_index(t.port, true) else {
            return;
        };
        let Some(gi) = self.group_pos(gid) else {
            return;
        };
        let slot = h as usize * self.ports_len + pi;
        let s = &mut self.groups[gi].slots[slot];
        if s.status == ST_INFLIGHT && s.tries == t.attempt.saturating_add(1) {
            s.tries = t.attempt;
            s.status = ST_QUEUED;
            self.in_flight -= 1;
            self.progress.probes_sent -= 1;
            if t.attempt > 0 {
                self.progress.retransmits -= 1;
            }
            self.retx.push_front((gid, slot as u32));
        }
    }

    fn next_slot(&mut self, now: Instant) -> Option<(u64, u32)> {
        while let Some((gid, slot)) = self.retx.pop_front() {
            if let Some(gi) = self.group_pos(gid) {
                if self.groups[gi].slots[slot as usize].status == ST_QUEUED {
                    let h = slot as usize / self.ports_len;
                    if self.groups[gi].hosts[h].pace.is_some() {
                        // A paced host's ports wait for its rounds.
                        self.groups[gi].slots[slot as usize].status = ST_PACED;
                        let m = slot % self.ports_len as u32;
                        if let Some(pace) = self.groups[gi].hosts[h].pace.as_mut() {
                            if !pace.in_round.contains(&m) {
                                pace.fresh.push_back(m);
                            }
                        }
                        self.kick_lanes(now, gi, h);
                        continue;
                    }
                    return Some((gid, slot));
                }
            }
        }
        loop {
            if let Some(g) = self.groups.back_mut() {
                while g.cursor < g.n() {
                    let i = g.cursor;
                    g.cursor += 1;
                    let slot = match &g.order {
                        Some(perm) => {
                            let j = perm.get(i);
                            let h = (j % g.hosts.len() as u64) as usize;
                            let port = (j / g.hosts.len() as u64) as usize;
                            h * self.ports_len + port
                        }
                        None => {
                            let h = (i % g.hosts.len() as u64) as usize;
                            let port = (i / g.hosts.len() as u64) as usize;
                            h * self.ports_len + port
                        }
                    };
                    if g.slots[slot].status == ST_PENDING {
                        return Some((g.id, slot as u32));
                    }
                }
            }
            if self.groups.len() >= MAX_ACTIVE_GROUPS || !self.open_group(now) {
                return None;
            }
        }
    }

    fn open_group(&mut self, _now: Instant) -> bool {
        if self.targets_exhausted && self.held.is_none() {
            return false;
        }
        let budget = self.cfg.max_group_slots.max(self.ports_len);
        let cap = (budget / self.ports_len).clamp(1, MAX_GROUP_HOSTS);
        let id = self.next_group_id;
        let mut hosts = Vec::new();
        while hosts.len() < cap {
            let t = match self.held.take() {
                Some(t) => t,
                None => match self.targets.next() {
                    Some(t) => t,
                    None => {
                        self.targets_exhausted = true;
                        break;
                    }
                },
            };
            if self.addr_index.contains_key(&t.addr) {
                // The same address is still being scanned: wait until it is finished.
                self.held = Some(t);
                break;
            }
            self.addr_index.insert(t.addr, (id, hosts.len() as u32));
            hosts.push(HostEntry {
                target: t,
                start: None,
                unresolved: self.ports_len as u32,
                responded: None,
                done: false,
                srtt: None,
                closed: Vec::new(),
                pace: None,
            });
        }
        if hosts.is_empty() {
            return false;
        }
        self.next_group_id += 1;
        let n = hosts.len() * self.ports_len;
        let order = self.cfg.randomize_ports.then(|| {
            Permutation::new(
                n as u64,
                splitmix64(self.cfg.seed ^ id.wrapping_mul(0x9e37)),
            )
        });
        let mut slots = vec![Slot::default(); n];
        if let Some((index, count)) = self.cfg.shard {
            for (h, host) in hosts.iter_mut().enumerate() {
                let range = h * self.ports_len..(h + 1) * self.ports_len;
                for (slot, &port) in slots[range].iter_mut().zip(&self.cfg.ports) {
                    if shard_of(self.cfg.seed, host.target.addr, port, count) != index {
                        slot.status = ST_FOREIGN;
                        host.unresolved -= 1;
                    }
                }
            }
        }
        let hosts_left = hosts.len();
        let mut group = Group {
            id,
            hosts,
            slots,
            order,
            cursor: 0,
            hosts_left,
        };
        // A host with no pair in this shard is not ours to report.
        for host in group.hosts.iter_mut().filter(|h| h.unresolved == 0) {
            host.done = true;
            group.hosts_left -= 1;
        }
        if group.hosts_left == 0 {
            for h in &group.hosts {
                self.addr_index.remove(&h.target.addr);
            }
            return true;
        }
        self.groups.push_back(group);
        true
    }

    /// Feeds one received IP packet (starting at the IP header). Returns true if it was
    /// a valid reply to one of our probes.
    pub fn on_packet(&mut self, now: Instant, packet: &[u8]) -> bool {
        self.handle_timeout(now);
        let matched = self.match_packet(now, packet);
        if matched {
            self.progress.replies += 1;
        } else {
            self.progress.ignored += 1;
        }
        matched
    }

    /// The ping probe behind a slot's port value, in a discovery scan.
    fn ping(&self, slot_port: u16) -> Option<PingProbe> {
        self.cfg
            .pings
            .as_ref()?
            .get(usize::from(slot_port))
            .copied()
    }

    /// Index into `cfg.ports` of the slot a real port belongs to; in a discovery scan,
    /// of the connect ping (`connect` true) or SYN/ACK ping to that port.
    fn slot_port_index(&self, port: u16, connect: bool) -> Option<usize> {
        match &self.cfg.pings {
            None => self.cfg.ports.binary_search(&port).ok(),
            Some(pings) => pings.iter().position(|k| match k {
                PingProbe::Connect(p) => connect && *p == port,
                PingProbe::Syn(p) | PingProbe::Ack(p) | PingProbe::Udp(p) => !connect && *p == port,
                PingProbe::Echo | PingProbe::Timestamp => false,
            }),
        }
    }

    /// Flags of our probes.
    fn probe_flags(&self) -> wire::TcpFlags {
        wire::TcpFlags(
            self.cfg
                .tcp_flags
                .unwrap_or_else(|| self.cfg.scan_type.probe_flags()),
        )
    }

    /// Whether a SYN/ACK or RST with these numbers answers our probe with `cookie`.
    ///
    /// With ACK set it must acknowledge our sequence number plus what the probe
    /// occupied in sequence space (SYN and FIN count one each). A RST without ACK
    /// answers a probe that carried ACK, and takes our acknowledgement number (the
    /// cookie) as its sequence number (RFC 9293, 3.10.7.1).
    fn acknowledges(
        probe: wire::TcpFlags,
        cookie: u32,
        flags: wire::TcpFlags,
        seq: u32,
        ack: u32,
    ) -> bool {
        if flags.contains(wire::TcpFlags::ACK) {
            let used = u32::from(probe.contains(wire::TcpFlags::SYN))
                + u32::from(probe.contains(wire::TcpFlags::FIN));
            ack == cookie.wrapping_add(used)
        } else {
            flags.contains(wire::TcpFlags::RST)
                && probe.contains(wire::TcpFlags::ACK)
                && seq == cookie
        }
    }

    /// What a valid SYN/ACK (`is_rst` false) or RST means for this scan type.
    fn read_tcp_reply(&self, is_rst: bool, window: u16) -> Option<(PortState, Reason)> {
        if !is_rst {
            // A SYN/ACK: something listens (SYN scans, or custom flags with SYN).
            return Some((PortState::Open, Reason::SynAck));
        }
        Some(match self.cfg.scan_type {
            ScanType::Syn | ScanType::Fin | ScanType::Null | ScanType::Xmas => {
                (PortState::Closed, Reason::Reset)
            }
            ScanType::Ack => (PortState::Unfiltered, Reason::Reset),
            ScanType::Window if window > 0 => (PortState::Open, Reason::Reset),
            ScanType::Window => (PortState::Closed, Reason::Reset),
            ScanType::Connect | ScanType::Udp | ScanType::Bounce => return None,
        })
    }

    /// Source port of try `attempt`.
    fn sport_for(&self, attempt: u8) -> u16 {
        if self.cfg.fixed_source_port {
            self.cfg.source_port
        } else {
            self.cfg
                .source_port
                .saturating_add(u16::from(attempt).min(SOURCE_PORTS - 1))
        }
    }

    /// Which try a reply to our port `port` answers: `Some(u8::MAX)` when the port is
    /// ours but the try cannot be told (fixed source port, or the last port shared by
    /// the later tries); None when the port is not ours.
    fn attempt_of(&self, port: u16) -> Option<u8> {
        let base = self.cfg.source_port;
        if self.cfg.fixed_source_port {
            return (port == base).then_some(u8::MAX);
        }
        let k = port.checked_sub(base)?;
        if k >= SOURCE_PORTS {
            return None;
        }
        Some(if k == SOURCE_PORTS - 1 {
            u8::MAX
        } else {
            k as u8
        })
    }

    fn match_packet(&mut self, now: Instant, packet: &[u8]) -> bool {
        if self.stopped || self.cfg.scan_type == ScanType::Connect {
            return false;
        }
        let Ok(p) = wire::parse(packet) else {
            return false;
        };
        // A packet the target's kernel would have dropped for its checksum is no answer:
        // whoever sent it, a damaged or forged reply must not decide a port.
        if !wire::checksums_ok(packet) {
            return false;
        }
        match p.l4 {
            wire::L4::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                ..
            } => {
                let Some(attempt) = self.attempt_of(dst_port) else {
                    return false;
                };
                if !self.is_ours(p.dst) {
                    return false;
                }
                let is_synack = flags.contains(wire::TcpFlags::SYN | wire::TcpFlags::ACK);
                let is_rst = flags.contains(wire::TcpFlags::RST);
                if !(is_synack || is_rst) {
                    return false;
                }
                let cookie = self.jar.seq(p.src, src_port, dst_port);
                if self.cfg.pings.is_some() {
                    let reply = TcpReply {
                        from: p.src,
                        port: src_port,
                        flags,
                        seq,
                        ack,
                        ttl: p.ttl,
                    };
                    return self.match_tcp_ping(now, reply, attempt, cookie);
                }
                if !Self::acknowledges(self.probe_flags(), cookie, flags, seq, ack) {
                    return false;
                }
                let Some((state, reason)) = self.read_tcp_reply(is_rst, window) else {
                    return false;
                };
                let answer = Answer {
                    addr: p.src,
                    port: src_port,
                    attempt,
                    verdict: Verdict {
                        state,
                        reason,
                        ttl: Some(p.ttl),
                    },
                    from_target: true,
                    via: Some(p.dst),
                };
                self.on_answer(now, answer)
            }
            wire::L4::Udp {
                src_port, dst_port, ..
            } => {
                // Any UDP answer from the port we probed, to one of our source ports.
                let Some(attempt) = self.attempt_of(dst_port) else {
                    return false;
                };
                if !self.is_ours(p.dst) {
                    return false;
                }
                if self.cfg.pings.is_some() {
                    let Some(idx) = self.ping_index(PingProbe::Udp(src_port)) else {
                        return false;
                    };
                    let answer = ping_answer(p.src, idx, attempt, Reason::UdpResponse, Some(p.ttl));
                    return self.on_answer(now, answer);
                }
                if self.cfg.scan_type != ScanType::Udp {
                    return false;
                }
                let answer = Answer {
                    addr: p.src,
                    port: src_port,
                    attempt,
                    verdict: Verdict {
                        state: PortState::Open,
                        reason: Reason::UdpResponse,
                        ttl: Some(p.ttl),
                    },
                    from_target: true,
                    via: Some(p.dst),
                };
                self.on_answer(now, answer)
            }
            wire::L4::EchoReply { ident, seq, .. } => {
                let Some(idx) = self.ping_index(PingProbe::Echo) else {
                    return false;
                };
                let Some(attempt) = self.attempt_of(ident) else {
                    return false;
                };
                if !self.is_ours(p.dst) || seq != self.jar.seq(p.src, 0, ident) as u16 {
                    return false;
                }
                self.on_answer(
                    now,
                    ping_answer(p.src, idx, attempt, Reason::EchoReply, Some(p.ttl)),
                )
            }
            wire::L4::TimestampReply {
                ident,
                seq,
                originate,
                ..
            } => {
                let Some(idx) = self.ping_index(PingProbe::Timestamp) else {
                    return false;
                };
                let Some(attempt) = self.attempt_of(ident) else {
                    return false;
                };
                // The reply copies our identifier, sequence number and originate time;
                // both carry the cookie.
                let cookie = self.jar.seq(p.src, 0, ident);
                if !self.is_ours(p.dst) || seq != cookie as u16 || originate != cookie {
                    return false;
                }
                self.on_answer(
                    now,
                    ping_answer(p.src, idx, attempt, Reason::TimestampReply, Some(p.ttl)),
                )
            }
            wire::L4::IcmpError { kind, quoted } => {
                let Some(sport) = quoted.src_port else {
                    return false;
                };
                let Some(attempt) = self.attempt_of(sport) else {
                    return false;
                };
                let Some(port) = quoted.dst_port else {
                    return false;
                };
                if !self.is_ours(quoted.src) || quoted.src.is_ipv4() != quoted.dst.is_ipv4() {
                    return false;
                }
                let from_target = p.src == quoted.dst;
                if self.cfg.pings.is_some() {
                    // In a discovery scan only the target's own port unreachable to a
                    // UDP ping counts: a router's, or any other code, says nothing
                    // about the host.
                    if quoted.protocol != 17
                        || kind != wire::IcmpError::PortUnreachable
                        || !from_target
                    {
                        return false;
                    }
                    let Some(idx) = self.ping_index(PingProbe::Udp(port)) else {
                        return false;
                    };
                    let answer =
                        ping_answer(quoted.dst, idx, attempt, Reason::PortUnreach, Some(p.ttl));
                    return self.on_answer(now, answer);
                }
                let proto = match self.cfg.scan_type {
                    ScanType::Udp => 17,
                    _ => 6,
                };
                if quoted.protocol != proto {
                    return false;
                }
                // Every ICMP error quotes at least 8 bytes of the datagram (RFC 792,
                // RFC 4443), which for TCP hold the sequence number: our cookie. A quote
                // too short to hold it proves nothing (anyone who saw the probe can copy
                // its ports) and is no answer.
                if proto == 6 {
                    match quoted.seq {
                        Some(seq) if self.jar.check(quoted.dst, port, sport, seq) => {}
                        _ => return false,
                    }
                }
                let reason = match kind {
                    wire::IcmpError::NetUnreachable => Reason::NetUnreach,
                    wire::IcmpError::HostUnreachable => Reason::HostUnreach,
                    wire::IcmpError::ProtocolUnreachable => Reason::ProtoUnreach,
                    wire::IcmpError::PortUnreachable => Reason::PortUnreach,
                    wire::IcmpError::NetProhibited => Reason::NetProhibited,
                    wire::IcmpError::HostProhibited => Reason::HostProhibited,
                    wire::IcmpError::AdminProhibited => Reason::AdminProhibited,
                    _ => return false,
                };
                // For UDP, port unreachable from the target itself is the closed port's
                // answer; from anyone else (a router) it is a filter.
                let state = match (self.cfg.scan_type, reason) {
                    (ScanType::Udp, Reason::PortUnreach) if from_target => PortState::Closed,
                    _ => PortState::Filtered,
                };
                let answer = Answer {
                    addr: quoted.dst,
                    port,
                    attempt,
                    verdict: Verdict {
                        state,
                        reason,
                        ttl: Some(p.ttl),
                    },
                    from_target,
                    via: Some(quoted.src),
                };
                self.on_answer(now, answer)
            }
            _ => false,
        }
    }

    /// Index of a ping probe in a discovery scan.
    fn ping_index(&self, probe: PingProbe) -> Option<usize> {
        self.cfg.pings.as_ref()?.iter().position(|k| *k == probe)
    }

    /// A SYN/ACK or RST to one of our TCP pings.
    fn match_tcp_ping(&mut self, now: Instant, r: TcpReply, attempt: u8, cookie: u32) -> bool {
        let Some(pings) = &self.cfg.pings else {
            return false;
        };
        let found = pings.iter().enumerate().find_map(|(i, k)| {
            let probe = match *k {
                PingProbe::Syn(p) if p == r.port => wire::TcpFlags::SYN,
                PingProbe::Ack(p) if p == r.port => wire::TcpFlags::ACK,
                _ => return None,
            };
            Self::acknowledges(probe, cookie, r.flags, r.seq, r.ack).then_some(i)
        });
        let Some(idx) = found else {
            return false;
        };
        let reason = if r.flags.contains(wire::TcpFlags::RST) {
            Reason::Reset
        } else {
            Reason::SynAck
        };
        self.on_answer(now, ping_answer(r.from, idx, attempt, reason, Some(r.ttl)))
    }

    /// Feeds the end of one `connect()` attempt (connect scan).
    pub fn on_connect_result(
        &mut self,
        now: Instant,
        dst: IpAddr,
        port: u16,
        attempt: u8,
        outcome: ConnectOutcome,
    ) -> bool {
        self.handle_timeout(now);
        if self.cfg.scan_type != ScanType::Connect {
            return false;
        }
        if self.cfg.pings.is_some() {
            let reason = match outcome {
                ConnectOutcome::Connected => Reason::SynAck,
                ConnectOutcome::Refused => Reason::ConnRefused,
                _ => return false,
            };
            let Some(idx) = self.slot_port_index(port, true) else {
                return false;
            };
            let matched = self.on_answer(now, ping_answer(dst, idx, attempt, reason, None));
            if matched {
                self.progress.replies += 1;
            }
            return matched;
        }
        let (state, reason, from_target) = match outcome {
            ConnectOutcome::Connected => (PortState::Open, Reason::SynAck, true),
            ConnectOutcome::Refused => (PortState::Closed, Reason::ConnRefused, true),
            ConnectOutcome::Unreachable(r) => (PortState::Filtered, r, false),
            ConnectOutcome::NoAnswer => return false,
        };
        let answer = Answer {
            addr: dst,
            port,
            attempt,
            verdict: Verdict {
                state,
                reason,
                ttl: None,
            },
            from_target,
            via: None,
        };
        let matched = self.on_answer(now, answer);
        if matched {
            self.progress.replies += 1;
        }
        matched
    }

    fn on_answer(&mut self, now: Instant, a: Answer) -> bool {
        let Answer {
            addr,
            port,
            attempt,
            verdict,
            from_target,
            via,
        } = a;
        let Some(&(gid, h)) = self.addr_index.get(&addr) else {
            return false;
        };
        let Ok(pi) = self.cfg.ports.binary_search(&port) else {
            return false;
        };
        let Some(gi) = self.group_pos(gid) else {
            return false;
        };
        let slot_idx = h as usize * self.ports_len + pi;
        let slot = self.groups[gi].slots[slot_idx];
        if self.groups[gi].hosts[h as usize].done || slot.tries == 0 {
            return false;
        }
        if from_target && self.paces_udp() && verdict.reason != Reason::UdpResponse {
            self.pace_on_icmp(gi, h as usize, pi as u32, via, verdict.reason);
        }
        if attempt != u8::MAX && attempt >= slot.tries {
            return false;
        }
        // With only one try sent, an answer of unknown try answers that one.
        let attempt = if attempt == u8::MAX && slot.tries == 1 {
            0
        } else {
            attempt
        };
        if slot.status == ST_FINAL && slot.answered {
            // Duplicate or second opinion: the first answer stands.
            return true;
        }
        // RTT sample when the answer is for the latest try (its send time is known).
        let latest = attempt != u8::MAX && attempt + 1 == slot.tries;
        if latest && slot.status == ST_INFLIGHT {
            let elapsed_ticks = self.tick(now).wrapping_sub(slot.sent);
            let rtt = Duration::from_nanos(u64::from(elapsed_ticks) * TICK_NANOS);
            self.rtt.sample(rtt);
            let host = &mut self.groups[gi].hosts[h as usize];
            host.srtt = Some(match host.srtt {
                None => rtt,
                Some(s) => (s * 7 + rtt) / 8,
            });
        }
        self.rate.on_answer(now, attempt > 0 && attempt != u8::MAX);
        if from_target {
            let host = &mut self.groups[gi].hosts[h as usize];
            if host.responded.is_none() {
                host.responded = Some((verdict.reason, verdict.ttl));
            }
        }
        if slot.status == ST_FINAL {
            // We had given up on it (no-response); the truth arrived late.
            self.groups[gi].slots[slot_idx].set_verdict(verdict, true);
            if verdict.state == PortState::Open {
                self.push_open(addr, port, verdict);
            }
            return true;
        }
        self.resolve_slot(gi, slot_idx as u32, verdict, true, now);
        true
    }

    /// Paced UDP bookkeeping for an ICMP error from the target itself: remembers ports
    /// that answered port unreachable as witnesses, counts the error for the lane of the
    /// source it came to, and notes an answered witness.
    fn pace_on_icmp(&mut self, gi: usize, h: usize, m: u32, via: Option<IpAddr>, r: Reason) {
        let host = &mut self.groups[gi].hosts[h];
        if r == Reason::PortUnreach
            && host.closed.len() < MAX_WITNESSES
            && !host.closed.contains(&m)
        {
            host.closed.push(m);
        }
        let Some(pace) = host.pace.as_mut() else {
            return;
        };
        let Some(lane) = pace.lanes.iter_mut().find(|l| Some(l.src) == via) else {
            return;
        };
        lane.icmp += 1;
        if let Some(round) = lane.round.as_mut() {
            if round.witness_sent && round.witness == m && r == Reason::PortUnreach {
                round.witnessed = true;
            }
        }
    }

    fn push_open(&mut self, addr: IpAddr, port: u16, v: Verdict) {
        self.events.push_back(Event::OpenPort {
            addr,
            result: PortResult {
                port,
                proto: self.cfg.scan_type.protocol(),
                state: v.state,
                reason: v.reason,
                ttl: v.ttl,
            },
        });
    }

    fn resolve_slot(&mut self, gi: usize, slot_idx: u32, v: Verdict, answered: bool, now: Instant) {
        let p = self.ports_len;
        let h = slot_idx as usize / p;
        let port = self.cfg.ports[slot_idx as usize % p];
        let g = &mut self.groups[gi];
        let s = &mut g.slots[slot_idx as usize];
        if s.status == ST_FINAL {
            return;
        }
        if s.status == ST_INFLIGHT {
            self.in_flight -= 1;
        }
        s.set_verdict(v, answered);
        self.progress.ports_done += 1;
        let addr = g.hosts[h].target.addr;
        g.hosts[h].unresolved -= 1;
        if answered && self.cfg.pings.is_some() {
            // Discovery: one answer is enough; the host's other probes are moot.
            for other in &mut g.slots[h * p..(h + 1) * p] {
                match other.status {
                    ST_FINAL | ST_FOREIGN => continue,
                    ST_INFLIGHT => self.in_flight -= 1,
                    _ => {}
                }
                other.status = ST_FINAL;
                self.progress.ports_done += 1;
            }
            g.hosts[h].unresolved = 0;
        }
        let host_done = g.hosts[h].unresolved == 0;
        if v.state == PortState::Open {
            self.push_open(addr, port, v);
        }
        if host_done {
            let mut g = std::mem::replace(&mut self.groups[gi], empty_group());
            self.finish_host(&mut g, h, now, false);
            self.groups[gi] = g;
            self.drop_finished_groups();
        }
    }

    fn drop_finished_groups(&mut self) {
        while let Some(pos) = self.groups.iter().position(|g| g.hosts_left == 0) {
            if let Some(g) = self.groups.remove(pos) {
                for h in &g.hosts {
                    self.addr_index.remove(&h.target.addr);
                }
            }
        }
    }

    fn report(&self, g: &Group, h: usize, now: Instant, incomplete: bool) -> HostReport {
        let host = &g.hosts[h];
        let p = self.ports_len;
        let (status, status_reason, status_ttl) = if self.cfg.assume_up {
            (HostStatus::Up, Reason::UserSet, None)
        } else if let Some((r, ttl)) = host.responded {
            (HostStatus::Up, r, ttl)
        } else {
            (HostStatus::Down, Reason::NoResponse, None)
        };
        let ports = if status == HostStatus::Up && self.cfg.pings.is_none() {
            g.slots[h * p..(h + 1) * p]
                .iter()
                .zip(&self.cfg.ports)
                .filter(|(s, _)| s.status == ST_FINAL)
                .map(|(s, &port)| PortResult {
                    port,
                    proto: self.cfg.scan_type.protocol(),
                    state: code_state(s.state),
                    reason: code_reason(s.reason),
                    ttl: s.has_ttl.then_some(s.ttl),
                })
                .collect()
        } else {
            Vec::new()
        };
        let wall = |t: Instant| self.cfg.wall_start + t.saturating_duration_since(self.start);
        HostReport {
            addr: host.target.addr,
            name: host.target.name.as_deref().map(str::to_owned),
            status,
            status_reason,
            status_ttl,
            start: wall(host.start.unwrap_or(now)),
            end: wall(now),
            ports,
            timed_out: false,
            incomplete,
            srtt: host.srtt,
            mac: None,
            services: Vec::new(),
            risks: Vec::new(),
        }
    }

    fn finish_host(&mut self, g: &mut Group, h: usize, now: Instant, incomplete: bool) {
        let report = self.report(g, h, now, incomplete);
        g.hosts[h].done = true;
        g.hosts_left -= 1;
        self.progress.hosts_done += 1;
        self.events.push_back(Event::Host(Box::new(report)));
    }

    fn finish_host_timed_out(&mut self, g: &mut Group, h: usize, now: Instant) {
        let mut report = self.report(g, h, now, false);
        report.timed_out = true;
        report.ports.clear();
        g.hosts[h].done = true;
        g.hosts_left -= 1;
        self.progress.hosts_done += 1;
        self.events.push_back(Event::Host(Box::new(report)));
    }
}

/// The parts of a TCP reply a ping check needs.
#[derive(Debug, Clone, Copy)]
struct TcpReply {
    from: IpAddr,
    port: u16,
    flags: wire::TcpFlags,
    seq: u32,
    ack: u32,
    ttl: u8,
}

/// An answer to ping probe `idx`: the host is up. (The verdict's state is internal: a
/// discovery report carries no ports.)
fn ping_answer(addr: IpAddr, idx: usize, attempt: u8, reason: Reason, ttl: Option<u8>) -> Answer {
    Answer {
        addr,
        port: idx as u16,
        attempt,
        verdict: Verdict {
            state: PortState::Unfiltered,
            reason,
            ttl,
        },
        from_target: true,
        via: None,
    }
}

/// The shard (in `0..count`) that owns the pair (`addr`, `port`) under `seed`.
pub fn shard_of(seed: u64, addr: IpAddr, port: u16, count: u32) -> u32 {
    let a = match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let mut h = splitmix64(seed ^ 0x0073_6861_7264 ^ u64::from(port));
    h = splitmix64(h ^ (a as u64));
    h = splitmix64(h ^ ((a >> 64) as u64));
    (h % u64::from(count.max(1))) as u32
}

fn empty_group() -> Group {
    Group {
        id: u64::MAX,
        hosts: Vec::new(),
        slots: Vec::new(),
        order: None,
        cursor: 0,
        hosts_left: usize::MAX,
    }
}
