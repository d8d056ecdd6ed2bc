//! A network-namespace lab for monban's tests and benchmarks.
//!
//! ```text
//!  scanner ──veth── router ──br0──┬── t0   10.77.1.10  fd77:1::10
//!  10.77.0.2        10.77.0.1     ├── t1   10.77.1.11  fd77:1::11
//!  fd77::2          fd77::1       └── t2   10.77.1.12  fd77:1::12 ...
//!                   10.77.1.1, fd77:1::1 on br0
//! ```
//!
//! Every target's port states are known by construction ([`Host::truth`]): real listeners on
//! its open ports, an nft `drop` range, an nft `reject with icmpx type admin-prohibited` range,
//! and kernel RSTs everywhere else. Optional random loss on the router's forward path and a
//! token-bucket rate limit towards the targets make the network hostile on purpose.
//!
//! [`liar::Liar`] adds a forger on the router that answers the scanner's probes with
//! defective lies (the hostile-target lab).
//!
//! A [`Lab`] deletes its namespaces when dropped (also when a test panics). Labs are
//! serialised across threads and processes by an `flock` on [`LOCK_PATH`], and namespaces
//! left by dead processes are swept when the next lab starts.

#![warn(missing_docs)]

mod cmd;
pub mod daemons;
mod error;
pub mod liar;
mod listen;
mod netns;
pub mod pg;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::ops::RangeInclusive;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use error::LabError;
pub use netns::{in_namespace, sweep_all, sweep_stale, LOCK_PATH, NETNS_DIR};

use listen::Listeners;
use netns::LabLock;

/// The scanner's IPv4 address.
pub const SCANNER_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The scanner's IPv6 address.
pub const SCANNER_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
/// The router's address on the scanner side.
pub const ROUTER_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The router's IPv6 address on the scanner side.
pub const ROUTER_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
/// The router's address on the targets' bridge.
pub const ROUTER_BRIDGE_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
/// The router's IPv6 address on the targets' bridge.
pub const ROUTER_BRIDGE_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 1);

/// Ports every target drops silently (nft `drop`): filtered, no-response.
pub const DROPPED: RangeInclusive<u16> = 20000..=20999;
/// Ports every target rejects with ICMP admin-prohibited: filtered, admin-prohibited.
pub const REJECTED: RangeInclusive<u16> = 21000..=21499;

/// The /16 that target 0 answers for when [`LabBuilder::local_net`] is on: every address
/// of 10.78.0.0/16 is local to that host (`ip route add local 10.78.0.0/16 dev lo` in its
/// namespace, routed there by the router), so its open ports are open on all 65,536 of them.
pub const LOCAL_NET_V4: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 0);
/// Prefix length of [`LOCAL_NET_V4`].
pub const LOCAL_NET_PREFIX: u8 = 16;

/// The most targets a lab may have (addresses 10.77.1.10 to .209).
pub const MAX_HOSTS: usize = 200;

/// The state and reason nmap and monban should report for a port: `("open", "syn-ack")`.
pub type Truth = (&'static str, &'static str);

/// How a port is probed; the reason a closed or rejected port gets depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A raw SYN (`-sS`): closed ports answer with a RST (`reset`).
    Syn,
    /// A kernel `connect()` (`-sT`): closed ports give ECONNREFUSED (`conn-refused`).
    Connect,
    /// FIN, NULL or Xmas probes (`-sF`, `-sN`, `-sX`): a Linux listener drops them
    /// silently (open|filtered), a closed port answers RST.
    FinNullXmas,
    /// ACK probes (`-sA`): open and closed ports both answer RST (unfiltered).
    Ack,
    /// ACK probes read by the RST's window (`-sW`): Linux RSTs carry window 0, so open
    /// and closed ports both read closed.
    Window,
    /// UDP datagrams (`-sU`): an answer means open, ICMP port unreachable closed; a bound
    /// socket that never answers, and the dropped range, stay open|filtered.
    Udp,
}

