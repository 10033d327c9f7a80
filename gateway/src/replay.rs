//! Replay detection: each code's nonce (`cti`) may be used once while the code is valid. Seen
//! nonces live in a bounded moka cache, each until its code expires (plus the clock skew), so
//! memory follows the codes in circulation, not the total ever seen.

use std::time::{Duration, Instant};

use moka::sync::Cache;
use moka::Expiry;

struct UntilExpiry;

impl Expiry<Vec<u8>, Instant> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &Vec<u8>,
        until: &Instant,
        now: Instant,
    ) -> Option<Duration> {
        Some(until.saturating_duration_since(now))
    }
}

/// Nonces seen within their codes' validity.
#[derive(Clone)]
pub struct ReplayGuard {
    seen: Cache<Vec<u8>, Instant>,
}

impl std::fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("entries", &self.seen.entry_count())
            .finish()
    }
}

impl ReplayGuard {
    /// At most `capacity` nonces are remembered; past that the oldest are evicted first (a
    /// flood of valid codes could then replay an evicted one: size it above the codes a node
    /// sees within a code lifetime).
    pub fn new(capacity: u64) -> ReplayGuard {
        ReplayGuard {
            seen: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    /// Records `nonce` as used for `valid_for` more; false when it was already used.
    pub fn first_use(&self, nonce: &[u8], valid_for: Duration) -> bool {
        let until = Instant::now() + valid_for;
        self.seen.entry(nonce.to_vec()).or_insert(until).is_fresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_while_valid() {
        let guard = ReplayGuard::new(100);
        assert!(guard.first_use(b"n1", Duration::from_secs(60)));
        assert!(!guard.first_use(b"n1", Duration::from_secs(60)));
        assert!(guard.first_use(b"n2", Duration::from_secs(60)));
    }

    #[test]
    fn a_nonce_is_forgotten_after_its_code_expires() {
        let guard = ReplayGuard::new(100);
        assert!(guard.first_use(b"n", Duration::from_millis(20)));
        std::thread::sleep(Duration::from_millis(60));
        guard.seen.run_pending_tasks();
        assert!(guard.first_use(b"n", Duration::from_secs(60)));
    }
}
