//! `monban scan -sS -sV` against hostile services: a scanner that hostile networks cannot
//! crash, fool or exploit.
//!
//! One Python program (Debian's `/usr/bin/python3`) in the lab target's namespace serves,
//! each port in its own threads:
//!
//! | port | behaviour |
//! |------|-----------|
//! | 7001 | streams random bytes forever, as fast as it can |
//! | 7002 | one byte per second forever (ESC, BEL and text in turn) |
//! | 7003 | a 50 MiB banner line without a newline (ESC every KiB), then waits |
//! | 7004 | garbage "TLS records" (`16 03 01`, absurd lengths, random bodies) forever: a plain reply that looks like TLS, so the TLS reader runs on it |
//! | 7005 | real TLS (Python `ssl`) with a self-signed certificate whose subject and SAN carry markup and terminal escapes; inside, an HTTP answer with escapes in `Server:` |
//! | 7006 | accepts, never answers, never closes |
//! | 7007 | accepts and resets at once (SO_LINGER 0), as often as asked |
//! | 7008 | FTP-style greeting `220 ESC[2J ESC[31mEVIL <script>...` |
//! | 7009 | SSH-style greeting `SSH-2.0-Open ESC]0;pwned BEL SSH_9.9` |
//! | 7010 | an SSH-style greeting of a C1 CSI, invalid UTF-8, a right-to-left override, NUL, DEL and ESC |
//!
//! The scan must end in bounded time (the per-port budget of `-sV`, not a hang), with
//! bounded peak memory (the child's `ru_maxrss`, read with `wait4`), every port open in
//! the normal, XML and JSON Lines outputs, the XML well-formed (Python's minidom), the JSON
//! Lines parseable, and nothing a terminal would interpret in the normal output or on
//! stdout: no C0 control but newline and tab, no DEL, no C1 control, no bidirectional
//! override; the hostile bytes appear escaped (`\x1b`).
//!
//! Needs root (the lab), `/usr/bin/python3` and `openssl`.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{lab, ns_cmd, parse_jsonl, parse_xml, read, scratch, wait_listening, Bg, MONBAN};
use monban_lab::Lab;

/// The hostile ports: free in the lab (its open ports are 1, 22, 80, 443, 8080, 31337 and
/// 50000; 20000-21499 are dropped or rejected).
const FIRST: u16 = 7001;
const LAST: u16 = 7010;
const PORTS: std::ops::RangeInclusive<u16> = FIRST..=LAST;

/// The bound on the whole scan. Where it comes from: all ten ports are probed at once
/// (six connections per port, 60 in all, under the 256 of `VersionOptions::max_parallel`),
/// and every step of one port shares `VersionOptions::port_budget` (30 s by default,
/// counted from the port's first connect), so the worst case of `-sV` is one budget,
/// 30 s, plus a second or two for the SYN scan. Three times that, 90 s, plus 10 s of
/// slack for a loaded machine: generous, yet a port that hangs forever fails the test.
const SCAN_LIMIT: Duration = Duration::from_secs(3 * 30 + 10);

/// The bound on the scanner's peak resident memory. A plain `-sV` of one HTTP port takes
/// about 18 MiB here (debug build; the probe database dominates), this scan about 19 MiB.
/// Every reply is capped at `MAX_REPLY_BYTES` (16 KiB) and every TLS handshake at
/// `tls::MAX_HANDSHAKE_BYTES` (256 KiB), so 60 connections may hold about 16 MiB of
/// hostile bytes at the very worst. 64 MiB is far above that and far below what reading
/// the 50 MiB banner or the endless stream would cost.
const MAX_RSS_KIB: i64 = 64 * 1024;

/// The hostile services. `argv`: certificate, key. Prints `listening` on stderr once
/// every port listens; ends by itself after five minutes.
const SERVER: &str = r#"
import os, random, socket, ssl, struct, sys, threading, time

END = time.time() + 300
CERT, KEY = sys.argv[1], sys.argv[2]
HELD = []
BIG = (b"A" * 1023 + b"\x1b") * (50 * 1024)
NOISE = os.urandom(65536)

def alive():
    return time.time() < END

def stream(c):
    while alive():
        c.sendall(NOISE)

def trickle(c):
    i = 0
    while alive():
        c.sendall(b"\x1b\x07x"[i % 3:i % 3 + 1])
        i += 1
        time.sleep(1)

def huge(c):
    c.sendall(BIG)
    while alive() and c.recv(4096):
        pass

def tls_garbage(c):
    # A TLS client speaks first: note that the TLS reader is the one getting the garbage.
    c.settimeout(0.5)
    try:
        first = c.recv(3, socket.MSG_PEEK)
    except socket.timeout:
        first = b""
    if first[:2] == b"\x16\x03":
        print("client-hello on 7004", file=sys.stderr, flush=True)
    c.settimeout(60)
    while alive():
        n = random.randint(0x4001, 0xffff)
        body = os.urandom(random.randint(1, 4096))
        c.sendall(b"\x16\x03\x01" + struct.pack(">H", n) + body)

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
CTX.load_cert_chain(CERT, KEY)

