//! What a started gateway runs on, as its start-up banner states it: the mode, the trust lists
//! (a file, or the embedded demo list), where its venues come from, its store (without
//! credentials) and its departments. An operator reads in the first lines whether the gateway
//! runs on what they meant it to.

use std::path::PathBuf;

use wire::catalogue::model::Endpoint;
use wire::catalogue::Catalogue;

use crate::config::{GatewayConfig, Mode};

/// The banner's account of what is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse {
    pub mode: Mode,
    /// Where the code trust list comes from.
    pub code_trust: String,
    /// Where the departments' seal trust list comes from.
    pub seal_trust: String,
    /// Where the venues come from.
    pub venues: String,
    /// The store, without credentials.
    pub store: String,
    /// The catalogue: a folder, or the embedded one (and the edited copies it does not use).
    pub catalogue: String,
    /// Catalogue files beside the configuration differ from the embedded catalogue in use:
    /// the start-up warns too.
    pub catalogue_edits_unused: bool,
    /// The departments: how many backends, embedded or remote.
    pub departments: String,
    /// The balancers the public listeners read PROXY headers from, if any.
    pub proxy_protocol_from: Option<String>,
}

impl InUse {
    /// What `config` and `catalogue` make the gateway use; `embedded_url` is where the embedded
    /// demo departments answer, when they run.
    pub fn describe(
        config: &GatewayConfig,
        catalogue: &Catalogue,
        embedded_url: Option<&str>,
    ) -> InUse {
        let trust = |path: &Option<std::path::PathBuf>, demo_file: &str| match path {
            Some(path) => format!("file `{}`", config.resolve(path).display()),
            None => format!("embedded demo list ({demo_file})"),
        };
        let venues = match (&config.venues.file, config.venues.seed) {
            (_, false) => "the store's (no seeding)".to_owned(),
            (Some(file), true) => format!(
                "the store's, seeded with the absent ones of `{}`",
                config.resolve(file).display()
            ),
            (None, true) => "the store's, seeded with the absent ones of the embedded demo \
                             venues (config/venues.toml)"
                .to_owned(),
        };
        let venues = match &config.venues.client_ca {
            Some(ca) => format!(
                "{venues}; client certificates from the CA in `{}`",
                config.resolve(ca).display()
            ),
            None => venues,
        };
        let (mut embedded, mut remote) = (0, 0);
        for backend in catalogue.departments().iter().flat_map(|d| &d.backends) {
            match backend.endpoint {
                Endpoint::Embedded => embedded += 1,
                Endpoint::Url(_) => remote += 1,
            }
        }
        let mut departments = Vec::new();
        if embedded > 0 {
            departments.push(match embedded_url {
                Some(url) => format!("{embedded} backends embedded at {url} (demo)"),
                None => format!("{embedded} backends embedded (demo)"),
            });
        }
        if remote > 0 {
            departments.push(format!("{remote} remote backends"));
        }
        if departments.is_empty() {
            departments.push("none".to_owned());
        }
        let unused_edits = unused_catalogue_edits(config);
        InUse {
            mode: config.mode,
            catalogue: describe_catalogue(config, &unused_edits),
            catalogue_edits_unused: !unused_edits.is_empty(),
            code_trust: trust(&config.codes.trust, "config/keys/platform.trust.toml"),
            seal_trust: trust(
                &config.departments.seal_trust,
                "config/keys/department-seals.trust.toml",
            ),
            venues,
            store: describe_store(config),
            departments: departments.join(", "),
            proxy_protocol_from: (!config.listen.proxy_protocol_from.is_empty())
                .then(|| config.listen.proxy_protocol_from.join(", ")),
        }
    }

    /// The mode, as the banner's first line says it.
    pub fn mode_line(&self) -> &'static str {
        match self.mode {
            Mode::Demo => "demo (loopback only; the repository's demo keys, venues and departments stand in for what is not configured)",
            Mode::Production => "production (no demo material; secret files owner-only)",
        }
    }
}

