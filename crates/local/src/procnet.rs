//! Rows of `/proc/net/{tcp,tcp6,udp,udp6}`: the fallback when netlink sock_diag is
//! unavailable.
//!
//! Each file starts with a header line (`sl local_address rem_address st ...`), then one
//! line per socket, fields separated by runs of spaces:
//!
//! ```text
//!    0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 ...
//!    slot local       remote        st tx:rx             tr:when     retrnsmt  uid  timeout inode ...
//! ```
//!
//! An address is `HEX:PORT`. The port is 4 hex digits written most significant first, so
//! it reads as an ordinary hex number. The address is what the kernel got by loading the
//! network-order address bytes as native `u32` words and printing each word with `%08X`:
//! 8 digits (one word) for IPv4, 32 digits (four words) for IPv6. Parsing each word back
//! with `u32::from_str_radix` and taking `to_ne_bytes` therefore gives the address bytes
//! in network order on any host endianness (`0100007F` is 127.0.0.1 on little-endian x86).
//! The family is told per row by the address length, so the four files parse alike.
//!
//! `st` is the kernel's socket state in hex (TCP's states; UDP sockets show 07, closed, or
//! 01 when connected), `uid` and `inode` are decimal. Fields after the inode differ between
//! TCP and UDP and are not read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP state `LISTEN`: a listening socket.
pub const TCP_LISTEN: u8 = 0x0A;
/// TCP state `CLOSE`: how an unconnected (bound) UDP socket shows.
pub const TCP_CLOSE: u8 = 0x07;

/// One socket row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port (unspecified and 0 when not connected).
    pub remote: SocketAddr,
    /// Kernel socket state (see [`TCP_LISTEN`], [`TCP_CLOSE`]).
    pub state: u8,
    /// Owner's uid, in the socket's user namespace as the kernel shows it to the reader.
    pub uid: u32,
    /// Socket inode, matching `socket:[INODE]` links in `/proc/PID/fd`; 0 for sockets
    /// without one (TIME_WAIT, for instance).
    pub inode: u64,
}

/// Parses the text of one of the files. Returns the rows and the count of lines that were
/// neither the header, blank, nor a valid row.
pub fn parse(text: &str) -> (Vec<Row>, usize) {
    let mut rows = Vec::new();
    let mut malformed = 0;
    for line in text.lines() {
        let first = line.split_ascii_whitespace().next();
        if first.is_none() || first == Some("sl") {
            continue;
        }
        match row(line) {
            Some(r) => rows.push(r),
            None => malformed += 1,
        }
    }
    (rows, malformed)
}

fn row(line: &str) -> Option<Row> {
    let mut f = line.split_ascii_whitespace();
    let slot = f.next()?;
    if !slot.ends_with(':') {
        return None;
    }
    let local = sock_addr(f.next()?)?;
    let remote = sock_addr(f.next()?)?;
    let state = hex(f.next()?, 2)? as u8;
    let (_queues, _timer, _retransmits) = (f.next()?, f.next()?, f.next()?);
    let uid = decimal(f.next()?)?;
    let _timeout = f.next()?;
    let inode = decimal(f.next()?)?;
    Some(Row {
        local,
        remote,
        state,
        uid: u32::try_from(uid).ok()?,
        inode,
    })
}

