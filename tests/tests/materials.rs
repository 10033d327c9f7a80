//! `POST /v1/materials` (免证办) end to end: a service window pulls a service item's materials
//! from the embedded departments with the applicant's code; each material's status and the
//! fields it fills are checked against the population's records, judged the way the verify path
//! judges a requirement.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use http::StatusCode;
use rand::seq::SliceRandom as _;
use rand::SeedableRng as _;
use serde_json::json;
use testkit::{
    catalogue, population, rollout_plan, service_window_key, today, Holder, TestGateway,
};
use wire::admin_api::Stage;
use wire::api::Verdict;
use wire::catalogue::model::{HolderKind, Requirement, ServiceItem, Supply};
use wire::issuer_api::backend_name;
use wire::materials_api::{MaterialStatus, MaterialsResponse};

/// What the gateway should answer for `holder`'s materials of `item`: per material, its status
/// and, for a provided one, the form's fields from the holder's record.
fn expected(
    item: &ServiceItem,
    holder: &Holder,
) -> Vec<(String, MaterialStatus, BTreeMap<String, String>)> {
    static REQUIREMENTS: OnceLock<HashMap<u32, Vec<Requirement>>> = OnceLock::new();
    let requirements =
        REQUIREMENTS.get_or_init(|| gateway::materials::pull::requirements(catalogue()));
    let mut requirements = requirements[&item.no].iter();
    let day = today();
    item.materials
        .iter()
        .map(|material| {
            let not_provided = if material.commitment {
                MaterialStatus::CommitmentAllowed
            } else {
                MaterialStatus::MustPresent
            };
            let Supply::Certificate(code) = &material.supply else {
                return (material.id().to_owned(), not_provided, BTreeMap::new());
            };
            let requirement = requirements
                .next()
                .expect("a requirement per certificate material");
            if !live(code, holder.city) {
                return (code.clone(), not_provided, BTreeMap::new());
            }
            let record = holder.record(code);
            let answer = gateway::verify::fetch::Answer::Record {
                record: std::sync::Arc::new(record.clone()),
                stale: false,
            };
            match gateway::verify::decide::requirement(requirement, &answer, day).verdict {
                Verdict::Pass => {
                    let fields = material
                        .fields
                        .iter()
                        .filter_map(|name| Some((name.clone(), record.value_in_full(name)?)))
                        .collect();
                    (code.clone(), MaterialStatus::Provided, fields)
                }
                _ => (code.clone(), not_provided, BTreeMap::new()),
            }
        })
        .collect()
}

/// Whether the rollout plan has `certificate` live in `city` today: only then is it asked.
fn live(certificate: &str, city: wire::catalogue::model::CityCode) -> bool {
    let plan = rollout_plan();
    match (plan.certificate_index(certificate), plan.city_index(city)) {
        (Some(c), Some(y)) => plan.stage_on(c, y, today()).stage == Stage::Live,
        _ => true,
    }
}

fn got(answer: &MaterialsResponse) -> Vec<(String, MaterialStatus, BTreeMap<String, String>)> {
    answer
        .materials
        .iter()
        .map(|m| (m.material.clone(), m.status, m.fields.clone()))
        .collect()
}

/// A holder of `item`'s applicant kind, from handles `{prefix}0`, `{prefix}1`, …, for whom at
/// least one certificate material is provided (so the sample shows pulled data, not only
/// refusals), if one is found among the first hundred.
fn applicant(item: &ServiceItem, prefix: &str) -> Holder {
    let kind = item.applicant.expect("a legible item");
    let handles = population().find_handles(prefix, 1, |handle| {
        let holder = Holder::new(handle, kind);
        expected(item, &holder)
            .iter()
            .any(|(_, status, _)| *status == MaterialStatus::Provided)
    });
    let handle = handles
        .first()
        .cloned()
        .unwrap_or_else(|| format!("{prefix}0"));
    Holder::new(&handle, kind)
}

