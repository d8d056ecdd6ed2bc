//! The one error type of this crate.

/// Why a packet could not be parsed or built.
///
/// Parsing never panics: every malformed or hostile input maps to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before a header, or before the length a header declares.
    #[error("packet truncated: the buffer ends before the header or the length it declares")]
    Truncated,
    /// The IP version nibble is not the one expected (4 or 6).
    #[error("bad IP version: expected 4 or 6 (or the family of the enclosing packet)")]
    BadVersion,
    /// A header length field is too small or points past the end of the data
    /// (IPv4 IHL < 5, TCP data offset < 5 or beyond the segment).
    #[error("bad header length field")]
    BadHeaderLen,
    /// A total or datagram length field is inconsistent with the header or the buffer
    /// (IPv4 total length below the header length, UDP length below 8 or beyond the data).
    #[error("bad length field")]
    BadLength,
    /// The IPv6 payload length is 0: a jumbogram (RFC 2675) or an empty packet, unsupported.
    #[error("IPv6 payload length 0 (jumbogram) is not supported")]
    Jumbogram,
    /// More IPv6 extension headers than this crate walks before giving up.
    #[error("too many IPv6 extension headers")]
    TooManyExtensionHeaders,
    /// A TCP option is malformed (length byte below 2 or past the end of the options).
    #[error("malformed TCP option")]
    BadOption,
    /// The output buffer is too small for the packet to be built.
    #[error("output buffer too small for the packet")]
    BufferTooSmall,
    /// Source and destination addresses are of different families (one IPv4, one IPv6).
    #[error("source and destination addresses are of different IP families")]
    FamilyMismatch,
    /// TCP options longer than 40 bytes do not fit in a TCP header.
    #[error("TCP options longer than 40 bytes")]
    OptionsTooLong,
    /// The packet to build would exceed the 65535-byte limit of its length field.
    #[error("packet too long for its length field (65535 bytes)")]
    TooLong,
}
