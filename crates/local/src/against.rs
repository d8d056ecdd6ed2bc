//! `--against FILE`: the local listeners joined with a scan of this host made from
//! elsewhere.
//!
//! A scanned address belongs to the namespaces that hold it on an interface (the host's
//! own addresses, or a lab or container namespace's). Each listener there that accepts
//! traffic to that address (bound to it, or to the wildcard of its family, or `::` without
//! `IPV6_V6ONLY` for IPv4) gets the scan's state of its port:
//!
//! - `open`: **exposed**, listening here and reachable from where the scan ran;
//! - `closed`, `filtered`, `unfiltered`, `closed|filtered`: **protected**, listening but
//!   something on the way (a firewall, a policy route) keeps the scanner out;
//! - `open|filtered` (UDP, FIN/NULL/Xmas scans): **unconfirmed**, the scan cannot tell;
//! - the port was not in the scan: **not scanned**.
//!
//! An open port of a scanned address with no listener that accepts it is a **surprise**:
//! a port forward (DNAT) to somewhere else, a proxy in between, or another machine
//! answering for that address. Loopback addresses are looked up in the host's namespace
//! only (every namespace has its own 127.0.0.1).

use std::net::IpAddr;

use monban_engine::{PortState, Protocol};

use crate::inventory::Inventory;

/// A host as a scan saw it.
pub trait SeenHost {
    /// Its address.
    fn addr(&self) -> IpAddr;
    /// The state the scan gave `port`, if the port was scanned.
    fn state(&self, proto: Protocol, port: u16) -> Option<&str>;
    /// Every port the scan found open.
    fn open_ports(&self) -> Vec<(Protocol, u16)>;
}

impl SeenHost for monban_output::read::ScannedHost {
    fn addr(&self) -> IpAddr {
        self.addr
    }

    fn state(&self, proto: Protocol, port: u16) -> Option<&str> {
        self.state_of(proto, port).map(PortState::as_str)
    }

    fn open_ports(&self) -> Vec<(Protocol, u16)> {
        self.ports
            .iter()
            .filter(|p| p.state == PortState::Open)
            .map(|p| (p.proto, p.port))
            .collect()
    }
}

/// What the scan says about a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Listening, and open from outside.
    Exposed,
    /// Listening, but closed or filtered from outside.
    Protected,
    /// Listening; the scan says `open|filtered`.
    Unconfirmed,
    /// Listening on an address the scan covered, but the port was not scanned.
    NotScanned,
}

impl Verdict {
    /// `exposed`, `protected`, `unconfirmed` or `not-scanned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Exposed => "exposed",
            Verdict::Protected => "protected",
            Verdict::Unconfirmed => "unconfirmed",
            Verdict::NotScanned => "not-scanned",
        }
    }

    fn of(state: Option<&str>) -> Verdict {
        match state {
            None => Verdict::NotScanned,
            Some("open") => Verdict::Exposed,
            Some("open|filtered") => Verdict::Unconfirmed,
            Some(_) => Verdict::Protected,
        }
    }
}

/// One listener against one scanned address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Index of the socket in [`Inventory::sockets`].
    pub socket: usize,
    /// The scanned address it answers on.
    pub addr: IpAddr,
    /// The scan's state of its port (`None`: not scanned).
    pub state: Option<String>,
    /// What that means.
    pub verdict: Verdict,
}

/// An open port from outside with no listener for it here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surprise {
    /// The scanned address.
    pub addr: IpAddr,
    /// Its protocol.
    pub proto: Protocol,
    /// The port.
    pub port: u16,
    /// Indices of the namespaces holding the address.
    pub namespaces: Vec<usize>,
}

/// The whole join.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Join {
    /// Listener × scanned address, by socket then address.
    pub rows: Vec<Joined>,
    /// Open ports without a listener, by address, protocol, port.
    pub surprises: Vec<Surprise>,
    /// Scanned addresses that are no address of this host.
    pub foreign: Vec<IpAddr>,
}

impl Join {
    /// The rows of one socket.
    pub fn of_socket(&self, socket: usize) -> impl Iterator<Item = &Joined> {
        self.rows.iter().filter(move |r| r.socket == socket)
    }
}

