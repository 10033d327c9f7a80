//! Venues ("用证单位"): who may call the verify API, for which scenarios, at what rate — and
//! the venues file (`venues.file`, the demo's `config/venues.toml` when unset) that seeds the
//! store. Keys are kept only as SHA-256 hashes. A venue's quota is held across nodes by
//! [`crate::cluster::quota`].
//!
//! - [`registry`] — the store-backed registry the verify path looks venues up in, with its
//!   cache.

pub mod registry;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use wire::catalogue::model::CityCode;
use wire::catalogue::Catalogue;

use crate::cluster::quota::{Quotas, VenueQuota};

/// A registered venue.
#[derive(Debug)]
pub struct Venue {
    pub id: String,
    pub name: String,
    pub city: CityCode,
    pub rate_per_sec: u32,
    pub disabled: bool,
    /// Bound to a client certificate: refused on a connection without one naming it (mTLS).
    pub client_certificate: bool,
    /// A service window: may pull an applicant's materials for a service item
    /// (`POST /v1/materials`) and record their commitments.
    pub service_window: bool,
    scenarios: HashSet<String>,
    key_hash: [u8; 32],
    quota: Arc<VenueQuota>,
    /// The clear key of a demo venue, so the demo can print a working request.
    pub demo_key: Option<String>,
}

impl Venue {
    /// A venue as the store has it, sharing `quota` with earlier copies of the same venue so
    /// a cache refresh does not reset it.
    pub fn from_row(row: store::VenueRow, quota: Arc<VenueQuota>) -> Venue {
        Venue {
            id: row.id,
            name: row.name,
            city: row.city,
            rate_per_sec: row.rate_per_sec,
            disabled: row.disabled,
            client_certificate: row.client_certificate,
            service_window: row.service_window,
            scenarios: row.scenarios.into_iter().collect(),
            key_hash: row.key_hash,
            quota,
            demo_key: None,
        }
    }

    /// The row the store keeps for this venue.
    pub fn to_row(&self) -> store::VenueRow {
        let mut scenarios: Vec<String> = self.scenarios.iter().cloned().collect();
        scenarios.sort();
        store::VenueRow {
            id: self.id.clone(),
            name: self.name.clone(),
            city: self.city,
            scenarios,
            rate_per_sec: self.rate_per_sec,
            key_hash: self.key_hash,
            disabled: self.disabled,
            client_certificate: self.client_certificate,
            service_window: self.service_window,
            updated_at: store::now(),
        }
    }

    /// The SHA-256 of the venue's key: all the store keeps of it.
    pub fn key_hash(&self) -> [u8; 32] {
        self.key_hash
    }

    pub fn may_use(&self, scenario: &str) -> bool {
        self.scenarios.contains(scenario)
    }

    /// The venue's rate quota, held for the venue as a whole across nodes: what the verify
    /// path admits requests by.
    pub fn quota(&self) -> &VenueQuota {
        &self.quota
    }

