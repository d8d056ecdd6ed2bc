//! Field templates (`product`, `version`, ... values) and the cleaning of captured bytes.

use regex::bytes::Captures;

use crate::ProbeDbError;

/// Longest field monban reports, in characters; longer ones end in `…` (so the cut shows).
pub const MAX_FIELD_CHARS: usize = 256;

/// How a capture group is turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conv {
    /// `$N`: the bytes as text (lossy UTF-8, cleaned).
    Text,
    /// `$#N`: the bytes as a big-endian unsigned number (1-8 bytes).
    BigEndian,
    /// `$<N`: the bytes as a little-endian unsigned number (1-8 bytes).
    LittleEndian,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text.
    Lit(String),
    /// A capture group.
    Group(usize, Conv),
    /// An optional segment `{...}`: kept only if every group inside is non-empty.
    Optional(Vec<Piece>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `src`, checking every group against `groups` (the regex's capture count,
    /// without group 0).
    pub(crate) fn parse(src: &str, groups: usize, line: usize) -> Result<Self, ProbeDbError> {
        let bad = |reason| ProbeDbError::BadTemplate { line, reason };
        let mut top: Vec<Piece> = Vec::new();
        let mut inner: Option<Vec<Piece>> = None;
        let mut lit = String::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            let piece = match c {
                '$' => match chars.next() {
                    Some('$') => {
                        lit.push('$');
                        continue;
                    }
                    Some('{') => {
                        lit.push('{');
                        continue;
                    }
                    Some('}') => {
                        lit.push('}');
                        continue;
                    }
                    Some(k) => {
                        let (conv, digit) = match k {
                            '#' => (Conv::BigEndian, chars.next()),
                            '<' => (Conv::LittleEndian, chars.next()),
                            d => (Conv::Text, Some(d)),
                        };
                        let group = digit
                            .and_then(|d| d.to_digit(10))
                            .filter(|&d| d >= 1)
                            .ok_or(bad(
                                "`$` must be followed by a group 1-9, `$$`, `${` or `$}`",
                            ))? as usize;
                        if group > groups {
                            return Err(ProbeDbError::NoSuchGroup {
                                line,
                                group,
                                groups,
                            });
                        }
                        Piece::Group(group, conv)
                    }
                    None => return Err(bad("`$` at the end of the template")),
                },
                '{' => {
                    if inner.is_some() {
                        return Err(bad("`{` inside an optional segment (they do not nest)"));
                    }
                    flush(&mut lit, &mut top);
                    inner = Some(Vec::new());
                    continue;
                }
                '}' => {
                    let Some(mut seg) = inner.take() else {
                        return Err(bad("`}` without `{` (write `$}` for a literal brace)"));
                    };
                    flush(&mut lit, &mut seg);
                    top.push(Piece::Optional(seg));
                    continue;
                }
                c => {
                    lit.push(c);
                    continue;
                }
            };
            match inner.as_mut() {
                Some(seg) => {
                    flush(&mut lit, seg);
                    seg.push(piece);
                }
                None => {
                    flush(&mut lit, &mut top);
                    top.push(piece);
                }
            }
        }
        if inner.is_some() {
            return Err(bad("`{` without `}`"));
        }
        flush(&mut lit, &mut top);
        Ok(Template { pieces: top })
    }

    /// Expands the template with `caps`; blanks, `;` and `,` at either end are trimmed (so
    /// `{$1}{; $2}` reads well when `$1` is empty); `None` when nothing is left.
    pub(crate) fn expand(&self, caps: &Captures<'_>) -> Option<String> {
        let mut out = String::new();
        expand_into(&self.pieces, caps, &mut out);
        let out = out.trim_matches(|c: char| c.is_whitespace() || c == ';' || c == ',');
        if out.is_empty() {
            None
        } else {
            Some(cap_len(out))
        }
    }
}

fn flush(lit: &mut String, into: &mut Vec<Piece>) {
    if !lit.is_empty() {
        into.push(Piece::Lit(std::mem::take(lit)));
    }
}

/// Expands `pieces`; returns false if a group was empty (so an optional segment is dropped).
fn expand_into(pieces: &[Piece], caps: &Captures<'_>, out: &mut String) -> bool {
    let mut all = true;
    for p in pieces {
        match p {
            Piece::Lit(s) => out.push_str(s),
            Piece::Group(g, conv) => {
                let bytes = caps.get(*g).map(|m| m.as_bytes()).unwrap_or(&[]);
                let text = match conv {
                    Conv::Text => clean(bytes),
                    Conv::BigEndian => number(bytes.iter().copied()),
                    Conv::LittleEndian => number(bytes.iter().rev().copied()),
                };
                if text.is_empty() {
                    all = false;
                }
                out.push_str(&text);
            }
            Piece::Optional(seg) => {
                let mut tmp = String::new();
                if expand_into(seg, caps, &mut tmp) {
                    out.push_str(&tmp);
                }
            }
        }
    }
    all
}

