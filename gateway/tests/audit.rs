//! The audit trail against a real store, on both engines: a fresh SQLite file in a temporary
//! folder, and PostgreSQL in a schema of its own (`MIANZHENG_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`, as `store`'s own suite).
//!
//! Group commit under concurrency, two nodes each with a chain of its own and witnessing the
//! other's, tampering found at the right seq, signed and forged checkpoints, and a full backlog
//! that refuses instead of losing.

use std::time::Duration;

use gateway::audit::{
    verify_store, AuditError, AuditWriter, ChainHash, CheckpointSettings, Problem,
    VerifyStoreError, WriterSettings,
};
use store::{Spend, Store, StoreOptions};
use wire::keys::{Algorithm, SigningKey, TrustList, Validity};

use store::testing::Fixture;

mod common;
use common::{record, tamper_rows};

store::engine_suite!(
    concurrent_appends_are_committed_contiguous_and_distinct,
    two_nodes_keep_a_chain_each,
    a_chain_cut_with_its_own_checkpoints_is_found_by_another_nodes_witness,
    a_restarted_writer_continues_the_chain,
    an_edited_row_is_found_at_its_seq,
    a_deleted_row_is_found_at_its_seq,
    checkpoints_are_signed_verified_and_forgeries_found,
    two_writers_racing_with_one_code_commit_one_use_and_one_refusal,
    a_code_spent_before_a_restart_is_refused_after_it,
);

fn node_key(node: &str) -> SigningKey {
    SigningKey::generate(Algorithm::EdDsa, node, Validity::default()).expect("key")
}

fn settings() -> WriterSettings {
    WriterSettings {
        max_batch: 16,
        ..WriterSettings::default()
    }
}

/// `n` appends at once from as many tasks; their seqs, sorted.
async fn append_concurrently(writer: &AuditWriter, node: &str, n: usize) -> Vec<i64> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let writer = writer.clone();
            let record = record(node, i);
            tokio::spawn(async move { writer.append(record).await })
        })
        .collect();
    let mut seqs = Vec::with_capacity(n);
    for task in tasks {
        seqs.push(task.await.expect("task").expect("committed").seq);
    }
    seqs.sort_unstable();
    seqs
}

/// Raw SQL behind the store's back, as someone with database access would.
async fn tamper(store: &Store, sql: &str) {
    assert_eq!(tamper_rows(store, sql).await, 1, "{sql}");
}

async fn concurrent_appends_are_committed_contiguous_and_distinct(fx: Fixture) {
    let store = fx.open().await;
    let writer = AuditWriter::start(store.clone(), "node-a".into(), settings());
    let seqs = append_concurrently(&writer, "node-a", 300).await;
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
    let stored = store.audit_range("node-a", 1, 1000).await.expect("range");
    assert_eq!(stored.len(), 300);
    let stats = writer.stats();
    assert_eq!((stats.committed, stats.backlog), (300, 0));
    assert!(stats.batches <= 300);
    let report = verify_store(&store, &TrustList::default())
        .await
        .expect("intact");
    assert_eq!(report.entries(), 300);
    writer.shutdown().await;
    assert!(matches!(
        writer.append(record("node-a", 0)).await,
        Err(AuditError::Closed)
    ));
}

async fn two_nodes_keep_a_chain_each(fx: Fixture) {
    let a = AuditWriter::start(fx.open().await, "node-a".into(), settings());
    let b = AuditWriter::start(fx.open().await, "node-b".into(), settings());
    let (seqs_a, seqs_b) = tokio::join!(
        append_concurrently(&a, "node-a", 150),
        append_concurrently(&b, "node-b", 150)
    );
    let one_to = |n: i64| (1..=n).collect::<Vec<_>>();
    assert_eq!(
        (seqs_a, seqs_b),
        (one_to(150), one_to(150)),
        "each its own chain"
    );
    // Neither ever waited for or re-chained after the other.
    assert_eq!((a.stats().conflicts, b.stats().conflicts), (0, 0));
    assert_eq!(a.stats().committed + b.stats().committed, 300);
    let store = fx.open().await;
    assert_eq!(
        store.audit_chains().await.expect("chains"),
        vec!["node-a".to_owned(), "node-b".to_owned()]
    );
    for chain in ["node-a", "node-b"] {
        let entries = store.audit_range(chain, 1, 1000).await.expect("range");
        assert_eq!(entries.len(), 150);
        assert!(entries.iter().all(|e| e.node == chain && e.chain == chain));
    }
    let report = verify_store(&store, &TrustList::default())
        .await
        .expect("two intact chains");
    assert_eq!((report.chains.len(), report.entries()), (2, 300));
    a.shutdown().await;
    b.shutdown().await;
}

