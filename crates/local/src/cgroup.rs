//! What a process's `/proc/PID/cgroup` tells: its systemd unit and its container.
//!
//! The file has one line per cgroup hierarchy, `ID:CONTROLLERS:PATH`. Under cgroup v2 there
//! is a single line `0::/PATH`; under v1 there is one line per controller hierarchy
//! (`4:memory:/PATH`) plus systemd's own `1:name=systemd:/PATH`; hybrid hosts show both.
//! The path is relative to the reader's cgroup namespace root, and the kernel appends
//! ` (deleted)` when the cgroup has been removed.
//!
//! systemd names the cgroup of each unit after the unit: services are `NAME.service`, login
//! sessions and transient groups `NAME.scope`, nested in `.slice` directories
//! (`/system.slice/system-getty.slice/getty@tty1.service`). A user's own manager is the unit
//! `user@UID.service`, whose cgroup holds that user's units in turn
//! (`/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service`). Container
//! runtimes put each container in a cgroup named after its id: a systemd scope such as
//! `docker-ID.scope`, `libpod-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope`, or a
//! plain directory such as `/docker/ID` or `/kubepods/besteffort/podUID/ID`; LXC uses
//! `/lxc.payload.NAME` (older: `/lxc/NAME`), and systemd-nspawn `systemd-nspawn@NAME.service`
//! with the container's own tree below.
//!
//! Lines are tried in preference order: the v2 line, then `name=systemd`, then the other
//! lines in file order. A container named by any of them wins (a runtime may put it in only
//! some hierarchies); otherwise the unit comes from the first line that names one.

/// What a cgroup path tells about a process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupInfo {
    /// The innermost systemd unit holding the process (`nginx.service`, `session-3.scope`,
    /// `init.scope` for pid 1). With [`CgroupInfo::user`] set it is a unit of that user's
    /// manager (its own `init.scope` for the `systemd --user` process itself). `None` when no
    /// unit is named, and when the process is in a container.
    pub unit: Option<String>,
    /// UID of the per-user manager (`user@UID.service`) whose tree holds the process, when
    /// it is below that unit; this includes rootless containers.
    pub user: Option<u32>,
    /// The container holding the process.
    pub container: Option<Container>,
}

/// A container named by a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Container {
    /// Who runs it.
    pub runtime: Runtime,
    /// The container id in full (64 hex digits for the OCI runtimes, as their own tools take
    /// it; shorten to 12 for display), or the container name for LXC and systemd-nspawn.
    pub id: String,
}

/// Container runtimes recognised from cgroup paths.
///
/// There is no catch-all variant: a path that names no runtime known here gives no
/// container at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Runtime {
    /// Docker (`docker-ID.scope`, `/docker/ID`).
    Docker,
    /// Podman (`libpod-ID.scope`, `/libpod_parent/libpod-ID`).
    Podman,
    /// containerd through its CRI plugin or nerdctl (`cri-containerd-ID.scope`,
    /// `nerdctl-ID.scope`).
    Containerd,
    /// CRI-O (`crio-ID.scope`).
    Crio,
    /// LXC or LXD (`/lxc.payload.NAME`, `/lxc/NAME`).
    Lxc,
    /// systemd-nspawn (`systemd-nspawn@NAME.service`).
    Nspawn,
    /// A Kubernetes pod's container whose cgroup names no runtime
    /// (`/kubepods/besteffort/podUID/ID`).
    Kubernetes,
}

impl Runtime {
    /// Lower-case name: `docker`, `podman`, `containerd`, `cri-o`, `lxc`, `systemd-nspawn`,
    /// `kubernetes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "cri-o",
            Runtime::Lxc => "lxc",
            Runtime::Nspawn => "systemd-nspawn",
            Runtime::Kubernetes => "kubernetes",
        }
    }
}

/// Longest unit name systemd accepts.
const MAX_UNIT: usize = 255;
/// Longest container name (LXC, nspawn) taken.
const MAX_NAME: usize = 64;

/// Reads the text of `/proc/PID/cgroup`. Never fails: what is not understood is left out.
pub fn parse(text: &str) -> CgroupInfo {
    let mut v2 = Vec::new();
    let mut systemd = Vec::new();
    let mut other = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || !path.starts_with('/') {
            continue;
        }
        let path = path.strip_suffix(" (deleted)").unwrap_or(path);
        if id == "0" && controllers.is_empty() {
            v2.push(path);
        } else if controllers.split(',').any(|c| c == "name=systemd") {
            systemd.push(path);
        } else {
            other.push(path);
        }
    }
    let paths: Vec<&str> = v2.into_iter().chain(systemd).chain(other).collect();
    if let Some(info) = paths
        .iter()
        .map(|p| of_path(p))
        .find(|i| i.container.is_some())
    {
        return info;
    }
    paths
        .iter()
        .map(|p| of_path(p))
        .find(|i| i.unit.is_some())
        .unwrap_or_default()
}

