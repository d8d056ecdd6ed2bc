#![allow(clippy::indexing_slicing)]

use super::*;
use crate::testdata::*;
use crate::testutil::{assert_checksums, Rng};

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn parse_linux_synack() {
    assert_eq!(
        parse(&V4_SYNACK),
        Ok(Parsed {
            src: a("192.168.56.20"),
            dst: a("192.168.56.1"),
            ttl: 64,
            l4: L4::Tcp {
                src_port: 22,
                dst_port: 51234,
                seq: 0x1c2d3e4f,
                ack: 0x0a0b0c0e,
                flags: TcpFlags::SYN | TcpFlags::ACK,
                window: 65160,
                payload: &[],
            },
        })
    );
}

#[test]
fn parse_rst() {
    let p = parse(&V4_RST).unwrap();
    assert_eq!(
        p.l4,
        L4::Tcp {
            src_port: 23,
            dst_port: 51234,
            seq: 0,
            ack: 0x0a0b0c0e,
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
            payload: &[],
        }
    );
}

#[test]
fn parse_admin_prohibited_quoting_syn() {
    assert_eq!(
        parse(&V4_ADMIN_PROHIBITED),
        Ok(Parsed {
            src: a("192.168.56.254"),
            dst: a("192.168.56.1"),
            ttl: 63,
            l4: L4::IcmpError {
                kind: IcmpError::AdminProhibited,
                quoted: Quoted {
                    src: a("192.168.56.1"),
                    dst: a("10.9.8.7"),
                    protocol: ip::TCP,
                    src_port: Some(51234),
                    dst_port: Some(443),
                    seq: Some(0xdeadbeef),
                },
            },
        })
    );
}

#[test]
fn parse_icmpv6_port_unreachable() {
    assert_eq!(
        parse(&V6_PORT_UNREACHABLE),
        Ok(Parsed {
            src: a("2001:db8::2"),
            dst: a("2001:db8::1"),
            ttl: 64,
            l4: L4::IcmpError {
                kind: IcmpError::PortUnreachable,
                quoted: Quoted {
                    src: a("2001:db8::1"),
                    dst: a("2001:db8::2"),
                    protocol: ip::UDP,
                    src_port: Some(53000),
                    dst_port: Some(161),
                    seq: None,
                },
            },
        })
    );
}

#[test]
fn parse_ipv4_options_and_padding() {
    let p = parse(&V4_OPTIONS_UDP).unwrap();
    assert_eq!(p.ttl, 1);
    assert_eq!(
        p.l4,
        L4::Udp {
            src_port: 5353,
            dst_port: 53,
            payload: b"abc"
        }
    );
}

#[test]
fn parse_ipv6_extension_headers() {
    assert_eq!(
        parse(&V6_EXT_SYN),
        Ok(Parsed {
            src: a("2001:db8::1"),
            dst: a("2001:db8::2"),
            ttl: 57,
            l4: L4::Tcp {
                src_port: 40000,
                dst_port: 80,
                seq: 0x01020304,
                ack: 0,
                flags: TcpFlags::SYN,
                window: 64800,
                payload: &[],
            },
        })
    );
}

#[test]
fn parse_later_fragments_as_other() {
    assert_eq!(
        parse(&V4_LATER_FRAGMENT).unwrap().l4,
        L4::Other { protocol: ip::UDP }
    );
    let p = parse(&V6_LATER_FRAGMENT).unwrap();
    assert_eq!(p.l4, L4::Other { protocol: ip::UDP });
    assert_eq!(p.ttl, 60);
}

#[test]
fn parse_first_fragment_udp_is_partial() {
    // A UDP datagram of 8 + 20 bytes whose first fragment carries only 8 payload bytes.
    let payload = [0x5au8; 20];
    let mut buf = [0u8; 64];
    let n = build_udp(
        &mut buf,
        &UdpProbe {
            src: a("10.0.0.1"),
            dst: a("10.0.0.2"),
            ttl: 9,
            ip_id: 7,
            src_port: 1000,
            dst_port: 2000,
            payload: &payload,
        },
    )
    .unwrap();
    assert_eq!(n, 48);
    let mut frag = [0u8; 36];
    frag.copy_from_slice(&buf[..36]);
    frag[3] = 36; // total length
    frag[6] = 0x20; // MF, offset 0
    assert_eq!(
        parse(&frag).unwrap().l4,
        L4::Udp {
            src_port: 1000,
            dst_port: 2000,
            payload: &[0x5a; 8]
        }
    );
    // A UDP length shorter than the fragment still bounds the payload.
    frag[25] = 10;
    assert_eq!(
        parse(&frag).unwrap().l4,
        L4::Udp {
            src_port: 1000,
            dst_port: 2000,
            payload: &[0x5a; 2]
        }
    );
    frag[25] = 7;
    assert_eq!(parse(&frag), Err(WireError::BadLength));
    frag[25] = 28;
    // The same bytes without MF: the UDP length is beyond the datagram.
    frag[6] = 0;
    assert_eq!(parse(&frag), Err(WireError::BadLength));
}

