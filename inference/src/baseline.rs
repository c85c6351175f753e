//! The HU baseline: lungs, ground glass and consolidation from Hounsfield units alone.
//!
//! 1. Air-like voxels (< −400 HU) that reach the border of their axial slice are outside the
//!    body; the rest are lungs, airways and bowel gas. The largest one or two 3D components
//!    (each at least 5 % of the largest and 50 mL) are kept as lungs, less the trachea and
//!    main bronchi ([`crate::airway`]).
//! 2. Holes are filled slice by slice, so vessels and opacities surrounded by lung count as
//!    lung. Dense lesions touching the chest wall are not enclosed and are lost: the known
//!    limit of thresholding, which a learned lung model is meant to fix.
//! 3. Inside the lungs, −750..−300 HU is ground glass and −300..+100 HU consolidation. Ground
//!    glass is opened with a one-voxel box to drop the partial-volume rims around vessels.
//!    Consolidation is opened with a ≈ 2 mm box to drop small vessels; of what is left, tube-
//!    shaped components (longest principal axis over 3× the shortest) are taken as larger
//!    vessels and dropped. Consolidation that is itself long and thin is lost with them.
//!
//! Deterministic, no training, no model files: a fallback and a yardstick, not ground truth.

use lungdesk_volume::{Progress, VolumeGeometry, labels};
use rayon::prelude::*;

use crate::InferenceError;
use crate::mask::{Feet, Grid, border_connected_slices, components_3d, fill_lung_holes, keep_largest_lungs, open};

/// Eigenvalues (descending) of a symmetric 3×3 matrix, by the trigonometric method.
fn symmetric_eigenvalues(m: [[f64; 3]; 3]) -> [f64; 3] {
    let p1 = m[0][1].powi(2) + m[0][2].powi(2) + m[1][2].powi(2);
    let q = (m[0][0] + m[1][1] + m[2][2]) / 3.0;
    if p1 < 1e-12 {
        let mut e = [m[0][0], m[1][1], m[2][2]];
        e.sort_by(|a, b| b.total_cmp(a));
        return e;
    }
    let p2 = (m[0][0] - q).powi(2) + (m[1][1] - q).powi(2) + (m[2][2] - q).powi(2) + 2.0 * p1;
    let p = (p2 / 6.0).sqrt();
    let b = |i: usize, j: usize| (m[i][j] - if i == j { q } else { 0.0 }) / p;
    let det = b(0, 0) * (b(1, 1) * b(2, 2) - b(1, 2) * b(2, 1)) - b(0, 1) * (b(1, 0) * b(2, 2) - b(1, 2) * b(2, 0))
        + b(0, 2) * (b(1, 0) * b(2, 1) - b(1, 1) * b(2, 0));
    let phi = (det / 2.0).clamp(-1.0, 1.0).acos() / 3.0;
    let e1 = q + 2.0 * p * phi.cos();
    let e3 = q + 2.0 * p * (phi + 2.0 * std::f64::consts::PI / 3.0).cos();
    [e1, 3.0 * q - e1 - e3, e3]
}

/// A component this thick somewhere (in-plane distance from its core to its edge, mm) is real
/// consolidation, however elongated: a band along the dependent chest wall, a lobe. Vessels
/// in the lung are at most ~15 mm across.
pub const MIN_CONSOLIDATION_CORE_MM: f64 = 8.0;

