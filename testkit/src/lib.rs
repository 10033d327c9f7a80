//! `testkit`: what the end-to-end tests (`tests/`) and the load tester's tests share — a gateway
//! on 127.0.0.1 port 0 with its embedded department backends, an HTTP/1.1 client, holder codes
//! minted with the demo platform keys, holders picked from the synthetic population, and an
//! oracle that says what the gateway should answer for a holder (the records from the
//! population, the rollout plan the test gateway enforces, each requirement decided by the
//! gateway's own `decide` stage, whose rules its unit tests pin down).
//!
//! - [`process`] — a gateway run as its binary, as an operator runs it.
//!
//! Every wait is bounded by [`PATIENCE`], so a broken gateway fails a test instead of hanging it;
//! nothing here asserts that anything is *fast*.

pub mod process;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDate;
use gateway::app::Gateway;
use gateway::config::GatewayConfig;
use gateway::verify::fetch::Answer;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use issuer::Population;
use serde_json::Value;
use wire::api::{Reason, Verdict, VerifyResponse, VERIFY_PATH};
use wire::catalogue::model::{CityCode, HolderKind, Requirement, Scenario};
use wire::catalogue::Catalogue;
use wire::code::{HolderClaims, Minter, Profile, Purpose};
use wire::issuer_api::Record;
use wire::keys::SigningKey;

/// Upper bound for anything the gateway is expected to do; only reached when it is broken.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Bearer token of the embedded backends' admin API (overrides, faults, stats).
pub const ADMIN_TOKEN: &str = "e2e-embedded-admin-token";

/// Fails the test when `future` does not finish within [`PATIENCE`].
pub async fn patiently<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {PATIENCE:?}"))
}

pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::embedded)
}

/// The rollout plan the test gateway enforces: the embedded `config/rollout.toml`
/// ([`GatewayConfig::embedded`] names no plan file).
pub fn rollout_plan() -> &'static wire::rollout::Plan {
    static PLAN: OnceLock<wire::rollout::Plan> = OnceLock::new();
    PLAN.get_or_init(|| wire::rollout::Plan::embedded(catalogue()))
}

pub fn scenario(id: &str) -> &'static Scenario {
    catalogue()
        .scenario(id)
        .unwrap_or_else(|| panic!("scenario `{id}` is in the catalogue"))
}

/// The population the gateway's embedded backends serve (the default seed).
pub fn population() -> &'static Population {
    static POPULATION: OnceLock<Population> = OnceLock::new();
    POPULATION.get_or_init(|| Population::new(issuer::config::DEFAULT_SEED))
}

/// Today in China, the day the gateway and the issuer judge validity on.
pub fn today() -> NaiveDate {
    wire::calendar::china_today(chrono::Utc::now())
}

fn demo_venues() -> &'static gateway::venues::Venues {
    static VENUES: OnceLock<gateway::venues::Venues> = OnceLock::new();
    VENUES.get_or_init(|| {
        gateway::venues::Venues::parse(gateway::demo::VENUES, "venues.toml", catalogue())
            .expect("the demo venues load")
    })
}

/// The clear key of the demo venue allowed `scenario` (from `config/venues.toml`).
pub fn venue_key(scenario: &str) -> String {
    demo_venues()
        .demo_for(scenario)
        .map(|(_, key)| key.to_string())
        .unwrap_or_else(|| panic!("a demo venue may use `{scenario}`"))
}

/// The clear key of the demo service window (from `config/venues.toml`), and its city.
pub fn service_window_key() -> (String, CityCode) {
    demo_venues()
        .iter()
        .find(|v| v.service_window)
        .and_then(|v| Some((v.demo_key.clone()?, v.city)))
        .expect("a demo venue is a service window")
}

// ---------------------------------------------------------------------------------------------
// The gateway under test
// ---------------------------------------------------------------------------------------------

