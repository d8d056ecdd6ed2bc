//! The connect-scan driver: many non-blocking `connect()`s under `epoll`.
//!
//! The number of sockets in flight is bounded by the engine's parallelism and by the
//! open-file limit (raised to its hard maximum first). Running out of descriptors
//! (EMFILE/ENFILE) gives the probe back to the engine and lowers the parallelism:
//! back-pressure, never a crash. With `IP_RECVERR` the exact ICMP error that ended an
//! attempt is read from the socket's error queue, so an administratively prohibited
//! port reads `admin-prohibited`, not just "host unreachable". Sockets are closed with
//! linger 0 (RST), so finished connections leave no TIME_WAIT behind.

use crate::{deliver, DriveOptions, Handler, NetError};
use monban_engine::{ConnectOutcome, Reason, Scan, Transmit};
use socket2::{Domain, SockAddr, Socket, Type};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Descriptors kept free for outputs and the rest of the process.
const RESERVED_FDS: u64 = 64;
/// Longest sleep between looks at the stop flag.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Extra time an attempt is kept open past the engine's timeout (a late answer still counts).
const GRACE: Duration = Duration::from_millis(50);

struct Attempt {
    sock: Socket,
    dst: IpAddr,
    port: u16,
    attempt: u8,
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: pointer to a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: pointer to a live rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    lim.rlim_cur
}

fn epoll() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn epoll_add(ep: RawFd, fd: RawFd) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32,
        u64: fd as u64,
    };
    // SAFETY: pointer to a live epoll_event.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The ICMP type/code queued on the socket's error queue, mapped to a reason.
fn queued_icmp_reason(fd: RawFd) -> Option<Reason> {
    let mut data = [0u8; 64];
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: zeroed msghdr is valid; the buffers outlive the call.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control);
    // SAFETY: msg points at live buffers of the stated sizes.
    let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if r < 0 {
        return None;
    }
    // SAFETY: iterating control messages the kernel wrote into `control`, within msg_controllen.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and inside the control buffer.
        let (level, ty) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
        let is_v4 = level == libc::SOL_IP && ty == libc::IP_RECVERR;
        let is_v6 = level == libc::SOL_IPV6 && ty == libc::IPV6_RECVERR;
        if is_v4 || is_v6 {
            // SAFETY: an IP(V6)_RECVERR control message carries a sock_extended_err.
            let ee = unsafe {
                std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>())
            };
            return Some(icmp_reason(ee.ee_origin, ee.ee_type, ee.ee_code));
        }
        // SAFETY: advancing within the same control buffer.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    None
}

fn icmp_reason(origin: u8, ty: u8, code: u8) -> Reason {
    const ORIGIN_ICMP: u8 = 2;
    const ORIGIN_ICMP6: u8 = 3;
    match (origin, ty, code) {
        (ORIGIN_ICMP, 3, 0) => Reason::NetUnreach,
        (ORIGIN_ICMP, 3, 1) => Reason::HostUnreach,
        (ORIGIN_ICMP, 3, 2) => Reason::ProtoUnreach,
        (ORIGIN_ICMP, 3, 3) => Reason::PortUnreach,
        (ORIGIN_ICMP, 3, 9) => Reason::NetProhibited,
        (ORIGIN_ICMP, 3, 10) => Reason::HostProhibited,
        (ORIGIN_ICMP, 3, 13) => Reason::AdminProhibited,
        (ORIGIN_ICMP6, 1, 0) => Reason::NetUnreach,
        (ORIGIN_ICMP6, 1, 1) | (ORIGIN_ICMP6, 1, 5) | (ORIGIN_ICMP6, 1, 6) => {
            Reason::AdminProhibited
        }
        (ORIGIN_ICMP6, 1, 3) => Reason::HostUnreach,
        (ORIGIN_ICMP6, 1, 4) => Reason::PortUnreach,
        _ => Reason::HostUnreach,
    }
}

