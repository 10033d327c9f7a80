//! Key material: the signing keys that mint holder codes and seal issuer records, and the trust
//! lists of public keys (or shared MAC secrets) that verify them.
//!
//! Every key has a key id and an optional validity window, so a new key can be published before
//! it signs and an old one kept until the codes it signed have expired: rotation without
//! downtime. Keys live in TOML key files (see [`KeyFile`]); a trust list can also be read from a
//! DER or PEM X.509 certificate, the way the EU DCC distributes its signers.
//!
//! One module per family: [`ed25519`] (one rule alone and in batches), [`ecdsa`] (ES256 and
//! ES384 verified through ring), [`rsa_pss`] (PS256 verified through ring), [`sm2`] (SM2 with SM3
//! under the default user ID).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use der::{Decode as _, Encode as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

mod ecdsa;
mod ed25519;
mod rsa_pss;
pub mod sm2;

use ecdsa::{Curve, EcdsaKey};
use ed25519::Ed25519Key;
pub use ed25519::{verify_ed25519_batch, Ed25519Check};
use rsa_pss::RsaPssKey;
use sm2::Sm2Key;

/// The COSE algorithm identifier of SM2 with SM3. IANA registers none for SM2, so codes use one
/// from the private-use range (below −65536, RFC 9053 §11.1 / the IANA COSE Algorithms
/// registry); only an SM2 key verifies under it, and an SM2 key verifies under no other.
pub const SM2_COSE_ID: i64 = -65537;

/// The signature and MAC algorithms the project understands, with their COSE identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ed25519 (COSE `EdDSA`, -8): the default profile.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA on P-256 with SHA-256 (COSE `ES256`, -7).
    #[serde(rename = "ES256")]
    Es256,
    /// ECDSA on P-384 with SHA-384 (COSE `ES384`, -35).
    #[serde(rename = "ES384")]
    Es384,
    /// SM2 signatures (GB/T 32918.2) with SM3 (GB/T 32905) on the recommended curve
    /// (GB/T 32918.5), user ID `1234567812345678` ([`sm2::DEFAULT_USER_ID`]); the signature is
    /// `r ‖ s`, 64 bytes. COSE registers no identifier for SM2: codes carry the private-use
    /// [`SM2_COSE_ID`] (−65537), and no other identifier selects SM2.
    #[serde(rename = "SM2")]
    Sm2,
    /// RSASSA-PSS with SHA-256 (COSE `PS256`, -37). Verification only: the EU DCC signers use it.
    #[serde(rename = "PS256")]
    Ps256,
    /// HMAC with SHA-256, 256-bit tag (COSE `HMAC 256/256`, 5), for `COSE_Mac0`.
    #[serde(rename = "HMAC256")]
    Hmac256,
}

impl Algorithm {
    /// Every algorithm the project verifies, PS256 (verification only) included.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::EdDsa,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Sm2,
        Algorithm::Ps256,
        Algorithm::Hmac256,
    ];

    /// The COSE algorithm identifier (RFC 9053; [`SM2_COSE_ID`] for SM2).
    pub fn cose_id(self) -> i64 {
        match self {
            Algorithm::EdDsa => -8,
            Algorithm::Es256 => -7,
            Algorithm::Es384 => -35,
            Algorithm::Sm2 => SM2_COSE_ID,
            Algorithm::Ps256 => -37,
            Algorithm::Hmac256 => 5,
        }
    }

    /// The algorithm for a COSE identifier, if it is one we support.
    pub fn from_cose_id(id: i64) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.cose_id() == id)
    }

    /// Whether this is a MAC (symmetric) rather than a signature algorithm.
    pub fn is_mac(self) -> bool {
        self == Algorithm::Hmac256
    }

    /// The name used in key files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Sm2 => "SM2",
            Algorithm::Ps256 => "PS256",
            Algorithm::Hmac256 => "HMAC256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key identifier: opaque bytes, compared exactly. Shown as base64.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Vec<u8>);

impl KeyId {
    pub fn new(bytes: impl Into<Vec<u8>>) -> KeyId {
        KeyId(bytes.into())
    }

    /// The first 8 bytes of SHA-256 over `der`: how the EU DCC derives a signer's key id from its
    /// certificate, and how we derive ours from the public key (SubjectPublicKeyInfo DER).
    pub fn from_der_digest(der: &[u8]) -> KeyId {
        KeyId(Sha256::digest(der)[..8].to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64.encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Everything that can go wrong with keys: loading, looking up, verifying.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("key file `{path}`: {message}")]
    File { path: String, message: String },
    #[error("key `{kid}`: {message}")]
    Material { kid: String, message: String },
    #[error("no key with id `{0}` in the trust list")]
    UnknownKey(KeyId),
    #[error("key `{kid}` is not valid at {at}")]
    NotValidAt { kid: KeyId, at: DateTime<Utc> },
    #[error("key `{kid}` is for {key}, not {wanted}")]
    WrongAlgorithm {
        kid: KeyId,
        key: Algorithm,
        wanted: Algorithm,
    },
    #[error("signature does not verify")]
    BadSignature,
    #[error("certificate: {0}")]
    Certificate(String),
}

/// When a key may be used. Both ends are optional; an absent end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
}

