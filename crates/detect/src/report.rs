//! What the detector tells: alerts and summaries, as JSON Lines objects and as one line
//! of text each.

use crate::fingerprint::Tool;
use crate::time::Timestamp;
use serde_json::{json, Map, Value};
use std::fmt;
use std::net::IpAddr;

/// How a probe knocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Technique {
    /// A SYN written by the prober itself, never completed (half-open).
    Syn,
    /// A SYN written by the prober's kernel: `connect()`; a completed handshake closed
    /// without data.
    Connect,
    /// FIN alone.
    Fin,
    /// No flag at all.
    Null,
    /// FIN, PSH and URG.
    Xmas,
    /// ACK alone outside any connection (ACK and window scans).
    Ack,
    /// FIN and ACK outside any connection (Maimon's scan).
    Maimon,
    /// Another flag combination no stack sends on its own (`--scanflags`).
    Custom,
    /// A UDP datagram to a port.
    Udp,
    /// ICMP or ICMPv6 echo request.
    IcmpEcho,
    /// ICMP timestamp request.
    IcmpTimestamp,
    /// A packet of another IP protocol (an IP protocol scan).
    IpProto,
}

impl Technique {
    /// Every technique, in the order reports list them.
    pub const ALL: [Technique; 12] = [
        Technique::Syn,
        Technique::Connect,
        Technique::Fin,
        Technique::Null,
        Technique::Xmas,
        Technique::Ack,
        Technique::Maimon,
        Technique::Custom,
        Technique::Udp,
        Technique::IcmpEcho,
        Technique::IcmpTimestamp,
        Technique::IpProto,
    ];

    /// The name used in alerts.
    pub fn name(self) -> &'static str {
        match self {
            Technique::Syn => "syn",
            Technique::Connect => "connect",
            Technique::Fin => "fin",
            Technique::Null => "null",
            Technique::Xmas => "xmas",
            Technique::Ack => "ack",
            Technique::Maimon => "maimon",
            Technique::Custom => "custom",
            Technique::Udp => "udp",
            Technique::IcmpEcho => "icmp-echo",
            Technique::IcmpTimestamp => "icmp-timestamp",
            Technique::IpProto => "ip-proto",
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The techniques whose bits are set in `bits`.
    pub fn from_bits(bits: u16) -> Vec<Technique> {
        Technique::ALL
            .into_iter()
            .filter(|t| bits & t.bit() != 0)
            .collect()
    }
}

/// The shape of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One source, one (or a few) hosts, many ports.
    Portscan,
    /// One source, many hosts, few ports each: worms, zmap, ping sweeps.
    Sweep,
    /// Several sources sharing the work on the same hosts: disjoint probes, one tool,
    /// overlapping in time (sharded scans).
    Distributed,
    /// The same probes from several sources at once: one scanner and its decoys.
    Decoy,
}

impl Kind {
    /// The name used in alerts.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Portscan => "portscan",
            Kind::Sweep => "sweep",
            Kind::Distributed => "distributed",
            Kind::Decoy => "decoy",
        }
    }
}

/// Most targets a report lists by address; past that it gives their number.
pub const MAX_LISTED_TARGETS: usize = 32;

/// One campaign, as an alert or a summary reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Campaign id, unique within a run, in order of alerts.
    pub id: u64,
    /// Its shape.
    pub kind: Kind,
    /// The probing addresses.
    pub sources: Vec<IpAddr>,
    /// The probed hosts (at most [`MAX_LISTED_TARGETS`], sorted).
    pub targets: Vec<IpAddr>,
    /// How many hosts were probed.
    pub target_count: u64,
    /// Techniques seen, in [`Technique::ALL`] order.
    pub techniques: Vec<Technique>,
    /// The tool the probes name.
    pub tool: Tool,
    /// Distinct (protocol, port) pairs probed; ICMP messages count as one port each.
    pub ports: u64,
    /// Probes sent (retransmissions included).
    pub probes: u64,
    /// Probes of the campaign up to the alert.
    pub probes_before_alert: u64,
    /// The campaign's first probe.
    pub first_seen: Timestamp,
    /// When the campaign was judged a scan.
    pub alert_time: Timestamp,
    /// Its last probe.
    pub last_seen: Timestamp,
    /// Why it was judged a scan.
    pub reason: String,
    /// Sources that reacted to the targets' answers (a RST after a SYN/ACK, a handshake):
    /// of a decoy campaign, the real scanner.
    pub responsive: Vec<IpAddr>,
    /// Set on a source's campaign that was later found to be part of a larger one.
    pub merged_into: Option<u64>,
}

