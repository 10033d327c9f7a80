//! `/admin/v1/audit…`: recent verifications and one by its id, the holder only as a short hash.

use http::{Method, StatusCode};
use store::AuditEntry;
use wire::admin_api::{AuditPage, AuditView};

use super::{short_hash, AdminApi, Answer, Call};
use crate::error::Failure;
use crate::http::json;

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub fn view(e: &AuditEntry) -> AuditView {
    AuditView {
        chain: e.chain.clone(),
        seq: e.seq,
        at: e.at,
        node: e.node.clone(),
        venue: e.venue.clone(),
        scenario: e.scenario.clone(),
        verdict: e.verdict.clone(),
        requirements: e.requirement_verdicts.clone(),
        latency_us: e.latency_us,
        verification_id: e.verification_id.clone(),
        subject: short_hash(&e.subject_hash),
    }
}

pub async fn route(api: &AdminApi, call: Call<'_>) -> Answer {
    let store = api.registry.store();
    match (call.req.method(), call.segments) {
        (&Method::GET, ["audit", "recent"]) => {
            let limit = json::limit_param(call.req.uri().query(), DEFAULT_PAGE, MAX_PAGE)?;
            let entries = store.recent_audit(limit).await.map_err(Failure::from)?;
            let page = AuditPage {
                items: entries.iter().map(view).collect(),
            };
            Ok(json::reply(StatusCode::OK, &page, call.request_id))
        }
        (&Method::GET, ["audit", "verifications", id]) => {
            let entry = store
                .audit_by_verification(id)
                .await
                .map_err(Failure::from)?
                .ok_or_else(|| Failure::Missing {
                    what: "verification",
                    id: id.to_string(),
                })?;
            Ok(json::reply(StatusCode::OK, &view(&entry), call.request_id))
        }
        _ => Err(Failure::NotFound),
    }
}
