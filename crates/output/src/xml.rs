//! nmap's XML output (`-oX`, format 1.05), read by `ndiff` and nmap importers.
//!
//! Elements and attributes follow nmap's DTD in its order: `nmaprun` → `scaninfo`,
//! `verbose`, `debugging`, `host`*, `runstats`; `host` → `status`, `address`,
//! `hostnames`, `ports`, `times`; `ports` → `extraports`*, `port`*.
//!
//! Written with `format!` and [`xml_escape`] rather than quick-xml's `Writer` (whose reader
//! `read.rs` uses): the writer's escaping covers the five markup characters only, so a
//! banner carrying a C0 control character (ESC, BEL, NUL: common in hostile banners, see
//! `tests/lab_hostile_services.rs`) would pass through raw, and XML 1.0 forbids those even
//! as character references; a document ndiff's expat then refuses. Every text we write
//! goes through [`xml_escape`], which makes them visible text; the layout (attribute order,
//! `/>` without a space) is nmap's byte for byte, which `tests/cli_diff.rs` checks with
//! the real ndiff.

use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;

use monban_engine::ports::format_ranges;
use monban_engine::services::service_name;
use monban_engine::types::{HostReport, HostStatus, PortResult, RiskNote, ServiceDetail};

use crate::text::{host_name, xml_escape};
use crate::time::{ctime_utc, unix_secs};
use crate::{
    collapse, dn_text, plural, summary, tls_script_lines, unresolved, OutputError, Phase, RunInfo,
    RunStats, ServiceFn, Sink, SinkOptions, INTERRUPTED,
};

/// nmap's smallest retransmission timeout (100 ms), in microseconds.
const MIN_RTO_US: u128 = 100_000;

/// Writes nmap's XML.
///
/// The document is opened by `begin` and closed by `end`; each host is written and
/// flushed as one piece, so an interrupted scan that still calls `end` leaves a complete,
/// well-formed file. Down hosts are written only with `-v`, as nmap does.
#[derive(Debug)]
pub struct XmlSink<W: Write> {
    out: W,
    opts: SinkOptions,
    phase: Phase,
    scanned: usize,
    services: ServiceFn,
    /// The `ssl-cert` script's lines and tables so far, written at the end (see
    /// [`tls_entries`]).
    tls_lines: Vec<String>,
    /// `--audit` verdicts so far, for the run's `monban-audit` post-scan script.
    audit_lines: Vec<String>,
    audit_tables: String,
    tls_tables: String,
}

