//! The plan's targets measured from traffic, on two gateway nodes sharing one PostgreSQL store
//! (a fresh schema per test, from `store::testing`): each node counts what it verified, adds it
//! to the store, and both nodes' admin APIs (`GET /admin/v1/kpis`) then report the same
//! figures — the sum of both nodes' traffic; a node that stops adds what it counted last.

use std::path::Path;

use gateway::config::GatewayConfig;
use http::{Method, StatusCode};
use store::testing::{on_postgres, Fixture};
use testkit::{scenario, Holder, TestGateway};
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
