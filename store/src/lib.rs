//! Mianzheng's durable state: the venue registry, the hash-chained audit log, the objection
//! workflow and the operator accounts, behind one [`Store`] with two engines — SQLite in a
//! local file (the embedded default) and PostgreSQL shared by several gateway nodes.
//!
//! Modules:
//! - [`backend`]: opening a store from a URL, durability settings, embedded migrations, and the
//!   helpers that let each query be written once for both engines.
//! - [`venues`]: who may call the verify API; keys only as SHA-256 hashes.
//! - [`audit`]: append-only, hash-chained verification log, checkpoints.
//! - [`subjects`]: "who checked me": a holder's entries, through a side table filled in bulk.
//! - `entry`: an audit entry as stored, its columns and its row decoder.
//! - `bulk`: a batch of audit entries and spent codes in one statement per table, per engine.
//! - [`spent`]: codes spent once across every node and restart, pruned by expiry bucket.
//! - [`nodes`]: the gateway nodes sharing the store (name leases) and the settings they must
//!   agree on.
//! - [`node_keys`]: the nodes' checkpoint keys, registered at start, retired on rotation.
//! - [`notify`]: LISTEN/NOTIFY between the nodes sharing a PostgreSQL store.
//! - [`objections`]: filing, listing, claiming and resolving objections, with history.
//! - [`commitments`]: the applicants' commitments (告知承诺) and their post-check queue, with
//!   history.
//! - [`delegations`]: agents' authorizations and family members' grants, and the revocations
//!   every node refuses at once (delegations revoked, printed codes reported lost).
//! - [`issuances`]: the codes the holder platform issued — the holder's history, the per-holder
//!   rate limit, the counts by medium.
//! - [`kpis`]: the plan's targets measured from traffic: counters every node adds to, by day,
//!   city, department, certificate type and materials source; objections' deadlines kept.
//! - [`operators`]: the admin API's operator accounts, their roles, tokens only as hashes.
//! - [`error`]: [`StoreError`], and which failures are worth a retry.
//!
//! Every query is runtime-checked SQL that both engines accept; where they differ (the lock a
//! claim takes, how a write transaction starts) the two versions sit side by side in the
//! table's module. Each engine's schema is a folder of versioned migration files
//! (`migrations/sqlite`, `migrations/postgres`), applied when the store is opened.

pub mod audit;
pub mod backend;
mod bulk;
pub mod commitments;
pub mod delegations;
mod entry;
pub mod error;
pub mod issuances;
pub mod kpis;
pub mod node_keys;
pub mod nodes;
pub mod notify;
pub mod objections;
pub mod operators;
pub mod spent;
pub mod subjects;
#[cfg(feature = "testing")]
pub mod testing;
pub mod venues;

pub use audit::{Appended, AuditEntry, AuditRecord, ChainHead, Checkpoint};
pub use backend::{micros, now, redact, Store, StoreOptions, SQLITE_FILE};
pub use commitments::{
    Commitment, CommitmentCount, CommitmentEvent, CommitmentFilter, CommitmentStatus,
    CommitmentTransitionError,
};
pub use delegations::{
    DelegationCount, DelegationRow, Revocation, RevocationKind, REVOCATIONS_CHANNEL,
};
pub use error::StoreError;
pub use issuances::{IssuanceCounts, IssuanceRow};
pub use kpis::{KpiCounts, KpiKey, ObjectionOutcome};
pub use node_keys::NodeKey;
pub use nodes::{LeaseHolder, NodeLease};
pub use notify::{Received, Subscription};
pub use objections::{
    Channel, FiledBy, Objection, ObjectionCount, ObjectionEvent, ObjectionFilter, Status,
    TransitionError,
};
pub use operators::OperatorRow;
pub use spent::{Spend, SpendBy, SpentBy};
pub use venues::VenueRow;
