//! An audit entry as the store keeps it: a verification's record with its place in the hash
//! chain, the log's columns, and the row decoder every query of the log shares.

use wire::audit::{AuditRecord, Means};

use crate::backend::Columns;
use crate::error::StoreError;

/// One verification with its place in the hash chain. The record's fields read through the
/// entry (`entry.venue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The chain the entry belongs to: the name of the node that wrote it (`""` for the one
    /// chain every node shared before chains were per node).
    pub chain: String,
    /// Position in the chain, from 1; each append continues the chain's stored head by exactly
    /// one.
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

pub(crate) const ENTRY_COLUMNS: &str =
    "chain, seq, at, node, venue, scenario, certificates, verdict, \
                             requirement_verdicts, latency_us, subject_hash, verification_id, \
                             prev_hash, hash, means, presented_by";

/// The `means` column: NULL for a phone code (nearly every entry), else the means' name.
pub(crate) fn means_column(means: Means) -> Option<&'static str> {
    (means != Means::Phone).then(|| means.as_str())
}

/// A chain's head: its newest entry's position and hash. `$1` the chain.
pub(crate) const HEAD: &str =
    "SELECT seq, hash FROM audit_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1";

/// The chains of the log, each once, read off the log's key (a skip over the key, not a scan of
/// every entry), so that a chain is listed for as long as any of its entries is stored.
pub(crate) const CHAINS: &str = "WITH RECURSIVE chains(chain) AS ( \
         SELECT min(chain) FROM audit_entries \
         UNION ALL \
         SELECT (SELECT min(chain) FROM audit_entries WHERE chain > chains.chain) FROM chains \
         WHERE chains.chain IS NOT NULL) \
     SELECT chain FROM chains WHERE chain IS NOT NULL";

pub(crate) fn entry_from(row: &impl Columns) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        chain: row.text("chain")?,
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
            means: match row.opt_text("means")? {
                None => Means::Phone,
                Some(text) => Means::parse(&text).ok_or_else(|| {
                    StoreError::Corrupt(format!("an audit entry presented by `{text}`"))
                })?,
            },
            presented_by: row.opt_text("presented_by")?,
        },
        prev_hash: row.hash("prev_hash")?,
        hash: row.hash("hash")?,
    })
}
