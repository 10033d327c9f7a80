//! The store's behaviour, written once and run against both engines: a fresh SQLite file in a
//! temporary folder, and PostgreSQL in a schema of its own (created for the test, dropped after).
//!
//! PostgreSQL comes from `MIANZHENG_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test` (the machine's local server, as CI has it). Point the
//! tests at another server with, e.g.
//! `MIANZHENG_TEST_DATABASE_URL=postgres://me:pw@db.example:5432/scratch cargo test -p store`;
//! the user needs the right to create schemas in that database. When no server answers, the
//! PostgreSQL tests fail (they do not skip) and say so.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use store::{
    AuditEntry, AuditRecord, Channel, Checkpoint, FiledBy, Objection, ObjectionCount,
    ObjectionFilter, Received, Status, Store, StoreError, StoreOptions, TransitionError, VenueRow,
};

use store::testing::Fixture;

store::engine_suite!(
    migrations_are_idempotent_on_reopen,
    venues_upsert_lookup_rotate_disable,
    venue_keys_are_unique,
    audit_appends_contiguous_batches,
    audit_refuses_gaps_duplicates_and_forks,
    audit_concurrent_writers_cannot_fork,
    audit_first_writers_race_on_an_empty_log,
    audit_chains_of_two_nodes_side_by_side,
    holder_accesses_across_chains,
    audit_large_batch_in_one_commit,
    audit_checkpoints_in_order,
    holder_accesses_newest_first_paged,
    subject_indexers_on_two_connections_copy_each_entry_once,
    objections_create_get_and_list_filters,
    objection_transitions_keep_history,
    illegal_and_stale_transitions_are_refused,
    claim_next_takes_the_oldest_deadline_of_its_department,
    claim_next_concurrent_claimers_never_share,
    committed_rows_survive_reopen,
    notes_counts_and_the_subject_handle,
    venues_insert_refuses_taken_ids,
    venues_insert_if_absent_leaves_a_registered_venue_as_it_is,
    recent_audit_newest_first,
    notifications_reach_subscribers,
);

// ---------------------------------------------------------------------------------------------
// Test data

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + seconds, 0).expect("valid time")
}

fn key(n: u8) -> [u8; 32] {
    [n; 32]
}

fn venue(id: &str, key_byte: u8) -> VenueRow {
    VenueRow {
        id: id.to_owned(),
        name: format!("场所 {id}"),
        city: 370100,
        scenarios: vec!["park-entry-senior".into(), "hotel-check-in".into()],
        rate_per_sec: 200,
        key_hash: key(key_byte),
        disabled: false,
        client_certificate: false,
        service_window: false,
        updated_at: t(0),
    }
}

/// A made-up chain hash: the store only compares hashes, it never computes them.
fn h(seq: i64) -> [u8; 32] {
    let mut hash = [0xab; 32];
    hash[..8].copy_from_slice(&seq.to_be_bytes());
    hash
}

fn entry(seq: i64, subject: u8, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        chain: "node-a".into(),
        seq,
        record: AuditRecord {
            at,
            node: "node-a".into(),
            venue: "jinan-baotu-spring-park".into(),
            scenario: "park-entry-senior".into(),
            certificates: vec!["resident-id".into(), "senior-card".into()],
            verdict: "pass".into(),
            requirement_verdicts: vec![
                ("age>=60".into(), "pass".into()),
                ("valid-today".into(), "pass".into()),
            ],
            latency_us: 1234 + seq,
            subject_hash: [subject; 32],
            verification_id: format!("vf-{seq:06}"),
            means: Default::default(),
            presented_by: None,
        },
        prev_hash: h(seq - 1),
        hash: h(seq),
    }
}

fn entries(seqs: std::ops::RangeInclusive<i64>) -> Vec<AuditEntry> {
    seqs.map(|seq| entry(seq, 1, t(seq))).collect()
}

fn objection(id: &str, department: &str, deadline: DateTime<Utc>) -> Objection {
    Objection {
        id: id.to_owned(),
        created_at: t(0),
        channel: Channel::App,
        filed_by: FiledBy::Holder,
        filer: hex::encode([7u8; 32]),
        verification_id: Some("vf-000001".into()),
        certificate: "resident-id".into(),
        department: department.to_owned(),
        subject_hash: [7; 32],
        subject: Some("p-000007".into()),
        description: "地址已变更，核验结果仍为旧地址".into(),
        status: Status::Open,
        assignee: None,
        deadline,
        updated_at: t(0),
    }
}

