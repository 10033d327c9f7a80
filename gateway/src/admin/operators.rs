//! Operator accounts: who is calling the admin API, and making, listing and disabling accounts
//! (for the admin API's routes and for `gateway operators …`).
//!
//! A request's bearer token is hashed and looked up by its hash in the store, behind a cache of
//! [`CACHE_TTL`]: an operator disabled on this node is refused at once, on the other nodes
//! sharing the store within [`CACHE_TTL`]. The bootstrap secret (`admin.token`) is not an
//! operator: while the store holds no operator it may create the first one, and afterwards it is
//! refused everywhere.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use sha2::{Digest as _, Sha256};
use store::{OperatorRow, Store};
use wire::admin_api::{OperatorRegistration, OperatorView, Role};

use crate::error::Failure;

/// How long a token's account (or its absence) is served from a node's memory: the longest an
/// operator disabled on another node keeps working here.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// `created_by` of the operator the bootstrap secret creates.
pub const BOOTSTRAP_CREATOR: &str = "bootstrap";

/// Longest operator name, in bytes.
const MAX_NAME: usize = 64;

/// An operator signed in with their own token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub roles: Vec<Role>,
}

impl Operator {
    /// Refuses with 403 `admin.forbidden`, naming `needed`, unless a role grants it.
    pub fn require(&self, needed: Role) -> Result<(), Failure> {
        if Role::any_grants(&self.roles, needed) {
            Ok(())
        } else {
            Err(Failure::AdminForbidden {
                operator: self.name.clone(),
                needed,
                held: role_list(&self.roles),
            })
        }
    }
}

/// Who a request's bearer token says the caller is.
#[derive(Debug, Clone)]
pub enum Caller {
    Operator(Arc<Operator>),
    /// The bootstrap secret, while no operator exists.
    Bootstrap,
}

/// Why an account cannot be made as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidAccount {
    #[error("operator name `{0}` must be 1–64 lowercase letters, digits, `-`, `_` or `.`")]
    Name(String),
    #[error("an operator needs at least one role (viewer, objection-handler, …)")]
    NoRole,
    #[error(
        "the first operator must hold `operator-admin`, or no one could add the others through \
         the admin API"
    )]
    FirstWithoutOperatorAdmin,
}

impl From<InvalidAccount> for Failure {
    fn from(e: InvalidAccount) -> Failure {
        Failure::Unprocessable(e.to_string())
    }
}

/// A new account for `name` with `roles` (sorted, each once) and a fresh token, returned beside
/// it: the row holds only the token's hash, and the token is shown once.
pub fn new_account(
    name: &str,
    roles: &[Role],
    created_by: &str,
) -> Result<(OperatorRow, String), InvalidAccount> {
    let token = crate::venues::registry::fresh_secret("mzo_");
    Ok((account_with_token(name, roles, created_by, &token)?, token))
}

/// A new account whose token is `token` (the demo's operator has the demo token).
pub fn account_with_token(
    name: &str,
    roles: &[Role],
    created_by: &str,
    token: &str,
) -> Result<OperatorRow, InvalidAccount> {
    let valid_name = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if !valid_name {
        return Err(InvalidAccount::Name(name.to_owned()));
    }
    if roles.is_empty() {
        return Err(InvalidAccount::NoRole);
    }
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    Ok(OperatorRow {
        name: name.to_owned(),
        roles,
        token_hash: hash_token(token),
        created_at: store::now(),
        created_by: created_by.to_owned(),
        disabled_at: None,
    })
}

/// SHA-256 of a token: what the store keeps, and what a request's token is looked up by.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// An account as listed (never its token).
pub fn view(row: &OperatorRow) -> OperatorView {
    OperatorView {
        name: row.name.clone(),
        roles: row.roles.clone(),
        created_at: row.created_at,
        created_by: row.created_by.clone(),
        disabled_at: row.disabled_at,
    }
}

/// `viewer, objection-handler`.
pub fn role_list(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    names.join(", ")
}

