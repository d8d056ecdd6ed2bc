//! Writing an inventory: the table, JSON Lines (one object per socket), XML, and the
//! advice for exposed sockets.
//!
//! Everything that comes from the host (command lines, executable paths, unit names) is
//! text a local user controls, so the table shows control characters escaped and the XML
//! escapes markup; JSON strings are escaped by serde_json.

use std::fmt::Write as _;
use std::net::IpAddr;

use monban_engine::Protocol;
use monban_output::{safe_text, table, xml_escape};
use serde_json::{json, Value};

use crate::against::{Join, Verdict};
use crate::inventory::{Exposure, Inventory, Owner, Socket, Source};
use crate::procs::{user_name, Process};

fn proto_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// `addr` as a socket's address column: `0.0.0.0`, `[::1]`-less `::1`, `%iface` appended.
fn address(s: &Socket) -> String {
    match &s.iface {
        Some(i) => format!("{}%{}", s.addr, i),
        None => s.addr.to_string(),
    }
}

/// Where a socket accepts traffic from, in words.
pub fn exposure_text(s: &Socket) -> &'static str {
    match (s.exposure(), s.addr, s.v6only) {
        (Exposure::Loopback, ..) => "loopback only",
        (Exposure::Address, ..) => "one address",
        (Exposure::Every, IpAddr::V4(_), _) => "every IPv4 address",
        (Exposure::Every, IpAddr::V6(_), Some(true)) => "every IPv6 address",
        (Exposure::Every, IpAddr::V6(_), Some(false)) => "every address",
        (Exposure::Every, IpAddr::V6(_), None) => "every IPv6 (and IPv4?) address",
    }
}

fn owner_text(inv: &Inventory, s: &Socket) -> String {
    match s.owner {
        Owner::Known => {
            let procs = inv.owners(s);
            if procs.is_empty() {
                return "unseen".into();
            }
            procs
                .iter()
                .map(|p| format!("{}[{}]", safe_text(&p.name), p.pid))
                .collect::<Vec<_>>()
                .join(",")
        }
        Owner::Kernel => "kernel".into(),
        Owner::NeedsRoot => "unknown (needs root)".into(),
        Owner::Unseen => "unseen".into(),
    }
}

fn first_owner<'a>(inv: &'a Inventory, s: &Socket) -> Option<&'a Process> {
    inv.owners(s).into_iter().next()
}

/// The unit or container column: `docker:0123456789ab`, `nginx.service`,
/// `user@1000:foo.service`, or the activating `.socket` unit.
fn unit_text(inv: &Inventory, s: &Socket) -> Option<String> {
    if let Some(a) = s.activation.first() {
        return Some(a.clone());
    }
    let p = first_owner(inv, s)?;
    if let Some(c) = &p.cgroup.container {
        let short: String = c.id.chars().take(12).collect();
        return Some(format!("{}:{short}", c.runtime.as_str()));
    }
    let unit = p.cgroup.unit.as_ref()?;
    Some(match p.cgroup.user {
        Some(uid) => format!("user@{uid}:{unit}"),
        None => unit.clone(),
    })
}

fn user_text(inv: &Inventory, s: &Socket) -> String {
    first_owner(inv, s)
        .and_then(|p| p.user.clone().or_else(|| p.uid.map(|u| u.to_string())))
        .or_else(|| user_name(s.uid))
        .unwrap_or_else(|| s.uid.to_string())
}

