//! The scan command line's flags.
//!
//! One table, [`FLAGS`], defines every flag of `monban [scan]` once: its spellings, what it
//! takes, its help section and its help text. The parser ([`lowargs`](super::lowargs))
//! finds each flag here, so a flag is unknown exactly when the table lacks it, and the
//! option part of both help texts ([`options`]) is generated from it: the help cannot
//! list a flag the parser refuses, nor the parser take one the help does not show.
//!
//! What a flag does stays in the parser, in one match on the flag's first spelling.

use std::fmt::Write as _;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Takes {
    /// Nothing: `-Pn`, `--open`. A short spelling is the whole argument (`-Fx` is unknown).
    Nothing,
    /// A value (shown as the text): the next argument (`--min-rate 5`, `-p 22`,
    /// `-oA base`), after `=` for a long spelling (`--min-rate=5`), or glued to a short
    /// one (`-p22`, `-T4`, `-oAbase`).
    Value(&'static str),
    /// An optional value glued to a short spelling, never the next argument: `-PS`,
    /// `-PS22,80`; `-v`, `-vv`, `-v3`. Shown as `-PS[ports]`.
    Glued(&'static str),
    /// A scan letter: `-s` and one letter (`-sS`); several letters combine after one `-s`
    /// (`-sSV`).
    Letter,
    /// An optional value after `=` of a long spelling, never the next argument: `--db`,
    /// `--db=scans.db`. Shown as `--db[=<v>]`.
    Inline(&'static str),
}

/// The prefix of the [`Takes::Letter`] flags.
pub(crate) const LETTER_PREFIX: &str = "-s";

/// A group of the help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Targets,
    Discovery,
    Techniques,
    Ports,
    Timing,
    Output,
    Misc,
}

impl Section {
    /// In the order of the help text.
    pub(crate) const ALL: [Section; 7] = [
        Section::Targets,
        Section::Discovery,
        Section::Techniques,
        Section::Ports,
        Section::Timing,
        Section::Output,
        Section::Misc,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Section::Targets => "TARGET SPECIFICATION",
            Section::Discovery => "HOST DISCOVERY",
            Section::Techniques => "SCAN TECHNIQUES",
            Section::Ports => "PORT SPECIFICATION",
            Section::Timing => "TIMING AND PERFORMANCE",
            Section::Output => "OUTPUT",
            Section::Misc => "MISC",
        }
    }

    /// An entry before the flags that is no flag: the targets.
    fn intro(self) -> Option<(&'static str, &'static str)> {
        match self {
            Section::Targets => Some((
                "<targets>",
                "addresses, host names, CIDR blocks, octet ranges:\n\
                 10.0.0.1  fd00::1  gate.example  10.0.0.0/24  fd00::/120\n\
                 10.0.0-3.1-20  192.168.1.*  10.0.0.1,3,5-7  a.example,b.example",
            )),
            _ => None,
        }
    }
}

/// One flag.
#[derive(Debug)]
pub(crate) struct Flag {
    /// Its spellings, the first one canonical (the parser matches on it). `-x` is short,
    /// `--xyz` long.
    pub names: &'static [&'static str],
    /// What follows it.
    pub takes: Takes,
    /// Its long spelling also works after one dash (`-min-rate 5`, `-open`), an nmap habit.
    pub one_dash: bool,
    /// Where the help shows it.
    pub section: Section,
    /// Its help: lines of at most 63 characters, `\n` between them.
    pub help: &'static str,
}

