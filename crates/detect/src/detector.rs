//! The scan detector: a state machine fed `(time, packet)` and asked for events.
//!
//! # The model
//!
//! A *door* is a (host, protocol, port) a source knocks on; its *first contact* is the
//! first probe a source sends to it (retransmissions and retries knock on the same door).
//! Following TRW (Jung, Paxson, Berger and Balakrishnan, "Fast portscan detection using
//! sequential hypothesis testing", 2004), each first contact's *outcome* is evidence:
//! a benign client mostly reaches services that exist, a scanner mostly does not. With
//! success probabilities of 0.8 for a benign source and 0.2 for a scanner, a failure
//! multiplies the likelihood ratio by 4 and a success divides it by 4; at a ratio of 99
//! (a detection probability of 0.99 against a false-alarm probability of 0.01) the source
//! is a scanner. In whole steps: *score* = failures − successes, alert at
//! [`Config::threshold`] = 4. The score never falls below −3, so a busy client's credit
//! is bounded and a scan that starts later from the same address is still caught.
//!
//! Outcomes, settled once per door:
//! - failure (+1): a RST or an ICMP unreachable from the door's side; silence for
//!   [`Config::reply_timeout`]; a SYN/ACK answered by the prober with a RST (half-open)
//!   or never answered (a decoy, or a prober whose kernel stayed silent); a handshake
//!   closed without a byte of data (a connect scan);
//! - failure at once, whatever comes back: a probe no operating system sends on its own:
//!   FIN, NULL, Xmas or another odd flag set outside a connection, an ICMP timestamp
//!   request, or any probe whose fields name a scanning tool ([`crate::fingerprint`]);
//! - success (−1): data from the prober over a completed handshake, a UDP answer, traffic
//!   back on a connection whose start was not seen;
//! - neutral (0): an echo reply (hosts answering pings says nothing about the asker).
//!
//! So a client that retries one closed port, or touches two or three closed ports, stays
//! below the threshold; a scan is named at its fourth failed door, usually its fourth or
//! fifth probe.
//!
//! # Campaigns
//!
//! A source's probes form its campaign: a *portscan* (many ports of few hosts) or a
//! *sweep* (few ports each on several hosts). Two sources are joined into one campaign when
//! they probe the same hosts with the same tool and the same techniques, at the same time
//! (their spans overlap by at least half of the shorter one: scans run one after the other
//! stay apart), and
//! - *decoy*: they knock on mostly the same doors, four in five of them within
//!   `DECOY_SKEW` (50 ms) of each other (nmap `-D` sends each probe from every decoy and from
//!   itself within a fraction of a millisecond); the report's `responsive` names the
//!   sources that reacted to the answers, which only the real scanner's kernel does;
//! - *distributed*: their doors are disjoint, the tool is a known one, and each has knocked
//!   on at least [`MIN_SHARD_DOORS`] doors (sharded scans: masscan `--shards`, monban
//!   `--shard`).
//!
//! # Bounded state
//!
//! A source costs a small fixed record until its score reaches 2; only then does it get
//! a campaign with sets of doors, ports and hosts (each capped). At most
//! [`Config::max_sources`] sources are held; when full, the oldest is evicted unless it has
//! knocked on two doors or more, which earns it a second chance, so a flood of
//! one-packet spoofed sources pushes out only its own kind while a scanner stays.
//! Doors waiting for an answer sit on one deadline queue (at most two entries per source
//! held). A search for partners looks only at the campaigns that started within five
//! minutes of the source's own start, the 256 nearest, and compares at most 256 doors: a
//! log with thousands of concurrent scanners costs no more per alert than one with two.

use crate::fingerprint::{self, Tool, ToolVotes, TtlSpread};
use crate::net::Net;
use crate::packet::{self, flags, proto, Icmp, Packet, Transport};
use crate::report::{Kind, Report, Technique, MAX_LISTED_TARGETS};
use crate::time::Timestamp;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

/// Score floor: the most credit a source's successes can build.
const SCORE_FLOOR: i32 = -3;
/// Score at which a source gets a full campaign record.
const PROMOTE_SCORE: i32 = 2;
/// Doors a source remembers before it has a campaign.
const RING: usize = 3;
/// Doors a campaign remembers for matching answers.
const MAX_DOORS: usize = 65_536;
/// Ports a campaign counts exactly (every TCP and UDP port fits).
const MAX_PORTS: usize = 2 * 65_536 + 512;
/// Hosts a campaign counts exactly; past that, new hosts are only counted.
const MAX_TARGETS: usize = 65_536;
/// Doors each of two sources must have knocked on before they can be joined as shards.
pub const MIN_SHARD_DOORS: usize = 8;
/// Partners (decoys, shards) started within this long of each other.
const PARTNER_START_WINDOW: Duration = Duration::from_secs(300);
/// Most campaigns a partner search looks at (the nearest in start time, half before and
/// half after).
const PARTNER_CANDIDATES: usize = 256;
/// Doors of the smaller campaign compared with the other's in a partner search.
const PARTNER_DOOR_SAMPLE: usize = 256;
/// A source alerted alone looks for partners when its doors reach 8, 16, ... up to this
/// many (and once more at the end of input): a few checks per source, however long it runs.
const MAX_SHARD_CHECK_DOORS: u64 = 1024;
/// Decoys knock on each door at nearly the same moment (nmap `-D` sends a probe's copies
/// within a fraction of a millisecond); 4 in 5 shared doors must be this close.
const DECOY_SKEW: Duration = Duration::from_millis(50);

/// What the detector is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// The protected addresses: only packets to them are probes. Empty: every destination.
    pub home: Vec<Net>,
    /// Sources never alerted on (their probes are counted in [`Stats::allowed_probes`]).
    pub allow: Vec<Net>,
    /// Failed first contacts, net of successes, that make a scanner (TRW, see above).
    pub threshold: i32,
    /// Silence after which an unanswered first contact has failed.
    pub reply_timeout: Duration,
    /// A campaign without a probe for this long has ended (its summary is emitted).
    /// Longer than nmap `-T0`'s five minutes between probes.
    pub idle_timeout: Duration,
    /// Most sources held at once.
    pub max_sources: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            home: Vec::new(),
            allow: Vec::new(),
            threshold: 4,
            reply_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(20 * 60),
            max_sources: 50_000,
        }
    }
}

