//! Operator accounts on both engines (see `suite.rs` for where PostgreSQL comes from).

use chrono::{DateTime, Utc};
use store::testing::Fixture;
use store::{OperatorRow, StoreError};
use wire::admin_api::Role;

store::engine_suite!(
    operators_are_added_listed_and_found_by_token_hash,
    operator_names_and_tokens_are_unique,
    only_the_first_operator_is_added_by_bootstrap,
    disabling_keeps_the_row_and_its_first_time,
    tokens_are_stored_only_as_hashes,
);

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + seconds, 0).expect("valid time")
}

fn operator(name: &str, token_byte: u8, roles: &[Role]) -> OperatorRow {
    OperatorRow {
        name: name.to_owned(),
        roles: roles.to_vec(),
        token_hash: [token_byte; 32],
        created_at: t(0),
        created_by: "bootstrap".to_owned(),
        disabled_at: None,
    }
}

async fn operators_are_added_listed_and_found_by_token_hash(fx: Fixture) {
    let store = fx.open().await;
    assert!(!store.has_operators().await.expect("count"));
    let li = operator("li.wei", 1, &[Role::ObjectionHandler, Role::VenueAdmin]);
    let mei = operator("mei", 2, &[Role::Viewer]);
    store.insert_operator(&mei).await.expect("mei");
    store.insert_operator(&li).await.expect("li");
    assert!(store.has_operators().await.expect("count"));
    assert_eq!(
        store.list_operators().await.expect("list"),
        [li.clone(), mei.clone()],
        "by name"
    );
    assert_eq!(
        store
            .operator_by_token_hash(&[1; 32])
            .await
            .expect("by hash"),
        Some(li.clone())
    );
    assert_eq!(
        store
            .operator_by_token_hash(&[9; 32])
            .await
            .expect("by hash"),
        None
    );
    assert_eq!(store.operator("mei").await.expect("by name"), Some(mei));
    // A reopened store reads the same rows.
    let again = fx.open().await;
    assert_eq!(again.operator("li.wei").await.expect("reopen"), Some(li));
}

async fn operator_names_and_tokens_are_unique(fx: Fixture) {
    let store = fx.open().await;
    store
        .insert_operator(&operator("li.wei", 1, &[Role::Viewer]))
        .await
        .expect("first");
    for clash in [
        operator("li.wei", 2, &[Role::Viewer]),
        operator("other", 1, &[Role::Viewer]),
    ] {
        let err = store.insert_operator(&clash).await.expect_err("taken");
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains(&clash.name)),
            "{err:?}"
        );
    }
    assert_eq!(store.list_operators().await.expect("list").len(), 1);
}

async fn only_the_first_operator_is_added_by_bootstrap(fx: Fixture) {
    let store = fx.open().await;
    // Two nodes racing with the bootstrap secret: exactly one adds its operator.
    let (first_a, first_b) = (
        operator("first-a", 1, &[Role::OperatorAdmin]),
        operator("first-b", 2, &[Role::OperatorAdmin]),
    );
    let (a, b) = tokio::join!(
        store.insert_first_operator(&first_a),
        store.insert_first_operator(&first_b),
    );
    let added = [a.expect("a"), b.expect("b")];
    assert_eq!(added.iter().filter(|&&x| x).count(), 1, "{added:?}");
    assert_eq!(store.list_operators().await.expect("list").len(), 1);
    // A disabled operator still counts: the bootstrap secret stays spent.
    let first = store.list_operators().await.expect("list")[0].name.clone();
    store.disable_operator(&first, t(5)).await.expect("disable");
    assert!(!store
        .insert_first_operator(&operator("later", 3, &[Role::OperatorAdmin]))
        .await
        .expect("refused"));
}

async fn disabling_keeps_the_row_and_its_first_time(fx: Fixture) {
    let store = fx.open().await;
    store
        .insert_operator(&operator("li.wei", 1, &[Role::ObjectionHandler]))
        .await
        .expect("add");
    let disabled = store
        .disable_operator("li.wei", t(10))
        .await
        .expect("disable");
    assert_eq!(disabled.disabled_at, Some(t(10)));
    assert!(!disabled.is_enabled());
    let again = store
        .disable_operator("li.wei", t(20))
        .await
        .expect("again");
    assert_eq!(again.disabled_at, Some(t(10)), "the first time stays");
    let by_hash = store
        .operator_by_token_hash(&[1; 32])
        .await
        .expect("by hash");
    assert_eq!(by_hash.map(|o| o.disabled_at), Some(Some(t(10))));
    let err = store
        .disable_operator("nobody", t(10))
        .await
        .expect_err("unknown");
    assert!(
        matches!(&err, StoreError::NotFound { what: "operator", id } if id == "nobody"),
        "{err:?}"
    );
}

async fn tokens_are_stored_only_as_hashes(fx: Fixture) {
    let store = fx.open().await;
    let row = operator("li.wei", 0x5a, &[Role::Viewer]);
    store.insert_operator(&row).await.expect("add");
    // The table has no column a token could be in but its 32-byte hash.
    let columns: Vec<String> = match &store {
        store::Store::Sqlite(pool) => {
            sqlx::query_scalar("SELECT name FROM pragma_table_info('operators')")
                .fetch_all(pool)
                .await
                .expect("columns")
        }
        store::Store::Postgres(pool) => sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'operators' AND table_schema = current_schema()",
        )
        .fetch_all(pool)
        .await
        .expect("columns"),
    };
    let mut columns = columns;
    columns.sort();
    assert_eq!(
        columns,
        [
            "created_at",
            "created_by",
            "disabled_at",
            "name",
            "roles",
            "token_hash"
        ]
    );
}
