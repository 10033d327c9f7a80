//! The 国密 profile against published examples and bad input.
//!
//! - SM3: the two examples of GB/T 32905-2016 (Appendix A, the same as GM/T 0004-2012).
//! - SM2: the signature example on the recommended curve of GM/T 0003.5-2012 (Appendix A),
//!   whose parameters GB/T 32918.5-2017 publishes; user ID `1234567812345678`, the default.
//!   (The examples of GB/T 32918.2 itself use a test curve, which no implementation here
//!   supports.)
//! - Bad input: a signature under another user ID, a point not on the curve, `r` or `s` zero or
//!   not below the order, a truncated signature — refused as `code.bad_signature` (or, for the
//!   point, when the trust list loads), never a panic.
//! - SM2's private-use COSE identifier: an SM2 key verifies under no other, no other key under it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use coset::{CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _};
use sm3::{Digest as _, Sm3};
use wire::catalogue::model::HolderKind;
use wire::code::{envelope, HolderClaims, Minter, Purpose, Verifier, PREFIX};
use wire::keys::{Algorithm, KeyError, SigningKey, TrustList, TrustedKey, Validity, SM2_COSE_ID};

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.replace(' ', "")).expect("hex")
}

#[test]
fn sm3_examples_of_gb_t_32905() {
    // GB/T 32905-2016, A.1: "abc".
    assert_eq!(
        Sm3::digest(b"abc").to_vec(),
        unhex("66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0")
    );
    // A.2: "abcd" sixteen times, 512 bits.
    assert_eq!(
        Sm3::digest("abcd".repeat(16)).to_vec(),
        unhex("debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732")
    );
}

/// The worked example of GM/T 0003.5-2012, Appendix A (recommended curve, GB/T 32918.5).
mod recommended_curve_example {
    pub const PRIVATE: &str =
        "3945208F 7B2144B1 3F36E38A C6D39F95 88939369 2860B51A 42FB81EF 4DF7C5B8";
    pub const PUBLIC_X: &str =
        "09F9DF31 1E5421A1 50DD7D16 1E4BC5C6 72179FAD 1833FC07 6BB08FF3 56F35020";
    pub const PUBLIC_Y: &str =
        "CCEA490C E26775A5 2DC6EA71 8CC1AA60 0AED05FB F35E084A 6632F607 2DA9AD13";
    pub const MESSAGE: &[u8] = b"message digest";
    pub const USER_ID: &[u8] = b"1234567812345678";
    /// `e = SM3(Z ‖ M)`.
    pub const E: &str = "F0B43E94 BA45ACCA ACE692ED 534382EB 17E6AB5A 19CE7B31 F4486FDF C0D28640";
    pub const R: &str = "F5A03B06 48D2C463 0EEAC513 E1BB81A1 5944DA38 27D5B741 43AC7EAC EEE720B3";
    pub const S: &str = "B1B6AA29 DF212FD8 763182BC 0D421CA1 BB9038FD 1F7F42D4 840B69C4 85BBC1AA";

    /// The recommended curve's `a`, `b` and base point (GB/T 32918.5-2017, clause 3).
    pub const A: &str = "FFFFFFFE FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF 00000000 FFFFFFFF FFFFFFFC";
    pub const B: &str = "28E9FA9E 9D9F5E34 4D5A9E4B CF6509A7 F39789F5 15AB8F92 DDBCBD41 4D940E93";
    pub const G_X: &str = "32C4AE2C 1F198119 5F990446 6A39C994 8FE30BBF F2660BE1 715A4589 334C74C7";
    pub const G_Y: &str = "BC3736A2 F4F6779C 59BDCEE3 6B692153 D0A9877C C62A4740 02DF32E5 2139F0A0";
}

/// The SubjectPublicKeyInfo of an SM2 point given as `x`, `y`.
fn sm2_spki(x: &[u8], y: &[u8]) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { id-ecPublicKey, sm2p256v1 }, BIT STRING 04 ‖ x ‖ y }
    let mut der = unhex("3059 3013 0607 2a8648ce3d0201 0608 2a811ccf5501822d 0342 00 04");
    der.extend_from_slice(x);
    der.extend_from_slice(y);
    der
}

