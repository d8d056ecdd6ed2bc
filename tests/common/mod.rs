//! Helpers shared by the lab and peer tests: building labs, running programs with a deadline,
//! reading nmap-style XML and monban's JSON Lines into a state for every port, and comparing
//! that against the lab's ground truth.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use monban_lab::{Lab, LabBuilder, Truth};

/// The monban binary under test.
pub const MONBAN: &str = env!("CARGO_BIN_EXE_monban");

/// Every TCP port a full-range scan covers.
pub const ALL_PORTS: std::ops::RangeInclusive<u16> = 1..=65535;

/// Builds a lab or fails the test loudly with the lab's own message.
pub fn lab(builder: LabBuilder) -> Lab {
    match builder.build() {
        Ok(lab) => lab,
        Err(e) => panic!("cannot build the monban lab: {e}"),
    }
}

/// A TCP port of 127.0.0.1 nothing listens on (bound, then let go): closed until someone
/// binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port of 127.0.0.1")
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monban-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
}

/// What a finished program left behind.
#[derive(Debug)]
pub struct Ran {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `cmd` to completion, killing it and failing the test after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Ran {
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot start {shown}: {e}"),
    };
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{shown} did not finish within {limit:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
    };
    let elapsed = start.elapsed();
    let stdout = out
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    let stderr = err
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    Ran {
        status,
        stdout,
        stderr,
        elapsed,
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// How a child ended, with its own peak memory (`wait4`, which `Child::wait` does not give).
pub struct Reaped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its peak resident set, KiB (`ru_maxrss`).
    pub max_rss_kib: i64,
    /// From the call to [`reap`] to its end.
    pub elapsed: Duration,
}

/// Waits for `child` with `wait4` to learn its peak memory; kills it and fails the test
/// (naming `what`) after `limit`. The child must not have been waited for yet.
///
/// A forked child starts with its parent's peak, so the test process should run the
/// children it measures before it grows (parse outputs afterwards).
pub fn reap(child: &mut Child, limit: Duration, what: &str) -> Reaped {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        panic!("{what}: pid {} out of range", child.id());
    };
    let mut raw: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own unreaped child, with live pointers to a status and a
        // rusage.
        let r = unsafe { libc::wait4(pid, &mut raw, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(
            r == 0,
            "wait4 on {what}: {}",
            std::io::Error::last_os_error()
        );
        if start.elapsed() > limit {
            // SAFETY: kill(2) and a blocking wait4 on our own unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut raw, 0, &mut usage);
            }
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Reaped {
        status: ExitStatus::from_raw(raw),
        max_rss_kib: usage.ru_maxrss,
        elapsed: start.elapsed(),
    }
}

/// Reads a file the test expects to exist.
pub fn read(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

/// The (state, reason) of every port of one host; index = port number, 0 unused.
#[derive(Debug, Clone)]
pub struct PortTable {
    slots: Vec<Option<(String, String)>>,
}

impl Default for PortTable {
    fn default() -> Self {
        PortTable {
            slots: vec![None; 65536],
        }
    }
}

impl PortTable {
    /// Records `port`; a port given twice is a defect of the output.
    pub fn set(&mut self, port: u16, state: &str, reason: &str, source: &str) {
        let slot = &mut self.slots[usize::from(port)];
        if let Some(old) = slot {
            panic!("{source}: port {port} listed twice ({old:?} and {state}/{reason})");
        }
        *slot = Some((state.to_owned(), reason.to_owned()));
    }

    /// The recorded (state, reason) of `port`.
    pub fn get(&self, port: u16) -> Option<(&str, &str)> {
        self.slots[usize::from(port)]
            .as_ref()
            .map(|(s, r)| (s.as_str(), r.as_str()))
    }

    /// Number of ports recorded.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

/// Parses nmap's port-range syntax (`"1-21,23,25-79"`).
pub fn parse_ranges(text: &str, source: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let num = |s: &str| -> u16 {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{source}: bad port {s:?} in {text:?}"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a), num(b));
                assert!(a <= b, "{source}: reversed range {part:?}");
                out.extend(a..=b);
            }
            None => out.push(num(part)),
        }
    }
    out
}

/// One XML start tag: its name and attributes.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: BTreeMap<String, String>,
}

impl Tag {
    fn attr(&self, key: &str, source: &str) -> &str {
        match self.attrs.get(key) {
            Some(v) => v,
            None => panic!("{source}: <{} ...> lacks {key}=", self.name),
        }
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The tags of an XML document, in order (enough for nmap's flat output format); an end
/// tag's name starts with `/`.
fn start_tags(xml: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        let body = rest[..end].trim_end_matches('/');
        let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
        let mut attrs = BTreeMap::new();
        let mut a = &body[name_end..];
        while let Some(eq) = a.find('=') {
            let key = a[..eq].trim().to_owned();
            let after = a[eq + 1..].trim_start();
            let Some(q) = after.chars().next() else { break };
            let Some(close) = after[1..].find(q) else {
                break;
            };
            attrs.insert(key, unescape(&after[1..1 + close]));
            a = &after[close + 2..];
        }
        tags.push(Tag {
            name: body[..name_end].to_owned(),
            attrs,
        });
    }
    tags
}

/// Reads an nmap-format XML report (nmap's or monban's) into a port table per address.
///
/// Collapsed ports come from `<extrareasons ports="...">`; a report without those ranges
/// cannot say every port's state and fails the test.
pub fn parse_xml(xml: &str, source: &str) -> BTreeMap<String, PortTable> {
    let mut hosts = BTreeMap::new();
    let mut addr: Option<String> = None;
    let mut extra_state: Option<String> = None;
    let mut port: Option<u16> = None;
    let mut in_host = false;
    for tag in start_tags(xml) {
        match tag.name.as_str() {
            "host" => {
                in_host = true;
                addr = None;
                extra_state = None;
                port = None;
            }
            "/host" => in_host = false,
            "address" if in_host => {
                let t = tag.attr("addrtype", source);
                if t == "ipv4" || t == "ipv6" {
                    let a = tag.attr("addr", source).to_owned();
                    hosts.entry(a.clone()).or_insert_with(PortTable::default);
                    addr = Some(a);
                }
            }
            "extraports" => extra_state = Some(tag.attr("state", source).to_owned()),
            "extrareasons" => {
                let a = addr
                    .as_deref()
                    .unwrap_or_else(|| panic!("{source}: ports before address"));
                let state = extra_state
                    .clone()
                    .unwrap_or_else(|| panic!("{source}: extrareasons outside extraports"));
                let reason = tag.attr("reason", source).to_owned();
                let count: usize = tag
                    .attr("count", source)
                    .parse()
                    .unwrap_or_else(|_| panic!("{source}: bad extrareasons count"));
                let ports = parse_ranges(tag.attr("ports", source), source);
                assert_eq!(
                    ports.len(),
                    count,
                    "{source}: {a} extrareasons {state}/{reason}: count disagrees with ports"
                );
                let table = hosts.entry(a.to_owned()).or_default();
                for p in ports {
                    table.set(p, &state, &reason, source);
                }
            }
            "port" if ["tcp", "udp"].contains(&tag.attr("protocol", source)) => {
                port = Some(
                    tag.attr("portid", source)
                        .parse()
                        .unwrap_or_else(|_| panic!("{source}: bad portid")),
                );
            }
            "state" => {
                if let (Some(p), Some(a)) = (port.take(), addr.as_deref()) {
                    let state = tag.attr("state", source).to_owned();
                    let reason = tag.attr("reason", source).to_owned();
                    hosts
                        .entry(a.to_owned())
                        .or_default()
                        .set(p, &state, &reason, source);
                }
            }
            _ => {}
        }
    }
    hosts
}

/// Everything a JSON Lines report says.
#[derive(Debug)]
pub struct JsonReport {
    /// Every event, in order.
    pub events: Vec<serde_json::Value>,
    /// The port table of every `host` event, by address.
    pub hosts: BTreeMap<String, PortTable>,
}

fn field<'a>(v: &'a serde_json::Value, key: &str, source: &str) -> &'a serde_json::Value {
    match v.get(key) {
        Some(x) => x,
        None => panic!("{source}: {key:?} missing in {v}"),
    }
}

fn text<'a>(v: &'a serde_json::Value, key: &str, source: &str) -> &'a str {
    field(v, key, source)
        .as_str()
        .unwrap_or_else(|| panic!("{source}: {key:?} is not a string in {v}"))
}

