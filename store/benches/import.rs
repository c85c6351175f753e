//! Benchmark: importing 1,000 SYNTHETIC series, headers only (issue #5: ≤ 60 s).
//!
//! `cargo bench -p lungdesk-store --bench import` writes 1,000 small phantom series (one study
//! each, 20 slices of 64×64) under `target/bench-data/import-1000` once, then imports the tree
//! into a fresh label store three times, and re-imports it into the filled store (every series
//! already there). The same tree is then read by `tools/bench_import_python.py` (pydicom
//! headers + sqlite3, what a site script would do) in the same run. Prints JSON.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use lungdesk_store::{Store, import_folder};
use lungdesk_volume::Progress;
use lungdesk_volume::phantom::{PhantomSpec, write_phantom_series};
use rayon::prelude::*;

const SERIES: u64 = 1000;
const SLICES: usize = 20;

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data/import-1000"))
}

fn write_tree(root: &Path) {
    let done = root.join(".complete");
    if done.exists() {
        return;
    }
    eprintln!("writing {SERIES} phantom series under {} (once)", root.display());
    (1..=SERIES).into_par_iter().for_each(|seed| {
        let spec = PhantomSpec { dims: [64, 64, SLICES], seed, ..PhantomSpec::default() };
        let dir = root.join(format!("site-{}/study-{seed:04}", seed % 10));
        write_phantom_series(&spec, &dir).expect("phantom");
    });
    std::fs::write(done, b"").expect("marker");
}

fn main() {
    let me = lungdesk_store::Identity {
        reader_id: "R-1".into(),
        display_name: "Reader".into(),
        site_code: "SITE-A".into(),
        postal_code: "466-8560".into(),
        site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
    };
    let root = data_dir();
    write_tree(&root);
    let mut fresh = Vec::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut last_db = PathBuf::new();
    for run in 0..3 {
        let db = tmp.path().join(format!("labels-{run}.sqlite"));
        let mut store = Store::open(&db).expect("store");
        let start = Instant::now();
        let report = import_folder(&mut store, &me, &root, &Progress::new()).expect("import");
        fresh.push(start.elapsed().as_secs_f64());
        assert_eq!(report.new_series, SERIES as usize);
        assert_eq!(store.case_count().expect("count"), SERIES as i64);
        last_db = db;
    }
    let mut store = Store::open(&last_db).expect("store");
    let start = Instant::now();
    let again = import_folder(&mut store, &me, &root, &Progress::new()).expect("re-import");
    let reimport = start.elapsed().as_secs_f64();
    assert_eq!(again.already_imported, SERIES as usize);

    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/bench_import_python.py"));
    let python = Command::new("python3")
        .arg(&script)
        .arg(&root)
        .arg(tmp.path().join("python.sqlite"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok());
    fresh.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "series": SERIES,
        "files": SERIES as usize * SLICES,
        "lungdesk_import_s": fresh,
        "lungdesk_import_median_s": fresh[1],
        "lungdesk_reimport_s": reimport,
        "pydicom_sqlite_s": python,
        "ratio_python_over_lungdesk": python.map(|p| p / fresh[1]),
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
