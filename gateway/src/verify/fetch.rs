//! Stage 8, fetch: each requirement's record, from the cache when fresh, otherwise from its
//! department backend — one query per backend carrying every type missed, concurrent misses for
//! the same (holder, type) coalesced into one upstream call, one deadline for the whole fan-out.
//!
//! Why not moka's `try_get_with`: it coalesces per key, which would send one query per type;
//! a department answers all of a holder's types in one query, so misses are batched per backend
//! and coalesced with an in-flight map of our own. The upstream call runs in its own task, so a
//! venue that hangs up does not cancel the answer others are waiting for.
//!
//! Each record's seal is checked ([`check_seal`], part of this stage) before it is cached. Entries live for
//! the certificate type's TTL (jittered; "not found" briefly) and are kept a grace period past
//! it, to serve — marked stale — scenarios that allow it while the department is down.
//!
//! The cache is moka's synchronous one: a hit is a lock-free read with no future to poll,
//! which measured ~0.3 µs cheaper per verify than `moka::future` on the cache-hit path.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use moka::sync::Cache;
use moka::Expiry;
use rand::Rng as _;
use tokio::sync::watch;
use wire::api::Reason;
use wire::catalogue::model::{Backend, BackendScope, CertificateType, HolderKind};
use wire::catalogue::Catalogue;
use wire::issuer_api::{Record, RecordQuery, RecordStatus};
use wire::keys::TrustList;

use super::check_seal;
use super::resolve::Planned;
use crate::departments::upstream::BackendClient;
use crate::metrics::Metrics;

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

#[derive(Debug)]
struct Cached {
    record: Arc<Record>,
    fresh_until: Instant,
    keep_until: Instant,
}

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

/// What an upstream call settled for one key.
type Outcome = Result<Arc<Record>, Reason>;

/// The answer for one requirement.
#[derive(Debug, Clone)]
pub enum Answer {
    Record { record: Arc<Record>, stale: bool },
    Unavailable(Reason),
}

/// What one request asks of the departments, beside its plan: whose records, by when, and
/// whether a stale record may answer while a department is down.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The holder's handle, as the departments know it.
    pub subject: &'a str,
    /// The subject's keyed hash: the cache key.
    pub subject_hash: [u8; 32],
    pub kind: HolderKind,
    /// The scenario's `allow_stale`.
    pub allow_stale: bool,
    /// One deadline for the whole fan-out.
    pub deadline: Instant,
    pub request_id: &'a str,
}

/// The client of every backend, by department and scope.
pub type Backends = HashMap<String, HashMap<BackendScope, Arc<BackendClient>>>;

/// Cache tuning.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub capacity: u64,
    pub not_found_ttl: Duration,
    pub ttl_jitter: f64,
    pub stale_grace: Duration,
}

struct Inner {
    cache: Cache<RecordKey, Arc<Cached>>,
    inflight: DashMap<RecordKey, watch::Receiver<Option<Outcome>>>,
    backends: Backends,
    catalogue: Arc<Catalogue>,
    seal_trust: Arc<TrustList>,
    metrics: Metrics,
    settings: CacheSettings,
}

/// The record cache and the fan-out to backends. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cached", &self.inner.cache.entry_count())
            .field("inflight", &self.inner.inflight.len())
            .finish()
    }
}

/// The upstream call one request leads for one key: settles it (or, if dropped unsettled,
/// says unavailable) and always clears the in-flight entry.
struct Lead {
    key: RecordKey,
    certificate: String,
    tx: watch::Sender<Option<Outcome>>,
    inner: Arc<Inner>,
}

impl Lead {
    fn settle(&self, outcome: Outcome) {
        self.tx.send_replace(Some(outcome));
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        if self.tx.borrow().is_none() {
            self.tx
                .send_replace(Some(Err(Reason::DepartmentUnavailable)));
        }
        self.inner.inflight.remove(&self.key);
    }
}

impl Fetcher {
    pub fn new(
        backends: Backends,
        catalogue: Arc<Catalogue>,
        seal_trust: Arc<TrustList>,
        metrics: Metrics,
        settings: CacheSettings,
    ) -> Fetcher {
        let cache = Cache::builder()
            .max_capacity(settings.capacity)
            .expire_after(KeepUntil)
            .build();
        Fetcher {
            inner: Arc::new(Inner {
                cache,
                inflight: DashMap::new(),
                backends,
                catalogue,
                seal_trust,
                metrics,
                settings,
            }),
        }
    }

    /// The client of every backend (for health views and tests).
    pub fn clients(&self) -> impl Iterator<Item = &Arc<BackendClient>> {
        self.inner.backends.values().flat_map(HashMap::values)
    }

    fn client(&self, backend: &Backend) -> Option<&Arc<BackendClient>> {
        self.inner
            .backends
            .get(&backend.department)?
            .get(&backend.scope)
    }

    /// Drops the cached answer for (holder, certificate), the holder named by its subject
    /// hash: after a department's change or a corrected objection.
    pub fn invalidate(&self, subject_hash: [u8; 32], certificate: &str) {
        self.inner
            .cache
            .invalidate(&RecordKey::new(subject_hash, certificate));
    }

    /// Drops every cached answer.
    pub fn invalidate_all(&self) {
        self.inner.cache.invalidate_all();
    }

