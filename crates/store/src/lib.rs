//! monban-store: scan history in a database.
//!
//! `monban scan --db` stores every finished host of a scan (ports as runs of alike ports,
//! so a full-range scan of a host is a few rows and comes back exactly), `monban history`
//! lists scans, `monban show` writes one again in any output format, and `monban diff`
//! compares two. The default database is an embedded SQLite file
//! ([`store::default_path`]); a `postgres://` URL stores into PostgreSQL instead, the shared
//! store of several machines or users, with the same schema ([`schema`]) and the same
//! statements ([`sql`]). The shards of one scan run from several machines land as one scan:
//! they share its key.
#![warn(missing_docs)]

pub mod codec;
pub mod schema;
pub mod sink;
pub mod sql;
pub mod store;

pub use sink::StoreSink;
pub use store::{default_path, NewScan, ScanId, ScanSummary, Store, StoredScan};

/// Why the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or connected to.
    #[error("cannot open the database: {0}")]
    Open(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Sql(String),
    /// The database holds something monban did not write.
    #[error("the database holds an unreadable {0}")]
    Corrupt(&'static str),
    /// A newer monban wrote the database.
    #[error("the database has schema version {found}, newer than this monban knows ({known}): upgrade monban")]
    Newer {
        /// Its version.
        found: u32,
        /// Ours.
        known: u32,
    },
}
