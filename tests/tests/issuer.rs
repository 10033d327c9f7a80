//! End-to-end tests of the reference issuer over real sockets on 127.0.0.1 (port 0): the record
//! query and its seals, overrides and change notifications, problems, fault knobs, stats and
//! shutdown. No timing thresholds: latency is only checked to be at least what was configured.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use issuer::{IssuerConfig, NotifyConfig, Population, RunningIssuer};
use serde_json::{json, Value};
use wire::catalogue::model::{BackendScope, HolderKind};
use wire::catalogue::Catalogue;
use wire::issuer_api::{IssuerEvent, RecordQuery, RecordResponse, RecordStatus};
use wire::keys::TrustList;

const TOKEN: &str = "test-admin-token";

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn catalogue() -> Arc<Catalogue> {
    Arc::new(Catalogue::embedded())
}

fn config() -> IssuerConfig {
    let keys =
        wire::keys::load_signing_keys(&repo_file("config/keys/department-seals.secret.toml"))
            .expect("demo seal keys");
    let mut config = IssuerConfig::new(catalogue(), keys);
    config.admin_token = Some(TOKEN.to_string());
    config.rng_seed = Some(42);
    config.shutdown_grace = Duration::from_secs(2);
    config
}

async fn start(config: IssuerConfig) -> RunningIssuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    issuer::start(config, listener)
        .await
        .expect("issuer starts")
}

fn today() -> chrono::NaiveDate {
    wire::calendar::china_today(chrono::Utc::now())
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts an RFC 9457 problem with this status and code.
    fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let p = self.json();
        assert_eq!(p["code"], code, "{p}");
        assert_eq!(p["status"], status.as_u16());
        assert!(p["title"].is_string() && p["type"].is_string());
    }
}

