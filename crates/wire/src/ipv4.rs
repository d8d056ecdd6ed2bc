//! IPv4 header (RFC 791): a byte view [`Packet`] and a plain [`Repr`].

use std::net::Ipv4Addr;

use crate::bytes::{get_u16, set_u16, Field};
use crate::{checksum, WireError};

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// Largest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet over a byte buffer.
///
/// Accessors read straight from the buffer. After [`Packet::new_checked`] (or a successful
/// [`Packet::check_len`]) none of them panics; on a view made with
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

    /// Checks the header alone: version 4, at least 20 bytes, IHL ≥ 5 and the whole header
    /// (with options) inside the buffer. The total length field is not looked at — this is
    /// the check for a header quoted inside an ICMP error, where the quote is shorter than
    /// the datagram it describes. After it, every accessor but [`Packet::payload`] is safe.
    ///
    /// # Errors
    /// [`WireError::Truncated`], [`WireError::BadVersion`], [`WireError::BadHeaderLen`].
    pub fn check_header(&self) -> Result<(), WireError> {
        let data = self.buffer.as_ref();
        let first = *data.first().ok_or(WireError::Truncated)?;
        if first >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        if data.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if hl > data.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Checks the header as [`Packet::check_header`] does, then the total length: not below
    /// the header length and not beyond the buffer (bytes past it are link padding and are
    /// ignored by [`Packet::payload`]).
    ///
    /// # Errors
    /// [`WireError::Truncated`], [`WireError::BadVersion`], [`WireError::BadHeaderLen`],
    /// [`WireError::BadLength`] (total length below the header length).
    pub fn check_len(&self) -> Result<(), WireError> {
        self.check_header()?;
        let total = usize::from(self.total_len());
        if total < self.header_len() {
            return Err(WireError::BadLength);
        }
        if total > self.buffer.as_ref().len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version nibble (4 for a valid packet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point.
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification bits.
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length field (header and payload).
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// The "don't fragment" flag.
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_DF != 0
    }

    /// The "more fragments" flag.
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field × 8).
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF.start) & OFFSET_MASK) << 3
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload (see [`crate::ip`]).
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Whether the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// Header options (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Payload, from the end of the header to the total length (link padding excluded).
    /// Needs [`Packet::check_len`], not only [`Packet::check_header`].
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// Everything after the header, whatever the total length says: the transport bytes
    /// of a quoted header, or of a packet whose total length is not trusted.
    pub fn after_header(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version nibble and header length (bytes, a multiple of 4 from 20 to 60).
    pub fn set_version_and_header_len(&mut self, version: u8, header_len: usize) {
        let ihl = ((header_len / 4) & 0x0f) as u8;
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | ihl;
    }

    /// Sets DSCP and ECN.
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT.start, value);
    }

    /// Sets flags and fragment offset (`frag_offset` in bytes, a multiple of 8).
    pub fn set_flags_and_offset(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        let mut v = (frag_offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        set_u16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Computes and stores the header checksum (over the header length set before).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let sum = checksum::data(&self.buffer.as_ref()[..hl]);
        self.set_checksum(checksum::finish(sum));
    }

    /// Mutable payload, from the end of the header to the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The fields of an IPv4 header that monban reads and writes.
///
/// [`Repr::emit`] writes a 20-byte header (no options), DSCP/ECN 0, no fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// The "don't fragment" flag.
    pub dont_frag: bool,
}

