//! Raw and packet sockets opened before a scan, so that the process can give up its
//! privileges before it talks to the network.
//!
//! Only *creating* a raw or packet socket needs `CAP_NET_RAW`: binding it, attaching a
//! kernel filter to it and setting its options do not, and neither does duplicating its
//! descriptor. So a [`RawSockets`] pool is opened while the process is privileged; after
//! that, [`crate::syn::run`] and [`crate::neighbor::run`] (given the pool through
//! [`crate::DriveOptions::sockets`] or their `sockets` argument) take duplicates of its
//! sockets, re-attach their own filter and drain what queued up before, and never create
//! a socket. A socket the pool lacks is a typed error ([`NetError::NotPrepared`],
//! [`LinkError::NotPrepared`]), never a silent fallback.
//!
//! The packet socket receives nothing until a driver attaches its filter: it is created
//! with protocol 0 (no traffic), given a filter that drops everything, and only then
//! bound to every protocol on its interface (or on all of them).

use std::io;
use std::mem;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::neighbor::{self, Interface, LinkError};
use crate::sys::{self, cvt};
use crate::NetError;

/// Most packets [`drain`] reads from one socket: it ends even if traffic never stops.
const MAX_DRAIN: usize = 1 << 16;

/// The raw and packet sockets a scan may need, opened ahead of it; see the module doc.
#[derive(Debug)]
pub struct RawSockets {
    /// The interface the packet socket is bound to (`-e`); `None`: all of them.
    interface: Option<String>,
    /// Raw IPv4, header included.
    v4: Option<OwnedFd>,
    /// Raw IPv6, header included (absent when the host has no IPv6).
    v6: Option<OwnedFd>,
    /// `AF_PACKET` (link header stripped) for the replies, dropping all until filtered.
    packet: Option<OwnedFd>,
    /// ARP sockets by interface index.
    arp: Vec<(u32, OwnedFd)>,
    /// Neighbor Discovery sockets by interface index and the link-local address bound.
    nd: Vec<(u32, Ipv6Addr, OwnedFd)>,
    /// Interfaces whose neighbour sockets could not be opened, and why.
    neighbor_failures: Vec<(u32, String)>,
}

impl RawSockets {
    /// A pool with no socket at all: every driver given it fails with `NotPrepared`.
    pub fn empty() -> RawSockets {
        RawSockets {
            interface: None,
            v4: None,
            v6: None,
            packet: None,
            arp: Vec::new(),
            nd: Vec::new(),
            neighbor_failures: Vec::new(),
        }
    }

