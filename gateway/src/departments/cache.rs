//! The record cache: each department's answer for (holder, certificate type), kept for the
//! type's TTL (jittered; "not found" briefly) and a grace period past it, so that scenarios
//! which allow it are answered — marked stale — while the department is down. A department's
//! change drops the entry on every node ([`super::invalidation`]).
//!
//! The cache is moka's synchronous one: a hit is a lock-free read with no future to poll,
//! which measured ~0.3 µs cheaper per verify than `moka::future` on the cache-hit path.
//!
//! Beside the answers, the cache keeps where each holder's record of a type is held — which
//! department and city, as the department's index said (`verify/fetch.rs`) — for
//! [`LOCATION_TTL`]: the index is asked on a miss of this, not of the answer. A change from a
//! department drops the location with the answer: a record registered anew elsewhere is found
//! there.
//!
//! Two rules keep an answer from outliving what made it right:
//! - an entry remembers the backend that gave it (department and scope): asked for another
//!   backend — the holder's city changed, so their city-level records come from another city —
//!   it is a miss, not an answer from the wrong city;
//! - an answer still in flight when its entry is invalidated (a revocation arrives while the
//!   department's old answer is on its way) is not cached: each invalidation takes a number from
//!   one counter ([`RecordCache::generation`]), a fetch notes the number before it asks, and
//!   [`RecordCache::insert`] drops an answer asked before the entry's last invalidation —
//!   checked again after inserting, so an invalidation racing the insert still wins.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use moka::Expiry;
use rand::Rng as _;
use wire::catalogue::model::{Backend, BackendScope, CertificateType};
use wire::issuer_api::{Record, RecordStatus};

/// (holder, certificate type): what one cache entry answers. The holder is the keyed subject
/// hash of the audit log, so an objection or another node can name the entry without the
/// holder's handle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    subject: [u8; 32],
    certificate: Arc<str>,
}

impl RecordKey {
    pub fn new(subject_hash: [u8; 32], certificate: &str) -> RecordKey {
        RecordKey {
            subject: subject_hash,
            certificate: certificate.into(),
        }
    }
}

/// One cached answer: fresh until `fresh_until`, kept (to answer stale) until `keep_until`;
/// from the backend of `department` at `scope`.
#[derive(Debug)]
pub struct Cached {
    pub record: Arc<Record>,
    pub fresh_until: Instant,
    keep_until: Instant,
    department: String,
    scope: BackendScope,
}

/// How long a record's location is kept: registrations move rarely, and a department's change
/// drops it at once.
pub const LOCATION_TTL: Duration = Duration::from_secs(24 * 3600);

/// Where a holder's record of a type is held, as the index said: the backend of `department`
/// at `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub department: Arc<str>,
    pub scope: BackendScope,
}

/// How long an invalidation is remembered against answers in flight: longer than any fetch
/// deadline (`fetch.deadline_ms` is at most 60 s).
const IN_FLIGHT_MEMORY: Duration = Duration::from_secs(120);

struct KeepUntil;

impl Expiry<RecordKey, Arc<Cached>> for KeepUntil {
    fn expire_after_create(
        &self,
        _: &RecordKey,
        value: &Arc<Cached>,
        now: Instant,
    ) -> Option<Duration> {
        Some(value.keep_until.saturating_duration_since(now))
    }
}

/// Cache tuning.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub capacity: u64,
    pub not_found_ttl: Duration,
    pub ttl_jitter: f64,
    pub stale_grace: Duration,
}

