//! The plan's targets measured from traffic: counters by day (China time), city, department,
//! certificate type and the service item's materials source, which every gateway node adds its
//! increments to, and the objections' deadlines and resolutions the report reads beside them.
//!
//! A node sends its increments as one batch named `node/boot/sequence`
//! ([`Store::add_kpi_counts`]); the batch's name is inserted in the same transaction, so a batch
//! sent again — after a commit whose answer was lost — finds its name and adds nothing. Rows
//! are upserted in key order, so two nodes flushing at once lock them in the same order.

use chrono::{DateTime, NaiveDate, Utc};

use crate::backend::{with_pool, Columns, Store};
use crate::error::{classify, StoreError};

/// Where a row of counters belongs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KpiKey {
    /// The day in China (`wire::calendar::china_today`).
    pub day: NaiveDate,
    /// GB/T 2260 city code; 0 for a record from a province-level backend.
    pub city: u32,
    pub department: String,
    /// The certificate type, or `""` for a counter over a whole service item.
    pub certificate: String,
    /// `""` on the verify path; `"plan"` or `"assumed"`: the service item's materials source.
    pub source: String,
}

/// Defines [`KpiCounts`] and everything that walks its columns, from one list.
macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        /// The counters of one row (or the increments to add to it).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct KpiCounts {
            $($(#[$doc])* pub $name: u64,)+
        }

        impl KpiCounts {
            /// The column names, in order.
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($name)),+];

            /// Adds `other` to these counts.
            pub fn add(&mut self, other: &KpiCounts) {
                $(self.$name += other.$name;)+
            }

            /// Whether every counter is zero.
            pub fn is_zero(&self) -> bool {
                *self == KpiCounts::default()
            }

            fn values(&self) -> [u64; KpiCounts::COLUMNS.len()] {
                [$(self.$name),+]
            }

            fn from_row(row: &impl Columns) -> Result<KpiCounts, StoreError> {
                Ok(KpiCounts { $($name: row.count(stringify!($name))?,)+ })
            }
        }
    };
}

counters!(
    /// Data-sharing requests asked of a department (a verify requirement or a certificate
    /// material the rollout plan offers there).
    asked,
    /// Of those, answered: a sealed record came back (any status, `not_found` included).
    answered,
    /// Of those answered, a definite "no such record".
    not_found,
    /// Asked and not answered (no answer in time, or an answer refused at the seal check).
    unavailable,
    /// Not asked: the rollout plan does not offer the certificate there (not a request).
    not_offered,
    /// Records a department sent (cache misses), by the backend's department and city.
    records_received,
    /// Of those, the ones that passed the seal check.
    seal_verified,
    /// Materials requests answered (one per answer of `POST /v1/materials`).
    materials_requests,
    /// Materials those requests required, each once.
    materials_required,
    /// Of those, provided from shared data.
    materials_provided,
    /// Commitments (告知承诺) recorded in place of a material.
    materials_committed,
    /// Fields on the forms of the answered materials requests.
    form_fields,
    /// Of those, filled from a provided material.
    form_fields_filled,
);

/// One objection as the report reads it: when it was due and when it was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionOutcome {
    pub id: String,
    pub department: String,
    pub deadline: DateTime<Utc>,
    /// When it reached a closed status (resolved or rejected), if it did.
    pub closed_at: Option<DateTime<Utc>>,
}

const KEY_COLUMNS: &str = "day, city, department, certificate, source";

/// The upsert of one row: `count = count + excluded.count` for every counter.
fn upsert_sql() -> String {
    let columns = KpiCounts::COLUMNS;
    let params: Vec<String> = (6..6 + columns.len()).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = kpi_counts.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO kpi_counts ({KEY_COLUMNS}, {}) VALUES ($1, $2, $3, $4, $5, {}) \
         ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET {}",
        columns.join(", "),
        params.join(", "),
        updates.join(", ")
    )
}

