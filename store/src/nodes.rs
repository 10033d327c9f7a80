//! The gateway nodes sharing one store, and what they must agree on.
//!
//! - A node holds its name (`audit.node`) as a lease: claimed at start, renewed by a heartbeat,
//!   let go at shutdown. A second node that claims a name whose lease is live under another
//!   instance is refused; a node restarted from its own data folder (the same instance id)
//!   takes its name back at once, even after a crash left the lease live.
//! - The live leases count the nodes, for what is shared out per node when a shared engine is
//!   out of reach (a venue's quota).
//! - Deployment settings (the subject-hash key's fingerprint, the audit chain's hash): the
//!   first node to start writes its value, every later node must bring the same one.

use chrono::{DateTime, Utc};

use crate::backend::{exact_micros, with_pool, Columns, Store};
use crate::error::{classify, StoreError};

/// The lease a node holds on its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLease {
    pub name: String,
    /// Who holds the name: the same on every start from the same data folder.
    pub instance: String,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Who holds a name another node tried to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub instance: String,
    pub expires_at: DateTime<Utc>,
}

fn lease_from(row: &impl Columns) -> Result<NodeLease, StoreError> {
    Ok(NodeLease {
        name: row.text("name")?,
        instance: row.text("instance")?,
        started_at: row.time("started_at")?,
        expires_at: row.time("expires_at")?,
    })
}

impl Store {
    /// Claims `lease.name` for `lease.instance` until `lease.expires_at`: granted when the name
    /// is free, expired (as of `lease.started_at`), or already this instance's. Otherwise
    /// `Ok(Err(holder))` and nothing changes.
    pub async fn claim_node(
        &self,
        lease: &NodeLease,
    ) -> Result<Result<(), LeaseHolder>, StoreError> {
        exact_micros(lease.started_at, "node lease")?;
        exact_micros(lease.expires_at, "node lease")?;
        let claim = "INSERT INTO nodes (name, instance, started_at, expires_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, \
                        started_at = excluded.started_at, expires_at = excluded.expires_at \
                     WHERE nodes.instance = excluded.instance OR nodes.expires_at <= $3";
        let holder = "SELECT instance, expires_at FROM nodes WHERE name = $1";
        with_pool!(self, |pool| {
            let claimed = sqlx::query(claim)
                .bind(&lease.name)
                .bind(&lease.instance)
                .bind(lease.started_at)
                .bind(lease.expires_at)
                .execute(pool)
                .await
                .map_err(classify)?
                .rows_affected();
            if claimed == 1 {
                return Ok(Ok(()));
            }
            let row = sqlx::query(holder)
                .bind(&lease.name)
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            Ok(Err(LeaseHolder {
                instance: row.text("instance")?,
                expires_at: row.time("expires_at")?,
            }))
        })
    }

    /// Extends this instance's lease on `name` to `expires_at`; false when it no longer holds
    /// it (it expired and another instance took the name).
    pub async fn renew_node(
        &self,
        name: &str,
        instance: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        exact_micros(expires_at, "node lease")?;
        let sql = "UPDATE nodes SET expires_at = $3 WHERE name = $1 AND instance = $2";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(name)
                .bind(instance)
                .bind(expires_at)
                .execute(pool)
                .await
                .map(|done| done.rows_affected() == 1)
                .map_err(classify)
        })
    }

    /// Lets the name go at shutdown (if this instance still holds it).
    pub async fn release_node(&self, name: &str, instance: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM nodes WHERE name = $1 AND instance = $2";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(name)
                .bind(instance)
                .execute(pool)
                .await
                .map(drop)
                .map_err(classify)
        })
    }

    /// The leases live at `now`, by name.
    pub async fn live_nodes(&self, now: DateTime<Utc>) -> Result<Vec<NodeLease>, StoreError> {
        let sql = "SELECT name, instance, started_at, expires_at FROM nodes \
                   WHERE expires_at > $1 ORDER BY name";
        with_pool!(self, |pool| {
            let rows = sqlx::query(sql)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(lease_from).collect()
        })
    }

    /// The deployment setting `name`, if one is stored.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let select = "SELECT value FROM deployment WHERE name = $1";
        with_pool!(self, |pool| {
            let row = sqlx::query(select)
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err(classify)?;
            row.map(|row| row.text("value")).transpose()
        })
    }

    /// The deployment setting `name`: stored as `value` when absent, and what is stored
    /// returned either way (the caller compares).
    pub async fn agree_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let insert = "INSERT INTO deployment (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        let select = "SELECT value FROM deployment WHERE name = $1";
        with_pool!(self, |pool| {
            sqlx::query(insert)
                .bind(name)
                .bind(value)
                .execute(pool)
                .await
                .map_err(classify)?;
            let row = sqlx::query(select)
                .bind(name)
                .fetch_one(pool)
                .await
                .map_err(classify)?;
            row.text("value")
        })
    }
}
