//! `monban scan --db`, `history`, `show` and `diff` as a user runs them, on an SQLite file
//! and on a real PostgreSQL server (Debian's, started by the test and stopped after).
//!
//! Connect scans of 127.0.0.1 only, against listeners the test opens: a scan, a port
//! opened, a second scan; the history lists both, `show` gives back every port's state
//! and reason exactly as the scan's own XML and JSON Lines did, `diff` (by ids, by
//! default, mixed with a file) names exactly the port that opened and agrees with the
//! scan files; two shards run at once as two processes land as one scan equal to the
//! whole; `--db` alone stores into the user's data directory.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{parse_jsonl, parse_xml, read, run, scratch, Ran, MONBAN};

const LIMIT: Duration = Duration::from_secs(120);

fn monban(args: &[&str]) -> Ran {
    run(Command::new(MONBAN).args(args), LIMIT)
}

fn ok(args: &[&str]) -> Ran {
    let ran = monban(args);
    assert!(ran.status.success(), "{args:?}: {ran:?}");
    ran
}

/// `(state, reason)` of `ports` in a port table.
fn states(table: &common::PortTable, ports: &[u16]) -> BTreeMap<u16, (String, String)> {
    ports
        .iter()
        .map(|&p| {
            let (s, r) = table.get(p).unwrap_or_else(|| panic!("port {p} missing"));
            (p, (s.to_string(), r.to_string()))
        })
        .collect()
}

