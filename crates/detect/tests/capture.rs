//! The capture-file reader against hand-written fixtures (every format and byte order),
//! damaged and hostile input, a seeded mutation fuzz loop, and files written or read by the
//! real tools (editcap, tshark, tcpdump, randpkt), which must be installed: a missing tool
//! fails the test, naming it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use monban_detect::capture::{
    ip_packet, CaptureError, CaptureReader, CaptureStats, Format, LinkError, LinkType,
    MAX_BLOCK_LEN, MAX_INTERFACES, MAX_PCAP_RECORD,
};
use monban_detect::Timestamp;

// ---------------------------------------------------------------------------------------
// Fixture writers.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum E {
    Le,
    Be,
}

impl E {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }
    fn u64(self, v: u64) -> [u8; 8] {
        match self {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }
}

const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
const MAGIC_NANO: u32 = 0xa1b2_3c4d;

/// A pcap global header.
fn pcap_header(e: E, magic: u32, snaplen: u32, link: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(e.u32(magic));
    v.extend(e.u16(2));
    v.extend(e.u16(4));
    v.extend(e.u32(0)); // thiszone
    v.extend(e.u32(0)); // sigfigs
    v.extend(e.u32(snaplen));
    v.extend(e.u32(link));
    v
}

/// A pcap record.
fn pcap_record(e: E, secs: u32, frac: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(e.u32(secs));
    v.extend(e.u32(frac));
    v.extend(e.u32(data.len() as u32));
    v.extend(e.u32(orig_len));
    v.extend(data);
    v
}

/// A pcap file of whole frames `(secs, fraction, data)`, snaplen 65535.
fn pcap(e: E, nano: bool, link: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let magic = if nano { MAGIC_NANO } else { MAGIC_MICRO };
    let mut v = pcap_header(e, magic, 65535, link);
    for &(secs, frac, data) in records {
        v.extend(pcap_record(e, secs, frac, data, data.len() as u32));
    }
    v
}

/// A pcapng block: type, length, body padded to 4 bytes, length.
fn block(e: E, block_type: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut v = Vec::new();
    v.extend(e.u32(block_type));
    v.extend(e.u32(len));
    v.extend(body);
    v.resize(8 + padded, 0);
    v.extend(e.u32(len));
    v
}

/// A Section Header Block, version 1.0, unknown section length.
fn shb(e: E) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(e.u32(0x1a2b_3c4d));
    body.extend(e.u16(1));
    body.extend(e.u16(0));
    body.extend(e.u64(u64::MAX));
    block(e, 0x0a0d_0d0a, &body)
}

/// One option: code, length, value padded to 4 bytes.
fn opt(e: E, code: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(e.u16(code));
    v.extend(e.u16(value.len() as u16));
    v.extend(value);
    v.resize(4 + value.len().div_ceil(4) * 4, 0);
    v
}

fn end_of_options() -> Vec<u8> {
    vec![0; 4]
}

/// An Interface Description Block with these (already encoded) options.
fn idb(e: E, link: u16, snaplen: u32, options: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(e.u16(link));
    body.extend(e.u16(0));
    body.extend(e.u32(snaplen));
    body.extend(options);
    block(e, 1, &body)
}

/// An IDB with `if_tsresol` = `resol` and an optional `if_tsoffset`.
fn idb_resol(e: E, link: u16, resol: u8, tsoffset: Option<i64>) -> Vec<u8> {
    let mut options = opt(e, 2, b"eth0"); // if_name, ignored
    options.extend(opt(e, 9, &[resol]));
    if let Some(off) = tsoffset {
        options.extend(opt(e, 14, &e.u64(off as u64)));
    }
    options.extend(end_of_options());
    idb(e, link, 0, &options)
}

/// An Enhanced Packet Block.
fn epb(e: E, interface: u32, units: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(e.u32(interface));
    body.extend(e.u32((units >> 32) as u32));
    body.extend(e.u32(units as u32));
    body.extend(e.u32(data.len() as u32));
    body.extend(e.u32(orig_len));
    body.extend(data);
    body.resize(20 + data.len().div_ceil(4) * 4, 0);
    body.extend(opt(e, 2, &e.u32(1))); // epb_flags: inbound
    body.extend(end_of_options());
    block(e, 6, &body)
}

/// A Simple Packet Block.
fn spb(e: E, orig_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(e.u32(orig_len));
    body.extend(data);
    block(e, 3, &body)
}

/// An obsolete Packet Block.
fn pb(e: E, interface: u16, units: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(e.u16(interface));
    body.extend(e.u16(0)); // drops
    body.extend(e.u32((units >> 32) as u32));
    body.extend(e.u32(units as u32));
    body.extend(e.u32(data.len() as u32));
    body.extend(e.u32(orig_len));
    body.extend(data);
    block(e, 2, &body)
}

/// Blocks the reader must skip: name resolution, interface statistics, decryption
/// secrets, custom (both kinds), systemd journal, and a type nobody defined.
fn skippable_blocks(e: E) -> Vec<u8> {
    let mut v = Vec::new();
    let mut nrb = Vec::new();
    nrb.extend(e.u16(1)); // nrb_record_ipv4
    nrb.extend(e.u16(14));
    nrb.extend([192, 0, 2, 1]);
    nrb.extend(b"host.test\0");
    nrb.resize(nrb.len().div_ceil(4) * 4, 0);
    nrb.extend([0; 4]); // nrb_record_end
    v.extend(block(e, 4, &nrb));
    let mut isb = Vec::new();
    isb.extend(e.u32(0));
    isb.extend(e.u64(0x1234_5678));
    isb.extend(opt(e, 4, &e.u64(7))); // isb_ifrecv
    isb.extend(end_of_options());
    v.extend(block(e, 5, &isb));
    let mut dsb = b"TLSK".to_vec();
    dsb.extend(e.u32(13));
    dsb.extend(b"CLIENT_RANDOM");
    v.extend(block(e, 10, &dsb));
    v.extend(block(e, 0x0000_0bad, b"\0\0\x7f\xffcustom"));
    v.extend(block(e, 0x4000_0bad, b"\0\0\x7f\xffcustom, do not copy"));
    v.extend(block(e, 9, b"__REALTIME_TIMESTAMP=1\n"));
    v.extend(block(e, 0x0123_4567, &[0xee; 40]));
    v.extend(block(e, 0x0000_0007, &[])); // type 7 unassigned, empty body
    v
}

const SKIPPABLE: u64 = 8;

/// An Ethernet frame carrying `ip`.
fn ether(ethertype: u16, ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    v.extend(ethertype.to_be_bytes());
    v.extend(ip);
    v
}

/// An IPv4 TCP SYN from 192.0.2.1 to 192.0.2.`n`, 40 bytes.
fn ipv4_syn(n: u8) -> Vec<u8> {
    let mut v = vec![
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, n,
    ];
    v.extend([
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x04, 0, 0, 0, 0, 0,
    ]);
    v
}

/// An IPv6 header (no payload) to 2001:db8::`n`.
fn ipv6_header(n: u8) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
    v.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]);
    v
}

// ---------------------------------------------------------------------------------------
// Reading helpers.

/// A frame copied out of the reader.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owned {
    ts: u64,
    link: u32,
    data: Vec<u8>,
    orig_len: u32,
    interface: u32,
}

/// Everything a reader gives: its frames, how it ended, its counters.
struct Outcome {
    format: Format,
    frames: Vec<Owned>,
    end: Result<(), CaptureError>,
    stats: CaptureStats,
}