/// Node b's last entries are deleted together with every checkpoint node b signed: b's chain is
/// consistent on its own, and node a's checkpoint, which witnessed b's head, is what tells.
async fn a_chain_cut_with_its_own_checkpoints_is_found_by_another_nodes_witness(fx: Fixture) {
    let store = fx.open().await;
    let (key_a, key_b) = (node_key("node-a"), node_key("node-b"));
    let trust = TrustList::new([key_a.trusted(), key_b.trusted()]);
    let with_key = |key: SigningKey| WriterSettings {
        checkpoint: Some(CheckpointSettings {
            key,
            interval: Duration::from_secs(3600),
            anchor: None,
        }),
        ..settings()
    };
    let a = AuditWriter::start(fx.open().await, "node-a".into(), with_key(key_a));
    let b = AuditWriter::start(fx.open().await, "node-b".into(), with_key(key_b));
    append_concurrently(&b, "node-b", 8).await;
    b.checkpoint_now().await.expect("b's checkpoint");
    append_concurrently(&a, "node-a", 5).await;
    let witnessing = a
        .checkpoint_now()
        .await
        .expect("a's checkpoint")
        .expect("a head");
    assert_eq!(witnessing.witnessed.len(), 1, "{witnessing:?}");
    assert_eq!(
        (
            witnessing.witnessed[0].chain.as_str(),
            witnessing.witnessed[0].seq
        ),
        ("node-b", 8)
    );
    a.shutdown().await;
    b.shutdown().await;
    let report = verify_store(&store, &trust).await.expect("intact");
    assert_eq!(report.chain("node-b").map(|c| c.witnessed), Some(1));

    let cut = tamper_rows(
        &store,
        "DELETE FROM audit_entries WHERE chain = 'node-b' AND seq > 5",
    )
    .await;
    assert_eq!(cut, 3);
    tamper_rows(
        &store,
        "DELETE FROM audit_checkpoints WHERE chain = 'node-b'",
    )
    .await;
    let err = verify_store(&store, &trust).await.expect_err("cut");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (broken.chain.as_str(), broken.seq),
        ("node-b", 8),
        "{broken}"
    );
    assert!(
        matches!(
            *broken.problem,
            Problem::WitnessPastEnd { chain_end: 5, .. }
        ),
        "{broken}"
    );
}

async fn a_restarted_writer_continues_the_chain(fx: Fixture) {
    let store = fx.open().await;
    let first = AuditWriter::start(store.clone(), "node-a".into(), settings());
    append_concurrently(&first, "node-a", 3).await;
    first.shutdown().await;
    let second = AuditWriter::start(fx.open().await, "node-a".into(), settings());
    let position = second.append(record("node-a", 3)).await.expect("append");
    assert_eq!(position.seq, 4);
    second
        .append_nowait(record("node-a", 4), None)
        .expect("accepted");
    second.shutdown().await;
    let report = verify_store(&store, &TrustList::default())
        .await
        .expect("intact");
    assert_eq!(report.entries(), 5);
}

async fn an_edited_row_is_found_at_its_seq(fx: Fixture) {
    let store = fx.open().await;
    let writer = AuditWriter::start(store.clone(), "node-a".into(), settings());
    append_concurrently(&writer, "node-a", 10).await;
    writer.shutdown().await;
    tamper(
        &store,
        "UPDATE audit_entries SET verdict = 'fail' WHERE seq = 4",
    )
    .await;
    let err = verify_store(&store, &TrustList::default())
        .await
        .expect_err("edited");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert_eq!(broken.seq, 4, "{broken}");
    assert!(
        matches!(*broken.problem, Problem::Edited { .. }),
        "{broken}"
    );
}

async fn a_deleted_row_is_found_at_its_seq(fx: Fixture) {
    let store = fx.open().await;
    let key = node_key("node-a");
    let trust = TrustList::new([key.trusted()]);
    let writer = AuditWriter::start(
        store.clone(),
        "node-a".into(),
        WriterSettings {
            checkpoint: Some(CheckpointSettings {
                key,
                interval: Duration::from_secs(3600),
                anchor: None,
            }),
            ..settings()
        },
    );
    append_concurrently(&writer, "node-a", 10).await;
    writer.checkpoint_now().await.expect("checkpoint");
    writer.shutdown().await;

    // The last row: only the checkpoint shows it existed.
    tamper(&store, "DELETE FROM audit_entries WHERE seq = 10").await;
    let err = verify_store(&store, &trust).await.expect_err("tail cut");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert_eq!(broken.seq, 10, "{broken}");
    assert!(
        matches!(
            *broken.problem,
            Problem::CheckpointPastEnd { chain_end: 9, .. }
        ),
        "{broken}"
    );

    tamper(&store, "DELETE FROM audit_entries WHERE seq = 6").await;
    let err = verify_store(&store, &trust).await.expect_err("gap");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert_eq!(broken.seq, 6, "{broken}");
    assert_eq!(*broken.problem, Problem::Missing { found: 7 });
}

