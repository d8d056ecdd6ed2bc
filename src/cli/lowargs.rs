//! A faithful mirror of the command line.
//!
//! [`LowArgs::parse`] walks the arguments once and records every flag as given. Values
//! are checked only for their own syntax (a number is a number, a time is a time);
//! whether flags fit together, what the targets are and what the ports are is
//! [`hiargs`](super::hiargs)'s business.
//!
//! Every flag is looked up in [`flags::FLAGS`], which also makes the help: a flag the
//! table lacks is unknown. What each flag does is [`LowArgs::apply`]'s match.
//!
//! Accepted forms: `--opt value`, `--opt=value`, `-opt value` (nmap's one dash), `-p 80`,
//! `-p80`, `-p-`, `-T4`, `-T 4`, `-sS`, `-sST` (several scan letters), `-oA base`,
//! `-PS`, `-PS22,80`, `-v`, `-vv`, `-v3`, and `--` to end options. A value-taking option
//! always consumes the next argument as its value (so `-p -` and `--exclude-ports -100`
//! work).

use std::time::Duration;

use monban_engine::PingProbe;
use monban_engine::ScanType;

use super::flags::{self, Flag, Takes};
use super::ArgError;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Scan (with or without the `scan` subcommand).
    Scan,
    /// Show a help text.
    Help(HelpTopic),
    /// Show the version.
    Version,
    /// `monban profiles`: list the scan profiles.
    Profiles,
}

/// Which help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HelpTopic {
    /// `monban --help`, `monban help`, bare `monban`.
    Top,
    /// `monban scan --help`.
    Scan,
}

/// An output flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFlag {
    /// `-oN`.
    Normal,
    /// `-oX`.
    Xml,
    /// `-oG`.
    Grepable,
    /// `-oJ`.
    Json,
    /// `-oA`: all four, from a base name.
    All,
}

/// Where targets come from, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetSource {
    /// A target token on the command line.
    Arg(String),
    /// `-iL FILE` (`-` = stdin).
    File(String),
}

/// The command line, flag by flag. Repeated single-value flags: the last one wins.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LowArgs {
    pub mode: Mode,
    /// Scan types in the order given (`-sS`, `-sT`).
    pub scan_types: Vec<ScanType>,
    /// `-p`.
    pub ports: Option<String>,
    /// `--exclude-ports`.
    pub exclude_ports: Option<String>,
    /// `-F`.
    pub fast: bool,
    /// `--top-ports`.
    pub top_ports: Option<usize>,
    /// `-r`.
    pub sequential: bool,
    /// `-T`.
    pub template: Option<u8>,
    pub min_rate: Option<f64>,
    pub max_rate: Option<f64>,
    pub max_retries: Option<u32>,
    pub host_timeout: Option<Duration>,
    pub min_rtt_timeout: Option<Duration>,
    pub max_rtt_timeout: Option<Duration>,
    pub initial_rtt_timeout: Option<Duration>,
    pub scan_delay: Option<Duration>,
    /// `-Pn`.
    pub skip_discovery: bool,
    /// `-sn`: host discovery only.
    pub ping_only: bool,
    /// `-PE`, `-PP`, `-PS[ports]`, `-PA[ports]`, `-PU[ports]` in the order given.
    pub pings: Vec<PingProbe>,
    /// `-n`.
    pub no_dns: bool,
    /// `-R` (accepted, no effect yet).
    pub always_dns: bool,
    /// `-6`.
    pub ipv6: bool,
    /// Targets and `-iL` files, in order.
    pub targets: Vec<TargetSource>,
    /// `--exclude` values.
    pub excludes: Vec<String>,
    /// `--excludefile` values.
    pub exclude_files: Vec<String>,
    /// `-oN/-oX/-oG/-oJ/-oA`, in order.
    pub outputs: Vec<(OutputFlag, String)>,
    /// `--db[=FILE|URL]`: store the scan (empty: the default database).
    pub db: Option<String>,
    /// `--stats-every`: report progress this often.
    pub stats_every: Option<Duration>,
    pub open: bool,
    pub reason: bool,
    pub verbose: u8,
    pub seed: Option<u64>,
    /// `--scanflags`: TCP flags for the probes.
    pub scan_flags: Option<u8>,
    /// `--shard I/N` as written (1-based).
    pub shard: Option<(u32, u32)>,
    /// `-g` / `--source-port`.
    pub source_port: Option<u16>,
    /// `-S`: one address, or a list / range / CIDR block of them (checked when planning).
    pub source_addr: Option<String>,
    /// `-e`.
    pub interface: Option<String>,
    pub no_progress: bool,
    /// `--keep-privileges`.
    pub keep_privileges: bool,
    pub allow_broadcast: bool,
    /// `-sV`.
    pub version_detection: bool,
    /// `--version-intensity` (checked to be 0-9).
    pub version_intensity: Option<u8>,
    /// `--profile NAME` (checked when planning).
    pub profile: Option<String>,
    /// `-b [user[:pass]@]server[:port]`: FTP bounce scan through this server.
    pub bounce: Option<String>,
    /// Set by `--profile stealth`: SYN, FIN, NULL, Xmas and ACK, one verdict per port.
    pub stealth: bool,
    /// `--audit`: a verdict per host.
    pub audit: bool,
    /// `--send-ip` / `--disable-arp-ping`: no ARP / ND discovery on the local segment.
    pub no_arp: bool,
    /// `--resume FILE`: continue the interrupted scan whose JSON Lines output is FILE.
    pub resume: Option<String>,
}

