//! The command line: flags users of oha and wrk already know (`-c -n -z -q`, `--json`), the
//! workload's own (`--population --zipf --mix --profile --bad`), and their validation into a
//! [`LoadPlan`]. Every refusal here is a usage error (exit code 2) in cargo's style: lower
//! case, values in backticks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use clap::{Args, Parser, Subcommand};
use wire::code::Profile;

use crate::workload::Mix;

/// Codes live at most 600 s (`codes.max_lifetime_secs`), and every code is minted before the
/// run starts: a run planned to take longer would end on expired codes.
pub const MAX_PLANNED_SECS: u64 = 540;

/// Requests of a run given neither `-n` nor `-z` (oha's default).
pub const DEFAULT_REQUESTS: u64 = 200;

/// The rate of the default command without `-q` or `--closed`: requests arrive as a province's
/// venues send them, whatever the gateway's pace.
pub const DEFAULT_RATE: f64 = 1000.0;

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    version,
    about = "Load generator for the Mianzheng gateway, a bare baseline server, and a comparison of the two",
    long_about = "Load generator for the Mianzheng gateway.\n\n\
                  Without a command it drives `POST /v1/verify` at `--target` with freshly minted \
                  codes for a synthetic population (every code works once, so all of them are \
                  minted before the run starts) and checks every answer against what the request \
                  expects.\n\n\
                  Exit codes: 0 the run completed and every expectation held; 1 an expectation \
                  failed; 2 a usage or setup error.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A bare hyper server (HTTP/1.1 and h2c) answering every request with a body the size of
    /// a verify response: the ceiling of the HTTP layer on this machine.
    Baseline(BaselineArgs),
    /// Drive the same load at the baseline and at the gateway in one run; report both, the
    /// servers' CPU time per request from /proc, and the ratios.
    Compare(Box<CompareArgs>),
    /// Find the gateway's saturation (closed loop), measure it at half that (open loop), then
    /// offer it `--factor` times that for `-z`: how much it refuses, how fast, and how the
    /// admitted requests fare.
    Overload(Box<OverloadArgs>),
    /// A steady open-loop load for `-z` (30 minutes by default; codes minted as it goes), the
    /// gateway's memory, sockets and latency sampled every `--every`, a chart in the terminal
    /// and in an SVG file, and a verdict on the memory's slope once the caches are full.
    Soak(Box<SoakArgs>),
    /// Fill the gateway's record cache to `--entries` records through the real fetch path
    /// (every department an `issuer` process) and report the gateway's memory per cached
    /// record: the slope of its RSS over the entries, against the goal of 300 bytes.
    Memory(Box<MemoryArgs>),
}

/// What to send, how, and where the report goes: the same for `run` and `compare`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The default command: load one target.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of the gateway's public API, e.g. `http://127.0.0.1:8080`.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Closed loop: each connection sends its next request as soon as the previous one is
    /// answered (the gateway sets the pace) [default: open loop at `-q`, 1000 requests/s].
    #[arg(long, conflicts_with = "rate")]
    pub closed: bool,
    #[command(flatten)]
    pub venues: VenueArgs,
    #[command(flatten)]
    pub measure: MeasureArgs,
}

impl RunArgs {
    /// The run's shape: open loop at `-q` (default [`DEFAULT_RATE`]) unless `--closed`.
    pub fn plan(&self) -> Result<LoadPlan> {
        let unpaced = if self.closed {
            Pace::Closed
        } else {
            Pace::Open {
                per_sec: DEFAULT_RATE,
            }
        };
        self.measure.load.plan_with(unpaced)
    }
}

