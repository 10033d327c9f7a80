//! `gateway audit verify`: re-walks the stored audit chain and its signed checkpoints, checks
//! them against the nodes' anchors, and reports every problem — an edited, deleted or inserted
//! row, a forged or missing checkpoint, entries no checkpoint covers, a key nobody vouches for.
//!
//! `gateway audit rotate-node-key`: replaces a node's checkpoint key on purpose.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use chrono::TimeDelta;
use wire::keys::TrustList;

use crate::audit::checkpoint::node_key_algorithm;
use crate::audit::{
    audit_store, rotate_node_key, Anchor, AnchorSink, VerifyPolicy, VerifyStoreError,
};
use crate::config::GatewayConfig;

/// Checkpoint intervals after which an entry no checkpoint covers is a gap.
pub const UNCOVERED_INTERVALS: u64 = 3;

/// Where the store and the data folder come from: shared by the audit commands.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// Gateway configuration whose store, data folder and anchor to use (relative paths in it
    /// are taken from the file's folder) [default: ./config/gateway.toml if present, else the
    /// embedded one, relative to the current folder].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store (`sqlite://…` or `postgres://…`) [default: the configuration's;
    /// `DATABASE_URL` also works].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The data folder (`data.dir`) [default: the configuration's].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Arguments of `gateway audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// An anchor file (`audit.anchor_file` of a node: its keys and checkpoints, best a copy
    /// shipped off the node's host); repeat for several nodes. Its keys are trusted, and every
    /// checkpoint in it must be in the store and match the chain [default: the configuration's
    /// `audit.anchor_file`].
    #[arg(long, value_name = "FILE")]
    pub anchor: Vec<PathBuf>,
    /// Public checkpoint keys to trust besides the anchored ones (a node's
    /// `node-key.pub.toml`, or a trust list of several); repeatable.
    #[arg(long = "node-keys", alias = "trust", value_name = "FILE")]
    pub node_keys: Vec<PathBuf>,
    /// Entries older than this (seconds) that no checkpoint covers fail the verification
    /// [default: 3 × `audit.checkpoint_interval_secs`].
    #[arg(long, value_name = "SECS")]
    pub uncovered_after: Option<u64>,
}

/// Arguments of `gateway audit rotate-node-key`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The node whose key to replace [default: the configuration's `audit.node`, else the
    /// host name]. Stop the node first.
    #[arg(long = "node", value_name = "NAME")]
    pub name: Option<String>,
}

/// What the walk found; the binary turns it into the exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Intact,
    Broken,
}

/// The configuration with the command line's store and data folder applied, and the store.
async fn open(args: &NodeArgs) -> Result<(GatewayConfig, store::Store)> {
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
            .with_context(|| format!("opening the store `{}`", store::redact(&url)))?,
        None => {
            let dir = config.data_dir();
            if !dir.join(store::SQLITE_FILE).is_file() {
                bail!(
                    "no SQLite store in `{}` (the data folder, `data.dir`, as seen from `{}`): \
                     pass the node's configuration with `--config FILE`, its data folder with \
                     `--data-dir DIR`, or its store with `--store URL`",
                    dir.display(),
                    std::env::current_dir()?.display()
                );
            }
            store::Store::open_sqlite_in(&dir)
                .await
                .with_context(|| format!("opening the SQLite store in `{}`", dir.display()))?
        }
    };
    Ok((config, store))
}

fn read_anchors(config: &GatewayConfig, args: &VerifyArgs) -> Result<Option<Anchor>> {
    let mut anchor = Anchor::default();
    if args.anchor.is_empty() {
        let path = config.anchor_file();
        if !path.is_file() {
            if args.node_keys.is_empty() {
                bail!(
                    "no audit anchor at `{}` (the configuration's `audit.anchor_file`, by \
                     default in `data.dir`, as seen from `{}`): pass the node's configuration \
                     with `--config FILE`, its anchor with `--anchor FILE`, or the nodes' public \
                     keys with `--node-keys FILE`",
                    path.display(),
                    std::env::current_dir()?.display()
                );
            }
            return Ok(None);
        }
        anchor.read(&path)?;
    } else {
        for path in &args.anchor {
            anchor
                .read(path)
                .with_context(|| format!("the anchor given with `--anchor {}`", path.display()))?;
        }
    }
    Ok(Some(anchor))
}

fn read_node_keys(files: &[PathBuf]) -> Result<TrustList> {
    let mut trust = TrustList::default();
    for file in files {
        let list = TrustList::load(file).with_context(|| {
            format!(
                "loading the node keys given with `--node-keys {}`",
                file.display()
            )
        })?;
        for key in list.keys() {
            trust.insert(key.clone());
        }
    }
    Ok(trust)
}

/// `gateway audit verify`.
pub async fn verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<Verified> {
    let (config, store) = open(&args.node).await?;
    let interval = config.audit.checkpoint_interval_secs;
    let policy = VerifyPolicy {
        node_keys: read_node_keys(&args.node_keys)?,
        anchor: read_anchors(&config, args)?,
        now: store::now(),
        // Clamped to what a time span holds (about 290 000 years).
        uncovered_after: TimeDelta::seconds(
            i64::try_from(
                args.uncovered_after
                    .unwrap_or(interval.saturating_mul(UNCOVERED_INTERVALS)),
            )
            .unwrap_or(i64::MAX)
            .min(i64::MAX / 1_000_000),
        ),
    };
    match audit_store(&store, &policy).await {
        Ok(found) => {
            writeln!(out, "{}", found.report)?;
            for note in &found.notes {
                writeln!(out, "note: {note}")?;
            }
            for finding in &found.findings {
                writeln!(out, "FAILED: {finding}")?;
            }
            Ok(if found.passed() {
                Verified::Intact
            } else {
                Verified::Broken
            })
        }
        Err(VerifyStoreError::Broken(chain_break)) => {
            writeln!(out, "FAILED: {chain_break}")?;
            Ok(Verified::Broken)
        }
        Err(VerifyStoreError::Store(e)) => Err(e).context("reading the audit log"),
        Err(e @ VerifyStoreError::UnknownHash(_)) => {
            Err(anyhow::Error::new(e).context("this build cannot walk that chain"))
        }
    }
}

/// `gateway audit rotate-node-key`.
pub async fn rotate(args: &RotateArgs, out: &mut dyn Write) -> Result<()> {
    let (config, store) = open(&args.node).await?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| crate::app::node_name(&config));
    let anchor_path = config.anchor_file();
    let anchor = AnchorSink::open(&anchor_path)?;
    let data_dir = config.data_dir();
    let algorithm = node_key_algorithm(config.audit.hash);
    let (retired, key) = rotate_node_key(&store, &data_dir, &name, algorithm, &anchor)
        .await
        .with_context(|| format!("replacing the checkpoint key of node `{name}`"))?;
    writeln!(
        out,
        "node `{name}`: new checkpoint key `{}` in `{}`; retired {}; both written to the anchor \
         `{}`",
        key.kid(),
        data_dir
            .join(crate::audit::checkpoint::NODE_KEY_FILE)
            .display(),
        if retired.is_empty() {
            "none".to_owned()
        } else {
            retired
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        anchor_path.display()
    )?;
    Ok(())
}
