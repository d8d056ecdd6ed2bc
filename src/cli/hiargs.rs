//! From the command-line mirror to a validated [`ScanPlan`].
//!
//! Here flags meet each other (`-sS` with `-sT`, `-p` with `-F`, `--min-rate` with
//! `--max-rate`), port specs become port lists, `-oA` becomes four outputs, target lists
//! are read and host names resolved. File reading and name resolution go through
//! [`Env`], so tests run without touching the file system or the network.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use monban_engine::bounce::BounceServer;
pub(super) use monban_engine::ports::{parse_exclude_ports, parse_ports, top_ports};
use monban_engine::targets::{parse_target, TargetSet, TargetSpec};
use monban_engine::{Protocol, ScanType};

use super::lowargs::{LowArgs, OutputFlag, TargetSource};
use super::plan::{self, TimingArgs};
use super::{ArgError, BouncePlan, OutputFormat, OutputSpec, ScanPlan};

/// The outside world the plan needs: files and the name resolver.
pub(crate) trait Env {
    /// Reads a whole text file; `-` means standard input.
    fn read_file(&self, path: &str) -> io::Result<String>;
    /// Every address of a host name.
    fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>>;
}

/// The real world: the file system, stdin and the system resolver.
pub(crate) struct SystemEnv;

impl Env for SystemEnv {
    fn read_file(&self, path: &str) -> io::Result<String> {
        crate::files::read_text(std::path::Path::new(path), crate::files::MAX_INPUT_FILE)
    }

    fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        Ok((name, 0).to_socket_addrs()?.map(|sa| sa.ip()).collect())
    }
}

/// `--version-intensity` without the flag (nmap's default).
pub(crate) const DEFAULT_VERSION_INTENSITY: u8 = 7;

