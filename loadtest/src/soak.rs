//! `loadtest soak`: a steady open-loop load for a long time (`-z`, 30 minutes by default),
//! with codes minted as the run goes ([`crate::feed::Minting`]), so a soak may last hours.
//! Every `--every` (10 s) the gateway is sampled: its resident memory (`VmRSS`), the sockets it
//! holds, and the latency of the window just ended. At the end: the samples as a chart in the
//! terminal and in an SVG file (`--svg`), the whole run's summary, and a verdict on memory.
//!
//! **The memory rule.** Caches fill first (the record cache with the holders' records, the
//! replay guard with each code's nonce for as long as the code lives, up to 600 s), so only the
//! samples from `--settle` (11 min) on are fitted: a least-squares line of RSS over time. Memory
//! is *flat* when that slope, carried over 24 hours, adds less than [`FLAT_SHARE_PER_DAY`] of the
//! fitted samples' mean RSS; otherwise it is *growing* and the command fails (exit code 1), as
//! it does when any request fails. With fewer than [`MIN_FITTED`] samples after `--settle`
//! there is no verdict.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::cli::{format_duration, Pace, SoakArgs};
use crate::driver::{self, Drive, LatencyWindow, Progress, Target, Windows};
use crate::feed::{Minting, Requests};
use crate::procstat::{self, Machine};
use crate::report::{summary_text, SCHEMA};
use crate::run::{self, Workload};
use crate::servers::{self, GatewayLaunch, Server};
use crate::stats::{least_squares, Summary};

/// Growth over a day, as a share of the mean RSS, below which memory is flat.
pub const FLAT_SHARE_PER_DAY: f64 = 0.10;
/// Samples after `--settle` needed for a verdict.
pub const MIN_FITTED: usize = 3;
/// Each part of codes minted as the run goes covers this much of it.
const PART: Duration = Duration::from_secs(20);
/// Rows and columns of the terminal chart.
const CHART_ROWS: usize = 10;
const CHART_COLUMNS: usize = 72;

/// One look at the gateway, at the end of a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoakSample {
    /// From the start of the run.
    pub secs: f64,
    pub rss_bytes: u64,
    pub sockets: usize,
    /// Requests of the window, and those that failed.
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The verdict on memory (the rule is in the module's documentation and in `rule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryVerdict {
    pub rule: String,
    pub fitted_from_secs: f64,
    pub samples_fitted: usize,
    /// RSS growth of the fitted line, bytes per hour.
    pub slope_bytes_per_hour: Option<f64>,
    pub mean_rss_bytes: Option<f64>,
    /// The slope over 24 h as a share of the mean RSS.
    pub growth_per_day_share: Option<f64>,
    /// `None`: too few samples after `--settle`.
    pub flat: Option<bool>,
}

/// Applies the memory rule to the samples taken from `settle` on.
pub fn memory_verdict(samples: &[SoakSample], settle: Duration) -> MemoryVerdict {
    let from = settle.as_secs_f64();
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.secs >= from)
        .map(|s| (s.secs, s.rss_bytes as f64))
        .collect();
    let rule = format!(
        "least-squares line of RSS over the samples from {} on; flat when its growth over 24 h is below {:.0} % of their mean RSS (at least {MIN_FITTED} samples)",
        format_duration(settle),
        100.0 * FLAT_SHARE_PER_DAY
    );
    let fit = (points.len() >= MIN_FITTED)
        .then(|| least_squares(&points))
        .flatten();
    let mean =
        (!points.is_empty()).then(|| points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64);
    let per_hour = fit.map(|(slope, _)| slope * 3600.0);
    let share = per_hour.zip(mean).map(|(h, m)| h * 24.0 / m);
    MemoryVerdict {
        rule,
        fitted_from_secs: from,
        samples_fitted: points.len(),
        slope_bytes_per_hour: per_hour,
        mean_rss_bytes: mean,
        growth_per_day_share: share,
        flat: share.map(|s| s < FLAT_SHARE_PER_DAY),
    }
}

