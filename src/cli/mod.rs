//! The command line: flags (nmap-compatible) → a validated [`ScanPlan`].
//!
//! As in ripgrep, parsing happens in two steps: [`lowargs`] mirrors the command line
//! faithfully (every flag as given, values checked only for their own syntax), then
//! [`hiargs`] turns that mirror into a plan, checking flags against each other, reading
//! target lists and resolving host names. The parser is our own: nmap's flags (`-sS`,
//! `-Pn`, `-oA base`, `-p-`, `-T4`, `-p80`) do not fit a generic parser well.

pub mod detect;
pub mod diff;
pub mod explain;
mod flags;
mod hiargs;
pub mod history;
pub mod local;
mod lowargs;
mod plan;
pub(crate) mod profiles;
pub mod serve;
mod sub;

use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use monban_engine::targets::TargetSet;
use monban_engine::{ScanType, Timing};

pub use plan::DiscoveryProbes;

/// What the user asked for.
#[derive(Debug)]
pub enum Command {
    /// Run a scan.
    Scan(Box<ScanPlan>),
    /// Print this help text (to stdout) and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
    /// `monban profiles`: print this list of scan profiles (to stdout) and exit 0.
    Profiles(String),
    /// `monban detect`: find port scans in packets.
    Detect(Box<detect::DetectPlan>),
    /// `monban explain`: what firewall log records mean.
    Explain(Box<explain::ExplainPlan>),
    /// `monban local`: what listens on this host.
    Local(Box<local::LocalPlan>),
    /// `monban diff`: what changed between two scans.
    Diff(Box<diff::DiffPlan>),
    /// `monban history`: the stored scans.
    History(Box<history::HistoryPlan>),
    /// `monban show`: one stored scan, in any output format.
    Show(Box<history::ShowPlan>),
    /// `monban serve`: the self-scan page.
    Serve(Box<serve::ServePlan>),
}

/// A command-line error. `Display` gives one line, `monban: <message>`; the field holds
/// the message without the `monban: ` prefix. The binary exits with status 2 on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "monban: {}", self.0)
    }
}

impl std::error::Error for ArgError {}

/// An output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Human-readable, like nmap's normal output (`-oN`).
    Normal,
    /// nmap-compatible XML (`-oX`).
    Xml,
    /// nmap's grepable format (`-oG`).
    Grepable,
    /// JSON Lines (`-oJ`).
    Json,
}

/// One output to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// Its format.
    pub format: OutputFormat,
    /// Where: a file path, or `-` for standard output.
    pub path: PathBuf,
}

/// A validated scan plan: everything the binary needs to run a scan.
#[derive(Debug)]
pub struct ScanPlan {
    /// The command line as typed (arguments quoted for a POSIX shell where needed), for
    /// output headers.
    pub args_line: String,
    /// `-sS` or `-sT`; `None` = choose by privilege.
    pub scan_type: Option<ScanType>,
    /// TCP ports to scan: sorted, unique, non-empty.
    pub tcp_ports: Vec<u16>,
    /// Probe ports in random order (false with `-r`).
    pub randomize_ports: bool,
    /// The targets, names resolved, exclusions applied lazily.
    pub targets: TargetSet,
    /// `targets.len_upper_bound()`: the number of addresses before exclusions.
    pub target_count: u128,
    /// The scan's timing: the template merged with the explicit options, validated.
    pub timing: Timing,
    /// Host discovery's probes by privilege; `None` with `-Pn` (every host is up).
    pub discovery: Option<DiscoveryProbes>,
    /// `-sn`: find live hosts, scan no ports.
    pub ping_only: bool,
    /// `-n`: no reverse DNS.
    pub no_dns: bool,
    /// `-6`: IPv6 was asked for (names resolve to IPv6 addresses). Applied while
    /// planning (name resolution); kept so the plan says what was asked.
    #[allow(dead_code)]
    pub ipv6: bool,
    /// Outputs to write, in the order given.
    pub outputs: Vec<OutputSpec>,
    /// `--db`: the database to store the scan in (a file, or a `postgres://` URL).
    pub db: Option<String>,
    /// The targets as given (`10.0.0.0/24 -iL hosts.txt`), for the scan history.
    pub targets_text: String,
    /// `--stats-every`: report progress this often.
    pub stats_every: Option<Duration>,
    /// `--open`: show only open (or possibly open) ports.
    pub open_only: bool,
    /// `--reason`: show the reason for each state.
    pub reason: bool,
    /// Verbosity level (`-v` counts).
    pub verbose: u8,
    /// `--seed`: seed for random choices.
    pub seed: Option<u64>,
    /// `--scanflags`: TCP flags for the probes (read as the scan type says).
    pub scan_flags: Option<u8>,
    /// `--shard I/N`: (0-based index, count).
    pub shard: Option<(u32, u32)>,
    /// `-g` / `--source-port`.
    pub source_port: Option<u16>,
    /// `-S`: source address (the first one given).
    pub source_addr: Option<IpAddr>,
    /// `-S` with a list or range: the addresses after the first, in order.
    pub sources: Vec<IpAddr>,
    /// `-e`: network interface.
    pub interface: Option<String>,
    /// Show a progress bar (false with `--no-progress`).
    pub progress: bool,
    /// `--keep-privileges`: do not give up root or capabilities once the sockets and
    /// outputs are open.
    pub keep_privileges: bool,
    /// `--allow-broadcast`: multicast and broadcast targets allowed. Applied while
    /// planning (the target set); kept so the plan says what was asked.
    #[allow(dead_code)]
    pub allow_broadcast: bool,
    /// `-sV`: identify the services on open TCP ports after the port scan.
    pub version_detection: bool,
    /// `--version-intensity` (0-9, default 7): how rare a probe may be and still be tried.
    pub version_intensity: u8,
    /// `-b`: bounce the scan off this FTP server.
    pub bounce: Option<BouncePlan>,
    /// `--profile stealth`: SYN, FIN, NULL, Xmas and ACK scans combined per port.
    pub stealth: bool,
    /// `--audit`: a verdict per host (exposed, visible, stealth) and what to close first.
    pub audit: bool,
    /// Discover targets on a directly attached Ethernet segment by ARP / ND (false with
    /// `--send-ip` or `--disable-arp-ping`).
    pub arp_ping: bool,
    /// `--resume`: what the interrupted run finished (its hosts are already left out of
    /// `targets`); the outputs are continued, not replaced.
    pub resume: Option<ResumeInfo>,
}

/// What an interrupted scan finished, for `--resume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeInfo {
    /// Its finished hosts.
    pub done: std::collections::HashSet<IpAddr>,
    /// How many were up.
    pub up: u64,
    /// How many were down.
    pub down: u64,
}

/// An FTP bounce scan's server (`-b`), its name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncePlan {
    /// The server's control address.
    pub server: std::net::SocketAddr,
    /// User name (`anonymous` unless given).
    pub user: String,
    /// Password.
    pub pass: String,
    /// How long one `LIST` may take before the port is called filtered.
    pub timeout: Duration,
}

/// Parses the command line (`args[0]` is the program name) into a [`Command`].
///
/// Reads `-iL`/`--excludefile` files (`-` = stdin) and resolves host names through the
/// system resolver. Never panics; every problem is an [`ArgError`].
pub fn parse(args: Vec<OsString>) -> Result<Command, ArgError> {
    parse_with(args, &hiargs::SystemEnv)
}

