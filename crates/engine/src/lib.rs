//! monban-engine: the sans-IO heart of monban.
//!
//! The engine turns targets × ports into probes and replies into port states. It never
//! opens a socket and never reads a clock: the caller feeds it `(now, packet)` and asks
//! it what to send and when to wake (see [`scan::Scan`]). That keeps loss, reordering,
//! rate limits and RTT testable deterministically in a simulated network.

pub mod bounce;
pub mod cookie;
pub mod neighbor;
pub mod perm;
pub mod ports;
pub mod scan;
pub mod services;
pub mod targets;
pub mod timing;
pub mod types;
pub mod verdict;
pub mod version;

pub use scan::{ConnectOutcome, Event, Progress, Scan, ScanConfig, ScanError, Transmit};
pub use timing::Timing;
pub use types::*;