fn exercise(db: &str, dir: &Path) {
    let db_flag = format!("--db={db}");
    let l1 = TcpListener::bind("127.0.0.1:0").expect("bind");
    let p1 = l1.local_addr().expect("addr").port();
    let p2 = common::free_port();
    let ports = format!("{p1},{p2},1-1000");
    let f = |n: &str| dir.join(n).display().to_string();

    let scan = |xml: &str, jsonl: &str| {
        ok(&[
            "scan",
            "-sT",
            "-Pn",
            "-n",
            "-p",
            &ports,
            &db_flag,
            "-oX",
            xml,
            "-oJ",
            jsonl,
            "127.0.0.1",
        ]);
    };
    scan(&f("a.xml"), &f("a.jsonl"));
    let l2 = TcpListener::bind(("127.0.0.1", p2)).expect("bind the second port");
    scan(&f("b.xml"), &f("b.jsonl"));

    // History: newest first, with hosts and open ports.
    let ran = ok(&["history", "--db", db, "--json"]);
    let lines: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
    let (second, first) = (
        lines[0]["id"].as_i64().unwrap(),
        lines[1]["id"].as_i64().unwrap(),
    );
    assert!(second > first);
    assert_eq!(
        (lines[0]["open"].as_u64(), lines[1]["open"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(lines[0]["hosts_up"], 1);
    assert_eq!(lines[0]["targets"], "127.0.0.1");
    let table = ok(&["history", "127.0.0.1", "--db", db]).stdout;
    assert_eq!(table.lines().count(), 3, "header and two scans:\n{table}");
    assert!(monban(&["history", "192.0.2.77", "--db", db]).status.code() == Some(1));

    // Show: every port as the scan itself wrote it, in XML and JSON Lines.
    let all: Vec<u16> = (1..=1000).chain([p1, p2]).collect();
    for (id, xml, jsonl) in [(first, "a.xml", "a.jsonl"), (second, "b.xml", "b.jsonl")] {
        let id = id.to_string();
        let shown = ok(&["show", &id, "--db", db, "-oX", "-"]).stdout;
        let want = parse_xml(&read(&dir.join(xml)), xml);
        let got = parse_xml(&shown, "show -oX");
        assert_eq!(
            states(&got["127.0.0.1"], &all),
            states(&want["127.0.0.1"], &all),
            "show {id} -oX"
        );
        let shown = ok(&["show", &id, "--db", db, "-oJ", "-"]).stdout;
        let want = parse_jsonl(&read(&dir.join(jsonl)), jsonl);
        let got = parse_jsonl(&shown, "show -oJ");
        assert_eq!(
            states(&got.hosts["127.0.0.1"], &all),
            states(&want.hosts["127.0.0.1"], &all),
            "show {id} -oJ"
        );
    }
    let normal = ok(&["show", &second.to_string(), "--db", db]).stdout;
    assert!(normal.contains(&format!("{p2}/tcp open")), "{normal}");

    // Diff: by default the newest two, by ids, mixed with a file: exactly p2 opened.
    let opened = format!("+{p2}/tcp");
    let closed_before = format!("-{p2}/tcp");
    for args in [
        vec!["diff", "--db", db],
        vec!["diff", &second.to_string(), "--db", db],
        vec!["diff", &first.to_string(), &second.to_string(), "--db", db],
    ] {
        let ran = monban(&args);
        assert_eq!(ran.status.code(), Some(1), "{args:?}: {ran:?}");
        let changes: Vec<&str> = ran.stdout.lines().filter(|l| l.contains("/tcp")).collect();
        assert_eq!(changes.len(), 2, "{args:?}:\n{}", ran.stdout);
        assert!(changes[0].starts_with(&closed_before) && changes[0].contains("closed"));
        assert!(changes[1].starts_with(&opened) && changes[1].contains("open"));
    }
    let a = f("a.xml");
    let ran = monban(&["diff", &a, &second.to_string(), "--db", db]);
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    assert!(ran.stdout.contains(&opened), "{}", ran.stdout);
    // A stored scan and its own XML do not differ.
    let b = f("b.xml");
    let ran = monban(&["diff", &second.to_string(), &b, "--db", db]);
    assert_eq!(
        ran.status.code(),
        Some(0),
        "stored scan vs its own XML: {ran:?}"
    );
    assert_eq!(
        monban(&["show", "999999", "--db", db]).status.code(),
        Some(1)
    );

    // Two shards, two processes at once: one scan, equal to the whole.
    let shard = |i: &str| {
        Command::new(MONBAN)
            .args([
                "scan", "-sT", "-Pn", "-n", "-p", &ports, "--seed", "9", "--shard", i,
            ])
            .arg(&db_flag)
            .args(["--no-progress", "127.0.0.1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start a shard")
    };
    let mut one = shard("1/2");
    let mut two = shard("2/2");
    assert!(one.wait().expect("shard 1").success() && two.wait().expect("shard 2").success());
    let ran = ok(&["history", "--db", db, "--json"]);
    let newest: serde_json::Value =
        serde_json::from_str(ran.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        (newest["shards"].as_u64(), newest["shards_done"].as_u64()),
        (Some(2), Some(2)),
        "{newest}"
    );
    assert_eq!(
        ran.stdout.lines().count(),
        3,
        "the shards are one scan:\n{}",
        ran.stdout
    );
    let whole = ok(&["show", &newest["id"].to_string(), "--db", db, "-oX", "-"]).stdout;
    let got = parse_xml(&whole, "sharded");
    let want = parse_xml(&read(&dir.join("b.xml")), "b.xml");
    assert_eq!(
        states(&got["127.0.0.1"], &all),
        states(&want["127.0.0.1"], &all),
        "shards"
    );
    drop((l1, l2));
}

#[test]
fn history_on_sqlite() {
    let dir = scratch("history-sqlite");
    exercise(&dir.join("h.db").display().to_string(), &dir);
    // `--db` alone: the user's data directory.
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let with_home = |args: &[&str]| {
        run(
            Command::new(MONBAN)
                .env("HOME", &home)
                .env_remove("XDG_DATA_HOME")
                .args(args),
            LIMIT,
        )
    };
    let ran = with_home(&["scan", "-sT", "-Pn", "-n", "-p", "1", "--db", "127.0.0.1"]);
    assert!(ran.status.success(), "{ran:?}");
    assert!(home.join(".local/share/monban/history.db").is_file());
    let ran = with_home(&["history"]);
    assert!(
        ran.status.success() && ran.stdout.lines().count() == 2,
        "{ran:?}"
    );
    // No database yet: a clear error, not an empty one created by reading.
    let ran = monban(&[
        "history",
        "--db",
        &dir.join("none.db").display().to_string(),
    ]);
    assert_eq!(ran.status.code(), Some(1));
    assert!(ran.stderr.contains("no scan history"), "{}", ran.stderr);
    assert!(!dir.join("none.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn history_on_postgresql() {
    let dir = scratch("history-pg");
    let pg = monban_lab::pg::Scratch::start(&dir).unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    pg.sql("CREATE DATABASE history").unwrap();
    exercise(&pg.url("history"), &dir);
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
