//! monban's JSON Lines output (`-oJ`), schema version 1 (see the project's JSONL brief).
//!
//! One object per line, flushed at once: `start`, then `port` (each open port as found)
//! and `host` (each finished host), then `end`. Keys are written in the schema's order.

use std::io::Write;
use std::net::IpAddr;
use std::time::SystemTime;

use monban_engine::ports::format_ranges;
use monban_engine::services::service_name;
use monban_engine::types::{
    HostReport, HostStatus, PortResult, PortState, RiskNote, ServiceDetail, TlsDetail,
};
use serde_json::Value;

use crate::text::host_name;
use crate::time::{secs_f64, unix_f64};
use crate::{
    collapse, dn_get, dn_text, OutputError, Phase, ProgressInfo, RunInfo, RunStats, ServiceFn,
    Sink, SinkOptions,
};

/// Version of the JSON Lines schema written in the `start` event.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Writes JSON Lines.
///
/// Every `host` event lists the ports that are not collapsed in `ports` and summarises
/// the collapsed states in `extraports` (with exact port ranges), so that together they
/// give the state of every port in the report. Down hosts are always written, with empty
/// lists. `port` events are written for open ports only.
#[derive(Debug)]
pub struct JsonSink<W: Write> {
    out: W,
    opts: SinkOptions,
    phase: Phase,
    services: ServiceFn,
    clock: fn() -> SystemTime,
}

impl<W: Write> JsonSink<W> {
    /// A sink writing to `writer`.
    pub fn new(writer: W, opts: SinkOptions) -> JsonSink<W> {
        JsonSink {
            out: writer,
            opts,
            phase: Phase::New,
            services: service_name,
            clock: SystemTime::now,
        }
    }

    /// Replaces the clock that stamps `port` events (the other events carry the times
    /// given to them). For reproducible output.
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> JsonSink<W> {
        self.clock = clock;
        self
    }

