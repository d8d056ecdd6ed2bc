//! The human-readable output: what nmap prints on a terminal and writes with `-oN`.

use std::io::Write;
use std::net::IpAddr;

use monban_engine::services::service_name;
use monban_engine::types::{HostReport, HostStatus, PortResult, PortState, Protocol, Reason};

use crate::text::{host_label, safe_text, sig2_secs, table};
use crate::time::{ctime_utc, minute_utc};
use crate::{
    collapse, plural, service_label, summary, tls_line, unresolved, version_text, ExtraPorts,
    OutputError, Phase, ProgressInfo, RunInfo, RunStats, ServiceFn, Sink, SinkOptions, INTERRUPTED,
};

/// Writes nmap's normal output.
///
/// [`NormalSink::new`] writes the terminal flavour ("Starting monban ...", "monban done:
/// ..."; with `-v` also "Discovered open port ..." as ports are found);
/// [`NormalSink::for_file`] writes the `-oN` flavour, whose first and last lines are
/// `#` comments with the command line and the end time.
#[derive(Debug)]
pub struct NormalSink<W: Write> {
    out: W,
    opts: SinkOptions,
    file: bool,
    phase: Phase,
    scanned: usize,
    services: ServiceFn,
    /// Risky open services seen so far, by level: low, medium, high, critical, other.
    risky: [u64; 5],
    /// Hosts with at least one risky open service.
    risky_hosts: u64,
    /// `--audit` verdicts so far: stealth, visible, exposed, unknown.
    verdicts: [u64; 4],
}

impl<W: Write> NormalSink<W> {
    /// A sink for a terminal (or standard output).
    pub fn new(writer: W, opts: SinkOptions) -> NormalSink<W> {
        NormalSink {
            out: writer,
            opts,
            file: false,
            phase: Phase::New,
            scanned: 0,
            services: service_name,
            risky: [0; 5],
            risky_hosts: 0,
            verdicts: [0; 4],
        }
    }

    /// A sink for an `-oN` file.
    pub fn for_file(writer: W, opts: SinkOptions) -> NormalSink<W> {
        NormalSink {
            file: true,
            ..NormalSink::new(writer, opts)
        }
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

    fn write(&mut self, text: &str) -> Result<(), OutputError> {
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }
}

/// nmap's "Service Info" text: the host names and operating systems services announced
/// ("Host: mail.example; OS: Linux"), each once, made safe; empty if none did.
fn service_info(host: &HostReport) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut oses: Vec<&str> = Vec::new();
    for d in &host.services {
        if let Some(h) = d.hostname.as_deref().filter(|h| !h.is_empty()) {
            if !names.contains(&h) {
                names.push(h);
            }
        }
        if let Some(o) = d.os.as_deref().filter(|o| !o.is_empty()) {
            if !oses.contains(&o) {
                oses.push(o);
            }
        }
    }
    let mut parts = Vec::new();
    if !names.is_empty() {
        let key = if names.len() == 1 { "Host" } else { "Hosts" };
        parts.push(format!("{key}: {}", safe_text(&names.join(", "))));
    }
    if !oses.is_empty() {
        let key = if oses.len() == 1 { "OS" } else { "OSs" };
        parts.push(format!("{key}: {}", safe_text(&oses.join(", "))));
    }
    parts.join("; ")
}

/// "syn-ack ttl 63", "conn-refused": the REASON column.
fn reason_text(reason: Reason, ttl: Option<u8>) -> String {
    match ttl {
        Some(ttl) => format!("{reason} ttl {ttl}"),
        None => reason.to_string(),
    }
}

