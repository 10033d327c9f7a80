//! The public listener's routes in the API document, with the path constants its router
//! (`crate::app::public`) matches on. Each fn only carries its route's description — what it
//! takes, who may call, what it answers — for `utoipa`: the handlers are the router's arms.

use wire::api::{
    HolderAccesses, ObjectionFiled, ObjectionFiling, VerifyRequest, VerifyResponse,
    HOLDER_ACCESSES_PATH, OBJECTIONS_PATH, VERIFY_PATH,
};
use wire::issuer_api::{IssuerEvent, EVENTS_PATH};
use wire::materials_api::{MaterialsRequest, MaterialsResponse, MATERIALS_PATH};
use wire::problem::{Problem, PROBLEM_CONTENT_TYPE};

use super::answers::{BodyTimeout, BodyTooLarge, Internal, NotJson, StoreUnavailable};

/// Verify a holder's code for a scenario
///
/// The venue shows the code it scanned and the scenario; the answer is a verdict per required
/// certificate and overall, with only the fields the scenario may disclose, masked; the
/// holder's full name and ID number only where the law obliges the venue to register them,
/// cited in the requirement's `legal_basis`. Each code works once, on any node. `unavailable`
/// and `not_offered` mean the venue falls back to the paper certificate.
#[utoipa::path(
    post,
    path = VERIFY_PATH,
    tag = "verify",
    request_body = VerifyRequest,
    security(("venue_key" = []), ("venue_certificate" = [])),
    responses(
        (status = 200, description = "The verdict", body = VerifyResponse),
        (status = 400, description = "`request.malformed` (not a verify request), or the code \
            could not be decoded: `code.too_large`, `code.bad_prefix`, `code.bad_base45`, \
            `code.non_canonical_base45`, `code.bad_compression`, `code.decompressed_too_large`, \
            `code.bad_cbor`, `code.bad_cose`, `code.missing_algorithm`, \
            `code.unsupported_algorithm`, `code.wrong_message_type`, \
            `code.unknown_critical_header`, `code.missing_kid`, `code.bad_claims`, \
            `code.time_out_of_range`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, description = "`venue.missing_credentials`, `venue.unknown`, \
            `venue.client_certificate_required` (the venue is bound to its client certificate \
            and the connection has none naming it), `venue.client_certificate_mismatch`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 403, description = "`venue.disabled`, `scenario.not_allowed`, \
            `code.scope_not_granted` (the holder did not consent to that certificate), \
            `code.wrong_purpose` (a code made for the holder's own routes)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 404, description = "`scenario.unknown`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`code.replayed`: the code was used before; the detail \
            names the node and time of the first use",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "The code does not verify: `code.bad_signature`, \
            `code.unknown_key`, `code.key_not_valid`, `code.wrong_profile`, `code.expired`, \
            `code.not_yet_valid`, `code.expires_before_issued`, `code.lifetime_too_long`, \
            `code.missing_claim`, `code.bad_claims` (not a holder code's claims); or does not \
            fit the scenario: `code.wrong_holder_kind`, \
            `code.no_city`, `code.profile_not_allowed`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 429, description = "`venue.rate_limited`: over the venue's quota",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE,
            headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))),
        (status = 500, response = Internal),
        (status = 503, description = "Retry the same code after `Retry-After` (it was not \
            spent): `gateway.overloaded`, `gateway.shutting_down`, `gateway.audit_backlogged`, \
            `gateway.audit_timeout`, `gateway.audit_unconfirmed` (a retry answered \
            `code.replayed` means the first was recorded), `gateway.store_unavailable`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE,
            headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))),
    )
)]
pub fn verify() {}

/// Pull a service item's materials (免证办)
///
/// A service window (a venue registered with `service_window`) shows the applicant's code,
/// minted for the service window with consent naming the item (`item:<no>`) or its department
/// (`department:<id>`), and the item's number. Every material of the item is answered:
/// `provided` (pulled from its department, seal checked, only the form's fields),
/// `commitment_allowed`, `must_present`, or `unavailable` (its department did not answer).
/// Audited like a verification; the code works once.
#[utoipa::path(
    post,
    path = MATERIALS_PATH,
    tag = "service-window",
    request_body = MaterialsRequest,
    security(("venue_key" = []), ("venue_certificate" = [])),
    responses(
        (status = 200, description = "Each material of the item and what became of it",
            body = MaterialsResponse),
        (status = 400, description = "`request.malformed`, or the code could not be decoded \
            (the `code.*` of decoding)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, description = "`venue.missing_credentials`, `venue.unknown`, \
            `venue.client_certificate_required`, `venue.client_certificate_mismatch`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 403, description = "`venue.disabled`, `venue.not_service_window`, \
            `code.scope_not_granted` (the consent names neither the item nor its department), \
            `code.wrong_purpose` (not a service-window code)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 404, description = "`item.unknown`: no such service item",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`code.replayed`: the code was used before",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "`item.no_materials` (an illegible row), the code does \
            not verify (`code.expired`, `code.bad_signature`, …), `code.wrong_holder_kind` (not \
            the item's applicant kind), `code.profile_not_allowed` (an HMAC code)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 429, description = "`venue.rate_limited`: over the venue's quota",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE,
            headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))),
        (status = 500, response = Internal),
        (status = 503, description = "Retry the same code after `Retry-After`: \
            `gateway.overloaded`, `gateway.shutting_down`, `gateway.audit_backlogged`, \
            `gateway.audit_timeout`, `gateway.audit_unconfirmed`, `gateway.store_unavailable`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE,
            headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))),
    )
)]
pub fn materials() {}

