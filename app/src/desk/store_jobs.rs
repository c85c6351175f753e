//! The store thread's work: each [`StoreRequest`] is plain data (tests read what the model
//! asked for), run on the `lungdesk-store` thread, its answer an [`Event`].

use std::collections::HashMap;
use std::path::PathBuf;

use lungdesk_store::export::export_to_file;
use lungdesk_store::{
    AiResult, CaseRow, CaseStatus, Confusion, Disagreement, HistoryEntry, Identity, ImportReport, Review, ReviewDraft,
    SharedLabel, Store, StoreError, SyncState,
};

use crate::error::DeskError;
use crate::sync::SyncSettings;

/// What the store holds at start.
#[derive(Debug, Default)]
pub struct Opened {
    pub identity: Option<Identity>,
    pub language: Option<String>,
    pub export_dir: Option<String>,
    pub rows: Vec<CaseRow>,
    pub cloud: Option<SyncSettings>,
    /// Per case, its latest label's sync state, as the store holds it.
    pub sync_states: HashMap<i64, SyncState>,
    /// The case that was in review when the desk last closed.
    pub open_case: Option<i64>,
}

/// The setting that remembers the case in review.
pub const OPEN_CASE: &str = "open_case";

/// A case's working copy, AI result, history and other readers' labels from the service.
#[derive(Debug, Default)]
pub struct CaseDetails {
    pub draft: ReviewDraft,
    pub ai: Option<AiResult>,
    pub history: Vec<HistoryEntry>,
    pub shared: Vec<SharedLabel>,
    /// This reader's confirmed review, as a draft, and its revision.
    pub confirmed: Option<(i64, ReviewDraft)>,
}

/// What background work reports to the desk.
#[derive(Debug)]
pub enum Event {
    Opened(Result<Box<Opened>, DeskError>),
    IdentitySaved(Result<Identity, DeskError>),
    Worklist(Result<Vec<CaseRow>, DeskError>),
    /// The case's details; `with_draft` false for a refresh of what the service sent (the
    /// draft on screen stays).
    CaseDetails {
        case_id: i64,
        with_draft: bool,
        details: Result<Box<CaseDetails>, DeskError>,
    },
    Confirmed {
        case_id: i64,
        result: Result<(Review, Vec<HistoryEntry>, CaseStatus), DeskError>,
    },
    AiStored {
        case_id: i64,
        result: Result<Vec<HistoryEntry>, DeskError>,
    },
    /// A write whose only news is failure (drafts, settings).
    Written(Result<(), DeskError>),
    Imported(Result<ImportReport, DeskError>),
    Disagreements(Result<Box<(Vec<Disagreement>, Confusion)>, DeskError>),
    Exported(Result<(PathBuf, PathBuf, usize), DeskError>),
    SyncStates(Result<HashMap<i64, SyncState>, DeskError>),
    CloudSaved(Result<SyncSettings, DeskError>),
}

/// One read or write of the store.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreRequest {
    SaveIdentity {
        identity: Box<Identity>,
        language: &'static str,
    },
    Setting {
        key: &'static str,
        value: String,
    },
    Worklist {
        reader: String,
    },
    CaseDetails {
        case_id: i64,
        reader: String,
        with_draft: bool,
    },
    SaveDraft {
        case_id: i64,
        reader: String,
        draft: ReviewDraft,
    },
    Confirm {
        case_id: i64,
        identity: Box<Identity>,
        draft: ReviewDraft,
    },
    RecordAi {
        case_id: i64,
        ai: Box<AiResult>,
    },
    Export {
        dir: PathBuf,
    },
    Disagreements,
    SyncStates,
    SaveCloud(SyncSettings),
    /// Headers of series imported before the store kept them.
    SeriesInfo(Vec<lungdesk_volume::SeriesInfo>),
}

