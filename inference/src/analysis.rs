//! The whole pre-read: segmentation by the bundled (or a site's) ONNX models through ONNX
//! Runtime, post-processing, quantification and the grade; the HU baseline when the models
//! cannot run, with the reason kept alongside the result.

use std::path::{Path, PathBuf};

use lungdesk_volume::{Progress, VolumeGeometry, labels};
use serde::Serialize;

use crate::InferenceError;
use crate::baseline::{self, BaselineParams, Segmentation};
use crate::gradable::{self, CannotGrade, CannotGradeCode};
use crate::grade::{GradePrediction, grade};
use crate::manifest::{Manifest, ManifestError, Task};
use crate::mask::{Feet, Grid, components_3d, components_where, fill_lung_holes, keep_largest_lungs, within_mm_of};
use crate::model::{ModelError, SliceModel};
use crate::quantify::{Quantification, quantify};
use crate::reformat::{self, Plan};
use crate::{airway, rib_cage};

/// How far (mm, in-plane) from the lung model's mask the lesion model's lung and opacity may
/// reach and still join the lung when connected to it: consolidated lung is lung, and dense
/// consolidation (dependent, against the chest wall, a whole lower lobe) is what a lung model
/// trained on aerated lung leaves out. It reaches across the mediastinum (50–100 mm wide), so
/// that a lung consolidated throughout, which the lung model misses whole while it finds the
/// other, is read too.
pub const LUNG_GROWTH_MM: f64 = 100.0;

