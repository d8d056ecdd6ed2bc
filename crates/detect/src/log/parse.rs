//! Reading firewall log lines into [`super::LogRecord`]s.
//!
//! Two entry points:
//!
//! - [`parse_line`] reads one line of a one-line format: a Linux kernel LOG line (iptables
//!   `LOG`, nftables `log`, ufw, firewalld) as syslog, kern.log, `journalctl -k` or `dmesg`
//!   print it; a `journalctl -k -o json` line; a `pfirewall.log` data line in the default
//!   column order.
//! - [`LogReader`] reads a whole log: it caps the line length, keeps the `pfirewall.log`
//!   `#Fields:` header, puts the multi-line Japanese personal-firewall record together,
//!   detects the format line by line (so one file may mix formats) and counts what it
//!   skipped ([`LogStats`]).
//!
//! A line that is not a firewall record (a comment, a header, another program's syslog
//! line) is `Ok(None)`; a line that looks like a firewall record but cannot be read is a
//! [`LineError`] that says why. No input makes these functions panic, and the memory they
//! use is bounded by the line-length cap.
//!
//! Times: syslog dates carry no year and take the one given; RFC 3339 stamps are converted
//! to UTC by their offset; `pfirewall.log` (`#Time Format: Local`) and the Japanese record
//! give the firewall's local time without a zone, which is taken as UTC as written. A
//! `dmesg` line's `[uptime]` is not a date: its time is `None`.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use super::{Action, Direction, LogAddr, LogFormat, LogProto, LogRecord};
use crate::time::Timestamp;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// The default cap on one line, in bytes (a longer line is skipped whole).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// How many malformed lines [`LogStats`] keeps the reason of (the rest are only counted).
pub const KEPT_ERRORS: usize = 8;

/// Longest piece of input an error message quotes, in characters.
const QUOTE: usize = 64;

/// Most columns a `#Fields:` header may name.
const MAX_COLUMNS: usize = 64;

/// Why a line (or a multi-line record) that looks like a firewall record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// A field the record needs is not there (often: the line was cut short).
    #[error("the {0} field is missing (the line may be cut short)")]
    Missing(&'static str),
    /// A field is there but its value is not what the format allows.
    #[error("the {field} field has a bad value: {value:?}")]
    BadValue {
        /// The field, as the format names it (`SRC`, `dst-port`, ...).
        field: &'static str,
        /// The value as written (the first 64 characters).
        value: String,
    },
    /// The date or time cannot be read, is not a real one, or is before 1970.
    #[error("bad date or time: {0:?}")]
    BadTime(String),
    /// A `journalctl -o json` line that is not a readable JSON object.
    #[error("a journal JSON line that cannot be read: {0}")]
    BadJson(String),
    /// A `pfirewall.log` line whose column count is not the `#Fields:` header's.
    #[error("the line has {found} columns where the #Fields: header names {expected}")]
    Columns {
        /// Columns on the line.
        found: usize,
        /// Columns the header names.
        expected: usize,
    },
    /// A `#Fields:` header that cannot be used.
    #[error("bad #Fields: header: {0}")]
    BadFieldsHeader(String),
    /// A `pfirewall.log` line after a `#Fields:` header that could not be read, so the
    /// columns are unknown.
    #[error("a pfirewall.log line, but the last #Fields: header could not be read, so its columns are unknown")]
    NoFieldsHeader,
    /// A Japanese personal-firewall record that ends (at another record, another format's
    /// line, an unexpected line, or the end of the input) before it is whole.
    #[error("the personal-firewall record begun at line {start} is cut short: its {missing} line never came")]
    RecordCut {
        /// The line its `日付` (date) line is on.
        start: u64,
        /// The part that is missing.
        missing: &'static str,
    },
}

/// What a [`LogReader`] read and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Lines read (the last one may lack its newline).
    pub lines: u64,
    /// Records returned.
    pub records: u64,
    /// Lines that are not firewall records (blank lines, comments, headers, other
    /// programs' lines, `pfirewall.log` `INFO-EVENTS-LOST` lines, kernel ARP logs).
    pub not_records: u64,
    /// Lines or multi-line records that look like firewall records but cannot be read.
    pub malformed: u64,
    /// Lines longer than the cap, skipped whole.
    pub too_long: u64,
    /// Lines that are not valid UTF-8, skipped whole (not decoded lossily: a damaged
    /// line's fields are not trusted).
    pub invalid_utf8: u64,
    /// The first [`KEPT_ERRORS`] malformed lines: line number and reason.
    pub first_malformed: Vec<(u64, LineError)>,
    /// Records per format.
    pub by_format: FormatCounts,
}

/// Records per format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatCounts {
    /// [`LogFormat::Kernel`].
    pub kernel: u64,
    /// [`LogFormat::JournalJson`].
    pub journal_json: u64,
    /// [`LogFormat::Pfirewall`].
    pub pfirewall: u64,
    /// [`LogFormat::PersonalFirewallJa`].
    pub personal_firewall_ja: u64,
}

impl FormatCounts {
    /// Records read in `format`.
    pub fn get(&self, format: LogFormat) -> u64 {
        match format {
            LogFormat::Kernel => self.kernel,
            LogFormat::JournalJson => self.journal_json,
            LogFormat::Pfirewall => self.pfirewall,
            LogFormat::PersonalFirewallJa => self.personal_firewall_ja,
        }
    }

    fn bump(&mut self, format: LogFormat) {
        let n = match format {
            LogFormat::Kernel => &mut self.kernel,
            LogFormat::JournalJson => &mut self.journal_json,
            LogFormat::Pfirewall => &mut self.pfirewall,
            LogFormat::PersonalFirewallJa => &mut self.personal_firewall_ja,
        };
        *n = n.saturating_add(1);
    }
}

impl LogStats {
    /// Lines skipped for a reason worth telling (malformed, too long, not UTF-8).
    pub fn skipped(&self) -> u64 {
        self.malformed
            .saturating_add(self.too_long)
            .saturating_add(self.invalid_utf8)
    }

    /// A one-line warning when lines were skipped, or when nothing in a non-empty input
    /// was a firewall record; `None` when all is well.
    pub fn warning(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.malformed > 0 {
            let mut s = format!("{} malformed records skipped", self.malformed);
            if let Some((line, e)) = self.first_malformed.first() {
                s.push_str(&format!(" (first at line {line}: {e})"));
            }
            parts.push(s);
        }
        if self.too_long > 0 {
            parts.push(format!("{} over-long lines skipped", self.too_long));
        }
        if self.invalid_utf8 > 0 {
            parts.push(format!(
                "{} lines that are not UTF-8 skipped",
                self.invalid_utf8
            ));
        }
        if self.records == 0 && self.not_records > 0 && parts.is_empty() {
            parts.push(format!(
                "none of the {} lines is a firewall record of a format monban reads",
                self.lines
            ));
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("; "))
        }
    }
}

impl fmt::Display for LogStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lines, {} records (kernel {}, journal-json {}, pfirewall {}, personal-firewall-ja {}), {} not records, {} malformed, {} too long, {} not UTF-8",
            self.lines,
            self.records,
            self.by_format.kernel,
            self.by_format.journal_json,
            self.by_format.pfirewall,
            self.by_format.personal_firewall_ja,
            self.not_records,
            self.malformed,
            self.too_long,
            self.invalid_utf8
        )
    }
}

