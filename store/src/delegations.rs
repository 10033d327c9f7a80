//! Delegations and revocations: who may show codes that name someone else, and what every node
//! refuses at once.
//!
//! A delegation is a company's authorization of an agent (经办人) for some certificate types, or
//! a holder's standing grant to a family member to show codes for some scenarios (代亮码). The
//! holder platform writes them; a code issued under one carries its id. Revoking one — or
//! reporting a printed code lost — writes a [`Revocation`] in the same transaction and, on
//! PostgreSQL, sends it on [`REVOCATIONS_CHANNEL`] at commit, so every gateway node refuses the
//! codes at once. A revocation is kept until the codes it covers would have expired anyway.

use chrono::{DateTime, Utc};
use wire::code::Relation;

use crate::backend::{to_json, with_pool, Columns, Store};
use crate::error::{classify, classify_conflict, StoreError};

/// The PostgreSQL channel revocations travel on: the payload is `<kind> <id>`.
pub const REVOCATIONS_CHANNEL: &str = "mianzheng_revocations";

/// A delegation, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationRow {
    pub id: String,
    pub relation: Relation,
    /// The holder the codes name: the company (agent) or the person (family).
    pub principal: String,
    /// The principal's home city (GB/T 2260), which the codes naming the principal carry.
    pub principal_city: Option<u32>,
    /// Who shows them.
    pub delegate: String,
    /// The delegate's name as venues see it (masked).
    pub delegate_name: String,
    /// Certificate types (agent) or scenarios (family).
    pub scope: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Who created it: the principal's subject handle, or an operator.
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

impl DelegationRow {
    /// Whether codes may be issued and accepted under it at `at`.
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.valid_from <= at && at < self.valid_until
    }
}

/// What a revocation revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// A delegation: every code issued under it.
    Delegation,
    /// One printed code, by its id (the nonce in hex).
    PaperCode,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Delegation => "delegation",
            RevocationKind::PaperCode => "paper_code",
        }
    }

    pub fn parse(text: &str) -> Option<RevocationKind> {
        [RevocationKind::Delegation, RevocationKind::PaperCode]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One revocation in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub id: String,
    /// After this, every code it covers has expired: the revocation may be forgotten.
    pub until: DateTime<Utc>,
    pub revoked_at: DateTime<Utc>,
}

impl Revocation {
    /// The NOTIFY payload: `<kind> <id>`.
    pub fn payload(kind: RevocationKind, id: &str) -> String {
        format!("{} {id}", kind.as_str())
    }

    /// The kind and id of a NOTIFY payload, or `None` for anything else.
    pub fn parse_payload(text: &str) -> Option<(RevocationKind, &str)> {
        let (kind, id) = text.split_once(' ')?;
        Some((RevocationKind::parse(kind)?, id)).filter(|(_, id)| !id.is_empty())
    }
}

/// Delegations of one relation: how many are active, lapsed and revoked at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelegationCount {
    pub relation: Relation,
    pub active: u64,
    pub lapsed: u64,
    pub revoked: u64,
}

const COLUMNS: &str = "id, relation, principal, principal_city, delegate, delegate_name, scope, \
                       valid_from, valid_until, created_at, created_by, revoked_at, revoked_by";

fn relation_from(text: &str) -> Result<Relation, StoreError> {
    match text {
        "agent" => Ok(Relation::Agent),
        "family" => Ok(Relation::Family),
        other => Err(StoreError::Corrupt(format!(
            "a delegation of unknown relation `{other}`"
        ))),
    }
}

fn delegation_from(row: &impl Columns) -> Result<DelegationRow, StoreError> {
    Ok(DelegationRow {
        id: row.text("id")?,
        relation: relation_from(&row.text("relation")?)?,
        principal: row.text("principal")?,
        principal_city: row
            .opt_int("principal_city")?
            .map(|city| {
                u32::try_from(city)
                    .map_err(|_| StoreError::Corrupt(format!("a principal's city of {city}")))
            })
            .transpose()?,
        delegate: row.text("delegate")?,
        delegate_name: row.text("delegate_name")?,
        scope: row.json("scope")?,
        valid_from: row.time("valid_from")?,
        valid_until: row.time("valid_until")?,
        created_at: row.time("created_at")?,
        created_by: row.text("created_by")?,
        revoked_at: row.opt_time("revoked_at")?,
        revoked_by: row.opt_text("revoked_by")?,
    })
}

fn revocation_from(row: &impl Columns) -> Result<Revocation, StoreError> {
    let kind = row.text("kind")?;
    Ok(Revocation {
        kind: RevocationKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("a revocation of unknown kind `{kind}`")))?,
        id: row.text("id")?,
        until: row.time("until")?,
        revoked_at: row.time("revoked_at")?,
    })
}

const INSERT_REVOCATION: &str = "INSERT INTO revocations (kind, id, until, revoked_at) \
                                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

