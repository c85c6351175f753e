//! `lungdesk inspect`: what a folder holds, series by series.
//!
//! The report carries technical attributes only. Patient name, ID and birth date are never
//! read; Series Description (free text) appears in the human listing but not in `--json`,
//! which is meant to be stored and shared.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use lungdesk_volume::geometry::Problem;
use lungdesk_volume::volume::{HuStats, transfer_syntax_names};
use lungdesk_volume::{Progress, ScanReport, Series, VolumeError, load_series, scan};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FolderReport {
    pub root: PathBuf,
    pub series: Vec<SeriesReport>,
    pub skipped: Vec<SkippedReport>,
}

#[derive(Debug, Serialize)]
pub struct SkippedReport {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct TransferSyntax {
    pub uid: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct SeriesReport {
    pub series_uid: String,
    pub study_uid: String,
    pub modality: String,
    #[serde(skip)]
    pub description: String,
    pub files: usize,
    pub transfer_syntaxes: Vec<TransferSyntax>,
    /// Present when the series forms a volume.
    pub volume: Option<VolumeReport>,
    /// Why the series does not form a volume, or failed to load.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VolumeReport {
    pub dims: [usize; 3],
    pub spacing_mm: [f64; 3],
    pub plane: String,
    /// Letters the i, j, k axes point towards (LPS convention), e.g. "LPS".
    pub orientation_code: String,
    pub row_cosines: [f64; 3],
    pub column_cosines: [f64; 3],
    pub patient_from_voxel: [[f64; 4]; 4],
    pub hu: Option<HuStats>,
    pub padding_hu: Option<i16>,
    pub problems: Vec<Problem>,
    pub problem_messages: Vec<String>,
}

/// Scans `root` and, unless `headers_only`, decodes each CT series to report its HU range.
pub fn inspect(root: &Path, headers_only: bool) -> Result<FolderReport, VolumeError> {
    let progress = Progress::new();
    let report: ScanReport = scan(root, &progress)?;
    let series = report.series.iter().map(|s| series_report(s, headers_only)).collect();
    let skipped = report.skipped.into_iter().map(|s| SkippedReport { path: s.path, reason: s.reason }).collect();
    Ok(FolderReport { root: report.root, series, skipped })
}

fn series_report(series: &Series, headers_only: bool) -> SeriesReport {
    let mut report = SeriesReport {
        series_uid: series.series_uid.clone(),
        study_uid: series.study_uid.clone(),
        modality: series.modality.clone(),
        description: series.description.clone(),
        files: series.slices.len(),
        transfer_syntaxes: transfer_syntax_names(series)
            .into_iter()
            .map(|(uid, name)| TransferSyntax { uid, name })
            .collect(),
        volume: None,
        error: None,
    };
    let plan = match lungdesk_volume::geometry::plan(&series.slices) {
        Ok(plan) => plan,
        Err(why) => {
            report.error = Some(why);
            return report;
        }
    };
    let g = plan.geometry;
    let axes = g.axes();
    let mut volume = VolumeReport {
        dims: g.dims,
        spacing_mm: g.spacing_mm,
        plane: g.plane().to_owned(),
        orientation_code: g.orientation_code(),
        row_cosines: axes[0].to_array(),
        column_cosines: axes[1].to_array(),
        patient_from_voxel: std::array::from_fn(|r| g.patient_from_voxel.row(r).to_array()),
        hu: None,
        padding_hu: None,
        problems: plan.problems,
        problem_messages: Vec::new(),
    };
    // Only CT series are decoded: the HU range of a colour test pattern means nothing.
    if !headers_only && series.is_ct() {
        match load_series(series, &Progress::new()) {
            Ok(v) => {
                volume.hu = Some(v.stats());
                volume.padding_hu = Some(v.padding_hu);
                volume.problems = v.problems;
            }
            Err(e) => report.error = Some(e.to_string()),
        }
    }
    volume.problem_messages = volume.problems.iter().map(ToString::to_string).collect();
    report.volume = Some(volume);
    report
}

/// The human-readable listing.
pub fn render_text(report: &FolderReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} series, {} file(s) skipped",
        report.root.display(),
        report.series.len(),
        report.skipped.len()
    );
    for s in &report.series {
        let _ = writeln!(out, "\nseries {}", s.series_uid);
        let _ = writeln!(out, "  modality      {} ({} file(s))", or_dash(&s.modality), s.files);
        let _ = writeln!(out, "  description   {}", or_dash(&s.description));
        let _ = writeln!(out, "  study         {}", or_dash(&s.study_uid));
        for ts in &s.transfer_syntaxes {
            let _ = writeln!(out, "  transfer      {} ({})", ts.uid, ts.name);
        }
        if let Some(v) = &s.volume {
            let [nx, ny, nz] = v.dims;
            let [sx, sy, sz] = v.spacing_mm;
            let _ = writeln!(out, "  dims          {nx} × {ny} × {nz}");
            let _ = writeln!(out, "  spacing       {sx:.3} × {sy:.3} × {sz:.3} mm");
            let r = v.row_cosines.map(|c| format!("{c:.3}")).join(", ");
            let c = v.column_cosines.map(|c| format!("{c:.3}")).join(", ");
            let _ = writeln!(
                out,
                "  orientation   {} (i→{} j→{} k→{}); rows [{r}], columns [{c}]",
                v.plane,
                &v.orientation_code[0..1],
                &v.orientation_code[1..2],
                &v.orientation_code[2..3],
            );
            let o = [v.patient_from_voxel[0][3], v.patient_from_voxel[1][3], v.patient_from_voxel[2][3]];
            let _ = writeln!(out, "  first voxel   ({:.2}, {:.2}, {:.2}) mm LPS", o[0], o[1], o[2]);
            if let Some(hu) = &v.hu {
                let inner = match hu.min_hu_excluding_padding {
                    Some(m) if hu.padding_voxels > 0 => format!(
                        "; {m} … {} outside padding ({} HU in {} voxels)",
                        hu.max_hu,
                        v.padding_hu.unwrap_or(0),
                        hu.padding_voxels
                    ),
                    _ => String::new(),
                };
                let _ = writeln!(out, "  HU range      {} … {}{inner}", hu.min_hu, hu.max_hu);
            }
            if v.problem_messages.is_empty() {
                let _ = writeln!(out, "  problems      none");
            } else {
                for p in &v.problem_messages {
                    let _ = writeln!(out, "  problem       {p}");
                }
            }
        }
        if let Some(e) = &s.error {
            let _ = writeln!(out, "  not a volume  {e}");
        }
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "\nskipped files");
        for s in &report.skipped {
            let _ = writeln!(out, "  {}: {}", s.path.display(), s.reason);
        }
    }
    out
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "—" } else { s }
}
