//! Service and version detection over UDP (`-sU -sV`): the driver of the engine's
//! sans-IO [`UdpVersionSession`], whose module docs explain the policy (every probe at
//! once, a resend half-way through its wait, the first datagram decides, earliest hard
//! match wins, port unreachable means closed, budgets).
//!
//! This file opens one non-blocking UDP socket per probe, `connect()`ed to the port: the
//! kernel then delivers only that peer's datagrams to it (a forged reply from elsewhere
//! never reaches us), and an ICMP port unreachable surfaces as `ECONNREFUSED` on it. It
//! `poll`s them until the session's next deadline, reads one datagram per ready socket
//! and maps errno to events. Sockets are bounded like the TCP side: at most
//! [`VersionOptions::max_parallel`] at once and never more than the open-file limit
//! allows; EMFILE lowers the session's parallelism.

use super::MAX_SLEEP;
use super::{connection_limit, is_fd_exhaustion, socket_error, ServiceResult, VersionOptions};
use crate::NetError;
use monban_engine::version::udp::{UdpAction, UdpVersionSession};
use monban_engine::version::ConnId;
use monban_probes::ProbeDb;
use socket2::{Domain, Socket, Type};
use std::collections::BTreeMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The largest UDP payload (IPv4; IPv6 jumbograms aside).
const MAX_DATAGRAM: usize = 65_535;

/// Identifies the services on `targets` (UDP ports that are open or open|filtered) with
/// `db` (usually [`ProbeDb::builtin`]).
///
/// Returns one result per target, in the order of `targets`, with
/// [`ServiceResult::proto`] UDP. Setting `stop` ends the run early; unfinished ports then
/// carry [`PortError`](super::PortError)`::Stopped`. Errors only when the machinery fails
/// (no socket can be created at all, a bad interface).
pub fn detect_udp(
    db: &ProbeDb,
    targets: &[(IpAddr, u16)],
    opts: &VersionOptions,
    stop: &AtomicBool,
) -> Result<Vec<ServiceResult>, NetError> {
    let mut s = UdpVersionSession::new(db, targets, opts, connection_limit(opts));
    let mut socks: BTreeMap<ConnId, Socket> = BTreeMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        if stop.load(Ordering::Relaxed) {
            s.stop(Instant::now());
            apply(&mut s, &mut socks, opts, Instant::now())?;
            break;
        }
        s.handle_timeout(Instant::now());
        apply(&mut s, &mut socks, opts, Instant::now())?;
        if s.is_done() {
            break;
        }
        // Wait for replies (bounded: deadlines, resends, the stop flag).
        let now = Instant::now();
        let wake = s.next_timeout().map_or(MAX_SLEEP, |t| {
            t.saturating_duration_since(now).min(MAX_SLEEP)
        });
        let ids: Vec<ConnId> = socks.keys().copied().collect();
        let mut raw: Vec<libc::pollfd> = socks
            .values()
            .map(|sock| libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Round up so that a deadline is never polled for in a busy loop.
        let ms = libc::c_int::try_from(wake.as_micros().div_ceil(1000)).unwrap_or(50);
        // SAFETY: `raw` is a valid, initialised array of `raw.len()` pollfd structs.
        let n = unsafe { libc::poll(raw.as_mut_ptr(), raw.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(NetError::Io {
                    what: "poll",
                    source: e,
                });
            }
        }
        let now = Instant::now();
        for (id, _) in ids.iter().zip(&raw).filter(|(_, fd)| fd.revents != 0) {
            let Some(sock) = socks.get(id) else {
                continue; // closed by an earlier event of this round
            };
            read(&mut s, sock, *id, &mut buf, now);
            apply(&mut s, &mut socks, opts, now)?;
        }
    }
    Ok(s.into_results())
}

