//! The inventory: every listening socket of every namespace, with its owners.
//!
//! [`gather`] walks the host once: namespaces ([`crate::ns`]), the sockets of each from
//! `sock_diag` ([`crate::diag`], or `/proc/net/*` when the kernel lacks a diag module),
//! the processes holding them ([`crate::procs`]), their units and containers (cgroup),
//! their packages (dpkg), and for sockets systemd holds, the `.socket` unit behind them.
//! What it could not see (another user's processes, a namespace it may not join) is said
//! in the result, never an error.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use monban_engine::ports::PortList;
use monban_engine::services::{service_name, PortClass};
use monban_engine::Protocol;
use monban_probes::{risk_for, Risk};

use crate::diag::{self, DiagSocket};
use crate::ns::{self, NetNs, NsError};
use crate::procs::{self, Process};
use crate::{dpkg, procnet, units};

/// What to gather.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these ports (TCP and UDP lists, as `-p` gives them); `None` for all.
    pub ports: Option<PortList>,
    /// Only the namespaces with these labels or `ip netns` names (`host` for the host's);
    /// empty for all.
    pub netns: Vec<String>,
    /// Only this protocol; `None` for both.
    pub proto: Option<Protocol>,
    /// Look up the package of each executable in dpkg's database.
    pub packages: bool,
}

impl Options {
    /// Whether a socket of `proto` on `port` is wanted (`-p`, `-t`, `-u`).
    pub fn selects(&self, proto: Protocol, port: u16) -> bool {
        self.proto.is_none_or(|p| p == proto)
            && !matches!(&self.ports, Some(l) if l.ports(proto).binary_search(&port).is_err())
    }
}

/// How a namespace's sockets were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The kernel's `sock_diag` netlink interface.
    Netlink,
    /// `/proc/net/{tcp,tcp6,udp,udp6}` (no diag module, or a namespace we could not join
    /// but whose processes' `/proc/PID/net` we could read).
    Procfs,
    /// Not read; why.
    Unread(String),
}

/// One namespace as seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The namespace.
    pub ns: NetNs,
    /// Its interface addresses (interface name, address).
    pub addresses: Vec<(String, IpAddr)>,
    /// How its sockets were read.
    pub source: Source,
}

/// Who holds a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The processes in [`Socket::holders`].
    Known,
    /// The kernel itself (inode 0: an in-kernel server such as NFS or WireGuard).
    Kernel,
    /// Held by processes whose descriptors we may not read: needs root (said only when
    /// monban is not root; root that still cannot read some process says [`Owner::Unseen`]).
    NeedsRoot,
    /// No process in view holds it: one outside monban's pid namespace, or it was
    /// closed while we looked.
    Unseen,
}

/// Where a socket accepts traffic from, inside its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Only from the namespace itself (127.0.0.0/8, ::1).
    Loopback,
    /// One address of the namespace.
    Address,
    /// Every address of the namespace (0.0.0.0, ::).
    Every,
}

impl Exposure {
    /// `loopback`, `address` or `every`.
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Loopback => "loopback",
            Exposure::Address => "address",
            Exposure::Every => "every",
        }
    }
}

/// One listening TCP socket or bound UDP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Index of its namespace in [`Inventory::namespaces`].
    pub ns: usize,
    /// TCP or UDP.
    pub proto: Protocol,
    /// Bound address.
    pub addr: IpAddr,
    /// Bound port.
    pub port: u16,
    /// For IPv6 sockets: whether IPv4 is refused (`None` when read from procfs, which
    /// does not tell).
    pub v6only: Option<bool>,
    /// The interface it is bound to, if any.
    pub iface: Option<String>,
    /// The uid that created it.
    pub uid: u32,
    /// Its inode.
    pub inode: u64,
    /// `(pid, fd)` of every process holding it, ascending.
    pub holders: Vec<(u32, u32)>,
    /// Whether its holders are known.
    pub owner: Owner,
    /// The systemd `.socket` units that listen here, when systemd holds it.
    pub activation: Vec<String>,
}

impl Socket {
    /// Where it accepts traffic from.
    pub fn exposure(&self) -> Exposure {
        if is_loopback(self.addr) {
            Exposure::Loopback
        } else if self.addr.is_unspecified() {
            Exposure::Every
        } else {
            Exposure::Address
        }
    }

    /// Whether traffic to `addr` (an address of its namespace) reaches it.
    pub fn covers(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        match (self.addr, addr) {
            (a, b) if canonical(a) == b => true,
            (IpAddr::V4(a), IpAddr::V4(_)) => a.is_unspecified(),
            (IpAddr::V6(a), IpAddr::V6(_)) => a.is_unspecified(),
            (IpAddr::V6(a), IpAddr::V4(_)) => a.is_unspecified() && self.v6only != Some(true),
            _ => false,
        }
    }

