//! `monban detect` against real scanners in the lab, live and from a capture file.
//!
//! One lab, two targets. The scanner namespace gets one address per scan (10.77.0.2-12,
//! fd77::2), so every scan is its own source and the ground truth is known per source:
//! nmap (-sS, -sT, -sU, -sF, -sn, -D, -6 -sS), masscan, zmap, monban (-sA, and a scan
//! sharded over two addresses), and benign clients (web sessions, a client touching two
//! closed ports, one retrying a closed port, DNS-like UDP queries) that must raise nothing.
//! The router captures the scanner's link twice at once: `monban detect -i s0` live, and
//! tcpdump into a file that `monban detect -r` reads afterwards. Both must name exactly the
//! expected campaigns: kind, techniques, tool, sources.
//!
//! Needs root (the lab), nmap, masscan, zmap, tcpdump and python3; nothing is skipped.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    add_sources, campaigns, lab, ns_cmd, ok, python, read, router_mac, run, scratch,
    wait_listening, Bg, MONBAN,
};
use monban_lab::Lab;

const LIMIT: Duration = Duration::from_secs(120);
const HOME: &str = "10.77.1.0/24,fd77:1::/64";

/// What each source's campaign must be: (kind, techniques, tool).
fn expected() -> BTreeMap<Vec<&'static str>, (&'static str, Vec<&'static str>, &'static str)> {
    let mut m = BTreeMap::new();
    m.insert(vec!["10.77.0.2"], ("portscan", vec!["syn"], "nmap"));
    m.insert(vec!["10.77.0.3"], ("portscan", vec!["connect"], "unknown"));
    m.insert(vec!["10.77.0.4"], ("portscan", vec!["udp"], "nmap"));
    m.insert(vec!["10.77.0.5"], ("portscan", vec!["fin"], "nmap"));
    m.insert(
        vec!["10.77.0.6"],
        (
            "sweep",
            vec!["syn", "ack", "icmp-echo", "icmp-timestamp"],
            "nmap",
        ),
    );
    m.insert(vec!["10.77.0.7"], ("portscan", vec!["syn"], "masscan"));
    m.insert(vec!["10.77.0.8"], ("sweep", vec!["syn"], "zmap"));
    m.insert(
        vec!["10.77.0.9", "10.77.0.10"],
        ("distributed", vec!["syn"], "monban"),
    );
    m.insert(vec!["10.77.0.11"], ("portscan", vec!["ack"], "monban"));
    m.insert(
        vec!["10.77.0.12", "10.77.0.50", "10.77.0.51"],
        ("decoy", vec!["syn"], "nmap"),
    );
    m.insert(vec!["fd77::2"], ("portscan", vec!["syn"], "nmap"));
    m
}