impl<W: Write> XmlSink<W> {
    /// A sink writing to `writer`.
    pub fn new(writer: W, opts: SinkOptions) -> XmlSink<W> {
        XmlSink {
            out: writer,
            opts,
            phase: Phase::New,
            scanned: 0,
            services: service_name,
            tls_lines: Vec::new(),
            audit_lines: Vec::new(),
            audit_tables: String::new(),
            tls_tables: String::new(),
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

/// The `<service>` element for a port version detection identified: `method="probed"`,
/// `conf="10"` for a hard match, `conf="8"` and no product for a soft one.
fn service_elem(d: &ServiceDetail) -> String {
    let mut x = format!("<service name=\"{}\"", xml_escape(&d.name));
    let attrs: [(&str, &Option<String>); 5] = [
        ("product", &d.product),
        ("version", &d.version),
        ("extrainfo", &d.info),
        ("hostname", &d.hostname),
        ("ostype", &d.os),
    ];
    for (key, value) in attrs {
        if d.soft && (key == "product" || key == "version") {
            continue;
        }
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            let _ = write!(x, " {key}=\"{}\"", xml_escape(v));
        }
    }
    if let Some(t) = d.tunnel.as_deref().filter(|t| !t.is_empty()) {
        let _ = write!(x, " tunnel=\"{}\"", xml_escape(t));
    }
    let conf = if d.soft { 8 } else { 10 };
    let _ = write!(x, " method=\"probed\" conf=\"{conf}\"");
    if d.cpe.is_empty() {
        x.push_str("/>");
    } else {
        x.push('>');
        for c in &d.cpe {
            let _ = write!(x, "<cpe>{}</cpe>", xml_escape(c));
        }
        x.push_str("</service>");
    }
    x
}

/// A host's risk notes as one `<hostscript><script id="monban-risk">`, one line per risky
/// open port (`23/tcp telnet [high]: why Advice: advice`), so tools reading nmap XML keep it.
///
/// Host-level rather than inside each `<port>`: nmap 7.93's ndiff crashes (a Python
/// TypeError in `PortDiff.append_to_port_table`) on a port whose state, service and version
/// match in both files but whose script results differ — as they do between an nmap scan
/// and ours for, say, 3306/mysql. Its host-script path has no such fault.
fn risk_script(risks: &[RiskNote]) -> String {
    let lines: Vec<String> = risks
        .iter()
        .map(|r| {
            format!(
                "{}/{} {} [{}]: {} Advice: {}",
                r.port, r.proto, r.name, r.level, r.why, r.advice
            )
        })
        .collect();
    format!(
        "<script id=\"monban-risk\" output=\"{}\"/>",
        xml_escape(&lines.join("\n"))
    )
}

/// `--audit`'s verdict of one host for the run's `<postscript><script id="monban-audit">`:
/// its lines (the normal-output block, the first line prefixed by the address) and a
/// `<table key="ADDR">` with the verdict for programs. Run-level for the same ndiff
/// faults as the certificates (see [`tls_entries`]): a host with risk notes already
/// has one host script.
fn audit_entries(
    host: &HostReport,
    services: ServiceFn,
    lines: &mut Vec<String>,
    tables: &mut String,
) {
    let a = crate::audit::audit(host, &services);
    for (i, line) in a.text().lines().enumerate() {
        lines.push(if i == 0 {
            format!("{} {line}", host.addr)
        } else {
            line.to_owned()
        });
    }
    let _ = write!(
        tables,
        "<table key=\"{}\"><elem key=\"verdict\">{}</elem></table>",
        host.addr,
        a.verdict.as_str()
    );
}

/// The TLS ports of a host for the run's `<postscript><script id="ssl-cert">`: lines
/// for its `output` (per port: `ADDR PORT/tcp: version cipher`, then the certificate's
/// subject, issuer, validity, names, key and SHA-256 indented) and a
/// `<table key="ADDR PORT/tcp">` of `<elem>`s per port for programs.
///
/// Not per port, nor per host: nmap 7.93's ndiff crashes on a port whose columns match in
/// both files but whose scripts differ (nmap -sV writes no script on its TLS ports), and
/// on any host or port with two or more scripts (it sorts them, and its script results
/// cannot be ordered in Python 3) — a host with risk notes already has one. Run-level
/// post-scan scripts are neither sorted nor compared that way.
fn tls_entries(
    host: &HostReport,
    shown: &[PortResult],
    lines: &mut Vec<String>,
    tables: &mut String,
) {
    for p in shown {
        let Some(t) = host.service(p.port, p.proto).and_then(|d| d.tls.as_ref()) else {
            continue;
        };
        for (i, line) in tls_script_lines(p.port, p.proto, t).into_iter().enumerate() {
            lines.push(if i == 0 {
                format!("{} {line}", host.addr)
            } else {
                line
            });
        }
        let mut elems: Vec<(&str, String)> =
            vec![("version", t.version.clone()), ("cipher", t.cipher.clone())];
        match &t.cert {
            Some(c) => {
                elems.push(("subject", dn_text(&c.subject)));
                elems.push(("issuer", dn_text(&c.issuer)));
                elems.push(("not_before", c.not_before.clone()));
                elems.push(("not_after", c.not_after.clone()));
                elems.push(("sha256", c.sha256.clone()));
            }
            None => elems.push((
                "cert_error",
                t.cert_error.clone().unwrap_or_else(|| "none".to_owned()),
            )),
        }
        let _ = write!(
            tables,
            "<table key=\"{} {}/{}\">",
            host.addr, p.port, p.proto
        );
        for (k, v) in elems {
            let _ = write!(tables, "<elem key=\"{k}\">{}</elem>", xml_escape(&v));
        }
        tables.push_str("</table>");
    }
}

fn addrtype(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
    }
}

impl<W: Write> Sink for XmlSink<W> {
    fn begin(&mut self, run: &RunInfo) -> Result<(), OutputError> {
        self.phase.begin()?;
        self.scanned = run.tcp_ports.len();
        if run.resumed {
            // The file already holds the header and the finished hosts.
            return Ok(());
        }
        let mut x =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n");
        let _ = writeln!(
            x,
            "<nmaprun scanner=\"monban\" args=\"{}\" start=\"{}\" startstr=\"{}\" version=\"{}\" xmloutputversion=\"1.05\">",
            xml_escape(&run.args),
            unix_secs(run.start),
            ctime_utc(run.start),
            xml_escape(run.version)
        );
        if !run.tcp_ports.is_empty() {
            let _ = writeln!(
                x,
                "<scaninfo type=\"{}\" protocol=\"{}\" numservices=\"{}\" services=\"{}\"/>",
                run.scan_type.as_str(),
                run.scan_type.protocol().as_str(),
                run.tcp_ports.len(),
                format_ranges(&run.tcp_ports)
            );
        }
        let _ = writeln!(
            x,
            "<verbose level=\"{}\"/>\n<debugging level=\"0\"/>",
            self.opts.verbose
        );
        self.write(&x)
    }

