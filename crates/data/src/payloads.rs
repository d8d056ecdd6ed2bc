//! UDP probe payloads: for the common UDP services, a datagram that makes an open port
//! answer. A UDP scan proves a port open only by a reply, and most services stay silent
//! on an empty datagram; ports without a payload here get an empty one.
//!
//! Every payload is written by us from the protocol's specification and is a small
//! well-formed request that the service answers, even if only with an error (an error is
//! still a UDP reply, which is all the scan needs):
//!
//! | port(s) | name | request | specification |
//! |---|---|---|---|
//! | 53 | `dns` | standard query `version.bind` CHAOS TXT, RD clear | RFC 1035 §4.1 |
//! | 69 | `tftp` | read request for a file that does not exist, mode `octet` | RFC 1350 §5 |
//! | 111 | `rpc-portmap` | ONC RPC call, program 100000 version 2, procedure 0 (NULL) | RFC 5531 §9, RFC 1833 §3 |
//! | 123 | `ntp` | NTPv4 client request (mode 3), 48 bytes | RFC 5905 §7.3, RFC 4330 §5 |
//! | 137 | `netbios-ns` | node status request (NBSTAT) for the name `*` | RFC 1002 §4.2.17 |
//! | 161 | `snmp-v2c` | SNMPv2c GetRequest `sysDescr.0`, community `public` | RFC 1901, RFC 3416 §3, X.690 BER |
//! | 443 | `quic` | QUIC long header of a reserved version, padded to 1200 bytes | RFC 8999 §5.1, RFC 9000 §6, §14.1, §15 |
//! | 500 | `ike` | IKEv2 `IKE_SA_INIT` request (SA, KE for Curve25519, nonce) | RFC 7296 §3, RFC 8031 |
//! | 1900 | `ssdp` | `M-SEARCH * HTTP/1.1`, `ssdp:discover`, `ST: ssdp:all`, `MX: 1` | UPnP Device Architecture 1.1 §1.3.2 |
//! | 2049 | `rpc-nfs` | ONC RPC call, program 100003 version 3, procedure 0 (NULL) | RFC 5531 §9, RFC 1813 §3.3.0 |
//! | 3478 | `stun` | STUN Binding request | RFC 8489 §5, §6 |
//! | 4500 | `ike-nat-t` | the `ike` request behind the 4-byte non-ESP marker | RFC 3948 §2.2, RFC 7296 §2.23 |
//! | 5060 | `sip` | SIP `OPTIONS` request with `rport` | RFC 3261 §11, RFC 3581 |
//! | 5353 | `mdns` | legacy unicast query `_services._dns-sd._udp.local` PTR | RFC 6762 §6.7, RFC 6763 §9 |
//! | 11211 | `memcached` | `version` command behind the UDP frame header | memcached `protocol.txt` (UDP protocol) |
//!
//! For SNMP the table ships version 2c, which agents configured for v1 only would drop;
//! [`SNMP_V1_GET_SYSDESCR`] is the same request in version 1 for callers who want to try
//! both. An agent whose community is not `public` answers neither (it drops the request
//! after an authentication failure), so such a port stays open|filtered.
//!
//! # Amplification
//! Some of these services answer with much more than they receive and have been abused
//! for reflection attacks. The payloads keep the answer small where the protocol lets
//! them choose: DNS asks for `version.bind` (one short TXT record), memcached for
//! `version` (one line, where `stats` returns kilobytes), NTP for a plain client reply
//! (48 bytes, never the `monlist` control query). SSDP with `ST: ssdp:all` asks every
//! device and service behind the port to answer, one datagram each; STUN and SIP answer
//! with a few times the request at most; QUIC answers with less than it gets, IKE with about as much.
//! A scanner sends each payload to a target it was asked to scan, once per try.
//!
//! Replies come from the probed port, except TFTP's, which come from a port the server
//! picks for the transfer: match a reply by the target address and our source port.
//!
//! Every payload except NFS's was checked by hand against a real server from Debian 12
//! (dnsmasq, chrony, net-snmp's snmpd for v1 and v2c, tftpd-hpa, rpcbind, Samba's nmbd,
//! strongSwan's charon on 500 and 4500, coturn, kamailio, avahi-daemon, minidlna, and
//! aioquic for QUIC): each answered. Two did only under conditions a scan cannot set:
//! avahi-daemon answers the mDNS query only when it publishes a service, and minidlna
//! binds its SSDP socket to the multicast group, so it hears M-SEARCH only sent there.
//!
//! Fixed values that a reply echoes (DNS and NetBIOS transaction id, SNMP request id,
//! RPC xid, IKE initiator SPI, memcached request id, STUN transaction id, QUIC
//! connection ids) spell `mb` or `monban` in ASCII so that a capture shows whose they are.

/// A payload for one or more UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPayload {
    /// Short name of the protocol, e.g. `dns`; unique in [`udp_payloads`].
    pub name: &'static str,
    /// Destination ports this payload is sent to; no port is in two payloads.
    pub ports: &'static [u16],
    /// The UDP payload (the datagram's data, without the UDP header).
    pub bytes: &'static [u8],
}

/// A payload that makes a service on `port` answer, if we have one for it.
///
/// `None` means: send an empty datagram.
pub fn udp_payload(port: u16) -> Option<&'static [u8]> {
    PAYLOADS
        .iter()
        .find(|p| p.ports.contains(&port))
        .map(|p| p.bytes)
}

/// The list of (ports, name, payload) we ship, for documentation and tests.
pub fn udp_payloads() -> &'static [UdpPayload] {
    &PAYLOADS
}

/// SNMPv1 GetRequest for `sysDescr.0` with community `public` (RFC 1157 §4.1.2): the
/// v2c payload of port 161 with version 0 instead of 1. Not in [`udp_payloads`], which
/// has one payload per port.
pub const SNMP_V1_GET_SYSDESCR: &[u8] = &snmp_get_sysdescr(0);

