//! The store: scans in, history and whole scans out.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use monban_engine::{HostReport, HostStatus, PortState, Protocol, Reason, ScanType};
use monban_output::read::{ScanFile, ScannedExtra, ScannedHost, ScannedPort};
use monban_output::{RunInfo, RunStats};

use crate::codec::{self, PortRun};
use crate::schema;
use crate::sql::{Db, Postgres, Sqlite, Value};
use crate::StoreError;

/// Port runs written by one statement (7 parameters each: far below both databases'
/// limits on parameters per statement).
const RUNS_PER_INSERT: usize = 500;

/// A stored scan's number.
pub type ScanId = i64;

/// What is known about a scan when it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewScan {
    /// Identifies the scan across processes: the shards of one sharded scan share it (the
    /// binary derives it from the seed, the shard count and the command line without the
    /// shard); a lone run gets a key of its own.
    pub key: String,
    /// The command line.
    pub args: String,
    /// The targets as given (`10.0.0.0/24 host.example`).
    pub targets: String,
    /// How ports are probed.
    pub scan_type: ScanType,
    /// The ports scanned on every host (`1-1024,8080`).
    pub ports: String,
    /// When it started.
    pub started: SystemTime,
    /// monban's version.
    pub version: String,
    /// How many shards make up the scan (1 for an unsharded one).
    pub shards: u32,
}

/// One line of `monban history`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanSummary {
    /// Its number.
    pub id: ScanId,
    /// The command line (of the first shard stored).
    pub args: String,
    /// Its targets as given.
    pub targets: String,
    /// How ports were probed.
    pub scan_type: String,
    /// Ports scanned per host.
    pub ports: String,
    /// When it started.
    pub started: SystemTime,
    /// When its last shard ended; `None` while running (or if the process died).
    pub ended: Option<SystemTime>,
    /// Shards expected and shards ended.
    pub shards: (u32, u32),
    /// A shard was interrupted.
    pub interrupted: bool,
    /// Hosts stored, and how many of them were up.
    pub hosts: (u64, u64),
    /// Open ports over all hosts.
    pub open: u64,
}

/// A whole stored scan.
#[derive(Debug, Clone)]
pub struct StoredScan {
    /// Its line of history.
    pub summary: ScanSummary,
    /// monban's version that made it.
    pub version: String,
    /// Its hosts, in address order, with every port's result.
    pub hosts: Vec<HostReport>,
}

impl StoredScan {
    /// What the sinks need to write it again as the scan did.
    pub fn run_info(&self) -> RunInfo {
        RunInfo {
            args: self.summary.args.clone(),
            start: self.summary.started,
            scan_type: ScanType::parse(&self.summary.scan_type).unwrap_or(ScanType::Syn),
            tcp_ports: monban_engine::ports::parse_ports(&self.summary.ports)
                .map(|l| {
                    let proto = ScanType::parse(&self.summary.scan_type)
                        .map_or(Protocol::Tcp, ScanType::protocol);
                    l.ports(proto).to_vec()
                })
                .unwrap_or_default(),
            // The sinks take a static string; one leak per `show`, of a few bytes.
            version: Box::leak(self.version.clone().into_boxed_str()),
            num_hosts_hint: Some(self.hosts.len() as u128),
            resumed: false,
        }
    }

    /// Its end, for the sinks.
    pub fn run_stats(&self) -> RunStats {
        let up = self
            .hosts
            .iter()
            .filter(|h| h.status == HostStatus::Up)
            .count() as u64;
        let end = self.summary.ended.unwrap_or(self.summary.started);
        RunStats {
            end,
            elapsed: end.duration_since(self.summary.started).unwrap_or_default(),
            hosts_up: up,
            hosts_down: self.hosts.len() as u64 - up,
            hosts_total: self.hosts.len() as u64,
            interrupted: self.summary.interrupted,
        }
    }