/// UDP ports every target answers on (each also answers on 5000 + its index).
pub const UDP_ANSWER: [u16; 3] = [53, 123, 161];
/// A UDP port every target binds but never answers: open|filtered, the truth no scan
/// can tell from a drop.
pub const UDP_SILENT: [u16; 1] = [9999];

/// Open ports of target `index`; every host gets its own mix, spread over the whole range.
fn open_ports_for(index: usize) -> Vec<u16> {
    let mut ports = match index {
        0 => vec![1, 22, 80, 443, 8080, 31337, 50000],
        1 => vec![22, 80, 443, 3306, 49153, 65535],
        2 => vec![22, 25, 80, 443, 5432, 54321, 61000],
        i => {
            let i = u16::try_from(i).unwrap_or(0);
            vec![22, 80, 443, 1000 + i, 40000 + i, 52000 + i]
        }
    };
    ports.sort_unstable();
    ports
}

/// One target host of the lab.
#[derive(Debug, Clone)]
pub struct Host {
    /// Position in [`Lab::hosts`].
    pub index: usize,
    /// Its network namespace.
    pub ns: String,
    /// Its IPv4 address.
    pub v4: Ipv4Addr,
    /// Its IPv6 address.
    pub v6: Ipv6Addr,
    open: Vec<u16>,
}

impl Host {
    fn new(index: usize, ns: String) -> Host {
        let last = u8::try_from(10 + index).unwrap_or(u8::MAX);
        // fd77:1::10 for 10.77.1.10: the last group is the decimal digits read as hex.
        let group = u16::from_str_radix(&last.to_string(), 16).unwrap_or(0);
        Host {
            index,
            ns,
            v4: Ipv4Addr::new(10, 77, 1, last),
            v6: Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, group),
            open: open_ports_for(index),
        }
    }

    /// The ports with a real listener, ascending.
    pub fn open_ports(&self) -> &[u16] {
        &self.open
    }

    /// Ports the target's firewall drops silently.
    pub fn dropped_ports(&self) -> RangeInclusive<u16> {
        DROPPED
    }

    /// Ports the target's firewall rejects with ICMP admin-prohibited.
    pub fn rejected_ports(&self) -> RangeInclusive<u16> {
        REJECTED
    }

    /// What a SYN scan must report for `port`: open → `("open","syn-ack")`, closed →
    /// `("closed","reset")`, dropped → `("filtered","no-response")`, rejected →
    /// `("filtered","admin-prohibited")`.
    pub fn truth(&self, port: u16) -> Truth {
        self.truth_for(Probe::Syn, port)
    }

    /// UDP ports this host answers on.
    pub fn udp_open(&self) -> Vec<u16> {
        let mut v = UDP_ANSWER.to_vec();
        v.push(5000 + u16::try_from(self.index).unwrap_or(0));
        v.sort_unstable();
        v
    }

    /// What a scan probing with `probe` must report for `port`.
    ///
    /// Under [`Probe::Connect`] closed ports are `conn-refused`; rejected ports stay
    /// `admin-prohibited` because the ICMP code is read from the socket's error queue.
    pub fn truth_for(&self, probe: Probe, port: u16) -> Truth {
        let open = self.open.binary_search(&port).is_ok();
        let dropped = DROPPED.contains(&port);
        let rejected = REJECTED.contains(&port);
        match (probe, open) {
            (Probe::Udp, _) if dropped || UDP_SILENT.contains(&port) => {
                ("open|filtered", "no-response")
            }
            (_, _) if rejected => ("filtered", "admin-prohibited"),
            (Probe::Udp, _) if self.udp_open().contains(&port) => ("open", "udp-response"),
            (Probe::Udp, _) => ("closed", "port-unreach"),
            (Probe::FinNullXmas, _) if dropped => ("open|filtered", "no-response"),
            (_, _) if dropped => ("filtered", "no-response"),
            (Probe::Syn | Probe::Connect, true) => ("open", "syn-ack"),
            (Probe::Syn, false) => ("closed", "reset"),
            (Probe::Connect, false) => ("closed", "conn-refused"),
            (Probe::FinNullXmas, true) => ("open|filtered", "no-response"),
            (Probe::FinNullXmas, false) => ("closed", "reset"),
            (Probe::Ack, _) => ("unfiltered", "reset"),
            (Probe::Window, _) => ("closed", "reset"),
        }
    }
}

