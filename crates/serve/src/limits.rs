//! Who may start a scan now: one running scan per visitor, an hourly limit per visitor,
//! and a cap on scans running at once. Time is passed in, so the rules are tested on a
//! simulated clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Why a scan may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This visitor's previous scan is still running.
    Busy,
    /// This visitor used up the hourly limit; the earliest start frees up after this long.
    Hourly(Duration),
    /// The server runs as many scans as it may.
    Full,
}

/// The limits and what they count.
#[derive(Debug)]
pub struct Limits {
    per_hour: usize,
    max_running: usize,
    running: HashMap<IpAddr, u64>,
    starts: HashMap<IpAddr, VecDeque<Instant>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Limits {
    /// At most `per_hour` scans per visitor in any hour, `max_running` at once.
    pub fn new(per_hour: usize, max_running: usize) -> Limits {
        Limits {
            per_hour,
            max_running,
            running: HashMap::new(),
            starts: HashMap::new(),
        }
    }

    /// Takes a slot for `visitor` at `now` for scan `id`, or says why not.
    pub fn start(&mut self, visitor: IpAddr, id: u64, now: Instant) -> Result<(), Refused> {
        if self.running.contains_key(&visitor) {
            return Err(Refused::Busy);
        }
        let starts = self.starts.entry(visitor).or_default();
        while starts
            .front()
            .is_some_and(|&t| now.duration_since(t) >= HOUR)
        {
            starts.pop_front();
        }
        if starts.len() >= self.per_hour {
            let oldest = starts.front().copied().unwrap_or(now);
            return Err(Refused::Hourly(
                HOUR.saturating_sub(now.duration_since(oldest)),
            ));
        }
        if self.running.len() >= self.max_running {
            return Err(Refused::Full);
        }
        starts.push_back(now);
        self.running.insert(visitor, id);
        Ok(())
    }

    /// Scan `id` of `visitor` ended.
    pub fn finish(&mut self, visitor: IpAddr, id: u64) {
        if self.running.get(&visitor) == Some(&id) {
            self.running.remove(&visitor);
        }
    }

    /// Forgets visitors with no start in the last hour (bounded memory).
    pub fn sweep(&mut self, now: Instant) {
        self.starts
            .retain(|_, s| s.back().is_some_and(|&t| now.duration_since(t) < HOUR));
    }

    /// Scans running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time_hourly_and_a_global_cap() {
        let t0 = Instant::now();
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        let mut l = Limits::new(3, 2);
        assert_eq!(l.start(a, 1, t0), Ok(()));
        assert_eq!(l.start(a, 2, t0), Err(Refused::Busy));
        assert_eq!(l.start(b, 3, t0), Ok(()));
        assert_eq!(l.start(c, 4, t0), Err(Refused::Full));
        l.finish(a, 1);
        l.finish(b, 3);
        let later = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(l.start(a, 5, later(10)), Ok(()));
        l.finish(a, 5);
        assert_eq!(l.start(a, 6, later(20)), Ok(()));
        l.finish(a, 6);
        // The fourth start within the hour: refused until the first one is an hour old.
        assert_eq!(
            l.start(a, 7, later(30)),
            Err(Refused::Hourly(Duration::from_secs(3570)))
        );
        assert_eq!(l.start(a, 7, later(3600)), Ok(()));
        l.finish(a, 6); // a stale finish does not free the running scan
        assert_eq!(l.start(a, 8, later(3601)), Err(Refused::Busy));
        l.sweep(later(10_000));
        assert!(l.starts.is_empty());
        assert_eq!(l.running(), 1);
    }
}
