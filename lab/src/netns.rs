//! Network namespaces: entering one from a thread, the lab lock, sweeping stale labs.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::{cmd, LabError};

/// Where `ip netns` keeps its named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The lock that serialises labs across threads and processes.
pub const LOCK_PATH: &str = "/run/monban-lab.lock";

/// Moves the calling thread into the named namespace.
///
/// Only this thread changes namespace; sockets it opens afterwards live in that namespace.
pub(crate) fn enter(ns: &str) -> Result<(), LabError> {
    let err = |source| LabError::Netns {
        namespace: ns.to_owned(),
        source,
    };
    let file = File::open(format!("{NETNS_DIR}/{ns}")).map_err(err)?;
    // SAFETY: setns on a valid, open namespace file descriptor; it only affects this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}

/// Runs `f` on a fresh thread inside namespace `ns` and returns its result.
///
/// Sockets made by `f` belong to `ns`, which is how the lab talks from inside a namespace
/// without spawning processes.
pub fn in_namespace<T, F>(ns: &str, f: F) -> Result<T, LabError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let name = ns.to_owned();
    let handle = std::thread::spawn(move || -> Result<T, LabError> {
        enter(&name)?;
        Ok(f())
    });
    handle.join().map_err(|_| LabError::Thread {
        namespace: ns.to_owned(),
    })?
}

/// Holds the cross-process lab lock until dropped.
#[derive(Debug)]
pub(crate) struct LabLock {
    _file: File,
}

/// How long a lab waits for another one to finish, unless `MONBAN_LAB_LOCK_WAIT` (seconds)
/// says otherwise.
const LOCK_WAIT: Duration = Duration::from_secs(1800);

impl LabLock {
    /// Waits until no other lab (in any thread or process) exists, then takes the lock and
    /// writes our pid into the lock file so that a waiter can say who holds it.
    pub(crate) fn acquire() -> Result<LabLock, LabError> {
        let err = |source| LabError::Lock {
            path: LOCK_PATH,
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(LOCK_PATH)
            .map_err(err)?;
        let wait = std::env::var("MONBAN_LAB_LOCK_WAIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(LOCK_WAIT, Duration::from_secs);
        let start = Instant::now();
        loop {
            // SAFETY: flock on an open descriptor we own; the lock lives as long as `file`.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(err(e));
            }
            if start.elapsed() >= wait {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LabError::LockTimeout {
                    path: LOCK_PATH,
                    holder: match holder.trim() {
                        "" => "holder unknown".to_owned(),
                        h => format!("held by {h}"),
                    },
                    waited: wait,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Record the holder; failures here only make a waiter's message less precise.
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = writeln!(file, "pid {}", std::process::id());
        Ok(LabLock { _file: file })
    }
}

/// The pid that made namespace `name`, if it is a lab namespace (`mb<pid>x<n>-...`).
pub(crate) fn lab_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("mb")?;
    let (pid, rest) = rest.split_once('x')?;
    let (n, _) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn lab_namespaces() -> Vec<(String, u32)> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut out: Vec<(String, u32)> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| lab_owner(&name).map(|pid| (name, pid)))
        .collect();
    out.sort();
    out
}

/// Deletes lab namespaces whose creating process is gone; returns their names.
pub fn sweep_stale() -> Result<Vec<String>, LabError> {
    let mut removed = Vec::new();
    for (name, pid) in lab_namespaces() {
        if !alive(pid) {
            cmd::ip(&["netns", "del", &name])?;
            removed.push(name);
        }
    }
    Ok(removed)
}

/// Deletes every lab namespace (`mb<pid>x<n>-...`), live or not; returns their names.
pub fn sweep_all() -> Result<Vec<String>, LabError> {
    let mut removed = Vec::new();
    for (name, _) in lab_namespaces() {
        cmd::ip(&["netns", "del", &name])?;
        removed.push(name);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::lab_owner;

    #[test]
    fn owner_is_read_from_lab_names_only() {
        assert_eq!(lab_owner("mb1234x0-scan"), Some(1234));
        assert_eq!(lab_owner("mb7x12-t3"), Some(7));
        assert_eq!(lab_owner("mbx0-scan"), None);
        assert_eq!(lab_owner("mb12x-scan"), None);
        assert_eq!(lab_owner("mb12y0-scan"), None);
        assert_eq!(lab_owner("mb12x0"), None);
        assert_eq!(lab_owner("docker0"), None);
        assert_eq!(lab_owner("mb99999999999x0-rt"), None);
    }
}