/// The MAC address of interface `dev` in namespace `ns`, as `ip -j link` shows it
/// (lower case, `02:ab:...`): the truth for tests of ARP / ND discovery.
pub fn mac_address(ns: &str, dev: &str) -> Result<String, LabError> {
    let args = ["-j", "link", "show", "dev", dev];
    let text = cmd::ip_in(ns, &args)?;
    let key = "\"address\":\"";
    text.find(key)
        .and_then(|at| text.get(at + key.len()..at + key.len() + 17))
        .map(str::to_owned)
        .ok_or_else(|| LabError::Command {
            command: format!("ip -n {ns} {}", args.join(" ")),
            status: "exit 0".into(),
            stderr: format!("no MAC address in {text:?}"),
        })
}

/// Options for a [`Lab`]; start from [`Lab::builder`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    hosts: usize,
    loss_permille: u16,
    rate_kbit: Option<u32>,
    unlimited_icmp: bool,
    router_rules: Vec<String>,
    local_net: bool,
}

impl Default for LabBuilder {
    fn default() -> Self {
        LabBuilder {
            hosts: 3,
            loss_permille: 0,
            rate_kbit: None,
            unlimited_icmp: true,
            router_rules: Vec::new(),
            local_net: false,
        }
    }
}

impl LabBuilder {
    /// Number of target hosts (1 to [`MAX_HOSTS`], default 3).
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = n;
        self
    }

    /// Random loss on the router's forward path, both directions, in packets per thousand
    /// (0 to 999, default 0).
    pub fn loss_permille(mut self, permille: u16) -> Self {
        self.loss_permille = permille;
        self
    }

    /// A token-bucket rate limit on the router's side of the targets' bridge, in kbit/s.
    pub fn rate_limit_kbit(mut self, kbit: u32) -> Self {
        self.rate_kbit = Some(kbit);
        self
    }

    /// Lift the targets' ICMP rate limits so every rejected probe is answered (default on).
    pub fn unlimited_icmp(mut self, on: bool) -> Self {
        self.unlimited_icmp = on;
        self
    }

    /// Adds one nft rule to the router's forward chain (after the random loss), e.g.
    /// `ip saddr 10.77.1.10 tcp sport 80 tcp flags & (syn|ack) == syn|ack drop` to lose
    /// every SYN/ACK of one port. The ground truth of [`Host::truth`] does not know about
    /// such rules; a test that adds one states its own expectation for the ports it touches.
    pub fn router_rule(mut self, rule: &str) -> Self {
        self.router_rules.push(rule.to_owned());
        self
    }

    /// Makes target 0 answer for the whole of [`LOCAL_NET_V4`]/[`LOCAL_NET_PREFIX`] (default
    /// off): its listeners, firewall and closed-port RSTs then hold for every address of that
    /// /16, which is how benchmarks and scale tests get 65,536 answering hosts from one
    /// namespace. [`Lab::local_net`] reports the network once built.
    pub fn local_net(mut self, on: bool) -> Self {
        self.local_net = on;
        self
    }

    /// Builds the lab; blocks while another lab exists on this machine.
    pub fn build(self) -> Result<Lab, LabError> {
        Lab::build(self)
    }
}

/// Counter that keeps namespace names unique within this process.
static NEXT_LAB: AtomicUsize = AtomicUsize::new(0);