/// What the detector tells.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A campaign was judged a scan (once per campaign).
    Alert(Report),
    /// An alerted campaign ended (idle, or end of input).
    Summary(Report),
}

/// Counters for `--stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets handed in.
    pub packets: u64,
    /// Packets that could not be decoded.
    pub undecodable: u64,
    /// Probes (first contacts and retries) counted.
    pub probes: u64,
    /// Answers matched to a door.
    pub replies: u64,
    /// Probes from `--allow` sources, not judged.
    pub allowed_probes: u64,
    /// Sources evicted to keep the state bounded.
    pub evicted: u64,
    /// Sources held now.
    pub sources: u64,
    /// Alerts emitted.
    pub alerts: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DoorKey {
    target: IpAddr,
    proto: u8,
    port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DoorState {
    /// Waiting for an answer.
    Pending,
    /// A SYN/ACK came back; waiting for the prober's reaction.
    SynAcked,
    /// The handshake completed; waiting for data or a close.
    Established,
    /// Reset, unreachable, answered or closed: nothing more to learn.
    Closed,
}

#[derive(Debug, Clone, Copy)]
struct Door {
    key: DoorKey,
    first: Timestamp,
    /// When `state` last changed (the first contact, a SYN/ACK, a handshake).
    changed: Timestamp,
    state: DoorState,
    /// Its outcome was counted in the score (once per door).
    counted: bool,
}

/// Why a door's outcome was what it was; counted for the alert's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A firewall log says the probe was dropped or rejected.
    Blocked,
    Reset,
    Unreachable,
    Silence,
    HalfOpen,
    ConnectClose,
    Crafted,
    Success,
    Neutral,
}

