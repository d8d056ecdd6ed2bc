//! monban-serve: the self-scan page.
//!
//! A visitor opens the page, presses a profile's button, and the server scans the
//! visitor's own address — never another: the target is the peer address of the
//! connection, or the address a proxy named with `--trust-proxy` forwarded for
//! ([`visitor`]). Progress arrives live over server-sent events; the table answers OPEN,
//! CLOSED or BLOCKED per port with the risk note and the advice, the verdict (exposed,
//! visible, stealth), and what changed since the visitor's previous scan, kept in the
//! history database. One scan at a time per visitor, an hourly limit, a cap on scans at
//! once ([`limits`]); forms and API calls carry a CSRF token ([`csrf`]); banners are
//! escaped ([`page`]). Each scan is a `monban scan` child process whose JSON Lines feed
//! the page ([`scan`]); [`app`] is the axum server around them.
#![warn(missing_docs)]

pub mod app;
pub mod csrf;
pub mod limits;
pub mod page;
pub mod scan;
pub mod visitor;

pub use app::{run, Config, Profile};

/// Why the server could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// The history database could not be opened.
    #[error("the history database: {0}")]
    Store(String),
    /// The address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, String),
    /// The runtime or the server failed.
    #[error("{0}")]
    Io(String),
}

/// A time as the page shows it (UTC, to the second).
pub(crate) fn when(t: std::time::SystemTime) -> String {
    monban_output::utc_seconds(t)
}
