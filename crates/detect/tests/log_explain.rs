//! `log::explain`: what one firewall log record means, checked against the tutorial's
//! reference record (docs/background.md, "Reading a firewall log") and the usual cases.
//! Records are built by hand, independently of the parsers.

use monban_detect::log::explain::{explain, CampaignRef, Explanation, PacketKind, PortClass};
use monban_detect::log::{Action, Direction, LogAddr, LogFormat, LogProto, LogRecord};
use monban_detect::Timestamp;
use monban_probes::RiskLevel;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn blank(format: LogFormat, direction: Direction, action: Action, protocol: LogProto) -> LogRecord {
    LogRecord {
        direction,
        action,
        protocol,
        ..LogRecord::blank(format)
    }
}

/// A kernel-log TCP record, inbound from 198.51.100.7:40000 to 192.0.2.10.
fn kernel_tcp(action: Action, port: u16, flags: u8, time: Option<u64>) -> LogRecord {
    let mut r = blank(LogFormat::Kernel, Direction::Inbound, action, LogProto::Tcp);
    r.time = time.map(|s| Timestamp::from_secs_nanos(s, 0));
    r.src = Some(LogAddr::Ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))));
    r.dst = Some(LogAddr::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))));
    r.src_port = Some(40000);
    r.dst_port = Some(port);
    r.tcp_flags = Some(flags);
    r
}

/// Seconds since the epoch of 00:00 UTC on the given day (proleptic Gregorian).
fn day(y: i64, m: i64, d: i64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    ((era * 146_097 + doe - 719_468) * 86_400) as u64
}

fn worm_ids(e: &Explanation) -> Vec<&'static str> {
    e.worms.iter().map(|m| m.worm.id).collect()
}

fn text(e: &Explanation) -> String {
    e.to_text()
}

fn reference_record() -> LogRecord {
    let mut r = blank(
        LogFormat::PersonalFirewallJa,
        Direction::Inbound,
        Action::Blocked,
        LogProto::Tcp,
    );
    r.time = Some(Timestamp::from_secs_nanos(1_006_273_365, 0));
    r.src = Some(LogAddr::Masked("210.3.xxx.xxx".to_string()));
    r.dst_port = Some(80);
    r.service = Some("http".to_string());
    r.tcp_flags = Some(0x02);
    r
}

