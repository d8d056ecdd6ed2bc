//! TLS for version detection: a rustls client that accepts any certificate (a scan
//! inspects what a server presents, it does not trust it), driven over a non-blocking
//! socket, and what its handshake showed as a [`TlsDetail`].
//!
//! Only TLS 1.2 and 1.3 are spoken (rustls has nothing older); a server that offers
//! nothing newer fails the handshake with [`TlsError::Handshake`].

use super::x509::Certificate;
use monban_engine::types::{CertDetail, TlsDetail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use socket2::Socket;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

// The TLS port table, the error type and the "looks like TLS" test are policy: they
// live with the session in the engine, and are re-exported here where they always were.
pub use monban_engine::version::{
    is_tls_port, looks_like_tls, plain_port, TlsError, MAX_HANDSHAKE_BYTES, TLS_PORTS,
};

/// Accepts every certificate and every handshake signature: a scan reads what the
/// server presents; nothing is sent that trusting it would protect.
#[derive(Debug)]
struct InspectOnly;

impl ServerCertVerifier for InspectOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    /// Every scheme, so that a server with any key type can complete the handshake.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ECDSA_NISTP521_SHA512,
            SignatureScheme::ED25519,
            SignatureScheme::ED448,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PKCS1_SHA384,
            SignatureScheme::RSA_PKCS1_SHA512,
            SignatureScheme::RSA_PKCS1_SHA1,
            SignatureScheme::ECDSA_SHA1_Legacy,
        ]
    }
}

/// The shared client configuration: ring's algorithms, TLS 1.3 and 1.2, any
/// certificate, rustls's in-memory session cache (later probes to a port resume).
fn config() -> Result<Arc<ClientConfig>, TlsError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, TlsError>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|e| TlsError::Setup(e.to_string()))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(InspectOnly))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Writes to a socket without raising SIGPIPE.
struct NoSigpipe<'s>(&'s Socket);