#[test]
fn parse_echo_replies() {
    let want = L4::EchoReply {
        ident: 0x1234,
        seq: 7,
        payload: b"monban!!",
    };
    let p4 = parse(&V4_ECHO_REPLY).unwrap();
    assert_eq!(
        (p4.src, p4.dst, p4.ttl, p4.l4),
        (a("10.0.0.2"), a("10.0.0.1"), 64, want)
    );
    let p6 = parse(&V6_ECHO_REPLY).unwrap();
    assert_eq!(
        (p6.src, p6.dst, p6.ttl, p6.l4),
        (a("2001:db8::2"), a("2001:db8::1"), 64, want)
    );
}

#[test]
fn parse_time_exceeded_full_quote() {
    let p = parse(&V4_TIME_EXCEEDED_UDP).unwrap();
    assert_eq!(p.ttl, 255);
    assert_eq!(
        p.l4,
        L4::IcmpError {
            kind: IcmpError::TimeExceeded,
            quoted: Quoted {
                src: a("10.0.0.1"),
                dst: a("10.0.0.9"),
                protocol: ip::UDP,
                src_port: Some(33434),
                dst_port: Some(33435),
                seq: None,
            },
        }
    );
}

#[test]
fn parse_packet_too_big_walks_quoted_extension_headers() {
    assert_eq!(
        parse(&V6_PACKET_TOO_BIG).unwrap().l4,
        L4::IcmpError {
            kind: IcmpError::PacketTooBig,
            quoted: Quoted {
                src: a("2001:db8::1"),
                dst: a("2001:db8::99"),
                protocol: ip::TCP,
                src_port: Some(40001),
                dst_port: Some(443),
                seq: Some(0x11223344),
            },
        }
    );
}

/// `packet` with its ICMP quote cut to `k` bytes and the outer IP length fixed to match.
fn cut_quote(packet: &[u8], k: usize) -> Vec<u8> {
    let (ip_len, icmp_at) = if packet[0] >> 4 == 4 {
        (20, 20)
    } else {
        (40, 40)
    };
    let mut v = packet[..icmp_at + 8 + k].to_vec();
    if ip_len == 20 {
        v[2..4].copy_from_slice(&((20 + 8 + k) as u16).to_be_bytes());
    } else {
        v[4..6].copy_from_slice(&((8 + k) as u16).to_be_bytes());
    }
    v
}

fn quoted_of(packet: &[u8]) -> Result<Quoted, WireError> {
    match parse(packet)?.l4 {
        L4::IcmpError { quoted, .. } => Ok(quoted),
        other => panic!("not an ICMP error: {other:?}"),
    }
}

#[test]
fn quote_cut_at_every_length_v4_tcp() {
    let full = quoted_of(&V4_ADMIN_PROHIBITED).unwrap();
    for k in 0..=28 {
        let r = quoted_of(&cut_quote(&V4_ADMIN_PROHIBITED, k));
        match k {
            0..=19 => assert_eq!(r, Err(WireError::Truncated), "quote of {k}"),
            20..=23 => assert_eq!(
                r,
                Ok(Quoted {
                    src_port: None,
                    dst_port: None,
                    seq: None,
                    ..full
                }),
                "quote of {k}"
            ),
            24..=27 => assert_eq!(r, Ok(Quoted { seq: None, ..full }), "quote of {k}"),
            _ => assert_eq!(r, Ok(full)),
        }
    }
}

#[test]
fn quote_cut_at_every_length_v4_udp() {
    let full = quoted_of(&V4_TIME_EXCEEDED_UDP).unwrap();
    for k in 0..=33 {
        let r = quoted_of(&cut_quote(&V4_TIME_EXCEEDED_UDP, k));
        match k {
            0..=19 => assert_eq!(r, Err(WireError::Truncated), "quote of {k}"),
            20..=23 => assert_eq!(
                r,
                Ok(Quoted {
                    src_port: None,
                    dst_port: None,
                    ..full
                }),
                "quote of {k}"
            ),
            _ => assert_eq!(r, Ok(full), "quote of {k}"),
        }
    }
}

#[test]
fn quote_cut_at_every_length_v6_with_extension_header() {
    let full = quoted_of(&V6_PACKET_TOO_BIG).unwrap();
    for k in 0..=56 {
        let r = quoted_of(&cut_quote(&V6_PACKET_TOO_BIG, k));
        let none = Quoted {
            src_port: None,
            dst_port: None,
            seq: None,
            ..full
        };
        match k {
            0..=39 => assert_eq!(r, Err(WireError::Truncated), "quote of {k}"),
            // The destination-options header is cut: the quote ends inside it.
            40..=47 => assert_eq!(
                r,
                Ok(Quoted {
                    protocol: ip::IPV6_DEST_OPTS,
                    ..none
                }),
                "quote of {k}"
            ),
            48..=51 => assert_eq!(r, Ok(none), "quote of {k}"),
            52..=55 => assert_eq!(r, Ok(Quoted { seq: None, ..full }), "quote of {k}"),
            _ => assert_eq!(r, Ok(full)),
        }
    }
}

