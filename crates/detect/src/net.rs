//! Address blocks for `--home` and `--allow`: `10.0.0.0/8`, `fd00::/8`, a bare address.

use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

/// A block that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an address or a block such as 10.0.0.0/8 or fd00::/8")]
    BadAddress(String),
    /// The prefix length is not a number within the family's width.
    #[error("{0:?}: the prefix length must be 0-32 for IPv4, 0-128 for IPv6")]
    BadPrefix(String),
}

impl Net {
    /// A block from an address and a prefix length (clamped to the family's width).
    pub fn new(addr: IpAddr, prefix: u8) -> Net {
        let width = if addr.is_ipv4() { 32 } else { 128 };
        Net {
            addr,
            prefix: prefix.min(width),
        }
    }

    /// Whether `a` lies in the block.
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let shift = 32 - u32::from(self.prefix);
                let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let shift = 128 - u32::from(self.prefix);
                let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// Reads a comma-separated list of blocks.
    ///
    /// # Errors
    /// The first entry that is not a block.
    pub fn parse_list(s: &str) -> Result<Vec<Net>, NetError> {
        s.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(Net::from_str)
            .collect()
    }
}

impl FromStr for Net {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Net, NetError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| NetError::BadAddress(s.into()))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(NetError::BadPrefix(s.into())),
            },
        };
        Ok(Net { addr, prefix })
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let n: Net = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(!n.contains("fd00::1".parse().unwrap()));
        let all: Net = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let one: Net = "fd00::5".parse().unwrap();
        assert!(one.contains("fd00::5".parse().unwrap()));
        assert!(!one.contains("fd00::6".parse().unwrap()));
        assert_eq!(Net::parse_list("10.0.0.0/8, fd00::/8").unwrap().len(), 2);
        assert!(matches!(
            "10.0.0.0/33".parse::<Net>(),
            Err(NetError::BadPrefix(_))
        ));
        assert!(matches!(
            "nope".parse::<Net>(),
            Err(NetError::BadAddress(_))
        ));
    }
}
