//! Streaming reader of capture files: classic pcap and pcapng, from any [`Read`].
//!
//! Our own reader rather than a crate: it needs nothing but `Read` (so stdin and pipes
//! work), keeps one buffer for the whole file (no allocation per frame), and bounds every
//! length a hostile file can claim: a pcap record is at most [`MAX_PCAP_RECORD`] bytes, a
//! pcapng block at most [`MAX_BLOCK_LEN`], a section at most [`MAX_INTERFACES`]
//! interfaces. It never panics and never loops without consuming input.
//!
//! Formats read:
//!
//! - pcap, the four magic numbers (microsecond `0xa1b2c3d4` and nanosecond `0xa1b23c4d`
//!   resolution, either byte order), version 2.x. The FCS bits in the upper half of the
//!   link-type field are masked off.
//! - pcapng 1.x: sections in either byte order (a file may hold several), Interface
//!   Description Blocks with `if_tsresol` (a power of 10 or of 2) and `if_tsoffset`,
//!   Enhanced Packet Blocks, Simple Packet Blocks (no timestamp of their own: they get the
//!   last timestamp seen) and the obsolete Packet Blocks. Every other block (name
//!   resolution, interface statistics, decryption secrets, custom, unknown) is skipped by
//!   its length and counted in [`CaptureStats::blocks_skipped`].
//!
//! [`ip_packet`] then finds the IPv4 or IPv6 packet inside a frame for the link types a
//! scan detector meets: Ethernet (with VLAN tags), Linux cooked v1 and v2, raw IP and BSD
//! loopback.
#![deny(clippy::indexing_slicing)]

use std::fmt;
use std::io::{self, Read};

use crate::Timestamp;

/// The longest pcap record accepted, in captured bytes: libpcap's own maximum snapshot
/// length (256 KiB). A longer record means a damaged or hostile file.
pub const MAX_PCAP_RECORD: u32 = 256 * 1024;

/// The longest pcapng block accepted, header and trailer included (16 MiB).
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

/// The most Interface Description Blocks accepted in one pcapng section.
pub const MAX_INTERFACES: usize = 65_536;

/// The default size of the read buffer (256 KiB): one `read` call per this many bytes.
pub const DEFAULT_BUFFER_SIZE: usize = 256 * 1024;

const PCAP_MICRO: u32 = 0xa1b2_c3d4;
const PCAP_NANO: u32 = 0xa1b2_3c4d;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const BLOCK_SHB: u32 = 0x0a0d_0d0a;
const BLOCK_IDB: u32 = 1;
const BLOCK_PB: u32 = 2;
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Block type, block total length, and the trailing block total length.
const BLOCK_MIN_LEN: u32 = 12;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Which kind of capture file is being read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// Classic libpcap format (tcpdump's `-w`).
    Pcap,
    /// pcapng (Wireshark's and dumpcap's default).
    PcapNg,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
        })
    }
}

/// A link-layer header type, as numbered by <https://www.tcpdump.org/linktypes.html>.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the writer's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (and 802.3).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP: the frame is an IPv4 or IPv6 packet.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`tcpdump -i any`), 16-byte header.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4 only.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6 only.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2, 20-byte header.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The tcpdump name of the link types [`ip_packet`] decodes, `None` for others.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NULL",
            1 => "ETHERNET",
            12 | 14 | 101 => "RAW",
            108 => "LOOP",
            113 => "LINUX_SLL",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Frame<'a> {
    /// When the frame was captured.
    pub ts: Timestamp,
    /// The link-layer type of `data` (see [`ip_packet`]).
    pub link: LinkType,
    /// The captured bytes, starting with the link-layer header.
    pub data: &'a [u8],
    /// The frame's length on the wire; more than `data.len()` when the snapshot length cut it.
    pub orig_len: u32,
    /// The pcapng interface the frame was captured on (its index in the section); 0 for pcap.
    pub interface: u32,
}

