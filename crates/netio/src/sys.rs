//! Thin, checked wrappers over the Linux calls the drivers need.
//!
//! Every `unsafe` block here passes pointers to memory owned by the caller for the
//! duration of the call, with lengths that match the allocation.

use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A syscall's return value, or the error `errno` names when it is negative.
pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A raw socket of `family` that sends whole IP packets (header included).
pub fn raw_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        )
    })?;
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets a socket option to the value `v` (an integer, a struct, a filter program).
pub fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: passes a pointer to a live T and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// Sets an integer socket option.
pub fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    setsockopt(fd, level, name, &v)
}

/// Makes a socket's buffer as large as the kernel allows us (forcing it when root).
pub fn grow_buffer(fd: RawFd, recv: bool, bytes: libc::c_int) {
    let (force, plain) = if recv {
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)
    } else {
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)
    };
    if setsockopt_int(fd, libc::SOL_SOCKET, force, bytes).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, bytes);
    }
}

/// Index of a network interface by name.
pub fn if_index(name: &str) -> Option<libc::c_int> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx as libc::c_int)
}

/// Packets received and dropped by a packet socket since the last call.
pub fn packet_drops(fd: RawFd) -> io::Result<(u32, u32)> {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: pointer and size of a live tpacket_stats.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    })?;
    Ok((st.tp_packets, st.tp_drops))
}

/// Socket address storage for any IP address.
pub fn sockaddr(addr: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let sa: socket2::SockAddr = SocketAddr::new(addr, 0).into();
    // SAFETY: SockAddr's storage is a sockaddr_storage of at least `len` valid bytes.
    let storage = unsafe { *sa.as_ptr().cast::<libc::sockaddr_storage>() };
    (storage, sa.len())
}

/// Waits until `fd` has input or an event, at most `timeout` (nanosecond precision): the
/// poll events (`POLLIN`, `POLLERR`, ...), or `None` on timeout or a signal.
pub fn poll_in(fd: RawFd, timeout: Duration) -> io::Result<Option<libc::c_short>> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: one live pollfd, a live timespec, no signal mask.
    let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(None);
        }
        return Err(e);
    }
    Ok((r > 0).then_some(pfd.revents))
}

/// Waits until `fd` is readable or `timeout` passes (nanosecond precision).
pub fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    Ok(poll_in(fd, timeout)?.is_some())
}

/// A `sendmmsg`/`recvmmsg` header for the one buffer `iov`, to or from `name` (null: any).
fn one_buffer_message(iov: *mut libc::iovec, name: *mut libc::c_void) -> libc::mmsghdr {
    // SAFETY: an all-zero msghdr is a valid value; the caller keeps the pointers valid.
    let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
    hdr.msg_name = name;
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
    libc::mmsghdr {
        msg_hdr: hdr,
        msg_len: 0,
    }
}

/// Message headers for `sendmmsg`, built once for up to `n` packets: each send fills the
/// addresses and `iovec`s in place, so the send path allocates nothing. The headers point
/// into the boxed arrays, whose heap memory never moves.
pub struct SendBatch {
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    msgs: Box<[libc::mmsghdr]>,
}

impl SendBatch {
    /// Headers for batches of at most `n` packets.
    pub fn new(n: usize) -> SendBatch {
        // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid values.
        let mut addrs: Box<[libc::sockaddr_storage]> =
            (0..n).map(|_| unsafe { mem::zeroed() }).collect();
        let mut iovs: Box<[libc::iovec]> = (0..n)
            .map(|_| libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            })
            .collect();
        let msgs: Box<[libc::mmsghdr]> = addrs
            .iter_mut()
            .zip(iovs.iter_mut())
            // The pointers stay valid: they point into boxes kept beside `msgs`.
            .map(|(a, iov)| one_buffer_message(iov, (a as *mut libc::sockaddr_storage).cast()))
            .collect();
        SendBatch { addrs, iovs, msgs }
    }

    /// Sends `packets` (at most the batch size; more are left for the next call) on `fd`,
    /// each to its own address. Returns how many the kernel took (0 on
    /// EAGAIN/ENOBUFS/EINTR: back-pressure).
    pub fn send<'a>(
        &mut self,
        fd: RawFd,
        packets: impl Iterator<Item = (&'a [u8], IpAddr)>,
    ) -> io::Result<usize> {
        let mut n = 0;
        for ((pkt, dst), ((addr, iov), msg)) in packets.zip(
            self.addrs
                .iter_mut()
                .zip(self.iovs.iter_mut())
                .zip(self.msgs.iter_mut()),
        ) {
            let (storage, len) = sockaddr(dst);
            *addr = storage;
            msg.msg_hdr.msg_namelen = len;
            iov.iov_base = pkt.as_ptr() as *mut libc::c_void;
            iov.iov_len = pkt.len();
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: the first `n` headers point at filled addresses and at `iovec`s over
        // packets borrowed for the duration of this call.
        let r = unsafe { libc::sendmmsg(fd, self.msgs.as_mut_ptr(), n as libc::c_uint, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        Ok(r as usize)
    }
}

/// Receive buffers for `recvmmsg`, with their `iovec`s and message headers built once:
/// the headers point into the boxed buffers, whose heap memory never moves, so a receive
/// on the hot path allocates nothing.
pub struct RecvBatch {
    bufs: Box<[[u8; SNAP]]>,
    // Kept alive for `msgs`, whose headers point into it.
    _iovs: Box<[libc::iovec]>,
    msgs: Box<[libc::mmsghdr]>,
}

/// Bytes kept of each received packet (the BPF filter truncates to this as well): a full
/// Ethernet frame, so an ICMP error quoting our largest UDP probe (576 bytes for IPv4,
/// up to 1280 for IPv6) arrives whole.
pub const SNAP: usize = 2048;

impl RecvBatch {
    /// Buffers for `n` packets.
    pub fn new(n: usize) -> RecvBatch {
        let mut bufs: Box<[[u8; SNAP]]> = vec![[0u8; SNAP]; n].into_boxed_slice();
        let mut iovs: Box<[libc::iovec]> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: SNAP,
            })
            .collect();
        let msgs: Box<[libc::mmsghdr]> = iovs
            .iter_mut()
            .map(|iov| one_buffer_message(iov, std::ptr::null_mut()))
            .collect();
        RecvBatch {
            bufs,
            _iovs: iovs,
            msgs,
        }
    }

    /// Receives up to the batch size without blocking; returns how many arrived.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: `msgs` holds `len` headers whose iovecs point into `bufs`; both boxes
        // live as long as `self` and their heap memory never moves.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        Ok(r as usize)
    }

    /// The `i`-th packet of the last receive (`i` below what [`RecvBatch::recv`] returned).
    pub fn packet(&self, i: usize) -> &[u8] {
        match (self.bufs.get(i), self.msgs.get(i)) {
            (Some(b), Some(m)) => &b[..(m.msg_len as usize).min(SNAP)],
            _ => &[],
        }
    }
}
