//! What a verification leaves in the audit trail: the facts the gateway records, the store
//! keeps, and `gateway audit verify` and the console read back. How entries are chained and
//! signed is the gateway's (`gateway::audit`); the store keeps them.

use chrono::{DateTime, Utc};

/// The verdict an entry is committed with when its code had been spent already and the venue
/// was refused (409 `code.replayed`).
pub const REPLAYED: &str = "replayed";
/// The same, for a gateway that answered before the commit (`audit.wait_for_commit = false`):
/// the venue was told the verdict, and the replay was found afterwards.
pub const REPLAYED_AFTER_ANSWER: &str = "replayed_after_answer";

/// One verification, as the audit log keeps it (before it has a place in the chain). The
/// holder appears only as a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it was decided (whole microseconds once chained).
    pub at: DateTime<Utc>,
    /// The gateway node that answered.
    pub node: String,
    /// Venue id.
    pub venue: String,
    /// Scenario id.
    pub scenario: String,
    /// Certificate types consulted.
    pub certificates: Vec<String>,
    /// The overall verdict.
    pub verdict: String,
    /// (certificate, verdict) per requirement of the scenario, in order.
    pub requirement_verdicts: Vec<(String, String)>,
    pub latency_us: i64,
    /// Keyed hash of the holder.
    pub subject_hash: [u8; 32],
    pub verification_id: String,
}

impl AuditRecord {
    /// Turns the record of a verification into that of its refusal because its code had been
    /// spent already (found at the commit). `answer_waited`: the venue was answered after the
    /// commit, so it is refused (409) and told nothing of the requirements; otherwise it was
    /// told the verdict before the replay was found, and the record keeps what it was told.
    pub fn refuse_as_replayed(&mut self, answer_waited: bool) {
        if answer_waited {
            self.verdict = REPLAYED.to_owned();
            self.requirement_verdicts.clear();
        } else {
            self.verdict = REPLAYED_AFTER_ANSWER.to_owned();
        }
    }
}
