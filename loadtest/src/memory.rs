//! `loadtest memory`: what one cached department record costs the gateway in memory.
//!
//! An `issuer serve` process answers for every department (the demo seal keys, the synthetic
//! population), and a demo gateway runs on a copy of the embedded catalogue whose
//! `departments.toml` points every backend at it ([`departments_at`]), with
//! `fetch.cache_capacity` set to `--entries`, a fetch deadline of [`FETCH_DEADLINE_MS`] (a busy
//! two-core machine must not lose a fetch to it) and the audit trail off (a measurement switch
//! accepted on loopback: the store's growth stays out of the gateway's memory and its commits
//! out of the fill's time). The command then verifies codes of distinct holders who pass
//! `--scenario` — each verification misses the record cache once per requirement, asks the
//! issuer and caches its answer — until the gateway has cached `--entries` records. Codes are
//! minted as the fill goes, [`CHUNK`] at a time by a thread of their own one chunk ahead, so the
//! generator's memory stays bounded and every code is sent within seconds of its minting.
//!
//! **Entries** are counted by the gateway: its record-cache misses,
//! `mz_cache_requests_total{cache="records",result="miss"}` on the admin listener's `/metrics`
//! (the gateway does not publish the cache's entry count). On a fresh gateway and distinct
//! holders each miss fetches one record and caches it; nothing expires during the fill (the
//! types' TTLs are an hour or more, and the stale grace an hour past that) and nothing is
//! evicted (the capacity is the count asked for). A verification the gateway sheds (503
//! `gateway.overloaded`, refused before anything is fetched) is counted as shed and replaced; one
//! that fails otherwise counts as failed (exit code 1); either way the fill goes on until the
//! gateway's count is reached.
//!
//! **Bytes per entry** is the slope of the least-squares line of the gateway's RSS (`VmRSS`)
//! over the entries cached, through the samples taken at the end of each of the `--steps`
//! steps; the sample at the start is left out, because the way to the first step also holds
//! what any first load allocates (connections, buffers, the runtime's workers, the allocator's
//! first segments). The slope is everything the gateway keeps per record and per
//! verification: moka's entry and bookkeeping, the key and the record, moka's frequency
//! sketch (8 bytes × the capacity rounded up to a power of two, allocated once the cache is
//! half full), the hash table's growth, and the replay guard's nonce of every code still valid
//! (tens of bytes per verification, for the ten minutes a code lives). The gateway does not
//! expose its allocator's (mimalloc's) statistics: RSS only.
//!
//! # JSON (schema `mianzheng-loadtest/1`, command `memory`)
//!
//! ```text
//! {
//!   "schema": "mianzheng-loadtest/1", "command": "memory",
//!   "scenario": "park-entry-senior", "records_per_verification": 1, "profile": "hmac",
//!   "connections": 32, "pinned": false, "audit": false,
//!   "cache_capacity": 200000,                // the gateway's fetch.cache_capacity
//!   "machine": { "cpus": 2, "cpu_model": "..." },
//!   "entries_asked": 200000,
//!   "entries": 200000,                       // cached at the end, by the gateway's count
//!   "entries_counted_by": "...",             // the metric read
//!   "verifications": 200000,                 // sent, shed and failed included
//!   "verifications_shed": 0,                 // 503 gateway.overloaded: refused, nothing fetched
//!   "verifications_failed": 0,
//!   "mismatches": [ Mismatch ],              // the first few failures (see report.rs)
//!   "fill_secs": 61.2, "entries_per_sec": 3268.0,
//!   "samples": [ { "entries": 0, "rss_bytes": 47185920, "secs": 0.0 }, … ],
//!   "rss_start_bytes": 47185920, "rss_end_bytes": 290000000,
//!   "bytes_per_entry": 1190.5 | null,        // the slope; null with fewer than 2 steps' samples
//!   "rule": "...",                           // how bytes_per_entry is computed
//!   "goal_bytes_per_entry": 300.0,
//!   "goal_met": false | null,
//!   "allocator": "..."                       // what is known beyond RSS
//! }
//! ```

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use wire::catalogue::model::BackendScope;
use wire::catalogue::{self, Catalogue};
use wire::code::Minter;
use wire::issuer_api::backend_name;

