//! The signature checks under the code profiles, alone: each algorithm through wire's
//! [`TrustedKey::verify`] (what codes and seals use), and the ECDSA and PS256 checks also through
//! the pure-Rust crates wire could use instead (`p256`, `p384`, `rsa`), to keep the faster one.
//!
//! `cargo bench -p benches --bench stages -- signature/`
//!
//! Last measured 2026-12-03 on the 2-vCPU shared dev VM while another build ran (load average
//! about 5; compare ratios within the run), release, criterion medians: eddsa 46.8 µs, sm2
//! 457 µs (9.8 × eddsa), hmac256 0.34 µs; es256 ring 67.3 µs / p256 307 µs; es384 ring 1.07 ms /
//! p384 1.49 ms; ps256 ring 33.5 µs / rsa 281 µs. wire verifies ES256, ES384 and PS256 through
//! ring.

use std::hint::black_box;

use criterion::Criterion;
use wire::keys::{Algorithm, SigningKey, TrustList, TrustedKey, Validity};

/// What a code's signature covers, about as long as a holder code's `Sig_structure`.
const MESSAGE: &[u8] = &[0x5a; 180];

/// A trust-list entry for the SubjectPublicKeyInfo `spki`, loaded as a gateway loads one.
#[allow(clippy::let_and_return)] // the list must outlive the borrow the clone is made from
fn trusted(alg: Algorithm, spki: &[u8]) -> TrustedKey {
    use base64::Engine as _;
    let text = format!(
        "[[key]]\nkid = \"YmVuY2g=\"\nowner = \"bench\"\nalg = \"{alg}\"\npublic = \"{}\"\n",
        base64::engine::general_purpose::STANDARD.encode(spki)
    );
    let list = TrustList::parse(&text).expect("a bench key loads");
    let key = list.keys().next().expect("one key").clone();
    key
}

pub fn verify(c: &mut Criterion) {
    use p256::ecdsa::signature::{RandomizedSigner as _, Signer as _, Verifier as _};
    use spki::EncodePublicKey as _;
    let mut group = c.benchmark_group("signature/verify");

    for alg in [Algorithm::EdDsa, Algorithm::Sm2, Algorithm::Hmac256] {
        let key = SigningKey::generate(alg, "bench", Validity::default()).expect("key");
        let trusted = key.trusted();
        let sig = key.sign(MESSAGE);
        group.bench_function(alg.name().to_lowercase(), |b| {
            b.iter(|| {
                trusted
                    .verify(alg, black_box(MESSAGE), &sig)
                    .expect("verifies")
            })
        });
    }

    let p256_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let p256_sig: p256::ecdsa::Signature = p256_key.sign(MESSAGE);
    let p256_public = *p256_key.verifying_key();
    let spki = p256_public.to_public_key_der().expect("spki");
    let ours = trusted(Algorithm::Es256, spki.as_bytes());
    let sig = p256_sig.to_bytes();
    group.bench_function("es256/ring", |b| {
        b.iter(|| {
            ours.verify(Algorithm::Es256, black_box(MESSAGE), &sig)
                .expect("verifies")
        })
    });
    group.bench_function("es256/p256", |b| {
        b.iter(|| {
            let sig = p256::ecdsa::Signature::from_slice(&sig).expect("r || s");
            p256_public
                .verify(black_box(MESSAGE), &sig)
                .expect("verifies")
        })
    });

    let p384_key = p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let p384_sig: p384::ecdsa::Signature = p384_key.sign(MESSAGE);
    let p384_public = *p384_key.verifying_key();
    let spki = p384_public.to_public_key_der().expect("spki");
    let ours = trusted(Algorithm::Es384, spki.as_bytes());
    let sig = p384_sig.to_bytes();
    group.bench_function("es384/ring", |b| {
        b.iter(|| {
            ours.verify(Algorithm::Es384, black_box(MESSAGE), &sig)
                .expect("verifies")
        })
    });
    group.bench_function("es384/p384", |b| {
        b.iter(|| {
            let sig = p384::ecdsa::Signature::from_slice(&sig).expect("r || s");
            p384_public
                .verify(black_box(MESSAGE), &sig)
                .expect("verifies")
        })
    });

    let rsa_key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("an RSA-2048 key");
    let rsa_public = rsa_key.to_public_key();
    let pss_sig = rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(rsa_key)
        .sign_with_rng(&mut rand::rngs::OsRng, MESSAGE);
    let sig = rsa::signature::SignatureEncoding::to_vec(&pss_sig);
    let ours = trusted(
        Algorithm::Ps256,
        rsa_public.to_public_key_der().expect("spki").as_bytes(),
    );
    group.bench_function("ps256/ring", |b| {
        b.iter(|| {
            ours.verify(Algorithm::Ps256, black_box(MESSAGE), &sig)
                .expect("verifies")
        })
    });
    let pss = rsa::pss::VerifyingKey::<sha2::Sha256>::new(rsa_public);
    group.bench_function("ps256/rsa", |b| {
        b.iter(|| {
            let sig = rsa::pss::Signature::try_from(sig.as_slice()).expect("a signature");
            pss.verify(black_box(MESSAGE), &sig).expect("verifies")
        })
    });
    group.finish();
}
