//! Host discovery on a directly attached Ethernet segment: ARP for IPv4, Neighbor
//! Discovery for IPv6 — what nmap does by default for local targets when it runs as root.
//!
//! A host on the same link must answer its neighbours' address resolution, whatever its
//! firewall does to pings and TCP, so a link-layer answer is the surest sign of life there,
//! and it carries the host's MAC address.
//!
//! [`NeighborScan`] is sans-IO like [`crate::scan::Scan`]: the caller asks
//! [`NeighborScan::poll_transmit`] for the next request (written into its buffer), feeds
//! every received ARP frame to [`NeighborScan::on_arp_frame`] and every ICMPv6 message to
//! [`NeighborScan::on_icmpv6`], calls [`NeighborScan::handle_timeout`] at
//! [`NeighborScan::next_timeout`], and takes results from [`NeighborScan::poll_result`].
//!
//! What counts as an answer for a target we asked about (at least one request sent):
//! - IPv4: an Ethernet/IPv4 ARP *reply* whose sender protocol address is the target,
//!   addressed to us (our IPv4 address and MAC as target), from a unicast MAC, and not
//!   gratuitous (sender and target protocol addresses differ);
//! - IPv6: a Neighbor Advertisement received with hop limit 255 (RFC 4861 §7.1.2), with
//!   the Solicited flag, whose target is the target.
//!
//! Everything else — requests, gratuitous announcements, unsolicited advertisements,
//! replies about addresses we did not ask for, duplicates — is counted as ignored.
//!
//! Each target gets up to [`NeighborConfig::tries`] requests; the wait after each starts
//! at the timing's initial RTO and follows the measured round-trip time (RFC 6298, from
//! first tries only) within the timing's RTO bounds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use monban_wire::{arp, ndp, MacAddr};

use crate::timing::Timing;
use crate::types::HostStatus;

/// Most tries per address: the first request and two retransmissions. Linux's own
/// neighbour resolution gives up after three (`mcast_solicit`), so a host that misses
/// three is unreachable for the kernel too.
pub const MAX_TRIES: u8 = 3;

/// Buffer length [`NeighborScan::poll_transmit`] needs: an ARP frame (42 bytes) or a
/// solicitation with its source link-layer option (32 bytes).
pub const MAX_REQUEST_LEN: usize = arp::FRAME_LEN;

/// How a neighbour scan runs.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighborConfig {
    /// Our MAC address on the segment (sender of ARP requests, source link-layer option of
    /// solicitations, and the address ARP replies must be sent to).
    pub local_mac: MacAddr,
    /// Our IPv4 address on the segment; needed for IPv4 targets.
    pub local_v4: Option<Ipv4Addr>,
    /// The IPv6 address solicitations leave from (the interface's link-local address);
    /// needed for IPv6 targets.
    pub local_v6: Option<Ipv6Addr>,
    /// Requests per target at most (1 to [`MAX_TRIES`]… or more if the caller insists).
    pub tries: u8,
    /// Wait after a request before the first round-trip time is measured.
    pub initial_timeout: Duration,
    /// Shortest wait after a request.
    pub min_timeout: Duration,
    /// Longest wait after a request.
    pub max_timeout: Duration,
    /// Least time between two requests (zero: back to back).
    pub interval: Duration,
    /// Most requests awaiting an answer at once.
    pub max_in_flight: usize,
}

impl NeighborConfig {
    /// The configuration a scan with timing `t` uses: tries are the timing's retries plus
    /// one, at most [`MAX_TRIES`]; waits follow its RTO bounds; requests are spaced by its
    /// `scan_delay` and its rate ([`Timing::start_rate`], within `--min-rate`/`--max-rate`).
    pub fn from_timing(
        t: &Timing,
        local_mac: MacAddr,
        local_v4: Option<Ipv4Addr>,
        local_v6: Option<Ipv6Addr>,
    ) -> NeighborConfig {
        let tries = u8::try_from(t.max_retries.saturating_add(1))
            .unwrap_or(u8::MAX)
            .min(MAX_TRIES);
        let by_rate = t
            .start_rate()
            .filter(|r| r.is_finite() && *r > 0.0)
            .map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r));
        NeighborConfig {
            local_mac,
            local_v4,
            local_v6,
            tries,
            initial_timeout: t.initial_rto,
            min_timeout: t.min_rto,
            max_timeout: t.max_rto.max(t.min_rto),
            interval: by_rate.max(t.scan_delay),
            max_in_flight: t.max_in_flight.max(1),
        }
    }
}

/// Why a neighbour scan cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeighborError {
    /// An IPv4 target, but no IPv4 address of ours on the segment to ask from.
    #[error("no IPv4 address on the segment to send ARP requests for {0} from")]
    NoLocalV4(Ipv4Addr),
    /// An IPv6 target, but no IPv6 address of ours to solicit from.
    #[error(
        "no IPv6 link-local address on the segment to send neighbor solicitations for {0} from"
    )]
    NoLocalV6(Ipv6Addr),
    /// The target is one of our own addresses: nobody on the wire answers for it.
    #[error("{0} is this machine's own address on the segment")]
    OwnAddress(IpAddr),
    /// Unspecified, loopback, multicast or broadcast: not one host on the segment.
    #[error("{0} is not a unicast address of a host on the segment")]
    NotUnicast(IpAddr),
    /// Our MAC address is zero or a group address.
    #[error("local MAC address {0} is not a unicast address")]
    BadLocalMac(MacAddr),
    /// `tries` or `max_in_flight` is zero.
    #[error("a neighbour scan needs at least one try and one request in flight")]
    NoTries,
}

