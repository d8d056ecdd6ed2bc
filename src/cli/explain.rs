//! `monban explain`: its flags → an [`ExplainPlan`]. As for `detect`, one table defines
//! every flag once, and the parser and the help text both come from it.

use std::path::PathBuf;

use monban_detect::log::LogFormat;

use super::detect::{log_format, log_year};
use super::sub::{self, options, Arg, Flag, SplitOptions, Takes, HELP};
use super::ArgError;

/// What to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainInput {
    /// The records of a file (`-` = stdin).
    File(PathBuf),
    /// One log line given on the command line.
    Line(String),
}

/// A validated `monban explain` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainPlan {
    /// The records.
    pub input: ExplainInput,
    /// JSON Lines to this file (`-` = stdout) instead of text.
    pub json: Option<PathBuf>,
    /// Every line is in this format.
    pub format: Option<LogFormat>,
    /// The year of syslog dates.
    pub year: Option<i32>,
}

const FLAGS: &[Flag] = &[
    Flag {
        names: &["-oJ"],
        takes: Takes::Value("FILE"),
        help: "one JSON object per record (`-` = stdout) instead of text",
    },
    Flag {
        names: &["--format"],
        takes: Takes::Value("NAME"),
        help: "every line is in this format: kernel, journal-json, pfirewall, personal-firewall-ja (default: detected per line)",
    },
    Flag {
        names: &["--year"],
        takes: Takes::Value("N"),
        help: "the year of syslog dates, which carry none (default: this year)",
    },
    HELP,
];

/// The help text of `monban explain`.
pub fn help() -> String {
    let mut s = String::from(
        "monban explain: what a firewall log record means, in plain words

USAGE
  monban explain FILE | - [options]
  monban explain 'ONE LOG LINE' [options]

For each record: direction, action, protocol, addresses and ports, the service and its
port class, the risk note, what kind of packet it was and what that suggests, the scan the
source is part of (found in the same input), the worms known for that port at that date,
and what to do.

OPTIONS
",
    );
    s.push_str(&options(FLAGS));
    s
}

/// What the parse of `monban explain ARGS` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Explain.
    Run(Box<ExplainPlan>),
    /// Print the help.
    Help,
}

/// Parses the arguments after `explain`. An argument that names an existing file (or `-`)
/// is read as a file; any other is the log line itself.
pub fn parse(args: &[String], file_exists: &dyn Fn(&str) -> bool) -> Result<Parsed, ArgError> {
    let mut plan = ExplainPlan {
        input: ExplainInput::Line(String::new()),
        json: None,
        format: None,
        year: None,
    };
    let mut what: Option<String> = None;
    // No `--name=value` here; an argument with a space is a log line, even if it starts
    // with `-`.
    let split = SplitOptions {
        inline: false,
        dash: true,
        spaced: true,
        ..SplitOptions::LONG
    };
    for arg in sub::args("explain", FLAGS, args, split) {
        let (id, value) = match arg? {
            Arg::Flag { id, value, .. } => (id, value),
            Arg::Positional(arg) => {
                if what.is_some() {
                    return Err(ArgError(
                        "explain takes one file or one line (quote the line)".into(),
                    ));
                }
                what = Some(arg);
                continue;
            }
            Arg::Help => return Ok(Parsed::Help),
        };
        match id {
            "-oJ" => plan.json = Some(PathBuf::from(value)),
            "--format" => plan.format = Some(log_format(&value)?),
            "--year" => plan.year = Some(log_year(&value)?),
            _ => unreachable!("no case for {id}"),
        }
    }
    let what = what.ok_or_else(|| {
        ArgError("nothing to explain: give a log file, - for stdin, or one quoted log line".into())
    })?;
    plan.input = if what == "-" || file_exists(&what) {
        ExplainInput::File(PathBuf::from(what))
    } else {
        ExplainInput::Line(what)
    };
    Ok(Parsed::Run(Box::new(plan)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, ArgError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&args, &|p| p == "fw.log")
    }

    #[test]
    fn files_lines_and_flags() {
        let Ok(Parsed::Run(p)) = run(&["fw.log", "-oJ", "-", "--year", "2001"]) else {
            panic!()
        };
        assert_eq!(p.input, ExplainInput::File("fw.log".into()));
        assert_eq!((p.json, p.year), (Some(PathBuf::from("-")), Some(2001)));
        let line = "Nov 20 16:22:45 h kernel: DROP IN=eth0 OUT= SRC=192.0.2.1 DST=10.0.0.1";
        let Ok(Parsed::Run(p)) = run(&[line]) else {
            panic!()
        };
        assert_eq!(p.input, ExplainInput::Line(line.into()));
        let Ok(Parsed::Run(p)) = run(&["-", "--format", "pfirewall"]) else {
            panic!()
        };
        assert_eq!(p.input, ExplainInput::File("-".into()));
        assert_eq!(p.format, Some(LogFormat::Pfirewall));
        assert_eq!(run(&["x", "--help"]), Ok(Parsed::Help));
    }

    #[test]
    fn mistakes() {
        assert!(run(&[]).unwrap_err().0.starts_with("nothing to explain"));
        assert!(run(&["a b", "c d"])
            .unwrap_err()
            .0
            .contains("one file or one line"));
        assert!(run(&["--bogus"]).unwrap_err().0.contains("unknown option"));
        assert!(run(&["fw.log", "-oJ"])
            .unwrap_err()
            .0
            .contains("-oJ needs FILE"));
        assert!(run(&["fw.log", "--year", "0"])
            .unwrap_err()
            .0
            .contains("--year"));
    }

    #[test]
    fn help_lists_every_flag() {
        let h = help();
        for f in FLAGS {
            for n in f.names {
                assert!(h.contains(n), "{n}");
            }
        }
    }
}
