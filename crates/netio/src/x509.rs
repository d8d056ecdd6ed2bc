//! A small reader for X.509 certificates (RFC 5280), for showing what a TLS server
//! presents: subject and issuer names, validity, DNS names and IP addresses of the
//! subject alternative name, the key type and size, and the signature algorithm.
//!
//! It checks nothing about trust and reads only what it shows. Input is hostile: every
//! length is checked against what is left, nesting is fixed by the certificate's structure
//! (nothing recurses on input), counts and string lengths are capped, and any malformed
//! or truncated certificate is a [`CertError`], never a panic.
//!
//! Why our own and not `x509-parser`: that crate reads every extension of every profile,
//! which `-sV` never shows, and brings 31 crates (nom, asn1-rs and its derive macros, syn,
//! the der and oid registries); built alone it took 26 s of release build on our 2-core CI
//! machine (December 2026), a cost every CI run pays twice (debug and release). This reader
//! is 700 lines before its tests and is checked where it matters: `tests/prop.rs` compares
//! it with openssl's own reading of certificates openssl makes and feeds it 600,000 random
//! and mutated ones, and `tests/lab_hostile_services.rs` serves it hostile certificates
//! through a real TLS handshake.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Certificates longer than this are refused ([`CertError::TooLong`]).
pub const MAX_CERT_BYTES: usize = 64 * 1024;
/// At most this many attributes are kept per name, and this many SAN entries.
pub const MAX_ITEMS: usize = 64;
/// Text values longer than this many characters are cut and end in `…`.
pub const MAX_TEXT_CHARS: usize = 256;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT` version, `[3] EXPLICIT` extensions.
const VERSION_TAG: u8 = 0xa0;
const EXTENSIONS_TAG: u8 = 0xa3;
/// GeneralName `dNSName [2] IA5String` and `iPAddress [7] OCTET STRING`, implicit.
const SAN_DNS: u8 = 0x82;
const SAN_IP: u8 = 0x87;

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The data ends inside an element.
    #[error("certificate truncated")]
    Truncated,
    /// The certificate is larger than [`MAX_CERT_BYTES`].
    #[error("certificate larger than {MAX_CERT_BYTES} bytes")]
    TooLong,
    /// A length is not valid DER (indefinite, or longer than four bytes).
    #[error("invalid DER length")]
    BadLength,
    /// A tag number above 30 (multi-byte tags do not occur in certificates).
    #[error("unsupported DER tag {0:#04x}")]
    BadTag(u8),
    /// An element of another type than the structure requires.
    #[error("expected DER tag {expected:#04x}, found {found:#04x}")]
    Unexpected {
        /// The tag the structure requires here.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// A validity time that is neither a UTCTime nor a GeneralizedTime of the form RFC
    /// 5280 requires (`YYMMDDHHMMSSZ`, `YYYYMMDDHHMMSSZ`), or not a real date.
    #[error("invalid certificate time")]
    BadTime,
    /// Bytes follow the certificate inside its container.
    #[error("data after the certificate")]
    Trailing,
}

/// An attribute of a distinguished name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// `CN`, 2.5.4.3.
    CommonName,
    /// `O`, 2.5.4.10.
    Organization,
    /// `OU`, 2.5.4.11.
    OrganizationalUnit,
    /// `C`, 2.5.4.6.
    Country,
    /// `ST`, 2.5.4.8.
    State,
    /// `L`, 2.5.4.7.
    Locality,
    /// `emailAddress`, 1.2.840.113549.1.9.1.
    Email,
    /// Another attribute, by its dotted object identifier.
    Other(String),
}

impl Attr {
    fn from_oid(oid: &[u8]) -> Attr {
        match oid {
            [0x55, 0x04, 0x03] => Attr::CommonName,
            [0x55, 0x04, 0x0a] => Attr::Organization,
            [0x55, 0x04, 0x0b] => Attr::OrganizationalUnit,
            [0x55, 0x04, 0x06] => Attr::Country,
            [0x55, 0x04, 0x08] => Attr::State,
            [0x55, 0x04, 0x07] => Attr::Locality,
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => Attr::Email,
            other => Attr::Other(oid_text(other)),
        }
    }

    /// The short name (`CN`, `O`, ...; the dotted identifier for others).
    pub fn short(&self) -> &str {
        match self {
            Attr::CommonName => "CN",
            Attr::Organization => "O",
            Attr::OrganizationalUnit => "OU",
            Attr::Country => "C",
            Attr::State => "ST",
            Attr::Locality => "L",
            Attr::Email => "emailAddress",
            Attr::Other(oid) => oid,
        }
    }
}

/// A distinguished name: its attributes in certificate order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    /// `(attribute, value)` pairs, at most [`MAX_ITEMS`].
    pub attrs: Vec<(Attr, String)>,
}

impl Name {
    /// The first value of `attr`.
    pub fn get(&self, attr: &Attr) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == attr)
            .map(|(_, v)| v.as_str())
    }

    /// The common name (`CN`).
    pub fn common_name(&self) -> Option<&str> {
        self.get(&Attr::CommonName)
    }

    /// The organization (`O`).
    pub fn organization(&self) -> Option<&str> {
        self.get(&Attr::Organization)
    }
}

impl fmt::Display for Name {
    /// `CN=lab.example, O=Example Ltd`, in certificate order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, v)) in self.attrs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={v}", a.short())?;
        }
        Ok(())
    }
}

/// A validity time, UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertTime {
    /// Year, 1950-9999.
    pub year: u16,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, from 1.
    pub day: u8,
    /// Hour, 0-23.
    pub hour: u8,
    /// Minute, 0-59.
    pub minute: u8,
    /// Second, 0-59.
    pub second: u8,
}

impl CertTime {
    /// Seconds since the Unix epoch (negative before 1970).
    pub fn unix(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

impl fmt::Display for CertTime {
    /// ISO 8601: `2034-01-31T23:59:59Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days in a month (0 for a month that does not exist).
