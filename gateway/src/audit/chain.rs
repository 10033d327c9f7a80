//! The hash chain of the audit log, as pure functions: how a verification's [`AuditRecord`]
//! becomes a chained [`AuditEntry`], and how a stored chain and its checkpoints are re-walked.
//!
//! # Encoding (version 1)
//!
//! ```text
//! hash    = H( "mianzheng-audit/1" || prev_hash (32 bytes) || body )
//! body    = i64(seq) || i64(at, microseconds since the Unix epoch)
//!           || str(node) || str(venue) || str(scenario)
//!           || u32(number of certificates) || str(certificate)...
//!           || str(verdict)
//!           || u32(number of requirement verdicts) || (str(certificate) || str(verdict))...
//!           || i64(latency_us) || subject_hash (32 bytes) || str(verification_id)
//!           [ || str(means) || str(presented_by or "") ]
//! i64, u32 = big-endian two's complement / unsigned
//! str(s)  = u32(length of s in bytes) || s as UTF-8
//! ```
//!
//! The bracketed tail is there only when the holder presented something other than a phone code
//! of their own (a printed code, the ID card in a reader, or a code shown by an agent or a family
//! member): an entry without it hashes as it did before the tail existed, so chains written then
//! still verify, and one with it cannot be read as one without (every field before it carries its
//! length).
//!
//! H is the chain's hash ([`ChainHash`]): SHA-256 by default, or SM3; one chain, one hash.
//!
//! Every field has a fixed place and every variable-length field its length first, so two
//! different entries never encode alike. Each node writes a chain of its own, named after the
//! node (the entry's `chain`, which the store keys with `seq`; `node` in the hash names it): its
//! first entry has seq 1 and `prev_hash` 32 zero bytes ([`GENESIS`]). A change of encoding gets
//! a new domain string.
//!
//! # What a walk detects
//!
//! [`ChainWalker`] takes one chain's entries in seq order, one at a time (so `gateway audit
//! verify` pages through any length of log in bounded memory), and stops at the first break: a
//! seq that skips (a row deleted) or repeats, a `prev_hash` that is not the hash before (a row
//! inserted or replaced), a stored hash that is not the recomputed one (a row edited), a
//! checkpoint of the chain that is not signed by a trusted node key, does not match the chain
//! at its seq, or lies past the end of the chain (rows deleted at the tail), or a head of the
//! chain that another chain's checkpoint witnessed and the chain no longer has.

use std::fmt;

use store::{AuditEntry, ChainHead, Checkpoint};
use wire::audit::Means;
pub use wire::audit::{AuditRecord, REPLAYED, REPLAYED_AFTER_ANSWER};
use wire::keys::TrustList;

use super::checkpoint::{verify_checkpoint, CheckpointError};
use super::hash::{ChainHash, ChainHasher};

/// The domain string hashed before every entry.
pub const DOMAIN: &[u8] = b"mianzheng-audit/1";

/// `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// The entry `record` becomes at `seq` of chain `chain`, after the entry whose hash is
/// `prev_hash`.
pub fn chain(
    record: &AuditRecord,
    chain: &str,
    seq: i64,
    prev_hash: [u8; 32],
    hash: ChainHash,
) -> AuditEntry {
    let mut entry = AuditEntry {
        chain: chain.to_owned(),
        seq,
        record: AuditRecord {
            at: store::micros(record.at),
            ..record.clone()
        },
        prev_hash,
        hash: [0; 32],
    };
    entry.hash = entry_hash(&entry, hash);
    entry
}

/// Chains `records` one after another onto the entry (`seq`, `hash`) of chain `name` — (0,
/// [`GENESIS`]) for an empty chain.
pub fn chain_all<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    name: &str,
    after: (i64, [u8; 32]),
    hash: ChainHash,
) -> Vec<AuditEntry> {
    let (mut seq, mut prev) = after;
    records
        .into_iter()
        .map(|record| {
            seq += 1;
            let entry = chain(record, name, seq, prev, hash);
            prev = entry.hash;
            entry
        })
        .collect()
}

