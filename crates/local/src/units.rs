//! systemd `.socket` unit files: which unit stands behind a socket that systemd (pid 1, or a
//! `systemd --user`) holds open for socket activation.
//!
//! A unit file is an INI-like text: `[Section]` headers, then `Key=Value` lines; whitespace
//! around `=` is ignored, lines starting with `#` or `;` are comments, and a line ending in a
//! backslash goes on with the next line. Only the `[Socket]` section matters here:
//!
//! * `ListenStream=` is a TCP listener and `ListenDatagram=` a UDP one. The value is a port
//!   (`22`: every address, both families), `IPv4:PORT` (`127.0.0.1:631`) or
//!   `[IPv6]:PORT` (`[::1]:53`, `[fe80::1%eth0]:53`, whose scope is dropped). Paths
//!   (`/run/foo.sock`), abstract names (`@name`), `vsock:` addresses and anything else that
//!   is not an IP listener are skipped.
//! * An empty `ListenStream=` or `ListenDatagram=` forgets every listener set before it, of
//!   either kind, as systemd does.
//! * `Service=` names the unit that gets the connections; without it, the service is
//!   `NAME.service`, or the template `NAME@.service` when `Accept=yes` (one instance per
//!   connection).
//!
//! Not handled: drop-in directories (`NAME.socket.d/*.conf`), specifiers (`%i`), and
//! `BindIPv6Only=`, so a bare port or `[::]` is taken to cover both families. Template files
//! (`NAME@.socket`) are not loaded: only their instances can listen.

use monban_engine::Protocol;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Unit directories in precedence order: a unit in an earlier one hides the same name in
/// later ones.
pub const DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// A `.socket` unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketUnit {
    /// Unit name, `ssh.socket`.
    pub name: String,
    /// Its IP listeners, in file order.
    pub listens: Vec<Listen>,
    /// The service it activates, `ssh.service` (`ssh@.service` for `Accept=yes`).
    pub service: String,
}

/// One IP listener of a socket unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// TCP for `ListenStream=`, UDP for `ListenDatagram=`.
    pub proto: Protocol,
    /// The address; `None` for a bare port, which listens on every address.
    pub addr: Option<IpAddr>,
    /// The port.
    pub port: u16,
}

/// Parses unit file `text` of the unit called `name` (`ssh.socket`).
pub fn parse(name: &str, text: &str) -> SocketUnit {
    let mut listens = Vec::new();
    let mut service = None;
    let mut accept = false;
    let mut in_socket = false;
    for line in logical_lines(text) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            in_socket = line == "[Socket]";
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if !in_socket {
            continue;
        }
        let value = value.trim();
        let proto = match key.trim() {
            "ListenStream" => Protocol::Tcp,
            "ListenDatagram" => Protocol::Udp,
            "Service" => {
                service = (!value.is_empty()).then(|| value.to_string());
                continue;
            }
            "Accept" => {
                accept = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "1" | "yes" | "y" | "true" | "t" | "on"
                );
                continue;
            }
            _ => continue,
        };
        if value.is_empty() {
            listens.clear();
        } else if let Some((addr, port)) = listen_addr(value) {
            listens.push(Listen { proto, addr, port });
        }
    }
    let stem = name.strip_suffix(".socket").unwrap_or(name);
    let service = service.unwrap_or_else(|| match accept {
        true => format!("{stem}@.service"),
        false => format!("{stem}.service"),
    });
    SocketUnit {
        name: name.to_string(),
        listens,
        service,
    }
}

/// The text's lines with backslash continuations joined, as systemd reads them: comment
/// lines are dropped first, even inside a continued value, and a line ending in an odd
/// number of backslashes goes on, its last backslash becoming a space.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with(['#', ';']) {
            continue;
        }
        let backslashes = line.len() - line.trim_end_matches('\\').len();
        if backslashes % 2 == 1 {
            pending.push_str(line.strip_suffix('\\').unwrap_or(line));
            pending.push(' ');
        } else {
            pending.push_str(line);
            out.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

/// A listen value as address and port, if it is an IP listener.
fn listen_addr(value: &str) -> Option<(Option<IpAddr>, u16)> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return Some((None, port(value)?));
    }
    if let Some(rest) = value.strip_prefix('[') {
        let (addr, port_text) = rest.split_once("]:")?;
        let addr = addr.split_once('%').map_or(addr, |(a, _scope)| a);
        return Some((
            Some(IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)),
            port(port_text)?,
        ));
    }
    let (addr, port_text) = value.rsplit_once(':')?;
    Some((
        Some(IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?)),
        port(port_text)?,
    ))
}

/// A port in 1..=65535, digits only.
fn port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&p| p != 0)
}

