//! Giving up privileges once a scan's raw sockets and outputs are open.
//!
//! Run as root, monban becomes the user who invoked `sudo` (`SUDO_UID` / `SUDO_GID`),
//! else `nobody`: no supplementary groups, real, effective and saved ids all that user's,
//! every capability set empty (effective, permitted, inheritable, ambient, and the
//! bounding set), and `no_new_privs` set so no later `exec` can give any back. Run with
//! file capabilities (`setcap cap_net_raw+ep`) as an ordinary user, it keeps its user and
//! clears the capability sets the same way (the bounding set needs `CAP_SETPCAP` to
//! shrink, so it stays; `no_new_privs` makes it moot).
//!
//! Capabilities belong to each thread (`capset` changes only the calling one), so the
//! drop happens while the process has a single thread: [`drop_privileges`] refuses to
//! run otherwise. The uid and gid changes go through the C library, which applies them
//! to every thread anyway.

use std::io;

use anyhow::{bail, Context, Result};

/// What [`drop_privileges`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Nothing to give up: an ordinary user without capabilities.
    Nothing,
    /// Same user, every capability cleared (file capabilities).
    Capabilities,
    /// Root given up for this user and group, every capability cleared.
    User { uid: u32, gid: u32 },
}

/// `nobody`'s ids when the password database has no `nobody`.
const NOBODY: (u32, u32) = (65_534, 65_534);

/// The user to become: `SUDO_UID` and `SUDO_GID` when both are ids of an ordinary user
/// (a number, not 0, not -1), else `nobody`.
pub fn target_user(
    sudo_uid: Option<&str>,
    sudo_gid: Option<&str>,
    nobody: (u32, u32),
) -> (u32, u32) {
    let id = |v: Option<&str>| {
        v.and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|&n| n != 0 && n != u32::MAX)
    };
    match (id(sudo_uid), id(sudo_gid)) {
        (Some(u), Some(g)) => (u, g),
        _ => nobody,
    }
}

/// `nobody`'s uid and gid from the password database.
fn nobody() -> (u32, u32) {
    // SAFETY: a NUL-terminated literal; getpwnam returns null or a pointer to a static
    // entry, read at once (no other thread runs getpw* now: the process has one thread).
    let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    if pw.is_null() {
        return NOBODY;
    }
    // SAFETY: non-null, points at the C library's static passwd entry.
    let pw = unsafe { &*pw };
    (pw.pw_uid, pw.pw_gid)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two `CapData`.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// This thread's capability sets.
fn capget() -> io::Result<[CapData; 2]> {
    let mut head = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: the kernel reads the header and writes two CapData, both live.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut head as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data)
}

/// Empties this thread's effective, permitted and inheritable sets.
fn capset_empty() -> io::Result<()> {
    let mut head = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: the kernel reads the header and two CapData, both live.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut head as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How many threads this process has.
fn threads() -> Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")
        .context("cannot count this process's threads in /proc/self/task")?
        .count())
}

/// Shrinks the bounding set to nothing, where this process may (`CAP_SETPCAP`).
fn drop_bounding_set() -> Result<()> {
    let last: libc::c_ulong = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
        .min(63);
    for cap in 0..=last {
        match prctl(libc::PR_CAPBSET_DROP, cap) {
            Ok(()) => {}
            // Not allowed (no CAP_SETPCAP): the bounding set stays, no_new_privs covers it.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok(()),
            // A capability this kernel does not know.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e).context("cannot shrink the capability bounding set"),
        }
    }
    Ok(())
}

/// Gives up root (for [`target_user`]) or the capabilities this process holds; see the
/// module doc. Must run while the process has one thread.
///
/// # Errors
/// When another thread runs already, or any step fails: the scan must not go on with
/// privileges the user did not ask to keep.
pub fn drop_privileges() -> Result<Dropped> {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let caps = capget().context("cannot read this process's capabilities")?;
    let any_cap = caps.iter().any(|c| *c != CapData::default());
    if !root && !any_cap {
        return Ok(Dropped::Nothing);
    }
    let n = threads()?;
    if n != 1 {
        bail!("cannot drop privileges: {n} threads run already (capabilities are per thread)");
    }
    drop_bounding_set()?;
    // Ambient capabilities: only a kernel older than 4.3 lacks them (EINVAL).
    match prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    ) {
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => {
            return Err(e).context("cannot clear the ambient capabilities")
        }
        _ => {}
    }
    let dropped = if root {
        let (uid, gid) = target_user(
            std::env::var("SUDO_UID").ok().as_deref(),
            std::env::var("SUDO_GID").ok().as_deref(),
            nobody(),
        );
        // SAFETY: plain calls with integer arguments; a null list of length 0.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0 {
                return Err(io::Error::last_os_error()).context("setgroups([])");
            }
            if libc::setresgid(gid, gid, gid) != 0 {
                return Err(io::Error::last_os_error())
                    .with_context(|| format!("setresgid({gid})"));
            }
            if libc::setresuid(uid, uid, uid) != 0 {
                return Err(io::Error::last_os_error())
                    .with_context(|| format!("setresuid({uid})"));
            }
        }
        Dropped::User { uid, gid }
    } else {
        Dropped::Capabilities
    };
    capset_empty().context("cannot clear the capability sets")?;
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).context("cannot set no_new_privs")?;
    verify(dropped)?;
    Ok(dropped)
}

/// Checks that what was given up is gone: the ids, the sets, and that root cannot be
/// taken back.
fn verify(dropped: Dropped) -> Result<()> {
    let caps = capget().context("cannot read the capabilities back")?;
    if caps.iter().any(|c| *c != CapData::default()) {
        bail!("capabilities remain after dropping them: {caps:?}");
    }
    if let Dropped::User { uid, gid } = dropped {
        let (mut r, mut e, mut s) = (0, 0, 0);
        let (mut rg, mut eg, mut sg) = (0, 0, 0);
        // SAFETY: pointers to live integers.
        let ok = unsafe {
            libc::getresuid(&mut r, &mut e, &mut s) == 0
                && libc::getresgid(&mut rg, &mut eg, &mut sg) == 0
        };
        if !ok || [r, e, s] != [uid; 3] || [rg, eg, sg] != [gid; 3] {
            bail!("the user ids did not all change to {uid}/{gid}");
        }
        // SAFETY: a plain call; it must fail now.
        if unsafe { libc::setuid(0) } == 0 {
            bail!("root could be taken back after dropping it");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sudo_user_or_nobody() {
        let nobody = (65_534, 65_534);
        assert_eq!(
            target_user(Some("1000"), Some("1000"), nobody),
            (1000, 1000)
        );
        assert_eq!(target_user(Some(" 1001 "), Some("27"), nobody), (1001, 27));
        // Missing, malformed, root's or -1: nobody.
        for (u, g) in [
            (None, None),
            (Some("1000"), None),
            (None, Some("1000")),
            (Some("0"), Some("0")),
            (Some("1000"), Some("0")),
            (Some("alice"), Some("1000")),
            (Some("-1"), Some("1000")),
            (Some("4294967295"), Some("1000")),
            (Some(""), Some("")),
            (Some("99999999999"), Some("1000")),
        ] {
            assert_eq!(target_user(u, g, nobody), nobody, "{u:?} {g:?}");
        }
    }

    #[test]
    fn capabilities_read_back() {
        // Whatever this test runs as, the call works and reports a consistent state:
        // effective within permitted.
        let caps = capget().unwrap();
        for c in caps {
            assert_eq!(c.effective & !c.permitted, 0);
        }
    }
}
