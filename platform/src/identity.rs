//! Who the holder is: an access token from the province's OpenID Connect identity provider,
//! verified into an [`Identity`] by a [`TokenVerifier`], or refused with a [`TokenError`].
//!
//! A token passes, in this order (the first failure is the answer):
//! 1. its shape and header ([`header`]): a compact JWS of at most 16 KiB whose `alg` is ES256,
//!    EdDSA, RS256 or PS256 — `none` and HMAC are refused by name — and which names its key;
//! 2. its key ([`jwks`], [`keys`], [`fetch`]): the provider's key of that id, from its JWKS,
//!    fetched and cached; the header's algorithm must be the one that key signs with;
//! 3. its signature, checked by `jsonwebtoken` with that key and algorithm only;
//! 4. its claims ([`claims`]): issuer, audience, `exp`/`nbf`/`iat` with the leeway, and the
//!    holder — subject handle, kind, home city, display name.
//!
//! Errors are in [`error`]; the configuration in [`config`].

pub mod claims;
pub mod config;
pub mod error;
pub mod fetch;
pub mod header;
pub mod jwks;
pub mod keys;

use std::collections::HashSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};
use wire::catalogue::model::{CityCode, HolderKind};

pub use config::{ConfigError, IdentityProviderConfig};
pub use error::TokenError;
pub use fetch::FetchError;
pub use jwks::JwksCounts;

/// What a verified access token asserts about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The holder's pseudonymous subject handle (`sub`): 1–64 characters of
    /// `A–Z a–z 0–9 - _ .`.
    pub subject: String,
    /// `holder_kind`: a person unless the token says `organisation`.
    pub kind: HolderKind,
    /// `city`: the home city (GB/T 2260), when the provider knows it.
    pub city: Option<CityCode>,
    /// `name`: a display name, when the provider gives one.
    pub name: Option<String>,
    /// `exp`: when the token stops being accepted (Unix seconds, before the leeway).
    pub expires_at: i64,
}

/// Verifies the identity provider's access tokens against its published keys.
#[derive(Debug)]
pub struct TokenVerifier {
    config: IdentityProviderConfig,
    keys: jwks::JwksCache,
}

impl TokenVerifier {
    /// A verifier for the provider `config` describes. Fetches nothing yet: the keys are
    /// fetched on first use (or by [`TokenVerifier::refresh`]).
    pub fn new(config: IdentityProviderConfig) -> Result<TokenVerifier, ConfigError> {
        let url = config.validate()?;
        let fetcher = fetch::Fetcher::new(url)?;
        let keys = jwks::JwksCache::new(fetcher, config.refresh, config.max_stale);
        Ok(TokenVerifier { config, keys })
    }

    /// Verifies `token` (the bearer token as sent, without `Bearer `) at Unix time `now`.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Identity, TokenError> {
        let header = header::read(token)?;
        let key = self.keys.key(&header.kid).await?;
        if !key.algorithms.contains(&header.alg) {
            return Err(TokenError::AlgorithmMismatch {
                alg: format!("{:?}", header.alg),
                kid: key.kid.clone(),
            });
        }
        let mut validation = Validation::new(header.alg);
        // Time, issuer and audience are checked in `claims`, against `now` and with messages
        // of our own; jsonwebtoken checks the signature with this one algorithm.
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidEddsaKey
                | ErrorKind::InvalidRsaKey(_) => TokenError::BadSignature {
                    kid: key.kid.clone(),
                },
                ErrorKind::Base64(_) => {
                    TokenError::Malformed("a part is not base64url".to_string())
                }
                ErrorKind::Json(_) | ErrorKind::Utf8(_) => TokenError::Malformed(
                    "the header or payload is not the JSON of a JWT".to_string(),
                ),
                other => {
                    tracing::debug!(error = ?other, "an access token failed the JWS check");
                    TokenError::Malformed("it does not read as a signed JWT".to_string())
                }
            })?;
        claims::identity(&data.claims, &self.config, now)
    }

    /// Fetches the provider's keys now, whatever their age: the number of usable keys, or why
    /// none were had (the keys held before are kept, and serve within `max_stale`).
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        self.keys.refresh().await
    }

    /// What the key cache has done: fetches, failures, refetches for unknown keys.
    pub fn counts(&self) -> JwksCounts {
        self.keys.counts()
    }

    /// Fetches of the JWKS started so far.
    pub fn fetches(&self) -> u64 {
        self.counts().fetches
    }

    /// Fetches of the JWKS that brought no keys.
    pub fn fetch_failures(&self) -> u64 {
        self.counts().fetch_failures
    }

    /// The ids of the provider's keys held now, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.key_ids()
    }

    pub fn config(&self) -> &IdentityProviderConfig {
        &self.config
    }
}