/// Removes from `mask` every component whose longest principal axis (standard deviation, in
/// patient mm) exceeds `max_elongation` times its shortest — a vessel or a vessel tree — unless
/// it is thick: at least [`MIN_CONSOLIDATION_CORE_MM`] from its edge somewhere in a slice.
pub(crate) fn drop_tubes(geometry: &VolumeGeometry, mask: &mut [bool], max_elongation: f64) {
    let grid = Grid { dims: geometry.dims };
    let components = components_3d(grid, mask);
    let sizes = &components.sizes;
    // Thick somewhere: per slice (in parallel), from that slice's in-plane depth.
    let [nx, ny, nz] = grid.dims;
    let plane = nx * ny;
    let spacing = [geometry.spacing_mm[0], geometry.spacing_mm[1]];
    let thick_labels: Vec<u32> = (0..nz)
        .into_par_iter()
        .flat_map_iter(|z| {
            let mut runs = components.slice_runs(z, ny).peekable();
            let mut depth = Vec::new();
            if runs.peek().is_some() {
                depth = vec![0f32; plane];
                crate::mask::inplane_depth_slice_mm([nx, ny], &mask[z * plane..(z + 1) * plane], spacing, &mut depth);
            }
            runs.filter(move |(voxels, _)| {
                voxels.clone().any(|i| f64::from(depth[i - z * plane]) >= MIN_CONSOLIDATION_CORE_MM)
            })
            .map(|(_, c)| c)
        })
        .collect();
    let mut thick = vec![false; sizes.len()];
    for c in thick_labels {
        thick[c as usize] = true;
    }
    // Per component: n, Σp, Σpp^T.
    let mut sums = vec![([0.0f64; 3], [[0.0f64; 3]; 3]); sizes.len()];
    for (voxels, c) in components.runs() {
        let (sum, outer) = &mut sums[c as usize];
        for i in voxels {
            let voxel = grid.coords(i).map(|v| v as f64);
            let point = geometry.patient_from_voxel_point(glam::DVec3::from_array(voxel)).to_array();
            for a in 0..3 {
                sum[a] += point[a];
                for b in 0..3 {
                    outer[a][b] += point[a] * point[b];
                }
            }
        }
    }
    let tube: Vec<bool> = sums
        .iter()
        .zip(sizes)
        .zip(&thick)
        .map(|(((s, ss), &n), &thick)| {
            if n < 4 || thick {
                return false;
            }
            let n = n as f64;
            let mut cov = [[0.0; 3]; 3];
            for a in 0..3 {
                for b in 0..3 {
                    cov[a][b] = ss[a][b] / n - s[a] / n * s[b] / n;
                }
            }
            let [longest, _, shortest] = symmetric_eigenvalues(cov);
            longest > max_elongation.powi(2) * shortest.max(1e-6)
        })
        .collect();
    for (voxels, c) in components.runs() {
        if tube[c as usize] {
            mask[voxels].fill(false);
        }
    }
}

/// Thresholds of the baseline, in HU, and the vessel-suppression size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineParams {
    /// Below this, air-like (lung, airway, outside air).
    pub air_below_hu: i16,
    /// Ground glass: `ggo_hu.0 ≤ HU < ggo_hu.1`.
    pub ggo_hu: (i16, i16),
    /// Consolidation: `consolidation_hu.0 ≤ HU ≤ consolidation_hu.1`.
    pub consolidation_hu: (i16, i16),
    /// Half-width of the opening box that removes vessels, in mm.
    pub vessel_radius_mm: f64,
    /// Dense components longer than this many times their width are vessels.
    pub max_elongation: f64,
    /// The trachea and main bronchi taken out of the lung ([`crate::airway`]), as reference
    /// lung masks do; in the parameters so that the cache's fingerprint tells reads apart.
    pub airway_out: bool,
}

impl Default for BaselineParams {
    fn default() -> Self {
        Self {
            air_below_hu: -400,
            ggo_hu: (-750, -300),
            consolidation_hu: (-300, 100),
            vessel_radius_mm: 2.0,
            max_elongation: 3.0,
            airway_out: true,
        }
    }
}

/// Labels on the volume's grid, in the classes of [`lungdesk_volume::labels`].
#[derive(Debug, Clone)]
pub struct Segmentation {
    pub labels: Vec<u8>,
    /// What produced it, for the record kept with the result.
    pub method: String,
}

pub const STEPS: usize = 5;