/// Every flag of `monban [scan]`, in help order within each section.
pub(crate) const FLAGS: &[Flag] = &[
    // TARGET SPECIFICATION
    Flag {
        names: &["-iL"],
        takes: Takes::Value("<file>"),
        one_dash: false,
        section: Section::Targets,
        help: "read targets from a file ('-' = stdin; '#' starts a comment)",
    },
    Flag {
        names: &["--exclude"],
        takes: Takes::Value("<t1,t2,...>"),
        one_dash: true,
        section: Section::Targets,
        help: "leave these targets out",
    },
    Flag {
        names: &["--excludefile"],
        takes: Takes::Value("<file>"),
        one_dash: true,
        section: Section::Targets,
        help: "leave out the targets listed in a file",
    },
    Flag {
        names: &["--allow-broadcast"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Targets,
        help: "allow multicast and broadcast targets (refused by default)",
    },
    // HOST DISCOVERY
    Flag {
        names: &["-sn"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Discovery,
        help: "find live hosts only; scan no ports",
    },
    Flag {
        names: &["-PE"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Discovery,
        help: "discovery by ICMP / ICMPv6 echo request",
    },
    Flag {
        names: &["-PP"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Discovery,
        help: "discovery by ICMP timestamp request (IPv4)",
    },
    Flag {
        names: &["-PS"],
        takes: Takes::Glued("ports"),
        one_dash: false,
        section: Section::Discovery,
        help: "discovery by TCP SYN to these ports (default 80)",
    },
    Flag {
        names: &["-PA"],
        takes: Takes::Glued("ports"),
        one_dash: false,
        section: Section::Discovery,
        help: "discovery by TCP ACK to these ports (default 80)",
    },
    Flag {
        names: &["-PU"],
        takes: Takes::Glued("ports"),
        one_dash: false,
        section: Section::Discovery,
        help: "discovery by UDP to these ports (default 40125): any\n\
               answer or a port unreachable means up\n\
               (with none of -PE -PP -PS -PA -PU: echo, SYN to 443 and\n\
               ACK to 80 when privileged; connects to 80 and 443\n\
               otherwise; privileged, targets on this host's Ethernet\n\
               segment are found by ARP / IPv6 neighbor discovery instead)",
    },
    Flag {
        names: &["--send-ip", "--disable-arp-ping"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Discovery,
        help: "no ARP / neighbor discovery: IP-level pings only",
    },
    Flag {
        names: &["-Pn", "-PN"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Discovery,
        help: "skip discovery: treat every host as up",
    },
    Flag {
        names: &["-n"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Discovery,
        help: "never look up names for addresses",
    },
    Flag {
        names: &["-R"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Discovery,
        help: "accepted for nmap compatibility",
    },
    // SCAN TECHNIQUES
    Flag {
        names: &["-sS"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "SYN scan: half-open, never completes the handshake\n\
               (needs root or CAP_NET_RAW)",
    },
    Flag {
        names: &["-sT"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "connect scan: full handshake through the kernel\n\
               (default: -sS when privileged, -sT otherwise)",
    },
    Flag {
        names: &["-sU"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "UDP scan: our protocol payloads where we have one; an\n\
               answer means open, ICMP port unreachable closed,\n\
               silence open|filtered",
    },
    Flag {
        names: &["-sF"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "FIN scan: RST means closed, silence open|filtered\n\
               (RFC 793 stacks; not Windows)",
    },
    Flag {
        names: &["-sN"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "NULL scan: probes without flags, read as -sF",
    },
    Flag {
        names: &["-sX"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "Xmas scan: FIN+PSH+URG probes, read as -sF",
    },
    Flag {
        names: &["-sA"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "ACK scan: RST means unfiltered, silence filtered\n\
               (maps firewall rules)",
    },
    Flag {
        names: &["-sW"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "window scan: ACK probes, the RST's window tells open\n\
               (non-zero) from closed (zero)",
    },
    Flag {
        names: &["--shard"],
        takes: Takes::Value("I/N"),
        // Two dashes only, as ever: `-shard` is read as the scan letters `-s hard`.
        one_dash: false,
        section: Section::Techniques,
        help: "scan only the I-th of N disjoint slices of targets x\n\
               ports (1-based; every machine needs the same --seed)",
    },
    Flag {
        names: &["-sV"],
        takes: Takes::Letter,
        one_dash: false,
        section: Section::Techniques,
        help: "version detection: after the port scan, talk to the open\n\
               TCP ports and name service, product and version; combines\n\
               with a TCP scan type (-sSV, -sT -sV)",
    },
    Flag {
        names: &["--version-intensity"],
        takes: Takes::Value("<0-9>"),
        one_dash: true,
        section: Section::Techniques,
        help: "try probes up to this rarity (default 7; 0 = only the\n\
               probes that list the port, 9 = all)",
    },
    Flag {
        names: &["--profile"],
        takes: Takes::Value("NAME"),
        one_dash: true,
        section: Section::Techniques,
        help: "a preset of the online scan suite: prescan, quick,\n\
               trojan, tcp-low, udp-low, stealth; fills in only\n\
               what other flags leave unset (`monban profiles` lists them)",
    },
    Flag {
        names: &["-b"],
        takes: Takes::Value("<[user[:pass]@]server[:port]>"),
        one_dash: false,
        section: Section::Techniques,
        help: "FTP bounce scan: the FTP server connects to the targets'\n\
               ports for us (anonymous login by default; servers refuse\n\
               ports below 1024)",
    },
    Flag {
        names: &["--scanflags"],
        takes: Takes::Value("FLAGS"),
        // Two dashes only, as ever: `-scanflags` is read as the scan letters `-s canflags`.
        one_dash: false,
        section: Section::Techniques,
        help: "send these TCP flags (URGACKPSHRSTSYNFIN names or a\n\
               number); replies are read as the scan type says",
    },
    // PORT SPECIFICATION
    Flag {
        names: &["-p"],
        takes: Takes::Value("<ports>"),
        one_dash: false,
        section: Section::Ports,
        help: "ports to scan: -p22  -p 1-1024,8080  -p-  (all, 1-65535)",
    },
    Flag {
        names: &["--exclude-ports"],
        takes: Takes::Value("<ports>"),
        one_dash: true,
        section: Section::Ports,
        help: "leave these ports out",
    },
    Flag {
        names: &["-F"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Ports,
        help: "fast: the 100 most common ports",
    },
    Flag {
        names: &["--top-ports"],
        takes: Takes::Value("<n>"),
        one_dash: true,
        section: Section::Ports,
        help: "the <n> most common ports (default: 1000)",
    },
    Flag {
        names: &["-r"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Ports,
        help: "probe ports in order (default: random order)",
    },
    // TIMING AND PERFORMANCE
    Flag {
        names: &["-T"],
        takes: Takes::Value("<0-5>"),
        one_dash: false,
        section: Section::Timing,
        help: "template: 0 paranoid, 1 sneaky, 2 polite, 3 normal (default),\n\
               4 aggressive, 5 insane (-T4 and -T aggressive are the same)",
    },
    Flag {
        names: &["--min-rate"],
        takes: Takes::Value("<n>"),
        one_dash: true,
        section: Section::Timing,
        help: "send at least <n> probes per second",
    },
    Flag {
        names: &["--max-rate"],
        takes: Takes::Value("<n>"),
        one_dash: true,
        section: Section::Timing,
        help: "send at most <n> probes per second",
    },
    Flag {
        names: &["--max-retries"],
        takes: Takes::Value("<n>"),
        one_dash: true,
        section: Section::Timing,
        help: "resend an unanswered probe at most <n> times",
    },
    Flag {
        names: &["--host-timeout"],
        takes: Takes::Value("<time>"),
        one_dash: true,
        section: Section::Timing,
        help: "give up on a host after <time>",
    },
    Flag {
        names: &["--initial-rtt-timeout"],
        takes: Takes::Value("<time>"),
        one_dash: true,
        section: Section::Timing,
        help: "first wait for a probe's answer",
    },
    Flag {
        names: &["--min-rtt-timeout"],
        takes: Takes::Value("<time>"),
        one_dash: true,
        section: Section::Timing,
        help: "shortest wait for a probe's answer",
    },
    Flag {
        names: &["--max-rtt-timeout"],
        takes: Takes::Value("<time>"),
        one_dash: true,
        section: Section::Timing,
        help: "longest wait for a probe's answer",
    },
    Flag {
        names: &["--scan-delay"],
        takes: Takes::Value("<time>"),
        one_dash: true,
        section: Section::Timing,
        help: "wait at least <time> between probes to one host\n\
               <time>: 500ms, 30s, 5m, 2h; a bare number is seconds",
    },
    // OUTPUT
    Flag {
        names: &["-oN"],
        takes: Takes::Value("<file>"),
        one_dash: false,
        section: Section::Output,
        help: "normal, human-readable output",
    },
    Flag {
        names: &["-oX"],
        takes: Takes::Value("<file>"),
        one_dash: false,
        section: Section::Output,
        help: "XML that nmap's tools read",
    },
    Flag {
        names: &["-oG"],
        takes: Takes::Value("<file>"),
        one_dash: false,
        section: Section::Output,
        help: "grepable output, one line per host",
    },
    Flag {
        names: &["-oJ"],
        takes: Takes::Value("<file>"),
        one_dash: false,
        section: Section::Output,
        help: "JSON Lines, one event per line",
    },
    Flag {
        names: &["-oA"],
        takes: Takes::Value("<base>"),
        one_dash: false,
        section: Section::Output,
        help: "all four: <base>.nmap .xml .gnmap .jsonl\n\
               a <file> of '-' writes to standard output",
    },
    Flag {
        names: &["--open"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Output,
        help: "show only open (or possibly open) ports",
    },
    Flag {
        names: &["--reason"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Output,
        help: "show why each port got its state",
    },
    Flag {
        names: &["--audit"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Output,
        help: "a verdict per host: exposed (open ports, riskiest\n\
               first to close), visible (closed ports answer), or\n\
               stealth (every port blocked)",
    },
    Flag {
        names: &["-v"],
        takes: Takes::Glued("<level>"),
        one_dash: false,
        section: Section::Output,
        help: "say more while scanning: -vv, -vvv say more still;\n\
               -v<level> sets the level (0-255)",
    },
    Flag {
        names: &["--stats-every"],
        takes: Takes::Value("<time>"),
        one_dash: true,
        section: Section::Output,
        help: "report progress this often: a Stats line on stdout,\n\
               a progress event in JSON Lines (-oJ)",
    },
    Flag {
        names: &["--db"],
        takes: Takes::Inline("<file|url>"),
        one_dash: true,
        section: Section::Output,
        help: "also store the scan in a database, for monban history,\n\
               show and diff: an SQLite file (default\n\
               ~/.local/share/monban/history.db) or postgres://...",
    },
    Flag {
        names: &["--no-progress"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Output,
        help: "no progress bar",
    },
    // MISC
    Flag {
        names: &["--resume"],
        takes: Takes::Value("<file>"),
        one_dash: true,
        section: Section::Misc,
        help: "continue an interrupted scan from its JSON Lines output\n\
               (-oJ or -oA): its finished hosts are skipped and its\n\
               outputs continued; no other options",
    },
    Flag {
        names: &["-6"],
        takes: Takes::Nothing,
        one_dash: false,
        section: Section::Misc,
        help: "IPv6: resolve names to IPv6 addresses",
    },
    Flag {
        names: &["--seed"],
        takes: Takes::Value("<n>"),
        one_dash: true,
        section: Section::Misc,
        help: "seed the random port and host order (repeatable scans)",
    },
    Flag {
        names: &["-g", "--source-port"],
        takes: Takes::Value("<port>"),
        one_dash: true,
        section: Section::Misc,
        help: "send from this source port",
    },
    Flag {
        names: &["-S"],
        takes: Takes::Value("<addrs>"),
        one_dash: false,
        section: Section::Misc,
        help: "send from this source address, or spread probes over\n\
               several (10.0.0.2-5, 10.0.0.2,7, a CIDR block): each\n\
               must be configured on this host; -sU is paced per\n\
               source, so N sources resolve closed ports ~N times faster",
    },
    Flag {
        names: &["-e"],
        takes: Takes::Value("<iface>"),
        one_dash: false,
        section: Section::Misc,
        help: "send through this network interface",
    },
    Flag {
        names: &["--keep-privileges"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Misc,
        help: "run as root (or with file capabilities): keep them; by\n\
               default monban opens its raw sockets and outputs, then\n\
               becomes SUDO_UID (else nobody) with no capabilities",
    },
    Flag {
        names: &["-h", "--help"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Misc,
        help: "show this help",
    },
    Flag {
        names: &["-V", "--version"],
        takes: Takes::Nothing,
        one_dash: true,
        section: Section::Misc,
        help: "show the version",
    },
];

/// Whether `name` is a long spelling (`--open`), not a short one (`-p`).
pub(crate) fn is_long(name: &str) -> bool {
    name.starts_with("--")
}

/// The flag with this long spelling, `--` included (`--min-rate`).
pub(crate) fn long(name: &str) -> Option<&'static Flag> {
    FLAGS
        .iter()
        .find(|f| is_long(name) && f.names.contains(&name))
}

/// The flag a short argument (`-p80`, `-Pn`, `-PS22`) is, with the spelling it starts
/// with: a flag that takes nothing must be the whole argument, one that takes a value
/// may have it glued on. Scan letters are [`letter`]'s.
pub(crate) fn short(arg: &str) -> Option<(&'static Flag, &'static str)> {
    FLAGS
        .iter()
        .flat_map(|f| f.names.iter().map(move |n| (f, *n)))
        .filter(|(f, n)| {
            !is_long(n)
                && match f.takes {
                    Takes::Nothing => arg == *n,
                    Takes::Value(_) | Takes::Glued(_) => arg.starts_with(n),
                    Takes::Letter | Takes::Inline(_) => false,
                }
        })
        .max_by_key(|(_, n)| n.len())
}

/// The scan letter flag `-s<c>`.
pub(crate) fn letter(c: char) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| {
        f.takes == Takes::Letter
            && f.names.iter().any(|n| {
                n.strip_prefix(LETTER_PREFIX)
                    .is_some_and(|l| l.chars().eq([c]))
            })
    })
}

/// Width of the flag column of the help.
const COLUMN: usize = 24;

/// How the help shows a flag: `-g, --source-port <port>`, `-PS[ports]`.
fn shown(f: &Flag) -> String {
    let names = f.names.join(", ");
    match f.takes {
        Takes::Nothing | Takes::Letter => names,
        Takes::Value(v) => format!("{names} {v}"),
        Takes::Glued(v) => format!("{names}[{v}]"),
        Takes::Inline(v) => format!("{names}[={v}]"),
    }
}

/// One help entry: the flag column, then the help lines beside it (below it when the
/// column is too narrow).
fn entry(s: &mut String, left: &str, help: &str) {
    let indent = " ".repeat(COLUMN + 3);
    let mut lines = help.lines();
    if left.chars().count() <= COLUMN {
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(s, "  {left:<COLUMN$} {first}");
    } else {
        let _ = writeln!(s, "  {left}");
    }
    for line in lines {
        let _ = writeln!(s, "{indent}{line}");
    }
}

/// The option part of the help texts, from [`FLAGS`]: a blank line, a reminder, then each
/// section.
pub(crate) fn options() -> String {
    let mut s =
        String::from("\nScan only hosts and networks you own or have permission to test.\n");
    for section in Section::ALL {
        let _ = write!(s, "\n{}\n", section.title());
        if let Some((left, help)) = section.intro() {
            entry(&mut s, left, help);
        }
        for f in FLAGS.iter().filter(|f| f.section == section) {
            entry(&mut s, &shown(f), f.help);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::lowargs::LowArgs;
    use super::*;

    fn spellings() -> BTreeSet<&'static str> {
        FLAGS.iter().flat_map(|f| f.names.iter().copied()).collect()
    }

    fn low(args: &[&str]) -> Result<LowArgs, String> {
        LowArgs::parse(args.iter().map(|s| s.to_string())).map_err(|e| e.0)
    }

    /// A value the flag accepts.
    fn plausible(f: &Flag) -> &'static str {
        match f.names[0] {
            "-p" | "--exclude-ports" => "22,80",
            "-PS" | "-PA" | "-PU" => "22,443",
            "-T" => "4",
            "--top-ports" | "--min-rate" | "--max-rate" | "--max-retries" | "--seed" => "5",
            "--host-timeout"
            | "--initial-rtt-timeout"
            | "--min-rtt-timeout"
            | "--max-rtt-timeout"
            | "--scan-delay"
            | "--stats-every" => "1s",
            "--version-intensity" | "-v" => "3",
            "--shard" => "1/2",
            "--scanflags" => "SYNFIN",
            "--profile" => "quick",
            "-g" => "53",
            "-S" => "10.0.0.2",
            "-e" => "eth0",
            "--db" => "/tmp/scans.db",
            _ => "x",
        }
    }

    #[test]
    fn table_is_well_formed() {
        let mut seen = BTreeSet::new();
        for f in FLAGS {
            assert!(!f.names.is_empty());
            for n in f.names {
                assert!(seen.insert(*n), "{n} is in the table twice");
                let bare = n.trim_start_matches('-');
                assert!(
                    !bare.is_empty()
                        && !bare.contains(['=', ' '])
                        && n.len() - bare.len() == if is_long(n) { 2 } else { 1 },
                    "{n}: a flag is -x or --xyz"
                );
                match f.takes {
                    // `--x v`/`--x=v` or nothing: a long spelling takes nothing glued.
                    Takes::Glued(_) | Takes::Letter => assert!(!is_long(n), "{n}"),
                    Takes::Inline(_) => assert!(is_long(n), "{n}"),
                    Takes::Nothing | Takes::Value(_) => {}
                }
                if f.takes == Takes::Letter {
                    assert_eq!(n.strip_prefix(LETTER_PREFIX).map(str::len), Some(1), "{n}");
                } else {
                    // `-s...` is always read as scan letters.
                    assert!(is_long(n) || !n.starts_with(LETTER_PREFIX), "{n}");
                }
            }
            assert!(
                !f.one_dash || f.names.iter().any(|n| is_long(n)),
                "{:?}: one_dash needs a long spelling",
                f.names
            );
            assert!(!f.help.is_empty(), "{:?} has no help", f.names);
            for line in f.help.lines() {
                // The help column starts at 27; lines fit 90 columns.
                assert!(line.chars().count() <= 63, "too long: {line}");
                assert_eq!(line.trim(), line, "{:?}: stray blanks", f.names);
            }
        }
        for section in Section::ALL {
            assert!(
                FLAGS.iter().any(|f| f.section == section),
                "{} is empty",
                section.title()
            );
        }
    }

    /// The flags in the flag column of the scan help: `-g, --source-port <port>` gives
    /// `-g` and `--source-port`, `-PS[ports]` gives `-PS`.
    fn help_column() -> BTreeSet<String> {
        let help = super::super::scan_help();
        let mut shown = BTreeSet::new();
        for line in help.lines() {
            let Some(entry) = line.strip_prefix("  -") else {
                continue;
            };
            let left = format!("-{}", entry.split("  ").next().unwrap_or_default());
            for item in left.split(", ") {
                let name = item.split([' ', '[']).next().unwrap_or_default();
                shown.insert(name.to_string());
            }
        }
        shown
    }

    #[test]
    fn scan_help_shows_every_flag_of_the_table_and_no_other() {
        let shown = help_column();
        let table: BTreeSet<String> = spellings().iter().map(|s| s.to_string()).collect();
        assert_eq!(
            shown.difference(&table).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "the help shows flags the table lacks"
        );
        assert_eq!(
            table.difference(&shown).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "the help lacks flags of the table"
        );
        // Each section shows its own flags.
        let help = super::super::scan_help();
        for f in FLAGS {
            let title = help
                .find(&format!("\n{}\n", f.section.title()))
                .expect("section title");
            let at = help.find(&format!("\n  {}", f.names[0])).expect("entry");
            let next = Section::ALL
                .iter()
                .filter_map(|s| help.find(&format!("\n{}\n", s.title())))
                .filter(|&i| i > title)
                .min()
                .unwrap_or(help.len());
            assert!(
                title < at && at < next,
                "{} outside its section",
                f.names[0]
            );
        }
    }

    /// Whether the help may name `token`: a spelling of the table, one with a value
    /// glued on as the help's examples do (`-p22`, `-p-`, `-T4`, `-v<level>`), or scan
    /// letters combined (`-sSV`).
    fn named_by_table(token: &str) -> bool {
        if spellings().contains(token) {
            return true;
        }
        // `--db[=<file|url>]`: an inline flag as the help shows it.
        if let Some((name, _)) = token.split_once("[=") {
            return long(name).is_some_and(|f| matches!(f.takes, Takes::Inline(_)));
        }
        if let Some(letters) = token.strip_prefix(LETTER_PREFIX) {
            return !letters.is_empty() && letters.chars().all(|c| letter(c).is_some());
        }
        matches!(
            short(token),
            Some((f, n)) if n.len() < token.len()
                && matches!(f.takes, Takes::Value(_) | Takes::Glued(_))
        )
    }

    #[test]
    fn scan_help_mentions_only_flags_of_the_table() {
        let help = super::super::scan_help();
        let mut checked = 0;
        for word in help.split([' ', '\n', '/']) {
            let token = word.trim_matches(|c: char| ",;:.()`'\"".contains(c));
            // Flags, not `-` (stdin) or numbers.
            let is_flag = token.starts_with('-')
                && token
                    .trim_start_matches('-')
                    .starts_with(|c: char| c.is_ascii_alphanumeric())
                && !token[1..].starts_with(|c: char| c.is_ascii_digit() && c != '6');
            if is_flag {
                assert!(
                    named_by_table(token),
                    "the help names {token:?}, the table does not"
                );
                checked += 1;
            }
        }
        assert!(checked > 80, "only {checked} flags found in the help");
        // The defaults the help states are the engine's.
        assert!(help.contains(&format!(
            "(default {})",
            monban_engine::PingProbe::DEFAULT_UDP_PORT
        )));
    }

    #[test]
    fn parser_accepts_every_flag_of_the_table_in_every_form() {
        let default = LowArgs::default();
        for f in FLAGS {
            let v = plausible(f);
            let mut forms: Vec<Vec<String>> = Vec::new();
            for n in f.names {
                let n = n.to_string();
                match f.takes {
                    Takes::Nothing | Takes::Letter => forms.push(vec![n.clone()]),
                    Takes::Value(_) if is_long(&n) => {
                        forms.push(vec![n.clone(), v.into()]);
                        forms.push(vec![format!("{n}={v}")]);
                    }
                    Takes::Value(_) => {
                        forms.push(vec![n.clone(), v.into()]);
                        forms.push(vec![format!("{n}{v}")]);
                    }
                    Takes::Glued(_) => {
                        forms.push(vec![n.clone()]);
                        forms.push(vec![format!("{n}{v}")]);
                    }
                    Takes::Inline(_) => {
                        forms.push(vec![n.clone()]);
                        forms.push(vec![format!("{n}={v}")]);
                    }
                }
                if f.one_dash && is_long(&n) {
                    let one: Vec<Vec<String>> = forms
                        .iter()
                        .filter(|a| a[0].starts_with(&n))
                        .map(|a| {
                            let mut a = a.clone();
                            a[0] = a[0][1..].to_string();
                            a
                        })
                        .collect();
                    forms.extend(one);
                }
            }
            for args in forms {
                let mut argv = vec!["scan".to_string()];
                argv.extend(args.iter().cloned());
                match LowArgs::parse(argv) {
                    // And the flag did something.
                    Ok(l) => assert_ne!(l, default, "{args:?} changed nothing"),
                    Err(e) => panic!("{args:?}: {e}"),
                }
            }
        }
        // Scan letters combine after one `-s`.
        let all: String = FLAGS
            .iter()
            .filter(|f| f.takes == Takes::Letter)
            .map(|f| &f.names[0][LETTER_PREFIX.len()..])
            .collect();
        assert!(low(&[&format!("{LETTER_PREFIX}{all}")]).is_ok(), "-s{all}");
    }

    #[test]
    fn parser_refuses_flags_the_table_lacks() {
        let mut made_up: Vec<String> = [
            "--bogus",
            "--bogus=1",
            "--open-ports",
            "--min-rat",
            "--Open",
            "--verbose",
            "--ports",
            "--p",
            "--sS",
            "--T4",
            "--iL",
            "--shards",
            "-Z",
            "-x",
            "-q",
            "-d",
            "-f",
            "-t",
            "-N",
            "-i",
            "-I",
            "-O",
            "-A",
            "-o",
            "-oS",
            "-P",
            "-Pz",
            "-s",
            "-sQ",
            "-sz",
            "-vx",
            "-OPEN",
            "-é",
            "--é",
            // These two take two dashes (see their table entries).
            "-shard",
            "-scanflags",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let table = spellings();
        for f in FLAGS {
            for n in f.names {
                // Near misses: a letter more or less.
                let mut near = vec![format!("{n}x")];
                if is_long(n) {
                    near.push(n[..n.len() - 1].to_string());
                }
                for m in near {
                    let glued = !is_long(n) && f.takes != Takes::Nothing;
                    let one_dash_long =
                        m.len() > 2 && long(&format!("-{m}")).is_some_and(|f| f.one_dash);
                    if !table.contains(m.as_str()) && !glued && !one_dash_long {
                        made_up.push(m);
                    }
                }
            }
        }
        for m in &made_up {
            match low(&["scan", m, "1"]) {
                Err(e) => assert!(
                    e.starts_with("unknown option") || e.contains("not supported yet"),
                    "{m}: {e}"
                ),
                Ok(l) => panic!("{m} accepted: {l:?}"),
            }
        }
    }
}
