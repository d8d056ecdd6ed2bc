//! Errors of the probe database and the risk table: every one names the 1-based line of the
//! data file where it was found, and what is wrong there.

/// A probe database that does not follow the format described in the crate docs.
///
/// The embedded database is parsed strictly by the unit tests, so these errors are met at
/// run time only with a database supplied from elsewhere (a user's file, a test).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeDbError {
    /// The first word of a line is not a keyword of the format.
    #[error("line {line}: unknown keyword `{keyword}` (see the format at the top of probes.txt)")]
    UnknownKeyword {
        /// 1-based line number.
        line: usize,
        /// The word found.
        keyword: String,
    },
    /// A keyword that needs a value stands alone on its line.
    #[error("line {line}: `{keyword}` needs a value")]
    MissingValue {
        /// 1-based line number.
        line: usize,
        /// The keyword.
        keyword: &'static str,
    },
    /// A probe keyword (`send`, `ports`, ...) or `match` appears before any `probe` line.
    #[error("line {line}: `{keyword}` outside a probe: start one with `probe NAME tcp|udp`")]
    OutsideProbe {
        /// 1-based line number.
        line: usize,
        /// The keyword.
        keyword: &'static str,
    },
    /// A rule keyword (`regex`, `product`, ...) appears before any `match`/`softmatch` line.
    #[error("line {line}: `{keyword}` outside a rule: start one with `match SERVICE`")]
    OutsideRule {
        /// 1-based line number.
        line: usize,
        /// The keyword.
        keyword: &'static str,
    },
    /// A keyword that may appear once per probe or rule appears again.
    #[error("line {line}: `{keyword}` given twice for the same probe or rule")]
    Duplicate {
        /// 1-based line number of the second occurrence.
        line: usize,
        /// The keyword.
        keyword: &'static str,
    },
    /// A probe or service name has characters outside the allowed set.
    #[error("line {line}: bad name `{name}`: use letters, digits, `-`, `_` or `.`")]
    BadName {
        /// 1-based line number.
        line: usize,
        /// The name found.
        name: String,
    },
    /// The transport of a probe is neither `tcp` nor `udp`.
    #[error("line {line}: transport `{value}` is neither tcp nor udp")]
    BadTransport {
        /// 1-based line number.
        line: usize,
        /// The word found.
        value: String,
    },
    /// A `probe` line does not have exactly a name and a transport.
    #[error("line {line}: write `probe NAME tcp|udp`")]
    BadProbeLine {
        /// 1-based line number.
        line: usize,
    },
    /// Two probes have the same name.
    #[error("line {line}: a probe named `{name}` already exists")]
    DuplicateProbe {
        /// 1-based line number of the second one.
        line: usize,
        /// The name.
        name: String,
    },
    /// A second TCP probe that sends nothing: only one null probe may exist.
    #[error("line {line}: only one TCP probe may send nothing (`send null`)")]
    SecondNullProbe {
        /// 1-based line number.
        line: usize,
    },
    /// `send null` on a UDP probe: a UDP service cannot be asked with an empty datagram.
    #[error("line {line}: a UDP probe must send a payload, not `null`")]
    NullUdp {
        /// 1-based line number.
        line: usize,
    },
    /// `send null` mixed with quoted payload lines in the same probe.
    #[error("line {line}: `send null` cannot be mixed with quoted payloads")]
    MixedSend {
        /// 1-based line number.
        line: usize,
    },
    /// `send payload NAME` names no payload of the UDP payload table.
    #[error("line {line}: no UDP payload is named `{name}`")]
    UnknownPayload {
        /// 1-based line number.
        line: usize,
        /// The name given.
        name: String,
    },
    /// A quoted payload string is malformed.
    #[error("line {line}: bad quoted string: {reason}")]
    BadString {
        /// 1-based line number.
        line: usize,
        /// What is wrong (unterminated, unknown escape, ...).
        reason: &'static str,
    },
    /// A port or port range in `ports` is not a number in 1-65535 or is reversed.
    #[error("line {line}: bad port `{value}`: use 1-65535 or LOW-HIGH")]
    BadPort {
        /// 1-based line number.
        line: usize,
        /// The item found.
        value: String,
    },
    /// `rarity` is not a digit 1-9.
    #[error("line {line}: bad rarity `{value}`: use 1 (always tried) to 9 (rarely)")]
    BadRarity {
        /// 1-based line number.
        line: usize,
        /// The value found.
        value: String,
    },
    /// `wait` is not a duration like `500ms` or `5s` between 1 ms and 60 s.
    #[error("line {line}: bad wait `{value}`: write e.g. 500ms or 5s (at most 60s)")]
    BadWait {
        /// 1-based line number.
        line: usize,
        /// The value found.
        value: String,
    },
    /// A probe block ends without a required keyword.
    #[error("line {line}: probe `{probe}` has no `{keyword}` line")]
    MissingProbeField {
        /// 1-based line number of the `probe` line.
        line: usize,
        /// The probe's name.
        probe: String,
        /// The missing keyword.
        keyword: &'static str,
    },
    /// A rule block ends without its `regex` line.
    #[error("line {line}: rule for `{service}` has no `regex` line")]
    MissingRegex {
        /// 1-based line number of the `match`/`softmatch` line.
        line: usize,
        /// The rule's service.
        service: String,
    },
    /// A `fallback` names a probe that does not exist, or the probe itself.
    #[error("line {line}: bad fallback `{name}`: it must name another probe")]
    BadFallback {
        /// 1-based line number.
        line: usize,
        /// The name given.
        name: String,
    },
    /// A regex does not compile (syntax, or larger than the size limit).
    #[error("line {line}: regex does not compile: {source}")]
    Regex {
        /// 1-based line number.
        line: usize,
        /// The regex crate's error.
        #[source]
        source: regex::Error,
    },
    /// A field template is malformed (`$` not followed by a group, unbalanced braces).
    #[error("line {line}: bad template: {reason}")]
    BadTemplate {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A template refers to a capture group the rule's regex does not have.
    #[error("line {line}: template uses group ${group} but the regex has only {groups} group(s)")]
    NoSuchGroup {
        /// 1-based line number.
        line: usize,
        /// The group referred to.
        group: usize,
        /// How many capture groups the regex has.
        groups: usize,
    },
}

