//! The reports, as text for people and JSON for machines, written to any `impl Write`.
//!
//! # JSON schema `mianzheng-loadtest/1`
//!
//! Every report is one JSON object with `"schema": "mianzheng-loadtest/1"` and a `"command"`.
//! Fields are only ever added within a schema version; a removal or change of meaning bumps it.
//! `run` and `compare` are laid out below; `overload`, `soak` and `memory` are their modules'
//! report types ([`crate::overload::OverloadReport`], [`crate::soak::SoakReport`],
//! [`crate::memory::MemoryReport`]), whose phases and summaries are the `summary` object below.
//! Times are in milliseconds (`*_ms`) or seconds (`*_secs`), CPU costs in microseconds.
//!
//! ```text
//! {
//!   "schema": "mianzheng-loadtest/1",
//!   "command": "run" | "compare",
//!   "setup": {
//!     "target": "http://127.0.0.1:8080",     // run: the target; compare: the gateway's URL
//!     "mode": "closed" | "open",
//!     "rate_per_sec": 500.0 | null,          // -q (open loop)
//!     "connections": 32,                     // -c
//!     "requests": 200 | null,                // -n
//!     "duration_secs": 10.0 | null,          // -z
//!     "codes_minted": 200,                   // pre-minted codes of the measured phase
//!     "http2": false,
//!     "profile": "eddsa" | "es256" | "es384" | "sm2" | "hmac",
//!     "population": 1000,                    // holders per scenario
//!     "zipf": 1.0,
//!     "mix": "park-entry-senior:70,hotel-check-in:30",
//!     "bad": 0.01,                           // share of bad inputs
//!     "replay": 0.01,                        // share of replayed codes (409 expected)
//!     "venues": 0,                           // venues registered per scenario (0: demo venue)
//!     "seed": 1,
//!     "timeout_secs": 10.0,
//!     "machine": { "cpus": 2, "cpu_model": "AMD EPYC ..." }
//!   },
//!   // command "run":
//!   "result": Summary,
//!   // command "compare":
//!   "warm": true,                            // measured phase on the cache-hit path
//!   "pinned": true,                          // generator on CPU 1 (servers: Side.pinned)
//!   "audit": "on" | "off" | "both",          // --audit: which gateways were started
//!   "store_url": "postgres://u@h/db" | null, // --store, password hidden; null: SQLite in a
//!                                            // temporary folder (or a running gateway's own)
//!   "baseline": Side,
//!   "gateway": Side,                         // audit on (audit off with `--audit off`)
//!   "ratios": Ratios,                        // gateway / baseline
//!   "gateway_audit_off": Side | null,        // --audit both: a fresh gateway, audit off
//!   "ratios_audit_off": Ratios | null,       // --audit both: gateway_audit_off / baseline
//!   "audit_on_over_off": Ratios | null       // --audit both: gateway / gateway_audit_off;
//!                                            // its total_cpu_per_request is what the audit
//!                                            // trail costs in CPU per verify
//! }
//!
//! Ratios = {                                 // null when undefined
//!   "throughput": 0.27, "p50": 3.9, "p90": 3.5, "p99": 2.1, "p99_9": 1.8,
//!   "server_cpu_per_request": 4.0,           // the server processes alone
//!   "total_cpu_per_request": 4.3             // with the store's backends (Side.total_cpu)
//! }
//!
//! Summary = {
//!   "requests": 200,                         // sent
//!   "answered": 200,                         // got an HTTP answer
//!   "elapsed_secs": 0.41,
//!   "throughput_rps": 487.8,                 // answered / elapsed
//!   "latency_ms": { "p50", "p90", "p99", "p99_9", "max", "mean" },
//!   "by_status": { "200": 180, "401": 7, "422": 13 },
//!   "latency_ms_by_status": { "200": { "p50", … }, "401": {…}, "422": {…} },
//!   "by_verdict": { "pass": 180 },           // 200 answers by overall verdict
//!   "by_input": { "valid": 180, "tampered_code": 7, "expired_code": 7, "unknown_venue": 6,
//!                 "replayed": 0 },
//!   "refused_as_expected": 20,               // bad inputs and replays refused as they should be
//!   "shed": 0,                               // 503 gateway.overloaded, where shedding is expected
//!   "by_scenario": { "park-entry-senior": { "requests": 101, "latency_ms": {...} } },
//!   "errors": { "connect", "timeout", "transport",
//!               "unexpected_status", "unexpected_verdict", "unexpected_body" },
//!   "expectations_checked": 200,
//!   "expectations_failed": 0,                // errors of any kind
//!   "mismatches": [ { "request", "scenario", "input", "kind", "expected", "got" } ],  // first 10
//!   "stop": "completed" | "duration" | "codes_exhausted",
//!   "latency_histogram": [ { "below_ms": 0.512, "count": 180 }, … ]  // doubling buckets
//! }
//!
//! Side = {
//!   "url": "http://127.0.0.1:41234", "pid": 4242,
//!   "started": true,                         // started by loadtest (else --target-pid)
//!   "pinned": true,                          // on CPU 0
//!   "warm_up": Summary | null,
//!   "result": Summary,                       // the measured phase
//!   "server_cpu": CpuCost,                   // /proc/<pid>/stat utime+stime over the phase
//!   "generator_cpu": CpuCost,                // the same for loadtest itself
//!   "audit": true | false | null,            // a started gateway's audit.enabled; null for
//!                                            // the baseline and a running gateway
//!   "store": StoreCpu | null,                // a gateway on PostgreSQL; null when the store
//!                                            // (SQLite) is inside the server's process
//!   "total_cpu": CpuCost                     // server_cpu + store.cpu when counted
//! }
//! CpuCost = { "ticks": 731, "ticks_per_sec": 100, "secs": 7.31, "us_per_request": 66.2 }
//! StoreCpu = {                               // the backends serving this gateway
//!   "engine": "postgres",
//!   "url": "postgres://postgres@127.0.0.1:5432/test",   // password hidden
//!   "schema": "mz_compare_5f0c…",            // created for this gateway, dropped after it
//!   "application_name": "mz_compare_5f0c…", // how its backends are found in pg_stat_activity
//!   "counted": true,                         // false: the server is not on this machine
//!   "note": "…" | null,                      // why not counted, or what was missed
//!   "backends": 4,                           // tagged backends at the end of the phase
//!   "backends_started": 0,                   // of which started during it (counted whole)
//!   "backends_gone": 0,                      // ended during it (their time is not counted)
//!   "cpu": CpuCost | null                    // their utime+stime over the phase
//! }
//! ```