async fn checkpoints_are_signed_verified_and_forgeries_found(fx: Fixture) {
    let store = fx.open().await;
    let key = node_key("node-a");
    let trust = TrustList::new([key.trusted()]);
    let writer = AuditWriter::start(
        store.clone(),
        "node-a".into(),
        WriterSettings {
            checkpoint: Some(CheckpointSettings {
                key,
                interval: Duration::from_secs(3600),
                anchor: None,
            }),
            ..settings()
        },
    );
    append_concurrently(&writer, "node-a", 5).await;
    let checkpoint = writer
        .checkpoint_now()
        .await
        .expect("checkpoint")
        .expect("a head to sign");
    assert_eq!((checkpoint.seq, checkpoint.count), (5, 5));
    append_concurrently(&writer, "node-a", 2).await;
    // Shutdown signs the new head.
    writer.shutdown().await;
    let report = verify_store(&store, &trust).await.expect("intact");
    assert_eq!((report.entries(), report.checkpoints()), (7, 2));

    // Without the node's key the checkpoints cannot be trusted.
    let err = verify_store(&store, &TrustList::default())
        .await
        .expect_err("unknown key");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(*broken.problem, Problem::CheckpointSignature { .. }),
        "{broken}"
    );

    // A forged checkpoint: a valid one edited to vouch for a longer chain.
    let mut forged = checkpoint;
    forged.seq = 6;
    forged.count = 6;
    store.append_checkpoint(&forged).await.expect("stored");
    let err = verify_store(&store, &trust).await.expect_err("forged");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert_eq!(broken.seq, 6, "{broken}");
    assert!(
        matches!(*broken.problem, Problem::CheckpointSignature { .. }),
        "{broken}"
    );
}

/// The store's writes block (another connection holds SQLite's write lock): accepted entries
/// wait, one more is refused at once, and after the lock goes every accepted entry is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_refuses_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}/mianzheng.db?mode=rwc", dir.path().display());
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(20),
        ..StoreOptions::default()
    };
    let holder = Store::open_with(&url, &options).await.expect("open");
    let store = Store::open_with(&url, &options).await.expect("open");
    let Store::Sqlite(pool) = &holder else {
        panic!("a sqlite url opens sqlite")
    };
    let lock = pool.begin_with("BEGIN IMMEDIATE").await.expect("lock");

    let writer = AuditWriter::start(
        store.clone(),
        "node-a".into(),
        WriterSettings {
            max_batch: 2,
            max_delay: Duration::ZERO,
            backlog: 4,
            checkpoint: None,
            hash: ChainHash::Sha256,
        },
    );
    let accepted: Vec<_> = (0..4)
        .map(|i| {
            writer
                .try_enqueue(record("node-a", i), None)
                .expect("accepted")
        })
        .collect();
    assert_eq!(writer.backlog(), 4);
    let refused = writer.append(record("node-a", 4)).await;
    let Err(AuditError::Backlogged { retry_after_secs }) = refused else {
        panic!("{refused:?}")
    };
    assert!(retry_after_secs >= 1);
    assert!(matches!(
        writer.append_nowait(record("node-a", 5), None),
        Err(AuditError::Backlogged { .. })
    ));
    assert_eq!(writer.stats().backlogged, 2);

    lock.rollback().await.expect("unlock");
    let mut seqs = Vec::new();
    for receipt in accepted {
        seqs.push(receipt.committed().await.expect("committed").seq);
    }
    assert_eq!(seqs, vec![1, 2, 3, 4], "in the order accepted");
    assert_eq!(writer.backlog(), 0);
    writer
        .append(record("node-a", 6))
        .await
        .expect("accepts again");
    writer.shutdown().await;
    let report = verify_store(&store, &TrustList::default())
        .await
        .expect("intact");
    assert_eq!(report.entries(), 5);
}

fn code(n: u8) -> Spend {
    Spend {
        bucket: 60_000_000,
        nonce: [n; 16],
    }
}

