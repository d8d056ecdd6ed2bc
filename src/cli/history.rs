//! `monban history` and `monban show`: their flags → [`HistoryPlan`], [`ShowPlan`].
//!
//! One table per command defines every flag once; parser and help come from it.

use std::path::PathBuf;

use super::sub::{self, options, Arg, Flag, SplitOptions, Takes, HELP};
use super::{ArgError, OutputFormat};

/// A validated `monban history` command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryPlan {
    /// Only scans of this target (an address or name of a host in them, or their targets
    /// as given).
    pub target: Option<String>,
    /// The database (`None`: the default one).
    pub db: Option<String>,
    /// One JSON object per scan instead of the table.
    pub json: bool,
}

/// A validated `monban show` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowPlan {
    /// The stored scan.
    pub id: i64,
    /// The database (`None`: the default one).
    pub db: Option<String>,
    /// Outputs (`-` = stdout); none: the normal output on stdout.
    pub outputs: Vec<(OutputFormat, PathBuf)>,
    /// `--reason`.
    pub reason: bool,
    /// `--audit`.
    pub audit: bool,
    /// `--open`.
    pub open_only: bool,
    /// `-v`.
    pub verbose: u8,
}

const DB: Flag = Flag {
    names: &["--db"],
    takes: Takes::Value("FILE|URL"),
    help: "the database (default ~/.local/share/monban/history.db; or postgres://...)",
};

const HISTORY_FLAGS: &[Flag] = &[
    DB,
    Flag {
        names: &["--json"],
        takes: Takes::Nothing,
        help: "one JSON object per scan (JSON Lines) instead of the table",
    },
    HELP,
];

const SHOW_FLAGS: &[Flag] = &[
    DB,
    Flag {
        names: &["-oN"],
        takes: Takes::Value("FILE"),
        help: "normal output to FILE (- = stdout; the default)",
    },
    Flag {
        names: &["-oX"],
        takes: Takes::Value("FILE"),
        help: "XML (nmap's format) to FILE",
    },
    Flag {
        names: &["-oG"],
        takes: Takes::Value("FILE"),
        help: "grepable output to FILE",
    },
    Flag {
        names: &["-oJ"],
        takes: Takes::Value("FILE"),
        help: "JSON Lines to FILE",
    },
    Flag {
        names: &["--reason"],
        takes: Takes::Nothing,
        help: "show why each port has its state",
    },
    Flag {
        names: &["--audit"],
        takes: Takes::Nothing,
        help: "a verdict per host (exposed, visible, stealth), as scan --audit",
    },
    Flag {
        names: &["--open"],
        takes: Takes::Nothing,
        help: "show only open ports",
    },
    Flag {
        names: &["-v"],
        takes: Takes::Nothing,
        help: "more detail (repeat: -v -v)",
    },
    HELP,
];

/// The help of `monban history`.
pub fn history_help() -> String {
    format!(
        "monban history: the scans stored with monban scan --db, newest first

USAGE
  monban history [TARGET] [options]

TARGET: an address or host name scanned, or a scan's targets exactly as given.
Each line: the scan's id (for monban show and monban diff), when it started and how
long it ran, hosts up of hosts stored, open ports, shards ended of shards, the targets,
and the command line.

OPTIONS
{}",
        options(HISTORY_FLAGS)
    )
}

/// The help of `monban show`.
pub fn show_help() -> String {
    format!(
        "monban show: one stored scan again, in any output format, as the scan wrote it

USAGE
  monban show ID [options]

OPTIONS
{}",
        options(SHOW_FLAGS)
    )
}

