//! Reading the catalogue's five TOML files and validating them, together, before anything uses
//! them: parse each file, deserialize each entry on its own (so an error names the entry), build
//! the departments' concrete backends, then check every cross-reference. All problems found are
//! reported at once, each naming its file and entry, in cargo's style:
//!
//! ```text
//! scenarios.toml: scenario `car-rental`: requirement 1: unknown certificate `driving-licens`
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::model::{
    Backend, BackendScope, CertificateType, City, CityCode, DataLevel, Department, Endpoint,
    FieldKind, FieldSpec, HolderKind, HolderKinds, Predicate, Requirement, Scenario, ServiceItem,
    HOLDER_NAME,
};
pub use crate::file_problems::Problem;
use crate::file_problems::{one_line, syntax_error, LoadError};
use crate::ident;

mod service_items;

/// The catalogue's file names, as [`super::Catalogue::load`] looks for them in a folder.
pub const CERTIFICATES_FILE: &str = "certificates.toml";
/// See [`CERTIFICATES_FILE`].
pub const DEPARTMENTS_FILE: &str = "departments.toml";
/// See [`CERTIFICATES_FILE`].
pub const CITIES_FILE: &str = "cities.toml";
/// See [`CERTIFICATES_FILE`].
pub const SCENARIOS_FILE: &str = "scenarios.toml";
/// See [`CERTIFICATES_FILE`].
pub const SERVICE_ITEMS_FILE: &str = "service-items.toml";

/// The text of one catalogue file and the name errors call it by (a path or a bare file name).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// The texts of the five catalogue files, for [`super::Catalogue::from_sources`].
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub certificates: Source<'a>,
    pub departments: Source<'a>,
    pub cities: Source<'a>,
    pub scenarios: Source<'a>,
    pub service_items: Source<'a>,
}

/// Why a catalogue could not be loaded: a file could not be read, or every problem found.
pub type CatalogueError = LoadError;

/// The validated contents of the five files, in file order; [`super::Catalogue`] indexes them.
#[derive(Debug)]
pub(super) struct Parts {
    pub certificates: Vec<CertificateType>,
    pub departments: Vec<Department>,
    /// The national hub's index in `departments` (its last), if `departments.toml` has one.
    pub national_hub: Option<usize>,
    pub cities: Vec<City>,
    pub scenarios: Vec<Scenario>,
    pub service_items: Vec<ServiceItem>,
}