#[test]
fn quoted_later_fragment_has_no_ports() {
    // ICMP time exceeded quoting the non-first fragment fixture.
    let mut m = vec![11u8, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&V4_LATER_FRAGMENT);
    let mut pkt = vec![0u8; 20 + m.len()];
    ipv4::Repr {
        src_addr: "10.0.0.254".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        protocol: ip::ICMP,
        payload_len: m.len(),
        ttl: 64,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut pkt[..]))
    .unwrap();
    pkt[20..].copy_from_slice(&m);
    let q = quoted_of(&pkt).unwrap();
    assert_eq!(
        (q.protocol, q.src_port, q.dst_port, q.seq),
        (ip::UDP, None, None, None)
    );
}

#[test]
fn quoted_family_must_match() {
    // An ICMPv4 error quoting an IPv6 header.
    let mut pkt = V4_ADMIN_PROHIBITED;
    pkt[28] = 0x60;
    assert_eq!(parse(&pkt), Err(WireError::BadVersion));
}

#[test]
fn other_icmp_messages() {
    let mut b = [0u8; 64];
    // ICMPv4 timestamp request.
    let n = {
        let m = icmpv4::Repr::Other {
            msg_type: icmpv4::msg_type::TIMESTAMP,
            code: 0,
            rest_of_header: 0,
            data: &[0; 12],
        };
        build_ip(
            &mut b,
            Pair::V4("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            ip::ICMP,
            64,
            0,
            m.buffer_len(),
            |x| m.emit(x),
        )
        .unwrap()
    };
    assert_eq!(parse(&b[..n]).unwrap().l4, L4::Other { protocol: ip::ICMP });
    // ICMPv6 neighbor solicitation.
    let (s, d) = (
        "fe80::1".parse().unwrap(),
        "ff02::1:ff00:2".parse().unwrap(),
    );
    let m = icmpv6::Repr::Other {
        msg_type: icmpv6::msg_type::NEIGHBOR_SOLICIT,
        code: 0,
        rest_of_header: 0,
        data: &[0; 16],
    };
    let n = build_ip(
        &mut b,
        Pair::V6(s, d),
        ip::ICMPV6,
        255,
        0,
        m.buffer_len(),
        |x| m.emit(x, s, d),
    )
    .unwrap();
    assert_eq!(
        parse(&b[..n]).unwrap().l4,
        L4::Other {
            protocol: ip::ICMPV6
        }
    );
    // ICMPv4 carried over IPv6 is not ICMPv6.
    let mut v = V6_ECHO_REPLY;
    v[6] = ip::ICMP;
    assert_eq!(parse(&v).unwrap().l4, L4::Other { protocol: ip::ICMP });
    // Echo with a non-zero code is still an echo for the summary.
    let mut e = V4_ECHO_REPLY;
    e[21] = 9;
    assert!(matches!(
        parse(&e).unwrap().l4,
        L4::EchoReply {
            ident: 0x1234,
            seq: 7,
            ..
        }
    ));
}

#[test]
fn icmp_error_code_tables() {
    for code in 0..=255u8 {
        let v4 = match code {
            0 => IcmpError::NetUnreachable,
            1 => IcmpError::HostUnreachable,
            2 => IcmpError::ProtocolUnreachable,
            3 => IcmpError::PortUnreachable,
            4 => IcmpError::FragmentationNeeded,
            9 => IcmpError::NetProhibited,
            10 => IcmpError::HostProhibited,
            13 => IcmpError::AdminProhibited,
            c => IcmpError::OtherUnreachable(c),
        };
        assert_eq!(IcmpError::from_v4_unreachable(code), v4);
        let v6 = match code {
            0 => IcmpError::NetUnreachable,
            1 | 5 | 6 => IcmpError::AdminProhibited,
            3 => IcmpError::HostUnreachable,
            4 => IcmpError::PortUnreachable,
            c => IcmpError::OtherUnreachable(c),
        };
        assert_eq!(IcmpError::from_v6_unreachable(code), v6);
    }
    // Through parse: ICMPv6 type 1 code 6 (reject route).
    let mut v = V6_PORT_UNREACHABLE;
    v[41] = 6;
    assert!(matches!(
        parse(&v).unwrap().l4,
        L4::IcmpError {
            kind: IcmpError::AdminProhibited,
            ..
        }
    ));
    // ICMPv6 type 3 and 4.
    v[40] = 3;
    assert!(matches!(
        parse(&v).unwrap().l4,
        L4::IcmpError {
            kind: IcmpError::TimeExceeded,
            ..
        }
    ));
    v[40] = 4;
    assert!(matches!(
        parse(&v).unwrap().l4,
        L4::IcmpError {
            kind: IcmpError::ParameterProblem,
            ..
        }
    ));
    // ICMPv4 type 12, and type 3 code 1.
    let mut p = V4_ADMIN_PROHIBITED;
    p[20] = 12;
    assert!(matches!(
        parse(&p).unwrap().l4,
        L4::IcmpError {
            kind: IcmpError::ParameterProblem,
            ..
        }
    ));
    p[20] = 3;
    p[21] = 1;
    assert!(matches!(
        parse(&p).unwrap().l4,
        L4::IcmpError {
            kind: IcmpError::HostUnreachable,
            ..
        }
    ));
}

#[test]
fn bad_inputs() {
    assert_eq!(parse(&[]), Err(WireError::Truncated));
    assert_eq!(parse(&[0x55; 40]), Err(WireError::BadVersion));
    let mut p = V4_SYNACK;
    p[3] = 19; // total length below the header
    assert_eq!(parse(&p), Err(WireError::BadLength));
    p[3] = 61; // beyond the buffer
    assert_eq!(parse(&p), Err(WireError::Truncated));
    let mut p = V4_SYNACK;
    p[0] = 0x44;
    assert_eq!(parse(&p), Err(WireError::BadHeaderLen));
    let mut p = V4_SYNACK;
    p[32] = 0x40; // TCP data offset 4
    assert_eq!(parse(&p), Err(WireError::BadHeaderLen));
    p[32] = 0xb0; // 44 bytes in a 40-byte segment
    assert_eq!(parse(&p), Err(WireError::BadHeaderLen));
    let mut p = V4_OPTIONS_UDP;
    p[29] = 12; // UDP length one past the IP payload
    assert_eq!(parse(&p), Err(WireError::BadLength));
    let mut p = V6_EXT_SYN;
    p[4] = 0;
    p[5] = 0;
    assert_eq!(parse(&p), Err(WireError::Jumbogram));
    let mut p = V6_EXT_SYN;
    p[41] = 9; // hop-by-hop header longer than the packet
    assert_eq!(parse(&p), Err(WireError::Truncated));
    // ICMP shorter than its header inside a complete IP packet.
    let mut p = [0u8; 24];
    p[..20].copy_from_slice(&V4_ECHO_REPLY[..20]);
    p[3] = 24;
    assert_eq!(parse(&p), Err(WireError::Truncated));
    // Unknown protocol.
    let mut p = V4_SYNACK;
    p[9] = 47;
    assert_eq!(parse(&p).unwrap().l4, L4::Other { protocol: 47 });
}

#[test]
fn every_prefix_of_every_fixture() {
    let fixtures: [&[u8]; 11] = [
        &V4_SYNACK,
        &V4_RST,
        &V4_ADMIN_PROHIBITED,
        &V6_PORT_UNREACHABLE,
        &V4_OPTIONS_UDP,
        &V6_EXT_SYN,
        &V6_LATER_FRAGMENT,
        &V4_LATER_FRAGMENT,
        &V4_ECHO_REPLY,
        &V6_ECHO_REPLY,
        &V4_TIME_EXCEEDED_UDP,
    ];
    for f in fixtures {
        let full = parse(f).unwrap();
        let mut oks = 0;
        for n in 0..f.len() {
            match parse(&f[..n]) {
                Ok(p) => {
                    assert_eq!(p, full, "prefix {n}");
                    oks += 1;
                }
                Err(e) => assert_eq!(e, WireError::Truncated, "prefix {n}"),
            }
        }
        // Only the link padding of V4_OPTIONS_UDP may be cut without an error.
        assert_eq!(
            oks,
            if f.len() == V4_OPTIONS_UDP.len() {
                2
            } else {
                0
            }
        );
    }
}

fn v4_syn() -> TcpProbe<'static> {
    TcpProbe {
        src: a("10.0.0.1"),
        dst: a("10.0.0.2"),
        ttl: 64,
        ip_id: 12345,
        src_port: 40000,
        dst_port: 80,
        seq: 0x01020304,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 1024,
        options: &TCP_OPT_MSS_1460,
        payload: &[],
    }
}

