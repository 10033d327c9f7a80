//! `platform`: the holder platform — where a holder, signed in by the province's OpenID Connect
//! identity provider, is given short-lived codes to present. This crate holds, so far, who the
//! holder is: the access token the provider issued, verified. The code-issuing routes come on
//! top of [`identity::TokenVerifier`].
//!
//! Modules:
//! - [`identity`] — an access token in, an [`Identity`] (or a [`TokenError`] with a stable
//!   problem code) out: [`TokenVerifier`] and its configuration [`IdentityProviderConfig`];
//!   the provider's signing keys, fetched and cached, live in its submodules.
//! - [`identity_provider`] — [`DemoIdentityProvider`], a small OpenID Connect provider on
//!   loopback for the demo and the tests: discovery, JWKS, and a password-grant token endpoint.

pub mod identity;
pub mod identity_provider;

pub use identity::{
    ConfigError, FetchError, Identity, IdentityProviderConfig, JwksCounts, TokenError,
    TokenVerifier,
};
pub use identity_provider::{DemoHolder, DemoIdentityProvider};
