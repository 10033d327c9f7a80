//! `loadtest compare`: the same load, in one run, at the bare baseline server and at the
//! gateway, each started as a child process (or a running gateway given by `--target` and
//! `--target-pid`), with the servers' CPU time per request read from `/proc` around each
//! measured phase — so the figures hold on a noisy machine — and the ratios gateway/baseline.
//!
//! The gateway is started in demo mode from a configuration written to a temporary folder:
//! plain HTTP on loopback, the embedded department backends (in the gateway's process, so
//! their CPU time counts too), and the demo venues with their rate quotas raised, so the quota
//! does not cap the measurement.
//!
//! `--audit both` measures what the audit trail costs: after the baseline, a gateway with the
//! trail on (what users run), then a fresh gateway with `audit.enabled = false`, under the same
//! load, and the ratio of the two. Each server runs only during its own phase, started just
//! before it and stopped after it.
//!
//! Every phase uses the same pre-minted requests: the baseline keeps no nonces, and each
//! gateway starts on a store of its own (a fresh data folder, or a fresh PostgreSQL schema with
//! `--store`, see [`crate::postgres`]), so the codes are still fresh for each. With `--warm`,
//! each phase is preceded by one request per holder and scenario (other codes), so the
//! gateway's measured phase takes the cache-hit path. With `--pin`, the servers run on CPU 0
//! (`taskset -c 0`) and the generator on CPU 1 (`sched_setaffinity`), so latency measures the
//! servers rather than the scheduler. With `--store`, the CPU time of the PostgreSQL backends
//! serving the gateway is counted beside the gateway's own.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cli::{AuditMode, ClientArgs, CompareArgs, LoadPlan, Pace, MAX_PLANNED_SECS};
use crate::codes::Prepared;
use crate::driver::{self, Drive, Progress, Target};
use crate::postgres::{Postgres, Scratch};
use crate::procstat::{self, Machine};
use crate::report::{self, CompareReport, CpuCost, Ratios, Side};
use crate::run::{self, Workload};

/// How long a child server may take to print its address.
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How long a child server may take to exit after SIGTERM before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(15);

/// A server under test: a child we started (stopped when dropped), or a running process.
struct Server {
    name: &'static str,
    url: String,
    pid: u32,
    child: Option<Child>,
    pinned: bool,
    /// Where a started gateway's log goes.
    log: Option<PathBuf>,
}

impl Server {
    /// Starts `program args` (under `taskset -c 0` when pinned) and waits for the first stdout
    /// line `url_of` accepts.
    fn start(
        name: &'static str,
        program: &Path,
        args: &[&str],
        pin: bool,
        configure: impl FnOnce(&mut Command),
        url_of: fn(&str) -> Option<String>,
        log: Option<PathBuf>,
    ) -> Result<Server> {
        let mut command = if pin {
            let mut c = Command::new("taskset");
            c.arg("-c").arg("0").arg(program);
            c
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        configure(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting the {name} (`{}`)", program.display()))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads the banner, then drains stdout until the child exits.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining.
                }
            }
        });
        let pid = child.id();
        let mut server = Server {
            name,
            url: String::new(),
            pid,
            child: Some(child),
            pinned: pin,
            log,
        };
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(url) = url_of(&line) {
                        server.url = url;
                        return Ok(server);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if left > Duration::ZERO => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "the {name} printed no address within {} s{}",
                        START_PATIENCE.as_secs(),
                        server.log_tail()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.as_mut().and_then(|c| c.wait().ok());
                    bail!(
                        "the {name} exited before printing its address ({}){}",
                        status.map_or_else(|| "status unknown".into(), |s| s.to_string()),
                        server.log_tail()
                    )
                }
            }
        }
    }

    fn log_tail(&self) -> String {
        let Some(text) = self
            .log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("; its log ends:\n{tail}")
    }

    /// SIGTERM, then SIGKILL if it does not exit in time.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "note: the {} (pid {}) did not stop within {} s of SIGTERM; killing it",
            self.name,
            self.pid,
            STOP_PATIENCE.as_secs()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `http://ADDR` as `loadtest baseline` prints it.
fn baseline_url(line: &str) -> Option<String> {
    line.trim()
        .starts_with("http://")
        .then(|| line.trim().to_string())
}