impl Write for NoSigpipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send_with_flags(buf, libc::MSG_NOSIGNAL)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What one [`TlsStream::pump`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pumped {
    /// Nothing final: wait for the socket.
    Pending,
    /// The peer closed (after the handshake: the reply is complete).
    Closed,
    /// The handshake failed.
    Failed(TlsError),
}

/// A TLS client connection over a non-blocking socket.
pub(crate) struct TlsStream {
    conn: ClientConnection,
    /// Raw bytes received while handshaking.
    handshake_bytes: usize,
    /// The plaintext to send once the handshake is done, and how much of it was queued.
    payload: Vec<u8>,
    queued: bool,
}

impl TlsStream {
    /// A client for a server at `addr` (no SNI: the name is an address).
    pub(crate) fn new(addr: IpAddr) -> Result<TlsStream, TlsError> {
        let conn = ClientConnection::new(config()?, ServerName::IpAddress(addr.into()))
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        Ok(TlsStream {
            conn,
            handshake_bytes: 0,
            payload: Vec::new(),
            queued: false,
        })
    }

    /// Whether the handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether TLS bytes wait to be written (ask for writability).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Plaintext to send as soon as the handshake is done (replaces any earlier payload
    /// not yet queued).
    pub(crate) fn send_after_handshake(&mut self, payload: &[u8]) {
        self.payload = payload.to_vec();
        self.queued = false;
    }

    /// Moves bytes both ways as far as the socket allows: TLS records out, TLS records
    /// in, decrypted application data appended to `reply` (at most `max_reply` bytes in
    /// all). Bounded work per call.
    pub(crate) fn pump(&mut self, sock: &Socket, reply: &mut Vec<u8>, max_reply: usize) -> Pumped {
        const ROUNDS: usize = 64;
        for _ in 0..ROUNDS {
            if !self.conn.is_handshaking() && !self.queued {
                self.queued = true;
                if !self.payload.is_empty() {
                    // Buffered by rustls (its send buffer is unlimited by default).
                    let _ = self.conn.writer().write_all(&self.payload);
                }
            }
            let mut progress = false;
            while self.conn.wants_write() {
                match self.conn.write_tls(&mut NoSigpipe(sock)) {
                    Ok(0) => break,
                    Ok(_) => progress = true,
                    Err(e) if is_transient(&e) => break,
                    // The peer is gone; what it sent is read below.
                    Err(_) => break,
                }
            }
            let mut src = sock;
            match self.conn.read_tls(&mut src) {
                Ok(0) => {
                    return self.finish_read(reply, max_reply, true);
                }
                Ok(n) => {
                    progress = true;
                    if self.conn.is_handshaking() {
                        self.handshake_bytes += n;
                        if self.handshake_bytes > MAX_HANDSHAKE_BYTES {
                            return Pumped::Failed(TlsError::TooLong);
                        }
                    }
                    if let Err(e) = self.conn.process_new_packets() {
                        if self.conn.is_handshaking() {
                            return Pumped::Failed(TlsError::Handshake(e.to_string()));
                        }
                        // A broken record after the handshake ends the reply.
                        return self.finish_read(reply, max_reply, true);
                    }
                }
                Err(e) if is_transient(&e) => {}
                // "received plaintext buffer full": drained below.
                Err(e) if e.kind() == io::ErrorKind::Other => progress = true,
                Err(_) => return self.finish_read(reply, max_reply, true),
            }
            if let Pumped::Closed = self.finish_read(reply, max_reply, false) {
                return Pumped::Closed;
            }
            if !progress {
                break;
            }
        }
        Pumped::Pending
    }

    /// Drains decrypted data into `reply`; `eof` when the socket has closed.
    fn finish_read(&mut self, reply: &mut Vec<u8>, max_reply: usize, eof: bool) -> Pumped {
        if eof && self.conn.is_handshaking() {
            return Pumped::Failed(TlsError::Closed);
        }
        let mut buf = [0u8; 4096];
        loop {
            let room = max_reply.saturating_sub(reply.len()).min(buf.len());
            let Some(chunk) = buf.get_mut(..room).filter(|b| !b.is_empty()) else {
                return Pumped::Closed; // read as much as we ever look at
            };
            match self.conn.reader().read(chunk) {
                Ok(0) => return Pumped::Closed, // close_notify
                Ok(n) => reply.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if eof { Pumped::Closed } else { Pumped::Pending };
                }
                // Closed without close_notify, or anything else: the reply is over.
                Err(_) => return Pumped::Closed,
            }
        }
    }

    /// What the finished handshake showed; `None` while handshaking.
    pub(crate) fn detail(&self) -> Option<TlsDetail> {
        if self.conn.is_handshaking() {
            return None;
        }
        let version = match self.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(v) => format!("{v:?}"),
            None => "unknown".to_owned(),
        };
        let cipher = self
            .conn
            .negotiated_cipher_suite()
            .map_or_else(|| "unknown".to_owned(), |s| cipher_name(s.suite()));
        let (cert, cert_error) = match self.conn.peer_certificates().and_then(|c| c.first()) {
            Some(der) => match cert_detail(der.as_ref()) {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, Some("no certificate sent".to_owned())),
        };
        Some(TlsDetail {
            version,
            cipher,
            cert,
            cert_error,
        })
    }
}

/// The IANA name of a cipher suite (rustls spells TLS 1.3 suites `TLS13_...`).
fn cipher_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_owned(),
        },
        None => format!("{:#06x}", u16::from(suite)),
    }
}

