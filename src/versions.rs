//! Version detection (`-sV`) off the scan loop.
//!
//! One worker thread runs [`monban_netio::version::detect`] on the open TCP ports and
//! [`monban_netio::version::detect_udp`] on the open and open|filtered UDP ports of the
//! reports handed to it, both at once; reports that arrive while a run is going are
//! batched into the next run, so hosts are probed in parallel. Every run is bounded by the
//! per-port budget and ends early when the stop flag (Ctrl-C) is set. Reports come back in
//! submission order with [`HostReport::services`] filled, and with the open|filtered UDP
//! ports that answered a probe made open (`udp-response`), as nmap does.

use monban_engine::{HostReport, HostStatus, PortState, Protocol, Reason, ServiceDetail};
use monban_netio::version::{detect, detect_udp, ServiceResult, VersionOptions};
use monban_probes::ProbeDb;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

/// One host's ports to identify.
type Job = (u64, Vec<(IpAddr, u16, Protocol)>);
/// What the worker found for one job, or why the run failed.
type Done = (u64, Result<Vec<ServiceResult>, String>);

/// A report waiting for its services.
struct Waiting {
    id: u64,
    report: Box<HostReport>,
    /// None while detection runs.
    answer: Option<Vec<ServiceResult>>,
}

/// Identifies services in the background and hands reports back in submission order.
pub struct Detector {
    jobs: Sender<Job>,
    results: Receiver<Done>,
    waiting: VecDeque<Waiting>,
    next_id: u64,
    error: Option<String>,
}

impl Detector {
    /// Starts the worker; `stop` ends detection early.
    pub fn new(opts: VersionOptions, stop: Arc<AtomicBool>) -> Detector {
        let (jobs, job_rx) = channel::<Job>();
        let (res_tx, results) = channel::<Done>();
        std::thread::spawn(move || worker(&job_rx, &res_tx, &opts, &stop));
        Detector {
            jobs,
            results,
            waiting: VecDeque::new(),
            next_id: 0,
            error: None,
        }
    }

    /// Queues a report; one without open TCP ports or open (or open|filtered) UDP ports is
    /// ready at once.
    pub fn submit(&mut self, report: Box<HostReport>) {
        let id = self.next_id;
        self.next_id += 1;
        let targets: Vec<(IpAddr, u16, Protocol)> = if report.status == HostStatus::Up
            && !report.timed_out
        {
            report
                .ports
                .iter()
                .filter(|p| match p.proto {
                    Protocol::Tcp => p.state == PortState::Open,
                    Protocol::Udp => matches!(p.state, PortState::Open | PortState::OpenFiltered),
                })
                .map(|p| (report.addr, p.port, p.proto))
                .collect()
        } else {
            Vec::new()
        };
        // Nothing to probe, or the worker is gone: the report goes on without services.
        let answer = (targets.is_empty() || self.jobs.send((id, targets)).is_err()).then(Vec::new);
        self.waiting.push_back(Waiting { id, report, answer });
    }

    /// Reports whose detection has finished, in submission order.
    pub fn ready(&mut self) -> Vec<HostReport> {
        while let Ok((id, found)) = self.results.try_recv() {
            self.accept(id, found);
        }
        let mut out = Vec::new();
        while self.waiting.front().is_some_and(|w| w.answer.is_some()) {
            if let Some(w) = self.waiting.pop_front() {
                let mut report = *w.report;
                apply(&mut report, &w.answer.unwrap_or_default());
                out.push(report);
            }
        }
        out
    }

    /// Waits for the remaining reports (bounded by the port budgets and the stop flag).
    pub fn finish(&mut self) -> Vec<HostReport> {
        let mut out = self.ready();
        while !self.waiting.is_empty() {
            match self.results.recv_timeout(Duration::from_millis(50)) {
                Ok((id, found)) => self.accept(id, found),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    // The worker is gone: what is left goes on without services.
                    for w in &mut self.waiting {
                        w.answer.get_or_insert_with(Vec::new);
                    }
                }
            }
            out.extend(self.ready());
        }
        out
    }

    /// The first failure of the detection machinery, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn accept(&mut self, id: u64, found: Result<Vec<ServiceResult>, String>) {
        let results = found.unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            Vec::new()
        });
        if let Some(w) = self.waiting.iter_mut().find(|w| w.id == id) {
            w.answer = Some(results);
        }
    }
}