fn read_from<R: Read>(r: R, buffer: Option<usize>) -> Result<Outcome, CaptureError> {
    let mut reader = match buffer {
        None => CaptureReader::new(r)?,
        Some(size) => CaptureReader::with_buffer_size(r, size)?,
    };
    let mut frames = Vec::new();
    let end = loop {
        match reader.next_frame() {
            Ok(Some(f)) => frames.push(Owned {
                ts: f.ts.as_nanos(),
                link: f.link.0,
                data: f.data.to_vec(),
                orig_len: f.orig_len,
                interface: f.interface,
            }),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // Finished or failed, the reader stays finished.
    assert!(matches!(reader.next_frame(), Ok(None)));
    Ok(Outcome {
        format: reader.format(),
        frames,
        end,
        stats: reader.stats().clone(),
    })
}

fn read(bytes: &[u8]) -> Result<Outcome, CaptureError> {
    read_from(bytes, None)
}

/// Reads a file that must be whole and valid.
fn read_ok(bytes: &[u8]) -> Outcome {
    let out = read(bytes).expect("header");
    if let Err(e) = &out.end {
        panic!("reading failed after {} frames: {e}", out.frames.len());
    }
    // The same frames with the smallest buffer, one byte per read, interrupted reads.
    let small = read_from(bytes, Some(1)).expect("header, small buffer");
    assert!(small.end.is_ok());
    assert_eq!(small.frames, out.frames, "small buffer");
    let trickle = read_from(Trickle::new(bytes), Some(100)).expect("header, trickle");
    assert!(trickle.end.is_ok());
    assert_eq!(trickle.frames, out.frames, "one byte per read");
    assert_eq!(trickle.stats, out.stats);
    out
}

fn ts(secs: u64, nanos: u64) -> u64 {
    Timestamp::from_secs_nanos(secs, nanos).as_nanos()
}

/// A reader that gives one byte per call and is interrupted every third call.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl<'a> Trickle<'a> {
    fn new(data: &'a [u8]) -> Self {
        Trickle { data, calls: 0 }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls == 3 {
            self.calls = 0;
            return Err(io::ErrorKind::Interrupted.into());
        }
        let (Some(&b), Some(slot)) = (self.data.first(), buf.first_mut()) else {
            return Ok(0);
        };
        *slot = b;
        self.data = &self.data[1..];
        Ok(1)
    }
}

// ---------------------------------------------------------------------------------------
// pcap.

fn three_frames() -> [Vec<u8>; 3] {
    [
        ether(0x0800, &ipv4_syn(1)),
        ether(0x86dd, &ipv6_header(2)),
        ether(0x0806, &[0; 28]),
    ]
}

#[test]
fn pcap_microseconds_both_byte_orders() {
    let f = three_frames();
    for e in [E::Le, E::Be] {
        let file = pcap(
            e,
            false,
            1,
            &[
                (1_700_000_000, 123_456, &f[0]),
                (1_700_000_001, 0, &f[1]),
                (1_700_000_001, 999_999, &f[2]),
            ],
        );
        let out = read_ok(&file);
        assert_eq!(out.format, Format::Pcap);
        let got: Vec<_> = out.frames.iter().map(|f| (f.ts, f.link, &f.data)).collect();
        assert_eq!(
            got,
            vec![
                (ts(1_700_000_000, 123_456_000), 1, &f[0]),
                (ts(1_700_000_001, 0), 1, &f[1]),
                (ts(1_700_000_001, 999_999_000), 1, &f[2]),
            ],
            "{e:?}"
        );
        assert_eq!(out.stats.frames, 3);
        assert_eq!(
            out.stats.bytes,
            f.iter().map(|d| d.len() as u64).sum::<u64>()
        );
        assert_eq!(out.stats.cut_by_snaplen, 0);
    }
}

#[test]
fn pcap_nanoseconds_both_byte_orders() {
    let f = three_frames();
    for e in [E::Le, E::Be] {
        let file = pcap(
            e,
            true,
            101,
            &[(1_700_000_000, 123_456_789, &f[0]), (4, 999_999_999, &f[1])],
        );
        let out = read_ok(&file);
        let got: Vec<_> = out.frames.iter().map(|f| (f.ts, f.link)).collect();
        assert_eq!(
            got,
            vec![
                (ts(1_700_000_000, 123_456_789), 101),
                (ts(4, 999_999_999), 101)
            ],
            "{e:?}"
        );
    }
}

#[test]
fn pcap_fcs_bits_of_the_link_type_are_masked() {
    // Bit 28 set: FCS length present; bits 29-31: 4 bytes of FCS (2 × 16-bit words).
    let mut file = pcap_header(E::Le, MAGIC_MICRO, 65535, 0x5000_0001);
    file.extend(pcap_record(E::Le, 1, 2, &[0xaa; 60], 60));
    let out = read_ok(&file);
    assert_eq!(out.frames[0].link, LinkType::ETHERNET.0);
}

#[test]
fn pcap_cut_and_oversized_records_are_counted() {
    let mut file = pcap_header(E::Be, MAGIC_MICRO, 64, 1);
    file.extend(pcap_record(E::Be, 1, 0, &[1; 64], 1514)); // cut by the snaplen
    file.extend(pcap_record(E::Be, 2, 0, &[2; 100], 100)); // more than the snaplen
    file.extend(pcap_record(E::Be, 3, 0, &[], 0)); // empty record
    let out = read_ok(&file);
    assert_eq!(out.frames.len(), 3);
    assert_eq!(out.frames[0].orig_len, 1514);
    assert_eq!(out.frames[0].data.len(), 64);
    assert_eq!(out.frames[1].data, vec![2; 100]);
    assert!(out.frames[2].data.is_empty());
    assert_eq!(out.stats.cut_by_snaplen, 1);
    assert_eq!(out.stats.over_snaplen, 1);
}

#[test]
fn pcap_largest_record_is_read_and_one_more_byte_is_refused() {
    let big = vec![7u8; MAX_PCAP_RECORD as usize];
    let mut file = pcap_header(E::Le, MAGIC_NANO, MAX_PCAP_RECORD, 101);
    file.extend(pcap_record(E::Le, 1, 0, &big, MAX_PCAP_RECORD));
    let out = read_ok(&file);
    assert_eq!(out.frames[0].data.len(), MAX_PCAP_RECORD as usize);

    // A record one byte longer: refused before it is read, whatever follows.
    let offset = file.len() as u64;
    file.extend(pcap_record(E::Le, 2, 0, &[], 0));
    let header_at = file.len() - 16;
    file[header_at + 8..header_at + 12].copy_from_slice(&(MAX_PCAP_RECORD + 1).to_le_bytes());
    let out = read(&file).unwrap();
    assert_eq!(out.frames.len(), 1);
    assert!(matches!(
        out.end,
        Err(CaptureError::RecordTooLong { offset: o, len }) if o == offset && len == MAX_PCAP_RECORD + 1
    ));
}

#[test]
fn pcap_absurd_record_length_is_an_error_not_an_allocation() {
    let mut file = pcap(E::Le, false, 1, &[(1, 0, &[0; 20])]);
    file.extend(E::Le.u32(2));
    file.extend(E::Le.u32(0));
    file.extend(E::Le.u32(u32::MAX));
    file.extend(E::Le.u32(u32::MAX));
    let out = read(&file).unwrap();
    assert_eq!(out.frames.len(), 1);
    let Err(e) = out.end else { panic!("accepted") };
    assert!(matches!(
        e,
        CaptureError::RecordTooLong {
            offset: 60,
            len: u32::MAX
        }
    ));
    let msg = e.to_string();
    assert!(
        msg.contains("byte 60") && msg.contains("4294967295"),
        "{msg}"
    );
}

#[test]
fn pcap_unsupported_version() {
    let mut file = pcap(E::Le, false, 1, &[]);
    file[4] = 1; // version 1.4
    let e = read(&file).err().expect("accepted");
    assert!(matches!(
        e,
        CaptureError::UnsupportedVersion {
            format: Format::Pcap,
            major: 1,
            minor: 4
        }
    ));
    assert!(e.to_string().contains("pcap version 1.4"), "{e}");
}

#[test]
fn pcap_without_records_is_a_clean_end() {
    let out = read_ok(&pcap(E::Be, true, 1, &[]));
    assert!(out.frames.is_empty());
    assert_eq!(out.stats, CaptureStats::default());
}

// ---------------------------------------------------------------------------------------
// Bad input.

#[test]
fn empty_file() {
    let e = read(&[]).err().expect("accepted");
    assert!(matches!(e, CaptureError::Empty));
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn wrong_magic() {
    for file in [
        &b"GET / HTTP/1.1\r\n"[..],
        &[0x1f, 0x8b, 8, 0, 0, 0],
        &[0; 64],
    ] {
        let e = read(file).err().expect("accepted");
        let CaptureError::BadMagic { magic } = e else {
            panic!("{e:?}")
        };
        assert_eq!(magic.to_be_bytes(), file[..4]);
    }
    let e = read(b"GET / HTTP/1.1\r\n").err().unwrap();
    assert_eq!(
        e.to_string(),
        "not a pcap or pcapng file (magic 0x47455420): give a file written by tcpdump, \
         Wireshark or dumpcap (decompress it first if it is gzipped)"
    );
}

#[test]
fn magic_cut_short() {
    for len in 1..4 {
        let file = pcap(E::Le, false, 1, &[]);
        assert!(matches!(
            read(&file[..len]),
            Err(CaptureError::Truncated { offset: 0 })
        ));
    }
}

#[test]
fn truncated_global_header() {
    let file = pcap(E::Le, false, 1, &[]);
    for len in 4..24 {
        assert!(matches!(
            read(&file[..len]),
            Err(CaptureError::Truncated { offset: 0 })
        ));
    }
}

#[test]
fn truncated_record_header_and_body() {
    let f = three_frames();
    let file = pcap(E::Le, false, 1, &[(1, 0, &f[0]), (2, 0, &f[1])]);
    let second = 24 + 16 + f[0].len();
    // Every cut inside the second record: header or body.
    for cut in second + 1..file.len() {
        let out = read(&file[..cut]).unwrap();
        assert_eq!(out.frames.len(), 1, "cut at {cut}");
        assert_eq!(out.frames[0].data, f[0]);
        let Err(e) = out.end else {
            panic!("cut at {cut} accepted")
        };
        assert!(
            matches!(e, CaptureError::Truncated { offset } if offset == second as u64),
            "cut at {cut}: {e:?}"
        );
        assert!(e.to_string().contains(&format!("byte {second}")), "{e}");
    }
    // A cut at a record boundary is a clean end.
    let out = read_ok(&file[..second]);
    assert_eq!(out.frames.len(), 1);
}

#[test]
fn garbage_after_a_valid_file_is_an_error_after_every_frame() {
    let f = three_frames();
    let garbage = b"this is not a record, just text someone appended to the file....";
    let mut file = pcap(E::Le, false, 1, &[(1, 0, &f[0]), (2, 0, &f[1])]);
    let valid = file.len() as u64;
    file.extend(garbage);
    let out = read(&file).unwrap();
    assert_eq!(out.frames.len(), 2);
    assert!(matches!(
        out.end,
        Err(CaptureError::RecordTooLong { offset, .. }) if offset == valid
    ));

    let mut file = shb(E::Le);
    file.extend(idb(E::Le, 1, 0, &[]));
    file.extend(epb(E::Le, 0, 1, &f[0], f[0].len() as u32));
    let valid = file.len() as u64;
    file.extend(garbage);
    let out = read(&file).unwrap();
    assert_eq!(out.frames.len(), 1);
    assert!(matches!(
        out.end,
        Err(CaptureError::BadBlockLength { offset, .. }) if offset == valid
    ));
}

#[test]
fn io_errors_are_wrapped() {
    struct Failing<'a>(&'a [u8]);
    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let f = three_frames();
    let file = pcap(E::Le, false, 1, &[(1, 0, &f[0])]);
    let out = read_from(Failing(&file), None).unwrap();
    assert_eq!(out.frames.len(), 1);
    let Err(e) = out.end else { panic!("no error") };
    assert!(matches!(e, CaptureError::Io(_)));
    assert!(e.to_string().contains("disk on fire"), "{e}");
    assert!(matches!(
        read_from(Failing(&[]), None),
        Err(CaptureError::Io(_))
    ));
}

// ---------------------------------------------------------------------------------------
// pcapng.

#[test]
fn pcapng_both_byte_orders_default_microseconds() {
    let f = three_frames();
    for e in [E::Le, E::Be] {
        let mut file = shb(e);
        file.extend(idb(e, 1, 262_144, &[]));
        file.extend(epb(e, 0, 1_700_000_000_123_456, &f[0], f[0].len() as u32));
        file.extend(epb(
            e,
            0,
            1_700_000_001_000_000,
            &f[1][..20],
            f[1].len() as u32,
        ));
        file.extend(epb(e, 0, 1_700_000_002_000_001, &f[2], f[2].len() as u32));
        let out = read_ok(&file);
        assert_eq!(out.format, Format::PcapNg);
        assert_eq!(
            out.frames,
            vec![
                Owned {
                    ts: ts(1_700_000_000, 123_456_000),
                    link: 1,
                    data: f[0].clone(),
                    orig_len: f[0].len() as u32,
                    interface: 0
                },
                Owned {
                    ts: ts(1_700_000_001, 0),
                    link: 1,
                    data: f[1][..20].to_vec(),
                    orig_len: f[1].len() as u32,
                    interface: 0
                },
                Owned {
                    ts: ts(1_700_000_002, 1_000),
                    link: 1,
                    data: f[2].clone(),
                    orig_len: f[2].len() as u32,
                    interface: 0
                },
            ],
            "{e:?}"
        );
        assert_eq!(out.stats.sections, 1);
        assert_eq!(out.stats.interfaces, 1);
        assert_eq!(out.stats.cut_by_snaplen, 1);
    }
}

#[test]
fn pcapng_tsresol_nanoseconds_power_of_two_and_offset() {
    let d = ipv4_syn(9);
    for e in [E::Le, E::Be] {
        let mut file = shb(e);
        file.extend(idb_resol(e, 101, 9, None)); // 10^-9
        file.extend(idb_resol(e, 101, 0x80 | 10, None)); // 2^-10
        file.extend(idb_resol(e, 101, 3, Some(1_700_000_000))); // ms since an offset
        file.extend(idb_resol(e, 101, 12, Some(-5))); // picoseconds, offset back
        file.extend(epb(e, 0, 1_700_000_000_123_456_789, &d, 40));
        file.extend(epb(e, 1, 1_700_000_000 * 1024 + 512, &d, 40));
        file.extend(epb(e, 1, 3, &d, 40));
        file.extend(epb(e, 2, 2_500, &d, 40));
        file.extend(epb(e, 3, 10_000_000_000_001_999, &d, 40));
        let out = read_ok(&file);
        let got: Vec<_> = out.frames.iter().map(|f| (f.interface, f.ts)).collect();
        assert_eq!(
            got,
            vec![
                (0, ts(1_700_000_000, 123_456_789)),
                (1, ts(1_700_000_000, 500_000_000)),
                (1, 2_929_687), // 3 × 976562.5 ns, truncated
                (2, ts(1_700_000_002, 500_000_000)),
                (3, ts(10_000 - 5, 1)),
            ],
            "{e:?}"
        );
        assert_eq!(out.stats.interfaces, 4);
    }
}

#[test]
fn pcapng_several_sections_each_with_its_byte_order_and_interfaces() {
    let f = three_frames();
    let mut file = shb(E::Le);
    file.extend(idb(E::Le, 1, 0, &[]));
    file.extend(idb(E::Le, 113, 0, &[]));
    file.extend(epb(E::Le, 1, 1_000_000, &f[0], f[0].len() as u32));
    file.extend(shb(E::Be));
    file.extend(idb_resol(E::Be, 101, 9, None));
    file.extend(epb(E::Be, 0, 2_000_000_000, &f[1], f[1].len() as u32));
    file.extend(shb(E::Le));
    file.extend(idb(E::Le, 276, 0, &[]));
    file.extend(epb(E::Le, 0, 3_000_000, &f[2], f[2].len() as u32));
    let out = read_ok(&file);
    let got: Vec<_> = out
        .frames
        .iter()
        .map(|f| (f.ts, f.link, f.interface))
        .collect();
    assert_eq!(
        got,
        vec![(ts(1, 0), 113, 1), (ts(2, 0), 101, 0), (ts(3, 0), 276, 0)]
    );
    assert_eq!(out.stats.sections, 3);
    assert_eq!(out.stats.interfaces, 4);

    // A new section forgets the interfaces of the one before.
    let mut file = shb(E::Le);
    file.extend(idb(E::Le, 1, 0, &[]));
    file.extend(idb(E::Le, 1, 0, &[]));
    let second = file.len() as u64;
    file.extend(shb(E::Be));
    file.extend(idb(E::Be, 1, 0, &[]));
    let packet = file.len() as u64;
    file.extend(epb(E::Be, 1, 0, &f[0], 60));
    let out = read(&file).unwrap();
    assert!(out.frames.is_empty());
    assert!(second < packet);
    assert!(matches!(
        out.end,
        Err(CaptureError::UnknownInterface { offset, interface: 1, described: 1 }) if offset == packet
    ));
}

#[test]
fn pcapng_simple_packet_blocks() {
    let f = three_frames();
    for e in [E::Le, E::Be] {
        let mut file = shb(e);
        file.extend(idb(e, 1, 50, &[]));
        file.extend(spb(e, f[0].len() as u32, &f[0][..50])); // before any timestamp: 0
        file.extend(epb(e, 0, 7_000_000, &f[1][..50], f[1].len() as u32));
        file.extend(spb(e, 30, &[5; 30])); // shorter than the snaplen
        file.extend(spb(e, 1514, &f[0][..50])); // cut to the snaplen
        let out = read_ok(&file);
        let got: Vec<_> = out
            .frames
            .iter()
            .map(|f| (f.ts, f.data.len(), f.orig_len))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 50, f[0].len() as u32),
                (ts(7, 0), 50, f[1].len() as u32),
                (ts(7, 0), 30, 30),
                (ts(7, 0), 50, 1514),
            ],
            "{e:?}"
        );
        assert_eq!(out.frames[2].data, vec![5; 30]);
        assert_eq!(out.stats.simple_packets, 3);
        assert_eq!(out.stats.cut_by_snaplen, 3);
    }
    // Without a snaplen, the padding of the block is not data.
    let mut file = shb(E::Le);
    file.extend(idb(E::Le, 1, 0, &[]));
    file.extend(spb(E::Le, 61, &[1; 61]));
    assert_eq!(read_ok(&file).frames[0].data, vec![1; 61]);
    // Without an interface, a simple packet has no link type.
    let mut file = shb(E::Le);
    file.extend(spb(E::Le, 4, &[1; 4]));
    assert!(matches!(
        read(&file).unwrap().end,
        Err(CaptureError::UnknownInterface {
            offset: 28,
            interface: 0,
            described: 0
        })
    ));
}

