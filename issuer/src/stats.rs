//! Counters per backend, read by `GET /admin/stats`: tests count upstream queries with them
//! (200 concurrent gateway misses must become exactly one query here).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The live counters of one backend. Relaxed atomics: each is a count on its own.
#[derive(Debug, Default)]
pub struct BackendStats {
    queries: AtomicU64,
    locates: AtomicU64,
    answered: AtomicU64,
    records: AtomicU64,
    bad_requests: AtomicU64,
    injected_errors: AtomicU64,
    down: AtomicU64,
}

/// A snapshot of [`BackendStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendCounts {
    /// Query requests that reached this backend, whatever their outcome.
    pub queries: u64,
    /// Index requests (`records:locate`) that reached this backend, whatever their outcome.
    #[serde(default)]
    pub locates: u64,
    /// Queries answered 200.
    pub answered: u64,
    /// Records in those answers.
    pub records: u64,
    /// Queries refused as the client's fault (4xx).
    pub bad_requests: u64,
    /// Queries answered 503 by the error-rate knob.
    pub injected_errors: u64,
    /// Queries answered 503 because the backend was set down.
    pub down: u64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl BackendStats {
    pub fn query(&self) {
        bump(&self.queries, 1);
    }

    pub fn locate(&self) {
        bump(&self.locates, 1);
    }

    pub fn answered(&self, records: usize) {
        bump(&self.answered, 1);
        bump(&self.records, records as u64);
    }

    pub fn bad_request(&self) {
        bump(&self.bad_requests, 1);
    }

    pub fn injected_error(&self) {
        bump(&self.injected_errors, 1);
    }

    pub fn down(&self) {
        bump(&self.down, 1);
    }

    pub fn snapshot(&self) -> BackendCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BackendCounts {
            queries: get(&self.queries),
            locates: get(&self.locates),
            answered: get(&self.answered),
            records: get(&self.records),
            bad_requests: get(&self.bad_requests),
            injected_errors: get(&self.injected_errors),
            down: get(&self.down),
        }
    }
}