def tls_cert(c):
    c.settimeout(30)
    t = CTX.wrap_socket(c, server_side=True)
    t.recv(4096)
    t.sendall(b"HTTP/1.0 200 OK\r\nServer: Evil\x1b]0;pwned\x07/1.0 <script>alert(2)</script>\r\n"
              b"Content-Length: 0\r\n\r\n")
    t.close()

def silent(c):
    HELD.append(c)

def talker(greeting, answer):
    def serve(c):
        c.settimeout(60)
        c.sendall(greeting)
        while alive():
            if not c.recv(4096):
                break
            if answer:
                c.sendall(answer)
    return serve

def guarded(handler, c):
    try:
        handler(c)
    except Exception:
        pass

def accept_loop(s, handler):
    while True:
        c, _ = s.accept()
        if handler is None:
            # Reset at once: linger 0 turns close into RST.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            continue
        threading.Thread(target=guarded, args=(handler, c), daemon=True).start()

HANDLERS = {
    7001: stream,
    7002: trickle,
    7003: huge,
    7004: tls_garbage,
    7005: tls_cert,
    7006: silent,
    7007: None,
    7008: talker(b"220 \x1b[2J\x1b[31mEVIL <script>alert(1)</script>\r\n",
                 b"500 \x1b[0m<b>no</b>\x07\r\n"),
    7009: talker(b"SSH-2.0-Open\x1b]0;pwned\x07SSH_9.9\r\n", None),
    7010: talker(b"SSH-2.0-\xc2\x9b31m\x9b\xff\xfe\xe2\x80\xaeevil\x00\x7f\x1b[?1049h\r\n", None),
}

for port, handler in HANDLERS.items():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(1024)
    threading.Thread(target=accept_loop, args=(s, handler), daemon=True).start()

print("listening", file=sys.stderr, flush=True)
while alive():
    time.sleep(1)
os._exit(0)
"#;

/// Writes a self-signed certificate whose subject and SAN carry markup and terminal
/// escapes (openssl stores them as UTF8String as given); the (cert, key) paths.
fn hostile_certificate(dir: &Path) -> (String, String) {
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let ran = common::run(
        Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-subj",
            // `\/` is openssl's escape for a slash inside a value.
            "/CN=<script>alert(1)<\\/script>\x1b[31m/O=Evil\x1b]0;pwned\x07Corp",
            "-addext",
            "subjectAltName=DNS:x\x1b[2J.example",
        ]),
        Duration::from_secs(60),
    );
    assert!(ran.status.success(), "openssl req: {ran:?}");
    (cert, key)
}

/// What the measured scan left behind.
struct Measured {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
    /// Peak resident set of the child, KiB (`ru_maxrss`).
    max_rss_kib: i64,
}

fn drain<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Runs `cmd` (whose pid is the scanner's: `ip netns exec` execs it), reaping it with
/// `wait4` to learn its peak memory; kills it and fails the test after `limit`.
fn run_measured(cmd: &mut Command, limit: Duration) -> Measured {
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let done = common::reap(&mut child, limit, &format!("{shown} (a port hangs?)"));
    let elapsed = start.elapsed();
    Measured {
        status: done.status,
        stdout: out.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        elapsed,
        max_rss_kib: done.max_rss_kib,
    }
}

/// Every character of `text` a terminal could act on: C0 controls but newline and tab,
/// DEL, C1 controls, and the bidirectional overrides and isolates (which reorder what is
/// shown). Each with its line number.
fn terminal_hazards(text: &str) -> Vec<(usize, char)> {
    let mut found = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        for c in line.chars() {
            let hazard = (c.is_control() && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if hazard {
                found.push((n + 1, c));
            }
        }
    }
    found
}

/// Fails the test if `bytes` (the normal output or stdout) is not UTF-8 or holds anything a
/// terminal would interpret.
fn assert_terminal_safe(what: &str, bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|e| panic!("{what}: not UTF-8 ({e}); a terminal would get raw bytes"));
    let found = terminal_hazards(&text);
    assert!(
        found.is_empty(),
        "{what}: raw control or bidi characters (line, char): {found:?}\n{text}"
    );
    text
}

/// The line of `port` in a normal-format port table.
fn port_line(text: &str, port: u16) -> &str {
    let head = format!("{port}/tcp ");
    text.lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("no line for {port}/tcp in:\n{text}"))
}

