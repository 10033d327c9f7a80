//! Stage 8, fetch: each requirement's record, from the cache when fresh, otherwise from its
//! department backend — one query per backend carrying every type missed, concurrent misses for
//! the same (holder, type) coalesced into one upstream call, one deadline for the whole fan-out.
//!
//! Why not moka's `try_get_with`: it coalesces per key, which would send one query per type;
//! a department answers all of a holder's types in one query, so misses are batched per backend
//! and coalesced with an in-flight map of our own. The upstream call runs in its own task, so a
//! venue that hangs up does not cancel the answer others are waiting for.
//!
//! Where a record is held comes first. A type another backend may hold (a second issuing
//! department, a city of registration other than the home city) has an index, its first
//! department's province backend (`Catalogue::index_of`): on a miss of the record cache, the
//! location remembered in the cache names the backend; without one, the index is asked — one
//! `records:locate` call per index backend, all at once, before the queries — and its answer
//! kept for a day or until the department's next change. So the hot path costs nothing more on
//! a hit, and one index call before the query on a miss not located in the last day. An index
//! that gives no answer leaves the plan's backend to ask, whose not-found then answers
//! `unavailable`, not `not_found`.
//!
//! Each record's seal is checked ([`check_seal`], part of this stage) before it is cached in
//! the record cache ([`crate::departments::cache`]); a stale entry answers, marked stale, for
//! scenarios that allow it while the department is down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::watch;
use wire::api::Reason;
use wire::catalogue::model::{Backend, BackendScope, HolderKind};
use wire::catalogue::Catalogue;
use wire::issuer_api::{backend_name, LocateQuery, Record, RecordQuery, RecordStatus};
use wire::keys::TrustList;

use super::check_seal;
use super::resolve::Planned;
use crate::departments::cache::{Located, RecordCache, RecordKey};
use crate::departments::upstream::BackendClient;
use crate::metrics::Metrics;

/// What an upstream call settled for one key.
type Outcome = Result<Arc<Record>, Reason>;

/// The backend to ask for one requirement's record, and whether an index confirmed that it
/// holds it (or no other may).
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    backend: &'a Backend,
    confirmed: bool,
}

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

struct Inner {
    cache: RecordCache,
    /// Calls in flight, by entry and the backend asked (its name).
    inflight: DashMap<(RecordKey, String), watch::Receiver<Option<Outcome>>>,
    backends: Backends,
    catalogue: Arc<Catalogue>,
    seal_trust: Arc<TrustList>,
    /// How far a fresh answer's `issued_at` may be from now ([`check_seal::Expected`]).
    record_max_age: Duration,
    metrics: Metrics,
    /// Where each record received and its seal check are counted (see [`Fetcher::count_seals_in`]).
    seal_checks: std::sync::OnceLock<Arc<dyn SealChecks>>,
}

/// Where the fetch stage reports each record a department sent and whether it passed the seal
/// check: the plan's seal-check pass rate per department (`crate::kpis::KpiRecorder`).
pub trait SealChecks: Send + Sync {
    /// A record `backend` sent for `certificate` on `day`; `passed`: its seal check held.
    fn seal_checked(&self, day: NaiveDate, backend: &Backend, certificate: &str, passed: bool);
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
    /// The backend asked, by name: with `key`, the in-flight entry.
    backend: String,
    /// [`RecordCache::generation`] before the department was asked.
    asked_at: u64,
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
        self.inner
            .inflight
            .remove(&(self.key.clone(), std::mem::take(&mut self.backend)));
    }
}

