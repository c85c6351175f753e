//! Helpers shared by the end-to-end tests: where the real data lives, pydicom reference
//! numbers, and synthetic phantom folders.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `../shared/data` beside the checkout, or `LUNGDESK_SHARED_DATA`.
pub fn shared_data() -> PathBuf {
    std::env::var_os("LUNGDESK_SHARED_DATA")
        .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")), PathBuf::from)
}

/// The real-data folder `rel`, or None with a loud note when the shared data is missing.
/// With `LUNGDESK_REQUIRE_DATA=1` (set by `.ci/run`) a missing folder fails the test instead.
pub fn real_data(rel: &str) -> Option<PathBuf> {
    let path = shared_data().join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("LUNGDESK_REQUIRE_DATA").is_none(),
        "real data {} is missing and LUNGDESK_REQUIRE_DATA is set",
        path.display()
    );
    eprintln!("SKIPPED: real data {} is missing (see README: ../shared/data)", path.display());
    None
}

/// pydicom reference numbers made by `tools/pydicom_reference.py`.
pub fn reference(file: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// SHA-256 of HU values as little-endian i16, the digest the pydicom script writes.
pub fn sha256_hu(values: &[i16]) -> String {
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(v.to_le_bytes());
    }
    hasher.finalize().iter().fold(String::with_capacity(64), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}
