//! `lungdesk batch`: a site's headless pre-read, for its server or a cron job (issue #17).
//!
//! It imports the folders given, pre-reads every case that a model set has not read yet with
//! that set's exact model versions, queues each read once in the store's AI-read outbox, syncs
//! it, and exits. Every read is committed on its own, so the command can be stopped at any
//! moment and run again: what was read is not read again, what was sent is not sent again, and
//! a read cut off half way is done again from the start. On an archive of past scans the
//! service counts each read by the case's exam date, not by the day it was read.

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lungdesk_inference::analysis::Engine;
use lungdesk_inference::cache;
use lungdesk_store::{BUNDLED_SET, Identity, Store};
use lungdesk_volume::{Progress, SeriesInfo, best_for_reading, load_series, scan_files};

/// What `lungdesk batch` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    pub store: PathBuf,
    /// Folders to import first (headers only).
    pub imports: Vec<PathBuf>,
    /// A site's own model sets, each a folder of manifests named by its folder.
    pub models: Vec<PathBuf>,
    /// Leave out the bundled set (only the folders of `models`).
    pub no_bundled: bool,
    /// The dataset service, and the file holding this desk's token.
    pub sync: Option<(String, PathBuf)>,
    /// Neither read nor write the per-series result cache.
    pub no_cache: bool,
}

