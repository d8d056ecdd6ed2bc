//! Live packet capture for `monban detect -i IFACE`.
//!
//! [`LiveCapture::open`] makes one `AF_PACKET` socket bound to an interface (or to all of
//! them with [`ANY_INTERFACE`]) and hands every IPv4 and IPv6 packet it sees, in both
//! directions, to [`LiveCapture::next_batch`]:
//!
//! - **Cooked (`SOCK_DGRAM`) frames.** The kernel strips the link-layer header, so every
//!   packet starts at its IP header whatever the interface: Ethernet, loopback, tun,
//!   WireGuard, or all of them at once with `any`. The link header carries nothing the
//!   detector needs; the network protocol comes from the kernel instead.
//! - **A kernel filter.** A classic BPF program checks the packet's protocol with the
//!   ancillary load `SKF_AD_PROTOCOL` and keeps only IPv4 and IPv6, cut to the snap
//!   length ([`CaptureOptions::snaplen`]). ARP and everything else never reach user
//!   space. VLAN-tagged frames on a device without VLAN offload carry protocol 0x8100 and
//!   are dropped: capture on the VLAN interface instead.
//! - **A `TPACKET_V3` ring.** `PACKET_RX_RING` maps blocks of packets shared with the
//!   kernel: no copy and no system call per packet, one `poll` per block at most. The
//!   kernel fills a block and hands it over when it is full or when
//!   [`CaptureOptions::block_timeout`] has passed since it was opened, so a packet reaches
//!   user space at most that long after it was captured. Each packet carries the
//!   kernel's timestamp (`CLOCK_REALTIME`, nanoseconds). `TPACKET_V3` is in every kernel
//!   Rust supports (Linux 3.2 and later), so there is no `recvmmsg` fallback.
//!
//! Outgoing packets are kept (no `PACKET_IGNORE_OUTGOING`): a victim's replies are
//! evidence. Nothing is deduplicated: on `lo` every packet is seen twice (once outgoing,
//! once incoming), and with `any` a packet crossing a veth pair or a bridge is seen on
//! each interface it crosses. [`CapturedPacket::outgoing`] and
//! [`CapturedPacket::ifindex`] tell the copies apart. With GRO/TSO the kernel may hand
//! over several TCP segments as one large packet ([`CapturedPacket::orig_len`] above the
//! MTU); SYNs and RSTs are never merged.
//!
//! Every field of the ring read from the kernel is bounds-checked against its block
//! before use; entries that fail are skipped and counted in [`CaptureStats::malformed`].
//! Nothing here panics on what the kernel writes, and nothing prints.

