//! The Mianzheng gateway: venues scan a holder's code, the gateway verifies it, asks the
//! issuing departments and answers with the least data the scenario needs. The crates and the
//! request's path through the stages are drawn in `docs/ARCHITECTURE.md`.
//!
//! - [`app`] — assembles a gateway from its configuration and runs it (`main.rs` and tests).
//! - [`config`] — `config/gateway.toml`, parsed and validated; the mode (demo or production).
//! - [`production`] — what a production gateway refuses to start with: demo material, exposed
//!   secret files.
//! - [`demo_material`] — fingerprints of the repository's demo keys, venues and token, in every
//!   build, so production recognises them.
//! - [`in_use`] — what a started gateway runs on, as its banner says.
//! - [`verify`] — `POST /v1/verify`: the stages of the hot path, listed in order, one module each.
//! - [`materials`] — `POST /v1/materials` (免证办): a service window pulls the materials of
//!   one service item with the applicant's code, through the verify path's stages.
//! - [`commitments`] — `POST /v1/commitments` (告知承诺): a service window records an
//!   applicant's commitment for a material; the post-check queues and their workflow.
//! - [`departments`] — the department backends: clients, breakers, the cache of their answers,
//!   the changes they push, invalidation on every node, corrections sent back.
//! - [`audit`] — the hash-chained audit trail: writer, chain, checkpoints, spent codes.
//! - [`holder`] — a holder with a fresh code of their own: "who checked me", filing objections.
//! - [`objections`] — the objection desk: filing rules, routing, the operators' workflow.
//! - [`venues`] — who may call, for which scenarios, at what rate; the store-backed registry.
//! - [`cluster`] — what the nodes share: membership leases, replay detection, venue quotas.
//! - [`admin`] — the admin listener: probes, metrics, the operator console's API, its
//!   snapshots, the rollout plan in force.
//! - [`http`] — listeners and their one accept loop, TLS, request bounds, JSON, problem+json.
//! - [`metrics`] — what the gateway counts, in one registry.
//! - [`kpis`] — the plan's targets measured from traffic: counted on each node, added to the
//!   store every node shares, evaluated for `gateway report` and the console.
//! - [`openapi`] — the OpenAPI document of the public and admin APIs, made from the code.
//! - [`error`] — failures, whose fault, and their RFC 9457 answers.
//! - [`shutdown`] — the one place the process decides to stop.
//! - [`commands`] — `gateway code inspect|mint`, `gateway keys generate`, `gateway audit verify`,
//!   `gateway catalogue check`,
//!   `gateway venues add|disable|rotate`, `gateway operators add|list|disable`,
//!   `gateway openapi`, `gateway report`.
//! - [`demo`] — the demo (the `demo` feature, on by default): embedded departments, demo keys
//!   and venues, the printed curl line.

pub mod admin;
pub mod app;
pub mod audit;
pub mod cluster;
pub mod commands;
pub mod commitments;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod demo_material;
pub mod departments;
pub mod error;
pub mod holder;
pub mod http;
pub mod in_use;
pub mod kpis;
pub mod materials;
pub mod metrics;
pub mod objections;
pub mod openapi;
pub mod production;
pub mod shutdown;
pub mod venues;
pub mod verify;
