//! A SYNTHETIC chest CT phantom, written as a DICOM series, for tests and benchmarks that need
//! size or known truth. Nothing here is patient data, and its label map is a synthetic
//! reference, not ground truth of any real scan.
//!
//! Anatomy in patient LPS millimetres, centred on the origin: an elliptic body (soft tissue
//! 40 HU, a fat rim −100 HU), a spine (700 HU), two lungs (−850 HU) with branching vessels
//! (40 HU), peripheral rounded ground-glass opacities (−650 HU) in both lungs, and a dependent
//! consolidation (+25 HU). Air is −1000 HU; outside the reconstruction circle of an axial series
//! the padding value is −3024 HU. Voxel noise is deterministic (±12 HU).

use std::path::{Path, PathBuf};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use glam::{DMat4, DVec3, DVec4};
use rayon::prelude::*;

use crate::error::VolumeError;
use crate::geometry::VolumeGeometry;

/// Plane of the written slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SliceOrientation {
    #[default]
    Axial,
    Coronal,
    Sagittal,
    /// Axial tilted 30° about the patient's left–right axis.
    Oblique,
}

impl std::str::FromStr for SliceOrientation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "axial" => Ok(Self::Axial),
            "coronal" => Ok(Self::Coronal),
            "sagittal" => Ok(Self::Sagittal),
            "oblique" => Ok(Self::Oblique),
            _ => Err(format!("unknown orientation {s:?}: axial, coronal, sagittal or oblique")),
        }
    }
}

/// Classes of the synthetic label map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum PhantomClass {
    Outside = 0,
    Body = 1,
    Lung = 2,
    GroundGlass = 3,
    Consolidation = 4,
    Vessel = 5,
    Bone = 6,
}

impl PhantomClass {
    /// Mean HU of the class (before noise).
    pub fn hu(self) -> i16 {
        match self {
            Self::Outside => -1000,
            Self::Body | Self::Vessel => 40,
            Self::Lung => -850,
            Self::GroundGlass => -650,
            Self::Consolidation => 25,
            Self::Bone => 700,
        }
    }
}

/// SYNTHETIC lesion layouts, one or more per RSNA category (`Anatomy::with_pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LesionPattern {
    /// Typical: peripheral, rounded ground glass in both lungs, a little consolidation (the
    /// default layout of `Anatomy::new`).
    PeripheralBilateralGgo,
    /// Indeterminate: ground glass round both hila, not peripheral.
    PerihilarGgo,
    /// Indeterminate: peripheral ground glass in one lung only.
    UnilateralGgo,
    /// Atypical: one large consolidation without ground glass.
    LobarConsolidation,
    /// Atypical: discrete small solid nodules (10 mm) in both lungs.
    SmallNodules,
    /// Atypical: one solid mass (44 mm).
    SolidMass,
    /// Negative: no opacity.
    None,
}

/// What to write.
#[derive(Debug, Clone)]
pub struct PhantomSpec {
    /// Columns, rows, slices.
    pub dims: [usize; 3],
    /// Field of view along each index axis (mm); spacing = fov / dims.
    pub fov_mm: [f64; 3],
    pub orientation: SliceOrientation,
    /// Shear the stack along the column direction by this angle, as a tilted gantry does.
    pub gantry_tilt_deg: f64,
    pub seed: u64,
    /// Write made-up patient name, ID, birth date and free-text fields (for privacy tests).
    /// Off by default: the phantom is then labelled SYNTHETIC^PHANTOM.
    pub with_identifying_fields: bool,
    /// An extra marker sphere (LPS centre mm, radius mm, HU) for geometry tests.
    pub marker: Option<(DVec3, f64, i16)>,
}

impl Default for PhantomSpec {
    fn default() -> Self {
        Self {
            dims: [256, 256, 120],
            fov_mm: [350.0, 350.0, 350.0],
            orientation: SliceOrientation::Axial,
            gantry_tilt_deg: 0.0,
            seed: 1,
            with_identifying_fields: false,
            marker: None,
        }
    }
}

