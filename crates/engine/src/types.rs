//! Result vocabulary shared by the engine, the outputs and the binary.
//!
//! Names follow nmap's words (`open`, `closed|filtered`, `syn-ack`, ...) so that
//! nmap users read monban's output without a dictionary.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// Transport protocol of a port: the one TCP/UDP type, defined with the data.
pub use monban_data::Protocol;

/// How ports are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanType {
    /// Half-open SYN scan over raw sockets (`-sS`).
    Syn,
    /// Full three-way handshake through the kernel (`-sT`).
    Connect,
    /// FIN probes (`-sF`): RST → closed, silence → open|filtered.
    Fin,
    /// Probes without flags (`-sN`).
    Null,
    /// FIN+PSH+URG probes (`-sX`).
    Xmas,
    /// ACK probes (`-sA`): RST → unfiltered, silence → filtered. Maps firewall rules.
    Ack,
    /// ACK probes read by the RST's window (`-sW`): non-zero → open, zero → closed.
    Window,
    /// UDP datagrams (`-sU`), with a protocol payload where we have one: a UDP answer →
    /// open, ICMP port unreachable from the target → closed, other ICMP unreachables →
    /// filtered, silence → open|filtered.
    Udp,
    /// FTP bounce (`-b`): an FTP server is asked to open data connections to the target's
    /// ports; it connects from its own address, so the scan comes through its vantage
    /// point. Driven by [`crate::bounce`], not by [`crate::Scan`].
    Bounce,
}

impl ScanType {
    /// Every scan type.
    pub const ALL: [ScanType; 9] = [
        ScanType::Syn,
        ScanType::Connect,
        ScanType::Fin,
        ScanType::Null,
        ScanType::Xmas,
        ScanType::Ack,
        ScanType::Window,
        ScanType::Udp,
        ScanType::Bounce,
    ];

    /// The scan type of an [`as_str`](Self::as_str) spelling.
    pub fn parse(s: &str) -> Option<ScanType> {
        ScanType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// nmap's XML `scaninfo type` value (`syn`, `connect`, `fin`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ScanType::Syn => "syn",
            ScanType::Connect => "connect",
            ScanType::Fin => "fin",
            ScanType::Null => "null",
            ScanType::Xmas => "xmas",
            ScanType::Ack => "ack",
            ScanType::Window => "window",
            ScanType::Udp => "udp",
            ScanType::Bounce => "bounce",
        }
    }

    /// Human name used in normal output ("SYN Stealth Scan", "Connect Scan", ...).
    pub fn long_name(self) -> &'static str {
        match self {
            ScanType::Syn => "SYN Stealth Scan",
            ScanType::Connect => "Connect Scan",
            ScanType::Fin => "FIN Scan",
            ScanType::Null => "NULL Scan",
            ScanType::Xmas => "XMAS Scan",
            ScanType::Ack => "ACK Scan",
            ScanType::Window => "Window Scan",
            ScanType::Udp => "UDP Scan",
            ScanType::Bounce => "FTP Bounce Scan",
        }
    }

    /// Whether the scan sends its own packets over raw sockets (needs CAP_NET_RAW).
    pub fn needs_raw_sockets(self) -> bool {
        !matches!(self, ScanType::Connect | ScanType::Bounce)
    }

    /// TCP flag bits (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20) of the
    /// probes this scan sends; 0 for a connect scan, which the kernel builds.
    pub fn probe_flags(self) -> u8 {
        match self {
            ScanType::Syn => 0x02,
            ScanType::Connect => 0,
            ScanType::Fin => 0x01,
            ScanType::Null => 0,
            ScanType::Xmas => 0x01 | 0x08 | 0x20,
            ScanType::Ack | ScanType::Window => 0x10,
            ScanType::Udp | ScanType::Bounce => 0,
        }
    }

    /// The transport the scan probes.
    pub fn protocol(self) -> Protocol {
        match self {
            ScanType::Udp => Protocol::Udp,
            _ => Protocol::Tcp,
        }
    }

    /// The state of a port that never answered any try.
    pub fn silent_state(self) -> PortState {
        match self {
            ScanType::Fin | ScanType::Null | ScanType::Xmas | ScanType::Udp => {
                PortState::OpenFiltered
            }
            _ => PortState::Filtered,
        }
    }
}

