//! Unit tests of the holder code: every profile round-trips, and every way to fail gives its
//! own machine code.

use super::*;
use crate::catalogue::model::HolderKind;
use crate::keys::{TrustedKey, Validity};
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _};

const NOW: i64 = 1_800_000_000;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid time")
}

fn claims() -> HolderClaims {
    HolderClaims {
        issuer: "mianzheng-platform".into(),
        subject: "demo-000042".into(),
        kind: HolderKind::Person,
        city: Some(370200),
        issued_at: NOW - 10,
        expires_at: NOW + 110,
        nonce: vec![7; 16],
        scope: None,
        purpose: Purpose::Presentation,
        presenter: None,
        medium: Default::default(),
    }
}

fn key(profile: Profile) -> SigningKey {
    SigningKey::generate(profile.algorithm(), "platform", Validity::default()).expect("key")
}

fn setup(profile: Profile) -> (Minter, Verifier) {
    let key = key(profile);
    let verifier = Verifier::new(TrustList::new([key.trusted()]));
    (Minter::new(key), verifier)
}

#[test]
fn every_profile_round_trips_with_and_without_compression() {
    for profile in Profile::ALL {
        for compress in [false, true] {
            let (minter, verifier) = setup(profile);
            let code = minter.clone().compress(compress).mint(&claims());
            assert!(code.starts_with(PREFIX));
            let verified = verifier.verify(&code, now()).expect("verifies");
            assert_eq!(verified.claims, claims());
            assert_eq!(verified.algorithm, profile.algorithm());
        }
    }
}

#[test]
fn any_single_character_change_is_refused_with_a_specific_code() {
    for profile in Profile::ALL {
        let (minter, verifier) = setup(profile);
        let code = minter.mint(&claims());
        let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        for i in 0..code.len() {
            let original = code.as_bytes()[i] as char;
            let replacement = alphabet
                .chars()
                .find(|&c| c != original)
                .expect("other char");
            let mut tampered = code.clone();
            tampered.replace_range(i..=i, &replacement.to_string());
            let err = verifier
                .verify(&tampered, now())
                .expect_err(&format!("{profile:?}: change at {i} must fail"));
            assert!(err.code().starts_with("code."), "{err}");
        }
    }
}

#[test]
fn a_flipped_signature_byte_is_a_bad_signature() {
    let (minter, verifier) = setup(Profile::Eddsa);
    let code = minter.mint(&claims());
    let mut bytes = base45::decode(&code[PREFIX.len()..]).expect("base45");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered = format!("{PREFIX}{}", base45::encode(&bytes));
    assert_eq!(
        verifier.verify(&tampered, now()),
        Err(CodeError::BadSignature)
    );
}

#[test]
fn time_window_and_lifetime() {
    let (minter, verifier) = setup(Profile::Eddsa);
    let code = minter.mint(&claims());
    let at = |offset: i64| DateTime::from_timestamp(NOW + offset, 0).expect("time");
    assert_eq!(
        verifier.verify(&code, at(200)).map_err(|e| e.code()),
        Err("code.expired")
    );
    assert!(
        verifier.verify(&code, at(130)).is_ok(),
        "within the 30 s skew"
    );
    assert_eq!(
        verifier.verify(&code, at(-100)).map_err(|e| e.code()),
        Err("code.not_yet_valid")
    );
    let strict = verifier.clone().clock_skew(0);
    assert_eq!(
        strict.verify(&code, at(111)).map_err(|e| e.code()),
        Err("code.expired")
    );
    let long = HolderClaims {
        expires_at: NOW + 3 * 24 * 3600,
        ..claims()
    };
    assert_eq!(
        verifier
            .verify(&minter.mint(&long), now())
            .map_err(|e| e.code()),
        Err("code.lifetime_too_long")
    );
}

#[test]
fn unknown_key_key_outside_window_and_wrong_profile() {
    let (minter, _) = setup(Profile::Eddsa);
    let (_, other) = setup(Profile::Eddsa);
    let code = minter.mint(&claims());
    assert_eq!(
        other.verify(&code, now()).map_err(|e| e.code()),
        Err("code.unknown_key")
    );

    let retired = Validity {
        not_before: None,
        not_after: DateTime::from_timestamp(NOW - 1, 0),
    };
    let old = SigningKey::generate(Algorithm::EdDsa, "platform", retired).expect("key");
    let verifier = Verifier::new(TrustList::new([old.trusted()]));
    let code = Minter::new(old).mint(&claims());
    assert_eq!(
        verifier.verify(&code, now()).map_err(|e| e.code()),
        Err("code.key_not_valid")
    );

    let (minter, verifier) = setup(Profile::Es256);
    let verifier = verifier.accept(&[Profile::Hmac]);
    assert_eq!(
        verifier
            .verify(&minter.mint(&claims()), now())
            .map_err(|e| e.code()),
        Err("code.wrong_profile")
    );
}

