//! Tests of the collapsing rule and of the fan-out.

use std::io;
use std::sync::{Arc, Mutex};

use monban_engine::types::{PortState, Protocol, Reason};

use crate::fixtures::*;
use crate::*;

fn closed(n: u16) -> Vec<PortResult> {
    (1..=n)
        .map(|p| tcp(p, PortState::Closed, Reason::Reset, Some(64)))
        .collect()
}

fn opts(open_only: bool, verbose: u8) -> SinkOptions {
    SinkOptions {
        reason: false,
        open_only,
        verbose,
        audit: false,
    }
}

#[test]
fn twenty_five_are_shown_twenty_six_are_collapsed() {
    let c = collapse(&closed(25), &opts(false, 0));
    assert_eq!(c.shown, closed(25));
    assert!(c.extra.is_empty());

    let c = collapse(&closed(26), &opts(false, 0));
    assert!(c.shown.is_empty());
    assert_eq!(
        c.extra,
        [ExtraPorts {
            state: PortState::Closed,
            count: 26,
            reasons: vec![ExtraReason {
                reason: Reason::Reset,
                proto: Protocol::Tcp,
                count: 26,
                ports: (1..=26).collect(),
            }],
        }]
    );
}

#[test]
fn verbosity_raises_the_limit() {
    // -v: 25 × 1, the same as without.
    assert_eq!(collapse(&closed(26), &opts(false, 1)).extra.len(), 1);
    // -vv: 50.
    assert_eq!(collapse(&closed(50), &opts(false, 2)).shown.len(), 50);
    assert_eq!(collapse(&closed(51), &opts(false, 2)).extra[0].count, 51);
    // -vvv: 75.
    assert_eq!(collapse(&closed(75), &opts(false, 3)).shown.len(), 75);
    assert_eq!(collapse(&closed(76), &opts(false, 3)).shown.len(), 0);
    // Extreme verbosity does not overflow.
    assert_eq!(collapse(&closed(1000), &opts(false, 255)).shown.len(), 1000);
}

#[test]
fn open_ports_are_never_collapsed() {
    let ports: Vec<_> = (1..=1000)
        .map(|p| tcp(p, PortState::Open, Reason::SynAck, Some(64)))
        .collect();
    for o in [opts(false, 0), opts(true, 0)] {
        let c = collapse(&ports, &o);
        assert_eq!(c.shown.len(), 1000);
        assert!(c.extra.is_empty());
    }
}

#[test]
fn open_only_collapses_every_other_state() {
    let ports = vec![
        tcp(1, PortState::Closed, Reason::Reset, Some(64)),
        tcp(2, PortState::Open, Reason::SynAck, Some(64)),
        tcp(3, PortState::Filtered, Reason::NoResponse, None),
        tcp(4, PortState::OpenFiltered, Reason::NoResponse, None),
    ];
    let c = collapse(&ports, &opts(true, 0));
    assert_eq!(c.shown, [ports[1]]);
    let states: Vec<(PortState, usize)> = c.extra.iter().map(|e| (e.state, e.count)).collect();
    assert_eq!(
        states,
        [
            (PortState::Closed, 1),
            (PortState::Filtered, 1),
            (PortState::OpenFiltered, 1)
        ]
    );
    // Without --open, these small states are shown.
    assert_eq!(collapse(&ports, &opts(false, 0)).shown, ports);
}

#[test]
fn reasons_are_counted_most_frequent_first() {
    let mut ports = Vec::new();
    for p in 1..=30u16 {
        let reason = match p % 3 {
            0 => Reason::AdminProhibited,
            _ => Reason::NoResponse,
        };
        ports.push(tcp(p, PortState::Filtered, reason, None));
    }
    ports.push(tcp(40, PortState::Filtered, Reason::NoResponse, None));
    let c = collapse(&ports, &opts(false, 0));
    assert_eq!(c.extra.len(), 1);
    let e = &c.extra[0];
    assert_eq!(e.count, 31);
    let got: Vec<(&str, usize, String)> = e
        .reasons
        .iter()
        .map(|r| {
            (
                r.reason.as_str(),
                r.count,
                monban_engine::ports::format_ranges(&r.ports),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "no-response",
                21,
                "1-2,4-5,7-8,10-11,13-14,16-17,19-20,22-23,25-26,28-29,40".to_string()
            ),
            (
                "admin-prohibited",
                10,
                "3,6,9,12,15,18,21,24,27,30".to_string()
            ),
        ]
    );
}

