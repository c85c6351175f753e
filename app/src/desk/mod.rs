//! The review desk: the reader's identity, import, the worklist, the review panel with keyboard
//! grading, the disagreements view and label export, around the viewer.
//!
//! - [`model::DeskModel`]: the state and its rules, no toolkit code; [`action::Action`] in,
//!   [`action::Job`]s out; worker reports in through `on_event`.
//! - [`keymap`]: the one key table (key handling and the F1 sheet).
//! - [`workers`]: the store thread (every read and write, in order), case loads with
//!   prefetch, import, worklist filter; [`store_jobs`]: what the store thread runs.
//! - [`panels`]: one file per panel, each drawing from the model and returning actions.
//!
//! The UI thread never touches the disk or the network, and never waits on a worker.

pub mod action;
mod events;
pub mod identity;
pub mod keymap;
pub mod model;
pub mod panels;
pub mod preread;
pub mod store_jobs;
pub mod workers;
pub mod worklist_query;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use lungdesk_store::ImportReport;

pub use action::{Action, Job};
pub use identity::IdentityForm;
pub use model::{DeskModel, Notice, OpenCase, Phase, Tab};
pub use worklist_query::{SortBy, WorklistQuery, filter_rows};

use self::panels::FrameRequests;
use self::store_jobs::Event;
use self::workers::{CaseLoader, FilterWorker, ImportWorker, StoreWorker, load_case};
use crate::dialog::FolderDialog;
use crate::i18n::{Lang, tr, trf};
use crate::sync::{SyncEvent, SyncHandle, SyncTiming};
use crate::theme;
use crate::viewer::{AnalysisSettings, PROGRESS_TICK, Viewer};

/// The worklist panel's width when it has room (every column shows), and its least.
const WORKLIST_WIDTH: f32 = 560.0;
const WORKLIST_MIN_WIDTH: f32 = 330.0;
/// The review panel's width.
const REVIEW_WIDTH: f32 = 320.0;
/// What the worklist leaves the viewer at least, when dragged wide.
const VIEWER_MIN_WIDTH: f32 = 320.0;

/// Worklists shorter than this are filtered on the UI thread (well under a millisecond).
const SYNC_FILTER_ROWS: usize = 5_000;

/// The review desk: the model, the workers, the viewer.
pub struct Desk {
    pub viewer: Viewer,
    model: DeskModel,
    store: Option<StoreWorker>,
    loads: CaseLoader,
    import: Option<ImportWorker>,
    filter: FilterWorker,
    dialog: FolderDialog,
    events_tx: Sender<Event>,
    events_rx: Receiver<Event>,
    sync: Option<SyncHandle>,
    sync_tx: Sender<SyncEvent>,
    sync_rx: Receiver<SyncEvent>,
    preread: Option<preread::PrereadWorker>,
    preread_tx: Sender<preread::PrereadEvent>,
    preread_rx: Receiver<preread::PrereadEvent>,
    /// The pre-read waits this long after the reader's last key, click or scroll (and while a
    /// case loads or its AI runs), so that it never competes with the reader's work.
    pub preread_idle_after: Duration,
    last_input: Instant,
    /// Timing of the sync thread (tests shorten it).
    pub sync_timing: SyncTiming,
    frame: FrameRequests,
    switch_started: Option<Instant>,
    /// How long the last case switch took from the key to a shown volume, and whether the
    /// case had been prefetched.
    last_switch: Option<(Duration, bool)>,
    ctx: Option<egui::Context>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("phase", &self.model.phase)
            .field("rows", &self.model.rows.len())
            .field("current", &self.model.current.as_ref().map(|c| c.case_id))
            .field("loads", &self.loads)
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

impl Desk {
    /// A desk on the store at `store_path`, drawing with `render_state` (None: no GPU output).
    pub fn new(render_state: Option<egui_wgpu::RenderState>, store_path: PathBuf) -> Self {
        let mut viewer = Viewer::new(render_state);
        viewer.embedded = true;
        let (events_tx, events_rx) = channel();
        let (sync_tx, sync_rx) = channel();
        let (preread_tx, preread_rx) = channel();
        let export_dir =
            std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from).join("lungdesk-exports");
        let mut model = DeskModel::new(store_path.clone(), export_dir);
        let store = match StoreWorker::start(store_path, events_tx.clone()) {
            Ok(store) => Some(store),
            Err(e) => {
                model.phase = Phase::Failed(e.to_string());
                None
            }
        };
        Self {
            viewer,
            model,
            store,
            loads: CaseLoader::default(),
            import: None,
            filter: FilterWorker::default(),
            dialog: FolderDialog::default(),
            events_tx,
            events_rx,
            sync: None,
            sync_tx,
            sync_rx,
            preread: None,
            preread_tx,
            preread_rx,
            preread_idle_after: Duration::from_secs(10),
            last_input: Instant::now(),
            sync_timing: SyncTiming::default(),
            frame: FrameRequests::default(),
            switch_started: None,
            last_switch: None,
            ctx: None,
        }
    }

