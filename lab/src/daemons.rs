//! Real servers from Debian packages, run inside a lab target's namespace.
//!
//! Version-detection tests probe real daemons (sshd, nginx, vsftpd, redis, memcached,
//! Postfix, Dovecot, PostgreSQL, dnsmasq, net-snmp) and compare what they find with what
//! `dpkg-query` says is installed. Each daemon runs in the foreground (no systemd, no
//! system configuration: everything it reads is written into a scratch directory by the
//! test), on a port the lab's own listeners do not use, and is stopped by pid when its
//! [`Daemon`] is dropped — also when the test fails. [`wait_ready`] waits for each daemon's
//! own sign of life (a connect, its greeting, a UDP answer), never a fixed sleep. Nothing
//! is installed here: `scripts/test.sh` installs the packages, and a missing program is a
//! [`LabError::DaemonMissing`] that names the package.

use crate::{cmd, LabError};
use std::fs;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How [`wait_ready`] tells that a daemon serves, from inside its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// A TCP connect to its port succeeds.
    Connect,
    /// Its TCP greeting contains these bytes (a daemon may accept before it can serve:
    /// Dovecot first says it waits for its authentication process).
    Greeting(&'static [u8]),
    /// This UDP datagram sent to its port draws an answer.
    UdpAnswer(Vec<u8>),
}

/// A daemon running in a namespace; stopped (its stop signal, then KILL) when dropped.
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
    ready: Ready,
    stop_signal: i32,
}

impl Daemon {
    /// Starts `program` with `args` inside namespace `ns`, its output logged in `dir`.
    /// `package` names the Debian package that provides the program.
    pub fn start(
        name: &'static str,
        package: &'static str,
        ns: &str,
        dir: &Path,
        program: &str,
        args: &[&str],
    ) -> Result<Daemon, LabError> {
        if !Path::new(program).exists() {
            return Err(LabError::DaemonMissing {
                program: program.to_owned(),
                package,
            });
        }
        let log = dir.join(format!("{name}.log"));
        let io_err = |source| LabError::Spawn {
            command: format!("{program} (log {})", log.display()),
            source,
        };
        let out = fs::File::create(&log).map_err(io_err)?;
        let err = out.try_clone().map_err(io_err)?;
        // `ip netns exec` execs the program, so the child's pid is the daemon's.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: format!("ip netns exec {ns} {program}"),
                source,
            })?;
        Ok(Daemon {
            name,
            child,
            log,
            ready: Ready::Connect,
            stop_signal: libc::SIGTERM,
        })
    }

    /// The same daemon, checked by [`wait_ready`] with `ready` instead of a TCP connect.
    pub fn with_ready(mut self, ready: Ready) -> Daemon {
        self.ready = ready;
        self
    }

    /// The same daemon, stopped with `signal` instead of SIGTERM when dropped.
    pub fn with_stop_signal(mut self, signal: i32) -> Daemon {
        self.stop_signal = signal;
        self
    }

    /// The daemon's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What [`wait_ready`] waits for.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// What the daemon has written to its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An error carrying the daemon's log if it has exited.
    pub fn check_alive(&mut self) -> Result<(), LabError> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(LabError::DaemonExited {
                name: self.name,
                status: status.to_string(),
                log: fs::read_to_string(&self.log).unwrap_or_default(),
            });
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, self.stop_signal) };
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

/// The installed version of a Debian package, e.g. `1:9.2p1-2+deb12u3`.
pub fn dpkg_version(package: &str) -> Result<String, LabError> {
    cmd::run("dpkg-query", &["-W", "-f=${Version}", package], None).map(|v| v.trim().to_owned())
}

/// `"1:9.2p1-2+deb12u3"` → `("9.2p1", "2+deb12u3")`: without the epoch, split at the
/// last `-` into upstream version and Debian revision.
pub fn split_version(full: &str) -> (String, String) {
    let no_epoch = full.split_once(':').map_or(full, |(_, v)| v);
    let (upstream, revision) = no_epoch.rsplit_once('-').unwrap_or((no_epoch, ""));
    (upstream.to_owned(), revision.to_owned())
}

fn write(path: &Path, text: &str) -> Result<String, LabError> {
    fs::write(path, text).map_err(|source| LabError::Spawn {
        command: format!("write {}", path.display()),
        source,
    })?;
    Ok(path.display().to_string())
}

