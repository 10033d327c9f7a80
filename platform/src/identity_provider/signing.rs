//! The demo provider's signing key: a P-256 key made at start with a random key id, the JWKS
//! that publishes its public half, and ES256 signatures over any claims. Rotation replaces the
//! key outright — the old one leaves the JWKS at once, so its tokens stop verifying.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey as _;

/// A signing key and its public JWK.
pub(crate) struct Signer {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Signer {
    /// A fresh P-256 key with a random id.
    pub fn generate() -> Result<Signer, String> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| format!("encoding the P-256 key: {e}"))?;
        let key = EncodingKey::from_ec_der(der.as_bytes());
        let kid = format!("demo-{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)
            .map_err(|e| format!("the P-256 key's public JWK: {e}"))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
        Ok(Signer { kid, key, jwk })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS publishing this key alone.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// `claims` as an ES256 JWS with this key's id.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".to_string());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| format!("signing: {e}"))
    }
}
