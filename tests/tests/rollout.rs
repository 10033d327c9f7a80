//! The rollout plan end to end (issue 6): a gateway started with a plan file of its own.
//!
//! - a certificate planned in the holder's city answers `not_offered` and its department is not
//!   asked; a code naming no city is judged in the venue's city;
//! - a pilot city offers its pilot certificates only for the scenarios it pilots;
//! - a scenario mixing offered and not offered certificates asks only the offered ones;
//! - every requirement is counted per (certificate, city, verdict) in the rollout view;
//! - a bad plan file is refused with every problem and the old plan kept; a good one takes
//!   effect on reload, and the gateway notices a changed file by itself.

use std::collections::BTreeMap;
use std::path::Path;

use testkit::*;
use wire::admin_api::{RolloutCell, RolloutView, Stage};
use wire::api::{Reason, Verdict, VerifyResponse};
use wire::catalogue::model::{CityCode, HolderKind};
use wire::issuer_api::backend_name;

const PARK: &str = "park-entry-senior";
const TRANSIT: &str = "transit-senior-free-ride";
const CHEMICALS: &str = "hazardous-chemicals-inspection";
const SENIOR_CARD: &str = "senior-citizen-card";
const BUSINESS: &str = "business-licence";
const CHEMICALS_LICENCE: &str = "hazardous-chemicals-licence";

/// The city of the demo venue that `verify` uses for `scenario`.
fn venue_city(scenario: &str) -> CityCode {
    let venues = gateway::venues::Venues::parse(gateway::demo::VENUES, "venues.toml", catalogue())
        .expect("the demo venues load");
    venues
        .demo_for(scenario)
        .map(|(v, _)| v.city)
        .expect("a demo venue")
}

/// The cities of the test: `planned` (the park venue's own city), `pilot` and `live`.
struct Cities {
    planned: CityCode,
    pilot: CityCode,
    live: CityCode,
}

impl Cities {
    fn pick() -> Cities {
        let planned = venue_city(PARK);
        assert_eq!(
            venue_city(TRANSIT),
            planned,
            "one venue runs both scenarios"
        );
        let mut others = catalogue()
            .cities()
            .iter()
            .map(|c| c.code)
            .filter(|&c| c != planned);
        let pilot = others.next().expect("a second city");
        let live = others.next().expect("a third city");
        Cities {
            planned,
            pilot,
            live,
        }
    }
}

/// A plan where everything is live since 2022 but the senior citizen card and the hazardous
/// chemicals licence, which are planned in `planned` and piloted in `pilot` (for the senior
/// transit scenario only). `note` changes the file without changing the plan.
fn plan_text(cities: &Cities, note: &str) -> String {
    format!(
        r#"# {note}
[defaults]
stages = [{{ since = 2022-06-30, stage = "live" }}]

[[certificate]]
codes = ["{SENIOR_CARD}", "{CHEMICALS_LICENCE}"]

[[certificate.local]]
cities = [{planned}]
stages = []

[[certificate.local]]
cities = [{pilot}]
stages = [{{ since = 2022-06-30, stage = "pilot" }}]

[[city]]
code = {pilot}
pilot_scenarios = ["{TRANSIT}"]

[[target]]
id = "sharing_demand_satisfaction_rate"
title = "Data-sharing demand satisfied"
year = 2022
target = 0.99
unit = "share"
"#,
        planned = cities.planned,
        pilot = cities.pilot,
    )
}

async fn start_with_plan(path: &Path, reload_check_secs: u64) -> TestGateway {
    let path = path.to_path_buf();
    TestGateway::start_with(move |c| {
        c.rollout.file = Some(path);
        c.rollout.reload_check_secs = reload_check_secs;
    })
    .await
}

/// A holder of `scenarios`' kind living in `city` whose records meet what every one of them
/// asks of `certificates` (judged by the oracle, which follows the embedded plan: that plan
/// offers these certificates in every city today, whatever this test's plan says).
fn meeting(scenarios: &[&str], city: CityCode, certificates: &[&str]) -> Holder {
    let first = scenario(scenarios[0]);
    Holder::find(first, &format!("e2e-rollout-{city}-"), 1, |h, _| {
        h.city == city
            && scenarios.iter().all(|s| {
                Expected::of(scenario(s), h)
                    .requirements
                    .iter()
                    .filter(|(c, _, _)| certificates.contains(&c.as_str()))
                    .all(|(_, v, _)| *v == Verdict::Pass)
            })
    })
    .pop()
    .unwrap_or_else(|| panic!("a holder in {city} meeting {scenarios:?}"))
}

