//! The few fields of the gateway's `gateway.toml` the console reads: where the admin listener
//! is and its bearer token. Every other field of the file is ignored.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The slice of `gateway.toml` the console needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewayConfig {
    #[serde(default)]
    pub listen: Listen,
    #[serde(default)]
    pub admin: Admin,
}

/// `[listen]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Listen {
    /// The admin listener, `host:port` (plain HTTP).
    pub admin: Option<String>,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Admin {
    /// Bearer token of the admin API.
    pub token: Option<String>,
}

impl GatewayConfig {
    pub fn parse(text: &str) -> Result<GatewayConfig, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn load(path: &Path) -> anyhow::Result<GatewayConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        GatewayConfig::parse(&text).with_context(|| format!("cannot parse `{}`", path.display()))
    }
}

/// Finds `relative` in `start` or the nearest of its parents, so that `cargo run -p console`
/// from anywhere in the repository finds `config/gateway.toml`. An absolute path is taken as is.
pub fn find_upwards(start: &Path, relative: &Path) -> Option<PathBuf> {
    if relative.is_absolute() {
        return relative.exists().then(|| relative.to_path_buf());
    }
    start
        .ancestors()
        .map(|dir| dir.join(relative))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_admin_listener_and_token_and_ignores_the_rest() {
        let config = GatewayConfig::parse(
            "[listen]\npublic = \"x\"\nadmin = \"127.0.0.1:9090\"\n[admin]\ntoken = \"t\"\n\
             [fetch]\ndeadline_ms = 800\n",
        )
        .expect("parses");
        assert_eq!(config.listen.admin.as_deref(), Some("127.0.0.1:9090"));
        assert_eq!(config.admin.token.as_deref(), Some("t"));
    }

    #[test]
    fn an_empty_file_has_neither() {
        let config = GatewayConfig::parse("").expect("parses");
        assert!(config.listen.admin.is_none() && config.admin.token.is_none());
    }

    #[test]
    fn finds_the_repository_config_from_a_subfolder() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let found = find_upwards(&here, Path::new("config/gateway.toml")).expect("found");
        assert!(found.ends_with("config/gateway.toml"));
    }
}
