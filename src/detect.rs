//! `monban detect`: drives the sans-IO detector (`monban-detect`) from a capture file or a
//! live interface and writes its events: human lines and a table, or JSON Lines.

use crate::cli::detect::{DetectInput, DetectPlan};
use anyhow::{bail, Context, Result};
use monban_detect::capture::{self, CaptureError, CaptureReader, LinkError};
use monban_detect::log::{self, parse::LogReader};
use monban_detect::{AlertLine, Config, Detector, Event, Net, Report, Stats, Timestamp};
use monban_netio::{CaptureOptions, LiveCapture};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where events go.
struct Out {
    json: Option<Box<dyn Write>>,
    /// Human lines on stdout (unless JSON goes there).
    human: Option<Box<dyn Write>>,
    /// Every summary, for the table at the end.
    summaries: Vec<Report>,
    finishing: bool,
}

impl Out {
    fn new(plan: &DetectPlan) -> Result<Out> {
        let stdout = || -> Box<dyn Write> { Box::new(BufWriter::new(io::stdout())) };
        let json: Option<Box<dyn Write>> = match &plan.json {
            Some(p) if p.as_os_str() == "-" => Some(stdout()),
            Some(p) => Some(Box::new(BufWriter::new(
                File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
            ))),
            None => None,
        };
        let json_on_stdout = plan.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
        Ok(Out {
            json,
            human: (!json_on_stdout).then(stdout),
            summaries: Vec::new(),
            finishing: false,
        })
    }

    fn event(&mut self, e: Event) -> Result<()> {
        let (report, summary) = match e {
            Event::Alert(r) => (r, false),
            Event::Summary(r) => (r, true),
        };
        if let Some(j) = &mut self.json {
            serde_json::to_writer(&mut *j, &report.to_json(summary))?;
            j.write_all(b"\n")?;
            // Alerts are for following live: one line, flushed as it happens.
            j.flush()?;
        }
        if let Some(h) = &mut self.human {
            if !summary {
                writeln!(h, "{}", AlertLine(&report))?;
                h.flush()?;
            } else if !self.finishing && report.merged_into.is_none() {
                writeln!(
                    h,
                    "{} ENDED #{} {}: {} probes, last at {}",
                    report.last_seen.rfc3339(),
                    report.id,
                    report.kind.name(),
                    report.probes,
                    report.last_seen.rfc3339()
                )?;
                h.flush()?;
            }
        }
        if summary && report.merged_into.is_none() {
            self.summaries.push(report);
        }
        Ok(())
    }

    fn drain(&mut self, det: &mut Detector) -> Result<()> {
        while let Some(e) = det.poll_event() {
            self.event(e)?;
        }
        Ok(())
    }

    /// The summary table (human output only).
    fn close(mut self) -> Result<()> {
        if let Some(h) = &mut self.human {
            table(h, &self.summaries)?;
            h.flush()?;
        }
        if let Some(j) = &mut self.json {
            j.flush()?;
        }
        Ok(())
    }
}

fn table(w: &mut dyn Write, rows: &[Report]) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(w, "No port scan found.");
    }
    let head = [
        "ID",
        "KIND",
        "TOOL",
        "TECHNIQUES",
        "SOURCES",
        "TARGETS",
        "PORTS",
        "PROBES",
        "TO ALERT",
        "FIRST SEEN",
        "LAST SEEN",
    ];
    let cells: Vec<[String; 11]> = rows.iter().map(Report::summary_cells).collect();
    let mut width = head.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    writeln!(
        w,
        "\nPort scans found: {} (campaigns that ended, or were open when the input ended)",
        rows.len()
    )?;
    let line = |w: &mut dyn Write, row: &[&str]| -> io::Result<()> {
        let mut s = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            let pad = width[i].saturating_sub(c.chars().count());
            if i + 1 < row.len() {
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(w, "{s}")
    };
    line(w, &head)?;
    for row in &cells {
        let r: Vec<&str> = row.iter().map(String::as_str).collect();
        line(w, &r)?;
    }
    Ok(())
}

fn config(plan: &DetectPlan, home: Vec<Net>) -> Config {
    Config {
        home,
        allow: plan.allow.clone(),
        threshold: plan.threshold,
        reply_timeout: plan.reply_timeout,
        idle_timeout: plan.idle_timeout,
        max_sources: plan.max_sources,
    }
}

/// Frames the detector never saw, by why.
#[derive(Default)]
struct Skipped {
    not_ip: u64,
    short: u64,
    link_type: Option<u32>,
    link_type_frames: u64,
}

