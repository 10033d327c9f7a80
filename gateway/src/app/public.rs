//! The public listener's routes: `POST /v1/verify`, `POST /v1/issuer-events`,
//! `POST /v1/objections`, `GET /v1/holder/accesses`, `POST /v1/materials`,
//! `POST /v1/commitments`; anything else is 404 (405 for a known
//! path with another method), as a problem. Each route is described in the API document by
//! [`crate::openapi::public`].

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::api::{HOLDER_ACCESSES_PATH, OBJECTIONS_PATH, VERIFY_PATH};
use wire::issuer_api::EVENTS_PATH;
use wire::materials_api::{COMMITMENTS_PATH, MATERIALS_PATH};

use crate::commitments::filing::CommitmentFilingApi;
use crate::departments::issuer_events::IssuerEvents;
use crate::error::Failure;
use crate::holder::accesses::HolderAccessesApi;
use crate::holder::objection_filing::ObjectionFilingApi;
use crate::http::server::{Handler, Peer};
use crate::materials::MaterialsService;
use crate::verify::VerifyService;

/// The public listener's routes.
#[derive(Clone)]
pub struct PublicHandler {
    pub service: Arc<VerifyService>,
    pub events: Arc<IssuerEvents>,
    pub objections: Arc<ObjectionFilingApi>,
    pub accesses: Arc<HolderAccessesApi>,
    /// `POST /v1/materials`: a service window pulls an applicant's materials (免证办).
    pub materials: Arc<MaterialsService>,
    /// `POST /v1/commitments`: a service window records an applicant's commitment (告知承诺).
    pub commitments: Arc<CommitmentFilingApi>,
    /// The listener label its requests are counted under.
    pub listener: &'static str,
}

/// 405 with the method a path takes.
fn method_not_allowed(req: &Request<Incoming>, allow: &'static str) -> Response<Full<Bytes>> {
    let id = crate::http::request::request_id(req);
    let mut r = Failure::MethodNotAllowed.problem(&id).into_response();
    r.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    r
}

impl Handler for PublicHandler {
    async fn call(&self, req: Request<Incoming>, peer: Peer) -> Response<Full<Bytes>> {
        let (route, response) = match (req.method(), req.uri().path()) {
            (&Method::POST, VERIFY_PATH) => ("verify", self.service.handle(req, &peer).await),
            (&Method::POST, EVENTS_PATH) => ("issuer_events", self.events.handle(req).await),
            (&Method::POST, OBJECTIONS_PATH) => {
                ("objections", self.objections.handle(req, &peer).await)
            }
            (&Method::GET, HOLDER_ACCESSES_PATH) => (
                "holder_accesses",
                self.accesses.handle(req, peer.addr.ip()).await,
            ),
            (&Method::POST, MATERIALS_PATH) => {
                ("materials", self.materials.handle(req, &peer).await)
            }
            (_, VERIFY_PATH) => ("verify", method_not_allowed(&req, "POST")),
            (&Method::POST, COMMITMENTS_PATH) => {
                ("commitments", self.commitments.handle(req, &peer).await)
            }
            (_, MATERIALS_PATH) => ("materials", method_not_allowed(&req, "POST")),
            (_, COMMITMENTS_PATH) => ("commitments", method_not_allowed(&req, "POST")),
            (_, OBJECTIONS_PATH) => ("objections", method_not_allowed(&req, "POST")),
            (_, HOLDER_ACCESSES_PATH) => ("holder_accesses", method_not_allowed(&req, "GET")),
            _ => {
                let id = crate::http::request::request_id(&req);
                ("other", Failure::NotFound.problem(&id).into_response())
            }
        };
        self.service
            .metrics
            .http(self.listener, route, response.status());
        response
    }
}