/// The margin (mm, in-plane) round the trachea and main bronchi ([`airway`]) where the lesion
/// model adds no lung: their wall, and the lung model's coarser edge of their lumen.
pub const AIRWAY_MARGIN_MM: f64 = 3.0;
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

    /// What made a read: "lungdesk-lung 1.0.0", "lungdesk-lesion 2.0.0", "post-processing 3".
    /// Recorded with every read and sent with it, so a change of the post-processing is a new
    /// version: the batch and the desk read the cases again and the service counts it apart.
    pub fn versions(&self) -> Vec<String> {
        vec![self.lung.manifest.label(), self.lesion.manifest.label(), format!("post-processing {POST_PROCESSING}")]
    }

    /// Identity for caches: names, versions and checksums.
    pub fn fingerprint(&self) -> String {
        let models: Vec<String> = [&self.lung, &self.lesion]
            .iter()
            .map(|m| format!("{}:{}", m.manifest.label(), m.manifest.manifest.sha256.as_deref().unwrap_or("-")))
            .collect();
        format!("{};post-processing {POST_PROCESSING}", models.join(";"))
    }

    pub fn steps(&self, geometry: &VolumeGeometry) -> usize {
        self.lung.steps(geometry) + self.lesion.steps(geometry) + POST_STEPS
    }

    /// Segments an axial grid with the models: the lung model, post-processed (largest
    /// components, holes filled without swallowing the diaphragm's dome); then the lesion
    /// model on and around the lungs; its lung and opacity connected to the lung within
    /// [`LUNG_GROWTH_MM`] and inside the rib cage ([`rib_cage`]) join it (consolidated lung is
    /// lung); the trachea and main bronchi ([`airway`]) leave it, with what joined only through
    /// them; lesions are kept only inside the lung.
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
        let in_plane = [geometry.spacing_mm[0], geometry.spacing_mm[1]];
        let feet = Feet::of_k_axis(geometry.axes()[2].to_array());
        fill_lung_holes(grid, &mut lung, in_plane, feet);
        progress.advance();
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "lung post-processing");
        if progress.is_cancelled() {
            return Err(InferenceError::Cancelled.into());
        }
        let mut near = within_mm_of(grid, &lung, in_plane, LUNG_GROWTH_MM);
        let cage_started = std::time::Instant::now();
        let cage = rib_cage::bound_by_rib_cage(grid, geometry.spacing_mm, voxels_hu, &lung, &mut near);
        tracing::info!(
            seconds = cage_started.elapsed().as_secs_f64(),
            bounded_slices = cage.bounded_slices,
            rejected_slices = cage.rejected_slices,
            removed_ml = cage.removed_voxels as f64 * voxel_ml,
            "rib cage bound"
        );
        let mut out = self.lesion.predict(geometry, voxels_hu, Some(&near), progress)?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "lesion model");
        let lesion_model_knows_lung = self.lesion.manifest.manifest.output.classes.iter().any(|c| c == "lung");
        let mut coarse = lung;
        let first = lung_from_lesion_model(grid, &coarse, &near, &out, lesion_model_knows_lung);
        // The trachea and main bronchi (found in the aerated lung, so that opacity called round
        // them does not hide them) are not lung, and nothing joins the lung through them.
        let airway_started = std::time::Instant::now();
        let aerated = |i: usize| first[i] && !matches!(out[i], labels::GROUND_GLASS | labels::CONSOLIDATION);
        let airway = airway::trachea_and_main_bronchi(grid, geometry.spacing_mm, voxels_hu, aerated, feet);
        lung = if airway.is_empty() {
            first
        } else {
            drop(first);
            for i in airway.with_margin(grid, in_plane, AIRWAY_MARGIN_MM) {
                near[i] = false;
                coarse[i] = false;
            }
            lung_from_lesion_model(grid, &coarse, &near, &out, lesion_model_knows_lung)
        };
        drop(coarse);
        tracing::info!(
            seconds = airway_started.elapsed().as_secs_f64(),
            slices = airway.slices.len(),
            ml = airway.voxels() as f64 * voxel_ml,
            "trachea and main bronchi out of the lung"
        );
        let filled_large = fill_lung_holes(grid, &mut lung, in_plane, feet);
        drop(near);
        let filled_solid: Vec<bool> = filled_large
            .iter()
            .zip(&out)
            .zip(voxels_hu)
            .map(|((&f, &l), hu)| f && l == labels::BACKGROUND && SOLID_HU.contains(hu))
            .collect();
        drop(filled_large);
        let continued = continue_solid_through_slices(grid, geometry.spacing_mm, voxels_hu, &lung, &filled_solid);
        for ((l, &c), f) in lung.iter_mut().zip(&continued).zip(filled_solid.iter()) {
            *l |= c || *f;
        }
        for (((label, &in_lung), &filled), &continued) in out.iter_mut().zip(&lung).zip(&filled_solid).zip(&continued) {
            *label = match (*label, in_lung) {
                (_, false) => labels::BACKGROUND,
                (l @ (labels::GROUND_GLASS | labels::CONSOLIDATION), true) => l,
                // A large hole in the lung of soft-tissue density is a solid opacity (a mass or
                // a consolidation) that the lesion model left out; so is its continuation.
                (labels::BACKGROUND, true) if filled || continued => labels::CONSOLIDATION,
                (_, true) => labels::LUNG,
            };
        }
        drop((lung, filled_solid, continued));
        // Tube-shaped "consolidation" (longest axis over 3× the shortest, and thin) is a vessel
        // near the hila, as in the baseline; it goes back to lung.
        let mut consolidation: Vec<bool> = out.iter().map(|&l| l == labels::CONSOLIDATION).collect();
        baseline::drop_tubes(geometry, &mut consolidation, BaselineParams::default().max_elongation);
        for (label, kept) in out.iter_mut().zip(consolidation) {
            if *label == labels::CONSOLIDATION && !kept {
                *label = labels::LUNG;
            }
        }
        progress.advance();
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "lesion post-processing");
        Ok(Segmentation {
            labels: out,
            method: format!("ONNX models {} (ONNX Runtime, ort)", self.versions().join(" + ")),
        })
    }
}

const POST_STEPS: usize = 2;

/// The version of [`Models::segment`]'s post-processing, one of [`Models::versions`] (so in the
/// cache key and in every recorded read): bump it whenever a rule changes what the same models'
/// output becomes, so that no stored read stays stale. 2: the rib cage bound. 3: the trachea
/// and main bronchi out of the lung; the lesion model's reach 100 mm.
pub const POST_PROCESSING: &str = "3";