    /// Replaces the service table (tests use a fixed one).
    #[cfg(test)]
    pub(crate) fn with_services(mut self, services: ServiceFn) -> Self {
        self.services = services;
        self
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes one object and flushes.
    fn line(&mut self, fields: &[(&str, String)]) -> Result<(), OutputError> {
        let mut text = object(fields);
        text.push('\n');
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    /// One entry of a `host` event's `ports`; `detail` is what `-sV` found on it.
    fn port_object(
        &self,
        p: &PortResult,
        detail: Option<&ServiceDetail>,
        risk: Option<&RiskNote>,
    ) -> String {
        let service = match detail {
            Some(d) => Some(d.name.as_str()),
            None => (self.services)(p.port, p.proto),
        };
        let text = |f: fn(&ServiceDetail) -> &Option<String>| j(detail.and_then(|d| f(d).clone()));
        object(&[
            ("port", j(p.port)),
            ("proto", j(p.proto.as_str())),
            ("state", j(p.state.as_str())),
            ("reason", j(p.reason.as_str())),
            ("ttl", j(p.ttl)),
            ("service", j(service)),
            ("product", text(|d| &d.product)),
            ("version", text(|d| &d.version)),
            ("info", text(|d| &d.info)),
            ("hostname", text(|d| &d.hostname)),
            ("os", text(|d| &d.os)),
            ("cpe", j(detail.map(|d| d.cpe.clone()).unwrap_or_default())),
            ("tunnel", text(|d| &d.tunnel)),
            (
                "tls",
                detail
                    .and_then(|d| d.tls.as_ref())
                    .map_or_else(|| "null".to_string(), tls_object),
            ),
            (
                "risk",
                risk.map_or_else(
                    || "null".to_string(),
                    |r| {
                        object(&[
                            ("level", j(r.level.as_str())),
                            ("why", j(r.why.as_str())),
                            ("advice", j(r.advice.as_str())),
                        ])
                    },
                ),
            ),
        ])
    }
}

/// `--audit`'s verdict for an up host, `null` for a down one.
fn audit_object(host: &HostReport, services: ServiceFn) -> String {
    if host.status != HostStatus::Up {
        return j(Value::Null);
    }
    let a = crate::audit::audit(host, &services);
    let open: Vec<String> = a
        .open
        .iter()
        .map(|o| {
            object(&[
                ("port", j(o.port)),
                ("proto", j(o.proto.as_str())),
                ("service", j(o.service.clone())),
                ("risk", j(o.risk.clone())),
            ])
        })
        .collect();
    object(&[
        ("verdict", j(a.verdict.as_str())),
        ("open", array(&open)),
        ("closed", j(format_ranges(&a.closed))),
        ("blocked", j(a.blocked)),
        ("undecided", j(format_ranges(&a.undecided))),
        ("advice", j(a.advice())),
    ])
}

/// A port's `tls` object: what the handshake showed, the certificate (`null` when it
/// could not be read, then `cert_error` says why).
fn tls_object(t: &TlsDetail) -> String {
    let cert = t.cert.as_ref().map_or_else(
        || "null".to_string(),
        |c| {
            object(&[
                ("subject", j(dn_text(&c.subject))),
                ("subject_cn", j(dn_get(&c.subject, "CN"))),
                ("subject_o", j(dn_get(&c.subject, "O"))),
                ("issuer", j(dn_text(&c.issuer))),
                ("issuer_cn", j(dn_get(&c.issuer, "CN"))),
                ("issuer_o", j(dn_get(&c.issuer, "O"))),
                ("not_before", j(c.not_before.as_str())),
                ("not_after", j(c.not_after.as_str())),
                ("alt_names", j(c.alt_names.clone())),
                ("key", j(c.key.clone())),
                ("signature", j(c.signature.as_str())),
                ("sha256", j(c.sha256.as_str())),
            ])
        },
    );
    object(&[
        ("version", j(t.version.as_str())),
        ("cipher", j(t.cipher.as_str())),
        ("cert", cert),
        ("cert_error", j(t.cert_error.clone())),
    ])
}

/// One JSON value as text.
fn j(value: impl Into<Value>) -> String {
    value.into().to_string()
}

/// A JSON object from keys and values already in JSON text, keys in the given order
/// (the schema's), whatever serde_json's map ordering.
fn object(fields: &[(&str, String)]) -> String {
    let mut text = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&j(*key));
        text.push(':');
        text.push_str(value);
    }
    text.push('}');
    text
}

/// A JSON array from elements already in JSON text.
fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

impl<W: Write> Sink for JsonSink<W> {
    fn begin(&mut self, run: &RunInfo) -> Result<(), OutputError> {
        self.phase.begin()?;
        let mut fields = vec![
            ("event", j("start")),
            ("time", j(unix_f64(run.start))),
            ("scanner", j("monban")),
            ("version", j(run.version)),
            ("args", j(run.args.as_str())),
            ("scan", j(run.scan_type.as_str())),
            ("protocol", j(run.scan_type.protocol().as_str())),
            ("ports", j(run.tcp_ports.len())),
            ("schema", j(JSON_SCHEMA_VERSION)),
        ];
        if run.resumed {
            // Present only in a resumed run's second `start`.
            fields.push(("resumed", j(true)));
        }
        self.line(&fields)
    }

    fn port(&mut self, addr: IpAddr, result: &PortResult) -> Result<(), OutputError> {
        self.phase.check("port")?;
        if result.state != PortState::Open {
            return Ok(());
        }
        self.line(&[
            ("event", j("port")),
            ("time", j(unix_f64((self.clock)()))),
            ("addr", j(addr.to_string())),
            ("proto", j(result.proto.as_str())),
            ("port", j(result.port)),
            ("state", j(result.state.as_str())),
            ("reason", j(result.reason.as_str())),
            ("ttl", j(result.ttl)),
            ("service", j((self.services)(result.port, result.proto))),
        ])
    }

