//! Codes shown by someone other than the holder, and printed codes (issue 18), over real HTTP:
//!
//! - an agent's code for a company passes and the venue is told "agent 王* for the company"; the
//!   audit entry and the holder's "who checked me" name the presenter; once the delegation is
//!   revoked the code is refused (`code.authorization_revoked`);
//! - a printed code is refused where the scenario is not `paper_ok`, used once per venue per
//!   day, and refused once reported lost (`code.reported_lost`); it opens none of the holder's
//!   own routes;
//! - two gateway processes on one PostgreSQL store: a revocation made through the store reaches
//!   the node that did not make it (LISTEN/NOTIFY), which then refuses the agent's code — the
//!   test waits for the node's count of revocations received, not for a time.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use http::{Method, StatusCode};
use serde_json::json;
use store::testing::on_postgres;
use store::{DelegationRow, Store};
use testkit::process::{post, try_send, Process};
use testkit::{http_client, patiently, venue_key, Holder, TestGateway};
use wire::admin_api::{HolderCounts, Snapshot};
use wire::api::{Means, Verdict};
use wire::code::Relation;

const COMPANY_SCENARIO: &str = "food-stall-inspection";
const PARK: &str = "park-entry-senior";
const HOSPITAL: &str = "hospital-registration";
const HOTEL: &str = "hotel-check-in";

/// A delegation from `principal` to `delegate`, active for an hour.
fn delegation(id: &str, relation: Relation, principal: &Holder, delegate: &str) -> DelegationRow {
    let now = store::now();
    DelegationRow {
        id: id.to_owned(),
        relation,
        principal: principal.handle.clone(),
        principal_city: Some(principal.city),
        delegate: delegate.to_owned(),
        delegate_name: "王五".to_owned(),
        scope: vec!["business-licence".to_owned()],
        valid_from: now - TimeDelta::minutes(1),
        valid_until: now + TimeDelta::hours(1),
        created_at: now,
        created_by: principal.handle.clone(),
        revoked_at: None,
        revoked_by: None,
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_code_names_the_agent_until_its_authorization_is_revoked() {
    let gw = TestGateway::start().await;
    let store = Store::open_sqlite_in(gw.data_dir())
        .await
        .expect("the gateway's store");
    let company = Holder::passing(COMPANY_SCENARIO);
    let id = unique("d-agent");
    store
        .insert_delegation(&delegation(&id, Relation::Agent, &company, "agent-7"))
        .await
        .expect("the authorization");
    let code = |spec: testkit::CodeSpec| {
        spec.presented_by(Relation::Agent, &id, "agent-7", "王五")
            .mint()
    };

    let answer = gw
        .verify(&code(company.code()), COMPANY_SCENARIO)
        .await
        .verdict();
    assert_eq!(answer.verdict, Verdict::Pass);
    let shown = answer
        .presented_by
        .expect("the venue is told who presented");
    assert_eq!(
        (shown.relation, shown.name.as_str()),
        (Relation::Agent, "王*")
    );
    assert_eq!(answer.means, Means::Phone);
    let entry = store
        .audit_by_verification(&answer.verification_id)
        .await
        .expect("read")
        .expect("the audit entry");
    assert_eq!(entry.presented_by.as_deref(), Some(id.as_str()));

    // The company looks at who checked it: the agent is named.
    let page = gw
        .holder_accesses(Some(&company.own_code().mint()), "")
        .await
        .json();
    let item = &page["items"][0];
    assert_eq!(item["verification_id"], json!(answer.verification_id));
    assert_eq!(
        item["presented_by"],
        json!({ "relation": "agent", "name": "王*" })
    );

    // Revoked (by the platform, through the store): the next code is refused.
    store
        .revoke_delegation(&id, &company.handle, Utc::now())
        .await
        .expect("revoked");
    gw.verify(&code(company.code()), COMPANY_SCENARIO)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "code.authorization_revoked", None);
    // The holder's own code is not affected.
    assert_eq!(
        gw.verify_holder(&company, COMPANY_SCENARIO).await.verdict,
        Verdict::Pass
    );

    // The operators' Overview counts the authorization and its revocation.
    let counts = snapshot_until(&gw, "the revoked authorization counted", |s| {
        s.holders
            .delegations
            .iter()
            .any(|d| d.relation == Relation::Agent && d.revoked >= 1)
    })
    .await;
    assert!(
        counts.delegations.iter().all(|d| d.active == 0),
        "{counts:?}"
    );
}

/// Long-polls the admin snapshot until `done` holds for its holder counts (bounded: a count is
/// read from the store every few snapshots).
async fn snapshot_until(
    gw: &TestGateway,
    what: &str,
    mut done: impl FnMut(&Snapshot) -> bool,
) -> HolderCounts {
    patiently(what, async {
        let mut after = 0;
        for _ in 0..30 {
            let reply = gw
                .admin(Method::GET, &format!("/snapshot?after={after}"), None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            let snapshot: Snapshot = serde_json::from_slice(&reply.body).expect("a snapshot");
            if done(&snapshot) {
                return snapshot.holders;
            }
            after = snapshot.generation;
        }
        panic!("{what}: not in 30 snapshots");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_code_is_used_once_per_venue_and_day_until_reported_lost() {
    let gw = TestGateway::start().await;
    let store = Store::open_sqlite_in(gw.data_dir())
        .await
        .expect("the gateway's store");
    let elder = Holder::passing(PARK);
    let printed = elder.code().paper(365);
    let code = printed.mint();

    // Not where the scenario takes only a phone's code.
    gw.verify(&code, HOTEL).await.assert_problem(
        StatusCode::FORBIDDEN,
        "code.paper_not_accepted",
        None,
    );
    // Nor on the holder's own routes.
    let mut own = printed.clone().holder_access();
    own.claims.nonce = rand::random::<[u8; 16]>().to_vec();
    gw.holder_accesses(Some(&own.mint()), "")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "code.paper_not_accepted", None);

    let first = gw.verify(&code, PARK).await.verdict();
    assert_eq!(first.verdict, Verdict::Pass);
    assert_eq!(first.means, Means::Paper);
    let entry = store
        .audit_by_verification(&first.verification_id)
        .await
        .expect("read")
        .expect("the audit entry");
    assert_eq!(entry.means, Means::Paper, "flagged in the audit trail");
    // Again at the same venue the same day: refused.
    gw.verify(&code, PARK)
        .await
        .assert_problem(StatusCode::CONFLICT, "code.replayed", None);
    // At another venue: a use of its own.
    let reply = gw.verify(&code, HOSPITAL).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    // Reported lost: refused everywhere from then on.
    let code_id: String = printed
        .claims
        .nonce
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let until = chrono::DateTime::from_timestamp(printed.claims.expires_at, 0).expect("time");
    assert!(store
        .revoke_paper_code(&code_id, until, Utc::now())
        .await
        .expect("revoked"));
    gw.verify(&code, "transit-senior-free-ride")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "code.reported_lost", None);

    // The holder sees the printed code's uses flagged.
    let page = gw
        .holder_accesses(Some(&elder.own_code().mint()), "")
        .await
        .json();
    let means: Vec<_> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["means"].clone())
        .collect();
    assert_eq!(means, [json!("paper"), json!("paper")], "{page}");
}

/// Settings for node `node` of a two-process pair on the fixture's store.
fn node_settings(
    url: &str,
    subject_key: &std::path::Path,
    node: &str,
) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("store", "url", format!("{url:?}")),
        ("audit", "node", format!("{node:?}")),
        (
            "audit",
            "subject_key_file",
            format!("{:?}", subject_key.display().to_string()),
        ),
    ]
}

