//! `gateway venues add|disable|delete|rotate|bind-certificate|unbind-certificate`: the venue registry in the store, without a running
//! gateway — how a deployment registers its first venues, and how it disables or re-keys the
//! demo venues an earlier demo run seeded into its store (a production gateway refuses to
//! start while they are there, so the admin API is not yet at hand). A running gateway's
//! admin API (`/admin/v1/venues…`) does the same; nodes already running see a change made
//! here within their venue cache's lifetime
//! ([`crate::venues::registry::POSITIVE_TTL`]).

use std::io::Write;

use anyhow::{Context as _, Result};
use wire::admin_api::VenueRegistration;
use wire::catalogue::Catalogue;

use super::store_args::StoreArgs;
use crate::cluster::quota::Quotas;
use crate::metrics::Metrics;
use crate::venues::registry::VenueRegistry;

/// Arguments of `gateway venues add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The venue's id: 1–64 lowercase letters, digits or `-`.
    #[arg(long)]
    pub id: String,
    /// The venue's name, as holders see it in "who checked me".
    #[arg(long)]
    pub name: String,
    /// GB/T 2260 code of the venue's city (e.g. 370100).
    #[arg(long)]
    pub city: u32,
    /// A scenario the venue may use (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', required = true)]
    pub scenario: Vec<String>,
    /// Requests per second the venue may send (burst: two seconds' worth).
    #[arg(long)]
    pub rate: u32,
    /// Bind the venue to a client certificate from the venues' CA (`venues.client_ca`)
    /// naming it: requests on a connection without one are refused, whatever key they send.
    #[arg(long)]
    pub client_certificate: bool,
    /// A service window of a service hall: it may pull an applicant's materials for a
    /// service item (`POST /v1/materials`) and record their commitments.
    #[arg(long)]
    pub service_window: bool,
}

/// Arguments of the `gateway venues` commands that change one venue.
#[derive(Debug, clap::Args)]
pub struct VenueArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The venue's id.
    pub id: String,
}

/// Registers a venue under a fresh key and prints the key (shown once: the store keeps only
/// its hash).
pub async fn add(args: &AddArgs, catalogue: &Catalogue, out: &mut dyn Write) -> Result<()> {
    let registration = VenueRegistration {
        id: args.id.clone(),
        name: args.name.trim().to_owned(),
        city: args.city,
        scenarios: args.scenario.clone(),
        rate_per_sec: args.rate,
        client_certificate: args.client_certificate,
        service_window: args.service_window,
    };
    let problems = crate::venues::registration_problems(catalogue, &registration);
    if !problems.is_empty() {
        anyhow::bail!("venue `{}`: {}", args.id, problems.join("; "));
    }
    let (row, key) = registry(&args.store)
        .await?
        .register(crate::venues::registration_row(registration))
        .await
        .with_context(|| format!("registering venue `{}`", args.id))?;
    writeln!(out, "venue `{}` registered; its key (shown once):", row.id)?;
    writeln!(out, "{key}")?;
    if row.client_certificate {
        writeln!(
            out,
            "it must also present a client certificate from the venues' CA naming `{}` ({})",
            row.id,
            crate::http::client_certificate::venue_uri(&row.id)
        )?;
    }
    Ok(())
}

/// Binds a venue to a client certificate naming it (`required`), or frees it of the binding.
pub async fn bind_certificate(args: &VenueArgs, required: bool, out: &mut dyn Write) -> Result<()> {
    let row = registry(&args.store)
        .await?
        .set_client_certificate(&args.id, required)
        .await
        .with_context(|| format!("changing the certificate binding of venue `{}`", args.id))?;
    if required {
        writeln!(
            out,
            "venue `{}` is bound to a client certificate naming it ({}): its key alone is refused",
            row.id,
            crate::http::client_certificate::venue_uri(&row.id)
        )?;
    } else {
        writeln!(
            out,
            "venue `{}` is no longer bound to a client certificate",
            row.id
        )?;
    }
    Ok(())
}

/// Disables a venue: its key is refused from now on.
pub async fn disable(args: &VenueArgs, out: &mut dyn Write) -> Result<()> {
    let row = registry(&args.store)
        .await?
        .set_disabled(&args.id, true)
        .await
        .with_context(|| format!("disabling venue `{}`", args.id))?;
    writeln!(out, "venue `{}` disabled", row.id)?;
    Ok(())
}

/// Deletes a venue: its key is refused as unknown from now on and its id is free again.
pub async fn delete(args: &VenueArgs, out: &mut dyn Write) -> Result<()> {
    registry(&args.store)
        .await?
        .delete(&args.id)
        .await
        .with_context(|| format!("deleting venue `{}`", args.id))?;
    writeln!(out, "venue `{}` deleted", args.id)?;
    Ok(())
}

/// Gives a venue a fresh key and prints it (shown once); the old key stops working.
pub async fn rotate(args: &VenueArgs, out: &mut dyn Write) -> Result<()> {
    let (row, key) = registry(&args.store)
        .await?
        .rotate(&args.id)
        .await
        .with_context(|| format!("rotating the key of venue `{}`", args.id))?;
    writeln!(out, "venue `{}` has a new key (shown once):", row.id)?;
    writeln!(out, "{key}")?;
    Ok(())
}

/// The registry on the configured (or given) store.
async fn registry(args: &StoreArgs) -> Result<VenueRegistry> {
    let store = args.open().await?;
    Ok(VenueRegistry::new(
        store,
        Metrics::new(),
        Quotas::standalone().clone(),
    ))
}
