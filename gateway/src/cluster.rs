//! What the gateway nodes sharing one store (and one Redis) hold in common.
//!
//! - [`membership`] — this node's name held as a lease, the live node count, the settings every
//!   node must agree on.
//! - [`replay`] — each code's nonce accepted once on this node (the fast path in front of the
//!   store's spent codes).
//! - [`quota`] — each venue's rate quota held for the venue as a whole across nodes.
//! - [`revocations`] — delegations revoked and printed codes reported lost, refused on every
//!   node at once.

pub mod membership;
pub mod quota;
pub mod replay;
pub mod revocations;