/// Does everything the session asks for, until it asks nothing more.
fn apply<'db>(
    s: &mut UdpVersionSession<'db>,
    socks: &mut BTreeMap<ConnId, Socket>,
    opts: &VersionOptions,
    now: Instant,
) -> Result<(), NetError> {
    while let Some(action) = s.poll_action() {
        match action {
            UdpAction::Open { id, addr } => match open_socket(addr, opts) {
                Ok(sock) => {
                    socks.insert(id, sock);
                }
                // Back-pressure: the session sends this probe once a socket is freed.
                Err(e) if is_fd_exhaustion(&e) && !socks.is_empty() => {
                    s.on_no_descriptors(now, id);
                }
                Err(e) => return Err(socket_error(opts, e)),
            },
            UdpAction::Send { id, data } => {
                let Some(sock) = socks.get(&id) else {
                    continue;
                };
                // A failed send (no route, buffer full) reads as silence; the resend may work.
                if sock.send(data).is_err() {
                    s.on_send_failed(now, id);
                }
            }
            UdpAction::Close { id } => {
                socks.remove(&id);
            }
        }
    }
    Ok(())
}

/// Reads one datagram from `sock` and tells the session.
fn read(s: &mut UdpVersionSession<'_>, sock: &Socket, id: ConnId, buf: &mut [u8], now: Instant) {
    // SAFETY: u8 and MaybeUninit<u8> have the same layout; recv only writes to it.
    let uninit = unsafe {
        std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<u8>>(), buf.len())
    };
    match sock.recv(uninit) {
        Ok(n) => s.on_datagram(now, id, buf.get(..n).unwrap_or_default()),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => s.on_refused(now, id),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) => {}
        // Host or network unreachable, prohibited: no service answers.
        Err(_) => s.on_error(now, id),
    }
}