    /// The usual service name of its port.
    pub fn service(&self) -> Option<&'static str> {
        service_name(self.port, self.proto)
    }

    /// The class of its port.
    pub fn port_class(&self) -> PortClass {
        PortClass::of(self.port)
    }

    /// The risk note of its port, if the port is a known risk.
    pub fn risk(&self) -> Option<Risk> {
        risk_for(self.port, self.proto, None)
    }
}

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

fn is_loopback(a: IpAddr) -> bool {
    canonical(a).is_loopback()
}

/// Everything [`gather`] found.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Namespaces, the host's first.
    pub namespaces: Vec<Namespace>,
    /// Sockets, by namespace, protocol, port, address.
    pub sockets: Vec<Socket>,
    /// The processes holding them.
    pub processes: BTreeMap<u32, Process>,
    /// Whether monban ran as root (sees every process).
    pub root: bool,
    /// Processes whose namespace or descriptors could not be read.
    pub hidden: usize,
}

impl Inventory {
    /// The namespace of a socket.
    pub fn ns_of(&self, s: &Socket) -> &Namespace {
        &self.namespaces[s.ns]
    }

    /// The non-loopback addresses of its namespace that reach `s`.
    pub fn reached_by(&self, s: &Socket) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = self
            .ns_of(s)
            .addresses
            .iter()
            .map(|&(_, a)| a)
            .filter(|&a| !is_loopback(a) && s.covers(a))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The processes holding `s`, each once.
    pub fn owners(&self, s: &Socket) -> Vec<&Process> {
        let mut pids: Vec<u32> = s.holders.iter().map(|&(p, _)| p).collect();
        pids.dedup();
        pids.iter().filter_map(|p| self.processes.get(p)).collect()
    }

    /// The namespaces holding `addr` on an interface.
    pub fn namespaces_with(&self, addr: IpAddr) -> Vec<usize> {
        let addr = canonical(addr);
        (0..self.namespaces.len())
            .filter(|&i| {
                self.namespaces[i]
                    .addresses
                    .iter()
                    .any(|&(_, a)| canonical(a) == addr)
            })
            .collect()
    }
}

/// What one namespace's thread brings back.
struct Read {
    sockets: Vec<DiagSocket>,
    ifaces: BTreeMap<u32, String>,
    addresses: Vec<(String, IpAddr)>,
    source: Source,
}

fn protocols(opts: &Options) -> Vec<Protocol> {
    match opts.proto {
        Some(p) => vec![p],
        None => vec![Protocol::Tcp, Protocol::Udp],
    }
}

/// Reads the sockets of the calling thread's namespace: sock_diag, else `procfs_dir`
/// (`/proc/thread-self/net`).
fn read_here(protos: &[Protocol], procfs_dir: &Path) -> Read {
    let mut sockets = Vec::new();
    let mut source = Source::Netlink;
    for &p in protos {
        match diag::dump(p) {
            Ok(mut v) => sockets.append(&mut v),
            Err(_) => {
                source = Source::Procfs;
                sockets.extend(read_procfs(p, procfs_dir));
            }
        }
    }
    let mut ifaces = BTreeMap::new();
    for s in &sockets {
        if s.ifindex != 0 && !ifaces.contains_key(&s.ifindex) {
            if let Some(name) = ns::interface_name(s.ifindex) {
                ifaces.insert(s.ifindex, name);
            }
        }
    }
    Read {
        sockets,
        ifaces,
        addresses: ns::addresses(),
        source,
    }
}

/// The listening sockets of `proto` in `dir/{tcp,tcp6}` (or udp).
fn read_procfs(proto: Protocol, dir: &Path) -> Vec<DiagSocket> {
    let (files, want) = match proto {
        Protocol::Tcp => (["tcp", "tcp6"], procnet::TCP_LISTEN),
        Protocol::Udp => (["udp", "udp6"], procnet::TCP_CLOSE),
    };
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = fs::read_to_string(dir.join(f)) else {
            continue;
        };
        let (rows, _) = procnet::parse(&text);
        out.extend(
            rows.into_iter()
                .filter(|r| r.state == want)
                .map(|r| DiagSocket {
                    proto,
                    local: r.local,
                    state: r.state,
                    uid: r.uid,
                    inode: r.inode,
                    v6only: None,
                    ifindex: 0,
                }),
        );
    }
    out
}