/// Parses and validates the five sources.
pub(super) fn load(src: &Sources<'_>) -> Result<Parts, CatalogueError> {
    let mut problems = Problems::default();

    // Shape: TOML syntax, top-level keys, each entry against its type (deny_unknown_fields).
    let cert_file = problems.table(&src.certificates, &["certificate"], &[]);
    let dept_file = problems.table(
        &src.departments,
        &["department"],
        &["province_code", "national_hub"],
    );
    let city_file = problems.table(&src.cities, &["city"], &[]);
    let scen_file = problems.table(&src.scenarios, &["scenario"], &[]);
    let item_file = problems.table(&src.service_items, &["item"], &[]);

    let certificates: Vec<CertificateType> =
        problems.entries(&src.certificates, cert_file.as_ref(), "certificate", "code");
    let departments: Vec<DepartmentEntry> =
        problems.entries(&src.departments, dept_file.as_ref(), "department", "id");
    let cities: Vec<City> = problems.entries(&src.cities, city_file.as_ref(), "city", "code");
    let scenarios: Vec<Scenario> =
        problems.entries(&src.scenarios, scen_file.as_ref(), "scenario", "id");
    let service_items: Vec<ServiceItem> =
        problems.entries(&src.service_items, item_file.as_ref(), "item", "no");
    let province_code = dept_file
        .as_ref()
        .and_then(|t| problems.province_code(&src.departments, t));
    let national_hub: Option<HubEntry> = dept_file
        .as_ref()
        .and_then(|t| problems.national_hub(&src.departments, t));
    // Cross-checks on half-read files would only report echoes of the problems above.
    problems.finish()?;

    let city_codes = check_cities(&mut problems, &src.cities, &cities, province_code);
    let mut departments = build_departments(
        &mut problems,
        &src.departments,
        departments,
        &city_codes,
        province_code.unwrap_or(0),
    );
    let national_hub = national_hub
        .and_then(|hub| build_national_hub(&mut problems, &src.departments, hub, &departments));
    check_certificates(
        &mut problems,
        &src.certificates,
        &certificates,
        &departments,
        national_hub.as_ref().map(|d| d.id.as_str()),
    );
    let national_hub = national_hub.map(|hub| {
        departments.push(hub);
        departments.len() - 1
    });
    check_scenarios(&mut problems, &src.scenarios, &scenarios, &certificates);
    service_items::check(
        &mut problems,
        &src.service_items,
        &service_items,
        &certificates,
    );
    problems.finish()?;

    Ok(Parts {
        certificates,
        departments,
        national_hub,
        cities,
        scenarios,
        service_items,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn file(&mut self, src: &Source<'_>, message: impl Into<String>) {
        self.0.push(Problem::in_file(src.name, message));
    }

    fn entry(&mut self, src: &Source<'_>, entry: &str, message: impl Into<String>) {
        self.0.push(Problem::at_entry(src.name, entry, message));
    }

    fn finish(&mut self) -> Result<(), CatalogueError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CatalogueError::Invalid(std::mem::take(&mut self.0)))
        }
    }

    /// Parses a file into a table and checks its top-level keys: `arrays` are arrays of tables
    /// (`[[certificate]]`), `scalars` anything else the file may hold.
    fn table(
        &mut self,
        src: &Source<'_>,
        arrays: &[&str],
        scalars: &[&str],
    ) -> Option<toml::Table> {
        let table: toml::Table = match toml::from_str(src.text) {
            Ok(t) => t,
            Err(e) => {
                self.file(src, syntax_error(src.text, &e));
                return None;
            }
        };
        for key in table.keys() {
            if !arrays.contains(&key.as_str()) && !scalars.contains(&key.as_str()) {
                let expected: Vec<String> = arrays
                    .iter()
                    .map(|a| format!("`[[{a}]]`"))
                    .chain(scalars.iter().map(|s| format!("`{s}`")))
                    .collect();
                self.file(
                    src,
                    format!("unknown key `{key}`, expected {}", expected.join(" or ")),
                );
            }
        }
        Some(table)
    }

    /// Deserializes each entry of the array of tables `key`, naming a failing entry by its
    /// `id_key` value if it has one, by its position otherwise.
    fn entries<T: DeserializeOwned + Serialize>(
        &mut self,
        src: &Source<'_>,
        table: Option<&toml::Table>,
        key: &str,
        id_key: &str,
    ) -> Vec<T> {
        let Some(value) = table.and_then(|t| t.get(key)) else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            self.file(
                src,
                format!("`{key}` must be an array of tables (`[[{key}]]`)"),
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let label = match item.get(id_key) {
                Some(toml::Value::String(s)) => format!("{key} `{s}`"),
                Some(toml::Value::Integer(n)) => format!("{key} `{n}`"),
                _ => format!("{key} #{}", i + 1),
            };
            if !item.is_table() {
                self.entry(src, &label, "expected a table");
                continue;
            }
            match T::deserialize(item.clone()) {
                Ok(v) => match ignored_key(item, &v) {
                    None => out.push(v),
                    Some(msg) => self.entry(src, &label, msg),
                },
                Err(e) => self.entry(src, &label, one_line(e.message())),
            }
        }
        out
    }

    fn province_code(&mut self, src: &Source<'_>, table: &toml::Table) -> Option<u32> {
        let code = match table.get("province_code") {
            None => {
                self.file(src, "missing `province_code`");
                return None;
            }
            Some(toml::Value::Integer(n)) => u32::try_from(*n).ok(),
            Some(_) => None,
        };
        match code {
            Some(c) if (110000..=829999).contains(&c) && c % 10000 == 0 => Some(c),
            _ => {
                self.file(
                    src,
                    "`province_code` must be a 6-digit GB/T 2260 province code such as `370000`",
                );
                None
            }
        }
    }

    /// The `[national_hub]` table, if the file has one.
    fn national_hub(&mut self, src: &Source<'_>, table: &toml::Table) -> Option<HubEntry> {
        let value = table.get("national_hub")?;
        if !value.is_table() {
            self.file(src, "`national_hub` must be a table (`[national_hub]`)");
            return None;
        }
        match HubEntry::deserialize(value.clone()) {
            Ok(hub) => Some(hub),
            Err(e) => {
                self.entry(src, "national_hub", one_line(e.message()));
                None
            }
        }
    }
}