/// The catalogue as the banner names it: the folder of `catalogue.dir`, or the embedded one —
/// then with `unused_edits`, the catalogue files beside the configuration file that differ
/// from it (see [`unused_catalogue_edits`]).
fn describe_catalogue(config: &GatewayConfig, unused_edits: &[PathBuf]) -> String {
    if let Some(dir) = &config.catalogue.dir {
        return format!("folder `{}`", config.resolve(dir).display());
    }
    let embedded = "embedded (the repository's config/ as built)".to_owned();
    if unused_edits.is_empty() {
        return embedded;
    }
    let quoted: Vec<String> = unused_edits
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect();
    format!(
        "{embedded}; NOT {}, which differ from it: set `catalogue.dir` to use them",
        quoted.join(", ")
    )
}

/// Catalogue files beside the configuration file that differ from the embedded catalogue,
/// when the gateway runs on the embedded one: edits an operator may believe in use.
fn unused_catalogue_edits(config: &GatewayConfig) -> Vec<PathBuf> {
    match config.catalogue.dir {
        Some(_) => Vec::new(),
        None => Catalogue::edited_copies_in(&config.base_dir),
    }
}

/// The store as the banner names it: the SQLite file, or the PostgreSQL server and database
/// without user, password or parameters.
fn describe_store(config: &GatewayConfig) -> String {
    match config.store_url() {
        None => format!(
            "SQLite `{}`",
            config.data_dir().join("mianzheng.db").display()
        ),
        Some(url) => match url.split_once("://") {
            Some(("sqlite", path)) => format!("SQLite `{path}`"),
            Some((scheme, rest)) if scheme.starts_with("postgres") => {
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let rest = rest.split_once('?').map_or(rest, |(base, _)| base);
                format!("PostgreSQL {rest}")
            }
            _ => store::redact(&url),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_named_without_credentials() {
        let mut config = GatewayConfig::loopback(std::path::Path::new("/var/lib/mz"));
        if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
            return; // the environment names the store
        }
        assert_eq!(describe_store(&config), "SQLite `/var/lib/mz/mianzheng.db`");
        config.store.url =
            Some("postgres://gw:hunter2@db.example:5432/mianzheng?sslmode=require".into());
        assert_eq!(
            describe_store(&config),
            "PostgreSQL db.example:5432/mianzheng"
        );
        let in_use = InUse::describe(&config, &Catalogue::embedded(), None);
        assert!(!format!("{in_use:?}").contains("hunter2"));
        assert_eq!(in_use.mode, Mode::Demo);
        assert!(in_use.code_trust.starts_with("embedded demo list"));
        assert!(in_use.departments.contains("embedded (demo)"), "{in_use:?}");
    }

    /// An edited `departments.toml` beside the configuration is named as not in use until
    /// `catalogue.dir` points at it.
    #[test]
    fn edited_catalogue_files_beside_the_configuration_are_named_as_unused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = GatewayConfig::loopback(dir.path());
        config.base_dir = dir.path().to_path_buf();
        assert!(unused_catalogue_edits(&config).is_empty());
        assert_eq!(
            describe_catalogue(&config, &[]),
            "embedded (the repository's config/ as built)"
        );
        let departments = dir.path().join("departments.toml");
        std::fs::write(&departments, "# an operator's edit\n").expect("write");
        let edits = unused_catalogue_edits(&config);
        assert_eq!(edits, std::slice::from_ref(&departments));
        let line = describe_catalogue(&config, &edits);
        assert!(
            line.contains(&format!("NOT `{}`", departments.display())),
            "{line}"
        );
        assert!(line.contains("set `catalogue.dir`"), "{line}");

        config.catalogue.dir = Some(dir.path().to_path_buf());
        assert_eq!(
            describe_catalogue(&config, &[]),
            format!("folder `{}`", dir.path().display())
        );
        assert!(unused_catalogue_edits(&config).is_empty());
    }
}