#[test]
fn pcapng_obsolete_packet_blocks() {
    let d = ipv4_syn(3);
    for e in [E::Le, E::Be] {
        let mut file = shb(e);
        file.extend(idb(e, 1, 0, &[]));
        file.extend(idb_resol(e, 101, 9, None));
        file.extend(pb(e, 1, 1_000_000_001, &d, 40));
        file.extend(pb(e, 0, 1_000_001, &ether(0x0800, &d), 54));
        let out = read_ok(&file);
        let got: Vec<_> = out
            .frames
            .iter()
            .map(|f| (f.ts, f.link, f.interface, f.data.len()))
            .collect();
        assert_eq!(
            got,
            vec![(ts(1, 1), 101, 1, 40), (ts(1, 1_000), 1, 0, 54)],
            "{e:?}"
        );
    }
}

#[test]
fn pcapng_other_blocks_are_skipped_and_counted() {
    let d = ipv4_syn(4);
    for e in [E::Le, E::Be] {
        let mut file = shb(e);
        file.extend(skippable_blocks(e));
        file.extend(idb(e, 101, 0, &[]));
        file.extend(skippable_blocks(e));
        file.extend(epb(e, 0, 1, &d, 40));
        file.extend(skippable_blocks(e));
        let out = read_ok(&file);
        assert_eq!(out.frames.len(), 1);
        assert_eq!(out.frames[0].data, d);
        assert_eq!(out.stats.blocks_skipped, 3 * SKIPPABLE, "{e:?}");
    }
    // The largest block accepted, skipped.
    let mut file = shb(E::Le);
    file.extend(block(E::Le, 0x0bad, &vec![0; MAX_BLOCK_LEN as usize - 12]));
    let out = read(&file).unwrap();
    assert!(out.end.is_ok());
    assert_eq!(out.stats.blocks_skipped, 1);
}

