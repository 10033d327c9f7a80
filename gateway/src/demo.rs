//! The demo, in builds with the `demo` feature (on by default): what lets `cargo run -p gateway`
//! answer a `pass` from any folder with nothing configured. DEMO ONLY: its keys are public in the
//! repository. A deployment sets its own files; a build without the feature contains none of
//! this and refuses to start without them.
//!
//! - this module — the demo keys and venues, embedded from `config/`, standing in for the
//!   settings left unset (`codes.trust`, `departments.seal_trust`, `venues.file`) and for the
//!   `--keys` and `--trust` of `gateway code`.
//! - [`departments`] — department backends started in-process (the `issuer` crate) for every
//!   backend whose endpoint is `embedded`.
//! - [`operator`] — `demo-operator`, whose token is the demo admin token, so the console signs
//!   in with nothing set up.
//! - [`request`] — the ready-to-paste curl line printed at start.

pub mod departments;
pub mod operator;
pub mod request;

use anyhow::{Context as _, Result};
use wire::catalogue::Catalogue;
use wire::keys::{self, SigningKey, TrustList};

use crate::venues::Venues;

/// `config/keys/platform.demo-secret.toml`: the platform's demo signing keys, one per profile.
pub const PLATFORM_SECRET: &str = include_str!("../../config/keys/platform.demo-secret.toml");
/// `config/keys/platform.trust.toml`: the matching trust list.
pub const PLATFORM_TRUST: &str = include_str!("../../config/keys/platform.trust.toml");

/// `config/keys/department-seals.trust.toml`: the demo departments' seal keys (public).
pub const DEPARTMENT_SEALS_TRUST: &str =
    include_str!("../../config/keys/department-seals.trust.toml");

/// `config/venues.toml` as shipped: the demo venues, with their keys in clear.
pub const VENUES: &str = include_str!("../../config/venues.toml");

/// The platform's demo signing keys.
pub fn platform_keys() -> Result<Vec<SigningKey>> {
    keys::parse_signing_keys(PLATFORM_SECRET).context("the embedded demo platform keys")
}

/// The trust list of the demo platform keys.
pub fn platform_trust() -> Result<TrustList> {
    TrustList::parse(PLATFORM_TRUST).context("the embedded demo code trust list")
}

/// The trust list of the demo departments' seals.
pub fn seal_trust() -> Result<TrustList> {
    TrustList::parse(DEPARTMENT_SEALS_TRUST).context("the embedded demo department seal trust list")
}

/// The demo venues, checked against `catalogue`.
pub fn venues(catalogue: &Catalogue) -> Result<Venues> {
    Venues::parse(VENUES, "embedded venues.toml", catalogue).map_err(anyhow::Error::msg)
}
