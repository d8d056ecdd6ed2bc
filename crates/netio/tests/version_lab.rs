//! Version detection against real daemons from Debian packages, run inside a lab target's
//! namespace and probed from the scanner's: product and version must equal what `dpkg-query`
//! says is installed.
//!
//! Needs root (the lab) and the packages openssh-server, nginx, vsftpd, redis-server and
//! memcached, which `scripts/test.sh` installs; nothing is installed or skipped here.
//! The daemons listen on ports the lab's own listeners do not use, run in the foreground
//! with configuration in a scratch directory, and are killed by pid when the test ends,
//! also when it fails.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use monban_lab::Lab;
use monban_netio::version::{detect, ServiceResult, VersionOptions};
use monban_probes::{ProbeDb, Transport};

/// How long a daemon may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(15);

const SSH_PORT: u16 = 2222;
const HTTP_PORT: u16 = 8081;
const FTP_PORT: u16 = 2121;
const REDIS_PORT: u16 = 6380;
const MEMCACHED_PORT: u16 = 11212;

/// A daemon running in a namespace; killed (TERM, then KILL) when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, ns: &str, dir: &Path, program: &str, args: &[&str]) -> Daemon {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: install the Debian package for {name} \
             (scripts/test.sh installs every package this test needs)"
        );
        let log = dir.join(format!("{name}.log"));
        let out = fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        // `ip netns exec` execs the program, so the child's pid is the daemon's.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { name, child, log }
    }

    /// Panics with the daemon's log if it has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            panic!("{} exited with {status}; its output:\n{log}", self.name);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The installed version of a Debian package.
