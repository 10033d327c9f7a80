//! Objections ("the record is wrong"), "who checked me", and the gateway's admin API, end to
//! end over loopback: holders and venues file, operators work the department queues, a
//! "corrected" resolution drops cached answers and tells the department's backend, holders read
//! their own verifications with a fresh code, operators register and manage venues, and the
//! snapshot feed counts what happened.

use std::time::Duration;

use chrono::Utc;
use gateway::demo::operator::DEMO_OPERATOR;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{catalogue, new_queries, patiently, venue_key, Holder, TestGateway};
use wire::admin_api::{ObjectionDetail, ObjectionPage, ObjectionStatus, Snapshot, VenueKeyIssued};
use wire::api::{HolderAccesses, ObjectionFiled, Verdict};

/// The one-requirement scenario most tests use, its certificate, and the demo venue's id.
const SCENARIO: &str = "park-entry-senior";
const CERTIFICATE: &str = "senior-citizen-card";
const VENUE: &str = "jinan-baotu-spring-park";
/// Its registered name (`config/venues.toml`).
const VENUE_NAME: &str = "趵突泉公园南门";

/// The issuing department of `certificate` and its objection deadline in hours.
fn department_of(certificate: &str) -> (String, u32) {
    let c = catalogue()
        .certificate(certificate)
        .unwrap_or_else(|| panic!("`{certificate}` is in the catalogue"));
    let id = c
        .departments
        .first()
        .expect("an issuing department")
        .clone();
    let d = catalogue().department(&id).expect("the department exists");
    (id, d.objection_sla_hours)
}

