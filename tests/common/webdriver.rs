//! A minimal W3C WebDriver client for the browser tests: chromedriver driving headless
//! Chromium, spoken to over HTTP/1.1 on a plain `TcpStream` with `serde_json` bodies.
//!
//! Include it as `#[path = "common/webdriver.rs"] mod webdriver;`. Every failure panics
//! with the WebDriver error it got (this is test code). Needs Debian's `chromium` and
//! `chromium-driver`; without them `Driver::start` fails the test, naming the packages.
//!
//! chromedriver can run inside a network namespace (`ip netns exec NS chromedriver`); the
//! client then connects from inside that namespace too (see [`connect`]).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The browser every session runs.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// What to install when the browser or its driver is missing.
pub const INSTALL: &str = "apt-get install chromium chromium-driver";
/// The key under which WebDriver names an element in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long chromedriver may take to answer `GET /status` after it starts.
const STARTUP: Duration = Duration::from_secs(30);
/// How long one WebDriver command may take.
const COMMAND: Duration = Duration::from_secs(60);
/// Polling interval of the `wait_*` helpers.
const POLL: Duration = Duration::from_millis(25);

/// Moves the calling thread into network namespace `ns` (`/run/netns/NS`, as made by
/// `ip netns add`). Sockets the thread creates afterwards belong to that namespace, and
/// stay there wherever they are used later.
pub fn enter_netns(ns: &str) -> std::io::Result<()> {
    let path = format!("/run/netns/{ns}");
    let fail = |e: std::io::Error| std::io::Error::new(e.kind(), format!("setns {path}: {e}"));
    let file = std::fs::File::open(&path).map_err(fail)?;
    // SAFETY: setns on a valid, open namespace fd; it affects only the calling thread.
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Runs `f` on a short-lived thread that first joins network namespace `ns` (or stays in
/// the test's own namespace for `None`), and returns what it made — typically a socket.
/// Never panics unless `f` does (drop paths use it).
pub fn in_netns<T: Send>(
    ns: Option<&str>,
    f: impl FnOnce() -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            if let Some(ns) = ns {
                enter_netns(ns)?;
            }
            f()
        });
        worker
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("namespace worker thread panicked")))
    })
}

/// A TCP connection to `127.0.0.1:port` inside namespace `ns` (or the test's own).
pub fn connect(ns: Option<&str>, port: u16) -> std::io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    in_netns(ns, || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
}

/// A port nobody listens on in namespace `ns` right now.
fn free_port(ns: Option<&str>) -> u16 {
    in_netns(ns, || {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
    })
    .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 (namespace {ns:?}): {e}"))
    .port()
}