use std::io;
use std::mem::{self, offset_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys::{self, cvt, setsockopt};
use crate::NetError;

/// The interface name that captures on every interface of the namespace.
pub const ANY_INTERFACE: &str = "any";
/// Default bytes kept of each packet, from its IP header on.
pub const DEFAULT_SNAPLEN: u32 = 256;
/// Smallest accepted snap length (an IPv6 header with a TCP header); smaller requests
/// are raised to it.
pub const MIN_SNAPLEN: u32 = 64;
/// Largest accepted snap length (the largest IP packet); larger requests are lowered.
pub const MAX_SNAPLEN: u32 = 65535;
/// Default size of the ring shared with the kernel.
pub const DEFAULT_RING_BYTES: usize = 8 << 20;
/// Default longest time a packet waits in a partly filled block.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_millis(20);

/// Smallest ring block (a power of two, so the kernel allocates it without waste).
const MIN_BLOCK: usize = 128 << 10;
/// Fewest blocks in a ring: the kernel fills one while user space reads others.
const MIN_BLOCKS: usize = 4;
/// Largest ring accepted.
const MAX_RING_BYTES: usize = 1 << 30;
/// `TPACKET_ALIGNMENT` (linux/if_packet.h).
const ALIGN: usize = 16;

const fn align16(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// Where the kernel puts the `sockaddr_ll` of a packet: after its `tpacket3_hdr`.
const SLL_OFFSET: usize = align16(mem::size_of::<libc::tpacket3_hdr>());
/// End of the per-packet headers; packet data never starts before it.
const HDRS_END: usize = SLL_OFFSET + mem::size_of::<libc::sockaddr_ll>();
/// Where a cooked packet's data starts in its frame (`TPACKET_ALIGN(tp_hdrlen) + 16`).
const NET_OFFSET: usize = align16(libc::TPACKET3_HDRLEN) + 16;

// The block descriptor: `tpacket_block_desc` with its `tpacket_hdr_v1`.
const BLOCK_HDR: usize = offset_of!(libc::tpacket_block_desc, hdr);
const BLOCK_STATUS: usize = BLOCK_HDR + offset_of!(libc::tpacket_hdr_v1, block_status);
const BLOCK_NUM_PKTS: usize = BLOCK_HDR + offset_of!(libc::tpacket_hdr_v1, num_pkts);
const BLOCK_FIRST: usize = BLOCK_HDR + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
const BLOCK_LEN: usize = BLOCK_HDR + offset_of!(libc::tpacket_hdr_v1, blk_len);
const BLOCK_SEQ: usize = BLOCK_HDR + offset_of!(libc::tpacket_hdr_v1, seq_num);
const BLOCK_DESC_LEN: usize = mem::size_of::<libc::tpacket_block_desc>();

// A packet's `tpacket3_hdr` and `sockaddr_ll`, relative to the packet's offset.
const PKT_NEXT: usize = offset_of!(libc::tpacket3_hdr, tp_next_offset);
const PKT_SEC: usize = offset_of!(libc::tpacket3_hdr, tp_sec);
const PKT_NSEC: usize = offset_of!(libc::tpacket3_hdr, tp_nsec);
const PKT_SNAPLEN: usize = offset_of!(libc::tpacket3_hdr, tp_snaplen);
const PKT_LEN: usize = offset_of!(libc::tpacket3_hdr, tp_len);
const PKT_NET: usize = offset_of!(libc::tpacket3_hdr, tp_net);
const SLL_IFINDEX: usize = SLL_OFFSET + offset_of!(libc::sockaddr_ll, sll_ifindex);
const SLL_PKTTYPE: usize = SLL_OFFSET + offset_of!(libc::sockaddr_ll, sll_pkttype);

/// How to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Bytes kept of each packet from its IP header on (default [`DEFAULT_SNAPLEN`],
    /// clamped to [`MIN_SNAPLEN`]..=[`MAX_SNAPLEN`]).
    pub snaplen: u32,
    /// Size of the ring shared with the kernel (default [`DEFAULT_RING_BYTES`]): how large
    /// a burst is absorbed while user space is busy. Rounded to whole blocks (at least
    /// 4 of 128 KiB), at most 1 GiB.
    pub ring_bytes: usize,
    /// Longest time a packet waits in a partly filled block before the kernel hands the
    /// block over (default [`DEFAULT_BLOCK_TIMEOUT`]; whole milliseconds, at least 1).
    pub block_timeout: Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            snaplen: DEFAULT_SNAPLEN,
            ring_bytes: DEFAULT_RING_BYTES,
            block_timeout: DEFAULT_BLOCK_TIMEOUT,
        }
    }
}

/// One captured packet, borrowed from the ring until the callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapturedPacket<'a> {
    /// When the kernel captured it: nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
    pub ts_nanos: u64,
    /// The packet from its IP header on, at most the snap length.
    pub data: &'a [u8],
    /// The packet's whole length from its IP header on (`data` may be shorter).
    pub orig_len: u32,
    /// Sent by this machine (`PACKET_OUTGOING`) rather than received.
    pub outgoing: bool,
    /// Index of the interface it was seen on (useful with [`ANY_INTERFACE`]).
    pub ifindex: i32,
}

/// Counters of a capture, cumulative since [`LiveCapture::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets that passed the kernel filter, including those dropped (`tp_packets`).
    pub packets: u64,
    /// Packets that passed the filter but were lost because the ring was full
    /// (`tp_drops`).
    pub drops: u64,
    /// Times the kernel found the ring full and froze it until a block was handed back
    /// (`tp_freeze_q_cnt`).
    pub queue_freezes: u64,
    /// Ring entries skipped because a header field pointed outside its block (never
    /// expected from a sound kernel).
    pub malformed: u64,
}

/// The ring shared with the kernel: `block_nr` blocks of `block_size` bytes.
struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    block_nr: usize,
}

