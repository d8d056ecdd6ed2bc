//! Timing: our -T0…-T5 templates, the RTT estimator and the send-rate controller.
//!
//! # Templates
//!
//! | template | in flight | probe spacing | initial / min / max RTO | retries | start rate | max rate |
//! |---|---|---|---|---|---|---|
//! | T0 paranoid   | 1      | 300 s  | 5 s / 100 ms / 10 s       | 10 | –        | –          |
//! | T1 sneaky     | 1      | 15 s   | 5 s / 100 ms / 10 s       | 10 | –        | –          |
//! | T2 polite     | 1      | 0.4 s  | 1 s / 100 ms / 10 s       | 10 | –        | –          |
//! | T3 normal     | 4 096  | –      | 1 s / 100 ms / 10 s       | 10 | 1 000/s  | 20 000/s   |
//! | T4 aggressive | 16 384 | –      | 500 ms / 100 ms / 1.25 s  | 6  | 5 000/s  | 200 000/s  |
//! | T5 insane     | 65 536 | –      | 250 ms / 50 ms / 300 ms   | 2  | 20 000/s | 1 000 000/s|
//!
//! T0–T2 send one probe at a time with the given spacing (the IDS-evasion templates nmap
//! users know). T3–T5 are rate-paced and adapt the rate between `--min-rate` and
//! `--max-rate` (or the template's bounds). Every explicit option overrides its template
//! value; nothing overrides an explicit option.
//!
//! # Rate model (the why)
//!
//! A probe answered only on a retransmission proves that an earlier try was lost (a
//! filtered port never answers, so it never counts). The controller looks at windows of
//! answered probes: while fewer than [`LOSS_THRESHOLD`] of the answers needed a
//! retransmission, the rate grows (doubling per window until the first loss, then by
//! an eighth); above it, the rate is cut by a third. Random loss of a few percent stays
//! below the threshold and does not slow the scan down — retransmission handles it —
//! while a congested path, which drops bursts, crosses it quickly. Local back-pressure
//! (the kernel refusing a send, or dropping replies before we read them) is congestion
//! too. Issue #3 refines this model.
//!
//! # ICMP rate limits (UDP scans)
//!
//! A closed UDP port answers with ICMP port unreachable, and Linux limits those per peer
//! with a token bucket (`net.ipv4.icmp_ratelimit`: one token per second, a burst of six;
//! IPv6 is similar and scales with the route's prefix length). Probes beyond the bucket get
//! no answer at all, exactly like an open port that stays silent. [`IcmpRate`] learns one
//! target's bucket as seen from one source address (the limit is per peer: N sources, N
//! buckets); the scan (see [`crate::scan`], "Paced UDP") probes in *rounds* at that rate.
//! The learning reads the ICMP errors that come back per round: when the round ran out of
//! tokens (its witness went unanswered) they measure the refill rate; when it did not,
//! the rate is at least what was seen and may be higher, so it grows.

use std::time::{Duration, Instant};

/// Fraction of answered probes that needed a retransmission above which we slow down.
pub const LOSS_THRESHOLD: f64 = 0.10;

/// Effective timing of a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Template level 0–5 this was derived from.
    pub level: u8,
    /// Retransmission timeout before any RTT was measured.
    pub initial_rto: Duration,
    /// Lower bound of the retransmission timeout.
    pub min_rto: Duration,
    /// Upper bound of the retransmission timeout.
    pub max_rto: Duration,
    /// Retransmissions after the first probe before a port is called filtered.
    pub max_retries: u32,
    /// Minimum spacing between two probes (zero: none).
    pub scan_delay: Duration,
    /// Most probes awaiting an answer at once.
    pub max_in_flight: usize,
    /// Rate to start at, probes per second (None: unpaced beyond `scan_delay`).
    pub initial_rate: Option<f64>,
    /// Never send slower than this (probes per second) while work remains.
    pub min_rate: Option<f64>,
    /// Never send faster than this (probes per second).
    pub max_rate: Option<f64>,
    /// Give up on a host after this long.
    pub host_timeout: Option<Duration>,
}

