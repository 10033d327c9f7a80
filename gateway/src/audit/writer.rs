//! The node's one audit writer task: requests hand it their [`AuditRecord`]s, it chains them and
//! commits them in groups, and answers each request once the group holding its entry is
//! committed.
//!
//! - Group commit: the task takes what is queued (up to `max_batch`), waits at most
//!   `max_delay` for more while the batch is not full (by default not at all), and commits it in
//!   one transaction; entries arriving meanwhile form the next batch.
//! - Bounded backlog: at most `backlog` entries are accepted and not yet committed. One more is
//!   refused at once with [`AuditError::Backlogged`] (the gateway answers 503 + `Retry-After`):
//!   nothing accepted is ever dropped.
//! - The store unreachable or too slow: the task keeps its batch, in order, and retries with
//!   back-off until it commits; the backlog fills meanwhile, and drains by itself afterwards.
//! - Several nodes on one store: each node appends to a chain of its own, named after the node
//!   (whose name one live process holds at a time), so nodes never wait for each other's
//!   commits. The batch is chained onto the chain's stored head inside the append transaction.
//!   After a failure that may have hidden a commit (a connection lost during `COMMIT`), the task
//!   first looks whether its batch is stored already, so no entry is written twice.
//! - Spent codes: an entry may carry its code's [`Spend`]; the nonces join the same
//!   transaction under the store's uniqueness key. When a code was spent already (on another
//!   node, or before a restart) nothing is written; those entries become refusals
//!   ([`super::REPLAYED`]) and the batch is appended again, so exactly one use of a code is
//!   answered and the loser's refusal is in the chain too.
//! - Bounded waits: a caller that gives up on its entry ([`AuditReceipt::committed_within`])
//!   takes it back unless an attempt that may land holds it; an entry taken back is never
//!   committed, so its code stays unspent and the venue may retry.
//! - Checkpoints are signed in the same task, between batches, over the head of the last batch
//!   this task chained and committed itself — never over a head read back from the store, which
//!   anyone with access to the database could have appended to — and are also appended to the
//!   node's anchor file ([`super::anchor`]). Each also names the other chains' heads as the
//!   store shows them then (witnessed, not vouched for: their own nodes' checkpoints vouch for
//!   them), so that a chain cut short below a witnessed head is found by `gateway audit verify`
//!   even if its own checkpoints went with it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{Appended, AuditEntry, ChainHead, Checkpoint, Spend, SpentBy, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use wire::keys::SigningKey;

use super::anchor::{AnchorLine, AnchorSink};
use super::chain::{chain_all, AuditRecord, GENESIS};
use super::checkpoint::sign_checkpoint;
use super::hash::ChainHash;

/// How the writer batches, how much it holds, and whether it checkpoints.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Entries per commit at most.
    pub max_batch: usize,
    /// How long a batch that is not full waits for more entries before it is committed.
    /// `Duration::ZERO` commits whatever is queued at once (lowest latency at low load).
    pub max_delay: Duration,
    /// Entries accepted and not yet committed, at most; beyond, appends are refused.
    pub backlog: usize,
    /// Signed checkpoints of the chain head; `None`: none.
    pub checkpoint: Option<CheckpointSettings>,
    /// The chain's hash: the store's, agreed at start ([`super::hash::SETTING`]).
    pub hash: ChainHash,
}

impl Default for WriterSettings {
    fn default() -> WriterSettings {
        WriterSettings {
            max_batch: 512,
            max_delay: Duration::ZERO,
            backlog: 65_536,
            checkpoint: None,
            hash: ChainHash::Sha256,
        }
    }
}

/// The node's checkpoint key, how often it signs (and once more on shutdown), and where each
/// checkpoint is anchored besides the store.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    pub key: SigningKey,
    pub interval: Duration,
    /// The append-only file every checkpoint is also written to; `None`: the store only.
    pub anchor: Option<AnchorSink>,
}

/// Where an entry landed in the node's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPosition {
    pub seq: i64,
    pub hash: [u8; 32],
}

