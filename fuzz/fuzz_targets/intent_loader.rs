//! Staff YAML through the whole intent loader (`usher_fuzz_checks::intent_loader`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| usher_fuzz_checks::intent_loader(data));
