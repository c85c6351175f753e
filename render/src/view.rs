//! Where each screen point of a slice view lies in the patient and in the volume.
//!
//! Views are planes of the patient (LPS), not of the voxel grid, so a coronal or oblique
//! acquisition still shows true axial, coronal and sagittal planes. Screen axes follow the
//! radiological convention: patient right on screen left, anterior up (axial), superior up
//! (coronal, sagittal), anterior on screen left (sagittal). Distances are millimetres, so the
//! aspect is physically correct whatever the voxel spacing.

use glam::{DMat4, DVec2, DVec3, DVec4};
use lungdesk_volume::VolumeGeometry;

/// The three standard planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plane {
    Axial,
    Coronal,
    Sagittal,
}

impl Plane {
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

    /// LPS directions of screen right and screen down.
    pub fn screen_axes(self) -> (DVec3, DVec3) {
        match self {
            // Right on screen = patient left (+x); down = posterior (+y).
            Plane::Axial => (DVec3::X, DVec3::Y),
            // Right = patient left; down = inferior (−z).
            Plane::Coronal => (DVec3::X, DVec3::NEG_Z),
            // Right = posterior (+y); down = inferior.
            Plane::Sagittal => (DVec3::Y, DVec3::NEG_Z),
        }
    }

    /// The through-plane direction a positive slice step moves along (superior, posterior,
    /// left: increasing LPS z, y, x).
    pub fn normal(self) -> DVec3 {
        match self {
            Plane::Axial => DVec3::Z,
            Plane::Coronal => DVec3::Y,
            Plane::Sagittal => DVec3::X,
        }
    }

    /// Orientation letters at the left, right, top and bottom edges.
    pub fn edge_letters(self) -> [char; 4] {
        match self {
            Plane::Axial => ['R', 'L', 'A', 'P'],
            Plane::Coronal => ['R', 'L', 'S', 'I'],
            Plane::Sagittal => ['A', 'P', 'S', 'I'],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "axial",
            Plane::Coronal => "coronal",
            Plane::Sagittal => "sagittal",
        }
    }
}

/// A window on the HU scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center_hu: f32,
    pub width_hu: f32,
}

impl Window {
    pub const LUNG: Window = Window { center_hu: -600.0, width_hu: 1500.0 };
    pub const MEDIASTINUM: Window = Window { center_hu: 40.0, width_hu: 400.0 };
    pub const BONE: Window = Window { center_hu: 300.0, width_hu: 1500.0 };

    /// Grey level 0..=1 of `hu`.
    pub fn grey(self, hu: f32) -> f32 {
        ((hu - (self.center_hu - self.width_hu / 2.0)) / self.width_hu.max(1.0)).clamp(0.0, 1.0)
    }
}

/// How the slab through-plane samples combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlabMode {
    /// A single plane.
    #[default]
    Thin,
    /// Maximum intensity over the slab (vessels, nodules).
    Mip,
    /// Minimum intensity over the slab (airways, emphysema).
    MinIp,
}

/// Transient state of one view: never saved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewState {
    pub plane: Plane,
    /// 1 fits the volume in the viewport.
    pub zoom: f64,
    /// Offset of the view centre from the volume centre, in mm along screen right/down.
    pub pan_mm: DVec2,
}

impl ViewState {
    pub fn new(plane: Plane) -> Self {
        Self { plane, zoom: 1.0, pan_mm: DVec2::ZERO }
    }
}

/// The mapping of one view for one viewport size and crosshair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewMapping {
    /// Viewport point (x, y in points from the top-left, 0, 1) → patient LPS mm.
    pub patient_from_view: DMat4,
    /// Viewport point → continuous voxel index (voxel centres at integers).
    pub voxel_from_view: DMat4,
    pub mm_per_point: f64,
}

