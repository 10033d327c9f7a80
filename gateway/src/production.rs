//! What a production gateway (`mode = "production"`, or a file without `mode`) refuses to start
//! with: any of the repository's demo material ([`crate::demo_material`]) — the platform's demo
//! keys, the departments' demo seal keys, the demo venues (in the venues file or already in the
//! store), the `embedded` demo departments, the demo admin token — whether it would come
//! embedded (a setting left unset) or from a file by path; and secret files that others than
//! their owner may read. Every problem is found before the gateway refuses, and the refusal
//! names each one with the command that makes the real thing. A demo gateway only warns about
//! loose secret files.

use std::fmt;
use std::path::{Path, PathBuf};

use wire::catalogue::model::Endpoint;
use wire::catalogue::Catalogue;
use wire::keys::TrustList;
use wire::secret_file::check_owner_only;

use crate::config::{GatewayConfig, TlsMode};
use crate::demo_material::{self, DemoKeyKind};
use crate::venues::Venues;

/// How to make the platform's own keys.
const MAKE_PLATFORM_KEYS: &str = "make the platform's own keys with `gateway keys generate \
     --out-secret platform.secret.toml --out-trust platform.trust.toml` (the secret file stays \
     with the minting platform) and set `codes.trust` to the trust file";
/// How to get the departments' own seal keys.
const MAKE_SEAL_KEYS: &str = "each department seals with a key of its own (`issuer keygen \
     --out-secret department-seals.secret.toml --out-trust department-seals.trust.toml` makes \
     them for the reference backend): set `departments.seal_trust` to the trust list of the \
     departments' public seal keys";
/// How to register a venue of one's own.
const ADD_VENUES: &str = "register the deployment's venues with `gateway venues add --id ID \
     --name NAME --city CODE --scenario SCENARIO --rate N` (it prints the venue's key once)";

/// The refusal of a production gateway: every problem found, each with its remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub problems: Vec<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mode = \"production\" refuses to start with demo material or exposed secrets ({} found):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        write!(
            f,
            "\n(to run the repository's demo instead, set mode = \"demo\": it listens on loopback only)"
        )
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// `Ok` when nothing was found.
    pub fn from_problems(problems: Vec<String>) -> Result<(), Refusal> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Refusal { problems })
        }
    }
}

/// The demo material a configuration would use, each piece named with its remedy: what
/// unset settings fall back to, and demo keys, venues or token in the files it names. Files
/// that cannot be read are named too (the start would fail on them anyway).
pub fn demo_material_in_configuration(
    config: &GatewayConfig,
    catalogue: &Catalogue,
) -> Vec<String> {
    let mut problems = Vec::new();
    trust_list_problems(
        config,
        "codes.trust",
        config.codes.trust.as_deref(),
        "the embedded demo platform trust list",
        MAKE_PLATFORM_KEYS,
        &mut problems,
    );
    trust_list_problems(
        config,
        "departments.seal_trust",
        config.departments.seal_trust.as_deref(),
        "the embedded demo department seal trust list",
        MAKE_SEAL_KEYS,
        &mut problems,
    );
    embedded_department_problems(config, catalogue, &mut problems);
    venue_file_problems(config, catalogue, &mut problems);
    if config
        .admin_token()
        .is_some_and(|token| demo_material::is_demo_admin_token(&token))
    {
        problems.push(
            "admin.token is the demo admin token from the repository: set a token of your own \
             (e.g. `openssl rand -hex 32`), best through `MIANZHENG_ADMIN_TOKEN`"
                .to_owned(),
        );
    }
    problems
}

