//! One self-scan: its state, fed by the JSON Lines a `monban scan` child process writes.
//!
//! The server runs each scan as a child process of its own binary (`monban scan
//! --profile ... --audit -oJ - --stats-every 500ms --db=...`): the scan engine, its
//! privileges and its outputs are exactly the command line's, a scan that crashes takes
//! nothing else down, and ending a scan is ending a process. [`ScanState::feed`] reads
//! the child's lines (pure, tested on fixtures); the rows of the result table come from
//! the `host` event: every listed port, and every port of the collapsed summaries by
//! their exact ranges.

use std::net::IpAddr;
use std::time::SystemTime;

use serde_json::{json, Value};

/// Where a scan is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Started, no result yet.
    Running,
    /// Finished with a result.
    Done,
    /// Ended without one; why.
    Failed(String),
}

/// One port of the result table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its number.
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    /// The scan's state (`open`, `closed`, `filtered`, `open|filtered`, ...).
    pub state: String,
    /// Why.
    pub reason: String,
    /// Service name, if known.
    pub service: Option<String>,
    /// Product and version, as `-sV` read them.
    pub version: Option<String>,
    /// Risk note: level, why, advice.
    pub risk: Option<(String, String, String)>,
}

impl Row {
    /// OPEN, CLOSED or BLOCKED, as the online service shows a port.
    pub fn status(&self) -> &'static str {
        match self.state.as_str() {
            "open" => "OPEN",
            "closed" => "CLOSED",
            _ => "BLOCKED",
        }
    }
}

/// A scan as the page shows it.
#[derive(Debug, Clone)]
pub struct ScanState {
    /// Its id in URLs: 32 random hex digits.
    pub id: String,
    /// Its number for the limits.
    pub seq: u64,
    /// The visitor, who is also the target.
    pub visitor: IpAddr,
    /// The profile.
    pub profile: String,
    /// When it started.
    pub started: SystemTime,
    /// Where it is.
    pub phase: Phase,
    /// Host × port pairs done and in all, when the scan last said.
    pub progress: Option<(u64, u64, Option<f64>)>,
    /// Up or down, once known.
    pub host: Option<String>,
    /// The result table, in port order.
    pub rows: Vec<Row>,
    /// `--audit`'s verdict (`exposed`, `visible`, `stealth`) and its advice.
    pub verdict: Option<(String, Vec<String>)>,
    /// Open ports found so far (streamed before the host is done).
    pub open_so_far: Vec<(String, u16)>,
    /// Its id in the history database, once stored.
    pub stored: Option<i64>,
}

impl ScanState {
    /// A scan just started.
    pub fn new(id: String, seq: u64, visitor: IpAddr, profile: &str) -> ScanState {
        ScanState {
            id,
            seq,
            visitor,
            profile: profile.to_string(),
            started: SystemTime::now(),
            phase: Phase::Running,
            progress: None,
            host: None,
            rows: Vec::new(),
            verdict: None,
            open_so_far: Vec::new(),
            stored: None,
        }
    }

    /// Reads one line of the child's JSON Lines; the event to pass to live viewers, if
    /// the line was one they care about. Lines that are not JSON are ignored.
    pub fn feed(&mut self, line: &str) -> Option<Value> {
        let v: Value = serde_json::from_str(line).ok()?;
        match v.get("event")?.as_str()? {
            "progress" => {
                let done = v.get("done")?.as_u64()?;
                let total = v.get("total")?.as_u64()?;
                let eta = v.get("eta").and_then(Value::as_f64);
                self.progress = Some((done, total, eta));
                Some(
                    json!({"type": "progress", "done": done, "total": total, "eta": eta,
                            "percent": v.get("percent")}),
                )
            }
            "port" => {
                let port = u16::try_from(v.get("port")?.as_u64()?).ok()?;
                let proto = v.get("proto")?.as_str()?.to_string();
                self.open_so_far.push((proto.clone(), port));
                Some(json!({"type": "open", "port": port, "proto": proto}))
            }
            "host" => {
                self.host = v.get("status").and_then(Value::as_str).map(str::to_string);
                self.rows = rows(&v);
                self.verdict = v.get("audit").filter(|a| !a.is_null()).map(|a| {
                    (
                        a.get("verdict")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        match a.get("advice") {
                            Some(Value::String(s)) => vec![s.clone()],
                            Some(Value::Array(l)) => l
                                .iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect(),
                            _ => Vec::new(),
                        },
                    )
                });
                Some(json!({"type": "host", "status": self.host}))
            }
            _ => None,
        }
    }

