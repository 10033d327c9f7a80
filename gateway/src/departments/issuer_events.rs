//! `POST /v1/issuer-events`: departments push changes (revoked, suspended, reinstated,
//! corrected) and the gateway drops what it cached for that (holder, certificate type), so the
//! next verification asks the department again, on every node ([`Invalidations`]). Each department authenticates with its own
//! bearer token (kept as a SHA-256 hash) and may only speak for itself. Delivery is at least
//! once: dropping a cache entry twice is harmless, so duplicates need no bookkeeping.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use wire::catalogue::Catalogue;
use wire::issuer_api::IssuerEvent;

use crate::audit::SubjectHasher;
use crate::departments::invalidation::Invalidations;
use crate::error::Failure;
use crate::http::request;

/// Largest event body accepted.
const MAX_EVENT_BYTES: usize = 16 * 1024;
const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which departments each token may speak for, by the token's SHA-256.
#[derive(Debug, Default, Clone)]
pub struct EventTokens {
    by_hash: HashMap<[u8; 32], HashSet<String>>,
}

/// A random token (for the embedded demo departments of one run).
pub fn fresh_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl EventTokens {
    /// From `departments.event_tokens`: department id → hex SHA-256 of its token.
    pub fn from_config(hashes: &BTreeMap<String, String>) -> Result<EventTokens, String> {
        let mut tokens = EventTokens::default();
        for (department, hex_hash) in hashes {
            let hash = hex::decode(hex_hash)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    format!("departments.event_tokens.{department}: not 64 hex digits (the SHA-256 of the token)")
                })?;
            tokens
                .by_hash
                .entry(hash)
                .or_default()
                .insert(department.clone());
        }
        Ok(tokens)
    }

    /// Lets `token` speak for `departments`.
    pub fn allow(&mut self, token: &str, departments: impl IntoIterator<Item = String>) {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash.entry(hash).or_default().extend(departments);
    }

    fn departments(&self, token: &str) -> Option<&HashSet<String>> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash.get(&hash)
    }
}

/// The receiver of department change notifications.
#[derive(Debug)]
pub struct IssuerEvents {
    pub tokens: EventTokens,
    pub catalogue: Arc<Catalogue>,
    pub invalidations: Invalidations,
    pub subjects: SubjectHasher,
}

impl IssuerEvents {
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let request_id = request::request_id(&req);
        match self.accept(req).await {
            Ok(()) => Response::builder()
                .status(StatusCode::ACCEPTED)
                .header(crate::http::problem::REQUEST_ID_HEADER, &request_id)
                .body(Full::new(Bytes::new()))
                .expect("static response parts are valid"),
            Err(failure) => {
                tracing::info!(request_id, code = failure.code(), "issuer event refused");
                failure.problem(&request_id).into_response()
            }
        }
    }

    async fn accept(&self, req: Request<Incoming>) -> Result<(), Failure> {
        let (parts, body) = req.into_parts();
        let token = request::bearer(&parts.headers).ok_or(Failure::MissingCredentials)?;
        let allowed = self
            .tokens
            .departments(token)
            .ok_or(Failure::UnknownDepartmentToken)?;
        let body = request::read_body(&parts.headers, body, MAX_EVENT_BYTES, BODY_TIMEOUT).await?;
        let event: IssuerEvent = serde_json::from_slice(&body)
            .map_err(|e| Failure::MalformedRequest(format!("body: {e}")))?;
        if !allowed.contains(&event.department) {
            return Err(Failure::WrongDepartment(event.department));
        }
        // Any issuing department may hold a holder's record (and the national hub holds other
        // provinces' holders' records of every type).
        let is_hub = self
            .catalogue
            .national_hub()
            .is_some_and(|hub| hub.id == event.department);
        let answers_for_it = self
            .catalogue
            .certificate(&event.certificate)
            .is_some_and(|c| is_hub || c.departments.contains(&event.department));
        if !answers_for_it {
            return Err(Failure::MalformedRequest(format!(
                "department `{}` does not answer for `{}`",
                event.department, event.certificate
            )));
        }
        let hash = self.subjects.hash(&event.subject);
        if let Err(e) = self.invalidations.publish(hash, &event.certificate).await {
            // Dropped here; the other nodes keep theirs until its TTL. The department retries
            // on an error answer, and a retry is harmless.
            tracing::warn!(event_id = %event.event_id, error = %e, "could not tell the other nodes");
            return Err(Failure::StoreUnavailable(e.to_string()));
        }
        tracing::info!(
            event_id = %event.event_id,
            department = %event.department,
            certificate = %event.certificate,
            "cache entry dropped after a department change"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_speak_only_for_their_departments() {
        let hash = hex::encode(Sha256::digest(b"health-token"));
        let mut tokens = EventTokens::from_config(&BTreeMap::from([("health".to_string(), hash)]))
            .expect("valid");
        tokens.allow("demo", ["civil-affairs".to_string()]);
        assert!(tokens
            .departments("health-token")
            .is_some_and(|d| d.contains("health")));
        assert!(tokens
            .departments("demo")
            .is_some_and(|d| d.contains("civil-affairs")));
        assert!(tokens
            .departments("demo")
            .is_some_and(|d| !d.contains("health")));
        assert!(tokens.departments("guess").is_none());
        let bad =
            EventTokens::from_config(&BTreeMap::from([("health".to_string(), "xyz".to_string())]));
        assert!(bad
            .expect_err("refused")
            .contains("departments.event_tokens.health"));
    }
}
