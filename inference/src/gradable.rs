//! "Cannot grade" as a result: the rules by which the AI declines to grade a series, each with
//! a stable reason code and a sentence for the reader (`docs/MODELS.md`, "When the AI cannot
//! grade"). A series it cannot grade gets no RSNA category at all: it is never "negative",
//! never counted as one, and never sent as an AI grade.
//!
//! Checked before segmentation, from the geometry and the HU values alone:
//! - a single slice, in any orientation ([`CannotGradeCode::SingleSlice`]);
//! - fewer than [`MIN_SLICES`] slices ([`CannotGradeCode::TooFewSlices`]);
//! - less than [`MIN_COVERAGE_MM`] along the patient's long axis
//!   ([`CannotGradeCode::TooLittleCoverage`]);
//! - voxels longer than [`MAX_VOXEL_MM`] along any axis ([`CannotGradeCode::SlicesTooThick`]);
//! - an oblique series that cannot be reformatted to axial by reordering its axes
//!   ([`CannotGradeCode::Oblique`]);
//! - under [`MIN_BODY_AIR_ML`] of air inside the body: no aerated lung in the scan, so not a
//!   chest CT ([`CannotGradeCode::NotChestCt`]).
//!
//! Checked after segmentation, from the lung mask:
//! - under [`MIN_LUNG_ML`] of lung although the body holds air ([`CannotGradeCode::NoLung`]);
//! - lungs in under [`MIN_LUNG_SLICE_SHARE`] of a long scan's slices, as in an abdominal CT
//!   that catches the lung bases ([`CannotGradeCode::NotChestCt`]);
//! - a mean lung cross-section outside [`LUNG_SECTION_CM2`] on the slices that hold lung
//!   ([`CannotGradeCode::ImplausibleLung`]).

use lungdesk_volume::VolumeGeometry;
use serde::{Deserialize, Serialize};

use crate::mask::{Grid, border_connected_slices};

/// Fewest slices a chest can be graded on.
pub const MIN_SLICES: usize = 10;
/// Least craniocaudal coverage (mm): adult lungs are 200–300 mm tall, and the RSNA categories
/// rest on the distribution of opacity through the whole lungs.
pub const MIN_COVERAGE_MM: f64 = 100.0;
/// Longest voxel edge (mm). Thicker slices blur ground glass into the lung around it.
pub const MAX_VOXEL_MM: f64 = 10.0;
/// Least air inside the body (mL) for a scan that shows aerated lung.
pub const MIN_BODY_AIR_ML: f64 = 50.0;
/// Least lung (mL) to grade.
pub const MIN_LUNG_ML: f64 = 100.0;
/// On scans longer than [`LONG_SCAN_MM`], the least share of slices that hold lung.
pub const MIN_LUNG_SLICE_SHARE: f64 = 0.25;
pub const LONG_SCAN_MM: f64 = 400.0;
/// Plausible mean lung cross-section (cm², both lungs) on the slices that hold lung: a
/// child's lung base to an emphysematous adult's widest section, with margin.
pub const LUNG_SECTION_CM2: [f64; 2] = [10.0, 800.0];
/// HU below which a voxel is air.
const AIR_HU: i16 = -400;

/// Why the AI cannot grade, as a stable code (for JSON, the store and the sync payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CannotGradeCode {
    SingleSlice,
    TooFewSlices,
    TooLittleCoverage,
    SlicesTooThick,
    Oblique,
    NotChestCt,
    NoLung,
    ImplausibleLung,
}

impl CannotGradeCode {
    pub const ALL: [Self; 8] = [
        Self::SingleSlice,
        Self::TooFewSlices,
        Self::TooLittleCoverage,
        Self::SlicesTooThick,
        Self::Oblique,
        Self::NotChestCt,
        Self::NoLung,
        Self::ImplausibleLung,
    ];

    /// Whether the scan is refused before segmentation (no model ran on it): every code but
    /// the lung checks, which look at the segmented lungs.
    pub fn before_segmentation(self) -> bool {
        !matches!(self, Self::NoLung | Self::ImplausibleLung)
    }

    /// The code as stored and sent ("single_slice").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SingleSlice => "single_slice",
            Self::TooFewSlices => "too_few_slices",
            Self::TooLittleCoverage => "too_little_coverage",
            Self::SlicesTooThick => "slices_too_thick",
            Self::Oblique => "oblique",
            Self::NotChestCt => "not_chest_ct",
            Self::NoLung => "no_lung",
            Self::ImplausibleLung => "implausible_lung",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

/// The AI's answer when it cannot grade: the code and the reason in words, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannotGrade {
    pub code: CannotGradeCode,
    pub reason: String,
}

