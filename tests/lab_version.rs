//! `monban scan -sS -sV` end to end: real daemons from Debian packages run in a lab
//! target's namespace; the JSON Lines and XML outputs must name product and version as
//! `dpkg-query` says they are installed, and the lab's silent listener on 22 must carry
//! no product.
//!
//! Needs root (the lab) and openssh-server, nginx and vsftpd (`scripts/test.sh`). The
//! daemons run in the foreground with configuration in a scratch directory and are killed
//! by pid when the test ends, also when it fails.

mod common;

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{lab, read, run, scratch};
use monban_lab::Lab;

/// How long a daemon may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(15);
/// Scan plus detection take seconds; the limit only catches a hang.
const SCAN_LIMIT: Duration = Duration::from_secs(120);

const SSH_PORT: u16 = 2222;
const HTTP_PORT: u16 = 8081;
const FTP_PORT: u16 = 2121;

/// A daemon running in a namespace; killed (TERM, then KILL) when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
    log: std::path::PathBuf,
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

/// The upstream part of an installed Debian package's version ("1:9.2p1-2+deb12u3" →
/// ("9.2p1", "2+deb12u3")).
fn dpkg_version(package: &str) -> (String, String) {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-query {package} failed");
    let full = String::from_utf8(out.stdout).unwrap();
    let no_epoch = full.split_once(':').map_or(full.as_str(), |(_, v)| v);
    let (upstream, revision) = no_epoch.rsplit_once('-').unwrap_or((no_epoch, ""));
    (upstream.to_owned(), revision.to_owned())
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

#[test]
fn scan_sv_names_products_and_versions_in_every_output() {
    let lab: Lab = lab(Lab::builder().hosts(1));
    let host = lab.hosts()[0].clone();
    assert!(host.open_ports().contains(&22));
    let dir = scratch("version");
    // Declared after `lab`, so the daemons are killed before the namespaces go.
    let mut daemons = vec![
        (SSH_PORT, start_sshd(&host.ns, &dir)),
        (HTTP_PORT, start_nginx(&host.ns, &dir)),
        (FTP_PORT, start_vsftpd(&host.ns, &dir)),
    ];
    wait_ready(&host.ns, &mut daemons);

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
        d.check_alive();
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
