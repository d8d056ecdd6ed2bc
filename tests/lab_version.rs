//! `monban scan -sS -sV` end to end: real daemons from Debian packages run in a lab
//! target's namespace; the JSON Lines and XML outputs must name service, product and
//! version as `dpkg-query` says they are installed, and the lab's silent listener on 22
//! must carry no product.
//!
//! Daemons and what they reveal (each with a private configuration written by the test):
//! sshd, nginx, vsftpd, redis and memcached show their versions as shipped; Postfix shows
//! it because its smtpd_banner adds `$mail_version`; Dovecot shows it in its answer to IMAP
//! ID because `imap_id_send` asks for it (its POP3 greeting never does: product only);
//! PostgreSQL tells no version before login (product only); a vsftpd that cannot serve
//! greets with "500 OOPS" (product only); dnsmasq answers version.bind over TCP and UDP.
//!
//! `-sV` probes TCP only, so the UDP services (dnsmasq's UDP side, snmpd) are checked by
//! sending the probe database's own UDP probes from the scanner's namespace and matching
//! the real replies with the same database.
//!
//! Needs root (the lab) and the packages of `scripts/test.sh`. The daemons run in the
//! foreground and are stopped by pid when the test ends, also when it fails.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::{lab, read, run, scratch};
use monban_lab::{daemons, Lab};
use monban_probes::{ProbeDb, ServiceMatch};
use serde_json::json;

/// How long all daemons together may take to serve.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Scan plus detection take seconds; the limit only catches a hang.
const SCAN_LIMIT: Duration = Duration::from_secs(120);

const SSH_PORT: u16 = 2222;
const HTTP_PORT: u16 = 8081;
const FTP_PORT: u16 = 2121;
const FTP_OOPS_PORT: u16 = 2100;
const SMTP_PORT: u16 = 25;
const POP3_PORT: u16 = 110;
const IMAP_PORT: u16 = 143;
const PG_PORT: u16 = 5432;
const REDIS_PORT: u16 = 6379;
const MEMCACHED_PORT: u16 = 11211;
/// dnsmasq, TCP and UDP: the lab's own UDP listener holds 53.
const DNS_PORT: u16 = 5353;
/// snmpd: the lab's own UDP listener holds 161.
const SNMP_PORT: u16 = 1161;
/// The community snmpd serves, the one the SNMP probe tries.
const COMMUNITY: &str = "public";

