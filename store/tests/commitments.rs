//! Commitments (告知承诺) and their post-check queue, on both engines (see `suite.rs` for how
//! PostgreSQL is reached).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use store::testing::Fixture;
use store::{
    Commitment, CommitmentCount, CommitmentFilter, CommitmentStatus, CommitmentTransitionError,
    StoreError,
};

store::engine_suite!(
    commitments_create_get_and_refuse_a_second,
    commitments_list_filters_and_pages,
    commitment_transitions_keep_history,
    illegal_and_stale_commitment_transitions_are_refused,
    claim_next_commitment_takes_the_oldest_deadline_of_its_department,
    concurrent_commitment_claimers_never_share,
    commitment_counts_per_department_survive_reopen,
);

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + seconds, 0).expect("valid time")
}

fn commitment(id: &str, request: &str, department: &str, deadline: DateTime<Utc>) -> Commitment {
    Commitment {
        id: id.to_owned(),
        created_at: t(0),
        materials_request_id: request.to_owned(),
        venue: "window-1".to_owned(),
        subject_hash: [7; 32],
        item: 23,
        material: "lease-or-residence-proof".to_owned(),
        department: department.to_owned(),
        text_version: "2026-01".to_owned(),
        status: CommitmentStatus::Pending,
        assignee: None,
        deadline,
        updated_at: t(0),
    }
}

fn ids(commitments: &[Commitment]) -> Vec<&str> {
    commitments.iter().map(|c| c.id.as_str()).collect()
}

