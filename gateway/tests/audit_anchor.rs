//! The anchored audit trail, on both engines (SQLite in a temporary folder, PostgreSQL in a
//! schema of its own): node keys pinned in the store and the anchor, checkpoints over the head a
//! node chained itself, the anchor as the copy the database's operator cannot rewrite, and
//! `gateway audit verify` failing on no checkpoints, uncovered entries and untrusted keys — and
//! verifying every node's checkpoints from one node's configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::TimeDelta;
use gateway::audit::chain::{chain_all, entry_hash};
use gateway::audit::checkpoint::{registration, NodeKeyError, NODE_KEY_FILE, NODE_TRUST_FILE};
use gateway::audit::ChainHash;
use gateway::audit::{
    audit_store, load_or_create_node_key, pin_node_key, rotate_node_key, sign_checkpoint, Anchor,
    AnchorSink, AuditRecord, AuditWriter, CheckpointSettings, Finding, Problem, VerifyPolicy,
    VerifyStoreError, WriterSettings,
};
use gateway::commands::audit::{verify, NodeArgs, Verified, VerifyArgs};
use store::testing::Fixture;
use store::{ChainHead, Store};
use wire::keys::{Algorithm, SigningKey, TrustList, Validity};

mod common;
use common::{record, tamper_rows};

store::engine_suite!(
    zero_checkpoints_fail_verification,
    old_uncovered_entries_fail_but_idle_and_stopped_nodes_do_not,
    a_node_signs_only_the_head_it_chained,
    one_nodes_configuration_verifies_both_nodes,
    a_regenerated_node_key_is_refused_and_a_rotated_one_verifies,
    the_anchor_catches_rewritten_and_deleted_checkpoints,
);

/// A node as the gateway starts one: its key pinned in `dir`, its anchor at `anchor`, its
/// writer checkpointing (on demand and at shutdown: the interval is long).
async fn start_node(store: &Store, dir: &Path, name: &str, anchor: &Path) -> AuditWriter {
    let sink = AnchorSink::open(anchor).expect("anchor");
    let key = pin_node_key(store, dir, name, Algorithm::EdDsa, &sink)
        .await
        .expect("the node's key");
    AuditWriter::start(
        store.clone(),
        name.into(),
        WriterSettings {
            checkpoint: Some(CheckpointSettings {
                key,
                interval: Duration::from_secs(3600),
                anchor: Some(sink),
            }),
            ..WriterSettings::default()
        },
    )
}

async fn append(writer: &AuditWriter, node: &str, n: usize) -> Vec<gateway::audit::AuditPosition> {
    let mut positions = Vec::new();
    for i in 0..n {
        positions.push(writer.append(record(node, i)).await.expect("committed"));
    }
    positions
}

/// Appends entries to chain `chain` as someone with database access would: chained onto the
/// stored head, no node involved.
async fn append_behind_the_nodes_back(store: &Store, chain: &str, n: usize) {
    let records: Vec<AuditRecord> = (0..n).map(|i| record("intruder", i)).collect();
    store
        .append_audit_chaining(
            chain,
            |head| {
                chain_all(
                    &records,
                    chain,
                    head.unwrap_or((0, [0; 32])),
                    ChainHash::Sha256,
                )
            },
            &[],
        )
        .await
        .expect("appended");
}

/// The stored head of chain `chain`.
async fn head_of(store: &Store, chain: &str) -> ChainHead {
    let (seq, hash) = store
        .audit_head(chain)
        .await
        .expect("head")
        .expect("entries");
    ChainHead {
        chain: chain.to_owned(),
        seq,
        hash,
    }
}

fn policy(anchor: Option<&[&Path]>, node_keys: TrustList) -> VerifyPolicy {
    VerifyPolicy {
        node_keys,
        anchor: anchor.map(|files| {
            let mut anchor = Anchor::default();
            for file in files {
                anchor.read(file).expect("anchor readable");
            }
            anchor
        }),
        now: store::now(),
        uncovered_after: TimeDelta::seconds(180),
    }
}

