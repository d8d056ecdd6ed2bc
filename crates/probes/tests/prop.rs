//! Property tests of the matcher and of the database parser, seeded (splitmix64), no test
//! dependency:
//!
//! - the matcher on random and mutated replies never panics, and every field of a match
//!   comes from the reply: the rule [`ProbeDb::matching_rule_line`] names is read from the
//!   data file, its regex run again here, and each field template expanded here from those
//!   captures (an independent reading of the template rules of the crate docs) must give
//!   exactly the reported field;
//! - the parser on the data file's own probes, with lines mutated, dropped, duplicated,
//!   moved or re-keyworded: an `Ok` or an error naming a line of the text, never a panic.
//!
//! Counts (this crate is built at opt-level 0 in test builds): 500,000 replies through the
//! matcher, 20,000 mutated small databases and 40 mutated copies of the whole file through
//! the parser (each compiles its regexes: the costly part); about 10 seconds in all. A
//! failure names the seed, the iteration and the input.

mod common;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use common::*;
use monban_probes::{clean, ProbeDb, ServiceMatch, MAX_FIELD_CHARS, MAX_REPLY_BYTES};
use regex::bytes::{Captures, Regex, RegexBuilder};

/// splitmix64: a tiny seeded generator, so every run tests the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// The rules of the data file, read independently of the crate.

/// A rule as written in the data file.
#[derive(Debug, Default)]
struct RuleSrc {
    service: String,
    soft: bool,
    regex: String,
    /// `(keyword, template)` in file order: product, version, info, host, os, cpe.
    fields: Vec<(String, String)>,
}

/// Every rule of `text`, by the line of its `match`/`softmatch`.
fn rules_by_line(text: &str) -> HashMap<usize, RuleSrc> {
    let mut rules = HashMap::new();
    let mut cur: Option<(usize, RuleSrc)> = None;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (kw, rest) = match t.find(char::is_whitespace) {
            Some(at) => (&t[..at], t[at..].trim()),
            None => (t, ""),
        };
        match kw {
            "match" | "softmatch" | "probe" => {
                if let Some((line, r)) = cur.take() {
                    rules.insert(line, r);
                }
                if kw != "probe" {
                    let r = RuleSrc {
                        service: rest.to_string(),
                        soft: kw == "softmatch",
                        ..RuleSrc::default()
                    };
                    cur = Some((i + 1, r));
                }
            }
            "regex" => cur.as_mut().expect("regex in a rule").1.regex = rest.to_string(),
            "product" | "version" | "info" | "host" | "os" | "cpe" => {
                let r = &mut cur.as_mut().expect("field in a rule").1;
                r.fields.push((kw.to_string(), rest.to_string()));
            }
            _ => {}
        }
    }
    if let Some((line, r)) = cur.take() {
        rules.insert(line, r);
    }
    rules
}

/// A template piece, as the crate docs define them.
enum Piece {
    Lit(String),
    Text(usize),
    Big(usize),
    Little(usize),
    Optional(Vec<Piece>),
}

/// Reads a template of the data file (all of which are valid).
fn template(src: &str) -> Vec<Piece> {
    let mut top = Vec::new();
    let mut inner: Option<Vec<Piece>> = None;
    let mut chars = src.chars();
    while let Some(c) = chars.next() {
        let piece = match c {
            '$' => match chars.next().expect("`$` ends no template of the file") {
                k @ ('$' | '{' | '}') => Piece::Lit(k.to_string()),
                '#' => Piece::Big(chars.next().and_then(|d| d.to_digit(10)).unwrap() as usize),
                '<' => Piece::Little(chars.next().and_then(|d| d.to_digit(10)).unwrap() as usize),
                d => Piece::Text(d.to_digit(10).expect("a group digit") as usize),
            },
            '{' => {
                inner = Some(Vec::new());
                continue;
            }
            '}' => {
                top.push(Piece::Optional(inner.take().expect("`}` closes a `{`")));
                continue;
            }
            c => Piece::Lit(c.to_string()),
        };
        match inner.as_mut() {
            Some(seg) => seg.push(piece),
            None => top.push(piece),
        }
    }
    top
}

