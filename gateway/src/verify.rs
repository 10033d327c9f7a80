//! `POST /v1/verify`: the hot path (DESIGN.md §4). The stages, in order — each its own module:
//!
//! 1. [`admit`] — request id, content type, body under a size limit and a deadline; new
//!    verifications shed (503) while the audit backlog is full
//! 2. [`authenticate`] — venue key → venue (and its rate quota)
//! 3. [`authorize`] — the venue may use the scenario
//! 4. [`decode`] — prefix → base45 → [zlib] → COSE → claims
//! 5. [`check_code`] — key, signature/MAC, time window, holder kind, consent, replay on this
//!    node
//! 6. [`resolve`] — scenario → certificate types → department backends
//! 7. [`fetch`] — cache, or one batched query per backend, coalesced, under one deadline
//! 8. [`check_seal`] — each record's department seal, before it is cached (called by `fetch`)
//! 9. [`decide`] — predicates → verdict per requirement and overall
//! 10. [`disclose`] — only the scenario's fields, masked
//! 11. [`record`] — the hash-chained audit entry, committed with the code's nonce as spent
//!     (the answer waits for the commit, which refuses a code spent on another node or before
//!     a restart), metrics, the log line
//! 12. [`respond`] — the JSON answer, with the entry's place in the audit chain
//!
//! The order is written down once: [`VerifyService::run`] admits and reads the body, then
//! [`VerifyService::verify`] runs stages 2–12.

pub mod admit;
pub mod authenticate;
pub mod authorize;
pub mod check_code;
pub mod check_seal;
pub mod decide;
pub mod decode;
pub mod disclose;
pub mod fetch;
pub mod record;
pub mod resolve;
pub mod respond;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{FixedOffset, Utc};
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::api::{RequirementResult, VerifyResponse};
use wire::catalogue::Catalogue;
use wire::code::Verifier;

use crate::error::{Failure, Fault};
use crate::metrics::Metrics;
use crate::replay::ReplayGuard;
use crate::signature_batch::SignatureBatcher;
use crate::venue_registry::VenueRegistry;
use crate::venues::Venues;

/// The province's calendar: validity dates and ages are judged on the day in China.
const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(tz) => tz,
    None => panic!("UTC+8 is a valid offset"),
};

/// The day it is in China at `now`: what validity dates, ages and the rollout plan go by.
pub fn china_today(now: chrono::DateTime<Utc>) -> chrono::NaiveDate {
    now.with_timezone(&CHINA).date_naive()
}

/// Bounds of one verify request.
#[derive(Debug, Clone, Copy)]
pub struct VerifyLimits {
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    /// One deadline for the whole fan-out to departments.
    pub fetch_deadline: Duration,
}

/// Everything the verify path needs, shared by all requests.
#[derive(Debug)]
pub struct VerifyService {
    pub catalogue: Arc<Catalogue>,
    pub verifier: Verifier,
    pub replay: ReplayGuard,
    /// Where stage 5 sends Ed25519 signatures, to be checked in batches.
    pub signatures: SignatureBatcher,
    /// The venues file the store was seeded from (demo keys for the printed example).
    pub venues: Arc<Venues>,
    pub registry: VenueRegistry,
    pub fetcher: fetch::Fetcher,
    pub metrics: Metrics,
    pub limits: VerifyLimits,
    /// Keys subject hashes in the audit log and in logs (a deployment secret).
    pub subjects: crate::audit::SubjectHasher,
    pub audit: record::AuditRecorder,
    /// The province's rollout plan: which requirements are offered where, and their counters.
    pub rollout: Arc<crate::rollout::Rollout>,
}

