//! Host discovery on a directly attached Ethernet segment: the driver of
//! [`monban_engine::neighbor::NeighborScan`].
//!
//! - [`interfaces`] lists the machine's interfaces with their addresses and prefixes
//!   (`getifaddrs`); [`attachment`] / [`attachment_in`] decide whether a target is on the
//!   link of one of them — inside one of its prefixes, on an Ethernet interface that is up
//!   — and say why not with a [`LinkError`]; [`plan`] groups targets by link.
//! - [`run`] asks one link about its targets: ARP requests go out as whole broadcast
//!   frames on an `AF_PACKET` socket bound to the interface (a kernel BPF filter passes
//!   only ARP replies); Neighbor Solicitations go out on a raw ICMPv6 socket bound to the
//!   interface's link-local address, hop limit 255, to each target's solicited-node
//!   group (an `ICMP6_FILTER` passes only advertisements, each read with its hop limit).
//!   Buffers are made once; nothing is allocated per packet.

use std::ffi::CStr;
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use monban_engine::neighbor::{
    NeighborConfig, NeighborError, NeighborResult, NeighborScan, NeighborStats, MAX_REQUEST_LEN,
};
use monban_engine::Timing;
use monban_wire::{arp, MacAddr};

use crate::sys::{cvt, setsockopt};
use crate::RawSockets;

/// Why a target cannot be asked about on a link, or a neighbour scan failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No interface has a prefix containing the target: it is reached through a router
    /// (use the IP-level pings instead).
    #[error("{addr} is not on a directly attached network of this machine")]
    NotOnLink {
        /// The target.
        addr: IpAddr,
    },
    /// The target's prefix is on an interface that is not Ethernet (loopback, tunnel,
    /// WireGuard, ...): there is no ARP or Neighbor Discovery to ask with.
    #[error("{addr} is on {interface}, which is not an Ethernet interface")]
    NotEthernet {
        /// The target.
        addr: IpAddr,
        /// The interface.
        interface: String,
    },
    /// The target's interface is down or has no carrier.
    #[error("{addr} is on {interface}, which is down or has no carrier")]
    InterfaceDown {
        /// The target.
        addr: IpAddr,
        /// The interface.
        interface: String,
    },
    /// The target is one of this machine's own addresses.
    #[error("{addr} is this machine's own address on {interface}")]
    OwnAddress {
        /// The target.
        addr: IpAddr,
        /// The interface holding it.
        interface: String,
    },
    /// Several interfaces have a prefix containing the target (always so for IPv6
    /// link-local targets): name one with `-e`.
    #[error("{addr} is on the networks of several interfaces ({}): choose one with -e", interfaces.join(", "))]
    Ambiguous {
        /// The target.
        addr: IpAddr,
        /// The interfaces, in the system's order.
        interfaces: Vec<String>,
    },
    /// The interface named with `-e` does not exist.
    #[error("interface {0:?} not found")]
    NoSuchInterface(String),
    /// An IPv6 target on an interface without a link-local address to solicit from.
    #[error("{interface} has no IPv6 link-local address to send neighbor solicitations from")]
    NoLinkLocal {
        /// The interface.
        interface: String,
    },
    /// Packet sockets need privileges this process does not have.
    #[error("ARP and Neighbor Discovery pings need raw sockets (CAP_NET_RAW): run as root, or use --send-ip / --disable-arp-ping")]
    NeedRawPrivilege,
    /// The [`crate::RawSockets`] pool given holds no socket for this interface (the
    /// process can no longer create one).
    #[error("no {kind} socket was opened for {interface} before privileges were dropped ({why}): run with --keep-privileges")]
    NotPrepared {
        /// ARP or Neighbor Discovery.
        kind: &'static str,
        /// The interface.
        interface: String,
        /// Why it was not opened.
        why: String,
    },
    /// The engine refused the targets or the configuration.
    #[error(transparent)]
    Engine(#[from] NeighborError),
    /// A system call failed.
    #[error("{what} failed")]
    Io {
        /// Which operation.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> LinkError {
    move |source| {
        if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
            LinkError::NeedRawPrivilege
        } else {
            LinkError::Io { what, source }
        }
    }
}

/// One address of an interface with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix_len: u8,
}