/// Reads one line of a one-line format.
///
/// `year` is the year of syslog dates (which carry none). `forced` reads the line only
/// as that format; `None` detects the format. `pfirewall.log` lines are read in the
/// default column order (`date time action protocol src-ip dst-ip src-port dst-port size
/// tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path`, optionally `pid`): a file
/// with another `#Fields:` header needs [`LogReader`]. The Japanese personal-firewall
/// record spans several lines and is only read by [`LogReader`]: its lines are
/// `Ok(None)` here.
pub fn parse_line(
    line: &str,
    year: i32,
    forced: Option<LogFormat>,
) -> Result<Option<LogRecord>, LineError> {
    let line = clean(line);
    let fields = PfirewallFields::default();
    match classify(line, forced, &fields, false) {
        Kind::Blank | Kind::Other | Kind::Header | Kind::JaStart => Ok(None),
        Kind::Json => parse_journal_json(line, forced.is_some()),
        Kind::Kernel => kernel_record(line, year, true, LogFormat::Kernel, None),
        Kind::Pfirewall => parse_pfirewall(line, &fields),
    }
}

/// The line without a byte-order mark or line end.
fn clean(line: &str) -> &str {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    line.trim_end_matches(['\r', '\n'])
}

/// What a line looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Blank,
    /// A `#` line (pfirewall.log headers, comments).
    Header,
    Json,
    /// The first line of a Japanese personal-firewall record (`日付`).
    JaStart,
    Kernel,
    Pfirewall,
    Other,
}

fn classify(line: &str, forced: Option<LogFormat>, pf: &PfirewallFields, header: bool) -> Kind {
    let t = line.trim();
    if t.is_empty() {
        return Kind::Blank;
    }
    let any = forced.is_none();
    let is = |f: LogFormat| forced == Some(f);
    if t.starts_with('#') && (any || is(LogFormat::Pfirewall)) {
        return Kind::Header;
    }
    if is(LogFormat::JournalJson) || (any && t.starts_with('{')) {
        return Kind::Json;
    }
    if t.starts_with('{') {
        // A JSON line (perhaps a journal one) read as another format: not a record.
        return Kind::Other;
    }
    if (any || is(LogFormat::PersonalFirewallJa)) && t.starts_with("日付") {
        return Kind::JaStart;
    }
    if (any || is(LogFormat::Kernel)) && find_in_out(line).is_some() {
        return Kind::Kernel;
    }
    if is(LogFormat::Pfirewall) || (any && pf.candidate(t, header)) {
        return Kind::Pfirewall;
    }
    Kind::Other
}

// ---------------------------------------------------------------------------------------
// Numbers, dates, addresses.

/// A decimal number written with ASCII digits only (no sign, no space).
fn digits<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The first `QUOTE` characters of `s`, for an error message.
fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE) {
        Some((i, _)) => format!("{}...", s.get(..i).unwrap_or_default()),
        None => s.to_string(),
    }
}

fn bad(field: &'static str, value: &str) -> LineError {
    LineError::BadValue {
        field,
        value: quote(value),
    }
}

fn num<T: FromStr>(field: &'static str, value: &str) -> Result<T, LineError> {
    digits(value).ok_or_else(|| bad(field, value))
}

fn ip(field: &'static str, value: &str) -> Result<IpAddr, LineError> {
    value.parse().map_err(|_| bad(field, value))
}

/// A civil date and time, `offset` seconds east of UTC, as a UTC timestamp; `None` when
/// it is not a real date and time or is before 1970. A leap second (`:60`) is accepted.
#[allow(clippy::too_many_arguments)]
fn civil_time(
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    nanos: u32,
    offset: i64,
) -> Option<Timestamp> {
    if h > 23 || mi > 59 || s > 60 || nanos >= 1_000_000_000 {
        return None;
    }
    // jiff checks the date (month, day of month, leap years, years -9999 to 9999).
    let date = jiff::civil::Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(mo).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()?;
    let midnight = jiff::tz::Offset::UTC
        .to_timestamp(date.at(0, 0, 0, 0))
        .ok()?;
    let secs = midnight
        .as_second()
        .checked_add(i64::from(h * 3600 + mi * 60 + s))?
        .checked_sub(offset)?;
    Some(Timestamp::from_secs_nanos(
        u64::try_from(secs).ok()?,
        u64::from(nanos),
    ))
}

/// `HH:MM:SS` with an optional `.fraction` (up to nanoseconds; more digits are dropped).
fn clock(s: &str) -> Option<(u32, u32, u32, u32)> {
    let (hms, frac) = match s.split_once(['.', ',']) {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let mut it = hms.split(':');
    let h = digits(it.next()?)?;
    let m = digits(it.next()?)?;
    let sec = digits(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    let nanos = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut n: u32 = 0;
            for i in 0..9 {
                let d = f.as_bytes().get(i).map_or(0, |b| u32::from(b - b'0'));
                n = n * 10 + d;
            }
            n
        }
    };
    Some((h, m, sec, nanos))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if name.len() != 3 {
        return None;
    }
    let i = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    u32::try_from(i).ok().map(|i| i + 1)
}

/// `YYYY-MM-DD` (or `/`-separated).
fn ymd(s: &str, sep: &[char]) -> Option<(i64, u32, u32)> {
    let mut it = s.split(sep);
    let y = digits::<i64>(it.next()?)?;
    let m = digits(it.next()?)?;
    let d = digits(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    Some((y, m, d))
}

fn looks_rfc3339(tok: &str) -> bool {
    let b = tok.as_bytes();
    b.len() >= 19
        && b.get(..4).is_some_and(|y| y.iter().all(u8::is_ascii_digit))
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't'))
}

/// `2026-12-06T04:21:07.512004+00:00`, `...Z`, `...+0900` (journalctl short-iso).
fn rfc3339(tok: &str) -> Result<Timestamp, LineError> {
    let err = || LineError::BadTime(quote(tok));
    let date = tok.get(..10).ok_or_else(err)?;
    let rest = tok.get(11..).ok_or_else(err)?;
    let (y, mo, d) = ymd(date, &['-']).ok_or_else(err)?;
    let zone_at = rest.find(['Z', 'z', '+', '-']);
    let (time, zone) = match zone_at {
        Some(i) => (
            rest.get(..i).ok_or_else(err)?,
            rest.get(i..).ok_or_else(err)?,
        ),
        None => (rest, ""),
    };
    let (h, mi, s, nanos) = clock(time).ok_or_else(err)?;
    let offset = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let hm = z.get(1..).ok_or_else(err)?;
            let (oh, om) = match hm.split_once(':') {
                Some((a, b)) => (a, b),
                None if hm.len() == 4 => {
                    (hm.get(..2).ok_or_else(err)?, hm.get(2..).ok_or_else(err)?)
                }
                None => return Err(err()),
            };
            let oh: i64 = digits(oh).filter(|v| *v < 24).ok_or_else(err)?;
            let om: i64 = digits(om).filter(|v| *v < 60).ok_or_else(err)?;
            sign * (oh * 3600 + om * 60)
        }
    };
    civil_time(y, mo, d, h, mi, s, nanos, offset).ok_or_else(err)
}

/// The first whitespace-separated token and what follows it.
fn first_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            s.get(i..).unwrap_or_default(),
        ),
        None => (s, ""),
    }
}

// ---------------------------------------------------------------------------------------
// Kernel LOG lines.

/// Where the kernel's `IN=` field starts, when it is followed by `OUT=` (`true`) or not
/// (`false`: a cut or mangled line). `IN=` must start a word, so that `PHYSIN=` and the
/// like are not taken for it.
fn find_in_out(line: &str) -> Option<(usize, bool)> {
    let bytes = line.as_bytes();
    let mut first = None;
    for (pos, _) in line.match_indices("IN=") {
        let word_start = match pos.checked_sub(1) {
            None => true,
            Some(p) => matches!(bytes.get(p), Some(b' ' | b'\t')),
        };
        if !word_start {
            continue;
        }
        let rest = line.get(pos + 3..).unwrap_or_default();
        let after = match rest.split_once([' ', '\t']) {
            Some((_, a)) => a.trim_start_matches([' ', '\t']),
            None => "",
        };
        if after.starts_with("OUT=") {
            return Some((pos, true));
        }
        first.get_or_insert((pos, false));
    }
    first
}