/// [`parse`] with file reading and name resolution supplied by `env` (tests use a fake).
fn parse_with(args: Vec<OsString>, env: &dyn hiargs::Env) -> Result<Command, ArgError> {
    let mut strings = Vec::with_capacity(args.len());
    for (i, a) in args.into_iter().enumerate() {
        match a.into_string() {
            Ok(s) => strings.push(s),
            Err(bad) => {
                return Err(ArgError(format!(
                    "argument {i} is not valid UTF-8: {:?}",
                    bad.to_string_lossy()
                )))
            }
        }
    }
    let args_line = shell_line(&strings);
    if strings.get(1).map(String::as_str) == Some("detect") {
        return match detect::parse(strings.get(2..).unwrap_or(&[]))? {
            detect::Parsed::Run(plan) => Ok(Command::Detect(plan)),
            detect::Parsed::Help => Ok(Command::Help(detect::help())),
        };
    }
    if strings.get(1).map(String::as_str) == Some("explain") {
        let exists = |p: &str| std::path::Path::new(p).is_file();
        return match explain::parse(strings.get(2..).unwrap_or(&[]), &exists)? {
            explain::Parsed::Run(plan) => Ok(Command::Explain(plan)),
            explain::Parsed::Help => Ok(Command::Help(explain::help())),
        };
    }
    if strings.get(1).map(String::as_str) == Some("diff") {
        let exists = |p: &str| std::path::Path::new(p).exists();
        return match diff::parse(strings.get(2..).unwrap_or(&[]), &exists)? {
            diff::Parsed::Run(plan) => Ok(Command::Diff(plan)),
            diff::Parsed::Help => Ok(Command::Help(diff::help())),
        };
    }
    if strings.get(1).map(String::as_str) == Some("history") {
        return match history::parse_history(strings.get(2..).unwrap_or(&[]))? {
            Some(plan) => Ok(Command::History(Box::new(plan))),
            None => Ok(Command::Help(history::history_help())),
        };
    }
    if strings.get(1).map(String::as_str) == Some("show") {
        return match history::parse_show(strings.get(2..).unwrap_or(&[]))? {
            Some(plan) => Ok(Command::Show(Box::new(plan))),
            None => Ok(Command::Help(history::show_help())),
        };
    }
    if strings.get(1).map(String::as_str) == Some("serve") {
        return match serve::parse(strings.get(2..).unwrap_or(&[]))? {
            serve::Parsed::Run(plan) => Ok(Command::Serve(plan)),
            serve::Parsed::Help => Ok(Command::Help(serve::help())),
        };
    }
    if strings.get(1).map(String::as_str) == Some("local") {
        return match local::parse(strings.get(2..).unwrap_or(&[]))? {
            local::Parsed::Run(plan) => Ok(Command::Local(plan)),
            local::Parsed::Help => Ok(Command::Help(local::help())),
        };
    }
    let low = lowargs::LowArgs::parse(strings.into_iter().skip(1))?;
    if low.mode == lowargs::Mode::Scan && low.resume.is_some() {
        return resume(low, env);
    }
    match low.mode {
        lowargs::Mode::Help(lowargs::HelpTopic::Top) => Ok(Command::Help(top_help())),
        lowargs::Mode::Help(lowargs::HelpTopic::Scan) => Ok(Command::Help(scan_help())),
        lowargs::Mode::Version => Ok(Command::Version),
        lowargs::Mode::Profiles => Ok(Command::Profiles(profiles::listing())),
        lowargs::Mode::Scan => {
            hiargs::build(low, args_line, env).map(|plan| Command::Scan(Box::new(plan)))
        }
    }
}

/// `--resume FILE`: the interrupted run's own command line, without the hosts it finished.
fn resume(low: lowargs::LowArgs, env: &dyn hiargs::Env) -> Result<Command, ArgError> {
    let path = low.resume.clone().unwrap_or_default();
    let bare = lowargs::LowArgs {
        resume: low.resume.clone(),
        no_progress: low.no_progress,
        keep_privileges: low.keep_privileges,
        ..Default::default()
    };
    if low != bare {
        return Err(ArgError(
            "--resume takes no other options (the interrupted scan's own are used), \
             except --no-progress and --keep-privileges"
                .into(),
        ));
    }
    let text = env
        .read_file(&path)
        .map_err(|e| ArgError(format!("cannot read {path}: {e}")))?;
    let run = crate::resume::read_jsonl(&text)
        .map_err(|e| ArgError(format!("cannot resume from {path}: {e}")))?;
    if run.args.iter().any(|a| a == "--resume" || a == "-resume") {
        return Err(ArgError(format!(
            "cannot resume from {path}: its command line is itself a --resume"
        )));
    }
    let args = run.args.iter().map(OsString::from).collect();
    let mut plan = match parse_with(args, env) {
        Ok(Command::Scan(plan)) => plan,
        Ok(_) => {
            return Err(ArgError(format!(
                "cannot resume from {path}: its command line is not a scan"
            )))
        }
        Err(e) => {
            return Err(ArgError(format!(
                "cannot resume from {path}: its command line fails now: {}",
                e.0
            )))
        }
    };
    for addr in &run.done {
        plan.targets
            .exclude(monban_engine::targets::TargetSpec::Addr(*addr))
            .map_err(|e| ArgError(format!("cannot resume from {path}: {e}")))?;
    }
    plan.progress &= !low.no_progress;
    plan.keep_privileges |= low.keep_privileges;
    plan.resume = Some(ResumeInfo {
        done: run.done.into_iter().collect(),
        up: run.up,
        down: run.down,
    });
    Ok(Command::Scan(plan))
}

/// Joins arguments with spaces, single-quoting those a POSIX shell would split or expand.
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

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn top_help() -> String {
    format!(
        "monban {VERSION}: a port scanner and port-scan detector (門番, the gatekeeper)

USAGE
  monban [scan] [options] <targets...>
  monban detect (-r FILE | -i IFACE | --log FILE) [options]
  monban explain (FILE | - | 'LOG LINE') [options]
  monban local [PORT,...] [--against SCAN] [options]
  monban history [TARGET] | show ID | diff [A B]
  monban serve [--listen ADDR:PORT] [options]
  monban --help | --version

COMMANDS
  scan                     scan ports of the targets; the default command:
                           `monban -p 22 host` is `monban scan -p 22 host`
  profiles                 list the scan profiles (`monban scan --profile NAME`)
  detect                   find port scans in a capture file, live traffic or firewall
                           logs; name technique, kind and tool (`monban detect --help`)
  explain                  say in plain words what firewall log records mean
                           (`monban explain --help`)
  history                  the scans stored with `monban scan --db`
                           (`monban history --help`)
  show                     one stored scan again, in any output format
  diff                     what changed between two scans (files or stored), like ndiff
  serve                    the self-scan web page: visitors scan their own address
                           (`monban serve --help`)
  local                    what listens on this host in every network namespace, which
                           process, unit, container and package owns it, and whether a
                           scan from outside reaches it (`monban local --help`)
  help                     show this help; `monban scan --help` shows the scan options
{}",
        flags::options()
    )
}

