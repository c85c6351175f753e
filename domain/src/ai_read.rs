//! The AI read payload (`lungdesk-ai-read/1`, issue #17): one model set's pre-read of one case
//! as it leaves the site, for the AI-only surveillance counts and the agreement with readers.
//!
//! A whitelist like the label payload (`deny_unknown_fields`): the study fields (pseudonymous
//! case key, site, facility postal code, exam date, age band, sex), the model set and its
//! versions, and what the AI found — a grade with its per-class scores, involvement and
//! severity, or "cannot grade" with a reason *code* (never its text, never a grade). No free
//! text, no UID, no path.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::PayloadProblem;
use crate::payload::{MAX_CLOCK_AHEAD, check_study, confirmed_at_utc, is_token, study_of};

/// The payload's schema tag.
pub const AI_READ_SCHEMA: &str = "lungdesk-ai-read/1";

/// The most model versions one read may name.
pub const MAX_MODELS: usize = 8;

/// One AI read (`lungdesk-ai-read/1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiReadPayload {
    pub schema: String,
    /// Pseudonymous case key (as in the label payload).
    pub case_key: String,
    pub site_code: String,
    /// Facility postal code `NNN-NNNN` (of the hospital).
    pub facility_postal_code: String,
    /// `YYYY-MM-DD`: counts go by exam date, not by the day of reading.
    pub exam_date: Option<String>,
    /// Age band start (0, 10, …, 90), never the exact age.
    pub age_years: Option<i64>,
    /// `M`, `F` or `O`.
    pub sex: Option<String>,
    /// The model set: `bundled` or a site's own set's name.
    pub model_set: String,
    /// The set's version: what the idempotency key and the drift monitor go by.
    pub model_version: String,
    /// Each model's name and version, e.g. `lungdesk-lesion 2.0.0`.
    pub models: Vec<String>,
    /// RSNA grade 1–4; `None` exactly when `cannot_grade` is set.
    pub grade: Option<u8>,
    /// Why the AI could not grade the scan, as its code (`single_slice`, `no_lung`, …).
    pub cannot_grade: Option<String>,
    /// Per-class scores (typical, indeterminate, atypical, negative), each 0–1; all zero when
    /// the scan could not be graded.
    pub scores: [f64; 4],
    /// Share of the lung with opacity, %.
    pub involvement_percent: Option<f64>,
    /// Zonal severity score 0–30.
    pub severity_score: Option<u8>,
    /// RFC 3339, UTC.
    pub analysed_at: String,
}

/// A model set's name: 1–64 letters, digits, `-` or `_` (what the payload, the batch command
/// and the service's queries all accept).
pub fn is_model_set_name(s: &str) -> bool {
    is_token(s, 64)
}

