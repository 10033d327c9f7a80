//! What can go wrong in the store, said so that the caller knows whose fault it is and whether a
//! retry helps: [`StoreError::is_unavailable`] is what the gateway sheds load on.

use std::path::PathBuf;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URL is not one this crate can open (a configuration error).
    #[error("invalid store url `{url}`: {reason}")]
    BadUrl { url: String, reason: String },

    /// The folder of the SQLite file could not be created.
    #[error("cannot create the data folder `{}`", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The database could not be reached or opened. Retrying later may help.
    #[error("cannot connect to the store")]
    Connect(#[source] sqlx::Error),

    /// The schema migrations failed (or the database holds a migration this build does not know:
    /// it was written by a newer release).
    #[error("cannot apply the store's schema migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),

    /// The database is unreachable, busy or too slow (pool timeout, lost connection, SQLite lock
    /// held past the busy timeout, serialization failure). Nothing was written; retry later.
    #[error("the store is unavailable or too slow; retry later")]
    Unavailable(#[source] sqlx::Error),

    /// The connection failed while a transaction was being committed: it may or may not have
    /// landed. The caller looks before it writes the same thing again.
    #[error("the store's commit may not have landed; look before retrying")]
    CommitUnknown(#[source] sqlx::Error),

    /// The row to change does not exist.
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },

    /// The write clashes with what is stored: a duplicate id or key, or audit entries that do not
    /// continue the stored chain head (another writer got there first).
    #[error("conflict: {0}")]
    Conflict(String),

    /// The caller passed a value the store refuses (a bug in the caller).
    #[error("invalid value: {0}")]
    Invalid(String),

    /// A stored row cannot be read back (edited outside the gateway, or a schema mismatch).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),

    /// Any other database error: a bug in this crate or a schema the code does not expect.
    #[error("store query failed")]
    Query(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether the store is out of reach or overloaded rather than the request being wrong: the
    /// gateway answers 503 with `Retry-After` and tries again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Connect(_) | StoreError::CommitUnknown(_)
        )
    }

    /// Whether the write clashed with stored data ([`StoreError::Conflict`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

/// Sorts a database error into [`StoreError::Unavailable`] (transient) or
/// [`StoreError::Query`]. Unique violations are left to the caller, which knows what clashed.
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    if is_transient(&err) {
        StoreError::Unavailable(err)
    } else {
        StoreError::Query(err)
    }
}

/// Like [`classify`], but a unique violation becomes [`StoreError::Conflict`] with `what`.
pub(crate) fn classify_conflict(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict(what())
    } else {
        classify(err)
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            db.code().is_some_and(|code| {
                if sqlite {
                    transient_sqlite(&code)
                } else {
                    transient_sqlstate(&code)
                }
            })
        }
        _ => false,
    }
}

/// SQLite's (extended) result code, as a decimal number: SQLITE_BUSY (5) and SQLITE_LOCKED (6)
/// with any extended code mean a lock was held longer than the busy timeout.
fn transient_sqlite(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// PostgreSQL's SQLSTATE: connection exceptions (08), insufficient resources (53), operator
/// intervention such as shutdown or statement timeout (57), serialization failure and deadlock
/// (40001, 40P01).
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "40001"
        || code == "40P01"
}

#[cfg(test)]
mod tests {
    use super::{transient_sqlite, transient_sqlstate};

    #[test]
    fn sqlite_busy_and_locked_are_transient() {
        assert!(transient_sqlite("5"));
        assert!(transient_sqlite("517")); // SQLITE_BUSY_SNAPSHOT
        assert!(transient_sqlite("6"));
        assert!(!transient_sqlite("2067")); // SQLITE_CONSTRAINT_UNIQUE
        assert!(!transient_sqlite("1")); // SQLITE_ERROR
    }

    #[test]
    fn postgres_sqlstates() {
        assert!(transient_sqlstate("08006")); // connection failure
        assert!(transient_sqlstate("57P01")); // admin shutdown
        assert!(transient_sqlstate("57014")); // statement timeout
        assert!(transient_sqlstate("53300")); // too many connections
        assert!(transient_sqlstate("40001"));
        assert!(!transient_sqlstate("23505")); // unique violation
        assert!(!transient_sqlstate("42P01")); // undefined table
    }
}
