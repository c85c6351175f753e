//! Model manifests: the JSON next to each `.onnx` file that says what the model expects
//! and gives back, so a site can drop in its own model without code changes.
//!
//! ```json
//! { "format": "lungdesk-model/1", "name": "lungdesk-lesion", "version": "1.0.0",
//!   "task": "lesion", "file": "lungdesk-lesion.onnx", "sha256": "…",
//!   "input":  { "name": "ct", "shape": ["batch", 1, 256, 256], "spacing_mm": [1.5, 1.5],
//!               "hu_window": [-1024, 200] },
//!   "output": { "name": "logits", "shape": ["batch", 3, 256, 256],
//!               "classes": ["background", "ground_glass", "consolidation"] },
//!   "tiling": { "tile": [256, 256], "overlap": 32, "batch": 4, "multiple_of": 4 },
//!   "training_data": "…", "intended_use": "…", "card": "lungdesk-lesion.md" }
//! ```
//!
//! Models are 2D: they see one axial slice resampled to `spacing_mm` in-plane, with the HU
//! clipped to `hu_window` and scaled to 0..1, in tiles of `tile` pixels that overlap by
//! `overlap`; they return one logit per class and pixel.

use std::path::{Path, PathBuf};

use lungdesk_volume::labels;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT: &str = "lungdesk-model/1";

/// What a model segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Lungs (including consolidated lung) against everything else.
    Lung,
    /// Ground glass and consolidation, read only inside the lungs.
    Lesion,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    /// `["batch", 1, height, width]`: numbers are fixed sizes, strings are free.
    pub shape: Vec<serde_json::Value>,
    pub spacing_mm: [f64; 2],
    pub hu_window: [f64; 2],
    #[serde(default)]
    pub normalisation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    pub shape: Vec<serde_json::Value>,
    pub classes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiling {
    pub tile: [usize; 2],
    pub overlap: usize,
    pub batch: usize,
    /// Tile sides must be multiples of this (the network's total down-sampling).
    pub multiple_of: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub name: String,
    pub version: String,
    pub task: Task,
    pub file: String,
    /// SHA-256 of the `.onnx` file; a mismatch means a damaged or swapped file.
    #[serde(default)]
    pub sha256: Option<String>,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub tiling: Tiling,
    pub training_data: String,
    pub intended_use: String,
    #[serde(default)]
    pub card: Option<String>,
}

/// What is wrong with a manifest or the model it names. Every variant names the manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("model manifest {path}: cannot read it: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("model manifest {path}: not valid JSON for a LungDesk model: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("model manifest {path}: format is {got:?}, expected {FORMAT:?}")]
    Format { path: PathBuf, got: String },
    #[error("model manifest {path}: its model file {file} is missing")]
    MissingFile { path: PathBuf, file: PathBuf },
    #[error(
        "model manifest {path}: unknown output class {class:?} (known: background, lung, ground_glass, consolidation)"
    )]
    UnknownClass { path: PathBuf, class: String },
    #[error("model manifest {path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("model manifest {path}: input shape {declared} does not match the model file's {actual}")]
    WrongInputShape { path: PathBuf, declared: String, actual: String },
    #[error("model manifest {path}: output shape {declared} does not match the model file's {actual}")]
    WrongOutputShape { path: PathBuf, declared: String, actual: String },
    #[error("model file {file} does not match its manifest's SHA-256 (damaged or replaced); reinstall the model")]
    Checksum { file: PathBuf },
}

/// A manifest that passed [`Manifest::load`]: its file exists, its classes are known.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub manifest: Manifest,
    pub path: PathBuf,
    pub model_file: PathBuf,
    /// LungDesk label of each output channel.
    pub class_labels: Vec<u8>,
}

/// The LungDesk label of a manifest class name.
pub fn class_label(name: &str) -> Option<u8> {
    match name {
        "background" => Some(labels::BACKGROUND),
        "lung" => Some(labels::LUNG),
        "ground_glass" => Some(labels::GROUND_GLASS),
        "consolidation" => Some(labels::CONSOLIDATION),
        _ => None,
    }
}

