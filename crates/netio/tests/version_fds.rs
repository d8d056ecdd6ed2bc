//! `-sV` back-pressure on real sockets: a process with few descriptors left still
//! identifies every port. EMFILE lowers the parallelism; it is not an error.
//!
//! This lowers the test process's open-file limit (hard and soft), so it lives in a test
//! binary of its own. The server runs in a child process (this binary again, in
//! [`fd_server_child`]), so that its accepted sockets do not count against our limit.

use monban_netio::version::{detect, VersionOptions};
use monban_probes::ProbeDb;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const CHILD_ENV: &str = "MONBAN_FD_SERVER_CHILD";
/// The process's open-file limit during the test.
const NOFILE: u64 = 128;
/// Descriptors left free for the detection (the driver's own budget says 64).
const FREE: usize = 12;
/// Hang catcher only.
const HANG: Duration = Duration::from_secs(60);

/// In the child: an SSH-like server on a loopback port (printed on stdout), one thread per
/// connection, until stdin closes. In the parent: nothing.
#[test]
fn fd_server_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
                let mut buf = [0u8; 256];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    // The parent closes our stdin when it is done (or dies).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn with_few_descriptors_left_every_port_is_still_identified() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "fd_server_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port: u16 = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the server child ended"
        );
        // libtest may print its "test ... " prefix on the same line.
        if let Some((_, p)) = line.trim().split_once("PORT ") {
            break p.parse().unwrap();
        }
    };

    // Few descriptors: a limit of NOFILE, nearly all of it taken.
    let lim = libc::rlimit {
        rlim_cur: NOFILE,
        rlim_max: NOFILE,
    };
    // SAFETY: plain syscall with a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let mut ballast = Vec::new();
    while open_fds() + FREE < NOFILE as usize {
        ballast.push(std::fs::File::open("/dev/null").unwrap());
    }

    let db = ProbeDb::builtin().unwrap();
    let targets = vec![(LOOPBACK, port); 40];
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    let r = detect(db, &targets, &VersionOptions::default(), &stop);
    let took = t.elapsed();
    drop(ballast);
    drop(child.stdin.take());
    let _ = child.wait();

    // 40 connections wanted at once, about a dozen descriptors free: EMFILE, then fewer
    // at a time, and every port named.
    let r = r.expect("back-pressure, not an error");
    assert_eq!(r.len(), 40);
    for r in &r {
        let m = r.service.as_ref().expect("identified");
        assert_eq!(
            (m.service.as_str(), m.product.as_deref(), r.error.as_ref()),
            ("ssh", Some("OpenSSH"), None),
            "{r:?}"
        );
    }
    assert!(took < HANG, "{took:?}");
}
