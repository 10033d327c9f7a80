//! Spent codes across nodes and restarts: a code is accepted once by all the gateway nodes on
//! one store, before and after a restart; a verification whose entry the store does not commit
//! in time is answered 503 and leaves its code unspent; and nodes sharing a store agree on
//! their names and on the subject-hash key or refuse to start.
//!
//! The two-node test runs the real `gateway` binary twice (`cargo build -p gateway`, or a
//! workspace build, puts it next to this test's `deps/` folder) on one PostgreSQL schema.

use std::path::Path;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use store::testing::{on_postgres, on_sqlite, Fixture};
use testkit::process::{post, try_send, Process};
use testkit::{http_client, patiently, test_config, venue_key, Holder, TestGateway};

const SCENARIO: &str = "park-entry-senior";

/// Settings for a node named `node` on the fixture's store, sharing `subject_key`.
fn node_settings(
    fx: &Fixture,
    subject_key: &Path,
    node: &str,
) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("store", "url", format!("{:?}", fx.url)),
        ("audit", "node", format!("{node:?}")),
        (
            "audit",
            "subject_key_file",
            format!("{:?}", subject_key.display().to_string()),
        ),
    ]
}

async fn verify_on(node: &Process, code: &str) -> testkit::Reply {
    let key = format!("Bearer {}", venue_key(SCENARIO));
    let url = format!("http://{}{}", node.public, wire::api::VERIFY_PATH);
    try_send(
        &http_client(),
        post(
            &url,
            Some(&key),
            json!({ "code": code, "scenario": SCENARIO }),
        ),
    )
    .await
    .unwrap_or_else(|| panic!("no answer from {url}; logs:\n{}", node.logs()))
}

fn assert_replayed(reply: &testkit::Reply, first_node: Option<&str>) {
    reply.assert_problem(StatusCode::CONFLICT, "code.replayed", None);
    let detail = reply.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("already used, on node"), "{detail}");
    if let Some(node) = first_node {
        assert!(
            detail.contains(&format!("`{node}`")),
            "names the first node: {detail}"
        );
    }
}

/// Two gateway processes on one PostgreSQL store; one fresh code shown to both at once, 50
/// times: each time exactly one answers 200 and the other 409 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_shown_to_two_nodes_at_once_passes_once() {
    on_postgres(|fx| async move {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let subject_key = dir.path().join("subject-key");
        let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&dir_a).expect("folder a");
        std::fs::create_dir_all(&dir_b).expect("folder b");
        let a = Process::start_with(
            &dir_a,
            &dir_a.join("data"),
            &node_settings(&fx, &subject_key, "node-a"),
        )
        .await;
        let b = Process::start_with(
            &dir_b,
            &dir_b.join("data"),
            &node_settings(&fx, &subject_key, "node-b"),
        )
        .await;
        let holder = Holder::passing(SCENARIO);
        let mut wins = [0u32; 2];
        for round in 0..50 {
            let code = holder.code().mint();
            let (on_a, on_b) = tokio::join!(verify_on(&a, &code), verify_on(&b, &code));
            match (on_a.status, on_b.status) {
                (StatusCode::OK, _) => {
                    wins[0] += 1;
                    assert_replayed(&on_b, Some("node-a"));
                }
                (_, StatusCode::OK) => {
                    wins[1] += 1;
                    assert_replayed(&on_a, Some("node-b"));
                }
                _ => panic!(
                    "round {round}: neither node accepted the code: {} / {}",
                    on_a.text(),
                    on_b.text()
                ),
            }
        }
        eprintln!(
            "first use won by node-a {} times, node-b {} times",
            wins[0], wins[1]
        );
        assert_eq!(wins[0] + wins[1], 50);
    })
    .await;
}

/// A code accepted before a clean restart is refused after it, on PostgreSQL. (SQLite, and
/// a `kill -9` instead of a clean stop, are in `crash.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_accepted_before_a_restart_is_refused_after_it() {
    on_postgres(|fx| async move {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let subject_key = dir.path().join("subject-key");
        let data = dir.path().join("data");
        let settings = node_settings(&fx, &subject_key, "node-a");
        let mut first = Process::start_with(dir.path(), &data, &settings).await;
        let code = Holder::passing(SCENARIO).code().mint();
        let reply = verify_on(&first, &code).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        first.signal("-TERM");
        assert!(first.wait().await.success(), "{}", first.logs());
        let second = Process::start_with(dir.path(), &data, &settings).await;
        assert_replayed(&verify_on(&second, &code).await, Some("node-a"));
    })
    .await;
}