/// A key of `original` that deserializing into `value` ignored, as a problem message.
///
/// `deny_unknown_fields` catches unknown keys almost everywhere, but serde lets them through on
/// the unit variants of internally tagged enums (`{ check = "valid-on-day", years = 60 }`). So the
/// value is serialized again and every key written must still be there.
fn ignored_key<T: Serialize>(original: &toml::Value, value: &T) -> Option<String> {
    fn walk(a: &toml::Value, b: &toml::Value, at: &mut Vec<String>) -> Option<String> {
        match (a, b) {
            (toml::Value::Table(a), toml::Value::Table(b)) => {
                for (k, v) in a {
                    let Some(w) = b.get(k) else {
                        let place = if at.is_empty() {
                            String::new()
                        } else {
                            format!(" (in {})", at.join(", "))
                        };
                        return Some(format!("unknown field `{k}`{place}"));
                    };
                    at.push(format!("`{k}`"));
                    let found = walk(v, w, at);
                    at.pop();
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (toml::Value::Array(a), toml::Value::Array(b)) if a.len() == b.len() => {
                // Name the element: `predicates` becomes `predicates` 2 while inside it.
                let name = at.pop().unwrap_or_default();
                let mut found = None;
                for (i, (v, w)) in a.iter().zip(b).enumerate() {
                    at.push(format!("{name} {}", i + 1));
                    found = walk(v, w, at);
                    at.pop();
                    if found.is_some() {
                        break;
                    }
                }
                at.push(name);
                found
            }
            _ => None,
        }
    }
    // A value that does not serialize to TOML cannot be compared; deserializing it was the check.
    let again = toml::Value::try_from(value).ok()?;
    walk(original, &again, &mut Vec::new())
}

/// A department as written in `departments.toml`; [`build_departments`] turns it into a
/// [`Department`] with concrete backends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentEntry {
    id: String,
    name_zh: String,
    name_en: String,
    objection_sla_hours: u32,
    province: BackendEntry,
    /// Default for every city.
    cities: Option<BackendEntry>,
    /// Per-city overrides (or the only city backends), keyed by city code.
    #[serde(default)]
    city: BTreeMap<String, BackendEntry>,
}

/// The national hub as written in `departments.toml` (`[national_hub]`): one backend that
/// answers for holders from another province.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HubEntry {
    id: String,
    name_zh: String,
    name_en: String,
    objection_sla_hours: u32,
    endpoint: String,
    unit_credit_code: Option<String>,
}

/// The GB/T 2260 region code the national hub's derived unit credit code carries (national
/// authorities' codes start `11100000`).
const NATIONAL_REGION: u32 = 100000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendEntry {
    endpoint: Option<String>,
    unit_credit_code: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

fn is_field_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn kind_name(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Date => "date",
        FieldKind::Text => "text",
        FieldKind::Integer => "integer",
        FieldKind::Enum { .. } => "enum",
        FieldKind::EnumSet { .. } => "enum-set",
        FieldKind::ResidentId => "resident-id",
        FieldKind::CreditCode => "credit-code",
    }
}

fn check_names(problems: &mut Problems, src: &Source<'_>, entry: &str, zh: &str, en: &str) {
    if zh.trim().is_empty() {
        problems.entry(src, entry, "`name_zh` is empty");
    }
    if en.trim().is_empty() {
        problems.entry(src, entry, "`name_en` is empty");
    }
}

