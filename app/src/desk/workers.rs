//! The desk's background threads. Each worker owns its channel and its thread's handle; a
//! thread that dies turns into an error event; [`Workers::shutdown`] (from
//! `DeskApp::on_exit`) lets the store thread finish every request already queued — a confirm
//! sent by the Enter just before the window closed is committed — and joins every thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;

use lungdesk_store::{CaseRow, Identity, Store, import_folder};
use lungdesk_volume::{Progress, ScanReport, SeriesInfo, best_for_reading, scan_files};

use super::model::FilterKey;
use super::store_jobs::{self, Event, StoreRequest};
use super::worklist_query::{WorklistQuery, filter_rows};
use crate::error::DeskError;
use crate::i18n::{Lang, trf};
use crate::viewer::{Loaded, load_and_upload};

/// Starts a named thread, or says which could not start.
pub(crate) fn spawn(name: &'static str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, DeskError> {
    std::thread::Builder::new().name(name.into()).spawn(f).map_err(|source| DeskError::Spawn { name, source })
}

/// The `lungdesk-store` thread: every read and write of the label store, in order.
#[derive(Debug)]
pub struct StoreWorker {
    tx: Option<Sender<StoreRequest>>,
    thread: Option<JoinHandle<()>>,
    /// Requests sent and not yet answered (the open counts as one).
    pending: usize,
}

impl StoreWorker {
    /// Opens the store at `path` on its thread; [`Event::Opened`] comes first.
    pub fn start(path: PathBuf, events: Sender<Event>) -> Result<Self, DeskError> {
        let (tx, rx) = channel::<StoreRequest>();
        let thread = spawn("lungdesk-store", move || {
            let mut store = match Store::open(&path) {
                Ok(store) => store,
                Err(e) => {
                    let _ = events.send(Event::Opened(Err(e.into())));
                    return;
                }
            };
            let _ = events.send(Event::Opened(store_jobs::open(&store).map_err(DeskError::from)));
            // Every request queued is run, also once nobody listens any more (the desk is
            // closing): the answer is lost, the write is not.
            for request in rx {
                let _ = events.send(request.run(&mut store));
            }
        })?;
        Ok(Self { tx: Some(tx), thread: Some(thread), pending: 1 })
    }

    pub fn send(&mut self, request: StoreRequest) -> Result<(), DeskError> {
        let tx = self.tx.as_ref().ok_or(DeskError::WorkerGone("lungdesk-store"))?;
        tx.send(request).map_err(|_| DeskError::WorkerGone("lungdesk-store"))?;
        self.pending += 1;
        Ok(())
    }

    /// One answer arrived.
    pub fn answered(&mut self) {
        self.pending = self.pending.saturating_sub(1);
    }

    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The thread ended while requests were outstanding (it panicked, or the store closed).
    pub fn died(&self) -> bool {
        self.pending > 0 && self.thread.as_ref().is_some_and(JoinHandle::is_finished)
    }

    /// Lets the thread run what is queued, then joins it.
    pub fn shutdown(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A case's volume as loaded, with every series of the case.
pub struct CaseVolume {
    pub loaded: Loaded,
    /// Every CT series of the case as its headers describe it, in import order.
    pub series: Vec<SeriesInfo>,
    /// The one loaded.
    pub shown: String,
    /// The store lacked these headers (imported by an older build): they are to be recorded.
    pub backfill: bool,
}

impl std::fmt::Debug for CaseVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseVolume")
            .field("series", &self.series.len())
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// A case being read on its thread.
struct CaseLoad {
    case_id: i64,
    /// The series asked for (`None`: the one for reading).
    series: Option<String>,
    progress: Arc<Progress>,
    rx: Receiver<Result<CaseVolume, DeskError>>,
    result: Option<Result<CaseVolume, DeskError>>,
    started: std::time::Instant,
    thread: Option<JoinHandle<()>>,
}

/// The `lungdesk-case` threads: the open case and the next one in the worklist (prefetch).
#[derive(Default)]
pub struct CaseLoader {
    loads: Vec<CaseLoad>,
    /// Loads cancelled and not yet ended, joined at shutdown.
    cancelled: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for CaseLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.loads.iter().map(|l| (l.case_id, l.result.is_some()))).finish()
    }
}