#[test]
fn explain_reference_record_of_the_tutorial() {
    assert_eq!(day(2001, 11, 20) + 16 * 3600 + 22 * 60 + 45, 1_006_273_365);
    let e = explain(&reference_record(), None);
    let t = text(&e);
    println!("{t}");

    // Inbound: someone outside knocked.
    assert_eq!(e.direction, Direction::Inbound);
    assert_eq!(e.remote, Some(LogAddr::Masked("210.3.xxx.xxx".to_string())));
    assert!(
        t.contains("Inbound: someone outside knocked on this host"),
        "{t}"
    );
    assert!(
        t.contains("210.3.xxx.xxx (partly masked in the log)"),
        "{t}"
    );
    assert!(t.contains("2001-11-20 16:22:45 UTC"), "{t}");

    // A plain TCP connection attempt: a full handshake attempt, not a stealth scan.
    assert_eq!(e.packet, PacketKind::Syn);
    assert!(!e.packet.is_stealth());
    assert!(
        t.contains("plain TCP connection attempt (SYN), the opening of a full handshake: not a stealth scan"),
        "{t}"
    );

    // http / 80, well-known.
    assert_eq!(e.port, Some(80));
    assert_eq!(e.local_port, Some(80));
    assert_eq!(e.service.as_deref(), Some("http"));
    assert_eq!(e.port_class, Some(PortClass::WellKnown));
    assert!(t.contains("port 80 (http)"), "{t}");
    assert!(t.contains("Port 80 is a well-known port (0-1023)"), "{t}");
    assert_eq!(e.risk, None);

    // The worms of that date on port 80: Code Red (July 2001 on), Code Red II, Nimda
    // (September 2001); nothing from later years.
    assert!(e.date_known);
    assert_eq!(worm_ids(&e), vec!["code-red", "code-red-ii", "nimda"]);
    assert!(
        t.contains("Worms that hit 80/tcp around that date (November 2001):"),
        "{t}"
    );
    assert!(t.contains("- Code Red (2001, from July):"), "{t}");
    assert!(t.contains("- Code Red II (2001, from August):"), "{t}");
    assert!(t.contains("- Nimda (2001, from September):"), "{t}");
    assert!(t.contains("CERT CA-2001-19"), "{t}");
    assert!(t.contains("CERT CA-2001-26"), "{t}");
    assert!(!t.contains("Slapper") && !t.contains("Santy"), "{t}");

    // Blocked on an unused port: already protected.
    assert_eq!(e.port_unused, Some(true));
    assert!(
        t.contains("blocked on an unused port") && t.contains("already protected"),
        "{t}"
    );
    assert!(e.advice.contains("Nothing to do"), "{}", e.advice);

    // The JSON carries every field and the text.
    let j = e.to_json();
    assert_eq!(j["format"], "personal-firewall-ja");
    assert_eq!(j["time"], "2001-11-20T16:22:45.000000Z");
    assert_eq!(j["direction"], "inbound");
    assert_eq!(j["action"], "blocked");
    assert_eq!(j["protocol"], "tcp");
    assert_eq!(j["protocol_number"], 6);
    assert_eq!(j["remote"]["address"], "210.3.xxx.xxx");
    assert_eq!(j["remote"]["masked"], true);
    assert_eq!(j["local"]["port"], 80);
    assert_eq!(j["port"], 80);
    assert_eq!(j["service"], "http");
    assert_eq!(j["port_class"], "well-known");
    assert!(j["risk"].is_null());
    assert_eq!(j["packet"]["kind"], "syn");
    assert_eq!(j["packet"]["stealth"], false);
    assert_eq!(j["packet"]["tcp_flags"], 2);
    assert_eq!(j["port_unused"], true);
    assert_eq!(j["date_known"], true);
    assert_eq!(j["worms"][0]["id"], "code-red");
    assert_eq!(j["worms"][0]["matched"], "80/tcp");
    assert_eq!(j["worms"][0]["active_first"], "July 2001");
    assert!(j["worms"][2]["sources"]
        .as_array()
        .unwrap()
        .contains(&"CERT CA-2001-26".into()));
    assert!(j["campaign"].is_null());
    assert_eq!(j["summary"].as_array().unwrap().len(), e.summary.len());
    assert_eq!(j["summary"][0], e.summary[0].as_str());
    assert_eq!(t.lines().count(), e.summary.len());
}

#[test]
fn explain_fin_probe_blocked_is_stealth() {
    let r = kernel_tcp(Action::Blocked, 22, 0x01, Some(day(2024, 3, 1)));
    let e = explain(&r, None);
    let t = text(&e);
    assert_eq!(e.packet, PacketKind::Fin);
    assert!(e.packet.is_stealth());
    assert!(t.contains("FIN probe") && t.contains("stealth scan"), "{t}");
    assert!(
        t.contains("points at a scanning tool, not at a worm"),
        "{t}"
    );
    assert!(e.worms.is_empty());
    assert_eq!(e.port_unused, None);
    assert!(e.advice.contains("already protected"), "{}", e.advice);
    assert_eq!(e.to_json()["packet"]["stealth"], true);

    for (flags, kind) in [(0x00, PacketKind::Null), (0x29, PacketKind::Xmas)] {
        let e = explain(&kernel_tcp(Action::Blocked, 22, flags, None), None);
        assert_eq!(e.packet, kind);
        assert!(e.packet.is_stealth());
        assert!(text(&e).contains("stealth scan"));
    }
}

#[test]
fn explain_ack_blocked() {
    let r = kernel_tcp(Action::Blocked, 443, 0x10, Some(day(2020, 6, 1)));
    let e = explain(&r, None);
    let t = text(&e);
    assert_eq!(e.packet, PacketKind::Ack);
    assert!(!e.packet.is_stealth());
    assert!(
        t.contains("firewall-mapping probe") && t.contains("stray packet of an old connection"),
        "{t}"
    );
    assert!(e.worms.is_empty());
    assert_eq!(e.to_json()["packet"]["kind"], "ack");
}

