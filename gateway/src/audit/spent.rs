//! Pruning spent codes: the store keeps a code's nonce only while the code could still be
//! shown (its expiry plus the clock skew the verifier allows). Once a minute every expiry
//! bucket wholly in the past is dropped with range deletes of [`PRUNE_CHUNK`] rows, each its own
//! short transaction — off the verify path, never holding the store's write lock for long
//! (found by `loadtest soak`: one delete of a minute's bucket stalled the audit commits for
//! seconds), and harmless when several nodes do it.

use std::time::Duration;

use store::Store;
use tokio::task::JoinHandle;

use crate::cluster::replay::oldest_live_bucket;
use crate::shutdown::Shutdown;

/// Rows deleted per statement of a prune.
pub const PRUNE_CHUNK: u32 = 2_000;

/// How often expired buckets are dropped.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Drops the spent codes whose every code has expired at `now` (Unix seconds), allowing for
/// `skew_secs`; how many went.
pub async fn prune_once(store: &Store, now: i64, skew_secs: u32) -> Result<u64, store::StoreError> {
    store
        .prune_spent(oldest_live_bucket(now, skew_secs.into()), PRUNE_CHUNK)
        .await
}

/// Prunes every [`PRUNE_EVERY`] until the shutdown.
pub fn spawn_pruner(store: Store, skew_secs: u32, shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = shutdown.every(PRUNE_EVERY);
        while every.tick().await {
            match prune_once(&store, chrono::Utc::now().timestamp(), skew_secs).await {
                Ok(0) => {}
                Ok(pruned) => tracing::debug!(pruned, "dropped the spent codes of expired codes"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot prune spent codes; trying again later")
                }
            }
        }
    })
}
