//! The dynamic code a holder shows: CWT claims in a COSE_Sign1 (EdDSA, ES256, ES384, SM2)
//! or COSE_Mac0 (HMAC-SHA256), optionally zlib-compressed, base45-encoded behind our prefix.
//!
//! [`Minter`] makes codes; [`Verifier`] runs the whole chain and returns the holder's claims or
//! a [`CodeError`] whose [`CodeError::code`] is a stable machine code. The layers are public one
//! by one ([`envelope`], [`base45`], [`cose`], [`claims`]) for tools and the EU DCC conformance
//! test.

pub mod base45;
pub mod claims;
pub mod cose;
pub mod envelope;
mod error;

use chrono::{DateTime, Utc};

pub use claims::{
    is_subject_handle, CwtClaims, HolderClaims, Medium, Presenter, Purpose, Relation,
    DEPARTMENT_SCOPE, ITEM_SCOPE,
};
pub use cose::{CoseMessage, HeaderPolicy};
pub use envelope::Limits;
pub use error::CodeError;

use crate::keys::{Algorithm, Ed25519Check, KeyId, SigningKey, TrustList};

/// The prefix that tells a scanner a text is a Mianzheng holder code (免证, version 1).
pub const PREFIX: &str = "MZ1:";

/// The ways to protect a code. PS256 is none of them: it verifies EU DCC codes
/// ([`Verifier::accept_every_algorithm`]), and nothing here mints with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// COSE_Sign1 with Ed25519: the default.
    Eddsa,
    /// COSE_Sign1 with ECDSA P-256.
    Es256,
    /// COSE_Sign1 with ECDSA P-384.
    Es384,
    /// COSE_Sign1 with SM2/SM3 (国密), under the private-use algorithm id
    /// [`crate::keys::SM2_COSE_ID`].
    Sm2,
    /// COSE_Mac0 with HMAC-SHA256, where platform and gateways share a key service.
    Hmac,
}

impl Profile {
    pub const ALL: [Profile; 5] = [
        Profile::Eddsa,
        Profile::Es256,
        Profile::Es384,
        Profile::Sm2,
        Profile::Hmac,
    ];

