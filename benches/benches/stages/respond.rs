//! Stage 12, respond: JSON encoding of a typical verify response
//! (`loadtest::baseline::typical_response`, what the baseline server sends too).
//!
//! `cargo bench -p benches --bench stages -- respond/`
//!
//! Last measured 2026-11-26 on the 2-vCPU shared dev VM (AMD EPYC, release, criterion medians):
//! 0.51 µs per response (measured while a CI build ran on the other core).

use std::hint::black_box;

use criterion::Criterion;

pub fn encode(c: &mut Criterion) {
    let response = loadtest::baseline::typical_response();
    c.bench_function("respond/json", |b| {
        b.iter(|| black_box(gateway::verify::respond::json(black_box(&response))))
    });
}
