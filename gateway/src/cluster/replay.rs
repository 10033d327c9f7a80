//! Replay detection on this node: each code's nonce (`cti`) may be used once while the code is
//! valid. This is the fast path for same-node replays; what holds across nodes and restarts is
//! the store's table of spent codes ([`store::spent`]), which a verification's nonce joins in
//! its audit entry's group commit. A use the store turns down or never records (a 503) is
//! [`ReplayGuard::forget`]-ten here, so the venue's retry of the same code is not refused.
//!
//! A replayed code carries the same signed `exp` as the original, so nonces are filed in
//! buckets by expiry (one bucket per [`BUCKET_SECS`]) and a replay is looked for only in its
//! own bucket. A bucket is dropped whole once every code it holds has expired (plus the clock
//! skew): no per-entry timers, no scans. Memory follows the codes in circulation, about 40
//! bytes per code verified within a code lifetime; nonces are only filed after the code's
//! signature has verified, so nobody can fill this without valid codes.
//!
//! Measured with `loadtest compare --warm --pin --profile hmac` (2-core VM): replacing a moka
//! cache with per-entry expiry by these buckets cut the gateway's CPU per verify by ~2 µs.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};
use store::Spend;

/// Width of one expiry bucket, in seconds.
pub const BUCKET_SECS: i64 = 30;

/// Nonces seen within their codes' validity.
#[derive(Debug)]
pub struct ReplayGuard {
    /// This node's name, for telling a replay where the code was first used.
    node: String,
    skew_secs: i64,
    /// Bucket → nonce → when it was first used (Unix microseconds).
    buckets: Mutex<HashMap<i64, HashMap<[u8; 16], i64>>>,
}

/// Where a code's nonce is filed, here and in the store: its expiry bucket and its nonce
/// folded to 16 bytes.
pub fn spend_of(nonce: &[u8], expires_at: i64) -> Spend {
    Spend {
        bucket: expires_at.div_euclid(BUCKET_SECS),
        nonce: nonce_key(nonce),
    }
}

/// The oldest bucket that may still hold a code within its validity at `now` (Unix seconds),
/// allowing for `skew_secs`: every bucket below it can be dropped.
pub fn oldest_live_bucket(now: i64, skew_secs: i64) -> i64 {
    now.saturating_sub(skew_secs).div_euclid(BUCKET_SECS)
}

impl ReplayGuard {
    pub fn new(node: &str, skew_secs: u32) -> ReplayGuard {
        ReplayGuard {
            node: node.to_owned(),
            skew_secs: skew_secs.into(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Records `nonce` of a code expiring at `expires_at` (Unix seconds), checked at `now`
    /// (Unix microseconds); `Err(first use, in Unix microseconds)` when the nonce was already
    /// used.
    pub fn first_use(&self, nonce: &[u8], expires_at: i64, now_us: i64) -> Result<(), i64> {
        let Spend { bucket, nonce } = spend_of(nonce, expires_at);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        // Drop buckets whose every code has expired; at most a handful exist at a time.
        let oldest_live = oldest_live_bucket(now_us.div_euclid(1_000_000), self.skew_secs);
        if buckets.keys().any(|&b| b < oldest_live) {
            buckets.retain(|&b, _| b >= oldest_live);
        }
        match buckets.entry(bucket).or_default().entry(nonce) {
            std::collections::hash_map::Entry::Occupied(first) => Err(*first.get()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now_us);
                Ok(())
            }
        }
    }

    /// Forgets a use recorded by [`ReplayGuard::first_use`]: the verification it began was not
    /// recorded, so its code is not spent.
    pub fn forget(&self, nonce: &[u8], expires_at: i64) {
        let Spend { bucket, nonce } = spend_of(nonce, expires_at);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(nonces) = buckets.get_mut(&bucket) {
            nonces.remove(&nonce);
        }
    }

    /// The node whose uses this guard remembers.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Nonces currently remembered.
    pub fn len(&self) -> usize {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Our codes carry 16-byte nonces; any other length is folded to 16 bytes by SHA-256.
fn nonce_key(nonce: &[u8]) -> [u8; 16] {
    match <[u8; 16]>::try_from(nonce) {
        Ok(key) => key,
        Err(_) => {
            let digest = Sha256::digest(nonce);
            let mut key = [0u8; 16];
            key.copy_from_slice(&digest[..16]);
            key
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const US: i64 = 1_000_000;

    #[test]
    fn a_nonce_is_accepted_once_while_valid() {
        let guard = ReplayGuard::new("n1", 30);
        assert_eq!(
            guard.first_use(b"0123456789abcdef", NOW + 60, NOW * US),
            Ok(())
        );
        assert_eq!(
            guard.first_use(b"0123456789abcdef", NOW + 60, (NOW + 1) * US),
            Err(NOW * US),
            "the replay is told when the code was first used"
        );
        assert_eq!(
            guard.first_use(b"0123456789abcdeF", NOW + 60, NOW * US),
            Ok(())
        );
        assert_eq!(
            guard.first_use(b"a longer nonce of 24 byte", NOW + 60, NOW * US),
            Ok(())
        );
        assert!(guard
            .first_use(b"a longer nonce of 24 byte", NOW + 60, NOW * US)
            .is_err());
    }

    #[test]
    fn a_forgotten_use_may_be_made_again() {
        let guard = ReplayGuard::new("n1", 30);
        assert_eq!(guard.first_use(&[7; 16], NOW + 60, NOW * US), Ok(()));
        guard.forget(&[7; 16], NOW + 60);
        assert_eq!(guard.first_use(&[7; 16], NOW + 60, (NOW + 2) * US), Ok(()));
        assert!(guard.first_use(&[7; 16], NOW + 60, (NOW + 3) * US).is_err());
    }

    #[test]
    fn expired_buckets_are_dropped_whole() {
        let guard = ReplayGuard::new("n1", 30);
        for i in 0..100u8 {
            assert!(guard.first_use(&[i; 16], NOW + 60, NOW * US).is_ok());
        }
        assert_eq!(guard.len(), 100);
        // Long after those codes expired, the next use sweeps their bucket.
        assert!(guard
            .first_use(&[200; 16], NOW + 1000, (NOW + 500) * US)
            .is_ok());
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn a_replay_within_the_skew_after_expiry_is_still_caught() {
        let guard = ReplayGuard::new("n1", 30);
        assert!(guard.first_use(&[1; 16], NOW, (NOW - 10) * US).is_ok());
        // 20 s after `exp`: within the 30 s skew the verifier tolerates.
        assert!(guard.first_use(&[1; 16], NOW, (NOW + 20) * US).is_err());
    }

    #[test]
    fn the_store_and_the_guard_file_a_code_alike() {
        let spend = spend_of(&[9; 16], NOW + 45);
        assert_eq!(spend.bucket, (NOW + 45) / BUCKET_SECS);
        assert_eq!(spend.nonce, [9; 16]);
        // A bucket is dropped only once every code in it is past its expiry and the skew.
        let last_exp_in_bucket = (spend.bucket + 1) * BUCKET_SECS - 1;
        assert!(oldest_live_bucket(last_exp_in_bucket + 30, 30) <= spend.bucket);
        assert!(oldest_live_bucket(last_exp_in_bucket + 31, 30) > spend.bucket);
    }
}
