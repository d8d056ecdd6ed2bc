//! Network namespaces of the host, and running code inside one.
//!
//! A namespace is known by the inode of its `nsfs` file: `readlink /proc/PID/ns/net` reads
//! `net:[4026531840]`, and the names `ip netns add` gives are bind mounts of such files in
//! `/run/netns`, whose `stat` shows the same inode. So the namespaces are those of every
//! process we may look at, plus every named one (which may hold no process at all). The
//! host's own namespace is the one pid 1 is in.
//!
//! A socket is only visible from inside its namespace, so [`enter`] runs a closure on a
//! fresh thread that first joins the namespace with `setns(2)`; that thread's netlink
//! sockets, `getifaddrs` and `if_indextoname` then all speak about that namespace. Joining
//! needs `CAP_SYS_ADMIN`; without it only the caller's own namespace is read.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where `ip netns` keeps its names.
pub const NETNS_DIR: &str = "/run/netns";

/// One network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetNs {
    /// Inode of its nsfs file: the namespace's identity.
    pub inode: u64,
    /// Its `ip netns` names, sorted.
    pub names: Vec<String>,
    /// Processes found in it, ascending.
    pub pids: Vec<u32>,
    /// Whether it is the host's namespace (pid 1's).
    pub host: bool,
    /// Whether monban itself runs in it.
    pub own: bool,
}

impl NetNs {
    /// The name shown for it: its first `ip netns` name, `host`, or `net:[INODE]`.
    pub fn label(&self) -> String {
        if let Some(n) = self.names.first() {
            n.clone()
        } else if self.host {
            "host".to_string()
        } else {
            format!("net:[{}]", self.inode)
        }
    }

    /// Files that stand for it and can be opened for `setns`: its named mounts first, then
    /// `/proc/PID/ns/net` of its processes.
    fn handles(&self) -> impl Iterator<Item = PathBuf> + '_ {
        let named = self.names.iter().map(|n| Path::new(NETNS_DIR).join(n));
        let procs = self
            .pids
            .iter()
            .map(|p| PathBuf::from(format!("/proc/{p}/ns/net")));
        named.chain(procs)
    }
}

/// Why a namespace could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NsError {
    /// No file standing for it could be opened (the processes left, or no permission).
    #[error("no handle on the namespace could be opened")]
    NoHandle,
    /// `setns` refused: joining another namespace needs CAP_SYS_ADMIN (root).
    #[error("joining it needs root (CAP_SYS_ADMIN)")]
    NeedsRoot,
    /// `setns` or the thread failed otherwise (`errno`, or 0 for a lost thread).
    #[error("cannot join it: {}", std::io::Error::from_raw_os_error(*.0))]
    Join(i32),
}

/// The inode in a `net:[INODE]` link text.
pub fn parse_link(text: &str) -> Option<u64> {
    text.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

fn link_inode(path: &Path) -> Option<u64> {
    parse_link(fs::read_link(path).ok()?.to_str()?)
}

/// Numeric entries of `/proc`: every process (thread-group leaders only).
pub fn pids() -> Vec<u32> {
    let mut out: Vec<u32> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Every namespace we can see, the host's first, then by inode; and how many processes'
/// namespaces could not be read (other users' processes, without root).
pub fn discover(pids: &[u32]) -> (Vec<NetNs>, usize) {
    let mut by_inode: BTreeMap<u64, NetNs> = BTreeMap::new();
    let mut hidden = 0;
    for &pid in pids {
        match link_inode(Path::new(&format!("/proc/{pid}/ns/net"))) {
            Some(inode) => slot(&mut by_inode, inode).pids.push(pid),
            None => hidden += 1,
        }
    }
    for e in fs::read_dir(NETNS_DIR).into_iter().flatten().flatten() {
        use std::os::unix::fs::MetadataExt;
        let path = e.path();
        // A name whose mount is gone is a plain empty file, not a namespace: `ip netns`
        // leaves those behind when a delete fails half-way.
        let file_name = e.file_name();
        let (Ok(meta), Some(name)) = (fs::metadata(&path), file_name.to_str()) else {
            continue;
        };
        if is_nsfs(&path) {
            slot(&mut by_inode, meta.ino()).names.push(name.to_string());
        }
    }
    let own = link_inode(Path::new("/proc/self/ns/net"));
    // pid 1 may be unreadable (a container without CAP_SYS_PTRACE): then monban's own
    // namespace is taken for the host's, as it is where it normally runs.
    let host = link_inode(Path::new("/proc/1/ns/net")).or(own);
    let mut out: Vec<NetNs> = by_inode
        .into_values()
        .map(|mut n| {
            n.names.sort();
            n.host = Some(n.inode) == host;
            n.own = Some(n.inode) == own;
            n
        })
        .collect();
    out.sort_by_key(|n| (!n.host, n.inode));
    (out, hidden)
}

fn slot(m: &mut BTreeMap<u64, NetNs>, inode: u64) -> &mut NetNs {
    m.entry(inode).or_insert_with(|| NetNs {
        inode,
        names: Vec::new(),
        pids: Vec::new(),
        host: false,
        own: false,
    })
}

/// Whether `path` is a namespace file (on nsfs) rather than a left-over empty file.
fn is_nsfs(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs(2) into a zeroed struct with a NUL-terminated path.
    unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut s) == 0 && s.f_type as i64 == NSFS_MAGIC
    }
}

/// Runs `f` inside `ns`: at once when it is our own namespace, else on a thread that joins
/// it first.
pub fn enter<T: Send>(ns: &NetNs, f: impl FnOnce() -> T + Send) -> Result<T, NsError> {
    if ns.own {
        return Ok(f());
    }
    let file = ns
        .handles()
        .find_map(|p| {
            let f = fs::File::open(p).ok()?;
            // The pid may have been reused for a process elsewhere: check the inode.
            let link = fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).ok()?;
            (parse_link(link.to_str()?) == Some(ns.inode)).then_some(f)
        })
        .ok_or(NsError::NoHandle)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns(2) on an open nsfs descriptor; it changes only this thread,
            // which ends when the closure returns.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                return Err(if e == libc::EPERM {
                    NsError::NeedsRoot
                } else {
                    NsError::Join(e)
                });
            }
            Ok(f())
        })
        .join()
        .unwrap_or(Err(NsError::Join(0)))
    })
}

/// The addresses of the calling thread's namespace, with their interface names.
pub fn addresses() -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free below; every pointer is checked for null
    // and each sockaddr is read as the family it declares.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            let ip = match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::from(sin6.sin6_addr.s6_addr)
                }
                _ => continue,
            };
            out.push((name, ip));
        }
        libc::freeifaddrs(head);
    }
    out
}

/// The name of interface `index` in the calling thread's namespace.
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer is IF_NAMESIZE long, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    Some(
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        assert_eq!(parse_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_link("mnt:[4026531840]"), None);
        assert_eq!(parse_link("net:[x]"), None);
        assert_eq!(parse_link(""), None);
    }

    #[test]
    fn our_namespace_is_found_and_entered() {
        let (all, _) = discover(&pids());
        let own: Vec<&NetNs> = all.iter().filter(|n| n.own).collect();
        assert_eq!(own.len(), 1);
        assert!(own[0].pids.contains(&std::process::id()));
        let lo = enter(own[0], addresses).unwrap();
        assert!(lo.iter().any(|(_, a)| a.is_loopback()), "{lo:?}");
        assert_eq!(
            enter(own[0], || interface_name(1)).unwrap().as_deref(),
            Some("lo")
        );
    }
}
