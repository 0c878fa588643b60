//! Fuzz target `iceberg_metadata`: see `table_state::fuzzing::iceberg_metadata`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| table_state::fuzzing::iceberg_metadata(data));
