//! `monban explain` and `monban detect --log` as a user runs them on firewall logs: the
//! tutorial's Japanese record explained, scans found in logs, `--follow` through rotation,
//! and hostile files. Each run happens inside a fresh network namespace (`unshare -n`).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{read, run, scratch, Bg, Ran, MONBAN};

const LIMIT: Duration = Duration::from_secs(60);

/// The record the tutorial in docs/background.md reasons through.
const TUTORIAL: &str = "日付: 2001/11/20 時刻: 16:22:45
未使用ポートブロック機能が通信をブロックしました。
詳細:
インバウンド TCP 接続
リモートアドレス、 ローカルサービスは 210.3.xxx.xxx,http
";

fn monban(args: &[&str]) -> Ran {
    run(
        Command::new("unshare").arg("--net").arg(MONBAN).args(args),
        LIMIT,
    )
}

/// An iptables LOG line of a probe from `src` to port `dport` (kernel format, syslog date).
fn kernel_line(sec: u32, src: &str, dport: u16, flags: &str, extra: &str) -> String {
    format!(
        "Dec  6 05:{:02}:{:02} fw kernel: [{}.000001] DROP IN=eth0 OUT= \
         MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC={src} DST=192.0.2.10 LEN=44 \
         TOS=0x00 PREC=0x00 TTL={} ID={} {extra}PROTO=TCP SPT=40000 DPT={dport} WINDOW=1024 \
         RES=0x00 {flags} URGP=0",
        sec / 60 % 60,
        sec % 60,
        1000 + sec,
        40 + sec % 17,
        sec * 7 + 1,
    )
}

