//! "Who checked me": the audit entries about one holder, found by the holder's subject hash.
//!
//! The subject hash is random, so an index on it inside the audit log would make every appended
//! entry dirty a page of its own, on the path every verification waits for. Instead the log is
//! appended in chain order only, and [`Store::index_subjects`] copies the subject hashes of the
//! entries appended since its last run into a side table (`audit_subjects`), many thousands at a
//! time and sorted by subject, so that each page of the side table is written once per run.
//! `audit_subjects_progress` records how far it got in each chain; [`Store::holder_accesses`]
//! reads the side table for the entries up to there and scans each chain's short tail beyond
//! it, in one statement, so an answer never misses an entry, however far behind the copying is.

use chrono::{DateTime, Utc};

use crate::backend::{with_pool, Columns, Store};
use crate::entry::{entry_from, AuditEntry, ENTRY_COLUMNS, HEAD};
use crate::error::{classify, StoreError};

/// How far the side table has got in a chain, locked on PostgreSQL so that two nodes copying at
/// once take turns (appenders never wait for it: they do not touch this row after their
/// chain's first append).
const UPTO: (&str, &str) = (
    "SELECT seq FROM audit_subjects_progress WHERE chain = $1",
    "SELECT seq FROM audit_subjects_progress WHERE chain = $1 FOR UPDATE",
);

/// A chain whose first append started no progress row (written before there were any).
const START: &str =
    "INSERT INTO audit_subjects_progress (chain, seq) VALUES ($1, 0) ON CONFLICT DO NOTHING";

const COPY: &str = "INSERT INTO audit_subjects (subject_hash, at, chain, seq) \
                    SELECT subject_hash, at, chain, seq FROM audit_entries \
                    WHERE chain = $1 AND seq > $2 AND seq <= $3 \
                    ORDER BY subject_hash, at, chain, seq \
                    ON CONFLICT DO NOTHING";

const ADVANCE: &str = "UPDATE audit_subjects_progress SET seq = $2 WHERE chain = $1";

/// The entries of one holder among those the side table holds, and among the chains' tails it
/// does not hold yet, newest first. `$1` subject hash, `$2` limit; `{before}` is empty for the
/// first page or the condition that continues after the last entry of the previous one.
fn accesses_query(before: &str) -> String {
    let tail_columns = ENTRY_COLUMNS
        .split(", ")
        .map(|column| format!("e.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let tail_before = before.replace("(at, chain, seq)", "(e.at, e.chain, e.seq)");
    format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE (chain, seq) IN (\
             SELECT chain, seq FROM audit_subjects WHERE subject_hash = $1 {before} \
             ORDER BY at DESC, chain DESC, seq DESC LIMIT $2) \
         UNION ALL \
         SELECT {tail_columns} FROM audit_subjects_progress p \
         JOIN audit_entries e ON e.chain = p.chain AND e.seq > p.seq \
         WHERE e.subject_hash = $1 {tail_before} \
         ORDER BY at DESC, chain DESC, seq DESC LIMIT $2"
    )
}

impl Store {
    /// Copies the subject hashes of up to `max_entries` entries appended since the last run into
    /// the side table "who checked me" reads, chain by chain; how many it copied (0 when it is
    /// up to date). Safe to run from every node at once: the runs take turns at each chain.
    pub async fn index_subjects(&self, max_entries: u32) -> Result<u64, StoreError> {
        let mut copied = 0u64;
        for chain in self.audit_chains().await? {
            let room = u64::from(max_entries).saturating_sub(copied);
            if room == 0 {
                break;
            }
            copied += self
                .index_chain_subjects(&chain, u32::try_from(room).unwrap_or(u32::MAX))
                .await?;
        }
        Ok(copied)
    }

    /// [`Store::index_subjects`] for one chain.
    async fn index_chain_subjects(&self, chain: &str, max_entries: u32) -> Result<u64, StoreError> {
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            sqlx::query(START)
                .bind(chain)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            let upto = sqlx::query(dialect.pick(UPTO))
                .bind(chain)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?
                .int("seq")?;
            let head = match sqlx::query(HEAD)
                .bind(chain)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?
            {
                Some(row) => row.int("seq")?,
                None => 0,
            };
            let target = head.min(upto.saturating_add(i64::from(max_entries)));
            if target <= upto {
                tx.rollback().await.map_err(classify)?;
                return Ok(0);
            }
            sqlx::query(COPY)
                .bind(chain)
                .bind(upto)
                .bind(target)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            sqlx::query(ADVANCE)
                .bind(chain)
                .bind(target)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            tx.commit().await.map_err(classify)?;
            Ok(u64::try_from(target - upto).unwrap_or(0))
        })
    }

    /// "Who checked me": a holder's entries, newest first (by time, then chain and seq). For the
    /// next page pass the (`at`, `chain`, `seq`) of the last entry of this one as `before`.
    pub async fn holder_accesses(
        &self,
        subject_hash: &[u8; 32],
        before: Option<(DateTime<Utc>, &str, i64)>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let first_page = accesses_query("");
        let next_page = accesses_query("AND (at, chain, seq) < ($3, $4, $5)");
        with_pool!(self, |pool| {
            let query = match before {
                None => sqlx::query(&first_page)
                    .bind(&subject_hash[..])
                    .bind(i64::from(limit)),
                Some((at, chain, seq)) => sqlx::query(&next_page)
                    .bind(&subject_hash[..])
                    .bind(i64::from(limit))
                    .bind(at)
                    .bind(chain)
                    .bind(seq),
            };
            let rows = query.fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(entry_from).collect()
        })
    }
}