/// A risk table that does not follow the format described at the top of `risks.txt`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskTableError {
    /// The first word of a line is not a keyword of the format.
    #[error("line {line}: unknown keyword `{keyword}` (see the format at the top of risks.txt)")]
    UnknownKeyword {
        /// 1-based line number.
        line: usize,
        /// The word found.
        keyword: String,
    },
    /// A keyword that needs a value stands alone on its line.
    #[error("line {line}: `{keyword}` needs a value")]
    MissingValue {
        /// 1-based line number.
        line: usize,
        /// The keyword.
        keyword: &'static str,
    },
    /// A keyword appears before any `risk NAME` line.
    #[error("line {line}: `{keyword}` outside an entry: start one with `risk NAME`")]
    OutsideEntry {
        /// 1-based line number.
        line: usize,
        /// The keyword.
        keyword: &'static str,
    },
    /// A keyword that may appear once per entry appears again.
    #[error("line {line}: `{keyword}` given twice in the same entry")]
    Duplicate {
        /// 1-based line number.
        line: usize,
        /// The keyword.
        keyword: &'static str,
    },
    /// An entry or service name has characters outside the allowed set.
    #[error("line {line}: bad name `{name}`: use lower-case letters, digits, `-` or `.`")]
    BadName {
        /// 1-based line number.
        line: usize,
        /// The name found.
        name: String,
    },
    /// A port or range is not in 1-65535 or is reversed.
    #[error("line {line}: bad port `{value}`: use 1-65535 or LOW-HIGH")]
    BadPort {
        /// 1-based line number.
        line: usize,
        /// The item found.
        value: String,
    },
    /// The level is not one of low, medium, high, critical.
    #[error("line {line}: bad level `{value}`: use low, medium, high or critical")]
    BadLevel {
        /// 1-based line number.
        line: usize,
        /// The value found.
        value: String,
    },
    /// An entry ends without a required keyword.
    #[error("line {line}: risk `{name}` has no `{keyword}` line")]
    MissingField {
        /// 1-based line number of the `risk` line.
        line: usize,
        /// The entry's name.
        name: String,
        /// The missing keyword.
        keyword: &'static str,
    },
    /// Two entries claim the same port and transport.
    #[error("line {line}: {proto} port {port} is already claimed by risk `{other}`")]
    PortTaken {
        /// 1-based line number.
        line: usize,
        /// The transport (`tcp`, `udp`).
        proto: &'static str,
        /// The port.
        port: u16,
        /// The entry that claimed it first.
        other: String,
    },
    /// Two entries have the same name.
    #[error("line {line}: a risk named `{name}` already exists")]
    DuplicateName {
        /// 1-based line number.
        line: usize,
        /// The name.
        name: String,
    },
}
