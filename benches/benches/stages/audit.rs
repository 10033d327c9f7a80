//! The audit trail, per entry, in its parts: chaining a record (encode and SHA-256), hashing
//! alone, and group commits of entries that each spend a code — 512 (the writer's largest
//! batch) and 32 (what `loadtest compare -c 32` makes) — on SQLite on tmpfs (the store's work
//! without the disk's flush), on SQLite on disk (with `fsync`, as deployed), and on the local
//! PostgreSQL (a fresh schema, dropped afterwards). Per-entry figures are a batch's time divided
//! by its size; a CPU profile of the whole gateway is in the README. `commit_512_4_chains/…`
//! commits four 512-entry batches at once to PostgreSQL, each to a chain of its own on a
//! connection of its own, as four nodes' writers do: per entry against `commit_512/…`, what the nodes' commits gain by
//! not waiting for each other.
//!
//! `cargo bench -p benches --bench stages -- audit/`
//!
//! Last measured: see the README's Performance section (the per-entry breakdown).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput};
use gateway::audit::chain::{chain_all, entry_hash, AuditRecord, GENESIS};
use gateway::audit::ChainHash;
use store::{Appended, Spend, Store};

/// Entries per group commit: the writer's default `max_batch`, the most a commit takes under
/// heavy load.
const BATCH: usize = 512;

/// Entries per group commit at `loadtest compare -c 32`: one per connection.
const SMALL_BATCH: usize = 32;

fn records(n: usize, offset: usize) -> Vec<AuditRecord> {
    (0..n)
        .map(|i| {
            let i = i + offset;
            let mut subject_hash = [0u8; 32];
            subject_hash[..8]
                .copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
            AuditRecord {
                at: store::micros(Utc::now()),
                node: "gateway-1".into(),
                venue: "jinan-baotu-spring-park".into(),
                scenario: "park-entry-senior".into(),
                certificates: vec!["senior-citizen-card".into()],
                verdict: "pass".into(),
                requirement_verdicts: vec![("senior-citizen-card".into(), "pass".into())],
                latency_us: 850,
                subject_hash,
                verification_id: format!("v-{:032x}", i),
                means: Default::default(),
                presented_by: None,
            }
        })
        .collect()
}

fn spends(n: usize, offset: usize) -> Vec<(usize, Spend)> {
    (0..n)
        .map(|i| {
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(
                &((i + offset) as u64)
                    .wrapping_mul(0xff51_afd7_ed55_8ccd)
                    .to_be_bytes(),
            );
            (
                i,
                Spend {
                    bucket: 59_000_000,
                    nonce,
                },
            )
        })
        .collect()
}

/// Appends batches onto `store` for as many iterations as criterion asks, timing only the
/// commits.
fn commits(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    iters: u64,
    batch: usize,
    tip: &mut (i64, [u8; 32]),
    offset: &mut usize,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let entries = chain_all(
            &records(batch, *offset),
            "gateway-1",
            *tip,
            ChainHash::Sha256,
        );
        let spent = spends(batch, *offset);
        *offset += batch;
        let started = Instant::now();
        let outcome = rt
            .block_on(store.append_audit_spending(&entries, &spent))
            .expect("the batch commits");
        total += started.elapsed();
        assert_eq!(outcome, Appended::Committed);
        let last = entries.last().expect("a batch");
        *tip = (last.seq, last.hash);
    }
    total
}

/// Chains writing at once in `commit_512_4_chains`, as that many nodes.
const NODES: usize = 4;

/// Appends a batch to each of `writers`' chains at once (chain `node-<k>` on writer k's
/// connection), for as many iterations as criterion asks, timing from the first append's start
/// to the last one's commit.
fn parallel_commits(
    rt: &tokio::runtime::Runtime,
    writers: &[Store],
    iters: u64,
    tips: &mut [(i64, [u8; 32])],
    offset: &mut usize,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let batches: Vec<_> = writers
            .iter()
            .zip(tips.iter())
            .enumerate()
            .map(|(k, (store, tip))| {
                let chain = format!("node-{}", k + 1);
                let mut recs = records(BATCH, *offset + k * BATCH);
                for r in &mut recs {
                    r.node = chain.clone();
                }
                let entries = chain_all(&recs, &chain, *tip, ChainHash::Sha256);
                (store.clone(), entries, spends(BATCH, *offset + k * BATCH))
            })
            .collect();
        *offset += writers.len() * BATCH;
        let started = Instant::now();
        let heads = rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for (k, (store, entries, spent)) in batches.into_iter().enumerate() {
                tasks.spawn(async move {
                    let outcome = store
                        .append_audit_spending(&entries, &spent)
                        .await
                        .expect("the batch commits");
                    assert_eq!(outcome, Appended::Committed);
                    let last = entries.last().expect("a batch");
                    (k, (last.seq, last.hash))
                });
            }
            tasks.join_all().await
        });
        total += started.elapsed();
        for (k, head) in heads {
            tips[k] = head;
        }
    }
    total
}

