//! The reference issuer's cost per record: generation from the synthetic population and the
//! department seal (deterministic CBOR + Ed25519), and the gateway's seal check.
//!
//! `cargo bench -p benches --bench stages -- issuer/`
//!
//! Last measured 2026-11-26 on the 2-vCPU shared dev VM (AMD EPYC, release, criterion medians):
//! generate_record 2.2 µs, seal 23 µs, verify_seal 44 µs (measured while a CI build ran on
//! the other core: read them as upper bounds).

use std::hint::black_box;

use chrono::Utc;
use criterion::Criterion;
use wire::catalogue::model::HolderKind;
use wire::catalogue::Catalogue;

pub fn record_and_seal(c: &mut Criterion) {
    let catalogue = Catalogue::embedded();
    let population = issuer::population::Population::new(issuer::config::DEFAULT_SEED);
    let today = wire::calendar::china_today(Utc::now());
    let keys = issuer::seal_keys::demo_seal_keys();
    let trust = issuer::seal_keys::demo_trust_list();
    let record = population
        .record_in(
            &catalogue,
            "bench-1",
            HolderKind::Person,
            "resident-id-card",
            today,
        )
        .expect("record");
    let key = keys
        .iter()
        .find(|k| k.owner() == record.department)
        .expect("the department's key")
        .clone();
    let mut group = c.benchmark_group("issuer");
    let mut i = 0u64;
    group.bench_function("generate_record", |b| {
        b.iter(|| {
            i += 1;
            black_box(population.record_in(
                &catalogue,
                &format!("bench-{i}"),
                HolderKind::Person,
                "resident-id-card",
                today,
            ))
        })
    });
    group.bench_function("seal", |b| {
        b.iter(|| {
            let mut r = record.clone();
            r.seal(&key);
            black_box(r)
        })
    });
    let mut sealed = record.clone();
    sealed.seal(&key);
    let now = Utc::now();
    group.bench_function("verify_seal", |b| {
        b.iter(|| sealed.verify_seal(&trust, now).expect("verifies"))
    });
    group.finish();
}
