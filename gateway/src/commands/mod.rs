//! Operator commands of the `gateway` binary, one module per command group. Each takes its
//! parsed arguments and an output to write to, so tests can run them without a process.
//!
//! - [`audit`] — `gateway audit verify`.
//! - [`catalogue`] — `gateway catalogue check`: the materials library's coverage.
//! - [`code`] — `gateway code inspect`, `gateway code mint`.
//! - [`keys`] — `gateway keys generate`.
//! - [`openapi`] — `gateway openapi`: the API document.
//! - [`venues`] — `gateway venues add|disable|rotate`, on the store without a running gateway.
//! - [`operators`] — `gateway operators add|list|disable`.
//! - [`report`] — `gateway report`: the plan's targets measured from traffic.
//! - [`store_args`] — the store options those two take.

pub mod audit;
pub mod catalogue;
pub mod code;
pub mod keys;
pub mod openapi;
pub mod operators;
pub mod report;
pub mod store_args;
pub mod venues;
