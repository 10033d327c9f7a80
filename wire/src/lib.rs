//! `wire`: everything that crosses a process boundary in Mianzheng, shared by the gateway, the
//! reference issuer, the console and the load tester.
//!
//! - [`api`] — the public API venues call: `POST /v1/verify` request and response.
//! - [`materials_api`] — the service window's API: `POST /v1/materials` (免证办) and
//!   `POST /v1/commitments` (告知承诺).
//! - [`admin_api`] — the gateway's admin API the operator console reads.
//! - [`code`] — the dynamic code a holder shows: mint, decode strictly, verify (COSE + CWT,
//!   base45 behind our prefix, optional zlib), with a stable machine code for every failure.
//! - [`audit`] — what a verification leaves in the audit trail.
//! - [`calendar`] — the day in China and whole years between dates (ages), as every service
//!   judges them.
//! - [`keys`] — signing keys and trust lists with validity windows (rotation without downtime).
//! - [`mask`] — a person's name as shown to whoever may see only part of it (张*丰).
//! - [`ident`] — check digits of the resident ID number, unified social credit code and national
//!   e-licence identifier.
//! - [`catalogue`] — certificate types, departments and their backends, cities, scenarios and
//!   service items, loaded from `config/` and validated.
//! - [`file_problems`] — what is wrong with an operator's configuration file, every problem
//!   at once.
//! - [`problem`] — RFC 9457 problem bodies, shared by every service.
//! - [`issuer_api`] — the record query protocol between the gateway and department backends,
//!   and the department seal over each record.
//! - [`secret_file`] — secret files (keys, trust lists holding MAC secrets) written owner-only
//!   from the first byte.
//! - [`rollout`] — the province's rollout plan (`config/rollout.toml`): which certificate type
//!   is planned, piloted or live in which city since when, the scenarios each city pilots, and
//!   the plan's targets; validated against the catalogue.

pub mod admin_api;
pub mod api;
pub mod audit;
pub mod calendar;
pub mod catalogue;
pub mod code;
pub mod file_problems;
pub mod ident;
pub mod issuer_api;
pub mod keys;
pub mod mask;
pub mod materials_api;
pub mod problem;
pub mod rollout;
pub mod secret_file;
