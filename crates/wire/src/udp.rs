//! UDP header (RFC 768): a byte view [`Packet`] and a plain [`Repr`].

use std::net::IpAddr;

use crate::bytes::{get_u16, set_u16, Field};
use crate::{checksum, ip, WireError};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write view of a UDP datagram over a byte buffer.
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

    /// Checks that the 8-byte header is present and that the length field is at least 8
    /// and within the buffer (bytes past it are ignored by [`Packet::payload`]).
    ///
    /// # Errors
    /// [`WireError::Truncated`] below 8 bytes; [`WireError::BadLength`] for a length field
    /// below 8 or beyond the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN || field_len > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length field (header and payload).
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Whether the length field says the datagram has no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum field (0: none was computed, IPv4 only).
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Payload, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Whether the checksum is correct for a datagram from `src` to `dst`: true for a zero
    /// checksum over IPv4 (none computed), false if the families differ. Sums over the
    /// datagram as the length field gives it.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if src.is_ipv4() && dst.is_ipv4() && self.checksum() == 0 {
            return true;
        }
        let data = &self.buffer.as_ref()[..usize::from(self.len())];
        match checksum::pseudo_header(src, dst, ip::UDP, u32::from(self.len())) {
            Ok(ph) => checksum::combine(&[ph, checksum::data(data)]) == 0xffff,
            Err(_) => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT.start, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT.start, value);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Mutable payload, up to the length field.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes and stores the checksum over the datagram (as long as the length field
    /// says) and the pseudo-header. A computed 0 is sent as 0xffff (RFC 768).
    ///
    /// # Errors
    /// [`WireError::FamilyMismatch`].
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) -> Result<(), WireError> {
        let len = self.len();
        let ph = checksum::pseudo_header(src, dst, ip::UDP, u32::from(len))?;
        self.set_checksum(0);
        let sum = checksum::combine(&[
            ph,
            checksum::data(&self.buffer.as_ref()[..usize::from(len)]),
        ]);
        let c = checksum::finish(sum);
        self.set_checksum(if c == 0 { 0xffff } else { c });
        Ok(())
    }
}

/// The fields of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Reads a datagram; the checksum is not verified (see [`Packet::verify_checksum`]).
    ///
    /// # Errors
    /// Those of [`Packet::check_len`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>, WireError> {
        packet.check_len()?;
        let data: &'a [u8] = packet.buffer.as_ref();
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &data[HEADER_LEN..usize::from(packet.len())],
        })
    }

    /// Length [`Repr::emit`] writes: header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the datagram into the first [`Repr::buffer_len`] bytes of `buf`, checksum
    /// over the pseudo-header of `src` → `dst` included; returns the length written.
    ///
    /// # Errors
    /// [`WireError::TooLong`] past 65535 bytes, [`WireError::BufferTooSmall`],
    /// [`WireError::FamilyMismatch`].
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize, WireError> {
        let n = self.buffer_len();
        let len = u16::try_from(n).map_err(|_| WireError::TooLong)?;
        let out = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        out[HEADER_LEN..].copy_from_slice(self.payload);
        let mut p = Packet::new_unchecked(out);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(len);
        p.fill_checksum(src, dst)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn deconstruct_with_ipv4_options_before() {
        let d = &V4_OPTIONS_UDP[24..35];
        let p = Packet::new_checked(d).unwrap();
        assert_eq!(p.src_port(), 5353);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 11);
        assert!(!p.is_empty());
        assert_eq!(p.payload(), b"abc");
        assert!(p.verify_checksum(a("10.0.0.1"), a("10.0.0.2")));
        assert!(!p.verify_checksum(a("10.0.0.1"), a("10.0.0.3")));
    }

    // Hand-computed: 10.0.0.1:53000 -> 10.0.0.2:161, no payload.
    // pseudo: 0x0a00+0x0001+0x0a00+0x0002+0x0011+0x0008 = 0x141c
    // header: 0xcf08 (53000) + 0x00a1 (161) + 0x0008 = 0xcfb1
    // 0x141c + 0xcfb1 = 0xe3cd; checksum = !0xe3cd = 0x1c32.
    #[test]
    fn checksum_hand_computed() {
        let r = Repr {
            src_port: 53000,
            dst_port: 161,
            payload: &[],
        };
        let mut b = [0u8; 8];
        assert_eq!(r.emit(&mut b, a("10.0.0.1"), a("10.0.0.2")), Ok(8));
        assert_eq!(b, [0xcf, 0x08, 0x00, 0xa1, 0x00, 0x08, 0x1c, 0x32]);
        assert_eq!(b, BUILT_V4_UDP_EMPTY[20..]);
    }

    #[test]
    fn zero_checksum_sent_as_ffff() {
        // 10.0.0.1 -> 10.0.0.2, ports 0 -> 0, 2-byte payload chosen so the sum is 0xffff:
        // pseudo 0x0a00+0x0001+0x0a00+0x0002+0x0011+0x000a = 0x141e; header + length 0x000a
        // gives 0x1428; payload word 0xebd7 brings the sum to 0xffff, i.e. checksum 0.
        let r = Repr {
            src_port: 0,
            dst_port: 0,
            payload: &[0xeb, 0xd7],
        };
        let mut b = [0u8; 10];
        r.emit(&mut b, a("10.0.0.1"), a("10.0.0.2")).unwrap();
        assert_eq!(&b[6..8], &[0xff, 0xff]);
        assert!(Packet::new_unchecked(&b[..]).verify_checksum(a("10.0.0.1"), a("10.0.0.2")));
    }

    #[test]
    fn zero_checksum_means_none_on_ipv4_only() {
        let mut b = [0u8; 8];
        b[5] = 8;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_empty());
        assert!(p.verify_checksum(a("10.0.0.1"), a("10.0.0.2")));
        assert!(!p.verify_checksum(a("2001:db8::1"), a("2001:db8::2")));
        assert!(!p.verify_checksum(a("10.0.0.1"), a("2001:db8::2")));
    }

    #[test]
    fn construct_v6_and_round_trip() {
        let r = Repr {
            src_port: 53000,
            dst_port: 53,
            payload: &[0x12, 0x34, 0x01, 0x00],
        };
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        let mut b = [0u8; 12];
        assert_eq!(r.emit(&mut b, s, d), Ok(12));
        assert_eq!(b, BUILT_V6_UDP[40..]);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..])), Ok(r));
        assert!(Packet::new_unchecked(&b[..]).verify_checksum(s, d));
        assert_eq!(r.emit(&mut b[..11], s, d), Err(WireError::BufferTooSmall));
        assert_eq!(
            r.emit(&mut b, s, a("10.0.0.1")),
            Err(WireError::FamilyMismatch)
        );
        let big = [0u8; 65528];
        let r = Repr { payload: &big, ..r };
        assert_eq!(r.emit(&mut [0u8; 8], s, d), Err(WireError::TooLong));
    }

    #[test]
    fn bad_length_field() {
        let mut b = [0u8; 12];
        b.copy_from_slice(&BUILT_V6_UDP[40..]);
        b[5] = 13;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadLength)
        );
        b[5] = 7;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadLength)
        );
        b[5] = 10; // shorter than the buffer: payload trimmed
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap().payload(),
            &[0x12, 0x34]
        );
    }

    #[test]
    fn truncated_at_every_length() {
        let d = &BUILT_V6_UDP[40..];
        for n in 0..d.len() {
            let want = if n < 8 {
                WireError::Truncated
            } else {
                WireError::BadLength
            };
            assert_eq!(Packet::new_checked(&d[..n]).err(), Some(want), "prefix {n}");
        }
    }
}
