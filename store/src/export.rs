//! Export of confirmed labels as CSV or JSON (schema `lungdesk-labels/1`, documented in
//! `docs/LABELS.md`). Exports carry the pseudonymous case key and the whitelisted fields only:
//! no UID, patient name, ID, birth date, DICOM free text or reader's note.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::db::{Store, StoreError};

/// One exported label: one reader's confirmed review of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelRecord {
    pub case_key: String,
    pub exam_date: Option<String>,
    pub age_years: Option<i64>,
    pub sex: Option<String>,
    pub site_code: String,
    pub facility_postal_code: String,
    pub reader_id: String,
    /// RSNA category 1–4.
    pub grade: u8,
    pub grade_code: String,
    pub pcr: String,
    /// Finding codes joined by `;`.
    pub findings: String,
    pub ai_grade: Option<u8>,
    /// Model names and versions joined by `+`; empty for the HU baseline or no AI result.
    pub ai_models: String,
    pub revision: i64,
    pub confirmed_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the export {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the export file name must end in .csv or .json: {0}")]
    Format(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every confirmed review in the store, by case then reader.
pub fn label_records(store: &Store) -> Result<Vec<LabelRecord>, StoreError> {
    let conn = store.connection();
    let err = |source| StoreError::Sql { path: store.path().to_owned(), step: "read labels for export", source };
    let mut stmt = conn
        .prepare(
            "SELECT c.case_key, c.exam_date, c.age_years, c.sex, r.site_code, r.postal_code, r.reader_id, r.grade, \
               r.pcr, r.findings, a.grade, a.models, r.revision, r.confirmed_at \
             FROM reviews r JOIN cases c ON c.id = r.case_id LEFT JOIN ai_results a ON a.id = r.ai_result_id \
             ORDER BY c.id, r.reader_id",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            let grade: u8 = r.get(7)?;
            let models: Option<String> = r.get(11)?;
            let models: Vec<String> = models.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default();
            Ok(LabelRecord {
                case_key: r.get(0)?,
                exam_date: r.get(1)?,
                age_years: r.get(2)?,
                sex: r.get(3)?,
                site_code: r.get(4)?,
                facility_postal_code: r.get(5)?,
                reader_id: r.get(6)?,
                grade,
                grade_code: crate::Grade::from_number(i64::from(grade))
                    .map(|g| g.code().to_owned())
                    .unwrap_or_default(),
                pcr: r.get(8)?,
                findings: r.get(9)?,
                ai_grade: r.get(10)?,
                ai_models: models.join("+"),
                revision: r.get(12)?,
                confirmed_at: r.get(13)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(err)
}

/// Writes the labels as CSV (header row, one label per row).
pub fn write_csv(records: &[LabelRecord], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    for r in records {
        writer.serialize(r)?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes the labels as JSON: `{"schema": "lungdesk-labels/1", "labels": [...]}`.
pub fn write_json(records: &[LabelRecord], out: impl Write) -> serde_json::Result<()> {
    serde_json::to_writer_pretty(out, &serde_json::json!({ "schema": "lungdesk-labels/1", "labels": records }))
}

/// Exports every confirmed label to `path` (.csv or .json), written whole or not at all.
pub fn export_to_file(store: &Store, path: &Path) -> Result<usize, ExportError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let records = label_records(store)?;
    let write_err = |source| ExportError::Write { path: path.to_owned(), source };
    let tmp = path.with_extension("partial");
    let file = std::fs::File::create(&tmp).map_err(write_err)?;
    let mut out = std::io::BufWriter::new(file);
    let written = match ext.as_deref() {
        Some("csv") => write_csv(&records, &mut out).map_err(|e| std::io::Error::other(e.to_string())),
        Some("json") => write_json(&records, &mut out).map_err(std::io::Error::other),
        _ => {
            drop(out);
            let _ = std::fs::remove_file(&tmp);
            return Err(ExportError::Format(path.to_owned()));
        }
    };
    let finished = written
        .and_then(|()| out.into_inner().map_err(std::io::IntoInnerError::into_error))
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::NewSeries;
    use crate::{Finding, Grade, Identity, Pcr, ReviewDraft};

    #[test]
    fn csv_and_json_carry_the_whitelisted_fields_and_no_note() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("l.sqlite")).expect("open");
        let me = Identity {
            reader_id: "R1".into(),
            display_name: "Dr Reader".into(),
            site_code: "SITE-A".into(),
            postal_code: "466-8560".into(),
            site_key: Some(crate::SiteKey::from_bytes([7; 32])),
        };
        s.add_series(
            &me,
            &NewSeries {
                study_uid: "1.2.392.200036.9116.2.6.1.48".into(),
                series_uid: "1.2.392.200036.9116.2.6.1.48.1".into(),
                exam_date: Some("2026-04-01".into()),
                age_years: Some(61),
                sex: Some("F".into()),
                files: vec!["/secret/YAMADA_TARO/1.dcm".into()],
                info: None,
            },
        )
        .expect("add");
        let mut d = ReviewDraft {
            grade: Some(Grade::Typical),
            pcr: Some(Pcr::Positive),
            note: "患者 山田太郎 さん".into(),
            ..ReviewDraft::default()
        };
        d.toggle(Finding::CrazyPaving);
        d.toggle(Finding::PulmonaryOedema);
        d.toggle(Finding::Mass);
        s.confirm(1, &me, &d).expect("confirm");
        let csv_path = dir.path().join("labels.csv");
        assert_eq!(export_to_file(&s, &csv_path).expect("csv"), 1);
        let csv = std::fs::read_to_string(&csv_path).expect("read");
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "case_key,exam_date,age_years,sex,site_code,facility_postal_code,reader_id,grade,grade_code,pcr,findings,ai_grade,ai_models,revision,confirmed_at"
            )
        );
        assert!(lines.next().is_some_and(|l| l.contains(
            ",2026-04-01,61,F,SITE-A,466-8560,R1,1,typical,positive,crazy_paving;mass;pulmonary_edema,,,1,"
        )));
        let json_path = dir.path().join("labels.json");
        export_to_file(&s, &json_path).expect("json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json_path).expect("read")).expect("parse");
        assert_eq!(json["schema"], "lungdesk-labels/1");
        assert_eq!(json["labels"][0]["grade_code"], "typical");
        assert_eq!(json["labels"][0]["findings"], "crazy_paving;mass;pulmonary_edema");
        for text in [&csv, &json.to_string()] {
            for secret in ["山田", "YAMADA", "1.2.392", "secret", "Dr Reader"] {
                assert!(!text.contains(secret), "{secret} leaked into the export");
            }
        }
        assert!(matches!(export_to_file(&s, &dir.path().join("labels.txt")), Err(ExportError::Format(_))));
        assert!(!dir.path().join("labels.partial").exists());
    }
}
