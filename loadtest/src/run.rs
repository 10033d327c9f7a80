//! The default command: prepare the workload (holders who pass, venue keys, codes minted
//! ahead), drive it at `--target`, report. [`Workload`] is shared with `compare`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context as _, Result};
use http::HeaderValue;
use rand::rngs::StdRng;
use rand::SeedableRng as _;
use wire::catalogue::Catalogue;
use wire::code::Minter;

use crate::cli::{format_duration, LoadPlan, OutputArgs, Pace, RunArgs, WorkloadArgs};
use crate::codes::{self, Prepared, ScenarioSetup};
use crate::driver::{self, Drive, Progress, Target};
use crate::feed::Requests;
use crate::population::{self, Zipf};
use crate::procstat::Machine;
use crate::report::{self, RunReport, Setup};
use crate::stats::{Stop, Summary};
use crate::venues::AdminApi;
use crate::workload::{self, Planned};

/// Everything needed to plan and mint requests.
#[derive(Debug)]
pub struct Workload {
    pub scenarios: Vec<ScenarioSetup>,
    /// Per scenario, the city of its demo venue: where `--venues` registers venues.
    cities: Vec<u32>,
    weights: Vec<u32>,
    zipfs: Vec<Zipf>,
    minter: Minter,
    seed: u64,
    bad: f64,
    replay: f64,
    /// Requests that may be in flight at once: how far back a replay's original lies.
    replay_gap: usize,
}

impl Workload {
    /// Resolves the mix against the catalogue and the demo venues, and finds `--population`
    /// holders who pass each scenario today.
    /// `connections` bounds how far back a replay's original lies (requests in flight at once).
    pub fn prepare(load: &WorkloadArgs, connections: usize) -> Result<Workload> {
        let catalogue = Catalogue::embedded();
        let venues =
            gateway::venues::Venues::parse(gateway::demo::VENUES, "config/venues.toml", &catalogue)
                .map_err(|e| anyhow!("the demo venues: {e}"))?;
        let population = issuer::population::Population::new(load.population_seed);
        let today = wire::calendar::china_today(chrono::Utc::now());
        let mut scenarios = Vec::new();
        let mut cities = Vec::new();
        for entry in &load.mix.entries {
            let scenario = scenario_named(&catalogue, &entry.scenario, "--mix")?;
            let (venue, key) = venues.demo_for(&scenario.id).with_context(|| {
                format!(
                    "no demo venue in config/venues.toml may use `{}`",
                    scenario.id
                )
            })?;
            let holders = population::passing_holders(
                &population,
                &catalogue,
                scenario,
                load.population,
                today,
            )?;
            scenarios.push(ScenarioSetup {
                id: scenario.id.clone(),
                venues: vec![bearer(key).context("a demo venue key")?],
                holders,
            });
            cities.push(venue.city);
        }
        Ok(Workload {
            weights: load.mix.entries.iter().map(|e| e.weight).collect(),
            zipfs: scenarios
                .iter()
                .map(|s| Zipf::new(s.holders.len(), load.zipf))
                .collect(),
            scenarios,
            cities,
            minter: codes::demo_minter(load.profile)?,
            seed: load.seed,
            bad: load.bad,
            replay: load.replay,
            replay_gap: connections + 1,
        })
    }

    /// `count` venues for each scenario, in its demo venue's city, each with quota `rate`.
    pub fn wanted_venues(&self, count: usize, rate: u32) -> Vec<crate::venues::Wanted> {
        self.scenarios
            .iter()
            .zip(&self.cities)
            .map(|(scenario, &city)| crate::venues::Wanted {
                scenario: scenario.id.clone(),
                city,
                count,
                rate_per_sec: rate,
            })
            .collect()
    }

    /// Presents the codes of scenario `i` at the venues of `keys[i]` instead of its demo venue.
    pub fn use_venues(&mut self, keys: Vec<Vec<String>>) -> Result<()> {
        for (scenario, keys) in self.scenarios.iter_mut().zip(keys) {
            scenario.venues = keys
                .iter()
                .map(|key| bearer(key).context("a venue key the gateway issued"))
                .collect::<Result<_>>()?;
        }
        Ok(())
    }

