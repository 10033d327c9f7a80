//! The Mianzheng gateway: venues scan a holder's code, the gateway verifies it, asks the
//! issuing departments and answers with the least data the scenario needs (DESIGN.md §4).
//!
//! The server itself arrives with the verify path; what is here now are the operator commands
//! every later part keeps:
//!
//! - [`commands::code`] — `gateway code inspect` and `gateway code mint`: decode, verify and
//!   print a holder code; mint one with the demo platform key.
//! - [`commands::keys`] — `gateway keys generate`: a platform key set and its trust list.
//! - [`demo`] — the demo platform keys embedded in the binary, so the commands work from any
//!   folder on a fresh clone.

pub mod admin;
pub mod app;
pub mod breaker;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod metrics;
pub mod problem;
pub mod replay;
pub mod server;
pub mod shutdown;
pub mod tls;
pub mod upstream;
pub mod venues;
pub mod verify;
