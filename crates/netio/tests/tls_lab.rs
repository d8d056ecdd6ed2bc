//! TLS in version detection against a real nginx and hostile TLS peers, inside a lab
//! target's namespace, probed from the scanner's.
//!
//! The test makes its own certificate authority and two server certificates with
//! `openssl ca` (exact subjects, issuer and validity dates), starts nginx (Debian package)
//! with TLS on a usual TLS port (8443: the handshake goes first) and on an unusual one
//! (4443: found from a plain reply and the handshake step), and asserts service, product,
//! version = what `dpkg-query` reports, TLS version and cipher, and the certificates'
//! fields exactly as made. Three hostile peers (garbage, a stall in the middle of the
//! handshake, endless records) must end with a clear TLS error within the time limits.
//!
//! Needs root (the lab) and the packages nginx and openssl; nothing is installed or
//! skipped here. Port 443 itself is taken by the lab's own listener on every target, so
//! 8443 stands for it (same path: a usual TLS port, HTTP probes first inside).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use monban_lab::{daemons, Lab, LabError};
use monban_netio::version::tls::TlsError;
use monban_netio::version::{detect, ServiceResult, VersionOptions};
use monban_probes::ProbeDb;

/// How long nginx may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(15);
/// A usual TLS port (TLS 1.2 and 1.3, RSA certificate).
const USUAL_PORT: u16 = 8443;
/// An unusual one (TLS 1.2 only, EC P-384 certificate).
const ODD_PORT: u16 = 4443;
const GARBAGE_PORT: u16 = 9441;
const STALL_PORT: u16 = 9442;
const ENDLESS_PORT: u16 = 9443;

/// Fails the test with the lab's own explanation.
fn ok<T>(r: Result<T, LabError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monban-tls-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Runs openssl with `args` in `dir`; its output.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl (Debian package openssl): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A certificate the test made, and what it must read as.
struct Made {
    cert: String,
    key: String,
    sha256: String,
}

/// A CA (`CN=Monban Lab CA, O=Monban`) and, signed by it with `openssl ca`, a server
/// certificate `CN=<cn>, O=Monban Lab` with SAN DNS:<cn>, valid exactly `start`-`end`.
fn make_cert(dir: &Path, name: &str, cn: &str, newkey: &[&str], start: &str, end: &str) -> Made {
    if !dir.join("ca.pem").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Monban Lab CA/O=Monban",
                "-days",
                "3650",
            ],
        );
        write(&dir.join("index.txt"), "");
        write(&dir.join("serial"), "1000\n");
        let d = dir.display();
        write(
            &dir.join("ca.cnf"),
            &format!(
                "[ca]\ndefault_ca = lab\n[lab]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\n\
                 serial = {d}/serial\ndefault_md = sha256\npolicy = any\n\
                 copy_extensions = copy\nunique_subject = no\n\
                 [any]\ncommonName = supplied\norganizationName = optional\n"
            ),
        );
    }
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let cert = format!("{name}.pem");
    let subj = format!("/CN={cn}/O=Monban Lab");
    let san = format!("subjectAltName=DNS:{cn}");
    let mut req = vec!["req", "-new", "-nodes", "-keyout", &key, "-out", &csr];
    req.extend_from_slice(newkey);
    req.extend_from_slice(&["-subj", &subj, "-addext", &san]);
    openssl(dir, &req);
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            &csr,
            "-out",
            &cert,
            "-startdate",
            start,
            "-enddate",
            end,
        ],
    );
    // The fingerprint as openssl computes it, "SHA256 Fingerprint=AB:CD:...".
    let fp = openssl(
        dir,
        &["x509", "-in", &cert, "-noout", "-fingerprint", "-sha256"],
    );
    let sha256 = fp
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .replace(':', "")
        .to_lowercase();
    Made {
        cert: dir.join(cert).display().to_string(),
        key: dir.join(key).display().to_string(),
        sha256,
    }
}

/// nginx with TLS on the two ports, serving a page titled "monban tls lab".
fn nginx(ns: &str, dir: &Path, usual: &Made, odd: &Made) -> daemons::Daemon {
    let page =
        "location / { return 200 \"<html><head><title>monban tls lab</title></head></html>\\n\"; }";
    let servers = format!(
        "server {{\n    listen {USUAL_PORT} ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n\
         \x20   ssl_certificate {};\n    ssl_certificate_key {};\n    {page}\n  }}\n\
         \x20 server {{\n    listen {ODD_PORT} ssl;\n    ssl_protocols TLSv1.2;\n\
         \x20   ssl_certificate {};\n    ssl_certificate_key {};\n    {page}\n  }}",
        usual.cert, usual.key, odd.cert, odd.key
    );
    ok(daemons::nginx_with(ns, dir, &servers))
}

