//! `POST /v1/materials` (免证办): a service window shows the applicant's code and a service
//! item; the gateway pulls each of the item's materials from its issuing department and says
//! what became of it — `provided` with the fields the form needs, `commitment_allowed`,
//! `must_present`, or `unavailable` — never leaving one out. See
//! [`wire::materials_api`] for the exchange.
//!
//! The stages are the verify path's, reused where they are the same:
//! 1. admit — the verify admission limit, the body read and bounded, shed while the audit
//!    backlog is full ([`crate::verify::admit`]);
//! 2. authenticate — the venue (key or client certificate, its quota), which must be a service
//!    window ([`crate::verify::authenticate`]);
//! 3. the item — known, with materials;
//! 4. the code — authentic, made for a service window (`Purpose::ServiceWindow`), signed (never
//!    the HMAC profile: the form receives ID numbers), the holder kind the item's applicant,
//!    consent naming the item or its department, and spent on this node
//!    ([`crate::verify::check_code`]);
//! 5. pull — each certificate material resolved to its backend like a requirement
//!    ([`crate::verify::resolve`]), asked only where the rollout plan has it live in the
//!    applicant's city, in one fan-out through the record cache ([`crate::verify::fetch`]),
//!    each record's seal checked, validity decided ([`crate::verify::decide`]) — see [`pull`];
//! 6. record — an audit entry like a verification's (scenario `item:<no>`, one
//!    `(material, status)` pair per material), committed with the code spent before the answer;
//!    metrics, and the plan's targets' counters ([`crate::kpis`]: materials and form fields
//!    shared, data-sharing requests answered).

pub mod pull;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::calendar::china_today;
use wire::catalogue::model::{Requirement, ServiceItem};
use wire::catalogue::Catalogue;
use wire::code::{HolderClaims, Purpose};
use wire::keys::Algorithm;
use wire::materials_api::{MaterialsRequest, MaterialsResponse};

use crate::audit::AuditRecord;
use crate::cluster::replay::spend_of;
use crate::error::{Failure, Fault};
use crate::http::client_certificate::ClientCertificate;
use crate::http::json;
use crate::http::server::Peer;
use crate::verify::admission::UpstreamWait;
use crate::verify::{admit, authenticate, check_code, decode, VerifyService};

/// The handler of `POST /v1/materials`, beside the verify service whose parts it shares.
#[derive(Debug)]
pub struct MaterialsService {
    pub verify: Arc<VerifyService>,
    /// Per service item, one requirement per certificate material (valid on the day, the
    /// form's fields to fill), made once from the catalogue.
    requirements: HashMap<u32, Vec<Requirement>>,
}

impl MaterialsService {
    pub fn new(verify: Arc<VerifyService>) -> MaterialsService {
        let requirements = pull::requirements(&verify.catalogue);
        MaterialsService {
            verify,
            requirements,
        }
    }

