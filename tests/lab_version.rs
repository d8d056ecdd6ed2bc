//! `monban scan -sS -sV` end to end: real daemons from Debian packages run in a lab
//! target's namespace; the JSON Lines and XML outputs must name service, product and
//! version as `dpkg-query` says they are installed, and the lab's listener on 22, which
//! accepts and closes without a word, must read `tcpwrapped` with no product.
//!
//! Daemons and what they reveal (each with a private configuration written by the test):
//! sshd, nginx, vsftpd, redis and memcached show their versions as shipped; Postfix shows
//! it because its smtpd_banner adds `$mail_version`; Dovecot shows it in its answer to IMAP
//! ID because `imap_id_send` asks for it (its POP3 greeting never does: product only);
//! PostgreSQL tells no version before login (product only); a vsftpd that cannot serve
//! greets with "500 OOPS" (product only); dnsmasq answers version.bind over TCP and UDP.
//!
//! `-sU -sV` then names dnsmasq's UDP side and snmpd, promoting the open|filtered SNMP
//! port to open when its probe is answered.
//!
//! Needs root (the lab) and the packages of `scripts/test.sh`. The daemons run in the
//! foreground and are stopped by pid when the test ends, also when it fails.

mod common;

use std::time::Duration;

use common::{lab, read, run, scratch};
use monban_lab::{daemons, Lab, Probe};
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
    // The lab's listener on 22 accepts and closes without a word: nmap's `tcpwrapped`.
    let (state, service, product, version) = row(22);
    assert_eq!(
        (state.as_str(), service, product, version),
        ("open", json!("tcpwrapped"), json!(null), json!(null))
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
    assert!(
        line22.contains("<service name=\"tcpwrapped\" method=\"probed\""),
        "{line22}"
    );
    assert!(!line22.contains("product="), "{line22}");

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

    // UDP: `-sU -sV` against the real dnsmasq and snmpd, the lab's silent UDP port and a
    // closed one. snmpd ignores the scan's empty datagram, so 1161 is open|filtered until
    // the SNMP probe of -sV gets an answer: then it is open, `udp-response`, as in nmap.
    let silent = monban_lab::UDP_SILENT[0];
    let closed_udp = 7;
    assert_eq!(host.truth_for(Probe::Udp, silent).0, "open|filtered");
    assert_eq!(host.truth_for(Probe::Udp, closed_udp).0, "closed");
    let ujson = dir.join("udp.jsonl");
    let uxml = dir.join("udp.xml");
    let uargs: Vec<String> = vec![
        "scan".into(),
        "-sU".into(),
        "-sV".into(),
        "-p".into(),
        format!("{DNS_PORT},{SNMP_PORT},{silent},{closed_udp}"),
        "-n".into(),
        "-Pn".into(),
        "--reason".into(),
        "--no-progress".into(),
        "-oJ".into(),
        ujson.display().to_string(),
        "-oX".into(),
        uxml.display().to_string(),
        target.clone(),
    ];
    let uran = run(&mut lab.scanner_cmd(common::MONBAN, &uargs), SCAN_LIMIT);
    eprintln!("{}\n-sU -sV took {:?}", uran.stdout, uran.elapsed);
    assert!(uran.status.success(), "{uran:?}");
    let body = read(&ujson);
    let host_event: serde_json::Value = body
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "host")
        .unwrap_or_else(|| panic!("no host event: {body}"));
    let urow = |port: u16| -> serde_json::Value {
        host_event["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["port"] == port && p["proto"] == "udp")
            .unwrap_or_else(|| panic!("{port}/udp missing: {body}"))
            .clone()
    };
    let pick = |p: &serde_json::Value| {
        json!([
            p["state"],
            p["reason"],
            p["service"],
            p["product"],
            p["version"]
        ])
    };
    assert_eq!(
        pick(&urow(DNS_PORT)),
        json!(["open", "udp-response", "domain", "dnsmasq", dnsmasq_version])
    );
    let snmp = urow(SNMP_PORT);
    // net-snmp's sysDescr is the target's uname: kernel release and host name as the
    // namespace sees them (Linux, the machine's node name); no agent version.
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
        pick(&snmp),
        json!(["open", "udp-response", "snmp", "net-snmp", null])
    );
    assert_eq!(
        (&snmp["hostname"], &snmp["os"]),
        (&json!(node), &json!("Linux"))
    );
    let info = snmp["info"].as_str().unwrap_or_default();
    assert!(
        info.starts_with(&format!("Linux {node} {release} ")),
        "sysDescr {info:?} does not name {node} {release}"
    );
    assert_eq!(
        pick(&urow(silent)),
        json!(["open|filtered", "no-response", null, null, null])
    );
    assert_eq!(
        pick(&urow(closed_udp)),
        // The name from the port table; nothing was probed.
        json!(["closed", "port-unreach", "echo", null, null])
    );
    // The same in XML and on the terminal.
    let x = read(&uxml);
    let xline = |port: u16| {
        x.lines()
            .find(|l| l.contains(&format!("protocol=\"udp\" portid=\"{port}\"")))
            .unwrap_or_else(|| panic!("no {port}/udp in {x}"))
            .to_owned()
    };
    assert!(
        xline(DNS_PORT).contains(&format!(
            "<service name=\"domain\" product=\"dnsmasq\" version=\"{dnsmasq_version}\""
        )),
        "{}",
        xline(DNS_PORT)
    );
    assert!(
        xline(SNMP_PORT).contains("<state state=\"open\" reason=\"udp-response\""),
        "{}",
        xline(SNMP_PORT)
    );
    assert!(
        xline(SNMP_PORT).contains("<service name=\"snmp\" product=\"net-snmp\""),
        "{}",
        xline(SNMP_PORT)
    );
    let tline = |port: u16| -> String {
        let start = format!("{port}/udp ");
        uran.stdout
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no {start}line in {}", uran.stdout))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // (--reason adds the reply's TTL.)
    let dns_line = tline(DNS_PORT);
    assert!(
        dns_line.starts_with(&format!("{DNS_PORT}/udp open domain udp-response"))
            && dns_line.ends_with(&format!(" dnsmasq {dnsmasq_version}")),
        "{dns_line}"
    );
}
