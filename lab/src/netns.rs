//! Network namespaces: entering one from a thread, the lab lock, sweeping stale labs.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

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

impl LabLock {
    /// Blocks until no other lab (in any process) exists.
    pub(crate) fn acquire() -> Result<LabLock, LabError> {
        let err = |source| LabError::Lock {
            path: LOCK_PATH,
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_PATH)
            .map_err(err)?;
        loop {
            // SAFETY: flock on an open descriptor we own; the lock lives as long as `file`.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(LabLock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(err(e));
            }
        }
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
