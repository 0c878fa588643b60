//! Fuzz target `manifest`: see `archive_format::fuzzing::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| archive_format::fuzzing::manifest(data));