/// Splits `args` by `flags`: (flag's first name, value) pairs and positional arguments
/// (`-` among them); `None` for `-h`.
#[allow(clippy::type_complexity)]
fn split(
    cmd: &str,
    flags: &'static [Flag],
    args: &[String],
) -> Result<Option<(Vec<(&'static str, String)>, Vec<String>)>, ArgError> {
    let mut given = Vec::new();
    let mut rest = Vec::new();
    let split = SplitOptions {
        dash: true,
        ..SplitOptions::LONG
    };
    for arg in sub::args(cmd, flags, args, split) {
        match arg? {
            Arg::Flag { id, value, .. } => given.push((id, value)),
            Arg::Positional(arg) => rest.push(arg),
            Arg::Help => return Ok(None),
        }
    }
    Ok(Some((given, rest)))
}

/// Parses the arguments after `history`; `None` for the help.
pub fn parse_history(args: &[String]) -> Result<Option<HistoryPlan>, ArgError> {
    let Some((given, rest)) = split("history", HISTORY_FLAGS, args)? else {
        return Ok(None);
    };
    if rest.len() > 1 {
        return Err(ArgError(format!(
            "history takes one target at most, got {rest:?}"
        )));
    }
    let mut plan = HistoryPlan {
        target: rest.into_iter().next(),
        ..HistoryPlan::default()
    };
    for (name, v) in given {
        match name {
            "--db" => plan.db = Some(v),
            _ => plan.json = true,
        }
    }
    Ok(Some(plan))
}

/// Parses the arguments after `show`; `None` for the help.
pub fn parse_show(args: &[String]) -> Result<Option<ShowPlan>, ArgError> {
    let Some((given, rest)) = split("show", SHOW_FLAGS, args)? else {
        return Ok(None);
    };
    let id = match rest.as_slice() {
        [one] => one.parse::<i64>().ok().filter(|&i| i > 0).ok_or_else(|| {
            ArgError(format!(
                "show needs a stored scan's id (monban history lists them), got {one:?}"
            ))
        })?,
        _ => {
            return Err(ArgError(
                "show needs one stored scan's id (monban history lists them)".into(),
            ))
        }
    };
    let mut plan = ShowPlan {
        id,
        db: None,
        outputs: Vec::new(),
        reason: false,
        audit: false,
        open_only: false,
        verbose: 0,
    };
    for (name, v) in given {
        match name {
            "--db" => plan.db = Some(v),
            "-oN" => plan.outputs.push((OutputFormat::Normal, v.into())),
            "-oX" => plan.outputs.push((OutputFormat::Xml, v.into())),
            "-oG" => plan.outputs.push((OutputFormat::Grepable, v.into())),
            "-oJ" => plan.outputs.push((OutputFormat::Json, v.into())),
            "--reason" => plan.reason = true,
            "--audit" => plan.audit = true,
            "--open" => plan.open_only = true,
            _ => plan.verbose = plan.verbose.saturating_add(1),
        }
    }
    let stdout = plan
        .outputs
        .iter()
        .filter(|(_, p)| p.as_os_str() == "-")
        .count();
    if stdout > 1 {
        return Err(ArgError("only one output can go to stdout (-)".into()));
    }
    Ok(Some(plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn helps_list_every_flag_and_the_parsers_take_them() {
        for (flags, help, parse) in [
            (HISTORY_FLAGS, history_help(), 0),
            (SHOW_FLAGS, show_help(), 1),
        ] {
            for f in flags {
                for n in f.names {
                    assert!(help.contains(n), "{n}");
                    let mut args = v(&[n]);
                    if f.takes != Takes::Nothing {
                        args.push("x".into());
                    }
                    if parse == 1 {
                        args.push("3".into());
                    }
                    let ok = if parse == 0 {
                        parse_history(&args).is_ok()
                    } else {
                        parse_show(&args).is_ok()
                    };
                    assert!(ok, "{n}");
                }
            }
        }
    }

    #[test]
    fn plans() {
        assert_eq!(
            parse_history(&v(&[])).unwrap(),
            Some(HistoryPlan::default())
        );
        let h = parse_history(&v(&["10.0.0.5", "--db=x.db", "--json"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.target.as_deref(), h.db.as_deref(), h.json),
            (Some("10.0.0.5"), Some("x.db"), true)
        );
        assert_eq!(parse_history(&v(&["-h"])).unwrap(), None);
        let s = parse_show(&v(&[
            "7", "-oX", "-", "-oJ", "s.jsonl", "--reason", "-v", "-v",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.id, 7);
        assert_eq!(s.outputs.len(), 2);
        assert!(s.reason && !s.open_only);
        assert_eq!(s.verbose, 2);
    }

    #[test]
    fn bad_command_lines() {
        assert!(parse_history(&v(&["a", "b"])).is_err());
        assert!(parse_history(&v(&["--bogus"])).is_err());
        assert!(parse_history(&v(&["--db"])).is_err());
        assert!(parse_history(&v(&["--json=1"])).is_err());
        for bad in [
            &[][..],
            &["x"],
            &["0"],
            &["-3"],
            &["1", "2"],
            &["1", "-oX", "-", "-oJ", "-"],
        ] {
            assert!(parse_show(&v(bad)).is_err(), "{bad:?}");
        }
    }
}
