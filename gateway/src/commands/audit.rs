//! `gateway audit verify`: re-walks the stored audit chain and its signed checkpoints and
//! reports the first break — an edited, deleted or inserted row, or a forged checkpoint.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use wire::keys::TrustList;

use crate::audit::checkpoint::NODE_TRUST_FILE;
use crate::audit::{verify_store, VerifyStoreError};
use crate::config::GatewayConfig;

/// Arguments of `gateway audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Gateway configuration whose store and data folder to use
    /// [default: ./config/gateway.toml if present, else the embedded one].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store to check (`sqlite://…` or `postgres://…`) [default: the configuration's;
    /// `DATABASE_URL` also works].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The data folder holding this node's `node-key.pub.toml` [default: the configuration's].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Public checkpoint keys of the nodes (`node-key.pub.toml` of each); repeat for several
    /// nodes [default: this node's].
    #[arg(long, value_name = "FILE")]
    pub trust: Vec<PathBuf>,
}

/// What the walk found; the binary turns it into the exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Intact,
    Broken,
}

pub async fn verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<Verified> {
    let mut config = GatewayConfig::load_or_default(args.config.as_deref())?;
    if let Some(dir) = &args.data_dir {
        config.data.dir = std::env::current_dir()?.join(dir);
    }
    if let Some(url) = &args.store {
        config.store.url = Some(url.clone());
    }
    let store = match config.store_url() {
        Some(url) => store::Store::open(&url)
            .await
            .context("opening the store")?,
        None => store::Store::open_sqlite_in(&config.data_dir())
            .await
            .with_context(|| {
                format!(
                    "opening the SQLite store in `{}`",
                    config.data_dir().display()
                )
            })?,
    };
    let files = if args.trust.is_empty() {
        vec![config.data_dir().join(NODE_TRUST_FILE)]
    } else {
        args.trust.clone()
    };
    let mut trust = TrustList::default();
    for file in &files {
        for key in TrustList::load(file)
            .with_context(|| format!("loading node keys from `{}`", file.display()))?
            .keys()
        {
            trust.insert(key.clone());
        }
    }
    match verify_store(&store, &trust).await {
        Ok(report) => {
            writeln!(out, "{report}")?;
            Ok(Verified::Intact)
        }
        Err(VerifyStoreError::Broken(chain_break)) => {
            writeln!(out, "{chain_break}")?;
            Ok(Verified::Broken)
        }
        Err(VerifyStoreError::Store(e)) => Err(e).context("reading the audit log"),
    }
}
