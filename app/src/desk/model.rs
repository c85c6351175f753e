//! The desk's state and rules, with no toolkit code: [`DeskModel::apply`] takes an
//! [`Action`] and returns the [`Job`]s it needs; [`DeskModel::on_event`] (in `events.rs`)
//! takes what the workers report. Two rules live here that the frames cannot break:
//! edits made before a case's details arrive are merged into the stored draft, never written
//! over it; and a case is confirmed only once loaded (Enter before that waits for it).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use lungdesk_store::{
    AiResult, CaseRow, CaseStatus, Confusion, Disagreement, Finding, Grade, HistoryEntry, Identity, ImportReport, Pcr,
    ReviewDraft, SharedLabel, SyncState,
};

use super::action::{Action, Job};
use super::identity::IdentityForm;
use super::store_jobs::StoreRequest;
use super::worklist_query::{SortBy, WorklistQuery, filter_rows};
use crate::cloud_ui::CloudPanel;
use crate::i18n::{Lang, tr, trf};
use crate::sync::SyncSettings;
use lungdesk_volume::SeriesInfo;

/// What the desk shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Review,
    Disagreements,
    Surveillance,
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

/// An edit made before the case's details arrived: applied to the stored draft when they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EarlyEdit {
    Grade(Grade),
    Pcr(Pcr),
    /// The finding as the reader set it (on or off).
    Finding(Finding, bool),
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
    pub(crate) ai_recorded: bool,
    early: Vec<EarlyEdit>,
    /// The note as typed before the details arrived (into an empty field).
    early_note: Option<String>,
    /// Enter was pressed before the details arrived: confirm when they do.
    pub(crate) confirm_when_loaded: bool,
    /// Why the details could not be read (the case cannot be confirmed until reopened).
    pub(crate) details_failed: Option<String>,
    /// This reader's confirmed review (revision, draft), once the details are in.
    pub(crate) confirmed: Option<(i64, ReviewDraft)>,
    /// Every CT series of the case (once its headers are read), the one on screen, and the
    /// one asked for and still loading.
    pub series: Vec<SeriesInfo>,
    pub shown_series: Option<String>,
    pub(crate) requested_series: Option<String>,
}

impl OpenCase {
    fn new(case_id: i64) -> Self {
        Self {
            case_id,
            draft: ReviewDraft::default(),
            loaded: false,
            ai: None,
            history: Vec::new(),
            shared: Vec::new(),
            ai_recorded: false,
            early: Vec::new(),
            early_note: None,
            confirm_when_loaded: false,
            details_failed: None,
            confirmed: None,
            series: Vec::new(),
            shown_series: None,
            requested_series: None,
        }
    }

    /// The revision being edited: `Some(n)` when this reader confirmed revision `n` and the
    /// draft now differs from it (Enter then confirms revision `n + 1`).
    pub fn editing_confirmed(&self) -> Option<i64> {
        let (revision, confirmed) = self.confirmed.as_ref()?;
        (self.loaded && *confirmed != self.draft).then_some(*revision)
    }

    /// The stored draft with the edits made before it arrived on top. Whether there were any.
    pub(crate) fn merge_stored(&mut self, stored: ReviewDraft) -> bool {
        self.draft = stored;
        for edit in &self.early {
            match *edit {
                EarlyEdit::Grade(g) => self.draft.grade = Some(g),
                EarlyEdit::Pcr(p) => self.draft.pcr = Some(p),
                EarlyEdit::Finding(f, on) => {
                    if self.draft.findings.contains(&f) != on {
                        self.draft.toggle(f);
                    }
                }
            }
        }
        // A note typed before the stored one was read is added to it, never put in its place.
        let typed = self.early_note.take().filter(|t| !t.trim().is_empty());
        if let Some(typed) = &typed {
            if self.draft.note.trim().is_empty() {
                self.draft.note.clone_from(typed);
            } else {
                self.draft.note = format!("{}\n{typed}", self.draft.note);
            }
        }
        self.loaded = true;
        !std::mem::take(&mut self.early).is_empty() || typed.is_some()
    }
}

