//! `--resume FILE`: continue an interrupted scan from its JSON Lines output (`-oJ`, or the
//! `.jsonl` of `-oA`).
//!
//! The file's first `start` event holds the interrupted run's command line; every `host`
//! event with `"incomplete": false` is a host that was finished (up, down or timed out).
//! The resumed run re-reads that command line, leaves the finished hosts out, scans the
//! rest and appends to the same output files: normal and grepable files get a "resumed"
//! comment, the JSON Lines file a second `start` event with `"resumed": true`, and the XML
//! file is cut back to just before its first unfinished host (written when the first run
//! stopped) so that it stays one well-formed document. Hosts are the unit: a host that was
//! in progress is scanned again from its first port (as nmap's `--resume` does).

use std::collections::HashSet;
use std::net::IpAddr;

/// What an interrupted run left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The run's command line, split back into arguments (program name first).
    pub args: Vec<String>,
    /// Finished hosts, in file order, without repeats.
    pub done: Vec<IpAddr>,
    /// How many of them were up, and down.
    pub up: u64,
    /// See `up`.
    pub down: u64,
}

/// Reads a JSON Lines output. A last line cut short (the process was killed while
/// writing it) is ignored; any other bad line is an error, as is a run that ended
/// normally (nothing to resume).
pub fn read_jsonl(text: &str) -> Result<Interrupted, String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut args_line = None;
    let mut done = Vec::new();
    let mut seen = HashSet::new();
    let (mut up, mut down) = (0, 0);
    let mut finished = false;
    for (i, line) in lines.iter().enumerate() {
        let event: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if i + 1 == lines.len() && i > 0 => break,
            Err(e) => return Err(format!("line {} is not JSON: {e}", i + 1)),
        };
        let kind = event.get("event").and_then(|v| v.as_str()).unwrap_or("");
        if i == 0 && kind != "start" {
            return Err("the first line is not a monban start event".into());
        }
        match kind {
            "start" if args_line.is_none() => {
                args_line = event
                    .get("args")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
            }
            "host" => {
                let incomplete = event.get("incomplete").and_then(|v| v.as_bool());
                if incomplete != Some(false) {
                    continue;
                }
                let addr = event
                    .get("addr")
                    .and_then(|v| v.as_str())
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .ok_or_else(|| format!("line {}: a host event without an address", i + 1))?;
                if seen.insert(addr) {
                    done.push(addr);
                    match event.get("status").and_then(|v| v.as_str()) {
                        Some("up") => up += 1,
                        _ => down += 1,
                    }
                }
            }
            "end" => {
                finished = event.get("interrupted").and_then(|v| v.as_bool()) == Some(false);
            }
            _ => finished = false,
        }
    }
    if finished {
        return Err("that scan finished: there is nothing to resume".into());
    }
    let args_line = args_line.ok_or("no command line in the start event")?;
    let args = split_shell(&args_line)?;
    if args.len() < 2 {
        return Err("the start event's command line has no arguments".into());
    }
    Ok(Interrupted {
        args,
        done,
        up,
        down,
    })
}

