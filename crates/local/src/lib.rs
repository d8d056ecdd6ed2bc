//! monban-local: what listens on this host, who owns it, and who can reach it.
#![warn(missing_docs)]

pub mod cgroup;
pub mod dpkg;
pub mod procnet;
pub mod units;
pub mod diag;
pub mod ns;
pub mod procs;
pub mod inventory;
pub mod against;
pub mod report;
