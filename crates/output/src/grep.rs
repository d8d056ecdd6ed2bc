//! nmap's grepable output (`-oG`): one line per host and fact, tab-separated fields.

use std::io::Write;
use std::net::IpAddr;

use monban_engine::ports::format_ranges;
use monban_engine::services::service_name;
use monban_engine::types::{HostReport, HostStatus, PortResult, PortState};

use crate::text::{host_name, safe_text};
use crate::time::ctime_utc;
use crate::{
    collapse, plural, service_label, summary, unresolved, version_text, OutputError, Phase,
    RunInfo, RunStats, ServiceFn, Sink, SinkOptions, INTERRUPTED,
};

/// Text for one `/`-separated field of a port entry: made safe, and `/` (the field
/// separator) and `,` (the entry separator) become `|` and `;`, so a hostile version
/// string cannot forge fields or ports.
fn grep_field(s: &str) -> String {
    safe_text(s).replace('/', "|").replace(',', ";")
}

/// Writes nmap's grepable format.
///
/// Per up host: `Host: ADDR (NAME)\tStatus: Up`, then
/// `Host: ADDR (NAME)\tPorts: 22/open/tcp//ssh///, ...\tIgnored State: closed (64000)`.
/// Down hosts only with `-v`; with `--open`, hosts without an open port are left out.
/// Names and arguments are made safe: a control character (tab, newline) becomes `\xNN`.
#[derive(Debug)]
pub struct GrepSink<W: Write> {
    out: W,
    opts: SinkOptions,
    phase: Phase,
    scanned: usize,
    services: ServiceFn,
}

