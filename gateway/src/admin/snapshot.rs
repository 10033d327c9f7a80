//! The operator console's view of a node, made once per second by one task off the verify path:
//! it reads the live atomics ([`crate::admin::live`]), turns the differences since the last reading
//! into rates and percentiles, adds the department backends' breaker states, the objection
//! counts from the store and the rollout matrix, and publishes an immutable [`Snapshot`].
//! `GET /admin/v1/snapshot?after=N` long-polls on it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use store::{Status, Store};
use tokio::sync::watch;
use wire::admin_api::{
    BackendHealth, BreakerState, DelegationCounts, DepartmentObjections, HolderCounts,
    IssuedCounts, MaterialCounts, ObjectionCounts, Percentiles, RolloutView, Snapshot, Traffic,
    VerdictCounts, RATE_HISTORY,
};

use crate::admin::live::{quantile_ms, Live};
use crate::audit::AuditWriter;
use crate::departments::breaker;
use crate::departments::upstream::BackendClient;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// How often a snapshot is made.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Makes the rollout part of a snapshot (the plan and its live figures).
pub type RolloutSource = Arc<dyn Fn() -> RolloutView + Send + Sync>;

/// What the snapshot task reads.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Sources {
    pub node: String,
    pub metrics: Metrics,
    /// Every department backend's client, for its calls and its breaker.
    pub backends: Vec<Arc<BackendClient>>,
    pub store: Store,
    pub audit: AuditWriter,
    pub rollout: RolloutSource,
}

/// The latest snapshot, and waiting for the next.
#[derive(Debug, Clone)]
pub struct SnapshotFeed {
    rx: watch::Receiver<Arc<Snapshot>>,
}

/// One reading of the counters.
struct Reading {
    at: Instant,
    outcomes: [u64; 5],
    latency: Vec<u64>,
    backends: HashMap<String, (u64, u64, Vec<u64>)>,
}

fn read(live: &Live) -> Reading {
    Reading {
        at: Instant::now(),
        outcomes: live.outcomes(),
        latency: live.latency.read(),
        backends: live
            .backends()
            .map(|(name, b)| {
                (
                    name.clone(),
                    (
                        b.calls.load(Ordering::Relaxed),
                        b.errors.load(Ordering::Relaxed),
                        b.latency.read(),
                    ),
                )
            })
            .collect(),
    }
}

fn counts<T>(values: [T; 5]) -> VerdictCounts<T> {
    let [pass, fail, unavailable, not_offered, refused] = values;
    VerdictCounts {
        pass,
        fail,
        unavailable,
        not_offered,
        refused,
    }
}

fn breaker_state(state: breaker::BreakerState) -> BreakerState {
    match state {
        breaker::BreakerState::Closed => BreakerState::Closed,
        breaker::BreakerState::Open => BreakerState::Open,
        breaker::BreakerState::HalfOpen => BreakerState::HalfOpen,
    }
}

/// Folds the store's (department, status) counts into one row per department.
pub fn objection_counts(rows: &[store::ObjectionCount]) -> ObjectionCounts {
    let mut by: Vec<DepartmentObjections> = Vec::new();
    for row in rows {
        if by.last().is_none_or(|d| d.department != row.department) {
            by.push(DepartmentObjections {
                department: row.department.clone(),
                ..Default::default()
            });
        }
        let d = by.last_mut().expect("pushed above");
        match row.status {
            Status::Open => d.open += row.count,
            Status::InReview => d.in_review += row.count,
            Status::ResolvedCorrected | Status::ResolvedUpheld => d.resolved += row.count,
            Status::Rejected => d.rejected += row.count,
        }
        d.overdue += row.overdue;
    }
    ObjectionCounts { by_department: by }
}

struct Maker {
    sources: Sources,
    started: Instant,
    generation: u64,
    history: VecDeque<f64>,
    objections: ObjectionCounts,
    holders: HolderCounts,
    last: Reading,
}

/// How many snapshots apart the holder platform's figures are read from the store (they
/// change slowly, and every node reads them).
const HOLDER_COUNTS_EVERY: u64 = 5;

fn issued(counts: store::IssuanceCounts) -> IssuedCounts {
    IssuedCounts {
        phone: counts.phone,
        paper: counts.paper,
        presented: counts.presented,
    }
}

/// The holder platform's figures at `now`, from the store.
async fn holder_counts(
    store: &Store,
    now: chrono::DateTime<Utc>,
) -> Result<HolderCounts, store::StoreError> {
    let minute = store
        .issuance_counts(now - chrono::TimeDelta::minutes(1))
        .await?;
    let hour = store
        .issuance_counts(now - chrono::TimeDelta::hours(1))
        .await?;
    let delegations = store.delegation_counts(now).await?;
    Ok(HolderCounts {
        issued_last_minute: issued(minute),
        issued_last_hour: issued(hour),
        delegations: delegations
            .into_iter()
            .map(|d| DelegationCounts {
                relation: d.relation,
                active: d.active,
                lapsed: d.lapsed,
                revoked: d.revoked,
            })
            .collect(),
    })
}

