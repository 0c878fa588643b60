//! Fuzz target `chain`: see `archive_format::fuzzing::chain`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| archive_format::fuzzing::chain(data));