    /// Opens the sockets of a raw IP scan: raw IPv4, raw IPv6 (when the host has IPv6),
    /// and a packet socket on `interface` (every interface when `None`) that receives
    /// nothing until a driver attaches its filter. Buffers are grown now, while the
    /// process may still force their size.
    ///
    /// # Errors
    /// [`NetError::NeedRawPrivilege`] without `CAP_NET_RAW`;
    /// [`NetError::NoSuchInterface`] for an unknown `interface`; [`NetError::Io`].
    pub fn open(interface: Option<&str>) -> Result<RawSockets, NetError> {
        let perm = |what: &'static str| {
            move |e: io::Error| {
                if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                    NetError::NeedRawPrivilege
                } else {
                    NetError::Io { what, source: e }
                }
            }
        };
        let v4 = sys::raw_socket(libc::AF_INET).map_err(perm("raw socket"))?;
        // IPv6 may be disabled on this host; only an IPv6 target needs it.
        let v6 = sys::raw_socket(libc::AF_INET6).ok();
        let ifindex = match interface {
            Some(name) => {
                sys::if_index(name).ok_or_else(|| NetError::NoSuchInterface(name.to_owned()))?
            }
            None => 0,
        };
        let packet = idle_packet_socket(ifindex).map_err(perm("packet socket"))?;
        sys::grow_buffer(packet.as_raw_fd(), true, 64 << 20);
        sys::grow_buffer(v4.as_raw_fd(), false, 8 << 20);
        if let Some(v6) = &v6 {
            sys::grow_buffer(v6.as_raw_fd(), false, 8 << 20);
        }
        Ok(RawSockets {
            interface: interface.map(str::to_owned),
            v4: Some(v4),
            v6,
            packet: Some(packet),
            ..RawSockets::empty()
        })
    }

    /// Adds the ARP and Neighbor Discovery sockets for every interface of `interfaces`
    /// that a neighbour scan could use: Ethernet and up, `only` if given (`-e`); ARP
    /// where it has an IPv4 address, ND where it has a link-local one. An interface
    /// whose socket cannot be opened is remembered with the reason, which a neighbour
    /// scan on it later reports.
    ///
    /// # Errors
    /// [`LinkError::NeedRawPrivilege`] without `CAP_NET_RAW`.
    pub fn add_neighbors(
        &mut self,
        interfaces: &[Interface],
        only: Option<&str>,
    ) -> Result<(), LinkError> {
        let usable = interfaces
            .iter()
            .filter(|i| i.ethernet && i.up && only.is_none_or(|n| n == i.name));
        for iface in usable {
            if iface.addrs.iter().any(|a| a.addr.is_ipv4()) {
                match neighbor::arp_socket(iface.index) {
                    Ok(fd) => self.arp.push((iface.index, fd)),
                    Err(LinkError::NeedRawPrivilege) => return Err(LinkError::NeedRawPrivilege),
                    Err(e) => self.neighbor_failures.push((iface.index, e.to_string())),
                }
            }
            if let Some(ll) = iface.link_local() {
                match neighbor::nd_socket(iface.index, ll) {
                    Ok(fd) => self.nd.push((iface.index, ll, fd)),
                    Err(LinkError::NeedRawPrivilege) => return Err(LinkError::NeedRawPrivilege),
                    Err(e) => self.neighbor_failures.push((iface.index, e.to_string())),
                }
            }
        }
        Ok(())
    }

    /// The raw socket of a family, duplicated; `None` for IPv6 when the host has none.
    pub(crate) fn ip(&self, v6: bool) -> Result<Option<OwnedFd>, NetError> {
        match (v6, &self.v4, &self.v6) {
            (false, None, _) => Err(NetError::NotPrepared("raw IPv4 socket")),
            (false, Some(fd), _) | (true, _, Some(fd)) => dup(fd).map(Some),
            (true, _, None) => Ok(None),
        }
    }

    /// The packet socket, duplicated, with `filter` attached and emptied of what queued
    /// before; it must be bound as the driver would bind it (`interface`).
    pub(crate) fn packet(
        &self,
        interface: Option<&str>,
        filter: &[libc::sock_filter],
    ) -> Result<OwnedFd, NetError> {
        let Some(fd) = &self.packet else {
            return Err(NetError::NotPrepared("packet socket"));
        };
        if self.interface.as_deref() != interface {
            return Err(NetError::NotPrepared("packet socket on this interface"));
        }
        let fd = dup(fd)?;
        attach_filter(fd.as_raw_fd(), filter).map_err(NetError::io("attaching a filter"))?;
        drain(fd.as_raw_fd());
        Ok(fd)
    }

    /// The ARP socket of interface `index`, duplicated and emptied.
    pub(crate) fn arp(&self, index: u32, name: &str) -> Result<OwnedFd, LinkError> {
        match self.arp.iter().find(|(i, _)| *i == index) {
            Some((_, fd)) => self.lend(fd),
            None => Err(self.missing("ARP", index, name)),
        }
    }

    /// The ND socket of interface `index` bound to `ll`, duplicated and emptied.
    pub(crate) fn nd(&self, index: u32, ll: Ipv6Addr, name: &str) -> Result<OwnedFd, LinkError> {
        match self.nd.iter().find(|(i, a, _)| *i == index && *a == ll) {
            Some((_, _, fd)) => self.lend(fd),
            None => Err(self.missing("Neighbor Discovery", index, name)),
        }
    }

    fn lend(&self, fd: &OwnedFd) -> Result<OwnedFd, LinkError> {
        let fd = fd.try_clone().map_err(|source| LinkError::Io {
            what: "duplicating a neighbour socket",
            source,
        })?;
        drain(fd.as_raw_fd());
        Ok(fd)
    }

    fn missing(&self, kind: &'static str, index: u32, name: &str) -> LinkError {
        let why = self
            .neighbor_failures
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, why)| why.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        LinkError::NotPrepared {
            kind,
            interface: name.to_owned(),
            why: if why.is_empty() {
                "the interface was not usable when the scan began".to_owned()
            } else {
                why
            },
        }
    }
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, NetError> {
    fd.try_clone()
        .map_err(NetError::io("duplicating a raw socket"))
}

/// Attaches a classic BPF program to a socket (replacing the one it had).
pub(crate) fn attach_filter(fd: RawFd, filter: &[libc::sock_filter]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).unwrap_or(u16::MAX),
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

/// A filter that keeps nothing.
const DROP_ALL: [libc::sock_filter; 1] = [libc::sock_filter {
    code: (libc::BPF_RET | libc::BPF_K) as u16,
    jt: 0,
    jf: 0,
    k: 0,
}];

/// A packet socket (link header stripped) on interface `ifindex` (0: all of them) that
/// receives nothing until another filter replaces its drop-all one.
fn idle_packet_socket(ifindex: libc::c_int) -> io::Result<OwnedFd> {
    // Protocol 0: nothing is received before bind() names the protocol.
    // SAFETY: plain syscall.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: fd fresh from socket().
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    attach_filter(fd.as_raw_fd(), &DROP_ALL)?;
    // SAFETY: zeroed sockaddr_ll is a valid value; we fill the fields bind() reads.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: pointer and size of a live sockaddr_ll.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Reads and throws away what is queued on a non-blocking socket (at most [`MAX_DRAIN`]
/// packets), so a driver borrowing it sees only what arrives for its own run.
pub(crate) fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    for _ in 0..MAX_DRAIN {
        // SAFETY: buf is live for the call; MSG_TRUNC only reports the full length.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_pool_says_which_socket_is_missing() {
        let pool = RawSockets::empty();
        assert!(matches!(
            pool.ip(false),
            Err(NetError::NotPrepared("raw IPv4 socket"))
        ));
        assert!(matches!(pool.ip(true), Ok(None)));
        assert!(matches!(
            pool.packet(None, &DROP_ALL),
            Err(NetError::NotPrepared("packet socket"))
        ));
        let e = pool.arp(7, "eth9").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no ARP socket was opened for eth9 before privileges were dropped \
             (the interface was not usable when the scan began): run with --keep-privileges"
        );
    }
}