/// `HEX:PORT` with an 8 or 32 digit address.
fn sock_addr(field: &str) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    if port.len() != 4 {
        return None;
    }
    let port = hex(port, 4)? as u16;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (chunk, out) in addr.as_bytes().chunks(8).zip(bytes.chunks_mut(4)) {
                out.copy_from_slice(&word(std::str::from_utf8(chunk).ok()?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// One 8-digit address word back to its network-order bytes (see the module doc).
fn word(digits: &str) -> Option<[u8; 4]> {
    Some((hex(digits, 8)? as u32).to_ne_bytes())
}

/// Hex digits only (no sign, which `from_str_radix` would accept), at most `max` of them.
fn hex(digits: &str, max: usize) -> Option<u64> {
    if digits.is_empty() || digits.len() > max || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

fn decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const HEADER4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    const HEADER6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    /// The address words as the kernel prints them for these network-order bytes.
    fn kernel_hex(bytes: &[u8]) -> String {
        bytes
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    }

    fn one(text: &str) -> Row {
        let (rows, bad) = parse(text);
        assert_eq!(bad, 0, "{text}");
        assert_eq!(rows.len(), 1, "{text}");
        rows[0]
    }

    #[test]
    fn v4_loopback_listener() {
        let local = kernel_hex(&[127, 0, 0, 1]);
        #[cfg(target_endian = "little")]
        assert_eq!(local, "0100007F");
        let text = format!(
            "{HEADER4}   0: {local}:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n"
        );
        let r = one(&text);
        assert_eq!(r.local, "127.0.0.1:22".parse().unwrap());
        assert_eq!(r.remote, "0.0.0.0:0".parse().unwrap());
        assert_eq!(r.state, TCP_LISTEN);
        assert_eq!((r.uid, r.inode), (0, 12345));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn little_endian_literal() {
        let r = one("   1: 0101A8C0:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   1000        0 99 1\n");
        assert_eq!(r.local, "192.168.1.1:8080".parse().unwrap());
        assert_eq!(r.uid, 1000);
    }

    fn v6_row(local: &str, port: &str, state: &str, inode: &str) -> String {
        format!(
            "{HEADER6}   0: {local}:{port} 00000000000000000000000000000000:0000 {state} 00000000:00000000 00:00000000 00000000   101        0 {inode} 2 0000000000000000 0\n"
        )
    }

    #[test]
    fn v6_unspecified() {
        let r = one(&v6_row(&kernel_hex(&[0; 16]), "0050", "0A", "777"));
        assert_eq!(r.local, "[::]:80".parse().unwrap());
        assert_eq!(r.remote, "[::]:0".parse().unwrap());
        assert_eq!((r.state, r.uid, r.inode), (TCP_LISTEN, 101, 777));
    }

    #[test]
    fn v6_loopback_and_mapped() {
        let lo: Ipv6Addr = "::1".parse().unwrap();
        let r = one(&v6_row(&kernel_hex(&lo.octets()), "0035", "07", "5"));
        assert_eq!(r.local, "[::1]:53".parse().unwrap());
        let mapped: Ipv6Addr = "::ffff:127.0.0.1".parse().unwrap();
        let hex = kernel_hex(&mapped.octets());
        #[cfg(target_endian = "little")]
        assert_eq!(hex, "0000000000000000FFFF00000100007F");
        let r = one(&v6_row(&hex, "0277", "0A", "6"));
        assert_eq!(r.local, SocketAddr::new(IpAddr::V6(mapped), 631));
    }

    #[test]
    fn udp_and_odd_states() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 511: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2301 2 0000000000000000 0\n\
            \x20  2: 0100007F:0016 0100007F:D431 01 00000000:00000000 02:0009F0B4 00000000     0        0 4242 4 0000000000000000 20 4 29 10 -1\n\
            \x20  3: 0100007F:0016 0100007F:D432 06 00000000:00000000 03:00001773 00000000     0        0 0 3 0000000000000000\n";
        let (rows, bad) = parse(text);
        assert_eq!(bad, 0);
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.local.port(), r.state, r.inode))
            .collect();
        assert_eq!(
            got,
            [(68, TCP_CLOSE, 2301), (22, 0x01, 4242), (22, 0x06, 0)]
        );
        assert_eq!(rows[1].remote.port(), 0xD431);
    }

    #[test]
    fn garbage_counted_as_malformed() {
        let good =
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1";
        let bad = [
            "   0: 00000000:0016",                                                                          // short
            "garbage",                                                                                      // no slot
            "   0 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",             // slot without ':'
            "   0: 0000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",             // 7 digits
            "   0: 00000000:016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",             // 3 port digits
            "   0: 0000000G:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",            // not hex
            "   0: +0000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",            // sign
            "   0: 00000000:0016 00000000:0000 10A 00000000:00000000 00:00000000 00000000 0 0 1",           // state
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1",           // uid
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 0 1",   // uid range
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x",            // inode
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0",              // no inode
            "   0: 0000000000000000000000000000000é:0016 00000000:0000 0A 0:0 0:0 0 0 0 1",                // multibyte
        ];
        let text = format!("{HEADER4}{good}\n\n{}\n{good}\n", bad.join("\n"));
        let (rows, malformed) = parse(&text);
        assert_eq!((rows.len(), malformed), (2, bad.len()));
        assert_eq!(parse(""), (vec![], 0));
        assert_eq!(parse(HEADER6), (vec![], 0));
        assert_eq!(parse("\u{0}\u{ffff}::::\n:\n").1, 2);
    }

    #[test]
    fn hundred_thousand_rows() {
        let mut text = String::from(HEADER4);
        for i in 0..100_000u32 {
            text.push_str(&format!(
                "{i:>5}: 0100007F:{:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 100 0 0 10 0\n",
                i % 65536,
                i + 1
            ));
        }
        let start = Instant::now();
        let (rows, bad) = parse(&text);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!((rows.len(), bad), (100_000, 0));
        assert_eq!(rows[99_999].inode, 100_000);
    }
}
