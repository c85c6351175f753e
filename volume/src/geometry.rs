//! Slice ordering and volume geometry from DICOM positions and orientation.
//!
//! Slices are sorted by Image Position (Patient) projected on the slice normal (row × column
//! cosines), never by Instance Number or file name. Spacing comes from the positions, not from
//! Slice Thickness. Voxel index (i, j, k) = (column, row, slice); `patient_from_voxel` maps it
//! to LPS millimetres.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use glam::{DMat4, DVec3, DVec4};
use serde::Serialize;

use crate::header::SliceHeader;
use crate::limits;

/// Positions closer than this along the normal are the same slice.
const DUPLICATE_TOLERANCE_MM: f64 = 0.01;
/// A step this far (relative) from the nominal spacing makes the spacing non-uniform.
const UNIFORM_TOLERANCE: f64 = 0.05;
/// Angles below this between the slice stack and the normal are not a tilt.
const TILT_TOLERANCE_DEG: f64 = 0.01;

/// The regular grid a volume lives on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VolumeGeometry {
    /// Columns, rows, slices.
    pub dims: [usize; 3],
    /// Distance between voxel centres along i, j, k (mm).
    pub spacing_mm: [f64; 3],
    /// Voxel (i, j, k, 1) → patient LPS (mm). Column 3 is the first voxel's centre.
    #[serde(serialize_with = "serialize_mat4")]
    pub patient_from_voxel: DMat4,
}

fn serialize_mat4<S: serde::Serializer>(m: &DMat4, s: S) -> Result<S::Ok, S::Error> {
    // Row-major 4×4, the way papers and NIfTI srows print it.
    let rows: [[f64; 4]; 4] = std::array::from_fn(|r| m.row(r).to_array());
    rows.serialize(s)
}

impl VolumeGeometry {
    /// Patient LPS position (mm) of a (possibly fractional) voxel index.
    pub fn patient_from_voxel_point(&self, ijk: DVec3) -> DVec3 {
        self.patient_from_voxel.transform_point3(ijk)
    }
    pub fn voxel_from_patient(&self) -> DMat4 {
        self.patient_from_voxel.inverse()
    }
    /// Unit direction of increasing i, j, k in LPS.
    pub fn axes(&self) -> [DVec3; 3] {
        [0, 1, 2].map(|c| self.patient_from_voxel.col(c).truncate().normalize_or_zero())
    }
    pub fn voxel_count(&self) -> usize {
        self.dims.iter().product()
    }
    /// Anatomical letters each index axis points towards, e.g. "LPS" for a standard axial stack.
    pub fn orientation_code(&self) -> String {
        self.axes().iter().map(|a| direction_letter(*a)).collect()
    }
    /// The plane the slices lie in: axial, coronal, sagittal or oblique.
    pub fn plane(&self) -> &'static str {
        let normal = self.axes()[0].cross(self.axes()[1]).abs();
        let max = normal.max_element();
        if max < 0.9 {
            "oblique"
        } else if normal.z >= max {
            "axial"
        } else if normal.y >= max {
            "coronal"
        } else {
            "sagittal"
        }
    }
}

/// The dominant anatomical direction of an LPS vector: L/R, P/A, S/I.
pub fn direction_letter(v: DVec3) -> char {
    let a = v.abs();
    if a.x >= a.y && a.x >= a.z {
        if v.x >= 0.0 { 'L' } else { 'R' }
    } else if a.y >= a.z {
        if v.y >= 0.0 { 'P' } else { 'A' }
    } else if v.z >= 0.0 {
        'S'
    } else {
        'I'
    }
}

