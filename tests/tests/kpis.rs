//! The plan's targets measured from traffic, on two gateway nodes sharing one PostgreSQL store
//! (a fresh schema per test, from `store::testing`): each node counts what it verified, adds it
//! to the store, and both nodes' admin APIs (`GET /admin/v1/kpis`) then report the same
//! figures — the sum of both nodes' traffic; a node that stops adds what it counted last. The
//! same with two real `gateway` processes (`cargo build -p gateway` puts the binary beside
//! this test's `deps/` folder) and a restart.

use std::path::Path;

use gateway::config::GatewayConfig;
use http::{Method, StatusCode};
use serde_json::json;
use store::testing::{on_postgres, Fixture};
use testkit::process::{post, try_send, Process};
use testkit::{
    http_client, patiently, scenario, service_window_key, venue_key, Holder, TestGateway,
};
use wire::admin_api::Evaluation;
use wire::api::Verdict;

const SCENARIO: &str = "park-entry-senior";

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

async fn kpis(gw: &TestGateway) -> Evaluation {
    let reply = gw.admin(Method::GET, "/kpis", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("an Evaluation")
}

fn demand(e: &Evaluation) -> (u64, u64) {
    let row = e
        .rows
        .iter()
        .find(|r| r.metric == "sharing_demand_satisfaction_rate")
        .expect("the demand row");
    (row.numerator, row.denominator)
}

async fn verify_passing(gw: &TestGateway, holder: &Holder, times: usize) {
    for _ in 0..times {
        let answer = gw.verify_holder(holder, SCENARIO).await;
        assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_report_the_same_figures() {
    on_postgres(|fixture: Fixture| async move {
        let shared = tempfile::tempdir().expect("a folder for the shared secret");
        let subject_key = shared.path().join("subject-key");
        let a = TestGateway::start_with(node_config(&fixture.url, &subject_key, "node-a")).await;
        let b = TestGateway::start_with(node_config(&fixture.url, &subject_key, "node-b")).await;
        let holder = Holder::passing(SCENARIO);
        let requirements = scenario(SCENARIO).requirements.len() as u64;

        verify_passing(&a, &holder, 3).await;
        verify_passing(&b, &holder, 2).await;
        // What each node's flusher does every few seconds, now.
        a.gateway.service.kpis.flush().await.expect("node a adds");
        b.gateway.service.kpis.flush().await.expect("node b adds");
        let (from_a, from_b) = (kpis(&a).await, kpis(&b).await);
        assert_eq!(from_a, from_b, "both nodes report the same table");
        assert_eq!(demand(&from_a), (5 * requirements, 5 * requirements));

        // A node that stops adds what it counted since its last flush.
        verify_passing(&a, &holder, 1).await;
        a.stop().await;
        assert_eq!(
            demand(&kpis(&b).await),
            (6 * requirements, 6 * requirements)
        );
        b.stop().await;
    })
    .await;
}

/// A node's table, from its admin API.
async fn kpis_of(node: &Process) -> Evaluation {
    let reply = node.admin(&http_client(), "/kpis").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("an Evaluation")
}

/// The material share rate's row over the items' basis.
fn materials_row(e: &Evaluation, basis: &str) -> (u64, u64) {
    e.rows
        .iter()
        .find(|r| r.metric == "proof_material_share_rate" && r.basis == basis)
        .map_or((0, 0), |r| (r.numerator, r.denominator))
}

/// The same with two real `gateway` processes on one PostgreSQL schema: each adds what it
/// answered (verifications on both, a service window's materials on one) with its flusher,
/// every few seconds; both then report the same table, and so does a node restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_processes_on_postgres_report_the_same_figures_and_keep_them_over_a_restart() {
    on_postgres(|fx: Fixture| async move {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let subject_key = dir.path().join("subject-key");
        let settings = |node: &str| {
            vec![
                ("store", "url", format!("{:?}", fx.url)),
                ("audit", "node", format!("{node:?}")),
                (
                    "audit",
                    "subject_key_file",
                    format!("{:?}", subject_key.display().to_string()),
                ),
            ]
        };
        let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&dir_a).expect("folder a");
        std::fs::create_dir_all(&dir_b).expect("folder b");
        let mut a = Process::start_with(&dir_a, &dir_a.join("data"), &settings("node-a")).await;
        let b = Process::start_with(&dir_b, &dir_b.join("data"), &settings("node-b")).await;
        let client = http_client();
        let holder = Holder::passing(SCENARIO);
        let requirements = scenario(SCENARIO).requirements.len() as u64;
        let key = format!("Bearer {}", venue_key(SCENARIO));
        for (node, times) in [(&a, 3), (&b, 2)] {
            for _ in 0..times {
                let url = format!("http://{}{}", node.public, wire::api::VERIFY_PATH);
                let body = json!({ "code": holder.code().mint(), "scenario": SCENARIO });
                let reply = try_send(&client, post(&url, Some(&key), body))
                    .await
                    .unwrap_or_else(|| panic!("no answer; logs:\n{}", node.logs()));
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            }
        }
        // A service window on node b pulls the same holder's materials for item 23.
        let (window, _) = service_window_key();
        let item = testkit::catalogue().service_item(23).expect("item 23");
        let url = format!("http://{}{}", b.public, wire::materials_api::MATERIALS_PATH);
        let body = json!({ "code": holder.code().service_window(&["item:23"]).mint(), "item": 23 });
        let reply = try_send(&client, post(&url, Some(&format!("Bearer {window}")), body))
            .await
            .expect("an answer");
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let answer: wire::materials_api::MaterialsResponse =
            serde_json::from_slice(&reply.body).expect("a materials answer");
        let provided = answer
            .materials
            .iter()
            .filter(|m| m.status == wire::materials_api::MaterialStatus::Provided)
            .count() as u64;
        let materials = (provided, answer.materials.len() as u64);
        let basis = item.source.as_str();

        // Each node's flusher adds its counts within a few seconds; then both say the same.
        let table = patiently("both nodes report all the traffic", async {
            loop {
                let (on_a, on_b) = (kpis_of(&a).await, kpis_of(&b).await);
                let complete =
                    demand(&on_a).0 >= 5 * requirements && materials_row(&on_a, basis) == materials;
                if complete && on_a == on_b {
                    break on_a;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        })
        .await;
        assert!(demand(&table).1 >= 5 * requirements, "{table:?}");

        // A restart: node a stops cleanly and comes back with the same figures.
        a.signal("-TERM");
        assert!(a.wait().await.success(), "{}", a.logs());
        let a = Process::start_with(&dir_a, &dir_a.join("data"), &settings("node-a")).await;
        assert_eq!(kpis_of(&a).await, table);
    })
    .await;
}
