//! Stage 11: JSON encoding of a typical verify response.
//!
//! `cargo bench -p benches --bench stages -- respond/`
//!
//! Last measured 2026-11-26 on the 2-vCPU shared dev VM (AMD EPYC, release, criterion medians):
//! 0.51 µs per response (measured while a CI build ran on the other core).

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::Utc;
use criterion::Criterion;
use wire::api::{DisclosedHolder, RequirementResult, Verdict, VerifyResponse};
use wire::catalogue::model::HolderKind;

pub fn encode(c: &mut Criterion) {
    let response = VerifyResponse {
        verification_id: gateway::verify::respond::verification_id(Utc::now()),
        scenario: "park-entry-senior".into(),
        verdict: Verdict::Pass,
        holder: DisclosedHolder {
            kind: HolderKind::Person,
            name: Some("张*丰".into()),
        },
        requirements: vec![RequirementResult {
            certificate: "senior-citizen-card".into(),
            verdict: Verdict::Pass,
            reason: None,
            disclosed: BTreeMap::new(),
            stale: false,
        }],
        decided_at: Utc::now(),
        audit_seq: Some(1_234_567),
    };
    c.bench_function("respond/json", |b| {
        b.iter(|| black_box(gateway::verify::respond::json(black_box(&response))))
    });
}