/// `program` found in `$PATH`.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// An HTTP response: status code and body.
struct Response {
    status: u16,
    body: Vec<u8>,
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a `Transfer-Encoding: chunked` body.
pub fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = find_bytes(data, b"\r\n").ok_or("chunked body: no chunk-size line")?;
        let line = String::from_utf8_lossy(&data[..eol]);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunked body: bad chunk size {size_text:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("chunked body: truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// One HTTP/1.1 exchange with `Connection: close`.
fn http(
    ns: Option<&str>,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Response, String> {
    let mut stream = connect(ns, port).map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
    stream
        .set_read_timeout(Some(COMMAND))
        .and_then(|()| stream.set_write_timeout(Some(COMMAND)))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    if body.is_some() {
        request.push_str("Content-Type: application/json; charset=utf-8\r\n");
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    ));
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending {method} {path}: {e}"))?;

    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find_bytes(&raw, b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err(format!("{method} {path}: connection closed before headers")),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{method} {path}: reading headers: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut rest = raw[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{method} {path}: bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        // The server ends the body with a zero-size chunk, then closes the connection.
        stream
            .read_to_end(&mut rest)
            .map_err(|e| format!("{method} {path}: reading body: {e}"))?;
        dechunk(&rest).map_err(|e| format!("{method} {path}: {e}"))?
    } else if let Some(n) = length {
        while rest.len() < n {
            match stream.read(&mut buf) {
                Ok(0) => {
                    return Err(format!(
                        "{method} {path}: body ended after {} of {n} bytes",
                        rest.len()
                    ))
                }
                Ok(k) => rest.extend_from_slice(&buf[..k]),
                Err(e) => return Err(format!("{method} {path}: reading body: {e}")),
            }
        }
        rest.truncate(n);
        rest
    } else {
        stream
            .read_to_end(&mut rest)
            .map_err(|e| format!("{method} {path}: reading body: {e}"))?;
        rest
    };
    Ok(Response { status, body })
}

/// Decodes standard base64 (whitespace ignored), as in WebDriver screenshots.
pub fn base64_decode(text: &str) -> Vec<u8> {
    fn sextet(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => panic!("base64: unexpected byte {c:#04x}"),
        }
    }
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let data = match clean.iter().position(|&b| b == b'=') {
        Some(i) => &clean[..i],
        None => &clean[..],
    };
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for group in data.chunks(4) {
        assert!(group.len() > 1, "base64: dangling character at the end");
        let mut n = 0u32;
        for (i, &c) in group.iter().enumerate() {
            n |= sextet(c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    out
}

/// The interesting part of a WebDriver error body.
fn describe_error(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let mut v = v.get("value").cloned().unwrap_or(v);
            if let Some(obj) = v.as_object_mut() {
                // The C++ stack trace of chromedriver says nothing useful to a test.
                obj.remove("stacktrace");
            }
            format!("HTTP {status}: {v}")
        }
        Err(_) => format!("HTTP {status}: {}", String::from_utf8_lossy(body)),
    }
}

/// A chromedriver process, killed (with every browser it started) when dropped.
pub struct Driver {
    child: Child,
    ns: Option<String>,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
    sessions: AtomicUsize,
}

impl Driver {
    /// Starts chromedriver on a free port of namespace `ns` (or the test's own namespace),
    /// keeping its log and the browser profiles in `dir`, and waits until it is ready.
    pub fn start(ns: Option<&str>, dir: &Path) -> Driver {
        let Some(chromedriver) = which("chromedriver") else {
            panic!("chromedriver is not installed (not in PATH): {INSTALL}");
        };
        if !Path::new(CHROMIUM).is_file() {
            panic!("{CHROMIUM} is not installed: {INSTALL}");
        }
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        // Absolute: it becomes $HOME, and marks this driver's processes in /proc.
        let dir = &dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", dir.display()));
        let port = free_port(ns);
        let log = dir.join(format!("chromedriver-{port}.log"));
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let log_err = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("dup {}: {e}", log.display()));
        let mut cmd = match ns {
            // `ip netns exec` execs chromedriver in place: the child's PID is chromedriver's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&chromedriver);
                c
            }
            None => Command::new(&chromedriver),
        };
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            // Chromium keeps crash reports and caches under $HOME: keep them in `dir`, which
            // also marks the crash handlers (which leave our process group) as ours.
            .env("HOME", dir)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        // Its own process group, so that drop can kill the browsers it started too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let shown = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e} ({INSTALL})"));
        let mut driver = Driver {
            child,
            ns: ns.map(str::to_owned),
            port,
            dir: dir.to_owned(),
            log,
            sessions: AtomicUsize::new(0),
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!(
                    "{shown} exited ({status}) before it was ready; its log:\n{}",
                    driver.log_text()
                );
            }
            match http(driver.ns.as_deref(), port, "GET", "/status", None) {
                Ok(r) if r.status == 200 => {
                    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                    if v["value"]["ready"] == json!(true) {
                        return driver;
                    }
                }
                _ => {}
            }
            if start.elapsed() > STARTUP {
                panic!(
                    "{shown} did not answer GET /status within {STARTUP:?}; its log:\n{}",
                    driver.log_text()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The port chromedriver listens on (on 127.0.0.1 of its namespace).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// chromedriver's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What chromedriver has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Opens a new headless Chromium session with a fresh profile in the driver's dir.
    pub fn session(&self) -> Session<'_> {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let profile = self.dir.join(format!("profile-{n}"));
        let args = [
            "--headless=new".to_owned(),
            // The tests run as root, where Chromium's sandbox refuses to start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,1024".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            // Nothing may reach the internet: no background fetches, updates, sync or
            // telemetry. (`--host-resolver-rules=MAP * ~NOTFOUND` is no use: it also
            // blocks IP literals such as 127.0.0.1.)
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-breakpad".to_owned(),
            "--disable-domain-reliability".to_owned(),
            "--disable-client-side-phishing-detection".to_owned(),
            "--no-pings".to_owned(),
            "--metrics-recording-only".to_owned(),
            "--password-store=basic".to_owned(),
            "--use-mock-keychain".to_owned(),
            "--mute-audio".to_owned(),
            "--disable-features=Translate,OptimizationHints,MediaRouter,\
             DialMediaRouteProvider,AutofillServerCommunication,\
             CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,\
             NetworkTimeServiceQuerying,SafeBrowsing,PrivacySandboxSettings4"
                .to_owned(),
            "--disable-crash-reporter".to_owned(),
        ];
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 30_000},
                    "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
                }
            }
        });
        let r = http(
            self.ns.as_deref(),
            self.port,
            "POST",
            "/session",
            Some(&caps),
        )
        .unwrap_or_else(|e| panic!("new WebDriver session: {e}"));
        if !(200..300).contains(&r.status) {
            panic!(
                "new WebDriver session failed: {}\nchromedriver log:\n{}",
                describe_error(r.status, &r.body),
                self.log_text()
            );
        }
        let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
            panic!(
                "new WebDriver session: reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&r.body)
            )
        });
        let Some(id) = v["value"]["sessionId"].as_str() else {
            panic!("new WebDriver session: no sessionId in {v}");
        };
        Session {
            driver: self,
            id: id.to_owned(),
        }
    }
}