/// Made-up identifying values written when `with_identifying_fields` is set. Tests assert that
/// none of them reaches any output.
pub const FAKE_PATIENT_NAME: &str = "YAMADA^TARO";
pub const FAKE_PATIENT_ID: &str = "PID-8675309";
pub const FAKE_BIRTH_DATE: &str = "19580417";
pub const FAKE_FREE_TEXT: &str = "Referred by Dr Suzuki, Ward 7 bed 12";

/// What was written.
#[derive(Debug, Clone)]
pub struct PhantomSeries {
    pub series_uid: String,
    pub files: Vec<PathBuf>,
    pub geometry: VolumeGeometry,
    pub anatomy: Anatomy,
}

#[derive(Debug, Clone, Copy)]
struct Sphere {
    centre: DVec3,
    radius: f64,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    a: DVec3,
    b: DVec3,
    radius: f64,
}

/// The phantom's analytic anatomy; `class_at` is the synthetic reference label of any point.
#[derive(Debug, Clone)]
pub struct Anatomy {
    ggo: Vec<Sphere>,
    consolidation: Vec<Sphere>,
    vessels: Vec<Segment>,
    marker: Option<(DVec3, f64, i16)>,
    /// Whether the body holds lungs; without them it is a SYNTHETIC stand-in for a scan of
    /// another region (soft tissue and bone only).
    lungs: bool,
}

const LUNG_CENTRES: [DVec3; 2] = [DVec3::new(-80.0, 5.0, 0.0), DVec3::new(80.0, 5.0, 0.0)];
const LUNG_SEMI_AXES: DVec3 = DVec3::new(60.0, 85.0, 130.0);
const BODY_SEMI_AXES: [f64; 2] = [160.0, 120.0];

/// splitmix64: a tiny deterministic generator, so the phantom is identical everywhere.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    fn unit(&mut self) -> DVec3 {
        loop {
            let v = DVec3::new(self.uniform(-1.0, 1.0), self.uniform(-1.0, 1.0), self.uniform(-1.0, 1.0));
            let l = v.length();
            if l > 0.1 && l <= 1.0 {
                return v / l;
            }
        }
    }
}

fn lung_radius(p: DVec3, side: usize) -> f64 {
    ((p - LUNG_CENTRES[side]) / LUNG_SEMI_AXES).length()
}

/// A point at normalised radius `r` of a lung, towards `dir` (lateral half for side).
fn lung_point(side: usize, dir: DVec3, r: f64) -> DVec3 {
    LUNG_CENTRES[side] + dir * LUNG_SEMI_AXES * r
}

impl Anatomy {
    pub fn new(seed: u64, marker: Option<(DVec3, f64, i16)>) -> Self {
        let mut rng = Rng(seed ^ 0x5EED_1E55);
        let mut ggo = Vec::new();
        let mut consolidation = Vec::new();
        let mut vessels = Vec::new();
        for (side, centre) in LUNG_CENTRES.iter().enumerate() {
            let lateral = if side == 0 { -1.0 } else { 1.0 };
            // Peripheral, rounded GGO: 3 per lung in the outer third.
            for _ in 0..3 {
                let mut dir = rng.unit();
                dir.x = dir.x.abs() * lateral;
                dir.z *= 0.7;
                ggo.push(Sphere {
                    centre: lung_point(side, dir.normalize(), rng.uniform(0.72, 0.85)),
                    radius: rng.uniform(9.0, 17.0),
                });
            }
            // Vessel tree from the hilum.
            let hilum = *centre + DVec3::new(-lateral * 45.0, 0.0, 0.0);
            let mut tips = vec![(hilum, DVec3::new(lateral, 0.0, 0.0), 5.0, 40.0)];
            for generation in 0..5 {
                let mut next = Vec::new();
                let children = if generation == 0 { 2 } else { 3 };
                for (start, dir, radius, length) in tips {
                    for _ in 0..children {
                        let d = (dir + rng.unit() * 0.9).normalize();
                        let end = start + d * length;
                        vessels.push(Segment { a: start, b: end, radius });
                        next.push((end, d, (radius * 0.7f64).max(0.8), length * 0.72));
                    }
                }
                tips = next;
            }
        }
        // One dependent (posterior) consolidation in the right lung (patient right = −x).
        let dir = DVec3::new(-0.5, 0.8, rng.uniform(-0.3, 0.1)).normalize();
        consolidation.push(Sphere { centre: lung_point(0, dir, 0.7), radius: 13.0 });
        Self { ggo, consolidation, vessels, marker, lungs: true }
    }

