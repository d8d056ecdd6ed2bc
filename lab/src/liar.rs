//! The liar: a forger on the path between the scanner and the targets.
//!
//! A port scanner talks to machines it does not trust. [`Liar::start`] puts a thread into
//! the lab's router namespace that reads every frame on the router's scanner-side link
//! (`s0`, through an `AF_PACKET` socket) and, for each probe the scanner sends to a target,
//! answers it *itself*, at once, with forged packets towards the scanner, before the
//! target's true answer can come back. It also sends nine more copies of each true answer
//! from a chosen port, so that it arrives ten times. The scanner kernel's own RSTs (its
//! answers to forged SYN/ACKs) are not probes and get no lies, or the liar would feed on
//! itself.
//!
//! The liar sees every probe, so it could forge a perfect reply that nobody could tell
//! from the truth. It never does: every forgery carries one defect that a correct scanner
//! must catch (a wrong acknowledgement number or cookie, a bad checksum, a port or address
//! that was never probed, a header that lies about its length, ...), listed in [`Lie`].
//! A scan under the liar must therefore report every port exactly as the lab was built
//! ([`crate::Host::truth_for`]): a forgery that changes a state is a bug of the scanner.
//!
//! To keep the flood bounded, the liar lies about a chosen set of ports only: the ports
//! in [`LiarOptions::focus`] and every port divisible by [`LiarOptions::every`].
//!
//! Safety: the liar writes only to `s0` in the router namespace, whose only peer is the
//! scanner namespace, and only frames whose IP destination is the scanner's lab address
//! ([`crate::SCANNER_V4`], [`crate::SCANNER_V6`]); [`Liar::start`] refuses any other lab
//! layout. Its loop ends when the [`Liar`] is stopped or dropped.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::{netns, Lab, LabError, SCANNER_V4, SCANNER_V6};

/// How long the liar waits in `poll` before it looks at its stop flag (ms).
const POLL_MS: libc::c_int = 50;
/// `ETH_P_ALL`, `ETH_P_IP`, `ETH_P_IPV6`.
const ETH_P_ALL: u16 = 0x0003;
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
/// TCP flag bits.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
/// An address of the targets' network that no host has: replies "from" it come from a
/// host that was never probed.
pub const NEVER_PROBED_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 250);
/// The IPv6 address of the targets' network that no host has.
pub const NEVER_PROBED_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0x250);
/// An address of the targets' network that no host has, for a hostile host: a test that
/// makes the router drop what is sent to it (`LabBuilder::router_rule`) and names it in
/// [`LiarOptions::every_port_of`] gets a host whose only answers are the liar's, so that
/// its truth is every port filtered, no-response.
pub const HOSTILE_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 240);
/// The IPv6 address of the hostile host.
pub const HOSTILE_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0x240);
/// An address on the scanner's network that is not the scanner's: quoted as the source of
/// packets the scanner never sent.
pub const NOT_SCANNER_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 99);
/// The IPv6 address on the scanner's network that is not the scanner's.
pub const NOT_SCANNER_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 0x99);

/// One kind of lie. Each forged packet belongs to exactly one kind, and carries the defect
/// its kind names; `S:s` is the scanner's address and source port, `T:p` the probed target
/// and port, `c` the probe's sequence number (the scanner's cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lie {
    /// A SYN/ACK from `T:p` to `S:s` that acknowledges `c + 2` instead of `c + 1`.
    SynAckWrongAck,
    /// A RST/ACK from `T:p` whose acknowledgement number has one bit flipped.
    RstWrongAck,
    /// A bare RST (no ACK) whose sequence number is not the probe's acknowledgement number.
    RstWrongSeq,
    /// A SYN/ACK and a RST with the right acknowledgement number, from a port the probe did
    /// not ask: port 0 (never probed) and `p XOR 0x4000`.
    UnprobedPort,
    /// A SYN/ACK and a RST with the right acknowledgement number from an address that was
    /// never probed ([`NEVER_PROBED_V4`], [`NEVER_PROBED_V6`]); for UDP, a datagram.
    UnprobedAddr,
    /// A SYN/ACK with the right acknowledgement number (for UDP, a datagram) sent to
    /// `S:s+16`, a port outside the scanner's source ports.
    WrongDstPort,
    /// A perfect SYN/ACK whose IPv4 header checksum is wrong (IPv4 only).
    BadIpChecksum,
    /// A perfect SYN/ACK (for UDP, a datagram) whose TCP (UDP) checksum is wrong.
    BadL4Checksum,
    /// Perfect SYN/ACKs (UDP: datagrams) cut or lying about their length: a TCP header of 12
    /// bytes; an IP length 20 bytes longer than the frame; a TCP data offset of 60 bytes in a
    /// 20-byte segment (UDP: a UDP length beyond the packet); an IPv4 header length beyond
    /// the total length (IPv6: a payload length beyond the frame).
    Truncated,
    /// A SYN/ACK with a wrong acknowledgement number in a frame as large as the link takes:
    /// 40 bytes of IPv4 options (NOPs), 40 bytes of TCP options, 1380 bytes of payload.
    Oversized,
    /// SYN/ACKs with a wrong acknowledgement number and absurd TCP options: an option of
    /// length 0, one of length 1, one running past the header.
    AbsurdOptions,
    /// ICMP errors from `T` quoting packets the scanner never sent: the probe with a
    /// sequence number a quarter of the sequence space away (far outside any window: Linux
    /// takes a quote of `c + 1` as its own under `-sT`) (UDP: from source port `s+16`), the probe sent to a never-probed
    /// address, the probe in the other protocol, the probe from another source address.
    IcmpUnsent,
    /// An ICMP admin-prohibited from `T` quoting the probe's IP header and only the first 4
    /// bytes of its TCP header (ports, no sequence number): short of the 8 bytes every ICMP
    /// error must quote, so it proves nothing (TCP only).
    IcmpShortQuote,
    /// Ten copies of a RST/ACK (UDP: of a port unreachable quoting source port `s+16`) with
    /// the wrong acknowledgement number: amplification.
    Amplified,
    /// Nine more copies of each true answer of a target, so that it arrives ten times.
    Duplicate,
    /// IPv6 only: a SYN/ACK with a wrong acknowledgement number behind hop-by-hop,
    /// destination-options, routing and destination-options headers; the same behind twelve
    /// destination-options headers; a perfect SYN/ACK behind an options header whose
    /// length runs past the packet.
    ExtensionChain,
    /// A SYN/ACK with a wrong acknowledgement number (UDP: a datagram to `S:s+16`) in two
    /// fragments; the first holds 8 bytes of the transport header.
    Fragmented,
}