/// Something about a series' geometry that the reader should know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// Slices are missing between two positions; the volume keeps its grid and the missing
    /// slices are filled with padding.
    Gap { after_slice: usize, gap_mm: f64, spacing_mm: f64, missing_slices: usize },
    /// Two files sit at the same position; the second is left out.
    DuplicatePosition { position_mm: f64, kept: PathBuf, dropped: PathBuf, same_instance: bool },
    /// Steps between slices differ by more than 5 %.
    NonUniformSpacing { min_mm: f64, max_mm: f64, used_mm: f64 },
    /// Slices with another orientation were left out.
    MixedOrientation { excluded: usize },
    /// Slices with another size were left out.
    MixedSize { excluded: usize },
    /// The slice stack is not perpendicular to the slices; the affine is sheared to match.
    GantryTilt { degrees: f64 },
    /// Slices without Image Position/Orientation were left out.
    MissingPosition { excluded: usize },
    /// Slices whose Image Position or Orientation (Patient) is unusable (non-finite, far off,
    /// zero or parallel vectors) were left out.
    UnusableGeometry { excluded: usize },
    /// Slices lying more than [`limits::MAX_GAP_SLICES`] spacings away from the largest stack
    /// of the series were left out.
    OutlyingSlices { excluded: usize, gap_mm: f64 },
    /// The files had no Series Instance UID; they were grouped by what they share and given
    /// this derived UID.
    SeriesUidDerived { series_uid: String },
    /// No usable Pixel Spacing: 1 mm assumed.
    MissingPixelSpacing,
    /// One slice only: the slice spacing is Slice Thickness (or 1 mm).
    SingleSlice { spacing_mm: f64 },
    /// Multi-frame files in the series were left out (they are not assembled yet).
    MultiFrameExcluded { excluded: usize },
    /// Some slices went through lossy compression: HU values are approximate.
    LossyCompression { slices: usize, transfer_syntaxes: Vec<String> },
    /// A slice failed to decode; its place is filled with padding.
    SliceUnreadable { slice: usize, path: PathBuf, error: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gap { after_slice, gap_mm, spacing_mm, missing_slices } => write!(
                f,
                "gap of {gap_mm:.2} mm after slice {after_slice} (spacing {spacing_mm:.3} mm): \
                 {missing_slices} slice(s) missing, filled with padding"
            ),
            Self::DuplicatePosition { position_mm, dropped, same_instance, .. } => write!(
                f,
                "duplicate slice at {position_mm:.2} mm{}: {} left out",
                if *same_instance { " (same SOP instance)" } else { "" },
                dropped.display()
            ),
            Self::NonUniformSpacing { min_mm, max_mm, used_mm } => {
                write!(f, "non-uniform slice spacing {min_mm:.3}–{max_mm:.3} mm; volume uses {used_mm:.3} mm")
            }
            Self::MixedOrientation { excluded } => {
                write!(f, "mixed orientations: {excluded} slice(s) with another orientation left out")
            }
            Self::MixedSize { excluded } => write!(f, "mixed sizes: {excluded} slice(s) of another size left out"),
            Self::GantryTilt { degrees } => {
                write!(f, "gantry tilt {degrees:.2}°: affine sheared to keep every voxel in place")
            }
            Self::MissingPosition { excluded } => {
                write!(f, "{excluded} slice(s) without Image Position/Orientation left out")
            }
            Self::UnusableGeometry { excluded } => write!(
                f,
                "{excluded} slice(s) with an unusable Image Position/Orientation (non-finite, over 100 m away, or \
                 not two perpendicular unit vectors) left out"
            ),
            Self::OutlyingSlices { excluded, gap_mm } => {
                write!(f, "{excluded} slice(s) lying {gap_mm:.0} mm or more away from the rest of the series left out")
            }
            Self::SeriesUidDerived { series_uid } => write!(
                f,
                "no Series Instance UID: files grouped by study, frame of reference, orientation, size and \
                 series number as series {series_uid}"
            ),
            Self::MissingPixelSpacing => write!(f, "no usable Pixel Spacing: 1 mm assumed"),
            Self::SingleSlice { spacing_mm } => write!(f, "single slice: slice spacing {spacing_mm:.3} mm assumed"),
            Self::MultiFrameExcluded { excluded } => {
                write!(
                    f,
                    "{excluded} multi-frame file(s) left out: multi-frame images are not assembled into volumes yet"
                )
            }
            Self::LossyCompression { slices, transfer_syntaxes } => write!(
                f,
                "{slices} slice(s) lossy-compressed ({}): HU values are approximate",
                transfer_syntaxes.join(", ")
            ),
            Self::SliceUnreadable { slice, path, error } => {
                write!(f, "slice {slice} ({}) unreadable, filled with padding: {error}", path.display())
            }
        }
    }
}

