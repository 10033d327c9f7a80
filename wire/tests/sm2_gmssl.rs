//! SM2 across implementations: signatures we make verify with the pure-Python `gmssl` package,
//! and signatures it makes (with a key pair of its own) verify with ours; each side refuses the
//! other's signature over another message. The Python side is `sm2_gmssl.py` beside this file.
//!
//! `gmssl` is installed by `.ci/run`; without it this test fails, naming `pip install gmssl`.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use wire::keys::{Algorithm, KeyError, SigningKey, TrustList, Validity};

/// Runs the Python side with `args`; its standard output, trimmed.
fn gmssl(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sm2_gmssl.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `python3 {}`: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(3),
        "the SM2 cross-implementation test needs the Python package gmssl: run `pip install \
         gmssl` (.ci/run does). {stderr}"
    );
    assert!(
        out.status.success(),
        "sm2_gmssl.py {args:?} failed: {stderr}"
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// The SubjectPublicKeyInfo of an SM2 point `x ‖ y`: id-ecPublicKey on sm2p256v1.
fn sm2_spki(point: &[u8]) -> Vec<u8> {
    let mut der =
        hex::decode("3059301306072a8648ce3d020106082a811ccf5501822d03420004").expect("hex");
    der.extend_from_slice(point);
    der
}

/// The point `x ‖ y` of an SM2 key, read from its trust-list entry (the point ends its
/// SubjectPublicKeyInfo).
fn point_of(key: &SigningKey) -> Vec<u8> {
    let text = TrustList::new([key.trusted()]).to_toml();
    let file: toml::Table = toml::from_str(&text).expect("toml");
    let spki = B64
        .decode(file["key"][0]["public"].as_str().expect("public"))
        .expect("base64");
    assert_eq!(
        spki[..spki.len() - 64],
        sm2_spki(&[])[..],
        "an SM2 key's SPKI"
    );
    spki[spki.len() - 64..].to_vec()
}

#[test]
fn our_signatures_verify_with_gmssl() {
    let key = SigningKey::generate(Algorithm::Sm2, "t", Validity::default()).expect("key");
    let public = hex::encode(point_of(&key));
    for message in [&b"message digest"[..], b"", &[0xa5; 300]] {
        let signature = key.sign(message);
        assert_eq!(
            gmssl(&[
                "verify",
                &public,
                &hex::encode(message),
                &hex::encode(&signature)
            ]),
            "valid",
            "message {}",
            hex::encode(message)
        );
        assert_eq!(
            gmssl(&[
                "verify",
                &public,
                &hex::encode([message, b"!"].concat()),
                &hex::encode(&signature)
            ]),
            "invalid"
        );
    }
}

#[test]
fn gmssl_signatures_verify_with_ours() {
    for message in [&b"message digest"[..], b"", &[0x5a; 300]] {
        let answer = gmssl(&["sign", &hex::encode(message)]);
        let (public, signature) = answer.split_once(' ').expect("`PUBLIC SIGNATURE`");
        let spki = sm2_spki(&hex::decode(public).expect("hex"));
        let trust = TrustList::parse(&format!(
            "[[key]]\nkid = \"Z21zc2w=\"\nowner = \"gmssl\"\nalg = \"SM2\"\npublic = \"{}\"\n",
            B64.encode(spki)
        ))
        .expect("gmssl's public key loads");
        let key = trust.keys().next().expect("one key");
        let signature = hex::decode(signature).expect("hex");
        assert_eq!(signature.len(), 64);
        key.verify(Algorithm::Sm2, message, &signature)
            .expect("gmssl's signature verifies");
        assert!(matches!(
            key.verify(Algorithm::Sm2, &[message, b"!"].concat(), &signature),
            Err(KeyError::BadSignature)
        ));
    }
}
