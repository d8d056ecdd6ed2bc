//! `monban serve` in the lab: the server in the scanner's namespace (10.77.0.2:8080), its
//! visitors in the targets' namespaces, so every visitor is a lab host whose ports are
//! known by construction.
//!
//! Over plain HTTP (from a thread inside a visitor's namespace):
//! - requests without the CSRF token, with a wrong one, or from another origin are refused;
//! - a visitor that forges `X-Forwarded-For` is scanned itself: the forged address gets no
//!   probe at all (an nft counter in its namespace stays at zero), and the result equals
//!   the lab's ground truth for the visitor, port for port;
//! - a trusted proxy's `X-Forwarded-For` is believed, and its `X-Forwarded-Proto: https`
//!   makes the CSRF cookie `Secure` (a stranger's does not);
//! - a hostile FTP banner (markup and script) comes back escaped in the page;
//! - the scan page shows what changed since the visitor's previous scan;
//! - the hourly limit answers 429 with Retry-After; another visitor cannot see a scan;
//! - the live events end with `done`.
//!
//! In real headless Chromium (Debian's `chromium` and `chromium-driver`), the browser in
//! target 1's namespace: press Quick, read the table against the ground truth (OPEN in
//! red), watch the UDP profile's progress arrive, read a banner through prescan (hostile:
//! the page's title stays its own), open a port in the lab, scan again and read what
//! changed; a screenshot is kept (`MONBAN_SCREENSHOT=PATH` copies it there).
//!
//! Needs root (the lab, SYN scans), nft, Debian's python3, chromium and chromedriver.

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{lab, ns_cmd, ok, run, scratch, Bg};
use monban_lab::{in_namespace, Lab};

const SERVER: &str = "10.77.0.2:8080";
const LIMIT: Duration = Duration::from_secs(60);
/// The `quick` profile's ports (src/cli/profiles.rs).
const QUICK: &[u16] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 23, 25, 53, 59, 79, 80, 110, 113, 135, 139, 443,
    445, 1080, 1125, 1243, 1999, 5000, 6776, 7789, 8080, 12345, 31337, 54320, 54321,
];
/// The banner of the hostile FTP server on target 0, port 21.
const EVIL: &str =
    "<script>document.title='pwned'</script><img src=x onerror=document.title='pwned'>";