#[test]
fn explain_allowed_inbound_telnet_has_risk_note() {
    let r = kernel_tcp(Action::Allowed, 23, 0x02, Some(day(2010, 1, 5)));
    let e = explain(&r, None);
    let t = text(&e);
    let risk = e.risk.expect("telnet has a risk note");
    assert_eq!(risk.name, "telnet");
    assert_eq!(risk.level, RiskLevel::High);
    assert_eq!(e.service.as_deref(), Some("telnet"));
    assert!(t.contains("Risk of telnet (high)"), "{t}");
    assert!(t.contains(risk.why) && t.contains(risk.advice), "{t}");
    assert!(
        e.advice
            .contains("make sure that service is meant to be reachable from outside")
            && e.advice.contains("patched")
            && e.advice.contains("close the port"),
        "{}",
        e.advice
    );
    // No telnet worm in our table before 2016.
    assert!(e.worms.is_empty());
    assert!(
        t.contains("No worm in our table is known for this port at that date."),
        "{t}"
    );
    let j = e.to_json();
    assert_eq!(j["risk"]["level"], "high");
    assert_eq!(j["risk"]["name"], "telnet");

    // The same knock in 2017: Mirai and Hajime.
    let r = kernel_tcp(Action::Allowed, 23, 0x02, Some(day(2017, 4, 1)));
    assert_eq!(worm_ids(&explain(&r, None)), vec!["mirai", "hajime"]);
}

#[test]
fn explain_udp_1434_in_2003_is_slammer() {
    let mut r = blank(
        LogFormat::Kernel,
        Direction::Inbound,
        Action::Blocked,
        LogProto::Udp,
    );
    r.time = Some(Timestamp::from_secs_nanos(day(2003, 1, 25) + 3600, 0));
    r.src = Some(LogAddr::Ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))));
    r.src_port = Some(1060);
    r.dst_port = Some(1434);
    let e = explain(&r, None);
    let t = text(&e);
    assert_eq!(e.packet, PacketKind::Udp);
    assert_eq!(worm_ids(&e), vec!["slammer"]);
    assert!(t.contains("SQL Slammer"), "{t}");
    assert!(t.contains("CERT CA-2003-04"), "{t}");
    assert_eq!(e.port_class, Some(PortClass::Registered));
    assert_eq!(e.risk.map(|r| r.name), Some("ms-sql-m"));
    assert!(t.contains("UDP datagram"), "{t}");

    // The same port over TCP is not Slammer.
    let r = kernel_tcp(Action::Blocked, 1434, 0x02, Some(day(2003, 1, 25)));
    assert!(explain(&r, None).worms.is_empty());
}

#[test]
fn explain_445_in_2017_is_wannacry_and_conficker() {
    let r = kernel_tcp(Action::Blocked, 445, 0x02, Some(day(2017, 5, 13)));
    let e = explain(&r, None);
    let t = text(&e);
    assert_eq!(worm_ids(&e), vec!["conficker", "wannacry"]);
    assert!(
        t.contains("Conficker / Downadup / Kido (since November 2008, still active)"),
        "{t}"
    );
    assert!(t.contains("WannaCry (2017, from May)"), "{t}");
    assert!(t.contains("US-CERT TA17-132A"), "{t}");
    assert_eq!(e.risk.map(|r| r.level), Some(RiskLevel::Critical));
    // Blocked on a kernel log: no claim about the port being unused.
    assert_eq!(e.port_unused, None);

    // In July 2017 NotPetya fits too, flagged as a local-network spreader.
    let r = kernel_tcp(Action::Blocked, 445, 0x02, Some(day(2017, 6, 28)));
    let e = explain(&r, None);
    assert_eq!(worm_ids(&e), vec!["conficker", "wannacry", "notpetya"]);
    assert!(text(&e).contains("only if the source is on your own network"));
}

#[test]
fn explain_port_with_no_worm() {
    let r = kernel_tcp(Action::Blocked, 8443, 0x02, Some(day(2022, 2, 2)));
    let e = explain(&r, None);
    assert!(e.worms.is_empty());
    assert!(text(&e).contains("No worm in our table is known for this port at that date."));
    assert_eq!(e.to_json()["worms"].as_array().unwrap().len(), 0);
}