impl Lie {
    /// Every kind, in order.
    pub const ALL: [Lie; 17] = [
        Lie::SynAckWrongAck,
        Lie::RstWrongAck,
        Lie::RstWrongSeq,
        Lie::UnprobedPort,
        Lie::UnprobedAddr,
        Lie::WrongDstPort,
        Lie::BadIpChecksum,
        Lie::BadL4Checksum,
        Lie::Truncated,
        Lie::Oversized,
        Lie::AbsurdOptions,
        Lie::IcmpUnsent,
        Lie::IcmpShortQuote,
        Lie::Amplified,
        Lie::Duplicate,
        Lie::ExtensionChain,
        Lie::Fragmented,
    ];

    /// A short name (`syn_ack_wrong_ack`).
    pub fn name(self) -> &'static str {
        match self {
            Lie::SynAckWrongAck => "syn_ack_wrong_ack",
            Lie::RstWrongAck => "rst_wrong_ack",
            Lie::RstWrongSeq => "rst_wrong_seq",
            Lie::UnprobedPort => "unprobed_port",
            Lie::UnprobedAddr => "unprobed_addr",
            Lie::WrongDstPort => "wrong_dst_port",
            Lie::BadIpChecksum => "bad_ip_checksum",
            Lie::BadL4Checksum => "bad_l4_checksum",
            Lie::Truncated => "truncated",
            Lie::Oversized => "oversized",
            Lie::AbsurdOptions => "absurd_options",
            Lie::IcmpUnsent => "icmp_unsent",
            Lie::IcmpShortQuote => "icmp_short_quote",
            Lie::Amplified => "amplified",
            Lie::Duplicate => "duplicate",
            Lie::ExtensionChain => "extension_chain",
            Lie::Fragmented => "fragmented",
        }
    }

    fn index(self) -> usize {
        Lie::ALL.iter().position(|&l| l == self).unwrap_or(0)
    }
}

/// Which probes the liar answers.
#[derive(Debug, Clone)]
pub struct LiarOptions {
    /// Lie about every port divisible by this (0: none but the focus).
    pub every: u16,
    /// Lie about these ports always.
    pub focus: Vec<u16>,
    /// Lie about every port of these addresses: a hostile host, such as [`HOSTILE_V4`]
    /// once the router drops everything sent to it.
    pub every_port_of: Vec<IpAddr>,
}

impl LiarOptions {
    /// Every port divisible by `every`, and the ports where a lie would show most: every
    /// open TCP and UDP port of the lab's hosts, the silent UDP port, and the first 16
    /// ports of the dropped and of the rejected range.
    pub fn for_lab(lab: &Lab, every: u16) -> LiarOptions {
        let mut focus: Vec<u16> = lab
            .hosts()
            .iter()
            .flat_map(|h| {
                let mut v = h.open_ports().to_vec();
                v.extend(h.udp_open());
                v
            })
            .collect();
        focus.extend(crate::UDP_SILENT);
        focus.extend(crate::DROPPED.take(16));
        focus.extend(crate::REJECTED.take(16));
        focus.sort_unstable();
        focus.dedup();
        LiarOptions {
            every,
            focus,
            every_port_of: Vec::new(),
        }
    }

    fn chosen(&self, addr: IpAddr, port: u16) -> bool {
        (self.every != 0 && port.is_multiple_of(self.every))
            || self.focus.binary_search(&port).is_ok()
            || self.every_port_of.contains(&addr)
    }
}

/// What the liar did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiarReport {
    /// Probes seen (to a target, from the scanner), lied about or not.
    pub probes: u64,
    /// Probes lied about.
    pub lied_to: u64,
    /// Forged packets sent, per kind, in [`Lie::ALL`] order.
    pub sent: Vec<(Lie, u64)>,
    /// Forged packets the kernel would not take (a full queue).
    pub send_errors: u64,
}

impl LiarReport {
    /// Forged packets of one kind.
    pub fn count(&self, lie: Lie) -> u64 {
        self.sent
            .iter()
            .find(|(l, _)| *l == lie)
            .map_or(0, |(_, n)| *n)
    }

    /// Every forged packet sent.
    pub fn total(&self) -> u64 {
        self.sent.iter().map(|(_, n)| n).sum()
    }
}

