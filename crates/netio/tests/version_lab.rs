//! Version detection against real daemons from Debian packages, run inside a lab target's
//! namespace and probed from the scanner's: product and version must equal what `dpkg-query`
//! says is installed.
//!
//! Needs root (the lab) and the packages openssh-server, nginx, vsftpd, redis-server and
//! memcached, which `scripts/test.sh` installs; nothing is installed or skipped here.
//! The daemons listen on ports the lab's own listeners do not use, run in the foreground
//! with configuration in a scratch directory, and are killed by pid when the test ends,
//! also when it fails.

use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use monban_lab::{daemons, Lab};
use monban_netio::version::{detect, ServiceResult, VersionOptions};
use monban_probes::{ProbeDb, Protocol};

/// How long a daemon may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(15);

const SSH_PORT: u16 = 2222;
const HTTP_PORT: u16 = 8081;
const FTP_PORT: u16 = 2121;
const REDIS_PORT: u16 = 6380;
const MEMCACHED_PORT: u16 = 11212;

/// Fails the test with the lab's own explanation.
fn ok<T>(r: Result<T, monban_lab::LabError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("monban-version-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ok(
        std::fs::create_dir_all(&dir).map_err(|source| monban_lab::LabError::Spawn {
            command: format!("mkdir {}", dir.display()),
            source,
        }),
    );
    dir
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
        (SSH_PORT, ok(daemons::sshd(&host.ns, &dir, SSH_PORT))),
        (HTTP_PORT, ok(daemons::nginx(&host.ns, &dir, HTTP_PORT))),
        (FTP_PORT, ok(daemons::vsftpd(&host.ns, &dir, FTP_PORT))),
        (REDIS_PORT, ok(daemons::redis(&host.ns, &dir, REDIS_PORT))),
        (
            MEMCACHED_PORT,
            ok(daemons::memcached(&host.ns, &dir, MEMCACHED_PORT)),
        ),
    ];
    ok(daemons::wait_ready(&host.ns, &mut daemons, START_LIMIT));

    let target = IpAddr::V4(host.v4);
    let targets: Vec<(IpAddr, u16)> = daemons.iter().map(|(p, _)| (target, *p)).collect();
    let db = ProbeDb::builtin().expect("the embedded probe database");
    let opts = VersionOptions::default();
    // Memcached on 11212 (not its usual port) is only found by walking the probe list;
    // the port's probes run side by side, so that costs about one probe, not all of them
    // (in series: 9 probes, about 21 s, the null probe's 5 s wait among them).
    let plan: Vec<&str> = db
        .probes_for(MEMCACHED_PORT, Protocol::Tcp, opts.intensity)
        .map(|p| p.name())
        .collect();
    assert!(plan.contains(&"MemcachedVersion"));
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
        ok(d.check_alive());
    }
    assert_eq!(results.len(), 5);
    for r in &results {
        assert_eq!(r.error, None, "port {}", r.port);
    }

    let (ssh_version, ssh_revision) =
        daemons::split_version(&ok(daemons::dpkg_version("openssh-server")));
    let (nginx_version, _) = daemons::split_version(&ok(daemons::dpkg_version("nginx")));
    let (vsftpd_version, _) = daemons::split_version(&ok(daemons::dpkg_version("vsftpd")));
    let (redis_version, _) = daemons::split_version(&ok(daemons::dpkg_version("redis-server")));
    let (memcached_version, _) = daemons::split_version(&ok(daemons::dpkg_version("memcached")));
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
    // The null probe and MemcachedVersion at least; a soft match on memcached's "ERROR"
    // skips the probes without rules for it, so how many others ran depends on timing.
    let sent = usize::try_from(memcached.probes_sent).unwrap();
    assert!(sent >= 2 && sent <= plan.len() + 1, "{sent}");
    assert!(
        memcached.elapsed < Duration::from_secs(3),
        "{:?}",
        memcached.elapsed
    );
    // memcached answers the ClientHello with "ERROR" if its random bytes hold a newline,
    // else waits for one: the handshake fails, or is cut when MemcachedVersion matches.
    use monban_netio::version::tls::TlsError;
    assert!(
        matches!(
            memcached.tls_error,
            Some(TlsError::Handshake(_) | TlsError::Timeout)
        ),
        "{:?}",
        memcached.tls_error
    );
    for r in [ssh, http, ftp, redis] {
        assert_eq!((&r.tls, &r.tls_error, r.in_tunnel), (&None, &None, false));
    }
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
    let _ = std::fs::remove_dir_all(&dir);
}