    /// The same body with soft tissue where the lungs were: a SYNTHETIC stand-in for a CT of
    /// another region (no air inside the body), for "not a chest CT".
    #[must_use]
    pub fn without_lungs(&self) -> Self {
        Self { lungs: false, ..self.without_lesions() }
    }

    /// The same anatomy with no ground glass and no consolidation: a "negative" phantom.
    #[must_use]
    pub fn without_lesions(&self) -> Self {
        Self { ggo: Vec::new(), consolidation: Vec::new(), ..self.clone() }
    }

    /// Only the lesions of the left lung (patient left, +x) kept: a unilateral phantom.
    #[must_use]
    pub fn left_lesions_only(&self) -> Self {
        let left = |s: &&Sphere| s.centre.x > 0.0;
        Self {
            ggo: self.ggo.iter().filter(left).copied().collect(),
            consolidation: self.consolidation.iter().filter(left).copied().collect(),
            ..self.clone()
        }
    }

    /// The same lungs and vessels with a lesion layout built for one RSNA category (SYNTHETIC
    /// shapes; the grade they should get is what they were built as, not anyone's reading).
    #[must_use]
    pub fn with_pattern(&self, pattern: LesionPattern, seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0x9A77_E2B5);
        let lateral = |side: usize| if side == 0 { -1.0 } else { 1.0 };
        let mut ggo = Vec::new();
        let mut consolidation = Vec::new();
        match pattern {
            LesionPattern::PeripheralBilateralGgo => return Self { marker: self.marker, ..Self::new(seed, None) },
            LesionPattern::PerihilarGgo => {
                // Round both hila: near each lung's medial centre, in the middle third.
                for side in 0..2 {
                    for _ in 0..3 {
                        let dir =
                            DVec3::new(-lateral(side), rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4)).normalize();
                        ggo.push(Sphere {
                            centre: lung_point(side, dir, rng.uniform(0.1, 0.3)),
                            radius: rng.uniform(12.0, 16.0),
                        });
                    }
                }
            }
            LesionPattern::UnilateralGgo => {
                return self.with_pattern(LesionPattern::PeripheralBilateralGgo, seed).left_lesions_only();
            }
            LesionPattern::LobarConsolidation => {
                // One large consolidation in the right lower lung, enclosed by aerated lung.
                let dir = DVec3::new(-0.3, 0.6, -0.75).normalize();
                consolidation.push(Sphere { centre: lung_point(0, dir, 0.4), radius: 26.0 });
            }
            LesionPattern::SmallNodules => {
                for i in 0..10 {
                    let side = i % 2;
                    let dir = rng.unit();
                    consolidation.push(Sphere { centre: lung_point(side, dir, rng.uniform(0.3, 0.75)), radius: 5.0 });
                }
            }
            LesionPattern::SolidMass => {
                let dir = DVec3::new(0.4, -0.3, 0.6).normalize();
                consolidation.push(Sphere { centre: lung_point(1, dir, 0.35), radius: 22.0 });
            }
            LesionPattern::None => {}
        }
        Self { ggo, consolidation, ..self.clone() }
    }

    /// The part of the anatomy that can touch the box `lo`..`hi` (LPS mm): rendering a slice
    /// then tests a handful of vessels per voxel instead of all of them.
    #[must_use]
    pub fn within(&self, lo: DVec3, hi: DVec3) -> Self {
        let sphere_hits = |s: &&Sphere| (s.centre - s.radius).cmplt(hi).all() && (s.centre + s.radius).cmpgt(lo).all();
        let segment_hits =
            |v: &&Segment| (v.a.min(v.b) - v.radius).cmplt(hi).all() && (v.a.max(v.b) + v.radius).cmpgt(lo).all();
        Self {
            ggo: self.ggo.iter().filter(sphere_hits).copied().collect(),
            consolidation: self.consolidation.iter().filter(sphere_hits).copied().collect(),
            vessels: self.vessels.iter().filter(segment_hits).copied().collect(),
            marker: self.marker,
            lungs: self.lungs,
        }
    }

    /// The synthetic reference class at patient point `p` (LPS mm).
    pub fn class_at(&self, p: DVec3) -> PhantomClass {
        let body = (p.x / BODY_SEMI_AXES[0]).powi(2) + (p.y / BODY_SEMI_AXES[1]).powi(2);
        if body > 1.0 {
            return PhantomClass::Outside;
        }
        if (p.x).powi(2) + (p.y - 95.0).powi(2) < 18.0f64.powi(2) {
            return PhantomClass::Bone;
        }
        let side = usize::from(p.x > 0.0);
        if !self.lungs || lung_radius(p, side) > 1.0 {
            return PhantomClass::Body;
        }
        let inside = |s: &Sphere| (p - s.centre).length_squared() < s.radius * s.radius;
        if self.vessels.iter().any(|v| distance_to_segment(p, v.a, v.b) < v.radius) {
            return PhantomClass::Vessel;
        }
        if self.consolidation.iter().any(inside) {
            return PhantomClass::Consolidation;
        }
        if self.ggo.iter().any(inside) {
            return PhantomClass::GroundGlass;
        }
        PhantomClass::Lung
    }

    /// HU at `p`, with deterministic noise from the voxel index.
    fn hu_at(&self, p: DVec3, noise_key: u64) -> i16 {
        if let Some((centre, radius, hu)) = self.marker
            && (p - centre).length() <= radius
        {
            return hu;
        }
        let class = self.class_at(p);
        let fat = class == PhantomClass::Body && {
            let r = (p.x / BODY_SEMI_AXES[0]).powi(2) + (p.y / BODY_SEMI_AXES[1]).powi(2);
            r > 0.87
        };
        let base = if fat { -100 } else { class.hu() };
        base + noise(noise_key)
    }
}

