//! `monban history` and `monban show`: the scans stored with `monban scan --db`.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use monban_output::{
    safe_text, table, utc_seconds, GrepSink, JsonSink, MultiSink, NormalSink, Sink, SinkOptions,
    XmlSink,
};
use serde_json::json;

use crate::cli::history::{HistoryPlan, ShowPlan};
use crate::cli::OutputFormat;
use crate::diff::open_store;
use crate::scan::open_output;

/// Runs `monban history`.
pub fn history(plan: HistoryPlan) -> Result<ExitCode> {
    let mut store = open_store(plan.db.as_deref())?;
    let scans = store.history(plan.target.as_deref())?;
    let mut out = String::new();
    if plan.json {
        for s in &scans {
            let secs = |t: SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            };
            out.push_str(
                &json!({
                    "id": s.id,
                    "started": secs(s.started),
                    "ended": s.ended.map(secs),
                    "args": s.args,
                    "targets": s.targets,
                    "scan": s.scan_type,
                    "ports": s.ports,
                    "hosts": s.hosts.0,
                    "hosts_up": s.hosts.1,
                    "open": s.open,
                    "shards": s.shards.0,
                    "shards_done": s.shards.1,
                    "interrupted": s.interrupted,
                })
                .to_string(),
            );
            out.push('\n');
        }
    } else if scans.is_empty() {
        out.push_str(match &plan.target {
            Some(t) => {
                return Err(anyhow::anyhow!(
                    "no stored scan of {} (monban history lists them all)",
                    safe_text(t)
                ))
            }
            None => "no stored scans yet (monban scan --db stores one)\n",
        });
    } else {
        let mut rows = vec![[
            "ID",
            "STARTED (UTC)",
            "TOOK",
            "UP/HOSTS",
            "OPEN",
            "SHARDS",
            "TARGETS",
            "COMMAND",
        ]
        .map(String::from)
        .to_vec()];
        for s in &scans {
            let took = match s.ended {
                Some(e) => format!(
                    "{:.1}s{}",
                    e.duration_since(s.started)
                        .unwrap_or_default()
                        .as_secs_f64(),
                    if s.interrupted { " (stopped)" } else { "" }
                ),
                None => "running?".into(),
            };
            rows.push(vec![
                s.id.to_string(),
                utc_seconds(s.started),
                took,
                format!("{}/{}", s.hosts.1, s.hosts.0),
                s.open.to_string(),
                format!("{}/{}", s.shards.1, s.shards.0),
                safe_text(&s.targets),
                safe_text(&s.args),
            ]);
        }
        out.push_str(&table(&rows));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `monban show`: the stored scan through the same sinks a scan writes to.
pub fn show(plan: ShowPlan) -> Result<ExitCode> {
    let mut store = open_store(plan.db.as_deref())?;
    let scan = store
        .load(plan.id)?
        .with_context(|| format!("no stored scan {} (monban history lists them)", plan.id))?;
    let opts = SinkOptions {
        reason: plan.reason,
        open_only: plan.open_only,
        verbose: plan.verbose,
        audit: plan.audit,
    };
    let mut sinks = MultiSink::new();
    if plan.outputs.is_empty() {
        sinks.push(Box::new(NormalSink::for_file(
            Box::new(std::io::stdout()) as Box<dyn Write + Send>,
            opts,
        )));
    }
    for (format, path) in &plan.outputs {
        let w = open_output(path)?;
        let sink: Box<dyn Sink + Send> = match format {
            OutputFormat::Normal => Box::new(NormalSink::for_file(w, opts)),
            OutputFormat::Xml => Box::new(XmlSink::new(w, opts)),
            OutputFormat::Grepable => Box::new(GrepSink::new(w, opts)),
            OutputFormat::Json => Box::new(JsonSink::new(w, opts)),
        };
        sinks.push(sink);
    }
    sinks.begin(&scan.run_info())?;
    for h in &scan.hosts {
        sinks.host(h)?;
    }
    sinks.end(&scan.run_stats())?;
    Ok(ExitCode::SUCCESS)
}
