//! The catalogue: what the province's certificates are, who issues them and which backend
//! answers for which holder, which scenarios venues may run, and the service items they feed.
//!
//! It is read from five files in `config/` (`certificates.toml`, `departments.toml`,
//! `cities.toml`, `scenarios.toml`, `service-items.toml`), validated as a whole (`load.rs`) and
//! then only read: look-ups by code are hash-map hits, so the verify path may call them per
//! request. [`Catalogue::embedded`] is the repository's own `config/`, compiled in, for tests, the
//! issuer's demo mode and the load tester.

mod coverage;
mod load;
pub mod model;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use coverage::Coverage;
pub use load::{
    CatalogueError, Problem, Source, Sources, CERTIFICATES_FILE, CITIES_FILE, DEPARTMENTS_FILE,
    SCENARIOS_FILE, SERVICE_ITEMS_FILE,
};
pub use model::*;

/// The validated catalogue with its indexes. Cheap to share behind an `Arc`; a reload builds a
/// new one (and a failed reload keeps the old).
#[derive(Debug, Clone)]
pub struct Catalogue {
    certificates: Vec<CertificateType>,
    departments: Vec<Department>,
    cities: Vec<City>,
    scenarios: Vec<Scenario>,
    service_items: Vec<ServiceItem>,
    certificate_index: HashMap<CertificateCode, usize>,
    department_index: HashMap<DepartmentId, usize>,
    city_index: HashMap<CityCode, usize>,
    scenario_index: HashMap<String, usize>,
    service_item_index: HashMap<u32, usize>,
    /// Per certificate (same order as `certificates`): the index of its answering department.
    answering: Vec<usize>,
    /// (department index, scope) → index into that department's `backends`.
    backend_index: HashMap<(usize, BackendScope), usize>,
    /// The national hub's index in `departments`, if there is one.
    national_hub: Option<usize>,
    /// The province's GB/T 2260 code divided by 10 000 (`37`), from its cities.
    province_prefix: Option<CityCode>,
}

/// Where to ask for one holder's record of one certificate type (see [`Catalogue::route_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'c> {
    /// The backend that holds the record unless `index` says otherwise: the first department's,
    /// at the province or in the holder's home city; the national hub for a holder from
    /// another province.
    pub backend: &'c Backend,
    /// When another backend may hold the record (a type with two issuing departments, a
    /// city-level type, which may be registered in a city other than the home city): the
    /// backend whose index says which one does — the first department's province backend.
    pub index: Option<&'c Backend>,
}

/// Why no backend answers for a certificate and holder (see [`Catalogue::backend_for`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The certificate type is not in the catalogue: a scenario or caller is out of date.
    #[error("unknown certificate type `{0}`")]
    UnknownCertificate(String),
    /// A city-level certificate was asked for a holder whose code carries no home city.
    #[error(
        "certificate `{certificate}` is held by city backends, but the holder has no home city"
    )]
    NoHolderCity { certificate: CertificateCode },
    /// The holder's home city is not a GB/T 2260 city code, or is in this province but not one
    /// of the catalogue's cities.
    #[error("unknown city `{0}`")]
    UnknownCity(CityCode),
    /// The holder is from another province, and the catalogue has no national hub to ask.
    #[error("city `{0}` is in another province, and there is no national hub to ask")]
    NoNationalHub(CityCode),
    /// The answering department has no backend for the holder's city (not rolled out there).
    #[error("department `{department}` has no backend for city `{city}`")]
    NoCityBackend {
        department: DepartmentId,
        city: CityCode,
    },
}

impl RouteError {
    /// The stable machine code of this failure, e.g. `route.no_holder_city`.
    pub fn code(&self) -> &'static str {
        match self {
            RouteError::UnknownCertificate(_) => "route.unknown_certificate",
            RouteError::NoHolderCity { .. } => "route.no_holder_city",
            RouteError::UnknownCity(_) => "route.unknown_city",
            RouteError::NoNationalHub(_) => "route.no_national_hub",
            RouteError::NoCityBackend { .. } => "route.no_city_backend",
        }
    }
}

