//! `monban diff`: its flags → a validated [`DiffPlan`].
//!
//! One table, [`FLAGS`], defines every flag once; the parser and the help text both come
//! from it.

use std::path::PathBuf;

use super::sub::{self, options, Arg, Flag, SplitOptions, Takes, HELP};
use super::ArgError;

/// How the differences are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffFormat {
    /// `-`/`+` lines like nmap's `ndiff`.
    #[default]
    Text,
    /// One JSON object.
    Json,
    /// One XML document.
    Xml,
}

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// A scan file (`-` = stdin).
    File(PathBuf),
    /// A scan stored with `--db`, by its id.
    Stored(i64),
}

/// A validated `monban diff` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffPlan {
    /// The scans named: two (A, B), one stored scan (compared with the one before it),
    /// or none (the newest stored scan and the one before it).
    pub sides: Vec<Side>,
    /// `--db`: where stored scans are (`None`: the default database).
    pub db: Option<String>,
    /// Output format.
    pub format: DiffFormat,
    /// Compare host status and port states only (not services, versions, names).
    pub states_only: bool,
}

/// Every flag of `monban diff`.
const FLAGS: &[Flag] = &[
    Flag {
        names: &["--format"],
        takes: Takes::Value("text|json|xml"),
        help: "how to write the differences (default text: -/+ lines like ndiff)",
    },
    Flag {
        names: &["--db"],
        takes: Takes::Value("FILE|URL"),
        help: "the database of stored scans (default ~/.local/share/monban/history.db)",
    },
    Flag {
        names: &["--states-only"],
        takes: Takes::Nothing,
        help: "compare hosts and port states only, not service names, versions or host names",
    },
    HELP,
];

/// The help text of `monban diff`, from [`FLAGS`].
pub fn help() -> String {
    let mut s = String::from(
        "monban diff: what changed between two scans, like nmap's ndiff

USAGE
  monban diff [options] A B           A the earlier scan, B the later; one may be `-` (stdin)
  monban diff [options] ID            a stored scan (monban scan --db) and the one before it
  monban diff [options]               the newest stored scan and the one before it

A and B are nmap or monban XML (-oX), monban JSON Lines (-oJ), or the ids of scans stored
with --db (monban history lists them), in any mix. \"The one before it\" is the newest
earlier scan of the same targets or of one of its hosts.

OPTIONS
",
    );
    s.push_str(&options(FLAGS));
    s.push_str(
        "  --                       end of options (for a file whose name starts with -)

Reported: hosts added or removed, host status (up/down) and name changes, ports whose
state changed (a port listed in one scan is compared with the other's \"Not shown\"
summary), ports one scan lists and the other did not scan, and service, product or
version changes on ports open in both. Lines of A are marked -, of B +.

EXIT STATUS
  0  the scans do not differ
  1  they differ
  2  trouble: a bad command line, a file that cannot be read or is not a scan
",
    );
    s
}

/// What the parse gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run.
    Run(Box<DiffPlan>),
    /// Print the help.
    Help,
}

fn format(v: &str) -> Result<DiffFormat, ArgError> {
    match v {
        "text" => Ok(DiffFormat::Text),
        "json" => Ok(DiffFormat::Json),
        "xml" => Ok(DiffFormat::Xml),
        _ => Err(ArgError(format!(
            "diff: unknown --format {v:?} (text, json or xml)"
        ))),
    }
}

/// A stored scan's id: digits, and no file of that name (`exists`).
fn stored(arg: &str, exists: &dyn Fn(&str) -> bool) -> Option<i64> {
    (arg.len() <= 18 && arg.bytes().all(|b| b.is_ascii_digit()) && !exists(arg))
        .then(|| arg.parse().ok())
        .flatten()
}