fn distance_to_segment(p: DVec3, a: DVec3, b: DVec3) -> f64 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_squared()).clamp(0.0, 1.0);
    (p - (a + ab * t)).length()
}

/// Deterministic noise in −12..=12 HU, roughly triangular.
fn noise(key: u64) -> i16 {
    let mut rng = Rng(key);
    let a = (rng.next_u64() % 13) as i16;
    let b = (rng.next_u64() % 13) as i16;
    a + b - 12
}

/// Direction cosines (row, column) of each orientation.
fn directions(orientation: SliceOrientation) -> (DVec3, DVec3) {
    match orientation {
        SliceOrientation::Axial => (DVec3::X, DVec3::Y),
        SliceOrientation::Coronal => (DVec3::X, DVec3::NEG_Z),
        SliceOrientation::Sagittal => (DVec3::Y, DVec3::NEG_Z),
        SliceOrientation::Oblique => {
            let a = 30f64.to_radians();
            (DVec3::X, DVec3::new(0.0, a.cos(), a.sin()))
        }
    }
}

/// The geometry a spec produces.
pub fn phantom_geometry(spec: &PhantomSpec) -> VolumeGeometry {
    let (row, col) = directions(spec.orientation);
    let normal = row.cross(col);
    let spacing = [0, 1, 2].map(|a| spec.fov_mm[a] / spec.dims[a] as f64);
    let tilt = spec.gantry_tilt_deg.to_radians().tan();
    let slice_step = normal * spacing[2] + col * spacing[2] * tilt;
    let half = [0, 1, 2].map(|a| (spec.dims[a] as f64 - 1.0) / 2.0);
    let origin = -(row * spacing[0] * half[0] + col * spacing[1] * half[1] + slice_step * half[2]);
    VolumeGeometry {
        dims: spec.dims,
        spacing_mm: [spacing[0], spacing[1], slice_step.length()],
        patient_from_voxel: DMat4::from_cols(
            (row * spacing[0]).extend(0.0),
            (col * spacing[1]).extend(0.0),
            slice_step.extend(0.0),
            DVec4::new(origin.x, origin.y, origin.z, 1.0),
        ),
    }
}