/// Makes a notice's text in a language (F2 renders the notice on screen again).
pub type RenderNotice = Arc<dyn Fn(Lang) -> String + Send + Sync>;

/// Message in the status line.
#[derive(Clone)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    /// How to write it in another language; `None` for text that has one language only (an
    /// error's own message).
    render: Option<RenderNotice>,
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice").field("text", &self.text).field("error", &self.error).finish_non_exhaustive()
    }
}

impl PartialEq for Notice {
    fn eq(&self, other: &Self) -> bool {
        (&self.text, self.error) == (&other.text, other.error)
    }
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Self { text: text.into(), error: false, render: None }
    }
    pub fn error(text: impl Into<String>) -> Self {
        Self { text: text.into(), error: true, render: None }
    }
    /// A notice written by `render` in `lang`, and again in the other language after F2.
    pub fn translated(lang: Lang, error: bool, render: impl Fn(Lang) -> String + Send + Sync + 'static) -> Self {
        Self { text: render(lang), error, render: Some(Arc::new(render)) }
    }
    /// Writes the notice in `lang`, when it knows how.
    pub fn rerender(&mut self, lang: Lang) {
        if let Some(render) = &self.render {
            self.text = render(lang);
        }
    }
}

/// What a filtered worklist was computed for: query, language, row count.
pub(crate) type FilterKey = (WorklistQuery, Lang, usize);

/// The desk's state.
#[derive(Debug)]
pub struct DeskModel {
    pub(crate) lang: Lang,
    pub(crate) phase: Phase,
    pub(crate) identity: Option<Identity>,
    pub(crate) store_path: PathBuf,
    /// Shared with the worklist filter thread; changed in place with `Arc::make_mut`.
    pub(crate) rows: Arc<Vec<CaseRow>>,
    pub(crate) query: WorklistQuery,
    /// Indices into `rows`, filtered and sorted, and what for.
    pub(crate) visible: Vec<usize>,
    pub(crate) visible_for: Option<FilterKey>,
    pub(crate) current: Option<OpenCase>,
    pub(crate) tab: Tab,
    pub(crate) disagreements: Option<(Vec<Disagreement>, Confusion)>,
    pub(crate) show_shortcuts: bool,
    pub(crate) notice: Option<Notice>,
    pub(crate) export_dir: PathBuf,
    pub(crate) import_entry: String,
    /// What is being imported.
    pub(crate) importing: Option<String>,
    /// It is the path typed in the top bar.
    pub(crate) importing_typed: bool,
    pub(crate) last_import: Option<ImportReport>,
    /// The dataset service: settings, sync status, surveillance counts.
    pub(crate) cloud: CloudPanel,
    /// Per case, its latest label's sync state.
    pub(crate) sync_states: HashMap<i64, SyncState>,
    pub(crate) syncing: bool,
    /// The saved sync settings, held back until the identity (with its site key) is complete:
    /// nothing is sent under a case key the site key has not made yet.
    pub(crate) sync_waiting: Option<SyncSettings>,
    /// The background pre-read's progress.
    pub(crate) preread: PrereadState,
    /// A folder to import once the desk is ready (`lungdesk desk --import DIR`: the identity
    /// may still have to be entered).
    pub(crate) import_when_ready: Option<PathBuf>,
}

/// Where the background pre-read stands (`desk::preread`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrereadState {
    /// Cases still to read; `None` until the thread has looked.
    pub left: Option<usize>,
    /// Cases read this session.
    pub read: usize,
    /// Cases it could not read this session (each named in the notice line).
    pub failed: usize,
    /// Why it stopped, if it did (no models).
    pub stopped: Option<String>,
    /// The store failed (why), and when the pre-read tries again; cleared once it works.
    pub retrying: Option<(String, std::time::Duration)>,
    /// Waiting while the reader works.
    pub paused: bool,
}

