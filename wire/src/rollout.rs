//! The province's rollout plan (`config/rollout.toml`): for each certificate type of the
//! catalogue and each of its cities, the stage — planned, pilot, live — in effect on a given
//! day; the scenarios each city pilots; and the plan's targets. The gateway enforces it (a
//! certificate not yet offered in a city answers `not_offered` and the venue uses paper) and
//! reports against the targets; the end-to-end tests' oracle reads the same plan.
//!
//! The file is compact: a default timeline for every (certificate, city) cell, a timeline per
//! certificate (or group of certificates) that replaces it, and per-city timelines that replace
//! that. It is read like the catalogue (`catalogue/load.rs`): each entry deserialized on its
//! own, then checked against the [`Catalogue`]; every problem is reported at once, as
//! `file: entry: problem`:
//!
//! ```text
//! rollout.toml: certificate `driving-licens`: unknown certificate (certificates.toml)
//! ```
//!
//! Semantics, on day `D` (the province's calendar, China time):
//! - the stage of a cell is that of the latest step of its timeline with `since <= D`; before
//!   the first step (or with no steps) it is `planned`;
//! - `live`: offered for every scenario; `pilot`: offered only for the scenarios the city
//!   pilots; `planned`: not offered.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::admin_api::Stage;
use crate::catalogue::model::{CertificateCode, CityCode, HolderKinds};
use crate::catalogue::Catalogue;
use crate::file_problems::{one_line, syntax_error, LoadError, Problem};

/// The file name of the plan, beside the gateway's configuration.
pub const ROLLOUT_FILE: &str = "rollout.toml";

/// `config/rollout.toml` as shipped, compiled in.
pub const EMBEDDED: &str = include_str!("../../config/rollout.toml");

/// One step of a timeline: from `since` on (inclusive), the cell is at `stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub since: NaiveDate,
    pub stage: Stage,
}

/// A cell's timeline, oldest step first, dates strictly increasing.
pub type Timeline = Arc<[Step]>;

/// Where a cell stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageOn {
    pub stage: Stage,
    /// When that stage began; `None` for planned before any step.
    pub since: Option<NaiveDate>,
}

/// Whether a share or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    Share,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Share => "share",
        }
    }
}

/// One of the plan's targets (`shared/data/targets.tsv`).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The metric id of `targets.tsv`, e.g. `top_certificates_in_use`.
    pub id: String,
    pub title: String,
    pub year: i32,
    /// A count, or a share in 0–1.
    pub target: f64,
    pub unit: Unit,
    /// Written `target = "all"`: every certificate type of the catalogue, whose number
    /// `target` holds.
    pub all: bool,
}

/// The validated plan, indexed in catalogue order: certificate `i`, city `j` is cell
/// `i * cities + j`. Read-only after loading; a reload builds a new one.
#[derive(Debug, Clone)]
pub struct Plan {
    source: String,
    certificates: Vec<CertificateCode>,
    /// Per certificate (catalogue order): whether persons may hold it (person or either).
    personal: Vec<bool>,
    cities: Vec<CityCode>,
    scenarios: Vec<String>,
    certificate_index: HashMap<CertificateCode, usize>,
    city_index: HashMap<CityCode, usize>,
    scenario_index: HashMap<String, usize>,
    cells: Vec<Timeline>,
    /// Per city, per scenario (catalogue order): piloted there.
    pilots: Vec<Vec<bool>>,
    /// Per scenario: its requirements' certificate indexes.
    requirements: Vec<Vec<usize>>,
    targets: Vec<Target>,
}

/// Why a plan could not be loaded: the file could not be read, or every problem found. A bad
/// plan is the operator's fault: fix the file and reload (a running gateway keeps its plan).
pub type RolloutError = LoadError;