impl IfAddr {
    /// Whether `other` is inside this address's prefix.
    pub fn contains(&self, other: IpAddr) -> bool {
        match (self.addr, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let n = u32::from(self.prefix_len.min(32));
                let mask = u32::MAX.checked_shl(32 - n).unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let n = u32::from(self.prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - n).unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// A network interface as [`interfaces`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// Hardware address, for Ethernet interfaces.
    pub mac: Option<MacAddr>,
    /// Ethernet (ARPHRD_ETHER with a 6-byte address; veth and bridges are too).
    pub ethernet: bool,
    /// Administratively up with carrier (IFF_UP and IFF_RUNNING).
    pub up: bool,
    /// IPv4 and IPv6 addresses with their prefixes.
    pub addrs: Vec<IfAddr>,
}

impl Interface {
    /// The first IPv6 link-local address (fe80::/10).
    pub fn link_local(&self) -> Option<Ipv6Addr> {
        self.addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80 => Some(v),
            _ => None,
        })
    }
}

/// What a neighbour scan of one link needs: the interface and our addresses on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface name.
    pub interface: String,
    /// Interface index.
    pub index: u32,
    /// Our MAC address there.
    pub mac: MacAddr,
    /// Our IPv4 address in the prefix of the IPv4 targets (None without IPv4 targets).
    pub v4: Option<Ipv4Addr>,
    /// Our link-local IPv6 address (None without IPv6 targets).
    pub v6: Option<Ipv6Addr>,
}

/// The machine's interfaces with their addresses, in the system's order.
///
/// # Errors
/// [`LinkError::Io`] when `getifaddrs` fails.
pub fn interfaces() -> Result<Vec<Interface>, LinkError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io_err("getifaddrs")(io::Error::last_os_error()));
    }
    let mut out: Vec<Interface> = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let pos = match out.iter().position(|i| i.name == name) {
            Some(p) => p,
            None => {
                let Ok(c) = std::ffi::CString::new(name.clone()) else {
                    continue;
                };
                // SAFETY: a valid NUL-terminated string.
                let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
                out.push(Interface {
                    name,
                    index,
                    mac: None,
                    ethernet: false,
                    up: false,
                    addrs: Vec::new(),
                });
                out.len() - 1
            }
        };
        let Some(iface) = out.get_mut(pos) else {
            continue;
        };
        let flags = ifa.ifa_flags as libc::c_int;
        iface.up = flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0;
        // SAFETY: ifa_addr is non-null and points at a sockaddr of the family it names.
        let family = libc::c_int::from(unsafe { (*ifa.ifa_addr).sa_family });
        match family {
            libc::AF_PACKET => {
                // SAFETY: AF_PACKET entries carry a sockaddr_ll.
                let ll = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_ll>() };
                if ll.sll_hatype == libc::ARPHRD_ETHER && ll.sll_halen == 6 {
                    let mut m = [0u8; 6];
                    m.copy_from_slice(&ll.sll_addr[..6]);
                    iface.mac = Some(MacAddr(m));
                    iface.ethernet = true;
                }
                if let Ok(i) = u32::try_from(ll.sll_ifindex) {
                    iface.index = i;
                }
            }
            libc::AF_INET => {
                // SAFETY: AF_INET entries carry a sockaddr_in; the netmask, when present,
                // is of the same family.
                let a = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                let mask = (!ifa.ifa_netmask.is_null()).then(|| {
                    // SAFETY: see above.
                    let m = unsafe { &*ifa.ifa_netmask.cast::<libc::sockaddr_in>() };
                    m.sin_addr.s_addr.count_ones()
                });
                iface.addrs.push(IfAddr {
                    addr: IpAddr::V4(Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes())),
                    prefix_len: mask.map_or(32, |m| m as u8),
                });
            }
            libc::AF_INET6 => {
                // SAFETY: AF_INET6 entries carry a sockaddr_in6, and so does the netmask.
                let a = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
                let mask = (!ifa.ifa_netmask.is_null()).then(|| {
                    // SAFETY: see above.
                    let m = unsafe { &*ifa.ifa_netmask.cast::<libc::sockaddr_in6>() };
                    u128::from_be_bytes(m.sin6_addr.s6_addr).count_ones()
                });
                iface.addrs.push(IfAddr {
                    addr: IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)),
                    prefix_len: mask.map_or(128, |m| m as u8),
                });
            }
            _ => {}
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once; no reference into it remains.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The link on which `target` can be asked about, from the machine's interfaces (only
/// `interface` if given, as with `-e`). See [`attachment_in`].
///
/// # Errors
/// As [`attachment_in`], and [`LinkError::Io`] when the interfaces cannot be read.
pub fn attachment(target: IpAddr, interface: Option<&str>) -> Result<Link, LinkError> {
    attachment_in(&interfaces()?, target, interface)
}

