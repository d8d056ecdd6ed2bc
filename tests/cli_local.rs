//! `monban local` from the outside: hostile `--against` files, bad command lines, text a
//! local user controls (process names, command lines) kept harmless in every output, the
//! owner of a port the test itself holds, and the join with a connect scan of 127.0.0.1.
//!
//! Nothing here leaves the host: the only packets are connect scans of 127.0.0.0/8. Every
//! process a test starts is killed by PID when its guard drops, also when an assertion
//! fails. The tests run one at a time (see [`serial`]): a process forked by another test
//! between fork and exec would hold this process's sockets too, and show up as an owner.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::Duration;

use common::{run, scratch, Ran, MONBAN};
use serde_json::{json, Value};

/// How long one monban run may take before the test fails.
const LIMIT: Duration = Duration::from_secs(20);

/// A failure on a bad `--against` file must come this fast.
const QUICK: Duration = Duration::from_secs(5);

/// The Python the terminal-safety test runs.
const PYTHON: &str = "/usr/bin/python3";

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for the whole of each test: one test at a time (a failed test poisons the lock;
/// the next ones still run).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn monban(args: &[&str]) -> Ran {
    run(Command::new(MONBAN).args(args), LIMIT)
}

fn shown(args: &[&str]) -> String {
    format!("monban {}", args.join(" "))
}

/// A child process, killed (SIGKILL, by its PID) and reaped when dropped.
struct Guard(Child);

impl Guard {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every line of `out` as JSON; panics on a line that is not.
fn json_lines(out: &str, what: &str) -> Vec<Value> {
    assert!(!out.is_empty(), "{what}: no output");
    out.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{what}: line {} is not JSON ({e}): {l:?}", i + 1))
        })
        .collect()
}

/// The events of one kind.
fn events<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|v| v["event"] == kind).collect()
}

/// The `socket` events of the host's namespace on `port`.
fn host_sockets(all: &[Value], port: u16) -> Vec<&Value> {
    events(all, "socket")
        .into_iter()
        .filter(|v| v["netns_host"] == true && v["port"] == port)
        .collect()
}

/// (proto, addr) of socket events.
fn keys(sockets: &[&Value]) -> BTreeSet<(String, String)> {
    sockets
        .iter()
        .map(|v| {
            (
                v["proto"].as_str().unwrap_or("?").to_string(),
                v["addr"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

fn key_set(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(p, a)| (p.to_string(), a.to_string()))
        .collect()
}

/// The rows of the host's namespace in `monban local`'s table, split into columns.
fn host_rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|c| c.len() > 7 && c[0] == "host" && (c[1] == "tcp" || c[1] == "udp"))
        .collect()
}

/// This test process's name as the kernel has it (what `monban local` shows).
fn own_name() -> String {
    common::read(Path::new("/proc/self/comm"))
        .trim_end()
        .to_string()
}

/// TCP listeners and UDP sockets on 127.0.0.1 and ::1, all on one port.
struct Held {
    port: u16,
    _tcp4: TcpListener,
    _tcp6: TcpListener,
    _udp4: UdpSocket,
    _udp6: UdpSocket,
}

fn hold_four() -> Held {
    for _ in 0..100 {
        let tcp4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 (tcp)");
        let port = tcp4.local_addr().expect("local addr").port();
        let (Ok(tcp6), Ok(udp4), Ok(udp6)) = (
            TcpListener::bind(("::1", port)),
            UdpSocket::bind(("127.0.0.1", port)),
            UdpSocket::bind(("::1", port)),
        ) else {
            continue;
        };
        return Held {
            port,
            _tcp4: tcp4,
            _tcp6: tcp6,
            _udp4: udp4,
            _udp6: udp6,
        };
    }
    panic!("no port free on 127.0.0.1 and ::1 for both TCP and UDP (is ::1 configured?)");
}

/// `monban scan -sT -Pn -n -p PORTS -oX/-oJ FILE TARGETS`: a connect scan of loopback.
fn connect_scan(ports: &str, format: &str, file: &Path, targets: &[&str]) {
    let file = file.to_str().expect("UTF-8 path");
    let mut args = vec!["scan", "-sT", "-Pn", "-n", "-p", ports, format, file];
    args.extend_from_slice(targets);
    let ran = monban(&args);
    assert!(ran.status.success(), "{}: {ran:?}", shown(&args));
}

// ---------------------------------------------------------------------------------------
// 1. Hostile or bad --against files
// ---------------------------------------------------------------------------------------

/// `monban local --against FILE` fails with exit 1 and one `monban: ...` line naming the
/// file and saying `why`.
fn expect_bad_against(file: &Path, why: &str) {
    let path = file.to_str().expect("UTF-8 path");
    let args = ["local", "-p", "1", "--against", path];
    let ran = monban(&args);
    let what = shown(&args);
    assert!(
        !ran.stderr.contains("panicked"),
        "{what}: panicked: {}",
        ran.stderr
    );
    assert_eq!(
        ran.status.code(),
        Some(1),
        "{what}: exit status\nstderr: {}",
        ran.stderr
    );
    assert!(
        ran.elapsed < QUICK,
        "{what}: took {:?} to fail",
        ran.elapsed
    );
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: stderr must be one line:\n{}",
        ran.stderr
    );
    assert!(
        lines[0].starts_with("monban: "),
        "{what}: stderr: {}",
        ran.stderr
    );
    assert!(
        lines[0].contains(path),
        "{what}: the message should name the file: {}",
        ran.stderr
    );
    assert!(
        lines[0].contains(why),
        "{what}: the message should say {why:?}: {}",
        ran.stderr
    );
    assert!(
        ran.stdout.is_empty(),
        "{what}: nothing on stdout, got {}",
        ran.stdout
    );
}

/// 4 KiB of fixed pseudo-random bytes (xorshift), not UTF-8.
fn noise() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = vec![0xff];
    while out.len() < 4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    assert!(std::str::from_utf8(&out).is_err());
    out
}

