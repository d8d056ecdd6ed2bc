//! Sockets from the kernel's `sock_diag` netlink interface, the one `ss` reads.
//!
//! A `NETLINK_SOCK_DIAG` socket answers a `SOCK_DIAG_BY_FAMILY` dump request (one address
//! family, one protocol, a bit set of TCP states) with one `inet_diag_msg` per socket of
//! the network namespace the netlink socket was created in. The request and the parsing of
//! the answer are plain functions over bytes ([`request`], [`parse`]), tested on fixtures;
//! [`dump`] is the thin part that talks to the kernel.
//!
//! Layouts (`linux/inet_diag.h`, `linux/netlink.h`), all in host byte order except ports
//! and addresses, which are in network order:
//!
//! ```text
//! nlmsghdr        len u32 | type u16 | flags u16 | seq u32 | pid u32            (16 bytes)
//! inet_diag_req_v2 family u8 | protocol u8 | ext u8 | pad u8 | states u32 | sockid (56)
//! inet_diag_sockid sport be16 | dport be16 | src [16] | dst [16] | if u32 | cookie [8] (48)
//! inet_diag_msg   family u8 | state u8 | timer u8 | retrans u8 | sockid | expires u32 |
//!                 rqueue u32 | wqueue u32 | uid u32 | inode u32                    (72)
//! then attributes: len u16 | type u16 | value, each padded to 4 bytes
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use monban_engine::Protocol;

/// TCP state number of a listening socket (`TCP_LISTEN`).
pub const TCP_LISTEN: u8 = 10;
/// State number of a UDP socket that is bound but not connected (`TCP_CLOSE`, shown as
/// `UNCONN` by `ss`).
pub const UDP_UNCONNECTED: u8 = 7;

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const DIAG_MSG: usize = 72;
const INET_DIAG_SKV6ONLY: u16 = 11;

/// Length of a request built by [`request`].
pub const REQUEST_LEN: usize = NLMSG_HDR + 56;

/// One socket as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagSocket {
    /// TCP or UDP.
    pub proto: Protocol,
    /// The bound address and port.
    pub local: SocketAddr,
    /// The kernel's state number ([`TCP_LISTEN`], [`UDP_UNCONNECTED`], ...).
    pub state: u8,
    /// Owner uid of the socket (the creator's effective uid).
    pub uid: u32,
    /// Inode number of the socket: `socket:[INODE]` in `/proc/PID/fd`. 0 for a socket
    /// the kernel itself holds.
    pub inode: u64,
    /// For an IPv6 socket: whether it refuses IPv4 (`IPV6_V6ONLY`).
    pub v6only: Option<bool>,
    /// The interface it is bound to (`SO_BINDTODEVICE`), 0 for none.
    pub ifindex: u32,
}

/// What went wrong in a dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagError {
    /// The kernel answered the request with an error (`errno`): `ENOENT` when the
    /// diagnostic module of that protocol is missing.
    #[error("the kernel refused the sock_diag request: {}", std::io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
    /// A message shorter than its header says, or a socket message too short.
    #[error("malformed sock_diag answer: {0}")]
    Malformed(&'static str),
    /// Opening, sending or receiving on the netlink socket failed (`errno`).
    #[error("netlink socket: {}", std::io::Error::from_raw_os_error(*.0))]
    Io(i32),
}

/// What a buffer of answers said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More messages follow in the next read.
    More,
    /// The dump is complete.
    Done,
}

fn proto_number(proto: Protocol) -> u8 {
    match proto {
        Protocol::Tcp => libc::IPPROTO_TCP as u8,
        Protocol::Udp => libc::IPPROTO_UDP as u8,
    }
}

/// The states a listing wants for `proto`: listening TCP sockets, unconnected UDP ones.
pub fn listening_states(proto: Protocol) -> u32 {
    match proto {
        Protocol::Tcp => 1 << TCP_LISTEN,
        Protocol::Udp => 1 << UDP_UNCONNECTED,
    }
}

