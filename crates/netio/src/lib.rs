//! monban-netio: the platform under the engine.
//!
//! Drivers own the sockets and the clock and feed the sans-IO [`monban_engine::Scan`]:
//! - [`syn::run`]: raw IPv4/IPv6 sockets send the engine's TCP probes (SYN, FIN, NULL,
//!   Xmas, ACK, window) in batches
//!   (`sendmmsg`); one `AF_PACKET` socket with a kernel BPF filter receives only TCP to
//!   our source port and ICMP errors, in batches (`recvmmsg`).
//! - [`connect::run`]: many non-blocking `connect()`s under `epoll`, bounded by the
//!   open-file limit (EMFILE is back-pressure); the exact ICMP type behind a failed
//!   connect is read from the socket's error queue (`IP_RECVERR`); sockets close with
//!   RST (linger 0) so no TIME_WAIT piles up.
//! - [`capture::LiveCapture`]: live capture for the detector: an `AF_PACKET` socket with a
//!   kernel filter passing only IPv4 and IPv6, read through a `TPACKET_V3` ring.
//! - [`RawSockets`]: the raw and packet sockets of a scan, opened ahead so the process can
//!   give up its privileges; the raw and neighbour drivers borrow them and create none.
//!
//! Drivers never print: events and progress go to a [`Handler`].

pub mod bounce;
pub mod capture;
pub mod connect;
mod error;
pub mod neighbor;
mod rawsock;
pub mod route;
pub mod syn;
mod sys;
pub mod version;

pub use capture::{CaptureOptions, CaptureStats, CapturedPacket, LiveCapture};
pub use error::NetError;
pub use rawsock::RawSockets;

use monban_engine::{Event, Progress};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Receives what a driver learns, as it learns it.
pub trait Handler {
    /// A scan event (open port found, host finished).
    fn event(&mut self, event: Event);
    /// Periodic progress (about every [`PROGRESS_EVERY`]).
    fn progress(&mut self, progress: &Progress);
}

/// How often [`Handler::progress`] is called.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Hands the engine's pending events to the handler, and progress when it is due.
/// Returns true when the scan is done (final progress already delivered).
pub(crate) fn deliver(
    scan: &mut monban_engine::Scan,
    handler: &mut dyn Handler,
    now: std::time::Instant,
    last_progress: &mut std::time::Instant,
) -> bool {
    while let Some(ev) = scan.poll_event() {
        handler.event(ev);
    }
    let done = scan.is_done();
    if done || now.duration_since(*last_progress) >= PROGRESS_EVERY {
        *last_progress = now;
        handler.progress(&scan.progress());
    }
    done
}

/// Options shared by the drivers.
#[derive(Debug, Clone, Default)]
pub struct DriveOptions {
    /// Set to true (e.g. from a signal handler) to stop sending and finish early.
    pub stop: Arc<AtomicBool>,
    /// Network interface to use (`-e`).
    pub interface: Option<String>,
    /// Raw and packet sockets opened ahead (see [`RawSockets`]): the raw driver takes
    /// its sockets from here and creates none. `None`: it opens its own.
    pub sockets: Option<Arc<RawSockets>>,
}

/// Whether this process may open raw sockets (root or CAP_NET_RAW).
pub fn can_use_raw_sockets() -> bool {
    sys::raw_socket(libc::AF_INET).is_ok()
}