impl CaseLoader {
    /// Keeps (or starts) the loads of `case_id` (its `series`, or the one for reading) and of
    /// `next`'s series for reading, cancelling the others.
    pub fn want(
        &mut self,
        case_id: i64,
        series: Option<String>,
        next: Option<i64>,
        start: impl Fn(
            i64,
            Option<String>,
            Arc<Progress>,
            Sender<Result<CaseVolume, DeskError>>,
        ) -> Result<JoinHandle<()>, DeskError>,
    ) {
        self.cancelled.retain(|t| !t.is_finished());
        self.loads.retain_mut(|l| {
            let keep = (l.case_id == case_id && l.series == series) || (Some(l.case_id) == next && l.series.is_none());
            if !keep {
                l.progress.cancel();
                // The thread sees the cancel at its next step; it is joined at shutdown.
                self.cancelled.extend(l.thread.take());
            }
            keep
        });
        for (id, series) in std::iter::once((case_id, series)).chain(next.map(|n| (n, None))) {
            if self.loads.iter().any(|l| l.case_id == id && l.series == series) {
                continue;
            }
            let progress = Arc::new(Progress::new());
            let (tx, rx) = channel();
            let started = std::time::Instant::now();
            let (thread, result) = match start(id, series.clone(), progress.clone(), tx) {
                Ok(thread) => (Some(thread), None),
                Err(e) => (None, Some(Err(e))),
            };
            self.loads.push(CaseLoad { case_id: id, series, progress, rx, result, started, thread });
        }
    }

    /// Collects finished loads.
    pub fn poll(&mut self) {
        for load in &mut self.loads {
            if load.result.is_none() {
                match load.rx.try_recv() {
                    Ok(result) => load.result = Some(result),
                    Err(TryRecvError::Disconnected) => load.result = Some(Err(DeskError::WorkerGone("lungdesk-case"))),
                    Err(TryRecvError::Empty) => {}
                }
            }
        }
    }

    /// The result for `case_id` if it is in, and when its load started.
    pub fn take(&mut self, case_id: i64) -> Option<(Result<CaseVolume, DeskError>, std::time::Instant)> {
        let i = self.loads.iter().position(|l| l.case_id == case_id && l.result.is_some())?;
        let load = self.loads.remove(i);
        load.result.map(|r| (r, load.started))
    }

    /// Whether the case is being read (or read and not yet shown).
    pub fn has(&self, case_id: i64) -> bool {
        self.loads.iter().any(|l| l.case_id == case_id)
    }

    /// The progress of `case_id`'s load while it runs.
    pub fn progress(&self, case_id: i64) -> Option<f32> {
        self.loads.iter().find(|l| l.case_id == case_id && l.result.is_none()).map(|l| l.progress.fraction())
    }

    pub fn busy(&self) -> bool {
        self.loads.iter().any(|l| l.result.is_none())
    }

    pub fn shutdown(&mut self) {
        for load in &self.loads {
            load.progress.cancel();
        }
        let threads = self.loads.iter_mut().filter_map(|l| l.thread.take()).chain(self.cancelled.drain(..));
        for thread in threads.collect::<Vec<_>>() {
            let _ = thread.join();
        }
        self.loads.clear();
    }
}

/// Reads a case from the files recorded at import: the series `series` or, when none is
/// named, the one for reading ([`best_for_reading`] over what the store holds of each series),
/// uploaded; for the series switcher, the store's record of every series and each one's
/// description from its first file (the store never keeps that free text). A case imported
/// before the store kept series headers has every series' headers read once instead, and
/// recorded (`backfill`).
pub fn load_case(
    store_path: &Path,
    case_id: i64,
    series: Option<&str>,
    progress: &Progress,
    gpu: Option<&(wgpu::Device, wgpu::Queue)>,
    lang: Lang,
) -> Result<CaseVolume, DeskError> {
    let stored = Store::open(store_path).and_then(|s| s.case_series_info(case_id))?;
    let backfill = stored.iter().any(|s| s.info.modality.is_empty());
    let no_report = || ScanReport { root: PathBuf::new(), series: Vec::new(), skipped: Vec::new() };
    // Old rows: every header, once (the headers are recorded); else one file per series.
    let headers = if backfill {
        let all: Vec<PathBuf> = stored.iter().flat_map(|s| s.files.iter().cloned()).filter(|f| f.is_file()).collect();
        scan_files(Path::new(""), &all, Vec::new(), progress).map_err(crate::error::ViewerError::from)?
    } else {
        let firsts: Vec<PathBuf> =
            stored.iter().filter_map(|s| s.files.first().cloned()).filter(|f| f.is_file()).collect();
        scan_files(Path::new(""), &firsts, Vec::new(), &Progress::new()).unwrap_or_else(|_| no_report())
    };
    let infos: Vec<SeriesInfo> = stored
        .iter()
        .filter_map(|s| match headers.find(&s.info.series_uid) {
            Some(read) if backfill => Some(read.info()).filter(SeriesInfo::is_ct),
            read => Some(SeriesInfo {
                description: read.map(|r| r.description.clone()).unwrap_or_default(),
                ..s.info.clone()
            }),
        })
        .collect();
    let chosen = series
        .and_then(|uid| infos.iter().position(|i| i.series_uid == uid))
        .or_else(|| best_for_reading(&infos))
        .ok_or(DeskError::Case(crate::error::ViewerError::Volume(lungdesk_volume::VolumeError::NoImageSeries {
            path: PathBuf::new(),
            why: "the case has no CT series".into(),
        })))?;
    let shown = infos[chosen].series_uid.clone();
    let files = &stored.iter().find(|s| s.info.series_uid == shown).map(|s| s.files.clone()).unwrap_or_default();
    let missing: Vec<&PathBuf> = files.iter().filter(|f| !f.is_file()).collect();
    if let Some(first) = missing.first() {
        return Err(DeskError::FilesGone(trf(
            lang,
            "{missing} of {total} files of this case are gone (first: {first}); moved or deleted after import. Its labels are kept; import the folder again from its new place.",
            &[("missing", &missing.len()), ("total", &files.len()), ("first", &first.display())],
        )));
    }
    let root = files.first().and_then(|f| f.parent()).map(Path::to_owned).unwrap_or_default();
    let report = scan_files(&root, files, Vec::new(), progress).map_err(crate::error::ViewerError::from)?;
    let picked = report.pick(Some(&shown)).map_err(crate::error::ViewerError::from)?;
    let loaded = load_and_upload(picked, progress, gpu)?;
    Ok(CaseVolume { loaded, series: infos, shown, backfill })
}

