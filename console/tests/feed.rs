//! The snapshot feed against a fake gateway that goes away and comes back: it reports the
//! outage once per failed try with the first failure's time, backs off, and resumes, asking who
//! is signed in after each connection.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::NaiveTime;
use console::client::{AdminApi, ClientError};
use console::event::{Data, Event};
use console::feed::follow_snapshots;
use tokio::sync::mpsc;
use wire::admin_api::*;

/// Fails the first `failures` snapshot calls as unreachable, then answers; records `after`.
#[derive(Debug, Clone)]
struct Flaky {
    calls: Arc<AtomicUsize>,
    failures: usize,
    afters: Arc<std::sync::Mutex<Vec<Option<u64>>>>,
}

impl AdminApi for Flaky {
    async fn snapshot(&self, after: Option<u64>) -> Result<Snapshot, ClientError> {
        self.afters.lock().unwrap().push(after);
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if (1..=self.failures).contains(&call) {
            return Err(ClientError::Unreachable("connection refused".into()));
        }
        let mut snapshot = support::snapshot();
        snapshot.generation = call as u64;
        Ok(snapshot)
    }
    async fn objections(&self, _: usize) -> Result<ObjectionPage, ClientError> {
        unreachable!()
    }
    async fn objection(&self, _: &str) -> Result<ObjectionDetail, ClientError> {
        unreachable!()
    }
    async fn act(&self, _: &str, _: &ObjectionAction) -> Result<ObjectionDetail, ClientError> {
        unreachable!()
    }
    async fn audit_recent(&self, _: usize) -> Result<AuditPage, ClientError> {
        unreachable!()
    }
    async fn audit_lookup(&self, _: &str) -> Result<AuditView, ClientError> {
        unreachable!()
    }
    async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        Ok(support::mei())
    }
    async fn commitments(&self, _: usize) -> Result<CommitmentPage, ClientError> {
        unreachable!()
    }
    async fn commitment_counts(&self) -> Result<CommitmentCounts, ClientError> {
        unreachable!()
    }
    async fn commitment(&self, _: &str) -> Result<CommitmentDetail, ClientError> {
        unreachable!()
    }
    async fn resolve_commitment(
        &self,
        _: &str,
        _: &CommitmentAction,
    ) -> Result<CommitmentDetail, ClientError> {
        unreachable!()
    }
    async fn claim_commitment(&self, _: &str) -> Result<Option<CommitmentDetail>, ClientError> {
        unreachable!()
    }
    async fn kpis(&self) -> Result<Evaluation, ClientError> {
        unreachable!()
    }
}

fn noon() -> NaiveTime {
    NaiveTime::from_hms_opt(12, 0, 0).unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_outage_is_reported_then_the_feed_resumes_from_scratch() {
    let api = Flaky {
        calls: Arc::default(),
        failures: 3,
        afters: Arc::default(),
    };
    let (tx, mut rx) = mpsc::channel(8);
    let task = tokio::spawn(follow_snapshots(api.clone(), tx, noon));
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(rx.recv().await.unwrap());
    }
    task.abort();
    // Who is signed in, before the first snapshot and again after the outage.
    for at in [0, 5] {
        assert!(
            matches!(&seen[at], Event::Data(Data::SignedIn(Ok(who))) if who.name == "mei"),
            "{:?}",
            seen[at]
        );
    }
    let seen: Vec<_> = seen
        .into_iter()
        .filter(|event| !matches!(event, Event::Data(Data::SignedIn(_))))
        .collect();
    assert!(matches!(&seen[0], Event::Data(Data::Snapshot(s)) if s.generation == 0));
    for event in &seen[1..4] {
        assert!(
            matches!(event, Event::Data(Data::Disconnected { since, error }) if *since == noon() && error.contains("refused")),
            "{event:?}"
        );
    }
    assert!(matches!(&seen[4], Event::Data(Data::Snapshot(s)) if s.generation == 4));
    // Long poll after the first snapshot; after the outage it starts again without `after`.
    assert_eq!(
        api.afters.lock().unwrap()[..5],
        [None, Some(0), None, None, None]
    );
}
