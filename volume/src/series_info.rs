//! What the desk knows of a series from its headers alone (plane, slices, thickness, head-to-
//! foot coverage, number, date, description), and which series of a study is opened for
//! reading ([`best_for_reading`]).

use glam::DVec3;
use serde::{Deserialize, Serialize};

use crate::scan::Series;

/// The plane a series' slices lie in, from Image Orientation (Patient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    Axial,
    Coronal,
    Sagittal,
    /// Within no [`PLANE_TOLERANCE_DEG`] of a patient plane.
    Oblique,
    /// No orientation in the headers.
    Unknown,
}

/// How far a slice's normal may lie from a patient axis for its plane to be named after it
/// (the AI reformats coronal and sagittal series within the same angle).
pub const PLANE_TOLERANCE_DEG: f64 = 25.0;

/// Fewer images than this are not a volume to read a chest in (localizers and scouts have one
/// to three; the AI grades nothing under ten either).
pub const MIN_VOLUME_IMAGES: i64 = 10;

/// A Slice Thickness outside this range is taken for garbage (the spacing between slices is
/// used instead).
pub const MIN_THICKNESS_MM: f64 = 0.05;
pub const MAX_THICKNESS_MM: f64 = 100.0;

/// A series of at least this share of the study's longest head-to-foot coverage covers the
/// chest as fully as the study allows (a few slices trimmed off a reformat do not count).
pub const FULL_COVERAGE_SHARE: f64 = 0.9;

impl Plane {
    pub fn code(self) -> &'static str {
        match self {
            Plane::Axial => "axial",
            Plane::Coronal => "coronal",
            Plane::Sagittal => "sagittal",
            Plane::Oblique => "oblique",
            Plane::Unknown => "unknown",
        }
    }
    pub fn from_code(code: &str) -> Self {
        [Plane::Axial, Plane::Coronal, Plane::Sagittal, Plane::Oblique]
            .into_iter()
            .find(|p| p.code() == code)
            .unwrap_or(Plane::Unknown)
    }
    /// English name, capitalised (the desk translates it).
    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "Axial",
            Plane::Coronal => "Coronal",
            Plane::Sagittal => "Sagittal",
            Plane::Oblique => "Oblique",
            Plane::Unknown => "Unknown plane",
        }
    }
    /// The plane of slices with row and column directions `row`, `col` (LPS).
    pub fn of(row: DVec3, col: DVec3) -> Self {
        let n = row.cross(col);
        if !n.is_finite() || n.length() < 1e-6 {
            return Plane::Unknown;
        }
        let n = n.normalize().abs();
        let cos_tol = PLANE_TOLERANCE_DEG.to_radians().cos();
        if n.z >= cos_tol {
            Plane::Axial
        } else if n.y >= cos_tol {
            Plane::Coronal
        } else if n.x >= cos_tol {
            Plane::Sagittal
        } else {
            Plane::Oblique
        }
    }
    /// A plane the viewer and the AI read as a volume (axial, or reordered to axial).
    pub fn is_readable(self) -> bool {
        matches!(self, Plane::Axial | Plane::Coronal | Plane::Sagittal)
    }
}

/// A series as its headers describe it. `Debug` leaves out the description (scanner free
/// text).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesInfo {
    pub series_uid: String,
    pub modality: String,
    pub plane: Plane,
    /// Images (frames of a multi-frame file counted one by one).
    pub slices: i64,
    /// Slice Thickness, else the median distance between neighbouring slices.
    pub thickness_mm: Option<f64>,
    /// Head-to-foot extent of the slices' corners, LPS z.
    pub coverage_mm: Option<f64>,
    pub series_number: Option<i64>,
    /// Study Date, else Acquisition Date, as `YYYYMMDD`.
    pub date: Option<String>,
    /// Series Description: scanner free text, shown to the reader, never logged or synced.
    #[serde(skip)]
    pub description: String,
}

impl std::fmt::Debug for SeriesInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesInfo")
            .field("series_uid", &self.series_uid)
            .field("modality", &self.modality)
            .field("plane", &self.plane)
            .field("slices", &self.slices)
            .field("thickness_mm", &self.thickness_mm)
            .field("coverage_mm", &self.coverage_mm)
            .field("series_number", &self.series_number)
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

impl SeriesInfo {
    /// CT (by modality or SOP class).
    pub fn is_ct(&self) -> bool {
        self.modality == "CT"
    }
}