    fn port(&mut self, _addr: IpAddr, _result: &PortResult) -> Result<(), OutputError> {
        self.phase.check("port")
    }

    fn host(&mut self, host: &HostReport) -> Result<(), OutputError> {
        self.phase.check("host")?;
        if host.status == HostStatus::Down && self.opts.verbose == 0 {
            return Ok(());
        }
        let mut x = format!(
            "<host starttime=\"{}\" endtime=\"{}\"",
            unix_secs(host.start),
            unix_secs(host.end)
        );
        if host.timed_out {
            x.push_str(" timedout=\"true\" comment=\"Timed out\"");
        } else if host.incomplete {
            let _ = write!(
                x,
                " comment=\"Scan interrupted: {} not resolved\"",
                plural(unresolved(self.scanned, host) as u128, "port", "ports")
            );
        }
        let _ = writeln!(
            x,
            "><status state=\"{}\" reason=\"{}\" reason_ttl=\"{}\"/>",
            host.status.as_str(),
            host.status_reason,
            host.status_ttl.unwrap_or(0)
        );
        let _ = writeln!(
            x,
            "<address addr=\"{}\" addrtype=\"{}\"/>",
            host.addr,
            addrtype(host.addr)
        );
        if let Some(mac) = host.mac {
            let _ = writeln!(x, "<address addr=\"{mac}\" addrtype=\"mac\"/>");
        }
        match host_name(host) {
            Some(name) => {
                let _ = writeln!(
                    x,
                    "<hostnames>\n<hostname name=\"{}\" type=\"user\"/>\n</hostnames>",
                    xml_escape(name)
                );
            }
            None => x.push_str("<hostnames/>\n"),
        }
        if host.status == HostStatus::Up && !host.timed_out && !host.ports.is_empty() {
            let c = collapse(&host.ports, &self.opts);
            x.push_str("<ports>");
            for e in &c.extra {
                let _ = writeln!(
                    x,
                    "<extraports state=\"{}\" count=\"{}\">",
                    e.state, e.count
                );
                for r in &e.reasons {
                    let _ = writeln!(
                        x,
                        "<extrareasons reason=\"{}\" count=\"{}\" proto=\"{}\" ports=\"{}\"/>",
                        r.reason,
                        r.count,
                        r.proto,
                        format_ranges(&r.ports)
                    );
                }
                x.push_str("</extraports>\n");
            }
            for p in &c.shown {
                let _ = write!(
                    x,
                    "<port protocol=\"{}\" portid=\"{}\"><state state=\"{}\" reason=\"{}\" reason_ttl=\"{}\"/>",
                    p.proto,
                    p.port,
                    p.state,
                    p.reason,
                    p.ttl.unwrap_or(0)
                );
                if let Some(d) = host.service(p.port, p.proto) {
                    x.push_str(&service_elem(d));
                } else if let Some(name) = (self.services)(p.port, p.proto) {
                    let _ = write!(
                        x,
                        "<service name=\"{}\" method=\"table\" conf=\"3\"/>",
                        xml_escape(name)
                    );
                }
                x.push_str("</port>\n");
            }
            x.push_str("</ports>\n");
            tls_entries(host, &c.shown, &mut self.tls_lines, &mut self.tls_tables);
            if !host.risks.is_empty() {
                let _ = writeln!(x, "<hostscript>{}</hostscript>", risk_script(&host.risks));
            }
            if self.opts.audit {
                audit_entries(
                    host,
                    self.services,
                    &mut self.audit_lines,
                    &mut self.audit_tables,
                );
            }
        }
        if let Some(srtt) = host.srtt {
            // We measure only the smoothed RTT; the variance is estimated as after a
            // first sample (RFC 6298: RTTVAR = R/2), and the timeout derived from both.
            let srtt = srtt.as_micros();
            let rttvar = srtt / 2;
            let to = (srtt + 4 * rttvar).max(MIN_RTO_US);
            let _ = writeln!(
                x,
                "<times srtt=\"{srtt}\" rttvar=\"{rttvar}\" to=\"{to}\"/>"
            );
        }
        x.push_str("</host>\n");
        self.write(&x)
    }