/// The phantom as an in-memory HU volume (x fastest), without writing DICOM: for tests and
/// benchmarks of code that takes a volume.
pub fn phantom_volume_hu(spec: &PhantomSpec, anatomy: &Anatomy) -> (VolumeGeometry, Vec<i16>) {
    let geometry = phantom_geometry(spec);
    let slices: Vec<Vec<i16>> =
        (0..spec.dims[2]).into_par_iter().map(|k| render_slice_hu(spec, anatomy, &geometry, k)).collect();
    (geometry, slices.concat())
}

/// The phantom's synthetic label volume on `geometry`'s grid, in the classes of
/// [`crate::labels`]: lung (vessels inside it count as lung), ground glass, consolidation.
/// These are the shapes the phantom was drawn from, not anyone's reading of an image.
pub fn label_volume(anatomy: &Anatomy, geometry: &VolumeGeometry) -> Vec<u8> {
    use crate::labels;
    let [nx, ny, nz] = geometry.dims;
    let mut out = vec![labels::BACKGROUND; nx * ny * nz];
    out.par_chunks_mut(nx * ny).enumerate().for_each(|(k, slice)| {
        for j in 0..ny {
            for i in 0..nx {
                let p = geometry.patient_from_voxel_point(DVec3::new(i as f64, j as f64, k as f64));
                slice[j * nx + i] = match anatomy.class_at(p) {
                    PhantomClass::Lung | PhantomClass::Vessel => labels::LUNG,
                    PhantomClass::GroundGlass => labels::GROUND_GLASS,
                    PhantomClass::Consolidation => labels::CONSOLIDATION,
                    PhantomClass::Outside | PhantomClass::Body | PhantomClass::Bone => labels::BACKGROUND,
                };
            }
        }
    });
    out
}

/// Stored values: HU + 1024 as signed 16-bit, rescale intercept −1024 (as scanners write).
const RESCALE_INTERCEPT: i16 = -1024;
const PADDING_HU: i16 = -3024;

/// Renders slice `k` of the phantom in HU.
pub fn render_slice_hu(spec: &PhantomSpec, anatomy: &Anatomy, geometry: &VolumeGeometry, k: usize) -> Vec<i16> {
    let [nx, ny, _] = spec.dims;
    let circle = spec.orientation == SliceOrientation::Axial;
    let (cx, cy) = ((nx as f64 - 1.0) / 2.0, (ny as f64 - 1.0) / 2.0);
    let r2 = (nx.min(ny) as f64 / 2.0).powi(2);
    let corners = [(0.0, 0.0), (nx as f64 - 1.0, 0.0), (0.0, ny as f64 - 1.0), (nx as f64 - 1.0, ny as f64 - 1.0)]
        .map(|(i, j)| geometry.patient_from_voxel_point(DVec3::new(i, j, k as f64)));
    let lo = corners.iter().fold(DVec3::splat(f64::INFINITY), |a, c| a.min(*c)) - 1.0;
    let hi = corners.iter().fold(DVec3::splat(f64::NEG_INFINITY), |a, c| a.max(*c)) + 1.0;
    let anatomy = anatomy.within(lo, hi);
    let mut out = vec![0i16; nx * ny];
    for j in 0..ny {
        for i in 0..nx {
            let v = &mut out[j * nx + i];
            if circle && (i as f64 - cx).powi(2) + (j as f64 - cy).powi(2) > r2 {
                *v = PADDING_HU;
                continue;
            }
            let p = geometry.patient_from_voxel_point(DVec3::new(i as f64, j as f64, k as f64));
            let key = spec.seed.wrapping_mul(0x1000_0000_01B3) ^ ((k * ny + j) * nx + i) as u64;
            *v = anatomy.hu_at(p, key);
        }
    }
    out
}

