//! FTP bounce scans (`-b`) through a real vsftpd (Debian package) running in lab target 0's
//! namespace, bouncing off it to lab target 1, driven from the scanner's namespace.
//!
//! Needs root (the lab) and the vsftpd package, which `scripts/test.sh` installs; nothing
//! is installed or skipped here. vsftpd runs in the foreground with its configuration in a
//! scratch directory and is killed by pid (with the session processes it forked) when the
//! test ends, also when it fails.
//!
//! What vsftpd 3.0.3 does, measured in this lab, and what monban makes of it:
//!
//! | target port                        | vsftpd after `PORT` + `LIST`                  | monban               |
//! |------------------------------------|-----------------------------------------------|----------------------|
//! | open                               | `150`, `226` at once                          | open, syn-ack        |
//! | closed (RST)                       | `425 Failed to establish connection.` at once | closed, conn-refused |
//! | rejected (ICMP admin-prohibited)   | IPv4: `425` at once; IPv6: `425` at once or after one SYN retransmission (≈ 1 s) | closed, conn-refused |
//! | dropped                            | `425` after `connect_timeout` (60 s default)  | filtered, no-response (our timeout, new login) |
//! | dropped, `connect_timeout=2`       | `425` after 2 s                               | filtered, no-response (slow refusal) |
//! | below 1024 (any state)             | `500 OOPS: Illegal port request`, session ends| skipped (privileged) |
//!
//! vsftpd refuses data connections to privileged ports even with `port_promiscuous=YES`
//! (a hard-coded check in its privileged helper), so the lab's open ports 22, 80 and 443
//! cannot be seen through it. With `port_promiscuous=NO` it refuses `PORT` naming another
//! address with `500 Illegal PORT command.`.

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use monban_engine::bounce::{BounceConfig, BounceError, Skip};
use monban_engine::{PortState, Reason};
use monban_lab::{Host, Lab, Probe};
use monban_netio::bounce::{run, run_with, BounceOutcome, BounceRunError};

const VSFTPD: &str = "/usr/sbin/vsftpd";
/// How long vsftpd may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A vsftpd in a namespace, killed with its session processes when dropped.
struct Vsftpd {
    child: Child,
    dir: PathBuf,
}