impl DeskModel {
    pub fn new(store_path: PathBuf, export_dir: PathBuf) -> Self {
        Self {
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
            importing: None,
            importing_typed: false,
            last_import: None,
            cloud: CloudPanel::default(),
            sync_states: HashMap::new(),
            syncing: false,
            sync_waiting: None,
            preread: PrereadState::default(),
            import_when_ready: None,
        }
    }

    /// The background pre-read's progress.
    pub fn preread(&self) -> &PrereadState {
        &self.preread
    }

    /// What the background pre-read reports: a read case's AI result goes into its worklist
    /// row at once (the store has it already).
    pub fn on_preread(&mut self, event: crate::desk::preread::PrereadEvent) {
        use crate::desk::preread::PrereadEvent;
        match event {
            PrereadEvent::Left(n) => {
                self.preread.left = Some(n);
                self.preread.retrying = None;
            }
            PrereadEvent::Read { case_id, ai, left } => {
                self.preread.left = Some(left);
                self.preread.retrying = None;
                self.preread.read += 1;
                self.show_ai_in_row(case_id, &ai);
                // The filter and sort see the new AI grade.
                self.visible_for = None;
            }
            PrereadEvent::Failed { case_id, why } => {
                self.preread.failed += 1;
                let key = self.row_index(case_id).map(|i| self.rows[i].case_key.clone()).unwrap_or_default();
                self.notice = Some(Notice::error(trf(
                    self.lang,
                    "AI pre-read of case {case} failed: {error}",
                    &[("case", &key), ("error", &why)],
                )));
            }
            PrereadEvent::Retrying { why, after } => self.preread.retrying = Some((why, after)),
            PrereadEvent::Stopped(why) => self.preread.stopped = Some(why),
        }
    }

    // --- reading the state ---

