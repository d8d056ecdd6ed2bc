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
        let secs = i64::try_from(self.0 / 1_000_000_000).unwrap_or(i64::MAX);
        let micros = (self.0 % 1_000_000_000) / 1000;
        // u64 nanoseconds end in 2554, well inside jiff's range.
        let ts = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::MAX);
        let dt = jiff::tz::Offset::UTC.to_datetime(ts);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
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
        assert_eq!(
            Timestamp::from_nanos(u64::MAX).rfc3339(),
            "2554-07-21T23:34:33.709551Z"
        );
    }
}
