//! The catalogue: what the province's certificates are, who issues them and which backend
//! answers for which holder, which scenarios venues may run, and the service items they feed.
//!
//! It is read from five files in `config/` (`certificates.toml`, `departments.toml`,
//! `cities.toml`, `scenarios.toml`, `service-items.toml`), validated as a whole (`load.rs`) and
//! then only read: look-ups by code are hash-map hits, so the verify path may call them per
//! request. [`Catalogue::embedded`] is the repository's own `config/`, compiled in, for tests, the
//! issuer's demo mode and the load tester.

mod load;
pub mod model;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    /// The holder's home city is not one of the catalogue's cities.
    #[error("unknown city `{0}`")]
    UnknownCity(CityCode),
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

    /// The backend that answers for `certificate` for a holder of home city `holder_city`:
    /// the first department's province backend for province and province-and-city levels, the
    /// holder's city's backend for city level (error if the city is unknown or missing).
    pub fn backend_for(
        &self,
        certificate: &str,
        holder_city: Option<CityCode>,
    ) -> Result<&Backend, RouteError> {
        let &c = self
            .certificate_index
            .get(certificate)
            .ok_or_else(|| RouteError::UnknownCertificate(certificate.to_string()))?;
        let cert = &self.certificates[c];
        let d = self.answering[c];
        let dept = &self.departments[d];
        let scope = match cert.level {
            DataLevel::Province | DataLevel::ProvinceAndCity => BackendScope::Province,
            DataLevel::City => {
                let city = holder_city.ok_or_else(|| RouteError::NoHolderCity {
                    certificate: cert.code.clone(),
                })?;
                if !self.city_index.contains_key(&city) {
                    return Err(RouteError::UnknownCity(city));
                }
                BackendScope::City(city)
            }
        };
        match self.backend_index.get(&(d, scope)) {
            Some(&b) => Ok(&dept.backends[b]),
            // Validation requires every department's province backend, so only a city can miss.
            None => Err(RouteError::NoCityBackend {
                department: dept.id.clone(),
                city: holder_city.unwrap_or_default(),
            }),
        }
    }

    /// The certificate types a given backend answers for (by department and scope): the types
    /// whose first department is `department`, province and province-and-city types for the
    /// province backend, city types for a city backend. Empty if there is no such backend.
    pub fn certificates_of(&self, department: &str, scope: BackendScope) -> Vec<&CertificateType> {
        let Some(&d) = self.department_index.get(department) else {
            return Vec::new();
        };
        if !self.backend_index.contains_key(&(d, scope)) {
            return Vec::new();
        }
        self.certificates
            .iter()
            .zip(&self.answering)
            .filter(|(cert, &a)| {
                a == d
                    && match scope {
                        BackendScope::Province => cert.level != DataLevel::City,
                        BackendScope::City(_) => cert.level == DataLevel::City,
                    }
            })
            .map(|(cert, _)| cert)
            .collect()
    }
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
        assert_eq!(c.departments().len(), 13);
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
        assert_eq!(
            c.backend_for("residence-permit", Some(110100)),
            Err(RouteError::UnknownCity(110100))
        );
        assert_eq!(
            c.backend_for("no-such-thing", None).map_err(|e| e.code()),
            Err("route.unknown_certificate")
        );
    }

    #[test]
    fn every_certificate_routes_in_every_city() {
        let c = Catalogue::embedded();
        for cert in c.certificates() {
            for city in c.cities() {
                let b = c
                    .backend_for(&cert.code, Some(city.code))
                    .unwrap_or_else(|e| panic!("{}: {e}", cert.code));
                assert_eq!(b.department, cert.departments[0]);
            }
        }
    }

    #[test]
    fn certificates_of_backends_partition_the_catalogue() {
        let c = Catalogue::embedded();
        let mut answered = 0;
        for dept in c.departments() {
            for backend in &dept.backends {
                let certs = c.certificates_of(&dept.id, backend.scope);
                for cert in &certs {
                    let city = match backend.scope {
                        BackendScope::Province => None,
                        BackendScope::City(code) => Some(code),
                    };
                    assert_eq!(c.backend_for(&cert.code, city), Ok(backend));
                }
                if backend.scope == BackendScope::Province {
                    answered += certs.len();
                }
            }
        }
        let city_level = c
            .certificates()
            .iter()
            .filter(|t| t.level == DataLevel::City)
            .count();
        assert_eq!(answered + city_level, c.certificates().len());
        let ps = c.certificates_of("public-security", BackendScope::City(370100));
        assert!(ps.iter().any(|t| t.code == "residence-permit"));
        assert!(!ps.iter().any(|t| t.code == "resident-id-card"));
        assert!(c
            .certificates_of("education", BackendScope::City(370100))
            .is_empty());
        assert!(c
            .certificates_of("nobody", BackendScope::Province)
            .is_empty());
    }
}
