//! IPv6 header (RFC 8200), its extension headers, and a plain [`Repr`].

use std::net::Ipv6Addr;

use crate::bytes::{get_u16, get_u32, set_u16, set_u32, Field};
use crate::{ip, WireError};

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// How many extension headers [`walk_extension_headers`] follows before it gives up.
pub const MAX_EXT_HEADERS: usize = 8;

/// A read/write view of an IPv6 packet over a byte buffer.
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

    /// Checks the fixed header alone: version 6 and 40 bytes present. The payload length
    /// is not looked at (the check for a header quoted in an ICMPv6 error).
    ///
    /// # Errors
    /// [`WireError::Truncated`], [`WireError::BadVersion`].
    pub fn check_header(&self) -> Result<(), WireError> {
        let data = self.buffer.as_ref();
        let first = *data.first().ok_or(WireError::Truncated)?;
        if first >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        if data.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Checks the header as [`Packet::check_header`] does, then that the payload length
    /// fits in the buffer (bytes past it are link padding, ignored by [`Packet::payload`]).
    ///
    /// # Errors
    /// [`WireError::Truncated`], [`WireError::BadVersion`].
    pub fn check_len(&self) -> Result<(), WireError> {
        self.check_header()?;
        if HEADER_LEN + usize::from(self.payload_len()) > self.buffer.as_ref().len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version nibble (6 for a valid packet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((get_u16(self.buffer.as_ref(), 0) >> 4) & 0xff) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start) & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header, extension headers included).
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Next header: the first extension header or the upper-layer protocol.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Payload as the payload length gives it. Needs [`Packet::check_len`].
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Everything after the fixed header, whatever the payload length says.
    pub fn after_header(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(b);
    Ipv6Addr::from(o)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version, traffic class and flow label (the first four bytes).
    pub fn set_version_tc_flow(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        let v = (u32::from(version) << 28)
            | (u32::from(traffic_class) << 20)
            | (flow_label & 0x000f_ffff);
        set_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, v);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = value;
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }
}

/// A view of a Hop-by-Hop, Routing or Destination Options extension header: next header,
/// length in 8-byte units not counting the first 8, then data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps a buffer without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        ExtHeader { buffer }
    }

    /// Wraps a buffer and checks that the whole header is inside it.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let h = Self::new_unchecked(buffer);
        let data = h.buffer.as_ref();
        if data.len() < 8 || data.len() < h.header_len() {
            return Err(WireError::Truncated);
        }
        Ok(h)
    }

    /// The header that follows this one.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Length of this header in bytes ((field + 1) × 8).
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[1]) + 1) * 8
    }

    /// The options or routing data after the two fixed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }
}

/// Length of the Fragment extension header.
pub const FRAG_HEADER_LEN: usize = 8;

/// A view of the Fragment extension header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragHeader<T> {
    /// Wraps a buffer without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        FragHeader { buffer }
    }

    /// Wraps a buffer and checks that the 8-byte header is inside it.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < FRAG_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// The header that follows (in the first fragment) or would follow.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 2) & 0xfff8
    }

    /// The "more fragments" flag.
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), 2) & 1 != 0
    }

    /// Identification.
    pub fn ident(&self) -> u32 {
        get_u32(self.buffer.as_ref(), 4)
    }
}

/// Fragment header fields, when a packet carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of this fragment in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// Identification shared by the fragments of one packet.
    pub ident: u32,
}

/// The upper layer found after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer<'a> {
    /// Upper-layer protocol (for a non-first fragment: the fragment header's next header).
    pub protocol: u8,
    /// Bytes from the upper-layer header on (for a non-first fragment: the fragment data).
    pub payload: &'a [u8],
    /// The fragment header, if one was crossed.
    pub fragment: Option<Fragment>,
}

impl UpperLayer<'_> {
    /// Whether `payload` starts with the upper-layer header (not a non-first fragment).
    pub fn has_transport_header(&self) -> bool {
        !matches!(self.fragment, Some(f) if f.offset != 0)
    }
}

/// Result of a lenient walk: how far it got, and why it stopped early if it did.
pub(crate) struct Walk<'a> {
    pub upper: UpperLayer<'a>,
    pub stopped: Option<WireError>,
}