/// Why a host got its status, in nmap's reason names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighborReason {
    /// An ARP reply (`arp-response`).
    ArpResponse,
    /// A solicited Neighbor Advertisement (`nd-response`).
    NdResponse,
    /// Nothing answered any try (`no-response`).
    NoResponse,
}

impl NeighborReason {
    /// nmap's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NeighborReason::ArpResponse => "arp-response",
            NeighborReason::NdResponse => "nd-response",
            NeighborReason::NoResponse => "no-response",
        }
    }
}

impl fmt::Display for NeighborReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborResult {
    /// The target.
    pub addr: IpAddr,
    /// Up when it answered, down otherwise.
    pub status: HostStatus,
    /// Why.
    pub reason: NeighborReason,
    /// Its MAC address, from the answer (None when down, or when an advertisement came
    /// without a target link-layer option).
    pub mac: Option<MacAddr>,
    /// Time from the request to the answer, when the answer came for the first request
    /// (later answers cannot be told apart from answers to earlier tries).
    pub rtt: Option<Duration>,
    /// Requests sent to it.
    pub tries: u8,
    /// The scan was stopped before this target was decided (then it is reported down).
    pub incomplete: bool,
}

/// A request written by [`NeighborScan::poll_transmit`].
///
/// For an IPv4 target the buffer holds a whole Ethernet frame (broadcast ARP request) for
/// a packet socket; for an IPv6 target it holds an ICMPv6 Neighbor Solicitation to send to
/// [`ndp::solicited_node`] of the target, from [`NeighborConfig::local_v6`], with hop
/// limit 255, on the segment's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The address being asked for.
    pub target: IpAddr,
    /// 0 for the first try, 1 for the first retransmission, ...
    pub attempt: u8,
    /// Bytes written into the buffer.
    pub len: usize,
}

impl Request {
    /// Where the request goes: `None` for ARP (Ethernet broadcast), the solicited-node
    /// multicast group of the target for ND.
    pub fn ipv6_dst(&self) -> Option<Ipv6Addr> {
        match self.target {
            IpAddr::V4(_) => None,
            IpAddr::V6(t) => Some(ndp::solicited_node(t)),
        }
    }
}

/// Counters of a neighbour scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighborStats {
    /// Targets in the scan.
    pub targets: usize,
    /// Targets decided so far.
    pub done: usize,
    /// Targets found up.
    pub up: usize,
    /// Requests sent, retransmissions included.
    pub requests: u64,
    /// Retransmissions sent.
    pub retransmits: u64,
    /// Answers that decided a target.
    pub replies: u64,
    /// Frames and messages that were not answers to our requests.
    pub ignored: u64,
    /// Requests awaiting an answer.
    pub in_flight: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Waiting in the send queue (first try or retransmission).
    Queued,
    /// A request is out; its timer runs.
    Waiting,
    /// Decided.
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    addr: IpAddr,
    state: SlotState,
    tries: u8,
    sent_at: Option<Instant>,
}

/// Burst allowance: how far the pacer may catch up after the caller woke late.
const BURST: Duration = Duration::from_millis(2);

/// A neighbour scan of targets on one segment; see the module documentation.
#[derive(Debug)]
pub struct NeighborScan {
    config: NeighborConfig,
    slots: Vec<Slot>,
    index: HashMap<IpAddr, usize>,
    queue: VecDeque<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u8)>>,
    results: VecDeque<NeighborResult>,
    next_send: Option<Instant>,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// Slots in state `Queued`.
    queued: usize,
    stats: NeighborStats,
}

