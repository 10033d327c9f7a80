//! Why a request got no verdict: one enum of failures, each saying whose fault it is and
//! whether a retry can help, and the one function that maps them to HTTP ([`Failure::problem`]).
//! Internals never reach a client; each failure is logged once, at the edge (`verify.rs`).

use http::StatusCode;
use wire::code::CodeError;

use crate::http::problem::Problem;

/// Who has to act for the request to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The caller (a venue, an operator, a department): its request, credentials or
    /// permissions.
    Venue,
    /// The holder: their code.
    Holder,
    /// The gateway itself.
    Gateway,
}

/// A request refused before a verdict.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(
    test,
    derive(strum::EnumDiscriminants),
    strum_discriminants(name(FailureKind), derive(strum::EnumIter))
)]
pub enum Failure {
    #[error("no route for this method and path")]
    NotFound,
    #[error("method not allowed; use POST")]
    MethodNotAllowed,
    #[error("content-type must be application/json")]
    UnsupportedMediaType,
    #[error("request body exceeds {max} bytes")]
    BodyTooLarge { max: usize },
    #[error("request body did not arrive in time")]
    BodyTimeout,
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    #[error(
        "missing `Authorization: Bearer <venue key>` (or a client certificate naming a venue)"
    )]
    MissingCredentials,
    /// The venue is bound to a client certificate and this connection has none naming it.
    #[error("venue `{0}` must present its client certificate (mTLS) with every request")]
    ClientCertificateRequired(String),
    /// The connection's client certificate names another venue than the bearer key's.
    #[error("the client certificate names venue `{certificate}`, the key is venue `{key}`'s")]
    ClientCertificateMismatch { certificate: String, key: String },
    #[error("unknown venue key")]
    UnknownVenue,
    #[error("this venue is disabled")]
    VenueDisabled,
    #[error("unknown department token")]
    UnknownDepartmentToken,
    #[error("this token does not speak for department `{0}`")]
    WrongDepartment(String),
    #[error("venue quota exceeded; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u32 },
    /// Too many requests on the holder's routes from one address or for one holder.
    #[error(
        "too many requests for this holder or from this address; retry in {retry_after_secs} s"
    )]
    HolderRateLimited { retry_after_secs: u32 },
    #[error("unknown scenario `{0}`")]
    UnknownScenario(String),
    #[error("venue is not allowed scenario `{0}`")]
    ScenarioNotAllowed(String),
    /// Only a service window may pull an applicant's materials or record their commitments.
    #[error("venue `{0}` is not a service window (its registration lacks `service_window`)")]
    NotServiceWindow(String),
    #[error("unknown service item `{0}` (see config/service-items.toml)")]
    UnknownItem(u32),
    #[error("service item `{0}` lists no materials (its row in the plan is illegible)")]
    ItemWithoutMaterials(u32),
    /// A commitment names a material its materials answer did not list.
    #[error("materials request `{request}` has no material `{material}`")]
    MaterialNotInRequest { request: String, material: String },
    /// A commitment for a material that was answered otherwise than `commitment_allowed`, or
    /// whose catalogue entry allows none.
    #[error("no commitment may replace material `{material}`: {why}")]
    CommitmentNotAllowed { material: String, why: String },
    /// One commitment per material of a materials answer.
    #[error(
        "a commitment for material `{material}` of materials request `{request}` is recorded \
         already"
    )]
    CommitmentExists { request: String, material: String },
    /// The code could not be decoded (prefix, base45, compression, CBOR, COSE structure).
    #[error("malformed code: {0}")]
    CodeMalformed(CodeError),
    /// The code decoded but does not verify (key, signature, time, claims).
    #[error("code refused: {0}")]
    CodeRejected(CodeError),
    /// Each code works once, on whichever node: when and where it was first used.
    #[error("this code was already used, on node `{node}` at {at}")]
    CodeReplayed {
        node: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    #[error("the holder did not consent to `{0}` being checked with this code")]
    ScopeNotGranted(String),
    #[error("scenario `{scenario}` is for {expected} holders, the code is an {actual}'s")]
    WrongHolderKind {
        scenario: String,
        expected: &'static str,
        actual: &'static str,
    },
    #[error("certificate `{0}` is held by the holder's city, and the code names no valid city")]
    NoHolderCity(String),
    #[error("scenario `{0}` accepts only signed codes (EdDSA or ES256), not the HMAC profile")]
    ProfileNotAllowed(String),
    /// A code made for another use: a venue's code on the holder's own routes, or the other way.
    #[error("this code is for {actual}, not for {expected}")]
    WrongPurpose {
        expected: wire::code::Purpose,
        actual: wire::code::Purpose,
    },
    /// A code shown by a presenter (an agent, a family member) under a delegation that was
    /// revoked, on any node.
    #[error("the authorization this code was shown under (`{0}`) was revoked")]
    AuthorizationRevoked(String),
    /// A printed code its holder reported lost.
    #[error("this printed code was reported lost and is revoked")]
    PaperCodeRevoked,
    /// A printed code where the scenario takes only a phone's dynamic code, or on a route that
    /// takes none.
    #[error("{0} does not accept a printed code")]
    PaperNotAccepted(String),
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// Too many audit entries wait for the store: verifications are shed, not left unrecorded.
    #[error("the audit log is behind; retry in {retry_after_secs} s")]
    AuditBacklogged { retry_after_secs: u32 },
    /// More verifications in flight than the gateway keeps up with (`verify::admission`): the
    /// excess is refused at once, before its code is spent.
    #[error("the gateway is at its limit of verifications in flight; retry in 1 s")]
    Overloaded,
    /// The audit entry was not committed within `audit.commit_timeout_ms` (the store down or
    /// too slow) and was taken back: nothing was recorded and the code was not spent.
    #[error(
        "the audit log could not record this verification in time; the code was not spent: retry \
         in {retry_after_secs} s"
    )]
    AuditTimedOut { retry_after_secs: u32 },
    /// The audit entry was in a commit whose outcome is not known yet: it may be recorded.
    #[error(
        "the audit log has not confirmed this verification; a retry answered `code.replayed` \
         means it was recorded"
    )]
    AuditUnconfirmed,
    /// The store did not answer: nothing can be decided or recorded safely.
    #[error("the gateway's store is unavailable; retry shortly")]
    StoreUnavailable(String),
    #[error("missing or wrong `Authorization: Bearer <operator token>`")]
    AdminUnauthorized,
    /// The token belongs to an operator who was disabled.
    #[error("operator `{0}` is disabled")]
    OperatorDisabled(String),
    /// The bootstrap secret was shown after the first operator was created.
    #[error(
        "the bootstrap token (admin.token) only creates the first operator and operators exist: \
         use an operator's token (`gateway operators add` makes one)"
    )]
    BootstrapSpent,
    /// The bootstrap secret was shown for anything but creating the first operator.
    #[error(
        "the bootstrap token (admin.token) only creates the first operator: \
         POST /admin/v1/operators with a name and roles including `operator-admin`"
    )]
    BootstrapOnly,
    /// The operator's roles do not grant the route.
    #[error("this needs the `{needed}` role; operator `{operator}` holds {held}")]
    AdminForbidden {
        operator: String,
        needed: wire::admin_api::Role,
        held: String,
    },
    #[error("missing `Authorization: Holder <code>`: show a fresh code of your own")]
    MissingHolderCode,
    #[error("{what} `{id}` not found")]
    Missing { what: &'static str, id: String },
    /// The request clashes with the current state (a workflow step already taken, an id in use).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed, but it does not make sense for what it names.
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error")]
    Internal(String),
}