    /// The scenario names, by index.
    pub fn names(&self) -> Vec<String> {
        self.scenarios.iter().map(|s| s.id.clone()).collect()
    }

    /// The measured plan of `count` requests (seeded by `--seed`).
    pub fn plan(&self, count: u64) -> Vec<Planned> {
        self.plan_part(0, count)
    }

    /// Part `part` of a plan made as the run goes, `count` requests (part 0 is [`Self::plan`];
    /// each part is seeded by `--seed` and its number).
    pub fn plan_part(&self, part: u64, count: u64) -> Vec<Planned> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut plan = workload::plan(
            &self.weights,
            &self.zipfs,
            self.bad,
            count as usize,
            &mut rng,
        );
        let venues: Vec<usize> = self.scenarios.iter().map(|s| s.venues.len()).collect();
        workload::spread_over_venues(&mut plan, &venues, &mut rng);
        workload::add_replays(&mut plan, self.replay, self.replay_gap, &mut rng);
        plan
    }

    /// Every holder of every scenario once.
    pub fn warm_plan(&self) -> Vec<Planned> {
        workload::warm_plan(
            &self
                .scenarios
                .iter()
                .map(|s| s.holders.len())
                .collect::<Vec<_>>(),
        )
    }

    /// Mints `plan` on every core.
    pub fn mint(&self, plan: &[Planned], what: &str) -> Arc<[Prepared]> {
        codes::mint_all(&self.minter, &self.scenarios, plan, what).into()
    }

    /// Mints `plan` on the calling thread, quietly: a part of a run under way.
    pub fn mint_part(&self, plan: &[Planned]) -> Arc<[Prepared]> {
        codes::mint_on(1, &self.minter, &self.scenarios, plan, None).into()
    }
}

/// The catalogue's scenario `id`, or an error naming the flag it came from and the scenarios
/// there are.
pub fn scenario_named<'c>(
    catalogue: &'c Catalogue,
    id: &str,
    flag: &str,
) -> Result<&'c wire::catalogue::model::Scenario> {
    catalogue.scenario(id).with_context(|| {
        let known: Vec<&str> = catalogue
            .scenarios()
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        format!(
            "unknown scenario `{id}` in `{flag}` (known: {})",
            known.join(", ")
        )
    })
}

/// `Bearer <key>` as a header value.
fn bearer(key: &str) -> Result<HeaderValue> {
    Ok(HeaderValue::from_str(&format!("Bearer {key}"))?)
}

/// The setup section of a report.
pub fn setup(
    target: &str,
    load: &WorkloadArgs,
    plan: &LoadPlan,
    http2: bool,
    machine: Machine,
) -> Setup {
    Setup {
        target: target.to_string(),
        mode: match plan.pace {
            Pace::Closed => "closed".into(),
            Pace::Open { .. } => "open".into(),
        },
        rate_per_sec: match plan.pace {
            Pace::Closed => None,
            Pace::Open { per_sec } => Some(per_sec),
        },
        connections: plan.connections,
        requests: plan.requests,
        duration_secs: plan.duration.map(|d| d.as_secs_f64()),
        codes_minted: plan.codes,
        http2,
        profile: load.profile.name().into(),
        population: load.population,
        zipf: load.zipf,
        mix: load.mix.to_string(),
        bad: load.bad,
        replay: load.replay,
        venues: 0,
        seed: load.seed,
        timeout_secs: plan.timeout.as_secs_f64(),
        machine,
    }
}

/// The measured phase's driving settings.
pub fn measured(label: &str, plan: &LoadPlan, progress: Progress) -> Drive {
    Drive {
        label: label.into(),
        pace: plan.pace,
        connections: plan.connections,
        requests: plan.requests,
        duration: plan.duration,
        timeout: plan.timeout,
        check: true,
        shedding: false,
        windows: None,
        progress,
    }
}

