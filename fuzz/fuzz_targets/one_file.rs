#![no_main]
//! See lungdesk_volume::fuzzing::one_file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lungdesk_volume::fuzzing::one_file(data));
