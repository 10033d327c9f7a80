//! Codes whose signature has verified, remembered until they expire: a code shown again — a
//! replay, a venue's retry after a 503, the holder's own routes — is checked at the price of a
//! look-up, not of a signature (an SM2 or ES256 verification costs tens to hundreds of
//! microseconds; a replay must not).
//!
//! The key is the SHA-256 of the code's text, so a remembered verification covers exactly the
//! bytes that were verified: a code changed anywhere is a new code. What a remembered
//! verification skips is the signature arithmetic only: the algorithm, the key (trusted and
//! valid now), the time window and the claims are checked again every time
//! ([`wire::code::Verifier::check_with_signature_remembered`]). MAC codes are not remembered:
//! their check costs less than the look-up.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use moka::Expiry;
use sha2::{Digest as _, Sha256};

/// The most codes remembered: about 100 bytes each, so at most about 10 MB.
pub const CAPACITY: u64 = 100_000;

/// The SHA-256 of a code's text.
pub type CodeDigest = [u8; 32];

/// Codes whose signature verified, each until its expiry.
#[derive(Debug, Clone)]
pub struct VerifiedCodes {
    /// Digest → when to forget it.
    remembered: Cache<CodeDigest, Instant>,
}

struct UntilExpiry;

impl Expiry<CodeDigest, Instant> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &CodeDigest,
        forget_at: &Instant,
        now: Instant,
    ) -> Option<Duration> {
        Some(forget_at.saturating_duration_since(now))
    }
}

impl VerifiedCodes {
    pub fn new(capacity: u64) -> VerifiedCodes {
        VerifiedCodes {
            remembered: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    pub fn digest(text: &str) -> CodeDigest {
        Sha256::digest(text.as_bytes()).into()
    }

    /// Whether the code with this digest verified before (and has not expired since).
    pub fn contains(&self, digest: &CodeDigest) -> bool {
        self.remembered.contains_key(digest)
    }

    /// Remembers that the code with this digest verified, until it expires at `expires_at`
    /// (Unix seconds) plus `skew`; a code already expired is not remembered.
    pub fn remember(
        &self,
        digest: CodeDigest,
        expires_at: i64,
        skew: Duration,
        now: DateTime<Utc>,
    ) {
        let left = expires_at.saturating_sub(now.timestamp());
        let Ok(left) = u64::try_from(left) else {
            return;
        };
        let forget_at = Instant::now() + Duration::from_secs(left) + skew;
        self.remembered.insert(digest, forget_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_remembered_until_it_expires_and_no_other_code_is() {
        let codes = VerifiedCodes::new(16);
        let now = Utc::now();
        let code = VerifiedCodes::digest("MZ1:ONE");
        assert!(!codes.contains(&code));
        codes.remember(code, now.timestamp() + 60, Duration::ZERO, now);
        assert!(codes.contains(&code));
        assert!(!codes.contains(&VerifiedCodes::digest("MZ1:ONF")));

        let expired = VerifiedCodes::digest("MZ1:OLD");
        codes.remember(expired, now.timestamp() - 1, Duration::ZERO, now);
        assert!(!codes.contains(&expired));
        let ending = VerifiedCodes::digest("MZ1:NOW");
        codes.remember(ending, now.timestamp(), Duration::ZERO, now);
        codes.remembered.run_pending_tasks();
        assert!(!codes.contains(&ending), "expired on arrival");
    }
}
