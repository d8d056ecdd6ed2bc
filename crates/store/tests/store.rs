//! The store on SQLite and on a real PostgreSQL server (Debian's `postgresql`, started by
//! the test in a temporary directory and stopped after): the same checks on both.
//!
//! - a scan in, the same scan out: every port of a full-range host, UDP, services with TLS
//!   certificates, risk notes, a down host; `history`, `previous`;
//! - the shards of one scan written by four connections at once land as one scan;
//! - four scans written at once by four connections stay apart and complete;
//! - migrations from an empty database and from every earlier schema; a newer schema is
//!   refused.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monban_engine::types::{CertDetail, RiskNote, ServiceDetail, TlsDetail};
use monban_engine::{HostReport, HostStatus, PortResult, PortState, Protocol, Reason, ScanType};
use monban_lab::pg::Scratch;
use monban_output::RunStats;
use monban_store::sql::{Db, Sqlite};
use monban_store::{schema, NewScan, Store, StoreError};

fn at(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(1_795_239_000_000_000 + micros)
}

fn port(port: u16, proto: Protocol, state: PortState, reason: Reason) -> PortResult {
    PortResult {
        port,
        proto,
        state,
        reason,
        ttl: Some(64),
    }
}

/// A host with every TCP port scanned (`ports` of them open) and two UDP ports.
fn host(addr: &str, open: &[u16], range: std::ops::RangeInclusive<u16>) -> HostReport {
    let mut ports: Vec<PortResult> = range
        .map(|p| {
            if open.contains(&p) {
                port(p, Protocol::Tcp, PortState::Open, Reason::SynAck)
            } else {
                port(p, Protocol::Tcp, PortState::Closed, Reason::Reset)
            }
        })
        .collect();
    ports.push(port(
        53,
        Protocol::Udp,
        PortState::Open,
        Reason::UdpResponse,
    ));
    ports.push(port(
        161,
        Protocol::Udp,
        PortState::OpenFiltered,
        Reason::NoResponse,
    ));
    HostReport {
        addr: addr.parse().unwrap(),
        name: Some(format!("h-{addr}")),
        status: HostStatus::Up,
        status_reason: Reason::EchoReply,
        status_ttl: Some(64),
        start: at(1_000),
        end: at(2_500_000),
        ports,
        timed_out: false,
        incomplete: false,
        srtt: Some(Duration::from_micros(250)),
        mac: monban_wire::MacAddr::parse("02:00:00:00:00:0a"),
        services: Vec::new(),
        risks: Vec::new(),
    }
}

fn rich_host() -> HostReport {
    let mut h = host("10.0.0.5", &[22, 23, 443], 1..=65535);
    h.services = vec![ServiceDetail {
        port: 443,
        proto: Protocol::Tcp,
        name: "http".into(),
        product: Some("nginx \"<x>\"".into()),
        version: Some("1.22.1".into()),
        info: None,
        hostname: None,
        os: None,
        cpe: vec!["cpe:/a:nginx:nginx:1.22.1".into()],
        soft: false,
        tunnel: Some("ssl".into()),
        tls: Some(TlsDetail {
            version: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            cert: Some(CertDetail {
                subject: vec![("CN".into(), "lab.example".into())],
                issuer: vec![("CN".into(), "lab CA".into())],
                not_before: "2024-01-31T00:00:00Z".into(),
                not_after: "2034-01-31T00:00:00Z".into(),
                alt_names: vec!["DNS:lab.example".into()],
                key: Some("ec 256 (P-256)".into()),
                signature: "ecdsa-with-SHA256".into(),
                sha256: "ab".repeat(32),
            }),
            cert_error: None,
        }),
    }];
    h.risks = vec![RiskNote {
        port: 23,
        proto: Protocol::Tcp,
        level: "high".into(),
        name: "telnet".into(),
        why: "Logins cross the network in clear text.".into(),
        advice: "Use SSH.".into(),
    }];
    h
}

fn down(addr: &str) -> HostReport {
    HostReport {
        status: HostStatus::Down,
        status_reason: Reason::NoResponse,
        status_ttl: None,
        name: None,
        ports: Vec::new(),
        srtt: None,
        mac: None,
        ..host(addr, &[], 1..=1)
    }
}

fn new_scan(key: &str, shards: u32) -> NewScan {
    NewScan {
        key: key.into(),
        args: format!("monban scan -p- 10.0.0.0/29 # {key}"),
        targets: "10.0.0.0/29".into(),
        scan_type: ScanType::Syn,
        ports: "1-65535".into(),
        started: at(0),
        version: "0.1.0".into(),
        shards,
    }
}

