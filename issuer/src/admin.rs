//! The admin endpoints (bearer token from the config):
//!
//! - `GET /admin/overrides` — every change made to records;
//! - `POST /admin/overrides` — revoke / suspend / reinstate / correct one record
//!   ([`OverrideRequest`]); the next query reflects it and an [`IssuerEvent`] goes to the
//!   gateway;
//! - `GET /admin/faults`, `PUT /admin/faults` — the fault plan ([`FaultPlan`]), replaced whole;
//! - `GET /admin/stats` — counters per backend, of notifications and overrides.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::Utc;
use http::Response;
use http_body_util::Full;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use wire::catalogue::model::HolderKind;
use wire::issuer_api::{IssuerEvent, Record};

use crate::config::MAX_ADMIN_BYTES;
use crate::faults::FaultPlan;
use crate::notify::NotifyCounts;
use crate::overrides::{Action, Override, OverrideRequest};
use crate::population::log_tag;
use crate::problem::{json_response, ApiError};
use crate::shared::{read_body, State};
use crate::stats::BackendCounts;

/// The answer to `POST /admin/overrides`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverrideApplied {
    #[serde(rename = "override")]
    pub applied: Override,
    /// The id of the event sent to the gateway.
    pub event_id: String,
}

/// The answer to `GET /admin/stats`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsReport {
    pub backends: BTreeMap<String, BackendCounts>,
    pub notify: NotifyCounts,
    pub overrides: usize,
}

/// Checks `Authorization: Bearer <token>` in constant time.
pub(crate) fn authorized(state: &State, req: &hyper::Request<Incoming>) -> bool {
    let Some(expected) = &state.admin_token else {
        return false;
    };
    let given = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn list_overrides(state: &State) -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct List {
        overrides: Vec<Override>,
    }
    json_response(&List {
        overrides: state.overrides.list(),
    })
}

pub(crate) async fn post_override(
    state: &State,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = read_body(req, MAX_ADMIN_BYTES).await?;
    let request: OverrideRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    let cert = state
        .catalogue
        .certificate(&request.certificate)
        .ok_or_else(|| ApiError::UnknownCertificate(request.certificate.clone()))?;
    if !wire::issuer_api::valid_subject(&request.subject) {
        return Err(ApiError::BadAdminRequest(
            "`subject` must be 1 to 128 bytes of visible ASCII".into(),
        ));
    }
    if let Action::Correct { field, value } = &request.action {
        // The corrected value must fit the field's kind, as any record of the type would.
        let mut probe = Record::not_found(&cert.code, "", &request.subject, Utc::now());
        probe.fields.insert(field.clone(), value.clone());
        probe
            .validate_fields(cert)
            .map_err(|e| ApiError::BadAdminRequest(format!("correction refused: {e}")))?;
    }
    let at = Utc::now();
    let applied = state.overrides.apply(&request, at);
    // The department that holds the record (the request names no holder kind: an
    // organisation's for the types only organisations hold, a person's otherwise).
    let kind = match cert.holder {
        wire::catalogue::model::HolderKinds::Organisation => HolderKind::Organisation,
        _ => HolderKind::Person,
    };
    let holder = state.population.holder(&request.subject, kind);
    let department = state
        .population
        .placement(&request.subject, &holder, cert)
        .department
        .to_string();
    let event = IssuerEvent {
        event_id: format!("{:032x}", rand::random::<u128>()),
        department,
        subject: request.subject.clone(),
        certificate: request.certificate.clone(),
        change: request.action.change(),
        at,
    };
    tracing::info!(
        subject = %log_tag(&request.subject),
        certificate = %request.certificate,
        change = ?event.change,
        event_id = %event.event_id,
        "override applied"
    );
    let event_id = event.event_id.clone();
    state.notifier.send(event);
    Ok(json_response(&OverrideApplied { applied, event_id }))
}

pub(crate) fn get_faults(state: &State) -> Response<Full<Bytes>> {
    json_response(&*state.faults.plan())
}

pub(crate) async fn put_faults(
    state: &State,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = read_body(req, MAX_ADMIN_BYTES).await?;
    let plan: FaultPlan =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    plan.validate(|name| state.backends.contains_key(name))
        .map_err(ApiError::BadAdminRequest)?;
    tracing::info!(?plan, "fault plan replaced");
    state.faults.replace(plan);
    Ok(get_faults(state))
}

pub(crate) fn stats(state: &State) -> Response<Full<Bytes>> {
    json_response(&StatsReport {
        backends: state
            .backends
            .iter()
            .map(|(name, b)| (name.clone(), b.stats.snapshot()))
            .collect(),
        notify: state.notifier.counts(),
        overrides: state.overrides.len(),
    })
}
