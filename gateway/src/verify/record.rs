//! Stage 12, record: metrics by scenario, requirement and verdict, and one structured log line
//! per verification — with the subject only as a keyed hash, never a name or an ID number.
//! (The durable, hash-chained audit trail joins here with the store.)

use std::time::Duration;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use wire::api::VerifyResponse;

use crate::metrics::Metrics;

/// Hashes subject handles for logs with a key of this process, so log lines of one holder can
/// be correlated within a run but not reversed or joined with other systems.
#[derive(Clone)]
pub struct SubjectTagger {
    key: [u8; 32],
}

impl std::fmt::Debug for SubjectTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectTagger(..)")
    }
}

impl Default for SubjectTagger {
    fn default() -> SubjectTagger {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        SubjectTagger { key }
    }
}

impl SubjectTagger {
    pub fn tag(&self, subject: &str) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("any key length");
        mac.update(subject.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

pub fn verification(
    metrics: &Metrics,
    response: &VerifyResponse,
    venue: &str,
    subject_tag: &str,
    request_id: &str,
    elapsed: Duration,
) {
    metrics.verification(&response.scenario, response.verdict.as_str(), elapsed);
    for r in &response.requirements {
        metrics.requirement(&r.certificate, r.verdict.as_str());
    }
    tracing::info!(
        request_id,
        verification_id = %response.verification_id,
        venue,
        scenario = %response.scenario,
        verdict = response.verdict.as_str(),
        subject = subject_tag,
        latency_us = elapsed.as_micros() as u64,
        "verified"
    );
}
