//! monban-local: what listens on this host, who owns it, and who can reach it.
#![warn(missing_docs)]

pub mod against;
pub mod cgroup;
pub mod diag;
pub mod dpkg;
pub mod inventory;
pub mod ns;
pub mod procnet;
pub mod procs;
pub mod report;
pub mod units;