#[test]
fn the_tutorials_record_is_explained() {
    let dir = scratch("explain-ja");
    let f = dir.join("ja.log");
    std::fs::write(&f, TUTORIAL).expect("write");
    let ran = monban(&["explain", f.to_str().unwrap_or_default()]);
    assert!(ran.status.success(), "{ran:?}");
    let t = &ran.stdout;
    for want in [
        "Inbound: someone outside knocked on this host.",
        "210.3.xxx.xxx (partly masked in the log)",
        "port 80 (http) over TCP at 2001-11-20 16:22:45 UTC",
        "a plain TCP connection attempt (SYN)",
        "not a stealth scan",
        "well-known port",
        "Code Red",
        "Nimda",
        "blocked on an unused port",
        "already protected",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
    // The same from stdin, as JSON.
    let mut child = Command::new("unshare")
        .args(["--net", MONBAN, "explain", "-", "-oJ", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("monban");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(TUTORIAL.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("monban");
    assert!(out.status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(v["direction"], "inbound");
    assert_eq!(v["action"], "blocked");
    assert_eq!(v["line"], 1);
    let worms: Vec<String> = v["worms"]
        .as_array()
        .expect("worms")
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert!(worms.iter().any(|w| w.contains("Nimda")), "{worms:?}");
}

#[test]
fn one_line_on_the_command_line() {
    let line = kernel_line(5, "198.51.100.7", 1434, "", "")
        .replace("PROTO=TCP", "PROTO=UDP")
        .replace(" WINDOW=1024 RES=0x00  URGP=0", " LEN=384");
    let ran = monban(&["explain", &line, "--year", "2003"]);
    assert!(ran.status.success(), "{ran:?}");
    assert!(ran.stdout.contains("SQL Slammer"), "{}", ran.stdout);
    let ran = monban(&["explain", "this is not a firewall line"]);
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains("not a firewall log record"),
        "{}",
        ran.stderr
    );
}

#[test]
fn scans_in_a_log_are_found_and_named() {
    let dir = scratch("log-scan");
    let mut log = String::new();
    // nmap's SYN scan as iptables logs it with --log-tcp-options: MSS 1460 only, no DF.
    for (i, port) in [21u16, 22, 23, 25, 80, 110, 139, 443, 445, 3389]
        .iter()
        .enumerate()
    {
        log.push_str(&kernel_line(i as u32, "203.0.113.45", *port, "SYN", ""));
        log.push_str(" OPT (020405B4)\n");
    }
    // A Xmas scan from another source.
    for (i, port) in [1u16, 2, 3, 4, 5, 6].iter().enumerate() {
        log.push_str(&kernel_line(
            20 + i as u32,
            "203.0.113.46",
            *port,
            "URG PSH FIN",
            "",
        ));
        log.push('\n');
    }
    // A client refused twice, unrelated lines, and garbage: nothing.
    log.push_str(&kernel_line(40, "198.51.100.9", 8080, "SYN", "DF "));
    log.push_str(" OPT (020405B40402080A0000000000000000010303070)\n");
    log.push_str(&kernel_line(41, "198.51.100.9", 8443, "SYN", "DF "));
    log.push_str(" OPT (020405B40402080A00000000000000000103030A)\n");
    log.push_str("Dec  6 05:00:42 fw sshd[123]: Accepted publickey for admin\n");
    log.push_str("\u{1}\u{2}garbage\u{7f} IN= SRC=not-an-address\n");
    let f = dir.join("fw.log");
    std::fs::write(&f, &log).expect("write");
    let ran = monban(&[
        "detect",
        "--log",
        f.to_str().unwrap_or_default(),
        "--year",
        "2026",
        "-oJ",
        "-",
        "--stats",
    ]);
    assert!(ran.status.success(), "{ran:?}");
    let summaries: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|v: &serde_json::Value| v["event"] == "summary")
        .collect();
    assert_eq!(summaries.len(), 2, "{summaries:#?}");
    assert_eq!(summaries[0]["sources"], serde_json::json!(["203.0.113.45"]));
    assert_eq!(summaries[0]["techniques"], serde_json::json!(["syn"]));
    assert_eq!(summaries[0]["tool"], "nmap");
    assert_eq!(summaries[0]["probes_before_alert"], 4);
    assert_eq!(summaries[0]["ports"], 10);
    assert_eq!(summaries[1]["sources"], serde_json::json!(["203.0.113.46"]));
    assert_eq!(summaries[1]["techniques"], serde_json::json!(["xmas"]));
    assert!(ran.stderr.contains("malformed"), "{}", ran.stderr);
    // explain names the campaign a record's source is part of.
    let ran = monban(&["explain", f.to_str().unwrap_or_default(), "--year", "2026"]);
    assert!(ran.status.success(), "{ran:?}");
    assert!(
        ran.stdout.contains("part of scan #1 (portscan)"),
        "{}",
        ran.stdout
    );
}

#[test]
fn binary_garbage_and_huge_lines_are_skipped() {
    let dir = scratch("log-garbage");
    let f = dir.join("bad.log");
    let mut bytes = Vec::new();
    let mut x: u64 = 12345;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.push(x as u8);
    }
    bytes.extend(std::iter::repeat_n(b'A', 10 << 20));
    bytes.push(b'\n');
    for (i, port) in [21u16, 22, 23, 25, 80].iter().enumerate() {
        bytes.extend_from_slice(kernel_line(i as u32, "203.0.113.7", *port, "FIN", "").as_bytes());
        bytes.push(b'\n');
    }
    std::fs::write(&f, &bytes).expect("write");
    let ran = monban(&[
        "detect",
        "--log",
        f.to_str().unwrap_or_default(),
        "-oJ",
        "-",
        "--stats",
    ]);
    assert!(ran.status.success(), "{ran:?}");
    assert!(
        ran.stdout.contains("\"techniques\":[\"fin\"]"),
        "{}",
        ran.stdout
    );
    assert!(ran.stderr.contains("too long"), "{}", ran.stderr);
}

#[test]
fn follow_reads_a_growing_file_through_rotation() {
    let dir = scratch("log-follow");
    let f = dir.join("kern.log");
    std::fs::write(&f, "").expect("write");
    let out = dir.join("out.jsonl");
    // Ended by its guard also when an assertion below fails: it would follow forever.
    let mut child = Bg::start(
        "monban detect --follow",
        Command::new("unshare").args([
            "--net",
            MONBAN,
            "detect",
            "--log",
            f.to_str().unwrap_or_default(),
            "--follow",
            "--year",
            "2026",
            "-oJ",
            out.to_str().unwrap_or_default(),
        ]),
        &dir.join("follow.log"),
    );
    let append = |path: &Path, src: &str, ports: &[u16], base: u32| {
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .expect("open");
        for (i, p) in ports.iter().enumerate() {
            writeln!(
                w,
                "{}",
                kernel_line(base + i as u32, src, *p, "NULL", "").replace("NULL ", "")
            )
            .expect("write");
        }
    };
    let wait_for = |what: &str, n: usize| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if read_opt(&out).matches("\"event\":\"alert\"").count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no alert for {what}: {}", read_opt(&out));
    };
    // Two lines, then two more: the alert comes with the fourth.
    append(&f, "203.0.113.50", &[1, 2], 0);
    std::thread::sleep(Duration::from_millis(500));
    append(&f, "203.0.113.50", &[3, 4, 5], 2);
    wait_for("the first source", 1);
    // Rotation: the file is renamed away and a new one created, as logrotate does.
    std::fs::rename(&f, dir.join("kern.log.1")).expect("rename");
    append(&f, "203.0.113.51", &[10, 11, 12, 13, 14], 30);
    wait_for("the second source, after rotation", 2);
    // Truncation: the same file cut to nothing and written again.
    std::fs::write(&f, "").expect("truncate");
    append(&f, "203.0.113.52", &[20, 21, 22, 23, 24], 60);
    wait_for("the third source, after truncation", 3);
    let status = child.stop(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    let text = read(&out);
    assert_eq!(text.matches("\"event\":\"summary\"").count(), 3, "{text}");
    assert_eq!(text.matches("\"event\":\"alert\"").count(), 3, "{text}");
    // Every line read once: no record twice after a rotation or a truncation.
    assert_eq!(text.matches("\"probes\":5,").count(), 3, "{text}");
    assert!(text.contains("\"techniques\":[\"null\"]"), "{text}");
}

fn read_opt(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn dmesg_uptimes_keep_scans_apart() {
    // The same nmap SYN scan from two sources, 25 hours apart by the kernel's uptime
    // stamps (dmesg lines carry no date): two portscans, not one scanner and its decoy.
    let dir = scratch("log-uptime");
    let mut log = String::new();
    for (base, src) in [(1000u32, "203.0.113.60"), (91_000, "203.0.113.61")] {
        for (i, port) in [21u16, 22, 23, 25, 80, 110].iter().enumerate() {
            let line = kernel_line(i as u32, src, *port, "SYN", "");
            // Keep only the kernel's part: `[uptime] PREFIX IN=...`.
            let kernel = line.split("kernel: ").nth(1).unwrap_or_default();
            let rest = kernel.split_once("] ").map_or("", |(_, r)| r);
            log.push_str(&format!(
                "[{}.000001] {rest} OPT (020405B4)\n",
                base + i as u32
            ));
        }
    }
    let f = dir.join("dmesg.txt");
    std::fs::write(&f, &log).expect("write");
    let ran = monban(&[
        "detect",
        "--log",
        f.to_str().unwrap_or_default(),
        "-oJ",
        "-",
    ]);
    assert!(ran.status.success(), "{ran:?}");
    let kinds: Vec<(String, String)> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|v| v["event"] == "summary" && v.get("merged_into").is_none())
        .map(|v| (v["sources"][0].to_string(), v["kind"].to_string()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("\"203.0.113.60\"".to_string(), "\"portscan\"".to_string()),
            ("\"203.0.113.61\"".to_string(), "\"portscan\"".to_string())
        ],
        "{}",
        ran.stdout
    );
    // Their times are the uptimes, counted from the epoch.
    assert!(
        ran.stdout
            .contains("\"first_seen\":\"1970-01-01T00:16:40.000001Z\""),
        "{}",
        ran.stdout
    );
}