async fn call(method: Method, url: &str, token: Option<&str>, body: impl Into<Bytes>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = client
        .request(req.body(Full::new(body.into())).expect("request"))
        .await
        .expect("issuer answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

fn query_url(issuer: &RunningIssuer, department: &str, scope: BackendScope) -> String {
    format!("{}/v1/records:query", issuer.base_url(department, scope))
}

async fn query(
    issuer: &RunningIssuer,
    department: &str,
    scope: BackendScope,
    q: &RecordQuery,
) -> Answer {
    let body = serde_json::to_vec(q).expect("query json");
    call(
        Method::POST,
        &query_url(issuer, department, scope),
        None,
        body,
    )
    .await
}

fn person_query(subject: &str, certificates: &[&str]) -> RecordQuery {
    RecordQuery {
        subject: subject.to_string(),
        holder_kind: HolderKind::Person,
        certificates: certificates.iter().map(|c| c.to_string()).collect(),
        request_id: Some("e2e-1".into()),
        nonce: Some("q-e2e-1".into()),
    }
}

/// A person holding every one of `certs` (any status but not_found), by the population's own
/// functions: what tests and the load tester use to pick holders.
fn holder_of(certs: &[&str], status: Option<RecordStatus>) -> String {
    let cat = Catalogue::embedded();
    let pop = Population::with_cities(issuer::config::DEFAULT_SEED, cat.cities());
    let found = pop.find_handles("e2e-", 1, |h| {
        certs.iter().all(|c| {
            pop.record_in(&cat, h, HolderKind::Person, c, today())
                .is_some_and(|r| match status {
                    Some(s) => r.status == s,
                    None => r.status != RecordStatus::NotFound,
                })
        })
    });
    found.into_iter().next().expect("a holder exists")
}

async fn stats(issuer: &RunningIssuer) -> Value {
    let a = call(
        Method::GET,
        &format!("{}/admin/stats", issuer.url()),
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    a.json()
}

#[tokio::test]
async fn one_query_answers_three_sealed_records_that_verify() {
    let issuer = start(config()).await;
    let certs = ["resident-id-card", "driving-licence", "vehicle-licence"];
    let subject = holder_of(&certs, None);
    let q = person_query(&subject, &certs);
    let a = query(&issuer, "public-security", BackendScope::Province, &q).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let resp: RecordResponse = serde_json::from_slice(&a.body).expect("response");
    assert_eq!(resp.backend, "public-security/province");
    resp.answers(&q)
        .expect("one record per asked type, in order");

    let trust = TrustList::load(&repo_file("config/keys/department-seals.trust.toml"))
        .expect("demo trust list");
    let cat = Catalogue::embedded();
    for record in &resp.records {
        record
            .verify_seal(&trust, chrono::Utc::now())
            .expect("seal verifies with the trust list");
        assert_eq!(
            record.query_nonce, q.nonce,
            "the query's nonce is sealed into every record"
        );
        record.validate_identifiers().expect("licence id is valid");
        assert!(record.licence_id.is_some());
        record
            .validate_fields(cat.certificate(&record.certificate).expect("type"))
            .expect("fields fit the type");
    }
    // The records are what the population says, and stable across queries.
    let again: RecordResponse = serde_json::from_slice(
        &query(&issuer, "public-security", BackendScope::Province, &q)
            .await
            .body,
    )
    .expect("response");
    for (a, b) in resp.records.iter().zip(&again.records) {
        assert_eq!(a.licence_id, b.licence_id);
        assert_eq!(a.fields, b.fields);
        assert_eq!(a.status, b.status);
    }
    let stats = stats(&issuer).await;
    assert_eq!(stats["backends"]["public-security/province"]["queries"], 2);
    assert_eq!(stats["backends"]["public-security/province"]["records"], 6);
    issuer.shutdown().await;
}

/// A gateway stand-in: records every event delivery; answers 500 to the first `fail_first`.
#[derive(Default)]
struct Receiver {
    deliveries: Mutex<Vec<(Option<String>, IssuerEvent)>>,
    fail_first: usize,
}

async fn start_receiver(fail_first: usize) -> (SocketAddr, Arc<Receiver>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let receiver = Arc::new(Receiver {
        deliveries: Mutex::new(Vec::new()),
        fail_first,
    });
    let r = receiver.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let r = r.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let r = r.clone();
                        async move {
                            assert_eq!(req.uri().path(), "/v1/issuer-events");
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(String::from);
                            let body = req.into_body().collect().await.expect("body").to_bytes();
                            let event: IssuerEvent = serde_json::from_slice(&body).expect("event");
                            let n = {
                                let mut d = r.deliveries.lock().expect("lock");
                                d.push((auth, event));
                                d.len()
                            };
                            let status = if n <= r.fail_first {
                                StatusCode::INTERNAL_SERVER_ERROR
                            } else {
                                StatusCode::ACCEPTED
                            };
                            let mut resp = Response::new(Full::new(Bytes::new()));
                            *resp.status_mut() = status;
                            Ok::<_, Infallible>(resp)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, receiver)
}

#[tokio::test]
async fn a_revocation_shows_in_the_next_query_and_reaches_the_gateway_after_a_retry() {
    let (receiver_addr, receiver) = start_receiver(1).await;
    let mut notify = NotifyConfig::new(format!("http://{receiver_addr}"));
    notify.tokens.insert("health".into(), "health-token".into());
    notify.default_token = Some("other-token".into());
    notify.base_backoff = Duration::from_millis(20);
    notify.max_backoff = Duration::from_millis(100);
    let mut config = config();
    config.notify = Some(notify);
    let issuer = start(config).await;

    let senior = holder_of(&["senior-citizen-card"], Some(RecordStatus::Valid));
    let q = person_query(&senior, &["senior-citizen-card"]);
    let before: RecordResponse = serde_json::from_slice(
        &query(&issuer, "health", BackendScope::Province, &q)
            .await
            .body,
    )
    .expect("response");
    assert_eq!(before.records[0].status, RecordStatus::Valid);

    let admin = format!("{}/admin/overrides", issuer.url());
    let body = json!({"subject": senior, "certificate": "senior-citizen-card", "action": "revoke"});
    let a = call(Method::POST, &admin, Some(TOKEN), body.to_string()).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let event_id = a.json()["event_id"].as_str().expect("event id").to_string();

    let after: RecordResponse = serde_json::from_slice(
        &query(&issuer, "health", BackendScope::Province, &q)
            .await
            .body,
    )
    .expect("response");
    assert_eq!(after.records[0].status, RecordStatus::Revoked);
    // The revoked record is sealed like any other.
    after.records[0]
        .verify_seal(&issuer::seal_keys::demo_trust_list(), chrono::Utc::now())
        .expect("sealed");

    // The event arrives: first attempt answered 500, the retry 202.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if receiver.deliveries.lock().expect("lock").len() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "event not delivered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deliveries = receiver.deliveries.lock().expect("lock").clone();
    assert_eq!(deliveries.len(), 2);
    for (auth, event) in &deliveries {
        assert_eq!(auth.as_deref(), Some("Bearer health-token"));
        assert_eq!(event.event_id, event_id);
        assert_eq!(event.department, "health");
        assert_eq!(event.subject, senior);
        assert_eq!(event.certificate, "senior-citizen-card");
        assert_eq!(event.change, wire::issuer_api::Change::Revoked);
    }
    let s = stats(&issuer).await;
    assert_eq!(s["notify"]["delivered"], 1);
    assert_eq!(s["notify"]["retries"], 1);
    assert_eq!(s["overrides"], 1);

    // A correction must fit its field; a good one shows up too.
    let bad = json!({"subject": senior, "certificate": "senior-citizen-card", "action": "correct",
                     "field": "birth_date", "value": {"integer": 3}});
    call(Method::POST, &admin, Some(TOKEN), bad.to_string())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "admin.bad_request");
    let good = json!({"subject": senior, "certificate": "senior-citizen-card", "action": "correct",
                      "field": "card_number", "value": {"text": "SD-0001"}});
    assert_eq!(
        call(Method::POST, &admin, Some(TOKEN), good.to_string())
            .await
            .status,
        StatusCode::OK
    );
    let reinstate =
        json!({"subject": senior, "certificate": "senior-citizen-card", "action": "reinstate"});
    assert_eq!(
        call(Method::POST, &admin, Some(TOKEN), reinstate.to_string())
            .await
            .status,
        StatusCode::OK
    );
    let now: RecordResponse = serde_json::from_slice(
        &query(&issuer, "health", BackendScope::Province, &q)
            .await
            .body,
    )
    .expect("response");
    assert_eq!(now.records[0].status, RecordStatus::Valid);
    assert_eq!(
        now.records[0].fields["card_number"],
        wire::issuer_api::FieldValue::Text("SD-0001".into())
    );
    let list = call(Method::GET, &admin, Some(TOKEN), "").await.json();
    assert_eq!(list["overrides"][0]["subject"], senior);
    assert_eq!(list["overrides"][0]["changes"], 3);
    issuer.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_their_problem_codes() {
    let mut config = config();
    config.departments = Some(vec!["public-security".into(), "health".into()]);
    let issuer = start(config).await;
    let ps = query_url(&issuer, "public-security", BackendScope::Province);

    let refused: [(&[&str], &str); 4] = [
        // A type of another department, and one of another level of the same department.
        (
            &["resident-id-card", "senior-citizen-card"],
            "query.wrong_backend",
        ),
        (&["residence-permit"], "query.wrong_backend"),
        (&["no-such-certificate"], "query.unknown_certificate"),
        (
            &["resident-id-card", "resident-id-card"],
            "query.duplicate_certificate",
        ),
    ];
    for (certificates, code) in refused {
        query(
            &issuer,
            "public-security",
            BackendScope::Province,
            &person_query("h-1", certificates),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, code);
    }
    let too_many: Vec<String> = (0..65).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = too_many.iter().map(String::as_str).collect();
    query(
        &issuer,
        "public-security",
        BackendScope::Province,
        &person_query("h-1", &refs),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "query.certificate_count");
    let mut org = person_query("h-1", &["resident-id-card"]);
    org.holder_kind = HolderKind::Organisation;
    query(&issuer, "public-security", BackendScope::Province, &org)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "query.wrong_holder_kind");

    call(Method::POST, &ps, None, "{not json")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "query.bad_json");
    call(
        Method::POST,
        &ps,
        None,
        r#"{"subject":"h","holder_kind":"person"}"#,
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "query.bad_json");
    let huge = format!(
        r#"{{"subject":"h","holder_kind":"person","certificates":["{}"]}}"#,
        "x".repeat(20_000)
    );
    call(Method::POST, &ps, None, huge)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "request.too_large");
    call(Method::GET, &ps, None, "")
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED, "request.method_not_allowed");

    // Unknown or unserved backends.
    for url in [
        query_url(&issuer, "education", BackendScope::Province),
        query_url(&issuer, "public-security", BackendScope::City(999900)),
        format!(
            "{}/backends/public-security/nowhere/v1/records:query",
            issuer.url()
        ),
        format!(
            "{}/backends/public-security/province/v2/records:query",
            issuer.url()
        ),
        format!("{}/elsewhere", issuer.url()),
    ] {
        call(Method::POST, &url, None, "{}")
            .await
            .assert_problem(StatusCode::NOT_FOUND, "request.not_found");
    }
    // Admin needs the token.
    for token in [None, Some("wrong")] {
        call(
            Method::GET,
            &format!("{}/admin/stats", issuer.url()),
            token,
            "",
        )
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "admin.unauthorized");
    }
    let s = stats(&issuer).await;
    assert_eq!(s["backends"]["public-security/province"]["bad_requests"], 9);
    assert_eq!(s["backends"]["public-security/province"]["answered"], 0);
    issuer.shutdown().await;
}

