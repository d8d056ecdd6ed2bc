//! Target specifications: addresses, CIDR blocks, nmap octet ranges, host names; lazy
//! target sets.
//!
//! [`parse_target`] reads one command-line token into one or more [`TargetSpec`]s. A
//! [`TargetSet`] owns specs and exclusions and turns into a lazy iterator of [`Target`]s:
//! it never expands a range into a list of addresses, so an IPv6 /64 costs no memory.
//! Nothing here does I/O: names are resolved by the caller, which adds the resulting
//! address with [`TargetSpec::Addr`] and the name alongside it.
//!
//! # Syntax of a token
//!
//! - an address: `10.0.0.1`, `fd00::1`, `[fd00::1]`;
//! - a CIDR block: `10.0.0.0/24`, `fd00::/120`, `[fd00::]/120`; host bits of the address
//!   are ignored (`10.0.0.7/24` is `10.0.0.0`–`10.0.0.255`); prefixes `/0`–`/32` (IPv4)
//!   and `/0`–`/128` (IPv6);
//! - nmap octet ranges (IPv4 only): each of the four octets is `*`, a number, a range
//!   `a-b`, an open range `-b` (from 0) or `a-` (to 255), or a comma list of those:
//!   `10.0.0-3.1-20`, `192.168.1.*`, `10.0.0.1,3,5-7`, `10.0.0.250-`;
//! - a host name: letters, digits and `-` in dot-separated labels of at most 63
//!   characters, at most 253 characters in all, not starting or ending a label with `-`,
//!   and a last label that is not all digits (so `10.0.0.256` is an error, not a name).
//!
//! # Commas
//!
//! A comma inside an octet lists values of that octet (`10.0.0.1,3,5-7`); a comma between
//! full targets lists targets (`10.0.0.1,10.0.0.9`, `a.example,b.example`). The rule:
//! when the whole token has the shape of an octet-range expression — exactly four
//! dot-separated fields made only of digits, `,`, `-` and `*` — it is one octet range.
//! Otherwise it is split at every comma and each part must be a full target. In practice a
//! part after the first comma that contains `.` or `:` starts a new target, while a part
//! without them is an octet value (`10.0.1,2.3` is octets `10`, `0`, `1,2`, `3`).
//!
//! # Dangerous addresses
//!
//! Multicast (224.0.0.0/4, ff00::/8) and the limited broadcast address 255.255.255.255
//! are refused by [`TargetSet::add`] when a spec holds nothing else, and skipped silently
//! inside larger ranges, unless [`TargetSet::allow_dangerous`] was set.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// One host to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its address.
    pub addr: IpAddr,
    /// The name the user gave for it, if any.
    pub name: Option<Arc<str>>,
}

/// One target specification, as read from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A single address.
    Addr(IpAddr),
    /// A CIDR block; host bits of `addr` are ignored.
    Cidr {
        /// An address inside the block, as given.
        addr: IpAddr,
        /// Prefix length: 0–32 for IPv4, 0–128 for IPv6.
        prefix: u8,
    },
    /// An IPv4 nmap octet range: per octet, a list of inclusive `(low, high)` ranges.
    /// [`parse_target`] gives them sorted and merged.
    Octets([Vec<(u8, u8)>; 4]),
    /// A host name, still to be resolved by the caller.
    Name(String),
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Addr(a) => write!(f, "{a}"),
            TargetSpec::Cidr { addr, prefix } => write!(f, "{addr}/{prefix}"),
            TargetSpec::Octets(octets) => {
                for (i, ranges) in octets.iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if ranges.as_slice() == [(0, 255)] {
                        f.write_str("*")?;
                        continue;
                    }
                    for (j, &(lo, hi)) in ranges.iter().enumerate() {
                        if j > 0 {
                            f.write_str(",")?;
                        }
                        if lo == hi {
                            write!(f, "{lo}")?;
                        } else {
                            write!(f, "{lo}-{hi}")?;
                        }
                    }
                }
                Ok(())
            }
            TargetSpec::Name(n) => f.write_str(n),
        }
    }
}

/// Why a target token or spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The token is not an address, an octet range, a CIDR block or a host name.
    #[error("bad target {token:?}: {why}")]
    Invalid {
        /// The offending token (or part of a comma list).
        token: String,
        /// What is wrong with it.
        why: String,
    },
    /// A multicast or broadcast address, or a range holding nothing else, without
    /// permission to scan such addresses.
    #[error("{0:?} is a multicast or broadcast address: pass --allow-broadcast to scan it")]
    Dangerous(String),
    /// A host name reached [`TargetSet`]; names must be resolved into addresses first.
    #[error("{0:?} is a host name: resolve it to an address first")]
    Unresolved(String),
}

fn invalid(token: &str, why: impl Into<String>) -> TargetError {
    TargetError::Invalid {
        token: token.to_string(),
        why: why.into(),
    }
}

/// Per-octet inclusive ranges of an IPv4 octet range.
type OctetRanges = [Vec<(u8, u8)>; 4];