impl Timing {
    /// Our template `level` (0–5; larger values are treated as 5).
    pub fn template(level: u8) -> Timing {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let serial = |delay: Duration, initial: Duration, lvl: u8| Timing {
            level: lvl,
            initial_rto: initial,
            min_rto: ms(100),
            max_rto: s(10),
            max_retries: 10,
            scan_delay: delay,
            max_in_flight: 1,
            initial_rate: None,
            min_rate: None,
            max_rate: None,
            host_timeout: None,
        };
        match level {
            0 => serial(s(300), s(5), 0),
            1 => serial(s(15), s(5), 1),
            2 => serial(ms(400), s(1), 2),
            3 => Timing {
                level: 3,
                initial_rto: s(1),
                min_rto: ms(100),
                max_rto: s(10),
                max_retries: 10,
                scan_delay: Duration::ZERO,
                max_in_flight: 4096,
                initial_rate: Some(1_000.0),
                min_rate: None,
                max_rate: Some(20_000.0),
                host_timeout: None,
            },
            4 => Timing {
                level: 4,
                initial_rto: ms(500),
                min_rto: ms(100),
                max_rto: ms(1250),
                max_retries: 6,
                scan_delay: Duration::ZERO,
                max_in_flight: 16_384,
                initial_rate: Some(5_000.0),
                min_rate: None,
                max_rate: Some(200_000.0),
                host_timeout: None,
            },
            _ => Timing {
                level: 5,
                initial_rto: ms(250),
                min_rto: ms(50),
                max_rto: ms(300),
                max_retries: 2,
                scan_delay: Duration::ZERO,
                max_in_flight: 65_536,
                initial_rate: Some(20_000.0),
                min_rate: None,
                max_rate: Some(1_000_000.0),
                host_timeout: None,
            },
        }
    }

    /// Checks the combination for contradictions.
    pub fn validate(&self) -> Result<(), TimingError> {
        if let (Some(lo), Some(hi)) = (self.min_rate, self.max_rate) {
            if lo > hi {
                return Err(TimingError::RateOrder { min: lo, max: hi });
            }
        }
        for r in [self.min_rate, self.max_rate, self.initial_rate]
            .into_iter()
            .flatten()
        {
            if !(r.is_finite() && r > 0.0) {
                return Err(TimingError::BadRate(r));
            }
        }
        if self.min_rto > self.max_rto {
            return Err(TimingError::RtoOrder);
        }
        if self.max_in_flight == 0 {
            return Err(TimingError::NoParallelism);
        }
        Ok(())
    }

    /// The band the send rate moves in, probes per second: from `--min-rate` (else one
    /// per second, or `--max-rate` when that is lower) up to `--max-rate` (else no
    /// ceiling), never upside down. A rate that is not a positive number counts as not
    /// given ([`Timing::validate`] rejects it; this only keeps a bad one from panicking).
    pub fn rate_band(&self) -> (f64, f64) {
        let given = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0);
        let hi = given(self.max_rate).unwrap_or(f64::INFINITY);
        let lo = given(self.min_rate).unwrap_or(hi.min(1.0));
        (lo, hi.max(lo))
    }

    /// The rate a scan starts sending at (None: unpaced, beyond `scan_delay`): the
    /// initial rate, else `--min-rate`, else `--max-rate` (nothing asked to start below
    /// the ceiling), held within [`Timing::rate_band`]. The adaptive controller
    /// ([`RateControl`]) starts here; the fixed-rate neighbour scan
    /// ([`crate::neighbor::NeighborConfig::from_timing`]) sends at it.
    pub fn start_rate(&self) -> Option<f64> {
        let given = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0);
        let (lo, hi) = self.rate_band();
        given(self.initial_rate)
            .or(given(self.min_rate))
            .or(given(self.max_rate))
            .map(|r| r.clamp(lo, hi))
    }

    /// The upper bound on how long one probe can stay unanswered before it is given up:
    /// every try waits at most `max_rto`.
    pub fn worst_case_port_time(&self) -> Duration {
        self.max_rto
            .saturating_mul(self.max_retries.saturating_add(1))
    }
}

/// A contradiction in the timing options.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimingError {
    /// `--min-rate` is above `--max-rate`.
    #[error("--min-rate {min} is greater than --max-rate {max}")]
    RateOrder {
        /// The minimum given.
        min: f64,
        /// The maximum given.
        max: f64,
    },
    /// A rate that is zero, negative or not a number.
    #[error("rate {0} must be a positive number of probes per second")]
    BadRate(f64),
    /// `--min-rtt-timeout` is above `--max-rtt-timeout`.
    #[error("--min-rtt-timeout is greater than --max-rtt-timeout")]
    RtoOrder,
    /// Zero probes in flight would never send anything.
    #[error("parallelism must be at least 1")]
    NoParallelism,
}

