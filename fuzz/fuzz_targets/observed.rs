#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dev_prism::fuzzing::observed(data));
