//! The issuing departments, seen from the gateway: calling them, and hearing from them.
//!
//! - [`upstream`] — one pooled client per department backend: batched queries, deadlines,
//!   retries within a budget.
//! - [`breaker`] — a circuit breaker per backend.
//! - [`cache`] — their answers, cached per (holder, certificate type).
//! - [`issuer_events`] — `POST /v1/issuer-events`: departments push changes.
//! - [`invalidation`] — what a change drops from the caches, on every node.
//! - [`corrections`] — telling a department's backend about a correction an operator resolved.

pub mod breaker;
pub mod cache;
pub mod corrections;
pub mod invalidation;
pub mod issuer_events;
pub mod upstream;