#[tokio::test]
async fn fault_knobs_take_effect_at_run_time() {
    let issuer = start(config()).await;
    let faults = format!("{}/admin/faults", issuer.url());
    let q = person_query("h-1", &["senior-citizen-card"]);
    let ok = |a: &Answer| a.status == StatusCode::OK;

    // Latency on one backend: at least what was configured there.
    let plan = json!({"backends": {"health/province": {"latency": {"fixed_ms": 150}}}});
    assert_eq!(
        call(Method::PUT, &faults, Some(TOKEN), plan.to_string())
            .await
            .status,
        StatusCode::OK
    );
    let started = Instant::now();
    assert!(ok(
        &query(&issuer, "health", BackendScope::Province, &q).await
    ));
    assert!(started.elapsed() >= Duration::from_millis(150));
    let plan = json!({"all": {"latency": {"min_ms": 30, "max_ms": 60}}});
    call(Method::PUT, &faults, Some(TOKEN), plan.to_string()).await;
    let started = Instant::now();
    assert!(ok(
        &query(&issuer, "health", BackendScope::Province, &q).await
    ));
    assert!(started.elapsed() >= Duration::from_millis(30));

    // Every query fails.
    let plan = json!({"backends": {"health/province": {"error_rate": 1.0}}});
    call(Method::PUT, &faults, Some(TOKEN), plan.to_string()).await;
    let a = query(&issuer, "health", BackendScope::Province, &q).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "backend.unavailable");
    assert!(a.headers.contains_key("retry-after"));
    // ... but only on that backend.
    let other = person_query("h-1", &["resident-id-card"]);
    assert!(ok(&query(
        &issuer,
        "public-security",
        BackendScope::Province,
        &other
    )
    .await));

    // Half of them fail (seeded): some of each.
    let plan = json!({"backends": {"health/province": {"error_rate": 0.5}}});
    call(Method::PUT, &faults, Some(TOKEN), plan.to_string()).await;
    let mut failed = 0;
    for _ in 0..40 {
        if !ok(&query(&issuer, "health", BackendScope::Province, &q).await) {
            failed += 1;
        }
    }
    assert!(failed > 0 && failed < 40, "{failed}");

    // Down: 503 at once, counted.
    let plan = json!({"backends": {"health/province": {"down": true}}});
    call(Method::PUT, &faults, Some(TOKEN), plan.to_string()).await;
    query(&issuer, "health", BackendScope::Province, &q)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "backend.unavailable");
    let s = stats(&issuer).await;
    assert_eq!(s["backends"]["health/province"]["down"], 1);
    assert_eq!(
        s["backends"]["health/province"]["injected_errors"],
        failed + 1
    );

    // A bad plan is refused and the old one kept.
    let bad = json!({"backends": {"nowhere/province": {"down": true}}});
    call(Method::PUT, &faults, Some(TOKEN), bad.to_string())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "admin.bad_request");
    let current = call(Method::GET, &faults, Some(TOKEN), "").await.json();
    assert_eq!(current["backends"]["health/province"]["down"], true);

    // Cleared: back to normal.
    call(Method::PUT, &faults, Some(TOKEN), "{}").await;
    assert!(ok(
        &query(&issuer, "health", BackendScope::Province, &q).await
    ));
    issuer.shutdown().await;
}