    /// Answers one request from `peer`: the item's materials, or a problem. Never fails.
    pub async fn handle(&self, req: Request<Incoming>, peer: &Peer) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let request_id = crate::http::request::request_id(&req);
        let service = &self.verify;
        let Some(admitted) = service.admission.try_admit() else {
            service.metrics.rejection(Failure::Overloaded.code());
            return Failure::Overloaded.problem(&request_id).into_response();
        };
        let (parts, body) = req.into_parts();
        let answer = match admit::body(&parts.headers, body, &service.limits).await {
            Ok(body) => {
                let working = Instant::now();
                let upstream = UpstreamWait::default();
                let answer = self
                    .materials(
                        &parts.headers,
                        peer.certificate.as_deref(),
                        &body,
                        &request_id,
                        started,
                        &upstream,
                    )
                    .await;
                admitted.finish(working.elapsed(), upstream.get());
                answer
            }
            Err(failure) => Err(failure),
        };
        if let Err(failure) = &answer {
            match failure.fault() {
                Fault::Gateway => {
                    tracing::error!(request_id, code = failure.code(), error = ?failure, "materials failed")
                }
                Fault::Venue | Fault::Holder => {
                    tracing::info!(request_id, code = failure.code(), "materials refused")
                }
            }
            service.metrics.rejection(failure.code());
        }
        json::answer(answer, StatusCode::OK, &request_id)
    }

    /// Stages 1 (the rest) to 6 on a body already read.
    pub async fn materials(
        &self,
        headers: &HeaderMap,
        certificate: Option<&ClientCertificate>,
        body: &[u8],
        request_id: &str,
        started: Instant,
        upstream: &UpstreamWait,
    ) -> Result<MaterialsResponse, Failure> {
        let service = &self.verify;
        admit::not_backlogged(&service.audit.writer)?;
        let venue = authenticate::venue(&service.registry, headers, certificate).await?;
        if !venue.service_window {
            return Err(Failure::NotServiceWindow(venue.id.clone()));
        }
        let request: MaterialsRequest = json::parse(body)?;
        let item = item(&service.catalogue, request.item)?;
        let holder = self.applicant(&request.code, item).await?;
        let now = Utc::now();
        let answer = async {
            let requirements = self
                .requirements
                .get(&item.no)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let subject_hash = service.subjects.hash(&holder.subject);
            let applicant = pull::Applicant {
                holder: &holder,
                subject_hash,
                city: service.rollout.city_of(holder.city, venue.city),
                today: china_today(now),
            };
            let deadline = started + service.limits.fetch_deadline;
            let asking = Instant::now();
            let pulled = pull::materials(
                service,
                item,
                requirements,
                &applicant,
                deadline,
                request_id,
            )
            .await;
            upstream.add(asking.elapsed());
            let mut response = pull::response(item, &pulled, now);
            let record = audit_record(
                &service.audit.node,
                &venue.id,
                item,
                &response,
                subject_hash,
                started,
            );
            let position = service
                .audit
                .append(record, spend_of(&holder.nonce, holder.expires_at))
                .await?;
            response.audit_seq = position.map(|p| p.seq);
            response.audit_chain = position.map(|_| service.audit.node.clone());
            service.metrics.materials(&response);
            let statuses: Vec<_> = response.materials.iter().map(|m| m.status).collect();
            service
                .kpis
                .materials(applicant.today, applicant.city, item, &statuses);
            Ok(response)
        }
        .await;
        // Not answered, so not spent (a replay the store found stays spent).
        if let Err(failure) = &answer {
            if !matches!(failure, Failure::CodeReplayed { .. }) {
                service.replay.forget(&holder.nonce, holder.expires_at);
            }
        }
        answer
    }

    /// The applicant's claims: an authentic code for a service window, signed, of the item's
    /// applicant kind, consenting to the item, spent on this node.
    async fn applicant(&self, code: &str, item: &ServiceItem) -> Result<HolderClaims, Failure> {
        let service = &self.verify;
        let what = format!("item:{}", item.no);
        let decoded = decode::code(&service.verifier, code)?;
        if decoded.message.algorithm() == Algorithm::Hmac256 {
            return Err(Failure::ProfileNotAllowed(what));
        }
        let now = Utc::now();
        let presented = check_code::Presented {
            text: code,
            decoded: &decoded,
        };
        let claims = check_code::authentic(
            service.code_checks(),
            presented,
            now,
            Purpose::ServiceWindow,
        )
        .await?;
        let applicant = item
            .applicant
            .ok_or(Failure::ItemWithoutMaterials(item.no))?;
        if claims.kind != applicant {
            return Err(Failure::WrongHolderKind {
                scenario: what,
                expected: applicant.as_str(),
                actual: claims.kind.as_str(),
            });
        }
        if !claims.allows_item(item.no, &item.department) {
            return Err(Failure::ScopeNotGranted(what));
        }
        if let Some(presenter) = &claims.presenter {
            service
                .revocations
                .check_delegation(&presenter.delegation)
                .await?;
        }
        check_code::spend(&service.replay, &check_code::Use::whole(&claims), now)?;
        Ok(claims)
    }
}

/// The service item `no`, if it is known and lists materials.
fn item(catalogue: &Catalogue, no: u32) -> Result<&ServiceItem, Failure> {
    let item = catalogue.service_item(no).ok_or(Failure::UnknownItem(no))?;
    if item.materials.is_empty() {
        return Err(Failure::ItemWithoutMaterials(no));
    }
    Ok(item)
}

/// The answer's audit entry: like a verification's, its scenario `item:<no>`, its verdicts one
/// `(material, status)` pair per material of the item in order, and overall the least a
/// material got (`provided` only when every one was).
fn audit_record(
    node: &str,
    venue: &str,
    item: &ServiceItem,
    response: &MaterialsResponse,
    subject_hash: [u8; 32],
    started: Instant,
) -> AuditRecord {
    AuditRecord {
        at: store::micros(response.decided_at),
        node: node.to_owned(),
        venue: venue.to_owned(),
        scenario: format!("item:{}", item.no),
        certificates: item
            .materials
            .iter()
            .filter_map(|m| m.certificate().map(str::to_owned))
            .collect(),
        verdict: pull::overall(&response.materials).as_str().to_owned(),
        requirement_verdicts: response
            .materials
            .iter()
            .map(|m| (m.material.clone(), m.status.as_str().to_owned()))
            .collect(),
        latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        subject_hash,
        verification_id: response.materials_request_id.clone(),
        means: Default::default(),
        presented_by: None,
    }
}