impl Default for LowArgs {
    fn default() -> Self {
        LowArgs {
            mode: Mode::Scan,
            scan_types: Vec::new(),
            ports: None,
            exclude_ports: None,
            fast: false,
            top_ports: None,
            sequential: false,
            template: None,
            min_rate: None,
            max_rate: None,
            max_retries: None,
            host_timeout: None,
            min_rtt_timeout: None,
            max_rtt_timeout: None,
            initial_rtt_timeout: None,
            scan_delay: None,
            skip_discovery: false,
            ping_only: false,
            pings: Vec::new(),
            no_dns: false,
            always_dns: false,
            ipv6: false,
            targets: Vec::new(),
            excludes: Vec::new(),
            exclude_files: Vec::new(),
            outputs: Vec::new(),
            db: None,
            stats_every: None,
            open: false,
            reason: false,
            verbose: 0,
            seed: None,
            scan_flags: None,
            shard: None,
            source_port: None,
            source_addr: None,
            interface: None,
            no_progress: false,
            keep_privileges: false,
            allow_broadcast: false,
            version_detection: false,
            version_intensity: None,
            profile: None,
            bounce: None,
            stealth: false,
            audit: false,
            no_arp: false,
            resume: None,
        }
    }
}

/// Subcommands that are recognised as the first argument.
const SUBCOMMANDS: [&str; 3] = ["scan", "help", "profiles"];

/// nmap `-s` letters we know but do not implement yet, with their names.
const UNSUPPORTED_SCANS: [(char, &str); 8] = [
    ('M', "Maimon scan"),
    ('Y', "SCTP INIT scan"),
    ('Z', "SCTP COOKIE-ECHO scan"),
    ('O', "IP protocol scan"),
    ('I', "idle scan"),
    ('C', "script scan"),
    ('L', "list scan"),
    ('R', "RPC scan"),
];

/// nmap `-P` discovery letters we know but do not implement yet.
const UNSUPPORTED_PINGS: &str = "YMOR";

fn unknown(opt: &str) -> ArgError {
    ArgError(format!("unknown option {opt:?} (see monban scan --help)"))
}

fn needs(flag: &str, what: &str, got: &str) -> ArgError {
    ArgError(format!("{flag} needs {what}, got {got:?}"))
}

/// A cursor over the arguments.
struct Args<I: Iterator<Item = String>> {
    rest: I,
}

impl<I: Iterator<Item = String>> Args<I> {
    /// The value of `flag`: `inline` if given, else the next argument.
    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, ArgError> {
        match inline {
            Some(v) => Ok(v),
            None => self.rest.next().ok_or_else(|| {
                ArgError(format!("missing value for {flag} (see monban scan --help)"))
            }),
        }
    }
}

