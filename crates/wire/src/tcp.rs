//! TCP header (RFC 9293): flags, a byte view [`Packet`], options, and a plain [`Repr`].

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};
use std::net::IpAddr;

use crate::bytes::{get_u16, get_u32, set_u16, set_u32, Field};
use crate::{checksum, ip, WireError};

/// TCP flag bits (FIN=0x01, SYN=0x02, RST=0x04, PSH=0x08, ACK=0x10, URG=0x20, ECE=0x40, CWR=0x80).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No flag set (a NULL scan probe).
    pub const NONE: TcpFlags = TcpFlags(0);
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment number is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// The raw flag byte.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// Letters in bit order, F S R P A U E C (`SA` for a SYN/ACK, `.` for no flag).
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str(".");
        }
        for (i, c) in "FSRPAUEC".chars().enumerate() {
            if self.0 & (1 << i) != 0 {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;
/// Largest TCP options area (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;

/// A read/write view of a TCP segment over a byte buffer (the buffer is the segment:
/// header, options, payload).
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

    /// Checks that the 20-byte header is present and that the data offset is at least 5
    /// and within the segment.
    ///
    /// # Errors
    /// [`WireError::Truncated`] below 20 bytes; [`WireError::BadHeaderLen`] for a data
    /// offset below 5 or past the end of the segment.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN || hl > len {
            return Err(WireError::BadHeaderLen);
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The eight flag bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// Window size (unscaled).
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The options area, padding included.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The options, decoded one by one.
    pub fn option_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }

    /// The payload after header and options.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum is correct for a segment from `src` to `dst` (false if the
    /// families differ).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let data = self.buffer.as_ref();
        match u32::try_from(data.len())
            .ok()
            .and_then(|len| checksum::pseudo_header(src, dst, ip::TCP, len).ok())
        {
            Some(ph) => checksum::combine(&[ph, checksum::data(data)]) == 0xffff,
            None => false,
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

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM.start, value);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::ACK_NUM.start, value);
    }

    /// Sets the header length in bytes (a multiple of 4 from 20 to 60); the reserved bits
    /// are cleared.
    pub fn set_header_len(&mut self, value: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = (((value / 4) & 0x0f) as u8) << 4;
    }

    /// Sets the flag bits.
    pub fn set_flags(&mut self, value: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = value.0;
    }

    /// Sets the window size.
    pub fn set_window_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::WIN_SIZE.start, value);
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT.start, value);
    }

    /// Mutable options area (as long as the header length says).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    /// Mutable payload.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    /// Computes and stores the checksum over the whole buffer and the pseudo-header.
    ///
    /// # Errors
    /// [`WireError::FamilyMismatch`]; [`WireError::TooLong`] for a buffer over 4 GiB.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) -> Result<(), WireError> {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let len = u32::try_from(data.len()).map_err(|_| WireError::TooLong)?;
        let ph = checksum::pseudo_header(src, dst, ip::TCP, len)?;
        let sum = checksum::combine(&[ph, checksum::data(data)]);
        self.set_checksum(checksum::finish(sum));
        Ok(())
    }
}

/// Option kinds.
mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WS: u8 = 3;
    pub const SACK_PERM: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0).
    EndOfList,
    /// No operation, padding (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3).
    WindowScale(u8),
    /// Selective acknowledgment permitted (kind 4).
    SackPermitted,
    /// Selective acknowledgment blocks, raw (kind 5): pairs of 32-bit left/right edges.
    Sack(&'a [u8]),
    /// Timestamps (kind 8).
    Timestamp {
        /// Sender's timestamp value.
        tsval: u32,
        /// Echoed timestamp.
        tsecr: u32,
    },
    /// Any other option, with its data (after kind and length).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data.
        data: &'a [u8],
    },
}

impl TcpOption<'_> {
    /// Bytes this option takes on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(d) | TcpOption::Unknown { data: d, .. } => 2 + d.len(),
            TcpOption::Timestamp { .. } => 10,
        }
    }

    /// Writes the option at the start of `buf`; returns the bytes written.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`]; [`WireError::BadOption`] if data makes the option
    /// longer than its 8-bit length field allows.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let n = self.buffer_len();
        let out = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        let len = u8::try_from(n).map_err(|_| WireError::BadOption)?;
        match *self {
            TcpOption::EndOfList => out[0] = kind::END,
            TcpOption::NoOperation => out[0] = kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                out[..2].copy_from_slice(&[kind::MSS, len]);
                set_u16(out, 2, mss);
            }
            TcpOption::WindowScale(shift) => out.copy_from_slice(&[kind::WS, len, shift]),
            TcpOption::SackPermitted => out.copy_from_slice(&[kind::SACK_PERM, len]),
            TcpOption::Sack(data) => {
                out[..2].copy_from_slice(&[kind::SACK, len]);
                out[2..].copy_from_slice(data);
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                out[..2].copy_from_slice(&[kind::TIMESTAMP, len]);
                set_u32(out, 2, tsval);
                set_u32(out, 6, tsecr);
            }
            TcpOption::Unknown { kind, data } => {
                out[..2].copy_from_slice(&[kind, len]);
                out[2..].copy_from_slice(data);
            }
        }
        Ok(n)
    }
}