/// Soft-tissue density (HU) of a large hole filled into the lung that makes it a solid
/// opacity: from the consolidation band's lower edge up to below calcification and bone.
const SOLID_HU: std::ops::RangeInclusive<i16> = -300..=300;

/// Where a solid opacity filled into the lung from a large hole (`seed`) continues into the
/// slices above and below as soft tissue outside the lung: a mass or a consolidation beside
/// the hilum or the mediastinum is enclosed by lung in some slices and joins the mediastinum
/// in the next, where no hole filling can reach it. From each 3D component of `seed`, voxels
/// straight above or below it (no in-plane growth, so a section never widens) of
/// [`SOLID_HU`] and outside `lung` are added, slice by slice, at most as far as half the
/// component's widest section (its equivalent diameter): a solid opacity is taken to be no
/// taller than it is wide. Returns the voxels added.
fn continue_solid_through_slices(
    grid: Grid,
    spacing_mm: [f64; 3],
    voxels_hu: &[i16],
    lung: &[bool],
    seed: &[bool],
) -> Vec<bool> {
    let [nx, ny, nz] = grid.dims;
    let plane = nx * ny;
    let mut added = vec![false; grid.len()];
    if !seed.contains(&true) {
        return added;
    }
    let components = components_3d(grid, seed);
    let mut voxels_of = vec![Vec::new(); components.sizes.len()];
    for (voxels, c) in components.runs() {
        voxels_of[c as usize].extend(voxels);
    }
    drop(components);
    let pixel_mm2 = spacing_mm[0] * spacing_mm[1];
    for voxels in voxels_of.iter().skip(1) {
        let mut per_slice = std::collections::HashMap::<usize, usize>::new();
        for &i in voxels {
            *per_slice.entry(i / plane).or_default() += 1;
        }
        let widest_mm2 = per_slice.values().copied().max().unwrap_or(0) as f64 * pixel_mm2;
        let diameter_mm = 2.0 * (widest_mm2 / std::f64::consts::PI).sqrt();
        let steps = (diameter_mm / 2.0 / spacing_mm[2]).round() as usize;
        for up in [true, false] {
            let mut layer: Vec<usize> = voxels.clone();
            for _ in 0..steps {
                let next: Vec<usize> = layer
                    .iter()
                    .filter_map(|&i| {
                        let z = i / plane;
                        let j = if up { (z + 1 < nz).then(|| i + plane)? } else { (z > 0).then(|| i - plane)? };
                        (!seed[j] && !added[j] && !lung[j] && SOLID_HU.contains(&voxels_hu[j])).then_some(j)
                    })
                    .collect();
                if next.is_empty() {
                    break;
                }
                for &j in &next {
                    added[j] = true;
                }
                layer = next;
            }
        }
    }
    added
}

/// The lung after the lesion model: the parts of what it calls lung (with `knows_lung`: its
/// lung, ground-glass and consolidation classes, at its finer spacing; otherwise the coarse
/// lung plus its ground glass and consolidation) that lie within `near` and connect to the
/// lung model's `coarse` mask. Consolidated lung is lung, so dense consolidation against the
/// chest wall, which a lung model trained on aerated lung leaves out, joins it.
fn lung_from_lesion_model(grid: Grid, coarse: &[bool], near: &[bool], labels: &[u8], knows_lung: bool) -> Vec<bool> {
    use lungdesk_volume::labels as l;
    let candidate = |i: usize| {
        let label = labels[i];
        let opacity = label == l::GROUND_GLASS || label == l::CONSOLIDATION;
        near[i] && (opacity || if knows_lung { label == l::LUNG } else { coarse[i] })
    };
    let components = components_where(grid, candidate);
    let mut touches = vec![false; components.sizes.len()];
    for (voxels, c) in components.runs() {
        touches[c as usize] |= coarse[voxels].contains(&true);
    }
    components.mask_where(grid.len(), |c| touches[c as usize])
}

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
    /// The grade; `None` when the AI cannot grade the series (see `cannot_grade`).
    pub prediction: Option<GradePrediction>,
    /// Why there is no grade: never a grade, never "negative".
    pub cannot_grade: Option<CannotGrade>,
    /// How a series in another plane was read ("coronal series read as axial slices").
    pub read_as: Option<String>,
    /// Whether this came from the per-series cache.
    pub from_cache: bool,
}