impl LowArgs {
    /// Parses the arguments after the program name.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<LowArgs, ArgError> {
        let mut low = LowArgs::default();
        let mut args = Args {
            rest: args.into_iter().peekable(),
        };
        let mut help_topic = HelpTopic::Top;
        match args.rest.peek().map(String::as_str) {
            None => {
                low.mode = Mode::Help(HelpTopic::Top);
                return Ok(low);
            }
            Some(first) if SUBCOMMANDS.contains(&first) => {
                let sub = args.rest.next().unwrap_or_default();
                if sub == "help" {
                    low.mode = Mode::Help(HelpTopic::Top);
                    return Ok(low);
                }
                if sub == "profiles" {
                    if let Some(extra) = args.rest.next() {
                        return Err(ArgError(format!(
                            "monban profiles takes no arguments (got {extra:?})"
                        )));
                    }
                    low.mode = Mode::Profiles;
                    return Ok(low);
                }
                help_topic = HelpTopic::Scan;
            }
            Some(_) => {}
        }
        let mut only_targets = false;
        while let Some(arg) = args.rest.next() {
            let mode = if only_targets {
                low.targets.push(TargetSource::Arg(arg));
                None
            } else if arg == "--" {
                only_targets = true;
                None
            } else if let Some(body) = arg.strip_prefix("--") {
                low.long(body, &mut args, help_topic)?
            } else if arg.len() > 1 && arg.starts_with('-') {
                // nmap habit: long options with one dash (`-open`, `-min-rate 100`).
                let body = &arg[1..];
                let name = body.split_once('=').map_or(body, |(n, _)| n);
                if flags::long(&format!("--{name}")).is_some_and(|f| f.one_dash) {
                    low.long(body, &mut args, help_topic)?
                } else {
                    low.short(&arg, &mut args, help_topic)?
                }
            } else {
                low.targets.push(TargetSource::Arg(arg));
                None
            };
            if let Some(mode) = mode {
                low.mode = mode;
                return Ok(low);
            }
        }
        Ok(low)
    }

    /// Handles a long option, `body` being what follows the dashes (`min-rate=5`).
    /// Returns the mode for `--help`/`--version`, which end parsing.
    fn long<I: Iterator<Item = String>>(
        &mut self,
        body: &str,
        args: &mut Args<I>,
        help_topic: HelpTopic,
    ) -> Result<Option<Mode>, ArgError> {
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spelled = format!("--{name}");
        let Some(flag) = flags::long(&spelled) else {
            return Err(unknown(&spelled));
        };
        let value = match flag.takes {
            Takes::Nothing => match inline {
                Some(_) => return Err(ArgError(format!("{spelled} does not take a value"))),
                None => String::new(),
            },
            Takes::Value(_) => args.value(&spelled, inline)?,
            Takes::Inline(_) => inline.unwrap_or_default(),
            // The table gives these to short spellings only (a test checks).
            Takes::Glued(_) | Takes::Letter => return Err(unknown(&spelled)),
        };
        self.apply(flag, &spelled, &spelled, value, help_topic)
    }

    /// Handles an nmap-style short option (`arg` starts with one `-`).
    fn short<I: Iterator<Item = String>>(
        &mut self,
        arg: &str,
        args: &mut Args<I>,
        help_topic: HelpTopic,
    ) -> Result<Option<Mode>, ArgError> {
        if arg.starts_with(flags::LETTER_PREFIX) {
            return self.scan_letters(arg, help_topic);
        }
        let Some((flag, spelled)) = flags::short(arg) else {
            if let Some(rest) = arg.strip_prefix("-P") {
                let letter = rest.chars().next().unwrap_or(' ');
                if UNSUPPORTED_PINGS.contains(letter) {
                    return Err(ArgError(format!(
                        "discovery probe -P{letter} is not supported yet (-Pn skips discovery)"
                    )));
                }
            }
            return Err(unknown(arg));
        };
        // What follows the spelling (`-p80` → "80"); `flags::short` matched it as a prefix.
        let rest = &arg[spelled.len()..];
        let value = match flag.takes {
            Takes::Nothing | Takes::Glued(_) => rest.to_string(),
            Takes::Value(_) => args.value(spelled, (!rest.is_empty()).then(|| rest.to_string()))?,
            Takes::Letter | Takes::Inline(_) => return Err(unknown(arg)),
        };
        self.apply(flag, spelled, arg, value, help_topic)
    }

    /// `-sS`, `-sT`, `-sST`: each letter after `-s` is a scan letter flag of the table
    /// (`-sSV`: `V`, version detection, combines with them).
    fn scan_letters(&mut self, arg: &str, help_topic: HelpTopic) -> Result<Option<Mode>, ArgError> {
        let letters = &arg[flags::LETTER_PREFIX.len()..];
        if letters.is_empty() {
            return Err(unknown(arg));
        }
        for c in letters.chars() {
            let Some(flag) = flags::letter(c) else {
                return Err(match UNSUPPORTED_SCANS.iter().find(|(l, _)| *l == c) {
                    Some((_, name)) => ArgError(format!(
                        "-s{c} ({name}) is not supported yet (use -sS, -sT, -sU, -sF, -sN, -sX, -sA or -sW)"
                    )),
                    None => unknown(arg),
                });
            };
            self.apply(flag, flag.names[0], arg, String::new(), help_topic)?;
        }
        Ok(None)
    }

    /// Records `flag`, spelled `spelled` (`--source-port`, `-g`: the name errors give) in
    /// the argument `arg` (`-PS22`, `-sSV`), with its value (empty when it takes none).
    /// Returns the mode for `--help`/`--version`, which end parsing.
    fn apply(
        &mut self,
        flag: &Flag,
        spelled: &str,
        arg: &str,
        v: String,
        help_topic: HelpTopic,
    ) -> Result<Option<Mode>, ArgError> {
        match flag.names[0] {
            "-h" => return Ok(Some(Mode::Help(help_topic))),
            "-V" => return Ok(Some(Mode::Version)),
            // Target specification.
            "-iL" => self.targets.push(TargetSource::File(v)),
            "--exclude" => self.excludes.push(v),
            "--excludefile" => self.exclude_files.push(v),
            "--allow-broadcast" => self.allow_broadcast = true,
            // Host discovery.
            "-sn" => self.ping_only = true,
            "-PE" => self.pings.push(PingProbe::Echo),
            "-PP" => self.pings.push(PingProbe::Timestamp),
            "-PU" => {
                let list = ping_ports(arg, &v, PingProbe::DEFAULT_UDP_PORT)?;
                self.pings.extend(list.into_iter().map(PingProbe::Udp));
            }
            "-PS" => {
                let list = ping_ports(arg, &v, 80)?;
                self.pings.extend(list.into_iter().map(PingProbe::Syn));
            }
            "-PA" => {
                let list = ping_ports(arg, &v, 80)?;
                self.pings.extend(list.into_iter().map(PingProbe::Ack));
            }
            "--send-ip" => self.no_arp = true,
            "-Pn" => self.skip_discovery = true,
            "-n" => self.no_dns = true,
            "-R" => self.always_dns = true,
            // Scan techniques.
            "-sS" => self.scan_types.push(ScanType::Syn),
            "-sT" => self.scan_types.push(ScanType::Connect),
            "-sU" => self.scan_types.push(ScanType::Udp),
            "-sF" => self.scan_types.push(ScanType::Fin),
            "-sN" => self.scan_types.push(ScanType::Null),
            "-sX" => self.scan_types.push(ScanType::Xmas),
            "-sA" => self.scan_types.push(ScanType::Ack),
            "-sW" => self.scan_types.push(ScanType::Window),
            "--shard" => {
                let parsed = v
                    .split_once('/')
                    .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
                self.shard = Some(parsed.ok_or_else(|| needs(spelled, "I/N, e.g. 1/4", &v))?);
            }
            "-sV" => self.version_detection = true,
            "--version-intensity" => {
                self.version_intensity = Some(match v.parse::<u8>() {
                    Ok(n) if n <= 9 => n,
                    _ => return Err(needs(spelled, "a level from 0 to 9", &v)),
                });
            }
            "--profile" => self.profile = Some(v),
            "-b" => {
                self.scan_types.push(ScanType::Bounce);
                self.bounce = Some(v);
            }
            "--scanflags" => {
                self.scan_flags = Some(scan_flags(&v).ok_or_else(|| {
                    needs(
                        spelled,
                        "a number (0-255) or flag names like SYNFIN or URGPSHFIN",
                        &v,
                    )
                })?);
            }
            // Port specification.
            "-p" => self.ports = Some(v),
            "--exclude-ports" => self.exclude_ports = Some(v),
            "-F" => self.fast = true,
            "--top-ports" => {
                self.top_ports = Some(match v.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(needs(spelled, "a positive whole number", &v)),
                });
            }
            "-r" => self.sequential = true,
            // Timing and performance.
            "-T" => self.template = Some(template(&v)?),
            "--min-rate" => self.min_rate = Some(rate(spelled, &v)?),
            "--max-rate" => self.max_rate = Some(rate(spelled, &v)?),
            "--max-retries" => {
                self.max_retries = Some(
                    v.parse()
                        .map_err(|_| needs(spelled, "a whole number", &v))?,
                );
            }
            "--host-timeout" => self.host_timeout = Some(time(spelled, &v)?),
            "--initial-rtt-timeout" => self.initial_rtt_timeout = Some(time(spelled, &v)?),
            "--min-rtt-timeout" => self.min_rtt_timeout = Some(time(spelled, &v)?),
            "--max-rtt-timeout" => self.max_rtt_timeout = Some(time(spelled, &v)?),
            "--scan-delay" => self.scan_delay = Some(time(spelled, &v)?),
            // Output.
            "-oN" => self.outputs.push((OutputFlag::Normal, v)),
            "-oX" => self.outputs.push((OutputFlag::Xml, v)),
            "-oG" => self.outputs.push((OutputFlag::Grepable, v)),
            "-oJ" => self.outputs.push((OutputFlag::Json, v)),
            "-oA" => self.outputs.push((OutputFlag::All, v)),
            "--open" => self.open = true,
            "--reason" => self.reason = true,
            "--audit" => self.audit = true,
            "-v" => {
                if v.bytes().all(|b| b == b'v') {
                    let n = u8::try_from(v.len() + 1).unwrap_or(u8::MAX);
                    self.verbose = self.verbose.saturating_add(n);
                } else if v.bytes().all(|b| b.is_ascii_digit()) {
                    self.verbose = v
                        .parse()
                        .map_err(|_| needs(spelled, "a level from 0 to 255", &v))?;
                } else {
                    return Err(unknown(arg));
                }
            }
            "--no-progress" => self.no_progress = true,
            // Misc.
            "--keep-privileges" => self.keep_privileges = true,
            "--resume" => self.resume = Some(v),
            "--db" => self.db = Some(v),
            "--stats-every" => self.stats_every = Some(time(spelled, &v)?),
            "-6" => self.ipv6 = true,
            "--seed" => {
                self.seed = Some(
                    v.parse()
                        .map_err(|_| needs(spelled, "a whole number", &v))?,
                );
            }
            "-g" => self.source_port = Some(port(spelled, &v)?),
            "-S" => {
                if v.is_empty() {
                    return Err(needs(spelled, "an IP address", &v));
                }
                self.source_addr = Some(v);
            }
            "-e" => {
                if v.is_empty() {
                    return Err(needs(spelled, "an interface name", &v));
                }
                self.interface = Some(v);
            }
            // A flag of the table without an arm: the table tests catch it.
            _ => {
                return Err(ArgError(format!(
                    "{spelled}: in the flag table, not parsed"
                )))
            }
        }
        Ok(None)
    }
}

