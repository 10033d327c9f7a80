//! `POST /v1/verify`: the hot path. [`VerifyService::verify`] runs the stages in this order,
//! one module each, so a request that fails several checks gets the first one's answer:
//!
//! 1. [`admit`] — beyond the adaptive limit of verifications in flight ([`admission`]), refused
//!    at once (503); the body read under a size limit and a deadline; new verifications shed
//!    (503) while the audit backlog is full; the JSON parsed strictly once the venue is known
//! 2. [`authenticate`] — venue key → venue, and its rate quota
//! 3. [`authorize`] — the venue may use the scenario
//! 4. [`decode`] — prefix → base45 → [zlib] → COSE → claims
//! 5. [`check_code`] — key, signature/MAC (Ed25519 in batches: [`signature_batch`]), time
//!    window, holder kind, consent, replay on this node
//! 6. [`resolve`] — scenario → certificate types → department backends
//! 7. [`rollout`] — requirements the rollout plan does not yet offer where the holder is are
//!    not asked
//! 8. [`fetch`] — cache, or one batched query per backend, coalesced, under one deadline; each
//!    record's department seal checked before it is cached ([`check_seal`])
//! 9. [`decide`] — predicates → verdict per requirement and overall
//! 10. [`disclose`] — only the scenario's fields, masked
//! 11. [`record`] — the hash-chained audit entry, committed with the code's nonce as spent
//!     (the answer waits for the commit, which refuses a code spent on another node or before
//!     a restart), metrics, the log line
//! 12. [`respond`] — the JSON answer, with the entry's place in the audit chain
//!
//! [`VerifyService::handle`] reads the body (stage 1) and turns a failure into its problem
//! answer; [`VerifyService::verify`] runs the rest on a body already read — what benchmarks
//! drive without sockets.

pub mod admission;
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
pub mod rollout;
pub mod signature_batch;
pub mod verified_codes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use wire::api::VerifyResponse;
use wire::calendar::china_today;
use wire::catalogue::model::Scenario;
use wire::catalogue::Catalogue;
use wire::code::{HolderClaims, Verifier};

use crate::admin::rollout::Rollout;
use crate::audit::SubjectHasher;
use crate::cluster::replay::ReplayGuard;
use crate::cluster::revocations::Revocations;
use crate::error::{Failure, Fault};
use crate::http::client_certificate::ClientCertificate;
use crate::http::server::Peer;
use crate::metrics::Metrics;
use crate::venues::registry::VenueRegistry;
use crate::venues::{Venue, Venues};
use admission::{Admission, UpstreamWait};
use signature_batch::SignatureBatcher;
use verified_codes::VerifiedCodes;

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
    /// Delegations revoked and printed codes reported lost, refused on every node.
    pub revocations: Revocations,
    /// Where stage 5 sends Ed25519 signatures, to be checked in batches.
    pub signatures: SignatureBatcher,
    /// Codes whose signature verified, until they expire (a code shown again costs a look-up).
    pub verified_codes: VerifiedCodes,
    /// `codes.clock_skew_secs`.
    pub clock_skew: Duration,
    /// The venues file the store was seeded from (demo keys for the printed example).
    pub venues: Arc<Venues>,
    pub registry: VenueRegistry,
    pub fetcher: fetch::Fetcher,
    pub metrics: Metrics,
    pub limits: VerifyLimits,
    /// The adaptive limit on verifications in flight: the excess is shed at once.
    pub admission: Admission,
    /// Keys subject hashes in the audit log and in logs (a deployment secret).
    pub subjects: SubjectHasher,
    pub audit: record::AuditRecorder,
    /// The province's rollout plan: which requirements are offered where, and their counters.
    pub rollout: Arc<Rollout>,
    /// The plan's targets measured from traffic: each requirement's outcome, per department.
    pub kpis: crate::kpis::KpiRecorder,
}

/// One verification on its way through the stages: what the stages before have established.
#[derive(Debug)]
struct Verification<'r> {
    request_id: &'r str,
    /// When the request arrived: the fetch deadline counts from it.
    started: Instant,
    venue: Arc<Venue>,
    scenario: &'r Scenario,
    /// The code's claims, checked and spent on this node.
    holder: HolderClaims,
    /// What the code's use spent (its nonce; a printed code's use here today).
    spent: check_code::Use,
    /// When the code was checked: the verification's time.
    now: DateTime<Utc>,
    /// Where the fan-out's wait is added (the admission limit does not count it).
    upstream: &'r UpstreamWait,
}