/// Splits a command line as monban writes it (words separated by spaces, single quotes
/// around words with other characters, `'\''` for a quote inside) back into words.
pub fn split_shell(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated quote in the command line".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a lone backslash ends the command line".into()),
                }
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Cuts an XML output back to just before its first `<host>` whose address is not in
/// `done` (what the interrupted run wrote about unfinished hosts, and its closing
/// elements), or after its last host when every host is done, or after the header when
/// there is no host; a host element cut short (a killed run) counts as unfinished.
/// Returns the kept prefix; `None` when `xml` is not one of our files.
pub fn cut_xml<'a>(xml: &'a str, done: &HashSet<IpAddr>) -> Option<&'a str> {
    const HOST: &str = "<host starttime=";
    const HEADER_END: &str = "<debugging level=\"0\"/>\n";
    let header_end = xml.find(HEADER_END)? + HEADER_END.len();
    let mut keep = header_end;
    let mut at = header_end;
    while let Some(off) = xml.get(at..)?.find(HOST) {
        let start = at + off;
        // A host element without its end is the last thing a killed run wrote (the XML
        // sink flushes each host whole, but a kill or a full disk can still cut the
        // write): that host is unfinished, keep what precedes it. (Returning `None` here
        // refused to resume such a file, as if it were not ours.)
        let Some(len) = xml.get(start..)?.find("</host>\n") else {
            break;
        };
        let end = start + len + "</host>\n".len();
        let element = xml.get(start..end)?;
        let addr = element
            .split("<address addr=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|a| a.parse::<IpAddr>().ok())?;
        if !done.contains(&addr) {
            break;
        }
        keep = end;
        at = end;
    }
    xml.get(..keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_round_trip_our_quoting() {
        assert_eq!(
            split_shell("monban scan -p 22,80 'a b' 'it'\\''s' ''").unwrap(),
            ["monban", "scan", "-p", "22,80", "a b", "it's", ""]
        );
        assert!(split_shell("monban 'open").is_err());
        assert!(split_shell("monban x\\").is_err());
        assert_eq!(split_shell("  ").unwrap(), Vec::<String>::new());
    }

    const START: &str = r#"{"event":"start","time":1.0,"scanner":"monban","version":"0.1.0","args":"monban scan -p 22 -oJ 'o u t.jsonl' 10.0.0.0/30","scan":"syn","protocol":"tcp","ports":1,"schema":1}"#;

    fn host(addr: &str, status: &str, incomplete: bool) -> String {
        format!(
            r#"{{"event":"host","time":2.0,"addr":"{addr}","status":"{status}","incomplete":{incomplete},"timed_out":false,"ports":[]}}"#
        )
    }

    #[test]
    fn finished_hosts_and_the_command_line() {
        let text = [
            START.to_owned(),
            host("10.0.0.1", "up", false),
            host("10.0.0.0", "down", false),
            host("10.0.0.2", "up", true),
            r#"{"event":"end","time":3.0,"interrupted":true}"#.to_owned(),
        ]
        .join("\n");
        let r = read_jsonl(&text).unwrap();
        assert_eq!(
            r.args,
            [
                "monban",
                "scan",
                "-p",
                "22",
                "-oJ",
                "o u t.jsonl",
                "10.0.0.0/30"
            ]
        );
        let done: Vec<IpAddr> = ["10.0.0.1", "10.0.0.0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!((r.done, r.up, r.down), (done, 1, 1));
    }

    #[test]
    fn a_cut_last_line_is_ignored_other_damage_is_not() {
        let text = format!(
            "{START}\n{}\n{{\"event\":\"ho",
            host("10.0.0.1", "up", false)
        );
        assert_eq!(read_jsonl(&text).unwrap().done.len(), 1);
        let text = format!(
            "{START}\n{{\"event\":\"ho\n{}",
            host("10.0.0.1", "up", false)
        );
        assert_eq!(
            read_jsonl(&text).unwrap_err(),
            "line 2 is not JSON: EOF while parsing a string at line 1 column 12"
        );
        assert!(read_jsonl("").is_err());
        assert_eq!(
            read_jsonl(&host("10.0.0.1", "up", false)).unwrap_err(),
            "the first line is not a monban start event"
        );
        let finished = format!("{START}\n{{\"event\":\"end\",\"time\":3.0,\"interrupted\":false}}");
        assert_eq!(
            read_jsonl(&finished).unwrap_err(),
            "that scan finished: there is nothing to resume"
        );
    }

    #[test]
    fn a_resumed_file_resumes_again() {
        let resumed_start = START.replace("\"schema\":1}", "\"schema\":1,\"resumed\":true}");
        let text = [
            START.to_owned(),
            host("10.0.0.1", "up", false),
            host("10.0.0.2", "up", true),
            r#"{"event":"end","time":3.0,"interrupted":true}"#.to_owned(),
            resumed_start,
            host("10.0.0.2", "up", false),
        ]
        .join("\n");
        let r = read_jsonl(&text).unwrap();
        assert_eq!(r.done.len(), 2);
        assert_eq!(r.args.last().map(String::as_str), Some("10.0.0.0/30"));
    }

    #[test]
    fn xml_is_cut_before_the_first_unfinished_host() {
        let head = "<?xml version=\"1.0\"?>\n<nmaprun>\n<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n";
        let h = |a: &str| {
            format!("<host starttime=\"1\" endtime=\"2\"><status state=\"up\"/>\n<address addr=\"{a}\" addrtype=\"ipv4\"/>\n</host>\n")
        };
        let tail = "<runstats><finished time=\"3\"/></runstats>\n</nmaprun>\n";
        let xml = format!("{head}{}{}{tail}", h("10.0.0.1"), h("10.0.0.2"));
        let one: HashSet<IpAddr> = ["10.0.0.1".parse().unwrap()].into();
        assert_eq!(
            cut_xml(&xml, &one),
            Some(format!("{head}{}", h("10.0.0.1")).as_str())
        );
        let both: HashSet<IpAddr> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            cut_xml(&xml, &both),
            Some(format!("{head}{}{}", h("10.0.0.1"), h("10.0.0.2")).as_str())
        );
        assert_eq!(cut_xml(&format!("{head}{tail}"), &both), Some(head));
        assert_eq!(cut_xml("<html/>", &both), None);
    }
}

/// Property tests of the readers, seeded (splitmix64), on mutated copies of a real-format
/// `-oJ` and `-oX` output written out by hand (the formats of `monban_output::json` and
/// `::xml`). The binary is built at opt-level 0 in test builds; the counts (40,000
/// mutated JSON Lines files, 200,000 mutated XML files, every cut of both, 200,000 command
/// lines and as many random ones) keep this module to about 10 seconds. A failure names
/// the seed, the iteration and the input.
#[cfg(test)]
mod prop {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

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
    }

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// How `monban` writes its command line into the `start` event: the quoting of
    /// `cli::shell_line` (private to the cli module), copied here.
    fn shell_line(args: &[String]) -> String {
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.,:/=+@%^".contains(c);
        args.iter()
            .map(|a| {
                if !a.is_empty() && a.chars().all(plain) {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    const ARGS: &str = "monban scan -sS -p 22,80,443 -oJ 'scan out.jsonl' -oX 'it'\\''s.xml' 10.77.1.0/29 fd00::/126";

    /// `(address, status, incomplete)` of the fixture's hosts, in file order.
    const HOSTS: [(&str, &str, bool); 6] = [
        ("10.77.1.1", "up", false),
        ("10.77.1.2", "down", false),
        ("fd00::1", "up", false),
        ("10.77.1.3", "up", true),
        ("10.77.1.4", "up", false),
        ("fd00::2", "down", true),
    ];

    /// A JSON Lines output of an interrupted scan, as `-oJ` writes it.
    fn jsonl() -> String {
        let mut out = format!(
            "{{\"event\":\"start\",\"time\":1795239000.0,\"scanner\":\"monban\",\"version\":\"0.1.0\",\"args\":{},\"scan\":\"syn\",\"protocol\":\"tcp\",\"ports\":3,\"schema\":1}}\n",
            serde_json::Value::from(ARGS)
        );
        for (i, (addr, status, incomplete)) in HOSTS.iter().enumerate() {
            if *status == "up" {
                out.push_str(&format!(
                    "{{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"{addr}\",\"proto\":\"tcp\",\"port\":22,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssh\"}}\n"
                ));
            }
            let ports = if *status == "up" {
                "{\"port\":22,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssh\",\"product\":\"OpenSSH\",\"version\":\"9.2p1\",\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":null}"
            } else {
                ""
            };
            out.push_str(&format!(
                "{{\"event\":\"host\",\"time\":1795239010.{i},\"addr\":\"{addr}\",\"name\":null,\"status\":\"{status}\",\"reason\":\"user-set\",\"ttl\":null,\"start\":1795239000.5,\"end\":1795239010.25,\"srtt_us\":null,\"timed_out\":false,\"incomplete\":{incomplete},\"ports\":[{ports}],\"extraports\":[]}}\n"
            ));
        }
        out.push_str("{\"event\":\"end\",\"time\":1795239012.34,\"elapsed\":12.34,\"hosts_up\":3,\"hosts_down\":1,\"hosts_total\":6,\"interrupted\":true}\n");
        out
    }

    const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner=\"monban\" args=\"monban scan -sS -p 22,80,443 10.77.1.0/29 fd00::/126\" start=\"1795239000\" startstr=\"Sat Nov 21 05:30:00 2026\" version=\"0.1.0\" xmloutputversion=\"1.05\">\n<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"3\" services=\"22,80,443\"/>\n<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n";

    fn xml_host(addr: &str, status: &str) -> String {
        let kind = if addr.contains(':') { "ipv6" } else { "ipv4" };
        let ports = if status == "up" {
            "<ports><port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>\n</ports>\n"
        } else {
            ""
        };
        format!("<host starttime=\"1795239000\" endtime=\"1795239010\"><status state=\"{status}\" reason=\"user-set\" reason_ttl=\"0\"/>\n<address addr=\"{addr}\" addrtype=\"{kind}\"/>\n<hostnames/>\n{ports}</host>\n")
    }

    /// An XML output of the same scan, closed when the run stopped.
    fn xml() -> String {
        let mut out = XML_HEAD.to_string();
        for (addr, status, _) in HOSTS {
            out.push_str(&xml_host(addr, status));
        }
        out.push_str("<runstats><finished time=\"1795239012\" timestr=\"Sat Nov 21 05:30:12 2026\" elapsed=\"12.34\" exit=\"error\" errormsg=\"Scan interrupted before completion: results are partial.\"/><hosts up=\"4\" down=\"2\" total=\"6\"/>\n</runstats>\n</nmaprun>\n");
        out
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The hosts read back finished from the first `lines_kept` complete host lines.
    fn finished(hosts_kept: usize) -> Vec<IpAddr> {
        HOSTS[..hosts_kept]
            .iter()
            .filter(|h| !h.2)
            .map(|h| ip(h.0))
            .collect()
    }

    const FRAGMENTS: [&str; 22] = [
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\n",
        "\\",
        "\\u0000",
        "null",
        "true",
        "false",
        "\"incomplete\":false,",
        "\"event\":\"end\",",
        "é",
        "'",
        "0",
        "1e999",
        "<host starttime=",
        "</host>\n",
        "<address addr=\"",
    ];

    /// One to three changes at character boundaries: a fragment inserted, a range
    /// dropped, a line duplicated, dropped or moved, or the text cut.
    fn mutate(rng: &mut Rng, text: &str) -> String {
        // The character boundary at or before byte `at`.
        let floor = |s: &str, mut at: usize| {
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        let mut s = text.to_string();
        for _ in 0..1 + rng.below(3) {
            let at = floor(&s, rng.below(s.len() + 1));
            match rng.below(6) {
                0 | 1 => s.insert_str(at, FRAGMENTS[rng.below(FRAGMENTS.len())]),
                2 => {
                    let end = floor(&s, (at + rng.below(24)).min(s.len()));
                    s.replace_range(at..end, "");
                }
                3 | 4 if !s.is_empty() => {
                    let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
                    let i = rng.below(lines.len());
                    let l = lines[i];
                    match rng.below(3) {
                        0 => lines.insert(rng.below(lines.len() + 1), l),
                        1 => {
                            lines.remove(i);
                        }
                        _ => {
                            lines.remove(i);
                            lines.insert(rng.below(lines.len() + 1), l);
                        }
                    }
                    s = lines.concat();
                }
                _ => s.truncate(at),
            }
        }
        s
    }

    /// What every `Ok` of `read_jsonl` satisfies.
    fn check_interrupted(r: &Interrupted, ctx: &dyn Fn() -> String) {
        assert!(r.args.len() >= 2, "{}", ctx());
        assert_eq!(r.up + r.down, r.done.len() as u64, "{}", ctx());
        let unique: HashSet<&IpAddr> = r.done.iter().collect();
        assert_eq!(unique.len(), r.done.len(), "repeats: {}", ctx());
    }

    #[test]
    fn jsonl_fixture_and_every_cut_of_it() {
        let text = jsonl();
        let r = read_jsonl(&text).unwrap();
        assert_eq!(r.args, split_shell(ARGS).unwrap());
        assert_eq!(r.args[6], "scan out.jsonl");
        assert_eq!(r.args[8], "it's.xml");
        assert_eq!(r.done, finished(HOSTS.len()));
        assert_eq!((r.up, r.down), (3, 1));
        // The process killed at any byte: before the start event is whole, an error;
        // after it, the hosts whose line was written whole.
        let first_end = text.find('\n').unwrap();
        let host_ends: Vec<usize> = text
            .match_indices('\n')
            .map(|(i, _)| i)
            .filter(|&i| {
                text[..i]
                    .rsplit('\n')
                    .next()
                    .unwrap()
                    .contains("\"event\":\"host\"")
            })
            .collect();
        for n in (0..=text.len()).filter(|&n| text.is_char_boundary(n)) {
            let cut = &text[..n];
            let ctx = || format!("cut at {n}: {}", hex(cut));
            let got = catch_unwind(|| read_jsonl(cut))
                .unwrap_or_else(|_| panic!("read_jsonl panicked: {}", ctx()));
            if n < first_end {
                assert!(got.is_err(), "{}", ctx());
                continue;
            }
            let r = got.unwrap_or_else(|e| panic!("{e}: {}", ctx()));
            check_interrupted(&r, &ctx);
            let whole = host_ends.iter().filter(|&&e| e <= n).count();
            assert_eq!(r.done, finished(whole), "{}", ctx());
        }
    }

    #[test]
    fn mutated_jsonl_never_panics() {
        const SEED: u64 = 0x6d6f_6e62_616e_7231;
        let text = jsonl();
        let mut rng = Rng(SEED);
        let mut outcomes = [0usize; 2];
        for i in 0..40_000 {
            let m = mutate(&mut rng, &text);
            let ctx = || format!("seed {SEED:#x} iteration {i}: {}", hex(&m));
            let got = catch_unwind(AssertUnwindSafe(|| read_jsonl(&m)))
                .unwrap_or_else(|_| panic!("read_jsonl panicked: {}", ctx()));
            if let Ok(r) = &got {
                check_interrupted(r, &ctx);
                // Nothing is made up: each address is one the mutated file holds.
                let held: HashSet<IpAddr> = m
                    .split("\"addr\":\"")
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next()?.parse().ok())
                    .collect();
                assert!(r.done.iter().all(|a| held.contains(a)), "{}", ctx());
            }
            outcomes[usize::from(got.is_ok())] += 1;
        }
        assert!(
            outcomes.iter().all(|&n| n > 1_000),
            "{outcomes:?} (errors, ok)"
        );
    }

    /// What `cut_xml` keeps: the header and the longest run of hosts that are all done.
    fn expected_cut(done: &HashSet<IpAddr>) -> String {
        let mut out = XML_HEAD.to_string();
        for (addr, status, _) in HOSTS {
            if !done.contains(&ip(addr)) {
                break;
            }
            out.push_str(&xml_host(addr, status));
        }
        out
    }

    #[test]
    fn xml_cut_for_every_set_of_finished_hosts_and_every_cut_of_the_file() {
        let text = xml();
        for mask in 0..1u32 << HOSTS.len() {
            let done: HashSet<IpAddr> = HOSTS
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, h)| ip(h.0))
                .collect();
            assert_eq!(
                cut_xml(&text, &done),
                Some(expected_cut(&done).as_str()),
                "{done:?}"
            );
        }
        let all: HashSet<IpAddr> = HOSTS.iter().map(|h| ip(h.0)).collect();
        for n in (0..=text.len()).filter(|&n| text.is_char_boundary(n)) {
            let cut = &text[..n];
            let got = catch_unwind(|| cut_xml(cut, &all))
                .unwrap_or_else(|_| panic!("cut_xml panicked: cut at {n}: {}", hex(cut)));
            if n < XML_HEAD.len() {
                assert_eq!(got, None, "cut at {n}");
            } else {
                // Whole host elements only.
                let kept = got.unwrap_or_else(|| panic!("cut at {n}: {}", hex(cut)));
                assert!(
                    kept.ends_with("<debugging level=\"0\"/>\n") || kept.ends_with("</host>\n")
                );
                assert!(text.starts_with(kept));
            }
        }
    }

    #[test]
    fn mutated_xml_never_panics_and_keeps_a_prefix() {
        const SEED: u64 = 0x6d6f_6e62_616e_7232;
        let text = xml();
        let mut rng = Rng(SEED);
        let mut kept = 0usize;
        for i in 0..200_000 {
            let m = mutate(&mut rng, &text);
            let done: HashSet<IpAddr> = HOSTS
                .iter()
                .filter(|_| rng.below(4) != 0)
                .map(|h| ip(h.0))
                .collect();
            let got = catch_unwind(|| cut_xml(&m, &done)).unwrap_or_else(|_| {
                panic!(
                    "cut_xml panicked: seed {SEED:#x} iteration {i}: {}",
                    hex(&m)
                )
            });
            if let Some(k) = got {
                assert!(
                    m.starts_with(k),
                    "seed {SEED:#x} iteration {i}: {}",
                    hex(&m)
                );
                kept += 1;
            }
        }
        assert!(kept > 50_000, "only {kept} files kept");
    }

    #[test]
    fn quoted_command_lines_split_back_into_their_words() {
        const SEED: u64 = 0x6d6f_6e62_616e_7233;
        const CHARS: [char; 24] = [
            'a', 'z', 'Z', '0', '9', '-', '.', '/', ':', ',', '=', ' ', '\t', '\'', '"', '\\', '$',
            '*', '\n', 'é', '日', '!', '`', ';',
        ];
        let mut rng = Rng(SEED);
        for i in 0..200_000 {
            let args: Vec<String> = (0..rng.below(8))
                .map(|_| {
                    (0..rng.below(10))
                        .map(|_| CHARS[rng.below(CHARS.len())])
                        .collect()
                })
                .collect();
            let line = shell_line(&args);
            assert_eq!(
                split_shell(&line).as_ref(),
                Ok(&args),
                "seed {SEED:#x} iteration {i}: {args:?} as {line:?}"
            );
            // Any text: words or an error, never a panic.
            let junk: String = (0..rng.below(16))
                .map(|_| CHARS[rng.below(CHARS.len())])
                .collect();
            let _ = catch_unwind(|| split_shell(&junk))
                .unwrap_or_else(|_| panic!("split_shell panicked on {junk:?} ({})", hex(&junk)));
        }
    }
}
