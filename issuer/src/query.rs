//! Answering `POST {base}/v1/records:query` for one backend. The stages, in order:
//!
//! 1. **down?** — a backend set down answers 503 at once, before reading the body;
//! 2. **read** — the body, bounded (413 over the limit);
//! 3. **parse** — JSON into a [`RecordQuery`] and its bounds (400);
//! 4. **resolve** — each asked type: in the catalogue, answered by this backend, holdable by
//!    the holder kind (400, naming the first offending type);
//! 5. **faults** — added latency, then the error rate (503);
//! 6. **generate** — one record per asked type from the population, with overrides applied;
//! 7. **seal** — each record with the backend's department key, `issued_at` = now and the
//!    query's `nonce` as `query_nonce`, so the gateway can tell this answer from an old one.
//!
//! `POST {base}/v1/records:locate` ([`locate`]), asked of a province backend, runs stages 1–5
//! the same way for the types whose index it keeps, then says where each record is held
//! ([`Population::placement`](crate::population::Population::placement)), or that there is none.

use bytes::Bytes;
use chrono::Utc;
use http::Response;
use http_body_util::Full;
use hyper::body::Incoming;
use wire::calendar::china_today;
use wire::catalogue::model::BackendScope;
use wire::catalogue::model::CertificateType;
use wire::issuer_api::{
    LocateQuery, LocateResponse, Location, Record, RecordQuery, RecordResponse,
};

use crate::backends::ServedBackend;
use crate::population::log_tag;
use crate::problem::{json_response, ApiError};
use crate::shared::{read_body, State};

pub(crate) async fn answer(
    state: &State,
    backend: &ServedBackend,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    backend.stats.query();
    let (query, certs) = take_query(state, backend, req, &backend.certificates).await?;
    let now = Utc::now();
    let today = china_today(now);
    // The national hub answers for the holders of other provinces.
    let population = match backend.backend.scope {
        BackendScope::National => &state.out_of_province,
        _ => &state.population,
    };
    let holder = population.holder(&query.subject, query.holder_kind);
    let records: Vec<Record> = certs
        .iter()
        .map(|cert| {
            let mut record = crate::records::generate(
                population,
                &query.subject,
                &holder,
                cert,
                &backend.backend,
                today,
            );
            state.overrides.overlay(&mut record, today);
            record.issued_at = now;
            record.query_nonce.clone_from(&query.nonce);
            record.seal(&backend.key);
            record
        })
        .collect();
    backend.stats.answered(records.len());
    tracing::debug!(
        backend = %backend.name,
        subject = %log_tag(&query.subject),
        request_id = query.request_id.as_deref().unwrap_or("-"),
        records = records.len(),
        "query answered"
    );
    Ok(json_response(&RecordResponse {
        backend: backend.name.clone(),
        records,
    }))
}

/// Answers `POST {base}/v1/records:locate`: for each asked type whose index this backend keeps,
/// the department (and city) that holds the holder's record, or none if nobody does.
pub(crate) async fn locate(
    state: &State,
    backend: &ServedBackend,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    backend.stats.locate();
    let (query, certs): (LocateQuery, _) =
        take_query(state, backend, req, &backend.indexed).await?;
    let today = china_today(Utc::now());
    let pop = &state.population;
    let holder = pop.holder(&query.subject, query.holder_kind);
    let locations = certs
        .iter()
        .map(|cert| {
            let placed = pop.placement(&query.subject, &holder, cert);
            let scope = placed
                .city
                .map_or(BackendScope::Province, BackendScope::City);
            // The index lists the records issued: where the register has none, it says so.
            let held = state
                .catalogue
                .holding_backend(cert, placed.department, scope)
                .map(|b| crate::records::generate(pop, &query.subject, &holder, cert, b, today))
                .is_some_and(|r| r.status != wire::issuer_api::RecordStatus::NotFound);
            Location {
                certificate: cert.code.clone(),
                department: held.then(|| placed.department.to_string()),
                city: placed.city.filter(|_| held),
            }
        })
        .collect();
    Ok(json_response(&LocateResponse { locations }))
}

/// What a query and a locate call share: the injected faults (down at once; a delay and an
/// injected failure once the query is read), the body read and checked, and the types it asks
/// for resolved against `served` (those the backend answers, or indexes, for); a bad request
/// is counted.
async fn take_query<'s>(
    state: &'s State,
    backend: &ServedBackend,
    req: hyper::Request<Incoming>,
    served: &std::collections::HashSet<String>,
) -> Result<(RecordQuery, Vec<&'s CertificateType>), ApiError> {
    let decision = state.faults.decide(&backend.name);
    if decision.down {
        backend.stats.down();
        return Err(ApiError::Unavailable("backend is down"));
    }
    let result: Result<_, ApiError> = async {
        let body = read_body(req, state.max_query_bytes).await?;
        let query: RecordQuery =
            serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?;
        query.validate()?;
        let certs = resolve(state, backend, &query, served)?;
        Ok((query, certs))
    }
    .await;
    let (query, certs) = result.inspect_err(|_| backend.stats.bad_request())?;
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if decision.fail {
        backend.stats.injected_error();
        return Err(ApiError::Unavailable("injected error"));
    }
    Ok((query, certs))
}

/// Stage 4: the certificate types asked, each checked against `served` (the types this
/// backend answers, or indexes, for) and the holder kind.
fn resolve<'s>(
    state: &'s State,
    backend: &ServedBackend,
    query: &RecordQuery,
    served: &std::collections::HashSet<String>,
) -> Result<Vec<&'s CertificateType>, ApiError> {
    query
        .certificates
        .iter()
        .map(|code| {
            let cert = state
                .catalogue
                .certificate(code)
                .ok_or_else(|| ApiError::UnknownCertificate(code.clone()))?;
            if !served.contains(code) {
                return Err(ApiError::WrongBackend {
                    backend: backend.name.clone(),
                    certificate: code.clone(),
                });
            }
            let admitted = crate::records::admits(cert.holder, query.holder_kind);
            if !admitted {
                return Err(ApiError::WrongHolderKind {
                    holder: query.holder_kind.as_str(),
                    certificate: code.clone(),
                });
            }
            Ok(cert)
        })
        .collect()
}