fn days_in_month(year: u16, month: u8) -> u8 {
    if !(1..=12).contains(&month) {
        return 0;
    }
    let (next_year, next_month) = if month == 12 {
        (i64::from(year) + 1, 1)
    } else {
        (i64::from(year), month + 1)
    };
    let days =
        days_from_civil(next_year, next_month, 1) - days_from_civil(i64::from(year), month, 1);
    u8::try_from(days).unwrap_or(0)
}

/// The kind of a subject public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA.
    Rsa,
    /// Elliptic curve (ECDSA / ECDH) on a named curve.
    Ec,
    /// Ed25519.
    Ed25519,
    /// Ed448.
    Ed448,
    /// DSA.
    Dsa,
    /// Another algorithm, by its dotted object identifier.
    Other(String),
}

/// The subject's public key: its kind and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The algorithm.
    pub kind: KeyKind,
    /// Key size in bits (RSA/DSA modulus, curve size), when known.
    pub bits: Option<u32>,
    /// The named curve of an EC key (`P-256`, ...), when known.
    pub curve: Option<&'static str>,
}

impl fmt::Display for PublicKey {
    /// `rsa 2048`, `ec 256 (P-256)`, `ed25519 256`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            KeyKind::Rsa => f.write_str("rsa")?,
            KeyKind::Ec => f.write_str("ec")?,
            KeyKind::Ed25519 => f.write_str("ed25519")?,
            KeyKind::Ed448 => f.write_str("ed448")?,
            KeyKind::Dsa => f.write_str("dsa")?,
            KeyKind::Other(oid) => f.write_str(oid)?,
        }
        if let Some(bits) = self.bits {
            write!(f, " {bits}")?;
        }
        if let Some(curve) = self.curve {
            write!(f, " ({curve})")?;
        }
        Ok(())
    }
}