impl Fetcher {
    pub fn new(
        backends: Backends,
        catalogue: Arc<Catalogue>,
        seal_trust: Arc<TrustList>,
        record_max_age: Duration,
        metrics: Metrics,
        cache: RecordCache,
    ) -> Fetcher {
        Fetcher {
            inner: Arc::new(Inner {
                cache,
                inflight: DashMap::new(),
                backends,
                catalogue,
                seal_trust,
                record_max_age,
                metrics,
                seal_checks: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Counts every record a department sends, and whether it passed the seal check, in
    /// `counter` (the seal-check pass rate per department). Set once, at start.
    pub fn count_seals_in(&self, counter: Arc<dyn SealChecks>) {
        let _ = self.inner.seal_checks.set(counter);
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

    /// One answer per planned requirement, in order, by the ask's deadline.
    pub async fn fetch(&self, ask: &Ask<'_>, plan: &[Planned<'_>]) -> Vec<Answer> {
        let inner = &self.inner;
        let now = Instant::now();
        let mut answers: Vec<Option<Answer>> = vec![None; plan.len()];
        let mut stale: Vec<Option<Arc<Record>>> = vec![None; plan.len()];
        let mut waits = Vec::new();
        // Leads grouped by backend: a scenario asks a handful, so a list beats a map.
        let mut leads: Vec<(Arc<BackendClient>, &Backend, Vec<Lead>)> = Vec::new();

        // Where each record missed is held: the plan's backend, or where the index said (the
        // answer remembered in the cache); the index is asked for the others first.
        let mut targets: Vec<Option<Target<'_>>> = vec![None; plan.len()];
        let mut to_locate = Vec::new();
        for (i, planned) in plan.iter().enumerate() {
            let key = RecordKey::new(ask.subject_hash, &planned.certificate.code);
            let located = self.located(planned, &key);
            let cached = match located {
                Some(target) => inner.cache.get(&key, target.backend),
                // Not located lately: an answer from any backend that may hold the type.
                None => inner.cache.get_if(&key, |department, scope| {
                    let catalogue = &inner.catalogue;
                    catalogue
                        .holding_backend(planned.certificate, department, scope)
                        .is_some()
                }),
            };
            if let Some(cached) = cached {
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
            match located {
                Some(target) => targets[i] = Some(target),
                None => to_locate.push(i),
            }
        }
        if !to_locate.is_empty() {
            self.locate(ask, plan, &to_locate, &mut targets).await;
        }

        for (i, planned) in plan.iter().enumerate() {
            let Some(target) = targets[i] else {
                continue;
            };
            let key = RecordKey::new(ask.subject_hash, &planned.certificate.code);
            let backend = backend_name(&target.backend.department, target.backend.scope);
            // Noted before anyone asks: an invalidation from here on keeps the answer out.
            let asked_at = inner.cache.generation();
            let lead = match inner.inflight.entry((key.clone(), backend.clone())) {
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
                        backend,
                        asked_at,
                        certificate: planned.certificate.code.clone(),
                        tx,
                        inner: Arc::clone(inner),
                    }
                }
            };
            // Another request may have filled the cache between our miss and our lead.
            if let Some(cached) = inner.cache.get(&lead.key, target.backend) {
                if cached.fresh_until > now {
                    lead.settle(Ok(Arc::clone(&cached.record)));
                    continue;
                }
            }
            let Some(client) = self.client(target.backend) else {
                tracing::error!(department = %target.backend.department, "no client for a catalogue backend");
                continue; // the lead settles as unavailable when dropped
            };
            match leads.iter_mut().find(|(c, _, _)| Arc::ptr_eq(c, client)) {
                Some((_, _, group)) => group.push(lead),
                None => leads.push((Arc::clone(client), target.backend, vec![lead])),
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
                nonce: Some(query_nonce()),
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
            // The index could not say where the record is: a not-found from the plan's backend
            // may only mean another holds it. Not an answer, and not kept.
            let outcome = match (outcome, targets[i]) {
                (Ok(record), Some(target))
                    if !target.confirmed && record.status == RecordStatus::NotFound =>
                {
                    inner
                        .cache
                        .invalidate(ask.subject_hash, &plan[i].certificate.code);
                    Err(Reason::DepartmentUnavailable)
                }
                (outcome, _) => outcome,
            };
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

    /// Where `planned`'s record is held, if known without asking: the plan's backend when no
    /// other may hold it (or the holder is the national hub's), else where the index said
    /// lately.
    fn located<'a>(&'a self, planned: &Planned<'a>, key: &RecordKey) -> Option<Target<'a>> {
        let catalogue = &self.inner.catalogue;
        let confirmed = |backend| Target {
            backend,
            confirmed: true,
        };
        if planned.backend.scope == BackendScope::National
            || catalogue.index_of(planned.certificate).is_none()
        {
            return Some(confirmed(planned.backend));
        }
        let located = self.inner.cache.location(key)?;
        catalogue
            .holding_backend(planned.certificate, &located.department, located.scope)
            .map(confirmed)
    }

    /// Asks the index of each requirement in `pending` (indexes into `plan`) where its record
    /// is held — one call per index backend, all at once, by the ask's deadline — remembers
    /// the answers and sets `targets`. Where the index gives no usable answer, the plan's
    /// backend is asked, unconfirmed: its record answers, its not-found does not.
    async fn locate<'a>(
        &'a self,
        ask: &Ask<'_>,
        plan: &[Planned<'a>],
        pending: &[usize],
        targets: &mut [Option<Target<'a>>],
    ) {
        let inner = &self.inner;
        // Requirements grouped by index backend: a scenario asks a handful.
        let mut groups: Vec<(&Backend, Vec<usize>)> = Vec::new();
        for &i in pending {
            targets[i] = Some(Target {
                backend: plan[i].backend,
                confirmed: false,
            });
            let Some(index) = inner.catalogue.index_of(plan[i].certificate) else {
                continue;
            };
            match groups.iter_mut().find(|(b, _)| *b == index) {
                Some((_, group)) => group.push(i),
                None => groups.push((index, vec![i])),
            }
        }
        let asked_at = inner.cache.generation();
        let calls = groups.into_iter().filter_map(|(index, group)| {
            let Some(client) = self.client(index) else {
                tracing::error!(department = %index.department, "no client for a catalogue index");
                return None;
            };
            let query = LocateQuery {
                subject: ask.subject.to_string(),
                holder_kind: ask.kind,
                certificates: group
                    .iter()
                    .map(|&i| plan[i].certificate.code.clone())
                    .collect(),
                request_id: Some(ask.request_id.to_string()),
                nonce: None,
            };
            Some(async move { (group, client.locate(&query, ask.deadline).await) })
        });
        for (group, answer) in futures_util::future::join_all(calls).await {
            let locations = match answer {
                Ok(answer) => answer.locations,
                Err(e) => {
                    tracing::warn!(request_id = ask.request_id, error = %e, "index gave no answer");
                    continue;
                }
            };
            for (i, location) in group.into_iter().zip(locations) {
                let planned = &plan[i];
                let backend = match &location.department {
                    // No record anywhere: the plan's backend answers its not-found, sealed.
                    None => Some(planned.backend),
                    Some(department) => {
                        let scope = location
                            .city
                            .map_or(BackendScope::Province, BackendScope::City);
                        inner
                            .catalogue
                            .holding_backend(planned.certificate, department, scope)
                    }
                };
                let Some(backend) = backend else {
                    tracing::warn!(request_id = ask.request_id, certificate = %planned.certificate.code,
                        department = ?location.department, city = ?location.city,
                        "index named a backend that cannot hold the type");
                    continue;
                };
                inner.cache.insert_location(
                    RecordKey::new(ask.subject_hash, &planned.certificate.code),
                    Located {
                        department: backend.department.as_str().into(),
                        scope: backend.scope,
                    },
                    asked_at,
                );
                targets[i] = Some(Target {
                    backend,
                    confirmed: true,
                });
            }
        }
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
            let expected = check_seal::Expected {
                subject: &query.subject,
                // Every query this fetcher sends carries one (see `query_nonce`).
                nonce: query.nonce.as_deref().unwrap_or_default(),
                max_age: inner.record_max_age,
            };
            let checked = check_seal::check(
                &record,
                expected,
                certificate,
                backend,
                &inner.seal_trust,
                now,
            );
            if let Some(counter) = inner.seal_checks.get() {
                let day = wire::calendar::china_today(now);
                counter.seal_checked(day, backend, &lead.certificate, checked.is_ok());
            }
            match checked {
                Ok(()) => {
                    let record = Arc::new(record);
                    inner.cache.insert(
                        lead.key.clone(),
                        Arc::clone(&record),
                        certificate,
                        backend,
                        lead.asked_at,
                    );
                    lead.settle(Ok(record));
                }
                Err(rejection) => {
                    inner
                        .metrics
                        .upstream(name, rejection.outcome(), Duration::ZERO);
                    tracing::warn!(request_id, backend = name, certificate = %lead.certificate, error = %rejection,
                        "department answer refused");
                    lead.settle(Err(match rejection {
                        check_seal::SealRejection::Stale(_) => Reason::DepartmentStaleRecord,
                        _ => Reason::DepartmentAnswerRejected,
                    }));
                }
            }
        }
    }
}

/// A fresh nonce for one department query: `q-` and 128 random bits in hex.
fn query_nonce() -> String {
    format!("q-{}", hex::encode(rand::random::<[u8; 16]>()))
}
