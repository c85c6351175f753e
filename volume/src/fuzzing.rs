//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the replay test
//! (`tests/fuzz_replay.rs`), so a crash found by fuzzing is replayed through exactly the code
//! that found it. Each takes arbitrary bytes and must return without panicking, aborting or
//! allocating far beyond its input; errors are the expected outcome for most inputs.
//!
//! Built only with the `fuzzing` feature.

use std::path::PathBuf;

use crate::header::{HeaderOutcome, SliceHeader, read_header};
use crate::progress::Progress;

/// A scratch folder of this process and thread, emptied before each use.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("lungdesk-fuzz-{}-{:?}", std::process::id(), std::thread::current().id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// The lossless-JPEG decoder, into an output of the size its frame header declares (up to
/// 1024 × 1024; larger frames are not decoded).
pub fn lossless_jpeg(data: &[u8]) {
    let Some((w, h)) = crate::decode::codestream_size(data) else { return };
    if w * h > 1 << 20 {
        return;
    }
    let mut out = vec![0u16; w * h];
    let _ = crate::lossless_jpeg::decode(data, &mut out);
}

/// One file: its header as the scan reads it, then, if it is an image, its first frame decoded
/// to HU as the viewer does.
pub fn one_file(data: &[u8]) {
    let path = scratch("one-file").join("file.dcm");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(HeaderOutcome::Image(_)) = read_header(&path) {
        let _ = crate::decode::read_frame_hu(&path, 0);
    }
}

/// Series planning from arbitrary headers: each 100 bytes are one slice (rows, columns, frames,
/// then position, orientation, pixel spacing and thickness as f64s, NaN and infinities
/// included).
pub fn plan(data: &[u8]) {
    let slices: Vec<SliceHeader> =
        data.chunks_exact(100).take(4096).enumerate().map(|(n, c)| slice_from(n, c)).collect();
    if slices.is_empty() {
        return;
    }
    if let Ok(plan) = crate::geometry::plan(&slices) {
        // What load_series would allocate must be bounded by the planner.
        let voxels = plan.geometry.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        assert!(plan.slots.len() <= crate::limits::MAX_SLICES, "{} slots", plan.slots.len());
        assert!(voxels.is_some(), "the plan's voxel count overflows: {:?}", plan.geometry.dims);
    }
}

fn slice_from(n: usize, c: &[u8]) -> SliceHeader {
    let u16_at = |i: usize| u16::from_le_bytes([c[i], c[i + 1]]);
    let f64_at = |i: usize| f64::from_le_bytes(c[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut h = SliceHeader::blank();
    h.sop_instance_uid = format!("1.2.3.{n}");
    h.path = PathBuf::from(format!("slice-{n}.dcm"));
    h.rows = u16_at(0);
    h.cols = u16_at(2);
    h.number_of_frames = u32::from(c[4] % 3).max(1);
    h.position_mm = (c[5] & 1 == 0).then(|| [f64_at(6), f64_at(14), f64_at(22)]);
    h.orientation = (c[5] & 2 == 0).then(|| [f64_at(30), f64_at(38), f64_at(46), f64_at(54), f64_at(62), f64_at(70)]);
    h.pixel_spacing_mm = (c[5] & 4 == 0).then(|| [f64_at(78), f64_at(86)]);
    h.slice_thickness_mm = Some(f64_at(92));
    h
}

/// Loading a small folder: the input is split at each `LDFUZZ/` into up to 8 files, written to
/// a scratch folder, scanned, every series loaded and exported to NIfTI.
pub fn folder(data: &[u8]) {
    let dir = scratch("folder");
    let mut rest = data;
    for n in 0..8 {
        let cut = rest.windows(7).position(|w| w == b"LDFUZZ/").unwrap_or(rest.len());
        if std::fs::write(dir.join(format!("f{n}.dcm")), &rest[..cut]).is_err() {
            return;
        }
        if cut == rest.len() {
            break;
        }
        rest = &rest[cut + 7..];
    }
    let Ok(report) = crate::scan(&dir, &Progress::new()) else { return };
    for series in &report.series {
        if let Ok(volume) = crate::load_series(series, &Progress::new()) {
            let _ = crate::nifti_export::write_nifti(&volume, &dir.join("export.nii"));
        }
    }
}
