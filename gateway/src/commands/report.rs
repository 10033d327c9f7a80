//! `gateway report --from YYYY-MM-DD --to YYYY-MM-DD [--format markdown|csv]
//! [--by day|city|department]`: the plan's targets measured from the traffic every node
//! counted in the store ([`crate::kpis`]), against the targets of the configuration's rollout
//! plan. Reads the store only; a running gateway is not needed.

use std::io::Write;

use anyhow::{Context as _, Result};
use chrono::NaiveDate;

use super::store_args::StoreArgs;
use crate::admin::rollout::Rollout;
use crate::config::GatewayConfig;
use crate::kpis::evaluate::{self, By, Context};
use crate::kpis::format::{self, Format};

/// Arguments of `gateway report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// First day of the window (China time), included.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: NaiveDate,
    /// Last day of the window (China time), included.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: NaiveDate,
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Group the rows by day, city or department [default: the whole window].
    #[arg(long, value_enum)]
    pub by: Option<By>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `gateway report`: prints the evaluation table.
pub async fn report(args: &ReportArgs, out: &mut dyn Write) -> Result<()> {
    if args.to < args.from {
        anyhow::bail!("`--to {}` is before `--from {}`", args.to, args.from);
    }
    let config = GatewayConfig::load_or_default(args.store.config.as_deref())?;
    let catalogue = crate::app::configured_catalogue(&config)?;
    let rollout = Rollout::load(&config, std::sync::Arc::clone(&catalogue))?;
    let plan = rollout.plan();
    let store = args.store.open().await?;
    let context = Context {
        targets: plan.targets(),
        certificates: catalogue.certificates().len(),
    };
    let evaluation = evaluate::evaluation(&store, context, args.from, args.to, args.by)
        .await
        .context("reading the KPI counters")?;
    store.close().await;
    let mut text = Vec::new();
    format::write(&evaluation, args.format, &mut text)?;
    out.write_all(&text)?;
    Ok(())
}
