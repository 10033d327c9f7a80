//! The audit log: one entry per verification, hash-chained, with signed checkpoints of the chain
//! heads. Each node appends to a chain of its own (keyed by chain and seq), so nodes sharing a
//! store never wait for each other's commits. The chain's arithmetic (what is hashed, how
//! checkpoints are signed) lives with the gateway; the store keeps what it is given, refuses an
//! append that would fork or gap a chain, and hands entries back unchanged for `gateway audit
//! verify` to re-walk.

use std::borrow::Cow;
use std::collections::HashSet;

pub use crate::entry::AuditEntry;
use chrono::{DateTime, Utc};
pub use wire::audit::AuditRecord;

use crate::backend::{exact_micros, to_json, with_pool, Columns, Store};
use crate::bulk::{BulkInsert, EntryRow, SpendRow};
use crate::entry::{entry_from, CHAINS, ENTRY_COLUMNS, HEAD};
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

/// A chain's newest entry: where the chain ends, and its hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainHead {
    pub chain: String,
    pub seq: i64,
    pub hash: [u8; 32],
}

/// A signed statement of one chain's head at some time, naming the other chains' heads the
/// signer saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain whose head is signed (`""`: the one chain of before chains were per node).
    pub chain: String,
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
    /// The heads of the other chains the signer read from the store when it signed.
    pub witnessed: Vec<ChainHead>,
}

/// A witnessed head as the `witnessed` column keeps it: `[chain, seq, hex hash]`.
type StoredHead = (String, i64, String);

fn witnessed_to_json(heads: &[ChainHead]) -> String {
    let stored: Vec<StoredHead> = heads
        .iter()
        .map(|h| (h.chain.clone(), h.seq, hex::encode(h.hash)))
        .collect();
    to_json(&stored)
}

fn witnessed_from(row: &impl Columns) -> Result<Vec<ChainHead>, StoreError> {
    let stored: Vec<StoredHead> = row.json("witnessed")?;
    stored
        .into_iter()
        .map(|(chain, seq, hash)| {
            let hash = hex::decode(&hash)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "a witnessed head of chain `{chain}` has hash `{hash}`, not 32 hex bytes"
                    ))
                })?;
            Ok(ChainHead { chain, seq, hash })
        })
        .collect()
}

/// A chain's first append also starts the chain's progress in the "who checked me" side table,
/// so that the side table's readers find every chain's tail.
const START_SUBJECT_PROGRESS: &str = "INSERT INTO audit_subjects_progress (chain, seq) \
                                      VALUES ($1, 0) ON CONFLICT DO NOTHING";

/// Spent codes named by the index of the entry that spends them.
type SpendsOf<'a> = Vec<&'a (usize, Spend)>;

const CHECKPOINT_COLUMNS: &str =
    "chain, seq, head_hash, count, at, node, kid, signature, witnessed";

fn checkpoint_from(row: &impl Columns) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        chain: row.text("chain")?,
        seq: row.int("seq")?,
        head_hash: row.hash("head_hash")?,
        count: row.int("count")?,
        at: row.time("at")?,
        node: row.text("node")?,
        kid: row.text("kid")?,
        signature: row.bytes("signature")?,
        witnessed: witnessed_from(row)?,
    })
}

/// Checks that a batch is a piece of chain `chain`: seqs one apart, each `prev_hash` the hash
/// before.
fn check_batch(chain: &str, entries: &[AuditEntry]) -> Result<(), StoreError> {
    for entry in entries {
        exact_micros(entry.at, "audit entry")?;
        if entry.chain != chain {
            return Err(StoreError::Invalid(format!(
                "audit entry {} belongs to chain `{}`, not to chain `{chain}` of its batch",
                entry.seq, entry.chain
            )));
        }
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
        // An empty chain starts at seq 1 (so two writers starting it at once collide on the
        // key); its first `prev_hash` is the writer's call.
        if first.seq != 1 {
            return Err(StoreError::Conflict(format!(
                "audit entries of chain `{}` start at seq {} but the chain is empty: an empty \
                 chain starts at seq 1",
                first.chain, first.seq
            )));
        }
        return Ok(());
    };
    if first.seq != head_seq + 1 {
        return Err(StoreError::Conflict(format!(
            "audit entries of chain `{}` start at seq {} but its stored head is seq {head_seq}: \
             another writer appended to it, or this writer's head is stale",
            first.chain, first.seq
        )));
    }
    if first.prev_hash != head_hash {
        return Err(StoreError::Conflict(format!(
            "audit entry {} of chain `{}`: `prev_hash` is not the hash of the stored head (seq \
             {head_seq})",
            first.seq, first.chain
        )));
    }
    Ok(())
}

