//! `monban serve`: the self-scan page (`monban_serve`), scanning with this very binary.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::profiles::PROFILES;
use crate::cli::serve::ServePlan;

/// Runs the page until SIGINT or SIGTERM.
pub fn run(plan: ServePlan) -> Result<ExitCode> {
    let db = match plan.db {
        Some(d) => d,
        None => monban_store::default_path()
            .context("no home directory for the default database; give --db FILE")?
            .display()
            .to_string(),
    };
    let mut profiles: Vec<monban_serve::Profile> = PROFILES
        .iter()
        .map(|p| monban_serve::Profile {
            name: p.name.to_string(),
            about: p.about.to_string(),
            args: vec!["--profile".into(), p.name.into(), "--audit".into()],
        })
        .collect();
    profiles.push(monban_serve::Profile {
        name: "icmp".into(),
        about: "one ICMP echo request (ping): does your host answer at all?".into(),
        args: vec!["-sn".into(), "-PE".into()],
    });
    let cfg = monban_serve::Config {
        listen: plan.listen,
        db,
        trust_proxy: plan.trust_proxy,
        per_hour: plan.hourly,
        max_running: plan.max_scans,
        monban: std::env::current_exe().context("cannot find the monban binary itself")?,
        profiles,
        scan_timeout: plan.scan_timeout,
    };
    let local = cfg.listen.ip().is_loopback();
    monban_serve::run(cfg, |addr| {
        eprintln!("monban serve: listening on http://{addr}/");
        if local {
            eprintln!(
                "monban serve: only this machine can reach it; to publish the page, --listen \
                 on a public address, or put a reverse proxy in front and name it in --trust-proxy"
            );
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