/// `--scanflags` value: a number (`9`, `0x29`) or flag names run together in any order
/// and case (`URGACKPSHRSTSYNFIN`, `synfin`), as nmap takes them.
pub(crate) fn scan_flags(v: &str) -> Option<u8> {
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        return u8::from_str_radix(hex, 16).ok();
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().ok();
    }
    const NAMES: [(&str, u8); 8] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];
    let upper = v.to_ascii_uppercase();
    let mut rest = upper.as_str();
    let mut bits = 0u8;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let (name, bit) = NAMES.iter().find(|(n, _)| rest.starts_with(n))?;
        bits |= bit;
        rest = &rest[name.len()..];
    }
    Some(bits)
}

/// Ports of `-PS`/`-PA`/`-PU` (attached, as nmap takes them: `-PS22,443`); `default`
/// when none.
fn ping_ports(flag: &str, spec: &str, default: u16) -> Result<Vec<u16>, ArgError> {
    if spec.is_empty() {
        return Ok(vec![default]);
    }
    let list = monban_engine::ports::parse_ports(spec)
        .map_err(|e| ArgError(format!("bad port list in {flag}: {e}")))?;
    // Bare numbers land in the TCP list; `-PU` probes them over UDP.
    let mut ports = list.tcp;
    if flag.starts_with("-PU") {
        ports.extend(list.udp);
        ports.sort_unstable();
        ports.dedup();
    }
    if ports.is_empty() {
        return Err(ArgError(format!("{flag} names no port")));
    }
    Ok(ports)
}

