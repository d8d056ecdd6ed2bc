//! Reverse DNS for hosts that are up (skipped with `-n`), off the scan loop.
//!
//! A fixed pool of worker threads calls the system resolver (`getnameinfo` with
//! `NI_NAMEREQD`, so /etc/hosts and DNS as the system is configured). Host reports wait
//! for their name at most [`DEADLINE`]; a lookup that takes longer is abandoned (its
//! thread finishes on its own and its answer is dropped), so a dead resolver delays
//! reports by a bounded time and never stalls probing.

use monban_engine::HostReport;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for one name.
pub const DEADLINE: Duration = Duration::from_secs(3);
/// Lookups running at once.
const WORKERS: usize = 8;

/// A report waiting for its name.
struct Waiting {
    id: u64,
    since: Instant,
    report: Box<HostReport>,
    /// None while the lookup runs; Some(answer) when it is done.
    answer: Option<Option<String>>,
}

/// Looks names up in the background and hands reports back in arrival order.
pub struct Resolver {
    jobs: Sender<(u64, IpAddr)>,
    results: Receiver<(u64, Option<String>)>,
    waiting: VecDeque<Waiting>,
    next_id: u64,
}

impl Resolver {
    /// Starts the worker pool.
    pub fn new() -> Resolver {
        let (jobs, job_rx) = channel::<(u64, IpAddr)>();
        let (res_tx, results) = channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..WORKERS {
            let rx = Arc::clone(&job_rx);
            let tx = res_tx.clone();
            std::thread::spawn(move || loop {
                let job = match rx.lock() {
                    Ok(guard) => guard.recv(),
                    Err(_) => return,
                };
                let Ok((id, addr)) = job else { return };
                if tx.send((id, lookup(addr))).is_err() {
                    return;
                }
            });
        }
        Resolver {
            jobs,
            results,
            waiting: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Queues a report whose name should be looked up.
    pub fn submit(&mut self, report: Box<HostReport>) {
        let id = self.next_id;
        self.next_id += 1;
        let sent = self.jobs.send((id, report.addr)).is_ok();
        // If the pool is gone the report goes out without a name.
        let answer = if sent { None } else { Some(None) };
        self.waiting.push_back(Waiting {
            id,
            since: Instant::now(),
            report,
            answer,
        });
    }

    /// Reports that are ready (named, or past their deadline), in submission order.
    pub fn ready(&mut self, now: Instant) -> Vec<HostReport> {
        while let Ok((id, name)) = self.results.try_recv() {
            if let Some(w) = self.waiting.iter_mut().find(|w| w.id == id) {
                w.answer = Some(name);
            }
        }
        let mut out = Vec::new();
        while let Some(front) = self.waiting.front() {
            let expired = now.duration_since(front.since) >= DEADLINE;
            if front.answer.is_none() && !expired {
                break;
            }
            if let Some(w) = self.waiting.pop_front() {
                let mut report = *w.report;
                if report.name.is_none() {
                    report.name = w.answer.flatten();
                }
                out.push(report);
            }
        }
        out
    }

    /// Whether reports are still waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Waits (at most until every deadline) for the remaining reports.
    pub fn finish(&mut self) -> Vec<HostReport> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.extend(self.ready(Instant::now()));
            if !self.is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        out
    }
}

/// The name the system resolver gives for `addr`, if any.
pub fn lookup(addr: IpAddr) -> Option<String> {
    let sa: socket2::SockAddr = SocketAddr::new(addr, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sa` holds a valid socket address of `sa.len()` bytes; `host` is a live
    // buffer of the stated size; no service buffer is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast(),
            sa.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    let name = name.to_string_lossy().trim_end_matches('.').to_owned();
    (!name.is_empty() && name.parse::<IpAddr>().is_err()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monban_engine::{HostStatus, Reason};
    use std::time::SystemTime;

    fn report(addr: &str, name: Option<&str>) -> Box<HostReport> {
        Box::new(HostReport {
            addr: addr.parse().unwrap(),
            name: name.map(str::to_owned),
            status: HostStatus::Up,
            status_reason: Reason::UserSet,
            status_ttl: None,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            ports: Vec::new(),
            timed_out: false,
            incomplete: false,
            srtt: None,
            mac: None,
            services: Vec::new(),
            risks: Vec::new(),
        })
    }

    #[test]
    fn loopback_resolves_through_the_hosts_file() {
        // /etc/hosts names 127.0.0.1 on every Debian system; no DNS traffic is needed.
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let first = hosts
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some("127.0.0.1")).then(|| f.next().map(str::to_owned))?
            });
        assert_eq!(lookup("127.0.0.1".parse().unwrap()), first);
    }

    #[test]
    fn reports_keep_their_order_and_given_names() {
        let mut r = Resolver::new();
        r.submit(report("127.0.0.1", Some("given")));
        r.submit(report("127.0.0.1", None));
        let out = r.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name.as_deref(), Some("given"));
        assert_eq!(out[1].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
    }
}