/// Parses the arguments after `diff`; `exists` tells whether a file of that name exists
/// (`7` is a stored scan's id unless a file is named `7`).
pub fn parse(args: &[String], exists: &dyn Fn(&str) -> bool) -> Result<Parsed, ArgError> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut db = None;
    let mut fmt = DiffFormat::Text;
    let mut states_only = false;
    // `-` is stdin; `--` ends the options (for a file whose name starts with -).
    let split = SplitOptions {
        dash: true,
        end: true,
        ..SplitOptions::LONG
    };
    for arg in sub::args("diff", FLAGS, args, split) {
        let (id, value) = match arg? {
            Arg::Flag { id, value, .. } => (id, value),
            Arg::Positional(arg) => {
                files.push(PathBuf::from(arg));
                continue;
            }
            Arg::Help => return Ok(Parsed::Help),
        };
        match id {
            "--format" => fmt = format(&value)?,
            "--db" => db = Some(value),
            "--states-only" => states_only = true,
            _ => unreachable!("no case for {id}"),
        }
    }
    let sides: Vec<Side> = files
        .into_iter()
        .map(|f| match f.to_str().and_then(|t| stored(t, exists)) {
            Some(id) => Side::Stored(id),
            None => Side::File(f),
        })
        .collect();
    match sides.as_slice() {
        [] | [Side::Stored(_)] => {}
        [Side::File(f)] => {
            return Err(ArgError(format!(
                "diff needs exactly two scans, A and B; {} is one (a stored scan's id alone is compared with the one before it)",
                f.display()
            )))
        }
        [_, _] => {}
        more => {
            return Err(ArgError(format!(
                "diff needs exactly two scans, A and B; got {} (see monban diff --help)",
                more.len()
            )))
        }
    }
    let stdin = sides
        .iter()
        .filter(|s| matches!(s, Side::File(f) if f.as_os_str() == "-"))
        .count();
    if stdin > 1 {
        return Err(ArgError(
            "diff: only one of A and B can be `-` (stdin)".into(),
        ));
    }
    Ok(Parsed::Run(Box::new(DiffPlan {
        sides,
        db,
        format: fmt,
        states_only,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<DiffPlan, ArgError> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v, &|f| f.starts_with('4'))? {
            Parsed::Run(p) => Ok(*p),
            Parsed::Help => Err(ArgError("help".into())),
        }
    }

    #[test]
    fn help_lists_every_flag_the_parser_takes() {
        let h = help();
        for f in FLAGS {
            for n in f.names {
                assert!(h.contains(n), "{n} missing from help");
                let mut args = vec![n.to_string()];
                if let Takes::Value(_) = f.takes {
                    args.push("json".to_string());
                }
                args.extend(["a.xml".to_string(), "b.xml".to_string()]);
                assert!(parse(&args, &|_| true).is_ok(), "{n} rejected");
            }
        }
        for word in ["text", "json", "xml", "EXIT STATUS", "--"] {
            assert!(h.contains(word), "{word} missing from help");
        }
    }

    #[test]
    fn two_files_and_a_format() {
        let file = |f: &str| Side::File(f.into());
        let p = run(&["a.xml", "b.jsonl"]).unwrap();
        assert_eq!(
            p,
            DiffPlan {
                sides: vec![file("a.xml"), file("b.jsonl")],
                db: None,
                format: DiffFormat::Text,
                states_only: false,
            }
        );
        let p = run(&["--format=xml", "-", "b", "--states-only"]).unwrap();
        assert_eq!(
            (&p.sides[0], p.format, p.states_only),
            (&file("-"), DiffFormat::Xml, true)
        );
        assert_eq!(
            run(&["a", "--format", "json", "-"]).unwrap().sides[1],
            file("-")
        );
        let p = run(&["--", "-x.xml", "--format"]).unwrap();
        assert_eq!(p.sides, [file("-x.xml"), file("--format")]);
        assert!(matches!(
            parse(&["-h".to_string()], &|_| true),
            Ok(Parsed::Help)
        ));
        assert!(matches!(
            parse(&["a".to_string(), "--help".to_string()], &|_| true),
            Ok(Parsed::Help)
        ));
        // Stored scans: ids are digits that name no file (here, files start with 4).
        assert_eq!(
            run(&["7", "12"]).unwrap().sides,
            [Side::Stored(7), Side::Stored(12)]
        );
        assert_eq!(
            run(&["7", "b.xml"]).unwrap().sides,
            [Side::Stored(7), file("b.xml")]
        );
        assert_eq!(
            run(&["42", "7"]).unwrap().sides,
            [file("42"), Side::Stored(7)]
        );
        assert_eq!(run(&["7"]).unwrap().sides, [Side::Stored(7)]);
        assert!(run(&[]).unwrap().sides.is_empty());
        assert_eq!(run(&["--db", "x.db"]).unwrap().db.as_deref(), Some("x.db"));
    }

    #[test]
    fn bad_command_lines() {
        for bad in [
            &["a.xml"][..],
            &["42"],
            &["a", "b", "c"],
            &["-", "-"],
            &["--format", "yaml", "a", "b"],
            &["--format"],
            &["--states-only=1", "a", "b"],
            &["--bogus", "a", "b"],
            &["-oX", "a", "b"],
        ] {
            let e = run(bad).unwrap_err();
            assert!(e.0 != "help" && !e.0.is_empty(), "{bad:?}");
        }
        assert!(run(&["a", "b", "c"]).unwrap_err().0.contains("exactly two"));
    }
}
