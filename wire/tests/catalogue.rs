//! The catalogue loader from outside: a folder of example catalogues (`tests/catalogue/valid/`
//! and one folder per invalid case under `tests/catalogue/invalid/`, see the README there), the
//! repository's own `config/`, and a cross-check of `config/` against the plan's tables in
//! `../shared/data/`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use wire::catalogue::{
    BackendScope, Catalogue, CatalogueError, DataLevel, Endpoint, FieldKind, HolderKind,
    HolderKinds, MaterialsSource, Source, Sources, CERTIFICATES_FILE, CITIES_FILE,
    DEPARTMENTS_FILE, HOLDER_NAME, SCENARIOS_FILE, SERVICE_ITEMS_FILE,
};

const FILES: [&str; 5] = [
    CERTIFICATES_FILE,
    DEPARTMENTS_FILE,
    CITIES_FILE,
    SCENARIOS_FILE,
    SERVICE_ITEMS_FILE,
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> PathBuf {
    manifest_dir().join("tests/catalogue")
}

/// A temporary catalogue folder: the valid example with the case folder's files laid over it.
fn assemble(case: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in FILES {
        let over = case.join(file);
        let from = if over.exists() {
            over
        } else {
            examples().join("valid").join(file)
        };
        fs::copy(&from, dir.path().join(file))
            .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
    dir
}

#[test]
fn valid_example_loads() {
    let c = Catalogue::load(&examples().join("valid")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.certificates().len(), 5);
    assert_eq!(c.cities().len(), 3);
    assert_eq!(c.scenarios().len(), 3);
    assert_eq!(c.service_items().len(), 3);

    // Default city backends with the city code substituted, and a per-city override.
    let ps = c.department("public-security").expect("public-security");
    let scopes: Vec<BackendScope> = ps.backends.iter().map(|b| b.scope).collect();
    assert_eq!(
        scopes,
        [
            BackendScope::Province,
            BackendScope::City(370100),
            BackendScope::City(370200),
            BackendScope::City(370300),
        ]
    );
    let jinan = c
        .backend_for("residence-permit", Some(370100))
        .expect("jinan");
    assert_eq!(
        jinan.endpoint,
        Endpoint::Url("https://gongan-370100.example/mianzheng".into())
    );
    assert!(wire::ident::parse_credit_code(&jinan.unit_credit_code).is_ok());
    let qingdao = c
        .backend_for("residence-permit", Some(370200))
        .expect("qingdao");
    assert_eq!(qingdao.endpoint, Endpoint::Embedded);
    assert_eq!(qingdao.unit_credit_code, "11370200MB12345674");

    // An explicit unit credit code; a department with city backends in one city only.
    let mr = c
        .backend_for("business-licence", None)
        .expect("business-licence");
    assert_eq!(mr.unit_credit_code, "11370000MB00000015");
    assert_eq!(mr.endpoint, Endpoint::Url("http://127.0.0.1:9000".into()));
    assert!(c
        .backend_for("real-estate-inquiry-certificate", Some(370100))
        .is_ok());
    let missing = c
        .backend_for("real-estate-inquiry-certificate", Some(370200))
        .expect_err("not rolled out in Qingdao");
    assert_eq!(missing.code(), "route.no_city_backend");
    assert_eq!(
        missing.to_string(),
        "department `natural-resources` has no backend for city `370200`"
    );

    // The full name and ID number, under a legal basis.
    let hotel = &c.scenario("hotel-check-in").expect("hotel").requirements[0];
    assert_eq!(hotel.disclose, ["holder_name", "id_number", "address"]);
    assert_eq!(hotel.legal_basis(), Some("《旅馆业治安管理办法》第六条"));

    let illegible = c.service_item(2).expect("item 2");
    assert!(illegible.illegible);
    let residence = c.service_item(1).expect("item 1");
    let ids: Vec<&str> = residence.materials.iter().map(|m| m.id()).collect();
    assert_eq!(ids, ["resident-id-card", "driving-licence", "lease"]);
    assert_eq!(residence.source, MaterialsSource::Plan);
    assert_eq!(residence.applicant, Some(HolderKind::Person));
    assert!(residence
        .material("lease")
        .is_some_and(|m| m.commitment && m.certificate().is_none()));
    // The holder's name is one field of the form, however many certificates carry it.
    assert_eq!(
        residence.form_fields(),
        [
            "holder_name",
            "id_number",
            "address",
            "classes",
            "contact_phone"
        ]
    );
    let food = c.service_item(3).expect("item 3");
    assert_eq!(food.source, MaterialsSource::Assumed, "the default");
}

/// Every folder under `invalid/` must fail to load with exactly the problems its `expect.txt`
/// lists (one per line, each a substring of one problem's message, which starts with the file
/// and the entry at fault).
#[test]
fn invalid_examples_fail_naming_file_and_entry() {
    let mut cases: Vec<PathBuf> = fs::read_dir(examples().join("invalid"))
        .expect("tests/catalogue/invalid")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "only {} invalid cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        let expect = fs::read_to_string(case.join("expect.txt"))
            .unwrap_or_else(|e| panic!("{name}/expect.txt: {e}"));
        let expected: Vec<&str> = expect.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!expected.is_empty(), "{name}/expect.txt is empty");

        let dir = assemble(case);
        let problems: Vec<String> = match Catalogue::load(dir.path()) {
            Ok(_) => {
                failures.push(format!("{name}: loaded, expected it to fail"));
                continue;
            }
            Err(e @ CatalogueError::Read { .. }) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
            Err(e) => {
                // The message is the problems, one per line.
                if e.to_string().lines().count() != e.problems().len() {
                    failures.push(format!("{name}: a problem spans several lines:\n{e}"));
                }
                e.problems().iter().map(|p| p.to_string()).collect()
            }
        };
        for want in &expected {
            if !problems.iter().any(|p| p.contains(want)) {
                failures.push(format!(
                    "{name}: no problem contains\n    {want}\n  got\n    {}",
                    problems.join("\n    ")
                ));
            }
        }
        if problems.len() != expected.len() {
            failures.push(format!(
                "{name}: expected {} problem(s), got\n    {}",
                expected.len(),
                problems.join("\n    ")
            ));
        }
        // Errors name the file by its path when loaded from a folder.
        let in_dir = dir.path().display().to_string();
        if !problems.iter().all(|p| p.starts_with(&in_dir)) {
            failures.push(format!(
                "{name}: a problem does not start with its file's path"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn missing_file_is_a_read_error() {
    let dir = assemble(&examples().join("valid"));
    fs::remove_file(dir.path().join(SCENARIOS_FILE)).expect("remove");
    let err = Catalogue::load(dir.path()).expect_err("missing scenarios.toml");
    assert!(matches!(err, CatalogueError::Read { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with("could not read `") && msg.contains("scenarios.toml`"),
        "{msg}"
    );
}

#[test]
fn from_sources_names_files_as_given() {
    let valid = examples().join("valid");
    let text = |f: &str| fs::read_to_string(valid.join(f)).expect("read");
    let (c, d, y, s) = (
        text(CERTIFICATES_FILE),
        text(DEPARTMENTS_FILE),
        text(CITIES_FILE),
        text(SCENARIOS_FILE),
    );
    let items = "[[item]]\nno = 7\ndepartment_zh = \"省公安厅\"\nname_zh = \"x\"\n\
                 department = \"public-security\"\napplicant = \"person\"\n\
                 materials = [{ certificate = \"id-card\" }]\n";
    let src = Sources {
        certificates: Source {
            name: "c.toml",
            text: &c,
        },
        departments: Source {
            name: "d.toml",
            text: &d,
        },
        cities: Source {
            name: "y.toml",
            text: &y,
        },
        scenarios: Source {
            name: "s.toml",
            text: &s,
        },
        service_items: Source {
            name: "items",
            text: items,
        },
    };
    let err = Catalogue::from_sources(&src).expect_err("unknown material");
    assert_eq!(
        err.to_string(),
        "items: item `7`: material 1 (`id-card`): unknown certificate `id-card`"
    );
}

// ---------------------------------------------------------------------------------------------
// The repository's config/
// ---------------------------------------------------------------------------------------------

fn config_dir() -> PathBuf {
    manifest_dir().join("../config")
}

#[test]
fn repository_config_loads_from_disk_as_embedded() {
    let disk = Catalogue::load(&config_dir()).unwrap_or_else(|e| panic!("{e}"));
    let embedded = Catalogue::embedded();
    assert_eq!(disk.certificates(), embedded.certificates());
    assert_eq!(disk.departments(), embedded.departments());
    assert_eq!(disk.cities(), embedded.cities());
    assert_eq!(disk.scenarios(), embedded.scenarios());
    assert_eq!(disk.service_items(), embedded.service_items());
}

#[test]
fn repository_config_is_sound() {
    let c = Catalogue::embedded();
    assert!(c.scenarios().len() >= 12);
    for cert in c.certificates() {
        for f in &cert.fields {
            let lower = f.name.to_lowercase();
            if lower.contains("birth") && !lower.contains("place") {
                assert_eq!(
                    f.name, "birth_date",
                    "{}: a date of birth is `birth_date`",
                    cert.code
                );
            }
        }
    }
    // Departments of city-level types have backends in all 16 cities.
    for cert in c
        .certificates()
        .iter()
        .filter(|t| t.level == DataLevel::City)
    {
        for d in &cert.departments {
            let dept = c.department(d).expect("department");
            assert_eq!(dept.backends.len(), 17, "{d}");
        }
    }
    // Backends' unit credit codes are valid and distinct.
    let mut seen = std::collections::HashSet::new();
    for b in c.departments().iter().flat_map(|d| &d.backends) {
        assert!(wire::ident::parse_credit_code(&b.unit_credit_code).is_ok());
        assert!(seen.insert(&b.unit_credit_code), "{}", b.unit_credit_code);
    }
}

/// The repository's scenarios give a holder's full name and ID number to the venues the law
/// obliges to register them, hotels and banks, and to no other.
#[test]
fn repository_scenarios_disclose_identity_only_where_the_law_requires_it() {
    let c = Catalogue::embedded();
    let mut identifying = Vec::new();
    for s in c.scenarios() {
        for r in &s.requirements {
            let cert = c.certificate(&r.certificate).expect("certificate");
            let id_number = r.disclose.iter().any(|name| {
                cert.fields
                    .iter()
                    .any(|f| &f.name == name && f.kind == FieldKind::ResidentId)
            });
            let full_name = r.disclose.iter().any(|name| name == HOLDER_NAME);
            if id_number || full_name {
                assert!(r.legal_basis().is_some(), "{}: no legal basis", s.id);
                identifying.push((s.id.as_str(), id_number, full_name));
            }
        }
    }
    assert_eq!(
        identifying,
        [
            ("hotel-check-in", true, true),
            ("bank-account-opening", true, true)
        ]
    );
}

/// A table of the plan (`shared/data/*.tsv`): rows as column name → value.
fn plan_table(file: &str) -> Vec<HashMap<String, String>> {
    let dir = manifest_dir().join("../../shared/data");
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the plan's tables are needed to cross-check config/: could not read `{}` ({e}); \
             they live in the `shared/data` folder next to the repository",
            path.display()
        )
    });
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            assert_eq!(cells.len(), header.len(), "{file}: {l}");
            header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn config_certificates_match_the_plan() {
    let c = Catalogue::load(&config_dir()).unwrap_or_else(|e| panic!("{e}"));
    let rows = plan_table("certificates.tsv");
    assert_eq!(rows.len(), 50);
    assert_eq!(c.certificates().len(), rows.len());
    for (row, cert) in rows.iter().zip(c.certificates()) {
        let no: u32 = row["no"].parse().expect("no");
        assert_eq!(
            cert.no, no,
            "config/certificates.toml is in the plan's order"
        );
        let at = format!("certificate `{}` (no {no})", cert.code);
        assert_eq!(cert.name_zh, row["name_zh"], "{at}");
        assert_eq!(cert.name_en, row["name_en"], "{at}");
        let depts: Vec<&str> = row["issuer_depts"].split(',').collect();
        assert_eq!(cert.departments, depts, "{at}");
        let level = match row["data_level"].as_str() {
            "province" => DataLevel::Province,
            "city" => DataLevel::City,
            "province+city" => DataLevel::ProvinceAndCity,
            other => panic!("{at}: unknown data level `{other}` in the TSV"),
        };
        assert_eq!(cert.level, level, "{at}");
        let holder = match row["holder"].as_str() {
            "person" => HolderKinds::Person,
            "organisation" => HolderKinds::Organisation,
            "either" => HolderKinds::Either,
            other => panic!("{at}: unknown holder `{other}` in the TSV"),
        };
        assert_eq!(cert.holder, holder, "{at}");
    }
}

#[test]
fn config_cities_match_the_plan() {
    let c = Catalogue::load(&config_dir()).unwrap_or_else(|e| panic!("{e}"));
    let rows = plan_table("cities.tsv");
    assert_eq!(rows.len(), 16);
    assert_eq!(c.cities().len(), rows.len());
    for (row, city) in rows.iter().zip(c.cities()) {
        assert_eq!(city.code.to_string(), row["code"]);
        assert_eq!(city.name_zh, row["name_zh"]);
        assert_eq!(city.name_en, row["name_en"]);
    }
}

#[test]
fn config_service_items_match_the_plan() {
    const ILLEGIBLE: &str = "(illegible in source)";
    let c = Catalogue::load(&config_dir()).unwrap_or_else(|e| panic!("{e}"));
    let rows = plan_table("service-items.tsv");
    assert_eq!(rows.len(), 500);
    assert_eq!(c.service_items().len(), rows.len());
    let mut illegible = 0;
    for (row, item) in rows.iter().zip(c.service_items()) {
        let at = format!("item {}", item.no);
        assert_eq!(item.no.to_string(), row["no"], "{at}");
        assert_eq!(item.department_zh, row["department_zh"], "{at}");
        if row["item_zh"] == ILLEGIBLE {
            illegible += 1;
            assert!(item.illegible, "{at} is illegible in the plan");
            assert_eq!(item.name_zh, "", "{at}");
        } else {
            assert!(!item.illegible, "{at}");
            assert_eq!(item.name_zh, row["item_zh"], "{at}");
        }
    }
    assert_eq!(illegible, 4);
}
