//! Replays every committed fuzz input through the entry points the cargo-fuzz targets call
//! (`lungdesk_volume::fuzzing`, `lungdesk_domain::fuzzing`): one regression input per crash
//! class found in #14 (`fuzz/regressions/TARGET/`, written by `fuzz/make_corpora.py`) and the
//! seeds (`fuzz/seeds/TARGET/`). A panic or abort in any of them fails this test; plain
//! `cargo test` (and so CI) runs it. docs/ROBUSTNESS.md lists the classes.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files: Vec<PathBuf> = ["regressions", "seeds"]
        .iter()
        .filter_map(|kind| std::fs::read_dir(fuzz.join(kind).join(target)).ok())
        .flatten()
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no committed inputs for {target} under {}", fuzz.display());
    files
}

fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let files = inputs(target);
    for file in &files {
        eprintln!("{target}: {}", file.display());
        entry(&std::fs::read(file).expect("read"));
    }
    files.len()
}

#[test]
fn lossless_jpeg_inputs_replay() {
    assert!(replay("lossless_jpeg", lungdesk_volume::fuzzing::lossless_jpeg) >= 5);
}

#[test]
fn plan_inputs_replay() {
    assert!(replay("plan", lungdesk_volume::fuzzing::plan) >= 9);
}

#[test]
fn folder_inputs_replay() {
    assert!(replay("folder", lungdesk_volume::fuzzing::folder) >= 6);
}

#[test]
fn sync_payload_inputs_replay() {
    assert!(replay("sync_payload", lungdesk_domain::fuzzing::sync_payload) >= 3);
}

/// Each file alone, then all of them as one folder imported into a store (the Patient's Age
/// "61歳" once panicked `lungdesk import` there): the import finishes and reports them.
#[test]
fn one_file_inputs_replay_and_import() {
    assert!(replay("one_file", lungdesk_volume::fuzzing::one_file) >= 20);
    let dir = tempfile::tempdir().expect("tempdir");
    for file in inputs("one_file") {
        std::fs::copy(&file, dir.path().join(file.file_name().expect("name"))).expect("copy");
    }
    let mut store = lungdesk_store::Store::open(&dir.path().join("store.sqlite")).expect("store");
    let me = lungdesk_store::Identity {
        reader_id: "R-1".into(),
        display_name: "Reader".into(),
        site_code: "SITE-A".into(),
        postal_code: "466-8560".into(),
        site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
    };
    let report = lungdesk_store::import::import_folder(&mut store, &me, dir.path(), &lungdesk_volume::Progress::new())
        .expect("the import finishes");
    eprintln!("{}", report.summary());
}