/// Fills `report`'s services from `results`; an open|filtered UDP port that answered a
/// probe is open (`udp-response`).
fn apply(report: &mut HostReport, results: &[ServiceResult]) {
    for r in results
        .iter()
        .filter(|r| r.proto == Protocol::Udp && r.answered)
    {
        if let Some(p) = report.ports.iter_mut().find(|p| {
            p.port == r.port && p.proto == Protocol::Udp && p.state == PortState::OpenFiltered
        }) {
            p.state = PortState::Open;
            p.reason = Reason::UdpResponse;
            p.ttl = None;
        }
    }
    let mut services: Vec<ServiceDetail> =
        results.iter().filter_map(ServiceResult::detail).collect();
    services.sort_by_key(|d| (d.port, d.proto == Protocol::Udp));
    report.services = services;
}

/// Runs jobs until the sender is dropped; jobs that queued up during a run make the next
/// run together.
fn worker(jobs: &Receiver<Job>, results: &Sender<Done>, opts: &VersionOptions, stop: &AtomicBool) {
    let db = ProbeDb::builtin().map_err(|e| e.to_string());
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while let Ok(more) = jobs.try_recv() {
            batch.push(more);
        }
        let of = |proto: Protocol| -> Vec<(IpAddr, u16)> {
            batch
                .iter()
                .flat_map(|(_, t)| t.iter())
                .filter(|t| t.2 == proto)
                .map(|&(addr, port, _)| (addr, port))
                .collect()
        };
        let (tcp, udp) = (of(Protocol::Tcp), of(Protocol::Udp));
        // TCP and UDP detection wait on different things: run them side by side.
        let (tcp, udp) = match &db {
            Ok(db) => std::thread::scope(|s| {
                let udp = s.spawn(|| run(&udp, |t| detect_udp(db, t, opts, stop)));
                let tcp = run(&tcp, |t| detect(db, t, opts, stop));
                let udp = udp
                    .join()
                    .unwrap_or_else(|_| Err("UDP version detection failed".to_owned()));
                (tcp, udp)
            }),
            Err(e) => (Err(e.clone()), Err(e.clone())),
        };
        let mut tcp = tcp.map(Vec::into_iter);
        let mut udp = udp.map(Vec::into_iter);
        for (id, t) in batch {
            let mut part = Ok(Vec::with_capacity(t.len()));
            for &(_, _, proto) in &t {
                let next = match proto {
                    Protocol::Tcp => &mut tcp,
                    Protocol::Udp => &mut udp,
                };
                // Always step the iterator, so the next job's results stay aligned.
                let one = next.as_mut().map(Iterator::next).map_err(|e| e.clone());
                match (one, &mut part) {
                    (Ok(r), Ok(found)) => found.extend(r),
                    (Err(e), _) => part = Err(e),
                    (Ok(_), Err(_)) => {}
                }
            }
            if results.send((id, part)).is_err() {
                return;
            }
        }
    }
}