/// A built lab; dropping it tears everything down.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    scanner: String,
    router: String,
    hosts: Vec<Host>,
    loss_permille: u16,
    rate_kbit: Option<u32>,
    local_net: bool,
    /// Namespaces created so far, deleted in reverse on drop.
    made: Vec<String>,
    listeners: Vec<Listeners>,
    _lock: LabLock,
}

impl Lab {
    /// A lab with default options (3 hosts, no loss, no rate limit, unlimited ICMP).
    pub fn new() -> Result<Lab, LabError> {
        LabBuilder::default().build()
    }

    /// Options for a lab.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    fn build(opts: LabBuilder) -> Result<Lab, LabError> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(LabError::NotRoot { euid });
        }
        for (tool, package) in cmd::TOOLS {
            if !cmd::have(tool) {
                return Err(LabError::MissingTool { tool, package });
            }
        }
        if opts.rate_kbit.is_some() && !cmd::have(cmd::TC.0) {
            return Err(LabError::MissingTool {
                tool: cmd::TC.0,
                package: cmd::TC.1,
            });
        }
        if opts.hosts == 0 || opts.hosts > MAX_HOSTS {
            return Err(LabError::Config {
                what: format!("hosts must be 1 to {MAX_HOSTS}, not {}", opts.hosts),
            });
        }
        if opts.loss_permille > 999 {
            return Err(LabError::Config {
                what: format!(
                    "loss must be 0 to 999 per mille, not {}",
                    opts.loss_permille
                ),
            });
        }
        if opts.rate_kbit == Some(0) {
            return Err(LabError::Config {
                what: "a rate limit must be above 0 kbit/s".to_owned(),
            });
        }
        let lock = LabLock::acquire()?;
        netns::sweep_stale()?;
        let prefix = format!(
            "mb{}x{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::SeqCst)
        );
        let mut lab = Lab {
            scanner: format!("{prefix}-scan"),
            router: format!("{prefix}-rt"),
            hosts: (0..opts.hosts)
                .map(|i| Host::new(i, format!("{prefix}-t{i}")))
                .collect(),
            prefix,
            loss_permille: opts.loss_permille,
            rate_kbit: opts.rate_kbit,
            local_net: opts.local_net,
            made: Vec::new(),
            listeners: Vec::new(),
            _lock: lock,
        };
        // On any error `lab` is dropped here, which deletes what was made so far.
        lab.wire(&opts)?;
        for h in &lab.hosts {
            let l = Listeners::start(&h.ns, h.open.clone(), h.udp_open(), UDP_SILENT.to_vec())?;
            lab.listeners.push(l);
        }
        lab.wait_ready(Duration::from_secs(10))?;
        Ok(lab)
    }

    fn add_ns(&mut self, name: &str) -> Result<(), LabError> {
        cmd::ip(&["netns", "add", name])?;
        self.made.push(name.to_owned());
        // No duplicate-address detection anywhere: addresses are usable at once.
        cmd::sysctl_in(
            name,
            &[
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.all.accept_ra=0",
                "net.ipv6.conf.default.accept_ra=0",
            ],
        )?;
        cmd::ip_in(name, &["link", "set", "lo", "up"])?;
        Ok(())
    }

    fn wire(&mut self, opts: &LabBuilder) -> Result<(), LabError> {
        let (scan, rt) = (self.scanner.clone(), self.router.clone());
        self.add_ns(&scan)?;
        self.add_ns(&rt)?;
        let targets: Vec<String> = self.hosts.iter().map(|h| h.ns.clone()).collect();
        for t in &targets {
            self.add_ns(t)?;
        }

        // Router: forwards both families; bridge br0 towards the targets.
        cmd::sysctl_in(
            &rt,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.conf.default.forwarding=1",
            ],
        )?;
        cmd::ip_in(
            &rt,
            &[
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "forward_delay",
                "0",
                "stp_state",
                "0",
            ],
        )?;
        cmd::ip_in(&rt, &["addr", "add", "10.77.1.1/24", "dev", "br0"])?;
        cmd::ip_in(&rt, &["addr", "add", "fd77:1::1/64", "dev", "br0", "nodad"])?;
        cmd::ip_in(&rt, &["link", "set", "br0", "up"])?;

        // Scanner <-> router.
        cmd::ip_in(
            &scan,
            &[
                "link", "add", "eth0", "type", "veth", "peer", "name", "s0", "netns", &rt,
            ],
        )?;
        cmd::ip_in(&scan, &["addr", "add", "10.77.0.2/24", "dev", "eth0"])?;
        cmd::ip_in(
            &scan,
            &["addr", "add", "fd77::2/64", "dev", "eth0", "nodad"],
        )?;
        cmd::ip_in(&scan, &["link", "set", "eth0", "up"])?;
        cmd::ip_in(&rt, &["addr", "add", "10.77.0.1/24", "dev", "s0"])?;
        cmd::ip_in(&rt, &["addr", "add", "fd77::1/64", "dev", "s0", "nodad"])?;
        cmd::ip_in(&rt, &["link", "set", "s0", "up"])?;
        cmd::ip_in(&scan, &["route", "add", "default", "via", "10.77.0.1"])?;
        cmd::ip_in(&scan, &["-6", "route", "add", "default", "via", "fd77::1"])?;

        // Targets.
        let hosts = self.hosts.clone();
        for h in &hosts {
            let port = format!("t{}", h.index);
            cmd::ip_in(
                &h.ns,
                &[
                    "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", &rt,
                ],
            )?;
            cmd::ip_in(&rt, &["link", "set", &port, "master", "br0"])?;
            cmd::ip_in(&rt, &["link", "set", &port, "up"])?;
            let v4 = format!("{}/24", h.v4);
            let v6 = format!("{}/64", h.v6);
            cmd::ip_in(&h.ns, &["addr", "add", &v4, "dev", "eth0"])?;
            cmd::ip_in(&h.ns, &["addr", "add", &v6, "dev", "eth0", "nodad"])?;
            cmd::ip_in(&h.ns, &["link", "set", "eth0", "up"])?;
            cmd::ip_in(&h.ns, &["route", "add", "default", "via", "10.77.1.1"])?;
            cmd::ip_in(
                &h.ns,
                &["-6", "route", "add", "default", "via", "fd77:1::1"],
            )?;
            if opts.unlimited_icmp {
                cmd::sysctl_in(
                    &h.ns,
                    &["net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"],
                )?;
                // The global ICMP budget is per namespace only on recent kernels (6.x); where
                // it is not, the key is absent here and the host-wide budget applies.
                cmd::sysctl_optional_in(
                    &h.ns,
                    &[
                        "net.ipv4.icmp_msgs_per_sec=100000",
                        "net.ipv4.icmp_msgs_burst=100000",
                    ],
                )?;
            }
            cmd::nft_in(&h.ns, &target_ruleset())?;
        }

        if opts.local_net {
            let net = format!("{LOCAL_NET_V4}/{LOCAL_NET_PREFIX}");
            if let Some(h) = hosts.first() {
                cmd::ip_in(&h.ns, &["route", "add", "local", &net, "dev", "lo"])?;
                let via = h.v4.to_string();
                cmd::ip_in(&rt, &["route", "add", &net, "via", &via, "dev", "br0"])?;
            }
        }

        if opts.loss_permille > 0 || !opts.router_rules.is_empty() {
            cmd::nft_in(&rt, &router_ruleset(opts.loss_permille, &opts.router_rules))?;
        }
        if let Some(kbit) = opts.rate_kbit {
            let rate = format!("{kbit}kbit");
            // Burst: at least 10 ms worth of traffic, and never below one full frame.
            let burst = format!("{}", (u64::from(kbit) * 1000 / 8 / 100).max(4096));
            cmd::tc_in(
                &rt,
                &[
                    "qdisc", "add", "dev", "br0", "root", "tbf", "rate", &rate, "burst", &burst,
                    "latency", "50ms",
                ],
            )?;
        }

        // Wait until every link carries traffic.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut links: Vec<(String, String)> = vec![
            (scan.clone(), "eth0".into()),
            (rt.clone(), "s0".into()),
            (rt.clone(), "br0".into()),
        ];
        for h in &hosts {
            links.push((h.ns.clone(), "eth0".into()));
            links.push((rt.clone(), format!("t{}", h.index)));
        }
        for (ns, dev) in links {
            loop {
                let out = cmd::ip_in(&ns, &["-o", "link", "show", "dev", &dev])?;
                if out.contains("LOWER_UP") && out.contains("state UP") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(LabError::NotReady {
                        what: format!("link {dev} in {ns} is not up: {}", out.trim()),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Connects from the scanner to every host's first open port, over IPv4 and IPv6,
    /// until it works (this also fills the neighbour caches); with a local /16, also to the
    /// first and last address of that network.
    fn wait_ready(&self, within: Duration) -> Result<(), LabError> {
        let mut targets: Vec<SocketAddr> = self
            .hosts
            .iter()
            .flat_map(|h| {
                let port = h.open.first().copied().unwrap_or(22);
                [
                    SocketAddr::from((h.v4, port)),
                    SocketAddr::from((h.v6, port)),
                ]
            })
            .collect();
        if let (Some((first, last)), Some(h)) = (self.local_net_bounds(), self.hosts.first()) {
            let port = h.open.first().copied().unwrap_or(22);
            targets.push(SocketAddr::from((first, port)));
            targets.push(SocketAddr::from((last, port)));
        }
        let failed = in_namespace(&self.scanner, move || {
            let deadline = Instant::now() + within;
            let mut waiting = targets;
            while !waiting.is_empty() && Instant::now() < deadline {
                waiting
                    .retain(|a| TcpStream::connect_timeout(a, Duration::from_millis(500)).is_err());
                if !waiting.is_empty() {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            waiting
        })?;
        if failed.is_empty() {
            Ok(())
        } else {
            let list: Vec<String> = failed.iter().map(ToString::to_string).collect();
            Err(LabError::NotReady {
                what: format!(
                    "no TCP connection from the scanner to {} within {within:?}",
                    list.join(", ")
                ),
            })
        }
    }

    /// The target hosts.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The scanner's namespace: run scanners here ([`Lab::scanner_cmd`]).
    pub fn scanner_ns(&self) -> &str {
        &self.scanner
    }

    /// The router's namespace.
    pub fn router_ns(&self) -> &str {
        &self.router
    }

    /// The common prefix of this lab's namespace names (`mb<pid>x<n>`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Random loss on the router, per thousand packets.
    pub fn loss_permille(&self) -> u16 {
        self.loss_permille
    }

    /// The network target 0 answers for, `Some((10.78.0.0, 16))`, when the lab was built with
    /// [`LabBuilder::local_net`]; its SYN-scan truth is [`Host::truth`] of host 0 for every
    /// address.
    pub fn local_net(&self) -> Option<(Ipv4Addr, u8)> {
        self.local_net.then_some((LOCAL_NET_V4, LOCAL_NET_PREFIX))
    }

    /// First and last address of the local network, if any.
    fn local_net_bounds(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let (net, prefix) = self.local_net()?;
        Some(net_bounds(net, prefix))
    }

    /// The SYN-scan ground truth of host `index`, or `None` if there is no such host.
    pub fn truth(&self, index: usize) -> Option<impl Fn(u16) -> Truth + '_> {
        let host = self.hosts.get(index)?;
        Some(move |port| host.truth(port))
    }

    /// A command that runs `program args...` inside the scanner namespace
    /// (`ip netns exec`, which execs the program: the child's pid is the program's pid).
    pub fn scanner_cmd<I, S>(&self, program: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.scanner, program]).args(args);
        c
    }

    /// The lab as one line of JSON: namespaces, addresses and the ground truth.
    pub fn to_json(&self) -> String {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let open: Vec<String> = h.open.iter().map(ToString::to_string).collect();
                format!(
                    "{{\"index\":{},\"ns\":\"{}\",\"v4\":\"{}\",\"v6\":\"{}\",\
                     \"open\":[{}],\"dropped\":\"{}-{}\",\"rejected\":\"{}-{}\",\
                     \"closed\":\"every other port\"}}",
                    h.index,
                    h.ns,
                    h.v4,
                    h.v6,
                    open.join(","),
                    DROPPED.start(),
                    DROPPED.end(),
                    REJECTED.start(),
                    REJECTED.end()
                )
            })
            .collect();
        let rate = self
            .rate_kbit
            .map_or_else(|| "null".to_owned(), |k| k.to_string());
        let local = self.local_net().map_or_else(
            || "null".to_owned(),
            |(net, prefix)| format!("{{\"net\":\"{net}/{prefix}\",\"host\":0}}"),
        );
        format!(
            "{{\"pid\":{},\"prefix\":\"{}\",\
             \"scanner\":{{\"ns\":\"{}\",\"v4\":\"{SCANNER_V4}\",\"v6\":\"{SCANNER_V6}\"}},\
             \"router\":{{\"ns\":\"{}\",\"v4\":[\"{ROUTER_V4}\",\"{ROUTER_BRIDGE_V4}\"],\
             \"v6\":[\"{ROUTER_V6}\",\"{ROUTER_BRIDGE_V6}\"]}},\
             \"loss_permille\":{},\"rate_kbit\":{rate},\"local_net\":{local},\"hosts\":[{}]}}",
            std::process::id(),
            self.prefix,
            self.scanner,
            self.router,
            self.loss_permille,
            hosts.join(",")
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for l in &mut self.listeners {
            l.stop();
        }
        self.listeners.clear();
        for ns in self.made.iter().rev() {
            let _ = cmd::ip(&["netns", "del", ns]);
        }
    }
}

/// First and last address of `net`/`prefix`.
fn net_bounds(net: Ipv4Addr, prefix: u8) -> (Ipv4Addr, Ipv4Addr) {
    let mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    let base = u32::from(net) & !mask;
    (Ipv4Addr::from(base), Ipv4Addr::from(base | mask))
}

/// The targets' firewall: drop one range, reject another with admin-prohibited.
fn target_ruleset() -> String {
    format!(
        "table inet monban_lab {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority 0; policy accept;\n\
         \t\tmeta l4proto {{ tcp, udp }} th dport {}-{} drop\n\
         \t\tmeta l4proto {{ tcp, udp }} th dport {}-{} reject with icmpx type admin-prohibited\n\
         \t}}\n\
         }}\n",
        DROPPED.start(),
        DROPPED.end(),
        REJECTED.start(),
        REJECTED.end()
    )
}

/// The router's forward chain: random loss, then any extra rules.
fn router_ruleset(permille: u16, extra: &[String]) -> String {
    let mut rules = String::new();
    if permille > 0 {
        rules.push_str(&format!("\t\tnumgen random mod 1000 < {permille} drop\n"));
    }
    for r in extra {
        rules.push_str(&format!("\t\t{r}\n"));
    }
    format!(
        "table inet monban_lab {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority 0; policy accept;\n\
         {rules}\
         \t}}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(i: usize) -> Host {
        Host::new(i, format!("t{i}"))
    }

    #[test]
    fn addresses_follow_the_plan() {
        assert_eq!(host(0).v4, Ipv4Addr::new(10, 77, 1, 10));
        assert_eq!(host(0).v6.to_string(), "fd77:1::10");
        assert_eq!(host(2).v4, Ipv4Addr::new(10, 77, 1, 12));
        assert_eq!(host(2).v6.to_string(), "fd77:1::12");
        assert_eq!(host(199).v4, Ipv4Addr::new(10, 77, 1, 209));
        assert_eq!(host(199).v6.to_string(), "fd77:1::209");
    }

    #[test]
    fn truth_by_construction() {
        let h = host(0);
        assert_eq!(h.truth(22), ("open", "syn-ack"));
        assert_eq!(h.truth(1), ("open", "syn-ack"));
        assert_eq!(h.truth(2), ("closed", "reset"));
        assert_eq!(h.truth(19999), ("closed", "reset"));
        assert_eq!(h.truth(20000), ("filtered", "no-response"));
        assert_eq!(h.truth(20999), ("filtered", "no-response"));
        assert_eq!(h.truth(21000), ("filtered", "admin-prohibited"));
        assert_eq!(h.truth(21499), ("filtered", "admin-prohibited"));
        assert_eq!(h.truth(21500), ("closed", "reset"));
        assert_eq!(h.truth(65535), ("closed", "reset"));
        assert_eq!(h.truth_for(Probe::Connect, 3), ("closed", "conn-refused"));
        assert_eq!(h.truth_for(Probe::Connect, 443), ("open", "syn-ack"));
        assert_eq!(host(1).truth(65535), ("open", "syn-ack"));
    }

    #[test]
    fn open_ports_differ_per_host_and_avoid_filtered_ranges() {
        let all: Vec<Vec<u16>> = (0..MAX_HOSTS).map(open_ports_for).collect();
        for (i, ports) in all.iter().enumerate() {
            assert!(ports.windows(2).all(|w| w[0] < w[1]), "host {i} sorted");
            assert!(ports
                .iter()
                .all(|p| !DROPPED.contains(p) && !REJECTED.contains(p)));
            assert!(
                ports.iter().any(|&p| p > 49152),
                "host {i} has a dynamic port"
            );
            for (j, other) in all.iter().enumerate().skip(i + 1) {
                assert_ne!(ports, other, "hosts {i} and {j}");
            }
        }
        assert!(all.iter().any(|p| p.contains(&65535)));
        assert!(all.iter().any(|p| p.contains(&1)));
    }

    #[test]
    fn local_net_spans_a_whole_slash16() {
        assert_eq!(
            net_bounds(LOCAL_NET_V4, LOCAL_NET_PREFIX),
            (Ipv4Addr::new(10, 78, 0, 0), Ipv4Addr::new(10, 78, 255, 255))
        );
        assert_eq!(
            net_bounds(Ipv4Addr::new(10, 78, 3, 7), 24),
            (Ipv4Addr::new(10, 78, 3, 0), Ipv4Addr::new(10, 78, 3, 255))
        );
        assert_eq!(
            net_bounds(Ipv4Addr::new(10, 78, 3, 7), 32),
            (Ipv4Addr::new(10, 78, 3, 7), Ipv4Addr::new(10, 78, 3, 7))
        );
        assert!(!LabBuilder::default().local_net);
        assert!(Lab::builder().local_net(true).local_net);
    }

    #[test]
    fn rulesets_name_the_ranges() {
        let r = target_ruleset();
        assert!(r.contains("meta l4proto { tcp, udp } th dport 20000-20999 drop\n"));
        assert!(r.contains(
            "meta l4proto { tcp, udp } th dport 21000-21499 reject with icmpx type admin-prohibited\n"
        ));
        let rt = router_ruleset(30, &["tcp sport 80 drop".to_owned()]);
        assert!(rt.contains("\t\tnumgen random mod 1000 < 30 drop\n\t\ttcp sport 80 drop\n"));
        assert!(!router_ruleset(0, &[]).contains("numgen"));
    }
}