/// `[  123.456789]`: the kernel's uptime stamp.
fn is_uptime(inner: &str) -> bool {
    let t = inner.trim();
    match t.split_once('.') {
        Some((a, b)) => digits::<u64>(a).is_some() && digits::<u64>(b).is_some(),
        None => digits::<u64>(t).is_some(),
    }
}

/// The inside of a leading `[...]` and what follows it.
fn bracket(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('[')?;
    let end = s.find(']')?;
    Some((s.get(..end)?, s.get(end + 1..)?))
}

/// `dmesg -T`: `Sat Dec  6 04:21:07 2026`.
fn ctime(inner: &str) -> Option<Timestamp> {
    let mut it = inner.split_whitespace();
    let _weekday = it.next()?;
    let mo = month_number(it.next()?)?;
    let d = digits(it.next()?)?;
    let (h, mi, s, nanos) = clock(it.next()?)?;
    let y = digits(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    civil_time(y, mo, d, h, mi, s, nanos, 0)
}

/// A syslog tag for the kernel: `kernel:`, or `name[pid]:`.
fn is_tag(t: &str) -> bool {
    if t == "kernel:" {
        return true;
    }
    let Some(t) = t.strip_suffix("]:") else {
        return false;
    };
    match t.split_once('[') {
        Some((name, pid)) => !name.is_empty() && digits::<u64>(pid).is_some(),
        None => false,
    }
}

/// Skips `host kernel:` (or a lone `kernel:`) after a timestamp.
fn skip_host_tag(s: &str) -> &str {
    let (t1, r1) = first_token(s);
    if is_tag(t1) {
        return r1;
    }
    let (t2, r2) = first_token(r1);
    if !t1.is_empty() && is_tag(t2) {
        return r2;
    }
    s
}

fn skip_uptime(s: &str) -> (Option<Duration>, &str) {
    let t = s.trim_start();
    match bracket(t) {
        Some((inner, rest)) if is_uptime(inner) => (uptime_of(inner), rest),
        _ => (None, s),
    }
}

/// `12345.678901` (seconds since boot, as the kernel stamps its messages) as a duration.
fn uptime_of(inner: &str) -> Option<Duration> {
    let t = inner.trim();
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    let secs = digits::<u64>(secs)?;
    let mut nanos = 0u32;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = c.to_digit(10)?;
        nanos += d * 10u32.pow(8 - i as u32);
    }
    Some(Duration::new(secs, nanos))
}

/// The time and log prefix from what comes before `IN=`: a classic syslog stamp
/// (`Nov 20 16:22:45 host kernel:`), an RFC 3339 one, a `dmesg` `[uptime]` or `dmesg -T`
/// stamp, or none (then all of it is the prefix).
#[allow(clippy::type_complexity)]
fn kernel_head(
    head: &str,
    year: i32,
) -> Result<(Option<Timestamp>, Option<Duration>, &str), LineError> {
    let mut s = head.trim_start();
    // A `<4>` priority, as `dmesg -r` prints it.
    if let Some(r) = s.strip_prefix('<') {
        if let Some((n, rest)) = r.split_once('>') {
            if n.len() <= 3 && digits::<u32>(n).is_some() {
                s = rest;
            }
        }
    }
    let (tok, rest) = first_token(s);
    let mut time = None;
    let mut uptime = None;
    let mut stamped = false;
    if looks_rfc3339(tok) {
        time = Some(rfc3339(tok)?);
        s = rest;
        stamped = true;
    } else if let Some(mo) = month_number(tok) {
        let (day, r2) = first_token(rest);
        let (hms, r3) = first_token(r2);
        let err = || LineError::BadTime(quote(&format!("{tok} {day} {hms}")));
        let d = digits(day).ok_or_else(err)?;
        let (h, mi, sec, nanos) = clock(hms).ok_or_else(err)?;
        time = Some(civil_time(i64::from(year), mo, d, h, mi, sec, nanos, 0).ok_or_else(err)?);
        s = r3;
        stamped = true;
    } else if let Some((inner, rest)) = bracket(s) {
        if is_uptime(inner) {
            uptime = uptime_of(inner);
            s = rest;
            stamped = true;
        } else if let Some(t) = ctime(inner) {
            time = Some(t);
            s = rest;
            stamped = true;
        }
    }
    if stamped {
        let (u, rest) = skip_uptime(skip_host_tag(s));
        uptime = uptime.or(u);
        s = rest;
    }
    Ok((time, uptime, s.trim()))
}

/// The action a log prefix names: words like DROP, REJECT, BLOCK, DENY → blocked;
/// ACCEPT, ALLOW, PASS → allowed (case-insensitive, words split at anything that is not a
/// letter or digit, so `filter_IN_public_REJECT` and `[UFW BLOCK]` count). A prefix that
/// names both, or neither, is `Unknown`.
fn prefix_action(prefix: &str) -> Action {
    const BLOCKED: [&str; 10] = [
        "DROP", "DROPPED", "REJECT", "REJECTED", "BLOCK", "BLOCKED", "DENY", "DENIED", "REFUSE",
        "REFUSED",
    ];
    const ALLOWED: [&str; 6] = ["ACCEPT", "ACCEPTED", "ALLOW", "ALLOWED", "PASS", "PASSED"];
    let (mut blocked, mut allowed) = (false, false);
    for w in prefix.split(|c: char| !c.is_ascii_alphanumeric()) {
        blocked |= BLOCKED.iter().any(|b| w.eq_ignore_ascii_case(b));
        allowed |= ALLOWED.iter().any(|a| w.eq_ignore_ascii_case(a));
    }
    match (blocked, allowed) {
        (true, false) => Action::Blocked,
        (false, true) => Action::Allowed,
        _ => Action::Unknown,
    }
}

fn proto_of(name: &str) -> Option<LogProto> {
    let by_number = |n: u8| match n {
        6 => LogProto::Tcp,
        17 => LogProto::Udp,
        1 => LogProto::Icmp,
        58 => LogProto::Icmpv6,
        n => LogProto::Other(n),
    };
    if let Some(n) = digits::<u8>(name) {
        return Some(by_number(n));
    }
    let named = [
        ("TCP", 6),
        ("UDP", 17),
        ("ICMP", 1),
        ("ICMPV6", 58),
        ("IPV6-ICMP", 58),
        ("UDPLITE", 136),
        ("SCTP", 132),
        ("DCCP", 33),
        ("GRE", 47),
        ("ESP", 50),
        ("AH", 51),
        ("IGMP", 2),
    ];
    named
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, n)| by_number(*n))
}

/// The fields of a kernel LOG line, as written (first occurrence of each).
#[derive(Default)]
struct KernelFields<'a> {
    in_if: Option<&'a str>,
    out_if: Option<&'a str>,
    src: Option<&'a str>,
    dst: Option<&'a str>,
    len: Option<&'a str>,
    ttl: Option<&'a str>,
    hoplimit: Option<&'a str>,
    id: Option<&'a str>,
    df: bool,
    fragment: bool,
    proto: Option<&'a str>,
    spt: Option<&'a str>,
    dpt: Option<&'a str>,
    window: Option<&'a str>,
    icmp_type: Option<&'a str>,
    icmp_code: Option<&'a str>,
    flags: u8,
    opt: Option<&'a str>,
    incomplete: bool,
    /// An ARP or other non-IP frame (`ARP`, `MACPROTO=`): not a packet record.
    not_ip: bool,
}

fn set<'a>(slot: &mut Option<&'a str>, v: &'a str) {
    if slot.is_none() {
        *slot = Some(v);
    }
}

