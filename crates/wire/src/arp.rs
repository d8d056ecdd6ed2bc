//! ARP over Ethernet for IPv4 (RFC 826), and the Ethernet II header it travels in.
//!
//! [`Packet`] is a view over the 28-byte ARP packet (the Ethernet payload); [`Repr`] is the
//! plain form with [`Repr::parse`] and [`Repr::emit`]. [`EthernetHeader`] reads and writes
//! the 14-byte header, and [`Repr::emit_frame`] / [`parse_frame`] do both at once for a
//! `SOCK_RAW` packet socket. [`MacAddr`] is the link-layer address that ARP and NDP share.
//!
//! Only the hardware/protocol pair that exists on Ethernet LANs is read: 6-byte hardware
//! addresses and 4-byte IPv4 addresses. A packet declaring other lengths cannot be read
//! with these field offsets and gives [`WireError::BadHeaderLen`].

use std::fmt;
use std::net::Ipv4Addr;

use crate::bytes::{get_u16, set_u16, Field};
use crate::WireError;

mod field {
    use super::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;

    pub const ETH_DST: Field = 0..6;
    pub const ETH_SRC: Field = 6..12;
    pub const ETH_TYPE: Field = 12..14;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;
/// Length of an Ethernet II header (no VLAN tag).
pub const ETHERNET_HEADER_LEN: usize = field::ETH_TYPE.end;
/// Length of a whole ARP frame as [`Repr::emit_frame`] writes it (without padding or FCS).
pub const FRAME_LEN: usize = ETHERNET_HEADER_LEN + PACKET_LEN;
/// Hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type (an EtherType) of IPv4.
pub const PTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// A 48-bit IEEE 802 MAC address.
///
/// Displays as nmap writes it: six upper-case hex pairs separated by colons.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00, the "unknown" target hardware address of an ARP request.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six bytes.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(self) -> bool {
        self == MacAddr::BROADCAST
    }

    /// Whether the group bit is set (multicast or broadcast).
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Whether every byte is zero.
    pub fn is_zero(self) -> bool {
        self == MacAddr::ZERO
    }

    /// Whether this can be the address of one station: not zero, not a group address.
    pub fn is_unicast(self) -> bool {
        !self.is_zero() && !self.is_multicast()
    }

    /// Reads `aa:bb:cc:dd:ee:ff` (either case, `:` or `-` between pairs); `None` if the
    /// text is anything else.
    pub fn parse(text: &str) -> Option<MacAddr> {
        let bytes = text.as_bytes();
        if bytes.len() != 17 {
            return None;
        }
        let mut out = [0u8; 6];
        for (i, o) in out.iter_mut().enumerate() {
            let at = i * 3;
            if i > 0 && !matches!(bytes.get(at - 1), Some(b':' | b'-')) {
                return None;
            }
            let pair = text.get(at..at + 2)?;
            if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            *o = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(MacAddr(out))
    }

    fn from_slice(data: &[u8]) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(data);
        MacAddr(m)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

/// ARP operation codes.
pub mod operation {
    /// Request: who has the target protocol address?
    pub const REQUEST: u16 = 1;
    /// Reply: the sender has it.
    pub const REPLY: u16 = 2;
}

/// A read/write view of an Ethernet/IPv4 ARP packet over a byte buffer.
///
/// After [`Packet::new_checked`] no accessor panics; on a view made with
/// [`Packet::new_unchecked`] over a short buffer they may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer and runs [`Packet::check_len`].
    ///
    /// # Errors
    /// See [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the 28 bytes are present and that the packet declares 6-byte hardware
    /// and 4-byte protocol addresses (the only layout this view reads). Bytes after the
    /// 28th (Ethernet padding) are allowed and ignored.
    ///
    /// # Errors
    /// [`WireError::Truncated`] below 28 bytes; [`WireError::BadHeaderLen`] for other
    /// address lengths.
    pub fn check_len(&self) -> Result<(), WireError> {
        let data = self.buffer.as_ref();
        if data.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        if data[field::HLEN] != 6 || data[field::PLEN] != 4 {
            return Err(WireError::BadHeaderLen);
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE.start)
    }

    /// Protocol type (0x0800 for IPv4).
    pub fn protocol_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PTYPE.start)
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation (see [`operation`]).
    pub fn operation(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::OPER.start)
    }

    /// Sender hardware address.
    pub fn sender_hardware_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address.
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::SPA.start)
    }

    /// Target hardware address.
    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::TPA.start)
    }
}