impl Analysis {
    /// The RSNA grade number (1–4), or `None` when the AI cannot grade.
    pub fn grade_number(&self) -> Option<u8> {
        self.prediction.as_ref().map(|p| p.grade as u8)
    }
}

/// Progress steps of [`analyze`].
pub fn steps(engine: &Engine, geometry: &VolumeGeometry) -> usize {
    match engine {
        Engine::Models(m) => m.steps(geometry),
        Engine::Baseline { .. } => baseline::STEPS,
    }
}

/// What stops the AI before segmentation: the series' geometry and HU alone
/// (`gradable::before_segmentation`), or an oblique plane it cannot reorder to axial.
pub fn cannot_grade_before(geometry: &VolumeGeometry, voxels_hu: &[i16]) -> Option<CannotGrade> {
    if let Some(cannot) = gradable::before_segmentation(geometry, voxels_hu) {
        return Some(cannot);
    }
    match reformat::plan(geometry) {
        Plan::Oblique { tilt_deg } => Some(CannotGrade {
            code: CannotGradeCode::Oblique,
            reason: format!(
                "an oblique series ({tilt_deg:.0}° from the nearest patient axis, at most {:.0}°) cannot be read as axial slices",
                reformat::MAX_TILT_DEG
            ),
        }),
        Plan::Axial | Plan::Reformat(_) => None,
    }
}

/// Segments, quantifies and grades. Progress: [`steps`] steps, started here. A series in
/// another plane is read as axial ([`reformat`]); one the AI cannot read gets no grade and the
/// reason (`Analysis::cannot_grade`), without running the models.
pub fn analyze(
    engine: &Engine,
    geometry: &VolumeGeometry,
    voxels_hu: &[i16],
    progress: &Progress,
) -> Result<Analysis, AnalysisError> {
    if voxels_hu.len() != geometry.voxel_count() {
        return Err(InferenceError::WrongLength {
            step: "analysis",
            got: voxels_hu.len(),
            expected: geometry.voxel_count(),
        }
        .into());
    }
    if let Some(cannot) = cannot_grade_before(geometry, voxels_hu) {
        let method = format!("not analysed: {}", cannot.reason);
        // The set that would have read the scan made the call: its reads, "cannot grade"
        // included, are kept and counted under its versions.
        let models = match engine {
            Engine::Models(m) => m.versions(),
            Engine::Baseline { .. } => Vec::new(),
        };
        return finish(geometry, vec![labels::BACKGROUND; voxels_hu.len()], method, models, None, Some(cannot), false);
    }
    let plan = reformat::plan(geometry);
    let (segmentation, models, fallback_reason) = match &plan {
        Plan::Reformat(r) => {
            let axial = r.to_axial(voxels_hu);
            let (mut s, models, fallback) = segment(engine, &r.geometry, &axial, progress)?;
            drop(axial);
            s.labels = r.to_source(&s.labels);
            (s, models, fallback)
        }
        Plan::Axial | Plan::Oblique { .. } => segment(engine, geometry, voxels_hu, progress)?,
    };
    finish(geometry, segmentation.labels, segmentation.method, models, fallback_reason, None, false)
}

fn segment(
    engine: &Engine,
    geometry: &VolumeGeometry,
    voxels_hu: &[i16],
    progress: &Progress,
) -> Result<(Segmentation, Vec<String>, Option<String>), AnalysisError> {
    Ok(match engine {
        Engine::Models(m) => {
            progress.start(m.steps(geometry));
            (m.segment(geometry, voxels_hu, progress)?, m.versions(), None)
        }
        Engine::Baseline { reason } => (
            baseline::segment(geometry, voxels_hu, &BaselineParams::default(), progress)?,
            Vec::new(),
            Some(reason.clone()),
        ),
    })
}

