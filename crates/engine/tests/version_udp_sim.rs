//! `-sU -sV` policy in simulation: the sans-IO [`UdpVersionSession`] against scripted
//! UDP servers, with a clock the test advances; exact action logs, times and results.

use monban_engine::version::udp::{UdpAction, UdpVersionSession};
use monban_engine::version::{ConnId, PortError, ServiceResult, VersionOptions};
use monban_probes::ProbeDb;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const PORT: u16 = 40_000;

/// On an unlisted port the plan is Dns (1 s), Snmp (1 s), Ntp (2 s).
const TEST_DB: &str = r#"
probe Dns udp
  send "DNS?"
  rarity 1
  wait 1000ms
  match domain
    regex ^DNS (\S+)
    product $1
probe Snmp udp
  send "SNMP?"
  rarity 1
  wait 1000ms
  softmatch snmp
    regex ^SNMP$
  match snmp
    regex ^SNMP (\S+)
    product $1
probe Ntp udp
  send "NTP?"
  rarity 1
  wait 2000ms
  match ntp
    regex ^NTP
    product ntpd
"#;

fn test_db() -> ProbeDb {
    ProbeDb::parse(TEST_DB).unwrap()
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Datagrams a server sends back, each after its delay.
type Answers = Vec<(Duration, Vec<u8>)>;

/// A scripted UDP server: `answer(request)` gives the datagrams it sends back, each after
/// its delay; `refuse` answers with port unreachable instead.
#[derive(Clone, Copy)]
struct Server {
    refuse: bool,
    answer: fn(&[u8]) -> Answers,
}

fn silent() -> Server {
    Server {
        refuse: false,
        answer: |_| Vec::new(),
    }
}

enum Ev {
    Datagram(Vec<u8>),
    Refused,
}

struct Sim<'db> {
    s: UdpVersionSession<'db>,
    t0: Instant,
    now: Instant,
    server: Server,
    open: HashMap<ConnId, ()>,
    queue: BTreeMap<(Instant, u64), (ConnId, Ev)>,
    seq: u64,
    log: Vec<String>,
    peak: usize,
    fd_limit: usize,
}

impl<'db> Sim<'db> {
    fn new(
        db: &'db ProbeDb,
        targets: &[(IpAddr, u16)],
        opts: &VersionOptions,
        server: Server,
    ) -> Sim<'db> {
        let t0 = Instant::now();
        Sim {
            s: UdpVersionSession::new(db, targets, opts, opts.max_parallel),
            t0,
            now: t0,
            server,
            open: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            log: Vec::new(),
            peak: 0,
            fd_limit: usize::MAX,
        }
    }

    fn drain(&mut self) {
        while let Some(a) = self.s.poll_action() {
            let at = self.now.duration_since(self.t0).as_millis();
            match a {
                UdpAction::Open { id, addr } => {
                    self.log.push(format!("{at} open #{}", id.0));
                    assert_eq!(addr.ip(), HOST);
                    if self.open.len() >= self.fd_limit {
                        self.log.push(format!("{at} EMFILE #{}", id.0));
                        self.s.on_no_descriptors(self.now, id);
                        continue;
                    }
                    self.open.insert(id, ());
                    self.peak = self.peak.max(self.open.len());
                }
                UdpAction::Send { id, data } => {
                    if !self.open.contains_key(&id) {
                        continue; // no socket: nothing to send on
                    }
                    self.log.push(format!(
                        "{at} send #{} {}",
                        id.0,
                        String::from_utf8_lossy(data)
                    ));
                    if self.server.refuse {
                        self.seq += 1;
                        self.queue.insert((self.now, self.seq), (id, Ev::Refused));
                        continue;
                    }
                    for (delay, d) in (self.server.answer)(data) {
                        self.seq += 1;
                        self.queue
                            .insert((self.now + delay, self.seq), (id, Ev::Datagram(d)));
                    }
                }
                UdpAction::Close { id } => {
                    self.log.push(format!("{at} close #{}", id.0));
                    assert!(self.open.remove(&id).is_some(), "close #{}", id.0);
                }
            }
        }
    }

    fn run_until(&mut self, stop_at: Option<Duration>) -> Duration {
        self.s.handle_timeout(self.now);
        self.drain();
        for _ in 0..100_000 {
            if self.s.is_done() {
                assert!(self.open.is_empty(), "sockets left open");
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
                if !self.open.contains_key(&id) {
                    continue; // the socket is closed: the kernel drops it
                }
                match ev {
                    Ev::Datagram(d) => self.s.on_datagram(self.now, id, &d),
                    Ev::Refused => self.s.on_refused(self.now, id),
                }
                self.drain();
            }
            self.s.handle_timeout(self.now);
            self.drain();
        }
        panic!("no end after 100000 rounds");
    }

    fn run(&mut self) -> Duration {
        self.run_until(None)
    }
}

