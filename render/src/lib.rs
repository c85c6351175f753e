//! GPU rendering of CT volumes for LungDesk: slice views (axial, coronal, sagittal) with
//! window/level, thick slabs and a label overlay, drawn with wgpu.
//!
//! This crate takes plain arrays, geometry and view parameters. It knows nothing of cases,
//! reviews, the database or AI models, and nothing of egui: the app wraps [`SliceRenderer`]
//! in its paint callbacks.

pub mod offscreen;
pub mod slice;
pub mod view;

pub use slice::{HuFormat, OverlayStyle, SliceRenderer, ViewUniforms};
pub use view::{Plane, SlabMode, ViewMapping, ViewState, Window};