/// The venues a run presents its codes at.
#[derive(Debug, Clone, Args)]
pub struct VenueArgs {
    /// Register this many venues per scenario of the mix through the gateway's admin API
    /// (role `venue-admin`), spread the requests over them, and delete them afterwards
    /// [default: 0: each scenario's demo venue].
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub venues: usize,
    /// The quota (`rate_per_sec`) of each registered venue.
    #[arg(long, value_name = "PER_SEC", default_value_t = 1000)]
    pub venue_rate: u32,
    /// The gateway's admin listener, for `--venues`.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9090")]
    pub admin: String,
    /// An operator token for `--venues` [default: the demo operator's token].
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MIANZHENG_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// A running gateway to compare instead of starting one (needs `--target-pid`).
    #[arg(long, value_name = "URL", requires = "target_pid")]
    pub target: Option<String>,
    /// The process id of the gateway at `--target`, whose CPU time is read from /proc.
    #[arg(long, value_name = "PID", requires = "target")]
    pub target_pid: Option<u32>,
    #[command(flatten)]
    pub start: StartArgs,
    /// Warm up first over the same holders (other codes), so the measured phase takes the
    /// record-cache-hit path; without it the measured phase starts cold.
    #[arg(long)]
    pub warm: bool,
    /// The started gateway's audit trail: `on` (what users run: every verification's entry
    /// committed before the answer), `off` (`audit.enabled = false`, a measurement switch), or
    /// `both`: a gateway with it on, then a fresh one with it off, under the same load, and
    /// what the trail costs (on ÷ off).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = AuditMode::On)]
    pub audit: AuditMode,
    /// The started gateway's store (`store.url`), a PostgreSQL URL: each gateway gets a fresh
    /// schema, dropped afterwards, and the CPU time of the server's backends serving it counts
    /// as store CPU [default: SQLite in a temporary folder, inside the gateway's process].
    #[arg(long, value_name = "URL", conflicts_with = "target")]
    pub store: Option<String>,
    #[command(flatten)]
    pub measure: MeasureArgs,
}

/// How a command starts the gateway it measures (unless given a running one with `--target`).
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// The gateway binary to start [default: `gateway` next to this executable].
    #[arg(long, value_name = "PATH", conflicts_with = "target")]
    pub gateway_bin: Option<PathBuf>,
    /// `MIANZHENG_LOG` of the started gateway (its log goes to a file in a temporary folder).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub gateway_log: String,
    /// Pin the servers to CPU 0 (`taskset -c 0`) and this generator to CPU 1.
    #[arg(long)]
    pub pin: bool,
}

/// `loadtest overload`: find where the gateway saturates, then offer it twice that.
#[derive(Debug, Args)]
pub struct OverloadArgs {
    /// A running gateway to overload instead of starting one (its venues' quotas must exceed
    /// the load, or 429s count as failures).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    #[command(flatten)]
    pub start: StartArgs,
    /// How long the closed loop that finds saturation runs.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub probe: Duration,
    /// Connections of the closed loop that finds saturation.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub probe_connections: usize,
    /// A TOML file merged over the started gateway's configuration, key by key — to overload
    /// it with other settings, e.g. `[limits] verify_queue_delay_ms = 0`.
    #[arg(long, value_name = "FILE", conflicts_with = "target")]
    pub gateway_config: Option<PathBuf>,
    /// Saturation in verifications per second, instead of finding it.
    #[arg(long, value_name = "PER_SEC")]
    pub saturation: Option<f64>,
    /// The overload as a multiple of saturation.
    #[arg(long, value_name = "X", default_value_t = 2.0)]
    pub factor: f64,
    /// How long the overload lasts (and the half-saturation phase before it, at most 20 s).
    #[arg(short = 'z', long = "duration", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Connections of the open-loop phases: enough that requests never wait for one.
    #[arg(
        short = 'c',
        long = "connections",
        value_name = "N",
        default_value_t = 1000
    )]
    pub connections: usize,
    /// Give up on a request after this long (a failure if it was not refused).
    #[arg(short = 't', long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `loadtest soak`: a steady load for a long time, with the gateway's memory, sockets and