impl VerifyService {
    /// Answers one verify request: a verdict, or a problem. Never fails.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let request_id = admit::request_id(&req);
        match self.run(req, &request_id, started).await {
            Ok(response) => response,
            Err(failure) => {
                // Logged once, here at the edge.
                match failure.fault() {
                    Fault::Gateway => {
                        tracing::error!(request_id, code = failure.code(), error = ?failure, "verify failed")
                    }
                    Fault::Venue | Fault::Holder => {
                        tracing::info!(request_id, code = failure.code(), "verify refused")
                    }
                }
                self.metrics.rejection(failure.code());
                failure.problem(&request_id).into_response()
            }
        }
    }

    async fn run(
        &self,
        req: Request<Incoming>,
        request_id: &str,
        started: Instant,
    ) -> Result<Response<Full<Bytes>>, Failure> {
        let (parts, body) = req.into_parts();
        let limits = &self.limits;
        let body = admit::read_body(
            &parts.headers,
            body,
            limits.max_body_bytes,
            limits.body_timeout,
        )
        .await?;
        let json = self
            .verify(&parts.headers, &body, request_id, started)
            .await?;
        Ok(respond::http(json, request_id))
    }

    /// Stages 2–12 on a request whose body has been read, returning the JSON answer: what
    /// benchmarks drive without sockets. `started` is when the request arrived; the fetch
    /// deadline counts from it.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        request_id: &str,
        started: Instant,
    ) -> Result<Bytes, Failure> {
        self.audit.admit()?;
        let venue = authenticate::venue(&self.registry, headers).await?;
        let request = admit::parse(body)?;
        let scenario = authorize::scenario(&self.catalogue, &venue, &request.scenario)?;
        let decoded = decode::code(&self.verifier, &request.code)?;
        let now = Utc::now();
        let holder = check_code::check(
            &self.verifier,
            &self.signatures,
            &self.replay,
            &decoded,
            scenario,
            now,
        )
        .await?;
        // The code is spent on this node from here on; if no answer comes of it, or its entry
        // is not committed, it is not spent after all and the venue may try it again. (After
        // `AuditUnconfirmed` the entry may still land: then the store refuses the retry.)
        let answer = self
            .decide_and_record(&venue, scenario, &holder, now, request_id, started)
            .await;
        if let Err(failure) = &answer {
            if !matches!(failure, Failure::CodeReplayed { .. }) {
                self.replay.forget(&holder.nonce, holder.expires_at);
            }
        }
        answer
    }

    /// Stages 6–12 for a code checked and spent on this node.
    async fn decide_and_record(
        &self,
        venue: &crate::venues::Venue,
        scenario: &wire::catalogue::model::Scenario,
        holder: &wire::code::HolderClaims,
        now: chrono::DateTime<Utc>,
        request_id: &str,
        started: Instant,
    ) -> Result<Bytes, Failure> {
        let limits = &self.limits;
        let plan = resolve::plan(&self.catalogue, scenario, holder)?;
        let today = now.with_timezone(&CHINA).date_naive();
        // The rollout plan: a requirement not yet offered in the holder's city (the venue's
        // when the code names none) is not asked of its department; it is `not_offered`.
        let city = self.rollout.city_of(holder.city, venue.city);
        let offered: Vec<bool> = plan
            .iter()
            .map(|p| {
                self.rollout
                    .offered(&p.certificate.code, city, &scenario.id, today)
            })
            .collect();
        let asked: std::borrow::Cow<'_, [resolve::Planned<'_>]> = if offered.iter().all(|&o| o) {
            std::borrow::Cow::Borrowed(&plan)
        } else {
            std::borrow::Cow::Owned(
                plan.iter()
                    .zip(&offered)
                    .filter(|(_, &o)| o)
                    .map(|(p, _)| *p)
                    .collect(),
            )
        };
        let deadline = started + limits.fetch_deadline;
        let subject_hash = self.subjects.hash(&holder.subject);
        let answers = if asked.is_empty() {
            Vec::new()
        } else {
            self.fetcher
                .fetch(
                    &holder.subject,
                    subject_hash,
                    holder.kind,
                    &asked,
                    scenario.allow_stale,
                    deadline,
                    request_id,
                )
                .await
        };
        // Per requirement of `plan`: its answer (none when not offered) and the decision.
        let mut fetched = answers.iter();
        let (per_requirement, decisions): (Vec<Option<&fetch::Answer>>, Vec<decide::Decision>) =
            plan.iter()
                .zip(&offered)
                .map(
                    |(p, &is_offered)| match is_offered.then(|| fetched.next()).flatten() {
                        Some(a) => (Some(a), decide::requirement(p.requirement, a, today)),
                        None => (None, decide::Decision::NOT_OFFERED),
                    },
                )
                .unzip();
        for (p, d) in plan.iter().zip(&decisions) {
            self.rollout.count(&p.certificate.code, city, d.verdict);
        }
        let records = || {
            answers.iter().filter_map(|a| match a {
                fetch::Answer::Record { record, .. } => Some(record.as_ref()),
                fetch::Answer::Unavailable(_) => None,
            })
        };
        let requirements = plan
            .iter()
            .zip(&per_requirement)
            .zip(&decisions)
            .map(|((p, answer), decision)| {
                let (record, stale) = match answer {
                    Some(fetch::Answer::Record { record, stale }) => {
                        (Some(record.as_ref()), *stale)
                    }
                    Some(fetch::Answer::Unavailable(_)) | None => (None, false),
                };
                RequirementResult {
                    certificate: p.certificate.code.clone(),
                    verdict: decision.verdict,
                    reason: decision.reason,
                    disclosed: disclose::fields(
                        p.requirement,
                        p.certificate,
                        record,
                        decision.verdict,
                    ),
                    stale,
                }
            })
            .collect();
        let response = VerifyResponse {
            verification_id: respond::verification_id(now),
            scenario: scenario.id.clone(),
            verdict: decide::overall(&decisions),
            holder: disclose::holder(holder.kind, records()),
            requirements,
            decided_at: now,
            audit_seq: None,
        };
        let elapsed = started.elapsed();
        let position = self
            .audit
            .append(
                record::audit_record(
                    &self.audit.node,
                    &response,
                    &venue.id,
                    subject_hash,
                    elapsed,
                ),
                crate::replay::spend_of(&holder.nonce, holder.expires_at),
            )
            .await?;
        record::verification(
            &self.metrics,
            &response,
            &venue.id,
            &subject_hash,
            request_id,
            elapsed,
        );
        Ok(respond::json(&VerifyResponse {
            audit_seq: position.map(|p| p.seq),
            ..response
        }))
    }
}