/// Counters kept while reading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames delivered by [`CaptureReader::next_frame`].
    pub frames: u64,
    /// Captured bytes delivered (the sum of the frames' `data.len()`).
    pub bytes: u64,
    /// Frames cut by the snapshot length: fewer bytes captured than were on the wire.
    pub cut_by_snaplen: u64,
    /// Frames with more captured bytes than the file's (or interface's) snapshot length
    /// says is possible; delivered whole anyway, as libpcap does.
    pub over_snaplen: u64,
    /// pcapng blocks skipped: name resolution, statistics, decryption secrets, custom and
    /// unknown blocks.
    pub blocks_skipped: u64,
    /// pcapng sections started (Section Header Blocks read).
    pub sections: u64,
    /// pcapng interfaces described (Interface Description Blocks read, all sections).
    pub interfaces: u64,
    /// pcapng Simple Packet Blocks read: their frames carry the previous frame's timestamp.
    pub simple_packets: u64,
}

/// A capture file that cannot be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The input holds no byte at all.
    #[error(
        "the capture file is empty: give a pcap or pcapng file written by tcpdump, Wireshark or dumpcap"
    )]
    Empty,
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    #[error(
        "not a pcap or pcapng file (magic {magic:#010x}): give a file written by tcpdump, Wireshark or dumpcap (decompress it first if it is gzipped)"
    )]
    BadMagic {
        /// The first four bytes, as they appear in the file (big-endian).
        magic: u32,
    },
    /// The file's version is not one this reader knows (pcap 2.x, pcapng 1.x).
    #[error(
        "unsupported {format} version {major}.{minor}: only pcap 2.x and pcapng 1.x are read; convert the file with `editcap -F pcapng IN OUT`"
    )]
    UnsupportedVersion {
        /// The file's format.
        format: Format,
        /// Major version number.
        major: u16,
        /// Minor version number.
        minor: u16,
    },
    /// The input ends inside a header, record or block. Every frame before it has been
    /// delivered: an interrupted capture ends like this, so callers usually count it and stop.
    #[error(
        "the capture ends inside the header, record or block starting at byte {offset} (the frames before it were read): the capture was interrupted or the file cut short"
    )]
    Truncated {
        /// Offset in the input of the header, record or block that is cut.
        offset: u64,
    },
    /// A pcap record claims more captured bytes than [`MAX_PCAP_RECORD`].
    #[error(
        "pcap record at byte {offset} claims {len} captured bytes, more than the {max} any capture tool writes: the file is damaged or not a capture (the frames before it were read)",
        max = MAX_PCAP_RECORD
    )]
    RecordTooLong {
        /// Offset of the record header.
        offset: u64,
        /// The captured length it claims.
        len: u32,
    },
    /// A pcapng block length is less than 12, not a multiple of 4, or more than
    /// [`MAX_BLOCK_LEN`].
    #[error(
        "pcapng block at byte {offset} claims a length of {len} bytes (must be a multiple of 4, at least 12 and at most {max}): the file is damaged (the frames before it were read)",
        max = MAX_BLOCK_LEN
    )]
    BadBlockLength {
        /// Offset of the block.
        offset: u64,
        /// The length it claims.
        len: u32,
    },
    /// A pcapng block's trailing length differs from its leading length.
    #[error(
        "pcapng block at byte {offset} starts with length {leading} but ends with {trailing}: the file is damaged (the frames before it were read)"
    )]
    TrailingLengthMismatch {
        /// Offset of the block.
        offset: u64,
        /// The length at the start of the block.
        leading: u32,
        /// The length at its end.
        trailing: u32,
    },
    /// A pcapng Section Header Block's byte-order magic is neither 0x1a2b3c4d nor its
    /// byte swap.
    #[error(
        "pcapng section header at byte {offset} has byte-order magic {magic:#010x} (expected 0x1a2b3c4d in either byte order): the file is damaged"
    )]
    BadByteOrderMagic {
        /// Offset of the Section Header Block.
        offset: u64,
        /// The byte-order field as it appears in the file (big-endian).
        magic: u32,
    },
    /// A pcapng block's content contradicts its length or the format.
    #[error(
        "malformed pcapng block (type {block_type:#x}) at byte {offset}: {reason}; the file is damaged (the frames before it were read)"
    )]
    MalformedBlock {
        /// Offset of the block.
        offset: u64,
        /// The block type.
        block_type: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pcapng packet block names an interface that no Interface Description Block of its
    /// section described.
    #[error(
        "pcapng packet block at byte {offset} refers to interface {interface}, but its section describes only {described}: the file is damaged"
    )]
    UnknownInterface {
        /// Offset of the packet block.
        offset: u64,
        /// The interface index it names.
        interface: u32,
        /// How many interfaces the section described.
        described: usize,
    },
    /// A pcapng section describes more than [`MAX_INTERFACES`] interfaces.
    #[error(
        "pcapng section describes more than {max} interfaces (block at byte {offset}): the file is damaged or hostile",
        max = MAX_INTERFACES
    )]
    TooManyInterfaces {
        /// Offset of the Interface Description Block over the limit.
        offset: u64,
    },
    /// Reading the input failed.
    #[error("reading the capture failed: {0}")]
    Io(#[from] io::Error),
}