/// latency sampled as it goes.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// A running gateway to soak instead of starting one (needs `--target-pid`).
    #[arg(long, value_name = "URL", requires = "target_pid")]
    pub target: Option<String>,
    /// The process id of the gateway at `--target`, whose memory and sockets are sampled.
    #[arg(long, value_name = "PID", requires = "target")]
    pub target_pid: Option<u32>,
    #[command(flatten)]
    pub start: StartArgs,
    /// How long the soak runs (codes are minted as it goes: any length).
    #[arg(short = 'z', long = "duration", value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Open loop at this many requests per second.
    #[arg(
        short = 'q',
        long = "rate",
        value_name = "PER_SEC",
        default_value_t = 1000.0
    )]
    pub rate: f64,
    /// Connections.
    #[arg(
        short = 'c',
        long = "connections",
        value_name = "N",
        default_value_t = 64
    )]
    pub connections: usize,
    /// Give up on a request after this long.
    #[arg(short = 't', long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Sample the gateway this often.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub every: Duration,
    /// The memory verdict fits the samples after this much of the run: by then the caches are
    /// full (the replay guard keeps each nonce as long as its code lives, 600 s at most).
    #[arg(long, value_name = "DURATION", default_value = "11m", value_parser = parse_duration)]
    pub settle: Duration,
    /// Where the chart goes (SVG).
    #[arg(long, value_name = "FILE", default_value = "soak.svg")]
    pub svg: PathBuf,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `loadtest memory`: what one cached department record costs the gateway in memory.
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// Records to fill the gateway's record cache with (its `fetch.cache_capacity`).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub entries: u64,
    /// Points at which the gateway's RSS is read as the cache fills, evenly spaced in entries
    /// (besides one at the start): bytes per entry is the slope of the least-squares line
    /// through them.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub steps: u64,
    /// The scenario verified: each verification caches one record per requirement.
    #[arg(long, value_name = "SCENARIO", default_value = "park-entry-senior")]
    pub scenario: String,
    /// How the codes are protected: eddsa, es256, es384, sm2 or hmac (if the scenario allows).
    #[arg(long, value_name = "PROFILE", default_value = "hmac")]
    pub profile: Profile,
    /// Connections (closed loop: each sends its next verification when one is answered).
    #[arg(
        short = 'c',
        long = "connections",
        value_name = "N",
        default_value_t = 32
    )]
    pub connections: usize,
    /// Give up on a verification after this long.
    #[arg(short = 't', long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The gateway binary [default: `gateway` next to this executable].
    #[arg(long, value_name = "PATH")]
    pub gateway_bin: Option<PathBuf>,
    /// The department backend binary [default: `issuer` next to this executable].
    #[arg(long, value_name = "PATH")]
    pub issuer_bin: Option<PathBuf>,
    /// `MIANZHENG_LOG` of the gateway (its log goes to a file in a temporary folder).
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub gateway_log: String,
    /// Pin the gateway to CPU 0 (`taskset -c 0`), this generator and the issuer to CPU 1.
    #[arg(long)]
    pub pin: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Which gateways `compare` starts: with the audit trail on, off, or one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditMode {
    On,
    Off,
    Both,
}

impl AuditMode {
    /// The gateways to start, in order, by their `audit.enabled`.
    pub fn gateways(self) -> &'static [bool] {
        match self {
            AuditMode::On => &[true],
            AuditMode::Off => &[false],
            AuditMode::Both => &[true, false],
        }
    }

    /// The flag's value, as the reports name it.
    pub fn name(self) -> &'static str {
        match self {
            AuditMode::On => "on",
            AuditMode::Off => "off",
            AuditMode::Both => "both",
        }
    }
}

