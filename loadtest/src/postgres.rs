//! The PostgreSQL store of a gateway `compare` starts (`--store URL`): a schema of its own per
//! gateway, created before the gateway starts and dropped after it stops, so that runs never
//! grow one table; and the CPU time of the server's backend processes serving that gateway,
//! which a verification costs as surely as the gateway's own.
//!
//! The gateway's connections carry the schema's name as their `application_name`, so its
//! backends are the rows of `pg_stat_activity` with that name, and their CPU time is read from
//! `/proc/<pid>/stat` like the gateway's. That needs the server on this machine and in this PID
//! namespace: [`Postgres::connect`] checks it on the backend of its own connection, and when it
//! does not hold, the store's CPU is reported as not counted, with the reason.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::procstat::{self, CpuTicks};
use crate::report::{CpuCost, StoreCpu};

/// How long one administrative statement (connect, create, list, drop) may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the names of the schemas (and the gateways' `application_name`) start with.
pub const SCHEMA_PREFIX: &str = "mz_compare_";

/// Checks a `--store` URL before anything starts.
pub fn check_url(url: &str) -> Result<()> {
    ensure!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "`--store {}` is not a PostgreSQL URL (`postgres://USER@HOST:PORT/DB`); without `--store` the gateway keeps SQLite in a temporary folder",
        store::redact(url)
    );
    let query = url.split_once('?').map_or("", |(_, q)| q).to_lowercase();
    for param in ["application_name", "search_path"] {
        ensure!(
            !query.contains(param),
            "`--store {}` sets `{param}`: compare sets it itself (a fresh schema and a tag per gateway)",
            store::redact(url)
        );
    }
    Ok(())
}

/// `base` with the schema as search path and as `application_name`.
pub fn scratch_url(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options[search_path]={schema}&application_name={schema}")
}

/// An administrative connection to the server `--store` names.
#[derive(Debug, Clone)]
pub struct Postgres {
    /// `--store` as given.
    base: String,
    /// Drives the connection (a current-thread runtime: no threads of its own to pin).
    runtime: Arc<tokio::runtime::Runtime>,
    pool: PgPool,
    /// Why the backends' CPU time cannot be read here; `None` when it can.
    not_local: Option<String>,
}

impl Postgres {
    /// Connects to the server and finds out whether its backends are processes of this machine.
    pub fn connect(url: &str) -> Result<Postgres> {
        check_url(url)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime of the store connection")?;
        let pool = runtime
            .block_on(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(PATIENCE)
                    .connect(url),
            )
            .with_context(|| format!("connecting to `--store {}`", store::redact(url)))?;
        let (pid, port): (i32, Option<i32>) = runtime
            .block_on(
                sqlx::query_as("SELECT pg_backend_pid(), inet_client_port()").fetch_one(&pool),
            )
            .context("asking the store for its backend's process id")?;
        let pid = u32::try_from(pid).context("a negative backend process id")?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .ok()
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "));
        let port = port.and_then(|p| u16::try_from(p).ok());
        Ok(Postgres {
            base: url.to_string(),
            runtime: Arc::new(runtime),
            pool,
            not_local: not_local(pid, cmdline.as_deref(), port),
        })
    }

    /// The server as reports show it (password hidden).
    pub fn redacted(&self) -> String {
        store::redact(&self.base)
    }

    /// Why the backends' CPU time is not counted; `None` when it is.
    pub fn not_local(&self) -> Option<&str> {
        self.not_local.as_deref()
    }

    fn run<T>(&self, what: &str, work: impl Future<Output = sqlx::Result<T>>) -> Result<T> {
        self.runtime
            .block_on(async { tokio::time::timeout(PATIENCE, work).await })
            .with_context(|| format!("{what}: no answer within {} s", PATIENCE.as_secs()))?
            .with_context(|| format!("{what} on `{}`", self.redacted()))
    }

    /// Creates a schema for one gateway; it is dropped when the [`Scratch`] goes.
    pub fn scratch(&self) -> Result<Scratch> {
        let name = format!("{SCHEMA_PREFIX}{:016x}", rand::random::<u64>());
        self.run(
            &format!("creating the schema `{name}`"),
            sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&self.pool),
        )?;
        Ok(Scratch {
            url: scratch_url(&self.base, &name),
            name,
            postgres: self.clone(),
        })
    }
}

/// Why the backend `pid` serving a connection from client `port` is not readable as a process
/// of this machine; `None` when it is. `cmdline` is its `/proc/<pid>/cmdline`, if there is one.
/// A backend's title names its client (`postgres: user db 127.0.0.1(54321) idle`), which tells
/// our backend from an unrelated process that happens to have the same id here.
fn not_local(pid: u32, cmdline: Option<&str>, port: Option<u16>) -> Option<String> {
    let elsewhere = "the server runs on another machine or in another PID namespace (a container)";
    let Some(cmdline) = cmdline else {
        return Some(format!(
            "its backend (pid {pid}) is no process of this machine: {elsewhere}"
        ));
    };
    let titled = cmdline.starts_with("postgres:");
    let ours = match port {
        Some(port) if titled => cmdline.contains(&format!("({port})")),
        _ => cmdline.contains("postgres"),
    };
    (!ours).then(|| format!("process {pid} of this machine is not its backend: {elsewhere}"))
}

/// Backends and their CPU time at one moment.
pub type Snapshot = BTreeMap<u32, CpuTicks>;

/// The schema of one gateway (dropped, with all in it, when this goes) and how to find the
/// backends serving that gateway.
#[derive(Debug)]
pub struct Scratch {
    /// The schema's name, which is also the gateway's `application_name`.
    pub name: String,
    /// The gateway's `store.url`.
    pub url: String,
    postgres: Postgres,
}