/// Why [`ip_packet`] found no IP packet in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The frame carries another protocol (ARP, LLDP, STP, IPX...).
    #[error("the frame carries no IPv4 or IPv6 packet (ARP or another protocol): skip it")]
    NotIp,
    /// The frame is too short for its link-layer header, or carries nothing after it.
    #[error(
        "the frame is too short for its link-layer header: the snapshot length cut it or the capture is damaged; skip it"
    )]
    Truncated,
    /// The link type is not one [`ip_packet`] decodes.
    #[error(
        "unsupported link-layer type {0} (see https://www.tcpdump.org/linktypes.html): capture on an Ethernet, Linux cooked (`-i any`), raw IP or loopback interface"
    )]
    UnknownLinkType(u32),
    /// An Ethernet frame with more than two VLAN tags.
    #[error("the frame has more than two VLAN tags: skip it")]
    TooManyVlanTags,
}

/// Byte order of the file (pcap) or of the current section (pcapng).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    /// The `u16` at `at`; 0 if `b` is too short (callers check lengths first).
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let Some(bytes) = at
            .checked_add(2)
            .and_then(|end| b.get(at..end))
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
        else {
            return 0;
        };
        match self {
            Endian::Little => u16::from_le_bytes(bytes),
            Endian::Big => u16::from_be_bytes(bytes),
        }
    }

    /// The `u32` at `at`; 0 if `b` is too short (callers check lengths first).
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let Some(bytes) = at
            .checked_add(4)
            .and_then(|end| b.get(at..end))
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
        else {
            return 0;
        };
        match self {
            Endian::Little => u32::from_le_bytes(bytes),
            Endian::Big => u32::from_be_bytes(bytes),
        }
    }

    /// The `u64` at `at`; 0 if `b` is too short (callers check lengths first).
    fn u64(self, b: &[u8], at: usize) -> u64 {
        let Some(bytes) = at
            .checked_add(8)
            .and_then(|end| b.get(at..end))
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
        else {
            return 0;
        };
        match self {
            Endian::Little => u64::from_le_bytes(bytes),
            Endian::Big => u64::from_be_bytes(bytes),
        }
    }
}

/// The input and its one buffer: `buf[start..end]` holds read but unconsumed bytes, the
/// first of which is at `offset` in the input.
struct Input<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
}

impl<R: Read> Input<R> {
    /// Makes at least `n` bytes available, reading as much as the buffer holds at a time,
    /// and returns how many are: fewer than `n` only at the end of the input. The buffer
    /// grows, doubling, up to `n` if it is smaller (callers bound `n`).
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        let available = self.end.saturating_sub(self.start);
        if available >= n {
            return Ok(available);
        }
        if self.start > 0 && self.buf.len().saturating_sub(self.start) < n {
            // Move the unconsumed bytes to the front.
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = available;
        }
        while self.end.saturating_sub(self.start) < n {
            if self.end == self.buf.len() {
                // Full (and compacted, as `start + n` is past the end): grow towards `n`
                // as the data arrives, so that a length claimed by a short, damaged file
                // costs no more memory than the file.
                let target = n.min(self.buf.len().saturating_mul(2).max(64));
                self.buf.resize(target, 0);
            }
            let Some(spare) = self.buf.get_mut(self.end..) else {
                break;
            };
            match self.inner.read(spare) {
                Ok(0) => break,
                Ok(got) => self.end = self.end.saturating_add(got).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end.saturating_sub(self.start))
    }

