//! Raw client bytes through every inbound decoder (`usher_fuzz_checks::inbound`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| usher_fuzz_checks::inbound(data));
