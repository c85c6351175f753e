//! Quantification of a segmentation: per lung, volumes and shares of ground glass and
//! consolidation; over both, the number of foci, the peripheral fraction, bilaterality and a
//! zonal CT severity score.
//!
//! - Sides come from patient coordinates: voxels left of the lungs' centroid (LPS +x) are the
//!   left lung. Lobes are not segmented yet.
//! - The peripheral fraction is the share of lesion volume in the outer third of the lung:
//!   per axial slice and side, a voxel at distance c from that lung section's centroid and
//!   depth d from its edge lies at c / (c + d) of the way out; the outer third is ≥ 2/3.
//! - The central fraction is the share in the inner third (< 1/3 of the way out): perihilar.
//! - Foci are described one by one: a *ground-glass focus* is at least half ground glass; a
//!   *solid focus* at least 70 % consolidation; a *nodule* a solid opacity of
//!   [`NODULE_ML`] (about 4–10 mm across) outside the inner third (round the hila, junctions
//!   of large vessels look alike); a *mass* a solid focus of at least [`MASS_ML`] (about 3 cm
//!   across).
//! - The severity score splits each lung into upper, middle and lower thirds of its height
//!   and scores each zone 0–5 by involvement (0 %, < 5, 5–25, 25–50, 50–75, > 75 %), the
//!   scale of Pan et al. 2020 applied to six zones instead of five lobes: 0–30.

use lungdesk_volume::{VolumeGeometry, labels};
use serde::Serialize;

use crate::InferenceError;
use rayon::prelude::*;

use crate::mask::{Grid, components_where, inplane_depth_slice_mm};

/// Smallest connected opacity counted as a focus, in mL.
/// (About an 8 mm sphere: smaller blobs are mostly vessel junctions in the HU baseline.)
pub const MIN_FOCUS_ML: f64 = 0.25;
/// Smallest focus that counts for bilaterality and as a solid focus (mL): specks at vessel
/// junctions do not.
pub const SIGNIFICANT_FOCUS_ML: f64 = 1.0;
/// Volume range of a nodule (mL): spheres of about 4 to 10 mm.
pub const NODULE_ML: [f64; 2] = [0.03, 0.55];
/// Smallest solid focus called a mass (mL): a sphere of about 3 cm.
pub const MASS_ML: f64 = 14.0;
/// A focus is solid when consolidation makes at least this share of it.
pub const SOLID_SHARE: f64 = 0.7;

/// One lung.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LungStats {
    pub lung_ml: f64,
    pub ggo_ml: f64,
    pub consolidation_ml: f64,
    pub ggo_percent: f64,
    pub consolidation_percent: f64,
    /// Severity of the upper, middle and lower zone, 0–5 each.
    pub zone_scores: [u8; 3],
}

/// Both lungs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantification {
    pub right: LungStats,
    pub left: LungStats,
    pub lung_ml: f64,
    pub ggo_ml: f64,
    pub consolidation_ml: f64,
    /// Opacity (GGO + consolidation) as % of lung volume.
    pub opacity_percent: f64,
    /// Connected opacities of at least [`MIN_FOCUS_ML`].
    pub foci: usize,
    /// Share (0..1) of opacity volume in the outer third of the lung; 0 without opacity.
    pub peripheral_fraction: f64,
    /// Share (0..1) of opacity volume in the inner third (perihilar); 0 without opacity.
    pub central_fraction: f64,
    /// Foci that are at least half ground glass.
    pub ggo_foci: usize,
    /// Foci of at least [`SIGNIFICANT_FOCUS_ML`] that are at least [`SOLID_SHARE`]
    /// consolidation.
    pub solid_foci: usize,
    /// Solid opacities of [`NODULE_ML`], mostly outside the inner third.
    pub nodules: usize,
    /// Solid foci of at least [`MASS_ML`].
    pub masses: usize,
    /// The largest focus's share of all opacity (0..1).
    pub largest_focus_share: f64,
    /// Zones (of six) with any opacity.
    pub zones_involved: u8,
    /// A focus of at least [`SIGNIFICANT_FOCUS_ML`] in each lung.
    pub bilateral: bool,
    /// Zonal CT severity score, 0–30.
    pub severity_score: u8,
}

