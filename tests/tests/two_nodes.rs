//! Two gateway nodes sharing one PostgreSQL store (a fresh schema per test, from
//! `store::testing`): a "corrected" objection resolved on one node drops the cached answer on
//! the other (LISTEN/NOTIFY), two operators claiming at once on different nodes never get the
//! same objection, an operator disabled on one node is refused on the other, and a node whose
//! listening connection breaks flushes its cache when it listens again.
//!
//! Each node runs its own embedded department backends (same population), so "the department
//! was asked" is read from the backends of the node that verified.

use std::path::Path;
use std::time::Duration;

use gateway::config::GatewayConfig;
use http::{Method, StatusCode};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use store::testing::{on_postgres, Fixture, DEFAULT_POSTGRES};
use testkit::{new_queries, patiently, Holder, TestGateway, PATIENCE};
use wire::admin_api::{ObjectionDetail, ObjectionStatus};
use wire::api::{ObjectionFiled, Verdict};

const SCENARIO: &str = "park-entry-senior";
const CERTIFICATE: &str = "senior-citizen-card";

/// Two nodes on the fixture's schema with one subject-hash secret. Node B's connections carry
/// `application_name` = the returned name, so the test can find its listening connection.
struct Pair {
    a: TestGateway,
    b: TestGateway,
    b_application: String,
    _shared: tempfile::TempDir,
}

fn node_config<'a>(
    url: &'a str,
    subject_key: &'a Path,
    node: &'a str,
) -> impl FnOnce(&mut GatewayConfig) + 'a {
    move |c: &mut GatewayConfig| {
        c.store.url = Some(url.to_owned());
        c.audit.subject_key_file = Some(subject_key.to_path_buf());
        c.audit.node = Some(node.to_owned());
    }
}

async fn start_pair(fixture: &Fixture) -> Pair {
    let shared = tempfile::tempdir().expect("a folder for the shared secret");
    let subject_key = shared.path().join("subject-key");
    let a = TestGateway::start_with(node_config(&fixture.url, &subject_key, "node-a")).await;
    let b_application = format!("mz_e2e_b_{:016x}", rand::random::<u64>());
    let b_url = format!("{}&application_name={b_application}", fixture.url);
    assert!(fixture.url.contains('?'), "{}", fixture.url);
    let b = TestGateway::start_with(node_config(&b_url, &subject_key, "node-b")).await;
    Pair {
        a,
        b,
        b_application,
        _shared: shared,
    }
}

/// A connection to the test server itself (not the test's schema), to look at sessions.
async fn server() -> PgPool {
    let url = std::env::var("MIANZHENG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to `{url}`: {e}"))
}

/// The backend pids of `application`'s sessions whose last statement was a `LISTEN`.
async fn listening_pids(server: &PgPool, application: &str) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(application)
    .fetch_all(server)
    .await
    .expect("read pg_stat_activity")
}

