//! The venue registry on the verify path: venues live in the store (hundreds of thousands
//! province-wide), with a cache in front so a request costs a hash and a map look-up, not a
//! query. Unknown keys are cached briefly too, so a flood of bad keys does not become a flood
//! of queries. Changes made through the admin API invalidate this node's cache at once and the
//! other nodes' through [`crate::departments::invalidation`] (or, should that message be lost, within
//! [`POSITIVE_TTL`]).

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use store::{Store, StoreError, VenueRow};

use crate::cluster::quota::Quotas;
use crate::metrics::Metrics;
use crate::venues::{self, Venue, Venues};

/// How long a known venue is served from the cache.
pub const POSITIVE_TTL: Duration = Duration::from_secs(30);
/// How long an unknown key is remembered as unknown.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct VenueRegistry {
    store: Store,
    known: Cache<[u8; 32], Arc<Venue>>,
    unknown: Cache<[u8; 32], ()>,
    /// Venues named by client certificates (mTLS), by id; and ids no venue has.
    known_ids: Cache<String, Arc<Venue>>,
    unknown_ids: Cache<String, ()>,
    /// Quotas by venue id, kept across cache refreshes; replaced when the rate changes.
    quotas: Quotas,
    metrics: Metrics,
}

impl std::fmt::Debug for VenueRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VenueRegistry")
            .field("store", &self.store.engine())
            .field("cached", &self.known.entry_count())
            .finish()
    }
}

impl VenueRegistry {
    pub fn new(store: Store, metrics: Metrics, quotas: Quotas) -> VenueRegistry {
        VenueRegistry {
            store,
            known: Cache::builder()
                .max_capacity(200_000)
                .time_to_live(POSITIVE_TTL)
                .build(),
            unknown: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(NEGATIVE_TTL)
                .build(),
            known_ids: Cache::builder()
                .max_capacity(200_000)
                .time_to_live(POSITIVE_TTL)
                .build(),
            unknown_ids: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(NEGATIVE_TTL)
                .build(),
            quotas,
            metrics,
        }
    }

    /// Adds the venues of a venues file that the store does not hold yet (seeding, on every
    /// start). A venue already registered under the same id stays exactly as its operator left
    /// it: a rotated key is not given back, a disabled venue is not enabled again. Returns how
    /// many venues were added.
    pub async fn seed(&self, venues: &Venues) -> Result<usize, StoreError> {
        let mut added = 0;
        for venue in venues.iter() {
            if self.store.insert_venue_if_absent(&venue.to_row()).await? {
                added += 1;
            }
        }
        self.invalidate_all();
        Ok(added)
    }

    /// The venue whose key is `key`, or `None` for an unknown key.
    pub async fn by_key(&self, key: &str) -> Result<Option<Arc<Venue>>, StoreError> {
        let hash = venues::hash_key(key);
        let row = self.store.venue_by_key_hash(&hash);
        self.look_up(&self.known, &self.unknown, hash, row).await
    }

    /// The venue with id `id` (named by a verified client certificate), or `None` when no
    /// venue has it.
    pub async fn by_id(&self, id: &str) -> Result<Option<Arc<Venue>>, StoreError> {
        let row = self.store.venue(id);
        self.look_up(&self.known_ids, &self.unknown_ids, id.to_owned(), row)
            .await
    }

    /// A venue from the cache of known (or unknown) venues by `key`, or else `row` from the
    /// store, remembered either way.
    async fn look_up<K>(
        &self,
        known: &Cache<K, Arc<Venue>>,
        unknown: &Cache<K, ()>,
        key: K,
        row: impl std::future::Future<Output = Result<Option<VenueRow>, StoreError>>,
    ) -> Result<Option<Arc<Venue>>, StoreError>
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
    {
        if let Some(venue) = known.get(&key) {
            self.metrics.cache("venues", true);
            return Ok(Some(venue));
        }
        if unknown.contains_key(&key) {
            self.metrics.cache("venues", true);
            return Ok(None);
        }
        self.metrics.cache("venues", false);
        match row.await? {
            None => {
                unknown.insert(key, ());
                Ok(None)
            }
            Some(row) => {
                let quota = self.quotas.venue(&row.id, row.rate_per_sec);
                let venue = Arc::new(Venue::from_row(row, quota));
                known.insert(key, Arc::clone(&venue));
                Ok(Some(venue))
            }
        }
    }