impl AuditPosition {
    fn of(entry: &AuditEntry) -> AuditPosition {
        AuditPosition {
            seq: entry.seq,
            hash: entry.hash,
        }
    }
}

/// Why an entry was not (or may not have been) committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The backlog is full: the store is down or slower than the traffic. Nothing was accepted;
    /// answer 503 with `Retry-After: retry_after_secs`.
    #[error("the audit backlog is full; retry in {retry_after_secs} s")]
    Backlogged { retry_after_secs: u64 },
    /// The writer has shut down (or its task ended). Nothing was accepted — or, for a receipt,
    /// the entry's fate is unknown.
    #[error("the audit writer has stopped")]
    Closed,
    /// The store refused the batch as invalid: a bug, not an outage.
    #[error("the store refused the audit entry: {0}")]
    Rejected(String),
    /// A checkpoint could not be written.
    #[error("cannot write an audit checkpoint: {0}")]
    Checkpoint(String),
    /// The entry's code was spent already: the entry is committed as a refusal at `position`.
    #[error("the code was already used on node `{}` at {}", by.node, by.at)]
    Replayed {
        by: SpentBy,
        position: AuditPosition,
    },
    /// Not committed in time (the store down or too slow); taken back, never to be committed.
    #[error("the audit log could not record the entry in time; retry in {retry_after_secs} s")]
    TimedOut { retry_after_secs: u64 },
    /// Not confirmed in time while an attempt that may yet land held it: it may be committed.
    #[error("the audit log has not confirmed the entry; it may still be recorded")]
    Unconfirmed,
}

impl AuditError {
    /// Seconds for `Retry-After`, for the errors where a retry helps.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AuditError::Backlogged { retry_after_secs }
            | AuditError::TimedOut { retry_after_secs } => Some(*retry_after_secs),
            AuditError::Closed | AuditError::Unconfirmed => Some(1),
            AuditError::Rejected(_) | AuditError::Checkpoint(_) | AuditError::Replayed { .. } => {
                None
            }
        }
    }
}