impl AiReadPayload {
    /// The key the service de-duplicates by: one read per case, model set and version.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}:{}", self.case_key, self.model_set, self.model_version)
    }

    /// Every field within its vocabulary and range; the first problem found. `now` is the
    /// service's clock.
    pub fn validate_at(&self, now: OffsetDateTime) -> Result<(), PayloadProblem> {
        let bad = |field, problem| Err(PayloadProblem { field, problem });
        if self.schema != AI_READ_SCHEMA {
            return bad("schema", "must be lungdesk-ai-read/1");
        }
        check_study(&study_of!(self), now)?;
        if !is_model_set_name(&self.model_set) {
            return bad("model_set", "must be 1–64 letters, digits, - or _");
        }
        let printable = |s: &str, max: usize| !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control);
        if !printable(&self.model_version, 64) || self.model_version.contains(':') {
            return bad("model_version", "must be 1–64 printable characters without ':'");
        }
        if self.models.is_empty() || self.models.len() > MAX_MODELS || !self.models.iter().all(|m| printable(m, 128)) {
            return bad("models", "1–8 model versions of at most 128 printable characters");
        }
        match (&self.grade, &self.cannot_grade) {
            (Some(g), None) if (1..=4).contains(g) => {
                let sum: f64 = self.scores.iter().sum();
                if self.scores.iter().any(|s| !(0.0..=1.0).contains(s)) || (sum - 1.0).abs() > 0.02 {
                    return bad("scores", "must be four shares 0–1 that sum to 1");
                }
            }
            (Some(_), None) => return bad("grade", "must be 1–4"),
            (None, Some(code)) => {
                if !is_token(code, 32) || code.bytes().any(|b| b.is_ascii_uppercase()) {
                    return bad("cannot_grade", "must be a reason code: 1–32 lower-case letters, digits or _");
                }
                if self.scores.iter().any(|s| s.abs() > f64::EPSILON) {
                    return bad("scores", "must be zero when the scan could not be graded");
                }
            }
            _ => return bad("grade", "exactly one of grade and cannot_grade"),
        }
        if self.involvement_percent.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
            return bad("involvement_percent", "must be 0–100");
        }
        if self.severity_score.is_some_and(|s| s > 30) {
            return bad("severity_score", "must be 0–30");
        }
        match confirmed_at_utc(&self.analysed_at) {
            Some(t) if t.year() >= 1900 && t <= now + MAX_CLOCK_AHEAD => Ok(()),
            Some(_) => bad("analysed_at", "must not lie before 1900 or more than 5 minutes in the future"),
            None => bad("analysed_at", "must be an RFC 3339 time"),
        }
    }

    /// [`Self::validate_at`] now.
    pub fn validate(&self) -> Result<(), PayloadProblem> {
        self.validate_at(OffsetDateTime::now_utc())
    }

    /// `analysed_at` in UTC, in one fixed format (`2026-11-30T09:00:00.000000Z`), so that
    /// reads compare in time, whatever offset and precision the desk wrote; `None` when it is
    /// not an RFC 3339 time.
    pub fn analysed_at_utc(&self) -> Option<String> {
        crate::payload::confirmed_at_utc(&self.analysed_at)?
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            ))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_of_reading_is_compared_in_utc() {
        let at = |t: &str| AiReadPayload { analysed_at: t.into(), ..graded() }.analysed_at_utc();
        assert_eq!(at("2026-11-30T18:00:00+09:00").as_deref(), Some("2026-11-30T09:00:00.000000Z"));
        assert_eq!(at("2026-11-30T09:00:00.5Z").as_deref(), Some("2026-11-30T09:00:00.500000Z"));
        assert_eq!(at("2026-12-01T01:00:00+09:00").as_deref(), Some("2026-11-30T16:00:00.000000Z"), "the UTC day");
        assert_eq!(at("yesterday"), None);
    }

    fn graded() -> AiReadPayload {
        AiReadPayload {
            schema: AI_READ_SCHEMA.into(),
            case_key: "0123456789abcdef".into(),
            site_code: "NAGOYA-U".into(),
            facility_postal_code: "466-8560".into(),
            exam_date: Some("2026-04-01".into()),
            age_years: Some(60),
            sex: Some("F".into()),
            model_set: "bundled".into(),
            model_version: "2.0.0".into(),
            models: vec!["lungdesk-lung 1.0.0".into(), "lungdesk-lesion 2.0.0".into()],
            grade: Some(1),
            cannot_grade: None,
            scores: [0.8, 0.2, 0.0, 0.0],
            involvement_percent: Some(12.5),
            severity_score: Some(9),
            analysed_at: "2026-11-30T09:00:00Z".into(),
        }
    }

    fn cannot_grade() -> AiReadPayload {
        AiReadPayload {
            grade: None,
            cannot_grade: Some("single_slice".into()),
            scores: [0.0; 4],
            involvement_percent: None,
            severity_score: None,
            ..graded()
        }
    }

    #[test]
    fn a_grade_or_a_reason_code_passes_and_each_bad_field_is_named() {
        assert_eq!(graded().validate(), Ok(()));
        assert_eq!(cannot_grade().validate(), Ok(()));
        assert_eq!(graded().idempotency_key(), "0123456789abcdef:bundled:2.0.0");
        let field = |p: AiReadPayload| p.validate().expect_err("refused").field;
        assert_eq!(field(AiReadPayload { schema: "lungdesk-label/1".into(), ..graded() }), "schema");
        assert_eq!(field(AiReadPayload { case_key: "1.2.392.200036".into(), ..graded() }), "case_key");
        assert_eq!(field(AiReadPayload { age_years: Some(61), ..graded() }), "age_years", "never the exact age");
        assert_eq!(field(AiReadPayload { model_set: "my set".into(), ..graded() }), "model_set");
        assert_eq!(field(AiReadPayload { model_version: "2:0".into(), ..graded() }), "model_version");
        assert_eq!(field(AiReadPayload { models: Vec::new(), ..graded() }), "models");
        assert_eq!(field(AiReadPayload { grade: Some(5), ..graded() }), "grade");
        assert_eq!(field(AiReadPayload { scores: [0.5, 0.1, 0.0, 0.0], ..graded() }), "scores");
        assert_eq!(field(AiReadPayload { severity_score: Some(31), ..graded() }), "severity_score");
        assert_eq!(field(AiReadPayload { involvement_percent: Some(101.0), ..graded() }), "involvement_percent");
        assert_eq!(field(AiReadPayload { analysed_at: "yesterday".into(), ..graded() }), "analysed_at");
    }

    #[test]
    fn cannot_grade_is_never_a_grade_and_carries_a_code_not_a_text() {
        let field = |p: AiReadPayload| p.validate().expect_err("refused").field;
        assert_eq!(field(AiReadPayload { grade: Some(4), ..cannot_grade() }), "grade", "both: refused");
        assert_eq!(field(AiReadPayload { grade: None, cannot_grade: None, ..graded() }), "grade", "neither");
        let text = "the series covers 30 mm from head to foot";
        assert_eq!(field(AiReadPayload { cannot_grade: Some(text.into()), ..cannot_grade() }), "cannot_grade");
        assert_eq!(field(AiReadPayload { scores: [0.25; 4], ..cannot_grade() }), "scores");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut json = serde_json::to_value(graded()).expect("json");
        json["patient_name"] = "YAMADA^TARO".into();
        assert!(serde_json::from_value::<AiReadPayload>(json).is_err());
        let back: AiReadPayload = serde_json::from_str(&serde_json::to_string(&graded()).expect("json")).expect("back");
        assert_eq!(back, graded());
    }
}
