//! The checkpoint keys of the gateway nodes sharing one store: registered by each node at start,
//! retired (and kept for the past) when a node's key is rotated on purpose.
//!
//! The table lets `gateway audit verify` find every node's key from one node's configuration. It
//! is not a root of trust — whoever can write to the database can write here — so the gateway
//! trusts a key found here only when the node's append-only anchor (or the operator) vouches
//! for it too.

use chrono::{DateTime, Utc};

use crate::backend::{exact_micros, with_pool, Columns, Store};
use crate::error::{classify, StoreError};

/// A node's checkpoint key as registered in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeKey {
    /// The node's name (`audit.node`).
    pub node: String,
    /// The key id, base64, as checkpoints name it.
    pub kid: String,
    /// The public key as a trust-list TOML holding that one key.
    pub public_key: String,
    /// Must be whole microseconds ([`crate::micros`]).
    pub registered_at: DateTime<Utc>,
    /// When it was replaced; it still verifies the checkpoints signed before. `None`: in use.
    pub retired_at: Option<DateTime<Utc>>,
}

fn node_key_from(row: &impl Columns) -> Result<NodeKey, StoreError> {
    Ok(NodeKey {
        node: row.text("node")?,
        kid: row.text("kid")?,
        public_key: row.text("public_key")?,
        registered_at: row.time("registered_at")?,
        retired_at: row.opt_time("retired_at")?,
    })
}

const COLUMNS: &str = "node, kid, public_key, registered_at, retired_at";

impl Store {
    /// Registers `key` unless a key with its node and kid is registered already (then nothing
    /// changes: a restart registers nothing new).
    pub async fn register_node_key(&self, key: &NodeKey) -> Result<(), StoreError> {
        exact_micros(key.registered_at, "node key")?;
        let sql = "INSERT INTO node_keys (node, kid, public_key, registered_at, retired_at) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node, kid) DO NOTHING";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(&key.node)
                .bind(&key.kid)
                .bind(&key.public_key)
                .bind(key.registered_at)
                .bind(key.retired_at)
                .execute(pool)
                .await
                .map(drop)
                .map_err(classify)
        })
    }

    /// The keys of `node` in use (not retired); more than one only if rows were written behind
    /// the gateway's back.
    pub async fn active_node_keys(&self, node: &str) -> Result<Vec<NodeKey>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM node_keys WHERE node = $1 AND retired_at IS NULL \
             ORDER BY registered_at, kid"
        );
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(node)
                .fetch_all(pool)
                .await
                .map_err(classify)?;
            rows.iter().map(node_key_from).collect()
        })
    }

    /// Every registered key, retired ones too, by node and registration time.
    pub async fn node_keys(&self) -> Result<Vec<NodeKey>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM node_keys ORDER BY node, registered_at, kid");
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(classify)?;
            rows.iter().map(node_key_from).collect()
        })
    }

    /// Retires every key of `node` in use as of `at`; how many were.
    pub async fn retire_node_keys(&self, node: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        exact_micros(at, "node key retirement")?;
        let sql = "UPDATE node_keys SET retired_at = $2 WHERE node = $1 AND retired_at IS NULL";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(node)
                .bind(at)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
                .map_err(classify)
        })
    }
}