impl VerifyService {
    /// What stage 5 checks a code's authenticity with.
    pub fn code_checks(&self) -> check_code::CodeChecks<'_> {
        check_code::CodeChecks {
            verifier: &self.verifier,
            signatures: &self.signatures,
            verified: &self.verified_codes,
            metrics: &self.metrics,
            skew: self.clock_skew,
        }
    }

    /// Answers one verify request from `peer`: a verdict, or a problem. Never fails.
    pub async fn handle(&self, req: Request<Incoming>, peer: &Peer) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let request_id = crate::http::request::request_id(&req);
        let Some(admitted) = self.admission.try_admit() else {
            // Counted, not logged: under overload a line per refusal would add to the load.
            self.metrics.rejection(Failure::Overloaded.code());
            return Failure::Overloaded.problem(&request_id).into_response();
        };
        let (parts, body) = req.into_parts();
        let answer = match admit::body(&parts.headers, body, &self.limits).await {
            Ok(body) => {
                let certificate = peer.certificate.as_deref();
                // Timed from here: how fast the venue sent its body is not the gateway's load.
                let working = Instant::now();
                let upstream = UpstreamWait::default();
                let answer = self
                    .verify(
                        &parts.headers,
                        certificate,
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
        match answer {
            Ok(json) => respond::http(json, &request_id),
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

    /// The stages on a request whose body has been read — the rest of stage 1, then 2 to 12 —
    /// returning the JSON answer: what benchmarks drive without sockets. `certificate` is the
    /// connection's verified client certificate, if any; `started` is when the request
    /// arrived (the fetch deadline counts from it); the time waited for departments is added to
    /// `upstream`.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        certificate: Option<&ClientCertificate>,
        body: &[u8],
        request_id: &str,
        started: Instant,
        upstream: &UpstreamWait,
    ) -> Result<Bytes, Failure> {
        admit::not_backlogged(&self.audit.writer)?;
        let venue = authenticate::venue(&self.registry, headers, certificate).await?;
        let request = admit::parse(body)?;
        let scenario = authorize::scenario(&self.catalogue, &venue, &request.scenario)?;
        let decoded = decode::code(&self.verifier, &request.code)?;
        let now = Utc::now();
        let code = check_code::Presented {
            text: &request.code,
            decoded: &decoded,
        };
        let showing = check_code::Showing {
            scenario,
            venue: &venue.id,
            revocations: &self.revocations,
        };
        let checked =
            check_code::check(self.code_checks(), &self.replay, code, showing, now).await?;
        let verification = Verification {
            request_id,
            started,
            venue,
            scenario,
            holder: checked.claims,
            spent: checked.spent,
            now,
            upstream,
        };
        // The code is spent on this node from here on; if no answer comes of it, or its entry
        // is not committed, it is not spent after all and the venue may try it again. (After
        // `AuditUnconfirmed` the entry may still land: then the store refuses the retry.)
        let answer = self.answer(&verification).await;
        if let Err(failure) = &answer {
            if !matches!(failure, Failure::CodeReplayed { .. }) {
                let spent = &verification.spent;
                self.replay.forget(&spent.nonce, spent.until);
            }
        }
        answer
    }

    /// Stages 6–12 for a code checked and spent on this node.
    async fn answer(&self, v: &Verification<'_>) -> Result<Bytes, Failure> {
        let (holder, scenario) = (&v.holder, v.scenario);
        let today = china_today(v.now);
        let plan = resolve::plan(&self.catalogue, scenario, holder)?;
        let city = self.rollout.city_of(holder.city, v.venue.city);
        let offer = rollout::offer(&self.rollout, &plan, city, &scenario.id, today);
        let asked = offer.asked();
        let subject_hash = self.subjects.hash(&holder.subject);
        let fetched = if asked.is_empty() {
            Vec::new()
        } else {
            let ask = fetch::Ask {
                subject: &holder.subject,
                subject_hash,
                kind: holder.kind,
                allow_stale: scenario.allow_stale,
                deadline: v.started + self.limits.fetch_deadline,
                request_id: v.request_id,
            };
            let asking = Instant::now();
            let fetched = self.fetcher.fetch(&ask, &asked).await;
            v.upstream.add(asking.elapsed());
            fetched
        };
        let answers = offer.answers(&fetched);
        let decisions = decide::requirements(&plan, &answers, today);
        offer.count(&self.rollout, &decisions);
        self.kpis.verify(today, city, &plan, &answers);
        let response = VerifyResponse {
            verification_id: respond::verification_id(v.now),
            scenario: scenario.id.clone(),
            verdict: decide::overall(&decisions),
            holder: disclose::holder(holder.kind, &plan, &answers, &decisions),
            requirements: disclose::requirements(&plan, &answers, &decisions),
            decided_at: v.now,
            presented_by: holder.presenter.as_ref().map(disclose::presented_by),
            means: holder.medium.into(),
            audit_seq: None,
            audit_chain: None,
        };
        let elapsed = v.started.elapsed();
        let position = self
            .audit
            .append(
                record::audit_record(
                    &self.audit.node,
                    &response,
                    &v.venue.id,
                    subject_hash,
                    elapsed,
                    holder.presenter.as_ref().map(|p| p.delegation.clone()),
                ),
                v.spent.spend(),
            )
            .await?;
        record::verification(
            &self.metrics,
            &response,
            &v.venue.id,
            &subject_hash,
            v.request_id,
            elapsed,
        );
        Ok(respond::json(&VerifyResponse {
            audit_seq: position.map(|p| p.seq),
            audit_chain: position.map(|_| self.audit.node.clone()),
            ..response
        }))
    }
}