#[test]
fn against_rejects_hostile_files() {
    let _one = serial();
    let dir = scratch("local-hostile");
    let write = |name: &str, body: &[u8]| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    };

    expect_bad_against(&dir.join("no-such-scan.xml"), "No such file");

    let sub = dir.join("a-directory");
    std::fs::create_dir(&sub).expect("mkdir");
    expect_bad_against(&sub, "cannot read");

    expect_bad_against(&write("empty.xml", b""), "empty");
    expect_bad_against(&write("noise.bin", &noise()), "not UTF-8");
    expect_bad_against(
        &write(
            "page.html",
            b"<!DOCTYPE html>\n<html><head><title>Scan</title></head>\
              <body><p>open ports: 22, 80</p></body></html>\n",
        ),
        "<html>",
    );
    expect_bad_against(
        &write(
            "other.xml",
            b"<?xml version=\"1.0\"?>\n<scanresults><host addr=\"127.0.0.1\"/></scanresults>\n",
        ),
        "<scanresults>",
    );
    expect_bad_against(
        &write(
            "other.jsonl",
            b"{\"level\":\"info\",\"msg\":\"started\"}\n{\"level\":\"info\",\"msg\":\"done\"}\n",
        ),
        "not a scan file",
    );
    // monban's own format, but a schema this reader does not know.
    expect_bad_against(
        &write(
            "schema99.jsonl",
            b"{\"event\":\"start\",\"time\":1,\"schema\":99}\n",
        ),
        "schema 99",
    );
    // Entities are not expanded (no "billion laughs").
    let mut bomb =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE nmaprun [<!ENTITY a0 \"xxxxxxxxxx\">");
    for i in 1..10 {
        bomb.push_str(&format!(
            "<!ENTITY a{i} \"{}\">",
            format!("&a{};", i - 1).repeat(10)
        ));
    }
    bomb.push_str("]>\n<nmaprun scanner=\"nmap\"><host><address addr=\"&a9;\" addrtype=\"ipv4\"/></host></nmaprun>\n");
    expect_bad_against(&write("bomb.xml", bomb.as_bytes()), "entity");

    // A device that never ends: the read itself is bounded (the size of a device is 0).
    expect_bad_against(Path::new("/dev/zero"), "larger than");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn against_a_scan_cut_short_uses_its_complete_hosts() {
    let _one = serial();
    let dir = scratch("local-cut");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let full = dir.join("scan.xml");
    // Two loopback hosts, so that the cut can fall inside the second one.
    connect_scan(&port.to_string(), "-oX", &full, &["127.0.0.1", "127.0.0.2"]);
    let xml = common::read(&full);
    let hosts = common::parse_xml(&xml, "scan.xml");
    assert_eq!(
        hosts.get("127.0.0.1").and_then(|t| t.get(port)),
        Some(("open", "syn-ack")),
        "the scan itself: {xml}"
    );
    // `<host ` (not `<hostnames/>`, `<hosts .../>`).
    let first = xml.find("<host ").expect("a <host> in the scan");
    let second = first + 1 + xml[first + 1..].find("<host ").expect("a second <host>");
    let second_end = second + xml[second..].find("</host>").expect("</host>");
    // Hosts are written as they finish: 127.0.0.1 may come first or second. The cut
    // keeps the first host only.
    let kept_own = xml[first..second].contains("addr=\"127.0.0.1\"");
    assert_ne!(
        kept_own,
        xml[second..second_end].contains("addr=\"127.0.0.1\""),
        "127.0.0.1 is one of the two hosts: {xml}"
    );
    let exposed = json!([{"addr": "127.0.0.1", "state": "open", "verdict": "exposed"}]);
    let cut_at = second + (second_end - second) / 2;
    let cut = dir.join("cut.xml");
    std::fs::write(&cut, &xml[..cut_at]).expect("write cut.xml");

    let p = port.to_string();
    for (file, warned) in [(&full, false), (&cut, true)] {
        let f = file.to_str().expect("UTF-8 path");
        let args = ["local", "-p", &p, "--against", f, "-oJ", "-"];
        let what = shown(&args);
        let ran = monban(&args);
        assert!(!ran.stderr.contains("panicked"), "{what}: {}", ran.stderr);
        assert_eq!(ran.status.code(), Some(0), "{what}: {}", ran.stderr);
        assert!(ran.elapsed < QUICK, "{what}: took {:?}", ran.elapsed);
        if warned {
            assert!(
                ran.stderr.contains("cut short") && ran.stderr.contains(f),
                "{what}: no warning naming the file: {:?}",
                ran.stderr
            );
            assert_eq!(ran.stderr.lines().count(), 1, "{what}: {}", ran.stderr);
        } else {
            assert_eq!(ran.stderr, "", "{what}: a complete scan gives no warning");
        }
        let all = json_lines(&ran.stdout, &what);
        let mine = host_sockets(&all, port);
        assert_eq!(
            keys(&mine),
            key_set(&[("tcp", "127.0.0.1")]),
            "{what}: {}",
            ran.stdout
        );
        // The complete first host is used; the cut second one is not.
        let outside = if !warned || kept_own {
            exposed.clone()
        } else {
            json!([])
        };
        assert_eq!(
            mine[0]["outside"], outside,
            "{what} (127.0.0.1 first: {kept_own})"
        );
        assert!(
            events(&all, "surprise").is_empty(),
            "{what}: {}",
            ran.stdout
        );
    }
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// 2. Bad command lines
// ---------------------------------------------------------------------------------------

#[test]
fn bad_command_lines_are_usage_errors() {
    let _one = serial();
    for (args, names) in [
        (&["local", "-p"][..], "-p needs PORTS"),
        (&["local", "-p", "70000"][..], "70000"),
        (&["local", "--bogus"][..], "--bogus"),
        (&["local", "-t=1"][..], "-t=1"),
        (
            &["local", "-oJ", "-", "-oX", "-"][..],
            "only one of -oJ and -oX",
        ),
        (&["local", "--against"][..], "--against needs FILE"),
    ] {
        let what = shown(args);
        let ran = monban(args);
        assert_eq!(
            ran.status.code(),
            Some(2),
            "{what}: exit status\nstderr: {}",
            ran.stderr
        );
        let lines: Vec<&str> = ran.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: one line on stderr: {}", ran.stderr);
        assert!(
            lines[0].starts_with("monban: ") && lines[0].contains(names),
            "{what}: the message should name {names:?}: {}",
            ran.stderr
        );
        assert!(ran.stdout.is_empty(), "{what}: stdout {}", ran.stdout);
    }
}

#[test]
fn help_lists_every_flag() {
    let _one = serial();
    for flag in ["--help", "-h"] {
        let ran = monban(&["local", flag]);
        assert_eq!(ran.status.code(), Some(0), "local {flag}: {ran:?}");
        assert!(ran.stderr.is_empty(), "local {flag}: {}", ran.stderr);
        let options: Vec<&str> = ran
            .stdout
            .lines()
            .skip_while(|l| *l != "OPTIONS")
            .map(str::trim_start)
            .collect();
        for f in [
            "-p PORTS",
            "-t, --tcp",
            "-u, --udp",
            "--netns NAME",
            "--against FILE",
            "-oN FILE",
            "-oJ FILE",
            "-oX FILE",
            "--no-packages",
            "-h, --help",
        ] {
            assert!(
                options.iter().any(|l| l.starts_with(f)),
                "local {flag}: no option line for {f}:\n{}",
                ran.stdout
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. Terminal safety
// ---------------------------------------------------------------------------------------

/// The name the hostile process gives itself (11 bytes: comm keeps 15).
const EVIL_NAME: &str = "\x1b[31m<b>&x";
/// An argument of the hostile process.
const EVIL_ARG: &str = "a\x07b\x1b[2Jc";

/// A Python process listening on 127.0.0.1 with [`EVIL_NAME`] as its name and
/// [`EVIL_ARG`] in its command line; its port. Its own code holds no escape sequence (so
/// that a `\x1b` in the output can only be monban's), and it exits when its stdin closes.
fn hostile_listener() -> (Guard, u16) {
    const CODE: &str = "import socket, sys
open('/proc/self/comm', 'w').write(chr(27) + '[31m<b>&x')
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()
";
    let mut child = Command::new(PYTHON)
        .args(["-c", CODE, EVIL_ARG])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {PYTHON}: {e}"));
    let out = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the Python listener never said its port");
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the Python listener said {line:?}, not a port"));
    let comm = common::read(Path::new(&format!("/proc/{}/comm", guard.pid())));
    assert_eq!(comm, format!("{EVIL_NAME}\n"), "the listener's name");
    (guard, port)
}

#[test]
fn hostile_process_names_stay_harmless() {
    let _one = serial();
    let (py, port) = hostile_listener();
    let pid = py.pid();
    let p = port.to_string();
    let escaped_name = "\\x1b[31m<b>&x";

    // The table.
    let ran = monban(&["local", "-p", &p]);
    assert_eq!(ran.status.code(), Some(0), "local -p {p}: {ran:?}");
    for (bad, what) in [(0x1b_u8, "ESC"), (0x07, "BEL")] {
        assert!(
            !ran.stdout.as_bytes().contains(&bad),
            "local -p {p}: a raw {what} reached the terminal:\n{}",
            ran.stdout.escape_debug()
        );
    }
    let rows = host_rows(&ran.stdout);
    assert_eq!(rows.len(), 1, "local -p {p}:\n{}", ran.stdout);
    assert_eq!(rows[0][1..4], ["tcp", "127.0.0.1", p.as_str()]);
    assert_eq!(
        rows[0][7],
        format!("{escaped_name}[{pid}]"),
        "local -p {p}: process column\n{}",
        ran.stdout
    );
    for want in [
        format!("  pid {pid} {escaped_name} (user "),
        " a\\x07b\\x1b[2Jc\n".to_string(),
    ] {
        assert!(
            ran.stdout.contains(&want),
            "local -p {p}: {want:?} missing:\n{}",
            ran.stdout
        );
    }

    // JSON Lines: the raw text, escaped by JSON.
    let ran = monban(&["local", "-p", &p, "-oJ", "-"]);
    assert_eq!(ran.status.code(), Some(0), "local -p {p} -oJ -: {ran:?}");
    let all = json_lines(&ran.stdout, "local -oJ -");
    let mine = host_sockets(&all, port);
    assert_eq!(mine.len(), 1, "{}", ran.stdout);
    let proc0 = &mine[0]["processes"][0];
    assert_eq!(proc0["pid"], pid);
    assert_eq!(proc0["name"], EVIL_NAME);
    let cmdline = proc0["cmdline"].as_str().expect("cmdline is a string");
    assert!(
        cmdline.starts_with(PYTHON) && cmdline.ends_with(&format!(" {EVIL_ARG}")),
        "cmdline {cmdline:?}"
    );
    assert!(
        !ran.stdout.as_bytes().contains(&0x1b) && !ran.stdout.as_bytes().contains(&0x07),
        "JSON escapes control characters"
    );

    // XML: well-formed, markup escaped.
    let ran = monban(&["local", "-p", &p, "-oX", "-"]);
    assert_eq!(ran.status.code(), Some(0), "local -p {p} -oX -: {ran:?}");
    assert!(
        ran.stdout
            .contains(&format!("name=\"{}\"", "\\x1b[31m&lt;b&gt;&amp;x")),
        "XML escapes the name:\n{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("<b>"), "raw <b> in the XML");
    let dir = scratch("local-xml");
    let file = dir.join("local.xml");
    std::fs::write(&file, &ran.stdout).expect("write local.xml");
    let parsed = run(
        Command::new(PYTHON).args([
            "-c",
            "import json, sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
print(json.dumps([(p.getAttribute('pid'), p.getAttribute('name'), p.getAttribute('cmdline'))
                  for p in d.getElementsByTagName('process')]))",
            file.to_str().expect("UTF-8 path"),
        ]),
        LIMIT,
    );
    assert!(
        parsed.status.success(),
        "the XML is not well-formed: {}\n{}",
        parsed.stderr,
        ran.stdout
    );
    let procs: Vec<(String, String, String)> =
        serde_json::from_str(parsed.stdout.trim()).expect("python's answer");
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert_eq!(procs[0].0, pid.to_string());
    assert_eq!(procs[0].1, escaped_name);
    assert!(
        procs[0].2.ends_with(" a\\x07b\\x1b[2Jc"),
        "cmdline after parsing: {:?}",
        procs[0].2
    );
    drop(py);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// 4. Who owns this port (lsof -i:PORT)
// ---------------------------------------------------------------------------------------

#[test]
fn owner_of_a_port_the_test_holds() {
    let _one = serial();
    let held = hold_four();
    let p = held.port.to_string();
    let pid = std::process::id();
    let name = own_name();
    let exe = std::env::current_exe().expect("current_exe");
    let exe = exe.to_str().expect("UTF-8 path");
    let owner = format!("{name}[{pid}]");
    let tcp = [("tcp", "127.0.0.1"), ("tcp", "::1")];
    let udp = [("udp", "127.0.0.1"), ("udp", "::1")];
    let all4: Vec<(&str, &str)> = tcp.iter().chain(&udp).copied().collect();

    for (flag, want) in [
        (None, &all4[..]),
        (Some("-t"), &tcp[..]),
        (Some("-u"), &udp[..]),
    ] {
        let mut args = vec!["local", "-p", &p];
        args.extend(flag);
        let what = shown(&args);
        let ran = monban(&args);
        assert_eq!(ran.status.code(), Some(0), "{what}: {ran:?}");
        let rows = host_rows(&ran.stdout);
        let got: BTreeSet<(String, String)> =
            rows.iter().map(|c| (c[1].clone(), c[2].clone())).collect();
        assert_eq!(got, key_set(want), "{what}:\n{}", ran.stdout);
        assert_eq!(rows.len(), want.len(), "{what}:\n{}", ran.stdout);
        for c in &rows {
            assert_eq!(c[3], p, "{what}: port column: {c:?}");
            assert_eq!(c[5..7], ["loopback", "only"], "{what}: exposure: {c:?}");
            assert_eq!(c[7], owner, "{what}: process column: {c:?}");
        }
        for (proto, addr) in want {
            let head = format!("{proto} {addr}:{p} in host (loopback only, ");
            assert!(
                ran.stdout.contains(&head),
                "{what}: no details block {head:?}:\n{}",
                ran.stdout
            );
        }
        let exe_line = format!("    exe      {exe}\n");
        assert_eq!(
            ran.stdout.matches(&exe_line).count(),
            want.len(),
            "{what}: one {exe_line:?} per socket:\n{}",
            ran.stdout
        );
        assert_eq!(
            ran.stdout
                .matches(&format!("  pid {pid} {name} (user "))
                .count(),
            want.len(),
            "{what}:\n{}",
            ran.stdout
        );
        // Loopback sockets get no advice to unbind or firewall them, only how to close
        // them: one line per socket.
        let hints: Vec<&str> = ran
            .stdout
            .lines()
            .filter(|l| l.starts_with("  - "))
            .collect();
        let close = format!(
            "  - only this host can reach it; to close it anyway, quit {name} (pid {pid}): `kill {pid}` (monban never does)"
        );
        assert_eq!(
            hints,
            vec![close.as_str(); want.len()],
            "{what}:\n{}",
            ran.stdout
        );
    }

    let args = ["local", "-p", &p, "-oJ", "-"];
    let what = shown(&args);
    let ran = monban(&args);
    assert_eq!(ran.status.code(), Some(0), "{what}: {ran:?}");
    let all = json_lines(&ran.stdout, &what);
    assert_eq!(
        all.last().map(|v| &v["event"]),
        Some(&json!("summary")),
        "{what}: the last line is the summary"
    );
    let mine = host_sockets(&all, held.port);
    assert_eq!(keys(&mine), key_set(&all4), "{what}:\n{}", ran.stdout);
    assert_eq!(mine.len(), 4, "{what}:\n{}", ran.stdout);
    for s in &mine {
        assert_eq!(s["netns"], "host", "{s}");
        assert_eq!(s["owner"], "known", "{s}");
        assert_eq!(s["exposure"], "loopback", "{s}");
        assert_eq!(s["reached_by"], json!([]), "{s}");
        assert_eq!(s["advice"], json!([]), "{s}");
        assert_eq!(s["risk"], Value::Null, "{s}");
        let procs = s["processes"].as_array().expect("processes is a list");
        assert_eq!(procs.len(), 1, "{s}");
        assert_eq!(procs[0]["pid"], pid, "{s}");
        assert_eq!(procs[0]["name"], name.as_str(), "{s}");
        assert_eq!(procs[0]["exe"], exe, "{s}");
        assert_eq!(procs[0]["fds"].as_array().map(Vec::len), Some(1), "{s}");
    }
    drop(held);
}

// ---------------------------------------------------------------------------------------
// 5. --against a JSON Lines connect scan of 127.0.0.1
// ---------------------------------------------------------------------------------------

#[test]
fn against_a_json_lines_scan_of_loopback() {
    let _one = serial();
    let dir = scratch("local-against");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let p1 = listener.local_addr().expect("addr").port();
    let p2 = common::free_port();
    let ports = format!("{p1},{p2}");
    let scan = dir.join("scan.jsonl");
    connect_scan(&ports, "-oJ", &scan, &["127.0.0.1"]);
    let report = common::parse_jsonl(&common::read(&scan), "scan.jsonl");
    let table = &report.hosts["127.0.0.1"];
    assert_eq!(table.get(p1), Some(("open", "syn-ack")));
    assert_eq!(table.get(p2), Some(("closed", "conn-refused")));

    let f = scan.to_str().expect("UTF-8 path");
    let exposed = json!([{"addr": "127.0.0.1", "state": "open", "verdict": "exposed"}]);

    // The two ports, then the whole host: the same verdict, and no surprise either way.
    for args in [
        vec!["local", "-p", &ports, "--against", f, "-oJ", "-"],
        vec!["local", "--against", f, "-oJ", "-"],
    ] {
        let what = shown(&args);
        let ran = monban(&args);
        assert_eq!(ran.status.code(), Some(0), "{what}: {ran:?}");
        assert_eq!(ran.stderr, "", "{what}");
        let all = json_lines(&ran.stdout, &what);
        let mine = host_sockets(&all, p1);
        assert_eq!(
            keys(&mine),
            key_set(&[("tcp", "127.0.0.1")]),
            "{what}:\n{}",
            ran.stdout
        );
        assert_eq!(mine[0]["outside"], exposed, "{what}: {}", mine[0]);
        assert!(
            host_sockets(&all, p2).is_empty(),
            "{what}: nothing listens on {p2}"
        );
        assert_eq!(
            events(&all, "surprise"),
            Vec::<&Value>::new(),
            "{what}: no surprise"
        );
        let summary = events(&all, "summary");
        assert_eq!(summary.len(), 1, "{what}");
        assert_eq!(summary[0]["foreign"], json!([]), "{what}");
    }

    // The table says the same.
    let args = ["local", "-p", &ports, "--against", f];
    let what = shown(&args);
    let ran = monban(&args);
    assert_eq!(ran.status.code(), Some(0), "{what}: {ran:?}");
    let rows = host_rows(&ran.stdout);
    assert_eq!(rows.len(), 1, "{what}:\n{}", ran.stdout);
    assert_eq!(
        rows[0][rows[0].len() - 3..],
        ["127.0.0.1", "open", "(exposed)"],
        "{what}: FROM OUTSIDE column\n{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(
            "Against the scan: 1 exposed, 0 protected, 0 unconfirmed, 0 not scanned, 0 surprises."
        ),
        "{what}:\n{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("surprise:"), "{what}:\n{}", ran.stdout);

    // Gathered for other ports or another protocol, the listener on P1 was never looked
    // for: its open port is no surprise.
    for args in [
        vec!["local", "-p", &p2.to_string(), "--against", f, "-oJ", "-"],
        vec!["local", "-u", "--against", f, "-oJ", "-"],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect::<Vec<String>>())
    {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let what = shown(&args);
        let ran = monban(&args);
        assert_eq!(ran.status.code(), Some(0), "{what}: {ran:?}");
        let all = json_lines(&ran.stdout, &what);
        assert_eq!(
            events(&all, "surprise"),
            Vec::<&Value>::new(),
            "{what}: no surprise"
        );
    }
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}