/// The public API line of the gateway's banner: `  public API   http://ADDR/v1/verify`.
pub fn gateway_url(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("public API")?;
    let url = rest.split_whitespace().next()?;
    Some(url.trim_end_matches(wire::api::VERIFY_PATH).to_string())
}

/// The demo venues with every rate quota raised to `per_sec`.
pub fn venues_without_quota(per_sec: i64) -> Result<String> {
    let mut file: toml::Table =
        toml::from_str(gateway::demo::VENUES).context("the embedded venues.toml")?;
    if let Some(toml::Value::Array(venues)) = file.get_mut("venue") {
        for venue in venues.iter_mut().filter_map(toml::Value::as_table_mut) {
            venue.insert("rate_per_sec".into(), toml::Value::Integer(per_sec));
        }
    }
    Ok(format!(
        "# Written by `loadtest compare`: the demo venues, with rate quotas raised so that the quota\n\
         # does not cap the measurement.\n\n{}",
        toml::to_string(&file).context("writing venues.toml")?
    ))
}

const GATEWAY_TOML: &str = "\
# Written by `loadtest compare`: the demo gateway over plain HTTP on loopback (the load test
# measures the verify path, not TLS), with the demo venues of venues.toml beside this file.
mode = \"demo\"

[tls]
mode = \"off\"

[venues]
file = \"venues.toml\"
";

/// The configuration of a gateway compare starts: [`GATEWAY_TOML`], the audit trail off when
/// asked (a measurement switch the gateway accepts on loopback only, where compare puts it),
/// and the store when it is not SQLite in the data folder.
pub fn gateway_toml(audit: bool, store_url: Option<&str>) -> String {
    let mut text = GATEWAY_TOML.to_string();
    if !audit {
        text.push_str("\n# `loadtest compare --audit off|both`: nothing is recorded.\n[audit]\nenabled = false\n");
    }
    if let Some(url) = store_url {
        text.push_str(&format!(
            "\n# `loadtest compare --store`: a schema of this gateway's own.\n[store]\nurl = {}\n",
            toml::Value::String(url.to_string())
        ));
    }
    text
}

fn gateway_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        ensure!(
            path.is_file(),
            "no gateway binary at `--gateway-bin {}`",
            path.display()
        );
        return Ok(path.to_path_buf());
    }
    let here = std::env::current_exe().context("finding this executable")?;
    let path = here.with_file_name("gateway");
    ensure!(
        path.is_file(),
        "no gateway binary next to this one (`{}`): build it with `cargo build --release -p gateway`, or pass `--gateway-bin PATH`",
        path.display()
    );
    Ok(path)
}

/// Starts a gateway from `bin` in the folder `dir` (created), with its audit trail on or off
/// and its store at `store_url` (default: SQLite in `dir/data`).
fn start_gateway(
    args: &CompareArgs,
    bin: &Path,
    name: &'static str,
    dir: &Path,
    audit: bool,
    store_url: Option<&str>,
) -> Result<Server> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let config = dir.join("gateway.toml");
    std::fs::write(&config, gateway_toml(audit, store_url))
        .with_context(|| format!("writing `{}`", config.display()))?;
    std::fs::write(dir.join("venues.toml"), venues_without_quota(1_000_000)?)
        .context("writing venues.toml")?;
    let log = dir.join("gateway.log");
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating `{}`", log.display()))?;
    let config_arg = config.display().to_string();
    let data_arg = dir.join("data").display().to_string();
    let level = args.gateway_log.clone();
    let dir_owned = dir.to_path_buf();
    Server::start(
        name,
        bin,
        &[
            "--config",
            &config_arg,
            "--listen-public",
            "127.0.0.1:0",
            "--listen-plain",
            "off",
            "--listen-admin",
            "127.0.0.1:0",
            "--data-dir",
            &data_arg,
        ],
        args.pin,
        move |c| {
            // `DATABASE_URL` would override the store of the configuration.
            c.current_dir(dir_owned)
                .env("MIANZHENG_LOG", level)
                .env_remove("DATABASE_URL")
                .stderr(Stdio::from(log_file));
        },
        gateway_url,
        Some(log),
    )
}