/// OpenSSH's sshd on `port`, with a host key generated into `dir`.
pub fn sshd(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    let key = dir.join("ssh_host_ed25519_key");
    let keygen = format!("ssh-keygen -t ed25519 -f {}", key.display());
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .map_err(|source| LabError::Spawn {
            command: keygen.clone(),
            source,
        })?;
    if !status.success() {
        return Err(LabError::Command {
            command: keygen,
            status: status.to_string(),
            stderr: String::new(),
        });
    }
    // sshd's privilege-separation directory is compiled in; systemd usually makes it.
    fs::create_dir_all("/run/sshd").map_err(|source| LabError::Spawn {
        command: "mkdir /run/sshd".into(),
        source,
    })?;
    let cfg = write(
        &dir.join("sshd_config"),
        &format!(
            "Port {port}\nHostKey {}\nPidFile none\nUsePAM no\n",
            key.display()
        ),
    )?;
    let args = ["-D", "-e", "-f", cfg.as_str()];
    Daemon::start("sshd", "openssh-server", ns, dir, "/usr/sbin/sshd", &args)
}

/// nginx on `port`, serving a page titled "monban lab".
pub fn nginx(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    nginx_with(
        ns,
        dir,
        &format!(
            "server {{\n    listen {port};\n\
             \x20   location / {{ return 200 \"<html><head><title>monban lab</title></head></html>\\n\"; }}\n\
             \x20 }}"
        ),
    )
}

/// nginx in the foreground with everything it writes in `dir`, serving the `server { ... }`
/// blocks of `servers` (TLS servers name their certificate files there).
pub fn nginx_with(ns: &str, dir: &Path, servers: &str) -> Result<Daemon, LabError> {
    let d = dir.display();
    let cfg = write(
        &dir.join("nginx.conf"),
        &format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  default_type text/html;\n\
             \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             \x20 scgi_temp_path {d}/scgi;\n  {servers}\n}}\n"
        ),
    )?;
    let err = format!("{d}/nginx-error.log");
    let prefix = format!("{d}/");
    let args = [
        "-p",
        prefix.as_str(),
        "-e",
        err.as_str(),
        "-c",
        cfg.as_str(),
    ];
    Daemon::start("nginx", "nginx", ns, dir, "/usr/sbin/nginx", &args)
}

/// vsftpd on `port`: anonymous, read-only, in an empty root (vsftpd refuses to run with
/// no way to log in).
pub fn vsftpd(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    vsftpd_with(ns, dir, port, &[])
}

/// [`vsftpd`] with `extra` configuration lines (`port_promiscuous=YES`, ...) after ours.
pub fn vsftpd_with(ns: &str, dir: &Path, port: u16, extra: &[&str]) -> Result<Daemon, LabError> {
    let root = dir.join("ftproot");
    fs::create_dir_all(&root).map_err(|source| LabError::Spawn {
        command: format!("mkdir {}", root.display()),
        source,
    })?;
    let cfg = write(
        &dir.join("vsftpd.conf"),
        &format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=YES\nanon_root={}\nwrite_enable=NO\nlocal_enable=NO\n\
             seccomp_sandbox=NO\nsecure_chroot_dir=/var/run/vsftpd/empty\nxferlog_enable=NO\n{}",
            root.display(),
            extra.iter().map(|l| format!("{l}\n")).collect::<String>()
        ),
    )?;
    Daemon::start(
        "vsftpd",
        "vsftpd",
        ns,
        dir,
        "/usr/sbin/vsftpd",
        &[cfg.as_str()],
    )
}

/// redis-server on `port`, no persistence, reachable from other hosts.
pub fn redis(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    let port = port.to_string();
    let d = dir.display().to_string();
    let args = [
        "--port",
        port.as_str(),
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
        d.as_str(),
    ];
    Daemon::start(
        "redis-server",
        "redis-server",
        ns,
        dir,
        "/usr/bin/redis-server",
        &args,
    )
}

/// memcached on TCP `port` (UDP off).
pub fn memcached(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    let port = port.to_string();
    let args = [
        "-p",
        port.as_str(),
        "-U",
        "0",
        "-u",
        "root",
        "-l",
        "0.0.0.0",
    ];
    Daemon::start(
        "memcached",
        "memcached",
        ns,
        dir,
        "/usr/bin/memcached",
        &args,
    )
}

