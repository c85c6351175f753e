//! The review desk: the reader's identity, import, the worklist, the review panel with keyboard
//! grading, the disagreements view and label export, around the viewer.
//!
//! The UI thread never touches the disk. The label store lives on the `lungdesk-store` thread
//! (every read and write is a job sent there, its answer an event back); imports run on
//! `lungdesk-import` with their own connection; cases load on `lungdesk-case` threads, the
//! next case in the worklist already while the reader looks at the current one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use egui::{Color32, Key, Modifiers, RichText};
use lungdesk_store::export::export_to_file;
use lungdesk_store::{
    AiCannotGrade, AiResult, CaseRow, CaseStatus, Confusion, Disagreement, DisagreementKind, Finding, Grade,
    HistoryEntry, Identity, ImportReport, Pcr, Review, ReviewDraft, SharedLabel, Store, SyncState, import_folder,
};
use lungdesk_volume::{Progress, scan_files};

use crate::cloud_ui::{CloudAction, CloudPanel};
use crate::i18n::{Lang, tr, trf};
use crate::sync::{SyncEvent, SyncHandle, SyncSettings, SyncTiming};
use crate::viewer::{AnalysisSettings, Loaded, PROGRESS_TICK, Viewer, load_and_upload};

/// A job for the store thread; its result comes back as an event.
type StoreJob = Box<dyn FnOnce(&mut Store) -> Event + Send>;

/// What the store holds at start: identity, language, export folder, worklist.
type Opened = Box<(Option<Identity>, Option<String>, Option<String>, Vec<CaseRow>, Option<SyncSettings>)>;
/// A case's working copy, AI result, history and other readers' labels from the service.
type CaseDetails = Box<(ReviewDraft, Option<AiResult>, Vec<HistoryEntry>, Vec<SharedLabel>)>;

/// What background work reports to the UI thread.
enum Event {
    Opened(Result<Opened, String>),
    IdentitySaved(Result<Identity, String>),
    Worklist(Result<Vec<CaseRow>, String>),
    CaseDetails {
        case_id: i64,
        details: Result<CaseDetails, String>,
    },
    Confirmed {
        case_id: i64,
        result: Result<(Review, Vec<HistoryEntry>, CaseStatus), String>,
    },
    AiStored {
        case_id: i64,
        result: Result<Vec<HistoryEntry>, String>,
    },
    /// A write whose only news is failure (drafts, settings).
    Written(Result<(), String>),
    Imported(Result<ImportReport, String>),
    Disagreements(Result<Box<(Vec<Disagreement>, Confusion)>, String>),
    Exported(Result<(PathBuf, PathBuf, usize), String>),
    SyncStates(Result<HashMap<i64, SyncState>, String>),
    CloudSaved(Result<SyncSettings, String>),
}

/// What the desk shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Review,
    Disagreements,
    Surveillance,
}

/// Worklist columns the reader can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Imported,
    Status,
    ExamDate,
    Age,
    AiGrade,
    Grade,
}

impl SortBy {
    const ALL: [SortBy; 6] =
        [SortBy::Imported, SortBy::Status, SortBy::ExamDate, SortBy::Age, SortBy::AiGrade, SortBy::Grade];
    fn name(self) -> &'static str {
        match self {
            SortBy::Imported => "Import order",
            SortBy::Status => "Status",
            SortBy::ExamDate => "Exam date",
            SortBy::Age => "Age",
            SortBy::AiGrade => "AI grade",
            SortBy::Grade => "Grade",
        }
    }
}

/// The worklist's filter and order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorklistQuery {
    pub text: String,
    pub status: Option<CaseStatus>,
    pub sort: SortBy,
    pub descending: bool,
}

impl Default for WorklistQuery {
    fn default() -> Self {
        Self { text: String::new(), status: None, sort: SortBy::Imported, descending: false }
    }
}

/// Indices of `rows` that pass `query`, in its order.
pub fn filter_rows(rows: &[CaseRow], query: &WorklistQuery, lang: Lang) -> Vec<usize> {
    let needle = query.text.trim().to_lowercase();
    // Which statuses, grades and PCR states match the search text, worked out once.
    let matches = |name: &'static str| !needle.is_empty() && tr(lang, name).to_lowercase().contains(&needle);
    let status_hit = CaseStatus::ALL.map(|s| matches(s.name()));
    let grade_hit = Grade::ALL.map(|g| matches(g.name()));
    let pcr_hit = Pcr::ALL.map(|p| matches(p.name()));
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut out: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| query.status.is_none_or(|s| r.status == s))
        .filter(|(_, r)| {
            needle.is_empty()
                || finder.find(r.case_key.as_bytes()).is_some()
                || r.exam_date.as_deref().is_some_and(|d| finder.find(d.as_bytes()).is_some())
                || status_hit[r.status as usize]
                || r.grade.is_some_and(|g| grade_hit[usize::from(g.number() - 1)])
                || r.pcr.is_some_and(|p| pcr_hit[p as usize])
        })
        .map(|(i, _)| i)
        .collect();
    // One integer key per row (dates as YYYYMMDD), ties broken by import order: the sort
    // compares integers only.
    let key = |r: &CaseRow| -> i64 {
        match query.sort {
            SortBy::Imported => 0,
            SortBy::Status => r.status as i64,
            SortBy::ExamDate => r
                .exam_date
                .as_deref()
                .map_or(0, |d| d.bytes().filter(u8::is_ascii_digit).fold(0i64, |n, b| n * 10 + i64::from(b - b'0'))),
            SortBy::Age => r.age_years.unwrap_or(-1),
            SortBy::AiGrade => r.ai_grade.map_or(9, |g| i64::from(g.number())),
            SortBy::Grade => r.grade.map_or(9, |g| i64::from(g.number())),
        }
    };
    if query.sort != SortBy::Imported {
        let mut keyed: Vec<(i64, i64, usize)> = out.iter().map(|&i| (key(&rows[i]), rows[i].case_id, i)).collect();
        keyed.sort_unstable();
        out = keyed.into_iter().map(|(_, _, i)| i).collect();
    }
    if query.descending {
        out.reverse();
    }
    out
}

/// What a filtered worklist was computed for: query, language, row count.
type FilterKey = (WorklistQuery, Lang, usize);

/// Worklists shorter than this are filtered on the UI thread (well under a millisecond).
const SYNC_FILTER_ROWS: usize = 5_000;

/// The identity form of the first start (and of a store made before site keys, which asks
/// for its key once).
#[derive(Clone, Default)]
pub struct IdentityForm {
    pub identity: Identity,
    /// The site key as typed or pasted (`ldsk1-…`); read into `identity.site_key` on save.
    pub site_key_text: String,
    /// Whether the site key field shows its text (after "New site key", to hand it out).
    pub show_site_key: bool,
    pub problems: Vec<&'static str>,
    pub error: Option<String>,
    pub saving: bool,
}

/// Never the site key: only whether one was typed.
impl std::fmt::Debug for IdentityForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityForm")
            .field("identity", &self.identity)
            .field("site_key_typed", &!self.site_key_text.is_empty())
            .field("problems", &self.problems)
            .field("error", &self.error)
            .field("saving", &self.saving)
            .finish_non_exhaustive()
    }
}

impl IdentityForm {
    /// Reads the typed site key into the identity (an empty field keeps the one it has), then
    /// lists what is wrong.
    fn check(&mut self) {
        let typed = self.site_key_text.trim();
        let mut bad_key = false;
        if !typed.is_empty() {
            match lungdesk_store::SiteKey::parse(typed) {
                Ok(key) => self.identity.site_key = Some(key),
                Err(_) => bad_key = true,
            }
        }
        self.problems = self.identity.problems();
        if bad_key && !self.problems.contains(&"site_key") {
            self.problems.push("site_key");
        }
    }
}

/// Where the desk is.
#[derive(Debug, Clone)]
pub enum Phase {
    /// The store is being opened.
    Opening,
    /// The store cannot be opened; nothing was changed.
    Failed(String),
    /// First start: who is reading.
    Identity(IdentityForm),
    Ready,
}

/// The case on screen.
#[derive(Debug, Clone)]
pub struct OpenCase {
    pub case_id: i64,
    pub draft: ReviewDraft,
    /// Details (draft, AI result, history) have arrived from the store.
    pub loaded: bool,
    pub ai: Option<AiResult>,
    pub history: Vec<HistoryEntry>,
    /// Other readers' labels of this case, pulled from the service (and this reader's own
    /// label as the service holds it).
    pub shared: Vec<SharedLabel>,
    /// The analysis already recorded in the store for this case.
    ai_recorded: bool,
}

/// A case being read on its thread.
struct CaseLoad {
    case_id: i64,
    progress: Arc<Progress>,
    rx: Receiver<Result<Loaded, String>>,
    result: Option<Result<Loaded, String>>,
    started: std::time::Instant,
}

/// An import on its thread.
struct ImportJob {
    what: String,
    progress: Arc<Progress>,
}

