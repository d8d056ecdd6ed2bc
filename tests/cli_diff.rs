//! `monban diff` from the outside: two connect scans of 127.0.0.1 with a port closed and
//! another opened in between, checked against nmap's own `ndiff`; nmap's XML against
//! monban's of the same moment; XML against JSON Lines; bad inputs.
//!
//! Nothing here leaves the host: the only packets are connect scans of 127.0.0.1, of
//! ports the test itself listens on (or has just freed). The tests run one at a time (see
//! [`serial`]) so that a port one test frees is not taken by another's listener.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::{run, scratch, Ran, MONBAN};
use serde_json::Value;

/// How long one monban, nmap or ndiff run may take before the test fails.
const LIMIT: Duration = Duration::from_secs(60);

/// nmap's `ndiff` (Debian package ndiff).
const NDIFF: &str = "ndiff";

/// nmap (Debian package nmap).
const NMAP: &str = "nmap";

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for the whole of each test: one test at a time (a failed test poisons the lock;
/// the next ones still run).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn monban(args: &[&str]) -> Ran {
    run(Command::new(MONBAN).args(args), LIMIT)
}

/// The exit code, failing the test on a death by signal.
fn code(r: &Ran, what: &str) -> i32 {
    r.status
        .code()
        .unwrap_or_else(|| panic!("{what} was killed: {r:?}"))
}

/// A listener on 127.0.0.1 and its port.
fn listen() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let port = l.local_addr().expect("local address").port();
    (l, port)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 scratch path")
}

/// `monban scan -sT -Pn -n -p PORTS` of 127.0.0.1 to `out` (its format from `flag`).
fn monban_scan(ports: &[u16], outputs: &[(&str, &Path)]) {
    let list = port_list(ports);
    let mut args = vec!["scan", "-sT", "-Pn", "-n", "-p", list.as_str()];
    for (flag, path) in outputs {
        args.push(flag);
        args.push(path_str(path));
    }
    args.push("127.0.0.1");
    let r = monban(&args);
    assert!(r.status.success(), "monban {args:?}: {r:?}");
}

fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Fails the test loudly when a peer program is not installed.
fn need(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "{program} is not installed: this test compares monban diff with it \
         (Debian: apt-get install {package})"
    );
}

