//! Delegations, revocations and issued codes on both engines (see `suite.rs` for where
//! PostgreSQL comes from).

use chrono::{DateTime, TimeDelta, Utc};
use store::testing::Fixture;
use store::{
    DelegationCount, DelegationRow, IssuanceCounts, IssuanceRow, Received, Revocation,
    RevocationKind, StoreError, REVOCATIONS_CHANNEL,
};
use wire::code::{Medium, Relation};

store::engine_suite!(
    delegations_are_stored_listed_and_counted,
    revoking_keeps_the_first_time_and_writes_one_revocation,
    a_revocation_reaches_listening_nodes_at_commit,
    printed_codes_are_revoked_once_and_pruned_after_expiry,
    issued_codes_are_kept_for_the_holder_and_counted,
);

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + seconds, 0).expect("valid time")
}

fn delegation(id: &str, relation: Relation, principal: &str, delegate: &str) -> DelegationRow {
    DelegationRow {
        id: id.to_owned(),
        relation,
        principal: principal.to_owned(),
        principal_city: Some(370100),
        delegate: delegate.to_owned(),
        delegate_name: "王五".to_owned(),
        scope: vec!["business-licence".to_owned()],
        valid_from: t(0),
        valid_until: t(3600),
        created_at: t(0),
        created_by: principal.to_owned(),
        revoked_at: None,
        revoked_by: None,
    }
}

async fn delegations_are_stored_listed_and_counted(fx: Fixture) {
    let store = fx.open().await;
    let agent = delegation("d-agent", Relation::Agent, "company-1", "person-2");
    let family = DelegationRow {
        scope: vec!["park-entry-senior".to_owned()],
        created_at: t(1),
        valid_until: t(10),
        ..delegation("d-family", Relation::Family, "elder-3", "person-2")
    };
    store.insert_delegation(&agent).await.expect("agent");
    store.insert_delegation(&family).await.expect("family");
    assert!(store
        .insert_delegation(&agent)
        .await
        .is_err_and(|e| e.is_conflict()));
    let backwards = DelegationRow {
        valid_until: t(0),
        ..delegation("d-backwards", Relation::Agent, "company-1", "person-2")
    };
    assert!(matches!(
        store.insert_delegation(&backwards).await,
        Err(StoreError::Invalid(_))
    ));

    assert_eq!(
        store.delegation("d-agent").await.expect("read"),
        Some(agent.clone())
    );
    assert_eq!(store.delegation("d-none").await.expect("read"), None);
    // The delegate sees both, newest first; each principal sees its own.
    assert_eq!(
        store.delegations_of("person-2", 10).await.expect("held"),
        [family.clone(), agent.clone()]
    );
    assert_eq!(
        store.delegations_of("company-1", 10).await.expect("given"),
        [agent.clone()]
    );
    assert_eq!(
        store
            .list_delegations(Some(Relation::Family), 10)
            .await
            .expect("family ones"),
        [family.clone()]
    );
    assert_eq!(
        store.list_delegations(None, 1).await.expect("one"),
        [family]
    );

    // At t(100) the family grant has lapsed; the agent's authorization is active.
    assert_eq!(
        store.delegation_counts(t(100)).await.expect("counts"),
        [
            DelegationCount {
                relation: Relation::Agent,
                active: 1,
                lapsed: 0,
                revoked: 0
            },
            DelegationCount {
                relation: Relation::Family,
                active: 0,
                lapsed: 1,
                revoked: 0
            },
        ]
    );
    assert!(agent.is_active(t(100)));
    assert!(!agent.is_active(t(3600)), "ends at valid_until");
}

