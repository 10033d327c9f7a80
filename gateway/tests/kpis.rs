//! The plan's targets measured from traffic (`gateway::kpis`): a fixed stream of verify
//! outcomes, seal checks, materials answers and commitments goes through the recorder into a
//! store (both engines), and every figure of the evaluation equals the one worked out by hand
//! below; a flush that fails is retried without counting twice; and `gateway report` prints the
//! same stream as the golden files `tests/golden/report*.{md,csv}` (rewrite them with
//! `UPDATE_GOLDEN=1 cargo test -p gateway --test kpis`).

use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta, Utc};
use gateway::admin::rollout::Rollout;
use gateway::commands::report::{report, ReportArgs};
use gateway::commands::store_args::StoreArgs;
use gateway::kpis::evaluate::{evaluation, By, Context};
use gateway::kpis::format::Format;
use gateway::kpis::KpiRecorder;
use gateway::verify::fetch::{Answer, SealChecks as _};
use gateway::verify::resolve::Planned;
use store::testing::Fixture;
use store::{Channel, FiledBy, Objection, Status, Store};
use wire::admin_api::{Evaluation, EvaluationRow};
use wire::api::Reason;
use wire::catalogue::model::{MaterialsSource, Requirement, ServiceItem};
use wire::catalogue::Catalogue;
use wire::issuer_api::{Record, RecordStatus};
use wire::materials_api::MaterialStatus;
use wire::rollout::Plan;

store::engine_suite!(
    figures_from_a_recorded_stream_equal_the_hand_worked_ones,
    a_failed_flush_is_retried_and_counted_once,
);

const JINAN: u32 = 370100;
const QINGDAO: u32 = 370200;
const ID_CARD: &str = "resident-id-card";
const PERMIT: &str = "residence-permit";
const SENIOR: &str = "senior-citizen-card";
const DRIVING: &str = "driving-licence";

/// Live everywhere, but the residence permit only in Jinan: a permit material in Qingdao is not
/// asked of its department.
const PLAN: &str = r#"
[defaults]
stages = [{ since = 2022-06-30, stage = "live" }]

[[certificate]]
codes = ["residence-permit"]
stages = []
[[certificate.local]]
cities = [370100]
stages = [{ since = 2022-06-30, stage = "live" }]

[[target]]
id = "proof_material_share_rate"
title = "t"
year = 2022
target = 0.4
unit = "share"

[[target]]
id = "top_certificates_in_use"
title = "t"
year = 2025
target = "all"
unit = "count"
"#;

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

fn d1() -> NaiveDate {
    day("2099-03-01")
}

fn d2() -> NaiveDate {
    day("2099-03-02")
}

fn catalogue() -> Arc<Catalogue> {
    static C: std::sync::OnceLock<Arc<Catalogue>> = std::sync::OnceLock::new();
    Arc::clone(C.get_or_init(|| Arc::new(Catalogue::embedded())))
}

fn rollout() -> Arc<Rollout> {
    let plan = Plan::parse(PLAN, "kpis-test.toml", &catalogue()).expect("the test plan");
    Arc::new(Rollout::new(plan, None, catalogue()))
}

/// Item 23 (resident ID card, residence permit, a lease on paper; 9 form fields) with the
/// province's materials list, and item 37 (resident ID card, senior citizen card, an income
/// statement on paper; 8 form fields) as a proposal.
fn items() -> (ServiceItem, ServiceItem) {
    let c = catalogue();
    let mut plan = c.service_item(23).expect("item 23").clone();
    plan.source = MaterialsSource::Plan;
    let mut assumed = c.service_item(37).expect("item 37").clone();
    assumed.source = MaterialsSource::Assumed;
    let ids = |item: &ServiceItem| -> Vec<String> {
        item.materials.iter().map(|m| m.id().to_owned()).collect()
    };
    assert_eq!(ids(&plan), [ID_CARD, PERMIT, "lease-or-residence-proof"]);
    assert_eq!(ids(&assumed), [ID_CARD, SENIOR, "income-statement"]);
    assert_eq!(plan.form_fields().len(), 9, "{:?}", plan.form_fields());
    assert_eq!(
        assumed.form_fields().len(),
        8,
        "{:?}",
        assumed.form_fields()
    );
    (plan, assumed)
}

