//! The labelling domain: RSNA grades, PCR status, findings, case status, the reader's identity,
//! and the records the store keeps.

use serde::{Deserialize, Serialize};

pub use lungdesk_domain::{Finding, Grade, LabelPayload, Pcr, SharedLabel, normalise_postal_code};

/// Where a case stands in the worklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Imported; no AI result yet.
    New,
    /// The AI has pre-read it.
    AiDone,
    /// This reader has started (a saved draft) but not confirmed.
    InReview,
    /// This reader has confirmed a grade and PCR status.
    Confirmed,
    /// Confirmed readings of two or more readers disagree on the grade or PCR.
    NeedsAdjudication,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::New,
        CaseStatus::AiDone,
        CaseStatus::InReview,
        CaseStatus::Confirmed,
        CaseStatus::NeedsAdjudication,
    ];
    pub fn name(self) -> &'static str {
        match self {
            CaseStatus::New => "New",
            CaseStatus::AiDone => "AI done",
            CaseStatus::InReview => "In review",
            CaseStatus::Confirmed => "Confirmed",
            CaseStatus::NeedsAdjudication => "Needs adjudication",
        }
    }
    /// Counted as done in the batch progress.
    pub fn is_done(self) -> bool {
        matches!(self, CaseStatus::Confirmed | CaseStatus::NeedsAdjudication)
    }
}

/// Who is reading, set on first start and kept in the store's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// A stable reader id such as the specialist number.
    pub reader_id: String,
    pub display_name: String,
    pub site_code: String,
    /// Facility postal code, 7 digits (Japan), written NNN-NNNN.
    pub postal_code: String,
    /// The site's secret that keys the case key (shared by the site's desks; never sent).
    /// Missing in stores made before it existed, until the reader enters it.
    #[serde(default)]
    pub site_key: Option<crate::SiteKey>,
}

impl Identity {
    /// What is wrong with it, field by field (empty when it can be saved).
    pub fn problems(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        let printable = |s: &str| !s.trim().is_empty() && s.chars().all(|c| !c.is_control());
        if !printable(&self.reader_id) || self.reader_id.len() > 64 {
            problems.push("reader_id");
        }
        if !printable(&self.display_name) || self.display_name.chars().count() > 100 {
            problems.push("display_name");
        }
        if !printable(&self.site_code)
            || self.site_code.len() > 32
            || !self.site_code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push("site_code");
        }
        if normalise_postal_code(&self.postal_code).is_none() {
            problems.push("postal_code");
        }
        if self.site_key.is_none() {
            problems.push("site_key");
        }
        problems
    }
}

/// The reader's labels of one case, as being edited or as confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReviewDraft {
    pub grade: Option<Grade>,
    pub pcr: Option<Pcr>,
    pub findings: Vec<Finding>,
    /// Free text by the reader; kept in the local store only (never exported or synced).
    pub note: String,
}

impl ReviewDraft {
    pub fn toggle(&mut self, finding: Finding) {
        if let Some(i) = self.findings.iter().position(|f| *f == finding) {
            self.findings.remove(i);
        } else {
            self.findings.push(finding);
            self.findings.sort();
        }
    }
    pub fn findings_codes(&self) -> String {
        self.findings.iter().map(|f| f.code()).collect::<Vec<_>>().join(";")
    }
}

/// A confirmed review as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub case_id: i64,
    pub reader_id: String,
    pub grade: Grade,
    pub pcr: Pcr,
    pub findings: Vec<Finding>,
    pub note: String,
    /// 1 for the first confirmation, +1 for every later change.
    pub revision: i64,
    pub confirmed_at: String,
}

/// The AI's pre-read of a case: a grade, or "cannot grade" with its reason (never both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiResult {
    pub series_uid: String,
    /// `None` when the AI could not grade: see `cannot_grade`.
    pub grade: Option<Grade>,
    /// Why the AI could not grade; never counted as a grade.
    pub cannot_grade: Option<AiCannotGrade>,
    /// Scores of grades 1–4.
    pub scores: [f64; 4],
    pub explanation: String,
    /// Segmentation method and grade rule, e.g. "ONNX models …".
    pub method: String,
    /// Model names and versions; empty for the HU baseline.
    pub models: Vec<String>,
    /// Share of the lungs with opacity, 0–100 (`None` when not graded, or from a store
    /// written before schema 7).
    pub involvement_percent: Option<f64>,
    /// Zonal severity score 0–30.
    pub severity_score: Option<u8>,
}

/// Why the AI could not grade a series: a stable code (`single_slice`, `not_chest_ct`, …,
/// from `lungdesk_inference::gradable`) and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiCannotGrade {
    pub code: String,
    pub reason: String,
}

/// One worklist row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRow {
    pub case_id: i64,
    /// Pseudonymous key: no UID, name or ID can be read back from it.
    pub case_key: String,
    pub exam_date: Option<String>,
    pub age_years: Option<i64>,
    pub sex: Option<String>,
    /// Images in the series the desk opens for reading (`lungdesk_volume::best_for_reading`).
    pub slices: i64,
    /// Series of the case.
    pub series: i64,
    /// Slice thickness of the series the desk opens, when known.
    pub thickness_mm: Option<f64>,
    /// The folder that series was imported from (shown on hover; never exported or synced).
    #[serde(skip)]
    pub folder: Option<String>,
    pub status: CaseStatus,
    pub ai_grade: Option<Grade>,
    /// The code of the AI's "cannot grade", when that is its latest result.
    pub ai_cannot_grade: Option<String>,
    /// The AI's score for the grade it gave (0–1), when it gave one: how sure it was.
    pub ai_confidence: Option<f64>,
    pub grade: Option<Grade>,
    pub pcr: Option<Pcr>,
    pub revision: Option<i64>,
}

/// One entry of the append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub case_id: i64,
    pub reader_id: String,
    pub at: String,
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub revision: i64,
}

/// A label waiting in the outbox for the sync service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub idempotency_key: String,
    pub payload: String,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub attempts: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_problems_name_each_bad_field() {
        let ok = Identity {
            reader_id: "R-0042".into(),
            display_name: "山田 花子".into(),
            site_code: "NAGOYA-U".into(),
            postal_code: "466-8560".into(),
            site_key: Some(crate::SiteKey::from_bytes([7; 32])),
        };
        assert!(ok.problems().is_empty());
        let bad = Identity { reader_id: " ".into(), site_code: "名古屋".into(), postal_code: "46".into(), ..ok };
        assert_eq!(bad.problems(), vec!["reader_id", "site_code", "postal_code"]);
    }

    #[test]
    fn findings_toggle_in_code_order() {
        let mut d = ReviewDraft::default();
        d.toggle(Finding::PleuralEffusion);
        d.toggle(Finding::CrazyPaving);
        assert_eq!(d.findings_codes(), "crazy_paving;pleural_effusion");
        d.toggle(Finding::CrazyPaving);
        assert_eq!(d.findings, vec![Finding::PleuralEffusion]);
    }
}

/// Where a case's latest label stands with the cloud service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// Waiting to be sent; `error` is why the last try failed.
    Pending { error: Option<String> },
    /// The service has it.
    Sent,
    /// The service holds this revision differently, or refused it: not retried, shown to the user.
    Conflict(String),
}

/// The outbox in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub pending: i64,
    pub sent: i64,
    pub conflicts: i64,
    /// Why the latest failed try of a pending label failed.
    pub last_error: Option<String>,
}