/// What a certificate says, as far as a scan shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Who the certificate is for.
    pub subject: Name,
    /// Who signed it.
    pub issuer: Name,
    /// Start of validity.
    pub not_before: CertTime,
    /// End of validity.
    pub not_after: CertTime,
    /// DNS names of the subject alternative name extension, at most [`MAX_ITEMS`].
    pub dns_names: Vec<String>,
    /// IP addresses of the subject alternative name extension.
    pub ip_addrs: Vec<IpAddr>,
    /// The subject's key; `None` if its description could not be read.
    pub key: Option<PublicKey>,
    /// The signature algorithm (`sha256WithRSAEncryption`, ...; the dotted identifier
    /// for others).
    pub signature: String,
}

impl Certificate {
    /// Reads a DER-encoded certificate.
    pub fn parse(der: &[u8]) -> Result<Certificate, CertError> {
        if der.len() > MAX_CERT_BYTES {
            return Err(CertError::TooLong);
        }
        let mut outer = Der::new(der);
        let cert = outer.read(SEQUENCE)?;
        if !outer.is_empty() {
            return Err(CertError::Trailing);
        }
        let mut cert = Der::new(cert);
        let mut tbs = Der::new(cert.read(SEQUENCE)?);
        tbs.optional(VERSION_TAG)?;
        let serial = hex(strip_zeros(tbs.read(INTEGER)?));
        let _inner_signature = tbs.read(SEQUENCE)?;
        let issuer = name(tbs.read(SEQUENCE)?)?;
        let mut validity = Der::new(tbs.read(SEQUENCE)?);
        let not_before = time(&mut validity)?;
        let not_after = time(&mut validity)?;
        let subject = name(tbs.read(SEQUENCE)?)?;
        // A key we cannot describe does not make the rest unreadable.
        let key = public_key(tbs.read(SEQUENCE)?).ok();
        let mut dns_names = Vec::new();
        let mut ip_addrs = Vec::new();
        while !tbs.is_empty() {
            let (tag, value) = tbs.any()?;
            if tag == EXTENSIONS_TAG {
                extensions(value, &mut dns_names, &mut ip_addrs)?;
            }
        }
        let mut alg = Der::new(cert.read(SEQUENCE)?);
        let signature = signature_name(alg.read(OID)?);
        Ok(Certificate {
            serial,
            subject,
            issuer,
            not_before,
            not_after,
            dns_names,
            ip_addrs,
            key,
            signature,
        })
    }
}

/// A cursor over DER elements.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Der<'a> {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: its tag and its contents.
    fn any(&mut self) -> Result<(u8, &'a [u8]), CertError> {
        let (&tag, rest) = self.rest.split_first().ok_or(CertError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(CertError::BadTag(tag));
        }
        let (&first, rest) = rest.split_first().ok_or(CertError::Truncated)?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(CertError::BadLength);
            }
            let bytes = rest.get(..n).ok_or(CertError::Truncated)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, rest.get(n..).unwrap_or_default())
        };
        let value = rest.get(..len).ok_or(CertError::Truncated)?;
        self.rest = rest.get(len..).unwrap_or_default();
        Ok((tag, value))
    }

    /// The next element, which must have tag `expected`.
    fn read(&mut self, expected: u8) -> Result<&'a [u8], CertError> {
        let (found, value) = self.any()?;
        if found != expected {
            return Err(CertError::Unexpected { expected, found });
        }
        Ok(value)
    }

    /// The next element if it has tag `tag`.
    fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, CertError> {
        if self.peek() == Some(tag) {
            return self.read(tag).map(Some);
        }
        Ok(None)
    }
}

fn name(seq: &[u8]) -> Result<Name, CertError> {
    let mut rdns = Der::new(seq);
    let mut attrs = Vec::new();
    while !rdns.is_empty() {
        let mut set = Der::new(rdns.read(SET)?);
        while !set.is_empty() {
            let mut atv = Der::new(set.read(SEQUENCE)?);
            let oid = atv.read(OID)?;
            let (tag, value) = atv.any()?;
            if attrs.len() < MAX_ITEMS {
                attrs.push((Attr::from_oid(oid), text(tag, value)));
            }
        }
    }
    Ok(Name { attrs })
}

