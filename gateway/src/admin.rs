//! The admin listener's routes: liveness, readiness and metrics for the orchestrator and
//! Prometheus. The operator console's API joins them here (in `AdminHandler::route`).
//!
//! - `GET /livez` — 200 while the process runs: if this fails, restart it.
//! - `GET /readyz` — 200 when ready for traffic (`ready`, then a line per
//!   [`Readiness::add_detail`]: how venue quotas are held); 503 with a problem body while
//!   starting (`admin.starting`) or from the first moment of draining (`admin.draining`), so
//!   load balancers stop sending before the listeners close.
//! - `GET /metrics` — [`Metrics::render`].
//! - `GET /openapi.json` — the API document ([`crate::openapi`]), unauthenticated like the
//!   probes.
//! - `/admin/v1/…` — the console's API ([`crate::admin::api`]), for named operators.
//! - Anything else: 404 (405 for a known path with another method), as a problem.
//!
//! Each route is described in the API document by [`crate::openapi::admin`].
//!
//! Its modules:
//! - [`api`] — the operator console's API under `/admin/v1`.
//! - [`operators`] — operator accounts: who is calling, with which roles; the bootstrap secret.
//! - [`readiness`] — starting, ready or draining, and the details of a ready answer.
//! - [`snapshot`] — the console's view of the node, made once per second.
//! - [`live`] — the atomics the verify path bumps and the snapshot reads.
//! - [`rollout`] — the rollout plan in force (reloadable) and the live figures against it; the
//!   verify path asks it in stage 7 (`verify/rollout.rs`).

pub mod api;
pub mod live;
pub mod operators;
pub mod readiness;
pub mod rollout;
pub mod snapshot;

use std::future::Future;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::admin::api::AdminApi;
use crate::http::problem::{fresh_request_id, Problem};
use crate::http::server::Handler;
use crate::metrics::{self, Metrics};
use crate::openapi;

pub use readiness::{Detail, Readiness, ReadyState};

/// The listener label admin requests are counted under.
const LISTENER: &str = "admin";

/// The admin listener's [`Handler`].
#[derive(Debug, Clone)]
pub struct AdminHandler {
    metrics: Metrics,
    readiness: Readiness,
    api: Option<AdminApi>,
}

impl AdminHandler {
    pub fn new(metrics: Metrics, readiness: Readiness) -> AdminHandler {
        AdminHandler {
            metrics,
            readiness,
            api: None,
        }
    }

    /// Serves the console's API too.
    pub fn with_api(mut self, api: AdminApi) -> AdminHandler {
        self.api = Some(api);
        self
    }

    /// Picks the route; returns its static name (the metric label) and the answer.
    fn route<B>(&self, req: &Request<B>) -> (&'static str, Response<Full<Bytes>>) {
        let get = req.method() == Method::GET;
        match req.uri().path() {
            "/livez" if get => ("livez", text(StatusCode::OK, "text/plain", "live\n")),
            "/readyz" if get => ("readyz", self.readyz()),
            "/metrics" if get => (
                "metrics",
                text(StatusCode::OK, metrics::CONTENT_TYPE, self.metrics.render()),
            ),
            openapi::PATH if get => (
                "openapi",
                text(StatusCode::OK, "application/json", openapi::json()),
            ),
            "/livez" | "/readyz" | "/metrics" | openapi::PATH => {
                ("method_not_allowed", method_not_allowed())
            }
            _ => ("not_found", not_found()),
        }
    }

    fn readyz(&self) -> Response<Full<Bytes>> {
        let Some((code, title)) = self.readiness.state().refusal() else {
            return text(StatusCode::OK, "text/plain", self.readiness.ready_text());
        };
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            title,
            fresh_request_id(),
        )
        .into_response()
    }
}

impl Handler for AdminHandler {
    fn call(
        &self,
        req: Request<Incoming>,
        _peer: crate::http::server::Peer,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send {
        let this = self.clone();
        async move {
            let (route, response) = match &this.api {
                Some(api) if AdminApi::owns(req.uri().path()) => api.handle(req).await,
                _ => this.route(&req),
            };
            this.metrics.http(LISTENER, route, response.status());
            response
        }
    }
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn not_found() -> Response<Full<Bytes>> {
    Problem::new(
        StatusCode::NOT_FOUND,
        "request.not_found",
        "No such resource",
        fresh_request_id(),
    )
    .into_response()
}

fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "request.method_not_allowed",
        "Method not allowed",
        fresh_request_id(),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::shutdown::Shutdown;

    #[test]
    fn readiness_goes_starting_ready_draining_and_stays_draining() {
        let shutdown = Shutdown::new();
        let readiness = Readiness::new(shutdown.clone());
        assert_eq!(readiness.state(), ReadyState::Starting);
        readiness.set_ready();
        assert_eq!(readiness.state(), ReadyState::Ready);
        assert_eq!(readiness.ready_text(), "ready\n");
        readiness.add_detail(Arc::new(|| "quotas: local".to_string()));
        assert_eq!(readiness.ready_text(), "ready\nquotas: local\n");
        shutdown.trigger();
        assert_eq!(readiness.state(), ReadyState::Draining);
        readiness.set_ready();
        assert_eq!(readiness.state(), ReadyState::Draining);
    }

    fn get(handler: &AdminHandler, method: Method, path: &str) -> (&'static str, StatusCode) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .expect("request");
        let (route, response) = handler.route(&req);
        (route, response.status())
    }

    #[test]
    fn routes_answer_by_path_and_method() {
        let shutdown = Shutdown::new();
        let readiness = Readiness::new(shutdown.clone());
        let handler = AdminHandler::new(Metrics::new(), readiness.clone());

        assert_eq!(
            get(&handler, Method::GET, "/livez"),
            ("livez", StatusCode::OK)
        );
        assert_eq!(
            get(&handler, Method::GET, "/readyz"),
            ("readyz", StatusCode::SERVICE_UNAVAILABLE)
        );
        readiness.set_ready();
        assert_eq!(
            get(&handler, Method::GET, "/readyz"),
            ("readyz", StatusCode::OK)
        );
        assert_eq!(
            get(&handler, Method::GET, "/metrics"),
            ("metrics", StatusCode::OK)
        );
        assert_eq!(
            get(&handler, Method::POST, "/metrics"),
            ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            get(&handler, Method::GET, "/metrics/x"),
            ("not_found", StatusCode::NOT_FOUND)
        );
        assert_eq!(
            get(&handler, Method::GET, "/openapi.json"),
            ("openapi", StatusCode::OK)
        );
        assert_eq!(
            get(&handler, Method::POST, "/openapi.json"),
            ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED)
        );
        shutdown.trigger();
        assert_eq!(
            get(&handler, Method::GET, "/readyz"),
            ("readyz", StatusCode::SERVICE_UNAVAILABLE)
        );
    }
}