/// Quantifies and grades a label volume on the series' own grid (read as axial when it is
/// in another plane). `before` is what [`cannot_grade_before`] said; the lung rules of
/// `gradable::after_segmentation` are checked here.
pub fn finish(
    geometry: &VolumeGeometry,
    labels: Vec<u8>,
    method: String,
    models: Vec<String>,
    fallback_reason: Option<String>,
    before: Option<CannotGrade>,
    from_cache: bool,
) -> Result<Analysis, AnalysisError> {
    let (quantification, lung, read_as) = match reformat::plan(geometry) {
        Plan::Reformat(r) => {
            let axial = r.to_axial(&labels);
            let lung: Vec<bool> = axial.iter().map(|&l| l != labels::BACKGROUND).collect();
            let read_as = format!("{} series read as axial slices", plane_name(geometry));
            (quantify(&r.geometry, &axial)?, (r.geometry, lung), Some(read_as))
        }
        Plan::Axial | Plan::Oblique { .. } => {
            let lung: Vec<bool> = labels.iter().map(|&l| l != labels::BACKGROUND).collect();
            (quantify(geometry, &labels)?, (*geometry, lung), None)
        }
    };
    tracing::info!("quantified");
    let after = if before.is_some() { None } else { gradable::after_segmentation(&lung.0, &lung.1) };
    drop(lung);
    let cannot_grade = before.or(after);
    let prediction = if cannot_grade.is_none() { Some(grade(&quantification)) } else { None };
    Ok(Analysis {
        labels,
        method,
        models,
        fallback_reason,
        quantification,
        prediction,
        cannot_grade,
        read_as,
        from_cache,
    })
}

/// "coronal" or "sagittal": the plane of a series' slices.
fn plane_name(geometry: &VolumeGeometry) -> &'static str {
    let n = geometry.axes()[2];
    if n.y.abs() >= n.x.abs() { "coronal" } else { "sagittal" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A solid section seeded in slice 5 (a 20 × 20 px square, 1 mm pixels: 22.6 mm equivalent
    /// diameter) with soft tissue above and below it on 5 mm slices: it continues round(11.3 /
    /// 5) = 2 slices each way, straight up and down, never into lung, air or bone, never wider.
    #[test]
    fn a_solid_section_continues_through_as_many_slices_as_half_its_width() {
        let grid = Grid { dims: [40, 40, 12] };
        let square = |x: usize, y: usize| (10..30).contains(&x) && (10..30).contains(&y);
        let mut seed = vec![false; grid.len()];
        let mut hu = vec![40i16; grid.len()];
        let mut lung = vec![false; grid.len()];
        for i in 0..grid.len() {
            let [x, y, z] = grid.coords(i);
            seed[i] = z == 5 && square(x, y);
            if x == 12 && z == 6 {
                lung[i] = true;
            }
            if x == 13 && z == 6 {
                hu[i] = 900;
            }
        }
        let added = continue_solid_through_slices(grid, [1.0, 1.0, 5.0], &hu, &lung, &seed);
        let in_slice = |z: usize| (0..grid.len()).filter(|&i| added[i] && grid.coords(i)[2] == z).count();
        assert_eq!([in_slice(2), in_slice(3), in_slice(4)], [0, 400, 400], "two slices below");
        assert_eq!(in_slice(5), 0, "the seed itself is not added");
        // Slice 6 loses the lung column and the bone column, and slice 7 continues only above
        // what slice 6 added.
        assert_eq!([in_slice(6), in_slice(7), in_slice(8)], [360, 360, 0], "two slices above");
        assert!(
            !added.iter().enumerate().any(|(i, &a)| a && !square(grid.coords(i)[0], grid.coords(i)[1])),
            "never wider"
        );
    }
}