    /// The next `n` bytes (not consumed), or `Truncated` at the current offset if the input
    /// ends before them.
    fn need(&mut self, n: usize) -> Result<&[u8], CaptureError> {
        if self.fill(n)? < n {
            return Err(CaptureError::Truncated {
                offset: self.offset,
            });
        }
        let end = self.start.saturating_add(n);
        Ok(self.buf.get(self.start..end).unwrap_or_default())
    }

    /// Marks `n` available bytes as read.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end.saturating_sub(self.start));
        self.start = self.start.saturating_add(n);
        self.offset = self.offset.saturating_add(n as u64);
    }
}

/// pcapng timestamp unit of an interface: 10^-n or 2^-n seconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Resolution {
    Pow10(u8),
    Pow2(u8),
}

impl Resolution {
    /// From the `if_tsresol` option byte: most significant bit clear, a negative power of
    /// 10; set, a negative power of 2.
    fn from_option(b: u8) -> Resolution {
        if b & 0x80 == 0 {
            Resolution::Pow10(b)
        } else {
            Resolution::Pow2(b & 0x7f)
        }
    }

    /// `units` of this resolution, in nanoseconds (truncated).
    fn nanos(self, units: u64) -> u128 {
        let units = u128::from(units);
        match self {
            Resolution::Pow10(e) if e <= 9 => units * 10u128.pow(9 - u32::from(e)),
            Resolution::Pow10(e) => {
                // 10^38 still fits in u128; beyond it every count is below one nanosecond.
                let down = u32::from(e) - 9;
                if down > 38 {
                    0
                } else {
                    units / 10u128.pow(down)
                }
            }
            // units < 2^64, so units * 10^9 < 2^94: no overflow; e <= 127 < 128.
            Resolution::Pow2(e) => (units * 1_000_000_000)
                .checked_shr(u32::from(e))
                .unwrap_or(0),
        }
    }
}

/// What the reader keeps of a pcapng Interface Description Block.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    resolution: Resolution,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

impl Interface {
    fn timestamp(&self, units: u64) -> Timestamp {
        let nanos = i128::try_from(self.resolution.nanos(units)).unwrap_or(i128::MAX);
        let shift = i128::from(self.offset_secs) * 1_000_000_000;
        let total = nanos.saturating_add(shift).clamp(0, i128::from(u64::MAX));
        Timestamp::from_nanos(u64::try_from(total).unwrap_or(u64::MAX))
    }
}

/// A frame found in the buffer: `buf[start..start + len]`.
#[derive(Clone, Copy, Debug)]
struct Found {
    start: usize,
    len: usize,
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    interface: u32,
    /// The snapshot length in force (0: none).
    snaplen: u32,
}

/// What reading one record or block gave.
enum Step {
    End,
    Frame(Found),
    /// A pcapng block that is not a frame (section, interface, skipped).
    Block,
}

/// A streaming reader of pcap and pcapng files; see the [module documentation](self).
///
/// After an error or the end of the input, [`next_frame`](Self::next_frame) returns
/// `Ok(None)` for ever: a caller that counts errors and keeps calling cannot loop.
pub struct CaptureReader<R: Read> {
    input: Input<R>,
    format: Format,
    endian: Endian,
    /// pcap: fractions of seconds are nanoseconds (else microseconds).
    nanosecond: bool,
    /// pcap: the file's link type and snapshot length.
    link: LinkType,
    snaplen: u32,
    /// pcapng: the current section's interfaces.
    interfaces: Vec<Interface>,
    /// The last timestamp delivered, for Simple Packet Blocks.
    last_ts: Timestamp,
    stats: CaptureStats,
    done: bool,
}

