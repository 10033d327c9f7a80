//! Stage 11, record: the verification's hash-chained audit entry (the answer waits for its
//! commit unless configured otherwise: what a venue was told is never lost), metrics by
//! scenario, requirement and verdict, and a structured log line at `debug` — with the subject
//! only as a keyed hash, never a name or an ID number. Refusals are logged at `info` by
//! `verify.rs`.
//!
//! Why `debug`: formatting and writing one line per verification cost ~3 µs of server CPU per
//! verify (`loadtest compare --warm --pin --profile hmac`, `--gateway-log info` vs `warn`),
//! more than everything else on the cache-hit path but the signature; the metrics and the
//! audit trail carry the same facts.

use std::time::Duration;

use wire::api::VerifyResponse;

use store::Spend;

use crate::audit::{AuditError, AuditPosition, AuditRecord, AuditWriter};
use crate::error::Failure;
use crate::metrics::Metrics;

/// Where verifications are recorded: the node's audit writer, and whether the answer waits
/// for its entry's commit.
#[derive(Debug, Clone)]
pub struct AuditRecorder {
    pub writer: AuditWriter,
    pub node: String,
    /// `false` only when measuring what the trail costs (`audit.enabled`, loopback only):
    /// nothing is recorded.
    pub enabled: bool,
    pub wait_for_commit: bool,
    /// How long an answer waits for its entry's commit (then 503: the store down or slow).
    pub commit_timeout: Duration,
}

impl AuditRecorder {
    /// Appends the verification's entry, spending its code in the same commit; waits for the
    /// commit (at most `commit_timeout`) when configured to. A code spent already — on another
    /// node, or before a restart — is refused here with where and when it was first used.
    pub async fn append(
        &self,
        record: AuditRecord,
        spend: Spend,
    ) -> Result<Option<AuditPosition>, Failure> {
        if !self.enabled {
            return Ok(None);
        }
        if self.wait_for_commit {
            let receipt = self
                .writer
                .try_enqueue(record, Some(spend))
                .map_err(refused)?;
            receipt
                .committed_within(self.commit_timeout)
                .await
                .map(Some)
                .map_err(refused)
        } else {
            self.writer
                .append_nowait(record, Some(spend))
                .map(|()| None)
                .map_err(refused)
        }
    }

    /// Spends a code outside a verification (the holder's own routes), committed before it
    /// returns.
    pub async fn spend(&self, store: &store::Store, spend: Spend) -> Result<(), Failure> {
        if !self.enabled {
            return Ok(());
        }
        match store.spend_code(&spend, &self.node, store::now()).await? {
            None => Ok(()),
            Some(by) => Err(Failure::CodeReplayed {
                node: by.node,
                at: by.at,
            }),
        }
    }
}

/// The answer for an entry the writer did not commit as asked.
fn refused(e: AuditError) -> Failure {
    let secs = |s: u64| u32::try_from(s).unwrap_or(u32::MAX);
    match e {
        AuditError::Backlogged { retry_after_secs } => Failure::AuditBacklogged {
            retry_after_secs: secs(retry_after_secs),
        },
        AuditError::TimedOut { retry_after_secs } => Failure::AuditTimedOut {
            retry_after_secs: secs(retry_after_secs),
        },
        AuditError::Unconfirmed => Failure::AuditUnconfirmed,
        AuditError::Replayed { by, .. } => Failure::CodeReplayed {
            node: by.node,
            at: by.at,
        },
        AuditError::Closed => Failure::ShuttingDown,
        other @ (AuditError::Rejected(_) | AuditError::Checkpoint(_)) => {
            Failure::Internal(format!("audit: {other}"))
        }
    }
}

/// The audit entry of a verification; `presented_by` the delegation a presenter showed the
/// code under.
pub fn audit_record(
    node: &str,
    response: &VerifyResponse,
    venue: &str,
    subject_hash: [u8; 32],
    elapsed: Duration,
    presented_by: Option<String>,
) -> AuditRecord {
    AuditRecord {
        at: store::micros(response.decided_at),
        node: node.to_string(),
        venue: venue.to_string(),
        scenario: response.scenario.clone(),
        certificates: response
            .requirements
            .iter()
            .map(|r| r.certificate.clone())
            .collect(),
        verdict: response.verdict.as_str().to_string(),
        requirement_verdicts: response
            .requirements
            .iter()
            .map(|r| (r.certificate.clone(), r.verdict.as_str().to_string()))
            .collect(),
        latency_us: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
        subject_hash,
        verification_id: response.verification_id.clone(),
        means: response.means,
        presented_by,
    }
}

pub fn verification(
    metrics: &Metrics,
    response: &VerifyResponse,
    venue: &str,
    subject_hash: &[u8; 32],
    request_id: &str,
    elapsed: Duration,
) {
    metrics.verification(&response.scenario, response.verdict.as_str(), elapsed);
    if !response.means.is_phone() || response.presented_by.is_some() {
        let presenter = response
            .presented_by
            .as_ref()
            .map_or("holder", |p| p.relation.as_str());
        metrics.presentation(response.means.as_str(), presenter);
    }
    for r in &response.requirements {
        metrics.requirement(&r.certificate, r.verdict.as_str());
    }
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            request_id,
            verification_id = %response.verification_id,
            venue,
            scenario = %response.scenario,
            verdict = response.verdict.as_str(),
            subject = %hex::encode(&subject_hash[..8]),
            latency_us = elapsed.as_micros() as u64,
            "verified"
        );
    }
}
