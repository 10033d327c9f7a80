//! One benchmark binary, a file per stage of the verify pipeline.
//!
//! Run all: `cargo bench -p benches --bench stages`; one group: append `-- code/` (or
//! `signature/`, `cache/`, `pipeline/`, `issuer/`, `respond/`, `audit/`). Each file says what it measures; the README's
//! Performance section keeps the last figures with the machine they came from.

use criterion::{criterion_group, criterion_main};

mod audit;
mod cache;
mod code;
mod fixture;
mod issuer;
mod pipeline;
mod respond;
mod signature;

criterion_group!(
    stages,
    code::decode_and_verify,
    code::base45,
    signature::verify,
    cache::record_hit,
    pipeline::warm_pipeline,
    issuer::record_and_seal,
    respond::encode,
    audit::trail
);
criterion_main!(stages);