fn start_baseline(pin: bool) -> Result<Server> {
    let me = std::env::current_exe().context("finding this executable")?;
    Server::start(
        "baseline",
        &me,
        &["baseline", "--listen", "127.0.0.1:0"],
        pin,
        |_| {},
        baseline_url,
        None,
    )
}

/// One server's phases: the optional warm-up, then the measured phase with CPU times read
/// around it.
struct Phase<'a> {
    server: &'a Server,
    target: Arc<Target>,
    /// Check expectations (the gateway) or only that answers are 2xx, reusing the pool as
    /// needed (the baseline).
    check: bool,
    /// A started gateway's `audit.enabled`.
    audit: Option<bool>,
    /// The gateway's PostgreSQL schema, whose backends' CPU time counts too.
    store: Option<&'a Scratch>,
    warm: Option<Arc<[Prepared]>>,
    pool: Arc<[Prepared]>,
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    phase: Phase<'_>,
    plan: &LoadPlan,
    scenarios: &[String],
    progress: Progress,
) -> Result<Side> {
    let name = phase.server.name;
    eprintln!("{name}: {} (pid {})", phase.server.url, phase.server.pid);
    let warm_up = match &phase.warm {
        Some(pool) => {
            let drive = Drive {
                label: format!("{name} warm-up"),
                pace: Pace::Closed,
                connections: plan.connections,
                requests: Some(pool.len() as u64),
                duration: None,
                timeout: plan.timeout,
                cycle: false,
                check: phase.check,
                progress,
            };
            let f = runtime.block_on(driver::drive(
                Arc::clone(&phase.target),
                Arc::clone(pool),
                scenarios.to_vec(),
                &drive,
            ));
            Some(f.recorder.summary(f.elapsed, f.stop))
        }
        None => None,
    };
    let mut drive = run::measured(name, plan, progress);
    drive.check = phase.check;
    drive.cycle = !phase.check;
    let store_before = phase.store.map(Scratch::snapshot).transpose()?.flatten();
    let server_before = procstat::read(phase.server.pid)?;
    let self_before = procstat::read_self()?;
    let finished = runtime.block_on(driver::drive(
        Arc::clone(&phase.target),
        Arc::clone(&phase.pool),
        scenarios.to_vec(),
        &drive,
    ));
    let server_after = procstat::read(phase.server.pid).with_context(|| {
        format!(
            "the {name} (pid {}) is gone after the measured phase",
            phase.server.pid
        )
    })?;
    let self_after = procstat::read_self()?;
    let store_after = phase.store.map(Scratch::snapshot).transpose()?.flatten();
    let result = finished.recorder.summary(finished.elapsed, finished.stop);
    run::note_stop(name, &result, plan);
    let hz = procstat::ticks_per_sec();
    let answered = result.answered;
    let server_cpu = CpuCost::new(server_after.since(server_before).total(), hz, answered);
    let store = phase
        .store
        .map(|scratch| scratch.cost(store_before.as_ref(), store_after.as_ref(), hz, answered));
    let total_cpu = match store.as_ref().and_then(|s| s.cpu) {
        Some(store_cpu) => server_cpu.plus(store_cpu, answered),
        None => server_cpu,
    };
    Ok(Side {
        url: phase.server.url.clone(),
        pid: phase.server.pid,
        started: phase.server.child.is_some(),
        pinned: phase.server.pinned,
        server_cpu,
        generator_cpu: CpuCost::new(self_after.since(self_before).total(), hz, answered),
        warm_up,
        result,
        audit: phase.audit,
        store,
        total_cpu,
    })
}

/// The gateways' side of a run: the one at `--target`, or those compare starts.
enum Gateways {
    Running {
        url: String,
        pid: u32,
    },
    Started {
        bin: PathBuf,
        store: Option<Postgres>,
    },
}

/// What the phases share.
struct Load<'a> {
    runtime: tokio::runtime::Runtime,
    plan: LoadPlan,
    scenarios: Vec<String>,
    progress: Progress,
    warm: Option<Arc<[Prepared]>>,
    pool: Arc<[Prepared]>,
    args: &'a CompareArgs,
}

