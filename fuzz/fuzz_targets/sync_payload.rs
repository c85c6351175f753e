#![no_main]
//! See lungdesk_domain::fuzzing::sync_payload.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lungdesk_domain::fuzzing::sync_payload(data));