/// A wait as the whole seconds of `Retry-After`: rounded up, at least 1.
pub fn retry_after_secs(wait: std::time::Duration) -> u32 {
    wait.as_secs_f64().ceil().clamp(1.0, f64::from(u32::MAX)) as u32
}

impl From<store::StoreError> for Failure {
    /// A missing row is "not found", a clash is a conflict, an outage is 503 with
    /// `Retry-After`; anything else is the gateway's bug (500, details only in the log).
    fn from(e: store::StoreError) -> Failure {
        use store::StoreError;
        match e {
            StoreError::NotFound { what, id } => Failure::Missing { what, id },
            StoreError::Conflict(message) => Failure::Conflict(message),
            e if e.is_unavailable() => Failure::StoreUnavailable(e.to_string()),
            e => Failure::Internal(e.to_string()),
        }
    }
}

impl Failure {
    /// One failure of each kind, with placeholder details — the two that carry a code's error
    /// once per kind of [`CodeError`] — so that every code and status can be listed (the API
    /// document names them all: [`Failure::codes`]). A test checks that no kind is left out.
    pub fn one_of_each() -> Vec<Failure> {
        let at = chrono::DateTime::UNIX_EPOCH;
        let purpose = wire::code::Purpose::Presentation;
        let mut all = vec![
            Failure::NotFound,
            Failure::MethodNotAllowed,
            Failure::UnsupportedMediaType,
            Failure::BodyTooLarge { max: 0 },
            Failure::BodyTimeout,
            Failure::MalformedRequest(String::new()),
            Failure::MissingCredentials,
            Failure::ClientCertificateRequired(String::new()),
            Failure::ClientCertificateMismatch {
                certificate: String::new(),
                key: String::new(),
            },
            Failure::UnknownVenue,
            Failure::VenueDisabled,
            Failure::UnknownDepartmentToken,
            Failure::WrongDepartment(String::new()),
            Failure::RateLimited {
                retry_after_secs: 1,
            },
            Failure::HolderRateLimited {
                retry_after_secs: 1,
            },
            Failure::UnknownScenario(String::new()),
            Failure::ScenarioNotAllowed(String::new()),
            Failure::NotServiceWindow(String::new()),
            Failure::UnknownItem(0),
            Failure::ItemWithoutMaterials(0),
            Failure::MaterialNotInRequest {
                request: String::new(),
                material: String::new(),
            },
            Failure::CommitmentNotAllowed {
                material: String::new(),
                why: String::new(),
            },
            Failure::CommitmentExists {
                request: String::new(),
                material: String::new(),
            },
            Failure::CodeReplayed {
                node: String::new(),
                at,
            },
            Failure::ScopeNotGranted(String::new()),
            Failure::WrongHolderKind {
                scenario: String::new(),
                expected: "",
                actual: "",
            },
            Failure::NoHolderCity(String::new()),
            Failure::ProfileNotAllowed(String::new()),
            Failure::WrongPurpose {
                expected: purpose,
                actual: purpose,
            },
            Failure::AuthorizationRevoked(String::new()),
            Failure::PaperCodeRevoked,
            Failure::PaperNotAccepted(String::new()),
            Failure::ShuttingDown,
            Failure::AuditBacklogged {
                retry_after_secs: 1,
            },
            Failure::Overloaded,
            Failure::AuditTimedOut {
                retry_after_secs: 1,
            },
            Failure::AuditUnconfirmed,
            Failure::StoreUnavailable(String::new()),
            Failure::AdminUnauthorized,
            Failure::OperatorDisabled(String::new()),
            Failure::BootstrapSpent,
            Failure::BootstrapOnly,
            Failure::AdminForbidden {
                operator: String::new(),
                needed: wire::admin_api::Role::Viewer,
                held: String::new(),
            },
            Failure::MissingHolderCode,
            Failure::Missing {
                what: "",
                id: String::new(),
            },
            Failure::Conflict(String::new()),
            Failure::Unprocessable(String::new()),
            Failure::Internal(String::new()),
        ];
        all.extend(
            CodeError::one_of_each()
                .into_iter()
                .map(Failure::CodeMalformed),
        );
        all.extend(
            CodeError::one_of_each()
                .into_iter()
                .map(Failure::CodeRejected),
        );
        all
    }