fn zone_score(percent: f64) -> u8 {
    match percent {
        p if p <= 0.0 => 0,
        p if p < 5.0 => 1,
        p if p < 25.0 => 2,
        p if p < 50.0 => 3,
        p if p <= 75.0 => 4,
        _ => 5,
    }
}

/// How many of `values` are `value`.
fn bytecount(values: &[u8], value: u8) -> usize {
    values.iter().fold(0, |n, &v| n + usize::from(v == value))
}

/// Voxel counts of one or more slices, per side (0 right, 1 left) and zone.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    lung: [usize; 2],
    ggo: [usize; 2],
    consolidation: [usize; 2],
    zone_voxels: [[usize; 3]; 2],
    zone_opacity: [[usize; 3]; 2],
    peripheral: usize,
    central: usize,
    opacity: usize,
}

impl Counts {
    fn add(self, other: Self) -> Self {
        let sum2 = |a: [usize; 2], b: [usize; 2]| [a[0] + b[0], a[1] + b[1]];
        let sum3 = |a: [[usize; 3]; 2], b: [[usize; 3]; 2]| [0, 1].map(|s| [0, 1, 2].map(|z| a[s][z] + b[s][z]));
        Self {
            lung: sum2(self.lung, other.lung),
            ggo: sum2(self.ggo, other.ggo),
            consolidation: sum2(self.consolidation, other.consolidation),
            zone_voxels: sum3(self.zone_voxels, other.zone_voxels),
            zone_opacity: sum3(self.zone_opacity, other.zone_opacity),
            peripheral: self.peripheral + other.peripheral,
            central: self.central + other.central,
            opacity: self.opacity + other.opacity,
        }
    }
}