#[test]
fn pcapng_bad_block_lengths() {
    let d = ipv4_syn(5);
    let mut valid = shb(E::Le);
    valid.extend(idb(E::Le, 101, 0, &[]));
    valid.extend(epb(E::Le, 0, 1, &d, 40));
    let at = valid.len();
    for len in [
        0,
        4,
        8,
        11,
        13,
        14,
        15,
        34,
        MAX_BLOCK_LEN + 4,
        u32::MAX - 3,
        u32::MAX,
    ] {
        let mut file = valid.clone();
        file.extend(epb(E::Le, 0, 2, &d, 40));
        file[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
        let out = read(&file).unwrap();
        assert_eq!(out.frames.len(), 1, "length {len}");
        let Err(e) = out.end else {
            panic!("length {len} accepted")
        };
        assert!(
            matches!(e, CaptureError::BadBlockLength { offset, len: l } if offset == at as u64 && l == len),
            "length {len}: {e:?}"
        );
        assert!(e.to_string().contains("multiple of 4"), "{e}");
    }
    // The section header's own length, in the reader's constructor.
    let mut file = valid.clone();
    file[4..8].copy_from_slice(&13u32.to_le_bytes());
    assert!(matches!(
        read(&file),
        Err(CaptureError::BadBlockLength { offset: 0, len: 13 })
    ));
}

#[test]
fn pcapng_trailing_length_mismatch() {
    let d = ipv4_syn(6);
    for e in [E::Le, E::Be] {
        let mut file = shb(e);
        file.extend(idb(e, 101, 0, &[]));
        let at = file.len();
        file.extend(epb(e, 0, 1, &d, 40));
        let end = file.len();
        file[end - 4..].copy_from_slice(&e.u32(64));
        let out = read(&file).unwrap();
        assert!(out.frames.is_empty());
        let Err(e) = out.end else { panic!("accepted") };
        assert!(
            matches!(
                e,
                CaptureError::TrailingLengthMismatch { offset, leading: 84, trailing: 64 } if offset == at as u64
            ),
            "{e:?}"
        );
    }
}

#[test]
fn pcapng_bad_section_headers() {
    // Byte-order magic.
    let mut file = shb(E::Le);
    file[8..12].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert!(matches!(
        read(&file),
        Err(CaptureError::BadByteOrderMagic {
            offset: 0,
            magic: 0xdead_beef
        })
    ));
    // Version 2.0.
    let mut file = shb(E::Be);
    file[12..14].copy_from_slice(&2u16.to_be_bytes());
    assert!(matches!(
        read(&file),
        Err(CaptureError::UnsupportedVersion {
            format: Format::PcapNg,
            major: 2,
            minor: 0
        })
    ));
    // Too short for its fields.
    let mut body = Vec::new();
    body.extend(E::Le.u32(0x1a2b_3c4d));
    body.extend(E::Le.u16(1));
    body.extend(E::Le.u16(0));
    let file = block(E::Le, 0x0a0d_0d0a, &body);
    assert!(matches!(
        read(&file),
        Err(CaptureError::MalformedBlock {
            offset: 0,
            block_type: 0x0a0d_0d0a,
            ..
        })
    ));
    // Cut inside the first block.
    let file = shb(E::Le);
    for cut in 4..file.len() {
        assert!(matches!(
            read(&file[..cut]),
            Err(CaptureError::Truncated { offset: 0 })
        ));
    }
}

#[test]
fn pcapng_malformed_blocks() {
    let d = ipv4_syn(7);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("captured length past the block", {
            let mut b = epb(E::Le, 0, 1, &d, 40);
            b[20..24].copy_from_slice(&1000u32.to_le_bytes());
            b
        }),
        ("epb too short", block(E::Le, 6, &[0; 16])),
        ("pb too short", block(E::Le, 2, &[0; 8])),
        ("spb too short", block(E::Le, 3, &[])),
        ("idb too short", block(E::Le, 1, &[1, 0, 0, 0])),
        (
            "option past the block",
            idb(E::Le, 1, 0, &[9, 0, 200, 0, 6, 0, 0, 0]),
        ),
        (
            "tsresol of 2 bytes",
            idb(E::Le, 1, 0, &opt(E::Le, 9, &[6, 6])),
        ),
        (
            "tsoffset of 4 bytes",
            idb(E::Le, 1, 0, &opt(E::Le, 14, &[0; 4])),
        ),
    ];
    for (what, bad) in cases {
        let mut file = shb(E::Le);
        file.extend(idb(E::Le, 101, 0, &[]));
        file.extend(epb(E::Le, 0, 1, &d, 40));
        let at = file.len() as u64;
        file.extend(bad);
        file.extend(epb(E::Le, 0, 2, &d, 40));
        let out = read(&file).unwrap();
        assert_eq!(out.frames.len(), 1, "{what}");
        let Err(e) = out.end else {
            panic!("{what}: accepted")
        };
        assert!(
            matches!(e, CaptureError::MalformedBlock { offset, .. } if offset == at),
            "{what}: {e:?}"
        );
    }
}