/// Raw SQL behind the store's back, as someone with database access would.
async fn tamper(store: &Store, sql: &str) {
    assert!(tamper_rows(store, sql).await >= 1, "{sql}");
}

/// A bytes literal in the store's SQL dialect.
fn bytes_sql(store: &Store, bytes: &[u8]) -> String {
    match store {
        Store::Sqlite(_) => format!("X'{}'", hex::encode(bytes)),
        Store::Postgres(_) => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

async fn zero_checkpoints_fail_verification(fx: Fixture) {
    let store = fx.open().await;
    let empty = Anchor::default();
    let mut strict = policy(None, TrustList::default());
    strict.anchor = Some(empty);
    // An empty log passes.
    let found = audit_store(&store, &strict).await.expect("walks");
    assert!(found.passed(), "{:?}", found.findings);

    // A writer that never checkpoints: the chain is intact, and nothing vouches for it.
    let writer = AuditWriter::start(store.clone(), "node-a".into(), WriterSettings::default());
    append(&writer, "node-a", 3).await;
    writer.shutdown().await;
    let found = audit_store(&store, &strict).await.expect("walks");
    assert_eq!(found.report.entries(), 3);
    assert_eq!(found.findings, vec![Finding::NoCheckpoints { entries: 3 }]);
    assert!(
        found.findings[0].to_string().contains("--anchor"),
        "{}",
        found.findings[0]
    );
}

async fn old_uncovered_entries_fail_but_idle_and_stopped_nodes_do_not(fx: Fixture) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let anchor = dir.path().join("anchor.jsonl");
    let store = fx.open().await;
    let a = start_node(&store, &dir.path().join("a"), "node-a", &anchor).await;
    let b = start_node(&store, &dir.path().join("b"), "node-b", &anchor).await;
    append(&a, "node-a", 3).await;
    // Node a stops: its last checkpoint at shutdown covers its entries.
    a.shutdown().await;
    append(&b, "node-b", 2).await;
    b.checkpoint_now().await.expect("checkpoint");
    // Node b stays up and idle: a day later nothing is uncovered.
    let mut later = policy(Some(&[&anchor]), TrustList::default());
    later.now += TimeDelta::days(1);
    let found = audit_store(&store, &later).await.expect("walks");
    assert!(found.passed(), "{:?}", found.findings);
    assert_eq!(found.report.checkpoints(), 2);

    // Entries appended to b's chain behind the nodes' back: fresh ones are noted, old ones fail.
    append_behind_the_nodes_back(&store, "node-b", 2).await;
    let now = policy(Some(&[&anchor]), TrustList::default());
    let found = audit_store(&store, &now).await.expect("walks");
    assert!(found.passed(), "{:?}", found.findings);
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("3..=4 of chain `node-b`")),
        "{:?}",
        found.notes
    );
    let found = audit_store(&store, &later).await.expect("walks");
    let [Finding::Uncovered { uncovered, .. }] = found.findings.as_slice() else {
        panic!("{:?}", found.findings)
    };
    assert_eq!(
        (
            uncovered.chain.as_str(),
            uncovered.first_seq,
            uncovered.last_seq
        ),
        ("node-b", 3, 4)
    );
    assert!(uncovered.nodes.contains("intruder"));
    b.shutdown().await;
}

