//! A batch of audit entries and of the codes they spend, inserted with one statement per table
//! whatever the batch's size: every statement is a round trip (to the PostgreSQL server, or to
//! the thread sqlx runs a SQLite connection on), and a batch cut into many statements paid more
//! for the trips than for the rows.
//!
//! - PostgreSQL: the columns are sent as arrays and expanded with `unnest`, one prepared
//!   statement for any number of rows.
//! - SQLite has no arrays: the rows go in a `VALUES` list padded with rows of NULLs up to the
//!   next power of two (at most [`SQLITE_MAX_ROWS`], bigger batches are cut), which a `WHERE`
//!   drops before the insert; so a connection prepares at most one statement per power of two,
//!   never one per batch size, and binds at most twice the rows it has.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, QueryBuilder, SqliteConnection};

use crate::backend::Columns;
use crate::entry::{means_column, AuditEntry, ENTRY_COLUMNS};
use crate::error::{classify, StoreError};
use crate::spent::Spend;

/// A code spent by an entry of the batch.
pub(crate) struct SpendRow<'a> {
    pub spend: Spend,
    pub node: &'a str,
    pub at: DateTime<Utc>,
}

/// An entry with its lists already encoded as JSON text (certificates, requirement verdicts).
pub(crate) struct EntryRow<'a> {
    pub entry: &'a AuditEntry,
    pub certificates: String,
    pub requirement_verdicts: String,
}