#[test]
fn pcapng_options_without_end_marker_or_last_padding_are_read() {
    let d = ipv4_syn(8);
    let mut options = opt(E::Le, 9, &[9]);
    options.extend(E::Le.u16(2)); // if_name "eth", unpadded, no end-of-options
    options.extend(E::Le.u16(3));
    options.extend(b"eth");
    let mut file = shb(E::Le);
    file.extend(idb(E::Le, 101, 0, &options));
    file.extend(epb(E::Le, 0, 5, &d, 40));
    assert_eq!(read_ok(&file).frames[0].ts, 5);
}

#[test]
fn pcapng_truncated_blocks() {
    let d = ipv4_syn(10);
    let mut file = shb(E::Be);
    file.extend(idb(E::Be, 101, 0, &[]));
    file.extend(epb(E::Be, 0, 1, &d, 40));
    let last = file.len();
    file.extend(epb(E::Be, 0, 2, &d, 40));
    for cut in last + 1..file.len() {
        let out = read(&file[..cut]).unwrap();
        assert_eq!(out.frames.len(), 1);
        assert!(
            matches!(out.end, Err(CaptureError::Truncated { offset }) if offset == last as u64),
            "cut at {cut}: {:?}",
            out.end
        );
    }
}

/// A reader that notes the largest buffer it is asked to fill.
struct Watch<'a> {
    data: &'a [u8],
    largest: usize,
}

impl Read for Watch<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest = self.largest.max(buf.len());
        let n = self.data.len().min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn claimed_lengths_cost_no_memory_before_the_data_arrives() {
    // A 16 MiB block and a 256 KiB record claimed by files of a few dozen bytes: the buffer
    // stays at its initial size (here 4 KiB), whatever the claim.
    let mut ng = shb(E::Le);
    ng.extend(E::Le.u32(0x0bad));
    ng.extend(E::Le.u32(MAX_BLOCK_LEN));
    ng.extend([0; 32]);
    let mut pc = pcap_header(E::Le, MAGIC_MICRO, 65535, 1);
    pc.extend(pcap_record(E::Le, 1, 0, &[], 0));
    let at = pc.len() - 8;
    pc[at..at + 4].copy_from_slice(&MAX_PCAP_RECORD.to_le_bytes());
    pc.extend([0; 32]);
    for file in [ng, pc] {
        let mut watch = Watch {
            data: &file,
            largest: 0,
        };
        let mut reader = CaptureReader::with_buffer_size(&mut watch, 4096).unwrap();
        assert!(matches!(
            reader.next_frame(),
            Err(CaptureError::Truncated { .. })
        ));
        drop(reader);
        assert!(
            watch.largest <= 4096,
            "asked to fill {} bytes",
            watch.largest
        );
    }
}

#[test]
fn reads_from_a_pipe() {
    let f = three_frames();
    let file = pcap(
        E::Le,
        false,
        1,
        &[(1, 0, &f[0]), (2, 0, &f[1]), (3, 0, &f[2])],
    );
    let dir = scratch("pipe");
    let path = dir.join("in.pcap");
    std::fs::write(&path, &file).unwrap();
    let mut child = Command::new("cat")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cat");
    let out = read_from(child.stdout.take().unwrap(), None).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(out.end.is_ok());
    assert_eq!(out.frames.len(), 3);
    assert_eq!(out.frames[2].data, f[2]);
}

// ---------------------------------------------------------------------------------------
// Link layers.

#[test]
fn ethernet_ipv4_ipv6_and_vlan_tags() {
    let v4 = ipv4_syn(1);
    let v6 = ipv6_header(1);
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x0800, &v4)),
        Ok(&v4[..])
    );
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x86dd, &v6)),
        Ok(&v6[..])
    );
    // One 802.1Q tag; 802.1ad outer + 802.1Q inner; the old 0x9100 outer tag.
    let mut one = vec![0x0f, 0xff];
    one.extend(0x0800u16.to_be_bytes());
    one.extend(&v4);
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x8100, &one)),
        Ok(&v4[..])
    );
    let mut two = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0x0a];
    two.extend(0x86ddu16.to_be_bytes());
    two.extend(&v6);
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x88a8, &two)),
        Ok(&v6[..])
    );
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x9100, &two)),
        Ok(&v6[..])
    );
    let mut three = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x01];
    three.extend(0x0800u16.to_be_bytes());
    three.extend(&v4);
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x88a8, &three)),
        Err(LinkError::TooManyVlanTags)
    );
    // ARP, 802.3 length field, LLDP: not IP; an ARP in a VLAN too.
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x0806, &[0; 28])),
        Err(LinkError::NotIp)
    );
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x0026, &[0; 38])),
        Err(LinkError::NotIp)
    );
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &ether(0x88cc, &[0; 38])),
        Err(LinkError::NotIp)
    );
    assert_eq!(
        ip_packet(
            LinkType::ETHERNET,
            &ether(0x8100, &[0, 1, 0x08, 0x06, 0, 0])
        ),
        Err(LinkError::NotIp)
    );
    // Too short: header, tag, or nothing after them.
    for short in [
        &ether(0x0800, &v4)[..13],
        &ether(0x0800, &[]),
        &ether(0x8100, &[0, 1, 8]),
    ] {
        assert_eq!(
            ip_packet(LinkType::ETHERNET, short),
            Err(LinkError::Truncated)
        );
    }
    assert_eq!(
        ip_packet(LinkType::ETHERNET, &[]),
        Err(LinkError::Truncated)
    );
}