impl Store {
    /// Appends a batch of entries in one transaction and returns once it is committed (group
    /// commit: the caller answers the batch's requests after this returns).
    ///
    /// The batch must be a piece of one chain ([`StoreError::Invalid`] otherwise) that continues
    /// that chain's stored head: first seq = head seq + 1 and first `prev_hash` = head hash (an
    /// empty chain starts at seq 1). Otherwise nothing is written and the error is
    /// [`StoreError::Conflict`], so a second writer cannot fork a chain: (chain, seq) is the
    /// log's primary key, and two appends to one chain that read the same head cannot both
    /// commit. Appends to different chains do not wait for each other (on SQLite they take
    /// turns at the database's one write lock).
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
        check_batch(&first.chain, entries)?;
        let given = |head| {
            check_continues(head, first)?;
            Ok(Cow::Borrowed(entries))
        };
        self.append_to_chain(&first.chain, given, spends)
            .await
            .map(|(appended, _)| appended)
    }

    /// [`Store::append_audit_spending`] for the writer of chain `chain`, which chains its batch
    /// onto whatever head that chain has: `make` is called with the stored head (`None` for an
    /// empty chain) inside the append's transaction. Returns the entries as chained and
    /// committed (or, for [`Appended::AlreadySpent`], as they would have been). Only one writer
    /// appends to a chain (a node's name is leased to one process at a time); a second one is
    /// refused with [`StoreError::Conflict`] when both read the same head.
    pub async fn append_audit_chaining(
        &self,
        chain: &str,
        make: impl FnOnce(Option<(i64, [u8; 32])>) -> Vec<AuditEntry>,
        spends: &[(usize, Spend)],
    ) -> Result<(Appended, Vec<AuditEntry>), StoreError> {
        let checked = |head| {
            let entries = make(head);
            check_batch(chain, &entries)?;
            if let Some(first) = entries.first() {
                check_continues(head, first)?;
            }
            Ok(Cow::Owned(entries))
        };
        let (appended, entries) = self.append_to_chain(chain, checked, spends).await?;
        Ok((appended, entries.into_owned()))
    }

    /// One append transaction: the chain's head, the batch `make` gives for it, the spent codes,
    /// the entries, the commit.
    async fn append_to_chain<'e>(
        &self,
        chain: &str,
        make: impl FnOnce(Option<(i64, [u8; 32])>) -> Result<Cow<'e, [AuditEntry]>, StoreError>,
        spends: &[(usize, Spend)],
    ) -> Result<(Appended, Cow<'e, [AuditEntry]>), StoreError> {
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            let head = sqlx::query(HEAD)
                .bind(chain)
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
            if head.is_none() {
                sqlx::query(START_SUBJECT_PROGRESS)
                    .bind(chain)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
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
            let mut rows: Vec<SpendRow<'_>> = fresh
                .iter()
                .map(|(index, spend)| SpendRow {
                    spend: *spend,
                    node: &entries[*index].node,
                    at: entries[*index].at,
                })
                .collect();
            // In key order: nodes appending at once (to chains of their own, without a common
            // lock) that spend some of the same codes wait for each other's rows in one order,
            // never in a cycle.
            rows.sort_unstable_by_key(|r| (r.spend.bucket, r.spend.nonce));
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
                .map_err(|e| append_failed(e, chain, first_seq))?;
            // Until here nothing is stored whatever fails; a failed COMMIT may have landed.
            tx.commit()
                .await
                .map_err(|e| match append_failed(e, chain, first_seq) {
                    StoreError::Unavailable(e) => StoreError::CommitUnknown(e),
                    other => other,
                })?;
            Ok((Appended::Committed, entries))
        })
    }

    /// Chain `chain`'s last entry's (seq, hash), or `None` for an empty chain.
    pub async fn audit_head(&self, chain: &str) -> Result<Option<(i64, [u8; 32])>, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(HEAD)
                .bind(chain)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            match row {
                Some(row) => Ok(Some((row.int("seq")?, row.hash("hash")?))),
                None => Ok(None),
            }
        })
    }

    /// The chains the log holds entries of, in name order.
    pub async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(CHAINS)
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(|row| row.text("chain")).collect()
        })
    }

    /// Every chain's head, in chain order.
    pub async fn audit_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        let mut heads = Vec::new();
        for chain in self.audit_chains().await? {
            if let Some((seq, hash)) = self.audit_head(&chain).await? {
                heads.push(ChainHead { chain, seq, hash });
            }
        }
        Ok(heads)
    }

    /// Up to `limit` entries of chain `chain` from `from_seq` on, in chain order (for re-walking
    /// the chain).
    pub async fn audit_range(
        &self,
        chain: &str,
        from_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE chain = $1 AND seq >= $2 \
             ORDER BY seq LIMIT $3"
        );
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(chain)
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
             ORDER BY chain, seq LIMIT 1"
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

    /// The newest `limit` entries of the log, newest first (by time, then chain and seq): the
    /// newest `limit` of each chain, merged.
    pub async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE chain = $1 \
             ORDER BY seq DESC LIMIT $2"
        );
        let mut recent = Vec::new();
        for chain in self.audit_chains().await? {
            let rows = with_pool!(self, |pool| {
                sqlx::query(&sql)
                    .bind(&chain)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?
                    .iter()
                    .map(entry_from)
                    .collect::<Result<Vec<_>, StoreError>>()
            })?;
            recent.extend(rows);
        }
        recent.sort_by(|a, b| (b.at, &b.chain, b.seq).cmp(&(a.at, &a.chain, a.seq)));
        recent.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(recent)
    }

    /// Stores a signed checkpoint.
    pub async fn append_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        exact_micros(checkpoint.at, "checkpoint")?;
        let sql = format!(
            "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let witnessed = witnessed_to_json(&checkpoint.witnessed);
        let result = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&checkpoint.chain)
                .bind(checkpoint.seq)
                .bind(&checkpoint.head_hash[..])
                .bind(checkpoint.count)
                .bind(checkpoint.at)
                .bind(&checkpoint.node)
                .bind(&checkpoint.kid)
                .bind(&checkpoint.signature[..])
                .bind(&witnessed)
                .execute(pool)
                .await
                .map(drop)
        });
        result.map_err(classify)
    }

    /// Every checkpoint, by chain, then seq, then in the order they were written.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let sql =
            format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY chain, seq, id");
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(checkpoint_from).collect()
        })
    }
}