impl CannotGrade {
    fn new(code: CannotGradeCode, reason: String) -> Self {
        Self { code, reason }
    }
}

/// The patient's long axis (LPS z) extent covered by the grid, centre to centre plus one
/// voxel, in mm.
pub fn coverage_mm(geometry: &VolumeGeometry) -> f64 {
    let axes = geometry.axes();
    (0..3).map(|a| (geometry.dims[a] as f64 * geometry.spacing_mm[a] * axes[a].z).abs()).sum()
}

/// The checks made before segmentation. `slices` is the number of images along the series'
/// own slice axis (before any reformat).
pub fn before_segmentation(geometry: &VolumeGeometry, voxels_hu: &[i16]) -> Option<CannotGrade> {
    use CannotGradeCode as C;
    let slices = geometry.dims[2];
    if slices <= 1 {
        return Some(CannotGrade::new(
            C::SingleSlice,
            "a single slice cannot be graded: the RSNA categories rest on the distribution of opacity through both lungs"
                .into(),
        ));
    }
    if slices < MIN_SLICES {
        return Some(CannotGrade::new(
            C::TooFewSlices,
            format!("{slices} slices are too few to grade a chest (at least {MIN_SLICES} are needed)"),
        ));
    }
    let coverage = coverage_mm(geometry);
    if coverage < MIN_COVERAGE_MM {
        return Some(CannotGrade::new(
            C::TooLittleCoverage,
            format!(
                "the series covers {coverage:.0} mm from head to foot; grading needs at least {MIN_COVERAGE_MM:.0} mm (adult lungs are 200–300 mm tall)"
            ),
        ));
    }
    let thickest = geometry.spacing_mm.iter().copied().fold(0.0, f64::max);
    if thickest > MAX_VOXEL_MM {
        return Some(CannotGrade::new(
            C::SlicesTooThick,
            format!("slices {thickest:.1} mm apart are too thick to grade (at most {MAX_VOXEL_MM:.0} mm)"),
        ));
    }
    let air_ml = body_air_ml(geometry, voxels_hu);
    if air_ml < MIN_BODY_AIR_ML {
        return Some(CannotGrade::new(
            C::NotChestCt,
            format!(
                "not a chest CT: {air_ml:.0} mL of air inside the body over {coverage:.0} mm, where a chest holds litres of aerated lung"
            ),
        ));
    }
    None
}

/// The checks made on the lung mask (the grid the models read, axial).
pub fn after_segmentation(geometry: &VolumeGeometry, lung: &[bool]) -> Option<CannotGrade> {
    use CannotGradeCode as C;
    let grid = Grid { dims: geometry.dims };
    let voxel_ml = geometry.spacing_mm.iter().product::<f64>() / 1000.0;
    let per_slice: Vec<usize> =
        lung.chunks(grid.slice_len().max(1)).map(|s| s.iter().filter(|&&m| m).count()).collect();
    let lung_voxels: usize = per_slice.iter().sum();
    let lung_ml = lung_voxels as f64 * voxel_ml;
    if lung_ml < MIN_LUNG_ML {
        return Some(CannotGrade::new(
            C::NoLung,
            format!(
                "the AI found {lung_ml:.0} mL of lung (at least {MIN_LUNG_ML:.0} mL are needed) although the scan holds air inside the body; it cannot read this scan"
            ),
        ));
    }
    let slices_with_lung = per_slice.iter().filter(|&&n| n > 0).count();
    let coverage = coverage_mm(geometry);
    let share = slices_with_lung as f64 / per_slice.len().max(1) as f64;
    if coverage > LONG_SCAN_MM && share < MIN_LUNG_SLICE_SHARE {
        return Some(CannotGrade::new(
            C::NotChestCt,
            format!(
                "not a chest CT: lung on {:.0} % of the slices of a {coverage:.0} mm scan (an abdominal CT that catches the lung bases?)",
                100.0 * share
            ),
        ));
    }
    let section_cm2 =
        lung_voxels as f64 / slices_with_lung.max(1) as f64 * geometry.spacing_mm[0] * geometry.spacing_mm[1] / 100.0;
    if !(LUNG_SECTION_CM2[0]..=LUNG_SECTION_CM2[1]).contains(&section_cm2) {
        return Some(CannotGrade::new(
            C::ImplausibleLung,
            format!(
                "the lung the AI found is implausible: {lung_ml:.0} mL, {section_cm2:.0} cm² per slice on average (expected {:.0}–{:.0} cm²)",
                LUNG_SECTION_CM2[0], LUNG_SECTION_CM2[1]
            ),
        ));
    }
    None
}

