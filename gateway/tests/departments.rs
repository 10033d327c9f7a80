//! The gateway with its departments at URLs, as in a deployment: the reference issuer (the
//! `issuer` crate) on a loopback port answers for every department, and the gateway is given
//! its catalogue, keys, trust lists and venues as files. Nothing here needs the `demo`
//! feature, so `cargo test -p gateway --no-default-features` runs it too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use gateway::config::GatewayConfig;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use issuer::{IssuerConfig, Population, RunningIssuer};
use serde_json::Value;
use tokio::net::TcpListener;
use wire::calendar::china_today;
use wire::catalogue::model::BackendScope;
use wire::catalogue::{
    Catalogue, CERTIFICATES_FILE, CITIES_FILE, DEPARTMENTS_FILE, SCENARIOS_FILE, SERVICE_ITEMS_FILE,
};
use wire::code::{HolderClaims, Minter, Profile};

/// The repository's `config/` folder.
fn repository_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// A venue of `config/venues.toml` allowed `park-entry-senior`, and its key.
const PARK_KEY: &str = "demo-park-7f3c9a1e";
const SCENARIO: &str = "park-entry-senior";
const SEED: u64 = 1;

/// The repository's catalogue in `dir`, every `embedded` endpoint replaced by `issuer`'s URL
/// for that backend.
fn catalogue_at(dir: &Path, issuer: &RunningIssuer) {
    let config = repository_config();
    for file in [
        CERTIFICATES_FILE,
        CITIES_FILE,
        SCENARIOS_FILE,
        SERVICE_ITEMS_FILE,
    ] {
        std::fs::copy(config.join(file), dir.join(file)).expect("copy a catalogue file");
    }
    let departments =
        std::fs::read_to_string(config.join(DEPARTMENTS_FILE)).expect("departments.toml");
    let mut department = String::new();
    let mut rewritten = String::new();
    for line in departments.lines() {
        if let Some(id) = line.strip_prefix("id = ") {
            department = id.trim_matches('"').to_string();
        }
        let line = match line {
            r#"province = { endpoint = "embedded" }"# => format!(
                r#"province = {{ endpoint = "{}" }}"#,
                issuer.base_url(&department, BackendScope::Province)
            ),
            r#"cities = { endpoint = "embedded" }"# => format!(
                r#"cities = {{ endpoint = "{}/backends/{department}/{{city}}" }}"#,
                issuer.url()
            ),
            other => other.to_string(),
        };
        rewritten.push_str(&line);
        rewritten.push('\n');
    }
    assert!(
        !rewritten
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("\"embedded\"")),
        "every endpoint is a URL"
    );
    std::fs::write(dir.join(DEPARTMENTS_FILE), rewritten).expect("write departments.toml");
}

/// A holder aged 60 or more with a valid senior citizen card, as the issuer has them.
fn senior(catalogue: &Catalogue) -> (String, u32) {
    let population = Population::new(SEED);
    let today = china_today(Utc::now());
    let handle = population
        .seniors(catalogue, "url-senior-", 1, today)
        .pop()
        .expect("a senior in the population");
    let city = population.person(&handle).home_city;
    (handle, city)
}

/// The reference issuer answering for every department, on a loopback port.
async fn start_issuer(catalogue: &Arc<Catalogue>) -> RunningIssuer {
    let mut issuer_config =
        IssuerConfig::new(Arc::clone(catalogue), issuer::seal_keys::demo_seal_keys());
    issuer_config.seed = SEED;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    issuer::start(issuer_config, listener)
        .await
        .expect("the issuer starts")
}

/// A gateway configuration with its data and its catalogue (every department at `issuer`'s
/// URLs, in `data/catalogue`) in `data`, and the repository's keys and venues as files.
fn deployment_config(data: &Path, issuer: &RunningIssuer) -> GatewayConfig {
    let catalogue_dir = data.join("catalogue");
    std::fs::create_dir(&catalogue_dir).expect("catalogue folder");
    catalogue_at(&catalogue_dir, issuer);
    let keys = repository_config().join("keys");
    let mut config = GatewayConfig::loopback(&data.join("gateway"));
    config.catalogue.dir = Some(catalogue_dir);
    config.codes.trust = Some(keys.join("platform.trust.toml"));
    config.departments.seal_trust = Some(keys.join("department-seals.trust.toml"));
    config.venues.file = Some(repository_config().join("venues.toml"));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senior_passes_with_the_departments_at_urls() {
    let catalogue = Arc::new(Catalogue::embedded());
    let issuer = start_issuer(&catalogue).await;
    let data = tempfile::tempdir().expect("data folder");
    let mut config = deployment_config(data.path(), &issuer);
    config.fetch.deadline_ms = 10_000;
    let gateway = gateway::app::start(config)
        .await
        .expect("the gateway starts");

    let (handle, city) = senior(&catalogue);
    let signing =
        wire::keys::load_signing_keys(&repository_config().join("keys/platform.demo-secret.toml"))
            .expect("platform keys")
            .into_iter()
            .find(|k| k.algorithm() == Profile::Eddsa.algorithm())
            .expect("an EdDSA key");
    let code = Minter::new(signing).mint(&HolderClaims::fresh_person(&handle, Some(city), 600));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = serde_json::json!({ "code": code, "scenario": SCENARIO }).to_string();
    let request = Request::post(format!("http://{}/v1/verify", gateway.public_addr))
        .header("authorization", format!("Bearer {PARK_KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("body");
    let answer: Value = serde_json::from_slice(&body.to_bytes()).expect("JSON");
    assert_eq!(answer["verdict"], "pass", "{answer}");

    gateway.shutdown.trigger();
    gateway.run().await.expect("a clean stop");
    issuer.shutdown().await;
}

/// Department records are sealed but not secret-free: a backend reached over plain http is
/// refused at start unless it is on loopback, naming the department and the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_over_plain_http_off_loopback_is_refused() {
    let catalogue = Arc::new(Catalogue::embedded());
    let issuer = start_issuer(&catalogue).await;
    let data = tempfile::tempdir().expect("data folder");
    let config = deployment_config(data.path(), &issuer);
    let departments_file = data.path().join("catalogue").join(DEPARTMENTS_FILE);
    let departments = std::fs::read_to_string(&departments_file).expect("departments.toml");
    let off_loopback = departments.replacen("http://127.0.0.1", "http://10.0.0.7", 1);
    assert_ne!(off_loopback, departments);
    std::fs::write(&departments_file, off_loopback).expect("write departments.toml");
    let refused = gateway::app::start(config)
        .await
        .expect_err("the gateway refuses to start");
    let message = format!("{refused:#}");
    assert!(
        message.contains("plain http:// off loopback") && message.contains("http://10.0.0.7"),
        "{message}"
    );
}