    fn end(&mut self, stats: &RunStats) -> Result<(), OutputError> {
        self.phase.end()?;
        let timestr = ctime_utc(stats.end);
        let mut x = String::new();
        // Post-scan scripts are neither sorted nor compared per host by ndiff, so two of
        // them are safe where two host scripts are not.
        let mut post = String::new();
        if !self.tls_lines.is_empty() {
            let _ = write!(
                post,
                "<script id=\"ssl-cert\" output=\"{}\">{}</script>",
                xml_escape(&self.tls_lines.join("\n")),
                self.tls_tables
            );
        }
        if !self.audit_lines.is_empty() {
            let _ = write!(
                post,
                "<script id=\"monban-audit\" output=\"{}\">{}</script>",
                xml_escape(&self.audit_lines.join("\n")),
                self.audit_tables
            );
        }
        if !post.is_empty() {
            let _ = writeln!(x, "<postscript>{post}</postscript>");
        }
        let _ = write!(
            x,
            "<runstats><finished time=\"{}\" timestr=\"{timestr}\" summary=\"monban done at {timestr}; {}\" elapsed=\"{:.2}\"",
            unix_secs(stats.end),
            summary(stats),
            stats.elapsed.as_secs_f64()
        );
        if stats.interrupted {
            let _ = write!(
                x,
                " exit=\"error\" errormsg=\"{}\"",
                xml_escape(INTERRUPTED)
            );
        } else {
            x.push_str(" exit=\"success\"");
        }
        let _ = write!(
            x,
            "/><hosts up=\"{}\" down=\"{}\" total=\"{}\"/>\n</runstats>\n</nmaprun>\n",
            stats.hosts_up, stats.hosts_down, stats.hosts_total
        );
        self.write(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    /// Fails with a message unless `cond` holds.
    fn ensure(cond: bool, msg: impl Into<String>) -> Result<(), String> {
        if cond {
            Ok(())
        } else {
            Err(msg.into())
        }
    }

    /// Character data or an attribute value: no raw markup, only known entities.
    fn check_text(t: &str) -> Result<(), String> {
        ensure(
            !t.contains('<') && !t.contains('>'),
            format!("raw markup in {t:?}"),
        )?;
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            let tail = &rest[i + 1..];
            let end = tail.find(';').ok_or("unterminated entity")?;
            let ent = &tail[..end];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
                || match ent.strip_prefix("#x") {
                    Some(h) => u32::from_str_radix(h, 16).is_ok(),
                    None => ent
                        .strip_prefix('#')
                        .is_some_and(|d| d.parse::<u32>().is_ok()),
                };
            ensure(ok, format!("bad entity &{ent};"))?;
            rest = &tail[end + 1..];
        }
        Ok(())
    }

    /// A small well-formedness checker: one root, tags balance, attribute values quoted
    /// and unique, no raw `<`/`&` in text or values, known entities only, no character
    /// XML 1.0 forbids. Returns the element names in document order.
    fn well_formed(doc: &str) -> Result<Vec<String>, String> {
        for c in doc.chars() {
            let u = u32::from(c);
            ensure(
                (u >= 0x20 || matches!(c, '\n' | '\t' | '\r'))
                    && c != '\u{fffe}'
                    && c != '\u{ffff}',
                format!("forbidden character U+{u:04X}"),
            )?;
        }
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = doc;
        let mut seen_root = false;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            if stack.is_empty() {
                ensure(
                    text.trim().is_empty(),
                    format!("text outside the root: {text:?}"),
                )?;
            } else {
                check_text(text)?;
            }
            let after = &rest[open + 1..];
            // The tag ends at the first '>' outside quotes.
            let mut quote = None;
            let mut close = None;
            for (i, c) in after.char_indices() {
                match (quote, c) {
                    (None, '"') | (None, '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (None, '>') => {
                        close = Some(i);
                        break;
                    }
                    (None, '<') => return Err("'<' inside a tag".into()),
                    _ => {}
                }
            }
            let close = close.ok_or("unterminated tag")?;
            let tag = &after[..close];
            rest = &after[close + 1..];
            if tag.starts_with('?') || tag.starts_with('!') {
                ensure(!seen_root, "prolog after the root")?;
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack.pop().ok_or("close without open")?;
                ensure(top == name.trim(), format!("</{name}> closes <{top}>"))?;
                continue;
            }
            let empty = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
            let name = &body[..name_end];
            ensure(!name.is_empty(), "empty tag name")?;
            let mut attrs = body[name_end..].trim();
            let mut attr_names = Vec::new();
            while !attrs.is_empty() {
                let eq = attrs.find('=').ok_or("attribute without value")?;
                let an = attrs[..eq].trim();
                ensure(
                    !an.is_empty() && !an.contains(char::is_whitespace),
                    "bad attribute name",
                )?;
                ensure(
                    !attr_names.contains(&an),
                    format!("duplicate attribute {an}"),
                )?;
                attr_names.push(an);
                let v = &attrs[eq + 1..];
                ensure(v.starts_with('"'), format!("unquoted value for {an}"))?;
                let vend = v[1..].find('"').ok_or("unterminated value")? + 1;
                check_text(&v[1..vend])?;
                attrs = v[vend + 1..].trim_start();
            }
            if stack.is_empty() {
                ensure(!seen_root, "second root element")?;
                seen_root = true;
            }
            names.push(name.to_string());
            if !empty {
                stack.push(name.to_string());
            }
        }
        ensure(rest.trim().is_empty(), "trailing text")?;
        ensure(stack.is_empty(), format!("unclosed elements: {stack:?}"))?;
        ensure(seen_root, "no root element")?;
        Ok(names)
    }

