//! UTC civil time for headers. The calendar is jiff's (the era arithmetic used to be
//! written here, and again in the detector); this module only chooses the layouts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday .. 6 = Saturday
    pub weekday: u32,
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Whole seconds since the Unix epoch, rounded down (negative before 1970).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let carry = i64::from(d.subsec_nanos() > 0);
            secs.saturating_add(carry).saturating_neg()
        }
    }
}

/// Microseconds of a duration, as a float number of seconds (e.g. 12.34).
pub(crate) fn secs_f64(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// Seconds since the Unix epoch with microsecond precision, as JSON writes it.
pub(crate) fn unix_f64(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => secs_f64(d),
        Err(e) => -secs_f64(e.duration()),
    }
}

/// The UTC civil time of `t` (clamped to jiff's range, the years -9999 to 9999).
pub(crate) fn civil(t: SystemTime) -> Civil {
    let ts = jiff::Timestamp::try_from(t).unwrap_or(if t < UNIX_EPOCH {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    let dt = jiff::tz::Offset::UTC.to_datetime(ts);
    // Each field is in range by construction (month 1..=12, day 1..=31, ...).
    let small = |v: i8| u32::try_from(v).unwrap_or(0);
    Civil {
        year: i64::from(dt.year()),
        month: small(dt.month()),
        day: small(dt.day()),
        hour: small(dt.hour()),
        minute: small(dt.minute()),
        second: small(dt.second()),
        weekday: small(dt.weekday().to_sunday_zero_offset()),
    }
}

/// "2026-11-21 05:30 UTC", as the normal output's first line.
/// `2026-12-06 07:22:12`: UTC to the second, for lists of scans.
pub fn utc_seconds(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

pub(crate) fn minute_utc(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// "Sat Nov 21 05:30:00 2026", C's `ctime` layout in UTC, as nmap writes in files.
pub(crate) fn ctime_utc(t: SystemTime) -> String {
    let c = civil(t);
    let weekday = WEEKDAYS.get(c.weekday as usize).copied().unwrap_or("???");
    let month = MONTHS
        .get((c.month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("???");
    format!(
        "{weekday} {month} {:2} {:02}:{:02}:{:02} {}",
        c.day, c.hour, c.minute, c.second, c.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(ctime_utc(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        // date -u -d @1795239000
        assert_eq!(ctime_utc(at(1_795_239_000)), "Sat Nov 21 05:30:00 2026");
        assert_eq!(minute_utc(at(1_795_239_000)), "2026-11-21 05:30 UTC");
        assert_eq!(utc_seconds(at(1_796_541_732)), "2026-12-06 07:22:12");
        // Leap day and the day after.
        assert_eq!(ctime_utc(at(951_782_400)), "Tue Feb 29 00:00:00 2000");
        assert_eq!(ctime_utc(at(951_868_799)), "Tue Feb 29 23:59:59 2000");
        assert_eq!(ctime_utc(at(951_868_800)), "Wed Mar  1 00:00:00 2000");
        // 2100 is not a leap year.
        assert_eq!(ctime_utc(at(4_107_542_400)), "Mon Mar  1 00:00:00 2100");
        assert_eq!(ctime_utc(at(1_704_067_199)), "Sun Dec 31 23:59:59 2023");
    }

    #[test]
    fn before_epoch() {
        let t = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_secs(t), -1);
        assert_eq!(ctime_utc(t), "Wed Dec 31 23:59:59 1969");
        assert_eq!(unix_f64(t), -0.5);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(86_400)), -86_400);
        assert_eq!(
            minute_utc(UNIX_EPOCH - Duration::from_secs(86_400)),
            "1969-12-31 00:00 UTC"
        );
    }

    #[test]
    fn far_times_are_clamped_not_wrapped() {
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(civil(far).year, 9999);
        // jiff's last instant, which every offset can still show as a civil time.
        assert!(
            utc_seconds(far).starts_with("9999-12-30 "),
            "{}",
            utc_seconds(far)
        );
        assert_eq!(
            civil(UNIX_EPOCH - Duration::from_secs(400_000_000_000)).year,
            -9999
        );
    }

    #[test]
    fn float_seconds() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_000_000);
        assert_eq!(unix_f64(t), 1_700_000_000.123);
        assert_eq!(secs_f64(Duration::from_millis(12_340)), 12.34);
        // Sub-microsecond digits are dropped.
        assert_eq!(secs_f64(Duration::from_nanos(1_999)), 0.000_001);
    }
}