impl Load<'_> {
    fn measure(&self, phase: Phase<'_>) -> Result<Side> {
        measure(
            &self.runtime,
            phase,
            &self.plan,
            &self.scenarios,
            self.progress,
        )
    }

    fn baseline(&self) -> Result<Side> {
        let baseline = start_baseline(self.args.pin)?;
        let plain = ClientArgs {
            http2: self.args.measure.client.http2,
            insecure: false,
            cacert: None,
        };
        let target = Target::new(&baseline.url, &plain)?;
        self.measure(Phase {
            server: &baseline,
            target: Arc::new(target),
            check: false,
            audit: None,
            store: None,
            warm: self.warm.clone(),
            pool: Arc::clone(&self.pool),
        })
    }

    /// Starts a gateway with the audit trail on or off, on a store of its own, measures it
    /// and stops it (then drops its schema).
    fn started_gateway(
        &self,
        bin: &Path,
        store: Option<&Postgres>,
        audit: bool,
        dir: &Path,
    ) -> Result<Side> {
        let name = match (self.args.audit, audit) {
            (AuditMode::Both, true) => "gateway, audit on",
            (AuditMode::Both, false) => "gateway, audit off",
            _ => "gateway",
        };
        let scratch = store.map(Postgres::scratch).transpose()?;
        let folder = dir.join(if audit { "audit-on" } else { "audit-off" });
        let server = start_gateway(
            self.args,
            bin,
            name,
            &folder,
            audit,
            scratch.as_ref().map(|s| s.url.as_str()),
        )?;
        let target = Target::new(&server.url, &self.args.measure.client)?;
        let side = self.measure(Phase {
            server: &server,
            target: Arc::new(target),
            check: true,
            audit: Some(audit),
            store: scratch.as_ref(),
            warm: self.warm.clone(),
            pool: Arc::clone(&self.pool),
        });
        // The gateway goes before its schema.
        drop(server);
        drop(scratch);
        side
    }

    fn running_gateway(&self, url: &str, pid: u32) -> Result<Side> {
        let target = Target::new(url, &self.args.measure.client)?;
        let server = Server {
            name: "gateway",
            url: target.url.clone(),
            pid,
            child: None,
            pinned: false,
            log: None,
        };
        self.measure(Phase {
            server: &server,
            target: Arc::new(target),
            check: true,
            audit: None,
            store: None,
            warm: self.warm.clone(),
            pool: Arc::clone(&self.pool),
        })
    }
}

