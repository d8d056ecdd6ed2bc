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