fn number(v: &serde_json::Value, key: &str, source: &str) -> u64 {
    field(v, key, source)
        .as_u64()
        .unwrap_or_else(|| panic!("{source}: {key:?} is not a count in {v}"))
}

/// Parses monban's `-oJ` output (schema 1). Every line must be a JSON object with
/// `event` and `time`; the first is `start`.
pub fn parse_jsonl(body: &str, source: &str) -> JsonReport {
    let mut events = Vec::new();
    let mut hosts = BTreeMap::new();
    for (i, line) in body.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{source}:{}: not JSON ({e}): {line}", i + 1));
        let event = text(&v, "event", source).to_owned();
        assert!(
            field(&v, "time", source).is_f64() || field(&v, "time", source).is_u64(),
            "{source}:{}: time is not a number",
            i + 1
        );
        if event == "host" {
            let addr = text(&v, "addr", source).to_owned();
            let mut table = PortTable::default();
            let ports = field(&v, "ports", source)
                .as_array()
                .unwrap_or_else(|| panic!("{source}: ports is not a list"));
            for p in ports {
                assert!(
                    ["tcp", "udp"].contains(&text(p, "proto", source)),
                    "{source}: proto"
                );
                let n = u16::try_from(number(p, "port", source))
                    .unwrap_or_else(|_| panic!("{source}: port out of range in {p}"));
                table.set(
                    n,
                    text(p, "state", source),
                    text(p, "reason", source),
                    source,
                );
            }
            let extra = field(&v, "extraports", source)
                .as_array()
                .unwrap_or_else(|| panic!("{source}: extraports is not a list"));
            for e in extra {
                let state = text(e, "state", source);
                let mut total = 0;
                let reasons = field(e, "reasons", source)
                    .as_array()
                    .unwrap_or_else(|| panic!("{source}: reasons is not a list"));
                for r in reasons {
                    let list = parse_ranges(text(r, "ports", source), source);
                    assert_eq!(
                        list.len() as u64,
                        number(r, "count", source),
                        "{source}: {addr} {state}/{}: count disagrees with ports",
                        text(r, "reason", source)
                    );
                    total += list.len() as u64;
                    for port in list {
                        table.set(port, state, text(r, "reason", source), source);
                    }
                }
                assert_eq!(
                    total,
                    number(e, "count", source),
                    "{source}: {addr} {state} count"
                );
            }
            assert!(
                hosts.insert(addr.clone(), table).is_none(),
                "{source}: two host events for {addr}"
            );
        }
        events.push(v);
    }
    assert_eq!(
        events.first().map(|e| text(e, "event", source)),
        Some("start"),
        "{source}: the first event must be start"
    );
    JsonReport { events, hosts }
}