/// The `compare` command.
pub fn run(args: &CompareArgs) -> Result<ExitCode> {
    let plan = args.measure.load.plan()?;
    let gateways = match (&args.target, args.target_pid) {
        (Some(url), Some(pid)) => {
            ensure!(
                args.audit == AuditMode::On,
                "`--audit {}` starts gateways of its own; a running gateway (`--target`) keeps its own audit setting",
                args.audit.name()
            );
            procstat::read(pid)
                .with_context(|| format!("`--target-pid {pid}`: no such process"))?;
            Gateways::Running {
                url: url.clone(),
                pid,
            }
        }
        _ => {
            let store = args.store.as_deref().map(Postgres::connect).transpose()?;
            Gateways::Started {
                bin: gateway_binary(args.gateway_bin.as_deref())?,
                store,
            }
        }
    };
    let phases = 1 + args.audit.gateways().len() as u64;
    if let Some(z) = plan.duration {
        ensure!(
            phases * z.as_secs() <= MAX_PLANNED_SECS,
            "compare runs `-z` {phases} times on codes minted once, which live at most 600 s: `-z` must be at most {}s",
            MAX_PLANNED_SECS / phases
        );
    }
    let machine = Machine::describe();
    if args.pin {
        procstat::check_pinnable(&machine)?;
        let taskset = Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        ensure!(
            taskset.is_ok_and(|s| s.success()),
            "`--pin` needs `taskset` (util-linux) to pin the servers"
        );
    }
    if let Gateways::Started {
        store: Some(pg), ..
    } = &gateways
    {
        if let Some(why) = pg.not_local() {
            eprintln!("note: the store's CPU is not counted, only the gateway's: {why}");
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("loadtest-compare-")
        .tempdir()
        .context("creating a temporary folder")?;

    let workload = Workload::prepare(&args.measure.load)?;
    let pool = workload.mint(&workload.plan(plan.codes), "measured phase");
    let warm = args
        .warm
        .then(|| workload.mint(&workload.warm_plan(), "warm-up"));
    // After minting (which uses every core), before the runtime starts its threads.
    if args.pin {
        procstat::pin_self(1)?;
    }
    let load = Load {
        runtime: run::runtime()?,
        plan,
        scenarios: workload.names(),
        progress: Progress::choose(args.measure.output.no_tui),
        warm,
        pool,
        args,
    };
    // Each server runs during its own phase only.
    let baseline = load.baseline()?;
    let mut sides = Vec::new();
    match &gateways {
        Gateways::Running { url, pid } => sides.push(load.running_gateway(url, *pid)?),
        Gateways::Started { bin, store } => {
            for &audit in args.audit.gateways() {
                sides.push(load.started_gateway(bin, store.as_ref(), audit, dir.path())?);
            }
        }
    }
    let plan = load.plan.clone();
    drop(load);

    let failed = std::iter::once(&baseline)
        .chain(&sides)
        .any(|side| side.result.expectations_failed > 0);
    let mut sides = sides.into_iter();
    let gateway = sides.next().context("no gateway was measured")?;
    let audit_off = sides.next();
    let report = CompareReport {
        schema: report::SCHEMA.into(),
        command: "compare".into(),
        setup: run::setup(
            &gateway.url,
            &args.measure.load,
            &plan,
            args.measure.client.http2,
            machine,
        ),
        warm: args.warm,
        pinned: args.pin,
        audit: args.audit.name().into(),
        store_url: match &gateways {
            Gateways::Started {
                store: Some(pg), ..
            } => Some(pg.redacted()),
            _ => None,
        },
        ratios: Ratios::of(&gateway, &baseline),
        ratios_audit_off: audit_off.as_ref().map(|off| Ratios::of(off, &baseline)),
        audit_on_over_off: audit_off.as_ref().map(|off| Ratios::of(&gateway, off)),
        baseline,
        gateway,
        gateway_audit_off: audit_off,
    };
    run::write_report(&args.measure.output, |mut out, json| {
        if json {
            report::json(&report, &mut out)
        } else {
            report::compare_text(&report, &mut out)
        }
    })?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banners_give_the_urls() {
        assert_eq!(
            gateway_url("  public API   http://127.0.0.1:41234/v1/verify"),
            Some("http://127.0.0.1:41234".into())
        );
        assert_eq!(
            gateway_url("  plain HTTP   http://127.0.0.1:1/v1/verify (loopback only)"),
            None
        );
        assert_eq!(gateway_url("Mianzheng gateway ready"), None);
        assert_eq!(
            baseline_url("http://127.0.0.1:5000\n"),
            Some("http://127.0.0.1:5000".into())
        );
        assert_eq!(baseline_url("warming up"), None);
    }

    #[test]
    fn the_gateway_configuration_switches_the_audit_and_names_the_store() {
        let parse = |text: &str| {
            gateway::config::GatewayConfig::parse(text, "gateway.toml", PathBuf::from("."))
                .expect("valid")
        };
        let plain = parse(&gateway_toml(true, None));
        assert!(plain.audit.enabled);
        assert_eq!(plain.store.url, None);
        assert_eq!(plain.venues.file, Some(PathBuf::from("venues.toml")));
        let url = "postgres://u:p@127.0.0.1/db?options[search_path]=mz_compare_1&application_name=mz_compare_1";
        let off = parse(&gateway_toml(false, Some(url)));
        assert!(!off.audit.enabled);
        assert_eq!(off.store.url.as_deref(), Some(url));
    }

    #[test]
    fn the_venues_keep_their_keys_and_lose_their_quota() {
        let text = venues_without_quota(1_000_000).expect("rewritten");
        let catalogue = wire::catalogue::Catalogue::embedded();
        let venues =
            gateway::venues::Venues::parse(&text, "venues.toml", &catalogue).expect("still valid");
        let park = venues.by_key("demo-park-7f3c9a1e").expect("demo key kept");
        for _ in 0..10_000 {
            assert!(park.admit().is_ok(), "no quota in the way");
        }
    }
}
