//! Opening the store: which engine a URL names, the connection settings each needs for
//! durability, the embedded schema migrations, and the few pieces that let every query be written
//! once for both engines (`with_pool!`, `Dialect`, `Columns`).

use std::borrow::Cow;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row as _;

use crate::error::StoreError;

/// Runs `$body` once per engine with `$pool` bound to that engine's pool (and `$dialect` to its
/// [`Dialect`]). The body is written once and type-checked for each engine, so no query logic is
/// copied; where the SQL itself differs, the body picks it with [`Dialect::pick`].
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::backend::Store::Sqlite($pool) => $body,
            $crate::backend::Store::Postgres($pool) => $body,
        }
    };
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match $store {
            $crate::backend::Store::Sqlite($pool) => {
                let $dialect = $crate::backend::Dialect::Sqlite;
                $body
            }
            $crate::backend::Store::Postgres($pool) => {
                let $dialect = $crate::backend::Dialect::Postgres;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// The durable state of a gateway: venues, the audit log and objections.
///
/// One interface, two engines: SQLite in a local file (the embedded default) or PostgreSQL
/// shared by several gateway nodes. Cloning is cheap (the pool is shared), so each task may hold
/// its own clone. Every method that writes returns only after the database committed.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Connection settings beyond what the URL says.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long an operation waits for a free connection (or for PostgreSQL to accept one)
    /// before failing with [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for another writer's lock before failing with
    /// [`StoreError::Unavailable`].
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The name of the SQLite file in a data folder.
pub const SQLITE_FILE: &str = "mianzheng.db";

impl Store {
    /// Opens the store a URL names and brings its schema up to date.
    ///
    /// - `sqlite://PATH?mode=rwc` creates the file and its folder on first start; `sqlite::memory:`
    ///   is a throw-away database.
    /// - `postgres://USER@HOST:PORT/DB` (or `postgresql://`); a schema other than `public` is
    ///   chosen with `?options[search_path]=NAME`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default()).await
    }

    /// [`Store::open`] with explicit pool settings.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let bad_url = |reason: String| StoreError::BadUrl {
            url: redact(url),
            reason,
        };
        if url.starts_with("sqlite:") {
            let connect =
                SqliteConnectOptions::from_str(url).map_err(|e| bad_url(e.to_string()))?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            Store::open_sqlite(connect, in_memory, options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url).map_err(|e| bad_url(e.to_string()))?;
            Store::open_postgres(connect, options).await
        } else {
            Err(bad_url(
                "expected `sqlite://PATH?mode=rwc` or `postgres://USER@HOST/DB`".into(),
            ))
        }
    }

    /// Opens (creating it on first start) the SQLite store `dir/mianzheng.db`.
    pub async fn open_sqlite_in(dir: &Path) -> Result<Store, StoreError> {
        let connect = SqliteConnectOptions::new()
            .filename(dir.join(SQLITE_FILE))
            .create_if_missing(true);
        Store::open_sqlite(connect, false, &StoreOptions::default()).await
    }

    async fn open_sqlite(
        connect: SqliteConnectOptions,
        in_memory: bool,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        if !in_memory {
            if let Some(dir) = connect.get_filename().parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|source| StoreError::CreateDir {
                        path: PathBuf::from(dir),
                        source,
                    })?;
            }
        }
        // WAL lets readers run beside the one writer; FULL makes every commit reach the disk
        // before it returns, so a 201 or an audited 200 survives a power cut, not only a crash.
        //
        // Measured on the audit group commit (`cargo bench -p benches --bench stages --
        // audit/commit_512`, profiled with `perf record`): with SQLite's default 2 MB page cache
        // a third of the commit's time went to re-reading index pages and spilling dirty ones
        // mid-transaction (`pagerStress`), and a quarter to writing the statement journal of the
        // multi-row INSERTs to a temporary file. A 64 MB cache per connection and the temporary
        // store in memory take both away; durability is unchanged (the WAL and `FULL` are).
        // A checkpoint (copying the WAL back into the database file, with an `fsync` of its own)
        // every 16 384 pages instead of SQLite's 1 000: at 1 000 nearly every group commit ran
        // one, rewriting the same hot index pages each time; the WAL file grows to 64 MB instead
        // of 4 MB. Measured on the same benchmark: a third less time per committed entry.
        let connect = connect
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", "16384");
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(StoreError::Connect)?;
        let store = Store::Sqlite(pool);
        store.migrate().await?;
        Ok(store)
    }

    async fn open_postgres(
        connect: PgConnectOptions,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(StoreError::Connect)?;
        let store = Store::Postgres(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations this build has and the database lacks. Safe to run on every start
    /// and from several nodes at once (PostgreSQL: sqlx holds an advisory lock meanwhile).
    async fn migrate(&self) -> Result<(), StoreError> {
        let migrations = match self {
            Store::Sqlite(_) => Embedded(SQLITE_MIGRATIONS),
            Store::Postgres(_) => Embedded(POSTGRES_MIGRATIONS),
        };
        let migrator = Migrator::new(migrations)
            .await
            .map_err(StoreError::Migrate)?;
        let result = with_pool!(self, |pool| migrator.run(pool).await);
        result.map_err(StoreError::Migrate)
    }

    /// A store on the same database with one connection of its own, for a task that writes
    /// all the time (the audit writer). On SQLite this matters: a connection's page cache is
    /// dropped whenever another connection wrote, so appends spread over a pool re-read their
    /// index pages every time (measured with `cargo bench -p benches --bench stages --
    /// audit/commit_512`); one writer connection keeps its cache, and SQLite takes one writer
    /// at a time anyway. On PostgreSQL it keeps the append statements prepared on one backend.
    pub async fn dedicated(&self) -> Result<Store, StoreError> {
        match self {
            Store::Sqlite(pool) => {
                let connect = (*pool.connect_options()).clone();
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(pool.options().get_acquire_timeout())
                    .connect_with(connect)
                    .await
                    .map_err(StoreError::Connect)?;
                Ok(Store::Sqlite(pool))
            }
            Store::Postgres(pool) => {
                let connect = (*pool.connect_options()).clone();
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(pool.options().get_acquire_timeout())
                    .connect_lazy_with(connect);
                Ok(Store::Postgres(pool))
            }
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and metrics.
    pub fn engine(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL pool, for what only that engine has (`PgListener::connect_with` for
    /// LISTEN/NOTIFY); `None` on SQLite.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match self {
            Store::Postgres(pool) => Some(pool),
            Store::Sqlite(_) => None,
        }
    }

    /// Waits for running operations and closes every connection (on SQLite this also folds the
    /// WAL back into the database file). Operations started afterwards fail as unavailable.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let result = with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop));
        result.map_err(crate::error::classify)
    }
}

/// Hides the password of a PostgreSQL URL in error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Where the two engines' SQL differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The statement that opens a transaction that will write. On SQLite it takes the write lock
    /// at once: a deferred transaction that reads and then writes fails with `SQLITE_BUSY` when
    /// another writer committed in between, instead of waiting. PostgreSQL locks rows instead.
    pub(crate) fn begin_write(self) -> &'static str {
        self.pick(("BEGIN IMMEDIATE", "BEGIN"))
    }

    /// The SQLite or the PostgreSQL version of a statement that only one engine needs.
    pub(crate) fn pick_optional(
        self,
        (sqlite, postgres): (Option<&'static str>, Option<&'static str>),
    ) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// The SQLite or the PostgreSQL version of a statement.
    pub(crate) fn pick(self, (sqlite, postgres): (&'static str, &'static str)) -> &'static str {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }
}