fn uid(seed: u64, parts: &[u64]) -> String {
    let mut rng = Rng(seed);
    let mut value: u128 = u128::from(rng.next_u64());
    for p in parts {
        rng.0 ^= *p;
        value = (value << 32) ^ u128::from(rng.next_u64());
    }
    // 2.25.<decimal UUID-sized integer>: a UID root that needs no registration.
    format!("2.25.{}", value & ((1u128 << 126) - 1))
}

/// Writes the phantom as one DICOM file per slice in `dir` (created), slices in parallel.
pub fn write_phantom_series(spec: &PhantomSpec, dir: &Path) -> Result<PhantomSeries, VolumeError> {
    write_anatomy_series(spec, &Anatomy::new(spec.seed, spec.marker), dir)
}

/// [`write_phantom_series`] of another anatomy (a lesion pattern, or no lungs).
pub fn write_anatomy_series(spec: &PhantomSpec, anatomy: &Anatomy, dir: &Path) -> Result<PhantomSeries, VolumeError> {
    let write_error = |path: &Path, detail: String| VolumeError::WriteDicom { path: path.to_owned(), detail };
    std::fs::create_dir_all(dir).map_err(|source| VolumeError::Write { path: dir.to_owned(), source })?;
    let anatomy = anatomy.clone();
    let geometry = phantom_geometry(spec);
    let [nx, ny, nz] = spec.dims;
    let orientation_code = spec.orientation as u64;
    let study_uid = uid(spec.seed, &[1]);
    let series_uid = uid(spec.seed, &[2, orientation_code, nx as u64, ny as u64, nz as u64]);
    let (row, col) = directions(spec.orientation);
    let files: Vec<PathBuf> = (0..nz).map(|k| dir.join(format!("slice_{k:04}.dcm"))).collect();
    files.par_iter().enumerate().try_for_each(|(k, path)| {
        let hu = render_slice_hu(spec, &anatomy, &geometry, k);
        let stored: Vec<u16> = hu.iter().map(|&v| (v - RESCALE_INTERCEPT) as u16).collect();
        let position = geometry.patient_from_voxel_point(DVec3::new(0.0, 0.0, k as f64));
        let sop_uid = uid(spec.seed, &[3, orientation_code, nz as u64, k as u64]);
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag, vr, value: PrimitiveValue| obj.put(DataElement::new(tag, vr, value));
        put(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2".into());
        put(tags::SOP_INSTANCE_UID, VR::UI, sop_uid.clone().into());
        put(tags::STUDY_INSTANCE_UID, VR::UI, study_uid.clone().into());
        put(tags::SERIES_INSTANCE_UID, VR::UI, series_uid.clone().into());
        put(tags::MODALITY, VR::CS, "CT".into());
        put(tags::SERIES_DESCRIPTION, VR::LO, "SYNTHETIC chest phantom".into());
        put(tags::STUDY_DATE, VR::DA, "20260401".into());
        put(tags::PATIENT_AGE, VR::AS, "061Y".into());
        put(tags::PATIENT_SEX, VR::CS, "M".into());
        if spec.with_identifying_fields {
            put(tags::PATIENT_NAME, VR::PN, FAKE_PATIENT_NAME.into());
            put(tags::PATIENT_ID, VR::LO, FAKE_PATIENT_ID.into());
            put(tags::PATIENT_BIRTH_DATE, VR::DA, FAKE_BIRTH_DATE.into());
            put(tags::IMAGE_COMMENTS, VR::LT, FAKE_FREE_TEXT.into());
            put(tags::INSTITUTION_NAME, VR::LO, "Nagoya Example Hospital".into());
        } else {
            put(tags::PATIENT_NAME, VR::PN, "SYNTHETIC^PHANTOM".into());
            put(tags::PATIENT_ID, VR::LO, "SYNTHETIC".into());
        }
        // Instance numbers run against position, as many scanners number head-first.
        put(tags::INSTANCE_NUMBER, VR::IS, format!("{}", nz - k).into());
        put(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&position.to_array()));
        put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&[row.x, row.y, row.z, col.x, col.y, col.z]));
        put(tags::PIXEL_SPACING, VR::DS, ds(&[geometry.spacing_mm[1], geometry.spacing_mm[0]]));
        put(tags::SLICE_THICKNESS, VR::DS, ds(&[spec.fov_mm[2] / nz as f64]));
        put(tags::GANTRY_DETECTOR_TILT, VR::DS, ds(&[spec.gantry_tilt_deg]));
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into());
        put(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(1u16));
        put(tags::PIXEL_PADDING_VALUE, VR::SS, PrimitiveValue::from(PADDING_HU - RESCALE_INTERCEPT));
        put(tags::RESCALE_INTERCEPT, VR::DS, ds(&[f64::from(RESCALE_INTERCEPT)]));
        put(tags::RESCALE_SLOPE, VR::DS, "1".into());
        put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(stored.into()));
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax("1.2.840.10008.1.2.1")
                    .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
                    .media_storage_sop_instance_uid(sop_uid),
            )
            .map_err(|e| write_error(path, e.to_string()))?;
        file.write_to_file(path).map_err(|e| write_error(path, e.to_string()))
    })?;
    Ok(PhantomSeries { series_uid, files, geometry, anatomy })
}