/// Message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The review desk.
#[allow(clippy::struct_excessive_bools)] // one-frame UI requests (focus, scroll), not a state machine
pub struct Desk {
    pub viewer: Viewer,
    pub lang: Lang,
    pub phase: Phase,
    pub identity: Option<Identity>,
    pub store_path: PathBuf,
    /// Shared with the worklist filter thread; changed in place with `Arc::make_mut`.
    pub rows: Arc<Vec<CaseRow>>,
    pub query: WorklistQuery,
    /// Indices into `rows`, filtered and sorted.
    pub visible: Vec<usize>,
    visible_for: Option<FilterKey>,
    pub current: Option<OpenCase>,
    pub tab: Tab,
    pub disagreements: Option<(Vec<Disagreement>, Confusion)>,
    pub show_shortcuts: bool,
    pub notice: Option<Notice>,
    pub export_dir: PathBuf,
    pub import_entry: String,
    /// The last import's report.
    pub last_import: Option<ImportReport>,
    /// How long the last case switch took from the key to a shown volume (prefetch hit or not).
    pub last_switch: Option<(std::time::Duration, bool)>,
    store_tx: Option<Sender<StoreJob>>,
    events_tx: Sender<Event>,
    events_rx: Receiver<Event>,
    pending_jobs: usize,
    /// A worklist filter running on its thread, for this query.
    filter_job: Option<(FilterKey, Receiver<Vec<usize>>)>,
    loads: Vec<CaseLoad>,
    import: Option<ImportJob>,
    dialog: Option<Receiver<Option<PathBuf>>>,
    focus_note: bool,
    focus_search: bool,
    scroll_to_current: bool,
    switch_started: Option<std::time::Instant>,
    ctx: Option<egui::Context>,
    /// The dataset service: settings, sync status, surveillance counts.
    pub cloud: CloudPanel,
    /// Per case, its latest label's sync state.
    pub sync_states: HashMap<i64, SyncState>,
    /// Timing of the sync thread (tests shorten it).
    pub sync_timing: SyncTiming,
    sync: Option<SyncHandle>,
    /// The saved sync settings, held back until the identity (with its site key) is complete:
    /// nothing is sent under a case key the site key has not made yet.
    sync_waiting: Option<SyncSettings>,
    sync_tx: Sender<SyncEvent>,
    sync_rx: Receiver<SyncEvent>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("phase", &self.phase)
            .field("rows", &self.rows.len())
            .field("current", &self.current.as_ref().map(|c| c.case_id))
            .finish_non_exhaustive()
    }
}

/// The store file: `LUNGDESK_STORE`, else `$XDG_DATA_HOME/lungdesk/labels.sqlite`.
pub fn default_store_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LUNGDESK_STORE") {
        return PathBuf::from(p);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("lungdesk").join("labels.sqlite")
}

/// Reads a case's largest series from the files recorded at import, and uploads it.
fn load_case(
    store_path: &Path,
    case_id: i64,
    progress: &Progress,
    gpu: Option<&(wgpu::Device, wgpu::Queue)>,
    lang: Lang,
) -> Result<Loaded, String> {
    let series = Store::open(store_path).and_then(|s| s.case_series(case_id)).map_err(|e| e.to_string())?;
    let (series_uid, files) = &series[0];
    let missing: Vec<&PathBuf> = files.iter().filter(|f| !f.is_file()).collect();
    if let Some(first) = missing.first() {
        return Err(trf(
            lang,
            "{missing} of {total} files of this case are gone (first: {first}); moved or deleted after import. Its labels are kept; import the folder again from its new place.",
            &[("missing", &missing.len()), ("total", &files.len()), ("first", &first.display())],
        ));
    }
    let root = files[0].parent().map(Path::to_owned).unwrap_or_default();
    let report = scan_files(&root, files, Vec::new(), progress).map_err(|e| e.to_string())?;
    let series = report.pick(Some(series_uid)).map_err(|e| e.to_string())?;
    load_and_upload(series, progress, gpu)
}