/// Parses one command-line token into one or more target specs.
///
/// See the [module documentation](self) for the syntax and the comma rule.
pub fn parse_target(token: &str) -> Result<Vec<TargetSpec>, TargetError> {
    if token.is_empty() {
        return Err(invalid(token, "empty target"));
    }
    if token.contains(',') {
        if let Some(octets) = parse_octets(token) {
            return octets.map(|o| vec![octets_spec(o)]);
        }
        return token
            .split(',')
            .map(|part| {
                if part.is_empty() {
                    Err(invalid(token, "empty item in comma list"))
                } else {
                    parse_one(part)
                }
            })
            .collect();
    }
    parse_one(token).map(|s| vec![s])
}

/// An octet range whose octets are all single values is just an address.
fn octets_spec(o: OctetRanges) -> TargetSpec {
    let single = |r: &Vec<(u8, u8)>| match r.as_slice() {
        [(lo, hi)] if lo == hi => Some(*lo),
        _ => None,
    };
    match (single(&o[0]), single(&o[1]), single(&o[2]), single(&o[3])) {
        (Some(a), Some(b), Some(c), Some(d)) => TargetSpec::Addr(Ipv4Addr::new(a, b, c, d).into()),
        _ => TargetSpec::Octets(o),
    }
}

/// Parses one target without a top-level comma list.
fn parse_one(part: &str) -> Result<TargetSpec, TargetError> {
    let (addr_str, prefix_str) = match part.rsplit_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (part, None),
    };
    let bracketed = match addr_str.strip_prefix('[') {
        Some(rest) => match rest.strip_suffix(']') {
            Some(inner) => match inner.parse::<Ipv6Addr>() {
                Ok(a) => Some(a),
                Err(_) => return Err(invalid(part, "brackets must hold an IPv6 address")),
            },
            None => return Err(invalid(part, "missing ']'")),
        },
        None => None,
    };
    if let Some(p) = prefix_str {
        let addr: IpAddr = match bracketed {
            Some(a) => a.into(),
            None => addr_str
                .parse()
                .map_err(|_| invalid(part, "a CIDR block needs a numeric address before '/'"))?,
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p.parse::<u8>() {
            Ok(n) if n <= max && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(invalid(
                    part,
                    format!("prefix length must be a number from 0 to {max}"),
                ))
            }
        };
        return Ok(TargetSpec::Cidr { addr, prefix });
    }
    if let Some(a) = bracketed {
        return Ok(TargetSpec::Addr(a.into()));
    }
    if let Ok(a) = part.parse::<IpAddr>() {
        return Ok(TargetSpec::Addr(a));
    }
    if let Some(octets) = parse_octets(part) {
        return octets.map(octets_spec);
    }
    if is_dns_name(part) {
        return Ok(TargetSpec::Name(part.to_string()));
    }
    Err(invalid(
        part,
        "not an address, address range, CIDR block or host name",
    ))
}

/// Reads an octet-range expression. `None` when `s` does not have its shape (four
/// dot-separated fields of digits, `,`, `-`, `*`); `Some(Err)` when it has the shape but
/// a value is bad.
fn parse_octets(s: &str) -> Option<Result<OctetRanges, TargetError>> {
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b',' | b'-' | b'*'))
    {
        return None;
    }
    let mut fields = s.split('.');
    let (Some(a), Some(b), Some(c), Some(d), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    Some((|| {
        Ok([octet(s, a)?, octet(s, b)?, octet(s, c)?, octet(s, d)?])
    })())
}

fn octet(token: &str, field: &str) -> Result<Vec<(u8, u8)>, TargetError> {
    if field.is_empty() {
        return Err(invalid(token, "empty octet"));
    }
    if field == "*" {
        return Ok(vec![(0, 255)]);
    }
    let mut ranges = Vec::new();
    for item in field.split(',') {
        if item.is_empty() {
            return Err(invalid(token, format!("empty item in octet {field:?}")));
        }
        let range = match item.split_once('-') {
            None => {
                let v = octet_value(token, item)?;
                (v, v)
            }
            Some((lo, hi)) => {
                let lo = if lo.is_empty() {
                    0
                } else {
                    octet_value(token, lo)?
                };
                let hi = if hi.is_empty() {
                    255
                } else {
                    octet_value(token, hi)?
                };
                if lo > hi {
                    return Err(invalid(token, format!("octet range {item} is reversed")));
                }
                (lo, hi)
            }
        };
        ranges.push(range);
    }
    Ok(merge_u8(ranges))
}

fn octet_value(token: &str, s: &str) -> Result<u8, TargetError> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(token, format!("bad octet value {s:?}")));
    }
    s.parse::<u8>()
        .map_err(|_| invalid(token, format!("octet value {s} is out of range 0-255")))
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge_u8(mut ranges: Vec<(u8, u8)>) -> Vec<(u8, u8)> {
    ranges.sort_unstable();
    let mut out: Vec<(u8, u8)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if u16::from(lo) <= u16::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge_u128(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Whether `s` is a syntactically valid DNS host name (see the module documentation).
fn is_dns_name(s: &str) -> bool {
    let body = s.strip_suffix('.').unwrap_or(s);
    if body.is_empty() || body.len() > 253 {
        return false;
    }
    let mut last = "";
    for label in body.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return false;
        }
        last = label;
    }
    !last.bytes().all(|b| b.is_ascii_digit())
}