/// Reading a column of either engine's row into the types the store uses, so that each table's
/// row decoder is written once.
pub(crate) trait Columns {
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// A count (never negative).
    fn count(&self, column: &str) -> Result<u64, StoreError> {
        let n = self.int(column)?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("`{column}` is negative: {n}")))
    }

    /// A 32-byte hash column.
    fn hash(&self, column: &str) -> Result<[u8; 32], StoreError> {
        let bytes = self.bytes(column)?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            StoreError::Corrupt(format!("`{column}` holds {} bytes, not 32", bytes.len()))
        })
    }

    /// A column of JSON text.
    fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> Result<T, StoreError> {
        let text = self.text(column)?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("`{column}` is not the expected JSON: {e}")))
    }

    /// A column parsed with `FromStr` (the enums stored as text).
    fn parsed<T: FromStr>(&self, column: &str) -> Result<T, StoreError> {
        let text = self.text(column)?;
        text.parse()
            .map_err(|_| StoreError::Corrupt(format!("`{column}` holds unknown value `{text}`")))
    }
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
            fn text(&self, column: &str) -> Result<String, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
            fn flag(&self, column: &str) -> Result<bool, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
            fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
            fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
                self.try_get(column).map_err(corrupt)
            }
        }
    };
}
impl_columns!(SqliteRow);
impl_columns!(PgRow);

