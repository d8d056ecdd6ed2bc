//! `monban-lab`: build the lab by hand for benchmarks and demos.
//!
//! ```text
//! monban-lab up [--hosts N] [--loss PERMILLE] [--rate KBIT] [--icmp-limits] [--local-net]
//!               [--ignore-stdin]
//! monban-lab down
//! ```
//! `up` prints the lab as one JSON line on stdout once it carries traffic, then holds it until
//! SIGINT, SIGTERM or SIGHUP, or until stdin closes (unless `--ignore-stdin`), and tears it
//! down. `--local-net` makes target 0 answer for every address of 10.78.0.0/16. `down` deletes
//! every lab namespace (`mb<pid>x<n>-*`) on this machine.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use monban_lab::Lab;

const USAGE: &str = "usage: monban-lab up [--hosts N] [--loss PERMILLE] [--rate KBIT] \
                     [--icmp-limits] [--local-net] [--ignore-stdin]\n       monban-lab down";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]),
        Some("down") if args.len() == 1 => match monban_lab::sweep_all() {
            Ok(gone) => {
                for ns in gone {
                    println!("deleted {ns}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("monban-lab: {e}");
                ExitCode::FAILURE
            }
        },
        Some("-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage_error("expected `up` or `down`"),
    }
}

fn usage_error(what: &str) -> ExitCode {
    eprintln!("monban-lab: {what}\n{USAGE}");
    ExitCode::from(2)
}

fn up(args: &[String]) -> ExitCode {
    let mut builder = Lab::builder();
    let mut watch_stdin = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--hosts" => match it.next().and_then(|v| v.parse().ok()) {
                Some(n) => builder = builder.hosts(n),
                None => return usage_error("--hosts needs a number"),
            },
            "--loss" => match it.next().and_then(|v| v.parse().ok()) {
                Some(n) => builder = builder.loss_permille(n),
                None => return usage_error("--loss needs a number (per mille)"),
            },
            "--rate" => match it.next().and_then(|v| v.parse().ok()) {
                Some(n) => builder = builder.rate_limit_kbit(n),
                None => return usage_error("--rate needs a number (kbit/s)"),
            },
            "--icmp-limits" => builder = builder.unlimited_icmp(false),
            "--local-net" => builder = builder.local_net(true),
            "--ignore-stdin" => watch_stdin = false,
            other => return usage_error(&format!("unknown option {other}")),
        }
    }

    // Block the stop signals before any thread exists, so that only sigtimedwait sees them.
    // SAFETY: sigset manipulation on a local, initialised set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };

    let lab = match builder.build() {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("monban-lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", lab.to_json())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    eprintln!(
        "monban-lab: lab {} is up; scanner namespace {}; Ctrl-C to tear it down",
        lab.prefix(),
        lab.scanner_ns()
    );

    let stdin_closed = Arc::new(AtomicBool::new(false));
    if watch_stdin {
        let flag = Arc::clone(&stdin_closed);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut input = std::io::stdin();
            while matches!(input.read(&mut buf), Ok(n) if n > 0) {}
            flag.store(true, Ordering::SeqCst);
        });
    }
    let tick = libc::timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    loop {
        // SAFETY: waits for one of the blocked signals in `set`, at most `tick`.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &tick) };
        if sig > 0 {
            eprintln!("monban-lab: signal {sig}, tearing down");
            break;
        }
        if stdin_closed.load(Ordering::SeqCst) {
            eprintln!("monban-lab: stdin closed, tearing down");
            break;
        }
    }
    drop(lab);
    ExitCode::SUCCESS
}
