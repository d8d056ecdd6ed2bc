//! The SYN-scan driver: raw sockets out, one filtered packet socket in.

use crate::sys::{self, RecvBatch, SNAP};
use crate::{deliver, route, DriveOptions, Handler, NetError, RawSockets};
use monban_engine::scan::MAX_PROBE_LEN;
use monban_engine::{Scan, Transmit};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Probes handed to the kernel per `sendmmsg`.
const BATCH: usize = 64;
/// Longest sleep between looks at the stop flag.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// How often the packet socket's drop counter is read.
const DROP_CHECK: Duration = Duration::from_millis(50);

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const ALU_AND_K: u16 = 0x54;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const SKF_AD_PKTTYPE: u32 = (-0x1000i32 + 4) as u32;
const PACKET_OUTGOING: u32 = 4;

enum Op {
    Stmt(u16, u32),
    Jump(u16, u32, &'static str, &'static str),
    Label(&'static str),
}

/// The kernel filter: incoming (not outgoing) IPv4/IPv6 packets that are ICMP/ICMPv6,
/// or TCP or UDP to a port in `lo..=hi` (IPv4 first fragments only; the destination port
/// sits at the same offset in both). Truncated to [`SNAP`] bytes.
///
/// It never looks at the destination address: replies to every source address the scan
/// uses (`-S` with several addresses) come through the one socket, and the engine checks
/// that the address is one of its own.
pub fn filter(lo: u16, hi: u16) -> Vec<libc::sock_filter> {
    use Op::*;
    let (lo, hi) = (u32::from(lo), u32::from(hi));
    let prog = [
        Stmt(LD_W_ABS, SKF_AD_PKTTYPE),
        Jump(JEQ_K, PACKET_OUTGOING, "drop", "next"),
        Stmt(LD_B_ABS, 0),
        Stmt(ALU_AND_K, 0xf0),
        Jump(JEQ_K, 0x40, "v4", "next"),
        Jump(JEQ_K, 0x60, "v6", "drop"),
        Label("v4"),
        Stmt(LD_B_ABS, 9),
        Jump(JEQ_K, 1, "accept", "next"),
        Jump(JEQ_K, 6, "v4ports", "next"),
        Jump(JEQ_K, 17, "v4ports", "drop"),
        Label("v4ports"),
        Stmt(LD_H_ABS, 6),
        Jump(JSET_K, 0x1fff, "drop", "next"),
        Stmt(LDX_B_MSH, 0),
        Stmt(LD_H_IND, 2),
        Jump(JGE_K, lo, "next", "drop"),
        Jump(JGT_K, hi, "drop", "accept"),
        Label("v6"),
        Stmt(LD_B_ABS, 6),
        Jump(JEQ_K, 58, "accept", "next"),
        Jump(JEQ_K, 6, "v6ports", "next"),
        Jump(JEQ_K, 17, "v6ports", "drop"),
        Label("v6ports"),
        Stmt(LD_H_ABS, 42),
        Jump(JGE_K, lo, "next", "drop"),
        Jump(JGT_K, hi, "drop", "accept"),
        Label("accept"),
        Stmt(RET_K, SNAP as u32),
        Label("drop"),
        Stmt(RET_K, 0),
    ];
    // Resolve labels to instruction indices.
    let mut labels = Vec::new();
    let mut idx = 0usize;
    for op in &prog {
        match op {
            Label(l) => labels.push((*l, idx)),
            _ => idx += 1,
        }
    }
    let find = |l: &str| labels.iter().find(|(n, _)| *n == l).map(|(_, i)| *i);
    let mut out = Vec::new();
    for op in &prog {
        match op {
            Label(_) => {}
            Stmt(code, k) => out.push(libc::sock_filter {
                code: *code,
                jt: 0,
                jf: 0,
                k: *k,
            }),
            Jump(code, k, t, f) => {
                let here = out.len();
                let rel = |l: &str| -> u8 {
                    let target = if l == "next" {
                        here + 1
                    } else {
                        find(l).unwrap_or(here + 1)
                    };
                    (target - here - 1) as u8
                };
                out.push(libc::sock_filter {
                    code: *code,
                    jt: rel(t),
                    jf: rel(f),
                    k: *k,
                });
            }
        }
    }
    out
}

struct Sockets {
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
    recv: OwnedFd,
}

/// The run's sockets: from the pool in `opts` when there is one (none is created),
/// else from a pool opened for this run alone.
fn open(opts: &DriveOptions, ports: (u16, u16)) -> Result<Sockets, NetError> {
    let own;
    let pool = match &opts.sockets {
        Some(pool) => pool.as_ref(),
        None => {
            own = RawSockets::open(opts.interface.as_deref())?;
            &own
        }
    };
    Ok(Sockets {
        v4: pool.ip(false)?,
        v6: pool.ip(true)?,
        recv: pool.packet(opts.interface.as_deref(), &filter(ports.0, ports.1))?,
    })
}

/// Runs a SYN scan to the end (or until `opts.stop` is set).
pub fn run(
    scan: &mut Scan,
    opts: &DriveOptions,
    handler: &mut dyn Handler,
) -> Result<(), NetError> {
    let cfg = scan.config();
    let last = if cfg.fixed_source_port {
        cfg.source_port
    } else {
        cfg.source_port
            .saturating_add(monban_engine::scan::SOURCE_PORTS - 1)
    };
    let socks = open(opts, (cfg.source_port, last))?;
    let recv_fd = socks.recv.as_raw_fd();
    let mut rx = RecvBatch::new(BATCH);
    let mut bufs = vec![[0u8; MAX_PROBE_LEN]; BATCH];
    let mut txs: Vec<Transmit> = Vec::with_capacity(BATCH);
    let mut tx = sys::SendBatch::new(BATCH);
    let mut last_progress = Instant::now();
    let mut last_drop_check = Instant::now();
    let _ = sys::packet_drops(recv_fd);
    loop {
        let now = Instant::now();
        if opts.stop.load(Ordering::Relaxed) {
            scan.stop(now);
        }
        if let Some(dst) = scan.needs_source() {
            let src = route::source_for(dst, opts.interface.as_deref())?;
            scan.set_source(src);
        }
        // Receive everything waiting.
        for _ in 0..64 {
            let n = rx.recv(recv_fd).map_err(NetError::io("recvmmsg"))?;
            let now = Instant::now();
            for i in 0..n {
                scan.on_packet(now, rx.packet(i));
            }
            if n < BATCH {
                break;
            }
        }
        // Send a batch.
        let now = Instant::now();
        txs.clear();
        for buf in bufs.iter_mut() {
            match scan.poll_transmit(now, buf) {
                Some(t) => txs.push(t),
                None => break,
            }
        }
        let full_batch = txs.len() == BATCH;
        if !txs.is_empty() {
            send(&socks, &mut tx, scan, &txs, &bufs, now)?;
        }
        if now.duration_since(last_drop_check) >= DROP_CHECK {
            last_drop_check = now;
            if let Ok((_, drops)) = sys::packet_drops(recv_fd) {
                if drops > 0 {
                    scan.on_backpressure(now);
                }
            }
        }
        if deliver(scan, handler, now, &mut last_progress) {
            return Ok(());
        }
        if full_batch {
            continue;
        }
        let wait = match scan.next_timeout() {
            Some(t) => t.saturating_duration_since(Instant::now()).min(MAX_SLEEP),
            None => MAX_SLEEP,
        };
        sys::wait_readable(recv_fd, wait).map_err(NetError::io("ppoll"))?;
    }
}

fn send(
    socks: &Sockets,
    tx: &mut sys::SendBatch,
    scan: &mut Scan,
    txs: &[Transmit],
    bufs: &[[u8; MAX_PROBE_LEN]],
    now: Instant,
) -> Result<(), NetError> {
    for family_v4 in [true, false] {
        // The batch's packets of this family, in order, without collecting them.
        let family = || {
            txs.iter()
                .zip(bufs)
                .filter(move |(t, _)| t.dst.is_ipv4() == family_v4)
        };
        let total = family().count();
        if total == 0 {
            continue;
        }
        let sock = if family_v4 { &socks.v4 } else { &socks.v6 };
        let Some(sock) = sock else {
            return Err(NetError::Io {
                what: "IPv6 raw socket",
                source: std::io::Error::other("IPv6 is not available on this host"),
            });
        };
        let mut sent = 0;
        let mut stalls = 0;
        while sent < total {
            let pkts = family().skip(sent).map(|(t, b)| (&b[..t.len], t.dst));
            let n = tx
                .send(sock.as_raw_fd(), pkts)
                .map_err(NetError::io("sendmmsg"))?;
            if n == 0 {
                // The kernel's queue is full: give the rest back and slow down.
                stalls += 1;
                if stalls > 3 {
                    scan.on_backpressure(now);
                    for (t, _) in family().skip(sent) {
                        scan.unsend(t);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            sent += n;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_jumps_stay_inside_the_program() {
        let f = filter(40000, 40015);
        for (i, ins) in f.iter().enumerate() {
            if matches!(ins.code, JEQ_K | JSET_K | JGE_K | JGT_K) {
                assert!(i + 1 + (ins.jt as usize) < f.len());
                assert!(i + 1 + (ins.jf as usize) < f.len());
            }
        }
        assert_eq!(f.last().map(|i| (i.code, i.k)), Some((RET_K, 0)));
    }

    /// Runs a classic BPF program the way the kernel does for the opcodes we use;
    /// `outgoing` is the packet type the kernel's ancillary load reports.
    fn bpf(prog: &[libc::sock_filter], pkt: &[u8], outgoing: bool) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |i: usize| u32::from(pkt.get(i).copied().unwrap_or(0));
        let half = |i: usize| (byte(i) << 8) | byte(i + 1);
        for _ in 0..prog.len() {
            let ins = prog[pc];
            pc += 1;
            let k = ins.k as usize;
            let jump = |cond: bool| usize::from(if cond { ins.jt } else { ins.jf });
            match ins.code {
                LD_W_ABS if ins.k == SKF_AD_PKTTYPE => {
                    a = if outgoing { PACKET_OUTGOING } else { 0 }
                }
                LD_W_ABS => a = (half(k) << 16) | half(k + 2),
                LD_H_ABS => a = half(k),
                LD_B_ABS => a = byte(k),
                LD_H_IND => a = half(x as usize + k),
                LDX_B_MSH => x = (byte(k) & 0xf) * 4,
                ALU_AND_K => a &= ins.k,
                JEQ_K => pc += jump(a == ins.k),
                JGE_K => pc += jump(a >= ins.k),
                JGT_K => pc += jump(a > ins.k),
                JSET_K => pc += jump(a & ins.k != 0),
                RET_K => return ins.k,
                other => panic!("opcode {other:#x} not modelled"),
            }
        }
        panic!("program did not return");
    }

    fn udp(src: [u8; 4], dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0, 53]);
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 8, 0, 0]);
        p
    }

    #[test]
    fn filter_passes_replies_to_every_source_address() {
        let f = filter(47001, 47016);
        let target = [10, 77, 1, 10];
        // Replies to each of four source addresses, on the first and last source port.
        for last in 2..=5u8 {
            for port in [47001, 47016] {
                let p = udp(target, [10, 77, 0, last], port);
                assert_eq!(bpf(&f, &p, false), SNAP as u32, "10.77.0.{last}:{port}");
                assert_eq!(bpf(&f, &p, true), 0, "our own outgoing packet");
            }
        }
        // Not our ports.
        assert_eq!(bpf(&f, &udp(target, [10, 77, 0, 3], 47000), false), 0);
        assert_eq!(bpf(&f, &udp(target, [10, 77, 0, 3], 47017), false), 0);
        // ICMP errors to any address pass (the engine checks the quote).
        let mut icmp = udp(target, [10, 77, 0, 4], 0);
        icmp[9] = 1;
        assert_eq!(bpf(&f, &icmp, false), SNAP as u32);
        // A later fragment of UDP does not.
        let mut frag = udp(target, [10, 77, 0, 4], 47001);
        frag[7] = 1;
        assert_eq!(bpf(&f, &frag, false), 0);
    }
}
