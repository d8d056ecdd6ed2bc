//! `monban detect` as a user runs it on files: outputs, stdin, and hostile input (bad and
//! damaged files, snaplen-cut packets, unknown link types, a flood of spoofed sources).
//! Each run happens inside a fresh network namespace (`unshare -n`): reading a file sends
//! nothing, and even a misbehaving binary could not.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{run, scratch, Ran, MONBAN};

const LIMIT: Duration = Duration::from_secs(120);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/detect/testdata/real")
        .join(format!("{name}.pcap"))
}

fn detect(args: &[&str]) -> Ran {
    run(
        Command::new("unshare")
            .arg("--net")
            .arg(MONBAN)
            .arg("detect")
            .args(args),
        LIMIT,
    )
}

/// The JSON Lines events of a run with `-oJ -`.
fn events(ran: &Ran) -> Vec<serde_json::Value> {
    ran.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn summaries(ev: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    ev.iter()
        .filter(|e| e["event"] == "summary" && e.get("merged_into").is_none())
        .collect()
}

/// A classic pcap (microseconds, little-endian) of raw-IP records.
fn write_pcap(path: &Path, linktype: u32, records: &[(u64, Vec<u8>)]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("pcap file"));
    let mut head = Vec::new();
    head.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    head.extend_from_slice(&2u16.to_le_bytes());
    head.extend_from_slice(&4u16.to_le_bytes());
    head.extend_from_slice(&[0; 8]);
    head.extend_from_slice(&65535u32.to_le_bytes());
    head.extend_from_slice(&linktype.to_le_bytes());
    f.write_all(&head).expect("write");
    for (micros, data) in records {
        let mut r = Vec::with_capacity(16 + data.len());
        r.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        r.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(data);
        f.write_all(&r).expect("write");
    }
    f.flush().expect("flush");
}

/// An IPv4 TCP SYN (no checksums: the detector does not check them).
fn syn(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    ttl: u8,
    id: u16,
    opts: &[u8],
) -> Vec<u8> {
    let tcp_len = 20 + opts.len();
    let mut b = vec![0x45, 0];
    b.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&[0, 0, ttl, 6, 0, 0]);
    b.extend_from_slice(&src);
    b.extend_from_slice(&dst);
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, ((tcp_len / 4) as u8) << 4, 0x02]);
    b.extend_from_slice(&1024u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(opts);
    b
}

#[test]
fn human_output_has_alert_lines_and_a_table() {
    let f = fixture("nmap-sS");
    let ran = detect(&["-r", f.to_str().unwrap_or_default()]);
    assert!(ran.status.success(), "{ran:?}");
    let alert = ran
        .stdout
        .lines()
        .find(|l| l.contains(" ALERT #1 "))
        .unwrap_or_else(|| panic!("no alert line: {}", ran.stdout));
    assert!(
        alert.contains("portscan 10.77.0.2 -> 10.77.1.10, 10.77.1.11: syn by nmap"),
        "{alert}"
    );
    assert!(ran.stdout.contains("Port scans found: 1"), "{}", ran.stdout);
    assert!(
        ran.stdout.lines().any(|l| l.starts_with("ID  KIND")),
        "{}",
        ran.stdout
    );
    let quiet = detect(&["-r", fixture("benign-http").to_str().unwrap_or_default()]);
    assert!(quiet.status.success(), "{quiet:?}");
    assert_eq!(quiet.stdout.trim(), "No port scan found.");
}

#[test]
fn stdin_gives_the_same_events_as_the_file() {
    let f = fixture("masscan");
    let from_file = detect(&["-r", f.to_str().unwrap_or_default(), "-oJ", "-"]);
    let mut child = Command::new("unshare")
        .args(["--net", MONBAN, "detect", "-r", "-", "-oJ", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("monban");
    let bytes = std::fs::read(&f).expect("fixture");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("monban");
    writer.join().expect("writer");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), from_file.stdout);
    let ev = events(&from_file);
    let s = summaries(&ev);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["tool"], "masscan");
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = scratch("detect-bad");
    let missing = dir.join("missing.pcap");
    let ran = detect(&["-r", missing.to_str().unwrap_or_default()]);
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    assert!(ran.stderr.contains("cannot open") && ran.stderr.contains("missing.pcap"));

    let garbage = dir.join("garbage.pcap");
    std::fs::write(&garbage, b"GET / HTTP/1.1\r\n\r\n").expect("write");
    let ran = detect(&["-r", garbage.to_str().unwrap_or_default()]);
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains("not a pcap or pcapng file"),
        "{}",
        ran.stderr
    );

    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").expect("write");
    let ran = detect(&["-r", empty.to_str().unwrap_or_default()]);
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    assert!(ran.stderr.contains("empty"), "{}", ran.stderr);

    // Command-line mistakes: exit 2, one line.
    let ran = detect(&["-r"]);
    assert_eq!(ran.status.code(), Some(2), "{ran:?}");
    assert_eq!(ran.stderr.trim(), "monban: -r needs FILE");
    let ran = detect(&[]);
    assert_eq!(ran.status.code(), Some(2), "{ran:?}");
}