/// Checks the cities; returns the valid, distinct city codes in ascending order (the others get
/// no backends, so their problems are not echoed by departments.toml).
fn check_cities(
    problems: &mut Problems,
    src: &Source<'_>,
    cities: &[City],
    province_code: Option<u32>,
) -> Vec<CityCode> {
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(cities.len());
    for city in cities {
        let entry = format!("city `{}`", city.code);
        if !(110000..=829999).contains(&city.code) || city.code % 100 != 0 || city.code % 10000 == 0
        {
            problems.entry(
                src,
                &entry,
                "a city code has 6 digits and ends in `00`, not `0000` (GB/T 2260)",
            );
        } else if province_code.is_some_and(|p| city.code / 10000 != p / 10000) {
            problems.entry(
                src,
                &entry,
                format!(
                    "not in province `{}` (`province_code` in departments.toml)",
                    province_code.unwrap_or_default()
                ),
            );
        } else if !seen.insert(city.code) {
            problems.entry(src, &entry, "duplicate city code");
        } else {
            valid.push(city.code);
        }
        check_names(problems, src, &entry, &city.name_zh, &city.name_en);
    }
    valid.sort_unstable();
    valid
}

/// An index by key where the first entry wins: a duplicate is reported once, where it is
/// defined, and references resolve to the first definition instead of echoing the problem.
fn first_wins<'a, T>(items: &'a [T], key: impl Fn(&'a T) -> &'a str) -> HashMap<&'a str, &'a T> {
    let mut map = HashMap::with_capacity(items.len());
    for item in items {
        map.entry(key(item)).or_insert(item);
    }
    map
}

/// Derives the unit credit code of a backend that does not give one: `11` (organ, government
/// body) + the region code + 9 digits from SHA-256 of `"<department>/<region>"` + the check
/// character. Stable across releases: issued e-licence identifiers embed it.
fn derived_unit_credit_code(department: &str, region: u32) -> String {
    let digest = Sha256::digest(format!("{department}/{region:06}").as_bytes());
    let mut body = format!("11{region:06}");
    body.extend(digest.iter().take(9).map(|b| char::from(b'0' + b % 10)));
    let check = ident::credit_code_check_char(&body);
    body.push(check);
    body
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    if s == "embedded" {
        return Ok(Endpoint::Embedded);
    }
    if s.contains("{city}") {
        return Err(format!(
            "endpoint `{s}`: `{{city}}` is only replaced in the `cities` default"
        ));
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && !r.contains(|c: char| c.is_whitespace() || c == '{' || c == '}') =>
        {
            Ok(Endpoint::Url(s.to_string()))
        }
        _ => Err(format!(
            "endpoint `{s}` is neither `embedded` nor an http(s) URL"
        )),
    }
}