/// Waits (bounded) until `application` listens on a connection other than `not`.
async fn wait_listening(server: &PgPool, application: &str, not: &[i32]) -> Vec<i32> {
    patiently("node B listens for invalidations", async {
        loop {
            let pids = listening_pids(server, application).await;
            if pids.iter().any(|p| !not.contains(p)) {
                return pids;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Verifies `holder` on `gw` and returns whether the department backends were asked.
async fn verify_asks_upstream(gw: &TestGateway, holder: &Holder) -> bool {
    let before = gw.upstream_queries().await;
    let answer = gw.verify_holder(holder, SCENARIO).await;
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    let after = gw.upstream_queries().await;
    !new_queries(&before, &after).is_empty()
}

/// Warms `gw`'s cache for `holder`: after this, a verification asks no department.
async fn warm(gw: &TestGateway, holder: &Holder) {
    verify_asks_upstream(gw, holder).await;
    assert!(
        !verify_asks_upstream(gw, holder).await,
        "the second verification on the node is answered from its cache"
    );
}

/// Verifies until the department is asked again, at most `within` (the cache entry dropped).
async fn until_asked_again(gw: &TestGateway, holder: &Holder, within: Duration, what: &str) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if verify_asks_upstream(gw, holder).await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: node B still answers from its cache after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn file(gw: &TestGateway, holder: &Holder) -> ObjectionFiled {
    let reply = gw
        .file_objection(
            None,
            &json!({ "code": holder.own_code().mint(), "certificate": CERTIFICATE,
                     "channel": "app", "description": "the record is wrong" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("an ObjectionFiled")
}

async fn correction_on_one_node_drops_the_cache_on_the_other(fixture: Fixture) {
    let pair = start_pair(&fixture).await;
    let server = server().await;
    wait_listening(&server, &pair.b_application, &[]).await;
    let holder = Holder::passing(SCENARIO);

    warm(&pair.b, &holder).await;

    // Filed and resolved on node A, without a corrected value (the department fixes it itself).
    let filed = file(&pair.a, &holder).await;
    let reply = pair
        .a
        .admin(
            Method::POST,
            &format!("/objections/{}/actions", filed.objection_id),
            Some(json!({ "action": "resolve_corrected", "actor": "zhao",
                         "note": "corrected at the department" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let detail: ObjectionDetail = serde_json::from_slice(&reply.body).expect("a detail");
    assert_eq!(detail.objection.status, ObjectionStatus::ResolvedCorrected);
    let note = detail
        .history
        .iter()
        .find(|e| e.actor == "gateway")
        .map(|e| e.note.clone())
        .unwrap_or_else(|| panic!("a gateway note: {:?}", detail.history));
    assert!(
        note.contains("cached answers dropped on every node"),
        "{note}"
    );

    // Node B sees the objection (shared store) and drops its cached answer.
    let reply = pair
        .b
        .admin(
            Method::GET,
            &format!("/objections/{}", filed.objection_id),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    until_asked_again(
        &pair.b,
        &holder,
        Duration::from_secs(5),
        "after a correction on node A",
    )
    .await;

    pair.b.stop().await;
    pair.a.stop().await;
    server.close().await;
}

async fn concurrent_claims_on_two_nodes_get_different_objections(fixture: Fixture) {
    let pair = start_pair(&fixture).await;
    let holder = Holder::passing(SCENARIO);
    let first = file(&pair.a, &holder).await;
    let second = file(&pair.b, &holder).await;
    assert_eq!(first.department, second.department);

    // Each operator is added on node A and signs in on its own node (the accounts are shared).
    let token_a = pair
        .a
        .add_operator("operator-a", &["objection-handler"])
        .await;
    let token_b = pair
        .a
        .add_operator("operator-b", &["objection-handler"])
        .await;
    let department = first.department.clone();
    let claim = |on_b: bool| {
        let (gw, token) = if on_b {
            (&pair.b, &token_b)
        } else {
            (&pair.a, &token_a)
        };
        let body = json!({ "department": department });
        gw.admin_as(Some(token), Method::POST, "/objections/claim", Some(body))
    };
    let (on_a, on_b) = tokio::join!(claim(false), claim(true));
    let mut claimed = Vec::new();
    for (reply, actor) in [(on_a, "operator-a"), (on_b, "operator-b")] {
        assert_eq!(reply.status, StatusCode::OK, "{actor}: {}", reply.text());
        let detail: ObjectionDetail = serde_json::from_slice(&reply.body).expect("a detail");
        assert_eq!(detail.objection.status, ObjectionStatus::InReview);
        assert_eq!(detail.objection.assignee.as_deref(), Some(actor));
        claimed.push(detail.objection.id);
    }
    claimed.sort();
    let mut filed = vec![first.objection_id, second.objection_id];
    filed.sort();
    assert_eq!(claimed, filed, "each objection claimed once");

    let empty = claim(false).await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT, "{}", empty.text());

    pair.b.stop().await;
    pair.a.stop().await;
}

async fn a_broken_listener_flushes_the_cache_when_it_listens_again(fixture: Fixture) {
    let pair = start_pair(&fixture).await;
    let server = server().await;
    let before = wait_listening(&server, &pair.b_application, &[]).await;
    let holder = Holder::passing(SCENARIO);
    warm(&pair.b, &holder).await;

    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(&pair.b_application)
    .fetch_all(&server)
    .await
    .expect("terminate node B's listening connection");
    assert!(
        !terminated.is_empty() && terminated.iter().all(|t| *t),
        "{terminated:?}"
    );

    // It listens again on a new connection, and what it had cached is gone.
    wait_listening(&server, &pair.b_application, &before).await;
    until_asked_again(
        &pair.b,
        &holder,
        Duration::from_secs(10),
        "after the listener reconnected",
    )
    .await;
    // Node A was not touched: still cached there? A never verified; it still serves.
    pair.a.assert_still_serving("node B's reconnect").await;

    pair.b.stop().await;
    pair.a.stop().await;
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_on_node_a_drops_node_bs_cached_answer() {
    tokio::time::timeout(
        PATIENCE * 4,
        on_postgres(correction_on_one_node_drops_the_cache_on_the_other),
    )
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_claiming_at_once_on_two_nodes_get_different_objections() {
    tokio::time::timeout(
        PATIENCE * 4,
        on_postgres(concurrent_claims_on_two_nodes_get_different_objections),
    )
    .await
    .expect("bounded");
}

async fn whoami_as(gw: &TestGateway, token: &str) -> testkit::Reply {
    gw.admin_as(Some(token), Method::GET, "/whoami", None).await
}

async fn an_operator_disabled_on_one_node_is_refused_on_the_other(fixture: Fixture) {
    let pair = start_pair(&fixture).await;
    let token = pair.a.add_operator("li.wei", &["viewer"]).await;
    for gw in [&pair.a, &pair.b] {
        let reply = whoami_as(gw, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    let reply = pair
        .a
        .admin(Method::POST, "/operators/li.wei:disable", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // At once on the node that disabled it; on the other once its cache entry expires.
    whoami_as(&pair.a, &token).await.assert_problem(
        StatusCode::UNAUTHORIZED,
        "admin.operator_disabled",
        None,
    );
    patiently("node B refuses the disabled operator", async {
        while whoami_as(&pair.b, &token).await.status != StatusCode::UNAUTHORIZED {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    whoami_as(&pair.b, &token).await.assert_problem(
        StatusCode::UNAUTHORIZED,
        "admin.operator_disabled",
        None,
    );

    pair.b.stop().await;
    pair.a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_disabled_on_node_a_is_refused_on_node_b() {
    tokio::time::timeout(
        PATIENCE * 4,
        on_postgres(an_operator_disabled_on_one_node_is_refused_on_the_other),
    )
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_listener_breaks_flushes_its_cache() {
    tokio::time::timeout(
        PATIENCE * 4,
        on_postgres(a_broken_listener_flushes_the_cache_when_it_listens_again),
    )
    .await
    .expect("bounded");
}
