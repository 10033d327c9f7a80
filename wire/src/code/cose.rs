//! COSE_Sign1 and COSE_Mac0 (RFC 9052) as holder codes use them, parsed with `coset` under
//! strict rules:
//!
//! - CBOR nesting is bounded and the message must be the whole input (no trailing bytes);
//! - the CWT tag (61) may wrap the COSE tag; untagged messages are typed by their algorithm;
//! - the algorithm is read from the protected header only ([`HeaderPolicy::Strict`], our codes);
//!   the EU DCC also accepts it from the unprotected header when the protected header is empty
//!   ([`HeaderPolicy::Dcc`], vector CO20). Either way a key verifies only under its own
//!   algorithm, so the header cannot substitute one algorithm for another;
//! - the key id comes from the protected header, or — only where that has none — from the
//!   unprotected header, as a look-up hint (EU DCC vectors CO18–CO23);
//! - a critical header we do not understand is refused.

use chrono::{DateTime, Utc};
use ciborium::value::Value;
use coset::{AsCborValue as _, CoseMac0, CoseSign1, Header, RegisteredLabel};

use super::error::CodeError;
use crate::keys::{Algorithm, Ed25519Check, KeyError, KeyId, SigningKey, TrustList, TrustedKey};

const TAG_CWT: u64 = 61;
const TAG_SIGN1: u64 = 18;
const TAG_MAC0: u64 = 17;

#[derive(Debug, Clone)]
enum Body {
    Sign1(CoseSign1),
    Mac0(CoseMac0),
}

/// A parsed, not yet verified COSE message with its algorithm and key id resolved.
#[derive(Debug, Clone)]
pub struct CoseMessage {
    body: Body,
    alg: Algorithm,
    kid: KeyId,
}

