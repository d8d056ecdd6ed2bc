//! monban's signature on the probes it crafts, so that defenders (and `monban detect`)
//! can tell monban's probes from anyone else's with one packet and no key.
//!
//! Every probe monban writes itself (SYN, FIN, NULL, Xmas, ACK, window, UDP, ICMP echo and
//! timestamp; not `-sT`, whose packets the kernel writes) carries the *mark* of a 32-bit
//! value the probe already holds:
//!
//! ```text
//! mark(x) = (x >> 16) XOR (x & 0xffff) XOR 0x6d62        ("mb")
//! ```
//!
//! - TCP: the window field is `mark(seq)` (IPv4 and IPv6), and IPv4's identification is
//!   `mark(seq)` too.
//! - UDP: IPv4's identification is `mark(src_port << 16 | dst_port)`.
//! - ICMP echo and timestamp requests: IPv4's identification is `mark(ident << 16 | seq)`.
//!
//! A random packet matches by chance once in 65,536 tries per field; a TCP probe over
//! IPv4 matches in two fields at once. As a tcpdump filter, monban's IPv4 TCP probes are
//! `tcp[14:2] = (tcp[4:2] ^ tcp[6:2] ^ 0x6d62) and ip[4:2] = tcp[14:2]`.
//!
//! The mark hides nothing and claims nothing: anyone can forge it, as anyone can forge
//! zmap's fixed identification 54321. It only keeps monban honest about being monban.

/// The constant of the mark: the bytes "mb".
pub const MARK_KEY: u16 = 0x6d62;

/// The mark of a 32-bit value: its two halves and [`MARK_KEY`] XORed together.
pub const fn mark(x: u32) -> u16 {
    ((x >> 16) as u16) ^ (x as u16) ^ MARK_KEY
}

/// The mark of two 16-bit values (ports, or an ICMP identifier and sequence number).
pub const fn mark_pair(hi: u16, lo: u16) -> u16 {
    mark((hi as u32) << 16 | lo as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_is_the_xor_of_halves_and_key() {
        assert_eq!(mark(0), 0x6d62);
        assert_eq!(mark(0x1234_5678), 0x1234 ^ 0x5678 ^ 0x6d62);
        assert_eq!(mark_pair(0x1234, 0x5678), mark(0x1234_5678));
        // Changing either half changes the mark.
        assert_ne!(mark(0x1234_5678), mark(0x1235_5678));
        assert_ne!(mark(0x1234_5678), mark(0x1234_5679));
    }
}