impl Desk {
    /// A desk on the store at `store_path`, drawing with `render_state` (None: no GPU output).
    pub fn new(render_state: Option<egui_wgpu::RenderState>, store_path: PathBuf) -> Self {
        let mut viewer = Viewer::new(render_state);
        viewer.embedded = true;
        let (events_tx, events_rx) = channel();
        let (sync_tx, sync_rx) = channel();
        let export_dir =
            std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from).join("lungdesk-exports");
        let mut desk = Self {
            viewer,
            lang: Lang::En,
            phase: Phase::Opening,
            identity: None,
            store_path,
            rows: Arc::new(Vec::new()),
            query: WorklistQuery::default(),
            visible: Vec::new(),
            visible_for: None,
            current: None,
            tab: Tab::Review,
            disagreements: None,
            show_shortcuts: false,
            notice: None,
            export_dir,
            import_entry: String::new(),
            last_import: None,
            last_switch: None,
            store_tx: None,
            events_tx,
            events_rx,
            pending_jobs: 0,
            filter_job: None,
            loads: Vec::new(),
            import: None,
            dialog: None,
            focus_note: false,
            focus_search: false,
            scroll_to_current: false,
            switch_started: None,
            ctx: None,
            cloud: CloudPanel::default(),
            sync_states: HashMap::new(),
            sync_timing: SyncTiming::default(),
            sync: None,
            sync_waiting: None,
            sync_tx,
            sync_rx,
        };
        desk.start_store_thread();
        desk
    }

    fn start_store_thread(&mut self) {
        let (tx, rx) = channel::<StoreJob>();
        let events = self.events_tx.clone();
        let path = self.store_path.clone();
        let spawned = std::thread::Builder::new().name("lungdesk-store".into()).spawn(move || {
            let opened = Store::open(&path);
            let mut store = match opened {
                Ok(store) => store,
                Err(e) => {
                    let _ = events.send(Event::Opened(Err(e.to_string())));
                    return;
                }
            };
            let first = (|| -> Result<_, lungdesk_store::StoreError> {
                let identity = store.identity()?;
                let language = store.setting("language")?;
                let export_dir = store.setting("export_dir")?;
                let rows = match &identity {
                    Some(i) => store.worklist(&i.reader_id)?,
                    None => Vec::new(),
                };
                let cloud = store.setting(SyncSettings::KEY)?.and_then(|c| serde_json::from_str(&c).ok());
                Ok(Box::new((identity, language, export_dir, rows, cloud)))
            })();
            let _ = events.send(Event::Opened(first.map_err(|e| e.to_string())));
            for job in rx {
                if events.send(job(&mut store)).is_err() {
                    break;
                }
            }
        });
        match spawned {
            Ok(_) => {
                self.store_tx = Some(tx);
                self.pending_jobs += 1; // the open
            }
            Err(e) => self.phase = Phase::Failed(format!("cannot start the store thread: {e}")),
        }
    }

    /// Runs `job` on the store thread.
    fn store_job(&mut self, job: impl FnOnce(&mut Store) -> Event + Send + 'static) {
        let sent = self.store_tx.as_ref().is_some_and(|tx| tx.send(Box::new(job)).is_ok());
        if sent {
            self.pending_jobs += 1;
        } else {
            self.notice = Some(Notice { text: tr(self.lang, "The label store is not open.").into(), error: true });
        }
    }

    /// No store job, import or case load is running (tests wait for this).
    pub fn is_idle(&self) -> bool {
        self.pending_jobs == 0
            && self.filter_job.is_none()
            && self.import.is_none()
            && self.loads.iter().all(|l| l.result.is_some())
            && !self.viewer.is_analysing()
            && !self.viewer.is_loading()
    }

    fn reader(&self) -> String {
        self.identity.as_ref().map(|i| i.reader_id.clone()).unwrap_or_default()
    }

    fn reload_worklist(&mut self) {
        let reader = self.reader();
        self.store_job(move |s| Event::Worklist(s.worklist(&reader).map_err(|e| e.to_string())));
    }

    /// Saves the identity form (on the store thread).
    pub fn save_identity(&mut self) {
        let Phase::Identity(form) = &mut self.phase else { return };
        form.check();
        if !form.problems.is_empty() || form.saving {
            return;
        }
        form.saving = true;
        let identity = form.identity.clone();
        let lang = self.lang.code();
        self.store_job(move |s| {
            let saved = s.set_identity(&identity).and_then(|i| s.set_setting("language", lang).map(|()| i));
            Event::IdentitySaved(saved.map_err(|e| e.to_string()))
        });
    }

    /// Switches the UI language (kept in the store's settings).
    pub fn set_lang(&mut self, lang: Lang) {
        self.lang = lang;
        self.viewer.lang = lang;
        if matches!(self.phase, Phase::Ready) {
            let code = lang.code();
            self.store_job(move |s| Event::Written(s.set_setting("language", code).map_err(|e| e.to_string())));
        }
    }

    // --- import ---

    /// Imports `folder` (one case or a tree of them) on the `lungdesk-import` thread.
    pub fn import(&mut self, folder: &Path) {
        let Some(identity) = self.identity.clone() else { return };
        if self.import.is_some() {
            self.notice = Some(Notice { text: tr(self.lang, "An import is already running.").into(), error: true });
            return;
        }
        let progress = Arc::new(Progress::new());
        let (worker_progress, events, path, ctx) =
            (progress.clone(), self.events_tx.clone(), self.store_path.clone(), self.ctx.clone());
        let worker_folder = folder.to_owned();
        let spawned = std::thread::Builder::new().name("lungdesk-import".into()).spawn(move || {
            // A panic inside the import (a defect; one hostile Patient's Age once did it) must
            // still end the job with its reason, or every later import would say "already
            // running". The store commits per series, so what was imported stays.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Store::open(&path).map_err(|e| e.to_string()).and_then(|mut store| {
                    // The identity as the store holds it now: a site key set meanwhile from the
                    // command line (`lungdesk site-key set`) keys what this import adds.
                    let identity = store
                        .identity()
                        .ok()
                        .flatten()
                        .filter(|i| i.problems().is_empty() && i.site_code == identity.site_code)
                        .unwrap_or(identity);
                    import_folder(&mut store, &identity, &worker_folder, &worker_progress).map_err(|e| e.to_string())
                })
            }))
            .unwrap_or_else(|_| Err(format!("the import of {} stopped on an internal error", worker_folder.display())));
            let _ = events.send(Event::Imported(result));
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        match spawned {
            Ok(_) => self.import = Some(ImportJob { what: folder.display().to_string(), progress }),
            Err(e) => self.notice = Some(Notice { text: format!("cannot start the import thread: {e}"), error: true }),
        }
    }

    /// Opens the system folder dialog for an import, on its own thread.
    pub fn ask_for_import_folder(&mut self) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = channel();
        let title = tr(self.lang, "Import a DICOM folder");
        let spawned = std::thread::Builder::new().name("lungdesk-dialog".into()).spawn(move || {
            let picked =
                std::panic::catch_unwind(|| rfd::FileDialog::new().set_title(title).pick_folder()).unwrap_or(None);
            let _ = tx.send(picked);
        });
        if spawned.is_ok() {
            self.dialog = Some(rx);
        }
    }

    // --- cases ---

    fn row_index(&self, case_id: i64) -> Option<usize> {
        // Rows are in case id order as the store returns them.
        self.rows.binary_search_by_key(&case_id, |r| r.case_id).ok()
    }

    /// The row on screen.
    pub fn current_row(&self) -> Option<&CaseRow> {
        self.current.as_ref().and_then(|c| self.row_index(c.case_id)).map(|i| &self.rows[i])
    }

    /// The case after (`step` 1) or before (−1) the current one in the worklist's order.
    pub fn neighbour(&self, step: isize) -> Option<i64> {
        let position =
            self.current.as_ref().and_then(|c| self.visible.iter().position(|&i| self.rows[i].case_id == c.case_id));
        let next = match position {
            Some(p) => p.checked_add_signed(step)?,
            None => 0,
        };
        self.visible.get(next).map(|&i| self.rows[i].case_id)
    }

    fn spawn_load(&mut self, case_id: i64) {
        if self.loads.iter().any(|l| l.case_id == case_id) {
            return;
        }
        let progress = Arc::new(Progress::new());
        let (tx, rx) = channel();
        let (path, gpu, worker_progress, ctx, lang) =
            (self.store_path.clone(), self.viewer.gpu(), progress.clone(), self.ctx.clone(), self.lang);
        let spawned = std::thread::Builder::new().name("lungdesk-case".into()).spawn(move || {
            let _ = tx.send(load_case(&path, case_id, &worker_progress, gpu.as_ref(), lang));
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        if spawned.is_ok() {
            self.loads.push(CaseLoad { case_id, progress, rx, result: None, started: std::time::Instant::now() });
        }
    }

    /// Opens a case: its volume (from the prefetch when ready), its details from the store;
    /// then prefetches the next case in the worklist.
    pub fn open_case(&mut self, case_id: i64) {
        if self.current.as_ref().is_some_and(|c| c.case_id == case_id) {
            return;
        }
        self.switch_started = Some(std::time::Instant::now());
        self.current = Some(OpenCase {
            case_id,
            draft: ReviewDraft::default(),
            loaded: false,
            ai: None,
            history: Vec::new(),
            shared: Vec::new(),
            ai_recorded: false,
        });
        self.scroll_to_current = true;
        self.viewer.clear(None);
        let reader = self.reader();
        self.store_job(move |s| {
            let details = (|| {
                Ok::<_, lungdesk_store::StoreError>(Box::new((
                    s.working_copy(case_id, &reader)?,
                    s.ai_result(case_id)?,
                    s.history(case_id)?,
                    s.shared_labels(case_id)?,
                )))
            })();
            Event::CaseDetails { case_id, details: details.map_err(|e| e.to_string()) }
        });
        let next = self.neighbour(1);
        // Keep only the loads still wanted, cancelling the others.
        self.loads.retain(|l| {
            let keep = l.case_id == case_id || Some(l.case_id) == next;
            if !keep {
                l.progress.cancel();
            }
            keep
        });
        self.spawn_load(case_id);
        if let Some(next) = next {
            self.spawn_load(next);
        }
        self.show_if_loaded();
    }

    fn show_if_loaded(&mut self) {
        let Some(case_id) = self.current.as_ref().map(|c| c.case_id) else { return };
        let Some(i) = self.loads.iter().position(|l| l.case_id == case_id && l.result.is_some()) else { return };
        let load = self.loads.remove(i);
        let prefetched = self.switch_started.is_some_and(|t| load.started < t);
        match load.result {
            Some(Ok(loaded)) => self.viewer.show_loaded(loaded),
            Some(Err(e)) => self.viewer.clear(Some(e)),
            None => {}
        }
        if let Some(t) = self.switch_started.take() {
            self.last_switch = Some((t.elapsed(), prefetched));
        }
    }

    fn poll_loads(&mut self) {
        for load in &mut self.loads {
            if load.result.is_none() {
                match load.rx.try_recv() {
                    Ok(result) => load.result = Some(result),
                    Err(TryRecvError::Disconnected) => {
                        load.result = Some(Err("the case loader stopped unexpectedly".into()));
                    }
                    Err(TryRecvError::Empty) => {}
                }
            }
        }
        self.show_if_loaded();
    }

    /// The current draft changed: keep it (the store thread saves it as a draft).
    fn draft_changed(&mut self) {
        let Some(case) = &self.current else { return };
        let (case_id, draft, reader) = (case.case_id, case.draft.clone(), self.reader());
        if let Some(i) = self.row_index(case_id)
            && !self.rows[i].status.is_done()
        {
            Arc::make_mut(&mut self.rows)[i].status = CaseStatus::InReview;
        }
        self.store_job(move |s| Event::Written(s.save_draft(case_id, &reader, &draft).map_err(|e| e.to_string())));
    }

    pub fn set_grade(&mut self, grade: Grade) {
        if let Some(c) = &mut self.current {
            c.draft.grade = Some(grade);
            self.draft_changed();
        }
    }

    pub fn set_pcr(&mut self, pcr: Pcr) {
        if let Some(c) = &mut self.current {
            c.draft.pcr = Some(pcr);
            self.draft_changed();
        }
    }

    pub fn toggle_finding(&mut self, finding: Finding) {
        if let Some(c) = &mut self.current {
            c.draft.toggle(finding);
            self.draft_changed();
        }
    }

    /// Applies what a key or a click set: a grade, a PCR status, a finding toggled.
    fn apply(&mut self, grade: Option<Grade>, pcr: Option<Pcr>, finding: Option<Finding>) {
        if let Some(g) = grade {
            self.set_grade(g);
        }
        if let Some(p) = pcr {
            self.set_pcr(p);
        }
        if let Some(f) = finding {
            self.toggle_finding(f);
        }
    }

    /// Confirms the current case (one transaction on the store thread) and opens the next.
    pub fn confirm_and_next(&mut self) {
        let Some(case) = &self.current else { return };
        let Some(identity) = self.identity.clone() else { return };
        if case.draft.grade.is_none() || case.draft.pcr.is_none() {
            self.notice = Some(Notice {
                text: tr(self.lang, "Set the grade (1–4) and the PCR status (P, N, W, X) before confirming.").into(),
                error: true,
            });
            return;
        }
        let (case_id, draft) = (case.case_id, case.draft.clone());
        let next = self.neighbour(1);
        let (grade, pcr) = (draft.grade, draft.pcr);
        self.store_job(move |s| {
            let result = s.confirm(case_id, &identity, &draft).and_then(|review| {
                let history = s.history(case_id)?;
                let status = s.worklist_row(case_id, &identity.reader_id)?.map_or(CaseStatus::Confirmed, |r| r.status);
                Ok((review, history, status))
            });
            Event::Confirmed { case_id, result: result.map_err(|e| e.to_string()) }
        });
        if let Some(i) = self.row_index(case_id) {
            let row = &mut Arc::make_mut(&mut self.rows)[i];
            row.grade = grade;
            row.pcr = pcr;
            if row.status != CaseStatus::NeedsAdjudication {
                row.status = CaseStatus::Confirmed;
            }
        }
        self.visible_for = None;
        // After the last case, the store's answer says so.
        if let Some(next) = next {
            self.open_case(next);
        }
    }

    /// Exports every confirmed label as CSV and JSON into the export folder.
    pub fn export(&mut self) {
        let dir = self.export_dir.clone();
        self.store_job(move |s| {
            let stamp = lungdesk_store::db::now().replace([':', '.'], "-");
            let csv = dir.join(format!("lungdesk-labels-{stamp}.csv"));
            let json = dir.join(format!("lungdesk-labels-{stamp}.json"));
            let result = std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))
                .and_then(|()| export_to_file(s, &csv).map_err(|e| e.to_string()))
                .and_then(|n| export_to_file(s, &json).map(|_| n).map_err(|e| e.to_string()));
            let _ = s.set_setting("export_dir", &dir.to_string_lossy());
            Event::Exported(result.map(|n| (csv, json, n)))
        });
    }

    pub fn show_disagreements(&mut self) {
        self.tab = Tab::Disagreements;
        self.store_job(|s| Event::Disagreements(s.disagreements().map(Box::new).map_err(|e| e.to_string())));
    }

    // --- events ---

    fn poll_events(&mut self) {
        while let Ok(event) = self.events_rx.try_recv() {
            self.pending_jobs = self.pending_jobs.saturating_sub(usize::from(!matches!(event, Event::Imported(_))));
            self.handle(event);
        }
        while let Ok(event) = self.sync_rx.try_recv() {
            match event {
                SyncEvent::Status(status) => {
                    let changed =
                        status.summary != self.cloud.status.summary || status.pulled != self.cloud.status.pulled;
                    self.cloud.status = status;
                    if changed {
                        self.store_job(|s| Event::SyncStates(s.sync_states().map_err(|e| e.to_string())));
                        // Other readers' labels of the open case may have arrived.
                        if let Some(case_id) = self.current.as_ref().map(|c| c.case_id) {
                            self.refresh_shared(case_id);
                        }
                    }
                }
                SyncEvent::Surveillance(counts) => {
                    self.cloud.fetching = false;
                    self.cloud.counts = Some(counts);
                }
            }
        }
    }

    fn refresh_shared(&mut self, case_id: i64) {
        self.store_job(move |s| Event::CaseDetails {
            case_id,
            details: (|| {
                Ok::<_, lungdesk_store::StoreError>(Box::new((
                    ReviewDraft::default(),
                    s.ai_result(case_id)?,
                    s.history(case_id)?,
                    s.shared_labels(case_id)?,
                )))
            })()
            .map_err(|e| e.to_string()),
        });
    }

    /// Starts (or restarts) syncing with the service.
    fn start_sync(&mut self, settings: SyncSettings) {
        self.sync = None; // stops the old thread
        self.cloud.url_entry.clone_from(&settings.url);
        self.cloud.token_entry.clone_from(&settings.token);
        match crate::sync::spawn(
            self.store_path.clone(),
            &settings,
            self.sync_timing,
            self.sync_tx.clone(),
            self.ctx.clone(),
        ) {
            Ok(handle) => {
                self.sync = Some(handle);
                self.cloud.settings = Some(settings);
            }
            Err(e) => self.notice = Some(Notice { text: e, error: true }),
        }
    }

    /// Saves the service's settings in the store and starts syncing.
    pub fn connect_cloud(&mut self, settings: SyncSettings) {
        self.store_job(move |s| {
            let json = serde_json::to_string(&settings).unwrap_or_default();
            Event::CloudSaved(s.set_setting(SyncSettings::KEY, &json).map(|()| settings).map_err(|e| e.to_string()))
        });
    }

    /// Opens the Surveillance tab and fetches the counts.
    pub fn show_surveillance(&mut self) {
        self.tab = Tab::Surveillance;
        self.refresh_surveillance();
    }

    pub fn refresh_surveillance(&mut self) {
        if self.cloud.query.source.is_none() {
            self.cloud.query.source = Some(lungdesk_cloud::Source::Radiologist);
        }
        if let Some(sync) = &self.sync {
            self.cloud.fetching = true;
            sync.fetch_surveillance(self.cloud.query.clone());
        }
    }

    /// The sync thread is running.
    pub fn is_syncing(&self) -> bool {
        self.sync.is_some()
    }

    #[allow(clippy::too_many_lines)] // one arm per event
    fn handle(&mut self, event: Event) {
        let lang = self.lang;
        match event {
            Event::Opened(Ok(opened)) => {
                let (identity, language, export_dir, rows, cloud) = *opened;
                if let Some(l) = language.as_deref().and_then(Lang::from_code) {
                    self.lang = l;
                    self.viewer.lang = l;
                }
                if let Some(dir) = export_dir {
                    self.export_dir = PathBuf::from(dir);
                }
                self.rows = Arc::new(rows);
                self.visible_for = None;
                // A store made before site keys holds an identity without one: the form asks
                // for the key once, with the rest filled in.
                match identity {
                    Some(identity) if identity.problems().is_empty() => {
                        self.phase = Phase::Ready;
                        self.identity = Some(identity);
                    }
                    other => {
                        self.phase = Phase::Identity(IdentityForm {
                            identity: other.unwrap_or_default(),
                            ..IdentityForm::default()
                        });
                        self.identity = None;
                    }
                }
                if let Some(settings) = cloud {
                    if self.identity.is_some() {
                        self.start_sync(settings);
                    } else {
                        self.sync_waiting = Some(settings);
                    }
                }
            }
            Event::Opened(Err(e)) => self.phase = Phase::Failed(e),
            Event::IdentitySaved(Ok(identity)) => {
                self.identity = Some(identity);
                self.phase = Phase::Ready;
                self.reload_worklist();
                if let Some(settings) = self.sync_waiting.take() {
                    self.start_sync(settings);
                }
            }
            Event::IdentitySaved(Err(e)) => {
                if let Phase::Identity(form) = &mut self.phase {
                    form.saving = false;
                    form.error = Some(e);
                }
            }
            Event::Worklist(Ok(rows)) => {
                self.rows = Arc::new(rows);
                self.visible_for = None;
            }
            Event::CaseDetails { case_id, details } => match details {
                Ok(details) => {
                    if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
                        let (draft, ai, history, shared) = *details;
                        c.shared = shared;
                        // Keys pressed before the details arrived win over the stored copy.
                        if c.draft == ReviewDraft::default() {
                            c.draft = draft;
                        }
                        c.ai = ai;
                        c.history = history;
                        c.loaded = true;
                    }
                }
                Err(e) => self.notice = Some(Notice { text: e, error: true }),
            },
            Event::Confirmed { case_id, result } => match result {
                Ok((review, history, status)) => {
                    if let Some(sync) = &self.sync {
                        sync.wake();
                    }
                    self.sync_states.insert(case_id, SyncState::Pending { error: None });
                    if let Some(i) = self.row_index(case_id) {
                        let row = &mut Arc::make_mut(&mut self.rows)[i];
                        (row.grade, row.pcr, row.revision, row.status) =
                            (Some(review.grade), Some(review.pcr), Some(review.revision), status);
                    }
                    if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
                        c.history = history;
                    }
                    self.visible_for = None;
                    let last =
                        self.current.as_ref().is_some_and(|c| c.case_id == case_id) && self.neighbour(1).is_none();
                    self.notice = Some(Notice {
                        text: trf(
                            lang,
                            "Saved: case {key}, grade {grade}, {pcr} (revision {revision}).",
                            &[
                                (
                                    "key",
                                    &self.row_index(case_id).map(|i| self.rows[i].case_key.clone()).unwrap_or_default(),
                                ),
                                ("grade", &review.grade.number()),
                                ("pcr", &tr(lang, review.pcr.name())),
                                ("revision", &review.revision),
                            ],
                        ) + if last { tr(lang, " That was the last case in the list.") } else { "" },
                        error: false,
                    });
                }
                Err(e) => {
                    self.notice = Some(Notice { text: trf(lang, "Not saved: {error}", &[("error", &e)]), error: true });
                    self.reload_worklist();
                }
            },
            Event::SyncStates(Ok(states)) => self.sync_states = states,
            Event::CloudSaved(Ok(settings)) => {
                self.start_sync(settings);
                self.refresh_surveillance();
            }
            Event::AiStored { case_id, result } => match result {
                Ok(history) => {
                    if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
                        c.history = history;
                    }
                }
                Err(e) => self.notice = Some(Notice { text: e, error: true }),
            },
            Event::Written(Ok(())) => {}
            Event::Imported(result) => {
                self.import = None;
                match result {
                    Ok(report) => {
                        self.notice = Some(Notice { text: import_summary(lang, &report), error: false });
                        self.last_import = Some(report);
                    }
                    Err(e) => self.notice = Some(Notice { text: e, error: true }),
                }
                self.reload_worklist();
            }
            Event::Disagreements(Ok(d)) => self.disagreements = Some(*d),
            Event::Disagreements(Err(e))
            | Event::Worklist(Err(e))
            | Event::Written(Err(e))
            | Event::SyncStates(Err(e))
            | Event::CloudSaved(Err(e)) => {
                self.notice = Some(Notice { text: e, error: true });
            }
            Event::Exported(Ok((csv, json, n))) => {
                self.notice = Some(Notice {
                    text: trf(
                        lang,
                        "Exported {n} label(s) to {csv} and {json}",
                        &[("n", &n), ("csv", &csv.display()), ("json", &json.display())],
                    ),
                    error: false,
                });
            }
            Event::Exported(Err(e)) => {
                self.notice = Some(Notice { text: trf(lang, "Export failed: {error}", &[("error", &e)]), error: true });
            }
        }
    }

    /// Records a newly arrived analysis of the current case in the store.
    fn record_analysis(&mut self) {
        let Some(case) = &self.current else { return };
        if case.ai_recorded || !case.loaded {
            return;
        }
        let Some(a) = &self.viewer.analysis else { return };
        let grade = a.prediction.as_ref().and_then(|p| Grade::from_number(p.grade as i64));
        let cannot_grade = a
            .cannot_grade
            .as_ref()
            .map(|c| AiCannotGrade { code: c.code.as_str().to_owned(), reason: c.reason.clone() });
        if grade.is_none() && cannot_grade.is_none() {
            return;
        }
        let ai = AiResult {
            series_uid: self.viewer.volume.as_ref().map(|v| v.series_uid.clone()).unwrap_or_default(),
            grade,
            cannot_grade: cannot_grade.clone(),
            scores: a.prediction.as_ref().map_or([0.0; 4], |p| p.scores),
            explanation: crate::ai_text::explanation(Lang::En, a),
            method: a.method.clone(),
            models: a.models.clone(),
        };
        let case_id = case.case_id;
        if let Some(c) = &mut self.current {
            c.ai_recorded = true;
            c.ai = Some(ai.clone());
        }
        if let Some(i) = self.row_index(case_id) {
            let row = &mut Arc::make_mut(&mut self.rows)[i];
            row.ai_grade = grade;
            row.ai_cannot_grade = cannot_grade.map(|c| c.code);
            if row.status == CaseStatus::New {
                row.status = CaseStatus::AiDone;
            }
        }
        self.store_job(move |s| {
            let result = s.set_ai_result(case_id, &ai).and_then(|()| s.history(case_id));
            Event::AiStored { case_id, result: result.map_err(|e| e.to_string()) }
        });
    }

    /// Brings `visible` up to date with the query: at once for short lists; for long ones on
    /// the `lungdesk-worklist` thread, showing the previous result until the new one arrives,
    /// so that no frame waits for a filter or sort of 100,000 rows.
    fn refresh_visible(&mut self) {
        if let Some(job) = &self.filter_job
            && let Ok(visible) = job.1.try_recv()
        {
            let (key, _) = self.filter_job.take().expect("checked above");
            self.visible = visible;
            self.visible_for = Some(key);
        }
        let key = (self.query.clone(), self.lang, self.rows.len());
        if self.visible_for.as_ref() == Some(&key) || self.filter_job.as_ref().is_some_and(|j| j.0 == key) {
            return;
        }
        if self.rows.len() < SYNC_FILTER_ROWS {
            self.visible = filter_rows(&self.rows, &self.query, self.lang);
            self.visible_for = Some(key);
            self.filter_job = None;
            return;
        }
        let (tx, rx) = channel();
        let (rows, query, lang, ctx) = (self.rows.clone(), self.query.clone(), self.lang, self.ctx.clone());
        let spawned = std::thread::Builder::new().name("lungdesk-worklist".into()).spawn(move || {
            let _ = tx.send(filter_rows(&rows, &query, lang));
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        if spawned.is_ok() {
            self.filter_job = Some((key, rx));
        } else {
            self.visible = filter_rows(&self.rows, &self.query, self.lang);
            self.visible_for = Some(key);
        }
        // Until the new order arrives, keep only indices that still exist.
        let n = self.rows.len();
        self.visible.retain(|&i| i < n);
    }

    // --- keys ---

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.key_pressed(Key::F1)) {
            self.show_shortcuts = !self.show_shortcuts;
        }
        if ctx.input(|i| i.key_pressed(Key::F2)) {
            self.set_lang(self.lang.other());
        }
        if ctx.input(|i| i.key_pressed(Key::Escape)) {
            self.show_shortcuts = false;
            ctx.memory_mut(|m| {
                if let Some(id) = m.focused() {
                    m.surrender_focus(id);
                }
            });
        }
        if ctx.egui_wants_keyboard_input() {
            return; // typing in the note or a search field, IME composition included
        }
        let mut grade = None;
        let mut pcr = None;
        let mut finding = None;
        let (mut confirm, mut step, mut note, mut search, mut import, mut export, mut sheet) =
            (false, 0isize, false, false, false, false, false);
        let (mut review_tab, mut disagreements_tab, mut cycle_status, mut cycle_sort) = (false, false, false, false);
        let mut surveillance_tab = false;
        ctx.input_mut(|i| {
            for (n, key) in
                [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7].into_iter().enumerate()
            {
                if i.consume_key(Modifiers::COMMAND, key) {
                    finding = Finding::ALL.get(n).copied();
                } else if n < 4 && i.consume_key(Modifiers::NONE, key) {
                    grade = Grade::ALL.get(n).copied();
                }
            }
            for (key, value) in
                [(Key::P, Pcr::Positive), (Key::N, Pcr::Negative), (Key::W, Pcr::Pending), (Key::X, Pcr::NotTested)]
            {
                if i.consume_key(Modifiers::NONE, key) {
                    pcr = Some(value);
                }
            }
            confirm = i.consume_key(Modifiers::NONE, Key::Enter);
            if i.consume_key(Modifiers::NONE, Key::J) {
                step = 1;
            }
            if i.consume_key(Modifiers::NONE, Key::K) {
                step = -1;
            }
            note = i.consume_key(Modifiers::NONE, Key::I);
            search = i.consume_key(Modifiers::COMMAND, Key::F);
            import = i.consume_key(Modifiers::COMMAND, Key::I) || i.consume_key(Modifiers::COMMAND, Key::O);
            export = i.consume_key(Modifiers::COMMAND, Key::E);
            sheet = i.consume_key(Modifiers::NONE, Key::Questionmark) || i.consume_key(Modifiers::SHIFT, Key::Slash);
            review_tab = i.consume_key(Modifiers::NONE, Key::F3);
            disagreements_tab = i.consume_key(Modifiers::NONE, Key::F4);
            surveillance_tab = i.consume_key(Modifiers::NONE, Key::F7);
            cycle_status = i.consume_key(Modifiers::NONE, Key::F5);
            cycle_sort = i.consume_key(Modifiers::NONE, Key::F6);
        });
        self.apply(grade, pcr, finding);
        if confirm {
            self.confirm_and_next();
        }
        if step != 0
            && let Some(case_id) = self.neighbour(step)
        {
            self.open_case(case_id);
        }
        self.focus_note |= note && self.current.is_some();
        self.focus_search |= search;
        if import {
            self.ask_for_import_folder();
        }
        if export {
            self.export();
        }
        if sheet {
            self.show_shortcuts = !self.show_shortcuts;
        }
        if review_tab {
            self.tab = Tab::Review;
        }
        if disagreements_tab {
            self.show_disagreements();
        }
        if surveillance_tab {
            self.show_surveillance();
        }
        if cycle_status {
            let all: Vec<Option<CaseStatus>> = std::iter::once(None).chain(CaseStatus::ALL.map(Some)).collect();
            let at = all.iter().position(|s| *s == self.query.status).unwrap_or(0);
            self.query.status = all[(at + 1) % all.len()];
        }
        if cycle_sort {
            let at = SortBy::ALL.iter().position(|s| *s == self.query.sort).unwrap_or(0);
            self.query.sort = SortBy::ALL[(at + 1) % SortBy::ALL.len()];
        }
    }

    fn poll_dialog(&mut self) {
        let Some(rx) = &self.dialog else { return };
        match rx.try_recv() {
            Ok(picked) => {
                self.dialog = None;
                if let Some(folder) = picked {
                    self.import(&folder);
                }
            }
            Err(TryRecvError::Disconnected) => self.dialog = None,
            Err(TryRecvError::Empty) => {}
        }
    }

    // --- drawing ---

    /// Draws the desk into `ui`.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.ctx.get_or_insert_with(|| ctx.clone());
        self.poll_events();
        self.poll_loads();
        self.poll_dialog();
        if self.pending_jobs > 0
            || self.import.is_some()
            || self.filter_job.is_some()
            || self.loads.iter().any(|l| l.result.is_none())
        {
            ctx.request_repaint_after(if self.import.is_some() {
                PROGRESS_TICK
            } else {
                std::time::Duration::from_millis(30)
            });
        }
        match self.phase.clone() {
            Phase::Opening => {
                ui.centered_and_justified(|ui| ui.label(tr(self.lang, "Opening the label store…")));
                return;
            }
            Phase::Failed(e) => {
                ui.vertical_centered(|ui| {
                    ui.heading(tr(self.lang, "The label store cannot be opened"));
                    ui.colored_label(Color32::from_rgb(255, 120, 100), e);
                    ui.label(trf(
                        self.lang,
                        "File: {path}. Nothing in it was changed.",
                        &[("path", &self.store_path.display())],
                    ));
                });
                return;
            }
            Phase::Identity(_) => {
                self.identity_ui(ui);
                return;
            }
            Phase::Ready => {}
        }
        self.handle_keys(&ctx);
        for file in ctx.input(|i| i.raw.dropped_files.clone()) {
            self.import(file.path());
        }
        self.record_analysis();
        self.refresh_visible();
        self.top_bar(ui);
        egui::Panel::left("worklist").resizable(true).default_size(430.0).show(ui, |ui| self.worklist_ui(ui));
        match self.tab {
            Tab::Review => {
                if self.current.is_some() {
                    egui::Panel::right("review").resizable(false).exact_size(320.0).show(ui, |ui| {
                        egui::ScrollArea::vertical().show(ui, |ui| {
                            self.review_ui(ui);
                            ui.separator();
                            self.viewer.analysis_panel(ui);
                        });
                    });
                    self.viewer.ui(ui);
                    if self.viewer.volume.is_none() {
                        self.case_loading_ui(ui);
                    }
                } else {
                    ui.centered_and_justified(|ui| {
                        ui.label(if self.rows.is_empty() {
                            tr(
                                self.lang,
                                "No cases yet. Import a DICOM folder: Ctrl+I, drop it here, or type its path above.",
                            )
                        } else {
                            tr(self.lang, "Choose a case in the worklist, or press J for the first one.")
                        });
                    });
                }
            }
            Tab::Disagreements => self.disagreements_ui(ui),
            Tab::Surveillance => match crate::cloud_ui::surveillance_ui(ui, self.lang, &mut self.cloud) {
                Some(CloudAction::Connect(settings)) => self.connect_cloud(settings),
                Some(CloudAction::Refresh) => self.refresh_surveillance(),
                Some(CloudAction::SyncNow) => {
                    if let Some(sync) = &self.sync {
                        sync.wake();
                    }
                }
                None => {}
            },
        }
        if self.show_shortcuts {
            self.shortcut_sheet(&ctx);
        }
    }

    fn case_loading_ui(&self, ui: &mut egui::Ui) {
        let Some(case) = &self.current else { return };
        if let Some(load) = self.loads.iter().find(|l| l.case_id == case.case_id && l.result.is_none()) {
            ui.horizontal(|ui| {
                ui.label(tr(self.lang, "Reading the case…"));
                ui.add(egui::ProgressBar::new(load.progress.fraction()).desired_width(240.0).show_percentage());
            });
        }
    }

    fn identity_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let mut save = false;
        let mut switch = None;
        ui.vertical_centered(|ui| {
            ui.add_space(40.0);
            ui.heading(tr(lang, "Welcome to LungDesk"));
            ui.label(tr(
                lang,
                "Who is reading? This is kept in the label store's settings and goes with every label you confirm.",
            ));
            ui.add_space(12.0);
        });
        let Phase::Identity(form) = &mut self.phase else { return };
        egui::Grid::new("identity").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
            for (field, label, hint) in [
                ("reader_id", "Reader id", "specialist number, e.g. R-0042"),
                ("display_name", "Display name", "e.g. 山田 花子"),
                ("site_code", "Site code", "letters, digits, - and _"),
                ("postal_code", "Facility postal code", "7 digits, e.g. 466-8560"),
            ] {
                ui.label(tr(lang, label));
                let value = match field {
                    "reader_id" => &mut form.identity.reader_id,
                    "display_name" => &mut form.identity.display_name,
                    "site_code" => &mut form.identity.site_code,
                    _ => &mut form.identity.postal_code,
                };
                let response = ui.add(egui::TextEdit::singleline(value).hint_text(tr(lang, hint)).desired_width(280.0));
                if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                    save = true;
                }
                if form.problems.contains(&field) {
                    ui.colored_label(Color32::from_rgb(255, 120, 100), tr(lang, "required; check the format"));
                }
                ui.end_row();
            }
            ui.label(tr(lang, "Site key"));
            if site_key_row(ui, form, lang) {
                save = true;
            }
            ui.end_row();
            ui.label(tr(lang, "Language"));
            ui.horizontal(|ui| {
                for l in [Lang::En, Lang::Ja] {
                    if ui.selectable_label(lang == l, l.name()).clicked() {
                        switch = Some(l);
                    }
                }
            });
            ui.end_row();
        });
        if let Some(e) = &form.error {
            ui.colored_label(Color32::from_rgb(255, 120, 100), e);
        }
        if ui.button(tr(lang, "Save and start (Enter)")).clicked() {
            save = true;
        }
        if let Some(l) = switch {
            self.set_lang(l);
        }
        if save {
            self.save_identity();
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.horizontal_wrapped(|ui| {
            if ui.selectable_label(self.tab == Tab::Review, tr(lang, "Review (F3)")).clicked() {
                self.tab = Tab::Review;
            }
            if ui.selectable_label(self.tab == Tab::Disagreements, tr(lang, "Disagreements (F4)")).clicked() {
                self.show_disagreements();
            }
            if ui.selectable_label(self.tab == Tab::Surveillance, tr(lang, "Surveillance (F7)")).clicked() {
                self.show_surveillance();
            }
            ui.separator();
            if ui.button(tr(lang, "Import folder… (Ctrl+I)")).clicked() {
                self.ask_for_import_folder();
            }
            let response = ui.add(
                egui::TextEdit::singleline(&mut self.import_entry)
                    .desired_width(240.0)
                    .hint_text(tr(lang, "or type a folder path, Enter")),
            );
            if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) && !self.import_entry.trim().is_empty()
            {
                let folder = PathBuf::from(self.import_entry.trim());
                self.import(&folder);
            }
            if let Some(job) = &self.import {
                ui.label(trf(lang, "Importing {what}", &[("what", &job.what)]));
                ui.add(egui::ProgressBar::new(job.progress.fraction()).desired_width(160.0).show_percentage());
                if ui.button(tr(lang, "Cancel")).clicked() {
                    job.progress.cancel();
                }
            }
            ui.separator();
            if ui.button(tr(lang, "Export labels (Ctrl+E)")).clicked() {
                self.export();
            }
            // The export folder, editable; Enter exports there.
            let mut folder = self.export_dir.display().to_string();
            let response = ui
                .add(egui::TextEdit::singleline(&mut folder).desired_width(180.0))
                .on_hover_text(tr(lang, "Export folder: CSV and JSON are written here (Enter exports)"));
            if response.changed() {
                self.export_dir = PathBuf::from(folder);
            }
            if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                self.export();
            }
            ui.separator();
            if ui.button(format!("{} (F2)", lang.other().name())).clicked() {
                self.set_lang(lang.other());
            }
            if ui.button(tr(lang, "Shortcuts (F1)")).clicked() {
                self.show_shortcuts = !self.show_shortcuts;
            }
            if let Some(i) = &self.identity {
                ui.weak(format!("{} · {} · {}", i.display_name, i.reader_id, i.site_code));
            }
            ui.separator();
            let (line, color) = crate::cloud_ui::status_line(lang, &self.cloud);
            if ui.add(egui::Label::new(RichText::new(line).color(color)).sense(egui::Sense::click())).clicked() {
                self.show_surveillance();
            }
        });
        if let Some(n) = &self.notice {
            let color = if n.error { Color32::from_rgb(255, 120, 100) } else { Color32::from_rgb(140, 220, 140) };
            ui.colored_label(color, &n.text);
        }
        ui.separator();
    }

    #[allow(clippy::too_many_lines)] // header, filters and the table, in drawing order
    fn worklist_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let done = self.rows.iter().filter(|r| r.status.is_done()).count();
        let total = self.rows.len();
        ui.horizontal(|ui| {
            ui.heading(tr(lang, "Worklist"));
            ui.label(trf(lang, "{done} of {total} done", &[("done", &done), ("total", &total)]));
        });
        ui.add(egui::ProgressBar::new(if total == 0 { 0.0 } else { done as f32 / total as f32 }).desired_height(6.0));
        ui.horizontal(|ui| {
            let search = ui.add(
                egui::TextEdit::singleline(&mut self.query.text)
                    .hint_text(tr(lang, "search (Ctrl+F): key, date, status, grade"))
                    .desired_width(200.0),
            );
            if std::mem::take(&mut self.focus_search) {
                search.request_focus();
            }
            egui::ComboBox::new("status_filter", tr(lang, "Status"))
                .selected_text(self.query.status.map_or(tr(lang, "All (F5)"), |s| tr(lang, s.name())))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.query.status, None, tr(lang, "All (F5)"));
                    for s in CaseStatus::ALL {
                        ui.selectable_value(&mut self.query.status, Some(s), tr(lang, s.name()));
                    }
                });
        });
        ui.horizontal(|ui| {
            egui::ComboBox::new("sort", tr(lang, "Sort (F6):"))
                .selected_text(tr(lang, self.query.sort.name()))
                .show_ui(ui, |ui| {
                    for s in SortBy::ALL {
                        ui.selectable_value(&mut self.query.sort, s, tr(lang, s.name()));
                    }
                });
            let arrow = if self.query.descending { "↓" } else { "↑" };
            if ui.button(arrow).clicked() {
                self.query.descending = !self.query.descending;
            }
            ui.weak(trf(lang, "{shown} shown", &[("shown", &self.visible.len())]));
        });
        self.refresh_visible();
        let current = self.current.as_ref().map(|c| c.case_id);
        let scroll_to = if std::mem::take(&mut self.scroll_to_current) {
            current.and_then(|id| self.visible.iter().position(|&i| self.rows[i].case_id == id))
        } else {
            None
        };
        let mut clicked = None;
        let mut table = egui_extras::TableBuilder::new(ui)
            .striped(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(egui_extras::Column::exact(112.0))
            .column(egui_extras::Column::exact(78.0))
            .column(egui_extras::Column::exact(64.0))
            .column(egui_extras::Column::exact(26.0))
            .column(egui_extras::Column::exact(44.0))
            .column(egui_extras::Column::exact(64.0))
            .column(egui_extras::Column::remainder());
        if let Some(row) = scroll_to {
            table = table.scroll_to_row(row, None);
        }
        table
            .header(18.0, |mut header| {
                for name in ["Status", "Exam date", "Age/sex", "AI", "Grade", "PCR", "Sync"] {
                    header.col(|ui| {
                        ui.strong(tr(lang, name));
                    });
                }
            })
            .body(|body| {
                body.rows(18.0, self.visible.len(), |mut row| {
                    let r = &self.rows[self.visible[row.index()]];
                    row.set_selected(Some(r.case_id) == current);
                    row.col(|ui| {
                        ui.label(RichText::new(tr(lang, r.status.name())).color(status_color(r.status)));
                    });
                    row.col(|ui| {
                        ui.label(r.exam_date.as_deref().unwrap_or("—"));
                    });
                    row.col(|ui| {
                        ui.label(format!(
                            "{}{}",
                            r.age_years.map_or("—".into(), |a| a.to_string()),
                            r.sex.as_deref().unwrap_or("")
                        ));
                    });
                    row.col(|ui| {
                        ui.label(crate::ai_text::ai_grade_cell(lang, r));
                    });
                    row.col(|ui| {
                        ui.strong(r.grade.map_or("—".into(), |g| g.number().to_string()));
                    });
                    row.col(|ui| {
                        ui.label(r.pcr.map_or("—", |p| tr(lang, pcr_short(p))));
                    });
                    row.col(|ui| {
                        let (mark, color) = crate::cloud_ui::sync_mark(lang, self.sync_states.get(&r.case_id));
                        ui.label(RichText::new(mark).color(color));
                    });
                    if row.response().clicked() {
                        clicked = Some(r.case_id);
                    }
                });
            });
        if let Some(case_id) = clicked {
            self.open_case(case_id);
        }
    }

    fn review_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let Some(row) = self.current_row().cloned() else { return };
        let Some(case) = self.current.clone() else { return };
        ui.heading(trf(lang, "Case {key}", &[("key", &row.case_key)]));
        ui.label(format!(
            "{} · {} · {} · {}",
            row.exam_date.as_deref().unwrap_or("—"),
            row.age_years.map_or_else(|| "—".to_owned(), |a| trf(lang, "{age} y", &[("age", &a)])),
            row.sex.as_deref().unwrap_or("—"),
            tr(lang, row.status.name())
        ));
        if let Some(ai) = &case.ai {
            match (ai.grade, &ai.cannot_grade) {
                (Some(g), _) => {
                    ui.label(trf(
                        lang,
                        "AI grade: {grade} {name}",
                        &[("grade", &g.number()), ("name", &tr(lang, g.name()))],
                    ));
                }
                (None, Some(c)) => {
                    ui.label(format!(
                        "{}: — {}",
                        tr(lang, "AI grade"),
                        crate::ai_text::cannot_grade_reason(lang, &c.code, &c.reason)
                    ));
                }
                (None, None) => {}
            }
        }
        ui.separator();
        ui.strong(tr(lang, "RSNA grade (1–4)"));
        let mut grade = None;
        for g in Grade::ALL {
            let text = format!("{}  {}", g.number(), tr(lang, g.name()));
            if ui.selectable_label(case.draft.grade == Some(g), text).clicked() {
                grade = Some(g);
            }
        }
        ui.strong(tr(lang, "PCR (P N W X)"));
        let mut pcr = None;
        ui.horizontal_wrapped(|ui| {
            for (p, key) in [(Pcr::Positive, "P"), (Pcr::Negative, "N"), (Pcr::Pending, "W"), (Pcr::NotTested, "X")] {
                if ui.selectable_label(case.draft.pcr == Some(p), format!("{key} {}", tr(lang, p.name()))).clicked() {
                    pcr = Some(p);
                }
            }
        });
        ui.strong(tr(lang, "Findings (Ctrl+1–7)"));
        let mut finding = None;
        for (n, f) in Finding::ALL.into_iter().enumerate() {
            let mut on = case.draft.findings.contains(&f);
            if ui.checkbox(&mut on, format!("{} {}", n + 1, tr(lang, f.name()))).changed() {
                finding = Some(f);
            }
        }
        ui.strong(tr(lang, "Note (I; Esc to leave)"));
        let mut note = case.draft.note.clone();
        let response = ui.add(
            egui::TextEdit::multiline(&mut note)
                .desired_rows(3)
                .desired_width(f32::INFINITY)
                .hint_text(tr(lang, "kept in this site's store only; never exported or synced")),
        );
        if std::mem::take(&mut self.focus_note) {
            response.request_focus();
        }
        let note_changed = note != case.draft.note;
        ui.add_space(6.0);
        let confirm = ui.button(RichText::new(tr(lang, "Confirm and next (Enter)")).strong()).clicked();
        if let Some(r) = row.revision {
            ui.weak(trf(lang, "Confirmed revision {revision}", &[("revision", &r)]));
        }
        self.sync_ui(ui, &case, row.revision);
        if !case.history.is_empty() {
            egui::CollapsingHeader::new(tr(lang, "History")).default_open(false).show(ui, |ui| {
                for h in case.history.iter().rev().take(30) {
                    ui.weak(format!(
                        "{} {} {}: {} → {}",
                        h.at.get(..19).unwrap_or(&h.at),
                        h.reader_id,
                        tr(lang, history_field(&h.field)),
                        h.old.as_deref().unwrap_or("—"),
                        h.new.as_deref().unwrap_or("—")
                    ));
                }
            });
        }
        self.apply(grade, pcr, finding);
        if note_changed {
            if let Some(c) = &mut self.current {
                c.draft.note = note;
            }
            self.draft_changed();
        }
        if confirm {
            self.confirm_and_next();
        }
    }

    /// This case's sync state, conflicts, and what other readers said (from the service).
    fn sync_ui(&self, ui: &mut egui::Ui, case: &OpenCase, local_revision: Option<i64>) {
        let lang = self.lang;
        match self.sync_states.get(&case.case_id) {
            Some(SyncState::Sent) => {
                ui.weak(tr(lang, "Synced to the dataset service."));
            }
            Some(SyncState::Pending { error }) => {
                ui.weak(match error {
                    Some(e) => trf(lang, "Waiting to sync ({error}).", &[("error", e)]),
                    None => tr(lang, "Waiting to sync.").to_owned(),
                });
            }
            Some(SyncState::Conflict(why)) => {
                ui.colored_label(
                    Color32::from_rgb(255, 120, 100),
                    trf(lang, "Sync conflict: {why}. Confirm again to send a new revision.", &[("why", why)]),
                );
            }
            None => {}
        }
        let me = self.reader();
        // This reader's label as the service holds it, newer than here: made at another desk.
        if let Some(mine) = case.shared.iter().find(|l| l.reader_id == me)
            && local_revision.is_some_and(|r| mine.revision > r)
        {
            ui.colored_label(
                Color32::from_rgb(255, 120, 100),
                trf(
                    lang,
                    "Conflict: the service has your revision {theirs} (grade {grade}) from another desk; this desk has revision {ours}.",
                    &[("theirs", &mine.revision), ("grade", &mine.grade), ("ours", &local_revision.unwrap_or(0))],
                ),
            );
        }
        let others: Vec<&SharedLabel> = case.shared.iter().filter(|l| l.reader_id != me).collect();
        if !others.is_empty() {
            ui.strong(tr(lang, "Other readers (from the service)"));
            for l in others {
                let text =
                    crate::cloud_ui::other_reader_text(lang, &l.reader_id, l.grade, tr(lang, l.pcr.name()), l.revision);
                if case.draft.grade.is_some_and(|g| g.number() != l.grade) {
                    ui.label(text.color(Color32::from_rgb(255, 170, 90)));
                } else {
                    ui.label(text);
                }
            }
        }
    }

    fn disagreements_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.heading(tr(lang, "Disagreements"));
        let Some((list, confusion)) = &self.disagreements else {
            ui.label(tr(lang, "Reading the label store…"));
            return;
        };
        let reader_vs_ai = list.iter().filter(|d| d.kind == DisagreementKind::ReaderVsAi).count();
        let pcr_vs_grade = list.iter().filter(|d| d.kind == DisagreementKind::PcrVsGrade).count();
        ui.label(trf(
            lang,
            "Reader grade differs from the AI: {a}. PCR contradicts the grade: {b}. Agreement: {agree} of {total} reviews with an AI result; {without} without.",
            &[
                ("a", &reader_vs_ai),
                ("b", &pcr_vs_grade),
                ("agree", &confusion.agreeing()),
                ("total", &confusion.total()),
                ("without", &confusion.without_ai),
            ],
        ));
        ui.add_space(8.0);
        ui.strong(tr(lang, "AI grade (rows) against reader grade (columns)"));
        egui::Grid::new("confusion").striped(true).min_col_width(60.0).show(ui, |ui| {
            ui.label("");
            for g in Grade::ALL {
                ui.strong(format!("{} {}", g.number(), tr(lang, g.name())));
            }
            ui.end_row();
            for (a, row) in Grade::ALL.iter().zip(confusion.counts) {
                ui.strong(format!("AI {} {}", a.number(), tr(lang, a.name())));
                for (r, n) in row.iter().enumerate() {
                    let text = RichText::new(n.to_string());
                    ui.label(if usize::from(a.number() - 1) == r { text.strong() } else { text });
                }
                ui.end_row();
            }
        });
        ui.add_space(8.0);
        let mut open = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("disagreement_list").striped(true).show(ui, |ui| {
                for name in ["Case", "Reader", "Kind", "AI", "Grade", "PCR"] {
                    ui.strong(tr(lang, name));
                }
                ui.end_row();
                for d in list.iter().take(2000) {
                    if ui.link(&d.case_key).clicked() {
                        open = Some(d.case_id);
                    }
                    ui.label(&d.reader_id);
                    ui.label(tr(
                        lang,
                        match d.kind {
                            DisagreementKind::ReaderVsAi => "reader ≠ AI",
                            DisagreementKind::PcrVsGrade => "PCR vs grade",
                        },
                    ));
                    ui.label(d.ai_grade.map_or("—".into(), |g| g.number().to_string()));
                    ui.label(d.grade.number().to_string());
                    ui.label(tr(lang, d.pcr.name()));
                    ui.end_row();
                }
            });
        });
        if let Some(case_id) = open {
            self.tab = Tab::Review;
            self.open_case(case_id);
        }
    }

    fn shortcut_sheet(&mut self, ctx: &egui::Context) {
        let lang = self.lang;
        let mut open = true;
        egui::Window::new(tr(lang, "Keyboard shortcuts"))
            .open(&mut open)
            .collapsible(false)
            .default_width(520.0)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts").striped(true).num_columns(2).show(ui, |ui| {
                    for (keys, what) in SHORTCUTS {
                        ui.monospace(*keys);
                        ui.label(tr(lang, what));
                        ui.end_row();
                    }
                });
            });
        self.show_shortcuts &= open;
    }
}