    /// Panics with the checker's message when `doc` is not well-formed.
    fn check_well_formed(doc: &str) -> Vec<String> {
        match well_formed(doc) {
            Ok(names) => names,
            Err(e) => panic!("not well-formed: {e}\n{doc}"),
        }
    }

    fn render(opts: SinkOptions, hosts: &[HostReport], stats: &RunStats) -> String {
        let mut sink = XmlSink::new(Vec::new(), opts).with_services(test_services);
        sink.begin(&run_info()).unwrap();
        for h in hosts {
            sink.host(h).unwrap();
        }
        sink.end(stats).unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <!DOCTYPE nmaprun>\n\
        <nmaprun scanner=\"monban\" args=\"monban scan -sS \\x1b[31m&lt;&amp;&gt;\" start=\"1795239000\" startstr=\"Sat Nov 21 05:30:00 2026\" version=\"0.1.0\" xmloutputversion=\"1.05\">\n\
        <scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"65535\" services=\"1-65535\"/>\n";

    #[test]
    fn full_document() {
        let out = render(
            SinkOptions::default(),
            &[host_v4(), host_v6(), host_down(), host_timed_out()],
            &stats(false),
        );
        let expected = format!(
            "{HEAD}<verbose level=\"0\"/>\n\
            <debugging level=\"0\"/>\n\
            <host starttime=\"1795239000\" endtime=\"1795239010\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n\
            <address addr=\"10.77.1.2\" addrtype=\"ipv4\"/>\n\
            <hostnames>\n\
            <hostname name=\"evil&lt;&amp;&quot;&apos;\\x01\" type=\"user\"/>\n\
            </hostnames>\n\
            <ports><extraports state=\"closed\" count=\"64000\">\n\
            <extrareasons reason=\"reset\" count=\"64000\" proto=\"tcp\" ports=\"{V4_CLOSED}\"/>\n\
            </extraports>\n\
            <extraports state=\"filtered\" count=\"1000\">\n\
            <extrareasons reason=\"no-response\" count=\"600\" proto=\"tcp\" ports=\"1000-1599\"/>\n\
            <extrareasons reason=\"admin-prohibited\" count=\"400\" proto=\"tcp\" ports=\"1600-1999\"/>\n\
            </extraports>\n\
            <port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>\n\
            <port protocol=\"tcp\" portid=\"80\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"http\" method=\"table\" conf=\"3\"/></port>\n\
            <port protocol=\"tcp\" portid=\"8080\"><state state=\"unfiltered\" reason=\"reset\" reason_ttl=\"63\"/></port>\n\
            <port protocol=\"tcp\" portid=\"8081\"><state state=\"unfiltered\" reason=\"reset\" reason_ttl=\"63\"/></port>\n\
            </ports>\n\
            <times srtt=\"210\" rttvar=\"105\" to=\"100000\"/>\n\
            </host>\n\
            <host starttime=\"1795239000\" endtime=\"1795239010\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n\
            <address addr=\"fd00::2\" addrtype=\"ipv6\"/>\n\
            <hostnames/>\n\
            <ports><extraports state=\"closed\" count=\"30\">\n\
            <extrareasons reason=\"conn-refused\" count=\"30\" proto=\"tcp\" ports=\"1-30\"/>\n\
            </extraports>\n\
            </ports>\n\
            </host>\n\
            <host starttime=\"1795239000\" endtime=\"1795239010\" timedout=\"true\" comment=\"Timed out\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n\
            <address addr=\"10.77.1.9\" addrtype=\"ipv4\"/>\n\
            <hostnames/>\n\
            </host>\n\
            <runstats><finished time=\"1795239012\" timestr=\"Sat Nov 21 05:30:12 2026\" summary=\"monban done at Sat Nov 21 05:30:12 2026; 4 IP addresses (3 hosts up) scanned in 12.34 seconds\" elapsed=\"12.34\" exit=\"success\"/><hosts up=\"3\" down=\"1\" total=\"4\"/>\n\
            </runstats>\n\
            </nmaprun>\n"
        );
        assert_eq!(out, expected);
        let names = check_well_formed(&out);
        assert_eq!(names.iter().filter(|n| *n == "host").count(), 3);
        assert_eq!(names.first().map(String::as_str), Some("nmaprun"));
        assert_eq!(names.last().map(String::as_str), Some("hosts"));
    }

    #[test]
    fn interrupted_run_is_a_closed_document() {
        let opts = SinkOptions {
            reason: false,
            open_only: false,
            verbose: 1,
            audit: false,
        };
        let out = render(opts, &[host_small(), host_down()], &stats(true));
        let expected = format!(
            "{HEAD}<verbose level=\"1\"/>\n\
            <debugging level=\"0\"/>\n\
            <host starttime=\"1795239000\" endtime=\"1795239010\" comment=\"Scan interrupted: 65532 ports not resolved\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n\
            <address addr=\"10.77.1.3\" addrtype=\"ipv4\"/>\n\
            <hostnames/>\n\
            <ports><port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>\n\
            <port protocol=\"tcp\" portid=\"23\"><state state=\"closed\" reason=\"conn-refused\" reason_ttl=\"0\"/></port>\n\
            <port protocol=\"tcp\" portid=\"443\"><state state=\"filtered\" reason=\"no-response\" reason_ttl=\"0\"/></port>\n\
            </ports>\n\
            <times srtt=\"12345\" rttvar=\"6172\" to=\"100000\"/>\n\
            </host>\n\
            <host starttime=\"1795239000\" endtime=\"1795239010\"><status state=\"down\" reason=\"no-response\" reason_ttl=\"0\"/>\n\
            <address addr=\"10.77.1.8\" addrtype=\"ipv4\"/>\n\
            <hostnames/>\n\
            </host>\n\
            <runstats><finished time=\"1795239012\" timestr=\"Sat Nov 21 05:30:12 2026\" summary=\"monban done at Sat Nov 21 05:30:12 2026; 4 IP addresses (3 hosts up) scanned in 12.34 seconds\" elapsed=\"12.34\" exit=\"error\" errormsg=\"Scan interrupted before completion: results are partial.\"/><hosts up=\"3\" down=\"1\" total=\"4\"/>\n\
            </runstats>\n\
            </nmaprun>\n"
        );
        assert_eq!(out, expected);
        check_well_formed(&out);
    }

    #[test]
    fn interrupted_before_any_host() {
        let out = render(SinkOptions::default(), &[], &stats(true));
        let names = check_well_formed(&out);
        assert_eq!(
            names,
            [
                "nmaprun",
                "scaninfo",
                "verbose",
                "debugging",
                "runstats",
                "finished",
                "hosts"
            ]
        );
    }

    #[test]
    fn hostile_text_stays_well_formed() {
        let mut host = host_small();
        host.name = Some("a\"b'c<d>e&f\u{0}\u{8}\t\n\r\u{7f}\u{9b}\u{fffe}]]>--".to_string());
        let mut sink = XmlSink::new(Vec::new(), SinkOptions::default());
        let mut run = run_info();
        run.args = "x\u{0}\"'<>&]]>\u{ffff}".to_string();
        sink.begin(&run).unwrap();
        sink.host(&host).unwrap();
        sink.end(&stats(false)).unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        check_well_formed(&out);
        assert!(out.contains(
            "<hostname name=\"a&quot;b&apos;c&lt;d&gt;e&amp;f\\x00\\x08&#9;&#10;&#13;&#x7f;&#x9b;\\u{fffe}]]&gt;--\" type=\"user\"/>"
        ));
        assert!(out.contains(" args=\"x\\x00&quot;&apos;&lt;&gt;&amp;]]&gt;\\u{ffff}\" "));
    }

    #[test]
    fn the_checker_rejects_broken_documents() {
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "<a x=1/>",
            "<a x=\"<\"/>",
            "<a>&bogus;</a>",
            "<a>\u{1}</a>",
            "<a/><b/>",
            "<a x=\"1\" x=\"2\"/>",
        ] {
            assert!(well_formed(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            check_well_formed("<?xml version=\"1.0\"?>\n<a x=\"&amp;\"><b/>t&#10;</a>\n"),
            ["a", "b"]
        );
    }

    #[test]
    fn version_details() {
        let out = render(SinkOptions::default(), &[host_versions()], &stats(false));
        assert_eq!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner=\"monban\" args=\"monban scan -sS \\x1b[31m&lt;&amp;&gt;\" start=\"1795239000\" startstr=\"Sat Nov 21 05:30:00 2026\" version=\"0.1.0\" xmloutputversion=\"1.05\">\n<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"65535\" services=\"1-65535\"/>\n<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n<host starttime=\"1795239000\" endtime=\"1795239010\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n<address addr=\"10.77.1.4\" addrtype=\"ipv4\"/>\n<hostnames/>\n<ports><port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"ssh\" product=\"OpenSSH\" version=\"9.2p1 Debian 2+deb12u3\" extrainfo=\"protocol 2.0\" ostype=\"Linux\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:openbsd:openssh:9.2p1</cpe><cpe>cpe:/o:linux:linux_kernel</cpe></service></port>\n<port protocol=\"tcp\" portid=\"25\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"smtp\" product=\"Evil&lt;&amp;&quot;&apos;/,&#9;mta\" version=\"1.0\\x1b[31m\" extrainfo=\"a&#10;b\" hostname=\"mail&lt;x&gt;\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:evil:&lt;mta&gt;</cpe></service></port>\n<port protocol=\"tcp\" portid=\"80\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"http\" method=\"probed\" conf=\"8\"/></port>\n<port protocol=\"tcp\" portid=\"443\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/></port>\n</ports>\n</host>\n<runstats><finished time=\"1795239012\" timestr=\"Sat Nov 21 05:30:12 2026\" summary=\"monban done at Sat Nov 21 05:30:12 2026; 4 IP addresses (3 hosts up) scanned in 12.34 seconds\" elapsed=\"12.34\" exit=\"success\"/><hosts up=\"3\" down=\"1\" total=\"4\"/>\n</runstats>\n</nmaprun>\n");
    }

    #[test]
    fn risk_notes_in_a_hostscript_after_the_ports() {
        let out = render(SinkOptions::default(), &[host_risks()], &stats(false));
        check_well_formed(&out);
        assert!(
            out.contains("<ports><port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>\n<port protocol=\"tcp\" portid=\"23\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/></port>\n<port protocol=\"tcp\" portid=\"31337\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/></port>\n</ports>\n<hostscript><script id=\"monban-risk\" output=\"23/tcp telnet [high]: Logins cross the network in clear text. Advice: Use SSH instead.&#10;31337/tcp evil&lt;&amp;&quot;&apos;&gt; [critical]: Bad \\x1b[31m&lt;b&gt;&amp;&quot;&apos;&#10;thing. Advice: Close &lt;it&gt; &amp; &quot;now&quot;.\"/></hostscript>\n"),
            "{out}"
        );
        assert!(out.starts_with(HEAD));
    }

    #[test]
    fn tls_details() {
        let out = render(SinkOptions::default(), &[host_tls()], &stats(false));
        check_well_formed(&out);
        // The certificates wait for the end of the run, in a post-scan script.
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner=\"monban\" args=\"monban scan -sS \\x1b[31m&lt;&amp;&gt;\" start=\"1795239000\" startstr=\"Sat Nov 21 05:30:00 2026\" version=\"0.1.0\" xmloutputversion=\"1.05\">\n<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"65535\" services=\"1-65535\"/>\n<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n<host starttime=\"1795239000\" endtime=\"1795239010\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n<address addr=\"10.77.1.7\" addrtype=\"ipv4\"/>\n<hostnames/>\n<ports><port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"ssh\" product=\"OpenSSH\" version=\"9.2p1\" method=\"probed\" conf=\"10\"/></port>\n<port protocol=\"tcp\" portid=\"23\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/></port>\n<port protocol=\"tcp\" portid=\"443\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"http\" product=\"nginx\" version=\"1.22.1\" tunnel=\"ssl\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:nginx:nginx:1.22.1</cpe></service></port>\n<port protocol=\"tcp\" portid=\"8443\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><service name=\"ssl\" method=\"probed\" conf=\"8\"/></port>\n</ports>\n<hostscript><script id=\"monban-risk\" output=\"23/tcp telnet [high]: Clear text. Advice: Use SSH.\"/></hostscript>\n</host>\n<postscript><script id=\"ssl-cert\" output=\"10.77.1.7 443/tcp: TLSv1.3 TLS_AES_256_GCM_SHA384&#10;  Subject: CN=tls.monban.test, O=Evil\\, &lt;Inc&gt;&#10;\\x1b[31m&#10;  Issuer: CN=Monban Lab CA, O=Monban&#10;  Not valid before: 2025-01-01T00:00:00Z&#10;  Not valid after: 2035-06-30T23:59:59Z&#10;  Alternative names: DNS:tls.monban.test, IP:10.77.1.7&#10;  Key: rsa 2048; signature: sha256WithRSAEncryption&#10;  SHA-256: abababababababababababababababababababababababababababababababab&#10;10.77.1.7 8443/tcp: TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256&#10;  Certificate not read: certificate truncated\"><table key=\"10.77.1.7 443/tcp\"><elem key=\"version\">TLSv1.3</elem><elem key=\"cipher\">TLS_AES_256_GCM_SHA384</elem><elem key=\"subject\">CN=tls.monban.test, O=Evil\\, &lt;Inc&gt;&#10;\\x1b[31m</elem><elem key=\"issuer\">CN=Monban Lab CA, O=Monban</elem><elem key=\"not_before\">2025-01-01T00:00:00Z</elem><elem key=\"not_after\">2035-06-30T23:59:59Z</elem><elem key=\"sha256\">abababababababababababababababababababababababababababababababab</elem></table><table key=\"10.77.1.7 8443/tcp\"><elem key=\"version\">TLSv1.2</elem><elem key=\"cipher\">TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256</elem><elem key=\"cert_error\">certificate truncated</elem></table></script></postscript>\n<runstats><finished time=\"1795239012\" timestr=\"Sat Nov 21 05:30:12 2026\" summary=\"monban done at Sat Nov 21 05:30:12 2026; 4 IP addresses (3 hosts up) scanned in 12.34 seconds\" elapsed=\"12.34\" exit=\"success\"/><hosts up=\"3\" down=\"1\" total=\"4\"/>\n</runstats>\n</nmaprun>\n"
        );
    }
}
