//! Stage 4–5 of the verify path: decode and verify a holder code, per profile.
//!
//! `cargo bench -p benches -- code/`
//!
//! Last measured 2026-12-03 on the 2-vCPU shared dev VM while another build ran (load average
//! about 5: compare ratios within the run), release, criterion medians: verify eddsa 60.9 µs,
//! es256 86.7 µs (ECDSA through ring), es384 999 µs, sm2 486 µs (8.0 × eddsa), hmac 4.57 µs.
//! Before, 2026-11-26, unloaded, ES256 through p256: eddsa 31.6 µs, es256 158.9 µs (5.0 × eddsa),
//! hmac 2.54 µs; decode alone 2.0 µs (eddsa, es256), 2.03 µs (hmac); strict base45 of 200 bytes
//! 0.24 µs.

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::Criterion;
use wire::catalogue::model::HolderKind;
use wire::code::{base45 as b45, HolderClaims, Minter, Profile, Purpose, Verifier};
use wire::keys::{SigningKey, TrustList, Validity};

const NOW: i64 = 1_800_000_000;

fn claims() -> HolderClaims {
    HolderClaims {
        issuer: "mianzheng-platform".into(),
        subject: "bench-000001".into(),
        kind: HolderKind::Person,
        city: Some(370100),
        issued_at: NOW - 5,
        expires_at: NOW + 115,
        nonce: vec![9; 16],
        scope: None,
        purpose: Purpose::Presentation,
        presenter: None,
        medium: Default::default(),
    }
}

pub fn decode_and_verify(c: &mut Criterion) {
    let now = DateTime::<Utc>::from_timestamp(NOW, 0).expect("time");
    let mut group = c.benchmark_group("code");
    for profile in Profile::ALL {
        let key =
            SigningKey::generate(profile.algorithm(), "bench", Validity::default()).expect("key");
        let verifier = Verifier::new(TrustList::new([key.trusted()]));
        let code = Minter::new(key).mint(&claims());
        group.bench_function(format!("verify/{}", profile.name()), |b| {
            b.iter(|| verifier.verify(black_box(&code), now).expect("verifies"))
        });
        group.bench_function(format!("decode/{}", profile.name()), |b| {
            b.iter(|| verifier.decode(black_box(&code)).expect("decodes"))
        });
    }
    group.finish();
}

pub fn base45(c: &mut Criterion) {
    let bytes: Vec<u8> = (0..200u8).collect();
    let text = b45::encode(&bytes);
    c.bench_function("code/base45_decode_200B", |b| {
        b.iter(|| b45::decode(black_box(&text)).expect("decodes"))
    });
}