/// A decimal-string (DS) value; DICOM allows 16 characters per number.
fn ds(values: &[f64]) -> PrimitiveValue {
    let strs: Vec<String> = values
        .iter()
        .map(|v| {
            let mut s = format!("{v:.6}");
            while s.len() > 16 {
                s.pop();
            }
            if s == "-0.000000" { "0".to_owned() } else { s }
        })
        .collect();
    PrimitiveValue::Strs(strs.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anatomy_has_lesions_in_both_lungs_in_the_outer_third() {
        let a = Anatomy::new(7, None);
        assert_eq!(a.ggo.len(), 6);
        for s in &a.ggo {
            let side = usize::from(s.centre.x > 0.0);
            assert!(lung_radius(s.centre, side) > 0.66, "GGO centre not peripheral");
        }
        assert!(a.ggo.iter().any(|s| s.centre.x < 0.0) && a.ggo.iter().any(|s| s.centre.x > 0.0));
    }

    #[test]
    fn classes_at_known_points() {
        let a = Anatomy::new(1, None);
        assert_eq!(a.class_at(DVec3::new(0.0, 0.0, 0.0)), PhantomClass::Body);
        assert_eq!(a.class_at(DVec3::new(0.0, 95.0, 0.0)), PhantomClass::Bone);
        assert_eq!(a.class_at(DVec3::new(300.0, 0.0, 0.0)), PhantomClass::Outside);
        assert_eq!(a.class_at(a.consolidation[0].centre), PhantomClass::Consolidation);
    }

    #[test]
    fn noise_is_bounded_and_varies() {
        let values: Vec<i16> = (0..1000).map(noise).collect();
        assert!(values.iter().all(|v| (-12..=12).contains(v)));
        assert!(values.iter().any(|&v| v != values[0]));
    }

    #[test]
    fn ds_values_fit_sixteen_characters() {
        let PrimitiveValue::Strs(s) = ds(&[-123.456_789_012_345, 0.7]) else { panic!() };
        assert!(s.iter().all(|v| v.len() <= 16));
        assert_eq!(s[1], "0.700000");
    }
}
