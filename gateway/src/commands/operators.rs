//! `gateway operators add|list|disable`: the admin API's operator accounts, written straight to
//! the store the configuration names (what a deployment uses to make its first operator, or
//! when no operator with `operator-admin` is left). `add` prints the new token once; the store
//! keeps only its hash. A running gateway refuses a disabled operator within
//! [`crate::admin::operators::CACHE_TTL`].

use std::io::Write;

use anyhow::{Context as _, Result};
use store::OperatorRow;
use wire::admin_api::Role;

use super::store_args::StoreArgs;
use crate::admin::operators::{new_account, role_list};

/// Arguments of `gateway operators add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The operator's name: 1–64 lowercase letters, digits, `-`, `_` or `.`; unique.
    #[arg(long)]
    pub name: String,
    /// A role to grant (repeat for several): viewer, objection-handler, commitment-checker,
    /// venue-admin, rollout-admin, operator-admin.
    #[arg(long = "role", value_name = "ROLE", required = true)]
    pub roles: Vec<Role>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `gateway operators list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `gateway operators disable`.
#[derive(Debug, clap::Args)]
pub struct DisableArgs {
    /// The operator to disable.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Who ran the command, as the new account's `created_by`: `cli:<user>`.
fn cli_creator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

/// `gateway operators add`: adds the operator and prints its token, once.
pub async fn add(args: &AddArgs, out: &mut dyn Write) -> Result<()> {
    let (row, token) = new_account(&args.name, &args.roles, &cli_creator())?;
    let store = args.store.open().await?;
    store
        .insert_operator(&row)
        .await
        .with_context(|| format!("adding operator `{}`", row.name))?;
    writeln!(
        out,
        "operator `{}` added with roles {}\n\
         its token (shown this once; the store keeps only its hash):\n{token}",
        row.name,
        role_list(&row.roles)
    )?;
    Ok(())
}

/// `gateway operators list`: name, roles, created, disabled — never a token.
pub async fn list(args: &ListArgs, out: &mut dyn Write) -> Result<()> {
    let store = args.store.open().await?;
    let rows = store.list_operators().await.context("listing operators")?;
    if rows.is_empty() {
        writeln!(
            out,
            "no operator yet: add one with `gateway operators add --name NAME --role operator-admin`"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:<40} {:<44} disabled",
        "name", "roles", "created"
    )?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

fn line(row: &OperatorRow) -> String {
    let created = format!(
        "{} by {}",
        row.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
        row.created_by
    );
    let disabled = row.disabled_at.map_or_else(
        || "-".to_owned(),
        |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    format!(
        "{:<24} {:<40} {:<44} {disabled}",
        row.name,
        role_list(&row.roles),
        created
    )
}

/// `gateway operators disable`: the operator's token is refused from now on.
pub async fn disable(args: &DisableArgs, out: &mut dyn Write) -> Result<()> {
    let store = args.store.open().await?;
    let row = store
        .disable_operator(&args.name, store::now())
        .await
        .with_context(|| format!("disabling operator `{}`", args.name))?;
    writeln!(
        out,
        "operator `{}` disabled (running gateways refuse its token within {} s)",
        row.name,
        crate::admin::operators::CACHE_TTL.as_secs()
    )?;
    Ok(())
}
