//! `-sV` policy in simulation: the sans-IO [`VersionSession`] against scripted servers,
//! with a clock the test advances. Every assertion is an exact action sequence, an exact
//! simulated time or an exact result: nothing here depends on how loaded the machine is.
//!
//! The simulated network has no latency: a connect completes, and a server's answer
//! arrives, at the instant the session asked. So the times below are sums of the
//! session's own waits (head start, probe waits, settle, budgets) and nothing else.

use monban_engine::types::TlsDetail;
use monban_engine::version::{
    Action, ConnId, PortError, ServiceResult, TlsError, VersionOptions, VersionSession,
    BANNER_BYTES, TCPWRAPPED,
};
use monban_probes::{ProbeDb, MAX_REPLY_BYTES};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
/// A port no probe of the databases lists.
const PORT: u16 = 40_000;

/// A small database with 300 ms waits; on an unlisted port at intensity 9 the plan is
/// NULL, Hello, Other, Thing.
const TEST_DB: &str = include_str!("data/tcp_probes.txt");

fn test_db() -> ProbeDb {
    ProbeDb::parse(TEST_DB).unwrap()
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How a scripted TLS server handles a client's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// No TLS: the handshake gets nothing back and runs into its wait (a greeting sent
    /// first fails it at once, as rustls fails on plain text).
    None,
    /// The handshake succeeds this long after it started.
    Up(Duration),
    /// The server answers the ClientHello with garbage: the handshake fails at once.
    Garbage,
}

