//! Spent codes: each code's nonce is accepted once across every node sharing the store and
//! across restarts, for as long as the code is valid.
//!
//! A verification spends its code inside the group commit of its audit entry
//! ([`Store::append_audit_spending`]): the nonce is inserted under the table's key in the same
//! transaction, so the answer that already waits for that commit learns of a replay on another
//! node without a round trip of its own. The holder's own routes spend a code one at a time
//! ([`Store::spend_code`]).
//!
//! Rows are keyed by (expiry bucket, nonce): a replay carries the code's signed `exp`, so it
//! meets the first use on the same key, and [`Store::prune_spent`] drops whole buckets of
//! expired codes with range deletes on the key's prefix, in short chunks — off the verify
//! path, no timers per row.

use chrono::{DateTime, Utc};

use crate::backend::{exact_micros, with_pool, Columns, Store};
use crate::error::{classify, StoreError};

/// A code's nonce, filed under its expiry bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spend {
    /// The code's `exp` divided by the bucket width (the caller's choice, the same on every
    /// node).
    pub bucket: i64,
    /// The code's nonce (`cti`), folded to 16 bytes.
    pub nonce: [u8; 16],
}

/// Who spent a code, and when: what a refused replay is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentBy {
    pub node: String,
    pub at: DateTime<Utc>,
}

fn spent_by_from(row: &impl Columns) -> Result<SpentBy, StoreError> {
    Ok(SpentBy {
        node: row.text("node")?,
        at: row.time("used_at")?,
    })
}

pub(crate) const WHO_SPENT: &str =
    "SELECT node, used_at FROM spent_codes WHERE bucket = $1 AND nonce = $2";

/// Spends one code, leaving it as it is when it was spent already (then no row is affected).
pub(crate) const SPEND_ONE: &str = "INSERT INTO spent_codes (bucket, nonce, node, used_at) \
                                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

/// A code to spend with another write, in its transaction: by which node, when.
#[derive(Debug, Clone, Copy)]
pub struct SpendBy<'a> {
    pub spend: &'a Spend,
    pub node: &'a str,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Spends one code now, committed before it returns: `Ok(None)` when this was its first use,
    /// `Ok(Some(first use))` when it was spent already (by any node).
    pub async fn spend_code(
        &self,
        spend: &Spend,
        node: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<SpentBy>, StoreError> {
        exact_micros(at, "spent code")?;
        let inserted = with_pool!(self, |pool| {
            sqlx::query(SPEND_ONE)
                .bind(spend.bucket)
                .bind(&spend.nonce[..])
                .bind(node)
                .bind(at)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
                .map_err(classify)
        })?;
        if inserted == 1 {
            return Ok(None);
        }
        self.first_use(spend, node, at).await.map(Some)
    }

    /// Who spent a code that a write found spent already. When it has been pruned meanwhile
    /// (it expired), the use being refused is named instead.
    pub(crate) async fn first_use(
        &self,
        spend: &Spend,
        node: &str,
        at: DateTime<Utc>,
    ) -> Result<SpentBy, StoreError> {
        Ok(self.spent_code(spend).await?.unwrap_or_else(|| SpentBy {
            node: node.to_owned(),
            at,
        }))
    }

    /// Who spent a code, if anyone did (and it has not been pruned).
    pub async fn spent_code(&self, spend: &Spend) -> Result<Option<SpentBy>, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(WHO_SPENT)
                .bind(spend.bucket)
                .bind(&spend.nonce[..])
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(spent_by_from).transpose()
        })
    }

    /// Drops every spent code of a bucket below `oldest_live` (codes that have all expired),
    /// `chunk` rows per statement, returning how many rows went. Each statement is a short
    /// write transaction of its own, and the pruner pauses [`PRUNE_PAUSE`] between them: a
    /// minute's bucket at a busy node is tens of thousands of rows, and deleted at once it
    /// would hold SQLite's one write lock for seconds, stalling every audit commit behind it.
    pub async fn prune_spent(&self, oldest_live: i64, chunk: u32) -> Result<u64, StoreError> {
        let sql = "DELETE FROM spent_codes WHERE (bucket, nonce) IN \
                   (SELECT bucket, nonce FROM spent_codes WHERE bucket < $1 LIMIT $2)";
        let chunk = chunk.max(1);
        let mut pruned = 0;
        loop {
            let deleted = with_pool!(self, |pool| {
                sqlx::query(sql)
                    .bind(oldest_live)
                    .bind(i64::from(chunk))
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(classify)
            })?;
            pruned += deleted;
            if deleted < u64::from(chunk) {
                return Ok(pruned);
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }
}

/// The pause between two statements of a prune, for the writes waiting on the store.
pub const PRUNE_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);