/// Every key of the desk and the viewer, as the shortcut sheet lists them.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("1 2 3 4", "Grade: typical, indeterminate, atypical, negative for pneumonia"),
    ("P N W X", "PCR: positive, negative, pending, not tested"),
    ("Ctrl+1 … Ctrl+7", "Toggle a finding (in the order listed)"),
    ("I", "Write in the note (Esc leaves it)"),
    ("Enter", "Confirm and open the next case"),
    ("J / K", "Next / previous case without confirming"),
    ("Ctrl+F", "Search the worklist"),
    ("F5 / F6", "Cycle the status filter / the sort order"),
    ("F3 / F4", "Review / disagreements"),
    ("F7", "Surveillance: counts from the dataset service (again: refresh)"),
    ("Ctrl+I", "Import a folder"),
    ("Ctrl+E", "Export labels (CSV and JSON)"),
    ("F2", "English / Japanese"),
    ("F1 / ?", "This sheet"),
    ("↑ ↓  PgUp PgDn", "Previous / next slice in the view under the pointer (or the mouse wheel)"),
    ("L M B", "Window: lung, mediastinum, bone"),
    ("O / U", "Overlay on or off / outline"),
    ("S", "Slab: thin, MIP, MinIP"),
    ("F", "Maximise the view under the pointer"),
    ("A", "Run the AI pre-read again"),
    ("Esc", "Close this sheet, leave a text field"),
];