/// The state of one port, in nmap's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortState {
    /// Something accepts connections there.
    Open,
    /// The host answers, but nothing listens (RST, port unreachable).
    Closed,
    /// No answer, or an ICMP error from a filter: the door cannot be seen.
    Filtered,
    /// Reachable, but open or closed could not be told (ACK scan).
    Unfiltered,
    /// Open or filtered: no answer where open ports stay silent.
    OpenFiltered,
    /// Closed or filtered (IP ID idle scan).
    ClosedFiltered,
}

impl PortState {
    /// All states, in display order.
    pub const ALL: [PortState; 6] = [
        PortState::Open,
        PortState::Closed,
        PortState::Filtered,
        PortState::Unfiltered,
        PortState::OpenFiltered,
        PortState::ClosedFiltered,
    ];

    /// nmap's spelling of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unfiltered => "unfiltered",
            PortState::OpenFiltered => "open|filtered",
            PortState::ClosedFiltered => "closed|filtered",
        }
    }

    /// Parses nmap's spelling.
    pub fn parse(s: &str) -> Option<PortState> {
        PortState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a port or host got its state, in nmap's reason names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// TCP SYN/ACK received.
    SynAck,
    /// TCP RST received.
    Reset,
    /// connect() was refused (the kernel saw a RST).
    ConnRefused,
    /// No reply after every retry.
    NoResponse,
    /// ICMP destination unreachable, communication administratively prohibited.
    AdminProhibited,
    /// ICMP destination unreachable, host unreachable.
    HostUnreach,
    /// ICMP destination unreachable, network unreachable.
    NetUnreach,
    /// ICMP destination unreachable, port unreachable.
    PortUnreach,
    /// ICMP destination unreachable, protocol unreachable.
    ProtoUnreach,
    /// ICMP destination unreachable, host prohibited.
    HostProhibited,
    /// ICMP destination unreachable, network prohibited.
    NetProhibited,
    /// A UDP reply.
    UdpResponse,
    /// ICMP echo reply.
    EchoReply,
    /// ICMP timestamp reply (`-PP`).
    TimestampReply,
    /// The user said so (`-Pn`: host assumed up).
    UserSet,
    /// The target is this machine.
    LocalhostResponse,
    /// An ARP reply on the local segment.
    ArpResponse,
    /// A solicited IPv6 Neighbor Advertisement on the local segment.
    NdResponse,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 18] = [
        Reason::SynAck,
        Reason::Reset,
        Reason::ConnRefused,
        Reason::NoResponse,
        Reason::AdminProhibited,
        Reason::HostUnreach,
        Reason::NetUnreach,
        Reason::PortUnreach,
        Reason::ProtoUnreach,
        Reason::HostProhibited,
        Reason::NetProhibited,
        Reason::UdpResponse,
        Reason::EchoReply,
        Reason::TimestampReply,
        Reason::UserSet,
        Reason::LocalhostResponse,
        Reason::ArpResponse,
        Reason::NdResponse,
    ];

    /// The reason of an [`as_str`](Self::as_str) spelling.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// nmap's spelling of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::ConnRefused => "conn-refused",
            Reason::NoResponse => "no-response",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::PortUnreach => "port-unreach",
            Reason::ProtoUnreach => "proto-unreach",
            Reason::HostProhibited => "host-prohibited",
            Reason::NetProhibited => "net-prohibited",
            Reason::UdpResponse => "udp-response",
            Reason::EchoReply => "echo-reply",
            Reason::TimestampReply => "timestamp-reply",
            Reason::UserSet => "user-set",
            Reason::LocalhostResponse => "localhost-response",
            Reason::ArpResponse => "arp-response",
            Reason::NdResponse => "nd-response",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict for one port of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortResult {
    /// Port number.
    pub port: u16,
    /// Transport protocol.
    pub proto: Protocol,
    /// Final state.
    pub state: PortState,
    /// Why.
    pub reason: Reason,
    /// TTL (IPv4) or hop limit (IPv6) of the reply that decided it, if a packet did.
    pub ttl: Option<u8>,
}