/// What to do about an exposed socket: stop it, bind it to loopback, firewall it.
/// monban itself never stops or kills anything.
pub fn advice(inv: &Inventory, s: &Socket) -> Vec<String> {
    if s.exposure() == Exposure::Loopback {
        return Vec::new();
    }
    let mut out = Vec::new();
    let owner = first_owner(inv, s);
    if let Some(a) = s.activation.first() {
        out.push(format!("stop it: systemctl disable --now {a} (systemd starts the service on the first connection)"));
    } else if let Some(p) = owner {
        if let Some(c) = &p.cgroup.container {
            out.push(format!(
                "stop it: it runs in {} container {}; stop the container or publish the port no more",
                c.runtime.as_str(),
                c.id.chars().take(12).collect::<String>()
            ));
        } else if let Some(u) = p.cgroup.unit.as_deref().filter(|u| u.ends_with(".service")) {
            let user = if p.cgroup.user.is_some() {
                "--user "
            } else {
                ""
            };
            out.push(format!("stop it: systemctl {user}disable --now {u}"));
        } else {
            out.push(format!(
                "stop it: quit {} (pid {}); `kill {}` ends it now",
                safe_text(&p.name),
                p.pid,
                p.pid
            ));
        }
    }
    let lo = match (s.addr, s.v6only) {
        (IpAddr::V4(_), _) => "127.0.0.1",
        (IpAddr::V6(_), Some(true)) => "::1",
        (IpAddr::V6(_), _) => "127.0.0.1 or ::1",
    };
    out.push(format!(
        "bind it to {lo} in its configuration, if only this host needs it"
    ));
    // The firewall of the socket's own namespace: by name, else through one of its
    // processes (a container's namespace has no name).
    let ns = &inv.ns_of(s).ns;
    let prefix = match (ns.host, ns.names.first(), ns.pids.first()) {
        (true, ..) => String::new(),
        (false, Some(n), _) => format!("ip netns exec {n} "),
        (false, None, Some(pid)) => format!("nsenter -t {pid} -n "),
        (false, None, None) => String::new(),
    };
    out.push(format!(
        "or firewall it: {prefix}nft add rule inet filter input {} dport {} drop (in a chain with hook input)",
        proto_str(s.proto),
        s.port
    ));
    if let Some(r) = s.risk() {
        out.push(format!(
            "risk ({}): {} {}",
            r.level.as_str(),
            r.why,
            r.advice
        ));
    }
    out
}

/// The human report: header, table, notes, and with `details` one block per socket
/// (for `monban local PORT`).
pub fn text(inv: &Inventory, join: Option<&Join>, details: bool) -> String {
    let mut out = String::new();
    let nss: std::collections::BTreeSet<usize> = inv.sockets.iter().map(|s| s.ns).collect();
    let _ = writeln!(
        out,
        "monban local: {} listening socket{} in {} of {} network namespace{}{}\n",
        inv.sockets.len(),
        if inv.sockets.len() == 1 { "" } else { "s" },
        nss.len(),
        inv.namespaces.len(),
        if inv.namespaces.len() == 1 { "" } else { "s" },
        if inv.root {
            ""
        } else {
            " (not root: other users' processes unknown)"
        },
    );
    let mut rows = vec![vec![
        "NETNS".to_string(),
        "PROTO".into(),
        "ADDRESS".into(),
        "PORT".into(),
        "SERVICE".into(),
        "EXPOSURE".into(),
        "PROCESS".into(),
        "USER".into(),
        "UNIT/CONTAINER".into(),
        "PACKAGE".into(),
    ]];
    if join.is_some() {
        rows[0].push("FROM OUTSIDE".into());
    }
    for (i, s) in inv.sockets.iter().enumerate() {
        let mut row = vec![
            safe_text(&inv.ns_of(s).ns.label()),
            proto_str(s.proto).into(),
            safe_text(&address(s)),
            s.port.to_string(),
            s.service().unwrap_or("-").into(),
            exposure_text(s).into(),
            owner_text(inv, s),
            safe_text(&user_text(inv, s)),
            unit_text(inv, s).map_or("-".into(), |u| safe_text(&u)),
            first_owner(inv, s)
                .and_then(|p| p.package.clone())
                .unwrap_or_else(|| "-".into()),
        ];
        if let Some(j) = join {
            let cells: Vec<String> = j
                .of_socket(i)
                .map(|r| match &r.state {
                    Some(st) => format!("{} {st} ({})", r.addr, r.verdict.as_str()),
                    None => format!("{} not scanned", r.addr),
                })
                .collect();
            row.push(if cells.is_empty() {
                "-".into()
            } else {
                cells.join("; ")
            });
        }
        rows.push(row);
    }
    out.push_str(&table(&rows));
    if details {
        for s in &inv.sockets {
            out.push('\n');
            out.push_str(&detail(inv, s));
        }
    }
    if let Some(j) = join {
        out.push_str(&join_text(inv, j));
    } else {
        let exposed: Vec<&Socket> = inv
            .sockets
            .iter()
            .filter(|s| s.exposure() != Exposure::Loopback && inv.ns_of(s).ns.host)
            .collect();
        if !exposed.is_empty() && !details {
            let _ = writeln!(
                out,
                "\n{} socket{} of the host's namespace accept{} connections from other machines \
                 (`monban local -p PORT` says what to do; `--against SCAN` says which a scan reached).",
                exposed.len(),
                if exposed.len() == 1 { "" } else { "s" },
                if exposed.len() == 1 { "s" } else { "" },
            );
        }
    }
    out.push_str(&notes(inv));
    out
}