macro_rules! embedded_source {
    ($file:literal) => {
        Source {
            name: concat!("config/", $file),
            text: include_str!(concat!("../../../config/", $file)),
        }
    };
}

/// The repository's `config/` files, compiled in: what [`Catalogue::embedded`] is made of, for
/// a tool that writes an edited copy (`loadtest memory` points every department at one process).
pub const EMBEDDED: Sources<'static> = Sources {
    certificates: embedded_source!("certificates.toml"),
    departments: embedded_source!("departments.toml"),
    cities: embedded_source!("cities.toml"),
    scenarios: embedded_source!("scenarios.toml"),
    service_items: embedded_source!("service-items.toml"),
};

impl Sources<'_> {
    /// Writes the five texts into `dir` under their file names: a copy of the catalogue to
    /// edit and load (what an operator tool or a test starts from).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        for (file, source) in [
            (CERTIFICATES_FILE, &self.certificates),
            (DEPARTMENTS_FILE, &self.departments),
            (CITIES_FILE, &self.cities),
            (SCENARIOS_FILE, &self.scenarios),
            (SERVICE_ITEMS_FILE, &self.service_items),
        ] {
            std::fs::write(dir.join(file), source.text)?;
        }
        Ok(())
    }
}

impl Catalogue {
    /// Reads and validates the five catalogue files in `dir` (named as in [`CERTIFICATES_FILE`]
    /// and its siblings). Errors name each file by its path.
    pub fn load(dir: &Path) -> Result<Catalogue, CatalogueError> {
        let read = |file: &str| {
            let path = dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok((path.display().to_string(), text)),
                Err(source) => Err(CatalogueError::Read { path, source }),
            }
        };
        let files = [
            read(CERTIFICATES_FILE)?,
            read(DEPARTMENTS_FILE)?,
            read(CITIES_FILE)?,
            read(SCENARIOS_FILE)?,
            read(SERVICE_ITEMS_FILE)?,
        ];
        let src = |i: usize| Source {
            name: &files[i].0,
            text: &files[i].1,
        };
        Catalogue::from_sources(&Sources {
            certificates: src(0),
            departments: src(1),
            cities: src(2),
            scenarios: src(3),
            service_items: src(4),
        })
    }

    /// The catalogue files in `dir` whose text differs from the embedded catalogue's (a file
    /// that is not there is not listed): edits that a gateway running on the embedded
    /// catalogue does not see, so it can say so instead of ignoring them silently.
    pub fn edited_copies_in(dir: &Path) -> Vec<PathBuf> {
        [
            (CERTIFICATES_FILE, EMBEDDED.certificates),
            (DEPARTMENTS_FILE, EMBEDDED.departments),
            (CITIES_FILE, EMBEDDED.cities),
            (SCENARIOS_FILE, EMBEDDED.scenarios),
            (SERVICE_ITEMS_FILE, EMBEDDED.service_items),
        ]
        .into_iter()
        .filter_map(|(file, embedded)| {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).ok()?;
            (text != embedded.text).then_some(path)
        })
        .collect()
    }

    /// Parses and validates the catalogue from the files' texts.
    pub fn from_sources(src: &Sources<'_>) -> Result<Catalogue, CatalogueError> {
        load::load(src).map(Catalogue::index)
    }

    /// The repository's own `config/` catalogue, compiled into the binary.
    ///
    /// # Panics
    /// Never in a released build: a unit test loads it, so an invalid `config/` fails the tests.
    pub fn embedded() -> Catalogue {
        match Catalogue::from_sources(&EMBEDDED) {
            Ok(c) => c,
            Err(e) => panic!("the embedded catalogue (config/) is invalid:\n{e}"),
        }
    }

    fn index(parts: load::Parts) -> Catalogue {
        fn by<K: std::hash::Hash + Eq, T>(items: &[T], key: impl Fn(&T) -> K) -> HashMap<K, usize> {
            items.iter().enumerate().map(|(i, t)| (key(t), i)).collect()
        }
        let certificate_index = by(&parts.certificates, |c| c.code.clone());
        let department_index = by(&parts.departments, |d| d.id.clone());
        // Validation guarantees every certificate names at least one known department.
        let answering = parts
            .certificates
            .iter()
            .map(|c| {
                c.departments
                    .first()
                    .and_then(|d| department_index.get(d))
                    .copied()
                    .unwrap_or(usize::MAX)
            })
            .collect();
        let backend_index = parts
            .departments
            .iter()
            .enumerate()
            .flat_map(|(d, dept)| {
                dept.backends
                    .iter()
                    .enumerate()
                    .map(move |(b, backend)| ((d, backend.scope), b))
            })
            .collect();
        Catalogue {
            national_hub: parts.national_hub,
            province_prefix: parts.cities.first().map(|c| c.code / 10_000),
            city_index: by(&parts.cities, |c| c.code),
            scenario_index: by(&parts.scenarios, |s| s.id.clone()),
            service_item_index: by(&parts.service_items, |i| i.no),
            certificate_index,
            department_index,
            answering,
            backend_index,
            certificates: parts.certificates,
            departments: parts.departments,
            cities: parts.cities,
            scenarios: parts.scenarios,
            service_items: parts.service_items,
        }
    }

    /// All certificate types, in file order.
    pub fn certificates(&self) -> &[CertificateType] {
        &self.certificates
    }

    /// The certificate type with this code.
    pub fn certificate(&self, code: &str) -> Option<&CertificateType> {
        self.certificate_index
            .get(code)
            .map(|&i| &self.certificates[i])
    }

    /// All departments, in file order.
    pub fn departments(&self) -> &[Department] {
        &self.departments
    }

    /// The department with this id.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.department_index.get(id).map(|&i| &self.departments[i])
    }

    /// All cities, in file order.
    pub fn cities(&self) -> &[City] {
        &self.cities
    }

    /// The city with this GB/T 2260 code.
    pub fn city(&self, code: CityCode) -> Option<&City> {
        self.city_index.get(&code).map(|&i| &self.cities[i])
    }

    /// All scenarios, in file order.
    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// The scenario with this id.
    pub fn scenario(&self, id: &str) -> Option<&Scenario> {
        self.scenario_index.get(id).map(|&i| &self.scenarios[i])
    }

    /// All service items, in file order.
    pub fn service_items(&self) -> &[ServiceItem] {
        &self.service_items
    }

    /// The service item with this Annex 1 row number.
    pub fn service_item(&self, no: u32) -> Option<&ServiceItem> {
        self.service_item_index
            .get(&no)
            .map(|&i| &self.service_items[i])
    }

    /// The national hub: the department whose one backend answers for holders from another
    /// province, if `departments.toml` has one. It is also among [`Catalogue::departments`].
    pub fn national_hub(&self) -> Option<&Department> {
        self.national_hub.map(|i| &self.departments[i])
    }

    /// Where to ask for `certificate` for a holder of home city `holder_city` (the code's
    /// claim):
    /// - a holder from another province (a valid GB/T 2260 city code outside this province):
    ///   the national hub, for every type;
    /// - province and province-and-city levels: the first department's province backend;
    /// - city level: the first department's backend in the holder's home city (error if the
    ///   code names no city, or one of this province that is not in `cities.toml`).
    ///
    /// Where the record may be held elsewhere — by the second issuing department, or
    /// registered in another city — the route names the index to ask ([`Route::index`]). No
    /// I/O: hash-map look-ups only.
    pub fn route_for(
        &self,
        certificate: &str,
        holder_city: Option<CityCode>,
    ) -> Result<Route<'_>, RouteError> {
        let &c = self
            .certificate_index
            .get(certificate)
            .ok_or_else(|| RouteError::UnknownCertificate(certificate.to_string()))?;
        let cert = &self.certificates[c];
        if let Some(city) = holder_city.filter(|&city| !self.city_index.contains_key(&city)) {
            if is_gb2260_city(city) && Some(city / 10_000) != self.province_prefix {
                let hub = self.national_hub().ok_or(RouteError::NoNationalHub(city))?;
                // Validation gives the hub exactly one backend.
                return Ok(Route {
                    backend: &hub.backends[0],
                    index: None,
                });
            }
            // Not a city at all, or not one of this province's: only city-level types need it.
            if cert.level == DataLevel::City {
                return Err(RouteError::UnknownCity(city));
            }
        }
        let d = self.answering[c];
        let dept = &self.departments[d];
        let scope = match cert.level {
            DataLevel::Province | DataLevel::ProvinceAndCity => BackendScope::Province,
            DataLevel::City => {
                BackendScope::City(holder_city.ok_or_else(|| RouteError::NoHolderCity {
                    certificate: cert.code.clone(),
                })?)
            }
        };
        let backend = match self.backend_index.get(&(d, scope)) {
            Some(&b) => &dept.backends[b],
            // Validation requires every department's province backend, so only a city can miss.
            None => {
                return Err(RouteError::NoCityBackend {
                    department: dept.id.clone(),
                    city: holder_city.unwrap_or_default(),
                })
            }
        };
        Ok(Route {
            backend,
            index: self.index_of(cert),
        })
    }

    /// The backend that holds `certificate` for a holder of home city `holder_city` when
    /// nothing else is known: [`Catalogue::route_for`]'s [`Route::backend`].
    pub fn backend_for(
        &self,
        certificate: &str,
        holder_city: Option<CityCode>,
    ) -> Result<&Backend, RouteError> {
        self.route_for(certificate, holder_city).map(|r| r.backend)
    }

    /// The backend whose index says where a holder's record of `certificate` is held — its
    /// first department's province backend — for a type that another backend may hold (two
    /// issuing departments, or city level); `None` for the others.
    pub fn index_of(&self, certificate: &CertificateType) -> Option<&Backend> {
        if certificate.departments.len() < 2 && certificate.level != DataLevel::City {
            return None;
        }
        let d = *self
            .department_index
            .get(certificate.departments.first()?)?;
        let &b = self.backend_index.get(&(d, BackendScope::Province))?;
        Some(&self.departments[d].backends[b])
    }

    /// The backend of `department` at `scope`, if it may hold records of `certificate`: the
    /// department issues the type, and the scope fits its level (a city for city-level types,
    /// the province for the others). What an index's answer is checked against.
    pub fn holding_backend(
        &self,
        certificate: &CertificateType,
        department: &str,
        scope: BackendScope,
    ) -> Option<&Backend> {
        let fits = match scope {
            BackendScope::Province => certificate.level != DataLevel::City,
            BackendScope::City(_) => certificate.level == DataLevel::City,
            BackendScope::National => false,
        };
        if !fits || !certificate.departments.iter().any(|d| d == department) {
            return None;
        }
        let &d = self.department_index.get(department)?;
        let &b = self.backend_index.get(&(d, scope))?;
        Some(&self.departments[d].backends[b])
    }

    /// The certificate types a given backend may hold records of (by department and scope):
    /// the types `department` issues (first or second), province and province-and-city types
    /// for its province backend, city types for a city backend; every type for the national
    /// hub. Empty if there is no such backend.
    pub fn certificates_of(&self, department: &str, scope: BackendScope) -> Vec<&CertificateType> {
        let Some(&d) = self.department_index.get(department) else {
            return Vec::new();
        };
        if !self.backend_index.contains_key(&(d, scope)) {
            return Vec::new();
        }
        self.certificates
            .iter()
            .filter(|cert| match scope {
                BackendScope::National => true,
                BackendScope::Province => {
                    cert.level != DataLevel::City
                        && cert.departments.iter().any(|x| x == department)
                }
                BackendScope::City(_) => {
                    cert.level == DataLevel::City
                        && cert.departments.iter().any(|x| x == department)
                }
            })
            .collect()
    }

    /// The certificate types whose index `department`'s province backend keeps (see
    /// [`Catalogue::index_of`]).
    pub fn indexed_by(&self, department: &str) -> Vec<&CertificateType> {
        self.certificates
            .iter()
            .filter(|cert| {
                self.index_of(cert)
                    .is_some_and(|index| index.department == department)
            })
            .collect()
    }
}

