//! Peak memory while scanning, loading and decoding a folder of tampered files (every single-file fuzz
//! regression of #14, among them one whose Pixel Data declares 4 GB in a 1.5 kB file): the
//! growth of this process's peak resident memory stays within twice the largest file plus what
//! the volumes need, plus a fixed allowance for the runtime's own first use (thread pool,
//! dictionaries). Alone in its test binary, so no other test shares the process's peak.

use std::path::Path;

/// The runtime's one-off cost on first use (rayon's pool, dicom-rs's dictionaries, decoder
/// tables), measured at about 10 MB here; a tampered length alone would have added 4 GB.
const RUNTIME_ALLOWANCE_BYTES: u64 = 48 << 20;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix(field))?.trim().trim_end_matches("kB").trim().parse().ok()
}

#[test]
fn scanning_a_folder_of_tampered_files_stays_within_twice_the_largest_file() {
    let Some(before_kib) = status_kib("VmRSS:") else {
        eprintln!("SKIPPED: no /proc/self/status on this system");
        return;
    };
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/one_file");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut largest = 0u64;
    for entry in std::fs::read_dir(&regressions).expect("regressions") {
        let path = entry.expect("entry").path();
        largest = largest.max(std::fs::metadata(&path).expect("size").len());
        std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
    }
    // Resets the peak (VmHWM) to the present resident size (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let report = lungdesk_volume::scan(dir.path(), &lungdesk_volume::Progress::new()).expect("scan");
    let mut volume_bytes = 0u64;
    for series in &report.series {
        if let Ok(v) = lungdesk_volume::load_series(series, &lungdesk_volume::Progress::new()) {
            volume_bytes += 2 * v.voxels_hu.len() as u64;
        }
    }
    // Files at one position are duplicates in the series; each is also decoded on its own, as
    // the viewer does for a single file.
    for entry in std::fs::read_dir(dir.path()).expect("folder") {
        let _ = lungdesk_volume::decode::read_frame_hu(&entry.expect("entry").path(), 0);
    }
    let peak_kib = status_kib("VmHWM:").expect("VmHWM");
    let growth = peak_kib.saturating_sub(before_kib) * 1024;
    let bound = 2 * largest + volume_bytes + RUNTIME_ALLOWANCE_BYTES;
    eprintln!(
        "{} series, {} skipped; peak grew {:.1} MB (largest file {:.2} MB, volumes {:.1} MB, bound {:.1} MB)",
        report.series.len(),
        report.skipped.len(),
        growth as f64 / 1e6,
        largest as f64 / 1e6,
        volume_bytes as f64 / 1e6,
        bound as f64 / 1e6
    );
    assert!(growth <= bound, "peak grew {growth} bytes, over {bound}");
}
