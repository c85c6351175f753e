//! LungDesk's local label store.
//!
//! One SQLite file (WAL, `synchronous = FULL`) per reader's desk holds the imported cases and
//! series, the AI's results with their model versions, the readers' reviews, an append-only
//! history of every change, and the outbox that the sync service drains. A review is committed
//! in one transaction the moment it is confirmed, so a crash loses nothing already confirmed.
//!
//! Nothing identifying is stored: no patient name, ID, birth date or free-text DICOM field is
//! read at import. Cases are known to the outside by a pseudonymous key, keyed with the site's
//! secret ([`SiteKey`]).

pub mod db;
pub mod export;
pub mod import;
pub mod model;
pub mod site_key;

pub use db::{AiReadOutboxItem, BUNDLED_SET, Confusion, Disagreement, DisagreementKind, Store, StoreError};
pub use import::{ImportError, ImportReport, import_folder};
pub use model::{
    AiCannotGrade, AiResult, CaseRow, CaseStatus, Finding, Grade, HistoryEntry, Identity, LabelPayload, OutboxItem,
    Pcr, Review, ReviewDraft, SharedLabel, SyncState, SyncSummary,
};
pub use site_key::{SiteKey, SiteKeyError};