fn append_failed(err: sqlx::Error, chain: &str, first_seq: i64) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict(format!(
            "audit seq {first_seq} or a later one of chain `{chain}` is already stored: another \
             writer appended to it"
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
            chain: "n1".into(),
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
                means: Default::default(),
                presented_by: None,
            },
            prev_hash: [prev; 32],
            hash: [hash; 32],
        }
    }

    #[test]
    fn a_batch_must_be_a_chain() {
        assert!(check_batch("n1", &[entry(1, 0, 1), entry(2, 1, 2)]).is_ok());
        assert!(check_batch("n1", &[entry(1, 0, 1), entry(3, 1, 2)]).is_err());
        assert!(check_batch("n1", &[entry(1, 0, 1), entry(2, 9, 2)]).is_err());
        // One batch, one chain.
        assert!(check_batch("n2", &[entry(1, 0, 1)]).is_err());
        let mut other = entry(2, 1, 2);
        other.chain = "n2".into();
        assert!(check_batch("n1", &[entry(1, 0, 1), other]).is_err());
    }

    #[test]
    fn a_batch_must_continue_the_head() {
        assert!(check_continues(None, &entry(1, 0, 1)).is_ok());
        assert!(check_continues(None, &entry(7, 0, 1)).is_err());
        assert!(check_continues(Some((6, [5; 32])), &entry(7, 5, 1)).is_ok());
        assert!(check_continues(Some((6, [5; 32])), &entry(8, 5, 1)).is_err());
        assert!(check_continues(Some((6, [5; 32])), &entry(6, 5, 1)).is_err());
        assert!(check_continues(Some((6, [5; 32])), &entry(7, 4, 1)).is_err());
    }
}