/// Errors of a batch run, each naming the step or file.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(#[from] lungdesk_store::StoreError),
    #[error("import of {dir}: {source}")]
    Import { dir: PathBuf, source: Box<lungdesk_store::ImportError> },
    #[error(
        "the label store has no reader and site yet: open the desk once (`lungdesk desk --store FILE`) and fill in the first-start form"
    )]
    NoIdentity,
    #[error("model set {set}: the models did not load, so nothing was read with it: {reason}")]
    Models { set: String, reason: String },
    #[error("model folder {0}: its name must be a model set's name (letters, digits, - or _, at most 64)")]
    SetName(PathBuf),
    #[error("model set {0} is given twice")]
    SameSet(String),
    #[error("cannot read the token file {path}: {source}")]
    TokenFile { path: PathBuf, source: std::io::Error },
    #[error("the token file {0} is empty")]
    EmptyToken(PathBuf),
    #[error("sync with the service: {0}")]
    Client(#[from] Box<lungdesk_cloud::ClientError>),
    #[error("sync with the service: {0}")]
    Sync(#[from] Box<crate::sync::SyncError>),
    #[error("cannot write the progress: {0}")]
    Output(#[from] std::io::Error),
    #[error("{failed} of {total} case(s) could not be read (listed above); run again once they are readable")]
    SomeFailed { failed: usize, total: usize },
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub imported_cases: usize,
    /// Reads recorded now, by every set (graded or "cannot grade").
    pub read: usize,
    pub cannot_grade: usize,
    /// Cases that could not be read (files gone, undecodable), with why.
    pub failed: Vec<(i64, String)>,
    /// AI reads the service took in this run.
    pub sent: usize,
}

/// A model set's name from its folder: the folder's own name.
fn set_name(dir: &Path) -> Result<String, BatchError> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let ok = lungdesk_domain::is_model_set_name(name) && name != BUNDLED_SET;
    if ok { Ok(name.to_owned()) } else { Err(BatchError::SetName(dir.to_owned())) }
}

/// The model sets to read with: the bundled one (unless left out), then each folder. A set
/// whose models do not load stops the run before anything is read: the HU baseline is not a
/// model, and its reads never go out as AI reads.
fn model_sets(opts: &BatchOptions) -> Result<Vec<(String, Engine)>, BatchError> {
    let mut sets = Vec::new();
    if !opts.no_bundled {
        sets.push((BUNDLED_SET.to_owned(), Engine::load(None)));
    }
    for dir in &opts.models {
        let name = set_name(dir)?;
        if sets.iter().any(|(n, _)| *n == name) {
            return Err(BatchError::SameSet(name));
        }
        sets.push((name, Engine::load(Some(dir))));
    }
    for (set, engine) in &sets {
        match engine {
            Engine::Baseline { reason } => {
                return Err(BatchError::Models { set: set.clone(), reason: reason.clone() });
            }
            // The version the reads go out under (`AiReadPayload::model_version`) must be one
            // the service takes, or every read of the set would stay home.
            Engine::Models(m) => {
                let version = m.versions().join("+");
                if version.is_empty() || version.len() > 64 || version.chars().any(char::is_control) {
                    return Err(BatchError::Models {
                        set: set.clone(),
                        reason: format!("its model versions together ({version:?}) must be 1–64 printable characters"),
                    });
                }
            }
        }
    }
    Ok(sets)
}

/// A progress line: a bar on a terminal, plain lines (one per case) otherwise.
struct Meter {
    bar: Option<indicatif::ProgressBar>,
}

impl Meter {
    fn new(total: usize, what: &str, out: &mut dyn Write) -> Result<Self, BatchError> {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_owned());
            Ok(Self { bar: Some(bar) })
        } else {
            writeln!(out, "{what}: {total} case(s) to read")?;
            Ok(Self { bar: None })
        }
    }

    fn done(&self, line: &str, out: &mut dyn Write) -> Result<(), BatchError> {
        match &self.bar {
            Some(bar) => {
                bar.set_message(line.to_owned());
                bar.inc(1);
            }
            None => writeln!(out, "  {line}")?,
        }
        Ok(())
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Reads case `case_id` with `engine`: its series for reading ([`best_for_reading`] over what
/// the store holds; headers read and recorded first for a case imported before the store kept
/// them), decoded and analysed. Why not, in words, when the files cannot be read.
/// Reads one stored case with `engine`: its series for reading chosen from the stored headers
/// (scanned again where an older store lacks them), loaded and analysed through the cache.
/// Shared with the desk's background pre-read.
pub(crate) fn read_case(
    store: &mut Store,
    case_id: i64,
    engine: &Engine,
    cache_dir: Option<&Path>,
    progress: &Progress,
) -> Result<Option<lungdesk_store::AiResult>, ReadFailure> {
    let stored = store.case_series_info(case_id)?;
    let mut infos: Vec<SeriesInfo> = stored.iter().map(|s| s.info.clone()).collect();
    if infos.iter().any(|i| i.modality.is_empty()) {
        let all: Vec<PathBuf> = stored.iter().flat_map(|s| s.files.iter().cloned()).filter(|f| f.is_file()).collect();
        let headers = scan_files(Path::new(""), &all, Vec::new(), progress).map_err(case)?;
        infos = headers.series.iter().map(lungdesk_volume::Series::info).filter(SeriesInfo::is_ct).collect();
        store.set_series_info(&infos)?;
    }
    let chosen = best_for_reading(&infos).ok_or_else(|| ReadFailure::Case("the case has no CT series".into()))?;
    let uid = infos[chosen].series_uid.clone();
    let files = stored.iter().find(|s| s.info.series_uid == uid).map(|s| s.files.clone()).unwrap_or_default();
    let missing = files.iter().filter(|f| !f.is_file()).count();
    if missing > 0 {
        return Err(ReadFailure::Case(format!(
            "{missing} of {} files of its series are gone (moved or deleted after import)",
            files.len()
        )));
    }
    let root = files.first().and_then(|f| f.parent()).map(Path::to_owned).unwrap_or_default();
    let report = scan_files(&root, &files, Vec::new(), progress).map_err(case)?;
    let volume = load_series(report.pick(Some(&uid)).map_err(case)?, progress).map_err(case)?;
    let analysis =
        cache::analyze_cached(engine, cache_dir, &uid, &volume.geometry, &volume.voxels_hu, progress).map_err(case)?;
    Ok(crate::ai_text::ai_result(&analysis, &uid))
}

/// Why [`read_case`] gave no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadFailure {
    /// The local store failed (reading the case's series, or saving their headers): nothing
    /// wrong with the case, try again.
    #[error(transparent)]
    Store(#[from] lungdesk_store::StoreError),
    /// This case cannot be read (its files are gone or damaged, its analysis failed or was
    /// cancelled).
    #[error("{0}")]
    Case(String),
}

fn case(e: impl std::fmt::Display) -> ReadFailure {
    ReadFailure::Case(e.to_string())
}

fn read_token(path: &Path) -> Result<String, BatchError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| BatchError::TokenFile { path: path.to_owned(), source })?;
    let token = text.trim().to_owned();
    if token.is_empty() { Err(BatchError::EmptyToken(path.to_owned())) } else { Ok(token) }
}