const V4_MULTICAST: (u128, u128) = (0xE000_0000, 0xEFFF_FFFF);
const V4_BROADCAST: (u128, u128) = (0xFFFF_FFFF, 0xFFFF_FFFF);
const V6_MULTICAST: (u128, u128) = (0xff00 << 112, u128::MAX);

/// A range of addresses of one family, as integers (IPv4 in the low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    v6: bool,
    lo: u128,
    hi: u128,
}

impl Span {
    fn of_cidr(addr: IpAddr, prefix: u8) -> Option<Span> {
        let (v6, bits, value) = match addr {
            IpAddr::V4(a) => (false, 32u32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128u32, u128::from(a)),
        };
        let host_bits = bits.checked_sub(u32::from(prefix))?;
        let host_mask = u128::MAX.checked_shr(128 - host_bits).unwrap_or(0);
        let lo = value & !host_mask;
        Some(Span {
            v6,
            lo,
            hi: lo | host_mask,
        })
    }

    fn is_all_dangerous(&self) -> bool {
        let within = |(lo, hi): (u128, u128)| self.lo >= lo && self.hi <= hi;
        if self.v6 {
            within(V6_MULTICAST)
        } else {
            within(V4_MULTICAST) || within(V4_BROADCAST)
        }
    }
}

/// What one added spec covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cover {
    Span(Span),
    Octets(OctetRanges),
}

/// Normalises user-built octet ranges: each octet non-empty, ranges not reversed,
/// sorted and merged.
fn normalize_octets(spec: &TargetSpec, o: &OctetRanges) -> Result<OctetRanges, TargetError> {
    let mut out: OctetRanges = Default::default();
    for (dst, src) in out.iter_mut().zip(o.iter()) {
        if src.is_empty() {
            return Err(invalid(&spec.to_string(), "empty octet"));
        }
        if let Some((lo, hi)) = src.iter().find(|(lo, hi)| lo > hi) {
            return Err(invalid(
                &spec.to_string(),
                format!("octet range {lo}-{hi} is reversed"),
            ));
        }
        *dst = merge_u8(src.clone());
    }
    Ok(out)
}

fn octets_all_dangerous(o: &OctetRanges) -> bool {
    let multicast = o[0].iter().all(|&(lo, hi)| lo >= 224 && hi <= 239);
    let broadcast = o.iter().all(|r| r.as_slice() == [(255, 255)]);
    multicast || broadcast
}

fn octets_contain(o: &OctetRanges, addr: u32) -> bool {
    let bytes = addr.to_be_bytes();
    o.iter()
        .zip(bytes)
        .all(|(ranges, b)| ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi))
}

fn octets_count(o: &OctetRanges) -> u128 {
    o.iter()
        .map(|r| {
            r.iter()
                .map(|&(lo, hi)| u128::from(hi - lo) + 1)
                .sum::<u128>()
        })
        .product()
}

/// A set of targets: specs in the order added, minus exclusions. Lazy: iterating it
/// never builds a list of addresses.
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    specs: Vec<(Cover, Option<Arc<str>>)>,
    excluded: Vec<Span>,
    excluded_octets: Vec<OctetRanges>,
    allow_dangerous: bool,
}

impl TargetSet {
    /// An empty set that refuses multicast and broadcast addresses.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether multicast and broadcast addresses may be scanned (default: no). Set it
    /// before [`add`](Self::add): `add` checks it, and iteration skips such addresses
    /// inside ranges while it is off.
    pub fn allow_dangerous(&mut self, allow: bool) {
        self.allow_dangerous = allow;
    }

    /// Adds a spec; every target it yields carries `name`.
    ///
    /// Errors: [`TargetError::Unresolved`] for a [`TargetSpec::Name`];
    /// [`TargetError::Dangerous`] for a multicast/broadcast address (or a range of
    /// nothing else) unless allowed; [`TargetError::Invalid`] for a prefix out of range
    /// or a malformed octet list.
    pub fn add(&mut self, spec: TargetSpec, name: Option<Arc<str>>) -> Result<(), TargetError> {
        let cover = self.cover(&spec)?;
        let dangerous = match &cover {
            Cover::Span(s) => s.is_all_dangerous(),
            Cover::Octets(o) => octets_all_dangerous(o),
        };
        if dangerous && !self.allow_dangerous {
            return Err(TargetError::Dangerous(spec.to_string()));
        }
        self.specs.push((cover, name));
        Ok(())
    }

    /// Excludes every address of `spec` from iteration. Names must be resolved first
    /// ([`TargetError::Unresolved`]).
    pub fn exclude(&mut self, spec: TargetSpec) -> Result<(), TargetError> {
        match self.cover(&spec)? {
            Cover::Span(s) => self.excluded.push(s),
            Cover::Octets(o) => self.excluded_octets.push(o),
        }
        Ok(())
    }

