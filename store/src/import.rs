//! Import: one case, or a whole folder tree of them, headers only. CT series become cases
//! (grouped by Study Instance UID) with exam date, age and sex; series seen before are skipped
//! by Series Instance UID. No patient name, ID, birth date or free text is read into the store.

use std::path::{Path, PathBuf};

use lungdesk_volume::{Progress, VolumeError, scan};

use crate::db::{Added, NewSeries, Store, StoreError};
use crate::model::Identity;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot import {path}: {source}")]
    Scan { path: PathBuf, source: VolumeError },
    #[error("import of {path} cancelled; {added} series added before the cancel are kept")]
    Cancelled { path: PathBuf, added: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub new_cases: usize,
    pub new_series: usize,
    /// Series imported before (same Series Instance UID).
    pub already_imported: usize,
    /// Image series that are not CT, with their modality and file count.
    pub not_ct: Vec<(String, usize)>,
    /// Files that are not DICOM images, or unreadable.
    pub skipped_files: usize,
    /// The first few skipped files with their reason, for the message.
    pub skipped_examples: Vec<(PathBuf, String)>,
}

impl ImportReport {
    /// One line for the status bar.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = format!(
            "{} new case(s), {} new series, {} already imported",
            self.new_cases, self.new_series, self.already_imported
        );
        if !self.not_ct.is_empty() {
            let modalities: std::collections::BTreeSet<&str> = self.not_ct.iter().map(|(m, _)| m.as_str()).collect();
            let _ = write!(
                s,
                "; {} non-CT series skipped ({})",
                self.not_ct.len(),
                modalities.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        if self.skipped_files > 0 {
            let _ = write!(s, "; {} file(s) not CT images", self.skipped_files);
        }
        s
    }
}

/// DICOM Age String `nnnY|M|W|D` → whole years.
pub fn age_years(age: &str) -> Option<i64> {
    // By characters, not bytes: a hostile or local-language value ("61歳") must not panic.
    let age = age.trim();
    let unit = age.chars().next_back()?;
    let number = &age[..age.len() - unit.len_utf8()];
    if number.is_empty() || number.len() > 3 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = number.parse().ok()?;
    match unit {
        'Y' | 'y' => Some(n),
        'M' | 'm' => Some(n / 12),
        'W' | 'w' => Some(n / 52),
        'D' | 'd' => Some(n / 365),
        _ => None,
    }
}

/// DICOM DA `YYYYMMDD` → `YYYY-MM-DD`.
pub fn exam_date(da: &str) -> Option<String> {
    let d = da.trim();
    (d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
}

/// Imports every CT series under `root` into `store`; `progress` counts files read.
pub fn import_folder(
    store: &mut Store,
    identity: &Identity,
    root: &Path,
    progress: &Progress,
) -> Result<ImportReport, ImportError> {
    let report = match scan(root, progress) {
        Ok(r) => r,
        Err(VolumeError::Cancelled) => return Err(ImportError::Cancelled { path: root.to_owned(), added: 0 }),
        Err(source) => return Err(ImportError::Scan { path: root.to_owned(), source }),
    };
    let mut out = ImportReport {
        skipped_files: report.skipped.len(),
        skipped_examples: report.skipped.iter().take(5).map(|s| (s.path.clone(), s.reason.clone())).collect(),
        ..ImportReport::default()
    };
    for series in &report.series {
        if progress.is_cancelled() {
            return Err(ImportError::Cancelled { path: root.to_owned(), added: out.new_series });
        }
        if !series.is_ct() {
            out.not_ct.push((series.modality.clone(), series.slices.len()));
            continue;
        }
        // A series always has a slice; an empty one is passed over, never indexed.
        let Some(first) = series.slices.first() else { continue };
        let new = NewSeries {
            study_uid: if series.study_uid.is_empty() { series.series_uid.clone() } else { series.study_uid.clone() },
            series_uid: series.series_uid.clone(),
            exam_date: first
                .study_date
                .as_deref()
                .and_then(exam_date)
                .or_else(|| first.acquisition_date.as_deref().and_then(exam_date)),
            age_years: first.patient_age.as_deref().and_then(age_years),
            sex: first
                .patient_sex
                .as_deref()
                .map(str::trim)
                .filter(|s| matches!(*s, "M" | "F" | "O"))
                .map(str::to_owned),
            files: series.slices.iter().map(|s| s.path.clone()).collect(),
            info: Some(series.info()),
        };
        match store.add_series(identity, &new)? {
            Added::NewCase(_) => {
                out.new_cases += 1;
                out.new_series += 1;
            }
            Added::NewSeriesOfCase(_) => out.new_series += 1,
            Added::AlreadyImported(_) => out.already_imported += 1,
        }
    }
    tracing::info!(
        new_cases = out.new_cases,
        new_series = out.new_series,
        already = out.already_imported,
        skipped = out.skipped_files,
        "import finished"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_dates_from_dicom_strings() {
        assert_eq!(age_years("061Y"), Some(61));
        assert_eq!(age_years("018M"), Some(1));
        assert_eq!(age_years("003W"), Some(0));
        assert_eq!(age_years("Y"), None);
        assert_eq!(age_years(""), None);
        assert_eq!(age_years("61"), None);
        // Multi-byte characters anywhere (a Japanese site's own format) are refused, not a panic.
        assert_eq!(age_years("61歳"), None);
        assert_eq!(age_years("歳"), None);
        assert_eq!(age_years("6歳Y"), None);
        assert_eq!(age_years("-01Y"), None);
        assert_eq!(exam_date("20260401").as_deref(), Some("2026-04-01"));
        assert_eq!(exam_date("2026-04-01"), None);
    }
}