impl std::fmt::Display for LiarReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} probes seen, {} lied to, {} forged packets ({} not sent):",
            self.probes,
            self.lied_to,
            self.total(),
            self.send_errors
        )?;
        for (l, n) in &self.sent {
            write!(f, " {}={n}", l.name())?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Counters {
    probes: AtomicU64,
    lied_to: AtomicU64,
    sent: [AtomicU64; Lie::ALL.len()],
    send_errors: AtomicU64,
}

impl Counters {
    fn report(&self) -> LiarReport {
        LiarReport {
            probes: self.probes.load(Ordering::SeqCst),
            lied_to: self.lied_to.load(Ordering::SeqCst),
            sent: Lie::ALL
                .iter()
                .map(|&l| (l, self.sent[l.index()].load(Ordering::SeqCst)))
                .collect(),
            send_errors: self.send_errors.load(Ordering::SeqCst),
        }
    }
}

/// A running liar; stopped (and its thread joined) by [`Liar::stop`] or on drop.
#[derive(Debug)]
pub struct Liar {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<Result<(), LabError>>>,
}

impl Liar {
    /// Starts lying in `lab`'s router namespace; returns once the liar listens.
    ///
    /// # Errors
    /// [`LabError::Netns`] when the thread cannot enter the namespace, open its packet
    /// socket or find the link.
    pub fn start(lab: &Lab, opts: LiarOptions) -> Result<Liar, LabError> {
        let ns = lab.router_ns().to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel::<Result<(), LabError>>();
        let (flag, count, name) = (Arc::clone(&stop), Arc::clone(&counters), ns.clone());
        let thread = std::thread::Builder::new()
            .name(format!("lab-liar-{ns}"))
            .spawn(move || run(&name, &opts, &flag, &count, &tx))
            .map_err(|source| LabError::Netns {
                namespace: ns.clone(),
                source,
            })?;
        let mut me = Liar {
            stop,
            counters,
            thread: Some(thread),
        };
        match rx.recv() {
            Ok(Ok(())) => Ok(me),
            Ok(Err(e)) => {
                let _ = me.stop();
                Err(e)
            }
            Err(_) => {
                let _ = me.stop();
                Err(LabError::Thread { namespace: ns })
            }
        }
    }

    /// What the liar has done so far.
    pub fn report(&self) -> LiarReport {
        self.counters.report()
    }

    /// Waits until the liar has read and answered everything queued for it: until its
    /// counters have not moved for `quiet`, or `limit` has passed; returns what it did.
    pub fn settle(&self, quiet: std::time::Duration, limit: std::time::Duration) -> LiarReport {
        let start = std::time::Instant::now();
        let mut last = self.report();
        let mut since = std::time::Instant::now();
        while start.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let now = self.report();
            if now != last {
                last = now;
                since = std::time::Instant::now();
            } else if since.elapsed() >= quiet {
                break;
            }
        }
        last
    }

    /// Stops the liar and returns what it did.
    ///
    /// # Errors
    /// The error that ended the liar's loop early, if any (a failed receive).
    pub fn stop(&mut self) -> Result<LiarReport, LabError> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(r) => r?,
                Err(_) => {
                    return Err(LabError::Thread {
                        namespace: "the liar's".to_owned(),
                    })
                }
            }
        }
        Ok(self.report())
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The packet socket on `s0`, bound and ready.
fn open_socket(ns: &str) -> Result<(OwnedFd, i32), LabError> {
    let err = |source| LabError::Netns {
        namespace: ns.to_owned(),
        source,
    };
    netns::enter(ns)?;
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ALL.to_be()),
        )
    };
    if raw < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let dev = c"s0";
    // SAFETY: a valid NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(dev.as_ptr()) };
    if ifindex == 0 {
        return Err(err(io::Error::last_os_error()));
    }
    let ifindex = i32::try_from(ifindex).map_err(|_| err(io::ErrorKind::InvalidData.into()))?;
    // SAFETY: an all-zero sockaddr_ll is valid; fields are set below.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: bind with a valid sockaddr_ll of the size given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(sll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        let size: libc::c_int = 8 << 20;
        // SAFETY: setsockopt with a valid int of the size given; failure only means a
        // smaller buffer.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                std::ptr::addr_of!(size).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    Ok((fd, ifindex))
}

fn run(
    ns: &str,
    opts: &LiarOptions,
    stop: &AtomicBool,
    counters: &Counters,
    ready: &mpsc::Sender<Result<(), LabError>>,
) -> Result<(), LabError> {
    let (fd, _ifindex) = match open_socket(ns) {
        Ok(s) => {
            let _ = ready.send(Ok(()));
            s
        }
        Err(e) => {
            let _ = ready.send(Err(LabError::Netns {
                namespace: ns.to_owned(),
                source: io::Error::other(e.to_string()),
            }));
            return Ok(());
        }
    };
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: one valid pollfd for the whole call.
        let rc = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
        if rc <= 0 {
            continue;
        }
        // Bounded: at most 4096 frames before the stop flag is read again.
        for _ in 0..4096 {
            // SAFETY: an all-zero sockaddr_ll is valid; recvfrom fills it.
            let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
            let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: recvfrom into a buffer of the length given, with a valid address.
            let n = unsafe {
                libc::recvfrom(
                    fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    std::ptr::addr_of_mut!(from).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted {
                    break;
                }
                return Err(LabError::Netns {
                    namespace: ns.to_owned(),
                    source: e,
                });
            }
            let frame = buf.get(..n.unsigned_abs()).unwrap_or(&[]);
            out.clear();
            if from.sll_pkttype == libc::PACKET_OUTGOING {
                duplicate(frame, opts, &mut out);
            } else if from.sll_pkttype == libc::PACKET_HOST {
                if let Some(p) = read_probe(frame) {
                    counters.probes.fetch_add(1, Ordering::Relaxed);
                    if opts.chosen(p.dst, p.dport) {
                        counters.lied_to.fetch_add(1, Ordering::Relaxed);
                        forge(&p, &mut out);
                    }
                }
            }
            for (lie, f) in &out {
                send(fd.as_raw_fd(), f, *lie, counters);
            }
        }
    }
    Ok(())
}

