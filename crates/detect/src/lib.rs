//! monban-detect: port-scan detection, sans-IO.
//!
//! The detector is fed `(timestamp, packet)` events and asked for alerts; it never reads a
//! clock or opens a socket. A pcap file is replayed on its own timestamps, so a three-hour
//! slow scan is analysed in milliseconds and every test is deterministic. Live capture
//! (`monban-netio`) and firewall-log records end up as the same events.
#![warn(missing_docs)]

pub mod capture;
pub mod detector;
pub mod fingerprint;
pub mod log;
pub mod net;
pub mod packet;
pub mod report;
pub mod time;

pub use detector::{Config, Detector, Event, Stats};
pub use fingerprint::Tool;
pub use net::Net;
pub use report::{AlertLine, Kind, Report, Technique};
pub use time::Timestamp;
