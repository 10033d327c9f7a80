//! The problem answers many routes share, each once in the document's components and named
//! by the routes that can give it. Each type only names an answer: its doc comment is the
//! answer's description, the problem body its content.

use utoipa::ToResponse;
use wire::problem::{Problem, PROBLEM_CONTENT_TYPE};

/// `request.timeout`: the body did not arrive in time.
#[derive(Debug, ToResponse)]
#[response(content_type = PROBLEM_CONTENT_TYPE)]
pub struct BodyTimeout(pub Problem);

/// `request.too_large`: the body is longer than the route takes (16 KiB for the JSON routes
/// beside `/v1/verify`, `limits.max_body_bytes` for it).
#[derive(Debug, ToResponse)]
#[response(content_type = PROBLEM_CONTENT_TYPE)]
pub struct BodyTooLarge(pub Problem);

/// `request.unsupported_media_type`: the body is not `content-type: application/json`.
#[derive(Debug, ToResponse)]
#[response(content_type = PROBLEM_CONTENT_TYPE)]
pub struct NotJson(pub Problem);

/// `gateway.internal`: the gateway's own fault (details only in its log).
#[derive(Debug, ToResponse)]
#[response(content_type = PROBLEM_CONTENT_TYPE)]
pub struct Internal(pub Problem);

/// `admin.unauthorized` (no token, or one no operator has), `admin.operator_disabled`, or
/// `admin.bootstrap_spent` (the bootstrap secret once an operator exists).
#[derive(Debug, ToResponse)]
#[response(content_type = PROBLEM_CONTENT_TYPE)]
pub struct AdminUnauthorized(pub Problem);

/// `admin.forbidden`: the operator's roles do not grant the route (the detail names the role
/// needed), or the bootstrap secret was shown for anything but creating the first operator.
#[derive(Debug, ToResponse)]
#[response(content_type = PROBLEM_CONTENT_TYPE)]
pub struct AdminForbidden(pub Problem);

/// `gateway.store_unavailable`: the store did not answer; retry after `Retry-After`.
#[derive(Debug, ToResponse)]
#[response(
    content_type = PROBLEM_CONTENT_TYPE,
    headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))
)]
pub struct StoreUnavailable(pub Problem);
