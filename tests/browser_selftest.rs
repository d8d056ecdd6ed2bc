//! The WebDriver client the browser tests use (tests/common/webdriver.rs), tried on a
//! tiny page served by the test itself: once with chromedriver in the test's own network
//! namespace, once inside a namespace the test creates. Needs Debian's `chromium` and
//! `chromium-driver` (and root, for the namespace); without them the tests fail.

#[path = "common/webdriver.rs"]
mod webdriver;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;
use webdriver::{Driver, Session};

const WAIT: Duration = Duration::from_secs(10);

const TITLE: &str = "monban webdriver selftest";

/// The page: a button whose inline script appends a table row, and escaped markup that
/// must come back as text, never as an element.
const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>monban webdriver selftest</title></head>
<body>
<p id="x">escaped: &lt;script&gt;alert(1)&lt;/script&gt; &amp; done</p>
<button id="add" type="button" onclick="addRow()">Add row</button>
<table id="t"><tbody></tbody></table>
<script>
let rows = 0;
function addRow() {
  rows += 1;
  const tr = document.createElement("tr");
  tr.className = "row";
  tr.dataset.n = String(rows);
  const td = document.createElement("td");
  td.textContent = "row " + rows;
  tr.appendChild(td);
  document.querySelector("#t tbody").appendChild(tr);
}
</script>
</body></html>
"##;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monban-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Answers one HTTP request: the page for `/`, 404 for anything else.
fn answer(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            // Chromium opens speculative connections it may never use.
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&req);
    let path = head.split_whitespace().nth(1).unwrap_or("");
    let (status, kind, body) = match path {
        "/" => ("200 OK", "text/html; charset=utf-8", PAGE),
        _ => ("404 Not Found", "text/plain", "not found\n"),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(reply.as_bytes());
}

/// The page server, on 127.0.0.1 of a namespace; stopped when dropped.
struct PageServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    fn start(ns: Option<&str>) -> PageServer {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let ns = ns.map(str::to_owned);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            if let Some(ns) = &ns {
                webdriver::enter_netns(ns).unwrap_or_else(|e| panic!("page server: {e}"));
            }
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap_or_else(|e| panic!("page server: bind 127.0.0.1:0: {e}"));
            listener
                .set_nonblocking(true)
                .unwrap_or_else(|e| panic!("page server: set_nonblocking: {e}"));
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            let _ = tx.send(port);
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        std::thread::spawn(move || answer(s));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("page server: accept: {e}"),
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(p) => p,
            Err(_) => match thread.join() {
                Err(e) => std::panic::resume_unwind(e),
                Ok(()) => panic!("page server did not start"),
            },
        };
        PageServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A network namespace with only `lo`, up; deleted when dropped.
struct Netns(String);

impl Netns {
    /// Namespace `monban-wd-<pid>-<tag>`: `tag` tells apart the tests of one run.
    fn create(tag: &str) -> Netns {
        let name = format!("monban-wd-{}-{tag}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip").args(args).output().unwrap_or_else(|e| {
                panic!("cannot run ip {args:?} (apt-get install iproute2): {e}")
            })
        };
        // A namespace left behind by an earlier run with the same PID.
        let _ = ip(&["netns", "del", &name]);
        let out = ip(&["netns", "add", &name]);
        assert!(
            out.status.success(),
            "ip netns add {name} failed (tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Netns(name);
        let out = ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        assert!(
            out.status.success(),
            "ip -n {} link set lo up failed: {}",
            ns.0,
            String::from_utf8_lossy(&out.stderr)
        );
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Everything the client offers, on the page at `url`.
fn exercise(s: &Session, url: &str) {
    s.goto(url);
    assert_eq!(s.title(), TITLE);
    assert_eq!(s.url(), url);

    let x = s.find("#x").expect("the page has #x");
    assert_eq!(s.text(&x), "escaped: <script>alert(1)</script> & done");
    assert_eq!(s.attr(&x, "id").as_deref(), Some("x"));
    assert_eq!(s.attr(&x, "data-missing"), None);
    assert_eq!(
        s.execute("return document.scripts.length", &[]),
        json!(1),
        "the escaped markup became a script"
    );
    assert!(s
        .page_source()
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(s.find("#no-such-element"), None);
    assert_eq!(s.find("tr.row"), None);

    let button = s.find("#add").expect("the page has #add");
    s.click(&button);
    let row = s.wait_for("tr.row", WAIT);
    assert_eq!(s.text(&row), "row 1");
    assert_eq!(s.attr(&row, "data-n").as_deref(), Some("1"));

    s.click(&button);
    s.click(&button);
    s.wait_until(WAIT, |s| s.find_all("tr.row").len() == 3);
    let texts: Vec<String> = s.find_all("tr.row td").iter().map(|e| s.text(e)).collect();
    assert_eq!(texts, ["row 1", "row 2", "row 3"]);

    let sum = s.execute(
        "return document.querySelectorAll('tr.row').length + arguments[0]",
        &[json!(10)],
    );
    assert_eq!(sum, json!(13));
    let echoed = s.execute(
        "return [arguments[0].textContent, arguments[1]]",
        &[row.json(), json!({"k": "v"})],
    );
    assert_eq!(echoed, json!(["row 1", {"k": "v"}]));
    // An element returned by a script is the same reference `find` gives.
    let same = s.execute("return document.getElementById('x')", &[]);
    assert_eq!(same, x.json());

    let png = s.screenshot_png();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "screenshot is not a PNG: {:02x?}",
        &png[..png.len().min(16)]
    );
    assert!(png.len() > 1000, "screenshot of {} bytes", png.len());
}

#[test]
fn drives_chromium() {
    let dir = scratch("webdriver");
    let page = PageServer::start(None);
    let driver = Driver::start(None, &dir);
    let session = driver.session();
    exercise(&session, &page.url());
}

#[test]
fn drives_chromium_in_a_network_namespace() {
    let dir = scratch("webdriver-netns");
    let ns = Netns::create("selftest");
    let page = PageServer::start(Some(&ns.0));
    assert!(
        webdriver::connect(Some(&ns.0), page.port).is_ok(),
        "the page server is not reachable inside {}",
        ns.0
    );
    let driver = Driver::start(Some(&ns.0), &dir);
    let inode = |p: &str| {
        std::fs::metadata(p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or_else(|e| panic!("stat {p}: {e}"))
    };
    assert_eq!(
        inode(&format!("/proc/{}/ns/net", driver.pid())),
        inode(&format!("/run/netns/{}", ns.0)),
        "chromedriver does not run inside {}",
        ns.0
    );
    let session = driver.session();
    exercise(&session, &page.url());
}

#[test]
fn base64_decoder() {
    assert_eq!(webdriver::base64_decode(""), b"");
    assert_eq!(webdriver::base64_decode("Zg=="), b"f");
    assert_eq!(webdriver::base64_decode("Zm8="), b"fo");
    assert_eq!(webdriver::base64_decode("Zm9v"), b"foo");
    assert_eq!(webdriver::base64_decode("Zm9vYmFy\n"), b"foobar");
    assert_eq!(webdriver::base64_decode("+/+/"), [0xfb, 0xff, 0xbf]);
    assert_eq!(
        webdriver::base64_decode("iVBORw0KGgo="),
        b"\x89PNG\r\n\x1a\n"
    );
}

#[test]
fn chunked_bodies() {
    assert_eq!(
        webdriver::dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").as_deref(),
        Ok(&b"abcde"[..])
    );
    assert!(webdriver::dechunk(b"5\r\nab").is_err());
}
