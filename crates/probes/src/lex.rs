//! Small lexical helpers shared by the probe database and the risk table parsers.

use std::time::Duration;

/// One meaningful line of a data file: 1-based number, keyword, and the rest (trimmed).
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub(crate) no: usize,
    /// The first word.
    pub(crate) keyword: &'a str,
    /// Everything after the first word, leading and trailing whitespace removed.
    pub(crate) rest: &'a str,
}

/// The non-blank, non-comment lines of `text`. A comment is a line whose first non-blank
/// character is `#`; there are no trailing comments (regexes and payloads may hold `#`).
pub(crate) fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        let (keyword, rest) = match t.find(char::is_whitespace) {
            Some(at) => (&t[..at], t[at..].trim()),
            None => (t, ""),
        };
        Some(Line {
            no: i + 1,
            keyword,
            rest,
        })
    })
}

/// Is `s` a name we accept: ASCII letters, digits, `-`, `_`, `.`, starting with a letter or
/// digit, at most 40 characters.
pub(crate) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && s.len() <= 40
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Parses `N` or `LOW-HIGH` (1-65535, LOW <= HIGH).
pub(crate) fn port_range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match s.split_once('-') {
        Some((lo, hi)) => (lo, hi),
        None => (s, s),
    };
    let lo: u16 = lo.parse().ok()?;
    let hi: u16 = hi.parse().ok()?;
    (lo >= 1 && lo <= hi).then_some((lo, hi))
}

/// Parses a wait such as `500ms` or `5s` (1 ms to 60 s).
pub(crate) fn duration(s: &str) -> Option<Duration> {
    let (num, unit_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else {
        return None;
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = num.parse::<u64>().ok()?.checked_mul(unit_ms)?;
    (1..=60_000)
        .contains(&ms)
        .then(|| Duration::from_millis(ms))
}

/// Parses one double-quoted string with the escapes `\\ \" \r \n \t \0 \xHH`; inside the
/// quotes only printable ASCII is allowed. Nothing may follow the closing quote.
pub(crate) fn quoted(s: &str) -> Result<Vec<u8>, &'static str> {
    let body = s
        .strip_prefix('"')
        .ok_or("a payload starts with `\"` (or is the word null)")?;
    let mut out = Vec::new();
    let mut bytes = body.bytes();
    loop {
        let b = bytes.next().ok_or("no closing `\"`")?;
        match b {
            b'"' => break,
            b'\\' => {
                let e = bytes.next().ok_or("`\\` at the end")?;
                out.push(match e {
                    b'\\' => b'\\',
                    b'"' => b'"',
                    b'r' => b'\r',
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'0' => 0,
                    b'x' => {
                        let hi = bytes
                            .next()
                            .and_then(hex)
                            .ok_or("`\\x` needs two hex digits")?;
                        let lo = bytes
                            .next()
                            .and_then(hex)
                            .ok_or("`\\x` needs two hex digits")?;
                        hi << 4 | lo
                    }
                    _ => return Err("unknown escape (use \\\\ \\\" \\r \\n \\t \\0 \\xHH)"),
                });
            }
            0x20..=0x7e => out.push(b),
            _ => return Err("only printable ASCII inside quotes; write other bytes as \\xHH"),
        }
    }
    if bytes.next().is_some() {
        return Err("text after the closing `\"` (use one quoted string per send line)");
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings() {
        assert_eq!(
            quoted(r#""GET / \"x\"\r\n\x00\xfF\0\\\t""#),
            Ok(b"GET / \"x\"\r\n\x00\xff\x00\\\t".to_vec())
        );
        assert_eq!(quoted(r#""""#), Ok(vec![]));
        assert!(quoted("abc").is_err());
        assert!(quoted(r#""abc"#).is_err());
        assert!(quoted(r#""a\q""#).is_err());
        assert!(quoted(r#""a\x4""#).is_err());
        assert!(quoted(r#""a\xzz""#).is_err());
        assert!(quoted("\"a\tb\"").is_err());
        assert!(quoted(r#""a" "b""#).is_err());
        assert!(quoted("\"caf\u{e9}\"").is_err());
    }

    #[test]
    fn ports_and_waits() {
        assert_eq!(port_range("80"), Some((80, 80)));
        assert_eq!(port_range("8000-8010"), Some((8000, 8010)));
        assert_eq!(port_range("0"), None);
        assert_eq!(port_range("65536"), None);
        assert_eq!(port_range("10-9"), None);
        assert_eq!(port_range("a"), None);
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(duration("61s"), None);
        assert_eq!(duration("0ms"), None);
        assert_eq!(duration("5"), None);
        assert_eq!(duration("s"), None);
        assert_eq!(duration("-5s"), None);
        assert_eq!(duration("99999999999999999999s"), None);
    }

    #[test]
    fn names_and_lines() {
        assert!(is_name("GetRequest"));
        assert!(is_name("ms-wbt-server"));
        assert!(!is_name("-x"));
        assert!(!is_name("a b"));
        assert!(!is_name(""));
        let got: Vec<_> = lines("# c\n\n  probe  A tcp \r\n  # x\nsend null")
            .map(|l| (l.no, l.keyword, l.rest))
            .collect();
        assert_eq!(got, vec![(3, "probe", "A tcp"), (5, "send", "null")]);
    }
}