async fn a_node_signs_only_the_head_it_chained(fx: Fixture) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let anchor = dir.path().join("anchor.jsonl");
    let store = fx.open().await;
    let a = start_node(&store, &dir.path().join("a"), "node-a", &anchor).await;
    let positions = append(&a, "node-a", 3).await;
    let head = positions[2];

    // The head row rewritten, with a hash that matches its new fields.
    let mut forged = store.audit_range("node-a", 3, 1).await.expect("read")[0].clone();
    forged.verdict = "fail".into();
    let forged_hash = entry_hash(&forged, ChainHash::Sha256);
    tamper(
        &store,
        &format!(
            "UPDATE audit_entries SET verdict = 'fail', hash = {} WHERE chain = 'node-a' AND seq = 3",
            bytes_sql(&store, &forged_hash)
        ),
    )
    .await;
    // Another node's entries (no checkpoint of theirs) after it.
    let other = AuditWriter::start(store.clone(), "node-b".into(), WriterSettings::default());
    append(&other, "node-b", 2).await;
    other.shutdown().await;

    let checkpoint = a.checkpoint_now().await.expect("signed").expect("a head");
    assert_eq!(
        (checkpoint.seq, checkpoint.head_hash),
        (head.seq, head.hash)
    );
    assert_ne!(checkpoint.head_hash, forged_hash);
    a.shutdown().await;
    // So the rewritten row is found: the checkpoint does not vouch for it.
    let err = audit_store(&store, &policy(Some(&[&anchor]), TrustList::default()))
        .await
        .expect_err("rewritten head");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert_eq!(broken.seq, 3, "{broken}");
    assert!(
        matches!(*broken.problem, Problem::CheckpointMismatch { .. }),
        "{broken}"
    );
}

/// A node's configuration file, relative paths from its folder.
fn write_config(folder: &Path, store_url: &str, node: &str, anchor: &str) -> PathBuf {
    std::fs::create_dir_all(folder).expect("folder");
    let path = folder.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[data]\ndir = \"data\"\n\n[store]\nurl = \"{store_url}\"\n\n[audit]\nnode = \
             \"{node}\"\nanchor_file = \"{anchor}\"\n"
        ),
    )
    .expect("config");
    path
}

fn verify_args(config: &Path) -> VerifyArgs {
    VerifyArgs {
        node: NodeArgs {
            config: Some(config.to_path_buf()),
            store: None,
            data_dir: None,
        },
        anchor: vec![],
        node_keys: vec![],
        uncovered_after: None,
    }
}

/// `gateway audit verify` as the binary runs it (its output is not `Send`, so off this task).
fn run_verify(args: &VerifyArgs) -> (Verified, String) {
    let mut out = Vec::new();
    let verdict = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(verify(args, &mut out))
    })
    .expect("the check runs");
    (verdict, String::from_utf8(out).expect("utf-8"))
}

async fn one_nodes_configuration_verifies_both_nodes(fx: Fixture) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = fx.open().await;
    // Two nodes, each its own folder; both ship to one anchor (`../anchor.jsonl`).
    let config_a = write_config(&dir.path().join("a"), &fx.url, "node-a", "../anchor.jsonl");
    let config_b = write_config(&dir.path().join("b"), &fx.url, "node-b", "../anchor.jsonl");
    let anchor = dir.path().join("anchor.jsonl");
    let a = start_node(&store, &dir.path().join("a/data"), "node-a", &anchor).await;
    let b = start_node(&store, &dir.path().join("b/data"), "node-b", &anchor).await;
    append(&a, "node-a", 4).await;
    append(&b, "node-b", 3).await;
    append(&a, "node-a", 2).await;
    a.shutdown().await;
    b.shutdown().await;

    for config in [&config_a, &config_b] {
        let (verdict, report) = run_verify(&verify_args(config));
        assert_eq!(verdict, Verified::Intact, "{report}");
        assert!(
            report.contains("2 chains, 9 entries, 2 checkpoints verified"),
            "{report}"
        );
        // Each node's checkpoint witnessed the other's chain.
        assert_eq!(
            report
                .matches("1 heads witnessed by other chains matched")
                .count(),
            2,
            "{report}"
        );
    }

    // Each node with an anchor of its own: node a's alone does not vouch for node b's key…
    let own = dir.path().join("a/own-anchor.jsonl");
    let sink = AnchorSink::open(&own).expect("anchor");
    pin_node_key(
        &store,
        &dir.path().join("a/data"),
        "node-a",
        Algorithm::EdDsa,
        &sink,
    )
    .await
    .expect("pinned");
    let mut only_a = verify_args(&config_a);
    only_a.anchor = vec![own];
    let (verdict, report) = run_verify(&only_a);
    assert_eq!(verdict, Verified::Broken, "{report}");
    assert!(report.contains("node `node-b`"), "{report}");
    assert!(
        report.contains("the store registers but no anchor"),
        "{report}"
    );
    // …its public key given does.
    only_a.node_keys = vec![dir.path().join("b/data").join(NODE_TRUST_FILE)];
    let (verdict, report) = run_verify(&only_a);
    assert_eq!(verdict, Verified::Intact, "{report}");
}

