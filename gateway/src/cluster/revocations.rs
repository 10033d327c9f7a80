//! Revocations every node applies at once: a delegation revoked (an agent's authorization, a
//! family member's grant) refuses every code shown under it, and a printed code reported lost
//! is refused, on whichever node the code arrives.
//!
//! The holder platform writes a revocation to the store and, on PostgreSQL, sends it on
//! [`store::REVOCATIONS_CHANNEL`] in the same commit. Each node keeps the revocations in force
//! in memory — loaded at start, added to by each message, reloaded whole after its listener
//! reconnects (what was sent meanwhile is lost; the store is not) — so the check costs a
//! hash-set look-up. The listener subscribes before it loads, so a revocation committed while
//! it loads arrives as a message too. On SQLite there is one node and no channel: the check
//! asks the store (a local file), so it holds at once whoever wrote the revocation.
//!
//! Revocations are kept until the codes they cover would have expired anyway; memory holds
//! them until then and drops them as it prunes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use store::{Received, Revocation, RevocationKind, Store, REVOCATIONS_CHANNEL};

use crate::error::Failure;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// How often the in-memory set drops the revocations whose codes have all expired.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The revocations in force on this node (see the module's doc).
#[derive(Debug, Clone)]
pub struct Revocations {
    store: Store,
    /// Nodes sharing PostgreSQL: the set kept in step by the listener. `None` on SQLite (one
    /// node): the store answers each check.
    kept: Option<Arc<RwLock<Kept>>>,
}

/// The revocations held in memory, with when each may be forgotten.
#[derive(Debug, Default)]
struct Kept {
    entries: HashMap<(RevocationKind, String), DateTime<Utc>>,
    /// Whether the set is known complete (loaded, listener up); until then a check asks the
    /// store.
    loaded: bool,
}

/// How far past a revocation's `until` it is still applied: codes are accepted that long past
/// their expiry (`codes.clock_skew_secs`), and clocks differ.
const MARGIN: TimeDelta = TimeDelta::hours(1);

impl Revocations {
    /// The revocations of `store`: on PostgreSQL, loaded and kept in step by a listener that
    /// stops with `shutdown`.
    pub fn start(store: &Store, metrics: Metrics, shutdown: Shutdown) -> Revocations {
        let shared = store.postgres_pool().is_some();
        let revocations = Revocations {
            store: store.clone(),
            kept: shared.then(|| Arc::new(RwLock::new(Kept::default()))),
        };
        if shared {
            tokio::spawn(listen(
                store.clone(),
                revocations.clone(),
                metrics,
                shutdown,
            ));
        }
        revocations
    }

    /// Whether `id` of `kind` is revoked. On PostgreSQL before the set is first loaded (the
    /// first moments after start, or while the listener is down), the store is asked instead.
    pub async fn is_revoked(&self, kind: RevocationKind, id: &str) -> Result<bool, Failure> {
        let held = self.kept.as_ref().and_then(|kept| {
            let kept = kept.read().unwrap_or_else(|e| e.into_inner());
            kept.loaded
                .then(|| kept.entries.contains_key(&(kind, id.to_owned())))
        });
        match held {
            Some(revoked) => Ok(revoked),
            None => Ok(self.store.is_revoked(kind, id).await?),
        }
    }

    /// Refuses a code shown under a revoked delegation.
    pub async fn check_delegation(&self, delegation: &str) -> Result<(), Failure> {
        match self
            .is_revoked(RevocationKind::Delegation, delegation)
            .await?
        {
            true => Err(Failure::AuthorizationRevoked(delegation.to_owned())),
            false => Ok(()),
        }
    }

    /// Refuses a printed code reported lost (`code_id`: its nonce in hex).
    pub async fn check_paper_code(&self, code_id: &str) -> Result<(), Failure> {
        match self.is_revoked(RevocationKind::PaperCode, code_id).await? {
            true => Err(Failure::PaperCodeRevoked),
            false => Ok(()),
        }
    }

    /// How many revocations this node holds in memory (0 when it asks the store).
    pub fn held(&self) -> usize {
        self.kept.as_ref().map_or(0, |kept| {
            kept.read().unwrap_or_else(|e| e.into_inner()).entries.len()
        })
    }

    /// Whether the in-memory set is loaded and kept in step (always false on SQLite).
    pub fn in_step(&self) -> bool {
        self.kept
            .as_ref()
            .is_some_and(|kept| kept.read().unwrap_or_else(|e| e.into_inner()).loaded)
    }

    fn with_kept(&self, f: impl FnOnce(&mut Kept)) {
        if let Some(kept) = &self.kept {
            f(&mut kept.write().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// Replaces the set with the store's revocations in force.
    fn load(&self, revocations: Vec<Revocation>) {
        self.with_kept(|kept| {
            kept.entries = revocations
                .into_iter()
                .map(|r| ((r.kind, r.id), r.until + MARGIN))
                .collect();
            kept.loaded = true;
        });
    }

    /// Adds one revocation received from another node (kept until the next prune finds it in
    /// the store no longer in force; `until` is not in the message).
    fn add(&self, kind: RevocationKind, id: &str) {
        self.with_kept(|kept| {
            kept.entries
                .insert((kind, id.to_owned()), DateTime::<Utc>::MAX_UTC);
        });
    }

    /// Marks the set incomplete: the listener is down, messages may be missed.
    fn unload(&self) {
        self.with_kept(|kept| kept.loaded = false);
    }
}

/// Subscribes, loads, then applies messages; after a break, subscribes and loads again. Every
/// [`PRUNE_EVERY`] it reloads, which also drops what has expired.
async fn listen(store: Store, revocations: Revocations, metrics: Metrics, shutdown: Shutdown) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = tokio::select! {
            _ = shutdown.wait() => return,
            subscribed = store.subscribe(REVOCATIONS_CHANNEL) => subscribed,
        };
        let mut listener = match subscribed {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "cannot listen for revocations; checks ask the store meanwhile");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        match store.revocations_in_force(Utc::now() - MARGIN).await {
            Ok(loaded) => revocations.load(loaded),
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the revocations; retrying");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                continue;
            }
        }
        backoff = Duration::from_millis(100);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.tick().await;
        loop {
            let received = tokio::select! {
                _ = shutdown.wait() => return,
                _ = prune.tick() => {
                    if let Ok(loaded) = store.revocations_in_force(Utc::now() - MARGIN).await {
                        revocations.load(loaded);
                    }
                    continue;
                }
                received = listener.next() => received,
            };
            match received {
                Received::Message(text) => match Revocation::parse_payload(&text) {
                    Some((kind, id)) => {
                        revocations.add(kind, id);
                        metrics.revocation_received(kind.as_str());
                        tracing::info!(kind = kind.as_str(), id, "revocation received");
                    }
                    None => tracing::warn!(payload = %text, "malformed revocation ignored"),
                },
                Received::Lost => {
                    revocations.unload();
                    tracing::warn!(
                        "lost the revocation listener; reconnecting (checks ask the store meanwhile)"
                    );
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_garbage_is_refused() {
        let text = Revocation::payload(RevocationKind::Delegation, "d-0193");
        assert_eq!(
            Revocation::parse_payload(&text),
            Some((RevocationKind::Delegation, "d-0193"))
        );
        let text = Revocation::payload(RevocationKind::PaperCode, "00ff");
        assert_eq!(
            Revocation::parse_payload(&text),
            Some((RevocationKind::PaperCode, "00ff"))
        );
        for bad in ["", "delegation", "delegation ", "venue d-1", "d-1"] {
            assert_eq!(Revocation::parse_payload(bad), None, "{bad:?}");
        }
    }
}