#[test]
fn linux_cooked_v1_and_v2() {
    let v4 = ipv4_syn(2);
    let v6 = ipv6_header(2);
    let sll = |proto: u16, ip: &[u8]| {
        let mut v = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        v.extend(proto.to_be_bytes());
        v.extend(ip);
        v
    };
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL, &sll(0x0800, &v4)),
        Ok(&v4[..])
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL, &sll(0x86dd, &v6)),
        Ok(&v6[..])
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL, &sll(0x0806, &[0; 28])),
        Err(LinkError::NotIp)
    );
    let mut tagged = vec![0, 5];
    tagged.extend(0x0800u16.to_be_bytes());
    tagged.extend(&v4);
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL, &sll(0x8100, &tagged)),
        Ok(&v4[..])
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL, &sll(0x0800, &[])),
        Err(LinkError::Truncated)
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL, &sll(0x0800, &[])[..15]),
        Err(LinkError::Truncated)
    );

    let sll2 = |proto: u16, ip: &[u8]| {
        let mut v = proto.to_be_bytes().to_vec();
        v.extend([0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0, 0, 0]);
        v.extend(ip);
        v
    };
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL2, &sll2(0x0800, &v4)),
        Ok(&v4[..])
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL2, &sll2(0x86dd, &v6)),
        Ok(&v6[..])
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL2, &sll2(0x0806, &[0; 28])),
        Err(LinkError::NotIp)
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL2, &sll2(0x0800, &[])),
        Err(LinkError::Truncated)
    );
    assert_eq!(
        ip_packet(LinkType::LINUX_SLL2, &sll2(0x0806, &[])[..19]),
        Err(LinkError::Truncated)
    );
}

#[test]
fn raw_ip_link_types() {
    let v4 = ipv4_syn(3);
    let v6 = ipv6_header(3);
    for link in [LinkType::RAW, LinkType(12), LinkType(14)] {
        assert_eq!(ip_packet(link, &v4), Ok(&v4[..]));
        assert_eq!(ip_packet(link, &v6), Ok(&v6[..]));
        assert_eq!(ip_packet(link, &[0x50, 0, 0]), Err(LinkError::NotIp));
        assert_eq!(ip_packet(link, &[]), Err(LinkError::Truncated));
    }
    assert_eq!(ip_packet(LinkType::IPV4, &v4), Ok(&v4[..]));
    assert_eq!(ip_packet(LinkType::IPV4, &v6), Err(LinkError::NotIp));
    assert_eq!(ip_packet(LinkType::IPV6, &v6), Ok(&v6[..]));
    assert_eq!(ip_packet(LinkType::IPV6, &v4), Err(LinkError::NotIp));
    assert_eq!(ip_packet(LinkType::IPV6, &[]), Err(LinkError::Truncated));
}

#[test]
fn bsd_loopback_in_either_byte_order() {
    let v4 = ipv4_syn(4);
    let v6 = ipv6_header(4);
    for link in [LinkType::NULL, LinkType::LOOP] {
        for (family, ip) in [(2u32, &v4), (24, &v6), (28, &v6), (30, &v6)] {
            for header in [family.to_le_bytes(), family.to_be_bytes()] {
                let mut frame = header.to_vec();
                frame.extend(ip.iter());
                assert_eq!(ip_packet(link, &frame), Ok(&ip[..]), "{link:?} {family}");
            }
        }
        let mut other = 7u32.to_be_bytes().to_vec(); // AF_OSI-ish
        other.extend(&v4);
        assert_eq!(ip_packet(link, &other), Err(LinkError::NotIp));
        assert_eq!(ip_packet(link, &[2, 0, 0]), Err(LinkError::Truncated));
        assert_eq!(ip_packet(link, &[2, 0, 0, 0]), Err(LinkError::Truncated));
    }
}

#[test]
fn unknown_link_type() {
    for link in [105u32, 127, 147, 0xffff] {
        let e = ip_packet(LinkType(link), &[0x45; 40]).unwrap_err();
        assert_eq!(e, LinkError::UnknownLinkType(link));
        assert!(e.to_string().contains(&link.to_string()), "{e}");
    }
    assert_eq!(LinkType::LINUX_SLL2.name(), Some("LINUX_SLL2"));
    assert_eq!(LinkType(127).name(), None);
}

#[test]
fn every_link_type_end_to_end_from_one_pcapng() {
    let v4 = ipv4_syn(5);
    let v6 = ipv6_header(5);
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd];
    sll.extend(&v6);
    let mut sll2 = vec![
        0x08, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend(&v4);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend(&v4);
    let mut lo = 30u32.to_be_bytes().to_vec();
    lo.extend(&v6);
    let mut vlan = vec![0, 7, 0x08, 0x00];
    vlan.extend(&v4);
    let cases: Vec<(u16, Vec<u8>, &[u8])> = vec![
        (1, ether(0x0800, &v4), &v4),
        (1, ether(0x8100, &vlan), &v4),
        (113, sll, &v6),
        (276, sll2, &v4),
        (101, v6.clone(), &v6),
        (228, v4.clone(), &v4),
        (229, v6.clone(), &v6),
        (0, null, &v4),
        (108, lo, &v6),
    ];
    for e in [E::Le, E::Be] {
        let mut file = shb(e);
        for (i, (link, frame, _)) in cases.iter().enumerate() {
            file.extend(idb(e, *link, 0, &[]));
            file.extend(epb(e, i as u32, i as u64, frame, frame.len() as u32));
        }
        let mut reader = CaptureReader::new(&file[..]).unwrap();
        for (link, _, ip) in &cases {
            let frame = reader.next_frame().unwrap().unwrap();
            assert_eq!(frame.link, LinkType(u32::from(*link)));
            assert_eq!(ip_packet(frame.link, frame.data), Ok(*ip), "link {link}");
        }
        assert!(reader.next_frame().unwrap().is_none());
    }
}

// ---------------------------------------------------------------------------------------
// Fuzzing.

/// splitmix64: seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid files of every kind to mutate.
fn seed_files() -> Vec<Vec<u8>> {
    let f = three_frames();
    let v4 = ipv4_syn(6);
    let mut seeds = Vec::new();
    for e in [E::Le, E::Be] {
        for nano in [false, true] {
            seeds.push(pcap(
                e,
                nano,
                1,
                &[(1, 2, &f[0]), (3, 4, &f[1]), (5, 6, &f[2])],
            ));
        }
        let mut ng = shb(e);
        ng.extend(idb_resol(e, 1, 9, Some(3)));
        ng.extend(idb_resol(e, 101, 0x8a, None));
        ng.extend(epb(e, 0, 1, &f[0], 70));
        ng.extend(skippable_blocks(e));
        ng.extend(epb(e, 1, 2, &v4, 40));
        ng.extend(spb(e, 40, &f[1][..40]));
        ng.extend(pb(e, 1, 3, &v4, 40));
        ng.extend(shb(if e == E::Le { E::Be } else { E::Le }));
        ng.extend(idb(if e == E::Le { E::Be } else { E::Le }, 113, 64, &[]));
        seeds.push(ng);
    }
    seeds
}

const INTERESTING: [u32; 14] = [
    0,
    1,
    3,
    4,
    11,
    12,
    16,
    28,
    0x7fff_ffff,
    0xffff_ffff,
    0x8000_0000,
    0x0a0d_0d0a,
    0x1a2b_3c4d,
    MAX_BLOCK_LEN,
];