use crate::cli::{ClientArgs, MemoryArgs, Pace};
use crate::codes::{self, Prepared, ScenarioSetup};
use crate::driver::{self, Drive, Progress, Target};
use crate::feed::Requests;
use crate::population::{Candidates, HANDLE_PREFIX};
use crate::procstat::{self, Machine};
use crate::report::{thousands, SCHEMA};
use crate::run;
use crate::servers::{self, GatewayLaunch};
use crate::stats::least_squares;
use crate::stats::Mismatch;
use crate::workload::Planned;

/// The goal: at most this many bytes of the gateway's memory per cached record.
pub const GOAL_BYTES_PER_ENTRY: f64 = 300.0;
/// Verifications minted at a time, one chunk ahead of those being sent.
pub const CHUNK: usize = 10_000;
/// The started gateway's `fetch.deadline_ms`.
pub const FETCH_DEADLINE_MS: u64 = 10_000;
/// What counts the entries.
pub const ENTRIES_METRIC: &str = "mz_cache_requests_total{cache=\"records\",result=\"miss\"}";
/// Batches in a row that may add no entry before the fill gives up.
const STALLED_BATCHES: u32 = 3;
/// Failures kept for the report.
const MISMATCHES_KEPT: usize = 10;
/// How bytes per entry is computed.
pub const RULE: &str = "slope of the least-squares line of the gateway's RSS (VmRSS) over the \
                        entries cached, through the samples at the end of each step (the sample \
                        at the start is left out: the way to the first step holds what any first \
                        load allocates)";

/// The gateway's memory at one point of the fill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    /// Records cached, by the gateway's count.
    pub entries: u64,
    pub rss_bytes: u64,
    /// From the start of the fill.
    pub secs: f64,
}

/// Bytes per entry by [`RULE`]: `None` with fewer than two samples after the first, or all
/// of them at one count.
pub fn bytes_per_entry(samples: &[MemorySample]) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .skip(1)
        .map(|s| (s.entries as f64, s.rss_bytes as f64))
        .collect();
    least_squares(&points).map(|(slope, _)| slope)
}

/// The `memory` command's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    pub schema: String,
    pub command: String,
    pub scenario: String,
    pub records_per_verification: usize,
    pub profile: String,
    pub connections: usize,
    /// The gateway on CPU 0, the generator and the issuer on CPU 1.
    pub pinned: bool,
    /// The gateway's `audit.enabled` (always off here).
    pub audit: bool,
    pub cache_capacity: u64,
    pub machine: Machine,
    pub entries_asked: u64,
    /// Cached at the end, by the gateway's count.
    pub entries: u64,
    pub entries_counted_by: String,
    /// Sent, shed and failed included.
    pub verifications: u64,
    /// Refused with 503 `gateway.overloaded` before anything was fetched.
    pub verifications_shed: u64,
    pub verifications_failed: u64,
    pub mismatches: Vec<Mismatch>,
    pub fill_secs: f64,
    pub entries_per_sec: f64,
    pub samples: Vec<MemorySample>,
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    pub bytes_per_entry: Option<f64>,
    pub rule: String,
    pub goal_bytes_per_entry: f64,
    /// `None` when there is no slope.
    pub goal_met: Option<bool>,
    pub allocator: String,
}

/// How the fill went, for the report.
#[derive(Debug, Clone, Default)]
pub struct Fill {
    pub samples: Vec<MemorySample>,
    pub verifications: u64,
    pub shed: u64,
    pub failed: u64,
    pub mismatches: Vec<Mismatch>,
}

