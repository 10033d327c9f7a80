//! ECDSA verification on P-256 (ES256) and P-384 (ES384), through `ring`.
//!
//! A key is parsed and checked once, when the trust list is loaded (the point must be on its
//! curve and not the identity); what a verification reads is the uncompressed SEC1 point,
//! kept as bytes. Signatures are the fixed-length `r ‖ s` COSE uses (64 bytes for P-256, 96 for
//! P-384); `r` and `s` must lie in `[1, n − 1]`, and a high `s` is accepted, as ECDSA allows
//! (the Wycheproof vectors in `wire/tests/wycheproof.rs` run against this module).
//!
//! Why `ring` rather than the pure-Rust `p256`/`p384` that still sign: measured with criterion
//! in one run (`cargo bench -p benches --bench stages -- signature/verify`,
//! benches/benches/stages/signature.rs; 2026-12-03, the 2-vCPU dev VM under a concurrent build),
//! a P-256 verification costs 67.3 µs through ring against 307 µs through `p256` (4.6 ×), a
//! P-384 one 1.07 ms against 1.49 ms through `p384` (1.4 ×).

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED};

use super::Algorithm;

/// The curves ECDSA keys may be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (`prime256v1`), for ES256.
    P256,
    /// NIST P-384 (`secp384r1`), for ES384.
    P384,
}

impl Curve {
    /// The curve's OID, as the parameters of an `id-ecPublicKey` SubjectPublicKeyInfo.
    pub const P256_OID: &'static str = "1.2.840.10045.3.1.7";
    pub const P384_OID: &'static str = "1.3.132.0.34";

    fn algorithm(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::Es256,
            Curve::P384 => Algorithm::Es384,
        }
    }

    fn ring(self) -> &'static ring::signature::EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &ECDSA_P384_SHA384_FIXED,
        }
    }
}

/// A trusted ECDSA public key.
#[derive(Debug, Clone)]
pub struct EcdsaKey {
    curve: Curve,
    /// The uncompressed SEC1 point (`04 ‖ x ‖ y`), what ring verifies with.
    point: Box<[u8]>,
    /// The key as SubjectPublicKeyInfo DER, re-encoded from the parsed key (its fingerprint and
    /// trust-list form).
    spki: Box<[u8]>,
}

impl EcdsaKey {
    /// The key of a SubjectPublicKeyInfo on `curve`. Refused: a point not on the curve, the
    /// identity, a key on another curve.
    pub fn from_spki(curve: Curve, der: &[u8]) -> Result<EcdsaKey, String> {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use spki::{DecodePublicKey as _, EncodePublicKey as _};
        let (point, spki) = match curve {
            Curve::P256 => {
                let key = p256::PublicKey::from_public_key_der(der)
                    .map_err(|e| format!("not a P-256 key: {e}"))?;
                (
                    key.to_encoded_point(false).as_bytes().to_vec(),
                    key.to_public_key_der(),
                )
            }
            Curve::P384 => {
                let key = p384::PublicKey::from_public_key_der(der)
                    .map_err(|e| format!("not a P-384 key: {e}"))?;
                (
                    key.to_encoded_point(false).as_bytes().to_vec(),
                    key.to_public_key_der(),
                )
            }
        };
        let spki = spki.map_err(|e| format!("cannot re-encode the key: {e}"))?;
        Ok(EcdsaKey {
            curve,
            point: point.into_boxed_slice(),
            spki: spki.into_vec().into_boxed_slice(),
        })
    }

    /// The one algorithm this key verifies: ES256 on P-256, ES384 on P-384.
    pub fn algorithm(&self) -> Algorithm {
        self.curve.algorithm()
    }

    /// The key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// Whether the fixed-length `r ‖ s` `signature` over `msg` verifies.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(self.curve.ring(), &self.point)
            .verify(msg, signature)
            .is_ok()
    }
}
