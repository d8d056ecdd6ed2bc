//! `monban serve`: its flags → a validated [`ServePlan`].
//!
//! One table, [`FLAGS`], defines every flag once; the parser and the help come from it.

use std::net::SocketAddr;
use std::time::Duration;

use monban_detect::Net;

use super::lowargs::parse_time;
use super::sub::{self, options, Arg, Flag, SplitOptions, Takes, HELP};
use super::ArgError;

/// A validated `monban serve` command line.
#[derive(Debug, Clone, PartialEq)]
pub struct ServePlan {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The history database (`None`: the default file).
    pub db: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trust_proxy: Vec<Net>,
    /// Scans per visitor per hour.
    pub hourly: usize,
    /// Scans at once.
    pub max_scans: usize,
    /// A scan running longer is ended.
    pub scan_timeout: Duration,
}

impl Default for ServePlan {
    fn default() -> ServePlan {
        ServePlan {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: None,
            trust_proxy: Vec::new(),
            hourly: 10,
            max_scans: 4,
            scan_timeout: Duration::from_secs(30 * 60),
        }
    }
}

const FLAGS: &[Flag] = &[
    Flag {
        names: &["--listen"],
        takes: Takes::Value("ADDR:PORT"),
        help: "where to listen (default 127.0.0.1:8080: this machine only)",
    },
    Flag {
        names: &["--db"],
        takes: Takes::Value("FILE|URL"),
        help: "the history database (default ~/.local/share/monban/history.db; or postgres://...)",
    },
    Flag {
        names: &["--trust-proxy"],
        takes: Takes::Value("NETS"),
        help: "believe X-Forwarded-For from these proxies only (e.g. 127.0.0.1,10.0.0.0/24)",
    },
    Flag {
        names: &["--hourly"],
        takes: Takes::Value("N"),
        help: "scans per visitor per hour (default 10; beyond: HTTP 429 with Retry-After)",
    },
    Flag {
        names: &["--max-scans"],
        takes: Takes::Value("N"),
        help: "scans running at once, all visitors together (default 4)",
    },
    Flag {
        names: &["--scan-timeout"],
        takes: Takes::Value("TIME"),
        help: "end a scan that runs longer (default 30m)",
    },
    HELP,
];

/// The help of `monban serve`.
pub fn help() -> String {
    let mut s = String::from(
        "monban serve: the self-scan page: a visitor presses a button and the server scans the
visitor's own address, live, with the results, the advice and a history

USAGE
  monban serve [options]

OPTIONS
",
    );
    s.push_str(&options(FLAGS));
    s.push_str(
        "
The target is always the visitor: the connection's peer address, or the address a proxy
named in --trust-proxy forwarded for. No form field or parameter names a target.

To publish the page: listen on a public address (--listen 0.0.0.0:8080), or keep the
default and put a reverse proxy in front that sets X-Forwarded-For, with
--trust-proxy 127.0.0.1. Run as root for SYN scans (else connect scans are used and the
stealth profile fails). Scan only visitors who asked to be scanned: that is what the
button is.
",
    );
    s
}

/// What the parse gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Run.
    Run(Box<ServePlan>),
    /// Print the help.
    Help,
}

fn positive(name: &str, v: &str) -> Result<usize, ArgError> {
    match v.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ArgError(format!(
            "{name} needs a positive number, got {v:?}"
        ))),
    }
}

/// Parses the arguments after `serve`.
pub fn parse(args: &[String]) -> Result<Parsed, ArgError> {
    let mut plan = ServePlan::default();
    // `-` is an unknown option, like any other argument that starts with `-`.
    for arg in sub::args("serve", FLAGS, args, SplitOptions::LONG) {
        let (id, name, v) = match arg? {
            Arg::Flag { id, name, value } => (id, name, value),
            Arg::Positional(arg) => {
                return Err(ArgError(format!(
                    "serve takes no target ({arg:?}): it scans each visitor's own address"
                )))
            }
            Arg::Help => return Ok(Parsed::Help),
        };
        match id {
            "--listen" => {
                plan.listen = v.parse().map_err(|_| {
                    ArgError(format!(
                        "--listen needs ADDR:PORT such as 127.0.0.1:8080 or [::]:8080, got {v:?}"
                    ))
                })?
            }
            "--db" => plan.db = Some(v),
            "--trust-proxy" => {
                plan.trust_proxy =
                    Net::parse_list(&v).map_err(|e| ArgError(format!("--trust-proxy: {e}")))?
            }
            "--hourly" => plan.hourly = positive(name, &v)?,
            "--max-scans" => plan.max_scans = positive(name, &v)?,
            "--scan-timeout" => {
                plan.scan_timeout = parse_time(&v).filter(|d| !d.is_zero()).ok_or_else(|| {
                    ArgError(format!(
                        "--scan-timeout needs a time such as 10m, got {v:?}"
                    ))
                })?
            }
            _ => unreachable!("no case for {id}"),
        }
    }
    Ok(Parsed::Run(Box::new(plan)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<ServePlan, ArgError> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v)? {
            Parsed::Run(p) => Ok(*p),
            Parsed::Help => Err(ArgError("help".into())),
        }
    }

    #[test]
    fn help_and_parser_agree() {
        let h = help();
        for f in FLAGS {
            for n in f.names {
                assert!(h.contains(n), "{n}");
                let mut args = vec![n.to_string()];
                if f.takes != Takes::Nothing {
                    args.push(
                        match *n {
                            "--listen" => "0.0.0.0:80",
                            "--trust-proxy" => "10.0.0.0/8",
                            "--scan-timeout" => "5m",
                            "--db" => "x.db",
                            _ => "3",
                        }
                        .into(),
                    );
                }
                assert!(parse(&args).is_ok(), "{n}");
            }
        }
    }

    #[test]
    fn plans_and_errors() {
        assert_eq!(run(&[]).unwrap(), ServePlan::default());
        let p = run(&[
            "--listen=[::]:8443",
            "--hourly",
            "2",
            "--trust-proxy",
            "127.0.0.1",
        ])
        .unwrap();
        assert_eq!(p.listen, "[::]:8443".parse().unwrap());
        assert_eq!(p.hourly, 2);
        assert_eq!(p.trust_proxy.len(), 1);
        for bad in [
            &["10.0.0.1"][..],
            &["--listen", "8080"],
            &["--hourly", "0"],
            &["--trust-proxy", "nope"],
            &["--scan-timeout", "0"],
            &["--bogus"],
            &["--listen"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }
}
