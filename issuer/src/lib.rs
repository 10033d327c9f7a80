//! `issuer`: the reference department backend — what a department runs in front of its own
//! register to answer the gateway ("谁制发、谁核验"), and what demos, tests and load tests talk
//! to. One listener serves many backends (a department at province level or in one city) by
//! path prefix: `http://HOST:PORT/backends/<department>/<province|city code>`.
//!
//! Modules, in the order a query meets them:
//! - [`server`] — the HTTP/1.1 listener, routing, accept back-off and graceful shutdown;
//!   [`start`] and [`RunningIssuer`] are the embedding API.
//! - [`shared`] — what every handler shares: the issuer's state, reading a bounded body.
//! - [`backends`] — which backends are served, each with its seal key and certificate types.
//! - [`query`] — answering `POST {base}/v1/records:query`, stage by stage.
//! - [`faults`] — knobs that slow a backend down, fail a share of queries, or take it down.
//! - [`population`] — the deterministic synthetic holders behind every subject handle.
//! - [`records`] — which certificates a holder has, in what state, with which fields.
//! - [`overrides`] — revocations, suspensions, reinstatements and corrections made at run time.
//! - [`notify`] — change notifications to the gateway, with bounded queue and retries.
//! - [`admin`] — the bearer-token admin endpoints (overrides, faults, stats).
//! - [`stats`] — counters per backend.
//! - [`problem`] — every failure and its RFC 9457 answer.
//! - [`config`] — [`IssuerConfig`] for embedding, [`config::FileConfig`] for the binary.
//! - [`seal_keys`] — generating department seal keys; the repository's demo keys.
//!
//! The protocol types and the seal live in [`wire::issuer_api`].

pub mod admin;
pub mod backends;
pub mod config;
pub mod faults;
pub mod notify;
pub mod overrides;
pub mod population;
pub mod problem;
pub mod query;
pub mod records;
pub mod seal_keys;
pub mod server;
pub mod shared;
pub mod stats;

pub use config::{IssuerConfig, NotifyConfig};
pub use faults::{FaultPlan, FaultSpec, Latency};
pub use population::{Holder, Organisation, Person, Population};
pub use server::{start, RunningIssuer};

/// Why an issuer cannot start. All are configuration mistakes: fix the config and start again.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("department `{0}` is not in the catalogue")]
    UnknownDepartment(String),
    #[error(
        "no seal key valid now for department `{0}` (a key's `owner` must be the department id)"
    )]
    NoSealKey(String),
    #[error("no backend to serve: the department selection is empty")]
    NoBackends,
    #[error("{0}")]
    Config(String),
    #[error("listener: {0}")]
    Io(std::io::Error),
}