/// Validates `low` into a plan. `args_line` is the command line for output headers.
pub(crate) fn build(
    mut low: LowArgs,
    args_line: String,
    env: &dyn Env,
) -> Result<ScanPlan, ArgError> {
    let pings_from_profile = super::profiles::apply(&mut low)?;
    let scan_type = scan_type(&low.scan_types)?;
    if low.ping_only && low.skip_discovery {
        return Err(ArgError(
            "-sn and -Pn cannot be combined: -sn only finds live hosts, -Pn skips that".into(),
        ));
    }
    if low.ping_only && !low.scan_types.is_empty() {
        return Err(ArgError(
            "-sn finds live hosts without a port scan: leave out -sS/-sT/-sF/... or -sn".into(),
        ));
    }
    if low.ping_only && low.version_detection {
        return Err(ArgError(
            "-sn finds live hosts without a port scan: -sV needs one".into(),
        ));
    }
    if low.audit && low.ping_only {
        return Err(ArgError(
            "--audit judges the ports of each host: it needs a port scan, not -sn".into(),
        ));
    }
    if low.skip_discovery && !low.pings.is_empty() {
        return Err(ArgError(
            "-Pn skips discovery: it cannot be combined with -PE/-PS/-PA".into(),
        ));
    }
    let proto = match scan_type {
        Some(ScanType::Udp) => Protocol::Udp,
        _ => Protocol::Tcp,
    };
    let tcp_ports = ports(&low, proto)?;
    let timing = timing(&low)?;
    let outputs = outputs(&low.outputs)?;
    let sources = match &low.source_addr {
        Some(spec) => source_addrs(spec)?,
        None => Vec::new(),
    };
    if let (Some(addr @ IpAddr::V4(_)), true) = (sources.first(), low.ipv6) {
        return Err(ArgError(format!(
            "-S {addr} is an IPv4 address but -6 was given"
        )));
    }
    let mut resolver = Resolver {
        env,
        ipv6: low.ipv6,
        cache: HashMap::new(),
    };
    let targets = targets(&low, &mut resolver)?;
    let bounce = match &low.bounce {
        Some(spec) => Some(bounce_server(
            spec,
            &low,
            &mut resolver,
            plan::bounce_timeout(&timing),
        )?),
        None => None,
    };
    let targets_text = low
        .targets
        .iter()
        .map(|t| match t {
            TargetSource::Arg(a) => a.clone(),
            TargetSource::File(f) => format!("-iL {f}"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let db = match &low.db {
        None => None,
        Some(given) if !given.is_empty() => Some(given.clone()),
        Some(_) => Some(
            monban_store::default_path()
                .ok_or_else(|| {
                    ArgError(
                        "--db: no home directory to keep the default database in; give one: --db=FILE"
                            .into(),
                    )
                })?
                .display()
                .to_string(),
        ),
    };
    Ok(ScanPlan {
        args_line,
        targets_text,
        db,
        stats_every: low.stats_every,
        scan_type,
        tcp_ports,
        randomize_ports: !low.sequential,
        target_count: targets.len_upper_bound(),
        targets,
        timing,
        discovery: plan::discovery(low.skip_discovery, &low.pings, pings_from_profile),
        ping_only: low.ping_only,
        no_dns: low.no_dns,
        ipv6: low.ipv6,
        outputs,
        open_only: low.open,
        reason: low.reason,
        verbose: low.verbose,
        seed: low.seed,
        scan_flags: low.scan_flags,
        shard: shard(&low)?,
        source_port: low.source_port,
        source_addr: sources.first().copied(),
        sources: sources.get(1..).unwrap_or_default().to_vec(),
        interface: low.interface,
        progress: !low.no_progress,
        keep_privileges: low.keep_privileges,
        allow_broadcast: low.allow_broadcast,
        version_detection: low.version_detection,
        version_intensity: low.version_intensity.unwrap_or(DEFAULT_VERSION_INTENSITY),
        bounce,
        stealth: low.stealth,
        audit: low.audit,
        arp_ping: !low.no_arp,
        resume: None,
    })
}

/// Most source addresses `-S` may name.
const MAX_SOURCES: usize = 256;

/// `-S`: an address, or addresses in the target syntax (`10.0.0.2,3`, `10.0.0.2-5`,
/// `fd00::/126`), at most [`MAX_SOURCES`], in the order given, without repeats.
fn source_addrs(spec: &str) -> Result<Vec<IpAddr>, ArgError> {
    if let Ok(a) = spec.parse::<IpAddr>() {
        return Ok(vec![a]);
    }
    let bad = |why: String| {
        ArgError(format!("-S needs addresses (10.0.0.2, 10.0.0.2-5, 10.0.0.2,7 or a CIDR block), got {spec:?}: {why}"))
    };
    let specs = parse_target(spec).map_err(|e| bad(e.to_string()))?;
    let mut set = TargetSet::new();
    for s in specs {
        if matches!(s, TargetSpec::Name(_)) {
            return Err(bad("host names are not source addresses".into()));
        }
        set.allow_dangerous(true);
        set.add(s, None).map_err(|e| bad(e.to_string()))?;
    }
    if set.len_upper_bound() > MAX_SOURCES as u128 {
        return Err(bad(format!("more than {MAX_SOURCES} addresses")));
    }
    let mut out: Vec<IpAddr> = Vec::new();
    for t in set {
        if !out.contains(&t.addr) {
            out.push(t.addr);
        }
    }
    Ok(out)
}

/// The `-b` server: parsed, its name resolved, checked against the other flags.
fn bounce_server(
    spec: &str,
    low: &LowArgs,
    resolver: &mut Resolver<'_>,
    timeout: std::time::Duration,
) -> Result<BouncePlan, ArgError> {
    let server = BounceServer::parse(spec).map_err(|e| ArgError(e.to_string()))?;
    if low.version_detection {
        return Err(ArgError(
            "-b cannot be combined with -sV: the FTP server only says whether it could connect"
                .into(),
        ));
    }
    if low.scan_flags.is_some() {
        return Err(ArgError(
            "-b cannot be combined with --scanflags: the FTP server opens the connections".into(),
        ));
    }
    let host = server.host.trim();
    let addr = match host.parse::<IpAddr>() {
        Ok(a) => a,
        Err(_) => resolver.resolve(host)?,
    };
    Ok(BouncePlan {
        server: SocketAddr::new(addr, server.port),
        user: server.user,
        pass: server.pass,
        timeout,
    })
}

fn scan_type(given: &[ScanType]) -> Result<Option<ScanType>, ArgError> {
    let first = given.first().copied();
    if given.iter().any(|t| Some(*t) != first) {
        let mut letters: Vec<String> = Vec::new();
        for t in given {
            let l = flag(*t).to_string();
            if !letters.contains(&l) {
                letters.push(l);
            }
        }
        return Err(ArgError(format!(
            "{} cannot be combined: choose one scan type",
            letters.join(" and ")
        )));
    }
    Ok(first)
}

/// `--shard I/N` (1-based) as (index, count) with a 0-based index.
fn shard(low: &LowArgs) -> Result<Option<(u32, u32)>, ArgError> {
    let Some((i, n)) = low.shard else {
        return Ok(None);
    };
    if n == 0 || i == 0 || i > n {
        return Err(ArgError(format!(
            "--shard {i}/{n}: the shard number must be between 1 and the number of shards"
        )));
    }
    if n > 1 && low.seed.is_none() {
        return Err(ArgError(
            "--shard needs --seed: every shard must cut the space with the same seed".into(),
        ));
    }
    Ok(Some((i - 1, n)))
}

fn flag(t: ScanType) -> &'static str {
    match t {
        ScanType::Syn => "-sS",
        ScanType::Connect => "-sT",
        ScanType::Fin => "-sF",
        ScanType::Null => "-sN",
        ScanType::Xmas => "-sX",
        ScanType::Ack => "-sA",
        ScanType::Window => "-sW",
        ScanType::Udp => "-sU",
        ScanType::Bounce => "-b",
    }
}

/// The ports of `proto` to scan (the plan's `tcp_ports` holds UDP ports for -sU).
fn ports(low: &LowArgs, proto: Protocol) -> Result<Vec<u16>, ArgError> {
    let conflict = |a: &str, b: &str| Err(ArgError(format!("{a} and {b} cannot be combined")));
    match (&low.ports, low.fast, low.top_ports) {
        (Some(_), true, _) => return conflict("-p", "-F"),
        (Some(_), _, Some(_)) => return conflict("-p", "--top-ports"),
        (None, true, Some(_)) => return conflict("-F", "--top-ports"),
        _ => {}
    }
    let mut list = match &low.ports {
        Some(spec) => {
            // Bare items go to both protocols; a scan uses the list of its own protocol.
            let pl =
                parse_ports(spec).map_err(|e| ArgError(format!("bad port spec {spec:?}: {e}")))?;
            let list = pl.ports(proto).to_vec();
            if list.is_empty() {
                return Err(ArgError(format!(
                    "-p {spec:?} names no {} port for this scan",
                    proto.as_str().to_uppercase()
                )));
            }
            list
        }
        None => {
            let n = if low.fast {
                100
            } else {
                low.top_ports.unwrap_or(1000)
            };
            let mut ranked = top_ports(proto, n);
            ranked.sort_unstable();
            ranked.dedup();
            ranked
        }
    };
    if let Some(spec) = &low.exclude_ports {
        let ex = parse_exclude_ports(spec)
            .map_err(|e| ArgError(format!("bad port spec {spec:?} for --exclude-ports: {e}")))?;
        list.retain(|p| ex.ports(proto).binary_search(p).is_err());
        if list.is_empty() {
            return Err(ArgError("--exclude-ports leaves no port to scan".into()));
        }
    }
    if list.is_empty() {
        return Err(ArgError("no ports to scan".into()));
    }
    Ok(list)
}

/// The timing options as given, merged with their template into the scan's timing.
fn timing(low: &LowArgs) -> Result<monban_engine::Timing, ArgError> {
    plan::timing(&TimingArgs {
        template: low.template.unwrap_or(3),
        min_rate: low.min_rate,
        max_rate: low.max_rate,
        max_retries: low.max_retries,
        host_timeout: low.host_timeout,
        min_rtt_timeout: low.min_rtt_timeout,
        max_rtt_timeout: low.max_rtt_timeout,
        initial_rtt_timeout: low.initial_rtt_timeout,
        scan_delay: low.scan_delay,
    })
}

fn outputs(given: &[(OutputFlag, String)]) -> Result<Vec<OutputSpec>, ArgError> {
    let mut out = Vec::new();
    for (flag, path) in given {
        let (name, format) = match flag {
            OutputFlag::Normal => ("-oN", OutputFormat::Normal),
            OutputFlag::Xml => ("-oX", OutputFormat::Xml),
            OutputFlag::Grepable => ("-oG", OutputFormat::Grepable),
            OutputFlag::Json => ("-oJ", OutputFormat::Json),
            OutputFlag::All => {
                if path.is_empty() {
                    return Err(ArgError("-oA needs a base name, got \"\"".into()));
                }
                if path == "-" {
                    return Err(ArgError(
                        "-oA cannot write to stdout (\"-\"): it makes four files".into(),
                    ));
                }
                for (format, ext) in [
                    (OutputFormat::Normal, "nmap"),
                    (OutputFormat::Xml, "xml"),
                    (OutputFormat::Grepable, "gnmap"),
                    (OutputFormat::Json, "jsonl"),
                ] {
                    out.push(OutputSpec {
                        format,
                        path: PathBuf::from(format!("{path}.{ext}")),
                    });
                }
                continue;
            }
        };
        if path.is_empty() {
            return Err(ArgError(format!("{name} needs a file name, got \"\"")));
        }
        out.push(OutputSpec {
            format,
            path: PathBuf::from(path),
        });
    }
    let stdout = PathBuf::from("-");
    if out.iter().filter(|o| o.path == stdout).count() > 1 {
        return Err(ArgError("only one output can go to stdout (\"-\")".into()));
    }
    for (i, o) in out.iter().enumerate() {
        if o.path != stdout && out[..i].iter().any(|p| p.path == o.path) {
            return Err(ArgError(format!(
                "output file {:?} is given twice",
                o.path.display().to_string()
            )));
        }
    }
    Ok(out)
}

/// Resolves names once each, preferring IPv4 (IPv6 with `-6`).
struct Resolver<'a> {
    env: &'a dyn Env,
    ipv6: bool,
    cache: HashMap<String, IpAddr>,
}

impl Resolver<'_> {
    fn resolve(&mut self, name: &str) -> Result<IpAddr, ArgError> {
        if let Some(ip) = self.cache.get(name) {
            return Ok(*ip);
        }
        let cannot = || ArgError(format!("cannot resolve {name:?}"));
        let addrs = self.env.resolve(name).map_err(|_| cannot())?;
        let ip = if self.ipv6 {
            match addrs.iter().find(|a| a.is_ipv6()) {
                Some(ip) => *ip,
                None if addrs.is_empty() => return Err(cannot()),
                None => {
                    return Err(ArgError(format!(
                        "{name:?} has no IPv6 address (drop -6 to scan it over IPv4)"
                    )))
                }
            }
        } else {
            *addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .ok_or_else(cannot)?
        };
        self.cache.insert(name.to_string(), ip);
        Ok(ip)
    }
}

