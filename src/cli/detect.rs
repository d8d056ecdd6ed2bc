//! `monban detect`: its flags → a validated [`DetectPlan`].
//!
//! One table, [`FLAGS`], defines every flag once; the parser and the help text both come
//! from it, so they cannot disagree.

use std::path::PathBuf;
use std::time::Duration;

use monban_detect::log::LogFormat;
use monban_detect::Net;

use super::lowargs::parse_time;
use super::sub::{self, options, Arg, Flag, SplitOptions, Takes, HELP};
use super::ArgError;

/// Where packets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectInput {
    /// A pcap or pcapng file (`-` = stdin).
    File(PathBuf),
    /// Live capture on an interface (`any` = all).
    Live(String),
    /// Firewall logs (`-` = stdin).
    Logs(Vec<PathBuf>),
}

/// A validated `monban detect` command line.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectPlan {
    /// The packets.
    pub input: DetectInput,
    /// JSON Lines alerts to this file (`-` = stdout).
    pub json: Option<PathBuf>,
    /// Protected addresses, when given (`--home`).
    pub home: Option<Vec<Net>>,
    /// Sources never alerted on.
    pub allow: Vec<Net>,
    /// Print counters at the end (stderr).
    pub stats: bool,
    /// Net failed first contacts that make a scanner.
    pub threshold: i32,
    /// Silence that counts as a failed first contact.
    pub reply_timeout: Duration,
    /// A campaign without probes for this long has ended.
    pub idle_timeout: Duration,
    /// Most sources held at once.
    pub max_sources: usize,
    /// Live capture: stop after this long (else at Ctrl-C or SIGTERM).
    pub duration: Option<Duration>,
    /// Logs: read every line in this format (else detected per line).
    pub format: Option<LogFormat>,
    /// Logs: keep reading as the file grows, through rotation.
    pub follow: bool,
    /// Logs: the year of syslog dates, which have none (default: this year).
    pub year: Option<i32>,
}

/// Every flag of `monban detect`.
const FLAGS: &[Flag] = &[
    Flag {
        names: &["-r"],
        takes: Takes::Value("FILE"),
        help: "read packets from a pcap or pcapng file (`-` = stdin); Ethernet, Linux cooked v1/v2, raw IP",
    },
    Flag {
        names: &["-i"],
        takes: Takes::Value("IFACE"),
        help: "capture live on an interface (`any` = all); runs until Ctrl-C, SIGTERM or --duration",
    },
    Flag {
        names: &["--log"],
        takes: Takes::Value("FILE"),
        help: "read firewall log lines (iptables, nftables, ufw, firewalld, journalctl, pfirewall.log; - = stdin); repeat for several files",
    },
    Flag {
        names: &["--format"],
        takes: Takes::Value("NAME"),
        help: "with --log: every line is in this format: kernel, journal-json, pfirewall, personal-firewall-ja (default: detected per line)",
    },
    Flag {
        names: &["--follow"],
        takes: Takes::Nothing,
        help: "with --log: keep reading as the file grows, through rotation (until Ctrl-C)",
    },
    Flag {
        names: &["--year"],
        takes: Takes::Value("N"),
        help: "with --log: the year of syslog dates, which carry none (default: this year)",
    },
    Flag {
        names: &["-oJ"],
        takes: Takes::Value("FILE"),
        help: "write alerts and summaries as JSON Lines (`-` = stdout)",
    },
    Flag {
        names: &["--home"],
        takes: Takes::Value("NETS"),
        help: "the protected addresses, e.g. 10.0.0.0/8,fd00::/8 (default: this host's addresses with -i, every destination with -r and --log)",
    },
    Flag {
        names: &["--allow"],
        takes: Takes::Value("NETS"),
        help: "never alert on these sources (their probes are counted in --stats)",
    },
    Flag {
        names: &["--stats"],
        takes: Takes::Nothing,
        help: "print packet, probe and state counters at the end (stderr)",
    },
    Flag {
        names: &["--threshold"],
        takes: Takes::Value("N"),
        help: "failed first contacts (net of successful ones) that make a scanner (default 4)",
    },
    Flag {
        names: &["--reply-timeout"],
        takes: Takes::Value("TIME"),
        help: "silence after which an unanswered probe has failed (default 3s)",
    },
    Flag {
        names: &["--idle-timeout"],
        takes: Takes::Value("TIME"),
        help: "a campaign without probes for this long has ended (default 20m)",
    },
    Flag {
        names: &["--max-sources"],
        takes: Takes::Value("N"),
        help: "most sources held at once; the oldest one-probe sources go first (default 50000)",
    },
    Flag {
        names: &["--duration"],
        takes: Takes::Value("TIME"),
        help: "with -i: stop after this long",
    },
    HELP,
];

