//! An audit entry as the store keeps it: a verification's record with its place in the hash
//! chain, the log's columns, and the row decoder every query of the log shares.

use wire::audit::AuditRecord;

use crate::backend::Columns;
use crate::error::StoreError;

/// One verification with its place in the hash chain. The record's fields read through the
/// entry (`entry.venue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain; each append continues the stored head by exactly one.
    pub seq: i64,
    /// What was verified; `at` must be whole microseconds ([`crate::micros`]).
    pub record: AuditRecord,
    /// `hash` of the entry before (for the first entry, whatever the chain's genesis says).
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl std::ops::Deref for AuditEntry {
    type Target = AuditRecord;

    fn deref(&self) -> &AuditRecord {
        &self.record
    }
}

impl std::ops::DerefMut for AuditEntry {
    fn deref_mut(&mut self) -> &mut AuditRecord {
        &mut self.record
    }
}

pub(crate) const ENTRY_COLUMNS: &str = "seq, at, node, venue, scenario, certificates, verdict, \
                             requirement_verdicts, latency_us, subject_hash, verification_id, \
                             prev_hash, hash";

/// The chain's head: the newest entry's position and hash.
pub(crate) const HEAD: &str = "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1";

pub(crate) fn entry_from(row: &impl Columns) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: row.int("seq")?,
        record: AuditRecord {
            at: row.time("at")?,
            node: row.text("node")?,
            venue: row.text("venue")?,
            scenario: row.text("scenario")?,
            certificates: row.json("certificates")?,
            verdict: row.text("verdict")?,
            requirement_verdicts: row.json("requirement_verdicts")?,
            latency_us: row.int("latency_us")?,
            subject_hash: row.hash("subject_hash")?,
            verification_id: row.text("verification_id")?,
        },
        prev_hash: row.hash("prev_hash")?,
        hash: row.hash("hash")?,
    })
}