/// A snapshot of the writer's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Entries accepted and not yet committed (the backlog gauge).
    pub backlog: usize,
    /// Entries committed.
    pub committed: u64,
    /// Batches committed.
    pub batches: u64,
    /// Appends refused because the backlog was full.
    pub backlogged: u64,
    /// Failed commit attempts retried after back-off (store unavailable, slow or failing).
    pub retries: u64,
    /// Commits re-chained because another writer had advanced this node's chain (a second
    /// process with the node's name: never, while names are leased).
    pub conflicts: u64,
    /// Entries refused by the store as invalid (answered with [`AuditError::Rejected`]).
    pub rejected: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Checkpoints that could not be written.
    pub checkpoint_failures: u64,
    /// Entries whose code was spent already, committed as refusals.
    pub replays: u64,
    /// Entries their callers gave up on before any attempt held them (never committed).
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct Counters {
    committed: AtomicU64,
    batches: AtomicU64,
    backlogged: AtomicU64,
    retries: AtomicU64,
    conflicts: AtomicU64,
    rejected: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_failures: AtomicU64,
    replays: AtomicU64,
    abandoned: AtomicU64,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// State shared by the handles and the task.
#[derive(Debug)]
struct Shared {
    /// Accepted, not yet answered.
    backlog: AtomicUsize,
    capacity: usize,
    closed: AtomicBool,
    /// What `Backlogged` suggests: 1 s, or the back-off the task is in.
    retry_after_secs: AtomicU64,
    counters: Counters,
}

impl Shared {
    /// Takes one place in the backlog, if there is one.
    fn reserve(&self) -> bool {
        self.backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.backlog.fetch_sub(n, Ordering::AcqRel);
    }
}

type Reply = oneshot::Sender<Result<AuditPosition, AuditError>>;

/// Who holds a queued entry: its caller may take it back while it is [`PENDING`].
const PENDING: u8 = 0;
/// In an attempt to commit that may land: the caller must wait for its outcome.
const ATTEMPTED: u8 = 1;
/// Taken back by its caller: never committed.
const ABANDONED: u8 = 2;
/// In an attempt when its caller gave up: dropped if that attempt wrote nothing, committed if
/// it landed (the caller was told the outcome is unknown).
const GIVEN_UP: u8 = 3;

#[derive(Debug)]
struct Queued {
    record: AuditRecord,
    /// The code this entry spends, if any; cleared when the code turns out spent already.
    spend: Option<Spend>,
    /// Set when the code turned out spent already: the answer is a refusal.
    replayed: Option<SpentBy>,
    /// `None` for [`AuditWriter::append_nowait`].
    reply: Option<Reply>,
    claim: Arc<AtomicU8>,
}

#[derive(Debug)]
enum Control {
    Checkpoint(oneshot::Sender<Result<Option<Checkpoint>, AuditError>>),
    Shutdown,
}

/// The handle to a node's audit writer task. Cheap to clone; every clone feeds the same task.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: mpsc::UnboundedSender<Queued>,
    control: mpsc::Sender<Control>,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// An accepted entry; [`AuditReceipt::committed`] waits for its commit.
#[derive(Debug)]
pub struct AuditReceipt {
    reply: oneshot::Receiver<Result<AuditPosition, AuditError>>,
    claim: Arc<AtomicU8>,
    shared: Arc<Shared>,
}

impl AuditReceipt {
    /// The entry's place in the chain once its batch is committed.
    pub async fn committed(self) -> Result<AuditPosition, AuditError> {
        self.reply.await.unwrap_or(Err(AuditError::Closed))
    }

    /// [`AuditReceipt::committed`], waiting at most `wait`. Then the entry is taken back
    /// ([`AuditError::TimedOut`]: never committed) — unless an attempt that may land holds it;
    /// its outcome is then awaited for at most `wait` more, after which the answer is
    /// [`AuditError::Unconfirmed`].
    pub async fn committed_within(mut self, wait: Duration) -> Result<AuditPosition, AuditError> {
        let outcome = |r: Result<Result<AuditPosition, AuditError>, oneshot::error::RecvError>| {
            r.unwrap_or(Err(AuditError::Closed))
        };
        if let Ok(result) = tokio::time::timeout(wait, &mut self.reply).await {
            return outcome(result);
        }
        let timed_out = || AuditError::TimedOut {
            retry_after_secs: self.shared.retry_after_secs.load(Ordering::Relaxed),
        };
        match self
            .claim
            .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return Err(timed_out()),
            Err(_) => {
                // An attempt holds it: dropped if that attempt writes nothing.
                if self
                    .claim
                    .compare_exchange(ATTEMPTED, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                    && self.claim.load(Ordering::Acquire) == PENDING
                {
                    // Released meanwhile: take it back after all.
                    if self
                        .claim
                        .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return Err(timed_out());
                    }
                }
            }
        }
        match tokio::time::timeout(wait, &mut self.reply).await {
            Ok(result) => outcome(result),
            Err(_) => Err(AuditError::Unconfirmed),
        }
    }
}

impl AuditWriter {
    /// Starts the writer task of node `node` on `store` (from a tokio runtime): it appends to
    /// the chain named `node`, resuming from that chain's stored head when it first commits.
    pub fn start(store: Store, node: String, settings: WriterSettings) -> AuditWriter {
        let (queue, rx) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::channel(8);
        let shared = Arc::new(Shared {
            backlog: AtomicUsize::new(0),
            capacity: settings.backlog.max(1),
            closed: AtomicBool::new(false),
            retry_after_secs: AtomicU64::new(1),
            counters: Counters::default(),
        });
        let task = Task {
            store,
            node,
            max_batch: settings.max_batch.max(1),
            max_delay: settings.max_delay,
            checkpoint: settings.checkpoint,
            hash: settings.hash,
            shared: Arc::clone(&shared),
            last_chained: None,
            last_checkpoint: None,
        };
        let handle = tokio::spawn(task.run(rx, control_rx));
        AuditWriter {
            inner: Arc::new(Inner {
                queue,
                control,
                shared,
                task: Mutex::new(Some(handle)),
            }),
        }
    }