/// A scripted server on one port.
#[derive(Clone)]
struct Server {
    refuse: bool,
    /// Closes every connection as soon as it is accepted, without a byte.
    close_at_once: bool,
    /// Said as soon as a connection is accepted.
    greeting: Option<&'static [u8]>,
    /// The answer to a request (plain, or inside TLS), if any.
    answer: fn(&[u8]) -> Option<Vec<u8>>,
    /// How long the server takes to answer a request.
    delay: fn(&[u8]) -> Duration,
    /// Closes the connection right after answering.
    close_after_answer: bool,
    /// Sends these bytes every so often from the accept on, forever.
    stream: Option<(&'static [u8], Duration)>,
    tls: Tls,
}

fn no_answer(_: &[u8]) -> Option<Vec<u8>> {
    None
}

fn at_once(_: &[u8]) -> Duration {
    Duration::ZERO
}

impl Server {
    fn silent() -> Server {
        Server {
            refuse: false,
            close_at_once: false,
            greeting: None,
            answer: no_answer,
            delay: at_once,
            close_after_answer: false,
            stream: None,
            tls: Tls::None,
        }
    }
}

/// Line-based: HELLO draws a soft "THING", THING? the version, OTHER a hard match for
/// another service (so sending it would show).
fn thing(req: &[u8]) -> Option<Vec<u8>> {
    match req {
        b"HELLO\r\n" => Some(b"THING\r\n".to_vec()),
        b"THING?\r\n" => Some(b"THING 42\r\n".to_vec()),
        b"OTHER\r\n" => Some(b"OTHER\r\n".to_vec()),
        _ => None,
    }
}

/// nginx: answers a GET only.
fn http(req: &[u8]) -> Option<Vec<u8>> {
    if !req.starts_with(b"GET ") {
        return None;
    }
    let body = "<html><head><title>Welcome to nginx!</title></head></html>\n";
    Some(
        format!(
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn tls_detail() -> TlsDetail {
    TlsDetail {
        version: "TLSv1.3".to_owned(),
        cipher: "TLS_AES_256_GCM_SHA384".to_owned(),
        cert: None,
        cert_error: None,
    }
}

/// What the simulated network delivers to the session.
#[derive(Debug)]
enum Ev {
    Connected,
    Refused,
    Data(Vec<u8>),
    Closed,
    TlsUp,
    TlsFailed(TlsError),
    /// A streaming server's next chunk is due.
    Stream,
}

#[derive(Default)]
struct SimConn {
    port: u16,
    tls_started: bool,
    tls_up: bool,
    /// A payload sent during the handshake: the server sees it once TLS is up.
    pending: Option<Vec<u8>>,
}

/// The session, a clock, scripted servers and what happened, in order.
struct Sim<'db> {
    s: VersionSession<'db>,
    t0: Instant,
    now: Instant,
    servers: HashMap<u16, Server>,
    conns: HashMap<ConnId, SimConn>,
    queue: BTreeMap<(Instant, u64), (ConnId, Ev)>,
    seq: u64,
    /// Every action, as `"<ms> <action>"`.
    log: Vec<String>,
    /// Most connections open at once.
    peak: usize,
    /// The driver has descriptors for this many connections only (back-pressure).
    fd_limit: usize,
}

impl<'db> Sim<'db> {
    fn new(
        db: &'db ProbeDb,
        targets: &[(IpAddr, u16)],
        opts: &VersionOptions,
        servers: &[(u16, Server)],
    ) -> Sim<'db> {
        let t0 = Instant::now();
        Sim {
            s: VersionSession::new(db, targets, opts, opts.max_parallel),
            t0,
            now: t0,
            servers: servers.iter().cloned().collect(),
            conns: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            log: Vec::new(),
            peak: 0,
            fd_limit: usize::MAX,
        }
    }

    fn at(&self) -> u128 {
        self.now.duration_since(self.t0).as_millis()
    }

    fn push(&mut self, after: Duration, id: ConnId, ev: Ev) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), (id, ev));
    }

    fn server(&self, id: ConnId) -> Server {
        let port = self.conns.get(&id).map_or(0, |c| c.port);
        self.servers
            .get(&port)
            .cloned()
            .unwrap_or_else(Server::silent)
    }

    /// The server got `req` on connection `id`.
    fn request(&mut self, id: ConnId, req: &[u8]) {
        let server = self.server(id);
        if let Some(reply) = (server.answer)(req) {
            let delay = (server.delay)(req);
            self.push(delay, id, Ev::Data(reply));
            if server.close_after_answer {
                self.push(delay, id, Ev::Closed);
            }
        }
    }

    /// Does what the session asks, as the network and the servers would.
    fn drain(&mut self) {
        while let Some(a) = self.s.poll_action() {
            let at = self.at();
            match a {
                Action::Connect { id, addr } => {
                    self.log.push(format!("{at} connect #{}", id.0));
                    assert_eq!(addr.ip(), HOST);
                    if self.conns.len() >= self.fd_limit {
                        self.log.push(format!("{at} EMFILE #{}", id.0));
                        self.s.on_no_descriptors(self.now, id);
                        continue;
                    }
                    self.conns.insert(
                        id,
                        SimConn {
                            port: addr.port(),
                            ..SimConn::default()
                        },
                    );
                    self.peak = self.peak.max(self.conns.len());
                    let server = self.server(id);
                    if server.refuse {
                        self.push(Duration::ZERO, id, Ev::Refused);
                        continue;
                    }
                    self.push(Duration::ZERO, id, Ev::Connected);
                    if server.close_at_once {
                        self.push(Duration::ZERO, id, Ev::Closed);
                    }
                    if let Some(g) = server.greeting {
                        self.push(Duration::ZERO, id, Ev::Data(g.to_vec()));
                    }
                    if server.stream.is_some() {
                        self.push(Duration::ZERO, id, Ev::Stream);
                    }
                }
                Action::StartTls { id } => {
                    self.log.push(format!("{at} tls #{}", id.0));
                    let server = self.server(id);
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.tls_started = true;
                    }
                    match server.tls {
                        Tls::Up(d) => self.push(d, id, Ev::TlsUp),
                        Tls::Garbage => self.push(
                            Duration::ZERO,
                            id,
                            Ev::TlsFailed(TlsError::Handshake("garbage".into())),
                        ),
                        Tls::None if server.greeting.is_some() => self.push(
                            Duration::ZERO,
                            id,
                            Ev::TlsFailed(TlsError::Handshake("plain text".into())),
                        ),
                        Tls::None => {}
                    }
                }
                Action::Send { id, data } => {
                    let line = String::from_utf8_lossy(data);
                    let line = line.lines().next().unwrap_or_default().to_owned();
                    self.log.push(format!("{at} send #{} {line}", id.0));
                    let Some(c) = self.conns.get_mut(&id) else {
                        panic!("send on unknown connection #{}", id.0);
                    };
                    if c.tls_started && !c.tls_up {
                        c.pending = Some(data.to_vec());
                    } else {
                        self.request(id, data);
                    }
                }
                Action::Close { id } => {
                    self.log.push(format!("{at} close #{}", id.0));
                    assert!(self.conns.remove(&id).is_some(), "close #{}", id.0);
                }
            }
        }
    }

    /// Delivers one event, unless its connection is gone.
    fn deliver(&mut self, id: ConnId, ev: Ev) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let now = self.now;
        match ev {
            Ev::Connected => self.s.on_connected(now, id),
            Ev::Refused => self.s.on_connect_failed(now, id, PortError::Refused),
            // Bytes during a handshake go to the TLS library, which `Tls` models.
            Ev::Data(_) if c.tls_started && !c.tls_up => {}
            Ev::Data(d) => self.s.on_data(now, id, &d),
            Ev::Closed => self.s.on_closed(now, id),
            Ev::TlsUp => {
                c.tls_up = true;
                let pending = c.pending.take();
                self.s.on_tls_up(now, id, tls_detail());
                if let Some(req) = pending {
                    self.request(id, &req);
                }
            }
            Ev::TlsFailed(e) => self.s.on_tls_failed(now, id, e),
            Ev::Stream => {
                if c.tls_started && !c.tls_up {
                    return;
                }
                let Some((chunk, every)) = self.server(id).stream else {
                    return;
                };
                self.s.on_data(now, id, chunk);
                self.push(every, id, Ev::Stream);
            }
        }
        self.drain();
    }

    /// Runs until every port has its result (or `stop_at`, when the stop flag is set).
    fn run_until(&mut self, stop_at: Option<Duration>) -> Duration {
        self.s.handle_timeout(self.now);
        self.drain();
        for _ in 0..100_000 {
            if self.s.is_done() {
                assert!(self.conns.is_empty(), "connections left open");
                return self.now.duration_since(self.t0);
            }
            let next = [
                self.queue.keys().next().map(|&(t, _)| t),
                self.s.next_timeout(),
                stop_at.map(|d| self.t0 + d),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("not done, yet nothing will ever happen");
            assert!(next >= self.now, "time runs backwards");
            self.now = next;
            if stop_at.is_some_and(|d| self.t0 + d <= self.now) {
                self.s.stop(self.now);
                self.drain();
                continue;
            }
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let (id, ev) = entry.remove();
                self.deliver(id, ev);
            }
            self.s.handle_timeout(self.now);
            self.drain();
        }
        panic!("no end after 100000 rounds");
    }

    fn run(&mut self) -> Duration {
        self.run_until(None)
    }

    fn results(self) -> Vec<ServiceResult> {
        self.s.into_results()
    }
}