/// Reads a DER certificate into the report's form.
pub fn cert_detail(der: &[u8]) -> Result<CertDetail, super::x509::CertError> {
    let c = Certificate::parse(der)?;
    let attrs = |n: &super::x509::Name| {
        n.attrs
            .iter()
            .map(|(a, v)| (a.short().to_owned(), v.clone()))
            .collect()
    };
    let mut alt_names: Vec<String> = c.dns_names.iter().map(|d| format!("DNS:{d}")).collect();
    alt_names.extend(c.ip_addrs.iter().map(|ip| format!("IP:{ip}")));
    Ok(CertDetail {
        subject: attrs(&c.subject),
        issuer: attrs(&c.issuer),
        not_before: c.not_before.to_string(),
        not_after: c.not_after.to_string(),
        alt_names,
        key: c.key.as_ref().map(ToString::to_string),
        signature: c.signature.clone(),
        sha256: sha256_hex(der),
    })
}

/// SHA-256 of `data` in lower-case hex, with ring's hash as rustls exposes it.
fn sha256_hex(data: &[u8]) -> String {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let Some(tls13) = suite.tls13() else {
        return String::new();
    };
    let digest = tls13.common.hash_provider.hash(data);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// A test certificate and its key, made once with `openssl req -x509 -newkey ec
/// -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=tls.test/O=Monban Test" -days 3650 -addext
/// "subjectAltName=DNS:tls.test,IP:127.0.0.1"`: valid from 2026-11-21T07:59:39Z to
/// 2036-11-18T07:59:39Z, serial 427d3f1bda17ab3c72f81b66d7339006367de6cb, SHA-256
/// d959d590cea55df31e7d0a112b7ad5fa8714600c64a2c202007825b60a89fc60 (as `openssl x509`
/// reports them).
#[cfg(test)]
pub(crate) mod fixture {
    const CERT: &[&str] = &[
        "308201c230820168a0030201020214427d3f1bda17ab3c72f81b66d7339006367de6cb300a06082a8648ce3d",
        "04030230293111300f06035504030c08746c732e7465737431143012060355040a0c0b4d6f6e62616e205465",
        "7374301e170d3236313132313037353933395a170d3336313131383037353933395a30293111300f06035504",
        "030c08746c732e7465737431143012060355040a0c0b4d6f6e62616e20546573743059301306072a8648ce3d",
        "020106082a8648ce3d0301070342000442304b365468514761c33511f5d5f7dafc816e70b3af768c89d335fd",
        "5e8bb5a1b59780fd2e7b312eb8f4dccded0b0769bb11fb16381477e91ea2dd1abd697dfda36e306c301d0603",
        "551d0e041604149331ea7ab1d5156ce92baa12bf6628d92a1dd4ae301f0603551d230418301680149331ea7a",
        "b1d5156ce92baa12bf6628d92a1dd4ae300f0603551d130101ff040530030101ff30190603551d1104123010",
        "8208746c732e7465737487047f000001300a06082a8648ce3d040302034800304502200d14dd1ca76811011f",
        "bbf57e27a55e0fe928ddb2be6d7b0cb8ddf02ea1a02849022100aeab6898827713508d2e3ddb2d2521426e17",
        "77d841fa605bb9ecbff8cbb419e2",
    ];
    const KEY: &[&str] = &[
        "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042052fc120ee3168038",
        "fb9c787ad89df2dae4d59377e7d1c9366096709972964cd3a1440342000442304b365468514761c33511f5d5",
        "f7dafc816e70b3af768c89d335fd5e8bb5a1b59780fd2e7b312eb8f4dccded0b0769bb11fb16381477e91ea2",
        "dd1abd697dfd",
    ];

    fn unhex(parts: &[&str]) -> Vec<u8> {
        let hex: String = parts.concat();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The certificate, DER.
    pub(crate) fn cert() -> Vec<u8> {
        unhex(CERT)
    }

    /// Its private key, PKCS #8 DER.
    pub(crate) fn key() -> Vec<u8> {
        unhex(KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_suites_have_iana_names() {
        assert_eq!(
            cipher_name(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384),
            "TLS_AES_256_GCM_SHA384"
        );
        assert_eq!(
            cipher_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        // A GREASE value (RFC 8701) has no name.
        assert_eq!(cipher_name(rustls::CipherSuite::from(0xeaea)), "0xeaea");
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