fn stats(end: u64) -> RunStats {
    RunStats {
        end: at(end),
        elapsed: Duration::from_micros(end),
        hosts_up: 1,
        hosts_down: 1,
        hosts_total: 2,
        interrupted: false,
    }
}

fn round_trip(spec: &str) {
    let mut s = Store::open(spec).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::LATEST);
    let first = s.begin_scan(&new_scan("one", 1)).unwrap();
    let hosts = [rich_host(), down("10.0.0.6")];
    for h in &hosts {
        s.add_host(first, h).unwrap();
    }
    s.end_scan(first, &stats(3_000_000)).unwrap();
    let got = s.load(first).unwrap().expect("the scan");
    assert_eq!(got.hosts, hosts, "hosts come back exactly");
    assert_eq!(got.summary.hosts, (2, 1));
    assert_eq!(got.summary.open, 3 + 1, "three TCP and one UDP");
    assert_eq!(got.summary.shards, (1, 1));
    assert_eq!(got.summary.ended, Some(at(3_000_000)));
    assert_eq!(got.run_info().tcp_ports.len(), 65535);
    assert_eq!(got.run_stats().hosts_up, 1);
    let file = got.to_scan_file();
    assert_eq!(
        file.hosts[0].state_of(Protocol::Tcp, 22),
        Some(PortState::Open)
    );
    assert_eq!(
        file.hosts[0].state_of(Protocol::Tcp, 21),
        Some(PortState::Closed)
    );

    // A second scan of one of the hosts, and one of another network.
    let mut again = new_scan("two", 1);
    again.started = at(10_000_000);
    let second = s.begin_scan(&again).unwrap();
    s.add_host(second, &host("10.0.0.5", &[22], 1..=1024))
        .unwrap();
    s.end_scan(second, &stats(11_000_000)).unwrap();
    let mut other = new_scan("three", 1);
    other.targets = "192.168.9.1".into();
    other.started = at(20_000_000);
    let third = s.begin_scan(&other).unwrap();
    s.add_host(third, &host("192.168.9.1", &[80], 1..=100))
        .unwrap();
    let all: Vec<i64> = s.history(None).unwrap().iter().map(|h| h.id).collect();
    assert_eq!(all, [third, second, first], "newest first");
    let of: Vec<i64> = s
        .history(Some("10.0.0.6"))
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(of, [first]);
    let of: Vec<i64> = s
        .history(Some("h-10.0.0.5"))
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(of, [second, first]);
    assert_eq!(s.previous(second).unwrap(), Some(first));
    assert_eq!(s.previous(first).unwrap(), None);
    assert_eq!(
        s.previous(third).unwrap(),
        None,
        "no scan of that network before"
    );
    assert!(
        s.history(None).unwrap()[0].ended.is_none(),
        "the third never ended"
    );
    assert!(s.load(999_999).unwrap().is_none());
}

fn shards(spec: &str) {
    // Four shards of one scan, each with a quarter of every host's ports, written at once.
    let whole = [rich_host(), host("10.0.0.7", &[80, 8080], 1..=65535)];
    std::thread::scope(|t| {
        for i in 0..4u16 {
            let whole = &whole;
            t.spawn(move || {
                let mut s = Store::open(spec).unwrap();
                let mut scan = new_scan("sharded", 4);
                scan.started = at(u64::from(i) * 1000);
                let id = s.begin_scan(&scan).unwrap();
                for h in whole {
                    let mut part = h.clone();
                    part.ports.retain(|p| p.port % 4 == i);
                    part.services.retain(|p| p.port % 4 == i);
                    part.risks.retain(|p| p.port % 4 == i);
                    s.add_host(id, &part).unwrap();
                }
                s.end_scan(id, &stats(3_000_000 + u64::from(i))).unwrap();
            });
        }
    });
    let mut s = Store::open(spec).unwrap();
    let list = s.history(Some("10.0.0.7")).unwrap();
    assert_eq!(list.len(), 1, "one scan: {list:?}");
    assert_eq!(list[0].shards, (4, 4));
    assert_eq!(list[0].started, at(0));
    assert_eq!(list[0].ended, Some(at(3_000_003)));
    let got = s.load(list[0].id).unwrap().unwrap();
    assert_eq!(got.hosts, whole, "the shards add up to the whole scan");
}

