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

pub mod commands;
pub mod demo;
