//! Hand-built scan results shared by the sinks' tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monban_engine::types::{
    CertDetail, HostReport, HostStatus, PortResult, PortState, Protocol, Reason, RiskNote,
    ScanType, ServiceDetail, TlsDetail,
};

use crate::{RunInfo, RunStats};

/// 2026-11-21 05:30:00 UTC.
pub const START: u64 = 1_795_239_000;

/// A fixed service table so that tests do not depend on the real one.
pub fn test_services(port: u16, proto: Protocol) -> Option<&'static str> {
    match (port, proto) {
        (22, Protocol::Tcp) => Some("ssh"),
        (80, Protocol::Tcp) => Some("http"),
        _ => None,
    }
}

pub fn at(secs: u64, millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
}

/// A SYN scan of every TCP port, with a hostile command line.
pub fn run_info() -> RunInfo {
    RunInfo {
        args: "monban scan -sS \u{1b}[31m<&>".to_string(),
        start: at(START, 0),
        scan_type: ScanType::Syn,
        tcp_ports: (1..=65535).collect(),
        version: "0.1.0",
        num_hosts_hint: Some(4),
        resumed: false,
    }
}

/// Ended 12.34 s after [`START`]; 3 hosts up of 4.
pub fn stats(interrupted: bool) -> RunStats {
    RunStats {
        end: at(START + 12, 340),
        elapsed: Duration::from_millis(12_340),
        hosts_up: 3,
        hosts_down: 1,
        hosts_total: 4,
        interrupted,
    }
}

pub fn tcp(port: u16, state: PortState, reason: Reason, ttl: Option<u8>) -> PortResult {
    PortResult {
        port,
        proto: Protocol::Tcp,
        state,
        reason,
        ttl,
    }
}

fn up(addr: IpAddr, name: Option<&str>, ports: Vec<PortResult>) -> HostReport {
    HostReport {
        addr,
        name: name.map(str::to_string),
        status: HostStatus::Up,
        status_reason: Reason::UserSet,
        status_ttl: None,
        start: at(START, 500),
        end: at(START + 10, 250),
        ports,
        timed_out: false,
        incomplete: false,
        srtt: None,
        mac: None,
        services: Vec::new(),
        risks: Vec::new(),
    }
}

/// Ports of [`host_v4`] that are closed (64000 of them).
pub const V4_CLOSED: &str = "1-21,23-79,81-468,2000-8079,8082-65535";

/// Every port of 1..=65535 except 469..=999 (not scanned): 22 and 80 open, 8080-8081
/// unfiltered, 1000-1599 filtered (no-response), 1600-1999 filtered (admin-prohibited),
/// the other 64000 closed (reset). Its name is hostile.
pub fn host_v4() -> HostReport {
    let mut ports = Vec::new();
    for port in (1..=468).chain(1000..=65535) {
        let p = match port {
            22 | 80 => tcp(port, PortState::Open, Reason::SynAck, Some(63)),
            8080 | 8081 => tcp(port, PortState::Unfiltered, Reason::Reset, Some(63)),
            1000..=1599 => tcp(port, PortState::Filtered, Reason::NoResponse, None),
            1600..=1999 => tcp(
                port,
                PortState::Filtered,
                Reason::AdminProhibited,
                Some(254),
            ),
            _ => tcp(port, PortState::Closed, Reason::Reset, Some(63)),
        };
        ports.push(p);
    }
    HostReport {
        srtt: Some(Duration::from_micros(210)),
        services: Vec::new(),
        risks: Vec::new(),
        ..up(
            IpAddr::V4(Ipv4Addr::new(10, 77, 1, 2)),
            Some("evil<&\"'\u{1}"),
            ports,
        )
    }
}

/// An IPv6 host whose 30 ports (1-30) are all closed: everything is collapsed.
pub fn host_v6() -> HostReport {
    let ports = (1..=30)
        .map(|p| tcp(p, PortState::Closed, Reason::ConnRefused, None))
        .collect();
    up(
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        None,
        ports,
    )
}

/// An interrupted host: only 3 ports resolved.
pub fn host_small() -> HostReport {
    HostReport {
        srtt: Some(Duration::from_micros(12_345)),
        services: Vec::new(),
        risks: Vec::new(),
        incomplete: true,
        ..up(
            IpAddr::V4(Ipv4Addr::new(10, 77, 1, 3)),
            None,
            vec![
                tcp(22, PortState::Open, Reason::SynAck, Some(63)),
                tcp(23, PortState::Closed, Reason::ConnRefused, None),
                tcp(443, PortState::Filtered, Reason::NoResponse, None),
            ],
        )
    }
}

/// A host that did not answer.
pub fn host_down() -> HostReport {
    HostReport {
        status: HostStatus::Down,
        status_reason: Reason::NoResponse,
        ..up(IpAddr::V4(Ipv4Addr::new(10, 77, 1, 8)), None, Vec::new())
    }
}

/// A host whose --host-timeout ran out.
pub fn host_timed_out() -> HostReport {
    HostReport {
        timed_out: true,
        ..up(
            IpAddr::V4(Ipv4Addr::new(10, 77, 1, 9)),
            None,
            vec![tcp(22, PortState::Open, Reason::SynAck, Some(63))],
        )
    }
}