impl JsonReport {
    /// The last event, which must be `end`.
    pub fn end(&self, source: &str) -> &serde_json::Value {
        let last = self
            .events
            .last()
            .unwrap_or_else(|| panic!("{source}: no events"));
        assert_eq!(text(last, "event", source), "end", "{source}: last event");
        last
    }

    /// Open ports announced by streamed `port` events, per address.
    pub fn streamed_open(&self, source: &str) -> BTreeMap<String, Vec<u16>> {
        let mut out: BTreeMap<String, Vec<u16>> = BTreeMap::new();
        for e in self
            .events
            .iter()
            .filter(|e| text(e, "event", source) == "port")
        {
            if text(e, "state", source) == "open" {
                let p = u16::try_from(number(e, "port", source)).unwrap_or(0);
                out.entry(text(e, "addr", source).to_owned())
                    .or_default()
                    .push(p);
            }
        }
        for v in out.values_mut() {
            v.sort_unstable();
        }
        out
    }
}

/// Folds a list of ascending ports into "a-b,c" for short failure messages.
fn fold(ports: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1] == ports[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            ports[i].to_string()
        } else {
            format!("{}-{}", ports[i], ports[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// Compares every port of `table` with `truth`; returns a readable list of mismatches,
/// grouped by (got, expected), empty when all 65535 ports agree.
pub fn mismatches<'a>(table: &PortTable, truth: impl Fn(u16) -> (&'a str, &'a str)) -> Vec<String> {
    let mut groups: BTreeMap<(String, String), Vec<u16>> = BTreeMap::new();
    for port in ALL_PORTS {
        let want = truth(port);
        let got = table.get(port);
        if got != Some(want) {
            let got = got.map_or_else(|| "missing".to_owned(), |(s, r)| format!("{s}/{r}"));
            groups
                .entry((got, format!("{}/{}", want.0, want.1)))
                .or_default()
                .push(port);
        }
    }
    groups
        .into_iter()
        .map(|((got, want), ports)| {
            format!(
                "{} ports got {got}, want {want}: {}",
                ports.len(),
                fold(&ports)
            )
        })
        .collect()
}

/// Asserts that `report` holds exactly the lab's hosts and that every port of each agrees
/// with `truth(host, port)`.
pub fn assert_matches_truth(
    what: &str,
    lab: &Lab,
    v6: bool,
    report: &BTreeMap<String, PortTable>,
    truth: impl Fn(&monban_lab::Host, u16) -> Truth,
) {
    let mut problems = Vec::new();
    let expected: Vec<String> = lab
        .hosts()
        .iter()
        .map(|h| {
            if v6 {
                h.v6.to_string()
            } else {
                h.v4.to_string()
            }
        })
        .collect();
    let got: Vec<&String> = report.keys().collect();
    let mut want_sorted = expected.clone();
    want_sorted.sort();
    assert_eq!(
        got,
        want_sorted.iter().collect::<Vec<_>>(),
        "{what}: reported hosts"
    );
    for (h, addr) in lab.hosts().iter().zip(&expected) {
        if let Some(table) = report.get(addr) {
            for m in mismatches(table, |p| truth(h, p)) {
                problems.push(format!("{addr}: {m}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{what}: port states differ from the lab's ground truth:\n  {}",
        problems.join("\n  ")
    );
}

/// The addresses of every lab host, as scan targets.
pub fn targets(lab: &Lab, v6: bool) -> Vec<String> {
    lab.hosts()
        .iter()
        .map(|h| {
            if v6 {
                h.v6.to_string()
            } else {
                h.v4.to_string()
            }
        })
        .collect()
}

/// A background process, ended (SIGINT, then SIGKILL) when dropped: also when the test fails.
pub struct Bg {
    child: Child,
    name: &'static str,
}

impl Bg {
    pub fn start(name: &'static str, cmd: &mut Command, log: &Path) -> Bg {
        let log = std::fs::File::create(log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Bg { child, name }
    }

    /// Sends `sig` and waits up to 20 s for the exit; the exit status.
    pub fn stop(&mut self, sig: i32) -> std::process::ExitStatus {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("{} did not stop within 20 s", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `program ARGS` inside the network namespace `ns`.
pub fn ns_cmd(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

pub fn ok(what: &str, cmd: &mut Command) {
    let ran = run(cmd, Duration::from_secs(120));
    assert!(ran.status.success(), "{what}: {ran:?}");
}

/// Waits until `log` says the capture is listening.
pub fn wait_listening(log: &Path) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if std::fs::read_to_string(log).is_ok_and(|s| s.contains("listening")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never said it was listening", log.display());
}

/// A benign client in Python: `code` runs with `SRC` bound as the source address.
pub fn python(lab: &Lab, src: &str, code: &str) {
    let prog = format!("SRC = {src:?}\nimport socket, time\n{code}");
    ok(
        "python client",
        &mut lab.scanner_cmd("python3", ["-c", prog.as_str()]),
    );
}

/// The campaigns in a JSON Lines file of `monban detect`, by their sorted sources: kind,
/// techniques, tool, the summary itself.
pub type Campaigns = BTreeMap<Vec<String>, (String, Vec<String>, String, serde_json::Value)>;

/// The campaigns of a `monban detect -oJ` file (summaries not merged into a larger one);
/// fails the test on a line that is not JSON, on two campaigns of the same sources, or on
/// fewer alerts than campaigns.
pub fn campaigns(path: &Path) -> Campaigns {
    let mut out = BTreeMap::new();
    let mut alerts = 0;
    for line in read(path).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if v["event"] == "alert" {
            alerts += 1;
        }
        if v["event"] != "summary" || v.get("merged_into").is_some() {
            continue;
        }
        let strs = |k: &str| -> Vec<String> {
            v[k].as_array()
                .unwrap_or_else(|| panic!("{k} in {line}"))
                .iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        };
        let mut sources = strs("sources");
        sources.sort();
        let prev = out.insert(
            sources.clone(),
            (
                v["kind"].as_str().unwrap_or_default().to_string(),
                strs("techniques"),
                v["tool"].as_str().unwrap_or_default().to_string(),
                v.clone(),
            ),
        );
        assert!(prev.is_none(), "two campaigns from {sources:?}");
    }
    assert!(
        alerts >= out.len(),
        "{}: fewer alerts than campaigns",
        path.display()
    );
    out
}

/// Adds `10.77.0.N/24` for each N to the scanner's `eth0`: one source address per scan.
pub fn add_sources(lab: &Lab, last_octets: impl IntoIterator<Item = u8>) {
    for i in last_octets {
        let a = format!("10.77.0.{i}/24");
        ok(
            "extra source address",
            &mut ns_cmd(lab.scanner_ns(), "ip", &["addr", "add", &a, "dev", "eth0"]),
        );
    }
}

/// The router's MAC address on the scanner's link (masscan and zmap send to it).
pub fn router_mac(lab: &Lab) -> String {
    let mac = run(
        &mut ns_cmd(lab.router_ns(), "cat", &["/sys/class/net/s0/address"]),
        Duration::from_secs(30),
    )
    .stdout
    .trim()
    .to_string();
    assert_eq!(mac.len(), 17, "router MAC {mac:?}");
    mac
}