/// The hash an entry must carry, with the chain's `hash`: over its `prev_hash` and every other
/// field but `hash`.
pub fn entry_hash(entry: &AuditEntry, hash: ChainHash) -> [u8; 32] {
    let mut h = hash.hasher();
    h.update(DOMAIN);
    h.update(entry.prev_hash);
    h.update(entry.seq.to_be_bytes());
    h.update(entry.at.timestamp_micros().to_be_bytes());
    put_str(&mut h, &entry.node);
    put_str(&mut h, &entry.venue);
    put_str(&mut h, &entry.scenario);
    put_len(&mut h, entry.certificates.len());
    for certificate in &entry.certificates {
        put_str(&mut h, certificate);
    }
    put_str(&mut h, &entry.verdict);
    put_len(&mut h, entry.requirement_verdicts.len());
    for (certificate, verdict) in &entry.requirement_verdicts {
        put_str(&mut h, certificate);
        put_str(&mut h, verdict);
    }
    h.update(entry.latency_us.to_be_bytes());
    h.update(entry.subject_hash);
    put_str(&mut h, &entry.verification_id);
    if entry.means != Means::Phone || entry.presented_by.is_some() {
        put_str(&mut h, entry.means.as_str());
        put_str(&mut h, entry.presented_by.as_deref().unwrap_or(""));
    }
    h.finalize()
}

/// Lengths are u32: a field of 4 GiB is not an audit field; saturating keeps the function total.
fn put_len(h: &mut ChainHasher, len: usize) {
    h.update(u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_str(h: &mut ChainHasher, s: &str) {
    put_len(h, s.len());
    h.update(s.as_bytes());
}

/// How a chain is named in messages: its node, or the shared chain of before.
pub fn chain_label(chain: &str) -> String {
    if chain.is_empty() {
        "the shared chain (written before chains were per node)".to_owned()
    } else {
        format!("chain `{chain}`")
    }
}

/// A chain that re-walked cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Which chain.
    pub chain: String,
    /// Entries whose seq, link and hash were checked.
    pub entries: u64,
    /// Checkpoints of this chain whose signature and head were checked.
    pub checkpoints: u64,
    /// Heads of this chain witnessed by other chains' checkpoints, checked.
    pub witnessed: u64,
    /// The last entry's (seq, hash); `None` for an empty chain.
    pub head: Option<(i64, [u8; 32])>,
    /// The chain's hash.
    pub hash: ChainHash,
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = chain_label(&self.chain);
        match self.head {
            Some((seq, hash)) => write!(
                f,
                "{label} intact: {} entries checked (seq 1..={seq}, {} head {}), {} \
                 checkpoints verified, {} heads witnessed by other chains matched",
                self.entries,
                self.hash,
                hex::encode(hash),
                self.checkpoints,
                self.witnessed
            ),
            None => write!(
                f,
                "{label} empty: 0 entries, {} checkpoints verified",
                self.checkpoints
            ),
        }
    }
}

/// The first place where a chain is not what was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "audit {} broken at seq {seq}: {problem} ({entries} entries checked before it)",
    chain_label(chain)
)]
pub struct ChainBreak {
    /// Which chain.
    pub chain: String,
    /// Where: the entry missing, edited or mislinked, or the seq a bad checkpoint names.
    pub seq: i64,
    /// Boxed: a `Result` carrying it stays small on the good path.
    pub problem: Box<Problem>,
    /// Entries that checked out before the break.
    pub entries: u64,
}

