//! The commitments' routes in the API document (告知承诺): the service window's filing on the
//! public listener (`crate::app::public`), and the post-check queues under [`ADMIN_PREFIX`]
//! (`crate::admin::api::commitments`). Each fn only carries its route's description for
//! `utoipa`; the role each admin route needs is added from [`wire::admin_api::ROUTE_ROLES`].

use wire::admin_api::{
    ClaimRequest, CommitmentAction, CommitmentCounts, CommitmentDetail, CommitmentPage,
    CommitmentStatus, ADMIN_PREFIX,
};
use wire::materials_api::{CommitmentFiling, CommitmentRecorded, COMMITMENTS_PATH};
use wire::problem::{Problem, PROBLEM_CONTENT_TYPE};

use super::answers::{
    AdminForbidden, AdminUnauthorized, BodyTimeout, BodyTooLarge, Internal, NotJson,
    StoreUnavailable,
};

/// Record an applicant's commitment (告知承诺)
///
/// A service window (a venue registered with `service_window`) records that the applicant
/// signed the commitment text `text_version` for a material of one of the window's own
/// materials answers (`POST /v1/materials`), which said `commitment_allowed` for it. The
/// commitment goes to the post-check queue of the department that answers for the material
/// (a certificate's issuing department; the item's department for a paper material), due
/// `commitments.check_days` days after the filing. Answered once stored durably.
#[utoipa::path(
    post,
    path = COMMITMENTS_PATH,
    tag = "service-window",
    request_body = CommitmentFiling,
    security(("venue_key" = []), ("venue_certificate" = [])),
    responses(
        (status = 201, description = "Recorded and stored", body = CommitmentRecorded,
            headers(("Location" = String, description = "`/v1/commitments/<commitment_id>`"))),
        (status = 400, description = "`request.malformed`: not a filing, an empty material, \
            or a `text_version` that is not 1–32 visible ASCII characters",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, description = "`venue.missing_credentials`, `venue.unknown`, \
            `venue.client_certificate_required`, `venue.client_certificate_mismatch`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 403, description = "`venue.disabled`, `venue.not_service_window`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 404, description = "`resource.not_found`: no materials answer of this \
            window with that id (another window's is not found either)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`commitment.exists`: this material of this answer has \
            its commitment already", body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "`commitment.unknown_material`: the answer has no such \
            material; `commitment.not_allowed`: the answer said something else than \
            `commitment_allowed` for it, or the catalogue allows no commitment for it",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 429, description = "`venue.rate_limited`: over the venue's quota",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE,
            headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    )
)]
pub fn file_commitment() {}

/// The commitments, a page at a time
///
/// By id; the filters combine.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/commitments",
    tag = "admin",
    params(
        ("department" = Option<String>, Query, description = "Only this department's"),
        ("status" = Option<CommitmentStatus>, Query, description = "Only those in this status"),
        ("open" = Option<bool>, Query, description = "`true`: only pending or in check"),
        ("overdue" = Option<bool>, Query,
            description = "`true`: only pending or in check with the deadline passed"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Commitments per page, 1–1000 (default 100)"),
        ("after" = Option<String>, Query, description = "The previous page's `next`"),
    ),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "A page of commitments", body = CommitmentPage),
        (status = 400, description = "`request.malformed`: a filter's value",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn list_commitments() {}

/// Commitments per department
///
/// Pending, in check, overdue, confirmed and found false, for each department with any.
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/commitments/counts",
    tag = "admin",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The counts, by department", body = CommitmentCounts),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn commitment_counts() {}

/// One commitment with its history
#[utoipa::path(
    get,
    context_path = ADMIN_PREFIX,
    path = "/commitments/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The commitment's id (`cm-…`)")),
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The commitment and its history", body = CommitmentDetail),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn commitment_detail() {}

/// Claim the next pending commitment of a department
///
/// Oldest deadline first, moved to in check for the signed-in operator; two operators never
/// get the same one.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/commitments/claim",
    tag = "admin",
    request_body = ClaimRequest,
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The claimed commitment", body = CommitmentDetail),
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
pub fn claim_commitment() {}

/// Resolve a commitment's post-check
///
/// Confirmed (with an optional note), or false with a reason. A pending one is first taken
/// into check by the signed-in operator; both steps are in the history under that name.
#[utoipa::path(
    post,
    context_path = ADMIN_PREFIX,
    path = "/commitments/{id}/actions",
    tag = "admin",
    params(("id" = String, Path, description = "The commitment's id (`cm-…`)")),
    request_body = CommitmentAction,
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The commitment after the change", body = CommitmentDetail),
        (status = 400, description = "`request.malformed`: not an action, or an empty reason",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, response = AdminUnauthorized),
        (status = 403, response = AdminForbidden),
        (status = 404, description = "`resource.not_found`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`resource.conflict`: the workflow forbids it (resolved \
            already, say)", body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    ),
)]
pub fn act_on_commitment() {}
