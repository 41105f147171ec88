//! libFuzzer entry point for [`qbridge_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qbridge_fuzz::config(data));
