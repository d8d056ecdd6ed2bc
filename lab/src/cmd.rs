//! Running `ip`, `nft`, `sysctl` and `tc`, with their errors kept.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::LabError;

/// Programs the lab needs, with the Debian package that ships each.
pub(crate) const TOOLS: [(&str, &str); 3] = [
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("sysctl", "procps"),
];

/// `tc` is needed only for a rate limit.
pub(crate) const TC: (&str, &str) = ("tc", "iproute2");

/// Finds a program in `PATH` or in the sbin directories (root's tools live there).
pub(crate) fn have(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(Into::into))
        .any(|dir| is_executable(&dir.join(tool)))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `program args...`, feeding `stdin` if given; returns stdout or a typed error.
pub(crate) fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
        command: command.clone(),
        source,
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| LabError::Spawn {
                command: command.clone(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| LabError::Spawn {
        command: command.clone(),
        source,
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: match stdin {
                Some(text) => format!("{command} <<< {text:?}"),
                None => command,
            },
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// `ip ARGS...`.
pub(crate) fn ip(args: &[&str]) -> Result<String, LabError> {
    run("ip", args, None)
}

/// `ip -n NS ARGS...`.
pub(crate) fn ip_in(ns: &str, args: &[&str]) -> Result<String, LabError> {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    run("ip", &all, None)
}

/// `ip netns exec NS sysctl -q -w KEY=VALUE...`.
pub(crate) fn sysctl_in(ns: &str, settings: &[&str]) -> Result<(), LabError> {
    let mut all = vec!["netns", "exec", ns, "sysctl", "-q", "-w"];
    all.extend_from_slice(settings);
    run("ip", &all, None).map(drop)
}

/// Like [`sysctl_in`], but keys this kernel does not have in a namespace are ignored.
pub(crate) fn sysctl_optional_in(ns: &str, settings: &[&str]) -> Result<(), LabError> {
    let mut all = vec!["netns", "exec", ns, "sysctl", "-q", "-e", "-w"];
    all.extend_from_slice(settings);
    run("ip", &all, None).map(drop)
}

/// `ip netns exec NS nft -f -` with `ruleset` on stdin.
pub(crate) fn nft_in(ns: &str, ruleset: &str) -> Result<(), LabError> {
    run(
        "ip",
        &["netns", "exec", ns, "nft", "-f", "-"],
        Some(ruleset),
    )
    .map(drop)
}

/// `ip netns exec NS tc ARGS...`.
pub(crate) fn tc_in(ns: &str, args: &[&str]) -> Result<(), LabError> {
    let mut all = vec!["netns", "exec", ns, "tc"];
    all.extend_from_slice(args);
    run("ip", &all, None).map(drop)
}
