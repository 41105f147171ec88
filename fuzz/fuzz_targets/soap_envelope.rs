//! libFuzzer entry point for [`qbridge_fuzz::soap_envelope`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qbridge_fuzz::soap_envelope(data));