/// The link on which `target` can be asked about: the interface one of whose prefixes
/// contains it. The returned [`Link`] has our address in that prefix for an IPv4 target,
/// our link-local address for an IPv6 one.
///
/// # Errors
/// [`LinkError::OwnAddress`], [`LinkError::NotOnLink`], [`LinkError::Ambiguous`] (without
/// `interface`), [`LinkError::InterfaceDown`], [`LinkError::NotEthernet`],
/// [`LinkError::NoLinkLocal`], [`LinkError::NoSuchInterface`].
pub fn attachment_in(
    interfaces: &[Interface],
    target: IpAddr,
    interface: Option<&str>,
) -> Result<Link, LinkError> {
    if let Some(name) = interface {
        if !interfaces.iter().any(|i| i.name == name) {
            return Err(LinkError::NoSuchInterface(name.to_owned()));
        }
    }
    let chosen = interfaces
        .iter()
        .filter(|i| interface.is_none_or(|n| n == i.name));
    let mut found: Vec<(&Interface, IpAddr)> = Vec::new();
    for iface in chosen {
        if iface.addrs.iter().any(|a| a.addr == target) {
            return Err(LinkError::OwnAddress {
                addr: target,
                interface: iface.name.clone(),
            });
        }
        if let Some(a) = iface.addrs.iter().find(|a| a.contains(target)) {
            found.push((iface, a.addr));
        }
    }
    let (iface, ours) = match found.as_slice() {
        [] => return Err(LinkError::NotOnLink { addr: target }),
        [one] => *one,
        many => {
            return Err(LinkError::Ambiguous {
                addr: target,
                interfaces: many.iter().map(|(i, _)| i.name.clone()).collect(),
            })
        }
    };
    let (Some(mac), true) = (iface.mac, iface.ethernet) else {
        return Err(LinkError::NotEthernet {
            addr: target,
            interface: iface.name.clone(),
        });
    };
    if !iface.up {
        return Err(LinkError::InterfaceDown {
            addr: target,
            interface: iface.name.clone(),
        });
    }
    let (v4, v6) = match ours {
        IpAddr::V4(a) => (Some(a), None),
        IpAddr::V6(_) => {
            let ll = iface.link_local().ok_or_else(|| LinkError::NoLinkLocal {
                interface: iface.name.clone(),
            })?;
            (None, Some(ll))
        }
    };
    Ok(Link {
        interface: iface.name.clone(),
        index: iface.index,
        mac,
        v4,
        v6,
    })
}

/// Groups `targets` by the link they are on, each group in the targets' order; the
/// targets of one group can go to one [`run`]. Fails on the first target that is not on
/// a usable link.
///
/// # Errors
/// As [`attachment_in`] for the first target that fails.
pub fn plan(
    interfaces: &[Interface],
    targets: &[IpAddr],
    interface: Option<&str>,
) -> Result<Vec<(Link, Vec<IpAddr>)>, LinkError> {
    let mut groups: Vec<(Link, Vec<IpAddr>)> = Vec::new();
    for &t in targets {
        let link = attachment_in(interfaces, t, interface)?;
        let same = groups.iter_mut().find(|(g, _)| {
            g.index == link.index
                && (link.v4.is_none() || g.v4.is_none() || g.v4 == link.v4)
                && (link.v6.is_none() || g.v6.is_none() || g.v6 == link.v6)
        });
        match same {
            Some((g, list)) => {
                g.v4 = g.v4.or(link.v4);
                g.v6 = g.v6.or(link.v6);
                list.push(t);
            }
            None => groups.push((link, vec![t])),
        }
    }
    Ok(groups)
}

/// Bytes kept of each received frame or message.
const RX_LEN: usize = 2048;
/// Longest sleep between two looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// Most packets read from one socket before the loop sends again.
const RX_BATCH: usize = 256;
/// `ICMPV6_FILTER` from linux/icmpv6.h (not in the libc crate).
const ICMPV6_FILTER: libc::c_int = 1;