impl Scratch {
    /// The gateway's backends and their CPU time now; `None` when they are not on this machine.
    pub fn snapshot(&self) -> Result<Option<Snapshot>> {
        if self.postgres.not_local.is_some() {
            return Ok(None);
        }
        let pids: Vec<i32> = self.postgres.run(
            "listing the gateway's backends",
            sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
                .bind(&self.name)
                .fetch_all(&self.postgres.pool),
        )?;
        Ok(Some(
            pids.into_iter()
                .filter_map(|pid| u32::try_from(pid).ok())
                // A backend that ended since the query has nothing left to read.
                .filter_map(|pid| procstat::read(pid).ok().map(|t| (pid, t)))
                .collect(),
        ))
    }

    /// The store's part of a measured phase that ended with `requests` answered.
    pub fn cost(
        &self,
        before: Option<&Snapshot>,
        after: Option<&Snapshot>,
        ticks_per_sec: u64,
        requests: u64,
    ) -> StoreCpu {
        let mut report = StoreCpu {
            engine: "postgres".into(),
            url: self.postgres.redacted(),
            schema: self.name.clone(),
            application_name: self.name.clone(),
            counted: false,
            note: self.postgres.not_local.clone(),
            backends: 0,
            backends_started: 0,
            backends_gone: 0,
            cpu: None,
        };
        if let (Some(before), Some(after)) = (before, after) {
            let used = used(before, after);
            report.counted = true;
            report.backends = used.backends;
            report.backends_started = used.started;
            report.backends_gone = used.gone;
            report.cpu = Some(CpuCost::new(used.ticks, ticks_per_sec, requests));
            if used.gone > 0 {
                report.note = Some(format!(
                    "{} backend(s) ended during the phase: their CPU time since its start is not counted",
                    used.gone
                ));
            }
        }
        report
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(e) = self.postgres.run(
            &format!("dropping the schema `{}`", self.name),
            sqlx::query(&drop).execute(&self.postgres.pool),
        ) {
            eprintln!("note: {e:#}; drop it by hand: `{drop}`");
        }
    }
}

/// What the backends used between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Used {
    /// Backends at the end.
    backends: u64,
    /// Of those, started after the first snapshot: all their time counts.
    started: u64,
    /// Backends of the first snapshot gone by the second: their time in between is lost.
    gone: u64,
    ticks: u64,
}

fn used(before: &Snapshot, after: &Snapshot) -> Used {
    let mut used = Used {
        backends: after.len() as u64,
        started: 0,
        gone: before.keys().filter(|pid| !after.contains_key(pid)).count() as u64,
        ticks: 0,
    };
    for (pid, now) in after {
        let then = before.get(pid).copied().unwrap_or_else(|| {
            used.started += 1;
            CpuTicks::default()
        });
        used.ticks += now.since(then).total();
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_postgres_without_the_settings_compare_makes() {
        assert!(check_url("postgres://postgres@127.0.0.1:5432/test").is_ok());
        assert!(check_url("postgresql://u:pw@db/test?sslmode=disable").is_ok());
        let err = check_url("sqlite://x.db").expect_err("refused").to_string();
        assert!(
            err.contains("`--store sqlite://x.db` is not a PostgreSQL URL"),
            "{err}"
        );
        for url in [
            "postgres://db/test?application_name=x",
            "postgres://db/test?options[search_path]=x",
            "postgres://db/test?Options=-c%20search_path%3Dx",
        ] {
            let err = check_url(url).expect_err("refused").to_string();
            assert!(err.contains("compare sets it itself"), "{url}: {err}");
        }
        assert_eq!(
            scratch_url("postgres://db/test", "mz_compare_1"),
            "postgres://db/test?options[search_path]=mz_compare_1&application_name=mz_compare_1"
        );
        assert_eq!(
            scratch_url("postgres://db/test?sslmode=disable", "s"),
            "postgres://db/test?sslmode=disable&options[search_path]=s&application_name=s"
        );
    }

    #[test]
    fn a_backend_is_read_only_when_it_is_ours_on_this_machine() {
        let title = "postgres: 15/main: postgres test 127.0.0.1(54321) idle ";
        assert_eq!(not_local(7, Some(title), Some(54321)), None);
        // No process title to tell: a postgres process is taken as ours.
        let plain = "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main ";
        assert_eq!(not_local(7, Some(plain), Some(54321)), None);
        assert_eq!(
            not_local(7, Some("postgres: 15/main: u db [local] idle "), None),
            None
        );
        for (cmdline, port) in [
            (None, Some(54321)),
            (Some(title), Some(40000)),
            (Some("/usr/bin/redis-server 127.0.0.1:6379 "), Some(54321)),
        ] {
            let why = not_local(7, cmdline, port).expect("not ours");
            assert!(why.contains("another machine"), "{why}");
        }
    }

    #[test]
    fn backends_count_from_the_first_snapshot_or_from_their_start() {
        let t = |user, system| CpuTicks { user, system };
        let before = Snapshot::from([(10, t(100, 10)), (11, t(50, 5)), (12, t(7, 0))]);
        let after = Snapshot::from([(10, t(160, 20)), (11, t(50, 5)), (13, t(4, 1))]);
        assert_eq!(
            used(&before, &after),
            Used {
                backends: 3,
                started: 1,
                gone: 1,
                ticks: 70 + 5,
            }
        );
        let empty = Snapshot::new();
        assert_eq!(used(&empty, &empty).ticks, 0);
    }
}