/// RFC 6298 round-trip estimator, clamped to the timing's bounds.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    initial: Duration,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    /// A fresh estimator.
    pub fn new(t: &Timing) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            initial: t.initial_rto,
            min: t.min_rto,
            max: t.max_rto,
        }
    }

    /// Adds one sample.
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// Smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Current retransmission timeout.
    pub fn rto(&self) -> Duration {
        match self.srtt {
            None => self.initial.clamp(self.min, self.max),
            Some(s) => (s + self.rttvar * 4).clamp(self.min, self.max),
        }
    }
}

/// Paces sends: a token bucket whose rate adapts to evidence of loss.
#[derive(Debug, Clone)]
pub struct RateControl {
    rate: Option<f64>,
    min: f64,
    max: f64,
    spacing: Duration,
    next_send: Option<Instant>,
    slow_start: bool,
    window_start: Option<Instant>,
    answered: u32,
    answered_late: u32,
    backpressure: u32,
}

/// Burst allowance: how far the pacer may catch up after an idle spell.
const BURST: Duration = Duration::from_millis(2);
/// Length of a window in which answers are counted before the rate adapts.
const WINDOW: Duration = Duration::from_millis(40);

impl RateControl {
    /// A controller for the given timing.
    pub fn new(t: &Timing) -> RateControl {
        let (min, max) = t.rate_band();
        RateControl {
            rate: t.start_rate(),
            min,
            max,
            spacing: t.scan_delay,
            next_send: None,
            slow_start: true,
            window_start: None,
            answered: 0,
            answered_late: 0,
            backpressure: 0,
        }
    }

    /// Current rate in probes per second (None: unpaced).
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    fn interval(&self) -> Duration {
        let by_rate = self
            .rate
            .map(|r| Duration::from_secs_f64(1.0 / r))
            .unwrap_or(Duration::ZERO);
        by_rate.max(self.spacing)
    }

    /// When the next probe may go (None: now).
    pub fn next_send(&self) -> Option<Instant> {
        self.next_send
    }

    /// Whether a probe may be sent at `now`.
    pub fn may_send(&self, now: Instant) -> bool {
        self.next_send.is_none_or(|t| t <= now)
    }

    /// Records that a probe was sent at `now`.
    pub fn on_send(&mut self, now: Instant) {
        let interval = self.interval();
        let burst = if self.spacing.is_zero() {
            BURST
        } else {
            Duration::ZERO
        };
        let base = match self.next_send {
            Some(t) if t + burst > now => t,
            _ => now.checked_sub(burst).unwrap_or(now),
        };
        self.next_send = Some(base.max(now.checked_sub(burst).unwrap_or(now)) + interval);
    }

    /// Records an answer; `retransmitted` says the answer came for a retransmission.
    pub fn on_answer(&mut self, now: Instant, retransmitted: bool) {
        self.answered += 1;
        if retransmitted {
            self.answered_late += 1;
        }
        self.maybe_adapt(now);
    }

    /// The kernel refused a send or dropped replies: slow down.
    pub fn on_backpressure(&mut self, now: Instant) {
        self.backpressure += 1;
        self.maybe_adapt(now);
    }

    fn maybe_adapt(&mut self, now: Instant) {
        let Some(rate) = self.rate else { return };
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) < WINDOW {
            return;
        }
        let late = f64::from(self.answered_late);
        let total = f64::from(self.answered.max(1));
        let lossy =
            (self.answered_late >= 3 && late / total > LOSS_THRESHOLD) || self.backpressure > 0;
        let next = if lossy {
            self.slow_start = false;
            rate * 2.0 / 3.0
        } else if self.answered >= 8 {
            if self.slow_start {
                rate * 2.0
            } else {
                rate * 1.125
            }
        } else {
            rate
        };
        self.rate = Some(next.clamp(self.min, self.max));
        self.window_start = Some(now);
        self.answered = 0;
        self.answered_late = 0;
        self.backpressure = 0;
    }
}