/// How much load, of what kind.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Connections (one request in flight on each).
    #[arg(
        short = 'c',
        long = "connections",
        value_name = "N",
        default_value_t = 50
    )]
    pub connections: usize,
    /// Requests to send [default: 200 when `-z` is not given either].
    #[arg(short = 'n', long = "requests", value_name = "N")]
    pub requests: Option<u64>,
    /// Run for this long, e.g. `10s`, `500ms`, `2m`.
    #[arg(short = 'z', long = "duration", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Open loop at this many requests per second (latency from the intended send time)
    /// [default: 1000 for a run unless `--closed`; `compare` runs closed loop without it].
    #[arg(short = 'q', long = "rate", value_name = "PER_SEC")]
    pub rate: Option<f64>,
    /// Codes minted ahead for a closed-loop run with `-z` (the run stops when they run out).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_requests: u64,
    /// Give up on a request after this long.
    #[arg(short = 't', long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// What the requests are: scenarios, holders, code profile, bad inputs and replays.
#[derive(Debug, Clone, Args)]
pub struct WorkloadArgs {
    /// Holders per scenario, chosen Zipf-skewed (the most popular first).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub population: usize,
    /// Zipf exponent of the holder choice (0 = uniform).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub zipf: f64,
    /// Scenarios and their weights, `scenario:weight,...`.
    #[arg(long, value_name = "MIX", default_value = "park-entry-senior:100")]
    pub mix: Mix,
    /// How the codes are protected: eddsa, es256, es384, sm2 or hmac.
    #[arg(long, value_name = "PROFILE", default_value = "eddsa")]
    pub profile: Profile,
    /// Share of bad inputs, split evenly across tampered codes, expired codes and unknown venues.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub bad: f64,
    /// Share of requests that present again the code of an earlier request, already answered:
    /// each must be refused with 409 `code.replayed`.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub replay: f64,
    /// Seed of the request plan (scenario, holder and bad-input choice).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Seed of the synthetic population; must match the gateway's `departments.population_seed`.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub population_seed: u64,
}

/// How to talk to the target.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// HTTP/2 (ALPN over TLS, prior knowledge over plain HTTP) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Accept any server certificate (HTTPS targets).
    #[arg(long, conflicts_with = "cacert")]
    pub insecure: bool,
    /// Trust the certificates in this PEM file (HTTPS targets), e.g. the gateway's self-signed one.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
}

/// Where the report goes.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print the report as JSON (schema `mianzheng-loadtest/1`) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the report to this file instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A plain progress line per second instead of one line updated in place.
    #[arg(long)]
    pub no_tui: bool,
}

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each connection sends its next request as soon as the previous one is answered.
    Closed,
    /// Request `i` is due at `start + i / per_sec`; latency is measured from that instant.
    Open { per_sec: f64 },
}

/// The validated shape of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub pace: Pace,
    pub connections: usize,
    /// Stop after this many requests...
    pub requests: Option<u64>,
    /// ...or after this long, whichever comes first.
    pub duration: Option<Duration>,
    /// Codes to mint ahead: every request needs its own.
    pub codes: u64,
    pub timeout: Duration,
}

impl LoadArgs {
    /// Checks the flags and works out how many codes to mint; without `-q`, closed loop.
    pub fn plan(&self) -> Result<LoadPlan> {
        self.plan_with(Pace::Closed)
    }