fn build_departments(
    problems: &mut Problems,
    src: &Source<'_>,
    entries: Vec<DepartmentEntry>,
    city_codes: &[CityCode],
    province_code: u32,
) -> Vec<Department> {
    let mut seen_ids = HashSet::new();
    // unit credit code → the backend that uses it first
    let mut unit_codes: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());

    for d in entries {
        let entry = format!("department `{}`", d.id);
        if !is_slug(&d.id) {
            problems.entry(
                src,
                &entry,
                "an id is lower-case kebab-case (`a-z`, `0-9`, `-`)",
            );
        }
        if !seen_ids.insert(d.id.clone()) {
            problems.entry(src, &entry, "duplicate department id");
        }
        check_names(problems, src, &entry, &d.name_zh, &d.name_en);
        if d.objection_sla_hours == 0 {
            problems.entry(src, &entry, "`objection_sla_hours` must be at least 1");
        }

        let mut backends = Vec::with_capacity(1 + city_codes.len());
        let mut backend = |problems: &mut Problems,
                           what: &str,
                           scope: BackendScope,
                           region: u32,
                           endpoint: Option<&str>,
                           unit: Option<&str>| {
            let Some(endpoint) = endpoint else {
                problems.entry(src, &entry, format!("{what}: missing `endpoint`"));
                return;
            };
            let endpoint = match parse_endpoint(endpoint) {
                Ok(e) => e,
                Err(msg) => {
                    problems.entry(src, &entry, format!("{what}: {msg}"));
                    return;
                }
            };
            let unit_credit_code = match unit {
                Some(code) => match ident::parse_credit_code(code) {
                    Ok(c) => c.to_string(),
                    Err(e) => {
                        problems.entry(
                            src,
                            &entry,
                            format!("{what}: unit credit code `{code}`: {e}"),
                        );
                        return;
                    }
                },
                None => derived_unit_credit_code(&d.id, region),
            };
            let owner = format!("department `{}` {what}", d.id);
            if let Some(first) = unit_codes.get(&unit_credit_code) {
                problems.entry(
                    src,
                    &entry,
                    format!(
                        "{what}: unit credit code `{unit_credit_code}` is also used by {first}"
                    ),
                );
                return;
            }
            unit_codes.insert(unit_credit_code.clone(), owner);
            backends.push(Backend {
                department: d.id.clone(),
                scope,
                endpoint,
                unit_credit_code,
            });
        };

        backend(
            problems,
            "province backend",
            BackendScope::Province,
            province_code,
            d.province.endpoint.as_deref(),
            d.province.unit_credit_code.as_deref(),
        );

        if let Some(default) = &d.cities {
            if default.unit_credit_code.is_some() {
                problems.entry(
                    src,
                    &entry,
                    "`cities`: every city bureau has its own credit code; give \
                     `unit_credit_code` per city or leave it out to derive it",
                );
            }
            if default.endpoint.is_none() {
                problems.entry(src, &entry, "`cities`: missing `endpoint`");
            }
        }
        // The default endpoint for every city, if any (reported above when it is missing).
        let default_endpoint = d.cities.as_ref().and_then(|c| c.endpoint.as_deref());
        let mut overrides: BTreeMap<CityCode, &BackendEntry> = BTreeMap::new();
        for (key, b) in &d.city {
            match key.parse::<CityCode>() {
                Ok(code) if city_codes.binary_search(&code).is_ok() => {
                    overrides.insert(code, b);
                }
                _ => problems.entry(
                    src,
                    &entry,
                    format!("`city.{key}`: unknown city `{key}` (cities.toml)"),
                ),
            }
        }
        for &code in city_codes {
            let over = overrides.get(&code);
            if over.is_none() && default_endpoint.is_none() {
                continue;
            }
            let endpoint = over
                .and_then(|o| o.endpoint.clone())
                .or_else(|| default_endpoint.map(|e| e.replace("{city}", &code.to_string())));
            backend(
                problems,
                &format!("city `{code}` backend"),
                BackendScope::City(code),
                code,
                endpoint.as_deref(),
                over.and_then(|o| o.unit_credit_code.as_deref()),
            );
        }

        out.push(Department {
            id: d.id,
            name_zh: d.name_zh,
            name_en: d.name_en,
            objection_sla_hours: d.objection_sla_hours,
            backends,
        });
    }
    out
}

/// The national hub as a department with one backend of scope `national`, or `None` (reported)
/// when its entry is wrong or its id or unit credit code is taken by a department.
fn build_national_hub(
    problems: &mut Problems,
    src: &Source<'_>,
    hub: HubEntry,
    departments: &[Department],
) -> Option<Department> {
    let entry = "national_hub";
    let before = problems.0.len();
    if !is_slug(&hub.id) {
        problems.entry(
            src,
            entry,
            "an id is lower-case kebab-case (`a-z`, `0-9`, `-`)",
        );
    }
    if departments.iter().any(|d| d.id == hub.id) {
        problems.entry(
            src,
            entry,
            format!("id `{}` is also a department's", hub.id),
        );
    }
    check_names(problems, src, entry, &hub.name_zh, &hub.name_en);
    if hub.objection_sla_hours == 0 {
        problems.entry(src, entry, "`objection_sla_hours` must be at least 1");
    }
    let endpoint = parse_endpoint(&hub.endpoint)
        .map_err(|msg| problems.entry(src, entry, msg))
        .ok();
    let unit_credit_code = match &hub.unit_credit_code {
        Some(code) => ident::parse_credit_code(code)
            .map(|c| c.to_string())
            .map_err(|e| problems.entry(src, entry, format!("unit credit code `{code}`: {e}")))
            .ok(),
        None => Some(derived_unit_credit_code(&hub.id, NATIONAL_REGION)),
    };
    if let Some(code) = &unit_credit_code {
        let taken = departments
            .iter()
            .flat_map(|d| &d.backends)
            .any(|b| &b.unit_credit_code == code);
        if taken {
            problems.entry(
                src,
                entry,
                format!("unit credit code `{code}` is also used by a department's backend"),
            );
        }
    }
    if problems.0.len() > before {
        return None;
    }
    Some(Department {
        backends: vec![Backend {
            department: hub.id.clone(),
            scope: BackendScope::National,
            endpoint: endpoint?,
            unit_credit_code: unit_credit_code?,
        }],
        id: hub.id,
        name_zh: hub.name_zh,
        name_en: hub.name_en,
        objection_sla_hours: hub.objection_sla_hours,
    })
}