impl Series {
    /// What the headers say of this series.
    pub fn info(&self) -> SeriesInfo {
        let first = self.slices.first();
        let orientation = first.and_then(|h| h.orientation);
        let plane = orientation
            .map_or(Plane::Unknown, |o| Plane::of(DVec3::new(o[0], o[1], o[2]), DVec3::new(o[3], o[4], o[5])));
        let slices = self.slices.iter().map(|s| i64::from(s.number_of_frames.max(1))).sum();
        let thickness_mm = first
            .and_then(|h| h.slice_thickness_mm)
            .filter(|t| (MIN_THICKNESS_MM..=MAX_THICKNESS_MM).contains(t))
            .or_else(|| median_spacing_mm(self, orientation));
        SeriesInfo {
            series_uid: self.series_uid.clone(),
            modality: if self.is_ct() { "CT".to_owned() } else { self.modality.clone() },
            plane,
            slices,
            thickness_mm,
            coverage_mm: coverage_mm(self),
            series_number: first.and_then(|h| h.series_number),
            date: first.and_then(|h| h.study_date.clone().or_else(|| h.acquisition_date.clone())),
            description: self.description.clone(),
        }
    }
}

/// Median distance between neighbouring slice positions along the slices' normal.
fn median_spacing_mm(series: &Series, orientation: Option<[f64; 6]>) -> Option<f64> {
    let o = orientation?;
    let normal = DVec3::new(o[0], o[1], o[2]).cross(DVec3::new(o[3], o[4], o[5]));
    if normal.length() < 1e-6 {
        return None;
    }
    let normal = normal.normalize();
    let mut along: Vec<f64> =
        series.slices.iter().filter_map(|s| s.position_mm).map(|p| DVec3::from_array(p).dot(normal)).collect();
    along.sort_by(f64::total_cmp);
    let mut gaps: Vec<f64> = along.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 1e-3).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_by(f64::total_cmp);
    Some(gaps[gaps.len() / 2])
}

/// The head-to-foot (LPS z) extent of every slice's four corners.
fn coverage_mm(series: &Series) -> Option<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for h in &series.slices {
        let (Some(p), Some(o), Some(sp)) = (h.position_mm, h.orientation, h.pixel_spacing_mm) else { continue };
        let (row, col) = (DVec3::new(o[0], o[1], o[2]), DVec3::new(o[3], o[4], o[5]));
        // Along a row the column index grows (spacing between columns); down a column, rows.
        let across = row * sp[1] * f64::from(h.cols.saturating_sub(1));
        let down = col * sp[0] * f64::from(h.rows.saturating_sub(1));
        let p = DVec3::from_array(p);
        for corner in [p, p + across, p + down, p + across + down] {
            if corner.z.is_finite() {
                lo = lo.min(corner.z);
                hi = hi.max(corner.z);
            }
        }
    }
    (hi >= lo).then_some(hi - lo)
}

/// The series a radiologist reads a study in: CT, in a plane read as a volume (axial, or
/// coronal and sagittal reordered to axial), of at least [`MIN_VOLUME_IMAGES`] images (never a
/// localizer), with at least [`FULL_COVERAGE_SHARE`] of the longest coverage among those; of
/// them axial first (the reading plane of chest CT), then the thinnest, then the most images,
/// then the lowest series number. Without such a volume: the CT series with the most images,
/// else the series with the most images (a study imported before the store kept headers
/// lists no modality). `None` for no series.
pub fn best_for_reading(series: &[SeriesInfo]) -> Option<usize> {
    let candidates: Vec<usize> = (0..series.len())
        .filter(|&i| series[i].is_ct() && series[i].plane.is_readable() && series[i].slices >= MIN_VOLUME_IMAGES)
        .collect();
    if candidates.is_empty() {
        let most = |ct_only: bool| {
            (0..series.len())
                .filter(|&i| !ct_only || series[i].is_ct())
                .max_by_key(|&i| (series[i].slices, std::cmp::Reverse(i)))
        };
        return most(true).or_else(|| most(false));
    }
    let longest = candidates.iter().filter_map(|&i| series[i].coverage_mm).fold(0.0, f64::max);
    let full = |i: usize| series[i].coverage_mm.is_none_or(|c| c >= FULL_COVERAGE_SHARE * longest);
    candidates.into_iter().filter(|&i| full(i)).min_by(|&a, &b| {
        let (a, b) = (&series[a], &series[b]);
        (a.plane != Plane::Axial)
            .cmp(&(b.plane != Plane::Axial))
            .then(a.thickness_mm.unwrap_or(f64::MAX).total_cmp(&b.thickness_mm.unwrap_or(f64::MAX)))
            .then(b.slices.cmp(&a.slices))
            .then(a.series_number.unwrap_or(i64::MAX).cmp(&b.series_number.unwrap_or(i64::MAX)))
    })
}