fn record(certificate: &str, status: RecordStatus) -> Answer {
    let c = catalogue();
    let department = c.certificate(certificate).expect("type").departments[0].clone();
    Answer::Record {
        record: Arc::new(Record {
            certificate: certificate.into(),
            department,
            subject: "p-000001".into(),
            status,
            valid_from: None,
            valid_until: None,
            licence_id: None,
            holder_name: None,
            fields: Default::default(),
            issued_at: Utc::now(),
            query_nonce: None,
            seal: None,
        }),
        stale: false,
    }
}

/// Feeds one verification of one requirement.
fn verify(
    kpis: &KpiRecorder,
    on: NaiveDate,
    city: u32,
    certificate: &str,
    answer: Option<&Answer>,
) {
    let c = catalogue();
    let requirement = Requirement {
        certificate: certificate.into(),
        predicates: Vec::new(),
        disclose: Vec::new(),
        legal_basis: None,
    };
    let planned = Planned {
        requirement: &requirement,
        certificate: c.certificate(certificate).expect("type"),
        backend: c.backend_for(certificate, Some(city)).expect("a backend"),
    };
    kpis.verify(on, city, &[planned], &[answer]);
}

/// The stream: what the figures below are worked out from.
fn record_the_stream(kpis: &KpiRecorder) {
    use MaterialStatus::{CommitmentAllowed, MustPresent, Provided, Unavailable};
    let c = catalogue();
    // Verify path: 5 requirements, 4 asked, 3 answered (one a definite not-found), 1 not
    // offered (not a request).
    let valid = record(ID_CARD, RecordStatus::Valid);
    let none = record(ID_CARD, RecordStatus::NotFound);
    let down = Answer::Unavailable(Reason::DepartmentUnavailable);
    let senior = record(SENIOR, RecordStatus::Valid);
    verify(kpis, d1(), JINAN, ID_CARD, Some(&valid));
    verify(kpis, d1(), JINAN, ID_CARD, Some(&none));
    verify(kpis, d1(), QINGDAO, ID_CARD, Some(&down));
    verify(kpis, d1(), QINGDAO, DRIVING, None);
    verify(kpis, d2(), JINAN, SENIOR, Some(&senior));
    // Seal checks: 3 records received, 2 passed.
    let backend = c.backend_for(ID_CARD, Some(JINAN)).expect("backend");
    for passed in [true, true, false] {
        kpis.seal_checked(d1(), backend, ID_CARD, passed);
    }
    // Materials.
    let (plan, assumed) = items();
    // M1 (plan, Jinan): ID card and permit provided (7 fields filled of 9), the lease
    // committable. Asked 2, answered 2.
    kpis.materials(d1(), JINAN, &plan, &[Provided, Provided, CommitmentAllowed]);
    // M2 (plan, Qingdao): ID card provided (5 of 9), the permit not offered there, the lease
    // committable. Asked 1, answered 1; and both then committed.
    kpis.materials(
        d1(),
        QINGDAO,
        &plan,
        &[Provided, CommitmentAllowed, CommitmentAllowed],
    );
    kpis.commitment(d1(), QINGDAO, &plan, &plan.department);
    kpis.commitment(d1(), QINGDAO, &plan, &plan.department);
    // M3 (assumed, Jinan): ID card provided (5 of 8), the senior card's department down, the
    // income statement on paper. Asked 2, answered 1.
    kpis.materials(d2(), JINAN, &assumed, &[Provided, Unavailable, MustPresent]);
}

