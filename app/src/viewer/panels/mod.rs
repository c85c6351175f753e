//! The viewer's panels, each an `impl Viewer` block drawing one part.

mod ai_panel;
pub(crate) mod series_picker;
pub(crate) mod slice_view;
mod toolbar;