/// The cache of department answers. Cheap to clone: every clone is the same cache.
#[derive(Clone)]
pub struct RecordCache {
    cache: Cache<RecordKey, Arc<Cached>>,
    settings: CacheSettings,
    /// The number of the last invalidation.
    generation: Arc<AtomicU64>,
    /// The number of each entry's last invalidation, while an answer may still be in flight.
    invalidated: Cache<RecordKey, u64>,
    /// The number of the last invalidation of every entry.
    all_invalidated: Arc<AtomicU64>,
    /// Where each (holder, type)'s record is held, as an index said.
    located: Cache<RecordKey, Located>,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl RecordCache {
    pub fn new(settings: CacheSettings) -> RecordCache {
        RecordCache {
            cache: Cache::builder()
                .max_capacity(settings.capacity)
                .expire_after(KeepUntil)
                .build(),
            settings,
            generation: Arc::new(AtomicU64::new(0)),
            invalidated: Cache::builder()
                .max_capacity(settings.capacity)
                .time_to_live(IN_FLIGHT_MEMORY)
                .build(),
            all_invalidated: Arc::new(AtomicU64::new(0)),
            located: Cache::builder()
                .max_capacity(settings.capacity)
                .time_to_live(LOCATION_TTL)
                .build(),
        }
    }

    /// The entry for `key`, fresh or stale, whichever backend gave it, if `accept` takes that
    /// backend (by department and scope).
    pub fn get_if(
        &self,
        key: &RecordKey,
        accept: impl FnOnce(&str, BackendScope) -> bool,
    ) -> Option<Arc<Cached>> {
        self.cache
            .get(key)
            .filter(|c| accept(&c.department, c.scope))
    }

    /// Where `key`'s record is held, if an index said so lately.
    pub fn location(&self, key: &RecordKey) -> Option<Located> {
        self.located.get(key)
    }

    /// Remembers where `key`'s record is held — unless the entry was invalidated after
    /// `asked_at` (the index may have answered before the change).
    pub fn insert_location(&self, key: RecordKey, located: Located, asked_at: u64) {
        if self.invalidated_since(&key, asked_at) {
            return;
        }
        self.located.insert(key.clone(), located);
        if self.invalidated_since(&key, asked_at) {
            self.located.invalidate(&key);
        }
    }

    /// The entry for `key` from `backend`, fresh or stale; an entry another backend gave is a
    /// miss.
    pub fn get(&self, key: &RecordKey, backend: &Backend) -> Option<Arc<Cached>> {
        self.cache
            .get(key)
            .filter(|c| c.scope == backend.scope && c.department == backend.department)
    }

    /// The number to note before asking a department, for [`RecordCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether `key` was invalidated after `asked_at` (a [`RecordCache::generation`]).
    fn invalidated_since(&self, key: &RecordKey, asked_at: u64) -> bool {
        self.all_invalidated.load(Ordering::SeqCst) > asked_at
            || self.invalidated.get(key).is_some_and(|at| at > asked_at)
    }

    /// Caches `record`, the answer for `key` of type `certificate` from `backend`, for the
    /// type's TTL — unless the entry was invalidated after `asked_at`, the generation noted
    /// before the department was asked (the answer may predate the change).
    pub fn insert(
        &self,
        key: RecordKey,
        record: Arc<Record>,
        certificate: &CertificateType,
        backend: &Backend,
        asked_at: u64,
    ) {
        if self.invalidated_since(&key, asked_at) {
            return;
        }
        let s = &self.settings;
        let ttl = if record.status == RecordStatus::NotFound {
            s.not_found_ttl
        } else {
            Duration::from_secs(u64::from(certificate.cache_ttl_secs))
        };
        let jitter = if s.ttl_jitter > 0.0 {
            rand::thread_rng().gen_range(1.0 - s.ttl_jitter..=1.0)
        } else {
            1.0
        };
        let now = Instant::now();
        let fresh_until = now + ttl.mul_f64(jitter);
        let cached = Cached {
            record,
            fresh_until,
            keep_until: fresh_until + s.stale_grace,
            department: backend.department.clone(),
            scope: backend.scope,
        };
        self.cache.insert(key.clone(), Arc::new(cached));
        // An invalidation between the check above and the insert marked the key before it
        // dropped the entry: seen here, or its drop came after the insert.
        if self.invalidated_since(&key, asked_at) {
            self.cache.invalidate(&key);
        }
    }

    /// Drops the cached answer for (holder, certificate), the holder named by its subject
    /// hash: after a department's change or a corrected objection. An answer in flight for it
    /// is not cached either.
    pub fn invalidate(&self, subject_hash: [u8; 32], certificate: &str) {
        let key = RecordKey::new(subject_hash, certificate);
        let at = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.invalidated.insert(key.clone(), at);
        self.cache.invalidate(&key);
        self.located.invalidate(&key);
    }

    /// Drops every cached answer, and keeps every answer in flight out.
    pub fn invalidate_all(&self) {
        let at = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.all_invalidated.fetch_max(at, Ordering::SeqCst);
        self.cache.invalidate_all();
        self.located.invalidate_all();
    }

    /// How many answers are cached.
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use wire::catalogue::Catalogue;

    use super::*;

    fn cache() -> RecordCache {
        RecordCache::new(CacheSettings {
            capacity: 100,
            not_found_ttl: Duration::from_secs(60),
            ttl_jitter: 0.0,
            stale_grace: Duration::from_secs(60),
        })
    }

    fn record() -> Arc<Record> {
        Arc::new(Record {
            certificate: "senior-citizen-card".into(),
            department: "x".into(),
            subject: "s".into(),
            status: RecordStatus::Valid,
            valid_from: None,
            valid_until: None,
            licence_id: None,
            holder_name: None,
            fields: BTreeMap::new(),
            issued_at: chrono::Utc::now(),
            query_nonce: None,
            seal: None,
        })
    }

    /// A city-level certificate and two of its department's backends (two cities).
    fn two_backends(catalogue: &Catalogue) -> (&CertificateType, &Backend, &Backend) {
        catalogue
            .certificates()
            .iter()
            .find_map(|c| {
                let department = catalogue.department(c.departments.first()?)?;
                let mut cities = department
                    .backends
                    .iter()
                    .filter(|b| matches!(b.scope, BackendScope::City(_)));
                Some((c, cities.next()?, cities.next()?))
            })
            .expect("a certificate held by city backends")
    }

    #[test]
    fn an_answer_from_another_backend_is_a_miss() {
        let catalogue = Catalogue::embedded();
        let (certificate, here, there) = two_backends(&catalogue);
        let cache = cache();
        let key = RecordKey::new([1; 32], &certificate.code);
        cache.insert(key.clone(), record(), certificate, here, cache.generation());
        assert!(cache.get(&key, here).is_some());
        assert!(cache.get(&key, there).is_none(), "the other city's backend");
    }

    #[test]
    fn an_answer_asked_before_an_invalidation_is_not_cached() {
        let catalogue = Catalogue::embedded();
        let (certificate, backend, _) = two_backends(&catalogue);
        let cache = cache();
        let key = RecordKey::new([2; 32], &certificate.code);
        // Asked, then the department's change arrives, then the old answer.
        let asked_at = cache.generation();
        cache.invalidate([2; 32], &certificate.code);
        cache.insert(key.clone(), record(), certificate, backend, asked_at);
        assert!(cache.get(&key, backend).is_none());
        // Another holder's entry is not held back by it.
        let other = RecordKey::new([3; 32], &certificate.code);
        cache.insert(other.clone(), record(), certificate, backend, asked_at);
        assert!(cache.get(&other, backend).is_some());
        // Asked after the invalidation: cached.
        cache.insert(
            key.clone(),
            record(),
            certificate,
            backend,
            cache.generation(),
        );
        assert!(cache.get(&key, backend).is_some());
        // Invalidating everything keeps out every answer asked before.
        let asked_at = cache.generation();
        cache.invalidate_all();
        cache.insert(other.clone(), record(), certificate, backend, asked_at);
        assert!(cache.get(&other, backend).is_none());
    }
}