#[test]
fn hostile_services_cannot_hang_bloat_or_fool_version_detection() {
    let lab: Lab = lab(Lab::builder().hosts(1));
    let host = lab.hosts()[0].clone();
    for p in PORTS {
        assert!(
            !host.open_ports().contains(&p)
                && !host.dropped_ports().contains(&p)
                && !host.rejected_ports().contains(&p),
            "port {p} is the lab's own"
        );
    }
    let dir = scratch("hostile");
    let (cert, key) = hostile_certificate(&dir);
    let log = dir.join("hostile.log");
    // Declared after `lab`, so the server is killed before the namespaces go.
    let _server = Bg::start(
        "hostile services",
        &mut ns_cmd(
            &host.ns,
            "/usr/bin/python3",
            &["-c", SERVER, cert.as_str(), key.as_str()],
        ),
        &log,
    );
    wait_listening(&log);

    let normal = dir.join("scan.nmap");
    let xml = dir.join("scan.xml");
    let jsonl = dir.join("scan.jsonl");
    let ports = format!("{FIRST}-{LAST}");
    let target = host.v4.to_string();
    let mut cmd = lab.scanner_cmd(
        MONBAN,
        [
            "scan",
            "-sS",
            "-sV",
            "-n",
            "-Pn",
            "-p",
            ports.as_str(),
            "-oN",
            &normal.display().to_string(),
            "-oX",
            &xml.display().to_string(),
            "-oJ",
            &jsonl.display().to_string(),
            target.as_str(),
        ],
    );
    let ran = run_measured(&mut cmd, SCAN_LIMIT);
    eprintln!(
        "hostile -sV scan: {:?}, peak RSS {} KiB\n{}",
        ran.elapsed,
        ran.max_rss_kib,
        String::from_utf8_lossy(&ran.stdout).escape_debug()
    );
    assert!(
        ran.status.success(),
        "scan failed: {:?}\nstderr:\n{}",
        ran.status,
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("panicked"),
        "the scanner panicked:\n{}",
        ran.stderr
    );
    assert!(
        ran.max_rss_kib < MAX_RSS_KIB,
        "peak RSS {} KiB, bound {MAX_RSS_KIB} KiB",
        ran.max_rss_kib
    );

    // Nothing a terminal would act on, on stdout or in the normal output.
    let stdout = assert_terminal_safe("stdout", &ran.stdout);
    let normal_text = assert_terminal_safe("-oN", &std::fs::read(&normal).expect("-oN file"));
    for (what, text) in [("stdout", &stdout), ("-oN", &normal_text)] {
        for p in PORTS {
            let line = port_line(text, p);
            assert!(
                line.split_whitespace().nth(1) == Some("open"),
                "{what}: {line}"
            );
        }
    }
    // The hostile texts are there, escaped: visible, harmless. (7008's greeting matches no
    // rule, and monban shows no unmatched banner, so only 7005, 7009 and 7010 show text.)
    for (what, text) in [("stdout", &stdout), ("-oN", &normal_text)] {
        let tls = port_line(text, 7005);
        assert!(
            tls.contains("ssl/http") && tls.contains("Evil\\x1b]0;pwned"),
            "{what}: {tls}"
        );
        let cert = text
            .lines()
            .find(|l| l.starts_with("|_ssl-cert: "))
            .unwrap_or_else(|| panic!("{what}: no ssl-cert line:\n{text}"));
        assert!(
            cert.contains("</script>\\x1b[31m") && cert.contains("Evil\\x1b]0;pwned\\x07Corp"),
            "{what}: {cert}"
        );
        let ssh = port_line(text, 7009);
        assert!(
            ssh.contains("ssh") && ssh.contains("Open\\x1b]0;pwned\\x07SSH_9.9"),
            "{what}: {ssh}"
        );
        let bidi = port_line(text, 7010);
        assert!(
            bidi.contains("ssh") && bidi.contains("\\u{202e}evil\\x00\\x7f\\x1b[?1049h"),
            "{what}: {bidi}"
        );
        // The reset port reads tcpwrapped, as nmap says of it.
        let reset = port_line(text, 7007);
        assert!(reset.contains("tcpwrapped"), "{what}: {reset}");
    }

    // XML: well-formed for a real parser, every port open, markup escaped.
    let xml_text = read(&xml);
    let parsed = common::run(
        Command::new("/usr/bin/python3").args([
            "-c",
            "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])",
            &xml.display().to_string(),
        ]),
        Duration::from_secs(60),
    );
    assert!(
        parsed.status.success(),
        "-oX is not well-formed XML: {parsed:?}"
    );
    // (`<script id="ssl-cert">` is nmap's own element; the servers' markup is not.)
    for raw in ["<script>", "<b>", "alert(1)</script>"] {
        assert!(
            !xml_text.contains(raw),
            "-oX carries raw {raw}:\n{xml_text}"
        );
    }
    assert!(xml_text.contains("&lt;script&gt;"), "-oX: {xml_text}");
    let hosts = parse_xml(&xml_text, "-oX");
    let table = hosts.get(&target).expect("-oX: the target");
    for p in PORTS {
        assert_eq!(table.get(p).map(|s| s.0), Some("open"), "-oX: port {p}");
    }

    // The TLS reader did meet the garbage records: monban sent a ClientHello to 7004.
    let server_log = read(&log);
    assert!(
        server_log.contains("client-hello on 7004"),
        "no TLS handshake was tried on 7004; server log:\n{server_log}"
    );

    // JSON Lines: every line parses, every port open.
    let report = parse_jsonl(&read(&jsonl), "-oJ");
    report.end("-oJ");
    let table = report.hosts.get(&target).expect("-oJ: the target");
    for p in PORTS {
        assert_eq!(table.get(p).map(|s| s.0), Some("open"), "-oJ: port {p}");
    }
}