/// Creates `path` and its parents.
fn mkdir(path: &Path) -> Result<(), LabError> {
    fs::create_dir_all(path).map_err(|source| LabError::Spawn {
        command: format!("mkdir -p {}", path.display()),
        source,
    })
}

/// Gives `path` to `user` (`chown -R`): daemons that drop privileges write there.
fn chown(user: &str, path: &Path) -> Result<(), LabError> {
    let path = path.display().to_string();
    cmd::run("chown", &["-R", user, path.as_str()], None).map(|_| ())
}

/// vsftpd on `port` that cannot serve: its `secure_chroot_dir` does not exist, so every
/// connection gets vsftpd's own "500 OOPS: ..." greeting and is closed.
pub fn vsftpd_oops(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    let root = dir.join("ftproot-oops");
    mkdir(&root)?;
    let cfg = write(
        &dir.join("vsftpd-oops.conf"),
        &format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=YES\nanon_root={}\nwrite_enable=NO\nlocal_enable=NO\n\
             seccomp_sandbox=NO\nsecure_chroot_dir={}\nxferlog_enable=NO\n",
            root.display(),
            dir.join("no-such-dir").display()
        ),
    )?;
    Ok(Daemon::start(
        "vsftpd-oops",
        "vsftpd",
        ns,
        dir,
        "/usr/sbin/vsftpd",
        &[cfg.as_str()],
    )?
    .with_ready(Ready::Greeting(b"500 OOPS: ")))
}

/// The smtpd banner [`postfix`] configures: Debian's default with `$mail_version` added,
/// so the greeting names the version (`220 mail.lab.monban ESMTP Postfix 3.7.11
/// (Debian/GNU)`).
pub const POSTFIX_BANNER: &str = "$myhostname ESMTP $mail_name $mail_version (Debian/GNU)";

/// The host name [`postfix`] announces.
pub const POSTFIX_HOSTNAME: &str = "mail.lab.monban";

/// Postfix's master on `port` (IPv4 and IPv6) with only the services smtpd needs to greet,
/// its queue in `dir`, logging to its own output, and [`POSTFIX_BANNER`]. Delivers nothing
/// (no local domains, no relay).
pub fn postfix(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    let conf = dir.join("postfix");
    let spool = conf.join("spool");
    let data = conf.join("data");
    for d in ["pid", "public", "private"] {
        mkdir(&spool.join(d))?;
    }
    mkdir(&data)?;
    chown("postfix", &spool.join("public"))?;
    chown("postfix", &spool.join("private"))?;
    chown("postfix", &data)?;
    write(
        &conf.join("main.cf"),
        &format!(
            "compatibility_level = 3.6\nqueue_directory = {}\ndata_directory = {}\n\
             mail_owner = postfix\nmyhostname = {POSTFIX_HOSTNAME}\nmydestination =\n\
             relayhost =\nmynetworks = 127.0.0.0/8\ninet_interfaces = all\n\
             inet_protocols = all\nsmtpd_banner = {POSTFIX_BANNER}\n\
             maillog_file = /dev/stdout\n",
            spool.display(),
            data.display()
        ),
    )?;
    write(
        &conf.join("master.cf"),
        &format!(
            "{port} inet n - n - - smtpd\n\
             anvil unix - - n - 1 anvil\n\
             cleanup unix n - n - 0 cleanup\n\
             rewrite unix - - n - - trivial-rewrite\n\
             proxymap unix - - n - - proxymap\n\
             postlog unix-dgram n - n - 1 postlogd\n"
        ),
    )?;
    let conf = conf.display().to_string();
    // -s: stay in the foreground and keep stdout (maillog_file) open.
    let args = ["-c", conf.as_str(), "-s"];
    Ok(Daemon::start(
        "postfix",
        "postfix",
        ns,
        dir,
        "/usr/lib/postfix/sbin/master",
        &args,
    )?
    .with_ready(Ready::Greeting(b"220 ")))
}

