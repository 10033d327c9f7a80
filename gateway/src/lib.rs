//! The Mianzheng gateway: venues scan a holder's code, the gateway verifies it, asks the
//! issuing departments and answers with the least data the scenario needs (DESIGN.md §4).
//!
//! - [`app`] — assembles a gateway from its configuration and runs it (`main.rs` and tests).
//! - [`config`] — `config/gateway.toml`, parsed and validated.
//! - [`verify`] — `POST /v1/verify`: the twelve stages of the hot path, one module each.
//! - [`signature_batch`] — Ed25519 checks of concurrent requests verified as a batch.
//! - [`upstream`], [`breaker`] — the department clients: one per backend, deadline, breaker,
//!   retry budget.
//! - [`issuer_events`] — departments push changes; the cache drops what they changed.
//! - [`replay`] — each code's nonce accepted once on this node while the code is valid (the
//!   fast path in front of the store's spent codes).
//! - [`membership`] — this node's name held as a lease in the shared store, the live node
//!   count, the subject-hash key every node must share.
//! - [`rollout`] — the province's rollout plan in force (reloadable): which certificate is
//!   offered in which city for which scenario, and the live figures against the plan's targets.
//! - [`venues`], [`venue_registry`] — who may call, for which scenarios, at what rate; the
//!   venues live in the store with a cache in front.
//! - [`quota`] — each venue's rate quota held for the venue as a whole across nodes (a token
//!   bucket in Redis, taken in chunks), falling back to the node's share without Redis.
//! - [`server`], [`tls`], [`shutdown`] — listeners, limits, reloadable TLS, graceful drain.
//! - [`admin`], [`metrics`] — `/livez`, `/readyz`, `/metrics`.
//! - [`error`], [`problem`] — failures, whose fault, and their RFC 9457 answers.
//! - [`commands`] — `gateway code inspect|mint`, `gateway keys generate`.
//! - [`demo`] — the demo keys embedded in the binary.

pub mod admin;
pub mod admin_api;
pub mod app;
pub mod audit;
pub mod breaker;
pub mod commands;
pub mod config;
pub mod demo;
pub mod department_admin;
pub mod error;
pub mod holder;
pub mod holder_accesses;
pub mod http_json;
pub mod invalidation;
pub mod issuer_events;
pub mod live;
pub mod membership;
pub mod metrics;
pub mod objection_filing;
pub mod objections;
pub mod problem;
pub mod quota;
pub mod replay;
pub mod rollout;
pub mod server;
pub mod shutdown;
pub mod signature_batch;
pub mod snapshot;
pub mod tls;
pub mod upstream;
pub mod venue_registry;
pub mod venues;
pub mod verify;