static PAYLOADS: [UdpPayload; 15] = [
    UdpPayload {
        name: "dns",
        ports: &[53],
        bytes: &DNS_VERSION_BIND,
    },
    UdpPayload {
        name: "tftp",
        ports: &[69],
        bytes: TFTP_RRQ,
    },
    UdpPayload {
        name: "rpc-portmap",
        ports: &[111],
        bytes: &rpc_null_call(RPC_PROG_PORTMAP, 2),
    },
    UdpPayload {
        name: "ntp",
        ports: &[123],
        bytes: &NTP_CLIENT,
    },
    UdpPayload {
        name: "netbios-ns",
        ports: &[137],
        bytes: &NBNS_NODE_STATUS,
    },
    UdpPayload {
        name: "snmp-v2c",
        ports: &[161],
        bytes: &snmp_get_sysdescr(1),
    },
    UdpPayload {
        name: "quic",
        ports: &[443],
        bytes: &QUIC_VERSION_PROBE,
    },
    UdpPayload {
        name: "ike",
        ports: &[500],
        bytes: &IKE_SA_INIT,
    },
    UdpPayload {
        name: "ssdp",
        ports: &[1900],
        bytes: SSDP_M_SEARCH,
    },
    UdpPayload {
        name: "rpc-nfs",
        ports: &[2049],
        bytes: &rpc_null_call(RPC_PROG_NFS, 3),
    },
    UdpPayload {
        name: "stun",
        ports: &[3478],
        bytes: &STUN_BINDING,
    },
    UdpPayload {
        name: "ike-nat-t",
        ports: &[4500],
        bytes: &IKE_SA_INIT_NAT_T,
    },
    UdpPayload {
        name: "sip",
        ports: &[5060],
        bytes: SIP_OPTIONS,
    },
    UdpPayload {
        name: "mdns",
        ports: &[5353],
        bytes: &MDNS_SERVICES,
    },
    UdpPayload {
        name: "memcached",
        ports: &[11211],
        bytes: &MEMCACHED_VERSION,
    },
];

