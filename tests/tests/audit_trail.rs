//! Every verification leaves a hash-chained audit entry: the answer carries its place in the
//! chain, the entries are committed before the answer, and `gateway audit verify` finds the
//! chain intact after the gateway has stopped.

use gateway::audit::chain::entry_hash;
use gateway::audit::checkpoint::NODE_TRUST_FILE;
use gateway::audit::ChainHash;
use gateway::commands::audit::{verify, NodeArgs, Verified, VerifyArgs};
use testkit::{Holder, TestGateway};
use wire::api::Verdict;

/// The gateway's admin listener's `/metrics`, as text.
async fn admin_metrics(gw: &TestGateway) -> String {
    let req = http::Request::builder()
        .uri(format!(
            "http://{}/metrics",
            gw.gateway.admin_addr.expect("an admin listener")
        ))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("a request");
    let reply = testkit::send(&gw.client, req).await;
    assert_eq!(reply.status, http::StatusCode::OK);
    reply.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_is_committed_to_the_chain_and_the_chain_verifies() {
    let gw = TestGateway::start().await;
    let senior = Holder::passing("park-entry-senior");
    let mut seqs = Vec::new();
    let mut chains = std::collections::BTreeSet::new();
    for _ in 0..5 {
        let answer = gw.verify_holder(&senior, "park-entry-senior").await;
        assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
        seqs.push(answer.audit_seq.expect("the answer names its audit entry"));
        chains.insert(
            answer
                .audit_chain
                .expect("the answer names its audit chain"),
        );
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5], "one entry per answer, in order");
    let node = gw.gateway.service.audit.node.clone();
    assert_eq!(
        chains.into_iter().collect::<Vec<_>>(),
        vec![node.clone()],
        "the node's own chain"
    );

    // Committed before the answer: readable now, with the holder only as a keyed hash.
    let store = gw.gateway.service.registry.store().clone();
    let entries = store.audit_range(&node, 1, 10).await.expect("read the log");
    assert_eq!(entries.len(), 5);
    assert!(entries
        .iter()
        .all(|e| e.scenario == "park-entry-senior" && e.verdict == "pass"));
    assert_eq!(
        entries[0].subject_hash,
        gw.gateway.service.subjects.hash(&senior.handle)
    );
    assert!(entries.iter().all(|e| e.venue == "jinan-baotu-spring-park"));

    // The writer's counters on the admin listener's `/metrics`.
    let metrics = admin_metrics(&gw).await;
    let sample = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no sample {name} in:\n{metrics}"))
    };
    assert_eq!(sample("mz_audit_entries_committed_total"), 5);
    assert!((1..=5).contains(&sample("mz_audit_batches_committed_total")));
    assert_eq!(sample("mz_audit_chain_conflicts_total"), 0);
    assert_eq!(sample("mz_audit_backlog"), 0);

    let data_dir = gw.data_dir().to_path_buf();
    let _kept = gw.stop().await;
    let mut out = Vec::new();
    let args = VerifyArgs {
        node: NodeArgs {
            config: None,
            store: None,
            data_dir: Some(data_dir),
        },
        anchor: vec![],
        node_keys: vec![],
        uncovered_after: None,
    };
    let verdict = verify(&args, &mut out).await.expect("the check runs");
    let report = String::from_utf8(out).expect("utf-8");
    assert_eq!(verdict, Verified::Intact, "{report}");
    assert!(report.contains("5 entries checked"), "{report}");
    assert!(report.contains("checkpoints verified"), "{report}");
}

store::engine_suite!(
    one_nodes_settings_verify_two_nodes_checkpoints,
    an_sm3_chain_verifies_and_keeps_its_hash
);