impl Plan {
    /// Reads and validates the plan at `path` against `catalogue`; errors name the file by
    /// its path.
    pub fn load(path: &Path, catalogue: &Catalogue) -> Result<Plan, RolloutError> {
        let text = std::fs::read_to_string(path).map_err(|source| RolloutError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Plan::parse(&text, &path.display().to_string(), catalogue)
    }

    /// Parses and validates a plan's text; `name` is what errors call the file.
    pub fn parse(text: &str, name: &str, catalogue: &Catalogue) -> Result<Plan, RolloutError> {
        load(text, name, catalogue)
    }

    /// The repository's `config/rollout.toml`, compiled in, against `catalogue`.
    ///
    /// # Panics
    /// When the embedded plan does not fit `catalogue`; a unit test loads it against the
    /// embedded catalogue, so only a gateway with its own catalogue folder can get here.
    pub fn embedded(catalogue: &Catalogue) -> Plan {
        match Plan::parse(EMBEDDED, "config/rollout.toml", catalogue) {
            Ok(p) => p,
            Err(e) => panic!("the embedded rollout plan (config/rollout.toml) is invalid:\n{e}"),
        }
    }

    /// What the plan was read from (a path, or `config/rollout.toml` for the embedded copy).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Certificate type codes, in catalogue order.
    pub fn certificates(&self) -> &[CertificateCode] {
        &self.certificates
    }

    /// City codes, in catalogue order.
    pub fn cities(&self) -> &[CityCode] {
        &self.cities
    }

    /// Scenario ids, in catalogue order.
    pub fn scenarios(&self) -> &[String] {
        &self.scenarios
    }

    /// Whether persons may hold certificate `certificate` (by index).
    pub fn is_personal(&self, certificate: usize) -> bool {
        self.personal.get(certificate).copied().unwrap_or(false)
    }

    /// The certificate type's index (catalogue order).
    pub fn certificate_index(&self, code: &str) -> Option<usize> {
        self.certificate_index.get(code).copied()
    }

    /// The city's index (catalogue order).
    pub fn city_index(&self, code: CityCode) -> Option<usize> {
        self.city_index.get(&code).copied()
    }

    /// The scenario's index (catalogue order).
    pub fn scenario_index(&self, id: &str) -> Option<usize> {
        self.scenario_index.get(id).copied()
    }

    /// (certificate, city) cells: certificates × cities.
    pub fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// The timeline of a cell, by indexes.
    pub fn timeline(&self, certificate: usize, city: usize) -> &[Step] {
        self.cells
            .get(certificate * self.cities.len() + city)
            .map_or(&[], |t| t)
    }

    /// The stage of a cell on `day`, by indexes.
    pub fn stage_on(&self, certificate: usize, city: usize, day: NaiveDate) -> StageOn {
        stage_on(self.timeline(certificate, city), day)
    }

    /// Whether city `city` (index) pilots scenario `scenario` (index).
    pub fn piloted(&self, city: usize, scenario: usize) -> bool {
        self.pilots
            .get(city)
            .and_then(|s| s.get(scenario))
            .copied()
            .unwrap_or(false)
    }

    /// The scenarios city `city` (index) pilots, in catalogue order.
    pub fn pilot_scenarios(&self, city: usize) -> impl Iterator<Item = &str> + '_ {
        self.scenarios
            .iter()
            .enumerate()
            .filter(move |(s, _)| self.piloted(city, *s))
            .map(|(_, id)| id.as_str())
    }

    /// Whether certificate `certificate` (index) is offered in city `city` (index) for scenario
    /// `scenario` (index) on `day`: live, or pilot and the city pilots the scenario.
    pub fn offered_at(
        &self,
        certificate: usize,
        city: usize,
        scenario: Option<usize>,
        day: NaiveDate,
    ) -> bool {
        match self.stage_on(certificate, city, day).stage {
            Stage::Live => true,
            Stage::Pilot => scenario.is_some_and(|s| self.piloted(city, s)),
            Stage::Planned => false,
        }
    }

    /// Whether `certificate` is offered in `city` for `scenario` on `day`, by codes. A
    /// certificate, city or scenario the plan does not know is `None`: the plan says nothing.
    pub fn offered(
        &self,
        certificate: &str,
        city: CityCode,
        scenario: &str,
        day: NaiveDate,
    ) -> Option<bool> {
        let c = self.certificate_index(certificate)?;
        let y = self.city_index(city)?;
        let s = self.scenario_index(scenario);
        Some(self.offered_at(c, y, s, day))
    }