/// Decodes a directory string; other types show as `#` and their hex bytes.
fn text(tag: u8, value: &[u8]) -> String {
    let s: String = match tag {
        // UTF8String
        0x0c => String::from_utf8_lossy(value).into_owned(),
        // PrintableString, IA5String, VisibleString, NumericString, TeletexString (Latin-1)
        0x13 | 0x16 | 0x1a | 0x12 | 0x14 => value.iter().map(|&b| char::from(b)).collect(),
        // BMPString: UTF-16BE; an odd last byte is a replacement character
        0x1e => {
            let units = value.chunks_exact(2);
            let odd = !units.remainder().is_empty();
            let mut s: String = char::decode_utf16(
                units.map(|c| <[u8; 2]>::try_from(c).map_or(0xfffd, u16::from_be_bytes)),
            )
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
            if odd {
                s.push(char::REPLACEMENT_CHARACTER);
            }
            s
        }
        // UniversalString: UTF-32BE, likewise
        0x1c => {
            let units = value.chunks_exact(4);
            let odd = !units.remainder().is_empty();
            let mut s: String = units
                .map(|c| {
                    <[u8; 4]>::try_from(c)
                        .ok()
                        .and_then(|b| char::from_u32(u32::from_be_bytes(b)))
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect();
            if odd {
                s.push(char::REPLACEMENT_CHARACTER);
            }
            s
        }
        _ => format!("#{}", hex(value.get(..MAX_TEXT_CHARS).unwrap_or(value))),
    };
    cut(s)
}

/// `s`, cut to [`MAX_TEXT_CHARS`] characters (the last one then `…`).
fn cut(s: String) -> String {
    if s.chars().count() <= MAX_TEXT_CHARS {
        return s;
    }
    let mut out: String = s.chars().take(MAX_TEXT_CHARS - 1).collect();
    out.push('…');
    out
}

fn time(der: &mut Der<'_>) -> Result<CertTime, CertError> {
    let (tag, value) = der.any()?;
    let digits = |range: std::ops::Range<usize>| -> Result<u16, CertError> {
        let bytes = value.get(range).ok_or(CertError::BadTime)?;
        bytes.iter().try_fold(0u16, |acc, &b| {
            if b.is_ascii_digit() {
                Ok(acc * 10 + u16::from(b - b'0'))
            } else {
                Err(CertError::BadTime)
            }
        })
    };
    let (year, at) = match (tag, value.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (GENERALIZED_TIME, 15) => (digits(0..4)?, 4),
        (UTC_TIME | GENERALIZED_TIME, _) => return Err(CertError::BadTime),
        (found, _) => {
            return Err(CertError::Unexpected {
                expected: UTC_TIME,
                found,
            })
        }
    };
    if value.last() != Some(&b'Z') {
        return Err(CertError::BadTime);
    }
    let two = |i: usize| -> Result<u8, CertError> {
        u8::try_from(digits(at + i..at + i + 2)?).map_err(|_| CertError::BadTime)
    };
    let t = CertTime {
        year,
        month: two(0)?,
        day: two(2)?,
        hour: two(4)?,
        minute: two(6)?,
        second: two(8)?,
    };
    let valid = (1..=12).contains(&t.month)
        && t.day >= 1
        && t.day <= days_in_month(t.year, t.month)
        && t.hour < 24
        && t.minute < 60
        && t.second < 60;
    if !valid {
        return Err(CertError::BadTime);
    }
    Ok(t)
}

fn extensions(
    explicit: &[u8],
    dns_names: &mut Vec<String>,
    ip_addrs: &mut Vec<IpAddr>,
) -> Result<(), CertError> {
    let mut list = Der::new(Der::new(explicit).read(SEQUENCE)?);
    while !list.is_empty() {
        let mut ext = Der::new(list.read(SEQUENCE)?);
        let oid = ext.read(OID)?;
        ext.optional(BOOLEAN)?;
        let value = ext.read(OCTET_STRING)?;
        // subjectAltName, 2.5.29.17
        if oid != [0x55, 0x1d, 0x11] {
            continue;
        }
        let mut names = Der::new(Der::new(value).read(SEQUENCE)?);
        while !names.is_empty() {
            let (tag, v) = names.any()?;
            if dns_names.len() + ip_addrs.len() >= MAX_ITEMS {
                continue;
            }
            if tag == SAN_DNS {
                dns_names.push(text(0x16, v));
            } else if tag == SAN_IP {
                if let Ok(b) = <[u8; 4]>::try_from(v) {
                    ip_addrs.push(IpAddr::V4(Ipv4Addr::from(b)));
                } else if let Ok(b) = <[u8; 16]>::try_from(v) {
                    ip_addrs.push(IpAddr::V6(Ipv6Addr::from(b)));
                }
            }
        }
    }
    Ok(())
}

fn public_key(spki: &[u8]) -> Result<PublicKey, CertError> {
    let mut spki = Der::new(spki);
    let mut alg = Der::new(spki.read(SEQUENCE)?);
    let oid = alg.read(OID)?;
    let params = if alg.is_empty() {
        None
    } else {
        Some(alg.any()?)
    };
    let bits_field = spki.read(BIT_STRING)?;
    // The first byte counts unused bits; keys are whole bytes.
    let key = bits_field.get(1..).unwrap_or_default();
    let (kind, bits, curve) = match oid {
        // rsaEncryption 1.2.840.113549.1.1.1: RSAPublicKey { modulus, publicExponent }
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] => {
            let mut rsa = Der::new(Der::new(key).read(SEQUENCE)?);
            (KeyKind::Rsa, Some(bit_len(rsa.read(INTEGER)?)), None)
        }
        // id-ecPublicKey 1.2.840.10045.2.1, the curve in the parameters
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => {
            let named = match params {
                Some((OID, c)) => curve_name(c),
                _ => None,
            };
            (KeyKind::Ec, named.map(|(_, b)| b), named.map(|(n, _)| n))
        }
        [0x2b, 0x65, 0x70] => (KeyKind::Ed25519, Some(256), None),
        [0x2b, 0x65, 0x71] => (KeyKind::Ed448, Some(456), None),
        // id-dsa 1.2.840.10040.4.1: parameters { p, q, g }
        [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01] => {
            let p = match params {
                Some((SEQUENCE, seq)) => Der::new(seq).read(INTEGER).ok().map(bit_len),
                _ => None,
            };
            (KeyKind::Dsa, p, None)
        }
        other => (KeyKind::Other(oid_text(other)), None, None),
    };
    Ok(PublicKey { kind, bits, curve })
}

fn curve_name(oid: &[u8]) -> Option<(&'static str, u32)> {
    match oid {
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => Some(("P-256", 256)),
        [0x2b, 0x81, 0x04, 0x00, 0x22] => Some(("P-384", 384)),
        [0x2b, 0x81, 0x04, 0x00, 0x23] => Some(("P-521", 521)),
        [0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07] => Some(("brainpoolP256r1", 256)),
        _ => None,
    }
}

fn signature_name(oid: &[u8]) -> String {
    const RSA: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: [u8; 6] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    let name = match oid {
        [a @ .., last] if a == RSA => match last {
            0x04 => Some("md5WithRSAEncryption"),
            0x05 => Some("sha1WithRSAEncryption"),
            0x0a => Some("rsassaPss"),
            0x0b => Some("sha256WithRSAEncryption"),
            0x0c => Some("sha384WithRSAEncryption"),
            0x0d => Some("sha512WithRSAEncryption"),
            0x0e => Some("sha224WithRSAEncryption"),
            _ => None,
        },
        [a @ .., 0x01] if a == ECDSA => Some("ecdsa-with-SHA1"),
        [a @ .., 0x03, last] if a == ECDSA => match last {
            0x01 => Some("ecdsa-with-SHA224"),
            0x02 => Some("ecdsa-with-SHA256"),
            0x03 => Some("ecdsa-with-SHA384"),
            0x04 => Some("ecdsa-with-SHA512"),
            _ => None,
        },
        [0x2b, 0x65, 0x70] => Some("ED25519"),
        [0x2b, 0x65, 0x71] => Some("ED448"),
        _ => None,
    };
    name.map_or_else(|| oid_text(oid), str::to_owned)
}

/// Bits of a positive big-endian integer, leading zeros not counted.
fn bit_len(int: &[u8]) -> u32 {
    let int = strip_zeros(int);
    let Some(&first) = int.first() else {
        return 0;
    };
    let bytes = u32::try_from(int.len()).unwrap_or(u32::MAX / 8);
    (bytes - 1).saturating_mul(8) + (8 - first.leading_zeros())
}

fn strip_zeros(int: &[u8]) -> &[u8] {
    let start = int.iter().position(|&b| b != 0).unwrap_or(int.len());
    int.get(start..).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A DER object identifier in dotted form; arcs that do not fit 64 bits show as `?`.
fn oid_text(oid: &[u8]) -> String {
    let mut arcs: Vec<String> = Vec::new();
    let mut value: u64 = 0;
    let mut overflow = false;
    for &b in oid.iter().take(MAX_TEXT_CHARS) {
        if value > u64::MAX >> 7 {
            overflow = true;
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 != 0 {
            continue;
        }
        if overflow {
            arcs.push("?".into());
        } else if arcs.is_empty() {
            let first = (value / 40).min(2);
            arcs.push(first.to_string());
            arcs.push((value - first * 40).to_string());
        } else {
            arcs.push(value.to_string());
        }
        value = 0;
        overflow = false;
    }
    arcs.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a DER element.
    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = value.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(value);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(SEQUENCE, &parts.concat())
    }

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        tlv(SET, &seq(&[tlv(OID, oid), tlv(tag, value)]))
    }

    const CN: [u8; 3] = [0x55, 0x04, 0x03];
    const O: [u8; 3] = [0x55, 0x04, 0x0a];
    const SHA256_RSA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    const ECDSA_SHA256: [u8; 8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];

    /// A certificate built by hand: EC P-256 key, subject CN=lab.test O=Lab, issuer
    /// CN=Lab CA, valid 2024-02-29 12:00:00 to 2051-01-01 00:00:00 (GeneralizedTime),
    /// SAN DNS:lab.test DNS:www.lab.test IP:10.0.0.1 IP:::1.
    fn handmade() -> Vec<u8> {
        let alg = seq(&[tlv(OID, &ECDSA_SHA256)]);
        let issuer = seq(&[atv(&CN, 0x0c, b"Lab CA")]);
        let subject = seq(&[atv(&CN, 0x13, b"lab.test"), atv(&O, 0x0c, b"Lab")]);
        let validity = seq(&[
            tlv(UTC_TIME, b"240229120000Z"),
            tlv(GENERALIZED_TIME, b"20510101000000Z"),
        ]);
        let ec_alg = seq(&[
            tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
        ]);
        let mut point = vec![0u8, 0x04];
        point.extend_from_slice(&[0x11; 64]);
        let spki = seq(&[ec_alg, tlv(BIT_STRING, &point)]);
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        let san = seq(&[
            tlv(SAN_DNS, b"lab.test"),
            tlv(SAN_DNS, b"www.lab.test"),
            tlv(SAN_IP, &[10, 0, 0, 1]),
            tlv(SAN_IP, &v6),
            tlv(0x86, b"http://uri.example/"),
        ]);
        let basic = seq(&[
            tlv(OID, &[0x55, 0x1d, 0x13]),
            tlv(BOOLEAN, &[0xff]),
            tlv(OCTET_STRING, &seq(&[])),
        ]);
        let san_ext = seq(&[tlv(OID, &[0x55, 0x1d, 0x11]), tlv(OCTET_STRING, &san)]);
        let exts = tlv(EXTENSIONS_TAG, &seq(&[basic, san_ext]));
        let tbs = seq(&[
            tlv(VERSION_TAG, &tlv(INTEGER, &[2])),
            tlv(INTEGER, &[0x00, 0x9a, 0x01]),
            alg.clone(),
            issuer,
            validity,
            subject,
            spki,
            exts,
        ]);
        seq(&[tbs, alg, tlv(BIT_STRING, &[0, 0x30, 0x00])])
    }

    #[test]
    fn a_handmade_certificate_reads_back() {
        let c = Certificate::parse(&handmade()).unwrap();
        assert_eq!(c.serial, "9a01");
        assert_eq!(c.subject.to_string(), "CN=lab.test, O=Lab");
        assert_eq!(c.subject.common_name(), Some("lab.test"));
        assert_eq!(c.subject.organization(), Some("Lab"));
        assert_eq!(c.issuer.to_string(), "CN=Lab CA");
        assert_eq!(c.issuer.organization(), None);
        assert_eq!(c.not_before.to_string(), "2024-02-29T12:00:00Z");
        assert_eq!(c.not_after.to_string(), "2051-01-01T00:00:00Z");
        assert_eq!(c.not_before.unix(), 1_709_208_000);
        assert_eq!(c.not_after.unix(), 2_556_144_000);
        assert_eq!(c.dns_names, ["lab.test", "www.lab.test"]);
        assert_eq!(
            c.ip_addrs,
            [
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            ]
        );
        let key = c.key.unwrap();
        assert_eq!(key.to_string(), "ec 256 (P-256)");
        assert_eq!(c.signature, "ecdsa-with-SHA256");
    }

    #[test]
    fn an_openssl_certificate_reads_as_openssl_shows_it() {
        let c = Certificate::parse(&crate::version::tls::fixture::cert()).unwrap();
        assert_eq!(c.serial, "427d3f1bda17ab3c72f81b66d7339006367de6cb");
        assert_eq!(c.subject.to_string(), "CN=tls.test, O=Monban Test");
        assert_eq!(c.issuer, c.subject);
        assert_eq!(c.not_before.to_string(), "2026-11-21T07:59:39Z");
        assert_eq!(c.not_after.to_string(), "2036-11-18T07:59:39Z");
        assert_eq!(c.dns_names, ["tls.test"]);
        assert_eq!(c.ip_addrs, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert_eq!(
            c.key.map(|k| k.to_string()).as_deref(),
            Some("ec 256 (P-256)")
        );
        assert_eq!(c.signature, "ecdsa-with-SHA256");
        let der = crate::version::tls::fixture::cert();
        for n in 0..der.len() {
            assert!(Certificate::parse(&der[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let der = handmade();
        for n in 0..der.len() {
            let r = Certificate::parse(der.get(..n).unwrap());
            assert!(r.is_err(), "prefix of {n} bytes parsed: {r:?}");
        }
    }

    #[test]
    fn every_single_byte_change_is_safe() {
        // No panic whatever byte is changed to whatever value; most changes are errors.
        let der = handmade();
        let mut errors = 0;
        for i in 0..der.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0x81, 0x84, 0x85, 0xff] {
                let mut bad = der.clone();
                bad[i] = v;
                if Certificate::parse(&bad).is_err() {
                    errors += 1;
                }
            }
        }
        assert!(errors > der.len(), "{errors}");
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(Certificate::parse(&[]), Err(CertError::Truncated));
        // 'S' reads as a tag, then 'S' as a length of 83 bytes that are not there.
        assert_eq!(
            Certificate::parse(b"SSH-2.0-OpenSSH"),
            Err(CertError::Truncated)
        );
        assert_eq!(
            Certificate::parse(&[0x31, 0x00]),
            Err(CertError::Unexpected {
                expected: SEQUENCE,
                found: SET
            })
        );
        assert_eq!(
            Certificate::parse(&[0x30, 0x80, 0, 0]),
            Err(CertError::BadLength)
        );
        assert_eq!(
            Certificate::parse(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(CertError::BadLength)
        );
        assert_eq!(
            Certificate::parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(CertError::Truncated)
        );
        assert_eq!(Certificate::parse(&[0x3f, 0]), Err(CertError::BadTag(0x3f)));
        let mut trailing = handmade();
        trailing.push(0);
        assert_eq!(Certificate::parse(&trailing), Err(CertError::Trailing));
        assert_eq!(
            Certificate::parse(&vec![0x30; MAX_CERT_BYTES + 1]),
            Err(CertError::TooLong)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            &b"230229120000Z"[..], // not a leap year
            b"241301000000Z",
            b"240100000000Z",
            b"240101240000Z",
            b"240101006000Z",
            b"240101000060Z",
            b"2401010000Z",
            b"24010100000aZ",
            b"240101000000+",
        ] {
            let mut d = Der::new(&[]);
            let elem = tlv(UTC_TIME, bad);
            d.rest = &elem;
            assert_eq!(time(&mut d), Err(CertError::BadTime), "{bad:?}");
        }
        let elem = tlv(INTEGER, b"1");
        let mut d = Der::new(&elem);
        assert!(matches!(time(&mut d), Err(CertError::Unexpected { .. })));
        let elem = tlv(UTC_TIME, b"491231235959Z");
        let mut d = Der::new(&elem);
        assert_eq!(time(&mut d).unwrap().to_string(), "2049-12-31T23:59:59Z");
        let elem = tlv(UTC_TIME, b"500101000000Z");
        let mut d = Der::new(&elem);
        assert_eq!(time(&mut d).unwrap().unix(), -631_152_000);
    }

    #[test]
    fn strings_of_every_kind_decode() {
        assert_eq!(text(0x0c, "日本".as_bytes()), "日本");
        assert_eq!(text(0x0c, &[0xff, b'a']), "\u{fffd}a");
        assert_eq!(text(0x14, &[b'a', 0xe9]), "aé");
        assert_eq!(
            text(0x1e, &[0x00, b'h', 0x65, 0xe5, 0x00]),
            "h\u{65e5}\u{fffd}"
        );
        assert_eq!(text(0x1e, &[0xd8, 0x00]), "\u{fffd}");
        assert_eq!(
            text(0x1c, &[0, 0, 0, b'x', 0x7f, 0, 0, 0, 0, 1]),
            "x\u{fffd}\u{fffd}"
        );
        assert_eq!(text(0x04, &[0xde, 0xad]), "#dead");
        let long = text(0x0c, "a".repeat(1000).as_bytes());
        assert_eq!(long.chars().count(), MAX_TEXT_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn object_identifiers_in_dotted_form() {
        assert_eq!(oid_text(&[0x55, 0x04, 0x2a]), "2.5.4.42");
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(oid_text(&[0x88, 0x37, 0x03]), "2.999.3");
        assert_eq!(
            oid_text(&[0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            "1.2.?"
        );
        assert_eq!(oid_text(&[]), "");
        assert_eq!(signature_name(&SHA256_RSA), "sha256WithRSAEncryption");
        assert_eq!(signature_name(&[0x2a, 0x03]), "1.2.3");
    }

    #[test]
    fn rsa_key_sizes_ignore_leading_zeros() {
        assert_eq!(bit_len(&[0x00, 0xbd, 0xae]), 16);
        assert_eq!(bit_len(&[0x01, 0x00]), 9);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[]), 0);
    }
}