fn concurrent_scans(spec: &str) {
    std::thread::scope(|t| {
        for i in 0..4 {
            t.spawn(move || {
                let mut s = Store::open(spec).unwrap();
                let mut scan = new_scan(&format!("parallel-{i}"), 1);
                scan.targets = format!("172.16.{i}.0/27");
                let id = s.begin_scan(&scan).unwrap();
                for n in 1..=20 {
                    s.add_host(id, &host(&format!("172.16.{i}.{n}"), &[n], 1..=100))
                        .unwrap();
                }
                s.end_scan(id, &stats(5)).unwrap();
            });
        }
    });
    let mut s = Store::open(spec).unwrap();
    for i in 0..4 {
        let list = s.history(Some(&format!("172.16.{i}.0/27"))).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].hosts, (20, 20));
        assert_eq!(list[0].open, 20 + 20, "one TCP and one UDP each");
        let got = s.load(list[0].id).unwrap().unwrap();
        let addrs: Vec<IpAddr> = got.hosts.iter().map(|h| h.addr).collect();
        let mut want: Vec<IpAddr> = (1..=20)
            .map(|n| format!("172.16.{i}.{n}").parse().unwrap())
            .collect();
        want.sort();
        assert_eq!(addrs, want);
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("monban-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sqlite_round_trip() {
    let d = scratch("rt");
    round_trip(d.join("sub/dir/history.db").to_str().unwrap());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn sqlite_shards_land_as_one_scan() {
    let d = scratch("shards");
    shards(d.join("h.db").to_str().unwrap());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn sqlite_concurrent_writers() {
    let d = scratch("conc");
    concurrent_scans(d.join("h.db").to_str().unwrap());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn sqlite_migrations_from_every_schema() {
    let d = scratch("mig");
    for from in 0..=schema::LATEST {
        let path = d.join(format!("v{from}.db"));
        let mut db = Sqlite::open(&path).unwrap();
        schema::migrate_to(&mut db, from).unwrap();
        assert_eq!(schema::version(&mut db).unwrap(), from);
        drop(db);
        let mut s = Store::open(path.to_str().unwrap()).unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::LATEST);
        // The upgraded database works.
        let id = s.begin_scan(&new_scan("after", 1)).unwrap();
        s.add_host(id, &host("10.0.0.1", &[1], 1..=2)).unwrap();
        assert_eq!(s.load(id).unwrap().unwrap().hosts.len(), 1);
    }
    // A database from a newer monban is refused, not misread.
    let path = d.join("newer.db");
    drop(Store::open(path.to_str().unwrap()).unwrap());
    let mut db = Sqlite::open(&path).unwrap();
    db.query(
        "UPDATE monban_meta SET value = $1 WHERE key = 'schema'",
        &[(schema::LATEST + 1).to_string().into()],
    )
    .unwrap();
    drop(db);
    assert!(matches!(
        Store::open(path.to_str().unwrap()),
        Err(StoreError::Newer { .. })
    ));
    // Not a database at all.
    let junk = d.join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    assert!(Store::open(junk.to_str().unwrap()).is_err());
    std::fs::remove_dir_all(d).unwrap();
}

/// A fresh database of its own on the scratch server, for one check.
fn database(pg: &Scratch, name: &str) -> String {
    pg.sql(&format!("CREATE DATABASE {name}")).unwrap();
    pg.url(name)
}

#[test]
fn postgresql_the_same_checks() {
    let dir = scratch("pg");
    let pg = Scratch::start(&dir).unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    round_trip(&database(&pg, "rt"));
    shards(&database(&pg, "shards"));
    concurrent_scans(&database(&pg, "conc"));
    // Migrations: an empty database is brought to the latest schema, twice is harmless,
    // and a newer one is refused.
    let url = database(&pg, "mig");
    for _ in 0..2 {
        assert_eq!(
            Store::open(&url).unwrap().schema_version().unwrap(),
            schema::LATEST
        );
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.execute(
        "UPDATE monban_meta SET value = $1 WHERE key = 'schema'",
        &[&(schema::LATEST + 1).to_string()],
    )
    .unwrap();
    assert!(matches!(Store::open(&url), Err(StoreError::Newer { .. })));
    // Concurrent first opens of one empty database.
    let url = database(&pg, "first");
    std::thread::scope(|t| {
        for _ in 0..4 {
            t.spawn(|| Store::open(&url).unwrap());
        }
    });
}