/// What one cgroup path tells.
fn of_path(path: &str) -> CgroupInfo {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut info = CgroupInfo::default();
    let mut kubepods = false;
    let mut prev = "";
    for &part in &parts {
        if let Some(uid) = user_manager(prev) {
            // `part` is below user@UID.service.
            info.user = Some(uid);
        }
        kubepods |= part.starts_with("kubepods");
        if let Some(container) = container(prev, part, kubepods) {
            info.container = Some(container);
            info.unit = None;
            return info;
        }
        if is_unit(part) {
            info.unit = Some(part.to_string());
        }
        prev = part;
    }
    info
}

/// The UID of a `user@UID.service` unit name.
fn user_manager(unit: &str) -> Option<u32> {
    let uid = unit.strip_prefix("user@")?.strip_suffix(".service")?;
    uid.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| uid.parse().ok())
        .flatten()
}

/// A component naming a unit that can hold processes (not a slice).
fn is_unit(part: &str) -> bool {
    let Some((stem, kind)) = part.rsplit_once('.') else {
        return false;
    };
    matches!(kind, "service" | "scope" | "socket" | "mount" | "swap")
        && !stem.is_empty()
        && part.len() <= MAX_UNIT
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b))
}

/// The container named by component `part`, whose parent component is `prev`.
fn container(prev: &str, part: &str, kubepods: bool) -> Option<Container> {
    let found = |runtime, id: &str| Container {
        runtime,
        id: id.to_string(),
    };
    if let Some(scope) = part.strip_suffix(".scope") {
        const SCOPES: [(&str, Runtime); 5] = [
            ("docker-", Runtime::Docker),
            ("libpod-", Runtime::Podman),
            ("cri-containerd-", Runtime::Containerd),
            ("nerdctl-", Runtime::Containerd),
            ("crio-", Runtime::Crio),
        ];
        // libpod-conmon-ID and crio-conmon-ID hold conmon, the runtime's monitor process
        // outside the container: not hex after the prefix, so not taken here.
        for (prefix, runtime) in SCOPES {
            if let Some(id) = scope.strip_prefix(prefix).filter(|id| is_id(id)) {
                return Some(found(runtime, id));
            }
        }
        return None;
    }
    // `kubepods-...-podUID.slice:cri-containerd:ID`, which the systemd cgroup driver leaves
    // when systemd does not manage the hierarchy.
    if let [_, runtime, id] = part.splitn(3, ':').collect::<Vec<_>>()[..] {
        let runtime = match runtime {
            "docker" => Runtime::Docker,
            "cri-containerd" => Runtime::Containerd,
            "crio" => Runtime::Crio,
            _ => return None,
        };
        return is_id(id).then(|| found(runtime, id));
    }
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return is_name(name).then(|| found(Runtime::Lxc, name));
    }
    if let Some(name) = part
        .strip_prefix("systemd-nspawn@")
        .and_then(|p| p.strip_suffix(".service"))
    {
        return is_name(name).then(|| found(Runtime::Nspawn, name));
    }
    match prev {
        "docker" if is_id(part) => Some(found(Runtime::Docker, part)),
        "libpod_parent" => part
            .strip_prefix("libpod-")
            .filter(|id| is_id(id))
            .map(|id| found(Runtime::Podman, id)),
        "lxc" if is_name(part) => Some(found(Runtime::Lxc, part)),
        _ if kubepods && prev.starts_with("pod") && is_id(part) => {
            Some(found(Runtime::Kubernetes, part))
        }
        _ => None,
    }
}

