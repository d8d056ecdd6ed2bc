//! monban-local: what listens on this host, who owns it, and who can reach it.
//!
//! `ss` and `lsof` answer for one network namespace at a time, name `systemd` as the owner
//! of a socket-activated service, and call a container's `0.0.0.0` public. This crate reads
//! the whole host instead:
//!
//! - [`ns`]: every network namespace (those of processes, and the named ones of
//!   `ip netns`), and running code inside one (`setns` on a thread of its own);
//! - [`diag`]: the listening TCP and bound UDP sockets of a namespace from the kernel's
//!   `sock_diag` netlink interface, [`procnet`] as the fallback;
//! - [`procs`]: which processes hold each socket (their `/proc/PID/fd` links), and who they
//!   are; [`cgroup`]: their systemd unit or container; [`dpkg`]: the package of their
//!   executable; [`units`]: the `.socket` unit behind a socket systemd holds;
//! - [`inventory`]: all of it put together ([`inventory::gather`]), with each socket's
//!   exposure (loopback, one address, every address) and the addresses that reach it;
//! - [`against`]: the join with a scan of this host made from elsewhere (exposed,
//!   protected, surprises); [`report`]: the table, JSON Lines, XML and the advice.
//!
//! Everything here only reads; nothing stops or kills a process. The parsers are plain
//! functions over text or bytes and are tested on fixtures; the walk of the host is tested
//! in network-namespace labs against `ss` (`tests/lab_local.rs`).
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