    /// Takes one request from this node's own limiter for the venue, or says how long to
    /// wait, without asking the nodes' shared bucket ([`VenueQuota::admit_locally`]): exact
    /// for a venue read from a file, which no other node serves.
    pub fn admit(&self) -> Result<(), std::time::Duration> {
        self.quota.admit_locally()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueFile {
    #[serde(default)]
    venue: Vec<VenueEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueEntry {
    id: String,
    name: String,
    city: CityCode,
    scenarios: Vec<String>,
    rate_per_sec: u32,
    #[serde(default)]
    key_sha256: Option<String>,
    #[serde(default)]
    demo_key: Option<String>,
    /// Bound to a client certificate from the venues' CA naming it (mTLS).
    #[serde(default)]
    client_certificate: bool,
    /// A service window (`POST /v1/materials`, `POST /v1/commitments`).
    #[serde(default)]
    service_window: bool,
}

/// All venues, by the hash of their key.
#[derive(Debug, Default)]
pub struct Venues {
    by_key_hash: HashMap<[u8; 32], Arc<Venue>>,
}

/// The SHA-256 of a venue key: all the store keeps of it.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Venues {
    /// Parses and validates a venues file against the catalogue; `name` is used in errors.
    pub fn parse(text: &str, name: &str, catalogue: &Catalogue) -> Result<Venues, String> {
        let file: VenueFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        let mut venues = Venues::default();
        let mut ids = HashSet::new();
        for v in file.venue {
            let at = |msg: String| format!("{name}: venue `{}`: {msg}", v.id);
            if !ids.insert(v.id.clone()) {
                return Err(at("appears twice".into()));
            }
            if catalogue.city(v.city).is_none() {
                return Err(at(format!("unknown city `{}`", v.city)));
            }
            for s in &v.scenarios {
                if catalogue.scenario(s).is_none() {
                    return Err(at(format!("unknown scenario `{s}`")));
                }
            }
            let hash = match (&v.key_sha256, &v.demo_key) {
                (Some(hex_hash), None) => hex::decode(hex_hash)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| at("`key_sha256` is not 64 hex digits".into()))?,
                (None, Some(key)) if key.len() >= 12 => hash_key(key),
                (None, Some(_)) => {
                    return Err(at("`demo_key` must be at least 12 characters".into()))
                }
                _ => return Err(at("give exactly one of `key_sha256` and `demo_key`".into())),
            };
            if v.rate_per_sec == 0 {
                return Err(at("`rate_per_sec` must be at least 1".into()));
            }
            let venue = Venue {
                id: v.id.clone(),
                name: v.name,
                city: v.city,
                rate_per_sec: v.rate_per_sec,
                disabled: false,
                client_certificate: v.client_certificate,
                service_window: v.service_window,
                scenarios: v.scenarios.into_iter().collect(),
                key_hash: hash,
                quota: Quotas::standalone().untracked(&v.id, v.rate_per_sec),
                demo_key: v.demo_key,
            };
            if venues.by_key_hash.insert(hash, Arc::new(venue)).is_some() {
                return Err(at("shares its key with another venue".into()));
            }
        }
        Ok(venues)
    }

    /// The venue whose key is `key`.
    pub fn by_key(&self, key: &str) -> Option<&Arc<Venue>> {
        self.by_key_hash.get(&hash_key(key))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Venue>> {
        self.by_key_hash.values()
    }

    /// A demo venue allowed `scenario`, with its clear key.
    pub fn demo_for(&self, scenario: &str) -> Option<(&Arc<Venue>, &str)> {
        let mut found: Vec<_> = self
            .iter()
            .filter(|v| v.may_use(scenario))
            .filter_map(|v| v.demo_key.as_deref().map(|k| (v, k)))
            .collect();
        found.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        found.into_iter().next()
    }
}

/// What is wrong with a venue registration (`gateway venues add`), checked against the
/// catalogue; every problem at once, none when it may be registered.
pub fn registration_problems(
    catalogue: &Catalogue,
    registration: &wire::admin_api::VenueRegistration,
) -> Vec<String> {
    let r = registration;
    let mut problems = Vec::new();
    let slug = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !slug(&r.id) {
        problems.push(format!(
            "id `{}` must be 1–64 lowercase letters, digits or `-`",
            r.id
        ));
    }
    if r.name.trim().is_empty() {
        problems.push("name must not be empty".to_owned());
    }
    if catalogue.city(r.city).is_none() {
        problems.push(format!("city `{}` is not in the catalogue", r.city));
    }
    if r.scenarios.is_empty() && !r.service_window {
        problems.push(
            "scenarios must name at least one scenario (or the venue be a service window)"
                .to_owned(),
        );
    }
    for s in &r.scenarios {
        if catalogue.scenario(s).is_none() {
            problems.push(format!("scenario `{s}` is not in the catalogue"));
        }
    }
    if r.rate_per_sec == 0 {
        problems.push("rate_per_sec must be at least 1".to_owned());
    }
    problems
}

/// The row a checked registration is stored as (its key hash is filled in when its key is
/// made): scenarios sorted, each once.
pub fn registration_row(registration: wire::admin_api::VenueRegistration) -> store::VenueRow {
    let mut scenarios = registration.scenarios;
    scenarios.sort();
    scenarios.dedup();
    store::VenueRow {
        id: registration.id,
        name: registration.name.trim().to_owned(),
        city: registration.city,
        scenarios,
        rate_per_sec: registration.rate_per_sec,
        key_hash: [0; 32],
        disabled: false,
        client_certificate: registration.client_certificate,
        service_window: registration.service_window,
        updated_at: store::now(),
    }
}

/// The repository's `config/venues.toml`, for the tests of any build.
#[cfg(test)]
pub(crate) const REPOSITORY_FILE: &str = include_str!("../../config/venues.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_venues_load_and_authenticate_by_key() {
        let catalogue = Catalogue::embedded();
        let venues = Venues::parse(REPOSITORY_FILE, "venues.toml", &catalogue).expect("valid");
        let park = venues.by_key("demo-park-7f3c9a1e").expect("demo key");
        assert_eq!(park.id, "jinan-baotu-spring-park");
        assert!(park.may_use("park-entry-senior"));
        assert!(!park.may_use("hotel-check-in"));
        let museum = venues
            .by_key("binzhou-museum-example-key")
            .expect("hashed key");
        assert_eq!(museum.id, "binzhou-museum");
        assert!(venues.by_key("demo-park-7f3c9a1f").is_none());
        // Every scenario in the catalogue has a demo venue.
        for s in catalogue.scenarios() {
            assert!(
                venues.demo_for(&s.id).is_some(),
                "no demo venue for `{}`",
                s.id
            );
        }
    }

    #[test]
    fn bad_venue_files_name_the_venue_and_the_problem() {
        let catalogue = Catalogue::embedded();
        let cases = [
            ("[[venue]]\nid='a'\nname='A'\ncity=1\nscenarios=[]\nrate_per_sec=1\ndemo_key='aaaaaaaaaaaa'", "venue `a`: unknown city `1`"),
            ("[[venue]]\nid='a'\nname='A'\ncity=370100\nscenarios=['nope']\nrate_per_sec=1\ndemo_key='aaaaaaaaaaaa'", "unknown scenario `nope`"),
            ("[[venue]]\nid='a'\nname='A'\ncity=370100\nscenarios=[]\nrate_per_sec=1", "exactly one of"),
            ("[[venue]]\nid='a'\nname='A'\ncity=370100\nscenarios=[]\nrate_per_sec=0\ndemo_key='aaaaaaaaaaaa'", "rate_per_sec"),
            ("[[venue]]\nid='a'\nname='A'\ncity=370100\nscenarios=[]\nrate_per_sec=1\nkey_sha256='xyz'", "64 hex digits"),
        ];
        for (text, expected) in cases {
            let err = Venues::parse(text, "v.toml", &catalogue).expect_err(text);
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn the_quota_refuses_past_the_burst_and_says_when_to_retry() {
        let catalogue = Catalogue::embedded();
        let text = "[[venue]]\nid='a'\nname='A'\ncity=370100\nscenarios=[]\nrate_per_sec=1\ndemo_key='aaaaaaaaaaaa'";
        let venues = Venues::parse(text, "v.toml", &catalogue).expect("valid");
        let v = venues.by_key("aaaaaaaaaaaa").expect("venue");
        assert!(v.admit().is_ok());
        assert!(v.admit().is_ok(), "burst of two");
        let wait = v.admit().expect_err("third within a second is refused");
        assert!(wait.as_millis() > 0);
    }
}
