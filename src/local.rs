//! `monban local`: what listens on this host (`monban_local`), written as a table, JSON
//! Lines or XML, optionally joined with a scan of this host made from elsewhere.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use monban_local::against::{self, Join};
use monban_local::inventory::{gather, Options};
use monban_local::report;

use crate::cli::local::LocalPlan;
use crate::scan::open_output;

/// Reads the `--against` scan.
fn scan_file(path: &std::path::Path) -> Result<monban_output::read::ScanFile> {
    let shown = crate::diff::shown(path);
    let bytes = crate::files::read_bounded(path, crate::files::MAX_INPUT_FILE)
        .with_context(|| format!("cannot read {shown}"))?;
    monban_output::read::read(&bytes).with_context(|| {
        format!("{shown} is not a scan monban reads (nmap or monban XML, monban JSON Lines)")
    })
}

/// Runs `monban local`.
pub fn run(plan: LocalPlan) -> Result<ExitCode> {
    // A bad --against file fails before the host is walked.
    let scan = plan.against.as_deref().map(scan_file).transpose()?;
    if let (Some(s), Some(p)) = (&scan, &plan.against) {
        if s.truncated {
            eprintln!(
                "monban local: warning: {} was cut short (an interrupted scan); its complete hosts are used",
                crate::diff::shown(p)
            );
        }
    }
    let opts = Options {
        ports: plan.ports.clone(),
        proto: plan.proto,
        netns: plan.netns.clone(),
        packages: !plan.no_packages,
    };
    let inv = gather(&opts);
    let join: Option<Join> = scan
        .as_ref()
        .map(|s| against::join(&inv, &s.hosts, &|proto, port| opts.selects(proto, port)));
    let text = report::text(&inv, join.as_ref(), plan.ports.is_some());
    let dash = |p: &Option<std::path::PathBuf>| p.as_deref() == Some(std::path::Path::new("-"));
    if let Some(p) = &plan.json {
        write_to(p, &report::json_lines(&inv, join.as_ref()))?;
    }
    if let Some(p) = &plan.xml {
        write_to(p, &report::xml(&inv, join.as_ref()))?;
    }
    if let Some(p) = plan.normal.as_ref().filter(|_| !dash(&plan.normal)) {
        write_to(p, &text)?;
    }
    if !dash(&plan.json) && !dash(&plan.xml) {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_to(path: &std::path::Path, body: &str) -> Result<()> {
    let mut w = open_output(path)?;
    w.write_all(body.as_bytes())
        .and_then(|()| w.flush())
        .with_context(|| format!("cannot write {}", path.display()))
}