/// The `soak` command's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakReport {
    pub schema: String,
    pub command: String,
    pub target: String,
    pub started: bool,
    pub rate_per_sec: f64,
    pub connections: usize,
    pub planned_secs: f64,
    pub every_secs: f64,
    pub profile: String,
    pub mix: String,
    pub machine: Machine,
    /// The whole run (absent when it was interrupted).
    pub summary: Option<Summary>,
    pub samples: Vec<SoakSample>,
    pub memory: MemoryVerdict,
    /// Where the chart was written.
    pub svg: String,
}

fn check(args: &SoakArgs) -> Result<()> {
    args.workload.check()?;
    ensure!(args.connections >= 1, "`-c` must be at least 1");
    ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "`-q` must be a rate above 0, not `{}`",
        args.rate
    );
    ensure!(args.duration > Duration::ZERO, "`-z` must be more than 0");
    ensure!(
        args.every > Duration::ZERO && args.every <= args.duration,
        "`--every {}` must be more than 0 and at most `-z {}`",
        format_duration(args.every),
        format_duration(args.duration)
    );
    Ok(())
}

/// The `soak` command.
pub fn run(args: &SoakArgs) -> Result<ExitCode> {
    check(args)?;
    if args.settle >= args.duration {
        eprintln!(
            "note: `--settle {}` is not shorter than `-z {}`: no memory verdict (the caches fill for the first {} of a run)",
            format_duration(args.settle),
            format_duration(args.duration),
            format_duration(args.settle)
        );
    }
    let machine = Machine::describe();
    if args.start.pin {
        procstat::check_pinnable(&machine)?;
    }
    let dir = tempfile::Builder::new()
        .prefix("loadtest-soak-")
        .tempdir()
        .context("creating a temporary folder")?;
    let server = match (&args.target, args.target_pid) {
        (Some(url), Some(pid)) => {
            procstat::rss_bytes(pid)
                .with_context(|| format!("`--target-pid {pid}`: no such process"))?;
            Server::running("gateway", url.clone(), pid)
        }
        _ => GatewayLaunch {
            bin: servers::gateway_binary(args.start.gateway_bin.as_deref())?,
            pin: args.start.pin,
            log_level: args.start.gateway_log.clone(),
            audit: true,
            store_url: None,
            extra_toml: servers::connection_room_toml(args.connections),
        }
        .start("gateway", &dir.path().join("gateway"))?,
    };
    eprintln!("gateway: {} (pid {})", server.url, server.pid);
    let target = Arc::new(Target::new(&server.url, &args.client)?);
    let workload = Arc::new(Workload::prepare(&args.workload, args.connections)?);
    let scenarios = workload.names();
    let part = (args.rate * PART.as_secs_f64()).ceil() as u64;
    let minting = Minting::start(part, move |n| {
        workload.mint_part(&workload.plan_part(n, part))
    });
    if args.start.pin && server.started() {
        procstat::pin_self(1)?;
    }
    let (to, windows) = mpsc::unbounded_channel();
    let progress = Progress::choose(args.output.no_tui);
    let drive = Drive {
        label: "soak".into(),
        pace: Pace::Open { per_sec: args.rate },
        connections: args.connections,
        requests: None,
        duration: Some(args.duration),
        timeout: args.timeout,
        check: true,
        shedding: false,
        windows: Some(Windows {
            every: args.every,
            to,
        }),
        progress,
    };
    let runtime = run::runtime()?;
    let sampler = runtime.spawn(sample(windows, server.pid, progress));
    let finished = runtime.block_on(async {
        tokio::select! {
            finished = driver::drive(target, Requests::Minted(Arc::clone(&minting)), scenarios, &drive) => Some(finished),
            () = run::terminated() => None,
        }
    });
    minting.end();
    // The driver is done (or dropped): its window sender is gone, so the sampler ends.
    drop(drive);
    let samples = runtime.block_on(sampler).context("the sampler stopped")?;
    drop(server);
    let summary = finished.map(|f| f.recorder.summary(f.elapsed, f.stop));
    if summary.is_none() {
        eprintln!("interrupted: the report covers the samples taken so far");
    }
    let memory = memory_verdict(&samples, args.settle);
    write_svg(&args.svg, &samples, &memory)
        .with_context(|| format!("writing the chart to `{}`", args.svg.display()))?;
    let report = SoakReport {
        schema: SCHEMA.into(),
        command: "soak".into(),
        target: args.target.clone().unwrap_or_else(|| "started".into()),
        started: args.target.is_none(),
        rate_per_sec: args.rate,
        connections: args.connections,
        planned_secs: args.duration.as_secs_f64(),
        every_secs: args.every.as_secs_f64(),
        profile: args.workload.profile.name().into(),
        mix: args.workload.mix.to_string(),
        machine,
        summary,
        samples,
        memory,
        svg: args.svg.display().to_string(),
    };
    run::emit(&args.output, &report, |r, mut out| text(r, &mut out))?;
    let failed = report
        .summary
        .as_ref()
        .is_none_or(|s| s.expectations_failed > 0)
        || report.memory.flat == Some(false);
    Ok(match report.summary {
        None => ExitCode::from(130),
        Some(_) => run::exit_code(failed),
    })
}