/// `-T` value: `0`..`5` or a template name.
fn template(v: &str) -> Result<u8, ArgError> {
    const NAMES: [&str; 6] = [
        "paranoid",
        "sneaky",
        "polite",
        "normal",
        "aggressive",
        "insane",
    ];
    if let Ok(n) = v.parse::<u8>() {
        if n <= 5 && v.len() == 1 {
            return Ok(n);
        }
    }
    NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(v))
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| {
            needs(
                "-T",
                "0-5 or paranoid, sneaky, polite, normal, aggressive, insane",
                v,
            )
        })
}

/// A rate: a positive, finite number of probes per second.
fn rate(flag: &str, v: &str) -> Result<f64, ArgError> {
    match v.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && plain_number(v) => Ok(r),
        _ => Err(needs(flag, "a positive number", v)),
    }
}

/// Digits with at most one decimal point and at least one digit: no sign, exponent,
/// `inf` or `nan`, which `f64::from_str` would accept.
fn plain_number(v: &str) -> bool {
    let mut dots = 0;
    let mut digits = 0;
    for b in v.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return false,
        }
    }
    digits > 0 && dots <= 1
}

/// A port number 1–65535.
fn port(flag: &str, v: &str) -> Result<u16, ArgError> {
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(needs(flag, "a port number from 1 to 65535", v)),
    }
}