/// Walks extension headers as far as the data allows, never failing.
pub(crate) fn walk(mut next_header: u8, mut data: &[u8]) -> Walk<'_> {
    fn stop(protocol: u8, payload: &[u8], fragment: Option<Fragment>, e: WireError) -> Walk<'_> {
        Walk {
            upper: UpperLayer {
                protocol,
                payload,
                fragment,
            },
            stopped: Some(e),
        }
    }
    let mut fragment = None;
    for _ in 0..MAX_EXT_HEADERS {
        match next_header {
            ip::HOP_BY_HOP | ip::IPV6_ROUTING | ip::IPV6_DEST_OPTS => {
                let h = match ExtHeader::new_checked(data) {
                    Ok(h) => h,
                    Err(e) => return stop(next_header, data, fragment, e),
                };
                next_header = h.next_header();
                data = data.get(h.header_len()..).unwrap_or_default();
            }
            ip::IPV6_FRAGMENT => {
                let h = match FragHeader::new_checked(data) {
                    Ok(h) => h,
                    Err(e) => return stop(next_header, data, fragment, e),
                };
                let f = Fragment {
                    offset: h.frag_offset(),
                    more: h.more_frags(),
                    ident: h.ident(),
                };
                fragment = Some(f);
                next_header = h.next_header();
                data = data.get(FRAG_HEADER_LEN..).unwrap_or_default();
                if f.offset != 0 {
                    // The rest is the middle of some header or payload: stop here.
                    break;
                }
            }
            _ => break,
        }
    }
    let upper = UpperLayer {
        protocol: next_header,
        payload: data,
        fragment,
    };
    let non_first = fragment.is_some_and(|f| f.offset != 0);
    let stopped = if is_extension_header(next_header) && !non_first {
        Some(WireError::TooManyExtensionHeaders)
    } else {
        None
    };
    Walk { upper, stopped }
}

/// Whether a next-header value is one of the extension headers walked here.
pub const fn is_extension_header(next_header: u8) -> bool {
    matches!(
        next_header,
        ip::HOP_BY_HOP | ip::IPV6_ROUTING | ip::IPV6_DEST_OPTS | ip::IPV6_FRAGMENT
    )
}

/// Skips the Hop-by-Hop, Routing, Destination Options and Fragment headers that start
/// `data` (the IPv6 payload, whose first header is `next_header`), at most
/// [`MAX_EXT_HEADERS`] of them. A non-first fragment stops the walk: its data is not a
/// header. Other headers (ESP, AH, ...) are returned as the upper layer.
///
/// # Errors
/// [`WireError::Truncated`] if a header runs past the data,
/// [`WireError::TooManyExtensionHeaders`] past the bound.
pub fn walk_extension_headers(next_header: u8, data: &[u8]) -> Result<UpperLayer<'_>, WireError> {
    let w = walk(next_header, data);
    match w.stopped {
        Some(e) => Err(e),
        None => Ok(w.upper),
    }
}