/// Runs one protocol's detection, unless there is nothing to detect.
fn run(
    targets: &[(IpAddr, u16)],
    detect: impl FnOnce(&[(IpAddr, u16)]) -> Result<Vec<ServiceResult>, monban_netio::NetError>,
) -> Result<Vec<ServiceResult>, String> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    detect(targets).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use monban_engine::{PortResult, Reason};
    use std::time::SystemTime;

    fn report(addr: &str, open: &[u16]) -> Box<HostReport> {
        Box::new(HostReport {
            addr: addr.parse().unwrap(),
            name: None,
            status: HostStatus::Up,
            status_reason: Reason::UserSet,
            status_ttl: None,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            ports: open
                .iter()
                .map(|&port| PortResult {
                    port,
                    proto: Protocol::Tcp,
                    state: PortState::Open,
                    reason: Reason::SynAck,
                    ttl: None,
                })
                .collect(),
            timed_out: false,
            incomplete: false,
            srtt: None,
            mac: None,
            services: Vec::new(),
            risks: Vec::new(),
        })
    }

    #[test]
    fn reports_keep_their_order_and_stop_ends_detection() {
        // The stop flag is set: detection ends at once and finds nothing, without
        // sending a packet; a report without open ports needs no detection at all.
        let stop = Arc::new(AtomicBool::new(true));
        let mut d = Detector::new(VersionOptions::default(), stop);
        d.submit(report("127.0.0.1", &[9]));
        d.submit(report("127.0.0.2", &[]));
        d.submit(report("127.0.0.3", &[9, 10]));
        let out = d.finish();
        let addrs: Vec<String> = out.iter().map(|r| r.addr.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
        assert!(out.iter().all(|r| r.services.is_empty()));
        assert_eq!(d.error(), None);
    }

    fn result(port: u16, proto: Protocol, answered: bool, service: Option<&str>) -> ServiceResult {
        ServiceResult {
            addr: "127.0.0.1".parse().unwrap(),
            port,
            proto,
            answered,
            service: service.map(|s| monban_probes::ServiceMatch {
                service: s.to_owned(),
                ..Default::default()
            }),
            in_tunnel: false,
            tls: None,
            tls_error: None,
            probes_sent: 1,
            banner: None,
            error: None,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn answered_open_filtered_udp_ports_become_open_and_services_are_sorted() {
        let mut r = report("127.0.0.1", &[53]);
        let udp = |port, state, reason| PortResult {
            port,
            proto: Protocol::Udp,
            state,
            reason,
            ttl: Some(64),
        };
        r.ports.extend([
            udp(53, PortState::Open, Reason::UdpResponse),
            udp(161, PortState::OpenFiltered, Reason::NoResponse),
            udp(9999, PortState::OpenFiltered, Reason::NoResponse),
            udp(7, PortState::Closed, Reason::PortUnreach),
        ]);
        apply(
            &mut r,
            &[
                result(9999, Protocol::Udp, false, None),
                result(161, Protocol::Udp, true, Some("snmp")),
                result(53, Protocol::Udp, true, Some("domain")),
                result(53, Protocol::Tcp, true, Some("domain")),
                // Answered, but the scan said closed: the scan's word stands.
                result(7, Protocol::Udp, true, None),
            ],
        );
        let states: Vec<(u16, Protocol, PortState, Reason, Option<u8>)> = r
            .ports
            .iter()
            .map(|p| (p.port, p.proto, p.state, p.reason, p.ttl))
            .collect();
        assert_eq!(
            states,
            [
                (53, Protocol::Tcp, PortState::Open, Reason::SynAck, None),
                (
                    53,
                    Protocol::Udp,
                    PortState::Open,
                    Reason::UdpResponse,
                    Some(64)
                ),
                (
                    161,
                    Protocol::Udp,
                    PortState::Open,
                    Reason::UdpResponse,
                    None
                ),
                (
                    9999,
                    Protocol::Udp,
                    PortState::OpenFiltered,
                    Reason::NoResponse,
                    Some(64)
                ),
                (
                    7,
                    Protocol::Udp,
                    PortState::Closed,
                    Reason::PortUnreach,
                    Some(64)
                ),
            ]
        );
        let services: Vec<(u16, Protocol, &str)> = r
            .services
            .iter()
            .map(|d| (d.port, d.proto, d.name.as_str()))
            .collect();
        assert_eq!(
            services,
            [
                (53, Protocol::Tcp, "domain"),
                (53, Protocol::Udp, "domain"),
                (161, Protocol::Udp, "snmp"),
            ]
        );
    }
}
