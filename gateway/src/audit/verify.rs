//! `gateway audit verify`: re-walks the whole stored chain and its checkpoints, a page of
//! entries at a time, and reports what it checked or the first break.

use store::{Store, StoreError};
use wire::keys::TrustList;

use super::chain::{ChainBreak, ChainReport, ChainWalker};

/// Entries read per query.
const PAGE: u32 = 1000;

/// Why a verification of the store did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyStoreError {
    /// The chain is broken (tampering, or a bug): where and how.
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    /// The store could not be read; nothing is known about the chain.
    #[error("cannot read the audit log")]
    Store(#[from] StoreError),
}

/// Checks every stored entry and checkpoint, trusting the node keys in `trust`.
///
/// Checkpoints are read first and entries after, so every checkpoint names a head that is
/// already stored, even while nodes keep appending; entries appended during the walk are
/// checked too. Memory: one page of entries plus the checkpoints.
pub async fn verify_store(
    store: &Store,
    trust: &TrustList,
) -> Result<ChainReport, VerifyStoreError> {
    let checkpoints = store.checkpoints().await?;
    let mut walker = ChainWalker::new(checkpoints, trust);
    let mut from = 1;
    loop {
        let page = store.audit_range(from, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        from = last.seq.saturating_add(1);
        for entry in &page {
            walker.push(entry)?;
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(walker.finish()?)
}