/// Sends one forged frame, after checking that it goes to the scanner and nowhere else.
fn send(fd: i32, frame: &[u8], lie: Lie, counters: &Counters) {
    if !to_scanner(frame) {
        // A bug of the liar; never put such a frame on the wire.
        counters.send_errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: send(2) of a buffer of the length given on our bound packet socket.
    let n = unsafe { libc::send(fd, frame.as_ptr().cast(), frame.len(), 0) };
    if n < 0 {
        counters.send_errors.fetch_add(1, Ordering::Relaxed);
    } else {
        counters.sent[lie.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a frame's IP destination is the scanner's lab address.
fn to_scanner(frame: &[u8]) -> bool {
    match (be16(frame, 12), frame.get(14..)) {
        (Some(ETH_IPV4), Some(ip)) => ip.get(16..20) == Some(&SCANNER_V4.octets()[..]),
        (Some(ETH_IPV6), Some(ip)) => ip.get(24..40) == Some(&SCANNER_V6.octets()[..]),
        _ => false,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// A probe from the scanner to a target, as the router saw it.
#[derive(Debug, Clone)]
struct Probe {
    /// The scanner's MAC (where forgeries go) and the router's (where they seem to come from).
    scanner_mac: [u8; 6],
    router_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    /// The probe's IP packet, for quoting.
    ip: Vec<u8>,
}

impl Probe {
    fn v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// What a true reply acknowledges: the sequence number plus SYN and FIN.
    fn good_ack(&self) -> u32 {
        self.seq
            .wrapping_add(u32::from(self.flags & SYN != 0))
            .wrapping_add(u32::from(self.flags & FIN != 0))
    }
}

/// The IP packet of a frame, its source and destination, its transport protocol and where
/// the transport header starts; no extension headers (monban's probes carry none).
fn ip_of(frame: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8], usize)> {
    let ip = frame.get(14..)?;
    match be16(frame, 12)? {
        ETH_IPV4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let ip = ip.get(..total)?;
            let src = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(12..16)?).ok()?);
            let dst = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(16..20)?).ok()?);
            if be16(ip, 6)? & 0x3fff != 0 {
                return None; // a fragment
            }
            Some((src.into(), dst.into(), *ip.get(9)?, ip, ihl))
        }
        ETH_IPV6 => {
            let total = 40 + usize::from(be16(ip, 4)?);
            let ip = ip.get(..total)?;
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(8..24)?).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(24..40)?).ok()?);
            Some((src.into(), dst.into(), *ip.get(6)?, ip, 40))
        }
        _ => None,
    }
}

fn is_target(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.octets()[..3] == [10, 77, 1] && a != crate::ROUTER_BRIDGE_V4,
        IpAddr::V6(a) => a.segments()[..4] == [0xfd77, 1, 0, 0] && a != crate::ROUTER_BRIDGE_V6,
    }
}

fn is_scanner(a: IpAddr) -> bool {
    a == IpAddr::V4(SCANNER_V4) || a == IpAddr::V6(SCANNER_V6)
}

fn read_probe(frame: &[u8]) -> Option<Probe> {
    let (src, dst, proto, ip, l4) = ip_of(frame)?;
    if !is_scanner(src) || !is_target(dst) || !(proto == TCP || proto == UDP) {
        return None;
    }
    let t = ip.get(l4..)?;
    let (seq, ack, flags) = if proto == TCP {
        (be32(t, 4)?, be32(t, 8)?, *t.get(13)?)
    } else {
        (0, 0, 0)
    };
    // The scanner's kernel answers forged SYN/ACKs with RSTs; those are no probes, and
    // lying to them would feed the liar its own lies.
    if flags & RST != 0 {
        return None;
    }
    Some(Probe {
        scanner_mac: frame.get(6..12)?.try_into().ok()?,
        router_mac: frame.get(..6)?.try_into().ok()?,
        src,
        dst,
        proto,
        sport: be16(t, 0)?,
        dport: be16(t, 2)?,
        seq,
        ack,
        flags,
        ip: ip.to_vec(),
    })
}

/// Nine more copies of a target's true answer to the scanner (with its transport checksum
/// completed: a forwarded packet may still carry the partial sum of checksum offload).
fn duplicate(frame: &[u8], opts: &LiarOptions, out: &mut Vec<(Lie, Vec<u8>)>) {
    let Some((src, dst, proto, ip, l4)) = ip_of(frame) else {
        return;
    };
    if !is_target(src) || !is_scanner(dst) || !(proto == TCP || proto == UDP) {
        return;
    }
    let Some(sport) = ip.get(l4..).and_then(|t| be16(t, 0)) else {
        return;
    };
    if !opts.chosen(src, sport) {
        return;
    }
    let mut seg = ip.get(l4..).unwrap_or(&[]).to_vec();
    let at = if proto == TCP { 16 } else { 6 };
    if seg.len() < at + 2 {
        return;
    }
    seg[at] = 0;
    seg[at + 1] = 0;
    let sum = l4_checksum(src, dst, proto, &seg);
    seg[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    let mut copy = frame.get(..14 + l4).unwrap_or(&[]).to_vec();
    copy.extend_from_slice(&seg);
    for _ in 0..9 {
        out.push((Lie::Duplicate, copy.clone()));
    }
}

/// The one's-complement sum of `data` added to `acc`.
fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The TCP, UDP or ICMPv6 checksum of `seg` (its checksum field zero) between `src` and
/// `dst`; ICMPv4 has no pseudo-header.
fn l4_checksum(src: IpAddr, dst: IpAddr, proto: u8, seg: &[u8]) -> u16 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) if proto != ICMP => {
            acc = sum(&s.octets(), acc);
            acc = sum(&d.octets(), acc);
            acc += u64::from(proto) + seg.len() as u64;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            acc = sum(&s.octets(), acc);
            acc = sum(&d.octets(), acc);
            acc += u64::from(proto) + seg.len() as u64;
        }
        _ => {}
    }
    let c = fold(sum(seg, acc));
    // UDP sends an all-ones checksum for a computed zero (zero means "none").
    if proto == UDP && c == 0 {
        0xffff
    } else {
        c
    }
}

