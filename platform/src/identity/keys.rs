//! Which keys of a JWKS document may verify tokens, and with which algorithm: a P-256 key for
//! ES256, an Ed25519 key for EdDSA, an RSA key of at least 2048 bits for RS256 and/or PS256
//! (as its `alg` says; both when it says nothing). Symmetric (`oct`) keys, encryption keys,
//! other curves and keys without an id are left out, each with the reason logged by the cache.
//! A key id that appears twice is left out altogether: which of the two signed is ambiguous.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::header::MAX_KID_LEN;

/// Smallest RSA modulus accepted, in bytes (2048 bits).
pub const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One of the provider's keys, ready to verify.
#[derive(Debug)]
pub(crate) struct VerificationKey {
    pub kid: String,
    /// The algorithms this key may verify: one, or RS256 and PS256 for an RSA key without
    /// `alg`.
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

/// The provider's usable keys by id.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, Arc<VerificationKey>>,
}

impl KeySet {
    pub fn get(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        self.keys.get(kid).cloned()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.keys.keys().cloned().collect();
        ids.sort_unstable();
        ids
    }
}

/// A JWKS document read: its usable keys, and why each other key was left out.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub keys: KeySet,
    pub skipped: Vec<String>,
}

/// Reads a JWKS document. Fails only when it is not one (not JSON, no `keys` array); a
/// document whose every key is left out parses into an empty set, for the caller to refuse.
pub(crate) fn parse(body: &[u8]) -> Result<Parsed, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document = serde_json::from_slice(body)
        .map_err(|e| format!("not a JSON object with a `keys` array: {e}"))?;
    let mut skipped = Vec::new();
    let mut usable: Vec<VerificationKey> = Vec::new();
    for (i, value) in document.keys.into_iter().enumerate() {
        let jwk: Jwk = match serde_json::from_value(value) {
            Ok(jwk) => jwk,
            Err(e) => {
                skipped.push(format!("key {i}: not a JWK: {e}"));
                continue;
            }
        };
        match verification_key(&jwk) {
            Ok(key) => usable.push(key),
            Err(reason) => skipped.push(format!(
                "key {i} (`{}`): {reason}",
                jwk.common.key_id.as_deref().unwrap_or("no kid")
            )),
        }
    }
    let mut count: HashMap<String, usize> = HashMap::new();
    for key in &usable {
        *count.entry(key.kid.clone()).or_default() += 1;
    }
    let mut keys = HashMap::new();
    for key in usable {
        if count.get(&key.kid).copied().unwrap_or(0) > 1 {
            skipped.push(format!("key `{}`: its id is used twice", key.kid));
        } else {
            keys.insert(key.kid.clone(), Arc::new(key));
        }
    }
    Ok(Parsed {
        keys: KeySet { keys },
        skipped,
    })
}

/// The key `jwk` describes, if it may verify tokens.
fn verification_key(jwk: &Jwk) -> Result<VerificationKey, String> {
    let kid = match &jwk.common.key_id {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => kid.clone(),
        Some(_) => return Err(format!("its `kid` is not 1 to {MAX_KID_LEN} characters")),
        None => return Err("it has no `kid`".into()),
    };
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("its `use` is not `sig`".into()),
    }
    if let Some(ops) = &jwk.common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return Err("its `key_ops` do not include `verify`".into());
        }
    }
    let alg = jwk.common.key_algorithm;
    let algorithms = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => {
            if ec.curve != EllipticCurve::P256 {
                return Err(format!(
                    "curve {:?} is not accepted (EC keys are P-256, for ES256)",
                    ec.curve
                ));
            }
            only(alg, KeyAlgorithm::ES256)?;
            let x = coordinate(&ec.x, "x")?;
            let y = coordinate(&ec.y, "y")?;
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(0x04);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            p256::PublicKey::from_sec1_bytes(&sec1)
                .map_err(|_| "its point is not on the P-256 curve".to_string())?;
            vec![Algorithm::ES256]
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            if okp.curve != EllipticCurve::Ed25519 {
                return Err(format!(
                    "curve {:?} is not accepted (OKP keys are Ed25519, for EdDSA)",
                    okp.curve
                ));
            }
            only(alg, KeyAlgorithm::EdDSA)?;
            coordinate(&okp.x, "x")?;
            vec![Algorithm::EdDSA]
        }
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD
                .decode(&rsa.n)
                .map_err(|_| "its modulus `n` is not base64url".to_string())?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err(format!(
                    "its modulus has {} bits, fewer than 2048",
                    significant * 8
                ));
            }
            let e = URL_SAFE_NO_PAD
                .decode(&rsa.e)
                .map_err(|_| "its exponent `e` is not base64url".to_string())?;
            if e.is_empty() || e.len() > 8 {
                return Err("its exponent `e` is not 1 to 8 bytes".into());
            }
            match alg {
                None => vec![Algorithm::RS256, Algorithm::PS256],
                Some(KeyAlgorithm::RS256) => vec![Algorithm::RS256],
                Some(KeyAlgorithm::PS256) => vec![Algorithm::PS256],
                Some(other) => {
                    return Err(format!(
                        "its `alg` {other:?} is not accepted (RSA keys: RS256 or PS256)"
                    ))
                }
            }
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (`oct`) key is never used to verify tokens".into())
        }
        _ => return Err("its key type is not EC, OKP or RSA".into()),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable: {e}"))?;
    Ok(VerificationKey {
        kid,
        algorithms,
        key,
    })
}