#[test]
fn a_key_id_swapped_to_another_algorithms_key_does_not_verify() {
    // An HMAC key's id put on an Ed25519-signed message: the key's algorithm decides.
    let (verifier, code) = key_id_swapped_to_a_mac_key();
    assert_eq!(verifier.verify(&code, now()), Err(CodeError::BadSignature));
}

/// An Ed25519-signed code whose key id names an HMAC key of the trust list, and a verifier
/// trusting only that HMAC key.
fn key_id_swapped_to_a_mac_key() -> (Verifier, String) {
    let ed = key(Profile::Eddsa);
    let mac = key(Profile::Hmac);
    let verifier = Verifier::new(TrustList::new([mac.trusted()]));
    let cose = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .key_id(mac.kid().as_bytes().to_vec())
                .build(),
        )
        .payload(payload(&claims()))
        .create_signature(b"", |d| ed.sign(d))
        .build()
        .to_tagged_vec()
        .expect("cose");
    (verifier, envelope::seal(&cose, PREFIX, false))
}

fn payload(c: &HolderClaims) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&c.to_value(), &mut out).expect("cbor");
    out
}

fn hand_built(protected: coset::Header, unprotected: coset::Header, signer: &SigningKey) -> String {
    let cose = CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(payload(&claims()))
        .create_signature(b"", |d| signer.sign(d))
        .build()
        .to_tagged_vec()
        .expect("cose");
    envelope::seal(&cose, PREFIX, false)
}

#[test]
fn header_rules() {
    let signer = key(Profile::Eddsa);
    let verifier = Verifier::new(TrustList::new([signer.trusted()]));
    let kid = signer.kid().as_bytes().to_vec();

    // Algorithm only in the unprotected header: refused.
    let code = hand_built(
        HeaderBuilder::new().key_id(kid.clone()).build(),
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .build(),
        &signer,
    );
    assert_eq!(
        verifier.verify(&code, now()).map_err(|e| e.code()),
        Err("code.missing_algorithm")
    );

    // Key id only in the unprotected header: used as a hint, and the signature decides.
    let code = hand_built(
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .build(),
        HeaderBuilder::new().key_id(kid.clone()).build(),
        &signer,
    );
    assert!(verifier.verify(&code, now()).is_ok());

    // Protected key id wins over a wrong unprotected one.
    let code = hand_built(
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(kid.clone())
            .build(),
        HeaderBuilder::new().key_id(b"wrong".to_vec()).build(),
        &signer,
    );
    assert!(verifier.verify(&code, now()).is_ok());

    // A wrong protected key id is not rescued by a right unprotected one.
    let code = hand_built(
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(b"wrong".to_vec())
            .build(),
        HeaderBuilder::new().key_id(kid.clone()).build(),
        &signer,
    );
    assert_eq!(
        verifier.verify(&code, now()).map_err(|e| e.code()),
        Err("code.unknown_key")
    );

    // No key id anywhere.
    let code = hand_built(
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .build(),
        HeaderBuilder::new().build(),
        &signer,
    );
    assert_eq!(
        verifier.verify(&code, now()).map_err(|e| e.code()),
        Err("code.missing_kid")
    );

    // A critical header we do not understand.
    let code = hand_built(
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(kid.clone())
            .add_critical(iana::HeaderParameter::CounterSignature)
            .build(),
        HeaderBuilder::new().build(),
        &signer,
    );
    assert_eq!(
        verifier.verify(&code, now()).map_err(|e| e.code()),
        Err("code.unknown_critical_header")
    );

    // An algorithm we do not support.
    let code = hand_built(
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES512)
            .key_id(kid)
            .build(),
        HeaderBuilder::new().build(),
        &signer,
    );
    assert_eq!(
        verifier.verify(&code, now()).map_err(|e| e.code()),
        Err("code.unsupported_algorithm")
    );
}

#[test]
fn structural_limits() {
    let (minter, verifier) = setup(Profile::Eddsa);
    let code = minter.mint(&claims());
    let mut bytes = base45::decode(&code[PREFIX.len()..]).expect("base45");
    bytes.push(0x00);
    let trailing = format!("{PREFIX}{}", base45::encode(&bytes));
    assert_eq!(
        verifier.verify(&trailing, now()).map_err(|e| e.code()),
        Err("code.bad_cbor")
    );

    // 40 nested arrays: over the depth bound long before anything is allocated for them.
    let deep = [vec![0x81u8; 40], vec![0x00]].concat();
    let code = format!("{PREFIX}{}", base45::encode(&deep));
    assert_eq!(
        verifier.verify(&code, now()).map_err(|e| e.code()),
        Err("code.bad_cbor")
    );

    let not_cose = format!("{PREFIX}{}", base45::encode(&[0x83, 0x01, 0x02, 0x03]));
    assert_eq!(
        verifier.verify(&not_cose, now()).map_err(|e| e.code()),
        Err("code.bad_cose")
    );

    let huge = format!("{PREFIX}{}", "A".repeat(10_000));
    assert_eq!(
        verifier.verify(&huge, now()).map_err(|e| e.code()),
        Err("code.too_large")
    );
}