fn targets(low: &LowArgs, resolver: &mut Resolver<'_>) -> Result<TargetSet, ArgError> {
    let mut set = TargetSet::new();
    set.allow_dangerous(low.allow_broadcast);
    for source in &low.targets {
        match source {
            TargetSource::Arg(token) => add_token(&mut set, token, resolver)?,
            TargetSource::File(path) => {
                let text = resolver
                    .env
                    .read_file(path)
                    .map_err(|e| ArgError(format!("cannot read target list {path:?}: {e}")))?;
                for (line, token) in list_tokens(&text) {
                    add_token(&mut set, token, resolver)
                        .map_err(|e| ArgError(format!("{}:{line}: {}", shown(path), e.0)))?;
                }
            }
        }
    }
    for token in &low.excludes {
        exclude_token(&mut set, token, resolver)?;
    }
    for path in &low.exclude_files {
        let text = resolver
            .env
            .read_file(path)
            .map_err(|e| ArgError(format!("cannot read exclude list {path:?}: {e}")))?;
        for (line, token) in list_tokens(&text) {
            exclude_token(&mut set, token, resolver)
                .map_err(|e| ArgError(format!("{}:{line}: {}", shown(path), e.0)))?;
        }
    }
    if set.is_empty() {
        return Err(ArgError("no targets given".into()));
    }
    Ok(set)
}

