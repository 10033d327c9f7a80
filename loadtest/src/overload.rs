//! `loadtest overload`: how the gateway behaves when offered more than it can do. Three
//! phases against one gateway (started here, or a running one at `--target`):
//!
//! 1. **probe** — a closed loop over `--probe-connections` for `--probe`: the verifications per
//!    second it answers is its saturation (or `--saturation` gives it);
//! 2. **half** — an open loop at half that rate: the latency of a gateway with room to spare;
//! 3. **overload** — an open loop at `--factor` (2) times saturation for `-z` (60 s).
//!
//! During the open-loop phases a 503 `gateway.overloaded` with `Retry-After` is a refusal the
//! phase expects (shed), not a failure; anything else unexpected — a timeout, a 500, a wrong
//! verdict — is a failure, and fails the command (exit code 1). The findings compare the
//! overload with the goals: refusals answered in under [`REFUSAL_GOAL_MS`] (p99), and admitted
//! verifications with a p99 at most [`ADMITTED_P99_GOAL`] times the half-load p99.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::cli::{format_duration, OverloadArgs, Pace, MAX_PLANNED_SECS};
use crate::codes::Prepared;
use crate::driver::{self, Drive, Progress, Target};
use crate::feed::Requests;
use crate::procstat::{self, Machine};
use crate::report::{summary_text, thousands, SCHEMA};
use crate::run::{self, Workload};
use crate::servers::{self, GatewayLaunch, Server};
use crate::stats::{Stop, Summary};

/// Refusals should come back faster than this (p99, milliseconds).
pub const REFUSAL_GOAL_MS: f64 = 10.0;
/// Admitted verifications under overload: p99 at most this multiple of the half-load p99.
pub const ADMITTED_P99_GOAL: f64 = 1.5;
/// The half-load phase lasts `-z`, but at most this long.
const HALF_PHASE_MAX: Duration = Duration::from_secs(20);
/// Codes minted for the probe, per second of it: above what one gateway answers here.
const PROBE_CODES_PER_SEC: f64 = 40_000.0;
/// A pause between phases, for the gateway to finish what the previous one left.
const BETWEEN_PHASES: Duration = Duration::from_secs(3);

/// What the overload showed, against the goals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    /// Verifications per second at saturation (measured by the probe, or given).
    pub saturation_rps: f64,
    pub offered_rps: f64,
    /// 200 answers per second during the overload.
    pub admitted_rps: f64,
    pub admitted_p50_ms: f64,
    pub admitted_p99_ms: f64,
    /// The p99 of the 200 answers at half saturation.
    pub half_load_p99_ms: f64,
    /// Shed (503 `gateway.overloaded`) over requests sent during the overload.
    pub refused_share: f64,
    pub refusal_p50_ms: Option<f64>,
    pub refusal_p99_ms: Option<f64>,
    /// Requests of the overload that failed (not shed, not answered as expected).
    pub admitted_failures: u64,
    /// Refusals came back within [`REFUSAL_GOAL_MS`] (p99); true when nothing was refused.
    pub refusals_fast: bool,
    /// The admitted p99 was within [`ADMITTED_P99_GOAL`] × the half-load p99.
    pub admitted_p99_kept: bool,
}

impl Findings {
    /// The findings of an overload phase, given the half-load phase before it.
    pub fn of(saturation_rps: f64, offered_rps: f64, half: &Summary, over: &Summary) -> Findings {
        let ok = |s: &Summary| {
            s.latency_ms_by_status
                .get("200")
                .copied()
                .unwrap_or_default()
        };
        let refusal = over
            .latency_ms_by_status
            .get("503")
            .filter(|_| over.shed > 0);
        let admitted = ok(over);
        let half_p99 = ok(half).p99;
        let admitted_count = over.by_status.get("200").copied().unwrap_or(0);
        Findings {
            saturation_rps,
            offered_rps,
            admitted_rps: per_sec(admitted_count, over.elapsed_secs),
            admitted_p50_ms: admitted.p50,
            admitted_p99_ms: admitted.p99,
            half_load_p99_ms: half_p99,
            refused_share: if over.requests == 0 {
                0.0
            } else {
                over.shed as f64 / over.requests as f64
            },
            refusal_p50_ms: refusal.map(|p| p.p50),
            refusal_p99_ms: refusal.map(|p| p.p99),
            admitted_failures: over.expectations_failed,
            refusals_fast: refusal.is_none_or(|p| p.p99 < REFUSAL_GOAL_MS),
            admitted_p99_kept: admitted_count > 0 && admitted.p99 <= ADMITTED_P99_GOAL * half_p99,
        }
    }
}

fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// The `overload` command's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverloadReport {
    pub schema: String,
    pub command: String,
    pub target: String,
    /// Whether the gateway was started by the command (with its demo venues' quotas raised).
    pub started: bool,
    pub pinned: bool,
    pub profile: String,
    pub mix: String,
    pub connections: usize,
    pub factor: f64,
    pub machine: Machine,
    /// The closed loop that found saturation (absent when `--saturation` gave it).
    pub probe: Option<Summary>,
    pub half_load: Summary,
    pub overload: Summary,
    pub findings: Findings,
}

/// Checks the flags that clap cannot.
fn check(args: &OverloadArgs) -> Result<()> {
    args.workload.check()?;
    ensure!(args.connections >= 1, "`-c` must be at least 1");
    ensure!(
        args.probe_connections >= 1,
        "`--probe-connections` must be at least 1"
    );
    ensure!(
        args.factor.is_finite() && args.factor > 1.0,
        "`--factor` must be more than 1 (an overload), not `{}`",
        args.factor
    );
    if let Some(s) = args.saturation {
        ensure!(
            s.is_finite() && s > 0.0,
            "`--saturation` must be a rate above 0, not `{s}`"
        );
    }
    ensure!(args.duration > Duration::ZERO, "`-z` must be more than 0");
    ensure!(args.probe > Duration::ZERO, "`--probe` must be more than 0");
    let minted_for = half_phase(args) + BETWEEN_PHASES + args.duration;
    ensure!(
        minted_for.as_secs() <= MAX_PLANNED_SECS,
        "the half-load phase and the overload ({}) run on codes minted before them, which live at most 600 s: `-z` must be at most {}s",
        format_duration(minted_for),
        MAX_PLANNED_SECS - (half_phase(args) + BETWEEN_PHASES).as_secs()
    );
    Ok(())
}

fn half_phase(args: &OverloadArgs) -> Duration {
    args.duration.min(HALF_PHASE_MAX)
}

/// The phases' shared settings.
struct Phases<'a> {
    runtime: tokio::runtime::Runtime,
    target: Arc<Target>,
    scenarios: Vec<String>,
    progress: Progress,
    args: &'a OverloadArgs,
}

impl Phases<'_> {
    fn drive(
        &self,
        label: &str,
        pace: Pace,
        connections: usize,
        z: Duration,
        pool: Arc<[Prepared]>,
    ) -> Summary {
        let drive = Drive {
            label: label.into(),
            pace,
            connections,
            requests: None,
            duration: Some(z),
            timeout: self.args.timeout,
            check: true,
            shedding: true,
            windows: None,
            progress: self.progress,
        };
        let finished = self.runtime.block_on(driver::drive(
            Arc::clone(&self.target),
            Requests::pool(pool),
            self.scenarios.clone(),
            &drive,
        ));
        let summary = finished.recorder.summary(finished.elapsed, finished.stop);
        if summary.stop == Stop::CodesExhausted {
            eprintln!(
                "note: {label}: the codes ran out after {:.1} s of {}",
                summary.elapsed_secs,
                format_duration(z)
            );
        }
        summary
    }
}

