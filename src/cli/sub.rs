//! The flag machinery the subcommands share (`detect`, `explain`, `local`, `diff`,
//! `history`, `show`, `serve`): a table of [`Flag`]s gives both the OPTIONS lines of the
//! help ([`options`]) and the parser ([`args`]), so the two cannot disagree. Each command
//! keeps its own table and help text. (`monban scan` has a richer table, in `flags`.)

use super::ArgError;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Takes {
    Nothing,
    /// A value, named so in the help and the "needs" error (`-r FILE`).
    Value(&'static str),
}

/// One flag: its spellings (the first identifies it), its value, its help line.
pub(crate) struct Flag {
    pub names: &'static [&'static str],
    pub takes: Takes,
    pub help: &'static str,
}

/// `-h, --help`: every command's; the parser gives [`Arg::Help`] for it.
pub(crate) const HELP: Flag = Flag {
    names: &["-h", "--help"],
    takes: Takes::Nothing,
    help: "show this help",
};

/// The OPTIONS lines of a help text, one a flag: `  -r FILE    help`.
pub(crate) fn options(flags: &[Flag]) -> String {
    let mut s = String::new();
    for f in flags {
        let mut left = f.names.join(", ");
        if let Takes::Value(v) = f.takes {
            left.push(' ');
            left.push_str(v);
        }
        s.push_str(&format!("  {left:<24} {}\n", f.help));
    }
    s
}

/// The flag of `flags` spelled `name`, and that spelling.
fn lookup(flags: &'static [Flag], name: &str) -> Option<(&'static Flag, &'static str)> {
    flags
        .iter()
        .find_map(|f| f.names.iter().find(|n| **n == name).map(|n| (f, *n)))
}

/// The flag of `flags` spelled `name`.
#[cfg(test)]
pub(crate) fn find(flags: &'static [Flag], name: &str) -> Option<&'static Flag> {
    lookup(flags, name).map(|(f, _)| f)
}

/// How a command reads its arguments, beyond the flags of its table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitOptions {
    /// `--name=value` gives a long flag its value (else the whole argument names a flag).
    pub inline: bool,
    /// `-` is a positional argument (stdin), not an unknown option.
    pub dash: bool,
    /// `--` ends the options: every later argument is positional.
    pub end: bool,
    /// An argument with a space is positional even if it starts with `-` (a quoted line).
    pub spaced: bool,
    /// Flags whose value may be glued on: `-p22` as well as `-p 22`.
    pub glued: &'static [&'static str],
}

impl SplitOptions {
    /// `--name=value` and nothing more: `-` is an unknown option, `--` too.
    pub const LONG: SplitOptions = SplitOptions {
        inline: true,
        dash: false,
        end: false,
        spaced: false,
        glued: &[],
    };
}

/// One argument, as [`args`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// A flag of the table: `id` its first name, `name` the spelling given, `value` its
    /// value (empty for a flag that takes none).
    Flag {
        id: &'static str,
        name: &'static str,
        value: String,
    },
    /// An argument that is not an option.
    Positional(String),
    /// `-h` or `--help`: the last argument read.
    Help,
}

/// Reads `args` by the table `flags`, in order, one [`Arg`] at a time, so that a command
/// checks each value as it comes, before any later argument. A value comes from
/// `--name=value` (with [`SplitOptions::inline`]), glued on (`-p22`, for the flags of
/// [`SplitOptions::glued`]) or as the next argument, whatever it looks like. Errors:
/// `unknown option "ARG" for CMD (see monban CMD --help)`, `NAME takes no value`,
/// `NAME needs WHAT`. The reading ends at the first error or at [`Arg::Help`].
pub(crate) fn args<'a>(
    cmd: &'a str,
    flags: &'static [Flag],
    args: &'a [String],
    opts: SplitOptions,
) -> Args<'a> {
    Args {
        cmd,
        flags,
        args: args.iter(),
        opts,
        options_done: false,
        done: false,
    }
}

/// The iterator of [`args`].
pub(crate) struct Args<'a> {
    cmd: &'a str,
    flags: &'static [Flag],
    args: std::slice::Iter<'a, String>,
    opts: SplitOptions,
    options_done: bool,
    done: bool,
}