/// What was wrong at a [`ChainBreak`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The next stored entry has a later seq: this one (and any up to `found`) was deleted.
    #[error("entry missing (the next stored entry is seq {found}): a row was deleted")]
    Missing { found: i64 },
    /// The next stored entry has an earlier seq than expected.
    #[error("entry out of order (found seq {found}): a row was inserted or renumbered")]
    OutOfOrder { found: i64 },
    /// `prev_hash` is not the hash of the entry before.
    #[error("`prev_hash` is not the hash of the entry before: a row was inserted or replaced")]
    Unlinked,
    /// The stored hash is not the hash of the stored fields.
    #[error(
        "stored hash {stored} does not match the entry's fields (hash {computed}): the row was \
         edited"
    )]
    Edited { stored: String, computed: String },
    /// A checkpoint's signature does not check out.
    #[error("checkpoint by node `{node}` (key `{kid}`): {reason}")]
    CheckpointSignature {
        node: String,
        kid: String,
        reason: String,
    },
    /// A checkpoint's head hash or count differs from the chain at its seq.
    #[error(
        "checkpoint by node `{node}` (key `{kid}`) says head {signed_head} after {signed_count} \
         entries, the chain has head {chain_head} after {chain_count}"
    )]
    CheckpointMismatch {
        node: String,
        kid: String,
        signed_head: String,
        signed_count: i64,
        chain_head: String,
        chain_count: i64,
    },
    /// A checkpoint names a seq the chain does not reach.
    #[error(
        "checkpoint by node `{node}` (key `{kid}`) names seq {seq} but the chain ends at seq \
         {chain_end}: rows were deleted at the end"
    )]
    CheckpointPastEnd {
        node: String,
        kid: String,
        seq: i64,
        chain_end: i64,
    },
    /// Another chain's checkpoint witnessed another hash at this seq.
    #[error(
        "a checkpoint of {} by node `{node}` (key `{kid}`) witnessed head {witnessed} here, the \
         chain has {chain_head}: the chain was rewritten after it",
        chain_label(by_chain)
    )]
    WitnessMismatch {
        by_chain: String,
        node: String,
        kid: String,
        witnessed: String,
        chain_head: String,
    },
    /// Another chain's checkpoint witnessed a seq this chain does not reach.
    #[error(
        "a checkpoint of {} by node `{node}` (key `{kid}`) witnessed this chain at seq {seq} but \
         it ends at seq {chain_end}: rows were deleted at the end",
        chain_label(by_chain)
    )]
    WitnessPastEnd {
        by_chain: String,
        node: String,
        kid: String,
        seq: i64,
        chain_end: i64,
    },
}

/// A head of one chain named in another chain's checkpoint, with who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub head: ChainHead,
    /// The chain of the checkpoint that names it.
    pub by_chain: String,
    pub node: String,
    pub kid: String,
}

impl Witness {
    /// The heads `checkpoint` witnessed.
    pub fn all_of(checkpoint: &Checkpoint) -> impl Iterator<Item = Witness> + '_ {
        checkpoint.witnessed.iter().map(|head| Witness {
            head: head.clone(),
            by_chain: checkpoint.chain.clone(),
            node: checkpoint.node.clone(),
            kid: checkpoint.kid.clone(),
        })
    }
}

/// Re-walks a chain entry by entry (see the module doc). Feed it with [`ChainWalker::push`] in
/// seq order, then call [`ChainWalker::finish`]; it keeps only the checkpoints, the witnessed
/// heads and the tip.
#[derive(Debug)]
pub struct ChainWalker<'t> {
    chain: String,
    trust: &'t TrustList,
    hash: ChainHash,
    /// Sorted by seq; `next_checkpoint` indexes the first not yet checked.
    checkpoints: Vec<Checkpoint>,
    next_checkpoint: usize,
    /// Sorted by seq; `next_witness` indexes the first not yet checked.
    witnesses: Vec<Witness>,
    next_witness: usize,
    /// The last good entry's seq and hash; (0, GENESIS) before the first.
    tip: (i64, [u8; 32]),
    entries: u64,
}