/// Three objections due in the window (two closed now, long before their deadline; one still
/// open), and one due after it (not counted).
async fn file_objections(store: &Store) {
    let due = |d: &str| day(d).and_hms_opt(12, 0, 0).expect("noon").and_utc();
    for (id, deadline, close) in [
        ("obj-1", due("2099-03-01"), true),
        ("obj-2", due("2099-03-02"), true),
        ("obj-3", due("2099-03-02"), false),
        ("obj-4", due("2099-04-01"), false),
    ] {
        let now = store::now();
        store
            .create_objection(&Objection {
                id: id.into(),
                created_at: now,
                channel: Channel::Hall,
                filed_by: FiledBy::Venue,
                filer: "jinan-baotu-spring-park".into(),
                verification_id: None,
                certificate: ID_CARD.into(),
                department: "public-security".into(),
                subject_hash: [7; 32],
                subject: None,
                description: "the address is wrong".into(),
                status: Status::Open,
                assignee: None,
                deadline,
                updated_at: now,
            })
            .await
            .expect("file");
        if close {
            store
                .transition(
                    id,
                    &[Status::Open],
                    Status::Rejected,
                    "op",
                    "not valid",
                    None,
                )
                .await
                .expect("close");
        }
    }
}

fn row<'e>(e: &'e Evaluation, metric: &str, basis: &str) -> &'e EvaluationRow {
    e.rows
        .iter()
        .find(|r| r.metric == metric && r.basis == basis)
        .unwrap_or_else(|| panic!("no row {metric} {basis} in {e:#?}"))
}

fn figures(e: &Evaluation, metric: &str, basis: &str) -> (u64, u64) {
    let r = row(e, metric, basis);
    (r.numerator, r.denominator)
}

async fn figures_from_a_recorded_stream_equal_the_hand_worked_ones(fx: Fixture) {
    let store = fx.open().await;
    let kpis = KpiRecorder::new(store.clone(), catalogue(), rollout(), "node-a");
    record_the_stream(&kpis);
    assert!(kpis.flush().await.expect("flush") > 0);
    assert_eq!(kpis.flush().await.expect("nothing left"), 0);
    file_objections(&store).await;

    let plan = Plan::parse(PLAN, "kpis-test.toml", &catalogue()).expect("plan");
    let context = Context {
        targets: plan.targets(),
        certificates: catalogue().certificates().len(),
    };
    // Read through another connection, as another node would.
    let reader = fx.open().await;
    let e = evaluation(&reader, context, d1(), d2(), None)
        .await
        .expect("evaluation");

    // Material share: provided / required. Plan: (2 + 1) / (3 + 3); assumed: 1 / 3.
    assert_eq!(figures(&e, "proof_material_share_rate", "plan"), (3, 6));
    assert_eq!(
        row(&e, "proof_material_share_rate", "plan").value,
        Some(0.5)
    );
    let met = &row(&e, "proof_material_share_rate", "plan").targets;
    assert_eq!((met[0].year, met[0].met), (2022, Some(true)));
    assert_eq!(figures(&e, "proof_material_share_rate", "assumed"), (1, 3));
    // Form fields: filled / on the form. Plan: (7 + 5) / (9 + 9); assumed: 5 / 8.
    assert_eq!(figures(&e, "form_field_share_rate", "plan"), (12, 18));
    assert_eq!(figures(&e, "form_field_share_rate", "assumed"), (5, 8));
    // Demand satisfied: answered / asked. Verify 3 / 4; materials M1 2 / 2, M2 1 / 1,
    // M3 1 / 2: 7 / 9. Not offered (the driving licence, the permit in Qingdao) is not asked.
    assert_eq!(
        figures(&e, "sharing_demand_satisfaction_rate", "all"),
        (7, 9)
    );
    // Certificates in use: ID card, senior card (verify), residence permit (M1): 3 of 50.
    assert_eq!(figures(&e, "top_certificates_in_use", "all"), (3, 50));
    let all = &row(&e, "top_certificates_in_use", "all").targets[0];
    assert_eq!((all.year, all.all, all.met), (2025, true, Some(false)));
    // Replacement: (provided + committed) / required. Plan: (3 + 2) / 6; assumed: 1 / 3.
    assert_eq!(figures(&e, "replacement_rate", "plan"), (5, 6));
    assert_eq!(figures(&e, "replacement_rate", "assumed"), (1, 3));
    // Objections: closed by the deadline / due in the window or closed in it: 2 / 3.
    assert_eq!(figures(&e, "objections_on_time", "all"), (2, 3));
    assert!(row(&e, "objections_on_time", "all").targets.is_empty());
    // Seal checks: verified / received: 2 / 3.
    assert_eq!(figures(&e, "seal_check_pass_rate", "all"), (2, 3));

    // By city, Jinan: verify 3 / 3, M1 2 / 2, M3 1 / 2: 6 / 7.
    let by_city = evaluation(&reader, context, d1(), d2(), Some(By::City))
        .await
        .expect("by city");
    let jinan = by_city
        .rows
        .iter()
        .find(|r| {
            r.group.as_deref() == Some("370100") && r.metric == "sharing_demand_satisfaction_rate"
        })
        .expect("Jinan");
    assert_eq!((jinan.numerator, jinan.denominator), (6, 7));
    // One day only: the second day's figures are not in it.
    let first = evaluation(&reader, context, d1(), d1(), None)
        .await
        .expect("first day");
    assert_eq!(
        figures(&first, "proof_material_share_rate", "assumed"),
        (0, 0)
    );
    assert_eq!(
        row(&first, "proof_material_share_rate", "assumed").value,
        None
    );
}