impl StoreRequest {
    /// Runs on the store thread.
    pub fn run(self, s: &mut Store) -> Event {
        match self {
            Self::SaveIdentity { identity, language } => {
                let saved = s.set_identity(&identity).and_then(|i| s.set_setting("language", language).map(|()| i));
                Event::IdentitySaved(saved.map_err(DeskError::from))
            }
            Self::Setting { key, value } => Event::Written(s.set_setting(key, &value).map_err(DeskError::from)),
            Self::Worklist { reader } => Event::Worklist(s.worklist(&reader).map_err(DeskError::from)),
            Self::CaseDetails { case_id, reader, with_draft } => {
                let details = (|| {
                    Ok::<_, StoreError>(Box::new(CaseDetails {
                        draft: if with_draft { s.working_copy(case_id, &reader)? } else { ReviewDraft::default() },
                        ai: s.ai_result(case_id)?,
                        history: s.history(case_id)?,
                        shared: s.shared_labels(case_id)?,
                        confirmed: if with_draft { s.review(case_id, &reader)?.map(confirmed_draft) } else { None },
                    }))
                })();
                Event::CaseDetails { case_id, with_draft, details: details.map_err(DeskError::from) }
            }
            Self::SaveDraft { case_id, reader, draft } => {
                Event::Written(s.save_draft(case_id, &reader, &draft).map_err(DeskError::from))
            }
            Self::Confirm { case_id, identity, draft } => {
                let result = s.confirm(case_id, &identity, &draft).and_then(|review| {
                    let history = s.history(case_id)?;
                    let status =
                        s.worklist_row(case_id, &identity.reader_id)?.map_or(CaseStatus::Confirmed, |r| r.status);
                    Ok((review, history, status))
                });
                Event::Confirmed { case_id, result: result.map_err(DeskError::from) }
            }
            Self::RecordAi { case_id, ai } => {
                let result = s.set_ai_result(case_id, &ai).and_then(|()| s.history(case_id));
                Event::AiStored { case_id, result: result.map_err(DeskError::from) }
            }
            Self::Export { dir } => {
                let stamp = lungdesk_store::db::now().replace([':', '.'], "-");
                let csv = dir.join(format!("lungdesk-labels-{stamp}.csv"));
                let json = dir.join(format!("lungdesk-labels-{stamp}.json"));
                let result = std::fs::create_dir_all(&dir)
                    .map_err(|source| DeskError::Folder { path: dir.clone(), source })
                    .and_then(|()| export_to_file(s, &csv).map_err(DeskError::from))
                    .and_then(|n| export_to_file(s, &json).map(|_| n).map_err(DeskError::from));
                let _ = s.set_setting("export_dir", &dir.to_string_lossy());
                Event::Exported(result.map(|n| (csv, json, n)))
            }
            Self::Disagreements => Event::Disagreements(s.disagreements().map(Box::new).map_err(DeskError::from)),
            Self::SyncStates => Event::SyncStates(s.sync_states().map_err(DeskError::from)),
            Self::SeriesInfo(infos) => Event::Written(s.set_series_info(&infos).map_err(DeskError::from)),
            Self::SaveCloud(settings) => {
                let json = serde_json::to_string(&settings).unwrap_or_default();
                Event::CloudSaved(s.set_setting(SyncSettings::KEY, &json).map(|()| settings).map_err(DeskError::from))
            }
        }
    }
}

/// What the store thread reads first.
pub fn open(store: &Store) -> Result<Box<Opened>, StoreError> {
    let identity = store.identity()?;
    let rows = match &identity {
        Some(i) => store.worklist(&i.reader_id)?,
        None => Vec::new(),
    };
    Ok(Box::new(Opened {
        language: store.setting("language")?,
        export_dir: store.setting("export_dir")?,
        cloud: store.setting(SyncSettings::KEY)?.and_then(|c| serde_json::from_str(&c).ok()),
        sync_states: store.sync_states()?,
        open_case: store.setting(OPEN_CASE)?.and_then(|v| v.parse().ok()),
        identity,
        rows,
    }))
}

/// A confirmed review as the draft it was confirmed from, with its revision.
pub fn confirmed_draft(r: Review) -> (i64, ReviewDraft) {
    (r.revision, ReviewDraft { grade: Some(r.grade), pcr: Some(r.pcr), findings: r.findings, note: r.note })
}