/// The longest run of `sorted` (slices ordered along the normal, duplicates dropped) in which
/// no step exceeds [`limits::MAX_GAP_SLICES`] + 1 times the median step; slices outside it are
/// left out and reported. A slice metres away (a damaged position) would otherwise stretch the
/// grid over thousands of padding slices.
fn largest_stack(sorted: &[usize], along: &impl Fn(usize) -> f64, problems: &mut Vec<Problem>) -> Vec<usize> {
    if sorted.len() < 3 {
        return sorted.to_vec();
    }
    let steps: Vec<f64> = sorted.windows(2).map(|w| along(w[1]) - along(w[0])).collect();
    let widest = median(&steps) * (limits::MAX_GAP_SLICES as f64 + 1.5);
    let mut runs: Vec<(usize, usize)> = vec![(0, 1)];
    for (n, &step) in steps.iter().enumerate() {
        if step > widest {
            runs.push((n + 1, n + 2));
        } else if let Some(run) = runs.last_mut() {
            run.1 = n + 2;
        }
    }
    let Some(&(start, end)) = runs.iter().max_by_key(|(s, e)| (e - s, usize::MAX - s)) else {
        return sorted.to_vec();
    };
    if end - start < sorted.len() {
        let gap_mm = steps.iter().copied().filter(|&s| s > widest).fold(f64::INFINITY, f64::min);
        problems.push(Problem::OutlyingSlices { excluded: sorted.len() - (end - start), gap_mm });
    }
    sorted[start..end].to_vec()
}

/// Slices that can share a grid: (rows, columns) and orientation cosines × 1000.
type GroupKey = ((u16, u16), [i64; 6]);

/// How a series maps onto a regular grid: which file fills each slice.
#[derive(Debug, Clone)]
pub struct SlicePlan {
    pub geometry: VolumeGeometry,
    /// For each k, the index into the series' slice list, or None for a missing slice.
    pub slots: Vec<Option<usize>>,
    pub problems: Vec<Problem>,
    pub rows: u16,
    pub cols: u16,
}