/// Every probe of the test database, no TLS step: NULL, Hello, Other, Thing.
fn fast() -> VersionOptions {
    VersionOptions {
        intensity: 9,
        tls: false,
        ..VersionOptions::default()
    }
}

/// The same, one probe after the other.
fn serial() -> VersionOptions {
    VersionOptions {
        per_port: 1,
        ..fast()
    }
}

/// One port served by `server`: its result, when the session ended, and the log.
fn one(
    db: &ProbeDb,
    opts: &VersionOptions,
    server: Server,
) -> (ServiceResult, Duration, Vec<String>) {
    let mut sim = Sim::new(db, &[(HOST, PORT)], opts, &[(PORT, server)]);
    let took = sim.run();
    let log = std::mem::take(&mut sim.log);
    let mut r = sim.results();
    assert_eq!(r.len(), 1);
    (r.remove(0), took, log)
}

fn lines(s: &[&str]) -> Vec<String> {
    s.iter().map(|l| (*l).to_owned()).collect()
}

#[test]
fn a_server_that_speaks_first_is_named_with_one_connection() {
    let db = ProbeDb::builtin().unwrap();
    let ssh = Server {
        greeting: Some(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
        ..Server::silent()
    };
    let (r, took, log) = one(db, &VersionOptions::default(), ssh);
    // The null probe's greeting matches hard as it arrives: nothing else starts, not even
    // the TLS step that follows it in the plan.
    assert_eq!(log, lines(&["0 connect #0", "0 close #0"]));
    assert_eq!(took, Duration::ZERO);
    let m = r.service.unwrap();
    assert_eq!(
        (
            m.service.as_str(),
            m.product.as_deref(),
            m.version.as_deref()
        ),
        ("ssh", Some("OpenSSH"), Some("9.2p1"))
    );
    assert_eq!(m.info.as_deref(), Some("Debian 2+deb12u3; protocol 2.0"));
    assert_eq!(m.os.as_deref(), Some("Linux"));
    assert!(!m.soft && r.answered);
    assert_eq!(r.probes_sent, 1);
    assert_eq!(
        r.banner.as_deref(),
        Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")
    );
    assert_eq!(
        (r.error, r.tls, r.tls_error, r.in_tunnel),
        (None, None, None, false)
    );
    assert_eq!((r.addr, r.port), (HOST, PORT));
}

#[test]
fn http_needs_a_get_after_the_null_probe_and_the_null_probe_gets_the_settle_time() {
    let db = ProbeDb::builtin().unwrap();
    let opts = VersionOptions {
        intensity: 1,
        tls: false,
        ..VersionOptions::default()
    };
    let names: Vec<&str> = db
        .probes_for(PORT, monban_probes::Protocol::Tcp, 1)
        .map(|p| p.name())
        .collect();
    assert_eq!(names, ["NULL", "GetRequest"]);
    let nginx = Server {
        answer: http,
        close_after_answer: true,
        ..Server::silent()
    };
    let (r, took, log) = one(db, &opts, nginx);
    // The null probe runs alone for the head start; GET answers at once and matches
    // hard; the silent null probe, earlier in the plan, then gets the settle time to beat
    // it, no more.
    assert_eq!(
        log,
        lines(&[
            "0 connect #0",
            "300 connect #1",
            "300 send #1 GET / HTTP/1.0",
            "300 close #1",
            "800 close #0",
        ])
    );
    assert_eq!(took, opts.head_start + opts.settle);
    let m = r.service.unwrap();
    assert_eq!(
        (
            m.service.as_str(),
            m.product.as_deref(),
            m.version.as_deref()
        ),
        ("http", Some("nginx"), Some("1.22.1"))
    );
    assert_eq!(m.info.as_deref(), Some("title: Welcome to nginx!"));
    assert_eq!(r.probes_sent, 2);
    assert!(r
        .banner
        .unwrap()
        .starts_with("HTTP/1.1 200 OK Server: nginx/1.22.1 "));
    assert_eq!(r.elapsed, ms(800));
}

#[test]
fn a_soft_match_narrows_the_remaining_probes() {
    let db = test_db();
    let server = Server {
        answer: thing,
        ..Server::silent()
    };
    let (r, took, log) = one(&db, &serial(), server);
    // NULL (silent, its 300 ms), Hello (soft: thing; the soft reply runs to Hello's
    // wait), then Thing; Other has no rules for thing and never starts.
    assert_eq!(
        log,
        lines(&[
            "0 connect #0",
            "300 close #0",
            "300 connect #1",
            "300 send #1 HELLO",
            "600 close #1",
            "600 connect #2",
            "600 send #2 THING?",
            "600 close #2",
        ])
    );
    assert_eq!(took, ms(600));
    let m = r.service.unwrap();
    assert_eq!(
        (
            m.service.as_str(),
            m.product.as_deref(),
            m.version.as_deref(),
            m.soft
        ),
        ("thing", Some("thingd"), Some("42"), false)
    );
    assert_eq!(r.probes_sent, 3);
    assert_eq!(r.banner.as_deref(), Some("THING 42"));
}

#[test]
fn in_parallel_the_earliest_hard_match_wins() {
    let db = test_db();
    let server = Server {
        answer: thing,
        ..Server::silent()
    };
    let (r, took, log) = one(&db, &fast(), server);
    // NULL alone for the head start (its whole wait); then Hello, Other and Thing
    // together. Other (plan index 2) and Thing (3) both match hard: Other comes first in
    // the plan and wins, Thing is closed. Hello (1, before Other) got a soft reply and
    // keeps its wait: an earlier step may still beat a later hard match.
    assert_eq!(
        log,
        lines(&[
            "0 connect #0",
            "300 close #0",
            "300 connect #1",
            "300 connect #2",
            "300 connect #3",
            "300 send #1 HELLO",
            "300 send #2 OTHER",
            "300 send #3 THING?",
            "300 close #2",
            "300 close #3",
            "600 close #1",
        ])
    );
    assert_eq!(took, ms(600));
    let m = r.service.unwrap();
    assert_eq!(
        (m.service.as_str(), m.product.as_deref()),
        ("other", Some("other server"))
    );
    assert_eq!(r.probes_sent, 4);
    assert_eq!(r.banner.as_deref(), Some("OTHER"));
}

#[test]
fn an_earlier_hard_match_arriving_within_the_settle_time_beats_a_later_one() {
    // Hello matches hard ("echo") but answers 100 ms late; Other answers at once.
    let db = test_db();
    let server = Server {
        answer: |req| match req {
            b"HELLO\r\n" | b"OTHER\r\n" => Some(req.to_vec()),
            _ => None,
        },
        delay: |req| {
            if req == b"HELLO\r\n" {
                ms(100)
            } else {
                Duration::ZERO
            }
        },
        ..Server::silent()
    };
    let (r, took, log) = one(&db, &fast(), server);
    // Other's hard match at 300 ms closes Thing (later in the plan) and gives Hello
    // (earlier) the settle time; Hello's echo at 400 ms wins.
    assert_eq!(
        log,
        lines(&[
            "0 connect #0",
            "300 close #0",
            "300 connect #1",
            "300 connect #2",
            "300 connect #3",
            "300 send #1 HELLO",
            "300 send #2 OTHER",
            "300 send #3 THING?",
            "300 close #2",
            "300 close #3",
            "400 close #1",
        ])
    );
    assert_eq!(took, ms(400));
    let m = r.service.unwrap();
    assert_eq!(
        (m.service.as_str(), m.product.as_deref()),
        ("echo", Some("echo server"))
    );
    assert_eq!(r.banner.as_deref(), Some("HELLO"));
}

#[test]
fn a_silent_server_costs_each_probe_its_wait_and_no_more() {
    let db = test_db();
    let (r, took, log) = one(&db, &serial(), Server::silent());
    assert_eq!(
        log,
        lines(&[
            "0 connect #0",
            "300 close #0",
            "300 connect #1",
            "300 send #1 HELLO",
            "600 close #1",
            "600 connect #2",
            "600 send #2 OTHER",
            "900 close #2",
            "900 connect #3",
            "900 send #3 THING?",
            "1200 close #3",
        ])
    );
    assert_eq!(took, ms(1200));
    assert_eq!(
        (r.service, r.probes_sent, r.banner, r.error),
        (None, 4, None, None)
    );
    assert!(!r.answered);
    assert_eq!(r.elapsed, ms(1200));
}

#[test]
fn in_parallel_a_silent_server_costs_the_head_start_and_one_wait() {
    let db = test_db();
    let (r, took, _) = one(&db, &fast(), Server::silent());
    assert_eq!(
        (r.service, r.probes_sent, r.banner, r.error),
        (None, 4, None, None)
    );
    // NULL alone for 300 ms (its whole wait), then the other three side by side.
    assert_eq!(took, ms(600));
}

#[test]
fn the_head_start_lets_the_others_join_a_slow_first_probe() {
    // A null probe that waits longer than the head start: the others join it after the
    // head start, not after its wait.
    let db = test_db();
    let opts = VersionOptions {
        head_start: ms(100),
        ..fast()
    };
    let (r, took, log) = one(&db, &opts, Server::silent());
    assert_eq!(log[..2], lines(&["0 connect #0", "100 connect #1"]));
    assert_eq!(log.iter().filter(|l| l.contains("connect")).count(), 4);
    // NULL ends at 300, the three others at 100 + 300.
    assert_eq!(took, ms(400));
    assert_eq!(r.probes_sent, 4);
}

#[test]
fn the_port_budget_cuts_a_silent_server_short() {
    let db = test_db();
    let opts = VersionOptions {
        port_budget: ms(500),
        ..serial()
    };
    let (r, took, log) = one(&db, &opts, Server::silent());
    // NULL waits 300 ms, Hello is cut at 500 ms, Other never starts.
    assert_eq!(
        log,
        lines(&[
            "0 connect #0",
            "300 close #0",
            "300 connect #1",
            "300 send #1 HELLO",
            "500 close #1",
        ])
    );
    assert_eq!(took, ms(500));
    assert_eq!((r.service, r.probes_sent), (None, 2));
    assert_eq!(r.error, Some(PortError::OutOfTime));
    // In parallel every probe starts, and the budget cuts them all.
    let opts = VersionOptions {
        port_budget: ms(500),
        ..fast()
    };
    let (r, took, _) = one(&db, &opts, Server::silent());
    assert_eq!((r.probes_sent, r.error), (4, Some(PortError::OutOfTime)));
    assert_eq!(took, ms(500));
}

#[test]
fn a_hard_match_is_not_out_of_time_even_when_the_budget_ran_out() {
    let db = test_db();
    let opts = VersionOptions {
        port_budget: ms(500),
        ..fast()
    };
    let server = Server {
        answer: |req| (req == b"OTHER\r\n").then(|| req.to_vec()),
        ..Server::silent()
    };
    let (r, took, _) = one(&db, &opts, server);
    // Other matches at 300 ms; Hello, earlier, keeps running until the budget ends it.
    assert_eq!(took, ms(500));
    assert_eq!(r.error, None);
    assert_eq!(r.service.unwrap().service, "other");
}

#[test]
fn an_endless_banner_is_read_up_to_the_limit_only() {
    let db = test_db();
    static CHUNK: [u8; 4096] = [b'x'; 4096];
    let server = Server {
        greeting: Some(b"STREAM "),
        stream: Some((&CHUNK, ms(1))),
        ..Server::silent()
    };
    let (r, took, log) = one(&db, &fast(), server);
    // 7 + 4 x 4096 bytes pass MAX_REPLY_BYTES (16 KiB) with the fourth chunk, at 3 ms:
    // NULL ends there, long before its wait, and the three others end the same way.
    assert_eq!(MAX_REPLY_BYTES, 4 * 4096);
    assert_eq!(log[..2], lines(&["0 connect #0", "3 close #0"]));
    assert_eq!(took, ms(6));
    assert_eq!((r.service, r.probes_sent), (None, 4));
    let want = format!("STREAM {}", "x".repeat(BANNER_BYTES - 7));
    assert_eq!(r.banner.as_deref(), Some(want.as_str()));
}

#[test]
fn a_trickling_server_ends_at_the_probe_wait() {
    let db = test_db();
    let server = Server {
        stream: Some((b"x\n", ms(10))),
        ..Server::silent()
    };
    let (r, took, _) = one(&db, &fast(), server);
    // A byte every 10 ms never lets the settle time pass: NULL's 300 ms alone, then
    // three 300 ms waits side by side.
    assert_eq!(took, ms(600));
    assert_eq!((r.service, r.probes_sent), (None, 4));
    assert!(r.banner.unwrap().starts_with("x x x"));
}

#[test]
fn silence_after_an_unknown_reply_ends_the_probe() {
    let db = test_db();
    let opts = VersionOptions {
        settle: ms(50),
        ..serial()
    };
    let server = Server {
        greeting: Some(b"UNKNOWN GREETING\r\n"),
        ..Server::silent()
    };
    let (r, took, _) = one(&db, &opts, server);
    // Four 50 ms settles, not four 300 ms waits.
    assert_eq!(took, ms(200));
    assert_eq!((r.service, r.probes_sent), (None, 4));
    assert_eq!(r.banner.as_deref(), Some("UNKNOWN GREETING"));
}

#[test]
fn a_server_that_closes_at_once_is_tcpwrapped() {
    let db = test_db();
    let server = Server {
        close_at_once: true,
        ..Server::silent()
    };
    let (r, took, log) = one(&db, &fast(), server);
    // The null probe's close ends the head start: the others run at once, and close too.
    assert_eq!(
        log,
        lines(&[
            "0 connect #0",
            "0 close #0",
            "0 connect #1",
            "0 connect #2",
            "0 connect #3",
            "0 send #1 HELLO",
            "0 close #1",
            "0 send #2 OTHER",
            "0 close #2",
            "0 send #3 THING?",
            "0 close #3",
        ])
    );
    assert_eq!(took, Duration::ZERO);
    let m = r.service.unwrap();
    assert_eq!((m.service.as_str(), m.product), (TCPWRAPPED, None));
    assert_eq!(
        (r.probes_sent, r.banner, r.answered, r.error),
        (4, None, false, None)
    );
}

#[test]
fn a_closed_port_is_refused_after_one_connect() {
    let db = test_db();
    let server = Server {
        refuse: true,
        ..Server::silent()
    };
    let (r, took, log) = one(&db, &fast(), server);
    assert_eq!(log, lines(&["0 connect #0", "0 close #0"]));
    assert_eq!(took, Duration::ZERO);
    assert_eq!((r.service, r.probes_sent), (None, 0));
    assert_eq!(r.error, Some(PortError::Refused));
}

#[test]
fn a_connect_without_an_answer_times_out_at_the_probe_wait() {
    // A connect the network never answers: the session's wait ends it.
    let db = test_db();
    let mut sim = Sim::new(&db, &[(HOST, PORT)], &serial(), &[]);
    sim.s.handle_timeout(sim.now);
    let Some(Action::Connect { id, .. }) = sim.s.poll_action() else {
        panic!("no connect");
    };
    assert_eq!(sim.s.next_timeout(), Some(sim.t0 + ms(300)));
    sim.now = sim.t0 + ms(300);
    sim.s.handle_timeout(sim.now);
    assert_eq!(sim.s.poll_action(), Some(Action::Close { id }));
    assert!(sim.s.is_done());
    let r = sim.results().remove(0);
    assert_eq!(
        (r.probes_sent, r.error),
        (0, Some(PortError::ConnectTimeout))
    );
}

#[test]
fn ports_are_probed_in_parallel_and_results_keep_target_order() {
    let db = test_db();
    let mut targets = vec![(HOST, 1000); 20];
    targets.insert(7, (HOST, 22));
    let ssh = Server {
        greeting: Some(b"SSH-2.0-OpenSSH_9.2p1\r\n"),
        ..Server::silent()
    };
    let mut sim = Sim::new(
        &db,
        &targets,
        &fast(),
        &[(22, ssh), (1000, Server::silent())],
    );
    let took = sim.run();
    // In series this would take 21 x 1.2 s; each port takes 0.6 s, all at once.
    assert_eq!(took, ms(600));
    assert_eq!(sim.peak, 20 * 3);
    let r = sim.results();
    assert_eq!(r.len(), 21);
    for (i, r) in r.iter().enumerate() {
        if i == 7 {
            let m = r.service.as_ref().unwrap();
            assert_eq!((r.port, m.product.as_deref()), (22, Some("OpenSSH_9.2p1")));
            assert_eq!(r.probes_sent, 1);
        } else {
            assert_eq!((r.port, &r.service, r.probes_sent), (1000, &None, 4));
        }
    }
}

#[test]
fn max_parallel_bounds_the_connections() {
    let db = test_db();
    let opts = VersionOptions {
        max_parallel: 1,
        ..fast()
    };
    // (per_port stays 6: the global limit wins.)
    let mut sim = Sim::new(
        &db,
        &[(HOST, PORT), (HOST, PORT)],
        &opts,
        &[(PORT, Server::silent())],
    );
    let took = sim.run();
    // One connection at a time: eight 300 ms waits back to back.
    assert_eq!(took, ms(2400));
    assert_eq!(sim.peak, 1);
    assert_eq!(sim.results().iter().map(|r| r.probes_sent).sum::<u32>(), 8);
}

#[test]
fn out_of_descriptors_lowers_the_parallelism_and_loses_no_step() {
    let db = test_db();
    let targets = vec![(HOST, PORT); 4];
    let mut sim = Sim::new(&db, &targets, &fast(), &[(PORT, Server::silent())]);
    // The driver can hold two sockets only.
    sim.fd_limit = 2;
    let took = sim.run();
    assert!(sim.log.contains(&"0 EMFILE #2".to_owned()), "{:?}", sim.log);
    assert_eq!(sim.s.limit(), 2);
    assert_eq!(sim.peak, 2);
    let r = sim.results();
    // Every step of every port still ran, two connections at a time: 16 waits of 300 ms
    // on two lanes.
    assert!(
        r.iter().all(|r| (r.probes_sent, &r.error) == (4, &None)),
        "{r:?}"
    );
    assert_eq!(took, ms(8 * 300));
}

#[test]
fn the_stop_flag_ends_everything_and_closes_every_connection() {
    let db = test_db();
    let mut sim = Sim::new(
        &db,
        &[(HOST, PORT), (HOST, PORT + 1)],
        &fast(),
        &[(PORT, Server::silent()), (PORT + 1, Server::silent())],
    );
    let took = sim.run_until(Some(ms(100)));
    assert_eq!(took, ms(100));
    assert_eq!(
        sim.log,
        lines(&[
            "0 connect #0",
            "0 connect #1",
            "100 close #0",
            "100 close #1"
        ])
    );
    for r in sim.results() {
        assert_eq!((r.probes_sent, r.error), (1, Some(PortError::Stopped)));
    }
    // Stopped before anything started: nothing was sent.
    let mut sim = Sim::new(&db, &[(HOST, PORT)], &fast(), &[]);
    sim.s.stop(sim.now);
    assert!(sim.s.is_done() && sim.s.poll_action().is_none());
    let r = sim.results().remove(0);
    assert_eq!((r.probes_sent, r.error), (0, Some(PortError::Stopped)));
}

#[test]
fn no_targets_no_work() {
    let db = test_db();
    let mut s = VersionSession::new(&db, &[], &fast(), 10);
    assert!(s.is_done());
    s.handle_timeout(Instant::now());
    assert_eq!((s.poll_action(), s.next_timeout()), (None, None));
    assert!(s.into_results().is_empty());
}

// ---- TLS ----

fn tls_opts() -> VersionOptions {
    VersionOptions {
        tls: true,
        tls_wait: ms(400),
        ..fast()
    }
}

#[test]
fn on_a_tls_port_the_plan_restarts_inside_the_tunnel_on_the_handshake_connection() {
    let db = test_db();
    let server = Server {
        tls: Tls::Up(ms(10)),
        answer: thing,
        ..Server::silent()
    };
    let mut sim = Sim::new(&db, &[(HOST, 443)], &tls_opts(), &[(443, server)]);
    let took = sim.run();
    // 443 starts with TLS. Up at 10 ms: the plan restarts inside with 80's probes (here
    // the same four), the handshake's connection carrying NULL; after the head start the
    // others join, each with its own handshake; Other wins as in plain text.
    assert_eq!(
        sim.log,
        lines(&[
            "0 connect #0",
            "0 tls #0",
            "310 close #0",
            "310 connect #1",
            "310 connect #2",
            "310 connect #3",
            "310 tls #1",
            "310 send #1 HELLO",
            "310 tls #2",
            "310 send #2 OTHER",
            "310 tls #3",
            "310 send #3 THING?",
            "320 close #2",
            "320 close #3",
            "610 close #1",
        ])
    );
    assert_eq!(took, ms(610));
    let r = sim.results().remove(0);
    let m = r.service.clone().unwrap();
    assert_eq!((m.service.as_str(), r.in_tunnel), ("other", true));
    assert_eq!(
        (r.tls.clone(), r.tls_error.clone()),
        (Some(tls_detail()), None)
    );
    assert_eq!(r.detail().unwrap().tunnel.as_deref(), Some("ssl"));
    // The handshake, NULL inside it (same connection), then three more.
    assert_eq!(r.probes_sent, 5);
}

#[test]
fn a_tls_port_with_nothing_inside_is_ssl() {
    let db = test_db();
    let server = Server {
        tls: Tls::Up(Duration::ZERO),
        ..Server::silent()
    };
    let (r, took, _) = one(&db, &tls_opts(), server);
    // Port 40000 is no TLS port: NULL first (silent, 300 ms alone), the TLS step second
    // (up at once: the plan restarts inside), nothing ever answers.
    assert_eq!(took, ms(900));
    let m = r.service.unwrap();
    assert_eq!(
        (m.service.as_str(), m.soft, r.in_tunnel),
        ("ssl", true, false)
    );
    assert_eq!(r.tls, Some(tls_detail()));
}

#[test]
fn a_reply_that_looks_like_tls_brings_the_tls_step_forward() {
    // Plain text draws a TLS alert: the TLS step must run even though the plan has it
    // later (intensity 0: no TLS step in the plan at all).
    let db = test_db();
    let opts = VersionOptions {
        intensity: 0,
        ..tls_opts()
    };
    let server = Server {
        greeting: Some(b"\x15\x03\x03\x00\x02\x02\x28"),
        tls: Tls::Up(Duration::ZERO),
        ..Server::silent()
    };
    let (r, _, log) = one(&db, &opts, server);
    assert_eq!(
        log[..3],
        lines(&["0 connect #0", "300 close #0", "300 connect #1"])
    );
    assert!(log.contains(&"300 tls #1".to_owned()), "{log:?}");
    assert_eq!(r.tls, Some(tls_detail()));
}

#[test]
fn a_peer_that_stalls_mid_handshake_costs_the_tls_wait() {
    let db = test_db();
    // Plain probes get nothing; the handshake gets no answer either.
    let (r, took, log) = one(&db, &tls_opts(), Server::silent());
    // NULL alone 300 ms, then the handshake's 400 ms beside Hello, Other, Thing's 300.
    assert_eq!(
        log[..4],
        lines(&[
            "0 connect #0",
            "300 close #0",
            "300 connect #1",
            "300 connect #2"
        ])
    );
    assert_eq!(took, ms(700));
    assert_eq!(r.tls_error, Some(TlsError::Timeout));
    assert_eq!((r.tls, r.in_tunnel, r.service), (None, false, None));
}

#[test]
fn a_peer_that_sends_garbage_fails_the_handshake_at_once() {
    let db = test_db();
    let server = Server {
        tls: Tls::Garbage,
        ..Server::silent()
    };
    let (r, took, log) = one(&db, &tls_opts(), server);
    assert!(log.contains(&"300 tls #1".to_owned()) && log.contains(&"300 close #1".to_owned()));
    assert_eq!(took, ms(600));
    assert_eq!(r.tls_error, Some(TlsError::Handshake("garbage".into())));
    assert_eq!((r.tls, r.in_tunnel, r.service), (None, false, None));
}

#[test]
fn a_plain_service_fails_the_handshake_and_keeps_its_plain_match() {
    let db = test_db();
    let ssh = Server {
        greeting: Some(b"SSH-2.0-OpenSSH_9.2p1\r\n"),
        ..Server::silent()
    };
    // On 443 the handshake goes first, and fails on the greeting; that ends the first
    // step, so the others start together, and NULL's greeting closes the later ones.
    let mut sim = Sim::new(&db, &[(HOST, 443)], &tls_opts(), &[(443, ssh)]);
    let took = sim.run();
    assert_eq!(
        sim.log,
        lines(&[
            "0 connect #0",
            "0 tls #0",
            "0 close #0",
            "0 connect #1",
            "0 connect #2",
            "0 connect #3",
            "0 connect #4",
            "0 close #1",
            "0 close #2",
            "0 close #3",
            "0 close #4",
        ])
    );
    assert_eq!(took, Duration::ZERO);
    let r = sim.results().remove(0);
    assert_eq!(r.service.unwrap().product.as_deref(), Some("OpenSSH_9.2p1"));
    assert_eq!(r.tls_error, Some(TlsError::Handshake("plain text".into())));
    assert!(!r.in_tunnel);
}