/// The *partial* form of a TCP or UDP checksum field: the pseudo-header's sum alone, which
/// a sender on the same machine leaves for the network card and a virtual link delivers
/// as is. A scanner must take it (the lab's own targets send it), so a forged checksum
/// that happens to equal it is no defect.
fn partial_checksum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u16 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum(&s.octets(), acc);
            acc = sum(&d.octets(), acc);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            acc = sum(&s.octets(), acc);
            acc = sum(&d.octets(), acc);
        }
        _ => {}
    }
    !fold(acc + u64::from(proto) + len as u64)
}

/// Breaks the transport checksum at `field_at` of `ip` (a whole packet, its segment from
/// `l4_at` on): flipped bits, but never into a form a receiver must accept (the partial
/// form, or an IPv4 UDP zero), which a random flip reaches once in 65,536 packets.
fn break_l4_checksum(
    ip: &mut [u8],
    l4_at: usize,
    field_at: usize,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
) {
    let Some(&[hi, lo]) = ip.get(field_at..field_at + 2) else {
        return;
    };
    let good = u16::from_be_bytes([hi, lo]);
    let partial = partial_checksum(src, dst, proto, ip.len().saturating_sub(l4_at));
    let accepted = |v: u16| v == partial || (proto == UDP && src.is_ipv4() && v == 0);
    let bad = [0x1234u16, 0x4321, 0x0f0f]
        .into_iter()
        .map(|m| good ^ m)
        .find(|&v| !accepted(v))
        .unwrap_or(good ^ 0x1234);
    ip[field_at..field_at + 2].copy_from_slice(&bad.to_be_bytes());
}

