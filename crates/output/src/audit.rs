//! `--audit`: a verdict per host in the spirit of the online scan services.
//!
//! Their advice: unless you publish a server, every port seen from outside should be
//! *blocked* (no answer at all). A port that answers "closed" hides nothing behind it,
//! but its answer proves the host is there; an open port is a door. So a host is
//!
//! - **exposed** when any port is open: list the open ports, riskiest first, as what to
//!   close first (unless the service is published on purpose);
//! - **visible** when nothing is open but some ports answer closed: block them (drop,
//!   not reject) and the host disappears;
//! - **stealth** when every scanned port is blocked: the host gives nothing away;
//! - **unknown** when no port was scanned or the host's results are incomplete.
//!
//! Ports whose state a scan cannot tell (`open|filtered`, `unfiltered`,
//! `closed|filtered`) count as neither open nor blocked: they are listed as
//! "undecided", because claiming either would be a guess.

use monban_engine::types::{HostReport, HostStatus, PortState, Protocol};

use crate::text::safe_text;

/// The verdict for one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Every scanned port is blocked.
    Stealth,
    /// Nothing is open, but some ports answer closed.
    Visible,
    /// At least one port is open.
    Exposed,
    /// Nothing to judge (no ports, a timed-out or interrupted host, a down host).
    Unknown,
}

impl Verdict {
    /// Lower-case name for machine outputs (`exposed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Stealth => "stealth",
            Verdict::Visible => "visible",
            Verdict::Exposed => "exposed",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One open port in the "close first" list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPort {
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub proto: Protocol,
    /// The service name (`-sV`'s if there is one, else the services table's).
    pub service: Option<String>,
    /// Risk level from the host's risk notes (`critical`, `high`, `medium`, `low`).
    pub risk: Option<String>,
}

/// What `--audit` says about one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// The verdict.
    pub verdict: Verdict,
    /// Open ports, riskiest first (critical, high, medium, low, unrated), then by port.
    pub open: Vec<OpenPort>,
    /// Ports that answered closed, ascending.
    pub closed: Vec<u16>,
    /// Ports that are blocked (filtered: no answer, or an ICMP error), counted.
    pub blocked: usize,
    /// Ports whose state cannot be told apart (`open|filtered`, ...), ascending.
    pub undecided: Vec<u16>,
}

fn risk_rank(level: Option<&str>) -> u8 {
    match level {
        Some("critical") => 0,
        Some("high") => 1,
        Some("medium") => 2,
        Some("low") => 3,
        Some(_) => 4,
        None => 5,
    }
}

/// Judges one host. `service_name` names a port's service when `-sV` did not (monban's
/// services table), so the "close first" list reads `23/tcp telnet`.
pub fn audit(
    host: &HostReport,
    service_name: &dyn Fn(u16, Protocol) -> Option<&'static str>,
) -> Audit {
    let mut open = Vec::new();
    let mut closed = Vec::new();
    let mut undecided = Vec::new();
    let mut blocked = 0;
    for p in &host.ports {
        match p.state {
            PortState::Open => open.push(OpenPort {
                port: p.port,
                proto: p.proto,
                service: host
                    .service(p.port, p.proto)
                    .map(|s| s.name.clone())
                    .or_else(|| service_name(p.port, p.proto).map(str::to_owned)),
                risk: host.risk(p.port, p.proto).map(|r| r.level.clone()),
            }),
            PortState::Closed => closed.push(p.port),
            PortState::Filtered => blocked += 1,
            PortState::Unfiltered | PortState::OpenFiltered | PortState::ClosedFiltered => {
                undecided.push(p.port)
            }
        }
    }
    open.sort_by_key(|o| {
        (
            risk_rank(o.risk.as_deref()),
            o.port,
            o.proto == Protocol::Udp,
        )
    });
    closed.sort_unstable();
    undecided.sort_unstable();
    let judged = host.status == HostStatus::Up
        && !host.ports.is_empty()
        && !host.timed_out
        && !host.incomplete;
    let verdict = if !open.is_empty() {
        // An open port is a fact even in partial results.
        Verdict::Exposed
    } else if !judged {
        Verdict::Unknown
    } else if !closed.is_empty() {
        Verdict::Visible
    } else if undecided.is_empty() {
        Verdict::Stealth
    } else {
        Verdict::Unknown
    };
    Audit {
        verdict,
        open,
        closed,
        blocked,
        undecided,
    }
}

