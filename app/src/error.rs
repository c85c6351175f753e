//! The app's typed errors: one for the desk, one for the viewer. Each names the step or file
//! that failed (through the crate error it wraps); cancellation is a variant, never a string
//! to compare.

use std::path::PathBuf;

/// What can go wrong at the desk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] lungdesk_store::StoreError),
    #[error("cannot create {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Import(#[from] lungdesk_store::ImportError),
    #[error(transparent)]
    Export(#[from] lungdesk_store::export::ExportError),
    #[error(transparent)]
    Case(#[from] ViewerError),
    /// The files of a case recorded at import are gone (the message is in the reader's
    /// language).
    #[error("{0}")]
    FilesGone(String),
    #[error("the import of {0} stopped on an internal error")]
    ImportPanicked(PathBuf),
    #[error("the {0} thread stopped unexpectedly")]
    WorkerGone(&'static str),
    #[error("cannot start the {name} thread: {source}")]
    Spawn { name: &'static str, source: std::io::Error },
    #[error("{0}")]
    Sync(String),
}

/// [`ViewerError::NoDialog`]'s message (a key of the Japanese table).
pub const NO_DIALOG: &str = "No folder dialog is available on this desktop (no XDG desktop portal): type the folder's path in the field and press Enter.";

/// What can go wrong in the viewer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewerError {
    #[error(transparent)]
    Volume(#[from] lungdesk_volume::VolumeError),
    #[error("cannot show this volume on the GPU: {0}")]
    Gpu(String),
    #[error("analysis failed: {0}")]
    Analysis(lungdesk_inference::analysis::AnalysisError),
    #[error("analysis result does not fit the volume: {0}")]
    LabelsDoNotFit(String),
    #[error("cancelled")]
    Cancelled,
    #[error("the {0} thread stopped unexpectedly")]
    WorkerGone(&'static str),
    #[error("cannot start the {name} thread: {source}")]
    Spawn { name: &'static str, source: std::io::Error },
    #[error("the system folder dialog failed; type the folder's path instead")]
    Dialog,
    /// The dialog closed at once: no desktop portal to show it (the message is the desk's,
    /// translated).
    #[error("{}", NO_DIALOG)]
    NoDialog,
}

impl ViewerError {
    /// A cancelled load or analysis: not an error to show.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            Self::Cancelled
                | Self::Volume(lungdesk_volume::VolumeError::Cancelled)
                | Self::Analysis(lungdesk_inference::analysis::AnalysisError::Inference(
                    lungdesk_inference::InferenceError::Cancelled
                ))
        )
    }
}

impl From<lungdesk_inference::analysis::AnalysisError> for ViewerError {
    fn from(e: lungdesk_inference::analysis::AnalysisError) -> Self {
        Self::Analysis(e)
    }
}
