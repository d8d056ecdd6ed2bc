//! `monban diff`: reads two scans, compares them (`monban_output::diff`), writes what
//! changed.
//!
//! Exit status, as `diff` and nmap's `ndiff`: 0 when the scans do not differ, 1 when they
//! do, 2 on trouble. Trouble is reported here, on stderr as `monban diff: ...`, and comes
//! back as `Ok(2)`: the binary's own error path exits 1, which would read as "differ".

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use monban_output::diff as scandiff;
use monban_output::read::ScanFile;

use crate::cli::diff::{DiffFormat, DiffPlan, Side};

/// Exit status: the scans differ.
const EXIT_DIFFERENT: u8 = 1;
/// Exit status: a file could not be read, or the output not written.
const EXIT_TROUBLE: u8 = 2;

/// How a path is named in messages (control characters escaped).
pub(crate) fn shown(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        monban_output::safe_text(&path.display().to_string())
    }
}

/// Reads scan `which` (A or B) from `path`.
fn scan_file(which: &str, path: &Path) -> Result<ScanFile> {
    let bytes = crate::files::read_bounded(path, crate::files::MAX_INPUT_FILE)
        .with_context(|| format!("cannot read {which} ({})", shown(path)))?;
    let scan = monban_output::read::read(&bytes).with_context(|| {
        format!(
            "{which} ({}) is not a scan monban reads (nmap or monban XML, monban JSON Lines)",
            shown(path)
        )
    })?;
    if scan.truncated {
        eprintln!(
            "monban diff: warning: {which} ({}) was cut short (an interrupted scan): only its complete hosts are compared",
            shown(path)
        );
    }
    Ok(scan)
}

/// The database of stored scans.
pub fn open_store(db: Option<&str>) -> Result<monban_store::Store> {
    let spec = match db {
        Some(d) => d.to_string(),
        None => monban_store::default_path()
            .context("no home directory for the default database; give --db FILE")?
            .display()
            .to_string(),
    };
    if !spec.contains("://") {
        anyhow::ensure!(
            Path::new(&spec).exists(),
            "no scan history at {spec} (store scans with monban scan --db)"
        );
    }
    monban_store::Store::open(&spec).with_context(|| format!("database {spec}"))
}

/// Stored scan `id` as a scan file.
fn stored(store: &mut monban_store::Store, which: &str, id: i64) -> Result<ScanFile> {
    let scan = store
        .load(id)?
        .with_context(|| format!("{which}: no stored scan {id} (monban history lists them)"))?;
    Ok(scan.to_scan_file())
}

/// The store, opened on first need.
fn lazily<'a>(
    store: &'a mut Option<monban_store::Store>,
    db: &Option<String>,
) -> Result<&'a mut monban_store::Store> {
    if store.is_none() {
        *store = Some(open_store(db.as_deref())?);
    }
    store.as_mut().context("the database")
}

/// One side: read or loaded.
fn one(
    which: &str,
    side: &Side,
    store: &mut Option<monban_store::Store>,
    db: &Option<String>,
) -> Result<ScanFile> {
    match side {
        Side::File(p) => scan_file(which, p),
        Side::Stored(id) => stored(lazily(store, db)?, which, *id),
    }
}

/// The two scans to compare, read or loaded.
fn sides(plan: &DiffPlan) -> Result<(ScanFile, ScanFile)> {
    let mut store = None;
    match plan.sides.as_slice() {
        [a, b] => Ok((
            one("A", a, &mut store, &plan.db)?,
            one("B", b, &mut store, &plan.db)?,
        )),
        [Side::Stored(id)] => {
            let s = lazily(&mut store, &plan.db)?;
            let before = s
                .previous(*id)?
                .with_context(|| format!("no scan of the same targets before scan {id}"))?;
            Ok((stored(s, "A", before)?, stored(s, "B", *id)?))
        }
        _ => {
            let s = lazily(&mut store, &plan.db)?;
            let newest = s
                .history(None)?
                .first()
                .map(|h| h.id)
                .context("the history is empty (store scans with monban scan --db)")?;
            let before = s.previous(newest)?.with_context(|| {
                format!("no scan of the same targets before the newest, {newest}")
            })?;
            Ok((stored(s, "A", before)?, stored(s, "B", newest)?))
        }
    }
}

/// Reads, compares, renders; the text to print and whether the scans differ.
fn compare(plan: &DiffPlan) -> Result<(String, bool)> {
    let (a, b) = sides(plan)?;
    let mut d = scandiff::diff(&a, &b);
    if plan.states_only {
        d = d.states_only();
    }
    let out = match plan.format {
        DiffFormat::Text => scandiff::text(&d, &a, &b),
        DiffFormat::Json => scandiff::json(&d, &a, &b),
        DiffFormat::Xml => scandiff::xml(&d, &a, &b),
    };
    Ok((out, !d.is_empty()))
}

/// Runs `monban diff`: exit 0 when the scans do not differ, 1 when they do, 2 on trouble
/// (reported on stderr here; never an `Err`).
pub fn run(plan: DiffPlan) -> Result<ExitCode> {
    let (out, differ) = match compare(&plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("monban diff: {e:#}");
            return Ok(ExitCode::from(EXIT_TROUBLE));
        }
    };
    let answer = if differ {
        ExitCode::from(EXIT_DIFFERENT)
    } else {
        ExitCode::SUCCESS
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(answer),
        // The reader went away (`monban diff a b | head`): the answer stands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(answer),
        Err(e) => {
            eprintln!("monban diff: cannot write the differences: {e}");
            Ok(ExitCode::from(EXIT_TROUBLE))
        }
    }
}