impl ViewMapping {
    /// Builds the mapping of `state` for a viewport of `size` points, through `crosshair_mm`.
    pub fn new(geometry: &VolumeGeometry, state: &ViewState, size: DVec2, crosshair_mm: DVec3) -> Self {
        let (right, down) = state.plane.screen_axes();
        let normal = state.plane.normal();
        let (lo, hi) = patient_bounds(geometry);
        let centre = (lo + hi) / 2.0;
        let extent = hi - lo;
        let width_mm = extent.dot(right.abs());
        let height_mm = extent.dot(down.abs());
        let fit = (width_mm / size.x.max(1.0)).max(height_mm / size.y.max(1.0));
        let mm_per_point = fit / state.zoom.max(1e-3);
        // In-plane: the volume centre plus pan; through-plane: the crosshair.
        let view_centre =
            centre + right * state.pan_mm.x + down * state.pan_mm.y + normal * (crosshair_mm - centre).dot(normal);
        let origin = view_centre - right * (size.x / 2.0 * mm_per_point) - down * (size.y / 2.0 * mm_per_point);
        let patient_from_view = DMat4::from_cols(
            (right * mm_per_point).extend(0.0),
            (down * mm_per_point).extend(0.0),
            normal.extend(0.0),
            DVec4::new(origin.x, origin.y, origin.z, 1.0),
        );
        let voxel_from_view = geometry.voxel_from_patient() * patient_from_view;
        Self { patient_from_view, voxel_from_view, mm_per_point }
    }

    pub fn patient(&self, point: DVec2) -> DVec3 {
        self.patient_from_view.transform_point3(point.extend(0.0))
    }

    pub fn voxel(&self, point: DVec2) -> DVec3 {
        self.voxel_from_view.transform_point3(point.extend(0.0))
    }

    /// Where a patient point falls in the viewport (its through-plane distance is dropped).
    pub fn view_point(&self, patient_mm: DVec3) -> DVec2 {
        self.patient_from_view.inverse().transform_point3(patient_mm).truncate()
    }
}

/// Axis-aligned patient-space bounds of the voxel centres.
pub fn patient_bounds(geometry: &VolumeGeometry) -> (DVec3, DVec3) {
    let [nx, ny, nz] = geometry.dims.map(|d| d.saturating_sub(1) as f64);
    let mut lo = DVec3::splat(f64::INFINITY);
    let mut hi = DVec3::splat(f64::NEG_INFINITY);
    for corner in [
        DVec3::new(0.0, 0.0, 0.0),
        DVec3::new(nx, 0.0, 0.0),
        DVec3::new(0.0, ny, 0.0),
        DVec3::new(0.0, 0.0, nz),
        DVec3::new(nx, ny, 0.0),
        DVec3::new(nx, 0.0, nz),
        DVec3::new(0.0, ny, nz),
        DVec3::new(nx, ny, nz),
    ] {
        let p = geometry.patient_from_voxel_point(corner);
        lo = lo.min(p);
        hi = hi.max(p);
    }
    (lo, hi)
}

