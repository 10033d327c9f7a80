//! SM2 signatures (GB/T 32918.2) with the SM3 hash (GB/T 32905) on the recommended curve
//! (GB/T 32918.5): the 国密 code profile.
//!
//! The signer's identity enters every signature through `Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ G ‖ P)`,
//! hashed before the message. Every key here uses the default user ID of GM/T 0009,
//! [`DEFAULT_USER_ID`]; `Z` is computed once, when a key is loaded, so a verification hashes only
//! the message. A signature is `r ‖ s`, 32 bytes each, big-endian (what COSE carries); `r` and
//! `s` outside `[1, n − 1]` are refused before any arithmetic.

use sm2::dsa::signature::{Signer as _, Verifier as _};
use sm2::elliptic_curve::rand_core::CryptoRngCore;

/// The user ID every SM2 key signs and verifies under: GM/T 0009's default, `1234567812345678`.
pub const DEFAULT_USER_ID: &str = "1234567812345678";

/// Length of an SM2 signature, `r ‖ s`.
pub const SIGNATURE_LEN: usize = 64;

/// A fresh random SM2 signing key.
pub fn generate(rng: &mut impl CryptoRngCore) -> sm2::dsa::SigningKey {
    let secret = sm2::SecretKey::random(rng);
    sm2::dsa::SigningKey::new(DEFAULT_USER_ID, &secret)
        .expect("the default user ID is short enough to hash")
}

/// The signing key of a raw 32-byte private scalar (in `[1, n − 1]`).
pub fn signing_key(raw: &[u8]) -> Result<sm2::dsa::SigningKey, &'static str> {
    sm2::dsa::SigningKey::from_slice(DEFAULT_USER_ID, raw)
        .map_err(|_| "not an SM2 private scalar (32 bytes, between 1 and n - 1)")
}

/// Signs `msg`: `r ‖ s`, 64 bytes.
pub fn sign(key: &sm2::dsa::SigningKey, msg: &[u8]) -> Vec<u8> {
    let signature: sm2::dsa::Signature = key.sign(msg);
    signature.to_bytes().to_vec()
}

/// A trusted SM2 public key with its `Z` under [`DEFAULT_USER_ID`].
#[derive(Debug, Clone)]
pub struct Sm2Key {
    key: sm2::dsa::VerifyingKey,
}

impl Sm2Key {
    /// The key of a SubjectPublicKeyInfo (`id-ecPublicKey` on the curve `sm2p256v1`, as
    /// OpenSSL and GM/T 0015 certificates write it). A point not on the curve, or the point at
    /// infinity, is refused.
    pub fn from_spki(der: &[u8]) -> Result<Sm2Key, String> {
        use spki::DecodePublicKey as _;
        let public = sm2::PublicKey::from_public_key_der(der)
            .map_err(|e| format!("not an SM2 public key: {e}"))?;
        Ok(Sm2Key::new(public))
    }

    /// The public half of a signing key.
    pub fn of(key: &sm2::dsa::SigningKey) -> Sm2Key {
        Sm2Key {
            key: key.verifying_key().clone(),
        }
    }

    fn new(public: sm2::PublicKey) -> Sm2Key {
        let key = sm2::dsa::VerifyingKey::new(DEFAULT_USER_ID, public)
            .expect("the default user ID is short enough to hash");
        Sm2Key { key }
    }

    /// The key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        use spki::EncodePublicKey as _;
        sm2::PublicKey::from(&self.key)
            .to_public_key_der()
            .expect("a parsed SM2 key encodes")
            .into_vec()
    }

    /// Whether `signature` (`r ‖ s`) over `msg` verifies. A signature of another length, or
    /// with `r` or `s` zero or not below the group order, does not.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        sm2::dsa::Signature::from_slice(signature)
            .is_ok_and(|signature| self.key.verify(msg, &signature).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_refuses_what_it_must() {
        let key = generate(&mut rand::rngs::OsRng);
        let public = Sm2Key::of(&key);
        let sig = sign(&key, b"claims");
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert!(public.verify(b"claims", &sig));
        assert!(!public.verify(b"claimS", &sig));
        assert!(!public.verify(b"claims", &sig[..63]));
        let reloaded = Sm2Key::from_spki(&public.public_key_der()).expect("spki round trip");
        assert!(reloaded.verify(b"claims", &sig));
    }

    #[test]
    fn out_of_range_private_scalars_are_refused() {
        assert!(signing_key(&[0; 32]).is_err());
        assert!(signing_key(&[0xff; 32]).is_err());
        assert!(signing_key(&[1; 31]).is_err());
        assert!(signing_key(&[1; 32]).is_ok());
    }
}
