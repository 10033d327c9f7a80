//! Which department backends this process serves: each with its seal key, the certificate
//! types the catalogue assigns it, and its counters. Built once at start; a backend without its
//! department's seal key stops the start.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use wire::catalogue::model::{Backend, BackendScope};
use wire::ident::LicenceId;
use wire::issuer_api::backend_name;
use wire::keys::SigningKey;

use crate::config::IssuerConfig;
use crate::stats::BackendStats;
use crate::StartError;

/// One served backend.
#[derive(Debug)]
pub struct ServedBackend {
    /// `<department>/<province|city code>`: in URLs, responses, stats and fault plans.
    pub name: String,
    pub backend: Backend,
    pub key: SigningKey,
    /// Codes of the certificate types this backend answers for.
    pub certificates: HashSet<String>,
    /// Codes of the certificate types whose index this backend keeps (`records:locate`): a
    /// province backend's, for the types its department issues first that another backend
    /// may hold.
    pub indexed: HashSet<String>,
    pub stats: BackendStats,
}

/// The URL path segment of a scope: `province`, the city code or `national`.
pub fn scope_segment(scope: BackendScope) -> String {
    match scope {
        BackendScope::Province => "province".to_string(),
        BackendScope::National => "national".to_string(),
        BackendScope::City(code) => code.to_string(),
    }
}

/// The scope a URL path segment names.
pub fn parse_scope(segment: &str) -> Option<BackendScope> {
    match segment {
        "province" => return Some(BackendScope::Province),
        "national" => return Some(BackendScope::National),
        _ => {}
    }
    if segment.len() == 6 && segment.bytes().all(|b| b.is_ascii_digit()) {
        return segment.parse().ok().map(BackendScope::City);
    }
    None
}

/// The seal key of `department` to use now: a signature key owned by it and valid now, the
/// most recently activated if several are.
fn seal_key_for<'a>(keys: &'a [SigningKey], department: &str) -> Option<&'a SigningKey> {
    let now = Utc::now();
    keys.iter()
        .filter(|k| k.owner() == department && !k.algorithm().is_mac())
        .filter(|k| k.validity().contains(now))
        .max_by_key(|k| k.validity().not_before)
}

/// The backends to serve, by name.
pub fn build(config: &IssuerConfig) -> Result<HashMap<String, Arc<ServedBackend>>, StartError> {
    let catalogue = &config.catalogue;
    if let Some(wanted) = &config.departments {
        for id in wanted {
            if catalogue.department(id).is_none() {
                return Err(StartError::UnknownDepartment(id.clone()));
            }
        }
    }
    let mut served = HashMap::new();
    for dept in catalogue.departments() {
        if let Some(wanted) = &config.departments {
            if !wanted.contains(&dept.id) {
                continue;
            }
        }
        let key = seal_key_for(&config.seal_keys, &dept.id)
            .ok_or_else(|| StartError::NoSealKey(dept.id.clone()))?;
        for backend in &dept.backends {
            let name = backend_name(&dept.id, backend.scope);
            let certs = catalogue.certificates_of(&dept.id, backend.scope);
            for cert in &certs {
                // Every record this backend seals carries such an identifier: refuse to start
                // rather than answer with malformed ones.
                LicenceId::build(&cert.licence_type_code, &backend.unit_credit_code, "1", 1)
                    .map_err(|e| {
                        StartError::Config(format!(
                            "backend `{}` cannot build e-licence ids for `{}`: {e}",
                            backend_name(&dept.id, backend.scope),
                            cert.code
                        ))
                    })?;
            }
            let certificates = certs.into_iter().map(|c| c.code.clone()).collect();
            let indexed = match backend.scope {
                BackendScope::Province => catalogue
                    .indexed_by(&dept.id)
                    .into_iter()
                    .map(|c| c.code.clone())
                    .collect(),
                _ => HashSet::new(),
            };
            served.insert(
                name.clone(),
                Arc::new(ServedBackend {
                    name,
                    backend: backend.clone(),
                    key: key.clone(),
                    certificates,
                    indexed,
                    stats: BackendStats::default(),
                }),
            );
        }
    }
    if served.is_empty() {
        return Err(StartError::NoBackends);
    }
    Ok(served)
}