async fn commitments_create_get_and_refuse_a_second(fx: Fixture) {
    let store = fx.open().await;
    let filed = commitment("cm-1", "m-1", "housing", t(100));
    store.create_commitment(&filed).await.expect("create");
    let (stored, history) = store.commitment("cm-1").await.expect("get").expect("found");
    assert_eq!(stored, filed);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].actor, "window-1");
    assert_eq!(history[0].from_status, None);
    assert_eq!(history[0].to_status, CommitmentStatus::Pending);
    assert!(history[0].note.contains("2026-01"), "{:?}", history[0]);
    assert_eq!(store.commitment("cm-none").await.expect("get"), None);

    // The same material of the same answer, under another id: one commitment each.
    let again = commitment("cm-2", "m-1", "housing", t(100));
    match store.create_commitment(&again).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("lease-or-residence-proof"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Another material of the same answer, and the same material of another answer, are fine.
    let mut other_material = commitment("cm-3", "m-1", "housing", t(100));
    other_material.material = "marriage-certificate".to_owned();
    store
        .create_commitment(&other_material)
        .await
        .expect("another material");
    store
        .create_commitment(&commitment("cm-4", "m-2", "housing", t(100)))
        .await
        .expect("another answer");

    let mut not_pending = commitment("cm-5", "m-3", "housing", t(100));
    not_pending.status = CommitmentStatus::Confirmed;
    assert!(matches!(
        store.create_commitment(&not_pending).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.commitment("cm-2").await.expect("get"), None);
}

async fn commitments_list_filters_and_pages(fx: Fixture) {
    let store = fx.open().await;
    for (id, department, deadline) in [
        ("cm-01", "housing", t(900)),
        ("cm-02", "housing", t(2000)),
        ("cm-03", "civil-affairs", t(500)),
        ("cm-04", "civil-affairs", t(3000)),
        ("cm-05", "housing", t(100)),
    ] {
        store
            .create_commitment(&commitment(id, &format!("m-{id}"), department, deadline))
            .await
            .expect("create");
    }
    // cm-05 is checked and confirmed: past its deadline, but not overdue.
    store
        .transition_commitment(
            "cm-05",
            &[CommitmentStatus::Pending],
            CommitmentStatus::InCheck,
            "op",
            "claimed",
            Some("op"),
        )
        .await
        .expect("in check");
    store
        .transition_commitment(
            "cm-05",
            &[CommitmentStatus::InCheck],
            CommitmentStatus::Confirmed,
            "op",
            "the lease is registered",
            None,
        )
        .await
        .expect("confirmed");

    let list = |filter: CommitmentFilter| {
        let store = store.clone();
        async move { store.list_commitments(&filter).await.expect("list") }
    };
    let all = list(CommitmentFilter::default()).await;
    assert_eq!(ids(&all), ["cm-01", "cm-02", "cm-03", "cm-04", "cm-05"]);
    let housing = list(CommitmentFilter {
        department: Some("housing".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&housing), ["cm-01", "cm-02", "cm-05"]);
    let open = list(CommitmentFilter {
        department: Some("housing".into()),
        open_only: true,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&open), ["cm-01", "cm-02"]);
    let confirmed = list(CommitmentFilter {
        status: Some(CommitmentStatus::Confirmed),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&confirmed), ["cm-05"]);
    let overdue = list(CommitmentFilter {
        overdue_at: Some(t(1000)),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&overdue), ["cm-01", "cm-03"]);
    let page = list(CommitmentFilter {
        limit: 2,
        after_id: Some("cm-02".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&page), ["cm-03", "cm-04"]);
}

async fn commitment_transitions_keep_history(fx: Fixture) {
    use CommitmentStatus::*;
    let store = fx.open().await;
    store
        .create_commitment(&commitment("cm-1", "m-1", "housing", t(100)))
        .await
        .expect("create");
    let claimed = store
        .transition_commitment(
            "cm-1",
            &[Pending],
            InCheck,
            "op-li",
            "claimed",
            Some("op-li"),
        )
        .await
        .expect("in check");
    assert_eq!(claimed.status, InCheck);
    assert_eq!(claimed.assignee.as_deref(), Some("op-li"));
    let resolved = store
        .transition_commitment(
            "cm-1",
            &[InCheck],
            False,
            "op-li",
            "no lease registered at that address",
            None,
        )
        .await
        .expect("false");
    assert_eq!(resolved.status, False);
    assert_eq!(resolved.assignee.as_deref(), Some("op-li"), "kept");
    assert!(resolved.updated_at >= claimed.updated_at);

    let (stored, history) = store.commitment("cm-1").await.expect("get").expect("found");
    assert_eq!(stored, resolved);
    let steps: Vec<_> = history
        .iter()
        .map(|e| {
            (
                e.from_status,
                e.to_status,
                e.actor.as_str(),
                e.note.as_str(),
            )
        })
        .collect();
    assert_eq!(
        steps[1..],
        [
            (Some(Pending), InCheck, "op-li", "claimed"),
            (
                Some(InCheck),
                False,
                "op-li",
                "no lease registered at that address"
            ),
        ]
    );
    assert!(history.iter().all(|e| e.commitment_id == "cm-1"));
}

async fn illegal_and_stale_commitment_transitions_are_refused(fx: Fixture) {
    use CommitmentStatus::*;
    let store = fx.open().await;
    store
        .create_commitment(&commitment("cm-1", "m-1", "housing", t(100)))
        .await
        .expect("create");
    // Not resolved without being checked.
    match store
        .transition_commitment("cm-1", &[Pending], Confirmed, "op", "fine", None)
        .await
    {
        Err(CommitmentTransitionError::Illegal { from, to, .. }) => {
            assert_eq!((from, to), (Pending, Confirmed))
        }
        other => panic!("expected illegal, got {other:?}"),
    }
    // A view that thought it was in check already.
    match store
        .transition_commitment("cm-1", &[InCheck], Confirmed, "op", "fine", None)
        .await
    {
        Err(CommitmentTransitionError::Stale { current, .. }) => assert_eq!(current, Pending),
        other => panic!("expected stale, got {other:?}"),
    }
    assert!(matches!(
        store
            .transition_commitment("cm-none", &[Pending], InCheck, "op", "x", None)
            .await,
        Err(CommitmentTransitionError::NotFound(_))
    ));
    store
        .transition_commitment("cm-1", &[Pending], InCheck, "op", "claimed", Some("op"))
        .await
        .expect("in check");
    store
        .transition_commitment("cm-1", &[InCheck], Confirmed, "op", "fine", None)
        .await
        .expect("confirmed");
    // Nothing leaves a final status.
    for to in CommitmentStatus::ALL {
        assert!(matches!(
            store
                .transition_commitment("cm-1", &[Confirmed], to, "op", "again", None)
                .await,
            Err(CommitmentTransitionError::Illegal { .. })
        ));
    }
    let (stored, history) = store.commitment("cm-1").await.expect("get").expect("found");
    assert_eq!(stored.status, Confirmed);
    assert_eq!(history.len(), 3, "refusals leave no trace: {history:?}");
}

async fn claim_next_commitment_takes_the_oldest_deadline_of_its_department(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(
        store
            .claim_next_commitment("housing", "op-li")
            .await
            .expect("claim"),
        None
    );
    for (id, department, deadline) in [
        ("cm-a", "housing", t(300)),
        ("cm-b", "housing", t(100)),
        ("cm-c", "civil-affairs", t(50)),
        ("cm-d", "housing", t(200)),
    ] {
        store
            .create_commitment(&commitment(id, &format!("m-{id}"), department, deadline))
            .await
            .expect("create");
    }
    let mut order = Vec::new();
    while let Some(c) = store
        .claim_next_commitment("housing", "op-li")
        .await
        .expect("claim")
    {
        assert_eq!(c.status, CommitmentStatus::InCheck);
        assert_eq!(c.assignee.as_deref(), Some("op-li"));
        order.push(c.id);
    }
    assert_eq!(order, ["cm-b", "cm-d", "cm-a"]);
    let (civil, history) = store.commitment("cm-c").await.expect("get").expect("found");
    assert_eq!(
        civil.status,
        CommitmentStatus::Pending,
        "another department"
    );
    assert_eq!(history.len(), 1);
    let (_, history) = store.commitment("cm-b").await.expect("get").expect("found");
    assert_eq!(
        history
            .last()
            .map(|e| (e.to_status, e.actor.as_str(), e.note.as_str())),
        Some((CommitmentStatus::InCheck, "op-li", "claimed"))
    );
}

async fn concurrent_commitment_claimers_never_share(fx: Fixture) {
    let store = fx.open().await;
    for i in 0..5 {
        store
            .create_commitment(&commitment(
                &format!("cm-{i}"),
                &format!("m-{i}"),
                "housing",
                t(100 + i),
            ))
            .await
            .expect("create");
    }
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let claimers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let operator = format!("op-{i}");
                let claimed = store.claim_next_commitment("housing", &operator).await;
                (operator, claimed)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for claimer in claimers {
        let (operator, result) = claimer.await.expect("claimer task");
        if let Some(c) = result.expect("claim") {
            assert_eq!(c.assignee.as_deref(), Some(operator.as_str()));
            claimed.push(c.id);
        }
    }
    claimed.sort();
    assert_eq!(
        claimed,
        ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"],
        "each claimed once"
    );
    for i in 0..5 {
        let (_, history) = store
            .commitment(&format!("cm-{i}"))
            .await
            .expect("get")
            .expect("found");
        let claims = history
            .iter()
            .filter(|e| e.to_status == CommitmentStatus::InCheck)
            .count();
        assert_eq!(claims, 1, "{history:?}");
    }
}

async fn commitment_counts_per_department_survive_reopen(fx: Fixture) {
    use CommitmentStatus::*;
    {
        let store = fx.open().await;
        for (id, department, deadline) in [
            ("cm-1", "housing", t(100)),       // overdue at t(1000), claimed
            ("cm-2", "housing", t(5000)),      // pending
            ("cm-3", "housing", t(50)),        // found false
            ("cm-4", "civil-affairs", t(200)), // overdue, pending
            ("cm-5", "civil-affairs", t(300)), // confirmed
        ] {
            store
                .create_commitment(&commitment(id, &format!("m-{id}"), department, deadline))
                .await
                .expect("create");
        }
        for (id, to, note) in [
            ("cm-1", None, ""),
            ("cm-3", Some(False), "no such lease"),
            ("cm-5", Some(Confirmed), "registered"),
        ] {
            store
                .transition_commitment(id, &[Pending], InCheck, "op", "claimed", Some("op"))
                .await
                .expect("in check");
            if let Some(to) = to {
                store
                    .transition_commitment(id, &[InCheck], to, "op", note, None)
                    .await
                    .expect("resolved");
            }
        }
        store.close().await;
    }
    let store = fx.open().await;
    assert_eq!(
        store.commitment_counts(t(1000)).await.expect("counts"),
        [
            CommitmentCount {
                department: "civil-affairs".into(),
                pending: 1,
                in_check: 0,
                confirmed: 1,
                found_false: 0,
                overdue: 1,
            },
            CommitmentCount {
                department: "housing".into(),
                pending: 1,
                in_check: 1,
                confirmed: 0,
                found_false: 1,
                overdue: 1,
            },
        ]
    );
}