    /// The same, with `unpaced` as the pace when `-q` is not given.
    pub fn plan_with(&self, unpaced: Pace) -> Result<LoadPlan> {
        ensure!(self.connections >= 1, "`-c` must be at least 1");
        self.workload.check()?;
        ensure!(
            self.timeout > Duration::ZERO,
            "`--timeout` must be more than 0"
        );
        if let Some(n) = self.requests {
            ensure!(n >= 1, "`-n` must be at least 1");
        }
        if let Some(z) = self.duration {
            ensure!(z > Duration::ZERO, "`-z` must be more than 0");
            ensure!(
                z.as_secs() <= MAX_PLANNED_SECS,
                "`-z {}` is longer than codes live: every code is minted before the run and lives at most 600 s, so `-z` must be at most {MAX_PLANNED_SECS}s",
                format_duration(z)
            );
        }
        let pace = match self.rate {
            None => unpaced,
            Some(q) if q.is_finite() && q > 0.0 => Pace::Open { per_sec: q },
            Some(q) => bail!("`-q` must be a rate above 0, not `{q}`"),
        };
        let requests = match (self.requests, self.duration) {
            (None, None) => Some(DEFAULT_REQUESTS),
            (n, _) => n,
        };
        let by_time = match (pace, self.duration) {
            (_, None) => None,
            (Pace::Open { per_sec }, Some(z)) => Some((per_sec * z.as_secs_f64()).ceil() as u64),
            (Pace::Closed, Some(_)) => Some(self.max_requests),
        };
        let codes = match (requests, by_time) {
            (Some(n), Some(t)) => n.min(t),
            (Some(n), None) => n,
            (None, Some(t)) => t,
            (None, None) => DEFAULT_REQUESTS,
        };
        ensure!(
            codes >= 1,
            "the run would send no request (`--max-requests` is 0?)"
        );
        if let (Pace::Open { per_sec }, Some(n), None) = (pace, requests, self.duration) {
            ensure!(
                n as f64 / per_sec <= MAX_PLANNED_SECS as f64,
                "`-n {n}` at `-q {per_sec}` takes longer than codes live ({MAX_PLANNED_SECS} s at most)"
            );
        }
        Ok(LoadPlan {
            pace,
            connections: self.connections,
            requests,
            duration: self.duration,
            codes,
            timeout: self.timeout,
        })
    }
}

impl WorkloadArgs {
    /// Checks the shares, the exponent and the population.
    pub fn check(&self) -> Result<()> {
        ensure!(
            self.zipf.is_finite() && self.zipf >= 0.0,
            "`--zipf` must be a number of at least 0, not `{}`",
            self.zipf
        );
        ensure!(
            (0.0..=1.0).contains(&self.bad),
            "`--bad` must be a share within 0..=1, not `{}`",
            self.bad
        );
        ensure!(
            (0.0..=1.0).contains(&self.replay),
            "`--replay` must be a share within 0..=1, not `{}`",
            self.replay
        );
        ensure!(
            self.bad + self.replay <= 1.0,
            "`--bad {}` and `--replay {}` together are more than every request",
            self.bad,
            self.replay
        );
        ensure!(self.population >= 1, "`--population` must be at least 1");
        Ok(())
    }
}

/// `10s`, `500ms`, `2m`, `1h`, or a number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try `10s`, `500ms` or `2m`)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("`{text}` is out of range"))
}

