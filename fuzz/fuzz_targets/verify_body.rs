//! Fuzzes the body of POST /v1/verify and the code it carries (see `fuzz_entry::verify_body`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fuzz_entry::verify_body(data);
});