fn status_color(s: CaseStatus) -> Color32 {
    match s {
        CaseStatus::New => Color32::from_gray(200),
        CaseStatus::AiDone => Color32::from_rgb(140, 180, 255),
        CaseStatus::InReview => Color32::from_rgb(255, 210, 110),
        CaseStatus::Confirmed => Color32::from_rgb(130, 220, 130),
        CaseStatus::NeedsAdjudication => Color32::from_rgb(255, 130, 110),
    }
}

fn pcr_short(p: Pcr) -> &'static str {
    match p {
        Pcr::Positive => "pos",
        Pcr::Negative => "neg",
        Pcr::Pending => "pending",
        Pcr::NotTested => "not tested",
    }
}

fn history_field(field: &str) -> &'static str {
    match field {
        "grade" => "grade",
        "pcr" => "PCR",
        "findings" => "findings",
        "note" => "note",
        "ai_grade" => "AI grade",
        _ => "other",
    }
}

/// The import report in the reader's language.
pub fn import_summary(lang: Lang, r: &ImportReport) -> String {
    let mut s = trf(
        lang,
        "Imported: {cases} new case(s), {series} new series, {already} already imported.",
        &[("cases", &r.new_cases), ("series", &r.new_series), ("already", &r.already_imported)],
    );
    if !r.not_ct.is_empty() {
        let modalities: std::collections::BTreeSet<&str> = r.not_ct.iter().map(|(m, _)| m.as_str()).collect();
        s.push(' ');
        s += &trf(
            lang,
            "Skipped {n} series that are not CT ({modalities}).",
            &[
                ("n", &r.not_ct.len()),
                (
                    "modalities",
                    &modalities.into_iter().map(|m| if m.is_empty() { "?" } else { m }).collect::<Vec<_>>().join(", "),
                ),
            ],
        );
    }
    if r.skipped_files > 0 {
        s.push(' ');
        s += &trf(lang, "{n} file(s) are not CT images and were left out.", &[("n", &r.skipped_files)]);
    }
    s
}