async fn ask(
    gw: &TestGateway,
    holder: &Holder,
    item: &ServiceItem,
    scope: &str,
) -> MaterialsResponse {
    let (key, _) = service_window_key();
    let code = holder.code().service_window(&[scope]).mint();
    let reply = gw
        .materials(&key, &json!({ "code": code, "item": item.no }))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "item {}: {}",
        item.no,
        reply.text()
    );
    serde_json::from_value(reply.json()).expect("a materials answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_sample_of_items_from_every_department_is_served_end_to_end() {
    let gw = TestGateway::start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let departments: BTreeSet<&str> = catalogue()
        .service_items()
        .iter()
        .map(|i| i.department.as_str())
        .collect();
    let (mut provided, mut required) = (0, 0);
    for department in &departments {
        let items: Vec<&ServiceItem> = catalogue()
            .service_items()
            .iter()
            .filter(|i| i.department == *department && !i.materials.is_empty())
            .collect();
        let item = items
            .choose(&mut rng)
            .expect("every department has a legible item");
        let holder = applicant(item, &format!("e2e-materials-{}-", item.no));
        // Consent by item for one half, by department for the other.
        let scope = if item.no % 2 == 0 {
            format!("item:{}", item.no)
        } else {
            format!("department:{department}")
        };
        let answer = ask(&gw, &holder, item, &scope).await;
        assert_eq!(answer.item, item.no);
        assert_eq!(answer.source, item.source.as_str());
        assert!(answer.materials_request_id.starts_with("m-"), "{answer:?}");
        assert!(answer.audit_seq.is_some(), "audited: {answer:?}");
        let expected = expected(item, &holder);
        assert_eq!(
            got(&answer),
            expected,
            "item {} for {}",
            item.no,
            holder.handle
        );
        let form = item.form_fields();
        let filled = form
            .iter()
            .filter(|f| {
                expected
                    .iter()
                    .any(|(_, _, fields)| fields.contains_key(**f))
            })
            .count();
        assert_eq!(answer.form.fields as usize, form.len(), "item {}", item.no);
        assert_eq!(answer.form.filled as usize, filled, "item {}", item.no);
        provided += expected
            .iter()
            .filter(|(_, s, _)| *s == MaterialStatus::Provided)
            .count();
        required += expected.len();
    }
    assert!(departments.len() >= 20, "{departments:?}");
    assert!(
        provided >= departments.len(),
        "the sample pulled data: {provided}"
    );

    // The plan's material share rate, measured from these answers (every item so far is
    // `assumed`): provided of required, as the gateway reports it.
    gw.gateway.service.kpis.flush().await.expect("flushed");
    let reply = gw.admin(http::Method::GET, "/kpis", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let evaluation: wire::admin_api::Evaluation =
        serde_json::from_value(reply.json()).expect("an evaluation");
    let row = evaluation
        .rows
        .iter()
        .find(|r| r.metric == "proof_material_share_rate" && r.basis == "assumed")
        .expect("the material share rate over assumed items");
    assert_eq!(
        (row.numerator, row.denominator),
        (provided as u64, required as u64)
    );
}

/// The first item with certificate materials from two departments, the second held at the
/// province: what a department outage is shown on.
fn two_department_item() -> (&'static ServiceItem, String) {
    catalogue()
        .service_items()
        .iter()
        .filter(|i| i.applicant == Some(HolderKind::Person))
        .find_map(|item| {
            let certificates: Vec<&str> = item
                .materials
                .iter()
                .filter_map(|m| m.certificate())
                .collect();
            let [first, second, ..] = certificates[..] else {
                return None;
            };
            let backend = catalogue().backend_for(second, None).ok()?;
            (catalogue().backend_for(first, None).ok()?.department != backend.department)
                .then(|| (item, backend_name(&backend.department, backend.scope)))
        })
        .expect("an item asking two departments")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_down_makes_its_material_unavailable_and_the_rest_is_still_answered() {
    let gw = TestGateway::start().await;
    let (item, broken) = two_department_item();
    let holder = applicant(item, &format!("e2e-materials-down-{}-", item.no));
    gw.set_faults(json!({ "backends": { broken.clone(): { "down": true } } }))
        .await;
    let answer = ask(&gw, &holder, item, &format!("item:{}", item.no)).await;
    for ((material, status, fields), want) in got(&answer).into_iter().zip(expected(item, &holder))
    {
        let at_broken = catalogue()
            .backend_for(&material, Some(holder.city))
            .is_ok_and(|b| backend_name(&b.department, b.scope) == broken);
        if at_broken && live(&material, holder.city) {
            assert_eq!(
                status,
                MaterialStatus::Unavailable,
                "{material} at the broken {broken}"
            );
        } else if !at_broken {
            assert_eq!(
                (material, status, fields),
                want,
                "answered despite {broken}"
            );
        }
    }
    assert!(
        answer
            .materials
            .iter()
            .any(|m| m.status == MaterialStatus::Unavailable
                && m.reason.as_deref() == Some("department_unavailable")),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_specific_problems() {
    let gw = TestGateway::start().await;
    let (key, _) = service_window_key();
    let item = catalogue()
        .service_items()
        .iter()
        .find(|i| i.applicant == Some(HolderKind::Person) && !i.materials.is_empty())
        .expect("a person's item");
    let holder = Holder::new("e2e-materials-bad-0", HolderKind::Person);
    let scope = format!("item:{}", item.no);
    let body = |code: String, no: u32| json!({ "code": code, "item": no });

    // An unknown item: 404 naming it.
    let reply = gw
        .materials(
            &key,
            &body(holder.code().service_window(&["item:9999"]).mint(), 9999),
        )
        .await;
    reply.assert_problem(StatusCode::NOT_FOUND, "item.unknown", None);
    assert!(reply.text().contains("9999"), "{}", reply.text());

    // Consent for another item: 403 scope_not_granted.
    let other = format!("item:{}", item.no + 1);
    let reply = gw
        .materials(
            &key,
            &body(holder.code().service_window(&[&other]).mint(), item.no),
        )
        .await;
    reply.assert_problem(StatusCode::FORBIDDEN, "code.scope_not_granted", None);

    // A code made for a venue's presentation opens no service window.
    let reply = gw
        .materials(&key, &body(holder.code().mint(), item.no))
        .await;
    reply.assert_problem(StatusCode::FORBIDDEN, "code.wrong_purpose", None);

    // An organisation's code for a person's item.
    let org = holder
        .code()
        .kind(HolderKind::Organisation)
        .service_window(&[&scope])
        .mint();
    let reply = gw.materials(&key, &body(org, item.no)).await;
    reply.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "code.wrong_holder_kind",
        None,
    );

    // A venue that is not a service window.
    let park = testkit::venue_key("park-entry-senior");
    let code = holder.code().service_window(&[&scope]).mint();
    let reply = gw.materials(&park, &body(code, item.no)).await;
    reply.assert_problem(StatusCode::FORBIDDEN, "venue.not_service_window", None);

    // Unknown fields are refused.
    let code = holder.code().service_window(&[&scope]).mint();
    let reply = gw
        .materials(
            &key,
            &json!({ "code": code, "item": item.no, "extra": true }),
        )
        .await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "request.malformed", None);

    // A code works once, like every code.
    let code = holder.code().service_window(&[&scope]).mint();
    let first = gw.materials(&key, &body(code.clone(), item.no)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let again = gw.materials(&key, &body(code, item.no)).await;
    again.assert_problem(StatusCode::CONFLICT, "code.replayed", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_in_the_audit_log_with_each_material_and_its_status() {
    let gw = TestGateway::start().await;
    let item = catalogue()
        .service_items()
        .iter()
        .find(|i| i.applicant == Some(HolderKind::Person) && i.materials.len() >= 2)
        .expect("a person's item");
    let holder = applicant(item, "e2e-materials-audit-");
    let answer = ask(&gw, &holder, item, &format!("item:{}", item.no)).await;
    let store = gw.gateway.service.registry.store().clone();
    let entry = store
        .audit_by_verification(&answer.materials_request_id)
        .await
        .expect("read")
        .expect("the answer's entry");
    assert_eq!(entry.record.scenario, format!("item:{}", item.no));
    let statuses: Vec<(String, String)> = answer
        .materials
        .iter()
        .map(|m| (m.material.clone(), m.status.as_str().to_owned()))
        .collect();
    assert_eq!(entry.record.requirement_verdicts, statuses);
    assert_eq!(Some(entry.seq), answer.audit_seq);
}