/// Reads the first bytes a client sends (the null probe sends none: then nothing
/// happens until it goes away), answers `reply`, then reads until the client goes away.
fn answer_then_drain(mut s: TcpStream, reply: &[u8]) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = [0u8; 4096];
    if !matches!(s.read(&mut buf), Ok(n) if n > 0) {
        return;
    }
    if s.write_all(reply).is_err() {
        return;
    }
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// Garbage that starts like a TLS alert.
fn garbage(s: TcpStream) {
    answer_then_drain(
        s,
        b"\x15\x03\x03\x00\x02\x02\x28\xff\xfe garbage, not TLS \x00\x01",
    );
}

/// The first bytes of a handshake record announcing 100 bytes, then a stall.
fn stall(s: TcpStream) {
    answer_then_drain(s, &[0x16, 0x03, 0x03, 0x00, 0x64, 0x02, 0x00, 0x00, 0x60]);
}

/// Handshake records of zeros, forever.
fn endless(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    if !matches!(s.read(&mut buf), Ok(n) if n > 0) {
        return;
    }
    let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00];
    record.resize(5 + 0x4000, 0);
    while s.write_all(&record).is_ok() {}
}

/// Binds `port` inside namespace `ns` and serves each connection with `handler` on its
/// own thread (sockets keep the namespace they were made in).
fn hostile_peer(ns: &str, port: u16, handler: fn(TcpStream)) {
    let listener = ok(monban_lab::in_namespace(ns, move || {
        TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
    }))
    .unwrap_or_else(|e| panic!("bind {port} in {ns}: {e}"));
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || handler(s));
        }
    });
}