fn corrupt(err: sqlx::Error) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

/// Encodes a value as JSON text for a list column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Lists of strings always serialise.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

/// `t` cut to whole microseconds, the precision both engines keep.
///
/// Anything that is hashed or signed before it is stored (an audit entry's or a checkpoint's
/// time) must already be at this precision, or it would read back different and break the chain.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The current time at the precision the store keeps (see [`micros`]).
pub fn now() -> DateTime<Utc> {
    micros(Utc::now())
}

/// Refuses a time finer than a microsecond (see [`micros`]).
pub(crate) fn exact_micros(t: DateTime<Utc>, what: &str) -> Result<(), StoreError> {
    if micros(t) == t {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} time `{t}` is finer than a microsecond: the store would not read it back \
             the same (cut it with `store::micros`)"
        )))
    }
}

/// One engine's versioned migration files, embedded in the binary.
///
/// `sqlx::migrate!` would find the files by itself, but its proc-macro crate compiles both
/// database drivers a second time; the files are listed here instead, and a test checks that
/// the list matches the folder.
type Migrations = &'static [(i64, &'static str, &'static str)];

const SQLITE_MIGRATIONS: Migrations = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "objection_subject",
        include_str!("../migrations/sqlite/0002_objection_subject.sql"),
    ),
    (
        3,
        "spent_codes_and_nodes",
        include_str!("../migrations/sqlite/0003_spent_codes_and_nodes.sql"),
    ),
    (
        4,
        "audit_subject_index",
        include_str!("../migrations/sqlite/0004_audit_subject_index.sql"),
    ),
    (
        5,
        "node_keys",
        include_str!("../migrations/sqlite/0005_node_keys.sql"),
    ),
    (
        6,
        "operators",
        include_str!("../migrations/sqlite/0006_operators.sql"),
    ),
    (
        7,
        "venue_client_certificate",
        include_str!("../migrations/sqlite/0007_venue_client_certificate.sql"),
    ),
    (
        8,
        "audit_hash",
        include_str!("../migrations/sqlite/0008_audit_hash.sql"),
    ),
    (
        9,
        "audit_chain_per_node",
        include_str!("../migrations/sqlite/0009_audit_chain_per_node.sql"),
    ),
    (
        10,
        "venue_service_window",
        include_str!("../migrations/sqlite/0010_venue_service_window.sql"),
    ),
    (
        11,
        "kpi_counts",
        include_str!("../migrations/sqlite/0011_kpi_counts.sql"),
    ),
    (
        12,
        "commitments",
        include_str!("../migrations/sqlite/0012_commitments.sql"),
    ),
    (
        13,
        "holder_platform",
        include_str!("../migrations/sqlite/0013_holder_platform.sql"),
    ),
];