impl<'t> ChainWalker<'t> {
    /// A walk of chain `chain`, hashed with `hash`, that will check its `checkpoints` (in any
    /// order) against keys in `trust`, and the heads of it that other chains' checkpoints
    /// witnessed, `witnesses` (whose signatures the walks of those chains check).
    pub fn new(
        chain: &str,
        mut checkpoints: Vec<Checkpoint>,
        mut witnesses: Vec<Witness>,
        trust: &'t TrustList,
        hash: ChainHash,
    ) -> ChainWalker<'t> {
        checkpoints.sort_by_key(|c| c.seq);
        witnesses.sort_by_key(|w| w.head.seq);
        ChainWalker {
            chain: chain.to_owned(),
            trust,
            hash,
            checkpoints,
            next_checkpoint: 0,
            witnesses,
            next_witness: 0,
            tip: (0, GENESIS),
            entries: 0,
        }
    }

    fn broken(&self, seq: i64, problem: Problem) -> ChainBreak {
        ChainBreak {
            chain: self.chain.clone(),
            seq,
            problem: Box::new(problem),
            entries: self.entries,
        }
    }

    /// Checks the next entry (and the checkpoints at its seq).
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        // Checkpoints of the empty chain (seq 0), if any, before the first entry.
        self.settle_checkpoints()?;
        let (tip_seq, tip_hash) = self.tip;
        let expected = tip_seq + 1;
        if entry.seq > expected {
            return Err(self.broken(expected, Problem::Missing { found: entry.seq }));
        }
        if entry.seq < expected {
            return Err(self.broken(expected, Problem::OutOfOrder { found: entry.seq }));
        }
        if entry.prev_hash != tip_hash {
            return Err(self.broken(entry.seq, Problem::Unlinked));
        }
        let computed = entry_hash(entry, self.hash);
        if computed != entry.hash {
            return Err(self.broken(
                entry.seq,
                Problem::Edited {
                    stored: hex::encode(entry.hash),
                    computed: hex::encode(computed),
                },
            ));
        }
        self.tip = (entry.seq, entry.hash);
        self.entries += 1;
        self.settle_checkpoints()
    }

    /// Checks every checkpoint at or before the tip.
    fn settle_checkpoints(&mut self) -> Result<(), ChainBreak> {
        let (tip_seq, tip_hash) = self.tip;
        while let Some(checkpoint) = self.checkpoints.get(self.next_checkpoint) {
            if checkpoint.seq > tip_seq {
                break;
            }
            let problem = if let Err(e) = verify_checkpoint(checkpoint, self.trust) {
                Some(Problem::CheckpointSignature {
                    node: checkpoint.node.clone(),
                    kid: checkpoint.kid.clone(),
                    reason: match e {
                        CheckpointError::Key(e) => e.to_string(),
                        other => other.to_string(),
                    },
                })
            } else if checkpoint.seq != tip_seq
                || checkpoint.head_hash != tip_hash
                || u64::try_from(checkpoint.count).ok() != Some(self.entries)
            {
                Some(Problem::CheckpointMismatch {
                    node: checkpoint.node.clone(),
                    kid: checkpoint.kid.clone(),
                    signed_head: hex::encode(checkpoint.head_hash),
                    signed_count: checkpoint.count,
                    chain_head: hex::encode(tip_hash),
                    chain_count: i64::try_from(self.entries).unwrap_or(i64::MAX),
                })
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(self.broken(checkpoint.seq, problem));
            }
            self.next_checkpoint += 1;
        }
        while let Some(witness) = self.witnesses.get(self.next_witness) {
            if witness.head.seq > tip_seq {
                break;
            }
            if witness.head.seq != tip_seq || witness.head.hash != tip_hash {
                return Err(self.broken(
                    witness.head.seq,
                    Problem::WitnessMismatch {
                        by_chain: witness.by_chain.clone(),
                        node: witness.node.clone(),
                        kid: witness.kid.clone(),
                        witnessed: hex::encode(witness.head.hash),
                        chain_head: hex::encode(tip_hash),
                    },
                ));
            }
            self.next_witness += 1;
        }
        Ok(())
    }

    /// Ends the walk: every checkpoint must have been reached.
    pub fn finish(mut self) -> Result<ChainReport, ChainBreak> {
        self.settle_checkpoints()?;
        if let Some(checkpoint) = self.checkpoints.get(self.next_checkpoint) {
            return Err(self.broken(
                checkpoint.seq,
                Problem::CheckpointPastEnd {
                    node: checkpoint.node.clone(),
                    kid: checkpoint.kid.clone(),
                    seq: checkpoint.seq,
                    chain_end: self.tip.0,
                },
            ));
        }
        if let Some(witness) = self.witnesses.get(self.next_witness) {
            return Err(self.broken(
                witness.head.seq,
                Problem::WitnessPastEnd {
                    by_chain: witness.by_chain.clone(),
                    node: witness.node.clone(),
                    kid: witness.kid.clone(),
                    seq: witness.head.seq,
                    chain_end: self.tip.0,
                },
            ));
        }
        Ok(ChainReport {
            chain: self.chain.clone(),
            entries: self.entries,
            checkpoints: u64::try_from(self.next_checkpoint).unwrap_or(u64::MAX),
            witnessed: u64::try_from(self.next_witness).unwrap_or(u64::MAX),
            head: (self.entries > 0).then_some(self.tip),
            hash: self.hash,
        })
    }
}

