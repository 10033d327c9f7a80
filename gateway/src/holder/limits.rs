//! Rate limits on the holder's own routes ("who checked me", a holder's objection): per client
//! address, checked before anything is decoded, and per holder, checked once their code is
//! authentic and before it is spent. Both are token buckets held across nodes the way venue
//! quotas are ([`crate::cluster::quota`]: one bucket per key in Redis, taken from in chunks,
//! each node's share of it when Redis is unreachable), keyed `holder:address:<ip>` and
//! `holder:subject:<keyed subject hash>`. A node keeps the buckets it used lately (bounded, idle
//! ones dropped after a minute), so a flood of distinct keys costs memory it gives back.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::cluster::quota::{Quotas, VenueQuota};
use crate::error::Failure;

/// How many buckets of each kind a node keeps at most.
const KEPT: u64 = 100_000;
/// A bucket unused this long is dropped (it has refilled by then).
const IDLE: Duration = Duration::from_secs(60);

/// The holder routes' limits: requests per second per client address and per holder.
#[derive(Clone)]
pub struct HolderLimits {
    quotas: Quotas,
    per_address: u32,
    per_subject: u32,
    addresses: Cache<IpAddr, Arc<VenueQuota>>,
    subjects: Cache<[u8; 32], Arc<VenueQuota>>,
}

impl std::fmt::Debug for HolderLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HolderLimits")
            .field("per_address", &self.per_address)
            .field("per_subject", &self.per_subject)
            .finish()
    }
}

impl HolderLimits {
    /// Limits of `per_address` and `per_subject` requests per second (each with a burst of two
    /// seconds' worth), held in `quotas`' engine.
    pub fn new(quotas: Quotas, per_address: u32, per_subject: u32) -> HolderLimits {
        HolderLimits {
            quotas,
            per_address,
            per_subject,
            addresses: kept(),
            subjects: kept(),
        }
    }

    /// One request from `address`, or 429 with how long to wait.
    pub async fn admit_address(&self, address: IpAddr) -> Result<(), Failure> {
        let bucket = self.addresses.get_with(address, || {
            self.quotas
                .untracked(&format!("holder:address:{address}"), self.per_address)
        });
        admit(&bucket).await
    }

    /// One request of the holder whose keyed subject hash is `subject`, or 429.
    pub async fn admit_subject(&self, subject: [u8; 32]) -> Result<(), Failure> {
        let bucket = self.subjects.get_with(subject, || {
            self.quotas.untracked(
                &format!("holder:subject:{}", hex::encode(subject)),
                self.per_subject,
            )
        });
        admit(&bucket).await
    }
}

/// A node's recently used buckets of one kind.
fn kept<K>() -> Cache<K, Arc<VenueQuota>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(KEPT)
        .time_to_idle(IDLE)
        .build()
}

async fn admit(bucket: &VenueQuota) -> Result<(), Failure> {
    bucket
        .admit()
        .await
        .map_err(|wait| Failure::HolderRateLimited {
            retry_after_secs: crate::error::retry_after_secs(wait),
        })
}