#[test]
fn explain_record_without_date_lists_worms_as_date_unknown() {
    let r = kernel_tcp(Action::Blocked, 80, 0x02, None);
    let e = explain(&r, None);
    let t = text(&e);
    assert!(!e.date_known);
    assert!(t.contains("The date is unknown"), "{t}");
    let ids = worm_ids(&e);
    for id in [
        "code-red",
        "code-red-ii",
        "nimda",
        "slapper",
        "welchia",
        "santy",
    ] {
        assert!(ids.contains(&id), "{id}: {ids:?}");
    }
    // Santy found its targets by search engine: said so.
    assert!(t.contains("through a search engine"), "{t}");
    let j = e.to_json();
    assert_eq!(j["date_known"], false);
    assert!(j["time"].is_null());
}

#[test]
fn explain_outbound_blocked() {
    let mut r = blank(
        LogFormat::Kernel,
        Direction::Outbound,
        Action::Blocked,
        LogProto::Tcp,
    );
    r.time = Some(Timestamp::from_secs_nanos(day(2017, 5, 20), 0));
    r.src = Some(LogAddr::Ip(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20))));
    r.dst = Some(LogAddr::Ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99))));
    r.src_port = Some(50123);
    r.dst_port = Some(445);
    r.tcp_flags = Some(0x02);
    let e = explain(&r, None);
    let t = text(&e);
    assert_eq!(
        e.remote,
        Some(LogAddr::Ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99))))
    );
    assert_eq!(e.remote_port, Some(445));
    assert_eq!(e.local_port, Some(50123));
    assert!(t.contains("Outbound: something on this host"), "{t}");
    assert!(e.advice.contains("find which program"), "{}", e.advice);
    assert!(e.advice.contains("`ss -tp`") && e.advice.contains("`lsof -i`"));
    // A host infected with WannaCry would send exactly this.
    assert!(worm_ids(&e).contains(&"wannacry"));
    assert!(
        t.contains("a host infected with one of them sends such packets"),
        "{t}"
    );
    assert_eq!(e.to_json()["remote"]["port"], 445);
}

#[test]
fn explain_ipv6_record() {
    let mut r = blank(
        LogFormat::Kernel,
        Direction::Inbound,
        Action::Blocked,
        LogProto::Tcp,
    );
    r.time = Some(Timestamp::from_secs_nanos(day(2025, 9, 9), 0));
    let src: Ipv6Addr = "2001:db8::dead:beef".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8:1::10".parse().unwrap();
    r.src = Some(LogAddr::Ip(IpAddr::V6(src)));
    r.dst = Some(LogAddr::Ip(IpAddr::V6(dst)));
    r.src_port = Some(51515);
    r.dst_port = Some(22);
    r.tcp_flags = Some(0x02);
    let e = explain(&r, None);
    let t = text(&e);
    assert!(t.contains("2001:db8::dead:beef tried port 22 (ssh)"), "{t}");
    let j = e.to_json();
    assert_eq!(j["remote"]["family"], "ipv6");
    assert_eq!(j["local"]["address"], "2001:db8:1::10");

    // An ICMPv6 echo request is a ping.
    let mut r = blank(
        LogFormat::Kernel,
        Direction::Inbound,
        Action::Blocked,
        LogProto::Icmpv6,
    );
    r.src = Some(LogAddr::Ip(IpAddr::V6(src)));
    r.icmp = Some((128, 0));
    let e = explain(&r, None);
    assert!(e.packet.is_echo_request());
    assert!(text(&e).contains("a ping"));
    assert_eq!(e.port_class, None);
}

#[test]
fn explain_port_classes_at_their_boundaries() {
    for (port, class) in [
        (0, PortClass::WellKnown),
        (1023, PortClass::WellKnown),
        (1024, PortClass::Registered),
        (49151, PortClass::Registered),
        (49152, PortClass::Dynamic),
        (65535, PortClass::Dynamic),
    ] {
        assert_eq!(PortClass::of(port), class, "{port}");
        let e = explain(&kernel_tcp(Action::Blocked, port, 0x02, None), None);
        assert_eq!(e.port_class, Some(class), "{port}");
        assert_eq!(e.to_json()["port_class"], class.as_str());
    }
    assert_eq!(PortClass::WellKnown.as_str(), "well-known");
    assert_eq!(PortClass::Registered.as_str(), "registered");
    assert_eq!(PortClass::Dynamic.as_str(), "dynamic");
}

