//! LungDesk's CT analysis: lung, ground-glass opacity (GGO) and consolidation segmentation,
//! their quantification, and a predicted RSNA chest-CT category with its reasons.
//!
//! Takes a HU volume and its geometry (from `lungdesk-volume`); knows nothing of the UI,
//! cases or the database. Label volumes use the classes of `lungdesk_volume::labels`.
//!
//! What is here so far: the deterministic HU baseline ([`baseline`]), which is both the
//! fallback when no model can run and the yardstick for models; the quantification
//! ([`quantify`]); and the explicit rule set that turns quantified features into a grade
//! ([`grade`]). ONNX models arrive with the rest of issue #4.

pub mod baseline;
pub mod grade;
pub mod mask;
pub mod quantify;

/// Why an analysis step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferenceError {
    #[error("analysis cancelled")]
    Cancelled,
    #[error("{step}: volume holds {got} voxels, its geometry needs {expected}")]
    WrongLength { step: &'static str, got: usize, expected: usize },
}
