//! A scratch PostgreSQL server for the store's tests: Debian's `postgresql` run as the
//! `postgres` user from a temporary directory, on a free loopback port of the namespace
//! it is started in, with `trust` logins (nothing but the test can reach it), stopped
//! (fast shutdown) and removed on drop — also when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemons::postgresql_install;
use crate::LabError;

/// A running scratch server.
#[derive(Debug)]
pub struct Scratch {
    child: Child,
    dir: PathBuf,
    port: u16,
}

fn spawn_error(command: &str, source: std::io::Error) -> LabError {
    LabError::Spawn {
        command: command.to_string(),
        source,
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), LabError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| spawn_error(&command, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Scratch {
    /// `initdb` in a fresh directory under `parent`, then the server; returns once it
    /// accepts connections (at most 30 s).
    pub fn start(parent: &Path) -> Result<Scratch, LabError> {
        let (bin, _) = postgresql_install()?;
        let dir = parent.join(format!("pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| spawn_error("mkdir", e))?;
        let d = dir.display().to_string();
        run("chown", &["postgres:postgres", &d])?;
        let data = format!("{d}/data");
        let initdb = bin.join("initdb").display().to_string();
        run(
            "setpriv",
            &[
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                &initdb,
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| spawn_error("bind 127.0.0.1:0", e))?
            .port();
        let log = std::fs::File::create(dir.join("server.log"))
            .map_err(|e| spawn_error("server.log", e))?;
        let child = Command::new("setpriv")
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(bin.join("postgres"))
            .args(["-D", &data, "-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("unix_socket_directories={d}"))
            .args(["-c", "fsync=off", "-c", "logging_collector=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| spawn_error("postgres", e))?;
        let server = Scratch { child, dir, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err(LabError::Command {
                    command: "postgres".into(),
                    status: "not accepting connections after 30 s".into(),
                    stderr: std::fs::read_to_string(server.dir.join("server.log"))
                        .unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (user `postgres`, no password).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as the superuser through `psql` (e.g. `CREATE DATABASE x`).
    pub fn sql(&self, statement: &str) -> Result<(), LabError> {
        let (bin, _) = postgresql_install()?;
        let psql = bin.join("psql").display().to_string();
        let url = self.url("postgres");
        run(
            &psql,
            &["-q", "-v", "ON_ERROR_STOP=1", &url, "-c", statement],
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the postmaster we spawned and have not reaped; SIGINT is its
        // fast shutdown.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
