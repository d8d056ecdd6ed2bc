//! Reading the XML of the real nmap (the Debian package; scripts/test.sh installs it).
//! Scans only 127.0.0.1.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use monban_engine::types::{PortState, Protocol};
use monban_output::read::{read, ScanFile};

/// Runs `nmap -sT -Pn -n -p PORTS -oX - 127.0.0.1` and reads its output. Fails loudly
/// when nmap is missing.
fn nmap_localhost(ports: &str) -> ScanFile {
    let out = Command::new("nmap")
        .args(["-sT", "-Pn", "-n", "-p", ports, "-oX", "-", "127.0.0.1"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run nmap ({e}): this test needs the real nmap; install it \
                 (apt-get install nmap, as scripts/test.sh does)"
            )
        });
    assert!(
        out.status.success(),
        "nmap failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    read(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "cannot read nmap's XML: {e}\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A port of 1-1024 that refuses connections now, if any.
fn refused_low_port() -> Option<u16> {
    (1..=1024).find(|&p| {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, p));
        matches!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
        )
    })
}

#[test]
fn real_nmap_xml_gives_the_listener_open_and_closed_ports_closed() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = listener.local_addr().unwrap().port();
    // A port that was just free: closed (the kernel does not hand it out again at once).
    let closed = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let low_closed = refused_low_port();

    let f = nmap_localhost(&format!("1-1024,{open},{closed}"));
    // The listener must live until nmap is done.
    drop(listener);

    assert_eq!(f.scanner, "nmap");
    assert!(
        f.args.as_deref().is_some_and(|a| a.contains("-sT")),
        "{f:?}"
    );
    assert!(f.start.is_some());
    assert!(!f.truncated);
    assert_eq!(f.hosts.len(), 1, "{f:?}");
    let h = &f.hosts[0];
    assert_eq!(h.addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(h.status, "up");

    assert_eq!(
        h.state_of(Protocol::Tcp, open),
        Some(PortState::Open),
        "{h:?}"
    );
    let listed = h
        .ports
        .iter()
        .find(|p| p.port == open && p.proto == Protocol::Tcp)
        .expect("the open port is listed");
    assert_eq!(listed.reason.as_deref(), Some("syn-ack"));

    // Closed ports are summarised (there are more than 25): answered through extraports.
    assert_eq!(
        h.state_of(Protocol::Tcp, closed),
        Some(PortState::Closed),
        "{h:?}"
    );
    assert!(
        !h.ports.iter().any(|p| p.port == closed),
        "the closed port should be summarised, not listed: {h:?}"
    );
    if let Some(low) = low_closed {
        assert_eq!(
            h.state_of(Protocol::Tcp, low),
            Some(PortState::Closed),
            "{low}"
        );
    }
    // Every scanned port has a state, listed or summarised; others have none.
    let scanned: BTreeSet<u16> = (1..=1024).chain([open, closed]).collect();
    for &p in &scanned {
        assert!(h.state_of(Protocol::Tcp, p).is_some(), "port {p}: {h:?}");
    }
    assert_eq!(h.state_of(Protocol::Tcp, 0), None);
    assert_eq!(h.state_of(Protocol::Udp, open), None);
    let summarised: u64 = h.extra.iter().map(|e| e.count).sum();
    assert_eq!(summarised + h.ports.len() as u64, scanned.len() as u64);
}