/// The order of a series picker: by date, then series number, then description.
pub fn picker_order(series: &[SeriesInfo]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..series.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&series[a], &series[b]);
        a.date
            .cmp(&b.date)
            .then(a.series_number.unwrap_or(i64::MAX).cmp(&b.series_number.unwrap_or(i64::MAX)))
            .then(a.description.cmp(&b.description))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(plane: Plane, slices: i64, thickness: f64, coverage: f64, number: i64) -> SeriesInfo {
        SeriesInfo {
            series_uid: format!("1.2.{number}"),
            modality: "CT".into(),
            plane,
            slices,
            thickness_mm: Some(thickness),
            coverage_mm: Some(coverage),
            series_number: Some(number),
            date: Some("20200401".into()),
            description: String::new(),
        }
    }

    #[test]
    fn planes_follow_the_slice_normal() {
        let (x, y, z) = (DVec3::X, DVec3::Y, DVec3::Z);
        assert_eq!(Plane::of(x, y), Plane::Axial);
        assert_eq!(Plane::of(x, -z), Plane::Coronal);
        assert_eq!(Plane::of(y, -z), Plane::Sagittal);
        // 20° of gantry tilt is still axial; 45° is oblique.
        let t = 20f64.to_radians();
        assert_eq!(Plane::of(x, DVec3::new(0.0, t.cos(), t.sin())), Plane::Axial);
        let t = 45f64.to_radians();
        assert_eq!(Plane::of(x, DVec3::new(0.0, t.cos(), t.sin())), Plane::Oblique);
        assert_eq!(Plane::of(DVec3::ZERO, y), Plane::Unknown);
        for p in [Plane::Axial, Plane::Coronal, Plane::Sagittal, Plane::Oblique, Plane::Unknown] {
            assert_eq!(Plane::from_code(p.code()), p);
        }
    }

    #[test]
    fn an_axial_series_is_read_before_thinner_or_longer_reformats() {
        // The study of the issue: the sagittal reformat has the most images.
        let study = [
            info(Plane::Sagittal, 420, 1.0, 300.0, 4),
            info(Plane::Coronal, 380, 1.0, 300.0, 3),
            info(Plane::Axial, 240, 1.25, 300.0, 2),
        ];
        assert_eq!(best_for_reading(&study), Some(2));
    }

    #[test]
    fn the_thinnest_axial_series_with_full_coverage_is_read() {
        let study = [
            info(Plane::Axial, 60, 5.0, 300.0, 2),
            // Thinnest, but a 60 mm high-resolution target around one nodule.
            info(Plane::Axial, 120, 0.5, 60.0, 5),
            info(Plane::Axial, 300, 1.0, 299.0, 3),
            info(Plane::Axial, 300, 1.0, 299.0, 4),
        ];
        assert_eq!(best_for_reading(&study), Some(2), "1 mm, full coverage, lower series number");
    }

    #[test]
    fn a_reformat_is_read_when_there_is_no_axial_volume_and_a_localizer_never() {
        // An AP + lateral topogram: two coronal-looking images 500 mm tall. It must neither be
        // read nor make the 300 mm chest volumes look short.
        let scout = info(Plane::Coronal, 2, 1.0, 500.0, 1);
        let mut pet = info(Plane::Axial, 300, 3.0, 900.0, 9);
        pet.modality = "PT".into();
        let study = [scout, pet, info(Plane::Oblique, 200, 1.0, 300.0, 6), info(Plane::Coronal, 300, 1.0, 290.0, 3)];
        assert_eq!(best_for_reading(&study), Some(3));
        let with_axial = [study[0].clone(), info(Plane::Axial, 240, 1.25, 300.0, 2)];
        assert_eq!(best_for_reading(&with_axial), Some(1), "the axial chest, not the taller scout");
        assert_eq!(best_for_reading(&study[..2]), Some(0), "no volume at all: the CT series with most images");
        // Rows imported before the store kept headers (no modality): the largest series.
        let mut old = [info(Plane::Unknown, 3, 1.0, 1.0, 1), info(Plane::Unknown, 240, 1.0, 1.0, 2)];
        for s in &mut old {
            s.modality.clear();
        }
        assert_eq!(best_for_reading(&old), Some(1));
        assert_eq!(best_for_reading(&[]), None);
    }

    #[test]
    fn the_picker_sorts_by_date_then_series_number() {
        let mut a = info(Plane::Axial, 10, 1.0, 10.0, 7);
        a.date = Some("20200402".into());
        let b = info(Plane::Axial, 10, 1.0, 10.0, 9);
        let c = info(Plane::Axial, 10, 1.0, 10.0, 2);
        assert_eq!(picker_order(&[a, b, c]), [2, 1, 0]);
    }
}
