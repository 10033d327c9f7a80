//! Stage 8 on a hit: one requirement answered from the record cache (`Fetcher::fetch` for a
//! holder whose record is cached), no upstream call.
//!
//! `cargo bench -p benches --bench stages -- cache/`
//!
//! Last measured 2026-11-26 on the 2-vCPU shared dev VM (AMD EPYC, release, criterion medians):
//! 0.28 µs per hit (one requirement).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::Criterion;
use gateway::verify::admission::UpstreamWait;
use gateway::verify::fetch::{Answer, Ask};
use gateway::verify::resolve;
use wire::catalogue::model::HolderKind;
use wire::code::{HolderClaims, Profile, Purpose};

use super::fixture::{Fixture, SCENARIO};

pub fn record_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = rt.block_on(Fixture::start(Profile::Hmac, 1));
    let service = fixture.service();
    // One verify fills the cache for the holder.
    rt.block_on(service.verify(
        &fixture.headers,
        None,
        &fixture.body(0),
        "warm",
        Instant::now(),
        &UpstreamWait::default(),
    ))
    .expect("warm-up verifies");
    let (subject, city) = fixture.holder(0);
    let holder = HolderClaims {
        issuer: "mianzheng-platform".into(),
        subject: subject.to_string(),
        kind: HolderKind::Person,
        city: Some(city),
        issued_at: Utc::now().timestamp(),
        expires_at: Utc::now().timestamp() + 60,
        nonce: vec![0; 16],
        scope: None,
        purpose: Purpose::Presentation,
        presenter: None,
        medium: Default::default(),
    };
    let scenario = service.catalogue.scenario(SCENARIO).expect("scenario");
    let plan = resolve::plan(&service.catalogue, scenario, &holder).expect("plan");
    let subject_hash = service.subjects.hash(&holder.subject);
    c.bench_function("cache/record_hit", |b| {
        b.to_async(&rt).iter(|| async {
            let deadline = Instant::now() + Duration::from_secs(1);
            let ask = Ask {
                subject: &holder.subject,
                subject_hash,
                kind: holder.kind,
                allow_stale: false,
                deadline,
                request_id: "bench",
            };
            let answers = service.fetcher.fetch(&ask, &plan).await;
            assert!(matches!(answers[0], Answer::Record { .. }), "a cache hit");
            black_box(answers)
        })
    });
    rt.block_on(async { fixture.gateway.shutdown.trigger() });
}