/// Big-endian bytes (most significant first) as a decimal number; empty if none or > 8.
fn number(bytes: impl ExactSizeIterator<Item = u8>) -> String {
    if bytes.len() == 0 || bytes.len() > 8 {
        return String::new();
    }
    bytes
        .fold(0u64, |acc, b| (acc << 8) | u64::from(b))
        .to_string()
}

/// Captured bytes as printable text: lossy UTF-8 (invalid bytes become U+FFFD), control
/// characters and whitespace trimmed at both ends, inner runs of whitespace collapsed to one
/// space, other inner control characters and the bidirectional controls (U+202E...)
/// written as `\xNN` / `\u{N}` so they show and can never steer a terminal.
pub fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        // Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE...) are no controls to
        // Rust, yet they reorder the text shown after them: escaped like the controls.
        let bidi = matches!(
            c,
            '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        );
        if c.is_control() || bidi {
            let n = u32::from(c);
            if n <= 0xff {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Cuts `s` to [`MAX_FIELD_CHARS`] characters, marking the cut with `…`.
fn cap_len(s: &str) -> String {
    match s.char_indices().nth(MAX_FIELD_CHARS) {
        Some((i, _)) => {
            let mut out = s[..i].to_string();
            out.push('…');
            out
        }
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::bytes::RegexBuilder;

    fn expand(tpl: &str, re: &str, hay: &[u8]) -> Option<String> {
        let re = RegexBuilder::new(re).unicode(false).build().unwrap();
        let caps = re.captures(hay).unwrap();
        Template::parse(tpl, re.captures_len() - 1, 1)
            .unwrap()
            .expand(&caps)
    }

    #[test]
    fn groups_literals_and_escapes() {
        assert_eq!(
            expand("v$1 $$ ${x$}", r"(\d+)", b"abc 42"),
            Some("v42 $ {x}".to_string())
        );
    }

    #[test]
    fn optional_segment_dropped_when_group_empty() {
        let re = r"A(\d+)?B(\w+)";
        assert_eq!(
            expand("{$1; }proto $2", re, b"A7Bxy"),
            Some("7; proto xy".into())
        );
        assert_eq!(
            expand("{$1; }proto $2", re, b"ABxy"),
            Some("proto xy".into())
        );
    }

    #[test]
    fn separators_at_the_ends_are_trimmed() {
        let re = r"a(\d*)b(\d*)";
        assert_eq!(expand("{$1}{; $2}", re, b"ab7"), Some("7".into()));
        assert_eq!(expand("{$1}{; $2}", re, b"a1b7"), Some("1; 7".into()));
        assert_eq!(expand("{$1}{; $2}", re, b"ab"), None);
    }

    #[test]
    fn empty_result_is_none() {
        assert_eq!(expand("$1", r"a(\d*)", b"a"), None);
        assert_eq!(expand("{x $1}", r"a(\d*)", b"a"), None);
    }

    #[test]
    fn numbers_big_and_little_endian() {
        let re = r"(?s-u)^(..)(...)";
        assert_eq!(
            expand("$#1 $<2", re, b"\x01\x02\x03\x00\x00"),
            Some("258 3".into())
        );
    }

    #[test]
    fn number_of_more_than_eight_bytes_is_empty() {
        assert_eq!(
            expand("n=$#1", r"(?s-u)^(.{9})", &[1; 9]),
            Some("n=".into())
        );
    }

    #[test]
    fn template_errors() {
        assert_eq!(
            Template::parse("$3", 2, 7),
            Err(ProbeDbError::NoSuchGroup {
                line: 7,
                group: 3,
                groups: 2
            })
        );
        for bad in ["$", "$x", "$0", "{a", "a}", "{{a}}", "$#"] {
            assert!(
                matches!(
                    Template::parse(bad, 9, 3),
                    Err(ProbeDbError::BadTemplate { line: 3, .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn clean_handles_hostile_bytes() {
        assert_eq!(
            clean(b"\x00\x01 Foo\r\n\tBar\x1b[31m \x7f\r\n"),
            "Foo Bar\\x1b[31m"
        );
        assert_eq!(
            clean(b"caf\xc3\xa9 \xff\xfe!"),
            "caf\u{e9} \u{fffd}\u{fffd}!"
        );
        assert_eq!(clean(b"a\xc2\x85b"), "a b"); // U+0085 NEL is whitespace
        assert_eq!(clean(b"a\xc2\x9bb"), "a\\x9bb"); // U+009B CSI is a control
        assert_eq!(clean(b""), "");
        // U+202E RIGHT-TO-LEFT OVERRIDE and U+2067 RIGHT-TO-LEFT ISOLATE would reorder it.
        assert_eq!(
            clean("a\u{202e}b\u{2067}c".as_bytes()),
            "a\\u{202e}b\\u{2067}c"
        );
    }

    #[test]
    fn long_fields_are_cut_visibly() {
        let long = "x".repeat(1000);
        let re = r"(x+)";
        let got = expand("$1", re, long.as_bytes()).unwrap();
        assert_eq!(got.chars().count(), MAX_FIELD_CHARS + 1);
        assert!(got.ends_with('…'));
    }
}
