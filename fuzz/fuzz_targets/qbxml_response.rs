//! libFuzzer entry point for [`qbridge_fuzz::qbxml_response`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qbridge_fuzz::qbxml_response(data));
