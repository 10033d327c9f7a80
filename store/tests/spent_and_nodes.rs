//! Spent codes, node leases and deployment settings, on both engines (see `suite.rs` for where
//! PostgreSQL comes from).

use chrono::{DateTime, TimeDelta, Utc};
use store::testing::Fixture;
use store::{Appended, AuditEntry, AuditRecord, NodeLease, Spend, SpentBy};

store::engine_suite!(
    a_code_is_spent_once,
    an_append_spending_a_spent_code_writes_nothing,
    a_code_twice_in_one_batch_loses_the_second_time,
    spent_codes_survive_reopen,
    pruning_removes_only_expired_buckets,
    concurrent_appends_spend_a_code_once,
    a_live_name_is_refused_to_another_instance,
    a_lapsed_or_released_name_can_be_taken,
    the_first_setting_wins,
);

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + seconds, 0).expect("valid time")
}

fn spend(bucket: i64, n: u8) -> Spend {
    Spend {
        bucket,
        nonce: [n; 16],
    }
}

fn h(seq: i64) -> [u8; 32] {
    let mut hash = [0xcd; 32];
    hash[..8].copy_from_slice(&seq.to_be_bytes());
    hash
}

/// Entry `seq` of node `node`'s chain.
fn entry(seq: i64, node: &str) -> AuditEntry {
    AuditEntry {
        chain: node.into(),
        seq,
        record: AuditRecord {
            at: t(seq),
            node: node.into(),
            venue: "venue".into(),
            scenario: "park-entry-senior".into(),
            certificates: vec!["senior-citizen-card".into()],
            verdict: "pass".into(),
            requirement_verdicts: vec![("senior-citizen-card".into(), "pass".into())],
            latency_us: 1,
            subject_hash: [1; 32],
            verification_id: format!("v-{seq}"),
            means: Default::default(),
            presented_by: None,
        },
        prev_hash: h(seq - 1),
        hash: h(seq),
    }
}

fn chain(seqs: std::ops::RangeInclusive<i64>, node: &str) -> Vec<AuditEntry> {
    seqs.map(|seq| entry(seq, node)).collect()
}

async fn a_code_is_spent_once(fx: Fixture) {
    let store = fx.open().await;
    let code = spend(100, 1);
    assert_eq!(
        store
            .spend_code(&code, "node-a", t(0))
            .await
            .expect("spend"),
        None
    );
    assert_eq!(
        store
            .spend_code(&code, "node-b", t(5))
            .await
            .expect("again"),
        Some(SpentBy {
            node: "node-a".into(),
            at: t(0)
        }),
        "the second use is told who spent the code first, and when"
    );
    // Another nonce, or the same nonce in another bucket (another code), is not spent.
    assert_eq!(
        store
            .spend_code(&spend(100, 2), "node-b", t(6))
            .await
            .expect("spend"),
        None
    );
    assert_eq!(
        store
            .spend_code(&spend(101, 1), "node-b", t(6))
            .await
            .expect("spend"),
        None
    );
    assert_eq!(
        store.spent_code(&code).await.expect("look up"),
        Some(SpentBy {
            node: "node-a".into(),
            at: t(0)
        })
    );
}

async fn an_append_spending_a_spent_code_writes_nothing(fx: Fixture) {
    let store = fx.open().await;
    store
        .spend_code(&spend(7, 2), "node-b", t(0))
        .await
        .expect("spent on another node");
    let batch = chain(1..=3, "node-a");
    let spends = [(0, spend(7, 1)), (1, spend(7, 2)), (2, spend(7, 3))];
    let outcome = store
        .append_audit_spending(&batch, &spends)
        .await
        .expect("append");
    assert_eq!(
        outcome,
        Appended::AlreadySpent(vec![(
            1,
            SpentBy {
                node: "node-b".into(),
                at: t(0)
            }
        )])
    );
    assert!(
        store.audit_head("node-a").await.expect("head").is_none(),
        "no entry written"
    );
    assert_eq!(
        store.spent_code(&spend(7, 1)).await.expect("look up"),
        None,
        "no code spent"
    );
    // The caller drops the loser's spend (its entry becomes a refusal) and appends again.
    let outcome = store
        .append_audit_spending(&batch, &[(0, spend(7, 1)), (2, spend(7, 3))])
        .await
        .expect("append again");
    assert_eq!(outcome, Appended::Committed);
    assert_eq!(
        store
            .audit_head("node-a")
            .await
            .expect("head")
            .map(|(seq, _)| seq),
        Some(3)
    );
    let first = store.spent_code(&spend(7, 1)).await.expect("look up");
    assert_eq!(
        first,
        Some(SpentBy {
            node: "node-a".into(),
            at: t(1)
        }),
        "the spent code takes its entry's node and time"
    );
}

async fn a_code_twice_in_one_batch_loses_the_second_time(fx: Fixture) {
    let store = fx.open().await;
    let batch = chain(1..=2, "node-a");
    let outcome = store
        .append_audit_spending(&batch, &[(0, spend(9, 1)), (1, spend(9, 1))])
        .await
        .expect("append");
    assert_eq!(
        outcome,
        Appended::AlreadySpent(vec![(
            1,
            SpentBy {
                node: "node-a".into(),
                at: t(1)
            }
        )])
    );
    assert!(store.audit_head("node-a").await.expect("head").is_none());
}

async fn spent_codes_survive_reopen(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(
        store
            .append_audit_spending(&chain(1..=1, "node-a"), &[(0, spend(3, 3))])
            .await
            .expect("append"),
        Appended::Committed
    );
    store.close().await;
    let store = fx.open().await;
    assert!(
        store
            .spend_code(&spend(3, 3), "node-a", t(9))
            .await
            .expect("spend after reopen")
            .is_some(),
        "a code spent before a restart stays spent"
    );
}

