//! The rollout plan in force (`config/rollout.toml`, see [`wire::rollout`]) and the live
//! figures against it.
//!
//! - The verify path asks [`Rollout::offered`] per requirement: a certificate not offered in
//!   the holder's city for the scenario is not asked of its department and answers
//!   `not_offered` (the venue uses paper). It then [`Rollout::count`]s every requirement, offered
//!   or not, per (certificate type, city, verdict): plain atomics in one vector laid out at start,
//!   so the verify path takes no lock and allocates nothing here. Reading the plan is an
//!   [`ArcSwap`] load.
//! - [`Rollout::reload`] re-reads the configured file; a bad file is refused with every problem
//!   listed (`file: entry: problem`) and the old plan kept. [`Rollout::spawn_reloader`] does it
//!   when the file's modification time or size changes.
//! - [`Rollout::view`] is the plan with the figures, for the console: per cell the stage in
//!   effect and the requirements asked by verdict, and the plan's targets against live figures.
//!
//! Which city: the holder's home city from the code, when the plan knows it; otherwise (no
//! city in the code, or one outside the province) the venue's city: that is where the venue
//! would use paper. A city the plan does not know at all is served as live and not counted.
//!
//! What the targets' live figures (`Kpi::actual`) mean, all on the day of the view:
//! - `top_certificates_in_use`: certificate types live in at least one city;
//! - `personal_certificates_in_use`: the same, among types persons hold (person or either);
//! - `social_use_pilot_cities`: cities where at least one scenario is in use, i.e. every
//!   certificate it requires is offered there for it (live, or pilot and piloted);
//! - `one_code_scenarios`: scenarios in use in at least one city, in the same sense;
//! - `sharing_demand_satisfaction_rate`: requirements a department answered (pass or fail) ÷
//!   those it was asked (pass, fail, unavailable) since the gateway started; `None` before any.
//!   `not_offered` requirements were never asked, so they do not count against it.
//!
//! Other target ids are shown with no live figure.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use arc_swap::ArcSwap;
use chrono::NaiveDate;
use tokio::task::JoinHandle;
use wire::admin_api::{
    CityRef, Kpi, RolloutCell, RolloutReloaded, RolloutView, Stage, VerdictCounts,
};
use wire::api::Verdict;
use wire::catalogue::model::CityCode;
use wire::catalogue::Catalogue;
use wire::rollout::Plan;

use crate::config::GatewayConfig;
use crate::shutdown::Shutdown;

/// Verdicts counted per cell, in this order.
const COUNTED: [Verdict; 4] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::Unavailable,
    Verdict::NotOffered,
];

fn verdict_slot(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
        Verdict::Unavailable => 2,
        Verdict::NotOffered => 3,
    }
}

