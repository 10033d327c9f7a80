//! Demo key material, embedded so that `gateway code mint` and `inspect` work from any folder.
//! DEMO ONLY: these keys are public in the repository. A deployment passes its own files.

use std::path::Path;

use anyhow::{Context as _, Result};
use wire::keys::{self, SigningKey, TrustList};

/// `config/keys/platform.demo-secret.toml`: the platform's demo signing keys, one per profile.
pub const PLATFORM_SECRET: &str = include_str!("../../config/keys/platform.demo-secret.toml");
/// `config/keys/platform.trust.toml`: the matching trust list.
pub const PLATFORM_TRUST: &str = include_str!("../../config/keys/platform.trust.toml");

/// `config/keys/department-seals.trust.toml`: the demo departments' seal keys (public).
pub const DEPARTMENT_SEALS_TRUST: &str =
    include_str!("../../config/keys/department-seals.trust.toml");

/// Signing keys from `path`, or the embedded demo keys.
pub fn platform_keys(path: Option<&Path>) -> Result<Vec<SigningKey>> {
    match path {
        Some(p) => keys::load_signing_keys(p)
            .with_context(|| format!("loading signing keys from `{}`", p.display())),
        None => {
            keys::parse_signing_keys(PLATFORM_SECRET).context("the embedded demo platform keys")
        }
    }
}

/// A trust list from `path` (key file, PEM or DER certificate), or the embedded demo one.
pub fn trust_list(path: Option<&Path>) -> Result<TrustList> {
    match path {
        Some(p) => {
            TrustList::load(p).with_context(|| format!("loading trust list from `{}`", p.display()))
        }
        None => TrustList::parse(PLATFORM_TRUST).context("the embedded demo trust list"),
    }
}
