//! The KPI counters and the objections' outcomes, on both engines (see `suite.rs` for how
//! PostgreSQL is reached).

use chrono::{NaiveDate, TimeDelta, Utc};
use store::testing::Fixture;
use store::{Channel, FiledBy, KpiCounts, KpiKey, Objection, Status};

store::engine_suite!(
    increments_add_up_across_batches_and_nodes,
    a_batch_sent_twice_counts_once,
    rows_are_read_by_day_range_and_survive_reopen,
    concurrent_flushes_of_two_nodes_lose_nothing,
    objection_outcomes_by_deadline_and_closing,
);

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

fn key(d: &str, city: u32, department: &str, certificate: &str, source: &str) -> KpiKey {
    KpiKey {
        day: day(d),
        city,
        department: department.into(),
        certificate: certificate.into(),
        source: source.into(),
    }
}

fn asked(asked: u64, answered: u64) -> KpiCounts {
    KpiCounts {
        asked,
        answered,
        ..KpiCounts::default()
    }
}

async fn increments_add_up_across_batches_and_nodes(fx: Fixture) {
    let store = fx.open().await;
    let id = key(
        "2026-11-26",
        370100,
        "public-security",
        "resident-id-card",
        "",
    );
    let item = key("2026-11-26", 370100, "civil-affairs", "", "plan");
    let materials = KpiCounts {
        materials_requests: 1,
        materials_required: 3,
        materials_provided: 2,
        form_fields: 7,
        form_fields_filled: 5,
        ..KpiCounts::default()
    };
    assert!(store
        .add_kpi_counts(
            "a/1/1",
            Utc::now(),
            &[(id.clone(), asked(2, 1)), (item.clone(), materials)]
        )
        .await
        .expect("first"));
    assert!(store
        .add_kpi_counts("b/1/1", Utc::now(), &[(id.clone(), asked(3, 3))])
        .await
        .expect("second node"));
    assert!(store
        .add_kpi_counts("a/1/2", Utc::now(), &[(item.clone(), materials)])
        .await
        .expect("third"));
    let rows = store
        .kpi_counts(day("2026-11-26"), day("2026-11-26"))
        .await
        .expect("read");
    let mut twice = materials;
    twice.add(&materials);
    assert_eq!(rows, vec![(item, twice), (id, asked(5, 4))]);
}

async fn a_batch_sent_twice_counts_once(fx: Fixture) {
    let store = fx.open().await;
    let id = key(
        "2026-11-26",
        370100,
        "public-security",
        "resident-id-card",
        "",
    );
    let batch = [(id.clone(), asked(1, 1))];
    assert!(store
        .add_kpi_counts("a/7/1", Utc::now(), &batch)
        .await
        .expect("first"));
    assert!(
        !store
            .add_kpi_counts("a/7/1", Utc::now(), &batch)
            .await
            .expect("again"),
        "committed before"
    );
    let rows = store
        .kpi_counts(day("2026-11-01"), day("2026-11-30"))
        .await
        .expect("read");
    assert_eq!(rows, vec![(id, asked(1, 1))]);
    // Names are forgotten after a while; the counts stay.
    assert_eq!(
        store
            .prune_kpi_flushes(Utc::now() + TimeDelta::seconds(1))
            .await
            .expect("prune"),
        1
    );
    assert_eq!(
        store
            .kpi_counts(day("2026-11-26"), day("2026-11-26"))
            .await
            .expect("read")
            .len(),
        1
    );
}

async fn rows_are_read_by_day_range_and_survive_reopen(fx: Fixture) {
    let store = fx.open().await;
    let days = ["2026-11-25", "2026-11-26", "2026-11-27"];
    let rows: Vec<(KpiKey, KpiCounts)> = days
        .iter()
        .map(|d| {
            (
                key(d, 370200, "civil-affairs", "marriage-certificate", ""),
                asked(1, 0),
            )
        })
        .collect();
    store
        .add_kpi_counts("a/1/1", Utc::now(), &rows)
        .await
        .expect("add");
    store.close().await;
    let store = fx.open().await;
    let read = store
        .kpi_counts(day("2026-11-26"), day("2026-11-27"))
        .await
        .expect("read");
    assert_eq!(read, rows[1..].to_vec());
    assert!(store
        .kpi_counts(day("2026-11-28"), day("2026-12-31"))
        .await
        .expect("read")
        .is_empty());
}

