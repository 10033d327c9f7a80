//! The audit log: one entry per verification, hash-chained, with signed checkpoints of the chain
//! head. The chain's arithmetic (what is hashed, how checkpoints are signed) lives with the
//! gateway; the store keeps what it is given, refuses an append that would fork or gap the chain,
//! and hands entries back unchanged for `gateway audit verify` to re-walk.

use std::borrow::Cow;
use std::collections::HashSet;

pub use crate::entry::AuditEntry;
use chrono::{DateTime, Utc};
pub use wire::audit::AuditRecord;

use crate::backend::{exact_micros, to_json, with_pool, Columns, Store};
use crate::bulk::{BulkInsert, EntryRow, SpendRow};
use crate::entry::{entry_from, ENTRY_COLUMNS, HEAD};
use crate::error::{classify, is_unique_violation, StoreError};
use crate::spent::{Spend, SpentBy, WHO_SPENT};

/// What became of an append that spends codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Every entry is stored and every code spent.
    Committed,
    /// Nothing was written: these entries (by index, in order) spend codes already spent, by
    /// whom and when.
    AlreadySpent(Vec<(usize, SpentBy)>),
}

/// A signed statement of the chain head at some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Seq of the head entry.
    pub seq: i64,
    pub head_hash: [u8; 32],
    /// Entries in the chain up to the head.
    pub count: i64,
    /// Must be whole microseconds ([`crate::micros`]).
    pub at: DateTime<Utc>,
    pub node: String,
    /// Id of the signing key.
    pub kid: String,
    pub signature: Vec<u8>,
}

/// Taken by an appender before it reads the head, so that the head is still the head when it
/// commits: one appender at a time. SQLite: nothing more, `BEGIN IMMEDIATE` already holds the
/// database's write lock. PostgreSQL: a table lock that conflicts with itself but not with
/// readers (`seq` being the primary key would refuse a duplicate anyway, but not two writers
/// starting different chains on an empty log).
const LOCK_APPENDERS: (Option<&str>, Option<&str>) = (
    None,
    Some("LOCK TABLE audit_entries IN SHARE ROW EXCLUSIVE MODE"),
);

/// Spent codes named by the index of the entry that spends them.
type SpendsOf<'a> = Vec<&'a (usize, Spend)>;

fn checkpoint_from(row: &impl Columns) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        seq: row.int("seq")?,
        head_hash: row.hash("head_hash")?,
        count: row.int("count")?,
        at: row.time("at")?,
        node: row.text("node")?,
        kid: row.text("kid")?,
        signature: row.bytes("signature")?,
    })
}

/// Checks that a batch is a chain of its own: seqs one apart, each `prev_hash` the hash before.
fn check_batch(entries: &[AuditEntry]) -> Result<(), StoreError> {
    for entry in entries {
        exact_micros(entry.at, "audit entry")?;
    }
    for pair in entries.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        if after.seq != before.seq + 1 {
            return Err(StoreError::Invalid(format!(
                "audit batch jumps from seq {} to seq {}",
                before.seq, after.seq
            )));
        }
        if after.prev_hash != before.hash {
            return Err(StoreError::Invalid(format!(
                "audit entry {}: `prev_hash` is not the hash of entry {}",
                after.seq, before.seq
            )));
        }
    }
    Ok(())
}

/// Checks that a batch continues the stored head.
fn check_continues(head: Option<(i64, [u8; 32])>, first: &AuditEntry) -> Result<(), StoreError> {
    let Some((head_seq, head_hash)) = head else {
        // An empty log: the chain's genesis (first seq, first prev_hash) is the writer's call.
        return Ok(());
    };
    if first.seq != head_seq + 1 {
        return Err(StoreError::Conflict(format!(
            "audit entries start at seq {} but the stored head is seq {head_seq}: another writer \
             appended, or this writer's head is stale",
            first.seq
        )));
    }
    if first.prev_hash != head_hash {
        return Err(StoreError::Conflict(format!(
            "audit entry {}: `prev_hash` is not the hash of the stored head (seq {head_seq})",
            first.seq
        )));
    }
    Ok(())
}

