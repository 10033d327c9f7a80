//! The console's flags and how its settings are found: a flag wins, then the environment, then
//! `gateway.toml` (`[listen] admin`, `[admin] token`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use wire::admin_api::ADMIN_TOKEN_ENV;

use crate::config::{find_upwards, GatewayConfig};

/// Operator console of the Mianzheng gateway: live traffic, departments, objections, rollout
/// and the audit log, over the gateway's admin API.
#[derive(Debug, Clone, Parser)]
#[command(name = "console", version)]
pub struct Args {
    /// Admin API base URL, e.g. `http://127.0.0.1:9090` [default: `[listen] admin` of the config]
    #[arg(long)]
    pub url: Option<String>,
    /// Your operator token (`gateway operators add` prints it) [default: $MIANZHENG_ADMIN_TOKEN,
    /// else `[admin] token`, which the demo gateway makes the token of `demo-operator`]
    #[arg(long)]
    pub token: Option<String>,
    /// The gateway's configuration, looked up from the current folder and its parents
    #[arg(long, default_value = "config/gateway.toml")]
    pub config: PathBuf,
    /// Look only: the objection actions are disabled
    #[arg(long)]
    pub read_only: bool,
}

/// What the console runs with, every value found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `http://host:port`, no trailing slash.
    pub url: String,
    /// The operator's token: who the console acts as (the gateway records that name).
    pub token: String,
    pub read_only: bool,
    /// `NO_COLOR` is set (to anything non-empty): no colours, only bold/reversed/underlined.
    pub no_color: bool,
}

/// Where the admin listener is when neither a flag nor the file says.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9090";

impl Args {
    /// Resolves the settings from the flags, the environment and the config file (read only
    /// when a flag leaves something open).
    pub fn settings(
        &self,
        cwd: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let flag_or_env_token = self.token.clone().or_else(|| env(ADMIN_TOKEN_ENV));
        let need_file = self.url.is_none() || flag_or_env_token.is_none();
        let file = match need_file.then(|| find_upwards(cwd, &self.config)).flatten() {
            Some(path) => Some((GatewayConfig::load(&path)?, path)),
            None => None,
        };
        let url = match (&self.url, &file) {
            (Some(url), _) => url.clone(),
            (None, Some((config, _))) => config
                .listen
                .admin
                .clone()
                .unwrap_or_else(|| DEFAULT_ADMIN.to_string()),
            (None, None) => DEFAULT_ADMIN.to_string(),
        };
        let url = normalize_url(&url)?;
        let token = match (&flag_or_env_token, &file) {
            (Some(token), _) => token.clone(),
            (None, Some((config, path))) => config.admin.token.clone().with_context(|| {
                format!(
                    "no admin token: `{}` has no `[admin] token`; pass `--token` or set `{ADMIN_TOKEN_ENV}`",
                    path.display()
                )
            })?,
            (None, None) => bail!(
                "no admin token: pass `--token`, set `{ADMIN_TOKEN_ENV}`, or run where `{}` can be \
                 found (or point `--config` at the gateway's file)",
                self.config.display()
            ),
        };
        if token.trim().is_empty() {
            bail!("the admin token is empty");
        }
        Ok(Settings {
            url,
            token,
            read_only: self.read_only,
            no_color: env("NO_COLOR").is_some_and(|value| !value.is_empty()),
        })
    }
}

/// `host:port` or `http://host:port/` → `http://host:port`. HTTPS is refused: the admin
/// listener is plain HTTP on loopback.
pub fn normalize_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with("https://") {
        bail!("`{url}`: the console speaks plain HTTP only (the admin listener is loopback HTTP)");
    }
    let url = if url.starts_with("http://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    url.parse::<http::Uri>()
        .with_context(|| format!("`{url}` is not a URL"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("console").chain(list.iter().copied()))
            .expect("parses")
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_alone_are_enough() {
        let settings = args(&[
            "--url",
            "127.0.0.1:1",
            "--token",
            "t",
            "--config",
            "nowhere.toml",
        ])
        .settings(Path::new("/"), &no_env)
        .expect("settings");
        assert_eq!(settings.url, "http://127.0.0.1:1");
        assert!(!settings.read_only && !settings.no_color);
    }

    #[test]
    fn the_repository_config_gives_url_and_token() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let settings = args(&[]).settings(here, &no_env).expect("settings");
        assert!(settings.url.starts_with("http://"));
        assert!(!settings.token.is_empty());
    }

    #[test]
    fn no_token_anywhere_is_a_clear_error() {
        let err = args(&["--config", "does/not/exist.toml"])
            .settings(Path::new("/"), &no_env)
            .expect_err("no token");
        assert!(err.to_string().contains("no admin token"), "{err}");
    }

    #[test]
    fn no_color_comes_from_the_environment() {
        let env = |name: &str| match name {
            "NO_COLOR" => Some("1".to_string()),
            _ => None,
        };
        let settings = args(&["--url", "h:1", "--token", "t"])
            .settings(Path::new("/"), &env)
            .expect("settings");
        assert!(settings.no_color);
    }

    #[test]
    fn the_environment_token_wins_over_the_file() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let env = |name: &str| (name == ADMIN_TOKEN_ENV).then(|| "from-env".to_string());
        let settings = args(&[]).settings(here, &env).expect("settings");
        assert_eq!(settings.token, "from-env");
        let settings = args(&["--token", "flag"])
            .settings(here, &env)
            .expect("settings");
        assert_eq!(settings.token, "flag");
    }

    #[test]
    fn https_is_refused() {
        assert!(normalize_url("https://h:1").is_err());
        assert_eq!(normalize_url("http://h:1/").expect("ok"), "http://h:1");
    }
}