    pub fn lang(&self) -> Lang {
        self.lang
    }
    pub fn phase(&self) -> &Phase {
        &self.phase
    }
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }
    pub fn rows(&self) -> &[CaseRow] {
        &self.rows
    }
    pub fn current(&self) -> Option<&OpenCase> {
        self.current.as_ref()
    }
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }
    pub fn last_import(&self) -> Option<&ImportReport> {
        self.last_import.as_ref()
    }
    pub fn tab(&self) -> Tab {
        self.tab
    }
    /// The label store's file.
    pub fn store_path(&self) -> &std::path::Path {
        &self.store_path
    }
    pub fn export_dir(&self) -> &std::path::Path {
        &self.export_dir
    }
    pub fn sync_state(&self, case_id: i64) -> Option<&SyncState> {
        self.sync_states.get(&case_id)
    }
    pub fn show_shortcuts(&self) -> bool {
        self.show_shortcuts
    }
    /// The dataset service: settings, sync status, surveillance counts.
    pub fn cloud(&self) -> &CloudPanel {
        &self.cloud
    }
    /// Per case, its latest label's sync state.
    pub fn sync_states(&self) -> &HashMap<i64, SyncState> {
        &self.sync_states
    }
    /// Indices into [`Self::rows`] that the worklist shows, in its order.
    pub fn visible(&self) -> &[usize] {
        &self.visible
    }

    pub(crate) fn reader(&self) -> String {
        self.identity.as_ref().map(|i| i.reader_id.clone()).unwrap_or_default()
    }

    pub(crate) fn row_index(&self, case_id: i64) -> Option<usize> {
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

    /// `visible` for the query at once (short lists, and tests), else `None`: the worklist
    /// thread computes it.
    pub(crate) fn filter_key(&self) -> FilterKey {
        (self.query.clone(), self.lang, self.rows.len())
    }

    pub(crate) fn refilter_now(&mut self) {
        self.visible = filter_rows(&self.rows, &self.query, self.lang);
        self.visible_for = Some(self.filter_key());
    }

    // --- actions ---

    /// Carries out `action`; returns the work it needs done.
    pub fn apply(&mut self, action: Action) -> Vec<Job> {
        let mut jobs = Vec::new();
        match action {
            Action::Grade(g) => self.edit(EarlyEdit::Grade(g), &mut jobs),
            Action::Pcr(p) => self.edit(EarlyEdit::Pcr(p), &mut jobs),
            Action::ToggleFinding(f) => {
                if let Some(c) = &self.current {
                    let on = !c.draft.findings.contains(&f);
                    self.edit(EarlyEdit::Finding(f, on), &mut jobs);
                }
            }
            Action::Note(text) => {
                if let Some(c) = self.current.as_mut().filter(|c| c.draft.note != text) {
                    c.draft.note.clone_from(&text);
                    if c.loaded {
                        self.draft_changed(&mut jobs);
                    } else {
                        // Typed before the stored note is read: added to it when it is.
                        c.early_note = Some(text);
                    }
                }
            }
            Action::Confirm => self.confirm(&mut jobs),
            Action::Step(step) => {
                if let Some(case_id) = self.neighbour(step) {
                    self.open(case_id, &mut jobs);
                }
            }
            Action::Open(case_id) => self.open(case_id, &mut jobs),
            Action::ShowSeries(uid) => self.show_series(uid, &mut jobs),
            Action::Import(folder) => self.import(folder, &mut jobs),
            Action::AskImportFolder => jobs.push(Job::AskImportFolder),
            Action::ImportEntry(text) => self.import_entry = text,
            Action::CancelImport => jobs.push(Job::CancelImport),
            Action::Export => jobs.push(Job::Store(StoreRequest::Export { dir: self.export_dir.clone() })),
            Action::ExportDir(dir) => self.export_dir = dir,
            Action::ShowTab(tab) => {
                self.tab = tab;
                match tab {
                    Tab::Review => {}
                    Tab::Disagreements => jobs.push(Job::Store(StoreRequest::Disagreements)),
                    Tab::Surveillance => self.refresh_surveillance(&mut jobs),
                }
            }
            Action::ToggleShortcuts => self.show_shortcuts = !self.show_shortcuts,
            Action::CloseShortcuts => self.show_shortcuts = false,
            Action::Query(q) => self.query = q,
            Action::CycleStatusFilter => {
                let all: Vec<Option<CaseStatus>> = std::iter::once(None).chain(CaseStatus::ALL.map(Some)).collect();
                let at = all.iter().position(|s| *s == self.query.status).unwrap_or(0);
                self.query.status = all[(at + 1) % all.len()];
            }
            Action::CycleSort => {
                let at = SortBy::ALL.iter().position(|s| *s == self.query.sort).unwrap_or(0);
                self.query.sort = SortBy::ALL[(at + 1) % SortBy::ALL.len()];
            }
            Action::FocusNote => {
                if self.current.is_some() {
                    jobs.push(Job::FocusNote);
                }
            }
            Action::FocusSearch => jobs.push(Job::FocusSearch),
            Action::ToggleLang => return self.apply(Action::Lang(self.lang.other())),
            Action::Lang(lang) => {
                self.lang = lang;
                if let Some(n) = &mut self.notice {
                    n.rerender(lang);
                }
                jobs.push(Job::ViewerLang(lang));
                if matches!(self.phase, Phase::Ready) {
                    jobs.push(Job::Store(StoreRequest::Setting { key: "language", value: lang.code().into() }));
                }
            }
            Action::EditIdentity(form) => {
                if let Phase::Identity(current) = &mut self.phase
                    && !current.saving
                {
                    *current = *form;
                }
            }
            Action::SaveIdentity => self.save_identity(&mut jobs),
            Action::Connect(settings) => jobs.push(Job::Store(StoreRequest::SaveCloud(settings))),
            Action::SyncNow => jobs.push(Job::WakeSync),
            Action::RefreshSurveillance => self.refresh_surveillance(&mut jobs),
            Action::RecordAi { case_id, ai } => self.record_ai(case_id, *ai, &mut jobs),
        }
        jobs
    }

    /// A grade, PCR or finding set: on the draft at once; saved when the case's details are
    /// in, else merged into the stored draft when they arrive.
    fn edit(&mut self, edit: EarlyEdit, jobs: &mut Vec<Job>) {
        let Some(c) = &mut self.current else { return };
        match edit {
            EarlyEdit::Grade(g) => c.draft.grade = Some(g),
            EarlyEdit::Pcr(p) => c.draft.pcr = Some(p),
            EarlyEdit::Finding(f, on) => {
                if c.draft.findings.contains(&f) != on {
                    c.draft.toggle(f);
                }
            }
        }
        if c.loaded {
            self.draft_changed(jobs);
        } else {
            c.early.push(edit);
        }
    }

    /// The current (loaded) draft changed: the store thread saves it.
    pub(crate) fn draft_changed(&mut self, jobs: &mut Vec<Job>) {
        let Some(case) = &self.current else { return };
        let (case_id, draft, reader) = (case.case_id, case.draft.clone(), self.reader());
        if let Some(i) = self.row_index(case_id)
            && !self.rows[i].status.is_done()
        {
            Arc::make_mut(&mut self.rows)[i].status = CaseStatus::InReview;
        }
        jobs.push(Job::Store(StoreRequest::SaveDraft { case_id, reader, draft }));
    }

    pub(crate) fn open(&mut self, case_id: i64, jobs: &mut Vec<Job>) {
        if self.current.as_ref().is_some_and(|c| c.case_id == case_id) {
            return;
        }
        self.current = Some(OpenCase::new(case_id));
        // Remembered for the next start (the desk reopens it, with its draft).
        jobs.push(Job::Store(StoreRequest::Setting { key: super::store_jobs::OPEN_CASE, value: case_id.to_string() }));
        jobs.push(Job::ScrollToCurrent);
        jobs.push(Job::Store(StoreRequest::CaseDetails { case_id, reader: self.reader(), with_draft: true }));
        jobs.push(Job::LoadCase { case_id, series: None, next: self.neighbour(1) });
    }

    /// Another series of the open case: loaded and shown, and the AI reads it for the panel.
    /// The case's AI result (worklist, label, sync) stays that of its series for reading.
    fn show_series(&mut self, uid: String, jobs: &mut Vec<Job>) {
        let next = self.neighbour(1);
        let Some(case) = self.current.as_mut() else { return };
        let wanted = case.requested_series.as_ref().or(case.shown_series.as_ref());
        if wanted == Some(&uid) || !case.series.iter().any(|s| s.series_uid == uid) {
            return;
        }
        case.requested_series = Some(uid.clone());
        jobs.push(Job::LoadCase { case_id: case.case_id, series: Some(uid), next });
    }

    /// A case load failed: the series asked for can be asked for again.
    pub(crate) fn load_failed(&mut self, case_id: i64) {
        if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
            c.requested_series = None;
        }
    }

    /// Whether `series_uid` is the open case's series for reading (the one whose AI result is
    /// the case's).
    pub(crate) fn is_reading_series(&self, series_uid: &str) -> bool {
        self.current.as_ref().is_some_and(|c| {
            c.series.is_empty()
                || lungdesk_volume::best_for_reading(&c.series).is_some_and(|i| c.series[i].series_uid == series_uid)
        })
    }

    /// The case loader showed `shown` of `case_id`'s `series`; `backfill`: the store lacked
    /// their headers, which it records now (and the worklist row shows).
    pub(crate) fn series_shown(
        &mut self,
        case_id: i64,
        series: Vec<SeriesInfo>,
        shown: String,
        backfill: bool,
    ) -> Vec<Job> {
        let mut jobs = Vec::new();
        if backfill {
            if let Some(i) = self.row_index(case_id)
                && let Some(best) = lungdesk_volume::best_for_reading(&series)
            {
                let row = &mut Arc::make_mut(&mut self.rows)[i];
                (row.series, row.slices, row.thickness_mm) =
                    (series.len() as i64, series[best].slices, series[best].thickness_mm);
            }
            jobs.push(Job::Store(StoreRequest::SeriesInfo(series.clone())));
        }
        if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
            c.series = series;
            c.shown_series = Some(shown);
            c.requested_series = None;
        }
        jobs
    }

    /// Confirms the current case (one transaction on the store thread) and opens the next;
    /// before its details are in, when they arrive.
    pub(crate) fn confirm(&mut self, jobs: &mut Vec<Job>) {
        let Some(case) = &mut self.current else { return };
        let Some(identity) = self.identity.clone() else { return };
        if let Some(why) = &case.details_failed {
            self.notice = Some(Notice::error(trf(
                self.lang,
                "Not saved: this case could not be read ({error}); open it again.",
                &[("error", why)],
            )));
            return;
        }
        if !case.loaded {
            case.confirm_when_loaded = true;
            return;
        }
        case.confirm_when_loaded = false;
        if case.draft.grade.is_none() || case.draft.pcr.is_none() {
            self.notice = Some(Notice::translated(self.lang, true, |lang| {
                tr(lang, "Set the grade (1–4) and the PCR status (P, N, W, X) before confirming.").to_owned()
            }));
            return;
        }
        let (case_id, draft) = (case.case_id, case.draft.clone());
        let next = self.neighbour(1);
        let (grade, pcr) = (draft.grade, draft.pcr);
        jobs.push(Job::Store(StoreRequest::Confirm { case_id, identity: Box::new(identity), draft }));
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
            self.open(next, jobs);
        }
    }

    fn import(&mut self, folder: PathBuf, jobs: &mut Vec<Job>) {
        let Some(identity) = self.identity.clone() else { return };
        if self.importing.is_some() {
            self.notice =
                Some(Notice::translated(self.lang, true, |lang| tr(lang, "An import is already running.").to_owned()));
            return;
        }
        self.importing = Some(folder.display().to_string());
        // A path typed in the top bar: the field lets go now the import starts, and takes the
        // keyboard back if the path is refused.
        self.importing_typed =
            !self.import_entry.trim().is_empty() && folder == std::path::Path::new(self.import_entry.trim());
        jobs.push(Job::Import { folder, identity: Box::new(identity) });
        jobs.push(Job::FocusImport(false));
    }

    fn save_identity(&mut self, jobs: &mut Vec<Job>) {
        let Phase::Identity(form) = &mut self.phase else { return };
        form.check();
        if !form.problems.is_empty() || form.saving {
            return;
        }
        form.saving = true;
        let identity = Box::new(form.identity.clone());
        jobs.push(Job::Store(StoreRequest::SaveIdentity { identity, language: self.lang.code() }));
    }

    pub(crate) fn refresh_surveillance(&mut self, jobs: &mut Vec<Job>) {
        if self.cloud.query.source.is_none() {
            self.cloud.query.source = Some(lungdesk_cloud::Source::Radiologist);
        }
        if self.syncing {
            self.cloud.fetching = true;
            jobs.push(Job::FetchSurveillance(self.cloud.query.clone(), self.cloud.model_set().to_owned()));
        }
    }

    /// The AI's pre-read of the open case, shown in the worklist and kept in the store.
    fn record_ai(&mut self, case_id: i64, ai: AiResult, jobs: &mut Vec<Job>) {
        let Some(case) = self.current.as_mut().filter(|c| c.case_id == case_id && c.loaded && !c.ai_recorded) else {
            return;
        };
        case.ai_recorded = true;
        case.ai = Some(ai.clone());
        self.show_ai_in_row(case_id, &ai);
        jobs.push(Job::Store(StoreRequest::RecordAi { case_id, ai: Box::new(ai) }));
    }

    /// A case's AI result in its worklist row (a new case becomes "AI done").
    fn show_ai_in_row(&mut self, case_id: i64, ai: &AiResult) {
        if let Some(i) = self.row_index(case_id) {
            let row = &mut Arc::make_mut(&mut self.rows)[i];
            row.ai_grade = ai.grade;
            row.ai_cannot_grade = ai.cannot_grade.as_ref().map(|c| c.code.clone());
            row.ai_confidence =
                ai.grade.map(|g| ai.scores[usize::from(g.number() - 1)]).filter(|p| (0.0..=1.0).contains(p));
            if row.status == CaseStatus::New {
                row.status = CaseStatus::AiDone;
            }
        }
    }
}