impl Ring {
    fn len(&self) -> usize {
        self.block_size * self.block_nr
    }

    /// The status word of block `i` (`i < block_nr`).
    fn status(&self, i: usize) -> &AtomicU32 {
        debug_assert!(i < self.block_nr);
        // SAFETY: block `i` lies inside the mapping (i < block_nr), which lives as long as
        // `self`; the block starts on a page boundary and BLOCK_STATUS is a multiple of 4,
        // so the word is aligned. The kernel and this process only ever access the word
        // atomically (the kernel with barriers around plain stores, per the ring
        // protocol).
        unsafe {
            AtomicU32::from_ptr(
                self.base
                    .as_ptr()
                    .add(i * self.block_size + BLOCK_STATUS)
                    .cast::<u32>(),
            )
        }
    }

    /// Whether the kernel has handed block `i` to user space.
    fn user_owns(&self, i: usize) -> bool {
        self.status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Block `i`'s bytes; only while user space owns it.
    fn block(&self, i: usize) -> &[u8] {
        debug_assert!(i < self.block_nr && self.user_owns(i));
        // SAFETY: block `i` lies inside the mapping, which lives as long as `self`. The
        // caller checked that user space owns the block: the kernel does not write to it
        // until `release` hands it back, and `release` takes `&mut self`, so this shared
        // view has ended by then.
        unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(i * self.block_size), self.block_size)
        }
    }

    /// Hands block `i` back to the kernel.
    fn release(&mut self, i: usize) {
        self.status(i)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: base and len are those of the mapping made in `open`; no reference into
        // it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len()) };
    }
}

/// A live capture on one interface or on all of them; see the module documentation.
pub struct LiveCapture {
    // Unmapped before the socket closes.
    ring: Ring,
    fd: OwnedFd,
    iface: String,
    ifindex: i32,
    snaplen: u32,
    /// The next block to read, in the kernel's fill order.
    next_block: usize,
    totals: CaptureStats,
}

// SAFETY: the ring mapping is owned by this value alone and only touched through it (the
// kernel's side is synchronised by the block status words), so moving it to another
// thread is sound.
unsafe impl Send for LiveCapture {}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("interface", &self.iface)
            .field("ifindex", &self.ifindex)
            .field("snaplen", &self.snaplen)
            .field("block_size", &self.ring.block_size)
            .field("block_nr", &self.ring.block_nr)
            .finish()
    }
}

/// Ring geometry for a snap length and a requested ring size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    block_size: usize,
    block_nr: usize,
    frame_size: usize,
}

fn geometry(snaplen: u32, ring_bytes: usize, page: usize) -> Geometry {
    let frame_size = align16(NET_OFFSET + snaplen as usize);
    let block_size = (BLOCK_DESC_LEN + frame_size)
        .next_power_of_two()
        .max(MIN_BLOCK)
        .max(page.next_power_of_two());
    let block_nr = (ring_bytes.min(MAX_RING_BYTES) / block_size).max(MIN_BLOCKS);
    Geometry {
        block_size,
        block_nr,
        frame_size,
    }
}

/// Maps an OS error to [`NetError`]: missing privileges get their own message.
fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> NetError {
    move |source| {
        if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
            NetError::NeedCapturePrivilege
        } else {
            NetError::Io { what, source }
        }
    }
}

/// The kernel filter: IPv4 and IPv6 pass, cut to `snaplen`; everything else is dropped.
fn ip_only_filter(snaplen: u32) -> [libc::sock_filter; 5] {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    [
        // A = the packet's protocol (host order), from the socket buffer.
        op(
            libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
            0,
            0,
            (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32,
        ),
        op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            1,
            0,
            libc::ETH_P_IP as u32,
        ),
        op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            0,
            1,
            libc::ETH_P_IPV6 as u32,
        ),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, snaplen),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
    ]
}

/// Resolves an interface name to the index to bind to (0 for [`ANY_INTERFACE`]).
fn resolve(iface: &str) -> Result<i32, NetError> {
    if iface == ANY_INTERFACE {
        return Ok(0);
    }
    if iface.is_empty() || iface.len() >= libc::IFNAMSIZ {
        return Err(NetError::NoCaptureInterface(iface.to_owned()));
    }
    sys::if_index(iface).ok_or_else(|| NetError::NoCaptureInterface(iface.to_owned()))
}