/// An import on the `lungdesk-import` thread.
pub struct ImportWorker {
    pub what: String,
    pub progress: Arc<Progress>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ImportWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportWorker").field("what", &self.what).finish_non_exhaustive()
    }
}

impl ImportWorker {
    /// Imports `folder` on its own connection to the store; [`Event::Imported`] when done.
    pub fn start(
        store_path: PathBuf,
        folder: PathBuf,
        identity: Identity,
        events: Sender<Event>,
        repaint: Option<egui::Context>,
    ) -> Result<Self, DeskError> {
        let progress = Arc::new(Progress::new());
        let worker_progress = progress.clone();
        let what = folder.display().to_string();
        let thread = spawn("lungdesk-import", move || {
            crate::background::lower_priority();
            // A panic inside the import (a defect; one hostile Patient's Age once did it) must
            // still end the job with its reason, or every later import would say "already
            // running". The store commits per series, so what was imported stays.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut store = Store::open(&store_path)?;
                // The identity as the store holds it now: a site key set meanwhile from the
                // command line (`lungdesk site-key set`) keys what this import adds.
                let identity = store
                    .identity()
                    .ok()
                    .flatten()
                    .filter(|i| i.problems().is_empty() && i.site_code == identity.site_code)
                    .unwrap_or(identity);
                Ok(import_folder(&mut store, &identity, &folder, &worker_progress)?)
            }))
            .unwrap_or_else(|_| Err(DeskError::ImportPanicked(folder.clone())));
            let _ = events.send(Event::Imported(result));
            if let Some(ctx) = repaint {
                ctx.request_repaint();
            }
        })?;
        Ok(Self { what, progress, thread: Some(thread) })
    }

    /// Cancels the import (what it committed stays) and joins it.
    pub fn shutdown(&mut self) {
        self.progress.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Filters and sorts long worklists on the `lungdesk-worklist` thread.
#[derive(Default)]
pub struct FilterWorker {
    job: Option<(FilterKey, Receiver<Vec<usize>>, JoinHandle<()>)>,
}

impl std::fmt::Debug for FilterWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterWorker").field("running", &self.job.is_some()).finish()
    }
}

impl FilterWorker {
    /// The result for `key` once it is in.
    pub fn done(&mut self) -> Option<(FilterKey, Vec<usize>)> {
        let visible = self.job.as_ref()?.1.try_recv().ok()?;
        let (key, _, thread) = self.job.take()?;
        let _ = thread.join();
        Some((key, visible))
    }

    pub fn running_for(&self, key: &FilterKey) -> bool {
        self.job.as_ref().is_some_and(|j| j.0 == *key)
    }

    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Starts filtering `rows` for `key` (replacing a run for an older key).
    pub fn start(
        &mut self,
        key: FilterKey,
        rows: Arc<Vec<CaseRow>>,
        query: WorklistQuery,
        lang: Lang,
        repaint: Option<egui::Context>,
    ) -> Result<(), DeskError> {
        let (tx, rx) = channel();
        let thread = spawn("lungdesk-worklist", move || {
            let _ = tx.send(filter_rows(&rows, &query, lang));
            if let Some(ctx) = repaint {
                ctx.request_repaint();
            }
        })?;
        self.job = Some((key, rx, thread));
        Ok(())
    }

    pub fn shutdown(&mut self) {
        if let Some((_, _, thread)) = self.job.take() {
            let _ = thread.join();
        }
    }
}