fn scan_help() -> String {
    format!(
        "monban scan: find which ports of the targets are open, closed or filtered

USAGE
  monban scan [options] <targets...>
  monban [options] <targets...>
{}",
        flags::options()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use monban_engine::{PingProbe, Protocol};
    use std::collections::HashMap;
    use std::io;

    /// Files and names for tests: no file system, no network.
    #[derive(Default)]
    struct FakeEnv {
        files: HashMap<&'static str, &'static str>,
    }

    impl hiargs::Env for FakeEnv {
        fn read_file(&self, path: &str) -> io::Result<String> {
            self.files
                .get(path)
                .map(|s| s.to_string())
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }

        fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
            let addrs: &[&str] = match name {
                "gate.example" => &["fd00::5", "10.0.0.5"],
                "v4only.example" => &["10.0.0.6"],
                "v6only.example" => &["fd00::6"],
                "empty.example" => &[],
                _ => return Err(io::Error::from(io::ErrorKind::NotFound)),
            };
            Ok(addrs.iter().filter_map(|a| a.parse().ok()).collect())
        }
    }

    fn env() -> FakeEnv {
        let mut files = HashMap::new();
        files.insert(
            "targets.txt",
            "# lab hosts\n10.0.0.1 10.0.0.2\n\n  gate.example # the gate\n10.0.1.0/31\n",
        );
        files.insert("-", "10.9.9.9\n");
        files.insert("bad.txt", "10.0.0.1\n10.0.0.300\n");
        files.insert("exclude.txt", "10.0.0.2 # not this one\nv4only.example\n");
        files.insert("empty.txt", "# nothing\n\n");
        files.insert(
            "run.jsonl",
            "{\"event\":\"start\",\"args\":\"monban scan -p 22 -oJ run.jsonl 10.0.0.0/30\"}\n\
             {\"event\":\"host\",\"addr\":\"10.0.0.1\",\"status\":\"up\",\"incomplete\":false}\n\
             {\"event\":\"host\",\"addr\":\"10.0.0.2\",\"status\":\"up\",\"incomplete\":true}\n\
             {\"event\":\"end\",\"interrupted\":true}\n",
        );
        files.insert(
            "nested.jsonl",
            "{\"event\":\"start\",\"args\":\"monban --resume run.jsonl\"}\n",
        );
        FakeEnv { files }
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        std::iter::once("monban")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn run(args: &[&str]) -> Result<Command, ArgError> {
        parse_with(os(args), &env())
    }

    fn plan(args: &[&str]) -> ScanPlan {
        match run(args) {
            Ok(Command::Scan(p)) => *p,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match run(args) {
            Err(e) => e.to_string(),
            other => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }

    fn addrs(p: ScanPlan) -> Vec<String> {
        p.targets.into_iter().map(|t| t.addr.to_string()).collect()
    }

    fn top(n: usize) -> Vec<u16> {
        let mut v = hiargs::top_ports(Protocol::Tcp, n);
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn defaults() {
        let p = plan(&["10.0.0.1"]);
        assert_eq!(p.args_line, "monban 10.0.0.1");
        assert_eq!(p.scan_type, None);
        assert_eq!(p.tcp_ports, top(1000));
        assert!(p.randomize_ports);
        assert_eq!(p.target_count, 1);
        assert_eq!(p.timing, Timing::template(3));
        assert_eq!(
            p.discovery,
            Some(DiscoveryProbes {
                raw: PingProbe::DEFAULT_RAW.to_vec(),
                unprivileged: Some(PingProbe::DEFAULT_CONNECT.to_vec()),
            })
        );
        assert!(!p.no_dns && !p.ipv6);
        assert!(p.outputs.is_empty());
        assert!(!p.open_only && !p.reason);
        assert_eq!(p.verbose, 0);
        assert_eq!((p.seed, p.source_port, p.source_addr), (None, None, None));
        assert_eq!(p.interface, None);
        assert!(p.progress);
        assert!(!p.allow_broadcast);
        assert!(!p.version_detection);
        assert_eq!(p.version_intensity, 7);
        assert_eq!(addrs(p), ["10.0.0.1"]);
    }

    #[test]
    fn version_detection_combines_with_tcp_scans() {
        for (args, scan_type) in [
            (&["-sSV", "10.0.0.1"][..], Some(ScanType::Syn)),
            (&["-sS", "-sV", "10.0.0.1"][..], Some(ScanType::Syn)),
            (&["-sVS", "10.0.0.1"][..], Some(ScanType::Syn)),
            (&["-sT", "-sV", "10.0.0.1"][..], Some(ScanType::Connect)),
            (&["-sV", "10.0.0.1"][..], None),
            (&["-sV", "-sF", "10.0.0.1"][..], Some(ScanType::Fin)),
        ] {
            let p = plan(args);
            assert_eq!(
                (p.scan_type, p.version_detection),
                (scan_type, true),
                "{args:?}"
            );
            assert_eq!(p.version_intensity, 7);
            assert_eq!(p.tcp_ports, top(1000));
        }
        let p = plan(&["-sV", "--version-intensity", "2", "10.0.0.1"]);
        assert_eq!((p.version_detection, p.version_intensity), (true, 2));
        assert_eq!(
            plan(&["--version-intensity=0", "10.0.0.1"]).version_intensity,
            0
        );
        assert_eq!(
            err(&["-sV", "--version-intensity", "10", "10.0.0.1"]),
            "monban: --version-intensity needs a level from 0 to 9, got \"10\""
        );
        assert_eq!(
            err(&["-sV", "--version-intensity", "x", "10.0.0.1"]),
            "monban: --version-intensity needs a level from 0 to 9, got \"x\""
        );
        for args in [&["-sUV", "10.0.0.1"][..], &["-sU", "-sV", "10.0.0.1"]] {
            let p = plan(args);
            assert_eq!(
                (p.scan_type, p.version_detection),
                (Some(ScanType::Udp), true),
                "{args:?}"
            );
        }
        assert_eq!(
            err(&["-sn", "-sV", "10.0.0.1"]),
            "monban: -sn finds live hosts without a port scan: -sV needs one"
        );
    }

    #[test]
    fn implicit_and_explicit_scan_agree() {
        let a = plan(&["-sT", "-p", "22,80", "10.0.0.1"]);
        let b = plan(&["scan", "-sT", "-p", "22,80", "10.0.0.1"]);
        assert_eq!(a.scan_type, Some(ScanType::Connect));
        assert_eq!(b.scan_type, Some(ScanType::Connect));
        assert_eq!(a.tcp_ports, vec![22, 80]);
        assert_eq!(b.tcp_ports, vec![22, 80]);
        assert_eq!(b.args_line, "monban scan -sT -p 22,80 10.0.0.1");
        assert_eq!(addrs(a), addrs(b));
    }

    #[test]
    fn help_and_version() {
        for args in [
            &[][..],
            &["--help"],
            &["-h"],
            &["help"],
            &["-p", "80", "--help"],
        ] {
            match run(args) {
                Ok(Command::Help(h)) => assert_eq!(h, top_help(), "{args:?}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        for args in [&["scan", "--help"][..], &["scan", "-h"], &["scan", "-help"]] {
            match run(args) {
                Ok(Command::Help(h)) => assert_eq!(h, scan_help(), "{args:?}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        for args in [&["--version"][..], &["-V"], &["scan", "--version"]] {
            assert!(matches!(run(args), Ok(Command::Version)), "{args:?}");
        }
        let h = top_help();
        for group in [
            "TARGET SPECIFICATION",
            "HOST DISCOVERY",
            "SCAN TECHNIQUES",
            "PORT SPECIFICATION",
            "TIMING AND PERFORMANCE",
            "OUTPUT",
            "MISC",
        ] {
            assert!(h.contains(&format!("\n{group}\n")), "{group}");
        }
        assert!(h.starts_with(&format!("monban {}: ", env!("CARGO_PKG_VERSION"))));
        assert!(
            h.lines().all(|l| l.chars().count() <= 90),
            "lines fit a terminal"
        );
    }

    #[test]
    fn scan_types() {
        assert_eq!(plan(&["-sS", "10.0.0.1"]).scan_type, Some(ScanType::Syn));
        assert_eq!(
            plan(&["-sT", "10.0.0.1"]).scan_type,
            Some(ScanType::Connect)
        );
        assert_eq!(
            plan(&["-sS", "-sS", "10.0.0.1"]).scan_type,
            Some(ScanType::Syn)
        );
        assert_eq!(
            err(&["-sS", "-sT", "10.0.0.1"]),
            "monban: -sS and -sT cannot be combined: choose one scan type"
        );
        assert_eq!(
            err(&["-sST", "-sS", "10.0.0.1"]),
            "monban: -sS and -sT cannot be combined: choose one scan type"
        );
        let udp = plan(&["-sU", "-p", "53,T:80,U:161", "10.0.0.1"]);
        assert_eq!(udp.scan_type, Some(ScanType::Udp));
        assert_eq!(udp.tcp_ports, vec![53, 161], "UDP scans take the UDP list");
        assert_eq!(plan(&["-sU", "-F", "10.0.0.1"]).tcp_ports.len(), 100);
        for (flag, t) in [
            ("-sF", ScanType::Fin),
            ("-sN", ScanType::Null),
            ("-sX", ScanType::Xmas),
            ("-sA", ScanType::Ack),
            ("-sW", ScanType::Window),
        ] {
            assert_eq!(plan(&[flag, "10.0.0.1"]).scan_type, Some(t));
        }
        assert_eq!(
            err(&["-sFA", "10.0.0.1"]),
            "monban: -sF and -sA cannot be combined: choose one scan type"
        );
    }

    #[test]
    fn source_address_lists() {
        let p = plan(&["-S", "10.0.0.2-4,9", "10.0.0.1"]);
        assert_eq!(p.source_addr, Some("10.0.0.2".parse().unwrap()));
        let rest: Vec<IpAddr> = ["10.0.0.3", "10.0.0.4", "10.0.0.9"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(p.sources, rest);
        let p = plan(&["-S", "fd00::/127", "-6", "fd00::1"]);
        assert_eq!(p.source_addr, Some("fd00::".parse().unwrap()));
        assert_eq!(p.sources, vec!["fd00::1".parse::<IpAddr>().unwrap()]);
        assert!(plan(&["-S10.0.0.2", "10.0.0.1"]).sources.is_empty());
        assert!(err(&["-S", "10.0.0.0/16", "10.0.0.1"]).contains("more than 256 addresses"));
        assert!(err(&["-S", "gate.example", "10.0.0.1"])
            .contains("host names are not source addresses"));
        assert_eq!(
            err(&["-S", "10.0.0.2-3", "-6", "fd00::1"]),
            "monban: -S 10.0.0.2 is an IPv4 address but -6 was given"
        );
    }

    #[test]
    fn resume_reuses_the_command_line_without_finished_hosts() {
        let p = plan(&["--resume", "run.jsonl"]);
        assert_eq!(p.args_line, "monban scan -p 22 -oJ run.jsonl 10.0.0.0/30");
        assert_eq!(p.tcp_ports, vec![22]);
        let r = p.resume.clone().unwrap();
        assert_eq!((r.up, r.down), (1, 0));
        assert_eq!(addrs(p), ["10.0.0.0", "10.0.0.2", "10.0.0.3"]);
        assert!(!plan(&["--resume", "run.jsonl", "--no-progress"]).progress);
        assert!(!plan(&["--resume", "run.jsonl"]).keep_privileges);
        assert!(plan(&["--resume", "run.jsonl", "--keep-privileges"]).keep_privileges);
        assert!(plan(&["--keep-privileges", "10.0.0.1"]).keep_privileges);
        assert_eq!(
            err(&["--resume", "run.jsonl", "-p", "80"]),
            "monban: --resume takes no other options (the interrupted scan's own are used), \
             except --no-progress and --keep-privileges"
        );
        assert_eq!(
            err(&["--resume", "nested.jsonl"]),
            "monban: cannot resume from nested.jsonl: its command line is itself a --resume"
        );
        assert_eq!(
            err(&["--resume", "targets.txt"]),
            "monban: cannot resume from targets.txt: line 1 is not JSON: expected value at line 1 column 1"
        );
        assert!(
            err(&["--resume", "missing.jsonl"]).starts_with("monban: cannot read missing.jsonl: ")
        );
    }

    #[test]
    fn arp_ping_flags() {
        assert!(plan(&["10.0.0.1"]).arp_ping);
        assert!(!plan(&["--send-ip", "10.0.0.1"]).arp_ping);
        assert!(!plan(&["--disable-arp-ping", "10.0.0.1"]).arp_ping);
        assert_eq!(
            err(&["--send-ip=1", "10.0.0.1"]),
            "monban: --send-ip does not take a value"
        );
    }

    #[test]
    fn audit_flag() {
        assert!(!plan(&["10.0.0.1"]).audit);
        assert!(plan(&["--audit", "10.0.0.1"]).audit);
        assert!(plan(&["-audit", "--profile", "quick", "10.0.0.1"]).audit);
        assert_eq!(
            err(&["--audit=yes", "10.0.0.1"]),
            "monban: --audit does not take a value"
        );
        assert_eq!(
            err(&["--audit", "-sn", "10.0.0.1"]),
            "monban: --audit judges the ports of each host: it needs a port scan, not -sn"
        );
    }

    #[test]
    fn ftp_bounce() {
        let p = plan(&["-b", "10.0.0.9", "-p", "1024-1030", "10.0.0.1"]);
        assert_eq!(p.scan_type, Some(ScanType::Bounce));
        assert_eq!(
            p.bounce,
            Some(BouncePlan {
                server: "10.0.0.9:21".parse().unwrap(),
                user: "anonymous".into(),
                pass: monban_engine::bounce::DEFAULT_PASS.into(),
                timeout: Duration::from_secs(10),
            })
        );
        let p = plan(&["-bjo:s3cr:t@x@v4only.example:2121", "10.0.0.1"]);
        assert_eq!(
            p.bounce,
            Some(BouncePlan {
                server: "10.0.0.6:2121".parse().unwrap(),
                user: "jo".into(),
                pass: "s3cr:t@x".into(),
                timeout: Duration::from_secs(10),
            })
        );
        assert_eq!(
            plan(&["-b", "[fd00::9]:2121", "fd00::1"])
                .bounce
                .map(|b| b.server),
            Some("[fd00::9]:2121".parse().unwrap())
        );
        assert_eq!(
            err(&["-b", "10.0.0.9", "-sS", "10.0.0.1"]),
            "monban: -b and -sS cannot be combined: choose one scan type"
        );
        assert_eq!(
            err(&["-b", "10.0.0.9", "-sV", "10.0.0.1"]),
            "monban: -b cannot be combined with -sV: the FTP server only says whether it could connect"
        );
        assert_eq!(
            err(&["-b", "nowhere.example", "10.0.0.1"]),
            "monban: cannot resolve \"nowhere.example\""
        );
        assert!(err(&["-b", "10.0.0.9:0", "10.0.0.1"]).contains("the port must be 1 to 65535"));
        assert_eq!(
            err(&["-b"]),
            "monban: missing value for -b (see monban scan --help)"
        );
    }

    #[test]
    fn shards() {
        let p = plan(&["--shard", "2/3", "--seed", "7", "10.0.0.1"]);
        assert_eq!(p.shard, Some((1, 3)));
        assert_eq!(plan(&["--shard=1/1", "10.0.0.1"]).shard, Some((0, 1)));
        assert_eq!(
            err(&["--shard", "2/3", "10.0.0.1"]),
            "monban: --shard needs --seed: every shard must cut the space with the same seed"
        );
        assert_eq!(
            err(&["--shard", "4/3", "--seed", "1", "10.0.0.1"]),
            "monban: --shard 4/3: the shard number must be between 1 and the number of shards"
        );
        assert_eq!(
            err(&["--shard", "x", "10.0.0.1"]),
            "monban: --shard needs I/N, e.g. 1/4, got \"x\""
        );
    }

    #[test]
    fn scan_flags_by_name_or_number() {
        use super::lowargs::scan_flags;
        assert_eq!(scan_flags("SYNFIN"), Some(0x03));
        assert_eq!(scan_flags("urgpshfin"), Some(0x29));
        assert_eq!(scan_flags("URGACKPSHRSTSYNFIN"), Some(0x3f));
        assert_eq!(scan_flags("9"), Some(9));
        assert_eq!(scan_flags("0x29"), Some(0x29));
        assert_eq!(scan_flags("256"), None);
        assert_eq!(scan_flags("SYNFOO"), None);
        assert_eq!(scan_flags(""), None);
        assert_eq!(
            plan(&["--scanflags", "SYNFIN", "10.0.0.1"]).scan_flags,
            Some(3)
        );
        assert_eq!(
            err(&["--scanflags", "SYNX", "10.0.0.1"]),
            "monban: --scanflags needs a number (0-255) or flag names like SYNFIN or URGPSHFIN, got \"SYNX\""
        );
    }

    #[test]
    fn port_flags() {
        assert_eq!(plan(&["-p80", "10.0.0.1"]).tcp_ports, vec![80]);
        assert_eq!(plan(&["-p", "80", "10.0.0.1"]).tcp_ports, vec![80]);
        assert_eq!(
            plan(&["-p", "443,22,80,22", "10.0.0.1"]).tcp_ports,
            vec![22, 80, 443]
        );
        assert_eq!(
            plan(&["-p", "1-5", "10.0.0.1"]).tcp_ports,
            vec![1, 2, 3, 4, 5]
        );
        let all = plan(&["-p-", "10.0.0.1"]).tcp_ports;
        assert_eq!(all.len(), 65535);
        assert_eq!((all[0], all[65534]), (1, 65535));
        assert_eq!(plan(&["-p", "-", "10.0.0.1"]).tcp_ports.len(), 65535);
        assert_eq!(plan(&["-F", "10.0.0.1"]).tcp_ports, top(100));
        assert_eq!(plan(&["-F", "10.0.0.1"]).tcp_ports.len(), 100);
        assert_eq!(plan(&["--top-ports", "10", "10.0.0.1"]).tcp_ports, top(10));
        assert_eq!(plan(&["--top-ports=10", "10.0.0.1"]).tcp_ports, top(10));
        assert_eq!(
            plan(&["-p", "1-10", "--exclude-ports", "2-9", "10.0.0.1"]).tcp_ports,
            vec![1, 10]
        );
        assert_eq!(
            plan(&["-p", "1-3", "--exclude-ports=T:2,U:1", "10.0.0.1"]).tcp_ports,
            vec![1, 3]
        );
        assert_eq!(plan(&["-p", "T:80,U:53", "10.0.0.1"]).tcp_ports, vec![80]);
        assert_eq!(plan(&["-p", "ssh", "10.0.0.1"]).tcp_ports, vec![22]);
        assert!(!plan(&["-r", "10.0.0.1"]).randomize_ports);
    }

    #[test]
    fn port_errors() {
        let pe = |s: &str| hiargs::parse_ports(s).unwrap_err().to_string();
        assert_eq!(
            err(&["-p", "x", "10.0.0.1"]),
            format!("monban: bad port spec \"x\": {}", pe("x"))
        );
        assert_eq!(
            err(&["-p", "80", "--exclude-ports", "y", "10.0.0.1"]),
            format!(
                "monban: bad port spec \"y\" for --exclude-ports: {}",
                pe("y")
            )
        );
        assert_eq!(
            err(&["-p", "U:53", "10.0.0.1"]),
            "monban: -p \"U:53\" names no TCP port for this scan"
        );
        assert_eq!(
            err(&["-p", "80", "--exclude-ports", "1-100", "10.0.0.1"]),
            "monban: --exclude-ports leaves no port to scan"
        );
        assert_eq!(
            err(&["-p", "80", "-F", "10.0.0.1"]),
            "monban: -p and -F cannot be combined"
        );
        assert_eq!(
            err(&["-p", "80", "--top-ports", "5", "10.0.0.1"]),
            "monban: -p and --top-ports cannot be combined"
        );
        assert_eq!(
            err(&["-F", "--top-ports", "5", "10.0.0.1"]),
            "monban: -F and --top-ports cannot be combined"
        );
        assert_eq!(
            err(&["--top-ports", "0", "10.0.0.1"]),
            "monban: --top-ports needs a positive whole number, got \"0\""
        );
        assert_eq!(
            err(&["-p"]),
            "monban: missing value for -p (see monban scan --help)"
        );
    }

    #[test]
    fn timing_flags() {
        let t = plan(&[
            "-T4",
            "--min-rate",
            "100",
            "--max-rate=250.5",
            "--max-retries",
            "2",
            "--host-timeout",
            "5m",
            "--min-rtt-timeout",
            "50ms",
            "--max-rtt-timeout=2s",
            "--initial-rtt-timeout",
            "1",
            "--scan-delay",
            "1.5s",
            "10.0.0.1",
        ])
        .timing;
        assert_eq!(
            t,
            Timing {
                level: 4,
                min_rate: Some(100.0),
                max_rate: Some(250.5),
                // -T4 starts at 5000/s: held under the ceiling.
                initial_rate: Some(250.5),
                max_retries: 2,
                host_timeout: Some(Duration::from_secs(300)),
                min_rto: Duration::from_millis(50),
                max_rto: Duration::from_secs(2),
                initial_rto: Duration::from_secs(1),
                scan_delay: Duration::from_millis(1500),
                max_in_flight: 16_384,
            }
        );
        for (arg, n) in [
            (&["-T0"][..], 0),
            (&["-T", "5"], 5),
            (&["-T", "paranoid"], 0),
            (&["-T", "sneaky"], 1),
            (&["-Tpolite"], 2),
            (&["-T", "normal"], 3),
            (&["-T", "aggressive"], 4),
            (&["-T", "insane"], 5),
        ] {
            let mut args = arg.to_vec();
            args.push("10.0.0.1");
            assert_eq!(plan(&args).timing, Timing::template(n), "{arg:?}");
        }
        assert_eq!(plan(&["-T4", "-T2", "10.0.0.1"]).timing.level, 2);
        assert_eq!(
            plan(&["-min-rate", "7", "10.0.0.1"]).timing.min_rate,
            Some(7.0)
        );
    }

    #[test]
    fn timing_errors() {
        assert_eq!(
            err(&["-T6", "10.0.0.1"]),
            "monban: -T needs 0-5 or paranoid, sneaky, polite, normal, aggressive, insane, got \"6\""
        );
        assert_eq!(
            err(&["--min-rate", "0", "10.0.0.1"]),
            "monban: --min-rate needs a positive number, got \"0\""
        );
        assert_eq!(
            err(&["--max-rate=-3", "10.0.0.1"]),
            "monban: --max-rate needs a positive number, got \"-3\""
        );
        assert_eq!(
            err(&["--min-rate", "200", "--max-rate", "100", "10.0.0.1"]),
            "monban: --min-rate 200 is greater than --max-rate 100"
        );
        assert_eq!(
            err(&["--max-retries", "-1", "10.0.0.1"]),
            "monban: --max-retries needs a whole number, got \"-1\""
        );
        assert_eq!(
            err(&["--host-timeout", "5x", "10.0.0.1"]),
            "monban: --host-timeout needs a time such as 500ms, 30s, 5m or 2h, got \"5x\""
        );
        assert_eq!(
            err(&["--scan-delay", "soon", "10.0.0.1"]),
            "monban: --scan-delay needs a time such as 500ms, 30s, 5m or 2h, got \"soon\""
        );
        assert_eq!(
            err(&[
                "--min-rtt-timeout",
                "2s",
                "--max-rtt-timeout",
                "500ms",
                "10.0.0.1"
            ]),
            "monban: --min-rtt-timeout 2s is greater than --max-rtt-timeout 500ms"
        );
        assert_eq!(
            err(&["10.0.0.1", "--min-rate"]),
            "monban: missing value for --min-rate (see monban scan --help)"
        );
    }

    #[test]
    fn discovery_and_misc_flags() {
        let p = plan(&[
            "-Pn",
            "-n",
            "-R",
            "--open",
            "--reason",
            "-vv",
            "--seed",
            "42",
            "-g",
            "53",
            "-S",
            "10.0.0.100",
            "-e",
            "veth0",
            "--no-progress",
            "--allow-broadcast",
            "10.0.0.1",
        ]);
        assert!(p.discovery.is_none() && p.no_dns && p.open_only && p.reason);
        assert_eq!(p.verbose, 2);
        assert_eq!(p.seed, Some(42));
        assert_eq!(p.source_port, Some(53));
        assert_eq!(p.source_addr, Some("10.0.0.100".parse().unwrap()));
        assert_eq!(p.interface.as_deref(), Some("veth0"));
        assert!(!p.progress);
        assert!(p.allow_broadcast);
        assert_eq!(
            plan(&["--source-port=1024", "10.0.0.1"]).source_port,
            Some(1024)
        );
        assert_eq!(plan(&["-g80", "-eeth1", "10.0.0.1"]).source_port, Some(80));
        assert_eq!(plan(&["-v3", "10.0.0.1"]).verbose, 3);
        assert_eq!(plan(&["-v", "-v", "10.0.0.1"]).verbose, 2);
        assert!(plan(&["-open", "10.0.0.1"]).open_only);
        assert_eq!(
            err(&["--seed", "x", "10.0.0.1"]),
            "monban: --seed needs a whole number, got \"x\""
        );
        assert_eq!(
            err(&["-g", "0", "10.0.0.1"]),
            "monban: -g needs a port number from 1 to 65535, got \"0\""
        );
        assert_eq!(
            err(&["--source-port", "70000", "10.0.0.1"]),
            "monban: --source-port needs a port number from 1 to 65535, got \"70000\""
        );
        assert_eq!(
            err(&["-S", "gate", "10.0.0.1"]),
            "monban: -S needs addresses (10.0.0.2, 10.0.0.2-5, 10.0.0.2,7 or a CIDR block), got \"gate\": host names are not source addresses"
        );
        assert_eq!(
            err(&["-e", "", "10.0.0.1"]),
            "monban: -e needs an interface name, got \"\""
        );
        assert_eq!(
            err(&["--open=yes", "10.0.0.1"]),
            "monban: --open does not take a value"
        );
        assert_eq!(
            err(&["--foo", "10.0.0.1"]),
            "monban: unknown option \"--foo\" (see monban scan --help)"
        );
        assert_eq!(
            err(&["-Z", "10.0.0.1"]),
            "monban: unknown option \"-Z\" (see monban scan --help)"
        );
        assert_eq!(
            err(&["-oS", "x", "10.0.0.1"]),
            "monban: unknown option \"-oS\" (see monban scan --help)"
        );
    }

    #[test]
    fn outputs() {
        let p = plan(&[
            "-oN",
            "a.txt",
            "-oX",
            "a.xml",
            "-oGa.gnmap",
            "-oJ",
            "-",
            "10.0.0.1",
        ]);
        let spec = |format, path: &str| OutputSpec {
            format,
            path: PathBuf::from(path),
        };
        assert_eq!(
            p.outputs,
            vec![
                spec(OutputFormat::Normal, "a.txt"),
                spec(OutputFormat::Xml, "a.xml"),
                spec(OutputFormat::Grepable, "a.gnmap"),
                spec(OutputFormat::Json, "-"),
            ]
        );
        assert_eq!(
            plan(&["-oA", "out/scan1", "10.0.0.1"]).outputs,
            vec![
                spec(OutputFormat::Normal, "out/scan1.nmap"),
                spec(OutputFormat::Xml, "out/scan1.xml"),
                spec(OutputFormat::Grepable, "out/scan1.gnmap"),
                spec(OutputFormat::Json, "out/scan1.jsonl"),
            ]
        );
        assert_eq!(
            err(&["-oA", "-", "10.0.0.1"]),
            "monban: -oA cannot write to stdout (\"-\"): it makes four files"
        );
        assert_eq!(
            err(&["-oN", "-", "-oX", "-", "10.0.0.1"]),
            "monban: only one output can go to stdout (\"-\")"
        );
        assert_eq!(
            err(&["-oA", "s", "-oX", "s.xml", "10.0.0.1"]),
            "monban: output file \"s.xml\" is given twice"
        );
        assert_eq!(
            err(&["-oN", "", "10.0.0.1"]),
            "monban: -oN needs a file name, got \"\""
        );
        assert_eq!(
            err(&["10.0.0.1", "-oX"]),
            "monban: missing value for -oX (see monban scan --help)"
        );
    }

    #[test]
    fn targets_and_names() {
        let p = plan(&["10.0.0.1", "gate.example", "10.0.0.8/30", "10.0.2.1,3"]);
        assert_eq!(p.target_count, 1 + 1 + 4 + 2);
        let t: Vec<(String, Option<String>)> = p
            .targets
            .into_iter()
            .map(|t| (t.addr.to_string(), t.name.map(|n| n.to_string())))
            .collect();
        let s = |a: &str, n: Option<&str>| (a.to_string(), n.map(str::to_string));
        assert_eq!(
            t,
            vec![
                s("10.0.0.1", None),
                s("10.0.0.5", Some("gate.example")),
                s("10.0.0.8", None),
                s("10.0.0.9", None),
                s("10.0.0.10", None),
                s("10.0.0.11", None),
                s("10.0.2.1", None),
                s("10.0.2.3", None),
            ]
        );
        // IPv6 only resolves where there is nothing else, or with -6.
        assert_eq!(addrs(plan(&["v6only.example"])), ["fd00::6"]);
        let p = plan(&["-6", "gate.example", "fd00::1"]);
        assert!(p.ipv6);
        assert_eq!(addrs(p), ["fd00::5", "fd00::1"]);
        assert_eq!(
            err(&["-6", "v4only.example"]),
            "monban: \"v4only.example\" has no IPv6 address (drop -6 to scan it over IPv4)"
        );
        assert_eq!(
            err(&["-6", "10.0.0.1"]),
            "monban: -6 was given but \"10.0.0.1\" is an IPv4 target"
        );
        assert_eq!(
            err(&["-6", "10.0.0.*"]),
            "monban: -6 was given but \"10.0.0.*\" is an IPv4 target"
        );
        assert_eq!(
            err(&["-6", "-S", "10.0.0.9", "fd00::1"]),
            "monban: -S 10.0.0.9 is an IPv4 address but -6 was given"
        );
        assert_eq!(
            err(&["nowhere.example"]),
            "monban: cannot resolve \"nowhere.example\""
        );
        assert_eq!(
            err(&["empty.example"]),
            "monban: cannot resolve \"empty.example\""
        );
        assert_eq!(
            err(&["10.0.0.256"]),
            "monban: bad target \"10.0.0.256\": octet value 256 is out of range 0-255"
        );
        assert_eq!(err(&["scan"]), "monban: no targets given");
        assert_eq!(err(&["-sS", "-p", "80"]), "monban: no targets given");
        assert_eq!(
            err(&["224.0.0.1"]),
            "monban: \"224.0.0.1\" is a multicast or broadcast address: pass --allow-broadcast to scan it"
        );
        assert_eq!(
            addrs(plan(&["--allow-broadcast", "224.0.0.1"])),
            ["224.0.0.1"]
        );
        // `--` ends options.
        assert_eq!(addrs(plan(&["-p", "80", "--", "10.0.0.3"])), ["10.0.0.3"]);
    }

    #[test]
    fn target_lists_and_exclusions() {
        let p = plan(&["-iL", "targets.txt", "10.0.0.9"]);
        assert_eq!(
            addrs(p),
            ["10.0.0.1", "10.0.0.2", "10.0.0.5", "10.0.1.0", "10.0.1.1", "10.0.0.9"]
        );
        assert_eq!(
            addrs(plan(&["10.0.0.1", "-iL", "-"])),
            ["10.0.0.1", "10.9.9.9"]
        );
        assert_eq!(
            err(&["-iL", "missing.txt"]),
            format!(
                "monban: cannot read target list \"missing.txt\": {}",
                io::Error::from(io::ErrorKind::NotFound)
            )
        );
        assert_eq!(
            err(&["-iL", "bad.txt"]),
            "monban: bad.txt:2: bad target \"10.0.0.300\": octet value 300 is out of range 0-255"
        );
        assert_eq!(err(&["-iL", "empty.txt"]), "monban: no targets given");
        let p = plan(&[
            "10.0.0.0/29",
            "--exclude",
            "10.0.0.0,10.0.0.7",
            "--exclude=10.0.0.3-4",
        ]);
        assert_eq!(addrs(p), ["10.0.0.1", "10.0.0.2", "10.0.0.5", "10.0.0.6"]);
        let p = plan(&[
            "10.0.0.0-7",
            "--excludefile",
            "exclude.txt",
            "--exclude",
            "gate.example",
        ]);
        assert_eq!(
            addrs(p),
            ["10.0.0.0", "10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.7"]
        );
        assert_eq!(
            err(&["10.0.0.1", "--excludefile", "nope"]),
            format!(
                "monban: cannot read exclude list \"nope\": {}",
                io::Error::from(io::ErrorKind::NotFound)
            )
        );
        assert_eq!(
            err(&["10.0.0.1", "--exclude", "10.0.0.1/40"]),
            "monban: bad target \"10.0.0.1/40\": prefix length must be a number from 0 to 32"
        );
    }

    #[test]
    fn args_line_quotes_what_a_shell_would_split() {
        let p = plan(&[
            "-p",
            "80",
            "192.168.1.*",
            "--exclude",
            "10.0.0.1",
            "-oN",
            "my scan.txt",
        ]);
        assert_eq!(
            p.args_line,
            "monban -p 80 '192.168.1.*' --exclude 10.0.0.1 -oN 'my scan.txt'"
        );
        assert_eq!(shell_line(&["a'b".into(), String::new()]), r"'a'\''b' ''");
    }

    #[test]
    fn non_utf8_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![
            OsString::from("monban"),
            OsString::from_vec(vec![b'1', 0xff, b'2']),
        ];
        assert_eq!(
            parse_with(args, &env()).unwrap_err().to_string(),
            "monban: argument 1 is not valid UTF-8: \"1\u{fffd}2\""
        );
    }

    #[test]
    fn error_display_is_one_line() {
        let e = ArgError("no targets given".into());
        assert_eq!(e.to_string(), "monban: no targets given");
    }

    #[test]
    fn random_argv_never_panics() {
        let words = [
            "-p",
            "-p-",
            "-p80",
            "-sS",
            "-sT",
            "-sU",
            "-s",
            "-T",
            "-T4",
            "-Tx",
            "-oA",
            "-oN",
            "-oX",
            "-",
            "--",
            "-iL",
            "targets.txt",
            "bad.txt",
            "--exclude",
            "--excludefile",
            "10.0.0.1",
            "10.0.0.*",
            "fd00::/120",
            "gate.example",
            "nowhere.example",
            "-6",
            "-v",
            "-vv",
            "-v9",
            "--min-rate",
            "--max-rate",
            "0",
            "5",
            "1-3",
            "-F",
            "--top-ports",
            "--host-timeout",
            "5m",
            "x",
            "",
            "=",
            "--open=",
            "-e",
            "-S",
            "-g",
            "scan",
            "help",
            "-h",
            "-Pn",
            "-PS",
            "é",
            "-é",
            "--seed=",
            "224.0.0.1",
            "--allow-broadcast",
            "10.0.0.0/0",
            "::/0",
            ",",
            "10.0.0.1,fd00::1",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut outcomes = [0usize; 2];
        for _ in 0..5000 {
            let n = (rnd() % 7) as usize;
            let args: Vec<&str> = (0..n)
                .map(|_| words[(rnd() % words.len() as u64) as usize])
                .collect();
            match run(&args) {
                Ok(Command::Scan(p)) => {
                    outcomes[0] += 1;
                    let _ = p.targets.into_iter().take(3).count();
                }
                Ok(_) => {}
                Err(e) => {
                    outcomes[1] += 1;
                    assert!(!e.to_string().contains('\n'), "{args:?}: {e}");
                }
            }
        }
        assert!(outcomes[0] > 50 && outcomes[1] > 50, "{outcomes:?}");
    }

    #[test]
    fn profile_presets() {
        let quick = plan(&["--profile", "quick", "10.0.0.1"]);
        assert_eq!(
            quick.tcp_ports,
            vec![
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 23, 25, 53, 59, 79, 80, 110, 113, 135,
                139, 443, 445, 1080, 1125, 1243, 1999, 5000, 6776, 7789, 8080, 12345, 31337, 54320,
                54321
            ]
        );
        assert_eq!(
            quick.scan_type, None,
            "SYN when privileged, connect otherwise"
        );
        // The profile's echo probe with raw sockets, the defaults without.
        assert_eq!(
            quick.discovery,
            Some(DiscoveryProbes {
                raw: vec![PingProbe::Echo],
                unprivileged: Some(PingProbe::DEFAULT_CONNECT.to_vec()),
            })
        );
        assert!(!quick.version_detection);

        let trojan = plan(&["--profile=trojan", "10.0.0.1"]);
        let mut want = profiles::TROJAN_PORTS.to_vec();
        want.sort_unstable();
        assert_eq!(trojan.tcp_ports, want);
        assert_eq!(trojan.tcp_ports.len(), 37);
        assert!(trojan.tcp_ports.contains(&31337) && trojan.tcp_ports.contains(&12345));
        assert_eq!(trojan.scan_type, None);
        assert_eq!(trojan.discovery, plan(&["10.0.0.1"]).discovery);

        let tcp = plan(&["--profile", "tcp-low", "10.0.0.1"]);
        assert_eq!(tcp.tcp_ports, (1..=1024).collect::<Vec<u16>>());
        assert_eq!(tcp.scan_type, None);

        let udp = plan(&["--profile", "udp-low", "10.0.0.1"]);
        assert_eq!(udp.tcp_ports, (1..=1024).collect::<Vec<u16>>());
        assert_eq!(udp.scan_type, Some(ScanType::Udp));

        let pre = plan(&["-profile", "prescan", "10.0.0.1"]);
        assert_eq!(
            pre.tcp_ports,
            vec![21, 22, 23, 25, 79, 80, 110, 113, 1080, 8080]
        );
        assert!(pre.version_detection);
        assert_eq!(pre.version_intensity, 7);
        assert_eq!(pre.discovery, plan(&["10.0.0.1"]).discovery);

        let st = plan(&["--profile", "stealth", "10.0.0.1"]);
        assert!(st.stealth);
        assert_eq!(st.scan_type, Some(ScanType::Syn));
        assert_eq!(st.tcp_ports, quick.tcp_ports);
        assert_eq!(st.discovery, quick.discovery);
        let st = plan(&["--profile", "stealth", "-p", "80", "-Pn", "10.0.0.1"]);
        assert!(st.stealth && st.discovery.is_none());
        assert_eq!(st.tcp_ports, vec![80]);
        assert_eq!(
            err(&["--profile", "stealth", "-sT", "10.0.0.1"]),
            "monban: the stealth profile chooses its own probes (SYN, FIN, NULL, Xmas, ACK): \
             leave out -sS/-sT/-sF/..."
        );
        assert!(!plan(&["--profile", "stealth", "-sn", "10.0.0.1"]).stealth);
        assert_eq!(
            err(&["--profile", "fast", "10.0.0.1"]),
            "monban: unknown profile \"fast\": choose one of prescan, quick, stealth, trojan, \
             tcp-low, udp-low (see monban profiles)"
        );
        assert_eq!(
            err(&["10.0.0.1", "--profile"]),
            "monban: missing value for --profile (see monban scan --help)"
        );
    }

    #[test]
    fn explicit_flags_override_profiles() {
        let p = plan(&["--profile", "quick", "-p", "80", "-PS22", "-sT", "10.0.0.1"]);
        assert_eq!(p.tcp_ports, vec![80]);
        // Probes from flags: no fallback without raw sockets.
        assert_eq!(
            p.discovery,
            Some(DiscoveryProbes {
                raw: vec![PingProbe::Syn(22)],
                unprivileged: None,
            })
        );
        assert_eq!(p.scan_type, Some(ScanType::Connect));
        let p = plan(&["--profile", "quick", "-Pn", "10.0.0.1"]);
        assert!(p.discovery.is_none());
        assert_eq!(
            plan(&["--profile", "quick", "-F", "10.0.0.1"]).tcp_ports,
            top(100)
        );
        assert_eq!(
            plan(&["--profile", "tcp-low", "--top-ports", "10", "10.0.0.1"]).tcp_ports,
            top(10)
        );
        let p = plan(&["--profile", "udp-low", "-sS", "-p", "53", "10.0.0.1"]);
        assert_eq!((p.scan_type, p.tcp_ports), (Some(ScanType::Syn), vec![53]));
        let p = plan(&[
            "--profile",
            "tcp-low",
            "--exclude-ports",
            "2-1024",
            "10.0.0.1",
        ]);
        assert_eq!(p.tcp_ports, vec![1]);
        let p = plan(&[
            "--profile",
            "prescan",
            "--version-intensity",
            "2",
            "-p",
            "22",
            "10.0.0.1",
        ]);
        assert_eq!((p.version_detection, p.version_intensity), (true, 2));
        assert_eq!(p.tcp_ports, vec![22]);
        let p = plan(&["--profile", "prescan", "-sU", "10.0.0.1"]);
        assert!(!p.version_detection, "-sU wins over the profile's -sV");
        assert_eq!(p.scan_type, Some(ScanType::Udp));
    }

    #[test]
    fn profiles_subcommand() {
        match run(&["profiles"]) {
            Ok(Command::Profiles(text)) => assert_eq!(
                text,
                "PROFILES (monban scan --profile NAME; explicit flags win)\n\
                 \x20 prescan   service banners (-sV) of FTP, POP3, SMTP, Telnet, Finger, Ident, \
                 SOCKS, HTTP proxy, SSH and HTTP (10 ports)\n\
                 \x20 quick     SYN scan (connect when unprivileged) of 37 common and backdoor \
                 ports, echo-request discovery\n\
                 \x20 stealth   the quick list probed with SYN, FIN, NULL, Xmas and ACK, one \
                 verdict per port (a filter that drops only SYNs cannot hide a closed port)\n\
                 \x20 trojan    well-known trojan and backdoor ports (monban's own list)\n\
                 \x20 tcp-low   every TCP port from 1 to 1024\n\
                 \x20 udp-low   every UDP port from 1 to 1024 (-sU)\n"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err(&["profiles", "x"]),
            "monban: monban profiles takes no arguments (got \"x\")"
        );
    }
}