#[test]
fn build_tcp_v4_syn() {
    let mut buf = [0u8; 128];
    let n = build_tcp(&mut buf, &v4_syn()).unwrap();
    assert_eq!(&buf[..n], &BUILT_V4_SYN);
    assert_checksums(&buf[..n]);
}

#[test]
fn build_tcp_v6_xmas() {
    let p = TcpProbe {
        src: a("2001:db8::1"),
        dst: a("2001:db8::2"),
        ttl: 128,
        ip_id: 999,
        src_port: 40000,
        dst_port: 443,
        seq: 0xfffffffe,
        ack: 0,
        flags: TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG,
        window: 65535,
        options: &[3, 3, 10],
        payload: &[],
    };
    let mut buf = [0u8; 64];
    assert_eq!(build_tcp(&mut buf, &p), Ok(64));
    assert_eq!(buf, BUILT_V6_XMAS);
    assert_checksums(&buf);
}

#[test]
fn build_udp_both_families() {
    let mut buf = [0u8; 64];
    let p = UdpProbe {
        src: a("2001:db8::1"),
        dst: a("2001:db8::2"),
        ttl: 64,
        ip_id: 0,
        src_port: 53000,
        dst_port: 53,
        payload: &[0x12, 0x34, 0x01, 0x00],
    };
    let n = build_udp(&mut buf, &p).unwrap();
    assert_eq!(&buf[..n], &BUILT_V6_UDP);
    assert_checksums(&buf[..n]);
    let p = UdpProbe {
        src: a("10.0.0.1"),
        dst: a("10.0.0.2"),
        ip_id: 1,
        dst_port: 161,
        payload: &[],
        ..p
    };
    let n = build_udp(&mut buf, &p).unwrap();
    assert_eq!(&buf[..n], &BUILT_V4_UDP_EMPTY);
    assert_checksums(&buf[..n]);
}