/// Orders `slices` and derives the grid (one linear recipe: filter, group, sort, dedupe, fit). Fails only when no slice has a usable position.
#[allow(clippy::too_many_lines)]
pub fn plan(slices: &[SliceHeader]) -> Result<SlicePlan, String> {
    let mut problems = Vec::new();
    let single_frame: Vec<usize> = (0..slices.len()).filter(|&i| slices[i].number_of_frames == 1).collect();
    if single_frame.is_empty() {
        return Err("multi-frame (enhanced) images are not assembled into volumes yet".into());
    }
    if single_frame.len() < slices.len() {
        problems.push(Problem::MultiFrameExcluded { excluded: slices.len() - single_frame.len() });
    }
    let (with_geometry, unpositioned): (Vec<usize>, Vec<usize>) =
        single_frame.into_iter().partition(|&i| slices[i].position_mm.is_some() && slices[i].orientation.is_some());
    if with_geometry.is_empty() {
        return Err("no slice has Image Position (Patient) and Image Orientation (Patient)".into());
    }
    if !unpositioned.is_empty() {
        problems.push(Problem::MissingPosition { excluded: unpositioned.len() });
    }
    // Zero, parallel or non-unit orientation vectors would make a singular or scaled affine;
    // non-finite or far-off positions would stretch the grid over absurd distances.
    let usable = |i: usize| {
        slices[i].position_mm.is_some_and(|p| limits::position_is_usable(&p))
            && slices[i].orientation.is_some_and(|o| limits::orientation_is_usable(&o))
    };
    let (positioned, unusable): (Vec<usize>, Vec<usize>) = with_geometry.into_iter().partition(|&i| usable(i));
    if positioned.is_empty() {
        return Err(format!(
            "no slice has a usable Image Position (Patient) and Image Orientation (Patient): positions must be \
             finite and within {} m, orientations two perpendicular unit vectors",
            limits::MAX_POSITION_MM / 1000.0
        ));
    }
    if !unusable.is_empty() {
        problems.push(Problem::UnusableGeometry { excluded: unusable.len() });
    }

    // Keep the largest group sharing one size and orientation.
    let key = |i: usize| {
        let s = &slices[i];
        let o = s.orientation.unwrap_or_default().map(|v| (v * 1000.0).round() as i64);
        ((s.rows, s.cols), o)
    };
    let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    for &i in &positioned {
        groups.entry(key(i)).or_default().push(i);
    }
    let (best_key, mut members) =
        groups.iter().max_by_key(|(_, v)| v.len()).map(|(k, v)| (*k, v.clone())).unwrap_or_default();
    let other_size = positioned.iter().filter(|&&i| key(i).0 != best_key.0).count();
    let other_orientation = positioned.iter().filter(|&&i| key(i).0 == best_key.0 && key(i).1 != best_key.1).count();
    if other_size > 0 {
        problems.push(Problem::MixedSize { excluded: other_size });
    }
    if other_orientation > 0 {
        problems.push(Problem::MixedOrientation { excluded: other_orientation });
    }

    let first = &slices[members[0]];
    let row_dir = first.row_dir().unwrap_or(DVec3::X).normalize_or(DVec3::X);
    let col_dir = first.col_dir().unwrap_or(DVec3::Y).normalize_or(DVec3::Y);
    let normal = row_dir.cross(col_dir).normalize_or(DVec3::Z);
    let along = |i: usize| slices[i].position().unwrap_or_default().dot(normal);
    members.sort_by(|&a, &b| {
        along(a).total_cmp(&along(b)).then_with(|| slices[a].sop_instance_uid.cmp(&slices[b].sop_instance_uid))
    });

    let unique = drop_duplicates(slices, &members, &along, &mut problems);
    let unique = largest_stack(&unique, &along, &mut problems);
    let lossy: Vec<usize> = unique.iter().copied().filter(|&i| slices[i].is_lossy()).collect();
    if !lossy.is_empty() {
        let syntaxes: std::collections::BTreeSet<String> =
            lossy.iter().map(|&i| slices[i].transfer_syntax_uid.clone()).collect();
        problems
            .push(Problem::LossyCompression { slices: lossy.len(), transfer_syntaxes: syntaxes.into_iter().collect() });
    }

    let (pixel_row_mm, pixel_col_mm) = match first.pixel_spacing_mm {
        Some([r, c]) if limits::SPACING_MM.contains(&r) && limits::SPACING_MM.contains(&c) => (r, c),
        _ => {
            problems.push(Problem::MissingPixelSpacing);
            (1.0, 1.0)
        }
    };

    let origin = slices[unique[0]].position().unwrap_or_default();
    let (slots, slice_step) = if unique.len() == 1 {
        let spacing = first.slice_thickness_mm.filter(|t| limits::SPACING_MM.contains(t)).unwrap_or(1.0);
        problems.push(Problem::SingleSlice { spacing_mm: spacing });
        (vec![Some(unique[0])], normal * spacing)
    } else {
        let steps: Vec<f64> = unique.windows(2).map(|w| along(w[1]) - along(w[0])).collect();
        let nominal = median(&steps);
        let mut slots = vec![Some(unique[0])];
        let mut irregular = Vec::new();
        for (n, (&step, &next)) in steps.iter().zip(&unique[1..]).enumerate() {
            // At most MAX_GAP_SLICES + 1 by `largest_stack`.
            let multiple = (step / nominal).round().min(limits::MAX_GAP_SLICES as f64 + 1.0);
            if multiple >= 2.0 && (step - multiple * nominal).abs() < 0.2 * nominal {
                let missing = multiple as usize - 1;
                problems.push(Problem::Gap {
                    after_slice: slots.len() - 1,
                    gap_mm: step,
                    spacing_mm: nominal,
                    missing_slices: missing,
                });
                slots.extend(std::iter::repeat_n(None, missing));
            } else if (step - nominal).abs() > UNIFORM_TOLERANCE * nominal {
                irregular.push(step);
            }
            let _ = n;
            slots.push(Some(next));
        }
        if slots.len() > limits::MAX_SLICES {
            return Err(format!("{} slices, over the limit of {}", slots.len(), limits::MAX_SLICES));
        }
        let last = slices[*unique.last().unwrap_or(&unique[0])].position().unwrap_or_default();
        // The grid is fitted to the end slices, so every present slice lands on its position.
        let step = (last - origin) / (slots.len() - 1) as f64;
        if !irregular.is_empty() {
            let min = steps.iter().copied().fold(f64::INFINITY, f64::min);
            let max = steps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            problems.push(Problem::NonUniformSpacing { min_mm: min, max_mm: max, used_mm: step.length() });
        }
        (slots, step)
    };

    let cos_tilt = (slice_step.normalize_or(normal).dot(normal)).clamp(-1.0, 1.0);
    let tilt_deg = cos_tilt.acos().to_degrees();
    if tilt_deg > TILT_TOLERANCE_DEG {
        problems.push(Problem::GantryTilt { degrees: tilt_deg });
    }

    let patient_from_voxel = DMat4::from_cols(
        (row_dir * pixel_col_mm).extend(0.0),
        (col_dir * pixel_row_mm).extend(0.0),
        slice_step.extend(0.0),
        DVec4::new(origin.x, origin.y, origin.z, 1.0),
    );
    let geometry = VolumeGeometry {
        dims: [usize::from(first.cols), usize::from(first.rows), slots.len()],
        spacing_mm: [pixel_col_mm, pixel_row_mm, slice_step.length()],
        patient_from_voxel,
    };
    Ok(SlicePlan { geometry, slots, problems, rows: first.rows, cols: first.cols })
}