impl NeighborScan {
    /// A scan of `targets` (duplicates are asked about and reported once), in the order
    /// given.
    ///
    /// # Errors
    /// [`NeighborError`] for a target that cannot be asked about from this configuration,
    /// or an unusable configuration.
    pub fn new<I>(config: NeighborConfig, targets: I) -> Result<NeighborScan, NeighborError>
    where
        I: IntoIterator<Item = IpAddr>,
    {
        if !config.local_mac.is_unicast() {
            return Err(NeighborError::BadLocalMac(config.local_mac));
        }
        if config.tries == 0 || config.max_in_flight == 0 {
            return Err(NeighborError::NoTries);
        }
        let mut slots = Vec::new();
        let mut index = HashMap::new();
        for addr in targets {
            check_target(&config, addr)?;
            if index.contains_key(&addr) {
                continue;
            }
            index.insert(addr, slots.len());
            slots.push(Slot {
                addr,
                state: SlotState::Queued,
                tries: 0,
                sent_at: None,
            });
        }
        let stats = NeighborStats {
            targets: slots.len(),
            ..NeighborStats::default()
        };
        Ok(NeighborScan {
            queue: (0..slots.len()).collect(),
            config,
            slots,
            index,
            timers: BinaryHeap::new(),
            results: VecDeque::new(),
            next_send: None,
            srtt: None,
            rttvar: Duration::ZERO,
            queued: stats.targets,
            stats,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NeighborConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> NeighborStats {
        self.stats
    }

    /// The wait after a request sent now.
    pub fn timeout(&self) -> Duration {
        let c = &self.config;
        let raw = match self.srtt {
            None => c.initial_timeout,
            Some(s) => s + self.rttvar * 4,
        };
        raw.clamp(c.min_timeout, c.max_timeout.max(c.min_timeout))
    }

    /// Whether every target is decided (results may still wait in [`Self::poll_result`]).
    pub fn is_done(&self) -> bool {
        self.stats.done == self.slots.len()
    }

    /// The next decided target, if any.
    pub fn poll_result(&mut self) -> Option<NeighborResult> {
        self.results.pop_front()
    }

    /// When to call [`Self::handle_timeout`] or [`Self::poll_transmit`] next (None: only
    /// when a packet arrives, or never once done).
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        let timer = self.timers.peek().map(|Reverse((t, _, _))| *t);
        let can_send = self.stats.in_flight < self.config.max_in_flight && self.queued > 0;
        let send = can_send.then_some(self.next_send).flatten();
        match (timer, send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes the next request due at `now` into `buf` (at least [`MAX_REQUEST_LEN`]
    /// bytes); None when nothing may be sent now.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Request> {
        if self.next_send.is_some_and(|t| t > now)
            || self.stats.in_flight >= self.config.max_in_flight
        {
            return None;
        }
        let idx = loop {
            let i = self.queue.pop_front()?;
            if self
                .slots
                .get(i)
                .is_some_and(|s| s.state == SlotState::Queued)
            {
                break i;
            }
        };
        let slot = *self.slots.get(idx)?;
        let Some(len) = self.write_request(slot.addr, buf) else {
            self.queue.push_front(idx);
            return None;
        };
        let timeout = self.timeout();
        let attempt = slot.tries;
        let tries = attempt.saturating_add(1);
        if let Some(s) = self.slots.get_mut(idx) {
            s.state = SlotState::Waiting;
            s.tries = tries;
            s.sent_at = Some(now);
        }
        self.timers.push(Reverse((now + timeout, idx, tries)));
        self.queued = self.queued.saturating_sub(1);
        self.stats.in_flight += 1;
        self.stats.requests += 1;
        if attempt > 0 {
            self.stats.retransmits += 1;
        }
        let interval = self.config.interval;
        let base = match self.next_send {
            Some(t) if t + BURST > now => t,
            _ => now,
        };
        self.next_send = (!interval.is_zero()).then(|| base + interval);
        Some(Request {
            target: slot.addr,
            attempt,
            len,
        })
    }

    fn write_request(&self, target: IpAddr, buf: &mut [u8]) -> Option<usize> {
        let c = &self.config;
        match target {
            IpAddr::V4(t) => arp::Repr::request(c.local_mac, c.local_v4?, t)
                .emit_frame(MacAddr::BROADCAST, buf)
                .ok(),
            IpAddr::V6(t) => ndp::Repr::Solicit {
                target: t,
                source_lladdr: Some(c.local_mac),
            }
            .emit(buf, c.local_v6?, ndp::solicited_node(t))
            .ok(),
        }
    }

    /// Retransmits or gives up on every target whose wait ended by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, idx, tries))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(idx) else {
                continue;
            };
            if slot.state != SlotState::Waiting || slot.tries != tries {
                continue;
            }
            self.stats.in_flight = self.stats.in_flight.saturating_sub(1);
            if slot.tries < self.config.tries {
                slot.state = SlotState::Queued;
                self.queued += 1;
                // Retransmissions first, so a host's tries do not wait behind a long
                // queue of first tries.
                self.queue.push_front(idx);
            } else {
                self.mark_done(idx, false, None, None, false);
            }
        }
    }

    /// Stops the scan: every undecided target is reported down and incomplete.
    pub fn stop(&mut self) {
        for idx in 0..self.slots.len() {
            if self
                .slots
                .get(idx)
                .is_some_and(|s| s.state != SlotState::Done)
            {
                self.mark_done(idx, false, None, None, true);
            }
        }
        self.queued = 0;
        self.queue.clear();
        self.timers.clear();
        self.stats.in_flight = 0;
    }

    /// Reads one received Ethernet frame (as a `SOCK_RAW` packet socket delivers it);
    /// returns true when it decided a target.
    pub fn on_arp_frame(&mut self, now: Instant, frame: &[u8]) -> bool {
        let accepted = match arp::parse_frame(frame) {
            Ok(Some((_, r))) => self.on_arp(now, &r),
            _ => false,
        };
        if !accepted {
            self.stats.ignored += 1;
        }
        accepted
    }

    /// Reads one received ARP packet (the Ethernet payload, as a `SOCK_DGRAM` packet
    /// socket delivers it); returns true when it decided a target.
    pub fn on_arp_packet(&mut self, now: Instant, packet: &[u8]) -> bool {
        let accepted = match arp::Packet::new_checked(packet).and_then(|p| arp::Repr::parse(&p)) {
            Ok(r) => self.on_arp(now, &r),
            Err(_) => false,
        };
        if !accepted {
            self.stats.ignored += 1;
        }
        accepted
    }

    fn on_arp(&mut self, now: Instant, r: &arp::Repr) -> bool {
        let c = &self.config;
        let to_us =
            Some(r.target_protocol_addr) == c.local_v4 && r.target_hardware_addr == c.local_mac;
        if !r.is_ethernet_ipv4()
            || r.operation != arp::operation::REPLY
            || r.is_gratuitous()
            || !to_us
            || !r.sender_hardware_addr.is_unicast()
        {
            return false;
        }
        let mac = r.sender_hardware_addr;
        self.answer(IpAddr::V4(r.sender_protocol_addr), Some(mac), now)
    }

    /// Reads one received ICMPv6 message (without its IPv6 header, as a raw ICMPv6 socket
    /// delivers it) and the hop limit it arrived with; returns true when it decided a
    /// target.
    pub fn on_icmpv6(&mut self, now: Instant, hop_limit: u8, message: &[u8]) -> bool {
        let accepted = hop_limit == ndp::HOP_LIMIT
            && match ndp::Repr::parse(message) {
                Ok(Some(r @ ndp::Repr::Advert { target_lladdr, .. }))
                    if r.is_solicited_advert() && target_lladdr.is_none_or(|m| m.is_unicast()) =>
                {
                    self.answer(IpAddr::V6(r.target()), target_lladdr, now)
                }
                _ => false,
            };
        if !accepted {
            self.stats.ignored += 1;
        }
        accepted
    }

    /// An answer for `addr`: decides it if we asked and it is not decided yet.
    fn answer(&mut self, addr: IpAddr, mac: Option<MacAddr>, now: Instant) -> bool {
        let Some(&idx) = self.index.get(&addr) else {
            return false;
        };
        let Some(slot) = self.slots.get(idx).copied() else {
            return false;
        };
        if slot.state == SlotState::Done || slot.tries == 0 {
            return false;
        }
        match slot.state {
            SlotState::Waiting => self.stats.in_flight = self.stats.in_flight.saturating_sub(1),
            SlotState::Queued => self.queued = self.queued.saturating_sub(1),
            SlotState::Done => {}
        }
        self.stats.replies += 1;
        // Karn: only an answer to the only request says how long a round trip takes.
        let rtt = (slot.tries == 1)
            .then_some(slot.sent_at)
            .flatten()
            .map(|t| now.saturating_duration_since(t));
        if let Some(r) = rtt {
            self.sample(r);
        }
        self.mark_done(idx, true, mac, rtt, false);
        true
    }

    /// Decides target `idx`.
    fn mark_done(
        &mut self,
        idx: usize,
        up: bool,
        mac: Option<MacAddr>,
        rtt: Option<Duration>,
        incomplete: bool,
    ) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        slot.state = SlotState::Done;
        let reason = match (up, slot.addr) {
            (false, _) => NeighborReason::NoResponse,
            (true, IpAddr::V4(_)) => NeighborReason::ArpResponse,
            (true, IpAddr::V6(_)) => NeighborReason::NdResponse,
        };
        self.stats.done += 1;
        if up {
            self.stats.up += 1;
        }
        self.results.push_back(NeighborResult {
            addr: slot.addr,
            status: if up { HostStatus::Up } else { HostStatus::Down },
            reason,
            mac,
            rtt,
            tries: slot.tries,
            incomplete,
        });
    }