/// The configuration tests start from: plain HTTP on the public listener, every port 0, a
/// temporary data folder, the embedded backends' admin API on, and a fetch deadline generous
/// enough that a busy 2-core machine never turns an answer into `unavailable` (tests about
/// deadlines set their own). Every test client shares one address and reuses holders, so the
/// holder routes' rate limits are lifted out of the way (the test of those limits sets its
/// own).
pub fn test_config(data_dir: &std::path::Path) -> GatewayConfig {
    let mut config = GatewayConfig::loopback(data_dir);
    config.departments.embedded_admin_token = Some(ADMIN_TOKEN.to_string());
    config.fetch.deadline_ms = 10_000;
    config.limits.holder_per_address_per_sec = 100_000;
    config.limits.holder_per_subject_per_sec = 100_000;
    config
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A running gateway with its temporary data folder and a client.
#[derive(Debug)]
pub struct TestGateway {
    pub gateway: Gateway,
    pub client: HttpClient,
    _data: tempfile::TempDir,
}

impl TestGateway {
    /// A gateway with [`test_config`].
    pub async fn start() -> TestGateway {
        TestGateway::start_with(|_| {}).await
    }

    /// A gateway with [`test_config`] changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
        let data = tempfile::tempdir().expect("temporary data folder");
        let mut config = test_config(data.path());
        adjust(&mut config);
        // Boxed: the start-up future is large, and every test awaits this one.
        let gateway = patiently("the gateway starts", Box::pin(gateway::app::start(config)))
            .await
            .expect("the gateway starts");
        TestGateway {
            gateway,
            client: http_client(),
            _data: data,
        }
    }

    /// The gateway's data folder (store, keys).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    /// Triggers the shutdown and waits for the drain (audit entries flushed, checkpoint
    /// signed); the data folder stays until `self` is dropped.
    pub async fn stop(self) -> tempfile::TempDir {
        self.gateway.shutdown.trigger();
        patiently("the gateway stops", self.gateway.run())
            .await
            .expect("a clean stop");
        self._data
    }

    /// `http://ADDR` of the public listener (plain HTTP in tests).
    pub fn url(&self) -> String {
        assert!(!self.gateway.public_tls, "this helper speaks plain HTTP");
        format!("http://{}", self.gateway.public_addr)
    }

    /// `http://ADDR/v1/verify` on the public listener (plain HTTP in tests).
    pub fn verify_url(&self) -> String {
        assert!(!self.gateway.public_tls, "this helper speaks plain HTTP");
        format!("http://{}{VERIFY_PATH}", self.gateway.public_addr)
    }

    /// `POST /v1/verify` with exactly these headers and body.
    pub async fn post_raw(&self, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.verify_url());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body.into())).expect("a valid request");
        send(&self.client, req).await
    }

    /// A verify request as a venue sends it, with request id `request_id`.
    pub async fn verify_as(
        &self,
        venue_key: &str,
        code: &str,
        scenario: &str,
        request_id: &str,
    ) -> Reply {
        let body = serde_json::json!({ "code": code, "scenario": scenario }).to_string();
        let auth = format!("Bearer {venue_key}");
        self.post_raw(
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("x-request-id", request_id),
            ],
            body,
        )
        .await
    }

    /// A verify request from the demo venue allowed `scenario`.
    pub async fn verify(&self, code: &str, scenario: &str) -> Reply {
        let id = format!("e2e-{:016x}", rand::random::<u64>());
        self.verify_as(&venue_key(scenario), code, scenario, &id)
            .await
    }

    /// Verifies a fresh code of `holder` for `scenario` and returns the verdict (200 expected).
    pub async fn verify_holder(&self, holder: &Holder, scenario: &str) -> VerifyResponse {
        self.verify(&holder.code().mint(), scenario).await.verdict()
    }

    /// Asserts the gateway still answers a good request: a fresh code of a holder who passes
    /// `park-entry-senior` gets `pass`.
    pub async fn assert_still_serving(&self, after: &str) {
        let holder = Holder::passing("park-entry-senior");
        let verdict = self.verify_holder(&holder, "park-entry-senior").await;
        assert_eq!(
            verdict.verdict,
            Verdict::Pass,
            "a valid verify after {after}: {verdict:?}"
        );
    }

    fn issuer(&self) -> &issuer::RunningIssuer {
        self.gateway
            .embedded
            .as_ref()
            .expect("the test gateway embeds its department backends")
    }

    /// A request to the embedded backends' admin API.
    pub async fn issuer_admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.issuer().url()))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(Full::new(
                body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
            ))
            .expect("a valid request");
        send(&self.client, req).await
    }

    /// Queries received so far, per backend (`<department>/<province|city code>`).
    pub async fn upstream_queries(&self) -> BTreeMap<String, u64> {
        self.upstream_counts("queries").await
    }

    /// Index requests (`records:locate`) each embedded backend has received so far.
    pub async fn upstream_locates(&self) -> BTreeMap<String, u64> {
        self.upstream_counts("locates").await
    }

    /// One counter of `GET /admin/stats` per embedded backend.
    async fn upstream_counts(&self, counter: &str) -> BTreeMap<String, u64> {
        let reply = self.issuer_admin(Method::GET, "/admin/stats", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let stats = reply.json();
        stats["backends"]
            .as_object()
            .expect("stats list backends")
            .iter()
            .map(|(name, counts)| {
                (
                    name.clone(),
                    counts[counter].as_u64().expect("a count per backend"),
                )
            })
            .collect()
    }

    /// Replaces the embedded backends' fault plan (`issuer/src/faults.rs`).
    pub async fn set_faults(&self, plan: Value) {
        let reply = self
            .issuer_admin(Method::PUT, "/admin/faults", Some(plan))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }

    /// Applies an override (`revoke`, `suspend`, `reinstate`) at the department.
    pub async fn override_record(&self, subject: &str, certificate: &str, action: &str) {
        let body =
            serde_json::json!({ "subject": subject, "certificate": certificate, "action": action });
        let reply = self
            .issuer_admin(Method::POST, "/admin/overrides", Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
}

/// What changed between two [`TestGateway::upstream_queries`] snapshots (backends with no new
/// query left out).
pub fn new_queries(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(name, n)| (name.clone(), n - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub async fn send(client: &HttpClient, req: Request<Full<Bytes>>) -> Reply {
    let what = format!("{} {}", req.method(), req.uri());
    patiently(&what, async {
        let resp = client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("the body arrives")
            .to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    })
    .await
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The verdict of a 200 answer.
    pub fn verdict(&self) -> VerifyResponse {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not a verify response ({e}): {}", self.text()))
    }

    /// Asserts an RFC 9457 problem with this status and machine code whose `request_id` is
    /// the `x-request-id` header (and `request_id`, when given).
    pub fn assert_problem(&self, status: StatusCode, code: &str, request_id: Option<&str>) {
        assert_eq!(self.status, status, "expected {code}: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{code}"
        );
        let problem = self.json();
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status.as_u16(), "{problem}");
        assert!(
            problem["title"].is_string() && problem["type"].is_string(),
            "{problem}"
        );
        let header = self.header("x-request-id").expect("the request id header");
        assert_eq!(problem["request_id"], header, "{problem}");
        if let Some(id) = request_id {
            assert_eq!(header, id, "the client's request id is echoed");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------------------

/// The demo platform key of `profile` (the gateway's embedded trust list trusts it).
pub fn platform_key(profile: Profile) -> SigningKey {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        wire::keys::parse_signing_keys(gateway::demo::PLATFORM_SECRET).expect("demo platform keys")
    })
    .iter()
    .find(|k| k.algorithm() == profile.algorithm())
    .cloned()
    .unwrap_or_else(|| panic!("a demo platform key for {profile:?}"))
}

/// A holder code to mint: a fresh nonce, valid from now for five minutes, EdDSA, no scope,
/// unless changed.
#[derive(Debug, Clone)]
pub struct CodeSpec {
    pub claims: HolderClaims,
    pub key: SigningKey,
}

impl CodeSpec {
    pub fn new(subject: &str, kind: HolderKind, city: Option<CityCode>) -> CodeSpec {
        let now = chrono::Utc::now().timestamp();
        CodeSpec {
            claims: HolderClaims {
                issuer: "mianzheng-platform".into(),
                subject: subject.to_string(),
                kind,
                city,
                issued_at: now,
                expires_at: now + 300,
                nonce: rand::random::<[u8; 16]>().to_vec(),
                scope: None,
                purpose: Purpose::Presentation,
                presenter: None,
                medium: Default::default(),
            },
            key: platform_key(Profile::Eddsa),
        }
    }

    /// For the holder's own routes ("who checked me", objections as the holder) rather than
    /// for a venue.
    pub fn holder_access(mut self) -> CodeSpec {
        self.claims.purpose = Purpose::HolderAccess;
        self
    }

    /// For a service window (免证办), consenting to `scope`: `item:<no>` or
    /// `department:<id>` entries.
    pub fn service_window(mut self, scope: &[&str]) -> CodeSpec {
        self.claims.purpose = Purpose::ServiceWindow;
        self.claims.scope = Some(scope.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Shown by `presenter` under delegation `delegation` (an agent for a company, a family
    /// member for an elder).
    pub fn presented_by(
        mut self,
        relation: wire::code::Relation,
        delegation: &str,
        presenter: &str,
        name: &str,
    ) -> CodeSpec {
        self.claims.presenter = Some(wire::code::Presenter {
            relation,
            delegation: delegation.to_owned(),
            subject: presenter.to_owned(),
            name: name.to_owned(),
        });
        self
    }

    /// Printed on paper, valid for `days` from now.
    pub fn paper(mut self, days: i64) -> CodeSpec {
        self.claims.medium = wire::code::Medium::Paper;
        self.claims.expires_at = self.claims.issued_at + days * 24 * 3600;
        self
    }

    pub fn profile(mut self, profile: Profile) -> CodeSpec {
        self.key = platform_key(profile);
        self
    }

    pub fn key(mut self, key: SigningKey) -> CodeSpec {
        self.key = key;
        self
    }

    /// Issued `from` seconds from now, expiring `until` seconds from now (negative: past).
    pub fn window(mut self, from: i64, until: i64) -> CodeSpec {
        let now = chrono::Utc::now().timestamp();
        self.claims.issued_at = now + from;
        self.claims.expires_at = now + until;
        self
    }

    pub fn scope(mut self, certificates: &[&str]) -> CodeSpec {
        self.claims.scope = Some(certificates.iter().map(|c| c.to_string()).collect());
        self
    }

    pub fn city(mut self, city: Option<CityCode>) -> CodeSpec {
        self.claims.city = city;
        self
    }

    pub fn kind(mut self, kind: HolderKind) -> CodeSpec {
        self.claims.kind = kind;
        self
    }

    pub fn mint(&self) -> String {
        Minter::new(self.key.clone()).mint(&self.claims)
    }
}

// ---------------------------------------------------------------------------------------------
// Holders and the oracle
// ---------------------------------------------------------------------------------------------

/// A holder of the synthetic population, as a person or an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub handle: String,
    pub kind: HolderKind,
    /// The real home city: city-level records exist only at its backends.
    pub city: CityCode,
}

impl Holder {
    pub fn new(handle: &str, kind: HolderKind) -> Holder {
        Holder {
            handle: handle.to_string(),
            kind,
            city: population().holder(handle, kind).home_city(),
        }
    }

    /// A fresh code for this holder, with its home city.
    pub fn code(&self) -> CodeSpec {
        CodeSpec::new(&self.handle, self.kind, Some(self.city))
    }

    /// A fresh code of this holder's own, for "who checked me" and filing an objection as the
    /// holder (a code made for a venue opens neither).
    pub fn own_code(&self) -> CodeSpec {
        self.code().holder_access()
    }

    /// The record the responsible department holds about this holder's `certificate` today
    /// (as generated: without run-time overrides).
    pub fn record(&self, certificate: &str) -> Record {
        population()
            .record_in(catalogue(), &self.handle, self.kind, certificate, today())
            .unwrap_or_else(|| panic!("`{certificate}` has a backend"))
    }

    /// Up to `n` holders of `scenario`'s kind, from handles `{prefix}0`, `{prefix}1`, … for
    /// which `pred` holds on their expected outcome.
    pub fn find(
        scenario: &Scenario,
        prefix: &str,
        n: usize,
        mut pred: impl FnMut(&Holder, &Expected) -> bool,
    ) -> Vec<Holder> {
        population()
            .find_handles(prefix, n, |h| {
                let holder = Holder::new(h, scenario.holder);
                let expected = Expected::of(scenario, &holder);
                pred(&holder, &expected)
            })
            .iter()
            .map(|h| Holder::new(h, scenario.holder))
            .collect()
    }

    /// The first holder who passes `scenario`, today.
    pub fn passing(scenario_id: &str) -> Holder {
        let s = scenario(scenario_id);
        Holder::find(s, &format!("e2e-{scenario_id}-pass-"), 1, |_, e| {
            e.verdict == Verdict::Pass
        })
        .pop()
        .unwrap_or_else(|| panic!("a holder who passes `{scenario_id}`"))
    }
}

/// What the gateway should answer for a holder, judged from the population's records: the
/// overall verdict and, per requirement, the verdict and the reason of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub verdict: Verdict,
    pub requirements: Vec<(String, Verdict, Option<Reason>)>,
}

impl Expected {
    /// A requirement the rollout plan does not offer in the holder's city for the scenario
    /// today is `not_offered`; the others are judged on the holder's records. Overall: any
    /// `fail` fails, else any `not_offered` makes it `not_offered`, else `pass`.
    pub fn of(scenario: &Scenario, holder: &Holder) -> Expected {
        let day = today();
        let requirements: Vec<_> = scenario
            .requirements
            .iter()
            .map(|r| {
                let offered =
                    rollout_plan().offered(&r.certificate, holder.city, &scenario.id, day);
                if offered == Some(false) {
                    return (
                        r.certificate.clone(),
                        Verdict::NotOffered,
                        Some(Reason::NotOffered),
                    );
                }
                match judge(r, &holder.record(&r.certificate), day) {
                    Ok(()) => (r.certificate.clone(), Verdict::Pass, None),
                    Err(reason) => (r.certificate.clone(), Verdict::Fail, Some(reason)),
                }
            })
            .collect();
        let any = |verdict: Verdict| requirements.iter().any(|(_, v, _)| *v == verdict);
        let verdict = if any(Verdict::Fail) {
            Verdict::Fail
        } else if any(Verdict::NotOffered) {
            Verdict::NotOffered
        } else {
            Verdict::Pass
        };
        Expected {
            verdict,
            requirements,
        }
    }

    /// The failure reasons among the requirements.
    pub fn reasons(&self) -> Vec<Reason> {
        self.requirements
            .iter()
            .filter_map(|(_, _, r)| *r)
            .collect()
    }

    /// Asserts the gateway's answer says what this expects.
    pub fn assert_matches(&self, answer: &VerifyResponse, context: &str) {
        let got: Vec<_> = answer
            .requirements
            .iter()
            .map(|r| (r.certificate.clone(), r.verdict, r.reason))
            .collect();
        assert_eq!(got, self.requirements, "{context}: per requirement");
        assert_eq!(answer.verdict, self.verdict, "{context}: overall");
    }
}

/// The gateway's decision on `requirement` for `record` on `day`: `Err` with the reason when
/// it does not pass.
fn judge(requirement: &Requirement, record: &Record, day: NaiveDate) -> Result<(), Reason> {
    let answer = Answer::Record {
        record: std::sync::Arc::new(record.clone()),
        stale: false,
    };
    let decision = gateway::verify::decide::requirement(requirement, &answer, day);
    match (decision.verdict, decision.reason) {
        (Verdict::Pass, _) => Ok(()),
        (_, reason) => Err(reason.unwrap_or(Reason::NotEligible)),
    }
}

// ---------------------------------------------------------------------------------------------
// Objections, "who checked me" and the gateway's admin API
// ---------------------------------------------------------------------------------------------

/// The demo admin token of the embedded `config/gateway.toml` (accepted on a loopback admin
/// listener, which the tests use).
pub const GATEWAY_ADMIN_TOKEN: &str = gateway::config::DEMO_ADMIN_TOKEN;

/// A request with these headers and an optional JSON body.
pub async fn request(
    client: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(
            body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
        ))
        .expect("a valid request");
    send(client, req).await
}

impl TestGateway {
    /// `http://PUBLIC_ADDR{path}` (plain HTTP in tests).
    pub fn public_url(&self, path: &str) -> String {
        assert!(!self.gateway.public_tls, "this helper speaks plain HTTP");
        format!("http://{}{path}", self.gateway.public_addr)
    }

    /// `POST /v1/objections` with `authorization` (the whole header value) when given.
    pub async fn file_objection(&self, authorization: Option<&str>, body: &Value) -> Reply {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        request(
            &self.client,
            Method::POST,
            &self.public_url(wire::api::OBJECTIONS_PATH),
            &headers,
            Some(body),
        )
        .await
    }

    /// `POST /v1/materials` with the venue key `key` (a service window's).
    pub async fn materials(&self, key: &str, body: &Value) -> Reply {
        let auth = format!("Bearer {key}");
        request(
            &self.client,
            Method::POST,
            &self.public_url(wire::materials_api::MATERIALS_PATH),
            &[("authorization", auth.as_str())],
            Some(body),
        )
        .await
    }

    /// `GET /v1/holder/accesses{query}` with `Authorization: Holder <code>` when given.
    pub async fn holder_accesses(&self, code: Option<&str>, query: &str) -> Reply {
        let auth = code.map(|c| format!("{} {c}", wire::api::HOLDER_AUTH_SCHEME));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let url = self.public_url(&format!("{}{query}", wire::api::HOLDER_ACCESSES_PATH));
        request(&self.client, Method::GET, &url, &headers, None).await
    }

    /// A request to the gateway's admin API (`path` after `/admin/v1`) with `token`.
    pub async fn admin_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let url = format!(
            "http://{}{}{path}",
            self.gateway
                .admin_addr
                .expect("the test gateway has an admin listener"),
            wire::admin_api::ADMIN_PREFIX
        );
        request(&self.client, method, &url, &headers, body.as_ref()).await
    }

    /// A request to the gateway's admin API with the demo admin token (the token of the demo
    /// operator, `demo-operator`, who holds every role).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.admin_as(Some(GATEWAY_ADMIN_TOKEN), method, path, body)
            .await
    }

    /// Adds operator `name` with `roles` (as the demo operator); its token.
    pub async fn add_operator(&self, name: &str, roles: &[&str]) -> String {
        let body = serde_json::json!({ "name": name, "roles": roles });
        let reply = self.admin(Method::POST, "/operators", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let issued: wire::admin_api::OperatorTokenIssued =
            serde_json::from_slice(&reply.body).expect("an OperatorTokenIssued");
        issued.token
    }
}

/// `target/<profile>/gateway`, next to the `deps/` folder this test runs from.
pub fn gateway_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let binary = profile_dir.join(format!("gateway{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "`{}` is missing: run `cargo build -p gateway` before this test (it runs the real binary \
         and does not build it)",
        binary.display()
    );
    binary
}