use std::io::Write;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::procstat::Machine;
use crate::stats::{ratio, LatencyBucket, Summary};

/// The version of the JSON reports.
pub const SCHEMA: &str = "mianzheng-loadtest/1";

/// How the load was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub target: String,
    pub mode: String,
    pub rate_per_sec: Option<f64>,
    pub connections: usize,
    pub requests: Option<u64>,
    pub duration_secs: Option<f64>,
    pub codes_minted: u64,
    pub http2: bool,
    pub profile: String,
    pub population: usize,
    pub zipf: f64,
    pub mix: String,
    pub bad: f64,
    #[serde(default)]
    pub replay: f64,
    #[serde(default)]
    pub venues: usize,
    pub seed: u64,
    pub timeout_secs: f64,
    pub machine: Machine,
}

/// The report of the default command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema: String,
    pub command: String,
    pub setup: Setup,
    pub result: Summary,
}

impl RunReport {
    pub fn new(setup: Setup, result: Summary) -> RunReport {
        RunReport {
            schema: SCHEMA.into(),
            command: "run".into(),
            setup,
            result,
        }
    }
}

/// CPU time a process spent over a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuCost {
    pub ticks: u64,
    pub ticks_per_sec: u64,
    pub secs: f64,
    pub us_per_request: f64,
}

impl CpuCost {
    pub fn new(ticks: u64, ticks_per_sec: u64, requests: u64) -> CpuCost {
        let secs = ticks as f64 / ticks_per_sec.max(1) as f64;
        CpuCost {
            ticks,
            ticks_per_sec,
            secs,
            us_per_request: if requests > 0 {
                secs * 1e6 / requests as f64
            } else {
                0.0
            },
        }
    }

    /// This and `other` together, per the same requests.
    pub fn plus(self, other: CpuCost, requests: u64) -> CpuCost {
        CpuCost::new(self.ticks + other.ticks, self.ticks_per_sec, requests)
    }
}

/// The CPU time of a gateway's store when it runs in processes of its own (PostgreSQL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreCpu {
    pub engine: String,
    /// The server, password hidden.
    pub url: String,
    /// Created for this gateway and dropped after it.
    pub schema: String,
    /// The tag of the gateway's connections in `pg_stat_activity`.
    pub application_name: String,
    /// Whether the backends' CPU time was read (the server is on this machine).
    pub counted: bool,
    /// Why it was not counted, or what was missed.
    pub note: Option<String>,
    /// Tagged backends at the end of the phase.
    pub backends: u64,
    /// Of those, started during the phase (all their time counts).
    pub backends_started: u64,
    /// Ended during the phase (their time since its start is not counted).
    pub backends_gone: u64,
    pub cpu: Option<CpuCost>,
}

