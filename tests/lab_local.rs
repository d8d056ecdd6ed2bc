//! `monban local` on a lab whose listeners are known by construction.
//!
//! One lab (scanner, router, targets t0 and t1). Beside the lab's own listeners (held by
//! this test process), Python processes the test starts hold:
//!
//! - TCP port 10400 on 0.0.0.0 in three namespaces (t0, t1, scanner): one port number,
//!   three sockets, three owners;
//! - in t0, a process running as user `nobody`: TCP 10400, UDP 10404 on
//!   0.0.0.0, TCP 10402 on `::` IPv6-only, TCP 10406 on 127.0.0.1, UDP 10405 on ::1,
//!   TCP 10407 on t0's own address, TCP 20500 (in the lab's dropped range) and 21100 (in the
//!   rejected range);
//! - in t0, a socket shared after `fork`: TCP 10401, held by parent and child;
//! - in t1, a dual-stack TCP socket on `::` port 10403.
//!
//! Checks: every socket of the lab's namespaces is found once, with the right owners; the
//! same sets as `ss -tulpnH` run inside each namespace (the peer); run as `nobody`, monban
//! still answers and says which owners it cannot know; and `--against` a scan of t0 made
//! from the scanner namespace (monban's XML, nmap's XML, monban's JSON Lines) sorts t0's
//! listeners into exposed / protected / not scanned exactly, and finds the one surprise:
//! port 7777 of t0, which the router forwards (DNAT) to t1's SSH port.
//!
//! Needs root (the lab), Debian's /usr/bin/python3, nmap, ss (iproute2) and setpriv
//! (util-linux); scripts/test.sh installs them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{lab, ns_cmd, ok, run, scratch, Bg, MONBAN};
use monban_lab::{Lab, UDP_SILENT};

const LIMIT: Duration = Duration::from_secs(120);

/// A Python process holding sockets; prints `listening pid=P child=C` on stderr when bound.
const HOLDER: &str = r#"
import json, os, socket, sys, time
spec = json.loads(sys.argv[1])
socks = []
for proto, addr, port, v6only in spec["sockets"]:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    s.bind((addr, port))
    if proto == "tcp":
        s.listen(16)
    socks.append(s)
parent, child = os.getpid(), 0
if spec.get("fork"):
    child = os.fork()
    if child == 0:
        # The child lives as long as its parent does.
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(0)
sys.stderr.write("listening pid=%d child=%d\n" % (parent, child))
sys.stderr.flush()
time.sleep(600)
"#;

/// A started holder: its pid, its fork child's (0 for none).
struct Holder {
    _bg: Bg,
    pid: u32,
    child: u32,
}

/// A holder run as `nobody` from the start (a process that drops privileges itself is no
/// longer "dumpable": even its new user may not read its descriptors).
const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