    fn cover(&self, spec: &TargetSpec) -> Result<Cover, TargetError> {
        match spec {
            TargetSpec::Name(n) => Err(TargetError::Unresolved(n.clone())),
            TargetSpec::Addr(a) => Ok(Cover::Span(span_of_addr(*a))),
            TargetSpec::Cidr { addr, prefix } => Span::of_cidr(*addr, *prefix)
                .map(Cover::Span)
                .ok_or_else(|| {
                    let max = if addr.is_ipv4() { 32 } else { 128 };
                    invalid(
                        &spec.to_string(),
                        format!("prefix length must be a number from 0 to {max}"),
                    )
                }),
            TargetSpec::Octets(o) => {
                let o = normalize_octets(spec, o)?;
                Ok(match octets_spec(o) {
                    TargetSpec::Octets(o) => Cover::Octets(o),
                    TargetSpec::Addr(a) => Cover::Span(span_of_addr(a)),
                    // octets_spec only returns the two kinds above.
                    _ => return Err(invalid(&spec.to_string(), "internal: bad octets")),
                })
            }
        }
    }

    /// How many addresses the added specs cover, before exclusions and before skipping
    /// multicast/broadcast addresses inside ranges; saturates at `u128::MAX`.
    pub fn len_upper_bound(&self) -> u128 {
        self.specs
            .iter()
            .map(|(c, _)| match c {
                Cover::Span(s) => (s.hi - s.lo).saturating_add(1),
                Cover::Octets(o) => octets_count(o),
            })
            .fold(0u128, u128::saturating_add)
    }

    /// Whether no spec was added.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

fn span_of_addr(a: IpAddr) -> Span {
    match a {
        IpAddr::V4(v4) => {
            let x = u128::from(u32::from(v4));
            Span {
                v6: false,
                lo: x,
                hi: x,
            }
        }
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            Span {
                v6: true,
                lo: x,
                hi: x,
            }
        }
    }
}

/// Exclusions ready for lookup: merged, sorted intervals per family plus octet ranges.
#[derive(Debug)]
struct Exclusions {
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
    octets: Vec<OctetRanges>,
}

impl Exclusions {
    /// The end of the excluded interval holding `x`, if any.
    fn interval_end(&self, v6: bool, x: u128) -> Option<u128> {
        let list = if v6 { &self.v6 } else { &self.v4 };
        let i = list.partition_point(|&(lo, _)| lo <= x);
        let &(_, hi) = list.get(i.checked_sub(1)?)?;
        (hi >= x).then_some(hi)
    }

    fn by_octets(&self, v6: bool, x: u128) -> bool {
        !v6 && self
            .octets
            .iter()
            .any(|o| octets_contain(o, u32::try_from(x).unwrap_or(0)))
    }
}

/// Where iteration stands inside one spec.
#[derive(Debug)]
enum Cursor {
    /// Next address to consider in a span (`next <= hi`).
    Span { v6: bool, next: u128, hi: u128 },
    /// Odometer over octet ranges: the current range index and value of each octet.
    Octets {
        ranges: OctetRanges,
        idx: [usize; 4],
        val: [u8; 4],
    },
}

impl Cursor {
    fn new(cover: Cover) -> Cursor {
        match cover {
            Cover::Span(s) => Cursor::Span {
                v6: s.v6,
                next: s.lo,
                hi: s.hi,
            },
            Cover::Octets(ranges) => {
                let start = |r: &Vec<(u8, u8)>| r.first().map_or(0, |&(lo, _)| lo);
                let val = [
                    start(&ranges[0]),
                    start(&ranges[1]),
                    start(&ranges[2]),
                    start(&ranges[3]),
                ];
                Cursor::Octets {
                    ranges,
                    idx: [0; 4],
                    val,
                }
            }
        }
    }

    /// The next address that is not excluded, or `None` when the spec is done.
    fn next(&mut self, ex: &Exclusions) -> Option<IpAddr> {
        match self {
            Cursor::Span { v6, next, hi } => loop {
                if *next > *hi {
                    return None;
                }
                if let Some(end) = ex.interval_end(*v6, *next) {
                    if end >= *hi {
                        // Exhausted; marked as next > hi (no overflow at u128::MAX).
                        *hi = 0;
                        *next = 1;
                        return None;
                    }
                    *next = end + 1;
                    continue;
                }
                let x = *next;
                if x == *hi {
                    *hi = 0;
                    *next = 1;
                } else {
                    *next += 1;
                }
                if ex.by_octets(*v6, x) {
                    continue;
                }
                return Some(to_addr(*v6, x));
            },
            Cursor::Octets { ranges, idx, val } => loop {
                // An exhausted odometer has idx[0] past the end.
                ranges[0].get(idx[0])?;
                let x = u32::from_be_bytes(*val);
                advance(ranges, idx, val);
                let xv = u128::from(x);
                if ex.interval_end(false, xv).is_some() || ex.by_octets(false, xv) {
                    continue;
                }
                return Some(IpAddr::V4(Ipv4Addr::from(x)));
            },
        }
    }
}