impl Validity {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.not_before.is_none_or(|nb| at >= nb) && self.not_after.is_none_or(|na| at <= na)
    }
}

#[derive(Clone)]
enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
    Es384(p384::ecdsa::SigningKey),
    Sm2(::sm2::dsa::SigningKey),
    Hmac(Vec<u8>),
}

/// A private key (or MAC secret) that signs: the minting platform's, or a department's seal.
#[derive(Clone)]
pub struct SigningKey {
    kid: KeyId,
    owner: String,
    validity: Validity,
    secret: Secret,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("owner", &self.owner)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key. Asymmetric keys get the key id of their public key's digest; MAC
    /// keys a random one (a digest of a secret would leak bits of it).
    pub fn generate(
        alg: Algorithm,
        owner: &str,
        validity: Validity,
    ) -> Result<SigningKey, KeyError> {
        let mut rng = rand::rngs::OsRng;
        let secret = match alg {
            Algorithm::EdDsa => Secret::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
            Algorithm::Es256 => Secret::Es256(p256::ecdsa::SigningKey::random(&mut rng)),
            Algorithm::Es384 => Secret::Es384(p384::ecdsa::SigningKey::random(&mut rng)),
            Algorithm::Sm2 => Secret::Sm2(sm2::generate(&mut rng)),
            Algorithm::Hmac256 => {
                let mut k = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rng, &mut k);
                Secret::Hmac(k)
            }
            Algorithm::Ps256 => {
                return Err(KeyError::Material {
                    kid: String::new(),
                    message: PS256_VERIFIES_ONLY.into(),
                })
            }
        };
        Self::from_secret(secret, owner, validity, None)
    }

    fn from_secret(
        secret: Secret,
        owner: &str,
        validity: Validity,
        kid: Option<KeyId>,
    ) -> Result<SigningKey, KeyError> {
        let kid = match kid {
            Some(kid) => kid,
            None => match &secret {
                Secret::Hmac(_) => {
                    let mut k = [0u8; 8];
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
                    KeyId::new(k)
                }
                _ => KeyId::from_der_digest(&public_der(&secret)?),
            },
        };
        Ok(SigningKey {
            kid,
            owner: owner.to_string(),
            validity,
            secret,
        })
    }

    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn validity(&self) -> Validity {
        self.validity
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.secret {
            Secret::Ed25519(_) => Algorithm::EdDsa,
            Secret::Es256(_) => Algorithm::Es256,
            Secret::Es384(_) => Algorithm::Es384,
            Secret::Sm2(_) => Algorithm::Sm2,
            Secret::Hmac(_) => Algorithm::Hmac256,
        }
    }

    /// Signs (or MACs) `msg`. ECDSA and SM2 signatures are the fixed-length `r || s` COSE uses
    /// (64 bytes for ES256 and SM2, 96 for ES384).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use hmac::Mac as _;
        use signature_traits::Signer as _;
        match &self.secret {
            Secret::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Secret::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
            Secret::Es384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
            Secret::Sm2(k) => sm2::sign(k, msg),
            Secret::Hmac(k) => {
                let mut mac =
                    <hmac::Hmac<Sha256>>::new_from_slice(k).expect("hmac takes any key length");
                mac.update(msg);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// The matching trust-list entry: the public key, or for a MAC key the shared secret itself.
    pub fn trusted(&self) -> TrustedKey {
        let public = match &self.secret {
            Secret::Ed25519(k) => PublicKey::Ed25519(
                Ed25519Key::new(&k.verifying_key())
                    .expect("a generated key is in the prime-order subgroup"),
            ),
            Secret::Es256(_) | Secret::Es384(_) => {
                let der = public_der(&self.secret).expect("a signing key's public half encodes");
                PublicKey::Ecdsa(
                    EcdsaKey::from_spki(self.curve(), &der)
                        .expect("a signing key's public half is a point on its curve"),
                )
            }
            Secret::Sm2(k) => PublicKey::Sm2(Sm2Key::of(k)),
            Secret::Hmac(k) => PublicKey::Hmac(k.clone()),
        };
        TrustedKey {
            kid: self.kid.clone(),
            owner: self.owner.clone(),
            validity: self.validity,
            public,
        }
    }

    fn to_entry(&self) -> KeyEntry {
        let mut entry = self.trusted().to_entry();
        entry.secret = Some(B64.encode(match &self.secret {
            Secret::Ed25519(k) => k.to_bytes().to_vec(),
            Secret::Es256(k) => k.to_bytes().to_vec(),
            Secret::Es384(k) => k.to_bytes().to_vec(),
            Secret::Sm2(k) => k.to_bytes().to_vec(),
            Secret::Hmac(k) => k.clone(),
        }));
        if !self.algorithm().is_mac() {
            entry.public = None;
        }
        entry
    }

    /// The curve of an ECDSA key.
    fn curve(&self) -> Curve {
        match self.secret {
            Secret::Es384(_) => Curve::P384,
            _ => Curve::P256,
        }
    }
}

const PS256_VERIFIES_ONLY: &str =
    "PS256 keys verify only (EU DCC signers): no profile signs with them";

// The `signature` crate's traits, reached through a dependency that re-exports them.
use ed25519_dalek::ed25519::signature as signature_traits;

fn public_der(secret: &Secret) -> Result<Vec<u8>, KeyError> {
    use spki::EncodePublicKey as _;
    let der = match secret {
        Secret::Ed25519(k) => k.verifying_key().to_public_key_der(),
        Secret::Es256(k) => k.verifying_key().to_public_key_der(),
        Secret::Es384(k) => k.verifying_key().to_public_key_der(),
        Secret::Sm2(k) => return Ok(Sm2Key::of(k).public_key_der()),
        Secret::Hmac(_) => unreachable!("a MAC key has no public part"),
    };
    der.map(|d| d.as_bytes().to_vec())
        .map_err(|e| KeyError::Material {
            kid: String::new(),
            message: format!("cannot encode public key: {e}"),
        })
}

// The Ed25519 and SM2 variants carry their decoded keys (what every signature check reads, the
// hot path); a trust list holds a handful of keys, so the other variants' padding costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum PublicKey {
    Ed25519(Ed25519Key),
    /// ES256 or ES384, after the key's curve.
    Ecdsa(EcdsaKey),
    Sm2(Sm2Key),
    Ps256(RsaPssKey),
    Hmac(Vec<u8>),
}