async fn a_regenerated_node_key_is_refused_and_a_rotated_one_verifies(fx: Fixture) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().join("data");
    let anchor = dir.path().join("anchor.jsonl");
    let store = fx.open().await;
    let a = start_node(&store, &data, "node-a", &anchor).await;
    append(&a, "node-a", 3).await;
    a.shutdown().await;
    let sink = AnchorSink::open(&anchor).expect("anchor");

    // The key file gone: no new key is made.
    let key_file = data.join(NODE_KEY_FILE);
    let original = std::fs::read(&key_file).expect("key file");
    std::fs::remove_file(&key_file).expect("removed");
    let err = pin_node_key(&store, &data, "node-a", Algorithm::EdDsa, &sink)
        .await
        .expect_err("missing key refused");
    assert!(matches!(err, NodeKeyError::Missing { .. }), "{err}");
    let message = err.to_string();
    assert!(!key_file.exists(), "no key was created");
    assert!(
        message.contains(&key_file.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("gateway audit rotate-node-key --node node-a"),
        "{message}"
    );

    // Another key in its place: refused too.
    let other = SigningKey::generate(Algorithm::EdDsa, "node-a", Validity::default()).expect("key");
    std::fs::write(&key_file, wire::keys::signing_keys_to_toml(&[other])).expect("write");
    let err = pin_node_key(&store, &data, "node-a", Algorithm::EdDsa, &sink)
        .await
        .expect_err("other key refused");
    assert!(matches!(err, NodeKeyError::Differs { .. }), "{err}");
    std::fs::write(&key_file, &original).expect("restored");

    // Replaced on purpose: the new key starts, the old one still verifies what it signed.
    let (retired, new_key) = rotate_node_key(&store, &data, "node-a", Algorithm::EdDsa, &sink)
        .await
        .expect("rotated");
    assert_eq!(retired.len(), 1);
    let a = start_node(&store, &data, "node-a", &anchor).await;
    append(&a, "node-a", 2).await;
    let last = a.checkpoint_now().await.expect("signed").expect("a head");
    assert_eq!(last.kid, new_key.kid().to_string());
    a.shutdown().await;
    let found = audit_store(&store, &policy(Some(&[&anchor]), TrustList::default()))
        .await
        .expect("walks");
    assert!(found.passed(), "{:?}", found.findings);
    assert_eq!(found.report.checkpoints(), 2);

    // A key registered in the store alone (by its operator) signs nothing anyone trusts.
    let rogue = SigningKey::generate(Algorithm::EdDsa, "node-x", Validity::default()).expect("key");
    store
        .register_node_key(&registration(&rogue, "node-x", store::now()))
        .await
        .expect("registered");
    let head = head_of(&store, "node-a").await;
    let forged = sign_checkpoint(&rogue, &head, head.seq, store::now(), "node-x", vec![]);
    store.append_checkpoint(&forged).await.expect("stored");
    let found = audit_store(&store, &policy(Some(&[&anchor]), TrustList::default()))
        .await
        .expect("walks");
    assert!(
        found.findings.iter().any(|f| matches!(
            f,
            Finding::UntrustedKey { node, registered: true, .. } if node == "node-x"
        )),
        "{:?}",
        found.findings
    );
}