async fn verify_on(node: &Process, code: &str) -> testkit::Reply {
    let key = format!("Bearer {}", venue_key(COMPANY_SCENARIO));
    let url = format!("http://{}{}", node.public, wire::api::VERIFY_PATH);
    try_send(
        &http_client(),
        post(
            &url,
            Some(&key),
            json!({ "code": code, "scenario": COMPANY_SCENARIO }),
        ),
    )
    .await
    .unwrap_or_else(|| panic!("no answer from {url}; logs:\n{}", node.logs()))
}

/// The value of `mz_revocations_received_total{kind="delegation"}` on `node` (0 before any).
async fn delegations_received(node: &Process) -> u64 {
    let reply = try_send(
        &http_client(),
        testkit::process::get(&format!("http://{}/metrics", node.admin), None),
    )
    .await
    .expect("the metrics");
    reply
        .text()
        .lines()
        .find(|l| l.starts_with("mz_revocations_received_total{kind=\"delegation\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_the_other_node_through_the_store() {
    on_postgres(|fx| async move {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let subject_key = dir.path().join("subject-key");
        let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&dir_a).expect("folder a");
        std::fs::create_dir_all(&dir_b).expect("folder b");
        let a = Process::start_with(
            &dir_a,
            &dir_a.join("data"),
            &node_settings(&fx.url, &subject_key, "node-a"),
        )
        .await;
        let b = Process::start_with(
            &dir_b,
            &dir_b.join("data"),
            &node_settings(&fx.url, &subject_key, "node-b"),
        )
        .await;
        let platform = fx.open().await;
        let company = Holder::passing(COMPANY_SCENARIO);
        let id = unique("d-two-nodes");
        platform
            .insert_delegation(&delegation(&id, Relation::Agent, &company, "agent-9"))
            .await
            .expect("the authorization");
        let code = || {
            company
                .code()
                .presented_by(Relation::Agent, &id, "agent-9", "赵六")
                .mint()
        };
        for node in [&a, &b] {
            let reply = verify_on(node, &code()).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            assert_eq!(reply.json()["presented_by"]["relation"], json!("agent"));
        }
        let before = delegations_received(&b).await;

        // The platform revokes through the store; node B hears of it from the store.
        platform
            .revoke_delegation(&id, &company.handle, Utc::now())
            .await
            .expect("revoked");
        patiently("node B receives the revocation", async {
            while delegations_received(&b).await <= before {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        for node in [&b, &a] {
            verify_on(node, &code()).await.assert_problem(
                StatusCode::FORBIDDEN,
                "code.authorization_revoked",
                None,
            );
        }
        for mut node in [a, b] {
            node.signal("-TERM");
            node.wait().await;
        }
    })
    .await;
}