impl Repr {
    /// Reads the header of a checked packet. The checksum is not verified (captured
    /// packets often carry unfinished offload checksums) and options are skipped.
    ///
    /// # Errors
    /// Those of [`Packet::check_len`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Length of the header [`Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, checksum included, into the first 20 bytes of `packet`.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`] if the buffer is shorter than 20 bytes;
    /// [`WireError::TooLong`] if the total length would exceed 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        let total = u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| WireError::TooLong)?;
        packet.set_version_and_header_len(4, HEADER_LEN);
        packet.set_dscp_ecn(0, 0);
        packet.set_total_len(total);
        packet.set_ident(self.ident);
        packet.set_flags_and_offset(self.dont_frag, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    #[test]
    fn deconstruct_synack_header() {
        let p = Packet::new_checked(&V4_SYNACK[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), crate::ip::TCP);
        assert_eq!(p.checksum(), 0x4956);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 56, 20));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 56, 1));
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.payload().len(), 40);
        assert_eq!(&p.payload()[..2], &[0x00, 0x16]);
    }

    #[test]
    fn options_and_link_padding() {
        let p = Packet::new_checked(&V4_OPTIONS_UDP[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.total_len(), 35);
        // 37 bytes in the buffer, 35 in the packet: the 2 pad bytes are not payload.
        assert_eq!(p.payload().len(), 11);
        assert_eq!(&p.payload()[8..], b"abc");
        assert_eq!(p.after_header().len(), 13);
        assert!(p.verify_checksum());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 11);
        assert_eq!(r.ttl, 1);
        assert_eq!(r.ident, 0x0102);
        assert!(!r.dont_frag);
    }

    #[test]
    fn later_fragment_fields() {
        let p = Packet::new_checked(&V4_LATER_FRAGMENT[..]).unwrap();
        assert_eq!(p.frag_offset(), 1480);
        assert!(!p.more_frags());
        assert_eq!(p.ident(), 0x7777);
    }

    #[test]
    fn construct_matches_fixture_header() {
        let repr = Repr {
            src_addr: Ipv4Addr::new(192, 168, 56, 20),
            dst_addr: Ipv4Addr::new(192, 168, 56, 1),
            protocol: crate::ip::TCP,
            payload_len: 40,
            ttl: 64,
            ident: 0,
            dont_frag: true,
        };
        let mut buf = [0xaau8; 20];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf, V4_SYNACK[..20]);
        let mut small = [0u8; 19];
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut small[..])),
            Err(WireError::BufferTooSmall)
        );
        let long = Repr {
            payload_len: 65516,
            ..repr
        };
        assert_eq!(
            long.emit(&mut Packet::new_unchecked(&mut buf[..])),
            Err(WireError::TooLong)
        );
        let max = Repr {
            payload_len: 65515,
            ..repr
        };
        assert_eq!(max.emit(&mut Packet::new_unchecked(&mut buf[..])), Ok(()));
        assert_eq!(Packet::new_unchecked(&buf[..]).total_len(), 65535);
    }

    // Hand-computed: 45 00 00 1c | 00 00 00 00 | 40 01 [cs] | 0a 00 00 01 | 0a 00 00 02
    // sum = 0x4500 + 0x001c + 0x4001 + 0x0a00 + 0x0001 + 0x0a00 + 0x0002 = 0x991f+... :
    // 0x4500+0x001c = 0x451c; +0x4001 = 0x851d; +0x0a00 = 0x8f1d; +0x0001 = 0x8f1e;
    // +0x0a00 = 0x991e; +0x0002 = 0x9920; checksum = !0x9920 = 0x66df.
    #[test]
    fn header_checksum_hand_computed() {
        let repr = Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: crate::ip::ICMP,
            payload_len: 8,
            ttl: 64,
            ident: 0,
            dont_frag: false,
        };
        let mut buf = [0u8; 20];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(Packet::new_unchecked(&buf[..]).checksum(), 0x66df);
    }

    #[test]
    fn round_trip_repr() {
        let p = Packet::new_checked(&V4_SYNACK[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut buf = [0u8; 20];
        r.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf, V4_SYNACK[..20]);
    }

    #[test]
    fn bad_fields() {
        let mut b = V4_SYNACK;
        b[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadVersion)
        );
        b[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
        b[0] = 0x4f; // a 60-byte header exactly filling the 60-byte packet is valid
        assert_eq!(Packet::new_checked(&b[..]).err(), None);
        b[3] = 59; // total length below header length
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadLength)
        );
        let mut b = V4_SYNACK;
        b[3] = 61; // total length beyond the buffer
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::Truncated)
        );
        b[3] = 19;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadLength)
        );
        assert_eq!(
            Packet::new_checked(&[][..]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..V4_OPTIONS_UDP.len() {
            let r = Packet::new_checked(&V4_OPTIONS_UDP[..n]);
            if n < 35 {
                assert_eq!(r.err(), Some(WireError::Truncated), "prefix {n}");
            } else {
                assert_eq!(r.unwrap().payload().len(), 11);
            }
            if (1..24).contains(&n) {
                assert_eq!(
                    Packet::new_unchecked(&V4_OPTIONS_UDP[..n]).check_header(),
                    Err(WireError::Truncated)
                );
            }
        }
    }
}