/// Dovecot with IMAP on `imap_port` and POP3 on `pop3_port` (IPv4 and IPv6, plain text, no
/// TLS), one static user, and `imap_id_send = "name" * "version" *` so that its answer to
/// IMAP ID names its version (the greetings never do).
pub fn dovecot(ns: &str, dir: &Path, imap_port: u16, pop3_port: u16) -> Result<Daemon, LabError> {
    let base = dir.join("dovecot");
    let home = base.join("home");
    mkdir(&home)?;
    let b = base.display();
    let cfg = write(
        &base.join("dovecot.conf"),
        &format!(
            "base_dir = {b}/run\nstate_dir = {b}/state\nprotocols = imap pop3\n\
             listen = *, ::\nlog_path = /dev/stderr\nssl = no\nauth_mechanisms = plain\n\
             passdb {{\n  driver = static\n  args = password=monban-lab\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={h}\n}}\n\
             mail_location = maildir:{h}/mail\n\
             imap_id_send = \"name\" * \"version\" *\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap_port}\n  }}\n\
             \x20 inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = {pop3_port}\n  }}\n\
             \x20 inet_listener pop3s {{\n    port = 0\n  }}\n}}\n",
            h = home.display()
        ),
    )?;
    let args = ["-F", "-c", cfg.as_str()];
    Ok(Daemon::start(
        "dovecot",
        "dovecot-core",
        ns,
        dir,
        "/usr/sbin/dovecot",
        &args,
    )?
    .with_ready(Ready::Greeting(b" ready.\r\n")))
}

/// The newest installed PostgreSQL server: its `postgres` program and its Debian package
/// (`postgresql-15`).
pub fn postgresql_install() -> Result<(PathBuf, String), LabError> {
    let missing = || LabError::DaemonMissing {
        program: "/usr/lib/postgresql/<major>/bin/postgres".into(),
        package: "postgresql",
    };
    let majors = fs::read_dir("/usr/lib/postgresql").map_err(|_| missing())?;
    let newest = majors
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|m| Path::new(&format!("/usr/lib/postgresql/{m}/bin/postgres")).exists())
        .max()
        .ok_or_else(missing)?;
    Ok((
        PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin")),
        format!("postgresql-{newest}"),
    ))
}

/// A PostgreSQL cluster made by `initdb` in `dir`, serving on `port` (IPv4 and IPv6) as
/// the `postgres` user. Every login is refused (`pg_hba` method `reject`): the probes
/// never log in. Stopped with SIGINT (fast shutdown: open sessions do not delay it).
pub fn postgresql(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    let (bin, _) = postgresql_install()?;
    let base = dir.join("postgresql");
    mkdir(&base)?;
    chown("postgres", &base)?;
    let data = base.join("data");
    let data_s = data.display().to_string();
    let initdb = bin.join("initdb").display().to_string();
    cmd::run(
        "setpriv",
        &[
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            initdb.as_str(),
            "-D",
            data_s.as_str(),
            "-U",
            "postgres",
            "-A",
            "reject",
            "--no-sync",
            "--no-instructions",
        ],
        None,
    )?;
    let postgres = bin.join("postgres").display().to_string();
    let port_s = port.to_string();
    let socket_dir = format!("unix_socket_directories={}", base.display());
    let args = [
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        postgres.as_str(),
        "-D",
        data_s.as_str(),
        "-p",
        port_s.as_str(),
        "-c",
        "listen_addresses=*",
        "-c",
        socket_dir.as_str(),
        "-c",
        "logging_collector=off",
    ];
    // setpriv execs postgres, so the child's pid is the postmaster's.
    Ok(Daemon::start(
        "postgresql",
        "postgresql",
        ns,
        dir,
        "/usr/bin/setpriv",
        &args,
    )?
    .with_stop_signal(libc::SIGINT))
}

/// The DNS query [`dnsmasq`]'s readiness check sends: `version.bind TXT CH`, ID 0x6d62.
const DNS_VERSION_QUERY: &[u8] =
    b"\x6d\x62\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03";

/// dnsmasq as a DNS server on `port`, UDP and TCP, IPv4 and IPv6: no upstream servers, no
/// /etc/hosts, one local name (`lab.monban`), no DHCP.
pub fn dnsmasq(ns: &str, dir: &Path, port: u16) -> Result<Daemon, LabError> {
    let d = dir.display();
    let cfg = write(
        &dir.join("dnsmasq.conf"),
        &format!(
            "port={port}\nno-resolv\nno-hosts\nno-poll\npid-file={d}/dnsmasq.pid\n\
             user=nobody\nlog-facility=-\naddress=/lab.monban/10.77.1.10\n"
        ),
    )?;
    let args = ["-k", "-C", cfg.as_str()];
    Ok(Daemon::start(
        "dnsmasq",
        "dnsmasq-base",
        ns,
        dir,
        "/usr/sbin/dnsmasq",
        &args,
    )?
    .with_ready(Ready::UdpAnswer(DNS_VERSION_QUERY.to_vec())))
}

