//! Configuration: [`IssuerConfig`] is what [`crate::start`] takes (built in code by the
//! gateway's demo mode and by tests); [`FileConfig`] is the TOML file `issuer serve --config`
//! reads, merged with the command line into an `IssuerConfig`.
//!
//! ```toml
//! listen = "127.0.0.1:7100"
//! catalogue = "config"                  # a folder with the catalogue files; default: built in
//! seal_keys = "config/keys/department-seals.secret.toml"
//! departments = ["public-security", "health"]   # default: every department
//! seed = 1                              # the synthetic population
//! admin_token = "change-me"             # or ISSUER_ADMIN_TOKEN
//! rng_seed = 7                          # reproducible fault and jitter draws
//!
//! [notify]
//! url = "https://gateway.example:8443"  # the gateway; events go to {url}/v1/issuer-events
//!                                       # (https://, or http:// on loopback only)
//! ca_file = "gateway-ca.pem"            # roots for https; default: the public web PKI roots
//! default_token = "t"                   # or per department:
//! tokens = { health = "t-health" }
//! max_attempts = 8
//! base_backoff_ms = 200
//! max_backoff_ms = 30000
//! timeout_ms = 5000
//! queue = 1024
//!
//! [faults.all]
//! latency = { min_ms = 1, max_ms = 5 }
//! [faults.backends."health/province"]
//! error_rate = 0.1
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wire::catalogue::Catalogue;
use wire::keys::SigningKey;

use crate::faults::FaultPlan;

/// Default population seed: the one demos, tests and load tests share unless told otherwise.
pub const DEFAULT_SEED: u64 = 1;
/// Largest query body accepted (a query names at most 64 types): 16 KiB.
pub const DEFAULT_MAX_QUERY_BYTES: usize = 16 * 1024;
/// Largest admin body accepted: 64 KiB.
pub const MAX_ADMIN_BYTES: usize = 64 * 1024;

/// Everything a running issuer needs.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub catalogue: Arc<Catalogue>,
    /// Departments whose backends to serve; `None` serves every backend of the catalogue.
    pub departments: Option<Vec<String>>,
    /// Seal keys, one (or more, across rotations) per served department: owner = department id.
    /// A served department without a key valid now is a start-up error.
    pub seal_keys: Vec<SigningKey>,
    /// Seed of the synthetic population.
    pub seed: u64,
    /// Bearer token of the admin endpoints; `None` disables them (401).
    pub admin_token: Option<String>,
    /// Where change notifications go; `None` keeps them local (counted as dropped).
    pub notify: Option<NotifyConfig>,
    pub faults: FaultPlan,
    /// Seeds the fault and jitter draws; `None` draws from the OS.
    pub rng_seed: Option<u64>,
    /// Largest query body; larger ones are answered 413.
    pub max_query_bytes: usize,
    /// How long shutdown waits for open connections and pending notifications.
    pub shutdown_grace: Duration,
}

impl IssuerConfig {
    /// Defaults: every backend, population seed [`DEFAULT_SEED`], no admin token, no
    /// notifications, no faults.
    pub fn new(catalogue: Arc<Catalogue>, seal_keys: Vec<SigningKey>) -> IssuerConfig {
        IssuerConfig {
            catalogue,
            departments: None,
            seal_keys,
            seed: DEFAULT_SEED,
            admin_token: None,
            notify: None,
            faults: FaultPlan::default(),
            rng_seed: None,
            max_query_bytes: DEFAULT_MAX_QUERY_BYTES,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Where and how change notifications are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// The gateway's base URL; events go to `{url}/v1/issuer-events`. `https://`, or
    /// `http://` to a loopback address only (a notice carries a bearer token).
    pub url: String,
    /// PEM roots that an `https://` gateway's certificate must chain to; default: the public
    /// web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Bearer token per department id.
    pub tokens: BTreeMap<String, String>,
    /// Token for departments not in `tokens`.
    pub default_token: Option<String>,
    /// Attempts per event before giving up (at least 1).
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Per attempt.
    pub timeout: Duration,
    /// Events waiting at most; more are dropped.
    pub queue: usize,
}

impl NotifyConfig {
    /// Defaults: 8 attempts, back-off from 200 ms to 30 s, 5 s per attempt, 1024 queued.
    pub fn new(url: impl Into<String>) -> NotifyConfig {
        NotifyConfig {
            url: url.into(),
            ca_file: None,
            tokens: BTreeMap::new(),
            default_token: None,
            max_attempts: 8,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            queue: 1024,
        }
    }

    /// Checks the URL scheme and the bounds: `https://`, or `http://` to loopback only.
    pub fn validate(&self) -> Result<(), String> {
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|e| format!("notify url `{}`: {e}", self.url))?;
        let Some(host) = uri.host() else {
            return Err(format!("notify url `{}` has no host", self.url));
        };
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if wire::issuer_api::is_loopback_host(host) => {}
            Some("http") => {
                return Err(format!(
                    "notify url `{}` is plain http:// to a host off loopback: use https:// \
                     (a change notice carries the department's bearer token)",
                    self.url
                ))
            }
            _ => {
                return Err(format!(
                    "notify url `{}` must be an https:// URL (or http:// on loopback)",
                    self.url
                ))
            }
        }
        if self.ca_file.is_some() && uri.scheme_str() != Some("https") {
            return Err(format!(
                "notify ca_file is for an https:// gateway, and notify url `{}` is not one",
                self.url
            ));
        }
        if self.max_attempts == 0 || self.queue == 0 {
            return Err("notify `max_attempts` and `queue` must be at least 1".into());
        }
        if self.base_backoff > self.max_backoff {
            return Err("notify `base_backoff_ms` must not exceed `max_backoff_ms`".into());
        }
        Ok(())
    }
}

