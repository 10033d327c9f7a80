//! The demo's department backends: one in-process issuer (the `issuer` crate) on a loopback
//! port serving every backend whose endpoint is `embedded`, with the demo (or configured) seal
//! keys. It pushes its changes to the gateway's plain-HTTP loopback listener (plain http, which
//! the issuer sends on loopback only) with a token made for this run, and hears of corrections
//! through its admin endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use tokio::net::TcpListener;
use wire::catalogue::model::Endpoint;
use wire::catalogue::Catalogue;
use wire::keys::SigningKey;

use crate::config::GatewayConfig;
use crate::departments::corrections::DepartmentAdmin;
use crate::departments::issuer_events::{fresh_token, EventTokens};

/// Starts the embedded departments when the catalogue has any, and lets them push events
/// (`tokens`) and take corrections (`corrections`). `plain`: the gateway's plain-HTTP address,
/// if it has one.
pub async fn start(
    config: &GatewayConfig,
    catalogue: &Arc<Catalogue>,
    plain: Option<SocketAddr>,
    tokens: &mut EventTokens,
    corrections: &mut DepartmentAdmin,
) -> Result<Option<issuer::RunningIssuer>> {
    let departments = embedded_departments(catalogue);
    if departments.is_empty() {
        return Ok(None);
    }
    let notify = plain.map(|addr| (format!("http://{addr}"), fresh_token()));
    if notify.is_none() {
        tracing::warn!(
            "no plain-HTTP listener: the embedded departments cannot push their changes"
        );
    }
    // The gateway tells the embedded departments of corrections through their admin endpoint.
    let admin_token = config
        .departments
        .embedded_admin_token
        .clone()
        .or_else(|| std::env::var("MIANZHENG_EMBEDDED_ADMIN_TOKEN").ok())
        .unwrap_or_else(fresh_token);
    let keys: Vec<SigningKey> = match config
        .departments
        .embedded_seal_keys
        .as_ref()
        .map(|p| config.resolve(p))
    {
        Some(path) => wire::keys::load_signing_keys(&path)
            .with_context(|| format!("loading seal keys from `{}`", path.display()))?,
        None => issuer::seal_keys::demo_seal_keys(),
    };
    let mut issuer_config = issuer::IssuerConfig::new(Arc::clone(catalogue), keys);
    issuer_config.departments = Some(departments.clone());
    issuer_config.seed = config.departments.population_seed;
    if let Some((url, token)) = &notify {
        let mut notify = issuer::config::NotifyConfig::new(url.clone());
        notify.default_token = Some(token.clone());
        issuer_config.notify = Some(notify);
    }
    issuer_config.admin_token = Some(admin_token.clone());
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the embedded issuers' loopback port")?;
    let running = issuer::start(issuer_config, listener)
        .await
        .context("starting the embedded department backends")?;
    if let Some((_, token)) = &notify {
        tokens.allow(token, departments.iter().cloned());
    }
    for department in &departments {
        corrections.add(department, &running.url(), &admin_token);
    }
    Ok(Some(running))
}

/// The departments with at least one embedded backend.
fn embedded_departments(catalogue: &Catalogue) -> Vec<String> {
    catalogue
        .departments()
        .iter()
        .filter(|d| d.backends.iter().any(|b| b.endpoint == Endpoint::Embedded))
        .map(|d| d.id.clone())
        .collect()
}