    /// RFC 6298 smoothing of one round-trip sample.
    fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(s) => {
                self.rttvar = (self.rttvar * 3 + s.abs_diff(rtt)) / 4;
                self.srtt = Some((s * 7 + rtt) / 8);
            }
        }
    }
}

fn check_target(c: &NeighborConfig, addr: IpAddr) -> Result<(), NeighborError> {
    match addr {
        IpAddr::V4(a) => {
            if a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_broadcast() {
                return Err(NeighborError::NotUnicast(addr));
            }
            match c.local_v4 {
                None => Err(NeighborError::NoLocalV4(a)),
                Some(l) if l == a => Err(NeighborError::OwnAddress(addr)),
                Some(_) => Ok(()),
            }
        }
        IpAddr::V6(a) => {
            if a.is_unspecified() || a.is_loopback() || a.is_multicast() {
                return Err(NeighborError::NotUnicast(addr));
            }
            match c.local_v6 {
                None => Err(NeighborError::NoLocalV6(a)),
                Some(l) if l == a => Err(NeighborError::OwnAddress(addr)),
                Some(_) => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monban_wire::icmp;

    const LOCAL_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);

    fn local_v6() -> Ipv6Addr {
        "fe80::1".parse().unwrap()
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, last))
    }

    fn v6(last: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, last))
    }

    fn mac_of(addr: IpAddr) -> MacAddr {
        let last = match addr {
            IpAddr::V4(a) => a.octets()[3],
            IpAddr::V6(a) => a.octets()[15],
        };
        MacAddr([0x52, 0x54, 0, 0, if addr.is_ipv4() { 4 } else { 6 }, last])
    }

    fn config() -> NeighborConfig {
        NeighborConfig {
            local_mac: LOCAL_MAC,
            local_v4: Some(LOCAL_V4),
            local_v6: Some(local_v6()),
            tries: 3,
            initial_timeout: Duration::from_secs(1),
            min_timeout: Duration::from_millis(100),
            max_timeout: Duration::from_secs(10),
            interval: Duration::from_millis(1),
            max_in_flight: 4096,
        }
    }

    /// Seeded pseudo-random numbers: the engine's own splitmix64 over a counter.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(1);
            crate::perm::splitmix64(self.0)
        }

        fn chance(&mut self, permille: u64) -> bool {
            self.next() % 1000 < permille
        }
    }

    /// What a simulated host sends back.
    #[derive(Debug, Clone)]
    enum Frame {
        Arp(Vec<u8>),
        Icmpv6 { hop_limit: u8, message: Vec<u8> },
    }

    /// A simulated Ethernet segment: live hosts answer the requests they receive, after
    /// `delay`, through a link that loses, duplicates, and carries noise.
    struct Segment {
        live: Vec<IpAddr>,
        delay: Duration,
        loss_permille: u64,
        duplicate: bool,
        rng: Rng,
        /// (target, delivered) for every request sent.
        exchanges: Vec<(IpAddr, bool)>,
        requests_at: Vec<(Instant, IpAddr)>,
        max_in_flight_seen: usize,
        /// Frames injected at given times, regardless of requests.
        noise: Vec<(Duration, Frame)>,
    }

    impl Segment {
        fn new(live: Vec<IpAddr>) -> Segment {
            Segment {
                live,
                delay: Duration::from_micros(200),
                loss_permille: 0,
                duplicate: false,
                rng: Rng(0x9e37_79b9_7f4a_7c15),
                exchanges: Vec::new(),
                requests_at: Vec::new(),
                max_in_flight_seen: 0,
                noise: Vec::new(),
            }
        }

        /// Checks a request's bytes as a host would read them and builds the answer.
        fn answer(&self, req: &Request, bytes: &[u8]) -> Frame {
            match req.target {
                IpAddr::V4(t) => {
                    let (eth, r) = arp::parse_frame(bytes).unwrap().unwrap();
                    assert_eq!(eth.dst, MacAddr::BROADCAST);
                    assert_eq!(eth.src, LOCAL_MAC);
                    assert_eq!(r, arp::Repr::request(LOCAL_MAC, LOCAL_V4, t));
                    let mut f = [0u8; arp::FRAME_LEN];
                    arp::Repr::reply(mac_of(req.target), t, LOCAL_MAC, LOCAL_V4)
                        .emit_frame(LOCAL_MAC, &mut f)
                        .unwrap();
                    Frame::Arp(f.to_vec())
                }
                IpAddr::V6(t) => {
                    let dst = req.ipv6_dst().unwrap();
                    assert!(icmp::Packet::new_checked(bytes)
                        .unwrap()
                        .verify_checksum_v6(local_v6(), dst));
                    assert_eq!(
                        ndp::Repr::parse(bytes),
                        Ok(Some(ndp::Repr::Solicit {
                            target: t,
                            source_lladdr: Some(LOCAL_MAC)
                        }))
                    );
                    Frame::Icmpv6 {
                        hop_limit: 255,
                        message: na(
                            t,
                            ndp::flags::SOLICITED | ndp::flags::OVERRIDE,
                            Some(mac_of(req.target)),
                        ),
                    }
                }
            }
        }

        /// Runs `scan` to the end on a virtual clock; returns results by address and the
        /// virtual time it took.
        fn run(&mut self, scan: &mut NeighborScan) -> (HashMap<IpAddr, NeighborResult>, Duration) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut pending: Vec<(Instant, Frame)> = self
                .noise
                .iter()
                .map(|(d, f)| (t0 + *d, f.clone()))
                .collect();
            let mut results = HashMap::new();
            let mut buf = [0u8; MAX_REQUEST_LEN];
            for _ in 0..1_000_000 {
                while let Some(req) = scan.poll_transmit(now, &mut buf) {
                    self.requests_at.push((now, req.target));
                    self.max_in_flight_seen = self.max_in_flight_seen.max(scan.stats().in_flight);
                    let live = self.live.contains(&req.target);
                    let frame = self.answer(&req, &buf[..req.len]);
                    let through = live
                        && !self.rng.chance(self.loss_permille)
                        && !self.rng.chance(self.loss_permille);
                    self.exchanges.push((req.target, through));
                    if through {
                        pending.push((now + self.delay, frame.clone()));
                        if self.duplicate {
                            pending.push((now + self.delay * 2, frame.clone()));
                            pending.push((now + Duration::from_secs(30), frame));
                        }
                    }
                }
                while let Some(r) = scan.poll_result() {
                    assert!(results.insert(r.addr, r).is_none(), "one result per target");
                }
                if scan.is_done()
                    && pending
                        .iter()
                        .all(|(t, _)| *t > now + Duration::from_secs(60))
                {
                    return (results, now - t0);
                }
                pending.sort_by_key(|(t, _)| *t);
                let next_frame = pending.first().map(|(t, _)| *t);
                let wake = match (scan.next_timeout(), next_frame) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b).expect("a running scan always has a wake-up"),
                };
                now = now.max(wake);
                let due: Vec<Frame> = {
                    let (due, rest): (Vec<_>, Vec<_>) =
                        pending.drain(..).partition(|(t, _)| *t <= now);
                    pending = rest;
                    due.into_iter().map(|(_, f)| f).collect()
                };
                for f in due {
                    match f {
                        Frame::Arp(b) => scan.on_arp_frame(now, &b),
                        Frame::Icmpv6 { hop_limit, message } => {
                            scan.on_icmpv6(now, hop_limit, &message)
                        }
                    };
                }
                scan.handle_timeout(now);
            }
            panic!("simulation did not end");
        }

        /// Whether at least one request to `addr` and its answer got through.
        fn reached(&self, addr: IpAddr) -> bool {
            self.exchanges.iter().any(|&(a, ok)| a == addr && ok)
        }
    }

    fn na(target: Ipv6Addr, flags: u8, mac: Option<MacAddr>) -> Vec<u8> {
        let r = ndp::Repr::Advert {
            flags,
            target,
            target_lladdr: mac,
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, target, local_v6()).unwrap();
        b
    }

    fn arp_frame(r: arp::Repr) -> Vec<u8> {
        let mut f = vec![0u8; arp::FRAME_LEN];
        r.emit_frame(LOCAL_MAC, &mut f).unwrap();
        f
    }

    fn targets() -> (Vec<IpAddr>, Vec<IpAddr>) {
        let live = vec![v4(10), v4(11), v4(12), v6(0x10), v6(0x11)];
        let all = vec![
            v4(10),
            v4(11),
            v4(12),
            v4(200),
            v4(201),
            v6(0x10),
            v6(0x11),
            v6(0x200),
            v6(0x201),
        ];
        (all, live)
    }

    #[test]
    fn lossless_segment_exact() {
        let (all, live) = targets();
        let mut scan = NeighborScan::new(config(), all.clone()).unwrap();
        let mut seg = Segment::new(live.clone());
        let (res, took) = seg.run(&mut scan);
        assert_eq!(res.len(), all.len());
        for a in &all {
            let r = res[a];
            if live.contains(a) {
                let reason = if a.is_ipv4() {
                    NeighborReason::ArpResponse
                } else {
                    NeighborReason::NdResponse
                };
                assert_eq!(
                    r,
                    NeighborResult {
                        addr: *a,
                        status: HostStatus::Up,
                        reason,
                        mac: Some(mac_of(*a)),
                        rtt: Some(Duration::from_micros(200)),
                        tries: 1,
                        incomplete: false,
                    }
                );
            } else {
                assert_eq!(r.status, HostStatus::Down, "{a}");
                assert_eq!(r.reason, NeighborReason::NoResponse);
                assert_eq!(
                    (r.mac, r.rtt, r.tries, r.incomplete),
                    (None, None, 3, false)
                );
            }
        }
        // 5 live hosts once, 4 dead ones three times.
        let st = scan.stats();
        assert_eq!(st.requests, 5 + 4 * 3);
        assert_eq!(st.retransmits, 4 * 2);
        assert_eq!((st.replies, st.ignored, st.up, st.done), (5, 0, 5, 9));
        // The first replies came before the dead hosts' first tries (1 ms spacing), so
        // every wait was the 100 ms floor: three tries end by 9 ms + 3 × 100 ms.
        assert!(took <= Duration::from_millis(9 + 300 + 10), "{took:?}");
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert_eq!(scan.next_timeout(), None);
    }

    #[test]
    fn lossy_segment_matches_what_got_through() {
        let (mut lost_some, mut live_down) = (false, false);
        for seed in 1..=20u64 {
            let (all, live) = targets();
            let mut scan = NeighborScan::new(config(), all.clone()).unwrap();
            let mut seg = Segment::new(live.clone());
            seg.loss_permille = 300;
            seg.rng = Rng(seed.wrapping_mul(0x1234_5678_9abc_def1));
            let (res, _) = seg.run(&mut scan);
            for a in &all {
                let r = res[a];
                let reached = seg.reached(*a);
                assert_eq!(r.status == HostStatus::Up, reached, "seed {seed} {a}");
                if live.contains(a) && r.tries > 1 {
                    lost_some = true;
                }
                if live.contains(a) && r.status == HostStatus::Down {
                    live_down = true;
                }
                if r.status == HostStatus::Up {
                    assert_eq!(r.mac, Some(mac_of(*a)));
                    // Retransmissions stop at the first answer.
                    let sent = seg.requests_at.iter().filter(|(_, t)| t == a).count();
                    assert_eq!(sent, usize::from(r.tries));
                    assert_eq!(r.rtt.is_some(), r.tries == 1);
                } else {
                    assert_eq!(r.tries, 3);
                }
            }
        }
        assert!(
            lost_some,
            "30% loss should cost a live host a retry somewhere"
        );
        assert!(
            live_down,
            "and lose every exchange with one live host somewhere"
        );
    }

    #[test]
    fn duplicates_are_ignored() {
        let (all, live) = targets();
        let mut scan = NeighborScan::new(config(), all.clone()).unwrap();
        let mut seg = Segment::new(live.clone());
        seg.duplicate = true;
        let (res, _) = seg.run(&mut scan);
        assert_eq!(res.len(), 9);
        assert_eq!(
            res.values().filter(|r| r.status == HostStatus::Up).count(),
            5
        );
        let st = scan.stats();
        assert_eq!(st.replies, 5);
        // Each live host's answer came twice more: once soon, once 30 s later.
        assert_eq!(st.ignored, 10);
    }

    #[test]
    fn noise_is_ignored() {
        let (all, live) = targets();
        let dead4 = Ipv4Addr::new(10, 1, 0, 200);
        let dead6: Ipv6Addr = "fd00:1::200".parse().unwrap();
        let mac = mac_of(IpAddr::V4(dead4));
        let ms = Duration::from_millis;
        let noise = vec![
            // A dead target announces itself (gratuitous request and gratuitous reply).
            (
                ms(5),
                Frame::Arp(arp_frame(arp::Repr::request(mac, dead4, dead4))),
            ),
            (
                ms(6),
                Frame::Arp(arp_frame(arp::Repr::reply(
                    mac,
                    dead4,
                    MacAddr::BROADCAST,
                    dead4,
                ))),
            ),
            // A dead target asks us something: a request, not a reply.
            (
                ms(7),
                Frame::Arp(arp_frame(arp::Repr::request(mac, dead4, LOCAL_V4))),
            ),
            // A reply about a dead target sent to someone else.
            (
                ms(8),
                Frame::Arp(arp_frame(arp::Repr::reply(
                    mac,
                    dead4,
                    MacAddr([2, 0, 0, 0, 0, 9]),
                    Ipv4Addr::new(10, 1, 0, 9),
                ))),
            ),
            // A reply from a non-target.
            (
                ms(9),
                Frame::Arp(arp_frame(arp::Repr::reply(
                    mac,
                    Ipv4Addr::new(10, 1, 0, 77),
                    LOCAL_MAC,
                    LOCAL_V4,
                ))),
            ),
            // A "reply" about a dead target claiming a broadcast MAC.
            (
                ms(10),
                Frame::Arp(arp_frame(arp::Repr::reply(
                    MacAddr::BROADCAST,
                    dead4,
                    LOCAL_MAC,
                    LOCAL_V4,
                ))),
            ),
            // A dead IPv6 target: unsolicited advertisement, and a solicited one with the
            // wrong hop limit (forwarded: not from the link).
            (
                ms(11),
                Frame::Icmpv6 {
                    hop_limit: 255,
                    message: na(dead6, ndp::flags::OVERRIDE, Some(mac)),
                },
            ),
            (
                ms(12),
                Frame::Icmpv6 {
                    hop_limit: 64,
                    message: na(dead6, ndp::flags::SOLICITED, Some(mac)),
                },
            ),
            // An advertisement for a non-target, and a solicitation.
            (
                ms(13),
                Frame::Icmpv6 {
                    hop_limit: 255,
                    message: na(
                        "fd00:1::77".parse().unwrap(),
                        ndp::flags::SOLICITED,
                        Some(mac),
                    ),
                },
            ),
            (
                ms(14),
                Frame::Icmpv6 {
                    hop_limit: 255,
                    message: {
                        let r = ndp::Repr::Solicit {
                            target: dead6,
                            source_lladdr: Some(mac),
                        };
                        let mut b = vec![0u8; r.buffer_len()];
                        r.emit(&mut b, dead6, local_v6()).unwrap();
                        b
                    },
                },
            ),
            // Garbage.
            (ms(15), Frame::Arp(vec![0xff; 13])),
            (
                ms(16),
                Frame::Icmpv6 {
                    hop_limit: 255,
                    message: vec![136, 0, 0],
                },
            ),
        ];
        let n_noise = noise.len() as u64;
        let mut scan = NeighborScan::new(config(), all.clone()).unwrap();
        let mut seg = Segment::new(live.clone());
        seg.noise = noise;
        let (res, _) = seg.run(&mut scan);
        for a in &all {
            let want = if live.contains(a) {
                HostStatus::Up
            } else {
                HostStatus::Down
            };
            assert_eq!(res[a].status, want, "{a}");
        }
        assert_eq!(res.len(), all.len(), "no result for non-targets");
        assert_eq!(scan.stats().ignored, n_noise);
        assert_eq!(scan.stats().replies, 5);
    }

    #[test]
    fn answers_before_any_request_do_not_count() {
        // Target .10's reply arrives before we asked (it was answering someone else who
        // uses our address — or a forged frame): it is ignored, and .10 is still asked.
        let mut c = config();
        c.interval = Duration::from_millis(50);
        let t = [v4(11), v4(10)];
        let mut scan = NeighborScan::new(c, t).unwrap();
        let mut seg = Segment::new(vec![v4(10)]);
        let early = arp_frame(arp::Repr::reply(
            mac_of(v4(10)),
            Ipv4Addr::new(10, 1, 0, 10),
            LOCAL_MAC,
            LOCAL_V4,
        ));
        seg.noise = vec![(Duration::from_millis(10), Frame::Arp(early))];
        let (res, _) = seg.run(&mut scan);
        assert_eq!(res[&v4(10)].status, HostStatus::Up);
        assert_eq!(res[&v4(10)].tries, 1);
        assert_eq!(res[&v4(11)].status, HostStatus::Down);
        assert_eq!(scan.stats().ignored, 1);
    }

    #[test]
    fn pacing_and_in_flight_limit() {
        let mut c = config();
        c.interval = Duration::from_millis(10);
        c.max_in_flight = 2;
        let all: Vec<IpAddr> = (20..30).map(v4).collect();
        let mut scan = NeighborScan::new(c, all.clone()).unwrap();
        let mut seg = Segment::new(all[..5].to_vec());
        let (res, _) = seg.run(&mut scan);
        assert_eq!(
            res.values().filter(|r| r.status == HostStatus::Up).count(),
            5
        );
        assert!(seg.max_in_flight_seen <= 2, "{}", seg.max_in_flight_seen);
        for w in seg.requests_at.windows(2) {
            assert!(w[1].0 - w[0].0 >= Duration::from_millis(10), "{w:?}");
        }
        assert_eq!(seg.requests_at.len(), 5 + 5 * 3);
    }

    #[test]
    fn stop_reports_the_rest_incomplete() {
        let (all, _) = targets();
        let mut scan = NeighborScan::new(config(), all.clone()).unwrap();
        let now = Instant::now();
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let first = scan.poll_transmit(now, &mut buf).unwrap();
        assert_eq!((first.target, first.attempt, first.len), (v4(10), 0, 42));
        let reply = arp_frame(arp::Repr::reply(
            mac_of(v4(10)),
            Ipv4Addr::new(10, 1, 0, 10),
            LOCAL_MAC,
            LOCAL_V4,
        ));
        assert!(scan.on_arp_frame(now + Duration::from_millis(1), &reply));
        assert!(scan.poll_transmit(now, &mut buf).is_none(), "paced: 1 ms");
        scan.stop();
        assert!(scan.is_done());
        let got: Vec<NeighborResult> = std::iter::from_fn(|| scan.poll_result()).collect();
        assert_eq!(got.len(), 9);
        assert_eq!(got[0].status, HostStatus::Up);
        assert!(!got[0].incomplete);
        assert_eq!(got[0].rtt, Some(Duration::from_millis(1)));
        for r in &got[1..] {
            assert_eq!(
                (r.status, r.incomplete, r.tries),
                (HostStatus::Down, true, 0)
            );
        }
        assert_eq!(scan.next_timeout(), None);
        assert!(scan
            .poll_transmit(now + Duration::from_secs(9), &mut buf)
            .is_none());
    }

    #[test]
    fn advert_without_lladdr_is_up_without_mac() {
        let mut scan = NeighborScan::new(config(), [v6(5)]).unwrap();
        let now = Instant::now();
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let req = scan.poll_transmit(now, &mut buf).unwrap();
        assert_eq!(req.len, 32);
        assert_eq!(req.ipv6_dst(), Some("ff02::1:ff00:5".parse().unwrap()));
        let IpAddr::V6(t) = v6(5) else { unreachable!() };
        assert!(scan.on_icmpv6(now, 255, &na(t, ndp::flags::SOLICITED, None)));
        let r = scan.poll_result().unwrap();
        assert_eq!(
            (r.status, r.reason, r.mac),
            (HostStatus::Up, NeighborReason::NdResponse, None)
        );
    }

    #[test]
    fn hostile_input_never_panics_nor_counts() {
        let (all, _) = targets();
        let mut scan = NeighborScan::new(config(), all).unwrap();
        let now = Instant::now();
        let mut buf = [0u8; MAX_REQUEST_LEN];
        while scan.poll_transmit(now, &mut buf).is_some() {}
        let mut rng = Rng(42);
        let mut data = [0u8; 80];
        for i in 0..20_000usize {
            for b in data.iter_mut() {
                *b = (rng.next() >> 56) as u8;
            }
            let n = i % data.len();
            assert!(!scan.on_arp_frame(now, &data[..n]));
            assert!(!scan.on_arp_packet(now, &data[..n]));
            assert!(!scan.on_icmpv6(now, 255, &data[..n]));
        }
        assert_eq!(scan.stats().replies, 0);
        // A too-small buffer sends nothing and loses nothing.
        let mut scan = NeighborScan::new(config(), [v4(3)]).unwrap();
        assert!(scan.poll_transmit(now, &mut buf[..41]).is_none());
        assert_eq!(
            scan.poll_transmit(now, &mut buf).map(|r| r.target),
            Some(v4(3))
        );
    }

    #[test]
    fn bad_configurations() {
        let c = config();
        let own4 = IpAddr::V4(LOCAL_V4);
        assert_eq!(
            NeighborScan::new(c.clone(), [own4]).err(),
            Some(NeighborError::OwnAddress(own4))
        );
        let own6 = IpAddr::V6(local_v6());
        assert_eq!(
            NeighborScan::new(c.clone(), [own6]).err(),
            Some(NeighborError::OwnAddress(own6))
        );
        for bad in [
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "127.0.0.1",
            "ff02::1",
            "::",
            "::1",
        ] {
            let a: IpAddr = bad.parse().unwrap();
            assert_eq!(
                NeighborScan::new(c.clone(), [a]).err(),
                Some(NeighborError::NotUnicast(a)),
                "{bad}"
            );
        }
        let mut no4 = c.clone();
        no4.local_v4 = None;
        assert_eq!(
            NeighborScan::new(no4, [v4(9)]).err(),
            Some(NeighborError::NoLocalV4(Ipv4Addr::new(10, 1, 0, 9)))
        );
        let mut no6 = c.clone();
        no6.local_v6 = None;
        assert!(matches!(
            NeighborScan::new(no6, [v6(9)]),
            Err(NeighborError::NoLocalV6(_))
        ));
        let mut m = c.clone();
        m.local_mac = MacAddr::BROADCAST;
        assert_eq!(
            NeighborScan::new(m, [v4(9)]).err(),
            Some(NeighborError::BadLocalMac(MacAddr::BROADCAST))
        );
        let mut z = c.clone();
        z.tries = 0;
        assert_eq!(
            NeighborScan::new(z, [v4(9)]).err(),
            Some(NeighborError::NoTries)
        );
        // Duplicates are asked about once.
        let s = NeighborScan::new(c, [v4(9), v4(9), v6(9)]).unwrap();
        assert_eq!(s.stats().targets, 2);
    }

    #[test]
    fn config_from_timing_templates() {
        let mk = |lvl| NeighborConfig::from_timing(&Timing::template(lvl), LOCAL_MAC, None, None);
        let t3 = mk(3);
        assert_eq!(t3.tries, 3);
        assert_eq!(t3.interval, Duration::from_millis(1));
        assert_eq!(t3.initial_timeout, Duration::from_secs(1));
        assert_eq!(t3.min_timeout, Duration::from_millis(100));
        assert_eq!(t3.max_in_flight, 4096);
        let t5 = mk(5);
        assert_eq!(t5.tries, 3);
        assert_eq!(t5.interval, Duration::from_micros(50));
        let t2 = mk(2);
        assert_eq!(
            (t2.interval, t2.max_in_flight),
            (Duration::from_millis(400), 1)
        );
        let mut t = Timing::template(4);
        t.max_retries = 0;
        t.max_rate = Some(100.0);
        let c = NeighborConfig::from_timing(&t, LOCAL_MAC, None, None);
        assert_eq!((c.tries, c.interval), (1, Duration::from_millis(10)));
        // A serial template with only a ceiling keeps its spacing and honours the
        // ceiling when that is slower.
        let mut t = Timing::template(2);
        t.max_rate = Some(100.0);
        let c = NeighborConfig::from_timing(&t, LOCAL_MAC, None, None);
        assert_eq!(c.interval, Duration::from_millis(400));
        t.max_rate = Some(1.0);
        let c = NeighborConfig::from_timing(&t, LOCAL_MAC, None, None);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(NeighborReason::ArpResponse.to_string(), "arp-response");
        assert_eq!(NeighborReason::NdResponse.as_str(), "nd-response");
        assert_eq!(NeighborReason::NoResponse.as_str(), "no-response");
    }
}