impl Manifest {
    /// Reads and checks the manifest at `path` (not the model file's contents: see
    /// [`LoadedManifest::verify_checksum`] and [`crate::model::SliceModel::load`]).
    pub fn load(path: &Path) -> Result<LoadedManifest, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| ManifestError::Parse { path: path.to_owned(), detail: e.to_string() })?;
        manifest.check(path)
    }

    fn check(self, path: &Path) -> Result<LoadedManifest, ManifestError> {
        let invalid = |detail: String| ManifestError::Invalid { path: path.to_owned(), detail };
        if self.format != FORMAT {
            return Err(ManifestError::Format { path: path.to_owned(), got: self.format });
        }
        let class_labels = self
            .output
            .classes
            .iter()
            .map(|c| {
                class_label(c).ok_or_else(|| ManifestError::UnknownClass { path: path.to_owned(), class: c.clone() })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        let mut unique = class_labels.clone();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != class_labels.len() || class_labels.len() < 2 {
            return Err(invalid(format!(
                "output classes {:?} must be two to four distinct names",
                self.output.classes
            )));
        }
        let needs: &[u8] = match self.task {
            Task::Lung => &[labels::LUNG],
            Task::Lesion => &[labels::GROUND_GLASS, labels::CONSOLIDATION],
        };
        if !needs.iter().all(|n| class_labels.contains(n)) {
            return Err(invalid(format!("a {:?} model must have the classes {needs:?} among its outputs", self.task)));
        }
        let [sx, sy] = self.input.spacing_mm;
        if !(sx > 0.0 && sy > 0.0 && sx.is_finite() && sy.is_finite()) {
            return Err(invalid(format!("spacing_mm must be positive, got {:?}", self.input.spacing_mm)));
        }
        let [lo, hi] = self.input.hu_window;
        if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
            return Err(invalid(format!(
                "hu_window must be [low, high] with low < high, got {:?}",
                self.input.hu_window
            )));
        }
        let t = self.tiling;
        if t.multiple_of == 0 || t.batch == 0 || t.tile.iter().any(|&s| s == 0 || s % t.multiple_of != 0) {
            return Err(invalid(format!("tiling.tile {:?} must be non-zero multiples of {}", t.tile, t.multiple_of)));
        }
        if t.overlap * 2 >= t.tile[0].min(t.tile[1]) {
            return Err(invalid(format!("tiling.overlap {} must be under half the tile {:?}", t.overlap, t.tile)));
        }
        if self.input.shape.len() != 4 || self.output.shape.len() != 4 {
            return Err(invalid("input and output shapes must be [batch, channels, height, width]".into()));
        }
        if self.output.shape[1].as_u64() != Some(self.output.classes.len() as u64) {
            return Err(invalid(format!(
                "output shape {:?} must have one channel per class ({})",
                self.output.shape,
                self.output.classes.len()
            )));
        }
        let model_file = path.parent().unwrap_or(Path::new(".")).join(&self.file);
        if !model_file.is_file() {
            return Err(ManifestError::MissingFile { path: path.to_owned(), file: model_file });
        }
        Ok(LoadedManifest { manifest: self, path: path.to_owned(), model_file, class_labels })
    }
}

impl LoadedManifest {
    /// Checks the model file against the manifest's SHA-256, if it gives one.
    pub fn verify_checksum(&self, bytes: &[u8]) -> Result<(), ManifestError> {
        let Some(want) = &self.manifest.sha256 else { return Ok(()) };
        let got = hex(&Sha256::digest(bytes));
        if got.eq_ignore_ascii_case(want) {
            Ok(())
        } else {
            Err(ManifestError::Checksum { file: self.model_file.clone() })
        }
    }

    /// "name version" for records and the UI.
    pub fn label(&self) -> String {
        format!("{} {}", self.manifest.name, self.manifest.version)
    }
}

/// Formats a manifest shape for messages: `[batch, 1, 256, 256]`.
pub fn shape_text(shape: &[serde_json::Value]) -> String {
    let parts: Vec<String> = shape.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect();
    format!("[{}]", parts.join(", "))
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
