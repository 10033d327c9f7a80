//! Venue quotas held across gateway nodes (`gateway/src/cluster/quota.rs`): two nodes on one PostgreSQL
//! store (a fresh schema per test, from `store::testing`) and one Redis (127.0.0.1:6379, or
//! `MIANZHENG_TEST_REDIS_URL`; a key prefix per test) admit a venue's quota once, however its
//! traffic is split between them; with Redis unreachable a node admits only its share and says
//! so in `/readyz` and `/metrics`.
//!
//! The quota is checked at stage 2, before the code is decoded, so the requests carry a code
//! that does not decode: an admitted request answers 400 `code.*`, a refused one 429
//! `venue.rate_limited`. The tests count answers; none asserts how fast anything was.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use gateway::config::GatewayConfig;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use store::testing::{on_postgres, Fixture};
use testkit::{http_client, send, HttpClient, TestGateway, PATIENCE};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wire::admin_api::VenueKeyIssued;

/// The test venue's quota, requests per second; its burst is two seconds' worth.
const Q: u32 = 40;
/// How long the venue sends three times its quota.
const SENDING: Duration = Duration::from_secs(8);
const SCENARIO: &str = "park-entry-senior";
/// A request that passes stages 1–3 and fails decoding (stage 4): lower case is not base45.
const BODY: &str = r#"{"code":"MZ1:not-a-code","scenario":"park-entry-senior"}"#;

fn redis_url() -> String {
    std::env::var("MIANZHENG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A node of the pair: shared store, shared subject secret, shared Redis and key prefix. The
/// call bound is generous so that a loaded test machine does not look like a Redis outage (a
/// fallback would be counted, and is asserted absent).
fn node_config<'a>(
    url: &'a str,
    subject_key: &'a Path,
    node: &'a str,
    prefix: &'a str,
) -> impl FnOnce(&mut GatewayConfig) + 'a {
    move |c: &mut GatewayConfig| {
        c.store.url = Some(url.to_owned());
        c.audit.subject_key_file = Some(subject_key.to_path_buf());
        c.audit.node = Some(node.to_owned());
        c.quotas.redis_url = Some(redis_url());
        c.quotas.key_prefix = prefix.to_owned();
        c.quotas.call_timeout_ms = 1000;
    }
}

/// Registers a venue with quota `rate` through `gw`'s admin API; returns its key.
async fn register_venue(gw: &TestGateway, rate: u32) -> String {
    let id = format!("e2e-quota-{:08x}", rand::random::<u32>());
    let body = json!({ "id": id, "name": "限额测试场馆", "city": 370100,
                       "scenarios": [SCENARIO], "rate_per_sec": rate });
    let reply = gw.admin(Method::POST, "/venues", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let issued: VenueKeyIssued = serde_json::from_slice(&reply.body).expect("a VenueKeyIssued");
    issued.key
}

/// Answers counted per node.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    admitted: u32,
    refused: u32,
}

/// One verify request; `true` when admitted (400 `code.*`), `false` when refused (429).
async fn verify_once(client: HttpClient, url: String, authorization: String) -> bool {
    let req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("authorization", authorization)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .expect("a valid request");
    let reply = send(&client, req).await;
    let problem = reply.json();
    let code = problem["code"].as_str().unwrap_or_default();
    match reply.status {
        StatusCode::BAD_REQUEST if code.starts_with("code.") => true,
        StatusCode::TOO_MANY_REQUESTS if code == "venue.rate_limited" => {
            let retry = reply
                .header("retry-after")
                .and_then(|r| r.parse::<u32>().ok());
            assert!(retry.is_some_and(|r| r >= 1), "Retry-After: {retry:?}");
            false
        }
        status => panic!("neither admitted nor refused: {status} {}", reply.text()),
    }
}

/// Sends `3·Q` requests a second for [`SENDING`], open loop (a tick missed on a busy machine
/// is sent late, not dropped), request `i` to node `route(i)`. Returns the tallies per node and
/// the seconds from the first request to the last answer.
async fn drive(
    nodes: &[&TestGateway],
    key: &str,
    route: impl Fn(u32) -> usize,
) -> (Vec<Tally>, f64) {
    let client = http_client();
    let urls: Vec<String> = nodes.iter().map(|n| n.verify_url()).collect();
    let authorization = format!("Bearer {key}");
    let total = 3 * Q * SENDING.as_secs() as u32;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / (3 * Q));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut answers = JoinSet::new();
    let started = Instant::now();
    for i in 0..total {
        ticks.tick().await;
        let node = route(i);
        let sent = verify_once(client.clone(), urls[node].clone(), authorization.clone());
        answers.spawn(async move { (node, sent.await) });
    }
    let mut tallies = vec![Tally::default(); nodes.len()];
    while let Some(answer) = answers.join_next().await {
        let (node, admitted) = answer.expect("a request task");
        if admitted {
            tallies[node].admitted += 1;
        } else {
            tallies[node].refused += 1;
        }
    }
    (tallies, started.elapsed().as_secs_f64())
}