/// The slice step along a plane's normal: the voxel spacing along the volume axis closest to
/// that normal, so one step is one acquired slice.
pub fn slice_step_mm(geometry: &VolumeGeometry, plane: Plane) -> f64 {
    let normal = plane.normal();
    (0..3)
        .max_by(|&a, &b| {
            let da = geometry.patient_from_voxel.col(a).truncate().normalize_or_zero().dot(normal).abs();
            let db = geometry.patient_from_voxel.col(b).truncate().normalize_or_zero().dot(normal).abs();
            da.total_cmp(&db)
        })
        .map_or(1.0, |axis| geometry.spacing_mm[axis])
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact binary fractions
mod tests {
    use super::*;
    use glam::DMat4;

    /// 100 × 80 × 50 voxels of 0.5 × 0.5 × 2 mm, axial, first voxel at (−25, −20, −50).
    fn axial() -> VolumeGeometry {
        VolumeGeometry {
            dims: [100, 80, 50],
            spacing_mm: [0.5, 0.5, 2.0],
            patient_from_voxel: DMat4::from_cols(
                glam::DVec4::new(0.5, 0.0, 0.0, 0.0),
                glam::DVec4::new(0.0, 0.5, 0.0, 0.0),
                glam::DVec4::new(0.0, 0.0, 2.0, 0.0),
                glam::DVec4::new(-25.0, -20.0, -50.0, 1.0),
            ),
        }
    }

    #[test]
    fn axial_view_is_radiological_with_square_pixels() {
        let g = axial();
        let size = DVec2::new(400.0, 300.0);
        let m = ViewMapping::new(&g, &ViewState::new(Plane::Axial), size, DVec3::new(0.0, 0.0, 10.0));
        let left_edge = m.patient(DVec2::new(0.0, 150.0));
        let right_edge = m.patient(DVec2::new(400.0, 150.0));
        assert!(right_edge.x > left_edge.x, "patient left must be on screen right");
        let top = m.patient(DVec2::new(200.0, 0.0));
        let bottom = m.patient(DVec2::new(200.0, 300.0));
        assert!(bottom.y > top.y, "posterior must be at the bottom");
        // Same mm per point both ways, and the plane goes through the crosshair.
        assert!(((right_edge - left_edge).length() / 400.0 - (bottom - top).length() / 300.0).abs() < 1e-9);
        assert!((top.z - 10.0).abs() < 1e-9);
        // The view fits the 49.5 × 39.5 mm extent: width limits (49.5 / 400 > 39.5 / 300? no).
        assert!((m.mm_per_point - (39.5f64 / 300.0).max(49.5 / 400.0)).abs() < 1e-12);
    }

    #[test]
    fn views_round_trip_patient_points() {
        let g = axial();
        let crosshair = DVec3::new(3.0, -4.0, 6.0);
        for plane in Plane::ALL {
            let m = ViewMapping::new(&g, &ViewState::new(plane), DVec2::new(320.0, 240.0), crosshair);
            let p = m.view_point(crosshair);
            assert!((m.patient(p) - crosshair).length() < 1e-9, "{plane:?}");
            let v = m.voxel(p);
            assert!((g.patient_from_voxel_point(v) - crosshair).length() < 1e-9, "{plane:?}");
        }
    }

    #[test]
    fn coronal_and_sagittal_have_superior_up() {
        let g = axial();
        for plane in [Plane::Coronal, Plane::Sagittal] {
            let m = ViewMapping::new(&g, &ViewState::new(plane), DVec2::new(300.0, 300.0), DVec3::ZERO);
            assert!(m.patient(DVec2::new(150.0, 0.0)).z > m.patient(DVec2::new(150.0, 300.0)).z, "{plane:?}");
        }
        let m = ViewMapping::new(&g, &ViewState::new(Plane::Sagittal), DVec2::new(300.0, 300.0), DVec3::ZERO);
        assert!(m.patient(DVec2::new(0.0, 150.0)).y < m.patient(DVec2::new(300.0, 150.0)).y, "anterior on the left");
    }

    #[test]
    fn zoom_and_pan_move_the_view() {
        let g = axial();
        let mut state = ViewState::new(Plane::Axial);
        let size = DVec2::new(200.0, 200.0);
        let fit = ViewMapping::new(&g, &state, size, DVec3::ZERO);
        state.zoom = 2.0;
        state.pan_mm = DVec2::new(5.0, 0.0);
        let zoomed = ViewMapping::new(&g, &state, size, DVec3::ZERO);
        assert!((zoomed.mm_per_point - fit.mm_per_point / 2.0).abs() < 1e-12);
        let centre_fit = fit.patient(DVec2::new(100.0, 100.0));
        let centre_zoomed = zoomed.patient(DVec2::new(100.0, 100.0));
        assert!((centre_zoomed.x - centre_fit.x - 5.0).abs() < 1e-9);
    }

    #[test]
    fn slice_step_follows_the_acquired_slices() {
        let g = axial();
        assert_eq!(slice_step_mm(&g, Plane::Axial), 2.0);
        assert_eq!(slice_step_mm(&g, Plane::Coronal), 0.5);
    }

    #[test]
    fn windows_map_hu_to_grey() {
        assert_eq!(Window::LUNG.grey(-600.0), 0.5);
        assert_eq!(Window::LUNG.grey(-1350.0), 0.0);
        assert_eq!(Window::MEDIASTINUM.grey(240.0), 1.0);
    }
}