fn addrs(v: &[IpAddr]) -> Value {
    Value::Array(v.iter().map(|a| Value::String(a.to_string())).collect())
}

impl Report {
    /// The JSON object of an alert (`event: "alert"`) or a summary (`event: "summary"`,
    /// which adds `last_seen`).
    pub fn to_json(&self, summary: bool) -> Value {
        let mut m = Map::new();
        m.insert(
            "event".into(),
            json!(if summary { "summary" } else { "alert" }),
        );
        m.insert("id".into(), json!(self.id));
        m.insert("kind".into(), json!(self.kind.name()));
        m.insert("sources".into(), addrs(&self.sources));
        if self.target_count as usize <= MAX_LISTED_TARGETS {
            m.insert("targets".into(), addrs(&self.targets));
        } else {
            m.insert("targets".into(), json!(self.target_count));
        }
        m.insert("target_count".into(), json!(self.target_count));
        m.insert(
            "techniques".into(),
            Value::Array(
                self.techniques
                    .iter()
                    .map(|t| Value::String(t.name().into()))
                    .collect(),
            ),
        );
        m.insert("tool".into(), json!(self.tool.name()));
        m.insert("ports".into(), json!(self.ports));
        m.insert("probes".into(), json!(self.probes));
        m.insert(
            "probes_before_alert".into(),
            json!(self.probes_before_alert),
        );
        m.insert("first_seen".into(), json!(self.first_seen.rfc3339()));
        m.insert("alert_time".into(), json!(self.alert_time.rfc3339()));
        if summary {
            m.insert("last_seen".into(), json!(self.last_seen.rfc3339()));
        }
        m.insert("reason".into(), json!(self.reason));
        m.insert("responsive".into(), addrs(&self.responsive));
        if let Some(g) = self.merged_into {
            m.insert("merged_into".into(), json!(g));
        }
        Value::Object(m)
    }

    fn who(&self) -> String {
        match self.sources.as_slice() {
            [one] => one.to_string(),
            many => format!(
                "{} sources ({})",
                many.len(),
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn whom(&self) -> String {
        if self.target_count as usize <= 3 {
            self.targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            format!("{} hosts", self.target_count)
        }
    }

    fn techniques_text(&self) -> String {
        self.techniques
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// One line for an alert: `ALERT #1 portscan 10.0.0.2 -> 10.0.0.9: syn by nmap, 4 ports
/// in 4 probes (4 of 4 first contacts failed ...)`.
pub struct AlertLine<'a>(pub &'a Report);

impl fmt::Display for AlertLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(
            f,
            "{} ALERT #{} {} {} -> {}: {} by {}, {} ports in {} probes ({})",
            r.alert_time.rfc3339(),
            r.id,
            r.kind.name(),
            r.who(),
            r.whom(),
            r.techniques_text(),
            r.tool.name(),
            r.ports,
            r.probes_before_alert,
            r.reason
        )?;
        if let Some(g) = r.merged_into {
            write!(f, ", part of #{g}")?;
        }
        Ok(())
    }
}

impl Report {
    /// The cells of the summary table's row: id, kind, tool, techniques, sources,
    /// targets, ports, probes, probes before alert, first seen, last seen.
    pub fn summary_cells(&self) -> [String; 11] {
        [
            format!("#{}", self.id),
            self.kind.name().into(),
            self.tool.name().into(),
            self.techniques_text(),
            self.who(),
            self.whom(),
            self.ports.to_string(),
            self.probes.to_string(),
            self.probes_before_alert.to_string(),
            self.first_seen.rfc3339(),
            self.last_seen.rfc3339(),
        ]
    }
}