    fn host(&mut self, host: &HostReport) -> Result<(), OutputError> {
        self.phase.check("host")?;
        let mut ports = Vec::new();
        let mut extra = Vec::new();
        if host.status == HostStatus::Up {
            let c = collapse(&host.ports, &self.opts);
            for p in &c.shown {
                ports.push(self.port_object(
                    p,
                    host.service(p.port, p.proto),
                    host.risk(p.port, p.proto),
                ));
            }
            for e in &c.extra {
                let mut reasons = Vec::new();
                for r in &e.reasons {
                    reasons.push(object(&[
                        ("reason", j(r.reason.as_str())),
                        ("count", j(r.count)),
                        ("proto", j(r.proto.as_str())),
                        ("ports", j(format_ranges(&r.ports))),
                    ]));
                }
                extra.push(object(&[
                    ("state", j(e.state.as_str())),
                    ("count", j(e.count)),
                    ("reasons", array(&reasons)),
                ]));
            }
        }
        let srtt_us = host
            .srtt
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let mut fields = vec![
            ("event", j("host")),
            ("time", j(unix_f64(host.end))),
            ("addr", j(host.addr.to_string())),
            ("name", j(host_name(host))),
            ("status", j(host.status.as_str())),
            ("reason", j(host.status_reason.as_str())),
            ("ttl", j(host.status_ttl)),
            ("start", j(unix_f64(host.start))),
            ("end", j(unix_f64(host.end))),
            ("srtt_us", j(srtt_us)),
            ("timed_out", j(host.timed_out)),
            ("incomplete", j(host.incomplete)),
            ("ports", array(&ports)),
            ("extraports", array(&extra)),
        ];
        if let Some(mac) = host.mac {
            // Present only when discovery saw the host on the local segment.
            fields.push(("mac", j(mac.to_string())));
        }
        if self.opts.audit {
            // Present only with --audit, so schema-1 readers see the lines they know.
            fields.push(("audit", audit_object(host, self.services)));
        }
        self.line(&fields)
    }

    fn end(&mut self, stats: &RunStats) -> Result<(), OutputError> {
        self.phase.end()?;
        self.line(&[
            ("event", j("end")),
            ("time", j(unix_f64(stats.end))),
            ("elapsed", j(secs_f64(stats.elapsed))),
            ("hosts_up", j(stats.hosts_up)),
            ("hosts_down", j(stats.hosts_down)),
            ("hosts_total", j(stats.hosts_total)),
            ("interrupted", j(stats.interrupted)),
        ])
    }