    fn enqueue(
        &self,
        record: AuditRecord,
        spend: Option<Spend>,
        reply: Option<Reply>,
    ) -> Result<Arc<AtomicU8>, AuditError> {
        let shared = &self.inner.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(AuditError::Closed);
        }
        if !shared.reserve() {
            bump(&shared.counters.backlogged, 1);
            return Err(AuditError::Backlogged {
                retry_after_secs: shared.retry_after_secs.load(Ordering::Relaxed),
            });
        }
        let claim = Arc::new(AtomicU8::new(PENDING));
        let queued = Queued {
            record,
            spend,
            replayed: None,
            reply,
            claim: Arc::clone(&claim),
        };
        if self.inner.queue.send(queued).is_err() {
            shared.release(1);
            return Err(AuditError::Closed);
        }
        Ok(claim)
    }

    /// Accepts `record` — spending `spend`'s code in the same commit, if given — now, or
    /// refuses it now ([`AuditError::Backlogged`] when the backlog is full,
    /// [`AuditError::Closed`] after shutdown); the receipt waits for the commit.
    pub fn try_enqueue(
        &self,
        record: AuditRecord,
        spend: Option<Spend>,
    ) -> Result<AuditReceipt, AuditError> {
        let (reply, rx) = oneshot::channel();
        let claim = self.enqueue(record, spend, Some(reply))?;
        Ok(AuditReceipt {
            reply: rx,
            claim,
            shared: Arc::clone(&self.inner.shared),
        })
    }

    /// Appends `record` and returns its place once the batch holding it is committed. Refused at
    /// once when the backlog is full.
    pub async fn append(&self, record: AuditRecord) -> Result<AuditPosition, AuditError> {
        self.try_enqueue(record, None)?.committed().await
    }

    /// Accepts `record` without waiting for its commit (for a gateway configured not to wait).
    /// Still refused when the backlog is full; once accepted it is committed unless the process
    /// dies first. A code found spent already at the commit is recorded as
    /// [`super::REPLAYED_AFTER_ANSWER`].
    pub fn append_nowait(
        &self,
        record: AuditRecord,
        spend: Option<Spend>,
    ) -> Result<(), AuditError> {
        self.enqueue(record, spend, None).map(drop)
    }

    /// `Some(retry after, in seconds)` when an append now would be refused as backlogged.
    pub fn full(&self) -> Option<u64> {
        let shared = &self.inner.shared;
        (shared.backlog.load(Ordering::Acquire) >= shared.capacity)
            .then(|| shared.retry_after_secs.load(Ordering::Relaxed))
    }

    /// Entries accepted and not yet committed.
    pub fn backlog(&self) -> usize {
        self.inner.shared.backlog.load(Ordering::Acquire)
    }

    /// The writer's counters.
    pub fn stats(&self) -> WriterStats {
        let c = &self.inner.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriterStats {
            backlog: self.backlog(),
            committed: get(&c.committed),
            batches: get(&c.batches),
            backlogged: get(&c.backlogged),
            retries: get(&c.retries),
            conflicts: get(&c.conflicts),
            rejected: get(&c.rejected),
            checkpoints: get(&c.checkpoints),
            checkpoint_failures: get(&c.checkpoint_failures),
            replays: get(&c.replays),
            abandoned: get(&c.abandoned),
        }
    }

    /// Signs and stores a checkpoint of the committed head now (between batches). `Ok(None)`
    /// when the log is empty; an error when no checkpoint key is configured or the store fails.
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, AuditError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .control
            .send(Control::Checkpoint(reply))
            .await
            .map_err(|_| AuditError::Closed)?;
        rx.await.unwrap_or(Err(AuditError::Closed))
    }

    /// Stops accepting entries, commits every accepted one (retrying while the store is down —
    /// bound this with a timeout if the process must exit regardless), signs a last checkpoint
    /// and ends the task. Later calls (from any clone) return at once.
    pub async fn shutdown(&self) {
        self.inner.shared.closed.store(true, Ordering::Release);
        let _ = self.inner.control.send(Control::Shutdown).await;
        let handle = self
            .inner
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "the audit writer task failed");
            }
        }
    }
}