impl MemoryReport {
    /// The report of `fill` for `args`, the scenario caching `per_verification` records each.
    pub fn new(
        args: &MemoryArgs,
        per_verification: usize,
        machine: Machine,
        fill: Fill,
    ) -> MemoryReport {
        let first = fill.samples.first().copied();
        let last = fill.samples.last().copied();
        let bytes = bytes_per_entry(&fill.samples);
        let entries = last.map_or(0, |s| s.entries);
        let fill_secs = last.map_or(0.0, |s| s.secs);
        MemoryReport {
            schema: SCHEMA.into(),
            command: "memory".into(),
            scenario: args.scenario.clone(),
            records_per_verification: per_verification,
            profile: args.profile.name().into(),
            connections: args.connections,
            pinned: args.pin,
            audit: false,
            cache_capacity: args.entries,
            machine,
            entries_asked: args.entries,
            entries,
            entries_counted_by: format!(
                "the gateway's record-cache misses, `{ENTRIES_METRIC}` on its admin /metrics"
            ),
            verifications: fill.verifications,
            verifications_shed: fill.shed,
            verifications_failed: fill.failed,
            mismatches: fill.mismatches,
            fill_secs,
            entries_per_sec: if fill_secs > 0.0 {
                entries as f64 / fill_secs
            } else {
                0.0
            },
            rss_start_bytes: first.map_or(0, |s| s.rss_bytes),
            rss_end_bytes: last.map_or(0, |s| s.rss_bytes),
            samples: fill.samples,
            bytes_per_entry: bytes,
            rule: RULE.into(),
            goal_bytes_per_entry: GOAL_BYTES_PER_ENTRY,
            goal_met: bytes.map(|b| b <= GOAL_BYTES_PER_ENTRY),
            allocator: "RSS only: the gateway does not expose its allocator's (mimalloc's) \
                        statistics"
                .into(),
        }
    }
}

/// Checks the flags that clap cannot.
fn check(args: &MemoryArgs) -> Result<()> {
    ensure!(args.entries >= 1, "`--entries` must be at least 1");
    ensure!(
        args.steps >= 2,
        "`--steps` must be at least 2: the slope needs two samples after the start"
    );
    ensure!(
        args.steps <= args.entries,
        "`--steps {}` is more than `--entries {}`",
        args.steps,
        args.entries
    );
    ensure!(args.connections >= 1, "`-c` must be at least 1");
    ensure!(
        args.timeout > Duration::ZERO,
        "`--timeout` must be more than 0"
    );
    Ok(())
}

/// The scenario to verify, at its demo venue, with codes of `--profile`.
struct Verified {
    id: String,
    records: usize,
    venue: HeaderValue,
    minter: Minter,
}

impl Verified {
    fn resolve(args: &MemoryArgs) -> Result<Verified> {
        let catalogue = Catalogue::embedded();
        let scenario = run::scenario_named(&catalogue, &args.scenario, "--scenario")?;
        ensure!(
            args.profile != wire::code::Profile::Hmac || scenario.allow_hmac,
            "`--scenario {}` does not accept HMAC codes: pass `--profile eddsa` (or another signed profile)",
            scenario.id
        );
        let venues =
            gateway::venues::Venues::parse(gateway::demo::VENUES, "config/venues.toml", &catalogue)
                .map_err(|e| anyhow::anyhow!("the demo venues: {e}"))?;
        let (_, key) = venues.demo_for(&scenario.id).with_context(|| {
            format!(
                "no demo venue in config/venues.toml may use `{}`",
                scenario.id
            )
        })?;
        Ok(Verified {
            id: scenario.id.clone(),
            records: scenario.requirements.len(),
            venue: HeaderValue::from_str(&format!("Bearer {key}")).context("a demo venue key")?,
            minter: codes::demo_minter(args.profile)?,
        })
    }
}

/// The embedded catalogue's `departments.toml` with every backend at the `issuer serve`
/// listening at `issuer`: `{issuer}/backends/<department>/<province|city code|national>`, where
/// it serves each department's backends (the `cities` default through its `{city}`
/// placeholder) and the national hub's.
pub fn departments_at(issuer: &str) -> Result<String> {
    let mut file: toml::Table = toml::from_str(catalogue::EMBEDDED.departments.text)
        .context("the embedded departments.toml")?;
    if let Some(hub) = file
        .get_mut("national_hub")
        .and_then(toml::Value::as_table_mut)
    {
        let id = hub
            .get("id")
            .and_then(toml::Value::as_str)
            .context("a national hub without an `id`")?
            .to_string();
        let name = backend_name(&id, BackendScope::National);
        hub.insert(
            "endpoint".into(),
            toml::Value::String(format!("{issuer}/backends/{name}")),
        );
    }
    let departments = file
        .get_mut("department")
        .and_then(toml::Value::as_array_mut)
        .context("the embedded departments.toml has no `[[department]]`")?;
    for department in departments.iter_mut().filter_map(toml::Value::as_table_mut) {
        let id = department
            .get("id")
            .and_then(toml::Value::as_str)
            .context("a department without an `id`")?
            .to_string();
        let at = |backend: String| toml::Value::String(format!("{issuer}/backends/{backend}"));
        let mut point = |key: &str, endpoint: toml::Value| {
            if let Some(backend) = department.get_mut(key).and_then(toml::Value::as_table_mut) {
                backend.insert("endpoint".into(), endpoint);
            }
        };
        point("province", at(backend_name(&id, BackendScope::Province)));
        point("cities", at(format!("{id}/{{city}}")));
        if let Some(cities) = department
            .get_mut("city")
            .and_then(toml::Value::as_table_mut)
        {
            for (code, backend) in cities.iter_mut() {
                let code: u32 = code
                    .parse()
                    .with_context(|| format!("city `{code}` of `{id}` is not a city code"))?;
                if let Some(backend) = backend.as_table_mut() {
                    backend.insert(
                        "endpoint".into(),
                        at(backend_name(&id, BackendScope::City(code))),
                    );
                }
            }
        }
    }
    Ok(format!(
        "# Written by `loadtest memory`: the embedded departments, every backend at one\n\
         # `issuer serve`.\n\n{}",
        toml::to_string(&file).context("writing departments.toml")?
    ))
}

