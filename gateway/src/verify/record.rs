//! Stage 12, record: metrics by scenario, requirement and verdict, and a structured log line
//! per verification at `debug` — with the subject only as a keyed hash, never a name or an ID
//! number. Refusals are logged at `info` by `verify.rs`. (The durable, hash-chained audit trail
//! joins here with the store.)
//!
//! Why `debug`: formatting and writing one line per verification cost ~3 µs of server CPU per
//! verify (`loadtest compare --warm --pin --profile hmac`, `--gateway-log info` vs `warn`),
//! more than everything else on the cache-hit path but the signature; the metrics and the
//! audit trail carry the same facts.

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
    tagger: &SubjectTagger,
    response: &VerifyResponse,
    venue: &str,
    subject: &str,
    request_id: &str,
    elapsed: Duration,
) {
    metrics.verification(&response.scenario, response.verdict.as_str(), elapsed);
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
            subject = tagger.tag(subject),
            latency_us = elapsed.as_micros() as u64,
            "verified"
        );
    }
}