fn holder(ns: &str, dir: &Path, name: &str, spec: &str, prefix: &[&str]) -> Holder {
    let log = dir.join(format!("{name}.log"));
    let mut args: Vec<&str> = prefix.to_vec();
    // Debian's python3: an unprivileged user may not reach one installed under /root.
    args.extend(["/usr/bin/python3", "-c", HOLDER, spec]);
    let bg = Bg::start("python holder", &mut ns_cmd(ns, args[0], &args[1..]), &log);
    let start = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with("listening")) {
            let num = |k: &str| -> u32 {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{line}"))
            };
            return Holder {
                _bg: bg,
                pid: num("pid="),
                child: num("child="),
            };
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{name}: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A socket as compared: (proto, address, port) → sorted holder pids.
type Sockets = BTreeMap<(String, String, u16), BTreeSet<u32>>;

/// The sockets of namespace `ns` in a `monban local -oJ` output, failing on a repeat.
fn from_monban(lines: &str, ns: &str) -> (Sockets, Vec<serde_json::Value>) {
    let mut out = Sockets::new();
    let mut objs = Vec::new();
    for line in lines.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if v["event"] != "socket" || v["netns"] != ns {
            continue;
        }
        let key = (
            v["proto"].as_str().unwrap().to_string(),
            v["addr"].as_str().unwrap().to_string(),
            u16::try_from(v["port"].as_u64().unwrap()).unwrap(),
        );
        let pids = v["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| u32::try_from(p["pid"].as_u64().unwrap()).unwrap())
            .collect();
        assert!(
            out.insert(key.clone(), pids).is_none(),
            "{key:?} twice in {ns}"
        );
        objs.push(v);
    }
    (out, objs)
}

/// The sockets `ss -tulpnH` shows inside `ns`.
fn from_ss(ns: &str) -> Sockets {
    let ran = run(&mut ns_cmd(ns, "ss", &["-tulpnH"]), LIMIT);
    assert!(ran.status.success(), "ss: {ran:?}");
    let mut out = Sockets::new();
    for line in ran.stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 5, "ss line {line:?}");
        let (addr, port) = f[4].rsplit_once(':').unwrap_or_else(|| panic!("{line}"));
        let addr = addr.split('%').next().unwrap_or(addr);
        // ss shows a dual-stack socket as `*`, an IPv6 one in brackets.
        let addr = match addr.trim_start_matches('[').trim_end_matches(']') {
            "*" => "::".to_string(),
            a => a.to_string(),
        };
        let pids = line
            .split("pid=")
            .skip(1)
            .map(|p| {
                p.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        let key = (f[0].to_string(), addr, port.parse().unwrap());
        assert!(
            out.insert(key.clone(), pids).is_none(),
            "{key:?} twice from ss in {ns}"
        );
    }
    out
}

fn key(proto: &str, addr: &str, port: u16) -> (String, String, u16) {
    (proto.to_string(), addr.to_string(), port)
}

#[test]
fn local_inventory_owners_peers_and_against() {
    let lab: Lab = lab(Lab::builder().hosts(2));
    let dir = scratch("lab-local");
    let (t0, t1) = (&lab.hosts()[0], &lab.hosts()[1]);
    let scanner = lab.scanner_ns();
    let me = std::process::id();

    let nobody = holder(
        &t0.ns,
        &dir,
        "t0-nobody",
        &format!(
            r#"{{"sockets": [["tcp","0.0.0.0",10400,0],["udp","0.0.0.0",10404,0],["tcp","::",10402,1],["tcp","127.0.0.1",10406,0],["udp","::1",10405,0],["tcp","{}",10407,0],["tcp","0.0.0.0",20500,0],["tcp","0.0.0.0",21100,0]]}}"#,
            t0.v4
        ),
        AS_NOBODY,
    );
    let forked = holder(
        &t0.ns,
        &dir,
        "t0-fork",
        r#"{"fork": true, "sockets": [["tcp","0.0.0.0",10401,0]]}"#,
        &[],
    );
    let in_t1 = holder(
        &t1.ns,
        &dir,
        "t1",
        r#"{"sockets": [["tcp","0.0.0.0",10400,0],["tcp","::",10403,0]]}"#,
        &[],
    );
    let in_scanner = holder(
        scanner,
        &dir,
        "scanner",
        r#"{"sockets": [["tcp","0.0.0.0",10400,0]]}"#,
        &[],
    );
    assert_ne!(forked.child, 0);

    // The router forwards t0's port 7777 to t1's SSH port: open from outside, no
    // listener in t0.
    for rule in [
        "add table ip monbanlocal",
        "add chain ip monbanlocal pre { type nat hook prerouting priority -100 ; }",
        &format!(
            "add rule ip monbanlocal pre ip daddr {} tcp dport 7777 dnat to {}:22",
            t0.v4, t1.v4
        ),
    ] {
        ok("router dnat", &mut ns_cmd(lab.router_ns(), "nft", &[rule]));
    }

    // ---- the inventory, as root ----
    let ran = run(
        std::process::Command::new(MONBAN).args(["local", "-oJ", "-"]),
        LIMIT,
    );
    assert!(ran.status.success(), "monban local: {ran:?}");
    let json = ran.stdout;
    std::fs::write(dir.join("local.jsonl"), &json).unwrap();

    // Exact sets per namespace, against ss inside it.
    for ns in [t0.ns.as_str(), t1.ns.as_str(), scanner, lab.router_ns()] {
        let (ours, _) = from_monban(&json, ns);
        let theirs = from_ss(ns);
        assert_eq!(ours, theirs, "monban local and ss -tulpn disagree in {ns}");
    }

    // Ground truth: the sockets the test made, with their owners.
    let (s0, objs0) = from_monban(&json, &t0.ns);
    let pid = |pids: &[u32]| pids.iter().copied().collect::<BTreeSet<u32>>();
    let want0 = [
        (key("tcp", "0.0.0.0", 10400), pid(&[nobody.pid])),
        (key("udp", "0.0.0.0", 10404), pid(&[nobody.pid])),
        (key("tcp", "::", 10402), pid(&[nobody.pid])),
        (key("tcp", "127.0.0.1", 10406), pid(&[nobody.pid])),
        (key("udp", "::1", 10405), pid(&[nobody.pid])),
        (key("tcp", &t0.v4.to_string(), 10407), pid(&[nobody.pid])),
        (key("tcp", "0.0.0.0", 20500), pid(&[nobody.pid])),
        (key("tcp", "0.0.0.0", 21100), pid(&[nobody.pid])),
        (
            key("tcp", "0.0.0.0", 10401),
            pid(&[forked.pid, forked.child]),
        ),
    ];
    for (k, pids) in &want0 {
        assert_eq!(s0.get(k), Some(pids), "{k:?} in t0");
    }
    for &p in t0.open_ports() {
        assert_eq!(
            s0.get(&key("tcp", "::", p)),
            Some(&pid(&[me])),
            "lab port {p}"
        );
    }
    let mut lab_udp = t0.udp_open();
    lab_udp.extend(UDP_SILENT);
    for &p in &lab_udp {
        assert_eq!(
            s0.get(&key("udp", "::", p)),
            Some(&pid(&[me])),
            "lab UDP port {p}"
        );
    }
    assert_eq!(
        s0.len(),
        want0.len() + t0.open_ports().len() + lab_udp.len(),
        "t0 holds only what the test made: {s0:?}"
    );
    let (s1, _) = from_monban(&json, &t1.ns);
    assert_eq!(
        s1.get(&key("tcp", "0.0.0.0", 10400)),
        Some(&pid(&[in_t1.pid]))
    );
    assert_eq!(s1.get(&key("tcp", "::", 10403)), Some(&pid(&[in_t1.pid])));
    let (ss, _) = from_monban(&json, scanner);
    assert_eq!(
        ss,
        Sockets::from([(key("tcp", "0.0.0.0", 10400), pid(&[in_scanner.pid]))])
    );

    // The details of a few: dual-stack flags, exposure, user, process name, namespace.
    let obj = |proto: &str, port: u16| {
        objs0
            .iter()
            .find(|v| v["proto"] == proto && v["port"] == port)
            .unwrap_or_else(|| panic!("{proto}/{port}"))
    };
    assert_eq!(obj("tcp", 10402)["v6only"], true);
    assert_eq!(obj("tcp", 10402)["exposure"], "every");
    assert_eq!(obj("tcp", 10406)["exposure"], "loopback");
    assert_eq!(obj("tcp", 10407)["exposure"], "address");
    assert_eq!(
        obj("tcp", 10400)["reached_by"],
        serde_json::json!([t0.v4.to_string()])
    );
    assert_eq!(obj("tcp", 10400)["processes"][0]["user"], "nobody");
    assert_eq!(obj("tcp", 10400)["processes"][0]["name"], "python3");
    assert_eq!(obj("tcp", 10400)["netns_names"], serde_json::json!([t0.ns]));
    assert_eq!(obj("tcp", 10401)["processes"][0]["user"], "root");
    assert_eq!(obj("tcp", 10406)["advice"], serde_json::json!([]));
    let lab_port = t0.open_ports()[0];
    assert_eq!(obj("tcp", lab_port)["v6only"], false);
    assert_eq!(obj("tcp", lab_port)["exposure"], "every");
    let both: BTreeSet<String> = obj("tcp", lab_port)["reached_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(
        both.contains(&t0.v4.to_string()) && both.contains(&t0.v6.to_string()),
        "{both:?}"
    );

    // `monban local 10400`: the lsof -i:10400 answer, in every namespace.
    let ran = run(
        std::process::Command::new(MONBAN).args(["local", "10400"]),
        LIMIT,
    );
    assert!(ran.status.success(), "{ran:?}");
    for (ns, p) in [
        (&t0.ns, nobody.pid),
        (&t1.ns, in_t1.pid),
        (&scanner.to_string(), in_scanner.pid),
    ] {
        assert!(
            ran.stdout
                .lines()
                .any(|l| l.starts_with(ns.as_str()) && l.contains(&format!("python3[{p}]"))),
            "no line for {ns} pid {p}:\n{}",
            ran.stdout
        );
    }
    assert!(
        ran.stdout.contains(&format!("kill {}", nobody.pid)),
        "{}",
        ran.stdout
    );

    // ---- unprivileged ----
    let ran = run(
        &mut ns_cmd(
            &t0.ns,
            "setpriv",
            &[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                MONBAN,
                "local",
                "-oJ",
                "-",
            ],
        ),
        LIMIT,
    );
    assert!(ran.status.success(), "monban local as nobody: {ran:?}");
    let (mine, objs) = from_monban(&ran.stdout, &t0.ns);
    assert_eq!(
        mine.get(&key("tcp", "0.0.0.0", 10400)),
        Some(&pid(&[nobody.pid])),
        "nobody's own socket"
    );
    let forked_obj = objs
        .iter()
        .find(|v| v["port"] == 10401)
        .expect("10401 seen unprivileged");
    assert_eq!(forked_obj["owner"], "unknown-needs-root");
    let summary = ran.stdout.lines().last().unwrap();
    assert!(summary.contains("\"root\":false"), "{summary}");

    // ---- --against: t0 scanned from the scanner namespace ----
    let ports = "1-1024,7777,10400-10410,20500,21100";
    let target = t0.v4.to_string();
    let monban_xml = dir.join("monban.xml");
    let monban_jsonl = dir.join("monban.jsonl");
    let nmap_xml = dir.join("nmap.xml");
    ok(
        "monban scan",
        &mut lab.scanner_cmd(
            MONBAN,
            [
                "scan",
                "-sS",
                "-n",
                "-Pn",
                "-p",
                ports,
                "--max-retries",
                "1",
                "-oX",
            ]
            .iter()
            .map(ToString::to_string)
            .chain([
                monban_xml.display().to_string(),
                "-oJ".into(),
                monban_jsonl.display().to_string(),
                target.clone(),
            ]),
        ),
    );
    ok(
        "nmap scan",
        &mut lab.scanner_cmd(
            "nmap",
            ["-sS", "-n", "-Pn", "-p", ports, "--max-retries", "1", "-oX"]
                .iter()
                .map(ToString::to_string)
                .chain([nmap_xml.display().to_string(), target.clone()]),
        ),
    );
    let mut want: BTreeMap<(String, u16), &str> = BTreeMap::new();
    for &p in t0.open_ports() {
        want.insert(
            ("tcp".into(), p),
            if p <= 1024 { "exposed" } else { "not-scanned" },
        );
    }
    for (p, v) in [
        (10400, "exposed"),
        (10401, "exposed"),
        (10407, "exposed"),
        (20500, "protected"),
        (21100, "protected"),
    ] {
        want.insert(("tcp".into(), p), v);
    }
    want.insert(("udp".into(), 10404), "not-scanned");
    for &p in &lab_udp {
        want.insert(("udp".into(), p), "not-scanned");
    }
    for scan in [&monban_xml, &nmap_xml, &monban_jsonl] {
        let ran = run(
            std::process::Command::new(MONBAN)
                .args(["local", "--netns", &t0.ns, "--against"])
                .arg(scan)
                .args(["-oJ", "-"]),
            LIMIT,
        );
        assert!(ran.status.success(), "against {}: {ran:?}", scan.display());
        let mut got: BTreeMap<(String, u16), String> = BTreeMap::new();
        let mut surprises = Vec::new();
        for line in ran.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            match v["event"].as_str() {
                Some("socket") => {
                    for o in v["outside"].as_array().unwrap() {
                        assert_eq!(o["addr"], target.as_str());
                        let k = (
                            v["proto"].as_str().unwrap().to_string(),
                            u16::try_from(v["port"].as_u64().unwrap()).unwrap(),
                        );
                        assert!(got
                            .insert(k, o["verdict"].as_str().unwrap().to_string())
                            .is_none());
                    }
                }
                Some("surprise") => {
                    surprises.push((v["addr"].clone(), v["proto"].clone(), v["port"].clone()))
                }
                _ => {}
            }
        }
        let got: BTreeMap<(String, u16), &str> =
            got.iter().map(|(k, v)| (k.clone(), v.as_str())).collect();
        assert_eq!(got, want, "the join with {}", scan.display());
        assert_eq!(
            surprises,
            [(
                serde_json::json!(target),
                serde_json::json!("tcp"),
                serde_json::json!(7777)
            )],
            "surprises with {}",
            scan.display()
        );
    }
}