fn check_certificates(
    problems: &mut Problems,
    src: &Source<'_>,
    certificates: &[CertificateType],
    departments: &[Department],
    national_hub: Option<&str>,
) {
    let departments = first_wins(departments, |d| &d.id);
    let mut codes = HashSet::new();
    let mut numbers: HashMap<u32, &str> = HashMap::new();
    let mut type_codes: HashMap<&str, &str> = HashMap::new();

    for c in certificates {
        let entry = format!("certificate `{}`", c.code);
        let mut report = |msg: String| problems.entry(src, &entry, msg);
        if !is_slug(&c.code) {
            report("a code is lower-case kebab-case (`a-z`, `0-9`, `-`)".into());
        }
        if !codes.insert(c.code.as_str()) {
            report("duplicate certificate code".into());
        }
        if let Some(other) = numbers.insert(c.no, &c.code) {
            report(format!("`no = {}` is also used by `{other}`", c.no));
        }
        if c.name_zh.trim().is_empty() {
            report("`name_zh` is empty".into());
        }
        if c.name_en.trim().is_empty() {
            report("`name_en` is empty".into());
        }
        if c.cache_ttl_secs == 0 {
            report("`cache_ttl_secs` must be at least 1".into());
        }
        match ident::parse_licence_type_code(&c.licence_type_code) {
            Err(e) => report(format!(
                "`licence_type_code` `{}` is not an 18-character credit code and a 3-digit \
                 sequence: {e}",
                c.licence_type_code
            )),
            Ok(_) => {
                if let Some(other) = type_codes.insert(&c.licence_type_code, &c.code) {
                    report(format!(
                        "`licence_type_code` `{}` is also used by `{other}`",
                        c.licence_type_code
                    ));
                }
            }
        }

        if c.departments.is_empty() {
            report("`departments` is empty: the first department answers for the type".into());
        }
        let mut listed = HashSet::new();
        for id in &c.departments {
            if !listed.insert(id.as_str()) {
                report(format!("department `{id}` is listed twice"));
            }
            if Some(id.as_str()) == national_hub {
                report(format!(
                    "`{id}` is the national hub, which answers for other provinces' holders, \
                     not an issuing department"
                ));
                continue;
            }
            match departments.get(id.as_str()) {
                None => report(format!("unknown department `{id}`")),
                Some(d) if c.level == DataLevel::City => {
                    let has_city = d
                        .backends
                        .iter()
                        .any(|b| matches!(b.scope, BackendScope::City(_)));
                    if !has_city {
                        report(format!(
                            "city-level, but department `{id}` has no city backends \
                             (departments.toml)"
                        ));
                    }
                }
                Some(_) => {}
            }
        }

        let mut names = HashSet::new();
        for field in &c.fields {
            check_field(field, &mut names, &mut report);
        }
    }
}

fn check_field<'a>(
    field: &'a FieldSpec,
    names: &mut HashSet<&'a str>,
    report: &mut impl FnMut(String),
) {
    let name = &field.name;
    if !is_field_name(name) {
        report(format!(
            "field `{name}`: a field name is lower-case snake_case (`a-z`, `0-9`, `_`)"
        ));
    }
    if !names.insert(name.as_str()) {
        report(format!("field `{name}` is defined twice"));
    }
    if name == HOLDER_NAME {
        report(format!(
            "field `{HOLDER_NAME}` is reserved: every record carries the holder's name"
        ));
    }
    if name == "birth_date" && field.kind != FieldKind::Date {
        report(format!(
            "field `birth_date` must be of kind `date`, not `{}`",
            kind_name(&field.kind)
        ));
    }
    if let FieldKind::Enum { values } | FieldKind::EnumSet { values } = &field.kind {
        if values.is_empty() {
            report(format!("field `{name}`: `values` is empty"));
        }
        let mut seen = HashSet::new();
        for v in values {
            if v.trim().is_empty() {
                report(format!("field `{name}`: empty value"));
            } else if !seen.insert(v.as_str()) {
                report(format!("field `{name}`: value `{v}` is listed twice"));
            }
        }
    }
}

