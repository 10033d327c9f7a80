//! RSASSA-PSS with SHA-256 (PS256) verification, through `ring`: how EU DCC signers sign, and
//! verification only (no profile mints with it).
//!
//! The key is parsed and checked once, when the trust list is loaded: RFC 8230 asks for a
//! modulus of at least 2048 bits, and ring verifies up to 8192, so a key outside that range is
//! refused then rather than failing every signature later. What a verification reads is the
//! PKCS#1 `RSAPublicKey` DER. The salt is as long as the hash (32 bytes), as RFC 8230 requires.
//! ring is faster here than the `rsa` crate: 33.5 µs against 281 µs for a 2048-bit key, in the
//! same criterion run as `keys/ecdsa.rs` quotes (`signature/verify/ps256/*`).

use ring::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA256};
use rsa::traits::PublicKeyParts as _;

/// The modulus sizes PS256 keys may have, in bits.
const BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// A trusted PS256 public key.
#[derive(Debug, Clone)]
pub struct RsaPssKey {
    /// PKCS#1 `RSAPublicKey` DER, what ring verifies with.
    pkcs1: Box<[u8]>,
    /// The key as SubjectPublicKeyInfo DER, re-encoded from the parsed key.
    spki: Box<[u8]>,
}

impl RsaPssKey {
    /// The key of an `rsaEncryption` SubjectPublicKeyInfo with a 2048- to 8192-bit modulus.
    pub fn from_spki(der: &[u8]) -> Result<RsaPssKey, String> {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        use spki::{DecodePublicKey as _, EncodePublicKey as _};
        let key =
            rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| format!("bad RSA key: {e}"))?;
        let bits = key.n().bits();
        if !BITS.contains(&bits) {
            return Err(format!(
                "an RSA key of {bits} bits: PS256 takes {} to {} bits",
                BITS.start(),
                BITS.end()
            ));
        }
        let encode_err = |e: &dyn std::fmt::Display| format!("cannot re-encode the key: {e}");
        let pkcs1 = key.to_pkcs1_der().map_err(|e| encode_err(&e))?;
        let spki = key.to_public_key_der().map_err(|e| encode_err(&e))?;
        Ok(RsaPssKey {
            pkcs1: pkcs1.into_vec().into_boxed_slice(),
            spki: spki.into_vec().into_boxed_slice(),
        })
    }

    /// The key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// Whether `signature` over `msg` verifies.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &self.pkcs1)
            .verify(msg, signature)
            .is_ok()
    }
}