/// A TCP segment with a correct checksum; `options` are padded to whole words with zeros
/// (end of options) unless they are already.
#[allow(clippy::too_many_arguments)]
fn tcp(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    options: &[u8],
) -> Vec<u8> {
    let mut opts = options.to_vec();
    while !opts.len().is_multiple_of(4) {
        opts.push(0);
    }
    let off = ((20 + opts.len()) / 4).min(15) as u8;
    let mut s = Vec::with_capacity(20 + opts.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.push(off << 4);
    s.push(flags);
    s.extend_from_slice(&29200u16.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]);
    s.extend_from_slice(&opts);
    let c = l4_checksum(src, dst, TCP, &s);
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let mut s = Vec::with_capacity(8 + payload.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&len.to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    let c = l4_checksum(src, dst, UDP, &s);
    s[6..8].copy_from_slice(&c.to_be_bytes());
    s
}

/// An ICMP error from `src` to `dst` quoting `quote`: admin-prohibited (v4 type 3 code 13,
/// v6 type 1 code 1) or port unreachable (v4 3/3, v6 1/4).
fn icmp_error(src: IpAddr, dst: IpAddr, port_unreach: bool, quote: &[u8]) -> (u8, Vec<u8>) {
    let (proto, ty, code) = match (src.is_ipv6(), port_unreach) {
        (false, false) => (ICMP, 3, 13),
        (false, true) => (ICMP, 3, 3),
        (true, false) => (ICMPV6, 1, 1),
        (true, true) => (ICMPV6, 1, 4),
    };
    let mut m = vec![ty, code, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(quote);
    let c = l4_checksum(src, dst, proto, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    (proto, m)
}

/// An IP header (no options, no extension headers) for `payload_len` bytes of `proto`.
fn ip_header(src: IpAddr, dst: IpAddr, proto: u8, payload_len: usize, id: u16) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + payload_len).unwrap_or(u16::MAX);
            let mut h = vec![0x45, 0];
            h.extend_from_slice(&total.to_be_bytes());
            h.extend_from_slice(&id.to_be_bytes());
            h.extend_from_slice(&[0, 0, 64, proto, 0, 0]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = fold(sum(&h, 0));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u16::try_from(payload_len).unwrap_or(u16::MAX);
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&len.to_be_bytes());
            h.extend_from_slice(&[proto, 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h
        }
        _ => Vec::new(),
    }
}

/// A complete IP packet.
fn packet(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = ip_header(src, dst, proto, l4.len(), 0x4c49);
    p.extend_from_slice(l4);
    p
}

/// An IPv4 header's checksum, recomputed after an edit.
fn refill_v4_checksum(p: &mut [u8]) {
    let ihl = usize::from(p.first().copied().unwrap_or(0x45) & 0x0f) * 4;
    if p.len() < ihl.max(20) {
        return;
    }
    p[10] = 0;
    p[11] = 0;
    let c = fold(sum(&p[..ihl], 0));
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Every forgery for one probe, in frames ready to send.
fn forge(p: &Probe, out: &mut Vec<(Lie, Vec<u8>)>) {
    let frame = |ip: Vec<u8>| -> Vec<u8> {
        let mut f = Vec::with_capacity(14 + ip.len());
        f.extend_from_slice(&p.scanner_mac);
        f.extend_from_slice(&p.router_mac);
        let ty = if p.v6() { ETH_IPV6 } else { ETH_IPV4 };
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(&ip);
        f
    };
    let mut push = |lie: Lie, ip: Vec<u8>| out.push((lie, frame(ip)));
    let (t, s) = (p.dst, p.src);
    let never = if p.v6() {
        IpAddr::V6(NEVER_PROBED_V6)
    } else {
        IpAddr::V4(NEVER_PROBED_V4)
    };
    let not_scanner = if p.v6() {
        IpAddr::V6(NOT_SCANNER_V6)
    } else {
        IpAddr::V4(NOT_SCANNER_V4)
    };
    let other_sport = p.sport.wrapping_add(16);
    // Deterministic "random" numbers from the probe itself.
    let noise = p.seq.rotate_left(13) ^ 0x5eed_1e55 ^ u32::from(p.dport);
    let good = p.good_ack();
    let bad = good.wrapping_add(1);

    if p.proto == UDP {
        forge_udp(p, &mut push, never, not_scanner, other_sport);
        return;
    }
    let seg = |sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, opts: &[u8]| {
        tcp(t, s, sport, dport, seq, ack, flags, opts)
    };
    let synack = |ack: u32| seg(p.dport, p.sport, noise, ack, SYN | ACK, &[2, 4, 5, 0xb4]);

    push(Lie::SynAckWrongAck, packet(t, s, TCP, &synack(bad)));
    let flipped = good ^ 0x0100_0000;
    push(
        Lie::RstWrongAck,
        packet(
            t,
            s,
            TCP,
            &seg(p.dport, p.sport, 0, flipped, RST | ACK, &[]),
        ),
    );
    let rst_seq = if p.flags & ACK != 0 {
        p.ack ^ 0x8000
    } else {
        noise
    };
    push(
        Lie::RstWrongSeq,
        packet(t, s, TCP, &seg(p.dport, p.sport, rst_seq, 0, RST, &[])),
    );
    for port in [0, p.dport ^ 0x4000] {
        let l4 = seg(port, p.sport, noise, good, SYN | ACK, &[]);
        push(Lie::UnprobedPort, packet(t, s, TCP, &l4));
        let l4 = seg(port, p.sport, 0, good, RST | ACK, &[]);
        push(Lie::UnprobedPort, packet(t, s, TCP, &l4));
    }
    let l4 = tcp(never, s, p.dport, p.sport, noise, good, SYN | ACK, &[]);
    push(Lie::UnprobedAddr, packet(never, s, TCP, &l4));
    let l4 = tcp(never, s, p.dport, p.sport, 0, good, RST | ACK, &[]);
    push(Lie::UnprobedAddr, packet(never, s, TCP, &l4));
    push(
        Lie::WrongDstPort,
        packet(
            t,
            s,
            TCP,
            &seg(p.dport, other_sport, noise, good, SYN | ACK, &[]),
        ),
    );

    // Perfect SYN/ACKs but for one broken field.
    let perfect = packet(t, s, TCP, &synack(good));
    let l4_at = if p.v6() { 40 } else { 20 };
    forge_broken(&perfect, l4_at, TCP, p, &mut push);

    // Oversized: as large as the link takes, wrong acknowledgement number.
    let opts: Vec<u8> = [8u8, 10].iter().copied().chain([0x41; 38]).collect();
    let mut big = tcp(t, s, p.dport, p.sport, noise, bad, SYN | ACK, &opts);
    big.extend(std::iter::repeat_n(0xa5, 1380));
    let c = {
        big[16] = 0;
        big[17] = 0;
        l4_checksum(t, s, TCP, &big)
    };
    big[16..18].copy_from_slice(&c.to_be_bytes());
    if p.v6() {
        push(Lie::Oversized, packet(t, s, TCP, &big));
    } else {
        let mut h = vec![0x4f, 0];
        h.extend_from_slice(&u16::try_from(60 + big.len()).unwrap_or(0).to_be_bytes());
        h.extend_from_slice(&[0x4c, 0x49, 0, 0, 64, TCP, 0, 0]);
        if let (IpAddr::V4(a), IpAddr::V4(b)) = (t, s) {
            h.extend_from_slice(&a.octets());
            h.extend_from_slice(&b.octets());
        }
        h.extend_from_slice(&[1; 40]);
        h.extend_from_slice(&big);
        refill_v4_checksum(&mut h);
        push(Lie::Oversized, h);
    }

    // Absurd options.
    for opts in [
        &[2u8, 0, 5, 0xb4][..],
        &[3, 1, 1, 1][..],
        &[1, 1, 8, 40, 0, 0, 0, 0][..],
    ] {
        let l4 = seg(p.dport, p.sport, noise, bad, SYN | ACK, opts);
        push(Lie::AbsurdOptions, packet(t, s, TCP, &l4));
    }

    // ICMP errors quoting what the scanner never sent.
    let probe_l4 = p.ip.get(l4_at..).unwrap_or(&[]);
    let quote_tcp = |src: IpAddr, dst: IpAddr, seq: u32| {
        let mut q = ip_header(src, dst, TCP, probe_l4.len(), 0);
        let mut t = probe_l4.to_vec();
        if t.len() >= 8 {
            t[4..8].copy_from_slice(&seq.to_be_bytes());
        }
        q.extend_from_slice(&t);
        q
    };
    let quotes = [
        quote_tcp(s, t, p.seq.wrapping_add(0x4000_0000)),
        quote_tcp(s, never, p.seq),
        quote_tcp(not_scanner, t, p.seq),
        {
            let u = udp(s, t, p.sport, p.dport, &[]);
            let mut q = ip_header(s, t, UDP, u.len(), 0);
            q.extend_from_slice(&u);
            q
        },
    ];
    for q in quotes {
        let (proto, m) = icmp_error(t, s, false, &q);
        push(Lie::IcmpUnsent, packet(t, s, proto, &m));
    }
    let short = p.ip.get(..l4_at + 4).unwrap_or(&[]);
    let (proto, m) = icmp_error(t, s, false, short);
    push(Lie::IcmpShortQuote, packet(t, s, proto, &m));

    // Amplified.
    let rst = packet(t, s, TCP, &seg(p.dport, p.sport, 0, bad, RST | ACK, &[]));
    for _ in 0..10 {
        push(Lie::Amplified, rst.clone());
    }

    if p.v6() {
        forge_chains(p, noise, good, bad, &mut push);
    }
    let wrong = synack(bad);
    forge_fragments(t, s, TCP, &wrong, &mut push);
}

/// A perfect answer to `p` (its transport header at `l4_at`) broken one field at a time:
/// the IPv4 header checksum, the transport checksum, then the truncations.
fn forge_broken(
    perfect: &[u8],
    l4_at: usize,
    proto: u8,
    p: &Probe,
    push: &mut impl FnMut(Lie, Vec<u8>),
) {
    if !p.v6() {
        let mut b = perfect.to_vec();
        b[10] ^= 0x5a;
        push(Lie::BadIpChecksum, b);
    }
    let field_at = l4_at + if proto == TCP { 16 } else { 6 };
    let mut b = perfect.to_vec();
    break_l4_checksum(&mut b, l4_at, field_at, p.dst, p.src, proto);
    push(Lie::BadL4Checksum, b);
    forge_truncated(perfect, l4_at, p.v6(), push);
}

/// The four truncations of a perfect packet (its transport header at `l4_at`).
fn forge_truncated(perfect: &[u8], l4_at: usize, v6: bool, push: &mut impl FnMut(Lie, Vec<u8>)) {
    let set_len = |p: &mut Vec<u8>, n: usize| {
        if v6 {
            let v = u16::try_from(n.saturating_sub(40)).unwrap_or(u16::MAX);
            p[4..6].copy_from_slice(&v.to_be_bytes());
        } else {
            let v = u16::try_from(n).unwrap_or(u16::MAX);
            p[2..4].copy_from_slice(&v.to_be_bytes());
            refill_v4_checksum(p);
        }
    };
    // A transport header cut at 12 bytes, the IP length saying so.
    let mut a = perfect.get(..l4_at + 12).unwrap_or(&[]).to_vec();
    let n = a.len();
    set_len(&mut a, n);
    push(Lie::Truncated, a);
    // An IP length 20 bytes longer than the frame.
    let mut b = perfect.to_vec();
    let n = b.len() + 20;
    set_len(&mut b, n);
    push(Lie::Truncated, b);
    // The transport header says it is longer than the segment (TCP data offset 15; UDP
    // length 200).
    let mut c = perfect.to_vec();
    if perfect.get(if v6 { 6 } else { 9 }) == Some(&TCP) {
        c[l4_at + 12] = 0xf0;
    } else {
        c[l4_at + 4..l4_at + 6].copy_from_slice(&200u16.to_be_bytes());
    }
    push(Lie::Truncated, c);
    // The IP header says it is longer than the packet.
    let mut d = perfect.to_vec();
    if v6 {
        let n = d.len() + 4000;
        set_len(&mut d, n);
    } else {
        let n = 40;
        d[0] = 0x4f;
        d.truncate(n);
        set_len(&mut d, n);
    }
    push(Lie::Truncated, d);
}

/// IPv6 extension-header chains in front of TCP segments.
fn forge_chains(p: &Probe, noise: u32, good: u32, bad: u32, push: &mut impl FnMut(Lie, Vec<u8>)) {
    const HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const DSTOPT: u8 = 60;
    let (t, s) = (p.dst, p.src);
    let synack = |ack: u32| tcp(t, s, p.dport, p.sport, noise, ack, SYN | ACK, &[]);
    // One 8-byte header of `kind` followed by `next` (PadN fills options headers; a
    // routing header of type 4 with no segments left).
    let ext = |kind: u8, next: u8| -> Vec<u8> {
        if kind == ROUTING {
            vec![next, 0, 4, 0, 0, 0, 0, 0]
        } else {
            vec![next, 0, 1, 4, 0, 0, 0, 0]
        }
    };
    let chain = |kinds: &[u8], l4: &[u8]| -> Vec<u8> {
        let mut body = Vec::new();
        for (i, &k) in kinds.iter().enumerate() {
            let next = kinds.get(i + 1).copied().unwrap_or(TCP);
            body.extend(ext(k, next));
        }
        body.extend_from_slice(l4);
        let first = kinds.first().copied().unwrap_or(TCP);
        let mut ip = ip_header(t, s, first, body.len(), 0);
        ip.extend(body);
        ip
    };
    push(
        Lie::ExtensionChain,
        chain(&[HOP, DSTOPT, ROUTING, DSTOPT], &synack(bad)),
    );
    push(Lie::ExtensionChain, chain(&[DSTOPT; 12], &synack(bad)));
    // A destination-options header claiming 2048 bytes in front of a perfect SYN/ACK.
    let mut broken = chain(&[DSTOPT], &synack(good));
    broken[41] = 255;
    push(Lie::ExtensionChain, broken);
}

/// A transport segment `l4` in two fragments, the first holding its first 8 bytes.
fn forge_fragments(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    l4: &[u8],
    push: &mut impl FnMut(Lie, Vec<u8>),
) {
    let (head, tail) = l4.split_at(8.min(l4.len()));
    let id: u16 = 0x4c49;
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            for (off, more, part) in [(0u16, true, head), (1, false, tail)] {
                let mut f = ip_header(src, dst, proto, part.len(), id);
                let v = (u16::from(more) << 13) | off;
                f[6..8].copy_from_slice(&v.to_be_bytes());
                refill_v4_checksum(&mut f);
                f.extend_from_slice(part);
                push(Lie::Fragmented, f);
            }
        }
        _ => {
            for (off, more, part) in [(0u16, true, head), (1, false, tail)] {
                let mut body = vec![proto, 0];
                body.extend_from_slice(&((off << 3) | u16::from(more)).to_be_bytes());
                body.extend_from_slice(&u32::from(id).to_be_bytes());
                body.extend_from_slice(part);
                let mut f = ip_header(src, dst, 44, body.len(), 0);
                f.extend(body);
                push(Lie::Fragmented, f);
            }
        }
    }
}

