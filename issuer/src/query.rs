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

use bytes::Bytes;
use chrono::Utc;
use http::Response;
use http_body_util::Full;
use hyper::body::Incoming;
use wire::calendar::china_today;
use wire::catalogue::model::CertificateType;
use wire::issuer_api::{Record, RecordQuery, RecordResponse};

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
        let certs = resolve(state, backend, &query)?;
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

    let now = Utc::now();
    let today = china_today(now);
    let holder = state.population.holder(&query.subject, query.holder_kind);
    let records: Vec<Record> = certs
        .iter()
        .map(|cert| {
            let mut record = crate::records::generate(
                &state.population,
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

/// Stage 4: the certificate types asked, each checked against this backend and holder kind.
fn resolve<'s>(
    state: &'s State,
    backend: &ServedBackend,
    query: &RecordQuery,
) -> Result<Vec<&'s CertificateType>, ApiError> {
    query
        .certificates
        .iter()
        .map(|code| {
            let cert = state
                .catalogue
                .certificate(code)
                .ok_or_else(|| ApiError::UnknownCertificate(code.clone()))?;
            if !backend.certificates.contains(code) {
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