impl Driver {
    /// Processes of this driver's browsers that left its process group (Chromium's crash
    /// handlers daemonise): those whose command line names this driver's directory.
    fn strays(&self) -> Vec<libc::pid_t> {
        let marks = [
            format!("{}/profile-", self.dir.display()),
            format!("{}/.config/chromium", self.dir.display()),
        ];
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        procs
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
            .filter(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                marks.iter().any(|m| cmdline.contains(m.as_str()))
            })
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Kill the whole group: chromedriver and every browser process it started (a
        // dropped Session has already had chromedriver quit its browser cleanly).
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling the process group we created for our own child.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in self.strays() {
            // SAFETY: a process started for this driver (its command line names our dir).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A reference to an element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementId(pub String);

impl ElementId {
    /// The element as a script argument for [`Session::execute`].
    pub fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// One browser session; deleted (the browser quits) when dropped.
pub struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

impl Session<'_> {
    /// The WebDriver session ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sends one command; `Err` carries the error description.
    fn try_command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let full = format!("/session/{}{path}", self.id);
        let r = http(
            self.driver.ns.as_deref(),
            self.driver.port,
            method,
            &full,
            body,
        )?;
        if !(200..300).contains(&r.status) {
            return Err(describe_error(r.status, &r.body));
        }
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| {
            format!(
                "reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&r.body)
            )
        })?;
        Ok(v.get("value").cloned().unwrap_or(Value::Null))
    }

    /// Sends one command and returns its `value`, or panics with the WebDriver error.
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path} failed: {e}"))
    }

    fn element_id(v: &Value, what: &str) -> ElementId {
        match v.get(ELEMENT_KEY).and_then(Value::as_str) {
            Some(id) => ElementId(id.to_owned()),
            None => panic!("{what}: not an element reference: {v}"),
        }
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The current page's title.
    pub fn title(&self) -> String {
        match self.command("GET", "/title", None) {
            Value::String(s) => s,
            v => panic!("title: not a string: {v}"),
        }
    }

    /// The first element matching CSS selector `css`, if any.
    pub fn find(&self, css: &str) -> Option<ElementId> {
        let body = json!({"using": "css selector", "value": css});
        match self.try_command("POST", "/element", Some(&body)) {
            Ok(v) => Some(Self::element_id(&v, css)),
            Err(e) if e.contains("no such element") => None,
            Err(e) => panic!("WebDriver find {css:?} failed: {e}"),
        }
    }

    /// Every element matching CSS selector `css`, in document order.
    pub fn find_all(&self, css: &str) -> Vec<ElementId> {
        let body = json!({"using": "css selector", "value": css});
        match self.command("POST", "/elements", Some(&body)) {
            Value::Array(list) => list.iter().map(|v| Self::element_id(v, css)).collect(),
            v => panic!("find_all {css:?}: not a list: {v}"),
        }
    }

    /// Clicks `el` (scrolling it into view first, as a user would).
    pub fn click(&self, el: &ElementId) {
        self.command(
            "POST",
            &format!("/element/{}/click", el.0),
            Some(&json!({})),
        );
    }

    /// The rendered text of `el`.
    pub fn text(&self, el: &ElementId) -> String {
        match self.command("GET", &format!("/element/{}/text", el.0), None) {
            Value::String(s) => s,
            v => panic!("text: not a string: {v}"),
        }
    }

    /// Attribute (or, as WebDriver defines it, property-backed attribute) `name` of `el`.
    pub fn attr(&self, el: &ElementId, name: &str) -> Option<String> {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        match self.command(
            "GET",
            &format!("/element/{}/attribute/{encoded}", el.0),
            None,
        ) {
            Value::Null => None,
            Value::String(s) => Some(s),
            v => Some(v.to_string()),
        }
    }

    /// Runs `js` as a function body (`arguments[i]` are `args`; elements as
    /// [`ElementId::json`]) and returns what it returns.
    pub fn execute(&self, js: &str, args: &[Value]) -> Value {
        let body = json!({"script": js, "args": args});
        self.command("POST", "/execute/sync", Some(&body))
    }

    /// Polls until an element matches `css`, failing the test after `timeout`.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> ElementId {
        let start = Instant::now();
        loop {
            if let Some(el) = self.find(css) {
                return el;
            }
            if start.elapsed() > timeout {
                panic!(
                    "no element matched {css:?} within {timeout:?} on {}; page source:\n{}",
                    self.url(),
                    self.page_source()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls `cond` until it holds, failing the test after `timeout`.
    pub fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            if start.elapsed() > timeout {
                panic!(
                    "condition not met within {timeout:?} on {}; page source:\n{}",
                    self.url(),
                    self.page_source()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot_png(&self) -> Vec<u8> {
        match self.command("GET", "/screenshot", None) {
            Value::String(s) => base64_decode(&s),
            v => panic!("screenshot: not a string: {v}"),
        }
    }

    /// The current page's DOM, serialised.
    pub fn page_source(&self) -> String {
        match self.command("GET", "/source", None) {
            Value::String(s) => s,
            v => panic!("page_source: not a string: {v}"),
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // Never panic here: a drop during a failing test's unwinding would abort.
        let _ = http(
            self.driver.ns.as_deref(),
            self.driver.port,
            "DELETE",
            &format!("/session/{}", self.id),
            None,
        );
    }
}
