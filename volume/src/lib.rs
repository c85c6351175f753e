//! CT volumes for LungDesk: find DICOM series in a folder, order their slices by position,
//! derive the voxel ↔ patient (LPS) geometry, decode pixels to Hounsfield units, export NIfTI,
//! and write synthetic chest phantoms for tests and benchmarks.
//!
//! This crate knows nothing of the UI, the GPU, AI models or cases. It never reads patient
//! names, IDs or birth dates into its structures.

pub mod decode;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod geometry;
pub mod header;
mod jpeg_turbo;
pub mod labels;
pub mod limits;
pub mod lossless_jpeg;
pub mod nifti_export;
pub mod open;
pub mod phantom;
pub mod progress;
pub mod scan;
pub mod series_info;
pub mod shared_data;
pub mod volume;

pub use error::{FileError, VolumeError};
pub use geometry::{Problem, VolumeGeometry};
pub use progress::Progress;
pub use scan::{ScanReport, Series, Skipped, scan, scan_files};
pub use series_info::{Plane, SeriesInfo, best_for_reading};
pub use volume::{Volume, load_series};

/// Scans `root` and loads `series_uid` (or the series for reading, [`best_for_reading`]) in one call.
pub fn load_folder(root: &std::path::Path, series_uid: Option<&str>) -> Result<Volume, VolumeError> {
    let progress = Progress::new();
    let report = scan(root, &progress)?;
    let series = report.pick(series_uid)?;
    load_series(series, &progress)
}