/// Of the files at one position (sorted by `along`), keeps a lossless one, then the lowest
/// SOP Instance UID, so the choice does not depend on file names; reports the others.
fn drop_duplicates(
    slices: &[SliceHeader],
    members: &[usize],
    along: &dyn Fn(usize) -> f64,
    problems: &mut Vec<Problem>,
) -> Vec<usize> {
    let mut unique: Vec<usize> = Vec::with_capacity(members.len());
    let mut run_start = 0;
    while run_start < members.len() {
        let mut run_end = run_start + 1;
        while run_end < members.len()
            && (along(members[run_end]) - along(members[run_start])).abs() < DUPLICATE_TOLERANCE_MM
        {
            run_end += 1;
        }
        let run = &members[run_start..run_end];
        let best = run
            .iter()
            .copied()
            .min_by(|&a, &b| {
                (slices[a].is_lossy(), &slices[a].sop_instance_uid)
                    .cmp(&(slices[b].is_lossy(), &slices[b].sop_instance_uid))
            })
            .unwrap_or(run[0]);
        for &other in run.iter().filter(|&&i| i != best) {
            problems.push(Problem::DuplicatePosition {
                position_mm: along(other),
                kept: slices[best].path.clone(),
                dropped: slices[other].path.clone(),
                same_instance: slices[other].sop_instance_uid == slices[best].sop_instance_uid,
            });
        }
        unique.push(best);
        run_start = run_end;
    }
    unique
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // the inputs are exact binary fractions
mod tests {
    use super::*;

    fn slice(n: usize, z: f64) -> SliceHeader {
        SliceHeader {
            path: format!("s{n}.dcm").into(),
            sop_instance_uid: format!("3.{n}"),
            instance_number: Some(n as i32),
            rows: 4,
            cols: 5,
            rescale_intercept: -1024.0,
            position_mm: Some([-10.0, -20.0, z]),
            orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            pixel_spacing_mm: Some([0.5, 0.8]),
            slice_thickness_mm: Some(2.0),
            ..SliceHeader::for_tests()
        }
    }

    fn stack(zs: &[f64]) -> Vec<SliceHeader> {
        zs.iter().enumerate().map(|(n, &z)| slice(n, z)).collect()
    }

    #[test]
    fn regular_stack_has_spacing_from_positions_and_lps_affine() {
        // Listed out of order, with instance numbers that disagree with position.
        let p = plan(&stack(&[4.0, 0.0, 2.0, 6.0])).expect("plan");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.geometry.dims, [5, 4, 4]);
        assert_eq!(p.geometry.spacing_mm, [0.8, 0.5, 2.0]);
        assert_eq!(p.slots, vec![Some(1), Some(2), Some(0), Some(3)]);
        let corner = p.geometry.patient_from_voxel_point(DVec3::new(4.0, 3.0, 3.0));
        assert_eq!(corner, DVec3::new(-10.0 + 4.0 * 0.8, -20.0 + 3.0 * 0.5, 6.0));
        assert_eq!(p.geometry.orientation_code(), "LPS");
    }

    #[test]
    fn non_uniform_spacing_is_reported() {
        let p = plan(&stack(&[0.0, 2.0, 4.0, 7.0, 9.0])).expect("plan");
        assert!(
            matches!(p.problems.as_slice(), [Problem::NonUniformSpacing { min_mm, max_mm, .. }] if *min_mm == 2.0 && *max_mm == 3.0),
            "{:?}",
            p.problems
        );
    }

    #[test]
    fn two_missing_slices_are_two_padding_slots() {
        let p = plan(&stack(&[0.0, 2.0, 8.0, 10.0])).expect("plan");
        assert_eq!(p.slots, vec![Some(0), Some(1), None, None, Some(2), Some(3)]);
        assert!(matches!(p.problems.as_slice(), [Problem::Gap { after_slice: 1, missing_slices: 2, .. }]));
        assert_eq!(p.geometry.spacing_mm[2], 2.0);
    }

    #[test]
    fn mixed_sizes_and_orientations_keep_the_largest_group() {
        let mut slices = stack(&[0.0, 2.0, 4.0, 6.0, 8.0]);
        slices[1].rows = 8;
        slices[3].orientation = Some([1.0, 0.0, 0.0, 0.0, 0.0, -1.0]);
        let p = plan(&slices).expect("plan");
        assert!(p.problems.contains(&Problem::MixedSize { excluded: 1 }), "{:?}", p.problems);
        assert!(p.problems.contains(&Problem::MixedOrientation { excluded: 1 }), "{:?}", p.problems);
        assert_eq!(p.slots.iter().flatten().count(), 3);
    }

    #[test]
    fn slices_without_position_are_left_out_or_refused() {
        let mut slices = stack(&[0.0, 2.0, 4.0]);
        slices[2].position_mm = None;
        let p = plan(&slices).expect("plan");
        assert!(p.problems.contains(&Problem::MissingPosition { excluded: 1 }));
        for s in &mut slices {
            s.position_mm = None;
        }
        assert!(plan(&slices).is_err());
    }

    #[test]
    fn single_slice_uses_thickness_and_lossy_is_flagged() {
        let mut slices = stack(&[5.0]);
        slices[0].transfer_syntax_uid = "1.2.840.10008.1.2.4.50".into();
        let p = plan(&slices).expect("plan");
        assert_eq!(p.geometry.spacing_mm[2], 2.0);
        assert!(p.problems.iter().any(|q| matches!(q, Problem::SingleSlice { .. })));
        assert!(p.problems.iter().any(|q| matches!(q, Problem::LossyCompression { slices: 1, .. })));
    }

    #[test]
    fn duplicates_prefer_the_lossless_copy() {
        let mut slices = stack(&[0.0, 2.0, 2.0]);
        slices[1].transfer_syntax_uid = "1.2.840.10008.1.2.4.91".into();
        let p = plan(&slices).expect("plan");
        assert_eq!(p.slots, vec![Some(0), Some(2)]);
        assert!(matches!(&p.problems[..], [Problem::DuplicatePosition { same_instance: false, .. }]));
    }
}