/// One socket in full: owners with executable, command line, unit, package; advice.
fn detail(inv: &Inventory, s: &Socket) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}:{} in {} ({}, {} port{}):",
        proto_str(s.proto),
        safe_text(&address(s)),
        s.port,
        safe_text(&inv.ns_of(s).ns.label()),
        exposure_text(s),
        s.port_class().as_str(),
        s.service()
            .map(|n| format!(", usually {n}"))
            .unwrap_or_default(),
    );
    for p in inv.owners(s) {
        let fds: Vec<String> = s
            .holders
            .iter()
            .filter(|h| h.0 == p.pid)
            .map(|h| h.1.to_string())
            .collect();
        let _ = writeln!(
            out,
            "  pid {} {} (user {}, fd {})",
            p.pid,
            safe_text(&p.name),
            safe_text(
                &p.user
                    .clone()
                    .unwrap_or_else(|| p.uid.map_or("?".into(), |u| u.to_string()))
            ),
            fds.join(",")
        );
        let _ = writeln!(
            out,
            "    exe      {}",
            p.exe
                .as_ref()
                .map_or("unknown (needs root)".into(), |e| safe_text(
                    &e.to_string_lossy()
                ))
        );
        let _ = writeln!(out, "    command  {}", safe_text(&p.cmdline));
        if let Some(c) = &p.cgroup.container {
            let _ = writeln!(
                out,
                "    container {} {}",
                c.runtime.as_str(),
                safe_text(&c.id)
            );
        }
        if let Some(u) = &p.cgroup.unit {
            let _ = writeln!(out, "    unit     {}", safe_text(u));
        }
        if let Some(pkg) = &p.package {
            let _ = writeln!(out, "    package  {pkg}");
        }
    }
    if s.owner != Owner::Known {
        let _ = writeln!(out, "  owner: {}", owner_text(inv, s));
    }
    for a in &s.activation {
        let _ = writeln!(out, "  systemd socket unit: {}", safe_text(a));
    }
    for a in advice(inv, s) {
        let _ = writeln!(out, "  - {}", safe_text(&a));
    }
    if s.exposure() == Exposure::Loopback {
        if let Some(p) = first_owner(inv, s) {
            let _ = writeln!(
                out,
                "  - only this host can reach it; to close it anyway, quit {} (pid {}): `kill {}` (monban never does)",
                safe_text(&p.name),
                p.pid,
                p.pid
            );
        }
    }
    out
}

fn join_text(inv: &Inventory, j: &Join) -> String {
    let mut out = String::new();
    let count = |v: Verdict| j.rows.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(
        out,
        "\nAgainst the scan: {} exposed, {} protected, {} unconfirmed, {} not scanned, {} surprise{}.",
        count(Verdict::Exposed),
        count(Verdict::Protected),
        count(Verdict::Unconfirmed),
        count(Verdict::NotScanned),
        j.surprises.len(),
        if j.surprises.len() == 1 { "" } else { "s" }
    );
    for r in j.rows.iter().filter(|r| r.verdict == Verdict::Exposed) {
        let s = &inv.sockets[r.socket];
        let _ = writeln!(
            out,
            "exposed: {}/{} on {} ({}):",
            proto_str(s.proto),
            s.port,
            r.addr,
            owner_text(inv, s)
        );
        for a in advice(inv, s) {
            let _ = writeln!(out, "  - {}", safe_text(&a));
        }
    }
    for s in &j.surprises {
        let _ = writeln!(
            out,
            "surprise: {}/{} is open on {} but nothing here listens for it: a port forward (DNAT), a proxy, or another machine answering for that address",
            proto_str(s.proto),
            s.port,
            s.addr
        );
    }
    for a in &j.foreign {
        let _ = writeln!(
            out,
            "note: the scan's {a} is no address of this host; left out"
        );
    }
    out
}