/// Quantifies `labels` (classes of [`lungdesk_volume::labels`]) on `geometry`'s grid.
#[allow(clippy::too_many_lines)] // one pass per measure, in the order the module doc lists them
pub fn quantify(geometry: &VolumeGeometry, labels: &[u8]) -> Result<Quantification, InferenceError> {
    let grid = Grid { dims: geometry.dims };
    if labels.len() != grid.len() {
        return Err(InferenceError::WrongLength { step: "quantification", got: labels.len(), expected: grid.len() });
    }
    let voxel_ml = geometry.spacing_mm.iter().product::<f64>() / 1000.0;
    let patient =
        |i: usize| geometry.patient_from_voxel_point(glam::DVec3::from_array(grid.coords(i).map(|v| v as f64)));
    let is_lung = |l: u8| l != labels::BACKGROUND;
    let is_opacity = |l: u8| l == labels::GROUND_GLASS || l == labels::CONSOLIDATION;

    // Midline and height of the lungs (per slice, in parallel).
    let [nx, ny, _] = grid.dims;
    let plane = nx * ny;
    let (sum_x, count) = labels
        .par_chunks(plane)
        .enumerate()
        .map(|(z, slice)| {
            slice
                .iter()
                .enumerate()
                .filter(|&(_, &l)| is_lung(l))
                .fold((0.0, 0usize), |(sum, n), (p, _)| (sum + patient(z * plane + p).x, n + 1))
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let midline_x = if count > 0 { sum_x / count as f64 } else { 0.0 };
    let side_of = |p: glam::DVec3| usize::from(p.x > midline_x); // 0 right, 1 left
    let z_range = labels
        .par_chunks(plane)
        .enumerate()
        .map(|(z, slice)| {
            let mut range = [[f64::INFINITY, f64::NEG_INFINITY]; 2];
            for (p, _) in slice.iter().enumerate().filter(|&(_, &l)| is_lung(l)) {
                let at = patient(z * plane + p);
                let r = &mut range[side_of(at)];
                r[0] = r[0].min(at.z);
                r[1] = r[1].max(at.z);
            }
            range
        })
        .reduce(
            || [[f64::INFINITY, f64::NEG_INFINITY]; 2],
            |a, b| [0, 1].map(|s| [a[s][0].min(b[s][0]), a[s][1].max(b[s][1])]),
        );
    let zone_of = |side: usize, z: f64| {
        let [lo, hi] = z_range[side];
        let t = if hi > lo { (hi - z) / (hi - lo) } else { 0.0 }; // 0 at the apex
        ((t * 3.0) as usize).min(2)
    };

    // Per axial slice (in parallel, one slice's distances at a time): each voxel's depth
    // from the lung edge and the lung section's centroid (in-plane mm), so how far out each
    // opacity voxel lies; and the counts per side and zone. Opacity voxels in the inner
    // (hilar) third, where vessel junctions look like nodules, are marked in `hilar`.
    let [sx, sy, _] = geometry.spacing_mm;
    let mut hilar = vec![false; grid.len()];
    let counts = labels
        .par_chunks(plane)
        .zip(hilar.par_chunks_mut(plane))
        .enumerate()
        .map(|(z, (slice, hilar))| {
            let mut c = Counts::default();
            if !slice.iter().any(|&l| is_lung(l)) {
                return c;
            }
            let mut side = vec![0u8; plane];
            let mut centroid_sums = [[0f64; 3]; 2];
            for (p, _) in slice.iter().enumerate().filter(|&(_, &l)| is_lung(l)) {
                let s = side_of(patient(z * plane + p));
                side[p] = s as u8;
                let sums = &mut centroid_sums[s];
                sums[0] += (p % nx) as f64 * sx;
                sums[1] += (p / nx) as f64 * sy;
                sums[2] += 1.0;
            }
            let lung: Vec<bool> = slice.iter().map(|&l| is_lung(l)).collect();
            let mut depth = vec![0f32; plane];
            inplane_depth_slice_mm([nx, ny], &lung, [sx, sy], &mut depth);
            for (p, &l) in slice.iter().enumerate() {
                if !is_lung(l) {
                    continue;
                }
                let s = usize::from(side[p]);
                let zone = zone_of(s, patient(z * plane + p).z);
                c.lung[s] += 1;
                c.zone_voxels[s][zone] += 1;
                if l == labels::GROUND_GLASS {
                    c.ggo[s] += 1;
                } else if l == labels::CONSOLIDATION {
                    c.consolidation[s] += 1;
                }
                if is_opacity(l) {
                    c.zone_opacity[s][zone] += 1;
                    c.opacity += 1;
                    let [sum_x, sum_y, count] = centroid_sums[s];
                    let from_centre =
                        ((p % nx) as f64 * sx - sum_x / count).hypot((p / nx) as f64 * sy - sum_y / count);
                    let to_edge = f64::from(depth[p]);
                    let out = if from_centre + to_edge > 0.0 { from_centre / (from_centre + to_edge) } else { 0.0 };
                    if out >= 2.0 / 3.0 {
                        c.peripheral += 1;
                    } else if out < 1.0 / 3.0 {
                        c.central += 1;
                        hilar[p] = true;
                    }
                }
            }
            c
        })
        .reduce(Counts::default, Counts::add);

    let mut stats = [LungStats::default(); 2];
    for (side, s) in stats.iter_mut().enumerate() {
        s.lung_ml = counts.lung[side] as f64 * voxel_ml;
        s.ggo_ml = counts.ggo[side] as f64 * voxel_ml;
        s.consolidation_ml = counts.consolidation[side] as f64 * voxel_ml;
        if s.lung_ml > 0.0 {
            s.ggo_percent = 100.0 * s.ggo_ml / s.lung_ml;
            s.consolidation_percent = 100.0 * s.consolidation_ml / s.lung_ml;
        }
        for zone in 0..3 {
            let n = counts.zone_voxels[side][zone];
            let percent = if n > 0 { 100.0 * counts.zone_opacity[side][zone] as f64 / n as f64 } else { 0.0 };
            s.zone_scores[zone] = zone_score(percent);
        }
    }
    let (peripheral, central, opacity_voxels) = (counts.peripheral, counts.central, counts.opacity);

    // Foci, and which side each lies on.
    let components = components_where(grid, |i| is_opacity(labels[i]));
    let sizes = &components.sizes;
    let min_voxels = (MIN_FOCUS_ML / voxel_ml).ceil() as usize;
    let mut focus_side = vec![None; sizes.len()];
    let mut focus_consolidation = vec![0usize; sizes.len()];
    let mut focus_hilar = vec![0usize; sizes.len()];
    for (voxels, c) in components.runs() {
        let c = c as usize;
        if focus_side[c].is_none() {
            focus_side[c] = Some(side_of(patient(voxels.start)));
        }
        focus_hilar[c] += hilar[voxels.clone()].iter().filter(|&&h| h).count();
        focus_consolidation[c] += bytecount(&labels[voxels], labels::CONSOLIDATION);
    }
    drop(hilar);
    let mut foci = 0;
    let (mut ggo_foci, mut solid_foci, mut nodules, mut masses) = (0, 0, 0, 0);
    let mut largest = 0usize;
    let mut sides_with_focus = [false; 2];
    for c in 1..sizes.len() {
        let ml = sizes[c] as f64 * voxel_ml;
        let solid = focus_consolidation[c] as f64 >= SOLID_SHARE * sizes[c] as f64;
        largest = largest.max(sizes[c]);
        if solid && (NODULE_ML[0]..=NODULE_ML[1]).contains(&ml) && 2 * focus_hilar[c] < sizes[c] {
            nodules += 1;
        }
        if sizes[c] >= min_voxels.max(1) {
            foci += 1;
            if let Some(side) = focus_side[c].filter(|_| ml >= SIGNIFICANT_FOCUS_ML) {
                sides_with_focus[side] = true;
            }
            if 2 * focus_consolidation[c] <= sizes[c] {
                ggo_foci += 1;
            }
            if solid && ml >= SIGNIFICANT_FOCUS_ML {
                solid_foci += 1;
                if ml >= MASS_ML {
                    masses += 1;
                }
            }
        }
    }

    let lung_ml = stats[0].lung_ml + stats[1].lung_ml;
    let ggo_ml = stats[0].ggo_ml + stats[1].ggo_ml;
    let consolidation_ml = stats[0].consolidation_ml + stats[1].consolidation_ml;
    Ok(Quantification {
        right: stats[0],
        left: stats[1],
        lung_ml,
        ggo_ml,
        consolidation_ml,
        opacity_percent: if lung_ml > 0.0 { 100.0 * (ggo_ml + consolidation_ml) / lung_ml } else { 0.0 },
        foci,
        peripheral_fraction: if opacity_voxels > 0 { peripheral as f64 / opacity_voxels as f64 } else { 0.0 },
        central_fraction: if opacity_voxels > 0 { central as f64 / opacity_voxels as f64 } else { 0.0 },
        ggo_foci,
        solid_foci,
        nodules,
        masses,
        largest_focus_share: if opacity_voxels > 0 { largest as f64 / opacity_voxels as f64 } else { 0.0 },
        zones_involved: stats.iter().flat_map(|s| s.zone_scores).filter(|&z| z > 0).count() as u8,
        bilateral: sides_with_focus[0] && sides_with_focus[1],
        severity_score: stats.iter().flat_map(|s| s.zone_scores).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_scores_follow_the_scale() {
        assert_eq!([0.0, 1.0, 10.0, 30.0, 60.0, 90.0].map(zone_score), [0, 1, 2, 3, 4, 5]);
    }
}