struct Task {
    store: Store,
    node: String,
    max_batch: usize,
    max_delay: Duration,
    checkpoint: Option<CheckpointSettings>,
    hash: ChainHash,
    shared: Arc<Shared>,
    /// The last entry this task chained and saw committed: the only head it signs.
    last_chained: Option<AuditPosition>,
    /// Seq of the last checkpoint this task signed: an idle node does not sign the same head
    /// again at every interval.
    last_checkpoint: Option<i64>,
}

/// Doubling pauses between attempts, 50 ms to 5 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(5);

    async fn wait(&mut self, shared: &Shared) {
        let secs = self.0.as_secs_f64().ceil().max(1.0);
        shared
            .retry_after_secs
            .store(secs as u64, Ordering::Relaxed);
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Self::MAX);
    }
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Queued>,
        mut control: mpsc::Receiver<Control>,
    ) {
        let mut ticker = self.checkpoint.as_ref().map(|c| {
            let period = c.interval.max(Duration::from_millis(1));
            let mut t = tokio::time::interval_at(Instant::now() + period, period);
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
            t
        });
        let mut draining = false;
        loop {
            let first = if draining {
                match rx.try_recv() {
                    Ok(queued) => queued,
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    biased;
                    Some(ctl) = control.recv() => {
                        match ctl {
                            Control::Checkpoint(reply) => {
                                let result = self.write_checkpoint(true).await;
                                let _ = reply.send(result);
                            }
                            Control::Shutdown => {
                                draining = true;
                                // No more sends succeed; what is queued is still received.
                                rx.close();
                            }
                        }
                        continue;
                    }
                    () = tick(&mut ticker) => {
                        let _ = self.write_checkpoint(false).await;
                        continue;
                    }
                    queued = rx.recv() => match queued {
                        Some(queued) => queued,
                        // Every handle dropped without shutdown.
                        None => break,
                    },
                }
            };
            let batch = self.gather(first, &mut rx).await;
            self.commit(batch).await;
        }
        if self.checkpoint.is_some() {
            let _ = self.write_checkpoint(false).await;
        }
    }

    /// `first` and whatever else arrives, up to `max_batch`, for at most `max_delay`.
    async fn gather(&self, first: Queued, rx: &mut mpsc::UnboundedReceiver<Queued>) -> Vec<Queued> {
        let mut batch = vec![first];
        let deadline = Instant::now() + self.max_delay;
        while batch.len() < self.max_batch {
            match rx.try_recv() {
                Ok(queued) => {
                    batch.push(queued);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(queued)) => batch.push(queued),
                Ok(None) | Err(_) => break,
            }
        }
        batch
    }

    /// Commits `batch` — retrying until it is stored — and answers its callers. The batch is
    /// chained onto the head of this node's chain as the append transaction reads it.
    async fn commit(&mut self, mut batch: Vec<Queued>) {
        let mut backoff = Backoff(Backoff::FIRST);
        // The (seq, hash) of an attempt whose outcome is unknown (its claims held meanwhile).
        let mut attempted: Option<Vec<AuditPosition>> = None;
        loop {
            if let Some(positions) = &attempted {
                match self.already_stored(positions).await {
                    Ok(true) => {
                        let positions = attempted.take().unwrap_or_default();
                        self.committed(batch, &positions);
                        return;
                    }
                    Ok(false) => attempted = None,
                    Err(e) => {
                        self.retrying(&e, "cannot read the audit head; retrying");
                        backoff.wait(&self.shared).await;
                        continue;
                    }
                }
            } else {
                batch = self.claim(batch);
                if batch.is_empty() {
                    return;
                }
            }
            let spends: Vec<(usize, Spend)> = batch
                .iter()
                .enumerate()
                .filter_map(|(i, q)| q.spend.map(|s| (i, s)))
                .collect();
            // What was chained, kept in case the commit's outcome turns out unknown.
            let mut chained: Vec<AuditPosition> = Vec::new();
            let chain = |head: Option<(i64, [u8; 32])>| {
                let entries = chain_all(
                    batch.iter().map(|q| &q.record),
                    &self.node,
                    head.unwrap_or((0, GENESIS)),
                    self.hash,
                );
                chained = entries.iter().map(AuditPosition::of).collect();
                entries
            };
            match self
                .store
                .append_audit_chaining(&self.node, chain, &spends)
                .await
            {
                Ok((Appended::Committed, _)) => {
                    self.committed(batch, &chained);
                    return;
                }
                Ok((Appended::AlreadySpent(losers), _)) => {
                    // Nothing was written: the losers become refusals and the batch goes again.
                    for (index, by) in losers {
                        if let Some(queued) = batch.get_mut(index) {
                            queued.spend = None;
                            queued.record.refuse_as_replayed(queued.reply.is_some());
                            queued.replayed = Some(by);
                        }
                    }
                }
                Err(StoreError::Invalid(reason)) => {
                    // Nothing was written, and the same batch would be refused again.
                    tracing::error!(%reason, node = %self.node, "the store refused an audit batch");
                    self.reject(batch, &reason);
                    return;
                }
                Err(StoreError::Conflict(reason)) => {
                    // Another process appended to this node's chain: it has this node's name.
                    bump(&self.shared.counters.conflicts, 1);
                    tracing::debug!(%reason, node = %self.node, "audit head moved; re-chaining");
                    release_claims(&batch);
                    tokio::task::yield_now().await;
                }
                Err(e @ StoreError::CommitUnknown(_)) => {
                    // The commit may have landed: look before writing again, claims held.
                    self.retrying(&e, "an audit commit may not have landed; looking");
                    attempted = Some(chained);
                    backoff.wait(&self.shared).await;
                }
                Err(e) => {
                    // Nothing was written: callers may take their entries back meanwhile.
                    self.retrying(&e, "cannot commit an audit batch; retrying");
                    release_claims(&batch);
                    backoff.wait(&self.shared).await;
                }
            }
        }
    }

    /// Marks every entry of `batch` as held by an attempt, dropping those their callers took
    /// back or gave up on (which free their place in the backlog). Called only when no earlier
    /// attempt may have landed.
    fn claim(&self, batch: Vec<Queued>) -> Vec<Queued> {
        let before = batch.len();
        let kept: Vec<Queued> = batch
            .into_iter()
            .filter(|q| {
                q.claim
                    .compare_exchange(PENDING, ATTEMPTED, Ordering::AcqRel, Ordering::Acquire)
                    .map_or_else(|state| state == ATTEMPTED, |_| true)
            })
            .collect();
        let dropped = before - kept.len();
        if dropped > 0 {
            bump(&self.shared.counters.abandoned, dropped as u64);
            self.shared.release(dropped);
        }
        kept
    }

    fn retrying(&self, error: &StoreError, message: &str) {
        bump(&self.shared.counters.retries, 1);
        let backlog = self.shared.backlog.load(Ordering::Relaxed);
        tracing::warn!(%error, node = %self.node, backlog, "{message}");
    }

    /// Whether the attempt whose outcome was unknown is in the store.
    async fn already_stored(&self, attempted: &[AuditPosition]) -> Result<bool, StoreError> {
        let Some(first) = attempted.first() else {
            return Ok(true);
        };
        let head = self
            .store
            .audit_head(&self.node)
            .await?
            .unwrap_or((0, GENESIS));
        if head.0 < first.seq {
            return Ok(false);
        }
        let len = u32::try_from(attempted.len()).unwrap_or(u32::MAX);
        let stored = self.store.audit_range(&self.node, first.seq, len).await?;
        Ok(stored.len() == attempted.len()
            && stored
                .iter()
                .zip(attempted)
                .all(|(s, a)| s.seq == a.seq && s.hash == a.hash))
    }

    fn committed(&mut self, batch: Vec<Queued>, positions: &[AuditPosition]) {
        // Counted before the callers hear of it: a caller that saw its commit sees the gauge too.
        let n = batch.len();
        if let Some(&last) = positions.last() {
            self.last_chained = Some(last);
        }
        let counters = &self.shared.counters;
        bump(&counters.committed, n as u64);
        bump(&counters.batches, 1);
        self.shared.retry_after_secs.store(1, Ordering::Relaxed);
        self.shared.release(n);
        for (queued, &position) in batch.into_iter().zip(positions) {
            let outcome = match queued.replayed {
                Some(by) => {
                    bump(&counters.replays, 1);
                    Err(AuditError::Replayed { by, position })
                }
                None => Ok(position),
            };
            if let Some(reply) = queued.reply {
                let _ = reply.send(outcome);
            }
        }
    }

    fn reject(&mut self, batch: Vec<Queued>, reason: &str) {
        let n = batch.len();
        bump(&self.shared.counters.rejected, n as u64);
        self.shared.release(n);
        for queued in batch {
            if let Some(reply) = queued.reply {
                let _ = reply.send(Err(AuditError::Rejected(reason.to_owned())));
            }
        }
    }

    /// Signs and stores (and anchors) a checkpoint of the head this task last chained, naming
    /// the other chains' heads the store has now. With `force` false, skipped when this task
    /// already signed that head. `Ok(None)` when it has chained nothing since it started.
    async fn write_checkpoint(&mut self, force: bool) -> Result<Option<Checkpoint>, AuditError> {
        let Some(settings) = &self.checkpoint else {
            return Err(AuditError::Checkpoint(
                "no checkpoint key configured".into(),
            ));
        };
        let Some(head) = self.last_chained else {
            return Ok(None);
        };
        if !force && self.last_checkpoint == Some(head.seq) {
            return Ok(None);
        }
        let witnessed = match self.store.audit_heads().await {
            Ok(heads) => heads.into_iter().filter(|h| h.chain != self.node).collect(),
            Err(e) => {
                bump(&self.shared.counters.checkpoint_failures, 1);
                tracing::warn!(error = %e, node = %self.node, "cannot read the audit chains' heads for a checkpoint");
                return Err(AuditError::Checkpoint(e.to_string()));
            }
        };
        let own = ChainHead {
            chain: self.node.clone(),
            seq: head.seq,
            hash: head.hash,
        };
        // The chain starts at seq 1 without gaps: `seq` entries up to the head.
        let checkpoint = sign_checkpoint(
            &settings.key,
            &own,
            head.seq,
            store::now(),
            &self.node,
            witnessed,
        );
        // Stored first: an anchored checkpoint the store lacks is what `audit verify` reports as
        // deleted, so only a stored one is anchored (a stored one the anchor lacks is reported
        // as not anchored, not as tampering).
        let written = match self.store.append_checkpoint(&checkpoint).await {
            Err(e) => Err(e.to_string()),
            Ok(()) => match &settings.anchor {
                Some(anchor) => anchor
                    .append_async(AnchorLine::of_checkpoint(&checkpoint))
                    .await
                    .map_err(|e| error_chain(&e)),
                None => Ok(()),
            },
        };
        match written {
            Ok(()) => {
                self.last_checkpoint = Some(checkpoint.seq);
                bump(&self.shared.counters.checkpoints, 1);
                Ok(Some(checkpoint))
            }
            Err(reason) => {
                bump(&self.shared.counters.checkpoint_failures, 1);
                tracing::warn!(error = %reason, node = %self.node, "cannot write an audit checkpoint");
                Err(AuditError::Checkpoint(reason))
            }
        }
    }
}

/// An error with its sources, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// After an attempt that wrote nothing: callers may take their entries back again, and those
/// that gave up meanwhile have theirs taken back now.
fn release_claims(batch: &[Queued]) {
    for queued in batch {
        let _ =
            queued
                .claim
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| match state {
                    ATTEMPTED => Some(PENDING),
                    GIVEN_UP => Some(ABANDONED),
                    _ => None,
                });
    }
}