    /// Every machine code a failure can have, sorted, each once.
    pub fn codes() -> Vec<&'static str> {
        let codes: std::collections::BTreeSet<&'static str> =
            Failure::one_of_each().iter().map(Failure::code).collect();
        codes.into_iter().collect()
    }

    /// The stable machine code clients may match on.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::NotFound => "request.not_found",
            Failure::MethodNotAllowed => "request.method_not_allowed",
            Failure::UnsupportedMediaType => "request.unsupported_media_type",
            Failure::BodyTooLarge { .. } => "request.too_large",
            Failure::BodyTimeout => "request.timeout",
            Failure::MalformedRequest(_) => "request.malformed",
            Failure::MissingCredentials => "venue.missing_credentials",
            Failure::ClientCertificateRequired(_) => "venue.client_certificate_required",
            Failure::ClientCertificateMismatch { .. } => "venue.client_certificate_mismatch",
            Failure::UnknownVenue => "venue.unknown",
            Failure::VenueDisabled => "venue.disabled",
            Failure::UnknownDepartmentToken => "department.unknown",
            Failure::WrongDepartment(_) => "department.mismatch",
            Failure::RateLimited { .. } => "venue.rate_limited",
            Failure::HolderRateLimited { .. } => "holder.rate_limited",
            Failure::UnknownScenario(_) => "scenario.unknown",
            Failure::ScenarioNotAllowed(_) => "scenario.not_allowed",
            Failure::NotServiceWindow(_) => "venue.not_service_window",
            Failure::UnknownItem(_) => "item.unknown",
            Failure::ItemWithoutMaterials(_) => "item.no_materials",
            Failure::MaterialNotInRequest { .. } => "commitment.unknown_material",
            Failure::CommitmentNotAllowed { .. } => "commitment.not_allowed",
            Failure::CommitmentExists { .. } => "commitment.exists",
            Failure::CodeMalformed(e) | Failure::CodeRejected(e) => e.code(),
            Failure::CodeReplayed { .. } => "code.replayed",
            Failure::ScopeNotGranted(_) => "code.scope_not_granted",
            Failure::WrongHolderKind { .. } => "code.wrong_holder_kind",
            Failure::NoHolderCity(_) => "code.no_city",
            Failure::ProfileNotAllowed(_) => "code.profile_not_allowed",
            Failure::WrongPurpose { .. } => "code.wrong_purpose",
            Failure::AuthorizationRevoked(_) => "code.authorization_revoked",
            Failure::PaperCodeRevoked => "code.reported_lost",
            Failure::PaperNotAccepted(_) => "code.paper_not_accepted",
            Failure::ShuttingDown => "gateway.shutting_down",
            Failure::StoreUnavailable(_) => "gateway.store_unavailable",
            Failure::AuditBacklogged { .. } => "gateway.audit_backlogged",
            Failure::Overloaded => "gateway.overloaded",
            Failure::AuditTimedOut { .. } => "gateway.audit_timeout",
            Failure::AuditUnconfirmed => "gateway.audit_unconfirmed",
            Failure::AdminUnauthorized => "admin.unauthorized",
            Failure::OperatorDisabled(_) => "admin.operator_disabled",
            Failure::BootstrapSpent => "admin.bootstrap_spent",
            Failure::BootstrapOnly | Failure::AdminForbidden { .. } => "admin.forbidden",
            Failure::MissingHolderCode => "holder.missing_code",
            Failure::Missing { .. } => "resource.not_found",
            Failure::Conflict(_) => "resource.conflict",
            Failure::Unprocessable(_) => "request.unprocessable",
            Failure::Internal(_) => "gateway.internal",
        }
    }

    pub fn fault(&self) -> Fault {
        match self {
            Failure::CodeMalformed(_)
            | Failure::CodeRejected(_)
            | Failure::CodeReplayed { .. }
            | Failure::ScopeNotGranted(_)
            | Failure::WrongHolderKind { .. }
            | Failure::NoHolderCity(_)
            | Failure::ProfileNotAllowed(_)
            | Failure::WrongPurpose { .. }
            | Failure::AuthorizationRevoked(_)
            | Failure::PaperCodeRevoked
            | Failure::PaperNotAccepted(_)
            | Failure::HolderRateLimited { .. }
            | Failure::MissingHolderCode => Fault::Holder,
            Failure::ShuttingDown
            | Failure::StoreUnavailable(_)
            | Failure::AuditBacklogged { .. }
            | Failure::Overloaded
            | Failure::AuditTimedOut { .. }
            | Failure::AuditUnconfirmed
            | Failure::Internal(_) => Fault::Gateway,
            _ => Fault::Venue,
        }
    }

    /// Whether sending the same request again can succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Failure::BodyTimeout
                | Failure::RateLimited { .. }
                | Failure::HolderRateLimited { .. }
                | Failure::ShuttingDown
                | Failure::StoreUnavailable(_)
                | Failure::AuditBacklogged { .. }
                | Failure::Overloaded
                | Failure::AuditTimedOut { .. }
                | Failure::AuditUnconfirmed
                | Failure::Internal(_)
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound
            | Failure::UnknownScenario(_)
            | Failure::UnknownItem(_)
            | Failure::Missing { .. } => StatusCode::NOT_FOUND,
            Failure::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Failure::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Failure::MalformedRequest(_) | Failure::CodeMalformed(_) => StatusCode::BAD_REQUEST,
            Failure::MissingCredentials
            | Failure::ClientCertificateRequired(_)
            | Failure::ClientCertificateMismatch { .. }
            | Failure::UnknownVenue
            | Failure::UnknownDepartmentToken
            | Failure::AdminUnauthorized
            | Failure::OperatorDisabled(_)
            | Failure::BootstrapSpent
            | Failure::MissingHolderCode => StatusCode::UNAUTHORIZED,
            Failure::ScenarioNotAllowed(_)
            | Failure::NotServiceWindow(_)
            | Failure::BootstrapOnly
            | Failure::AdminForbidden { .. }
            | Failure::ScopeNotGranted(_)
            | Failure::VenueDisabled
            | Failure::WrongDepartment(_) => StatusCode::FORBIDDEN,
            Failure::RateLimited { .. } | Failure::HolderRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Failure::CodeReplayed { .. }
            | Failure::Conflict(_)
            | Failure::CommitmentExists { .. } => StatusCode::CONFLICT,
            Failure::Unprocessable(_)
            | Failure::ItemWithoutMaterials(_)
            | Failure::MaterialNotInRequest { .. }
            | Failure::CommitmentNotAllowed { .. }
            | Failure::CodeRejected(_)
            | Failure::WrongHolderKind { .. }
            | Failure::NoHolderCity(_)
            | Failure::ProfileNotAllowed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::WrongPurpose { .. }
            | Failure::AuthorizationRevoked(_)
            | Failure::PaperCodeRevoked
            | Failure::PaperNotAccepted(_) => StatusCode::FORBIDDEN,
            Failure::ShuttingDown
            | Failure::StoreUnavailable(_)
            | Failure::AuditBacklogged { .. }
            | Failure::Overloaded
            | Failure::AuditTimedOut { .. }
            | Failure::AuditUnconfirmed => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one mapping from a failure to its HTTP answer.
    pub fn problem(&self, request_id: &str) -> Problem {
        let detail = match self {
            // Never show internals to a client; the log line has them.
            Failure::Internal(_) => None,
            Failure::StoreUnavailable(_) => {
                Some("the gateway's store is unavailable; retry shortly".into())
            }
            other => Some(other.to_string()),
        };
        let retry_after = match self {
            Failure::RateLimited { retry_after_secs }
            | Failure::HolderRateLimited { retry_after_secs }
            | Failure::AuditBacklogged { retry_after_secs }
            | Failure::AuditTimedOut { retry_after_secs } => Some(*retry_after_secs),
            Failure::ShuttingDown
            | Failure::StoreUnavailable(_)
            | Failure::AuditUnconfirmed
            | Failure::Overloaded => Some(1),
            _ => None,
        };
        let status = self.status();
        Problem {
            status,
            code: self.code(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            detail,
            request_id: request_id.to_string(),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        let cases: Vec<(Failure, u16, &str)> = vec![
            (Failure::BodyTooLarge { max: 10 }, 413, "request.too_large"),
            (Failure::UnknownVenue, 401, "venue.unknown"),
            (Failure::Overloaded, 503, "gateway.overloaded"),
            (
                Failure::ClientCertificateRequired("v".into()),
                401,
                "venue.client_certificate_required",
            ),
            (
                Failure::ClientCertificateMismatch {
                    certificate: "a".into(),
                    key: "b".into(),
                },
                401,
                "venue.client_certificate_mismatch",
            ),
            (
                Failure::ScenarioNotAllowed("x".into()),
                403,
                "scenario.not_allowed",
            ),
            (
                Failure::CodeRejected(CodeError::BadSignature),
                422,
                "code.bad_signature",
            ),
            (
                Failure::CodeMalformed(CodeError::BadPrefix {
                    expected: "MZ1:".into(),
                }),
                400,
                "code.bad_prefix",
            ),
            (
                Failure::CodeRejected(CodeError::Expired {
                    expired_at: 0,
                    now: 1,
                }),
                422,
                "code.expired",
            ),
            (
                Failure::CodeReplayed {
                    node: "node-a".into(),
                    at: chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time"),
                },
                409,
                "code.replayed",
            ),
            (
                Failure::AuditTimedOut {
                    retry_after_secs: 1,
                },
                503,
                "gateway.audit_timeout",
            ),
            (
                Failure::RateLimited {
                    retry_after_secs: 2,
                },
                429,
                "venue.rate_limited",
            ),
        ];
        let codes = Failure::codes();
        for (failure, status, code) in cases {
            assert_eq!(failure.status().as_u16(), status, "{failure}");
            assert_eq!(failure.code(), code);
            assert!(
                codes.contains(&code),
                "`{code}` is missing from Failure::codes"
            );
        }
        for failure in Failure::one_of_each() {
            let (status, code) = (failure.status(), failure.code());
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{failure:?}"
            );
            let (family, name) = code.split_once('.').unwrap_or_default();
            let plain = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            };
            assert!(
                plain(family) && plain(name),
                "`{code}` is not `family.name`"
            );
        }
        let p = Failure::Internal("db password wrong".into()).problem("r1");
        assert_eq!(p.detail, None, "internals never reach a client");
        assert_eq!(
            Failure::RateLimited {
                retry_after_secs: 2
            }
            .problem("r")
            .retry_after,
            Some(2)
        );
    }

    #[test]
    fn one_of_each_leaves_no_kind_out() {
        use strum::IntoEnumIterator as _;
        let listed: Vec<FailureKind> = Failure::one_of_each()
            .iter()
            .map(FailureKind::from)
            .collect();
        for kind in FailureKind::iter() {
            assert!(
                listed.contains(&kind),
                "Failure::{kind:?} must be in Failure::one_of_each"
            );
        }
        let every_code_error = CodeError::one_of_each().len();
        for kind in [FailureKind::CodeMalformed, FailureKind::CodeRejected] {
            let listed = listed.iter().filter(|k| **k == kind).count();
            assert_eq!(listed, every_code_error, "{kind:?}: once per code error");
        }
    }
}