/// Says on stderr when a phase ended early.
pub fn note_stop(label: &str, summary: &Summary, plan: &LoadPlan) {
    if summary.stop == Stop::CodesExhausted {
        eprintln!(
            "note: {label}: the {} pre-minted codes ran out after {:.1} s of the planned {}; raise `--max-requests`",
            plan.codes,
            summary.elapsed_secs,
            plan.duration.map_or_else(String::new, format_duration)
        );
    }
}

/// Writes `report` where `--output`/`-o` says: as JSON with `--json`, else as `text` writes it.
pub fn emit<T: serde::Serialize>(
    output: &OutputArgs,
    report: &T,
    text: impl FnOnce(&T, &mut dyn Write) -> Result<()>,
) -> Result<()> {
    let write = |mut out: &mut dyn Write| {
        if output.json {
            report::json(report, &mut out)
        } else {
            text(report, out)
        }
    };
    match &output.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating `{}`", display(path)))?;
            let mut file = std::io::BufWriter::new(file);
            write(&mut file)?;
            file.flush()
                .with_context(|| format!("writing `{}`", display(path)))
        }
        None => {
            let mut out = std::io::stdout().lock();
            write(&mut out)?;
            out.flush().context("writing the report")
        }
    }
}

/// The exit code of a run that completed: 1 when an expectation failed, else 0.
pub fn exit_code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// The tokio runtime of the generator.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// SIGTERM or Ctrl-C.
pub async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The default command.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let url = args
        .target
        .as_deref()
        .context("give the gateway's base URL with `--target URL` (e.g. `--target http://127.0.0.1:8080`), or a command: `baseline`, `compare`")?;
    let plan = args.plan()?;
    let target = Target::new(url, &args.measure.client)?;
    let machine = Machine::describe();
    let mut workload =
        Workload::prepare(&args.measure.load.workload, args.measure.load.connections)?;
    let runtime = runtime()?;
    let registered = match args.venues.venues {
        0 => None,
        count => {
            let token = args
                .venues
                .admin_token
                .as_deref()
                .unwrap_or(gateway::config::DEMO_ADMIN_TOKEN);
            let admin = AdminApi::new(&args.venues.admin, token)?;
            let wanted = workload.wanted_venues(count, args.venues.venue_rate);
            let registered = runtime.block_on(admin.register(&wanted))?;
            eprintln!(
                "registered {} venues through {} ({count} per scenario, {}/s each)",
                registered.ids.len(),
                args.venues.admin,
                args.venues.venue_rate
            );
            workload.use_venues(registered.keys.clone())?;
            Some((admin, registered))
        }
    };
    let pool = workload.mint(&workload.plan(plan.codes), "run");
    let drive = measured("run", &plan, Progress::choose(args.measure.output.no_tui));
    let mut setup = setup(
        &target.url,
        &args.measure.load.workload,
        &plan,
        args.measure.client.http2,
        machine,
    );
    setup.venues = args.venues.venues;
    // With venues registered for the run, an interruption ends the run and deletes them.
    let finished = runtime.block_on(async {
        tokio::select! {
            finished = driver::drive(Arc::new(target), Requests::pool(pool), workload.names(), &drive) => Some(finished),
            () = terminated(), if registered.is_some() => None,
        }
    });
    if let Some((admin, registered)) = &registered {
        let deleted = runtime.block_on(admin.delete(&registered.ids));
        eprintln!(
            "deleted {deleted} of the {} venues registered for the run",
            registered.ids.len()
        );
    }
    let Some(finished) = finished else {
        eprintln!("interrupted: no report");
        return Ok(ExitCode::from(130));
    };
    let summary = finished.recorder.summary(finished.elapsed, finished.stop);
    note_stop("run", &summary, &plan);
    let failed = summary.expectations_failed > 0;
    let report = RunReport::new(setup, summary);
    emit(&args.measure.output, &report, |r, mut out| {
        report::run_text(r, &mut out)
    })?;
    Ok(exit_code(failed))
}