#[test]
fn build_echo_both_families() {
    let mut buf = [0u8; 64];
    let p = EchoProbe {
        src: a("10.0.0.1"),
        dst: a("10.0.0.2"),
        ttl: 64,
        ip_id: 0x1111,
        ident: 0xabcd,
        seq: 1,
        payload: &[],
    };
    let n = build_echo(&mut buf, &p).unwrap();
    assert_eq!(&buf[..n], &BUILT_V4_ECHO);
    assert_checksums(&buf[..n]);
    assert_eq!(
        parse(&buf[..n]).unwrap().l4,
        L4::EchoRequest {
            ident: 0xabcd,
            seq: 1,
            payload: &[]
        }
    );
    let p = EchoProbe {
        src: a("2001:db8::1"),
        dst: a("2001:db8::2"),
        seq: 2,
        payload: b"ping",
        ..p
    };
    let n = build_echo(&mut buf, &p).unwrap();
    assert_eq!(&buf[..n], &BUILT_V6_ECHO);
    assert_checksums(&buf[..n]);
}

#[test]
fn build_errors() {
    let mut buf = [0u8; 128];
    let mixed = TcpProbe {
        dst: a("2001:db8::2"),
        ..v4_syn()
    };
    assert_eq!(build_tcp(&mut buf, &mixed), Err(WireError::FamilyMismatch));
    let u = UdpProbe {
        src: a("::1"),
        dst: a("127.0.0.1"),
        ttl: 1,
        ip_id: 0,
        src_port: 1,
        dst_port: 2,
        payload: &[],
    };
    assert_eq!(build_udp(&mut buf, &u), Err(WireError::FamilyMismatch));
    let e = EchoProbe {
        src: a("127.0.0.1"),
        dst: a("::1"),
        ttl: 1,
        ip_id: 0,
        ident: 0,
        seq: 0,
        payload: &[],
    };
    assert_eq!(build_echo(&mut buf, &e), Err(WireError::FamilyMismatch));
    assert_eq!(
        build_tcp(
            &mut buf,
            &TcpProbe {
                options: &[1; 41],
                ..v4_syn()
            }
        ),
        Err(WireError::OptionsTooLong)
    );
    assert_eq!(
        build_tcp(
            &mut buf,
            &TcpProbe {
                options: &[1; 40],
                ..v4_syn()
            }
        ),
        Ok(80)
    );
    // Every buffer shorter than the packet.
    for n in 0..44 {
        assert_eq!(
            build_tcp(&mut buf[..n], &v4_syn()),
            Err(WireError::BufferTooSmall),
            "buffer {n}"
        );
    }
    for n in 0..28 {
        let e = EchoProbe {
            src: a("10.0.0.1"),
            dst: a("10.0.0.2"),
            ..e
        };
        assert_eq!(
            build_echo(&mut buf[..n], &e),
            Err(WireError::BufferTooSmall),
            "buffer {n}"
        );
    }
    for n in 0..48 {
        assert_eq!(
            build_udp(&mut buf[..n], &u_v6()),
            Err(WireError::BufferTooSmall),
            "buffer {n}"
        );
    }
    // Length-field limits: IPv4 total length, IPv6 payload length.
    let mut big = vec![0u8; 70_000];
    let payload = vec![0u8; 65_508];
    let v4 = UdpProbe {
        src: a("10.0.0.1"),
        dst: a("10.0.0.2"),
        payload: &payload,
        ..u_v6()
    };
    assert_eq!(build_udp(&mut big, &v4), Err(WireError::TooLong));
    assert_eq!(
        build_udp(
            &mut big,
            &UdpProbe {
                payload: &payload[1..],
                ..v4
            }
        ),
        Ok(65_535)
    );
    let payload = vec![0u8; 65_528];
    let v6 = UdpProbe {
        payload: &payload,
        ..u_v6()
    };
    assert_eq!(build_udp(&mut big, &v6), Err(WireError::TooLong));
    assert_eq!(
        build_udp(
            &mut big,
            &UdpProbe {
                payload: &payload[1..],
                ..v6
            }
        ),
        Ok(65_575)
    );
    assert_checksums(&big[..65_575]);
}