fn trust_entry(alg: &str, spki: &[u8]) -> Result<TrustList, KeyError> {
    TrustList::parse(&format!(
        "[[key]]\nkid = \"c20y\"\nowner = \"t\"\nalg = \"{alg}\"\npublic = \"{}\"\n",
        B64.encode(spki)
    ))
}

fn only_key(list: &TrustList) -> TrustedKey {
    list.keys().next().expect("one key").clone()
}

#[test]
fn the_recommended_curve_example_verifies() {
    use recommended_curve_example::*;
    let (x, y) = (unhex(PUBLIC_X), unhex(PUBLIC_Y));

    // The example's hash, computed the way the standard states it: Z then e.
    let z = Sm3::new()
        .chain_update(((USER_ID.len() * 8) as u16).to_be_bytes())
        .chain_update(USER_ID)
        .chain_update(unhex(A))
        .chain_update(unhex(B))
        .chain_update(unhex(G_X))
        .chain_update(unhex(G_Y))
        .chain_update(&x)
        .chain_update(&y)
        .finalize();
    let e = Sm3::new().chain_update(z).chain_update(MESSAGE).finalize();
    assert_eq!(e.to_vec(), unhex(E));

    // Its signature verifies with our trust-list entry for its public key.
    let key = only_key(&trust_entry("SM2", &sm2_spki(&x, &y)).expect("the example's key"));
    assert_eq!(key.algorithm(), Algorithm::Sm2);
    let mut signature = unhex(R);
    signature.extend(unhex(S));
    key.verify(Algorithm::Sm2, MESSAGE, &signature)
        .expect("the published signature verifies");
    assert!(matches!(
        key.verify(Algorithm::Sm2, b"message digesT", &signature),
        Err(KeyError::BadSignature)
    ));

    // Its private key, loaded from a key file, has that public key and signs what verifies.
    let secret = format!(
        "[[key]]\nkid = \"c20y\"\nowner = \"t\"\nalg = \"SM2\"\nsecret = \"{}\"\n",
        B64.encode(unhex(PRIVATE))
    );
    let signing = &wire::keys::parse_signing_keys(&secret).expect("the example's private key")[0];
    assert_eq!(signing.trusted().fingerprint(), key.fingerprint());
    key.verify(Algorithm::Sm2, MESSAGE, &signing.sign(MESSAGE))
        .expect("our signature verifies");
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("time")
}

fn claims() -> HolderClaims {
    let now = now().timestamp();
    HolderClaims {
        issuer: "mianzheng-platform".into(),
        subject: "sm2-000001".into(),
        kind: HolderKind::Person,
        city: Some(370100),
        issued_at: now - 5,
        expires_at: now + 115,
        nonce: vec![7; 16],
        scope: None,
        purpose: Purpose::Presentation,
        presenter: None,
        medium: Default::default(),
    }
}

/// A code with `claims()` and the key id of `key`, under the COSE algorithm `alg`, with the
/// signature `sign` makes of the bytes COSE signs.
fn code_under(key: &SigningKey, alg: Algorithm, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let mut payload = Vec::new();
    ciborium::ser::into_writer(&claims().to_value(), &mut payload).expect("cbor");
    let mut protected = HeaderBuilder::new()
        .key_id(key.kid().as_bytes().to_vec())
        .build();
    protected.alg = Some(wire::code::cose::header_algorithm(alg));
    let cose = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(b"", sign)
        .build()
        .to_tagged_vec()
        .expect("cose");
    envelope::seal(&cose, PREFIX, false)
}

/// The code signed by `key`, whatever algorithm it names.
fn signed_code(key: &SigningKey, alg: Algorithm) -> String {
    code_under(key, alg, |data| key.sign(data))
}

fn sm2_key() -> SigningKey {
    SigningKey::generate(Algorithm::Sm2, "mianzheng-platform", Validity::default()).expect("key")
}

fn refusal(verifier: &Verifier, code: &str) -> Option<&'static str> {
    verifier.verify(code, now()).err().map(|e| e.code())
}