/// Takes a sample of the gateway at the end of each window, until the windows end.
async fn sample(
    mut windows: mpsc::UnboundedReceiver<LatencyWindow>,
    pid: u32,
    progress: Progress,
) -> Vec<SoakSample> {
    let mut samples = Vec::new();
    while let Some(window) = windows.recv().await {
        let (Ok(rss_bytes), Ok(sockets)) = (procstat::rss_bytes(pid), procstat::sockets(pid))
        else {
            eprintln!("\nnote: the gateway (pid {pid}) is gone: no more samples");
            break;
        };
        let s = SoakSample {
            secs: window.ended.as_secs_f64(),
            rss_bytes,
            sockets,
            requests: window.requests,
            errors: window.errors,
            p50_ms: window.p50_ms,
            p99_ms: window.p99_ms,
        };
        if progress != Progress::Off {
            // A line of its own; on a terminal over the progress line (redrawn within the second).
            let over_progress = if progress == Progress::Live {
                "\r\x1b[K"
            } else {
                ""
            };
            eprintln!(
                "{over_progress}sample {:>7.0}s  RSS {:>8.1} MB  sockets {:>5}  {:>7} requests  p50 {:.2} ms  p99 {:.2} ms  errors {}",
                s.secs,
                mb(s.rss_bytes as f64),
                s.sockets,
                s.requests,
                s.p50_ms,
                s.p99_ms,
                s.errors
            );
        }
        samples.push(s);
    }
    samples
}

fn mb(bytes: f64) -> f64 {
    bytes / 1_000_000.0
}

/// A chart of `values` (one column each, resampled to fit) as rows of text, the largest value
/// at the top: `█` where a column reaches the row.
pub fn terminal_chart(values: &[f64], rows: usize, columns: usize) -> Vec<String> {
    if values.is_empty() || rows == 0 || columns == 0 {
        return Vec::new();
    }
    let width = values.len().min(columns);
    let column = |c: usize| {
        // The mean of the values that fall into column `c`.
        let from = c * values.len() / width;
        let to = ((c + 1) * values.len() / width).max(from + 1);
        values[from..to].iter().sum::<f64>() / (to - from) as f64
    };
    let columns: Vec<f64> = (0..width).map(column).collect();
    let low = columns.iter().copied().fold(f64::INFINITY, f64::min);
    let high = columns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = (high - low).max(f64::EPSILON);
    (0..rows)
        .map(|r| {
            // Row `r` (0 at the top) is reached by a column at or above this share of the span.
            let level = (rows - r) as f64 / rows as f64;
            columns
                .iter()
                .map(|&v| {
                    let share = (v - low) / span;
                    if share >= level - 1.0 / rows as f64 + f64::EPSILON || r + 1 == rows {
                        '█'
                    } else {
                        ' '
                    }
                })
                .collect()
        })
        .collect()
}