/// Whether `code` is a GB/T 2260 code of a prefecture-level division (or one directly under
/// its province): a province prefix in use (`11`–`65`, `71`, `81`, `82`) and a non-zero
/// rest. `370000` (a province) and `990100` are not.
pub fn is_gb2260_city(code: CityCode) -> bool {
    const PROVINCES: [CityCode; 34] = [
        11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51,
        52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
    ];
    (100_000..1_000_000).contains(&code)
        && code % 10_000 != 0
        && PROVINCES.contains(&(code / 10_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_loads() {
        let c = Catalogue::from_sources(&EMBEDDED).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.certificates().len(), 50);
        assert_eq!(c.cities().len(), 16);
        assert_eq!(c.service_items().len(), 500);
        assert!(c.scenarios().len() >= 12);
        // The 13 issuing departments and the national hub.
        assert_eq!(c.departments().len(), 14);
        assert_eq!(
            c.national_hub().map(|d| d.id.as_str()),
            Some("national-hub")
        );
    }

    #[test]
    fn only_catalogue_files_that_differ_from_the_embedded_ones_are_edited_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            Catalogue::edited_copies_in(dir.path()).is_empty(),
            "no files"
        );
        std::fs::write(dir.path().join(CITIES_FILE), EMBEDDED.cities.text).expect("write");
        assert!(
            Catalogue::edited_copies_in(dir.path()).is_empty(),
            "an unchanged copy"
        );
        let edited = format!("{}\n# an edit\n", EMBEDDED.departments.text);
        std::fs::write(dir.path().join(DEPARTMENTS_FILE), edited).expect("write");
        assert_eq!(
            Catalogue::edited_copies_in(dir.path()),
            vec![dir.path().join(DEPARTMENTS_FILE)]
        );
    }

    #[test]
    fn look_ups() {
        let c = Catalogue::embedded();
        let id = c.certificate("resident-id-card").expect("resident-id-card");
        assert_eq!(id.no, 1);
        assert_eq!(id.name_zh, "居民身份证");
        assert!(c.certificate("resident-id").is_none());
        assert_eq!(
            c.department("public-security").map(|d| d.name_zh.as_str()),
            Some("公安部门")
        );
        assert_eq!(c.city(370200).map(|c| c.name_en.as_str()), Some("Qingdao"));
        assert!(c.city(370000).is_none());
        assert!(c.scenario("park-entry-senior").is_some());
        assert_eq!(c.service_item(52).map(|i| i.illegible), Some(true));
    }

    #[test]
    fn routing_by_level() {
        let c = Catalogue::embedded();
        // Province level: the province backend, whatever the holder's city.
        let b = c.backend_for("resident-id-card", None).expect("province");
        assert_eq!(b.department, "public-security");
        assert_eq!(b.scope, BackendScope::Province);
        assert_eq!(
            c.backend_for("resident-id-card", Some(370200))
                .map(|b| b.scope),
            Ok(BackendScope::Province)
        );
        // Province and city: the first department's province backend.
        let b = c
            .backend_for("construction-enterprise-qualification", Some(370200))
            .expect("province+city");
        assert_eq!(
            (b.department.as_str(), b.scope),
            ("housing-construction", BackendScope::Province)
        );
        // City level: the holder's city.
        let b = c
            .backend_for("residence-permit", Some(370200))
            .expect("city");
        assert_eq!(
            (b.department.as_str(), b.scope),
            ("public-security", BackendScope::City(370200))
        );
        assert!(b.unit_credit_code.starts_with("11370200"));
        assert_eq!(
            c.backend_for("residence-permit", None)
                .map_err(|e| e.code()),
            Err("route.no_holder_city")
        );
        // A city of this province that is not in cities.toml (Laiwu, merged into Jinan), or
        // not a city code at all: no city backend to ask.
        for city in [371200, 370000, 990100] {
            assert_eq!(
                c.backend_for("residence-permit", Some(city)),
                Err(RouteError::UnknownCity(city))
            );
        }
        // A province-level type needs no city.
        assert!(c.backend_for("resident-id-card", Some(371200)).is_ok());
        assert_eq!(
            c.backend_for("no-such-thing", None).map_err(|e| e.code()),
            Err("route.unknown_certificate")
        );
    }

    #[test]
    fn a_type_another_backend_may_hold_names_its_index() {
        let c = Catalogue::embedded();
        // One department, province level: nothing to locate.
        let r = c
            .route_for("resident-id-card", Some(370200))
            .expect("route");
        assert_eq!(r.index, None);
        // Two departments: the first's province backend by default, and its index.
        let r = c
            .route_for("business-licence", Some(370200))
            .expect("route");
        assert_eq!(
            (r.backend.department.as_str(), r.backend.scope),
            ("market-regulation", BackendScope::Province)
        );
        assert_eq!(r.index, Some(r.backend));
        // City level: the home city by default, the department's province index.
        let r = c
            .route_for("residence-permit", Some(370200))
            .expect("route");
        assert_eq!(r.backend.scope, BackendScope::City(370200));
        let index = r.index.expect("an index");
        assert_eq!(
            (index.department.as_str(), index.scope),
            ("public-security", BackendScope::Province)
        );
        // Both: a city-level type with two departments.
        let r = c.route_for("hygiene-licence", Some(370300)).expect("route");
        assert_eq!(
            (r.backend.department.as_str(), r.backend.scope),
            ("health", BackendScope::City(370300))
        );
        assert_eq!(
            r.index.map(|b| (b.department.as_str(), b.scope)),
            Some(("health", BackendScope::Province))
        );
    }

    #[test]
    fn an_index_may_name_only_a_backend_that_can_hold_the_type() {
        let c = Catalogue::embedded();
        let licence = c.certificate("business-licence").expect("type");
        let second = c
            .holding_backend(licence, "administrative-approval", BackendScope::Province)
            .expect("the second department");
        assert_eq!(second.department, "administrative-approval");
        // Not an issuer of the type; a city backend for a province-level type; the hub.
        assert!(c
            .holding_backend(licence, "health", BackendScope::Province)
            .is_none());
        assert!(c
            .holding_backend(licence, "market-regulation", BackendScope::City(370100))
            .is_none());
        assert!(c
            .holding_backend(licence, "national-hub", BackendScope::National)
            .is_none());
        let permit = c.certificate("residence-permit").expect("type");
        assert!(c
            .holding_backend(permit, "public-security", BackendScope::City(371700))
            .is_some());
        assert!(c
            .holding_backend(permit, "public-security", BackendScope::Province)
            .is_none());
        assert!(c
            .holding_backend(permit, "public-security", BackendScope::City(371200))
            .is_none());
    }

    #[test]
    fn holders_from_another_province_go_to_the_national_hub() {
        let c = Catalogue::embedded();
        for cert in c.certificates() {
            for city in [110100, 310100, 440300, 650100] {
                let r = c
                    .route_for(&cert.code, Some(city))
                    .unwrap_or_else(|e| panic!("{}: {e}", cert.code));
                assert_eq!(
                    (r.backend.department.as_str(), r.backend.scope),
                    ("national-hub", BackendScope::National)
                );
                assert_eq!(r.index, None, "the hub is asked directly");
            }
        }
        assert!(is_gb2260_city(110100) && is_gb2260_city(370200) && is_gb2260_city(429004));
        assert!(!is_gb2260_city(110000) && !is_gb2260_city(990100) && !is_gb2260_city(1101));

        // Without a hub, such a holder has no backend to ask.
        let text = EMBEDDED.departments.text;
        let start = text.find("\n[national_hub]").expect("a hub");
        let end = start
            + text[start..]
                .find("[[department]]")
                .expect("departments after it");
        let text = format!("{}{}", &text[..start], &text[end..]);
        let no_hub = Catalogue::from_sources(&Sources {
            departments: Source {
                name: "departments.toml",
                text: &text,
            },
            ..EMBEDDED
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(no_hub.national_hub().is_none());
        assert_eq!(
            no_hub.backend_for("resident-id-card", Some(110100)),
            Err(RouteError::NoNationalHub(110100))
        );
    }

    #[test]
    fn every_certificate_routes_in_every_city() {
        let c = Catalogue::embedded();
        for cert in c.certificates() {
            let index = c.index_of(cert);
            assert_eq!(
                index.is_some(),
                cert.departments.len() > 1 || cert.level == DataLevel::City,
                "{}",
                cert.code
            );
            for city in c.cities() {
                let r = c
                    .route_for(&cert.code, Some(city.code))
                    .unwrap_or_else(|e| panic!("{}: {e}", cert.code));
                assert_eq!(r.backend.department, cert.departments[0]);
                assert_eq!(r.index, index, "{}", cert.code);
                // Whatever department and city the index names, it names a backend: every
                // issuing department has a backend in every city for the city-level types.
                for department in &cert.departments {
                    let scope = match cert.level {
                        DataLevel::City => BackendScope::City(city.code),
                        _ => BackendScope::Province,
                    };
                    let held = c
                        .holding_backend(cert, department, scope)
                        .unwrap_or_else(|| panic!("{}: {department} {scope:?}", cert.code));
                    assert!(c.certificates_of(department, scope).contains(&cert));
                    assert_eq!(held.scope, scope);
                }
            }
            if let Some(index) = index {
                assert!(c.indexed_by(&index.department).contains(&cert));
            }
        }
    }

    #[test]
    fn the_backends_of_a_type_are_those_that_may_hold_it() {
        let c = Catalogue::embedded();
        let mut held = std::collections::HashMap::<&str, usize>::new();
        for dept in c.departments() {
            for backend in &dept.backends {
                for cert in c.certificates_of(&dept.id, backend.scope) {
                    let may = match backend.scope {
                        BackendScope::National => true,
                        scope => c.holding_backend(cert, &dept.id, scope) == Some(backend),
                    };
                    assert!(may, "{} at {}", cert.code, dept.id);
                    *held.entry(cert.code.as_str()).or_default() += 1;
                }
            }
        }
        for cert in c.certificates() {
            // Every type: its departments' backends at its level, and the hub.
            let per_department = match cert.level {
                DataLevel::City => c.cities().len(),
                _ => 1,
            };
            assert_eq!(
                held.get(cert.code.as_str()).copied(),
                Some(cert.departments.len() * per_department + 1),
                "{}",
                cert.code
            );
        }
        let hub = c.certificates_of("national-hub", BackendScope::National);
        assert_eq!(hub.len(), c.certificates().len());
        let ps = c.certificates_of("public-security", BackendScope::City(370100));
        assert!(ps.iter().any(|t| t.code == "residence-permit"));
        assert!(!ps.iter().any(|t| t.code == "resident-id-card"));
        let approval = c.certificates_of("administrative-approval", BackendScope::Province);
        assert!(approval.iter().any(|t| t.code == "business-licence"));
        assert!(c
            .certificates_of("education", BackendScope::City(370100))
            .is_empty());
        assert!(c
            .certificates_of("nobody", BackendScope::Province)
            .is_empty());
    }
}
