//! The reports, as text for people and JSON for machines, written to any `impl Write`.
//!
//! # JSON schema `mianzheng-loadtest/1`
//!
//! Every report is one JSON object with `"schema": "mianzheng-loadtest/1"` and a `"command"`.
//! Fields are only ever added within a schema version; a removal or change of meaning bumps it.
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
//!     "profile": "eddsa" | "es256" | "hmac",
//!     "population": 1000,                    // holders per scenario
//!     "zipf": 1.0,
//!     "mix": "park-entry-senior:70,hotel-check-in:30",
//!     "bad": 0.01,                           // share of bad inputs
//!     "seed": 1,
//!     "timeout_secs": 10.0,
//!     "machine": { "cpus": 2, "cpu_model": "AMD EPYC ..." }
//!   },
//!   // command "run":
//!   "result": Summary,
//!   // command "compare":
//!   "warm": true,                            // measured phase on the cache-hit path
//!   "pinned": true,                          // generator on CPU 1 (servers: Side.pinned)
//!   "baseline": Side, "gateway": Side,
//!   "ratios": {                              // gateway / baseline; null when undefined
//!     "throughput": 0.27, "p50": 3.9, "p90": 3.5, "p99": 2.1, "p99_9": 1.8,
//!     "server_cpu_per_request": 4.0
//!   }
//! }
//!
//! Summary = {
//!   "requests": 200,                         // sent
//!   "answered": 200,                         // got an HTTP answer
//!   "elapsed_secs": 0.41,
//!   "throughput_rps": 487.8,                 // answered / elapsed
//!   "latency_ms": { "p50", "p90", "p99", "p99_9", "max", "mean" },
//!   "by_status": { "200": 180, "401": 7, "422": 13 },
//!   "by_verdict": { "pass": 180 },           // 200 answers by overall verdict
//!   "by_input": { "valid": 180, "tampered_code": 7, "expired_code": 7, "unknown_venue": 6 },
//!   "by_scenario": { "park-entry-senior": { "requests": 101, "latency_ms": {...} } },
//!   "errors": { "connect", "timeout", "transport",
//!               "unexpected_status", "unexpected_verdict", "unexpected_body" },
//!   "expectations_checked": 200,
//!   "expectations_failed": 0,                // errors of any kind
//!   "mismatches": [ { "request", "scenario", "input", "kind", "expected", "got" } ],  // first 10
//!   "stop": "completed" | "duration" | "codes_exhausted"
//! }
//!
//! Side = {
//!   "url": "http://127.0.0.1:41234", "pid": 4242,
//!   "started": true,                         // started by loadtest (else --target-pid)
//!   "pinned": true,                          // on CPU 0
//!   "warm_up": Summary | null,
//!   "result": Summary,                       // the measured phase
//!   "server_cpu": CpuCost,                   // /proc/<pid>/stat utime+stime over the phase
//!   "generator_cpu": CpuCost                 // the same for loadtest itself
//! }
//! CpuCost = { "ticks": 731, "ticks_per_sec": 100, "secs": 7.31, "us_per_request": 66.2 }
//! ```

use std::io::Write;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::procstat::Machine;
use crate::stats::{ratio, Summary};

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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
}

/// Gateway over baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub throughput: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p99_9: Option<f64>,
    pub server_cpu_per_request: Option<f64>,
}

impl Ratios {
    pub fn of(gateway: &Side, baseline: &Side) -> Ratios {
        let (g, b) = (&gateway.result.latency_ms, &baseline.result.latency_ms);
        Ratios {
            throughput: ratio(
                gateway.result.throughput_rps,
                baseline.result.throughput_rps,
            ),
            p50: ratio(g.p50, b.p50),
            p90: ratio(g.p90, b.p90),
            p99: ratio(g.p99, b.p99),
            p99_9: ratio(g.p99_9, b.p99_9),
            server_cpu_per_request: ratio(
                gateway.server_cpu.us_per_request,
                baseline.server_cpu.us_per_request,
            ),
        }
    }
}

/// The report of `compare`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub schema: String,
    pub command: String,
    pub setup: Setup,
    pub warm: bool,
    pub pinned: bool,
    pub baseline: Side,
    pub gateway: Side,
    pub ratios: Ratios,
}

/// Pretty JSON and a final newline.
pub fn json<T: Serialize>(report: &T, out: &mut impl Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}

