//! Why a lab could not be built.

use std::io;

/// Everything that can stop a lab from being built or used.
///
/// The messages say what failed and what to do, because a test that cannot build its lab
/// fails with exactly this text.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The lab creates network namespaces, which needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
    #[error(
        "the monban lab needs root to create network namespaces (euid is {euid}); \
         run the tests as root, e.g. `sudo -E cargo test`"
    )]
    NotRoot {
        /// The effective user id we run as.
        euid: u32,
    },
    /// A program the lab shells out to is not installed.
    #[error(
        "the monban lab needs `{tool}` (Debian package {package}); \
         install it with `apt-get install {package}`"
    )]
    MissingTool {
        /// The missing program.
        tool: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A helper program could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// A helper program ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote on stderr, trimmed.
        stderr: String,
    },
    /// The cross-process lab lock could not be taken.
    #[error("could not lock {path}: {source}")]
    Lock {
        /// The lock file.
        path: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// Another lab held the lock for longer than we were willing to wait.
    #[error(
        "another monban lab has held {path} for {waited:?} ({holder}); wait for it, stop it, \
         or raise MONBAN_LAB_LOCK_WAIT (seconds)"
    )]
    LockTimeout {
        /// The lock file.
        path: &'static str,
        /// Who holds it (`held by pid N`, from the lock file, or `holder unknown`).
        holder: String,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// A thread could not enter a network namespace.
    #[error("could not enter network namespace {namespace}: {source}")]
    Netns {
        /// The namespace name.
        namespace: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// A listening socket of the ground truth could not be opened.
    #[error("could not listen on port {port} in {namespace}: {source}")]
    Listen {
        /// The namespace of the target host.
        namespace: String,
        /// The port.
        port: u16,
        /// The operating system's error.
        source: io::Error,
    },
    /// A lab thread died before it reported.
    #[error("a lab thread for {namespace} stopped unexpectedly")]
    Thread {
        /// The namespace the thread worked in.
        namespace: String,
    },
    /// A daemon's program is not installed.
    #[error("{program} is missing: install the Debian package {package} (scripts/test.sh does)")]
    DaemonMissing {
        /// The program path.
        program: String,
        /// The package that provides it.
        package: &'static str,
    },
    /// A daemon exited while it should be serving.
    #[error("{name} exited with {status}; its output:\n{log}")]
    DaemonExited {
        /// The daemon.
        name: &'static str,
        /// How it exited.
        status: String,
        /// What it wrote.
        log: String,
    },
    /// A daemon did not accept connections in time.
    #[error("{name} does not accept connections on port {port} after {after:?}")]
    DaemonNotReady {
        /// The daemon.
        name: &'static str,
        /// The port it should listen on.
        port: u16,
        /// How long we waited.
        after: std::time::Duration,
    },
    /// The lab was built but does not carry traffic within the deadline.
    #[error("the lab is not ready: {what}")]
    NotReady {
        /// What could not be reached.
        what: String,
    },
    /// The builder was given values the lab cannot honour.
    #[error("invalid lab configuration: {what}")]
    Config {
        /// What is wrong.
        what: String,
    },
}