/// The accounts behind the admin API, with the cache in front of the store.
#[derive(Clone)]
pub struct Operators {
    store: Store,
    /// SHA-256 of the bootstrap secret; `None` when none is configured.
    bootstrap_hash: Option<[u8; 32]>,
    /// Token hash → the account it belongs to, or `None` for no account.
    by_token: Cache<[u8; 32], Option<Arc<OperatorRow>>>,
}

impl std::fmt::Debug for Operators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operators")
            .field("bootstrap", &self.bootstrap_hash.is_some())
            .field("cached", &self.by_token.entry_count())
            .finish()
    }
}

impl Operators {
    /// The accounts in `store`; `bootstrap` is `admin.token` (or `MIANZHENG_ADMIN_TOKEN`).
    pub fn new(store: Store, bootstrap: Option<&str>) -> Operators {
        Operators {
            store,
            bootstrap_hash: bootstrap.map(hash_token),
            by_token: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// Who the bearer `token` is: an enabled operator, or the bootstrap secret while no
    /// operator exists. Refused with 401: no token or an unknown one (`admin.unauthorized`),
    /// a disabled operator's (`admin.operator_disabled`), the bootstrap secret once an operator
    /// exists (`admin.bootstrap_spent`).
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Caller, Failure> {
        let hash = hash_token(token.ok_or(Failure::AdminUnauthorized)?);
        match self.account(&hash).await? {
            Some(row) if row.is_enabled() => Ok(Caller::Operator(Arc::new(Operator {
                name: row.name.clone(),
                roles: row.roles.clone(),
            }))),
            Some(row) => Err(Failure::OperatorDisabled(row.name.clone())),
            // Comparing hashes: equal-length values whose timing says nothing about the secret.
            None if self.bootstrap_hash == Some(hash) => {
                if self.store.has_operators().await? {
                    Err(Failure::BootstrapSpent)
                } else {
                    Ok(Caller::Bootstrap)
                }
            }
            None => Err(Failure::AdminUnauthorized),
        }
    }

    async fn account(&self, hash: &[u8; 32]) -> Result<Option<Arc<OperatorRow>>, Failure> {
        if let Some(cached) = self.by_token.get(hash) {
            return Ok(cached);
        }
        let row = self.store.operator_by_token_hash(hash).await?.map(Arc::new);
        self.by_token.insert(*hash, row.clone());
        Ok(row)
    }

    /// Every account, by name.
    pub async fn list(&self) -> Result<Vec<OperatorRow>, Failure> {
        Ok(self.store.list_operators().await?)
    }

    /// Adds an operator on behalf of `created_by`; the row and its token (shown once).
    pub async fn add(
        &self,
        registration: &OperatorRegistration,
        created_by: &str,
    ) -> Result<(OperatorRow, String), Failure> {
        let (row, token) = new_account(&registration.name, &registration.roles, created_by)?;
        self.store.insert_operator(&row).await?;
        Ok((row, token))
    }

    /// Adds the first operator with the bootstrap secret; it must hold `operator-admin`.
    /// Refused with `admin.bootstrap_spent` when another request or node got there first.
    pub async fn add_first(
        &self,
        registration: &OperatorRegistration,
    ) -> Result<(OperatorRow, String), Failure> {
        if !registration.roles.contains(&Role::OperatorAdmin) {
            return Err(InvalidAccount::FirstWithoutOperatorAdmin.into());
        }
        let (row, token) = new_account(&registration.name, &registration.roles, BOOTSTRAP_CREATOR)?;
        if self.store.insert_first_operator(&row).await? {
            Ok((row, token))
        } else {
            Err(Failure::BootstrapSpent)
        }
    }

    /// Disables an operator: refused at once on this node, within [`CACHE_TTL`] on the others.
    pub async fn disable(&self, name: &str) -> Result<OperatorRow, Failure> {
        let row = self.store.disable_operator(name, store::now()).await?;
        self.by_token.invalidate(&row.token_hash);
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_have_a_slug_name_and_at_least_one_role() {
        let (row, token) = new_account(
            "li.wei",
            &[Role::VenueAdmin, Role::Viewer, Role::Viewer],
            "mei",
        )
        .expect("valid");
        assert_eq!(
            row.roles,
            [Role::Viewer, Role::VenueAdmin],
            "sorted, once each"
        );
        assert_eq!(row.token_hash, hash_token(&token));
        assert!(
            token.starts_with("mzo_") && token.len() == 4 + 64,
            "{token}"
        );
        assert_eq!(
            new_account("Li Wei", &[Role::Viewer], "mei").expect_err("a space"),
            InvalidAccount::Name("Li Wei".into())
        );
        assert_eq!(
            new_account("li", &[], "mei").expect_err("no role"),
            InvalidAccount::NoRole
        );
    }

    const SECRET: &str = "bootstrap-secret-0123456789";

    fn registration(name: &str, roles: &[Role]) -> OperatorRegistration {
        OperatorRegistration {
            name: name.into(),
            roles: roles.to_vec(),
        }
    }

    #[tokio::test]
    async fn the_bootstrap_secret_makes_only_the_first_operator() {
        store::testing::on_sqlite(|fx| async move {
            let operators = Operators::new(fx.open().await, Some(SECRET));
            let signed_in = operators.authenticate(Some(SECRET)).await;
            assert!(matches!(signed_in, Ok(Caller::Bootstrap)), "{signed_in:?}");
            let without = operators
                .add_first(&registration("root", &[Role::Viewer]))
                .await;
            assert!(
                matches!(without, Err(Failure::Unprocessable(_))),
                "{without:?}"
            );
            let (row, token) = operators
                .add_first(&registration("root", &[Role::OperatorAdmin]))
                .await
                .expect("the first operator");
            assert_eq!(row.created_by, BOOTSTRAP_CREATOR);
            let again = operators
                .add_first(&registration("second", &[Role::OperatorAdmin]))
                .await;
            assert!(matches!(again, Err(Failure::BootstrapSpent)), "{again:?}");
            let spent = operators.authenticate(Some(SECRET)).await;
            assert!(matches!(spent, Err(Failure::BootstrapSpent)), "{spent:?}");
            match operators.authenticate(Some(&token)).await {
                Ok(Caller::Operator(operator)) => assert_eq!(operator.name, "root"),
                other => panic!("root signs in: {other:?}"),
            }
        })
        .await;
    }

    #[tokio::test]
    async fn unknown_and_disabled_tokens_are_refused() {
        store::testing::on_sqlite(|fx| async move {
            let operators = Operators::new(fx.open().await, None);
            let none = operators.authenticate(None).await;
            assert!(matches!(none, Err(Failure::AdminUnauthorized)), "{none:?}");
            // Without a bootstrap secret, nothing else signs in either.
            let stranger = operators.authenticate(Some(SECRET)).await;
            assert!(
                matches!(stranger, Err(Failure::AdminUnauthorized)),
                "{stranger:?}"
            );
            let (_, token) = operators
                .add(
                    &registration("li.wei", &[Role::ObjectionHandler]),
                    "cli:test",
                )
                .await
                .expect("added");
            assert!(operators.authenticate(Some(&token)).await.is_ok());
            // Disabled on this node: refused at once, although the account was cached.
            operators.disable("li.wei").await.expect("disabled");
            let refused = operators.authenticate(Some(&token)).await;
            assert!(
                matches!(&refused, Err(Failure::OperatorDisabled(name)) if name == "li.wei"),
                "{refused:?}"
            );
        })
        .await;
    }

    #[test]
    fn a_missing_role_is_named() {
        let viewer = Operator {
            name: "mei".into(),
            roles: vec![Role::Viewer],
        };
        assert!(viewer.require(Role::Viewer).is_ok());
        let refused = viewer
            .require(Role::ObjectionHandler)
            .expect_err("a viewer does not handle objections");
        assert_eq!(refused.code(), "admin.forbidden");
        assert_eq!(refused.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(
            refused.to_string(),
            "this needs the `objection-handler` role; operator `mei` holds viewer"
        );
    }
}