/// The fields of the fixed IPv6 header.
///
/// [`Repr::emit`] writes traffic class 0 and flow label 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Repr {
    /// Reads the fixed header of a packet.
    ///
    /// # Errors
    /// Those of [`Packet::check_len`]; [`WireError::Jumbogram`] for payload length 0.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        if packet.payload_len() == 0 {
            return Err(WireError::Jumbogram);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Length of the header [`Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header into the first 40 bytes of `packet`.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`] if the buffer is shorter than 40 bytes;
    /// [`WireError::TooLong`] if the payload length exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        let len = u16::try_from(self.payload_len).map_err(|_| WireError::TooLong)?;
        packet.set_version_tc_flow(6, 0, 0);
        packet.set_payload_len(len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn deconstruct_fixed_header() {
        let p = Packet::new_checked(&V6_EXT_SYN[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0);
        assert_eq!(p.payload_len(), 48);
        assert_eq!(p.next_header(), ip::HOP_BY_HOP);
        assert_eq!(p.hop_limit(), 57);
        assert_eq!(p.src_addr(), a("2001:db8::1"));
        assert_eq!(p.dst_addr(), a("2001:db8::2"));
        assert_eq!(p.payload().len(), 48);
    }

    #[test]
    fn traffic_class_and_flow_label() {
        let mut b = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_tc_flow(6, 0xb8, 0x12345);
        assert_eq!(&b[..4], &[0x6b, 0x81, 0x23, 0x45]);
        let p = Packet::new_unchecked(&b[..]);
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
    }

    #[test]
    fn walk_hop_by_hop_dest_fragment() {
        let p = Packet::new_checked(&V6_EXT_SYN[..]).unwrap();
        let u = walk_extension_headers(p.next_header(), p.payload()).unwrap();
        assert_eq!(u.protocol, ip::TCP);
        assert_eq!(u.payload.len(), 24);
        assert_eq!(&u.payload[..4], &[0x9c, 0x40, 0x00, 0x50]);
        assert_eq!(
            u.fragment,
            Some(Fragment {
                offset: 0,
                more: true,
                ident: 0xabcdef01
            })
        );
        assert!(u.has_transport_header());
        let h = ExtHeader::new_checked(p.payload()).unwrap();
        assert_eq!(h.next_header(), ip::IPV6_DEST_OPTS);
        assert_eq!(h.header_len(), 8);
        assert_eq!(h.data(), &[1, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn later_fragment_stops_walk() {
        let p = Packet::new_checked(&V6_LATER_FRAGMENT[..]).unwrap();
        let u = walk_extension_headers(p.next_header(), p.payload()).unwrap();
        assert_eq!(u.protocol, ip::UDP);
        assert_eq!(u.payload, &[0x11; 16]);
        assert_eq!(
            u.fragment,
            Some(Fragment {
                offset: 1480,
                more: false,
                ident: 0xabcdef02
            })
        );
        assert!(!u.has_transport_header());
    }

    #[test]
    fn later_fragment_of_extension_header_is_not_walked() {
        // The fragmentable part starts with a destination-options header; in a later
        // fragment the data after the fragment header is not that header.
        let mut d = [0u8; 24];
        d[..8].copy_from_slice(&[ip::IPV6_DEST_OPTS, 0, 0x00, 0x08, 0, 0, 0, 9]);
        d[8] = ip::TCP;
        d[9] = 0;
        let u = walk_extension_headers(ip::IPV6_FRAGMENT, &d).unwrap();
        assert_eq!(u.protocol, ip::IPV6_DEST_OPTS);
        assert_eq!(u.payload.len(), 16);
        assert_eq!(
            u.fragment,
            Some(Fragment {
                offset: 8,
                more: false,
                ident: 9
            })
        );
        assert!(!u.has_transport_header());
    }

    #[test]
    fn walk_bounds_and_truncation() {
        // Nine chained empty destination-options headers: one more than the bound.
        let mut chain = [0u8; 8 * 9];
        for h in chain.chunks_mut(8) {
            h[0] = ip::IPV6_DEST_OPTS;
        }
        assert_eq!(
            walk_extension_headers(ip::IPV6_DEST_OPTS, &chain),
            Err(WireError::TooManyExtensionHeaders)
        );
        // Eight are fine when the last one points at TCP.
        chain[7 * 8] = ip::TCP;
        let u = walk_extension_headers(ip::IPV6_DEST_OPTS, &chain[..64]).unwrap();
        assert_eq!(u.protocol, ip::TCP);
        assert!(u.payload.is_empty());
        // A header whose length runs past the data.
        assert_eq!(
            walk_extension_headers(ip::HOP_BY_HOP, &[6, 1, 0, 0, 0, 0, 0, 0]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            walk_extension_headers(ip::IPV6_FRAGMENT, &[6, 0, 0]),
            Err(WireError::Truncated)
        );
        // Not an extension header: returned as is.
        let u = walk_extension_headers(ip::IPV6_NO_NEXT, &[]).unwrap();
        assert_eq!(u.protocol, ip::IPV6_NO_NEXT);
        // Lenient walk reports where it stopped.
        let w = walk(
            ip::HOP_BY_HOP,
            &[ip::IPV6_DEST_OPTS, 0, 0, 0, 0, 0, 0, 0, 6, 0],
        );
        assert_eq!(w.upper.protocol, ip::IPV6_DEST_OPTS);
        assert_eq!(w.stopped, Some(WireError::Truncated));
    }

    #[test]
    fn construct_and_round_trip() {
        let repr = Repr {
            src_addr: a("2001:db8::1"),
            dst_addr: a("2001:db8::2"),
            next_header: ip::HOP_BY_HOP,
            payload_len: 48,
            hop_limit: 57,
        };
        let mut buf = [0xffu8; 40];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf, V6_EXT_SYN[..40]);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&V6_EXT_SYN[..])),
            Ok(repr)
        );
        let long = Repr {
            payload_len: 65536,
            ..repr
        };
        assert_eq!(
            long.emit(&mut Packet::new_unchecked(&mut buf[..])),
            Err(WireError::TooLong)
        );
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut buf[..39])),
            Err(WireError::BufferTooSmall)
        );
    }

    #[test]
    fn bad_fields() {
        let mut b = V6_EXT_SYN;
        b[0] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadVersion)
        );
        let mut b = V6_EXT_SYN;
        b[5] = 49; // payload length one past the buffer
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::Truncated)
        );
        b[5] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(WireError::Jumbogram));
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..V6_EXT_SYN.len() {
            assert_eq!(
                Packet::new_checked(&V6_EXT_SYN[..n]).err(),
                Some(WireError::Truncated),
                "prefix {n}"
            );
        }
        // The payload alone, cut anywhere: the walk errs or finds TCP with what is left.
        let payload = &V6_EXT_SYN[40..];
        for n in 0..payload.len() {
            match walk_extension_headers(ip::HOP_BY_HOP, &payload[..n]) {
                Ok(u) => {
                    assert!(n >= 24);
                    assert_eq!(u.protocol, ip::TCP);
                    assert_eq!(u.payload, &payload[24..n]);
                }
                Err(e) => {
                    assert!(n < 24, "prefix {n}");
                    assert_eq!(e, WireError::Truncated);
                }
            }
        }
    }
}
