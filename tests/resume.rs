//! `--resume` end to end on loopback: a slow connect scan of 8 loopback addresses is
//! interrupted with SIGINT, then resumed from its JSON Lines output. Together the two runs
//! must report every host exactly once as finished, every port as it truly is (one
//! listener on 127.0.0.1, a closed port everywhere), in files that stay valid: the XML one
//! document with each host once, the JSON Lines file with a second, resumed `start`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{parse_jsonl, parse_xml, read, run, scratch, MONBAN};

const HOSTS: u8 = 8;

#[test]
fn an_interrupted_scan_resumes_where_it_stopped() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = scratch("resume");
    let base = dir.join("run");
    let targets = format!("127.0.0.1-{HOSTS}");
    // 16 connects at 2 per second: about 8 s. With -r every host gets its first port,
    // then its second, so hosts finish one by one in the second half (from 4 s on);
    // the interrupt comes at 6 s, when about half of them are finished.
    let mut child = Command::new(MONBAN)
        .args([
            "scan",
            "-sT",
            "-Pn",
            "-n",
            "-r",
            "--max-rate",
            "2",
            "--no-progress",
            "-p",
            &format!("{open},{closed}"),
            "-oA",
            base.to_str().unwrap(),
            &targets,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: sends SIGINT to our own child, by its pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill -INT");
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "interrupted run");
    let jsonl = base.with_extension("jsonl");
    let first = parse_jsonl(&read(&jsonl), "first run");
    let done_first: BTreeSet<String> = first
        .events
        .iter()
        .filter(|e| e["event"] == "host" && e["incomplete"] == false)
        .map(|e| e["addr"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        done_first.len() < HOSTS as usize,
        "the scan was not interrupted in time"
    );
    // Some hosts were finished: the resumed run must skip them.
    assert!(
        !done_first.is_empty(),
        "no host finished before the interrupt"
    );
    eprintln!("finished before the interrupt: {done_first:?}");

    let ran = run(
        Command::new(MONBAN).args(["--resume", jsonl.to_str().unwrap(), "--no-progress"]),
        Duration::from_secs(60),
    );
    assert!(ran.status.success(), "{ran:?}");
    for d in &done_first {
        assert!(
            !ran.stdout.contains(&format!("report for {d}\n")),
            "{d} was finished before and must not be scanned again:\n{}",
            ran.stdout
        );
    }

    let all: BTreeSet<String> = (1..=HOSTS).map(|i| format!("127.0.0.{i}")).collect();
    let truth = |addr: &str, port: u16| -> (&str, &str) {
        if port == open && addr == "127.0.0.1" {
            ("open", "syn-ack")
        } else {
            ("closed", "conn-refused")
        }
    };
    // JSON Lines: the first run's lines, then the resumed run's from a second `start`
    // (resumed), args alike; each host finished exactly once over both.
    let body = read(&jsonl);
    let second = body
        .find("{\"event\":\"start\"")
        .and_then(|first| {
            body[first + 1..]
                .find("{\"event\":\"start\"")
                .map(|i| i + first + 1)
        })
        .expect("a second start event");
    let parts = [
        parse_jsonl(&body[..second], "first part"),
        parse_jsonl(&body[second..], "resumed part"),
    ];
    assert_eq!(parts[1].events[0]["resumed"], true);
    assert_eq!(parts[0].events[0]["args"], parts[1].events[0]["args"]);
    let mut finished: BTreeMap<String, usize> = BTreeMap::new();
    for part in &parts {
        for e in part
            .events
            .iter()
            .filter(|e| e["event"] == "host" && e["incomplete"] == false)
        {
            let addr = e["addr"].as_str().unwrap();
            *finished.entry(addr.to_owned()).or_default() += 1;
            let table = &part.hosts[addr];
            for port in [open, closed] {
                assert_eq!(
                    table.get(port),
                    Some(truth(addr, port)),
                    "jsonl {addr}:{port}"
                );
            }
        }
    }
    assert_eq!(finished.keys().cloned().collect::<BTreeSet<_>>(), all);
    assert!(finished.values().all(|n| *n == 1), "{finished:?}");
    let end = parts[1].end("resumed part");
    assert_eq!(
        end["hosts_total"],
        u64::from(HOSTS),
        "totals include the first run"
    );

    // XML: still one document, each host once.
    let x = read(&base.with_extension("xml"));
    assert_eq!(x.matches("<host starttime=").count(), HOSTS as usize, "{x}");
    assert_eq!(x.matches("<nmaprun ").count(), 1, "{x}");
    assert!(x.trim_end().ends_with("</nmaprun>"), "{x}");
    assert_eq!(x.matches("<runstats>").count(), 1, "{x}");
    assert!(
        x.contains(&format!(
            "<hosts up=\"{HOSTS}\" down=\"0\" total=\"{HOSTS}\"/>"
        )),
        "{x}"
    );
    let tables = parse_xml(&x, "resumed xml");
    assert_eq!(tables.keys().cloned().collect::<BTreeSet<_>>(), all);
    for (addr, table) in &tables {
        for port in [open, closed] {
            assert_eq!(
                table.get(port),
                Some(truth(addr, port)),
                "xml {addr}:{port}"
            );
        }
    }
    // nmap's ndiff reads the resumed file.
    let nd = run(
        Command::new("ndiff").args([
            base.with_extension("xml").to_str().unwrap(),
            base.with_extension("xml").to_str().unwrap(),
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(nd.status.code(), Some(0), "{nd:?}");

    // Normal and grepable files say where the run was resumed.
    for ext in ["nmap", "gnmap"] {
        let t = read(&base.with_extension(ext));
        assert_eq!(t.matches(" scan initiated ").count(), 1, "{t}");
        assert_eq!(t.matches(" scan resumed ").count(), 1, "{t}");
    }
    drop(listener);
}
