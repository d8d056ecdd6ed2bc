//! UTC civil time for headers, without a date library.

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

/// Splits a count of days since 1970-01-01 into (year, month, day), proleptic Gregorian.
fn date_from_days(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01 so that the leap day ends each 4-year cycle and a year's
    // months run March..February.
    let days = days + 719_468;
    let cycle = days.div_euclid(146_097); // 400-year cycles
    let day_of_cycle = days.rem_euclid(146_097); // 0..=146096
    let year_of_cycle =
        (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36_524 - day_of_cycle / 146_096) / 365; // 0..=399
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_cycle + cycle * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=12, 1..=31).
    (year, month as u32, day as u32)
}

/// The UTC civil time of `t`.
pub(crate) fn civil(t: SystemTime) -> Civil {
    let secs = unix_secs(t);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = date_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (of_day / 3600) as u32,
        minute: (of_day / 60 % 60) as u32,
        second: (of_day % 60) as u32,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as u32,
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
    fn every_day_of_a_range_is_consecutive() {
        // Walk 1000 years of days from 1600: dates must advance by exactly one day.
        let mut prev = date_from_days(-135_140); // 1600-01-01
        assert_eq!(prev, (1600, 1, 1));
        for d in -135_139..230_000 {
            let cur = date_from_days(d);
            let next_in_month = (prev.0, prev.1, prev.2 + 1);
            let next_month = if prev.1 == 12 {
                (prev.0 + 1, 1, 1)
            } else {
                (prev.0, prev.1 + 1, 1)
            };
            assert!(
                cur == next_in_month || cur == next_month,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
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