/// An `AF_PACKET` socket bound to one interface that receives only ARP replies.
pub(crate) fn arp_socket(ifindex: u32) -> Result<OwnedFd, LinkError> {
    let err = io_err("ARP packet socket");
    // Protocol 0: nothing is received before bind() names ARP and the interface, so no
    // frame from another interface can slip in before the filter.
    // SAFETY: plain syscall.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })
    .map_err(err)?;
    // SAFETY: fd fresh from socket().
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // ldh [20] (ARP operation, after the 14-byte Ethernet header); reply → keep.
    let filter = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 20,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: u32::from(arp::operation::REPLY),
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: RX_LEN as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
    )
    .map_err(io_err("attaching the ARP filter"))?;
    // SAFETY: an all-zero sockaddr_ll is valid; we set the fields bind() reads.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
    sll.sll_ifindex = libc::c_int::try_from(ifindex).unwrap_or(0);
    // SAFETY: pointer and size of a live sockaddr_ll.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map_err(io_err("binding the ARP socket to the interface"))?;
    Ok(fd)
}

fn sockaddr_in6(addr: Ipv6Addr, scope: u32) -> libc::sockaddr_in6 {
    // SAFETY: an all-zero sockaddr_in6 is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = scope;
    sa
}

/// A raw ICMPv6 socket bound to our link-local address on the interface, sending with hop
/// limit 255 and receiving only Neighbor Advertisements with their hop limit.
pub(crate) fn nd_socket(ifindex: u32, local: Ipv6Addr) -> Result<OwnedFd, LinkError> {
    // SAFETY: plain syscall.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMPV6,
        )
    })
    .map_err(io_err("raw ICMPv6 socket"))?;
    // SAFETY: fd fresh from socket().
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    // Block every ICMPv6 type but 136 (a set bit blocks).
    let mut filter = [u32::MAX; 8];
    let t = usize::from(monban_wire::icmpv6::msg_type::NEIGHBOR_ADVERT);
    if let Some(word) = filter.get_mut(t >> 5) {
        *word &= !(1u32 << (t & 31));
    }
    setsockopt(raw, libc::IPPROTO_ICMPV6, ICMPV6_FILTER, &filter)
        .map_err(io_err("ICMPv6 filter"))?;
    let hops: libc::c_int = 255;
    let one: libc::c_int = 1;
    let zero: libc::c_int = 0;
    let idx = libc::c_int::try_from(ifindex).unwrap_or(0);
    for (name, v, what) in [
        (libc::IPV6_MULTICAST_HOPS, &hops, "IPV6_MULTICAST_HOPS"),
        (libc::IPV6_UNICAST_HOPS, &hops, "IPV6_UNICAST_HOPS"),
        (libc::IPV6_MULTICAST_IF, &idx, "IPV6_MULTICAST_IF"),
        (libc::IPV6_MULTICAST_LOOP, &zero, "IPV6_MULTICAST_LOOP"),
        (libc::IPV6_RECVHOPLIMIT, &one, "IPV6_RECVHOPLIMIT"),
    ] {
        setsockopt(raw, libc::IPPROTO_IPV6, name, v).map_err(io_err(what))?;
    }
    let sa = sockaddr_in6(local, ifindex);
    // SAFETY: pointer and size of a live sockaddr_in6.
    cvt(unsafe {
        libc::bind(
            raw,
            (&sa as *const libc::sockaddr_in6).cast(),
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    })
    .map_err(io_err(
        "binding the ICMPv6 socket to the link-local address",
    ))?;
    Ok(fd)
}

/// Whether a send error is back-pressure (the request counts as lost; the engine's
/// timer retransmits it).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::ENOBUFS | libc::EINTR)
    )
}

