//! Keyed probe cookies: replies are validated without per-probe state.
//!
//! A SYN probe's sequence number is a keyed hash of (target, port, source port). A
//! SYN/ACK or RST must acknowledge that sequence number plus one, and an ICMP error must
//! quote it, so stray and forged replies — which cannot know the key — are rejected.
//!
//! The try number is carried by the source port, not the sequence number: try *k* leaves
//! from `base + k` (see [`crate::scan`]). A retransmission must not reuse the first try's
//! 4-tuple with another sequence number: if the first SYN/ACK was lost, the target still
//! holds a half-open connection, and a new SYN inside its window is answered with RST —
//! an open port would read "closed".

use crate::perm::splitmix64;
use std::net::IpAddr;

/// Computes and checks cookies under one secret key.
#[derive(Debug, Clone, Copy)]
pub struct CookieJar {
    key: u64,
}

impl CookieJar {
    /// A jar with the given secret.
    pub fn new(key: u64) -> CookieJar {
        CookieJar { key }
    }

    /// The sequence number of a probe to `dst:dport` from source port `sport`.
    pub fn seq(&self, dst: IpAddr, dport: u16, sport: u16) -> u32 {
        let mut h = splitmix64(self.key ^ (u64::from(dport) << 16 | u64::from(sport)));
        match dst {
            IpAddr::V4(a) => h = splitmix64(h ^ u64::from(u32::from(a))),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                h = splitmix64(h ^ (v as u64));
                h = splitmix64(h ^ ((v >> 64) as u64));
            }
        }
        (h >> 32) as u32
    }

    /// Whether `seq` is the sequence number we sent for this flow.
    pub fn check(&self, dst: IpAddr, dport: u16, sport: u16, seq: u32) -> bool {
        self.seq(dst, dport, sport) == seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_others() {
        let jar = CookieJar::new(99);
        let dst: IpAddr = "10.0.0.1".parse().unwrap();
        let s = jar.seq(dst, 80, 40000);
        assert!(jar.check(dst, 80, 40000, s));
        assert!(!jar.check(dst, 80, 40000, s.wrapping_add(1)));
        assert!(!jar.check(dst, 81, 40000, s));
        assert!(!jar.check(dst, 80, 40001, s));
        assert!(!jar.check("10.0.0.2".parse().unwrap(), 80, 40000, s));
        assert!(!CookieJar::new(100).check(dst, 80, 40000, s));
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let s6 = jar.seq(v6, 443, 40000);
        assert!(jar.check(v6, 443, 40000, s6));
    }
}
