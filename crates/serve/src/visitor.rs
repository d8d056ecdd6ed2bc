//! Who the visitor is, and whether the server may scan them.
//!
//! The target of every scan is the visitor's own address: the peer address of the
//! connection, or — only when that peer is a proxy the operator named with
//! `--trust-proxy` — the address the proxy says it forwarded for. No form field, query
//! parameter or header from an untrusted peer can name a target.

use std::net::IpAddr;

use monban_detect::Net;

/// The visitor's address: the peer's, or, when the peer is a trusted proxy, the last
/// address in `X-Forwarded-For` that is not itself a trusted proxy (walking from the right,
/// as each proxy appends the address it saw). A malformed header from a trusted proxy
/// gives the proxy's own address, never an address the header merely claims.
pub fn visitor(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Net]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |a: IpAddr| trusted.iter().any(|n| n.contains(a));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut hops = Vec::new();
    for part in header.split(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(a) => hops.push(canonical(a)),
            // One bad entry makes the whole chain untrustworthy.
            Err(_) => return peer,
        }
    }
    hops.into_iter()
        .rev()
        .find(|&a| !is_trusted(a))
        .unwrap_or(peer)
}

/// Whether the visitor reached us over HTTPS through a trusted proxy: the peer is a proxy
/// the operator named with `--trust-proxy` and the last `X-Forwarded-Proto` entry (the one
/// that proxy set) is `https`. An untrusted peer's header is ignored: it cannot make the
/// page set cookies its own plain-HTTP connection would not get back.
pub fn forwarded_https(peer: IpAddr, forwarded_proto: Option<&str>, trusted: &[Net]) -> bool {
    let peer = canonical(peer);
    trusted.iter().any(|n| n.contains(peer))
        && forwarded_proto
            .and_then(|h| h.rsplit(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// Why an address must not be scanned, if it must not.
///
/// `own` are the server's own addresses; `local_ok` is true when the server listens on
/// loopback only (a visitor on this machine may then scan loopback, as a local test does).
pub fn refusal(target: IpAddr, own: &[IpAddr], local_ok: bool) -> Option<&'static str> {
    let target = canonical(target);
    if target.is_unspecified() {
        return Some("the unspecified address is no host");
    }
    if target.is_multicast() {
        return Some("a multicast address is a group, not one host");
    }
    if let IpAddr::V4(v4) = target {
        if v4.is_broadcast() || v4.octets()[3] == 255 && v4.is_private() {
            return Some("a broadcast address reaches many hosts");
        }
    }
    if target.is_loopback() {
        return if local_ok {
            None
        } else {
            Some("this server does not scan its own loopback")
        };
    }
    if own.iter().any(|&a| canonical(a) == target) {
        return Some("that is this server's own address");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn https_is_believed_from_a_trusted_proxy_only() {
        let trusted = Net::parse_list("10.0.0.0/8").unwrap();
        let proxy = ip("10.1.2.3");
        let stranger = ip("192.0.2.7");
        assert!(forwarded_https(proxy, Some("https"), &trusted));
        assert!(forwarded_https(proxy, Some("http, HTTPS"), &trusted));
        assert!(forwarded_https(
            ip("::ffff:10.1.2.3"),
            Some("https"),
            &trusted
        ));
        assert!(!forwarded_https(proxy, Some("https, http"), &trusted));
        assert!(!forwarded_https(proxy, Some("http"), &trusted));
        assert!(!forwarded_https(proxy, None, &trusted));
        assert!(!forwarded_https(proxy, Some(""), &trusted));
        assert!(!forwarded_https(stranger, Some("https"), &trusted));
        assert!(!forwarded_https(proxy, Some("https"), &[]));
    }

    #[test]
    fn the_peer_unless_a_trusted_proxy_forwards() {
        let trusted = Net::parse_list("10.0.0.0/24,fd00::1/128").unwrap();
        // An untrusted peer's header is ignored, whatever it says.
        assert_eq!(
            visitor(ip("198.51.100.7"), Some("10.77.1.12"), &trusted),
            ip("198.51.100.7")
        );
        // A trusted proxy: the client it saw.
        assert_eq!(
            visitor(ip("10.0.0.3"), Some("203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
        // A chain: the right-most untrusted entry, not a forged left-most one.
        assert_eq!(
            visitor(
                ip("10.0.0.3"),
                Some("1.2.3.4, 203.0.113.9, 10.0.0.8"),
                &trusted
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            visitor(ip("10.0.0.3"), Some("garbage, 203.0.113.9"), &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(visitor(ip("10.0.0.3"), None, &trusted), ip("10.0.0.3"));
        assert_eq!(
            visitor(ip("10.0.0.3"), Some("10.0.0.9"), &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(
            visitor(ip("::ffff:198.51.100.7"), None, &[]),
            ip("198.51.100.7")
        );
        assert_eq!(
            visitor(ip("fd00::1"), Some("2001:db8::5"), &trusted),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn refused_targets() {
        let own = [ip("10.77.0.2"), ip("fd77::2")];
        for bad in [
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
            "10.77.0.2",
            "fd77::2",
            "::ffff:10.77.0.2",
        ] {
            assert!(refusal(ip(bad), &own, false).is_some(), "{bad}");
        }
        assert!(refusal(ip("127.0.0.1"), &own, false).is_some());
        assert!(refusal(ip("::1"), &own, false).is_some());
        assert_eq!(refusal(ip("127.0.0.1"), &own, true), None);
        assert_eq!(refusal(ip("10.77.1.11"), &own, false), None);
        assert_eq!(refusal(ip("fd77:1::11"), &own, false), None);
    }
}