/// Reads every `*.socket` file of `dirs` (give them in precedence order, as [`DIRS`]); a
/// name found in an earlier directory hides it in later ones. Unreadable directories and
/// files are skipped as if absent. Sorted by name.
pub fn load(dirs: &[&Path]) -> Vec<SocketUnit> {
    let mut units = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !name.ends_with(".socket") || name.ends_with("@.socket") || units.contains_key(&name)
            {
                continue;
            }
            // A masked unit is a link to /dev/null: empty, it hides the vendor's file.
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                let unit = parse(&name, &text);
                units.insert(name, unit);
            }
        }
    }
    units.into_values().collect()
}

/// The units with a listener for `proto` and `port` that covers `addr`: a bare port covers
/// every address, `0.0.0.0` every IPv4 address, `::` every address; any other address covers
/// itself (an IPv4-mapped IPv6 `addr` counts as its IPv4 address).
pub fn matching(
    units: &[SocketUnit],
    proto: Protocol,
    addr: IpAddr,
    port: u16,
) -> Vec<&SocketUnit> {
    let addr = addr.to_canonical();
    let covers = |l: &Listen| match l.addr {
        None => true,
        Some(IpAddr::V6(a)) if a.is_unspecified() => true,
        Some(IpAddr::V4(a)) if a.is_unspecified() => addr.is_ipv4(),
        Some(a) => a.to_canonical() == addr,
    };
    units
        .iter()
        .filter(|u| {
            u.listens
                .iter()
                .any(|l| l.proto == proto && l.port == port && covers(l))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(proto: Protocol, addr: &str, port: u16) -> Listen {
        Listen {
            proto,
            addr: (!addr.is_empty()).then(|| addr.parse().unwrap()),
            port,
        }
    }
    use Protocol::{Tcp, Udp};

    const SSH: &str = "\
[Unit]
Description=OpenBSD Secure Shell server socket
Before=sockets.target
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Socket]
ListenStream=22
Accept=yes

[Install]
WantedBy=sockets.target
";

    const CUPS: &str = "\
[Unit]
Description=CUPS Scheduler
PartOf=cups.service

[Socket]
ListenStream=/run/cups/cups.sock
ListenStream = 127.0.0.1:631
ListenStream=[::1]:631
BindIPv6Only=ipv6-only

[Install]
WantedBy=sockets.target
";

    #[test]
    fn ssh_accept() {
        let u = parse("ssh.socket", SSH);
        assert_eq!(u.name, "ssh.socket");
        assert_eq!(u.listens, [listen(Tcp, "", 22)]);
        assert_eq!(u.service, "ssh@.service");
        let plain = parse("ssh.socket", &SSH.replace("Accept=yes", "Accept=no"));
        assert_eq!(plain.service, "ssh.service");
    }

    #[test]
    fn cups_addresses() {
        let u = parse("cups.socket", CUPS);
        assert_eq!(
            u.listens,
            [listen(Tcp, "127.0.0.1", 631), listen(Tcp, "::1", 631)]
        );
        assert_eq!(u.service, "cups.service");
    }

    #[test]
    fn values() {
        let text = "[Socket]\n\
            ListenStream=0.0.0.0:22\n\
            ListenStream=[::]:22\n\
            ListenDatagram=[::1]:53\n\
            ListenDatagram=[fe80::1%eth0]:5353\n\
            ListenDatagram=53\n\
            ListenStream=@abstract\n\
            ListenStream=vsock:2:1234\n\
            ListenDatagram=netlink kobject-uevent 1\n\
            ListenStream=localhost:80\n\
            ListenStream=::1:80\n\
            ListenStream=0\n\
            ListenStream=65536\n\
            ListenStream=1.2.3.4:\n\
            ListenStream=[::1]\n\
            ListenStream=%i\n\
            ListenSequentialPacket=1234\n\
            ListenFIFO=/run/fifo\n";
        let u = parse("multi.socket", text);
        assert_eq!(
            u.listens,
            [
                listen(Tcp, "0.0.0.0", 22),
                listen(Tcp, "::", 22),
                listen(Udp, "::1", 53),
                listen(Udp, "fe80::1", 5353),
                listen(Udp, "", 53),
            ]
        );
    }

    #[test]
    fn reset_service_sections() {
        let text = "\
ListenStream=1
[Service]
ListenStream=2
[Socket]
ListenStream=10
ListenDatagram=11
ListenDatagram=
ListenStream=12
Service=other.service
Accept=yes
[Install]
ListenStream=13
";
        let u = parse("thing.socket", text);
        assert_eq!(u.listens, [listen(Tcp, "", 12)]);
        assert_eq!(u.service, "other.service");
        let u = parse(
            "thing.socket",
            &text.replace("Service=other.service", "Service="),
        );
        assert_eq!(u.service, "thing@.service");
    }

    #[test]
    fn comments_and_continuation() {
        let text = "[Socket]\n\
            # ListenStream=1\n\
            ; ListenStream=2\n\
            \x20 ListenStream  =  \\\n\
            \x20 127.0.0.1:8080\n\
            Service=a\\\n\
            # a comment inside\n\
            .service\n\
            ListenStream=9\\";
        let u = parse("cont.socket", text);
        assert_eq!(
            u.listens,
            [listen(Tcp, "127.0.0.1", 8080), listen(Tcp, "", 9)]
        );
        // The continued value keeps the joining space, as systemd's does.
        assert_eq!(u.service, "a .service");
        // An escaped backslash ends the line.
        let u = parse("e.socket", "[Socket]\nService=a\\\\\nListenStream=5\n");
        assert_eq!((u.service.as_str(), u.listens.len()), ("a\\\\", 1));
    }

    #[test]
    fn garbage() {
        for text in [
            "",
            "\n\n",
            "[Socket",
            "[Socket]\n=\n==\n\\\n\u{0}\u{ffff}=é",
            "[Socket]\nListenStream=[:22\nListenStream=[]:22\nListenStream=[::1]:x",
        ] {
            let u = parse("g.socket", text);
            assert!(u.listens.is_empty(), "{text:?}");
            assert_eq!(u.service, "g.service");
        }
        assert_eq!(parse("odd", "").service, "odd.service");
        let huge = "[Socket]\nListenStream=1\n".repeat(50_000);
        assert_eq!(parse("h.socket", &huge).listens.len(), 50_000);
    }

    #[test]
    fn matching_rules() {
        let any = SocketUnit {
            name: "any.socket".into(),
            listens: vec![listen(Tcp, "", 22)],
            service: String::new(),
        };
        let v4 = SocketUnit {
            name: "v4.socket".into(),
            listens: vec![listen(Tcp, "0.0.0.0", 80)],
            service: String::new(),
        };
        let v6 = SocketUnit {
            name: "v6.socket".into(),
            listens: vec![listen(Udp, "::", 53)],
            service: String::new(),
        };
        let lo = SocketUnit {
            name: "lo.socket".into(),
            listens: vec![listen(Tcp, "127.0.0.1", 631)],
            service: String::new(),
        };
        let units = [any, v4, v6, lo];
        let names = |proto, addr: &str, port| -> Vec<&str> {
            matching(&units, proto, addr.parse().unwrap(), port)
                .iter()
                .map(|u| u.name.as_str())
                .collect()
        };
        assert_eq!(names(Tcp, "::", 22), ["any.socket"]);
        assert_eq!(names(Tcp, "10.0.0.1", 22), ["any.socket"]);
        assert!(names(Udp, "::", 22).is_empty());
        assert_eq!(names(Tcp, "0.0.0.0", 80), ["v4.socket"]);
        assert_eq!(names(Tcp, "192.0.2.7", 80), ["v4.socket"]);
        assert!(names(Tcp, "::", 80).is_empty());
        assert_eq!(names(Udp, "0.0.0.0", 53), ["v6.socket"]);
        assert_eq!(names(Udp, "2001:db8::1", 53), ["v6.socket"]);
        assert_eq!(names(Tcp, "127.0.0.1", 631), ["lo.socket"]);
        assert_eq!(names(Tcp, "::ffff:127.0.0.1", 631), ["lo.socket"]);
        assert!(names(Tcp, "127.0.0.2", 631).is_empty());
        assert!(names(Tcp, "127.0.0.1", 632).is_empty());
    }

    #[test]
    fn load_precedence() {
        let root = std::env::temp_dir().join(format!("monban-units-{}", std::process::id()));
        let dirs: Vec<_> = ["etc", "run", "lib"].iter().map(|d| root.join(d)).collect();
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        let write = |dir: usize, name: &str, text: &str| {
            std::fs::write(dirs[dir].join(name), text).unwrap()
        };
        write(0, "ssh.socket", "[Socket]\nListenStream=2222\n");
        write(2, "ssh.socket", SSH);
        write(1, "cups.socket", CUPS);
        write(2, "cups.socket", "[Socket]\nListenStream=1\n");
        write(2, "avahi.socket", "");
        write(2, "getty@.socket", "[Socket]\nListenStream=7\n");
        write(2, "ssh.service", "[Service]\n");
        std::fs::create_dir(dirs[2].join("dir.socket")).unwrap();
        let missing = root.join("missing");
        let paths: Vec<&Path> = [&dirs[0], &missing, &dirs[1], &dirs[2]]
            .into_iter()
            .map(|p| p.as_path())
            .collect();
        let units = load(&paths);
        std::fs::remove_dir_all(&root).unwrap();
        let names: Vec<_> = units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["avahi.socket", "cups.socket", "ssh.socket"]);
        assert_eq!(units[1].listens.len(), 2);
        assert_eq!(units[2].listens, [listen(Tcp, "", 2222)]);
        assert_eq!(units[2].service, "ssh.service");
        assert!(load(&[]).is_empty());
    }
}
