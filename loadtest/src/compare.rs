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

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{ensure, Context as _, Result};

use crate::cli::{AuditMode, ClientArgs, CompareArgs, LoadPlan, Pace, MAX_PLANNED_SECS};
use crate::codes::Prepared;
use crate::driver::{self, Drive, Progress, Target};
use crate::feed::Requests;
use crate::postgres::{Postgres, Scratch};
use crate::procstat::{self, Machine};
use crate::report::{self, CompareReport, CpuCost, Ratios, Side};
use crate::run::{self, Workload};
use crate::servers::{self, GatewayLaunch, Server};

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
                check: phase.check,
                shedding: false,
                windows: None,
                progress,
            };
            let f = runtime.block_on(driver::drive(
                Arc::clone(&phase.target),
                Requests::pool(Arc::clone(pool)),
                scenarios.to_vec(),
                &drive,
            ));
            Some(f.recorder.summary(f.elapsed, f.stop))
        }
        None => None,
    };
    let mut drive = run::measured(name, plan, progress);
    drive.check = phase.check;
    let store_before = phase.store.map(Scratch::snapshot).transpose()?.flatten();
    let server_before = procstat::read(phase.server.pid)?;
    let self_before = procstat::read_self()?;
    // The baseline keeps no nonces: it may take the pool again from the start.
    let requests = Requests::Pool {
        pool: Arc::clone(&phase.pool),
        cycle: !phase.check,
    };
    let finished = runtime.block_on(driver::drive(
        Arc::clone(&phase.target),
        requests,
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
        started: phase.server.started(),
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
        let baseline = servers::start_baseline(self.args.start.pin)?;
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
        let launch = GatewayLaunch {
            bin: bin.to_path_buf(),
            pin: self.args.start.pin,
            log_level: self.args.start.gateway_log.clone(),
            audit,
            store_url: scratch.as_ref().map(|s| s.url.clone()),
            extra_toml: String::new(),
        };
        let server = launch.start(name, &folder)?;
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
        let server = Server::running("gateway", target.url.clone(), pid);
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
                bin: servers::gateway_binary(args.start.gateway_bin.as_deref())?,
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
    if args.start.pin {
        procstat::check_pinnable(&machine)?;
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

    let workload = Workload::prepare(&args.measure.load.workload, args.measure.load.connections)?;
    let pool = workload.mint(&workload.plan(plan.codes), "measured phase");
    let warm = args
        .warm
        .then(|| workload.mint(&workload.warm_plan(), "warm-up"));
    // After minting (which uses every core), before the runtime starts its threads.
    if args.start.pin {
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
            &args.measure.load.workload,
            &plan,
            args.measure.client.http2,
            machine,
        ),
        warm: args.warm,
        pinned: args.start.pin,
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
    run::emit(&args.measure.output, &report, |r, mut out| {
        report::compare_text(r, &mut out)
    })?;
    Ok(run::exit_code(failed))
}
