//! Text helpers shared by the sinks: safe text, XML escaping, number layout.

use std::fmt::Write as _;
use std::time::Duration;

use monban_engine::types::HostReport;

/// Makes text safe for a terminal or a line-based file: control characters (tab,
/// newline, escape, DEL, C1 controls...) become visible `\xNN`, and the bidirectional
/// controls ([`is_bidi_control`]) visible `\u{NNNN}`.
pub fn safe_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else if is_bidi_control(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `c` is one of Unicode's bidirectional controls (ALM, LRM, RLM, the embeddings
/// and overrides U+202A-U+202E, the isolates U+2066-U+2069). They are not control
/// characters to Rust, yet a hostile banner or certificate holding U+202E (RIGHT-TO-LEFT
/// OVERRIDE) reorders everything after it on a terminal or page that applies bidi, so
/// shown text could lie about a port, a version or a name ("Trojan Source").
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Escapes text for an XML attribute value or character data (XML 1.0).
///
/// Markup characters become entities; tab, newline and carriage return become character
/// references (so attribute normalisation keeps them); DEL and C1 controls become
/// character references; the other C0 controls and U+FFFE/U+FFFF, which XML 1.0 cannot
/// carry at all, become visible `\xNN` / `\u{NNNN}` text.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "&#x{:x};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// The host's name if it has a non-empty one.
pub(crate) fn host_name(host: &HostReport) -> Option<&str> {
    host.name.as_deref().filter(|n| !n.is_empty())
}

/// "name (addr)" or "addr", safe for a terminal.
pub(crate) fn host_label(host: &HostReport) -> String {
    match host_name(host) {
        Some(name) => format!("{} ({})", safe_text(name), host.addr),
        None => host.addr.to_string(),
    }
}

/// Seconds with two significant digits, as nmap shows latency: 210 µs → "0.00021",
/// 12.3 ms → "0.012", 1.5 s → "1.5", 12.3 s → "12".
pub(crate) fn sig2_secs(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0.0".to_string();
    }
    let digits = ns.ilog10() + 1; // digits of the nanosecond count
                                  // The leading digit is worth 10^(digits-10) s; two significant digits need
                                  // 11 - digits decimals, clamped to 0..=9.
    let decimals = 11u32.saturating_sub(digits).min(9);
    let unit = 10u128.pow(9 - decimals); // nanoseconds per last printed digit
    let units = (ns + unit / 2) / unit;
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10u128.pow(decimals);
    format!(
        "{}.{:0width$}",
        units / scale,
        units % scale,
        width = decimals as usize
    )
}

/// Lays out rows as nmap's tables: each column as wide as its widest cell, one space
/// between columns, no trailing spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push(' ');
            }
            let _ = write!(line, "{cell:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_text_shows_controls() {
        assert_eq!(
            safe_text("a\tb\nc\u{1b}[31m\u{7f}\u{9b}é"),
            "a\\x09b\\x0ac\\x1b[31m\\x7f\\x9bé"
        );
        assert_eq!(safe_text("<&\"'>"), "<&\"'>");
        assert_eq!(
            safe_text("a\u{202e}b\u{2066}c\u{200f}d\u{61c}"),
            "a\\u{202e}b\\u{2066}c\\u{200f}d\\u{61c}"
        );
    }

    #[test]
    fn xml_escape_everything_hostile() {
        assert_eq!(
            xml_escape("<&\"'>\u{1}\t\n\r\u{7f}\u{85}\u{fffe}x"),
            "&lt;&amp;&quot;&apos;&gt;\\x01&#9;&#10;&#13;&#x7f;&#x85;\\u{fffe}x"
        );
        assert_eq!(xml_escape("日本"), "日本");
    }

    #[test]
    fn latency_two_significant_digits() {
        assert_eq!(sig2_secs(Duration::from_micros(210)), "0.00021");
        assert_eq!(sig2_secs(Duration::from_micros(12_345)), "0.012");
        assert_eq!(sig2_secs(Duration::from_micros(12_355)), "0.012");
        assert_eq!(sig2_secs(Duration::from_micros(12_550)), "0.013");
        assert_eq!(sig2_secs(Duration::from_millis(1_500)), "1.5");
        assert_eq!(sig2_secs(Duration::from_millis(12_300)), "12");
        assert_eq!(sig2_secs(Duration::from_secs(123)), "123");
        assert_eq!(sig2_secs(Duration::from_micros(21)), "0.000021");
        assert_eq!(sig2_secs(Duration::from_nanos(5)), "0.000000005");
        assert_eq!(sig2_secs(Duration::from_micros(995)), "0.00100");
        assert_eq!(sig2_secs(Duration::ZERO), "0.0");
    }

    #[test]
    fn table_aligns_without_trailing_spaces() {
        let rows = vec![
            vec![
                "PORT".to_string(),
                "STATE".to_string(),
                "SERVICE".to_string(),
            ],
            vec!["22/tcp".to_string(), "open".to_string(), "ssh".to_string()],
            vec![
                "3389/tcp".to_string(),
                "closed".to_string(),
                "x".to_string(),
            ],
        ];
        assert_eq!(
            table(&rows),
            "PORT     STATE  SERVICE\n22/tcp   open   ssh\n3389/tcp closed x\n"
        );
    }
}