/// A host after `-sV`: 22 OpenSSH (hard match with CPE and OS), 25 a hostile SMTP
/// server (markup, separators and controls in every field), 80 a soft http match,
/// 443 open without a detail.
pub fn host_versions() -> HostReport {
    let detail = |port: u16, name: &str| ServiceDetail {
        port,
        proto: Protocol::Tcp,
        name: name.to_string(),
        product: None,
        version: None,
        info: None,
        hostname: None,
        os: None,
        cpe: Vec::new(),
        soft: false,
        tunnel: None,
        tls: None,
    };
    HostReport {
        services: vec![
            ServiceDetail {
                product: Some("OpenSSH".to_string()),
                version: Some("9.2p1 Debian 2+deb12u3".to_string()),
                info: Some("protocol 2.0".to_string()),
                os: Some("Linux".to_string()),
                cpe: vec![
                    "cpe:/a:openbsd:openssh:9.2p1".to_string(),
                    "cpe:/o:linux:linux_kernel".to_string(),
                ],
                ..detail(22, "ssh")
            },
            ServiceDetail {
                product: Some("Evil<&\"'/,\tmta".to_string()),
                version: Some("1.0\u{1b}[31m".to_string()),
                info: Some("a\nb".to_string()),
                hostname: Some("mail<x>".to_string()),
                cpe: vec!["cpe:/a:evil:<mta>".to_string()],
                ..detail(25, "smtp")
            },
            ServiceDetail {
                soft: true,
                ..detail(80, "http")
            },
        ],
        ..up(
            IpAddr::V4(Ipv4Addr::new(10, 77, 1, 4)),
            None,
            vec![
                tcp(22, PortState::Open, Reason::SynAck, Some(63)),
                tcp(25, PortState::Open, Reason::SynAck, Some(63)),
                tcp(80, PortState::Open, Reason::SynAck, Some(63)),
                tcp(443, PortState::Open, Reason::SynAck, Some(63)),
            ],
        )
    }
}

/// A host after `-sV` with TLS: 443 nginx found inside TLS (with a certificate whose
/// subject carries hostile text), 8443 TLS whose certificate could not be read and where
/// nothing answered inside, and 22 plain ssh; plus a risk note on 23.
pub fn host_tls() -> HostReport {
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let https = ServiceDetail {
        port: 443,
        proto: Protocol::Tcp,
        name: "http".to_string(),
        product: Some("nginx".to_string()),
        version: Some("1.22.1".to_string()),
        info: None,
        hostname: None,
        os: None,
        cpe: vec!["cpe:/a:nginx:nginx:1.22.1".to_string()],
        soft: false,
        tunnel: Some("ssl".to_string()),
        tls: Some(TlsDetail {
            version: "TLSv1.3".to_string(),
            cipher: "TLS_AES_256_GCM_SHA384".to_string(),
            cert: Some(CertDetail {
                subject: vec![
                    pair("CN", "tls.monban.test"),
                    pair("O", "Evil, <Inc>\n\u{1b}[31m"),
                ],
                issuer: vec![pair("CN", "Monban Lab CA"), pair("O", "Monban")],
                not_before: "2025-01-01T00:00:00Z".to_string(),
                not_after: "2035-06-30T23:59:59Z".to_string(),
                alt_names: vec![
                    "DNS:tls.monban.test".to_string(),
                    "IP:10.77.1.7".to_string(),
                ],
                key: Some("rsa 2048".to_string()),
                signature: "sha256WithRSAEncryption".to_string(),
                sha256: "ab".repeat(32),
            }),
            cert_error: None,
        }),
    };
    let unknown_tls = ServiceDetail {
        port: 8443,
        name: "ssl".to_string(),
        product: None,
        version: None,
        cpe: Vec::new(),
        soft: true,
        tunnel: None,
        tls: Some(TlsDetail {
            version: "TLSv1.2".to_string(),
            cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string(),
            cert: None,
            cert_error: Some("certificate truncated".to_string()),
        }),
        ..https.clone()
    };
    let ssh = ServiceDetail {
        port: 22,
        name: "ssh".to_string(),
        product: Some("OpenSSH".to_string()),
        version: Some("9.2p1".to_string()),
        cpe: Vec::new(),
        tunnel: None,
        tls: None,
        ..https.clone()
    };
    HostReport {
        services: vec![ssh, https, unknown_tls],
        risks: vec![RiskNote {
            port: 23,
            proto: Protocol::Tcp,
            level: "high".to_string(),
            name: "telnet".to_string(),
            why: "Clear text.".to_string(),
            advice: "Use SSH.".to_string(),
        }],
        ..up(
            IpAddr::V4(Ipv4Addr::new(10, 77, 1, 7)),
            None,
            vec![
                tcp(22, PortState::Open, Reason::SynAck, Some(63)),
                tcp(23, PortState::Open, Reason::SynAck, Some(63)),
                tcp(443, PortState::Open, Reason::SynAck, Some(63)),
                tcp(8443, PortState::Open, Reason::SynAck, Some(63)),
            ],
        )
    }
}

/// A host with two risky open ports (one note with hostile text) and one plain one.
pub fn host_risks() -> HostReport {
    let note = |port: u16, level: &str, name: &str, why: &str, advice: &str| RiskNote {
        port,
        proto: Protocol::Tcp,
        level: level.to_string(),
        name: name.to_string(),
        why: why.to_string(),
        advice: advice.to_string(),
    };
    HostReport {
        risks: vec![
            note(
                23,
                "high",
                "telnet",
                "Logins cross the network in clear text.",
                "Use SSH instead.",
            ),
            note(
                31337,
                "critical",
                "evil<&\"'>",
                "Bad \u{1b}[31m<b>&\"'\nthing.",
                "Close <it> & \"now\".",
            ),
        ],
        ..up(
            IpAddr::V4(Ipv4Addr::new(10, 77, 1, 5)),
            None,
            vec![
                tcp(22, PortState::Open, Reason::SynAck, Some(63)),
                tcp(23, PortState::Open, Reason::SynAck, Some(63)),
                tcp(31337, PortState::Open, Reason::SynAck, Some(63)),
            ],
        )
    }
}