#[test]
fn an_sm2_code_round_trips_under_its_private_use_identifier() {
    let key = sm2_key();
    let verifier = Verifier::new(TrustList::new([key.trusted()]));
    let code = Minter::new(key.clone()).mint(&claims());
    let verified = verifier.verify(&code, now()).expect("verifies");
    assert_eq!(verified.algorithm, Algorithm::Sm2);
    assert_eq!(
        verifier.decode(&code).expect("decodes").message.algorithm(),
        Algorithm::Sm2
    );
    // Built by hand under -65537, the same code verifies.
    assert_eq!(refusal(&verifier, &signed_code(&key, Algorithm::Sm2)), None);
    assert_eq!(Algorithm::from_cose_id(SM2_COSE_ID), Some(Algorithm::Sm2));
    assert_eq!(Algorithm::Sm2.cose_id(), SM2_COSE_ID);
}

#[test]
fn sm2_and_its_identifier_never_stand_for_another_algorithm() {
    let sm2 = sm2_key();
    let es256 = SigningKey::generate(Algorithm::Es256, "mianzheng-platform", Validity::default())
        .expect("key");
    let verifier = Verifier::new(TrustList::new([sm2.trusted(), es256.trusted()]));
    // Only -65537 names SM2.
    for alg in Algorithm::ALL {
        assert_eq!(alg == Algorithm::Sm2, alg.cose_id() == SM2_COSE_ID, "{alg}");
    }
    // An SM2 key's signature (64 bytes, as ES256's) under every other identifier: refused.
    for alg in Algorithm::ALL.into_iter().filter(|a| *a != Algorithm::Sm2) {
        let code = signed_code(&sm2, alg);
        assert_ne!(refusal(&verifier, &code), None, "SM2 key under {alg}");
        assert!(matches!(
            sm2.trusted().verify(alg, b"m", &sm2.sign(b"m")),
            Err(KeyError::WrongAlgorithm { .. })
        ));
    }
    assert_eq!(
        refusal(&verifier, &signed_code(&sm2, Algorithm::Es256)),
        Some("code.bad_signature")
    );
    // Another key under -65537: refused.
    for alg in [
        Algorithm::EdDsa,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Hmac256,
    ] {
        let other =
            SigningKey::generate(alg, "mianzheng-platform", Validity::default()).expect("key");
        let verifier = Verifier::new(TrustList::new([other.trusted()]));
        let code = signed_code(&other, Algorithm::Sm2);
        assert_ne!(refusal(&verifier, &code), None, "{alg} key under SM2");
        assert!(matches!(
            other
                .trusted()
                .verify(Algorithm::Sm2, b"m", &other.sign(b"m")),
            Err(KeyError::WrongAlgorithm { .. })
        ));
    }
    assert_eq!(
        refusal(&verifier, &signed_code(&es256, Algorithm::Sm2)),
        Some("code.bad_signature")
    );
}

/// The group order n of the recommended curve.
const ORDER: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123";

#[test]
fn bad_sm2_signatures_are_bad_signatures_not_panics() {
    let key = sm2_key();
    let verifier = Verifier::new(TrustList::new([key.trusted()]));
    let message = b"the bytes a code signs";
    let good = key.sign(message);
    let (r, s) = good.split_at(32);

    // Signed under another user ID by the same private key.
    let secret = key_secret(&key);
    let other_id = sm2::dsa::SigningKey::from_slice("ALICE123@YAHOO.COM", &secret).expect("key");
    let under_other_id = {
        use sm2::dsa::signature::Signer as _;
        let sig: sm2::dsa::Signature = other_id.sign(message);
        sig.to_bytes().to_vec()
    };
    let order = unhex(ORDER);
    let mut order_plus_one = order.clone();
    order_plus_one[31] += 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("another user ID", under_other_id),
        ("r = 0", [&[0; 32][..], s].concat()),
        ("s = 0", [r, &[0; 32][..]].concat()),
        ("r = n", [&order[..], s].concat()),
        ("s = n", [r, &order[..]].concat()),
        ("s = n + 1", [r, &order_plus_one[..]].concat()),
        ("r = 2^256 - 1", [&[0xff; 32][..], s].concat()),
        ("truncated", good[..63].to_vec()),
        ("r alone", r.to_vec()),
        ("empty", Vec::new()),
        ("a byte more", [&good[..], &[0]].concat()),
    ];
    let trusted = key.trusted();
    for (what, signature) in cases {
        assert!(
            matches!(
                trusted.verify(Algorithm::Sm2, message, &signature),
                Err(KeyError::BadSignature)
            ),
            "{what}"
        );
        let code = code_under(&key, Algorithm::Sm2, |_| signature.clone());
        assert_eq!(
            refusal(&verifier, &code),
            Some("code.bad_signature"),
            "{what}"
        );
    }
    assert!(trusted.verify(Algorithm::Sm2, message, &good).is_ok());
}

