//! `monban local`: its flags → a validated [`LocalPlan`].
//!
//! One table, [`FLAGS`], defines every flag once; the parser and the help text both come
//! from it.

use std::path::PathBuf;

use monban_engine::ports::{parse_ports, PortList};
use monban_engine::Protocol;

use super::sub::{self, options, Arg, Flag, SplitOptions, Takes, HELP};
use super::ArgError;

/// A validated `monban local` command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalPlan {
    /// Only these ports (`-p`, or the bare port list).
    pub ports: Option<PortList>,
    /// Only TCP (`-t`) or only UDP (`-u`).
    pub proto: Option<Protocol>,
    /// Only these namespaces.
    pub netns: Vec<String>,
    /// A scan of this host from elsewhere to join.
    pub against: Option<PathBuf>,
    /// JSON Lines to this file (`-` = stdout).
    pub json: Option<PathBuf>,
    /// XML to this file (`-` = stdout).
    pub xml: Option<PathBuf>,
    /// The table to this file as well as stdout (`-` = stdout only).
    pub normal: Option<PathBuf>,
    /// Skip the dpkg lookup.
    pub no_packages: bool,
}

/// Every flag of `monban local`.
const FLAGS: &[Flag] = &[
    Flag {
        names: &["-p"],
        takes: Takes::Value("PORTS"),
        help: "only these ports: 22,80,8000-8100, T:/U: prefixes, service names (like lsof -i:PORT)",
    },
    Flag {
        names: &["-t", "--tcp"],
        takes: Takes::Nothing,
        help: "only listening TCP sockets",
    },
    Flag {
        names: &["-u", "--udp"],
        takes: Takes::Nothing,
        help: "only bound UDP sockets",
    },
    Flag {
        names: &["--netns"],
        takes: Takes::Value("NAME"),
        help: "only this network namespace (an `ip netns` name, `host`, or net:[INODE]); repeat for several",
    },
    Flag {
        names: &["--against"],
        takes: Takes::Value("FILE"),
        help: "join a scan of this host made from elsewhere (monban or nmap XML, monban JSON Lines): exposed, protected, surprises",
    },
    Flag {
        names: &["-oN"],
        takes: Takes::Value("FILE"),
        help: "also write the table to FILE",
    },
    Flag {
        names: &["-oJ"],
        takes: Takes::Value("FILE"),
        help: "write JSON Lines, one object per socket (`-` = stdout)",
    },
    Flag {
        names: &["-oX"],
        takes: Takes::Value("FILE"),
        help: "write XML (`-` = stdout)",
    },
    Flag {
        names: &["--no-packages"],
        takes: Takes::Nothing,
        help: "do not look up the Debian package of each executable",
    },
    HELP,
];

/// The help text of `monban local`, from [`FLAGS`].
pub fn help() -> String {
    let mut s = String::from(
        "monban local: what listens on this host, which process owns it, in which network
namespace or container, and whether a scan from outside reaches it

USAGE
  monban local [options]
  monban local PORT[,PORT...]         who owns this port? (like lsof -i:PORT)
  monban local --against SCAN.xml     join a scan of this host made from elsewhere

OPTIONS
",
    );
    s.push_str(&options(FLAGS));
    s.push_str(
        "
Every listening TCP socket and bound UDP socket of every network namespace, read from the
kernel (sock_diag). As root, every owner is known; otherwise other users' processes show as
\"unknown (needs root)\". monban only reads: it never stops or kills anything.
",
    );
    s
}

/// What the parse gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run.
    Run(Box<LocalPlan>),
    /// Print the help.
    Help,
}

fn ports(v: &str) -> Result<PortList, ArgError> {
    parse_ports(v).map_err(|e| ArgError(format!("local: bad port list {v:?}: {e}")))
}