/// What one wait for the socket found.
enum Wait {
    /// Something to read (a block may be ready).
    Readable,
    /// Nothing before the timeout, or a signal arrived.
    Nothing,
    /// Only a socket error, now dealt with: wait on.
    Again,
}

impl LiveCapture {
    /// Opens a capture on `iface` (an interface name, or [`ANY_INTERFACE`] for all
    /// interfaces of the current network namespace).
    ///
    /// An interface that is down can be opened: nothing arrives until it comes up.
    ///
    /// # Errors
    /// [`NetError::NoCaptureInterface`] when no interface has that name;
    /// [`NetError::NeedCapturePrivilege`] without CAP_NET_RAW;
    /// [`NetError::CaptureRing`] when the kernel cannot allocate or map the ring;
    /// [`NetError::Io`] when another step fails (e.g. no `AF_PACKET` support).
    pub fn open(iface: &str, opts: &CaptureOptions) -> Result<LiveCapture, NetError> {
        let ifindex = resolve(iface)?;
        let snaplen = opts.snaplen.clamp(MIN_SNAPLEN, MAX_SNAPLEN);
        // SAFETY: plain syscall with constant arguments.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page).unwrap_or(4096).max(4096);
        let geo = geometry(snaplen, opts.ring_bytes, page);

        // Protocol 0: nothing is queued before bind() names the protocol and interface,
        // by which time the filter and the ring are in place.
        // SAFETY: plain syscall with constant arguments.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })
        .map_err(io_err("opening an AF_PACKET socket"))?;
        // SAFETY: fd was just returned by socket() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();

        let filter = ip_only_filter(snaplen);
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
            .map_err(io_err("attaching the capture filter"))?;

        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(io_err("selecting TPACKET_V3"))?;

        let ring_err = |source: io::Error| match source.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => NetError::NeedCapturePrivilege,
            _ => NetError::CaptureRing {
                bytes: geo.block_size * geo.block_nr,
                source,
            },
        };
        let too_big = || {
            ring_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring geometry out of range",
            ))
        };
        let frames_per_block = geo.block_size / geo.frame_size;
        let req = libc::tpacket_req3 {
            tp_block_size: u32::try_from(geo.block_size).map_err(|_| too_big())?,
            tp_block_nr: u32::try_from(geo.block_nr).map_err(|_| too_big())?,
            tp_frame_size: u32::try_from(geo.frame_size).map_err(|_| too_big())?,
            tp_frame_nr: u32::try_from(frames_per_block * geo.block_nr).map_err(|_| too_big())?,
            tp_retire_blk_tov: u32::try_from(opts.block_timeout.as_millis())
                .unwrap_or(u32::MAX)
                .max(1),
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &req).map_err(ring_err)?;

        let len = geo.block_size * geo.block_nr;
        // SAFETY: maps the ring the kernel just allocated for this socket; the length is
        // the ring's size. The mapping is unmapped by `Ring::drop`.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(ring_err(io::Error::last_os_error()));
        }
        let Some(base) = NonNull::new(base.cast::<u8>()) else {
            return Err(ring_err(io::Error::other("mmap returned null")));
        };
        let ring = Ring {
            base,
            block_size: geo.block_size,
            block_nr: geo.block_nr,
        };

        // SAFETY: an all-zero sockaddr_ll is a valid value; we set the fields bind() reads.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: pointer and size of a live sockaddr_ll.
        let bound = cvt(unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        });
        if let Err(e) = bound {
            // The interface vanished between the lookup and the bind.
            if e.raw_os_error() == Some(libc::ENODEV) {
                return Err(NetError::NoCaptureInterface(iface.to_owned()));
            }
            return Err(io_err("binding the capture socket to the interface")(e));
        }
        Ok(LiveCapture {
            ring,
            fd,
            iface: iface.to_owned(),
            ifindex,
            snaplen,
            next_block: 0,
            totals: CaptureStats::default(),
        })
    }

    /// The interface name given to [`LiveCapture::open`].
    pub fn interface(&self) -> &str {
        &self.iface
    }

    /// The interface index the socket is bound to (0 for [`ANY_INTERFACE`]).
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// The snap length in effect (after clamping).
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Calls `f` for each packet available, oldest first, waiting at most `timeout` for
    /// the first; returns how many were delivered. Returns 0 after `timeout` without
    /// packets, or earlier when a signal interrupts the wait, so that the caller can check
    /// its own stop flag. At most one ring's worth of blocks is read per call.
    ///
    /// A packet becomes available when the kernel hands over its block: when the block
    /// is full or [`CaptureOptions::block_timeout`] after it was opened.
    ///
    /// While the interface is down the call just waits (capture resumes when it comes
    /// back up).
    ///
    /// # Errors
    /// [`NetError::CaptureInterfaceGone`] when the interface was deleted (noticed at the
    /// latest when a wait ends without packets);
    /// [`NetError::Io`] when waiting on the socket fails.
    pub fn next_batch(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(CapturedPacket<'_>),
    ) -> Result<usize, NetError> {
        let start = Instant::now();
        let mut delivered = 0;
        let mut blocks = 0;
        loop {
            if self.ring.user_owns(self.next_block) {
                delivered += self.take_block(f);
                blocks += 1;
                if blocks >= self.ring.block_nr {
                    return Ok(delivered);
                }
                continue;
            }
            if blocks > 0 {
                return Ok(delivered);
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(0);
            }
            match self.wait(left)? {
                Wait::Nothing => {
                    // A deleted interface sends no error if it was down first: look.
                    self.check_present()?;
                    return Ok(0);
                }
                Wait::Again => {}
                Wait::Readable => {
                    if !self.ring.user_owns(self.next_block) && !self.resync() {
                        // Readable without a ready block: let the caller come back
                        // rather than spin.
                        return Ok(0);
                    }
                }
            }
        }
    }

    /// The capture's counters, cumulative since [`LiveCapture::open`].
    ///
    /// # Errors
    /// [`NetError::Io`] when the kernel's counters cannot be read.
    pub fn stats(&mut self) -> Result<CaptureStats, NetError> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: pointer and size of a live tpacket_stats_v3.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        })
        .map_err(io_err("reading the capture statistics (PACKET_STATISTICS)"))?;
        // The kernel resets its counters on every read; keep the totals here.
        self.totals.packets += u64::from(st.tp_packets);
        self.totals.drops += u64::from(st.tp_drops);
        self.totals.queue_freezes += u64::from(st.tp_freeze_q_cnt);
        Ok(self.totals)
    }

    /// Delivers the packets of the next block and hands the block back.
    fn take_block(&mut self, f: &mut dyn FnMut(CapturedPacket<'_>)) -> usize {
        let i = self.next_block;
        let walk = walk_block(self.ring.block(i), f);
        self.totals.malformed += walk.malformed;
        self.ring.release(i);
        self.next_block = (i + 1) % self.ring.block_nr;
        walk.delivered
    }

    /// Points `next_block` at the oldest block user space owns, if any (never needed
    /// while we follow the kernel's order; a safety net against spinning).
    fn resync(&mut self) -> bool {
        let oldest = (0..self.ring.block_nr)
            .filter(|&i| self.ring.user_owns(i))
            .min_by_key(|&i| block_seq(self.ring.block(i)));
        match oldest {
            Some(i) => {
                self.next_block = i;
                true
            }
            None => false,
        }
    }

    /// Waits until the socket is readable, at most `timeout`. A pending socket error is
    /// read (which clears it): the interface going down is waited out; its deletion is
    /// an error.
    fn wait(&mut self, timeout: Duration) -> Result<Wait, NetError> {
        let revents = match sys::poll_in(self.fd.as_raw_fd(), timeout) {
            Ok(Some(ev)) => ev,
            Ok(None) => return Ok(Wait::Nothing),
            Err(e) => return Err(io_err("waiting for captured packets")(e)),
        };
        if revents & libc::POLLNVAL != 0 {
            return Err(NetError::Io {
                what: "waiting for captured packets",
                source: io::Error::from_raw_os_error(libc::EBADF),
            });
        }
        let had_error = revents & libc::POLLERR != 0;
        if had_error {
            self.take_socket_error()?;
        }
        if revents & libc::POLLIN != 0 {
            Ok(Wait::Readable)
        } else if had_error {
            Ok(Wait::Again)
        } else {
            Ok(Wait::Nothing)
        }
    }

    /// Fails with [`NetError::CaptureInterfaceGone`] when the interface bound to has been
    /// deleted. Asks by index through the capture socket itself, so the answer comes from
    /// the socket's network namespace whatever thread calls, and a renamed interface
    /// (still captured) counts as present.
    fn check_present(&self) -> Result<(), NetError> {
        if self.ifindex == 0 {
            return Ok(());
        }
        // SAFETY: an all-zero ifreq is a valid value; we set the index SIOCGIFNAME reads.
        let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
        ifr.ifr_ifru.ifru_ifindex = self.ifindex;
        // SAFETY: SIOCGIFNAME reads and writes the one live ifreq passed.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SIOCGIFNAME as _,
                &mut ifr as *mut libc::ifreq,
            )
        };
        // Only a definite "no such device" ends the capture; other failures of this
        // check are not evidence that the interface is gone.
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENODEV) {
            return Err(NetError::CaptureInterfaceGone(self.iface.clone()));
        }
        Ok(())
    }

    /// Reads and clears the socket's pending error.
    fn take_socket_error(&self) -> Result<(), NetError> {
        let mut err: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: pointer and size of a live c_int.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        })
        .map_err(io_err("reading the capture socket's error"))?;
        match err {
            0 => Ok(()),
            // Down or deleted: the kernel says ENETDOWN for both.
            libc::ENETDOWN | libc::ENODEV | libc::ENXIO => self.check_present(),
            e => Err(NetError::Io {
                what: "capturing packets",
                source: io::Error::from_raw_os_error(e),
            }),
        }
    }
}

