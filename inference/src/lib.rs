//! LungDesk's CT analysis: lung, ground-glass opacity (GGO) and consolidation segmentation,
//! their quantification, and a predicted RSNA chest-CT category with its reasons.
//!
//! Takes a HU volume and its geometry (from `lungdesk-volume`); knows nothing of the UI,
//! cases or the database. Label volumes use the classes of `lungdesk_volume::labels`.
//!
//! - [`analysis`]: the whole pre-read, with ONNX models ([`model`], described by
//!   [`manifest`]s, run by ONNX Runtime found by [`runtime`]) or the HU baseline;
//! - [`baseline`]: the deterministic HU baseline, the fallback when no model can run and
//!   the yardstick for models;
//! - [`quantify`] and [`grade`]: the numbers per lung, and the explicit rule set that turns
//!   them into an RSNA category (not a trained classifier);
//! - [`gradable`]: when the AI cannot grade a series ("cannot grade" is a result with a
//!   reason, never a grade), and [`reformat`]: coronal and sagittal volumes read as axial;
//! - [`cache`]: finished analyses kept per series.

pub mod airway;
pub mod analysis;
pub mod baseline;
pub mod cache;
pub mod gradable;
pub mod grade;
pub mod manifest;
pub mod mask;
pub mod model;
pub mod quantify;
pub mod reformat;
pub mod rib_cage;
pub mod runtime;

/// Why an analysis step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferenceError {
    #[error("analysis cancelled")]
    Cancelled,
    #[error("{step}: volume holds {got} voxels, its geometry needs {expected}")]
    WrongLength { step: &'static str, got: usize, expected: usize },
}