#[test]
fn a_file_cut_short_keeps_every_result_before_the_cut() {
    let dir = scratch("detect-cut");
    let whole = std::fs::read(fixture("nmap-sS")).expect("fixture");
    let cut = dir.join("cut.pcap");
    // Cut inside a record, a third of the way in.
    std::fs::write(&cut, &whole[..whole.len() / 3 + 7]).expect("write");
    let ran = detect(&["-r", cut.to_str().unwrap_or_default(), "-oJ", "-"]);
    assert!(ran.status.success(), "{ran:?}");
    assert!(
        ran.stderr.contains("warning") && ran.stderr.contains("cut short"),
        "{}",
        ran.stderr
    );
    let ev = events(&ran);
    let s = summaries(&ev);
    assert_eq!(s.len(), 1, "{ev:#?}");
    assert_eq!(
        (s[0]["kind"].as_str(), s[0]["tool"].as_str()),
        (Some("portscan"), Some("nmap"))
    );
}

#[test]
fn unknown_link_types_are_counted_and_snaplen_cuts_still_read() {
    let dir = scratch("detect-link");
    // Link type 147 (a user-defined DLT) carries nothing we decode.
    let odd = dir.join("odd.pcap");
    write_pcap(&odd, 147, &[(1, vec![0u8; 60]), (2, vec![1u8; 60])]);
    let ran = detect(&["-r", odd.to_str().unwrap_or_default(), "--stats"]);
    assert!(ran.status.success(), "{ran:?}");
    assert!(
        ran.stderr
            .contains("2 frames of link-layer type 147 skipped"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stdout.trim(), "No port scan found.");

    // nmap's SYNs cut by a 40-byte snap length (raw IP: the TCP options are gone): still a
    // scan, still nmap (its random TTLs).
    let mut records = Vec::new();
    for (i, port) in (1..=60u16).enumerate() {
        let p = syn(
            [10, 0, 0, 2],
            [10, 0, 0, 9],
            50_000,
            port,
            37 + (i % 23) as u8,
            7 * i as u16,
            &[2, 4, 5, 0xb4],
        );
        records.push((1_000_000 + i as u64 * 1000, p[..40].to_vec()));
    }
    let cut = dir.join("snap.pcap");
    write_pcap(&cut, 101, &records);
    let ran = detect(&["-r", cut.to_str().unwrap_or_default(), "-oJ", "-"]);
    assert!(ran.status.success(), "{ran:?}");
    let ev = events(&ran);
    let s = summaries(&ev);
    assert_eq!(s.len(), 1, "{ev:#?}");
    assert_eq!(s[0]["techniques"], serde_json::json!(["syn"]));
    assert_eq!(s[0]["tool"], "nmap");
    assert_eq!(s[0]["ports"], 60);
}

/// The peak memory `--stats` reports (the kernel's VmHWM for the process), in KiB.
fn peak_kib(stderr: &str) -> u64 {
    let at = stderr
        .find("peak memory ")
        .unwrap_or_else(|| panic!("no peak memory in {stderr}"));
    stderr[at + "peak memory ".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad peak memory in {stderr}"))
}

#[test]
fn a_million_spoofed_sources_stay_under_64_mb_and_the_scan_is_found() {
    let dir = scratch("detect-flood");
    let path = dir.join("flood.pcap");
    let mut records = Vec::with_capacity(1_001_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut port = 1u16;
    for i in 0..1_000_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = (x as u32 | 0x6400_0000).to_be_bytes();
        // Kernel-shaped SYNs (DF, Linux options) from a million addresses, one each.
        let mut p = syn(
            a,
            [10, 0, 0, 9],
            (x >> 40) as u16,
            80,
            60,
            (x >> 16) as u16,
            &[
                2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
            ],
        );
        p[6] = 0x40;
        records.push((1_000_000 + i, p));
        if i % 1000 == 500 && port <= 1000 {
            records.push((
                1_000_000 + i,
                syn(
                    [10, 0, 0, 2],
                    [10, 0, 0, 9],
                    51_000,
                    port,
                    37 + (port % 23) as u8,
                    port,
                    &[2, 4, 5, 0xb4],
                ),
            ));
            port += 1;
        }
    }
    write_pcap(&path, 101, &records);
    drop(records);
    let ran = detect(&[
        "-r",
        path.to_str().unwrap_or_default(),
        "-oJ",
        "-",
        "--stats",
    ]);
    assert!(ran.status.success(), "{ran:?}");
    let rss = peak_kib(&ran.stderr);
    let ev = events(&ran);
    let alerts: Vec<&serde_json::Value> = ev.iter().filter(|e| e["event"] == "alert").collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["sources"], serde_json::json!(["10.0.0.2"]));
    assert_eq!(alerts[0]["tool"], "nmap");
    assert_eq!(alerts[0]["probes_before_alert"], 4);
    assert!(ran.stderr.contains("1001000 packets"), "{}", ran.stderr);
    assert!(rss < 64 * 1024, "max RSS {rss} KiB");
    let _ = std::fs::remove_dir_all(&dir);
}