async fn pruning_removes_only_expired_buckets(fx: Fixture) {
    let store = fx.open().await;
    for bucket in 10..15 {
        for n in 0..3 {
            store
                .spend_code(&spend(bucket, n), "node-a", t(bucket))
                .await
                .expect("spend");
        }
    }
    assert_eq!(
        store.prune_spent(13, 2).await.expect("prune"),
        9,
        "buckets 10, 11, 12, two rows a statement"
    );
    for n in 0..3 {
        for bucket in 10..13 {
            assert_eq!(
                store.spent_code(&spend(bucket, n)).await.expect("look"),
                None
            );
        }
        for bucket in 13..15 {
            assert!(
                store
                    .spent_code(&spend(bucket, n))
                    .await
                    .expect("look")
                    .is_some(),
                "bucket {bucket} still holds codes within their validity"
            );
        }
    }
    assert_eq!(store.prune_spent(13, 2).await.expect("prune again"), 0);
}

/// Two writers (as two nodes) append batches that spend the same codes at once: every code is
/// spent by exactly one of them.
async fn concurrent_appends_spend_a_code_once(fx: Fixture) {
    let a = fx.open().await;
    let b = fx.open().await;
    let mut won = [0usize; 2];
    for round in 0..20u8 {
        let tasks: Vec<_> = [(&a, "node-a"), (&b, "node-b")]
            .into_iter()
            .map(|(store, node)| {
                let store = store.clone();
                let node = node.to_owned();
                tokio::spawn(async move {
                    // Each retries until its entry is in the chain, as the writer does.
                    loop {
                        let (seq, prev) = store
                            .audit_head(&node)
                            .await
                            .expect("head")
                            .unwrap_or((0, [0; 32]));
                        let mut e = entry(seq + 1, &node);
                        e.prev_hash = prev;
                        e.hash = [round; 32];
                        e.hash[..8].copy_from_slice(&(seq + 1).to_be_bytes());
                        e.hash[8] = u8::from(node == "node-b");
                        match store
                            .append_audit_spending(&[e], &[(0, spend(50, round))])
                            .await
                        {
                            Ok(Appended::Committed) => return true,
                            Ok(Appended::AlreadySpent(_)) => return false,
                            Err(err) if err.is_conflict() || err.is_unavailable() => {
                                tokio::task::yield_now().await;
                            }
                            Err(err) => panic!("append: {err:?}"),
                        }
                    }
                })
            })
            .collect();
        let mut winners = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            if task.await.expect("task") {
                winners += 1;
                won[i] += 1;
            }
        }
        assert_eq!(
            winners, 1,
            "round {round}: exactly one writer spends the code"
        );
    }
    assert_eq!(won[0] + won[1], 20);
}

fn lease(name: &str, instance: &str, at: DateTime<Utc>) -> NodeLease {
    NodeLease {
        name: name.into(),
        instance: instance.into(),
        started_at: at,
        expires_at: at + TimeDelta::seconds(15),
    }
}

async fn a_live_name_is_refused_to_another_instance(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(
        store
            .claim_node(&lease("gw-1", "key-a", t(0)))
            .await
            .expect("claim"),
        Ok(())
    );
    let refused = store
        .claim_node(&lease("gw-1", "key-b", t(5)))
        .await
        .expect("claim")
        .expect_err("the name is held");
    assert_eq!(refused.instance, "key-a");
    assert_eq!(refused.expires_at, t(15));
    // The same instance (restarted after a crash) takes it back at once.
    assert_eq!(
        store
            .claim_node(&lease("gw-1", "key-a", t(6)))
            .await
            .expect("claim"),
        Ok(())
    );
    assert_eq!(
        store
            .claim_node(&lease("gw-2", "key-b", t(6)))
            .await
            .expect("claim"),
        Ok(())
    );
    let live = store.live_nodes(t(10)).await.expect("live");
    assert_eq!(
        live.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["gw-1", "gw-2"]
    );
    assert!(store
        .renew_node("gw-2", "key-b", t(40))
        .await
        .expect("renew"));
    assert!(
        !store
            .renew_node("gw-2", "key-a", t(40))
            .await
            .expect("renew"),
        "not its lease"
    );
    let live = store.live_nodes(t(30)).await.expect("live");
    assert_eq!(live.len(), 1, "gw-1 lapsed at 21 s, gw-2 renewed to 40 s");
}

async fn a_lapsed_or_released_name_can_be_taken(fx: Fixture) {
    let store = fx.open().await;
    store
        .claim_node(&lease("gw-1", "key-a", t(0)))
        .await
        .expect("claim")
        .expect("free");
    // Lapsed at 15 s.
    assert_eq!(
        store
            .claim_node(&lease("gw-1", "key-b", t(16)))
            .await
            .expect("claim"),
        Ok(())
    );
    store
        .release_node("gw-1", "key-a")
        .await
        .expect("a release by the old holder does nothing");
    assert!(store
        .claim_node(&lease("gw-1", "key-c", t(17)))
        .await
        .expect("claim")
        .is_err());
    store.release_node("gw-1", "key-b").await.expect("release");
    assert_eq!(
        store
            .claim_node(&lease("gw-1", "key-c", t(18)))
            .await
            .expect("claim"),
        Ok(())
    );
}

async fn the_first_setting_wins(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(
        store.agree_setting("fingerprint", "aa").await.expect("set"),
        "aa"
    );
    assert_eq!(
        store
            .agree_setting("fingerprint", "bb")
            .await
            .expect("read"),
        "aa"
    );
    assert_eq!(store.agree_setting("other", "bb").await.expect("set"), "bb");
}