impl<R: Read> fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format)
            .field("offset", &self.input.offset)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the magic number and the file header (pcap) or first section header (pcapng),
    /// with a [`DEFAULT_BUFFER_SIZE`] buffer. `r` need not be buffered nor seekable.
    pub fn new(r: R) -> Result<Self, CaptureError> {
        Self::with_buffer_size(r, DEFAULT_BUFFER_SIZE)
    }

    /// As [`new`](Self::new), with a read buffer of `size` bytes (at least 64; it grows
    /// when a record or block is longer).
    pub fn with_buffer_size(r: R, size: usize) -> Result<Self, CaptureError> {
        let mut input = Input {
            inner: r,
            buf: vec![0; size.max(64)],
            start: 0,
            end: 0,
            offset: 0,
        };
        let got = input.fill(4)?;
        if got == 0 {
            return Err(CaptureError::Empty);
        }
        let first = input.need(4)?;
        let le = Endian::Little.u32(first, 0);
        let magic = Endian::Big.u32(first, 0);
        let (format, endian, nanosecond) = match le {
            PCAP_MICRO => (Format::Pcap, Endian::Little, false),
            PCAP_NANO => (Format::Pcap, Endian::Little, true),
            m if m == PCAP_MICRO.swap_bytes() => (Format::Pcap, Endian::Big, false),
            m if m == PCAP_NANO.swap_bytes() => (Format::Pcap, Endian::Big, true),
            BLOCK_SHB => (Format::PcapNg, Endian::Little, false),
            _ => return Err(CaptureError::BadMagic { magic }),
        };
        let mut reader = CaptureReader {
            input,
            format,
            endian,
            nanosecond,
            link: LinkType::ETHERNET,
            snaplen: 0,
            interfaces: Vec::new(),
            last_ts: Timestamp::ZERO,
            stats: CaptureStats::default(),
            done: false,
        };
        match format {
            Format::Pcap => reader.pcap_header()?,
            // The first block is a section header (its type is the magic just matched).
            Format::PcapNg => {
                reader.next_block()?;
            }
        }
        Ok(reader)
    }

    /// The next frame; `Ok(None)` at a clean end of the input (at a record or block
    /// boundary). An error ends the reading: every frame before it has been delivered.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let step = match self.format {
            Format::Pcap => self.next_record(),
            Format::PcapNg => loop {
                match self.next_block() {
                    Ok(Step::Block) => continue,
                    other => break other,
                }
            },
        };
        let found = match step {
            Ok(Step::Frame(found)) => found,
            Ok(Step::End | Step::Block) => {
                self.done = true;
                return Ok(None);
            }
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        let captured = u32::try_from(found.len).unwrap_or(u32::MAX);
        self.stats.frames += 1;
        self.stats.bytes += found.len as u64;
        if captured < found.orig_len {
            self.stats.cut_by_snaplen += 1;
        }
        if found.snaplen != 0 && captured > found.snaplen {
            self.stats.over_snaplen += 1;
        }
        self.last_ts = found.ts;
        let end = found.start.saturating_add(found.len);
        Ok(Some(Frame {
            ts: found.ts,
            link: found.link,
            data: self.input.buf.get(found.start..end).unwrap_or_default(),
            orig_len: found.orig_len,
            interface: found.interface,
        }))
    }

    /// Whether the input is pcap or pcapng.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The counters so far.
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// How many bytes of the input have been read and consumed.
    pub fn offset(&self) -> u64 {
        self.input.offset
    }

    /// The pcap global header (the magic is already checked).
    fn pcap_header(&mut self) -> Result<(), CaptureError> {
        let e = self.endian;
        let h = self.input.need(PCAP_HEADER_LEN)?;
        let major = e.u16(h, 4);
        let minor = e.u16(h, 6);
        let snaplen = e.u32(h, 16);
        // Bits 16-31 of the link-type field hold the FCS length and reserved bits.
        let link = e.u32(h, 20) & 0xffff;
        if major != 2 {
            return Err(CaptureError::UnsupportedVersion {
                format: Format::Pcap,
                major,
                minor,
            });
        }
        self.snaplen = snaplen;
        self.link = LinkType(link);
        self.input.consume(PCAP_HEADER_LEN);
        Ok(())
    }

    /// One pcap record.
    fn next_record(&mut self) -> Result<Step, CaptureError> {
        if self.input.fill(PCAP_RECORD_HEADER_LEN)? == 0 {
            return Ok(Step::End);
        }
        let offset = self.input.offset;
        let e = self.endian;
        let h = self.input.need(PCAP_RECORD_HEADER_LEN)?;
        let secs = e.u32(h, 0);
        let frac = e.u32(h, 4);
        let incl = e.u32(h, 8);
        let orig_len = e.u32(h, 12);
        if incl > MAX_PCAP_RECORD {
            return Err(CaptureError::RecordTooLong { offset, len: incl });
        }
        let len = incl as usize;
        let total = PCAP_RECORD_HEADER_LEN + len;
        self.input.need(total)?;
        let start = self.input.start + PCAP_RECORD_HEADER_LEN;
        self.input.consume(total);
        let nanos = if self.nanosecond {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        Ok(Step::Frame(Found {
            start,
            len,
            ts: Timestamp::from_secs_nanos(u64::from(secs), nanos),
            link: self.link,
            orig_len,
            interface: 0,
            snaplen: self.snaplen,
        }))
    }

    /// One pcapng block.
    fn next_block(&mut self) -> Result<Step, CaptureError> {
        if self.input.fill(BLOCK_MIN_LEN as usize)? == 0 {
            return Ok(Step::End);
        }
        let offset = self.input.offset;
        let head = self.input.need(BLOCK_MIN_LEN as usize)?;
        let mut endian = self.endian;
        // The section header's type reads the same in both byte orders; its byte-order
        // magic then gives the order of the whole section, its own length included.
        if Endian::Little.u32(head, 0) == BLOCK_SHB {
            endian = match Endian::Little.u32(head, 8) {
                BYTE_ORDER_MAGIC => Endian::Little,
                m if m == BYTE_ORDER_MAGIC.swap_bytes() => Endian::Big,
                _ => {
                    return Err(CaptureError::BadByteOrderMagic {
                        offset,
                        magic: Endian::Big.u32(head, 8),
                    })
                }
            };
        }
        let block_type = endian.u32(head, 0);
        let len = endian.u32(head, 4);
        if len < BLOCK_MIN_LEN || len & 3 != 0 || len > MAX_BLOCK_LEN {
            return Err(CaptureError::BadBlockLength { offset, len });
        }
        let total = len as usize;
        let block = self.input.need(total)?;
        let trailing = endian.u32(block, total - 4);
        if trailing != len {
            return Err(CaptureError::TrailingLengthMismatch {
                offset,
                leading: len,
                trailing,
            });
        }
        let malformed = |reason| CaptureError::MalformedBlock {
            offset,
            block_type,
            reason,
        };
        // The block without its trailing length.
        let block = block.get(..total - 4).unwrap_or_default();
        let step = match block_type {
            BLOCK_SHB => {
                if block.len() < 24 {
                    return Err(malformed("a section header needs at least 28 bytes"));
                }
                let major = endian.u16(block, 12);
                let minor = endian.u16(block, 14);
                if major != 1 {
                    return Err(CaptureError::UnsupportedVersion {
                        format: Format::PcapNg,
                        major,
                        minor,
                    });
                }
                self.endian = endian;
                self.interfaces.clear();
                self.stats.sections += 1;
                None
            }
            BLOCK_IDB => {
                if self.interfaces.len() >= MAX_INTERFACES {
                    return Err(CaptureError::TooManyInterfaces { offset });
                }
                let interface = parse_interface(endian, block).map_err(malformed)?;
                self.interfaces.push(interface);
                self.stats.interfaces += 1;
                None
            }
            BLOCK_EPB | BLOCK_PB => {
                if block.len() < 28 {
                    return Err(malformed("a packet block needs at least 32 bytes"));
                }
                let interface = if block_type == BLOCK_EPB {
                    endian.u32(block, 8)
                } else {
                    u32::from(endian.u16(block, 8))
                };
                let Some(iface) = self.interfaces.get(interface as usize) else {
                    return Err(CaptureError::UnknownInterface {
                        offset,
                        interface,
                        described: self.interfaces.len(),
                    });
                };
                let units =
                    u64::from(endian.u32(block, 12)) << 32 | u64::from(endian.u32(block, 16));
                let captured = endian.u32(block, 20);
                let orig_len = endian.u32(block, 24);
                if u64::from(captured) > (block.len() - 28) as u64 {
                    return Err(malformed(
                        "the captured length runs past the end of the block",
                    ));
                }
                Some(Found {
                    start: 28,
                    len: captured as usize,
                    ts: iface.timestamp(units),
                    link: iface.link,
                    orig_len,
                    interface,
                    snaplen: iface.snaplen,
                })
            }
            BLOCK_SPB => {
                if block.len() < 12 {
                    return Err(malformed("a simple packet block needs at least 16 bytes"));
                }
                let Some(iface) = self.interfaces.first() else {
                    return Err(CaptureError::UnknownInterface {
                        offset,
                        interface: 0,
                        described: 0,
                    });
                };
                let orig_len = endian.u32(block, 8);
                // Captured: the original length, cut to the interface's snapshot length and
                // to the block (the data is padded to 4 bytes).
                let mut captured = (orig_len as usize).min(block.len() - 12);
                if iface.snaplen != 0 {
                    captured = captured.min(iface.snaplen as usize);
                }
                self.stats.simple_packets += 1;
                Some(Found {
                    start: 12,
                    len: captured,
                    ts: self.last_ts,
                    link: iface.link,
                    orig_len,
                    interface: 0,
                    snaplen: iface.snaplen,
                })
            }
            _ => {
                self.stats.blocks_skipped += 1;
                None
            }
        };
        // The block's position in the buffer is fixed until the next `need`.
        let block_start = self.input.start;
        self.input.consume(total);
        Ok(match step {
            None => Step::Block,
            Some(mut found) => {
                found.start += block_start;
                Step::Frame(found)
            }
        })
    }
}

