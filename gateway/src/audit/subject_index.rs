//! Keeping "who checked me" up to date: the audit log is appended in chain order only, and this
//! task copies the subject hashes of the newest entries into the store's side table in bulk
//! (see `store::subjects`), off the verify path. A holder's query never misses an entry the copy
//! has not reached: the store scans the log's tail for those. Harmless when several nodes run it.

use std::time::Duration;

use store::Store;
use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;

/// How often the side table catches up with the log.
pub const INDEX_EVERY: Duration = Duration::from_secs(1);

/// Entries copied per transaction: large enough that each page of the side table is written
/// about once per run, small enough that a run holds the store's write lock for milliseconds.
pub const INDEX_BATCH: u32 = 20_000;

/// Copies until the side table has caught up with the log; how many entries it copied.
pub async fn catch_up(store: &Store) -> Result<u64, store::StoreError> {
    let mut copied = 0;
    loop {
        let n = store.index_subjects(INDEX_BATCH).await?;
        copied += n;
        if n < u64::from(INDEX_BATCH) {
            return Ok(copied);
        }
    }
}

/// Catches up every [`INDEX_EVERY`] until the shutdown.
pub fn spawn_indexer(store: Store, shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = shutdown.every(INDEX_EVERY);
        while every.tick().await {
            if let Err(e) = catch_up(&store).await {
                tracing::warn!(error = %e, "cannot index the audit log's subjects; trying again later");
            }
        }
    })
}