/// Writes the embedded catalogue into `dir`, its departments at `issuer` ([`departments_at`]).
pub fn write_catalogue(dir: &Path, issuer: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let sources = catalogue::EMBEDDED;
    let departments = departments_at(issuer)?;
    let files = [
        (catalogue::CERTIFICATES_FILE, sources.certificates.text),
        (catalogue::DEPARTMENTS_FILE, departments.as_str()),
        (catalogue::CITIES_FILE, sources.cities.text),
        (catalogue::SCENARIOS_FILE, sources.scenarios.text),
        (catalogue::SERVICE_ITEMS_FILE, sources.service_items.text),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}

/// What the started gateway's configuration adds: the catalogue in `catalogue/` beside it, a
/// record cache of `capacity`, and the fetch deadline.
fn gateway_toml(capacity: u64) -> String {
    format!(
        "# `loadtest memory`: the departments are one `issuer serve` (catalogue/departments.toml).\n\
         [catalogue]\ndir = \"catalogue\"\n\n\
         [fetch]\ncache_capacity = {capacity}\ndeadline_ms = {FETCH_DEADLINE_MS}\n"
    )
}

/// The value of [`ENTRIES_METRIC`] in a Prometheus text exposition.
pub fn entries_in(metrics: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix("mz_cache_requests_total{")?;
        let (labels, value) = rest.split_once('}')?;
        let labels: Vec<&str> = labels.split(',').collect();
        (labels.contains(&"cache=\"records\"") && labels.contains(&"result=\"miss\""))
            .then(|| value.trim().parse::<f64>().ok())
            .flatten()
            .map(|v| v as u64)
    })
}

