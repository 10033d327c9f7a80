//! `POST /v1/objections`: a venue (by its key or client certificate) or a holder (by a fresh code of their own) says
//! a verification or a record is wrong. `201 Created` with the objection's id, department and
//! deadline only once it is stored durably; see [`wire::api::ObjectionFiling`] for the body.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::api::{ObjectionFiled, ObjectionFiling, OBJECTIONS_PATH};
use wire::code::Purpose;

use crate::error::Failure;
use crate::holder;
use crate::holder::limits::HolderLimits;
use crate::http::json;
use crate::http::request;
use crate::http::server::Peer;
use crate::objections::{Filer, Filing, ObjectionDesk};
use crate::verify::{authenticate, VerifyService};

/// The handler of `POST /v1/objections`.
#[derive(Debug)]
pub struct ObjectionFilingApi {
    pub service: Arc<VerifyService>,
    pub desk: ObjectionDesk,
    /// The holder's routes' limits (a venue's filings count against its quota instead).
    pub limits: HolderLimits,
}

impl ObjectionFilingApi {
    /// Answers one request from `peer` (a holder's filing counts against its address).
    pub async fn handle(&self, req: Request<Incoming>, peer: &Peer) -> Response<Full<Bytes>> {
        let request_id = request::request_id(&req);
        let result = self.file(req, peer).await;
        let location = result
            .as_ref()
            .ok()
            .map(|f| format!("{OBJECTIONS_PATH}/{}", f.objection_id));
        let mut response = json::answer(result, StatusCode::CREATED, &request_id);
        if let Some(value) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }

    async fn file(&self, req: Request<Incoming>, peer: &Peer) -> Result<ObjectionFiled, Failure> {
        let (parts, body) = req.into_parts();
        // A venue when the request names one (checked before the body is read); else a holder.
        let certificate = peer.certificate.as_deref();
        let venue = if authenticate::claims_a_venue(&parts.headers, certificate) {
            let venue =
                authenticate::venue(&self.service.registry, &parts.headers, certificate).await?;
            Some(venue)
        } else {
            self.limits.admit_address(peer.addr.ip()).await?;
            None
        };
        let request: ObjectionFiling = json::read(&parts.headers, body).await?;
        self.desk.precheck(
            &request.channel,
            &request.description,
            request.certificate.as_deref(),
        )?;
        let (holder, spends) = match (&request.code, &venue) {
            // The holder proves themselves with a fresh code of their own, taken here and spent
            // with the filing.
            (Some(code), None) => {
                let claims = holder::take(&self.service, &self.limits, code).await?;
                let spends = holder::durable_spend(&self.service, &claims);
                (Some(claims), spends)
            }
            // A venue shows the code the holder presented at the counter: it must be authentic,
            // but it may be the one just used for the verification.
            (Some(code), Some(_)) => (
                Some(holder::authentic(&self.service, code, Purpose::Presentation).await?),
                None,
            ),
            (None, None) => return Err(Failure::MissingHolderCode),
            (None, Some(_)) => (None, None),
        };
        let taken = holder.clone().filter(|_| venue.is_none());
        let filing = Filing {
            filer: match &venue {
                Some(v) => Filer::Venue { id: v.id.clone() },
                None => Filer::Holder,
            },
            spends,
            holder: holder.map(|claims| holder::holder(&self.service, &claims)),
            verification_id: request.verification_id,
            certificate: request.certificate,
            channel: request.channel,
            description: request.description,
        };
        let objection = match self.desk.file(filing, Utc::now()).await {
            Ok(objection) => objection,
            Err(failure) => {
                // Not filed, so not spent (a replay found by the store stays spent).
                if let Some(claims) = &taken {
                    if !matches!(failure, Failure::CodeReplayed { .. }) {
                        holder::give_back(&self.service, claims);
                    }
                }
                return Err(failure);
            }
        };
        Ok(ObjectionFiled {
            objection_id: objection.id,
            department: objection.department,
            certificate: objection.certificate,
            deadline: objection.deadline,
            status: objection.status.as_str().to_owned(),
        })
    }
}