/// The fields from `IN=` on. Fields before `PROTO=` are the IP header's, after it the
/// transport's (so an ICMP echo's `ID=` is not taken for the IP ID, nor a UDP `LEN=` for
/// the packet length). A bracketed part (`[SRC=... ]`, the packet an ICMP error quotes;
/// `INCOMPLETE [20 bytes]`) is skipped.
fn kernel_fields(body: &str) -> KernelFields<'_> {
    let mut f = KernelFields::default();
    let mut l4 = false;
    let mut depth: u32 = 0;
    let mut want_opt = false;
    for tok in body.split([' ', '\t']).filter(|t| !t.is_empty()) {
        if depth > 0 || tok.starts_with('[') {
            for b in tok.bytes() {
                match b {
                    b'[' => depth = depth.saturating_add(1),
                    b']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            want_opt = false;
            continue;
        }
        if want_opt {
            want_opt = false;
            if tok.starts_with('(') {
                // IP options (before PROTO=) are not kept.
                if l4 {
                    set(&mut f.opt, tok);
                }
                continue;
            }
        }
        if let Some((k, v)) = tok.split_once('=') {
            let slot = if !l4 {
                match k {
                    "IN" => &mut f.in_if,
                    "OUT" => &mut f.out_if,
                    "SRC" => &mut f.src,
                    "DST" => &mut f.dst,
                    "LEN" => &mut f.len,
                    "TTL" => &mut f.ttl,
                    "HOPLIMIT" => &mut f.hoplimit,
                    "ID" => &mut f.id,
                    "PROTO" => {
                        l4 = true;
                        &mut f.proto
                    }
                    "MACPROTO" => {
                        f.not_ip = true;
                        continue;
                    }
                    _ => continue,
                }
            } else {
                match k {
                    "SPT" => &mut f.spt,
                    "DPT" => &mut f.dpt,
                    "WINDOW" => &mut f.window,
                    "TYPE" => &mut f.icmp_type,
                    "CODE" => &mut f.icmp_code,
                    _ => continue,
                }
            };
            set(slot, v);
            continue;
        }
        let bit = match tok {
            "FIN" => 0x01,
            "SYN" => 0x02,
            "RST" => 0x04,
            "PSH" => 0x08,
            "ACK" => 0x10,
            "URG" => 0x20,
            "ECE" => 0x40,
            "CWR" => 0x80,
            _ => 0,
        };
        if bit != 0 {
            if l4 {
                f.flags |= bit;
            }
            continue;
        }
        match tok {
            "DF" if !l4 => f.df = true,
            "ARP" if !l4 => f.not_ip = true,
            "OPT" => want_opt = true,
            "INCOMPLETE" => f.incomplete = true,
            t if !l4 && t.starts_with("FRAG:") => f.fragment = true,
            _ => {}
        }
    }
    f
}

/// `(0204FFD7...)` as bytes.
fn hex_bytes(tok: &str) -> Result<Vec<u8>, LineError> {
    let hex = tok
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| bad("OPT", tok))?;
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("OPT", tok));
    }
    let mut out = Vec::with_capacity(hex.len() / 2);
    for pair in hex.as_bytes().chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|_| bad("OPT", tok))?;
        out.push(u8::from_str_radix(s, 16).map_err(|_| bad("OPT", tok))?);
    }
    Ok(out)
}

fn opt_num<T: FromStr>(field: &'static str, v: Option<&str>) -> Result<Option<T>, LineError> {
    v.map(|v| num(field, v)).transpose()
}

/// A kernel LOG line (`header` says whether a syslog / dmesg header may come first; a
/// journal `MESSAGE` has none) as a record; `Ok(None)` when it has no `IN=` or logs a
/// non-IP frame.
fn kernel_record(
    line: &str,
    year: i32,
    header: bool,
    format: LogFormat,
    time: Option<Timestamp>,
) -> Result<Option<LogRecord>, LineError> {
    let Some((pos, with_out)) = find_in_out(line) else {
        return Ok(None);
    };
    if !with_out {
        return Err(LineError::Missing("OUT"));
    }
    let head = line.get(..pos).unwrap_or_default();
    let body = line.get(pos..).unwrap_or_default();
    let (time, uptime, prefix) = if header {
        let (t, u, p) = kernel_head(head, year)?;
        (t.or(time), u, p)
    } else {
        (time, None, head.trim())
    };
    let f = kernel_fields(body);
    if f.not_ip && f.src.is_none() && f.proto.is_none() {
        return Ok(None);
    }
    let src = ip("SRC", f.src.ok_or(LineError::Missing("SRC"))?)?;
    let dst = ip("DST", f.dst.ok_or(LineError::Missing("DST"))?)?;
    let proto_s = f.proto.ok_or(LineError::Missing("PROTO"))?;
    let protocol = proto_of(proto_s).ok_or_else(|| bad("PROTO", proto_s))?;
    let whole = !f.fragment && !f.incomplete;
    let v4 = src.is_ipv4();
    let mut rec = LogRecord {
        format,
        time,
        uptime,
        direction: direction_of(f.in_if, f.out_if),
        action: prefix_action(prefix),
        protocol,
        src: Some(LogAddr::Ip(src)),
        dst: Some(LogAddr::Ip(dst)),
        src_port: None,
        dst_port: None,
        service: None,
        tcp_flags: None,
        window: None,
        tcp_options: None,
        icmp: None,
        ttl: opt_num(
            if v4 { "TTL" } else { "HOPLIMIT" },
            if v4 { f.ttl } else { f.hoplimit.or(f.ttl) },
        )?,
        ip_id: if v4 { opt_num("ID", f.id)? } else { None },
        df: v4.then_some(f.df),
        length: opt_num("LEN", f.len)?,
        interfaces: (
            f.in_if.filter(|s| !s.is_empty()).map(str::to_string),
            f.out_if.filter(|s| !s.is_empty()).map(str::to_string),
        ),
        prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
    };
    match protocol {
        LogProto::Tcp | LogProto::Udp | LogProto::Other(136 | 132 | 33) => {
            if whole {
                rec.src_port = Some(num("SPT", f.spt.ok_or(LineError::Missing("SPT"))?)?);
                rec.dst_port = Some(num("DPT", f.dpt.ok_or(LineError::Missing("DPT"))?)?);
            } else {
                rec.src_port = opt_num("SPT", f.spt)?;
                rec.dst_port = opt_num("DPT", f.dpt)?;
            }
            if protocol == LogProto::Tcp {
                rec.window = opt_num("WINDOW", f.window)?;
                if whole || f.spt.is_some() {
                    rec.tcp_flags = Some(f.flags);
                }
                rec.tcp_options = f.opt.map(hex_bytes).transpose()?;
            }
        }
        LogProto::Icmp | LogProto::Icmpv6 => match (f.icmp_type, f.icmp_code) {
            (Some(t), Some(c)) => rec.icmp = Some((num("TYPE", t)?, num("CODE", c)?)),
            (Some(_), None) => return Err(LineError::Missing("CODE")),
            (None, _) if whole => return Err(LineError::Missing("TYPE")),
            (None, _) => {}
        },
        LogProto::Other(_) => {}
    }
    Ok(Some(rec))
}

fn direction_of(in_if: Option<&str>, out_if: Option<&str>) -> Direction {
    let i = in_if.is_some_and(|s| !s.is_empty());
    let o = out_if.is_some_and(|s| !s.is_empty());
    match (i, o) {
        (true, false) => Direction::Inbound,
        (false, true) => Direction::Outbound,
        (true, true) => Direction::Forwarded,
        (false, false) => Direction::Unknown,
    }
}

// ---------------------------------------------------------------------------------------
// journalctl -o json.