fn opts() -> VersionOptions {
    VersionOptions::default()
}

fn one(opts: &VersionOptions, server: Server) -> (ServiceResult, Duration, Vec<String>) {
    let db = test_db();
    let mut sim = Sim::new(&db, &[(HOST, PORT)], opts, server);
    let took = sim.run();
    let log = std::mem::take(&mut sim.log);
    let mut r = sim.s.into_results();
    assert_eq!(r.len(), 1);
    (r.remove(0), took, log)
}

fn lines(s: &[&str]) -> Vec<String> {
    s.iter().map(|l| (*l).to_owned()).collect()
}

#[test]
fn a_silent_port_gets_every_probe_twice_and_costs_the_longest_wait() {
    let (r, took, log) = one(&opts(), silent());
    // All at once; each resent half-way through its wait.
    assert_eq!(
        log,
        lines(&[
            "0 open #0",
            "0 send #0 DNS?",
            "0 open #1",
            "0 send #1 SNMP?",
            "0 open #2",
            "0 send #2 NTP?",
            "500 send #0 DNS?",
            "500 send #1 SNMP?",
            "1000 send #2 NTP?",
            "1000 close #0",
            "1000 close #1",
            "2000 close #2",
        ])
    );
    assert_eq!(took, ms(2000));
    assert_eq!(
        (r.answered, r.service, r.banner, r.error),
        (false, None, None, None)
    );
    assert_eq!(r.probes_sent, 6);
}

#[test]
fn the_first_hard_match_of_the_first_probe_decides_at_once() {
    let server = Server {
        refuse: false,
        answer: |q| match q {
            b"DNS?" => vec![(Duration::ZERO, b"DNS dnsmasq-2.90".to_vec())],
            _ => Vec::new(),
        },
    };
    let (r, took, log) = one(&opts(), server);
    assert_eq!(log[6..], lines(&["0 close #0", "0 close #1", "0 close #2"]));
    assert_eq!(took, Duration::ZERO);
    let m = r.service.unwrap();
    assert_eq!(
        (m.service.as_str(), m.product.as_deref(), m.soft),
        ("domain", Some("dnsmasq-2.90"), false)
    );
    assert!(r.answered);
    assert_eq!(r.banner.as_deref(), Some("DNS dnsmasq-2.90"));
    assert_eq!(r.probes_sent, 3);
}

#[test]
fn an_earlier_probe_gets_the_settle_time_to_beat_a_later_hard_match() {
    // Snmp (second in the plan) matches at once; Dns (first) answers 300 ms later.
    let late_dns = Server {
        refuse: false,
        answer: |q| match q {
            b"DNS?" => vec![(ms(300), b"DNS bind".to_vec())],
            b"SNMP?" => vec![(Duration::ZERO, b"SNMP net-snmp".to_vec())],
            _ => Vec::new(),
        },
    };
    let (r, took, _) = one(&opts(), late_dns);
    assert_eq!(took, ms(300));
    assert_eq!(r.service.unwrap().service, "domain");
    // Later than the settle time (500 ms): Snmp's match stands when it runs out.
    let too_late = Server {
        refuse: false,
        answer: |q| match q {
            b"DNS?" => vec![(ms(700), b"DNS bind".to_vec())],
            b"SNMP?" => vec![(Duration::ZERO, b"SNMP net-snmp".to_vec())],
            _ => Vec::new(),
        },
    };
    let (r, took, _) = one(&opts(), too_late);
    assert_eq!(took, opts().settle);
    let m = r.service.unwrap();
    assert_eq!(
        (m.service.as_str(), m.product.as_deref()),
        ("snmp", Some("net-snmp"))
    );
    assert_eq!(r.elapsed, Duration::ZERO, "the last answer came at once");
}

#[test]
fn a_soft_match_is_kept_when_nothing_better_comes() {
    let server = Server {
        refuse: false,
        answer: |q| match q {
            b"SNMP?" => vec![(Duration::ZERO, b"SNMP".to_vec())],
            _ => Vec::new(),
        },
    };
    let (r, took, _) = one(&opts(), server);
    // A soft match decides nothing: every probe runs its wait.
    assert_eq!(took, ms(2000));
    let m = r.service.unwrap();
    assert_eq!((m.service.as_str(), m.soft), ("snmp", true));
}

