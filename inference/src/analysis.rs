//! The whole pre-read: segmentation by the bundled (or a site's) ONNX models through ONNX
//! Runtime, post-processing, quantification and the grade; the HU baseline when the models
//! cannot run, with the reason kept alongside the result.

use std::path::{Path, PathBuf};

use lungdesk_volume::{Progress, VolumeGeometry, labels};
use serde::Serialize;

use crate::InferenceError;
use crate::baseline::{self, BaselineParams, Segmentation};
use crate::grade::{GradePrediction, grade};
use crate::manifest::{Manifest, ManifestError, Task};
use crate::mask::{Grid, fill_holes_slices, keep_largest_lungs};
use crate::model::{ModelError, SliceModel};
use crate::quantify::{Quantification, quantify};
use crate::runtime::{self, RuntimeError};

/// Why the models cannot be used (the analysis then falls back to the HU baseline).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(
        "no model manifests (*.json) in {dir}. Fix: reinstall LungDesk, or set LUNGDESK_MODELS to a folder of models"
    )]
    NoModels { dir: PathBuf },
    #[error("{dir} has no {task:?} model manifest; LungDesk needs one lung and one lesion model")]
    MissingTask { dir: PathBuf, task: Task },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error(transparent)]
    Model(ModelError),
}

impl From<ModelError> for AnalysisError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Cancelled => Self::Inference(InferenceError::Cancelled),
            other => Self::Model(other),
        }
    }
}

/// The lung and lesion models, loaded.
#[derive(Debug)]
pub struct Models {
    pub lung: SliceModel,
    pub lesion: SliceModel,
    pub runtime_library: PathBuf,
}

/// The folder of bundled models: `LUNGDESK_MODELS` if set; else `../share/lungdesk/models`
/// from the executable (the Debian package); else the source tree's `assets/models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LUNGDESK_MODELS").filter(|v| !v.is_empty()) {
        return dir.into();
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let packaged = dir.join("../share/lungdesk/models");
        if packaged.is_dir() {
            return packaged;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models")
}

impl Models {
    /// Loads ONNX Runtime and the one lung and one lesion model whose manifests are in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, SetupError> {
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|_| SetupError::NoModels { dir: dir.to_owned() })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        manifests.sort();
        if manifests.is_empty() {
            return Err(SetupError::NoModels { dir: dir.to_owned() });
        }
        let loaded = manifests.iter().map(|p| Manifest::load(p)).collect::<Result<Vec<_>, _>>()?;
        let pick = |task: Task| {
            loaded
                .iter()
                .find(|m| m.manifest.task == task)
                .cloned()
                .ok_or(SetupError::MissingTask { dir: dir.to_owned(), task })
        };
        let (lung, lesion) = (pick(Task::Lung)?, pick(Task::Lesion)?);
        let runtime = runtime::runtime()?;
        Ok(Self {
            lung: SliceModel::load(lung, runtime)?,
            lesion: SliceModel::load(lesion, runtime)?,
            runtime_library: runtime.library.clone(),
        })
    }

    /// "lungdesk-lung 1.0.0, lungdesk-lesion 1.0.0".
    pub fn versions(&self) -> Vec<String> {
        vec![self.lung.manifest.label(), self.lesion.manifest.label()]
    }

    /// Identity for caches: names, versions and checksums.
    pub fn fingerprint(&self) -> String {
        [&self.lung, &self.lesion]
            .iter()
            .map(|m| format!("{}:{}", m.manifest.label(), m.manifest.manifest.sha256.as_deref().unwrap_or("-")))
            .collect::<Vec<_>>()
            .join(";")
    }

    pub fn steps(geometry: &VolumeGeometry) -> usize {
        2 * SliceModel::steps(geometry.dims[2]) + POST_STEPS
    }

    /// Segments with the models: the lung model, post-processed (largest components, holes
    /// filled, so dense consolidation stays in the lung); then the lesion model inside the
    /// lungs only.
    pub fn segment(
        &self,
        geometry: &VolumeGeometry,
        voxels_hu: &[i16],
        progress: &Progress,
    ) -> Result<Segmentation, AnalysisError> {
        let grid = Grid { dims: geometry.dims };
        if voxels_hu.len() != grid.len() {
            return Err(InferenceError::WrongLength {
                step: "ONNX models",
                got: voxels_hu.len(),
                expected: grid.len(),
            }
            .into());
        }
        let started = std::time::Instant::now();
        let lung_labels = self.lung.predict(geometry, voxels_hu, None, progress)?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "lung model");
        let mut lung: Vec<bool> = lung_labels.iter().map(|&l| l == labels::LUNG).collect();
        drop(lung_labels);
        let voxel_ml = geometry.spacing_mm.iter().product::<f64>() / 1000.0;
        keep_largest_lungs(grid, &mut lung, voxel_ml);
        fill_holes_slices(grid, &mut lung);
        progress.advance();
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "lung post-processing");
        if progress.is_cancelled() {
            return Err(InferenceError::Cancelled.into());
        }
        let mut out = self.lesion.predict(geometry, voxels_hu, Some(&lung), progress)?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "lesion model");
        for (label, &in_lung) in out.iter_mut().zip(&lung) {
            *label = match (*label, in_lung) {
                (_, false) => labels::BACKGROUND,
                (l @ (labels::GROUND_GLASS | labels::CONSOLIDATION), true) => l,
                (_, true) => labels::LUNG,
            };
        }
        // Tube-shaped "consolidation" (longest axis over 3× the shortest) is a vessel near
        // the hila, as in the baseline; it goes back to lung.
        let mut consolidation: Vec<bool> = out.iter().map(|&l| l == labels::CONSOLIDATION).collect();
        baseline::drop_tubes(geometry, &mut consolidation, BaselineParams::default().max_elongation);
        for (label, kept) in out.iter_mut().zip(consolidation) {
            if *label == labels::CONSOLIDATION && !kept {
                *label = labels::LUNG;
            }
        }
        progress.advance();
        Ok(Segmentation {
            labels: out,
            method: format!("ONNX models {} (ONNX Runtime, ort)", self.versions().join(" + ")),
        })
    }
}

