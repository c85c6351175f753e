#![no_main]
//! See lungdesk_volume::fuzzing::plan.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lungdesk_volume::fuzzing::plan(data));
