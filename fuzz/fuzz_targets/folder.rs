#![no_main]
//! See lungdesk_volume::fuzzing::folder.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lungdesk_volume::fuzzing::folder(data));
