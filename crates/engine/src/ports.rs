//! Port specifications (`-p`), port lists and our own top-ports ranking.
//! (Stub: being written.)

/// Ports to scan, per protocol; each list sorted ascending, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortList {
    /// TCP ports.
    pub tcp: Vec<u16>,
    /// UDP ports.
    pub udp: Vec<u16>,
}