/// One server of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub url: String,
    pub pid: u32,
    /// Started by loadtest (else given with `--target-pid`).
    pub started: bool,
    /// Started pinned to CPU 0 (`--pin`).
    pub pinned: bool,
    pub warm_up: Option<Summary>,
    pub result: Summary,
    pub server_cpu: CpuCost,
    pub generator_cpu: CpuCost,
    /// A started gateway's `audit.enabled`; `None` for the baseline and a running gateway.
    #[serde(default)]
    pub audit: Option<bool>,
    /// The store's own processes, for a gateway on PostgreSQL.
    #[serde(default)]
    pub store: Option<StoreCpu>,
    /// The server's CPU time and its store's, when counted.
    #[serde(default)]
    pub total_cpu: CpuCost,
}

impl Side {
    /// The store's CPU time, when it runs apart from the server and was counted.
    pub fn store_cpu(&self) -> Option<CpuCost> {
        self.store.as_ref().and_then(|s| s.cpu)
    }
}

/// One side over another: a gateway over the baseline, or the audit-on gateway over the
/// audit-off one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub throughput: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p99_9: Option<f64>,
    pub server_cpu_per_request: Option<f64>,
    /// Server and store CPU together.
    #[serde(default)]
    pub total_cpu_per_request: Option<f64>,
}

impl Ratios {
    /// `side` over `reference`.
    pub fn of(side: &Side, reference: &Side) -> Ratios {
        let (s, r) = (&side.result.latency_ms, &reference.result.latency_ms);
        Ratios {
            throughput: ratio(side.result.throughput_rps, reference.result.throughput_rps),
            p50: ratio(s.p50, r.p50),
            p90: ratio(s.p90, r.p90),
            p99: ratio(s.p99, r.p99),
            p99_9: ratio(s.p99_9, r.p99_9),
            server_cpu_per_request: ratio(
                side.server_cpu.us_per_request,
                reference.server_cpu.us_per_request,
            ),
            total_cpu_per_request: ratio(
                side.total_cpu.us_per_request,
                reference.total_cpu.us_per_request,
            ),
        }
    }
}

fn audit_on() -> String {
    "on".into()
}

/// The report of `compare`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub schema: String,
    pub command: String,
    pub setup: Setup,
    pub warm: bool,
    pub pinned: bool,
    /// `--audit`: `on`, `off` or `both`.
    #[serde(default = "audit_on")]
    pub audit: String,
    /// `--store`, password hidden; `None`: SQLite in a temporary folder, or a running
    /// gateway's own store.
    #[serde(default)]
    pub store_url: Option<String>,
    pub baseline: Side,
    /// The audit-on gateway (the audit-off one with `--audit off`).
    pub gateway: Side,
    /// `gateway` over `baseline`.
    pub ratios: Ratios,
    /// `--audit both`: the fresh gateway with the audit trail off.
    #[serde(default)]
    pub gateway_audit_off: Option<Side>,
    /// `--audit both`: `gateway_audit_off` over `baseline`.
    #[serde(default)]
    pub ratios_audit_off: Option<Ratios>,
    /// `--audit both`: `gateway` over `gateway_audit_off`, what the audit trail costs.
    #[serde(default)]
    pub audit_on_over_off: Option<Ratios>,
}

/// Pretty JSON and a final newline.
pub fn json<T: Serialize>(report: &T, out: &mut impl Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, n)| format!("{k}: {}", thousands(*n)))
        .collect::<Vec<_>>()
        .join("   ")
}

fn load_line(setup: &Setup) -> String {
    let mode = match setup.rate_per_sec {
        Some(q) => format!("open loop at {q} req/s"),
        None => "closed loop".into(),
    };
    let stop = match (setup.requests, setup.duration_secs) {
        (Some(n), Some(z)) => format!("{} requests or {z} s", thousands(n)),
        (Some(n), None) => format!("{} requests", thousands(n)),
        (None, Some(z)) => format!("{z} s"),
        (None, None) => String::new(),
    };
    format!(
        "{mode}, {} connections, {stop}, {}",
        setup.connections,
        if setup.http2 { "HTTP/2" } else { "HTTP/1.1" }
    )
}

fn workload_line(setup: &Setup) -> String {
    format!(
        "mix {}; {} holders per scenario, zipf {}; profile {}; bad inputs {}%, replays {}%; {}",
        setup.mix,
        thousands(setup.population as u64),
        setup.zipf,
        setup.profile,
        setup.bad * 100.0,
        setup.replay * 100.0,
        match setup.venues {
            0 => "each scenario's demo venue".to_owned(),
            n => format!("{n} registered venues per scenario"),
        }
    )
}