    /// Whether every requirement of scenario `scenario` (index) is offered in city `city`
    /// (index) on `day`: the scenario is in use there.
    pub fn scenario_offered(&self, scenario: usize, city: usize, day: NaiveDate) -> bool {
        self.requirements.get(scenario).is_some_and(|certs| {
            certs
                .iter()
                .all(|&c| self.offered_at(c, city, Some(scenario), day))
        })
    }

    /// The plan's targets, in file order.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
}

/// The stage of `timeline` on `day`.
pub fn stage_on(timeline: &[Step], day: NaiveDate) -> StageOn {
    // Timelines have a handful of steps: a reverse scan beats a binary search.
    match timeline.iter().rev().find(|s| s.since <= day) {
        Some(step) => StageOn {
            stage: step.stage,
            since: Some(step.since),
        },
        None => StageOn {
            stage: Stage::Planned,
            since: None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------------------------

/// One step as written: `{ since = 2022-06-30, stage = "live" }`. Entries are deserialized
/// from a parsed `toml::Value`, which hands dates over as text: `since` is checked by [`date`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepEntry {
    since: String,
    stage: Stage,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsEntry {
    stages: Vec<StepEntry>,
}

/// `[[certificate]]`: one or more certificate types sharing a timeline, with per-city ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateEntry {
    codes: Vec<String>,
    /// Every city not given under `local`; default: `[defaults]`.
    stages: Option<Vec<StepEntry>>,
    #[serde(default)]
    local: Vec<LocalEntry>,
}

/// `[[certificate.local]]`: the timeline in some cities.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalEntry {
    cities: Vec<CityCode>,
    stages: Vec<StepEntry>,
}

/// `[[city]]`: what a city pilots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CityEntry {
    code: CityCode,
    #[serde(default)]
    pilot_scenarios: Vec<String>,
}

/// `[[target]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEntry {
    id: String,
    title: String,
    year: i32,
    target: TargetValue,
    unit: Unit,
}

/// A target's value: a number, or `"all"` (every certificate type of the catalogue).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TargetValue {
    Number(f64),
    Word(String),
}

#[derive(Default)]
struct Problems {
    file: String,
    list: Vec<Problem>,
}

impl Problems {
    fn file(&mut self, message: impl Into<String>) {
        self.list.push(Problem::in_file(&self.file, message));
    }

    fn entry(&mut self, entry: &str, message: impl Into<String>) {
        self.list
            .push(Problem::at_entry(&self.file, entry, message));
    }

    /// Deserializes `value` as a `T`, reporting a failure against `entry`.
    fn value<T: DeserializeOwned>(&mut self, entry: &str, value: &toml::Value) -> Option<T> {
        match T::deserialize(value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.entry(entry, one_line(e.message()));
                None
            }
        }
    }

    /// The entries of the array of tables `key`, each deserialized on its own and labelled by
    /// `label(entry, position)`.
    fn entries<T: DeserializeOwned>(
        &mut self,
        table: &toml::Table,
        key: &str,
        label: impl Fn(&toml::Value, usize) -> String,
    ) -> Vec<(String, T)> {
        let Some(value) = table.get(key) else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            self.file(format!("`{key}` must be an array of tables (`[[{key}]]`)"));
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let name = label(item, i);
                self.value(&name, item).map(|v| (name, v))
            })
            .collect()
    }
}

/// A TOML local date (`2022-06-30`) as a calendar date.
fn date(text: &str) -> Result<NaiveDate, String> {
    let only_date = text.len() == 10 && !text.contains(['T', 't', ' ', ':']);
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) if only_date => Ok(d),
        _ if !only_date && text.len() > 10 => Err(format!(
            "`since = {text}` must be a date such as 2022-06-30, without a time"
        )),
        _ => Err(format!("`since = {text}` is not a date such as 2022-06-30")),
    }
}

