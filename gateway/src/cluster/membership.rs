//! This node among the nodes sharing one store: its name (`audit.node`) held as a lease —
//! claimed at start, renewed by a heartbeat, let go at shutdown — the count of live nodes, and
//! the settings every node must agree on (the key of the subject hashes, by fingerprint, and
//! the audit chain's hash).
//!
//! A node refuses to start when its subject-hash key differs from the one the store's first
//! node brought ("who checked me" would show each node's entries only), when its audit chain
//! hash is not the store's (one chain cannot mix two hashes), or when another live
//! node holds its name (their audit entries and checkpoints would be indistinguishable). The
//! lease is held by the node's *instance* — the id of its checkpoint key, which lives in its data
//! folder — so a node restarted after a crash takes its own name back at once, while a second
//! node with the same name and another data folder is refused until the lease lapses.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use store::{NodeLease, Store, StoreError};
use tokio::task::JoinHandle;

use crate::audit::hash::{self, ChainHash};
use crate::audit::SubjectHasher;
use crate::shutdown::Shutdown;

/// How long a lease lasts without renewal: a node that stopped without letting go frees its
/// name (and stops counting as live) this long after its last heartbeat.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often the lease is renewed and the live nodes counted.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// The deployment setting holding the subject-hash key's fingerprint.
const SUBJECT_KEY_SETTING: &str = "subject_key_fingerprint";

/// Why a node may not join the store's nodes.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(
        "this node's subject-hash key (fingerprint {ours}) is not the one the other nodes on this \
         store use (fingerprint {theirs}): give every node the same `audit.subject_key_file` \
         (copy the first node's file), or \"who checked me\" would miss entries"
    )]
    SubjectKeyMismatch { ours: String, theirs: String },
    #[error(
        "this node is configured with `audit.hash = \"{ours}\"`, but the audit chain in this \
         store is hashed with {theirs}: set `audit.hash = \"{theirs}\"` (a chain keeps the \
         hash it began with; a new hash needs a new store)"
    )]
    ChainHashMismatch { ours: ChainHash, theirs: String },
    #[error(
        "node name `{name}` is held by another live node (instance `{instance}`, lease until \
         {until}): give this node a name of its own with `audit.node`, or start it from that \
         node's data folder"
    )]
    NameTaken {
        name: String,
        instance: String,
        until: DateTime<Utc>,
    },
    #[error("cannot register this node in the store")]
    Store(#[from] StoreError),
}

/// This node's membership: hold it for as long as the node serves.
#[derive(Debug)]
pub struct Membership {
    store: Store,
    name: String,
    instance: String,
    live: Arc<AtomicU32>,
}

/// A fingerprint of the subject-hash key that gives nothing of the key away: the keyed hash of
/// a fixed label.
pub fn subject_key_fingerprint(subjects: &SubjectHasher) -> String {
    hex::encode(&subjects.hash("mianzheng/subject-key-fingerprint")[..16])
}

impl Membership {
    /// Joins the nodes of `store` as `name` (instance `instance`), checking the subject-hash
    /// key and the audit chain's hash first.
    pub async fn join(
        store: Store,
        name: &str,
        instance: &str,
        subjects: &SubjectHasher,
        chain_hash: ChainHash,
    ) -> Result<Membership, JoinError> {
        let ours = subject_key_fingerprint(subjects);
        let theirs = store.agree_setting(SUBJECT_KEY_SETTING, &ours).await?;
        if theirs != ours {
            return Err(JoinError::SubjectKeyMismatch { ours, theirs });
        }
        let theirs = store
            .agree_setting(hash::SETTING, chain_hash.name())
            .await?;
        if theirs != chain_hash.name() {
            return Err(JoinError::ChainHashMismatch {
                ours: chain_hash,
                theirs,
            });
        }
        let now = store::now();
        let lease = NodeLease {
            name: name.to_owned(),
            instance: instance.to_owned(),
            started_at: now,
            expires_at: now + LEASE_TTL,
        };
        if let Err(holder) = store.claim_node(&lease).await? {
            return Err(JoinError::NameTaken {
                name: name.to_owned(),
                instance: holder.instance,
                until: holder.expires_at,
            });
        }
        let membership = Membership {
            store,
            name: name.to_owned(),
            instance: instance.to_owned(),
            live: Arc::new(AtomicU32::new(1)),
        };
        membership.count_live().await?;
        Ok(membership)
    }

    /// The number of live nodes (this one included), kept current by the heartbeat: what a
    /// node's share of a shared limit is computed from when the shared engine is out of reach.
    pub fn live_nodes(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.live)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    async fn count_live(&self) -> Result<u32, StoreError> {
        let live = self.store.live_nodes(store::now()).await?;
        let n = u32::try_from(live.len()).unwrap_or(u32::MAX).max(1);
        self.live.store(n, Ordering::Relaxed);
        Ok(n)
    }

    /// One heartbeat: renews the lease (or claims it again if it lapsed meanwhile and the name
    /// is still free) and counts the live nodes.
    pub async fn beat(&self) -> Result<(), JoinError> {
        let now = store::now();
        let renewed = self
            .store
            .renew_node(&self.name, &self.instance, now + LEASE_TTL)
            .await?;
        if !renewed {
            let lease = NodeLease {
                name: self.name.clone(),
                instance: self.instance.clone(),
                started_at: now,
                expires_at: now + LEASE_TTL,
            };
            if let Err(holder) = self.store.claim_node(&lease).await? {
                return Err(JoinError::NameTaken {
                    name: self.name.clone(),
                    instance: holder.instance,
                    until: holder.expires_at,
                });
            }
        }
        self.count_live().await?;
        Ok(())
    }

    /// Renews the lease every [`HEARTBEAT`] until the shutdown. A failed beat is logged and
    /// tried again; the live count keeps its last value meanwhile.
    pub fn spawn_heartbeat(self: &Arc<Self>, shutdown: Shutdown) -> JoinHandle<()> {
        let membership = Arc::clone(self);
        tokio::spawn(async move {
            let mut every = shutdown.every(HEARTBEAT);
            while every.tick().await {
                if let Err(e) = membership.beat().await {
                    tracing::error!(error = %e, node = %membership.name, "node lease not renewed");
                }
            }
        })
    }

    /// Lets the name go (at shutdown), so a replacement may take it at once.
    pub async fn leave(&self) {
        if let Err(e) = self.store.release_node(&self.name, &self.instance).await {
            tracing::warn!(error = %e, node = %self.name, "cannot release the node's lease");
        }
    }
}