/// One HTTP response.
struct Resp {
    status: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// An HTTP/1.1 request to the server from inside namespace `ns`.
fn http(ns: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    http_at(SERVER, ns, method, path, headers, body)
}

/// The same, to the server at `server` (`[fd77::2]:8080` for IPv6).
fn http_at(
    server: &str,
    ns: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let to = server.to_string();
    let stream = in_namespace(ns, move || TcpStream::connect(to))
        .expect("enter the namespace")
        .unwrap_or_else(|e| panic!("connect to {server} from {ns}: {e}"));
    let mut s = stream;
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A visitor: its namespace, the server's address it uses, and its CSRF cookie.
struct Visitor {
    ns: String,
    server: String,
    token: String,
}

impl Visitor {
    fn new(ns: &str) -> Visitor {
        Visitor::at(SERVER, ns)
    }

    /// A visitor reaching the server at `server` (`[fd77::2]:8080` for IPv6).
    fn at(server: &str, ns: &str) -> Visitor {
        let r = http_at(server, ns, "GET", "/", &[], "");
        assert_eq!(r.status, 200, "{}", r.body);
        let cookie = r.header("set-cookie").expect("a CSRF cookie");
        let token = cookie
            .split(';')
            .next()
            .and_then(|c| c.strip_prefix("monban_csrf="))
            .expect("monban_csrf=...")
            .to_string();
        Visitor {
            ns: ns.to_string(),
            server: server.to_string(),
            token,
        }
    }

    fn cookie(&self) -> String {
        format!("monban_csrf={}", self.token)
    }

    /// POST /api/scans; `extra` headers beside the cookie and token.
    fn start(&self, profile: &str, extra: &[(&str, &str)]) -> Resp {
        let cookie = self.cookie();
        let mut headers = vec![
            ("Cookie", cookie.as_str()),
            ("X-CSRF-Token", self.token.as_str()),
            ("Content-Type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        http_at(
            &self.server,
            &self.ns,
            "POST",
            "/api/scans",
            &headers,
            &format!("{{\"profile\":\"{profile}\"}}"),
        )
    }

    /// Waits for scan `id` to end; its JSON.
    fn wait(&self, id: &str) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let j = http_at(
                &self.server,
                &self.ns,
                "GET",
                &format!("/api/scans/{id}"),
                &[],
                "",
            )
            .json();
            if j["phase"] != "running" {
                assert_eq!(j["phase"], "done", "{j}");
                return j;
            }
            assert!(start.elapsed() < LIMIT, "scan {id} still running: {j}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Port → (state, reason) of a scan's JSON.
fn table(scan: &serde_json::Value) -> BTreeMap<u16, (String, String)> {
    scan["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                u16::try_from(p["port"].as_u64().unwrap()).unwrap(),
                (
                    p["state"].as_str().unwrap().to_string(),
                    p["reason"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// The ground truth of target `i` for the quick ports, with `extra` open ports.
fn truth(lab: &Lab, i: usize, extra: &[u16]) -> BTreeMap<u16, (String, String)> {
    let t = lab.truth(i).expect("a target");
    QUICK
        .iter()
        .map(|&p| {
            let (s, r) = if extra.contains(&p) {
                ("open", "syn-ack")
            } else {
                t(p)
            };
            (p, (s.to_string(), r.to_string()))
        })
        .collect()
}

/// Packets from the server's address counted in namespace `ns` since the counter was made.
fn counted(ns: &str) -> u64 {
    let r = run(
        &mut ns_cmd(ns, "nft", &["list", "chain", "inet", "monbanserve", "c"]),
        LIMIT,
    );
    assert!(r.status.success(), "{r:?}");
    r.stdout
        .split("counter packets ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {}", r.stdout))
}

/// A Python listener in `ns` on `port` that greets with `banner` (FTP style), in the
/// background until dropped.
fn greeter(ns: &str, dir: &Path, port: u16, banner: &str) -> Bg {
    let code = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('0.0.0.0',{port}))\ns.listen(16)\nimport sys\nsys.stderr.write('listening\\n');sys.stderr.flush()\n\
         while True:\n    c,_=s.accept()\n    c.sendall({banner:?}.encode()+b'\\r\\n')\n    c.close()\n"
    );
    let log = dir.join(format!("greeter-{port}.log"));
    let bg = Bg::start(
        "greeter",
        &mut ns_cmd(ns, "/usr/bin/python3", &["-c", &code]),
        &log,
    );
    common::wait_listening(&log);
    bg
}

#[test]
fn serve_scans_only_the_visitor_and_shows_it_safely() {
    let lab = lab(Lab::builder().hosts(2));
    let dir = scratch("lab-serve");
    let (t0, t1) = (&lab.hosts()[0], &lab.hosts()[1]);
    let _ftp = greeter(&t0.ns, &dir, 21, &format!("220 ProFTPD Server ({EVIL})"));

    // The server, in the scanner's namespace; target 1 is a trusted proxy.
    let db = dir.join("serve.db");
    let log = dir.join("serve.log");
    let mut server = Bg::start(
        "monban serve",
        &mut lab.scanner_cmd(
            common::MONBAN,
            [
                "serve",
                "--listen",
                "[::]:8080",
                "--db",
                db.to_str().unwrap(),
                "--hourly",
                "4",
                "--trust-proxy",
                &format!("{}/32", t1.v4),
            ],
        ),
        &log,
    );
    common::wait_listening(&log);

    // Count every packet from the server's address that reaches target 1, except the
    // page's own HTTP answers to it (as a trusted proxy, target 1 is a web client too).
    for rule in [
        "add table inet monbanserve",
        "add chain inet monbanserve c { type filter hook prerouting priority -400 ; }",
        "add rule inet monbanserve c ip saddr 10.77.0.2 tcp sport 8080 return",
        "add rule inet monbanserve c ip saddr 10.77.0.2 counter",
    ] {
        ok("nft counter", &mut ns_cmd(&t1.ns, "nft", &[rule]));
    }

    // CSRF: no token, a wrong one, a foreign origin.
    let v0 = Visitor::new(&t0.ns);
    let body = "{\"profile\":\"quick\"}";
    assert_eq!(http(&t0.ns, "POST", "/api/scans", &[], body).status, 403);
    let cookie = v0.cookie();
    let r = http(
        &t0.ns,
        "POST",
        "/api/scans",
        &[("Cookie", &cookie), ("X-CSRF-Token", &"0".repeat(64))],
        body,
    );
    assert_eq!(r.status, 403);
    let r = v0.start("quick", &[("Origin", "http://evil.example")]);
    assert_eq!(r.status, 403, "{}", r.body);
    let form = "csrf=&profile=quick";
    assert_eq!(
        http(&t0.ns, "POST", "/scans", &[("Cookie", &cookie)], form).status,
        403
    );
    assert_eq!(v0.start("nonsense", &[]).status, 400);

    // A forged X-Forwarded-For from an untrusted visitor: the visitor is scanned, not
    // the address it names.
    let r = v0.start("quick", &[("X-Forwarded-For", &t1.v4.to_string())]);
    assert_eq!(r.status, 202, "{}", r.body);
    let started = r.json();
    assert_eq!(started["target"], t0.v4.to_string());
    let id = started["id"].as_str().unwrap().to_string();
    // One scan at a time per visitor.
    assert_eq!(v0.start("quick", &[]).status, 409);
    let first = v0.wait(&id);
    let n = counted(&t1.ns);
    assert_eq!(
        n,
        0,
        "a forged X-Forwarded-For sent probes to {}: {}",
        t1.v4,
        run(&mut ns_cmd(&t1.ns, "nft", &["list", "ruleset"]), LIMIT).stdout
    );
    assert_eq!(
        table(&first),
        truth(&lab, 0, &[21]),
        "quick scan of {}",
        t0.v4
    );
    assert_eq!(first["verdict"], "exposed");
    // The live events of a finished scan: its state, then done.
    let ev = http(&t0.ns, "GET", &format!("/api/scans/{id}/events"), &[], "");
    assert!(
        ev.body.contains("event: state") && ev.body.contains("event: done"),
        "{}",
        ev.body
    );
    // Another visitor sees nothing of it.
    assert_eq!(
        http(&t1.ns, "GET", &format!("/scans/{id}"), &[], "").status,
        404
    );
    assert_eq!(
        http(&t1.ns, "GET", &format!("/api/scans/{id}"), &[], "").status,
        404
    );

    // Behind a trusted HTTPS proxy the CSRF cookie is Secure; a stranger's
    // X-Forwarded-Proto changes nothing.
    let https = [("X-Forwarded-Proto", "https")];
    let via_proxy = http(&t1.ns, "GET", "/", &https, "");
    let cookie = via_proxy.header("set-cookie").expect("a CSRF cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let from_stranger = http(&t0.ns, "GET", "/", &https, "");
    let cookie = from_stranger.header("set-cookie").expect("a CSRF cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");

    // Open port 25 on target 0; a trusted proxy (target 1) asks for target 0.
    let _smtp = greeter(&t0.ns, &dir, 25, "220 mail ESMTP");
    let v1 = Visitor::new(&t1.ns);
    let r = v1.start("quick", &[("X-Forwarded-For", &t0.v4.to_string())]);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["target"], t0.v4.to_string());
    let second_id = r.json()["id"].as_str().unwrap().to_string();
    let second = v0.wait(&second_id);
    assert_eq!(table(&second), truth(&lab, 0, &[21, 25]));
    assert_eq!(counted(&t1.ns), 0);
    // Its page says what changed since the first scan.
    let page = http(&t0.ns, "GET", &format!("/scans/{second_id}"), &[], "").body;
    assert!(page.contains("Since your previous scan"), "{page}");
    assert!(page.contains("25/tcp opened"), "{page}");

    // prescan reads the hostile banner: shown as text, never as markup.
    let r = v0.start("prescan", &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    let pid = r.json()["id"].as_str().unwrap().to_string();
    let pre = v0.wait(&pid);
    let ftp = pre["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 21)
        .expect("21");
    assert!(
        ftp["version"].as_str().unwrap_or("").contains(EVIL),
        "{ftp}"
    );
    let page = http(&t0.ns, "GET", &format!("/scans/{pid}"), &[], "").body;
    assert!(
        !page.contains("<script>document") && !page.contains("<img src=x"),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"),
        "{page}"
    );

    // The hourly limit: the fourth scan starts, the fifth gets 429 with Retry-After.
    let r = v0.start("icmp", &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    v0.wait(r.json()["id"].as_str().unwrap());
    let r = v0.start("quick", &[]);
    assert_eq!(r.status, 429, "{}", r.body);
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 3600, "{wait}");

    // The visitor's history on the start page; another visitor cannot open it.
    let home = http(&t0.ns, "GET", "/", &[("Cookie", &cookie)], "").body;
    let ids: Vec<&str> = home
        .split("href=\"/history/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(ids.len(), 4, "{home}");
    assert_eq!(
        http(&t0.ns, "GET", &format!("/history/{}", ids[0]), &[], "").status,
        200
    );
    assert_eq!(
        http(&t1.ns, "GET", &format!("/history/{}", ids[0]), &[], "").status,
        404
    );

    // An IPv6 visitor is scanned over IPv6.
    let v6 = "[fd77::2]:8080";
    let r = http_at(v6, &t1.ns, "GET", "/", &[], "");
    assert!(
        r.body.contains(&format!("<b id=\"visitor\">{}</b>", t1.v6)),
        "{}",
        r.body
    );
    let v = Visitor::at(v6, &t1.ns);
    let r = v.start("quick", &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["target"], t1.v6.to_string());
    let scan6 = v.wait(r.json()["id"].as_str().unwrap());
    assert_eq!(scan6["phase"], "done", "{scan6}");
    assert_eq!(
        table(&scan6),
        truth(&lab, 1, &[]),
        "quick scan of {}",
        t1.v6
    );

    // The server's own address is refused, with a message and no button.
    let own = http(lab.scanner_ns(), "GET", "/", &[], "").body;
    assert!(
        own.contains("id=\"refused\"") && !own.contains("start-quick"),
        "{own}"
    );

    // SIGTERM ends it cleanly.
    assert!(server.stop(libc::SIGTERM).success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server of a lab, in the scanner's namespace, stopped on drop.
fn server(lab: &Lab, dir: &Path, extra: &[&str]) -> Bg {
    let db = dir.join("serve.db");
    let log = dir.join("serve.log");
    let mut args = vec!["serve", "--listen", SERVER, "--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    let bg = Bg::start(
        "monban serve",
        &mut lab.scanner_cmd(common::MONBAN, args),
        &log,
    );
    common::wait_listening(&log);
    bg
}

/// Status cells of the quick ports in the page's table, by port.
fn statuses(s: &webdriver::Session<'_>) -> BTreeMap<u16, String> {
    QUICK
        .iter()
        .map(|&p| {
            let cell = s
                .find(&format!("#port-tcp-{p} .status"))
                .unwrap_or_else(|| panic!("no row for {p}/tcp:\n{}", s.page_source()));
            (p, s.text(&cell))
        })
        .collect()
}

/// OPEN, CLOSED or BLOCKED for a ground-truth state.
fn shown(state: &str) -> String {
    match state {
        "open" => "OPEN",
        "closed" => "CLOSED",
        _ => "BLOCKED",
    }
    .to_string()
}

#[test]
fn serve_in_a_real_browser() {
    let lab = lab(Lab::builder().hosts(2));
    let dir = scratch("lab-serve-browser");
    let t1 = &lab.hosts()[1];
    let _ftp = greeter(&t1.ns, &dir, 21, &format!("220 ProFTPD Server ({EVIL})"));
    let _server = server(&lab, &dir, &[]);
    let driver = webdriver::Driver::start(Some(&t1.ns), &dir);
    let s = driver.session();
    let home = format!("http://{SERVER}/");
    let wait = Duration::from_secs(120);

    // Quick: the visitor is target 1; every port as the lab built it, OPEN in red.
    s.goto(&home);
    let v = s.wait_for("#visitor", wait);
    assert_eq!(s.text(&v), t1.v4.to_string());
    let quick = s.wait_for("#start-quick", wait);
    s.click(&quick);
    s.wait_for("#results", wait);
    let want: BTreeMap<u16, String> = truth(&lab, 1, &[21])
        .into_iter()
        .map(|(p, (state, _))| (p, shown(&state)))
        .collect();
    assert_eq!(
        statuses(&s),
        want,
        "the quick table against target 1's ports"
    );
    let red = s.execute(
        "return getComputedStyle(document.querySelector('#port-tcp-22 .status')).backgroundColor;",
        &[],
    );
    assert_eq!(red, "rgb(192, 57, 43)", "OPEN is red");
    let verdict = s.wait_for("#verdict", wait);
    assert!(s.text(&verdict).contains("exposed"), "{}", s.text(&verdict));
    let png = s.screenshot_png();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::write(dir.join("selfscan.png"), &png).unwrap();
    if let Ok(path) = std::env::var("MONBAN_SCREENSHOT") {
        std::fs::write(path, &png).unwrap();
    }

    // UDP: progress arrives live (the bar fills) before the table.
    s.goto(&home);
    let udp = s.wait_for("#start-udp-low", wait);
    s.click(&udp);
    let mut progressed = false;
    s.wait_until(wait, |s| {
        let v = s.execute(
            "var p=document.getElementById('progress');return p?p.value:-1;",
            &[],
        );
        progressed |= v.as_f64().is_some_and(|x| x > 0.0);
        s.find("#results").is_some()
    });
    assert!(progressed, "no progress seen before the UDP results");
    for p in lab.hosts()[1].udp_open().into_iter().filter(|&p| p <= 1024) {
        let cell = s
            .find(&format!("#port-udp-{p} .status"))
            .unwrap_or_else(|| panic!("no row for {p}/udp"));
        assert_eq!(s.text(&cell), "OPEN", "{p}/udp");
    }

    // prescan: the banner, shown as text; the page's script never runs it.
    s.goto(&home);
    let pre = s.wait_for("#start-prescan", wait);
    s.click(&pre);
    let row = s.wait_for("#port-tcp-21", wait);
    assert!(s.text(&row).contains(EVIL), "{}", s.text(&row));
    assert_ne!(s.title(), "pwned");
    assert!(s.find("#port-tcp-21 img").is_none() && s.find("#port-tcp-21 script").is_none());

    // Open port 25 in the lab; scan again: the page says it opened.
    let _smtp = greeter(&t1.ns, &dir, 25, "220 mail ESMTP");
    s.goto(&home);
    let quick = s.wait_for("#start-quick", wait);
    s.click(&quick);
    let changes = s.wait_for("#changes", wait);
    let text = s.text(&changes);
    assert!(text.contains("25/tcp opened"), "{text}");
    assert_eq!(text.lines().count(), 1, "only port 25 changed: {text}");
    let cell = s.find("#port-tcp-25 .status").expect("25");
    assert_eq!(s.text(&cell), "OPEN");
}
