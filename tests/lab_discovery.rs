//! Host discovery against the lab: a ping scan of the targets' whole subnet must find
//! exactly the hosts that exist there (the router's bridge address and every target),
//! over IPv4 and IPv6, with raw probes and — without CAP_NET_RAW — with connect pings.
//! A port scan without -Pn must scan only the live hosts.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{lab, parse_jsonl, read, run, scratch};
use monban_lab::{Lab, ROUTER_BRIDGE_V4, ROUTER_BRIDGE_V6};

const LIMIT: Duration = Duration::from_secs(300);

/// (up, down) addresses from a JSON Lines file, and the reasons the up hosts gave.
fn up_and_down(
    path: &std::path::Path,
    what: &str,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let json = parse_jsonl(&read(path), what);
    let mut up = BTreeSet::new();
    let mut down = BTreeSet::new();
    let mut reasons = BTreeSet::new();
    for e in json.events.iter().filter(|e| e["event"] == "host") {
        let addr = e["addr"].as_str().unwrap_or_default().to_owned();
        let fresh = match e["status"].as_str() {
            Some("up") => {
                reasons.insert(e["reason"].as_str().unwrap_or_default().to_owned());
                up.insert(addr.clone())
            }
            Some("down") => down.insert(addr.clone()),
            other => panic!("{what}: bad status {other:?} for {addr}"),
        };
        assert!(fresh, "{what}: {addr} reported twice");
    }
    (up, down, reasons)
}

fn live_hosts(lab: &Lab, v6: bool) -> BTreeSet<String> {
    let mut live: BTreeSet<String> = lab
        .hosts()
        .iter()
        .map(|h| {
            if v6 {
                h.v6.to_string()
            } else {
                h.v4.to_string()
            }
        })
        .collect();
    live.insert(if v6 {
        ROUTER_BRIDGE_V6.to_string()
    } else {
        ROUTER_BRIDGE_V4.to_string()
    });
    live
}

/// `monban -sn` over the subnet, with `prefix` (a program and arguments run first,
/// e.g. setpriv to drop CAP_NET_RAW) and `probes` (discovery flags; none: the defaults).
/// Returns the reasons the up hosts were found by.
fn ping_scan(
    lab: &Lab,
    name: &str,
    v6: bool,
    prefix: &[&str],
    probes: &[&str],
) -> BTreeSet<String> {
    let dir = scratch(name);
    let jsonl = dir.join("sn.jsonl");
    let subnet = if v6 { "fd77:1::/120" } else { "10.77.1.0/24" };
    let mut args: Vec<String> = prefix.iter().skip(1).map(|s| s.to_string()).collect();
    if !prefix.is_empty() {
        args.push(common::MONBAN.into());
    }
    args.extend(
        ["-sn", "-n", "-T4", "--no-progress"]
            .map(String::from)
            .into_iter()
            .chain(probes.iter().map(|p| p.to_string()))
            .chain([
                "-oJ".to_owned(),
                jsonl.display().to_string(),
                subnet.to_owned(),
            ]),
    );
    let program = prefix.first().copied().unwrap_or(common::MONBAN);
    let ran = run(&mut lab.scanner_cmd(program, &args), LIMIT);
    assert!(
        ran.status.success(),
        "{name}: {}\n{}",
        ran.status,
        ran.stderr
    );
    let (up, down, reasons) = up_and_down(&jsonl, name);
    assert_eq!(up, live_hosts(lab, v6), "{name}: hosts found up");
    assert_eq!(
        up.len() + down.len(),
        256,
        "{name}: every address reported once"
    );
    reasons
}

#[test]
fn ping_scan_finds_exactly_the_live_hosts_v4() {
    let lab = lab(Lab::builder());
    ping_scan(&lab, "sn-v4", false, &[], &[]);
}

#[test]
fn ping_scan_finds_exactly_the_live_hosts_v6() {
    let lab = lab(Lab::builder());
    ping_scan(&lab, "sn-v6", true, &[], &[]);
}

#[test]
fn timestamp_and_udp_pings_each_find_exactly_the_live_hosts() {
    let lab = lab(Lab::builder());
    // Linux answers ICMP timestamp requests, and a closed UDP port with port unreachable.
    let reasons = ping_scan(&lab, "sn-pp", false, &[], &["-PP"]);
    assert_eq!(reasons, BTreeSet::from(["timestamp-reply".to_owned()]));
    let reasons = ping_scan(&lab, "sn-pu", false, &[], &["-PU"]);
    assert_eq!(reasons, BTreeSet::from(["port-unreach".to_owned()]));
    // A UDP port the targets answer on (the lab's DNS stand-in): a UDP reply.
    let dir = scratch("pu53");
    let jsonl = dir.join("pu53.jsonl");
    let targets: Vec<String> = lab.hosts().iter().map(|h| h.v4.to_string()).collect();
    let mut args: Vec<String> = ["-sn", "-n", "-T4", "--no-progress", "-PU53", "-oJ"]
        .map(String::from)
        .to_vec();
    args.push(jsonl.display().to_string());
    args.extend(targets.iter().cloned());
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), LIMIT);
    assert!(ran.status.success(), "{}", ran.stderr);
    let (up, down, reasons) = up_and_down(&jsonl, "pu53");
    assert_eq!(up, targets.into_iter().collect::<BTreeSet<_>>());
    assert!(down.is_empty());
    assert_eq!(reasons, BTreeSet::from(["udp-response".to_owned()]));
}

#[test]
fn unprivileged_ping_scan_uses_connect_and_finds_the_same_hosts() {
    let lab = lab(Lab::builder());
    // Root without CAP_NET_RAW: no raw sockets, so discovery falls back to connect().
    ping_scan(
        &lab,
        "sn-v4-noraw",
        false,
        &["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"],
        &[],
    );
}

#[test]
fn port_scan_without_pn_scans_only_live_hosts() {
    let lab = lab(Lab::builder());
    let dir = scratch("discover-then-scan");
    let jsonl = dir.join("scan.jsonl");
    let args: Vec<String> = [
        "scan",
        "-sS",
        "-p",
        "22,80,443,20000",
        "-n",
        "-T4",
        "--no-progress",
        "-oJ",
    ]
    .map(String::from)
    .into_iter()
    .chain([jsonl.display().to_string(), "10.77.1.0/24".to_owned()])
    .collect();
    let ran = run(&mut lab.scanner_cmd(common::MONBAN, &args), LIMIT);
    assert!(ran.status.success(), "{}\n{}", ran.status, ran.stderr);
    let json = parse_jsonl(&read(&jsonl), "discover-then-scan");
    let (up, down, _) = up_and_down(&jsonl, "discover-then-scan");
    assert_eq!(up, live_hosts(&lab, false));
    assert_eq!(down.len(), 256 - up.len());
    // Live targets carry their true port states; their status says how they were found.
    for h in lab.hosts() {
        let table = json
            .hosts
            .get(&h.v4.to_string())
            .unwrap_or_else(|| panic!("no ports for {}", h.v4));
        for port in [22, 80, 443, 20000] {
            assert_eq!(table.get(port), Some(h.truth(port)), "{} port {port}", h.v4);
        }
    }
    for e in json.events.iter().filter(|e| e["event"] == "host") {
        let reason = e["reason"].as_str().unwrap_or_default();
        match e["status"].as_str() {
            Some("up") => assert!(
                ["echo-reply", "syn-ack", "reset"].contains(&reason),
                "{}: up because {reason}",
                e["addr"]
            ),
            _ => {
                assert_eq!(reason, "no-response");
                assert_eq!(e["ports"].as_array().map(Vec::len), Some(0));
            }
        }
    }
}