/// The `overload` command.
pub fn run(args: &OverloadArgs) -> Result<ExitCode> {
    check(args)?;
    let machine = Machine::describe();
    if args.start.pin {
        procstat::check_pinnable(&machine)?;
    }
    let dir = tempfile::Builder::new()
        .prefix("loadtest-overload-")
        .tempdir()
        .context("creating a temporary folder")?;
    let server = match &args.target {
        Some(url) => Server::running("gateway", url.clone(), 0),
        None => GatewayLaunch {
            bin: servers::gateway_binary(args.start.gateway_bin.as_deref())?,
            pin: args.start.pin,
            log_level: args.start.gateway_log.clone(),
            audit: true,
            store_url: None,
            extra_toml: servers::merge_toml(
                &servers::connection_room_toml(args.connections.max(args.probe_connections)),
                &added_config(args)?,
            )?,
        }
        .start("gateway", &dir.path().join("gateway"))?,
    };
    eprintln!("gateway: {}", server.url);
    let workload = Workload::prepare(&args.workload, args.connections)?;
    let target = Arc::new(Target::new(&server.url, &args.client)?);
    let phases = Phases {
        runtime: run::runtime()?,
        target,
        scenarios: workload.names(),
        progress: Progress::choose(args.output.no_tui),
        args,
    };

    let (saturation, probe) = match args.saturation {
        Some(rate) => (rate, None),
        None => {
            let codes = (PROBE_CODES_PER_SEC * args.probe.as_secs_f64()).ceil() as u64;
            let pool = workload.mint(&workload.plan_part(1, codes), "probe");
            pin_generator(args)?;
            let probe = phases.drive(
                "probe",
                Pace::Closed,
                args.probe_connections,
                args.probe,
                pool,
            );
            let ok = probe.by_status.get("200").copied().unwrap_or(0);
            ensure!(
                ok > 0,
                "the probe got no verification through (answers by status: {:?}); is `--target` a gateway whose venues may use the mix?",
                probe.by_status
            );
            (per_sec(ok, probe.elapsed_secs), Some(probe))
        }
    };
    eprintln!("saturation: {saturation:.0} verifications/s");

    let half_rate = saturation / 2.0;
    let over_rate = saturation * args.factor;
    let half_z = half_phase(args);
    let half_codes = (half_rate * half_z.as_secs_f64()).ceil() as u64;
    let over_codes = (over_rate * args.duration.as_secs_f64()).ceil() as u64;
    let half_pool = workload.mint(&workload.plan_part(2, half_codes), "half load");
    let over_pool = workload.mint(&workload.plan_part(3, over_codes), "overload");
    pin_generator(args)?;
    std::thread::sleep(BETWEEN_PHASES);
    let half = phases.drive(
        "half load",
        Pace::Open { per_sec: half_rate },
        args.connections,
        half_z,
        half_pool,
    );
    std::thread::sleep(BETWEEN_PHASES);
    let over = phases.drive(
        "overload",
        Pace::Open { per_sec: over_rate },
        args.connections,
        args.duration,
        over_pool,
    );
    drop(phases);
    drop(server);

    let failed = probe
        .iter()
        .chain([&half, &over])
        .any(|s| s.expectations_failed > 0);
    let report = OverloadReport {
        schema: SCHEMA.into(),
        command: "overload".into(),
        target: args.target.clone().unwrap_or_else(|| "started".into()),
        started: args.target.is_none(),
        pinned: args.start.pin && args.target.is_none(),
        profile: args.workload.profile.name().into(),
        mix: args.workload.mix.to_string(),
        connections: args.connections,
        factor: args.factor,
        machine,
        findings: Findings::of(saturation, over_rate, &half, &over),
        probe,
        half_load: half,
        overload: over,
    };
    run::emit(&args.output, &report, |r, mut out| text(r, &mut out))?;
    Ok(run::exit_code(failed))
}

/// The text of `--gateway-config`, if given.
fn added_config(args: &OverloadArgs) -> Result<String> {
    match &args.gateway_config {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading `--gateway-config {}`", path.display())),
        None => Ok(String::new()),
    }
}