const POSTGRES_MIGRATIONS: Migrations = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "objection_subject",
        include_str!("../migrations/postgres/0002_objection_subject.sql"),
    ),
    (
        3,
        "spent_codes_and_nodes",
        include_str!("../migrations/postgres/0003_spent_codes_and_nodes.sql"),
    ),
    (
        4,
        "audit_subject_index",
        include_str!("../migrations/postgres/0004_audit_subject_index.sql"),
    ),
    (
        5,
        "node_keys",
        include_str!("../migrations/postgres/0005_node_keys.sql"),
    ),
    (
        6,
        "operators",
        include_str!("../migrations/postgres/0006_operators.sql"),
    ),
    (
        7,
        "venue_client_certificate",
        include_str!("../migrations/postgres/0007_venue_client_certificate.sql"),
    ),
    (
        8,
        "audit_hash",
        include_str!("../migrations/postgres/0008_audit_hash.sql"),
    ),
    (
        9,
        "audit_chain_per_node",
        include_str!("../migrations/postgres/0009_audit_chain_per_node.sql"),
    ),
    (
        10,
        "venue_service_window",
        include_str!("../migrations/postgres/0010_venue_service_window.sql"),
    ),
    (
        11,
        "kpi_counts",
        include_str!("../migrations/postgres/0011_kpi_counts.sql"),
    ),
    (
        12,
        "commitments",
        include_str!("../migrations/postgres/0012_commitments.sql"),
    ),
    (
        13,
        "holder_platform",
        include_str!("../migrations/postgres/0013_holder_platform.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(Migrations);

type BoxDynError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file `NNNN_description.sql` in `migrations/ENGINE/` is embedded, in order, and
    /// nothing else is.
    #[test]
    fn embedded_migrations_match_the_folders() {
        for (engine, embedded) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(engine);
            let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
                .expect("migrations folder")
                .map(|entry| {
                    let path = entry.expect("folder entry").path();
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .expect("utf-8 name");
                    let stem = name.strip_suffix(".sql").expect("only .sql files");
                    let (version, description) = stem.split_once('_').expect("NNNN_description");
                    let sql = std::fs::read_to_string(&path).expect("readable");
                    (
                        version.parse().expect("numeric version"),
                        description.to_owned(),
                        sql,
                    )
                })
                .collect();
            files.sort();
            let embedded: Vec<(i64, String, String)> = embedded
                .iter()
                .map(|&(v, d, s)| (v, d.to_owned(), s.to_owned()))
                .collect();
            assert_eq!(
                files, embedded,
                "migrations/{engine} and the embedded list differ"
            );
        }
    }

    /// A log written before "who checked me" had its side table, and before chains were per
    /// node: the upgrades copy every entry's subject into the side table, keep the entries and
    /// their checkpoint as the shared chain `""`, and the holder's query finds them.
    #[tokio::test]
    async fn the_subject_side_table_and_chain_migrations_keep_older_entries() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let connect = SqliteConnectOptions::new()
            .filename(dir.path().join(SQLITE_FILE))
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(connect).await.expect("sqlite");
        Migrator::new(Embedded(&SQLITE_MIGRATIONS[..3]))
            .await
            .expect("migrator")
            .run(&pool)
            .await
            .expect("the three earlier migrations");
        for (seq, subject) in [(1i64, 7u8), (2, 8), (3, 7)] {
            sqlx::query(
                "INSERT INTO audit_entries VALUES ($1, $2, 'n', 'v', 's', '[]', 'pass', '[]', 1, \
                 $3, $4, zeroblob(32), zeroblob(32))",
            )
            .bind(seq)
            .bind(format!("2026-12-01T00:00:0{seq}Z"))
            .bind(vec![subject; 32])
            .bind(format!("v-{seq}"))
            .execute(&pool)
            .await
            .expect("an entry of the older schema");
        }
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, head_hash, count, at, node, kid, signature) \
             VALUES (3, zeroblob(32), 3, '2026-12-01T00:00:04Z', 'n', 'k', X'01')",
        )
        .execute(&pool)
        .await
        .expect("a checkpoint of the older schema");
        pool.close().await;

        let store = Store::open_sqlite_in(dir.path()).await.expect("upgraded");
        assert_eq!(store.audit_chains().await.expect("chains"), [""]);
        assert_eq!(
            store.audit_head("").await.expect("head").map(|h| h.0),
            Some(3)
        );
        let checkpoints = store.checkpoints().await.expect("checkpoints");
        assert_eq!(
            checkpoints
                .iter()
                .map(|c| (c.chain.as_str(), c.seq, c.witnessed.len()))
                .collect::<Vec<_>>(),
            [("", 3, 0)]
        );
        let seqs =
            |entries: Vec<crate::AuditEntry>| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
        let sevens = store.holder_accesses(&[7; 32], None, 10).await.expect("7");
        assert_eq!(seqs(sevens), [3, 1]);
        assert_eq!(
            store.index_subjects(100).await.expect("index"),
            0,
            "all copied already"
        );
        let eights = store.holder_accesses(&[8; 32], None, 10).await.expect("8");
        assert!(eights.iter().all(|e| e.chain.is_empty()), "{eights:?}");
        assert_eq!(seqs(eights), [2]);
    }

    #[test]
    fn both_engines_have_the_same_versions() {
        let versions = |m: Migrations| m.iter().map(|&(v, d, _)| (v, d)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE_MIGRATIONS), versions(POSTGRES_MIGRATIONS));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/mz"),
            "postgres://app:***@db:5432/mz"
        );
        assert_eq!(redact("postgres://app@db/mz"), "postgres://app@db/mz");
        assert_eq!(
            redact("sqlite://data/mianzheng.db"),
            "sqlite://data/mianzheng.db"
        );
    }

    #[test]
    fn micros_cuts_nanoseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid time");
        assert_eq!(micros(t).timestamp_subsec_nanos(), 123_456_000);
        assert!(exact_micros(t, "test").is_err());
        assert!(exact_micros(micros(t), "test").is_ok());
    }
}