/// Walks the host; see the module doc.
pub fn gather(opts: &Options) -> Inventory {
    let pids = ns::pids();
    let (found, hidden) = ns::discover(&pids);
    let mut inv = Inventory {
        // SAFETY: geteuid never fails.
        root: unsafe { libc::geteuid() } == 0,
        hidden,
        ..Inventory::default()
    };
    // Three things at once: the descriptors of every process (the slowest part: one
    // readlink per descriptor), the packages of every executable, and the namespaces.
    let (raw, held, packages) = std::thread::scope(|scope| {
        let fds = scope.spawn(|| procs::holders(&pids, None));
        let packages = opts
            .packages
            .then(|| scope.spawn(|| dpkg::owners(Path::new(dpkg::INFO_DIR), &procs::exes(&pids))));
        let raw = read_namespaces(opts, found, &mut inv);
        let held = fds.join().unwrap_or_default();
        let packages = packages.map(|h| h.join().unwrap_or_default());
        (raw, held, packages)
    });
    inv.hidden += held.unreadable;
    for (ns, s, iface) in raw {
        let holders = held.by_inode.get(&s.inode).cloned().unwrap_or_default();
        let owner = if !holders.is_empty() {
            Owner::Known
        } else if s.inode == 0 {
            Owner::Kernel
        } else if held.unreadable > 0 && !inv.root {
            Owner::NeedsRoot
        } else {
            Owner::Unseen
        };
        inv.sockets.push(Socket {
            ns,
            proto: s.proto,
            addr: canonical_unless_wild(s.local),
            port: s.local.port(),
            v6only: s.v6only,
            iface,
            uid: s.uid,
            inode: s.inode,
            holders,
            owner,
            activation: Vec::new(),
        });
    }
    inv.sockets.sort_by(|a, b| {
        (a.ns, a.proto as u8, a.port, a.addr, a.inode).cmp(&(
            b.ns,
            b.proto as u8,
            b.port,
            b.addr,
            b.inode,
        ))
    });
    let owners: HashSet<u32> = inv
        .sockets
        .iter()
        .flat_map(|s| s.holders.iter().map(|&(p, _)| p))
        .collect();
    for pid in owners {
        if let Some(p) = procs::process(pid) {
            inv.processes.insert(pid, p);
        }
    }
    if let Some(found) = packages {
        for p in inv.processes.values_mut() {
            p.package = p.exe.as_ref().and_then(|e| found.get(e).cloned());
        }
    }
    let dirs: Vec<&Path> = units::DIRS.iter().map(Path::new).collect();
    name_activations(&mut inv, &dirs);
    inv
}

/// Reads every namespace of `found` that `opts` selects into `inv.namespaces`; the
/// sockets, with their namespace's index and bound interface name.
fn read_namespaces(
    opts: &Options,
    found: Vec<NetNs>,
    inv: &mut Inventory,
) -> Vec<(usize, DiagSocket, Option<String>)> {
    let protos = protocols(opts);
    let mut raw: Vec<(usize, DiagSocket, Option<String>)> = Vec::new();
    for n in found {
        if !opts.netns.is_empty()
            && !opts
                .netns
                .iter()
                .any(|w| *w == n.label() || n.names.contains(w))
        {
            continue;
        }
        let read = match ns::enter(&n, || {
            read_here(&protos, Path::new("/proc/thread-self/net"))
        }) {
            Ok(r) => r,
            Err(e) => unjoined(&n, &protos, &e),
        };
        let i = inv.namespaces.len();
        for s in read.sockets {
            let port = s.local.port();
            let wanted =
                !matches!(&opts.ports, Some(p) if p.ports(s.proto).binary_search(&port).is_err());
            if wanted {
                let iface = read.ifaces.get(&s.ifindex).cloned();
                raw.push((i, s, iface));
            }
        }
        inv.namespaces.push(Namespace {
            ns: n,
            addresses: read.addresses,
            source: read.source,
        });
    }
    raw
}

/// A namespace we could not join: its processes' `/proc/PID/net`, else nothing.
fn unjoined(n: &NetNs, protos: &[Protocol], why: &NsError) -> Read {
    for pid in &n.pids {
        let dir = PathBuf::from(format!("/proc/{pid}/net"));
        if fs::metadata(dir.join("tcp")).is_ok() {
            let sockets = protos.iter().flat_map(|&p| read_procfs(p, &dir)).collect();
            return Read {
                sockets,
                ifaces: BTreeMap::new(),
                addresses: Vec::new(),
                source: Source::Procfs,
            };
        }
    }
    Read {
        sockets: Vec::new(),
        ifaces: BTreeMap::new(),
        addresses: Vec::new(),
        source: Source::Unread(why.to_string()),
    }
}

/// `::ffff:a.b.c.d` is shown as `a.b.c.d`; `::` stays `::`.
fn canonical_unless_wild(sa: SocketAddr) -> IpAddr {
    canonical(sa.ip())
}