fn u_v6() -> UdpProbe<'static> {
    UdpProbe {
        src: a("2001:db8::1"),
        dst: a("2001:db8::2"),
        ttl: 3,
        ip_id: 0,
        src_port: 7,
        dst_port: 9,
        payload: b"abcd",
    }
}

fn random_addrs(rng: &mut Rng) -> (IpAddr, IpAddr) {
    if rng.bool() {
        (IpAddr::V4(rng.u32().into()), IpAddr::V4(rng.u32().into()))
    } else {
        let s = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        let d = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        (IpAddr::V6(s.into()), IpAddr::V6(d.into()))
    }
}

#[test]
fn property_parse_build_is_identity() {
    let mut rng = Rng::new(0x6d6f_6e62_616e);
    let mut buf = [0u8; 400];
    let mut opts = [0u8; 40];
    let mut data = [0u8; 300];
    let (mut v4, mut v6) = (0, 0);
    for i in 0..6000 {
        let (src, dst) = random_addrs(&mut rng);
        if src.is_ipv4() {
            v4 += 1;
        } else {
            v6 += 1;
        }
        let ttl = rng.u8();
        let ip_id = rng.u16();
        let plen = rng.below(301);
        rng.fill(&mut data[..plen]);
        let payload = &data[..plen];
        let n = match i % 3 {
            0 => {
                let olen = rng.below(41);
                rng.fill(&mut opts[..olen]);
                let p = TcpProbe {
                    src,
                    dst,
                    ttl,
                    ip_id,
                    src_port: rng.u16(),
                    dst_port: rng.u16(),
                    seq: rng.u32(),
                    ack: rng.u32(),
                    flags: TcpFlags(rng.u8()),
                    window: rng.u16(),
                    options: &opts[..olen],
                    payload,
                };
                let n = build_tcp(&mut buf, &p).unwrap();
                let got = parse(&buf[..n]).unwrap();
                let want = L4::Tcp {
                    src_port: p.src_port,
                    dst_port: p.dst_port,
                    seq: p.seq,
                    ack: p.ack,
                    flags: p.flags,
                    window: p.window,
                    payload,
                };
                assert_eq!(
                    got,
                    Parsed {
                        src,
                        dst,
                        ttl,
                        l4: want
                    }
                );
                // The options come back padded with zeros.
                let seg = &buf[n - plen - 20 - tcp::padded_options_len(p.options)..n];
                let t = tcp::Packet::new_checked(seg).unwrap();
                assert_eq!(&t.options()[..olen], p.options);
                assert!(t.options()[olen..].iter().all(|&b| b == 0));
                assert!(t.verify_checksum(src, dst));
                n
            }
            1 => {
                let p = UdpProbe {
                    src,
                    dst,
                    ttl,
                    ip_id,
                    src_port: rng.u16(),
                    dst_port: rng.u16(),
                    payload,
                };
                let n = build_udp(&mut buf, &p).unwrap();
                let want = L4::Udp {
                    src_port: p.src_port,
                    dst_port: p.dst_port,
                    payload,
                };
                assert_eq!(
                    parse(&buf[..n]),
                    Ok(Parsed {
                        src,
                        dst,
                        ttl,
                        l4: want
                    })
                );
                n
            }
            _ => {
                let p = EchoProbe {
                    src,
                    dst,
                    ttl,
                    ip_id,
                    ident: rng.u16(),
                    seq: rng.u16(),
                    payload,
                };
                let n = build_echo(&mut buf, &p).unwrap();
                let want = L4::EchoRequest {
                    ident: p.ident,
                    seq: p.seq,
                    payload,
                };
                assert_eq!(
                    parse(&buf[..n]),
                    Ok(Parsed {
                        src,
                        dst,
                        ttl,
                        l4: want
                    })
                );
                n
            }
        };
        assert_checksums(&buf[..n]);
        if src.is_ipv4() {
            assert_eq!(ipv4::Packet::new_checked(&buf[..n]).unwrap().ident(), ip_id);
        }
    }
    assert!(v4 > 2500 && v6 > 2500, "both families covered: {v4} / {v6}");
}