/// A `journalctl -k -o json` line: the kernel line in `MESSAGE` (a string, or an array
/// of bytes as the journal writes non-UTF-8 messages), the time from
/// `__REALTIME_TIMESTAMP` (microseconds since the epoch). A JSON object without a kernel
/// LOG message is `Ok(None)`; so is a broken one that names neither field, unless the
/// format was forced.
fn parse_journal_json(line: &str, forced: bool) -> Result<Option<LogRecord>, LineError> {
    let journal_like = forced || line.contains("\"MESSAGE\"") || line.contains("__REALTIME");
    let v: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) if journal_like => return Err(LineError::BadJson(quote(&e.to_string()))),
        Err(_) => return Ok(None),
    };
    let Some(obj) = v.as_object() else {
        return if forced {
            Err(LineError::BadJson("not a JSON object".into()))
        } else {
            Ok(None)
        };
    };
    let msg: Cow<'_, str> = match obj.get("MESSAGE") {
        None => return Ok(None),
        Some(serde_json::Value::String(s)) => Cow::Borrowed(s),
        Some(serde_json::Value::Array(a)) => {
            let bytes: Option<Vec<u8>> = a
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            let bytes = bytes.ok_or_else(|| {
                LineError::BadJson("MESSAGE is an array of something other than bytes".into())
            })?;
            Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
        }
        Some(_) => {
            return Err(LineError::BadJson(
                "MESSAGE is neither a string nor bytes".into(),
            ))
        }
    };
    if find_in_out(&msg).is_none() {
        return Ok(None);
    }
    let time = match obj.get("__REALTIME_TIMESTAMP") {
        None => None,
        Some(t) => {
            let micros = match t {
                serde_json::Value::String(s) => digits::<u64>(s),
                serde_json::Value::Number(n) => n.as_u64(),
                _ => None,
            };
            let nanos = micros
                .and_then(|m| m.checked_mul(1000))
                .ok_or_else(|| LineError::BadTime(quote(&t.to_string())))?;
            Some(Timestamp::from_nanos(nanos))
        }
    };
    kernel_record(&msg, 0, false, LogFormat::JournalJson, time)
}

// ---------------------------------------------------------------------------------------
// pfirewall.log.

/// The column layout of a `pfirewall.log`, from its `#Fields:` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PfirewallFields {
    count: usize,
    /// The default layout also accepts a trailing `pid` column (newer Windows).
    pid_optional: bool,
    date: usize,
    time: usize,
    action: usize,
    protocol: usize,
    src_ip: usize,
    dst_ip: usize,
    src_port: Option<usize>,
    dst_port: Option<usize>,
    size: Option<usize>,
    tcpflags: Option<usize>,
    tcpwin: Option<usize>,
    icmptype: Option<usize>,
    icmpcode: Option<usize>,
    path: Option<usize>,
}

impl Default for PfirewallFields {
    /// Windows's order: `date time action protocol src-ip dst-ip src-port dst-port size
    /// tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path`, optionally `pid`.
    fn default() -> Self {
        PfirewallFields {
            count: 17,
            pid_optional: true,
            date: 0,
            time: 1,
            action: 2,
            protocol: 3,
            src_ip: 4,
            dst_ip: 5,
            src_port: Some(6),
            dst_port: Some(7),
            size: Some(8),
            tcpflags: Some(9),
            tcpwin: Some(12),
            icmptype: Some(13),
            icmpcode: Some(14),
            path: Some(16),
        }
    }
}

impl PfirewallFields {
    /// Reads a `#Fields: date time action ...` header. Unknown column names are kept as
    /// columns and ignored; `date`, `time`, `action`, `protocol`, `src-ip` and `dst-ip`
    /// are needed.
    pub fn from_header(line: &str) -> Result<PfirewallFields, LineError> {
        let names = clean(line)
            .trim()
            .strip_prefix("#Fields:")
            .ok_or_else(|| LineError::BadFieldsHeader("it does not start with #Fields:".into()))?;
        let mut cols: [Option<usize>; 14] = [None; 14];
        let mut count = 0usize;
        for (i, name) in names.split_whitespace().enumerate() {
            if i >= MAX_COLUMNS {
                return Err(LineError::BadFieldsHeader(format!(
                    "more than {MAX_COLUMNS} columns"
                )));
            }
            count = i + 1;
            let slot = match name.to_ascii_lowercase().as_str() {
                "date" => 0,
                "time" => 1,
                "action" => 2,
                "protocol" => 3,
                "src-ip" => 4,
                "dst-ip" => 5,
                "src-port" => 6,
                "dst-port" => 7,
                "size" => 8,
                "tcpflags" => 9,
                "tcpwin" => 10,
                "icmptype" => 11,
                "icmpcode" => 12,
                "path" => 13,
                _ => continue,
            };
            if let Some(c) = cols.get_mut(slot) {
                c.get_or_insert(i);
            }
        }
        let col = |slot: usize| cols.get(slot).copied().flatten();
        let need = |slot: usize, name: &str| {
            col(slot).ok_or_else(|| LineError::BadFieldsHeader(format!("no {name} column")))
        };
        Ok(PfirewallFields {
            count,
            pid_optional: false,
            date: need(0, "date")?,
            time: need(1, "time")?,
            action: need(2, "action")?,
            protocol: need(3, "protocol")?,
            src_ip: need(4, "src-ip")?,
            dst_ip: need(5, "dst-ip")?,
            src_port: col(6),
            dst_port: col(7),
            size: col(8),
            tcpflags: col(9),
            tcpwin: col(10),
            icmptype: col(11),
            icmpcode: col(12),
            path: col(13),
        })
    }

    /// Whether a line looks like a data line of this layout: a `YYYY-MM-DD` date in the
    /// date column and, unless a `#Fields:` header was read (`header`), a known action
    /// (DROP, ALLOW, INFO-EVENTS-LOST) or nothing in the action column, so that other
    /// programs' lines that start with a date are not taken for broken records.
    fn candidate(&self, line: &str, header: bool) -> bool {
        let date = line.split_whitespace().nth(self.date).is_some_and(|d| {
            let b = d.as_bytes();
            b.len() == 10
                && b.get(4) == Some(&b'-')
                && b.get(7) == Some(&b'-')
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        });
        date && (header
            || line
                .split_whitespace()
                .nth(self.action)
                .is_none_or(|a| pf_action(a).is_some()))
    }
}

/// `Some(Some(action))` for DROP and ALLOW, `Some(None)` for `INFO-EVENTS-LOST`.
fn pf_action(a: &str) -> Option<Option<Action>> {
    if a.eq_ignore_ascii_case("DROP") {
        Some(Some(Action::Blocked))
    } else if a.eq_ignore_ascii_case("ALLOW") {
        Some(Some(Action::Allowed))
    } else if a.eq_ignore_ascii_case("INFO-EVENTS-LOST") {
        Some(None)
    } else {
        None
    }
}

