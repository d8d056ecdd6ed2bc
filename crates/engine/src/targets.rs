//! Target specifications: addresses, CIDR, octet ranges, names; lazy target sets.
//! (Stub: being written.)

use std::net::IpAddr;
use std::sync::Arc;

/// One host to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its address.
    pub addr: IpAddr,
    /// The name the user gave for it, if any.
    pub name: Option<Arc<str>>,
}
