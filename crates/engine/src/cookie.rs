//! Keyed probe cookies: replies are validated without per-probe state.
//!
//! A SYN probe's sequence number is a keyed hash of (target, port, source port) with its
//! low four bits replaced by the try number. A SYN/ACK or RST must acknowledge that
//! sequence number plus one, and an ICMP error must quote it, so stray and forged replies
//! — which cannot know the key — are rejected, and the answered try is known exactly
//! (a clean RTT sample even for retransmissions).

use crate::perm::splitmix64;
use std::net::IpAddr;

/// Bits of the sequence number that carry the try number.
pub const TRY_BITS: u32 = 4;
const TRY_MASK: u32 = (1 << TRY_BITS) - 1;

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

    fn hash(&self, dst: IpAddr, dport: u16, sport: u16) -> u32 {
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

    /// Sequence number for try `attempt` (0-based; values above 15 are stored as 15).
    pub fn seq(&self, dst: IpAddr, dport: u16, sport: u16, attempt: u8) -> u32 {
        (self.hash(dst, dport, sport) & !TRY_MASK) | u32::from(attempt.min(TRY_MASK as u8))
    }

    /// If `seq` is one of ours for this flow, the try it carries.
    pub fn check(&self, dst: IpAddr, dport: u16, sport: u16, seq: u32) -> Option<u8> {
        if (self.hash(dst, dport, sport) & !TRY_MASK) == (seq & !TRY_MASK) {
            Some((seq & TRY_MASK) as u8)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_others() {
        let jar = CookieJar::new(99);
        let dst: IpAddr = "10.0.0.1".parse().unwrap();
        for attempt in 0..16 {
            let s = jar.seq(dst, 80, 40000, attempt);
            assert_eq!(jar.check(dst, 80, 40000, s), Some(attempt));
        }
        let s = jar.seq(dst, 80, 40000, 0);
        assert_eq!(jar.check(dst, 81, 40000, s), None);
        assert_eq!(jar.check("10.0.0.2".parse().unwrap(), 80, 40000, s), None);
        assert_eq!(CookieJar::new(100).check(dst, 80, 40000, s), None);
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let s6 = jar.seq(v6, 443, 40000, 3);
        assert_eq!(jar.check(v6, 443, 40000, s6), Some(3));
    }
}