/// Whether a host is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostStatus {
    /// The host answered, or `-Pn` said to assume it.
    Up,
    /// Nothing answered.
    Down,
}

impl HostStatus {
    /// The status of an [`as_str`](Self::as_str) spelling.
    pub fn parse(s: &str) -> Option<HostStatus> {
        [HostStatus::Up, HostStatus::Down]
            .into_iter()
            .find(|h| h.as_str() == s)
    }

    /// nmap's spelling (`up`, `down`).
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Up => "up",
            HostStatus::Down => "down",
        }
    }
}

/// Everything learnt about one host, handed to the sinks when the host is done.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    /// The scanned address.
    pub addr: IpAddr,
    /// The name the user gave or reverse DNS found.
    pub name: Option<String>,
    /// Up or down.
    pub status: HostStatus,
    /// Why up or down.
    pub status_reason: Reason,
    /// TTL of the reply behind `status_reason`, if any.
    pub status_ttl: Option<u8>,
    /// When scanning of this host began.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// One entry per scanned port, in ascending (protocol, port) order.
    pub ports: Vec<PortResult>,
    /// `--host-timeout` ran out: `ports` is incomplete and should not be shown.
    pub timed_out: bool,
    /// The scan was interrupted before this host was finished: unresolved ports
    /// are absent from `ports`.
    pub incomplete: bool,
    /// Smoothed round-trip time measured to this host.
    pub srtt: Option<Duration>,
    /// Its hardware address, when discovery found it on the local segment (ARP / ND).
    pub mac: Option<monban_wire::MacAddr>,
    /// What version detection (`-sV`) identified, one entry per identified port in
    /// ascending (protocol, port) order; empty without `-sV`.
    pub services: Vec<ServiceDetail>,
    /// Risk notes for open ports of risky services, one per port in ascending
    /// (protocol, port) order; filled by the binary from the risk table, empty otherwise.
    pub risks: Vec<RiskNote>,
}

impl HostReport {
    /// The version-detection result for one port, if there is one.
    pub fn service(&self, port: u16, proto: Protocol) -> Option<&ServiceDetail> {
        self.services
            .iter()
            .find(|s| s.port == port && s.proto == proto)
    }
}

impl HostReport {
    /// The risk note for one port, if there is one.
    pub fn risk(&self, port: u16, proto: Protocol) -> Option<&RiskNote> {
        self.risks
            .iter()
            .find(|r| r.port == port && r.proto == proto)
    }
}

/// Why an open port is risky to expose and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskNote {
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub proto: Protocol,
    /// `low`, `medium`, `high` or `critical`.
    pub level: String,
    /// Name of the risk-table entry (`telnet`, `trojan-netbus`, ...).
    pub name: String,
    /// Why it is risky.
    pub why: String,
    /// What to do about it.
    pub advice: String,
}

/// What version detection (`-sV`) found on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDetail {
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub proto: Protocol,
    /// Service name (`ssh`, `http`, ...).
    pub name: String,
    /// Product, e.g. `OpenSSH`.
    pub product: Option<String>,
    /// Product version, e.g. `9.2p1`.
    pub version: Option<String>,
    /// Extra information (patch level, protocol version, ...).
    pub info: Option<String>,
    /// Host name the service announced.
    pub hostname: Option<String>,
    /// Operating system hint.
    pub os: Option<String>,
    /// CPE names, application first.
    pub cpe: Vec<String>,
    /// Only the service is known, not the product (a soft match).
    pub soft: bool,
    /// The tunnel the service was identified through: `ssl` when probes inside TLS found
    /// it (nmap's `tunnel="ssl"`, shown `ssl/http`), else `None`.
    pub tunnel: Option<String>,
    /// What the TLS handshake on this port showed, when one succeeded.
    pub tls: Option<TlsDetail>,
}

