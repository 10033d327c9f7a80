//! Commitments (告知承诺), end to end over loopback: a service window pulls an applicant's
//! materials (`POST /v1/materials`), records the applicant's commitment for a material the
//! answer allowed one for (`POST /v1/commitments`), and the department that answers for the
//! material claims it from its post-check queue and resolves it through the admin API. Every
//! refusal a window can meet is answered with its own code.

use chrono::{TimeDelta, Utc};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{catalogue, request, venue_key, Holder, Reply, TestGateway};
use wire::admin_api::{
    CommitmentCounts, CommitmentDetail, CommitmentPage, CommitmentStatus, VenueKeyIssued,
};
use wire::catalogue::model::HolderKind;
use wire::materials_api::{
    CommitmentRecorded, MaterialStatus, MaterialsResponse, COMMITMENTS_PATH,
};

/// 居住证办理: a person's item with a paper material a commitment may replace, checked by the
/// item's own department, and a certificate material no commitment may replace.
const ITEM: u32 = 23;
const PAPER: &str = "lease-or-residence-proof";
const NO_COMMITMENT: &str = "resident-id-card";

/// Registers a service window with `id` through the admin API; its key.
async fn service_window(gw: &TestGateway, id: &str) -> String {
    let reply = gw
        .admin(
            Method::POST,
            "/venues",
            Some(json!({
                "id": id,
                "name": format!("{id} 窗口"),
                "city": 370100,
                "scenarios": [],
                "rate_per_sec": 50,
                "service_window": true,
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let issued: VenueKeyIssued = serde_json::from_slice(&reply.body).expect("a VenueKeyIssued");
    assert!(issued.venue.service_window);
    issued.key
}

/// The materials of item [`ITEM`] for a fresh code of `applicant`, as window `key`.
async fn materials(gw: &TestGateway, key: &str, applicant: &Holder) -> MaterialsResponse {
    let code = applicant
        .code()
        .service_window(&[&format!("item:{ITEM}")])
        .mint();
    let reply = gw
        .materials(key, &json!({ "code": code, "item": ITEM }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("a MaterialsResponse")
}

async fn commit(gw: &TestGateway, key: &str, body: &Value) -> Reply {
    let auth = format!("Bearer {key}");
    request(
        &gw.client,
        Method::POST,
        &gw.public_url(COMMITMENTS_PATH),
        &[("authorization", auth.as_str())],
        Some(body),
    )
    .await
}

fn filing(request: &str, material: &str) -> Value {
    json!({ "materials_request_id": request, "material": material, "text_version": "2026-01" })
}

fn detail(reply: &Reply) -> CommitmentDetail {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not a commitment detail ({e}): {}", reply.text()))
}

async fn counts_of(gw: &TestGateway, department: &str) -> wire::admin_api::DepartmentCommitments {
    let reply = gw.admin(Method::GET, "/commitments/counts", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let counts: CommitmentCounts = serde_json::from_slice(&reply.body).expect("counts");
    counts
        .by_department
        .into_iter()
        .find(|d| d.department == department)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_records_a_commitment_and_its_department_checks_it() {
    let gw = TestGateway::start().await;
    let window = service_window(&gw, "jinan-lixia-hall-window-1").await;
    let applicant = Holder::new("e2e-commitment-applicant-1", HolderKind::Person);
    let answer = materials(&gw, &window, &applicant).await;
    let paper = answer
        .materials
        .iter()
        .find(|m| m.material == PAPER)
        .expect("the paper material is answered");
    assert_eq!(paper.status, MaterialStatus::CommitmentAllowed);
    // The paper material is checked by the item's department.
    let department = catalogue()
        .service_item(ITEM)
        .expect("the item")
        .department
        .clone();

    let before = store::micros(Utc::now());
    let reply = commit(&gw, &window, &filing(&answer.materials_request_id, PAPER)).await;
    let after = Utc::now();
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let recorded: CommitmentRecorded = serde_json::from_slice(&reply.body).expect("recorded");
    assert_eq!(
        reply.header("location"),
        Some(format!("{COMMITMENTS_PATH}/{}", recorded.commitment_id).as_str())
    );
    assert_eq!(
        (
            recorded.item,
            recorded.material.as_str(),
            recorded.status.as_str()
        ),
        (ITEM, PAPER, "pending")
    );
    assert_eq!(recorded.department, department);
    // The plan's replacement rate counts it: provided and committed, of the item's materials.
    gw.gateway.service.kpis.flush().await.expect("flushed");
    let reply = gw.admin(http::Method::GET, "/kpis", None).await;
    let evaluation: wire::admin_api::Evaluation =
        serde_json::from_value(reply.json()).expect("an evaluation");
    let replacement = evaluation
        .rows
        .iter()
        .find(|r| r.metric == "replacement_rate" && r.basis == answer.source)
        .expect("the replacement rate over the item's basis");
    let provided = answer
        .materials
        .iter()
        .filter(|m| m.status == MaterialStatus::Provided)
        .count() as u64;
    assert_eq!(
        (replacement.numerator, replacement.denominator),
        (provided + 1, answer.materials.len() as u64)
    );
    // Due `commitments.check_days` (20 by default) after the filing.
    let period = TimeDelta::days(20);
    assert!(
        before + period <= recorded.deadline && recorded.deadline <= after + period,
        "{} not within {before} .. {after} + 20 days",
        recorded.deadline
    );

    // Durable and in the department's queue, with the applicant as the answer named them.
    let path = format!("/commitments/{}", recorded.commitment_id);
    let stored = detail(&gw.admin(Method::GET, &path, None).await);
    assert_eq!(
        stored.commitment.materials_request_id,
        answer.materials_request_id
    );
    assert_eq!(stored.commitment.venue, "jinan-lixia-hall-window-1");
    assert_eq!(stored.commitment.text_version, "2026-01");
    assert_eq!(stored.commitment.status, CommitmentStatus::Pending);
    assert!(!stored.commitment.overdue);
    let audit = gw
        .admin(
            Method::GET,
            &format!("/audit/verifications/{}", answer.materials_request_id),
            None,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text());
    assert_eq!(audit.json()["subject"], json!(stored.commitment.subject));
    assert_eq!(audit.json()["scenario"], json!(format!("item:{ITEM}")));
    let queue = gw
        .admin(
            Method::GET,
            &format!("/commitments?department={department}&open=true"),
            None,
        )
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.text());
    let queue: CommitmentPage = serde_json::from_slice(&queue.body).expect("a page");
    assert!(queue.items.iter().any(|c| c.id == recorded.commitment_id));
    assert_eq!(counts_of(&gw, &department).await.pending, 1);

    // The department's checker claims it; an objection handler may not.
    let handler = gw.add_operator("li.wei", &["objection-handler"]).await;
    let refused = gw
        .admin_as(
            Some(&handler),
            Method::POST,
            "/commitments/claim",
            Some(json!({ "department": department })),
        )
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "admin.forbidden", None);
    let checker = gw.add_operator("wang.fang", &["commitment-checker"]).await;
    let claimed = detail(
        &gw.admin_as(
            Some(&checker),
            Method::POST,
            "/commitments/claim",
            Some(json!({ "department": department })),
        )
        .await,
    );
    assert_eq!(claimed.commitment.id, recorded.commitment_id);
    assert_eq!(claimed.commitment.status, CommitmentStatus::InCheck);
    assert_eq!(claimed.commitment.assignee.as_deref(), Some("wang.fang"));
    let empty = gw
        .admin_as(
            Some(&checker),
            Method::POST,
            "/commitments/claim",
            Some(json!({ "department": department })),
        )
        .await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT, "{}", empty.text());

    // False needs a reason.
    let actions = format!("{path}/actions");
    let no_reason = gw
        .admin_as(
            Some(&checker),
            Method::POST,
            &actions,
            Some(json!({ "action": "mark_false", "reason": "  " })),
        )
        .await;
    no_reason.assert_problem(StatusCode::BAD_REQUEST, "request.malformed", None);
    let resolved = detail(
        &gw.admin_as(
            Some(&checker),
            Method::POST,
            &actions,
            Some(
                json!({ "action": "mark_false", "reason": "no lease registered at that address" }),
            ),
        )
        .await,
    );
    assert_eq!(resolved.commitment.status, CommitmentStatus::False);
    let steps: Vec<_> = resolved
        .history
        .iter()
        .map(|e| (e.actor.as_str(), e.from_status, e.to_status))
        .collect();
    assert_eq!(
        steps,
        [
            ("jinan-lixia-hall-window-1", None, CommitmentStatus::Pending),
            (
                "wang.fang",
                Some(CommitmentStatus::Pending),
                CommitmentStatus::InCheck
            ),
            (
                "wang.fang",
                Some(CommitmentStatus::InCheck),
                CommitmentStatus::False
            ),
        ]
    );
    assert_eq!(
        resolved.history[2].note,
        "no lease registered at that address"
    );
    let again = gw
        .admin_as(
            Some(&checker),
            Method::POST,
            &actions,
            Some(json!({ "action": "confirm" })),
        )
        .await;
    again.assert_problem(StatusCode::CONFLICT, "resource.conflict", None);
    let counts = counts_of(&gw, &department).await;
    assert_eq!(
        (counts.pending, counts.in_check, counts.found_false),
        (0, 0, 1)
    );
    let metrics = request(
        &gw.client,
        Method::GET,
        &format!(
            "http://{}/metrics",
            gw.gateway.admin_addr.expect("an admin listener")
        ),
        &[],
        None,
    )
    .await
    .text();
    assert!(
        metrics.contains(&format!(
            "mz_commitments_total{{department=\"{department}\",outcome=\"false\"}} 1"
        )),
        "{metrics}"
    );

    // A second applicant's commitment, confirmed straight from the queue: taken into check by
    // the one who confirms it.
    let second = materials(
        &gw,
        &window,
        &Holder::new("e2e-commitment-applicant-2", HolderKind::Person),
    )
    .await;
    let reply = commit(&gw, &window, &filing(&second.materials_request_id, PAPER)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let recorded: CommitmentRecorded = serde_json::from_slice(&reply.body).expect("recorded");
    let confirmed = detail(
        &gw.admin_as(
            Some(&checker),
            Method::POST,
            &format!("/commitments/{}/actions", recorded.commitment_id),
            Some(json!({ "action": "confirm", "note": "lease registered" })),
        )
        .await,
    );
    assert_eq!(confirmed.commitment.status, CommitmentStatus::Confirmed);
    assert_eq!(confirmed.history.len(), 3, "{:?}", confirmed.history);
    assert_eq!(counts_of(&gw, &department).await.confirmed, 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_is_wrong() {
    let gw = TestGateway::start().await;
    let window = service_window(&gw, "jinan-lixia-hall-window-2").await;
    let other_window = service_window(&gw, "qingdao-shinan-hall-window-1").await;
    let applicant = Holder::new("e2e-commitment-applicant-3", HolderKind::Person);
    let answer = materials(&gw, &window, &applicant).await;
    let request = answer.materials_request_id.as_str();

    // 404: no such answer, and another window's answer alike.
    commit(&gw, &window, &filing("m-0000000000000000", PAPER))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);
    let foreign = commit(&gw, &other_window, &filing(request, PAPER)).await;
    foreign.assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);
    assert!(!foreign.text().contains(&applicant.handle));

    // 403: a venue that is not a service window.
    commit(
        &gw,
        &venue_key("park-entry-senior"),
        &filing(request, PAPER),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "venue.not_service_window", None);

    // 422: a material the answer did not allow a commitment for, or did not name.
    let not_allowed = commit(&gw, &window, &filing(request, NO_COMMITMENT)).await;
    not_allowed.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "commitment.not_allowed",
        None,
    );
    commit(&gw, &window, &filing(request, "marriage-certificate"))
        .await
        .assert_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "commitment.unknown_material",
            None,
        );

    // 400: the body.
    for body in [
        json!({ "materials_request_id": request, "material": PAPER, "text_version": "v 1" }),
        json!({ "materials_request_id": request, "material": PAPER, "text_version": "" }),
        json!({ "materials_request_id": request, "material": PAPER,
                "text_version": "v".repeat(33) }),
        json!({ "materials_request_id": request, "material": PAPER }),
        json!({ "materials_request_id": request, "material": PAPER, "text_version": "1",
                "signature": "x" }),
    ] {
        commit(&gw, &window, &body).await.assert_problem(
            StatusCode::BAD_REQUEST,
            "request.malformed",
            None,
        );
    }

    // None of those was recorded; the first good one is, and a second is 409.
    let reply = commit(&gw, &window, &filing(request, PAPER)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    commit(&gw, &window, &filing(request, PAPER))
        .await
        .assert_problem(StatusCode::CONFLICT, "commitment.exists", None);
    let all = gw.admin(Method::GET, "/commitments", None).await;
    let all: CommitmentPage = serde_json::from_slice(&all.body).expect("a page");
    assert_eq!(all.items.len(), 1, "{:?}", all.items);

    // Without credentials, 401; another method, 405.
    request_without_key(&gw).await;
    gw.stop().await;
}

async fn request_without_key(gw: &TestGateway) {
    let reply = request(
        &gw.client,
        Method::POST,
        &gw.public_url(COMMITMENTS_PATH),
        &[],
        Some(&filing("m-1", PAPER)),
    )
    .await;
    reply.assert_problem(StatusCode::UNAUTHORIZED, "venue.missing_credentials", None);
    let reply = request(
        &gw.client,
        Method::GET,
        &gw.public_url(COMMITMENTS_PATH),
        &[],
        None,
    )
    .await;
    reply.assert_problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "request.method_not_allowed",
        None,
    );
}
