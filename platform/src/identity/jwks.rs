//! The provider's signing keys, cached: fetched on first use, fresh for `refresh`, then fetched
//! again when next needed. The rules that keep the provider safe from us and us from it:
//!
//! - One fetch at a time: verifications that need keys while a fetch is in flight wait for it
//!   and share its result (a verification whose key is in a still-usable set does not wait).
//! - A token whose `kid` is not in a fresh set triggers a refetch (the provider may have
//!   rotated), but at most one per [`UNKNOWN_KEY_REFETCH_INTERVAL`]: a flood of tokens with
//!   made-up key ids costs the provider one request per interval, not one per token.
//! - After a failed fetch, no fetch is tried again for [`RETRY_INTERVAL`] (bar
//!   [`crate::TokenVerifier::refresh`], which an operator or a test asks for).
//! - A failed fetch — unreachable, an error status, garbage, no usable key — keeps the keys
//!   already held; they serve until `max_stale` after the last successful fetch, and past that
//!   verification fails with `token.provider_unavailable`. Each failure is logged at warn.
//!
//! The counters ([`JwksCounts`]) say what happened without timing anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::fetch::{FetchError, Fetcher};
use super::keys::{KeySet, VerificationKey};
use super::TokenError;

/// Least time between two refetches caused by unknown key ids.
pub const UNKNOWN_KEY_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Least time after a failed fetch before the next one is tried.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// What the cache has done since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwksCounts {
    /// Fetches of the JWKS started (successful or not).
    pub fetches: u64,
    /// Fetches that brought no keys: unreachable, timeout, error status, garbage, no usable
    /// key. The keys held before were kept.
    pub fetch_failures: u64,
    /// Fetches started because a token named a key id not in a fresh set.
    pub unknown_key_refetches: u64,
    /// Unknown key ids that found a refetch not allowed yet (and were refused without one).
    pub refetches_throttled: u64,
}

#[derive(Debug, Default)]
struct Counters {
    fetches: AtomicU64,
    fetch_failures: AtomicU64,
    unknown_key_refetches: AtomicU64,
    refetches_throttled: AtomicU64,
}

/// What the cache holds.
#[derive(Debug, Default)]
struct State {
    keys: Arc<KeySet>,
    last_success: Option<Instant>,
    /// When the last fetch ended, and whether it brought keys.
    last_attempt: Option<(Instant, bool)>,
    last_unknown_key_refetch: Option<Instant>,
    /// Fetches ended so far: a waiter that sees it move knows a fetch finished meanwhile.
    generation: u64,
}

/// The provider's keys, fetched and cached.
#[derive(Debug)]
pub(crate) struct JwksCache {
    fetcher: Fetcher,
    refresh: Duration,
    max_stale: Duration,
    state: Mutex<State>,
    /// Held for the length of a fetch: the one-in-flight rule.
    fetching: tokio::sync::Mutex<()>,
    counters: Counters,
}

/// Proof that the caller holds [`JwksCache::fetching`].
type FetchTurn<'a> = tokio::sync::MutexGuard<'a, ()>;

impl JwksCache {
    pub fn new(fetcher: Fetcher, refresh: Duration, max_stale: Duration) -> JwksCache {
        JwksCache {
            fetcher,
            refresh,
            max_stale,
            state: Mutex::default(),
            fetching: tokio::sync::Mutex::new(()),
            counters: Counters::default(),
        }
    }

    /// The key `kid`, fetching the keys first when they are missing or stale, or again when
    /// `kid` is not among fresh keys (within the limits above).
    pub async fn key(&self, kid: &str) -> Result<Arc<VerificationKey>, TokenError> {
        let (keys, fresh, generation) = {
            let state = self.state();
            (state.keys.clone(), self.is_fresh(&state), state.generation)
        };
        if fresh {
            return match keys.get(kid) {
                Some(key) => Ok(key),
                None => self.refetch_for(kid, generation).await,
            };
        }
        // Missing or stale. While another caller fetches, a key of a still-usable set serves
        // without waiting; otherwise wait for (or make) the fetch.
        let turn = match self.fetching.try_lock() {
            Ok(turn) => turn,
            Err(_) => {
                if let Some(key) = self.usable_key(kid) {
                    return Ok(key);
                }
                self.fetching.lock().await
            }
        };
        let fetched = self.refresh_stale(&turn, generation).await;
        drop(turn);
        let state = self.state();
        if !fetched && !self.is_usable(&state) {
            return Err(TokenError::ProviderUnavailable);
        }
        state.keys.get(kid).ok_or_else(|| unknown(kid))
    }