/// An Interface Description Block (without its trailing length): link type, snapshot
/// length and the timestamp options.
fn parse_interface(endian: Endian, block: &[u8]) -> Result<Interface, &'static str> {
    if block.len() < 16 {
        return Err("an interface description needs at least 20 bytes");
    }
    let mut interface = Interface {
        link: LinkType(u32::from(endian.u16(block, 8))),
        snaplen: endian.u32(block, 12),
        resolution: Resolution::Pow10(6),
        offset_secs: 0,
    };
    let mut options = block.get(16..).unwrap_or_default();
    while options.len() >= 4 {
        let code = endian.u16(options, 0);
        let len = usize::from(endian.u16(options, 2));
        if code == OPT_END {
            break;
        }
        let Some(value) = options.get(4..4 + len) else {
            return Err("an option runs past the end of the block");
        };
        match code {
            OPT_IF_TSRESOL => {
                let [b] = value else {
                    return Err("the if_tsresol option is not 1 byte long");
                };
                interface.resolution = Resolution::from_option(*b);
            }
            OPT_IF_TSOFFSET => {
                if len != 8 {
                    return Err("the if_tsoffset option is not 8 bytes long");
                }
                interface.offset_secs = endian.u64(value, 0) as i64;
            }
            _ => {}
        }
        // Values are padded to 4 bytes; a last option may lack its padding.
        let padded = 4 + len.div_ceil(4) * 4;
        options = options.get(padded..).unwrap_or_default();
    }
    Ok(interface)
}