/// Copies `parts` one after another into exactly `N` bytes. A total other than `N` is a
/// build error (the assertion runs at compile time for every `const` use).
const fn concat<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i];
        let mut j = 0;
        while j < part.len() {
            out[at] = part[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(
        at == N,
        "payload parts do not add up to the declared length"
    );
    out
}

/// DNS (RFC 1035 §4.1): query `version.bind` TXT in class CHAOS. Servers that know it
/// answer with their version string (BIND, dnsmasq, Unbound, Knot, PowerDNS), the others
/// with REFUSED or NOTIMP; recursion is not desired, so nothing is forwarded.
const DNS_VERSION_BIND: [u8; 30] = concat(&[
    &[0x6d, 0x62], // ID "mb"
    &[0x00, 0x00], // QR=0 query, OPCODE=0 QUERY, AA=TC=RD=RA=0, Z=0, RCODE=0
    &[0x00, 0x01], // QDCOUNT
    &[0x00, 0x00], // ANCOUNT
    &[0x00, 0x00], // NSCOUNT
    &[0x00, 0x00], // ARCOUNT
    &[7],
    b"version",
    &[4],
    b"bind",
    &[0],          // root label
    &[0x00, 0x10], // QTYPE TXT (16)
    &[0x00, 0x03], // QCLASS CH (3)
]);

/// mDNS (RFC 6762 §6.7 legacy unicast, RFC 6763 §9 service type enumeration): a query
/// from a port other than 5353 is answered by unicast to its source, as by a unicast DNS
/// server, echoing the ID. A responder with no service registered has nothing to say and
/// stays silent (mDNS sends no negative answers here), and responders ignore queries
/// from off-link sources (RFC 6762 §11).
const MDNS_SERVICES: [u8; 46] = concat(&[
    &[0x6d, 0x62], // ID "mb" (legacy unicast: echoed)
    &[0x00, 0x00], // standard query
    &[0x00, 0x01], // QDCOUNT
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[9],
    b"_services",
    &[7],
    b"_dns-sd",
    &[4],
    b"_udp",
    &[5],
    b"local",
    &[0],
    &[0x00, 0x0c], // QTYPE PTR (12)
    &[0x00, 0x01], // QCLASS IN, unicast-response bit clear
]);

/// NTP (RFC 5905 §7.3, the minimal client of RFC 4330 §5): LI=0, VN=4, Mode=3 (client),
/// every other field zero except the transmit timestamp, which the server copies into
/// the origin timestamp of its reply (RFC 5905 §8).
const NTP_CLIENT: [u8; 48] = concat(&[
    &[0x23],                   // LI 0 (no warning), VN 4, Mode 3 (client)
    &[0],                      // stratum
    &[0],                      // poll
    &[0],                      // precision
    &[0; 4],                   // root delay
    &[0; 4],                   // root dispersion
    &[0; 4],                   // reference id
    &[0; 8],                   // reference timestamp
    &[0; 8],                   // origin timestamp
    &[0; 8],                   // receive timestamp
    &[0xe0, 0x00, 0x00, 0x00], // transmit timestamp, seconds (since 1900; 2019)
    b"monb",                   // transmit timestamp, fraction
]);

/// SNMP GetRequest for `sysDescr.0` (1.3.6.1.2.1.1.1.0) with community `public`, BER
/// encoded (X.690 definite lengths); `version` 0 is SNMPv1 (RFC 1157), 1 is SNMPv2c
/// (RFC 1901). The GetRequest-PDU has the same shape in both (RFC 3416 §3).
const fn snmp_get_sysdescr(version: u8) -> [u8; 43] {
    concat(&[
        &[0x30, 41],         // Message ::= SEQUENCE
        &[0x02, 1, version], // version INTEGER
        &[0x04, 6],          // community OCTET STRING
        b"public",
        &[0xa0, 28],                           // GetRequest-PDU, [0] IMPLICIT SEQUENCE
        &[0x02, 4, 0x6d, 0x6f, 0x6e, 0x62],    // request-id INTEGER ("monb", positive)
        &[0x02, 1, 0],                         // error-status noError(0)
        &[0x02, 1, 0],                         // error-index 0
        &[0x30, 14],                           // variable-bindings SEQUENCE OF
        &[0x30, 12],                           // VarBind SEQUENCE
        &[0x06, 8, 0x2b, 6, 1, 2, 1, 1, 1, 0], // name OBJECT IDENTIFIER 1.3.6.1.2.1.1.1.0
        &[0x05, 0],                            // value NULL (unSpecified)
    ])
}

/// NetBIOS name service node status request (RFC 1002 §4.2.17) for the wildcard name
/// `*` (RFC 1002 §4.2.18 has the node answer with its name table). The name is `*` and
/// fifteen NUL bytes in first-level encoding (RFC 1001 §14.1: each half-byte plus `A`).
const NBNS_NODE_STATUS: [u8; 50] = concat(&[
    &[0x6d, 0x62],                     // NAME_TRN_ID "mb"
    &[0x00, 0x00], // R=0 request, OPCODE 0 query, NM_FLAGS 0 (unicast, no RD), RCODE 0
    &[0x00, 0x01], // QDCOUNT
    &[0x00, 0x00], // ANCOUNT
    &[0x00, 0x00], // NSCOUNT
    &[0x00, 0x00], // ARCOUNT
    &[32],         // label length of the encoded name
    b"CK",         // '*' = 0x2a
    b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 15 x 0x00
    &[0],          // no scope
    &[0x00, 0x21], // QUESTION_TYPE NBSTAT (33)
    &[0x00, 0x01], // QUESTION_CLASS IN
]);

/// SSDP discovery (UPnP Device Architecture 1.1 §1.3.2): the search request every UPnP
/// device answers, with the shortest allowed answer delay.
const SSDP_M_SEARCH: &[u8] = b"M-SEARCH * HTTP/1.1\r\n\
HOST: 239.255.255.250:1900\r\n\
MAN: \"ssdp:discover\"\r\n\
MX: 1\r\n\
ST: ssdp:all\r\n\
\r\n";

/// TFTP read request (RFC 1350 §5) for a file name no server has; the server answers
/// with an ERROR packet (code 1, file not found; or 2, access violation), or with the
/// first DATA block should the file exist after all. The answer comes from a new port
/// the server picked for the transfer (its TID, RFC 1350 §4), not from port 69.
const TFTP_RRQ: &[u8] = b"\x00\x01monban-probe-no-such-file\x00octet\x00";

/// ONC RPC program numbers (RFC 1833 §3, RFC 1813 §1).
const RPC_PROG_PORTMAP: u32 = 100_000;
const RPC_PROG_NFS: u32 = 100_003;

/// ONC RPC call (RFC 5531 §9) of procedure 0, which every program defines as NULL: no
/// arguments, no results, AUTH_NONE credential and verifier. The reply is an accepted
/// SUCCESS, or PROG_MISMATCH / PROG_UNAVAIL from a server with other versions.
const fn rpc_null_call(prog: u32, vers: u32) -> [u8; 40] {
    concat(&[
        b"monb",             // xid
        &0u32.to_be_bytes(), // msg_type CALL
        &2u32.to_be_bytes(), // rpcvers
        &prog.to_be_bytes(),
        &vers.to_be_bytes(),
        &0u32.to_be_bytes(), // proc NULL
        &0u32.to_be_bytes(), // cred flavor AUTH_NONE
        &0u32.to_be_bytes(), // cred body length
        &0u32.to_be_bytes(), // verf flavor AUTH_NONE
        &0u32.to_be_bytes(), // verf body length
    ])
}

/// IKEv2 initiator SPI (RFC 7296 §3.1), non-zero as required.
const IKE_SPI_I: &[u8; 8] = b"monban\x00\x01";

/// IKEv2 `IKE_SA_INIT` request (RFC 7296 §1.2, §3): header, SA with one IKE proposal
/// (ENCR_AES_CBC-128, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, Curve25519), KE and Ni.
///
/// The key exchange value is u = 9, the Curve25519 base point (RFC 7748 §4.1): a valid
/// public value of large prime order, so a responder's all-zero shared secret check
/// (RFC 8031 §2) passes. A responder answers with its own `IKE_SA_INIT`, or with a
/// NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD or COOKIE notification; all are replies.
const IKE_SA_INIT: [u8; 152] = concat(&[
    // Header (RFC 7296 §3.1)
    IKE_SPI_I,
    &[0; 8],         // responder SPI
    &[33],           // next payload: SA
    &[0x20],         // major version 2, minor 0
    &[34],           // exchange type IKE_SA_INIT
    &[0x08],         // flags: Initiator
    &[0, 0, 0, 0],   // message ID
    &[0, 0, 0, 152], // length
    // SA payload (§3.3)
    &[34, 0x00, 0, 48],          // next payload KE, not critical, length
    &[0, 0, 0, 44],              // proposal: last, reserved, length
    &[1, 1, 0, 4],               // proposal 1, protocol IKE, SPI size 0, 4 transforms
    &[3, 0, 0, 12, 1, 0, 0, 12], // more; ENCR (1), ENCR_AES_CBC (12)
    &[0x80, 14, 0, 128],         // attribute TV Key Length (14) = 128
    &[3, 0, 0, 8, 2, 0, 0, 5],   // more; PRF (2), PRF_HMAC_SHA2_256 (5)
    &[3, 0, 0, 8, 3, 0, 0, 12],  // more; INTEG (3), AUTH_HMAC_SHA2_256_128 (12)
    &[0, 0, 0, 8, 4, 0, 0, 31],  // last; D-H (4), Curve25519 (31)
    // KE payload (§3.4)
    &[40, 0x00, 0, 40], // next payload Nonce, not critical, length
    &[0, 31, 0, 0],     // DH group 31, reserved
    &[9],               // u = 9, little-endian, 32 bytes
    &[0; 31],
    // Nonce payload (§3.9)
    &[0, 0x00, 0, 36], // no next payload, not critical, length
    b"monban-ike-sa-init-probe-nonce-1",
]);

/// The IKEv2 request for port 4500 (NAT traversal): IKE messages there start with four
/// zero bytes, the non-ESP marker (RFC 3948 §2.2, RFC 7296 §2.23).
const IKE_SA_INIT_NAT_T: [u8; 156] = concat(&[&[0; 4], &IKE_SA_INIT]);

/// STUN Binding request (RFC 8489 §5, §6): no attributes. Servers answer with a Binding
/// success response carrying the mapped address.
const STUN_BINDING: [u8; 20] = concat(&[
    &[0x00, 0x01],                     // method Binding, class request
    &[0x00, 0x00],                     // message length (no attributes)
    &[0x21, 0x12, 0xa4, 0x42],         // magic cookie
    b"monban\x00\x00\x00\x00\x00\x01", // transaction ID, 96 bits
]);

/// Length of the QUIC probe: the smallest datagram a server must consider for a new
/// connection (RFC 9000 §14.1); servers must drop smaller ones with an unknown version
/// (RFC 9000 §5.2.2).
const QUIC_LEN: usize = 1200;

/// QUIC (RFC 8999 §5.1 long header; RFC 9000 §6): a long-header packet of version
/// 0x1a2a3a4a, one of the versions reserved to force version negotiation (RFC 9000
/// §15), so a QUIC server of any version answers with a Version Negotiation packet
/// listing what it supports (RFC 9000 §6.1). Padded with zeros to 1200 bytes.
const QUIC_VERSION_PROBE: [u8; QUIC_LEN] = concat(&[
    &[0xc0],                   // header form long, fixed bit, rest zero
    &[0x1a, 0x2a, 0x3a, 0x4a], // version (reserved pattern 0x?a?a?a?a)
    &[8],
    b"monban\x00\x01", // destination connection id
    &[8],
    b"monban\x00\x02", // source connection id
    &[0; QUIC_LEN - 23],
]);

/// SIP OPTIONS (RFC 3261 §11) with the mandatory header fields (§8.1.1). The Via has
/// `rport` (RFC 3581) so that the server answers to the source address and port of this
/// datagram rather than to the Via's host at port 5060. The `.invalid` names (RFC 2606)
/// cannot be resolved, so a proxy cannot forward the request anywhere.
const SIP_OPTIONS: &[u8] = b"OPTIONS sip:monban.invalid SIP/2.0\r\n\
Via: SIP/2.0/UDP monban.invalid;branch=z9hG4bK-monban-probe;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:monban@monban.invalid>;tag=monban\r\n\
To: <sip:monban.invalid>\r\n\
Call-ID: monban-probe@monban.invalid\r\n\
CSeq: 1 OPTIONS\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\
\r\n";

/// memcached `version` over UDP (memcached `protocol.txt`, "UDP protocol"): an 8-byte
/// frame header (request id, sequence number 0, 1 datagram, reserved) then the text
/// command. `version` answers with one short line; `stats` would answer with kilobytes.
const MEMCACHED_VERSION: [u8; 17] = concat(&[
    &[0x6d, 0x62], // request id "mb"
    &[0x00, 0x00], // sequence number
    &[0x00, 0x01], // total datagrams in this message
    &[0x00, 0x00], // reserved
    b"version\r\n",
]);

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use monban_wire::{build_udp, parse, udp, UdpProbe, L4};

    /// A cursor over a payload; every read fails the test if the payload is too short.
    struct Rd<'a> {
        buf: &'a [u8],
        at: usize,
    }

    impl<'a> Rd<'a> {
        fn new(buf: &'a [u8]) -> Rd<'a> {
            Rd { buf, at: 0 }
        }

        fn take(&mut self, n: usize) -> &'a [u8] {
            let out = self.buf.get(self.at..self.at + n).unwrap_or_else(|| {
                panic!("{n} bytes wanted at {}, have {}", self.at, self.buf.len())
            });
            self.at += n;
            out
        }

        fn u8(&mut self) -> u8 {
            self.take(1)[0]
        }

        fn u16(&mut self) -> u16 {
            u16::from_be_bytes(self.take(2).try_into().unwrap())
        }

        fn u32(&mut self) -> u32 {
            u32::from_be_bytes(self.take(4).try_into().unwrap())
        }

        fn left(&self) -> usize {
            self.buf.len() - self.at
        }

        fn rest(&mut self) -> &'a [u8] {
            self.take(self.left())
        }

        fn end(&self) {
            assert_eq!(self.left(), 0, "trailing bytes");
        }

        /// Reads a C string (bytes up to a NUL, which is consumed).
        fn cstr(&mut self) -> &'a [u8] {
            let rest = &self.buf[self.at..];
            let n = rest.iter().position(|&b| b == 0).expect("NUL terminator");
            let s = &rest[..n];
            self.at += n + 1;
            s
        }

        /// Reads an uncompressed DNS name (RFC 1035 §3.1) as its labels.
        fn dns_name(&mut self) -> Vec<&'a [u8]> {
            let mut labels = Vec::new();
            loop {
                let len = self.u8();
                assert!(len < 64, "label length {len} (pointer or reserved)");
                if len == 0 {
                    return labels;
                }
                labels.push(self.take(usize::from(len)));
            }
        }

        /// Reads one BER TLV (X.690 §8.1) with a single-byte tag and a definite length.
        fn tlv(&mut self) -> (u8, Rd<'a>) {
            let tag = self.u8();
            let first = self.u8();
            let len = if first < 0x80 {
                usize::from(first)
            } else {
                let n = usize::from(first & 0x7f);
                assert!((1..=2).contains(&n), "length of length {n}");
                self.take(n)
                    .iter()
                    .fold(0, |acc, &b| acc << 8 | usize::from(b))
            };
            (tag, Rd::new(self.take(len)))
        }
    }

    fn payload(name: &str) -> &'static UdpPayload {
        udp_payloads()
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no payload named {name}"))
    }

    /// BER INTEGER contents (two's complement, minimal) as i64.
    fn ber_int(mut c: Rd) -> i64 {
        let bytes = c.rest();
        assert!(!bytes.is_empty() && bytes.len() <= 8);
        if bytes.len() > 1 {
            let redundant =
                (bytes[0] == 0 && bytes[1] < 0x80) || (bytes[0] == 0xff && bytes[1] >= 0x80);
            assert!(!redundant, "non-minimal INTEGER {bytes:02x?}");
        }
        let neg = bytes[0] >= 0x80;
        bytes
            .iter()
            .fold(if neg { -1 } else { 0 }, |acc, &b| acc << 8 | i64::from(b))
    }

    /// BER OBJECT IDENTIFIER contents (X.690 §8.19) as arcs.
    fn ber_oid(mut c: Rd) -> Vec<u64> {
        let first = c.u8();
        let mut arcs = vec![u64::from(first / 40), u64::from(first % 40)];
        let mut acc = 0u64;
        for &b in c.rest() {
            acc = acc << 7 | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                arcs.push(acc);
                acc = 0;
            }
        }
        assert_eq!(acc, 0, "unfinished arc");
        arcs
    }

    #[test]
    fn dns_version_bind_chaos_txt() {
        let p = payload("dns");
        assert_eq!(p.ports, &[53]);
        let mut r = Rd::new(p.bytes);
        assert_eq!(r.u16(), 0x6d62, "ID");
        let flags = r.u16();
        assert_eq!(flags >> 15, 0, "QR query");
        assert_eq!(flags >> 11 & 0xf, 0, "OPCODE QUERY");
        assert_eq!(flags >> 8 & 1, 0, "RD clear: nothing is forwarded");
        assert_eq!(flags, 0);
        assert_eq!((r.u16(), r.u16(), r.u16(), r.u16()), (1, 0, 0, 0));
        assert_eq!(r.dns_name(), [&b"version"[..], b"bind"]);
        assert_eq!(r.u16(), 16, "QTYPE TXT");
        assert_eq!(r.u16(), 3, "QCLASS CH");
        r.end();
    }

    #[test]
    fn mdns_service_enumeration() {
        let p = payload("mdns");
        assert_eq!(p.ports, &[5353]);
        let mut r = Rd::new(p.bytes);
        assert_eq!(r.u16(), 0x6d62, "ID (legacy unicast: echoed)");
        assert_eq!(r.u16(), 0, "standard query");
        assert_eq!((r.u16(), r.u16(), r.u16(), r.u16()), (1, 0, 0, 0));
        assert_eq!(
            r.dns_name(),
            [&b"_services"[..], b"_dns-sd", b"_udp", b"local"]
        );
        assert_eq!(r.u16(), 12, "QTYPE PTR");
        let class = r.u16();
        assert_eq!(class & 0x7fff, 1, "QCLASS IN");
        assert_eq!(class >> 15, 0, "QU bit clear");
        r.end();
    }

    #[test]
    fn ntp_v4_client() {
        let p = payload("ntp");
        assert_eq!(p.ports, &[123]);
        assert_eq!(p.bytes.len(), 48);
        let mut r = Rd::new(p.bytes);
        let first = r.u8();
        assert_eq!(first, 0x23);
        assert_eq!(first >> 6, 0, "LI no warning");
        assert_eq!(first >> 3 & 7, 4, "VN 4");
        assert_eq!(first & 7, 3, "Mode client");
        assert_eq!(
            (r.u8(), r.u8(), r.u8()),
            (0, 0, 0),
            "stratum, poll, precision"
        );
        assert_eq!(
            (r.u32(), r.u32(), r.u32()),
            (0, 0, 0),
            "delay, dispersion, refid"
        );
        for what in ["reference", "origin", "receive"] {
            assert_eq!(r.take(8), [0; 8], "{what} timestamp");
        }
        let (secs, frac) = (r.u32(), r.u32());
        assert_eq!(secs, 0xe000_0000, "transmit seconds");
        assert_eq!(frac, u32::from_be_bytes(*b"monb"), "transmit fraction");
        r.end();
    }

    /// Decodes an SNMP GetRequest for sysDescr.0 and returns its version.
    fn snmp_get_sysdescr_version(bytes: &[u8]) -> i64 {
        let mut r = Rd::new(bytes);
        let (tag, mut msg) = r.tlv();
        r.end();
        assert_eq!(tag, 0x30, "Message SEQUENCE");
        let (tag, version) = msg.tlv();
        assert_eq!(tag, 0x02, "version INTEGER");
        let version = ber_int(version);
        let (tag, mut community) = msg.tlv();
        assert_eq!(tag, 0x04, "community OCTET STRING");
        assert_eq!(community.rest(), b"public");
        let (tag, mut pdu) = msg.tlv();
        msg.end();
        assert_eq!(
            tag, 0xa0,
            "GetRequest-PDU: context-specific, constructed, [0]"
        );
        let (tag, id) = pdu.tlv();
        assert_eq!(tag, 0x02);
        assert_eq!(ber_int(id), 0x6d6f_6e62, "request-id");
        let (tag, status) = pdu.tlv();
        assert_eq!((tag, ber_int(status)), (0x02, 0), "error-status noError");
        let (tag, index) = pdu.tlv();
        assert_eq!((tag, ber_int(index)), (0x02, 0), "error-index");
        let (tag, mut list) = pdu.tlv();
        pdu.end();
        assert_eq!(tag, 0x30, "VarBindList SEQUENCE OF");
        let (tag, mut bind) = list.tlv();
        list.end();
        assert_eq!(tag, 0x30, "VarBind SEQUENCE");
        let (tag, name) = bind.tlv();
        assert_eq!(tag, 0x06, "name OBJECT IDENTIFIER");
        assert_eq!(ber_oid(name), [1, 3, 6, 1, 2, 1, 1, 1, 0], "sysDescr.0");
        let (tag, value) = bind.tlv();
        bind.end();
        assert_eq!((tag, value.left()), (0x05, 0), "value NULL");
        version
    }

    #[test]
    fn snmp_v2c_get_sysdescr() {
        let p = payload("snmp-v2c");
        assert_eq!(p.ports, &[161]);
        assert_eq!(snmp_get_sysdescr_version(p.bytes), 1, "version-2c(1)");
    }

    #[test]
    fn snmp_v1_get_sysdescr() {
        assert_eq!(
            snmp_get_sysdescr_version(SNMP_V1_GET_SYSDESCR),
            0,
            "version-1(0)"
        );
        // Same request otherwise: only the version byte differs.
        let v2c = payload("snmp-v2c").bytes;
        let diff: Vec<usize> = (0..v2c.len())
            .filter(|&i| v2c[i] != SNMP_V1_GET_SYSDESCR[i])
            .collect();
        assert_eq!(diff, [4]);
    }

    #[test]
    fn netbios_ns_node_status_of_star() {
        let p = payload("netbios-ns");
        assert_eq!(p.ports, &[137]);
        let mut r = Rd::new(p.bytes);
        assert_eq!(r.u16(), 0x6d62, "NAME_TRN_ID");
        let flags = r.u16();
        assert_eq!(flags >> 15, 0, "R request");
        assert_eq!(flags >> 11 & 0xf, 0, "OPCODE query");
        assert_eq!(flags >> 4 & 0x7f, 0, "NM_FLAGS: no broadcast, no recursion");
        assert_eq!((r.u16(), r.u16(), r.u16(), r.u16()), (1, 0, 0, 0));
        let labels = r.dns_name();
        assert_eq!(labels.len(), 1, "no scope id");
        let encoded = labels[0];
        assert_eq!(encoded.len(), 32);
        // First-level decoding (RFC 1001 §14.1): two letters 'A'..='P' per byte.
        let name: Vec<u8> = encoded
            .chunks(2)
            .map(|pair| {
                assert!(pair.iter().all(|c| (b'A'..=b'P').contains(c)), "{pair:?}");
                (pair[0] - b'A') << 4 | (pair[1] - b'A')
            })
            .collect();
        let mut want = [0u8; 16];
        want[0] = b'*';
        assert_eq!(name, want);
        assert_eq!(r.u16(), 0x21, "QUESTION_TYPE NBSTAT");
        assert_eq!(r.u16(), 1, "QUESTION_CLASS IN");
        r.end();
    }

    /// Splits an HTTP-like message into its start line and header fields (name lowercased);
    /// asserts CRLF line ends, the empty line, and that no field appears twice.
    fn http_like(
        bytes: &'static [u8],
    ) -> (&'static str, BTreeMap<String, &'static str>, &'static str) {
        let text = std::str::from_utf8(bytes).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("empty line");
        let mut lines = head.split("\r\n");
        let start = lines.next().expect("start line");
        let mut fields = BTreeMap::new();
        for line in lines {
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
            let (name, value) = line.split_once(':').expect("field name");
            assert!(!name.is_empty() && !name.contains(' '), "{name:?}");
            let old = fields.insert(name.to_ascii_lowercase(), value.trim());
            assert!(old.is_none(), "{name} twice");
        }
        (start, fields, body)
    }

    #[test]
    fn ssdp_m_search() {
        let p = payload("ssdp");
        assert_eq!(p.ports, &[1900]);
        let (start, fields, body) = http_like(p.bytes);
        assert_eq!(start, "M-SEARCH * HTTP/1.1");
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            fields,
            [
                ("host", "239.255.255.250:1900"),
                ("man", "\"ssdp:discover\""),
                ("mx", "1"),
                ("st", "ssdp:all"),
            ]
        );
        assert_eq!(body, "");
    }

    #[test]
    fn tftp_read_request() {
        let p = payload("tftp");
        assert_eq!(p.ports, &[69]);
        let mut r = Rd::new(p.bytes);
        assert_eq!(r.u16(), 1, "opcode RRQ");
        let file = r.cstr();
        assert_eq!(file, b"monban-probe-no-such-file");
        assert!(!file.contains(&b'/') && !file.contains(&b'\\'), "no path");
        assert_eq!(r.cstr(), b"octet", "mode");
        r.end();
    }

    /// Decodes an ONC RPC NULL call with AUTH_NONE and returns (prog, vers).
    fn rpc_null(bytes: &[u8]) -> (u32, u32) {
        let mut r = Rd::new(bytes);
        assert_eq!(r.take(4), b"monb", "xid");
        assert_eq!(r.u32(), 0, "msg_type CALL");
        assert_eq!(r.u32(), 2, "rpcvers");
        let (prog, vers) = (r.u32(), r.u32());
        assert_eq!(r.u32(), 0, "proc NULL");
        for what in ["cred", "verf"] {
            assert_eq!(r.u32(), 0, "{what} flavor AUTH_NONE");
            assert_eq!(r.u32(), 0, "{what} body length");
        }
        r.end();
        (prog, vers)
    }

    #[test]
    fn rpc_portmap_null() {
        let p = payload("rpc-portmap");
        assert_eq!(p.ports, &[111]);
        assert_eq!(rpc_null(p.bytes), (100_000, 2));
    }

    #[test]
    fn rpc_nfs_null() {
        let p = payload("rpc-nfs");
        assert_eq!(p.ports, &[2049]);
        assert_eq!(rpc_null(p.bytes), (100_003, 3));
    }

    /// Decodes an IKEv2 IKE_SA_INIT request as we build it.
    fn ike_sa_init(bytes: &[u8]) {
        let mut r = Rd::new(bytes);
        assert_eq!(r.take(8), b"monban\x00\x01", "initiator SPI");
        assert_eq!(r.take(8), [0; 8], "responder SPI");
        let mut next = r.u8();
        assert_eq!(next, 33, "first payload SA");
        assert_eq!(r.u8(), 0x20, "version 2.0");
        assert_eq!(r.u8(), 34, "IKE_SA_INIT");
        assert_eq!(r.u8(), 0x08, "flags: Initiator only");
        assert_eq!(r.u32(), 0, "message ID");
        assert_eq!(r.u32() as usize, bytes.len(), "length");
        let mut seen = Vec::new();
        while next != 0 {
            seen.push(next);
            let this = next;
            next = r.u8();
            assert_eq!(r.u8(), 0, "not critical, reserved zero");
            let len = usize::from(r.u16());
            let mut body = Rd::new(r.take(len - 4));
            match this {
                33 => {
                    assert_eq!(body.u8(), 0, "last proposal");
                    assert_eq!(body.u8(), 0);
                    assert_eq!(usize::from(body.u16()), len - 4, "proposal length");
                    assert_eq!(body.u8(), 1, "proposal number");
                    assert_eq!(body.u8(), 1, "protocol IKE");
                    assert_eq!(body.u8(), 0, "SPI size");
                    let count = body.u8();
                    let mut transforms = Vec::new();
                    for i in 0..count {
                        let more = body.u8();
                        assert_eq!(more, if i + 1 == count { 0 } else { 3 });
                        assert_eq!(body.u8(), 0);
                        let tlen = usize::from(body.u16());
                        let mut t = Rd::new(body.take(tlen - 4));
                        let ttype = t.u8();
                        assert_eq!(t.u8(), 0);
                        let id = t.u16();
                        let mut attrs = Vec::new();
                        while t.left() > 0 {
                            let kind = t.u16();
                            assert_eq!(kind >> 15, 1, "TV format");
                            attrs.push((kind & 0x7fff, t.u16()));
                        }
                        transforms.push((ttype, id, attrs));
                    }
                    body.end();
                    assert_eq!(
                        transforms,
                        [
                            (1, 12, vec![(14, 128)]), // ENCR_AES_CBC, Key Length 128
                            (2, 5, vec![]),           // PRF_HMAC_SHA2_256
                            (3, 12, vec![]),          // AUTH_HMAC_SHA2_256_128
                            (4, 31, vec![]),          // Curve25519
                        ]
                    );
                }
                34 => {
                    assert_eq!(body.u16(), 31, "DH group Curve25519");
                    assert_eq!(body.u16(), 0, "reserved");
                    let key = body.rest();
                    assert_eq!(key.len(), 32, "Curve25519 public value");
                    let mut base = [0u8; 32];
                    base[0] = 9;
                    assert_eq!(key, base, "u = 9, little-endian");
                }
                40 => {
                    let nonce = body.rest();
                    assert!((16..=256).contains(&nonce.len()), "nonce size");
                    assert!(nonce.len() >= 16, "at least half of SHA-256's key size");
                    assert_eq!(nonce, b"monban-ike-sa-init-probe-nonce-1");
                }
                other => panic!("unexpected payload {other}"),
            }
        }
        assert_eq!(seen, [33, 34, 40], "SA, KE, Nonce");
        r.end();
    }

    #[test]
    fn ike_v2_sa_init() {
        let p = payload("ike");
        assert_eq!(p.ports, &[500]);
        ike_sa_init(p.bytes);
    }

    #[test]
    fn ike_v2_sa_init_behind_non_esp_marker() {
        let p = payload("ike-nat-t");
        assert_eq!(p.ports, &[4500]);
        let mut r = Rd::new(p.bytes);
        assert_eq!(r.u32(), 0, "non-ESP marker");
        let rest = r.rest();
        ike_sa_init(rest);
        assert_eq!(rest, payload("ike").bytes);
    }

    #[test]
    fn stun_binding_request() {
        let p = payload("stun");
        assert_eq!(p.ports, &[3478]);
        let mut r = Rd::new(p.bytes);
        let kind = r.u16();
        assert_eq!(kind >> 14, 0, "top two bits zero");
        let class = (kind >> 7 & 2) | (kind >> 4 & 1);
        let method = (kind & 0xf) | (kind >> 1 & 0x70) | (kind >> 2 & 0xf80);
        assert_eq!((class, method), (0, 1), "request, Binding");
        assert_eq!(r.u16(), 0, "message length");
        assert_eq!(r.u32(), 0x2112_a442, "magic cookie");
        assert_eq!(r.take(12), b"monban\0\0\0\0\0\x01", "transaction ID");
        r.end();
    }

    #[test]
    fn quic_forces_version_negotiation() {
        let p = payload("quic");
        assert_eq!(p.ports, &[443]);
        assert_eq!(p.bytes.len(), 1200, "minimum Initial datagram size");
        let mut r = Rd::new(p.bytes);
        let first = r.u8();
        assert_eq!(first >> 7, 1, "long header");
        assert_eq!(first >> 6 & 1, 1, "fixed bit");
        let version = r.u32();
        assert_eq!(version, 0x1a2a_3a4a);
        assert_eq!(
            version & 0x0f0f_0f0f,
            0x0a0a_0a0a,
            "reserved version pattern"
        );
        let dcid_len = usize::from(r.u8());
        assert!(
            (8..=20).contains(&dcid_len),
            "DCID 8..=20 bytes for a first packet"
        );
        assert_eq!(r.take(dcid_len), b"monban\x00\x01");
        let scid_len = usize::from(r.u8());
        assert!(scid_len <= 20);
        assert_eq!(r.take(scid_len), b"monban\x00\x02");
        assert!(r.rest().iter().all(|&b| b == 0), "zero padding");
    }

    #[test]
    fn sip_options() {
        let p = payload("sip");
        assert_eq!(p.ports, &[5060]);
        let (start, fields, body) = http_like(p.bytes);
        assert_eq!(start, "OPTIONS sip:monban.invalid SIP/2.0");
        let via = fields["via"];
        let (proto, params) = via.split_once(' ').unwrap();
        assert_eq!(proto, "SIP/2.0/UDP");
        let mut params = params.split(';');
        assert_eq!(params.next(), Some("monban.invalid"), "sent-by");
        let params: BTreeSet<&str> = params.collect();
        assert!(params.contains("rport"), "RFC 3581");
        let branch = params
            .iter()
            .find_map(|p| p.strip_prefix("branch="))
            .unwrap();
        assert!(branch.starts_with("z9hG4bK"), "RFC 3261 magic cookie");
        assert_eq!(fields["max-forwards"], "70");
        assert!(fields["from"].contains(";tag="), "From needs a tag");
        assert!(!fields["to"].contains("tag="), "no To tag outside a dialog");
        assert_eq!(fields["call-id"], "monban-probe@monban.invalid");
        assert_eq!(
            fields["cseq"], "1 OPTIONS",
            "CSeq method equals the request's"
        );
        assert_eq!(fields["content-length"], "0");
        assert_eq!(body, "");
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "accept",
                "call-id",
                "content-length",
                "cseq",
                "from",
                "max-forwards",
                "to",
                "via"
            ]
        );
    }

    #[test]
    fn memcached_version() {
        let p = payload("memcached");
        assert_eq!(p.ports, &[11211]);
        let mut r = Rd::new(p.bytes);
        assert_eq!(r.u16(), 0x6d62, "request id");
        assert_eq!(r.u16(), 0, "sequence number");
        assert_eq!(r.u16(), 1, "total datagrams");
        assert_eq!(r.u16(), 0, "reserved");
        assert_eq!(r.rest(), b"version\r\n");
    }

    #[test]
    fn the_table() {
        let names: Vec<&str> = udp_payloads().iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "dns",
                "tftp",
                "rpc-portmap",
                "ntp",
                "netbios-ns",
                "snmp-v2c",
                "quic",
                "ike",
                "ssdp",
                "rpc-nfs",
                "stun",
                "ike-nat-t",
                "sip",
                "mdns",
                "memcached",
            ]
        );
        let mut ports = BTreeSet::new();
        for p in udp_payloads() {
            assert!(!p.ports.is_empty(), "{}", p.name);
            assert!(!p.bytes.is_empty(), "{}", p.name);
            for &port in p.ports {
                assert!(ports.insert(port), "port {port} in two payloads");
                assert_eq!(udp_payload(port), Some(p.bytes), "port {port}");
            }
        }
        let want: BTreeSet<u16> = [
            53, 69, 111, 123, 137, 161, 443, 500, 1900, 2049, 3478, 4500, 5060, 5353, 11211,
        ]
        .into();
        assert_eq!(ports, want);
    }

    #[test]
    fn no_payload_elsewhere() {
        for port in [0, 1, 7, 52, 54, 67, 80, 162, 514, 1194, 5355, 65535] {
            assert_eq!(udp_payload(port), None, "port {port}");
        }
        let covered = (0..=u16::MAX).filter(|&p| udp_payload(p).is_some()).count();
        assert_eq!(covered, 15);
    }

    #[test]
    fn every_payload_builds_and_parses_back() {
        let pairs = [
            (
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            ),
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            ),
        ];
        let mut buf = [0u8; 1280];
        for p in udp_payloads() {
            for &port in p.ports {
                for (src, dst) in pairs {
                    let probe = UdpProbe {
                        src,
                        dst,
                        ttl: 64,
                        ip_id: 0x1234,
                        src_port: 40_000,
                        dst_port: port,
                        payload: p.bytes,
                    };
                    let n = build_udp(&mut buf, &probe).unwrap();
                    let ip_len = if src.is_ipv4() { 20 } else { 40 };
                    assert_eq!(n, ip_len + udp::HEADER_LEN + p.bytes.len(), "{}", p.name);
                    let parsed = parse(&buf[..n]).unwrap();
                    assert_eq!((parsed.src, parsed.dst, parsed.ttl), (src, dst, 64));
                    assert_eq!(
                        parsed.l4,
                        L4::Udp {
                            src_port: 40_000,
                            dst_port: port,
                            payload: p.bytes
                        },
                        "{}",
                        p.name
                    );
                    let seg = udp::Packet::new_checked(&buf[ip_len..n]).unwrap();
                    assert!(seg.verify_checksum(src, dst), "{} checksum", p.name);
                }
            }
        }
    }

    #[test]
    fn every_payload_fits_the_ipv6_minimum_mtu() {
        let largest = udp_payloads().iter().map(|p| p.bytes.len()).max().unwrap();
        assert_eq!(largest, 1200, "QUIC");
        assert!(
            largest + udp::HEADER_LEN + 40 <= 1280,
            "IPv6 header, UDP header"
        );
    }
}
