//! Fuzzes a holder code as scanned (see `fuzz_entry::code`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fuzz_entry::code(data);
});
