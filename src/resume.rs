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