fn dpkg_version(package: &str) -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg-query {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// "1:9.2p1-2+deb12u3" → ("9.2p1", "2+deb12u3"): without epoch, split at the last `-`.
fn split_version(full: &str) -> (String, String) {
    let no_epoch = full.split_once(':').map_or(full, |(_, v)| v);
    let (upstream, revision) = no_epoch.rsplit_once('-').unwrap_or((no_epoch, ""));
    (upstream.to_owned(), revision.to_owned())
}

#[test]
fn version_strings_split_like_debian() {
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(split_version("1:9.2p1-2+deb12u3"), s("9.2p1", "2+deb12u3"));
    assert_eq!(
        split_version("5:7.0.15-1~deb12u1"),
        s("7.0.15", "1~deb12u1")
    );
    assert_eq!(
        split_version("1.22.1-9+deb12u10"),
        s("1.22.1", "9+deb12u10")
    );
    assert_eq!(split_version("3.0.3"), s("3.0.3", ""));
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monban-version-lab-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) -> String {
    fs::write(path, text).unwrap();
    path.display().to_string()
}

fn start_sshd(ns: &str, dir: &Path) -> Daemon {
    let key = dir.join("ssh_host_ed25519_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client, a dependency of openssh-server)");
    assert!(status.success(), "ssh-keygen failed");
    // sshd's privilege-separation directory is compiled in; systemd usually makes it.
    fs::create_dir_all("/run/sshd").unwrap();
    let cfg = write(
        &dir.join("sshd_config"),
        &format!(
            "Port {SSH_PORT}\nHostKey {}\nPidFile none\nUsePAM no\n",
            key.display()
        ),
    );
    Daemon::start("sshd", ns, dir, "/usr/sbin/sshd", &["-D", "-e", "-f", &cfg])
}

fn start_nginx(ns: &str, dir: &Path) -> Daemon {
    let d = dir.display();
    let cfg = write(
        &dir.join("nginx.conf"),
        &format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  default_type text/html;\n\
             \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             \x20 scgi_temp_path {d}/scgi;\n\
             \x20 server {{\n    listen {HTTP_PORT};\n\
             \x20   location / {{ return 200 \"<html><head><title>monban lab</title></head></html>\\n\"; }}\n\
             \x20 }}\n}}\n"
        ),
    );
    let err = format!("{d}/nginx-error.log");
    let prefix = format!("{d}/");
    let args = ["-p", &prefix, "-e", &err, "-c", &cfg];
    Daemon::start("nginx", ns, dir, "/usr/sbin/nginx", &args)
}

fn start_vsftpd(ns: &str, dir: &Path) -> Daemon {
    // vsftpd refuses to run with no way to log in: anonymous, read-only, in an empty root.
    let root = dir.join("ftproot");
    fs::create_dir_all(&root).unwrap();
    let cfg = write(
        &dir.join("vsftpd.conf"),
        &format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_port={FTP_PORT}\nbackground=NO\n\
             anonymous_enable=YES\nanon_root={}\nwrite_enable=NO\nlocal_enable=NO\n\
             seccomp_sandbox=NO\nsecure_chroot_dir=/var/run/vsftpd/empty\nxferlog_enable=NO\n",
            root.display()
        ),
    );
    Daemon::start("vsftpd", ns, dir, "/usr/sbin/vsftpd", &[&cfg])
}

fn start_redis(ns: &str, dir: &Path) -> Daemon {
    let port = REDIS_PORT.to_string();
    let d = dir.display().to_string();
    let args = [
        "--port",
        &port,
        "--bind",
        "0.0.0.0",
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        &d,
    ];
    Daemon::start("redis-server", ns, dir, "/usr/bin/redis-server", &args)
}

fn start_memcached(ns: &str, dir: &Path) -> Daemon {
    let port = MEMCACHED_PORT.to_string();
    let args = ["-p", &port, "-U", "0", "-u", "root", "-l", "0.0.0.0"];
    Daemon::start("memcached", ns, dir, "/usr/bin/memcached", &args)
}

/// Waits until every port accepts a connection from inside the target's namespace.
fn wait_ready(ns: &str, daemons: &mut [(u16, Daemon)]) {
    let until = Instant::now() + START_LIMIT;
    for (port, daemon) in daemons.iter_mut() {
        let port = *port;
        loop {
            daemon.check_alive();
            let up = monban_lab::in_namespace(ns, move || {
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })
            .unwrap();
            if up {
                break;
            }
            assert!(
                Instant::now() < until,
                "{} does not accept connections on port {port} after {START_LIMIT:?}",
                daemon.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn field(r: &ServiceResult) -> (String, Option<String>, Option<String>, Option<String>) {
    let m = r
        .service
        .as_ref()
        .unwrap_or_else(|| panic!("port {} not identified: {r:?}", r.port));
    (
        m.service.clone(),
        m.product.clone(),
        m.version.clone(),
        m.info.clone(),
    )
}

#[test]
fn real_daemons_are_identified_with_their_package_versions() {
    let lab = Lab::builder()
        .hosts(1)
        .build()
        .expect("the lab needs root, ip and nft (scripts/test.sh)");
    let host = lab.hosts()[0].clone();
    for port in [SSH_PORT, HTTP_PORT, FTP_PORT, REDIS_PORT, MEMCACHED_PORT] {
        assert!(
            !host.open_ports().contains(&port),
            "lab already uses {port}"
        );
    }
    let dir = scratch();
    // Declared after `lab`, so the daemons are killed before the namespaces go.
    let mut daemons = vec![
        (SSH_PORT, start_sshd(&host.ns, &dir)),
        (HTTP_PORT, start_nginx(&host.ns, &dir)),
        (FTP_PORT, start_vsftpd(&host.ns, &dir)),
        (REDIS_PORT, start_redis(&host.ns, &dir)),
        (MEMCACHED_PORT, start_memcached(&host.ns, &dir)),
    ];
    wait_ready(&host.ns, &mut daemons);

    let target = IpAddr::V4(host.v4);
    let targets: Vec<(IpAddr, u16)> = daemons.iter().map(|(p, _)| (target, *p)).collect();
    let db = ProbeDb::builtin().expect("the embedded probe database");
    let opts = VersionOptions::default();
    // Memcached on 11212 (not its usual port) is only found by walking the probe list.
    let plan: Vec<&str> = db
        .probes_for(MEMCACHED_PORT, Transport::Tcp, opts.intensity)
        .map(|p| p.name())
        .collect();
    let memcached_probes = plan.iter().position(|&n| n == "MemcachedVersion").unwrap() + 1;
    eprintln!("probe plan for port {MEMCACHED_PORT}: {plan:?}");
    let t = Instant::now();
    let results = monban_lab::in_namespace(lab.scanner_ns(), move || {
        let stop = AtomicBool::new(false);
        detect(db, &targets, &opts, &stop)
    })
    .unwrap()
    .unwrap();
    let took = t.elapsed();
    eprintln!("version detection of {} ports took {took:?}", results.len());
    for r in &results {
        eprintln!(
            "  {}:{} {:?} after {} probes in {:?}; banner {:?}",
            r.addr, r.port, r.service, r.probes_sent, r.elapsed, r.banner
        );
    }
    for (_, d) in daemons.iter_mut() {
        d.check_alive();
    }
    assert_eq!(results.len(), 5);
    for r in &results {
        assert_eq!(r.error, None, "port {}", r.port);
    }

    let (ssh_version, ssh_revision) = split_version(&dpkg_version("openssh-server"));
    let (nginx_version, _) = split_version(&dpkg_version("nginx"));
    let (vsftpd_version, _) = split_version(&dpkg_version("vsftpd"));
    let (redis_version, _) = split_version(&dpkg_version("redis-server"));
    let (memcached_version, _) = split_version(&dpkg_version("memcached"));
    let s = |x: &str| Some(x.to_owned());

    let [ssh, http, ftp, redis, memcached] = results.as_slice() else {
        panic!("five results expected: {results:?}");
    };
    assert_eq!(
        field(ssh),
        (
            "ssh".into(),
            s("OpenSSH"),
            Some(ssh_version.clone()),
            Some(format!("Debian {ssh_revision}; protocol 2.0"))
        )
    );
    assert_eq!(
        ssh.banner,
        Some(format!(
            "SSH-2.0-OpenSSH_{ssh_version} Debian-{ssh_revision}"
        ))
    );
    assert_eq!(ssh.probes_sent, 1);
    let os = |r: &ServiceResult| r.service.as_ref().and_then(|m| m.os.clone());
    assert_eq!(os(ssh), s("Linux"));
    assert_eq!(
        field(http),
        (
            "http".into(),
            s("nginx"),
            Some(nginx_version),
            s("title: monban lab")
        )
    );
    assert_eq!(
        field(ftp),
        (
            "ftp".into(),
            s("vsftpd"),
            Some(vsftpd_version.clone()),
            None
        )
    );
    assert_eq!(ftp.banner, Some(format!("220 (vsFTPd {vsftpd_version})")));
    assert_eq!(ftp.probes_sent, 1);
    assert_eq!(
        field(redis),
        (
            "redis".into(),
            s("Redis key-value store"),
            Some(redis_version),
            None
        )
    );
    assert_eq!((redis.probes_sent, os(redis)), (1, s("Linux")));
    assert_eq!(http.probes_sent, 1);
    assert_eq!(
        memcached.probes_sent,
        u32::try_from(memcached_probes).unwrap()
    );
    assert_eq!(
        memcached.banner,
        Some(format!("VERSION {memcached_version}"))
    );
    assert_eq!(
        field(memcached),
        (
            "memcache".into(),
            s("memcached"),
            Some(memcached_version.clone()),
            None
        )
    );
    drop(daemons);
    let _ = fs::remove_dir_all(&dir);
}