    pub fn algorithm(self) -> Algorithm {
        match self {
            Profile::Eddsa => Algorithm::EdDsa,
            Profile::Es256 => Algorithm::Es256,
            Profile::Es384 => Algorithm::Es384,
            Profile::Sm2 => Algorithm::Sm2,
            Profile::Hmac => Algorithm::Hmac256,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Eddsa => "eddsa",
            Profile::Es256 => "es256",
            Profile::Es384 => "es384",
            Profile::Sm2 => "sm2",
            Profile::Hmac => "hmac",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Profile, String> {
        if let Some(profile) = Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
        {
            return Ok(profile);
        }
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        let (last, rest) = names.split_last().expect("there are profiles");
        let expected = format!("{} or {last}", rest.join(", "));
        if s.eq_ignore_ascii_case(Algorithm::Ps256.name()) {
            Err(format!(
                "PS256 is not a code profile: it only verifies EU DCC codes (`gateway code \
                 inspect`), nothing mints with it (expected {expected})"
            ))
        } else {
            Err(format!("unknown profile `{s}` (expected {expected})"))
        }
    }
}

/// Makes holder codes with one signing key.
#[derive(Debug, Clone)]
pub struct Minter {
    key: SigningKey,
    prefix: String,
    compress: bool,
}

impl Minter {
    pub fn new(key: SigningKey) -> Minter {
        Minter {
            key,
            prefix: PREFIX.to_string(),
            compress: false,
        }
    }

    /// Deflate the COSE bytes before base45. Our payloads are small, so this mostly adds
    /// bytes; it exists for large consent scopes.
    pub fn compress(mut self, yes: bool) -> Minter {
        self.compress = yes;
        self
    }

    pub fn prefix(mut self, prefix: &str) -> Minter {
        self.prefix = prefix.to_string();
        self
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The code text for `claims`.
    pub fn mint(&self, claims: &HolderClaims) -> String {
        let mut payload = Vec::with_capacity(160);
        ciborium::ser::into_writer(&claims.to_value(), &mut payload)
            .expect("serializing to a Vec cannot fail");
        let cose = cose::sign(payload, &self.key);
        envelope::seal(&cose, &self.prefix, self.compress)
    }
}

/// A code that verified: its holder claims and what verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCode {
    pub claims: HolderClaims,
    pub kid: KeyId,
    pub algorithm: Algorithm,
}

/// The longest a printed code may live unless configured otherwise: a year and a day.
pub const DEFAULT_MAX_PAPER_LIFETIME_SECS: i64 = 366 * 24 * 3600;

/// Verifies holder codes against a trust list.
#[derive(Debug, Clone)]
pub struct Verifier {
    trust: TrustList,
    prefix: String,
    accepted: Vec<Algorithm>,
    skew_secs: i64,
    max_lifetime_secs: i64,
    max_paper_lifetime_secs: i64,
    limits: Limits,
    header_policy: HeaderPolicy,
}

impl Verifier {
    /// A verifier with our prefix, every profile accepted, 30 s clock skew tolerance, codes
    /// living at most a day and paper codes at most [`DEFAULT_MAX_PAPER_LIFETIME_SECS`].
    pub fn new(trust: TrustList) -> Verifier {
        Verifier {
            trust,
            prefix: PREFIX.to_string(),
            accepted: Profile::ALL.iter().map(|p| p.algorithm()).collect(),
            skew_secs: 30,
            max_lifetime_secs: 24 * 3600,
            max_paper_lifetime_secs: DEFAULT_MAX_PAPER_LIFETIME_SECS,
            limits: Limits::default(),
            header_policy: HeaderPolicy::Strict,
        }
    }

    /// Accept only these profiles (a deployment that runs only MAC codes, say).
    pub fn accept(mut self, profiles: &[Profile]) -> Verifier {
        self.accepted = profiles.iter().map(|p| p.algorithm()).collect();
        self
    }

    /// Accept every algorithm a trusted key can verify, PS256 included: for tools that inspect
    /// codes signed elsewhere (the EU DCC signers use PS256, which no profile mints). A key
    /// still verifies only under its own algorithm.
    pub fn accept_every_algorithm(mut self) -> Verifier {
        self.accepted = Algorithm::ALL.to_vec();
        self
    }

    pub fn clock_skew(mut self, secs: u32) -> Verifier {
        self.skew_secs = secs.into();
        self
    }

    pub fn max_lifetime(mut self, secs: u32) -> Verifier {
        self.max_lifetime_secs = secs.into();
        self
    }

    /// How long a printed code ([`Medium::Paper`]) may live: its lifetime cap.
    pub fn max_paper_lifetime(mut self, secs: u32) -> Verifier {
        self.max_paper_lifetime_secs = secs.into();
        self
    }

    pub fn limits(mut self, limits: Limits) -> Verifier {
        self.limits = limits;
        self
    }

    pub fn prefix(mut self, prefix: &str) -> Verifier {
        self.prefix = prefix.to_string();
        self
    }

    /// Where the algorithm may be read from; [`HeaderPolicy::Strict`] unless told otherwise,
    /// [`HeaderPolicy::Dcc`] only for inspecting foreign codes.
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Verifier {
        self.header_policy = policy;
        self
    }

    pub fn trust_list(&self) -> &TrustList {
        &self.trust
    }

    /// Stage one, decode: size → prefix → base45 → [zlib] → COSE → claims, nothing verified
    /// yet. Tools may show the result of a code that does not verify; nothing may grant
    /// anything on it before [`Verifier::check`].
    pub fn decode(&self, text: &str) -> Result<DecodedCode, CodeError> {
        let bytes = envelope::open(text, &self.prefix, &self.limits)?;
        let message = CoseMessage::parse_with(&bytes, self.limits.max_depth, self.header_policy)?;
        let claims = CwtClaims::from_value(message.payload_value(self.limits.max_depth)?)?;
        Ok(DecodedCode { message, claims })
    }

    /// Stage two for any CWT (ours or, say, an EU DCC): accepted algorithm → key by id valid
    /// `now` → signature/MAC → time window (with skew).
    pub fn check_cwt(&self, decoded: &DecodedCode, now: DateTime<Utc>) -> Result<(), CodeError> {
        let algorithm = decoded.message.algorithm();
        if !self.accepted.contains(&algorithm) {
            return Err(CodeError::AlgorithmNotAccepted(algorithm.name()));
        }
        decoded.message.verify(&self.trust, now)?;
        decoded.claims.check_time(now.timestamp(), self.skew_secs)
    }

    /// Stage two for a holder code: [`Verifier::check_cwt`], then the holder claims and the
    /// lifetime bound.
    pub fn check(
        &self,
        decoded: &DecodedCode,
        now: DateTime<Utc>,
    ) -> Result<VerifiedCode, CodeError> {
        self.check_cwt(decoded, now)?;
        self.holder_code(decoded)
    }

    /// [`Verifier::check`] in two halves, for a caller that verifies Ed25519 signatures in
    /// batches: the first half up to the signature — algorithm accepted, key by id valid `now` —
    /// returning the signature check to make. `Ok(None)` for a code of another algorithm: call
    /// [`Verifier::check`] instead. When the check verifies, the second half is
    /// [`Verifier::check_with_signature_verified`]; when it does not, the code is refused with
    /// [`CodeError::BadSignature`].
    pub fn detach_signature(
        &self,
        decoded: &DecodedCode,
        now: DateTime<Utc>,
    ) -> Result<Option<Ed25519Check>, CodeError> {
        let algorithm = decoded.message.algorithm();
        if !self.accepted.contains(&algorithm) {
            return Err(CodeError::AlgorithmNotAccepted(algorithm.name()));
        }
        decoded.message.ed25519_check(&self.trust, now)
    }

    /// The rest of [`Verifier::check`] — time window, holder claims, lifetime — for a code
    /// whose check from [`Verifier::detach_signature`] verified. Calling it for any other code
    /// accepts a code nobody verified.
    pub fn check_with_signature_verified(
        &self,
        decoded: &DecodedCode,
        now: DateTime<Utc>,
    ) -> Result<VerifiedCode, CodeError> {
        decoded.claims.check_time(now.timestamp(), self.skew_secs)?;
        self.holder_code(decoded)
    }

    /// [`Verifier::check`] for a code whose signature over exactly these bytes verified
    /// before (the caller remembers which): every check but the signature arithmetic —
    /// algorithm accepted, key trusted and valid `now`, time window, holder claims, lifetime.
    /// Calling it for a code that never verified accepts a code nobody verified.
    pub fn check_with_signature_remembered(
        &self,
        decoded: &DecodedCode,
        now: DateTime<Utc>,
    ) -> Result<VerifiedCode, CodeError> {
        let algorithm = decoded.message.algorithm();
        if !self.accepted.contains(&algorithm) {
            return Err(CodeError::AlgorithmNotAccepted(algorithm.name()));
        }
        decoded.message.check_key(&self.trust, now)?;
        self.check_with_signature_verified(decoded, now)
    }

    fn holder_code(&self, decoded: &DecodedCode) -> Result<VerifiedCode, CodeError> {
        let claims = HolderClaims::from_cwt(&decoded.claims)?;
        // Claim times are bounded when parsed; the subtraction is checked all the same, so a
        // wrap can never turn an endless code into a short one.
        let lifetime = match claims.expires_at.checked_sub(claims.issued_at) {
            Some(lifetime) if lifetime >= 0 => lifetime,
            _ => {
                return Err(CodeError::ExpiresBeforeIssued {
                    issued_at: claims.issued_at,
                    expires_at: claims.expires_at,
                })
            }
        };
        let max = match claims.medium {
            Medium::Phone => self.max_lifetime_secs,
            Medium::Paper => self.max_paper_lifetime_secs,
        };
        if lifetime > max {
            return Err(CodeError::LifetimeTooLong { lifetime, max });
        }
        Ok(VerifiedCode {
            claims,
            kid: decoded.message.key_id().clone(),
            algorithm: decoded.message.algorithm(),
        })
    }

    /// Both stages of a holder code.
    pub fn verify(&self, text: &str, now: DateTime<Utc>) -> Result<VerifiedCode, CodeError> {
        self.check(&self.decode(text)?, now)
    }
}

/// A decoded, not yet verified code (see [`Verifier::decode`]).
#[derive(Debug, Clone)]
pub struct DecodedCode {
    pub message: CoseMessage,
    pub claims: CwtClaims,
}

#[cfg(test)]
mod tests;
