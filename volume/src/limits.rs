//! Named limits on every size and geometry value read from a file, checked before anything is
//! allocated or computed from it. A value beyond its limit makes the file (or slice) a
//! reported problem, never an allocation, an overflow or a panic.
//!
//! The limits sit well beyond any real CT (512² to 1024² matrices, up to a few thousand
//! slices, positions within a metre or two of the scanner's origin) and well within what a
//! desk can hold.

/// Rows or Columns of one image. Clinical CT is 512 or 1024; 4096 covers any scanner.
pub const MAX_ROWS_OR_COLUMNS: u16 = 4096;

/// Number of Frames of one file.
pub const MAX_FRAMES: u32 = 8192;

/// Slices of one volume, missing ones included.
pub const MAX_SLICES: usize = 8192;

/// Missing slices filled with padding in one gap. A wider gap splits the series into stacks,
/// and the largest stack is kept.
pub const MAX_GAP_SLICES: usize = 32;

/// |coordinate| of Image Position (Patient), in mm: 100 m. Real positions are within a few
/// hundred mm of the scanner's origin.
pub const MAX_POSITION_MM: f64 = 100_000.0;

/// Pixel Spacing and Slice Thickness, in mm, taken as meant.
pub const SPACING_MM: std::ops::RangeInclusive<f64> = 0.01..=50.0;

/// How far a direction cosine vector of Image Orientation (Patient) may be from unit length,
/// and how far from perpendicular the row and column vectors may be (|cos|).
pub const ORIENTATION_TOLERANCE: f64 = 0.05;

/// Hard ceiling on the voxels of one volume (2 GiB of 16-bit HU).
pub const MAX_VOLUME_VOXELS: usize = 1 << 30;

/// The voxels one volume may have on this machine: [`MAX_VOLUME_VOXELS`], or less where a
/// quarter of the physical memory is less (each voxel takes 2 bytes, and the analysis and the
/// GPU upload need several times that).
pub fn max_volume_voxels() -> usize {
    physical_memory_bytes().map_or(MAX_VOLUME_VOXELS, |bytes| MAX_VOLUME_VOXELS.min((bytes / 4 / 2) as usize))
}

fn physical_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 =
        info.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Whether an Image Orientation (Patient) is usable: finite, two unit vectors (within
/// [`ORIENTATION_TOLERANCE`]) that are perpendicular (within the same tolerance on their
/// cosine). An all-zero or parallel pair would make a singular affine.
pub fn orientation_is_usable(o: &[f64; 6]) -> bool {
    if o.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (row, col) = (&o[..3], &o[3..]);
    let dot: f64 = row.iter().zip(col).map(|(a, b)| a * b).sum();
    (norm(row) - 1.0).abs() <= ORIENTATION_TOLERANCE
        && (norm(col) - 1.0).abs() <= ORIENTATION_TOLERANCE
        && dot.abs() <= ORIENTATION_TOLERANCE
}

/// Whether an Image Position (Patient) is usable: finite and within [`MAX_POSITION_MM`].
pub fn position_is_usable(p: &[f64; 3]) -> bool {
    p.iter().all(|v| v.is_finite() && v.abs() <= MAX_POSITION_MM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientations_must_be_two_perpendicular_unit_vectors() {
        assert!(orientation_is_usable(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
        assert!(orientation_is_usable(&[0.999_999, 0.0, 0.001, 0.0, 1.0, 0.0]));
        assert!(!orientation_is_usable(&[0.0; 6]), "all zero");
        assert!(!orientation_is_usable(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]), "parallel");
        assert!(!orientation_is_usable(&[2.0, 0.0, 0.0, 0.0, 2.0, 0.0]), "not unit");
        assert!(!orientation_is_usable(&[f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]), "NaN");
    }

    #[test]
    fn positions_must_be_finite_and_within_100_m() {
        assert!(position_is_usable(&[-250.0, -250.0, 1200.0]));
        assert!(!position_is_usable(&[0.0, 0.0, 1e308]));
        assert!(!position_is_usable(&[0.0, f64::INFINITY, 0.0]));
    }

    #[test]
    fn the_volume_limit_is_positive_and_at_most_the_ceiling() {
        let n = max_volume_voxels();
        assert!(n > 0 && n <= MAX_VOLUME_VOXELS, "{n}");
    }
}