/// The IPv4 or IPv6 packet inside a frame of link type `link`: the bytes after the
/// link-layer header (with any trailer, such as an Ethernet FCS or padding, still at the
/// end; the IP header's own length says where the packet ends).
///
/// Decodes Ethernet (with up to two 802.1Q / 802.1ad VLAN tags), Linux cooked v1 (SLL) and
/// v2 (SLL2), raw IP (101, also 12 and 14, the values some systems give raw IP; 228 IPv4 and
/// 229 IPv6), and BSD loopback NULL and LOOP (a 4-byte address family in either byte
/// order: 2 is IPv4; 24, 28 and 30 are IPv6).
pub fn ip_packet(link: LinkType, data: &[u8]) -> Result<&[u8], LinkError> {
    match link.0 {
        1 => {
            let ethertype = be16(data, 12)?;
            ether_payload(data, 14, ethertype)
        }
        113 => {
            let protocol = be16(data, 14)?;
            ether_payload(data, 16, protocol)
        }
        276 => {
            if data.len() < 20 {
                return Err(LinkError::Truncated);
            }
            let protocol = be16(data, 0)?;
            ether_payload(data, 20, protocol)
        }
        12 | 14 | 101 => raw_ip(data, None),
        228 => raw_ip(data, Some(4)),
        229 => raw_ip(data, Some(6)),
        0 | 108 => {
            let family: [u8; 4] = data
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or(LinkError::Truncated)?;
            // Families are small numbers: whichever byte order gives one is the writer's.
            let mut value = u32::from_le_bytes(family);
            if value > 0xffff {
                value = value.swap_bytes();
            }
            match value {
                2 | 24 | 28 | 30 => nonempty(data.get(4..)),
                _ => Err(LinkError::NotIp),
            }
        }
        other => Err(LinkError::UnknownLinkType(other)),
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// The pre-standard 802.1ad tag some switches still send.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// The payload after an Ethernet-style type field `ethertype` whose header ends at `at`,
/// through up to two VLAN tags.
fn ether_payload(data: &[u8], mut at: usize, mut ethertype: u16) -> Result<&[u8], LinkError> {
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        if tags == 2 {
            return Err(LinkError::TooManyVlanTags);
        }
        // A tag: 2 bytes of priority and VLAN id, then the next type.
        ethertype = be16(data, at + 2)?;
        at += 4;
        tags += 1;
    }
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => nonempty(data.get(at..)),
        _ => Err(LinkError::NotIp),
    }
}