    /// The scan as a [`ScanFile`], as if read back from its XML (for `monban diff`).
    pub fn to_scan_file(&self) -> ScanFile {
        let hosts = self
            .hosts
            .iter()
            .map(|h| ScannedHost {
                addr: h.addr,
                status: h.status.as_str().to_string(),
                names: h.name.iter().cloned().collect(),
                ports: h
                    .ports
                    .iter()
                    .map(|p| {
                        let d = h.service(p.port, p.proto);
                        ScannedPort {
                            proto: p.proto,
                            port: p.port,
                            state: p.state,
                            reason: Some(p.reason.as_str().to_string()),
                            // As the XML names it: what -sV found, else the port's usual
                            // service.
                            service: d.map(|d| d.name.clone()).or_else(|| {
                                monban_engine::services::service_name(p.port, p.proto)
                                    .map(str::to_string)
                            }),
                            product: d.and_then(|d| d.product.clone()),
                            version: d.and_then(|d| d.version.clone()),
                        }
                    })
                    .collect(),
                extra: Vec::<ScannedExtra>::new(),
            })
            .collect();
        ScanFile {
            scanner: "monban".into(),
            args: Some(self.summary.args.clone()),
            start: Some(codec::secs(self.summary.started) as u64),
            hosts,
            truncated: false,
        }
    }
}

/// Scan history in a database.
pub struct Store {
    db: Box<dyn Db>,
}

/// The default database file: `$XDG_DATA_HOME/monban/history.db`, else
/// `~/.local/share/monban/history.db` (for root too, as for any user).
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("monban").join("history.db"))
}

fn b(v: bool) -> Value {
    Value::Int(i64::from(v))
}

impl Store {
    /// Opens a store: a `postgres://` or `postgresql://` URL, else an SQLite file (created
    /// with its directory). The schema is created or brought up to date.
    pub fn open(spec: &str) -> Result<Store, StoreError> {
        let db: Box<dyn Db> =
            if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
                Box::new(Postgres::connect(spec)?)
            } else {
                let path = Path::new(spec);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Open(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                Box::new(Sqlite::open(path)?)
            };
        Store::with(db)
    }

    /// A store over an open connection.
    pub fn with(mut db: Box<dyn Db>) -> Result<Store, StoreError> {
        schema::migrate(db.as_mut())?;
        Ok(Store { db })
    }

    /// The schema version of the database.
    pub fn schema_version(&mut self) -> Result<u32, StoreError> {
        schema::version(self.db.as_mut())
    }

    fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let begin = match self.db.dialect() {
            // IMMEDIATE: take the write lock now, so two writers queue instead of failing
            // when both try to upgrade a read lock.
            crate::sql::Dialect::Sqlite => "BEGIN IMMEDIATE",
            crate::sql::Dialect::Postgres => "BEGIN",
        };
        self.db.batch(begin)?;
        match f(self.db.as_mut()) {
            Ok(v) => {
                self.db.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.db.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Records the start of a scan (or joins the scan another shard started); its id.
    pub fn begin_scan(&mut self, s: &NewScan) -> Result<ScanId, StoreError> {
        self.in_transaction(|db| {
            // Two shards may begin at once: the insert that loses does nothing, and both
            // read the one row back.
            db.query(
                "INSERT INTO scans (scan_key, scanner, version, args, targets, scan_type, ports, started, \
                 shards, shards_done, interrupted) VALUES ($1, 'monban', $2, $3, $4, $5, $6, $7, $8, 0, 0) \
                 ON CONFLICT (scan_key) DO NOTHING",
                &[
                    s.key.as_str().into(),
                    s.version.as_str().into(),
                    s.args.as_str().into(),
                    s.targets.as_str().into(),
                    s.scan_type.as_str().into(),
                    s.ports.as_str().into(),
                    codec::secs(s.started).into(),
                    i64::from(s.shards.max(1)).into(),
                ],
            )?;
            let rows = db.query("SELECT id FROM scans WHERE scan_key = $1", &[s.key.as_str().into()])?;
            let id = rows
                .first()
                .and_then(|r| r.first())
                .and_then(Value::int)
                .ok_or(StoreError::Corrupt("scan id"))?;
            db.query(
                "UPDATE scans SET started = CASE WHEN started < $1 THEN started ELSE $1 END WHERE id = $2",
                &[codec::secs(s.started).into(), id.into()],
            )?;
            Ok(id)
        })
    }

    /// Stores one finished host of scan `id`: in one transaction, merged with what other
    /// shards stored for the same address (up wins, ports add up).
    pub fn add_host(&mut self, id: ScanId, h: &HostReport) -> Result<(), StoreError> {
        self.in_transaction(|db| {
            let addr = h.addr.to_string();
            // Another shard may store the same host: insert if new, then merge (up wins,
            // the earliest start and latest end, ports add up).
            db.query(
                "INSERT INTO hosts (scan_id, addr, name, status, reason, ttl, started, ended, srtt_us, \
                 mac, timed_out, incomplete) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (scan_id, addr) DO NOTHING",
                &[
                    id.into(),
                    addr.as_str().into(),
                    h.name.clone().into(),
                    h.status.as_str().into(),
                    h.status_reason.as_str().into(),
                    h.status_ttl.map(i64::from).into(),
                    codec::secs(h.start).into(),
                    codec::secs(h.end).into(),
                    h.srtt.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)).into(),
                    h.mac.map(|m| m.to_string()).into(),
                    b(h.timed_out),
                    b(h.incomplete),
                ],
            )?;
            let found = db.query(
                "SELECT id, status FROM hosts WHERE scan_id = $1 AND addr = $2",
                &[id.into(), addr.as_str().into()],
            )?;
            let row = found.first().ok_or(StoreError::Corrupt("host row"))?;
            let host_id = row[0].int().ok_or(StoreError::Corrupt("host id"))?;
            if row[1].text() != Some("up") && h.status == HostStatus::Up {
                db.query(
                    "UPDATE hosts SET status = 'up', reason = $1, ttl = $2 WHERE id = $3",
                    &[h.status_reason.as_str().into(), h.status_ttl.map(i64::from).into(), host_id.into()],
                )?;
            }
            db.query(
                "UPDATE hosts SET started = CASE WHEN started < $1 THEN started ELSE $1 END, \
                 ended = CASE WHEN ended > $2 THEN ended ELSE $2 END, \
                 timed_out = CASE WHEN timed_out > $3 THEN timed_out ELSE $3 END, \
                 incomplete = CASE WHEN incomplete > $4 THEN incomplete ELSE $4 END WHERE id = $5",
                &[
                    codec::secs(h.start).into(),
                    codec::secs(h.end).into(),
                    b(h.timed_out),
                    b(h.incomplete),
                    host_id.into(),
                ],
            )?;
            // Many rows per statement: the ports of one shard are scattered (every port its
            // own run), and a statement per row costs a round trip to a server each.
            for chunk in codec::runs(&h.ports).chunks(RUNS_PER_INSERT) {
                let mut sql = String::from(
                    "INSERT INTO port_runs (host_id, proto, lo, hi, state, reason, ttl) VALUES ",
                );
                let mut params = Vec::with_capacity(chunk.len() * 7);
                for (i, r) in chunk.iter().enumerate() {
                    let n = i * 7;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7
                    ));
                    params.extend([
                        host_id.into(),
                        r.proto.as_str().into(),
                        i64::from(r.lo).into(),
                        i64::from(r.hi).into(),
                        r.state.as_str().into(),
                        r.reason.as_str().into(),
                        r.ttl.map(i64::from).into(),
                    ]);
                }
                db.query(&sql, &params)?;
            }
            for s in &h.services {
                db.query(
                    "INSERT INTO services (host_id, proto, port, detail) VALUES ($1, $2, $3, $4)",
                    &[host_id.into(), s.proto.as_str().into(), i64::from(s.port).into(), codec::service_json(s).into()],
                )?;
            }
            for r in &h.risks {
                db.query(
                    "INSERT INTO risks (host_id, proto, port, detail) VALUES ($1, $2, $3, $4)",
                    &[host_id.into(), r.proto.as_str().into(), i64::from(r.port).into(), codec::risk_json(r).into()],
                )?;
            }
            Ok(())
        })
    }

    /// Records that one shard of scan `id` ended.
    pub fn end_scan(&mut self, id: ScanId, stats: &RunStats) -> Result<(), StoreError> {
        self.in_transaction(|db| {
            db.query(
                "UPDATE scans SET shards_done = shards_done + 1, \
                 ended = CASE WHEN ended IS NULL OR ended < $1 THEN $1 ELSE ended END, \
                 interrupted = CASE WHEN interrupted > $2 THEN interrupted ELSE $2 END WHERE id = $3",
                &[codec::secs(stats.end).into(), b(stats.interrupted), id.into()],
            )?;
            Ok(())
        })
    }

    /// Stored scans, newest first; only those of `target` (an address or name of a host
    /// in it, or its targets exactly as given) when one is named.
    pub fn history(&mut self, target: Option<&str>) -> Result<Vec<ScanSummary>, StoreError> {
        match target {
            None => self.summaries("", &[]),
            Some(t) => self.summaries(
                "WHERE s.targets = $1 OR EXISTS (SELECT 1 FROM hosts h WHERE h.scan_id = s.id \
                 AND (h.addr = $1 OR h.name = $1))",
                &[t.into()],
            ),
        }
    }

    /// The summaries of the scans `filter` (a WHERE clause over `scans s`) selects,
    /// newest first.
    fn summaries(
        &mut self,
        filter: &str,
        params: &[Value],
    ) -> Result<Vec<ScanSummary>, StoreError> {
        let sql = format!(
            "SELECT s.id, s.args, s.targets, s.scan_type, s.ports, s.started, s.ended, s.shards, \
             s.shards_done, s.interrupted, \
             (SELECT COUNT(*) FROM hosts h WHERE h.scan_id = s.id), \
             (SELECT COUNT(*) FROM hosts h WHERE h.scan_id = s.id AND h.status = 'up'), \
             (SELECT CAST(COALESCE(SUM(r.hi - r.lo + 1), 0) AS BIGINT) FROM port_runs r \
              JOIN hosts h ON r.host_id = h.id WHERE h.scan_id = s.id AND r.state = 'open') \
             FROM scans s {filter} ORDER BY s.started DESC, s.id DESC"
        );
        self.db
            .query(&sql, params)?
            .iter()
            .map(|r| summary(r))
            .collect()
    }

    /// One whole scan; `None` if there is no scan `id`.
    pub fn load(&mut self, id: ScanId) -> Result<Option<StoredScan>, StoreError> {
        let Some(summary) = self
            .summaries("WHERE s.id = $1", &[id.into()])?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let version = self
            .db
            .query("SELECT version FROM scans WHERE id = $1", &[id.into()])?
            .first()
            .and_then(|r| r[0].text().map(str::to_string))
            .unwrap_or_default();
        let rows = self.db.query(
            "SELECT id, addr, name, status, reason, ttl, started, ended, srtt_us, mac, timed_out, incomplete \
             FROM hosts WHERE scan_id = $1",
            &[id.into()],
        )?;
        let mut hosts = Vec::with_capacity(rows.len());
        for r in rows {
            let hid = r[0].int().ok_or(StoreError::Corrupt("host id"))?;
            let addr: IpAddr = r[1]
                .text()
                .and_then(|a| a.parse().ok())
                .ok_or(StoreError::Corrupt("host address"))?;
            let runs: Vec<PortRun> = self
                .db
                .query(
                    "SELECT proto, lo, hi, state, reason, ttl FROM port_runs WHERE host_id = $1",
                    &[hid.into()],
                )?
                .iter()
                .map(|p| {
                    Some(PortRun {
                        proto: Protocol::parse(p[0].text()?)?,
                        lo: u16::try_from(p[1].int()?).ok()?,
                        hi: u16::try_from(p[2].int()?).ok()?,
                        state: PortState::parse(p[3].text()?)?,
                        reason: Reason::parse(p[4].text()?)?,
                        ttl: p[5].int().and_then(|t| u8::try_from(t).ok()),
                    })
                })
                .collect::<Option<_>>()
                .ok_or(StoreError::Corrupt("port run"))?;
            let detail = |db: &mut dyn Db,
                          table: &str|
             -> Result<Vec<(Protocol, u16, String)>, StoreError> {
                Ok(db
                    .query(
                        &format!("SELECT proto, port, detail FROM {table} WHERE host_id = $1 ORDER BY proto, port"),
                        &[hid.into()],
                    )?
                    .iter()
                    .filter_map(|d| {
                        Some((
                            Protocol::parse(d[0].text()?)?,
                            u16::try_from(d[1].int()?).ok()?,
                            d[2].text()?.to_string(),
                        ))
                    })
                    .collect())
            };
            let services = detail(self.db.as_mut(), "services")?
                .into_iter()
                .filter_map(|(p, n, t)| codec::service_back(p, n, &t))
                .collect();
            let risks = detail(self.db.as_mut(), "risks")?
                .into_iter()
                .filter_map(|(p, n, t)| codec::risk_back(p, n, &t))
                .collect();
            hosts.push(HostReport {
                addr,
                name: r[2].text().map(str::to_string),
                status: r[3]
                    .text()
                    .and_then(HostStatus::parse)
                    .unwrap_or(HostStatus::Down),
                status_reason: r[4]
                    .text()
                    .and_then(Reason::parse)
                    .unwrap_or(Reason::NoResponse),
                status_ttl: r[5].int().and_then(|t| u8::try_from(t).ok()),
                start: codec::time(r[6].real().unwrap_or(0.0)),
                end: codec::time(r[7].real().unwrap_or(0.0)),
                ports: codec::expand(&runs),
                timed_out: r[10].int() == Some(1),
                incomplete: r[11].int() == Some(1),
                srtt: r[8]
                    .int()
                    .and_then(|u| u64::try_from(u).ok())
                    .map(std::time::Duration::from_micros),
                mac: r[9].text().and_then(monban_wire::MacAddr::parse),
                services,
                risks,
            });
        }
        hosts.sort_by_key(|h| h.addr);
        Ok(Some(StoredScan {
            summary,
            version,
            hosts,
        }))
    }

    /// The newest scan before `id` that shares a host with it (for `monban diff` with one
    /// id, or none: the last two scans of the same target).
    pub fn previous(&mut self, id: ScanId) -> Result<Option<ScanId>, StoreError> {
        let rows = self.db.query(
            "SELECT s.id FROM scans s WHERE s.id <> $1 AND s.started <= (SELECT started FROM scans WHERE id = $1) \
             AND (s.targets = (SELECT targets FROM scans WHERE id = $1) OR EXISTS (SELECT 1 FROM hosts a JOIN hosts b \
             ON a.addr = b.addr WHERE a.scan_id = s.id AND b.scan_id = $1)) ORDER BY s.started DESC, s.id DESC",
            &[id.into()],
        )?;
        Ok(rows.first().and_then(|r| r[0].int()))
    }
}

fn summary(r: &[Value]) -> Result<ScanSummary, StoreError> {
    let text = |i: usize| {
        r.get(i)
            .and_then(Value::text)
            .unwrap_or_default()
            .to_string()
    };
    let int = |i: usize| r.get(i).and_then(Value::int).unwrap_or(0);
    Ok(ScanSummary {
        id: r
            .first()
            .and_then(Value::int)
            .ok_or(StoreError::Corrupt("scan id"))?,
        args: text(1),
        targets: text(2),
        scan_type: text(3),
        ports: text(4),
        started: codec::time(r.get(5).and_then(Value::real).unwrap_or(0.0)),
        ended: r.get(6).and_then(Value::real).map(codec::time),
        shards: (
            u32::try_from(int(7)).unwrap_or(1),
            u32::try_from(int(8)).unwrap_or(0),
        ),
        interrupted: int(9) != 0,
        hosts: (
            u64::try_from(int(10)).unwrap_or(0),
            u64::try_from(int(11)).unwrap_or(0),
        ),
        open: u64::try_from(int(12)).unwrap_or(0),
    })
}