fn notes(inv: &Inventory) -> String {
    let mut out = String::new();
    let unread: Vec<String> = inv
        .namespaces
        .iter()
        .filter_map(|n| match &n.source {
            Source::Unread(why) => Some(format!("{} ({why})", n.ns.label())),
            _ => None,
        })
        .collect();
    if !unread.is_empty() {
        let _ = writeln!(
            out,
            "\nnote: namespaces not read: {}",
            safe_text(&unread.join(", "))
        );
    }
    if inv.hidden > 0 && !inv.root {
        let _ = writeln!(
            out,
            "note: {} processes belong to other users; run as root to see their sockets' owners and namespaces",
            inv.hidden
        );
    }
    out
}

/// A JSON object written straight into a buffer, keys in the order written.
///
/// 10,000 sockets are 10,000 objects: building `serde_json::Value` maps for them cost
/// more than reading the kernel, so values are serialized in place.
struct Obj<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Obj<'a> {
        buf.push(b'{');
        Obj { buf, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// A value serde_json can write (strings escaped, `None` as null).
    fn f<T: serde::Serialize + ?Sized>(&mut self, key: &str, v: &T) -> &mut Self {
        self.key(key);
        // Writing plain values into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.buf, v);
        self
    }

    /// Already serialized JSON.
    fn raw(&mut self, key: &str, json: &[u8]) -> &mut Self {
        self.key(key);
        self.buf.extend_from_slice(json);
        self
    }

    fn end(&mut self) {
        self.buf.push(b'}');
    }
}

/// A process's fields after `pid` and `fds`, serialized once per process.
fn process_fields(p: &Process) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut o = Obj::new(&mut buf);
    let container = p.cgroup.container.as_ref().map(|c| {
        let mut b = Vec::new();
        Obj::new(&mut b)
            .f("runtime", c.runtime.as_str())
            .f("id", &c.id)
            .end();
        b
    });
    o.f("name", &p.name)
        .f("exe", &p.exe.as_ref().map(|e| e.to_string_lossy()))
        .f("cmdline", &p.cmdline)
        .f("uid", &p.uid)
        .f("user", &p.user)
        .f("ppid", &p.ppid)
        .f("unit", &p.cgroup.unit)
        .f("user_unit_of", &p.cgroup.user)
        .raw("container", container.as_deref().unwrap_or(b"null"))
        .f("package", &p.package)
        .end();
    // Without the braces: spliced after pid and fds.
    buf[1..buf.len() - 1].to_vec()
}

fn owner_str(o: Owner) -> &'static str {
    match o {
        Owner::Known => "known",
        Owner::Kernel => "kernel",
        Owner::NeedsRoot => "unknown-needs-root",
        Owner::Unseen => "unseen",
    }
}