/// An SNMPv1 GetRequest for sysDescr.0 with `community` (shorter than 64 bytes).
fn snmp_get_sysdescr(community: &str) -> Vec<u8> {
    let c = community.as_bytes();
    let oid = b"\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00";
    let len = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    let mut pdu = vec![0xa0, len(9 + 2 + oid.len())];
    pdu.extend_from_slice(b"\x02\x01\x01\x02\x01\x00\x02\x01\x00");
    pdu.extend_from_slice(&[0x30, len(oid.len())]);
    pdu.extend_from_slice(oid);
    let mut body = vec![0x02, 0x01, 0x00, 0x04, len(c.len())];
    body.extend_from_slice(c);
    body.extend_from_slice(&pdu);
    let mut msg = vec![0x30, len(body.len())];
    msg.extend_from_slice(&body);
    msg
}

/// net-snmp's snmpd on UDP `port` (IPv4 and IPv6), read-only community `community` for
/// every source, sysName `target.lab.monban`. No system configuration is read (`-C`), no
/// MIB files are loaded (`-m ""`: the agent needs none), and its persistent state goes to
/// `dir`.
pub fn snmpd(ns: &str, dir: &Path, port: u16, community: &str) -> Result<Daemon, LabError> {
    let state = dir.join("snmp");
    mkdir(&state)?;
    let cfg = write(
        &dir.join("snmpd.conf"),
        &format!(
            "agentAddress udp:{port},udp6:{port}\nrocommunity {community} default\n\
             rocommunity6 {community} default\nsysLocation monban lab\n\
             sysContact lab@monban.invalid\nsysName target.lab.monban\n\
             [snmp] persistentDir {}\n",
            state.display()
        ),
    )?;
    let pid = dir.join("snmpd.pid").display().to_string();
    let args = [
        "-f",
        "-Lo",
        "-C",
        "-m",
        "",
        "-c",
        cfg.as_str(),
        "-p",
        pid.as_str(),
    ];
    Ok(
        Daemon::start("snmpd", "snmpd", ns, dir, "/usr/sbin/snmpd", &args)?
            .with_ready(Ready::UdpAnswer(snmp_get_sysdescr(community))),
    )
}

/// Does the daemon on `port` of this namespace's loopback pass `ready`? Runs inside the
/// namespace; every wait is bounded.
fn is_ready(port: u16, ready: &Ready) -> bool {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let step = Duration::from_millis(200);
    match ready {
        Ready::Connect => TcpStream::connect_timeout(&addr, step).is_ok(),
        Ready::Greeting(want) => {
            let Ok(mut s) = TcpStream::connect_timeout(&addr, step) else {
                return false;
            };
            let until = Instant::now() + Duration::from_secs(2);
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while Instant::now() < until && got.len() < 64 * 1024 {
                if s.set_read_timeout(Some(step)).is_err() {
                    return false;
                }
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
                if got.windows(want.len()).any(|w| w == *want) {
                    return true;
                }
            }
            false
        }
        Ready::UdpAnswer(payload) => {
            let Ok(s) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
                return false;
            };
            let mut buf = [0u8; 2048];
            s.set_read_timeout(Some(step)).is_ok()
                && s.send_to(payload, addr).is_ok()
                && s.recv(&mut buf).is_ok_and(|n| n > 0)
        }
    }
}

/// Waits until every daemon passes its readiness check ([`Daemon::ready`]: by default a
/// TCP connect) on its port, from inside namespace `ns`; all of them within `limit`.
pub fn wait_ready(
    ns: &str,
    daemons: &mut [(u16, Daemon)],
    limit: Duration,
) -> Result<(), LabError> {
    let until = Instant::now() + limit;
    for (port, daemon) in daemons.iter_mut() {
        let port = *port;
        loop {
            daemon.check_alive()?;
            let ready = daemon.ready.clone();
            if crate::in_namespace(ns, move || is_ready(port, &ready))? {
                break;
            }
            if Instant::now() >= until {
                return Err(LabError::DaemonNotReady {
                    name: daemon.name,
                    port,
                    after: limit,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_version;

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
}
