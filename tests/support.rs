//! Helpers shared by the end-to-end tests: where the real data lives, pydicom reference
//! numbers, and synthetic phantom folders.

use std::path::Path;

use sha2::{Digest, Sha256};

pub use lungdesk_volume::shared_data::{real_data, shared_data};

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