impl PublicKey {
    /// The one algorithm this key verifies.
    fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Ed25519(_) => Algorithm::EdDsa,
            PublicKey::Ecdsa(k) => k.algorithm(),
            PublicKey::Sm2(_) => Algorithm::Sm2,
            PublicKey::Ps256(_) => Algorithm::Ps256,
            PublicKey::Hmac(_) => Algorithm::Hmac256,
        }
    }

    /// The public key as SubjectPublicKeyInfo DER; `None` for a MAC key, which has none.
    fn spki_der(&self) -> Option<Vec<u8>> {
        use spki::EncodePublicKey as _;
        let der = match self {
            PublicKey::Ed25519(k) => k.verifying_key().to_public_key_der(),
            PublicKey::Ecdsa(k) => return Some(k.public_key_der().to_vec()),
            PublicKey::Sm2(k) => return Some(k.public_key_der()),
            PublicKey::Ps256(k) => return Some(k.public_key_der().to_vec()),
            PublicKey::Hmac(_) => return None,
        };
        Some(der.expect("a parsed public key encodes").into_vec())
    }
}

/// A key in a trust list: what verifies codes or seals made by one signing key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    kid: KeyId,
    owner: String,
    validity: Validity,
    public: PublicKey,
}

impl TrustedKey {
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// Who signs with this key: the platform, or a department id for seals.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn validity(&self) -> Validity {
        self.validity
    }

    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// A fingerprint of the key material, whatever its id: the hex SHA-256 of the public
    /// key's DER (SubjectPublicKeyInfo), or of the shared secret of a MAC key. A signing key
    /// and its trust-list entry have the same fingerprint (through [`SigningKey::trusted`]),
    /// so a gateway can recognise keys it must not trust (the repository's demo keys).
    pub fn fingerprint(&self) -> String {
        let material = match &self.public {
            PublicKey::Hmac(secret) => secret.clone(),
            public => public
                .spki_der()
                .expect("an asymmetric key has a public key"),
        };
        hex::encode(Sha256::digest(material))
    }

    /// Checks `sig` over `msg` made with `alg`. The algorithm comes from the signed message;
    /// a key never verifies under an algorithm other than its own.
    pub fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        if alg != self.algorithm() {
            return Err(KeyError::WrongAlgorithm {
                kid: self.kid.clone(),
                key: self.algorithm(),
                wanted: alg,
            });
        }
        let ok = match &self.public {
            PublicKey::Ed25519(k) => k.verify(msg, sig),
            PublicKey::Ecdsa(k) => k.verify(msg, sig),
            PublicKey::Sm2(k) => k.verify(msg, sig),
            PublicKey::Ps256(k) => k.verify(msg, sig),
            PublicKey::Hmac(k) => {
                use hmac::Mac as _;
                let mut mac =
                    <hmac::Hmac<Sha256>>::new_from_slice(k).expect("hmac takes any key length");
                mac.update(msg);
                // constant-time comparison
                mac.verify_slice(sig).is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }

    /// The check `verify(Algorithm::EdDsa, msg, sig)` would make, taken out so it can be made
    /// later, together with others ([`verify_ed25519_batch`]). Fails as `verify` would for a key
    /// of another algorithm or a signature of the wrong length.
    pub fn ed25519_check(&self, msg: Vec<u8>, sig: &[u8]) -> Result<Ed25519Check, KeyError> {
        let PublicKey::Ed25519(key) = &self.public else {
            return Err(KeyError::WrongAlgorithm {
                kid: self.kid.clone(),
                key: self.algorithm(),
                wanted: Algorithm::EdDsa,
            });
        };
        key.check(msg, sig).ok_or(KeyError::BadSignature)
    }

    /// The trust-list entry for an X.509 signer certificate (DER): key id = first 8 bytes of
    /// SHA-256 over the certificate, window = the certificate's validity. P-256 keys verify
    /// ES256, P-384 keys ES384, SM2 keys SM2, RSA keys PS256, Ed25519 keys EdDSA.
    pub fn from_x509_der(cert_der: &[u8]) -> Result<TrustedKey, KeyError> {
        let cert = x509_cert::Certificate::from_der(cert_der)
            .map_err(|e| KeyError::Certificate(format!("not a DER X.509 certificate: {e}")))?;
        let tbs = &cert.tbs_certificate;
        let spki_der = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| KeyError::Certificate(format!("cannot re-encode public key: {e}")))?;
        let kid = KeyId::from_der_digest(cert_der);
        let public = public_from_spki(&spki_der).map_err(|message| KeyError::Material {
            kid: kid.to_string(),
            message,
        })?;
        let to_utc = |t: x509_cert::time::Time| {
            DateTime::<Utc>::from_timestamp(t.to_unix_duration().as_secs() as i64, 0)
        };
        Ok(TrustedKey {
            kid,
            owner: tbs.subject.to_string(),
            validity: Validity {
                not_before: to_utc(tbs.validity.not_before),
                not_after: to_utc(tbs.validity.not_after),
            },
            public,
        })
    }

    fn to_entry(&self) -> KeyEntry {
        let (public, secret) = match &self.public {
            PublicKey::Hmac(k) => (None, Some(k.clone())),
            public => (public.spki_der(), None),
        };
        KeyEntry {
            kid: self.kid.to_string(),
            owner: self.owner.clone(),
            alg: self.algorithm(),
            public: public.map(|p| B64.encode(p)),
            secret: secret.map(|s| B64.encode(s)),
            validity: self.validity,
        }
    }
}

