//! Criterion benchmarks of the verify pipeline's stages live in `benches/stages/`, one file per
//! stage; run them with `cargo bench -p benches`. This library is empty on purpose: the crate
//! exists to hold the benchmark binary and its dependencies.