fn key_from(row: &impl Columns, day: NaiveDate) -> Result<KpiKey, StoreError> {
    let city = row.int("city")?;
    Ok(KpiKey {
        day,
        city: u32::try_from(city)
            .map_err(|_| StoreError::Corrupt(format!("`city` out of range: {city}")))?,
        department: row.text("department")?,
        certificate: row.text("certificate")?,
        source: row.text("source")?,
    })
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("a count of {n} is too large")))
}

impl Store {
    /// Adds one batch of increments, all or nothing, once: `Ok(true)` when this call committed
    /// it, `Ok(false)` when a batch of this name was committed before (then nothing is added).
    /// `batch` must name these increments and no others (`node/boot/sequence`); `rows` need not
    /// be sorted, and a key may appear once.
    pub async fn add_kpi_counts(
        &self,
        batch: &str,
        at: DateTime<Utc>,
        rows: &[(KpiKey, KpiCounts)],
    ) -> Result<bool, StoreError> {
        let mut sorted: Vec<&(KpiKey, KpiCounts)> = rows.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let upsert = upsert_sql();
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(classify)?;
            let fresh = sqlx::query(
                "INSERT INTO kpi_flushes (batch, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(batch)
            .bind(crate::micros(at))
            .execute(&mut *tx)
            .await
            .map_err(classify)?
            .rows_affected()
                == 1;
            if !fresh {
                tx.rollback().await.map_err(classify)?;
                return Ok(false);
            }
            for (key, counts) in sorted {
                if counts.is_zero() {
                    continue;
                }
                let mut query = sqlx::query(&upsert)
                    .bind(key.day)
                    .bind(i64::from(key.city))
                    .bind(&key.department)
                    .bind(&key.certificate)
                    .bind(&key.source);
                for value in counts.values() {
                    query = query.bind(to_i64(value)?);
                }
                query.execute(&mut *tx).await.map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(true)
        })
    }

    /// Every row of counters from `from` to `to` (days in China, both included), in key order.
    pub async fn kpi_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(KpiKey, KpiCounts)>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS}, {} FROM kpi_counts WHERE day >= $1 AND day <= $2 \
             ORDER BY {KEY_COLUMNS}",
            KpiCounts::COLUMNS.join(", ")
        );
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    let day: NaiveDate = sqlx::Row::try_get(row, "day")
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok((key_from(row, day)?, KpiCounts::from_row(row)?))
                })
                .collect()
        })
    }

    /// Forgets the names of batches committed before `before` (a node retries a batch for
    /// seconds, not days); returns how many went.
    pub async fn prune_kpi_flushes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM kpi_flushes WHERE at < $1")
                .bind(crate::micros(before))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
                .map_err(classify)
        })
    }

    /// The objections due in `[from, to)` or closed in it, by id: each with its deadline and
    /// when it was closed (the first change to a closed status), if it was.
    pub async fn objection_outcomes(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ObjectionOutcome>, StoreError> {
        let sql = "SELECT o.id, o.department, o.deadline, c.closed_at FROM objections o \
                   LEFT JOIN (SELECT objection_id, MIN(at) AS closed_at FROM objection_events \
                              WHERE to_status IN ('resolved_corrected', 'resolved_upheld', \
                                                  'rejected') \
                              GROUP BY objection_id) c ON c.objection_id = o.id \
                   WHERE (o.deadline >= $1 AND o.deadline < $2) \
                      OR (c.closed_at >= $1 AND c.closed_at < $2) \
                   ORDER BY o.id";
        with_pool!(self, |pool| {
            let rows = sqlx::query(sql)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    Ok(ObjectionOutcome {
                        id: row.text("id")?,
                        department: row.text("department")?,
                        deadline: row.time("deadline")?,
                        closed_at: row.opt_time("closed_at")?,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upsert_adds_every_counter() {
        let sql = upsert_sql();
        assert!(
            sql.contains("asked = kpi_counts.asked + excluded.asked"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "form_fields_filled = kpi_counts.form_fields_filled + excluded.form_fields_filled"
            ),
            "{sql}"
        );
        assert!(sql.contains(&format!("${}", 5 + KpiCounts::COLUMNS.len())));
    }
}
