//! `monban scan -sS -sV` end to end: real daemons from Debian packages run in a lab
//! target's namespace; the JSON Lines and XML outputs must name product and version as
//! `dpkg-query` says they are installed, and the lab's silent listener on 22 must carry
//! no product.
//!
//! Needs root (the lab) and openssh-server, nginx and vsftpd (`scripts/test.sh`). The
//! daemons run in the foreground with configuration in a scratch directory and are killed
//! by pid when the test ends, also when it fails.

mod common;

use std::time::Duration;

use common::{lab, read, run, scratch};
use monban_lab::{daemons, Lab};

/// How long a daemon may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(15);
/// Scan plus detection take seconds; the limit only catches a hang.
const SCAN_LIMIT: Duration = Duration::from_secs(120);

const SSH_PORT: u16 = 2222;
const HTTP_PORT: u16 = 8081;
const FTP_PORT: u16 = 2121;

/// Fails the test with the lab's own explanation.
fn ok<T>(r: Result<T, monban_lab::LabError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// (upstream version, Debian revision) of an installed package.
fn dpkg_version(package: &str) -> (String, String) {
    daemons::split_version(&ok(daemons::dpkg_version(package)))
}

#[test]
fn scan_sv_names_products_and_versions_in_every_output() {
    let lab: Lab = lab(Lab::builder().hosts(1));
    let host = lab.hosts()[0].clone();
    assert!(host.open_ports().contains(&22));
    let dir = scratch("version");
    // Declared after `lab`, so the daemons are killed before the namespaces go.
    let mut daemons = vec![
        (SSH_PORT, ok(daemons::sshd(&host.ns, &dir, SSH_PORT))),
        (HTTP_PORT, ok(daemons::nginx(&host.ns, &dir, HTTP_PORT))),
        (FTP_PORT, ok(daemons::vsftpd(&host.ns, &dir, FTP_PORT))),
    ];
    ok(daemons::wait_ready(&host.ns, &mut daemons, START_LIMIT));

    let json = dir.join("out.jsonl");
    let xml = dir.join("out.xml");
    let target = host.v4.to_string();
    let args = [
        "scan",
        "-sS",
        "-sV",
        "-p",
        "2222,2121,8081,22",
        "-n",
        "-Pn",
        "--no-progress",
        "-oJ",
    ];
    let mut args: Vec<String> = args.map(String::from).to_vec();
    args.push(json.display().to_string());
    args.push("-oX".into());
    args.push(xml.display().to_string());
    args.push(target.clone());
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), SCAN_LIMIT);
    eprintln!("{}", ran.stdout);
    assert!(ran.status.success(), "{ran:?}");
    for (_, d) in daemons.iter_mut() {
        ok(d.check_alive());
    }

    let (ssh_version, ssh_revision) = dpkg_version("openssh-server");
    let (nginx_version, _) = dpkg_version("nginx");
    let (vsftpd_version, _) = dpkg_version("vsftpd");

    let body = read(&json);
    let events: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hosts: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "host").collect();
    assert_eq!(hosts.len(), 1, "{body}");
    let ports = hosts[0]["ports"].as_array().unwrap();
    let row = |port: u16| {
        let p = ports
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
    use serde_json::json;
    assert_eq!(
        row(SSH_PORT),
        (
            "open".into(),
            json!("ssh"),
            json!("OpenSSH"),
            json!(ssh_version)
        )
    );
    assert_eq!(
        row(HTTP_PORT),
        (
            "open".into(),
            json!("http"),
            json!("nginx"),
            json!(nginx_version)
        )
    );
    assert_eq!(
        row(FTP_PORT),
        (
            "open".into(),
            json!("ftp"),
            json!("vsftpd"),
            json!(vsftpd_version)
        )
    );
    let (state, _, product, version) = row(22);
    assert_eq!(
        (state.as_str(), product, version),
        ("open", json!(null), json!(null))
    );
    let ssh = ports.iter().find(|p| p["port"] == SSH_PORT).unwrap();
    assert_eq!(
        ssh["info"],
        json!(format!("Debian {ssh_revision}; protocol 2.0"))
    );
    assert_eq!(ssh["os"], json!("Linux"));

    let x = read(&xml);
    for (port, elem) in [
        (
            SSH_PORT,
            format!(
                "<service name=\"ssh\" product=\"OpenSSH\" version=\"{ssh_version}\" \
                 extrainfo=\"Debian {ssh_revision}; protocol 2.0\" ostype=\"Linux\" method=\"probed\" conf=\"10\""
            ),
        ),
        (
            HTTP_PORT,
            format!("<service name=\"http\" product=\"nginx\" version=\"{nginx_version}\""),
        ),
        (
            FTP_PORT,
            format!("<service name=\"ftp\" product=\"vsftpd\" version=\"{vsftpd_version}\""),
        ),
    ] {
        let line = x
            .lines()
            .find(|l| l.contains(&format!("portid=\"{port}\"")))
            .unwrap_or_else(|| panic!("no port {port} in {x}"));
        assert!(line.contains(&elem), "{line} lacks {elem}");
        assert!(line.contains("method=\"probed\""), "{line}");
    }
    let line22 = x.lines().find(|l| l.contains("portid=\"22\"")).unwrap();
    assert!(!line22.contains("product="), "{line22}");
    assert!(!line22.contains("method=\"probed\""), "{line22}");

    // The terminal output has the VERSION column with the same text.
    assert!(ran.stdout.contains("VERSION"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains(&format!(
            "ssh     OpenSSH {ssh_version} (Debian {ssh_revision}; protocol 2.0)"
        )),
        "{}",
        ran.stdout
    );
}
