//! What travels between the desk and the service, besides the label payload itself
//! ([`lungdesk_domain::LabelPayload`]).

use lungdesk_domain::Pcr;
use serde::{Deserialize, Serialize};

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Writes their own labels for their own site; reads their site's labels.
    Reader,
    /// Reads their site's labels and audit trail; issues reader tokens for their site.
    SiteAdmin,
    /// Reads labels and audit trails across sites; writes no labels.
    Curator,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::SiteAdmin => "site_admin",
            Role::Curator => "curator",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        [Role::Reader, Role::SiteAdmin, Role::Curator].into_iter().find(|r| r.code() == code)
    }
}

/// Whose grade a count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The AI's pre-read grade of each labelled case.
    Ai,
    /// The radiologist-confirmed grade (the latest confirmed label of the case).
    Radiologist,
}

impl Source {
    pub fn code(self) -> &'static str {
        match self {
            Source::Ai => "ai",
            Source::Radiologist => "radiologist",
        }
    }
}

/// Counting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// By exam date.
    #[default]
    Day,
    /// By ISO week (Monday) of the exam date.
    Week,
}

/// Filters of a surveillance request; `None` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveillanceQuery {
    #[serde(default)]
    pub period: Period,
    /// First exam date, `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    /// Last exam date, `YYYY-MM-DD`, inclusive.
    pub to: Option<String>,
    /// JIS prefecture code `01`–`47`.
    pub prefecture: Option<String>,
    pub grade: Option<u8>,
    pub pcr: Option<Pcr>,
    pub source: Option<Source>,
    /// With `source=ai`: the AI-only counts of this model set, from its AI reads of every
    /// scan ([`AiSurveillance`]), instead of the AI grades of labelled cases.
    #[serde(default)]
    pub model: Option<String>,
}

/// One cell of the AI-only counts of a model set: the cases it read, by exam day (or week),
/// prefecture, grade, sex and age band; "cannot grade" is its own cell (`grade` null, the
/// reason code in `cannot_grade`), never a grade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiSurveillanceRow {
    pub period_start: String,
    pub prefecture: String,
    pub grade: Option<u8>,
    pub cannot_grade: Option<String>,
    pub sex: Option<String>,
    /// Ten-year band, e.g. `60-69`, or `90+`.
    pub age_band: Option<String>,
    /// `None` when suppressed (fewer cases than the service's threshold).
    pub count: Option<i64>,
}

/// The AI-only counts of one model set: every case it read once, by its latest read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiSurveillance {
    pub period: Period,
    pub min_count: i64,
    pub source: Source,
    pub model_set: String,
    pub rows: Vec<AiSurveillanceRow>,
    /// The drift monitor's marks on this set in the range: withheld periods (those sites'
    /// reads of those days are left out of `rows`) and unmeasured ones (counted, but agreement
    /// could not be measured).
    #[serde(default)]
    pub flags: Vec<DriftFlag>,
}

/// A period the drift monitor marked for one site × model set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftFlag {
    pub site_code: String,
    /// JIS code of the site's prefecture (from its reads' postal code).
    pub prefecture: String,
    pub model_set: String,
    /// `withheld` or `unmeasured`.
    pub status: lungdesk_domain::drift::DriftStatus,
    /// First exam day, inclusive.
    pub from_day: String,
    /// First exam day after it, exclusive; `None`: still running.
    pub to_day: Option<String>,
    pub reason_code: String,
    pub reason: String,
}

/// One site × model set as the drift monitor sees it today, with its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftMonitor {
    pub site_code: String,
    pub prefecture: String,
    pub model_set: String,
    /// The verdict after the latest exam day (published, unmeasured or withheld).
    pub status: lungdesk_domain::drift::DriftStatus,
    pub reasons: Vec<lungdesk_domain::drift::DriftReason>,
    /// The verdict after each exam day, with the rolling κ and its interval.
    pub points: Vec<lungdesk_domain::drift::DriftPoint>,
    /// Its withheld and unmeasured periods.
    pub periods: Vec<lungdesk_domain::drift::DriftPeriod>,
}

/// `GET /v1/drift`: every site × model set in the caller's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub config: lungdesk_domain::drift::DriftConfig,
    pub monitors: Vec<DriftMonitor>,
}

/// `GET /v1/surveillance/export`: the published series with what a public-health user needs
/// to cite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveillanceExport {
    /// `lungdesk-surveillance-export/1`.
    pub schema: String,
    pub generated_at: String,
    pub service_version: String,
    pub source: Source,
    /// The model set (AI-only series), else `None`.
    pub model_set: Option<String>,
    /// Every model version whose reads are counted (AI-only series).
    pub model_versions: Vec<String>,
    pub period: Period,
    pub from: Option<String>,
    pub to: Option<String>,
    pub min_count: i64,
    /// How small cells are published, in words.
    pub suppression: String,
    pub rows: Vec<ExportRow>,
    pub flags: Vec<DriftFlag>,
}

/// One cell of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRow {
    pub period_start: String,
    pub prefecture: String,
    pub grade: Option<u8>,
    pub cannot_grade: Option<String>,
    pub pcr: Option<Pcr>,
    pub sex: Option<String>,
    pub age_band: Option<String>,
    /// `None` when suppressed.
    pub count: Option<i64>,
    pub suppressed: bool,
    /// A site of this prefecture was withheld in this period: published without its count
    /// (a count leaving one site's reads out could be differenced against another export).
    pub withheld: bool,
}

/// One cell of the counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveillanceRow {
    /// The exam day, or the Monday of the exam week, `YYYY-MM-DD`.
    pub period_start: String,
    pub prefecture: String,
    pub grade: u8,
    pub pcr: Pcr,
    pub source: Source,
    /// `None` when suppressed (fewer cases than the service's threshold).
    pub count: Option<i64>,
}

/// The counts, with the suppression threshold they were published under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surveillance {
    pub period: Period,
    /// Counts below this are published as suppressed.
    pub min_count: i64,
    pub rows: Vec<SurveillanceRow>,
}

/// A site admin's request for a reader token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub reader_id: String,
    pub role: Role,
    pub days: i64,
}

/// A token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub reader_id: String,
    pub site_code: String,
    pub role: Role,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An audited write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub site_code: String,
    pub action: String,
    pub target: String,
    /// The id of the token the write came with (12 hex digits); empty from the service's
    /// command line, and for writes made before the service recorded it.
    #[serde(default)]
    pub token_id: String,
}

/// The body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// A token as listed to a site admin or curator: its id (the first 12 hex digits of its
/// SHA-256), never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub reader_id: String,
    pub site_code: String,
    pub role: Role,
    /// Unix seconds.
    pub expires_at: i64,
    pub revoked: bool,
}

/// `GET /v1/agreement`: the AI of one model set against the readers' confirmed grades, over the
/// cases that have both (the latest confirmed label of the case and the set's latest read,
/// when it graded), and the readers against each other where a case has several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub model_set: String,
    /// The site, or `None` for every site (curators).
    pub site: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// AI grade (rows) against the reader's grade (columns).
    pub confusion: lungdesk_domain::Confusion4,
    pub cases: u64,
    pub kappa: lungdesk_domain::Kappa,
    pub linear_kappa: lungdesk_domain::Kappa,
    /// The first two readers of each case with several (by reader id), each by their latest
    /// revision.
    pub readers: ReaderAgreement,
}

/// Agreement between readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderAgreement {
    pub confusion: lungdesk_domain::Confusion4,
    pub cases: u64,
    pub kappa: lungdesk_domain::Kappa,
    pub linear_kappa: lungdesk_domain::Kappa,
}
