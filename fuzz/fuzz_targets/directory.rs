//! Fuzz target `directory`: see `archive_format::fuzzing::directory`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| archive_format::fuzzing::directory(data));
