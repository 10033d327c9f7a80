//! `POST /v1/commitments`: a service window (a venue registered with `service_window`, by its
//! key or client certificate) records the applicant's commitment (告知承诺) for a material of
//! one of its own materials answers. `201 Created` with the commitment's id, the department that
//! checks it and the deadline, once it is stored durably; see
//! [`wire::materials_api::CommitmentFiling`] for the body.

use bytes::Bytes;
use chrono::Utc;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::calendar::china_today;
use wire::materials_api::{CommitmentFiling, CommitmentRecorded, COMMITMENTS_PATH};

use crate::commitments::CommitmentDesk;
use crate::error::Failure;
use crate::http::json;
use crate::http::request;
use crate::http::server::Peer;
use crate::kpis::KpiRecorder;
use crate::venues::registry::VenueRegistry;
use crate::verify::authenticate;

/// The handler of `POST /v1/commitments`.
#[derive(Debug)]
pub struct CommitmentFilingApi {
    pub registry: VenueRegistry,
    pub desk: CommitmentDesk,
    /// Counts each commitment towards the plan's replacement rate.
    pub kpis: KpiRecorder,
}

impl CommitmentFilingApi {
    /// Answers one request from `peer`.
    pub async fn handle(&self, req: Request<Incoming>, peer: &Peer) -> Response<Full<Bytes>> {
        let request_id = request::request_id(&req);
        let result = self.file(req, peer).await;
        let location = result
            .as_ref()
            .ok()
            .map(|c| format!("{COMMITMENTS_PATH}/{}", c.commitment_id));
        let mut response = json::answer(result, StatusCode::CREATED, &request_id);
        if let Some(value) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }

    async fn file(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
    ) -> Result<CommitmentRecorded, Failure> {
        let (parts, body) = req.into_parts();
        // Who calls and whether it may, before the body is read.
        let venue =
            authenticate::venue(&self.registry, &parts.headers, peer.certificate.as_deref())
                .await?;
        if !venue.service_window {
            return Err(Failure::NotServiceWindow(venue.id.clone()));
        }
        let filing: CommitmentFiling = json::read(&parts.headers, body).await?;
        let now = Utc::now();
        let commitment = self.desk.file(&venue.id, &filing, now).await?;
        // Counted for the item's department, where its materials are, at the service window's
        // city (the applicant's is not in the materials answer's audit entry).
        if let Some(item) = self.desk.catalogue().service_item(commitment.item) {
            self.kpis
                .commitment(china_today(now), venue.city, item, &item.department);
        }
        Ok(CommitmentRecorded {
            commitment_id: commitment.id,
            department: commitment.department,
            item: commitment.item,
            material: commitment.material,
            deadline: commitment.deadline,
            status: commitment.status.as_str().to_owned(),
        })
    }
}