    /// The desk's state.
    pub fn model(&self) -> &DeskModel {
        &self.model
    }

    /// How long the last case switch took, and whether the case was prefetched.
    pub fn last_switch(&self) -> Option<(Duration, bool)> {
        self.last_switch
    }

    /// Starts the background pre-read of every imported case (the app does; tests that want
    /// it call this). It uses the viewer's engine and cache.
    pub fn start_preread(&mut self) {
        let settings = self.viewer.analysis_settings.clone();
        let paused = self.reader_working();
        match preread::PrereadWorker::start(self.model.store_path.clone(), &settings, paused, self.preread_tx.clone()) {
            Ok(worker) => self.preread = Some(worker),
            Err(e) => self.model.preread.stopped = Some(e.to_string()),
        }
    }

    /// Imports `dir` once the desk is ready: at once if it is, else after the store opens or
    /// the identity is entered (`lungdesk desk --import DIR`).
    pub fn import_when_ready(&mut self, dir: PathBuf) {
        if matches!(self.model.phase, Phase::Ready) {
            self.apply(Action::Import(dir));
        } else {
            self.model.import_when_ready = Some(dir);
        }
    }

    /// The reader is at work: a key, click or scroll within [`Desk::preread_idle_after`], or a
    /// case loading or being analysed.
    fn reader_working(&self) -> bool {
        self.last_input.elapsed() < self.preread_idle_after || self.loads.busy() || self.viewer.is_busy()
    }

    /// The sync thread is running.
    pub fn is_syncing(&self) -> bool {
        self.sync.is_some()
    }

    /// No store request, import, filter or case load is running (tests wait for this).
    pub fn is_idle(&self) -> bool {
        self.store.as_ref().is_none_or(|s| s.pending() == 0)
            && !self.filter.busy()
            && self.import.is_none()
            && !self.loads.busy()
            && !self.viewer.is_busy()
    }

    /// Edits the identity form as `edit` does (as typing into it would), through
    /// [`Action::EditIdentity`]. Nothing happens outside the identity phase.
    pub fn edit_identity(&mut self, edit: impl FnOnce(&mut IdentityForm)) {
        let Phase::Identity(form) = &self.model.phase else { return };
        let mut form = form.clone();
        edit(&mut form);
        self.apply(Action::EditIdentity(Box::new(form)));
    }

    /// Carries out `action` and the work it needs.
    pub fn apply(&mut self, action: Action) {
        let jobs = self.model.apply(action);
        self.run(jobs);
    }