/// The eframe application: the desk filling the window.
#[derive(Debug)]
pub struct DeskApp {
    pub desk: Desk,
}

impl DeskApp {
    pub fn new(cc: &eframe::CreationContext<'_>, store_path: PathBuf, import: Option<PathBuf>) -> Self {
        crate::fonts::install(&cc.egui_ctx);
        let mut desk = Desk::new(cc.wgpu_render_state.clone(), store_path);
        desk.viewer.analysis_settings = AnalysisSettings::user_default();
        if let Some(folder) = import {
            desk.import_entry = folder.display().to_string();
        }
        Self { desk }
    }
}

impl eframe::App for DeskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| self.desk.ui(ui));
    }
}

/// The identity form's site key row: the key (hidden unless just made), "New site key", and
/// the key's fingerprint. Returns whether Enter was pressed in the field.
fn site_key_row(ui: &mut egui::Ui, form: &mut IdentityForm, lang: Lang) -> bool {
    let mut save = false;
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            let response = ui.add(
                egui::TextEdit::singleline(&mut form.site_key_text)
                    .password(!form.show_site_key)
                    .hint_text(tr(lang, "ldsk1-… from your site admin"))
                    .desired_width(280.0),
            );
            if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                save = true;
            }
            if ui
                .button(tr(lang, "New site key"))
                .on_hover_text(tr(
                    lang,
                    "Only for the first desk of a site: makes the key that every other desk of the site must then be given.",
                ))
                .clicked()
            {
                match lungdesk_store::SiteKey::generate() {
                    Ok(key) => {
                        form.site_key_text = key.reveal();
                        form.show_site_key = true;
                    }
                    Err(e) => form.error = Some(e.to_string()),
                }
            }
        });
        let typed = lungdesk_store::SiteKey::parse(&form.site_key_text).ok();
        if let Some(key) = typed.as_ref().or(form.identity.site_key.as_ref()) {
            ui.weak(trf(lang, "fingerprint {fingerprint}: the same on every desk of the site", &[(
                "fingerprint",
                &key.fingerprint(),
            )]));
        } else {
            ui.weak(tr(
                lang,
                "Keys the case keys, so that a study cannot be linked to its labels without it. Never sent.",
            ));
        }
        if form.problems.contains(&"site_key") {
            ui.colored_label(
                Color32::from_rgb(255, 120, 100),
                tr(lang, "required: ldsk1- followed by 64 hex digits, as your site admin gave it"),
            );
        }
    });
    save
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case_id: i64, date: &str, status: CaseStatus, grade: Option<Grade>) -> CaseRow {
        CaseRow {
            case_id,
            case_key: format!("{case_id:016x}"),
            exam_date: Some(date.into()),
            age_years: Some(40 + case_id),
            sex: Some("F".into()),
            slices: 10,
            status,
            ai_grade: None,
            ai_cannot_grade: None,
            grade,
            pcr: None,
            revision: None,
        }
    }

    #[test]
    fn the_worklist_filters_by_text_status_and_sorts() {
        let rows = vec![
            row(1, "2026-04-03", CaseStatus::New, None),
            row(2, "2026-04-01", CaseStatus::Confirmed, Some(Grade::Typical)),
            row(3, "2026-05-02", CaseStatus::Confirmed, Some(Grade::Atypical)),
            row(4, "2026-04-02", CaseStatus::InReview, None),
        ];
        let q = |text: &str, status, sort, descending| WorklistQuery { text: text.into(), status, sort, descending };
        assert_eq!(filter_rows(&rows, &WorklistQuery::default(), Lang::En), vec![0, 1, 2, 3]);
        assert_eq!(filter_rows(&rows, &q("2026-04", None, SortBy::ExamDate, false), Lang::En), vec![1, 3, 0]);
        assert_eq!(filter_rows(&rows, &q("", None, SortBy::ExamDate, true), Lang::En), vec![2, 0, 3, 1]);
        assert_eq!(
            filter_rows(&rows, &q("", Some(CaseStatus::Confirmed), SortBy::Imported, false), Lang::En),
            vec![1, 2]
        );
        assert_eq!(filter_rows(&rows, &q("typical", None, SortBy::Imported, false), Lang::En), vec![1, 2]);
        assert_eq!(filter_rows(&rows, &q("atyp", None, SortBy::Imported, false), Lang::En), vec![2]);
        assert_eq!(filter_rows(&rows, &q("確定", None, SortBy::Imported, false), Lang::Ja), vec![1, 2]);
        assert_eq!(filter_rows(&rows, &q("", None, SortBy::Age, true), Lang::En), vec![3, 2, 1, 0]);
    }
}
