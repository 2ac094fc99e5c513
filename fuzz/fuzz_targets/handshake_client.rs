#![no_main]
//! See `wsproto_fuzz::handshake_client` for what this target checks and its input layout.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::handshake_client::run(data));