/// The plan in force and the counters against it. Shared behind an `Arc`.
#[derive(Debug)]
pub struct Rollout {
    catalogue: Arc<Catalogue>,
    /// The file reloads read; `None` when the plan is the embedded copy.
    file: Option<PathBuf>,
    plan: ArcSwap<Plan>,
    /// `[(certificate × cities + city) × 4 + verdict]`, catalogue order. Every plan is built
    /// against the same catalogue, so the layout survives reloads.
    counters: Box<[AtomicU64]>,
    cities: usize,
    /// The file's (modification time, size) as last looked at, loaded or not, so a bad file
    /// is reported once rather than at every poll.
    seen: Mutex<Option<(SystemTime, u64)>>,
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Rollout {
    /// The plan `[rollout] file` names (resolved against the configuration's folder), or the
    /// embedded copy when none is set.
    pub fn load(config: &GatewayConfig, catalogue: Arc<Catalogue>) -> Result<Rollout> {
        match &config.rollout.file {
            Some(file) => {
                let path = config.resolve(file);
                let seen = stamp(&path);
                let plan = Plan::load(&path, &catalogue)
                    .with_context(|| format!("loading the rollout plan `{}`", path.display()))?;
                let rollout = Rollout::new(plan, Some(path), catalogue);
                *rollout.seen.lock().unwrap_or_else(|e| e.into_inner()) = seen;
                Ok(rollout)
            }
            None => Ok(Rollout::embedded(catalogue)),
        }
    }

    /// The plan embedded in the binary (`config/rollout.toml` as built); no reloads.
    ///
    /// # Panics
    /// When the embedded plan does not fit `catalogue` (a catalogue folder of one's own with
    /// other certificates or cities needs a plan file of its own).
    pub fn embedded(catalogue: Arc<Catalogue>) -> Rollout {
        let plan = Plan::embedded(&catalogue);
        Rollout::new(plan, None, catalogue)
    }

    /// A rollout of `plan`, reloading from `file` if given.
    pub fn new(plan: Plan, file: Option<PathBuf>, catalogue: Arc<Catalogue>) -> Rollout {
        let cities = catalogue.cities().len();
        let cells = catalogue.certificates().len() * cities;
        Rollout {
            counters: (0..cells * COUNTED.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            cities,
            catalogue,
            file,
            plan: ArcSwap::from_pointee(plan),
            seen: Mutex::new(None),
        }
    }

    /// The plan in force.
    pub fn plan(&self) -> Arc<Plan> {
        self.plan.load_full()
    }

    /// The city the plan is applied in: the holder's, when the plan knows it, else the
    /// venue's.
    pub fn city_of(&self, holder_city: Option<CityCode>, venue_city: CityCode) -> CityCode {
        match holder_city {
            Some(city) if self.plan.load().city_index(city).is_some() => city,
            _ => venue_city,
        }
    }

    /// Whether `certificate` is offered in `city` for `scenario` on `today`. A certificate or
    /// city the plan does not know is offered: the plan only holds back what it names.
    pub fn offered(
        &self,
        certificate: &str,
        city: CityCode,
        scenario: &str,
        today: NaiveDate,
    ) -> bool {
        self.plan
            .load()
            .offered(certificate, city, scenario, today)
            .unwrap_or(true)
    }

    /// Whether `certificate` is offered for a service item (which has no scenario) in `city` on
    /// `today`: live there; a pilot offers only the scenarios a city pilots. A certificate or
    /// city the plan does not know is offered, as for a scenario.
    pub fn offered_for_items(&self, certificate: &str, city: CityCode, today: NaiveDate) -> bool {
        self.offered(certificate, city, "", today)
    }

    /// The stage of `certificate` in `city` on `today`, if the plan knows both.
    pub fn stage(&self, certificate: &str, city: CityCode, today: NaiveDate) -> Option<Stage> {
        let plan = self.plan.load();
        let c = plan.certificate_index(certificate)?;
        let y = plan.city_index(city)?;
        Some(plan.stage_on(c, y, today).stage)
    }

    /// Counts one requirement of `certificate` asked of a holder of `city`, answered
    /// `verdict`. Unknown certificates and cities are not counted.
    pub fn count(&self, certificate: &str, city: CityCode, verdict: Verdict) {
        let plan = self.plan.load();
        let (Some(c), Some(y)) = (plan.certificate_index(certificate), plan.city_index(city))
        else {
            return;
        };
        let i = (c * self.cities + y) * COUNTED.len() + verdict_slot(verdict);
        if let Some(counter) = self.counters.get(i) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts of one cell (by indexes), `refused` always 0.
    fn counts(&self, certificate: usize, city: usize) -> VerdictCounts<u64> {
        let base = (certificate * self.cities + city) * COUNTED.len();
        let at = |v: usize| {
            self.counters
                .get(base + v)
                .map_or(0, |c| c.load(Ordering::Relaxed))
        };
        VerdictCounts {
            pass: at(0),
            fail: at(1),
            unavailable: at(2),
            not_offered: at(3),
            refused: 0,
        }
    }

    /// The plan on `today` with the figures since start (see the module doc for the KPIs).
    pub fn view(&self, today: NaiveDate) -> RolloutView {
        let plan = self.plan.load();
        let cities: Vec<CityRef> = self
            .catalogue
            .cities()
            .iter()
            .map(|c| CityRef {
                code: c.code,
                name_zh: c.name_zh.clone(),
                name_en: c.name_en.clone(),
            })
            .collect();
        let mut cells = Vec::with_capacity(plan.cell_count());
        let mut answered = 0u64;
        let mut asked = 0u64;
        for (c, certificate) in plan.certificates().iter().enumerate() {
            for (y, &city) in plan.cities().iter().enumerate() {
                let on = plan.stage_on(c, y, today);
                let requirements = self.counts(c, y);
                let electronic = requirements.pass + requirements.fail;
                let all = electronic + requirements.unavailable + requirements.not_offered;
                answered += electronic;
                asked += electronic + requirements.unavailable;
                cells.push(RolloutCell {
                    certificate: certificate.clone(),
                    city,
                    stage: on.stage,
                    since: on.since,
                    requirements,
                    substitution_rate: (all > 0).then(|| electronic as f64 / all as f64),
                });
            }
        }
        let live_somewhere = |c: usize| {
            (0..plan.cities().len()).any(|y| plan.stage_on(c, y, today).stage == Stage::Live)
        };
        let certificates = plan.certificates().len();
        let scenarios = plan.scenarios().len();
        let city_count = plan.cities().len();
        let count = |n: usize| Some(n as f64);
        let kpis = plan
            .targets()
            .iter()
            .map(|t| {
                let actual = match t.id.as_str() {
                    "top_certificates_in_use" => {
                        count((0..certificates).filter(|&c| live_somewhere(c)).count())
                    }
                    "personal_certificates_in_use" => count(
                        (0..certificates)
                            .filter(|&c| plan.is_personal(c) && live_somewhere(c))
                            .count(),
                    ),
                    "social_use_pilot_cities" => count(
                        (0..city_count)
                            .filter(|&y| (0..scenarios).any(|s| plan.scenario_offered(s, y, today)))
                            .count(),
                    ),
                    "one_code_scenarios" => count(
                        (0..scenarios)
                            .filter(|&s| {
                                (0..city_count).any(|y| plan.scenario_offered(s, y, today))
                            })
                            .count(),
                    ),
                    "sharing_demand_satisfaction_rate" => {
                        (asked > 0).then(|| answered as f64 / asked as f64)
                    }
                    _ => None,
                };
                Kpi {
                    id: t.id.clone(),
                    title: t.title.clone(),
                    year: t.year,
                    target: t.target,
                    actual,
                    unit: t.unit.as_str().to_string(),
                }
            })
            .collect();
        RolloutView {
            cities,
            certificates: plan.certificates().to_vec(),
            cells,
            kpis,
        }
    }

    /// [`Rollout::view`] on today's date in China (the province's calendar, as the verify path
    /// judges it): what the console's snapshot shows.
    pub fn view_now(&self) -> RolloutView {
        self.view(wire::calendar::china_today(chrono::Utc::now()))
    }

    /// Re-reads the configured file. A bad file is refused — the error lists every problem,
    /// one a line — and the plan in force kept.
    pub fn reload(&self) -> Result<RolloutReloaded, String> {
        let Some(path) = &self.file else {
            return Err(
                "this gateway uses the embedded rollout plan; set `[rollout] file` to reload one"
                    .to_owned(),
            );
        };
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = stamp(path);
        let plan = Plan::load(path, &self.catalogue).map_err(|e| e.to_string())?;
        let reloaded = RolloutReloaded {
            source: plan.source().to_owned(),
            cells: plan.cell_count(),
        };
        self.plan.store(Arc::new(plan));
        Ok(reloaded)
    }

    /// Whether the file changed since it was last looked at (and remembers this look).
    fn file_changed(&self) -> bool {
        let Some(path) = &self.file else {
            return false;
        };
        let now = stamp(path);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == now {
            return false;
        }
        *seen = now;
        true
    }

    /// Spawns the task that reloads the plan when its file changes (checked every
    /// `poll_every`), until `shutdown` fires; `None` for the embedded plan. A refused file is
    /// logged here, once per change, and the old plan kept.
    pub fn spawn_reloader(
        self: &Arc<Self>,
        poll_every: Duration,
        shutdown: Shutdown,
    ) -> Option<JoinHandle<()>> {
        self.file.as_ref()?;
        let rollout = Arc::clone(self);
        Some(tokio::spawn(async move {
            // The first tick is one period away: the file was just loaded.
            let mut every = shutdown.every(poll_every);
            while every.tick().await {
                if !rollout.file_changed() {
                    continue;
                }
                match rollout.reload() {
                    Ok(r) => tracing::info!(file = %r.source, "reloaded the rollout plan"),
                    Err(e) => {
                        tracing::error!("cannot reload the rollout plan; keeping the old one:\n{e}")
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn catalogue() -> Arc<Catalogue> {
        static C: std::sync::OnceLock<Arc<Catalogue>> = std::sync::OnceLock::new();
        Arc::clone(C.get_or_init(|| Arc::new(Catalogue::embedded())))
    }

    const PLAN: &str = r#"
[defaults]
stages = [{ since = 2022-06-30, stage = "live" }]

[[certificate]]
codes = ["hazardous-chemicals-licence"]
stages = []
[[certificate.local]]
cities = [370300]
stages = [{ since = 2023-01-01, stage = "pilot" }]

[[city]]
code = 370300
pilot_scenarios = ["hazardous-chemicals-inspection"]

[[target]]
id = "top_certificates_in_use"
title = "t"
year = 2022
target = 50
unit = "count"

[[target]]
id = "sharing_demand_satisfaction_rate"
title = "s"
year = 2022
target = 0.99
unit = "share"

[[target]]
id = "form_field_share_rate"
title = "f"
year = 2022
target = 0.3
unit = "share"
"#;

    fn rollout(file: Option<PathBuf>) -> Rollout {
        let plan = Plan::parse(PLAN, "rollout.toml", &catalogue()).expect("the test plan");
        Rollout::new(plan, file, catalogue())
    }

    #[test]
    fn offered_by_stage_city_and_scenario() {
        let r = rollout(None);
        let today = day("2026-11-26");
        let hc = "hazardous-chemicals-licence";
        let inspection = "hazardous-chemicals-inspection";
        assert!(r.offered("resident-id-card", 370100, "hotel-check-in", today));
        assert!(!r.offered(
            "resident-id-card",
            370100,
            "hotel-check-in",
            day("2022-01-01")
        ));
        assert!(
            !r.offered(hc, 370100, inspection, today),
            "planned in Jinan"
        );
        assert!(r.offered(hc, 370300, inspection, today), "piloted in Zibo");
        assert!(
            !r.offered(hc, 370300, "bid-qualification", today),
            "not piloted for it"
        );
        assert!(
            r.offered(hc, 110100, inspection, today),
            "a city the plan does not know"
        );
        assert_eq!(r.stage(hc, 370300, today), Some(Stage::Pilot));
        assert_eq!(r.city_of(Some(370300), 370100), 370300);
        assert_eq!(r.city_of(None, 370100), 370100);
        assert_eq!(r.city_of(Some(110100), 370100), 370100);
    }

    #[test]
    fn counters_and_the_view() {
        let r = rollout(None);
        let today = day("2026-11-26");
        let view = r.view(today);
        assert_eq!(view.cells.len(), 50 * 16);
        assert_eq!(view.cities.len(), 16);
        assert!(view.cells.iter().all(|c| c.substitution_rate.is_none()));
        let kpi = |v: &RolloutView, id: &str| {
            v.kpis
                .iter()
                .find(|k| k.id == id)
                .unwrap_or_else(|| panic!("{id}"))
                .actual
        };
        assert_eq!(kpi(&view, "top_certificates_in_use"), Some(49.0));
        assert_eq!(kpi(&view, "sharing_demand_satisfaction_rate"), None);
        assert_eq!(kpi(&view, "form_field_share_rate"), None);

        for verdict in [
            Verdict::Pass,
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Unavailable,
        ] {
            r.count("resident-id-card", 370200, verdict);
        }
        r.count("hazardous-chemicals-licence", 370100, Verdict::NotOffered);
        r.count("resident-id-card", 110100, Verdict::Pass); // not counted anywhere
        let view = r.view(today);
        let cell = |cert: &str, city: u32| {
            view.cells
                .iter()
                .find(|c| c.certificate == cert && c.city == city)
                .expect("a cell")
                .clone()
        };
        let id = cell("resident-id-card", 370200);
        assert_eq!(
            (
                id.requirements.pass,
                id.requirements.fail,
                id.requirements.unavailable
            ),
            (2, 1, 1)
        );
        assert_eq!(id.substitution_rate, Some(0.75));
        assert_eq!((id.stage, id.since), (Stage::Live, Some(day("2022-06-30"))));
        let hc = cell("hazardous-chemicals-licence", 370100);
        assert_eq!((hc.stage, hc.since), (Stage::Planned, None));
        assert_eq!(hc.requirements.not_offered, 1);
        assert_eq!(hc.substitution_rate, Some(0.0));
        assert_eq!(kpi(&view, "sharing_demand_satisfaction_rate"), Some(0.75));
        // Certificate-major order.
        assert_eq!(view.cells[1].certificate, view.certificates[0]);
        assert_eq!(view.cells[16].certificate, view.certificates[1]);
    }

    #[test]
    fn the_embedded_plan_gives_every_kpi_a_figure_but_satisfaction_before_traffic() {
        let r = Rollout::embedded(catalogue());
        let view = r.view(day("2026-11-26"));
        for k in &view.kpis {
            // Measured from traffic only (`crate::kpis`), or not before any traffic.
            let from_traffic = [
                "sharing_demand_satisfaction_rate",
                "proof_material_share_rate",
                "form_field_share_rate",
            ];
            if from_traffic.contains(&k.id.as_str()) {
                assert_eq!(k.actual, None);
            } else {
                assert!(k.actual.is_some_and(|a| a > 0.0), "{k:?}");
            }
        }
        assert!(r.reload().is_err(), "the embedded plan has no file");
    }

    #[tokio::test]
    async fn a_bad_file_is_refused_and_the_old_plan_kept_then_a_good_one_taken() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("rollout.toml");
        std::fs::write(&path, PLAN).expect("write");
        let r = Arc::new(rollout(Some(path.clone())));
        let today = day("2026-11-26");
        let hc = "hazardous-chemicals-licence";
        assert!(!r.offered(hc, 370100, "hazardous-chemicals-inspection", today));

        std::fs::write(
            &path,
            PLAN.replace("370300", "999900")
                .replace("hazardous-chemicals-inspection", "nope"),
        )
        .expect("write");
        let err = r.reload().expect_err("a bad file");
        assert!(err.contains("unknown city `999900`"), "{err}");
        assert!(err.contains("unknown scenario `nope`"), "{err}");
        assert!(err.lines().count() >= 3, "every problem, one a line: {err}");
        assert!(!r.offered(hc, 370100, "hazardous-chemicals-inspection", today));
        assert_eq!(
            r.stage(hc, 370300, today),
            Some(Stage::Pilot),
            "the old plan"
        );

        std::fs::write(&path, PLAN.replace("stages = []\n", "")).expect("write");
        let done = r.reload().expect("a good file");
        assert_eq!(done.cells, 800);
        assert!(done.source.ends_with("rollout.toml"));
        assert!(r.offered(hc, 370100, "hazardous-chemicals-inspection", today));

        // The reloader notices a change of the file by itself.
        let shutdown = Shutdown::new();
        let task = r
            .spawn_reloader(Duration::from_millis(20), shutdown.clone())
            .expect("a file to watch");
        std::fs::write(&path, PLAN.replace("stages = []\n", "stages = [ ]\n\n")).expect("write");
        let mut planned = false;
        for _ in 0..250 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !r.offered(hc, 370100, "hazardous-chemicals-inspection", today) {
                planned = true;
                break;
            }
        }
        assert!(planned, "the reloader took the changed file");
        shutdown.trigger();
        task.await.expect("the reloader ends");
    }
}
