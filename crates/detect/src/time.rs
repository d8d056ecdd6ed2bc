//! Packet timestamps: nanoseconds since the Unix epoch, as capture files and the kernel
//! give them. The detector's only clock.

use std::time::Duration;

/// A point in time, nanoseconds since 1970-01-01 00:00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp(0);

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }

    /// From seconds and a fraction in nanoseconds (values of 1e9 or more carry over).
    pub const fn from_secs_nanos(secs: u64, nanos: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// RFC 3339 in UTC with microseconds: `2026-12-06T03:44:29.123456Z`.
    pub fn rfc3339(self) -> String {
        let secs = self.0 / 1_000_000_000;
        let micros = (self.0 % 1_000_000_000) / 1000;
        let days = (secs / 86_400) as i64;
        let of_day = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60
        )
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// `self + d`, saturating.
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian (the
/// well-known era arithmetic: 400-year cycles of 146,097 days, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(Timestamp::ZERO.rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2001-11-20 16:22:45.5 UTC.
        let t = Timestamp::from_secs_nanos(1_006_273_365, 500_000_000);
        assert_eq!(t.rfc3339(), "2001-11-20T16:22:45.500000Z");
        // A leap day.
        let t = Timestamp::from_secs_nanos(951_782_400, 1_000);
        assert_eq!(t.rfc3339(), "2000-02-29T00:00:00.000001Z");
        assert_eq!(t.since(Timestamp::ZERO).as_secs(), 951_782_400);
        assert_eq!(Timestamp::ZERO.since(t), Duration::ZERO);
    }
}