#[test]
fn shown_ports_are_sorted_and_states_ordered() {
    let mut ports = closed(30);
    ports.push(tcp(9, PortState::Open, Reason::SynAck, Some(64)));
    ports.reverse();
    ports.extend((100..=130).map(|p| tcp(p, PortState::Filtered, Reason::NoResponse, None)));
    let c = collapse(&ports, &opts(false, 0));
    assert_eq!(c.shown, [tcp(9, PortState::Open, Reason::SynAck, Some(64))]);
    let states: Vec<PortState> = c.extra.iter().map(|e| e.state).collect();
    assert_eq!(states, [PortState::Closed, PortState::Filtered]);
    assert_eq!(c.extra[0].reasons[0].ports, (1..=30).collect::<Vec<u16>>());
}

#[test]
fn empty_input() {
    assert_eq!(collapse(&[], &opts(true, 0)), Collapsed::default());
}

/// A writer that fails every write.
struct Broken;

impl io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer whose bytes the test can read after the sink took it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn multisink_keeps_going_and_returns_the_first_error() {
    let (a, b) = (Shared::default(), Shared::default());
    let mut multi = MultiSink::new();
    multi.push(Box::new(GrepSink::new(a.clone(), SinkOptions::default())));
    multi.push(Box::new(NormalSink::new(Broken, SinkOptions::default())));
    multi.push(Box::new(JsonSink::new(b.clone(), SinkOptions::default())));
    assert_eq!(multi.len(), 3);

    match multi.begin(&run_info()) {
        Err(OutputError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::StorageFull),
        other => panic!("expected the broken sink's error, got {other:?}"),
    }
    assert!(multi.host(&host_small()).is_err());
    assert!(multi.end(&stats(false)).is_err());

    // The healthy sinks got everything.
    let grep = a.text();
    assert!(grep.starts_with("# monban 0.1.0 scan initiated "));
    assert!(grep.contains("Host: 10.77.1.3 ()\tStatus: Up\n"));
    assert!(grep.ends_with("scanned in 12.34 seconds\n"));
    let events: Vec<String> = b
        .text()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(events, ["start", "host", "end"]);
}

#[test]
fn multisink_without_errors_is_ok() {
    let mut multi = MultiSink(vec![Box::new(XmlSink::new(
        Shared::default(),
        SinkOptions::default(),
    ))]);
    assert!(multi.begin(&run_info()).is_ok());
    assert!(multi
        .port(host_small().addr, &host_small().ports[0])
        .is_ok());
    assert!(multi.end(&stats(true)).is_ok());
    assert!(MultiSink::new().is_empty());
}

/// One run over `hosts` through every sink: normal, JSON Lines, XML and grepable text.
fn render_all(o: SinkOptions, hosts: &[HostReport]) -> [String; 4] {
    let mut normal = NormalSink::new(Vec::new(), o);
    let mut json = JsonSink::new(Vec::new(), o);
    let mut xml = XmlSink::new(Vec::new(), o);
    let mut grep = GrepSink::new(Vec::new(), o);
    let sinks: [&mut dyn Sink; 4] = [&mut normal, &mut json, &mut xml, &mut grep];
    for s in sinks {
        s.begin(&run_info()).unwrap();
        for h in hosts {
            s.host(h).unwrap();
        }
        s.end(&stats(false)).unwrap();
    }
    [
        normal.into_inner(),
        json.into_inner(),
        xml.into_inner(),
        grep.into_inner(),
    ]
    .map(|b| String::from_utf8(b).unwrap())
}