fn by_port(results: &[ServiceResult], port: u16) -> &ServiceResult {
    results
        .iter()
        .find(|r| r.port == port)
        .unwrap_or_else(|| panic!("no result for {port}"))
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[test]
fn nginx_over_tls_and_hostile_tls_peers() {
    let lab = Lab::builder()
        .hosts(1)
        .build()
        .expect("the lab needs root, ip and nft (scripts/test.sh)");
    let host = lab.hosts()[0].clone();
    let ports = [USUAL_PORT, ODD_PORT, GARBAGE_PORT, STALL_PORT, ENDLESS_PORT];
    for port in ports {
        assert!(
            !host.open_ports().contains(&port),
            "lab already uses {port}"
        );
    }
    let dir = scratch();
    let usual = make_cert(
        &dir,
        "usual",
        "tls.monban.test",
        &["-newkey", "rsa:2048"],
        "20250101000000Z",
        "20350630235959Z",
    );
    // Ends after 2049: a GeneralizedTime.
    let odd = make_cert(
        &dir,
        "odd",
        "odd.monban.test",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "20240229120000Z",
        "20510101000000Z",
    );
    // Declared after `lab`, so nginx is killed before the namespaces go.
    let mut daemons = vec![(USUAL_PORT, nginx(&host.ns, &dir, &usual, &odd))];
    ok(daemons::wait_ready(&host.ns, &mut daemons, START_LIMIT));
    hostile_peer(&host.ns, GARBAGE_PORT, garbage);
    hostile_peer(&host.ns, STALL_PORT, stall);
    hostile_peer(&host.ns, ENDLESS_PORT, endless);

    let target = IpAddr::V4(host.v4);
    let targets: Vec<(IpAddr, u16)> = ports.iter().map(|&p| (target, p)).collect();
    let db = ProbeDb::builtin().expect("the embedded probe database");
    let opts = VersionOptions::default();
    let limits = opts.clone();
    let t = Instant::now();
    let results = ok(monban_lab::in_namespace(lab.scanner_ns(), move || {
        let stop = AtomicBool::new(false);
        detect(db, &targets, &opts, &stop)
    }))
    .expect("detection runs");
    let took = t.elapsed();
    eprintln!("TLS detection of {} ports took {took:?}", results.len());
    for r in &results {
        eprintln!(
            "  {}:{} {:?} tunnel={} tls={:?} tls_error={:?} after {} probes in {:?}",
            r.addr, r.port, r.service, r.in_tunnel, r.tls, r.tls_error, r.probes_sent, r.elapsed
        );
    }
    for (_, d) in daemons.iter_mut() {
        ok(d.check_alive());
    }

    let (nginx_version, _) = daemons::split_version(&ok(daemons::dpkg_version("nginx")));
    let s = |x: &str| Some(x.to_owned());
    for (port, made, cn, version, cipher, key, not_before, not_after) in [
        (
            USUAL_PORT,
            &usual,
            "tls.monban.test",
            "TLSv1.3",
            "TLS_AES_256_GCM_SHA384",
            "rsa 2048",
            "2025-01-01T00:00:00Z",
            "2035-06-30T23:59:59Z",
        ),
        (
            ODD_PORT,
            &odd,
            "odd.monban.test",
            "TLSv1.2",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "ec 384 (P-384)",
            "2024-02-29T12:00:00Z",
            "2051-01-01T00:00:00Z",
        ),
    ] {
        let r = by_port(&results, port);
        assert_eq!(r.error, None, "port {port}");
        let m = r.service.clone().unwrap_or_default();
        assert_eq!(
            (m.service, m.product, m.version, m.info, m.soft),
            (
                "http".to_owned(),
                s("nginx"),
                Some(nginx_version.clone()),
                s("title: monban tls lab"),
                false
            ),
            "port {port}"
        );
        assert!(r.in_tunnel, "port {port}");
        assert_eq!(r.tls_error, None);
        let tls = r.tls.clone().unwrap_or_else(|| panic!("no TLS on {port}"));
        assert_eq!(
            (tls.version.as_str(), tls.cipher.as_str()),
            (version, cipher)
        );
        assert_eq!(tls.cert_error, None);
        let cert = tls
            .cert
            .unwrap_or_else(|| panic!("no certificate on {port}"));
        assert_eq!(cert.subject, [pair("CN", cn), pair("O", "Monban Lab")]);
        assert_eq!(
            cert.issuer,
            [pair("CN", "Monban Lab CA"), pair("O", "Monban")]
        );
        assert_eq!(
            (cert.not_before.as_str(), cert.not_after.as_str()),
            (not_before, not_after)
        );
        assert_eq!(cert.alt_names, [format!("DNS:{cn}")]);
        assert_eq!(cert.key.as_deref(), Some(key));
        assert_eq!(cert.signature, "sha256WithRSAEncryption");
        assert_eq!(cert.sha256, made.sha256);
        assert!(
            r.elapsed < Duration::from_secs(3),
            "{port}: {:?}",
            r.elapsed
        );
    }

    // Hostile peers: a clear TLS error, no service, within the limits.
    let garbage = by_port(&results, GARBAGE_PORT);
    assert!(
        matches!(garbage.tls_error, Some(TlsError::Handshake(_))),
        "{:?}",
        garbage.tls_error
    );
    let stall = by_port(&results, STALL_PORT);
    assert_eq!(stall.tls_error, Some(TlsError::Timeout));
    let endless = by_port(&results, ENDLESS_PORT);
    assert!(
        matches!(endless.tls_error, Some(TlsError::Handshake(_))),
        "{:?}",
        endless.tls_error
    );
    // The garbage starts like a TLS alert, which the plain GET's reply rules call "ssl".
    let soft_ssl = garbage
        .service
        .as_ref()
        .map(|m| (m.service.as_str(), m.soft));
    assert_eq!(soft_ssl, Some(("ssl", true)));
    assert_eq!((&stall.service, &endless.service), (&None, &None));
    for r in [garbage, stall, endless] {
        assert_eq!(
            (&r.tls, r.in_tunnel, &r.error),
            (&None, false, &None),
            "port {}",
            r.port
        );
        // The null probe alone for the head start, then every other step side by side:
        // the handshake's wait bounds the stall, each probe's wait the rest.
        assert!(
            r.elapsed < limits.port_budget,
            "{}: {:?}",
            r.port,
            r.elapsed
        );
    }
    assert!(
        stall.elapsed >= limits.tls_wait
            && stall.elapsed < limits.head_start + limits.tls_wait + Duration::from_secs(1),
        "{:?}",
        stall.elapsed
    );
    assert!(took < limits.port_budget, "{took:?}");
    drop(daemons);
    let _ = std::fs::remove_dir_all(&dir);
}