fn public_from_spki(spki_der: &[u8]) -> Result<PublicKey, String> {
    use spki::DecodePublicKey as _;
    let info = spki::SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| format!("bad SubjectPublicKeyInfo: {e}"))?;
    const EC: &str = "1.2.840.10045.2.1";
    const RSA: &str = "1.2.840.113549.1.1.1";
    const ED25519: &str = "1.3.101.112";
    /// The curve `sm2p256v1` of GB/T 32918.5, as the parameters of an `id-ecPublicKey` key.
    const SM2_CURVE: &str = "1.2.156.10197.1.301";
    match info.algorithm.oid.to_string().as_str() {
        EC => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|e| format!("an EC key without a named curve: {e}"))?;
            match curve.to_string().as_str() {
                Curve::P256_OID => EcdsaKey::from_spki(Curve::P256, spki_der).map(PublicKey::Ecdsa),
                Curve::P384_OID => EcdsaKey::from_spki(Curve::P384, spki_der).map(PublicKey::Ecdsa),
                SM2_CURVE => Sm2Key::from_spki(spki_der).map(PublicKey::Sm2),
                other => Err(format!(
                    "unsupported elliptic curve `{other}` (P-256, P-384 and SM2 are)"
                )),
            }
        }
        RSA => RsaPssKey::from_spki(spki_der).map(PublicKey::Ps256),
        // Screened once here, so that no signature check repeats it (`keys/ed25519.rs`).
        ED25519 => match ed25519_dalek::VerifyingKey::from_public_key_der(spki_der) {
            Ok(key) => Ed25519Key::new(&key)
                .map(PublicKey::Ed25519)
                .map_err(str::to_owned),
            Err(e) => Err(format!("bad Ed25519 key: {e}")),
        },
        other => Err(format!("unsupported public key algorithm `{other}`")),
    }
}

