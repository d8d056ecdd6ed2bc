//! Which local address the kernel would use to reach a target.
//!
//! A UDP socket `connect()` makes the kernel choose a route and a source address
//! without sending anything; `getsockname()` then tells which. No `ip route` parsing.

use crate::NetError;
use socket2::{Domain, Socket, Type};
use std::net::{IpAddr, SocketAddr};

/// The source address for packets to `dst` (optionally bound to an interface).
pub fn source_for(dst: IpAddr, interface: Option<&str>) -> Result<IpAddr, NetError> {
    let domain = if dst.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::DGRAM, None).map_err(NetError::io("udp socket"))?;
    if let Some(ifname) = interface {
        sock.bind_device(Some(ifname.as_bytes()))
            .map_err(|_| NetError::NoSuchInterface(ifname.to_owned()))?;
    }
    sock.connect(&SocketAddr::new(dst, 9).into())
        .map_err(|source| NetError::NoRoute { addr: dst, source })?;
    let local = sock.local_addr().map_err(NetError::io("getsockname"))?;
    local
        .as_socket()
        .map(|s| s.ip())
        .ok_or_else(|| NetError::Io {
            what: "getsockname",
            source: std::io::Error::other("not an IP socket"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_source_is_loopback() {
        let src = source_for("127.0.0.1".parse().unwrap(), None).unwrap();
        assert_eq!(src, "127.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bad_interface_is_an_error() {
        match source_for("127.0.0.1".parse().unwrap(), Some("nosuchif0")) {
            Err(NetError::NoSuchInterface(n)) => assert_eq!(n, "nosuchif0"),
            // Binding to a device needs CAP_NET_RAW; without it the kernel says EPERM,
            // which we also report as this error.
            other => panic!("{other:?}"),
        }
    }
}
