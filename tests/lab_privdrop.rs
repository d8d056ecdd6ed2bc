//! Least privilege: a scan run as root gives root up once its raw sockets and outputs are
//! open, and still scans exactly right. The test reads `/proc/PID/status` of every
//! thread of the running monban (once its worker threads exist, which start after the
//! drop, and before it ends) and checks the ids, the capability sets and `no_new_privs`;
//! then it checks the results against the lab's ground truth and the outputs written.
//!
//! Four runs: as root with `SUDO_UID`/`SUDO_GID` (a SYN scan with raw discovery pings from
//! the scanner namespace, outputs and an SQLite history under a root-only directory);
//! the same from a target's namespace, where discovery is ARP and ND on the bridge, so
//! the pooled neighbour sockets are used after the drop; as root with
//! `--keep-privileges` (nothing given up); and the binary with only `CAP_NET_RAW`
//! (setcap) run as `nobody` (its capabilities cleared). Needs root, `setcap`
//! (libcap2-bin) and `setpriv` (util-linux).

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{lab, parse_jsonl, parse_xml, read, run, scratch, PortTable, MONBAN};
use monban_lab::{Host, Lab, Probe};

/// The status fields of one thread (`Uid`, `CapEff`, ...), values as the kernel wrote them.
type Status = BTreeMap<String, String>;

/// Every thread's status of process `pid`, or `None` once it is gone.
fn tasks(pid: u32) -> Option<Vec<Status>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let text = std::fs::read_to_string(entry.path().join("status")).ok()?;
        out.push(
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| {
                    (
                        k.to_owned(),
                        v.split_whitespace().collect::<Vec<_>>().join(" "),
                    )
                })
                .collect(),
        );
    }
    Some(out)
}

/// A finished monban whose threads were looked at while it ran.
struct Watched {
    status: ExitStatus,
    stderr: String,
    /// Every thread's status, read once monban had its worker threads and before it ended.
    threads: Vec<Status>,
}

/// Runs `cmd` (which ends up exec'ing monban), reads every thread's status as soon as
/// monban runs more than one thread (its threads start after the privilege drop) and
/// checks it is still running then; waits for the end.
fn watch(mut cmd: Command, stdout: &Path, stderr: &Path) -> Watched {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(stdout).expect("stdout file"))
        .stderr(File::create(stderr).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let pid = child.id();
    let start = Instant::now();
    let threads = loop {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "{shown} ended ({st}) before its threads were read:\n{}",
                read(stderr)
            );
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown}: no worker thread within 20 s:\n{}", read(stderr));
        }
        if let Some(t) = tasks(pid) {
            let main = t
                .iter()
                .find(|s| s.get("Pid").map(String::as_str) == Some(&pid.to_string()));
            let is_monban = main.and_then(|s| s.get("Name")).map(String::as_str) == Some("monban");
            if is_monban && t.len() >= 2 {
                break t;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "{shown}: the status must be read mid-scan, but it had ended"
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > Duration::from_secs(60) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{shown} did not finish within 60 s");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
    };
    Watched {
        status,
        stderr: read(stderr),
        threads,
    }
}

const NO_CAPS: &str = "0000000000000000";

/// Asserts that every thread runs as `uid`/`gid` with no group, no capability in any of
/// `sets`, and `NoNewPrivs` as given.
fn assert_threads(what: &str, threads: &[Status], uid: u32, gid: u32, sets: &[&str], nnp: &str) {
    assert!(threads.len() >= 2, "{what}: {threads:?}");
    for t in threads {
        let tid = &t["Pid"];
        assert_eq!(
            t["Uid"],
            format!("{uid} {uid} {uid} {uid}"),
            "{what}: thread {tid} Uid"
        );
        assert_eq!(
            t["Gid"],
            format!("{gid} {gid} {gid} {gid}"),
            "{what}: thread {tid} Gid"
        );
        for set in sets {
            assert_eq!(t[*set], NO_CAPS, "{what}: thread {tid} {set}");
        }
        assert_eq!(t["NoNewPrivs"], nnp, "{what}: thread {tid} NoNewPrivs");
    }
}

/// Ports scanned: some closed, the hosts' open ones, some dropped and rejected ones.
fn ports(hosts: &[&Host]) -> Vec<u16> {
    let mut p: Vec<u16> = (1..=40).chain(20000..=20002).chain(21000..=21002).collect();
    for h in hosts {
        p.extend_from_slice(h.open_ports());
    }
    p.sort_unstable();
    p.dedup();
    p
}

fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Asserts that `table` holds exactly `ports`, each as the SYN truth of `host` says.
fn assert_truth(what: &str, host: &Host, table: &PortTable, ports: &[u16]) {
    for &p in ports {
        assert_eq!(
            table.get(p),
            Some(host.truth_for(Probe::Syn, p)),
            "{what}: port {p} of {}",
            host.v4
        );
    }
    assert_eq!(table.len(), ports.len(), "{what}: ports listed");
}

/// Slow enough to be seen running (a few seconds), quick enough for the test.
const PACE: [&str; 6] = [
    "-T4",
    "--max-retries",
    "1",
    "--scan-delay",
    "15ms",
    "--no-progress",
];

#[test]
fn root_gives_up_root_and_capabilities_once_sockets_and_outputs_are_open() {
    let began = Instant::now();
    let lab: Lab = lab(Lab::builder().hosts(3));
    eprintln!("lab ready after {:?}", began.elapsed());
    let hosts = lab.hosts();
    let dir = scratch("privdrop");

    // 1. Root, from sudo (SUDO_UID 4242, SUDO_GID 4343): raw discovery pings and a SYN
    //    scan through the router, -oJ and -oX, and the history in a root-only directory.
    let target = &hosts[0];
    let list = ports(&[target]);
    let db_dir = dir.join("root-only");
    std::fs::create_dir(&db_dir).unwrap();
    std::fs::set_permissions(&db_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let db = db_dir.join("history.db");
    let (jsonl, xml) = (dir.join("sudo.jsonl"), dir.join("sudo.xml"));
    let mut args: Vec<String> = ["scan", "-sS", "-n", "-p", &port_list(&list)]
        .map(String::from)
        .to_vec();
    args.extend(PACE.map(String::from));
    args.extend([
        "-oJ".into(),
        jsonl.display().to_string(),
        "-oX".into(),
        xml.display().to_string(),
        format!("--db={}", db.display()),
        target.v4.to_string(),
    ]);
    let mut cmd = lab.scanner_cmd(MONBAN, &args);
    cmd.env("SUDO_UID", "4242").env("SUDO_GID", "4343");
    let w = watch(cmd, &dir.join("sudo.out"), &dir.join("sudo.err"));
    assert!(w.status.success(), "sudo run: {}", w.stderr);
    assert_threads(
        "sudo run",
        &w.threads,
        4242,
        4343,
        &["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"],
        "1",
    );
    for t in &w.threads {
        assert_eq!(t["Groups"], "", "sudo run: supplementary groups");
    }
    let json = parse_jsonl(&read(&jsonl), "sudo run -oJ");
    assert_eq!(json.events[0]["scan"], "syn");
    assert_eq!(json.hosts.len(), 1, "sudo run: hosts");
    assert_truth(
        "sudo run -oJ",
        target,
        &json.hosts[&target.v4.to_string()],
        &list,
    );
    let xml = parse_xml(&read(&xml), "sudo run -oX");
    assert_truth("sudo run -oX", target, &xml[&target.v4.to_string()], &list);
    let end = json.end("sudo run");
    assert_eq!(
        (end["hosts_up"].as_u64(), end["interrupted"].as_bool()),
        (Some(1), Some(false))
    );
    // The history got the whole scan, its last write made as uid 4242 through the
    // connection opened as root.
    let shown = run(
        Command::new(MONBAN).args(["show", "1", "-oJ", "-", "--db", db.to_str().unwrap()]),
        Duration::from_secs(30),
    );
    assert!(shown.status.success(), "show: {shown:?}");
    let stored = parse_jsonl(&shown.stdout, "monban show");
    assert_truth(
        "history",
        target,
        &stored.hosts[&target.v4.to_string()],
        &list,
    );

    eprintln!("sudo run done after {:?}", began.elapsed());
    // 2. Root inside target 0's namespace, on the bridge: discovery by ARP and ND, from
    //    sockets opened before the drop, then the SYN scan; the unused addresses down.
    let me = &hosts[0];
    let others = [&hosts[1], &hosts[2]];
    let list = ports(&others);
    let jsonl = dir.join("bridge.jsonl");
    let mut args: Vec<String> = ["netns", "exec", &me.ns, MONBAN, "scan", "-sS", "-n"]
        .map(String::from)
        .to_vec();
    args.extend(PACE.map(String::from));
    args.extend([
        "-p".into(),
        port_list(&list),
        "-oJ".into(),
        jsonl.display().to_string(),
    ]);
    for h in others {
        args.extend([h.v4.to_string(), h.v6.to_string()]);
    }
    args.extend(["10.77.1.200".into(), "fd77:1::200".into()]);
    let mut cmd = Command::new("ip");
    cmd.args(&args)
        .env("SUDO_UID", "4242")
        .env("SUDO_GID", "4343");
    let w = watch(cmd, &dir.join("bridge.out"), &dir.join("bridge.err"));
    assert!(w.status.success(), "bridge run: {}", w.stderr);
    assert_threads(
        "bridge run",
        &w.threads,
        4242,
        4343,
        &["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"],
        "1",
    );
    let json = parse_jsonl(&read(&jsonl), "bridge run -oJ");
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for e in json.events.iter().filter(|e| e["event"] == "host") {
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
        seen.insert(s("addr"), (s("status"), s("reason")));
    }
    let mut want: BTreeMap<String, (String, String)> = BTreeMap::new();
    for h in others {
        want.insert(h.v4.to_string(), ("up".into(), "arp-response".into()));
        want.insert(h.v6.to_string(), ("up".into(), "nd-response".into()));
    }
    want.insert("10.77.1.200".into(), ("down".into(), "no-response".into()));
    want.insert("fd77:1::200".into(), ("down".into(), "no-response".into()));
    assert_eq!(seen, want, "bridge run: hosts and why");
    for h in others {
        assert_truth("bridge run v4", h, &json.hosts[&h.v4.to_string()], &list);
        assert_truth("bridge run v6", h, &json.hosts[&h.v6.to_string()], &list);
    }

    eprintln!("bridge run done after {:?}", began.elapsed());
    // 3. Root with --keep-privileges: nothing is given up (and the scan is the same).
    let list = ports(&[target]);
    let jsonl = dir.join("keep.jsonl");
    let mut args: Vec<String> = [
        "scan",
        "-sS",
        "-n",
        "-Pn",
        "--keep-privileges",
        "-p",
        &port_list(&list),
    ]
    .map(String::from)
    .to_vec();
    args.extend(PACE.map(String::from));
    args.extend([
        "-oJ".into(),
        jsonl.display().to_string(),
        target.v4.to_string(),
    ]);
    let mut cmd = lab.scanner_cmd(MONBAN, &args);
    cmd.env("SUDO_UID", "4242").env("SUDO_GID", "4343");
    let w = watch(cmd, &dir.join("keep.out"), &dir.join("keep.err"));
    assert!(w.status.success(), "keep run: {}", w.stderr);
    for t in &w.threads {
        assert_eq!(t["Uid"], "0 0 0 0", "keep run: Uid");
        assert_ne!(t["CapEff"], NO_CAPS, "keep run: CapEff");
        assert_eq!(t["CapEff"], t["CapBnd"], "keep run: every capability kept");
        assert_eq!(t["NoNewPrivs"], "0", "keep run: NoNewPrivs");
    }
    let json = parse_jsonl(&read(&jsonl), "keep run -oJ");
    assert_truth(
        "keep run",
        target,
        &json.hosts[&target.v4.to_string()],
        &list,
    );

    eprintln!("keep run done after {:?}", began.elapsed());
    // 4. Only CAP_NET_RAW, as nobody: a SYN scan, its capabilities cleared once open.
    let bin_dir = dir.join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin_dir.join("monban");
    std::fs::copy(MONBAN, &bin).expect("copy the binary");
    let r = run(
        Command::new("setcap").arg("cap_net_raw+ep").arg(&bin),
        Duration::from_secs(30),
    );
    assert!(
        r.status.success(),
        "setcap (apt-get install libcap2-bin): {r:?}"
    );
    let mut args: Vec<String> = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        bin.to_str().unwrap(),
        "scan",
        "-sS",
        "-n",
        "-p",
        &port_list(&list),
    ]
    .map(String::from)
    .to_vec();
    args.extend(PACE.map(String::from));
    args.extend(["-oJ".into(), "-".into(), target.v4.to_string()]);
    let mut cmd = lab.scanner_cmd(&args[0], &args[1..]);
    cmd.env_remove("SUDO_UID").env_remove("SUDO_GID");
    let out = dir.join("caps.out");
    let w = watch(cmd, &out, &dir.join("caps.err"));
    assert!(w.status.success(), "setcap run: {}", w.stderr);
    // The bounding set needs CAP_SETPCAP to shrink: it stays, and no_new_privs keeps an
    // exec from using it.
    assert_threads(
        "setcap run",
        &w.threads,
        65534,
        65534,
        &["CapEff", "CapPrm", "CapInh", "CapAmb"],
        "1",
    );
    let json = parse_jsonl(&read(&out), "setcap run -oJ");
    assert_eq!(
        json.events[0]["scan"], "syn",
        "a SYN scan, not a connect scan"
    );
    assert_truth(
        "setcap run",
        target,
        &json.hosts[&target.v4.to_string()],
        &list,
    );
    eprintln!("setcap run done after {:?}", began.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}