/// The text after "Not shown: ", e.g.
/// "64000 closed tcp ports (reset), 1000 filtered tcp ports (600 no-response, 400 admin-prohibited)".
pub(crate) fn not_shown(extra: &[ExtraPorts]) -> String {
    let mut parts = Vec::new();
    for e in extra {
        for proto in [Protocol::Tcp, Protocol::Udp] {
            let reasons: Vec<_> = e.reasons.iter().filter(|r| r.proto == proto).collect();
            let count: usize = reasons.iter().map(|r| r.count).sum();
            let why = match reasons.as_slice() {
                [] => continue,
                [only] => only.reason.to_string(),
                many => many
                    .iter()
                    .map(|r| format!("{} {}", r.count, r.reason))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let what = format!("{} {proto}", e.state);
            parts.push(format!(
                "{} ({why})",
                plural(
                    count as u128,
                    &format!("{what} port"),
                    &format!("{what} ports")
                )
            ));
        }
    }
    parts.join(", ")
}

/// Where a risk level is counted in [`NormalSink`]'s tally.
fn level_index(level: &str) -> usize {
    match level {
        "low" => 0,
        "medium" => 1,
        "high" => 2,
        "critical" => 3,
        _ => 4,
    }
}

/// The end-of-scan line about risky open services (empty when there were none):
/// `Risky open services: 3 (1 critical, 2 high) on 2 hosts`.
fn risk_summary(risky: &[u64; 5], hosts: u64) -> String {
    let total: u64 = risky.iter().sum();
    if total == 0 {
        return String::new();
    }
    let names = ["low", "medium", "high", "critical", "other"];
    let parts: Vec<String> = [3, 2, 1, 0, 4]
        .iter()
        .filter_map(|&i| {
            let n = risky.get(i).copied().unwrap_or(0);
            let name = names.get(i).copied().unwrap_or("other");
            (n > 0).then(|| format!("{n} {name}"))
        })
        .collect();
    format!(
        "Risky open services: {total} ({}) on {}\n",
        parts.join(", "),
        plural(u128::from(hosts), "host", "hosts")
    )
}

impl<W: Write> Sink for NormalSink<W> {
    fn begin(&mut self, run: &RunInfo) -> Result<(), OutputError> {
        self.phase.begin()?;
        self.scanned = run.tcp_ports.len();
        let mut text = if self.file {
            format!(
                "# monban {} scan {} {} as: {}\n",
                safe_text(run.version),
                if run.resumed { "resumed" } else { "initiated" },
                ctime_utc(run.start),
                safe_text(&run.args)
            )
        } else if run.resumed {
            format!(
                "Resuming monban {} scan at {}\n",
                safe_text(run.version),
                minute_utc(run.start)
            )
        } else {
            format!(
                "Starting monban {} at {}\n",
                safe_text(run.version),
                minute_utc(run.start)
            )
        };
        if !self.file && self.opts.verbose > 0 && !run.tcp_ports.is_empty() {
            if let Some(hosts) = run.num_hosts_hint {
                let per = if hosts == 1 { "" } else { "/host" };
                text.push_str(&format!(
                    "Scanning {} [{}{per}]\n",
                    plural(hosts, "host", "hosts"),
                    plural(run.tcp_ports.len() as u128, "port", "ports"),
                ));
            }
        }
        self.write(&text)
    }

    fn port(&mut self, addr: IpAddr, result: &PortResult) -> Result<(), OutputError> {
        self.phase.check("port")?;
        if self.file || self.opts.verbose == 0 || result.state != PortState::Open {
            return Ok(());
        }
        self.write(&format!(
            "Discovered open port {}/{} on {addr}\n",
            result.port, result.proto
        ))
    }

    fn host(&mut self, host: &HostReport) -> Result<(), OutputError> {
        self.phase.check("host")?;
        let label = host_label(host);
        if host.status == HostStatus::Down {
            if self.opts.verbose == 0 {
                return Ok(());
            }
            let why = if self.opts.reason {
                format!(
                    ", received {}",
                    reason_text(host.status_reason, host.status_ttl)
                )
            } else {
                String::new()
            };
            return self.write(&format!(
                "monban scan report for {label} [host down{why}]\n"
            ));
        }
        if host.timed_out {
            return self.write(&format!("Skipping host {label} due to host timeout\n"));
        }
        if self.opts.open_only && !host.ports.iter().any(|p| p.state == PortState::Open) {
            return Ok(());
        }

        let mut text = format!("monban scan report for {label}\nHost is up");
        if self.opts.reason {
            text.push_str(&format!(
                ", received {}",
                reason_text(host.status_reason, host.status_ttl)
            ));
        }
        if let Some(srtt) = host.srtt {
            text.push_str(&format!(" ({}s latency)", sig2_secs(srtt)));
        }
        text.push_str(".\n");

        let c = collapse(&host.ports, &self.opts);
        if c.shown.is_empty() && !c.extra.is_empty() {
            text.push_str(&format!(
                "All {} scanned ports on {label} are in ignored states.\n",
                host.ports.len()
            ));
        }
        if !c.extra.is_empty() {
            text.push_str(&format!("Not shown: {}\n", not_shown(&c.extra)));
        }
        if !c.shown.is_empty() {
            let mut head = vec![
                "PORT".to_string(),
                "STATE".to_string(),
                "SERVICE".to_string(),
            ];
            if self.opts.reason {
                head.push("REASON".to_string());
            }
            let versions = c
                .shown
                .iter()
                .any(|p| host.service(p.port, p.proto).is_some());
            if versions {
                head.push("VERSION".to_string());
            }
            let mut rows = vec![head];
            for p in &c.shown {
                let detail = host.service(p.port, p.proto);
                let name = match detail {
                    Some(d) => safe_text(&service_label(d)),
                    None => (self.services)(p.port, p.proto)
                        .unwrap_or("unknown")
                        .to_string(),
                };
                let mut row = vec![format!("{}/{}", p.port, p.proto), p.state.to_string(), name];
                if self.opts.reason {
                    row.push(reason_text(p.reason, p.ttl));
                }
                if versions {
                    row.push(
                        detail
                            .map(|d| safe_text(&version_text(d)))
                            .unwrap_or_default(),
                    );
                }
                rows.push(row);
            }
            // The table, with a certificate line under each TLS port (row i + 1).
            let lines: Vec<String> = table(&rows).lines().map(str::to_owned).collect();
            for (i, line) in lines.iter().enumerate() {
                text.push_str(line);
                text.push('\n');
                let tls = i
                    .checked_sub(1)
                    .and_then(|k| c.shown.get(k))
                    .and_then(|p| host.service(p.port, p.proto))
                    .and_then(|d| d.tls.as_ref());
                if let Some(t) = tls {
                    text.push_str(&format!("|_ssl-cert: {}\n", safe_text(&tls_line(t))));
                }
            }
            let info = service_info(host);
            if !info.is_empty() {
                text.push_str(&format!("Service Info: {info}\n"));
            }
        }
        if let Some(mac) = host.mac {
            text.push_str(&format!("MAC Address: {mac}\n"));
        }
        if !host.risks.is_empty() {
            text.push_str("Risk notes:\n");
            for r in &host.risks {
                text.push_str(&format!(
                    "  {}/{} {} [{}]: {} \u{2192} {}\n",
                    r.port,
                    r.proto,
                    safe_text(&r.name),
                    safe_text(&r.level),
                    safe_text(&r.why),
                    safe_text(&r.advice)
                ));
                self.risky[level_index(&r.level)] += 1;
            }
            self.risky_hosts += 1;
        }
        if self.opts.audit && host.status == HostStatus::Up {
            let a = crate::audit::audit(host, &self.services);
            self.verdicts[a.verdict as usize] += 1;
            text.push_str(&a.text());
        }
        if host.incomplete {
            text.push_str(&format!(
                "Scan interrupted: {} not resolved\n",
                plural(unresolved(self.scanned, host) as u128, "port", "ports")
            ));
        }
        text.push('\n');
        self.write(&text)
    }

    fn end(&mut self, stats: &RunStats) -> Result<(), OutputError> {
        self.phase.end()?;
        let mut text = risk_summary(&self.risky, self.risky_hosts);
        if self.opts.audit {
            let [stealth, visible, exposed, unknown] = self.verdicts;
            text.push_str(&format!(
                "Audit: {exposed} exposed, {visible} visible, {stealth} stealth, {unknown} \
                 not judged\n"
            ));
        }
        if self.file {
            if stats.interrupted {
                text.push_str(&format!("# {INTERRUPTED}\n"));
            }
            text.push_str(&format!(
                "# monban done at {} -- {}\n",
                ctime_utc(stats.end),
                summary(stats)
            ));
        } else {
            if stats.interrupted {
                text.push_str(&format!("{INTERRUPTED}\n"));
            }
            text.push_str(&format!("monban done: {}\n", summary(stats)));
        }
        self.write(&text)
    }

    fn progress(&mut self, p: &ProgressInfo) -> Result<(), OutputError> {
        self.phase.check("progress")?;
        // As nmap's --stats-every: on the terminal only, not in -oN files.
        if self.file {
            return Ok(());
        }
        let clock = |d: std::time::Duration| {
            let s = d.as_secs();
            format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        };
        let eta = p.eta().map_or_else(
            || "unknown".to_string(),
            |d| format!("{} remaining", clock(d)),
        );
        let line = format!(
            "Stats: {} elapsed; {} hosts completed; About {:.2}% done; ETC: {eta}\n",
            clock(p.elapsed),
            p.hosts_done,
            p.percent()
        );
        self.out.write_all(line.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    fn render(opts: SinkOptions, file: bool, hosts: &[HostReport], stats: &RunStats) -> String {
        let mut sink = if file {
            NormalSink::for_file(Vec::new(), opts)
        } else {
            NormalSink::new(Vec::new(), opts)
        }
        .with_services(test_services);
        sink.begin(&run_info()).unwrap();
        for h in hosts {
            for p in h.ports.iter().filter(|p| p.state == PortState::Open) {
                sink.port(h.addr, p).unwrap();
            }
            sink.host(h).unwrap();
        }
        sink.end(stats).unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    #[test]
    fn terminal_output() {
        let out = render(
            SinkOptions::default(),
            false,
            &[host_v4(), host_v6(), host_down(), host_timed_out()],
            &stats(false),
        );
        assert_eq!(
            out,
            "Starting monban 0.1.0 at 2026-11-21 05:30 UTC\n\
             monban scan report for evil<&\"'\\x01 (10.77.1.2)\n\
             Host is up (0.00021s latency).\n\
             Not shown: 64000 closed tcp ports (reset), 1000 filtered tcp ports (600 no-response, 400 admin-prohibited)\n\
             PORT     STATE      SERVICE\n\
             22/tcp   open       ssh\n\
             80/tcp   open       http\n\
             8080/tcp unfiltered unknown\n\
             8081/tcp unfiltered unknown\n\
             \n\
             monban scan report for fd00::2\n\
             Host is up.\n\
             All 30 scanned ports on fd00::2 are in ignored states.\n\
             Not shown: 30 closed tcp ports (conn-refused)\n\
             \n\
             Skipping host 10.77.1.9 due to host timeout\n\
             monban done: 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }

    #[test]
    fn reasons_verbose_and_interrupted() {
        let opts = SinkOptions {
            reason: true,
            open_only: false,
            verbose: 1,
            audit: false,
        };
        let out = render(opts, false, &[host_small(), host_down()], &stats(true));
        assert_eq!(
            out,
            "Starting monban 0.1.0 at 2026-11-21 05:30 UTC\n\
             Scanning 4 hosts [65535 ports/host]\n\
             Discovered open port 22/tcp on 10.77.1.3\n\
             monban scan report for 10.77.1.3\n\
             Host is up, received user-set (0.012s latency).\n\
             PORT    STATE    SERVICE REASON\n\
             22/tcp  open     ssh     syn-ack ttl 63\n\
             23/tcp  closed   unknown conn-refused\n\
             443/tcp filtered unknown no-response\n\
             Scan interrupted: 65532 ports not resolved\n\
             \n\
             monban scan report for 10.77.1.8 [host down, received no-response]\n\
             Scan interrupted before completion: results are partial.\n\
             monban done: 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }

    #[test]
    fn file_flavour_and_open_only() {
        let opts = SinkOptions {
            reason: false,
            open_only: true,
            verbose: 0,
            audit: false,
        };
        // The v6 host has no open port: --open leaves it out.
        let out = render(opts, true, &[host_small(), host_v6()], &stats(false));
        assert_eq!(
            out,
            "# monban 0.1.0 scan initiated Sat Nov 21 05:30:00 2026 as: monban scan -sS \\x1b[31m<&>\n\
             monban scan report for 10.77.1.3\n\
             Host is up (0.012s latency).\n\
             Not shown: 1 closed tcp port (conn-refused), 1 filtered tcp port (no-response)\n\
             PORT   STATE SERVICE\n\
             22/tcp open  ssh\n\
             Scan interrupted: 65532 ports not resolved\n\
             \n\
             # monban done at Sat Nov 21 05:30:12 2026 -- 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }

    #[test]
    fn singular_summary() {
        let s = RunStats {
            hosts_up: 1,
            hosts_down: 0,
            hosts_total: 1,
            ..stats(false)
        };
        let out = render(SinkOptions::default(), false, &[], &s);
        assert!(out.ends_with("\nmonban done: 1 IP address (1 host up) scanned in 12.34 seconds\n"));
    }

    #[test]
    fn out_of_order_calls_are_errors() {
        let mut sink = NormalSink::new(Vec::new(), SinkOptions::default());
        assert!(matches!(
            sink.host(&host_small()),
            Err(OutputError::OutOfOrder {
                call: "host",
                problem: "before begin"
            })
        ));
        sink.begin(&run_info()).unwrap();
        assert!(matches!(
            sink.begin(&run_info()),
            Err(OutputError::OutOfOrder {
                call: "begin",
                problem: "twice"
            })
        ));
        sink.end(&stats(false)).unwrap();
        assert!(matches!(
            sink.end(&stats(false)),
            Err(OutputError::OutOfOrder {
                call: "end",
                problem: "after end"
            })
        ));
    }

    #[test]
    fn version_details() {
        let out = render(
            SinkOptions {
                reason: true,
                ..SinkOptions::default()
            },
            true,
            &[host_versions()],
            &stats(false),
        );
        assert_eq!(out, "# monban 0.1.0 scan initiated Sat Nov 21 05:30:00 2026 as: monban scan -sS \\x1b[31m<&>\nmonban scan report for 10.77.1.4\nHost is up, received user-set.\nPORT    STATE SERVICE REASON         VERSION\n22/tcp  open  ssh     syn-ack ttl 63 OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)\n25/tcp  open  smtp    syn-ack ttl 63 Evil<&\"'/,\\x09mta 1.0\\x1b[31m (a\\x0ab)\n80/tcp  open  http    syn-ack ttl 63\n443/tcp open  unknown syn-ack ttl 63\nService Info: Host: mail<x>; OS: Linux\n\n# monban done at Sat Nov 21 05:30:12 2026 -- 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n");
    }

    #[test]
    fn risk_notes_and_summary() {
        let mut second = host_risks();
        second.addr = IpAddr::V4(std::net::Ipv4Addr::new(10, 77, 1, 6));
        second.risks.truncate(1);
        let out = render(
            SinkOptions::default(),
            false,
            &[host_risks(), second],
            &stats(false),
        );
        assert_eq!(
            out,
            "Starting monban 0.1.0 at 2026-11-21 05:30 UTC\nmonban scan report for 10.77.1.5\nHost is up.\nPORT      STATE SERVICE\n22/tcp    open  ssh\n23/tcp    open  unknown\n31337/tcp open  unknown\nRisk notes:\n  23/tcp telnet [high]: Logins cross the network in clear text. \u{2192} Use SSH instead.\n  31337/tcp evil<&\"'> [critical]: Bad \\x1b[31m<b>&\"'\\x0athing. \u{2192} Close <it> & \"now\".\n\nmonban scan report for 10.77.1.6\nHost is up.\nPORT      STATE SERVICE\n22/tcp    open  ssh\n23/tcp    open  unknown\n31337/tcp open  unknown\nRisk notes:\n  23/tcp telnet [high]: Logins cross the network in clear text. \u{2192} Use SSH instead.\n\nRisky open services: 3 (1 critical, 2 high) on 2 hosts\nmonban done: 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }

    #[test]
    fn tls_details() {
        let out = render(SinkOptions::default(), true, &[host_tls()], &stats(false));
        assert_eq!(
            out,
            "# monban 0.1.0 scan initiated Sat Nov 21 05:30:00 2026 as: monban scan -sS \\x1b[31m<&>\nmonban scan report for 10.77.1.7\nHost is up.\nPORT     STATE SERVICE  VERSION\n22/tcp   open  ssh      OpenSSH 9.2p1\n23/tcp   open  unknown\n443/tcp  open  ssl/http nginx 1.22.1\n|_ssl-cert: subject CN=tls.monban.test, O=Evil\\, <Inc>\\x0a\\x1b[31m; issuer CN=Monban Lab CA, O=Monban; expires 2035-06-30T23:59:59Z; TLSv1.3\n8443/tcp open  ssl\n|_ssl-cert: certificate not read (certificate truncated); TLSv1.2\nRisk notes:\n  23/tcp telnet [high]: Clear text. → Use SSH.\n\nRisky open services: 1 (1 high) on 1 host\n# monban done at Sat Nov 21 05:30:12 2026 -- 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }
}
