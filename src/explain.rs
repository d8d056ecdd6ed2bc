//! `monban explain`: reads firewall log records, finds the scans among them with the
//! detector, and says what each record means (`monban_detect::log::explain`).

use crate::cli::explain::{ExplainInput, ExplainPlan};
use crate::detect::{log_year, open_log};
use anyhow::{bail, Context, Result};
use monban_detect::log::explain::{explain, CampaignRef};
use monban_detect::log::parse::{parse_line, LogReader};
use monban_detect::log::{self, LogRecord};
use monban_detect::{Config, Detector, Event, Timestamp};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::process::ExitCode;

/// Most records one run explains (a person reads these; `monban detect --log` scales).
const MAX_RECORDS: usize = 1_000_000;

/// The records to explain, with their line numbers.
fn records(plan: &ExplainPlan, year: i32) -> Result<Vec<(u64, LogRecord)>> {
    match &plan.input {
        ExplainInput::Line(line) => match parse_line(line, year, plan.format) {
            Ok(Some(r)) => Ok(vec![(1, r)]),
            Ok(None) => bail!(
                "not a firewall log record of a format monban reads (kernel LOG lines of \
                 iptables, nftables, ufw or firewalld; journalctl; pfirewall.log; the \
                 Japanese personal-firewall record): {line:?}"
            ),
            Err(e) => bail!("{e}: {line:?}"),
        },
        ExplainInput::File(path) => {
            let mut reader = LogReader::new(open_log(path)?, year, plan.format);
            let mut out = Vec::new();
            while let Some(r) = reader
                .next_record()
                .with_context(|| format!("reading {}", path.display()))?
            {
                if out.len() == MAX_RECORDS {
                    bail!(
                        "{} holds more than {MAX_RECORDS} records: explain is for reading; \
                         use monban detect --log to find the scans in it",
                        path.display()
                    );
                }
                out.push(r);
            }
            if let Some(w) = reader.stats().warning() {
                eprintln!("monban explain: warning: {}: {w}", path.display());
            }
            Ok(out)
        }
    }
}

/// The scan each source is part of, found by the detector over the same records.
fn campaigns(recs: &[(u64, LogRecord)]) -> HashMap<IpAddr, CampaignRef> {
    let mut det = Detector::new(Config::default());
    let mut last = Timestamp::ZERO;
    let mut found = HashMap::new();
    let take = |e: Event, found: &mut HashMap<IpAddr, CampaignRef>| {
        if let Event::Summary(r) = e {
            if r.merged_into.is_none() {
                for s in &r.sources {
                    found.insert(
                        *s,
                        CampaignRef {
                            id: r.id,
                            kind: r.kind.name().to_string(),
                        },
                    );
                }
            }
        }
    };
    for (_, rec) in recs {
        let ts = log::clock(rec).unwrap_or(last).max(last);
        last = ts;
        if let Some(p) = log::to_packet(rec) {
            det.on_logged(
                ts,
                &p,
                rec.action == log::Action::Allowed,
                log::syn_or_connect_unknown(rec),
            );
        }
        while let Some(e) = det.poll_event() {
            take(e, &mut found);
        }
    }
    det.finish();
    while let Some(e) = det.poll_event() {
        take(e, &mut found);
    }
    found
}

/// Runs `monban explain`.
pub fn run(plan: ExplainPlan) -> Result<ExitCode> {
    let year = log_year(plan.year);
    let recs = records(&plan, year)?;
    let found = campaigns(&recs);
    let mut out: Box<dyn Write> = match &plan.json {
        Some(p) if p.as_os_str() != "-" => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        _ => Box::new(BufWriter::new(io::stdout())),
    };
    if recs.is_empty() {
        eprintln!("monban explain: no firewall log record found");
    }
    for (i, (line, rec)) in recs.iter().enumerate() {
        let campaign = match &rec.src {
            Some(log::LogAddr::Ip(a)) => found.get(a),
            _ => None,
        };
        let e = explain(rec, campaign);
        if plan.json.is_some() {
            let mut v = e.to_json();
            if let Some(m) = v.as_object_mut() {
                m.insert("line".into(), serde_json::json!(line));
            }
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        } else {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "Record at line {line} ({}):", rec.format.name())?;
            for l in e.to_text().lines() {
                writeln!(out, "  {l}")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