/// Keys by id. Several keys may share an id across rotations; the one valid at the time asked
/// is used.
#[derive(Debug, Clone, Default)]
pub struct TrustList {
    keys: HashMap<KeyId, Vec<TrustedKey>>,
}

impl TrustList {
    pub fn new(keys: impl IntoIterator<Item = TrustedKey>) -> TrustList {
        let mut list = TrustList::default();
        for key in keys {
            list.insert(key);
        }
        list
    }

    pub fn insert(&mut self, key: TrustedKey) {
        self.keys.entry(key.kid.clone()).or_default().push(key);
    }

    pub fn len(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.values().flatten()
    }

    /// The key with id `kid` that is valid at `at`.
    pub fn find(&self, kid: &KeyId, at: DateTime<Utc>) -> Result<&TrustedKey, KeyError> {
        let candidates = self
            .keys
            .get(kid)
            .ok_or_else(|| KeyError::UnknownKey(kid.clone()))?;
        candidates
            .iter()
            .find(|k| k.validity.contains(at))
            .ok_or_else(|| KeyError::NotValidAt {
                kid: kid.clone(),
                at,
            })
    }

    /// Reads a trust list from a file: our TOML key file (public entries, or secrets of MAC
    /// keys), or one X.509 certificate in PEM or DER.
    pub fn load(path: &Path) -> Result<TrustList, KeyError> {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file_err = |message: String| KeyError::File {
            path: path.display().to_string(),
            message,
        };
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if text.contains("-----BEGIN CERTIFICATE-----") {
                let der = pem_certificate(text).map_err(file_err)?;
                return Ok(TrustList::new([TrustedKey::from_x509_der(&der)?]));
            }
            return TrustList::parse(text).map_err(|e| match e {
                KeyError::File { message, .. } => file_err(message),
                other => other,
            });
        }
        Ok(TrustList::new([TrustedKey::from_x509_der(&bytes)?]))
    }

    /// Parses a TOML key file held in memory (e.g. an embedded demo trust list).
    pub fn parse(text: &str) -> Result<TrustList, KeyError> {
        let file = KeyFile::parse(text).map_err(|message| KeyError::File {
            path: "<memory>".into(),
            message,
        })?;
        Ok(TrustList::new(file.trusted()?))
    }

    /// The list as a TOML key file (what `load` reads back).
    pub fn to_toml(&self) -> String {
        let mut key: Vec<KeyEntry> = self.keys().map(TrustedKey::to_entry).collect();
        key.sort_by(|a, b| (&a.owner, &a.kid).cmp(&(&b.owner, &b.kid)));
        toml::to_string(&KeyFile { key }).expect("key file serializes")
    }
}

/// The DER of the first `CERTIFICATE` block of a PEM text. Lenient about line length and
/// white space, as certificates pasted from web pages and JSON often are.
fn pem_certificate(text: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text.find(BEGIN).ok_or("no BEGIN CERTIFICATE line")? + BEGIN.len();
    let len = text[start..].find(END).ok_or("no END CERTIFICATE line")?;
    let b64: String = text[start..start + len].split_whitespace().collect();
    B64.decode(b64).map_err(|e| format!("bad PEM base64: {e}"))
}

/// Reads the signing keys of a TOML key file (entries with a `secret`).
pub fn load_signing_keys(path: &Path) -> Result<Vec<SigningKey>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_signing_keys(&text).map_err(|e| match e {
        KeyError::File { message, .. } => KeyError::File {
            path: path.display().to_string(),
            message,
        },
        other => other,
    })
}

/// Parses the signing keys of a TOML key file held in memory (e.g. embedded demo keys).
pub fn parse_signing_keys(text: &str) -> Result<Vec<SigningKey>, KeyError> {
    let file = KeyFile::parse(text).map_err(|message| KeyError::File {
        path: "<memory>".into(),
        message,
    })?;
    file.key.iter().map(KeyEntry::signing).collect()
}

/// Writes signing keys as a TOML key file.
pub fn signing_keys_to_toml(keys: &[SigningKey]) -> String {
    let key = keys.iter().map(SigningKey::to_entry).collect();
    toml::to_string(&KeyFile { key }).expect("key file serializes")
}