    fn progress(&mut self, p: &ProgressInfo) -> Result<(), OutputError> {
        self.phase.check("progress")?;
        self.line(&[
            ("event", j("progress")),
            ("time", j(unix_f64(p.time))),
            ("elapsed", j(secs_f64(p.elapsed))),
            ("done", j(p.done)),
            ("total", j(p.total)),
            ("percent", j((p.percent() * 100.0).round() / 100.0)),
            ("hosts_done", j(p.hosts_done)),
            ("eta", j(p.eta().map(secs_f64))),
        ])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use monban_engine::types::{PortState, Protocol, Reason};

    use serde_json::json;

    use super::*;
    use crate::fixtures::*;

    fn port_clock() -> SystemTime {
        at(START + 3, 125)
    }

    fn render(opts: SinkOptions, hosts: &[HostReport], stats: &RunStats) -> String {
        let mut sink = JsonSink::new(Vec::new(), opts)
            .with_services(test_services)
            .with_clock(port_clock);
        sink.begin(&run_info()).unwrap();
        for h in hosts {
            for p in &h.ports {
                sink.port(h.addr, p).unwrap();
            }
            sink.host(h).unwrap();
        }
        sink.end(stats).unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    fn parse_lines(out: &str) -> Vec<Value> {
        assert!(out.ends_with('\n'));
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect()
    }

    #[test]
    fn progress_events() {
        let mut sink = JsonSink::new(Vec::new(), SinkOptions::default()).with_clock(port_clock);
        sink.begin(&run_info()).unwrap();
        sink.progress(&ProgressInfo {
            time: at(START + 2, 500),
            elapsed: std::time::Duration::from_millis(2500),
            done: 250,
            total: 1000,
            hosts_done: 0,
        })
        .unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
        assert_eq!(
            line,
            json!({"event": "progress", "time": 1795239002.5, "elapsed": 2.5, "done": 250,
                   "total": 1000, "percent": 25.0, "hosts_done": 0, "eta": 7.5})
        );
    }

    #[test]
    fn exact_lines() {
        let out = render(
            SinkOptions::default(),
            &[host_small(), host_down()],
            &stats(true),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"event":"start","time":1795239000.0,"scanner":"monban","version":"0.1.0","args":"monban scan -sS \u001b[31m<&>","scan":"syn","protocol":"tcp","ports":65535,"schema":1}"#,
                r#"{"event":"port","time":1795239003.125,"addr":"10.77.1.3","proto":"tcp","port":22,"state":"open","reason":"syn-ack","ttl":63,"service":"ssh"}"#,
                concat!(
                    r#"{"event":"host","time":1795239010.25,"addr":"10.77.1.3","name":null,"status":"up","reason":"user-set","ttl":null,"#,
                    r#""start":1795239000.5,"end":1795239010.25,"srtt_us":12345,"timed_out":false,"incomplete":true,"#,
                    r#""ports":[{"port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":63,"service":"ssh","product":null,"version":null,"info":null,"hostname":null,"os":null,"cpe":[],"tunnel":null,"tls":null,"risk":null},"#,
                    r#"{"port":23,"proto":"tcp","state":"closed","reason":"conn-refused","ttl":null,"service":null,"product":null,"version":null,"info":null,"hostname":null,"os":null,"cpe":[],"tunnel":null,"tls":null,"risk":null},"#,
                    r#"{"port":443,"proto":"tcp","state":"filtered","reason":"no-response","ttl":null,"service":null,"product":null,"version":null,"info":null,"hostname":null,"os":null,"cpe":[],"tunnel":null,"tls":null,"risk":null}],"extraports":[]}"#
                ),
                concat!(
                    r#"{"event":"host","time":1795239010.25,"addr":"10.77.1.8","name":null,"status":"down","reason":"no-response","ttl":null,"#,
                    r#""start":1795239000.5,"end":1795239010.25,"srtt_us":null,"timed_out":false,"incomplete":false,"ports":[],"extraports":[]}"#
                ),
                r#"{"event":"end","time":1795239012.34,"elapsed":12.34,"hosts_up":3,"hosts_down":1,"hosts_total":4,"interrupted":true}"#,
            ]
        );
    }

    #[test]
    fn every_line_parses_with_all_fields() {
        let out = render(
            SinkOptions::default(),
            &[host_v4(), host_v6(), host_down(), host_timed_out()],
            &stats(false),
        );
        let lines = parse_lines(&out);
        let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
        assert_eq!(
            events,
            ["start", "port", "port", "host", "host", "host", "port", "host", "end"]
        );
        for l in &lines {
            assert!(l["time"].is_f64(), "{l}");
        }
        let host_keys = [
            "event",
            "time",
            "addr",
            "name",
            "status",
            "reason",
            "ttl",
            "start",
            "end",
            "srtt_us",
            "timed_out",
            "incomplete",
            "ports",
            "extraports",
        ];
        for h in lines.iter().filter(|l| l["event"] == "host") {
            let obj = h.as_object().unwrap();
            assert_eq!(obj.len(), host_keys.len());
            for k in host_keys {
                assert!(obj.contains_key(k), "{k} missing in {h}");
            }
        }
        let v4 = &lines[3];
        assert_eq!(v4["addr"], "10.77.1.2");
        assert_eq!(v4["name"], "evil<&\"'\u{1}");
        assert_eq!(v4["srtt_us"], 210);
        assert_eq!(lines[4]["addr"], "fd00::2");
        assert_eq!(lines[4]["ports"], json!([]));
        assert_eq!(
            lines[4]["extraports"],
            json!([{"state":"closed","count":30,"reasons":[{"reason":"conn-refused","count":30,"proto":"tcp","ports":"1-30"}]}])
        );
        assert_eq!(lines[5]["status"], "down");
        assert_eq!(lines[7]["timed_out"], true);
        let end = &lines[8];
        assert_eq!(end["elapsed"], 12.34);
        assert_eq!(end["hosts_total"], 4);
        assert_eq!(end["interrupted"], false);
    }

