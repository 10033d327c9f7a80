//! Fuzzes a department's records:query answer, its seals and contents (see `fuzz_entry::department_answer`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fuzz_entry::department_answer(data);
});