fn ids(objections: &[Objection]) -> Vec<&str> {
    objections.iter().map(|o| o.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// The tests

async fn migrations_are_idempotent_on_reopen(fx: Fixture) {
    let store = fx.open().await;
    store.upsert_venue(&venue("v1", 1)).await.expect("upsert");
    store.close().await;
    for _ in 0..2 {
        let store = fx.open().await;
        assert_eq!(store.list_venues().await.expect("list").len(), 1);
        let applied: i64 = match &store {
            Store::Sqlite(pool) => sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
                .fetch_one(pool)
                .await
                .expect("count migrations"),
            Store::Postgres(pool) => sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
                .fetch_one(pool)
                .await
                .expect("count migrations"),
        };
        // One per file of the engine's folder (both folders hold the same versions).
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .expect("the migrations folder")
            .count();
        assert_eq!(applied as usize, files, "each migration is applied once");
        store.close().await;
    }
}

async fn venues_upsert_lookup_rotate_disable(fx: Fixture) {
    let store = fx.open().await;
    let park = venue("jinan-park", 1);
    store.upsert_venue(&park).await.expect("insert");
    store
        .upsert_venue(&venue("qingdao-hotel", 2))
        .await
        .expect("insert");

    assert_eq!(
        store.venue_by_key_hash(&key(1)).await.expect("get"),
        Some(park.clone())
    );
    assert_eq!(store.venue_by_key_hash(&key(9)).await.expect("get"), None);
    assert_eq!(
        store.venue("jinan-park").await.expect("get"),
        Some(park.clone())
    );

    // Upsert replaces every field.
    let renamed = VenueRow {
        name: "趵突泉公园东门".into(),
        scenarios: vec!["transit-senior-free-ride".into()],
        rate_per_sec: 50,
        client_certificate: true,
        service_window: true,
        updated_at: t(10),
        ..park.clone()
    };
    store.upsert_venue(&renamed).await.expect("update");
    assert_eq!(
        store.venue_by_key_hash(&key(1)).await.expect("get"),
        Some(renamed.clone())
    );
    let all = store.list_venues().await.expect("list");
    assert_eq!(
        all.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        ["jinan-park", "qingdao-hotel"]
    );

    // Rotation: the old key no longer finds the venue, the new one does.
    store
        .rotate_venue_key("jinan-park", &key(3))
        .await
        .expect("rotate");
    assert_eq!(store.venue_by_key_hash(&key(1)).await.expect("get"), None);
    let rotated = store
        .venue_by_key_hash(&key(3))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(rotated.id, "jinan-park");
    assert!(rotated.updated_at > renamed.updated_at);

    store
        .set_venue_disabled("jinan-park", true)
        .await
        .expect("disable");
    assert!(
        store
            .venue("jinan-park")
            .await
            .expect("get")
            .expect("found")
            .disabled
    );
    store
        .set_venue_disabled("jinan-park", false)
        .await
        .expect("enable");
    assert!(
        !store
            .venue("jinan-park")
            .await
            .expect("get")
            .expect("found")
            .disabled
    );

    let bound = |row: Option<VenueRow>| row.expect("found").client_certificate;
    store
        .set_venue_client_certificate("jinan-park", false)
        .await
        .expect("unbind");
    assert!(!bound(store.venue("jinan-park").await.expect("get")));
    store
        .set_venue_client_certificate("jinan-park", true)
        .await
        .expect("bind");
    assert!(bound(store.venue("jinan-park").await.expect("get")));

    for result in [
        store.rotate_venue_key("nobody", &key(4)).await,
        store.set_venue_disabled("nobody", true).await,
        store.set_venue_client_certificate("nobody", true).await,
    ] {
        assert!(
            matches!(result, Err(StoreError::NotFound { what: "venue", ref id }) if id == "nobody"),
            "{result:?}"
        );
    }
}

async fn venue_keys_are_unique(fx: Fixture) {
    let store = fx.open().await;
    store.upsert_venue(&venue("a", 1)).await.expect("insert");
    store.upsert_venue(&venue("b", 2)).await.expect("insert");
    let err = store
        .upsert_venue(&venue("c", 1))
        .await
        .expect_err("same key");
    assert!(err.is_conflict(), "{err:?}");
    let err = store
        .rotate_venue_key("b", &key(1))
        .await
        .expect_err("same key");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(
        store
            .venue_by_key_hash(&key(1))
            .await
            .expect("get")
            .expect("a")
            .id,
        "a"
    );
}

async fn audit_appends_contiguous_batches(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(store.audit_head("node-a").await.expect("head"), None);
    store
        .append_audit(&[])
        .await
        .expect("an empty batch is nothing");

    store
        .append_audit(&entries(1..=3))
        .await
        .expect("first batch");
    assert_eq!(
        store.audit_head("node-a").await.expect("head"),
        Some((3, h(3)))
    );
    store
        .append_audit(&entries(4..=5))
        .await
        .expect("second batch");
    assert_eq!(
        store.audit_head("node-a").await.expect("head"),
        Some((5, h(5)))
    );

    // Entries read back exactly as given.
    assert_eq!(
        store.audit_range("node-a", 1, 100).await.expect("range"),
        entries(1..=5)
    );
    let middle = store.audit_range("node-a", 2, 2).await.expect("range");
    assert_eq!(middle.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(store
        .audit_range("node-a", 6, 10)
        .await
        .expect("range")
        .is_empty());

    let found = store.audit_by_verification("vf-000004").await.expect("get");
    assert_eq!(found, Some(entry(4, 1, t(4))));
    assert_eq!(
        store.audit_by_verification("vf-none").await.expect("get"),
        None
    );
}

async fn audit_refuses_gaps_duplicates_and_forks(fx: Fixture) {
    let store = fx.open().await;
    store
        .append_audit(&entries(1..=5))
        .await
        .expect("first batch");

    let gap = store.append_audit(&entries(7..=8)).await.expect_err("gap");
    assert!(gap.is_conflict(), "{gap:?}");
    assert!(gap.to_string().contains("stored head is seq 5"), "{gap}");

    let duplicate = store
        .append_audit(&entries(5..=6))
        .await
        .expect_err("duplicate");
    assert!(duplicate.is_conflict(), "{duplicate:?}");

    let mut fork = entries(6..=6);
    fork[0].prev_hash = [0xee; 32];
    let fork = store
        .append_audit(&fork)
        .await
        .expect_err("prev_hash not the head");
    assert!(fork.is_conflict(), "{fork:?}");

    let mut holed = entries(6..=8);
    holed.remove(1);
    let holed = store
        .append_audit(&holed)
        .await
        .expect_err("gap inside the batch");
    assert!(matches!(holed, StoreError::Invalid(_)), "{holed:?}");

    let mut fine = entries(6..=6);
    fine[0].at += TimeDelta::nanoseconds(1);
    let fine = store.append_audit(&fine).await.expect_err("nanoseconds");
    assert!(matches!(fine, StoreError::Invalid(_)), "{fine:?}");

    // Nothing of the refused batches was written; the chain goes on where it was.
    assert_eq!(
        store.audit_head("node-a").await.expect("head"),
        Some((5, h(5)))
    );
    assert_eq!(
        store
            .audit_range("node-a", 1, 100)
            .await
            .expect("range")
            .len(),
        5
    );
    store.append_audit(&entries(6..=7)).await.expect("continue");
    assert_eq!(
        store.audit_head("node-a").await.expect("head"),
        Some((7, h(7)))
    );
}

async fn audit_concurrent_writers_cannot_fork(fx: Fixture) {
    let store = fx.open().await;
    store
        .append_audit(&entries(1..=2))
        .await
        .expect("first batch");
    // Two writers both believe the head is 2 and append their own entry 3 (and more).
    let writers: Vec<_> = (0..2u8)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut batch: Vec<AuditEntry> =
                    (3..=5).map(|seq| entry(seq, 10 + writer, t(seq))).collect();
                for e in &mut batch {
                    e.node = format!("node-{writer}");
                }
                store.append_audit(&batch).await
            })
        })
        .collect();
    let mut won = 0;
    for writer in writers {
        match writer.await.expect("writer task") {
            Ok(()) => won += 1,
            Err(e) => assert!(e.is_conflict(), "the loser sees a conflict: {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one writer extends the chain");
    let chain = store.audit_range("node-a", 1, 100).await.expect("range");
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let nodes: std::collections::HashSet<&str> =
        chain[2..].iter().map(|e| e.node.as_str()).collect();
    assert_eq!(nodes.len(), 1, "entries 3..=5 come from one writer");
}

async fn audit_first_writers_race_on_an_empty_log(fx: Fixture) {
    let store = fx.open().await;
    // An empty chain starts at seq 1: a writer cannot start it anywhere else.
    let late = store
        .append_audit(&entries(10..=12))
        .await
        .expect_err("an empty chain starts at 1");
    assert!(late.is_conflict(), "{late:?}");
    // Two writers start the same chain at once, each with entries of its own; only one may.
    let writers: Vec<_> = [1u8, 10]
        .into_iter()
        .map(|subject| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch: Vec<AuditEntry> =
                    (1..=3).map(|seq| entry(seq, subject, t(seq))).collect();
                store.append_audit(&batch).await
            })
        })
        .collect();
    let mut won = 0;
    for writer in writers {
        match writer.await.expect("writer task") {
            Ok(()) => won += 1,
            Err(e) => assert!(e.is_conflict(), "the loser sees a conflict: {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one chain is stored");
    let chain = store.audit_range("node-a", 1, 100).await.expect("range");
    assert_eq!(chain.len(), 3);
    let subjects: std::collections::HashSet<u8> = chain.iter().map(|e| e.subject_hash[0]).collect();
    assert_eq!(subjects.len(), 1, "all three from one writer");
}

/// Two nodes' chains side by side: each continues its own head, neither sees the other's seqs
/// as a conflict, and the log lists both.
async fn audit_chains_of_two_nodes_side_by_side(fx: Fixture) {
    let store = fx.open().await;
    let of = |chain: &str, seqs: std::ops::RangeInclusive<i64>| {
        let mut batch = entries(seqs);
        for e in &mut batch {
            e.chain = chain.into();
            e.node = chain.into();
            e.verification_id = format!("{chain}-{}", e.seq);
        }
        batch
    };
    assert!(store.audit_chains().await.expect("chains").is_empty());
    store.append_audit(&of("node-a", 1..=3)).await.expect("a");
    store.append_audit(&of("node-b", 1..=2)).await.expect("b");
    store
        .append_audit(&of("node-a", 4..=4))
        .await
        .expect("a again");
    let duplicate = store
        .append_audit(&of("node-b", 2..=3))
        .await
        .expect_err("b's head is 2");
    assert!(duplicate.is_conflict(), "{duplicate:?}");
    assert_eq!(
        store.audit_chains().await.expect("chains"),
        ["node-a", "node-b"]
    );
    let heads = store.audit_heads().await.expect("heads");
    let heads: Vec<(&str, i64)> = heads.iter().map(|h| (h.chain.as_str(), h.seq)).collect();
    assert_eq!(heads, [("node-a", 4), ("node-b", 2)]);
    assert_eq!(
        store.audit_range("node-b", 1, 10).await.expect("range"),
        of("node-b", 1..=2)
    );
    // A batch that mixes chains is refused whole.
    let mut mixed = of("node-a", 5..=6);
    mixed[1].chain = "node-b".into();
    let err = store.append_audit(&mixed).await.expect_err("mixed");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // The newest entries of the log, over both chains, newest first.
    let recent = store.recent_audit(3).await.expect("recent");
    let recent: Vec<(&str, i64)> = recent.iter().map(|e| (e.chain.as_str(), e.seq)).collect();
    assert_eq!(recent, [("node-a", 4), ("node-a", 3), ("node-b", 2)]);
}

async fn audit_large_batch_in_one_commit(fx: Fixture) {
    let store = fx.open().await;
    // More rows than one INSERT statement takes.
    let batch = entries(1..=2500);
    store.append_audit(&batch).await.expect("large batch");
    assert_eq!(
        store.audit_head("node-a").await.expect("head"),
        Some((2500, h(2500)))
    );
    let mut read = Vec::new();
    let mut from = 1;
    loop {
        let page = store.audit_range("node-a", from, 700).await.expect("range");
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        read.extend(page);
    }
    assert_eq!(read, batch);
}

async fn audit_checkpoints_in_order(fx: Fixture) {
    let store = fx.open().await;
    assert!(store.checkpoints().await.expect("list").is_empty());
    let checkpoint = |seq: i64, at: i64| Checkpoint {
        chain: "node-a".into(),
        seq,
        head_hash: h(seq),
        count: seq,
        at: t(at),
        node: "node-a".into(),
        kid: "node-a-2026".into(),
        signature: vec![seq as u8; 64],
        // The other chains' heads the node saw, read back as written.
        witnessed: (1..=(seq % 3))
            .map(|i| store::ChainHead {
                chain: format!("node-{i}"),
                seq: seq + i,
                hash: h(seq + i),
            })
            .collect(),
    };
    // Written out of seq order (two nodes), read back by seq.
    store
        .append_checkpoint(&checkpoint(10, 60))
        .await
        .expect("append");
    store
        .append_checkpoint(&checkpoint(25, 120))
        .await
        .expect("append");
    store
        .append_checkpoint(&checkpoint(20, 90))
        .await
        .expect("append");
    // The head did not move since the last checkpoint: a second one at the same seq is kept.
    store
        .append_checkpoint(&checkpoint(25, 180))
        .await
        .expect("append");
    let all = store.checkpoints().await.expect("list");
    assert_eq!(
        all,
        [
            checkpoint(10, 60),
            checkpoint(20, 90),
            checkpoint(25, 120),
            checkpoint(25, 180)
        ]
    );

    let mut fine = checkpoint(30, 240);
    fine.at += TimeDelta::microseconds(1) + TimeDelta::nanoseconds(500);
    let err = store
        .append_checkpoint(&fine)
        .await
        .expect_err("sub-microsecond time");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

async fn holder_accesses_newest_first_paged(fx: Fixture) {
    let store = fx.open().await;
    // Holder 1 at seqs 1, 3, 4, 6, 7; holder 2 in between. Entries 6 and 7 share a time (two
    // venues in the same microsecond); entry 4 has an earlier time than entry 3 (another node's
    // clock): newest first is by time, then seq.
    let times = [
        (1, 1, 10),
        (2, 2, 20),
        (3, 1, 30),
        (4, 1, 25),
        (5, 2, 40),
        (6, 1, 50),
        (7, 1, 50),
    ];
    let batch: Vec<AuditEntry> = times
        .iter()
        .map(|&(seq, subject, at)| entry(seq, subject, t(at)))
        .collect();
    store.append_audit(&batch).await.expect("append");

    // The same answers whether none, some or all of the entries are in the side table: the
    // pages cross the boundary between the side table and the log's tail.
    check_holder_pages(&store).await;
    assert_eq!(store.index_subjects(4).await.expect("index 4"), 4);
    check_holder_pages(&store).await;
    assert_eq!(store.index_subjects(100).await.expect("index the rest"), 3);
    assert_eq!(store.index_subjects(100).await.expect("up to date"), 0);
    check_holder_pages(&store).await;
}

/// One holder's entries in two nodes' chains, two of them in the same microsecond: newest first
/// by time, then chain, then seq, page by page across the side table and both chains' tails.
async fn holder_accesses_across_chains(fx: Fixture) {
    let store = fx.open().await;
    let of = |chain: &str, seq: i64, at: i64| {
        let mut e = entry(seq, 1, t(at));
        e.chain = chain.into();
        e.node = chain.into();
        e
    };
    store
        .append_audit(&[of("node-a", 1, 10), of("node-a", 2, 30)])
        .await
        .expect("a");
    store
        .append_audit(&[of("node-b", 1, 20), of("node-b", 2, 30)])
        .await
        .expect("b");
    let expected = [("node-b", 2), ("node-a", 2), ("node-b", 1), ("node-a", 1)];
    for indexed in [0, 1, 100] {
        store.index_subjects(indexed).await.expect("index");
        let mut seen = Vec::new();
        let mut before: Option<(DateTime<Utc>, String, i64)> = None;
        loop {
            let cursor = before
                .as_ref()
                .map(|(at, chain, seq)| (*at, chain.as_str(), *seq));
            let page = store
                .holder_accesses(&[1; 32], cursor, 1)
                .await
                .expect("page");
            let Some(last) = page.last() else { break };
            before = Some((last.at, last.chain.clone(), last.seq));
            seen.extend(page.iter().map(|e| (e.chain.clone(), e.seq)));
        }
        let seen: Vec<(&str, i64)> = seen.iter().map(|(c, s)| (c.as_str(), *s)).collect();
        assert_eq!(seen, expected, "after indexing {indexed} more");
    }
}

async fn check_holder_pages(store: &Store) {
    let seqs = |page: &[AuditEntry]| page.iter().map(|e| e.seq).collect::<Vec<_>>();
    let holder = [1u8; 32];
    let first = store
        .holder_accesses(&holder, None, 2)
        .await
        .expect("page 1");
    assert_eq!(seqs(&first), [7, 6]);
    let cursor = first.last().map(|e| (e.at, e.chain.as_str(), e.seq));
    let second = store
        .holder_accesses(&holder, cursor, 2)
        .await
        .expect("page 2");
    assert_eq!(seqs(&second), [3, 4]);
    let cursor = second.last().map(|e| (e.at, e.chain.as_str(), e.seq));
    let third = store
        .holder_accesses(&holder, cursor, 2)
        .await
        .expect("page 3");
    assert_eq!(seqs(&third), [1]);
    let cursor = third.last().map(|e| (e.at, e.chain.as_str(), e.seq));
    assert!(store
        .holder_accesses(&holder, cursor, 2)
        .await
        .expect("end")
        .is_empty());
    assert_eq!(
        seqs(&store.holder_accesses(&holder, None, 10).await.expect("all")),
        [7, 6, 3, 4, 1]
    );

    let other = store
        .holder_accesses(&[2u8; 32], None, 10)
        .await
        .expect("holder 2");
    assert_eq!(seqs(&other), [5, 2]);
    assert!(store
        .holder_accesses(&[9u8; 32], None, 10)
        .await
        .expect("nobody")
        .is_empty());
}

async fn subject_indexers_on_two_connections_copy_each_entry_once(fx: Fixture) {
    let first = fx.open().await;
    let second = fx.open().await;
    let batch: Vec<AuditEntry> = (1..=300)
        .map(|seq| entry(seq, (seq % 3) as u8, t(seq)))
        .collect();
    first.append_audit(&batch).await.expect("append");
    let run = |store: Store| async move {
        let mut copied = 0;
        loop {
            match store.index_subjects(7).await.expect("index") {
                0 => return copied,
                n => copied += n,
            }
        }
    };
    let (a, b) = tokio::join!(run(first.clone()), run(second.clone()));
    assert_eq!(a + b, 300, "each entry copied by one of the two");
    for subject in 0..3u8 {
        let all = second
            .holder_accesses(&[subject; 32], None, 1000)
            .await
            .expect("accesses");
        let expected: Vec<i64> = (1..=300)
            .rev()
            .filter(|s| s % 3 == i64::from(subject))
            .collect();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
    }
}

async fn objections_create_get_and_list_filters(fx: Fixture) {
    let store = fx.open().await;
    let now = t(1000);
    let mut filed = vec![
        objection("obj-01", "public-security", t(900)), // overdue
        objection("obj-02", "public-security", t(2000)),
        objection("obj-03", "civil-affairs", t(500)), // overdue
        objection("obj-04", "civil-affairs", t(3000)),
        objection("obj-05", "public-security", t(100)), // overdue, but resolved below
    ];
    filed[1].channel = Channel::Hotline;
    filed[1].filed_by = FiledBy::Venue;
    filed[1].filer = "qingdao-harbour-hotel".into();
    filed[1].verification_id = None;
    filed[1].created_at = t(5) + TimeDelta::nanoseconds(123_456_789);
    for o in &filed {
        store.create_objection(o).await.expect("create");
    }
    // Times are kept to the microsecond.
    filed[1].created_at = store::micros(filed[1].created_at);

    let duplicate = store
        .create_objection(&filed[0])
        .await
        .expect_err("same id");
    assert!(duplicate.is_conflict(), "{duplicate:?}");
    let mut not_open = objection("obj-99", "civil-affairs", t(1));
    not_open.status = Status::InReview;
    let err = store
        .create_objection(&not_open)
        .await
        .expect_err("must start open");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    let (got, history) = store
        .objection("obj-02")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got, filed[1]);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from_status, None);
    assert_eq!(history[0].to_status, Status::Open);
    assert_eq!(history[0].actor, "qingdao-harbour-hotel");
    assert_eq!(store.objection("obj-none").await.expect("get"), None);

    store
        .transition(
            "obj-05",
            &[Status::Open],
            Status::InReview,
            "op-1",
            "",
            None,
        )
        .await
        .expect("review");
    store
        .transition(
            "obj-05",
            &[Status::InReview],
            Status::ResolvedUpheld,
            "op-1",
            "ok",
            None,
        )
        .await
        .expect("resolve");

    let list = |filter: ObjectionFilter| {
        let store = store.clone();
        async move { store.list_objections(&filter).await.expect("list") }
    };
    let all = list(ObjectionFilter::default()).await;
    assert_eq!(
        ids(&all),
        ["obj-01", "obj-02", "obj-03", "obj-04", "obj-05"]
    );
    let police = list(ObjectionFilter {
        department: Some("public-security".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&police), ["obj-01", "obj-02", "obj-05"]);
    let open_police = list(ObjectionFilter {
        department: Some("public-security".into()),
        status: Some(Status::Open),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&open_police), ["obj-01", "obj-02"]);
    let overdue = list(ObjectionFilter {
        overdue_at: Some(now),
        ..Default::default()
    })
    .await;
    assert_eq!(
        ids(&overdue),
        ["obj-01", "obj-03"],
        "a resolved one is not overdue"
    );
    let overdue_civil = list(ObjectionFilter {
        department: Some("civil-affairs".into()),
        overdue_at: Some(now),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&overdue_civil), ["obj-03"]);
    let queue = list(ObjectionFilter {
        open_only: true,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&queue), ["obj-01", "obj-02", "obj-03", "obj-04"]);

    // Paging by id.
    let page1 = list(ObjectionFilter {
        limit: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&page1), ["obj-01", "obj-02"]);
    let page2 = list(ObjectionFilter {
        limit: 2,
        after_id: page1.last().map(|o| o.id.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&page2), ["obj-03", "obj-04"]);
}

async fn objection_transitions_keep_history(fx: Fixture) {
    let store = fx.open().await;
    store
        .create_objection(&objection("obj-1", "public-security", t(100)))
        .await
        .expect("create");

    let assigned = store
        .transition(
            "obj-1",
            &[Status::Open],
            Status::InReview,
            "lead",
            "to Li",
            Some("op-li"),
        )
        .await
        .expect("assign");
    assert_eq!(assigned.status, Status::InReview);
    assert_eq!(assigned.assignee.as_deref(), Some("op-li"));
    assert!(assigned.updated_at > t(0));

    // A note keeps the status and the assignee.
    let noted = store
        .transition(
            "obj-1",
            &[Status::InReview],
            Status::InReview,
            "op-li",
            "called the bureau",
            None,
        )
        .await
        .expect("note");
    assert_eq!(noted.assignee.as_deref(), Some("op-li"));

    let resolved = store
        .transition(
            "obj-1",
            &[Status::InReview],
            Status::ResolvedCorrected,
            "op-li",
            "address corrected in the record",
            None,
        )
        .await
        .expect("resolve");
    assert_eq!(resolved.status, Status::ResolvedCorrected);

    let (stored, history) = store.objection("obj-1").await.expect("get").expect("found");
    assert_eq!(stored, resolved);
    let steps: Vec<(Option<Status>, Status, &str, &str)> = history
        .iter()
        .map(|e| {
            (
                e.from_status,
                e.to_status,
                e.actor.as_str(),
                e.note.as_str(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (None, Status::Open, hex::encode([7u8; 32]).as_str(), "filed"),
            (Some(Status::Open), Status::InReview, "lead", "to Li"),
            (
                Some(Status::InReview),
                Status::InReview,
                "op-li",
                "called the bureau"
            ),
            (
                Some(Status::InReview),
                Status::ResolvedCorrected,
                "op-li",
                "address corrected in the record"
            ),
        ]
    );
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(history.iter().all(|e| e.objection_id == "obj-1"));
}

async fn illegal_and_stale_transitions_are_refused(fx: Fixture) {
    let store = fx.open().await;
    store
        .create_objection(&objection("obj-1", "public-security", t(100)))
        .await
        .expect("create");

    // Straight from open to resolved skips the review.
    let err = store
        .transition(
            "obj-1",
            &[Status::Open],
            Status::ResolvedCorrected,
            "op",
            "",
            None,
        )
        .await
        .expect_err("illegal");
    assert!(
        matches!(
            err,
            TransitionError::Illegal {
                from: Status::Open,
                to: Status::ResolvedCorrected,
                ..
            }
        ),
        "{err:?}"
    );

    // The caller thought it was in review; it is open.
    let err = store
        .transition(
            "obj-1",
            &[Status::InReview],
            Status::ResolvedUpheld,
            "op",
            "",
            None,
        )
        .await
        .expect_err("stale");
    assert!(
        matches!(
            err,
            TransitionError::Stale {
                current: Status::Open,
                ..
            }
        ),
        "{err:?}"
    );

    let err = store
        .transition(
            "obj-none",
            &[Status::Open],
            Status::InReview,
            "op",
            "",
            None,
        )
        .await
        .expect_err("missing");
    assert!(
        matches!(err, TransitionError::NotFound(ref id) if id == "obj-none"),
        "{err:?}"
    );

    // Closed is closed.
    store
        .transition(
            "obj-1",
            &[Status::Open],
            Status::Rejected,
            "op",
            "duplicate of obj-0",
            None,
        )
        .await
        .expect("reject");
    let err = store
        .transition("obj-1", &[Status::Rejected], Status::Open, "op", "", None)
        .await
        .expect_err("reopen");
    assert!(matches!(err, TransitionError::Illegal { .. }), "{err:?}");

    // Refusals leave no trace.
    let (stored, history) = store.objection("obj-1").await.expect("get").expect("found");
    assert_eq!(stored.status, Status::Rejected);
    assert_eq!(history.len(), 2, "{history:?}");
}

async fn claim_next_takes_the_oldest_deadline_of_its_department(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(
        store
            .claim_next("public-security", "op")
            .await
            .expect("claim"),
        None
    );
    store
        .create_objection(&objection("obj-a", "public-security", t(300)))
        .await
        .expect("create");
    store
        .create_objection(&objection("obj-b", "public-security", t(100)))
        .await
        .expect("create");
    store
        .create_objection(&objection("obj-c", "civil-affairs", t(50)))
        .await
        .expect("create");
    store
        .create_objection(&objection("obj-d", "public-security", t(200)))
        .await
        .expect("create");

    let mut claimed = Vec::new();
    while let Some(o) = store
        .claim_next("public-security", "op-wang")
        .await
        .expect("claim")
    {
        assert_eq!(o.status, Status::InReview);
        assert_eq!(o.assignee.as_deref(), Some("op-wang"));
        claimed.push(o.id);
    }
    assert_eq!(claimed, ["obj-b", "obj-d", "obj-a"]);
    let (civil, history) = store.objection("obj-c").await.expect("get").expect("found");
    assert_eq!(
        civil.status,
        Status::Open,
        "another department's queue is untouched"
    );
    assert_eq!(history.len(), 1);
    let (_, history) = store.objection("obj-b").await.expect("get").expect("found");
    assert_eq!(
        history.last().map(|e| (e.to_status, e.actor.as_str())),
        Some((Status::InReview, "op-wang"))
    );
}

async fn claim_next_concurrent_claimers_never_share(fx: Fixture) {
    let store = fx.open().await;
    for i in 0..5 {
        store
            .create_objection(&objection(
                &format!("obj-{i}"),
                "public-security",
                t(100 + i),
            ))
            .await
            .expect("create");
    }
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let claimers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let operator = format!("op-{i}");
                let claimed = store.claim_next("public-security", &operator).await;
                (operator, claimed)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    let mut empty_handed = 0;
    for claimer in claimers {
        let (operator, result) = claimer.await.expect("claimer task");
        match result.expect("claim") {
            Some(o) => {
                assert_eq!(o.assignee.as_deref(), Some(operator.as_str()));
                claimed.push(o.id);
            }
            None => empty_handed += 1,
        }
    }
    claimed.sort();
    assert_eq!(
        claimed,
        ["obj-0", "obj-1", "obj-2", "obj-3", "obj-4"],
        "each claimed once"
    );
    assert_eq!(empty_handed, 3);
    for i in 0..5 {
        let (o, history) = store
            .objection(&format!("obj-{i}"))
            .await
            .expect("get")
            .expect("found");
        assert_eq!(o.status, Status::InReview);
        let claims = history
            .iter()
            .filter(|e| e.to_status == Status::InReview)
            .count();
        assert_eq!(claims, 1, "{history:?}");
        assert_eq!(
            history.last().map(|e| e.actor.as_str()),
            o.assignee.as_deref()
        );
    }
}

async fn committed_rows_survive_reopen(fx: Fixture) {
    {
        let store = fx.open().await;
        store.upsert_venue(&venue("v1", 1)).await.expect("venue");
        store.append_audit(&entries(1..=3)).await.expect("audit");
        store
            .create_objection(&objection("obj-1", "public-security", t(100)))
            .await
            .expect("objection");
        // Dropped without `close`: on SQLite the rows are in the WAL only, not yet in the main
        // file, as after a crash.
        drop(store);
    }
    let store = fx.open().await;
    assert_eq!(store.venue("v1").await.expect("get"), Some(venue("v1", 1)));
    assert_eq!(
        store.audit_range("node-a", 1, 10).await.expect("range"),
        entries(1..=3)
    );
    assert!(store.objection("obj-1").await.expect("get").is_some());
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// One engine only

#[tokio::test]
async fn sqlite_lock_held_past_the_busy_timeout_is_unavailable() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}/mianzheng.db?mode=rwc", dir.path().display());
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(100),
        ..StoreOptions::default()
    };
    let holder = Store::open_with(&url, &options).await.expect("open");
    let writer = Store::open_with(&url, &options).await.expect("open");
    let Store::Sqlite(pool) = &holder else {
        panic!("a sqlite url opens sqlite")
    };
    // Another process holds the write lock.
    let lock = pool.begin_with("BEGIN IMMEDIATE").await.expect("lock");
    let err = writer
        .append_audit(&entries(1..=1))
        .await
        .expect_err("locked");
    assert!(err.is_unavailable(), "{err:?}");
    lock.rollback().await.expect("unlock");
    writer
        .append_audit(&entries(1..=1))
        .await
        .expect("recovers by itself");
}

#[tokio::test]
async fn open_sqlite_in_creates_the_folder_and_file() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().join("data").join("node-a");
    let store = Store::open_sqlite_in(&data).await.expect("open");
    assert_eq!(store.engine(), "sqlite");
    store.ping().await.expect("ping");
    store.close().await;
    assert!(data.join(store::SQLITE_FILE).is_file());
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let options = StoreOptions {
        acquire_timeout: Duration::from_millis(500),
        ..StoreOptions::default()
    };
    // Port 1 on loopback: nothing listens there.
    let err = Store::open_with("postgres://postgres@127.0.0.1:1/test", &options)
        .await
        .expect_err("nothing listens");
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn unknown_urls_are_refused() {
    let err = Store::open("mysql://root@localhost/mz")
        .await
        .expect_err("not ours");
    assert!(matches!(err, StoreError::BadUrl { .. }), "{err:?}");
    assert!(!err.is_unavailable());
    let err = Store::open("postgres://app:s3cret@[bad/mz")
        .await
        .expect_err("bad url");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

async fn notes_counts_and_the_subject_handle(fx: Fixture) {
    let store = fx.open().await;
    let mut anonymous = objection("obj-a", "health", t(100));
    anonymous.subject = None;
    store.create_objection(&anonymous).await.expect("create");
    store
        .create_objection(&objection("obj-b", "health", t(5000)))
        .await
        .expect("create");
    store
        .create_objection(&objection("obj-c", "transport", t(100)))
        .await
        .expect("create");
    store
        .transition(
            "obj-c",
            &[Status::Open],
            Status::Rejected,
            "op",
            "duplicate",
            None,
        )
        .await
        .expect("reject");

    // The handle is kept when given, absent when not.
    let (b, _) = store
        .objection("obj-b")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(b.subject.as_deref(), Some("p-000007"));
    let (a, _) = store
        .objection("obj-a")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(a.subject, None);

    // A note on a closed objection is history, not a transition.
    store
        .append_note("obj-c", "gateway", "cache dropped")
        .await
        .expect("note");
    let (c, history) = store
        .objection("obj-c")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(c.status, Status::Rejected);
    let last = history.last().expect("events");
    assert_eq!(
        (
            last.actor.as_str(),
            last.from_status,
            last.to_status,
            last.note.as_str()
        ),
        (
            "gateway",
            Some(Status::Rejected),
            Status::Rejected,
            "cache dropped"
        )
    );
    let missing = store
        .append_note("obj-zz", "op", "x")
        .await
        .expect_err("unknown");
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );

    let counts = store.objection_counts(t(1000)).await.expect("counts");
    let row = |department: &str, status, count, overdue| ObjectionCount {
        department: department.into(),
        status,
        count,
        overdue,
    };
    assert_eq!(
        counts,
        vec![
            row("health", Status::Open, 2, 1),
            row("transport", Status::Rejected, 1, 0),
        ],
        "obj-a is overdue at t(1000); a rejected one never is"
    );
}

async fn venues_insert_refuses_taken_ids(fx: Fixture) {
    let store = fx.open().await;
    store.insert_venue(&venue("v1", 1)).await.expect("insert");
    let same_id = store
        .insert_venue(&venue("v1", 2))
        .await
        .expect_err("id taken");
    assert!(same_id.is_conflict(), "{same_id:?}");
    let same_key = store
        .insert_venue(&venue("v2", 1))
        .await
        .expect_err("key taken");
    assert!(same_key.is_conflict(), "{same_key:?}");
    assert_eq!(store.list_venues().await.expect("list").len(), 1);
}

async fn venues_insert_if_absent_leaves_a_registered_venue_as_it_is(fx: Fixture) {
    let store = fx.open().await;
    assert!(store
        .insert_venue_if_absent(&venue("v1", 1))
        .await
        .expect("insert"));
    // The operator rotates the key and disables the venue; seeding runs again.
    store.rotate_venue_key("v1", &key(7)).await.expect("rotate");
    store.set_venue_disabled("v1", true).await.expect("disable");
    let before = store.venue("v1").await.expect("get").expect("known");
    assert!(!store
        .insert_venue_if_absent(&venue("v1", 1))
        .await
        .expect("seed again"));
    assert_eq!(store.venue("v1").await.expect("get"), Some(before));
    assert_eq!(store.venue_by_key_hash(&key(1)).await.expect("get"), None);
    // Another venue holding a registered key is still a conflict, not a silent skip.
    let same_key = store
        .insert_venue_if_absent(&venue("v2", 7))
        .await
        .expect_err("key taken");
    assert!(same_key.is_conflict(), "{same_key:?}");
    assert_eq!(store.list_venues().await.expect("list").len(), 1);
}

async fn recent_audit_newest_first(fx: Fixture) {
    let store = fx.open().await;
    store.append_audit(&entries(1..=5)).await.expect("append");
    let recent = store.recent_audit(3).await.expect("recent");
    let seqs: Vec<i64> = recent.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![5, 4, 3]);
}

async fn notifications_reach_subscribers(fx: Fixture) {
    let store = fx.open().await;
    let subscription = store.subscribe("mz_test").await.expect("subscribe");
    match (&store, subscription) {
        (Store::Sqlite(_), subscription) => {
            // One node: nothing to subscribe to, and sending is a no-op.
            assert!(subscription.is_none());
            store.notify("mz_test", "hello").await.expect("no-op");
        }
        (Store::Postgres(_), Some(mut subscription)) => {
            store.notify("mz_test", "hello").await.expect("notify");
            let got = tokio::time::timeout(Duration::from_secs(10), subscription.next())
                .await
                .expect("delivered in time");
            assert_eq!(got, Received::Message("hello".into()));
        }
        (Store::Postgres(_), None) => panic!("PostgreSQL subscribes"),
    }
}