async fn a_failed_flush_is_retried_and_counted_once(fx: Fixture) {
    let store = fx.open().await;
    let kpis = KpiRecorder::new(store.clone(), catalogue(), rollout(), "node-a");
    let valid = record(ID_CARD, RecordStatus::Valid);
    verify(&kpis, d1(), JINAN, ID_CARD, Some(&valid));
    // The table is away: the flush fails and keeps its batch.
    let admin = fx.open().await;
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    raw(&admin, &rename("kpi_counts", "kpi_counts_away")).await;
    assert!(kpis.flush().await.is_err());
    // Counted meanwhile: goes in a batch of its own, after the pending one.
    verify(&kpis, d1(), JINAN, ID_CARD, Some(&valid));
    raw(&admin, &rename("kpi_counts_away", "kpi_counts")).await;
    assert_eq!(
        kpis.flush().await.expect("retried"),
        2,
        "two batches of one row"
    );
    assert_eq!(kpis.flush().await.expect("nothing left"), 0);
    let rows = admin.kpi_counts(d1(), d1()).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].1.asked, rows[0].1.answered), (2, 2));
}

async fn raw(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(pool) => drop(sqlx::query(sql).execute(pool).await.expect(sql)),
        Store::Postgres(pool) => drop(sqlx::query(sql).execute(pool).await.expect(sql)),
    }
}

/// `gateway report` over the stream, as Markdown and CSV, whole and by department.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_matches_its_golden_files() {
    store::testing::on_sqlite(|fx: Fixture| async move {
        let store = fx.open().await;
        let kpis = KpiRecorder::new(store.clone(), catalogue(), rollout(), "node-a");
        record_the_stream(&kpis);
        kpis.flush().await.expect("flush");
        file_objections(&store).await;
        store.close().await;
        for (name, format, by) in [
            ("report.md", Format::Markdown, None),
            ("report.csv", Format::Csv, None),
            (
                "report-by-department.md",
                Format::Markdown,
                Some(By::Department),
            ),
        ] {
            let args = ReportArgs {
                from: d1(),
                to: d2(),
                format,
                by,
                store: StoreArgs {
                    config: None,
                    store: Some(fx.url.clone()),
                },
            };
            let mut out = Vec::new();
            report(&args, &mut out).await.expect("report");
            golden(name, &String::from_utf8(out).expect("utf-8"));
        }
    })
    .await;
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("folder")).expect("golden folder");
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs (UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

#[test]
fn windows_in_china_time() {
    let e = gateway::kpis::evaluate::china_midnight(d1());
    assert_eq!(
        e,
        day("2099-02-28")
            .and_hms_opt(16, 0, 0)
            .expect("t")
            .and_utc()
    );
    assert_eq!(
        e + TimeDelta::hours(8),
        d1().and_hms_opt(0, 0, 0).expect("t").and_utc()
    );
}