impl Store {
    /// Stores a new delegation. [`StoreError::Conflict`] when its id is taken;
    /// [`StoreError::Invalid`] when it ends before it starts.
    pub async fn insert_delegation(&self, row: &DelegationRow) -> Result<(), StoreError> {
        if row.valid_until <= row.valid_from {
            return Err(StoreError::Invalid(format!(
                "delegation `{}` ends ({}) before it starts ({})",
                row.id, row.valid_until, row.valid_from
            )));
        }
        let scope = to_json(&row.scope);
        let sql = format!(
            "INSERT INTO delegations ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let result = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&row.id)
                .bind(row.relation.as_str())
                .bind(&row.principal)
                .bind(row.principal_city.map(i64::from))
                .bind(&row.delegate)
                .bind(&row.delegate_name)
                .bind(&scope)
                .bind(crate::micros(row.valid_from))
                .bind(crate::micros(row.valid_until))
                .bind(crate::micros(row.created_at))
                .bind(&row.created_by)
                .bind(row.revoked_at.map(crate::micros))
                .bind(&row.revoked_by)
                .execute(pool)
                .await
                .map(drop)
        });
        result.map_err(|e| classify_conflict(e, || format!("delegation `{}` exists", row.id)))
    }

    /// The delegation `id`.
    pub async fn delegation(&self, id: &str) -> Result<Option<DelegationRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM delegations WHERE id = $1");
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(delegation_from).transpose()
        })
    }

    /// The delegations `subject` gave (as principal) or holds (as delegate), newest first, at
    /// most `limit`.
    pub async fn delegations_of(
        &self,
        subject: &str,
        limit: u32,
    ) -> Result<Vec<DelegationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM delegations WHERE principal = $1 \
             UNION ALL SELECT {COLUMNS} FROM delegations WHERE delegate = $1 AND principal <> $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(subject)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(delegation_from).collect()
        })
    }

    /// Every delegation of `relation` (or of both), newest first, at most `limit`: the
    /// operators' list.
    pub async fn list_delegations(
        &self,
        relation: Option<Relation>,
        limit: u32,
    ) -> Result<Vec<DelegationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM delegations WHERE ($1 IS NULL OR relation = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(relation.map(Relation::as_str))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(delegation_from).collect()
        })
    }

    /// How many delegations of each relation are active, lapsed and revoked at `at`.
    pub async fn delegation_counts(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<DelegationCount>, StoreError> {
        let sql = "SELECT relation, \
                   SUM(CASE WHEN revoked_at IS NULL AND valid_from <= $1 AND valid_until > $1 \
                       THEN 1 ELSE 0 END) AS active, \
                   SUM(CASE WHEN revoked_at IS NULL AND valid_until <= $1 THEN 1 ELSE 0 END) \
                       AS lapsed, \
                   SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END) AS revoked \
                   FROM delegations GROUP BY relation ORDER BY relation";
        with_pool!(self, |pool| {
            let rows = sqlx::query(sql)
                .bind(crate::micros(at))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    Ok(DelegationCount {
                        relation: relation_from(&row.text("relation")?)?,
                        active: row.count("active")?,
                        lapsed: row.count("lapsed")?,
                        revoked: row.count("revoked")?,
                    })
                })
                .collect()
        })
    }

    /// Revokes delegation `id` at `at` and returns it; revoking a revoked one keeps its first
    /// time and revoker. Its revocation is written in the same transaction and, on PostgreSQL,
    /// sent to every node at commit. [`StoreError::NotFound`] for an unknown id.
    pub async fn revoke_delegation(
        &self,
        id: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<DelegationRow, StoreError> {
        let at = crate::micros(at);
        let update = format!(
            "UPDATE delegations SET revoked_at = COALESCE(revoked_at, $1), \
             revoked_by = COALESCE(revoked_by, $2) WHERE id = $3 RETURNING {COLUMNS}"
        );
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            let row = sqlx::query(&update)
                .bind(at)
                .bind(by)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            let delegation = row
                .as_ref()
                .map(delegation_from)
                .transpose()?
                .ok_or_else(|| StoreError::NotFound {
                    what: "delegation",
                    id: id.to_owned(),
                })?;
            sqlx::query(INSERT_REVOCATION)
                .bind(RevocationKind::Delegation.as_str())
                .bind(id)
                .bind(crate::micros(delegation.valid_until))
                .bind(delegation.revoked_at.unwrap_or(at))
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            if let Some(notify) = dialect.pick_optional((None, Some("SELECT pg_notify($1, $2)"))) {
                sqlx::query(notify)
                    .bind(REVOCATIONS_CHANNEL)
                    .bind(Revocation::payload(RevocationKind::Delegation, id))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(delegation)
        })
    }

    /// Revokes the printed code `code_id` (its nonce in hex), which expires at `until`; sent to
    /// every node at commit on PostgreSQL. False when it was revoked already.
    pub async fn revoke_paper_code(
        &self,
        code_id: &str,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            let inserted = sqlx::query(INSERT_REVOCATION)
                .bind(RevocationKind::PaperCode.as_str())
                .bind(code_id)
                .bind(crate::micros(until))
                .bind(crate::micros(at))
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected()
                > 0;
            if let Some(notify) = dialect.pick_optional((None, Some("SELECT pg_notify($1, $2)"))) {
                sqlx::query(notify)
                    .bind(REVOCATIONS_CHANNEL)
                    .bind(Revocation::payload(RevocationKind::PaperCode, code_id))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(inserted)
        })
    }

    /// Whether `id` of `kind` is revoked (and the revocation still kept).
    pub async fn is_revoked(&self, kind: RevocationKind, id: &str) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            let row =
                sqlx::query("SELECT count(*) AS n FROM revocations WHERE kind = $1 AND id = $2")
                    .bind(kind.as_str())
                    .bind(id)
                    .fetch_one(pool)
                    .await
                    .map_err(classify)?;
            Ok(row.count("n")? > 0)
        })
    }

    /// The revocations still in force at `at` (those whose codes may not all have expired).
    pub async fn revocations_in_force(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT kind, id, until, revoked_at FROM revocations WHERE until > $1 \
                 ORDER BY revoked_at",
            )
            .bind(crate::micros(at))
            .fetch_all(pool)
            .await
            .map_err(classify)?;
            rows.iter().map(revocation_from).collect()
        })
    }

    /// Forgets revocations whose codes had all expired by `before`; how many.
    pub async fn prune_revocations(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM revocations WHERE until <= $1")
                .bind(crate::micros(before))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
                .map_err(classify)
        })
    }
}