    /// Forgets every cached venue (after a change through the admin API).
    pub fn invalidate_all(&self) {
        self.known.invalidate_all();
        self.unknown.invalidate_all();
        self.known_ids.invalidate_all();
        self.unknown_ids.invalidate_all();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The quota engine the venues' quotas are held in.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// A venue's registered name (for "who checked me"); `None` when it is gone or the store
    /// cannot say.
    pub async fn name_of(&self, id: &str) -> Option<String> {
        self.store
            .venue(id)
            .await
            .ok()
            .flatten()
            .map(|row| row.name)
    }

    /// Registers a venue under a fresh key; returns the row and the key (shown once).
    pub async fn register(&self, mut row: VenueRow) -> Result<(VenueRow, String), StoreError> {
        let key = fresh_key();
        row.key_hash = venues::hash_key(&key);
        row.updated_at = store::now();
        self.store.insert_venue(&row).await?;
        self.invalidate_all();
        Ok((row, key))
    }

    /// Gives a venue a fresh key; the old one stops working on this node at once.
    pub async fn rotate(&self, id: &str) -> Result<(VenueRow, String), StoreError> {
        let key = fresh_key();
        self.store
            .rotate_venue_key(id, &venues::hash_key(&key))
            .await?;
        self.invalidate_all();
        Ok((self.row(id).await?, key))
    }

    /// Disables or re-enables a venue (at once on this node).
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<VenueRow, StoreError> {
        self.store.set_venue_disabled(id, disabled).await?;
        self.invalidate_all();
        self.row(id).await
    }

    /// Removes a venue (at once on this node): its key and certificate are refused as unknown.
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.store.delete_venue(id).await?;
        self.invalidate_all();
        Ok(())
    }

    /// Binds a venue to a client certificate naming it, or frees it of the binding (at once
    /// on this node).
    pub async fn set_client_certificate(
        &self,
        id: &str,
        required: bool,
    ) -> Result<VenueRow, StoreError> {
        self.store
            .set_venue_client_certificate(id, required)
            .await?;
        self.invalidate_all();
        self.row(id).await
    }

    async fn row(&self, id: &str) -> Result<VenueRow, StoreError> {
        self.store
            .venue(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "venue",
                id: id.to_owned(),
            })
    }
}

/// A new venue key: `mzv_` and 32 random bytes in hex.
fn fresh_key() -> String {
    fresh_secret("mzv_")
}

/// A new bearer secret: `prefix` and 256 random bits in hex (venue keys, operator tokens).
pub(crate) fn fresh_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use wire::catalogue::Catalogue;

    use super::*;

    /// A registry on a fresh SQLite store (in the returned folder), and the repository's
    /// venues file, not yet seeded.
    async fn fresh_registry() -> (tempfile::TempDir, Store, VenueRegistry, Venues) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite_in(dir.path()).await.expect("store");
        let registry =
            VenueRegistry::new(store.clone(), Metrics::new(), Quotas::standalone().clone());
        let file = Venues::parse(
            venues::REPOSITORY_FILE,
            "venues.toml",
            &Catalogue::embedded(),
        )
        .expect("venues");
        (dir, store, registry, file)
    }

    #[tokio::test]
    async fn venues_come_from_the_store_and_changes_show_after_invalidation() {
        let (_dir, store, registry, file) = fresh_registry().await;
        registry.seed(&file).await.expect("seed");

        let park = registry
            .by_key("demo-park-7f3c9a1e")
            .await
            .expect("store")
            .expect("known");
        assert_eq!(park.id, "jinan-baotu-spring-park");
        assert!(park.may_use("park-entry-senior"));
        assert!(!park.disabled);
        assert!(registry
            .by_key("no-such-key-at-all")
            .await
            .expect("store")
            .is_none());

        store
            .set_venue_disabled(&park.id, true)
            .await
            .expect("disable");
        let cached = registry
            .by_key("demo-park-7f3c9a1e")
            .await
            .expect("store")
            .expect("known");
        assert!(!cached.disabled, "served from the cache until invalidated");
        registry.invalidate_all();
        let fresh = registry
            .by_key("demo-park-7f3c9a1e")
            .await
            .expect("store")
            .expect("known");
        assert!(fresh.disabled);

        store
            .rotate_venue_key(&park.id, &venues::hash_key("a-new-key-for-the-park"))
            .await
            .expect("rotate");
        registry.invalidate_all();
        assert!(registry
            .by_key("demo-park-7f3c9a1e")
            .await
            .expect("store")
            .is_none());
        assert!(registry
            .by_key("a-new-key-for-the-park")
            .await
            .expect("store")
            .is_some());
    }

    #[tokio::test]
    async fn seeding_again_keeps_a_rotated_key_and_a_disabled_venue() {
        let (_dir, store, registry, file) = fresh_registry().await;
        let count = file.iter().count();
        assert_eq!(registry.seed(&file).await.expect("first seeding"), count);
        let park = "jinan-baotu-spring-park";
        let (_, new_key) = registry.rotate(park).await.expect("rotate");
        let other = file
            .iter()
            .find(|v| v.id != park)
            .expect("a second venue")
            .id
            .clone();
        registry.set_disabled(&other, true).await.expect("disable");

        // The next start seeds from the same file.
        assert_eq!(registry.seed(&file).await.expect("second seeding"), 0);
        assert!(
            registry
                .by_key("demo-park-7f3c9a1e")
                .await
                .expect("store")
                .is_none(),
            "the rotated-out key stays out"
        );
        let rotated = registry.by_key(&new_key).await.expect("store");
        assert_eq!(rotated.map(|v| v.id.clone()).as_deref(), Some(park));
        let row = store.venue(&other).await.expect("store").expect("known");
        assert!(row.disabled, "the disabled venue stays disabled");
    }
}
