//! The sync payload: one confirmed label as it leaves the site.
//!
//! Built from a whitelist of fields; `deny_unknown_fields` makes the service refuse anything
//! else, so no free text (the reader's note, DICOM descriptions) and nothing identifying (name,
//! patient ID, birth date, study UID, file path) can ride along.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

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
    /// The patient's age band, as its first year: 0, 10, …, 80, or 90 for 90 and over
    /// ([`age_band_start`]). Never the exact age: the service refuses any other value.
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

    /// Every field within its vocabulary and length, the first problem found; `now` is the
    /// service's clock (exam dates up to tomorrow, confirmation times up to 5 minutes ahead).
    pub fn validate_at(&self, now: OffsetDateTime) -> Result<(), PayloadProblem> {
        let bad = |field, problem| Err(PayloadProblem { field, problem });
        if self.schema != LABEL_SCHEMA {
            return bad("schema", "must be lungdesk-label/1");
        }
        check_study(&study_of!(self), now)?;
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
        match confirmed_at_utc(&self.confirmed_at) {
            Some(t) if t.year() >= 1900 && t <= now + MAX_CLOCK_AHEAD => {}
            Some(_) => return bad("confirmed_at", "must not lie before 1900 or more than 5 minutes in the future"),
            None => return bad("confirmed_at", "must be an RFC 3339 time"),
        }
        Ok(())
    }

    /// [`Self::validate_at`] now.
    pub fn validate(&self) -> Result<(), PayloadProblem> {
        self.validate_at(OffsetDateTime::now_utc())
    }

    /// `confirmed_at` in UTC with microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ`: the form the
    /// service stores and compares (as text, which then orders like time), or `None` when it is
    /// not RFC 3339.
    pub fn confirmed_at_normalised(&self) -> Option<String> {
        let t = confirmed_at_utc(&self.confirmed_at)?;
        t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z")).ok()
    }
}

/// The [`Study`] of a payload with the study fields under their usual names.
macro_rules! study_of {
    ($p:expr) => {
        $crate::payload::Study {
            case_key: &$p.case_key,
            site_code: &$p.site_code,
            facility_postal_code: &$p.facility_postal_code,
            exam_date: $p.exam_date.as_deref(),
            age_years: $p.age_years,
            sex: $p.sex.as_deref(),
        }
    };
}
pub(crate) use study_of;

/// The study fields both payloads carry.
pub(crate) struct Study<'a> {
    pub case_key: &'a str,
    pub site_code: &'a str,
    pub facility_postal_code: &'a str,
    pub exam_date: Option<&'a str>,
    pub age_years: Option<i64>,
    pub sex: Option<&'a str>,
}

/// `s` is 1–`max` letters, digits, `-` or `_`.
pub(crate) fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The case key, site, facility postal code, exam date, age band and sex, each within its
/// vocabulary; the first problem found.
pub(crate) fn check_study(study: &Study<'_>, now: OffsetDateTime) -> Result<(), PayloadProblem> {
    let bad = |field, problem| Err(PayloadProblem { field, problem });
    if study.case_key.len() != 16 || !study.case_key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return bad("case_key", "must be 16 hex digits");
    }
    if !is_token(study.site_code, 32) {
        return bad("site_code", "must be 1–32 letters, digits, - or _");
    }
    let postal = study.facility_postal_code;
    if crate::normalise_postal_code(postal).as_deref() != Some(postal)
        || crate::prefecture_of_postal_code(postal).is_none()
    {
        return bad("facility_postal_code", "must be a Japanese postal code NNN-NNNN");
    }
    if study.exam_date.is_some_and(|d| !is_exam_date(d, now)) {
        return bad("exam_date", "must be a calendar date YYYY-MM-DD from 1900 to tomorrow");
    }
    if study.age_years.is_some_and(|a| age_band_start(a) != Some(a)) {
        return bad("age_years", "must be the first year of a 10-year age band: 0, 10, …, 90 (90 and over)");
    }
    if study.sex.is_some_and(|s| !matches!(s, "M" | "F" | "O")) {
        return bad("sex", "must be M, F or O");
    }
    Ok(())
}

