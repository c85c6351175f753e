//! Coronal and sagittal series read as axial: the models see axial slices, so a full volume
//! acquired in another plane is reordered (axes permuted and flipped, no resampling) so that
//! its voxel axes run along patient +x (left), +y (posterior) and +z (head), like an axial
//! series read the usual way. Labels are mapped back to the series' own grid afterwards, so
//! the overlay fits the images the reader sees.
//!
//! Only series whose every axis lies within [`MAX_TILT_DEG`] of a patient axis are reordered;
//! steeper obliques are not graded (`gradable::CannotGradeCode::Oblique`). Axial series with a
//! gantry tilt of up to that angle are read as they are.

use glam::DVec4;
use lungdesk_volume::VolumeGeometry;
use rayon::prelude::*;

/// The largest angle between a voxel axis and the patient axis it is taken for.
pub const MAX_TILT_DEG: f64 = 25.0;

/// How a grid maps onto its axial reordering.
#[derive(Debug, Clone, PartialEq)]
pub struct Reformat {
    /// `source_axis[a]`: the source voxel axis that becomes axis `a` (0 x, 1 y, 2 z).
    source_axis: [usize; 3],
    /// Whether that axis runs backwards.
    flip: [bool; 3],
    source_dims: [usize; 3],
    /// The geometry of the axial grid.
    pub geometry: VolumeGeometry,
}

/// What [`plan`] finds.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Slices are axial already (within [`MAX_TILT_DEG`]): read as they are.
    Axial,
    /// Another plane, reordered to axial.
    Reformat(Box<Reformat>),
    /// No reordering brings every axis within [`MAX_TILT_DEG`] of a patient axis; the worst
    /// axis's angle in degrees.
    Oblique { tilt_deg: f64 },
}

/// How `geometry` is read as axial.
pub fn plan(geometry: &VolumeGeometry) -> Plan {
    let axes = geometry.axes();
    let min_cos = MAX_TILT_DEG.to_radians().cos();
    // The slice axis is axial enough: as the models always read.
    if axes[2].z.abs() >= min_cos {
        return Plan::Axial;
    }
    // The source axis nearest each patient axis; they must be distinct.
    let mut source_axis = [0usize; 3];
    let mut worst = 1.0f64;
    for (target, slot) in source_axis.iter_mut().enumerate() {
        let (best, cos) =
            (0..3).map(|a| (a, axes[a][target].abs())).max_by(|x, y| x.1.total_cmp(&y.1)).unwrap_or((target, 0.0));
        *slot = best;
        worst = worst.min(cos);
    }
    let distinct =
        source_axis[0] != source_axis[1] && source_axis[1] != source_axis[2] && source_axis[0] != source_axis[2];
    if !distinct || worst < min_cos {
        return Plan::Oblique { tilt_deg: worst.clamp(-1.0, 1.0).acos().to_degrees() };
    }
    let flip = [0, 1, 2].map(|t| axes[source_axis[t]][t] < 0.0);
    let dims = source_axis.map(|a| geometry.dims[a]);
    let spacing_mm = source_axis.map(|a| geometry.spacing_mm[a]);
    let m = geometry.patient_from_voxel;
    let mut origin = m.w_axis;
    let mut cols = [DVec4::ZERO; 3];
    for t in 0..3 {
        let col = m.col(source_axis[t]);
        if flip[t] {
            origin += col * (geometry.dims[source_axis[t]] as f64 - 1.0);
            cols[t] = -col;
        } else {
            cols[t] = col;
        }
    }
    let patient_from_voxel = glam::DMat4::from_cols(cols[0], cols[1], cols[2], origin);
    Plan::Reformat(Box::new(Reformat {
        source_axis,
        flip,
        source_dims: geometry.dims,
        geometry: VolumeGeometry { dims, spacing_mm, patient_from_voxel },
    }))
}

impl Reformat {
    /// The source index of axial voxel (x, y, z).
    fn source_index(&self, target: [usize; 3]) -> usize {
        let mut s = [0usize; 3];
        for (t, &at) in target.iter().enumerate() {
            let a = self.source_axis[t];
            s[a] = if self.flip[t] { self.geometry.dims[t] - 1 - at } else { at };
        }
        let [nx, ny, _] = self.source_dims;
        (s[2] * ny + s[1]) * nx + s[0]
    }

