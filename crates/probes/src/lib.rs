//! monban's service and version detection data, and its matcher. Pure: no sockets, no
//! clock, no printing. The caller connects, sends [`Probe::payload`], reads the reply within
//! [`Probe::wait`] and at most [`MAX_REPLY_BYTES`], and asks [`ProbeDb::identify`].
//!
//! ```
//! use monban_probes::{ProbeDb, Protocol};
//!
//! let db = ProbeDb::builtin().expect("the embedded database parses");
//! let first = db.probes_for(22, Protocol::Tcp, 7).next().expect("a probe for port 22");
//! assert!(first.is_null()); // SSH speaks first: connect and listen
//! let m = db.identify(first, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n").unwrap();
//! assert_eq!(m.product.as_deref(), Some("OpenSSH"));
//! assert_eq!(m.version.as_deref(), Some("9.2p1"));
//! ```
//!
//! # The probe database (`files/probes.txt` of `monban-data`)
//!
//! Our own line-oriented format, written by hand from how each protocol works. One keyword
//! starts each line; blank lines and lines whose first non-blank character is `#` are
//! ignored (there are no trailing comments: regexes and payloads may contain `#`).
//! Indentation is only for the reader.
//!
//! ```text
//! probe NAME tcp|udp        starts a probe; NAME is unique ([A-Za-z0-9][A-Za-z0-9._-]*)
//!   send null               TCP only: send nothing, wait for the server to speak first
//!   send "GET / \x00\r\n"   bytes to send; escapes \\ \" \r \n \t \0 \xHH; printable ASCII
//!                           otherwise; repeat `send` lines to append (long binary payloads)
//!   send payload NAME       the bytes of the UDP scan payload NAME
//!                           (`monban_data::payloads`), so a request is written once
//!   ports 80 8000-8010      ports where this probe is tried first (optional)
//!   rarity 1-9              1: tried at every intensity ... 9: only at intensity 9
//!   wait 500ms | 5s         how long to wait for a reply (1 ms to 60 s)
//!   fallback NAME ...       also match the reply against these probes' rules (optional)
//!   match SERVICE           starts a hard rule (the service and, usually, the product)
//!   softmatch SERVICE       starts a soft rule (the service only; more probes may refine)
//!     regex PATTERN         to the end of the line (trailing blanks dropped: write \x20)
//!     product TEMPLATE      optional fields, each at most once ...
//!     version TEMPLATE
//!     info TEMPLATE
//!     host TEMPLATE         a host name the service announced
//!     os TEMPLATE
//!     cpe TEMPLATE          ... except cpe, which may repeat (application first)
//! ```
//!
//! Regexes use the `regex` crate's syntax over bytes, with Unicode off: `\xHH` is one byte,
//! `.` is any byte but `\n` (add `(?s)` for binary replies), `\d \w \s` and `(?i)` are ASCII.
//! They run in linear time whatever the reply. Each probe's rules are compiled once into a
//! [`regex::bytes::RegexSet`] plus one regex per rule for the captures.
//!
//! Templates are text with `$1`-`$9` (capture group as text), `$#1` (the group's bytes as a
//! big-endian unsigned number, 1-8 bytes), `$<1` (little-endian), `$$ ${ $}` (literal
//! `$ { }`), and optional segments `{...}` kept only when every group inside is non-empty
//! (`info {$3; }protocol $1`). An empty result leaves the field unset. Captured text is
//! decoded lossily and cleaned by [`clean`]; a field longer than [`MAX_FIELD_CHARS`] is cut
//! and ends in `…`.
//!
//! Matching: the probe's own rules in file order, then its fallbacks' rules, then (for
//! every TCP probe) the null probe's rules, because a server that speaks first greets
//! whatever we sent. The first hard match wins; otherwise the first soft match.
//!
//! # Risk advice (`files/risks.txt` of `monban-data`)
//!
//! [`risk_for`] tells whether an open port is a risky service to expose, why, and what to
//! do; the format is described at the top of the data file.

mod db;
mod error;
mod lex;
mod risk;
mod template;

pub use db::{Probe, ProbeDb, Protocol, ServiceMatch, MAX_REPLY_BYTES};
pub use error::{ProbeDbError, RiskTableError};
pub use risk::{risk_for, Risk, RiskLevel, RiskTable};
pub use template::{clean, MAX_FIELD_CHARS};