/// A dump request for the sockets of `proto` over IPv4 (`v6 = false`) or IPv6 whose state
/// is in the bit set `states` (bit N = state N).
pub fn request(v6: bool, proto: Protocol, states: u32, seq: u32) -> [u8; REQUEST_LEN] {
    let mut b = [0u8; REQUEST_LEN];
    b[0..4].copy_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // pid 0: the kernel. The socket id stays zero: no filter on addresses.
    b[16] = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
    b[17] = proto_number(proto);
    b[20..24].copy_from_slice(&states.to_ne_bytes());
    b
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses one buffer of answers to a request for `proto`, appending sockets to `out`.
///
/// Messages of other types are skipped; a socket of an unknown family is skipped too.
pub fn parse(buf: &[u8], proto: Protocol, out: &mut Vec<DiagSocket>) -> Result<Step, DiagError> {
    let mut at = 0;
    while at + NLMSG_HDR <= buf.len() {
        let len = u32_at(buf, at).unwrap_or(0) as usize;
        let kind = u16_at(buf, at + 4).unwrap_or(0);
        if len < NLMSG_HDR || at + len > buf.len() {
            return Err(DiagError::Malformed("a message runs past the buffer"));
        }
        let body = &buf[at + NLMSG_HDR..at + len];
        match kind {
            NLMSG_DONE => return Ok(Step::Done),
            NLMSG_ERROR => {
                let errno = u32_at(body, 0).map_or(0, |e| e as i32);
                // An acknowledgement (error 0) is not expected for a dump; treat it as done.
                return if errno == 0 {
                    Ok(Step::Done)
                } else {
                    Err(DiagError::Kernel(-errno))
                };
            }
            SOCK_DIAG_BY_FAMILY => {
                if let Some(s) = socket(body, proto)? {
                    out.push(s);
                }
            }
            _ => {}
        }
        at += align4(len);
    }
    Ok(Step::More)
}

fn socket(m: &[u8], proto: Protocol) -> Result<Option<DiagSocket>, DiagError> {
    if m.len() < DIAG_MSG {
        return Err(DiagError::Malformed(
            "an inet_diag_msg shorter than 72 bytes",
        ));
    }
    let family = i32::from(m[0]);
    let port = u16::from_be_bytes([m[4], m[5]]);
    let ip = if family == libc::AF_INET {
        IpAddr::V4(Ipv4Addr::new(m[8], m[9], m[10], m[11]))
    } else if family == libc::AF_INET6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&m[8..24]);
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        return Ok(None);
    };
    let mut v6only = None;
    let mut at = DIAG_MSG;
    while at + 4 <= m.len() {
        let len = usize::from(u16_at(m, at).unwrap_or(0));
        let kind = u16_at(m, at + 2).unwrap_or(0) & 0x3fff;
        if len < 4 || at + len > m.len() {
            break;
        }
        if kind == INET_DIAG_SKV6ONLY && len > 4 {
            v6only = Some(m[at + 4] != 0);
        }
        at += align4(len);
    }
    if family == libc::AF_INET6 && v6only.is_none() {
        v6only = Some(false);
    }
    Ok(Some(DiagSocket {
        proto,
        local: SocketAddr::new(ip, port),
        state: m[1],
        uid: u32_at(m, 64).unwrap_or(0),
        inode: u64::from(u32_at(m, 68).unwrap_or(0)),
        v6only: if family == libc::AF_INET {
            None
        } else {
            v6only
        },
        ifindex: u32_at(m, 40).unwrap_or(0),
    }))
}

/// Dumps the listening sockets of `proto` (IPv4 and IPv6) of the calling thread's network
/// namespace: listening TCP sockets, or bound unconnected UDP sockets.
pub fn dump(proto: Protocol) -> Result<Vec<DiagSocket>, DiagError> {
    let mut out = Vec::new();
    let sock = NetlinkSocket::open()?;
    for (seq, v6) in [(1, false), (2, true)] {
        sock.send(&request(v6, proto, listening_states(proto), seq))?;
        // 32 KiB holds a few hundred sockets; the kernel fills each read up to it.
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = sock.recv(&mut buf)?;
            if n == 0 {
                return Err(DiagError::Malformed("the kernel closed the dump early"));
            }
            if parse(&buf[..n], proto, &mut out)? == Step::Done {
                break;
            }
        }
    }
    Ok(out)
}

struct NetlinkSocket(std::os::fd::OwnedFd);

impl NetlinkSocket {
    fn open() -> Result<NetlinkSocket, DiagError> {
        use std::os::fd::FromRawFd;
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(DiagError::Io(errno()));
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(NetlinkSocket(unsafe {
            std::os::fd::OwnedFd::from_raw_fd(fd)
        }))
    }

