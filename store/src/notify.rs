//! Messages between the nodes that share a PostgreSQL store (LISTEN/NOTIFY), for what must
//! reach every node at once — cache invalidations. On SQLite there is one node: sending does
//! nothing and there is nothing to subscribe to.
//!
//! Delivery is at most once and only to nodes listening at the time: a [`Subscription`] says
//! when its connection broke ([`Received::Lost`]), so the caller can assume it missed messages.

use sqlx::postgres::PgListener;

use crate::backend::Store;
use crate::error::{classify, StoreError};

/// What [`Subscription::next`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Message(String),
    /// The connection broke; messages sent meanwhile are lost. Subscribe again.
    Lost,
}

/// A listening connection to one channel.
pub struct Subscription {
    listener: PgListener,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription(..)")
    }
}

impl Store {
    /// Sends `payload` to every node listening on `channel` (PostgreSQL `pg_notify`; payloads
    /// up to 8000 bytes). On SQLite, does nothing.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let Store::Postgres(pool) = self else {
            return Ok(());
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Listens on `channel` over a dedicated connection; `None` on SQLite.
    pub async fn subscribe(&self, channel: &str) -> Result<Option<Subscription>, StoreError> {
        let Store::Postgres(pool) = self else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool)
            .await
            .map_err(StoreError::Connect)?;
        // A broken connection is reported, not silently replaced: the caller must know.
        listener.eager_reconnect(false);
        listener.listen(channel).await.map_err(classify)?;
        Ok(Some(Subscription { listener }))
    }
}

impl Subscription {
    /// The next message, or [`Received::Lost`] once the connection broke (for any reason).
    pub async fn next(&mut self) -> Received {
        match self.listener.try_recv().await {
            Ok(Some(notification)) => Received::Message(notification.payload().to_string()),
            Ok(None) | Err(_) => Received::Lost,
        }
    }
}