/// The gateway's admin listener, read for the entry count.
struct AdminMetrics {
    url: http::Uri,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl AdminMetrics {
    fn new(admin: &str) -> Result<AdminMetrics> {
        Ok(AdminMetrics {
            url: format!("{admin}/metrics")
                .parse()
                .with_context(|| format!("`{admin}/metrics` is not a URL"))?,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Records cached so far, by the gateway's count.
    async fn entries(&self) -> Result<u64> {
        let response = self
            .client
            .get(self.url.clone())
            .await
            .with_context(|| format!("reading `{}`", self.url))?;
        ensure!(
            response.status().is_success(),
            "`{}` answered {}",
            self.url,
            response.status()
        );
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading `{}`", self.url))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        // The counter appears with the first look-up; before it, nothing is cached.
        Ok(entries_in(&text).unwrap_or(0))
    }
}

/// The fill's codes, minted by a thread of their own one chunk ahead of the verifications: for
/// the next `chunk` holders who pass the scenario (`lt-0`, `lt-1`, … in order, each once).
struct Codes {
    chunks: mpsc::Receiver<Vec<Prepared>>,
    pending: VecDeque<Prepared>,
}

impl Codes {
    fn start(verified: &Verified, chunk: usize) -> Codes {
        // One chunk waits while the next is minted: at most three exist at a time.
        let (tx, chunks) = mpsc::sync_channel(1);
        let (id, venue, minter) = (
            verified.id.clone(),
            verified.venue.clone(),
            verified.minter.clone(),
        );
        std::thread::Builder::new()
            .name("minting".into())
            .spawn(move || {
                let catalogue = Catalogue::embedded();
                let population = issuer::population::Population::new(issuer::config::DEFAULT_SEED);
                let Some(scenario) = catalogue.scenario(&id) else {
                    return;
                };
                let today = wire::calendar::china_today(chrono::Utc::now());
                let candidates = Candidates::new(&population, &catalogue, scenario, today);
                let plan: Vec<Planned> = (0..chunk as u32).map(|i| Planned::valid(0, i)).collect();
                let mut next = 0u64;
                loop {
                    let mut holders = Vec::with_capacity(chunk);
                    while holders.len() < chunk {
                        holders.extend(candidates.holder(&format!("{HANDLE_PREFIX}{next}")));
                        next += 1;
                    }
                    let setup = [ScenarioSetup {
                        id: id.clone(),
                        venues: vec![venue.clone()],
                        holders,
                    }];
                    if tx
                        .send(codes::mint_on(1, &minter, &setup, &plan, None))
                        .is_err()
                    {
                        return; // the fill is over
                    }
                }
            })
            .expect("starting the minting thread");
        Codes {
            chunks,
            pending: VecDeque::new(),
        }
    }

    /// The next `n` verifications.
    fn take(&mut self, n: usize) -> Result<Vec<Prepared>> {
        while self.pending.len() < n {
            let chunk = self
                .chunks
                .recv()
                .context("the minting thread stopped (is the scenario in the catalogue?)")?;
            self.pending.extend(chunk);
        }
        Ok(self.pending.drain(..n).collect())
    }
}

/// The fill's live progress line on stderr.
struct Shown {
    progress: Progress,
    last_line: Option<Instant>,
}

impl Shown {
    /// Shows where the fill is: live on every call, as lines at most every 10 s and at the end
    /// of each step.
    fn show(&mut self, line: &str, step_done: bool) {
        let mut err = std::io::stderr().lock();
        match self.progress {
            Progress::Off => {}
            Progress::Live => {
                let _ = write!(err, "\r\x1b[K{line}");
            }
            Progress::Lines => {
                if step_done
                    || self
                        .last_line
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
                {
                    let _ = writeln!(err, "{line}");
                    self.last_line = Some(Instant::now());
                }
            }
        }
        let _ = err.flush();
    }

    fn done(&self) {
        if self.progress == Progress::Live {
            eprint!("\r\x1b[K");
        }
    }
}

/// The `memory` command.
pub fn run(args: &MemoryArgs) -> Result<ExitCode> {
    check(args)?;
    let verified = Verified::resolve(args)?;
    let machine = Machine::describe();
    if args.pin {
        procstat::check_pinnable(&machine)?;
        // Before anything starts: the issuer, the runtime and the minting thread inherit it.
        procstat::pin_self(1)?;
    }
    let gateway_bin = servers::gateway_binary(args.gateway_bin.as_deref())?;
    let issuer_bin = servers::issuer_binary(args.issuer_bin.as_deref())?;
    let dir = tempfile::Builder::new()
        .prefix("loadtest-memory-")
        .tempdir()
        .context("creating a temporary folder")?;
    let issuer = servers::start_issuer(&issuer_bin, dir.path(), issuer::config::DEFAULT_SEED)?;
    let gateway_dir = dir.path().join("gateway");
    write_catalogue(&gateway_dir.join("catalogue"), &issuer.url)?;
    let mut gateway = GatewayLaunch {
        bin: gateway_bin,
        pin: args.pin,
        log_level: args.gateway_log.clone(),
        audit: false,
        store_url: None,
        extra_toml: gateway_toml(args.entries),
    }
    .start("gateway", &gateway_dir)?;
    let admin = gateway.banner_line("its admin address", servers::admin_url)?;
    eprintln!(
        "gateway {} (pid {}), departments at the issuer {} (pid {}); filling {} records, {} per verification of `{}`",
        gateway.url,
        gateway.pid,
        issuer.url,
        issuer.pid,
        thousands(args.entries),
        verified.records,
        verified.id
    );
    let runtime = run::runtime()?;
    let metrics = AdminMetrics::new(&admin)?;
    let target = Arc::new(Target::new(
        &gateway.url,
        &ClientArgs {
            http2: false,
            insecure: false,
            cacert: None,
        },
    )?);
    let verifications = args.entries.div_ceil(verified.records as u64);
    let mut codes = Codes::start(&verified, (verifications as usize).min(CHUNK));
    let mut shown = Shown {
        progress: Progress::choose(args.output.no_tui),
        last_line: None,
    };
    let rss = || procstat::rss_bytes(gateway.pid).context("reading the gateway's memory");
    let start = Instant::now();
    let mut fill = Fill::default();
    let mut entries = runtime.block_on(metrics.entries())?;
    fill.samples.push(MemorySample {
        entries,
        rss_bytes: rss()?,
        secs: 0.0,
    });
    let per_verification = verified.records as u64;
    for step in 1..=args.steps {
        let target_entries = (args.entries * step).div_ceil(args.steps);
        let mut stalled = 0;
        while entries < target_entries {
            let need = (target_entries - entries).div_ceil(per_verification);
            let batch = codes.take((need as usize).min(CHUNK))?;
            let began = Instant::now();
            let drive = Drive {
                label: "memory".into(),
                pace: Pace::Closed,
                connections: args.connections.min(batch.len()),
                requests: None,
                duration: None,
                timeout: args.timeout,
                check: true,
                shedding: true,
                windows: None,
                progress: Progress::Off,
            };
            let finished = runtime.block_on(driver::drive(
                Arc::clone(&target),
                Requests::pool(batch.into()),
                vec![verified.id.clone()],
                &drive,
            ));
            let summary = finished.recorder.summary(finished.elapsed, finished.stop);
            fill.verifications += summary.requests;
            fill.shed += summary.shed;
            fill.failed += summary.expectations_failed;
            let room = MISMATCHES_KEPT.saturating_sub(fill.mismatches.len());
            fill.mismatches
                .extend(summary.mismatches.into_iter().take(room));
            let before = entries;
            entries = runtime.block_on(metrics.entries())?;
            stalled = if entries > before { 0 } else { stalled + 1 };
            if stalled >= STALLED_BATCHES {
                shown.done();
                bail!(
                    "the gateway's record cache stopped filling at {} entries ({} verifications failed; first: {}){}",
                    thousands(entries),
                    thousands(fill.failed),
                    fill.mismatches
                        .first()
                        .map_or_else(|| "none listed".into(), |m| format!("expected {}, got {}", m.expected, m.got)),
                    gateway.log_tail()
                );
            }
            let rate = (entries - before) as f64 / began.elapsed().as_secs_f64().max(1e-9);
            shown.show(
                &format!(
                    "memory  step {step}/{}  {} / {} entries  {:.0} entries/s  RSS {:.1} MB  shed {}  failed {}",
                    args.steps,
                    thousands(entries),
                    thousands(args.entries),
                    rate,
                    rss()? as f64 / 1e6,
                    thousands(fill.shed),
                    thousands(fill.failed)
                ),
                entries >= target_entries,
            );
        }
        fill.samples.push(MemorySample {
            entries,
            rss_bytes: rss()?,
            secs: start.elapsed().as_secs_f64(),
        });
    }
    shown.done();
    drop(codes);
    drop(gateway);
    drop(issuer);

    let failed = fill.failed > 0;
    let report = MemoryReport::new(args, verified.records, machine, fill);
    run::emit(&args.output, &report, |r, mut out| text(r, &mut out))?;
    Ok(run::exit_code(failed))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The report as text.
pub fn text(report: &MemoryReport, out: &mut impl Write) -> Result<()> {
    let r = report;
    writeln!(
        out,
        "memory per cached record: `{}` ({} record{} per verification), {} codes, audit trail off",
        r.scenario,
        r.records_per_verification,
        if r.records_per_verification == 1 {
            ""
        } else {
            "s"
        },
        r.profile
    )?;
    writeln!(
        out,
        "gateway: record cache capacity {}, every department one `issuer serve`{}",
        thousands(r.cache_capacity),
        if r.pinned {
            "; gateway on CPU 0, generator and issuer on CPU 1"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "filled {} entries ({}) with {} verifications over {} connections ({} shed, {} failed) in {:.1} s: {:.0} entries/s",
        thousands(r.entries),
        r.entries_counted_by,
        thousands(r.verifications),
        r.connections,
        thousands(r.verifications_shed),
        thousands(r.verifications_failed),
        r.fill_secs,
        r.entries_per_sec
    )?;
    for m in &r.mismatches {
        writeln!(
            out,
            "  failed: request {} expected {}, got {}",
            m.request, m.expected, m.got
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "  {:>12}  {:>10}  {:>8}",
        "entries", "RSS (MB)", "secs"
    )?;
    for s in &r.samples {
        writeln!(
            out,
            "  {:>12}  {:>10.1}  {:>8.1}",
            thousands(s.entries),
            mb(s.rss_bytes),
            s.secs
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "RSS: {:.1} MB at the start, {:.1} MB at the end ({:+.1} MB)",
        mb(r.rss_start_bytes),
        mb(r.rss_end_bytes),
        (r.rss_end_bytes as f64 - r.rss_start_bytes as f64) / 1e6
    )?;
    match r.bytes_per_entry {
        Some(bytes) => writeln!(out, "bytes per entry: {bytes:.0}")?,
        None => writeln!(out, "bytes per entry: none (too few samples)")?,
    }
    writeln!(out, "  ({})", r.rule)?;
    let verdict = match r.goal_met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    };
    writeln!(
        out,
        "goal: at most {:.0} bytes per entry: {verdict}",
        r.goal_bytes_per_entry
    )?;
    writeln!(out, "allocator: {}", r.allocator)?;
    writeln!(
        out,
        "machine: {}, {} CPUs",
        r.machine.cpu_model, r.machine.cpus
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> MemoryArgs {
        let mut all = vec!["loadtest", "memory"];
        all.extend_from_slice(extra);
        match Cli::try_parse_from(all).expect("parses").command {
            Some(Command::Memory(args)) => *args,
            other => panic!("memory, not {other:?}"),
        }
    }

    fn sample(entries: u64, rss_bytes: u64) -> MemorySample {
        MemorySample {
            entries,
            rss_bytes,
            secs: entries as f64 / 1000.0,
        }
    }

    #[test]
    fn bytes_per_entry_is_the_slope_after_the_first_sample() {
        // 40 MB at the start, a 30 MB first load, then 500 bytes per entry with noise of both
        // signs around the line.
        let samples = [
            sample(0, 40_000_000),
            sample(1_000, 70_500_000),
            sample(2_000, 71_000_100),
            sample(3_000, 71_499_900),
            sample(4_000, 72_000_000),
        ];
        let slope = bytes_per_entry(&samples).expect("a slope");
        assert!((slope - 500.0).abs() < 0.5, "{slope}");
        // The first sample would have pulled it far off.
        let with_first = least_squares(
            &samples
                .iter()
                .map(|s| (s.entries as f64, s.rss_bytes as f64))
                .collect::<Vec<_>>(),
        )
        .expect("a slope")
        .0;
        assert!(with_first > 5_000.0, "{with_first}");
        // Two samples after the first are the fewest that make a line.
        assert_eq!(bytes_per_entry(&samples[..2]), None);
        assert!(bytes_per_entry(&samples[..3]).is_some());
        assert_eq!(
            bytes_per_entry(&[sample(0, 1), sample(5, 2), sample(5, 3)]),
            None,
            "all at one count"
        );
    }

    fn fill(per_entry: u64) -> Fill {
        Fill {
            samples: (0..=4)
                .map(|i| sample(i * 1_000, 50_000_000 + i * 1_000 * per_entry))
                .collect(),
            verifications: 4_000,
            shed: 0,
            failed: 0,
            mismatches: Vec::new(),
        }
    }

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            cpu_model: "Test CPU".into(),
        }
    }

    #[test]
    fn the_report_gives_the_slope_and_the_goal() {
        let args = args(&["--entries", "4000", "--steps", "4"]);
        let over = MemoryReport::new(&args, 1, machine(), fill(1_200));
        assert_eq!(over.entries, 4_000);
        assert_eq!(
            (over.rss_start_bytes, over.rss_end_bytes),
            (50_000_000, 54_800_000)
        );
        assert!((over.bytes_per_entry.expect("slope") - 1_200.0).abs() < 1e-6);
        assert_eq!(over.goal_met, Some(false));
        assert!((over.entries_per_sec - 1_000.0).abs() < 1e-9);
        let mut out = Vec::new();
        text(&over, &mut out).expect("written");
        let text_report = String::from_utf8(out).expect("utf-8");
        for expected in [
            "bytes per entry: 1200",
            "goal: at most 300 bytes per entry: NOT met",
            "filled 4,000 entries",
            "RSS: 50.0 MB at the start, 54.8 MB at the end (+4.8 MB)",
            "RSS only",
            "Test CPU",
        ] {
            assert!(
                text_report.contains(expected),
                "{expected:?} in\n{text_report}"
            );
        }
        let under = MemoryReport::new(&args, 1, machine(), fill(250));
        assert_eq!(under.goal_met, Some(true));
        let mut json = Vec::new();
        crate::report::json(&under, &mut json).expect("written");
        let value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["command"], "memory");
        assert_eq!(value["goal_met"], true);
        assert_eq!(value["samples"].as_array().map(Vec::len), Some(5));
        let back: MemoryReport = serde_json::from_value(value).expect("round trip");
        assert_eq!(back, under);
    }

    #[test]
    fn the_entry_count_is_the_record_caches_misses() {
        let metrics = "\
# HELP mz_cache_requests Cache look-ups, by cache and result (hit or miss).
# TYPE mz_cache_requests counter
mz_cache_requests_total{cache=\"records\",result=\"hit\"} 7
mz_cache_requests_total{cache=\"venues\",result=\"miss\"} 3
mz_cache_requests_total{cache=\"records\",result=\"miss\"} 123456
";
        assert_eq!(entries_in(metrics), Some(123_456));
        assert_eq!(entries_in("mz_other_total 5\n"), None);
    }

    #[test]
    fn every_department_is_asked_at_the_issuer() {
        let issuer = "http://127.0.0.1:7100";
        let departments = departments_at(issuer).expect("rewritten");
        let embedded = catalogue::EMBEDDED;
        let catalogue = Catalogue::from_sources(&catalogue::Sources {
            departments: catalogue::Source {
                name: "departments.toml",
                text: &departments,
            },
            ..embedded
        })
        .expect("still a valid catalogue");
        let mut backends = 0;
        for department in catalogue.departments() {
            for backend in &department.backends {
                backends += 1;
                assert_eq!(
                    backend.endpoint,
                    wire::catalogue::model::Endpoint::Url(format!(
                        "{issuer}/backends/{}",
                        backend_name(&department.id, backend.scope)
                    )),
                    "{}",
                    department.id
                );
            }
        }
        assert!(
            backends > catalogue.departments().len(),
            "city backends too"
        );
    }

    #[test]
    fn the_catalogue_is_written_whole_and_the_gateway_loads_its_configuration() {
        let dir = tempfile::tempdir().expect("a folder");
        write_catalogue(&dir.path().join("catalogue"), "http://127.0.0.1:1").expect("written");
        Catalogue::load(&dir.path().join("catalogue")).expect("loads");
        let launch = GatewayLaunch {
            bin: "gateway".into(),
            pin: false,
            log_level: "warn".into(),
            audit: false,
            store_url: None,
            extra_toml: gateway_toml(10_000_000),
        };
        let config = gateway::config::GatewayConfig::parse(
            &launch.config().expect("merged"),
            "gateway.toml",
            dir.path().to_path_buf(),
        )
        .expect("valid");
        assert_eq!(config.fetch.cache_capacity, 10_000_000);
        assert_eq!(config.fetch.deadline_ms, FETCH_DEADLINE_MS);
        assert_eq!(config.catalogue.dir, Some("catalogue".into()));
        assert!(!config.audit.enabled);
    }

    #[test]
    fn bad_flags_are_refused_naming_the_flag() {
        assert!(check(&args(&[])).is_ok());
        assert_eq!(args(&[]).entries, 1_000_000);
        for (flags, expected) in [
            (&["--entries", "0"][..], "`--entries`"),
            (&["--steps", "1"], "`--steps`"),
            (&["--entries", "5", "--steps", "10"], "`--steps 10`"),
            (&["-c", "0"], "`-c`"),
        ] {
            let err = check(&args(flags)).expect_err("refused").to_string();
            assert!(err.contains(expected), "{flags:?}: {err}");
        }
        let hmac_refused = Verified::resolve(&args(&["--scenario", "hotel-check-in"]))
            .err()
            .expect("hotel-check-in takes signed codes only")
            .to_string();
        assert!(hmac_refused.contains("--profile eddsa"), "{hmac_refused}");
        assert!(Verified::resolve(&args(&["--scenario", "nowhere"])).is_err());
    }
}
