//! Local-segment discovery end to end: `monban` run inside lab target 0's namespace, on
//! the targets' bridge, finds its neighbours by ARP (IPv4) and Neighbor Discovery
//! (IPv6) — exactly the live hosts, each with the MAC address `ip -j link` shows in its
//! own namespace, in every output — and `--send-ip` falls back to IP-level pings.
//!
//! Needs root (the lab); nothing is skipped.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{lab, parse_jsonl, read, run, scratch, MONBAN};
use monban_lab::{Lab, ROUTER_BRIDGE_V4, ROUTER_BRIDGE_V6};

const LIMIT: Duration = Duration::from_secs(120);

/// The MAC address of `dev` in namespace `ns`, as monban prints it (upper case).
fn mac_in(ns: &str, dev: &str) -> String {
    monban_lab::mac_address(ns, dev)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_uppercase()
}

/// Runs monban with `args` inside namespace `ns`; returns the JSON host events by address
/// as (status, reason, mac).
fn sn(
    ns: &str,
    args: &[&str],
    out: &std::path::Path,
) -> BTreeMap<String, (String, String, String)> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, MONBAN])
        .args(args)
        .args(["-oJ", out.to_str().unwrap_or_default()]);
    let ran = run(&mut cmd, LIMIT);
    eprintln!("{}", ran.stdout);
    assert!(ran.status.success(), "{ran:?}");
    let report = parse_jsonl(&read(out), "neighbor");
    report
        .events
        .iter()
        .filter(|e| e["event"] == "host")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_owned();
            (s("addr"), (s("status"), s("reason"), s("mac")))
        })
        .collect()
}

#[test]
fn arp_and_nd_find_exactly_the_neighbours_with_their_macs() {
    let lab: Lab = lab(Lab::builder().hosts(3));
    let me = lab.hosts()[0].clone();
    let dir = scratch("neighbor");
    let router_mac = mac_in(lab.router_ns(), "br0");

    for v6 in [false, true] {
        let mut want: BTreeMap<String, (String, String, String)> = BTreeMap::new();
        let reason = if v6 { "nd-response" } else { "arp-response" };
        for h in &lab.hosts()[1..] {
            let addr = if v6 {
                h.v6.to_string()
            } else {
                h.v4.to_string()
            };
            want.insert(addr, ("up".into(), reason.into(), mac_in(&h.ns, "eth0")));
        }
        let router = if v6 {
            ROUTER_BRIDGE_V6.to_string()
        } else {
            ROUTER_BRIDGE_V4.to_string()
        };
        want.insert(router, ("up".into(), reason.into(), router_mac.clone()));
        // Addresses of the segment nobody holds.
        let unused: Vec<String> = if v6 {
            vec!["fd77:1::200".into(), "fd77:1::201".into()]
        } else {
            vec!["10.77.1.200".into(), "10.77.1.201".into()]
        };
        for u in &unused {
            want.insert(
                u.clone(),
                ("down".into(), "no-response".into(), String::new()),
            );
        }
        let mut args: Vec<String> = ["-sn", "-n", "-T4", "--no-progress"]
            .map(String::from)
            .to_vec();
        if v6 {
            args.push("-6".into());
        }
        args.extend(want.keys().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = sn(&me.ns, &args, &dir.join(format!("sn-{v6}.jsonl")));
        assert_eq!(got, want, "v6={v6}");
    }

    // A port scan without -Pn: discovery by ARP, then the ports; the report keeps the MAC
    // and the reason in normal output and XML too.
    let target = lab.hosts()[1].clone();
    let xml = dir.join("scan.xml");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &me.ns, MONBAN]).args([
        "-sS",
        "-n",
        "-T4",
        "--reason",
        "--no-progress",
        "-p",
        "22,23",
        "-oX",
        xml.to_str().unwrap_or_default(),
        &target.v4.to_string(),
    ]);
    let ran = run(&mut cmd, LIMIT);
    assert!(ran.status.success(), "{ran:?}");
    let mac = mac_in(&target.ns, "eth0");
    assert!(
        ran.stdout.contains("Host is up, received arp-response"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("MAC Address: {mac}\n")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("22/tcp open   ssh     syn-ack ttl 64"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("23/tcp closed telnet  reset ttl 64"),
        "{}",
        ran.stdout
    );
    let x = read(&xml);
    assert!(
        x.contains(&format!("<address addr=\"{mac}\" addrtype=\"mac\"/>")),
        "{x}"
    );
    assert!(
        x.contains("<status state=\"up\" reason=\"arp-response\""),
        "{x}"
    );

    // --send-ip: the same host found by IP-level pings, without a MAC.
    let got = sn(
        &me.ns,
        &[
            "-sn",
            "-n",
            "-T4",
            "--no-progress",
            "--send-ip",
            &target.v4.to_string(),
        ],
        &dir.join("send-ip.jsonl"),
    );
    let (status, reason, mac) = &got[&target.v4.to_string()];
    assert_eq!((status.as_str(), mac.as_str()), ("up", ""));
    assert_ne!(reason, "arp-response");
}