/// Steps the octet odometer one address forward; past the last address it leaves
/// `idx[0]` out of range.
fn advance(ranges: &OctetRanges, idx: &mut [usize; 4], val: &mut [u8; 4]) {
    for pos in (0..4).rev() {
        let Some(&(_, hi)) = ranges[pos].get(idx[pos]) else {
            return;
        };
        if val[pos] < hi {
            val[pos] += 1;
            return;
        }
        if let Some(&(lo, _)) = ranges[pos].get(idx[pos] + 1) {
            idx[pos] += 1;
            val[pos] = lo;
            return;
        }
        if pos == 0 {
            idx[0] = ranges[0].len();
            return;
        }
        idx[pos] = 0;
        val[pos] = ranges[pos].first().map_or(0, |&(lo, _)| lo);
    }
}

fn to_addr(v6: bool, x: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(x))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(x).unwrap_or(0)))
    }
}

/// Lazy iterator over a [`TargetSet`]: specs in the order added, each in ascending
/// address order, skipping excluded (and, unless allowed, multicast/broadcast) addresses.
/// Memory is O(1) per spec.
#[derive(Debug)]
pub struct TargetIter {
    specs: std::vec::IntoIter<(Cover, Option<Arc<str>>)>,
    current: Option<(Cursor, Option<Arc<str>>)>,
    excl: Exclusions,
}

impl Iterator for TargetIter {
    type Item = Target;

    fn next(&mut self) -> Option<Target> {
        loop {
            if let Some((cursor, name)) = &mut self.current {
                if let Some(addr) = cursor.next(&self.excl) {
                    return Some(Target {
                        addr,
                        name: name.clone(),
                    });
                }
            }
            let (cover, name) = self.specs.next()?;
            self.current = Some((Cursor::new(cover), name));
        }
    }
}

impl IntoIterator for TargetSet {
    type Item = Target;
    type IntoIter = TargetIter;

