//! A keyed pseudo-random permutation of `0..n`, computed on the fly.
//!
//! A balanced Feistel network over the smallest even number of bits that covers `n`,
//! with cycle walking: indices that land outside `0..n` are encrypted again until they
//! fall inside. Because the Feistel network is a bijection on its domain, cycle walking
//! yields a bijection on `0..n`. The domain is at most 4·n, so on average fewer than four
//! rounds of walking are needed. Nothing is stored but the key: a /8 × 65,536 ports
//! costs the same memory as one port.

/// A keyed permutation of `0..n`.
#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    half_mask: u64,
    keys: [u64; ROUNDS],
}

const ROUNDS: usize = 4;

impl Permutation {
    /// A permutation of `0..n` chosen by `key`.
    pub fn new(n: u64, key: u64) -> Permutation {
        let mut bits = 64 - n.saturating_sub(1).leading_zeros();
        if bits % 2 == 1 {
            bits += 1;
        }
        let half_bits = (bits / 2).max(1);
        let mut keys = [0u64; ROUNDS];
        let mut k = key;
        for slot in &mut keys {
            k = splitmix64(k);
            *slot = k;
        }
        Permutation {
            n,
            half_bits,
            half_mask: (1u64 << half_bits) - 1,
            keys,
        }
    }

    /// Size of the permuted range.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The `i`-th element of the permutation (`i < n`); `i` itself if out of range.
    pub fn get(&self, i: u64) -> u64 {
        if i >= self.n {
            return i;
        }
        let mut x = i;
        loop {
            x = self.encrypt(x);
            if x < self.n {
                return x;
            }
        }
    }

    fn encrypt(&self, x: u64) -> u64 {
        let mut left = (x >> self.half_bits) & self.half_mask;
        let mut right = x & self.half_mask;
        for k in &self.keys {
            let f = splitmix64(right ^ k) & self.half_mask;
            let next = left ^ f;
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }
}

/// SplitMix64 finaliser: a fast, well-mixing 64-bit bijection.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bijection(n: u64, key: u64) {
        let p = Permutation::new(n, key);
        let mut seen = vec![false; n as usize];
        for i in 0..n {
            let j = p.get(i);
            assert!(j < n, "n={n} i={i} -> {j}");
            assert!(!seen[j as usize], "n={n}: {j} twice");
            seen[j as usize] = true;
        }
    }

    #[test]
    fn is_a_bijection_for_many_sizes() {
        for n in [
            1u64, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 255, 256, 257, 1000, 65_536,
        ] {
            check_bijection(n, 42);
            check_bijection(n, 7);
        }
    }

    #[test]
    fn key_changes_order_and_order_is_not_identity() {
        let a = Permutation::new(1000, 1);
        let b = Permutation::new(1000, 2);
        let va: Vec<u64> = (0..1000).map(|i| a.get(i)).collect();
        let vb: Vec<u64> = (0..1000).map(|i| b.get(i)).collect();
        assert_ne!(va, vb);
        let fixed = va
            .iter()
            .enumerate()
            .filter(|(i, v)| *i as u64 == **v)
            .count();
        assert!(fixed < 20, "{fixed} fixed points");
    }

    #[test]
    fn empty_and_out_of_range() {
        let p = Permutation::new(0, 1);
        assert!(p.is_empty());
        assert_eq!(p.get(5), 5);
    }
}
