//! What one record costs the issuer: generate it from the population (keyed hashes, fields,
//! licence id), apply overrides, seal it (deterministic CBOR + Ed25519).
//!
//! Run: `cargo run -p issuer --example record_cost [--release]`.
//! Last measured (dev profile: dependencies at opt-level 2, issuer and wire unoptimised; the
//! project's 2-core VM with other builds running), per driving-licence record (~280 bytes of
//! canonical CBOR): generate 8.2 µs, canonical CBOR 7.4 µs, seal (CBOR + Ed25519 sign) 23 µs,
//! verify seal 36 µs. Sealing dominates the issuer's cost per record, as verifying dominates
//! the gateway's.

use std::time::Instant;

use issuer::Population;
use wire::catalogue::model::HolderKind;
use wire::catalogue::Catalogue;

fn main() {
    let catalogue = Catalogue::embedded();
    let pop = Population::with_cities(1, catalogue.cities());
    let keys = issuer::seal_keys::demo_seal_keys();
    let key = keys
        .iter()
        .find(|k| k.owner() == "public-security")
        .expect("demo key");
    let cert = catalogue.certificate("driving-licence").expect("type");
    let backend = catalogue
        .backend_for("driving-licence", None)
        .expect("backend");
    let today = wire::calendar::china_today(chrono::Utc::now());
    let n = 20_000;

    let started = Instant::now();
    let mut held = 0;
    for i in 0..n {
        let r = pop.record(&format!("h-{i}"), HolderKind::Person, cert, backend, today);
        held += usize::from(r.licence_id.is_some());
    }
    let generate = started.elapsed() / n;

    let records: Vec<_> = (0..n)
        .map(|i| pop.record(&format!("h-{i}"), HolderKind::Person, cert, backend, today))
        .collect();
    let started = Instant::now();
    let mut bytes = 0;
    for r in &records {
        bytes += r.signed_bytes(key.kid(), key.algorithm()).len();
    }
    let encode = started.elapsed() / n;

    let started = Instant::now();
    for r in records.iter().cloned() {
        let mut r = r;
        r.seal(key);
    }
    let seal = started.elapsed() / n;

    let trust = issuer::seal_keys::demo_trust_list();
    let mut sealed = records[0].clone();
    sealed.seal(key);
    let started = Instant::now();
    for _ in 0..2000 {
        sealed
            .verify_seal(&trust, chrono::Utc::now())
            .expect("verifies");
    }
    let verify = started.elapsed() / 2000;

    println!("records: {n} driving licences ({held} held)");
    println!("generate: {generate:?} per record");
    println!(
        "canonical CBOR: {encode:?} per record ({} bytes on average)",
        bytes / n as usize
    );
    println!("seal (CBOR + Ed25519 sign): {seal:?} per record");
    println!("verify seal (gateway side): {verify:?} per record");
}
