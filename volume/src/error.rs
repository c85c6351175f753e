//! Typed errors of the volume crate. Each variant names the step that failed and the file it
//! failed on. Messages never carry patient-identifying DICOM values, only paths and tags.

use std::path::PathBuf;

/// A failure to read one DICOM file, or to decode its pixels.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    #[error("cannot read DICOM file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: Box<dicom_object::ReadError>,
    },
    #[error("{path} is damaged: {detail}")]
    DeclaredLength { path: PathBuf, detail: String },
    #[error("{path} has no {what} ({tag}), which a CT slice needs")]
    MissingAttribute { path: PathBuf, what: &'static str, tag: &'static str },
    #[error("{path}: attribute {what} ({tag}) has an unusable value: {detail}")]
    BadAttribute { path: PathBuf, what: &'static str, tag: &'static str, detail: String },
    #[error("{path}: unsupported transfer syntax {uid} ({name}): {why}")]
    UnsupportedTransferSyntax { path: PathBuf, uid: String, name: String, why: String },
    #[error("{path}: cannot decode pixel data ({uid}): {detail}")]
    Decode { path: PathBuf, uid: String, detail: String },
    #[error("{path}: pixel data ({uid}) is cut short: {detail}")]
    Truncated { path: PathBuf, uid: String, detail: String },
    #[error("{path}: pixel layout not supported for CT: {detail}")]
    UnsupportedLayout { path: PathBuf, detail: String },
    #[error("{path}: frame {frame} requested but the file has {frames} frame(s)")]
    FrameOutOfRange { path: PathBuf, frame: u32, frames: u32 },
    #[error("{path}: slice is {got_cols}×{got_rows} but the series is {cols}×{rows}")]
    SizeMismatch { path: PathBuf, rows: u16, cols: u16, got_rows: u16, got_cols: u16 },
}

impl FileError {
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Open { path, .. }
            | Self::DeclaredLength { path, .. }
            | Self::MissingAttribute { path, .. }
            | Self::BadAttribute { path, .. }
            | Self::UnsupportedTransferSyntax { path, .. }
            | Self::Decode { path, .. }
            | Self::Truncated { path, .. }
            | Self::UnsupportedLayout { path, .. }
            | Self::FrameOutOfRange { path, .. }
            | Self::SizeMismatch { path, .. } => path,
        }
    }
}

/// A failure to scan a folder or assemble a volume from a series.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    #[error("cannot read folder {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no CT image series in {path}: {why}")]
    NoImageSeries { path: PathBuf, why: String },
    #[error("series {series_uid} not found in {path}")]
    SeriesNotFound { path: PathBuf, series_uid: String },
    #[error("series {series_uid} cannot form a volume: {why}")]
    NotAVolume { series_uid: String, why: String },
    #[error("every slice of series {series_uid} failed to decode; first error: {first}")]
    AllSlicesFailed { series_uid: String, first: Box<FileError> },
    #[error("volume {dims:?} is too large: over the limit of {limit_voxels} voxels on this machine")]
    TooLarge { dims: [usize; 3], limit_voxels: usize },
    #[error("loading cancelled")]
    Cancelled,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write NIfTI {path}: {detail}")]
    Nifti { path: PathBuf, detail: String },
    #[error("cannot write DICOM {path}: {detail}")]
    WriteDicom { path: PathBuf, detail: String },
}