/// Most tokens a target's ICMP bucket is assumed to hold (Linux: 6).
pub const ICMP_BURST_CAP: f64 = 6.0;
/// Largest group of probes sent in one paced round, before the witness.
pub const MAX_ROUND_GROUP: usize = 256;

/// What one target, as seen from one source address, allows in ICMP errors: the learnt
/// refill rate of its token bucket and the size of the next group of unresolved ports.
#[derive(Debug, Clone, PartialEq)]
pub struct IcmpRate {
    rate: f64,
    group: usize,
    floor: f64,
    ceiling: f64,
}

impl IcmpRate {
    /// A fresh estimate: Linux's default of one ICMP error per second until the target
    /// shows otherwise. `min_interval` bounds how often rounds may go (the RTO: a round
    /// is judged only when its answers had time to come back).
    pub fn new(min_interval: Duration) -> IcmpRate {
        IcmpRate {
            rate: 1.0,
            group: 2,
            floor: 0.05,
            ceiling: 1.0 / min_interval.as_secs_f64().max(1e-3),
        }
    }

    /// Learnt tokens per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Time between two rounds: one token's worth.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }

    /// How many never-answered ports the round that starts `elapsed` after the previous
    /// one should carry: the tokens that accumulated, one more to find out whether there
    /// are more, or the current group size when silent ports make tokens go unused.
    pub fn fresh_count(&self, elapsed: Duration) -> usize {
        let tokens = (self.rate * elapsed.as_secs_f64()).min(ICMP_BURST_CAP);
        (tokens.max(0.0) as usize + 1)
            .max(self.group)
            .min(MAX_ROUND_GROUP)
    }

