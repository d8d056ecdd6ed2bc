//! Live capture ([`monban_netio::capture`]) in network namespaces of its own
//! (`mbcap-<pid>-<n>`), from a thread that entered them with `setns`. Needs root; nothing
//! is skipped. Every packet goes to addresses inside the test's own namespace.
//!
//! Ground truth by construction: a fresh namespace has no traffic but the test's, so the
//! capture must see exactly the packets the test makes, each with the kernel's replies.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use monban_lab::in_namespace;
use monban_netio::capture::{CaptureOptions, CapturedPacket, LiveCapture, ANY_INTERFACE};
use monban_netio::NetError;
use socket2::{Domain, Protocol, Socket, Type};

const PREFIX: &str = "mbcap-";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace of the test's own, deleted on drop (also when the test fails).
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        sweep_stale();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n <ns> args`.
    fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Adds a veth pair `a`–`b`, both up, without IPv6 addresses (so no neighbour
    /// discovery chatter).
    fn veth(&self, a: &str, b: &str) {
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        for dev in [a, b] {
            self.ip(&["link", "set", dev, "addrgenmode", "none"]);
            self.ip(&["link", "set", dev, "up"]);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Deletes namespaces left by earlier runs of this test that were killed.
fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for name in dir.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split_once('-'))
            .and_then(|(p, _)| p.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

fn if_index(name: &str) -> i32 {
    let c = std::ffi::CString::new(name).expect("interface name");
    // SAFETY: a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "interface {name}");
    i as i32
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

/// What the test checks of a captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Summary {
    outgoing: bool,
    ifindex: i32,
    src: SocketAddr,
    dst: SocketAddr,
    /// IP protocol number (6 TCP, 17 UDP).
    proto: u8,
    /// TCP flags FIN..URG (0 for UDP).
    flags: u8,
}

/// A captured packet, owned.
#[derive(Debug, Clone)]
struct Seen {
    ts_nanos: u64,
    orig_len: u32,
    data: Vec<u8>,
    outgoing: bool,
    ifindex: i32,
}

impl Seen {
    fn of(p: CapturedPacket<'_>) -> Seen {
        Seen {
            ts_nanos: p.ts_nanos,
            orig_len: p.orig_len,
            data: p.data.to_vec(),
            outgoing: p.outgoing,
            ifindex: p.ifindex,
        }
    }

    /// Addresses, ports, protocol and flags of an IPv4 or IPv6 packet without extension
    /// headers carrying TCP or UDP.
    fn summary(&self) -> Option<Summary> {
        let d = &self.data;
        let (src, dst, proto, l4) = match d.first()? >> 4 {
            4 => {
                let ihl = usize::from(d[0] & 0x0f) * 4;
                let src: [u8; 4] = d.get(12..16)?.try_into().ok()?;
                let dst: [u8; 4] = d.get(16..20)?.try_into().ok()?;
                (
                    IpAddr::V4(Ipv4Addr::from(src)),
                    IpAddr::V4(Ipv4Addr::from(dst)),
                    *d.get(9)?,
                    d.get(ihl..)?,
                )
            }
            6 => {
                let src: [u8; 16] = d.get(8..24)?.try_into().ok()?;
                let dst: [u8; 16] = d.get(24..40)?.try_into().ok()?;
                (
                    IpAddr::V6(Ipv6Addr::from(src)),
                    IpAddr::V6(Ipv6Addr::from(dst)),
                    *d.get(6)?,
                    d.get(40..)?,
                )
            }
            _ => return None,
        };
        let sport = u16::from_be_bytes(l4.get(0..2)?.try_into().ok()?);
        let dport = u16::from_be_bytes(l4.get(2..4)?.try_into().ok()?);
        let flags = match proto {
            6 => *l4.get(13)? & 0x3f,
            17 => 0,
            _ => return None,
        };
        Some(Summary {
            outgoing: self.outgoing,
            ifindex: self.ifindex,
            src: SocketAddr::new(src, sport),
            dst: SocketAddr::new(dst, dport),
            proto,
            flags,
        })
    }
}

/// Reads the capture until `want` packets arrived (or two seconds passed), then a little
/// longer so that any extra packet would show.
fn collect(cap: &mut LiveCapture, want: usize) -> Vec<Seen> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while seen.len() < want && Instant::now() < deadline {
        cap.next_batch(Duration::from_millis(50), &mut |p| seen.push(Seen::of(p)))
            .expect("next_batch");
    }
    let linger = Instant::now() + Duration::from_millis(60);
    while Instant::now() < linger {
        cap.next_batch(Duration::from_millis(20), &mut |p| seen.push(Seen::of(p)))
            .expect("next_batch");
    }
    seen
}

fn opts() -> CaptureOptions {
    CaptureOptions {
        block_timeout: Duration::from_millis(5),
        ..CaptureOptions::default()
    }
}

const TCP_SYN: u8 = 0x02;
const TCP_RST_ACK: u8 = 0x14;

#[test]
fn live_capture_sees_exactly_the_loopback_udp_and_tcp_both_ways() {
    const UDP_SRC: u16 = 7000;
    const UDP_DST: u16 = 7001;
    const TCP_CLOSED: u16 = 7002;
    const TCP_SRC: u16 = 7100;
    const DATAGRAMS: usize = 4;
    const SYNS: usize = 3;
    /// Two families, each packet seen leaving and arriving.
    const TOTAL: usize = 2 * 2 * (DATAGRAMS + 1 + 2 * SYNS);
    let ns = Netns::new();
    let (seen, stats, lo, t0, t1) = in_namespace(&ns.name, || {
        let lo = if_index("lo");
        let mut cap = LiveCapture::open("lo", &opts()).expect("open a capture on lo");
        assert_eq!((cap.ifindex(), cap.snaplen()), (lo, 256));
        let t0 = now_nanos();
        for local in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            // A bound receiver, so that no ICMP port unreachable comes back.
            let rx = UdpSocket::bind((local, UDP_DST)).expect("UDP receiver");
            let tx = UdpSocket::bind((local, UDP_SRC)).expect("UDP sender");
            for i in 0..DATAGRAMS {
                tx.send_to(format!("mbcap {i}").as_bytes(), (local, UDP_DST))
                    .expect("send a datagram");
            }
            // One datagram longer than the snap length.
            tx.send_to(&[0x5a; 1000], (local, UDP_DST))
                .expect("send a long datagram");
            let mut buf = [0u8; 2048];
            for _ in 0..=DATAGRAMS {
                rx.recv(&mut buf).expect("datagram delivered");
            }
            // SYNs to a closed port: each is answered by an RST.
            for i in 0..SYNS {
                let domain = match local {
                    IpAddr::V4(_) => Domain::IPV4,
                    IpAddr::V6(_) => Domain::IPV6,
                };
                let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).expect("socket");
                s.bind(&SocketAddr::new(local, TCP_SRC + i as u16).into())
                    .expect("bind");
                let e = s
                    .connect(&SocketAddr::new(local, TCP_CLOSED).into())
                    .expect_err("nobody listens");
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
            }
        }
        let seen = collect(&mut cap, TOTAL);
        let t1 = now_nanos();
        let stats = cap.stats().expect("stats");
        (seen, stats, lo, t0, t1)
    })
    .expect("thread in the namespace");

    // Exactly the test's packets: each seen leaving and arriving on lo.
    let mut want: BTreeMap<Summary, usize> = BTreeMap::new();
    for local in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        for outgoing in [true, false] {
            let mut add = |src: u16, dst: u16, proto: u8, flags: u8, n: usize| {
                let s = Summary {
                    outgoing,
                    ifindex: lo,
                    src: SocketAddr::new(local, src),
                    dst: SocketAddr::new(local, dst),
                    proto,
                    flags,
                };
                *want.entry(s).or_default() += n;
            };
            add(UDP_SRC, UDP_DST, 17, 0, DATAGRAMS + 1);
            for i in 0..SYNS as u16 {
                add(TCP_SRC + i, TCP_CLOSED, 6, TCP_SYN, 1);
                add(TCP_CLOSED, TCP_SRC + i, 6, TCP_RST_ACK, 1);
            }
        }
    }
    let mut got: BTreeMap<Summary, usize> = BTreeMap::new();
    for p in &seen {
        let s = p
            .summary()
            .unwrap_or_else(|| panic!("not a TCP or UDP packet: {p:?}"));
        *got.entry(s).or_default() += 1;
    }
    assert_eq!(got, want);
    assert_eq!(seen.len(), TOTAL);

    // Lengths: whole packets up to the snap length, the long datagrams cut to it.
    for p in &seen {
        let whole = p.orig_len as usize;
        assert_eq!(p.data.len(), whole.min(256), "{p:?}");
        let ip_len = match p.data[0] >> 4 {
            4 => usize::from(u16::from_be_bytes([p.data[2], p.data[3]])),
            _ => 40 + usize::from(u16::from_be_bytes([p.data[4], p.data[5]])),
        };
        assert_eq!(whole, ip_len, "orig_len is the IP packet's length");
    }
    let long = seen.iter().filter(|p| p.data.len() < p.orig_len as usize);
    assert_eq!(
        long.map(|p| p.orig_len).collect::<Vec<_>>(),
        vec![1028, 1028, 1048, 1048],
        "the long datagrams (IPv4 out and in, then IPv6), cut to 256 bytes"
    );

    // Kernel timestamps: in order, and within the test's own wall-clock window.
    for w in seen.windows(2) {
        assert!(w[0].ts_nanos <= w[1].ts_nanos, "timestamps go back: {w:?}");
    }
    for p in &seen {
        assert!(
            p.ts_nanos >= t0 && p.ts_nanos <= t1,
            "timestamp {} outside [{t0}, {t1}]",
            p.ts_nanos
        );
    }
    assert_eq!(stats.packets, TOTAL as u64, "{stats:?}");
    assert_eq!((stats.drops, stats.malformed), (0, 0), "{stats:?}");
}

/// An Ethernet frame with the broadcast destination.
fn frame(src_mac: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARP request for 10.99.0.2 from 10.99.0.1.
fn arp_request(mac: [u8; 6]) -> Vec<u8> {
    let mut p = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[10, 99, 0, 1]);
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&[10, 99, 0, 2]);
    p
}

/// An IPv4 UDP packet 10.99.0.1:5000 → 10.99.0.2:5001 carrying `marker`.
fn udp4(marker: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + marker.len();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[10, 99, 0, 1, 10, 99, 0, 2]);
    let sum: u32 = p
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let check = !((folded & 0xffff) + (folded >> 16)) as u16;
    p[10..12].copy_from_slice(&check.to_be_bytes());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&5001u16.to_be_bytes());
    p.extend_from_slice(&((8 + marker.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(marker);
    p
}

/// A raw `AF_PACKET` socket on `ifindex` for `protocol` (0: send only).
fn packet_socket(ifindex: i32, protocol: u16) -> OwnedFd {
    // SAFETY: plain syscall.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(protocol.to_be()),
        )
    };
    assert!(
        fd >= 0,
        "packet socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd fresh from socket().
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_ll is valid; we set the fields bind() reads.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: pointer and size of a live sockaddr_ll.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
    fd
}

#[test]
fn live_capture_on_any_drops_non_ip_frames_in_the_kernel() {
    const ARPS: usize = 3;
    const IPS: usize = 2;
    let ns = Netns::new();
    ns.veth("mbc0", "mbc1");
    let (seen, stats, arps_on_wire, c0, c1) = in_namespace(&ns.name, || {
        let (c0, c1) = (if_index("mbc0"), if_index("mbc1"));
        let mut cap = LiveCapture::open(ANY_INTERFACE, &opts()).expect("open on any");
        assert_eq!(cap.ifindex(), 0);
        // A witness that the ARP requests do cross the link.
        let witness = packet_socket(c1, libc::ETH_P_ARP as u16);
        let tx = packet_socket(c0, 0);
        let mac = [0x02, 0x6d, 0x62, 0x63, 0x61, 0x70];
        let mut frames = Vec::new();
        for i in 0..ARPS.max(IPS) {
            if i < ARPS {
                frames.push(frame(mac, libc::ETH_P_ARP as u16, &arp_request(mac)));
            }
            // An EtherType no one knows, as well.
            frames.push(frame(mac, 0x88b5, b"mbcap local experimental"));
            if i < IPS {
                frames.push(frame(
                    mac,
                    libc::ETH_P_IP as u16,
                    &udp4(format!("mbcap ip {i}").as_bytes()),
                ));
            }
        }
        for f in &frames {
            // SAFETY: f is a live buffer; the socket is bound to mbc0.
            let r = unsafe { libc::send(tx.as_raw_fd(), f.as_ptr().cast(), f.len(), 0) };
            assert_eq!(r, f.len() as isize, "{}", std::io::Error::last_os_error());
        }
        let seen = collect(&mut cap, 2 * IPS);
        let mut arps_on_wire = 0;
        let mut buf = [0u8; 2048];
        // SAFETY: buf is a live buffer of the stated size.
        while unsafe { libc::recv(witness.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) } > 0
        {
            arps_on_wire += 1;
        }
        let stats = cap.stats().expect("stats");
        (seen, stats, arps_on_wire, c0, c1)
    })
    .expect("thread in the namespace");

    assert_eq!(arps_on_wire, ARPS, "the ARP requests reached mbc1");
    // Only the IPv4 frames, each leaving mbc0 and arriving on mbc1; cooked, so the data
    // starts at the IP header.
    let mut got: Vec<(bool, i32, Vec<u8>)> = seen
        .iter()
        .map(|p| (p.outgoing, p.ifindex, p.data.clone()))
        .collect();
    got.sort();
    let mut want = Vec::new();
    for i in 0..IPS {
        let pkt = udp4(format!("mbcap ip {i}").as_bytes());
        want.push((true, c0, pkt.clone()));
        want.push((false, c1, pkt));
    }
    want.sort();
    assert_eq!(got, want);
    // The kernel counted only what passed its filter: the ARP and unknown frames never
    // reached the socket.
    assert_eq!(stats.packets, 2 * IPS as u64, "{stats:?}");
    assert_eq!(stats.drops, 0);
}

#[test]
fn live_capture_names_a_missing_interface() {
    let e = LiveCapture::open("mbcap-missing0", &CaptureOptions::default())
        .expect_err("no such interface");
    assert!(
        matches!(&e, NetError::NoCaptureInterface(n) if n == "mbcap-missing0"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "no interface named \"mbcap-missing0\": see `ip link`"
    );
}

/// `struct __user_cap_header_struct` (linux/capability.h).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;
const CAP_NET_RAW: u32 = 13;

#[test]
fn live_capture_without_cap_net_raw_says_what_to_do() {
    // Capabilities are per thread: drop CAP_NET_RAW from this thread only.
    let e = std::thread::spawn(|| {
        let mut hdr = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget writes two cap data structs for version 3.
        let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
        assert_eq!(r, 0, "capget: {}", std::io::Error::last_os_error());
        data[0].effective &= !(1 << CAP_NET_RAW);
        // SAFETY: capset reads the header and two cap data structs; it affects this
        // thread only.
        let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
        assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
        LiveCapture::open("lo", &CaptureOptions::default()).expect_err("no CAP_NET_RAW")
    })
    .join()
    .expect("thread");
    assert!(matches!(e, NetError::NeedCapturePrivilege), "{e:?}");
    assert_eq!(
        e.to_string(),
        "live capture needs CAP_NET_RAW: run as root, or read a file with -r"
    );
}

#[test]
fn live_capture_waits_out_a_down_interface_and_reports_a_deleted_one() {
    let ns = Netns::new();
    ns.veth("mbc0", "mbc1");
    let name = ns.name.clone();
    let (down, deleted) = in_namespace(&ns.name, move || {
        let mut cap = LiveCapture::open("mbc0", &opts()).expect("open on mbc0");
        let mut ignore = |_: CapturedPacket<'_>| {};
        ip(&["-n", &name, "link", "set", "mbc0", "down"]);
        let t = Instant::now();
        let down = cap.next_batch(Duration::from_millis(100), &mut ignore);
        assert!(t.elapsed() >= Duration::from_millis(90), "waited it out");
        ip(&["-n", &name, "link", "del", "mbc0"]);
        let deleted = cap.next_batch(Duration::from_millis(100), &mut ignore);
        (down.map_err(|e| e.to_string()), deleted)
    })
    .expect("thread in the namespace");
    assert_eq!(down, Ok(0));
    let e = deleted.expect_err("the interface is gone");
    assert!(
        matches!(&e, NetError::CaptureInterfaceGone(n) if n == "mbc0"),
        "{e:?}"
    );
}
