//! The options of the commands that work on a gateway's store without a running gateway
//! (`gateway venues …`, `gateway operators …`), and the store they name.

use std::path::PathBuf;

use anyhow::Result;
use store::Store;

use crate::config::GatewayConfig;

/// Where the store is: a gateway configuration's, or one given by URL.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Gateway configuration whose store to use
    /// [default: ./config/gateway.toml if present, else the embedded one].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store (`sqlite://…` or `postgres://…`) [default: the configuration's;
    /// `DATABASE_URL` also works].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The store these options name, opened (and migrated) as the gateway opens it.
    pub async fn open(&self) -> Result<Store> {
        let mut config = GatewayConfig::load_or_default(self.config.as_deref())?;
        if let Some(url) = &self.store {
            config.store.url = Some(url.clone());
        }
        crate::app::open_store(&config).await
    }
}
