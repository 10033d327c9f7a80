//! The live counters the operator console's snapshot is made from: plain atomics bumped on the
//! verify path (no lock, no allocation) and read once per second off it by
//! [`crate::admin::snapshot`], which turns differences into rates and percentiles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use wire::materials_api::MaterialStatus;

/// Overall outcomes, in [`wire::admin_api::VerdictCounts`] order.
pub const OUTCOMES: [&str; 5] = ["pass", "fail", "unavailable", "not_offered", "refused"];

/// Material statuses, in [`wire::admin_api::MaterialCounts`] order.
pub const MATERIAL_STATUSES: [MaterialStatus; 4] = [
    MaterialStatus::Provided,
    MaterialStatus::CommitmentAllowed,
    MaterialStatus::MustPresent,
    MaterialStatus::Unavailable,
];

/// Latency buckets: four per doubling of microseconds, from 1 µs to beyond 60 s.
const BUCKETS: usize = 4 * 26;

/// A latency histogram of atomics (log scale, ~19 % wide buckets).
#[derive(Debug)]
pub struct LatencyHistogram {
    counts: [AtomicU64; BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn bucket_of(elapsed: Duration) -> usize {
    let micros = elapsed.as_micros().max(1) as f64;
    ((micros.log2() * 4.0) as usize).min(BUCKETS - 1)
}

/// The upper bound of bucket `i`, in milliseconds.
fn bucket_upper_ms(i: usize) -> f64 {
    2f64.powf((i + 1) as f64 / 4.0) / 1000.0
}

impl LatencyHistogram {
    pub fn observe(&self, elapsed: Duration) {
        self.counts[bucket_of(elapsed)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now (to subtract from a later reading).
    pub fn read(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// The `q` quantile (0–1) of the observations between two readings, in milliseconds (the
/// bucket's upper bound); `None` when there were none.
pub fn quantile_ms(before: &[u64], after: &[u64], q: f64) -> Option<f64> {
    let deltas: Vec<u64> = after
        .iter()
        .zip(before.iter().chain(std::iter::repeat(&0)))
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let total: u64 = deltas.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in deltas.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(bucket_upper_ms(i));
        }
    }
    Some(bucket_upper_ms(BUCKETS - 1))
}

/// One department backend's calls.
#[derive(Debug, Default)]
pub struct BackendLive {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub latency: LatencyHistogram,
}

/// Every live counter of a node.
#[derive(Debug, Default)]
pub struct Live {
    outcomes: [AtomicU64; 5],
    pub latency: LatencyHistogram,
    /// Record-cache look-ups: [miss, hit].
    records: [AtomicU64; 2],
    /// Service items' materials answered, and their materials by status (in
    /// [`MATERIAL_STATUSES`] order).
    materials_requests: AtomicU64,
    materials: [AtomicU64; 4],
    backends: OnceLock<HashMap<String, BackendLive>>,
}

impl Live {
    /// Makes the per-backend counters (once, at start; unknown names are not counted).
    pub fn prepare_backends<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let map = names
            .into_iter()
            .map(|n| (n.to_owned(), BackendLive::default()))
            .collect();
        let _ = self.backends.set(map);
    }

    /// One overall outcome (one of [`OUTCOMES`]).
    pub fn outcome(&self, outcome: &str) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One service item's materials answered.
    pub fn materials_request(&self) {
        self.materials_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// One material answered with `status`.
    pub fn material(&self, status: MaterialStatus) {
        let i = MATERIAL_STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(0);
        self.materials[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Materials requests and materials by status (in [`MATERIAL_STATUSES`] order) since start.
    pub fn materials(&self) -> (u64, [u64; 4]) {
        (
            self.materials_requests.load(Ordering::Relaxed),
            std::array::from_fn(|i| self.materials[i].load(Ordering::Relaxed)),
        )
    }

    pub fn record_lookup(&self, hit: bool) {
        self.records[usize::from(hit)].fetch_add(1, Ordering::Relaxed);
    }

    /// One upstream outcome (see `metrics::UPSTREAM_OUTCOMES`): `rejected` and `stale_record`
    /// are answers of a call already counted, so they add an error only; `breaker_open` took no
    /// time.
    pub fn upstream(&self, backend: &str, outcome: &str, elapsed: Duration) {
        let Some(b) = self.backends.get().and_then(|m| m.get(backend)) else {
            return;
        };
        let refused_answer = matches!(outcome, "rejected" | "stale_record");
        if !refused_answer {
            b.calls.fetch_add(1, Ordering::Relaxed);
        }
        if outcome != "ok" {
            b.errors.fetch_add(1, Ordering::Relaxed);
        }
        if outcome != "breaker_open" && !refused_answer {
            b.latency.observe(elapsed);
        }
    }

    /// Outcome totals, in [`OUTCOMES`] order.
    pub fn outcomes(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.outcomes[i].load(Ordering::Relaxed))
    }

    /// Record-cache (misses, hits) since start.
    pub fn record_lookups(&self) -> (u64, u64) {
        (
            self.records[0].load(Ordering::Relaxed),
            self.records[1].load(Ordering::Relaxed),
        )
    }

    pub fn backends(&self) -> impl Iterator<Item = (&String, &BackendLive)> {
        self.backends.get().into_iter().flat_map(|m| m.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_difference_of_two_readings() {
        let h = LatencyHistogram::default();
        for _ in 0..90 {
            h.observe(Duration::from_micros(100));
        }
        let before = h.read();
        for _ in 0..99 {
            h.observe(Duration::from_millis(1));
        }
        h.observe(Duration::from_millis(50));
        let after = h.read();
        let p50 = quantile_ms(&before, &after, 0.5).expect("observations");
        let p99 = quantile_ms(&before, &after, 0.99).expect("observations");
        let max = quantile_ms(&before, &after, 1.0).expect("observations");
        assert!((1.0..1.25).contains(&p50), "{p50}");
        assert!((1.0..1.25).contains(&p99), "{p99}");
        assert!((50.0..60.0).contains(&max), "{max}");
        assert_eq!(quantile_ms(&after, &after, 0.5), None);
    }

    #[test]
    fn unknown_names_are_not_counted() {
        let live = Live::default();
        live.prepare_backends(["health"]);
        live.upstream("health", "timeout", Duration::from_millis(3));
        live.upstream("health", "rejected", Duration::ZERO);
        live.upstream("elsewhere", "error", Duration::ZERO);
        live.outcome("pass");
        live.outcome("refused");
        live.outcome("bogus");
        assert_eq!(live.outcomes(), [1, 0, 0, 0, 1]);
        let (_, health) = live.backends().next().expect("one backend");
        assert_eq!(health.calls.load(Ordering::Relaxed), 1);
        assert_eq!(health.errors.load(Ordering::Relaxed), 2);
    }
}
