//! The venue registry ("用证单位"): who may call the verify API, for which scenarios, at what
//! rate. A venue's key is stored only as its SHA-256 hash; the gateway hashes a request's bearer
//! key and looks the venue up by that hash (with a cache in front).

use chrono::{DateTime, Utc};

use crate::backend::{micros, now, with_pool, Columns, Store};
use crate::error::{classify, classify_conflict, StoreError};

/// A registered venue, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueRow {
    pub id: String,
    pub name: String,
    /// GB/T 2260 code of the venue's city.
    pub city: u32,
    /// The scenarios the venue may use.
    pub scenarios: Vec<String>,
    /// Requests per second the venue may send.
    pub rate_per_sec: u32,
    /// SHA-256 of the venue's key; unique across venues.
    pub key_hash: [u8; 32],
    /// A disabled venue is refused even with a valid key.
    pub disabled: bool,
    /// The venue is bound to a client certificate: refused on any connection that does not
    /// present one from the venues' CA naming it (mTLS), whatever key it sends.
    pub client_certificate: bool,
    /// A service window (a service hall's counter): may pull an applicant's materials for a
    /// service item and record their commitments.
    pub service_window: bool,
    /// When the row last changed (kept to the microsecond).
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, city, scenarios, rate_per_sec, key_hash, disabled, \
                       client_certificate, service_window, updated_at";

fn venue_from(row: &impl Columns) -> Result<VenueRow, StoreError> {
    let id = row.text("id")?;
    let unsigned = |column: &str| -> Result<u32, StoreError> {
        let value = row.int(column)?;
        u32::try_from(value).map_err(|_| {
            StoreError::Corrupt(format!(
                "venue `{id}`: `{column}` = {value} is out of range"
            ))
        })
    };
    Ok(VenueRow {
        city: unsigned("city")?,
        rate_per_sec: unsigned("rate_per_sec")?,
        name: row.text("name")?,
        scenarios: row.json("scenarios")?,
        key_hash: row.hash("key_hash")?,
        disabled: row.flag("disabled")?,
        client_certificate: row.flag("client_certificate")?,
        service_window: row.flag("service_window")?,
        updated_at: row.time("updated_at")?,
        id,
    })
}

impl Store {
    /// Registers a venue or replaces every field of the one with the same id. Fails with
    /// [`StoreError::Conflict`] when another venue already has this key hash.
    pub async fn upsert_venue(&self, venue: &VenueRow) -> Result<(), StoreError> {
        self.write_venue(venue, Taken::Replace).await.map(drop)
    }

    /// Registers a new venue. Fails with [`StoreError::Conflict`] when the id or the key hash
    /// is taken.
    pub async fn insert_venue(&self, venue: &VenueRow) -> Result<(), StoreError> {
        self.write_venue(venue, Taken::Refuse).await.map(drop)
    }

    /// Registers a venue unless one with the same id is registered already, which is left
    /// exactly as it is (its key, its disabling): what seeding from a venues file does on every
    /// start. True when the venue was added. Fails with [`StoreError::Conflict`] when another
    /// venue has this key hash.
    pub async fn insert_venue_if_absent(&self, venue: &VenueRow) -> Result<bool, StoreError> {
        self.write_venue(venue, Taken::Keep).await
    }

