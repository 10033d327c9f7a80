//! Ed25519 signatures of concurrent verify requests checked in batches (the
//! signature check dominates the hot path; one batch equation costs about half as much per
//! signature as checking each alone).
//!
//! One task owns the batching. It waits for a first check, yields once to the scheduler, then
//! takes whatever other checks are queued (up to [`MAX_BATCH`]) without waiting for more: an
//! idle gateway adds no latency, and batches form only from requests that were already running
//! or arrived while the previous batch ran. A batch that fails is checked again one by one, so
//! each request gets its own verdict. A batch runs on the runtime's worker, not in
//! `spawn_blocking`: at most 64 checks, about 1 ms, and the thread hop would cost more than it
//! frees on two cores.
//!
//! Measured (2026-11-26, the 2-vCPU dev VM, server pinned to one core, interleaved runs of
//! `loadtest compare --warm --pin -c 32 -z 10s --profile eddsa`), server CPU per verify:
//! before 50.6–51.3 µs; batches of what was queued 42.5–44.1 µs; with the one yield first
//! 27.4–28.0 µs. The HMAC profile does not come here and did not move (12.4–14.1 µs both).
//!
//! Only EdDSA codes come here; HMAC, ES256 and PS256 are checked in line by the stage. A batch
//! verdict is each code's verdict alone, whatever else is in the batch: one cofactored rule for
//! both (`wire/src/keys/ed25519.rs`), and a failing batch is halved until each bad signature is
//! found ([`wire::keys::verify_ed25519_batch`]).

use tokio::sync::{mpsc, oneshot};
use wire::keys::{verify_ed25519_batch, Ed25519Check};

/// The most checks in one batch. Beyond a few dozen the saving per signature flattens, and a
/// bigger batch only makes its first request wait longer.
pub const MAX_BATCH: usize = 64;

/// Checks queued before a submitter waits for room: bounds memory, not throughput (requests
/// are already bounded by connections).
const QUEUE: usize = 4096;

#[derive(Debug)]
struct Job {
    check: Ed25519Check,
    verdict: oneshot::Sender<bool>,
}

/// The handle requests submit their signature checks to. Cheap to clone; the batching task
/// ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct SignatureBatcher {
    jobs: mpsc::Sender<Job>,
}

impl SignatureBatcher {
    /// Starts the batching task on the current tokio runtime.
    pub fn start() -> SignatureBatcher {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(queue));
        SignatureBatcher { jobs }
    }

    /// Whether `check` verifies, checked in a batch with whatever other checks are queued.
    pub async fn verify(&self, check: Ed25519Check) -> bool {
        let (verdict, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(Job { check, verdict }).await {
            // The task is gone (the runtime is shutting down): check it here.
            return job.check.verify();
        }
        // Only a panic in the task drops a job unanswered; refuse rather than accept.
        answer.await.unwrap_or(false)
    }
}

async fn run(mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if batch.len() < MAX_BATCH {
            // One turn of the scheduler lets requests that are already runnable reach the
            // queue: with 32 connections this took the EdDSA cost per verify from 43 µs to
            // 28 µs (module doc). Idle, nothing else is runnable and this returns at once.
            tokio::task::yield_now().await;
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let checks: Vec<&Ed25519Check> = batch.iter().map(|job| &job.check).collect();
        let verdicts = verify_ed25519_batch(&checks);
        for (job, ok) in batch.drain(..).zip(verdicts) {
            // A request that gave up waiting no longer wants its verdict.
            let _ = job.verdict.send(ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::keys::{Algorithm, SigningKey, Validity};

    fn checks(n: usize, bad: &[usize]) -> Vec<Ed25519Check> {
        let key = SigningKey::generate(Algorithm::EdDsa, "t", Validity::default()).expect("key");
        (0..n)
            .map(|i| {
                let msg = format!("code {i}").into_bytes();
                let mut sig = key.sign(&msg);
                if bad.contains(&i) {
                    sig[10] ^= 1;
                }
                key.trusted().ed25519_check(msg, &sig).expect("ed25519")
            })
            .collect()
    }

    async fn verify_all(batcher: &SignatureBatcher, checks: Vec<Ed25519Check>) -> Vec<bool> {
        let pending: Vec<_> = checks
            .into_iter()
            .map(|c| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.verify(c).await })
            })
            .collect();
        let mut verdicts = Vec::new();
        for p in pending {
            verdicts.push(p.await.expect("task"));
        }
        verdicts
    }

    #[tokio::test]
    async fn a_batch_of_good_signatures_all_verify() {
        let batcher = SignatureBatcher::start();
        assert_eq!(verify_all(&batcher, checks(40, &[])).await, vec![true; 40]);
    }

    #[tokio::test]
    async fn one_bad_signature_among_good_ones_is_the_only_refusal() {
        // On a current-thread runtime all 100 submitters queue before the task runs, so the
        // checks go in batches of 64 and 36, with the bad one inside the first.
        let batcher = SignatureBatcher::start();
        let verdicts = verify_all(&batcher, checks(100, &[17])).await;
        assert_eq!(verdicts, (0..100).map(|i| i != 17).collect::<Vec<_>>());
        // And alone.
        let mut one = checks(1, &[0]);
        assert!(!batcher.verify(one.remove(0)).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_submitters_each_get_their_own_verdict() {
        let batcher = SignatureBatcher::start();
        let bad = [3, 50, 51, 199];
        let submitters: Vec<_> = (0..4)
            .map(|s| {
                let batcher = batcher.clone();
                let mine = checks(200, &bad);
                tokio::spawn(async move {
                    let verdicts = verify_all(&batcher, mine).await;
                    assert_eq!(
                        verdicts,
                        (0..200).map(|i| !bad.contains(&i)).collect::<Vec<_>>(),
                        "submitter {s}"
                    );
                })
            })
            .collect();
        for s in submitters {
            s.await.expect("submitter");
        }
    }
}