async fn the_anchor_catches_rewritten_and_deleted_checkpoints(fx: Fixture) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().join("data");
    let anchor = dir.path().join("anchor.jsonl");
    let store = fx.open().await;
    let a = start_node(&store, &data, "node-a", &anchor).await;
    append(&a, "node-a", 5).await;
    a.checkpoint_now().await.expect("checkpoint");
    append(&a, "node-a", 5).await;
    a.shutdown().await;
    let node_keys = TrustList::load(&data.join(NODE_TRUST_FILE)).expect("public key");
    let with_anchor = || policy(Some(&[&anchor]), TrustList::default());
    assert!(audit_store(&store, &with_anchor())
        .await
        .expect("walks")
        .passed());

    // A checkpoint by the node's key that its anchor lacks is reported, not failed.
    let key = load_or_create_node_key(&data, "node-a", Algorithm::EdDsa).expect("the node's key");
    let head = head_of(&store, "node-a").await;
    let unanchored = sign_checkpoint(&key, &head, head.seq, store::now(), "node-a", vec![]);
    store.append_checkpoint(&unanchored).await.expect("stored");
    let found = audit_store(&store, &with_anchor()).await.expect("walks");
    assert!(found.passed(), "{:?}", found.findings);
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("1 checkpoint(s) by node `node-a`")),
        "{:?}",
        found.notes
    );

    // A checkpoint rewritten: another head, re-signed with a key the operator registered.
    let rogue = SigningKey::generate(Algorithm::EdDsa, "node-a", Validity::default()).expect("key");
    store
        .register_node_key(&registration(&rogue, "node-a", store::now()))
        .await
        .expect("registered");
    let stored = store.checkpoints().await.expect("checkpoints");
    let first = &stored[0];
    let rewritten = sign_checkpoint(
        &rogue,
        &ChainHead {
            chain: first.chain.clone(),
            seq: first.seq,
            hash: [9; 32],
        },
        first.count,
        first.at,
        "node-a",
        first.witnessed.clone(),
    );
    tamper(
        &store,
        &format!(
            "UPDATE audit_checkpoints SET head_hash = {}, kid = '{}', signature = {} WHERE seq = 5",
            bytes_sql(&store, &rewritten.head_hash),
            rewritten.kid,
            bytes_sql(&store, &rewritten.signature)
        ),
    )
    .await;
    let found = audit_store(&store, &with_anchor()).await.expect("walks");
    assert!(
        found.findings.contains(&Finding::AnchoredDiffers {
            node: "node-a".into(),
            seq: 5,
            at: first.at
        }),
        "{:?}",
        found.findings
    );
    tamper(
        &store,
        &format!(
            "UPDATE audit_checkpoints SET head_hash = {}, kid = '{}', signature = {} WHERE seq = 5",
            bytes_sql(&store, &first.head_hash),
            first.kid,
            bytes_sql(&store, &first.signature)
        ),
    )
    .await;

    // The tail rewritten and its checkpoints deleted: without the anchor, entries no checkpoint
    // covers yet look like the newest ones; the anchor finds the chain changed.
    tamper(&store, "DELETE FROM audit_checkpoints WHERE seq = 10").await;
    tamper(&store, "DELETE FROM audit_entries WHERE seq > 7").await;
    append_behind_the_nodes_back(&store, "node-a", 3).await;
    let without = audit_store(&store, &policy(None, node_keys.clone()))
        .await
        .expect("walks");
    assert!(without.passed(), "{:?}", without.findings);
    let err = audit_store(&store, &with_anchor())
        .await
        .expect_err("the chain no longer hashes to the anchored head");
    let VerifyStoreError::Broken(broken) = err else {
        panic!("{err:?}")
    };
    assert_eq!(broken.seq, 10, "{broken}");
}

#[tokio::test]
async fn verify_from_another_folder_names_the_settings_to_pass() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // A configuration whose data folder holds no store (as run from the wrong folder).
    let config = write_config(dir.path(), "", "node-a", "anchor.jsonl");
    std::fs::write(&config, "[data]\ndir = \"nowhere\"\n").expect("config");
    let mut out = Vec::new();
    let err = verify(&verify_args(&config), &mut out)
        .await
        .expect_err("no store there");
    let message = format!("{err:#}");
    assert!(message.contains("`data.dir`"), "{message}");
    assert!(message.contains("--config FILE"), "{message}");
    assert!(!dir.path().join("nowhere").exists(), "nothing created");
}