/// The store does not commit (another connection holds SQLite's write lock): the venue is
/// answered 503 with `Retry-After` after `audit.commit_timeout_ms`, not held for the outage; the
/// entry is given up and never committed, so once the store writes again the same code passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_the_store_cannot_record_in_time_is_503_and_spends_nothing() {
    let gw = TestGateway::start_with(|c| c.audit.commit_timeout_ms = 300).await;
    let url = format!(
        "sqlite://{}?mode=rw",
        gw.data_dir().join(store::SQLITE_FILE).display()
    );
    let holder_pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("open `{url}`: {e}"));
    let lock = holder_pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .expect("take the write lock");
    let code = Holder::passing(SCENARIO).code().mint();
    let reply = gw.verify(&code, SCENARIO).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    let problem = reply.json();
    assert!(
        ["gateway.audit_timeout", "gateway.audit_unconfirmed"]
            .contains(&problem["code"].as_str().unwrap_or_default()),
        "{problem}"
    );
    assert!(reply.header("retry-after").is_some(), "{problem}");
    // Held until the writer has given the entry up, then released.
    let writer = gw.gateway.service.audit.writer.clone();
    patiently("the writer gives the entry up", async {
        while writer.stats().abandoned == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    lock.rollback().await.expect("release the lock");
    holder_pool.close().await;
    let retry = gw.verify(&code, SCENARIO).await;
    assert_eq!(
        retry.status,
        StatusCode::OK,
        "the retry passes: {}",
        retry.text()
    );
    assert_replayed(&gw.verify(&code, SCENARIO).await, None);
}

/// In-process nodes on one store: a second node with another subject-hash key, or with a live
/// node's name, is refused with the setting to fix; a node restarted from its own data folder
/// takes its name back at once.
async fn nodes_agree_on_names_and_the_subject_key(fx: Fixture) {
    let shared = tempfile::tempdir().expect("a folder for the keys");
    let key_a = shared.path().join("subject-key-a");
    let key_b = shared.path().join("subject-key-b");
    let on_store = |node: &'static str, key: &Path| {
        let url = fx.url.clone();
        let key = key.to_path_buf();
        move |c: &mut gateway::config::GatewayConfig| {
            c.store.url = Some(url);
            c.audit.node = Some(node.to_owned());
            c.audit.subject_key_file = Some(key);
        }
    };
    let a = TestGateway::start_with(on_store("node-a", &key_a)).await;

    let refused = |adjust: Box<dyn FnOnce(&mut gateway::config::GatewayConfig) + Send>| async move {
        let data = tempfile::tempdir().expect("a data folder");
        let mut config = test_config(data.path());
        adjust(&mut config);
        let error = gateway::app::start(config)
            .await
            .expect_err("the node is refused");
        format!("{error:#}")
    };
    let other_key = refused(Box::new(on_store("node-b", &key_b))).await;
    assert!(other_key.contains("audit.subject_key_file"), "{other_key}");
    let same_name = refused(Box::new(on_store("node-a", &key_a))).await;
    assert!(
        same_name.contains("`node-a` is held by another live node"),
        "{same_name}"
    );
    assert!(same_name.contains("audit.node"), "{same_name}");

    // Restarted from its own data folder it takes its name back (after a crash, too, while the
    // lease is still live: the store's suite covers that claim).
    let data = a.data_dir().to_path_buf();
    let kept = a.stop().await;
    let again = TestGateway::start_with(|c| {
        on_store("node-a", &key_a)(c);
        c.data.dir = data.clone();
    })
    .await;
    again
        .assert_still_serving("a restart from the same data folder")
        .await;
    again.stop().await;
    drop(kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_agree_on_names_and_the_subject_key_on_sqlite() {
    Box::pin(on_sqlite(nodes_agree_on_names_and_the_subject_key)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_agree_on_names_and_the_subject_key_on_postgres() {
    on_postgres(nodes_agree_on_names_and_the_subject_key).await;
}