impl Vsftpd {
    /// Starts vsftpd in `ns` on `port` with our base configuration plus `extra` lines,
    /// and waits until `addr` accepts connections from the scanner namespace.
    fn start(lab: &Lab, ns: &str, addr: SocketAddr, extra: &[&str]) -> Vsftpd {
        assert!(
            Path::new(VSFTPD).exists(),
            "{VSFTPD} is missing: install the Debian package vsftpd (scripts/test.sh does)"
        );
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        assert!(
            passwd.lines().any(|l| l.starts_with("ftp:")),
            "user ftp is missing: the vsftpd package creates it (reinstall vsftpd)"
        );
        let dir = std::env::temp_dir().join(format!(
            "monban-bounce-{}-{}",
            std::process::id(),
            addr.port()
        ));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["empty", "root"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let listen = if addr.is_ipv6() {
            "listen=NO\nlisten_ipv6=YES\n"
        } else {
            "listen=YES\nlisten_ipv6=NO\n"
        };
        let conf = format!(
            "{listen}listen_port={port}\nbackground=NO\n\
             anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nftp_username=ftp\n\
             anon_root={root}\nsecure_chroot_dir={empty}\nwrite_enable=NO\n\
             port_enable=YES\npasv_enable=NO\nconnect_from_port_20=NO\n\
             isolate=NO\nisolate_network=NO\nseccomp_sandbox=NO\n\
             xferlog_enable=NO\nsyslog_enable=NO\nvsftpd_log_file={log}\n{extra}\n",
            port = addr.port(),
            root = dir.join("root").display(),
            empty = dir.join("empty").display(),
            log = dir.join("vsftpd.log").display(),
            extra = extra.join("\n"),
        );
        let conf_path = dir.join("vsftpd.conf");
        fs::write(&conf_path, conf).unwrap();
        let out = fs::File::create(dir.join("stderr.log")).unwrap();
        // `ip netns exec` execs the program, so the child's pid is vsftpd's.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, VSFTPD])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut me = Vsftpd { child, dir };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let up = monban_lab::in_namespace(lab.scanner_ns(), move || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
            })
            .unwrap();
            if up {
                return me;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                let log = fs::read_to_string(me.dir.join("stderr.log")).unwrap_or_default();
                panic!("vsftpd on {addr} exited with {status}: {log}");
            }
            assert!(
                Instant::now() < deadline,
                "vsftpd on {addr} accepts no connection within {START_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Pids of every process below `root`, deepest last.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while let Some(&p) = found.get(i) {
        found.extend(
            parent_of
                .iter()
                .filter(|&&(_, pp)| pp == p)
                .map(|&(c, _)| c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        // vsftpd forks a process (which forks again) per session, each in its own session
        // id; abandoned ones may sit in connect() for a minute. Kill them by pid first.
        for pid in descendants(self.child.id()).into_iter().rev() {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What a bounce through vsftpd must report for a port of `host` (>= 1024), from the
/// lab's ground truth for a connect from the FTP server.
fn through_vsftpd(host: &Host, port: u16) -> (PortState, Reason) {
    match host.truth_for(Probe::Connect, port) {
        ("open", _) => (PortState::Open, Reason::SynAck),
        ("closed", _) => (PortState::Closed, Reason::ConnRefused),
        // The ICMP error fails vsftpd's connect at once: the same 425 as a RST.
        ("filtered", "admin-prohibited") => (PortState::Closed, Reason::ConnRefused),
        ("filtered", "no-response") => (PortState::Filtered, Reason::NoResponse),
        other => panic!("no bounce expectation for {other:?}"),
    }
}

fn scan_from_scanner(
    lab: &Lab,
    server: SocketAddr,
    cfg: BounceConfig,
    targets: Vec<(IpAddr, Vec<u16>)>,
) -> (Result<BounceOutcome, BounceRunError>, Duration) {
    monban_lab::in_namespace(lab.scanner_ns(), move || {
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let out = run_with(server, cfg, &targets, &stop, &mut |_| {});
        (out, started.elapsed())
    })
    .unwrap()
}

#[test]
fn bounce_through_vsftpd_matches_the_lab() {
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (ftp, target) = (&lab.hosts()[0], &lab.hosts()[1]);
    let t = IpAddr::V4(target.v4);

    // 1. Default connect_timeout (60 s): dropped ports are decided by our timeout.
    let server = SocketAddr::from((ftp.v4, 2121));
    let _vsftpd = Vsftpd::start(&lab, &ftp.ns, server, &["port_promiscuous=YES"]);
    let privileged = [22u16, 23, 80, 443];
    let mut unprivileged = target.open_ports().to_vec();
    unprivileged.retain(|&p| p >= 1024);
    assert_eq!(unprivileged, [3306, 49153, 65535], "lab host 1 changed");
    unprivileged.extend([1024, 2323, 8080, 40000]);
    unprivileged.extend(20000..=20005);
    unprivileged.extend(21000..=21005);
    // A privileged port first: vsftpd's refusal ends that session, the rest go on.
    let ports: Vec<u16> = [22]
        .into_iter()
        .chain(unprivileged.iter().copied())
        .chain([23, 80, 443])
        .collect();
    let timeout = Duration::from_millis(1500);
    let cfg = BounceConfig::new(server.ip(), "anonymous", "monban@", timeout);
    let (out, took) = scan_from_scanner(&lab, server, cfg, vec![(t, ports)]);
    eprintln!("bounce via vsftpd (connect_timeout 60 s), {timeout:?} timeout: {took:?}");
    let out = out.unwrap();
    let want: Vec<_> = unprivileged
        .iter()
        .map(|&p| {
            let (state, reason) = through_vsftpd(target, p);
            (t, p, state, reason)
        })
        .collect();
    assert_eq!(out.results, want);
    let skipped: Vec<_> = privileged
        .iter()
        .map(|&p| (t, p, Skip::Privileged))
        .collect();
    assert_eq!(out.skipped, skipped);
    // One login, one after vsftpd ended the session on port 22, one after each dropped port.
    assert_eq!(out.connections, 2 + 6);
    assert!(!out.stopped);
    // Six timeouts; everything else answers at once.
    assert!(took >= 6 * timeout, "{took:?}");
    assert!(took < 6 * timeout + Duration::from_secs(3), "{took:?}");

    // 2. connect_timeout=2: vsftpd answers 425 after 2 s, which reads filtered, on the
    //    same control connection.
    let server = SocketAddr::from((ftp.v4, 2122));
    let _vsftpd2 = Vsftpd::start(
        &lab,
        &ftp.ns,
        server,
        &["port_promiscuous=YES", "connect_timeout=2"],
    );
    let ports = vec![20000, 3306, 20001, 21000, 2323];
    let cfg = BounceConfig::new(server.ip(), "anonymous", "monban@", Duration::from_secs(5));
    let (out, took) = scan_from_scanner(&lab, server, cfg, vec![(t, ports.clone())]);
    eprintln!("bounce via vsftpd (connect_timeout 2 s): {took:?}");
    let out = out.unwrap();
    let want: Vec<_> = ports
        .iter()
        .map(|&p| {
            let (state, reason) = through_vsftpd(target, p);
            (t, p, state, reason)
        })
        .collect();
    assert_eq!(out.results, want);
    assert_eq!(out.connections, 1);
    assert!(took >= Duration::from_secs(4), "{took:?}");
    assert!(took < Duration::from_secs(7), "{took:?}");
}

#[test]
fn vsftpd_without_port_promiscuous_refuses_clearly() {
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (ftp, target) = (&lab.hosts()[0], &lab.hosts()[1]);
    let t = IpAddr::V4(target.v4);
    let server = SocketAddr::from((ftp.v4, 2121));
    let _vsftpd = Vsftpd::start(&lab, &ftp.ns, server, &["port_promiscuous=NO"]);
    let refused = |port| {
        BounceRunError::Protocol(BounceError::PortRefused {
            command: "PORT",
            target: t,
            port,
            reply: "\"500 Illegal PORT command.\"".to_owned(),
        })
    };
    for (ports, first) in [(vec![3306, 2323], 3306), (vec![22, 3306], 22)] {
        let (out, took) = monban_lab::in_namespace(lab.scanner_ns(), move || {
            let stop = AtomicBool::new(false);
            let started = Instant::now();
            let out = run(
                server,
                "anonymous",
                "monban@",
                &[(t, ports)],
                Duration::from_secs(3),
                &stop,
            );
            (out, started.elapsed())
        })
        .unwrap();
        let e = out.unwrap_err();
        // For 22 the driver first checks an unprivileged port, which is refused too.
        assert_eq!(e.to_string(), refused(first).to_string());
        assert!(
            matches!(&e, BounceRunError::Protocol(BounceError::PortRefused { port, .. }) if *port == first),
            "{e:?}"
        );
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    // The message says what is wrong and how a server would allow it.
    assert_eq!(
        refused(3306).to_string(),
        format!(
            "the FTP server refuses PORT to {t} port 3306 (\"500 Illegal PORT command.\"): it \
             cannot be used for a bounce scan, which needs a server that accepts PORT/EPRT \
             naming a third party (vsftpd: port_promiscuous=YES)"
        )
    );
}

#[test]
fn bounce_over_ipv6_uses_eprt() {
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (ftp, target) = (&lab.hosts()[0], &lab.hosts()[1]);
    let t = IpAddr::V6(target.v6);
    let server = SocketAddr::from((ftp.v6, 2123));
    let _vsftpd = Vsftpd::start(&lab, &ftp.ns, server, &["port_promiscuous=YES"]);
    let ports = vec![3306, 2323, 21000, 21001, 20000, 65535];
    let timeout = Duration::from_millis(1500);
    let cfg = BounceConfig::new(server.ip(), "anonymous", "monban@", timeout);
    let v4 = IpAddr::V4(target.v4);
    let (out, took) = scan_from_scanner(
        &lab,
        server,
        cfg,
        vec![(v4, vec![3306]), (t, ports.clone())],
    );
    eprintln!("bounce via vsftpd over IPv6, {timeout:?} timeout: {took:?}");
    let out = out.unwrap();
    let want: Vec<_> = ports
        .iter()
        .map(|&p| {
            let (state, reason) = through_vsftpd(target, p);
            (t, p, state, reason)
        })
        .collect();
    assert_eq!(out.results, want);
    // An IPv6 server connects over IPv6 only.
    assert_eq!(out.skipped, [(v4, 3306, Skip::FamilyMismatch)]);
    assert_eq!(out.connections, 2);
    assert!(took >= timeout, "{took:?}");
    // The rejected ports may each wait for one SYN retransmission (≈ 1 s).
    assert!(took < timeout + Duration::from_secs(5), "{took:?}");
}
