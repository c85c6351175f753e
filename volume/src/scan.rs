//! Folder scanning: every file under a folder (with or without `.dcm`), headers only, grouped
//! into series by Series Instance UID. Files that are not DICOM images are listed with a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::VolumeError;
use crate::header::{HeaderOutcome, SliceHeader, read_header};
use crate::progress::Progress;

/// CT Image Storage and Enhanced CT Image Storage.
pub const CT_SOP_CLASSES: &[&str] = &["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"];

/// One series found in a folder.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub series_uid: String,
    pub study_uid: String,
    pub modality: String,
    /// Free text; shown by `inspect`, never logged or exported.
    #[serde(skip)]
    pub description: String,
    pub slices: Vec<SliceHeader>,
    pub transfer_syntaxes: BTreeSet<String>,
    /// The files had no (or a blank) Series Instance UID: `series_uid` was derived from what
    /// they share (see [`derived_series_uid`]).
    pub uid_derived: bool,
}

/// A Series Instance UID for a file whose own is missing or blank (anonymisers blank it): the
/// same for every file sharing Study Instance UID, Frame of Reference UID, orientation, Rows ×
/// Columns and Series Number, which is how SimpleITK and dcm2niix group such files. A UUID-
/// derived UID (PS3.5 B.2, root 2.25) from the SHA-256 of those values, so it is stable across
/// scans and desks and never a real series' UID.
pub fn derived_series_uid(h: &SliceHeader) -> String {
    use sha2::{Digest, Sha256};
    let orientation = h.orientation.map(|o| o.map(|v| (v * 1000.0).round() as i64));
    let key = format!(
        "{}|{}|{:?}|{}x{}|{:?}",
        h.study_uid, h.frame_of_reference_uid, orientation, h.rows, h.cols, h.series_number
    );
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

impl Series {
    /// A CT image series: modality CT or a CT SOP class.
    pub fn is_ct(&self) -> bool {
        self.modality == "CT" || self.slices.iter().any(|s| CT_SOP_CLASSES.contains(&s.sop_class_uid.as_str()))
    }
}

/// A file that is not part of any image series, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Everything found under one folder.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub root: PathBuf,
    pub series: Vec<Series>,
    pub skipped: Vec<Skipped>,
}

impl ScanReport {
    /// CT series, largest first.
    pub fn ct_series(&self) -> impl Iterator<Item = &Series> {
        self.series.iter().filter(|s| s.is_ct())
    }
    pub fn find(&self, series_uid: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.series_uid == series_uid)
    }
    /// The series `series_uid`, or when none is named the CT series a radiologist reads
    /// ([`crate::series_info::best_for_reading`]).
    pub fn pick(&self, series_uid: Option<&str>) -> Result<&Series, VolumeError> {
        if let Some(uid) = series_uid {
            return self
                .find(uid)
                .ok_or_else(|| VolumeError::SeriesNotFound { path: self.root.clone(), series_uid: uid.to_owned() });
        }
        let ct: Vec<&Series> = self.ct_series().collect();
        let infos: Vec<_> = ct.iter().map(|s| s.info()).collect();
        crate::series_info::best_for_reading(&infos)
            .map(|i| ct[i])
            .ok_or_else(|| VolumeError::NoImageSeries { path: self.root.clone(), why: self.why_no_ct() })
    }

    /// Why a folder holds no CT series, in words: empty, only other modalities, or files
    /// that are not images (the first one named, with its reason).
    pub fn why_no_ct(&self) -> String {
        let mut modalities: Vec<&str> =
            self.series.iter().filter(|s| !s.is_ct()).map(|s| s.modality.as_str()).collect();
        modalities.sort_unstable();
        modalities.dedup();
        let mut parts = Vec::new();
        if !modalities.is_empty() {
            let names: Vec<&str> = modalities.iter().map(|m| if m.is_empty() { "no modality" } else { m }).collect();
            parts.push(format!("only series of other modalities ({})", names.join(", ")));
        }
        if let Some(first) = self.skipped.first() {
            parts.push(format!(
                "{} file(s) skipped, the first {}: {}",
                self.skipped.len(),
                first.path.display(),
                first.reason
            ));
        }
        if parts.is_empty() {
            return "the folder holds no files".into();
        }
        parts.join("; ")
    }
}