/// The node's `/metrics` sample `series`.
async fn metric(gw: &TestGateway, series: &str) -> Option<f64> {
    let url = format!(
        "http://{}/metrics",
        gw.gateway.admin_addr.expect("an admin listener")
    );
    let reply = testkit::request(&gw.client, Method::GET, &url, &[], None).await;
    reply.text().lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

async fn assert_no_fallback(nodes: &[&TestGateway]) {
    for (i, gw) in nodes.iter().enumerate() {
        assert_eq!(
            metric(gw, "mz_quota_fallbacks_total").await,
            Some(0.0),
            "node {i} lost Redis during the run: its counts are not the shared quota's"
        );
        assert_eq!(
            metric(gw, r#"mz_quota_mode{mode="shared"}"#).await,
            Some(1.0)
        );
    }
}

struct Pair {
    a: TestGateway,
    b: TestGateway,
    _shared: tempfile::TempDir,
}

async fn start_pair(fixture: &Fixture) -> Pair {
    let shared = tempfile::tempdir().expect("a folder for the shared secret");
    let subject_key = shared.path().join("subject-key");
    let prefix = format!("mz:e2e:{:016x}:", rand::random::<u64>());
    let a =
        TestGateway::start_with(node_config(&fixture.url, &subject_key, "quota-a", &prefix)).await;
    let b =
        TestGateway::start_with(node_config(&fixture.url, &subject_key, "quota-b", &prefix)).await;
    Pair {
        a,
        b,
        _shared: shared,
    }
}

/// What the bucket allows over `seconds`: the rate, and the burst once.
fn allowed(seconds: f64, slack: f64) -> f64 {
    slack * f64::from(Q) * seconds + f64::from(2 * Q)
}

async fn even_split_admits_the_quota_once(fixture: Fixture) {
    let pair = start_pair(&fixture).await;
    let key = register_venue(&pair.a, Q).await;
    let (tallies, seconds) = drive(&[&pair.a, &pair.b], &key, |i| (i % 2) as usize).await;
    let admitted: u32 = tallies.iter().map(|t| t.admitted).sum();
    eprintln!("{admitted} admitted in {seconds:.1} s at {Q}/s: {tallies:?}");
    // The bucket hands out at most Q·T + 2Q (its burst) over T seconds, and each node may add
    // the one chunk it held (2 tokens at Q = 40): about 404 over 8 s. The bound, 1.1·Q·T + 2Q
    // (at least 432), leaves 28 requests — 0.7 s of the rate — for rounding and for answers
    // that arrive late on a busy machine (which only lengthen T). Without the shared bucket
    // each node would admit its own Q·T + 2Q: about 800.
    assert!(
        f64::from(admitted) <= allowed(seconds, 1.1),
        "{admitted} admitted in {seconds:.1} s at {Q}/s: {tallies:?}"
    );
    // Three times the quota was asked for: the venue got about its quota, not a trickle.
    assert!(
        f64::from(admitted) >= 0.9 * f64::from(Q) * SENDING.as_secs_f64(),
        "{admitted} admitted in {seconds:.1} s at {Q}/s: {tallies:?}"
    );
    assert!(
        tallies.iter().all(|t| t.admitted > 0 && t.refused > 0),
        "{tallies:?}"
    );
    assert_no_fallback(&[&pair.a, &pair.b]).await;
    pair.b.stop().await;
    pair.a.stop().await;
}

async fn lopsided_split_still_gets_the_quota(fixture: Fixture) {
    let pair = start_pair(&fixture).await;
    let key = register_venue(&pair.a, Q).await;
    // Nine requests in ten to node A, one to node B.
    let (tallies, seconds) = drive(&[&pair.a, &pair.b], &key, |i| usize::from(i % 10 == 9)).await;
    let admitted: u32 = tallies.iter().map(|t| t.admitted).sum();
    eprintln!("{admitted} admitted in {seconds:.1} s at {Q}/s: {tallies:?}");
    // Node B asks for 0.3·Q a second and node A for 2.7·Q: whatever B leaves in the bucket, A
    // takes at its next chunk, so together they get about Q·T + 2Q (about 400 over 8 s). The
    // floor, 0.9·Q over the 8 s of sending (288), does not count the burst: 112 requests of
    // margin for chunks dropped unspent and for refusals remembered one chunk length (50 ms).
    assert!(
        f64::from(admitted) >= 0.9 * f64::from(Q) * SENDING.as_secs_f64(),
        "{admitted} admitted in {seconds:.1} s at {Q}/s: {tallies:?}"
    );
    assert!(
        f64::from(admitted) <= allowed(seconds, 1.1),
        "{admitted} admitted in {seconds:.1} s at {Q}/s: {tallies:?}"
    );
    assert!(
        tallies[1].admitted > 0,
        "the small node is served too: {tallies:?}"
    );
    assert_no_fallback(&[&pair.a, &pair.b]).await;
    pair.b.stop().await;
    pair.a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_even_split_across_two_nodes_admits_the_venue_quota_once() {
    tokio::time::timeout(PATIENCE * 4, on_postgres(even_split_admits_the_quota_once))
        .await
        .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_90_10_split_across_two_nodes_still_gets_the_venue_quota() {
    tokio::time::timeout(
        PATIENCE * 4,
        on_postgres(lopsided_split_still_gets_the_quota),
    )
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_a_node_admits_its_share_and_says_so() {
    tokio::time::timeout(
        PATIENCE * 2,
        Box::pin(async {
            // A port where nothing listens.
            let closed = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port");
            let gw = TestGateway::start_with(|c| {
                c.quotas.redis_url = Some(format!("redis://{closed}"));
            })
            .await;
            let readyz = format!(
                "http://{}/readyz",
                gw.gateway.admin_addr.expect("an admin listener")
            );
            let reply = testkit::request(&gw.client, Method::GET, &readyz, &[], None).await;
            assert_eq!(reply.status, StatusCode::OK, "it still serves");
            assert!(
                reply.text().starts_with(&format!(
                    "ready\nquotas: fallback: redis redis://{closed} unreachable"
                )),
                "{}",
                reply.text()
            );
            assert_eq!(
                metric(&gw, r#"mz_quota_mode{mode="fallback"}"#).await,
                Some(1.0)
            );
            assert_eq!(metric(&gw, "mz_quota_fallbacks_total").await, Some(1.0));

            // Alone, its share is the whole quota: the burst (2Q) at once, never all 5Q.
            let key = register_venue(&gw, Q).await;
            let client = http_client();
            let mut answers = JoinSet::new();
            let started = Instant::now();
            for _ in 0..5 * Q {
                answers.spawn(verify_once(
                    client.clone(),
                    gw.verify_url(),
                    format!("Bearer {key}"),
                ));
            }
            let mut admitted = 0;
            while let Some(answer) = answers.join_next().await {
                admitted += u32::from(answer.expect("a request task"));
            }
            let seconds = started.elapsed().as_secs_f64();
            assert!(
                admitted >= 2 * Q && f64::from(admitted) <= allowed(seconds, 1.0) + 1.0,
                "{admitted} of {} admitted in {seconds:.1} s",
                5 * Q
            );
            gw.stop().await;
        }),
    )
    .await
    .expect("bounded");
}

/// Redis unreachable for two nodes on one store: the second node counts both leases when it
/// joins, so it admits half the venue's quota (its burst is `2 × Q/2`), never the whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_two_nodes_each_admit_half() {
    on_postgres(|fixture| async move {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let shared = tempfile::tempdir().expect("a folder for the shared secret");
        let subject_key = shared.path().join("subject-key");
        let prefix = format!("mz:e2e:{:016x}:", rand::random::<u64>());
        let unreachable = |node: &'static str| {
            let url = fixture.url.clone();
            let subject_key = subject_key.clone();
            let prefix = prefix.clone();
            move |c: &mut GatewayConfig| {
                node_config(&url, &subject_key, node, &prefix)(c);
                c.quotas.redis_url = Some(format!("redis://{closed}"));
            }
        };
        let a = TestGateway::start_with(unreachable("half-a")).await;
        let b = TestGateway::start_with(unreachable("half-b")).await;
        let key = register_venue(&b, Q).await;
        let client = http_client();
        let mut answers = JoinSet::new();
        for _ in 0..3 * Q {
            answers.spawn(verify_once(
                client.clone(),
                b.verify_url(),
                format!("Bearer {key}"),
            ));
        }
        let mut admitted = 0;
        while let Some(answer) = answers.join_next().await {
            admitted += u32::from(answer.expect("a request task"));
        }
        // At once its share's burst (Q); a request or two more may refill while they run.
        assert!(
            (Q..=Q + Q / 4).contains(&admitted),
            "{admitted} of {} admitted by one of two nodes",
            3 * Q
        );
        b.stop().await;
        a.stop().await;
    })
    .await;
}