#[tokio::test]
async fn faults_from_the_config_apply_from_the_start() {
    let mut config = config();
    config.faults = serde_json::from_value(json!({"all": {"down": true}})).expect("plan");
    let issuer = start(config).await;
    query(
        &issuer,
        "health",
        BackendScope::Province,
        &person_query("h-1", &["senior-citizen-card"]),
    )
    .await
    .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "backend.unavailable");
    issuer.shutdown().await;
}

#[tokio::test]
async fn city_level_types_are_answered_by_the_home_city_only() {
    let issuer = start(config()).await;
    let cat = Catalogue::embedded();
    let pop = Population::with_cities(issuer::config::DEFAULT_SEED, cat.cities());
    let subject = holder_of(&["residence-permit"], None);
    let home = pop.person(&subject).home_city;
    let q = person_query(&subject, &["residence-permit"]);
    let at_home: RecordResponse = serde_json::from_slice(
        &query(&issuer, "public-security", BackendScope::City(home), &q)
            .await
            .body,
    )
    .expect("response");
    assert_ne!(at_home.records[0].status, RecordStatus::NotFound);
    assert_eq!(at_home.backend, format!("public-security/{home}"));
    let elsewhere = cat
        .cities()
        .iter()
        .find(|c| c.code != home)
        .expect("another city")
        .code;
    let away: RecordResponse = serde_json::from_slice(
        &query(
            &issuer,
            "public-security",
            BackendScope::City(elsewhere),
            &q,
        )
        .await
        .body,
    )
    .expect("response");
    assert_eq!(away.records[0].status, RecordStatus::NotFound);
    away.records[0]
        .verify_seal(&issuer::seal_keys::demo_trust_list(), chrono::Utc::now())
        .expect("not_found is sealed too");
    issuer.shutdown().await;
}