    /// One answer per planned requirement, in order, by the ask's deadline.
    pub async fn fetch(&self, ask: &Ask<'_>, plan: &[Planned<'_>]) -> Vec<Answer> {
        let inner = &self.inner;
        let now = Instant::now();
        let mut answers: Vec<Option<Answer>> = vec![None; plan.len()];
        let mut stale: Vec<Option<Arc<Record>>> = vec![None; plan.len()];
        let mut waits = Vec::new();
        // Leads grouped by backend: a scenario asks a handful, so a list beats a map.
        let mut leads: Vec<(Arc<BackendClient>, &Backend, Vec<Lead>)> = Vec::new();

        for (i, planned) in plan.iter().enumerate() {
            let key = RecordKey {
                subject: ask.subject_hash,
                certificate: planned.certificate.code.as_str().into(),
            };
            if let Some(cached) = inner.cache.get(&key) {
                if cached.fresh_until > now {
                    inner.metrics.cache("records", true);
                    answers[i] = Some(Answer::Record {
                        record: Arc::clone(&cached.record),
                        stale: false,
                    });
                    continue;
                }
                stale[i] = Some(Arc::clone(&cached.record));
            }
            inner.metrics.cache("records", false);
            let lead = match inner.inflight.entry(key.clone()) {
                Entry::Occupied(e) => {
                    waits.push((i, e.get().clone()));
                    continue;
                }
                Entry::Vacant(v) => {
                    let (tx, rx) = watch::channel(None);
                    v.insert(rx.clone());
                    waits.push((i, rx));
                    Lead {
                        key,
                        certificate: planned.certificate.code.clone(),
                        tx,
                        inner: Arc::clone(inner),
                    }
                }
            };
            // Another request may have filled the cache between our miss and our lead.
            if let Some(cached) = inner.cache.get(&lead.key) {
                if cached.fresh_until > now {
                    lead.settle(Ok(Arc::clone(&cached.record)));
                    continue;
                }
            }
            let Some(client) = self.client(planned.backend) else {
                tracing::error!(department = %planned.backend.department, "no client for a catalogue backend");
                continue; // the lead settles as unavailable when dropped
            };
            match leads.iter_mut().find(|(c, _, _)| Arc::ptr_eq(c, client)) {
                Some((_, _, group)) => group.push(lead),
                None => leads.push((Arc::clone(client), planned.backend, vec![lead])),
            }
        }

        let deadline = ask.deadline;
        for (client, backend, group) in leads {
            let this = self.clone();
            let backend = backend.clone();
            let query = RecordQuery {
                subject: ask.subject.to_string(),
                holder_kind: ask.kind,
                certificates: group.iter().map(|l| l.certificate.clone()).collect(),
                request_id: Some(ask.request_id.to_string()),
            };
            tokio::spawn(async move {
                this.query_backend(&client, &backend, &query, group, deadline)
                    .await;
            });
        }

        let settled =
            futures_util::future::join_all(waits.into_iter().map(|(i, mut rx)| async move {
                let outcome =
                    match tokio::time::timeout_at(deadline.into(), rx.wait_for(Option::is_some))
                        .await
                    {
                        Ok(Ok(value)) => {
                            value.clone().unwrap_or(Err(Reason::DepartmentUnavailable))
                        }
                        Ok(Err(_)) | Err(_) => Err(Reason::DepartmentUnavailable),
                    };
                (i, outcome)
            }))
            .await;
        for (i, outcome) in settled {
            answers[i] = Some(match (outcome, stale[i].take()) {
                (Ok(record), _) => Answer::Record {
                    record,
                    stale: false,
                },
                (Err(_), Some(record)) if ask.allow_stale => Answer::Record {
                    record,
                    stale: true,
                },
                (Err(reason), _) => Answer::Unavailable(reason),
            });
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Answer::Unavailable(Reason::DepartmentUnavailable)))
            .collect()
    }

    /// One backend's query for the certificate types `leads` wait for (in that order): each
    /// record's seal checked, then cached and handed to whoever waits for it.
    async fn query_backend(
        &self,
        client: &BackendClient,
        backend: &Backend,
        query: &RecordQuery,
        leads: Vec<Lead>,
        deadline: Instant,
    ) {
        let inner = &self.inner;
        let name = client.name();
        let request_id = query.request_id.as_deref().unwrap_or_default();
        let response = match client.query(query, deadline).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(request_id, backend = name, error = %e, "department gave no answer");
                return;
            }
        };
        let now = Utc::now();
        for (lead, record) in leads.iter().zip(response.records) {
            let Some(certificate) = inner.catalogue.certificate(&lead.certificate) else {
                continue;
            };
            match check_seal::check(
                &record,
                &query.subject,
                certificate,
                backend,
                &inner.seal_trust,
                now,
            ) {
                Ok(()) => {
                    let record = Arc::new(record);
                    let cached = self.entry(Arc::clone(&record), certificate);
                    inner.cache.insert(lead.key.clone(), Arc::new(cached));
                    lead.settle(Ok(record));
                }
                Err(rejection) => {
                    inner.metrics.upstream(name, "rejected", Duration::ZERO);
                    tracing::warn!(request_id, backend = name, certificate = %lead.certificate, error = %rejection,
                        "department answer refused");
                    lead.settle(Err(Reason::DepartmentAnswerRejected));
                }
            }
        }
    }

    fn entry(&self, record: Arc<Record>, certificate: &CertificateType) -> Cached {
        let s = &self.inner.settings;
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
        Cached {
            record,
            fresh_until,
            keep_until: fresh_until + s.stale_grace,
        }
    }
}