/// The help text of `monban detect`, from [`FLAGS`].
pub fn help() -> String {
    let mut s = String::from(
        "monban detect: find port scans in traffic and firewall logs; name their technique, kind and tool

USAGE
  monban detect -r FILE [options]
  monban detect -i IFACE [options]
  monban detect --log FILE [--log FILE...] [options]

OPTIONS
",
    );
    s.push_str(&options(FLAGS));
    s.push_str(
        "
Without -oJ, one line per alert as it happens and a summary table at the end (stdout).
Times are the packets' own: a file is analysed at the speed of reading it.
",
    );
    s
}

fn nets(flag: &str, v: &str) -> Result<Vec<Net>, ArgError> {
    Net::parse_list(v).map_err(|e| ArgError(format!("{flag}: {e}")))
}

fn time(flag: &str, v: &str) -> Result<Duration, ArgError> {
    parse_time(v).filter(|d| !d.is_zero()).ok_or_else(|| {
        ArgError(format!(
            "{flag} needs a time such as 500ms, 30s or 5m, got {v:?}"
        ))
    })
}

fn number<T: std::str::FromStr + PartialOrd + From<u8>>(
    flag: &str,
    v: &str,
) -> Result<T, ArgError> {
    match v.parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        _ => Err(ArgError(format!(
            "{flag} needs a positive number, got {v:?}"
        ))),
    }
}

/// A `--format` name.
pub fn log_format(v: &str) -> Result<LogFormat, ArgError> {
    [
        LogFormat::Kernel,
        LogFormat::JournalJson,
        LogFormat::Pfirewall,
        LogFormat::PersonalFirewallJa,
    ]
    .into_iter()
    .find(|f| f.name() == v)
    .ok_or_else(|| {
        ArgError(format!(
            "--format needs kernel, journal-json, pfirewall or personal-firewall-ja, got {v:?}"
        ))
    })
}

/// A `--year`: the year of syslog dates.
pub fn log_year(v: &str) -> Result<i32, ArgError> {
    match v.parse::<i32>() {
        Ok(y) if (1970..=9999).contains(&y) => Ok(y),
        _ => Err(ArgError(format!(
            "--year needs a year such as 2026, got {v:?}"
        ))),
    }
}

/// What the parse of `monban detect ARGS` gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Run the detector.
    Run(Box<DetectPlan>),
    /// Print the help.
    Help,
}