/// The `-`/`+` port lines of ndiff-style text: port → (state in A, state in B); `None`
/// for a side without a line.
fn port_lines(text: &str) -> BTreeMap<u16, (Option<String>, Option<String>)> {
    let mut out: BTreeMap<u16, (Option<String>, Option<String>)> = BTreeMap::new();
    for line in text.lines() {
        let Some(mark) = line.chars().next().filter(|c| *c == '-' || *c == '+') else {
            continue;
        };
        let mut words = line[1..].split_whitespace();
        let (Some(port), Some(state)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(port) = port
            .strip_suffix("/tcp")
            .and_then(|p| p.parse::<u16>().ok())
        else {
            continue;
        };
        let entry = out.entry(port).or_default();
        let slot = if mark == '-' {
            &mut entry.0
        } else {
            &mut entry.1
        };
        assert!(
            slot.is_none(),
            "port {port} twice on the {mark} side:\n{text}"
        );
        *slot = Some(state.to_string());
    }
    out
}

/// The port changes of `monban diff --format json`: port → (change, state in A, state in
/// B), for the one host 127.0.0.1.
fn json_changes(out: &str) -> BTreeMap<u16, (String, String, String)> {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let hosts = v["hosts"].as_array().expect("hosts");
    let mut changes = BTreeMap::new();
    for h in hosts {
        assert_eq!(h["addr"], "127.0.0.1", "{out}");
        assert_eq!(h["change"], "changed", "{out}");
        assert_eq!(h["status_changed"], false, "{out}");
        assert!(
            h["summaries"].as_array().is_some_and(Vec::is_empty),
            "{out}"
        );
        for p in h["ports"].as_array().expect("ports") {
            assert_eq!(p["proto"], "tcp", "{out}");
            let state = |side: &str| p[side]["state"].as_str().unwrap_or("-").to_string();
            let port = u16::try_from(p["port"].as_u64().expect("port")).expect("port");
            let change = p["change"].as_str().expect("change").to_string();
            changes.insert(port, (change, state("a"), state("b")));
        }
    }
    assert_eq!(v["identical"], changes.is_empty(), "{out}");
    changes
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn a_port_closed_and_another_opened_agrees_with_ndiff() {
    let _serial = serial();
    need(NDIFF, "ndiff");
    let dir = scratch("diff-two-scans");
    let (a_xml, b_xml) = (dir.join("a.xml"), dir.join("b.xml"));

    let (keep, p1) = listen();
    let (closing, p2) = listen();
    let p3 = common::free_port();
    let ports = [p1, p2, p3];
    monban_scan(&ports, &[("-oX", &a_xml)]);
    drop(closing);
    let opened = TcpListener::bind(("127.0.0.1", p3)).expect("listen on the freed port");
    monban_scan(&ports, &[("-oX", &b_xml)]);
    drop((keep, opened));

    let (a, b) = (path_str(&a_xml), path_str(&b_xml));

    // Text: exactly the closed port and the opened one.
    let r = monban(&["diff", a, b]);
    assert_eq!(code(&r, "monban diff"), 1, "{r:?}");
    assert!(r.stderr.is_empty(), "{r:?}");
    let want = BTreeMap::from([
        (p2, (Some(s("open")), Some(s("closed")))),
        (p3, (Some(s("closed")), Some(s("open")))),
    ]);
    let ours = port_lines(&r.stdout);
    assert_eq!(ours, want, "monban diff text:\n{}", r.stdout);
    assert!(r.stdout.contains(" 127.0.0.1:\n"), "{}", r.stdout);

    // JSON: the same, with the kind of change named.
    let r = monban(&["diff", "--format", "json", a, b]);
    assert_eq!(code(&r, "monban diff --format json"), 1, "{r:?}");
    assert_eq!(
        json_changes(&r.stdout),
        BTreeMap::from([
            (p2, (s("no-longer-open"), s("open"), s("closed"))),
            (p3, (s("opened"), s("closed"), s("open"))),
        ])
    );

    // XML names both too.
    let r = monban(&["diff", "--format=xml", a, b]);
    assert_eq!(code(&r, "monban diff --format xml"), 1, "{r:?}");
    for (port, change) in [(p2, "no-longer-open"), (p3, "opened")] {
        let needle = format!("portid=\"{port}\" change=\"{change}\"");
        assert!(r.stdout.contains(&needle), "{needle} not in {}", r.stdout);
    }
    assert!(
        !r.stdout.contains(&format!("portid=\"{p1}\"")),
        "{}",
        r.stdout
    );

    // nmap's ndiff reads the same two files the same way.
    let n = run(Command::new(NDIFF).args([a, b]), LIMIT);
    assert_eq!(code(&n, "ndiff"), 1, "ndiff: {n:?}");
    assert_eq!(
        port_lines(&n.stdout),
        ours,
        "ndiff and monban diff disagree.\nndiff:\n{}\nmonban diff:\n{}",
        n.stdout,
        monban(&["diff", a, b]).stdout
    );

    // One file against itself: no change, exit 0; ndiff agrees.
    for args in [vec!["diff", a, a], vec!["diff", "--format", "json", b, b]] {
        let r = monban(&args);
        assert_eq!(code(&r, "monban diff"), 0, "{args:?}: {r:?}");
        assert!(port_lines(&r.stdout).is_empty(), "{args:?}: {}", r.stdout);
    }
    let r = monban(&["diff", a, a]);
    assert_eq!(r.stdout.lines().count(), 2, "only the header: {}", r.stdout);
    let n = run(Command::new(NDIFF).args([a, a]), LIMIT);
    assert_eq!(code(&n, "ndiff"), 0, "ndiff: {n:?}");

    // A from stdin.
    let r = run(
        Command::new("sh").args(["-c", "exec \"$0\" diff - \"$1\" < \"$2\"", MONBAN, b, a]),
        LIMIT,
    );
    assert_eq!(code(&r, "monban diff - B"), 1, "{r:?}");
    assert_eq!(port_lines(&r.stdout), ours, "{}", r.stdout);
}

#[test]
fn nmap_and_monban_of_the_same_moment_agree_on_every_state() {
    let _serial = serial();
    need(NMAP, "nmap");
    let dir = scratch("diff-nmap");
    let (nmap_xml, monban_xml) = (dir.join("nmap.xml"), dir.join("monban.xml"));

    let (_l1, p1) = listen();
    let (_l2, p2) = listen();
    let p3 = common::free_port();
    let p4 = common::free_port();
    let list = port_list(&[p1, p2, p3, p4]);
    let r = run(
        Command::new(NMAP).args([
            "-sT",
            "-Pn",
            "-n",
            "-p",
            list.as_str(),
            "-oX",
            path_str(&nmap_xml),
            "127.0.0.1",
        ]),
        LIMIT,
    );
    assert!(r.status.success(), "nmap: {r:?}");
    monban_scan(&[p1, p2, p3, p4], &[("-oX", &monban_xml)]);

    let (n, m) = (path_str(&nmap_xml), path_str(&monban_xml));
    // Service names may differ (nmap names ports from its own table); states may not.
    let r = monban(&["diff", "--format", "json", n, m]);
    assert!(matches!(code(&r, "monban diff"), 0 | 1), "{r:?}");
    for (port, (change, a, b)) in json_changes(&r.stdout) {
        assert_eq!(
            change, "service",
            "port {port}: nmap says {a}, monban says {b}: {}",
            r.stdout
        );
    }
    let r = monban(&["diff", "--states-only", n, m]);
    assert_eq!(
        code(&r, "monban diff --states-only"),
        0,
        "nmap and monban disagree on port states: {r:?}"
    );
    assert!(port_lines(&r.stdout).is_empty(), "{}", r.stdout);
    // And the other way round.
    let r = monban(&["diff", "--states-only", "--format", "json", m, n]);
    assert_eq!(code(&r, "monban diff"), 0, "{r:?}");
    assert!(json_changes(&r.stdout).is_empty());
}

#[test]
fn xml_and_json_lines_of_one_scan_do_not_differ() {
    let _serial = serial();
    let dir = scratch("diff-formats");
    let (xml, jsonl) = (dir.join("s.xml"), dir.join("s.jsonl"));
    let (_l, p1) = listen();
    let p2 = common::free_port();
    monban_scan(&[p1, p2], &[("-oX", &xml), ("-oJ", &jsonl)]);
    for (a, b) in [(&xml, &jsonl), (&jsonl, &xml)] {
        let r = monban(&["diff", path_str(a), path_str(b)]);
        assert_eq!(code(&r, "monban diff"), 0, "{r:?}");
    }
}

/// Writes `body` to a file of `dir`.
fn file(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write test file");
    p
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let _serial = serial();
    let dir = scratch("diff-bad");
    let good = file(
        &dir,
        "good.xml",
        br#"<?xml version="1.0"?><nmaprun scanner="nmap" args="nmap x"><host><status state="up"/><address addr="127.0.0.1" addrtype="ipv4"/><ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/></port></ports></host></nmaprun>"#,
    );
    let garbage = file(&dir, "garbage.bin", b"\x00\x01\x02 not a scan at all");
    let text = file(&dir, "notes.txt", b"hello, world\n");
    let empty = file(&dir, "empty.xml", b"");
    let badxml = file(
        &dir,
        "bad.xml",
        b"<nmaprun><host></ports></host></nmaprun>\n",
    );
    let other_root = file(&dir, "other.xml", b"<html><body/></html>");
    let g = path_str(&good).to_string();
    let missing = dir.join("missing.xml");

    // (arguments, a word the message must hold)
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![path_str(&missing).into(), g.clone()], "missing.xml"),
        (vec![g.clone(), path_str(&missing).into()], "cannot read B"),
        (vec![path_str(&garbage).into(), g.clone()], "garbage.bin"),
        (vec![g.clone(), path_str(&text).into()], "notes.txt"),
        (vec![path_str(&empty).into(), g.clone()], "empty"),
        (vec![g.clone(), path_str(&badxml).into()], "bad.xml"),
        (vec![path_str(&other_root).into(), g.clone()], "nmaprun"),
        (vec![path_str(&dir).into(), g.clone()], "directory"),
        (vec![g.clone()], "exactly two"),
        // No scan named: the newest two stored ones, and this user has none (HOME below).
        (vec![], "no scan history"),
        (vec![g.clone(), g.clone(), g.clone()], "exactly two"),
        (vec!["-".into(), "-".into()], "stdin"),
        (
            vec!["--format".into(), "csv".into(), g.clone(), g.clone()],
            "csv",
        ),
        (
            vec!["--frobnicate".into(), g.clone(), g.clone()],
            "--frobnicate",
        ),
    ];
    for (args, word) in cases {
        let mut full = vec!["diff".to_string()];
        full.extend(args);
        let r = run(
            Command::new(MONBAN)
                .env("HOME", &dir)
                .env_remove("XDG_DATA_HOME")
                .args(&full),
            LIMIT,
        );
        assert_eq!(code(&r, "monban diff"), 2, "{full:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{full:?}: {r:?}");
        assert!(r.stderr.starts_with("monban"), "{full:?}: {r:?}");
        assert!(r.stderr.contains(word), "{full:?}: {word:?} not in {r:?}");
        assert!(!r.stderr.contains("panicked"), "{full:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{full:?}: one line: {r:?}");
    }

    // A file cut short is compared up to its last host, with a warning.
    let cut = file(&dir, "cut.xml", &std::fs::read(&good).expect("read")[..120]);
    let r = monban(&["diff", path_str(&cut), &g]);
    assert_eq!(code(&r, "monban diff"), 1, "{r:?}");
    assert!(r.stderr.contains("cut short"), "{r:?}");
    assert!(r.stdout.contains("+127.0.0.1:"), "{r:?}");

    // Help: exit 0, the exit codes documented.
    let r = monban(&["diff", "--help"]);
    assert_eq!(code(&r, "monban diff --help"), 0, "{r:?}");
    assert!(r.stdout.contains("EXIT STATUS"), "{r:?}");
}