/// Re-walks the entries of chain `chain` (in seq order, from seq 1, hashed with `hash`) with
/// its `checkpoints`, trusting the node keys in `trust`; the first break found, or what was
/// checked.
pub fn verify_chain<'a>(
    chain: &str,
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    checkpoints: Vec<Checkpoint>,
    trust: &TrustList,
    hash: ChainHash,
) -> Result<ChainReport, ChainBreak> {
    let mut walker = ChainWalker::new(chain, checkpoints, vec![], trust, hash);
    for entry in entries {
        walker.push(entry)?;
    }
    walker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::sign_checkpoint;
    use chrono::DateTime;
    use wire::keys::{Algorithm, SigningKey, Validity};

    fn record(i: i64) -> AuditRecord {
        AuditRecord {
            at: DateTime::from_timestamp(1_800_000_000 + i, 123_456_789).expect("time"),
            node: "node-a".into(),
            venue: "venue-1".into(),
            scenario: "hotel-checkin".into(),
            certificates: vec!["id-card".into(), "health".into()],
            verdict: "pass".into(),
            requirement_verdicts: vec![
                ("id-card".into(), "pass".into()),
                ("health".into(), "pass".into()),
            ],
            latency_us: 1200 + i,
            subject_hash: [7; 32],
            verification_id: format!("v-{i}"),
            means: Default::default(),
            presented_by: None,
        }
    }

    fn chain_of(n: i64) -> Vec<AuditEntry> {
        let records: Vec<_> = (1..=n).map(record).collect();
        chain_all(&records, "node-a", (0, GENESIS), ChainHash::Sha256)
    }

    fn head(seq: i64, hash: [u8; 32]) -> ChainHead {
        ChainHead {
            chain: "node-a".into(),
            seq,
            hash,
        }
    }

    fn key() -> SigningKey {
        SigningKey::generate(Algorithm::EdDsa, "node-a", Validity::default()).expect("key")
    }

    #[test]
    fn chaining_starts_at_genesis_and_links() {
        let entries = chain_of(3);
        assert_eq!(entries[0].seq, 1);
        assert_eq!(entries[0].prev_hash, GENESIS);
        assert_eq!(entries[1].prev_hash, entries[0].hash);
        assert_eq!(entries[2].seq, 3);
        // `at` is cut to whole microseconds, as the store keeps it.
        assert_eq!(entries[0].at.timestamp_subsec_nanos(), 123_456_000);
        let report = verify_chain(
            "node-a",
            &entries,
            vec![],
            &TrustList::default(),
            ChainHash::Sha256,
        )
        .expect("intact");
        assert_eq!(report.entries, 3);
        assert_eq!(report.head, Some((3, entries[2].hash)));
    }

    #[test]
    fn the_hash_covers_every_field_and_is_deterministic() {
        let base = chain(&record(1), "node-a", 1, GENESIS, ChainHash::Sha256);
        assert_eq!(
            entry_hash(&base, ChainHash::Sha256),
            chain(&record(1), "node-a", 1, GENESIS, ChainHash::Sha256).hash
        );
        let edits: Vec<fn(&mut AuditEntry)> = vec![
            |e| e.seq = 2,
            |e| e.at += chrono::TimeDelta::microseconds(1),
            |e| e.node.push('x'),
            |e| e.venue.push('x'),
            |e| e.scenario.push('x'),
            |e| {
                e.certificates.pop();
            },
            |e| e.verdict = "fail".into(),
            |e| e.requirement_verdicts[1].1 = "fail".into(),
            |e| e.latency_us += 1,
            |e| e.subject_hash[0] ^= 1,
            |e| e.verification_id.push('x'),
            |e| e.prev_hash[31] ^= 1,
            |e| e.means = Means::Paper,
            |e| e.means = Means::CardReader,
            |e| e.presented_by = Some("d-1".into()),
            |e| e.presented_by = Some(String::new()),
        ];
        for edit in edits {
            let mut edited = base.clone();
            edit(&mut edited);
            assert_ne!(
                entry_hash(&edited, ChainHash::Sha256),
                base.hash,
                "{edited:?}"
            );
        }
        // Moving bytes between neighbouring fields changes the hash (length prefixes).
        let mut shifted = base.clone();
        shifted.venue = "venue-1h".into();
        shifted.scenario = "otel-checkin".into();
        assert_ne!(entry_hash(&shifted, ChainHash::Sha256), base.hash);
        // A presenter's entry with a different means is another entry.
        let mut by_agent = base.clone();
        by_agent.presented_by = Some("d-1".into());
        let mut by_agent_on_paper = by_agent.clone();
        by_agent_on_paper.means = Means::Paper;
        assert_ne!(
            entry_hash(&by_agent, ChainHash::Sha256),
            entry_hash(&by_agent_on_paper, ChainHash::Sha256)
        );
    }

    #[test]
    fn an_edited_entry_is_found_at_its_seq() {
        let mut entries = chain_of(5);
        entries[2].verdict = "fail".into();
        let err = verify_chain(
            "node-a",
            &entries,
            vec![],
            &TrustList::default(),
            ChainHash::Sha256,
        )
        .expect_err("edited");
        assert_eq!(err.seq, 3);
        assert!(matches!(*err.problem, Problem::Edited { .. }), "{err}");
        assert_eq!(err.entries, 2);
    }

    #[test]
    fn a_deleted_entry_is_found_at_its_seq() {
        let mut entries = chain_of(5);
        entries.remove(3);
        let err = verify_chain(
            "node-a",
            &entries,
            vec![],
            &TrustList::default(),
            ChainHash::Sha256,
        )
        .expect_err("gap");
        assert_eq!(err.seq, 4);
        assert_eq!(*err.problem, Problem::Missing { found: 5 });
        // The first entry deleted.
        let err = verify_chain(
            "node-a",
            &chain_of(3)[1..],
            vec![],
            &TrustList::default(),
            ChainHash::Sha256,
        )
        .expect_err("first missing");
        assert_eq!(err.seq, 1);
    }

    #[test]
    fn a_replaced_entry_with_a_valid_hash_breaks_the_link() {
        let mut entries = chain_of(4);
        let mut forged = chain(&record(9), "node-a", 3, entries[1].hash, ChainHash::Sha256);
        forged.prev_hash = [9; 32];
        forged.hash = entry_hash(&forged, ChainHash::Sha256);
        entries[2] = forged;
        let err = verify_chain(
            "node-a",
            &entries,
            vec![],
            &TrustList::default(),
            ChainHash::Sha256,
        )
        .expect_err("unlinked");
        assert_eq!((err.seq, *err.problem), (3, Problem::Unlinked));
    }

    #[test]
    fn checkpoints_are_checked_at_their_seq() {
        let entries = chain_of(6);
        let key = key();
        let trust = TrustList::new([key.trusted()]);
        let at = store::now();
        let good = sign_checkpoint(&key, &head(4, entries[3].hash), 4, at, "node-a", vec![]);
        let report = verify_chain(
            "node-a",
            &entries,
            vec![good.clone()],
            &trust,
            ChainHash::Sha256,
        )
        .expect("good");
        assert_eq!(report.checkpoints, 1);

        // Signed over another head: the chain was rewritten after it.
        let wrong = sign_checkpoint(&key, &head(4, entries[2].hash), 4, at, "node-a", vec![]);
        let err = verify_chain("node-a", &entries, vec![wrong], &trust, ChainHash::Sha256)
            .expect_err("mismatch");
        assert_eq!(err.seq, 4);
        assert!(
            matches!(*err.problem, Problem::CheckpointMismatch { .. }),
            "{err}"
        );

        // Edited after signing.
        let mut forged = good.clone();
        forged.count = 5;
        let err = verify_chain("node-a", &entries, vec![forged], &trust, ChainHash::Sha256)
            .expect_err("forged");
        assert!(
            matches!(*err.problem, Problem::CheckpointSignature { .. }),
            "{err}"
        );

        // Signed by a key nobody trusts.
        let other = sign_checkpoint(
            &self::key(),
            &head(4, entries[3].hash),
            4,
            at,
            "node-a",
            vec![],
        );
        let err = verify_chain("node-a", &entries, vec![other], &trust, ChainHash::Sha256)
            .expect_err("untrusted");
        assert!(
            matches!(*err.problem, Problem::CheckpointSignature { .. }),
            "{err}"
        );

        // The tail deleted after a checkpoint.
        let err = verify_chain(
            "node-a",
            &entries[..3],
            vec![good],
            &trust,
            ChainHash::Sha256,
        )
        .expect_err("tail");
        assert_eq!(err.seq, 4);
        assert!(
            matches!(
                *err.problem,
                Problem::CheckpointPastEnd { chain_end: 3, .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn heads_witnessed_by_other_chains_are_checked_at_their_seq() {
        let entries = chain_of(5);
        let witness = |seq: i64, hash: [u8; 32]| Witness {
            head: head(seq, hash),
            by_chain: "node-b".into(),
            node: "node-b".into(),
            kid: "kid-b".into(),
        };
        let walk = |entries: &[AuditEntry], witnesses: Vec<Witness>| {
            let trust = TrustList::default();
            let mut walker =
                ChainWalker::new("node-a", vec![], witnesses, &trust, ChainHash::Sha256);
            for entry in entries {
                walker.push(entry)?;
            }
            walker.finish()
        };
        let report = walk(&entries, vec![witness(3, entries[2].hash)]).expect("matches");
        assert_eq!((report.witnessed, report.checkpoints), (1, 0));

        // The chain rewritten from seq 3 on, consistently: only the witness tells.
        let records: Vec<_> = (1..=5).map(record).collect();
        let mut rewritten = chain_all(&records[..2], "node-a", (0, GENESIS), ChainHash::Sha256);
        let mut other = record(3);
        other.verdict = "fail".into();
        rewritten.extend(chain_all(
            [&other, &records[3], &records[4]],
            "node-a",
            (2, rewritten[1].hash),
            ChainHash::Sha256,
        ));
        walk(&rewritten, vec![]).expect("a consistent chain on its own");
        let err = walk(&rewritten, vec![witness(3, entries[2].hash)]).expect_err("rewritten");
        assert_eq!(err.seq, 3);
        assert!(
            matches!(*err.problem, Problem::WitnessMismatch { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chain `node-a`"), "{err}");

        // The tail cut below a witnessed head.
        let err = walk(&entries[..3], vec![witness(5, entries[4].hash)]).expect_err("cut");
        assert!(
            matches!(
                *err.problem,
                Problem::WitnessPastEnd {
                    seq: 5,
                    chain_end: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn an_empty_log_verifies_and_reports_so() {
        let report = verify_chain(
            "node-a",
            &[],
            vec![],
            &TrustList::default(),
            ChainHash::Sha256,
        )
        .expect("empty");
        assert_eq!(report.head, None);
        assert!(report.to_string().contains("empty"));
    }

    #[test]
    fn an_sm3_chain_walks_with_sm3_only() {
        let records: Vec<_> = (1..=3).map(record).collect();
        let sm3 = chain_all(&records, "node-a", (0, GENESIS), ChainHash::Sm3);
        let sha256 = chain_of(3);
        assert_ne!(sm3[0].hash, sha256[0].hash);
        let report = verify_chain(
            "node-a",
            &sm3,
            vec![],
            &TrustList::default(),
            ChainHash::Sm3,
        )
        .expect("intact under its own hash");
        assert_eq!(report.head, Some((3, sm3[2].hash)));
        // Walked with the other hash, the first entry no longer matches its fields.
        let err = verify_chain(
            "node-a",
            &sm3,
            vec![],
            &TrustList::default(),
            ChainHash::Sha256,
        )
        .expect_err("another hash");
        assert_eq!(err.seq, 1);
        assert!(matches!(*err.problem, Problem::Edited { .. }), "{err}");
    }
}