    /// The source volume reordered onto the axial grid.
    pub fn to_axial<T: Copy + Default + Send + Sync>(&self, source: &[T]) -> Vec<T> {
        let [nx, ny, _] = self.geometry.dims;
        let mut out = vec![T::default(); source.len()];
        out.par_chunks_mut(nx * ny).enumerate().for_each(|(z, slice)| {
            for y in 0..ny {
                for x in 0..nx {
                    slice[y * nx + x] = source[self.source_index([x, y, z])];
                }
            }
        });
        out
    }

    /// An axial-grid volume (labels) put back onto the source grid.
    pub fn to_source<T: Copy + Default + Send + Sync>(&self, axial: &[T]) -> Vec<T> {
        let [nx, ny, _] = self.geometry.dims;
        let mut out = vec![T::default(); axial.len()];
        // Each axial voxel writes one distinct source voxel; done serially per slice to keep
        // the writes safe, in parallel over gathered (index, value) pairs.
        let pairs: Vec<(usize, T)> = (0..axial.len())
            .into_par_iter()
            .map(|i| {
                let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
                (self.source_index([x, y, z]), axial[i])
            })
            .collect();
        for (s, v) in pairs {
            out[s] = v;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{DMat4, DVec3};

    fn geometry(row: DVec3, col: DVec3, dims: [usize; 3], spacing: [f64; 3], origin: DVec3) -> VolumeGeometry {
        let normal = row.cross(col);
        VolumeGeometry {
            dims,
            spacing_mm: spacing,
            patient_from_voxel: DMat4::from_cols(
                (row * spacing[0]).extend(0.0),
                (col * spacing[1]).extend(0.0),
                (normal * spacing[2]).extend(0.0),
                origin.extend(1.0),
            ),
        }
    }

    #[test]
    fn axial_stays_and_steep_obliques_are_refused() {
        let g = geometry(DVec3::X, DVec3::Y, [4, 4, 4], [1.0; 3], DVec3::ZERO);
        assert_eq!(plan(&g), Plan::Axial);
        let a = 45f64.to_radians();
        let g = geometry(DVec3::X, DVec3::new(0.0, a.cos(), a.sin()), [4, 4, 4], [1.0; 3], DVec3::ZERO);
        assert!(matches!(plan(&g), Plan::Oblique { tilt_deg } if (tilt_deg - 45.0).abs() < 1e-6), "{:?}", plan(&g));
    }

    /// Every voxel of a coronal and a sagittal grid lands where its patient position says, and
    /// labels map back exactly.
    #[test]
    fn coronal_and_sagittal_reorder_by_patient_position() {
        for (row, col) in [(DVec3::X, DVec3::NEG_Z), (DVec3::Y, DVec3::NEG_Z), (DVec3::NEG_Y, DVec3::Z)] {
            let dims = [5, 6, 7];
            let g = geometry(row, col, dims, [0.7, 1.1, 2.5], DVec3::new(-10.0, 20.0, 30.0));
            let Plan::Reformat(r) = plan(&g) else { panic!("{row} {col}: not reformatted") };
            let n: usize = dims.iter().product();
            let source: Vec<u32> = (0..n as u32).collect();
            let axial = r.to_axial(&source);
            let axes = r.geometry.axes();
            assert!(axes[0].x > 0.99 && axes[1].y > 0.99 && axes[2].z > 0.99, "{axes:?}");
            let grid = crate::mask::Grid { dims: r.geometry.dims };
            for (i, &s) in axial.iter().enumerate() {
                let at = r.geometry.patient_from_voxel_point(DVec3::from_array(grid.coords(i).map(|v| v as f64)));
                let src = crate::mask::Grid { dims }.coords(s as usize).map(|v| v as f64);
                let expected = g.patient_from_voxel_point(DVec3::from_array(src));
                assert!((at - expected).length() < 1e-9, "voxel {i}: {at} vs {expected}");
            }
            assert_eq!(r.to_source(&axial), source);
        }
    }
}