/// Parses the arguments after `detect`.
pub fn parse(args: &[String]) -> Result<Parsed, ArgError> {
    let mut file = None;
    let mut iface = None;
    let d = monban_detect::Config::default();
    let mut plan = DetectPlan {
        input: DetectInput::File(PathBuf::new()),
        json: None,
        home: None,
        allow: Vec::new(),
        stats: false,
        threshold: d.threshold,
        reply_timeout: d.reply_timeout,
        idle_timeout: d.idle_timeout,
        max_sources: d.max_sources,
        duration: None,
        format: None,
        follow: false,
        year: None,
    };
    let mut logs = Vec::new();
    let split = SplitOptions {
        dash: true,
        ..SplitOptions::LONG
    };
    for arg in sub::args("detect", FLAGS, args, split) {
        let (id, name, value) = match arg? {
            Arg::Flag { id, name, value } => (id, name, value),
            Arg::Positional(arg) => {
                return Err(ArgError(format!(
                    "unexpected argument {arg:?}: give the input with -r FILE or -i IFACE"
                )))
            }
            Arg::Help => return Ok(Parsed::Help),
        };
        match id {
            "-r" => file = Some(PathBuf::from(value)),
            "-i" => iface = Some(value),
            "-oJ" => plan.json = Some(PathBuf::from(value)),
            "--home" => plan.home = Some(nets(name, &value)?),
            "--allow" => plan.allow.extend(nets(name, &value)?),
            "--stats" => plan.stats = true,
            "--threshold" => plan.threshold = number::<i32>(name, &value)?,
            "--reply-timeout" => plan.reply_timeout = time(name, &value)?,
            "--idle-timeout" => plan.idle_timeout = time(name, &value)?,
            "--max-sources" => plan.max_sources = number::<usize>(name, &value)?,
            "--duration" => plan.duration = Some(time(name, &value)?),
            "--log" => logs.push(PathBuf::from(value)),
            "--format" => plan.format = Some(log_format(&value)?),
            "--follow" => plan.follow = true,
            "--year" => plan.year = Some(log_year(&value)?),
            _ => unreachable!("no case for {id}"),
        }
    }
    let inputs =
        usize::from(file.is_some()) + usize::from(iface.is_some()) + usize::from(!logs.is_empty());
    if inputs > 1 {
        return Err(ArgError(
            "give one input: -r FILE, -i IFACE or --log FILE, not several".into(),
        ));
    }
    plan.input = match (file, iface) {
        (Some(f), _) => DetectInput::File(f),
        (_, Some(i)) => DetectInput::Live(i),
        _ if !logs.is_empty() => DetectInput::Logs(logs),
        _ => {
            return Err(ArgError(
                "no input: give -r FILE (a pcap or pcapng file, - = stdin), -i IFACE (live) \
                 or --log FILE (a firewall log)"
                    .into(),
            ))
        }
    };
    let on_logs = matches!(plan.input, DetectInput::Logs(_));
    if !on_logs && (plan.follow || plan.format.is_some() || plan.year.is_some()) {
        return Err(ArgError(
            "--follow, --format and --year apply to firewall logs (--log) only".into(),
        ));
    }
    if plan.follow {
        if let DetectInput::Logs(l) = &plan.input {
            if l.len() != 1 || l.iter().any(|p| p.as_os_str() == "-") {
                return Err(ArgError("--follow follows one file (not stdin)".into()));
            }
        }
    }
    if plan.duration.is_some() && !matches!(plan.input, DetectInput::Live(_)) {
        return Err(ArgError(
            "--duration applies to live capture (-i) only".into(),
        ));
    }
    Ok(Parsed::Run(Box::new(plan)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, ArgError> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn plan(args: &[&str]) -> DetectPlan {
        match run(args) {
            Ok(Parsed::Run(p)) => *p,
            other => panic!("{other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        run(args).unwrap_err().0
    }

    #[test]
    fn reads_every_flag() {
        let p = plan(&[
            "-r",
            "x.pcap",
            "-oJ",
            "-",
            "--home",
            "10.0.0.0/8,fd00::/8",
            "--allow=10.1.0.0/16",
            "--stats",
            "--threshold",
            "6",
            "--reply-timeout",
            "500ms",
            "--idle-timeout",
            "1h",
            "--max-sources",
            "1000",
        ]);
        assert_eq!(p.input, DetectInput::File("x.pcap".into()));
        assert_eq!(p.json, Some(PathBuf::from("-")));
        assert_eq!(p.home.as_ref().map(Vec::len), Some(2));
        assert_eq!(p.allow.len(), 1);
        assert!(p.stats);
        assert_eq!(p.threshold, 6);
        assert_eq!(p.reply_timeout, Duration::from_millis(500));
        assert_eq!(p.idle_timeout, Duration::from_secs(3600));
        assert_eq!(p.max_sources, 1000);
        let p = plan(&["-i", "eth0", "--duration", "5s"]);
        assert_eq!(p.input, DetectInput::Live("eth0".into()));
        assert_eq!(p.duration, Some(Duration::from_secs(5)));
        assert_eq!(run(&["-r", "x", "--help"]), Ok(Parsed::Help));
        let p = plan(&[
            "--log", "a.log", "--log", "-", "--format", "kernel", "--year", "2001",
        ]);
        assert_eq!(p.input, DetectInput::Logs(vec!["a.log".into(), "-".into()]));
        assert_eq!((p.format, p.year), (Some(LogFormat::Kernel), Some(2001)));
        assert!(plan(&["--log", "a.log", "--follow"]).follow);
    }

    #[test]
    fn help_gives_the_detectors_own_defaults() {
        let d = monban_detect::Config::default();
        let h = help();
        assert!(h.contains(&format!("(default {})", d.threshold)));
        assert!(h.contains(&format!("(default {}s)", d.reply_timeout.as_secs())));
        assert!(h.contains(&format!("(default {}m)", d.idle_timeout.as_secs() / 60)));
        assert!(h.contains(&format!("(default {})", d.max_sources)));
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert!(err(&[]).starts_with("no input"));
        assert_eq!(
            err(&["-r", "a", "-i", "b"]),
            "give one input: -r FILE, -i IFACE or --log FILE, not several"
        );
        assert!(err(&["-r", "a", "--follow"]).contains("--log"));
        assert!(err(&["--log", "a", "--format", "csv"]).contains("--format needs"));
        assert!(err(&["--log", "a", "--log", "b", "--follow"]).contains("one file"));
        assert!(err(&["--log", "a", "--year", "20x6"]).contains("--year"));
        assert_eq!(err(&["-r"]), "-r needs FILE");
        assert!(err(&["-r", "a", "--bogus"]).starts_with("unknown option \"--bogus\""));
        assert!(err(&["-r", "a", "stray"]).starts_with("unexpected argument \"stray\""));
        assert!(err(&["-r", "a", "--home", "10.0.0.0/40"]).contains("prefix length"));
        assert!(err(&["-r", "a", "--threshold", "0"]).contains("positive number"));
        assert!(err(&["-r", "a", "--reply-timeout", "soon"]).contains("a time"));
        assert!(err(&["-r", "a", "--duration", "5s"]).contains("live capture"));
        assert_eq!(err(&["-r", "a", "--stats=yes"]), "--stats takes no value");
    }

    #[test]
    fn help_lists_exactly_the_flags_the_parser_takes() {
        let h = help();
        for f in FLAGS {
            for n in f.names {
                assert!(h.contains(n), "help lacks {n}");
                // Every spelling the help shows is accepted.
                let mut args = vec!["-r".to_string(), "x".to_string()];
                args.push(n.to_string());
                if let Takes::Value(_) = f.takes {
                    args.push(match *n {
                        "--home" | "--allow" => "10.0.0.0/8".into(),
                        "--reply-timeout" | "--idle-timeout" | "--duration" => "1s".into(),
                        "--threshold" | "--max-sources" => "3".into(),
                        "--format" => "kernel".into(),
                        "--year" => "2001".into(),
                        _ => "v".into(),
                    });
                }
                if matches!(*n, "--log" | "--format" | "--follow" | "--year") {
                    args.drain(..2);
                    if *n != "--log" {
                        args.extend(["--log".into(), "x.log".into()]);
                    }
                }
                if *n == "-i" || *n == "--duration" {
                    args.drain(..2);
                    if *n == "--duration" {
                        args.extend(["-i".into(), "lo".into()]);
                    }
                }
                assert!(parse(&args).is_ok(), "{args:?}: {:?}", parse(&args));
            }
        }
        // And the help shows no flag the table lacks.
        for word in h.split_whitespace() {
            let w = word.trim_matches(|c: char| matches!(c, ',' | '`' | '(' | ')' | ':'));
            let looks_like_flag = w.len() > 1
                && w.starts_with('-')
                && w.trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && w.chars()
                    .nth(1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '-');
            if looks_like_flag {
                assert!(
                    sub::find(FLAGS, w).is_some(),
                    "help names {w}, the parser does not"
                );
            }
        }
    }
}