pub fn trail(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("audit");
    let batch = records(BATCH, 0);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("chain_512", |b| {
        b.iter(|| {
            black_box(chain_all(
                &batch,
                "gateway-1",
                (0, GENESIS),
                ChainHash::Sha256,
            ))
        })
    });
    let entries = chain_all(&batch, "gateway-1", (0, GENESIS), ChainHash::Sha256);
    // The entry hash alone, with each of the chain's hash functions.
    for (name, hash) in [
        ("hash_512", ChainHash::Sha256),
        ("hash_512_sm3", ChainHash::Sm3),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for entry in &entries {
                    black_box(entry_hash(entry, hash));
                }
            })
        });
    }

    group.sample_size(20);
    let shm = std::path::Path::new("/dev/shm");
    let tmpfs = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).expect("tmpfs folder"));
    let disk = tempfile::tempdir().expect("disk folder");
    let mut stores: Vec<(&str, Store)> = Vec::new();
    if let Some(dir) = &tmpfs {
        stores.push((
            "sqlite_tmpfs",
            rt.block_on(writer(Store::open_sqlite_in(dir.path()))),
        ));
    }
    stores.push((
        "sqlite_disk",
        rt.block_on(writer(Store::open_sqlite_in(disk.path()))),
    ));
    let postgres = rt.block_on(postgres_schema());
    if let Some((url, _)) = &postgres {
        stores.push(("postgres", rt.block_on(writer(Store::open(url)))));
    }
    let mut tips = vec![((0, GENESIS), 0); stores.len()];
    for batch in [BATCH, SMALL_BATCH] {
        group.throughput(Throughput::Elements(batch as u64));
        for ((name, store), (tip, offset)) in stores.iter().zip(&mut tips) {
            group.bench_function(format!("commit_{batch}/{name}"), |b| {
                b.iter_custom(|iters| commits(&rt, store, iters, batch, tip, offset))
            });
        }
    }
    // Four nodes' writers at once, each on its own chain and connection: PostgreSQL only, the
    // store that several nodes share.
    let mut parallel: Vec<(&str, Vec<Store>)> = Vec::new();
    if let Some((url, _)) = &postgres {
        parallel.push((
            "postgres",
            (0..NODES)
                .map(|_| rt.block_on(writer(Store::open(url))))
                .collect(),
        ));
    }
    group.throughput(Throughput::Elements((NODES * BATCH) as u64));
    for (name, writers) in &parallel {
        let mut tips = vec![(0, GENESIS); writers.len()];
        let mut offset = 1 << 40;
        group.bench_function(format!("commit_{BATCH}_{NODES}_chains/{name}"), |b| {
            b.iter_custom(|iters| parallel_commits(&rt, writers, iters, &mut tips, &mut offset))
        });
    }
    group.finish();
    for (_, writers) in &parallel {
        for store in writers {
            rt.block_on(store.close());
        }
    }
    if let Some((_, drop_schema)) = postgres {
        for (_, store) in &stores {
            rt.block_on(store.close());
        }
        rt.block_on(drop_schema);
    }
}

/// The audit writer's own connection to a freshly opened store, as the gateway has it.
async fn writer(
    open: impl std::future::Future<Output = Result<Store, store::StoreError>>,
) -> Store {
    let store = open.await.expect("the store opens");
    store.dedicated().await.expect("a dedicated connection")
}

/// A fresh schema on the local PostgreSQL (`MIANZHENG_TEST_DATABASE_URL` or the default the
/// tests use) and the future that drops it; `None`, with a note, when no server answers.
async fn postgres_schema() -> Option<(String, impl std::future::Future<Output = ()>)> {
    let base = std::env::var("MIANZHENG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("audit/commit_*/postgres skipped: no PostgreSQL at `{base}` ({e})");
            return None;
        }
    };
    let schema = format!("mz_bench_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    Some((url, async move {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await;
    }))
}