/// Sockets held by a systemd instance get the `.socket` units that listen there.
fn name_activations(inv: &mut Inventory, dirs: &[&Path]) {
    let held_by_systemd = |s: &Socket, procs: &BTreeMap<u32, Process>| {
        s.holders
            .iter()
            .any(|(p, _)| *p == 1 || procs.get(p).is_some_and(|p| p.name == "systemd"))
    };
    if !inv
        .sockets
        .iter()
        .any(|s| held_by_systemd(s, &inv.processes))
    {
        return;
    }
    let all = units::load(dirs);
    let procs = &inv.processes;
    for s in inv.sockets.iter_mut() {
        if held_by_systemd(s, procs) {
            s.activation = units::matching(&all, s.proto, s.addr, s.port)
                .into_iter()
                .map(|u| u.name.clone())
                .collect();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn namespace(inode: u64, host: bool, names: &[&str], addrs: &[&str]) -> Namespace {
        Namespace {
            ns: NetNs {
                inode,
                names: names.iter().map(|n| n.to_string()).collect(),
                pids: Vec::new(),
                host,
                own: host,
            },
            addresses: addrs
                .iter()
                .map(|a| ("eth0".to_string(), a.parse().unwrap()))
                .collect(),
            source: Source::Netlink,
        }
    }

    pub(crate) fn socket(
        ns: usize,
        proto: Protocol,
        addr: &str,
        port: u16,
        holders: &[(u32, u32)],
    ) -> Socket {
        let addr: IpAddr = addr.parse().unwrap();
        Socket {
            ns,
            proto,
            addr,
            port,
            v6only: addr.is_ipv6().then_some(false),
            iface: None,
            uid: 0,
            inode: u64::from(port),
            holders: holders.to_vec(),
            owner: if holders.is_empty() {
                Owner::Unseen
            } else {
                Owner::Known
            },
            activation: Vec::new(),
        }
    }

    pub(crate) fn process(pid: u32, name: &str) -> Process {
        Process {
            pid,
            name: name.to_string(),
            ..Process::default()
        }
    }

    #[test]
    fn systemd_sockets_get_their_socket_units() {
        let dir = std::env::temp_dir().join(format!("monban-units-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ssh.socket"),
            "[Socket]\nListenStream=22\nAccept=yes\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("dns.socket"),
            "[Socket]\nListenDatagram=127.0.0.53:53\n",
        )
        .unwrap();
        let mut inv = Inventory {
            namespaces: vec![namespace(1, true, &[], &["10.0.0.5"])],
            sockets: vec![
                socket(0, Protocol::Tcp, "::", 22, &[(1, 40)]),
                socket(0, Protocol::Udp, "127.0.0.53", 53, &[(1, 41)]),
                socket(0, Protocol::Tcp, "0.0.0.0", 22, &[(77, 3)]),
                socket(0, Protocol::Udp, "0.0.0.0", 53, &[(1, 42)]),
            ],
            processes: [(1, process(1, "systemd")), (77, process(77, "sshd"))].into(),
            ..Inventory::default()
        };
        name_activations(&mut inv, &[dir.as_path()]);
        let got: Vec<&[String]> = inv
            .sockets
            .iter()
            .map(|s| s.activation.as_slice())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got[0], ["ssh.socket"]);
        assert_eq!(got[1], ["dns.socket"]);
        assert!(got[2].is_empty(), "held by sshd, not systemd");
        assert!(got[3].is_empty(), "no unit listens on 0.0.0.0:53");
    }

    #[test]
    fn exposure_and_reach() {
        let inv = Inventory {
            namespaces: vec![namespace(
                1,
                true,
                &[],
                &["127.0.0.1", "10.0.0.5", "::1", "fd00::5"],
            )],
            sockets: vec![
                socket(0, Protocol::Tcp, "::", 80, &[]),
                socket(0, Protocol::Tcp, "127.0.0.1", 631, &[]),
                socket(0, Protocol::Tcp, "10.0.0.5", 8080, &[]),
                socket(0, Protocol::Tcp, "0.0.0.0", 22, &[]),
            ],
            ..Inventory::default()
        };
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let s = &inv.sockets;
        assert_eq!(s[0].exposure(), Exposure::Every);
        assert_eq!(inv.reached_by(&s[0]), [ip("10.0.0.5"), ip("fd00::5")]);
        let mut v6only = s[0].clone();
        v6only.v6only = Some(true);
        assert_eq!(inv.reached_by(&v6only), [ip("fd00::5")]);
        assert_eq!(s[1].exposure(), Exposure::Loopback);
        assert!(inv.reached_by(&s[1]).is_empty());
        assert_eq!(s[2].exposure(), Exposure::Address);
        assert!(
            s[2].covers(ip("::ffff:10.0.0.5")),
            "a mapped address is the IPv4 one"
        );
        assert_eq!(inv.reached_by(&s[3]), [ip("10.0.0.5")]);
        assert_eq!(inv.namespaces_with(ip("::ffff:10.0.0.5")), [0]);
        assert_eq!(s[3].service(), Some("ssh"));
        assert_eq!(s[3].port_class(), PortClass::WellKnown);
    }
}