/// Reads one `pfirewall.log` data line in the given layout. `-` is an empty value. The
/// time is the firewall's local time (`#Time Format: Local`), with no zone: it is taken
/// as UTC as written. `INFO-EVENTS-LOST` lines are `Ok(None)`.
pub fn parse_pfirewall(
    line: &str,
    fields: &PfirewallFields,
) -> Result<Option<LogRecord>, LineError> {
    let line = clean(line);
    let found = line.split_whitespace().count();
    let toks: Vec<&str> = line.split_whitespace().take(fields.count + 1).collect();
    let raw = |i: usize| toks.get(i).copied();
    let get = |i: Option<usize>| i.and_then(raw).filter(|t| *t != "-");
    if raw(fields.action).and_then(pf_action) == Some(None) {
        return Ok(None);
    }
    if found != fields.count && !(fields.pid_optional && found == fields.count + 1) {
        return Err(LineError::Columns {
            found,
            expected: fields.count,
        });
    }
    let need = |i: usize, name: &'static str| get(Some(i)).ok_or(LineError::Missing(name));
    let date = need(fields.date, "date")?;
    let time = need(fields.time, "time")?;
    let stamp = {
        let err = || LineError::BadTime(quote(&format!("{date} {time}")));
        let (y, mo, d) = ymd(date, &['-']).ok_or_else(err)?;
        let (h, mi, s, nanos) = clock(time).ok_or_else(err)?;
        civil_time(y, mo, d, h, mi, s, nanos, 0).ok_or_else(err)?
    };
    let action_s = need(fields.action, "action")?;
    let action = pf_action(action_s)
        .flatten()
        .ok_or_else(|| bad("action", action_s))?;
    let proto_s = need(fields.protocol, "protocol")?;
    let protocol = proto_of(proto_s).ok_or_else(|| bad("protocol", proto_s))?;
    let src = ip("src-ip", need(fields.src_ip, "src-ip")?)?;
    let dst = ip("dst-ip", need(fields.dst_ip, "dst-ip")?)?;
    let tcp_flags = match get(fields.tcpflags) {
        None => None,
        Some(fl) => {
            let mut bits = 0u8;
            for c in fl.chars() {
                bits |= match c {
                    'F' => 0x01,
                    'S' => 0x02,
                    'R' => 0x04,
                    'P' => 0x08,
                    'A' => 0x10,
                    'U' => 0x20,
                    _ => return Err(bad("tcpflags", fl)),
                };
            }
            Some(bits)
        }
    };
    let icmp = match (get(fields.icmptype), get(fields.icmpcode)) {
        (Some(t), Some(c)) => Some((num("icmptype", t)?, num("icmpcode", c)?)),
        (Some(_), None) => return Err(LineError::Missing("icmpcode")),
        (None, Some(_)) => return Err(LineError::Missing("icmptype")),
        (None, None) => None,
    };
    let direction = match get(fields.path) {
        Some(p) if p.eq_ignore_ascii_case("RECEIVE") => Direction::Inbound,
        Some(p) if p.eq_ignore_ascii_case("SEND") => Direction::Outbound,
        Some(p) if p.eq_ignore_ascii_case("FORWARD") => Direction::Forwarded,
        _ => Direction::Unknown,
    };
    Ok(Some(LogRecord {
        format: LogFormat::Pfirewall,
        time: Some(stamp),
        uptime: None,
        direction,
        action,
        protocol,
        src: Some(LogAddr::Ip(src)),
        dst: Some(LogAddr::Ip(dst)),
        src_port: opt_num("src-port", get(fields.src_port))?,
        dst_port: opt_num("dst-port", get(fields.dst_port))?,
        service: None,
        tcp_flags: if protocol == LogProto::Tcp {
            tcp_flags
        } else {
            None
        },
        window: opt_num("tcpwin", get(fields.tcpwin))?,
        tcp_options: None,
        icmp,
        ttl: None,
        ip_id: None,
        df: None,
        length: opt_num("size", get(fields.size))?,
        interfaces: (None, None),
        prefix: None,
    }))
}

// ---------------------------------------------------------------------------------------
// The Japanese personal-firewall record.

/// Full-width spaces, colons, commas, full stops and digits as their ASCII forms.
fn ja_normal(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '：' => ':',
            '，' => ',',
            '．' => '.',
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            c => c,
        })
        .collect()
}

/// Strips `label` and an optional `:` after it.
fn after_label<'a>(s: &'a str, label: &str) -> Option<&'a str> {
    let s = s.trim_start().strip_prefix(label)?.trim_start();
    Some(s.strip_prefix(':').unwrap_or(s).trim_start())
}

/// `日付: 2001/11/20 時刻: 16:22:45`, taken as UTC (the record gives the firewall's
/// local time without a zone).
fn ja_date(line: &str) -> Result<Timestamp, LineError> {
    let n = ja_normal(line);
    let err = || LineError::BadTime(quote(line.trim()));
    let rest = after_label(&n, "日付").ok_or_else(err)?;
    let (date, rest) = first_token(rest);
    let rest = after_label(rest, "時刻").unwrap_or(rest);
    let (time, tail) = first_token(rest);
    if !tail.trim().is_empty() {
        return Err(err());
    }
    let (y, mo, d) = ymd(date, &['/', '-']).ok_or_else(err)?;
    let (h, mi, s, nanos) = clock(time).ok_or_else(err)?;
    civil_time(y, mo, d, h, mi, s, nanos, 0).ok_or_else(err)
}

/// What the firewall did, from its sentence: whichever of ブロック / 拒否 / 遮断 (blocked)
/// and 許可 (allowed) comes last, since the verb ends the sentence and the feature's name
/// (未使用ポートブロック機能) may come before it.
fn ja_action(sentence: &str) -> Action {
    let last = |words: &[&str]| words.iter().filter_map(|w| sentence.rfind(w)).max();
    match (last(&["ブロック", "拒否", "遮断"]), last(&["許可"])) {
        (Some(b), Some(a)) if a > b => Action::Allowed,
        (Some(_), _) => Action::Blocked,
        (None, Some(_)) => Action::Allowed,
        (None, None) => Action::Unknown,
    }
}

/// `インバウンド TCP 接続`: direction, protocol, and whether it is a connection.
fn ja_direction(n: &str) -> Option<Result<(Direction, LogProto, bool), LineError>> {
    let t = n.trim_start();
    let direction = if t.starts_with("インバウンド") {
        Direction::Inbound
    } else if t.starts_with("アウトバウンド") {
        Direction::Outbound
    } else {
        return None;
    };
    let up = t.to_ascii_uppercase();
    let protocol = if up.contains("ICMPV6") {
        LogProto::Icmpv6
    } else if up.contains("ICMP") {
        LogProto::Icmp
    } else if up.contains("TCP") {
        LogProto::Tcp
    } else if up.contains("UDP") {
        LogProto::Udp
    } else {
        return Some(Err(bad("protocol", t)));
    };
    Some(Ok((direction, protocol, t.contains("接続"))))
}

/// Ports of well-known service names (our own short list of the common ones).
fn service_port(name: &str) -> Option<u16> {
    const SERVICES: [(&str, u16); 20] = [
        ("ftp", 21),
        ("ssh", 22),
        ("telnet", 23),
        ("smtp", 25),
        ("domain", 53),
        ("http", 80),
        ("pop3", 110),
        ("epmap", 135),
        ("loc-srv", 135),
        ("netbios-ns", 137),
        ("netbios-dgm", 138),
        ("netbios-ssn", 139),
        ("imap", 143),
        ("snmp", 161),
        ("https", 443),
        ("microsoft-ds", 445),
        ("ms-sql-s", 1433),
        ("ms-sql-m", 1434),
        ("ms-wbt-server", 3389),
        ("ntp", 123),
    ];
    SERVICES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, p)| *p)
}

/// A Japanese record being put together.
#[derive(Debug)]
struct JaPending {
    start: u64,
    time: Timestamp,
    sentence: Option<String>,
    what: Option<(Direction, LogProto, bool)>,
}

impl JaPending {
    fn missing(&self) -> &'static str {
        if self.sentence.is_none() {
            "event (what the firewall did)"
        } else if self.what.is_none() {
            "direction and protocol"
        } else {
            "remote address and local service"
        }
    }

    /// The record, from its last line: `リモートアドレス、 ローカルサービスは A,S`. The
    /// remote address is the source of an inbound record and the destination of an
    /// outbound one; the local service is the destination port of an inbound record and
    /// the source port of an outbound one (a name is kept in `service` and, when it is a
    /// well-known one, also given as a port).
    fn finish(self, n: &str) -> Result<LogRecord, LineError> {
        let (direction, protocol, connect) = self
            .what
            .ok_or(LineError::Missing("direction and protocol"))?;
        let rest = n.trim_start();
        let rest = match rest.find("ローカルサービスは") {
            Some(i) => rest.get(i + "ローカルサービスは".len()..),
            None => rest
                .find('は')
                .and_then(|i| rest.get(i + 'は'.len_utf8()..)),
        }
        .ok_or(LineError::Missing("remote address and local service"))?;
        let rest = rest.trim();
        let (addr, svc) = rest
            .split_once(',')
            .ok_or_else(|| bad("remote address, local service", rest))?;
        let (addr, svc) = (addr.trim(), svc.trim());
        if addr.is_empty() {
            return Err(LineError::Missing("remote address"));
        }
        if svc.is_empty() {
            return Err(LineError::Missing("local service"));
        }
        let remote = match addr.parse::<IpAddr>() {
            Ok(a) => LogAddr::Ip(a),
            Err(_) => LogAddr::Masked(addr.to_string()),
        };
        let (port, service) = match digits::<u16>(svc) {
            Some(p) => (Some(p), None),
            None if svc.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(bad("local service", svc))
            }
            None => (service_port(svc), Some(svc.to_string())),
        };
        let outbound = direction == Direction::Outbound;
        Ok(LogRecord {
            time: Some(self.time),
            direction,
            action: self.sentence.as_deref().map_or(Action::Unknown, ja_action),
            protocol,
            src: (!outbound).then(|| remote.clone()),
            dst: outbound.then_some(remote),
            src_port: if outbound { port } else { None },
            dst_port: if outbound { None } else { port },
            service,
            tcp_flags: (connect && protocol == LogProto::Tcp).then_some(0x02),
            prefix: self.sentence,
            ..LogRecord::blank(LogFormat::PersonalFirewallJa)
        })
    }
}