    /// Writes `venue`; true when a row was added or replaced.
    async fn write_venue(&self, venue: &VenueRow, taken: Taken) -> Result<bool, StoreError> {
        let insert = "INSERT INTO venues (id, name, city, scenarios, rate_per_sec, key_hash, \
                          disabled, client_certificate, service_window, updated_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        let sql = match taken {
            Taken::Refuse => insert.to_owned(),
            Taken::Keep => format!("{insert} ON CONFLICT (id) DO NOTHING"),
            Taken::Replace => format!(
                "{insert} ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                     city = excluded.city, scenarios = excluded.scenarios, \
                     rate_per_sec = excluded.rate_per_sec, key_hash = excluded.key_hash, \
                     disabled = excluded.disabled, \
                     client_certificate = excluded.client_certificate, \
                     service_window = excluded.service_window, \
                     updated_at = excluded.updated_at"
            ),
        };
        let scenarios = crate::backend::to_json(&venue.scenarios);
        let result = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&venue.id)
                .bind(&venue.name)
                .bind(i64::from(venue.city))
                .bind(&scenarios)
                .bind(i64::from(venue.rate_per_sec))
                .bind(&venue.key_hash[..])
                .bind(venue.disabled)
                .bind(venue.client_certificate)
                .bind(venue.service_window)
                .bind(micros(venue.updated_at))
                .execute(pool)
                .await
                .map(|done| done.rows_affected() > 0)
        });
        result.map_err(|e| {
            classify_conflict(e, || match taken {
                Taken::Refuse => format!(
                    "venue `{}` is already registered (or its key is taken)",
                    venue.id
                ),
                Taken::Keep | Taken::Replace => {
                    format!("another venue already has the key of venue `{}`", venue.id)
                }
            })
        })
    }

    /// The venue whose key hashes to `key_hash`, disabled or not.
    pub async fn venue_by_key_hash(
        &self,
        key_hash: &[u8; 32],
    ) -> Result<Option<VenueRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM venues WHERE key_hash = $1");
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(&key_hash[..])
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(venue_from).transpose()
        })
    }

    /// The venue with this id.
    pub async fn venue(&self, id: &str) -> Result<Option<VenueRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM venues WHERE id = $1");
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.as_ref().map(venue_from).transpose()
        })
    }

    /// Every venue, by id.
    pub async fn list_venues(&self) -> Result<Vec<VenueRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM venues ORDER BY id");
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(venue_from).collect()
        })
    }

    /// Replaces a venue's key hash: the old key stops working at once (once caches expire).
    pub async fn rotate_venue_key(&self, id: &str, new_hash: &[u8; 32]) -> Result<(), StoreError> {
        let sql = "UPDATE venues SET key_hash = $1, updated_at = $2 WHERE id = $3";
        let result = with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(&new_hash[..])
                .bind(now())
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        let changed = result.map_err(|e| {
            classify_conflict(e, || {
                format!("another venue already has the new key of `{id}`")
            })
        })?;
        found(changed, id)
    }

    /// Removes a venue: its key stops working (once caches expire) and its id is free again.
    /// The audit trail keeps the venue's id in the entries it wrote.
    pub async fn delete_venue(&self, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM venues WHERE id = $1";
        let result = with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        found(result.map_err(classify)?, id)
    }

    /// Disables or re-enables a venue.
    pub async fn set_venue_disabled(&self, id: &str, disabled: bool) -> Result<(), StoreError> {
        self.set_venue_flag(id, "disabled", disabled).await
    }

    /// Binds a venue to a client certificate naming it (mTLS), or frees it of the binding.
    pub async fn set_venue_client_certificate(
        &self,
        id: &str,
        required: bool,
    ) -> Result<(), StoreError> {
        self.set_venue_flag(id, "client_certificate", required)
            .await
    }

    /// Sets one of the venue's flags (a column name of this module, never input).
    async fn set_venue_flag(
        &self,
        id: &str,
        column: &'static str,
        value: bool,
    ) -> Result<(), StoreError> {
        let sql = format!("UPDATE venues SET {column} = $1, updated_at = $2 WHERE id = $3");
        let result = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(value)
                .bind(now())
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        found(result.map_err(classify)?, id)
    }
}

/// What writing a venue does when its id is registered already.
#[derive(Debug, Clone, Copy)]
enum Taken {
    /// Fail with a conflict.
    Refuse,
    /// Leave the registered venue as it is.
    Keep,
    /// Overwrite every field.
    Replace,
}

fn found(rows_affected: u64, id: &str) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound {
            what: "venue",
            id: id.to_owned(),
        })
    } else {
        Ok(())
    }
}