/// The lies about a UDP probe.
fn forge_udp(
    p: &Probe,
    push: &mut impl FnMut(Lie, Vec<u8>),
    never: IpAddr,
    not_scanner: IpAddr,
    other_sport: u16,
) {
    let (t, s) = (p.dst, p.src);
    let body = b"liar says open";
    let l4 = udp(never, s, p.dport, p.sport, body);
    push(Lie::UnprobedAddr, packet(never, s, UDP, &l4));
    let wrong = udp(t, s, p.dport, other_sport, body);
    push(Lie::WrongDstPort, packet(t, s, UDP, &wrong));
    let perfect = packet(t, s, UDP, &udp(t, s, p.dport, p.sport, body));
    let l4_at = if p.v6() { 40 } else { 20 };
    forge_broken(&perfect, l4_at, UDP, p, push);

    let probe_l4 = p.ip.get(l4_at..).unwrap_or(&[]);
    let quote = |src: IpAddr, dst: IpAddr, proto: u8, sport: u16| {
        let mut l = probe_l4.to_vec();
        if l.len() >= 2 {
            l[..2].copy_from_slice(&sport.to_be_bytes());
        }
        let mut q = ip_header(src, dst, proto, l.len(), 0);
        q.extend(l);
        q
    };
    let quotes = [
        quote(s, t, UDP, other_sport),
        quote(s, never, UDP, p.sport),
        quote(not_scanner, t, UDP, p.sport),
        quote(s, t, TCP, p.sport),
    ];
    for q in &quotes {
        let (proto, m) = icmp_error(t, s, true, q);
        push(Lie::IcmpUnsent, packet(t, s, proto, &m));
    }
    let (proto, m) = icmp_error(t, s, true, &quotes[0]);
    let amp = packet(t, s, proto, &m);
    for _ in 0..10 {
        push(Lie::Amplified, amp.clone());
    }
    forge_fragments(t, s, UDP, &wrong, push);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(v6: bool, proto: u8) -> Probe {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (SCANNER_V6.into(), "fd77:1::10".parse().unwrap())
        } else {
            (SCANNER_V4.into(), Ipv4Addr::new(10, 77, 1, 10).into())
        };
        let l4 = if proto == TCP {
            tcp(src, dst, 40000, 80, 0x1234_5678, 0, SYN, &[2, 4, 5, 0xb4])
        } else {
            udp(src, dst, 40000, 53, b"q")
        };
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&(if v6 { ETH_IPV6 } else { ETH_IPV4 }).to_be_bytes());
        f.extend(packet(src, dst, proto, &l4));
        read_probe(&f).expect("a probe")
    }

    #[test]
    fn checksums_verify() {
        let p = probe(false, TCP);
        let ip = &p.ip;
        assert_eq!(fold(sum(&ip[..20], 0)), 0, "IPv4 header sums to zero");
        let seg = &ip[20..];
        let mut acc = sum(&SCANNER_V4.octets(), 0);
        acc = sum(&[10, 77, 1, 10], acc);
        acc += u64::from(TCP) + seg.len() as u64;
        assert_eq!(fold(sum(seg, acc)), 0, "TCP segment sums to zero");
    }

    #[test]
    fn a_broken_checksum_never_lands_on_a_form_receivers_accept() {
        for (v6, proto) in [(false, TCP), (true, TCP), (false, UDP), (true, UDP)] {
            let p = probe(v6, proto);
            let (src, dst) = (p.src, p.dst);
            let l4_at = if v6 { 40 } else { 20 };
            let field_at = l4_at + if proto == TCP { 16 } else { 6 };
            let len = p.ip.len() - l4_at;
            let partial = partial_checksum(src, dst, proto, len);
            // The same form monban reads (the pseudo-header's sum alone).
            let wire = monban_wire::checksum::pseudo_header(src, dst, proto, len as u32).unwrap();
            assert_eq!(partial, wire);
            // A packet whose first flip would land on the partial form gets another.
            let mut ip = p.ip.clone();
            ip[field_at..field_at + 2].copy_from_slice(&(partial ^ 0x1234).to_be_bytes());
            break_l4_checksum(&mut ip, l4_at, field_at, src, dst, proto);
            let got = u16::from_be_bytes([ip[field_at], ip[field_at + 1]]);
            assert_ne!(got, partial);
            assert_ne!(got, partial ^ 0x1234);
            // Otherwise it is broken and monban's own check says so.
            let mut ip = p.ip.clone();
            break_l4_checksum(&mut ip, l4_at, field_at, src, dst, proto);
            assert!(!monban_wire::checksums_ok(&ip), "{v6} {proto}");
            assert!(monban_wire::checksums_ok(&p.ip), "{v6} {proto}");
        }
    }

    #[test]
    fn every_forgery_goes_to_the_scanner_and_every_kind_is_made() {
        let mut seen = std::collections::BTreeSet::new();
        for v6 in [false, true] {
            for proto in [TCP, UDP] {
                let p = probe(v6, proto);
                assert_eq!(p.good_ack(), 0x1234_5679_u32 * u32::from(proto == TCP));
                let mut out = Vec::new();
                forge(&p, &mut out);
                assert!(!out.is_empty());
                for (lie, f) in &out {
                    assert!(to_scanner(f), "{lie:?} {v6} {proto}");
                    assert_eq!(&f[..6], &p.scanner_mac);
                    assert!(f.len() <= 14 + 1500, "{lie:?} fits the link: {}", f.len());
                    seen.insert(*lie);
                }
            }
        }
        for lie in Lie::ALL {
            assert!(
                seen.contains(&lie) || lie == Lie::Duplicate,
                "{lie:?} never made"
            );
        }
    }

    #[test]
    fn focus_and_every_choose_ports() {
        let t = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 10));
        let hostile = IpAddr::V4(HOSTILE_V4);
        let o = LiarOptions {
            every: 100,
            focus: vec![22, 80],
            every_port_of: vec![hostile],
        };
        assert!(o.chosen(t, 22) && o.chosen(t, 80) && o.chosen(t, 200) && o.chosen(t, 0));
        assert!(!o.chosen(t, 23) && !o.chosen(t, 199));
        assert!(o.chosen(hostile, 23) && o.chosen(hostile, 199));
        let none = LiarOptions {
            every: 0,
            focus: vec![],
            every_port_of: vec![],
        };
        assert!(!none.chosen(t, 0) && !none.chosen(t, 100));
    }
}