/// The first year of the 10-year band that `age_years` falls in (90 for 90 and over), or
/// `None` for an age outside 0–130: what the desk sends instead of the exact age.
pub fn age_band_start(age_years: i64) -> Option<i64> {
    (0..=130).contains(&age_years).then(|| age_years.min(90) / 10 * 10)
}

/// How far ahead of the service's clock a confirmation time may be (desk clocks drift).
pub(crate) const MAX_CLOCK_AHEAD: time::Duration = time::Duration::minutes(5);

pub(crate) fn confirmed_at_utc(s: &str) -> Option<OffsetDateTime> {
    if s.len() > 40 {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok().map(|t| t.to_offset(time::UtcOffset::UTC))
}

/// A real calendar date (no 2026-02-30) from 1900 to the day after `now` (UTC), `YYYY-MM-DD`.
fn is_exam_date(d: &str, now: OffsetDateTime) -> bool {
    let Ok(date) = Date::parse(d, format_description!("[year]-[month]-[day]")) else { return false };
    let tomorrow = now.date().next_day().unwrap_or(now.date());
    d.len() == 10 && date.year() >= 1900 && date <= tomorrow
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
            age_years: Some(60),
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
        assert_eq!(field(LabelPayload { age_years: Some(61), ..sample() }), "age_years", "an exact age is refused");
        assert_eq!(field(LabelPayload { age_years: Some(100), ..sample() }), "age_years", "90 and over is 90");
        assert_eq!(
            [0, 9, 61, 89, 90, 104, 131, -1].map(age_band_start),
            [Some(0), Some(0), Some(60), Some(80), Some(90), Some(90), None, None]
        );
        assert_eq!(field(LabelPayload { sex: Some("Male".into()), ..sample() }), "sex");
        assert_eq!(field(LabelPayload { grade: 5, ..sample() }), "grade");
        assert_eq!(field(LabelPayload { revision: 0, ..sample() }), "revision");
        assert_eq!(field(LabelPayload { schema: "lungdesk-label/9".into(), ..sample() }), "schema");
    }

    /// Exam dates are real calendar dates from 1900 to tomorrow; confirmation times are RFC
    /// 3339, from 1900 to 5 minutes ahead of the service's clock, and compare in UTC.
    #[test]
    fn dates_are_real_and_not_in_the_future_and_times_compare_in_utc() {
        let now = OffsetDateTime::parse("2026-12-01T12:00:00Z", &Rfc3339).expect("now");
        let exam =
            |d: &str| LabelPayload { exam_date: Some(d.into()), ..sample() }.validate_at(now).map_err(|p| p.field);
        assert_eq!(exam("2026-12-02"), Ok(()), "tomorrow (time zones)");
        for bad in ["2026-02-30", "2999-01-01", "2026-12-03", "1899-12-31", "2026-4-01", "+02026-04-01"] {
            assert_eq!(exam(bad), Err("exam_date"), "{bad}");
        }
        let confirmed =
            |t: &str| LabelPayload { confirmed_at: t.into(), ..sample() }.validate_at(now).map_err(|p| p.field);
        assert_eq!(confirmed("2026-12-01T12:04:00Z"), Ok(()), "a desk clock 4 minutes ahead");
        assert_eq!(confirmed("2026-12-01T21:00:00+09:00"), Ok(()));
        for bad in [
            "9999-12-31T00:00:00Z",
            "2026-12-01T12:06:00Z",
            "2026-03-02'; DROP TABLE labels;--",
            "2026-03-02",
            "1899-01-01T00:00:00Z",
        ] {
            assert_eq!(confirmed(bad), Err("confirmed_at"), "{bad}");
        }
        let utc = |t: &str| LabelPayload { confirmed_at: t.into(), ..sample() }.confirmed_at_normalised();
        assert_eq!(utc("2026-03-02T19:30:00+09:00").as_deref(), Some("2026-03-02T10:30:00.000000Z"));
        assert!(utc("2026-03-02T19:30:00+09:00") < utc("2026-03-02T11:00:00Z"), "19:30+09:00 is before 11:00Z");
        assert!(utc("2026-03-02T11:00:00Z") < utc("2026-03-02T11:00:00.5Z"));
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