fn ipv4_at(data: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(data[at], data[at + 1], data[at + 2], data[at + 3])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::HTYPE.start, value);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::PTYPE.start, value);
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::OPER.start, value);
    }

    /// Sets the sender hardware address.
    pub fn set_sender_hardware_addr(&mut self, value: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&value.0);
    }

    /// Sets the sender protocol address.
    pub fn set_sender_protocol_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&value.octets());
    }

    /// Sets the target hardware address.
    pub fn set_target_hardware_addr(&mut self, value: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&value.0);
    }

    /// Sets the target protocol address.
    pub fn set_target_protocol_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&value.octets());
    }
}

/// An ARP packet with 6-byte hardware and 4-byte protocol addresses.
///
/// The hardware and protocol types are kept as read: a caller that wants Ethernet/IPv4
/// only checks [`Repr::is_ethernet_ipv4`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Hardware type ([`HTYPE_ETHERNET`]).
    pub hardware_type: u16,
    /// Protocol type ([`PTYPE_IPV4`]).
    pub protocol_type: u16,
    /// Operation (see [`operation`]).
    pub operation: u16,
    /// Sender hardware address.
    pub sender_hardware_addr: MacAddr,
    /// Sender protocol address.
    pub sender_protocol_addr: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub target_hardware_addr: MacAddr,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// An Ethernet/IPv4 request from `sender` asking who has `target`.
    pub const fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Repr {
        Repr {
            hardware_type: HTYPE_ETHERNET,
            protocol_type: PTYPE_IPV4,
            operation: operation::REQUEST,
            sender_hardware_addr: sender_mac,
            sender_protocol_addr: sender_ip,
            target_hardware_addr: MacAddr::ZERO,
            target_protocol_addr: target_ip,
        }
    }

    /// An Ethernet/IPv4 reply: `sender_ip` is at `sender_mac`, told to `target`.
    pub const fn reply(
        sender_mac: MacAddr,
        sender_ip: Ipv4Addr,
        target_mac: MacAddr,
        target_ip: Ipv4Addr,
    ) -> Repr {
        Repr {
            hardware_type: HTYPE_ETHERNET,
            protocol_type: PTYPE_IPV4,
            operation: operation::REPLY,
            sender_hardware_addr: sender_mac,
            sender_protocol_addr: sender_ip,
            target_hardware_addr: target_mac,
            target_protocol_addr: target_ip,
        }
    }

    /// Reads a packet.
    ///
    /// # Errors
    /// As [`Packet::check_len`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        Ok(Repr {
            hardware_type: packet.hardware_type(),
            protocol_type: packet.protocol_type(),
            operation: packet.operation(),
            sender_hardware_addr: packet.sender_hardware_addr(),
            sender_protocol_addr: packet.sender_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Whether hardware and protocol types are Ethernet and IPv4.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type == HTYPE_ETHERNET && self.protocol_type == PTYPE_IPV4
    }

    /// Whether this is a gratuitous announcement (sender and target protocol addresses
    /// equal): a host telling the segment about itself, not answering anyone.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_protocol_addr == self.target_protocol_addr
    }

    /// Length [`Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the 28-byte packet into the start of `buf`; returns the length written.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let out = buf.get_mut(..PACKET_LEN).ok_or(WireError::BufferTooSmall)?;
        let mut p = Packet::new_unchecked(out);
        p.set_hardware_type(self.hardware_type);
        p.set_protocol_type(self.protocol_type);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(self.operation);
        p.set_sender_hardware_addr(self.sender_hardware_addr);
        p.set_sender_protocol_addr(self.sender_protocol_addr);
        p.set_target_hardware_addr(self.target_hardware_addr);
        p.set_target_protocol_addr(self.target_protocol_addr);
        Ok(PACKET_LEN)
    }

    /// Writes a whole Ethernet frame to `dst` (from the sender hardware address, EtherType
    /// ARP) into the start of `buf`; returns [`FRAME_LEN`]. No padding: the driver or NIC
    /// pads to the 60-byte minimum.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`].
    pub fn emit_frame(&self, dst: MacAddr, buf: &mut [u8]) -> Result<usize, WireError> {
        let out = buf.get_mut(..FRAME_LEN).ok_or(WireError::BufferTooSmall)?;
        let (head, body) = out.split_at_mut(ETHERNET_HEADER_LEN);
        EthernetHeader {
            dst,
            src: self.sender_hardware_addr,
            ethertype: ETHERTYPE_ARP,
        }
        .emit(head)?;
        self.emit(body)?;
        Ok(FRAME_LEN)
    }
}