/// A duration as the flags take it: `10s`, `1.5s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: &[&str]) -> LoadArgs {
        let mut all = vec!["loadtest", "--target", "http://127.0.0.1:1"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses").run.measure.load
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn a_run_is_open_loop_at_the_default_rate_unless_closed_or_paced() {
        let run = |args: &[&str]| {
            let mut all = vec!["loadtest", "--target", "http://127.0.0.1:1"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|cli| cli.run.plan())
        };
        let pace = |args: &[&str]| run(args).expect("parses").expect("valid").pace;
        assert_eq!(
            pace(&[]),
            Pace::Open {
                per_sec: DEFAULT_RATE
            }
        );
        assert_eq!(pace(&["-q", "250"]), Pace::Open { per_sec: 250.0 });
        assert_eq!(pace(&["--closed"]), Pace::Closed);
        assert!(
            run(&["--closed", "-q", "250"]).is_err(),
            "closed and paced at once"
        );
        // `compare` keeps closed loop without `-q`.
        assert_eq!(load(&[]).plan().expect("valid").pace, Pace::Closed);
    }

    #[test]
    fn the_code_pool_follows_the_stop_condition() {
        let plan = load(&[]).plan().expect("valid");
        assert_eq!(
            (plan.requests, plan.codes, plan.pace),
            (Some(200), 200, Pace::Closed)
        );
        let plan = load(&["-n", "1000", "-c", "4"]).plan().expect("valid");
        assert_eq!((plan.codes, plan.connections), (1000, 4));
        let plan = load(&["-z", "10s"]).plan().expect("valid");
        assert_eq!((plan.requests, plan.codes), (None, 200_000));
        let plan = load(&["-z", "10s", "--max-requests", "5000"])
            .plan()
            .expect("valid");
        assert_eq!(plan.codes, 5000);
        let plan = load(&["-z", "10s", "-q", "300"]).plan().expect("valid");
        assert_eq!(
            (plan.codes, plan.pace),
            (3000, Pace::Open { per_sec: 300.0 })
        );
        let plan = load(&["-z", "10s", "-q", "300", "-n", "100"])
            .plan()
            .expect("valid");
        assert_eq!(plan.codes, 100);
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_flag() {
        let cases: [(&[&str], &str); 8] = [
            (&["-c", "0"], "`-c`"),
            (&["--bad", "1.5"], "`--bad`"),
            (&["--replay=-0.1"], "`--replay`"),
            (&["--bad", "0.6", "--replay", "0.6"], "together are more"),
            (&["--zipf=-1"], "`--zipf`"),
            (&["-q", "0"], "`-q`"),
            (&["-z", "20m"], "`-z 1200s`"),
            (&["--population", "0"], "`--population`"),
        ];
        for (args, expected) in cases {
            let err = load(args).plan().expect_err("refused").to_string();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn compare_takes_the_load_flags_and_a_running_target_needs_its_pid() {
        let cli = Cli::try_parse_from([
            "loadtest",
            "compare",
            "--warm",
            "--pin",
            "-c",
            "32",
            "-z",
            "10s",
            "--profile",
            "hmac",
        ])
        .expect("parses");
        let Some(Command::Compare(args)) = cli.command else {
            panic!("compare");
        };
        assert!(args.warm && args.start.pin);
        assert_eq!(args.measure.load.workload.profile, Profile::Hmac);
        assert!(
            Cli::try_parse_from(["loadtest", "compare", "--target", "http://127.0.0.1:1"]).is_err()
        );
    }

    fn compare(args: &[&str]) -> Result<CompareArgs, clap::Error> {
        let mut all = vec!["loadtest", "compare"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all)?.command {
            Some(Command::Compare(args)) => Ok(*args),
            other => panic!("compare, not {other:?}"),
        }
    }

    #[test]
    fn compare_audits_by_default_and_takes_off_or_both() {
        let default = compare(&[]).expect("parses");
        assert_eq!((default.audit, default.store), (AuditMode::On, None));
        assert_eq!(AuditMode::On.gateways(), [true]);
        let both = compare(&["--audit", "both"]).expect("parses");
        assert_eq!(both.audit.gateways(), [true, false]);
        assert_eq!(both.audit.name(), "both");
        assert_eq!(
            compare(&["--audit", "off"])
                .expect("parses")
                .audit
                .gateways(),
            [false]
        );
        let pg = compare(&["--store", "postgres://postgres@127.0.0.1/test"]).expect("parses");
        assert_eq!(
            pg.store.as_deref(),
            Some("postgres://postgres@127.0.0.1/test")
        );
    }

    #[test]
    fn a_bad_audit_mode_is_refused_with_the_values_it_takes() {
        for bad in ["sometimes", "ON", "true", ""] {
            let err = compare(&["--audit", bad]).expect_err("refused");
            assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue, "{bad:?}");
            let text = err.to_string();
            assert!(
                text.contains("--audit <MODE>")
                    && text.contains("[possible values: on, off, both]"),
                "{bad:?}: {text}"
            );
        }
        let err = compare(&["--audit"]).expect_err("needs a value");
        assert!(err.to_string().contains("--audit <MODE>"), "{err}");
        let running = compare(&[
            "--target",
            "http://127.0.0.1:1",
            "--target-pid",
            "1",
            "--store",
            "postgres://127.0.0.1/x",
        ]);
        assert!(running.is_err(), "a running gateway has its own store");
    }
}