fn holder_fits(scenario: HolderKind, certificate: HolderKinds) -> bool {
    matches!(
        (scenario, certificate),
        (_, HolderKinds::Either)
            | (HolderKind::Person, HolderKinds::Person)
            | (HolderKind::Organisation, HolderKinds::Organisation)
    )
}

fn holder_name(h: HolderKinds) -> &'static str {
    match h {
        HolderKinds::Person => "persons",
        HolderKinds::Organisation => "organisations",
        HolderKinds::Either => "persons and organisations",
    }
}

fn check_scenarios(
    problems: &mut Problems,
    src: &Source<'_>,
    scenarios: &[Scenario],
    certificates: &[CertificateType],
) {
    let certificates = first_wins(certificates, |c| &c.code);
    let mut ids = HashSet::new();
    for s in scenarios {
        let entry = format!("scenario `{}`", s.id);
        if !is_slug(&s.id) {
            problems.entry(
                src,
                &entry,
                "an id is lower-case kebab-case (`a-z`, `0-9`, `-`)",
            );
        }
        if !ids.insert(s.id.as_str()) {
            problems.entry(src, &entry, "duplicate scenario id");
        }
        check_names(problems, src, &entry, &s.name_zh, &s.name_en);
        if s.requirements.is_empty() {
            problems.entry(
                src,
                &entry,
                "`requirements` is empty: a scenario requires at least one certificate",
            );
        }
        let mut required = HashSet::new();
        for (i, r) in s.requirements.iter().enumerate() {
            let mut report = |msg: String| {
                problems.entry(src, &entry, format!("requirement {}: {msg}", i + 1));
            };
            let Some(cert) = certificates.get(r.certificate.as_str()) else {
                report(format!("unknown certificate `{}`", r.certificate));
                continue;
            };
            if !required.insert(r.certificate.as_str()) {
                report(format!(
                    "certificate `{}` is required twice; put its predicates in one requirement",
                    r.certificate
                ));
            }
            if !holder_fits(s.holder, cert.holder) {
                let scenario_holder = match s.holder {
                    HolderKind::Person => "persons",
                    HolderKind::Organisation => "organisations",
                };
                report(format!(
                    "certificate `{}` is held by {}, but the scenario is for {scenario_holder}",
                    cert.code,
                    holder_name(cert.holder)
                ));
            }
            check_requirement(r, cert, s.holder, &mut report);
        }
    }
}

