//! The codes the holder platform issued: the holder's own history ("my codes"), the count the
//! per-holder rate limit reads, the printed codes a holder may report lost, and the counts the
//! province sees (how many still rely on paper).

use chrono::{DateTime, Utc};
use wire::code::Medium;

use crate::backend::{to_json, with_pool, Columns, Store};
use crate::error::{classify, classify_conflict, StoreError};

/// One issued code, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceRow {
    /// The code's nonce in hex: what revokes a printed one.
    pub code_id: String,
    /// The holder the code names.
    pub subject: String,
    /// Who asked for it when not the holder, and under which delegation.
    pub presenter: Option<String>,
    pub delegation: Option<String>,
    /// `presentation`, `holder-access` or `service-window`.
    pub purpose: String,
    pub medium: Medium,
    pub scope: Option<Vec<String>>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Codes issued since a time, by medium and by whether a presenter asked for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IssuanceCounts {
    pub phone: u64,
    pub paper: u64,
    /// Of those, issued to a presenter (an agent or a family member).
    pub presented: u64,
}

const COLUMNS: &str =
    "code_id, subject, presenter, delegation, purpose, medium, scope, issued_at, expires_at";

fn medium_from(text: &str) -> Result<Medium, StoreError> {
    match text {
        "phone" => Ok(Medium::Phone),
        "paper" => Ok(Medium::Paper),
        other => Err(StoreError::Corrupt(format!(
            "an issued code on unknown medium `{other}`"
        ))),
    }
}

fn issuance_from(row: &impl Columns) -> Result<IssuanceRow, StoreError> {
    let scope = row
        .opt_text("scope")?
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("`scope` is not a JSON list: {e}")))
        })
        .transpose()?;
    Ok(IssuanceRow {
        code_id: row.text("code_id")?,
        subject: row.text("subject")?,
        presenter: row.opt_text("presenter")?,
        delegation: row.opt_text("delegation")?,
        purpose: row.text("purpose")?,
        medium: medium_from(&row.text("medium")?)?,
        scope,
        issued_at: row.time("issued_at")?,
        expires_at: row.time("expires_at")?,
    })
}

impl Store {
    /// Records an issued code. [`StoreError::Conflict`] when its id (nonce) was issued before.
    pub async fn record_issuance(&self, row: &IssuanceRow) -> Result<(), StoreError> {
        let scope = row.scope.as_ref().map(to_json);
        let sql = format!(
            "INSERT INTO code_issuances ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let result = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&row.code_id)
                .bind(&row.subject)
                .bind(&row.presenter)
                .bind(&row.delegation)
                .bind(&row.purpose)
                .bind(row.medium.as_str())
                .bind(&scope)
                .bind(crate::micros(row.issued_at))
                .bind(crate::micros(row.expires_at))
                .execute(pool)
                .await
                .map(drop)
        });
        result.map_err(|e| {
            classify_conflict(e, || format!("code `{}` was issued before", row.code_id))
        })
    }

    /// The code `code_id`, if the platform issued it.
    pub async fn issuance(&self, code_id: &str) -> Result<Option<IssuanceRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM code_issuances WHERE code_id = $1");
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(code_id)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(issuance_from).transpose()
        })
    }

    /// The codes that name `subject` or that `subject` asked for as a presenter, newest first,
    /// issued before `before` (all when `None`), at most `limit`.
    pub async fn issuances_of(
        &self,
        subject: &str,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<IssuanceRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM code_issuances WHERE subject = $1 \
             AND ($2 IS NULL OR issued_at < $2) \
             UNION ALL SELECT {COLUMNS} FROM code_issuances \
             WHERE presenter = $1 AND subject <> $1 AND ($2 IS NULL OR issued_at < $2) \
             ORDER BY issued_at DESC, code_id DESC LIMIT $3"
        );
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(subject)
                .bind(before.map(crate::micros))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(issuance_from).collect()
        })
    }

    /// How many codes `requester` asked for since `since`: those naming them that they asked
    /// for themselves, and those they asked for as a presenter. The per-holder rate limit.
    pub async fn issuances_requested_since(
        &self,
        requester: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sql = "SELECT \
                   (SELECT count(*) FROM code_issuances \
                    WHERE subject = $1 AND presenter IS NULL AND issued_at > $2) + \
                   (SELECT count(*) FROM code_issuances WHERE presenter = $1 AND issued_at > $2) \
                   AS n";
        with_pool!(self, |pool| {
            let row = sqlx::query(sql)
                .bind(requester)
                .bind(crate::micros(since))
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            row.count("n")
        })
    }

    /// Codes issued since `since`, by medium, and how many of them to a presenter.
    pub async fn issuance_counts(
        &self,
        since: DateTime<Utc>,
    ) -> Result<IssuanceCounts, StoreError> {
        let sql = "SELECT \
                   COALESCE(SUM(CASE WHEN medium = 'phone' THEN 1 ELSE 0 END), 0) AS phone, \
                   COALESCE(SUM(CASE WHEN medium = 'paper' THEN 1 ELSE 0 END), 0) AS paper, \
                   COALESCE(SUM(CASE WHEN presenter IS NOT NULL THEN 1 ELSE 0 END), 0) \
                       AS presented \
                   FROM code_issuances WHERE issued_at > $1";
        with_pool!(self, |pool| {
            let row = sqlx::query(sql)
                .bind(crate::micros(since))
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            Ok(IssuanceCounts {
                phone: row.count("phone")?,
                paper: row.count("paper")?,
                presented: row.count("presented")?,
            })
        })
    }
}