/// `--audit` in every format that carries it, for an exposed host and a visible one.
#[test]
fn audit_verdicts_in_normal_json_and_xml() {
    let exposed = host_risks();
    let mut visible = host_small();
    visible.incomplete = false;
    visible.ports = closed(3);
    visible
        .ports
        .push(tcp(80, PortState::Filtered, Reason::NoResponse, None));
    let hosts = [exposed, visible];
    let o = SinkOptions {
        audit: true,
        ..opts(false, 0)
    };

    let [text, body, x, _] = render_all(o, &hosts);
    assert!(
        text.contains(
            "Audit: EXPOSED: 3 open, 0 closed, 0 blocked of 3 ports\n  close first: \
             31337/tcp [critical], 23/tcp telnet [high], 22/tcp ssh\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Audit: VISIBLE: 0 open, 3 closed, 1 blocked of 4 ports\n  closed (visible): 1-3\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Audit: 1 exposed, 1 visible, 0 stealth, 0 not judged\n"),
        "{text}"
    );

    let audits: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "host")
        .map(|e| e["audit"].clone())
        .collect();
    assert_eq!(audits[0]["verdict"], "exposed");
    assert_eq!(audits[0]["open"][0]["port"], 31337);
    assert_eq!(audits[0]["open"][0]["risk"], "critical");
    assert_eq!(audits[0]["open"][1]["service"], "telnet");
    assert_eq!(audits[1]["verdict"], "visible");
    assert_eq!(audits[1]["closed"], "1-3");
    assert_eq!(audits[1]["blocked"], 1);

    assert!(
        x.contains("<postscript><script id=\"monban-audit\" output=\"10.77.1.5 Audit: EXPOSED: 3 open, 0 closed, 0 blocked of 3 ports&#10;"),
        "{x}"
    );
    assert!(
        x.contains("&#10;10.77.1.3 Audit: VISIBLE: 0 open, 3 closed, 1 blocked of 4 ports&#10;  closed (visible): 1-3&#10;"),
        "{x}"
    );
    assert!(
        x.contains("<table key=\"10.77.1.5\"><elem key=\"verdict\">exposed</elem></table><table key=\"10.77.1.3\"><elem key=\"verdict\">visible</elem></table></script></postscript>"),
        "{x}"
    );
    // One host script at most per host (nmap 7.93's ndiff cannot sort two).
    assert_eq!(x.matches("<hostscript>").count(), 1, "{x}");
    assert_eq!(x.matches("<script id=\"monban-risk\"").count(), 1, "{x}");
}

/// A MAC address found by ARP / ND: normal output's `MAC Address:` line, XML's second
/// `<address>`, JSON's `mac`; nothing in grepable output, as in nmap's.
#[test]
fn mac_address_in_normal_xml_and_json() {
    let mut h = host_small();
    h.incomplete = false;
    h.status_reason = Reason::ArpResponse;
    h.mac = Some(monban_wire::MacAddr([0x02, 0x00, 0x5e, 0xab, 0xcd, 0xef]));
    let [text, body, x, g] = render_all(opts(false, 0), &[h]);
    assert!(text.contains("MAC Address: 02:00:5E:AB:CD:EF\n"), "{text}");
    assert!(
        x.contains("<address addr=\"10.77.1.3\" addrtype=\"ipv4\"/>\n<address addr=\"02:00:5E:AB:CD:EF\" addrtype=\"mac\"/>\n"),
        "{x}"
    );
    assert!(x.contains("reason=\"arp-response\""), "{x}");
    let host: serde_json::Value = body
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "host")
        .unwrap();
    assert_eq!(host["mac"], "02:00:5E:AB:CD:EF");
    assert_eq!(host["reason"], "arp-response");
    assert!(!g.contains("02:00:5E"), "{g}");
}