fn stop_text(s: &Summary) -> &'static str {
    match s.stop {
        crate::stats::Stop::Completed => "completed",
        crate::stats::Stop::Duration => "duration reached",
        crate::stats::Stop::CodesExhausted => {
            "STOPPED EARLY: the pre-minted codes ran out (raise `--max-requests`)"
        }
    }
}

/// The body of a summary, indented.
pub(crate) fn summary_text(s: &Summary, out: &mut impl Write) -> Result<()> {
    let l = &s.latency_ms;
    writeln!(
        out,
        "  requests     {} sent, {} answered in {:.2} s ({})",
        thousands(s.requests),
        thousands(s.answered),
        s.elapsed_secs,
        stop_text(s)
    )?;
    writeln!(out, "  throughput   {:.1} req/s", s.throughput_rps)?;
    writeln!(
        out,
        "  latency ms   p50 {:.3}   p90 {:.3}   p99 {:.3}   p99.9 {:.3}   max {:.3}   mean {:.3}",
        l.p50, l.p90, l.p99, l.p99_9, l.max, l.mean
    )?;
    histogram_text(&s.latency_histogram, out)?;
    writeln!(out, "  by status    {}", counts(&s.by_status))?;
    if s.by_status.len() > 1 {
        for (status, l) in &s.latency_ms_by_status {
            writeln!(
                out,
                "  {status} latency  p50 {:.3}   p99 {:.3}   max {:.3} ms",
                l.p50, l.p99, l.max
            )?;
        }
    }
    writeln!(out, "  by verdict   {}", counts(&s.by_verdict))?;
    writeln!(out, "  by input     {}", counts(&s.by_input))?;
    if s.by_scenario.len() > 1 {
        for (name, sc) in &s.by_scenario {
            writeln!(
                out,
                "  scenario     {name}: {} answered, p50 {:.3} ms, p99 {:.3} ms",
                thousands(sc.requests),
                sc.latency_ms.p50,
                sc.latency_ms.p99
            )?;
        }
    }
    if s.refused_as_expected > 0 {
        writeln!(
            out,
            "  refused      {} as expected (bad inputs and replays; not failures)",
            thousands(s.refused_as_expected)
        )?;
    }
    if s.shed > 0 {
        writeln!(
            out,
            "  shed         {} (503 gateway.overloaded with Retry-After; not failures)",
            thousands(s.shed)
        )?;
    }
    let e = &s.errors;
    if e.total() == 0 {
        writeln!(out, "  errors       none")?;
    } else {
        writeln!(
            out,
            "  errors       connect {}, timeout {}, transport {}, unexpected status {}, unexpected verdict {}, unexpected body {}",
            e.connect, e.timeout, e.transport, e.unexpected_status, e.unexpected_verdict, e.unexpected_body
        )?;
    }
    if s.expectations_failed == 0 {
        writeln!(
            out,
            "  expectations {} checked, all held",
            thousands(s.expectations_checked)
        )?;
    } else {
        writeln!(
            out,
            "  expectations {} checked, {} FAILED",
            thousands(s.expectations_checked),
            thousands(s.expectations_failed)
        )?;
    }
    for m in &s.mismatches {
        writeln!(
            out,
            "    request #{} ({}, {}): expected {}, got {}",
            m.request,
            m.scenario,
            m.input.name(),
            m.expected,
            m.got
        )?;
    }
    if s.by_status.contains_key("429") {
        writeln!(out, "  note         429 answers: a venue's rate quota (`rate_per_sec`) capped the load; `--venues N` spreads it over N venues per scenario")?;
    }
    Ok(())
}

/// Widest bar of the latency histogram, in characters.
const HISTOGRAM_BAR: u64 = 40;

