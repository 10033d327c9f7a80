//! Running one test on both engines, for this crate's suite and for crates built on the store
//! (feature `testing`): a fresh SQLite file in a temporary folder, and PostgreSQL in a schema of
//! its own, created for the test and dropped after it, even when it fails.
//!
//! PostgreSQL comes from `MIANZHENG_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test` (the machine's local server, as CI has it); the user
//! needs the right to create schemas. When no server answers, the test fails and says how to
//! point it at one — it never skips silently.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::Store;

/// The server the PostgreSQL half of a suite uses unless `MIANZHENG_TEST_DATABASE_URL` says
/// otherwise.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How a test opens (and re-opens) the store under test.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub url: String,
    /// Keeps the SQLite folder until the last clone goes.
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl Fixture {
    pub async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("open `{}`: {e:?}", self.url))
    }

    /// The SQLite file's folder, for tests that reach the file directly.
    pub fn sqlite_dir(&self) -> Option<&std::path::Path> {
        self._dir.as_deref().map(tempfile::TempDir::path)
    }
}

/// Runs `test` on a fresh SQLite file in a folder that does not exist yet (opening creates it).
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!(
        "sqlite://{}/data/mianzheng.db?mode=rwc",
        dir.path().display()
    );
    test(Fixture {
        url,
        _dir: Some(Arc::new(dir)),
    })
    .await;
}

/// Runs `test` on PostgreSQL in a schema of its own.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let base = std::env::var("MIANZHENG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at `{base}` ({e}). These tests run against both \
                 engines: start a local server (CI has one on 127.0.0.1:5432, trust auth, \
                 database `test`) or point MIANZHENG_TEST_DATABASE_URL at one, e.g. \
                 MIANZHENG_TEST_DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB"
            )
        });
    let schema = format!("mz_test_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create the test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options[search_path]={schema}");
    // Run the test as a task so that a failing test still drops its schema.
    let outcome = tokio::spawn(test(Fixture { url, _dir: None })).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .expect("drop the test schema");
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Declares each named `async fn(Fixture)` as two tests, `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! engine_suite {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::on_sqlite(super::$name).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::on_postgres(super::$name).await;
                }
            )+
        }
    };
}