/// Scans `root` (a folder, or a single file) recursively, reading headers in parallel.
pub fn scan(root: &Path, progress: &Progress) -> Result<ScanReport, VolumeError> {
    let meta = std::fs::metadata(root).map_err(|source| VolumeError::ReadDir { path: root.to_owned(), source })?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    if meta.is_file() {
        files.push(root.to_owned());
    } else {
        for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => {
                    if e.depth() == 0 {
                        return Err(VolumeError::ReadDir {
                            path: root.to_owned(),
                            source: e.into_io_error().unwrap_or_else(|| std::io::Error::other("walk failed")),
                        });
                    }
                    skipped.push(Skipped {
                        path: e.path().map(Path::to_owned).unwrap_or_default(),
                        reason: format!("unreadable: {e}"),
                    });
                }
            }
        }
    }
    scan_files(root, &files, skipped, progress)
}

/// Reads the headers of `files` (listed, not walked: a case's files as recorded at import)
/// and groups them into series; `root` names the report. Missing or unreadable files are
/// listed in `skipped` with the reason.
pub fn scan_files(
    root: &Path,
    files: &[PathBuf],
    mut skipped: Vec<Skipped>,
    progress: &Progress,
) -> Result<ScanReport, VolumeError> {
    progress.start(files.len());
    let outcomes: Vec<Result<HeaderOutcome, Skipped>> = files
        .par_iter()
        .map(|path| {
            if progress.is_cancelled() {
                return Err(Skipped { path: path.clone(), reason: "cancelled".into() });
            }
            let outcome = classify(path);
            progress.advance();
            outcome
        })
        .collect();
    if progress.is_cancelled() {
        return Err(VolumeError::Cancelled);
    }
    let mut by_uid: BTreeMap<String, Vec<SliceHeader>> = BTreeMap::new();
    let mut derived = BTreeSet::new();
    for outcome in outcomes {
        match outcome {
            Ok(HeaderOutcome::Image(mut h)) if h.series_uid.is_empty() => {
                h.series_uid = derived_series_uid(&h);
                derived.insert(h.series_uid.clone());
                by_uid.entry(h.series_uid.clone()).or_default().push(*h);
            }
            Ok(HeaderOutcome::Image(h)) => by_uid.entry(h.series_uid.clone()).or_default().push(*h),
            Ok(HeaderOutcome::NotImage { path, why, modality, .. }) => {
                let modality = if modality.is_empty() { String::new() } else { format!(" (modality {modality})") };
                skipped.push(Skipped { path, reason: format!("{why}{modality}") });
            }
            Err(s) => skipped.push(s),
        }
    }
    let mut series: Vec<Series> = by_uid
        .into_iter()
        .map(|(series_uid, slices)| {
            let first = &slices[0];
            Series {
                study_uid: first.study_uid.clone(),
                modality: first.modality.clone(),
                description: first.series_description.clone(),
                transfer_syntaxes: slices.iter().map(|s| s.transfer_syntax_uid.clone()).collect(),
                uid_derived: derived.contains(&series_uid),
                series_uid,
                slices,
            }
        })
        .collect();
    series.sort_by(|a, b| b.is_ct().cmp(&a.is_ct()).then(b.slices.len().cmp(&a.slices.len())));
    Ok(ScanReport { root: root.to_owned(), series, skipped })
}

fn classify(path: &Path) -> Result<HeaderOutcome, Skipped> {
    match read_header(path) {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // Keep only the first line: dicom-rs errors carry backtraces in Debug, not Display.
            let reason = match &e {
                crate::error::FileError::Open { .. } if !crate::open::looks_like_dicom(path) => {
                    "not a DICOM file (no DICM marker, no file meta group)".to_owned()
                }
                crate::error::FileError::Open { source, .. } => {
                    format!("unreadable DICOM file: {}", first_line(&source.to_string()))
                }
                other => first_line(&other.to_string()),
            };
            Err(Skipped { path: path.to_owned(), reason })
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}
