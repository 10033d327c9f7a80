//! Cache invalidation on every node. A department's change or a corrected objection drops the
//! cached answer for (holder, certificate type) here at once and, on PostgreSQL, on every other
//! node sharing the store through `NOTIFY` on [`CHANNEL`]; a venue changed through the admin
//! API drops the venue cache the same way. A node whose listener connection breaks cannot know
//! what it missed, so it drops its caches when it listens again.
//!
//! The holder travels as its keyed subject hash (the cache key), never as its handle.

use std::time::Duration;

use store::{Received, Store};

use super::cache::RecordCache;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::venues::registry::VenueRegistry;

/// The PostgreSQL channel invalidations travel on.
pub const CHANNEL: &str = "mianzheng_invalidate";

/// Publishes invalidations to this node's cache and to the other nodes.
#[derive(Clone)]
pub struct Invalidations {
    records: RecordCache,
    venues: VenueRegistry,
    /// The shared store, when there are other nodes to tell (PostgreSQL).
    shared: Option<Store>,
    metrics: Metrics,
}

impl std::fmt::Debug for Invalidations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidations")
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

/// The message that drops every node's venue cache.
const VENUES: &str = "venues";

/// `<64 hex digits of the subject hash> <certificate type>`.
fn payload(subject_hash: &[u8; 32], certificate: &str) -> String {
    format!("{} {certificate}", hex::encode(subject_hash))
}

fn parse_payload(text: &str) -> Option<([u8; 32], &str)> {
    let (hash, certificate) = text.split_once(' ')?;
    let hash = <[u8; 32]>::try_from(hex::decode(hash).ok()?).ok()?;
    (!certificate.is_empty()).then_some((hash, certificate))
}

impl Invalidations {
    /// Starts the listener when the store is PostgreSQL (it stops with `shutdown`).
    /// The record cache this drops entries of (the objection desk reads where records are).
    pub fn records(&self) -> &RecordCache {
        &self.records
    }

    pub fn start(
        records: RecordCache,
        venues: VenueRegistry,
        store: &Store,
        metrics: Metrics,
        shutdown: Shutdown,
    ) -> Self {
        let shared = store.postgres_pool().is_some().then(|| store.clone());
        if let Some(store) = &shared {
            tokio::spawn(listen(
                store.clone(),
                records.clone(),
                venues.clone(),
                metrics.clone(),
                shutdown,
            ));
        }
        Invalidations {
            records,
            venues,
            shared,
            metrics,
        }
    }

    /// Drops (holder, certificate) here, then tells the other nodes. The local drop happens
    /// even when the store cannot be reached; the error says the others were not told.
    pub async fn publish(
        &self,
        subject_hash: [u8; 32],
        certificate: &str,
    ) -> Result<(), store::StoreError> {
        self.records.invalidate(subject_hash, certificate);
        self.metrics.invalidation("local");
        match &self.shared {
            Some(store) => {
                store
                    .notify(CHANNEL, &payload(&subject_hash, certificate))
                    .await
            }
            None => Ok(()),
        }
    }

    /// Drops the venue cache here and on the other nodes (after a change through the admin
    /// API). The local drop happens even when the others cannot be told.
    pub async fn publish_venues(&self) -> Result<(), store::StoreError> {
        self.venues.invalidate_all();
        match &self.shared {
            Some(store) => store.notify(CHANNEL, VENUES).await,
            None => Ok(()),
        }
    }
}

/// The listener loop: applies other nodes' invalidations; after any break, reconnects with
/// back-off and flushes the whole cache once it listens again.
async fn listen(
    store: Store,
    records: RecordCache,
    venues: VenueRegistry,
    metrics: Metrics,
    shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(100);
    let mut listened_before = false;
    loop {
        let mut listener = tokio::select! {
            _ = shutdown.wait() => return,
            connected = store.subscribe(CHANNEL) => match connected {
                Ok(Some(listener)) => listener,
                Ok(None) => return, // not PostgreSQL after all: no other nodes
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "cannot listen for cache invalidations");
                    tokio::select! {
                        _ = shutdown.wait() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        if listened_before {
            // Whatever was published while we were away is lost: start from an empty cache.
            records.invalidate_all();
            venues.invalidate_all();
            metrics.invalidation("flush");
            tracing::warn!("listening for cache invalidations again; the caches were flushed");
        }
        listened_before = true;
        backoff = Duration::from_millis(100);
        loop {
            let received = tokio::select! {
                _ = shutdown.wait() => return,
                received = listener.next() => received,
            };
            match received {
                Received::Message(text) if text == VENUES => venues.invalidate_all(),
                Received::Message(text) => match parse_payload(&text) {
                    Some((hash, certificate)) => {
                        records.invalidate(hash, certificate);
                        metrics.invalidation("remote");
                    }
                    None => tracing::warn!(payload = %text, "malformed cache invalidation ignored"),
                },
                Received::Lost => {
                    tracing::warn!(
                        "lost the cache invalidation listener; reconnecting (the cache will be flushed)"
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
        let hash = [7u8; 32];
        let text = payload(&hash, "driving-licence");
        assert_eq!(parse_payload(&text), Some((hash, "driving-licence")));
        for bad in [
            "",
            "nohash",
            "zz driving-licence",
            &format!("{} ", hex::encode(hash)),
        ] {
            assert_eq!(parse_payload(bad), None, "{bad:?}");
        }
    }
}
