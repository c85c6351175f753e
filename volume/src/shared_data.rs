//! Where the real test data lives (`../shared/data` beside the checkout, or
//! `LUNGDESK_SHARED_DATA`), for the tests and benchmarks of every crate: one helper that says
//! clearly when the data is missing.

use std::path::PathBuf;

/// `../shared/data` beside the checkout, or `LUNGDESK_SHARED_DATA`.
pub fn shared_data() -> PathBuf {
    std::env::var_os("LUNGDESK_SHARED_DATA")
        .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")), PathBuf::from)
}

/// The real-data file or folder `rel` under [`shared_data`], or `None` with a loud note when
/// it is missing. With `LUNGDESK_REQUIRE_DATA` set (CI) a missing one fails the test instead.
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