/// Joins `inv` with the hosts of a scan; see the module doc. Surprises are sought only
/// among the ports `selected` (those the inventory was gathered for: with `-p 22` the
/// other listeners were never read, so their open ports are no surprise).
pub fn join<H: SeenHost>(
    inv: &Inventory,
    hosts: &[H],
    selected: &dyn Fn(Protocol, u16) -> bool,
) -> Join {
    let mut out = Join::default();
    for h in hosts {
        let addr = h.addr();
        let namespaces: Vec<usize> = if addr.is_loopback() {
            inv.namespaces
                .iter()
                .position(|n| n.ns.host)
                .into_iter()
                .collect()
        } else {
            inv.namespaces_with(addr)
        };
        if namespaces.is_empty() {
            out.foreign.push(addr);
            continue;
        }
        let here = |i: &usize| namespaces.contains(&inv.sockets[*i].ns);
        let covering: Vec<usize> = (0..inv.sockets.len())
            .filter(|i| here(i) && inv.sockets[*i].covers(addr))
            .collect();
        for &i in &covering {
            let s = &inv.sockets[i];
            let state = h.state(s.proto, s.port);
            out.rows.push(Joined {
                socket: i,
                addr,
                state: state.map(str::to_string),
                verdict: Verdict::of(state),
            });
        }
        let mut open = h.open_ports();
        open.sort_by_key(|&(p, port)| (p as u8, port));
        open.dedup();
        for (proto, port) in open.into_iter().filter(|&(p, n)| selected(p, n)) {
            let listened = covering
                .iter()
                .any(|&i| inv.sockets[i].proto == proto && inv.sockets[i].port == port);
            if !listened {
                out.surprises.push(Surprise {
                    addr,
                    proto,
                    port,
                    namespaces: namespaces.clone(),
                });
            }
        }
    }
    out.rows.sort_by_key(|r| (r.socket, r.addr));
    out.foreign.sort();
    out.foreign.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Namespace, Owner, Socket, Source};
    use crate::ns::NetNs;

    struct Host(IpAddr, Vec<(Protocol, u16, &'static str)>);

    impl SeenHost for Host {
        fn addr(&self) -> IpAddr {
            self.0
        }
        fn state(&self, proto: Protocol, port: u16) -> Option<&str> {
            self.1
                .iter()
                .find(|&&(p, n, _)| p == proto && n == port)
                .map(|&(_, _, s)| s)
        }
        fn open_ports(&self) -> Vec<(Protocol, u16)> {
            self.1
                .iter()
                .filter(|e| e.2 == "open")
                .map(|&(p, n, _)| (p, n))
                .collect()
        }
    }

    fn ns(inode: u64, host: bool, addrs: &[&str]) -> Namespace {
        Namespace {
            ns: NetNs {
                inode,
                names: Vec::new(),
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

    fn sock(ns: usize, proto: Protocol, addr: &str, port: u16, v6only: Option<bool>) -> Socket {
        Socket {
            ns,
            proto,
            addr: addr.parse().unwrap(),
            port,
            v6only,
            iface: None,
            uid: 0,
            inode: 1,
            holders: Vec::new(),
            owner: Owner::Unseen,
            activation: Vec::new(),
        }
    }

    #[test]
    fn verdicts_surprises_and_foreign_addresses() {
        use Protocol::{Tcp, Udp};
        let inv = Inventory {
            namespaces: vec![
                ns(1, true, &["127.0.0.1", "10.0.0.5", "fd00::5"]),
                ns(2, false, &["127.0.0.1", "10.9.0.2"]),
            ],
            sockets: vec![
                sock(0, Tcp, "0.0.0.0", 22, None),    // 0: every IPv4 address
                sock(0, Tcp, "127.0.0.1", 631, None), // 1: loopback: never reached
                sock(0, Tcp, "::", 80, Some(false)),  // 2: dual-stack
                sock(0, Tcp, "::", 443, Some(true)),  // 3: IPv6 only
                sock(0, Udp, "10.0.0.5", 53, None),   // 4: this address
                sock(0, Tcp, "10.0.0.5", 8080, None), // 5: not scanned
                sock(1, Tcp, "0.0.0.0", 3306, None),  // 6: another namespace
            ],
            ..Inventory::default()
        };
        let scan = [
            Host(
                "10.0.0.5".parse().unwrap(),
                vec![
                    (Tcp, 22, "open"),
                    (Tcp, 80, "filtered"),
                    (Tcp, 443, "open"),
                    (Tcp, 631, "closed"),
                    (Tcp, 3306, "open"),
                    (Udp, 53, "open|filtered"),
                ],
            ),
            Host("192.0.2.1".parse().unwrap(), vec![(Tcp, 22, "open")]),
        ];
        let j = join(&inv, &scan, &|_, _| true);
        let got: Vec<(usize, Verdict)> = j.rows.iter().map(|r| (r.socket, r.verdict)).collect();
        assert_eq!(
            got,
            [
                (0, Verdict::Exposed),
                (2, Verdict::Protected),
                (4, Verdict::Unconfirmed),
                (5, Verdict::NotScanned)
            ]
        );
        // 443 is IPv6-only and 3306 lives in another namespace: both surprises for
        // 10.0.0.5, so is 631 not (closed).
        let s: Vec<u16> = j.surprises.iter().map(|s| s.port).collect();
        assert_eq!(s, [443, 3306]);
        assert_eq!(j.foreign, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        // Gathered for port 443 only: 3306 was never looked for, so it is no surprise.
        let j = join(&inv, &scan, &|_, port| port == 443);
        let s: Vec<u16> = j.surprises.iter().map(|s| s.port).collect();
        assert_eq!(s, [443]);
    }

    #[test]
    fn loopback_scans_are_the_host_namespace() {
        let inv = Inventory {
            namespaces: vec![ns(1, true, &["127.0.0.1"]), ns(2, false, &["127.0.0.1"])],
            sockets: vec![
                sock(0, Protocol::Tcp, "127.0.0.1", 10400, None),
                sock(1, Protocol::Tcp, "127.0.0.1", 10401, None),
            ],
            ..Inventory::default()
        };
        let scan = [Host(
            "127.0.0.1".parse().unwrap(),
            vec![
                (Protocol::Tcp, 10400, "open"),
                (Protocol::Tcp, 10401, "closed"),
            ],
        )];
        let j = join(&inv, &scan, &|_, _| true);
        assert_eq!(j.rows.len(), 1);
        assert_eq!((j.rows[0].socket, j.rows[0].verdict), (0, Verdict::Exposed));
        assert!(j.surprises.is_empty());
    }
}
