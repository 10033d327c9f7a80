//! The gateway's verify path end to end: a gateway started in-process on
//! 127.0.0.1 port 0 with its embedded department backends, real sockets, real codes.
//!
//! - every scenario of the catalogue passes a holder who meets it and fails others with the
//!   right reason, judged against an oracle built from the synthetic population;
//! - every refused request gets its own status and problem code, and the gateway keeps serving;
//! - a department that is down or slower than the deadline answers `unavailable` for its own
//!   requirements only;
//! - concurrent misses coalesce into one upstream query; answers are cached until invalidated;
//! - city-level certificates are asked of the holder's city; consent scope and holder kind;
//! - HTTPS with the self-signed certificate, HTTP/1.1 and HTTP/2.
//!
//! No timing thresholds: waits are bounded by a generous `PATIENCE`, nothing is asserted to be
//! fast. Upstream queries are counted with the embedded backends' `GET /admin/stats`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use testkit::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wire::api::{Reason, Verdict, VERIFY_PATH};
use wire::catalogue::model::{HolderKind, Predicate, Scenario};
use wire::code::Profile;
use wire::issuer_api::{backend_name, FieldValue};
use wire::keys::{Algorithm, SigningKey, Validity};

/// Handles tried per scenario when looking for holders who fail it in different ways.
const FAILURE_SEARCH: usize = 1500;

/// The backend (`<department>/<province|city>`) that holds each of `scenario`'s requirements
/// for `holder`: where the population placed the record, which the index tells the gateway.
fn backends_of(scenario: &Scenario, holder: &Holder) -> Vec<String> {
    scenario
        .requirements
        .iter()
        .map(|r| held_at(holder, &r.certificate))
        .collect()
}

/// The backend that holds `holder`'s record of `certificate`.
fn held_at(holder: &Holder, certificate: &str) -> String {
    let backend = population()
        .holding_backend(catalogue(), &holder.handle, holder.kind, certificate)
        .unwrap_or_else(|| panic!("`{certificate}` has a backend"));
    backend_name(&backend.department, backend.scope)
}

/// The backend the catalogue asks for `holder`'s `certificate` when the index says nothing.
fn default_backend(holder: &Holder, certificate: &str) -> String {
    let backend = catalogue()
        .backend_for(certificate, Some(holder.city))
        .unwrap_or_else(|e| panic!("`{certificate}` routes: {e}"));
    backend_name(&backend.department, backend.scope)
}

/// A holder who passes `scenario_id` and whose record of `certificate` is held by another
/// backend than the catalogue's default one, and that backend.
fn held_elsewhere(scenario_id: &str, certificate: &str) -> (Holder, String) {
    let holder = Holder::find(
        scenario(scenario_id),
        &format!("e2e-{scenario_id}-elsewhere-"),
        1,
        |h, e| {
            e.verdict == Verdict::Pass && held_at(h, certificate) != default_backend(h, certificate)
        },
    )
    .pop()
    .unwrap_or_else(|| panic!("a holder of `{certificate}` held elsewhere"));
    let held = held_at(&holder, certificate);
    (holder, held)
}

