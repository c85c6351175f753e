//! Benchmark: DICOM folder → HU volume (scan + decode), median of several runs.
//!
//! `cargo bench -p lungdesk-volume --bench series_load -- DIR [DIR…]`
//! Defaults to the RICORD series in ../shared/data. Prints one JSON line per folder so that
//! `tools/bench_compare.py` can put it beside pydicom and SimpleITK.

use std::path::PathBuf;
use std::time::Instant;

use lungdesk_volume::{Progress, load_series, scan};

fn main() {
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(lungdesk_volume::shared_data::shared_data().join("ct/ricord-1a-covid"));
    }
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    for dir in dirs {
        if !dir.exists() {
            eprintln!(
                "skipping {}: folder not found (relative paths start in volume/; the shared data lives in ../shared/data)",
                dir.display()
            );
            continue;
        }
        let mut scan_s = Vec::new();
        let mut load_s = Vec::new();
        let mut total_s = Vec::new();
        let mut bytes = 0;
        for _ in 0..runs {
            let progress = Progress::new();
            let t0 = Instant::now();
            let report = scan(&dir, &progress).expect("scan");
            let t1 = Instant::now();
            let volume = load_series(report.pick(None).expect("series"), &progress).expect("load");
            let t2 = Instant::now();
            bytes = volume.voxels_hu.len() * 2;
            std::hint::black_box(&volume);
            scan_s.push((t1 - t0).as_secs_f64());
            load_s.push((t2 - t1).as_secs_f64());
            total_s.push((t2 - t0).as_secs_f64());
        }
        println!(
            "{{\"tool\":\"lungdesk\",\"dir\":{:?},\"runs\":{runs},\"scan_s\":{:.4},\"decode_s\":{:.4},\"total_s\":{:.4},\"volume_bytes\":{bytes},\"peak_rss_bytes\":{}}}",
            dir.display().to_string(),
            median(&mut scan_s),
            median(&mut load_s),
            median(&mut total_s),
            peak_rss_bytes()
        );
    }
}

/// The process's peak resident set (VmHWM), 0 where /proc is missing. With BENCH_RUNS=1 it
/// is the peak of one load: the volume plus everything the loader held beside it.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