/// The on-disk form of keys:
///
/// ```toml
/// [[key]]
/// kid = "base64 key id"
/// owner = "mianzheng-platform"       # or a department id for seal keys
/// alg = "EdDSA"                      # EdDSA | ES256 | ES384 | SM2 | PS256 | HMAC256
/// public = "base64 SubjectPublicKeyInfo DER"   # asymmetric keys
/// secret = "base64 raw private key or MAC secret"  # signing keys, and MAC keys in trust lists
/// not_before = "2026-01-01T00:00:00Z"   # optional
/// not_after = "2027-01-01T00:00:00Z"    # optional
/// ```
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    #[serde(default)]
    pub key: Vec<KeyEntry>,
}

impl KeyFile {
    fn parse(text: &str) -> Result<KeyFile, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    fn trusted(&self) -> Result<Vec<TrustedKey>, KeyError> {
        self.key.iter().map(KeyEntry::trusted).collect()
    }
}

/// One `[[key]]` of a key file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub kid: String,
    pub owner: String,
    pub alg: Algorithm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(flatten)]
    pub validity: Validity,
}

impl KeyEntry {
    fn material_err(&self, message: impl Into<String>) -> KeyError {
        KeyError::Material {
            kid: self.kid.clone(),
            message: message.into(),
        }
    }

    fn decode(&self, what: &str, b64: &str) -> Result<Vec<u8>, KeyError> {
        B64.decode(b64)
            .map_err(|e| self.material_err(format!("`{what}` is not base64: {e}")))
    }

    fn key_id(&self) -> Result<KeyId, KeyError> {
        Ok(KeyId::new(self.decode("kid", &self.kid)?))
    }

