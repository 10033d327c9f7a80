//! The admin listener's routes in the API document: the probes, metrics and the document
//! itself (`crate::admin`), and the operators' API under [`ADMIN_PREFIX`]
//! (`crate::admin::api`). Each fn only carries its route's description for `utoipa`: the
//! handlers are the routers' arms. The routes under the prefix are exactly those of
//! [`wire::admin_api::ROUTE_ROLES`], which the gateway enforces (a test holds the two equal),
//! and the role each needs is added to its description from that table.

use wire::admin_api::{
    AuditPage, AuditView, ClaimRequest, Evaluation, ObjectionAction, ObjectionDetail,
    ObjectionPage, ObjectionStatus, OperatorRegistration, OperatorTokenIssued, OperatorView,
    RolloutReloaded, Snapshot, VenueKeyIssued, VenueRegistration, VenueView, WhoAmI, ADMIN_PREFIX,
};
use wire::problem::{Problem, PROBLEM_CONTENT_TYPE};

use super::answers::{
    AdminForbidden, AdminUnauthorized, BodyTimeout, BodyTooLarge, Internal, NotJson,
    StoreUnavailable,
};

/// Liveness: 200 while the process runs
///
/// If this fails, restart the process.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "probes",
    responses((status = 200, description = "`live`", body = String, content_type = "text/plain")),
)]
pub fn livez() {}

/// Readiness: 200 when ready for traffic
///
/// 503 while starting, and from the first moment of draining, so that load balancers stop
/// sending before the listeners close.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    responses(
        (status = 200, description = "`ready`, then a line per degraded mode the node still \
            serves in (how venue quotas are held)", body = String, content_type = "text/plain"),
        (status = 503, description = "`admin.starting`, `admin.draining`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
    ),
)]
pub fn readyz() {}

/// Prometheus metrics
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    responses((status = 200, description = "Every metric, in the OpenMetrics text format",
        body = String, content_type = crate::metrics::CONTENT_TYPE)),
)]
pub fn metrics() {}

/// This document
///
/// The OpenAPI document of the public and admin APIs; `docs/openapi.json` in the repository is
/// the same.
#[utoipa::path(
    get,
    path = super::PATH,
    tag = "probes",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object,
        content_type = "application/json")),
)]
pub fn openapi() {}