/// A runtime's container id: 64 hex digits.
fn is_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A container name as LXC and nspawn take them.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.\\".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e0d1c2b3a49588796a5b4c3d2e1f000112233445566778899aabbccddeeff";
    const POD: &str = "0c5f2e8a-1b2c-4d3e-9f80-1a2b3c4d5e6f";

    fn v2(path: &str) -> CgroupInfo {
        parse(&format!("0::{path}\n"))
    }

    fn unit(path: &str) -> (Option<String>, Option<u32>) {
        let info = v2(path);
        assert_eq!(info.container, None, "{path}");
        (info.unit, info.user)
    }

    fn container_of(path: &str) -> Option<(Runtime, String)> {
        let info = v2(path);
        if info.container.is_some() {
            assert_eq!(info.unit, None, "{path}");
        }
        info.container.map(|c| (c.runtime, c.id))
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn systemd_units() {
        assert_eq!(
            unit("/system.slice/nginx.service"),
            (some("nginx.service"), None)
        );
        assert_eq!(
            unit("/system.slice/system-getty.slice/getty@tty1.service"),
            (some("getty@tty1.service"), None)
        );
        assert_eq!(
            unit("/system.slice/system-openvpn\\x2dclient.slice/openvpn-client@work.service"),
            (some("openvpn-client@work.service"), None)
        );
        assert_eq!(
            unit("/user.slice/user-1000.slice/session-3.scope"),
            (some("session-3.scope"), None)
        );
        assert_eq!(unit("/init.scope"), (some("init.scope"), None));
        assert_eq!(unit("/"), (None, None));
        assert_eq!(unit("/system.slice"), (None, None));
        // Delegated subtrees (Delegate=yes) stay with their unit.
        assert_eq!(
            unit("/system.slice/buildkit.service/worker/7"),
            (some("buildkit.service"), None)
        );
    }

    #[test]
    fn user_units() {
        let base = "/user.slice/user-1000.slice/user@1000.service";
        assert_eq!(
            unit(&format!("{base}/app.slice/foo.service")),
            (some("foo.service"), Some(1000))
        );
        assert_eq!(
            unit(&format!("{base}/app.slice/app-gnome-firefox-4242.scope")),
            (some("app-gnome-firefox-4242.scope"), Some(1000))
        );
        // The `systemd --user` process itself.
        assert_eq!(
            unit(&format!("{base}/init.scope")),
            (some("init.scope"), Some(1000))
        );
        // cgroup v1: the manager sits in its system unit, which is not one of its own.
        assert_eq!(unit(base), (some("user@1000.service"), None));
        assert_eq!(
            unit("/user.slice/user-0.slice/user@0.service/dbus.socket"),
            (some("dbus.socket"), Some(0))
        );
        // Not a uid.
        assert_eq!(
            unit("/user.slice/user@x.service/foo.service"),
            (some("foo.service"), None)
        );
        assert_eq!(
            unit("/user.slice/user@99999999999.service/foo.service"),
            (some("foo.service"), None)
        );
    }

    #[test]
    fn docker() {
        let want = Some((Runtime::Docker, ID.to_string()));
        assert_eq!(
            container_of(&format!("/system.slice/docker-{ID}.scope")),
            want
        );
        assert_eq!(container_of(&format!("/docker/{ID}")), want);
        assert_eq!(
            container_of(&format!("/docker/{ID}/docker/{}", "a".repeat(64))),
            want,
            "outermost"
        );
        assert_eq!(container_of(&format!("/docker/{ID}/init.scope")), want);
        // The daemon is a service, not a container.
        assert_eq!(
            unit("/system.slice/docker.service"),
            (some("docker.service"), None)
        );
        assert_eq!(
            unit("/system.slice/docker-short.scope"),
            (some("docker-short.scope"), None)
        );
        assert_eq!(container_of("/docker/notanid"), None);
        assert_eq!(container_of(&format!("/docker/{ID}0")), None);
    }

    #[test]
    fn podman() {
        let want = Some((Runtime::Podman, ID.to_string()));
        assert_eq!(
            container_of(&format!("/machine.slice/libpod-{ID}.scope")),
            want
        );
        assert_eq!(
            container_of(&format!("/machine.slice/libpod-{ID}.scope/container")),
            want
        );
        assert_eq!(container_of(&format!("/libpod_parent/libpod-{ID}")), want);
        let rootless = v2(&format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
        ));
        assert_eq!(
            rootless.container,
            Some(Container {
                runtime: Runtime::Podman,
                id: ID.into()
            })
        );
        assert_eq!((rootless.unit, rootless.user), (None, Some(1000)));
        // conmon is the monitor outside the container: a plain scope.
        let conmon = format!("libpod-conmon-{ID}.scope");
        assert_eq!(
            unit(&format!("/machine.slice/{conmon}")),
            (Some(conmon), None)
        );
    }

    #[test]
    fn containerd_crio_kubernetes() {
        let qos = "/kubepods.slice/kubepods-besteffort.slice";
        let pod = format!(
            "{qos}/kubepods-besteffort-pod{}.slice",
            POD.replace('-', "_")
        );
        assert_eq!(
            container_of(&format!("{pod}/cri-containerd-{ID}.scope")),
            Some((Runtime::Containerd, ID.to_string()))
        );
        assert_eq!(
            container_of(&format!("{pod}/crio-{ID}.scope")),
            Some((Runtime::Crio, ID.to_string()))
        );
        assert_eq!(
            container_of(&format!("{pod}/docker-{ID}.scope")),
            Some((Runtime::Docker, ID.to_string()))
        );
        let conmon = format!("crio-conmon-{ID}.scope");
        assert_eq!(unit(&format!("{pod}/{conmon}")), (Some(conmon), None));
        assert_eq!(unit(&pod), (None, None));
        let want = Some((Runtime::Kubernetes, ID.to_string()));
        assert_eq!(
            container_of(&format!("/kubepods/besteffort/pod{POD}/{ID}")),
            want
        );
        assert_eq!(container_of(&format!("/kubepods/pod{POD}/{ID}")), want);
        assert_eq!(
            container_of(&format!("/pod{POD}/{ID}")),
            None,
            "not under kubepods"
        );
        assert_eq!(
            container_of(&format!("/system.slice/containerd.service/kubepods-burstable-pod1.slice:cri-containerd:{ID}")),
            Some((Runtime::Containerd, ID.to_string()))
        );
        assert_eq!(
            container_of(&format!("/system.slice/nerdctl-{ID}.scope")),
            Some((Runtime::Containerd, ID.to_string()))
        );
    }

    #[test]
    fn lxc_and_nspawn() {
        assert_eq!(
            container_of("/lxc.payload.web1/system.slice/nginx.service"),
            Some((Runtime::Lxc, "web1".into()))
        );
        assert_eq!(
            container_of("/lxc.payload.web1"),
            Some((Runtime::Lxc, "web1".into()))
        );
        assert_eq!(
            container_of("/lxc/old-box/init.scope"),
            Some((Runtime::Lxc, "old-box".into()))
        );
        // The monitor runs outside.
        assert_eq!(container_of("/lxc.monitor.web1"), None);
        assert_eq!(
            container_of(&format!("/lxc.payload.{}", "n".repeat(65))),
            None
        );
        assert_eq!(
            container_of(
                "/machine.slice/systemd-nspawn@deb.service/payload/system.slice/sshd.service"
            ),
            Some((Runtime::Nspawn, "deb".into()))
        );
    }

    #[test]
    fn line_preference() {
        let v1 = "12:pids:/system.slice/cron.service\n1:name=systemd:/system.slice/ssh.service\n";
        assert_eq!(parse(v1).unit, some("ssh.service"));
        assert_eq!(
            parse(&format!("{v1}0::/system.slice/nginx.service\n")).unit,
            some("nginx.service")
        );
        assert_eq!(
            parse("12:pids:/system.slice/cron.service\n").unit,
            some("cron.service")
        );
        // A root v2 line tells nothing; the v1 lines still may.
        assert_eq!(parse(&format!("{v1}0::/\n")).unit, some("ssh.service"));
        // A container on any line wins over a unit elsewhere.
        let hybrid = format!("0::/system.slice/containerd.service\n4:memory:/docker/{ID}\n");
        let info = parse(&hybrid);
        assert_eq!(info.container.map(|c| c.runtime), Some(Runtime::Docker));
        assert_eq!(info.unit, None);
        // Removed cgroups.
        assert_eq!(
            parse("0::/system.slice/gone.service (deleted)\n").unit,
            some("gone.service")
        );
        // Controllers lists with name=systemd among others; paths with ':'.
        assert_eq!(
            parse("1:cpu,name=systemd:/system.slice/a:b.service\n").unit,
            some("a:b.service")
        );
    }

    #[test]
    fn garbage() {
        let nothing = CgroupInfo::default();
        assert_eq!(parse(""), nothing);
        assert_eq!(parse("\n\n"), nothing);
        assert_eq!(
            parse("garbage\n::\n0::\n0::relative/x.service\nx::/a.service\n:cpu:/b.service\n"),
            nothing
        );
        assert_eq!(
            parse("0::/system.slice/.service\n0::/system.slice/bad name.service"),
            nothing
        );
        assert_eq!(
            parse(&format!("0::/system.slice/{}.service", "a".repeat(300))),
            nothing
        );
        assert_eq!(parse("0::/\u{0}\u{ffff}/é.scope/docker/é"), nothing);
        let huge = format!("{}\n", "0::/a.slice".repeat(10_000)).repeat(100);
        assert_eq!(parse(&huge), nothing);
        let deep = format!("0::{}/x.service\n", "/s".repeat(100_000));
        assert_eq!(parse(&deep).unit, some("x.service"));
    }
}
