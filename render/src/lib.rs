//! GPU rendering of CT volumes for LungDesk: slice views (axial, coronal, sagittal) with
//! window/level, thick slabs and a label overlay, drawn with wgpu. Each view's slice is drawn
//! into a cached image at about the volume's resolution only when it changes; every frame then
//! blits the images to the screen, so zoom, pan and redraws cost no 3D sampling.
//!
//! This crate takes plain arrays, geometry and view parameters. It knows nothing of cases,
//! reviews, the database or AI models, and nothing of egui: the app wraps [`SliceRenderer`]
//! in its paint callbacks.

pub mod offscreen;
pub mod slice;
pub mod view;

pub use slice::{GpuVolume, HuFormat, Look, OverlayStyle, SliceRenderer, ViewFrame, ViewUniforms};
pub use view::{Plane, SlabMode, ViewMapping, ViewState, Window};
