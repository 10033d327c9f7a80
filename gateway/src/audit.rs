//! The audit trail: every verification leaves a hash-chained entry in the store, in the chain
//! of the node that answered, committed in groups by the node's one writer task, with signed
//! checkpoints of the node's chain head that also witness the other chains' heads.
//!
//! - [`chain`] — what a verification records ([`AuditRecord`]), the canonical encoding and hash
//!   of an entry, and the walk that re-checks a chain and its checkpoints ([`verify_chain`]).
//! - [`hash`] — the chain's hash function, SHA-256 or SM3 ([`ChainHash`]), one per store.
//! - [`subject`] — the holder only as a keyed hash ([`SubjectHasher`]).
//! - [`subject_index`] — copying new entries' subject hashes into the store's side table that
//!   "who checked me" reads, in bulk, behind the writer.
//! - [`writer`] — the node's one writer task, appending to the node's own chain: bounded
//!   backlog, group commit with the codes the entries spend, retries with back-off, bounded
//!   waits ([`AuditWriter`]).
//! - [`metrics`] — the writer's counters on `/metrics` (commits, batches, retries, conflicts).
//! - [`spent`] — pruning the store's spent codes once their codes have expired.
//! - [`checkpoint`] — signing and checking checkpoints, the node's key on disk, pinned in the
//!   store and the anchor ([`pin_node_key`]).
//! - [`anchor`] — the append-only file of node keys and checkpoints the store's operator cannot
//!   rewrite ([`AnchorSink`], [`Anchor`]).
//! - [`verify`] — `gateway audit verify`: every stored chain, page by page, judged against the
//!   anchored or given node keys ([`audit_store`]).

pub mod anchor;
pub mod chain;
pub mod checkpoint;
pub mod hash;
pub mod metrics;
pub mod spent;
pub mod subject;
pub mod subject_index;
pub mod verify;
pub mod writer;

pub use anchor::{Anchor, AnchorLine, AnchorSink};
pub use chain::{
    chain_label, verify_chain, AuditRecord, ChainBreak, ChainReport, ChainWalker, Problem, Witness,
    REPLAYED, REPLAYED_AFTER_ANSWER,
};
pub use checkpoint::{
    load_or_create_node_key, pin_node_key, rotate_node_key, sign_checkpoint, verify_checkpoint,
};
pub use hash::ChainHash;
pub use subject::SubjectHasher;
pub use verify::{
    audit_store, verify_store, AuditFindings, Finding, LogReport, Uncovered, VerifyPolicy,
    VerifyStoreError,
};
pub use writer::{
    AuditError, AuditPosition, AuditReceipt, AuditWriter, CheckpointSettings, WriterSettings,
    WriterStats,
};