/// A department's record changed
///
/// Revoked, suspended, reinstated or corrected: the gateway drops what it cached for that
/// (holder, certificate type) on every node, so the next verification asks the department
/// again. Delivery is at least once; a notice sent twice is harmless. Another method on this
/// path is answered 404.
#[utoipa::path(
    post,
    path = EVENTS_PATH,
    tag = "departments",
    request_body = IssuerEvent,
    security(("department_token" = [])),
    responses(
        (status = 202, description = "Accepted: the cached answers are dropped"),
        (status = 400, description = "`request.malformed`: not an issuer event, or the \
            department does not issue the certificate type",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, description = "`venue.missing_credentials` (no bearer token), \
            `department.unknown` (a token of no department)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 403, description = "`department.mismatch`: the token does not speak for the \
            event's department",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 503, response = StoreUnavailable),
    )
)]
pub fn issuer_event() {}

/// File an objection: the record is wrong
///
/// A venue files with its key (or client certificate), naming one of its verifications and/or
/// showing the code the holder presents at the counter; a holder files with a fresh code of
/// their own in `code` and no `Authorization`. It is routed to the department that issues the
/// certificate, with that department's deadline, and answered only once stored durably.
#[utoipa::path(
    post,
    path = OBJECTIONS_PATH,
    tag = "objections",
    request_body = ObjectionFiling,
    security((), ("venue_key" = []), ("venue_certificate" = [])),
    responses(
        (status = 201, description = "Filed and stored", body = ObjectionFiled,
            headers(("Location" = String, description = "`/v1/objections/<objection_id>`"))),
        (status = 400, description = "`request.malformed` (the body, its channel or \
            description, neither `verification_id` nor `code`, no `certificate` without a \
            verification), or the code could not be decoded (the `code.*` of decoding)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, description = "`holder.missing_code` (neither a venue's credentials \
            nor a code), `venue.unknown`, `venue.client_certificate_required`, \
            `venue.client_certificate_mismatch`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 403, description = "`venue.disabled`, `code.wrong_purpose` (a holder filing \
            with a code made for venues, or a venue showing one made for the holder's routes)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 404, description = "`resource.not_found`: no such certificate type, or no \
            such verification of this venue or holder",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 408, response = BodyTimeout),
        (status = 409, description = "`code.replayed`: the holder's own code was used before",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 413, response = BodyTooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "`request.unprocessable` (the code a venue shows is not \
            the verified holder's; the verification did not ask for the `certificate` named, or \
            asked for several and none is named), or the code does not verify (the `code.*` of \
            verification)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 429, description = "`venue.rate_limited`, `holder.rate_limited`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE,
            headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    )
)]
pub fn file_objection() {}

/// Who checked me
///
/// The verifications of the holder whose fresh code is shown, newest first, a page at a
/// time: venue, scenario, time, verdict. The code is spent once the page is read.
#[utoipa::path(
    get,
    path = HOLDER_ACCESSES_PATH,
    tag = "holder",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100,
            description = "Entries per page, 1–100 (default 20)"),
        ("before" = Option<String>, Query,
            description = "The previous page's `next`, for the next (older) page"),
    ),
    security(("holder_code" = [])),
    responses(
        (status = 200, description = "A page of the holder's verifications", body = HolderAccesses),
        (status = 400, description = "`request.malformed` (`limit`, `before`), or the code \
            could not be decoded (the `code.*` of decoding)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 401, description = "`holder.missing_code`: no `Authorization: Holder <code>`",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 403, description = "`code.wrong_purpose`: a code made for venues",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 409, description = "`code.replayed`: the code was used before",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 422, description = "The code does not verify (the `code.*` of verification)",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE),
        (status = 429, description = "`holder.rate_limited`: too many requests from this \
            address or for this holder",
            body = Problem, content_type = PROBLEM_CONTENT_TYPE,
            headers(("Retry-After" = u32, description = "Seconds to wait before a retry"))),
        (status = 500, response = Internal),
        (status = 503, response = StoreUnavailable),
    )
)]
pub fn holder_accesses() {}