impl Maker {
    async fn make(&mut self) -> Snapshot {
        let live = self.sources.metrics.live();
        let now = read(live);
        let secs = now.at.duration_since(self.last.at).as_secs_f64().max(1e-3);
        let per_sec: [f64; 5] = std::array::from_fn(|i| {
            now.outcomes[i].saturating_sub(self.last.outcomes[i]) as f64 / secs
        });
        self.history.push_back(per_sec.iter().sum());
        while self.history.len() > RATE_HISTORY {
            self.history.pop_front();
        }
        let q = |p| quantile_ms(&self.last.latency, &now.latency, p).unwrap_or(0.0);
        let latency = Percentiles {
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
        };
        let (misses, hits) = live.record_lookups();
        let (requests, [provided, commitment_allowed, must_present, unavailable]) =
            live.materials();
        let lookups = misses + hits;
        let mut departments: Vec<BackendHealth> = self
            .sources
            .backends
            .iter()
            .map(|client| {
                let name = client.name().to_owned();
                let (calls, errors, hist) = now.backends.get(&name).cloned().unwrap_or_default();
                let (calls0, errors0, hist0) =
                    self.last.backends.get(&name).cloned().unwrap_or_default();
                BackendHealth {
                    department: name.split('/').next().unwrap_or(&name).to_owned(),
                    rate_per_sec: calls.saturating_sub(calls0) as f64 / secs,
                    errors_per_sec: errors.saturating_sub(errors0) as f64 / secs,
                    p99_ms: quantile_ms(&hist0, &hist, 0.99),
                    state: breaker_state(client.breaker_state()),
                    backend: name,
                }
            })
            .collect();
        departments.sort_by(|a, b| a.backend.cmp(&b.backend));
        match self.sources.store.objection_counts(Utc::now()).await {
            Ok(rows) => self.objections = objection_counts(&rows),
            // Keep the last counts: the console shows the store's trouble elsewhere.
            Err(e) => tracing::debug!(error = %e, "objection counts unavailable for the snapshot"),
        }
        if self.generation % HOLDER_COUNTS_EVERY == 0 {
            match holder_counts(&self.sources.store, Utc::now()).await {
                Ok(counts) => self.holders = counts,
                Err(e) => tracing::debug!(error = %e, "holder counts unavailable for the snapshot"),
            }
        }
        self.generation += 1;
        let snapshot = Snapshot {
            generation: self.generation,
            at: Utc::now(),
            node: self.sources.node.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            traffic: Traffic {
                per_sec: counts(per_sec),
                totals: counts(now.outcomes),
                rate_history: self.history.iter().copied().collect(),
                latency,
                cache_hit_rate: (lookups > 0).then(|| hits as f64 / lookups as f64),
                in_flight: self.sources.metrics.public_in_flight().max(0) as u64,
                audit_backlog: self.sources.audit.backlog() as u64,
                materials: MaterialCounts {
                    requests,
                    provided,
                    commitment_allowed,
                    must_present,
                    unavailable,
                },
            },
            departments,
            objections: self.objections.clone(),
            rollout: (self.sources.rollout)(),
            holders: self.holders.clone(),
        };
        self.last = now;
        snapshot
    }
}

impl SnapshotFeed {
    /// Makes the first snapshot now and one per [`INTERVAL`] until `shutdown`.
    pub async fn start(sources: Sources, shutdown: Shutdown) -> SnapshotFeed {
        let last = read(sources.metrics.live());
        let mut maker = Maker {
            sources,
            started: Instant::now(),
            generation: 0,
            history: VecDeque::with_capacity(RATE_HISTORY + 1),
            objections: ObjectionCounts::default(),
            holders: HolderCounts::default(),
            last,
        };
        let first = maker.make().await;
        let (tx, rx) = watch::channel(Arc::new(first));
        tokio::spawn(async move {
            let mut every = shutdown.every(INTERVAL);
            while every.tick().await {
                let snapshot = maker.make().await;
                tx.send_replace(Arc::new(snapshot));
            }
        });
        SnapshotFeed { rx }
    }

    pub fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(&self.rx.borrow())
    }

    /// The first snapshot newer than `generation`, waiting at most `max_wait` (then the
    /// latest, whatever its generation). A `generation` ahead of the latest (the client saw an
    /// earlier run of this node) gets the latest at once.
    pub async fn after(&self, generation: u64, max_wait: Duration) -> Arc<Snapshot> {
        let latest = self.latest();
        if generation > latest.generation {
            return latest;
        }
        let mut rx = self.rx.clone();
        let newer = tokio::time::timeout(max_wait, async {
            rx.wait_for(|s| s.generation > generation)
                .await
                .map(|s| Arc::clone(&s))
        })
        .await;
        match newer {
            Ok(Ok(snapshot)) => snapshot,
            _ => self.latest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objection_counts_fold_by_department() {
        let row = |department: &str, status, count, overdue| store::ObjectionCount {
            department: department.into(),
            status,
            count,
            overdue,
        };
        let folded = objection_counts(&[
            row("health", Status::Open, 3, 1),
            row("health", Status::InReview, 2, 2),
            row("health", Status::ResolvedUpheld, 4, 0),
            row("health", Status::ResolvedCorrected, 1, 0),
            row("transport", Status::Rejected, 5, 0),
        ]);
        assert_eq!(
            folded.by_department,
            vec![
                DepartmentObjections {
                    department: "health".into(),
                    open: 3,
                    in_review: 2,
                    resolved: 5,
                    rejected: 0,
                    overdue: 3,
                },
                DepartmentObjections {
                    department: "transport".into(),
                    rejected: 5,
                    ..Default::default()
                },
            ]
        );
    }
}