/// Air (< −400 HU) inside the body: per axial-ish slice, air not connected to the slice's
/// border (the outside air and the table's gaps are).
fn body_air_ml(geometry: &VolumeGeometry, voxels_hu: &[i16]) -> f64 {
    let grid = Grid { dims: geometry.dims };
    if voxels_hu.len() != grid.len() {
        return 0.0;
    }
    let air: Vec<bool> = voxels_hu.iter().map(|&v| v < AIR_HU).collect();
    let outside = border_connected_slices(grid, &air);
    let inside = air.iter().zip(&outside).filter(|&(&a, &o)| a && !o).count();
    inside as f64 * geometry.spacing_mm.iter().product::<f64>() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{DMat4, DVec3, DVec4};

    fn geometry(dims: [usize; 3], spacing_mm: [f64; 3]) -> VolumeGeometry {
        let m = DMat4::from_cols(
            DVec4::new(spacing_mm[0], 0.0, 0.0, 0.0),
            DVec4::new(0.0, spacing_mm[1], 0.0, 0.0),
            DVec4::new(0.0, 0.0, spacing_mm[2], 0.0),
            DVec3::ZERO.extend(1.0),
        );
        VolumeGeometry { dims, spacing_mm, patient_from_voxel: m }
    }

    /// A box of tissue holding an air-filled "lung" in its middle, in air.
    fn chest(dims: [usize; 3]) -> Vec<i16> {
        let [nx, ny, nz] = dims;
        let mut v = vec![-1000i16; nx * ny * nz];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let (fx, fy) = (x as f64 / nx as f64, y as f64 / ny as f64);
                    if (0.1..0.9).contains(&fx) && (0.1..0.9).contains(&fy) {
                        let lung = (0.2..0.8).contains(&fx) && (0.2..0.8).contains(&fy);
                        v[(z * ny + y) * nx + x] = if lung { -850 } else { 40 };
                    }
                }
            }
        }
        v
    }

    #[test]
    fn each_geometry_rule_names_its_reason() {
        let code =
            |dims: [usize; 3], sp: [f64; 3]| before_segmentation(&geometry(dims, sp), &chest(dims)).map(|c| c.code);
        assert_eq!(code([64, 64, 1], [5.0, 5.0, 1.0]), Some(CannotGradeCode::SingleSlice));
        assert_eq!(code([64, 64, 2], [5.0, 5.0, 1.0]), Some(CannotGradeCode::TooFewSlices));
        assert_eq!(code([64, 64, 40], [5.0, 5.0, 2.0]), Some(CannotGradeCode::TooLittleCoverage));
        assert_eq!(code([64, 64, 20], [5.0, 5.0, 12.0]), Some(CannotGradeCode::SlicesTooThick));
        assert_eq!(code([64, 64, 60], [5.0, 5.0, 5.0]), None);
        // The same box with its "lung" filled with tissue: no air inside the body.
        let dims = [64, 64, 60];
        let solid: Vec<i16> = chest(dims).iter().map(|&v| if v == -850 { 40 } else { v }).collect();
        let c = before_segmentation(&geometry(dims, [5.0, 5.0, 5.0]), &solid).expect("cannot grade");
        assert_eq!(c.code, CannotGradeCode::NotChestCt, "{}", c.reason);
        assert!(c.reason.contains("0 mL of air"), "{}", c.reason);
    }

    #[test]
    fn lung_rules_name_their_reason() {
        let dims = [64, 64, 100];
        let g = geometry(dims, [5.0, 5.0, 5.0]);
        let mut lung = vec![false; 64 * 64 * 100];
        assert_eq!(after_segmentation(&g, &lung).map(|c| c.code), Some(CannotGradeCode::NoLung));
        // Lung on the lowest 10 of 100 slices of a 500 mm scan.
        for v in &mut lung[..64 * 64 * 10] {
            *v = true;
        }
        assert_eq!(after_segmentation(&g, &lung).map(|c| c.code), Some(CannotGradeCode::NotChestCt));
        // Lung on every slice, but the whole field of view (1,024 cm² a slice): a leak.
        lung.fill(true);
        assert_eq!(after_segmentation(&g, &lung).map(|c| c.code), Some(CannotGradeCode::ImplausibleLung));
        // A plausible 200 cm² a slice over every slice.
        for (i, v) in lung.iter_mut().enumerate() {
            let (x, y) = (i % 64, (i / 64) % 64);
            *v = (10..38).contains(&x) && (10..39).contains(&y);
        }
        assert_eq!(after_segmentation(&g, &lung), None);
    }

    #[test]
    fn codes_round_trip() {
        for c in CannotGradeCode::ALL {
            assert_eq!(CannotGradeCode::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).expect("json"), serde_json::json!(c.as_str()));
        }
    }
}