fn parse_value(bytes: &[u8], max_depth: usize) -> Result<Value, CodeError> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, max_depth)
        .map_err(|e| CodeError::Cbor(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodeError::Cbor(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(value)
}

fn check_critical(protected: &Header, unprotected: &Header) -> Result<(), CodeError> {
    if !unprotected.crit.is_empty() {
        return Err(CodeError::UnknownCriticalHeader(
            "`crit` in the unprotected header".into(),
        ));
    }
    use coset::iana::HeaderParameter as H;
    for label in &protected.crit {
        let understood = matches!(
            label,
            RegisteredLabel::Assigned(H::Alg | H::Crit | H::ContentType | H::Kid)
        );
        if !understood {
            return Err(CodeError::UnknownCriticalHeader(format!("{label:?}")));
        }
    }
    Ok(())
}

/// Where the algorithm may be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderPolicy {
    /// Only from the protected header: our holder codes.
    Strict,
    /// From the protected header, or from the unprotected one when the protected header is
    /// empty: EU DCC interoperability.
    Dcc,
}

fn algorithm(header: &Header) -> Result<Algorithm, CodeError> {
    use coset::{Algorithm as A, RegisteredLabelWithPrivate as R};
    let id = match &header.alg {
        None => return Err(CodeError::MissingAlgorithm),
        Some(R::Assigned(a)) => *a as i64,
        Some(R::PrivateUse(i)) => *i,
        Some(A::Text(_)) => return Err(CodeError::UnsupportedAlgorithm(0)),
    };
    Algorithm::from_cose_id(id).ok_or(CodeError::UnsupportedAlgorithm(id))
}

/// The header value naming `alg`: its IANA entry, or its private-use value (SM2,
/// [`crate::keys::SM2_COSE_ID`]).
pub fn header_algorithm(alg: Algorithm) -> coset::Algorithm {
    use coset::iana::EnumI64 as _;
    use coset::RegisteredLabelWithPrivate as R;
    match coset::iana::Algorithm::from_i64(alg.cose_id()) {
        Some(registered) => R::Assigned(registered),
        None => R::PrivateUse(alg.cose_id()),
    }
}

fn key_id(protected: &Header, unprotected: &Header) -> Result<KeyId, CodeError> {
    let kid = if !protected.key_id.is_empty() {
        &protected.key_id
    } else if !unprotected.key_id.is_empty() {
        &unprotected.key_id
    } else {
        return Err(CodeError::MissingKeyId);
    };
    Ok(KeyId::new(kid.clone()))
}

impl CoseMessage {
    /// Parses COSE bytes (already out of base45 and zlib) under the strict header policy.
    pub fn parse(bytes: &[u8], max_depth: usize) -> Result<CoseMessage, CodeError> {
        CoseMessage::parse_with(bytes, max_depth, HeaderPolicy::Strict)
    }

    /// Parses COSE bytes under the given header policy.
    pub fn parse_with(
        bytes: &[u8],
        max_depth: usize,
        policy: HeaderPolicy,
    ) -> Result<CoseMessage, CodeError> {
        let mut value = parse_value(bytes, max_depth)?;
        if let Value::Tag(TAG_CWT, inner) = value {
            value = *inner;
        }
        let (tag, value) = match value {
            Value::Tag(tag, inner) => (Some(tag), *inner),
            other => (None, other),
        };
        let not_cose = |e: coset::CoseError| CodeError::NotCose(e.to_string());
        let body = match tag {
            Some(TAG_SIGN1) => Body::Sign1(CoseSign1::from_cbor_value(value).map_err(not_cose)?),
            Some(TAG_MAC0) => Body::Mac0(CoseMac0::from_cbor_value(value).map_err(not_cose)?),
            Some(other) => return Err(CodeError::NotCose(format!("unexpected tag {other}"))),
            // Untagged: both are 4-element arrays; the algorithm decides, checked below.
            None => match CoseSign1::from_cbor_value(value).map_err(not_cose)? {
                s if algorithm(&s.protected.header).is_ok_and(Algorithm::is_mac) => {
                    Body::Mac0(CoseMac0 {
                        protected: s.protected,
                        unprotected: s.unprotected,
                        payload: s.payload,
                        tag: s.signature,
                    })
                }
                s => Body::Sign1(s),
            },
        };
        let (protected, unprotected, payload) = match &body {
            Body::Sign1(s) => (&s.protected.header, &s.unprotected, &s.payload),
            Body::Mac0(m) => (&m.protected.header, &m.unprotected, &m.payload),
        };
        if payload.is_none() {
            return Err(CodeError::NotCose("detached payload".into()));
        }
        check_critical(protected, unprotected)?;
        let alg = match policy {
            HeaderPolicy::Dcc if protected.is_empty() => algorithm(unprotected)?,
            _ => algorithm(protected)?,
        };
        match (&body, alg.is_mac()) {
            (Body::Sign1(_), true) => {
                return Err(CodeError::WrongMessageType("MAC algorithm in COSE_Sign1"))
            }
            (Body::Mac0(_), false) => {
                return Err(CodeError::WrongMessageType(
                    "signature algorithm in COSE_Mac0",
                ))
            }
            _ => {}
        }
        let kid = key_id(protected, unprotected)?;
        Ok(CoseMessage { body, alg, kid })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn key_id(&self) -> &KeyId {
        &self.kid
    }

    /// The payload bytes (unverified until [`CoseMessage::verify`] succeeds).
    pub fn payload(&self) -> &[u8] {
        let payload = match &self.body {
            Body::Sign1(s) => &s.payload,
            Body::Mac0(m) => &m.payload,
        };
        payload.as_deref().unwrap_or_default()
    }

    /// The payload parsed as CBOR with the same nesting bound.
    pub fn payload_value(&self, max_depth: usize) -> Result<Value, CodeError> {
        parse_value(self.payload(), max_depth).map_err(|e| match e {
            CodeError::Cbor(m) => CodeError::BadClaims(m),
            other => other,
        })
    }

    /// Verifies the signature or MAC with the trusted key of this message's key id that is
    /// valid at `at`.
    pub fn verify(&self, trust: &TrustList, at: DateTime<Utc>) -> Result<(), CodeError> {
        let key = self.key(trust, at)?;
        // A key for another algorithm than the message names means the signer is not who the
        // key id claims: the same answer as a bad signature, deliberately.
        let check = |sig: &[u8], data: &[u8]| {
            key.verify(self.alg, data, sig)
                .map_err(|_| CodeError::BadSignature)
        };
        match &self.body {
            Body::Sign1(s) => s.verify_signature(b"", check),
            Body::Mac0(m) => m.verify_tag(b"", check),
        }
    }

    /// What [`CoseMessage::verify`] checks before the signature arithmetic: a trusted key of
    /// this message's key id, valid at `at`, and of the message's algorithm.
    pub fn check_key(&self, trust: &TrustList, at: DateTime<Utc>) -> Result<(), CodeError> {
        let key = self.key(trust, at)?;
        if key.algorithm() != self.alg {
            // As in `verify`: a key of another algorithm is a bad signature.
            return Err(CodeError::BadSignature);
        }
        Ok(())
    }

    /// The Ed25519 check [`CoseMessage::verify`] would make, without making it, so that a
    /// caller can make many at once ([`crate::keys::verify_ed25519_batch`]): `Ok(Some(check))`
    /// for an EdDSA message whose key is found, `Ok(None)` for any other algorithm (use
    /// [`CoseMessage::verify`]). Fails as `verify` would before the signature arithmetic.
    pub fn ed25519_check(
        &self,
        trust: &TrustList,
        at: DateTime<Utc>,
    ) -> Result<Option<Ed25519Check>, CodeError> {
        let Body::Sign1(sign1) = &self.body else {
            return Ok(None);
        };
        if self.alg != Algorithm::EdDsa {
            return Ok(None);
        }
        let key = self.key(trust, at)?;
        // As in `verify`: a key of another algorithm is a bad signature.
        key.ed25519_check(sign1.tbs_data(b""), &sign1.signature)
            .map(Some)
            .map_err(|_| CodeError::BadSignature)
    }

    fn key<'t>(
        &self,
        trust: &'t TrustList,
        at: DateTime<Utc>,
    ) -> Result<&'t TrustedKey, CodeError> {
        trust.find(&self.kid, at).map_err(|e| match e {
            KeyError::NotValidAt { kid, .. } => CodeError::KeyNotValid(kid),
            _ => CodeError::UnknownKey(self.kid.clone()),
        })
    }
}

/// Signs `payload` with `key` as a tagged COSE_Sign1 (signature keys) or COSE_Mac0 (MAC keys),
/// algorithm and key id in the protected header.
pub fn sign(payload: Vec<u8>, key: &SigningKey) -> Vec<u8> {
    use coset::{CoseMac0Builder, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _};
    let mut protected = HeaderBuilder::new()
        .key_id(key.kid().as_bytes().to_vec())
        .build();
    protected.alg = Some(header_algorithm(key.algorithm()));
    let bytes = if key.algorithm().is_mac() {
        CoseMac0Builder::new()
            .protected(protected)
            .payload(payload)
            .create_tag(b"", |data| key.sign(data))
            .build()
            .to_tagged_vec()
    } else {
        CoseSign1Builder::new()
            .protected(protected)
            .payload(payload)
            .create_signature(b"", |data| key.sign(data))
            .build()
            .to_tagged_vec()
    };
    bytes.expect("a COSE message we built serializes")
}