#[test]
fn consent_scope_survives_the_round_trip() {
    let (minter, verifier) = setup(Profile::Hmac);
    let scoped = HolderClaims {
        scope: Some(vec!["resident-id-card".into(), "driving-licence".into()]),
        ..claims()
    };
    let verified = verifier
        .verify(&minter.mint(&scoped), now())
        .expect("verifies");
    assert!(verified.claims.allows("driving-licence"));
    assert!(!verified.claims.allows("business-licence"));
}

#[test]
fn trusted_key_from_a_signing_key_matches_its_kid() {
    let k = key(Profile::Es256);
    let t: TrustedKey = k.trusted();
    assert_eq!(t.kid(), k.kid());
}

/// [`Verifier::check`] by its two halves, the signature made in between as a batch would.
fn check_in_halves(verifier: &Verifier, text: &str) -> Result<VerifiedCode, CodeError> {
    let decoded = verifier.decode(text)?;
    match verifier.detach_signature(&decoded, now())? {
        Some(check) if crate::keys::verify_ed25519_batch(&[&check]) == [true] => {
            verifier.check_with_signature_verified(&decoded, now())
        }
        Some(_) => Err(CodeError::BadSignature),
        None => verifier.check(&decoded, now()),
    }
}

#[test]
fn the_two_halves_of_check_answer_as_check_does() {
    for profile in Profile::ALL {
        let (minter, verifier) = setup(profile);
        let good = minter.mint(&claims());
        let mut bytes = base45::decode(&good[PREFIX.len()..]).expect("base45");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let flipped = format!("{PREFIX}{}", base45::encode(&bytes));
        let expired = minter.mint(&HolderClaims {
            issued_at: NOW - 200,
            expires_at: NOW - 100,
            ..claims()
        });
        let too_long = minter.mint(&HolderClaims {
            expires_at: NOW + 3 * 24 * 3600,
            ..claims()
        });
        let stranger = setup(profile).0.mint(&claims());
        let others = Verifier::new(verifier.trust_list().clone()).accept(&[Profile::Es256]);
        for code in [&good, &flipped, &expired, &too_long, &stranger] {
            for v in [&verifier, &others] {
                assert_eq!(
                    check_in_halves(v, code),
                    v.check(&v.decode(code).expect("decodes"), now()),
                    "{profile:?}"
                );
            }
        }
    }
    // A key id swapped to a key of another algorithm: a bad signature both ways.
    let (verifier, code) = key_id_swapped_to_a_mac_key();
    assert_eq!(
        check_in_halves(&verifier, &code),
        Err(CodeError::BadSignature)
    );
}

/// Claim times a signer may put in a code without the verifier's arithmetic overflowing: a
/// crafted code with extreme `iat`/`exp` used to pass the lifetime limit (`exp - iat` wrapped).
#[test]
fn extreme_claim_times_are_refused_not_overflowed() {
    let (minter, verifier) = setup(Profile::Hmac);
    let cases = [
        (i64::MIN, i64::MAX, "code.time_out_of_range"),
        (-1, i64::MAX, "code.time_out_of_range"),
        (NOW - 10, i64::MAX, "code.time_out_of_range"),
        (i64::MIN, NOW + 110, "code.time_out_of_range"),
        (i64::MIN + 1, i64::MAX - 1, "code.time_out_of_range"),
        (-(NOW - 10), NOW + 110, "code.time_out_of_range"),
        // Within range but the code "ends" before it begins.
        (NOW + 20, NOW + 10, "code.expires_before_issued"),
        // The largest time still in range: the lifetime limit, not a wrap, refuses it.
        (NOW - 10, claims::MAX_TIME, "code.lifetime_too_long"),
    ];
    for (issued_at, expires_at, expected) in cases {
        let code = minter.mint(&HolderClaims {
            issued_at,
            expires_at,
            ..claims()
        });
        assert_eq!(
            verifier
                .verify(&code, now())
                .map(|_| ())
                .map_err(|e| e.code()),
            Err(expected),
            "iat {issued_at}, exp {expires_at}"
        );
    }
}