    fn send(&self, msg: &[u8]) -> Result<(), DiagError> {
        use std::os::fd::AsRawFd;
        // SAFETY: a zeroed sockaddr_nl is the kernel's address (pid 0, no groups).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        loop {
            // SAFETY: msg and addr are valid for the lengths given.
            let n = unsafe {
                libc::sendto(
                    self.0.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&addr as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = errno();
            if e != libc::EINTR {
                return Err(DiagError::Io(e));
            }
        }
    }

    fn recv(&self, buf: &mut [u8]) -> Result<usize, DiagError> {
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = errno();
            if e != libc::EINTR {
                return Err(DiagError::Io(e));
            }
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `SOCK_DIAG_BY_FAMILY` message as the kernel writes it.
    fn msg(
        family: i32,
        state: u8,
        addr: &[u8],
        port: u16,
        uid: u32,
        inode: u32,
        attrs: &[(u16, &[u8])],
    ) -> Vec<u8> {
        let mut body = vec![0u8; DIAG_MSG];
        body[0] = family as u8;
        body[1] = state;
        body[4..6].copy_from_slice(&port.to_be_bytes());
        body[8..8 + addr.len()].copy_from_slice(addr);
        body[64..68].copy_from_slice(&uid.to_ne_bytes());
        body[68..72].copy_from_slice(&inode.to_ne_bytes());
        for (kind, value) in attrs {
            let len = 4 + value.len();
            body.extend_from_slice(&(len as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            body.resize(align4(body.len()), 0);
        }
        header(SOCK_DIAG_BY_FAMILY, &body)
    }

    fn header(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(body);
        m.resize(align4(m.len()), 0);
        m
    }

    #[test]
    fn request_layout() {
        let r = request(true, Protocol::Udp, listening_states(Protocol::Udp), 7);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!(u16_at(&r, 4), Some(20));
        assert_eq!(u16_at(&r, 6), Some(0x301));
        assert_eq!(u32_at(&r, 8), Some(7));
        assert_eq!((r[16], r[17]), (libc::AF_INET6 as u8, 17));
        assert_eq!(u32_at(&r, 20), Some(1 << 7));
        assert!(r[24..].iter().all(|&b| b == 0));
    }

    #[test]
    fn sockets_and_done() {
        let mut buf = msg(libc::AF_INET, 10, &[127, 0, 0, 1], 10400, 1000, 4242, &[]);
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        buf.extend(msg(
            libc::AF_INET6,
            10,
            &v6,
            22,
            0,
            17,
            &[(8, &[0]), (INET_DIAG_SKV6ONLY, &[1])],
        ));
        buf.extend(msg(libc::AF_INET6, 10, &[0; 16], 80, 0, 18, &[]));
        let mut out = Vec::new();
        assert_eq!(parse(&buf, Protocol::Tcp, &mut out), Ok(Step::More));
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].local, "127.0.0.1:10400".parse().unwrap());
        assert_eq!(
            (out[0].uid, out[0].inode, out[0].v6only),
            (1000, 4242, None)
        );
        assert_eq!(out[1].local, "[::1]:22".parse().unwrap());
        assert_eq!(out[1].v6only, Some(true));
        assert_eq!(out[2].v6only, Some(false), "no attribute: dual-stack");
        let done = header(NLMSG_DONE, &[0; 4]);
        assert_eq!(parse(&done, Protocol::Tcp, &mut out), Ok(Step::Done));
    }

    #[test]
    fn kernel_error() {
        let err = header(NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes());
        assert_eq!(
            parse(&err, Protocol::Udp, &mut Vec::new()),
            Err(DiagError::Kernel(libc::ENOENT))
        );
    }

    #[test]
    fn hostile_buffers_never_panic() {
        let good = msg(libc::AF_INET, 10, &[10, 0, 0, 1], 1, 0, 1, &[(11, &[1])]);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut], Protocol::Tcp, &mut Vec::new());
        }
        let mut seed = 0x1234_5678u32;
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = seed as usize % b.len();
                b[i] = (seed >> 8) as u8;
            }
            let _ = parse(&b, Protocol::Tcp, &mut Vec::new());
        }
        // A short socket message is an error, not a panic.
        let short = header(SOCK_DIAG_BY_FAMILY, &[2; 10]);
        assert!(parse(&short, Protocol::Tcp, &mut Vec::new()).is_err());
    }

    #[test]
    fn dump_finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = dump(Protocol::Tcp).unwrap();
        assert!(found
            .iter()
            .any(|s| s.local.port() == port && s.state == TCP_LISTEN && s.inode != 0));
        let u = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let uport = u.local_addr().unwrap().port();
        match dump(Protocol::Udp) {
            Ok(found) => assert!(found.iter().any(|s| s.local.port() == uport)),
            // Without udp_diag the caller falls back to /proc/net/udp6; say so loudly.
            Err(e) => panic!("udp sock_diag: {e}"),
        }
    }
}