fn mutate(rng: &mut Rng, file: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let len = file.len();
        match rng.below(7) {
            0 => {
                let at = rng.below(len);
                if let Some(b) = file.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let at = rng.below(len);
                if let Some(b) = file.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            2 => {
                // An interesting 32-bit value, either byte order, on a 4-byte boundary.
                let at = rng.below(len / 4) * 4;
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let bytes = if rng.next() & 1 == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                if let Some(slot) = file.get_mut(at..at + 4) {
                    slot.copy_from_slice(&bytes);
                }
            }
            3 => file.truncate(rng.below(len + 1)),
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                file.splice(at..at, junk);
            }
            5 => {
                let at = rng.below(len);
                let n = rng.below(len - at.min(len) + 1).min(32);
                file.drain(at.min(len)..(at + n).min(len));
            }
            _ => {
                // Copy a chunk elsewhere (duplicated records and blocks).
                let from = rng.below(len);
                let n = rng.below(len - from.min(len) + 1).min(200);
                let chunk = file[from.min(len)..(from + n).min(len)].to_vec();
                let to = rng.below(len + 1);
                file.splice(to..to, chunk);
            }
        }
    }
}

#[test]
fn fuzz_mutated_files_never_panic_and_always_end() {
    let seeds = seed_files();
    let mut rng = Rng(0x6d6f_6e62_616e);
    let mut outcomes = [0u64; 3]; // clean end, error at open, error while reading
    for i in 0..100_000 {
        let mut file = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut file);
        let buffer = match i % 4 {
            0 => None,
            1 => Some(1),
            _ => Some(64 + rng.below(512)),
        };
        let mut reader = match buffer {
            None => CaptureReader::new(&file[..]),
            Some(size) => CaptureReader::with_buffer_size(&file[..], size),
        };
        let Ok(reader) = reader.as_mut() else {
            outcomes[1] += 1;
            continue;
        };
        // Each frame consumes at least 12 bytes (a pcapng block) or 16 (a pcap record).
        let limit = file.len() / 12 + 1;
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(
                calls <= limit + 1,
                "iteration {i}: no end after {calls} calls"
            );
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    let _ = ip_packet(frame.link, frame.data);
                    assert!(frame.data.len() <= file.len());
                }
                Ok(None) => {
                    outcomes[0] += 1;
                    break;
                }
                Err(e) => {
                    let _ = e.to_string();
                    outcomes[2] += 1;
                    break;
                }
            }
        }
        assert!(matches!(reader.next_frame(), Ok(None)));
        assert!(reader.offset() <= file.len() as u64);
    }
    // The mutations reach every outcome.
    assert!(outcomes.iter().all(|&n| n > 1000), "{outcomes:?}");
}

#[test]
fn ip_packet_never_panics_on_short_or_random_frames() {
    let mut rng = Rng(42);
    let links = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 7, 0xffff_ffff];
    for _ in 0..50_000 {
        let len = rng.below(48);
        let mut frame: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Often a plausible type field, to get past the first check.
        if len > 16 && rng.next() & 1 == 0 {
            let t = [0x8100u16, 0x88a8, 0x0800, 0x86dd][rng.below(4)];
            let at = [0, 12, 14, 16][rng.below(4)].min(len - 2);
            frame[at..at + 2].copy_from_slice(&t.to_be_bytes());
        }
        let link = LinkType(links[rng.below(links.len())]);
        if let Ok(ip) = ip_packet(link, &frame) {
            assert!(!ip.is_empty() && ip.len() <= frame.len());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Real tools: editcap, tshark, tcpdump and randpkt (wireshark-common, tshark and tcpdump
// packages). A missing tool fails the test.

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("capture-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `tool args`, panicking with the tool's name if it is missing or fails; its stdout.
fn run(tool: &str, args: &[&Path]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "`{tool}` could not be run ({e}): this test needs the real tool; install it \
             (Debian: apt-get install tshark tcpdump — editcap and randpkt come with \
             wireshark-common)"
        )
    });
    assert!(
        out.status.success(),
        "`{tool} {args:?}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read_file(path: &Path) -> Outcome {
    let file = std::fs::File::open(path).unwrap();
    let out = read_from(file, None).unwrap();
    if let Err(e) = &out.end {
        panic!("{}: {e}", path.display());
    }
    out
}

/// Frames with their timestamps, lengths and contents varied.
fn varied_frames(n: usize) -> Vec<(u32, u32, Vec<u8>, u32)> {
    let mut rng = Rng(7);
    (0..n)
        .map(|i| {
            let mut ip = ipv4_syn(i as u8);
            ip.extend((0..rng.below(200)).map(|_| rng.next() as u8));
            let frame = ether(0x0800, &ip);
            let secs = 1_700_000_000 + (i as u32) / 3;
            let micros = rng.below(1_000_000) as u32;
            // Every fifth frame cut by a 64-byte snapshot.
            if i % 5 == 0 && frame.len() > 64 {
                let orig = frame.len() as u32;
                (secs, micros, frame[..64].to_vec(), orig)
            } else {
                let orig = frame.len() as u32;
                (secs, micros, frame, orig)
            }
        })
        .collect()
}

#[test]
fn editcap_pcapng_and_nanosecond_conversions_read_the_same_frames() {
    let dir = scratch("editcap");
    let frames = varied_frames(300);
    let mut ours = pcap_header(E::Le, MAGIC_MICRO, 65535, 1);
    for (secs, micros, data, orig) in &frames {
        ours.extend(pcap_record(E::Le, *secs, *micros, data, *orig));
    }
    let us = dir.join("ours.pcap");
    std::fs::write(&us, &ours).unwrap();
    let ng = dir.join("editcap.pcapng");
    let ns = dir.join("editcap-nsec.pcap");
    let ns_ng = dir.join("editcap-nsec.pcapng");
    run("editcap", &[Path::new("-F"), Path::new("pcapng"), &us, &ng]);
    run(
        "editcap",
        &[Path::new("-F"), Path::new("nsecpcap"), &us, &ns],
    );
    run(
        "editcap",
        &[Path::new("-F"), Path::new("pcapng"), &ns, &ns_ng],
    );

    let expected: Vec<Owned> = frames
        .iter()
        .map(|(secs, micros, data, orig)| Owned {
            ts: ts(u64::from(*secs), u64::from(*micros) * 1000),
            link: 1,
            data: data.clone(),
            orig_len: *orig,
            interface: 0,
        })
        .collect();
    let cut = frames.iter().filter(|f| f.2.len() < f.3 as usize).count() as u64;
    assert!(cut > 10);
    for (path, format) in [
        (&us, Format::Pcap),
        (&ng, Format::PcapNg),
        (&ns, Format::Pcap),
        (&ns_ng, Format::PcapNg),
    ] {
        let out = read_file(path);
        assert_eq!(out.format, format, "{}", path.display());
        assert_eq!(out.frames.len(), expected.len(), "{}", path.display());
        for (i, (got, want)) in out.frames.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "{} frame {i}", path.display());
        }
        assert_eq!(out.stats.cut_by_snaplen, cut, "{}", path.display());
    }
    // editcap's pcapng carries its own blocks and options; ours were all read or skipped.
    assert!(read_file(&ng).stats.sections >= 1);
}

/// `tshark`'s view of a file: per packet, epoch time, captured and original length.
/// tshark also lists custom and systemd-journal blocks as records; those have no
/// link-layer encapsulation and are left out.
fn tshark_frames(path: &Path) -> Vec<(String, usize, u32)> {
    let fields = [
        "frame.encap_type",
        "frame.time_epoch",
        "frame.cap_len",
        "frame.len",
    ];
    let mut args = vec![Path::new("-r"), path, Path::new("-T"), Path::new("fields")];
    for field in &fields {
        args.push(Path::new("-e"));
        args.push(Path::new(field));
    }
    run("tshark", &args)
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            if f.next().unwrap().is_empty() {
                return None;
            }
            let t = f.next().unwrap().to_string();
            let cap = f.next().unwrap().parse().unwrap();
            let len = f.next().unwrap().parse().unwrap();
            Some((t, cap, len))
        })
        .collect()
}

