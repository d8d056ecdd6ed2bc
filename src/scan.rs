//! A scan run: the plan's outputs are opened, the phases run (host discovery by IP
//! pings and ARP / ND, then the port scan, the FTP bounce scan or the stealth profile's
//! five scans), and events go through version detection and reverse DNS to the sinks.

use crate::cli::{self, OutputFormat, ScanPlan};
use crate::{install_signal_handlers, rdns, resume, versions, EXIT_INTERRUPTED, STOP};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use monban_engine::targets::Target;
use monban_engine::{
    Event, HostStatus, PortState, Progress, Protocol, Reason, RiskNote, Scan, ScanConfig, ScanType,
    Timing,
};
use monban_netio::{DriveOptions, Handler, NetError};
use monban_output::{
    GrepSink, JsonSink, MultiSink, NormalSink, RunInfo, RunStats, Sink, SinkOptions, XmlSink,
};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, IsTerminal, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

pub(crate) fn open_output(path: &std::path::Path) -> Result<Box<dyn Write + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(BufWriter::new(f)))
}

/// Opens an output of an interrupted scan to continue it (`--resume`): appended to,
/// except XML, which is first cut back to its finished hosts (see [`resume::cut_xml`]).
fn reopen_output(
    path: &std::path::Path,
    format: OutputFormat,
    done: &std::collections::HashSet<IpAddr>,
) -> Result<Box<dyn Write + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    if format == OutputFormat::Xml {
        let text = crate::files::read_text(path, crate::files::MAX_INPUT_FILE)
            .with_context(|| format!("cannot read {} to resume it", path.display()))?;
        let kept = resume::cut_xml(&text, done).with_context(|| {
            format!(
                "{} is not an XML output of monban: cannot resume it",
                path.display()
            )
        })?;
        std::fs::write(path, kept).with_context(|| format!("cannot rewrite {}", path.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot open {} to resume it", path.display()))?;
    Ok(Box::new(BufWriter::new(f)))
}

fn sinks_for(plan: &ScanPlan) -> Result<MultiSink> {
    let opts = SinkOptions {
        reason: plan.reason,
        open_only: plan.open_only,
        verbose: plan.verbose,
        audit: plan.audit,
    };
    let mut multi = MultiSink::new();
    let stdout_taken = plan.outputs.iter().any(|o| o.path.as_os_str() == "-");
    if !stdout_taken {
        multi.push(Box::new(NormalSink::new(
            Box::new(std::io::stdout()) as Box<dyn Write + Send>,
            opts,
        )));
    }
    for o in &plan.outputs {
        let w = match &plan.resume {
            Some(r) => reopen_output(&o.path, o.format, &r.done)?,
            None => open_output(&o.path)?,
        };
        let sink: Box<dyn Sink + Send> = match o.format {
            OutputFormat::Normal => Box::new(NormalSink::for_file(w, opts)),
            OutputFormat::Xml => Box::new(XmlSink::new(w, opts)),
            OutputFormat::Grepable => Box::new(GrepSink::new(w, opts)),
            OutputFormat::Json => Box::new(JsonSink::new(w, opts)),
        };
        multi.push(sink);
    }
    if let Some(db) = &plan.db {
        let store = monban_store::Store::open(db).with_context(|| format!("--db {db}"))?;
        multi.push(Box::new(monban_store::StoreSink::new(
            store,
            new_scan(plan),
        )));
    }
    Ok(multi)
}

/// What the history needs to know of a scan before it begins. The shards of one sharded
/// scan share a key (same seed, shard count, targets, ports and scan type), so they land
/// as one scan wherever they run; any other run gets a key of its own.
fn new_scan(plan: &ScanPlan) -> monban_store::NewScan {
    let ports = monban_engine::ports::format_ranges(&plan.tcp_ports);
    let scan_type = plan.scan_type.unwrap_or(ScanType::Syn);
    let (key, shards) = match (plan.shard, plan.seed) {
        (Some((_, n)), Some(seed)) if n > 1 => (
            format!(
                "shard:{seed}:{n}:{}:{ports}:{}",
                plan.targets_text,
                scan_type.as_str()
            ),
            n,
        ),
        _ => (
            format!(
                "run:{}:{}:{:x}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
                std::process::id(),
                random_u64()
            ),
            1,
        ),
    };
    monban_store::NewScan {
        key,
        // The rest is filled from the run when the scan begins.
        args: plan.args_line.clone(),
        targets: plan.targets_text.clone(),
        scan_type,
        ports,
        started: std::time::SystemTime::now(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        shards,
    }
}

/// Why a live host was found up: reason, reply TTL, round trip, MAC address (ARP / ND).
type Discovered = (
    Reason,
    Option<u8>,
    Option<Duration>,
    Option<monban_wire::MacAddr>,
);

struct Out {
    sinks: MultiSink,
    /// Version detection for hosts with open TCP ports (None without -sV); reports pass
    /// through it before reverse DNS.
    versions: Option<versions::Detector>,
    /// Reverse DNS for up hosts (None with -n).
    rdns: Option<rdns::Resolver>,
    /// Why each live host was found up in discovery, for its port-scan report.
    discovered: HashMap<IpAddr, Discovered>,
    bar: Option<ProgressBar>,
    /// `--stats-every`: the interval, when the scan began, when progress was last told
    /// (`None`: not yet; the first report comes at once, so a watcher sees the total).
    stats: Option<(Duration, Instant, Option<Instant>)>,
    up: u64,
    down: u64,
    hosts: u64,
    error: Option<monban_output::OutputError>,
}

impl Handler for Out {
    fn event(&mut self, event: Event) {
        let r = match event {
            Event::OpenPort { addr, result } => self.sinks.port(addr, &result),
            Event::Host(mut report) => {
                if let Some((reason, ttl, srtt, mac)) = self.discovered.get(&report.addr) {
                    report.status_reason = *reason;
                    report.status_ttl = *ttl;
                    report.srtt = report.srtt.or(*srtt);
                    report.mac = report.mac.or(*mac);
                }
                self.hosts += 1;
                match report.status {
                    HostStatus::Up => self.up += 1,
                    HostStatus::Down => self.down += 1,
                }
                match &mut self.versions {
                    Some(v) => {
                        v.submit(report);
                        Ok(())
                    }
                    None => self.after_versions(report),
                }
            }
        };
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
        self.flush_named(Instant::now());
    }

    fn progress(&mut self, p: &Progress) {
        self.flush_named(Instant::now());
        if let Some((every, began, last)) = &mut self.stats {
            let now = Instant::now();
            if last.is_none_or(|l| now.duration_since(l) >= *every) {
                *last = Some(now);
                let info = monban_output::ProgressInfo {
                    time: std::time::SystemTime::now(),
                    elapsed: now.duration_since(*began),
                    done: p.ports_done,
                    total: u64::try_from(p.ports_total)
                        .unwrap_or(u64::MAX)
                        .max(p.ports_done),
                    hosts_done: p.hosts_done,
                };
                if let Err(e) = self.sinks.progress(&info) {
                    self.error.get_or_insert(e);
                }
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_length(
                u64::try_from(p.ports_total)
                    .unwrap_or(u64::MAX)
                    .max(p.ports_done),
            );
            bar.set_position(p.ports_done);
            let rate = p
                .rate
                .map_or_else(|| "unpaced".to_owned(), |r| format!("{r:.0}/s"));
            bar.set_message(format!(
                "{} probes ({} retries), rate {rate}, {} hosts done",
                p.probes_sent, p.retransmits, p.hosts_done
            ));
        }
    }
}

impl Out {
    fn write_host(
        &mut self,
        report: &monban_engine::HostReport,
    ) -> Result<(), monban_output::OutputError> {
        match &self.bar {
            Some(bar) => bar.suspend(|| self.sinks.host(report)),
            None => self.sinks.host(report),
        }
    }

    /// Hands a report whose services are known to reverse DNS, or writes it.
    fn after_versions(
        &mut self,
        mut report: Box<monban_engine::HostReport>,
    ) -> Result<(), monban_output::OutputError> {
        add_risks(&mut report);
        match &mut self.rdns {
            Some(r) if report.status == HostStatus::Up && report.name.is_none() => {
                r.submit(report);
                Ok(())
            }
            _ => self.write_host(&report),
        }
    }

    /// Passes on the reports whose version detection has finished.
    fn flush_versions(&mut self, wait: bool) {
        let ready = match &mut self.versions {
            Some(v) if wait => v.finish(),
            Some(v) => v.ready(),
            None => return,
        };
        for report in ready {
            if let Err(e) = self.after_versions(Box::new(report)) {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Writes the reports whose reverse lookup has finished (or timed out).
    fn flush_named(&mut self, now: Instant) {
        self.flush_versions(false);
        let ready = match &mut self.rdns {
            Some(r) => r.ready(now),
            None => return,
        };
        for report in ready {
            if let Err(e) = self.write_host(&report) {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Waits (bounded) for the last version detections and reverse lookups and writes
    /// their reports.
    fn finish_names(&mut self) {
        self.flush_versions(true);
        let rest = match &mut self.rdns {
            Some(r) => r.finish(),
            None => return,
        };
        for report in rest {
            if let Err(e) = self.write_host(&report) {
                self.error.get_or_insert(e);
            }
        }
    }
}

pub(crate) fn run_scan(plan: ScanPlan) -> Result<ExitCode> {
    let raw_ok = monban_netio::can_use_raw_sockets();
    let scan_type = match plan.scan_type {
        Some(t) if t.needs_raw_sockets() && !raw_ok => {
            return Err(NetError::NeedRawPrivilege.into())
        }
        Some(t) => t,
        None if raw_ok => ScanType::Syn,
        None => ScanType::Connect,
    };
    check_sources(&plan)?;
    let pings = match &plan.discovery {
        None => None,
        Some(d) => Some(
            d.for_privilege(raw_ok)
                .ok_or(NetError::NeedRawPrivilege)?
                .to_vec(),
        ),
    };
    let timing = plan.timing.clone();
    // Targets on a directly attached Ethernet segment are found by ARP / ND (as nmap
    // does when privileged) when discovery sends raw probes.
    let raw_pings = pings
        .as_ref()
        .is_some_and(|p| !p.iter().all(|p| p.is_connect()));
    let neighbors = (raw_ok && raw_pings && plan.arp_ping)
        .then(monban_netio::neighbor::interfaces)
        .and_then(|r| r.ok());
    // Every raw and packet socket the run may need is opened now, before the outputs,
    // so that privileges can be given up once both are open.
    let sockets = match raw_ok && (scan_type.needs_raw_sockets() || raw_pings) {
        true => {
            let mut pool = monban_netio::RawSockets::open(plan.interface.as_deref())?;
            if let Some(ifaces) = &neighbors {
                pool.add_neighbors(ifaces, plan.interface.as_deref())
                    .context("local-segment discovery")?;
            }
            Some(Arc::new(pool))
        }
        false => None,
    };
    let seed = plan.seed.unwrap_or_else(random_u64);
    // Without -g: a random base; try k of a probe leaves from base + k.
    let source_port = plan
        .source_port
        .unwrap_or(40_000 + (monban_engine::perm::splitmix64(seed) % 20_000) as u16);
    let fixed_source_port = plan.source_port.is_some();
    let mut source_v4 = None;
    let mut source_v6 = None;
    match plan.source_addr {
        Some(IpAddr::V4(a)) => source_v4 = Some(a),
        Some(IpAddr::V6(a)) => source_v6 = Some(a),
        None => {}
    }
    let wall_start = SystemTime::now();
    let mono_start = Instant::now();
    let cfg = ScanConfig {
        scan_type,
        timing,
        ports: plan.tcp_ports.clone(),
        randomize_ports: plan.randomize_ports,
        seed,
        source_v4,
        source_v6,
        sources: plan.sources.clone(),
        source_port,
        fixed_source_port,
        tcp_flags: plan.scan_flags,
        assume_up: true,
        wall_start,
        max_group_slots: monban_engine::scan::DEFAULT_GROUP_SLOTS,
        shard: plan.shard,
        pings: None,
    };
    let mut sinks = sinks_for(&plan)?;
    let run = RunInfo {
        args: plan.args_line.clone(),
        start: wall_start,
        scan_type,
        tcp_ports: if plan.ping_only {
            Vec::new()
        } else {
            plan.tcp_ports.clone()
        },
        version: env!("CARGO_PKG_VERSION"),
        num_hosts_hint: Some(plan.target_count),
        resumed: plan.resume.is_some(),
    };
    sinks.begin(&run)?;
    // Sockets and outputs (and the database, its first row written) are open: give up
    // root or capabilities before any other thread starts (see `privilege`).
    if !plan.keep_privileges {
        let dropped = crate::privilege::drop_privileges()?;
        if plan.verbose > 0 {
            match dropped {
                crate::privilege::Dropped::Nothing => {}
                crate::privilege::Dropped::Capabilities => {
                    eprintln!("monban: sockets open; capabilities cleared");
                }
                crate::privilege::Dropped::User { uid, gid } => {
                    eprintln!("monban: sockets open; now uid {uid}, gid {gid}, no capabilities");
                }
            }
        }
    }
    install_signal_handlers();
    let bar = (plan.progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let stop = Arc::new(AtomicBool::new(false));
    let versions = plan.version_detection.then(|| {
        versions::Detector::new(
            monban_netio::version::VersionOptions {
                intensity: plan.version_intensity,
                interface: plan.interface.clone(),
                ..Default::default()
            },
            Arc::clone(&stop),
        )
    });
    let mut out = Out {
        sinks,
        versions,
        rdns: (!plan.no_dns).then(rdns::Resolver::new),
        discovered: HashMap::new(),
        bar,
        stats: plan.stats_every.map(|every| (every, Instant::now(), None)),
        // A resumed scan's totals include the hosts the interrupted run finished.
        up: plan.resume.as_ref().map_or(0, |r| r.up),
        down: plan.resume.as_ref().map_or(0, |r| r.down),
        hosts: plan.resume.as_ref().map_or(0, |r| r.up + r.down),
        error: None,
    };
    let opts = DriveOptions {
        stop: Arc::clone(&stop),
        interface: plan.interface.clone(),
        sockets,
    };
    // The drivers look at `opts.stop`; a watcher thread mirrors the signal flag into it.
    let watcher_stop = Arc::clone(&stop);
    let done = Arc::new(AtomicBool::new(false));
    let watcher_done = Arc::clone(&done);
    let watcher = std::thread::spawn(move || {
        while !watcher_done.load(Ordering::Relaxed) {
            if STOP.load(Ordering::Relaxed) {
                watcher_stop.store(true, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let total = plan.target_count;
    let plan_skip_discovery = plan.discovery.is_none();
    let targets: Box<dyn Iterator<Item = Target> + Send> = Box::new(plan.targets.into_iter());
    // Phase 1: host discovery (unless -Pn). Down hosts are reported now; live ones go on.
    // Targets on a directly attached Ethernet segment are found by ARP / ND (with
    // `neighbors`), the others by the IP-level pings.
    let (result, live) = match pings {
        None => (Ok(()), Some((targets, total))),
        Some(pings) => {
            let connect = pings.iter().all(|p| p.is_connect());
            let local: Arc<std::sync::Mutex<Vec<Target>>> = Arc::default();
            let targets: Box<dyn Iterator<Item = Target> + Send> = match &neighbors {
                Some(ifaces) => {
                    let ifaces = ifaces.clone();
                    let iface = plan.interface.clone();
                    let local = Arc::clone(&local);
                    Box::new(targets.filter(move |t| {
                        let on_link = monban_netio::neighbor::attachment_in(
                            &ifaces,
                            t.addr,
                            iface.as_deref(),
                        )
                        .is_ok();
                        if on_link {
                            if let Ok(mut l) = local.lock() {
                                l.push(t.clone());
                            }
                        }
                        !on_link
                    }))
                }
                None => targets,
            };
            let dcfg = ScanConfig {
                scan_type: if connect {
                    ScanType::Connect
                } else {
                    ScanType::Syn
                },
                pings: Some(pings),
                assume_up: false,
                shard: None,
                tcp_flags: None,
                ..cfg.clone()
            };
            let mut disc = Scan::new(dcfg, targets, total, mono_start)?;
            let mut phase = Discovery {
                out: &mut out,
                ping_only: plan.ping_only,
                live: Vec::new(),
            };
            let mut r = drive(&mut disc, &opts, &mut phase).map_err(anyhow::Error::from);
            if r.is_err() {
                disc.stop(Instant::now());
                while let Some(ev) = disc.poll_event() {
                    phase.event(ev);
                }
            }
            let local = std::mem::take(&mut *local.lock().unwrap_or_else(|e| e.into_inner()));
            if let (Ok(()), Some(ifaces), false) = (&r, &neighbors, local.is_empty()) {
                r = neighbor_discovery(
                    ifaces,
                    local,
                    plan.interface.as_deref(),
                    &cfg.timing,
                    &opts,
                    &mut phase,
                );
            }
            let live = phase.live;
            let n = live.len() as u128;
            let next = (!plan.ping_only).then(|| {
                (
                    Box::new(live.into_iter()) as Box<dyn Iterator<Item = Target> + Send>,
                    n,
                )
            });
            (r, next)
        }
    };
    // Phase 2: the port scan of the live hosts.
    let mut result = result;
    if let (Ok(()), Some((targets, n)), false) = (&result, live, stop.load(Ordering::Relaxed)) {
        if let Some(server) = &plan.bounce {
            result = run_bounce(server, targets, &cfg, &stop, &mut out);
        } else if plan.stealth {
            result = run_stealth(targets, &cfg, &opts, &mut out);
        } else {
            let mut scan = Scan::new(cfg, targets, n, Instant::now())?;
            result = drive(&mut scan, &opts, &mut out).map_err(anyhow::Error::from);
            if result.is_err() {
                // Close the documents with what was found before reporting the failure.
                scan.stop(Instant::now());
                while let Some(ev) = scan.poll_event() {
                    out.event(ev);
                }
            }
        }
    }
    // The watcher still runs: Ctrl-C also ends the remaining version detection.
    out.finish_names();
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let interrupted = stop.load(Ordering::Relaxed) || result.is_err();
    if let Some(e) = out.versions.as_ref().and_then(|v| v.error()) {
        eprintln!("monban: version detection failed: {e}");
    }
    if let Some(bar) = out.bar.take() {
        bar.finish_and_clear();
    }
    let stats = RunStats {
        end: SystemTime::now(),
        elapsed: mono_start.elapsed(),
        hosts_up: out.up,
        hosts_down: out.down,
        hosts_total: out.hosts,
        interrupted,
    };
    let end_result = out.sinks.end(&stats);
    if out.up == 0 && out.hosts > 0 && !plan_skip_discovery && !interrupted {
        eprintln!(
            "monban: no host answered the discovery probes; if they are up but block pings, \
             try -Pn"
        );
    }
    result?;
    if let Some(e) = out.error {
        return Err(e.into());
    }
    end_result?;
    if interrupted {
        eprintln!("monban: scan interrupted; outputs hold the results found so far");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Fills `report.risks` from the risk table: one note per open port of a risky service,
/// using the service `-sV` identified when there is one.
fn add_risks(report: &mut monban_engine::HostReport) {
    let notes: Vec<RiskNote> = report
        .ports
        .iter()
        .filter(|p| p.state == PortState::Open)
        .filter_map(|p| {
            let service = report.service(p.port, p.proto).map(|d| d.name.as_str());
            let risk = monban_probes::risk_for(p.port, p.proto, service)?;
            Some(RiskNote {
                port: p.port,
                proto: p.proto,
                level: risk.level.as_str().to_string(),
                name: risk.name.to_string(),
                why: risk.why.to_string(),
                advice: risk.advice.to_string(),
            })
        })
        .collect();
    report.risks = notes;
}

/// Runs a scan with the driver its probes need.
fn drive(scan: &mut Scan, opts: &DriveOptions, handler: &mut dyn Handler) -> Result<(), NetError> {
    match scan.config().scan_type {
        ScanType::Connect => monban_netio::connect::run(scan, opts, handler),
        _ => monban_netio::syn::run(scan, opts, handler),
    }
}

/// The discovery phase's handler: down hosts (and, with -sn, every host) go to the
/// outputs; live hosts are kept for the port scan with the reason they were found up.
struct Discovery<'a> {
    out: &'a mut Out,
    ping_only: bool,
    live: Vec<Target>,
}

impl Handler for Discovery<'_> {
    fn event(&mut self, event: Event) {
        match event {
            Event::Host(r) if !self.ping_only && r.status == HostStatus::Up && !r.incomplete => {
                self.out
                    .discovered
                    .insert(r.addr, (r.status_reason, r.status_ttl, r.srtt, r.mac));
                self.live.push(Target {
                    addr: r.addr,
                    name: r.name.as_deref().map(Arc::from),
                });
            }
            other => self.out.event(other),
        }
    }

    fn progress(&mut self, p: &Progress) {
        self.out.progress(p);
    }
}

/// Hosts handed to the FTP server per control session: the outputs get each chunk's
/// reports when it ends, and memory stays bounded however many targets there are.
const BOUNCE_CHUNK: usize = 16;

/// Phase 2 for `-b`: the live hosts' ports are probed through the FTP server, a chunk
/// of hosts per control session; each host's report is written when its chunk ends.
/// Ports the server refuses to connect to (privileged ports, another address family)
/// are left out of the reports, with a warning saying why.
fn run_bounce(
    server: &cli::BouncePlan,
    targets: Box<dyn Iterator<Item = Target> + Send>,
    cfg: &ScanConfig,
    stop: &AtomicBool,
    out: &mut Out,
) -> Result<()> {
    let mut bcfg = monban_engine::bounce::BounceConfig::new(
        server.server.ip(),
        &server.user,
        &server.pass,
        server.timeout,
    );
    bcfg.slow_refusal = bcfg.slow_refusal.min(bcfg.timeout / 2);
    let mut ports = cfg.ports.clone();
    if cfg.randomize_ports {
        let perm = monban_engine::perm::Permutation::new(ports.len() as u64, cfg.seed);
        ports = (0..ports.len() as u64)
            .filter_map(|i| cfg.ports.get(perm.get(i) as usize).copied())
            .collect();
    }
    let mut skipped: HashMap<&'static str, usize> = HashMap::new();
    let mut targets = targets.peekable();
    let mut failure = None;
    while targets.peek().is_some() && failure.is_none() {
        let chunk: Vec<Target> = targets.by_ref().take(BOUNCE_CHUNK).collect();
        let list: Vec<(IpAddr, Vec<u16>)> = chunk.iter().map(|t| (t.addr, ports.clone())).collect();
        let start = SystemTime::now();
        let mut found: HashMap<IpAddr, Vec<monban_engine::PortResult>> = HashMap::new();
        let outcome = monban_netio::bounce::run_with(
            server.server,
            bcfg.clone(),
            &list,
            stop,
            &mut |&(addr, port, state, reason)| {
                let result = monban_engine::PortResult {
                    port,
                    proto: Protocol::Tcp,
                    state,
                    reason,
                    ttl: None,
                };
                if state == PortState::Open {
                    out.event(Event::OpenPort { addr, result });
                }
                found.entry(addr).or_default().push(result);
            },
        );
        let stopped = match outcome {
            Ok(o) => {
                for (_, _, why) in &o.skipped {
                    *skipped.entry(why.as_str()).or_default() += 1;
                }
                o.stopped
            }
            Err(e) => {
                failure = Some(e);
                true
            }
        };
        let end = SystemTime::now();
        for t in chunk {
            let mut ports = found.remove(&t.addr).unwrap_or_default();
            ports.sort_by_key(|p| p.port);
            let done = ports.len();
            let report = monban_engine::HostReport {
                addr: t.addr,
                name: t.name.as_deref().map(str::to_owned),
                status: HostStatus::Up,
                status_reason: Reason::UserSet,
                status_ttl: None,
                start,
                end,
                ports,
                timed_out: false,
                incomplete: stopped && done < cfg.ports.len(),
                srtt: None,
                mac: None,
                services: Vec::new(),
                risks: Vec::new(),
            };
            out.event(Event::Host(Box::new(report)));
        }
        if stopped {
            break;
        }
    }
    let mut reasons: Vec<_> = skipped.into_iter().collect();
    reasons.sort();
    for (why, n) in reasons {
        eprintln!("monban: {n} port(s) not scanned: {why}");
    }
    match failure {
        Some(e) => Err(anyhow::Error::new(e)
            .context(format!("FTP bounce scan through {} failed", server.server))),
        None => Ok(()),
    }
}

/// Hosts per round of the stealth profile's five scans: their reports wait in memory
/// until the last scan of the round, so a round stays small.
const STEALTH_CHUNK: usize = 256;

/// Collects one scan's host reports for the stealth profile; progress goes to the
/// outputs' bar, and the SYN scan's open ports are streamed as found.
struct Collect<'a> {
    out: &'a mut Out,
    stream_open: bool,
    reports: HashMap<IpAddr, monban_engine::HostReport>,
}

impl Handler for Collect<'_> {
    fn event(&mut self, event: Event) {
        match event {
            Event::OpenPort { .. } if self.stream_open => self.out.event(event),
            Event::OpenPort { .. } => {}
            Event::Host(r) => {
                self.reports.insert(r.addr, *r);
            }
        }
    }

    fn progress(&mut self, p: &Progress) {
        self.out.progress(p);
    }
}

/// Phase 2 of `--profile stealth`: SYN, FIN, NULL, Xmas and ACK scans of each round of
/// hosts, combined into one verdict per port ([`monban_engine::verdict`]). Stopped
/// early, a round is combined from the scans that finished and marked incomplete.
fn run_stealth(
    targets: Box<dyn Iterator<Item = Target> + Send>,
    cfg: &ScanConfig,
    opts: &DriveOptions,
    out: &mut Out,
) -> Result<()> {
    use monban_engine::verdict::{combine, STEALTH_SCANS};
    let mut targets = targets.peekable();
    while targets.peek().is_some() {
        let chunk: Vec<Target> = targets.by_ref().take(STEALTH_CHUNK).collect();
        let mut rounds: Vec<(ScanType, HashMap<IpAddr, monban_engine::HostReport>)> = Vec::new();
        let mut failure = None;
        for scan_type in STEALTH_SCANS {
            if opts.stop.load(Ordering::Relaxed) {
                break;
            }
            let scfg = ScanConfig {
                scan_type,
                ..cfg.clone()
            };
            let n = chunk.len() as u128;
            let mut scan = Scan::new(scfg, Box::new(chunk.clone().into_iter()), n, Instant::now())?;
            let mut collect = Collect {
                out: &mut *out,
                stream_open: scan_type == ScanType::Syn,
                reports: HashMap::new(),
            };
            let r = drive(&mut scan, opts, &mut collect);
            if r.is_err() {
                scan.stop(Instant::now());
                while let Some(ev) = scan.poll_event() {
                    collect.event(ev);
                }
            }
            rounds.push((scan_type, collect.reports));
            if let Err(e) = r {
                failure = Some(e);
                break;
            }
        }
        for t in &chunk {
            let mut per_scan: Vec<(ScanType, monban_engine::HostReport)> = rounds
                .iter_mut()
                .filter_map(|(st, reports)| reports.remove(&t.addr).map(|r| (*st, r)))
                .collect();
            if per_scan.is_empty() {
                continue;
            }
            let complete = per_scan.len() == STEALTH_SCANS.len()
                && per_scan.iter().all(|(_, r)| !r.incomplete && !r.timed_out);
            let mut ports: Vec<u16> = per_scan
                .iter()
                .flat_map(|(_, r)| r.ports.iter().map(|p| p.port))
                .collect();
            ports.sort_unstable();
            ports.dedup();
            let combined: Vec<monban_engine::PortResult> = ports
                .iter()
                .filter_map(|&port| {
                    let results: Vec<(ScanType, monban_engine::PortResult)> = per_scan
                        .iter()
                        .filter_map(|(st, r)| {
                            r.ports.iter().find(|p| p.port == port).map(|p| (*st, *p))
                        })
                        .collect();
                    combine(&results).map(|v| v.result)
                })
                .collect();
            let end = per_scan.iter().map(|(_, r)| r.end).max();
            let timed_out = per_scan.iter().any(|(_, r)| r.timed_out);
            let (_, mut report) = per_scan.swap_remove(0);
            report.ports = combined;
            report.end = end.unwrap_or(report.end);
            report.timed_out = timed_out;
            report.incomplete = !complete && !timed_out;
            out.event(Event::Host(Box::new(report)));
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
        if opts.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(())
}

/// `-S` with several addresses spreads probes over them, so each must be one of this
/// host's own addresses: replies to any other would never come back. (A single `-S`
/// address is taken as given, as nmap does: the user may route its replies back.)
fn check_sources(plan: &ScanPlan) -> Result<()> {
    if plan.sources.is_empty() {
        return Ok(());
    }
    let local: Vec<IpAddr> = monban_netio::neighbor::interfaces()
        .context("cannot list this host's addresses to check -S")?
        .into_iter()
        .flat_map(|i| i.addrs.into_iter().map(|a| a.addr))
        .collect();
    let all = plan.source_addr.iter().chain(&plan.sources);
    let missing: Vec<String> = all
        .filter(|a| !local.contains(a))
        .map(IpAddr::to_string)
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "-S {}: not configured on this host, so replies to it would never arrive \
             (add it first, e.g. ip addr add ADDR/PREFIX dev IFACE)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// ARP / ND discovery of the targets on directly attached Ethernet segments: each
/// answer makes its host live (with its MAC address), silence reports it down.
fn neighbor_discovery(
    ifaces: &[monban_netio::neighbor::Interface],
    local: Vec<Target>,
    interface: Option<&str>,
    timing: &Timing,
    opts: &DriveOptions,
    phase: &mut Discovery<'_>,
) -> Result<()> {
    let stop = opts.stop.as_ref();
    let addrs: Vec<IpAddr> = local.iter().map(|t| t.addr).collect();
    let names: HashMap<IpAddr, Option<Arc<str>>> =
        local.into_iter().map(|t| (t.addr, t.name)).collect();
    let groups = monban_netio::neighbor::plan(ifaces, &addrs, interface)
        .context("local-segment discovery")?;
    for (link, addrs) in groups {
        let start = SystemTime::now();
        monban_netio::neighbor::run(
            &link,
            &addrs,
            timing,
            opts.sockets.as_deref(),
            stop,
            &mut |r| {
                let reason = match r.reason {
                    monban_engine::neighbor::NeighborReason::ArpResponse => Reason::ArpResponse,
                    monban_engine::neighbor::NeighborReason::NdResponse => Reason::NdResponse,
                    monban_engine::neighbor::NeighborReason::NoResponse => Reason::NoResponse,
                };
                let report = monban_engine::HostReport {
                    addr: r.addr,
                    name: names.get(&r.addr).cloned().flatten().map(|n| n.to_string()),
                    status: r.status,
                    status_reason: reason,
                    status_ttl: None,
                    start,
                    end: SystemTime::now(),
                    ports: Vec::new(),
                    timed_out: false,
                    incomplete: r.incomplete,
                    srtt: r.rtt,
                    mac: r.mac,
                    services: Vec::new(),
                    risks: Vec::new(),
                };
                phase.event(Event::Host(Box::new(report)));
            },
        )
        .with_context(|| format!("ARP / ND discovery on {}", link.interface))?;
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(())
}