fn thousands(n: u64) -> String {
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
        "mix {}; {} holders per scenario, zipf {}; profile {}; bad inputs {}%",
        setup.mix,
        thousands(setup.population as u64),
        setup.zipf,
        setup.profile,
        setup.bad * 100.0
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
fn summary_text(s: &Summary, out: &mut impl Write) -> Result<()> {
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
    writeln!(out, "  by status    {}", counts(&s.by_status))?;
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
        writeln!(out, "  note         429 answers: the venue's rate quota (venues.toml `rate_per_sec`) capped the load")?;
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

/// The text report of a comparison: ratios first, then each side.
pub fn compare_text(report: &CompareReport, out: &mut impl Write) -> Result<()> {
    let setup = &report.setup;
    let (b, g, r) = (&report.baseline, &report.gateway, &report.ratios);
    writeln!(
        out,
        "loadtest compare: the same load at a bare hyper server and at the gateway"
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
        match (report.pinned, g.pinned) {
            (true, true) => "servers on CPU 0, generator on CPU 1",
            (true, false) => "baseline on CPU 0, generator on CPU 1; the running gateway is not pinned by loadtest",
            (false, _) => "none: servers and generator share the CPUs",
        }
    )?;
    writeln!(
        out,
        "  machine      {} CPUs, {}",
        setup.machine.cpus, setup.machine.cpu_model
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<30}{:>14}{:>14}{:>12}",
        "", "baseline", "gateway", "ratio"
    )?;
    let row = |out: &mut dyn Write, name: &str, bv: String, gv: String, rv: Option<f64>| {
        writeln!(out, "  {name:<30}{bv:>14}{gv:>14}{:>12}", fmt_ratio(rv))
    };
    let (bl, gl) = (&b.result.latency_ms, &g.result.latency_ms);
    row(
        out,
        "throughput (req/s)",
        format!("{:.0}", b.result.throughput_rps),
        format!("{:.0}", g.result.throughput_rps),
        r.throughput,
    )?;
    row(
        out,
        "server CPU per request (µs)",
        format!("{:.1}", b.server_cpu.us_per_request),
        format!("{:.1}", g.server_cpu.us_per_request),
        r.server_cpu_per_request,
    )?;
    row(
        out,
        "latency p50 (ms)",
        format!("{:.3}", bl.p50),
        format!("{:.3}", gl.p50),
        r.p50,
    )?;
    row(
        out,
        "latency p90 (ms)",
        format!("{:.3}", bl.p90),
        format!("{:.3}", gl.p90),
        r.p90,
    )?;
    row(
        out,
        "latency p99 (ms)",
        format!("{:.3}", bl.p99),
        format!("{:.3}", gl.p99),
        r.p99,
    )?;
    row(
        out,
        "latency p99.9 (ms)",
        format!("{:.3}", bl.p99_9),
        format!("{:.3}", gl.p99_9),
        r.p99_9,
    )?;
    row(
        out,
        "latency max (ms)",
        format!("{:.3}", bl.max),
        format!("{:.3}", gl.max),
        None,
    )?;
    row(
        out,
        "server CPU (s)",
        format!("{:.2}", b.server_cpu.secs),
        format!("{:.2}", g.server_cpu.secs),
        None,
    )?;
    row(
        out,
        "generator CPU per request (µs)",
        format!("{:.1}", b.generator_cpu.us_per_request),
        format!("{:.1}", g.generator_cpu.us_per_request),
        None,
    )?;
    row(
        out,
        "answered",
        thousands(b.result.answered),
        thousands(g.result.answered),
        None,
    )?;
    row(
        out,
        "errors",
        thousands(b.result.errors.total()),
        thousands(g.result.errors.total()),
        None,
    )?;
    writeln!(out)?;
    writeln!(out, "baseline {} (pid {})", b.url, b.pid)?;
    summary_text(&b.result, out)?;
    writeln!(out)?;
    writeln!(
        out,
        "gateway {} (pid {}{})",
        g.url,
        g.pid,
        if g.started {
            ", started by loadtest"
        } else {
            ""
        }
    )?;
    if let Some(w) = &g.warm_up {
        writeln!(
            out,
            "  warm-up      {} requests in {:.2} s, {} failed",
            thousands(w.requests),
            w.elapsed_secs,
            thousands(w.expectations_failed)
        )?;
    }
    summary_text(&g.result, out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