#[test]
fn fuzz_random_bytes_never_panic() {
    let mut rng = Rng::new(0x0123_4567_89ab_cdef);
    let mut buf = [0u8; 160];
    let mut ok = 0;
    for i in 0..40_000 {
        let n = rng.below(buf.len() + 1);
        rng.fill(&mut buf[..n]);
        // Bias the first bytes towards plausible headers so the fuzzing gets past them.
        if n > 0 && i % 2 == 0 {
            buf[0] = if rng.bool() {
                0x45 + (rng.u8() % 3)
            } else {
                0x60
            };
            if n > 9 && buf[0] >> 4 == 4 {
                buf[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                buf[6] &= 0xe0;
                buf[9] = [1, 6, 17, 58][rng.below(4)];
            }
            if n > 6 && buf[0] == 0x60 {
                buf[4..6].copy_from_slice(&((n as u16).saturating_sub(40)).to_be_bytes());
                buf[6] = [0, 6, 17, 43, 44, 58, 60][rng.below(7)];
            }
        }
        if let Ok(p) = parse(&buf[..n]) {
            ok += 1;
            check_slices_inside(&p, &buf[..n]);
        }
    }
    // The biasing must reach the transport parsers, or this test proves little.
    assert!(ok > 1000, "only {ok} random packets parsed");
}

fn check_slices_inside(p: &Parsed, input: &[u8]) {
    let range = input.as_ptr_range();
    let inside = |s: &[u8]| {
        let r = s.as_ptr_range();
        r.start >= range.start && r.end <= range.end
    };
    match p.l4 {
        L4::Tcp { payload, .. }
        | L4::Udp { payload, .. }
        | L4::EchoReply { payload, .. }
        | L4::EchoRequest { payload, .. } => assert!(inside(payload)),
        L4::IcmpError { .. } | L4::Other { .. } | L4::TimestampReply { .. } => {}
    }
}

/// build_timestamp: 10.0.0.1 -> 10.0.0.2 ident 0xabcd seq 3 originate 0x01020304.
/// ICMP checksum by hand: 0x0d00 + 0xabcd + 0x0003 + 0x0102 + 0x0304 = 0xbcd6,
/// complemented 0x4329. IP checksum: 0x4500 + 0x0028 + 0x1111 + 0x4001 + 0x0a00 +
/// 0x0001 + 0x0a00 + 0x0002 = 0xaa3d, complemented 0x55c2.
const BUILT_V4_TIMESTAMP: [u8; 40] = [
    0x45, 0x00, 0x00, 0x28, 0x11, 0x11, 0x00, 0x00, 0x40, 0x01, 0x55, 0xc2, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x0d, 0x00, 0x43, 0x29, 0xab, 0xcd, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn build_timestamp_and_parse_its_reply() {
    let p = TimestampProbe {
        src: "10.0.0.1".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
        ttl: 64,
        ip_id: 0x1111,
        ident: 0xabcd,
        seq: 3,
        originate: 0x0102_0304,
    };
    let mut buf = [0u8; 64];
    assert_eq!(build_timestamp(&mut buf, &p), Ok(40));
    assert_eq!(buf[..40], BUILT_V4_TIMESTAMP);
    assert_checksums(&buf[..40]);
    for n in 0..40 {
        assert_eq!(
            build_timestamp(&mut buf[..n], &p),
            Err(WireError::BufferTooSmall),
            "buffer {n}"
        );
    }
    // The reply the target would send: type 14, addresses swapped, times filled in.
    let mut reply = BUILT_V4_TIMESTAMP;
    reply[12..16].copy_from_slice(&[10, 0, 0, 2]);
    reply[16..20].copy_from_slice(&[10, 0, 0, 1]);
    reply[20] = 14;
    reply[32..36].copy_from_slice(&7u32.to_be_bytes());
    reply[36..40].copy_from_slice(&8u32.to_be_bytes());
    let got = parse(&reply).unwrap();
    assert_eq!(got.src, a("10.0.0.2"));
    assert_eq!(
        got.l4,
        L4::TimestampReply {
            ident: 0xabcd,
            seq: 3,
            originate: 0x0102_0304,
            receive: 7,
            transmit: 8
        }
    );
    // The request itself is not a reply; a reply cut inside its times is truncated.
    assert_eq!(
        parse(&BUILT_V4_TIMESTAMP).unwrap().l4,
        L4::Other { protocol: 1 }
    );
    for cut in 28..40 {
        let mut short = reply[..cut].to_vec();
        short[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
        assert_eq!(parse(&short), Err(WireError::Truncated), "{cut} bytes");
    }
    // An ICMPv6 message of type 14 is not a timestamp reply.
    let mut v6 = BUILT_V6_ECHO;
    v6[40] = 14;
    assert_eq!(parse(&v6).unwrap().l4, L4::Other { protocol: 58 });
}

/// The fuzz floor: thousands of mutations of valid packets (bytes flipped, cut, extended)
/// must parse to `Ok` or a typed error, never a panic.
#[test]
fn fuzz_mutated_packets_never_panic() {
    let mut seeds: Vec<Vec<u8>> = [
        &V4_SYNACK[..],
        &V4_RST,
        &V4_ADMIN_PROHIBITED,
        &V6_PORT_UNREACHABLE,
        &V4_OPTIONS_UDP,
        &V6_EXT_SYN,
        &V6_LATER_FRAGMENT,
        &V4_LATER_FRAGMENT,
        &V4_ECHO_REPLY,
        &V6_ECHO_REPLY,
        &V4_TIME_EXCEEDED_UDP,
        &V6_PACKET_TOO_BIG,
        &BUILT_V4_SYN,
        &BUILT_V6_XMAS,
        &BUILT_V6_UDP,
        &BUILT_V6_ECHO,
        &BUILT_V4_TIMESTAMP,
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    let mut rng = Rng::new(0xfeed_f00d);
    let mut counts = [0usize; 2];
    for _ in 0..50_000 {
        let mut m = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            match rng.below(5) {
                0 | 1 => {
                    if !m.is_empty() {
                        let i = rng.below(m.len());
                        m[i] = rng.u8();
                    }
                }
                2 => {
                    if !m.is_empty() {
                        let i = rng.below(m.len());
                        m[i] ^= 1 << rng.below(8);
                    }
                }
                3 => m.truncate(rng.below(m.len() + 1)),
                _ => {
                    for _ in 0..rng.below(16) {
                        m.push(rng.u8());
                    }
                }
            }
        }
        let r = parse(&m);
        counts[usize::from(r.is_ok())] += 1;
        if let Ok(p) = r {
            check_slices_inside(&p, &m);
            // Deterministic: the same bytes parse the same way.
            assert_eq!(parse(&m), Ok(p));
        }
        // Occasionally keep a mutant as a new seed, so mutations compound.
        if seeds.len() < 64 && rng.below(100) == 0 {
            seeds.push(m);
        }
    }
    assert!(
        counts[0] > 5000 && counts[1] > 5000,
        "errors / successes: {counts:?}"
    );
}

#[test]
fn checksums_ok_takes_good_and_partial_sums_and_nothing_else() {
    use crate::checksum::pseudo_header;
    let mut buf = [0u8; 128];
    // A SYN/ACK-sized segment over IPv4 and IPv6, a UDP datagram over both.
    let v6_syn = TcpProbe {
        src: a("fd00::2"),
        dst: a("fd00::1"),
        ..v4_syn()
    };
    let udp = |src: &str, dst: &str| UdpProbe {
        src: a(src),
        dst: a(dst),
        ttl: 64,
        ip_id: 3,
        src_port: 53,
        dst_port: 40000,
        payload: &[1, 2, 3],
    };
    let cases: Vec<(Vec<u8>, usize, u8)> = [
        (
            build_tcp(&mut buf, &v4_syn()).map(|n| buf[..n].to_vec()),
            20,
            ip::TCP,
        ),
        (
            build_tcp(&mut buf, &v6_syn).map(|n| buf[..n].to_vec()),
            40,
            ip::TCP,
        ),
        (
            build_udp(&mut buf, &udp("10.0.0.2", "10.0.0.1")).map(|n| buf[..n].to_vec()),
            20,
            ip::UDP,
        ),
        (
            build_udp(&mut buf, &udp("fd00::2", "fd00::1")).map(|n| buf[..n].to_vec()),
            40,
            ip::UDP,
        ),
    ]
    .into_iter()
    .map(|(p, at, proto)| (p.unwrap(), at, proto))
    .collect();
    for (good, at, proto) in cases {
        assert!(checksums_ok(&good), "{good:02x?}");
        let field = at + if proto == ip::TCP { 16 } else { 6 };
        // Any flipped bit is caught, but in the fields of IPv6 no checksum covers
        // (traffic class, flow label, hop limit) and in the next header, whose change makes
        // it a packet of another protocol, whose checksum is not ours to check.
        for i in 0..good.len() * 8 {
            let uncovered =
                at == 40 && (matches!(i / 8, 1..=3 | 6 | 7) || (i / 8 == 0 && i % 8 < 4));
            if uncovered {
                continue;
            }
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            // A flip in the IPv6 payload length makes another, shorter or longer, packet
            // that parse already rejects or that no longer sums: either way not ok.
            assert!(!checksums_ok(&bad), "bit {i} of {good:02x?}");
        }
        // The partial sum of checksum offload (the pseudo-header's sum) is taken.
        let p = parse(&good).unwrap();
        let len = u32::try_from(good.len() - at).unwrap();
        let partial = pseudo_header(p.src, p.dst, proto, len).unwrap();
        let mut off = good.clone();
        off[field..field + 2].copy_from_slice(&partial.to_be_bytes());
        assert!(checksums_ok(&off));
        // No checksum at all: only IPv4 UDP may say so.
        let mut none = good.clone();
        none[field..field + 2].copy_from_slice(&[0, 0]);
        assert_eq!(checksums_ok(&none), proto == ip::UDP && at == 20);
    }
    // ICMP errors: the real captures sum right; a flipped byte does not.
    for pkt in [&V4_ADMIN_PROHIBITED[..], &V6_PORT_UNREACHABLE[..]] {
        assert!(checksums_ok(pkt));
        let mut bad = pkt.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert!(!checksums_ok(&bad));
    }
    // A later fragment's transport checksum is not checked; its IPv4 header is.
    assert!(checksums_ok(&V4_LATER_FRAGMENT));
    let mut bad = V4_LATER_FRAGMENT.to_vec();
    bad[8] ^= 1; // TTL, under the header checksum
    assert!(!checksums_ok(&bad));
    assert!(!checksums_ok(&[]));
    assert!(!checksums_ok(&[0x45, 0, 0]));
}