    /// Learns from a finished round that lasted `elapsed` since the previous one and
    /// got `icmp` ICMP errors back from the target (its witness included).
    /// `witnessed`: the witness was answered, so the target still had a token after
    /// every closed port in the round — the round did not exhaust the bucket.
    pub fn on_round(&mut self, elapsed: Duration, icmp: u32, witnessed: bool) {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let sample = f64::from(icmp) / secs;
        if witnessed {
            // Not exhausted: the bucket refills at least this fast; try larger groups.
            self.rate = (self.rate.max(sample) * 1.25).min(self.ceiling);
            self.group = (self.group * 2).min(MAX_ROUND_GROUP);
        } else {
            // Exhausted: what came back is what the bucket gave.
            self.rate = (self.rate * 0.75 + sample * 0.25).clamp(self.floor, self.ceiling);
            self.group = (self.group / 2).max(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_rate_converges_to_a_one_per_second_bucket() {
        // A bucket of 1 token/s drained by rounds that always ask for more than it has:
        // each round of ~1 s gets one or two ICMP errors back.
        let mut r = IcmpRate::new(Duration::from_millis(100));
        let mut tokens = 0.0f64;
        for _ in 0..200 {
            let elapsed = r.interval();
            tokens = (tokens + elapsed.as_secs_f64()).min(ICMP_BURST_CAP);
            let want = r.fresh_count(elapsed) as f64 + 1.0;
            let got = tokens.floor().min(want);
            tokens -= got;
            r.on_round(elapsed, got as u32, got >= want);
        }
        assert!((0.8..=1.25).contains(&r.rate()), "{}", r.rate());
        assert_eq!(r.fresh_count(Duration::from_secs(1)), 2);
    }

    #[test]
    fn icmp_rate_grows_when_rounds_are_witnessed() {
        let mut r = IcmpRate::new(Duration::from_millis(100));
        for _ in 0..30 {
            r.on_round(r.interval(), 1, true);
        }
        assert_eq!(r.rate(), 10.0);
        assert_eq!(r.fresh_count(Duration::ZERO), MAX_ROUND_GROUP);
        r.on_round(Duration::from_millis(100), 0, false);
        assert_eq!(r.fresh_count(Duration::ZERO), MAX_ROUND_GROUP / 2);
    }

    #[test]
    fn templates_validate_and_order() {
        for lvl in 0..=5 {
            Timing::template(lvl).validate().unwrap();
        }
        assert!(Timing::template(4).initial_rto < Timing::template(3).initial_rto);
        assert_eq!(Timing::template(9).level, 5);
    }

    #[test]
    fn rate_order_is_checked() {
        let mut t = Timing::template(3);
        t.min_rate = Some(100.0);
        t.max_rate = Some(10.0);
        assert_eq!(
            t.validate(),
            Err(TimingError::RateOrder {
                min: 100.0,
                max: 10.0
            })
        );
    }

    #[test]
    fn start_rate_and_band_follow_the_options() {
        let t3 = Timing::template(3);
        assert_eq!(
            (t3.start_rate(), t3.rate_band()),
            (Some(1_000.0), (1.0, 20_000.0))
        );
        // Serial templates are unpaced until a rate is given.
        let mut t = Timing::template(2);
        assert_eq!(
            (t.start_rate(), t.rate_band()),
            (None, (1.0, f64::INFINITY))
        );
        // Only a ceiling: start at it (the spacing still applies), not below.
        t.max_rate = Some(100.0);
        assert_eq!((t.start_rate(), t.rate_band()), (Some(100.0), (1.0, 100.0)));
        // A ceiling below one per second lowers the floor with it.
        t.max_rate = Some(0.5);
        assert_eq!((t.start_rate(), t.rate_band()), (Some(0.5), (0.5, 0.5)));
        // A floor: start there.
        t.max_rate = None;
        t.min_rate = Some(300.0);
        assert_eq!(
            (t.start_rate(), t.rate_band()),
            (Some(300.0), (300.0, f64::INFINITY))
        );
        // An initial rate is held within the band, whichever side it falls on.
        let mut t = Timing::template(4);
        t.max_rate = Some(50.0);
        assert_eq!(t.start_rate(), Some(50.0));
        t.max_rate = None;
        t.min_rate = Some(9_000.0);
        assert_eq!(t.start_rate(), Some(9_000.0));
        // Bad rates never panic: they count as not given.
        t.min_rate = Some(f64::NAN);
        t.max_rate = Some(-1.0);
        assert_eq!(
            (t.start_rate(), t.rate_band()),
            (Some(5_000.0), (1.0, f64::INFINITY))
        );
        assert_eq!(RateControl::new(&t).rate(), Some(5_000.0));
    }

    #[test]
    fn rto_follows_rfc6298_and_clamps() {
        let t = Timing::template(4);
        let mut e = RttEstimator::new(&t);
        assert_eq!(e.rto(), Duration::from_millis(500));
        e.sample(Duration::from_millis(200));
        // srtt 200, rttvar 100 -> 600, clamped to 1250 max: 600.
        assert_eq!(e.rto(), Duration::from_millis(600));
        for _ in 0..50 {
            e.sample(Duration::from_micros(100));
        }
        assert_eq!(e.rto(), Duration::from_millis(100));
    }

    #[test]
    fn pacing_spaces_probes() {
        let mut t = Timing::template(3);
        t.initial_rate = Some(1000.0);
        let mut r = RateControl::new(&t);
        let t0 = Instant::now();
        let mut sent = 0;
        let mut now = t0;
        // Over 100 ms of 0.1 ms steps, ~100 probes plus the burst allowance may go.
        for _ in 0..1000 {
            while r.may_send(now) {
                r.on_send(now);
                sent += 1;
            }
            now += Duration::from_micros(100);
        }
        assert!((100..=103).contains(&sent), "sent {sent}");
    }

    #[test]
    fn rate_grows_without_loss_and_shrinks_with_it() {
        let t = Timing::template(4);
        let mut r = RateControl::new(&t);
        let mut now = Instant::now();
        for _ in 0..10 {
            for _ in 0..20 {
                r.on_answer(now, false);
            }
            now += WINDOW;
        }
        let high = r.rate().unwrap();
        assert!(high > 5_000.0 * 8.0, "{high}");
        for _ in 0..3 {
            for i in 0..20 {
                r.on_answer(now, i % 2 == 0);
            }
            now += WINDOW;
        }
        assert!(r.rate().unwrap() < high / 2.0);
    }

    #[test]
    fn three_percent_random_loss_does_not_slow_down() {
        let t = Timing::template(4);
        let mut r = RateControl::new(&t);
        let mut now = Instant::now();
        for w in 0..40 {
            for i in 0..100 {
                r.on_answer(now, (i + w) % 33 == 0);
            }
            now += WINDOW;
        }
        assert_eq!(r.rate(), Some(200_000.0));
    }
}