/// Runs a batch; progress and one line per case on `out`.
pub fn run(opts: &BatchOptions, out: &mut dyn Write) -> Result<BatchSummary, BatchError> {
    // Checked before any work: a bad token file or model folder fails at once.
    let client = match &opts.sync {
        Some((url, token_file)) => Some(
            lungdesk_cloud::Client::new(url, &read_token(token_file)?, Duration::from_secs(30), None)
                .map_err(Box::new)?,
        ),
        None => None,
    };
    let sets = model_sets(opts)?;
    let mut store = Store::open(&opts.store)?;
    let identity: Identity = store.identity()?.ok_or(BatchError::NoIdentity)?;
    let mut summary = BatchSummary::default();
    for dir in &opts.imports {
        let started = Instant::now();
        let report = lungdesk_store::import_folder(&mut store, &identity, dir, &Progress::new())
            .map_err(|source| BatchError::Import { dir: dir.clone(), source: Box::new(source) })?;
        summary.imported_cases += report.new_cases;
        writeln!(out, "import {}: {} in {:.1} s", dir.display(), report.summary(), started.elapsed().as_secs_f64())?;
    }
    // Reads committed before a stop that were not queued yet.
    store.queue_ai_reads(&identity)?;
    let cache_dir = if opts.no_cache { None } else { cache::default_dir() };
    let mut total = 0;
    for (set, engine) in &sets {
        let Engine::Models(models) = engine else { continue };
        let versions = models.versions();
        let todo = store.cases_to_read(set, &versions)?;
        total += todo.len();
        let meter = Meter::new(todo.len(), &format!("model set {set} ({})", versions.join(", ")), out)?;
        for case_id in todo {
            let started = Instant::now();
            let line = match read_case(&mut store, case_id, engine, cache_dir.as_deref(), &Progress::new()) {
                Ok(Some(ai)) => {
                    let what = match (&ai.grade, &ai.cannot_grade) {
                        (Some(g), _) => format!("{} {}", g.number(), g.name()),
                        (None, Some(c)) => format!("cannot grade ({})", c.code),
                        (None, None) => String::new(),
                    };
                    summary.cannot_grade += usize::from(ai.cannot_grade.is_some());
                    store.record_ai_read(case_id, set, &ai)?;
                    store.queue_ai_reads(&identity)?;
                    summary.read += 1;
                    format!("case {case_id}: {what} ({:.1} s)", started.elapsed().as_secs_f64())
                }
                Ok(None) => {
                    summary.failed.push((case_id, "the analysis gave neither a grade nor a reason".into()));
                    format!("case {case_id}: no result")
                }
                // The store failing is the batch failing (restartable: nothing is lost).
                Err(ReadFailure::Store(e)) => return Err(e.into()),
                Err(ReadFailure::Case(why)) => {
                    let line = format!("case {case_id}: not read: {why}");
                    summary.failed.push((case_id, why));
                    line
                }
            };
            meter.done(&line, out)?;
            if meter.bar.is_some() && line.contains("not read") {
                writeln!(out, "{line}")?;
            }
        }
        meter.finish();
    }
    if let Some(client) = &client {
        let (_, sent_before, _) = store.ai_read_summary()?;
        crate::sync::push_ai_reads(&mut store, client, 500).map_err(Box::new)?;
        // The labels confirmed on this desk go too (and other readers' come back).
        crate::sync::pass(&mut store, client, 500).map_err(Box::new)?;
        let (waiting, sent_after, refused) = store.ai_read_summary()?;
        let sent = usize::try_from(sent_after - sent_before).unwrap_or_default();
        summary.sent = sent;
        writeln!(
            out,
            "sync {}: {sent} AI read(s) sent, {waiting} waiting, {refused} refused by the service",
            client.base_url()
        )?;
    }
    writeln!(
        out,
        "{} read ({} cannot grade), {} not read, {} new case(s) imported",
        summary.read,
        summary.cannot_grade,
        summary.failed.len(),
        summary.imported_cases
    )?;
    if !summary.failed.is_empty() {
        return Err(BatchError::SomeFailed { failed: summary.failed.len(), total });
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_set_is_named_by_its_folder_and_never_bundled() {
        assert_eq!(set_name(Path::new("/srv/models/site-v2")).expect("name"), "site-v2");
        for bad in ["/srv/models/bundled", "/srv/models/with space", "/", "/srv/models/a:b"] {
            assert!(matches!(set_name(Path::new(bad)), Err(BatchError::SetName(_))), "{bad}");
        }
    }

    #[test]
    fn an_empty_or_missing_token_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("token");
        std::fs::write(&empty, "\n").expect("write");
        assert!(matches!(read_token(&empty), Err(BatchError::EmptyToken(p)) if p == empty));
        let missing = dir.path().join("none");
        let e = read_token(&missing).expect_err("missing");
        assert!(e.to_string().contains("none"), "{e}");
    }
}
