//! The schema, and its migrations in code.
//!
//! `monban_meta` holds the schema version. Opening a database applies, in order and each in
//! its own transaction, every migration it has not had; a database written by a newer
//! monban (a version above [`LATEST`]) is refused rather than misread. Two processes opening
//! a new database at once are serialised: SQLite by `BEGIN IMMEDIATE`, PostgreSQL by an
//! advisory lock.

use crate::sql::{Db, Dialect, Value};
use crate::StoreError;

/// The newest schema version this monban writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// Migration N (1-based) brings a database from version N-1 to N.
const MIGRATIONS: &[fn(Dialect) -> String] = &[v1];

/// Version 1: scans, hosts, port runs, services, risks.
fn v1(d: Dialect) -> String {
    let id = d.id_column();
    format!(
        "CREATE TABLE scans (
            {id},
            scan_key TEXT NOT NULL UNIQUE,
            scanner TEXT NOT NULL,
            version TEXT NOT NULL,
            args TEXT NOT NULL,
            targets TEXT NOT NULL,
            scan_type TEXT NOT NULL,
            ports TEXT NOT NULL,
            started DOUBLE PRECISION NOT NULL,
            ended DOUBLE PRECISION,
            shards BIGINT NOT NULL,
            shards_done BIGINT NOT NULL,
            interrupted BIGINT NOT NULL
        );
        CREATE INDEX scans_started ON scans (started);
        CREATE TABLE hosts (
            {id},
            scan_id BIGINT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            addr TEXT NOT NULL,
            name TEXT,
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            ttl BIGINT,
            started DOUBLE PRECISION NOT NULL,
            ended DOUBLE PRECISION NOT NULL,
            srtt_us BIGINT,
            mac TEXT,
            timed_out BIGINT NOT NULL,
            incomplete BIGINT NOT NULL,
            UNIQUE (scan_id, addr)
        );
        CREATE INDEX hosts_addr ON hosts (addr);
        CREATE TABLE port_runs (
            host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
            proto TEXT NOT NULL,
            lo BIGINT NOT NULL,
            hi BIGINT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL,
            ttl BIGINT
        );
        CREATE INDEX port_runs_host ON port_runs (host_id);
        CREATE TABLE services (
            host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
            proto TEXT NOT NULL,
            port BIGINT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE INDEX services_host ON services (host_id);
        CREATE TABLE risks (
            host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
            proto TEXT NOT NULL,
            port BIGINT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE INDEX risks_host ON risks (host_id);"
    )
}

const META: &str =
    "CREATE TABLE IF NOT EXISTS monban_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// The database's schema version (0 for an empty database).
pub fn version(db: &mut dyn Db) -> Result<u32, StoreError> {
    db.batch(META)?;
    let rows = db.query("SELECT value FROM monban_meta WHERE key = 'schema'", &[])?;
    match rows.first().and_then(|r| r.first()) {
        None => Ok(0),
        Some(v) => v
            .text()
            .and_then(|t| t.parse().ok())
            .ok_or(StoreError::Corrupt("schema version")),
    }
}

/// Brings the database up to [`LATEST`], or to `upto` when given (tests build every earlier
/// schema this way).
pub fn migrate_to(db: &mut dyn Db, upto: u32) -> Result<(), StoreError> {
    loop {
        match db.dialect() {
            Dialect::Sqlite => db.batch("BEGIN IMMEDIATE")?,
            Dialect::Postgres => {
                db.batch("BEGIN")?;
                // Serialise concurrent first opens (CREATE TABLE IF NOT EXISTS races on
                // PostgreSQL's catalog).
                db.query(
                    "SELECT CAST(pg_advisory_xact_lock(7646662627) AS TEXT)",
                    &[],
                )?;
            }
        }
        let step = (|| {
            let have = version(db)?;
            if have > LATEST {
                return Err(StoreError::Newer {
                    found: have,
                    known: LATEST,
                });
            }
            if have >= upto {
                return Ok(false);
            }
            let m = MIGRATIONS[have as usize];
            db.batch(&m(db.dialect()))?;
            let next = Value::Text((have + 1).to_string());
            if have == 0 {
                db.query(
                    "INSERT INTO monban_meta (key, value) VALUES ('schema', $1)",
                    &[next],
                )?;
            } else {
                db.query(
                    "UPDATE monban_meta SET value = $1 WHERE key = 'schema'",
                    &[next],
                )?;
            }
            Ok(true)
        })();
        match step {
            Ok(more) => {
                db.batch("COMMIT")?;
                if !more {
                    return Ok(());
                }
            }
            Err(e) => {
                let _ = db.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

/// Brings the database up to [`LATEST`].
pub fn migrate(db: &mut dyn Db) -> Result<(), StoreError> {
    migrate_to(db, LATEST)
}