/// An Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetHeader {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl EthernetHeader {
    /// Reads the header at the start of `frame`; returns it and the payload after it.
    ///
    /// # Errors
    /// [`WireError::Truncated`] below 14 bytes.
    pub fn parse(frame: &[u8]) -> Result<(EthernetHeader, &[u8]), WireError> {
        if frame.len() < ETHERNET_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let (head, payload) = frame.split_at(ETHERNET_HEADER_LEN);
        Ok((
            EthernetHeader {
                dst: MacAddr::from_slice(&head[field::ETH_DST]),
                src: MacAddr::from_slice(&head[field::ETH_SRC]),
                ethertype: get_u16(head, field::ETH_TYPE.start),
            },
            payload,
        ))
    }

    /// Writes the 14-byte header into the start of `buf`.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let out = buf
            .get_mut(..ETHERNET_HEADER_LEN)
            .ok_or(WireError::BufferTooSmall)?;
        out[field::ETH_DST].copy_from_slice(&self.dst.0);
        out[field::ETH_SRC].copy_from_slice(&self.src.0);
        set_u16(out, field::ETH_TYPE.start, self.ethertype);
        Ok(ETHERNET_HEADER_LEN)
    }
}

/// Reads an ARP frame: the Ethernet header and the ARP packet after it. Returns `Ok(None)`
/// for a frame of another EtherType.
///
/// # Errors
/// [`WireError::Truncated`] and [`WireError::BadHeaderLen`] as [`EthernetHeader::parse`]
/// and [`Packet::check_len`].
pub fn parse_frame(frame: &[u8]) -> Result<Option<(EthernetHeader, Repr)>, WireError> {
    let (eth, payload) = EthernetHeader::parse(frame)?;
    if eth.ethertype != ETHERTYPE_ARP {
        return Ok(None);
    }
    let repr = Repr::parse(&Packet::new_checked(payload)?)?;
    Ok(Some((eth, repr)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const MAC_A: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    const MAC_B: MacAddr = MacAddr([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);

    /// A Linux reply, 192.168.56.20 is-at 52:54:00:ab:cd:ef, to 192.168.56.1 at
    /// 02:00:5e:10:20:30, in an Ethernet frame padded to 60 bytes; written out by hand
    /// from RFC 826's layout.
    const REPLY_FRAME: [u8; 60] = [
        0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // dst
        0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, // src
        0x08, 0x06, // EtherType ARP
        0x00, 0x01, // htype Ethernet
        0x08, 0x00, // ptype IPv4
        0x06, 0x04, // hlen, plen
        0x00, 0x02, // reply
        0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, // sha
        0xc0, 0xa8, 0x38, 0x14, // spa 192.168.56.20
        0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // tha
        0xc0, 0xa8, 0x38, 0x01, // tpa 192.168.56.1
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    /// The broadcast request 192.168.56.1 (02:00:5e:10:20:30) asking who has 192.168.56.20.
    const REQUEST_FRAME: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, 0xc0, 0xa8,
        0x38, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x38, 0x14,
    ];

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn deconstruct_reply_frame() {
        let (eth, r) = parse_frame(&REPLY_FRAME).unwrap().unwrap();
        assert_eq!(
            eth,
            EthernetHeader {
                dst: MAC_A,
                src: MAC_B,
                ethertype: ETHERTYPE_ARP
            }
        );
        assert_eq!(
            r,
            Repr::reply(MAC_B, ip("192.168.56.20"), MAC_A, ip("192.168.56.1"))
        );
        assert!(r.is_ethernet_ipv4());
        assert!(!r.is_gratuitous());
        let p = Packet::new_checked(&REPLY_FRAME[14..]).unwrap();
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), operation::REPLY);
    }

    #[test]
    fn construct_request_frame() {
        let r = Repr::request(MAC_A, ip("192.168.56.1"), ip("192.168.56.20"));
        let mut buf = [0xaau8; 64];
        assert_eq!(r.emit_frame(MacAddr::BROADCAST, &mut buf), Ok(FRAME_LEN));
        assert_eq!(buf[..FRAME_LEN], REQUEST_FRAME);
        assert_eq!(buf[FRAME_LEN], 0xaa, "nothing written past the frame");
        for n in 0..FRAME_LEN {
            assert_eq!(
                r.emit_frame(MacAddr::BROADCAST, &mut buf[..n]),
                Err(WireError::BufferTooSmall)
            );
        }
        let mut p = [0u8; PACKET_LEN];
        assert_eq!(r.emit(&mut p), Ok(PACKET_LEN));
        assert_eq!(p[..], REQUEST_FRAME[14..]);
        assert_eq!(r.emit(&mut p[..27]), Err(WireError::BufferTooSmall));
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..REPLY_FRAME.len() {
            let got = parse_frame(&REPLY_FRAME[..n]);
            if n < ETHERNET_HEADER_LEN + PACKET_LEN {
                assert_eq!(got, Err(WireError::Truncated), "length {n}");
            } else {
                assert!(matches!(got, Ok(Some(_))), "length {n}");
            }
        }
    }

    #[test]
    fn other_address_lengths_are_refused() {
        let mut f = REPLY_FRAME;
        f[18] = 8; // hlen 8
        assert_eq!(parse_frame(&f), Err(WireError::BadHeaderLen));
        let mut f = REPLY_FRAME;
        f[19] = 16; // plen 16
        assert_eq!(parse_frame(&f), Err(WireError::BadHeaderLen));
    }

    #[test]
    fn other_ethertype_and_types_are_told_apart() {
        let mut f = REPLY_FRAME;
        f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        assert_eq!(parse_frame(&f), Ok(None));
        let mut f = REPLY_FRAME;
        f[14..16].copy_from_slice(&6u16.to_be_bytes()); // IEEE 802 hardware
        let (_, r) = parse_frame(&f).unwrap().unwrap();
        assert_eq!(r.hardware_type, 6);
        assert!(!r.is_ethernet_ipv4());
    }

    #[test]
    fn gratuitous_is_recognised() {
        let g = Repr::request(MAC_B, ip("10.0.0.5"), ip("10.0.0.5"));
        assert!(g.is_gratuitous());
    }

    #[test]
    fn round_trip_random() {
        let mut rng = Rng::new(0x0a2b);
        for _ in 0..500 {
            let mut m = [[0u8; 6]; 2];
            rng.fill(&mut m[0]);
            rng.fill(&mut m[1]);
            let r = Repr {
                hardware_type: rng.u16(),
                protocol_type: rng.u16(),
                operation: rng.u16(),
                sender_hardware_addr: MacAddr(m[0]),
                sender_protocol_addr: Ipv4Addr::from(rng.u32()),
                target_hardware_addr: MacAddr(m[1]),
                target_protocol_addr: Ipv4Addr::from(rng.u32()),
            };
            let mut buf = [0u8; FRAME_LEN];
            let dst = MacAddr(m[1]);
            assert_eq!(r.emit_frame(dst, &mut buf), Ok(FRAME_LEN));
            let (eth, back) = parse_frame(&buf).unwrap().unwrap();
            assert_eq!(back, r);
            assert_eq!(eth.dst, dst);
            assert_eq!(eth.src, MacAddr(m[0]));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng::new(77);
        let mut buf = [0u8; 64];
        for _ in 0..20_000 {
            let n = rng.below(buf.len() + 1);
            rng.fill(&mut buf[..n]);
            if rng.bool() && n > 13 {
                buf[12] = 0x08;
                buf[13] = 0x06;
                if n > 19 {
                    buf[18] = 6;
                    buf[19] = 4;
                }
            }
            let _ = parse_frame(&buf[..n]);
            let _ = Repr::parse(&Packet::new_unchecked(&buf[..n]));
        }
    }

    #[test]
    fn mutations_of_the_fixture_parse_or_fail_cleanly() {
        // Every single-byte change either parses to a Repr that differs exactly in the
        // field that byte belongs to, or is refused for its length bytes.
        for at in 0..FRAME_LEN {
            let mut f = REPLY_FRAME;
            f[at] ^= 0xff;
            let got = parse_frame(&f);
            match at {
                12 | 13 => assert_eq!(got, Ok(None), "byte {at}"),
                18 | 19 => assert_eq!(got, Err(WireError::BadHeaderLen), "byte {at}"),
                _ => {
                    let (eth, r) = got.unwrap().unwrap();
                    let orig = parse_frame(&REPLY_FRAME).unwrap().unwrap();
                    assert_ne!((eth, r), orig, "byte {at}");
                }
            }
        }
    }

    #[test]
    fn mac_text() {
        assert_eq!(MAC_B.to_string(), "52:54:00:AB:CD:EF");
        assert_eq!(format!("{MAC_B:?}"), "MacAddr(52:54:00:AB:CD:EF)");
        assert_eq!(MacAddr::parse("52:54:00:ab:cd:ef"), Some(MAC_B));
        assert_eq!(MacAddr::parse("52-54-00-AB-CD-EF"), Some(MAC_B));
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:ef:",
            "52:54:00:ab:cd:eg",
            "52:54:00;ab:cd:ef",
            "+2:54:00:ab:cd:ef",
            "5:254:00:ab:cd:ef",
            "52:54:00:ab:cd:\u{e9}",
        ] {
            assert_eq!(MacAddr::parse(bad), None, "{bad:?}");
        }
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::BROADCAST.is_unicast());
        assert!(MacAddr([0x33, 0x33, 0, 0, 0, 1]).is_multicast());
        assert!(!MacAddr::ZERO.is_unicast());
        assert!(MAC_A.is_unicast());
        assert_eq!(MAC_A.octets(), [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    }
}
