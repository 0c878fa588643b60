//! Fuzz target `local_header`: see `archive_format::fuzzing::local_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| archive_format::fuzzing::local_header(data));