impl Skipped {
    fn note(&mut self, e: LinkError) {
        match e {
            LinkError::NotIp => self.not_ip += 1,
            LinkError::UnknownLinkType(t) => {
                self.link_type = Some(t);
                self.link_type_frames += 1;
            }
            LinkError::Truncated | LinkError::TooManyVlanTags => self.short += 1,
        }
    }
}

/// This process's peak resident memory (`VmHWM`), as the kernel counts it.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}

fn print_stats(s: &Stats, extra: &str) {
    let peak = peak_memory().map_or(String::new(), |m| format!("; peak memory {m}"));
    eprintln!(
        "monban detect: {} packets, {} undecodable, {} probes, {} answers matched, \
         {} probes from --allow sources (not judged), {} sources held at the end, \
         {} evicted, {} alerts{extra}{peak}",
        s.packets,
        s.undecodable,
        s.probes,
        s.replies,
        s.allowed_probes,
        s.sources,
        s.evicted,
        s.alerts
    );
}

/// Runs `monban detect`.
pub fn run(plan: DetectPlan, stop: &'static AtomicBool) -> Result<ExitCode> {
    match &plan.input {
        DetectInput::File(path) => {
            let input: Box<dyn Read> = if path.as_os_str() == "-" {
                Box::new(io::stdin().lock())
            } else {
                Box::new(
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
                )
            };
            from_file(&plan, input, path.display().to_string())
        }
        DetectInput::Live(iface) => live(&plan, iface, stop),
        DetectInput::Logs(paths) => from_logs(&plan, paths, stop),
    }
}

/// The year syslog dates are taken to be in: `--year`, else this year (UTC).
pub fn log_year(given: Option<i32>) -> i32 {
    given.unwrap_or_else(|| {
        wall_clock()
            .rfc3339()
            .get(..4)
            .and_then(|y| y.parse().ok())
            .unwrap_or(1970)
    })
}

/// Opens a log input: a file, or stdin for `-`.
pub fn open_log(path: &Path) -> Result<Box<dyn BufRead>> {
    Ok(if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(BufReader::new(
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ))
    })
}

/// A file that, at its end, waits for more instead of ending, and starts over when it was
/// rotated (renamed away and recreated: reopened by name) or truncated (`copytruncate`:
/// shorter than what was read, or rewritten to the same length, which its modification
/// time tells), as `tail -F` does; it ends when `stop` is set.
struct Follow<'a> {
    path: PathBuf,
    file: File,
    pos: u64,
    /// The file's modification time when its end was last reached.
    seen: Option<std::time::SystemTime>,
    stop: &'a AtomicBool,
}

impl Follow<'_> {
    /// Whether the name now points to another file.
    fn replaced(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let (Ok(now), Ok(open)) = (std::fs::metadata(&self.path), self.file.metadata()) else {
            return false;
        };
        now.ino() != open.ino() || now.dev() != open.dev()
    }

    /// Whether the open file was cut and written again since its end was reached.
    fn truncated(&self) -> bool {
        let Ok(m) = self.file.metadata() else {
            return false;
        };
        m.len() < self.pos || (m.len() == self.pos && m.modified().ok() != self.seen)
    }
}

