#![no_main]
#![allow(dead_code)]

include!("../shared/parsers.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| npy(data));