impl Audit {
    /// The advice in one sentence.
    pub fn advice(&self) -> &'static str {
        match self.verdict {
            Verdict::Exposed => {
                "unless you publish these services on purpose, block them at the firewall, \
                 riskiest first"
            }
            Verdict::Visible => {
                "nothing is open, but closed ports answer and show the host is there: drop \
                 (do not reject) them to hide it"
            }
            Verdict::Stealth => "every scanned port is blocked: the host gives nothing away",
            Verdict::Unknown => "not enough results to judge this host",
        }
    }

    /// The normal-output block: a headline, what to close first, the closed ports, the
    /// advice. Ends with a newline; control characters in names are escaped.
    pub fn text(&self) -> String {
        let total = self.open.len() + self.closed.len() + self.blocked + self.undecided.len();
        let mut t = format!(
            "Audit: {}: {} open, {} closed, {} blocked",
            self.verdict.as_str().to_uppercase(),
            self.open.len(),
            self.closed.len(),
            self.blocked
        );
        if !self.undecided.is_empty() {
            t.push_str(&format!(", {} undecided", self.undecided.len()));
        }
        t.push_str(&format!(" of {total} ports\n"));
        if !self.open.is_empty() {
            let list: Vec<String> = self
                .open
                .iter()
                .map(|o| {
                    let mut s = format!("{}/{}", o.port, o.proto.as_str());
                    if let Some(name) = &o.service {
                        s.push(' ');
                        s.push_str(&safe_text(name));
                    }
                    if let Some(level) = &o.risk {
                        s.push_str(&format!(" [{}]", safe_text(level)));
                    }
                    s
                })
                .collect();
            t.push_str(&format!("  close first: {}\n", list.join(", ")));
        }
        if !self.closed.is_empty() {
            t.push_str(&format!(
                "  closed (visible): {}\n",
                monban_engine::ports::format_ranges(&self.closed)
            ));
        }
        if !self.undecided.is_empty() {
            t.push_str(&format!(
                "  undecided (open or blocked): {}\n",
                monban_engine::ports::format_ranges(&self.undecided)
            ));
        }
        t.push_str(&format!("  advice: {}\n", self.advice()));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::host_risks;
    use monban_engine::types::{PortResult, Reason};

    fn names(port: u16, _: Protocol) -> Option<&'static str> {
        match port {
            22 => Some("ssh"),
            23 => Some("telnet"),
            _ => None,
        }
    }

    fn port(port: u16, state: PortState) -> PortResult {
        PortResult {
            port,
            proto: Protocol::Tcp,
            state,
            reason: Reason::NoResponse,
            ttl: None,
        }
    }

    #[test]
    fn open_ports_make_a_host_exposed_riskiest_first() {
        let a = audit(&host_risks(), &names);
        assert_eq!(a.verdict, Verdict::Exposed);
        let order: Vec<(u16, Option<&str>)> =
            a.open.iter().map(|o| (o.port, o.risk.as_deref())).collect();
        assert_eq!(
            order,
            [(31337, Some("critical")), (23, Some("high")), (22, None)]
        );
        assert_eq!(
            a.text(),
            "Audit: EXPOSED: 3 open, 0 closed, 0 blocked of 3 ports\n  close first: \
             31337/tcp [critical], 23/tcp telnet [high], 22/tcp ssh\n  advice: unless you \
             publish these services on purpose, block them at the firewall, riskiest first\n"
        );
    }

    #[test]
    fn closed_answers_make_a_host_visible_and_silence_stealth() {
        let mut h = host_risks();
        h.risks.clear();
        h.ports = vec![
            port(1, PortState::Closed),
            port(2, PortState::Closed),
            port(3, PortState::Closed),
            port(80, PortState::Filtered),
        ];
        let a = audit(&h, &names);
        assert_eq!((a.verdict, a.blocked), (Verdict::Visible, 1));
        assert_eq!(
            a.text(),
            "Audit: VISIBLE: 0 open, 3 closed, 1 blocked of 4 ports\n  closed (visible): 1-3\n  \
             advice: nothing is open, but closed ports answer and show the host is there: \
             drop (do not reject) them to hide it\n"
        );
        h.ports = vec![port(1, PortState::Filtered), port(80, PortState::Filtered)];
        assert_eq!(audit(&h, &names).verdict, Verdict::Stealth);
        h.ports.push(port(53, PortState::OpenFiltered));
        let a = audit(&h, &names);
        assert_eq!(
            (a.verdict, a.undecided.clone()),
            (Verdict::Unknown, vec![53])
        );
        h.ports.push(port(7, PortState::Closed));
        assert_eq!(audit(&h, &names).verdict, Verdict::Visible);
    }

    #[test]
    fn partial_or_empty_results_are_not_judged_unless_a_door_is_open() {
        let mut h = host_risks();
        h.risks.clear();
        h.ports = vec![port(1, PortState::Filtered)];
        h.incomplete = true;
        assert_eq!(audit(&h, &names).verdict, Verdict::Unknown);
        h.ports.push(port(22, PortState::Open));
        assert_eq!(audit(&h, &names).verdict, Verdict::Exposed);
        h.ports.clear();
        h.incomplete = false;
        assert_eq!(audit(&h, &names).verdict, Verdict::Unknown);
        h.status = HostStatus::Down;
        h.ports = vec![port(1, PortState::Filtered)];
        assert_eq!(audit(&h, &names).verdict, Verdict::Unknown);
    }
}
