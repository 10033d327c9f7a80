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
use wire::catalogue::{
    Catalogue, CERTIFICATES_FILE, CITIES_FILE, DEPARTMENTS_FILE, SCENARIOS_FILE, SERVICE_ITEMS_FILE,
};
use wire::code::{HolderClaims, Minter, Profile};
use wire::issuer_api::RecordResponse;

/// The repository's `config/` folder.
fn repository_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// A venue of `config/venues.toml` allowed `park-entry-senior`, and its key.
const PARK_KEY: &str = "demo-park-7f3c9a1e";
const SCENARIO: &str = "park-entry-senior";
const SEED: u64 = 1;

/// The repository's catalogue in `dir`, every `embedded` endpoint replaced by the URL of that
/// backend at `base` (the issuer's, or a middleman's in front of it).
fn catalogue_at(dir: &Path, base: &str) {
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
            r#"province = { endpoint = "embedded" }"# => {
                format!(r#"province = {{ endpoint = "{base}/backends/{department}/province" }}"#)
            }
            r#"cities = { endpoint = "embedded" }"# => {
                format!(r#"cities = {{ endpoint = "{base}/backends/{department}/{{city}}" }}"#)
            }
            // The national hub's one backend.
            r#"endpoint = "embedded""# => {
                format!(r#"endpoint = "{base}/backends/{department}/national""#)
            }
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

/// A gateway configuration with its data and its catalogue (every department at `base`, in
/// `data/catalogue`) in `data`, and the repository's keys and venues as files.
fn deployment_config(data: &Path, base: &str) -> GatewayConfig {
    let catalogue_dir = data.join("catalogue");
    std::fs::create_dir(&catalogue_dir).expect("catalogue folder");
    catalogue_at(&catalogue_dir, base);
    let keys = repository_config().join("keys");
    let mut config = GatewayConfig::loopback(&data.join("gateway"));
    config.catalogue.dir = Some(catalogue_dir);
    config.codes.trust = Some(keys.join("platform.trust.toml"));
    config.departments.seal_trust = Some(keys.join("department-seals.trust.toml"));
    config.venues.file = Some(repository_config().join("venues.toml"));
    config
}

/// A fresh EdDSA code of the demo platform for `handle`, living in `city`.
fn code_for(handle: &str, city: u32) -> String {
    let signing =
        wire::keys::load_signing_keys(&repository_config().join("keys/platform.demo-secret.toml"))
            .expect("platform keys")
            .into_iter()
            .find(|k| k.algorithm() == Profile::Eddsa.algorithm())
            .expect("an EdDSA key");
    Minter::new(signing).mint(&HolderClaims::fresh_person(handle, Some(city), 600))
}

/// The park venue's verification of `code` on `gateway`'s plain listener: the answer's JSON.
async fn verify(gateway: &gateway::app::Gateway, code: &str) -> Value {
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
    serde_json::from_slice(&body.to_bytes()).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senior_passes_with_the_departments_at_urls() {
    let catalogue = Arc::new(Catalogue::embedded());
    let issuer = start_issuer(&catalogue).await;
    let data = tempfile::tempdir().expect("data folder");
    let mut config = deployment_config(data.path(), &issuer.url());
    config.fetch.deadline_ms = 10_000;
    let gateway = gateway::app::start(config)
        .await
        .expect("the gateway starts");

    let (handle, city) = senior(&catalogue);
    let answer = verify(&gateway, &code_for(&handle, city)).await;
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
    let config = deployment_config(data.path(), &issuer.url());
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

/// What the middleman between the gateway and the departments does to answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Middleman {
    /// Passes answers on as they are.
    Forward,
    /// Keeps the department's real answer and hands on a copy sealed again (with the
    /// department's own key) as if issued ten minutes ago: the seal holds, the time is old.
    Backdate,
    /// Hands on the answer it kept, to a query it was not for: the seal and the time hold.
    Replay,
}

/// A middleman in front of the issuer that can backdate or replay department answers.
struct Tampering {
    issuer: String,
    mode: std::sync::Mutex<Middleman>,
    kept: std::sync::Mutex<Option<Bytes>>,
}

impl Tampering {
    async fn answer(&self, request: Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.expect("query body").to_bytes();
        let forward = Request::builder()
            .method(parts.method)
            .uri(format!("{}{}", self.issuer, parts.uri))
            .header("content-type", "application/json")
            .body(Full::new(body))
            .expect("forwarded request");
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let response = client.request(forward).await.expect("the issuer answers");
        let status = response.status();
        let real = response
            .into_body()
            .collect()
            .await
            .expect("answer")
            .to_bytes();
        let mode = *self.mode.lock().expect("mode");
        let handed_on = match mode {
            Middleman::Forward => real,
            Middleman::Backdate => {
                *self.kept.lock().expect("kept") = Some(real.clone());
                let mut answer: RecordResponse = serde_json::from_slice(&real).expect("records");
                let keys = issuer::seal_keys::demo_seal_keys();
                for record in &mut answer.records {
                    record.issued_at -= chrono::Duration::minutes(10);
                    let key = keys
                        .iter()
                        .find(|k| k.owner() == record.department)
                        .expect("the department's demo seal key");
                    record.seal(key);
                }
                Bytes::from(serde_json::to_vec(&answer).expect("JSON"))
            }
            Middleman::Replay => self
                .kept
                .lock()
                .expect("kept")
                .clone()
                .expect("an answer kept"),
        };
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(handed_on))
            .expect("response")
    }
}

/// A middleman on a loopback port in front of `issuer`; its base URL.
async fn start_middleman(middleman: Arc<Tampering>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            let middleman = Arc::clone(&middleman);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let middleman = Arc::clone(&middleman);
                    async move { Ok::<_, std::convert::Infallible>(middleman.answer(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// A department answer is taken only fresh: sealed for the query the gateway just sent, and
/// recently. A middleman who kept a real, correctly sealed answer cannot hand it on for a
/// later query (after a revocation, say), and an answer sealed long ago is refused too, each
/// as `department_stale_record`; nothing refused is cached, so the next honest answer passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_or_replayed_department_answers_are_refused_as_stale() {
    let catalogue = Arc::new(Catalogue::embedded());
    let issuer = start_issuer(&catalogue).await;
    let middleman = Arc::new(Tampering {
        issuer: issuer.url(),
        mode: std::sync::Mutex::new(Middleman::Backdate),
        kept: std::sync::Mutex::new(None),
    });
    let base = start_middleman(Arc::clone(&middleman)).await;
    let data = tempfile::tempdir().expect("data folder");
    let mut config = deployment_config(data.path(), &base);
    config.fetch.deadline_ms = 10_000;
    let gateway = gateway::app::start(config)
        .await
        .expect("the gateway starts");
    let (handle, city) = senior(&catalogue);
    let stale_requirement = |answer: &Value| {
        assert_eq!(answer["verdict"], "unavailable", "{answer}");
        assert_eq!(
            answer["requirements"][0]["reason"], "department_stale_record",
            "{answer}"
        );
    };

    // Sealed by the department ten minutes ago (and kept by the middleman as it came).
    stale_requirement(&verify(&gateway, &code_for(&handle, city)).await);
    // The real answer of that first query, handed on for the next one.
    *middleman.mode.lock().expect("mode") = Middleman::Replay;
    stale_requirement(&verify(&gateway, &code_for(&handle, city)).await);
    // The same holder, the department's own fresh answer.
    *middleman.mode.lock().expect("mode") = Middleman::Forward;
    let answer = verify(&gateway, &code_for(&handle, city)).await;
    assert_eq!(answer["verdict"], "pass", "{answer}");

    let admin = gateway.admin_addr.expect("the admin listener");
    let metrics = metrics_of(admin).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mz_upstream_requests_total")
                && l.contains("outcome=\"stale_record\"")
                && l.ends_with(" 2")),
        "two stale answers counted:\n{metrics}"
    );

    gateway.shutdown.trigger();
    gateway.run().await.expect("a clean stop");
    issuer.shutdown().await;
}

/// The admin listener's `/metrics`.
async fn metrics_of(admin: std::net::SocketAddr) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::get(format!("http://{admin}/metrics"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("metrics");
    let body = response.into_body().collect().await.expect("body");
    String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8")
}
