//! One benchmark binary, a file per stage of the verify pipeline.
//!
//! Run all: `cargo bench -p benches`; one stage: `cargo bench -p benches -- code/`.
//! Each file says what it measured last and on what machine.

use criterion::{criterion_group, criterion_main};

mod code;

criterion_group!(stages, code::decode_and_verify, code::base45);
criterion_main!(stages);
