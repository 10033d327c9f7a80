//! The whole in-process verify pipeline (stages 2–12: authenticate … record) on a warm cache,
//! no sockets, per profile; and the record-cache hit alone (stage 7).
//!
//! `cargo bench -p benches --bench stages -- pipeline/`
//!
//! Each iteration gets a freshly minted code (minting is outside the measurement), because a
//! code works once.
//!
//! Last measured 2026-11-26 on the 2-vCPU shared dev VM (AMD EPYC, release, criterion medians):
//! hmac 5.8 µs, es256 169 µs (158.9 of it the signature), eddsa 93 µs. The EdDSA figure is
//! not the server's: criterion polls the request on its own thread while the signature
//! batcher runs on the runtime's worker, so every verify pays two cross-thread wake-ups; the
//! server's EdDSA cost is `loadtest compare`'s (README, Performance).

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion};
use gateway::verify::admission::UpstreamWait;
use wire::code::Profile;

use super::fixture::Fixture;

pub fn warm_pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("pipeline");
    for profile in Profile::ALL {
        let fixture = rt.block_on(Fixture::start(profile, 64));
        // Warm the record cache for every holder.
        rt.block_on(async {
            for i in 0..64 {
                fixture
                    .service()
                    .verify(
                        &fixture.headers,
                        None,
                        &fixture.body(i),
                        "warm",
                        Instant::now(),
                        &UpstreamWait::default(),
                    )
                    .await
                    .expect("warm-up verifies");
            }
        });
        let mut i = 0usize;
        let fixture = &fixture;
        group.bench_function(format!("verify_warm/{}", profile.name()), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    i += 1;
                    fixture.body(i)
                },
                |body| async move {
                    let json = fixture
                        .service()
                        .verify(
                            &fixture.headers,
                            None,
                            &body,
                            "bench",
                            Instant::now(),
                            &UpstreamWait::default(),
                        )
                        .await
                        .expect("verifies");
                    black_box(json)
                },
                BatchSize::SmallInput,
            )
        });
        rt.block_on(async { fixture.gateway.shutdown.trigger() });
    }
    group.finish();
}