/// One JSON object (one line) per socket, then per surprise, then a summary.
pub fn json_lines(inv: &Inventory, join: Option<&Join>) -> String {
    let mut buf = Vec::with_capacity(inv.sockets.len() * 700);
    let mut procs: std::collections::HashMap<u32, Vec<u8>> = std::collections::HashMap::new();
    for (i, s) in inv.sockets.iter().enumerate() {
        let ns = &inv.ns_of(s).ns;
        let mut list = b"[".to_vec();
        for (n, p) in inv.owners(s).into_iter().enumerate() {
            if n > 0 {
                list.push(b',');
            }
            let fds: Vec<u32> = s
                .holders
                .iter()
                .filter(|h| h.0 == p.pid)
                .map(|h| h.1)
                .collect();
            let mut one = Vec::new();
            Obj::new(&mut one).f("pid", &p.pid).f("fds", &fds);
            let rest = procs.entry(p.pid).or_insert_with(|| process_fields(p));
            list.extend_from_slice(&one);
            list.push(b',');
            list.extend_from_slice(rest);
            list.push(b'}');
        }
        list.push(b']');
        let risk = s.risk().map(|r| {
            let mut b = Vec::new();
            Obj::new(&mut b)
                .f("level", r.level.as_str())
                .f("why", r.why)
                .f("advice", r.advice)
                .end();
            b
        });
        let reached: Vec<String> = inv.reached_by(s).iter().map(ToString::to_string).collect();
        let mut o = Obj::new(&mut buf);
        o.f("event", "socket")
            .f("netns", &ns.label())
            .f("netns_inode", &ns.inode)
            .f("netns_names", &ns.names)
            .f("netns_host", &ns.host)
            .f("proto", proto_str(s.proto))
            .f("addr", &s.addr)
            .f("port", &s.port)
            .f("v6only", &s.v6only)
            .f("iface", &s.iface)
            .f("inode", &s.inode)
            .f("uid", &s.uid)
            .f("service", &s.service())
            .f("port_class", s.port_class().as_str())
            .f("exposure", s.exposure().as_str())
            .f("reached_by", &reached)
            .f("owner", owner_str(s.owner))
            .raw("processes", &list)
            .f("activation", &s.activation)
            .raw("risk", risk.as_deref().unwrap_or(b"null"))
            .f("advice", &advice(inv, s));
        if let Some(j) = join {
            let outside: Vec<Value> = j
                .of_socket(i)
                .map(|r| json!({"addr": r.addr.to_string(), "state": r.state, "verdict": r.verdict.as_str()}))
                .collect();
            o.f("outside", &outside);
        }
        o.end();
        buf.push(b'\n');
    }
    let mut out = String::from_utf8(buf).unwrap_or_default();
    if let Some(j) = join {
        for s in &j.surprises {
            let v = json!({
                "event": "surprise",
                "addr": s.addr.to_string(),
                "proto": proto_str(s.proto),
                "port": s.port,
                "state": "open",
                "netns": s.namespaces.iter().map(|&i| inv.namespaces[i].ns.label()).collect::<Vec<_>>(),
            });
            out.push_str(&v.to_string());
            out.push('\n');
        }
    }
    let namespaces: Vec<Value> = inv
        .namespaces
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "netns": n.ns.label(),
                "inode": n.ns.inode,
                "names": n.ns.names,
                "host": n.ns.host,
                "pids": n.ns.pids.len(),
                "addresses": n.addresses.iter().map(|(_, a)| a.to_string()).collect::<Vec<_>>(),
                "read": match &n.source { Source::Netlink => "netlink".to_string(), Source::Procfs => "procfs".to_string(), Source::Unread(w) => format!("unread: {w}") },
                "sockets": inv.sockets.iter().filter(|s| s.ns == i).count(),
            })
        })
        .collect();
    let summary = json!({
        "event": "summary",
        "sockets": inv.sockets.len(),
        "namespaces": namespaces,
        "root": inv.root,
        "hidden_processes": inv.hidden,
        "foreign": join.map(|j| j.foreign.iter().map(ToString::to_string).collect::<Vec<_>>()),
    });
    out.push_str(&summary.to_string());
    out.push('\n');
    out
}

