//! ARP and Neighbor Discovery host discovery on the lab's targets' bridge, run from inside
//! target 0's namespace (a thread that entered it with `setns`), against the other
//! targets, the router's bridge address and unused addresses of 10.77.1.0/24 and
//! fd77:1::/64. Needs root (the lab); nothing is skipped.
//!
//! Ground truth by construction: the live hosts are the ones the lab made, each with the
//! MAC address `ip -j link` reports in its own namespace; nothing holds the unused ones.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use monban_engine::neighbor::{NeighborReason, NeighborResult};
use monban_engine::{HostStatus, Timing};
use monban_lab::{in_namespace, Lab, ROUTER_BRIDGE_V4, ROUTER_BRIDGE_V6};
use monban_netio::neighbor::{attachment, interfaces, plan, run, LinkError};
use monban_netio::RawSockets;
use monban_wire::MacAddr;

/// The MAC address of `dev` in namespace `ns`, from `ip -j link`.
fn mac_in(ns: &str, dev: &str) -> MacAddr {
    let text = monban_lab::mac_address(ns, dev).unwrap_or_else(|e| panic!("{e}"));
    MacAddr::parse(&text).expect("a MAC address")
}

fn unused() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::new(10, 77, 1, 200)),
        IpAddr::V4(Ipv4Addr::new(10, 77, 1, 201)),
        IpAddr::V4(Ipv4Addr::new(10, 77, 1, 254)),
        IpAddr::V6(Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0x200)),
        IpAddr::V6(Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0x201)),
        IpAddr::V6(Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0xfe)),
    ]
}