/// Checks a timeline (dates strictly increasing, no stage repeated from the step before) and
/// converts it; `what` names it in problems.
fn timeline(
    problems: &mut Problems,
    entry: &str,
    what: &str,
    steps: &[StepEntry],
) -> Option<Timeline> {
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    let mut ok = true;
    for (i, s) in steps.iter().enumerate() {
        let at = format!("{what}step {}", i + 1);
        let since = match date(&s.since) {
            Ok(d) => d,
            Err(msg) => {
                problems.entry(entry, format!("{at}: {msg}"));
                ok = false;
                continue;
            }
        };
        if let Some(prev) = out.last() {
            if since <= prev.since {
                problems.entry(
                    entry,
                    format!(
                        "{at}: `since = {since}` is not after the step before ({}); list steps \
                         oldest first",
                        prev.since
                    ),
                );
                ok = false;
            } else if s.stage == prev.stage {
                problems.entry(
                    entry,
                    format!(
                        "{at}: stage `{}` repeats the step before; remove one",
                        stage_name(s.stage)
                    ),
                );
                ok = false;
            }
        }
        out.push(Step {
            since,
            stage: s.stage,
        });
    }
    ok.then(|| out.into())
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Planned => "planned",
        Stage::Pilot => "pilot",
        Stage::Live => "live",
    }
}

