//! monban-local: what listens on this host, who owns it, and who can reach it.
#![warn(missing_docs)]

pub mod cgroup;
pub mod dpkg;
pub mod procnet;
pub mod units;