#[test]
fn only_the_first_datagram_of_a_probe_counts() {
    let server = Server {
        refuse: false,
        answer: |q| match q {
            b"DNS?" => vec![
                (Duration::ZERO, b"garbage".to_vec()),
                (Duration::ZERO, b"DNS dnsmasq-2.90".to_vec()),
            ],
            _ => Vec::new(),
        },
    };
    let (r, took, _) = one(&opts(), server);
    assert!(r.answered && r.service.is_none(), "{r:?}");
    assert_eq!(r.banner.as_deref(), Some("garbage"));
    assert_eq!(took, ms(2000));
}

#[test]
fn port_unreachable_means_closed() {
    let refusing = Server {
        refuse: true,
        answer: |_| Vec::new(),
    };
    let (r, took, log) = one(&opts(), refusing);
    assert_eq!(took, Duration::ZERO);
    assert_eq!(log[6..], lines(&["0 close #0", "0 close #1", "0 close #2"]));
    assert_eq!((r.answered, r.error), (false, Some(PortError::Refused)));
}

#[test]
fn the_port_budget_cuts_every_probe() {
    let o = VersionOptions {
        port_budget: ms(700),
        ..opts()
    };
    let (r, took, log) = one(&o, silent());
    assert_eq!(took, ms(700));
    // Resent half-way through the wait the budget leaves them.
    assert_eq!(
        log[6..9],
        lines(&["350 send #0 DNS?", "350 send #1 SNMP?", "350 send #2 NTP?"])
    );
    assert_eq!((r.error, r.probes_sent), (Some(PortError::OutOfTime), 6));
}

#[test]
fn out_of_descriptors_lowers_the_parallelism_and_loses_no_probe() {
    let db = test_db();
    let mut sim = Sim::new(&db, &[(HOST, PORT)], &opts(), silent());
    sim.fd_limit = 2;
    let took = sim.run();
    assert_eq!(sim.log[4..6], lines(&["0 open #2", "0 EMFILE #2"]));
    assert_eq!(sim.peak, 2);
    // Ntp waits for Dns's socket: it starts at 1 s and ends at 3 s.
    assert!(
        sim.log.contains(&"1000 open #3".to_owned()),
        "{:?}",
        sim.log
    );
    assert_eq!(took, ms(3000));
    let r = sim.s.into_results().remove(0);
    assert_eq!((r.probes_sent, r.error), (6, None));
}

#[test]
fn ports_share_the_socket_limit_and_keep_their_order() {
    let db = test_db();
    let o = VersionOptions {
        max_parallel: 3,
        ..opts()
    };
    let mut sim = Sim::new(&db, &[(HOST, PORT), (HOST, PORT + 1)], &o, silent());
    let took = sim.run();
    assert_eq!(sim.peak, 3);
    // The first port's three probes, then the second's as sockets free up.
    assert_eq!(took, ms(4000));
    let r = sim.s.into_results();
    assert_eq!(
        r.iter()
            .map(|r| (r.port, r.probes_sent))
            .collect::<Vec<_>>(),
        [(PORT, 6), (PORT + 1, 6)]
    );
}

#[test]
fn stop_ends_every_port_at_once() {
    let db = test_db();
    let mut sim = Sim::new(&db, &[(HOST, PORT), (HOST, PORT + 1)], &opts(), silent());
    let took = sim.run_until(Some(ms(100)));
    assert_eq!(took, ms(100));
    assert_eq!(
        sim.log
            .iter()
            .filter(|l| l.starts_with("100 close"))
            .count(),
        6
    );
    let r = sim.s.into_results();
    assert!(
        r.iter().all(|r| r.error == Some(PortError::Stopped)),
        "{r:?}"
    );
    // Stopped before anything started: nothing was sent.
    let mut s = UdpVersionSession::new(&db, &[(HOST, PORT)], &opts(), 10);
    s.stop(Instant::now());
    assert!(s.is_done() && s.poll_action().is_none());
    let r = s.into_results().remove(0);
    assert_eq!((r.probes_sent, r.error), (0, Some(PortError::Stopped)));
}

#[test]
fn a_failed_send_does_not_count() {
    let db = test_db();
    let mut s = UdpVersionSession::new(&db, &[(HOST, PORT)], &opts(), 10);
    let now = Instant::now();
    s.handle_timeout(now);
    let Some(UdpAction::Open { id, .. }) = s.poll_action() else {
        panic!("no open");
    };
    s.on_send_failed(now, id);
    s.stop(now);
    assert_eq!(s.into_results()[0].probes_sent, 2);
}