/// Writes the chart: RSS (MB) and p99 (ms) over the run, the fitted line, the settle mark.
pub fn write_svg(path: &Path, samples: &[SoakSample], memory: &MemoryVerdict) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(360);
    let end = samples.last().map_or(1.0, |s| s.secs).max(1.0);
    let rss: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.secs, mb(s.rss_bytes as f64)))
        .collect();
    let (low, high) = bounds(rss.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(&top)
        .caption("gateway RSS (MB)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, low..high)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    chart.draw_series(LineSeries::new(rss.iter().copied(), &BLUE))?;
    if let (Some(per_hour), Some(mean)) = (memory.slope_bytes_per_hour, memory.mean_rss_bytes) {
        // The fitted line through the fitted samples' mean at their mean time.
        let fitted: Vec<f64> = samples
            .iter()
            .filter(|s| s.secs >= memory.fitted_from_secs)
            .map(|s| s.secs)
            .collect();
        let mid = fitted.iter().sum::<f64>() / fitted.len().max(1) as f64;
        let at = |t: f64| mb(mean + per_hour / 3600.0 * (t - mid));
        chart.draw_series(LineSeries::new(
            [memory.fitted_from_secs, end].map(|t| (t, at(t))),
            &RED,
        ))?;
    }
    let p99: Vec<(f64, f64)> = samples.iter().map(|s| (s.secs, s.p99_ms)).collect();
    let (_, p99_high) = bounds(p99.iter().map(|p| p.1));
    let mut latency = ChartBuilder::on(&bottom)
        .caption("p99 latency per window (ms)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..p99_high)?;
    latency.configure_mesh().x_desc("seconds").draw()?;
    latency.draw_series(LineSeries::new(p99.iter().copied(), &BLACK))?;
    root.present()?;
    Ok(())
}

/// A range that holds every value, with a margin (and some height when all are equal).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    let margin = ((high - low) * 0.1).max(high.abs() * 0.01).max(0.5);
    ((low - margin).max(0.0), high + margin)
}

/// The text report: the summary, the charts, the memory verdict.
pub fn text(report: &SoakReport, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "loadtest soak {}: {:.0}/s over {} connections for {}, sampled every {}",
        report.target,
        report.rate_per_sec,
        report.connections,
        format_duration(Duration::from_secs_f64(report.planned_secs)),
        format_duration(Duration::from_secs_f64(report.every_secs))
    )?;
    writeln!(
        out,
        "  machine      {} ({} CPUs); profile {}, mix {}",
        report.machine.cpu_model, report.machine.cpus, report.profile, report.mix
    )?;
    match &report.summary {
        Some(summary) => summary_text(summary, out)?,
        None => writeln!(out, "  interrupted: no summary of the requests")?,
    }
    let rss: Vec<f64> = report
        .samples
        .iter()
        .map(|s| mb(s.rss_bytes as f64))
        .collect();
    let p99: Vec<f64> = report.samples.iter().map(|s| s.p99_ms).collect();
    let sockets: Vec<f64> = report.samples.iter().map(|s| s.sockets as f64).collect();
    for (title, values, unit) in [
        ("RSS", &rss, "MB"),
        ("p99 per window", &p99, "ms"),
        ("sockets", &sockets, ""),
    ] {
        let (low, high) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        if values.is_empty() {
            continue;
        }
        writeln!(
            out,
            "\n  {title}: {low:.1}–{high:.1} {unit}, {} samples",
            values.len()
        )?;
        for row in terminal_chart(values, CHART_ROWS, CHART_COLUMNS) {
            writeln!(out, "  │{row}")?;
        }
        writeln!(out, "  └{}", "─".repeat(values.len().min(CHART_COLUMNS)))?;
    }
    let m = &report.memory;
    writeln!(out, "\n  memory       {}", m.rule)?;
    match (m.flat, m.slope_bytes_per_hour, m.growth_per_day_share) {
        (Some(flat), Some(per_hour), Some(share)) => writeln!(
            out,
            "  verdict      {}: {:+.2} MB/h over {} samples ({:+.1} % of {:.1} MB a day)",
            if flat { "flat" } else { "GROWING" },
            mb(per_hour),
            m.samples_fitted,
            100.0 * share,
            mb(m.mean_rss_bytes.unwrap_or_default())
        )?,
        _ => writeln!(
            out,
            "  verdict      none: {} samples after the caches filled, {MIN_FITTED} needed (run longer than `--settle`)",
            m.samples_fitted
        )?,
    }
    writeln!(out, "  chart        {}", report.svg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64, mb: f64) -> SoakSample {
        SoakSample {
            secs,
            rss_bytes: (mb * 1_000_000.0) as u64,
            sockets: 70,
            requests: 10_000,
            errors: 0,
            p50_ms: 1.0,
            p99_ms: 4.0,
        }
    }

    #[test]
    fn memory_that_levels_off_after_the_caches_fill_is_flat_and_a_leak_is_not() {
        let settle = Duration::from_secs(600);
        // Fills for ten minutes, then wanders by ±0.2 MB around 200 MB.
        let filling_then_flat: Vec<SoakSample> = (0..180)
            .map(|i| {
                let secs = 10.0 * f64::from(i);
                let mb = if secs < 600.0 {
                    100.0 + secs / 6.0
                } else {
                    200.0 + 0.2 * (f64::from(i) * 1.7).sin()
                };
                at(secs, mb)
            })
            .collect();
        let verdict = memory_verdict(&filling_then_flat, settle);
        assert_eq!(verdict.flat, Some(true), "{verdict:?}");
        assert_eq!(verdict.samples_fitted, 120);

        // 2 MB a minute after the caches fill: 2.9 GB a day on 200 MB.
        let leaking: Vec<SoakSample> = (0..180)
            .map(|i| {
                let secs = 10.0 * f64::from(i);
                at(secs, 200.0 + secs / 30.0)
            })
            .collect();
        let verdict = memory_verdict(&leaking, settle);
        assert_eq!(verdict.flat, Some(false));
        let per_hour = verdict.slope_bytes_per_hour.expect("fitted");
        assert!((per_hour - 120e6).abs() < 1e3, "{per_hour}");

        let short = memory_verdict(&leaking[..62], settle);
        assert_eq!((short.flat, short.samples_fitted), (None, 2));
    }

    #[test]
    fn the_terminal_chart_has_a_column_per_sample_and_the_peak_reaches_the_top() {
        let rows = terminal_chart(&[1.0, 2.0, 3.0, 4.0], 4, 80);
        assert_eq!(rows, ["   █", "  ██", " ███", "████"]);
        // More samples than columns: averaged into the columns there are.
        let wide = terminal_chart(&(0..200).map(f64::from).collect::<Vec<_>>(), 5, 50);
        assert!(wide.iter().all(|r| r.chars().count() == 50));
        assert!(terminal_chart(&[], 4, 80).is_empty());
        let level = terminal_chart(&[5.0, 5.0], 3, 80);
        assert_eq!(
            level.last().map(String::as_str),
            Some("██"),
            "flat data still shows"
        );
    }

    #[test]
    fn the_chart_is_written_as_svg() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("soak.svg");
        let samples: Vec<SoakSample> = (0..30).map(|i| at(10.0 * f64::from(i), 150.0)).collect();
        write_svg(
            &path,
            &samples,
            &memory_verdict(&samples, Duration::from_secs(60)),
        )
        .expect("written");
        let svg = std::fs::read_to_string(&path).expect("read");
        assert!(
            svg.starts_with("<svg")
                && svg.contains("gateway RSS (MB)")
                && svg.contains("<polyline"),
            "{}",
            &svg[..svg.len().min(400)]
        );
    }
}