    /// Expands "1-3,5" into ports.
    fn expand(ranges: &str) -> Vec<u16> {
        let mut out = Vec::new();
        for part in ranges.split(',') {
            match part.split_once('-') {
                Some((a, b)) => out.extend(a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap()),
                None => out.push(part.parse().unwrap()),
            }
        }
        out
    }

    /// Rebuilds every port's (state, reason) from a host event.
    fn rebuild(host: &Value) -> BTreeMap<u16, (String, String)> {
        let mut map = BTreeMap::new();
        for p in host["ports"].as_array().unwrap() {
            let port = u16::try_from(p["port"].as_u64().unwrap()).unwrap();
            let prev = map.insert(
                port,
                (
                    p["state"].as_str().unwrap().to_string(),
                    p["reason"].as_str().unwrap().to_string(),
                ),
            );
            assert_eq!(prev, None, "port {port} listed twice");
        }
        for e in host["extraports"].as_array().unwrap() {
            let mut sum = 0;
            for r in e["reasons"].as_array().unwrap() {
                let ports = expand(r["ports"].as_str().unwrap());
                assert_eq!(ports.len() as u64, r["count"].as_u64().unwrap());
                sum += ports.len() as u64;
                for port in ports {
                    let prev = map.insert(
                        port,
                        (
                            e["state"].as_str().unwrap().to_string(),
                            r["reason"].as_str().unwrap().to_string(),
                        ),
                    );
                    assert_eq!(prev, None, "port {port} listed twice");
                }
            }
            assert_eq!(sum, e["count"].as_u64().unwrap());
        }
        map
    }

    #[test]
    fn ports_and_extraports_give_every_port() {
        let report = host_v4(); // two collapsed states, closed and filtered
        for opts in [
            SinkOptions::default(),
            SinkOptions {
                reason: false,
                open_only: true,
                verbose: 0,
                audit: false,
            },
            SinkOptions {
                reason: false,
                open_only: false,
                verbose: 2,
                audit: false,
            },
        ] {
            let out = render(opts, std::slice::from_ref(&report), &stats(false));
            let lines = parse_lines(&out);
            let host = lines.iter().find(|l| l["event"] == "host").unwrap();
            let expected: BTreeMap<u16, (String, String)> = report
                .ports
                .iter()
                .map(|p| {
                    (
                        p.port,
                        (p.state.as_str().to_string(), p.reason.as_str().to_string()),
                    )
                })
                .collect();
            assert_eq!(expected.len(), 65_004);
            assert_eq!(rebuild(host), expected);
            let states: Vec<&str> = host["extraports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["state"].as_str().unwrap())
                .collect();
            if opts.open_only {
                assert_eq!(states, ["closed", "filtered", "unfiltered"]);
                assert_eq!(host["ports"].as_array().unwrap().len(), 2);
            } else {
                assert_eq!(states, ["closed", "filtered"]);
                assert_eq!(host["ports"].as_array().unwrap().len(), 4);
            }
        }
    }

    #[test]
    fn only_open_ports_are_streamed() {
        let mut sink = JsonSink::new(Vec::new(), SinkOptions::default()).with_clock(port_clock);
        sink.begin(&run_info()).unwrap();
        let addr = host_small().addr;
        sink.port(addr, &tcp(23, PortState::Closed, Reason::Reset, Some(64)))
            .unwrap();
        sink.port(addr, &tcp(8, PortState::Open, Reason::SynAck, None))
            .unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let lines = parse_lines(&out);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["port"], 8);
        assert_eq!(lines[1]["ttl"], Value::Null);
        // The default table is the engine's.
        assert_eq!(
            lines[1]["service"],
            json!(monban_engine::services::service_name(8, Protocol::Tcp))
        );
    }

