use std::io;
use std::net::IpAddr;

/// What went wrong in the platform layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Raw sockets need privileges this process does not have.
    #[error("this scan sends its own packets (-sS, -sF, -sN, -sX, -sA, -sW) and needs raw sockets (CAP_NET_RAW): run as root, or grant the capability with `setcap cap_net_raw+ep $(which monban)`, or use a connect scan (-sT)")]
    NeedRawPrivilege,
    /// No route to a target, so no source address for it.
    #[error("no route to {addr}")]
    NoRoute {
        /// The target.
        addr: IpAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The interface given with -e does not exist.
    #[error("interface {0:?} not found")]
    NoSuchInterface(String),
    /// The interface named for live capture does not exist.
    #[error("no interface named {0:?}: see `ip link`")]
    NoCaptureInterface(String),
    /// Live capture needs privileges this process does not have.
    #[error("live capture needs CAP_NET_RAW: run as root, or read a file with -r")]
    NeedCapturePrivilege,
    /// The kernel could not allocate or map the capture ring.
    #[error("could not set up a capture ring of {bytes} bytes: free some memory or ask for a smaller ring")]
    CaptureRing {
        /// The ring's size.
        bytes: usize,
        /// The OS error.
        source: io::Error,
    },
    /// The interface being captured on was deleted.
    #[error("interface {0:?} was deleted during the capture: start again once it is back (see `ip link`)")]
    CaptureInterfaceGone(String),
    /// A driver needed a socket that the [`crate::RawSockets`] pool it was given does not
    /// hold (the process can no longer create one).
    #[error("no {0} was opened before privileges were dropped: run with --keep-privileges")]
    NotPrepared(&'static str),
    /// A socket operation failed.
    #[error("{what} failed")]
    Io {
        /// Which operation.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl NetError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> NetError {
        move |source| NetError::Io { what, source }
    }
}
