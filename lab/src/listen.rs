//! Real listening sockets on a target's open ports, served by one thread per host.
//!
//! The thread enters the target's namespace, binds one dual-stack socket per port
//! (`[::]`, `IPV6_V6ONLY=0`, so IPv4 reaches it as mapped addresses) and then accepts and
//! closes connections until told to stop, so a connect scan never fills a backlog.

use std::io;
use std::mem;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::{netns, LabError};

/// How long the accept loop sleeps in `poll` before it looks at the stop flag (ms).
const POLL_MS: libc::c_int = 50;

/// A running set of listeners in one namespace.
#[derive(Debug)]
pub(crate) struct Listeners {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listeners {
    /// Starts listening on TCP `ports` inside `ns`, answering every datagram on the UDP
    /// ports `udp_answer` and binding (never answering) `udp_silent`; returns once every
    /// socket is bound.
    pub(crate) fn start(
        ns: &str,
        ports: Vec<u16>,
        udp_answer: Vec<u16>,
        udp_silent: Vec<u16>,
    ) -> Result<Listeners, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Result<(), LabError>>();
        let name = ns.to_owned();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("lab-listen-{ns}"))
            .spawn(move || {
                let udp = UdpPorts {
                    answer: &udp_answer,
                    silent: &udp_silent,
                };
                serve(&name, &ports, udp, &flag, &tx)
            })
            .map_err(|source| LabError::Netns {
                namespace: ns.to_owned(),
                source,
            })?;
        let mut me = Listeners {
            stop,
            thread: Some(thread),
        };
        match rx.recv() {
            Ok(Ok(())) => Ok(me),
            Ok(Err(e)) => {
                me.stop();
                Err(e)
            }
            Err(_) => {
                me.stop();
                Err(LabError::Thread {
                    namespace: ns.to_owned(),
                })
            }
        }
    }

    /// Stops the accept loop and joins the thread (closing every socket).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop();
    }
}

/// UDP ports a host serves.
#[derive(Clone, Copy)]
struct UdpPorts<'a> {
    /// Every datagram gets an answer.
    answer: &'a [u16],
    /// Bound, so the kernel sends no port unreachable, but never answered.
    silent: &'a [u16],
}

/// What one host's thread holds open.
type Bound = (Vec<TcpListener>, Vec<UdpSocket>, Vec<UdpSocket>);

fn bind_all(ns: &str, ports: &[u16], udp: UdpPorts<'_>) -> Result<Bound, LabError> {
    netns::enter(ns)?;
    let err = |port: u16| {
        move |source| LabError::Listen {
            namespace: ns.to_owned(),
            port,
            source,
        }
    };
    let tcp = ports
        .iter()
        .map(|&port| bind_dual(port).map_err(err(port)))
        .collect::<Result<Vec<_>, _>>()?;
    let bind_udp = |port: u16| {
        // `[::]` takes IPv4 too (net.ipv6.bindv6only is 0 in a fresh namespace).
        let s = UdpSocket::bind(("::", port)).map_err(err(port))?;
        s.set_nonblocking(true).map_err(err(port))?;
        Ok::<_, LabError>(s)
    };
    let answer = udp
        .answer
        .iter()
        .map(|&p| bind_udp(p))
        .collect::<Result<Vec<_>, _>>()?;
    let silent = udp
        .silent
        .iter()
        .map(|&p| bind_udp(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((tcp, answer, silent))
}

fn serve(
    ns: &str,
    ports: &[u16],
    udp: UdpPorts<'_>,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), LabError>>,
) {
    let (listeners, answering, _silent) = match bind_all(ns, ports, udp) {
        Ok(b) => {
            let _ = ready.send(Ok(()));
            b
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|l| libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .chain(answering.iter().map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }))
        .collect();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let Ok(n) = libc::nfds_t::try_from(fds.len()) else {
            return;
        };
        // SAFETY: `fds` is a valid array of `n` pollfd structures for the whole call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), n, POLL_MS) };
        if rc <= 0 {
            continue;
        }
        for (pfd, sock) in fds.iter_mut().skip(listeners.len()).zip(&answering) {
            if pfd.revents != 0 {
                pfd.revents = 0;
                // Answer every datagram queued with a short reply of our own.
                while let Ok((_, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(b"monban-lab udp\n", from);
                }
            }
        }
        for (pfd, listener) in fds.iter_mut().zip(&listeners) {
            if pfd.revents != 0 {
                pfd.revents = 0;
                // Accept everything queued; dropping the stream closes it.
                while let Ok((stream, _)) = listener.accept() {
                    drop(stream);
                }
            }
        }
    }
}

/// One non-blocking listening socket on `[::]:port` that also takes IPv4.
fn bind_dual(port: u16) -> io::Result<TcpListener> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    setsockopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
    setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    // SAFETY: an all-zero sockaddr_in6 is valid (`::`, port 0); we then set family and port.
    let mut sa: libc::sockaddr_in6 = unsafe { mem::zeroed() };
    sa.sin6_family = libc::sa_family_t::try_from(libc::AF_INET6).unwrap_or(10);
    sa.sin6_port = port.to_be();
    let len = libc::socklen_t::try_from(mem::size_of::<libc::sockaddr_in6>()).unwrap_or(28);
    // SAFETY: `sa` is a valid sockaddr_in6 of `len` bytes.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in6).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen on a bound socket we own.
    if unsafe { libc::listen(fd.as_raw_fd(), 4096) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

fn setsockopt_int(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(mem::size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: `value` is a live c_int of `len` bytes for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
