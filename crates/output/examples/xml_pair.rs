//! Writes two nmap-XML files that differ, for checking them with nmap's `ndiff`:
//!
//! ```text
//! cargo run -p monban-output --example xml_pair -- /tmp/a.xml /tmp/b.xml
//! ndiff /tmp/a.xml /tmp/b.xml
//! ```
//!
//! The second scan is marked interrupted, so its document must still be complete.

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

use monban_engine::types::{
    HostReport, HostStatus, PortResult, PortState, Protocol, Reason, ScanType,
};
use monban_output::{RunInfo, RunStats, Sink, SinkOptions, XmlSink};

fn port(port: u16, state: PortState) -> PortResult {
    let (reason, ttl) = match state {
        PortState::Open => (Reason::SynAck, Some(63)),
        PortState::Closed => (Reason::Reset, Some(63)),
        _ => (Reason::NoResponse, None),
    };
    PortResult {
        port,
        proto: Protocol::Tcp,
        state,
        reason,
        ttl,
    }
}

fn host(
    addr: IpAddr,
    name: Option<&str>,
    open: &[u16],
    filtered: &[u16],
    start: u64,
) -> HostReport {
    let ports = (1..=1000)
        .map(|p| {
            if open.contains(&p) {
                port(p, PortState::Open)
            } else if filtered.contains(&p) {
                port(p, PortState::Filtered)
            } else {
                port(p, PortState::Closed)
            }
        })
        .collect();
    HostReport {
        addr,
        name: name.map(str::to_string),
        status: HostStatus::Up,
        status_reason: Reason::UserSet,
        status_ttl: None,
        start: UNIX_EPOCH + Duration::from_secs(start),
        end: UNIX_EPOCH + Duration::from_secs(start + 2),
        ports,
        timed_out: false,
        incomplete: false,
        srtt: Some(Duration::from_micros(250)),
        mac: None,
        services: Vec::new(),
        risks: Vec::new(),
    }
}

fn write(
    path: &str,
    start: u64,
    hosts: &[HostReport],
    interrupted: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let opts = SinkOptions {
        reason: false,
        open_only: false,
        verbose: 1,
        audit: false,
    };
    let mut sink = XmlSink::new(BufWriter::new(File::create(path)?), opts);
    sink.begin(&RunInfo {
        args: "monban scan -sS -p1-1000 --name \"<&'\u{1}>\" 10.77.1.2 fd00::2".to_string(),
        start: UNIX_EPOCH + Duration::from_secs(start),
        scan_type: ScanType::Syn,
        tcp_ports: (1..=1000).collect(),
        version: env!("CARGO_PKG_VERSION"),
        num_hosts_hint: Some(2),
        resumed: false,
    })?;
    for h in hosts {
        sink.host(h)?;
    }
    let up = hosts.iter().filter(|h| h.status == HostStatus::Up).count() as u64;
    sink.end(&RunStats {
        end: UNIX_EPOCH + Duration::from_secs(start + 5),
        elapsed: Duration::from_millis(5_020),
        hosts_up: up,
        hosts_down: hosts.len() as u64 - up,
        hosts_total: hosts.len() as u64,
        interrupted,
    })?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(a), Some(b)) = (args.next(), args.next()) else {
        return Err("usage: xml_pair A.xml B.xml".into());
    };
    let v4 = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 2));
    let v6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
    let t = 1_795_239_000;
    write(
        &a,
        t,
        &[
            host(v4, Some("web<&\"'\u{1}>.lab"), &[22, 80], &[], t),
            host(v6, None, &[443], &(600..=700).collect::<Vec<_>>(), t),
        ],
        false,
    )?;
    let mut down = host(v6, None, &[], &[], t + 3600);
    down.status = HostStatus::Down;
    down.status_reason = Reason::NoResponse;
    down.ports.clear();
    write(
        &b,
        t + 3600,
        &[
            host(v4, Some("web<&\"'\u{1}>.lab"), &[22, 443], &[80], t + 3600),
            down,
        ],
        true,
    )?;
    Ok(())
}