/// Fails the test with the lab's own explanation.
fn ok<T>(r: Result<T, monban_lab::LabError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// (upstream version, Debian revision) of an installed package.
fn dpkg_version(package: &str) -> (String, String) {
    daemons::split_version(&ok(daemons::dpkg_version(package)))
}

/// An upstream version without Debian's repack suffix (`2.3.19.1+dfsg1` → `2.3.19.1`):
/// what the program itself reports.
fn without_repack(upstream: &str) -> String {
    ["+dfsg", "+ds"]
        .iter()
        .find_map(|s| upstream.split_once(s).map(|(v, _)| v.to_owned()))
        .unwrap_or_else(|| upstream.to_owned())
}

/// What one port must show: service, product, version (None where the daemon hides it).
struct Want {
    port: u16,
    service: &'static str,
    product: &'static str,
    version: Option<String>,
}

fn want(port: u16, service: &'static str, product: &'static str, version: Option<String>) -> Want {
    Want {
        port,
        service,
        product,
        version,
    }
}

/// Sends the UDP probe `probe` from the scanner's namespace to `target:port` and matches
/// the first answer (within the probe's wait) with the probe database.
fn udp_identify(lab: &Lab, probe: &str, target: IpAddr, port: u16) -> Option<ServiceMatch> {
    let db = ProbeDb::builtin().unwrap_or_else(|e| panic!("probe database: {e}"));
    let p = db
        .probe(probe)
        .unwrap_or_else(|| panic!("no probe {probe}"));
    let payload = p.payload().to_vec();
    let wait = p.wait();
    let reply = ok(monban_lab::in_namespace(lab.scanner_ns(), move || {
        let any: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        let s = UdpSocket::bind(any).unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        s.connect((target, port)).unwrap();
        s.send(&payload).unwrap();
        let mut buf = vec![0u8; 65536];
        let n = s.recv(&mut buf).unwrap_or(0);
        buf.truncate(n);
        buf
    }));
    assert!(
        !reply.is_empty(),
        "{probe}: no answer from {target}:{port}/udp"
    );
    db.identify(p, &reply)
}

#[test]
fn scan_sv_names_products_and_versions_in_every_output() {
    let lab: Lab = lab(Lab::builder().hosts(1));
    let host = lab.hosts()[0].clone();
    assert!(host.open_ports().contains(&22));
    let dir = scratch("version");
    let ns = host.ns.as_str();
    // Declared after `lab`, so the daemons are stopped before the namespaces go.
    let mut daemons = vec![
        (SSH_PORT, ok(daemons::sshd(ns, &dir, SSH_PORT))),
        (HTTP_PORT, ok(daemons::nginx(ns, &dir, HTTP_PORT))),
        (FTP_PORT, ok(daemons::vsftpd(ns, &dir, FTP_PORT))),
        (
            FTP_OOPS_PORT,
            ok(daemons::vsftpd_oops(ns, &dir, FTP_OOPS_PORT)),
        ),
        (SMTP_PORT, ok(daemons::postfix(ns, &dir, SMTP_PORT))),
        (
            IMAP_PORT,
            ok(daemons::dovecot(ns, &dir, IMAP_PORT, POP3_PORT)),
        ),
        (PG_PORT, ok(daemons::postgresql(ns, &dir, PG_PORT))),
        (REDIS_PORT, ok(daemons::redis(ns, &dir, REDIS_PORT))),
        (
            MEMCACHED_PORT,
            ok(daemons::memcached(ns, &dir, MEMCACHED_PORT)),
        ),
        (DNS_PORT, ok(daemons::dnsmasq(ns, &dir, DNS_PORT))),
        (
            SNMP_PORT,
            ok(daemons::snmpd(ns, &dir, SNMP_PORT, COMMUNITY)),
        ),
    ];
    ok(daemons::wait_ready(ns, &mut daemons, START_LIMIT));

    let (ssh_version, ssh_revision) = dpkg_version("openssh-server");
    let (dovecot_version, _) = dpkg_version("dovecot-core");
    let (dnsmasq_version, _) = dpkg_version("dnsmasq-base");
    let v = |package: &str| Some(dpkg_version(package).0);
    let wants = [
        want(SSH_PORT, "ssh", "OpenSSH", Some(ssh_version.clone())),
        want(HTTP_PORT, "http", "nginx", v("nginx")),
        want(FTP_PORT, "ftp", "vsftpd", v("vsftpd")),
        // vsftpd's error greeting has no version.
        want(FTP_OOPS_PORT, "ftp", "vsftpd", None),
        want(SMTP_PORT, "smtp", "Postfix smtpd", v("postfix")),
        want(
            IMAP_PORT,
            "imap",
            "Dovecot imapd",
            Some(without_repack(&dovecot_version)),
        ),
        // Dovecot's POP3 side never names its version.
        want(POP3_PORT, "pop3", "Dovecot pop3d", None),
        // PostgreSQL names no version before login; no setting changes that.
        want(PG_PORT, "postgresql", "PostgreSQL DB", None),
        want(
            REDIS_PORT,
            "redis",
            "Redis key-value store",
            v("redis-server"),
        ),
        want(MEMCACHED_PORT, "memcache", "memcached", v("memcached")),
        want(DNS_PORT, "domain", "dnsmasq", Some(dnsmasq_version.clone())),
    ];

    let json = dir.join("out.jsonl");
    let xml = dir.join("out.xml");
    let target = host.v4.to_string();
    let mut ports: Vec<String> = wants.iter().map(|w| w.port.to_string()).collect();
    ports.push("22".into());
    let mut args: Vec<String> = ["scan", "-sS", "-sV", "-p"].map(String::from).to_vec();
    args.push(ports.join(","));
    args.extend(["-n", "-Pn", "--no-progress", "-oJ"].map(String::from));
    args.push(json.display().to_string());
    args.push("-oX".into());
    args.push(xml.display().to_string());
    args.push(target.clone());
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), SCAN_LIMIT);
    eprintln!(
        "{}\n-sS -sV over {} ports took {:?}",
        ran.stdout,
        ports.len(),
        ran.elapsed
    );
    assert!(ran.status.success(), "{ran:?}");
    for (_, d) in daemons.iter_mut() {
        ok(d.check_alive());
    }

    let body = read(&json);
    let events: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hosts: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "host").collect();
    assert_eq!(hosts.len(), 1, "{body}");
    let rows = hosts[0]["ports"].as_array().unwrap();
    let row = |port: u16| {
        let p = rows
            .iter()
            .find(|p| p["port"] == port)
            .unwrap_or_else(|| panic!("port {port} missing: {body}"));
        (
            p["state"].as_str().unwrap_or("").to_owned(),
            p["service"].clone(),
            p["product"].clone(),
            p["version"].clone(),
        )
    };
    let mut wrong = Vec::new();
    for w in &wants {
        let expected = (
            "open".to_owned(),
            json!(w.service),
            json!(w.product),
            json!(w.version),
        );
        let got = row(w.port);
        if got != expected {
            wrong.push(format!("port {}: got {got:?}, want {expected:?}", w.port));
        }
    }
    assert!(wrong.is_empty(), "{}\n{body}", wrong.join("\n"));
    let smtp = rows.iter().find(|p| p["port"] == SMTP_PORT).unwrap();
    assert_eq!(smtp["hostname"], json!(daemons::POSTFIX_HOSTNAME));
    let (state, _, product, version) = row(22);
    assert_eq!(
        (state.as_str(), product, version),
        ("open", json!(null), json!(null))
    );

    // XML: the same, as nmap writes it.
    let x = read(&xml);
    for w in &wants {
        let line = x
            .lines()
            .find(|l| l.contains(&format!("portid=\"{}\"", w.port)))
            .unwrap_or_else(|| panic!("no port {} in {x}", w.port));
        let mut elem = format!("<service name=\"{}\" product=\"{}\"", w.service, w.product);
        match &w.version {
            Some(v) => elem.push_str(&format!(" version=\"{v}\"")),
            None => assert!(!line.contains(" version="), "{line}"),
        }
        assert!(line.contains(&elem), "{line} lacks {elem}");
        assert!(line.contains("method=\"probed\" conf=\"10\""), "{line}");
    }
    let line22 = x.lines().find(|l| l.contains("portid=\"22\"")).unwrap();
    assert!(!line22.contains("product="), "{line22}");
    assert!(!line22.contains("method=\"probed\""), "{line22}");

    // The terminal output has the VERSION column with the same text.
    assert!(ran.stdout.contains("VERSION"), "{}", ran.stdout);
    let line = |port: u16| -> String {
        let start = format!("{port}/tcp ");
        let l = ran
            .stdout
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no {start}line in {}", ran.stdout));
        l.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    for w in &wants {
        let mut text = format!("{}/tcp open {} {}", w.port, w.service, w.product);
        if let Some(v) = &w.version {
            text = format!("{text} {v}");
        }
        assert!(
            line(w.port).starts_with(&text),
            "{} vs {text}",
            line(w.port)
        );
    }
    assert_eq!(
        line(SSH_PORT),
        format!(
            "{SSH_PORT}/tcp open ssh OpenSSH {ssh_version} (Debian {ssh_revision}; protocol 2.0)"
        )
    );

    // UDP: the probe database's UDP probes against the real dnsmasq and snmpd.
    let addr = IpAddr::V4(host.v4);
    let dns = udp_identify(&lab, "DNSVersionBind", addr, DNS_PORT).unwrap();
    assert_eq!(
        (dns.service.as_str(), dns.product.as_deref(), dns.version),
        ("domain", Some("dnsmasq"), Some(dnsmasq_version))
    );
    // net-snmp's sysDescr is the target's uname: kernel release and host name as the
    // namespace sees them (Linux, the machine's node name); no agent version.
    let snmp = udp_identify(&lab, "SNMPv1GetRequest", addr, SNMP_PORT).unwrap();
    let uname = |flag: &str| {
        let out = std::process::Command::new("uname")
            .arg(flag)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let node = uname("-n");
    let release = uname("-r");
    assert_eq!(
        (
            snmp.service.as_str(),
            snmp.product.as_deref(),
            snmp.version.as_deref(),
            snmp.hostname.as_deref(),
            snmp.os.as_deref(),
            snmp.soft
        ),
        (
            "snmp",
            Some("net-snmp"),
            None,
            Some(node.as_str()),
            Some("Linux"),
            false
        )
    );
    let info = snmp.info.unwrap_or_default();
    assert!(
        info.starts_with(&format!("Linux {node} {release} ")),
        "sysDescr {info:?} does not name {node} {release}"
    );
}