    fn signing(&self) -> Result<SigningKey, KeyError> {
        let secret_b64 = self
            .secret
            .as_deref()
            .ok_or_else(|| self.material_err("has no `secret`: not a signing key"))?;
        let raw = self.decode("secret", secret_b64)?;
        let secret = match self.alg {
            Algorithm::EdDsa => {
                let seed: [u8; 32] = raw
                    .as_slice()
                    .try_into()
                    .map_err(|_| self.material_err("an Ed25519 secret is 32 bytes"))?;
                Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Algorithm::Es256 => Secret::Es256(
                p256::ecdsa::SigningKey::from_slice(&raw)
                    .map_err(|_| self.material_err("not a P-256 private scalar"))?,
            ),
            Algorithm::Es384 => Secret::Es384(
                p384::ecdsa::SigningKey::from_slice(&raw)
                    .map_err(|_| self.material_err("not a P-384 private scalar"))?,
            ),
            Algorithm::Sm2 => {
                Secret::Sm2(sm2::signing_key(&raw).map_err(|m| self.material_err(m))?)
            }
            Algorithm::Hmac256 if raw.len() >= 32 => Secret::Hmac(raw),
            Algorithm::Hmac256 => {
                return Err(self.material_err("an HMAC secret is at least 32 bytes"))
            }
            Algorithm::Ps256 => return Err(self.material_err(PS256_VERIFIES_ONLY)),
        };
        SigningKey::from_secret(secret, &self.owner, self.validity, Some(self.key_id()?))
    }

    fn trusted(&self) -> Result<TrustedKey, KeyError> {
        let public = if self.alg.is_mac() {
            let secret = self
                .secret
                .as_deref()
                .ok_or_else(|| self.material_err("an HMAC trust entry needs its `secret`"))?;
            let raw = self.decode("secret", secret)?;
            if raw.len() < 32 {
                return Err(self.material_err("an HMAC secret is at least 32 bytes"));
            }
            PublicKey::Hmac(raw)
        } else if let Some(public) = &self.public {
            let key = public_from_spki(&self.decode("public", public)?)
                .map_err(|m| self.material_err(m))?;
            let trusted_alg = key.algorithm();
            if trusted_alg != self.alg {
                return Err(self.material_err(format!(
                    "`alg` says {} but the public key is for {trusted_alg}",
                    self.alg
                )));
            }
            key
        } else {
            // A signing-key entry read as a trust list: derive the public half.
            return Ok(self.signing()?.trusted());
        };
        Ok(TrustedKey {
            kid: self.key_id()?,
            owner: self.owner.clone(),
            validity: self.validity,
            public,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test time")
    }

    #[test]
    fn every_signing_profile_round_trips_through_key_files() {
        for alg in [
            Algorithm::EdDsa,
            Algorithm::Es256,
            Algorithm::Es384,
            Algorithm::Sm2,
            Algorithm::Hmac256,
        ] {
            let key = SigningKey::generate(alg, "test", Validity::default()).expect("generate");
            let sig = key.sign(b"hello");
            let reloaded = &parse_signing_keys(&signing_keys_to_toml(std::slice::from_ref(&key)))
                .expect("parse")[0];
            assert_eq!(reloaded.kid(), key.kid());
            let trust = TrustList::new([reloaded.trusted()]);
            let text = trust.to_toml();
            let trust = TrustList::new(
                KeyFile::parse(&text)
                    .expect("toml")
                    .trusted()
                    .expect("keys"),
            );
            let found = trust.find(key.kid(), Utc::now()).expect("found");
            found.verify(alg, b"hello", &sig).expect("verifies");
            assert!(matches!(
                found.verify(alg, b"hellO", &sig),
                Err(KeyError::BadSignature)
            ));
        }
    }

    #[test]
    fn a_key_never_verifies_under_another_algorithm() {
        let key = SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key");
        let sig = key.sign(b"m");
        assert!(matches!(
            key.trusted().verify(Algorithm::Es256, b"m", &sig),
            Err(KeyError::WrongAlgorithm { .. })
        ));
    }

    #[test]
    fn rotation_picks_the_key_valid_at_the_time_asked() {
        let old = Validity {
            not_before: Some(at("2026-01-01T00:00:00Z")),
            not_after: Some(at("2026-06-30T23:59:59Z")),
        };
        let key = SigningKey::generate(Algorithm::EdDsa, "t", old).expect("key");
        let trust = TrustList::new([key.trusted()]);
        assert!(trust.find(key.kid(), at("2026-03-01T00:00:00Z")).is_ok());
        assert!(matches!(
            trust.find(key.kid(), at("2026-07-01T00:00:00Z")),
            Err(KeyError::NotValidAt { .. })
        ));
        assert!(matches!(
            trust.find(&KeyId::new(*b"nokey"), at("2026-03-01T00:00:00Z")),
            Err(KeyError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_batch_names_exactly_the_signature_that_does_not_verify() {
        let keys: Vec<SigningKey> = (0..3)
            .map(|_| SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key"))
            .collect();
        let checks: Vec<Ed25519Check> = (0..10)
            .map(|i| {
                let key = &keys[i % keys.len()];
                let msg = format!("message {i}").into_bytes();
                let mut sig = key.sign(&msg);
                if i == 6 {
                    sig[3] ^= 0x40;
                }
                key.trusted().ed25519_check(msg, &sig).expect("ed25519")
            })
            .collect();
        let all: Vec<&Ed25519Check> = checks.iter().collect();
        let verdicts = verify_ed25519_batch(&all);
        assert_eq!(verdicts, (0..10).map(|i| i != 6).collect::<Vec<_>>());
        assert_eq!(verify_ed25519_batch(&all[..6]), vec![true; 6]);
        assert_eq!(verify_ed25519_batch(&all[6..7]), vec![false]);
        assert!(verify_ed25519_batch(&[]).is_empty());
    }

    /// A signature whose `R` carries an order-2 component, made by the key's holder: the bare
    /// batch equation, with its random weights, accepted it about every other time while the
    /// strict check alone refused it. Under the one rule (`keys/ed25519.rs`) it gets the same
    /// verdict alone and in any batch, every time.
    #[test]
    fn a_signature_gets_one_verdict_alone_and_in_any_batch() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
        use curve25519_dalek::Scalar;
        use sha2::{Digest as _, Sha512};

        let a = Scalar::from(0x5eed_u64) * Scalar::from(u64::MAX);
        let public = (a * B).compress();
        let msg = b"a code signed by its own key".to_vec();
        let order_two = EIGHT_TORSION[4];
        assert!(
            order_two.is_small_order() && order_two != curve25519_dalek::EdwardsPoint::default()
        );
        let r = Scalar::from(0xabcd_u64) * Scalar::from(u64::MAX - 7);
        let big_r = (r * B + order_two).compress();
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(big_r.as_bytes())
                .chain_update(public.as_bytes())
                .chain_update(&msg),
        );
        let mut sig = big_r.to_bytes().to_vec();
        sig.extend((r + k * a).to_bytes());
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(public.as_bytes()).expect("a key");
        let key = TrustedKey {
            kid: KeyId::new(*b"mixed"),
            owner: "t".into(),
            validity: Validity::default(),
            public: PublicKey::Ed25519(Ed25519Key::new(&verifying).expect("a sound key")),
        };
        let mixed = key.ed25519_check(msg, &sig).expect("64 bytes");
        let alone = mixed.verify();
        assert!(
            alone,
            "the cofactored equation holds for the holder's signature"
        );

        let signer = SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key");
        let good = signer
            .trusted()
            .ed25519_check(b"fine".to_vec(), &signer.sign(b"fine"))
            .expect("ed25519");
        let mut forged_sig = signer.sign(b"other");
        forged_sig[40] ^= 1;
        let bad = signer
            .trusted()
            .ed25519_check(b"other".to_vec(), &forged_sig)
            .expect("ed25519");
        // The old batch gave `mixed` its verdict with probability 1/2 per round: 64 rounds all
        // agreeing with it by luck would be a 2^-64 chance.
        for _ in 0..64 {
            assert_eq!(verify_ed25519_batch(&[&mixed, &good]), vec![alone, true]);
            assert_eq!(
                verify_ed25519_batch(&[&good, &mixed, &bad, &good]),
                vec![true, alone, false, true]
            );
        }
    }

    /// A batch that fails is halved until each bad signature is found; every other verdict
    /// stays the signature's own, wherever the bad ones sit.
    #[test]
    fn a_batch_with_several_bad_signatures_names_each() {
        let key = SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key");
        let bad_at = [0, 17, 18, 63];
        let checks: Vec<Ed25519Check> = (0..64)
            .map(|i| {
                let msg = format!("message {i}").into_bytes();
                let mut sig = key.sign(&msg);
                if bad_at.contains(&i) {
                    sig[i % 32] ^= 0x10;
                }
                key.trusted().ed25519_check(msg, &sig).expect("ed25519")
            })
            .collect();
        let all: Vec<&Ed25519Check> = checks.iter().collect();
        let expected: Vec<bool> = (0..64).map(|i| !bad_at.contains(&i)).collect();
        assert_eq!(verify_ed25519_batch(&all), expected);
        let alone: Vec<bool> = checks.iter().map(Ed25519Check::verify).collect();
        assert_eq!(alone, expected);
    }

    /// Encodings outside the rule are refused alone and in a batch: `S` at or above the group
    /// order, and `R` with its y coordinate at or above p.
    #[test]
    fn non_canonical_signatures_are_refused() {
        use curve25519_dalek::Scalar;
        let key = SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key");
        let msg = b"claims".to_vec();
        let sig = key.sign(&msg);
        // S + ℓ: the same scalar mod ℓ, not canonical.
        let s = Scalar::from_canonical_bytes(sig[32..].try_into().expect("32")).expect("canonical");
        let ell: [u8; 32] =
            hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .expect("hex")
                .try_into()
                .expect("32");
        let mut s_plus_ell = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(s.as_bytes()[i]) + u16::from(ell[i]) + carry;
            s_plus_ell[i] = sum as u8;
            carry = sum >> 8;
        }
        let mut malleated = sig.clone();
        malleated[32..].copy_from_slice(&s_plus_ell);
        // y = p + 1 (as an encoding, y ≡ 1: the identity, written non-canonically).
        let mut r_non_canonical = sig.clone();
        r_non_canonical[..32].copy_from_slice(&{
            let mut y = [0xff_u8; 32];
            y[0] = 0xee;
            y[31] = 0x7f;
            y
        });
        let trusted = key.trusted();
        let good = trusted.ed25519_check(msg.clone(), &sig).expect("64");
        for bad_sig in [malleated, r_non_canonical] {
            assert!(trusted.verify(Algorithm::EdDsa, &msg, &bad_sig).is_err());
            let bad = trusted.ed25519_check(msg.clone(), &bad_sig).expect("64");
            assert!(!bad.verify());
            assert_eq!(verify_ed25519_batch(&[&good, &bad]), vec![true, false]);
        }
        assert!(trusted.verify(Algorithm::EdDsa, &msg, &sig).is_ok());
    }

    /// A key with a small-order component is refused when loaded: with it, the verdict of a
    /// batch would depend on its random weights.
    #[test]
    fn ed25519_keys_outside_the_prime_order_subgroup_are_refused() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
        use curve25519_dalek::Scalar;
        let a = Scalar::from(0x5eed_u64) * Scalar::from(u64::MAX);
        let mixed = (a * B + EIGHT_TORSION[4]).compress();
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(mixed.as_bytes()).expect("a point");
        assert!(Ed25519Key::new(&verifying).is_err());
        let sound = ed25519_dalek::VerifyingKey::from_bytes((a * B).compress().as_bytes())
            .expect("a point");
        assert!(Ed25519Key::new(&sound).is_ok());
    }

    #[test]
    fn small_order_ed25519_keys_are_refused() {
        // SubjectPublicKeyInfo of the Ed25519 identity point (order 1).
        let mut der = hex::decode("302a300506032b6570032100").expect("hex");
        der.push(1);
        der.extend([0u8; 31]);
        assert!(public_from_spki(&der).is_err());
        let key = SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key");
        assert!(public_from_spki(&public_der(&key.secret).expect("der")).is_ok());
    }

    #[test]
    fn short_hmac_secrets_are_refused() {
        let text = format!(
            "[[key]]\nkid = \"AAAAAAAAAAA=\"\nowner = \"x\"\nalg = \"HMAC256\"\nsecret = \"{}\"\n",
            B64.encode([7u8; 16])
        );
        assert!(parse_signing_keys(&text).is_err());
    }
}