impl Read for Follow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Seek;
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.pos += n as u64;
                // The end will be reached anew: its time is taken then.
                self.seen = None;
                return Ok(n);
            }
            if self.seen.is_none() {
                self.seen = self.file.metadata().and_then(|m| m.modified()).ok();
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(0);
            }
            if self.replaced() {
                // What the writer added to the old file before it was renamed comes first.
                let n = self.file.read(buf)?;
                if n > 0 {
                    self.pos += n as u64;
                    return Ok(n);
                }
                if let Ok(f) = File::open(&self.path) {
                    self.file = f;
                    self.pos = 0;
                    self.seen = None;
                    continue;
                }
            } else if self.truncated() {
                self.file.seek(io::SeekFrom::Start(0))?;
                self.pos = 0;
                self.seen = None;
                continue;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn from_logs(plan: &DetectPlan, paths: &[PathBuf], stop: &AtomicBool) -> Result<ExitCode> {
    let year = log_year(plan.year);
    let mut det = Detector::new(config(plan, plan.home.clone().unwrap_or_default()));
    let mut out = Out::new(plan)?;
    let mut last = Timestamp::ZERO;
    let mut untracked = 0u64;
    let mut all_stats = Vec::new();
    for path in paths {
        let input: Box<dyn BufRead> = if plan.follow {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            Box::new(BufReader::new(Follow {
                path: path.clone(),
                file,
                pos: 0,
                seen: None,
                stop,
            }))
        } else {
            open_log(path)?
        };
        let mut reader = LogReader::new(input, year, plan.format);
        while let Some((_line, rec)) = reader
            .next_record()
            .with_context(|| format!("reading {}", path.display()))?
        {
            // A record without a date or an uptime keeps the last time seen.
            let ts = log::clock(&rec).unwrap_or(last).max(last);
            last = ts;
            match log::to_packet(&rec) {
                Some(p) => det.on_logged(
                    ts,
                    &p,
                    rec.action == log::Action::Allowed,
                    log::syn_or_connect_unknown(&rec),
                ),
                None => untracked += 1,
            }
            out.drain(&mut det)?;
            if stop.load(Ordering::Relaxed) && !plan.follow {
                break;
            }
        }
        all_stats.push((path.display().to_string(), reader.stats().clone()));
    }
    out.finishing = true;
    det.finish();
    out.drain(&mut det)?;
    out.close()?;
    for (name, st) in &all_stats {
        if let Some(w) = st.warning() {
            eprintln!("monban detect: warning: {name}: {w}");
        }
    }
    if plan.stats {
        let lines: Vec<String> = all_stats
            .iter()
            .map(|(name, st)| format!("{name}: {st}"))
            .collect();
        print_stats(
            &det.stats(),
            &format!(
                "; {untracked} records with a masked or missing source (explained, not tracked); {}",
                lines.join("; ")
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn from_file(plan: &DetectPlan, input: Box<dyn Read>, name: String) -> Result<ExitCode> {
    let mut reader = CaptureReader::new(input).with_context(|| name.clone())?;
    let mut det = Detector::new(config(plan, plan.home.clone().unwrap_or_default()));
    let mut out = Out::new(plan)?;
    let mut skipped = Skipped::default();
    let mut cut: Option<CaptureError> = None;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e @ CaptureError::Io(_)) => {
                return Err(e).with_context(|| format!("reading {name}"));
            }
            Err(e) => {
                // Everything before the damage was read: report it, keep the results.
                cut = Some(e);
                break;
            }
        };
        match capture::ip_packet(frame.link, frame.data) {
            Ok(ip) => det.on_packet(frame.ts, ip),
            Err(e) => {
                skipped.note(e);
                det.advance(frame.ts);
            }
        }
        out.drain(&mut det)?;
    }
    out.finishing = true;
    det.finish();
    out.drain(&mut det)?;
    out.close()?;
    let frames = reader.stats().frames;
    if let Some(t) = skipped.link_type {
        eprintln!(
            "monban detect: warning: {} frames of link-layer type {t} skipped: {}",
            skipped.link_type_frames,
            LinkError::UnknownLinkType(t)
        );
    }
    if let Some(e) = &cut {
        eprintln!("monban detect: warning: {name}: {e}");
    }
    if plan.stats {
        print_stats(
            &det.stats(),
            &format!(
                "; {frames} frames read, {} not IP, {} too short, {} of an unknown link type, \
                 {} cut by the snapshot length",
                skipped.not_ip,
                skipped.short,
                skipped.link_type_frames,
                reader.stats().cut_by_snaplen
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn wall_clock() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Timestamp::from_secs_nanos(d.as_secs(), u64::from(d.subsec_nanos()))
}

/// This host's addresses: the default `--home` of a live capture.
fn host_addresses() -> Result<Vec<Net>> {
    let ifs = monban_netio::neighbor::interfaces().context("listing this host's addresses")?;
    Ok(ifs
        .iter()
        .flat_map(|i| i.addrs.iter())
        .map(|a| Net::new(a.addr, 128))
        .collect())
}

fn live(plan: &DetectPlan, iface: &str, stop: &AtomicBool) -> Result<ExitCode> {
    let mut cap = LiveCapture::open(iface, &CaptureOptions::default())?;
    let home = match &plan.home {
        Some(h) => h.clone(),
        None => host_addresses()?,
    };
    if home.is_empty() {
        bail!("this host has no address to protect: give --home NETS");
    }
    let mut det = Detector::new(config(plan, home));
    let mut out = Out::new(plan)?;
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && plan.duration.is_none_or(|d| started.elapsed() < d) {
        cap.next_batch(Duration::from_millis(100), &mut |p| {
            det.on_packet(Timestamp::from_nanos(p.ts_nanos), p.data);
        })?;
        det.advance(wall_clock());
        out.drain(&mut det)?;
    }
    out.finishing = true;
    det.finish();
    out.drain(&mut det)?;
    out.close()?;
    if plan.stats {
        let k = cap.stats()?;
        print_stats(
            &det.stats(),
            &format!(
                "; kernel: {} packets, {} dropped, {} malformed ring entries",
                k.packets, k.drops, k.malformed
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}