fn holder_filing(code: &str, certificate: &str, description: &str) -> Value {
    json!({
        "code": code,
        "certificate": certificate,
        "channel": "app",
        "description": description,
    })
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Files a holder objection about `certificate` with a fresh code of `holder` (201 expected).
async fn file_as_holder(gw: &TestGateway, holder: &Holder, certificate: &str) -> ObjectionFiled {
    let reply = gw
        .file_objection(
            None,
            &holder_filing(
                &holder.own_code().mint(),
                certificate,
                "the record is wrong",
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("an ObjectionFiled")
}

fn detail(reply: &testkit::Reply) -> ObjectionDetail {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not an objection detail ({e}): {}", reply.text()))
}

async fn act(gw: &TestGateway, id: &str, action: Value) -> testkit::Reply {
    gw.admin(
        Method::POST,
        &format!("/objections/{id}/actions"),
        Some(action),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_files_with_a_fresh_code_routed_to_the_issuing_department() {
    let gw = TestGateway::start().await;
    let holder = Holder::passing(SCENARIO);
    let (department, sla_hours) = department_of(CERTIFICATE);

    let code = holder.own_code().mint();
    // A filing refused for its form does not spend the holder's code.
    let mut malformed = holder_filing(&code, CERTIFICATE, "wrong channel");
    malformed["channel"] = json!("fax");
    gw.file_objection(None, &malformed).await.assert_problem(
        StatusCode::BAD_REQUEST,
        "request.malformed",
        None,
    );
    let before = Utc::now();
    let reply = gw
        .file_objection(
            None,
            &holder_filing(&code, CERTIFICATE, "my card number is wrong"),
        )
        .await;
    let after = Utc::now();
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let filed: ObjectionFiled = serde_json::from_slice(&reply.body).expect("an ObjectionFiled");
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/objections/{}", filed.objection_id).as_str())
    );
    assert_eq!(filed.department, department);
    assert_eq!(filed.certificate, CERTIFICATE);
    assert_eq!(filed.status, "open");
    let sla = chrono::Duration::hours(i64::from(sla_hours));
    let slack = chrono::Duration::minutes(1);
    assert!(
        filed.deadline >= before + sla - slack && filed.deadline <= after + sla + slack,
        "deadline {} is not filing time + {sla_hours} h",
        filed.deadline
    );

    // Durable: in the store, filed by the holder, about them.
    let store = gw.gateway.service.registry.store().clone();
    let (objection, history) = store
        .objection(&filed.objection_id)
        .await
        .expect("read the objection")
        .expect("the objection is stored");
    assert_eq!(objection.filed_by.as_str(), "holder");
    assert_eq!(objection.filer, "holder");
    assert_eq!(objection.department, department);
    assert_eq!(objection.certificate, CERTIFICATE);
    assert_eq!(objection.description, "my card number is wrong");
    assert_eq!(
        objection.subject_hash,
        gw.gateway.service.subjects.hash(&holder.handle)
    );
    assert_eq!(
        history.len(),
        1,
        "the filing is the first event: {history:?}"
    );

    // The code is spent.
    let again = gw
        .file_objection(None, &holder_filing(&code, CERTIFICATE, "once more"))
        .await;
    again.assert_problem(StatusCode::CONFLICT, "code.replayed", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_files_for_its_own_verification_and_bad_filings_are_refused() {
    let gw = TestGateway::start().await;
    let holder = Holder::passing(SCENARIO);
    let answer = gw.verify_holder(&holder, SCENARIO).await;
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    let own_key = bearer(&venue_key(SCENARIO));

    // The certificate is inferred: the scenario has one requirement.
    let reply = gw
        .file_objection(
            Some(&own_key),
            &json!({ "verification_id": answer.verification_id, "channel": "hall",
                     "description": "the holder says the card was renewed" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let filed: ObjectionFiled = serde_json::from_slice(&reply.body).expect("an ObjectionFiled");
    assert_eq!(filed.certificate, CERTIFICATE);
    assert_eq!(filed.department, department_of(CERTIFICATE).0);
    let store = gw.gateway.service.registry.store().clone();
    let (objection, _) = store
        .objection(&filed.objection_id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(objection.filed_by.as_str(), "venue");
    assert_eq!(objection.filer, VENUE);
    assert_eq!(
        objection.verification_id.as_deref(),
        Some(answer.verification_id.as_str())
    );

    // Another venue cannot name it: to them it does not exist.
    let other_key = bearer(&venue_key("hotel-check-in"));
    gw.file_objection(
        Some(&other_key),
        &json!({ "verification_id": answer.verification_id, "channel": "hall",
                 "description": "not ours" }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);

    // An unknown certificate type.
    gw.file_objection(
        None,
        &holder_filing(&holder.own_code().mint(), "no-such-certificate", "wrong"),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);

    // A verification of several certificates needs `certificate`.
    let scenario = testkit::scenario("traffic-stop-check");
    assert!(scenario.requirements.len() > 1);
    let driver = Holder::find(scenario, "e2e-obj-traffic-", 1, |_, _| true)
        .pop()
        .expect("a driver");
    let traffic = gw.verify_holder(&driver, "traffic-stop-check").await;
    let traffic_key = bearer(&venue_key("traffic-stop-check"));
    gw.file_objection(
        Some(&traffic_key),
        &json!({ "verification_id": traffic.verification_id, "channel": "hall",
                 "description": "which one?" }),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "request.unprocessable",
        None,
    );
    // … and with it, it is filed with that certificate's department.
    let named = gw
        .file_objection(
            Some(&traffic_key),
            &json!({ "verification_id": traffic.verification_id, "channel": "hall",
                     "certificate": "vehicle-licence", "description": "the plate is wrong" }),
        )
        .await;
    assert_eq!(named.status, StatusCode::CREATED, "{}", named.text());
    let named: ObjectionFiled = serde_json::from_slice(&named.body).expect("an ObjectionFiled");
    assert_eq!(named.certificate, "vehicle-licence");
    assert_eq!(named.department, department_of("vehicle-licence").0);

    // Malformed filings.
    for (what, body) in [
        (
            "empty description",
            holder_filing(&holder.own_code().mint(), CERTIFICATE, "   "),
        ),
        (
            "bad channel",
            json!({ "code": holder.own_code().mint(), "certificate": CERTIFICATE,
                    "channel": "carrier-pigeon", "description": "wrong" }),
        ),
        (
            "unknown field",
            json!({ "code": holder.own_code().mint(), "certificate": CERTIFICATE,
                    "channel": "app", "description": "wrong", "urgent": true }),
        ),
    ] {
        let reply = gw.file_objection(None, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            reply.text()
        );
        reply.assert_problem(StatusCode::BAD_REQUEST, "request.malformed", None);
    }

    // Neither a code nor a key.
    gw.file_objection(
        None,
        &json!({ "certificate": CERTIFICATE, "channel": "app", "description": "wrong" }),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "holder.missing_code", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_work_the_department_queue_through_the_admin_api() {
    let gw = TestGateway::start().await;
    let holder = Holder::passing(SCENARIO);
    let (department, _) = department_of(CERTIFICATE);

    // No token, a wrong token.
    gw.admin_as(None, Method::GET, "/objections", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "admin.unauthorized", None);
    gw.admin_as(Some("not-the-token"), Method::GET, "/objections", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "admin.unauthorized", None);

    // Four objections for the health department, one for public security.
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(file_as_holder(&gw, &holder, CERTIFICATE).await.objection_id);
    }
    let elsewhere = file_as_holder(&gw, &holder, "driving-licence").await;
    assert_ne!(elsewhere.department, department);

    // Listed by department.
    let reply = gw
        .admin(
            Method::GET,
            &format!("/objections?department={department}"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let page: ObjectionPage = serde_json::from_slice(&reply.body).expect("a page");
    let mut listed: Vec<_> = page.items.iter().map(|o| o.id.clone()).collect();
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected, "only this department's objections");
    assert!(page.items.iter().all(|o| o.department == department
        && o.status == ObjectionStatus::Open
        && o.filed_by == "holder"
        && !o.overdue));

    // Detail with its history.
    let d = detail(
        &gw.admin(Method::GET, &format!("/objections/{}", ids[0]), None)
            .await,
    );
    assert_eq!(d.objection.id, ids[0]);
    assert_eq!(d.history.len(), 1);
    assert_eq!(d.history[0].to_status, ObjectionStatus::Open);
    assert_eq!(d.history[0].from_status, None);
    gw.admin(Method::GET, "/objections/obj-does-not-exist", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);

    // Assign: in review with the assignee.
    let d = detail(
        &act(
            &gw,
            &ids[0],
            json!({ "action": "assign", "actor": "lead", "assignee": "wang" }),
        )
        .await,
    );
    assert_eq!(d.objection.status, ObjectionStatus::InReview);
    assert_eq!(d.objection.assignee.as_deref(), Some("wang"));
    assert_eq!(d.history.len(), 2);
    // The signed-in operator acts, whatever the body says.
    assert_eq!(d.history[1].actor, DEMO_OPERATOR);

    // Reject needs a reason.
    let reply = act(&gw, &ids[1], json!({ "action": "reject", "actor": "wang" })).await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "request.malformed", None);
    act(
        &gw,
        &ids[1],
        json!({ "action": "reject", "actor": "wang", "reason": "  " }),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "request.malformed", None);

    // Resolve upheld; a closed one cannot be resolved again.
    let d = detail(
        &act(
            &gw,
            &ids[0],
            json!({ "action": "resolve_upheld", "actor": "wang", "note": "the record is right" }),
        )
        .await,
    );
    assert_eq!(d.objection.status, ObjectionStatus::ResolvedUpheld);
    assert_eq!(
        d.history.last().map(|e| e.note.as_str()),
        Some("the record is right")
    );
    for again in [
        json!({ "action": "resolve_upheld", "actor": "wang", "note": "again" }),
        json!({ "action": "resolve_corrected", "actor": "wang", "note": "again" }),
        json!({ "action": "reject", "actor": "wang", "reason": "again" }),
    ] {
        act(&gw, &ids[0], again).await.assert_problem(
            StatusCode::CONFLICT,
            "resource.conflict",
            None,
        );
    }

    // Claim: oldest deadline first among the open ones (same department, so filing order).
    let claim = json!({ "department": department, "actor": "li" });
    let mut claimed = Vec::new();
    for _ in 0..3 {
        let d = detail(
            &gw.admin(Method::POST, "/objections/claim", Some(claim.clone()))
                .await,
        );
        assert_eq!(d.objection.status, ObjectionStatus::InReview);
        assert_eq!(d.objection.assignee.as_deref(), Some(DEMO_OPERATOR));
        claimed.push(d.objection.id);
    }
    assert_eq!(
        claimed,
        ids[1..].to_vec(),
        "oldest deadline first, each once"
    );
    let empty = gw
        .admin(Method::POST, "/objections/claim", Some(claim))
        .await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT, "{}", empty.text());

    // Unknown department.
    gw.admin(
        Method::POST,
        "/objections/claim",
        Some(json!({ "department": "no-such-department", "actor": "li" })),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_resolution_drops_the_cache_and_tells_the_department() {
    let gw = TestGateway::start().await;
    let holder = Holder::passing(SCENARIO);

    // Warm the cache: the second verification asks no department.
    let first = gw.verify_holder(&holder, SCENARIO).await;
    assert_eq!(first.verdict, Verdict::Pass, "{first:?}");
    let before = gw.upstream_queries().await;
    let second = gw.verify_holder(&holder, SCENARIO).await;
    assert_eq!(second.verdict, Verdict::Pass, "{second:?}");
    let after = gw.upstream_queries().await;
    assert_eq!(
        new_queries(&before, &after),
        Default::default(),
        "the second verification is answered from the cache"
    );

    // The holder objects; the operator resolves it corrected with the new value.
    let filed = file_as_holder(&gw, &holder, CERTIFICATE).await;
    let corrected_number = format!("SC-E2E-{:08x}", rand::random::<u32>());
    let d = detail(
        &act(
            &gw,
            &filed.objection_id,
            json!({ "action": "resolve_corrected", "actor": "zhao",
                    "note": "the card number was mistyped",
                    "correction": { "field": "card_number",
                                    "value": { "text": corrected_number } } }),
        )
        .await,
    );
    assert_eq!(d.objection.status, ObjectionStatus::ResolvedCorrected);
    let notes: Vec<_> = d
        .history
        .iter()
        .filter(|e| e.actor == "gateway")
        .map(|e| e.note.clone())
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "one note of what the gateway did: {:?}",
        d.history
    );
    assert!(notes[0].contains("cached answers dropped"), "{}", notes[0]);
    assert!(notes[0].contains("department backend told"), "{}", notes[0]);

    // The department's backend has the correction.
    let reply = gw.issuer_admin(Method::GET, "/admin/overrides", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let overrides = reply.json();
    let entry = overrides["overrides"]
        .as_array()
        .expect("a list of overrides")
        .iter()
        .find(|o| o["subject"] == holder.handle.as_str() && o["certificate"] == CERTIFICATE)
        .unwrap_or_else(|| panic!("the correction is listed: {overrides}"))
        .clone();
    assert_eq!(
        entry["corrections"]["card_number"],
        json!({ "text": corrected_number }),
        "{entry}"
    );

    // The next verification asks the department again.
    let before = gw.upstream_queries().await;
    let third = gw.verify_holder(&holder, SCENARIO).await;
    assert_eq!(third.verdict, Verdict::Pass, "{third:?}");
    let after = gw.upstream_queries().await;
    assert!(
        !new_queries(&before, &after).is_empty(),
        "the cached answer was dropped: the department is asked again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_read_their_own_verifications_newest_first_with_a_fresh_code() {
    let gw = TestGateway::start().await;
    let candidates = Holder::find(testkit::scenario(SCENARIO), "e2e-acc-", 2, |_, e| {
        e.verdict == Verdict::Pass
    });
    let [h, other] = <[Holder; 2]>::try_from(candidates).expect("two passing holders");

    let mut ids = Vec::new();
    for _ in 0..3 {
        let answer = gw.verify_holder(&h, SCENARIO).await;
        ids.push(answer.verification_id);
    }
    let other_answer = gw.verify_holder(&other, SCENARIO).await;

    let reply = gw
        .holder_accesses(Some(&h.own_code().mint()), "?limit=2")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let page: HolderAccesses = serde_json::from_slice(&reply.body).expect("a page");
    let got: Vec<_> = page
        .items
        .iter()
        .map(|a| a.verification_id.clone())
        .collect();
    assert_eq!(got, vec![ids[2].clone(), ids[1].clone()], "newest first");
    for access in &page.items {
        assert_eq!(access.venue_id, VENUE);
        assert_eq!(access.venue_name, VENUE_NAME);
        assert_eq!(access.scenario, SCENARIO);
        assert_eq!(access.verdict, "pass");
        assert_eq!(access.certificates, vec![CERTIFICATE.to_string()]);
    }
    let next = page.next.expect("a next page");

    let reply = gw
        .holder_accesses(
            Some(&h.own_code().mint()),
            &format!("?limit=2&before={next}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let page: HolderAccesses = serde_json::from_slice(&reply.body).expect("a page");
    let got: Vec<_> = page
        .items
        .iter()
        .map(|a| a.verification_id.clone())
        .collect();
    assert_eq!(got, vec![ids[0].clone()]);
    assert_eq!(page.next, None, "the last page");

    // The other holder sees only theirs.
    let reply = gw.holder_accesses(Some(&other.own_code().mint()), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let page: HolderAccesses = serde_json::from_slice(&reply.body).expect("a page");
    let got: Vec<_> = page
        .items
        .iter()
        .map(|a| a.verification_id.clone())
        .collect();
    assert_eq!(got, vec![other_answer.verification_id]);
    assert_eq!(page.next, None);

    // No code; a spent code.
    gw.holder_accesses(None, "").await.assert_problem(
        StatusCode::UNAUTHORIZED,
        "holder.missing_code",
        None,
    );
    let code = h.own_code().mint();
    let reply = gw.holder_accesses(Some(&code), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    gw.holder_accesses(Some(&code), "").await.assert_problem(
        StatusCode::CONFLICT,
        "code.replayed",
        None,
    );
}

/// Codes are bound to their purpose: a code made for a venue (the one the venue scanned, or a
/// photograph of it) opens neither "who checked me" nor a holder's filing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_made_for_a_venue_opens_no_holder_route() {
    let gw = TestGateway::start().await;
    let holder = Holder::passing(SCENARIO);
    let scanned = holder.code().mint();
    gw.holder_accesses(Some(&scanned), "").await.assert_problem(
        StatusCode::FORBIDDEN,
        "code.wrong_purpose",
        None,
    );
    gw.file_objection(None, &holder_filing(&scanned, CERTIFICATE, "not mine"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "code.wrong_purpose", None);
    // Refused for its purpose, it was not spent: a venue may still verify with it.
    let answer = gw.verify(&scanned, SCENARIO).await.verdict();
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    // And a venue filing shows the code it scanned, a presentation code: accepted.
    let filed = gw
        .file_objection(
            Some(&bearer(&venue_key(SCENARIO))),
            &json!({ "verification_id": answer.verification_id, "code": scanned,
                     "channel": "hall", "description": "the holder disputes it" }),
        )
        .await;
    assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.text());
}

/// The holder's routes are rate-limited per holder and per client address: past the burst
/// (two seconds' worth of the rate) the answer is 429 `holder.rate_limited` with
/// `Retry-After`, and the refused request spends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_routes_are_rate_limited_per_holder_and_per_address() {
    let gw = TestGateway::start_with(|c| {
        c.limits.holder_per_subject_per_sec = 1;
        c.limits.holder_per_address_per_sec = 1000;
    })
    .await;
    let candidates = Holder::find(testkit::scenario(SCENARIO), "e2e-lim-", 2, |_, e| {
        e.verdict == Verdict::Pass
    });
    let [one, other] = <[Holder; 2]>::try_from(candidates).expect("two passing holders");
    // Back to back, the holder's requests soon outrun one a second and the burst of two: one
    // is refused (the loop only needs each request to take under a second).
    let mut passed = 0;
    let mut refused_code = None;
    for _ in 0..50 {
        let code = one.own_code().mint();
        let reply = gw.holder_accesses(Some(&code), "").await;
        if reply.status == StatusCode::OK {
            passed += 1;
            continue;
        }
        reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "holder.rate_limited", None);
        assert!(reply.header("retry-after").is_some(), "{}", reply.text());
        refused_code = Some(code);
        break;
    }
    assert!(passed >= 2, "the burst of two passes first");
    // Another holder from the same address is not held back by the first one's limit.
    let reply = gw.holder_accesses(Some(&other.own_code().mint()), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // The refused code was not spent: once the bucket refills, it works.
    let refused_code = refused_code.expect("one request was refused");
    patiently("the holder's bucket refills", async {
        loop {
            let reply = gw.holder_accesses(Some(&refused_code), "").await;
            if reply.status == StatusCode::OK {
                return;
            }
            reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "holder.rate_limited", None);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;

    // Per address: a gateway allowing one request a second from an address refuses the
    // third in a row, whoever the holders are.
    let gw = TestGateway::start_with(|c| {
        c.limits.holder_per_subject_per_sec = 1000;
        c.limits.holder_per_address_per_sec = 1;
    })
    .await;
    let holders = [&one, &other];
    let mut refused = false;
    for i in 0..50 {
        let reply = gw
            .holder_accesses(Some(&holders[i % 2].own_code().mint()), "")
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "holder.rate_limited", None);
            assert!(i >= 2, "the address's burst of two passes first");
            refused = true;
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    assert!(
        refused,
        "one address's requests are limited, whoever the holders are"
    );
}

/// A code is spent when, and only when, its use is committed: a holder's filing refused after
/// the code was checked (it names a verification that does not exist) leaves the code unspent,
/// and the corrected filing with the same code is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filing_that_is_not_stored_does_not_spend_the_code() {
    let gw = TestGateway::start().await;
    let holder = Holder::passing(SCENARIO);
    let code = holder.own_code().mint();
    gw.file_objection(
        None,
        &json!({ "code": code, "verification_id": "v-00000000000000000000000000000000",
                 "channel": "app", "description": "that check" }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);
    let reply = gw
        .file_objection(
            None,
            &holder_filing(&code, CERTIFICATE, "the record is wrong"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    gw.file_objection(None, &holder_filing(&code, CERTIFICATE, "again"))
        .await
        .assert_problem(StatusCode::CONFLICT, "code.replayed", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_register_rotate_disable_and_enable_venues() {
    let gw = TestGateway::start().await;
    let holder = Holder::passing(SCENARIO);
    let id = "e2e-registered-park";
    let registration = json!({ "id": id, "name": "E2E Park", "city": 370100,
                               "scenarios": [SCENARIO], "rate_per_sec": 50 });

    let reply = gw
        .admin(Method::POST, "/venues", Some(registration.clone()))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let issued: VenueKeyIssued = serde_json::from_slice(&reply.body).expect("a key");
    assert_eq!(issued.venue.id, id);
    assert_eq!(issued.venue.scenarios, vec![SCENARIO.to_string()]);
    assert!(!issued.venue.disabled);
    assert!(!issued.key.is_empty());
    let first_key = issued.key;

    let verify = |key: String| {
        let holder = holder.clone();
        let gw = &gw;
        async move {
            let rid = format!("e2e-venue-{:016x}", rand::random::<u64>());
            gw.verify_as(&key, &holder.code().mint(), SCENARIO, &rid)
                .await
        }
    };
    let answer = verify(first_key.clone()).await.verdict();
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");

    // Listed (never with its key).
    let reply = gw.admin(Method::GET, "/venues", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(!reply.text().contains(&first_key), "keys are never listed");
    let venues = reply.json();
    assert!(
        venues
            .as_array()
            .expect("a list")
            .iter()
            .any(|v| v["id"] == id && v["name"] == "E2E Park"),
        "{venues}"
    );

    // Rotate: the old key is unknown, the new one works.
    let reply = gw
        .admin(Method::POST, &format!("/venues/{id}/rotate"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let rotated: VenueKeyIssued = serde_json::from_slice(&reply.body).expect("a key");
    assert_ne!(rotated.key, first_key);
    verify(first_key.clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "venue.unknown", None);
    let answer = verify(rotated.key.clone()).await.verdict();
    assert_eq!(answer.verdict, Verdict::Pass);

    // Disable, enable.
    let reply = gw
        .admin(Method::POST, &format!("/venues/{id}/disable"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["disabled"], true);
    verify(rotated.key.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "venue.disabled", None);
    let reply = gw
        .admin(Method::POST, &format!("/venues/{id}/enable"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["disabled"], false);
    let answer = verify(rotated.key.clone()).await.verdict();
    assert_eq!(answer.verdict, Verdict::Pass);

    // A bad registration lists every problem.
    let reply = gw
        .admin(
            Method::POST,
            "/venues",
            Some(
                json!({ "id": "e2e-bad-venue", "name": "Bad", "city": 999999,
                         "scenarios": ["no-such-scenario"], "rate_per_sec": 5 }),
            ),
        )
        .await;
    reply.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "request.unprocessable",
        None,
    );
    let problem = reply.json();
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(detail.contains("999999"), "{detail}");
    assert!(detail.contains("no-such-scenario"), "{detail}");

    // A duplicate id.
    gw.admin(Method::POST, "/venues", Some(registration.clone()))
        .await
        .assert_problem(StatusCode::CONFLICT, "resource.conflict", None);
    // Unknown venue.
    gw.admin(Method::POST, "/venues/e2e-no-such-venue/rotate", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);

    // Delete: the key is unknown at once, the venue is no longer listed, a second delete
    // finds nothing, and the id may be registered again.
    let reply = gw
        .admin(Method::DELETE, &format!("/venues/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    verify(rotated.key.clone()).await.assert_problem(
        StatusCode::UNAUTHORIZED,
        "venue.unknown",
        None,
    );
    let listed = gw.admin(Method::GET, "/venues", None).await.json();
    assert!(
        !listed
            .as_array()
            .expect("a list")
            .iter()
            .any(|v| v["id"] == id),
        "{listed}"
    );
    gw.admin(Method::DELETE, &format!("/venues/{id}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "resource.not_found", None);
    let reply = gw.admin(Method::POST, "/venues", Some(registration)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

/// Long-polls snapshots until `done` holds for one (bounded to ~10 s of polls).
async fn snapshot_until(
    gw: &TestGateway,
    what: &str,
    mut done: impl FnMut(&Snapshot) -> bool,
) -> Snapshot {
    let reply = gw.admin(Method::GET, "/snapshot", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let mut snapshot: Snapshot = serde_json::from_slice(&reply.body).expect("a snapshot");
    patiently(what, async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if done(&snapshot) {
                return snapshot;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not seen in the snapshots; last: {snapshot:?}"
            );
            let reply = gw
                .admin(
                    Method::GET,
                    &format!("/snapshot?after={}", snapshot.generation),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            let next: Snapshot = serde_json::from_slice(&reply.body).expect("a snapshot");
            assert!(
                next.generation >= snapshot.generation,
                "generations never go back"
            );
            snapshot = next;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_feed_counts_verifications_and_objections() {
    let gw = TestGateway::start().await;
    let reply = gw.admin(Method::GET, "/snapshot", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let first: Snapshot = serde_json::from_slice(&reply.body).expect("a Snapshot");
    gw.admin(Method::GET, "/snapshot?after=soon", None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "request.malformed", None);

    let holder = Holder::passing(SCENARIO);
    for _ in 0..3 {
        let answer = gw.verify_holder(&holder, SCENARIO).await;
        assert_eq!(answer.verdict, Verdict::Pass);
    }
    let filed = file_as_holder(&gw, &holder, CERTIFICATE).await;

    // The next generation after the first one that saw nothing yet.
    let reply = gw
        .admin(
            Method::GET,
            &format!("/snapshot?after={}", first.generation),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let newer: Snapshot = serde_json::from_slice(&reply.body).expect("a Snapshot");
    assert!(newer.generation > first.generation, "a newer snapshot");
    assert!(newer.at >= first.at);

    let seen = snapshot_until(&gw, "three passes and the objection", |s| {
        s.traffic.totals.pass >= 3
            && s.objections
                .by_department
                .iter()
                .any(|d| d.department == filed.department && d.open >= 1)
    })
    .await;
    assert_eq!(seen.traffic.totals.pass, 3, "{:?}", seen.traffic);
    assert_eq!(seen.traffic.totals.fail, 0);
    let health = seen
        .objections
        .by_department
        .iter()
        .find(|d| d.department == filed.department)
        .expect("the department with the objection");
    assert_eq!(
        (
            health.open,
            health.in_review,
            health.resolved,
            health.rejected,
            health.overdue
        ),
        (1, 0, 0, 0, 0)
    );
    assert!(
        seen.objections
            .by_department
            .iter()
            .all(|d| d.department == filed.department),
        "only departments with objections: {:?}",
        seen.objections
    );
}
