#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeinfer_fuzz::npy_file(data));