fn check_requirement(
    r: &Requirement,
    cert: &CertificateType,
    holder: HolderKind,
    report: &mut impl FnMut(String),
) {
    let field = |name: &str| cert.fields.iter().find(|f| f.name == name);
    for (j, p) in r.predicates.iter().enumerate() {
        let (check, name) = match p {
            Predicate::ValidOnDay => continue,
            Predicate::AgeAtLeast { field, .. } => ("age-at-least", field),
            Predicate::Covers { field, .. } => ("covers", field),
            Predicate::OneOf { field, .. } => ("one-of", field),
        };
        let at = format!("predicate {} (`{check}`)", j + 1);
        let Some(spec) = field(name) else {
            report(format!("{at}: `{name}` is not a field of `{}`", cert.code));
            continue;
        };
        let kind = kind_name(&spec.kind);
        match (p, &spec.kind) {
            (Predicate::AgeAtLeast { years, .. }, FieldKind::Date) => {
                if *years == 0 || *years > 150 {
                    report(format!("{at}: `years = {years}` is not a plausible age"));
                }
            }
            (Predicate::Covers { value, .. }, FieldKind::EnumSet { values }) => {
                if !values.contains(value) {
                    report(format!(
                        "{at}: `{value}` is not a value of field `{name}` ({})",
                        values.join(", ")
                    ));
                }
            }
            (Predicate::OneOf { values: wanted, .. }, FieldKind::Enum { values }) => {
                if wanted.is_empty() {
                    report(format!("{at}: `values` is empty"));
                }
                for v in wanted.iter().filter(|v| !values.contains(v)) {
                    report(format!(
                        "{at}: `{v}` is not a value of field `{name}` ({})",
                        values.join(", ")
                    ));
                }
            }
            (Predicate::AgeAtLeast { .. }, _) => report(format!(
                "{at}: field `{name}` is of kind `{kind}`; `age-at-least` needs a `date` field"
            )),
            (Predicate::Covers { .. }, _) => report(format!(
                "{at}: field `{name}` is of kind `{kind}`; `covers` needs an `enum-set` field"
            )),
            (Predicate::OneOf { .. }, _) => report(format!(
                "{at}: field `{name}` is of kind `{kind}`; `one-of` needs an `enum` field"
            )),
            (Predicate::ValidOnDay, _) => {}
        }
    }
    check_disclose(r, cert, holder, report);
}

/// What a requirement discloses: fields of its certificate, and only under a recorded legal
/// basis a resident ID number or a person's full name.
fn check_disclose(
    r: &Requirement,
    cert: &CertificateType,
    holder: HolderKind,
    report: &mut impl FnMut(String),
) {
    let basis = r.legal_basis();
    if r.legal_basis.is_some() && basis.is_none() {
        report("`legal_basis` is empty: cite the provision, or leave it out".into());
    }
    let mut disclosed = HashSet::new();
    for name in &r.disclose {
        let refusal = if name == HOLDER_NAME {
            match (holder, basis) {
                (HolderKind::Organisation, _) => Some(format!(
                    "disclose: `{HOLDER_NAME}`: an organisation's registered name is always \
                     given in full"
                )),
                (HolderKind::Person, None) => Some(format!(
                    "disclose: `{HOLDER_NAME}` (the holder's full name) needs a recorded \
                     `legal_basis`; without one the name is given masked"
                )),
                (HolderKind::Person, Some(_)) => None,
            }
        } else {
            match cert.fields.iter().find(|f| &f.name == name) {
                None => Some(format!(
                    "disclose: `{name}` is not a field of `{}`",
                    cert.code
                )),
                Some(spec) if spec.kind == FieldKind::ResidentId && basis.is_none() => {
                    Some(format!(
                        "disclose: `{name}` is a resident ID number, disclosed only under a \
                         recorded `legal_basis`"
                    ))
                }
                Some(_) => None,
            }
        };
        match refusal {
            Some(msg) => report(msg),
            None if !disclosed.insert(name.as_str()) => {
                report(format!("disclose: `{name}` is listed twice"));
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_unit_codes_are_valid_and_stable() {
        let a = derived_unit_credit_code("public-security", 370000);
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("11370000"));
        assert!(ident::parse_credit_code(&a).is_ok(), "{a}");
        assert_eq!(a, derived_unit_credit_code("public-security", 370000));
        assert_ne!(a, derived_unit_credit_code("public-security", 370200));
        assert_ne!(a, derived_unit_credit_code("health", 370000));
    }

    #[test]
    fn endpoints() {
        assert_eq!(parse_endpoint("embedded"), Ok(Endpoint::Embedded));
        assert_eq!(
            parse_endpoint("https://ps.example/v1"),
            Ok(Endpoint::Url("https://ps.example/v1".into()))
        );
        for bad in [
            "",
            "embeded",
            "ftp://x",
            "https://",
            "https:///x",
            "http://a b",
            "http://{city}",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_and_field_names() {
        assert!(is_slug("resident-id-card"));
        assert!(is_slug("a1"));
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", "a b"] {
            assert!(!is_slug(bad), "{bad}");
        }
        assert!(is_field_name("birth_date"));
        for bad in ["", "_a", "1a", "a-b", "A"] {
            assert!(!is_field_name(bad), "{bad}");
        }
    }
}
