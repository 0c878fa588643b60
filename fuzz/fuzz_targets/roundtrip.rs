//! Fuzz target `roundtrip`: see `archive_format::fuzzing::roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| archive_format::fuzzing::roundtrip(data));