impl<W: Write> GrepSink<W> {
    /// A sink writing to `writer`.
    pub fn new(writer: W, opts: SinkOptions) -> GrepSink<W> {
        GrepSink {
            out: writer,
            opts,
            phase: Phase::New,
            scanned: 0,
            services: service_name,
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

impl<W: Write> Sink for GrepSink<W> {
    fn begin(&mut self, run: &RunInfo) -> Result<(), OutputError> {
        self.phase.begin()?;
        self.scanned = run.tcp_ports.len();
        let mut text = format!(
            "# monban {} scan {} {} as: {}\n",
            safe_text(run.version),
            if run.resumed { "resumed" } else { "initiated" },
            ctime_utc(run.start),
            safe_text(&run.args)
        );
        if self.opts.verbose > 0 && !run.resumed {
            let list = format!("{};{}", run.tcp_ports.len(), format_ranges(&run.tcp_ports));
            let (tcp, udp) = match run.scan_type.protocol() {
                monban_engine::Protocol::Udp => ("0;".to_owned(), list),
                monban_engine::Protocol::Tcp => (list, "0;".to_owned()),
            };
            text.push_str(&format!(
                "# Ports scanned: TCP({tcp}) UDP({udp}) SCTP(0;) PROTOCOLS(0;)\n"
            ));
        }
        self.write(&text)
    }

    fn port(&mut self, _addr: IpAddr, _result: &PortResult) -> Result<(), OutputError> {
        self.phase.check("port")
    }

    fn host(&mut self, host: &HostReport) -> Result<(), OutputError> {
        self.phase.check("host")?;
        let who = format!(
            "Host: {} ({})",
            host.addr,
            host_name(host).map(safe_text).unwrap_or_default()
        );
        if host.status == HostStatus::Down {
            if self.opts.verbose == 0 {
                return Ok(());
            }
            return self.write(&format!("{who}\tStatus: Down\n"));
        }
        if host.timed_out {
            return self.write(&format!("{who}\tStatus: Timeout\n"));
        }
        if self.opts.open_only && !host.ports.iter().any(|p| p.state == PortState::Open) {
            return Ok(());
        }
        let mut text = format!("{who}\tStatus: Up\n");
        if !host.ports.is_empty() {
            let c = collapse(&host.ports, &self.opts);
            text.push_str(&who);
            if !c.shown.is_empty() {
                let ports: Vec<String> = c
                    .shown
                    .iter()
                    .map(|p| match host.service(p.port, p.proto) {
                        Some(d) => format!(
                            "{}/{}/{}//{}//{}/",
                            p.port,
                            p.state,
                            p.proto,
                            // `ssl/http` reads `ssl|http`, as nmap writes it.
                            grep_field(&service_label(d)),
                            grep_field(&version_text(d))
                        ),
                        None => format!(
                            "{}/{}/{}//{}///",
                            p.port,
                            p.state,
                            p.proto,
                            (self.services)(p.port, p.proto).unwrap_or("")
                        ),
                    })
                    .collect();
                text.push_str("\tPorts: ");
                text.push_str(&ports.join(", "));
            }
            if !c.extra.is_empty() {
                let ignored: Vec<String> = c
                    .extra
                    .iter()
                    .map(|e| format!("{} ({})", e.state, e.count))
                    .collect();
                text.push_str("\tIgnored State: ");
                text.push_str(&ignored.join(", "));
            }
            text.push('\n');
        }
        if host.incomplete {
            text.push_str(&format!(
                "# Scan interrupted for {}: {} not resolved\n",
                host.addr,
                plural(unresolved(self.scanned, host) as u128, "port", "ports")
            ));
        }
        self.write(&text)
    }

    fn end(&mut self, stats: &RunStats) -> Result<(), OutputError> {
        self.phase.end()?;
        let mut text = String::new();
        if stats.interrupted {
            text.push_str(&format!("# {INTERRUPTED}\n"));
        }
        text.push_str(&format!(
            "# monban done at {} -- {}\n",
            ctime_utc(stats.end),
            summary(stats)
        ));
        self.write(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    fn render(opts: SinkOptions, hosts: &[HostReport], stats: &RunStats) -> String {
        let mut sink = GrepSink::new(Vec::new(), opts).with_services(test_services);
        sink.begin(&run_info()).unwrap();
        for h in hosts {
            sink.host(h).unwrap();
        }
        sink.end(stats).unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    #[test]
    fn grepable_lines() {
        let out = render(
            SinkOptions::default(),
            &[host_v4(), host_v6(), host_down(), host_timed_out()],
            &stats(false),
        );
        assert_eq!(
            out,
            "# monban 0.1.0 scan initiated Sat Nov 21 05:30:00 2026 as: monban scan -sS \\x1b[31m<&>\n\
             Host: 10.77.1.2 (evil<&\"'\\x01)\tStatus: Up\n\
             Host: 10.77.1.2 (evil<&\"'\\x01)\tPorts: 22/open/tcp//ssh///, 80/open/tcp//http///, 8080/unfiltered/tcp/////, 8081/unfiltered/tcp/////\tIgnored State: closed (64000), filtered (1000)\n\
             Host: fd00::2 ()\tStatus: Up\n\
             Host: fd00::2 ()\tIgnored State: closed (30)\n\
             Host: 10.77.1.9 ()\tStatus: Timeout\n\
             # monban done at Sat Nov 21 05:30:12 2026 -- 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }

    #[test]
    fn verbose_open_only_interrupted() {
        let opts = SinkOptions {
            reason: false,
            open_only: true,
            verbose: 1,
            audit: false,
        };
        let out = render(opts, &[host_small(), host_v6(), host_down()], &stats(true));
        assert_eq!(
            out,
            "# monban 0.1.0 scan initiated Sat Nov 21 05:30:00 2026 as: monban scan -sS \\x1b[31m<&>\n\
             # Ports scanned: TCP(65535;1-65535) UDP(0;) SCTP(0;) PROTOCOLS(0;)\n\
             Host: 10.77.1.3 ()\tStatus: Up\n\
             Host: 10.77.1.3 ()\tPorts: 22/open/tcp//ssh///\tIgnored State: closed (1), filtered (1)\n\
             # Scan interrupted for 10.77.1.3: 65532 ports not resolved\n\
             Host: 10.77.1.8 ()\tStatus: Down\n\
             # Scan interrupted before completion: results are partial.\n\
             # monban done at Sat Nov 21 05:30:12 2026 -- 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }

    #[test]
    fn version_details() {
        let out = render(SinkOptions::default(), &[host_versions()], &stats(false));
        assert_eq!(out, "# monban 0.1.0 scan initiated Sat Nov 21 05:30:00 2026 as: monban scan -sS \\x1b[31m<&>\nHost: 10.77.1.4 ()\tStatus: Up\nHost: 10.77.1.4 ()\tPorts: 22/open/tcp//ssh//OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)/, 25/open/tcp//smtp//Evil<&\"'|;\\x09mta 1.0\\x1b[31m (a\\x0ab)/, 80/open/tcp//http///, 443/open/tcp/////\n# monban done at Sat Nov 21 05:30:12 2026 -- 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n");
    }

    #[test]
    fn tls_details() {
        let out = render(SinkOptions::default(), &[host_tls()], &stats(false));
        assert_eq!(
            out,
            "# monban 0.1.0 scan initiated Sat Nov 21 05:30:00 2026 as: monban scan -sS \\x1b[31m<&>\nHost: 10.77.1.7 ()\tStatus: Up\nHost: 10.77.1.7 ()\tPorts: 22/open/tcp//ssh//OpenSSH 9.2p1/, 23/open/tcp/////, 443/open/tcp//ssl|http//nginx 1.22.1/, 8443/open/tcp//ssl///\n# monban done at Sat Nov 21 05:30:12 2026 -- 4 IP addresses (3 hosts up) scanned in 12.34 seconds\n"
        );
    }
}