    /// Fetches the keys now, whatever their age and the intervals; waits for a fetch in
    /// flight first. The number of usable keys, or why none were had (the old ones are kept).
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let turn = self.fetching.lock().await;
        self.fetch(&turn).await
    }

    pub fn counts(&self) -> JwksCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        JwksCounts {
            fetches: get(&c.fetches),
            fetch_failures: get(&c.fetch_failures),
            unknown_key_refetches: get(&c.unknown_key_refetches),
            refetches_throttled: get(&c.refetches_throttled),
        }
    }

    /// The ids of the keys held, sorted (whether or not still usable).
    pub fn key_ids(&self) -> Vec<String> {
        self.state().keys.ids()
    }

    /// A refetch for an unknown `kid` among fresh keys, if one is allowed now.
    async fn refetch_for(
        &self,
        kid: &str,
        generation: u64,
    ) -> Result<Arc<VerificationKey>, TokenError> {
        let turn = self.fetching.lock().await;
        {
            let mut state = self.state();
            if state.generation != generation {
                // A fetch ended while this caller waited: its keys are the newest there are.
                return state.keys.get(kid).ok_or_else(|| unknown(kid));
            }
            let now = Instant::now();
            let too_soon = state
                .last_unknown_key_refetch
                .is_some_and(|t| now.duration_since(t) < UNKNOWN_KEY_REFETCH_INTERVAL)
                || self.failed_recently(&state, now);
            if too_soon {
                self.counters
                    .refetches_throttled
                    .fetch_add(1, Ordering::Relaxed);
                return Err(unknown(kid));
            }
            state.last_unknown_key_refetch = Some(now);
        }
        self.counters
            .unknown_key_refetches
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            kid = %super::header::shown(kid),
            "a token names a key not among the identity provider's keys; fetching them again"
        );
        // A failure is logged and counted in `fetch`; the key stays unknown either way.
        let _ = self.fetch(&turn).await;
        drop(turn);
        self.state().keys.get(kid).ok_or_else(|| unknown(kid))
    }

    /// Fetches stale keys unless a fetch ended while the caller waited (its outcome is the
    /// answer) or the last one failed too recently. Whether keys were just fetched.
    async fn refresh_stale(&self, turn: &FetchTurn<'_>, generation: u64) -> bool {
        {
            let state = self.state();
            if state.generation != generation {
                return state.last_attempt.is_some_and(|(_, ok)| ok);
            }
            if self.failed_recently(&state, Instant::now()) {
                return false;
            }
        }
        self.fetch(turn).await.is_ok()
    }

    /// One fetch; its keys replace the old ones only if it brought some.
    async fn fetch(&self, _turn: &FetchTurn<'_>) -> Result<usize, FetchError> {
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetcher.fetch().await;
        let now = Instant::now();
        let mut state = self.state();
        state.generation += 1;
        match result {
            Ok(parsed) => {
                if !parsed.skipped.is_empty() {
                    tracing::debug!(
                        skipped = ?parsed.skipped,
                        "identity provider keys left out"
                    );
                }
                let count = parsed.keys.len();
                tracing::debug!(keys = count, "identity provider keys fetched");
                state.keys = Arc::new(parsed.keys);
                state.last_success = Some(now);
                state.last_attempt = Some((now, true));
                Ok(count)
            }
            Err(e) => {
                self.counters.fetch_failures.fetch_add(1, Ordering::Relaxed);
                state.last_attempt = Some((now, false));
                let age = state.last_success.map(|t| now.duration_since(t));
                let kept = match age {
                    Some(age) if age <= self.max_stale.max(self.refresh) => "kept",
                    Some(_) => "too old to serve",
                    None => "none held",
                };
                tracing::warn!(
                    error = %e,
                    keys = state.keys.len(),
                    last_success_secs_ago = age.map(|a| a.as_secs()),
                    max_stale_secs = self.max_stale.as_secs(),
                    "fetching the identity provider's keys failed; the keys held before are {kept}"
                );
                Err(e)
            }
        }
    }

    /// The key `kid` if the set held is still usable.
    fn usable_key(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        let state = self.state();
        if self.is_usable(&state) {
            state.keys.get(kid)
        } else {
            None
        }
    }

    fn is_fresh(&self, state: &State) -> bool {
        state
            .last_success
            .is_some_and(|t| t.elapsed() < self.refresh)
    }

    /// Fresh, or stale but within `max_stale` of the last successful fetch.
    fn is_usable(&self, state: &State) -> bool {
        state.last_success.is_some_and(|t| {
            let age = t.elapsed();
            age < self.refresh || age <= self.max_stale
        })
    }

    fn failed_recently(&self, state: &State, now: Instant) -> bool {
        matches!(state.last_attempt, Some((at, false)) if now.duration_since(at) < RETRY_INTERVAL)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unknown(kid: &str) -> TokenError {
    TokenError::UnknownKey {
        kid: super::header::shown(kid),
    }
}