/// A key whose type admits one algorithm: its `alg`, if it says one, must be that.
fn only(alg: Option<KeyAlgorithm>, expected: KeyAlgorithm) -> Result<(), String> {
    match alg {
        None => Ok(()),
        Some(alg) if alg == expected => Ok(()),
        Some(alg) => Err(format!(
            "its `alg` {alg:?} does not fit its key type (expected {expected:?})"
        )),
    }
}

/// A 32-byte coordinate (P-256 `x`/`y`, Ed25519 `x`).
fn coordinate(b64: &str, name: &str) -> Result<Vec<u8>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| format!("its `{name}` is not base64url"))?;
    if bytes.len() != 32 {
        return Err(format!("its `{name}` is not 32 bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A valid P-256 public key (the generator point).
    fn p256_point() -> (String, String) {
        let point = p256::PublicKey::from_sec1_bytes(
            &hex::decode(
                "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
                 4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
            )
            .expect("hex"),
        )
        .expect("on the curve");
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let encoded = point.to_encoded_point(false);
        (
            URL_SAFE_NO_PAD.encode(encoded.x().expect("x")),
            URL_SAFE_NO_PAD.encode(encoded.y().expect("y")),
        )
    }

    fn parse_value(document: serde_json::Value) -> Parsed {
        parse(document.to_string().as_bytes()).expect("a JWKS")
    }

    #[test]
    fn keeps_signing_keys_and_says_why_others_are_left_out() {
        let (x, y) = p256_point();
        let parsed = parse_value(json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "ec", "use": "sig", "alg": "ES256"},
            {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([7u8; 32]), "kid": "ed"},
            {"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB", "kid": "rsa"},
            {"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB", "kid": "rsa-1024"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "enc", "use": "enc"},
            {"kty": "EC", "crv": "P-256", "x": x, "y": y},
            {"kty": "EC", "crv": "P-256", "x": x, "y": x, "kid": "off-curve"},
            {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "wrong-alg", "alg": "RS256"},
            {"kty": "EC", "crv": "P-384", "x": x, "y": y, "kid": "p384"},
            {"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB", "kid": "rs512", "alg": "RS512"},
            {"kty": "XYZ", "kid": "odd"},
            "not even an object",
        ]}));
        assert_eq!(parsed.keys.ids(), ["ec", "ed", "rsa"]);
        assert_eq!(parsed.skipped.len(), 10, "{:#?}", parsed.skipped);
        assert!(parsed.skipped.iter().any(|s| s.contains("symmetric")));
        let ec = parsed.keys.get("ec").expect("ec");
        assert_eq!(ec.algorithms, [Algorithm::ES256]);
        let rsa = parsed.keys.get("rsa").expect("rsa");
        assert_eq!(rsa.algorithms, [Algorithm::RS256, Algorithm::PS256]);
        assert_eq!(
            parsed.keys.get("ed").expect("ed").algorithms,
            [Algorithm::EdDSA]
        );
    }

    #[test]
    fn a_kid_used_twice_is_dropped() {
        let (x, y) = p256_point();
        let key = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "same"});
        let parsed = parse_value(json!({"keys": [key.clone(), key]}));
        assert!(parsed.keys.is_empty());
    }

    #[test]
    fn garbage_is_not_a_jwks() {
        for garbage in [&b"<html>"[..], b"{}", b"{\"keys\": 1}", b"[]", b""] {
            assert!(parse(garbage).is_err());
        }
        assert!(parse(b"{\"keys\": []}").expect("a JWKS").keys.is_empty());
    }
}