/// Expands `pieces`; false if a group inside was empty.
fn expand_into(pieces: &[Piece], caps: &Captures<'_>, out: &mut String) -> bool {
    let number = |b: &[u8], big: bool| -> String {
        if b.is_empty() || b.len() > 8 {
            return String::new();
        }
        let mut v: u64 = 0;
        for i in 0..b.len() {
            let byte = if big { b[i] } else { b[b.len() - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        v.to_string()
    };
    let group = |g: usize| caps.get(g).map(|m| m.as_bytes()).unwrap_or(&[]);
    let mut all = true;
    for p in pieces {
        let text = match p {
            Piece::Lit(s) => {
                out.push_str(s);
                continue;
            }
            Piece::Optional(seg) => {
                let mut tmp = String::new();
                if expand_into(seg, caps, &mut tmp) {
                    out.push_str(&tmp);
                }
                continue;
            }
            Piece::Text(g) => clean(group(*g)),
            Piece::Big(g) => number(group(*g), true),
            Piece::Little(g) => number(group(*g), false),
        };
        all &= !text.is_empty();
        out.push_str(&text);
    }
    all
}

/// The field a template gives: trimmed of blanks, `;` and `,`, cut at MAX_FIELD_CHARS.
fn expand(src: &str, caps: &Captures<'_>) -> Option<String> {
    let mut out = String::new();
    expand_into(&template(src), caps, &mut out);
    let out = out.trim_matches(|c: char| c.is_whitespace() || c == ';' || c == ',');
    if out.is_empty() {
        return None;
    }
    Some(match out.char_indices().nth(MAX_FIELD_CHARS) {
        Some((i, _)) => format!("{}…", &out[..i]),
        None => out.to_string(),
    })
}

/// What a rule of the data file gives for `reply`, computed here.
fn expected_match(rule: &RuleSrc, re: &Regex, reply: &[u8]) -> Option<ServiceMatch> {
    let caps = re.captures(reply)?;
    // Every group lies inside the part of the reply the matcher looks at.
    for m in caps.iter().flatten() {
        assert!(m.end() <= reply.len() && reply.len() <= MAX_REPLY_BYTES);
    }
    let mut m = ServiceMatch {
        service: rule.service.clone(),
        soft: rule.soft,
        ..ServiceMatch::default()
    };
    for (kw, src) in &rule.fields {
        let v = expand(src, &caps);
        match kw.as_str() {
            "product" => m.product = v,
            "version" => m.version = v,
            "info" => m.info = v,
            "host" => m.hostname = v,
            "os" => m.os = v,
            _ => m.cpe.extend(v),
        }
    }
    Some(m)
}

// ---------------------------------------------------------------------------------------
// Replies.

/// Real-looking replies, so that mutations keep many of them matching.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
        b"SSH-2.0-OpenSSH_for_Windows_8.1\r\n".to_vec(),
        b"SSH-2.0-dropbear_2022.83\r\n".to_vec(),
        b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n".to_vec(),
        b"220 (vsFTPd 3.0.3)\r\n".to_vec(),
        b"220 ProFTPD Server (Debian) [::ffff:10.0.0.1]\r\n".to_vec(),
        b"+OK Dovecot (Debian) ready.\r\n".to_vec(),
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] Dovecot (Debian) ready.\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nServer: Apache/2.4.62 (Debian)\r\n\r\n<title>x</title>".to_vec(),
        b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n<html><head><title>404 Not Found</title></head></html>".to_vec(),
        b"HTTP/1.0 200 OK\r\nServer: lighttpd/1.4.69\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n{\"cluster_name\" : \"c\", \"version\" : { \"number\" : \"8.1.0\" }, \"You Know, for Search\"}".to_vec(),
        b"RFB 003.008\n".to_vec(),
        dns_version_reply("dnsmasq-2.89"),
        dns_version_reply("9.18.24-1-Debian"),
        snmp_response(b"\x2b\x06\x01\x04\x01\xbf\x08\x03\x02\x0a", "Linux h 6.1.0 x86_64"),
        mysql_handshake("5.5.5-10.11.6-MariaDB-0+deb12u1"),
        mysql_handshake("8.0.36"),
        smb2_negotiate_response(0x02ff),
        smb2_negotiate_response(0x0311),
        op_msg_reply(&bson(&[bson_str("version", "7.0.12"), bson_i32("maxWireVersion", 21)])),
        amqp_connection_start(&[amqp_str("product", "RabbitMQ"), amqp_str("version", "3.10.8")]),
        pg_error(&[(b'S', "FATAL"), (b'C', "0A000"), (b'M', "server supports 3.0 to 3.0")]),
        b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00".to_vec(),
        b"$40\r\n# Server\r\nredis_version:7.0.15\r\nos:Linux\r\n\r\n".to_vec(),
        b"-ERR unknown command 'HELP'\r\n".to_vec(),
        b"VERSION 1.6.21\r\n".to_vec(),
    ]
}