impl AsFd for LiveCapture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for LiveCapture {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let bytes = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_ne_bytes([bytes[0], bytes[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let bytes = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let lo = u64::from(u32_at(b, off)?);
    let hi = u64::from(u32_at(b, off.checked_add(4)?)?);
    Some(if cfg!(target_endian = "little") {
        lo | hi << 32
    } else {
        hi | lo << 32
    })
}

/// A block's sequence number (0 if unreadable).
fn block_seq(block: &[u8]) -> u64 {
    u64_at(block, BLOCK_SEQ).unwrap_or(0)
}

/// What walking one block gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockWalk {
    delivered: usize,
    malformed: u64,
}

/// Calls `f` for each packet of a block handed over by the kernel. Every offset and
/// length is checked against the block (and the block's used length); the first entry
/// that fails ends the walk, and it and the entries after it count as malformed.
fn walk_block(block: &[u8], f: &mut dyn FnMut(CapturedPacket<'_>)) -> BlockWalk {
    let mut walk = BlockWalk {
        delivered: 0,
        malformed: 0,
    };
    let (Some(num), Some(first), Some(used)) = (
        u32_at(block, BLOCK_NUM_PKTS),
        u32_at(block, BLOCK_FIRST),
        u32_at(block, BLOCK_LEN),
    ) else {
        return walk;
    };
    let first = first as usize;
    // blk_len is the used part of the block; trust it only when it is consistent.
    let end = match used as usize {
        u if u <= block.len() && u >= first => u,
        _ => block.len(),
    };
    let Some(used) = block.get(..end) else {
        return walk;
    };
    let mut off = first;
    for k in 0..num {
        let Some((pkt, next)) = parse_entry(used, off) else {
            walk.malformed += u64::from(num - k);
            break;
        };
        f(pkt);
        walk.delivered += 1;
        if k + 1 == num {
            break;
        }
        // Each entry must be followed by another one further on.
        match off.checked_add(next as usize) {
            Some(n) if next as usize >= HDRS_END && n < end => off = n,
            _ => {
                walk.malformed += u64::from(num - k - 1);
                break;
            }
        }
    }
    walk
}

/// The packet whose `tpacket3_hdr` is at `off` in `used`, and its `tp_next_offset`.
fn parse_entry(used: &[u8], off: usize) -> Option<(CapturedPacket<'_>, u32)> {
    let entry = used.get(off..)?;
    if entry.len() < HDRS_END {
        return None;
    }
    let next = u32_at(entry, PKT_NEXT)?;
    let sec = u32_at(entry, PKT_SEC)?;
    let nsec = u32_at(entry, PKT_NSEC)?.min(999_999_999);
    let snaplen = u32_at(entry, PKT_SNAPLEN)?;
    let orig_len = u32_at(entry, PKT_LEN)?;
    let net = usize::from(u16_at(entry, PKT_NET)?);
    let ifindex = u32_at(entry, SLL_IFINDEX)? as i32;
    let pkttype = *entry.get(SLL_PKTTYPE)?;
    if net < HDRS_END {
        return None;
    }
    let data = entry.get(net..net.checked_add(snaplen as usize)?)?;
    Some((
        CapturedPacket {
            ts_nanos: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
            data,
            orig_len,
            outgoing: pkttype == libc::PACKET_OUTGOING,
            ifindex,
        },
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: usize = 4096;

    /// A block as the kernel would write it, holding `packets` (data, outgoing, ifindex).
    fn block_with(packets: &[(&[u8], bool, i32)]) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK];
        let put32 = |b: &mut Vec<u8>, off: usize, v: u32| {
            b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        };
        let first = align16(BLOCK_DESC_LEN);
        put32(&mut b, BLOCK_STATUS, libc::TP_STATUS_USER);
        put32(&mut b, BLOCK_NUM_PKTS, packets.len() as u32);
        put32(&mut b, BLOCK_FIRST, first as u32);
        let mut off = first;
        for (i, (data, outgoing, ifindex)) in packets.iter().enumerate() {
            let len = (NET_OFFSET + data.len() + 7) & !7;
            let last = i + 1 == packets.len();
            put32(&mut b, off + PKT_NEXT, if last { 0 } else { len as u32 });
            put32(&mut b, off + PKT_SEC, 1_700_000_000 + i as u32);
            put32(&mut b, off + PKT_NSEC, 5);
            put32(&mut b, off + PKT_SNAPLEN, data.len() as u32);
            put32(&mut b, off + PKT_LEN, data.len() as u32 + 100);
            b[off + PKT_NET..off + PKT_NET + 2].copy_from_slice(&(NET_OFFSET as u16).to_ne_bytes());
            put32(&mut b, off + SLL_IFINDEX, *ifindex as u32);
            b[off + SLL_PKTTYPE] = if *outgoing {
                libc::PACKET_OUTGOING
            } else {
                libc::PACKET_HOST
            };
            b[off + NET_OFFSET..off + NET_OFFSET + data.len()].copy_from_slice(data);
            off += len;
        }
        put32(&mut b, BLOCK_LEN, off as u32);
        b
    }

    /// What a test sees of a packet: data, timestamp, length, outgoing, ifindex.
    type Seen = (Vec<u8>, u64, u32, bool, i32);

    fn collect(block: &[u8]) -> (Vec<Seen>, BlockWalk) {
        let mut got = Vec::new();
        let walk = walk_block(block, &mut |p| {
            got.push((
                p.data.to_vec(),
                p.ts_nanos,
                p.orig_len,
                p.outgoing,
                p.ifindex,
            ))
        });
        (got, walk)
    }

    #[test]
    fn capture_ring_walk_reads_every_entry() {
        let b = block_with(&[(b"\x45abc", true, 3), (b"\x60defgh", false, 7)]);
        let (got, walk) = collect(&b);
        assert_eq!(
            walk,
            BlockWalk {
                delivered: 2,
                malformed: 0
            }
        );
        assert_eq!(
            got,
            vec![
                (b"\x45abc".to_vec(), 1_700_000_000_000_000_005, 104, true, 3),
                (
                    b"\x60defgh".to_vec(),
                    1_700_000_001_000_000_005,
                    106,
                    false,
                    7
                ),
            ]
        );
    }

    #[test]
    fn capture_ring_walk_survives_hostile_headers() {
        let good = block_with(&[(b"\x45abc", false, 1), (b"\x45def", false, 1)]);
        let first = u32_at(&good, BLOCK_FIRST).unwrap() as usize;
        let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            collect(&b).1
        };
        let set32 = |b: &mut Vec<u8>, off: usize, v: u32| {
            b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        };
        // More packets claimed than present: the rest counts as malformed.
        let w = mutate(&|b| set32(b, BLOCK_NUM_PKTS, u32::MAX));
        assert_eq!(w.delivered, 2);
        assert_eq!(w.malformed, u64::from(u32::MAX) - 2);
        // First packet outside the block.
        let w = mutate(&|b| set32(b, BLOCK_FIRST, u32::MAX));
        assert_eq!((w.delivered, w.malformed), (0, 2));
        // Data running past the block.
        let w = mutate(&|b| set32(b, first + PKT_SNAPLEN, u32::MAX));
        assert_eq!((w.delivered, w.malformed), (0, 2));
        // Data overlapping the headers.
        let w = mutate(&|b| b[first + PKT_NET..first + PKT_NET + 2].copy_from_slice(&[0, 0]));
        assert_eq!((w.delivered, w.malformed), (0, 2));
        // A next offset that loops back or leaves the block.
        for next in [0, 1, u32::MAX, BLOCK as u32] {
            let w = mutate(&|b| set32(b, first + PKT_NEXT, next));
            assert_eq!((w.delivered, w.malformed), (1, 1), "next offset {next}");
        }
        // blk_len beyond the block is ignored in favour of the block's size.
        let w = mutate(&|b| set32(b, BLOCK_LEN, u32::MAX));
        assert_eq!((w.delivered, w.malformed), (2, 0));
        // blk_len cutting the second packet short.
        let second = first + u32_at(&good, first + PKT_NEXT).unwrap() as usize;
        let w = mutate(&|b| set32(b, BLOCK_LEN, (second + 8) as u32));
        assert_eq!((w.delivered, w.malformed), (1, 1));
        // Garbage everywhere, and blocks too short for a descriptor.
        let mut x: u32 = 12345;
        for _ in 0..200 {
            let mut b = good.clone();
            for byte in b.iter_mut().skip(8) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *byte = (x & 0xff) as u8;
            }
            let _ = collect(&b);
        }
        for n in 0..64 {
            assert_eq!(collect(&good[..n]).1.delivered, 0);
        }
    }

    #[test]
    fn capture_ring_geometry_fits_the_kernel_rules() {
        for snaplen in [MIN_SNAPLEN, DEFAULT_SNAPLEN, 1500, MAX_SNAPLEN] {
            for ring in [0, 1 << 20, DEFAULT_RING_BYTES, usize::MAX] {
                for page in [4096, 16384, 65536] {
                    let g = geometry(snaplen, ring, page);
                    assert!(g.block_size.is_power_of_two());
                    assert_eq!(g.block_size % page, 0);
                    assert_eq!(g.frame_size % ALIGN, 0);
                    assert!(g.frame_size >= libc::TPACKET3_HDRLEN);
                    assert!(BLOCK_DESC_LEN + NET_OFFSET + snaplen as usize <= g.block_size);
                    assert!(g.block_nr >= MIN_BLOCKS);
                    assert!(
                        g.block_size * g.block_nr <= MAX_RING_BYTES.max(MIN_BLOCKS * g.block_size)
                    );
                }
            }
        }
        assert_eq!(
            geometry(DEFAULT_SNAPLEN, DEFAULT_RING_BYTES, 4096).block_nr,
            64
        );
    }

    #[test]
    fn capture_filter_keeps_only_ip() {
        let f = ip_only_filter(300);
        assert_eq!(f[0].k, (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32);
        // IPv4 jumps to the accept, IPv6 falls into it, anything else reaches the drop.
        assert_eq!((f[1].k, f[1].jt, f[1].jf), (0x0800, 1, 0));
        assert_eq!((f[2].k, f[2].jt, f[2].jf), (0x86dd, 0, 1));
        assert_eq!(f[3].k, 300);
        assert_eq!(f[4].k, 0);
    }

    #[test]
    fn capture_interface_names_are_checked_first() {
        assert_eq!(resolve(ANY_INTERFACE).ok(), Some(0));
        for bad in ["", "x\0y", "a-name-longer-than-ifnamsiz", "mbcap-none0"] {
            assert!(matches!(resolve(bad), Err(NetError::NoCaptureInterface(n)) if n == bad));
        }
    }
}
