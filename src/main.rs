//! monban (門番): a port scanner. The binary is thin: the command line becomes a
//! validated plan (`cli`), and this entry dispatches it, handles the signals and chooses
//! the exit status. A scan is run by [`scan::run_scan`]: the plan becomes an engine
//! configuration, a driver from `monban-netio` runs the engine, and events go to the
//! output sinks.

mod cli;
mod detect;
mod diff;
mod explain;
mod files;
mod history;
mod local;
mod privilege;
mod rdns;
mod resume;
mod scan;
mod serve;
mod versions;

use cli::Command;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status when the scan was stopped by SIGINT/SIGTERM (128 + SIGINT, as shells do).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;
/// Exit status for a bad command line.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let cmd = match cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match cmd {
        Command::Help(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Profiles(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("monban {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(plan) => scan::run_scan(*plan),
        Command::Detect(plan) => {
            install_signal_handlers();
            detect::run(*plan, &STOP)
        }
        Command::Explain(plan) => explain::run(*plan),
        Command::Local(plan) => local::run(*plan),
        Command::Diff(plan) => diff::run(*plan),
        Command::History(plan) => history::history(*plan),
        Command::Show(plan) => history::show(*plan),
        Command::Serve(plan) => serve::run(*plan),
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => {
            // The reader went away (`monban ... | head`): files were still completed;
            // end quietly, as other command-line tools do.
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("monban: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            // JSON written straight to a pipe fails inside serde_json.
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

pub(crate) static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub(crate) fn install_signal_handlers() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, handler as libc::sighandler_t);
        }
    }
}