/// The raw private scalar of an SM2 signing key, as its key file holds it.
fn key_secret(key: &SigningKey) -> Vec<u8> {
    let text = wire::keys::signing_keys_to_toml(std::slice::from_ref(key));
    let file: toml::Table = toml::from_str(&text).expect("toml");
    let secret = file["key"][0]["secret"].as_str().expect("secret");
    B64.decode(secret).expect("base64")
}

#[test]
fn an_sm2_point_not_on_the_curve_is_refused_when_the_trust_list_loads() {
    use recommended_curve_example::*;
    let x = unhex(PUBLIC_X);
    let mut y = unhex(PUBLIC_Y);
    assert!(trust_entry("SM2", &sm2_spki(&x, &y)).is_ok());
    y[31] ^= 1;
    let err = trust_entry("SM2", &sm2_spki(&x, &y)).expect_err("off the curve");
    assert!(
        matches!(&err, KeyError::Material { message, .. } if message.contains("not an SM2 public key")),
        "{err}"
    );
    // The base point's x with y = 0, and the all-zero point: not on the curve either.
    for (x, y) in [(unhex(G_X), vec![0; 32]), (vec![0; 32], vec![0; 32])] {
        assert!(trust_entry("SM2", &sm2_spki(&x, &y)).is_err());
    }
    // An SM2 key listed under another algorithm is refused too.
    let err = trust_entry("ES256", &sm2_spki(&unhex(PUBLIC_X), &unhex(PUBLIC_Y)))
        .expect_err("alg mismatch");
    assert!(err.to_string().contains("public key is for SM2"), "{err}");
}

#[test]
fn sm2_keys_round_trip_through_key_files_and_spki() {
    let key = sm2_key();
    let reloaded = &wire::keys::parse_signing_keys(&wire::keys::signing_keys_to_toml(
        std::slice::from_ref(&key),
    ))
    .expect("key file")[0];
    assert_eq!(reloaded.kid(), key.kid());
    assert_eq!(reloaded.algorithm(), Algorithm::Sm2);
    let trust = TrustList::parse(&TrustList::new([reloaded.trusted()]).to_toml()).expect("trust");
    let entry = only_key(&trust);
    assert_eq!(entry.fingerprint(), key.trusted().fingerprint());
    entry
        .verify(Algorithm::Sm2, b"m", &key.sign(b"m"))
        .expect("verifies");
    // The trust list carries the SubjectPublicKeyInfo: id-ecPublicKey on sm2p256v1.
    let text = trust.to_toml();
    let file: toml::Table = toml::from_str(&text).expect("toml");
    let spki = B64
        .decode(file["key"][0]["public"].as_str().expect("public"))
        .expect("base64");
    assert_eq!(
        spki[..27],
        unhex("3059 3013 0607 2a8648ce3d0201 0608 2a811ccf5501822d 0342 00 04")[..]
    );
    // A private scalar of zero, or not below n, is no key.
    for bad in [vec![0u8; 32], unhex(ORDER), vec![0xff; 32], vec![1; 31]] {
        let text = format!(
            "[[key]]\nkid = \"c20y\"\nowner = \"t\"\nalg = \"SM2\"\nsecret = \"{}\"\n",
            B64.encode(bad)
        );
        assert!(wire::keys::parse_signing_keys(&text).is_err());
    }
}