/// The node's snapshot
///
/// One view of the node, made once per second: traffic, departments, objections, the rollout
/// plan with live figures. With `after`, a long poll: the first snapshot newer than that
/// generation (at most about 2 s of waiting); a generation ahead of the node's (it restarted)
/// gets the current one at once.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/snapshot",
    tag = "admin",
    params(("after" = Option<u64>, Query,
        description = "A snapshot's `generation`: wait for a newer one")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The snapshot", body = Snapshot),
        (status = 400, description = "`request.malformed`: `after` is not a number",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn snapshot() {}

/// Who is signed in
///
/// The operator the request's token belongs to, with their roles.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/whoami",
    tag = "admin",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The signed-in operator", body = WhoAmI),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn whoami() {}

/// The objections, a page at a time
///
/// By id; the filters combine.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/objections",
    tag = "admin",
    params(
        ("department" = Option<String>, Query, description = "Only this department's"),
        ("status" = Option<ObjectionStatus>, Query, description = "Only those in this status"),
        ("open" = Option<bool>, Query, description = "`true`: only open or in review"),
        ("overdue" = Option<bool>, Query,
            description = "`true`: only open or in review with the deadline passed"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Objections per page, 1–1000 (default 100)"),
        ("after" = Option<String>, Query, description = "The previous page's `next`"),
    ),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "A page of objections", body = ObjectionPage),
        (status = 400, description = "`request.malformed`: a filter's value",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn list_objections() {}

/// One objection with its history
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/objections/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The objection's id (`obj-…`)")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The objection and its history", body = ObjectionDetail),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn objection_detail() {}

/// Claim the next open objection of a department
///
/// Oldest deadline first, moved to in review for the signed-in operator; two operators never
/// get the same one.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/objections/claim",
    tag = "admin",
    request_body = ClaimRequest,
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The claimed objection", body = ObjectionDetail),
        (status = 204, description = "The department's queue is empty"),
        (status = 400, description = "`request.malformed`: not a claim",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`: no such department",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn claim_objection() {}

/// Act on an objection
///
/// Assign, note, resolve corrected (dropping the cached answers on every node, and with a
/// `correction` telling the department's backend), resolve upheld, or reject with a reason.
/// Recorded in the history under the signed-in operator's name.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/objections/{id}/actions",
    tag = "admin",
    params(("id" = String, Path, description = "The objection's id (`obj-…`)")),
    request_body = ObjectionAction,
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The objection after the change", body = ObjectionDetail),
        (status = 400, description = "`request.malformed`: not an action, or an empty note, \
            reason or assignee", body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`resource.conflict`: the workflow forbids it (a \
            resolved objection, say)", body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn act_on_objection() {}

/// Recent verifications
///
/// Newest first, the holder only as a short hash.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/audit/recent",
    tag = "admin",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
        description = "Entries, 1–1000 (default 100)")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The newest audit entries", body = AuditPage),
        (status = 400, description = "`request.malformed`: `limit`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn recent_audit() {}

/// One verification by its id
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/audit/verifications/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The verification id (`v-…`)")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "Its audit entry", body = AuditView),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn audit_by_verification() {}

/// The venues
///
/// Every venue in the registry (never a key).
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/venues",
    tag = "admin",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The venues", body = Vec<VenueView>),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn list_venues() {}

/// Register a venue
///
/// The gateway makes its key, shown once in the answer (the store keeps only its hash). Every
/// node knows the venue within seconds.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/venues",
    tag = "admin",
    request_body = VenueRegistration,
    security(("operator_token" = [])),
    responses(
        (status = 201, description = "Registered; its key", body = VenueKeyIssued),
        (status = 400, description = "`request.malformed`: not a registration (an unknown \
            field, say)", body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`resource.conflict`: the id is taken",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "`request.unprocessable`: every problem at once (an id \
            that is no slug, a city or scenario not in the catalogue, a zero rate)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn register_venue() {}

/// Delete a venue
///
/// Its key and certificate are refused as unknown on every node within seconds, and its id is
/// free again (a seeded demo venue comes back at the next start).
#[utoipa::path(
    delete,
    context_path = ADMIN_PREFIX,
    path = "/venues/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The venue's id")),
    security(("operator_token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn delete_venue() {}

/// Give a venue a fresh key
///
/// The new key is shown once; the old one stops working on every node within seconds.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/venues/{id}/rotate",
    tag = "admin",
    params(("id" = String, Path, description = "The venue's id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The venue and its new key", body = VenueKeyIssued),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn rotate_venue_key() {}

/// Disable a venue
///
/// Its key is refused (`venue.disabled`) on every node within seconds.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/venues/{id}/disable",
    tag = "admin",
    params(("id" = String, Path, description = "The venue's id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The venue, disabled", body = VenueView),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn disable_venue() {}

/// Enable a disabled venue
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/venues/{id}/enable",
    tag = "admin",
    params(("id" = String, Path, description = "The venue's id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The venue, enabled", body = VenueView),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn enable_venue() {}

/// Bind a venue to its client certificate
///
/// From then on a request of the venue needs a client certificate from the venues' CA naming
/// it (mTLS); its key alone is refused (`venue.client_certificate_required`).
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/venues/{id}/bind-certificate",
    tag = "admin",
    params(("id" = String, Path, description = "The venue's id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The venue, bound", body = VenueView),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn bind_venue_certificate() {}

/// Free a venue of its client-certificate binding
///
/// Its key alone works again.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/venues/{id}/unbind-certificate",
    tag = "admin",
    params(("id" = String, Path, description = "The venue's id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The venue, unbound", body = VenueView),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn unbind_venue_certificate() {}

/// Reload the rollout plan
///
/// Re-reads the plan's file; a bad file is refused with every problem listed, and the plan in
/// force kept.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/rollout/reload",
    tag = "admin",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The plan now in force", body = RolloutReloaded),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 422, description = "`request.unprocessable`: the file was refused, the old \
            plan kept", body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn reload_rollout() {}

/// The plan's targets measured from traffic
///
/// What every node counted in the store over a window of days in China: per metric and basis
/// (`plan` and `assumed` service items apart), numerator, denominator, value, and the plan's
/// targets met or not. The same table as `gateway report`.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/kpis",
    tag = "admin",
    params(
        ("from" = Option<String>, Query, format = Date,
            description = "First day, YYYY-MM-DD (default: 29 days before `to`)"),
        ("to" = Option<String>, Query, format = Date,
            description = "Last day, YYYY-MM-DD (default: today in China)"),
        ("by" = Option<String>, Query, description = "Group the rows: `day`, `city` or `department`"),
    ),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The evaluation table", body = Evaluation),
        (status = 400, description = "`request.malformed`: `from`, `to` or `by`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn kpis() {}

/// The operators
///
/// By name, never a token.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/operators",
    tag = "admin",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The operator accounts", body = Vec<OperatorView>),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn list_operators() {}

/// Add an operator
///
/// The gateway makes its token, shown once in the answer (the store keeps only its SHA-256).
/// With the bootstrap secret, only the first operator, who must hold `operator-admin`.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/operators",
    tag = "admin",
    request_body = OperatorRegistration,
    security(("operator_token" = []), ("bootstrap_token" = [])),
    responses(
        (status = 201, description = "Added; its token", body = OperatorTokenIssued),
        (status = 400, description = "`request.malformed`: not a registration",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`resource.conflict`: the name is taken",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "`request.unprocessable`: a name that is no slug, no \
            role, or a first operator without `operator-admin`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn add_operator() {}

/// Disable an operator
///
/// Their token is refused on every node within seconds; the account stays, so the name stays
/// unique and readable in the histories it signed.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/operators/{name}:disable",
    tag = "admin",
    params(("name" = String, Path, description = "The operator's name")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The operator, disabled", body = OperatorView),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn disable_operator() {}