/// One to five changes: byte set, cut, insert random bytes, special byte, repeat the tail,
/// or splice in a piece of another seed.
fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(5) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 if !v.is_empty() => v.truncate(rng.below(v.len())),
            2 => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(32);
                let extra = rng.bytes(n);
                v.splice(i..i, extra);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] =
                    [0x00, 0xff, b'\r', b'\n', b' ', b';', b',', 0x1b, 0x80, 0xc3][rng.below(10)];
            }
            4 => {
                let n = rng.below(16);
                let tail = v[v.len().saturating_sub(n)..].to_vec();
                let times = rng.below(64);
                v.extend_from_slice(&tail.repeat(times));
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let to = from + rng.below(other.len() - from + 1);
                let at = rng.below(v.len() + 1);
                v.splice(at..at, other[from..to].iter().copied());
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------------------
// The matcher.

#[test]
fn matched_fields_are_what_the_rule_makes_of_the_reply() {
    const SEED: u64 = 0x6d6f_6e62_616e_7031;
    const REPLIES: usize = 500_000;
    let db = db();
    let rules = rules_by_line(ProbeDb::builtin_text());
    let mut compiled: HashMap<usize, Regex> = HashMap::new();
    let seeds = seeds();
    let mut rng = Rng(SEED);
    let mut matched = 0usize;
    for i in 0..REPLIES {
        let probe = &db.probes()[rng.below(db.probes().len())];
        let reply = match rng.below(8) {
            0 => {
                let n = rng.below(512);
                rng.bytes(n)
            }
            1 => probe.payload().to_vec(), // an echo server
            _ => {
                let s = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, s, &seeds)
            }
        };
        let ctx = || {
            format!(
                "seed {SEED:#x} iteration {i}, probe {}, reply {}",
                probe.name(),
                hex(&reply)
            )
        };
        let got = catch_unwind(AssertUnwindSafe(|| {
            (
                db.identify(probe, &reply),
                db.matching_rule_line(probe, &reply),
            )
        }))
        .unwrap_or_else(|_| panic!("the matcher panicked: {}", ctx()));
        let (m, line) = match got {
            (None, None) => continue,
            (Some(m), Some(line)) => (m, line),
            other => panic!(
                "identify and matching_rule_line disagree {other:?}: {}",
                ctx()
            ),
        };
        matched += 1;
        let rule = rules
            .get(&line)
            .unwrap_or_else(|| panic!("line {line} is no rule: {}", ctx()));
        let re = compiled.entry(line).or_insert_with(|| {
            RegexBuilder::new(&rule.regex)
                .unicode(false)
                .build()
                .expect("the file's regexes compile")
        });
        let looked_at = &reply[..reply.len().min(MAX_REPLY_BYTES)];
        let want = expected_match(rule, re, looked_at)
            .unwrap_or_else(|| panic!("rule at line {line} does not match: {}", ctx()));
        assert_eq!(m, want, "rule at line {line}: {}", ctx());
    }
    // Mutated real replies keep matching, so the field checks ran many times.
    assert!(matched > REPLIES / 8, "only {matched} matches");
}

// ---------------------------------------------------------------------------------------
// The parser.

/// The probes of the data file, each as its header lines (no fallback: it names other
/// probes) and its rules, each rule a list of lines.
fn probe_blocks(text: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut blocks: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for raw in text.lines() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let kw = t.split_whitespace().next().unwrap_or("");
        match kw {
            "probe" => blocks.push((vec![raw.to_string()], Vec::new())),
            "fallback" => {}
            "match" | "softmatch" => {
                let b = blocks.last_mut().expect("rules follow a probe line");
                b.1.push(vec![raw.to_string()]);
            }
            _ => {
                let b = blocks.last_mut().expect("lines follow a probe line");
                match b.1.last_mut() {
                    Some(rule) => rule.push(raw.to_string()),
                    None => b.0.push(raw.to_string()),
                }
            }
        }
    }
    blocks
}

const KEYWORDS: [&str; 17] = [
    "probe",
    "send",
    "ports",
    "rarity",
    "wait",
    "fallback",
    "match",
    "softmatch",
    "regex",
    "product",
    "version",
    "info",
    "host",
    "os",
    "cpe",
    "#",
    "bogus",
];

const BITS: [&str; 28] = [
    "$",
    "$1",
    "$9",
    "$#1",
    "$<2",
    "{",
    "}",
    "${",
    "(",
    ")",
    "[",
    "]",
    "\\",
    "\\x",
    "\\xzz",
    "\"",
    " ",
    "\t",
    "-",
    "0",
    "65536",
    "99999999999999999999",
    "ms",
    "é",
    "\u{3000}",
    "*",
    "(?i)",
    "null",
];

