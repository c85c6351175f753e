//! The label classes of segmentation volumes: one `u8` per voxel, x fastest, on the grid of
//! the CT volume. The AI writes these, the overlay draws them, quantification counts them.

/// Not labelled.
pub const BACKGROUND: u8 = 0;
/// Lung parenchyma (including what lies inside it: vessels, opacities).
pub const LUNG: u8 = 1;
/// Ground-glass opacity.
pub const GROUND_GLASS: u8 = 2;
/// Consolidation.
pub const CONSOLIDATION: u8 = 3;

/// Display names of the classes, indexed by value.
pub const NAMES: [&str; 4] = ["background", "lung", "ground-glass opacity", "consolidation"];