impl Store {
    /// Appends a batch of entries in one transaction and returns once it is committed (group
    /// commit: the caller answers the batch's requests after this returns).
    ///
    /// The batch must be a chain of its own ([`StoreError::Invalid`] otherwise) that continues
    /// the stored head: first seq = head seq + 1 and first `prev_hash` = head hash. Otherwise
    /// nothing is written and the error is [`StoreError::Conflict`], so a second writer cannot
    /// fork the chain; appenders are serialised (SQLite's write lock, a table lock on
    /// PostgreSQL) and `seq` is the primary key besides. On an empty log any first seq is taken.
    pub async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        match self.append_audit_spending(entries, &[]).await? {
            Appended::Committed => Ok(()),
            Appended::AlreadySpent(_) => Err(StoreError::Invalid(
                "no code was spent, yet one was already spent".into(),
            )),
        }
    }

    /// [`Store::append_audit`], spending codes in the same transaction: `spends` pairs the index
    /// of an entry in `entries` with the code it spends (the spent row takes the entry's node and
    /// time). When any of those codes was spent already — by another node, before a restart, or
    /// earlier in this same batch — nothing is written and the answer is
    /// [`Appended::AlreadySpent`], naming each such entry and who spent its code first; the
    /// caller turns those entries into refusals and appends again.
    pub async fn append_audit_spending(
        &self,
        entries: &[AuditEntry],
        spends: &[(usize, Spend)],
    ) -> Result<Appended, StoreError> {
        let Some(first) = entries.first() else {
            return Ok(Appended::Committed);
        };
        check_batch(entries)?;
        let given = |head| {
            check_continues(head, first)?;
            Ok(Cow::Borrowed(entries))
        };
        self.append_under_lock(given, spends)
            .await
            .map(|(appended, _)| appended)
    }

    /// [`Store::append_audit_spending`] for a writer that chains its batch onto whatever head it
    /// finds: `chain` is called with the stored head (`None` for an empty log) while the
    /// appenders' lock is held, so the batch always continues the head — writers on several
    /// nodes wait for each other instead of failing with [`StoreError::Conflict`] and chaining
    /// again. Returns the entries as chained and committed (or, for
    /// [`Appended::AlreadySpent`], as they would have been).
    pub async fn append_audit_chaining(
        &self,
        chain: impl FnOnce(Option<(i64, [u8; 32])>) -> Vec<AuditEntry>,
        spends: &[(usize, Spend)],
    ) -> Result<(Appended, Vec<AuditEntry>), StoreError> {
        let make = |head| {
            let entries = chain(head);
            check_batch(&entries)?;
            if let Some(first) = entries.first() {
                check_continues(head, first)?;
            }
            Ok(Cow::Owned(entries))
        };
        let (appended, entries) = self.append_under_lock(make, spends).await?;
        Ok((appended, entries.into_owned()))
    }

    /// One append transaction: the appenders' lock, the head, the batch `make` gives for it, the
    /// spent codes, the entries, the commit.
    async fn append_under_lock<'e>(
        &self,
        make: impl FnOnce(Option<(i64, [u8; 32])>) -> Result<Cow<'e, [AuditEntry]>, StoreError>,
        spends: &[(usize, Spend)],
    ) -> Result<(Appended, Cow<'e, [AuditEntry]>), StoreError> {
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            if let Some(lock) = dialect.pick_optional(LOCK_APPENDERS) {
                sqlx::query(lock)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            let head = sqlx::query(HEAD)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            let head = match head {
                Some(row) => Some((row.int("seq")?, row.hash("hash")?)),
                None => None,
            };
            let entries = make(head)?;
            let Some(first_seq) = entries.first().map(|e| e.seq) else {
                tx.rollback().await.map_err(classify)?;
                return Ok((Appended::Committed, entries));
            };
            if let Some((index, _)) = spends.iter().find(|(i, _)| *i >= entries.len()) {
                return Err(StoreError::Invalid(format!(
                    "a spent code names entry {index} of a batch of {}",
                    entries.len()
                )));
            }
            // Each code once per batch: a second use within the batch loses to the first.
            let mut seen = HashSet::with_capacity(spends.len());
            let (fresh, mut repeated): (SpendsOf<'_>, SpendsOf<'_>) =
                spends.iter().partition(|(_, spend)| seen.insert(*spend));
            let rows: Vec<SpendRow<'_>> = fresh
                .iter()
                .map(|(index, spend)| SpendRow {
                    spend: *spend,
                    node: &entries[*index].node,
                    at: entries[*index].at,
                })
                .collect();
            let inserted: HashSet<Spend> = tx.insert_spends(&rows).await?.into_iter().collect();
            repeated.extend(fresh.iter().filter(|(_, spend)| !inserted.contains(spend)));
            if !repeated.is_empty() {
                let mut losers = Vec::with_capacity(repeated.len());
                for (index, spend) in repeated {
                    let row = sqlx::query(WHO_SPENT)
                        .bind(spend.bucket)
                        .bind(&spend.nonce[..])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(classify)?;
                    let by = match row {
                        Some(row) => SpentBy {
                            node: row.text("node")?,
                            at: row.time("used_at")?,
                        },
                        None => {
                            return Err(StoreError::Corrupt(
                                "a spent code vanished within a transaction".into(),
                            ))
                        }
                    };
                    losers.push((*index, by));
                }
                losers.sort_by_key(|(index, _)| *index);
                tx.rollback().await.map_err(classify)?;
                return Ok((Appended::AlreadySpent(losers), entries));
            }
            let rows: Vec<EntryRow<'_>> = entries
                .iter()
                .map(|entry| EntryRow {
                    entry,
                    certificates: to_json(&entry.certificates),
                    requirement_verdicts: to_json(&entry.requirement_verdicts),
                })
                .collect();
            tx.insert_entries(&rows)
                .await
                .map_err(|e| append_failed(e, first_seq))?;
            // Until here nothing is stored whatever fails; a failed COMMIT may have landed.
            tx.commit()
                .await
                .map_err(|e| match append_failed(e, first_seq) {
                    StoreError::Unavailable(e) => StoreError::CommitUnknown(e),
                    other => other,
                })?;
            Ok((Appended::Committed, entries))
        })
    }

    /// The last entry's (seq, hash), or `None` for an empty log.
    pub async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(HEAD)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            match row {
                Some(row) => Ok(Some((row.int("seq")?, row.hash("hash")?))),
                None => Ok(None),
            }
        })
    }

    /// Up to `limit` entries from `from_seq` on, in chain order (for re-walking the chain).
    pub async fn audit_range(
        &self,
        from_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq >= $1 ORDER BY seq LIMIT $2"
        );
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(from_seq)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(entry_from).collect()
        })
    }

    /// The entry of one verification (an objection names it).
    pub async fn audit_by_verification(
        &self,
        verification_id: &str,
    ) -> Result<Option<AuditEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE verification_id = $1 \
             ORDER BY seq LIMIT 1"
        );
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(verification_id)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(entry_from).transpose()
        })
    }

    /// The last `limit` entries of the chain, newest first.
    pub async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_entries ORDER BY seq DESC LIMIT $1");
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(entry_from).collect()
        })
    }

    /// Stores a signed checkpoint.
    pub async fn append_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        exact_micros(checkpoint.at, "checkpoint")?;
        let sql =
            "INSERT INTO audit_checkpoints (seq, head_hash, count, at, node, kid, signature) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let result = with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(checkpoint.seq)
                .bind(&checkpoint.head_hash[..])
                .bind(checkpoint.count)
                .bind(checkpoint.at)
                .bind(&checkpoint.node)
                .bind(&checkpoint.kid)
                .bind(&checkpoint.signature[..])
                .execute(pool)
                .await
                .map(drop)
        });
        result.map_err(classify)
    }

    /// Every checkpoint, by seq and then in the order they were written.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let sql = "SELECT seq, head_hash, count, at, node, kid, signature \
                   FROM audit_checkpoints ORDER BY seq, id";
        with_pool!(self, |pool| {
            let rows = sqlx::query(sql).fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(checkpoint_from).collect()
        })
    }
}