/// What a line did to a pending Japanese record.
enum JaStep {
    /// The line belongs to it; the record goes on.
    Pending(JaPending),
    /// The line ended it: here it is (with its start line).
    Done(u64, Box<LogRecord>),
    /// The line ended it, unreadable.
    Failed(u64, LineError),
    /// The line is not part of it: the record is cut, and the line is read on its own.
    Cut(u64, LineError),
}

// ---------------------------------------------------------------------------------------
// The reader.

/// The `pfirewall.log` layout a reader is at.
#[derive(Debug, Clone)]
enum PfState {
    Default,
    Header(PfirewallFields),
    Broken,
}

/// Reads firewall records from a log, line by line: see the module documentation.
///
/// Lines are read as bytes, at most `max_line` bytes each (default [`DEFAULT_MAX_LINE`]):
/// a longer line is read to its end and dropped without being kept, and counted. A line
/// that is not UTF-8 is skipped and counted. A `\r` before the newline and a UTF-8
/// byte-order mark are ignored. Bad lines are skipped and counted in [`LogStats`]; only
/// read errors of the input end the reading.
pub struct LogReader<R: BufRead> {
    inner: R,
    year: i32,
    forced: Option<LogFormat>,
    max_line: usize,
    buf: Vec<u8>,
    line_no: u64,
    pf: PfState,
    ja: Option<JaPending>,
    stats: LogStats,
    done: bool,
}

impl<R: BufRead> LogReader<R> {
    /// A reader of `inner`; `year` is the year of syslog dates, `forced` reads every
    /// line as that format (`None` detects the format line by line).
    pub fn new(inner: R, year: i32, forced: Option<LogFormat>) -> LogReader<R> {
        LogReader {
            inner,
            year,
            forced,
            max_line: DEFAULT_MAX_LINE,
            buf: Vec::new(),
            line_no: 0,
            pf: PfState::Default,
            ja: None,
            stats: LogStats::default(),
            done: false,
        }
    }

    /// Sets the line-length cap in bytes (at least 1).
    pub fn with_max_line(mut self, max_line: usize) -> LogReader<R> {
        self.max_line = max_line.max(1);
        self
    }

    /// What was read and skipped so far.
    pub fn stats(&self) -> &LogStats {
        &self.stats
    }