/// Two nodes' writers each get an entry spending the same code, at once, 20 times over: each
/// time exactly one commits it as the use and the other commits a refusal naming the first.
async fn two_writers_racing_with_one_code_commit_one_use_and_one_refusal(fx: Fixture) {
    let a = AuditWriter::start(fx.open().await, "node-a".into(), settings());
    let b = AuditWriter::start(fx.open().await, "node-b".into(), settings());
    // Where each refusal landed: (the loser's chain, its seq there).
    let mut refused_at = Vec::new();
    for round in 0..20u8 {
        let ra = a
            .try_enqueue(record("node-a", round.into()), Some(code(round)))
            .expect("accepted");
        let rb = b
            .try_enqueue(record("node-b", round.into()), Some(code(round)))
            .expect("accepted");
        let (ra, rb) = tokio::join!(ra.committed(), rb.committed());
        let (winner, loser) = match (ra, rb) {
            (Ok(w), Err(l)) => (("node-a", w), l),
            (Err(l), Ok(w)) => (("node-b", w), l),
            other => panic!("round {round}: exactly one use passes: {other:?}"),
        };
        let AuditError::Replayed { by, position } = loser else {
            panic!("round {round}: the loser is told of the replay: {loser:?}")
        };
        assert_eq!(
            by.node, winner.0,
            "round {round}: the refusal names the first use"
        );
        let loser_chain = if winner.0 == "node-a" {
            "node-b"
        } else {
            "node-a"
        };
        refused_at.push((loser_chain, position.seq));
    }
    a.shutdown().await;
    b.shutdown().await;
    let store = fx.open().await;
    let mut chain = store.audit_range("node-a", 1, 100).await.expect("chain");
    chain.extend(store.audit_range("node-b", 1, 100).await.expect("chain"));
    assert_eq!(
        chain.len(),
        40,
        "every use and every refusal is in the chain"
    );
    let refusals = chain
        .iter()
        .filter(|e| e.verdict == gateway::audit::REPLAYED)
        .count();
    assert_eq!(refusals, 20);
    // The position a loser was told is its refusal's entry, in its own node's chain.
    for (chain, seq) in refused_at {
        let at = store.audit_range(chain, seq, 1).await.expect("entry");
        assert_eq!(at.len(), 1, "{chain} seq {seq}");
        assert_eq!(at[0].verdict, gateway::audit::REPLAYED, "{chain} seq {seq}");
    }
    for refusal in chain
        .iter()
        .filter(|e| e.verdict == gateway::audit::REPLAYED)
    {
        assert!(
            refusal.requirement_verdicts.is_empty(),
            "the venue was told no verdict"
        );
    }
    verify_store(&store, &TrustList::default())
        .await
        .expect("one intact chain");
}

async fn a_code_spent_before_a_restart_is_refused_after_it(fx: Fixture) {
    let first = AuditWriter::start(fx.open().await, "node-a".into(), settings());
    first
        .try_enqueue(record("node-a", 1), Some(code(1)))
        .expect("accepted")
        .committed()
        .await
        .expect("the first use");
    first.shutdown().await;
    let second = AuditWriter::start(fx.open().await, "node-a".into(), settings());
    let again = second
        .try_enqueue(record("node-a", 2), Some(code(1)))
        .expect("accepted")
        .committed()
        .await;
    assert!(
        matches!(&again, Err(AuditError::Replayed { by, .. }) if by.node == "node-a"),
        "{again:?}"
    );
    second
        .try_enqueue(record("node-a", 3), Some(code(2)))
        .expect("accepted")
        .committed()
        .await
        .expect("another code passes");
    second.shutdown().await;
}

/// The store refuses writes (another connection holds SQLite's write lock) for longer than the
/// caller waits: the caller is told so and takes its entry back; once the store writes again,
/// that entry is never committed and its code is not spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_given_up_on_is_never_committed() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}/mianzheng.db?mode=rwc", dir.path().display());
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(20),
        ..StoreOptions::default()
    };
    let holder = Store::open_with(&url, &options).await.expect("open");
    let store = Store::open_with(&url, &options).await.expect("open");
    let Store::Sqlite(pool) = &holder else {
        panic!("a sqlite url opens sqlite")
    };
    let lock = pool.begin_with("BEGIN IMMEDIATE").await.expect("lock");
    let writer = AuditWriter::start(store.clone(), "node-a".into(), settings());
    let given_up = writer
        .try_enqueue(record("node-a", 1), Some(code(7)))
        .expect("accepted")
        .committed_within(Duration::from_millis(300))
        .await;
    assert!(
        matches!(given_up, Err(AuditError::TimedOut { retry_after_secs }) if retry_after_secs >= 1),
        "{given_up:?}"
    );
    lock.rollback().await.expect("unlock");
    // The retry of the same code passes, and the chain holds it once.
    let retry = record("node-a", 2);
    let retry_id = retry.verification_id.clone();
    let position = writer
        .try_enqueue(retry, Some(code(7)))
        .expect("accepted")
        .committed_within(Duration::from_secs(30))
        .await
        .expect("the retry is the code's first use");
    assert_eq!(position.seq, 1, "the entry given up on was never committed");
    writer.shutdown().await;
    assert_eq!(writer.stats().abandoned, 1);
    let chain = store.audit_range("node-a", 1, 10).await.expect("chain");
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].verification_id, retry_id);
}