/// The insert of one batch into the two hot tables, written once per engine.
pub(crate) trait BulkInsert {
    /// Inserts the codes not spent yet; returns those it inserted (the others were spent
    /// already, by this batch's transaction or another's).
    async fn insert_spends(&mut self, rows: &[SpendRow<'_>]) -> Result<Vec<Spend>, StoreError>;

    /// Inserts the entries.
    async fn insert_entries(&mut self, rows: &[EntryRow<'_>]) -> Result<(), sqlx::Error>;
}

const SPEND_COLUMNS: &str = "bucket, nonce, node, used_at";

fn spend_from(row: &impl Columns) -> Result<Spend, StoreError> {
    let nonce = row.bytes("nonce")?;
    let nonce = <[u8; 16]>::try_from(nonce.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("a spent nonce of {} bytes", nonce.len())))?;
    Ok(Spend {
        bucket: row.int("bucket")?,
        nonce,
    })
}

impl BulkInsert for PgConnection {
    async fn insert_spends(&mut self, rows: &[SpendRow<'_>]) -> Result<Vec<Spend>, StoreError> {
        let insert = format!(
            "INSERT INTO spent_codes ({SPEND_COLUMNS}) \
             SELECT * FROM unnest($1::int8[], $2::bytea[], $3::text[], $4::timestamptz[]) \
             ON CONFLICT DO NOTHING RETURNING bucket, nonce"
        );
        let inserted = sqlx::query(&insert)
            .bind(rows.iter().map(|r| r.spend.bucket).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.spend.nonce).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.node).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
            .fetch_all(self)
            .await
            .map_err(classify)?;
        inserted.iter().map(spend_from).collect()
    }

    async fn insert_entries(&mut self, rows: &[EntryRow<'_>]) -> Result<(), sqlx::Error> {
        let insert = format!(
            "INSERT INTO audit_entries ({ENTRY_COLUMNS}) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::timestamptz[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], \
             $11::bytea[], $12::text[], $13::bytea[], $14::bytea[], $15::text[], $16::text[])"
        );
        sqlx::query(&insert)
            .bind(column(rows, |r| r.entry.chain.as_str()))
            .bind(column(rows, |r| r.entry.seq))
            .bind(column(rows, |r| r.entry.at))
            .bind(column(rows, |r| r.entry.node.as_str()))
            .bind(column(rows, |r| r.entry.venue.as_str()))
            .bind(column(rows, |r| r.entry.scenario.as_str()))
            .bind(column(rows, |r| r.certificates.as_str()))
            .bind(column(rows, |r| r.entry.verdict.as_str()))
            .bind(column(rows, |r| r.requirement_verdicts.as_str()))
            .bind(column(rows, |r| r.entry.latency_us))
            .bind(column(rows, |r| r.entry.subject_hash))
            .bind(column(rows, |r| r.entry.verification_id.as_str()))
            .bind(column(rows, |r| r.entry.prev_hash))
            .bind(column(rows, |r| r.entry.hash))
            .bind(column(rows, |r| means_column(r.entry.means)))
            .bind(column(rows, |r| r.entry.presented_by.as_deref()))
            .execute(self)
            .await?;
        Ok(())
    }
}

/// One column of `rows`, as the array PostgreSQL's `unnest` takes.
fn column<'r, T>(rows: &'r [EntryRow<'r>], f: impl Fn(&'r EntryRow<'r>) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// The most rows one SQLite statement carries: 256 × 16 parameters stays well under SQLite's
/// limit of 32 766.
pub(crate) const SQLITE_MAX_ROWS: usize = 256;

/// `items` cut into chunks of at most [`SQLITE_MAX_ROWS`], each with the row count its
/// statement has: the next power of two.
pub(crate) fn padded_chunks<T>(items: &[T]) -> impl Iterator<Item = (&[T], usize)> {
    items
        .chunks(SQLITE_MAX_ROWS)
        .map(|chunk| (chunk, chunk.len().next_power_of_two()))
}

/// `chunk` as `Some` rows followed by `None` up to `shape` rows.
fn padded<T>(chunk: &[T], shape: usize) -> impl Iterator<Item = Option<&T>> {
    chunk
        .iter()
        .map(Some)
        .chain(std::iter::repeat_n(None, shape - chunk.len()))
}

impl BulkInsert for SqliteConnection {
    async fn insert_spends(&mut self, rows: &[SpendRow<'_>]) -> Result<Vec<Spend>, StoreError> {
        let mut inserted = Vec::with_capacity(rows.len());
        for (chunk, shape) in padded_chunks(rows) {
            let mut builder = QueryBuilder::new(format!(
                "INSERT INTO spent_codes ({SPEND_COLUMNS}) SELECT * FROM ("
            ));
            builder.push_values(padded(chunk, shape), |mut row, spend| match spend {
                Some(r) => {
                    row.push_bind(r.spend.bucket)
                        .push_bind(&r.spend.nonce[..])
                        .push_bind(r.node)
                        .push_bind(r.at);
                }
                None => {
                    for _ in 0..4 {
                        row.push_bind(None::<i64>);
                    }
                }
            });
            builder
                .push(") WHERE column1 IS NOT NULL ON CONFLICT DO NOTHING RETURNING bucket, nonce");
            let returned = builder
                .build()
                .fetch_all(&mut *self)
                .await
                .map_err(classify)?;
            for row in &returned {
                inserted.push(spend_from(row)?);
            }
        }
        Ok(inserted)
    }

    async fn insert_entries(&mut self, rows: &[EntryRow<'_>]) -> Result<(), sqlx::Error> {
        for (chunk, shape) in padded_chunks(rows) {
            let mut builder = QueryBuilder::new(format!(
                "INSERT INTO audit_entries ({ENTRY_COLUMNS}) SELECT * FROM ("
            ));
            builder.push_values(padded(chunk, shape), |mut row, r| match r {
                Some(r) => {
                    let e = r.entry;
                    row.push_bind(&e.chain)
                        .push_bind(e.seq)
                        .push_bind(e.at)
                        .push_bind(&e.node)
                        .push_bind(&e.venue)
                        .push_bind(&e.scenario)
                        .push_bind(&r.certificates)
                        .push_bind(&e.verdict)
                        .push_bind(&r.requirement_verdicts)
                        .push_bind(e.latency_us)
                        .push_bind(&e.subject_hash[..])
                        .push_bind(&e.verification_id)
                        .push_bind(&e.prev_hash[..])
                        .push_bind(&e.hash[..])
                        .push_bind(means_column(e.means))
                        .push_bind(e.presented_by.as_deref());
                }
                None => {
                    for _ in 0..16 {
                        row.push_bind(None::<i64>);
                    }
                }
            });
            builder.push(") WHERE column1 IS NOT NULL");
            builder.build().execute(&mut *self).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_batches_are_padded_to_a_power_of_two() {
        let shapes = |n: usize| {
            padded_chunks(&vec![0u8; n])
                .map(|(chunk, shape)| (chunk.len(), shape))
                .collect::<Vec<_>>()
        };
        assert_eq!(shapes(0), []);
        assert_eq!(shapes(1), [(1, 1)]);
        assert_eq!(shapes(31), [(31, 32)]);
        assert_eq!(shapes(33), [(33, 64)]);
        assert_eq!(shapes(512), [(256, 256), (256, 256)]);
        assert_eq!(shapes(300), [(256, 256), (44, 64)]);
        let rows: Vec<_> = padded(&[1, 2, 3], 4).collect();
        assert_eq!(rows, [Some(&1), Some(&2), Some(&3), None]);
    }
}