/// A non-blocking UDP socket connected to `to`.
fn open_socket(to: SocketAddr, opts: &VersionOptions) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(to),
        Type::DGRAM.nonblocking().cloexec(),
        None,
    )?;
    if let Some(ifname) = &opts.interface {
        sock.bind_device(Some(ifname.as_bytes()))?;
    }
    sock.connect(&to.into())?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::super::PortError;
    use super::*;
    use monban_engine::types::Protocol;
    use monban_probes::Probe;
    use std::net::{Ipv4Addr, UdpSocket};
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// The only time bound here: a hang catcher, far above the expected 3 s.
    const HANG: Duration = Duration::from_secs(20);

    /// A DNS answer to a version.bind TXT CH `query`, naming `text`.
    fn version_bind_answer(query: &[u8], text: &str) -> Vec<u8> {
        let mut a = query.get(..2).unwrap_or_default().to_vec();
        a.extend_from_slice(b"\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00");
        a.extend_from_slice(query.get(12..).unwrap_or_default());
        a.extend_from_slice(b"\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00");
        a.extend_from_slice(&u16::try_from(text.len() + 1).unwrap().to_be_bytes());
        a.push(u8::try_from(text.len()).unwrap());
        a.extend_from_slice(text.as_bytes());
        a
    }

    /// A UDP server on loopback that answers each datagram with `answer(datagram)` (any
    /// number of datagrams, none for an empty list) until `stop`.
    fn server(
        answer: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
        stop: Arc<AtomicBool>,
    ) -> (u16, JoinHandle<()>) {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    for d in answer(&buf[..n]) {
                        let _ = sock.send_to(&d, from);
                    }
                }
            }
        });
        (port, h)
    }

    fn opts() -> VersionOptions {
        VersionOptions {
            port_budget: Duration::from_secs(10),
            ..VersionOptions::default()
        }
    }

    fn by_port(results: &[ServiceResult], port: u16) -> &ServiceResult {
        results.iter().find(|r| r.port == port).unwrap()
    }

    #[test]
    fn a_dns_server_is_named_a_silent_port_is_not_and_a_closed_one_refuses() {
        let db = ProbeDb::builtin().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        // Answers only the DNS probe; the SNMP and NTP probes it also gets go unanswered.
        let (dns, dns_h) = server(
            |q| {
                if q.starts_with(b"mb\x00\x00") {
                    vec![version_bind_answer(q, "dnsmasq-2.90")]
                } else {
                    Vec::new()
                }
            },
            Arc::clone(&done),
        );
        let (silent, silent_h) = server(|_| Vec::new(), Arc::clone(&done));
        let closed = {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            s.local_addr().unwrap().port()
        };
        let targets = [(LO, dns), (LO, silent), (LO, closed)];
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        let r = detect_udp(db, &targets, &opts(), &stop).unwrap();
        let took = t0.elapsed();
        done.store(true, Ordering::Relaxed);
        dns_h.join().unwrap();
        silent_h.join().unwrap();

        let names: Vec<&str> = db
            .probes_for(silent, Protocol::Udp, 7)
            .map(Probe::name)
            .collect();
        assert_eq!(names, ["DNSVersionBind", "SNMPv1GetRequest", "NTPRequest"]);
        let plan = names.len();
        let d = by_port(&r, dns);
        let m = d.service.as_ref().unwrap();
        assert_eq!(
            (
                m.service.as_str(),
                m.product.as_deref(),
                m.version.as_deref()
            ),
            ("domain", Some("dnsmasq"), Some("2.90"))
        );
        assert!(d.answered && !m.soft && d.error.is_none(), "{d:?}");
        assert_eq!(d.proto, Protocol::Udp);
        assert_eq!(d.detail().unwrap().proto, Protocol::Udp);
        let s = by_port(&r, silent);
        assert!(
            !s.answered && s.service.is_none() && s.banner.is_none(),
            "{s:?}"
        );
        assert_eq!(s.error, None);
        // Each probe went twice: once, and again half-way through its wait.
        assert_eq!(s.probes_sent as usize, 2 * plan);
        let c = by_port(&r, closed);
        assert_eq!(c.error, Some(PortError::Refused), "{c:?}");
        assert!(!c.answered);
        // A hang catcher only: everything runs at once, about one probe wait (3 s), not
        // one per probe or port; the exact schedule is tested in the engine's
        // `tests/version_udp_sim.rs`.
        assert!(took < HANG, "{took:?}");
    }

    #[test]
    fn floods_garbage_and_empty_datagrams_are_bounded_and_unnamed() {
        let db = ProbeDb::builtin().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let (flood, flood_h) = server(
            |_| (0..200u8).map(|i| vec![b'A' + i % 26; 200]).collect(),
            Arc::clone(&done),
        );
        let (empty, empty_h) = server(|_| vec![Vec::new()], Arc::clone(&done));
        // A DNS-looking answer to another query ID, then a truncated one to ours.
        let (liar, liar_h) = server(
            |q| {
                let mut other = version_bind_answer(q, "dnsmasq-9.9");
                other[1] = 0x07;
                let mut cut = version_bind_answer(q, "dnsmasq-2.90");
                cut.truncate(20);
                vec![other, cut]
            },
            Arc::clone(&done),
        );
        let targets = [(LO, flood), (LO, empty), (LO, liar)];
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        let r = detect_udp(db, &targets, &opts(), &stop).unwrap();
        let took = t0.elapsed();
        done.store(true, Ordering::Relaxed);
        for h in [flood_h, empty_h, liar_h] {
            h.join().unwrap();
        }
        let f = by_port(&r, flood);
        assert!(f.answered && f.service.is_none(), "{f:?}");
        // Only the first datagram counts ("AAA...", 200 bytes, under BANNER_BYTES): the
        // "BBB..." after it is never read into the reply.
        assert_eq!(f.banner, Some("A".repeat(200)), "{f:?}");
        let e = by_port(&r, empty);
        assert!(
            e.answered && e.service.is_none() && e.banner.is_none(),
            "{e:?}"
        );
        // Only the first datagram of each probe counts: the foreign query ID.
        let l = by_port(&r, liar);
        assert!(l.answered && l.service.is_none(), "{l:?}");
        assert!(took < HANG, "{took:?}");
    }

    #[test]
    fn stop_ends_every_port_at_once() {
        let db = ProbeDb::builtin().unwrap();
        let stop = AtomicBool::new(true);
        let r = detect_udp(db, &[(LO, 9), (LO, 53)], &opts(), &stop).unwrap();
        assert!(
            r.iter().all(|r| r.error == Some(PortError::Stopped)),
            "{r:?}"
        );
        assert!(r.iter().all(|r| r.probes_sent == 0));
    }

    #[test]
    fn an_unknown_interface_is_a_typed_error() {
        let db = ProbeDb::builtin().unwrap();
        let o = VersionOptions {
            interface: Some("monban-none0".to_owned()),
            ..opts()
        };
        let stop = AtomicBool::new(false);
        match detect_udp(db, &[(LO, 53)], &o, &stop) {
            Err(NetError::NoSuchInterface(n)) => assert_eq!(n, "monban-none0"),
            other => panic!("{other:?}"),
        }
    }
}
