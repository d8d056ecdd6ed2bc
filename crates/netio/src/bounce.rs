//! The FTP bounce driver (`-b`): one blocking control connection at a time.
//!
//! The dialogue is strictly sequential (one command, one reply), so a plain [`TcpStream`]
//! with read and write timeouts drives the sans-IO [`BounceSession`]: connect, send what
//! it says, feed it what the server says and the time. Every wait is bounded: the connect
//! and each write by the timeout, each read by the session's next deadline (and at most
//! [`POLL`], so the stop flag is seen).

use monban_engine::bounce::{
    BounceConfig, BounceError, BounceResult, BounceSession, Command, Skip,
};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest single wait for the server before the stop flag is looked at again.
pub const POLL: Duration = Duration::from_millis(100);

/// What went wrong in a bounce scan.
#[derive(Debug, thiserror::Error)]
pub enum BounceRunError {
    /// The FTP server could not be reached.
    #[error("cannot connect to the FTP server {server}")]
    Connect {
        /// The server.
        server: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The FTP dialogue failed (login refused, third-party `PORT` refused, garbage, ...).
    #[error(transparent)]
    Protocol(#[from] BounceError),
}

/// What a bounce scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BounceOutcome {
    /// Decided ports, in the order they were probed.
    pub results: Vec<BounceResult>,
    /// Ports not probed, and why (see [`Skip`]).
    pub skipped: Vec<(IpAddr, u16, Skip)>,
    /// Control connections opened (one, plus one after each port that timed out or
    /// each time the server dropped the connection).
    pub connections: u32,
    /// True if the stop flag ended the scan early.
    pub stopped: bool,
}

/// Bounce-scans `targets` through the FTP server at `server`, logging in as
/// `user`/`pass`; `timeout` bounds the connect and every reply (a `LIST` that gets no
/// answer within it leaves the port filtered). Stops early, with what it has, once `stop`
/// is set.
pub fn run(
    server: SocketAddr,
    user: &str,
    pass: &str,
    targets: &[(IpAddr, Vec<u16>)],
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<BounceOutcome, BounceRunError> {
    let cfg = BounceConfig::new(server.ip(), user, pass, timeout);
    run_with(server, cfg, targets, stop, &mut |_| {})
}

/// [`run`] with every option of [`BounceConfig`] (`cfg.server` is taken from `server`),
/// handing each decided port to `on_result` as soon as it is known.
pub fn run_with(
    server: SocketAddr,
    mut cfg: BounceConfig,
    targets: &[(IpAddr, Vec<u16>)],
    stop: &AtomicBool,
    on_result: &mut dyn FnMut(&BounceResult),
) -> Result<BounceOutcome, BounceRunError> {
    cfg.server = server.ip();
    let timeout = cfg.timeout.max(Duration::from_millis(1));
    let mut session = BounceSession::new(cfg, targets.to_vec())?;
    let mut out = BounceOutcome::default();
    let mut conn: Option<TcpStream> = None;
    let mut buf = [0u8; 4096];
    loop {
        while let Some(cmd) = session.poll_command() {
            match cmd {
                Command::Connect => {
                    let s = TcpStream::connect_timeout(&server, timeout)
                        .map_err(|source| BounceRunError::Connect { server, source })?;
                    // Both only fail on a closed socket, which the next read reports.
                    let _ = s.set_nodelay(true);
                    let _ = s.set_write_timeout(Some(timeout));
                    conn = Some(s);
                    session.on_connected(Instant::now());
                }
                Command::Send(line) => {
                    let sent = conn
                        .as_mut()
                        .is_some_and(|s| s.write_all(line.as_bytes()).is_ok());
                    if !sent {
                        session.on_closed(Instant::now())?;
                    }
                }
                Command::Disconnect => {
                    if let Some(s) = conn.take() {
                        let _ = s.shutdown(Shutdown::Both);
                    }
                }
            }
        }
        while let Some(r) = session.poll_result() {
            on_result(&r);
            out.results.push(r);
        }
        out.skipped
            .extend(std::iter::from_fn(|| session.poll_skipped()));
        if session.is_done() {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            session.stop();
            out.stopped = true;
            break;
        }
        let now = Instant::now();
        let deadline = session.next_timeout();
        if deadline.is_some_and(|d| now >= d) {
            session.handle_timeout(now)?;
            continue;
        }
        let Some(s) = conn.as_mut() else {
            // Nothing to read from and nothing to do: only a closed connection explains it.
            session.on_closed(now)?;
            continue;
        };
        let wait = deadline
            .map_or(POLL, |d| d.saturating_duration_since(now).min(POLL))
            .max(Duration::from_millis(1));
        // Only fails for a zero duration, which `wait` never is.
        let _ = s.set_read_timeout(Some(wait));
        match s.read(&mut buf) {
            Ok(0) => session.on_closed(Instant::now())?,
            Ok(n) => session.on_data(Instant::now(), buf.get(..n).unwrap_or(&[]))?,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // A reset or any other failure ends this connection; the session decides.
            Err(_) => session.on_closed(Instant::now())?,
        }
    }
    out.connections = session.connections();
    if let Some(s) = conn.take() {
        let _ = s.shutdown(Shutdown::Both);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monban_engine::{PortState, Reason};
    use std::io::{BufRead, BufReader};
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread;

    /// A scripted FTP server on loopback: for each connection, the greeting, then for each
    /// command line received the next reply from `script` (`None`: stay silent; the
    /// string may hold several CRLF-joined replies).
    fn server(
        conns: Vec<(&'static str, Vec<Option<&'static str>>)>,
    ) -> (SocketAddr, thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = l.local_addr().unwrap();
        let h = thread::spawn(move || {
            let mut seen = Vec::new();
            for (greeting, script) in conns {
                let (mut s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.write_all(greeting.as_bytes()).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                for reply in script {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    seen.push(line.trim_end().to_owned());
                    match reply {
                        Some(text) => s.write_all(text.as_bytes()).unwrap(),
                        None => {
                            // Silent until the client gives up on this connection.
                            let mut rest = String::new();
                            let _ = r.read_line(&mut rest);
                            break;
                        }
                    }
                }
            }
            seen
        });
        (addr, h)
    }

    #[test]
    fn drives_a_scripted_server_with_a_timeout_and_a_reconnect() {
        let (addr, h) = server(vec![
            (
                "220-hello\r\n220 ready\r\n",
                vec![
                    Some("331 pw\r\n"),
                    Some("230 in\r\n"),
                    Some("200 ok\r\n"),
                    Some("150 open\r\n226 done\r\n"),
                    Some("200 ok\r\n"),
                    Some("425 Failed to establish connection.\r\n"),
                    Some("200 ok\r\n"),
                    None,
                ],
            ),
            (
                "220 again\r\n",
                vec![
                    Some("230 in\r\n"),
                    Some("200 ok\r\n"),
                    Some("150 open\r\n"),
                    Some("221 bye\r\n"),
                ],
            ),
        ]);
        let target = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 11));
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let timeout = Duration::from_millis(300);
        let out = run(
            addr,
            "anonymous",
            "me@",
            &[(target, vec![3306, 2323, 20000, 65535])],
            timeout,
            &stop,
        )
        .unwrap();
        let took = started.elapsed();
        assert_eq!(
            out.results,
            [
                (target, 3306, PortState::Open, Reason::SynAck),
                (target, 2323, PortState::Closed, Reason::ConnRefused),
                (target, 20000, PortState::Filtered, Reason::NoResponse),
                (target, 65535, PortState::Open, Reason::SynAck),
            ]
        );
        assert_eq!(out.connections, 2);
        assert!(!out.stopped);
        assert!(out.skipped.is_empty());
        // Two waits: the silent LIST, and the 226 that never follows the last 150.
        assert!(took >= 2 * timeout, "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        // After the last 150 the port is open; no port is left, so no new connection and
        // no QUIT either.
        assert_eq!(
            h.join().unwrap(),
            [
                "USER anonymous",
                "PASS me@",
                "PORT 10,77,1,11,12,234",
                "LIST",
                "PORT 10,77,1,11,9,19",
                "LIST",
                "PORT 10,77,1,11,78,32",
                "LIST",
                "USER anonymous",
                "PORT 10,77,1,11,255,255",
                "LIST",
            ]
        );
    }

    #[test]
    fn refused_port_is_an_error_and_unreachable_server_too() {
        let (addr, h) = server(vec![(
            "220 hi\r\n",
            vec![Some("230 in\r\n"), Some("500 Illegal PORT command.\r\n")],
        )]);
        let target = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 11));
        let stop = AtomicBool::new(false);
        let e = run(
            addr,
            "ftp",
            "x",
            &[(target, vec![3306])],
            Duration::from_secs(2),
            &stop,
        )
        .unwrap_err();
        assert!(
            matches!(
                &e,
                BounceRunError::Protocol(BounceError::PortRefused {
                    command: "PORT",
                    port: 3306,
                    ..
                })
            ),
            "{e:?}"
        );
        assert_eq!(h.join().unwrap(), ["USER ftp", "PORT 10,77,1,11,12,234"]);
        // Nothing listens on the same port now.
        let e = run(
            addr,
            "ftp",
            "x",
            &[(target, vec![3306])],
            Duration::from_secs(2),
            &stop,
        )
        .unwrap_err();
        assert!(
            matches!(&e, BounceRunError::Connect { server, source }
                if *server == addr && source.kind() == io::ErrorKind::ConnectionRefused),
            "{e:?}"
        );
    }

    #[test]
    fn stop_flag_ends_the_scan_with_what_it_has() {
        let (addr, h) = server(vec![(
            "220 hi\r\n",
            vec![Some("230 in\r\n"), Some("200 ok\r\n"), None],
        )]);
        let target = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 11));
        let stop = AtomicBool::new(true);
        let started = Instant::now();
        let out = run(
            addr,
            "a",
            "b",
            &[(target, vec![3306])],
            Duration::from_secs(30),
            &stop,
        )
        .unwrap();
        assert!(out.stopped);
        assert!(out.results.is_empty());
        assert!(started.elapsed() < Duration::from_secs(2));
        // Stopped right after connecting: the greeting was never answered.
        assert_eq!(h.join().unwrap(), Vec::<String>::new());
    }
}