/// Two gateways on one store (each its own data folder and key, one shared subject-hash
/// secret, both anchoring to one shipped file): node A's settings verify both nodes'
/// checkpoints, and a node restarted with a key of another folder is refused.
async fn one_nodes_settings_verify_two_nodes_checkpoints(fx: store::testing::Fixture) {
    let shared = tempfile::tempdir().expect("a shared folder");
    let subject_key = shared.path().join("subject-key");
    let anchor = shared.path().join("audit-anchor.jsonl");
    let on_store = |node: &'static str| {
        let (url, subject_key, anchor) = (fx.url.clone(), subject_key.clone(), anchor.clone());
        move |c: &mut gateway::config::GatewayConfig| {
            c.store.url = Some(url);
            c.audit.node = Some(node.to_owned());
            c.audit.subject_key_file = Some(subject_key);
            c.audit.anchor_file = Some(anchor);
        }
    };
    let a = TestGateway::start_with(on_store("node-a")).await;
    let b = TestGateway::start_with(on_store("node-b")).await;
    let senior = Holder::passing("park-entry-senior");
    for gw in [&a, &b, &a] {
        let answer = gw.verify_holder(&senior, "park-entry-senior").await;
        assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    }
    let a_data = a.data_dir().to_path_buf();
    let _kept_a = a.stop().await;
    let _kept_b = b.stop().await;

    let args = VerifyArgs {
        node: NodeArgs {
            config: None,
            store: Some(fx.url.clone()),
            data_dir: Some(a_data),
        },
        anchor: vec![anchor.clone()],
        node_keys: vec![],
        uncovered_after: None,
    };
    let mut out = Vec::new();
    let verdict = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(verify(&args, &mut out))
    })
    .expect("the check runs");
    let report = String::from_utf8(out).expect("utf-8");
    assert_eq!(verdict, Verified::Intact, "{report}");
    assert!(
        report.contains("2 chains, 3 entries, 2 checkpoints verified"),
        "{report}"
    );

    // Node a again, from a fresh data folder: its registered key is not there, and no new one
    // is made.
    let data = tempfile::tempdir().expect("a data folder");
    let mut config = testkit::test_config(data.path());
    on_store("node-a")(&mut config);
    let error = gateway::app::start(config)
        .await
        .expect_err("a node without its key is refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("rotate-node-key --node node-a"),
        "{message}"
    );
}

/// `audit.hash = "sm3"`: the chain is hashed with SM3, `gateway audit verify` walks it with the
/// hash the store records, and a node configured with SHA-256 on that store is refused.
async fn an_sm3_chain_verifies_and_keeps_its_hash(fx: store::testing::Fixture) {
    let shared = tempfile::tempdir().expect("a shared folder");
    let subject_key = shared.path().join("subject-key");
    let on_store = |node: &'static str, hash: ChainHash| {
        let (url, subject_key) = (fx.url.clone(), subject_key.clone());
        move |c: &mut gateway::config::GatewayConfig| {
            c.store.url = Some(url);
            c.audit.node = Some(node.to_owned());
            c.audit.subject_key_file = Some(subject_key);
            c.audit.hash = hash;
        }
    };
    let gw = TestGateway::start_with(on_store("sm3-a", ChainHash::Sm3)).await;
    let senior = Holder::passing("park-entry-senior");
    for _ in 0..3 {
        let answer = gw.verify_holder(&senior, "park-entry-senior").await;
        assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    }
    let store = gw.gateway.service.registry.store().clone();
    let entries = store
        .audit_range("sm3-a", 1, 10)
        .await
        .expect("read the log");
    assert_eq!(entries.len(), 3);
    for entry in &entries {
        assert_eq!(
            entry.hash,
            entry_hash(entry, ChainHash::Sm3),
            "seq {}",
            entry.seq
        );
        assert_ne!(entry.hash, entry_hash(entry, ChainHash::Sha256));
    }
    let data = gw.data_dir().to_path_buf();
    let _kept = gw.stop().await;
    // Its checkpoints are signed with SM2, whose signatures hash with SM3.
    let node_key = std::fs::read_to_string(data.join(NODE_TRUST_FILE)).expect("the public key");
    assert!(node_key.contains("\"SM2\""), "{node_key}");

    let args = VerifyArgs {
        node: NodeArgs {
            config: None,
            store: Some(fx.url.clone()),
            data_dir: Some(data),
        },
        anchor: vec![],
        node_keys: vec![],
        uncovered_after: None,
    };
    let mut out = Vec::new();
    let verdict = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(verify(&args, &mut out))
    })
    .expect("the check runs");
    let report = String::from_utf8(out).expect("utf-8");
    assert_eq!(verdict, Verified::Intact, "{report}");
    assert!(report.contains("3 entries checked"), "{report}");
    assert!(report.contains("sm3 head"), "{report}");
    assert!(!report.contains(" 0 checkpoints verified"), "{report}");

    // A node configured with the other hash would fork the chain: refused, naming the setting.
    let other = tempfile::tempdir().expect("a data folder");
    let mut config = testkit::test_config(other.path());
    on_store("sm3-b", ChainHash::Sha256)(&mut config);
    let error = gateway::app::start(config)
        .await
        .expect_err("a node with another chain hash is refused");
    let message = format!("{error:#}");
    assert!(message.contains("audit.hash = \"sm3\""), "{message}");
}