/// What a TLS handshake with a service showed (`-sV` on a TLS port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDetail {
    /// Negotiated protocol version: `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// Negotiated cipher suite, IANA name (`TLS_AES_256_GCM_SHA384`).
    pub cipher: String,
    /// The server's certificate (the first of its chain), if it could be read.
    pub cert: Option<CertDetail>,
    /// Why the certificate could not be read (none sent, malformed); `None` with `cert`.
    pub cert_error: Option<String>,
}

/// What a server certificate says, as far as a scan shows it (nothing is verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetail {
    /// Subject attributes in certificate order, by short name: `("CN", "lab.example")`.
    pub subject: Vec<(String, String)>,
    /// Issuer attributes, likewise.
    pub issuer: Vec<(String, String)>,
    /// Start of validity, ISO 8601 UTC: `2024-01-31T00:00:00Z`.
    pub not_before: String,
    /// End of validity, same form.
    pub not_after: String,
    /// Subject alternative names: `DNS:lab.example`, `IP:192.0.2.1`.
    pub alt_names: Vec<String>,
    /// The public key: `rsa 2048`, `ec 256 (P-256)`, `ed25519 256`.
    pub key: Option<String>,
    /// Signature algorithm, e.g. `sha256WithRSAEncryption`.
    pub signature: String,
    /// SHA-256 of the certificate's DER bytes, lower-case hex.
    pub sha256: String,
}

/// One host-discovery probe (`-PE`, `-PP`, `-PS`, `-PA`, `-PU`, or a connect when
/// unprivileged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PingProbe {
    /// ICMP / ICMPv6 echo request (`-PE`).
    Echo,
    /// TCP SYN to a port (`-PS`): SYN/ACK or RST means up.
    Syn(u16),
    /// TCP ACK to a port (`-PA`): RST means up (passes stateless filters that drop SYN).
    Ack(u16),
    /// A `connect()` to a port (unprivileged): connected or refused means up.
    Connect(u16),
    /// ICMP timestamp request (`-PP`, type 13): a timestamp reply (type 14) means up
    /// (reason `timestamp-reply`). IPv4 only: ICMPv6 has no timestamp message, so for an
    /// IPv6 target this probe is skipped without a word (the host's other probes decide).
    Timestamp,
    /// UDP datagram to a port (`-PU`, default [`PingProbe::DEFAULT_UDP_PORT`]): any UDP
    /// answer (`udp-response`) or an ICMP port unreachable from the target itself
    /// (`port-unreach`) means up; other ICMP unreachables (e.g. a router's) do not.
    Udp(u16),
}

impl PingProbe {
    /// nmap's default discovery probes for a privileged scan of non-local targets:
    /// an echo request, a SYN to 443 and an ACK to 80.
    pub const DEFAULT_RAW: [PingProbe; 3] =
        [PingProbe::Echo, PingProbe::Syn(443), PingProbe::Ack(80)];
    /// Without raw sockets: connects to 80 and 443.
    pub const DEFAULT_CONNECT: [PingProbe; 2] = [PingProbe::Connect(80), PingProbe::Connect(443)];
    /// The port `-PU` probes when none is given: a high port that is almost never
    /// open, so a live host answers with port unreachable.
    pub const DEFAULT_UDP_PORT: u16 = 40125;

    /// Whether the probe goes through `connect()` rather than raw sockets.
    pub fn is_connect(self) -> bool {
        matches!(self, PingProbe::Connect(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_parse_back() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
        for t in ScanType::ALL {
            assert_eq!(ScanType::parse(t.as_str()), Some(t));
        }
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        for h in [HostStatus::Up, HostStatus::Down] {
            assert_eq!(HostStatus::parse(h.as_str()), Some(h));
        }
        assert_eq!(Reason::parse("nonsense"), None);
    }
}