async fn concurrent_flushes_of_two_nodes_lose_nothing(fx: Fixture) {
    let a = fx.open().await;
    let b = fx.open().await;
    // The same keys from both nodes, in opposite orders: rows are locked in key order.
    let keys: Vec<KpiKey> = (0..20)
        .map(|i| {
            key(
                "2026-11-26",
                370100 + i * 100,
                "public-security",
                "resident-id-card",
                "",
            )
        })
        .collect();
    let forward: Vec<(KpiKey, KpiCounts)> = keys.iter().map(|k| (k.clone(), asked(1, 1))).collect();
    let backward: Vec<(KpiKey, KpiCounts)> = forward.iter().rev().cloned().collect();
    let mut tasks = Vec::new();
    for n in 0..10 {
        let (a, b) = (a.clone(), b.clone());
        let (forward, backward) = (forward.clone(), backward.clone());
        tasks.push(tokio::spawn(async move {
            a.add_kpi_counts(&format!("a/1/{n}"), Utc::now(), &forward)
                .await
                .expect("a");
            b.add_kpi_counts(&format!("b/1/{n}"), Utc::now(), &backward)
                .await
                .expect("b");
        }));
    }
    for task in tasks {
        task.await.expect("a flush");
    }
    let rows = a
        .kpi_counts(day("2026-11-26"), day("2026-11-26"))
        .await
        .expect("read");
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|(_, c)| *c == asked(20, 20)), "{rows:?}");
}

fn objection(id: &str, department: &str, deadline: chrono::DateTime<Utc>) -> Objection {
    let now = store::now();
    Objection {
        id: id.into(),
        created_at: now,
        channel: Channel::Hall,
        filed_by: FiledBy::Venue,
        filer: "jinan-baotu-spring-park".into(),
        verification_id: None,
        certificate: "resident-id-card".into(),
        department: department.into(),
        subject_hash: [7; 32],
        subject: None,
        description: "the address is wrong".into(),
        status: Status::Open,
        assignee: None,
        deadline: store::micros(deadline),
        updated_at: now,
    }
}

async fn objection_outcomes_by_deadline_and_closing(fx: Fixture) {
    let store = fx.open().await;
    let now = Utc::now();
    let hours = |h: i64| now + TimeDelta::hours(h);
    // Due tomorrow, closed now: on time. Due an hour ago, closed now: late. Due tomorrow, open.
    // Due in a month (outside the window), closed now: in the window by its closing.
    // Due a month ago, still open: outside.
    for (id, deadline) in [
        ("obj-1", hours(24)),
        ("obj-2", hours(-1)),
        ("obj-3", hours(24)),
        ("obj-4", hours(24 * 30)),
        ("obj-5", hours(-24 * 30)),
    ] {
        store
            .create_objection(&objection(id, "public-security", deadline))
            .await
            .expect("file");
    }
    for id in ["obj-1", "obj-2", "obj-4"] {
        store
            .transition(id, &[Status::Open], Status::InReview, "op", "looking", None)
            .await
            .expect("review");
        store
            .transition(
                id,
                &[Status::InReview],
                Status::ResolvedUpheld,
                "op",
                "the record is right",
                None,
            )
            .await
            .expect("resolve");
    }
    let outcomes = store
        .objection_outcomes(hours(-48), hours(48))
        .await
        .expect("outcomes");
    let seen: Vec<(&str, bool, bool)> = outcomes
        .iter()
        .map(|o| {
            (
                o.id.as_str(),
                o.closed_at.is_some(),
                o.closed_at.is_some_and(|at| at <= o.deadline),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("obj-1", true, true),
            ("obj-2", true, false),
            ("obj-3", false, false),
            ("obj-4", true, true),
        ]
    );
}