/// Iterator over the options of a TCP header. Stops after an end-of-list option, at the end
/// of the data, or after yielding an error.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    data: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Iterates over an options area (as [`Packet::options`] returns it).
    pub const fn new(data: &'a [u8]) -> Self {
        TcpOptions { data }
    }

    fn next_option(&mut self) -> Result<TcpOption<'a>, WireError> {
        let data = self.data;
        let (kind, rest) = match data {
            [k, rest @ ..] => (*k, rest),
            [] => return Err(WireError::BadOption),
        };
        match kind {
            kind::END => {
                self.data = &[];
                return Ok(TcpOption::EndOfList);
            }
            kind::NOP => {
                self.data = rest;
                return Ok(TcpOption::NoOperation);
            }
            _ => {}
        }
        let len = usize::from(*rest.first().ok_or(WireError::BadOption)?);
        if len < 2 {
            return Err(WireError::BadOption);
        }
        let body = data.get(2..len).ok_or(WireError::BadOption)?;
        self.data = data.get(len..).unwrap_or_default();
        let opt = match (kind, body) {
            (kind::MSS, &[a, b]) => TcpOption::MaxSegmentSize(u16::from_be_bytes([a, b])),
            (kind::WS, &[s]) => TcpOption::WindowScale(s),
            (kind::SACK_PERM, &[]) => TcpOption::SackPermitted,
            (kind::SACK, d) if !d.is_empty() && d.len() % 8 == 0 => TcpOption::Sack(d),
            (kind::TIMESTAMP, d) if d.len() == 8 => TcpOption::Timestamp {
                tsval: get_u32(d, 0),
                tsecr: get_u32(d, 4),
            },
            (kind::MSS | kind::WS | kind::SACK_PERM | kind::SACK | kind::TIMESTAMP, _) => {
                return Err(WireError::BadOption)
            }
            (kind, data) => TcpOption::Unknown { kind, data },
        };
        Ok(opt)
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let r = self.next_option();
        if r.is_err() {
            self.data = &[];
        }
        Some(r)
    }
}

/// Length of `options` once padded to a multiple of 4.
pub const fn padded_options_len(options: &[u8]) -> usize {
    (options.len() + 3) & !3
}

