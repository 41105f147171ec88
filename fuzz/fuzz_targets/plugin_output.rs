//! libFuzzer entry point for [`qbridge_fuzz::plugin_output`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qbridge_fuzz::plugin_output(data));
