//! What the reader (keys, clicks) and the desk's own glue ask of the [`DeskModel`], and what
//! the model asks of the workers in return.
//!
//! [`DeskModel`]: super::model::DeskModel

use std::path::PathBuf;

use lungdesk_cloud::SurveillanceQuery;
use lungdesk_store::{AiResult, Finding, Grade, Identity, Pcr};

use super::identity::IdentityForm;
use super::model::Tab;
use super::store_jobs::StoreRequest;
use super::worklist_query::WorklistQuery;
use crate::i18n::Lang;
use crate::sync::SyncSettings;

/// Everything the desk can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Grade(Grade),
    Pcr(Pcr),
    ToggleFinding(Finding),
    /// The note's new text (typed in the review panel).
    Note(String),
    /// Confirm the open case and open the next one.
    Confirm,
    /// The next (1) or previous (−1) case in the worklist's order, without confirming.
    Step(isize),
    Open(i64),
    /// Show another series of the open case (its Series Instance UID).
    ShowSeries(String),
    Import(PathBuf),
    /// The system folder dialog, for an import.
    AskImportFolder,
    ImportEntry(String),
    /// Stop the running import (what it committed stays).
    CancelImport,
    Export,
    ExportDir(PathBuf),
    ShowTab(Tab),
    ToggleShortcuts,
    /// Esc: the shortcut sheet closes.
    CloseShortcuts,
    Query(WorklistQuery),
    CycleStatusFilter,
    CycleSort,
    FocusNote,
    FocusSearch,
    Lang(Lang),
    /// English ↔ Japanese.
    ToggleLang,
    /// The identity form as edited.
    EditIdentity(Box<IdentityForm>),
    SaveIdentity,
    Connect(SyncSettings),
    SyncNow,
    RefreshSurveillance,
    /// The AI pre-read of the open case finished (from the viewer): record it.
    RecordAi {
        case_id: i64,
        ai: Box<AiResult>,
    },
}

/// What the model asks the workers, the viewer or the next frame to do.
#[derive(Debug)]
pub enum Job {
    /// A read or write on the store thread; its answer comes back as an event.
    Store(StoreRequest),
    /// Show `case_id` (from the prefetch when it is ready) and prefetch `next`; cancel any
    /// other case load.
    LoadCase {
        case_id: i64,
        /// The series the reader chose; `None`: the one for reading
        /// (`lungdesk_volume::best_for_reading`).
        series: Option<String>,
        next: Option<i64>,
    },
    Import {
        folder: PathBuf,
        identity: Box<Identity>,
    },
    AskImportFolder,
    CancelImport,
    StartSync(SyncSettings),
    WakeSync,
    /// The filters, and the model set whose AI-only counts and drift monitor to show.
    FetchSurveillance(SurveillanceQuery, String),
    /// The viewer's language follows the desk's.
    ViewerLang(Lang),
    FocusNote,
    FocusSearch,
    ScrollToCurrent,
    /// The import path field takes the keyboard (`true`: its path was refused) or gives it up
    /// (`false`: its import started).
    FocusImport(bool),
}