async fn revoking_keeps_the_first_time_and_writes_one_revocation(fx: Fixture) {
    let store = fx.open().await;
    let agent = delegation("d-1", Relation::Agent, "company-1", "person-2");
    store.insert_delegation(&agent).await.expect("agent");
    assert!(!store
        .is_revoked(RevocationKind::Delegation, "d-1")
        .await
        .expect("not yet"));

    let revoked = store
        .revoke_delegation("d-1", "company-1", t(60))
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(t(60)));
    assert_eq!(revoked.revoked_by.as_deref(), Some("company-1"));
    assert!(!revoked.is_active(t(61)));
    let again = store
        .revoke_delegation("d-1", "operator", t(90))
        .await
        .expect("revoke again");
    assert_eq!(
        (again.revoked_at, again.revoked_by.as_deref()),
        (Some(t(60)), Some("company-1")),
        "the first revocation stands"
    );
    assert!(store
        .is_revoked(RevocationKind::Delegation, "d-1")
        .await
        .expect("revoked"));
    assert!(!store
        .is_revoked(RevocationKind::PaperCode, "d-1")
        .await
        .expect("another kind"));
    assert_eq!(
        store.revocations_in_force(t(61)).await.expect("in force"),
        [Revocation {
            kind: RevocationKind::Delegation,
            id: "d-1".into(),
            until: t(3600),
            revoked_at: t(60),
        }]
    );
    assert!(matches!(
        store.revoke_delegation("d-none", "x", t(60)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store.delegation_counts(t(100)).await.expect("counts")[0].revoked,
        1
    );
}

async fn a_revocation_reaches_listening_nodes_at_commit(fx: Fixture) {
    let store = fx.open().await;
    let Some(mut listener) = store.subscribe(REVOCATIONS_CHANNEL).await.expect("listen") else {
        // SQLite: one node, nothing to tell.
        return;
    };
    let other_node = fx.open().await;
    other_node
        .insert_delegation(&delegation(
            "d-heard",
            Relation::Family,
            "elder-1",
            "person-2",
        ))
        .await
        .expect("grant");
    other_node
        .revoke_delegation("d-heard", "elder-1", t(5))
        .await
        .expect("revoke");
    let received = tokio::time::timeout(std::time::Duration::from_secs(30), listener.next())
        .await
        .expect("a message within 30 s");
    let Received::Message(text) = received else {
        panic!("the listener broke: {received:?}");
    };
    assert_eq!(
        Revocation::parse_payload(&text),
        Some((RevocationKind::Delegation, "d-heard"))
    );
}

async fn printed_codes_are_revoked_once_and_pruned_after_expiry(fx: Fixture) {
    let store = fx.open().await;
    assert!(store
        .revoke_paper_code("00aa", t(1000), t(10))
        .await
        .expect("first"));
    assert!(!store
        .revoke_paper_code("00aa", t(1000), t(20))
        .await
        .expect("second"));
    assert!(store
        .is_revoked(RevocationKind::PaperCode, "00aa")
        .await
        .expect("revoked"));
    assert_eq!(
        store
            .revocations_in_force(t(999))
            .await
            .expect("in force")
            .len(),
        1
    );
    assert!(store
        .revocations_in_force(t(1000))
        .await
        .expect("expired")
        .is_empty());
    assert_eq!(store.prune_revocations(t(999)).await.expect("prune"), 0);
    assert_eq!(store.prune_revocations(t(1000)).await.expect("prune"), 1);
    assert!(!store
        .is_revoked(RevocationKind::PaperCode, "00aa")
        .await
        .expect("forgotten once its code expired"));
}

fn issued(code_id: &str, subject: &str, presenter: Option<&str>, at: i64) -> IssuanceRow {
    IssuanceRow {
        code_id: code_id.to_owned(),
        subject: subject.to_owned(),
        presenter: presenter.map(str::to_owned),
        delegation: presenter.map(|_| "d-1".to_owned()),
        purpose: "presentation".to_owned(),
        medium: Medium::Phone,
        scope: None,
        issued_at: t(at),
        expires_at: t(at) + TimeDelta::minutes(10),
    }
}

async fn issued_codes_are_kept_for_the_holder_and_counted(fx: Fixture) {
    let store = fx.open().await;
    let own = issued("c1", "elder-1", None, 10);
    let by_son = issued("c2", "elder-1", Some("son-2"), 20);
    let sons_own = issued("c3", "son-2", None, 30);
    let printed = IssuanceRow {
        medium: Medium::Paper,
        scope: Some(vec!["senior-citizen-card".into()]),
        expires_at: t(40) + TimeDelta::days(365),
        ..issued("c4", "elder-1", None, 40)
    };
    for row in [&own, &by_son, &sons_own, &printed] {
        store.record_issuance(row).await.expect("recorded");
    }
    assert!(store
        .record_issuance(&own)
        .await
        .is_err_and(|e| e.is_conflict()));
    assert_eq!(
        store.issuance("c4").await.expect("read"),
        Some(printed.clone())
    );

    // The elder sees every code naming them, whoever asked; the son sees his own and those he
    // asked for his father.
    assert_eq!(
        store
            .issuances_of("elder-1", None, 10)
            .await
            .expect("elder"),
        [printed.clone(), by_son.clone(), own.clone()]
    );
    assert_eq!(
        store.issuances_of("son-2", None, 10).await.expect("son"),
        [sons_own.clone(), by_son.clone()]
    );
    assert_eq!(
        store
            .issuances_of("elder-1", Some(t(40)), 1)
            .await
            .expect("a page"),
        [by_son]
    );

    // The rate limit counts what each person asked for.
    assert_eq!(
        store
            .issuances_requested_since("elder-1", t(0))
            .await
            .expect("elder asked"),
        2
    );
    assert_eq!(
        store
            .issuances_requested_since("son-2", t(0))
            .await
            .expect("son asked"),
        2
    );
    assert_eq!(
        store
            .issuances_requested_since("son-2", t(25))
            .await
            .expect("son since"),
        1
    );
    assert_eq!(
        store.issuance_counts(t(0)).await.expect("counts"),
        IssuanceCounts {
            phone: 3,
            paper: 1,
            presented: 1
        }
    );
}