    /// The scan as the JSON API gives it.
    pub fn to_json(&self) -> Value {
        let secs = self
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        json!({
            "id": self.id,
            "target": self.visitor.to_string(),
            "profile": self.profile,
            "started": secs,
            "phase": match &self.phase { Phase::Running => "running", Phase::Done => "done", Phase::Failed(_) => "failed" },
            "error": match &self.phase { Phase::Failed(e) => Some(e.as_str()), _ => None },
            "progress": self.progress.map(|(d, t, eta)| json!({"done": d, "total": t, "eta": eta})),
            "host": self.host,
            "verdict": self.verdict.as_ref().map(|(v, _)| v.as_str()),
            "advice": self.verdict.as_ref().map(|(_, a)| a.clone()).unwrap_or_default(),
            "stored": self.stored,
            "ports": self.rows.iter().map(|r| json!({
                "port": r.port, "proto": r.proto, "state": r.state, "status": r.status(),
                "reason": r.reason, "service": r.service, "version": r.version,
                "risk": r.risk.as_ref().map(|(l, w, a)| json!({"level": l, "why": w, "advice": a})),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The rows of a stored host report (for the visitor's history).
pub fn rows_of_report(h: &monban_engine::HostReport) -> Vec<Row> {
    h.ports
        .iter()
        .map(|p| {
            let d = h.service(p.port, p.proto);
            let version = d
                .map(|d| {
                    [d.product.clone(), d.version.clone(), d.info.clone()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|v| !v.is_empty());
            Row {
                port: p.port,
                proto: p.proto.as_str().to_string(),
                state: p.state.as_str().to_string(),
                reason: p.reason.as_str().to_string(),
                service: d.map(|d| d.name.clone()).or_else(|| {
                    monban_engine::services::service_name(p.port, p.proto).map(str::to_string)
                }),
                version,
                risk: h
                    .risks
                    .iter()
                    .find(|r| r.port == p.port && r.proto == p.proto)
                    .map(|r| (r.level.clone(), r.why.clone(), r.advice.clone())),
            }
        })
        .collect()
}

/// `a-b,c` → the ports.
fn ranges(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) {
            if lo <= hi && hi - lo < 65535 {
                out.extend(lo..=hi);
            }
        }
    }
    out
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// Every port of a `host` event: listed ones with their details, collapsed ones from the
/// summaries' exact ranges.
fn rows(host: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    for p in host
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(port) = p
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
        else {
            continue;
        };
        let version = [text(p, "product"), text(p, "version"), text(p, "info")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        out.push(Row {
            port,
            proto: text(p, "proto").unwrap_or_default(),
            state: text(p, "state").unwrap_or_default(),
            reason: text(p, "reason").unwrap_or_default(),
            service: text(p, "service"),
            version: (!version.is_empty()).then_some(version),
            risk: p.get("risk").filter(|r| !r.is_null()).map(|r| {
                (
                    text(r, "level").unwrap_or_default(),
                    text(r, "why").unwrap_or_default(),
                    text(r, "advice").unwrap_or_default(),
                )
            }),
        });
    }
    for e in host
        .get("extraports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let state = text(e, "state").unwrap_or_default();
        for r in e
            .get("reasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let reason = text(r, "reason").unwrap_or_default();
            let proto = text(r, "proto").unwrap_or_else(|| "tcp".into());
            let p = monban_engine::Protocol::parse(&proto);
            for port in ranges(&text(r, "ports").unwrap_or_default()) {
                out.push(Row {
                    port,
                    proto: proto.clone(),
                    state: state.clone(),
                    reason: reason.clone(),
                    service: p
                        .and_then(|p| monban_engine::services::service_name(port, p))
                        .map(str::to_string),
                    version: None,
                    risk: None,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.proto, a.port).cmp(&(&b.proto, b.port)));
    out.dedup_by(|a, b| a.proto == b.proto && a.port == b.port);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_from_its_lines() {
        let mut s = ScanState::new("ab".into(), 1, "10.77.1.11".parse().unwrap(), "quick");
        assert_eq!(s.feed("not json"), None);
        assert_eq!(s.feed(r#"{"event":"start","args":"x"}"#), None);
        let p = s
            .feed(r#"{"event":"progress","done":10,"total":37,"percent":27.03,"eta":1.5,"hosts_done":0}"#)
            .unwrap();
        assert_eq!(p["type"], "progress");
        assert_eq!(s.progress, Some((10, 37, Some(1.5))));
        s.feed(r#"{"event":"port","addr":"10.77.1.11","proto":"tcp","port":22,"state":"open"}"#);
        assert_eq!(s.open_so_far, [("tcp".to_string(), 22)]);
        let host = r#"{"event":"host","addr":"10.77.1.11","status":"up","ports":[
            {"port":22,"proto":"tcp","state":"open","reason":"syn-ack","service":"ssh","product":"OpenSSH","version":"9.2p1","info":null,"risk":null},
            {"port":23,"proto":"tcp","state":"open","reason":"syn-ack","service":"telnet","product":null,"version":null,"risk":{"level":"high","why":"w <b>","advice":"a"}}],
            "extraports":[{"state":"closed","count":3,"reasons":[{"reason":"reset","count":3,"proto":"tcp","ports":"1-2,80"}]},
                          {"state":"filtered","count":1,"reasons":[{"reason":"no-response","count":1,"proto":"tcp","ports":"20000"}]}],
            "audit":{"verdict":"exposed","advice":"close telnet"}}"#
            .replace('\n', "");
        s.feed(&host);
        let got: Vec<(u16, &str, &str)> = s
            .rows
            .iter()
            .map(|r| (r.port, r.state.as_str(), r.status()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "closed", "CLOSED"),
                (2, "closed", "CLOSED"),
                (22, "open", "OPEN"),
                (23, "open", "OPEN"),
                (80, "closed", "CLOSED"),
                (20000, "filtered", "BLOCKED")
            ]
        );
        assert_eq!(s.rows[2].version.as_deref(), Some("OpenSSH 9.2p1"));
        assert_eq!(s.rows[3].risk.as_ref().unwrap().0, "high");
        assert_eq!(
            s.verdict,
            Some(("exposed".into(), vec!["close telnet".into()]))
        );
        let j = s.to_json();
        assert_eq!(j["ports"].as_array().unwrap().len(), 6);
        assert_eq!(j["verdict"], "exposed");
    }

    #[test]
    fn hostile_lines_are_ignored_or_bounded() {
        let mut s = ScanState::new("ab".into(), 1, "10.0.0.1".parse().unwrap(), "quick");
        for line in [
            r#"{"event":"port","port":70000,"proto":"tcp"}"#,
            r#"{"event":"progress","done":"x"}"#,
            r#"{"event":"host","ports":"nope","extraports":[{"reasons":[{"ports":"9-1,65535-0,a-b"}]}]}"#,
            r#"{"event":42}"#,
        ] {
            let _ = s.feed(line);
        }
        assert!(s.rows.is_empty() && s.open_so_far.is_empty() && s.progress.is_none());
        assert_eq!(ranges("1-3, 5,70000,7-6"), [1, 2, 3, 5]);
    }
}