    /// The next record and the line it starts on; `None` at the end of the input.
    pub fn next_record(&mut self) -> io::Result<Option<(u64, LogRecord)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(too_long) = self.read_raw()? else {
                self.done = true;
                if let Some(p) = self.ja.take() {
                    let missing = p.missing();
                    self.malformed(
                        p.start,
                        LineError::RecordCut {
                            start: p.start,
                            missing,
                        },
                    );
                }
                return Ok(None);
            };
            self.line_no = self.line_no.saturating_add(1);
            self.stats.lines = self.stats.lines.saturating_add(1);
            let n = self.line_no;
            if too_long {
                self.stats.too_long = self.stats.too_long.saturating_add(1);
                self.cut_pending();
                continue;
            }
            let buf = std::mem::take(&mut self.buf);
            let out = match std::str::from_utf8(&buf) {
                Ok(text) => self.handle(text, n),
                Err(_) => {
                    self.stats.invalid_utf8 = self.stats.invalid_utf8.saturating_add(1);
                    self.cut_pending();
                    None
                }
            };
            self.buf = buf;
            if let Some((start, rec)) = out {
                self.stats.records = self.stats.records.saturating_add(1);
                self.stats.by_format.bump(rec.format);
                return Ok(Some((start, rec)));
            }
        }
    }

    /// Reads one line into `buf`: `Some(too_long)`, or `None` at the end of the input.
    fn read_raw(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(any.then_some(too_long));
            }
            any = true;
            let (take, newline) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                let part = chunk.get(..take).unwrap_or_default();
                if self.buf.len().saturating_add(part.len()) > self.max_line {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(part);
                }
            }
            self.inner.consume(if newline { take + 1 } else { take });
            if newline {
                return Ok(Some(too_long));
            }
        }
    }

    fn malformed(&mut self, line: u64, e: LineError) {
        self.stats.malformed = self.stats.malformed.saturating_add(1);
        if self.stats.first_malformed.len() < KEPT_ERRORS {
            self.stats.first_malformed.push((line, e));
        }
    }

    fn not_record(&mut self) {
        self.stats.not_records = self.stats.not_records.saturating_add(1);
    }

    fn cut_pending(&mut self) {
        if let Some(p) = self.ja.take() {
            let missing = p.missing();
            self.malformed(
                p.start,
                LineError::RecordCut {
                    start: p.start,
                    missing,
                },
            );
        }
    }

    fn pf_header(&self) -> bool {
        !matches!(self.pf, PfState::Default)
    }

    fn pf_fields(&self) -> Cow<'_, PfirewallFields> {
        match &self.pf {
            PfState::Header(f) => Cow::Borrowed(f),
            PfState::Default | PfState::Broken => Cow::Owned(PfirewallFields::default()),
        }
    }

    /// One line: goes on with a pending Japanese record, or is read on its own.
    fn handle(&mut self, line: &str, n: u64) -> Option<(u64, LogRecord)> {
        let line = if n == 1 {
            clean(line)
        } else {
            line.trim_end_matches('\r')
        };
        if let Some(p) = self.ja.take() {
            match self.ja_step(p, line) {
                JaStep::Pending(p) => {
                    self.ja = Some(p);
                    return None;
                }
                JaStep::Done(start, rec) => return Some((start, *rec)),
                JaStep::Failed(start, e) => {
                    self.malformed(start, e);
                    return None;
                }
                JaStep::Cut(start, e) => self.malformed(start, e),
            }
        }
        self.dispatch(line, n)
    }

    fn ja_step(&self, mut p: JaPending, line: &str) -> JaStep {
        if line.trim().is_empty() {
            return JaStep::Pending(p);
        }
        let cut = |p: &JaPending| {
            JaStep::Cut(
                p.start,
                LineError::RecordCut {
                    start: p.start,
                    missing: p.missing(),
                },
            )
        };
        let kind = classify(line, self.forced, &self.pf_fields(), self.pf_header());
        if !matches!(kind, Kind::Other) {
            return cut(&p);
        }
        let n = ja_normal(line);
        if p.sentence.is_none() {
            p.sentence = Some(line.trim().to_string());
            return JaStep::Pending(p);
        }
        if p.what.is_none() {
            if after_label(&n, "詳細").is_some_and(str::is_empty) {
                return JaStep::Pending(p);
            }
            return match ja_direction(&n) {
                Some(Ok(w)) => {
                    p.what = Some(w);
                    JaStep::Pending(p)
                }
                Some(Err(e)) => JaStep::Failed(p.start, e),
                None => cut(&p),
            };
        }
        if n.trim_start().starts_with("リモートアドレス") {
            let start = p.start;
            return match p.finish(&n) {
                Ok(rec) => JaStep::Done(start, Box::new(rec)),
                Err(e) => JaStep::Failed(start, e),
            };
        }
        cut(&p)
    }

    fn dispatch(&mut self, line: &str, n: u64) -> Option<(u64, LogRecord)> {
        let fields = self.pf_fields().into_owned();
        let result = match classify(line, self.forced, &fields, self.pf_header()) {
            Kind::Blank | Kind::Other => Ok(None),
            Kind::Header => {
                let t = line.trim();
                if t.starts_with("#Fields:") {
                    match PfirewallFields::from_header(t) {
                        Ok(f) => {
                            self.pf = PfState::Header(f);
                            Ok(None)
                        }
                        Err(e) => {
                            self.pf = PfState::Broken;
                            Err(e)
                        }
                    }
                } else {
                    Ok(None)
                }
            }
            Kind::Json => parse_journal_json(line, self.forced.is_some()),
            Kind::JaStart => match ja_date(line) {
                Ok(time) => {
                    self.ja = Some(JaPending {
                        start: n,
                        time,
                        sentence: None,
                        what: None,
                    });
                    return None;
                }
                Err(e) => Err(e),
            },
            Kind::Kernel => kernel_record(line, self.year, true, LogFormat::Kernel, None),
            Kind::Pfirewall => match &self.pf {
                PfState::Broken => Err(LineError::NoFieldsHeader),
                _ => parse_pfirewall(line, &fields),
            },
        };
        match result {
            Ok(Some(rec)) => Some((n, rec)),
            Ok(None) => {
                self.not_record();
                None
            }
            Err(e) => {
                self.malformed(n, e);
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn log_civil_dates() {
        let day =
            |y, m, d| civil_time(y, m, d, 0, 0, 0, 0, 0).map(|t| t.as_nanos() / 86_400e9 as u64);
        assert_eq!(day(1970, 1, 1), Some(0));
        assert_eq!(day(2000, 3, 1), Some(11_017));
        assert_eq!(day(2100, 3, 1), Some(47_541));
        // A leap second is the next second; an offset moves the instant the other way.
        let leap = civil_time(2016, 12, 31, 23, 59, 60, 0, 0).unwrap();
        assert_eq!(leap.rfc3339(), "2017-01-01T00:00:00.000000Z");
        let east = civil_time(2001, 11, 21, 1, 22, 45, 0, 9 * 3600).unwrap();
        assert_eq!(east.rfc3339(), "2001-11-20T16:22:45.000000Z");
        assert!(civil_time(99_999, 1, 1, 0, 0, 0, 0, 0).is_none());
        let t = civil_time(2001, 11, 20, 16, 22, 45, 500_000_000, 0).unwrap();
        assert_eq!(t.rfc3339(), "2001-11-20T16:22:45.500000Z");
        assert!(civil_time(2001, 2, 29, 0, 0, 0, 0, 0).is_none());
        assert!(civil_time(2000, 2, 29, 0, 0, 0, 0, 0).is_some());
        assert!(civil_time(1969, 12, 31, 23, 59, 59, 0, 0).is_none());
        assert!(civil_time(2001, 13, 1, 0, 0, 0, 0, 0).is_none());
        assert!(civil_time(2001, 1, 1, 24, 0, 0, 0, 0).is_none());
    }

    #[test]
    fn log_rfc3339_offsets() {
        let t = |s| rfc3339(s).map(|t| t.rfc3339());
        assert_eq!(
            t("2026-12-06T04:21:07.512004+00:00").unwrap(),
            "2026-12-06T04:21:07.512004Z"
        );
        assert_eq!(
            t("2026-12-06T13:21:07+0900").unwrap(),
            "2026-12-06T04:21:07.000000Z"
        );
        assert_eq!(
            t("2026-12-05T23:21:07-05:00").unwrap(),
            "2026-12-06T04:21:07.000000Z"
        );
        assert_eq!(
            t("2026-12-06T04:21:07Z").unwrap(),
            "2026-12-06T04:21:07.000000Z"
        );
        assert!(t("2026-12-06T04:21:07+25:00").is_err());
        assert!(t("2026-12-06T04:21").is_err());
        assert!(t("2026-02-30T04:21:07Z").is_err());
    }

    #[test]
    fn log_prefix_actions() {
        for p in [
            "[UFW BLOCK]",
            "FINAL_REJECT:",
            "filter_IN_public_REJECT:",
            "\"DROP\"",
            "nft drop:",
            "[UFW LIMIT BLOCK]",
            "iptables denied:",
            "IPTables-Dropped:",
        ] {
            assert_eq!(prefix_action(p), Action::Blocked, "{p}");
        }
        for p in ["[UFW ALLOW]", "ACCEPT ", "pass-ssh:"] {
            assert_eq!(prefix_action(p), Action::Allowed, "{p}");
        }
        for p in [
            "[UFW AUDIT]",
            "mb-test:",
            "",
            "dropbear:",
            "ALLOW-then-DROP",
        ] {
            assert_eq!(prefix_action(p), Action::Unknown, "{p}");
        }
    }

    #[test]
    fn log_heads() {
        let (t, u, p) = kernel_head(
            "Nov  2 16:22:45 fw kernel: [12345.678901] [UFW BLOCK] ",
            2001,
        )
        .unwrap();
        assert_eq!(t.unwrap().rfc3339(), "2001-11-02T16:22:45.000000Z");
        assert_eq!(u, Some(Duration::new(12345, 678_901_000)));
        assert_eq!(p, "[UFW BLOCK]");
        let (t, u, p) = kernel_head("[    5.000001] DROP: ", 2001).unwrap();
        assert_eq!((t, u, p), (None, Some(Duration::new(5, 1000)), "DROP:"));
        let (t, u, p) = kernel_head("[Sun Dec  6 04:21:07 2026] x ", 2001).unwrap();
        assert_eq!(t.unwrap().rfc3339(), "2026-12-06T04:21:07.000000Z");
        assert_eq!((u, p), (None, "x"));
        let (t, u, p) = kernel_head("<4>[ 1.5] kernel: y ", 2001).unwrap();
        assert_eq!((t, u, p), (None, Some(Duration::from_millis(1500)), "y"));
        assert!(kernel_head("Feb 29 00:00:00 h kernel: ", 2001).is_err());
        assert_eq!(
            kernel_head("Feb 29 00:00:00 h kernel: ", 2000).unwrap().2,
            ""
        );
    }

    #[test]
    fn log_ja_actions() {
        assert_eq!(
            ja_action("未使用ポートブロック機能が通信をブロックしました。"),
            Action::Blocked
        );
        assert_eq!(
            ja_action("未使用ポートブロック機能が通信を許可しました。"),
            Action::Allowed
        );
        assert_eq!(
            ja_action("許可されていない通信をブロックしました。"),
            Action::Blocked
        );
        assert_eq!(ja_action("何かが起きました。"), Action::Unknown);
    }

    /// A 10 MB line between two good lines, made on the fly: skipped, and the reader's
    /// own buffer stays within the cap.
    #[test]
    fn log_long_line_bounded_buffer() {
        use std::io::Read;
        let good = "[1.0] DROP: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=40 TTL=9 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=5 RES=0x00 SYN URGP=0\n";
        let input = good
            .as_bytes()
            .chain(io::repeat(b'x').take(10 << 20))
            .chain(io::Cursor::new(format!("\n{good}").into_bytes()));
        let mut r = LogReader::new(io::BufReader::new(input), 2026, None);
        let mut got = Vec::new();
        while let Some((n, _)) = r.next_record().unwrap() {
            got.push(n);
            assert!(r.buf.capacity() <= 2 * DEFAULT_MAX_LINE);
        }
        assert_eq!(got, vec![1, 3]);
        assert_eq!(r.stats().too_long, 1);
        assert_eq!(r.stats().lines, 3);
        assert!(r.buf.capacity() <= 2 * DEFAULT_MAX_LINE);
    }
}
