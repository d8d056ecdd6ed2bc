//! The header ICMPv4 and ICMPv6 share: type, code, checksum, four bytes that depend on the
//! type (echo identifier and sequence, MTU, pointer), then data. One view serves both;
//! [`crate::icmpv4`] and [`crate::icmpv6`] give the types their meaning.

use std::net::Ipv6Addr;

use crate::bytes::{get_u16, get_u32, set_u16, set_u32, Field};
use crate::{checksum, ip, WireError};

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
}

/// Length of the ICMP header (type, code, checksum, four type-dependent bytes).
pub const HEADER_LEN: usize = field::REST.end;

/// A read/write view of an ICMPv4 or ICMPv6 message over a byte buffer.
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

    /// Checks that the 8-byte header is present.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The four type-dependent header bytes as one number.
    pub fn rest_of_header(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::REST.start)
    }

    /// Echo identifier (echo request and reply).
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number (echo request and reply).
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// Data after the 8-byte header: echo payload, or the quoted datagram of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the ICMPv4 checksum (over the message alone) is correct.
    pub fn verify_checksum_v4(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }

    /// Whether the ICMPv6 checksum (message and pseudo-header) is correct.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        match u32::try_from(data.len()) {
            Ok(len) => {
                let ph = checksum::pseudo_header_v6(src, dst, ip::ICMPV6, len);
                checksum::combine(&[ph, checksum::data(data)]) == 0xffff
            }
            Err(_) => false,
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The whole buffer, borrowed for as long as the view's buffer is.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    /// Sets the message code.
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the four type-dependent header bytes.
    pub fn set_rest_of_header(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::REST.start, value);
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, value);
    }

    /// Mutable data after the header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and stores the ICMPv4 checksum over the whole buffer.
    pub fn fill_checksum_v4(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(checksum::finish(sum));
    }

    /// Computes and stores the ICMPv6 checksum over the whole buffer and the pseudo-header.
    ///
    /// # Errors
    /// [`WireError::TooLong`] for a buffer over 4 GiB.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) -> Result<(), WireError> {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let len = u32::try_from(data.len()).map_err(|_| WireError::TooLong)?;
        let ph = checksum::pseudo_header_v6(src, dst, ip::ICMPV6, len);
        let sum = checksum::combine(&[ph, checksum::data(data)]);
        self.set_checksum(checksum::finish(sum));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    #[test]
    fn view_over_echo_reply() {
        let p = Packet::new_checked(&V4_ECHO_REPLY[20..]).unwrap();
        assert_eq!(p.msg_type(), 0);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 7);
        assert_eq!(p.rest_of_header(), 0x1234_0007);
        assert_eq!(p.data(), b"monban!!");
        assert!(p.verify_checksum_v4());
    }

    #[test]
    fn checksum_v6_needs_pseudo_header() {
        let p = Packet::new_checked(&V6_ECHO_REPLY[40..]).unwrap();
        let (s, d): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::2".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        );
        assert!(p.verify_checksum_v6(s, d));
        // Swapping source and destination keeps the sum; another address does not.
        assert!(p.verify_checksum_v6(d, s));
        assert!(!p.verify_checksum_v6(s, "2001:db8::3".parse().unwrap()));
        assert!(!p.verify_checksum_v4());
    }

    #[test]
    fn truncated() {
        for n in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&V4_ECHO_REPLY[20..20 + n]).err(),
                Some(WireError::Truncated)
            );
        }
        assert!(Packet::new_checked(&V4_ECHO_REPLY[20..28])
            .unwrap()
            .data()
            .is_empty());
    }
}