/// nmap's time syntax: a number (decimals allowed) followed by `ms`, `s`, `m` or `h`; a
/// bare number is seconds.
pub(crate) fn parse_time(v: &str) -> Option<Duration> {
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    if !plain_number(num) {
        return None;
    }
    let nanos_per_unit: f64 = match unit {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let nanos = (num.parse::<f64>().ok()? * nanos_per_unit).round();
    // u64::MAX nanoseconds is about 584 years; anything longer is a typo.
    if !(0.0..1.8e19).contains(&nanos) {
        return None;
    }
    // The range check above makes the conversion exact enough and lossless in range.
    Some(Duration::from_nanos(nanos as u64))
}

fn time(flag: &str, v: &str) -> Result<Duration, ArgError> {
    parse_time(v).ok_or_else(|| needs(flag, "a time such as 500ms, 30s, 5m or 2h", v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low(args: &[&str]) -> Result<LowArgs, ArgError> {
        LowArgs::parse(args.iter().map(|s| s.to_string()))
    }

    fn err(args: &[&str]) -> String {
        low(args).unwrap_err().to_string()
    }

    #[test]
    fn time_syntax() {
        assert_eq!(parse_time("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_time("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_time("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_time("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_time("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_time("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_time("0.25s"), Some(Duration::from_millis(250)));
        assert_eq!(parse_time("0"), Some(Duration::ZERO));
        assert_eq!(parse_time("2.5ms"), Some(Duration::from_micros(2500)));
        for bad in [
            "",
            "ms",
            "5x",
            "-5s",
            "5 s",
            "1e3",
            "1..2s",
            ".",
            "5sec",
            "inf",
            "nan",
            "5S",
            "999999999999h",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(rate("--min-rate", "100"), Ok(100.0));
        assert_eq!(rate("--min-rate", "0.5"), Ok(0.5));
        for bad in ["0", "-1", "abc", "inf", "NaN", "1e3", ""] {
            assert_eq!(
                rate("--min-rate", bad).unwrap_err().to_string(),
                format!("monban: --min-rate needs a positive number, got {bad:?}")
            );
        }
        assert_eq!(port("-g", "53"), Ok(53));
        assert!(port("-g", "0").is_err());
        assert!(port("-g", "65536").is_err());
        assert_eq!(template("4"), Ok(4));
        assert_eq!(template("Insane"), Ok(5));
        assert_eq!(template("paranoid"), Ok(0));
        for bad in ["6", "04", "fast", "", "-1"] {
            assert!(template(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subcommand_and_help_forms() {
        assert_eq!(low(&[]).unwrap().mode, Mode::Help(HelpTopic::Top));
        assert_eq!(low(&["help"]).unwrap().mode, Mode::Help(HelpTopic::Top));
        assert_eq!(low(&["--help"]).unwrap().mode, Mode::Help(HelpTopic::Top));
        assert_eq!(low(&["-h"]).unwrap().mode, Mode::Help(HelpTopic::Top));
        assert_eq!(
            low(&["scan", "--help"]).unwrap().mode,
            Mode::Help(HelpTopic::Scan)
        );
        assert_eq!(
            low(&["scan", "-p", "80", "-h", "--bogus"]).unwrap().mode,
            Mode::Help(HelpTopic::Scan)
        );
        assert_eq!(low(&["--version"]).unwrap().mode, Mode::Version);
        assert_eq!(low(&["scan", "-V"]).unwrap().mode, Mode::Version);
        let l = low(&["scan"]).unwrap();
        assert_eq!(l.mode, Mode::Scan);
        assert!(l.targets.is_empty());
        let l = low(&["host"]).unwrap();
        assert_eq!(l.targets, vec![TargetSource::Arg("host".into())]);
    }

    #[test]
    fn value_forms() {
        let l = low(&[
            "-p80",
            "--min-rate=5",
            "--max-rate",
            "10",
            "-T",
            "aggressive",
        ])
        .unwrap();
        assert_eq!(l.ports.as_deref(), Some("80"));
        assert_eq!(l.min_rate, Some(5.0));
        assert_eq!(l.max_rate, Some(10.0));
        assert_eq!(l.template, Some(4));
        let l = low(&["-p", "-", "-T1"]).unwrap();
        assert_eq!(l.ports.as_deref(), Some("-"));
        assert_eq!(l.template, Some(1));
        assert_eq!(low(&["-p-"]).unwrap().ports.as_deref(), Some("-"));
        // The last of a repeated flag wins.
        assert_eq!(low(&["-p1", "-p2"]).unwrap().ports.as_deref(), Some("2"));
        // After `--`, everything is a target.
        let l = low(&["--", "-p", "x"]).unwrap();
        assert_eq!(
            l.targets,
            vec![
                TargetSource::Arg("-p".into()),
                TargetSource::Arg("x".into())
            ]
        );
        assert_eq!(low(&["--exclude="]).unwrap().excludes, vec![String::new()]);
    }

    #[test]
    fn verbosity() {
        assert_eq!(low(&["-v"]).unwrap().verbose, 1);
        assert_eq!(low(&["-vv"]).unwrap().verbose, 2);
        assert_eq!(low(&["-v", "-vv"]).unwrap().verbose, 3);
        assert_eq!(low(&["-v3"]).unwrap().verbose, 3);
        assert_eq!(low(&["-v0"]).unwrap().verbose, 0);
        assert_eq!(
            low(&[&format!("-{}", "v".repeat(300))]).unwrap().verbose,
            255
        );
        assert_eq!(
            err(&["-v300"]),
            "monban: -v needs a level from 0 to 255, got \"300\""
        );
        assert_eq!(
            err(&["-vx"]),
            "monban: unknown option \"-vx\" (see monban scan --help)"
        );
    }

    #[test]
    fn ping_flags() {
        let l = low(&["-PE", "-PP", "-PU", "-PU53,161", "-PS", "-PA22-23"]).unwrap();
        assert_eq!(
            l.pings,
            vec![
                PingProbe::Echo,
                PingProbe::Timestamp,
                PingProbe::Udp(PingProbe::DEFAULT_UDP_PORT),
                PingProbe::Udp(53),
                PingProbe::Udp(161),
                PingProbe::Syn(80),
                PingProbe::Ack(22),
                PingProbe::Ack(23),
            ]
        );
        assert_eq!(low(&["-PUU:53"]).unwrap().pings, vec![PingProbe::Udp(53)]);
        assert_eq!(err(&["-PSU:53"]), "monban: -PSU:53 names no port");
        assert!(err(&["-PUx"]).starts_with("monban: bad port list in -PUx: "));
    }

    #[test]
    fn scan_letters() {
        assert_eq!(low(&["-sS"]).unwrap().scan_types, vec![ScanType::Syn]);
        assert_eq!(low(&["-sT"]).unwrap().scan_types, vec![ScanType::Connect]);
        assert_eq!(
            low(&["-sST"]).unwrap().scan_types,
            vec![ScanType::Syn, ScanType::Connect]
        );
        assert_eq!(low(&["-sU"]).unwrap().scan_types, vec![ScanType::Udp]);
        assert_eq!(
            err(&["-sSC"]),
            "monban: -sC (script scan) is not supported yet (use -sS, -sT, -sU, -sF, -sN, -sX, -sA or -sW)"
        );
        assert_eq!(
            err(&["-sQ"]),
            "monban: unknown option \"-sQ\" (see monban scan --help)"
        );
        assert_eq!(
            err(&["-s"]),
            "monban: unknown option \"-s\" (see monban scan --help)"
        );
        assert_eq!(
            err(&["-PY"]),
            "monban: discovery probe -PY is not supported yet (-Pn skips discovery)"
        );
        assert_eq!(
            err(&["-Pz"]),
            "monban: unknown option \"-Pz\" (see monban scan --help)"
        );
    }

    #[test]
    fn version_detection_letter_and_intensity() {
        let l = low(&["-sSV"]).unwrap();
        assert_eq!(
            (l.scan_types, l.version_detection),
            (vec![ScanType::Syn], true)
        );
        let l = low(&["-sS", "-sV"]).unwrap();
        assert_eq!(
            (l.scan_types, l.version_detection),
            (vec![ScanType::Syn], true)
        );
        let l = low(&["-sV"]).unwrap();
        assert_eq!((l.scan_types, l.version_detection), (vec![], true));
        assert!(!low(&["-sS"]).unwrap().version_detection);
        assert_eq!(low(&[]).unwrap().version_intensity, None);
        assert_eq!(
            low(&["--version-intensity", "0"])
                .unwrap()
                .version_intensity,
            Some(0)
        );
        assert_eq!(
            low(&["--version-intensity=9"]).unwrap().version_intensity,
            Some(9)
        );
        assert_eq!(
            low(&["-version-intensity", "3"]).unwrap().version_intensity,
            Some(3)
        );
        assert_eq!(
            err(&["--version-intensity", "10"]),
            "monban: --version-intensity needs a level from 0 to 9, got \"10\""
        );
        assert_eq!(
            err(&["--version-intensity", "-1"]),
            "monban: --version-intensity needs a level from 0 to 9, got \"-1\""
        );
    }

    #[test]
    fn non_ascii_never_panics() {
        // Slicing after a multi-byte character must not split it.
        for a in [
            "-sé",
            "-vé",
            "-oé",
            "-é",
            "-Pé",
            "--é",
            "-pé",
            "-T\u{1F600}",
            "-o",
        ] {
            let _ = low(&[a, "x"]);
        }
        assert_eq!(
            err(&["-sé"]),
            "monban: unknown option \"-sé\" (see monban scan --help)"
        );
    }
}