/// Changes one line: characters set, inserted or dropped, a syntax fragment inserted, or
/// the keyword replaced.
fn mutate_line(rng: &mut Rng, line: &str) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let n = chars.len();
        match rng.below(5) {
            0 if n > 0 => {
                let i = rng.below(n);
                chars[i] = char::from(32 + rng.below(95) as u8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                chars.remove(i);
            }
            2 => {
                let at = rng.below(n + 1);
                let bit = BITS[rng.below(BITS.len())];
                chars.splice(at..at, bit.chars());
            }
            3 if n > 0 => chars.truncate(rng.below(n)),
            _ => {
                let text: String = chars.iter().collect();
                let t = text.trim_start();
                let rest = t.find(char::is_whitespace).map_or("", |at| &t[at..]);
                let kw = KEYWORDS[rng.below(KEYWORDS.len())];
                chars = format!("  {kw}{rest}").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// Parses `text` and checks the outcome: `Ok`, or an error that names a line of the text.
fn parse_checked(text: &str, ctx: &dyn Fn() -> String) -> bool {
    let r = catch_unwind(AssertUnwindSafe(|| ProbeDb::parse(text)))
        .unwrap_or_else(|_| panic!("the parser panicked: {}", ctx()));
    match r {
        Ok(db) => {
            // A database that parsed matches without panicking too.
            for p in db.probes() {
                let _ = db.identify(p, b"SSH-2.0-x\r\nHTTP/1.1 200 OK\r\n\r\n");
            }
            true
        }
        Err(e) => {
            let msg = e.to_string();
            let line: Option<usize> = msg
                .strip_prefix("line ")
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok());
            let lines = text.lines().count();
            assert!(
                line.is_some_and(|l| (1..=lines.max(1)).contains(&l)),
                "error {msg:?} names no line of the {lines}: {}",
                ctx()
            );
            false
        }
    }
}

#[test]
fn mutated_probes_of_the_data_file_parse_or_fail_with_a_line() {
    const SEED: u64 = 0x6d6f_6e62_616e_7032;
    const DATABASES: usize = 20_000;
    let blocks = probe_blocks(ProbeDb::builtin_text());
    assert!(blocks.len() > 10);
    let mut rng = Rng(SEED);
    let mut outcomes = [0usize; 2];
    for i in 0..DATABASES {
        // One probe with one to three of its rules.
        let (head, rules) = &blocks[rng.below(blocks.len())];
        let mut lines = head.clone();
        if !rules.is_empty() {
            let from = rng.below(rules.len());
            let to = (from + 1 + rng.below(3)).min(rules.len());
            for r in &rules[from..to] {
                lines.extend(r.iter().cloned());
            }
        }
        if i < blocks.len() * 4 {
            // The unmutated pieces parse: the mutations start from valid databases.
            let text = lines.join("\n");
            assert!(
                parse_checked(&text, &|| format!("unmutated: {text}")),
                "{text}"
            );
        }
        for _ in 0..1 + rng.below(3) {
            let n = lines.len();
            let at = rng.below(n);
            match rng.below(6) {
                0 | 1 => lines[at] = mutate_line(&mut rng, &lines[at]),
                2 if n > 1 => {
                    lines.remove(at);
                }
                3 => {
                    let l = lines[at].clone();
                    lines.insert(rng.below(n + 1), l);
                }
                4 => {
                    let l = lines.remove(at);
                    lines.insert(rng.below(n), l);
                }
                _ => {
                    // A line from another probe.
                    let (h, r) = &blocks[rng.below(blocks.len())];
                    let pool: Vec<&String> = h.iter().chain(r.iter().flatten()).collect();
                    lines.insert(rng.below(n + 1), pool[rng.below(pool.len())].clone());
                }
            }
        }
        let text = lines.join("\n");
        let ok = parse_checked(&text, &|| format!("seed {SEED:#x} iteration {i}:\n{text}"));
        outcomes[usize::from(ok)] += 1;
    }
    // The mutations reach both outcomes.
    assert!(
        outcomes.iter().all(|&n| n > DATABASES / 20),
        "{outcomes:?} (errors, ok)"
    );
}

#[test]
fn mutated_copies_of_the_whole_data_file_parse_or_fail_with_a_line() {
    const SEED: u64 = 0x6d6f_6e62_616e_7033;
    let text = ProbeDb::builtin_text();
    let lines: Vec<&str> = text.lines().collect();
    let mut rng = Rng(SEED);
    for i in 0..40 {
        let mut copy: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let at = rng.below(copy.len());
        copy[at] = mutate_line(&mut rng, &copy[at]);
        let text = copy.join("\n");
        parse_checked(&text, &|| {
            format!(
                "seed {SEED:#x} iteration {i}: line {} is {:?}",
                at + 1,
                copy[at]
            )
        });
    }
}
