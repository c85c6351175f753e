//! Entry point shared by the `sync_payload` cargo-fuzz target and the replay test: the sync
//! payload as the service reads it (one label or a batch), validated, keyed and written back.
//! Must return without panicking for any bytes. Built only with the `fuzzing` feature.

use crate::LabelPayload;

pub fn sync_payload(data: &[u8]) {
    let one = serde_json::from_slice::<LabelPayload>(data).ok();
    let batch = serde_json::from_slice::<Vec<LabelPayload>>(data).unwrap_or_default();
    for p in one.iter().chain(&batch) {
        // The two `expect`s are the target's assertions, not error handling: a valid payload
        // that does not round-trip is a defect, and the fuzzer reports it by this panic.
        if p.validate().is_ok() {
            let key = p.idempotency_key();
            assert!(key.starts_with(&p.case_key), "the idempotency key starts with the case key");
            let again: LabelPayload = serde_json::from_str(&serde_json::to_string(p).expect("serialises"))
                .expect("a valid payload reads back");
            assert_eq!(&again, p, "a valid payload round-trips");
        }
    }
}