#[tokio::test]
async fn a_missing_seal_key_stops_the_start_and_shutdown_closes_the_listener() {
    let mut config = config();
    config.seal_keys.retain(|k| k.owner() != "health");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = issuer::start(config, listener)
        .await
        .expect_err("no key for health");
    assert!(err.to_string().contains("health"), "{err}");

    let issuer = start(self::config()).await;
    let addr = issuer.local_addr();
    let health = call(Method::GET, &format!("http://{addr}/healthz"), None, "").await;
    assert_eq!(health.status, StatusCode::OK);
    issuer.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn notifications_give_up_after_their_bound_and_say_so() {
    let (receiver_addr, receiver) = start_receiver(usize::MAX).await;
    let mut notify = NotifyConfig::new(format!("http://{receiver_addr}"));
    notify.max_attempts = 3;
    notify.base_backoff = Duration::from_millis(5);
    notify.max_backoff = Duration::from_millis(20);
    let mut config = config();
    config.notify = Some(notify);
    let issuer = start(config).await;
    let body = json!({"subject": "h-1", "certificate": "driving-licence", "action": "suspend"});
    let a = call(
        Method::POST,
        &format!("{}/admin/overrides", issuer.url()),
        Some(TOKEN),
        body.to_string(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stats(&issuer).await;
        if s["notify"]["gave_up"] == 1 {
            assert_eq!(s["notify"]["retries"], 2);
            assert_eq!(s["notify"]["delivered"], 0);
            break;
        }
        assert!(Instant::now() < deadline, "never gave up: {s}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(receiver.deliveries.lock().expect("lock").len(), 3);
    issuer.shutdown().await;
}
