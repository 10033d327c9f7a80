//! The real HTTP client against a small HTTP server on port 0 that plays the gateway: what
//! goes over the wire (paths, bearer token, JSON bodies) and how answers come back.
#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use console::client::{AdminApi, ClientError, HttpAdminClient};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wire::admin_api::{ObjectionAction, ObjectionPage};
use wire::problem::Problem;

/// What the server saw: method, path and query, authorization, body.
type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;

async fn answer(
    request: Request<Incoming>,
    seen: Seen,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path = request.uri().path_and_query().unwrap().to_string();
    let auth = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = String::from_utf8(
        request
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    seen.lock()
        .unwrap()
        .push((method, path.clone(), auth, body.clone()));
    let json = |status: StatusCode, value: Vec<u8>| {
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(value)))
            .unwrap())
    };
    let problem = |status: u16, title: &str, detail: &str| {
        serde_json::to_vec(&Problem::new(
            status,
            "test",
            title,
            Some(detail.to_string()),
        ))
        .unwrap()
    };
    match path.as_str() {
        "/admin/v1/snapshot?after=7" => json(
            StatusCode::OK,
            serde_json::to_vec(&support::snapshot()).unwrap(),
        ),
        "/admin/v1/objections?open=true&limit=200" => {
            let page = ObjectionPage {
                items: support::objections(),
                next: None,
            };
            json(StatusCode::OK, serde_json::to_vec(&page).unwrap())
        }
        "/admin/v1/objections/obj-1/actions" if body.contains("\"reject\"") => json(
            StatusCode::CONFLICT,
            problem(409, "conflict", "the objection is closed"),
        ),
        "/admin/v1/objections/obj-1/actions" => json(
            StatusCode::OK,
            serde_json::to_vec(&support::detail("obj-1")).unwrap(),
        ),
        _ => json(
            StatusCode::NOT_FOUND,
            problem(404, "not found", "no such thing"),
        ),
    }
}

/// Serves on a free loopback port until the test ends; returns its URL and what it saw.
async fn gateway() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| answer(request, log.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn calls_carry_the_token_and_the_contract_paths() {
    let (url, seen) = gateway().await;
    let client = HttpAdminClient::new(&url, "s3cret");
    assert_eq!(client.snapshot(Some(7)).await.unwrap().generation, 4711);
    assert_eq!(client.objections(200).await.unwrap().items.len(), 4);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, _, auth, _)| auth == "Bearer s3cret"));
    assert_eq!(seen[0].1, "/admin/v1/snapshot?after=7");
}

#[tokio::test]
async fn an_action_is_posted_as_the_wire_json() {
    let (url, seen) = gateway().await;
    let client = HttpAdminClient::new(&url, "t");
    let action = ObjectionAction::ResolveCorrected {
        actor: None,
        note: "fixed".into(),
        correction: None,
    };
    let detail = client.act("obj-1", &action).await.unwrap();
    assert_eq!(detail.objection.id, "obj-1");
    let (method, path, _, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/admin/v1/objections/obj-1/actions")
    );
    assert_eq!(
        serde_json::from_str::<ObjectionAction>(&body).unwrap(),
        action
    );
}

#[tokio::test]
async fn refusals_come_back_as_their_problem() {
    let (url, seen) = gateway().await;
    let client = HttpAdminClient::new(&url, "t");
    let reject = ObjectionAction::Reject {
        actor: None,
        reason: "dup".into(),
    };
    let err = client.act("obj-1", &reject).await.unwrap_err();
    assert_eq!(err.to_string(), "conflict (409): the objection is closed");
    assert!(!err.is_disconnect());

    let err = client.audit_lookup("a/b c").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Problem(problem) if problem.status == 404),
        "{err}"
    );
    // Operator-typed ids are escaped into one path segment.
    assert_eq!(
        seen.lock().unwrap()[1].1,
        "/admin/v1/audit/verifications/a%2Fb%20c"
    );
}