/// A raw IP frame: IPv4 or IPv6 by its version nibble, which must be `want` if given.
fn raw_ip(data: &[u8], want: Option<u8>) -> Result<&[u8], LinkError> {
    let first = data.first().ok_or(LinkError::Truncated)?;
    let version = first >> 4;
    match want {
        Some(w) if version != w => Err(LinkError::NotIp),
        _ if version == 4 || version == 6 => Ok(data),
        _ => Err(LinkError::NotIp),
    }
}

/// The big-endian `u16` at `at`, or `Truncated`.
fn be16(data: &[u8], at: usize) -> Result<u16, LinkError> {
    data.get(at..at + 2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map(u16::from_be_bytes)
        .ok_or(LinkError::Truncated)
}

/// `Truncated` unless there is at least one byte.
fn nonempty(rest: Option<&[u8]>) -> Result<&[u8], LinkError> {
    match rest {
        Some(rest) if !rest.is_empty() => Ok(rest),
        _ => Err(LinkError::Truncated),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn resolution_conversions() {
        assert_eq!(Resolution::Pow10(6).nanos(1_500_000), 1_500_000_000);
        assert_eq!(Resolution::Pow10(9).nanos(7), 7);
        assert_eq!(Resolution::Pow10(0).nanos(3), 3_000_000_000);
        assert_eq!(Resolution::Pow10(12).nanos(5_000_999), 5_000);
        assert_eq!(Resolution::Pow10(127).nanos(u64::MAX), 0);
        assert_eq!(Resolution::Pow2(10).nanos(1024), 1_000_000_000);
        assert_eq!(Resolution::Pow2(10).nanos(1), 976_562);
        assert_eq!(Resolution::Pow2(0).nanos(2), 2_000_000_000);
        assert_eq!(Resolution::Pow2(127).nanos(u64::MAX), 0);
        assert_eq!(Resolution::from_option(9), Resolution::Pow10(9));
        assert_eq!(Resolution::from_option(0x8a), Resolution::Pow2(10));
    }

    #[test]
    fn interface_timestamp_offset_saturates() {
        let mut i = Interface {
            link: LinkType::ETHERNET,
            snaplen: 0,
            resolution: Resolution::Pow10(0),
            offset_secs: -10,
        };
        assert_eq!(i.timestamp(15), Timestamp::from_secs_nanos(5, 0));
        assert_eq!(i.timestamp(3), Timestamp::ZERO);
        i.offset_secs = i64::MAX;
        assert_eq!(i.timestamp(u64::MAX), Timestamp::from_nanos(u64::MAX));
        i.offset_secs = 100;
        assert_eq!(i.timestamp(1), Timestamp::from_secs_nanos(101, 0));
    }

    #[test]
    fn endian_reads_never_panic_out_of_range() {
        let b = [1u8, 2, 3];
        assert_eq!(Endian::Little.u16(&b, 1), 0x0302);
        assert_eq!(Endian::Big.u16(&b, 1), 0x0203);
        assert_eq!(Endian::Big.u16(&b, 2), 0);
        assert_eq!(Endian::Big.u32(&b, 0), 0);
        assert_eq!(Endian::Big.u64(&b, usize::MAX), 0);
        assert_eq!(Endian::Little.u32(&b, usize::MAX - 1), 0);
    }
}