#[test]
fn explain_icmp_echo_in_2003_is_welchia() {
    let mut r = blank(
        LogFormat::Kernel,
        Direction::Inbound,
        Action::Blocked,
        LogProto::Icmp,
    );
    r.time = Some(Timestamp::from_secs_nanos(day(2003, 9, 1), 0));
    r.src = Some(LogAddr::Ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5))));
    r.icmp = Some((8, 0));
    let e = explain(&r, None);
    assert_eq!(e.packet.name(), "icmp-echo-request");
    assert_eq!(worm_ids(&e), vec!["welchia"]);
    assert!(text(&e).contains("a ping"));
    // A traceroute's time-exceeded is no worm.
    r.icmp = Some((11, 0));
    let e = explain(&r, None);
    assert!(e.worms.is_empty());
    assert!(text(&e).contains("traceroute"));
}

#[test]
fn explain_witty_by_source_port() {
    let mut r = blank(
        LogFormat::Kernel,
        Direction::Inbound,
        Action::Blocked,
        LogProto::Udp,
    );
    r.time = Some(Timestamp::from_secs_nanos(day(2004, 3, 20), 0));
    r.src_port = Some(4000);
    r.dst_port = Some(31337);
    let e = explain(&r, None);
    assert_eq!(worm_ids(&e), vec!["witty"]);
    assert_eq!(e.worms[0].matched, "from 4000/udp");
    // A month later, no.
    r.time = Some(Timestamp::from_secs_nanos(day(2004, 4, 20), 0));
    assert!(explain(&r, None).worms.is_empty());
}

#[test]
fn explain_campaign_is_referenced() {
    let r = kernel_tcp(Action::Blocked, 3389, 0x02, Some(day(2024, 1, 1)));
    let c = CampaignRef {
        id: 42,
        kind: "horizontal".to_string(),
    };
    let e = explain(&r, Some(&c));
    assert_eq!(e.campaign.as_ref(), Some(&c));
    assert!(text(&e).contains("part of scan #42 (horizontal)"));
    let j = e.to_json();
    assert_eq!(j["campaign"]["id"], 42);
    assert_eq!(j["campaign"]["kind"], "horizontal");
}

#[test]
fn explain_never_panics_on_empty_records() {
    let protos = [
        LogProto::Tcp,
        LogProto::Udp,
        LogProto::Icmp,
        LogProto::Icmpv6,
        LogProto::Other(47),
    ];
    let dirs = [
        Direction::Inbound,
        Direction::Outbound,
        Direction::Forwarded,
        Direction::Unknown,
    ];
    let actions = [Action::Blocked, Action::Allowed, Action::Unknown];
    let formats = [
        LogFormat::Kernel,
        LogFormat::JournalJson,
        LogFormat::Pfirewall,
        LogFormat::PersonalFirewallJa,
    ];
    for &p in &protos {
        for &d in &dirs {
            for &a in &actions {
                for &f in &formats {
                    let r = blank(f, d, a, p);
                    let e = explain(&r, None);
                    assert!(!e.summary.is_empty());
                    assert!(!e.advice.is_empty());
                    let j = e.to_json();
                    assert!(j["summary"].is_array());
                    // Every flag byte too.
                    if p == LogProto::Tcp && f == LogFormat::Kernel {
                        for flags in 0..=255u8 {
                            let mut r = r.clone();
                            r.tcp_flags = Some(flags);
                            r.dst_port = Some(u16::from(flags) * 257);
                            let _ = explain(&r, None).to_json();
                        }
                    }
                    if p == LogProto::Icmp {
                        for t in 0..=255u8 {
                            let mut r = r.clone();
                            r.icmp = Some((t, 255 - t));
                            let _ = explain(&r, None).to_text();
                        }
                    }
                }
            }
        }
    }
    // A record that names only a service, no port.
    let mut r = blank(
        LogFormat::PersonalFirewallJa,
        Direction::Inbound,
        Action::Allowed,
        LogProto::Tcp,
    );
    r.service = Some("telnet".to_string());
    let e = explain(&r, None);
    assert_eq!(e.port, Some(23));
    assert_eq!(e.risk.map(|r| r.name), Some("telnet"));
    // The far future and the epoch.
    let mut r = kernel_tcp(Action::Blocked, 80, 0x02, Some(u64::MAX / 1_000_000_000));
    let _ = explain(&r, None).to_text();
    r.time = Some(Timestamp::ZERO);
    assert!(explain(&r, None).worms.is_empty());
}