fn merge(into: &mut Option<PortList>, more: PortList) {
    match into {
        None => *into = Some(more),
        Some(p) => {
            let mut spec: Vec<String> = Vec::new();
            for (t, list) in [
                ("T", p.ports(Protocol::Tcp)),
                ("T", more.ports(Protocol::Tcp)),
            ] {
                spec.extend(list.iter().map(|n| format!("{t}:{n}")));
            }
            for (t, list) in [
                ("U", p.ports(Protocol::Udp)),
                ("U", more.ports(Protocol::Udp)),
            ] {
                spec.extend(list.iter().map(|n| format!("{t}:{n}")));
            }
            if let Ok(all) = parse_ports(&spec.join(",")) {
                *into = Some(all);
            }
        }
    }
}

/// Parses the arguments after `local`.
pub fn parse(args: &[String]) -> Result<Parsed, ArgError> {
    let mut plan = LocalPlan::default();
    let (mut tcp, mut udp) = (false, false);
    // `-p22` as well as `-p 22`; a bare argument is a port list (`-` is no port list).
    let split = SplitOptions {
        glued: &["-p"],
        ..SplitOptions::LONG
    };
    for arg in sub::args("local", FLAGS, args, split) {
        let (id, value) = match arg? {
            Arg::Flag { id, value, .. } => (id, value),
            Arg::Positional(arg) => {
                merge(&mut plan.ports, ports(&arg)?);
                continue;
            }
            Arg::Help => return Ok(Parsed::Help),
        };
        match id {
            "-p" => merge(&mut plan.ports, ports(&value)?),
            "-t" => tcp = true,
            "-u" => udp = true,
            "--netns" => plan.netns.push(value),
            "--against" => plan.against = Some(PathBuf::from(value)),
            "-oN" => plan.normal = Some(PathBuf::from(value)),
            "-oJ" => plan.json = Some(PathBuf::from(value)),
            "-oX" => plan.xml = Some(PathBuf::from(value)),
            "--no-packages" => plan.no_packages = true,
            _ => unreachable!("no case for {id}"),
        }
    }
    plan.proto = match (tcp, udp) {
        (true, false) => Some(Protocol::Tcp),
        (false, true) => Some(Protocol::Udp),
        _ => None,
    };
    let stdout = [&plan.json, &plan.xml]
        .iter()
        .filter(|o| o.as_deref() == Some(std::path::Path::new("-")))
        .count();
    if stdout > 1 {
        return Err(ArgError(
            "only one of -oJ and -oX can write to stdout (-)".into(),
        ));
    }
    Ok(Parsed::Run(Box::new(plan)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<LocalPlan, ArgError> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v)? {
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
                    args.push(if *n == "-p" { "22" } else { "x" }.to_string());
                }
                assert!(parse(&args).is_ok(), "{n} rejected");
            }
        }
    }

    #[test]
    fn ports_like_lsof() {
        let p = run(&["10400"]).unwrap();
        let l = p.ports.unwrap();
        assert_eq!(l.ports(Protocol::Tcp), [10400]);
        assert_eq!(l.ports(Protocol::Udp), [10400]);
        let p = run(&["-p22", "-p", "U:53", "-t"]).unwrap();
        let l = p.ports.unwrap();
        assert_eq!(l.ports(Protocol::Tcp), [22]);
        assert_eq!(l.ports(Protocol::Udp), [22, 53]);
        assert_eq!(p.proto, Some(Protocol::Tcp));
        assert_eq!(run(&[]).unwrap(), LocalPlan::default());
    }

    #[test]
    fn bad_command_lines() {
        assert!(run(&["-p"]).is_err());
        assert!(run(&["-p", "99999"]).is_err());
        assert!(run(&["nosuchservice"]).is_err());
        assert!(run(&["--bogus"]).is_err());
        assert!(run(&["-t=1"]).is_err());
        assert!(run(&["--tcp=1"]).is_err());
        assert!(run(&["-oJ", "-", "-oX", "-"]).is_err());
        assert!(run(&["--against"]).is_err());
    }
}
