//! Where the reader is in the volume (crosshair, views, maximised view, pointer) and how it
//! is shown (window, slab, overlay): plain values, no toolkit or GPU code.

use glam::DVec3;
use lungdesk_render::slice::OverlayStyle;
use lungdesk_render::view::{Plane, SlabMode, ViewMapping, ViewState, Window, patient_bounds, slice_step_mm};
use lungdesk_volume::VolumeGeometry;

/// Number of slice views.
pub const VIEWS: usize = 3;

/// The crosshair and the three views.
#[derive(Debug, Clone)]
pub struct Navigation {
    pub crosshair_mm: DVec3,
    pub views: [ViewState; VIEWS],
    pub maximised: Option<usize>,
    /// The view under the pointer and the patient point there.
    pub hover: Option<(usize, DVec3)>,
    /// Each view's mapping from its last frame (pointer to patient).
    pub(crate) mappings: [Option<ViewMapping>; VIEWS],
    /// Trackpad scrolling not yet a whole slice step (points).
    pub(crate) wheel_points: f32,
}

impl Default for Navigation {
    fn default() -> Self {
        Self {
            crosshair_mm: DVec3::ZERO,
            views: Plane::ALL.map(ViewState::new),
            maximised: None,
            hover: None,
            mappings: [None; VIEWS],
            wheel_points: 0.0,
        }
    }
}

impl Navigation {
    /// Views reset, crosshair at the volume's centre.
    pub fn centred_on(geometry: &VolumeGeometry) -> Self {
        let (lo, hi) = patient_bounds(geometry);
        Self { crosshair_mm: (lo + hi) / 2.0, ..Self::default() }
    }

    /// Moves the crosshair one slice along view `view`'s normal, `steps` times.
    pub fn scroll(&mut self, geometry: &VolumeGeometry, view: usize, steps: f64) {
        let plane = self.views[view].plane;
        self.crosshair_mm += plane.normal() * slice_step_mm(geometry, plane) * steps;
        let (lo, hi) = patient_bounds(geometry);
        self.crosshair_mm = self.crosshair_mm.clamp(lo, hi);
    }

    /// The slice index (1-based) and count of view `view` at the crosshair.
    pub fn slice_number(&self, geometry: &VolumeGeometry, view: usize) -> Option<(i64, i64)> {
        let plane = self.views[view].plane;
        let axis = (0..3).max_by(|&a, &b| {
            let da = geometry.patient_from_voxel.col(a).truncate().normalize_or_zero().dot(plane.normal()).abs();
            let db = geometry.patient_from_voxel.col(b).truncate().normalize_or_zero().dot(plane.normal()).abs();
            da.total_cmp(&db)
        })?;
        let v = geometry.voxel_from_patient().transform_point3(self.crosshair_mm);
        Some((v[axis].round() as i64 + 1, geometry.dims[axis] as i64))
    }

    /// The view `F` maximises: the one under the pointer, else the first.
    pub fn focus(&self) -> usize {
        self.hover.map_or(0, |(v, _)| v)
    }

    pub fn toggle_maximised(&mut self, view: usize) {
        self.maximised = if self.maximised.is_some() { None } else { Some(view) };
    }
}

/// How the volume is shown.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    pub window: Window,
    pub overlay: OverlayStyle,
    pub overlay_on: bool,
    pub slab: (SlabMode, f64),
}

impl Default for Display {
    fn default() -> Self {
        Self { window: Window::LUNG, overlay: OverlayStyle::default(), overlay_on: true, slab: (SlabMode::Thin, 10.0) }
    }
}

impl Display {
    /// `S`: thin, MIP, MinIP, thin.
    pub fn cycle_slab(&mut self) {
        self.slab.0 = match self.slab.0 {
            SlabMode::Thin => SlabMode::Mip,
            SlabMode::Mip => SlabMode::MinIp,
            SlabMode::MinIp => SlabMode::Thin,
        };
    }
}