const POST_STEPS: usize = 2;

/// What segments: the models, or the HU baseline and why.
#[derive(Debug)]
pub enum Engine {
    Models(Box<Models>),
    Baseline { reason: String },
}

impl Engine {
    /// The models in `dir` (default: [`default_models_dir`]) if ONNX Runtime and they load;
    /// else the HU baseline, with the exact reason.
    pub fn load(dir: Option<&Path>) -> Self {
        let dir = dir.map_or_else(default_models_dir, Path::to_path_buf);
        match Models::load_dir(&dir) {
            Ok(models) => Self::Models(Box::new(models)),
            Err(e) => Self::Baseline { reason: e.to_string() },
        }
    }

    /// Identity of the segmentation method, for caches.
    pub fn fingerprint(&self) -> String {
        match self {
            Self::Models(m) => m.fingerprint(),
            Self::Baseline { .. } => format!("{:?}", BaselineParams::default()),
        }
    }
}

/// A finished pre-read.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    #[serde(skip)]
    pub labels: Vec<u8>,
    /// The segmentation method (model names and versions, or the baseline's thresholds).
    pub method: String,
    /// Model names and versions; empty for the baseline.
    pub models: Vec<String>,
    /// Why the models were not used, when the baseline ran instead.
    pub fallback_reason: Option<String>,
    pub quantification: Quantification,
    pub prediction: GradePrediction,
    /// Whether this came from the per-series cache.
    pub from_cache: bool,
}

/// Progress steps of [`analyze`].
pub fn steps(engine: &Engine, geometry: &VolumeGeometry) -> usize {
    match engine {
        Engine::Models(_) => Models::steps(geometry),
        Engine::Baseline { .. } => baseline::STEPS,
    }
}

/// Segments, quantifies and grades. Progress: [`steps`] steps, started here.
pub fn analyze(
    engine: &Engine,
    geometry: &VolumeGeometry,
    voxels_hu: &[i16],
    progress: &Progress,
) -> Result<Analysis, AnalysisError> {
    let (segmentation, models, fallback_reason) = match engine {
        Engine::Models(m) => {
            progress.start(Models::steps(geometry));
            (m.segment(geometry, voxels_hu, progress)?, m.versions(), None)
        }
        Engine::Baseline { reason } => (
            baseline::segment(geometry, voxels_hu, &BaselineParams::default(), progress)?,
            Vec::new(),
            Some(reason.clone()),
        ),
    };
    finish(geometry, segmentation.labels, segmentation.method, models, fallback_reason, false)
}

/// Quantifies and grades a label volume.
pub fn finish(
    geometry: &VolumeGeometry,
    labels: Vec<u8>,
    method: String,
    models: Vec<String>,
    fallback_reason: Option<String>,
    from_cache: bool,
) -> Result<Analysis, AnalysisError> {
    let quantification = quantify(geometry, &labels)?;
    let prediction = grade(&quantification);
    Ok(Analysis { labels, method, models, fallback_reason, quantification, prediction, from_cache })
}