impl Args<'_> {
    fn read(&mut self, arg: &str) -> Result<Arg, ArgError> {
        let o = self.opts;
        if self.options_done
            || !arg.starts_with('-')
            || (o.dash && arg == "-")
            || (o.spaced && arg.contains(' '))
        {
            return Ok(Arg::Positional(arg.to_string()));
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if o.inline && n.starts_with("--") => (n, Some(v)),
            _ => (arg, None),
        };
        let glued = o.glued.iter().find_map(|g| {
            let rest = name.strip_prefix(g).filter(|r| !r.is_empty())?;
            Some((*g, rest))
        });
        let (name, inline) = match glued {
            Some((g, rest)) if inline.is_none() => (g, Some(rest)),
            _ => (name, inline),
        };
        let Some((f, name)) = lookup(self.flags, name) else {
            let cmd = self.cmd;
            return Err(ArgError(format!(
                "unknown option {arg:?} for {cmd} (see monban {cmd} --help)"
            )));
        };
        let value = match f.takes {
            Takes::Nothing if inline.is_some() => {
                return Err(ArgError(format!("{name} takes no value")))
            }
            Takes::Nothing => String::new(),
            Takes::Value(what) => match inline.map(str::to_string) {
                Some(v) => v,
                None => self
                    .args
                    .next()
                    .cloned()
                    .ok_or_else(|| ArgError(format!("{name} needs {what}")))?,
            },
        };
        if f.names == HELP.names {
            return Ok(Arg::Help);
        }
        Ok(Arg::Flag {
            id: f.names[0],
            name,
            value,
        })
    }
}

impl Iterator for Args<'_> {
    type Item = Result<Arg, ArgError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut arg = self.args.next()?;
        if self.opts.end && !self.options_done && arg == "--" {
            self.options_done = true;
            arg = self.args.next()?;
        }
        let read = self.read(arg);
        self.done = matches!(read, Ok(Arg::Help) | Err(_));
        Some(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag {
            names: &["-p"],
            takes: Takes::Value("PORTS"),
            help: "ports",
        },
        Flag {
            names: &["-t", "--tcp"],
            takes: Takes::Nothing,
            help: "tcp",
        },
        Flag {
            names: &["--db"],
            takes: Takes::Value("FILE"),
            help: "database",
        },
        HELP,
    ];

    fn read(opts: SplitOptions, args: &[&str]) -> Result<Vec<Arg>, ArgError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self::args("x", FLAGS, &args, opts).collect()
    }

    fn flag(id: &'static str, name: &'static str, value: &str) -> Arg {
        Arg::Flag {
            id,
            name,
            value: value.into(),
        }
    }

    fn err(opts: SplitOptions, args: &[&str]) -> String {
        read(opts, args).unwrap_err().0
    }

    #[test]
    fn options_lines() {
        assert_eq!(
            options(&FLAGS[..2]),
            format!("  {:<24} ports\n  {:<24} tcp\n", "-p PORTS", "-t, --tcp")
        );
    }

    #[test]
    fn flags_values_and_positionals() {
        let long = SplitOptions::LONG;
        assert_eq!(
            read(long, &["a", "--tcp", "--db=x=y", "-p", "--db", "b"]).unwrap(),
            [
                Arg::Positional("a".into()),
                flag("-t", "--tcp", ""),
                flag("--db", "--db", "x=y"),
                flag("-p", "-p", "--db"),
                Arg::Positional("b".into()),
            ]
        );
        // Help ends the reading: what follows is not looked at.
        assert_eq!(
            read(long, &["-t", "--help", "--bogus"]).unwrap(),
            [flag("-t", "-t", ""), Arg::Help]
        );
        let glued = SplitOptions {
            glued: &["-p"],
            ..long
        };
        assert_eq!(read(glued, &["-p22"]).unwrap(), [flag("-p", "-p", "22")]);
        assert_eq!(
            err(long, &["-p22"]),
            "unknown option \"-p22\" for x (see monban x --help)"
        );
        let end = SplitOptions {
            dash: true,
            end: true,
            ..long
        };
        assert_eq!(
            read(end, &["-", "--", "-t", "--"]).unwrap(),
            [
                Arg::Positional("-".into()),
                Arg::Positional("-t".into()),
                Arg::Positional("--".into()),
            ]
        );
        let line = SplitOptions {
            inline: false,
            spaced: true,
            ..long
        };
        assert_eq!(
            read(line, &["-a b"]).unwrap(),
            [Arg::Positional("-a b".into())]
        );
        assert!(err(line, &["--db=x"]).starts_with("unknown option \"--db=x\""));
    }

    #[test]
    fn errors() {
        let long = SplitOptions::LONG;
        assert_eq!(
            err(long, &["-"]),
            "unknown option \"-\" for x (see monban x --help)"
        );
        assert_eq!(
            err(long, &["--"]),
            "unknown option \"--\" for x (see monban x --help)"
        );
        assert_eq!(err(long, &["--tcp=1"]), "--tcp takes no value");
        assert_eq!(err(long, &["--help=1"]), "--help takes no value");
        assert_eq!(
            err(long, &["-t=1"]),
            "unknown option \"-t=1\" for x (see monban x --help)"
        );
        assert_eq!(err(long, &["a", "--db"]), "--db needs FILE");
    }
}