/// The latency histogram as bars, one doubling bucket a line, the fullest bucket
/// [`HISTOGRAM_BAR`] wide; a bucket with any answer shows at least a sliver.
fn histogram_text(buckets: &[LatencyBucket], out: &mut impl Write) -> Result<()> {
    let fullest = buckets.iter().map(|b| b.count).max().unwrap_or(0);
    for (i, bucket) in buckets.iter().enumerate() {
        let label = if i == 0 {
            "  histogram    "
        } else {
            "               "
        };
        let width = (bucket.count * HISTOGRAM_BAR)
            .checked_div(fullest)
            .unwrap_or(0);
        let bar = match (width, bucket.count) {
            (0, 0) => String::new(),
            (0, _) => "▏".to_owned(),
            (w, _) => "█".repeat(w as usize),
        };
        let line = format!(
            "{label}< {:>9.3} ms {:>12}  {bar}",
            bucket.below_ms,
            thousands(bucket.count)
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The text report of a run.
pub fn run_text(report: &RunReport, out: &mut impl Write) -> Result<()> {
    let setup = &report.setup;
    writeln!(out, "loadtest {}", setup.target)?;
    writeln!(out, "  load         {}", load_line(setup))?;
    writeln!(out, "  workload     {}", workload_line(setup))?;
    writeln!(
        out,
        "  machine      {} CPUs, {}",
        setup.machine.cpus, setup.machine.cpu_model
    )?;
    summary_text(&report.result, out)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}"))
}

/// A column of the comparison table: one server's figures, or one side over another.
enum Column<'a> {
    Side(&'static str, &'a Side),
    Ratio(&'static str, &'a Ratios),
}

/// A row of the comparison table: a figure of each side and, in the ratio columns, its ratio.
struct Row {
    name: &'static str,
    side: fn(&Side) -> String,
    ratio: fn(&Ratios) -> Option<f64>,
}

fn no_ratio(_: &Ratios) -> Option<f64> {
    None
}

/// The table's rows; the store's when some side has a store of its own.
fn rows(with_store: bool) -> Vec<Row> {
    let mut rows = vec![
        Row {
            name: "throughput (req/s)",
            side: |s| format!("{:.0}", s.result.throughput_rps),
            ratio: |r| r.throughput,
        },
        Row {
            name: "server CPU per request (µs)",
            side: |s| format!("{:.1}", s.server_cpu.us_per_request),
            ratio: |r| r.server_cpu_per_request,
        },
    ];
    if with_store {
        rows.push(Row {
            name: "store CPU per request (µs)",
            side: |s| {
                s.store_cpu()
                    .map_or_else(|| "-".into(), |c| format!("{:.1}", c.us_per_request))
            },
            ratio: no_ratio,
        });
        rows.push(Row {
            name: "server + store per request (µs)",
            side: |s| format!("{:.1}", s.total_cpu.us_per_request),
            ratio: |r| r.total_cpu_per_request,
        });
    }
    rows.extend([
        Row {
            name: "latency p50 (ms)",
            side: |s| format!("{:.3}", s.result.latency_ms.p50),
            ratio: |r| r.p50,
        },
        Row {
            name: "latency p90 (ms)",
            side: |s| format!("{:.3}", s.result.latency_ms.p90),
            ratio: |r| r.p90,
        },
        Row {
            name: "latency p99 (ms)",
            side: |s| format!("{:.3}", s.result.latency_ms.p99),
            ratio: |r| r.p99,
        },
        Row {
            name: "latency p99.9 (ms)",
            side: |s| format!("{:.3}", s.result.latency_ms.p99_9),
            ratio: |r| r.p99_9,
        },
        Row {
            name: "latency max (ms)",
            side: |s| format!("{:.3}", s.result.latency_ms.max),
            ratio: no_ratio,
        },
        Row {
            name: "server CPU (s)",
            side: |s| format!("{:.2}", s.server_cpu.secs),
            ratio: no_ratio,
        },
    ]);
    if with_store {
        rows.push(Row {
            name: "store CPU (s)",
            side: |s| {
                s.store_cpu()
                    .map_or_else(|| "-".into(), |c| format!("{:.2}", c.secs))
            },
            ratio: no_ratio,
        });
    }
    rows.extend([
        Row {
            name: "generator CPU per request (µs)",
            side: |s| format!("{:.1}", s.generator_cpu.us_per_request),
            ratio: no_ratio,
        },
        Row {
            name: "answered",
            side: |s| thousands(s.result.answered),
            ratio: no_ratio,
        },
        Row {
            name: "errors",
            side: |s| thousands(s.result.errors.total()),
            ratio: no_ratio,
        },
    ]);
    rows
}

fn table(columns: &[Column<'_>], with_store: bool, out: &mut impl Write) -> Result<()> {
    let rows = rows(with_store);
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let width = |c: &Column<'_>| match c {
        Column::Side(..) => 12,
        Column::Ratio(..) => 10,
    };
    write!(out, "  {:<name_width$}", "")?;
    for c in columns {
        let (Column::Side(header, _) | Column::Ratio(header, _)) = c;
        write!(out, "{header:>w$}", w = width(c))?;
    }
    writeln!(out)?;
    for row in &rows {
        write!(out, "  {:<name_width$}", row.name)?;
        for c in columns {
            let cell = match c {
                Column::Side(_, side) => (row.side)(side),
                Column::Ratio(_, ratios) => fmt_ratio((row.ratio)(ratios)),
            };
            write!(out, "{cell:>w$}", w = width(c))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// What the audit trail costs, in one line: the audit-on gateway over the audit-off one.
fn audit_cost_line(on: &Side, off: &Side, r: &Ratios) -> String {
    let (on_us, off_us) = (on.total_cpu.us_per_request, off.total_cpu.us_per_request);
    let what = if on.store.is_some() || off.store.is_some() {
        "server + store CPU per verify"
    } else {
        "CPU per verify"
    };
    format!(
        "on ÷ off {} × the {what} ({on_us:.1} µs against {off_us:.1} µs, {:+.1} µs), {} × the throughput",
        fmt_ratio(r.total_cpu_per_request),
        on_us - off_us,
        fmt_ratio(r.throughput),
    )
}

/// The heading of a gateway's section.
fn gateway_heading(g: &Side, out: &mut impl Write) -> Result<()> {
    let mut notes = Vec::new();
    if g.started {
        notes.push("started by loadtest");
    }
    match g.audit {
        Some(true) => notes.push("audit on"),
        Some(false) => notes.push("audit off"),
        None => {}
    }
    let notes: String = notes.iter().map(|n| format!(", {n}")).collect();
    writeln!(out, "gateway {} (pid {}{notes})", g.url, g.pid)?;
    if let Some(w) = &g.warm_up {
        writeln!(
            out,
            "  warm-up      {} requests in {:.2} s, {} failed",
            thousands(w.requests),
            w.elapsed_secs,
            thousands(w.expectations_failed)
        )?;
    }
    if let Some(store) = &g.store {
        match store.cpu {
            Some(cpu) => writeln!(
                out,
                "  store        {} schema {}: {} backends ({} started, {} gone), {:.2} s CPU, {:.1} µs per request",
                store.engine,
                store.schema,
                store.backends,
                store.backends_started,
                store.backends_gone,
                cpu.secs,
                cpu.us_per_request
            )?,
            None => writeln!(
                out,
                "  store        {} schema {}: CPU not counted",
                store.engine, store.schema
            )?,
        }
        if let Some(note) = &store.note {
            writeln!(out, "  store note   {note}")?;
        }
    }
    Ok(())
}

/// The text report of a comparison: the table of figures and ratios first, then each side.
pub fn compare_text(report: &CompareReport, out: &mut impl Write) -> Result<()> {
    let setup = &report.setup;
    let (b, g) = (&report.baseline, &report.gateway);
    let both = report
        .gateway_audit_off
        .as_ref()
        .zip(report.ratios_audit_off.as_ref())
        .zip(report.audit_on_over_off.as_ref());
    writeln!(
        out,
        "loadtest compare: the same load at a bare hyper server and at the gateway{}",
        match (both.is_some(), g.audit) {
            (true, _) => ", audit trail on and off",
            (false, Some(false)) => " (audit trail off)",
            (false, _) => "",
        }
    )?;
    writeln!(out, "  load         {}", load_line(setup))?;
    writeln!(out, "  workload     {}", workload_line(setup))?;
    writeln!(
        out,
        "  path         {}",
        if report.warm {
            "warm: record caches filled first (cache-hit path)"
        } else {
            "cold: no warm-up (cache-miss path at first)"
        }
    )?;
    writeln!(
        out,
        "  pinning      {}",
        match (report.pinned, g.pinned, &report.store_url) {
            (true, true, None) => "servers on CPU 0, generator on CPU 1",
            (true, true, Some(_)) =>
                "servers on CPU 0, generator on CPU 1; the store's backends are not pinned",
            (true, false, _) => "baseline on CPU 0, generator on CPU 1; the running gateway is not pinned by loadtest",
            (false, _, _) => "none: servers and generator share the CPUs",
        }
    )?;
    writeln!(
        out,
        "  audit        {}",
        match (both.is_some(), g.audit) {
            (true, _) =>
                "on, then off in a fresh gateway (`audit.enabled = false`): on ÷ off is what the trail costs",
            (false, Some(true)) => "on: every verification's entry is committed before its answer",
            (false, Some(false)) => "off (`audit.enabled = false`): nothing is recorded",
            (false, None) => "the running gateway's own setting",
        }
    )?;
    let store = match (&report.store_url, g.started) {
        (Some(url), _) => {
            let counted = [Some(g), report.gateway_audit_off.as_ref()]
                .into_iter()
                .flatten()
                .all(|s| s.store.as_ref().is_some_and(|st| st.counted));
            format!(
                "PostgreSQL {url}, a fresh schema per gateway; {}",
                if counted {
                    "the CPU time of its backends serving the gateway is store CPU"
                } else {
                    "its backends' CPU is NOT counted (see the store note below)"
                }
            )
        }
        (None, true) => "SQLite in a temporary folder, inside the gateway's process".into(),
        (None, false) => "the running gateway's own; only the gateway's process is counted".into(),
    };
    writeln!(out, "  store        {store}")?;
    writeln!(
        out,
        "  machine      {} CPUs, {}",
        setup.machine.cpus, setup.machine.cpu_model
    )?;
    writeln!(out)?;
    let with_store = report.store_url.is_some();
    match both {
        Some(((off, r_off), on_off)) => {
            table(
                &[
                    Column::Side("bare", b),
                    Column::Side("audit on", g),
                    Column::Side("audit off", off),
                    Column::Ratio("on÷bare", &report.ratios),
                    Column::Ratio("off÷bare", r_off),
                    Column::Ratio("on÷off", on_off),
                ],
                with_store,
                out,
            )?;
            writeln!(out)?;
            writeln!(out, "  audit trail  {}", audit_cost_line(g, off, on_off))?;
        }
        None => table(
            &[
                Column::Side("baseline", b),
                Column::Side("gateway", g),
                Column::Ratio("ratio", &report.ratios),
            ],
            with_store,
            out,
        )?,
    }
    writeln!(out)?;
    writeln!(out, "baseline {} (pid {})", b.url, b.pid)?;
    summary_text(&b.result, out)?;
    for side in [Some(g), report.gateway_audit_off.as_ref()]
        .into_iter()
        .flatten()
    {
        writeln!(out)?;
        gateway_heading(side, out)?;
        summary_text(&side.result, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_draws_a_bar_per_bucket_scaled_to_the_fullest() {
        let buckets = [
            LatencyBucket {
                below_ms: 0.512,
                count: 3_000,
            },
            LatencyBucket {
                below_ms: 1.024,
                count: 0,
            },
            LatencyBucket {
                below_ms: 2.048,
                count: 1_000,
            },
            LatencyBucket {
                below_ms: 4.096,
                count: 1,
            },
        ];
        let mut out = Vec::new();
        histogram_text(&buckets, &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("  histogram    <     0.512 ms        3,000  "),
            "{text}"
        );
        let bars: Vec<usize> = lines.iter().map(|l| l.matches('█').count()).collect();
        assert_eq!(bars, [40, 0, 13, 0], "{text}");
        assert!(
            lines[1].ends_with(" 0"),
            "an empty bucket has no bar: {text}"
        );
        assert!(lines[3].ends_with('▏'), "one answer still shows: {text}");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn cpu_cost_per_request() {
        let c = CpuCost::new(250, 100, 50_000);
        assert_eq!(c.secs, 2.5);
        assert!((c.us_per_request - 50.0).abs() < 1e-9);
        assert_eq!(CpuCost::new(3, 100, 0).us_per_request, 0.0);
        assert_eq!(c.plus(CpuCost::new(50, 100, 50_000), 50_000).ticks, 300);
    }

    /// A side that answered 10,000 requests in 1 s, using `ticks` of its own CPU and
    /// `store_ticks` of its store's.
    fn side(audit: Option<bool>, ticks: u64, store_ticks: Option<u64>) -> Side {
        let mut result = crate::stats::Recorder::new(vec!["park-entry-senior".into()]).summary(
            std::time::Duration::from_secs(1),
            crate::stats::Stop::Duration,
        );
        result.answered = 10_000;
        result.throughput_rps = 10_000.0;
        let server_cpu = CpuCost::new(ticks, 100, 10_000);
        let store = store_ticks.map(|t| StoreCpu {
            engine: "postgres".into(),
            url: "postgres://postgres@127.0.0.1:5432/test".into(),
            schema: "mz_compare_1".into(),
            application_name: "mz_compare_1".into(),
            counted: true,
            note: None,
            backends: 2,
            backends_started: 0,
            backends_gone: 0,
            cpu: Some(CpuCost::new(t, 100, 10_000)),
        });
        Side {
            url: "http://127.0.0.1:1".into(),
            pid: 42,
            started: true,
            pinned: false,
            warm_up: None,
            total_cpu: store
                .as_ref()
                .and_then(|s| s.cpu)
                .map_or(server_cpu, |c| server_cpu.plus(c, 10_000)),
            server_cpu,
            generator_cpu: CpuCost::new(1, 100, 10_000),
            audit,
            store,
            result,
        }
    }

    fn both(store: bool) -> CompareReport {
        let baseline = side(None, 10, None);
        let on = side(Some(true), 40, store.then_some(20));
        let off = side(Some(false), 20, store.then_some(0));
        CompareReport {
            schema: SCHEMA.into(),
            command: "compare".into(),
            setup: crate::run::setup(
                "http://127.0.0.1:1",
                &crate::cli::Cli::try_parse_from(["loadtest", "--target", "http://127.0.0.1:1"])
                    .expect("parses")
                    .run
                    .measure
                    .load
                    .workload,
                &crate::cli::LoadPlan {
                    pace: crate::cli::Pace::Closed,
                    connections: 32,
                    requests: None,
                    duration: Some(std::time::Duration::from_secs(10)),
                    codes: 200_000,
                    timeout: std::time::Duration::from_secs(10),
                },
                false,
                Machine {
                    cpus: 2,
                    cpu_model: "test".into(),
                },
            ),
            warm: true,
            pinned: false,
            audit: "both".into(),
            store_url: store.then(|| "postgres://postgres@127.0.0.1:5432/test".into()),
            ratios: Ratios::of(&on, &baseline),
            ratios_audit_off: Some(Ratios::of(&off, &baseline)),
            audit_on_over_off: Some(Ratios::of(&on, &off)),
            baseline,
            gateway: on,
            gateway_audit_off: Some(off),
        }
    }

    use clap::Parser as _;

    #[test]
    fn audit_both_shows_the_gateways_side_by_side_and_what_the_trail_costs() {
        let mut text = Vec::new();
        compare_text(&both(false), &mut text).expect("written");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(
            text.contains("at the gateway, audit trail on and off"),
            "{text}"
        );
        let header = text
            .lines()
            .find(|l| l.contains("audit on") && l.contains("on÷off"))
            .expect("the table's header");
        for column in ["bare", "audit off", "on÷bare", "off÷bare"] {
            assert!(header.contains(column), "{header}");
        }
        let cpu = text
            .lines()
            .find(|l| l.trim_start().starts_with("server CPU per request"))
            .expect("CPU row");
        let cells: Vec<&str> = cpu.split_whitespace().rev().take(6).collect();
        assert_eq!(
            cells,
            ["2.00", "2.00", "4.00", "20.0", "40.0", "10.0"],
            "{cpu}"
        );
        assert!(
            text.contains(
                "audit trail  on ÷ off 2.00 × the CPU per verify (40.0 µs against 20.0 µs, +20.0 µs)"
            ),
            "{text}"
        );
        assert!(
            !text.contains("store CPU"),
            "no store rows on SQLite: {text}"
        );
        assert!(
            text.contains("gateway http://127.0.0.1:1 (pid 42, started by loadtest, audit off)")
        );

        let mut text = Vec::new();
        compare_text(&both(true), &mut text).expect("written");
        let text = String::from_utf8(text).expect("utf-8");
        let total = text
            .lines()
            .find(|l| l.trim_start().starts_with("server + store per request"))
            .expect("total row");
        let cells: Vec<&str> = total.split_whitespace().rev().take(6).collect();
        assert_eq!(
            cells,
            ["3.00", "2.00", "6.00", "20.0", "60.0", "10.0"],
            "{total}"
        );
        assert!(
            text.contains("on ÷ off 3.00 × the server + store CPU per verify"),
            "{text}"
        );
        assert!(text.contains(
            "PostgreSQL postgres://postgres@127.0.0.1:5432/test, a fresh schema per gateway"
        ));
        assert!(
            text.contains("store        postgres schema mz_compare_1: 2 backends"),
            "{text}"
        );
    }

    #[test]
    fn the_json_gains_fields_and_still_reads_reports_without_them() {
        let report = both(true);
        let mut json = Vec::new();
        super::json(&report, &mut json).expect("written");
        let value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        assert_eq!(value["audit"], "both");
        assert_eq!(value["audit_on_over_off"]["total_cpu_per_request"], 3.0);
        assert_eq!(value["gateway_audit_off"]["audit"], false);
        assert_eq!(value["gateway"]["store"]["cpu"]["ticks"], 20);
        let back: CompareReport = serde_json::from_slice(&json).expect("reads back");
        assert_eq!(back, report);

        // A report of before `--audit`: what it lacks reads as the defaults.
        let mut old = value.clone();
        for field in [
            "audit",
            "store_url",
            "gateway_audit_off",
            "ratios_audit_off",
            "audit_on_over_off",
        ] {
            old.as_object_mut().expect("object").remove(field);
        }
        for side in ["baseline", "gateway"] {
            for field in ["audit", "store", "total_cpu"] {
                old[side].as_object_mut().expect("object").remove(field);
            }
        }
        old["ratios"]
            .as_object_mut()
            .expect("object")
            .remove("total_cpu_per_request");
        let old: CompareReport = serde_json::from_value(old).expect("an older report reads");
        assert_eq!((old.audit.as_str(), old.gateway_audit_off), ("on", None));
        assert_eq!(old.gateway.store, None);
    }
}