/// For one scenario: a holder who passes it, and for every failure reason seen among the
/// first [`FAILURE_SEARCH`] handles, the first holder failing that way.
fn holders_for(scenario: &Scenario) -> Vec<(Holder, Expected)> {
    let mut cases = vec![];
    let mut seen = HashSet::new();
    for i in 0..FAILURE_SEARCH {
        let holder = Holder::new(&format!("e2e-{}-{i}", scenario.id), scenario.holder);
        let expected = Expected::of(scenario, &holder);
        let new: Vec<_> = expected
            .reasons()
            .into_iter()
            .filter(|r| !seen.contains(r))
            .collect();
        if !new.is_empty() {
            seen.extend(new);
            cases.push((holder, expected));
        }
    }
    let passing = Holder::passing(&scenario.id);
    let expected = Expected::of(scenario, &passing);
    cases.insert(0, (passing, expected));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_a_holder_who_meets_it_and_fails_others_with_the_reason() {
    let gw = TestGateway::start().await;
    let mut covered = HashSet::new();
    let mut summary = BTreeMap::new();
    for scenario in catalogue().scenarios() {
        let cases = holders_for(scenario);
        assert!(
            cases.iter().any(|(_, e)| e.verdict == Verdict::Fail),
            "no holder fails `{}` among {FAILURE_SEARCH}",
            scenario.id
        );
        for (holder, expected) in &cases {
            let answer = gw.verify_holder(holder, &scenario.id).await;
            expected.assert_matches(&answer, &format!("`{}` for {}", scenario.id, holder.handle));
            assert_eq!(answer.scenario, scenario.id);
            assert_eq!(answer.holder.kind, scenario.holder);
            covered.extend(expected.reasons());
        }
        let reasons: HashSet<_> = cases.iter().flat_map(|(_, e)| e.reasons()).collect();
        // A scenario with a `covers` or `one-of` predicate is seen failing on it.
        for predicate in scenario.requirements.iter().flat_map(|r| &r.predicates) {
            let reason = match predicate {
                Predicate::Covers { .. } => Reason::NotCovered,
                Predicate::OneOf { .. } => Reason::NotEligible,
                _ => continue,
            };
            assert!(
                reasons.contains(&reason),
                "`{}` never failed with `{}`",
                scenario.id,
                reason.as_str()
            );
        }
        let mut reasons: Vec<_> = reasons.into_iter().map(Reason::as_str).collect();
        reasons.sort_unstable();
        summary.insert(scenario.id.clone(), reasons);
    }
    assert!(
        covered.contains(&Reason::NotOffered),
        "no holder lives where the embedded rollout plan does not yet offer a scenario's \
         certificate: {summary:#?}"
    );
    for reason in [
        Reason::NotHeld,
        Reason::Expired,
        Reason::Revoked,
        Reason::UnderAge,
        Reason::NotCovered,
        Reason::NotEligible,
    ] {
        assert!(
            covered.contains(&reason),
            "no scenario failed with `{}`: {summary:#?}",
            reason.as_str()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Refused requests
// ---------------------------------------------------------------------------------------------

/// `code` with the last byte of its COSE message (inside the signature) flipped.
fn tampered(code: &str) -> String {
    let text = code.strip_prefix(wire::code::PREFIX).expect("our prefix");
    let mut cose = wire::code::base45::decode(text).expect("base45");
    *cose.last_mut().expect("not empty") ^= 0x01;
    format!(
        "{}{}",
        wire::code::PREFIX,
        wire::code::base45::encode(&cose)
    )
}

/// A key the gateway's trust list does not have.
fn stranger_key() -> SigningKey {
    SigningKey::generate(Algorithm::EdDsa, "mianzheng-platform", Validity::default())
        .expect("a fresh key")
}

/// A request the gateway must refuse, and the problem it must answer with.
struct Refusal {
    name: &'static str,
    /// The venue key sent as `Authorization: Bearer`, if any.
    venue_key: Option<String>,
    body: String,
    status: StatusCode,
    code: &'static str,
}

fn verify_body(code: &str, scenario: &str) -> String {
    json!({ "code": code, "scenario": scenario }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_request_gets_its_problem_and_the_gateway_keeps_serving() {
    let gw = TestGateway::start().await;
    let park = "park-entry-senior";
    let senior = Holder::passing(park);
    let park_key = Some(venue_key(park));
    let refusal = |name, venue_key: &Option<String>, body, status, code| Refusal {
        name,
        venue_key: venue_key.clone(),
        body,
        status,
        code,
    };
    let code_refusal = |name, code_text: String, status, code| {
        refusal(name, &park_key, verify_body(&code_text, park), status, code)
    };

    // A code is good once: the replay below is its second use.
    let used = senior.code().mint();
    let first = gw
        .verify_as(&venue_key(park), &used, park, "e2e-first-use")
        .await;
    assert_eq!(first.verdict().verdict, Verdict::Pass);
    assert_eq!(first.header("x-request-id"), Some("e2e-first-use"));

    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let refusals = [
        code_refusal(
            "tampered",
            tampered(&senior.code().mint()),
            unprocessable,
            "code.bad_signature",
        ),
        code_refusal(
            "expired",
            senior.code().window(-400, -100).mint(),
            unprocessable,
            "code.expired",
        ),
        code_refusal(
            "not-yet-valid",
            senior.code().window(300, 600).mint(),
            unprocessable,
            "code.not_yet_valid",
        ),
        code_refusal("replayed", used, StatusCode::CONFLICT, "code.replayed"),
        code_refusal(
            "unknown-key",
            senior.code().key(stranger_key()).mint(),
            unprocessable,
            "code.unknown_key",
        ),
        code_refusal(
            "not-a-code",
            "XX9:NOT-A-CODE".into(),
            StatusCode::BAD_REQUEST,
            "code.bad_prefix",
        ),
        refusal(
            "unknown-venue",
            &Some("no-such-venue-key-0000".into()),
            verify_body(&senior.code().mint(), park),
            StatusCode::UNAUTHORIZED,
            "venue.unknown",
        ),
        refusal(
            "no-credentials",
            &None,
            verify_body(&senior.code().mint(), park),
            StatusCode::UNAUTHORIZED,
            "venue.missing_credentials",
        ),
        refusal(
            "scenario-not-allowed",
            &park_key,
            verify_body(&senior.code().mint(), "hotel-check-in"),
            StatusCode::FORBIDDEN,
            "scenario.not_allowed",
        ),
        refusal(
            "unknown-scenario",
            &park_key,
            verify_body(&senior.code().mint(), "no-such-scenario"),
            StatusCode::NOT_FOUND,
            "scenario.unknown",
        ),
        refusal(
            "malformed-json",
            &park_key,
            r#"{"code": "MZ1:", "scenario": "#.into(),
            StatusCode::BAD_REQUEST,
            "request.malformed",
        ),
        refusal(
            "unknown-field",
            &park_key,
            json!({ "code": senior.code().mint(), "scenario": park, "venue": "x" }).to_string(),
            StatusCode::BAD_REQUEST,
            "request.malformed",
        ),
    ];
    for r in refusals {
        let request_id = format!("e2e-{}", r.name);
        let auth = r.venue_key.as_ref().map(|k| format!("Bearer {k}"));
        let mut headers = vec![
            ("content-type", "application/json"),
            ("x-request-id", request_id.as_str()),
        ];
        headers.extend(auth.as_deref().map(|a| ("authorization", a)));
        let reply = gw.post_raw(&headers, r.body).await;
        reply.assert_problem(r.status, r.code, Some(&request_id));
        gw.assert_still_serving(r.name).await;
    }

    // A venue registered only by its key's hash authenticates with the key.
    let museum = "binzhou-museum-example-key";
    let answer = gw
        .verify_as(museum, &senior.code().mint(), park, "e2e-museum")
        .await;
    assert_eq!(answer.verdict().verdict, Verdict::Pass);

    // Not JSON at all: refused before the venue is looked at; no request id sent, one is made.
    let bearer = format!("Bearer {}", venue_key(park));
    let reply = gw
        .post_raw(
            &[("authorization", &bearer), ("content-type", "text/plain")],
            "hello",
        )
        .await;
    reply.assert_problem(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "request.unsupported_media_type",
        None,
    );
    gw.assert_still_serving("a wrong content type").await;
}

/// One request written by hand on a fresh connection (for bodies a client library would not
/// send), and the answer read back: status line, headers, a `Content-Length` body.
async fn raw_exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Reply {
    patiently("a raw exchange", async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(head.as_bytes())
            .await
            .expect("write the head");
        stream.write_all(body).await.expect("write the body");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await.expect("read the answer");
            assert!(
                n > 0,
                "the connection closed before an answer: {}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&buf[..header_end])
            .expect("an ASCII head")
            .to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let mut headers = HeaderMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').expect("a header line");
            headers.append(
                HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
                HeaderValue::from_str(value.trim()).expect("a header value"),
            );
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Content-Length answer");
        while buf.len() < header_end + length {
            let n = stream.read(&mut chunk).await.expect("read the body");
            assert!(n > 0, "the connection closed inside the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        Reply {
            status: StatusCode::from_u16(status).expect("a status code"),
            headers,
            body: Bytes::copy_from_slice(&buf[header_end..header_end + length]),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_refused_whether_declared_or_chunked() {
    let gw = TestGateway::start().await;
    let max = gateway::config::GatewayConfig::embedded()
        .limits
        .max_body_bytes;
    let key = venue_key("park-entry-senior");
    let head = |request_id: &str, framing: &str| {
        format!(
            "POST {VERIFY_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {key}\r\n\
             content-type: application/json\r\nx-request-id: {request_id}\r\n{framing}\r\n"
        )
    };

    // Declared too large: refused on the header alone, before any of the body is sent.
    let reply = raw_exchange(
        gw.gateway.public_addr,
        &head("e2e-declared", &format!("content-length: {}\r\n", max + 1)),
        b"",
    )
    .await;
    reply.assert_problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request.too_large",
        Some("e2e-declared"),
    );
    gw.assert_still_serving("a declared oversize body").await;

    // Chunked, no length declared: cut off once past the limit. Exactly one byte too many is
    // sent, and no final chunk, so the gateway has read everything when it answers.
    let half = max / 2;
    let mut body = format!("{half:x}\r\n").into_bytes();
    body.extend(std::iter::repeat_n(b' ', half));
    body.extend(format!("\r\n{:x}\r\n", half + 1).into_bytes());
    body.extend(std::iter::repeat_n(b' ', half + 1));
    let reply = raw_exchange(
        gw.gateway.public_addr,
        &head("e2e-chunked", "transfer-encoding: chunked\r\n"),
        &body,
    )
    .await;
    reply.assert_problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request.too_large",
        Some("e2e-chunked"),
    );
    gw.assert_still_serving("a chunked oversize body").await;

    // A body of exactly the limit is read and judged (here: not JSON).
    let reply = gw
        .post_raw(
            &[
                ("authorization", &format!("Bearer {key}")),
                ("content-type", "application/json"),
            ],
            vec![b' '; max],
        )
        .await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "request.malformed", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_the_gateway_does_not_accept_is_refused() {
    let gw = TestGateway::start_with(|c| c.codes.profiles = vec![Profile::Eddsa]).await;
    let park = "park-entry-senior";
    let senior = Holder::passing(park);
    for profile in [Profile::Hmac, Profile::Es256] {
        let id = format!("e2e-{}", profile.name());
        let reply = gw
            .verify_as(
                &venue_key(park),
                &senior.code().profile(profile).mint(),
                park,
                &id,
            )
            .await;
        reply.assert_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code.wrong_profile",
            Some(&id),
        );
        gw.assert_still_serving(profile.name()).await;
    }

    // Every profile verifies where every profile is accepted (the default).
    let all = TestGateway::start().await;
    for profile in Profile::ALL {
        let answer = all
            .verify(&senior.code().profile(profile).mint(), park)
            .await
            .verdict();
        assert_eq!(answer.verdict, Verdict::Pass, "{profile:?}");
    }
}

/// HMAC codes only where the scenario allows them (`allow_hmac`): its secret is shared by every
/// node, so whoever holds a node's trust list could mint one. Signed codes pass everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_codes_pass_only_where_the_scenario_allows_them() {
    let gw = TestGateway::start().await;
    let hotel = "hotel-check-in";
    assert!(!testkit::scenario(hotel).allow_hmac);
    assert!(testkit::scenario("park-entry-senior").allow_hmac);
    let guest = Holder::passing(hotel);
    let reply = gw
        .verify_as(
            &venue_key(hotel),
            &guest.code().profile(Profile::Hmac).mint(),
            hotel,
            "e2e-hmac-hotel",
        )
        .await;
    reply.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "code.profile_not_allowed",
        Some("e2e-hmac-hotel"),
    );
    // The same holder passes there with a signed code.
    for profile in [Profile::Eddsa, Profile::Es256] {
        let answer = gw
            .verify(&guest.code().profile(profile).mint(), hotel)
            .await
            .verdict();
        assert_eq!(answer.verdict, Verdict::Pass, "{profile:?}");
    }
}

/// A hotel must register each guest's name and ID number (its requirement's `legal_basis`), so
/// its answer carries both in full and names the basis; a park's answer still masks the name
/// and carries no ID number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotel_gets_the_guests_full_name_and_id_number_and_a_park_neither() {
    let gw = TestGateway::start().await;
    let id_number =
        |holder: &Holder| match holder.record("resident-id-card").fields.get("id_number") {
            Some(FieldValue::Text(number)) => number.clone(),
            other => panic!("{}: an ID number, not {other:?}", holder.handle),
        };

    let hotel = "hotel-check-in";
    let guest = Holder::passing(hotel);
    let name = guest
        .record("resident-id-card")
        .holder_name
        .expect("a name");
    let answer = gw.verify_holder(&guest, hotel).await;
    assert_eq!(answer.verdict, Verdict::Pass);
    assert_eq!(
        answer.holder.name.as_deref(),
        Some(name.as_str()),
        "in full"
    );
    let card = &answer.requirements[0];
    assert_eq!(card.disclosed.get("id_number"), Some(&id_number(&guest)));
    let basis = testkit::scenario(hotel).requirements[0].legal_basis();
    assert!(
        basis.is_some_and(|b| b.contains("旅馆业治安管理办法")),
        "{basis:?}"
    );
    assert_eq!(card.legal_basis.as_deref(), basis);

    let park = "park-entry-senior";
    let senior = Holder::passing(park);
    let name = senior
        .record("senior-citizen-card")
        .holder_name
        .expect("a name");
    let reply = gw.verify(&senior.code().mint(), park).await;
    let answer = reply.verdict();
    assert_eq!(answer.verdict, Verdict::Pass);
    assert_eq!(
        answer.holder.name,
        Some(gateway::verify::disclose::mask_name(&name)),
        "masked"
    );
    assert_ne!(answer.holder.name.as_deref(), Some(name.as_str()));
    for r in &answer.requirements {
        assert!(r.disclosed.is_empty(), "{r:?}");
        assert_eq!(r.legal_basis, None, "{r:?}");
    }
    assert!(
        !reply.text().contains(&id_number(&senior)),
        "no ID number: {}",
        reply.text()
    );
}

/// A code made for the holder's own routes is refused at a venue: whoever receives one (the
/// holder's app sends it to the gateway only) cannot get a verdict with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_access_code_is_refused_at_a_venue() {
    let gw = TestGateway::start().await;
    let park = "park-entry-senior";
    let senior = Holder::passing(park);
    let reply = gw
        .verify_as(
            &venue_key(park),
            &senior.own_code().mint(),
            park,
            "e2e-own-code",
        )
        .await;
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        "code.wrong_purpose",
        Some("e2e-own-code"),
    );
}

// ---------------------------------------------------------------------------------------------
// Departments down or slow
// ---------------------------------------------------------------------------------------------

/// A scenario whose requirements are answered by at least two departments (`bid-qualification`
/// when it still is), a holder who passes it, the backend of its first requirement (the one to
/// break) and the backend of every requirement.
fn two_department_case() -> (&'static Scenario, Holder, String, Vec<String>) {
    let department = |backend: &str| backend.split('/').next().unwrap_or_default().to_string();
    let preferred = catalogue()
        .scenarios()
        .iter()
        .filter(|s| s.id == "bid-qualification");
    let scenario = preferred
        .chain(catalogue().scenarios())
        .find(|s| {
            let backends = backends_of(s, &Holder::new("e2e-probe", s.holder));
            backends
                .iter()
                .map(|b| department(b))
                .collect::<HashSet<_>>()
                .len()
                >= 2
        })
        .expect("a scenario asks two departments");
    let holder = Holder::passing(&scenario.id);
    let backends = backends_of(scenario, &holder);
    let broken = backends[0].clone();
    assert!(
        backends
            .iter()
            .any(|b| department(b) != department(&broken)),
        "{backends:?}"
    );
    (scenario, holder, broken, backends)
}

/// Asserts the requirements answered by `broken` are `unavailable` for `department_unavailable`
/// and every other requirement passes.
fn assert_only_broken_unavailable(
    answer: &wire::api::VerifyResponse,
    backends: &[String],
    broken: &str,
) {
    assert_eq!(answer.requirements.len(), backends.len());
    for (result, backend) in answer.requirements.iter().zip(backends) {
        if backend == broken {
            assert_eq!(
                (result.verdict, result.reason),
                (Verdict::Unavailable, Some(Reason::DepartmentUnavailable)),
                "{} from {backend}",
                result.certificate
            );
        } else {
            assert_eq!(
                (result.verdict, result.reason),
                (Verdict::Pass, None),
                "{} from {backend}",
                result.certificate
            );
        }
    }
    assert_eq!(answer.verdict, Verdict::Unavailable, "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_that_is_down_is_unavailable_while_the_others_answer() {
    let (scenario, holder, broken, backends) = two_department_case();
    let gw = TestGateway::start().await;
    gw.set_faults(json!({ "backends": { broken.clone(): { "down": true } } }))
        .await;
    let answer = gw.verify_holder(&holder, &scenario.id).await;
    assert_only_broken_unavailable(&answer, &backends, &broken);

    // Back up: the same holder passes (the other departments' answers come from the cache).
    gw.set_faults(json!({})).await;
    let answer = gw.verify_holder(&holder, &scenario.id).await;
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_slower_than_the_deadline_is_unavailable_while_the_others_answer() {
    let (scenario, holder, broken, backends) = two_department_case();
    // A deadline far above a loopback query and far below the injected latency.
    let gw = TestGateway::start_with(|c| c.fetch.deadline_ms = 1000).await;
    gw.set_faults(json!({ "backends": { broken.clone(): { "latency": { "fixed_ms": 20_000 } } } }))
        .await;
    let answer = gw.verify_holder(&holder, &scenario.id).await;
    assert_only_broken_unavailable(&answer, &backends, &broken);
}

// ---------------------------------------------------------------------------------------------
// Fan-out, coalescing, routing, cache
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_holder_make_one_upstream_query() {
    let park = "park-entry-senior";
    let gw = TestGateway::start().await;
    let senior = Holder::passing(park);
    let backend = backends_of(scenario(park), &senior).remove(0);
    // The department takes its time, so the requests pile up while its answer is awaited.
    gw.set_faults(json!({ "backends": { backend.clone(): { "latency": { "fixed_ms": 1500 } } } }))
        .await;
    let codes: Vec<String> = (0..200).map(|_| senior.code().mint()).collect();
    let before = gw.upstream_queries().await;
    let misses_before = record_cache_misses(&gw).await;
    let answers =
        futures_util::future::join_all(codes.iter().map(|code| gw.verify(code, park))).await;
    for reply in &answers {
        assert_eq!(reply.verdict().verdict, Verdict::Pass);
    }
    let after = gw.upstream_queries().await;
    assert_eq!(new_queries(&before, &after), BTreeMap::from([(backend, 1)]));
    // And it was the coalescing, not the cache, that kept it at one: requests other than the
    // first found no cached answer and waited for the one in flight.
    let misses = record_cache_misses(&gw).await - misses_before;
    assert!(
        misses > 1,
        "only {misses} request(s) missed the cache: the requests did not overlap"
    );
}

/// At its limit of verifications in flight the gateway refuses the next one at once — 503
/// `gateway.overloaded` with `Retry-After`, while the one in flight still waits for its
/// department — and without spending its code: the same code passes once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_its_limit_the_gateway_sheds_the_next_verification_at_once_and_spends_nothing() {
    let park = "park-entry-senior";
    let gw = TestGateway::start_with(|c| {
        c.limits.verify_min_in_flight = 1;
        c.limits.verify_max_in_flight = 1;
        c.fetch.deadline_ms = 20_000;
    })
    .await;
    let first = Holder::passing(park);
    let backend = backends_of(scenario(park), &first).remove(0);
    gw.set_faults(json!({ "backends": { backend: { "latency": { "fixed_ms": 3000 } } } }))
        .await;
    let first_code = first.code().mint();
    let (in_flight, admission) = (&gw, &gw.gateway.service.admission);
    let waiting = async move { in_flight.verify(&first_code, park).await };
    let shed = async {
        patiently("the first verification to be in flight", async {
            while admission.in_flight() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await;
        let second_code = Holder::passing(park).code().mint();
        let refused = gw.verify(&second_code, park).await;
        // Answered while the first still waits for its department.
        assert_eq!(admission.in_flight(), 1, "the first is still in flight");
        (second_code, refused)
    };
    let (first_answer, (second_code, refused)) = tokio::join!(waiting, shed);
    refused.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "gateway.overloaded", None);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(first_answer.verdict().verdict, Verdict::Pass);

    gw.set_faults(json!({})).await;
    let again = gw.verify(&second_code, park).await;
    assert_eq!(
        again.verdict().verdict,
        Verdict::Pass,
        "the refused code was not spent"
    );
}

/// The gateway's count of record-cache misses, from its admin listener's `/metrics`.
async fn record_cache_misses(gw: &TestGateway) -> u64 {
    cache_lookups(gw, "records", "miss").await
}

/// The gateway's count of look-ups in `cache` with `result` (hit or miss), from its admin
/// listener's `/metrics`.
async fn cache_lookups(gw: &TestGateway, cache: &str, result: &str) -> u64 {
    let req = Request::builder()
        .uri(format!(
            "http://{}/metrics",
            gw.gateway.admin_addr.expect("an admin listener")
        ))
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let reply = send(&gw.client, req).await;
    assert_eq!(reply.status, StatusCode::OK);
    let metric = format!(r#"mz_cache_requests_total{{cache="{cache}",result="{result}"}} "#);
    reply
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(metric.as_str()))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// A code shown again is refused at the price of a look-up: its signature verified once is
/// not verified again (the replay is found after the look-up), whatever the signature
/// profile; MAC codes are not remembered at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_shown_again_is_not_verified_again() {
    let id = "park-entry-senior";
    let gw = TestGateway::start().await;
    let holder = Holder::passing(id);
    for profile in [Profile::Eddsa, Profile::Es256] {
        let hits = cache_lookups(&gw, "signatures", "hit").await;
        let misses = cache_lookups(&gw, "signatures", "miss").await;
        let code = holder.code().profile(profile).mint();
        let first = gw.verify(&code, id).await;
        assert_eq!(
            first.status,
            StatusCode::OK,
            "{profile:?}: {}",
            first.text()
        );
        for _ in 0..2 {
            gw.verify(&code, id)
                .await
                .assert_problem(StatusCode::CONFLICT, "code.replayed", None);
        }
        assert_eq!(
            cache_lookups(&gw, "signatures", "miss").await - misses,
            1,
            "{profile:?}: verified once"
        );
        assert_eq!(
            cache_lookups(&gw, "signatures", "hit").await - hits,
            2,
            "{profile:?}: remembered twice"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_level_certificate_is_asked_of_the_holders_city() {
    let id = "residence-permit-check";
    let s = scenario(id);
    let gw = TestGateway::start().await;
    let holder = Holder::passing(id);
    let before = gw.upstream_queries().await;
    let answer = gw.verify_holder(&holder, id).await;
    Expected::of(s, &holder).assert_matches(&answer, id);
    let after = gw.upstream_queries().await;
    let city_backend = held_at(&holder, "residence-permit");
    assert_eq!(
        new_queries(&before, &after),
        BTreeMap::from([(city_backend, 1)])
    );

    // Without a city, with a city of the province that is not one of its 16 (Laiwu, merged
    // into Jinan in 2019), or with a code that is no city at all, there is no backend to ask.
    for city in [None, Some(371_200), Some(990_100)] {
        let request_id = format!("e2e-city-{city:?}").replace(['(', ')'], "");
        let code = holder.code().city(city).mint();
        let reply = gw.verify_as(&venue_key(id), &code, id, &request_id).await;
        reply.assert_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code.no_city",
            Some(&request_id),
        );
    }
    assert_eq!(
        gw.upstream_queries().await,
        after,
        "a refused code asks no department"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_the_second_issuing_department_is_asked_there_and_objections_go_there() {
    let id = "bank-loan-enterprise";
    let (holder, held) = held_elsewhere(id, "business-licence");
    assert_eq!(held, "administrative-approval/province");
    let gw = TestGateway::start().await;
    let (queries, locates) = (gw.upstream_queries().await, gw.upstream_locates().await);
    let answer = gw.verify_holder(&holder, id).await;
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    Expected::of(scenario(id), &holder).assert_matches(&answer, id);
    // The first department's index, once; then the department that holds the record, once.
    assert_eq!(
        new_queries(&locates, &gw.upstream_locates().await),
        BTreeMap::from([("market-regulation/province".to_string(), 1)])
    );
    let after = gw.upstream_queries().await;
    assert_eq!(new_queries(&queries, &after), BTreeMap::from([(held, 1)]));

    // The venue's objection goes to the department that holds the record.
    let reply = gw
        .file_objection(
            Some(&format!("Bearer {}", venue_key(id))),
            &json!({ "verification_id": answer.verification_id, "channel": "hall",
                     "description": "the licence was renewed last week" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["department"], "administrative-approval");

    // Within the cache's time, the same holder is answered without asking anyone.
    let locates = gw.upstream_locates().await;
    let answer = gw.verify_holder(&holder, id).await;
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    assert_eq!(gw.upstream_queries().await, after);
    assert_eq!(gw.upstream_locates().await, locates);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_level_record_registered_in_another_city_is_asked_of_that_city() {
    let id = "residence-permit-check";
    let (holder, held) = held_elsewhere(id, "residence-permit");
    assert_ne!(held, format!("public-security/{}", holder.city));
    let gw = TestGateway::start().await;
    let (queries, locates) = (gw.upstream_queries().await, gw.upstream_locates().await);
    let answer = gw.verify_holder(&holder, id).await;
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    Expected::of(scenario(id), &holder).assert_matches(&answer, id);
    assert_eq!(
        new_queries(&locates, &gw.upstream_locates().await),
        BTreeMap::from([("public-security/province".to_string(), 1)])
    );
    assert_eq!(
        new_queries(&queries, &gw.upstream_queries().await),
        BTreeMap::from([(held, 1)]),
        "the city where it is registered, not the home city"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_from_another_province_is_answered_by_the_national_hub() {
    let id = "hotel-check-in";
    let hub = issuer::population::Population::out_of_province(issuer::config::DEFAULT_SEED);
    let handle = hub
        .find_handles("e2e-beijing-", 1, |h| {
            hub.person(h).home_city == 110_100
                && hub
                    .record_in(
                        catalogue(),
                        h,
                        HolderKind::Person,
                        "resident-id-card",
                        today(),
                    )
                    .is_some_and(|r| r.status == wire::issuer_api::RecordStatus::Valid)
        })
        .pop()
        .expect("a Beijing holder with a valid identity card");
    let gw = TestGateway::start().await;
    let before = gw.upstream_queries().await;
    let code = CodeSpec::new(&handle, HolderKind::Person, Some(110_100)).mint();
    let answer = gw.verify(&code, id).await.verdict();
    assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
    assert_eq!(
        new_queries(&before, &gw.upstream_queries().await),
        BTreeMap::from([("national-hub/national".to_string(), 1)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_department_that_holds_the_record_down_is_unavailable_for_it() {
    let id = "bank-loan-enterprise";
    let (holder, held) = held_elsewhere(id, "business-licence");
    let gw = TestGateway::start().await;
    gw.set_faults(json!({ "backends": { held.clone(): { "down": true } } }))
        .await;
    let answer = gw.verify_holder(&holder, id).await;
    assert_eq!(answer.verdict, Verdict::Unavailable, "{answer:?}");
    assert_eq!(
        (
            answer.requirements[0].verdict,
            answer.requirements[0].reason
        ),
        (Verdict::Unavailable, Some(Reason::DepartmentUnavailable))
    );

    // A city-level record registered away from home, with the index down: the home city is
    // asked, and its not-found is no answer.
    gw.set_faults(json!({ "backends": { "public-security/province": { "down": true } } }))
        .await;
    let id = "residence-permit-check";
    let (away, _) = held_elsewhere(id, "residence-permit");
    let answer = gw.verify_holder(&away, id).await;
    assert_eq!(
        (
            answer.requirements[0].verdict,
            answer.requirements[0].reason
        ),
        (Verdict::Unavailable, Some(Reason::DepartmentUnavailable)),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_until_the_department_pushes_a_revocation() {
    let park = "park-entry-senior";
    let gw = TestGateway::start().await;
    let senior = Holder::passing(park);
    let certificate = &scenario(park).requirements[0].certificate;
    let backend = backends_of(scenario(park), &senior).remove(0);

    let before = gw.upstream_queries().await;
    assert_eq!(gw.verify_holder(&senior, park).await.verdict, Verdict::Pass);
    let first = gw.upstream_queries().await;
    assert_eq!(
        new_queries(&before, &first),
        BTreeMap::from([(backend.clone(), 1)])
    );
    assert_eq!(gw.verify_holder(&senior, park).await.verdict, Verdict::Pass);
    assert_eq!(
        gw.upstream_queries().await,
        first,
        "the second verify is answered from the cache"
    );

    // The department revokes and pushes the change to `POST /v1/issuer-events` (with retries,
    // in the background); the gateway drops its cached answer and asks again.
    gw.override_record(&senior.handle, certificate, "revoke")
        .await;
    let mut answer = gw.verify_holder(&senior, park).await;
    for _ in 0..100 {
        if answer.verdict == Verdict::Fail {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = gw.verify_holder(&senior, park).await;
    }
    assert_eq!(
        answer.verdict,
        Verdict::Fail,
        "the change reached the gateway: {answer:?}"
    );
    assert_eq!(answer.requirements[0].reason, Some(Reason::Revoked));
    assert_eq!(
        new_queries(&first, &gw.upstream_queries().await),
        BTreeMap::from([(backend, 1)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_events_need_the_departments_token() {
    let gw = TestGateway::start().await;
    let url = gw.verify_url().replace("/v1/verify", "/v1/issuer-events");
    let event = serde_json::json!({
        "event_id": "e-1", "department": "health", "subject": "someone",
        "certificate": "senior-citizen-card", "change": {"kind": "revoked"},
        "at": "2026-11-26T08:00:00Z"
    });
    let post = |auth: Option<&str>| {
        let mut req = http::Request::post(&url).header("content-type", "application/json");
        if let Some(token) = auth {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        req.body(http_body_util::Full::new(bytes::Bytes::from(
            event.to_string(),
        )))
        .expect("request")
    };
    let reply = testkit::send(&gw.client, post(None)).await;
    reply.assert_problem(
        http::StatusCode::UNAUTHORIZED,
        "venue.missing_credentials",
        None,
    );
    let reply = testkit::send(&gw.client, post(Some("not-a-department-token"))).await;
    reply.assert_problem(http::StatusCode::UNAUTHORIZED, "department.unknown", None);
}

// ---------------------------------------------------------------------------------------------
// Consent and holder kind
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_only_good_for_what_the_holder_consented_to_and_its_holder_kind() {
    let gw = TestGateway::start().await;
    let park = "park-entry-senior";
    let senior = Holder::passing(park);

    let reply = gw
        .verify_as(
            &venue_key(park),
            &senior.code().scope(&["resident-id-card"]).mint(),
            park,
            "e2e-scope",
        )
        .await;
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        "code.scope_not_granted",
        Some("e2e-scope"),
    );
    let answer = gw
        .verify(
            &senior
                .code()
                .scope(&["resident-id-card", "senior-citizen-card"])
                .mint(),
            park,
        )
        .await;
    assert_eq!(answer.verdict().verdict, Verdict::Pass);

    // Consent must cover every requirement of a scenario, not just one.
    let traffic = "traffic-stop-check";
    let driver = Holder::passing(traffic);
    let reply = gw
        .verify_as(
            &venue_key(traffic),
            &driver.code().scope(&["driving-licence"]).mint(),
            traffic,
            "e2e-scope-2",
        )
        .await;
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        "code.scope_not_granted",
        Some("e2e-scope-2"),
    );

    // An organisation's code at a person's scenario, and the other way round.
    let stall = "food-stall-inspection";
    let cases = [
        (senior.code().kind(HolderKind::Organisation), park),
        (senior.code(), stall),
    ];
    for (i, (code, scenario)) in cases.into_iter().enumerate() {
        let id = format!("e2e-kind-{i}");
        let reply = gw
            .verify_as(&venue_key(scenario), &code.mint(), scenario, &id)
            .await;
        reply.assert_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code.wrong_holder_kind",
            Some(&id),
        );
    }
    gw.assert_still_serving("refused codes").await;
}

// ---------------------------------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_self_signed_certificate_speaks_http1_and_http2() {
    let gw = TestGateway::start_with(|c| c.tls.mode = gateway::config::TlsMode::SelfSigned).await;
    assert!(gw.gateway.public_tls);
    let certificate = gw
        .gateway
        .certificate
        .clone()
        .expect("a self-signed certificate");
    let park = "park-entry-senior";
    let senior = Holder::passing(park);
    let url = format!(
        "https://127.0.0.1:{}{VERIFY_PATH}",
        gw.gateway.public_addr.port()
    );

    for version in [Version::HTTP_11, Version::HTTP_2] {
        let tls = gateway::http::tls::client_config_trusting(&certificate)
            .expect("a client trusting the certificate");
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        // Offer only HTTP/1.1, or both with h2 first: the server's choice is what ALPN gives.
        let connector = if version == Version::HTTP_2 {
            builder.enable_all_versions().build()
        } else {
            builder.enable_http1().build()
        };
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let body = json!({ "code": senior.code().mint(), "scenario": park }).to_string();
        let req = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header("authorization", format!("Bearer {}", venue_key(park)))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a request");
        let resp = patiently("an HTTPS verify", client.request(req))
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e:?}"));
        assert_eq!(resp.version(), version);
        assert_eq!(resp.status(), StatusCode::OK);
        let body = patiently("the body", resp.into_body().collect())
            .await
            .expect("a body")
            .to_bytes();
        let answer: wire::api::VerifyResponse =
            serde_json::from_slice(&body).expect("a verify response");
        assert_eq!(answer.verdict, Verdict::Pass, "{version:?}");
    }
}