fn check(what: &str, path: &Path) {
    let got = campaigns(path);
    let want = expected();
    let mut problems = Vec::new();
    for (sources, (kind, tech, tool)) in &want {
        let mut key: Vec<String> = sources.iter().map(ToString::to_string).collect();
        key.sort();
        match got.get(&key) {
            None => problems.push(format!("{sources:?}: not found")),
            Some((k, t, tl, v)) => {
                if k != kind || t != tech || tl != tool {
                    problems.push(format!(
                        "{sources:?}: got {k} {t:?} {tl}, want {kind} {tech:?} {tool}: {v}"
                    ));
                }
            }
        }
    }
    for (sources, (k, _, _, v)) in &got {
        let known = want.keys().any(|w| {
            let mut w: Vec<String> = w.iter().map(ToString::to_string).collect();
            w.sort();
            &w == sources
        });
        if !known {
            problems.push(format!("unexpected {k} campaign from {sources:?}: {v}"));
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
    // The decoys: only the real scanner's kernel reacted to the target's answers.
    let decoy = &got[&vec![
        "10.77.0.12".to_string(),
        "10.77.0.50".to_string(),
        "10.77.0.51".to_string(),
    ]];
    assert_eq!(
        decoy.3["responsive"],
        serde_json::json!(["10.77.0.12"]),
        "{what}"
    );
}

#[test]
fn detect_names_every_real_scanner_live_and_from_a_capture() {
    let lab = lab(Lab::builder().hosts(2));
    let dir = scratch("detect");
    let rt = lab.router_ns().to_string();
    add_sources(&lab, (3..=12).chain(20..=23));
    let mac = router_mac(&lab);

    // Both captures on the router's link to the scanner.
    let pcap = dir.join("lab.pcap");
    let pcap_s = pcap.to_str().unwrap_or_default();
    let tcpdump_log = dir.join("tcpdump.log");
    let mut tcpdump = Bg::start(
        "tcpdump",
        &mut ns_cmd(
            &rt,
            "tcpdump",
            &[
                "-i", "s0", "-Z", "root", "-U", "-n", "-w", pcap_s, "not arp",
            ],
        ),
        &tcpdump_log,
    );
    wait_listening(&tcpdump_log);
    let live = dir.join("live.jsonl");
    let live_s = live.to_str().unwrap_or_default();
    let mut detect = Bg::start(
        "monban detect -i",
        &mut ns_cmd(
            &rt,
            MONBAN,
            &[
                "detect", "-i", "s0", "--home", HOME, "-oJ", live_s, "--stats",
            ],
        ),
        &dir.join("live.log"),
    );
    std::thread::sleep(Duration::from_millis(500));

    let t2 = ["10.77.1.10", "10.77.1.11"];
    let ports = "1-100,443,3306,8080";
    let nmap = |src: &str, extra: &[&str]| {
        let mut args = vec![
            "-n",
            "-Pn",
            "-T4",
            "--max-retries",
            "1",
            "-S",
            src,
            "-e",
            "eth0",
        ];
        args.extend_from_slice(extra);
        ok("nmap", &mut lab.scanner_cmd("nmap", &args));
    };
    nmap("10.77.0.2", &["-sS", "-p", ports, t2[0], t2[1]]);
    nmap("10.77.0.3", &["-sT", "-p", ports, t2[0], t2[1]]);
    nmap(
        "10.77.0.4",
        &[
            "-sU",
            "-p",
            "7,53,67,69,111,123,137,161,500,5000,9999",
            t2[0],
        ],
    );
    nmap("10.77.0.5", &["-sF", "-p", ports, t2[0], t2[1]]);
    ok(
        "nmap -sn",
        &mut lab.scanner_cmd(
            "nmap",
            [
                "-n",
                "-sn",
                "-T4",
                "-S",
                "10.77.0.6",
                "-e",
                "eth0",
                "10.77.1.8-15",
            ],
        ),
    );
    // masscan 1.3.2 sometimes hangs after its --wait: SIGINT after 15 s.
    ok(
        "masscan",
        &mut lab.scanner_cmd(
            "timeout",
            [
                "-s",
                "INT",
                "-k",
                "5",
                "15",
                "masscan",
                "--interface",
                "eth0",
                "--router-mac",
                &mac,
                "--adapter-ip",
                "10.77.0.7",
                "--rate",
                "2000",
                "--wait",
                "2",
                "-p",
                ports,
                "10.77.1.10-10.77.1.11",
            ],
        ),
    );
    let blocklist = dir.join("empty.blocklist");
    std::fs::write(&blocklist, "").expect("blocklist");
    ok(
        "zmap",
        &mut lab.scanner_cmd(
            "zmap",
            [
                "-i",
                "eth0",
                "-S",
                "10.77.0.8",
                "-G",
                &mac,
                "-r",
                "500",
                "-c",
                "2",
                "-b",
                blocklist.to_str().unwrap_or_default(),
                "-o",
                "-",
                "-p",
                "80",
                "10.77.1.0/27",
            ],
        ),
    );
    // monban sharded over two addresses, at the same time, the same seed.
    let shard = |i: &str, src: &str| {
        let mut c = lab.scanner_cmd(
            MONBAN,
            [
                "scan",
                "-sS",
                "-n",
                "-Pn",
                "-T4",
                "--no-progress",
                "--seed",
                "7",
                "--shard",
                i,
                "-S",
                src,
                "-p",
                ports,
                t2[0],
                t2[1],
            ],
        );
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c.spawn().expect("monban shard")
    };
    let mut a = shard("1/2", "10.77.0.9");
    let mut b = shard("2/2", "10.77.0.10");
    assert!(a.wait().expect("shard 1").success());
    assert!(b.wait().expect("shard 2").success());
    ok(
        "monban -sA",
        &mut lab.scanner_cmd(
            MONBAN,
            [
                "scan",
                "-sA",
                "-n",
                "-Pn",
                "-T4",
                "--no-progress",
                "-S",
                "10.77.0.11",
                "-p",
                ports,
                t2[0],
                t2[1],
            ],
        ),
    );
    nmap(
        "10.77.0.12",
        &["-sS", "-D", "10.77.0.50,10.77.0.51,ME", "-p", ports, t2[0]],
    );
    ok(
        "nmap -6",
        &mut lab.scanner_cmd(
            "nmap",
            [
                "-6",
                "-n",
                "-Pn",
                "-T4",
                "--max-retries",
                "1",
                "-sS",
                "-p",
                ports,
                "fd77:1::10",
            ],
        ),
    );

    // Benign clients.
    python(
        &lab,
        "10.77.0.20",
        "for i in range(10):
    for port in (22, 80, 443):
        s = socket.create_connection(('10.77.1.10', port), timeout=3, source_address=(SRC, 0))
        s.sendall(b'hello ' * 20)
        time.sleep(0.05)
        s.close()",
    );
    python(
        &lab,
        "10.77.0.21",
        "for port in (7070, 7071):
    try:
        socket.create_connection(('10.77.1.10', port), timeout=3, source_address=(SRC, 0))
    except OSError:
        pass
    time.sleep(0.3)",
    );
    python(
        &lab,
        "10.77.0.22",
        "for i in range(5):
    try:
        socket.create_connection(('10.77.1.11', 7070), timeout=3, source_address=(SRC, 0))
    except OSError:
        pass
    time.sleep(0.5)",
    );
    python(
        &lab,
        "10.77.0.23",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((SRC, 0))
s.settimeout(2)
for i in range(8):
    s.sendto(b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01', ('10.77.1.10', 53))
    s.recvfrom(512)
    time.sleep(0.1)",
    );
    // Late answers (the router's host unreachables for the sweeps come ~3 s late).
    std::thread::sleep(Duration::from_secs(4));

    let st = detect.stop(libc::SIGTERM);
    assert!(
        st.success(),
        "monban detect -i: {st:?}: {}",
        read(&dir.join("live.log"))
    );
    tcpdump.stop(libc::SIGINT);

    check("live (-i s0)", &live);

    let file = dir.join("file.jsonl");
    let ran = run(
        Command::new(MONBAN).args([
            "detect",
            "-r",
            pcap_s,
            "--home",
            HOME,
            "-oJ",
            file.to_str().unwrap_or_default(),
            "--stats",
        ]),
        LIMIT,
    );
    assert!(ran.status.success(), "{ran:?}");
    eprintln!("{}", ran.stderr);
    check("file (-r)", &file);
}