fn epoch(nanos: u64) -> String {
    format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000)
}

fn ours_as_tshark(out: &Outcome) -> Vec<(String, usize, u32)> {
    out.frames
        .iter()
        .map(|f| (epoch(f.ts), f.data.len(), f.orig_len))
        .collect()
}

#[test]
fn tshark_reads_our_pcapng_with_the_same_timestamps() {
    let dir = scratch("tshark");
    let f = three_frames();
    let v4 = ipv4_syn(11);
    // Two sections in opposite byte orders; interfaces with 10^-9, 2^-10, 10^-3 plus an
    // offset, and the default; skipped blocks everywhere; an obsolete Packet Block.
    let mut file = shb(E::Le);
    file.extend(idb_resol(E::Le, 1, 9, None));
    file.extend(idb_resol(E::Le, 101, 0x80 | 10, None));
    file.extend(skippable_blocks(E::Le));
    file.extend(epb(
        E::Le,
        0,
        1_700_000_000_123_456_789,
        &f[0],
        f[0].len() as u32,
    ));
    file.extend(epb(E::Le, 1, 1_700_000_000 * 1024 + 1, &v4, 40));
    file.extend(epb(E::Le, 1, 1_700_000_000 * 1024 + 1023, &v4[..30], 40));
    file.extend(shb(E::Be));
    file.extend(idb_resol(E::Be, 1, 3, Some(1_600_000_000)));
    file.extend(idb(E::Be, 1, 0, &[]));
    file.extend(skippable_blocks(E::Be));
    file.extend(epb(E::Be, 0, 100_000_123, &f[1], f[1].len() as u32));
    file.extend(pb(
        E::Be,
        1,
        1_650_000_000_654_321,
        &f[2],
        f[2].len() as u32,
    ));
    let path = dir.join("ours.pcapng");
    std::fs::write(&path, &file).unwrap();

    let ours = read_ok(&file);
    assert_eq!(ours.frames.len(), 5);
    assert_eq!(ours_as_tshark(&ours), tshark_frames(&path));
}

#[test]
fn tcpdump_reads_our_big_endian_nanosecond_pcap_with_the_same_timestamps() {
    let dir = scratch("tcpdump");
    let frames = varied_frames(50);
    let mut file = pcap_header(E::Be, MAGIC_NANO, 65535, 1);
    for (i, (secs, micros, data, orig)) in frames.iter().enumerate() {
        let nanos = micros * 1000 + (i as u32 % 1000);
        file.extend(pcap_record(E::Be, *secs, nanos, data, *orig));
    }
    let path = dir.join("ours.pcap");
    std::fs::write(&path, &file).unwrap();
    let printed = run(
        "tcpdump",
        &[
            Path::new("-r"),
            &path,
            Path::new("-nn"),
            Path::new("-tt"),
            Path::new("--nano"),
        ],
    );
    let theirs: Vec<&str> = printed
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let ours = read_ok(&file);
    let mine: Vec<String> = ours.frames.iter().map(|f| epoch(f.ts)).collect();
    assert_eq!(theirs, mine);
}

#[test]
fn randpkt_files_read_as_tshark_reads_them() {
    let dir = scratch("randpkt");
    for kind in ["eth", "arp", "ip", "ipv6", "tcp", "udp", "usb-linux"] {
        let path = dir.join(format!("{kind}.pcap"));
        run(
            "randpkt",
            &[
                Path::new("-b"),
                Path::new("3000"),
                Path::new("-c"),
                Path::new("200"),
                Path::new("-t"),
                Path::new(kind),
                &path,
            ],
        );
        let ours = read_file(&path);
        assert_eq!(ours.frames.len(), 200, "{kind}");
        assert_eq!(ours_as_tshark(&ours), tshark_frames(&path), "{kind}");
        // Converted to pcapng by editcap: the same frames again.
        let ng = dir.join(format!("{kind}.pcapng"));
        run(
            "editcap",
            &[Path::new("-F"), Path::new("pcapng"), &path, &ng],
        );
        assert_eq!(read_file(&ng).frames, ours.frames, "{kind} as pcapng");
    }
}

// ---------------------------------------------------------------------------------------
// Real captures, in testdata/capture: localhost UDP datagrams (and the ICMP port
// unreachables they drew) captured by `tcpdump -i any` (Linux cooked v1 and v2) and
// `dumpcap -i lo` (pcapng with dumpcap's options and a closing statistics block).

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/capture")
        .join(name)
}

const REAL_CAPTURES: [(&str, Format, LinkType, usize); 3] = [
    (
        "tcpdump-any-sll.pcap",
        Format::Pcap,
        LinkType::LINUX_SLL,
        16,
    ),
    (
        "tcpdump-any-sll2.pcap",
        Format::Pcap,
        LinkType::LINUX_SLL2,
        20,
    ),
    ("dumpcap-lo.pcapng", Format::PcapNg, LinkType::ETHERNET, 14),
];

#[test]
fn real_captures_in_testdata_are_read_and_decoded() {
    for (name, format, link, header) in REAL_CAPTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        let out = read_ok(&bytes);
        assert_eq!(out.format, format, "{name}");
        assert_eq!(out.frames.len(), 20, "{name}");
        let (mut v4, mut v6) = (0, 0);
        for f in &out.frames {
            assert_eq!(f.link, link.0, "{name}");
            assert_eq!(f.data.len() as u32, f.orig_len, "{name}");
            let ip = ip_packet(link, &f.data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ip.len(), f.data.len() - header, "{name}");
            match ip[0] >> 4 {
                4 => v4 += 1,
                6 => v6 += 1,
                v => panic!("{name}: IP version {v}"),
            }
        }
        assert!(v4 > 0 && v6 > 0, "{name}: {v4} IPv4, {v6} IPv6");
        // Timestamps in capture order, within the few seconds of the capture.
        assert!(out.frames.windows(2).all(|w| w[0].ts <= w[1].ts), "{name}");
        assert!(
            out.frames[19].ts - out.frames[0].ts < 10_000_000_000,
            "{name}"
        );
    }
    let ng = read_ok(&std::fs::read(testdata("dumpcap-lo.pcapng")).unwrap());
    assert_eq!(
        (
            ng.stats.sections,
            ng.stats.interfaces,
            ng.stats.blocks_skipped
        ),
        (1, 1, 1)
    );
}

#[test]
fn real_captures_in_testdata_read_as_tshark_reads_them() {
    for (name, ..) in REAL_CAPTURES {
        let path = testdata(name);
        assert_eq!(
            ours_as_tshark(&read_file(&path)),
            tshark_frames(&path),
            "{name}"
        );
    }
}

#[test]
fn pcapng_too_many_interfaces() {
    let mut file = shb(E::Le);
    let one = idb(E::Le, 1, 0, &[]);
    for _ in 0..MAX_INTERFACES {
        file.extend(&one);
    }
    let mut ok = file.clone();
    ok.extend(epb(E::Le, MAX_INTERFACES as u32 - 1, 1, &[0; 14], 14));
    let out = read(&ok).unwrap();
    assert!(out.end.is_ok());
    assert_eq!(out.frames[0].interface, MAX_INTERFACES as u32 - 1);
    let at = file.len() as u64;
    file.extend(&one);
    assert!(matches!(
        read(&file).unwrap().end,
        Err(CaptureError::TooManyInterfaces { offset }) if offset == at
    ));
}
