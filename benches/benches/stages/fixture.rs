//! A demo gateway started in-process (embedded departments, TLS off, ports 0) and fresh codes
//! for holders who pass `park-entry-senior`, shared by the pipeline benchmarks.

use std::sync::Arc;

use chrono::Utc;
use gateway::app::Gateway;
use gateway::config::GatewayConfig;
use http::HeaderMap;
use wire::catalogue::model::HolderKind;
use wire::catalogue::Catalogue;
use wire::code::{HolderClaims, Minter, Profile, Purpose};

pub const SCENARIO: &str = "park-entry-senior";
pub const VENUE_KEY: &str = "demo-park-7f3c9a1e";

pub struct Fixture {
    pub gateway: Gateway,
    pub headers: HeaderMap,
    minter: Minter,
    holders: Vec<(String, u32)>,
    _data: tempfile::TempDir,
}

impl Fixture {
    pub async fn start(profile: Profile, holders: usize) -> Fixture {
        let shm = std::path::Path::new("/dev/shm");
        let data = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let mut config = GatewayConfig::loopback(data.path());
        // Each verify appends its audit entry but does not wait for the group commit (an fsync
        // and a batching delay: latency, not work); the backlog is large enough for a whole
        // run, and the store sits on tmpfs where /dev/shm exists. The commits run on the
        // store's own thread, beside the measured pipeline.
        config.audit.wait_for_commit = false;
        config.audit.backlog = 50_000_000;
        // The demo venue's quota (200/s) would refuse a benchmark's rate: raise it.
        let venues = data.path().join("venues.toml");
        let raised: String = gateway::demo::VENUES
            .lines()
            .map(|l| {
                if l.starts_with("rate_per_sec") {
                    "rate_per_sec = 1000000"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&venues, raised).expect("write venues");
        config.venues.file = Some(venues);
        let gateway = gateway::app::start(config).await.expect("gateway starts");
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            format!("Bearer {VENUE_KEY}").parse().expect("header"),
        );
        let key = wire::keys::parse_signing_keys(gateway::demo::PLATFORM_SECRET)
            .expect("demo keys")
            .into_iter()
            .find(|k| k.algorithm() == profile.algorithm())
            .expect("a key for the profile");
        Fixture {
            gateway,
            headers,
            minter: Minter::new(key),
            holders: passing_holders(holders),
            _data: data,
        }
    }

    /// A request body with a fresh code for holder `i` (modulo the population).
    pub fn body(&self, i: usize) -> Vec<u8> {
        let (subject, city) = &self.holders[i % self.holders.len()];
        let now = Utc::now().timestamp();
        let claims = HolderClaims {
            issuer: "mianzheng-platform".into(),
            subject: subject.clone(),
            kind: HolderKind::Person,
            city: Some(*city),
            issued_at: now,
            expires_at: now + 300,
            nonce: rand::random::<[u8; 16]>().to_vec(),
            scope: None,
            purpose: Purpose::Presentation,
            presenter: None,
            medium: Default::default(),
        };
        serde_json::to_vec(
            &serde_json::json!({"code": self.minter.mint(&claims), "scenario": SCENARIO}),
        )
        .expect("json")
    }

    /// Holder `i`'s subject handle and home city.
    pub fn holder(&self, i: usize) -> (&str, u32) {
        let (subject, city) = &self.holders[i % self.holders.len()];
        (subject, *city)
    }

    pub fn service(&self) -> &Arc<gateway::verify::VerifyService> {
        &self.gateway.service
    }
}

fn passing_holders(n: usize) -> Vec<(String, u32)> {
    let population = issuer::population::Population::new(issuer::config::DEFAULT_SEED);
    let catalogue = Catalogue::embedded();
    let today = wire::calendar::china_today(Utc::now());
    population
        .seniors(&catalogue, "bench-", n, today)
        .into_iter()
        .map(|h| {
            let city = population.person(&h).home_city;
            (h, city)
        })
        .collect()
}
