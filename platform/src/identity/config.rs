//! [`IdentityProviderConfig`]: which identity provider the platform trusts — its issuer, the
//! audience its tokens must name, where its keys are — and how long its keys are kept.
//!
//! ```toml
//! [identity_provider]
//! issuer = "https://id.example.gov.cn/realms/holders"
//! audience = "mianzheng-platform"          # the platform's client id at the provider
//! jwks_url = "https://id.example.gov.cn/realms/holders/protocol/openid-connect/certs"
//! refresh_secs = 300                       # keys are fresh this long (default 5 min)
//! max_stale_secs = 86400                   # kept while the provider is down (default 24 h)
//! leeway_secs = 30                         # clock skew allowed on exp, nbf, iat (default 30 s)
//! ```

use std::time::Duration;

use serde::Deserialize;

/// Default: keys are refetched when older than five minutes.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5 * 60);
/// Default: the last keys fetched keep serving for a day while the provider cannot be reached.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default: clocks may disagree by 30 seconds on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The identity provider whose access tokens the platform accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// The provider's issuer identifier: a token's `iss` must be exactly this.
    pub issuer: String,
    /// The platform's client id at the provider: a token's `aud` must name it.
    pub audience: String,
    /// The provider's JWKS: `https://`, or `http://` to a loopback address only.
    pub jwks_url: String,
    /// How long fetched keys are used without asking the provider again.
    #[serde(rename = "refresh_secs", with = "secs", default = "default_refresh")]
    pub refresh: Duration,
    /// How long after the last successful fetch its keys keep serving while the provider cannot
    /// be reached; past that, verification fails (`token.provider_unavailable`). Shorter than
    /// `refresh` means no grace at all: keys past `refresh` serve only if a refetch succeeds.
    #[serde(
        rename = "max_stale_secs",
        with = "secs",
        default = "default_max_stale"
    )]
    pub max_stale: Duration,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(rename = "leeway_secs", with = "secs", default = "default_leeway")]
    pub leeway: Duration,
}

impl IdentityProviderConfig {
    /// A provider with the default refresh (5 min), grace (24 h) and leeway (30 s).
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> IdentityProviderConfig {
        IdentityProviderConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: jwks_url.into(),
            refresh: DEFAULT_REFRESH,
            max_stale: DEFAULT_MAX_STALE,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// Checks what a token verifier cannot work without: an issuer, an audience, and a JWKS
    /// URL that is `https://` (or `http://` on loopback: keys fetched in clear off the machine
    /// could be swapped on the way).
    pub fn validate(&self) -> Result<http::Uri, ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::NoAudience);
        }
        let bad = |reason: &str| ConfigError::JwksUrl {
            url: self.jwks_url.clone(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = self.jwks_url.parse().map_err(|e| bad(&format!("{e}")))?;
        let Some(host) = uri.host() else {
            return Err(bad("it names no host"));
        };
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if wire::issuer_api::is_loopback_host(host) => {}
            Some("http") => return Err(bad(
                "plain http:// off loopback: the keys could be swapped on the way; use https://",
            )),
            _ => return Err(bad("it must be an https:// URL (or http:// on loopback)")),
        }
        Ok(uri)
    }
}

/// Why a [`crate::TokenVerifier`] cannot be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("identity provider: `issuer` is empty")]
    NoIssuer,
    #[error("identity provider: `audience` (the platform's client id) is empty")]
    NoAudience,
    #[error("identity provider: `jwks_url` `{url}`: {reason}")]
    JwksUrl { url: String, reason: String },
    #[error("identity provider: TLS for fetching its keys: {0}")]
    Tls(String),
}

fn default_refresh() -> Duration {
    DEFAULT_REFRESH
}

fn default_max_stale() -> Duration {
    DEFAULT_MAX_STALE
}

fn default_leeway() -> Duration {
    DEFAULT_LEEWAY
}

/// A [`Duration`] as a whole number of seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let config: IdentityProviderConfig = toml::from_str(
            r#"
            issuer = "https://id.example"
            audience = "platform"
            jwks_url = "https://id.example/jwks.json"
            "#,
        )
        .expect("parses");
        assert_eq!(
            config,
            IdentityProviderConfig::new(
                "https://id.example",
                "platform",
                "https://id.example/jwks.json"
            )
        );
        assert_eq!(config.refresh, Duration::from_secs(300));
        assert_eq!(config.max_stale, Duration::from_secs(86_400));
        assert_eq!(config.leeway, Duration::from_secs(30));
    }

    #[test]
    fn durations_are_whole_seconds() {
        let config: IdentityProviderConfig = toml::from_str(
            r#"
            issuer = "i"
            audience = "a"
            jwks_url = "http://127.0.0.1:1/jwks.json"
            refresh_secs = 60
            max_stale_secs = 0
            leeway_secs = 5
            "#,
        )
        .expect("parses");
        assert_eq!(config.refresh, Duration::from_secs(60));
        assert_eq!(config.max_stale, Duration::ZERO);
        assert_eq!(config.leeway, Duration::from_secs(5));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = toml::from_str::<IdentityProviderConfig>(
            r#"
            issuer = "i"
            audience = "a"
            jwks_url = "https://id.example/jwks.json"
            refresh = 60
            "#,
        )
        .expect_err("`refresh` is spelled `refresh_secs`");
        assert!(error.to_string().contains("refresh"), "{error}");
    }

    #[test]
    fn jwks_url_must_be_https_or_loopback() {
        let with = |url: &str| IdentityProviderConfig::new("i", "a", url).validate();
        assert!(with("https://id.example/jwks.json").is_ok());
        assert!(with("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(with("http://[::1]:8080/jwks.json").is_ok());
        assert!(with("http://localhost/jwks.json").is_ok());
        for bad in [
            "http://id.example/jwks.json",
            "ftp://id.example/x",
            "/jwks.json",
            "",
        ] {
            assert!(
                matches!(with(bad), Err(ConfigError::JwksUrl { .. })),
                "{bad} accepted"
            );
        }
        assert!(matches!(
            IdentityProviderConfig::new(" ", "a", "https://x/j").validate(),
            Err(ConfigError::NoIssuer)
        ));
        assert!(matches!(
            IdentityProviderConfig::new("i", "", "https://x/j").validate(),
            Err(ConfigError::NoAudience)
        ));
    }
}
