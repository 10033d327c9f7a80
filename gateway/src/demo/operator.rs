//! The demo's operator: a gateway started with the demo admin token and no operator in its
//! store signs the console in with zero setup as `demo-operator`, holding every role, whose
//! token is the demo token ([`DEMO_ADMIN_TOKEN`]). Once any other operator exists it is not
//! created again, and the demo token is then only a spent bootstrap secret.

use anyhow::{Context as _, Result};
use store::Store;
use wire::admin_api::Role;

use crate::admin::operators::account_with_token;
use crate::config::DEMO_ADMIN_TOKEN;

/// The demo operator's name.
pub const DEMO_OPERATOR: &str = "demo-operator";

/// Creates [`DEMO_OPERATOR`] when `admin_token` is the demo token and the store holds no
/// operator; true when it did.
pub async fn create_if_first(store: &Store, admin_token: Option<&str>) -> Result<bool> {
    if admin_token != Some(DEMO_ADMIN_TOKEN) {
        return Ok(false);
    }
    let row = account_with_token(DEMO_OPERATOR, &Role::ALL, "demo", DEMO_ADMIN_TOKEN)
        .context("the demo operator")?;
    let created = store
        .insert_first_operator(&row)
        .await
        .context("creating the demo operator")?;
    if created {
        tracing::info!(
            operator = DEMO_OPERATOR,
            "demo: created `{DEMO_OPERATOR}` with every role; its token is the demo admin token"
        );
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_demo_token_on_an_empty_store_makes_the_demo_operator() {
        store::testing::on_sqlite(|fx| async move {
            let store = fx.open().await;
            assert!(!create_if_first(&store, Some("another-token-0123456789"))
                .await
                .expect("no demo token"));
            assert!(create_if_first(&store, Some(DEMO_ADMIN_TOKEN))
                .await
                .expect("created"));
            let row = store.operator(DEMO_OPERATOR).await.expect("read");
            assert_eq!(row.map(|r| r.roles), Some(Role::ALL.to_vec()));
            assert!(!create_if_first(&store, Some(DEMO_ADMIN_TOKEN))
                .await
                .expect("once"));
        })
        .await;
    }
}
