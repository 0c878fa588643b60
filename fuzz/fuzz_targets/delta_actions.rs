//! Fuzz target `delta_actions`: see `table_state::fuzzing::delta_actions`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| table_state::fuzzing::delta_actions(data));