fn append_failed(err: sqlx::Error, first_seq: i64) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict(format!(
            "audit seq {first_seq} or a later one is already stored: another writer appended"
        ))
    } else {
        classify(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, prev: u8, hash: u8) -> AuditEntry {
        AuditEntry {
            seq,
            record: AuditRecord {
                at: DateTime::from_timestamp(1_700_000_000, 0).expect("valid time"),
                node: "n1".into(),
                venue: "v".into(),
                scenario: "s".into(),
                certificates: vec![],
                verdict: "pass".into(),
                requirement_verdicts: vec![],
                latency_us: 1,
                subject_hash: [0; 32],
                verification_id: format!("vid-{seq}"),
            },
            prev_hash: [prev; 32],
            hash: [hash; 32],
        }
    }

    #[test]
    fn a_batch_must_be_a_chain() {
        assert!(check_batch(&[entry(1, 0, 1), entry(2, 1, 2)]).is_ok());
        assert!(check_batch(&[entry(1, 0, 1), entry(3, 1, 2)]).is_err());
        assert!(check_batch(&[entry(1, 0, 1), entry(2, 9, 2)]).is_err());
    }

    #[test]
    fn a_batch_must_continue_the_head() {
        assert!(check_continues(None, &entry(7, 0, 1)).is_ok());
        assert!(check_continues(Some((6, [5; 32])), &entry(7, 5, 1)).is_ok());
        assert!(check_continues(Some((6, [5; 32])), &entry(8, 5, 1)).is_err());
        assert!(check_continues(Some((6, [5; 32])), &entry(6, 5, 1)).is_err());
        assert!(check_continues(Some((6, [5; 32])), &entry(7, 4, 1)).is_err());
    }
}