/// The `[notify]` table of the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    pub url: String,
    /// PEM roots for an `https://` gateway (relative to the config file).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    #[serde(default)]
    pub default_token: Option<String>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub base_backoff_ms: Option<u64>,
    #[serde(default)]
    pub max_backoff_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub queue: Option<usize>,
}

impl NotifyFile {
    pub fn into_config(self) -> NotifyConfig {
        let d = NotifyConfig::new(self.url);
        NotifyConfig {
            tokens: self.tokens,
            default_token: self.default_token,
            max_attempts: self.max_attempts.unwrap_or(d.max_attempts),
            base_backoff: self
                .base_backoff_ms
                .map_or(d.base_backoff, Duration::from_millis),
            max_backoff: self
                .max_backoff_ms
                .map_or(d.max_backoff, Duration::from_millis),
            timeout: self.timeout_ms.map_or(d.timeout, Duration::from_millis),
            queue: self.queue.unwrap_or(d.queue),
            ca_file: self.ca_file,
            url: d.url,
        }
    }
}

/// The config file of `issuer serve --config FILE`; every key is optional and the command
/// line wins over the file. See the module documentation for an example.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    /// Folder of the catalogue files; relative paths are relative to the config file.
    pub catalogue: Option<PathBuf>,
    /// Seal key file; relative to the config file.
    pub seal_keys: Option<PathBuf>,
    pub departments: Option<Vec<String>>,
    pub seed: Option<u64>,
    pub admin_token: Option<String>,
    pub rng_seed: Option<u64>,
    pub max_query_bytes: Option<usize>,
    pub notify: Option<NotifyFile>,
    #[serde(default)]
    pub faults: FaultPlan,
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl FileConfig {
    /// Reads, parses and validates a config file; relative paths in it are resolved against
    /// the file's folder.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut file = FileConfig::parse(&text).map_err(invalid)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let ca_file = file.notify.as_mut().and_then(|n| n.ca_file.as_mut());
        for p in [file.catalogue.as_mut(), file.seal_keys.as_mut(), ca_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(file)
    }

    /// Parses and validates what does not need the catalogue (fault ranges, notify URL).
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| e.message().to_string())?;
        file.faults.validate(|_| true)?;
        if let Some(n) = &file.notify {
            n.clone().into_config().validate()?;
        }
        if file.max_query_bytes == Some(0) {
            return Err("`max_query_bytes` must be at least 1".into());
        }
        if file.admin_token.as_deref() == Some("") {
            return Err("`admin_token` must not be empty".into());
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `tests/config/valid` parses and every one in `tests/config/invalid` does
    /// not.
    #[test]
    fn example_config_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config");
        let mut seen = 0;
        for (sub, ok) in [("valid", true), ("invalid", false)] {
            let mut entries: Vec<_> = std::fs::read_dir(dir.join(sub))
                .expect("example folder")
                .map(|e| e.expect("entry").path())
                .collect();
            entries.sort();
            for path in entries {
                let result = FileConfig::load(&path);
                assert_eq!(result.is_ok(), ok, "{}: {result:?}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 4);
    }
}
