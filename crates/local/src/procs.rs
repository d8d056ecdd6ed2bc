//! Processes: which of them hold a socket, and who they are.
//!
//! A socket is owned by every process with a descriptor on it: `/proc/PID/fd/N` links to
//! `socket:[INODE]`, the inode `sock_diag` reports. After `fork`, both processes hold the
//! same socket; systemd holds the sockets it activates services with, and so does the
//! service once started. Other users' descriptors can be read only by root (the kernel's
//! ptrace access check), so without root their sockets have no known owner.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use crate::cgroup::{self, CgroupInfo};

/// The processes holding each wanted socket inode: `(pid, fd)` pairs, ascending.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Holders {
    /// inode → holders.
    pub by_inode: HashMap<u64, Vec<(u32, u32)>>,
    /// How many processes' descriptors could not be read (other users' without root).
    pub unreadable: usize,
}

/// The `socket:[INODE]` inode of a descriptor link.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    std::str::from_utf8(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
        .ok()?
        .parse()
        .ok()
}

/// Reads the descriptors of every process in `pids` and keeps those on sockets: on the
/// `wanted` ones, or on every socket for `None`.
pub fn holders(pids: &[u32], wanted: Option<&HashSet<u64>>) -> Holders {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Holders::default();
    for &pid in pids {
        let dir = format!("/proc/{pid}/fd");
        let Ok(entries) = fs::read_dir(&dir) else {
            // A process that has just exited is not "unreadable".
            if fs::metadata(format!("/proc/{pid}")).is_ok() {
                out.unreadable += 1;
            }
            continue;
        };
        for e in entries.flatten() {
            let Ok(link) = fs::read_link(e.path()) else {
                continue;
            };
            let Some(inode) = socket_inode(link.as_os_str().as_bytes()) else {
                continue;
            };
            if wanted.is_none_or(|w| w.contains(&inode)) {
                let fd = e
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                out.by_inode.entry(inode).or_default().push((pid, fd));
            }
        }
    }
    for v in out.by_inode.values_mut() {
        v.sort_unstable();
    }
    out
}

/// The executables of `pids`, each once (those we may read).
pub fn exes(pids: &[u32]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = pids
        .iter()
        .filter_map(|p| fs::read_link(format!("/proc/{p}/exe")).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What `/proc/PID` says about a process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its short name (`comm`).
    pub name: String,
    /// Its executable; `None` when unreadable (another user's process without root).
    pub exe: Option<PathBuf>,
    /// Its command line, arguments joined by spaces (empty for kernel threads).
    pub cmdline: String,
    /// Its real uid.
    pub uid: Option<u32>,
    /// The user name of `uid`.
    pub user: Option<String>,
    /// Its parent's pid.
    pub ppid: Option<u32>,
    /// Its systemd unit and container, from its cgroup.
    pub cgroup: CgroupInfo,
    /// The Debian package that installed its executable.
    pub package: Option<String>,
}

/// Reads a process; `None` if it has gone.
pub fn process(pid: u32) -> Option<Process> {
    let base = format!("/proc/{pid}");
    let status = fs::read_to_string(format!("{base}/status")).ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    let name = fs::read_to_string(format!("{base}/comm"))
        .map(|s| s.trim_end_matches('\n').to_string())
        .ok()
        .or_else(|| field("Name:"))
        .unwrap_or_default();
    let uid = field("Uid:").and_then(|v| v.split_whitespace().next()?.parse().ok());
    let cmdline = fs::read(format!("{base}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some(Process {
        pid,
        name,
        exe: fs::read_link(format!("{base}/exe")).ok(),
        cmdline,
        uid,
        user: uid.and_then(user_name),
        ppid: field("PPid:").and_then(|v| v.parse().ok()),
        cgroup: fs::read_to_string(format!("{base}/cgroup"))
            .map(|t| cgroup::parse(&t))
            .unwrap_or_default(),
        package: None,
    })
}

/// The name of user `uid` from the system's user database.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes into `pw` and `buf` (whose length we pass) and sets `out`
    // to `&pw` on success; pw_name then points into `buf`, alive for this block.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out);
        if rc != 0 || out.is_null() || pw.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pw.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn ourselves() {
        let p = process(std::process::id()).unwrap();
        assert!(p.exe.is_some());
        assert!(!p.cmdline.is_empty());
        // SAFETY: getuid never fails.
        let uid = unsafe { libc::getuid() };
        assert_eq!(p.uid, Some(uid));
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert!(process(u32::MAX).is_none());
    }
}