    fn run(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            self.run_one(job);
        }
    }

    fn run_one(&mut self, job: Job) {
        match job {
            Job::Store(request) => {
                let sent = self.store.as_mut().map(|s| s.send(request));
                if !matches!(sent, Some(Ok(()))) {
                    self.model.notice = Some(Notice::translated(self.model.lang, true, |lang| {
                        tr(lang, "The label store is not open.").to_owned()
                    }));
                }
            }
            Job::LoadCase { case_id, series, next } => {
                self.switch_started = Some(Instant::now());
                self.viewer.clear(None);
                let (path, gpu, ctx, lang) =
                    (self.model.store_path.clone(), self.viewer.gpu(), self.ctx.clone(), self.model.lang);
                self.loads.want(case_id, series, next, |id, series, progress, tx| {
                    let (path, gpu, ctx) = (path.clone(), gpu.clone(), ctx.clone());
                    workers::spawn("lungdesk-case", move || {
                        crate::background::lower_priority();
                        let _ = tx.send(load_case(&path, id, series.as_deref(), &progress, gpu.as_ref(), lang));
                        if let Some(ctx) = ctx {
                            ctx.request_repaint();
                        }
                    })
                });
                self.show_if_loaded();
            }
            Job::Import { folder, identity } => {
                let started = ImportWorker::start(
                    self.model.store_path.clone(),
                    folder,
                    *identity,
                    self.events_tx.clone(),
                    self.ctx.clone(),
                );
                match started {
                    Ok(worker) => self.import = Some(worker),
                    Err(e) => {
                        self.model.importing = None;
                        self.model.notice = Some(Notice::error(e.to_string()));
                    }
                }
            }
            Job::AskImportFolder => {
                if let Err(e) = self.dialog.open(tr(self.model.lang, "Import a DICOM folder")) {
                    self.model.notice = Some(Notice::error(e.to_string()));
                }
            }
            Job::CancelImport => {
                if let Some(import) = &self.import {
                    import.progress.cancel();
                }
            }
            Job::StartSync(settings) => {
                self.sync = None; // stops the old thread
                match crate::sync::spawn(
                    self.model.store_path.clone(),
                    &settings,
                    self.sync_timing,
                    self.sync_tx.clone(),
                    self.ctx.clone(),
                ) {
                    Ok(handle) => self.sync = Some(handle),
                    Err(e) => {
                        let jobs = self.model.on_sync(SyncEvent::Stopped(e));
                        self.run(jobs);
                    }
                }
            }
            Job::WakeSync => {
                if let Some(sync) = &self.sync {
                    sync.wake();
                }
            }
            Job::FetchSurveillance(query, model_set) => {
                if let Some(sync) = &self.sync {
                    sync.fetch_surveillance(query, model_set);
                }
            }
            Job::ViewerLang(lang) => self.viewer.lang = lang,
            Job::FocusNote => self.frame.focus_note = true,
            Job::FocusSearch => self.frame.focus_search = true,
            Job::ScrollToCurrent => self.frame.scroll_to_current = true,
            Job::FocusImport(take) => self.frame.import_focus = Some(take),
        }
    }

    fn show_if_loaded(&mut self) {
        let Some(case_id) = self.model.current.as_ref().map(|c| c.case_id) else { return };
        let Some((result, started)) = self.loads.take(case_id) else { return };
        let prefetched = self.switch_started.is_some_and(|t| started < t);
        match result {
            Ok(case) => {
                self.viewer.show_loaded(case.loaded);
                let jobs = self.model.series_shown(case_id, case.series, case.shown, case.backfill);
                self.run(jobs);
            }
            Err(e) => {
                let step = match &e {
                    crate::error::DeskError::Case(e) => crate::viewer::Step::of(e),
                    _ => crate::viewer::Step::Open,
                };
                self.viewer.clear(None);
                self.viewer.fail(step, e.to_string());
                self.model.load_failed(case_id);
            }
        }
        if let Some(t) = self.switch_started.take() {
            self.last_switch = Some((t.elapsed(), prefetched));
        }
    }

    /// Takes in what the workers reported.
    fn poll(&mut self) {
        while let Ok(event) = self.events_rx.try_recv() {
            if matches!(event, Event::Imported(_)) {
                if let Some(mut import) = self.import.take() {
                    import.shutdown();
                }
                if let Some(p) = &self.preread {
                    p.wake();
                }
            } else if let Some(store) = &mut self.store {
                store.answered();
            }
            let jobs = self.model.on_event(event);
            self.run(jobs);
        }
        while let Ok(event) = self.sync_rx.try_recv() {
            let jobs = self.model.on_sync(event);
            self.run(jobs);
        }
        while let Ok(event) = self.preread_rx.try_recv() {
            self.model.on_preread(event);
        }
        // The pre-read leaves the machine to the reader while they work.
        let working = self.reader_working();
        self.model.preread.paused = working;
        if let Some(p) = &mut self.preread {
            p.pause(working);
        }
        if self.store.as_ref().is_some_and(StoreWorker::died) {
            self.store = None;
            let e = crate::error::DeskError::WorkerGone("lungdesk-store");
            self.model.notice = Some(Notice::error(e.to_string()));
        }
        self.loads.poll();
        self.show_if_loaded();
        if let Some(picked) = self.dialog.poll() {
            match picked {
                Ok(Some(folder)) => self.apply(Action::Import(folder)),
                Ok(None) => {}
                Err(crate::error::ViewerError::NoDialog) => {
                    self.model.notice = Some(Notice::translated(self.model.lang, true, |lang| {
                        tr(lang, crate::error::NO_DIALOG).to_owned()
                    }));
                    self.frame.import_focus = Some(true);
                }
                Err(e) => self.model.notice = Some(Notice::error(e.to_string())),
            }
        }
        self.record_analysis();
        self.refresh_visible();
    }

    /// Hands a newly arrived analysis of the open case to the model (worklist, store).
    fn record_analysis(&mut self) {
        let Some(case) = self.model.current.as_ref().filter(|c| c.loaded && !c.ai_recorded) else { return };
        let Some(a) = &self.viewer.analysis else { return };
        // Only the series for reading makes the case's AI result; another series shown from
        // the switcher is read for the panel alone.
        let shown = self.viewer.volume.as_ref().map(|v| v.series_uid.clone()).unwrap_or_default();
        if !self.model.is_reading_series(&shown) {
            return;
        }
        let Some(ai) = crate::ai_text::ai_result(a, &shown) else { return };
        let case_id = case.case_id;
        self.apply(Action::RecordAi { case_id, ai: Box::new(ai) });
    }

    /// Brings `visible` up to date with the query: at once for short lists; for long ones on
    /// the `lungdesk-worklist` thread, showing the previous result until the new one arrives,
    /// so that no frame waits for a filter or sort of 100,000 rows.
    fn refresh_visible(&mut self) {
        if let Some((key, visible)) = self.filter.done() {
            self.model.visible = visible;
            self.model.visible_for = Some(key);
        }
        let key = self.model.filter_key();
        if self.model.visible_for.as_ref() == Some(&key) || self.filter.running_for(&key) {
            return;
        }
        if self.model.rows.len() < SYNC_FILTER_ROWS {
            self.model.refilter_now();
            return;
        }
        let m = &self.model;
        if self.filter.start(key, m.rows.clone(), m.query.clone(), m.lang, self.ctx.clone()).is_err() {
            self.model.refilter_now();
        }
        // Until the new order arrives, keep only indices that still exist.
        let n = self.model.rows.len();
        self.model.visible.retain(|&i| i < n);
    }

    /// What `DeskApp::on_exit` calls: the import is cancelled (what it committed stays), the
    /// store thread finishes every request queued (a confirm sent by the last Enter is
    /// committed), and the workers are joined. The sync thread is told to stop and not waited
    /// for (it may be inside a network request; a label in flight is sent again next time).
    pub fn shutdown(&mut self) {
        // Cancels the read in flight and joins the thread.
        self.preread = None;
        if let Some(import) = &self.import {
            import.progress.cancel();
        }
        self.loads.shutdown();
        if let Some(store) = &mut self.store {
            store.shutdown();
        }
        if let Some(import) = &mut self.import {
            import.shutdown();
        }
        self.filter.shutdown();
        self.sync = None;
        self.viewer.shutdown();
    }

    /// Draws the desk into `ui`.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.ctx.get_or_insert_with(|| ctx.clone());
        // egui moves the keyboard focus on Tab in the frame after the key: without that frame
        // the next letter typed (found under Xvfb at 1 s between keys) lands in the field
        // that was left.
        if ctx.input(|i| i.key_pressed(egui::Key::Tab)) {
            ctx.request_repaint();
        }
        let input = ctx.input(|i| {
            i.events.iter().any(|e| {
                matches!(
                    e,
                    egui::Event::Key { .. }
                        | egui::Event::Text(_)
                        | egui::Event::PointerButton { .. }
                        | egui::Event::MouseWheel { .. }
                        | egui::Event::Ime(_)
                )
            })
        });
        if input {
            self.last_input = Instant::now();
        }
        if self.preread.is_some() && (self.model.preread.paused || self.model.preread.left.is_some_and(|n| n > 0)) {
            // Wake up to resume once the reader has been idle long enough.
            ctx.request_repaint_after(Duration::from_secs(1));
        }
        self.poll();
        let busy = self.store.as_ref().is_some_and(|s| s.pending() > 0) || self.filter.busy() || self.loads.busy();
        if self.import.is_some() {
            ctx.request_repaint_after(PROGRESS_TICK);
        } else if busy {
            ctx.request_repaint_after(Duration::from_millis(30));
        }
        let lang = self.model.lang;
        match &self.model.phase {
            Phase::Opening => {
                ui.centered_and_justified(|ui| ui.label(tr(lang, "Opening the label store…")));
                return;
            }
            Phase::Failed(e) => {
                let e = e.clone();
                ui.vertical_centered(|ui| {
                    ui.heading(tr(lang, "The label store cannot be opened"));
                    ui.colored_label(theme::ERROR, e);
                    ui.label(trf(
                        lang,
                        "File: {path}. Nothing in it was changed.",
                        &[("path", &self.model.store_path.display())],
                    ));
                });
                return;
            }
            Phase::Identity(form) => {
                let actions = identity::show(ui, form, lang);
                for a in actions {
                    self.apply(a);
                }
                return;
            }
            Phase::Ready => {}
        }
        let mut actions = keymap::actions(&ctx);
        actions.extend(
            ctx.input(|i| i.raw.dropped_files.clone()).into_iter().map(|f| Action::Import(f.path().to_owned())),
        );
        for a in actions {
            self.apply(a);
        }
        self.refresh_visible();
        let import = self
            .import
            .as_ref()
            .map(|i| panels::top_bar::ImportProgress { what: &i.what, fraction: i.progress.fraction() });
        let mut actions = panels::top_bar::show(ui, &self.model, import, &mut self.frame);
        // The worklist and the review panel are laid out first, at least WORKLIST_MIN_WIDTH and
        // REVIEW_WIDTH wide; the viewer takes what they leave.
        let width = ui.available_width();
        let worklist_width = (width * 0.4).clamp(WORKLIST_MIN_WIDTH, WORKLIST_WIDTH);
        egui::Panel::left("worklist")
            .resizable(true)
            .default_size(worklist_width)
            .min_size(WORKLIST_MIN_WIDTH)
            .max_size((width - REVIEW_WIDTH - VIEWER_MIN_WIDTH).max(WORKLIST_MIN_WIDTH))
            .show(ui, |ui| {
                actions.extend(panels::worklist::show(ui, &self.model, &mut self.frame));
            });
        match self.model.tab {
            Tab::Review => actions.extend(self.review_tab(ui)),
            Tab::Disagreements => actions.extend(panels::disagreements::show(ui, &self.model)),
            Tab::Surveillance => match crate::cloud_ui::surveillance_ui(ui, lang, &mut self.model.cloud) {
                Some(crate::cloud_ui::CloudAction::Connect(settings)) => actions.push(Action::Connect(settings)),
                Some(crate::cloud_ui::CloudAction::Refresh) => actions.push(Action::RefreshSurveillance),
                Some(crate::cloud_ui::CloudAction::SyncNow) => actions.push(Action::SyncNow),
                None => {}
            },
        }
        if self.model.show_shortcuts {
            actions.extend(panels::shortcuts::show(&ctx, lang));
        }
        for a in actions {
            self.apply(a);
        }
    }

    fn review_tab(&mut self, ui: &mut egui::Ui) -> Vec<Action> {
        let lang = self.model.lang;
        let mut actions = Vec::new();
        let Some(case_id) = self.model.current.as_ref().map(|c| c.case_id) else {
            ui.centered_and_justified(|ui| {
                ui.label(if self.model.rows.is_empty() {
                    tr(lang, "No cases yet. Import a DICOM folder: Ctrl+I, drop it here, or type its path above.")
                } else {
                    tr(lang, "Choose a case in the worklist, or press J for the first one.")
                });
            });
            return actions;
        };
        egui::Panel::right("review").resizable(false).exact_size(REVIEW_WIDTH).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                actions.extend(panels::review::show(ui, &self.model, &mut self.frame));
                ui.separator();
                self.viewer.analysis_panel(ui);
            });
        });
        // The viewer gets what the two panels leave, and draws nowhere else: a long line in
        // it is shortened to this width instead of running under the review panel.
        let rect = ui.available_rect_before_wrap();
        ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
            ui.set_clip_rect(rect.intersect(ui.clip_rect()));
            self.viewer.ui(ui);
        });
        if self.viewer.volume.is_none()
            && let Some(fraction) = self.loads.progress(case_id)
        {
            ui.horizontal(|ui| {
                ui.label(tr(lang, "Reading the case…"));
                ui.add(egui::ProgressBar::new(fraction).desired_width(240.0).show_percentage());
            });
        }
        actions
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

/// The eframe application: the desk filling the window. On exit, queued writes are committed
/// and every worker is joined.
#[derive(Debug)]
pub struct DeskApp {
    pub desk: Desk,
}

impl DeskApp {
    pub fn new(cc: &eframe::CreationContext<'_>, store_path: PathBuf, import: Option<PathBuf>) -> Self {
        crate::fonts::install(&cc.egui_ctx);
        crate::background::start_worker_pool();
        let mut desk = Desk::new(cc.wgpu_render_state.clone(), store_path);
        desk.viewer.analysis_settings = AnalysisSettings::user_default();
        desk.start_preread();
        if let Some(folder) = import {
            // Shown in the top bar's field, and imported once the desk is ready.
            desk.apply(Action::ImportEntry(folder.display().to_string()));
            desk.import_when_ready(folder);
        }
        Self { desk }
    }
}

impl eframe::App for DeskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| self.desk.ui(ui));
    }

    fn on_exit(&mut self) {
        self.desk.shutdown();
    }
}