/// The fields of a TCP segment. Options are carried raw; [`TcpOption::emit`] writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window size (unscaled).
    pub window_len: u16,
    /// Urgent pointer.
    pub urgent_at: u16,
    /// Raw options; [`Repr::emit`] pads them with zero (end-of-list) bytes to a multiple of 4,
    /// [`Repr::parse`] returns them with their padding.
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Reads a segment. The checksum is not verified (captured packets often carry
    /// unfinished offload checksums; see [`Packet::verify_checksum`]).
    ///
    /// # Errors
    /// Those of [`Packet::check_len`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>, WireError> {
        packet.check_len()?;
        let data: &'a [u8] = packet.buffer.as_ref();
        let hl = packet.header_len();
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            urgent_at: packet.urgent_at(),
            options: &data[HEADER_LEN..hl],
            payload: &data[hl..],
        })
    }

    /// Header length [`Repr::emit`] writes: 20 plus the padded options.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + padded_options_len(self.options)
    }

    /// Segment length [`Repr::emit`] writes: header and payload.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the segment into the first [`Repr::buffer_len`] bytes of `buf`, checksum
    /// over the pseudo-header of `src` → `dst` included; returns the length written.
    ///
    /// # Errors
    /// [`WireError::OptionsTooLong`], [`WireError::BufferTooSmall`],
    /// [`WireError::FamilyMismatch`], [`WireError::TooLong`].
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize, WireError> {
        if self.options.len() > MAX_OPTIONS_LEN {
            return Err(WireError::OptionsTooLong);
        }
        let hl = self.header_len();
        let n = self.buffer_len();
        let seg = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        seg[HEADER_LEN..HEADER_LEN + self.options.len()].copy_from_slice(self.options);
        seg[HEADER_LEN + self.options.len()..hl].fill(0);
        seg[hl..].copy_from_slice(self.payload);
        let mut p = Packet::new_unchecked(seg);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.set_header_len(hl);
        p.set_flags(self.flags);
        p.set_window_len(self.window_len);
        p.set_urgent_at(self.urgent_at);
        p.fill_checksum(src, dst)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn flags() {
        let sa = TcpFlags::SYN | TcpFlags::ACK;
        assert_eq!(sa, TcpFlags(0x12));
        assert!(sa.contains(TcpFlags::SYN));
        assert!(sa.contains(TcpFlags::SYN | TcpFlags::ACK));
        assert!(!sa.contains(TcpFlags::RST));
        assert!(!sa.contains(TcpFlags::SYN | TcpFlags::RST));
        assert!(sa.intersects(TcpFlags::SYN | TcpFlags::RST));
        assert!(sa.contains(TcpFlags::NONE));
        assert_eq!((sa & TcpFlags::ACK), TcpFlags::ACK);
        let mut x = TcpFlags::FIN;
        x |= TcpFlags::PSH | TcpFlags::URG;
        assert_eq!(x.bits(), 0x29);
        assert_eq!(x.to_string(), "FPU");
        assert_eq!(sa.to_string(), "SA");
        assert_eq!(TcpFlags(0xff).to_string(), "FSRPAUEC");
        assert_eq!(TcpFlags::default().to_string(), ".");
    }

    #[test]
    fn deconstruct_linux_synack() {
        let seg = &V4_SYNACK[20..];
        let p = Packet::new_checked(seg).unwrap();
        assert_eq!(p.src_port(), 22);
        assert_eq!(p.dst_port(), 51234);
        assert_eq!(p.seq_number(), 0x1c2d3e4f);
        assert_eq!(p.ack_number(), 0x0a0b0c0e);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(p.window_len(), 65160);
        assert_eq!(p.checksum(), 0x4696);
        assert_eq!(p.urgent_at(), 0);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(v4("192.168.56.20"), v4("192.168.56.1")));
        assert!(!p.verify_checksum(v4("192.168.56.21"), v4("192.168.56.1")));
        assert!(!p.verify_checksum(v4("192.168.56.20"), "::1".parse().unwrap()));
        let opts: Vec<_> = p.option_iter().collect();
        assert_eq!(
            opts,
            vec![
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamp {
                    tsval: 0x8a1b2c3d,
                    tsecr: 0x00112233
                }),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::WindowScale(7)),
            ]
        );
    }

    #[test]
    fn deconstruct_rst() {
        let p = Packet::new_checked(&V4_RST[20..]).unwrap();
        assert_eq!(p.src_port(), 23);
        assert_eq!(p.flags(), TcpFlags::RST | TcpFlags::ACK);
        assert_eq!(p.window_len(), 0);
        assert_eq!(p.seq_number(), 0);
        assert_eq!(p.options(), &[] as &[u8]);
        assert!(p.verify_checksum(v4("192.168.56.20"), v4("192.168.56.1")));
    }

    #[test]
    fn construct_synack_from_options() {
        let mut opts = [0u8; 20];
        let mut at = 0;
        for o in [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamp {
                tsval: 0x8a1b2c3d,
                tsecr: 0x00112233,
            },
            TcpOption::NoOperation,
            TcpOption::WindowScale(7),
        ] {
            at += o.emit(&mut opts[at..]).unwrap();
        }
        assert_eq!(at, 20);
        let repr = Repr {
            src_port: 22,
            dst_port: 51234,
            seq_number: 0x1c2d3e4f,
            ack_number: 0x0a0b0c0e,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window_len: 65160,
            urgent_at: 0,
            options: &opts,
            payload: &[],
        };
        let mut buf = [0x55u8; 64];
        let n = repr
            .emit(&mut buf, v4("192.168.56.20"), v4("192.168.56.1"))
            .unwrap();
        assert_eq!(n, 40);
        assert_eq!(&buf[..40], &V4_SYNACK[20..]);
        assert_eq!(buf[40], 0x55, "nothing written past the segment");
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&V4_SYNACK[20..])),
            Ok(repr)
        );
    }

    #[test]
    fn construct_pads_options() {
        let repr = Repr {
            src_port: 40000,
            dst_port: 443,
            seq_number: 0xfffffffe,
            ack_number: 0,
            flags: TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG,
            window_len: 65535,
            urgent_at: 0,
            options: &[3, 3, 10],
            payload: &[],
        };
        let (s, d): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let mut buf = [0xeeu8; 24];
        assert_eq!(repr.emit(&mut buf, s, d), Ok(24));
        assert_eq!(buf[..], BUILT_V6_XMAS[40..]);
        assert_eq!(
            repr.emit(&mut buf[..23], s, d),
            Err(WireError::BufferTooSmall)
        );
        assert_eq!(
            repr.emit(&mut buf, s, v4("10.0.0.1")),
            Err(WireError::FamilyMismatch)
        );
        let long = Repr {
            options: &[1; 41],
            ..repr
        };
        assert_eq!(
            long.emit(&mut [0; 100], s, d),
            Err(WireError::OptionsTooLong)
        );
        let max = Repr {
            options: &[1; 40],
            ..repr
        };
        assert_eq!(max.emit(&mut [0; 100], s, d), Ok(60));
    }

    #[test]
    fn options_malformed() {
        fn all(d: &[u8]) -> Vec<Result<TcpOption<'_>, WireError>> {
            TcpOptions::new(d).collect()
        }
        assert_eq!(all(&[2, 4, 5]), vec![Err(WireError::BadOption)]);
        assert_eq!(all(&[8, 1, 0, 0]), vec![Err(WireError::BadOption)]);
        assert_eq!(all(&[254]), vec![Err(WireError::BadOption)]);
        assert_eq!(all(&[3, 4, 7, 0]), vec![Err(WireError::BadOption)]);
        assert_eq!(all(&[5, 2]), vec![Err(WireError::BadOption)]);
        assert_eq!(
            all(&[1, 0, 2, 4, 5, 0xb4]),
            vec![Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]
        );
        assert_eq!(
            all(&[254, 4, 0xaa, 0xbb, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            vec![
                Ok(TcpOption::Unknown {
                    kind: 254,
                    data: &[0xaa, 0xbb]
                }),
                Ok(TcpOption::Sack(&[0, 0, 0, 1, 0, 0, 0, 2])),
            ]
        );
        assert_eq!(all(&[]), vec![]);
    }

    #[test]
    fn option_emit_round_trip() {
        let sack = [0u8, 0, 0, 1, 0, 0, 0, 9];
        for o in [
            TcpOption::EndOfList,
            TcpOption::NoOperation,
            TcpOption::MaxSegmentSize(536),
            TcpOption::WindowScale(14),
            TcpOption::SackPermitted,
            TcpOption::Sack(&sack),
            TcpOption::Timestamp {
                tsval: 1,
                tsecr: u32::MAX,
            },
            TcpOption::Unknown {
                kind: 30,
                data: &[1, 2, 3],
            },
        ] {
            let mut b = [0u8; 12];
            let n = o.emit(&mut b).unwrap();
            assert_eq!(n, o.buffer_len());
            assert_eq!(TcpOptions::new(&b[..n]).next(), Some(Ok(o)));
            assert_eq!(o.emit(&mut b[..n - 1]), Err(WireError::BufferTooSmall));
        }
        let big = [0u8; 254];
        assert_eq!(
            TcpOption::Unknown {
                kind: 99,
                data: &big
            }
            .emit(&mut [0; 300]),
            Err(WireError::BadOption)
        );
    }

    #[test]
    fn bad_data_offset() {
        let mut b = [0u8; 40];
        b.copy_from_slice(&V4_SYNACK[20..]);
        b[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
        b[12] = 0xb0; // 44 bytes in a 40-byte segment
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
        b[12] = 0x50;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 20);
    }

    #[test]
    fn truncated_at_every_length() {
        let seg = &V4_SYNACK[20..];
        for n in 0..seg.len() {
            let e = Packet::new_checked(&seg[..n]).err();
            let want = if n < 20 {
                WireError::Truncated
            } else {
                WireError::BadHeaderLen
            };
            assert_eq!(e, Some(want), "prefix {n}");
        }
        // The options area cut anywhere: the iterator errs or yields a correct prefix.
        let opts = &seg[20..];
        let full: Vec<_> = TcpOptions::new(opts).collect();
        for n in 0..opts.len() {
            for (i, o) in TcpOptions::new(&opts[..n]).enumerate() {
                match o {
                    Ok(o) => assert_eq!(Ok(o), full[i], "prefix {n}"),
                    Err(e) => assert_eq!(e, WireError::BadOption),
                }
            }
        }
    }
}
