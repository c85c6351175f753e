//! The sync payload: one confirmed label as it leaves the site.
//!
//! Built from a whitelist of fields; `deny_unknown_fields` makes the service refuse anything
//! else, so no free text (the reader's note, DICOM descriptions) and nothing identifying (name,
//! patient ID, birth date, study UID, file path) can ride along.

use serde::{Deserialize, Serialize};

use crate::{Finding, Pcr};

/// The payload's schema tag.
pub const LABEL_SCHEMA: &str = "lungdesk-label/1";

/// One confirmed label (`lungdesk-label/1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelPayload {
    pub schema: String,
    /// Pseudonymous case key: the first 16 hex digits of sha256(site, study UID).
    pub case_key: String,
    pub site_code: String,
    /// Facility postal code `NNN-NNNN` (of the hospital, not the patient).
    pub facility_postal_code: String,
    /// `YYYY-MM-DD`.
    pub exam_date: Option<String>,
    pub age_years: Option<i64>,
    /// `M`, `F` or `O`.
    pub sex: Option<String>,
    pub reader_id: String,
    /// RSNA grade 1–4.
    pub grade: u8,
    pub pcr: Pcr,
    pub findings: Vec<Finding>,
    pub ai_grade: Option<u8>,
    /// Versions of the models behind the AI grade.
    pub ai_models: Option<Vec<String>>,
    pub revision: i64,
    /// RFC 3339, UTC.
    pub confirmed_at: String,
}

/// Why a payload is refused: the field and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadProblem {
    pub field: &'static str,
    pub problem: &'static str,
}

impl std::fmt::Display for PayloadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl LabelPayload {
    /// The key the service de-duplicates by: one per case, reader and revision.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}:{}", self.case_key, self.reader_id, self.revision)
    }

    /// Every field within its vocabulary and length; the first problem found.
    pub fn validate(&self) -> Result<(), PayloadProblem> {
        let bad = |field, problem| Err(PayloadProblem { field, problem });
        let token = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if self.schema != LABEL_SCHEMA {
            return bad("schema", "must be lungdesk-label/1");
        }
        if self.case_key.len() != 16 || !self.case_key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad("case_key", "must be 16 hex digits");
        }
        if !token(&self.site_code, 32) {
            return bad("site_code", "must be 1–32 letters, digits, - or _");
        }
        if crate::normalise_postal_code(&self.facility_postal_code).as_deref() != Some(&self.facility_postal_code)
            || crate::prefecture_of_postal_code(&self.facility_postal_code).is_none()
        {
            return bad("facility_postal_code", "must be a Japanese postal code NNN-NNNN");
        }
        if let Some(d) = &self.exam_date
            && !is_date(d)
        {
            return bad("exam_date", "must be YYYY-MM-DD");
        }
        if self.age_years.is_some_and(|a| !(0..=130).contains(&a)) {
            return bad("age_years", "must be 0–130");
        }
        if self.sex.as_deref().is_some_and(|s| !matches!(s, "M" | "F" | "O")) {
            return bad("sex", "must be M, F or O");
        }
        if self.reader_id.is_empty() || self.reader_id.len() > 64 || self.reader_id.chars().any(char::is_control) {
            return bad("reader_id", "must be 1–64 printable characters");
        }
        if !(1..=4).contains(&self.grade) {
            return bad("grade", "must be 1–4");
        }
        if self.ai_grade.is_some_and(|g| !(1..=4).contains(&g)) {
            return bad("ai_grade", "must be 1–4");
        }
        if self.findings.len() > Finding::ALL.len() {
            return bad("findings", "repeats a finding");
        }
        if let Some(models) = &self.ai_models
            && (models.len() > 8 || models.iter().any(|m| m.len() > 128 || m.chars().any(char::is_control)))
        {
            return bad("ai_models", "at most 8 versions of at most 128 printable characters");
        }
        if !(1..=1_000_000).contains(&self.revision) {
            return bad("revision", "must be 1 or more");
        }
        if self.confirmed_at.len() > 40 || !self.confirmed_at.get(..10).is_some_and(is_date) {
            return bad("confirmed_at", "must be an RFC 3339 time");
        }
        Ok(())
    }
}

fn is_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&d[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&d[8..10].parse::<u8>().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LabelPayload {
        LabelPayload {
            schema: LABEL_SCHEMA.into(),
            case_key: "0123456789abcdef".into(),
            site_code: "NAGOYA-U".into(),
            facility_postal_code: "466-8560".into(),
            exam_date: Some("2026-04-01".into()),
            age_years: Some(61),
            sex: Some("M".into()),
            reader_id: "R-0042".into(),
            grade: 1,
            pcr: Pcr::Positive,
            findings: vec![Finding::CrazyPaving],
            ai_grade: Some(2),
            ai_models: Some(vec!["lung-seg 1.0".into()]),
            revision: 1,
            confirmed_at: "2026-11-23T04:00:00Z".into(),
        }
    }

    #[test]
    fn a_good_payload_passes_and_each_bad_field_is_named() {
        assert_eq!(sample().validate(), Ok(()));
        assert_eq!(sample().idempotency_key(), "0123456789abcdef:R-0042:1");
        let field = |p: LabelPayload| p.validate().expect_err("refused").field;
        assert_eq!(field(LabelPayload { case_key: "'; DROP TABLE labels;--".into(), ..sample() }), "case_key");
        assert_eq!(field(LabelPayload { site_code: "X' OR '1'='1".into(), ..sample() }), "site_code");
        assert_eq!(field(LabelPayload { facility_postal_code: "1130033".into(), ..sample() }), "facility_postal_code");
        assert_eq!(field(LabelPayload { exam_date: Some("2026-13-01".into()), ..sample() }), "exam_date");
        assert_eq!(field(LabelPayload { age_years: Some(-1), ..sample() }), "age_years");
        assert_eq!(field(LabelPayload { sex: Some("Male".into()), ..sample() }), "sex");
        assert_eq!(field(LabelPayload { grade: 5, ..sample() }), "grade");
        assert_eq!(field(LabelPayload { revision: 0, ..sample() }), "revision");
        assert_eq!(field(LabelPayload { schema: "lungdesk-label/9".into(), ..sample() }), "schema");
    }

    #[test]
    fn unknown_fields_such_as_a_patient_name_are_refused() {
        let mut v = serde_json::to_value(sample()).expect("json");
        v["patient_name"] = serde_json::json!("YAMADA^TARO");
        let err = serde_json::from_value::<LabelPayload>(v).expect_err("refused");
        assert!(err.to_string().contains("patient_name"), "{err}");
    }
}

/// A label as the service hands it back to the desks of the same case's site (and to curators):
/// what the other readers said, for adjudication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedLabel {
    /// The service's receipt number, increasing; desks pull from the last one they saw.
    pub id: i64,
    pub case_key: String,
    pub site_code: String,
    pub reader_id: String,
    pub revision: i64,
    pub grade: u8,
    pub pcr: Pcr,
    pub findings: Vec<Finding>,
    pub ai_grade: Option<u8>,
    pub confirmed_at: String,
}