fn is_metric_id(s: &str) -> bool {
    s.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn load(text: &str, name: &str, catalogue: &Catalogue) -> Result<Plan, RolloutError> {
    let mut problems = Problems {
        file: name.to_string(),
        list: Vec::new(),
    };
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            problems.file(syntax_error(text, &e));
            return Err(RolloutError::Invalid(problems.list));
        }
    };
    const KEYS: [&str; 4] = ["defaults", "certificate", "city", "target"];
    for key in table.keys() {
        if !KEYS.contains(&key.as_str()) {
            problems.file(format!(
                "unknown key `{key}`, expected `[defaults]`, `[[certificate]]`, `[[city]]` or \
                 `[[target]]`"
            ));
        }
    }

    let certificates: Vec<CertificateCode> = catalogue
        .certificates()
        .iter()
        .map(|c| c.code.clone())
        .collect();
    let cities: Vec<CityCode> = catalogue.cities().iter().map(|c| c.code).collect();
    let scenarios: Vec<String> = catalogue.scenarios().iter().map(|s| s.id.clone()).collect();
    let index = |items: &[CertificateCode]| -> HashMap<CertificateCode, usize> {
        items
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect()
    };
    let certificate_index = index(&certificates);
    let scenario_index = index(&scenarios);
    let city_index: HashMap<CityCode, usize> =
        cities.iter().enumerate().map(|(i, &c)| (c, i)).collect();

    // [defaults]
    let defaults: Timeline = match table.get("defaults") {
        None => {
            problems.file("missing `[defaults]` (the timeline of every cell not given otherwise)");
            Arc::from(Vec::new())
        }
        Some(v) => problems
            .value::<DefaultsEntry>("defaults", v)
            .and_then(|d| timeline(&mut problems, "defaults", "", &d.stages))
            .unwrap_or_else(|| Arc::from(Vec::new())),
    };
    let mut cells: Vec<Timeline> = vec![defaults; certificates.len() * cities.len()];

    // [[certificate]]
    let label = |item: &toml::Value, i: usize| match item
        .get("codes")
        .and_then(|c| c.as_array())
        .and_then(|c| c.first())
        .and_then(|c| c.as_str())
    {
        Some(code) => format!("certificate `{code}`"),
        None => format!("certificate #{}", i + 1),
    };
    let entries: Vec<(String, CertificateEntry)> = problems.entries(&table, "certificate", label);
    // certificate code → the entry that gave it first
    let mut given: HashMap<&str, &str> = HashMap::new();
    for (entry, c) in &entries {
        if c.codes.is_empty() {
            problems.entry(entry, "`codes` is empty");
        }
        let mut mine = Vec::with_capacity(c.codes.len());
        for code in &c.codes {
            match certificate_index.get(code) {
                None => problems.entry(
                    entry,
                    format!("unknown certificate `{code}` (certificates.toml)"),
                ),
                Some(&i) => match given.get(code.as_str()) {
                    Some(first) if *first == entry.as_str() => {
                        problems.entry(entry, format!("certificate `{code}` is listed twice"))
                    }
                    Some(first) => problems.entry(
                        entry,
                        format!("certificate `{code}` is already given by {first}"),
                    ),
                    None => {
                        given.insert(code, entry);
                        mine.push(i);
                    }
                },
            }
        }
        if let Some(stages) = &c.stages {
            if let Some(t) = timeline(&mut problems, entry, "", stages) {
                for &i in &mine {
                    for j in 0..cities.len() {
                        cells[i * cities.len() + j] = Arc::clone(&t);
                    }
                }
            }
        }
        let mut localised: HashSet<CityCode> = HashSet::new();
        for (k, local) in c.local.iter().enumerate() {
            let what = format!("local {}: ", k + 1);
            if local.cities.is_empty() {
                problems.entry(entry, format!("{what}`cities` is empty"));
            }
            let t = timeline(&mut problems, entry, &what, &local.stages);
            for city in &local.cities {
                let Some(&j) = city_index.get(city) else {
                    problems.entry(entry, format!("{what}unknown city `{city}` (cities.toml)"));
                    continue;
                };
                if !localised.insert(*city) {
                    problems.entry(
                        entry,
                        format!("{what}city `{city}` already has its own timeline"),
                    );
                    continue;
                }
                if let Some(t) = &t {
                    for &i in &mine {
                        cells[i * cities.len() + j] = Arc::clone(t);
                    }
                }
            }
        }
        if c.stages.is_none() && c.local.is_empty() {
            problems.entry(
                entry,
                "neither `stages` nor `[[certificate.local]]`: the entry changes nothing",
            );
        }
    }

    // [[city]]
    let city_label = |item: &toml::Value, i: usize| match item.get("code") {
        Some(toml::Value::Integer(n)) => format!("city `{n}`"),
        _ => format!("city #{}", i + 1),
    };
    let city_entries: Vec<(String, CityEntry)> = problems.entries(&table, "city", city_label);
    let mut pilots = vec![vec![false; scenarios.len()]; cities.len()];
    let mut seen_cities = HashSet::new();
    for (entry, c) in &city_entries {
        let j = city_index.get(&c.code).copied();
        if j.is_none() {
            problems.entry(entry, "unknown city (cities.toml)");
        } else if !seen_cities.insert(c.code) {
            problems.entry(entry, "duplicate city");
        }
        let mut listed = HashSet::new();
        for id in &c.pilot_scenarios {
            match scenario_index.get(id) {
                None => problems.entry(
                    entry,
                    format!("pilot_scenarios: unknown scenario `{id}` (scenarios.toml)"),
                ),
                Some(_) if !listed.insert(id.as_str()) => {
                    problems.entry(entry, format!("pilot_scenarios: `{id}` is listed twice"))
                }
                Some(&s) => {
                    if let Some(j) = j {
                        pilots[j][s] = true;
                    }
                }
            }
        }
    }

    // [[target]]
    let target_label = |item: &toml::Value, i: usize| match (
        item.get("id").and_then(|v| v.as_str()),
        item.get("year").and_then(|v| v.as_integer()),
    ) {
        (Some(id), Some(year)) => format!("target `{id}` {year}"),
        (Some(id), None) => format!("target `{id}`"),
        _ => format!("target #{}", i + 1),
    };
    let target_entries: Vec<(String, TargetEntry)> =
        problems.entries(&table, "target", target_label);
    let mut targets = Vec::with_capacity(target_entries.len());
    let mut seen_targets = HashSet::new();
    for (entry, t) in target_entries {
        if !is_metric_id(&t.id) {
            problems.entry(
                &entry,
                "an id is lower-case snake_case (`a-z`, `0-9`, `_`), as in targets.tsv",
            );
        }
        if t.title.trim().is_empty() {
            problems.entry(&entry, "`title` is empty");
        }
        if !(2000..=2100).contains(&t.year) {
            problems.entry(&entry, format!("`year = {}` is not plausible", t.year));
        }
        if !seen_targets.insert((t.id.clone(), t.year)) {
            problems.entry(&entry, "duplicate target (same id and year)");
        }
        let (target, all) = match (&t.target, t.unit) {
            (TargetValue::Number(n), _) => (*n, false),
            (TargetValue::Word(w), Unit::Count) if w == "all" => {
                (catalogue.certificates().len() as f64, true)
            }
            (TargetValue::Word(w), _) => {
                problems.entry(
                    &entry,
                    format!("`target = \"{w}\"`: a number, or \"all\" with `unit = \"count\"`"),
                );
                (0.0, false)
            }
        };
        let valid = match t.unit {
            Unit::Count => target.is_finite() && target >= 0.0,
            Unit::Share => (0.0..=1.0).contains(&target),
        };
        if !valid {
            let expected = match t.unit {
                Unit::Count => "a count is at least 0",
                Unit::Share => "a share is within 0–1 (99 % is 0.99)",
            };
            problems.entry(&entry, format!("`target = {target}`: {expected}"));
        }
        targets.push(Target {
            id: t.id,
            title: t.title,
            year: t.year,
            target,
            unit: t.unit,
            all,
        });
    }

    if !problems.list.is_empty() {
        return Err(RolloutError::Invalid(problems.list));
    }
    let personal = catalogue
        .certificates()
        .iter()
        .map(|c| matches!(c.holder, HolderKinds::Person | HolderKinds::Either))
        .collect();
    let requirements = catalogue
        .scenarios()
        .iter()
        .map(|s| {
            s.requirements
                .iter()
                .filter_map(|r| certificate_index.get(&r.certificate).copied())
                .collect()
        })
        .collect();
    Ok(Plan {
        source: name.to_string(),
        certificates,
        personal,
        cities,
        scenarios,
        certificate_index,
        city_index,
        scenario_index,
        cells,
        pilots,
        requirements,
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn catalogue() -> &'static Catalogue {
        static C: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();
        C.get_or_init(Catalogue::embedded)
    }

    fn parse(text: &str) -> Result<Plan, RolloutError> {
        Plan::parse(text, "rollout.toml", catalogue())
    }

    const LIVE_2022: &str = "[defaults]\nstages = [{ since = 2022-06-30, stage = \"live\" }]\n";

    #[test]
    fn the_embedded_plan_loads_and_shows_every_stage_today() {
        let plan = Plan::parse(EMBEDDED, "config/rollout.toml", catalogue())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.cell_count(), 50 * 16);
        let today = day("2026-11-26");
        let mut stages = HashSet::new();
        for c in 0..plan.certificates().len() {
            for y in 0..plan.cities().len() {
                stages.insert(plan.stage_on(c, y, today).stage);
            }
        }
        assert_eq!(stages.len(), 3, "{stages:?}");
        assert!(plan.targets().len() >= 5);
        let all = plan
            .targets()
            .iter()
            .find(|t| t.all)
            .expect("a target of every certificate");
        assert_eq!(
            (all.id.as_str(), all.year, all.target),
            ("top_certificates_in_use", 2025, 50.0)
        );
        // The demo venues' everyday scenarios are live everywhere.
        for y in 0..plan.cities().len() {
            for id in [
                "park-entry-senior",
                "hotel-check-in",
                "hospital-registration",
            ] {
                let s = plan.scenario_index(id).expect("scenario");
                assert!(plan.scenario_offered(s, y, today), "{id} in city #{y}");
            }
        }
    }

    #[test]
    fn stages_follow_the_timeline() {
        let text = format!(
            "{LIVE_2022}
[[certificate]]
codes = [\"business-licence\", \"food-business-licence\"]
stages = [{{ since = 2023-01-01, stage = \"pilot\" }}, {{ since = 2025-01-01, stage = \"live\" }}]
[[certificate.local]]
cities = [370200]
stages = []

[[city]]
code = 370100
pilot_scenarios = [\"food-stall-inspection\"]
"
        );
        let plan = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let id = plan.certificate_index("resident-id-card").expect("id card");
        let bl = plan.certificate_index("business-licence").expect("bl");
        let jinan = plan.city_index(370100).expect("jinan");
        let qingdao = plan.city_index(370200).expect("qingdao");
        let zibo = plan.city_index(370300).expect("zibo");
        let on = |c, y, d| plan.stage_on(c, y, day(d));
        assert_eq!(on(id, jinan, "2022-06-29").stage, Stage::Planned);
        assert_eq!(on(id, jinan, "2022-06-29").since, None);
        assert_eq!(
            on(id, jinan, "2022-06-30"),
            StageOn {
                stage: Stage::Live,
                since: Some(day("2022-06-30"))
            }
        );
        assert_eq!(on(bl, jinan, "2022-12-31").stage, Stage::Planned);
        assert_eq!(on(bl, jinan, "2023-01-01").stage, Stage::Pilot);
        assert_eq!(on(bl, jinan, "2026-01-01").stage, Stage::Live);
        assert_eq!(on(bl, qingdao, "2026-01-01").stage, Stage::Planned);

        let d = day("2024-01-01");
        let offered = |city| plan.offered("business-licence", city, "food-stall-inspection", d);
        assert_eq!(offered(370100), Some(true), "pilot, and Jinan pilots it");
        assert_eq!(offered(370300), Some(false), "pilot, and Zibo does not");
        assert_eq!(
            plan.offered("business-licence", 370100, "bid-qualification", d),
            Some(false)
        );
        assert_eq!(offered(110100), None, "not a city of the province");
        let stall = plan.scenario_index("food-stall-inspection").expect("stall");
        assert!(plan.scenario_offered(stall, jinan, d));
        assert!(!plan.scenario_offered(stall, zibo, d));
        assert_eq!(
            plan.pilot_scenarios(jinan).collect::<Vec<_>>(),
            ["food-stall-inspection"]
        );
    }

    #[test]
    fn invalid_plans_list_every_problem() {
        let cases: &[(&str, &str)] = &[
            ("defaults = 1\n[[nonsense]]\n", "unknown key `nonsense`"),
            ("[[certificate]]\ncodes = []\n", "missing `[defaults]`"),
            ("[defaults\n", "line 1, column"),
            (
                "[defaults]\nstages = [{ since = 2022-06-30, stage = \"everywhere\" }]\n",
                "defaults: unknown variant `everywhere`",
            ),
            (
                "[defaults]\nstages = [{ since = 2022-06-30T08:00:00, stage = \"live\" }]\n",
                "defaults: step 1: `since = 2022-06-30T08:00:00` must be a date",
            ),
            (
                "[defaults]\nstages = [{ since = 2023-01-01, stage = \"pilot\" }, { since = 2022-01-01, stage = \"live\" }]\n",
                "defaults: step 2: `since = 2022-01-01` is not after the step before (2023-01-01)",
            ),
            (
                "[defaults]\nstages = [{ since = 2022-01-01, stage = \"live\" }, { since = 2023-01-01, stage = \"live\" }]\n",
                "step 2: stage `live` repeats the step before",
            ),
            (
                "[defaults]\nstages = [{ since = 2022-01-01, stage = \"live\", note = \"x\" }]\n",
                "unknown field `note`",
            ),
            (
                "[[certificate]]\ncodes = [\"driving-licens\"]\nstages = []\n",
                "rollout.toml: certificate `driving-licens`: unknown certificate `driving-licens` (certificates.toml)",
            ),
            (
                "[[certificate]]\ncodes = [\"driving-licence\", \"driving-licence\"]\nstages = []\n",
                "certificate `driving-licence`: certificate `driving-licence` is listed twice",
            ),
            (
                "[[certificate]]\ncodes = [\"vehicle-licence\"]\nstages = []\n[[certificate]]\ncodes = [\"mining-licence\", \"vehicle-licence\"]\nstages = []\n",
                "certificate `mining-licence`: certificate `vehicle-licence` is already given by certificate `vehicle-licence`",
            ),
            (
                "[[certificate]]\ncodes = [\"vehicle-licence\"]\n",
                "the entry changes nothing",
            ),
            (
                "[[certificate]]\ncodes = [\"vehicle-licence\"]\n[[certificate.local]]\ncities = [370100, 999900]\nstages = []\n",
                "certificate `vehicle-licence`: local 1: unknown city `999900` (cities.toml)",
            ),
            (
                "[[certificate]]\ncodes = [\"vehicle-licence\"]\n[[certificate.local]]\ncities = [370100]\nstages = []\n[[certificate.local]]\ncities = [370100]\nstages = []\n",
                "local 2: city `370100` already has its own timeline",
            ),
            (
                "[[certificate]]\ncodes = [\"vehicle-licence\"]\n[[certificate.local]]\ncities = [370100]\nstages = [{ since = 2023-01-01, stage = \"live\" }, { since = 2022-01-01, stage = \"pilot\" }]\n",
                "local 1: step 2: `since = 2022-01-01` is not after",
            ),
            ("[[city]]\ncode = 110100\n", "city `110100`: unknown city (cities.toml)"),
            (
                "[[city]]\ncode = 370100\n[[city]]\ncode = 370100\n",
                "city `370100`: duplicate city",
            ),
            (
                "[[city]]\ncode = 370100\npilot_scenarios = [\"park-entry\", \"car-rental\", \"car-rental\"]\n",
                "pilot_scenarios: unknown scenario `park-entry` (scenarios.toml)",
            ),
            (
                "[[city]]\ncode = 370100\npilot_scenarios = [\"car-rental\", \"car-rental\"]\n",
                "pilot_scenarios: `car-rental` is listed twice",
            ),
            (
                "[[target]]\nid = \"sharing_demand_satisfaction_rate\"\ntitle = \"t\"\nyear = 2022\ntarget = 99.0\nunit = \"share\"\n",
                "target `sharing_demand_satisfaction_rate` 2022: `target = 99`: a share is within 0–1",
            ),
            (
                "[[target]]\nid = \"Top-50\"\ntitle = \" \"\nyear = 22\ntarget = 50.0\nunit = \"count\"\n",
                "lower-case snake_case",
            ),
            (
                "[[target]]\nid = \"x\"\ntitle = \"t\"\nyear = 2022\ntarget = 1.0\nunit = \"count\"\n[[target]]\nid = \"x\"\ntitle = \"t\"\nyear = 2022\ntarget = 2.0\nunit = \"count\"\n",
                "target `x` 2022: duplicate target",
            ),
            (
                "[[target]]\nid = \"x\"\ntitle = \"t\"\nyear = 2025\ntarget = \"all\"\nunit = \"share\"\n",
                "target `x` 2025: `target = \"all\"`: a number, or \"all\" with `unit = \"count\"`",
            ),
            (
                "[[target]]\nid = \"x\"\ntitle = \"t\"\nyear = 2022\ntarget = 1.0\nunit = \"percent\"\n",
                "unknown variant `percent`",
            ),
        ];
        for (text, expected) in cases {
            // Every case but those about `[defaults]` itself gets a valid one.
            let about_defaults = text.contains("[defaults")
                || text.contains("defaults =")
                || text.starts_with("[[certificate]]\ncodes = []");
            let text = if about_defaults {
                text.to_string()
            } else {
                format!("{LIVE_2022}{text}")
            };
            let err = parse(&text).expect_err(&text).to_string();
            assert!(err.contains(expected), "{text}\n---\n{err}");
            assert!(
                err.lines().all(|l| l.starts_with("rollout.toml: ")),
                "{err}"
            );
        }
        // Several problems are all reported, one a line.
        let err = parse(&format!(
            "{LIVE_2022}[[city]]\ncode = 1\n[[city]]\ncode = 370100\npilot_scenarios = [\"nope\"]\n"
        ))
        .expect_err("two problems");
        assert_eq!(err.problems().len(), 2, "{err}");
    }

    #[test]
    fn a_missing_file_says_which() {
        let err = Plan::load(Path::new("/no/such/rollout.toml"), catalogue()).expect_err("none");
        assert!(err.to_string().contains("/no/such/rollout.toml"), "{err}");
        assert!(err.problems().is_empty());
    }
}