/// A trust list setting: unset (the embedded demo list), unreadable, or holding demo keys.
fn trust_list_problems(
    config: &GatewayConfig,
    setting: &str,
    path: Option<&Path>,
    embedded: &str,
    remedy: &str,
    problems: &mut Vec<String>,
) {
    let Some(path) = path.map(|p| config.resolve(p)) else {
        problems.push(format!(
            "`{setting}` is not set, so {embedded} would be used, whose keys are public in \
             the repository: {remedy}"
        ));
        return;
    };
    match TrustList::load(&path) {
        Ok(list) => {
            for key in list.keys() {
                if let Some(demo) = demo_material::demo_key(key) {
                    problems.push(format!(
                        "{setting} `{}`: key `{}` ({}, {}) is a {} from the repository: {}",
                        path.display(),
                        demo.kid,
                        key.algorithm(),
                        demo.owner,
                        demo.kind.describe(),
                        match demo.kind {
                            DemoKeyKind::Platform => MAKE_PLATFORM_KEYS,
                            DemoKeyKind::DepartmentSeal => MAKE_SEAL_KEYS,
                        }
                    ));
                }
            }
        }
        Err(e) => problems.push(format!("{setting} `{}`: {e}", path.display())),
    }
}

/// Backends whose endpoint is `embedded` (the demo's in-process departments, which seal with
/// the demo keys), and demo keys in `departments.embedded_seal_keys`.
fn embedded_department_problems(
    config: &GatewayConfig,
    catalogue: &Catalogue,
    problems: &mut Vec<String>,
) {
    let embedded = embedded_departments(catalogue);
    if !embedded.is_empty() {
        let file = match &config.catalogue.dir {
            Some(dir) => format!(
                "`{}`",
                config.resolve(dir).join("departments.toml").display()
            ),
            None => "the embedded catalogue's departments.toml (set `catalogue.dir` to a \
                     folder of your own)"
                .to_owned(),
        };
        problems.push(format!(
            "departments {} have `embedded` backends (the demo's in-process departments, \
             sealing with demo keys): give each backend its department's URL \
             (`endpoint = \"https://…\"`) in {file}",
            embedded
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(path) = &config.departments.embedded_seal_keys {
        let path = config.resolve(path);
        match wire::keys::load_signing_keys(&path) {
            Ok(keys) => {
                for key in keys {
                    if let Some(demo) = demo_material::demo_key(&key.trusted()) {
                        problems.push(format!(
                            "departments.embedded_seal_keys `{}`: key `{}` ({}) is a {} from the \
                             repository: {MAKE_SEAL_KEYS}",
                            path.display(),
                            demo.kid,
                            demo.owner,
                            demo.kind.describe()
                        ));
                    }
                }
            }
            Err(e) => problems.push(format!(
                "departments.embedded_seal_keys `{}`: {e}",
                path.display()
            )),
        }
    }
}

/// The departments with at least one `embedded` backend.
pub fn embedded_departments(catalogue: &Catalogue) -> Vec<&str> {
    catalogue
        .departments()
        .iter()
        .filter(|d| d.backends.iter().any(|b| b.endpoint == Endpoint::Embedded))
        .map(|d| d.id.as_str())
        .collect()
}

/// The venues file: unset with seeding on (the embedded demo venues), or holding demo keys or
/// keys in clear.
fn venue_file_problems(config: &GatewayConfig, catalogue: &Catalogue, problems: &mut Vec<String>) {
    let Some(path) = config.venues.file.as_deref().map(|p| config.resolve(p)) else {
        if config.venues.seed {
            problems.push(format!(
                "`venues.file` is not set and `venues.seed` is on, so the {} demo venues \
                 (`{}`, …) would be added to the store with keys public in the repository: set \
                 `venues.seed = false` and {ADD_VENUES}",
                demo_material::VENUES.len(),
                demo_material::VENUES[0].id
            ));
        }
        return;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(format!("venues.file `{}`: {e}", path.display()));
            return;
        }
    };
    let venues = match Venues::parse(&text, &path.display().to_string(), catalogue) {
        Ok(venues) => venues,
        Err(e) => {
            problems.push(e);
            return;
        }
    };
    let mut found: Vec<String> = venues
        .iter()
        .filter_map(|venue| {
            if let Some(demo) = demo_material::demo_venue(&venue.key_hash()) {
                Some(format!(
                    "venues.file `{}`: venue `{}` has the key of demo venue `{}`, public in the \
                     repository: remove it and {ADD_VENUES}",
                    path.display(),
                    venue.id,
                    demo.id
                ))
            } else {
                venue.demo_key.is_some().then(|| {
                    format!(
                        "venues.file `{}`: venue `{}` has its key in clear (`demo_key`), which \
                         only the demo may: give `key_sha256`, or {ADD_VENUES}",
                        path.display(),
                        venue.id
                    )
                })
            }
        })
        .collect();
    found.sort();
    problems.extend(found);
}

/// Demo venues registered in the store with their demo key and enabled (seeded by an earlier
/// demo run on the same store), each with the commands that disable it or give it a key of its
/// own.
pub async fn demo_venues_in_store(store: &store::Store) -> Result<Vec<String>, store::StoreError> {
    Ok(store
        .list_venues()
        .await?
        .into_iter()
        .filter(|row| !row.disabled)
        .filter_map(|row| {
            demo_material::demo_venue(&row.key_hash).map(|demo| {
                format!(
                    "the store holds demo venue `{id}` with the key of demo venue `{demo}` \
                     (seeded by a demo run), enabled: disable it with `gateway venues disable \
                     {id}`, or give it a key of its own with `gateway venues rotate {id}`",
                    id = row.id,
                    demo = demo.id
                )
            })
        })
        .collect())
}

/// Secret files the configuration names that others than their owner may read: trust lists
/// carrying a MAC secret, the embedded departments' seal keys, the configuration file itself
/// when it holds the admin token, the subject-hash secret, the TLS private key. Files not there yet are skipped (the gateway creates them owner-only).
pub fn exposed_secret_files(config: &GatewayConfig) -> Vec<String> {
    let mut secrets: Vec<(PathBuf, String)> = Vec::new();
    for (setting, path) in [
        ("codes.trust", &config.codes.trust),
        ("departments.seal_trust", &config.departments.seal_trust),
    ] {
        let Some(path) = path.as_deref().map(|p| config.resolve(p)) else {
            continue;
        };
        let carries_secret =
            TrustList::load(&path).is_ok_and(|list| list.keys().any(|k| k.algorithm().is_mac()));
        if carries_secret {
            secrets.push((path, format!("{setting}, a trust list with an HMAC secret")));
        }
    }
    if let Some(path) = &config.departments.embedded_seal_keys {
        secrets.push((
            config.resolve(path),
            "departments.embedded_seal_keys".to_owned(),
        ));
    }
    // The demo token is public already (and refused in production on its own).
    if let (Some(file), Some(token)) = (&config.source_file, &config.admin.token) {
        let from_env = std::env::var(wire::admin_api::ADMIN_TOKEN_ENV).is_ok_and(|t| !t.is_empty());
        if !from_env && !demo_material::is_demo_admin_token(token) {
            secrets.push((
                file.clone(),
                "the configuration file, which holds admin.token (or give the token in \
                 `MIANZHENG_ADMIN_TOKEN` instead)"
                    .to_owned(),
            ));
        }
    }
    let subject_key = match &config.audit.subject_key_file {
        Some(path) => config.resolve(path),
        None => config.data_dir().join("subject-key"),
    };
    secrets.push((subject_key, "audit.subject_key_file".to_owned()));
    match config.tls.mode {
        TlsMode::Files => {
            if let Some(key) = &config.tls.key {
                secrets.push((config.resolve(key), "tls.key".to_owned()));
            }
        }
        TlsMode::SelfSigned => secrets.push((
            config.data_dir().join("tls").join("key.pem"),
            "the self-signed TLS key".to_owned(),
        )),
        TlsMode::Off => {}
    }
    secrets
        .into_iter()
        .filter(|(path, _)| path.exists())
        .filter_map(|(path, what)| check_owner_only(&path, &what).err())
        .map(|e| e.to_string())
        .collect()
}