    fn into_iter(self) -> TargetIter {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for s in &self.excluded {
            if s.v6 {
                v6.push((s.lo, s.hi));
            } else {
                v4.push((s.lo, s.hi));
            }
        }
        if !self.allow_dangerous {
            v4.push(V4_MULTICAST);
            v4.push(V4_BROADCAST);
            v6.push(V6_MULTICAST);
        }
        TargetIter {
            specs: self.specs.into_iter(),
            current: None,
            excl: Exclusions {
                v4: merge_u128(v4),
                v6: merge_u128(v6),
                octets: self.excluded_octets,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    fn one(token: &str) -> TargetSpec {
        let mut v = parse_target(token).unwrap();
        assert_eq!(v.len(), 1, "{token}");
        v.remove(0)
    }

    /// Every address of a set, as strings.
    fn addrs(set: TargetSet) -> Vec<String> {
        set.into_iter().map(|t| t.addr.to_string()).collect()
    }

    fn set_of(tokens: &[&str]) -> TargetSet {
        let mut set = TargetSet::new();
        for t in tokens {
            for spec in parse_target(t).unwrap() {
                set.add(spec, None).unwrap();
            }
        }
        set
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn single_addresses() {
        assert_eq!(one("10.0.0.1"), TargetSpec::Addr(v4("10.0.0.1")));
        assert_eq!(one("fd00::1"), TargetSpec::Addr("fd00::1".parse().unwrap()));
        assert_eq!(
            one("[fd00::1]"),
            TargetSpec::Addr("fd00::1".parse().unwrap())
        );
        assert_eq!(one("010.0.0.001"), TargetSpec::Addr(v4("10.0.0.1")));
        assert_eq!(addrs(set_of(&["10.0.0.1"])), strs(&["10.0.0.1"]));
        assert_eq!(addrs(set_of(&["[fd00::1]"])), strs(&["fd00::1"]));
    }

    #[test]
    fn cidr_ignores_host_bits() {
        assert_eq!(
            one("10.0.0.7/24"),
            TargetSpec::Cidr {
                addr: v4("10.0.0.7"),
                prefix: 24
            }
        );
        let a = addrs(set_of(&["10.0.0.7/24"]));
        assert_eq!(a.len(), 256);
        assert_eq!(a[0], "10.0.0.0");
        assert_eq!(a[255], "10.0.0.255");
        assert_eq!(
            addrs(set_of(&["10.0.0.9/30"])),
            strs(&["10.0.0.8", "10.0.0.9", "10.0.0.10", "10.0.0.11"])
        );
        assert_eq!(addrs(set_of(&["10.0.0.9/32"])), strs(&["10.0.0.9"]));
        assert_eq!(
            addrs(set_of(&["fd00::1234/126"])),
            strs(&["fd00::1234", "fd00::1235", "fd00::1236", "fd00::1237"])
        );
        assert_eq!(
            addrs(set_of(&["[fd00::5]/127"])),
            strs(&["fd00::4", "fd00::5"])
        );
        assert_eq!(set_of(&["10.0.0.0/0"]).len_upper_bound(), 1 << 32);
        assert_eq!(set_of(&["::/0"]).len_upper_bound(), u128::MAX);
        assert_eq!(set_of(&["fd00::/64"]).len_upper_bound(), 1 << 64);
    }

    #[test]
    fn huge_ipv6_ranges_are_lazy() {
        let first: Vec<String> = set_of(&["fd00::/16"])
            .into_iter()
            .take(3)
            .map(|t| t.addr.to_string())
            .collect();
        assert_eq!(first, strs(&["fd00::", "fd00::1", "fd00::2"]));
        // The top of the address space ends without overflow.
        let mut set = TargetSet::new();
        set.allow_dangerous(true);
        set.add(one("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"), None)
            .unwrap();
        assert_eq!(
            addrs(set),
            strs(&[
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
            ])
        );
        // A whole /0 minus its lower half starts at the upper half, instantly.
        let mut set = set_of(&["::/0"]);
        set.exclude(one("::/1")).unwrap();
        let first: Vec<String> = set
            .into_iter()
            .take(2)
            .map(|t| t.addr.to_string())
            .collect();
        assert_eq!(first, strs(&["8000::", "8000::1"]));
    }

    #[test]
    fn octet_ranges() {
        assert_eq!(
            one("10.0.0-3.1-20"),
            TargetSpec::Octets([vec![(10, 10)], vec![(0, 0)], vec![(0, 3)], vec![(1, 20)]])
        );
        let a = addrs(set_of(&["10.0.0-1.1-2"]));
        assert_eq!(a, strs(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.1.2"]));
        let a = addrs(set_of(&["192.168.1.*"]));
        assert_eq!(a.len(), 256);
        assert_eq!(a[0], "192.168.1.0");
        assert_eq!(a[255], "192.168.1.255");
        assert_eq!(
            addrs(set_of(&["10.0.0.1,3,5-7"])),
            strs(&["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.6", "10.0.0.7"])
        );
        // Unordered and overlapping lists come out ascending, once each.
        assert_eq!(
            addrs(set_of(&["10.0.0.7,1,5-7,2"])),
            strs(&["10.0.0.1", "10.0.0.2", "10.0.0.5", "10.0.0.6", "10.0.0.7"])
        );
        assert_eq!(
            addrs(set_of(&["10.0.0.-2"])),
            strs(&["10.0.0.0", "10.0.0.1", "10.0.0.2"])
        );
        assert_eq!(
            addrs(set_of(&["10.0.0.253-"])),
            strs(&["10.0.0.253", "10.0.0.254", "10.0.0.255"])
        );
        assert_eq!(
            addrs(set_of(&["10.0.1,2.3"])),
            strs(&["10.0.1.3", "10.0.2.3"])
        );
        assert_eq!(
            addrs(set_of(&["10.0-1.255.254-"])),
            strs(&[
                "10.0.255.254",
                "10.0.255.255",
                "10.1.255.254",
                "10.1.255.255"
            ])
        );
        assert_eq!(set_of(&["10.*.*.*"]).len_upper_bound(), 1 << 24);
        assert_eq!(one("10.0.0.1,3").to_string(), "10.0.0.1,3");
        assert_eq!(one("10.*.0-3.-").to_string(), "10.*.0-3.*");
    }

    #[test]
    fn comma_lists_of_targets() {
        assert_eq!(
            parse_target("10.0.0.1,10.0.0.9").unwrap(),
            vec![
                TargetSpec::Addr(v4("10.0.0.1")),
                TargetSpec::Addr(v4("10.0.0.9"))
            ]
        );
        assert_eq!(
            parse_target("a.example,b.example").unwrap(),
            vec![
                TargetSpec::Name("a.example".into()),
                TargetSpec::Name("b.example".into())
            ]
        );
        assert_eq!(
            parse_target("10.0.0.0/31,fd00::1,host").unwrap(),
            vec![
                TargetSpec::Cidr {
                    addr: v4("10.0.0.0"),
                    prefix: 31
                },
                TargetSpec::Addr("fd00::1".parse().unwrap()),
                TargetSpec::Name("host".into())
            ]
        );
        assert_eq!(
            addrs(set_of(&["10.0.0.9,10.0.0.1"])),
            strs(&["10.0.0.9", "10.0.0.1"])
        );
    }

    #[test]
    fn names() {
        assert_eq!(one("localhost"), TargetSpec::Name("localhost".into()));
        assert_eq!(
            one("scan-me.example."),
            TargetSpec::Name("scan-me.example.".into())
        );
        assert_eq!(one("a1.b2.c3"), TargetSpec::Name("a1.b2.c3".into()));
        let label = "a".repeat(63);
        assert_eq!(one(&label), TargetSpec::Name(label.clone()));
        let mut set = TargetSet::new();
        assert_eq!(
            set.add(one("localhost"), None),
            Err(TargetError::Unresolved("localhost".into()))
        );
        assert_eq!(
            set.exclude(one("localhost")),
            Err(TargetError::Unresolved("localhost".into()))
        );
    }

    #[test]
    fn names_keep_their_name() {
        let mut set = TargetSet::new();
        let name: Arc<str> = Arc::from("box.example");
        set.add(TargetSpec::Addr(v4("10.0.0.5")), Some(name.clone()))
            .unwrap();
        set.add(TargetSpec::Addr(v4("10.0.0.6")), None).unwrap();
        let v: Vec<Target> = set.into_iter().collect();
        assert_eq!(
            v,
            vec![
                Target {
                    addr: v4("10.0.0.5"),
                    name: Some(name)
                },
                Target {
                    addr: v4("10.0.0.6"),
                    name: None
                }
            ]
        );
    }

    #[test]
    fn order_is_as_added() {
        assert_eq!(
            addrs(set_of(&["10.0.0.5", "fd00::/127", "10.0.0.1/31"])),
            strs(&["10.0.0.5", "fd00::", "fd00::1", "10.0.0.0", "10.0.0.1"])
        );
    }

    #[test]
    fn exclusions() {
        let mut set = set_of(&["10.0.0.0/29"]);
        set.exclude(one("10.0.0.3")).unwrap();
        set.exclude(one("10.0.0.4/31")).unwrap();
        assert_eq!(
            addrs(set),
            strs(&["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.6", "10.0.0.7"])
        );

        let mut set = set_of(&["10.0.0.0/29"]);
        set.exclude(one("10.0.0.1,6-7")).unwrap();
        assert_eq!(
            addrs(set),
            strs(&["10.0.0.0", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"])
        );

        let mut set = set_of(&["10.0.0-1.1-3"]);
        set.exclude(one("10.0.1.0/24")).unwrap();
        set.exclude(one("10.0.0.2")).unwrap();
        assert_eq!(addrs(set), strs(&["10.0.0.1", "10.0.0.3"]));

        let mut set = set_of(&["10.0.0-2.1"]);
        set.exclude(one("10.0.1.*")).unwrap();
        assert_eq!(addrs(set.clone()), strs(&["10.0.0.1", "10.0.2.1"]));
        // len is before exclusions.
        assert_eq!(set.len_upper_bound(), 3);

        // Excluding everything, and excluding the end of the range.
        let mut set = set_of(&["10.0.0.0/30"]);
        set.exclude(one("10.0.0.0/8")).unwrap();
        assert!(addrs(set).is_empty());
        let mut set = set_of(&["10.0.0.0/30"]);
        set.exclude(one("10.0.0.2/31")).unwrap();
        assert_eq!(addrs(set), strs(&["10.0.0.0", "10.0.0.1"]));

        // IPv6 exclusions do not touch IPv4 targets and vice versa.
        let mut set = set_of(&["10.0.0.1", "::a/127"]);
        set.exclude(one("::/0")).unwrap();
        assert_eq!(addrs(set), strs(&["10.0.0.1"]));
        let mut set = set_of(&["10.0.0.1", "::a/127"]);
        set.exclude(one("0.0.0.0/0")).unwrap();
        assert_eq!(addrs(set), strs(&["::a", "::b"]));
    }

    #[test]
    fn dangerous_addresses() {
        let mut set = TargetSet::new();
        for t in [
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "ff02::1",
            "224.0.0.0/24",
            "ff00::/8",
            "230.1.2.*",
            "255.255.255.255/32",
        ] {
            let err = set.add(one(t), None).unwrap_err();
            assert_eq!(err, TargetError::Dangerous(one(t).to_string()), "{t}");
        }
        assert!(set.is_empty());
        assert_eq!(
            TargetError::Dangerous("224.0.0.1".into()).to_string(),
            "\"224.0.0.1\" is a multicast or broadcast address: pass --allow-broadcast to scan it"
        );

        // Inside a larger range they are skipped.
        let a = addrs(set_of(&["223-224.0.0.1", "254-255.255.255.255"]));
        assert_eq!(a, strs(&["223.0.0.1", "254.255.255.255"]));
    }

    #[test]
    fn dangerous_inside_ranges() {
        let mut set = TargetSet::new();
        set.add(one("223.255.255.255,254"), None).unwrap();
        set.add(one("223-224.0.0.0"), None).unwrap();
        set.add(one("254.255.255.255/31"), None).unwrap();
        assert_eq!(
            addrs(set),
            strs(&[
                "223.255.255.254",
                "223.255.255.255",
                "223.0.0.0",
                "254.255.255.254",
                "254.255.255.255"
            ])
        );
        let mut set = TargetSet::new();
        set.add(one("255.255.255.254/31"), None).unwrap();
        assert_eq!(addrs(set), strs(&["255.255.255.254"]));
        let mut set = TargetSet::new();
        set.add(one("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/7"), None)
            .unwrap();
        let mut it = set.into_iter();
        assert_eq!(it.next().map(|t| t.addr.to_string()), Some("fe00::".into()));

        let mut set = TargetSet::new();
        set.allow_dangerous(true);
        set.add(one("224.0.0.1"), None).unwrap();
        set.add(one("255.255.255.254/31"), None).unwrap();
        assert_eq!(
            addrs(set),
            strs(&["224.0.0.1", "255.255.255.254", "255.255.255.255"])
        );
    }

    #[test]
    fn errors() {
        let bad = |t: &str| parse_target(t).unwrap_err().to_string();
        assert_eq!(bad(""), "bad target \"\": empty target");
        assert_eq!(
            bad("10.0.0.256"),
            "bad target \"10.0.0.256\": octet value 256 is out of range 0-255"
        );
        assert_eq!(
            bad("10.0.0.20-10"),
            "bad target \"10.0.0.20-10\": octet range 20-10 is reversed"
        );
        assert_eq!(
            bad("10.0.0.1,"),
            "bad target \"10.0.0.1,\": empty item in octet \"1,\""
        );
        assert_eq!(bad("10..0.1"), "bad target \"10..0.1\": empty octet");
        assert_eq!(
            bad("10.0.0.1-2-3"),
            "bad target \"10.0.0.1-2-3\": bad octet value \"2-3\""
        );
        assert_eq!(
            bad("10.0.0.0/33"),
            "bad target \"10.0.0.0/33\": prefix length must be a number from 0 to 32"
        );
        assert_eq!(
            bad("fd00::/129"),
            "bad target \"fd00::/129\": prefix length must be a number from 0 to 128"
        );
        assert_eq!(
            bad("10.0.0.0/+8"),
            "bad target \"10.0.0.0/+8\": prefix length must be a number from 0 to 32"
        );
        assert_eq!(
            bad("host.example/24"),
            "bad target \"host.example/24\": a CIDR block needs a numeric address before '/'"
        );
        assert_eq!(
            bad("[10.0.0.1]"),
            "bad target \"[10.0.0.1]\": brackets must hold an IPv6 address"
        );
        assert_eq!(bad("[fd00::1"), "bad target \"[fd00::1\": missing ']'");
        for t in [
            "1.2.3",
            "12345",
            "1.2.3.4.5",
            "-host",
            "host-",
            "ho_st",
            "a..b",
            "fd00::1%eth0",
            "fe80:::1",
            "*",
            "host name",
        ] {
            assert_eq!(
                bad(t),
                format!("bad target {t:?}: not an address, address range, CIDR block or host name"),
                "{t}"
            );
        }
        assert_eq!(
            bad("a.example,,b.example"),
            "bad target \"a.example,,b.example\": empty item in comma list"
        );
        let long_label = "a".repeat(64);
        assert!(bad(&long_label).contains("not an address"));
        let long_name = vec!["abcdefghi"; 26].join(".");
        assert_eq!(long_name.len(), 259);
        assert!(bad(&long_name).contains("not an address"));
    }

    #[test]
    fn hand_built_specs_are_checked() {
        let mut set = TargetSet::new();
        assert_eq!(
            set.add(
                TargetSpec::Cidr {
                    addr: v4("10.0.0.0"),
                    prefix: 40
                },
                None
            ),
            Err(TargetError::Invalid {
                token: "10.0.0.0/40".into(),
                why: "prefix length must be a number from 0 to 32".into()
            })
        );
        assert_eq!(
            set.add(
                TargetSpec::Octets([vec![(10, 10)], vec![], vec![(0, 0)], vec![(1, 1)]]),
                None
            ),
            Err(TargetError::Invalid {
                token: "10..0.1".into(),
                why: "empty octet".into()
            })
        );
        assert!(set
            .add(
                TargetSpec::Octets([vec![(10, 10)], vec![(5, 1)], vec![(0, 0)], vec![(1, 1)]]),
                None
            )
            .is_err());
        set.add(
            TargetSpec::Octets([
                vec![(10, 10)],
                vec![(0, 0)],
                vec![(0, 0)],
                vec![(3, 4), (1, 3)],
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            addrs(set),
            strs(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
        );
    }

    #[test]
    fn iterator_is_send_and_static() {
        fn check<T: Iterator<Item = Target> + Send + 'static>(_: &T) {}
        check(&set_of(&["10.0.0.1"]).into_iter());
    }

    #[test]
    fn random_garbage_never_panics() {
        let alphabet: &[u8] = b"0123456789abcdef.:,-*/[]%xyz ";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = (rnd() % 24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(rnd() % alphabet.len() as u64) as usize] as char)
                .collect();
            if let Ok(specs) = parse_target(&s) {
                parsed += 1;
                let mut set = TargetSet::new();
                for spec in specs {
                    let _ = set.add(spec.clone(), None);
                    let _ = set.exclude(spec);
                }
                let _ = set.len_upper_bound();
                assert!(set.into_iter().take(5).count() <= 5);
            }
        }
        // The alphabet produces some valid tokens too; make sure the loop saw both kinds.
        assert!(parsed > 100, "{parsed}");
    }
}