/// With `--pin` and a started gateway, this generator runs on CPU 1 (after minting, which
/// uses every core).
fn pin_generator(args: &OverloadArgs) -> Result<()> {
    if args.start.pin && args.target.is_none() {
        procstat::pin_self(1)?;
    }
    Ok(())
}

fn verdict(held: bool) -> &'static str {
    if held {
        "met"
    } else {
        "NOT met"
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.1} ms"))
}

/// The text report: each phase, then the findings against the goals.
pub fn text(report: &OverloadReport, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "loadtest overload {}{}",
        report.target,
        if report.pinned {
            " (gateway on CPU 0, generator on CPU 1)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "  load         {} connections, ×{} saturation; profile {}, mix {}",
        report.connections, report.factor, report.profile, report.mix
    )?;
    writeln!(
        out,
        "  machine      {} ({} CPUs)",
        report.machine.cpu_model, report.machine.cpus
    )?;
    let f = &report.findings;
    if let Some(probe) = &report.probe {
        writeln!(
            out,
            "\nprobe (closed loop): saturation {:.0}/s",
            f.saturation_rps
        )?;
        summary_text(probe, out)?;
    }
    writeln!(
        out,
        "\nhalf load (open loop, {:.0}/s)",
        f.saturation_rps / 2.0
    )?;
    summary_text(&report.half_load, out)?;
    writeln!(out, "\noverload (open loop, {:.0}/s)", f.offered_rps)?;
    summary_text(&report.overload, out)?;
    writeln!(out, "\nfindings")?;
    writeln!(
        out,
        "  admitted     {:.0}/s of {:.0}/s offered; p50 {:.1} ms, p99 {:.1} ms (half load p99 {:.1} ms)",
        f.admitted_rps, f.offered_rps, f.admitted_p50_ms, f.admitted_p99_ms, f.half_load_p99_ms
    )?;
    writeln!(
        out,
        "  refused      {:.1} % ({} shed), p50 {}, p99 {}",
        100.0 * f.refused_share,
        thousands(report.overload.shed),
        ms(f.refusal_p50_ms),
        ms(f.refusal_p99_ms)
    )?;
    writeln!(
        out,
        "  failures     {}",
        if f.admitted_failures == 0 {
            "none".to_string()
        } else {
            format!(
                "{} (see the overload's errors)",
                thousands(f.admitted_failures)
            )
        }
    )?;
    writeln!(
        out,
        "  goal         refusals in under {REFUSAL_GOAL_MS} ms (p99): {}",
        verdict(f.refusals_fast)
    )?;
    writeln!(
        out,
        "  goal         admitted p99 at most {ADMITTED_P99_GOAL} × the half-load p99 ({:.1} ms): {}",
        ADMITTED_P99_GOAL * f.half_load_p99_ms,
        verdict(f.admitted_p99_kept)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stats::Percentiles;

    fn summary(requests: u64, ok: u64, shed: u64, ok_p99: f64, shed_p99: f64) -> Summary {
        let p = |p50: f64, p99: f64| Percentiles {
            p50,
            p99,
            ..Percentiles::default()
        };
        let mut by_status = BTreeMap::new();
        let mut latency = BTreeMap::new();
        by_status.insert("200".to_string(), ok);
        latency.insert("200".to_string(), p(ok_p99 / 4.0, ok_p99));
        if shed > 0 {
            by_status.insert("503".to_string(), shed);
            latency.insert("503".to_string(), p(shed_p99 / 4.0, shed_p99));
        }
        let json = serde_json::json!({
            "requests": requests, "answered": ok + shed, "elapsed_secs": 10.0,
            "throughput_rps": 0.0, "latency_ms": Percentiles::default(),
            "by_status": by_status, "latency_ms_by_status": latency,
            "by_verdict": {}, "by_input": {}, "by_scenario": {},
            "errors": { "connect": 0, "timeout": 0, "transport": 0, "unexpected_status": 0,
                        "unexpected_verdict": 0, "unexpected_body": 0 },
            "expectations_checked": requests, "expectations_failed": requests - ok - shed,
            "shed": shed, "mismatches": [], "stop": "duration",
        });
        serde_json::from_value(json).expect("a summary")
    }

    #[test]
    fn the_findings_hold_the_overload_against_the_goals() {
        let half = summary(50_000, 50_000, 0, 20.0, 0.0);
        let good = Findings::of(
            10_000.0,
            20_000.0,
            &half,
            &summary(200_000, 90_000, 110_000, 25.0, 4.0),
        );
        assert_eq!(good.admitted_rps, 9_000.0);
        assert!((good.refused_share - 0.55).abs() < 1e-9);
        assert_eq!(good.refusal_p99_ms, Some(4.0));
        assert!(good.refusals_fast && good.admitted_p99_kept);
        assert_eq!(good.admitted_failures, 0);

        let slow = Findings::of(
            10_000.0,
            20_000.0,
            &half,
            &summary(200_000, 90_000, 109_000, 31.0, 12.0),
        );
        assert!(!slow.refusals_fast, "refusals at 12 ms");
        assert!(!slow.admitted_p99_kept, "31 ms > 1.5 × 20 ms");
        assert_eq!(slow.admitted_failures, 1_000);

        // Nothing shed: no refusal latency, and that goal cannot fail.
        let none = Findings::of(
            10_000.0,
            20_000.0,
            &half,
            &summary(200_000, 200_000, 0, 900.0, 0.0),
        );
        assert_eq!((none.refusal_p50_ms, none.refused_share), (None, 0.0));
        assert!(none.refusals_fast && !none.admitted_p99_kept);
    }

    #[test]
    fn the_text_report_names_each_goal_and_whether_it_was_met() {
        let half = summary(50_000, 50_000, 0, 20.0, 0.0);
        let over = summary(200_000, 90_000, 110_000, 25.0, 4.0);
        let report = OverloadReport {
            schema: SCHEMA.into(),
            command: "overload".into(),
            target: "started".into(),
            started: true,
            pinned: true,
            profile: "hmac".into(),
            mix: "park-entry-senior:100".into(),
            connections: 1000,
            factor: 2.0,
            machine: Machine {
                cpus: 2,
                cpu_model: "test CPU".into(),
            },
            probe: None,
            findings: Findings::of(10_000.0, 20_000.0, &half, &over),
            half_load: half,
            overload: over,
        };
        let mut out = Vec::new();
        text(&report, &mut out).expect("written");
        let text = String::from_utf8(out).expect("UTF-8");
        assert!(
            text.contains("refused      55.0 % (110,000 shed), p50 1.0 ms, p99 4.0 ms"),
            "{text}"
        );
        assert!(
            text.contains("refusals in under 10 ms (p99): met"),
            "{text}"
        );
        assert!(text.contains("half-load p99 (30.0 ms): met"), "{text}");
    }

    #[test]
    fn an_overload_that_outlives_its_codes_or_is_no_overload_is_refused() {
        use clap::Parser as _;
        let parse = |extra: &[&str]| {
            let mut all = vec!["loadtest", "overload"];
            all.extend_from_slice(extra);
            match crate::cli::Cli::try_parse_from(all)
                .expect("parses")
                .command
            {
                Some(crate::cli::Command::Overload(args)) => check(&args),
                _ => panic!("overload"),
            }
        };
        assert!(parse(&[]).is_ok());
        let long = parse(&["-z", "9m"]).expect_err("too long").to_string();
        assert!(long.contains("`-z` must be at most 517s"), "{long}");
        let under = parse(&["--factor", "0.5"])
            .expect_err("no overload")
            .to_string();
        assert!(under.contains("`--factor`"), "{under}");
        assert!(parse(&["--saturation", "0"]).is_err());
    }
}
