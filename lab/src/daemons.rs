//! Real servers from Debian packages, run inside a lab target's namespace.
//!
//! Version-detection tests probe real daemons (sshd, nginx, vsftpd, redis, memcached) and
//! compare what they find with what `dpkg-query` says is installed. Each daemon runs in the
//! foreground with its configuration in a scratch directory, on a port the lab's own
//! listeners do not use, and is killed by pid when its [`Daemon`] is dropped — also when
//! the test fails. Nothing is installed here: `scripts/test.sh` installs the packages, and
//! a missing program is a [`LabError::DaemonMissing`] that names the package.

use crate::LabError;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon running in a namespace; stopped (TERM, then KILL) when dropped.
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
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
        Ok(Daemon { name, child, log })
    }

    /// The daemon's name.
    pub fn name(&self) -> &'static str {
        self.name
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

/// The installed version of a Debian package, e.g. `1:9.2p1-2+deb12u3`.
pub fn dpkg_version(package: &str) -> Result<String, LabError> {
    let command = format!("dpkg-query -W -f=${{Version}} {package}");
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
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
             \x20 server {{\n    listen {port};\n\
             \x20   location / {{ return 200 \"<html><head><title>monban lab</title></head></html>\\n\"; }}\n\
             \x20 }}\n}}\n"
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
             seccomp_sandbox=NO\nsecure_chroot_dir=/var/run/vsftpd/empty\nxferlog_enable=NO\n",
            root.display()
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

/// Waits until every daemon's port accepts a connection from inside namespace `ns`.
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
            let up = crate::in_namespace(ns, move || {
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })?;
            if up {
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