fn outcome(fd: RawFd, err: Option<io::Error>) -> ConnectOutcome {
    let Some(err) = err else {
        return ConnectOutcome::Connected;
    };
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => ConnectOutcome::Refused,
        Some(libc::EHOSTUNREACH)
        | Some(libc::ENETUNREACH)
        | Some(libc::EACCES)
        | Some(libc::EPERM) => {
            let fallback = match err.raw_os_error() {
                Some(libc::ENETUNREACH) => Reason::NetUnreach,
                Some(libc::EHOSTUNREACH) => Reason::HostUnreach,
                _ => Reason::AdminProhibited,
            };
            ConnectOutcome::Unreachable(queued_icmp_reason(fd).unwrap_or(fallback))
        }
        _ => ConnectOutcome::NoAnswer,
    }
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// Runs a connect scan to the end (or until `opts.stop` is set).
pub fn run(
    scan: &mut Scan,
    opts: &DriveOptions,
    handler: &mut dyn Handler,
) -> Result<(), NetError> {
    let nofile = raise_nofile_limit();
    let fd_budget = nofile.saturating_sub(RESERVED_FDS).max(8) as usize;
    scan.limit_in_flight(fd_budget);
    let ep = epoll().map_err(NetError::io("epoll_create"))?;
    let mut pending: HashMap<RawFd, Attempt> = HashMap::new();
    let mut deadlines: BinaryHeap<Reverse<(Instant, RawFd, u64)>> = BinaryHeap::new();
    let mut generation: HashMap<RawFd, u64> = HashMap::new();
    let mut gen_counter = 0u64;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = [0u8; 0];
    let mut last_progress = Instant::now();
    loop {
        let now = Instant::now();
        if opts.stop.load(Ordering::Relaxed) {
            scan.stop(now);
            pending.clear();
        }
        // Abandon attempts past their deadline (the engine has timed them out).
        while let Some(Reverse((t, fd, g))) = deadlines.peek().copied() {
            if t > now {
                break;
            }
            deadlines.pop();
            if generation.get(&fd) == Some(&g) {
                pending.remove(&fd);
                generation.remove(&fd);
            }
        }
        // Start new attempts.
        while pending.len() < fd_budget {
            let Some(t) = scan.poll_transmit(now, &mut buf) else {
                break;
            };
            match start(&t, opts) {
                Ok(Started::Pending(a)) => {
                    let fd = a.sock.as_raw_fd();
                    if let Err(e) = epoll_add(ep.as_raw_fd(), fd) {
                        return Err(NetError::Io {
                            what: "epoll_ctl",
                            source: e,
                        });
                    }
                    gen_counter += 1;
                    generation.insert(fd, gen_counter);
                    deadlines.push(Reverse((now + t.timeout + GRACE, fd, gen_counter)));
                    pending.insert(fd, a);
                }
                Ok(Started::Done(o)) => {
                    scan.on_connect_result(now, t.dst, t.port, t.attempt, o);
                }
                Err(e) if is_fd_exhaustion(&e) => {
                    scan.unsend(&t);
                    scan.limit_in_flight(pending.len().max(1));
                    break;
                }
                Err(e) => {
                    return Err(NetError::Io {
                        what: "connect",
                        source: e,
                    })
                }
            }
        }
        if deliver(scan, handler, now, &mut last_progress) {
            return Ok(());
        }
        let mut wait = match scan.next_timeout() {
            Some(t) => t.saturating_duration_since(Instant::now()),
            None => MAX_SLEEP,
        };
        if let Some(Reverse((t, _, _))) = deadlines.peek() {
            wait = wait.min(t.saturating_duration_since(Instant::now()));
        }
        let wait_ms = if wait.is_zero() {
            0
        } else {
            wait.min(MAX_SLEEP).as_millis().max(1) as i32
        };
        // SAFETY: events is a live buffer of the stated length.
        let n = unsafe {
            libc::epoll_wait(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                wait_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(NetError::Io {
                    what: "epoll_wait",
                    source: e,
                });
            }
            continue;
        }
        let now = Instant::now();
        for ev in events.iter().take(n as usize) {
            let fd = ev.u64 as RawFd;
            let Some(a) = pending.remove(&fd) else {
                continue;
            };
            generation.remove(&fd);
            let err = match a.sock.take_error() {
                Ok(e) => e,
                Err(e) => Some(e),
            };
            let o = outcome(fd, err);
            scan.on_connect_result(now, a.dst, a.port, a.attempt, o);
            // Dropping the socket closes it with RST (linger 0).
        }
    }
}

enum Started {
    Pending(Attempt),
    Done(ConnectOutcome),
}

fn start(t: &Transmit, opts: &DriveOptions) -> io::Result<Started> {
    let domain = if t.dst.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), None)?;
    sock.set_linger(Some(Duration::ZERO))?;
    let fd = sock.as_raw_fd();
    let _ = if t.dst.is_ipv4() {
        crate::sys::setsockopt_int(fd, libc::SOL_IP, libc::IP_RECVERR, 1)
    } else {
        crate::sys::setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_RECVERR, 1)
    };
    if let Some(ifname) = &opts.interface {
        sock.bind_device(Some(ifname.as_bytes()))?;
    }
    let addr: SockAddr = SocketAddr::new(t.dst, t.port).into();
    match sock.connect(&addr) {
        Ok(()) => Ok(Started::Done(ConnectOutcome::Connected)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(Started::Pending(Attempt {
            sock,
            dst: t.dst,
            port: t.port,
            attempt: t.attempt,
        })),
        Err(e) if is_fd_exhaustion(&e) => Err(e),
        Err(e) => Ok(Started::Done(outcome(fd, Some(e)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_codes_map_to_nmap_reasons() {
        assert_eq!(icmp_reason(2, 3, 13), Reason::AdminProhibited);
        assert_eq!(icmp_reason(2, 3, 1), Reason::HostUnreach);
        assert_eq!(icmp_reason(2, 3, 3), Reason::PortUnreach);
        assert_eq!(icmp_reason(3, 1, 1), Reason::AdminProhibited);
        assert_eq!(icmp_reason(3, 1, 4), Reason::PortUnreach);
        assert_eq!(icmp_reason(3, 1, 0), Reason::NetUnreach);
    }

    #[test]
    fn nofile_limit_is_at_least_the_default() {
        assert!(raise_nofile_limit() >= 256);
    }
}