impl Outcome {
    fn weight(self) -> i32 {
        match self {
            Outcome::Success => -1,
            Outcome::Neutral => 0,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Evidence {
    blocked: u32,
    reset: u32,
    unreachable: u32,
    silence: u32,
    half_open: u32,
    connect_close: u32,
    crafted: u32,
    success: u32,
}

impl Evidence {
    fn add(&mut self, o: Outcome) {
        let c = match o {
            Outcome::Blocked => &mut self.blocked,
            Outcome::Reset => &mut self.reset,
            Outcome::Unreachable => &mut self.unreachable,
            Outcome::Silence => &mut self.silence,
            Outcome::HalfOpen => &mut self.half_open,
            Outcome::ConnectClose => &mut self.connect_close,
            Outcome::Crafted => &mut self.crafted,
            Outcome::Success => &mut self.success,
            Outcome::Neutral => return,
        };
        *c = c.saturating_add(1);
    }

    fn merge(&mut self, o: &Evidence) {
        self.blocked += o.blocked;
        self.reset += o.reset;
        self.unreachable += o.unreachable;
        self.silence += o.silence;
        self.half_open += o.half_open;
        self.connect_close += o.connect_close;
        self.crafted += o.crafted;
        self.success += o.success;
    }

    fn text(&self) -> String {
        let failed = self.blocked
            + self.reset
            + self.unreachable
            + self.silence
            + self.half_open
            + self.connect_close
            + self.crafted;
        let mut parts = Vec::new();
        for (n, what) in [
            (self.crafted, "crafted probes"),
            (self.blocked, "blocked by the firewall"),
            (self.reset, "reset"),
            (self.unreachable, "ICMP unreachable"),
            (self.silence, "unanswered"),
            (self.half_open, "half-open"),
            (self.connect_close, "connected and closed without data"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!(
            "{failed} of {} first contacts failed: {}",
            failed + self.success,
            parts.join(", ")
        )
    }
}

/// A source's full record, from its second net failure on.
#[derive(Debug)]
struct Campaign {
    doors: HashMap<DoorKey, Door>,
    ports: HashSet<u32>,
    targets: HashMap<IpAddr, u32>,
    targets_over: u64,
    alert: Option<AlertMark>,
    group: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
struct AlertMark {
    id: u64,
    time: Timestamp,
    probes: u64,
}

impl Campaign {
    fn new() -> Campaign {
        Campaign {
            doors: HashMap::new(),
            ports: HashSet::new(),
            targets: HashMap::new(),
            targets_over: 0,
            alert: None,
            group: None,
        }
    }

    fn add_door(&mut self, d: Door) {
        if self.ports.len() < MAX_PORTS {
            self.ports
                .insert(u32::from(d.key.proto) << 16 | u32::from(d.key.port));
        }
        let room = self.targets.len() < MAX_TARGETS;
        match self.targets.get_mut(&d.key.target) {
            Some(n) => *n = n.saturating_add(1),
            None if room => {
                self.targets.insert(d.key.target, 1);
            }
            None => self.targets_over += 1,
        }
        if self.doors.len() < MAX_DOORS {
            self.doors.insert(d.key, d);
        }
    }

    fn target_count(&self) -> u64 {
        self.targets.len() as u64 + self.targets_over
    }
}

#[derive(Debug)]
struct Source {
    first_seen: Timestamp,
    last_seen: Timestamp,
    probes: u64,
    /// Distinct doors knocked on.
    doors: u64,
    score: i32,
    techniques: u16,
    votes: ToolVotes,
    ttl: TtlSpread,
    evidence: Evidence,
    responsive: bool,
    /// Some SYN of this source came from a log that cannot tell SYN from connect.
    syn_unsure: bool,
    ring: [Option<Door>; RING],
    ring_next: u8,
    campaign: Option<Box<Campaign>>,
}

impl Source {
    fn new(now: Timestamp) -> Source {
        Source {
            first_seen: now,
            last_seen: now,
            probes: 0,
            doors: 0,
            score: 0,
            techniques: 0,
            votes: ToolVotes::default(),
            ttl: TtlSpread::default(),
            evidence: Evidence::default(),
            responsive: false,
            syn_unsure: false,
            ring: [None; RING],
            ring_next: 0,
            campaign: None,
        }
    }

    fn door_mut(&mut self, key: &DoorKey) -> Option<&mut Door> {
        match &mut self.campaign {
            Some(c) => c.doors.get_mut(key),
            None => self.ring.iter_mut().flatten().find(|d| d.key == *key),
        }
    }

    fn add_door(&mut self, d: Door) {
        self.doors += 1;
        // More doors waiting for their answer than the ring holds: a source this busy
        // gets its full record rather than forget a door before its outcome is known.
        let full = self
            .ring
            .get(usize::from(self.ring_next))
            .is_some_and(|slot| slot.is_some_and(|old| !old.counted));
        if full {
            self.promote();
        }
        match &mut self.campaign {
            Some(c) => c.add_door(d),
            None => {
                if let Some(slot) = self.ring.get_mut(usize::from(self.ring_next)) {
                    *slot = Some(d);
                }
                self.ring_next = (self.ring_next + 1) % RING as u8;
            }
        }
    }

    fn promote(&mut self) {
        if self.campaign.is_some() {
            return;
        }
        let mut c = Campaign::new();
        for d in self.ring.iter_mut().filter_map(Option::take) {
            c.add_door(d);
        }
        self.campaign = Some(Box::new(c));
    }

    /// Whether the campaign looks like a sweep: several hosts, few doors on each, and at
    /// least twice as many hosts as ports (nmap spreads a multi-host portscan's first
    /// probes over the hosts: 3 hosts, 2 ports at its fourth probe is still a portscan).
    fn kind(&self) -> Kind {
        let Some(c) = &self.campaign else {
            return Kind::Portscan;
        };
        let hosts = c.target_count();
        let doors = c.doors.len() as u64;
        if hosts >= 2 && doors <= 8 * hosts && hosts >= 2 * c.ports.len() as u64 {
            Kind::Sweep
        } else {
            Kind::Portscan
        }
    }
}

/// The sources held: records in a slab that never grows past its first reservation, found
/// through a small index. (A map holding the records themselves doubles its table under
/// eviction churn, holding old and new at once: a flood then costs twice the memory.)
#[derive(Debug)]
struct Table {
    index: HashMap<IpAddr, u32>,
    slab: Vec<Option<Source>>,
    free: Vec<u32>,
}

impl Table {
    fn with_capacity(cap: usize) -> Table {
        Table {
            // Half full at most, so that churn rehashes in place instead of growing.
            index: HashMap::with_capacity(2 * cap),
            slab: Vec::with_capacity(cap),
            free: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn contains_key(&self, a: &IpAddr) -> bool {
        self.index.contains_key(a)
    }

    fn get(&self, a: &IpAddr) -> Option<&Source> {
        let i = *self.index.get(a)?;
        self.slab.get(i as usize)?.as_ref()
    }

    fn get_mut(&mut self, a: &IpAddr) -> Option<&mut Source> {
        let i = *self.index.get(a)?;
        self.slab.get_mut(i as usize)?.as_mut()
    }

    fn insert(&mut self, a: IpAddr, s: Source) {
        if let Some(old) = self.get_mut(&a) {
            *old = s;
            return;
        }
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(slot) = self.slab.get_mut(i as usize) {
                    *slot = Some(s);
                }
                i
            }
            None => {
                self.slab.push(Some(s));
                u32::try_from(self.slab.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(a, i);
    }

    fn remove(&mut self, a: &IpAddr) -> Option<Source> {
        let i = self.index.remove(a)?;
        let s = self.slab.get_mut(i as usize)?.take();
        self.free.push(i);
        s
    }

    fn iter(&self) -> impl Iterator<Item = (&IpAddr, &Source)> {
        self.index
            .iter()
            .filter_map(|(a, &i)| Some((a, self.slab.get(i as usize)?.as_ref()?)))
    }

    fn keys(&self) -> impl Iterator<Item = &IpAddr> {
        self.index.keys()
    }
}

/// Sources joined into one campaign (decoys or shards).
#[derive(Debug)]
struct Group {
    id: u64,
    kind: Kind,
    members: Vec<IpAddr>,
    alert_time: Timestamp,
    probes_at_alert: u64,
    /// Summaries of members that were evicted or ended before the group did.
    gone: Vec<(IpAddr, Source)>,
}

/// The detector. See the module documentation for the model.
#[derive(Debug)]
pub struct Detector {
    cfg: Config,
    sources: Table,
    /// Sources in order of arrival, for eviction (may hold addresses already gone).
    order: VecDeque<IpAddr>,
    groups: Vec<Group>,
    events: VecDeque<Event>,
    next_id: u64,
    now: Timestamp,
    /// Sources that have a campaign record (the candidates for decoys and shards).
    campaigns: HashSet<IpAddr>,
    /// The same sources by the time of their first probe, to find partners that started
    /// near a source's own start without looking at every campaign.
    by_start: BTreeSet<(Timestamp, IpAddr)>,
    /// Doors whose outcome waits on an answer, by deadline (first in, first due).
    waiting: VecDeque<(Timestamp, IpAddr, DoorKey)>,
    next_idle_check: Timestamp,
    stats: Stats,
}

impl Detector {
    /// A detector with this configuration.
    pub fn new(cfg: Config) -> Detector {
        // Reserved at once, so that growing never holds an old table and a new one at the
        // same time; pages nobody touched cost no memory.
        let cap = cfg.max_sources.clamp(1, 1 << 20);
        Detector {
            cfg,
            sources: Table::with_capacity(cap),
            order: VecDeque::with_capacity(2 * cap),
            groups: Vec::new(),
            events: VecDeque::new(),
            next_id: 1,
            now: Timestamp::ZERO,
            campaigns: HashSet::new(),
            by_start: BTreeSet::new(),
            waiting: VecDeque::with_capacity(2 * cap),
            next_idle_check: Timestamp::ZERO,
            stats: Stats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.sources = self.sources.len() as u64;
        s
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Feeds one IPv4 or IPv6 packet captured at `ts`.
    pub fn on_packet(&mut self, ts: Timestamp, ip_packet: &[u8]) {
        self.stats.packets += 1;
        match packet::decode(ip_packet) {
            Ok(p) => self.on_decoded(ts, &p),
            Err(_) => {
                self.stats.undecodable += 1;
                self.advance(ts);
            }
        }
    }

    /// Feeds one decoded packet.
    pub fn on_decoded(&mut self, ts: Timestamp, p: &Packet) {
        self.advance(ts);
        if self.on_reply(p) || self.on_follow_up(p) {
            return;
        }
        let Some((key, technique, tool)) = probe_of(p) else {
            return;
        };
        if !self.is_home(p.dst) {
            return;
        }
        if self.cfg.allow.iter().any(|n| n.contains(p.src)) {
            self.stats.allowed_probes += 1;
            return;
        }
        let ttl = p.src.is_ipv4().then_some(p.ttl);
        self.on_probe(p.src, key, technique, tool, ttl);
    }

    /// Feeds one firewall log record, made a packet by [`crate::log::to_packet`]: a probe
    /// whose only answer is the firewall's. Blocked (or logged with no action named, as a
    /// LOG rule before a DROP is) counts as a failed first contact at once; allowed, as a
    /// success. `syn_unsure`: the log cannot tell a SYN scan from a connect scan (the
    /// technique is then `syn`, and the report says so).
    pub fn on_logged(&mut self, ts: Timestamp, p: &Packet, allowed: bool, syn_unsure: bool) {
        self.stats.packets += 1;
        self.advance(ts);
        let Some((key, technique, tool)) = probe_of(p) else {
            return;
        };
        // A log that kept neither options nor DF: the SYN's author is unknown; say `syn`.
        let technique = if syn_unsure && technique == Technique::Connect {
            Technique::Syn
        } else {
            technique
        };
        if !self.is_home(p.dst) {
            return;
        }
        if self.cfg.allow.iter().any(|n| n.contains(p.src)) {
            self.stats.allowed_probes += 1;
            return;
        }
        let ttl = p.src.is_ipv4().then_some(p.ttl);
        self.on_probe(p.src, key, technique, tool, ttl);
        if let Some(s) = self.sources.get_mut(&p.src) {
            s.syn_unsure |= syn_unsure && technique == Technique::Syn;
        }
        let o = if allowed {
            Outcome::Success
        } else {
            Outcome::Blocked
        };
        self.settle(p.src, key, o);
    }

    /// Moves the clock to `now` (packet time): settles silent doors, ends idle campaigns.
    /// Live capture calls it while no packet arrives.
    pub fn advance(&mut self, now: Timestamp) {
        if now > self.now {
            self.now = now;
        }
        self.settle_due();
        if self.now >= self.next_idle_check {
            self.end_idle();
            // Idle campaigns end within an eighth of the idle timeout of their due time.
            let step = (self.cfg.idle_timeout / 8).max(Duration::from_secs(1));
            self.next_idle_check = self.now + step;
        }
    }

    /// End of input: every campaign ends; the summaries of alerted ones are emitted, in
    /// order of their ids. Doors still waiting are left undecided (the input ended before
    /// their answer could come).
    pub fn finish(&mut self) {
        self.regroup();
        let mut addrs: Vec<IpAddr> = self.sources.keys().copied().collect();
        addrs.sort_by_key(|a| self.alert_id(a));
        let mut summaries = Vec::new();
        for a in addrs {
            if let Some(r) = self.end_source(a) {
                summaries.push(r);
            }
        }
        for gi in 0..self.groups.len() {
            if let Some(r) = self.group_report(gi) {
                summaries.push(r);
            }
        }
        self.groups.clear();
        summaries.sort_by_key(|r| r.id);
        self.events
            .extend(summaries.into_iter().map(Event::Summary));
    }

    fn is_home(&self, a: IpAddr) -> bool {
        self.cfg.home.is_empty() || self.cfg.home.iter().any(|n| n.contains(a))
    }

    /// An answer from a door's side: settles or advances that door.
    fn on_reply(&mut self, p: &Packet) -> bool {
        let (prober, key) = match p.transport {
            Transport::Tcp { src_port, .. } => (p.dst, door(p.src, proto::TCP, src_port)),
            Transport::Udp { src_port, .. } => (p.dst, door(p.src, proto::UDP, src_port)),
            Transport::Icmp(Icmp::EchoReply { .. }) => (p.dst, door(p.src, icmp_proto(p), 8)),
            Transport::Icmp(Icmp::TimestampReply) => (p.dst, door(p.src, proto::ICMP, 13)),
            Transport::Icmp(Icmp::Unreachable {
                quoted: Some(q), ..
            }) => {
                let port = match q.protocol {
                    proto::TCP | proto::UDP => q.dst_port,
                    proto::ICMP | proto::ICMPV6 => 8,
                    _ => 0,
                };
                (q.src, door(q.dst, q.protocol, port))
            }
            _ => return false,
        };
        let Some(src) = self.sources.get_mut(&prober) else {
            return false;
        };
        let Some(d) = src.door_mut(&key) else {
            return false;
        };
        self.stats.replies += 1;
        let state = d.state;
        let outcome = match (p.transport, state) {
            (_, DoorState::Closed) => None,
            (Transport::Tcp { flags: f, .. }, _) if f & flags::RST != 0 => {
                d.state = DoorState::Closed;
                Some(Outcome::Reset)
            }
            (Transport::Tcp { flags: f, .. }, DoorState::Pending)
                if f & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK =>
            {
                d.state = DoorState::SynAcked;
                d.changed = self.now;
                None
            }
            (Transport::Tcp { .. }, DoorState::Pending) => {
                d.state = DoorState::Closed;
                Some(Outcome::Success)
            }
            (Transport::Tcp { .. }, _) => None,
            (Transport::Udp { .. }, _) => {
                d.state = DoorState::Closed;
                Some(Outcome::Success)
            }
            (Transport::Icmp(Icmp::Unreachable { .. }), _) => {
                d.state = DoorState::Closed;
                Some(Outcome::Unreachable)
            }
            (Transport::Icmp(_), _) => {
                d.state = DoorState::Closed;
                Some(Outcome::Neutral)
            }
            _ => None,
        };
        if let Some(o) = outcome {
            self.settle(prober, key, o);
        }
        true
    }

    /// The prober's own packets on a door it opened: the handshake's ACK, data, a RST
    /// after a SYN/ACK, a close.
    fn on_follow_up(&mut self, p: &Packet) -> bool {
        let Transport::Tcp {
            dst_port,
            flags: f,
            payload_len,
            ..
        } = p.transport
        else {
            return false;
        };
        if f & flags::SYN != 0 {
            // A retransmitted SYN is a probe of the same door.
            return false;
        }
        let key = door(p.dst, proto::TCP, dst_port);
        let Some(src) = self.sources.get_mut(&p.src) else {
            return false;
        };
        let Some(d) = src.door_mut(&key) else {
            return false;
        };
        let closing = f & (flags::RST | flags::FIN) != 0;
        let before = d.state;
        let (outcome, connect) = match before {
            DoorState::SynAcked if f & flags::RST != 0 => {
                d.state = DoorState::Closed;
                (Some(Outcome::HalfOpen), false)
            }
            DoorState::SynAcked | DoorState::Established if payload_len > 0 => {
                d.state = DoorState::Closed;
                (Some(Outcome::Success), false)
            }
            DoorState::SynAcked if f & flags::ACK != 0 && !closing => {
                d.state = DoorState::Established;
                d.changed = self.now;
                (None, false)
            }
            DoorState::SynAcked | DoorState::Established if closing => {
                d.state = DoorState::Closed;
                (Some(Outcome::ConnectClose), true)
            }
            _ => (None, false),
        };
        if matches!(before, DoorState::SynAcked | DoorState::Established) {
            src.responsive = true;
        }
        if connect {
            src.techniques |= Technique::Connect.bit();
        }
        if let Some(o) = outcome {
            self.settle(p.src, key, o);
        }
        true
    }

    fn on_probe(
        &mut self,
        from: IpAddr,
        key: DoorKey,
        technique: Technique,
        tool: Tool,
        ttl: Option<u8>,
    ) {
        self.stats.probes += 1;
        let now = self.now;
        if !self.sources.contains_key(&from) {
            self.make_room();
            self.sources.insert(from, Source::new(now));
            self.order.push_back(from);
        }
        let Some(src) = self.sources.get_mut(&from) else {
            return;
        };
        src.probes += 1;
        src.last_seen = now;
        src.techniques |= technique.bit();
        let was_random = src.ttl.random();
        if let Some(t) = ttl {
            src.ttl.add(t);
        }
        let random_ttl = src.ttl.random();
        let tool = if tool == Tool::Unknown && random_ttl {
            Tool::Nmap
        } else {
            tool
        };
        src.votes.add(tool);
        if random_ttl && !was_random {
            // The TTLs just showed crafted packets: the doors knocked on before, still
            // waiting for an answer, were crafted probes too.
            let earlier: Vec<DoorKey> = match &src.campaign {
                Some(c) => c
                    .doors
                    .values()
                    .filter(|d| !d.counted)
                    .map(|d| d.key)
                    .collect(),
                None => src
                    .ring
                    .iter()
                    .flatten()
                    .filter(|d| !d.counted)
                    .map(|d| d.key)
                    .collect(),
            };
            for k in earlier {
                self.settle(from, k, Outcome::Crafted);
            }
        }
        let Some(src) = self.sources.get_mut(&from) else {
            return;
        };
        if src.door_mut(&key).is_some() {
            return;
        }
        let crafted = tool != Tool::Unknown
            || matches!(
                technique,
                Technique::Fin
                    | Technique::Null
                    | Technique::Xmas
                    | Technique::Custom
                    | Technique::IcmpTimestamp
            );
        src.add_door(Door {
            key,
            first: now,
            changed: now,
            state: DoorState::Pending,
            counted: false,
        });
        if src.campaign.is_some() {
            self.track(from);
        }
        if crafted {
            self.settle(from, key, Outcome::Crafted);
        } else {
            self.wait_for(now + self.cfg.reply_timeout, from, key);
        }
        // A source alerted alone is checked for partners as its doors double: a second
        // shard may have started after it, or grown large enough to be recognised.
        let check = self.sources.get(&from).is_some_and(|s| {
            (MIN_SHARD_DOORS as u64..=MAX_SHARD_CHECK_DOORS).contains(&s.doors)
                && s.doors.is_power_of_two()
                && s.campaign
                    .as_ref()
                    .is_some_and(|c| c.alert.is_some() && c.group.is_none())
        });
        if check {
            if let Some((kind, others)) = self.partners(from) {
                self.join(from, kind, others);
            }
        }
    }

    /// Counts a door's outcome, promotes and alerts.
    fn settle(&mut self, from: IpAddr, key: DoorKey, o: Outcome) {
        let threshold = self.cfg.threshold;
        let Some(src) = self.sources.get_mut(&from) else {
            return;
        };
        let Some(d) = src.door_mut(&key) else {
            return;
        };
        if d.counted {
            return;
        }
        d.counted = true;
        src.score = (src.score + o.weight()).max(SCORE_FLOOR);
        src.evidence.add(o);
        if src.score >= PROMOTE_SCORE {
            src.promote();
        }
        let has_campaign = src.campaign.is_some();
        let alerted = src
            .campaign
            .as_ref()
            .is_some_and(|c| c.alert.is_some() || c.group.is_some());
        let score = src.score;
        if has_campaign {
            self.track(from);
        }
        if score >= threshold && !alerted {
            self.alert(from);
        }
    }

    /// A source crossed the threshold: join it to decoys or shards it works with, or
    /// alert on it alone.
    fn alert(&mut self, from: IpAddr) {
        if let Some((kind, others)) = self.partners(from) {
            self.join(from, kind, others);
            return;
        }
        self.alert_alone(from);
    }

    /// Gives a source its own alert (an id, the time, its probes so far) and emits it.
    fn alert_alone(&mut self, a: IpAddr) {
        let id = self.take_id();
        let now = self.now;
        if let Some(src) = self.sources.get_mut(&a) {
            src.promote();
            let probes = src.probes;
            if let Some(c) = &mut src.campaign {
                c.alert = Some(AlertMark {
                    id,
                    time: now,
                    probes,
                });
            }
        }
        self.track(a);
        if let Some(r) = self.source_report(a) {
            self.stats.alerts += 1;
            self.events.push_back(Event::Alert(r));
        }
    }

    /// Puts `from` and `others` into one group: a partner's, or a new one (alerted).
    fn join(&mut self, from: IpAddr, kind: Kind, others: Vec<IpAddr>) {
        let existing = std::iter::once(&from).chain(&others).find_map(|o| {
            self.sources
                .get(o)
                .and_then(|s| s.campaign.as_ref())
                .and_then(|c| c.group)
                .filter(|&gi| self.groups.get(gi).is_some_and(|g| g.kind == kind))
        });
        let gi = match existing {
            Some(gi) => gi,
            None => {
                let id = self.take_id();
                self.groups.push(Group {
                    id,
                    kind,
                    members: Vec::new(),
                    alert_time: self.now,
                    probes_at_alert: 0,
                    gone: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let mut joined = Vec::new();
        for m in std::iter::once(from).chain(others) {
            let Some(g) = self.groups.get_mut(gi) else {
                return;
            };
            if g.members.contains(&m) {
                continue;
            }
            if let Some(s) = self.sources.get_mut(&m) {
                s.promote();
                if self.campaigns.insert(m) {
                    self.by_start.insert((s.first_seen, m));
                }
                if let Some(c) = &mut s.campaign {
                    if c.group.is_some() {
                        // Already in another group: leave it there.
                        continue;
                    }
                    c.group = Some(gi);
                    if c.alert.is_none() {
                        joined.push(m);
                    }
                }
                g.members.push(m);
            }
        }
        if existing.is_some() {
            // The campaign was already reported; a source that joins it now is reported
            // too, on its own line, as part of it.
            for m in joined {
                self.alert_alone(m);
            }
        } else {
            let probes = self.groups.get(gi).map_or(0, |g| {
                g.members
                    .iter()
                    .filter_map(|m| self.sources.get(m))
                    .map(|s| s.probes)
                    .sum()
            });
            if let Some(g) = self.groups.get_mut(gi) {
                g.probes_at_alert = probes;
            }
            if let Some(r) = self.group_report(gi) {
                self.stats.alerts += 1;
                self.events.push_back(Event::Alert(r));
            }
        }
    }

    /// Records that `a` has a campaign (once).
    fn track(&mut self, a: IpAddr) {
        if self.campaigns.insert(a) {
            if let Some(s) = self.sources.get(&a) {
                self.by_start.insert((s.first_seen, a));
            }
        }
    }

    /// The id of a source's own alert, for ordering summaries (`u64::MAX`: none).
    fn alert_id(&self, a: &IpAddr) -> u64 {
        self.sources
            .get(a)
            .and_then(|s| s.campaign.as_ref())
            .and_then(|c| c.alert)
            .map_or(u64::MAX, |m| m.id)
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Other sources working with `from`: decoys (mostly the same doors, started together)
    /// or shards (disjoint doors, the same tool, overlapping in time).
    fn partners(&self, from: IpAddr) -> Option<(Kind, Vec<IpAddr>)> {
        let me = self.sources.get(&from)?;
        let mine = me.campaign.as_ref()?;
        let my_tool = me.votes.winner();
        let mut decoys = Vec::new();
        let mut shards = Vec::new();
        // Partners start together (decoys within a millisecond, shards launched side by
        // side): look only at campaigns that started within PARTNER_START_WINDOW of this
        // one, the PARTNER_CANDIDATES nearest, so that the work stays bounded however many
        // campaigns a busy log holds.
        let lo = Timestamp::from_nanos(
            me.first_seen
                .as_nanos()
                .saturating_sub(u64::try_from(PARTNER_START_WINDOW.as_nanos()).unwrap_or(0)),
        );
        let hi = me.first_seen + PARTNER_START_WINDOW;
        let lo_key = (lo, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let me_key = (me.first_seen, from);
        let half = PARTNER_CANDIDATES / 2;
        let near: Vec<IpAddr> = self
            .by_start
            .range(lo_key..me_key)
            .rev()
            .take(half)
            .chain(
                self.by_start
                    .range(me_key..)
                    .take_while(|(t, _)| *t <= hi)
                    .take(half + 1),
            )
            .map(|&(_, a)| a)
            .collect();
        for addr in near {
            if addr == from {
                continue;
            }
            let Some(other) = self.sources.get(&addr) else {
                continue;
            };
            let Some(theirs) = &other.campaign else {
                continue;
            };
            // At the same time: the overlap covers at least half of the shorter one (two
            // scans run one after the other are two campaigns). Cheapest test first: a
            // busy log holds thousands of campaigns.
            let start = me.first_seen.max(other.first_seen);
            let end = me.last_seen.min(other.last_seen);
            let shorter = me
                .last_seen
                .since(me.first_seen)
                .min(other.last_seen.since(other.first_seen));
            if end < start || end.since(start) * 2 < shorter {
                continue;
            }
            // One tool, one way of probing, the same hosts.
            if other.techniques != me.techniques || other.votes.winner() != my_tool {
                continue;
            }
            let (few, many) = if mine.targets.len() <= theirs.targets.len() {
                (&mine.targets, &theirs.targets)
            } else {
                (&theirs.targets, &mine.targets)
            };
            if !few.keys().any(|t| many.contains_key(t)) {
                continue;
            }
            let (small, large) = if mine.doors.len() <= theirs.doors.len() {
                (mine, theirs)
            } else {
                (theirs, mine)
            };
            let mut shared = 0usize;
            let mut together = 0usize;
            // A sample of the smaller set's doors says enough, and keeps a search cheap
            // among thousands of look-alike campaigns.
            let sample = small.doors.len().min(PARTNER_DOOR_SAMPLE);
            for (k, d) in small.doors.iter().take(sample) {
                if let Some(e) = large.doors.get(k) {
                    shared += 1;
                    let skew = if d.first > e.first {
                        d.first.since(e.first)
                    } else {
                        e.first.since(d.first)
                    };
                    if skew <= DECOY_SKEW {
                        together += 1;
                    }
                }
            }
            if shared * 2 >= sample && together * 5 >= shared * 4 {
                decoys.push(addr);
            } else if shared == 0
                && small.doors.len() >= MIN_SHARD_DOORS
                && my_tool != Tool::Unknown
            {
                shards.push(addr);
            }
        }
        if !decoys.is_empty() {
            decoys.sort();
            Some((Kind::Decoy, decoys))
        } else if !shards.is_empty() {
            shards.sort();
            Some((Kind::Distributed, shards))
        } else {
            None
        }
    }

    /// Puts a door on the waiting list. The list is bounded: past two entries per source
    /// held, the oldest entry is dropped and its door stays undecided (a flood must not
    /// turn into evidence).
    fn wait_for(&mut self, due: Timestamp, from: IpAddr, key: DoorKey) {
        if self.waiting.len() >= 2 * self.cfg.max_sources.max(1) {
            self.waiting.pop_front();
        }
        self.waiting.push_back((due, from, key));
    }

    /// Settles the doors whose answer is overdue.
    fn settle_due(&mut self) {
        let timeout = self.cfg.reply_timeout;
        while let Some(&(due, from, key)) = self.waiting.front() {
            if due > self.now {
                break;
            }
            self.waiting.pop_front();
            let Some(d) = self.sources.get_mut(&from).and_then(|s| s.door_mut(&key)) else {
                continue;
            };
            if d.counted {
                continue;
            }
            let o = match d.state {
                DoorState::Pending => Outcome::Silence,
                // The prober has had its time to react since the state changed?
                DoorState::SynAcked | DoorState::Established if d.changed + timeout > self.now => {
                    let again = d.changed + timeout;
                    self.waiting.push_back((again, from, key));
                    continue;
                }
                // A SYN/ACK the prober never reacted to: a decoy, or a raw sender whose
                // kernel was told to stay quiet.
                DoorState::SynAcked => Outcome::HalfOpen,
                // A handshake held open without data, or closed: nothing learnt.
                DoorState::Established | DoorState::Closed => Outcome::Neutral,
            };
            self.settle(from, key, o);
        }
    }

    /// Ends the campaigns idle for the idle timeout, and the groups all of whose members
    /// have ended.
    fn end_idle(&mut self) {
        let now = self.now;
        let mut idle: Vec<IpAddr> = self
            .sources
            .iter()
            .filter(|(_, s)| s.last_seen + self.cfg.idle_timeout <= now)
            .map(|(a, _)| *a)
            .collect();
        idle.sort_by_key(|a| self.alert_id(a));
        for a in idle {
            if let Some(r) = self.end_source(a) {
                self.events.push_back(Event::Summary(r));
            }
        }
        let mut gi = 0;
        while gi < self.groups.len() {
            let alive = self.groups.get(gi).is_some_and(|g| {
                g.members.iter().any(|m| {
                    self.sources
                        .get(m)
                        .and_then(|s| s.campaign.as_ref())
                        .is_some_and(|c| c.group == Some(gi))
                })
            });
            if !alive {
                if let Some(r) = self.group_report(gi) {
                    self.events.push_back(Event::Summary(r));
                }
                // Keep indices stable: leave an empty group behind.
                if let Some(g) = self.groups.get_mut(gi) {
                    g.members.clear();
                    g.gone.clear();
                }
            }
            gi += 1;
        }
    }

    /// Sources alerted alone may since have been joined by partners (a second shard that
    /// had too few doors when the first one alerted).
    fn regroup(&mut self) {
        let mut lone: Vec<IpAddr> = self
            .sources
            .iter()
            .filter(|(_, s)| {
                s.campaign
                    .as_ref()
                    .is_some_and(|c| c.alert.is_some() && c.group.is_none())
            })
            .map(|(a, _)| *a)
            .collect();
        lone.sort();
        for a in lone {
            let grouped = self
                .sources
                .get(&a)
                .and_then(|s| s.campaign.as_ref())
                .is_some_and(|c| c.group.is_some());
            if grouped {
                continue;
            }
            if let Some((kind, others)) = self.partners(a) {
                self.join(a, kind, others);
            }
        }
    }

    /// Removes a source; its summary if it was alerted on its own. A group member's
    /// report is kept for the group's summary.
    fn end_source(&mut self, a: IpAddr) -> Option<Report> {
        let report = self.source_report(a);
        self.campaigns.remove(&a);
        let src = self.sources.remove(&a)?;
        self.by_start.remove(&(src.first_seen, a));
        let group = src.campaign.as_ref().and_then(|c| c.group);
        let report = report?;
        match group {
            Some(gi) => {
                // A member that had its own alert before joining ends with it too.
                let own = report.merged_into.is_some().then_some(report);
                if let Some(g) = self.groups.get_mut(gi) {
                    g.gone.push((a, src));
                }
                own
            }
            None => src.campaign.as_ref().and_then(|c| c.alert).map(|_| report),
        }
    }

    /// Keeps the number of sources under the cap: the oldest goes first, unless it has
    /// knocked on two doors or more (then it goes to the back once more).
    fn make_room(&mut self) {
        let mut spins = self.order.len();
        while self.sources.len() >= self.cfg.max_sources.max(1) {
            let Some(a) = self.order.pop_front() else {
                break;
            };
            let Some(s) = self.sources.get(&a) else {
                continue;
            };
            if spins > 0 && (s.doors >= 2 || s.campaign.is_some()) {
                spins -= 1;
                self.order.push_back(a);
                continue;
            }
            self.stats.evicted += 1;
            if let Some(r) = self.end_source(a) {
                self.events.push_back(Event::Summary(r));
            }
        }
        // Addresses of sources already gone pile up in `order`; drop them now and then.
        if self.order.len() > 2 * self.cfg.max_sources.max(1) {
            let sources = &self.sources;
            self.order.retain(|a| sources.contains_key(a));
        }
    }

    fn source_report(&self, a: IpAddr) -> Option<Report> {
        let s = self.sources.get(&a)?;
        let c = s.campaign.as_ref()?;
        let group_id = c.group.and_then(|gi| self.groups.get(gi)).map(|g| g.id);
        let (id, alert_time, probes_before) = match c.alert {
            Some(m) => (m.id, m.time, m.probes),
            None => (group_id?, s.last_seen, 0),
        };
        let mut targets: Vec<IpAddr> = c.targets.keys().copied().collect();
        targets.sort();
        targets.truncate(MAX_LISTED_TARGETS);
        Some(Report {
            id,
            kind: s.kind(),
            sources: vec![a],
            targets,
            target_count: c.target_count(),
            techniques: Technique::from_bits(s.techniques),
            tool: s.votes.winner(),
            ports: c.ports.len() as u64,
            probes: s.probes,
            probes_before_alert: probes_before,
            first_seen: s.first_seen,
            alert_time,
            last_seen: s.last_seen,
            reason: if s.syn_unsure {
                format!(
                    "{}; the log cannot tell a SYN scan from a connect scan",
                    s.evidence.text()
                )
            } else {
                s.evidence.text()
            },
            responsive: if s.responsive { vec![a] } else { Vec::new() },
            merged_into: if c.alert.is_some() { group_id } else { None },
        })
    }

    fn group_report(&self, gi: usize) -> Option<Report> {
        let g = self.groups.get(gi)?;
        let mut parts: Vec<(&Source, &Campaign, IpAddr)> = Vec::new();
        for m in &g.members {
            if let Some(s) = self.sources.get(m) {
                if let Some(c) = &s.campaign {
                    if c.group == Some(gi) {
                        parts.push((s, c, *m));
                    }
                }
            }
        }
        for (a, s) in &g.gone {
            if let Some(c) = &s.campaign {
                parts.push((s, c, *a));
            }
        }
        if parts.is_empty() {
            return None;
        }
        let mut sources: Vec<IpAddr> = Vec::new();
        let mut targets: HashSet<IpAddr> = HashSet::new();
        let mut ports: HashSet<u32> = HashSet::new();
        let mut tech = 0u16;
        let mut votes = ToolVotes::default();
        let mut evidence = Evidence::default();
        let mut probes = 0u64;
        let mut first = Timestamp::from_nanos(u64::MAX);
        let mut last = Timestamp::ZERO;
        let mut responsive = Vec::new();
        let mut extra_targets = 0u64;
        for (s, c, a) in &parts {
            sources.push(*a);
            targets.extend(c.targets.keys().copied());
            extra_targets += c.targets_over;
            ports.extend(c.ports.iter().copied());
            tech |= s.techniques;
            votes.merge(&s.votes);
            evidence.merge(&s.evidence);
            probes += s.probes;
            first = first.min(s.first_seen);
            last = last.max(s.last_seen);
            if s.responsive {
                responsive.push(*a);
            }
        }
        sources.sort();
        sources.dedup();
        responsive.sort();
        responsive.dedup();
        let mut t: Vec<IpAddr> = targets.iter().copied().collect();
        t.sort();
        let target_count = t.len() as u64 + extra_targets;
        t.truncate(MAX_LISTED_TARGETS);
        let what = match g.kind {
            Kind::Decoy => "the same probes from every source at once",
            _ => "disjoint probes of the same hosts by one tool, at the same time",
        };
        Some(Report {
            id: g.id,
            kind: g.kind,
            sources,
            targets: t,
            target_count,
            techniques: Technique::from_bits(tech),
            tool: votes.winner(),
            ports: ports.len() as u64,
            probes,
            probes_before_alert: g.probes_at_alert,
            first_seen: first,
            alert_time: g.alert_time,
            last_seen: last,
            reason: format!("{what}; {}", evidence.text()),
            responsive,
            merged_into: None,
        })
    }
}

fn door(target: IpAddr, proto: u8, port: u16) -> DoorKey {
    DoorKey {
        target,
        proto,
        port,
    }
}

fn icmp_proto(p: &Packet) -> u8 {
    if p.src.is_ipv6() {
        proto::ICMPV6
    } else {
        proto::ICMP
    }
}

/// Whether a kernel wrote this SYN: Linux, BSD and Windows set DF on TCP and offer
/// selective acknowledgements, timestamps or window scaling; raw-socket scanners send a
/// bare MSS or nothing.
fn kernel_syn(p: &Packet, options: &packet::TcpOptions) -> bool {
    let o = options.as_bytes();
    let mut i = 0;
    let mut rich = false;
    while let Some(&kind) = o.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                if matches!(kind, 3 | 4 | 8) {
                    rich = true;
                }
                match o.get(i + 1) {
                    Some(&len) if len >= 2 => i += usize::from(len),
                    _ => break,
                }
            }
        }
    }
    rich || (p.df && !o.is_empty())
}

/// If `p` is a first contact or a retry, its door, technique and tool.
fn probe_of(p: &Packet) -> Option<(DoorKey, Technique, Tool)> {
    let (key, technique) = match p.transport {
        Transport::Tcp {
            dst_port,
            flags: f,
            options,
            payload_len,
            ..
        } => {
            let f = f & !flags::ECN;
            let technique = if f & flags::RST != 0 {
                return None;
            } else if f & flags::SYN != 0 {
                if f & flags::ACK != 0 {
                    return None;
                } else if f & flags::FIN != 0 {
                    Technique::Custom
                } else if kernel_syn(p, &options) {
                    Technique::Connect
                } else {
                    Technique::Syn
                }
            } else if f & flags::ACK != 0 {
                if payload_len > 0 || f & (flags::URG | flags::PSH) != 0 {
                    // Data, or a mid-connection segment: not a probe.
                    return None;
                } else if f & flags::FIN != 0 {
                    Technique::Maimon
                } else {
                    Technique::Ack
                }
            } else {
                match f {
                    0 => Technique::Null,
                    flags::FIN => Technique::Fin,
                    x if x == flags::FIN | flags::PSH | flags::URG => Technique::Xmas,
                    _ => Technique::Custom,
                }
            };
            (door(p.dst, proto::TCP, dst_port), technique)
        }
        Transport::Udp { dst_port, .. } => (door(p.dst, proto::UDP, dst_port), Technique::Udp),
        Transport::Icmp(Icmp::EchoRequest { .. }) => {
            (door(p.dst, icmp_proto(p), 8), Technique::IcmpEcho)
        }
        Transport::Icmp(Icmp::TimestampRequest { .. }) => {
            (door(p.dst, proto::ICMP, 13), Technique::IcmpTimestamp)
        }
        Transport::Icmp(_) => return None,
        Transport::Other { protocol } => {
            if is_multicast(p.dst) {
                return None;
            }
            (door(p.dst, protocol, 0), Technique::IpProto)
        }
    };
    if is_multicast(p.dst) {
        return None;
    }
    Some((key, technique, fingerprint::classify(p)))
}

fn is_multicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_multicast() || v.is_broadcast(),
        IpAddr::V6(v) => v.is_multicast(),
    }
}