    #[test]
    fn version_details() {
        let out = render(SinkOptions::default(), &[host_versions()], &stats(false));
        assert_eq!(out, "{\"event\":\"start\",\"time\":1795239000.0,\"scanner\":\"monban\",\"version\":\"0.1.0\",\"args\":\"monban scan -sS \\u001b[31m<&>\",\"scan\":\"syn\",\"protocol\":\"tcp\",\"ports\":65535,\"schema\":1}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.4\",\"proto\":\"tcp\",\"port\":22,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssh\"}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.4\",\"proto\":\"tcp\",\"port\":25,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.4\",\"proto\":\"tcp\",\"port\":80,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"http\"}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.4\",\"proto\":\"tcp\",\"port\":443,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null}\n{\"event\":\"host\",\"time\":1795239010.25,\"addr\":\"10.77.1.4\",\"name\":null,\"status\":\"up\",\"reason\":\"user-set\",\"ttl\":null,\"start\":1795239000.5,\"end\":1795239010.25,\"srtt_us\":null,\"timed_out\":false,\"incomplete\":false,\"ports\":[{\"port\":22,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssh\",\"product\":\"OpenSSH\",\"version\":\"9.2p1 Debian 2+deb12u3\",\"info\":\"protocol 2.0\",\"hostname\":null,\"os\":\"Linux\",\"cpe\":[\"cpe:/a:openbsd:openssh:9.2p1\",\"cpe:/o:linux:linux_kernel\"],\"tunnel\":null,\"tls\":null,\"risk\":null},{\"port\":25,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"smtp\",\"product\":\"Evil<&\\\"'/,\\tmta\",\"version\":\"1.0\\u001b[31m\",\"info\":\"a\\nb\",\"hostname\":\"mail<x>\",\"os\":null,\"cpe\":[\"cpe:/a:evil:<mta>\"],\"tunnel\":null,\"tls\":null,\"risk\":null},{\"port\":80,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"http\",\"product\":null,\"version\":null,\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":null},{\"port\":443,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null,\"product\":null,\"version\":null,\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":null}],\"extraports\":[]}\n{\"event\":\"end\",\"time\":1795239012.34,\"elapsed\":12.34,\"hosts_up\":3,\"hosts_down\":1,\"hosts_total\":4,\"interrupted\":false}\n");
    }

    #[test]
    fn risk_objects_in_host_event() {
        let out = render(SinkOptions::default(), &[host_risks()], &stats(false));
        let lines = parse_lines(&out);
        assert_eq!(lines.len(), 6);
        assert_eq!(out.lines().nth(4), Some(
                "{\"event\":\"host\",\"time\":1795239010.25,\"addr\":\"10.77.1.5\",\"name\":null,\"status\":\"up\",\"reason\":\"user-set\",\"ttl\":null,\"start\":1795239000.5,\"end\":1795239010.25,\"srtt_us\":null,\"timed_out\":false,\"incomplete\":false,\"ports\":[{\"port\":22,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssh\",\"product\":null,\"version\":null,\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":null},{\"port\":23,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null,\"product\":null,\"version\":null,\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":{\"level\":\"high\",\"why\":\"Logins cross the network in clear text.\",\"advice\":\"Use SSH instead.\"}},{\"port\":31337,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null,\"product\":null,\"version\":null,\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":{\"level\":\"critical\",\"why\":\"Bad \\u001b[31m<b>&\\\"'\\nthing.\",\"advice\":\"Close <it> & \\\"now\\\".\"}}],\"extraports\":[]}"
            ));
    }

    #[test]
    fn tls_details() {
        let out = render(SinkOptions::default(), &[host_tls()], &stats(false));
        let lines = parse_lines(&out);
        assert_eq!(
            lines[5]["ports"][2]["tls"]["cert"]["not_after"],
            json!("2035-06-30T23:59:59Z")
        );
        assert_eq!(
            out,
            "{\"event\":\"start\",\"time\":1795239000.0,\"scanner\":\"monban\",\"version\":\"0.1.0\",\"args\":\"monban scan -sS \\u001b[31m<&>\",\"scan\":\"syn\",\"protocol\":\"tcp\",\"ports\":65535,\"schema\":1}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.7\",\"proto\":\"tcp\",\"port\":22,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssh\"}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.7\",\"proto\":\"tcp\",\"port\":23,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.7\",\"proto\":\"tcp\",\"port\":443,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null}\n{\"event\":\"port\",\"time\":1795239003.125,\"addr\":\"10.77.1.7\",\"proto\":\"tcp\",\"port\":8443,\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null}\n{\"event\":\"host\",\"time\":1795239010.25,\"addr\":\"10.77.1.7\",\"name\":null,\"status\":\"up\",\"reason\":\"user-set\",\"ttl\":null,\"start\":1795239000.5,\"end\":1795239010.25,\"srtt_us\":null,\"timed_out\":false,\"incomplete\":false,\"ports\":[{\"port\":22,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssh\",\"product\":\"OpenSSH\",\"version\":\"9.2p1\",\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":null},{\"port\":23,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":null,\"product\":null,\"version\":null,\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":null,\"risk\":{\"level\":\"high\",\"why\":\"Clear text.\",\"advice\":\"Use SSH.\"}},{\"port\":443,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"http\",\"product\":\"nginx\",\"version\":\"1.22.1\",\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[\"cpe:/a:nginx:nginx:1.22.1\"],\"tunnel\":\"ssl\",\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"TLS_AES_256_GCM_SHA384\",\"cert\":{\"subject\":\"CN=tls.monban.test, O=Evil\\\\, <Inc>\\n\\u001b[31m\",\"subject_cn\":\"tls.monban.test\",\"subject_o\":\"Evil, <Inc>\\n\\u001b[31m\",\"issuer\":\"CN=Monban Lab CA, O=Monban\",\"issuer_cn\":\"Monban Lab CA\",\"issuer_o\":\"Monban\",\"not_before\":\"2025-01-01T00:00:00Z\",\"not_after\":\"2035-06-30T23:59:59Z\",\"alt_names\":[\"DNS:tls.monban.test\",\"IP:10.77.1.7\"],\"key\":\"rsa 2048\",\"signature\":\"sha256WithRSAEncryption\",\"sha256\":\"abababababababababababababababababababababababababababababababab\"},\"cert_error\":null},\"risk\":null},{\"port\":8443,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":63,\"service\":\"ssl\",\"product\":null,\"version\":null,\"info\":null,\"hostname\":null,\"os\":null,\"cpe\":[],\"tunnel\":null,\"tls\":{\"version\":\"TLSv1.2\",\"cipher\":\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\"cert\":null,\"cert_error\":\"certificate truncated\"},\"risk\":null}],\"extraports\":[]}\n{\"event\":\"end\",\"time\":1795239012.34,\"elapsed\":12.34,\"hosts_up\":3,\"hosts_down\":1,\"hosts_total\":4,\"interrupted\":false}\n"
        );
    }
}