fn backend_of(certificate: &str, city: CityCode) -> String {
    let b = catalogue()
        .backend_for(certificate, Some(city))
        .expect("a backend");
    backend_name(&b.department, b.scope)
}

fn assert_not_offered(answer: &VerifyResponse, certificate: &str) {
    let r = answer
        .requirements
        .iter()
        .find(|r| r.certificate == certificate)
        .unwrap_or_else(|| panic!("{certificate} in {answer:?}"));
    assert_eq!(
        (r.verdict, r.reason),
        (Verdict::NotOffered, Some(Reason::NotOffered)),
        "{answer:?}"
    );
    assert!(r.disclosed.is_empty(), "nothing disclosed: {answer:?}");
    assert!(!r.stale);
}

fn cell<'v>(view: &'v RolloutView, certificate: &str, city: CityCode) -> &'v RolloutCell {
    view.cells
        .iter()
        .find(|c| c.certificate == certificate && c.city == city)
        .unwrap_or_else(|| panic!("a cell for {certificate} in {city}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_offered_certificates_are_not_asked_and_every_requirement_is_counted() {
    let cities = Cities::pick();
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("rollout.toml");
    std::fs::write(&path, plan_text(&cities, "test plan")).expect("write the plan");
    let gw = start_with_plan(&path, 3600).await;
    let senior_backend = backend_of(SENIOR_CARD, cities.planned);

    // Planned in the holder's city: not offered for any scenario, the department not asked.
    let senior = meeting(&[PARK, TRANSIT], cities.planned, &[SENIOR_CARD]);
    let before = gw.upstream_queries().await;
    for s in [PARK, TRANSIT] {
        let answer = gw.verify_holder(&senior, s).await;
        assert_eq!(answer.verdict, Verdict::NotOffered, "{s}: {answer:?}");
        assert_not_offered(&answer, SENIOR_CARD);
        assert_eq!(answer.holder.kind, HolderKind::Person);
        assert_eq!(answer.holder.name, None, "no record, no name: {answer:?}");
    }
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::new(),
        "a certificate not offered is not asked"
    );

    // Piloted: offered only for the scenario the city pilots.
    let piloting = meeting(&[PARK, TRANSIT], cities.pilot, &[SENIOR_CARD]);
    let before = gw.upstream_queries().await;
    let answer = gw.verify_holder(&piloting, PARK).await;
    assert_eq!(answer.verdict, Verdict::NotOffered, "{answer:?}");
    assert_not_offered(&answer, SENIOR_CARD);
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::new()
    );
    let answer = gw.verify_holder(&piloting, TRANSIT).await;
    assert_eq!(
        answer.verdict,
        Verdict::Pass,
        "piloted for transit: {answer:?}"
    );
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::from([(senior_backend.clone(), 1)])
    );

    // Live: offered; but a code naming no city is judged in the venue's city (planned).
    let elsewhere = meeting(&[PARK], cities.live, &[SENIOR_CARD]);
    let before = gw.upstream_queries().await;
    let answer = gw
        .verify(&elsewhere.code().city(None).mint(), PARK)
        .await
        .verdict();
    assert_not_offered(&answer, SENIOR_CARD);
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::new()
    );
    let answer = gw.verify_holder(&elsewhere, PARK).await;
    assert_eq!(answer.verdict, Verdict::Pass, "live there: {answer:?}");
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::from([(senior_backend, 1)])
    );

    // A scenario with one certificate offered and one not: only the offered one is asked, and
    // the overall verdict is `not_offered` when the other passes.
    let firm = meeting(&[CHEMICALS], cities.planned, &[BUSINESS]);
    assert_eq!(firm.kind, HolderKind::Organisation);
    let before = gw.upstream_queries().await;
    let answer = gw.verify_holder(&firm, CHEMICALS).await;
    let business = &answer.requirements[0];
    assert_eq!(business.certificate, BUSINESS);
    assert_eq!((business.verdict, business.reason), (Verdict::Pass, None));
    assert_not_offered(&answer, CHEMICALS_LICENCE);
    assert_eq!(answer.verdict, Verdict::NotOffered, "{answer:?}");
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::from([(backend_of(BUSINESS, cities.planned), 1)])
    );

    // Every requirement counted, per certificate type and city.
    let view = gw.gateway.service.rollout.view(today());
    let c = cell(&view, SENIOR_CARD, cities.planned);
    assert_eq!((c.stage, c.since), (Stage::Planned, None));
    // Two of the holder's own, and the code with no city at the venue there.
    assert_eq!(
        (c.requirements.not_offered, c.requirements.pass),
        (3, 0),
        "{c:?}"
    );
    assert_eq!(c.substitution_rate, Some(0.0));
    let c = cell(&view, SENIOR_CARD, cities.pilot);
    assert_eq!(c.stage, Stage::Pilot);
    assert_eq!((c.requirements.not_offered, c.requirements.pass), (1, 1));
    assert_eq!(c.substitution_rate, Some(0.5));
    let c = cell(&view, SENIOR_CARD, cities.live);
    assert_eq!(c.stage, Stage::Live);
    assert_eq!((c.requirements.not_offered, c.requirements.pass), (0, 1));
    assert_eq!(c.substitution_rate, Some(1.0));
    assert_eq!(
        cell(&view, CHEMICALS_LICENCE, cities.planned)
            .requirements
            .not_offered,
        1
    );
    assert_eq!(cell(&view, BUSINESS, cities.planned).requirements.pass, 1);
    let total: u64 = view
        .cells
        .iter()
        .map(|c| {
            let r = &c.requirements;
            r.pass + r.fail + r.unavailable + r.not_offered
        })
        .sum();
    assert_eq!(total, 3 + 2 + 1 + 2, "every requirement once");
    let satisfaction = view
        .kpis
        .iter()
        .find(|k| k.id == "sharing_demand_satisfaction_rate")
        .expect("the target");
    assert_eq!(satisfaction.actual, Some(1.0), "not offered is not asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_plan_is_refused_and_the_old_kept_while_a_good_one_takes_effect() {
    let cities = Cities::pick();
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("rollout.toml");
    std::fs::write(&path, plan_text(&cities, "first")).expect("write the plan");
    let gw = start_with_plan(&path, 1).await;
    let rollout = &gw.gateway.service.rollout;
    let senior = meeting(&[PARK], cities.planned, &[SENIOR_CARD]);
    assert_eq!(
        gw.verify_holder(&senior, PARK).await.verdict,
        Verdict::NotOffered
    );

    // A bad file: every problem listed, each naming the file and the entry.
    let bad = plan_text(&cities, "bad")
        .replace(SENIOR_CARD, "senior-card")
        .replace(&format!("code = {}", cities.pilot), "code = 110100")
        .replace(
            "stages = [{ since = 2022-06-30, stage = \"live\" }]",
            "stages = [{ since = 2023-06-30, stage = \"pilot\" }, { since = 2022-06-30, stage = \"live\" }]",
        );
    std::fs::write(&path, &bad).expect("write the bad plan");
    let err = rollout.reload().expect_err("a bad plan is refused");
    let file = path.display().to_string();
    for expected in [
        format!("{file}: defaults: step 2: `since = 2022-06-30` is not after"),
        format!("{file}: certificate `senior-card`: unknown certificate `senior-card`"),
        format!("{file}: city `110100`: unknown city"),
    ] {
        assert!(err.contains(&expected), "{expected}\n---\n{err}");
    }
    assert!(err.lines().all(|l| l.starts_with(&file)), "{err}");
    assert_eq!(
        rollout.stage(SENIOR_CARD, cities.planned, today()),
        Some(Stage::Planned),
        "the old plan is kept"
    );
    let before = gw.upstream_queries().await;
    assert_eq!(
        gw.verify_holder(&senior, PARK).await.verdict,
        Verdict::NotOffered
    );
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::new()
    );

    // A good file: the senior card live in the venue's city too.
    let good = plan_text(&cities, "good").replace(
        &format!("cities = [{}]\nstages = []", cities.planned),
        &format!(
            "cities = [{}]\nstages = [{{ since = 2022-06-30, stage = \"live\" }}]",
            cities.planned
        ),
    );
    assert_ne!(good, plan_text(&cities, "good"));
    std::fs::write(&path, &good).expect("write the good plan");
    let done = rollout.reload().expect("a good plan is taken");
    assert_eq!(done.source, file);
    assert_eq!(
        done.cells,
        catalogue().certificates().len() * catalogue().cities().len()
    );
    let answer = gw.verify_holder(&senior, PARK).await;
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::from([(backend_of(SENIOR_CARD, cities.planned), 1)])
    );

    // Changed again on disk: the gateway notices by itself (it checks every second).
    std::fs::write(
        &path,
        plan_text(&cities, "planned again, noticed by the reloader"),
    )
    .expect("write the plan");
    patiently("the reloader takes the changed plan", async {
        while rollout.stage(SENIOR_CARD, cities.planned, today()) != Some(Stage::Planned) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    let answer = gw.verify_holder(&senior, PARK).await;
    assert_eq!(answer.verdict, Verdict::NotOffered, "{answer:?}");
}
