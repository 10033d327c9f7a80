//! Operator accounts of the admin API: a unique name, the roles it holds, its token only as a
//! SHA-256 hash, who added it and when, and when it was disabled. A disabled operator keeps its
//! row, so its name stays unique and readable in the histories it signed; it is never deleted.

use chrono::{DateTime, Utc};
use wire::admin_api::Role;

use crate::backend::{with_pool, Columns, Store};
use crate::error::{classify, classify_conflict, StoreError};

/// An operator account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    /// Unique; what objection histories and logs record as the actor.
    pub name: String,
    pub roles: Vec<Role>,
    /// SHA-256 of the operator's token; unique across operators.
    pub token_hash: [u8; 32],
    /// Stored to the microsecond (see [`crate::micros`]).
    pub created_at: DateTime<Utc>,
    /// Who added it: an operator's name, `bootstrap`, `demo` or `cli:<user>`.
    pub created_by: String,
    /// Set once: from then on the token is refused.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl OperatorRow {
    /// Whether the operator may still sign in.
    pub fn is_enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
}

const COLUMNS: &str = "name, roles, token_hash, created_at, created_by, disabled_at";

const INSERT: &str = "INSERT INTO operators (name, roles, token_hash, created_at, created_by, \
                      disabled_at) VALUES ($1, $2, $3, $4, $5, $6)";

fn operator_from(row: &impl Columns) -> Result<OperatorRow, StoreError> {
    Ok(OperatorRow {
        name: row.text("name")?,
        roles: row.json("roles")?,
        token_hash: row.hash("token_hash")?,
        created_at: row.time("created_at")?,
        created_by: row.text("created_by")?,
        disabled_at: row.opt_time("disabled_at")?,
    })
}

/// The conflict message when `operator`'s name or token is taken.
fn taken(operator: &OperatorRow) -> String {
    format!(
        "operator `{}` already exists (or its token is taken)",
        operator.name
    )
}

/// Binds an operator's columns, in [`INSERT`]'s order, to a query.
macro_rules! bind_operator {
    ($query:expr, $operator:expr, $roles:expr) => {
        $query
            .bind(&$operator.name)
            .bind($roles)
            .bind(&$operator.token_hash[..])
            .bind(crate::micros($operator.created_at))
            .bind(&$operator.created_by)
            .bind($operator.disabled_at.map(crate::micros))
    };
}

impl Store {
    /// Adds an operator. Fails with [`StoreError::Conflict`] when the name or the token hash is
    /// taken.
    pub async fn insert_operator(&self, operator: &OperatorRow) -> Result<(), StoreError> {
        let roles = crate::backend::to_json(&operator.roles);
        let result = with_pool!(self, |pool| {
            bind_operator!(sqlx::query(INSERT), operator, &roles)
                .execute(pool)
                .await
                .map(drop)
        });
        result.map_err(|e| classify_conflict(e, || taken(operator)))
    }

    /// Adds `operator` only if the store holds no operator at all (enabled or not): how the
    /// bootstrap secret creates the first one. False when one exists already. Two nodes racing
    /// cannot both add one: SQLite takes its write lock first, PostgreSQL locks the table.
    pub async fn insert_first_operator(&self, operator: &OperatorRow) -> Result<bool, StoreError> {
        let roles = crate::backend::to_json(&operator.roles);
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            if let Some(lock) = dialect.pick_optional((
                None,
                Some("LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE"),
            )) {
                sqlx::query(lock)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            let existing = sqlx::query("SELECT count(*) AS n FROM operators")
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?
                .count("n")?;
            if existing > 0 {
                return Ok(false);
            }
            bind_operator!(sqlx::query(INSERT), operator, &roles)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify_conflict(e, || taken(operator)))?;
            tx.commit().await.map_err(classify)?;
            Ok(true)
        })
    }

    /// Whether any operator exists, enabled or not.
    pub async fn has_operators(&self) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT count(*) AS n FROM operators")
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            Ok(row.count("n")? > 0)
        })
    }

    /// The operator whose token hashes to `token_hash`, enabled or not.
    pub async fn operator_by_token_hash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<OperatorRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM operators WHERE token_hash = $1");
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(&token_hash[..])
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(operator_from).transpose()
        })
    }

    /// The operator named `name`.
    pub async fn operator(&self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM operators WHERE name = $1");
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(operator_from).transpose()
        })
    }

    /// Every operator, by name.
    pub async fn list_operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM operators ORDER BY name");
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(operator_from).collect()
        })
    }

    /// Disables an operator at `at` and returns it; disabling a disabled one keeps its first
    /// time. Fails with [`StoreError::NotFound`] for an unknown name.
    pub async fn disable_operator(
        &self,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<OperatorRow, StoreError> {
        let sql = format!(
            "UPDATE operators SET disabled_at = COALESCE(disabled_at, $1) WHERE name = $2 \
             RETURNING {COLUMNS}"
        );
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(crate::micros(at))
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref()
                .map(operator_from)
                .transpose()?
                .ok_or_else(|| StoreError::NotFound {
                    what: "operator",
                    id: name.to_owned(),
                })
        })
    }
}