/// The inventory as an XML document.
pub fn xml(inv: &Inventory, join: Option<&Join>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<monbanlocal version=\"1\" root=\"{}\">", inv.root);
    for n in &inv.namespaces {
        let _ = writeln!(
            out,
            "<netns label=\"{}\" inode=\"{}\" host=\"{}\">",
            xml_escape(&n.ns.label()),
            n.ns.inode,
            n.ns.host
        );
        for (iface, a) in &n.addresses {
            let _ = writeln!(
                out,
                "<address iface=\"{}\" addr=\"{a}\"/>",
                xml_escape(iface)
            );
        }
        out.push_str("</netns>\n");
    }
    for (i, s) in inv.sockets.iter().enumerate() {
        let _ = writeln!(
            out,
            "<socket netns=\"{}\" proto=\"{}\" addr=\"{}\" port=\"{}\" exposure=\"{}\" owner=\"{}\" service=\"{}\" inode=\"{}\">",
            xml_escape(&inv.ns_of(s).ns.label()),
            proto_str(s.proto),
            s.addr,
            s.port,
            s.exposure().as_str(),
            owner_str(s.owner),
            s.service().unwrap_or(""),
            s.inode
        );
        for p in inv.owners(s) {
            let _ = writeln!(
                out,
                "<process pid=\"{}\" name=\"{}\" exe=\"{}\" user=\"{}\" unit=\"{}\" container=\"{}\" package=\"{}\" cmdline=\"{}\"/>",
                p.pid,
                xml_escape(&p.name),
                xml_escape(&p.exe.as_ref().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default()),
                xml_escape(p.user.as_deref().unwrap_or("")),
                xml_escape(p.cgroup.unit.as_deref().unwrap_or("")),
                xml_escape(&p.cgroup.container.as_ref().map(|c| format!("{}:{}", c.runtime.as_str(), c.id)).unwrap_or_default()),
                xml_escape(p.package.as_deref().unwrap_or("")),
                xml_escape(&p.cmdline),
            );
        }
        if let Some(j) = join {
            for r in j.of_socket(i) {
                let _ = writeln!(
                    out,
                    "<outside addr=\"{}\" state=\"{}\" verdict=\"{}\"/>",
                    r.addr,
                    xml_escape(r.state.as_deref().unwrap_or("")),
                    r.verdict.as_str()
                );
            }
        }
        for a in advice(inv, s) {
            let _ = writeln!(out, "<advice>{}</advice>", xml_escape(&a));
        }
        out.push_str("</socket>\n");
    }
    if let Some(j) = join {
        for s in &j.surprises {
            let _ = writeln!(
                out,
                "<surprise addr=\"{}\" proto=\"{}\" port=\"{}\" state=\"open\"/>",
                s.addr,
                proto_str(s.proto),
                s.port
            );
        }
    }
    out.push_str("</monbanlocal>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::against::{Joined, Surprise};
    use crate::cgroup::{Container, Runtime};
    use crate::inventory::tests::{namespace, process, socket};

    fn hostile() -> Inventory {
        let mut evil = process(4242, "ev\u{1b}[31m<b>&\"");
        evil.cmdline = "line --port 10400 \u{7}\u{1b}[2J</x>".into();
        evil.exe = Some("/opt/line/bin/line".into());
        evil.user = Some("alice".into());
        evil.cgroup.unit = Some("session-3.scope".into());
        let mut web = process(812, "nginx");
        web.cgroup.unit = Some("nginx.service".into());
        web.package = Some("nginx-core".into());
        let mut db = process(900, "mysqld");
        db.cgroup.container = Some(Container {
            runtime: Runtime::Docker,
            id: "0123456789abcdef".repeat(4),
        });
        Inventory {
            namespaces: vec![
                namespace(1, true, &[], &["127.0.0.1", "10.0.0.5"]),
                namespace(2, false, &["lab<1>"], &["10.9.0.2"]),
            ],
            sockets: vec![
                socket(0, Protocol::Tcp, "127.0.0.1", 10400, &[(4242, 7)]),
                socket(0, Protocol::Tcp, "0.0.0.0", 80, &[(812, 6), (813, 6)]),
                socket(0, Protocol::Tcp, "0.0.0.0", 23, &[(4242, 8)]),
                socket(1, Protocol::Tcp, "0.0.0.0", 3306, &[(900, 3)]),
            ],
            processes: [
                (4242, evil),
                (812, web),
                (813, process(813, "nginx")),
                (900, db),
            ]
            .into(),
            root: true,
            ..Inventory::default()
        }
    }

    #[test]
    fn the_table_escapes_what_processes_control() {
        let inv = hostile();
        let t = text(&inv, None, true);
        assert!(!t.contains('\u{1b}') && !t.contains('\u{7}'), "{t}");
        assert!(t.contains("ev\\x1b[31m<b>&\"[4242]"), "{t}");
        assert!(t.contains("nginx[812],nginx[813]"), "{t}");
        assert!(t.contains("docker:0123456789ab"), "{t}");
        assert!(t.contains("systemctl disable --now nginx.service"), "{t}");
        assert!(t.contains("`kill 4242` ends it now"), "{t}");
        assert!(
            t.contains("ip netns exec lab<1> nft add rule inet filter input tcp dport 3306 drop"),
            "{t}"
        );
        // Telnet's risk note rides with its advice.
        assert!(t.contains("risk (high)"), "{t}");
    }

    #[test]
    fn json_lines_contract() {
        let inv = hostile();
        let join = Join {
            rows: vec![Joined {
                socket: 1,
                addr: "10.0.0.5".parse().unwrap(),
                state: Some("open".into()),
                verdict: Verdict::Exposed,
            }],
            surprises: vec![Surprise {
                addr: "10.0.0.5".parse().unwrap(),
                proto: Protocol::Tcp,
                port: 7777,
                namespaces: vec![0],
            }],
            foreign: vec!["192.0.2.1".parse().unwrap()],
        };
        let out = json_lines(&inv, Some(&join));
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4 + 1 + 1);
        let keys: Vec<&str> = lines[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for k in [
            "event",
            "netns",
            "netns_inode",
            "netns_names",
            "netns_host",
            "proto",
            "addr",
            "port",
            "v6only",
            "iface",
            "inode",
            "uid",
            "service",
            "port_class",
            "exposure",
            "reached_by",
            "owner",
            "processes",
            "activation",
            "risk",
            "advice",
            "outside",
        ] {
            assert!(keys.contains(&k), "{k} missing: {keys:?}");
        }
        let evil = &lines[0]["processes"][0];
        assert_eq!(evil["name"], "ev\u{1b}[31m<b>&\"");
        assert_eq!(evil["cmdline"], "line --port 10400 \u{7}\u{1b}[2J</x>");
        assert_eq!(evil["fds"], json!([7]));
        assert_eq!(evil["unit"], "session-3.scope");
        assert_eq!(lines[0]["exposure"], "loopback");
        assert_eq!(lines[0]["advice"], json!([]));
        assert_eq!(lines[1]["processes"].as_array().unwrap().len(), 2);
        assert_eq!(lines[1]["processes"][0]["package"], "nginx-core");
        assert_eq!(
            lines[1]["outside"],
            json!([{"addr": "10.0.0.5", "state": "open", "verdict": "exposed"}])
        );
        assert_eq!(lines[1]["reached_by"], json!(["10.0.0.5"]));
        assert_eq!(lines[2]["risk"]["level"], "high");
        assert_eq!(lines[3]["netns"], "lab<1>");
        assert_eq!(lines[3]["processes"][0]["container"]["runtime"], "docker");
        assert_eq!(
            lines[4],
            json!({"event": "surprise", "addr": "10.0.0.5", "proto": "tcp", "port": 7777, "state": "open", "netns": ["host"]})
        );
        assert_eq!(lines[5]["event"], "summary");
        assert_eq!(lines[5]["foreign"], json!(["192.0.2.1"]));
        assert_eq!(lines[5]["sockets"], 4);
    }

    #[test]
    fn xml_escapes_markup() {
        let x = xml(&hostile(), None);
        assert!(
            x.contains("name=\"ev\\x1b[31m&lt;b&gt;&amp;&quot;\""),
            "{x}"
        );
        assert!(x.contains("label=\"lab&lt;1&gt;\""), "{x}");
        assert!(!x.contains("<b>") && !x.contains("</x>"), "{x}");
        assert_eq!(
            x.matches("<socket ").count(),
            x.matches("</socket>").count()
        );
    }
}