fn send_arp(fd: RawFd, frame: &[u8]) -> io::Result<()> {
    // SAFETY: frame is a live slice; the socket is bound, so no address is needed.
    let r = unsafe { libc::send(fd, frame.as_ptr().cast(), frame.len(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn send_ns(fd: RawFd, message: &[u8], dst: Ipv6Addr, ifindex: u32) -> io::Result<()> {
    let sa = sockaddr_in6(dst, ifindex);
    // SAFETY: message and sa are live for the call.
    let r = unsafe {
        libc::sendto(
            fd,
            message.as_ptr().cast(),
            message.len(),
            0,
            (&sa as *const libc::sockaddr_in6).cast(),
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive buffers, made once per run.
struct Rx {
    data: Box<[u8; RX_LEN]>,
    /// Control data (aligned for `cmsghdr`).
    control: [u64; 16],
}

impl Rx {
    /// Reads one packet without blocking: `Ok(None)` when none is queued; else its length
    /// and the hop limit found in the control data, if any.
    fn recv(&mut self, fd: RawFd) -> io::Result<Option<(usize, Option<u8>)>> {
        let mut iov = libc::iovec {
            iov_base: self.data.as_mut_ptr().cast(),
            iov_len: RX_LEN,
        };
        // SAFETY: an all-zero msghdr is valid; the pointers set below live across the call.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = self.control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&self.control) as _;
        // SAFETY: msg points at live buffers of the sizes it states.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        let mut hop_limit = None;
        // SAFETY: CMSG_FIRSTHDR/NXTHDR walk the control data the kernel wrote into
        // `self.control`, within `msg.msg_controllen`.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let h = &*c;
                if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT {
                    let v = libc::CMSG_DATA(c).cast::<libc::c_int>().read_unaligned();
                    hop_limit = u8::try_from(v).ok();
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some(((n as usize).min(RX_LEN), hop_limit)))
    }
}

/// Asks `link` about `targets` (all on it, see [`plan`]) with timing `timing`, and hands
/// each verdict to `on_result` as soon as it is known. Returns the final counters.
///
/// Setting `stop` ends the scan early: undecided targets are reported down and
/// incomplete. With `sockets`, the link's ARP / ND sockets come from that pool and none
/// is created.
///
/// # Errors
/// [`LinkError::NeedRawPrivilege`] without CAP_NET_RAW; [`LinkError::NotPrepared`] when
/// `sockets` lacks the link's socket; [`LinkError::Engine`] for targets the link cannot
/// ask about; [`LinkError::Io`] when a socket fails.
pub fn run(
    link: &Link,
    targets: &[IpAddr],
    timing: &Timing,
    sockets: Option<&RawSockets>,
    stop: &AtomicBool,
    on_result: &mut dyn FnMut(NeighborResult),
) -> Result<NeighborStats, LinkError> {
    let config = NeighborConfig::from_timing(timing, link.mac, link.v4, link.v6);
    run_with(link, targets, config, sockets, stop, on_result)
}

/// [`run`] with an explicit engine configuration (its addresses should be the link's).
///
/// # Errors
/// As [`run`].
pub fn run_with(
    link: &Link,
    targets: &[IpAddr],
    config: NeighborConfig,
    sockets: Option<&RawSockets>,
    stop: &AtomicBool,
    on_result: &mut dyn FnMut(NeighborResult),
) -> Result<NeighborStats, LinkError> {
    let mut scan = NeighborScan::new(config, targets.iter().copied())?;
    let arp_fd = match (targets.iter().any(IpAddr::is_ipv4), sockets) {
        (false, _) => None,
        (true, Some(pool)) => Some(pool.arp(link.index, &link.interface)?),
        (true, None) => Some(arp_socket(link.index)?),
    };
    let nd_fd = match (targets.iter().any(IpAddr::is_ipv6), link.v6, sockets) {
        (true, Some(ll), Some(pool)) => Some(pool.nd(link.index, ll, &link.interface)?),
        (true, Some(ll), None) => Some(nd_socket(link.index, ll)?),
        _ => None,
    };
    let mut tx = [0u8; MAX_REQUEST_LEN];
    let mut rx = Rx {
        data: Box::new([0u8; RX_LEN]),
        control: [0u64; 16],
    };
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) {
            scan.stop();
        }
        scan.handle_timeout(now);
        while let Some(req) = scan.poll_transmit(now, &mut tx) {
            let bytes = tx.get(..req.len).unwrap_or(&[]);
            let sent = match (req.ipv6_dst(), &arp_fd, &nd_fd) {
                (None, Some(fd), _) => send_arp(fd.as_raw_fd(), bytes),
                (Some(dst), _, Some(fd)) => send_ns(fd.as_raw_fd(), bytes, dst, link.index),
                _ => Ok(()),
            };
            if let Err(e) = sent {
                if !transient(&e) {
                    return Err(io_err("sending a neighbour request")(e));
                }
            }
        }
        while let Some(r) = scan.poll_result() {
            on_result(r);
        }
        if scan.is_done() {
            return Ok(scan.stats());
        }
        let wait = scan
            .next_timeout()
            .map_or(STOP_CHECK, |t| t.saturating_duration_since(now))
            .min(STOP_CHECK);
        let mut fds = [arp_fd.as_ref(), nd_fd.as_ref()].map(|fd| libc::pollfd {
            fd: fd.map_or(-1, |f| f.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        });
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(wait.subsec_nanos() as i32),
        };
        // SAFETY: two live pollfds (fd -1 is ignored), a live timespec, no signal mask.
        let r = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &ts, std::ptr::null()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err("ppoll")(e));
            }
            continue;
        }
        if let Some(fd) = &arp_fd {
            for _ in 0..RX_BATCH {
                let Some((n, _)) = rx.recv(fd.as_raw_fd()).map_err(io_err("reading ARP"))? else {
                    break;
                };
                scan.on_arp_frame(Instant::now(), rx.data.get(..n).unwrap_or(&[]));
            }
        }
        if let Some(fd) = &nd_fd {
            for _ in 0..RX_BATCH {
                let Some((n, hops)) = rx.recv(fd.as_raw_fd()).map_err(io_err("reading ICMPv6"))?
                else {
                    break;
                };
                // No hop limit in the control data: treat as not from the link.
                let hops = hops.unwrap_or(0);
                scan.on_icmpv6(Instant::now(), hops, rx.data.get(..n).unwrap_or(&[]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifaddr(s: &str, p: u8) -> IfAddr {
        IfAddr {
            addr: s.parse().unwrap(),
            prefix_len: p,
        }
    }

    fn eth(name: &str, index: u32, addrs: Vec<IfAddr>) -> Interface {
        Interface {
            name: name.into(),
            index,
            mac: Some(MacAddr([2, 0, 0, 0, 0, index as u8])),
            ethernet: true,
            up: true,
            addrs,
        }
    }

    fn machine() -> Vec<Interface> {
        vec![
            Interface {
                name: "lo".into(),
                index: 1,
                mac: None,
                ethernet: false,
                up: true,
                addrs: vec![ifaddr("127.0.0.1", 8), ifaddr("::1", 128)],
            },
            eth(
                "eth0",
                2,
                vec![
                    ifaddr("192.168.1.5", 24),
                    ifaddr("10.9.0.5", 16),
                    ifaddr("2001:db8:1::5", 64),
                    ifaddr("fe80::1:5", 64),
                ],
            ),
            eth(
                "eth1",
                3,
                vec![ifaddr("192.168.2.5", 24), ifaddr("fe80::2:5", 64)],
            ),
            Interface {
                up: false,
                ..eth("eth2", 4, vec![ifaddr("192.168.3.5", 24)])
            },
            Interface {
                name: "wg0".into(),
                index: 5,
                mac: None,
                ethernet: false,
                up: true,
                addrs: vec![ifaddr("10.200.0.1", 24)],
            },
        ]
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes() {
        assert!(ifaddr("192.168.1.5", 24).contains(ip("192.168.1.255")));
        assert!(!ifaddr("192.168.1.5", 24).contains(ip("192.168.2.1")));
        assert!(ifaddr("10.0.0.1", 0).contains(ip("8.8.8.8")));
        assert!(ifaddr("10.0.0.1", 32).contains(ip("10.0.0.1")));
        assert!(!ifaddr("10.0.0.1", 32).contains(ip("10.0.0.2")));
        assert!(ifaddr("2001:db8::1", 64).contains(ip("2001:db8::ffff:1")));
        assert!(!ifaddr("2001:db8::1", 64).contains(ip("2001:db8:0:1::1")));
        assert!(!ifaddr("2001:db8::1", 64).contains(ip("10.0.0.1")));
        assert!(ifaddr("::", 0).contains(ip("2001:db8::1")));
        assert!(
            ifaddr("::1", 200).contains(ip("::1")),
            "lengths above 128 read as 128"
        );
    }

    #[test]
    fn attachment_decisions() {
        let m = machine();
        let link = attachment_in(&m, ip("192.168.1.77"), None).unwrap();
        assert_eq!(
            link,
            Link {
                interface: "eth0".into(),
                index: 2,
                mac: MacAddr([2, 0, 0, 0, 0, 2]),
                v4: Some("192.168.1.5".parse().unwrap()),
                v6: None,
            }
        );
        // The source is our address in the target's prefix.
        assert_eq!(
            attachment_in(&m, ip("10.9.200.1"), None).unwrap().v4,
            Some("10.9.0.5".parse().unwrap())
        );
        let l6 = attachment_in(&m, ip("2001:db8:1::99"), None).unwrap();
        assert_eq!((l6.interface.as_str(), l6.v4), ("eth0", None));
        assert_eq!(l6.v6, Some("fe80::1:5".parse().unwrap()));
        assert!(matches!(
            attachment_in(&m, ip("8.8.8.8"), None),
            Err(LinkError::NotOnLink { .. })
        ));
        assert!(matches!(
            attachment_in(&m, ip("192.168.1.5"), None),
            Err(LinkError::OwnAddress { interface, .. }) if interface == "eth0"
        ));
        assert!(matches!(
            attachment_in(&m, ip("127.0.0.2"), None),
            Err(LinkError::NotEthernet { interface, .. }) if interface == "lo"
        ));
        assert!(matches!(
            attachment_in(&m, ip("10.200.0.7"), None),
            Err(LinkError::NotEthernet { interface, .. }) if interface == "wg0"
        ));
        assert!(matches!(
            attachment_in(&m, ip("192.168.3.9"), None),
            Err(LinkError::InterfaceDown { interface, .. }) if interface == "eth2"
        ));
        match attachment_in(&m, ip("fe80::99"), None) {
            Err(LinkError::Ambiguous { interfaces, .. }) => {
                assert_eq!(interfaces, ["eth0", "eth1"])
            }
            other => panic!("{other:?}"),
        }
        let l = attachment_in(&m, ip("fe80::99"), Some("eth1")).unwrap();
        assert_eq!((l.index, l.v6), (3, Some("fe80::2:5".parse().unwrap())));
        assert!(matches!(
            attachment_in(&m, ip("192.168.1.77"), Some("eth1")),
            Err(LinkError::NotOnLink { .. })
        ));
        assert!(matches!(
            attachment_in(&m, ip("192.168.1.77"), Some("nope0")),
            Err(LinkError::NoSuchInterface(n)) if n == "nope0"
        ));
        let mut no_ll = machine();
        no_ll[1].addrs.retain(|a| a.addr != ip("fe80::1:5"));
        assert!(matches!(
            attachment_in(&no_ll, ip("2001:db8:1::99"), None),
            Err(LinkError::NoLinkLocal { interface }) if interface == "eth0"
        ));
    }

    #[test]
    fn plan_groups_by_link() {
        let m = machine();
        let t: Vec<IpAddr> = [
            "192.168.1.7",
            "192.168.2.7",
            "2001:db8:1::7",
            "192.168.1.8",
            "10.9.1.1",
        ]
        .iter()
        .map(|s| ip(s))
        .collect();
        let g = plan(&m, &t, None).unwrap();
        type Group<'a> = (&'a str, Option<Ipv4Addr>, Option<Ipv6Addr>, Vec<IpAddr>);
        let summary: Vec<Group<'_>> = g
            .iter()
            .map(|(l, ts)| (l.interface.as_str(), l.v4, l.v6, ts.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "eth0",
                    Some("192.168.1.5".parse().unwrap()),
                    Some("fe80::1:5".parse().unwrap()),
                    vec![t[0], t[2], t[3]]
                ),
                (
                    "eth1",
                    Some("192.168.2.5".parse().unwrap()),
                    None,
                    vec![t[1]]
                ),
                ("eth0", Some("10.9.0.5".parse().unwrap()), None, vec![t[4]]),
            ]
        );
        assert!(matches!(
            plan(&m, &[t[0], ip("8.8.4.4")], None),
            Err(LinkError::NotOnLink { addr }) if addr == ip("8.8.4.4")
        ));
    }

    #[test]
    fn this_machine_has_a_loopback() {
        // getifaddrs works unprivileged; every Linux network namespace has lo.
        let all = interfaces().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").expect("lo");
        assert!(!lo.ethernet);
        assert!(lo.index >= 1);
        assert!(lo.addrs.iter().any(|a| *a == ifaddr("127.0.0.1", 8)));
    }
}
