#![no_main]
//! See lungdesk_volume::fuzzing::lossless_jpeg.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lungdesk_volume::fuzzing::lossless_jpeg(data));