/// Runs the baseline on `voxels_hu` (x fastest). Reports `STEPS` steps on `progress` and
/// stops between steps when it is cancelled.
pub fn segment(
    geometry: &VolumeGeometry,
    voxels_hu: &[i16],
    params: &BaselineParams,
    progress: &Progress,
) -> Result<Segmentation, InferenceError> {
    let grid = Grid { dims: geometry.dims };
    if voxels_hu.len() != grid.len() {
        return Err(InferenceError::WrongLength { step: "HU baseline", got: voxels_hu.len(), expected: grid.len() });
    }
    progress.start(STEPS);
    let step = || {
        progress.advance();
        if progress.is_cancelled() { Err(InferenceError::Cancelled) } else { Ok(()) }
    };
    let voxel_ml = geometry.spacing_mm.iter().product::<f64>() / 1000.0;

    // 1. Air inside the body, then its largest components.
    let air: Vec<bool> = voxels_hu.iter().map(|&hu| hu < params.air_below_hu).collect();
    let outside = border_connected_slices(grid, &air);
    let inner: Vec<bool> = air.iter().zip(&outside).map(|(&a, &o)| a && !o).collect();
    drop(outside);
    step()?;
    let mut lung = inner;
    keep_largest_lungs(grid, &mut lung, voxel_ml);
    // The trachea and main bronchi are air inside the body too, and not lung.
    let feet = Feet::of_k_axis(geometry.axes()[2].to_array());
    if params.airway_out {
        let airway = crate::airway::trachea_and_main_bronchi(grid, geometry.spacing_mm, voxels_hu, |i| lung[i], feet);
        for i in airway.with_margin(grid, [geometry.spacing_mm[0], geometry.spacing_mm[1]], 0.0) {
            lung[i] = false;
        }
    }
    step()?;

    // 2. Vessels and enclosed opacities belong to the lung (not the diaphragm's dome).
    fill_lung_holes(grid, &mut lung, [geometry.spacing_mm[0], geometry.spacing_mm[1]], feet);
    step()?;

    // 3. Opacities inside the lung, vessels removed by an opening.
    let radius = geometry.spacing_mm.map(|s| (params.vessel_radius_mm / s).round() as usize);
    let in_band = |(lo, hi): (i16, i16), inclusive: bool| -> Vec<bool> {
        voxels_hu
            .iter()
            .zip(&lung)
            .map(|(&hu, &l)| l && hu >= lo && if inclusive { hu <= hi } else { hu < hi })
            .collect()
    };
    let mut consolidation = open(grid, &in_band(params.consolidation_hu, true), radius);
    drop_tubes(geometry, &mut consolidation, params.max_elongation);
    step()?;
    let ggo = open(grid, &in_band(params.ggo_hu, false), radius.map(|r| r.min(1)));
    step()?;

    let labels = (0..grid.len())
        .map(|i| {
            if consolidation[i] {
                labels::CONSOLIDATION
            } else if ggo[i] {
                labels::GROUND_GLASS
            } else if lung[i] {
                labels::LUNG
            } else {
                labels::BACKGROUND
            }
        })
        .collect();
    Ok(Segmentation {
        labels,
        method: format!(
            "HU baseline: lung < {} HU (hole-filled), GGO {}..{} HU, consolidation {}..{} HU, vessel opening {} mm, tubes > {}:1 dropped",
            params.air_below_hu,
            params.ggo_hu.0,
            params.ggo_hu.1,
            params.consolidation_hu.0,
            params.consolidation_hu.1,
            params.vessel_radius_mm,
            params.max_elongation
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvalues_of_known_matrices() {
        let e = symmetric_eigenvalues([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]);
        for (got, want) in e.iter().zip([5.0, 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-9, "{e:?}");
        }
        let diagonal = symmetric_eigenvalues([[4.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 1.0]]);
        assert!(diagonal.iter().zip([9.0, 4.0, 1.0]).all(|(got, want)| (got - want).abs() < 1e-12), "{diagonal:?}");
    }

    /// The vessel filter drops a thin tube but keeps a thick, elongated band of consolidation
    /// (as along the dependent chest wall).
    #[test]
    fn the_vessel_filter_drops_tubes_and_keeps_thick_consolidation() {
        let dims = [100, 100, 40];
        let spacing_mm = [1.0, 1.0, 2.0];
        let geometry = VolumeGeometry {
            dims,
            spacing_mm,
            patient_from_voxel: glam::DMat4::from_diagonal(glam::DVec4::new(1.0, 1.0, 2.0, 1.0)),
        };
        let grid = Grid { dims };
        let mut mask = vec![false; grid.len()];
        for z in 0..dims[2] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    // A vessel: 3 mm across, 80 mm long, along x.
                    let tube = (10..90).contains(&x) && (10..13).contains(&y) && z == 20;
                    // A band: 80 mm long, 30 mm wide, 16 mm thick (8 slices).
                    let band = (10..90).contains(&x) && (50..80).contains(&y) && (10..18).contains(&z);
                    mask[grid.index(x, y, z)] = tube || band;
                }
            }
        }
        drop_tubes(&geometry, &mut mask, 3.0);
        assert!(!mask[grid.index(50, 11, 20)], "the vessel is dropped");
        assert!(mask[grid.index(50, 65, 14)], "the thick band of consolidation is kept");
    }
}