/// How a list file is named in messages.
fn shown(path: &str) -> &str {
    if path == "-" {
        "stdin"
    } else {
        path
    }
}

/// Tokens of a target list with their 1-based line numbers: whitespace-separated,
/// `#` to the end of a line is a comment.
fn list_tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().flat_map(|(i, line)| {
        let body = line.split_once('#').map_or(line, |(b, _)| b);
        body.split_whitespace().map(move |t| (i + 1, t))
    })
}

fn add_token(
    set: &mut TargetSet,
    token: &str,
    resolver: &mut Resolver<'_>,
) -> Result<(), ArgError> {
    let specs = parse_target(token).map_err(|e| ArgError(e.to_string()))?;
    for spec in specs {
        let (spec, name) = match spec {
            TargetSpec::Name(name) => {
                let ip = resolver.resolve(&name)?;
                (TargetSpec::Addr(ip), Some(Arc::from(name)))
            }
            other => {
                if resolver.ipv6 && is_ipv4(&other) {
                    return Err(ArgError(format!(
                        "-6 was given but \"{other}\" is an IPv4 target"
                    )));
                }
                (other, None)
            }
        };
        set.add(spec, name).map_err(|e| ArgError(e.to_string()))?;
    }
    Ok(())
}

fn exclude_token(
    set: &mut TargetSet,
    token: &str,
    resolver: &mut Resolver<'_>,
) -> Result<(), ArgError> {
    let specs = parse_target(token).map_err(|e| ArgError(e.to_string()))?;
    for spec in specs {
        let spec = match spec {
            TargetSpec::Name(name) => TargetSpec::Addr(resolver.resolve(&name)?),
            other => other,
        };
        set.exclude(spec).map_err(|e| ArgError(e.to_string()))?;
    }
    Ok(())
}

fn is_ipv4(spec: &TargetSpec) -> bool {
    match spec {
        TargetSpec::Addr(a) | TargetSpec::Cidr { addr: a, .. } => a.is_ipv4(),
        TargetSpec::Octets(_) => true,
        TargetSpec::Name(_) => false,
    }
}