#[test]
fn arp_and_nd_find_exactly_the_live_hosts_with_their_macs() {
    let lab = Lab::builder().hosts(4).build().expect("lab");
    let hosts = lab.hosts();
    let me = &hosts[0];
    let my_mac = mac_in(&me.ns, "eth0");

    let mut truth: BTreeMap<IpAddr, MacAddr> = BTreeMap::new();
    for h in &hosts[1..] {
        let m = mac_in(&h.ns, "eth0");
        truth.insert(IpAddr::V4(h.v4), m);
        truth.insert(IpAddr::V6(h.v6), m);
    }
    let router = mac_in(lab.router_ns(), "br0");
    truth.insert(IpAddr::V4(ROUTER_BRIDGE_V4), router);
    truth.insert(IpAddr::V6(ROUTER_BRIDGE_V6), router);
    let macs: Vec<MacAddr> = truth.values().copied().collect();
    assert_eq!(macs.len(), 8);
    assert!(
        !macs.contains(&my_mac),
        "every host has its own MAC address"
    );

    let mut targets: Vec<IpAddr> = truth.keys().copied().collect();
    targets.extend(unused());
    let (me_v4, me_v6) = (me.v4, me.v6);
    let run_targets = targets.clone();
    let (groups, results, stats, took) = in_namespace(&me.ns, move || {
        let ifs = interfaces().expect("interfaces");
        let groups = plan(&ifs, &run_targets, None).expect("every target is on eth0");
        // The sockets are opened ahead, as before a privilege drop, and lent to the run.
        let mut pool = RawSockets::empty();
        pool.add_neighbors(&ifs, None).expect("ARP and ND sockets");
        let mut results: Vec<NeighborResult> = Vec::new();
        let start = Instant::now();
        let stop = AtomicBool::new(false);
        let mut stats = Vec::new();
        for (link, ts) in &groups {
            let st = run(
                link,
                ts,
                &Timing::template(3),
                Some(&pool),
                &stop,
                &mut |r| results.push(r),
            )
            .expect("neighbour scan");
            stats.push(st);
        }
        (groups, results, stats, start.elapsed())
    })
    .expect("thread in target 0's namespace");

    assert_eq!(groups.len(), 1, "one link: {groups:?}");
    let link = &groups[0].0;
    assert_eq!(link.interface, "eth0");
    assert_eq!(link.mac, my_mac);
    assert_eq!(link.v4, Some(me_v4));
    let ll = link.v6.expect("a link-local address");
    assert_eq!(ll.segments()[0], 0xfe80);
    assert_ne!(ll, me_v6);
    assert_eq!(groups[0].1, targets);

    assert_eq!(results.len(), targets.len());
    let by_addr: BTreeMap<IpAddr, NeighborResult> = results.iter().map(|r| (r.addr, *r)).collect();
    assert_eq!(by_addr.len(), targets.len(), "one result per target");
    for (addr, mac) in &truth {
        let r = by_addr[addr];
        let reason = if addr.is_ipv4() {
            NeighborReason::ArpResponse
        } else {
            NeighborReason::NdResponse
        };
        assert_eq!(
            (r.status, r.reason, r.mac, r.tries, r.incomplete),
            (HostStatus::Up, reason, Some(*mac), 1, false),
            "{addr}"
        );
        let rtt = r.rtt.expect("answered on the first try");
        assert!(rtt < Duration::from_millis(500), "{addr}: {rtt:?}");
    }
    for addr in unused() {
        let r = by_addr[&addr];
        assert_eq!(
            (r.status, r.reason, r.mac, r.tries, r.incomplete),
            (HostStatus::Down, NeighborReason::NoResponse, None, 3, false),
            "{addr}"
        );
    }
    let st = stats[0];
    assert_eq!((st.targets, st.done, st.up, st.replies), (14, 14, 8, 8));
    assert_eq!((st.requests, st.retransmits), (8 + 6 * 3, 6 * 2));
    // T3: the first requests wait up to 1 s, retransmissions the 100 ms floor once
    // a round trip was measured; three tries end well within 3 s.
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn targets_off_the_link_are_refused_with_a_reason() {
    let lab = Lab::builder().hosts(1).build().expect("lab");
    let me = lab.hosts()[0].clone();
    let (off, own, lo, named, stopped, unprepared) = in_namespace(&me.ns, move || {
        let off = attachment(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2)), None);
        let own = attachment(IpAddr::V6(me.v6), None);
        let lo = attachment(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), None);
        let named = attachment(IpAddr::V4(Ipv4Addr::new(10, 77, 1, 99)), Some("eth9"));
        // A scan stopped before it starts reports every target down and incomplete,
        // and sends nothing.
        let link = attachment(IpAddr::V4(Ipv4Addr::new(10, 77, 1, 1)), Some("eth0"))
            .expect("the router is on eth0");
        let stop = AtomicBool::new(true);
        let mut got = Vec::new();
        let st = run(
            &link,
            &[IpAddr::V4(ROUTER_BRIDGE_V4)],
            &Timing::template(3),
            None,
            &stop,
            &mut |r| got.push(r),
        )
        .expect("run");
        // Given a pool without the link's sockets, the run creates none: a typed error.
        let unprepared = run(
            &link,
            &[IpAddr::V4(ROUTER_BRIDGE_V4)],
            &Timing::template(3),
            Some(&RawSockets::empty()),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        (off, own, lo, named, (got, st), unprepared)
    })
    .expect("thread in target 0's namespace");
    assert!(
        matches!(off, Err(LinkError::NotOnLink { addr }) if addr == IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2))),
        "{off:?}"
    );
    assert!(
        matches!(&own, Err(LinkError::OwnAddress { interface, .. }) if interface == "eth0"),
        "{own:?}"
    );
    assert!(
        matches!(&lo, Err(LinkError::NotEthernet { interface, .. }) if interface == "lo"),
        "{lo:?}"
    );
    assert!(
        matches!(&named, Err(LinkError::NoSuchInterface(n)) if n == "eth9"),
        "{named:?}"
    );
    assert!(
        matches!(&unprepared, Err(LinkError::NotPrepared { kind: "ARP", interface, .. }) if interface == "eth0"),
        "{unprepared:?}"
    );
    let (got, st) = stopped;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].status, got[0].incomplete, got[0].tries),
        (HostStatus::Down, true, 0)
    );
    assert_eq!(st.requests, 0);
}
