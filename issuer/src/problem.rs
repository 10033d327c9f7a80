//! Every way a request can fail, and the one function that turns a failure into an HTTP
//! answer: an RFC 9457 `application/problem+json` body with a stable `code`. Internal details
//! never reach the client; each failure is logged once, here.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use wire::issuer_api::{problem_codes as codes, Problem, QueryError, PROBLEM_CONTENT_TYPE};

/// A failed request: whose fault it is follows from the variant (4xx the client's, 503 ours
/// on purpose or under load, 500 ours).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("body is over {limit} bytes")]
    TooLarge { limit: usize },
    #[error("body is not valid JSON for this endpoint: {0}")]
    BadJson(String),
    #[error("cannot read body: {0}")]
    BadBody(String),
    #[error("{0}")]
    Query(#[from] QueryError),
    #[error("certificate type `{0}` is not in the catalogue")]
    UnknownCertificate(String),
    #[error("backend `{backend}` does not answer for `{certificate}`")]
    WrongBackend {
        backend: String,
        certificate: String,
    },
    #[error("a {holder} cannot hold `{certificate}`")]
    WrongHolderKind {
        holder: &'static str,
        certificate: String,
    },
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("{0}")]
    BadAdminRequest(String),
    #[error("{0}")]
    Unavailable(&'static str),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadJson(_)
            | ApiError::BadBody(_)
            | ApiError::Query(_)
            | ApiError::UnknownCertificate(_)
            | ApiError::WrongBackend { .. }
            | ApiError::WrongHolderKind { .. }
            | ApiError::BadAdminRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => codes::NOT_FOUND,
            ApiError::MethodNotAllowed => codes::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => codes::TOO_LARGE,
            ApiError::BadJson(_) | ApiError::BadBody(_) => codes::BAD_JSON,
            ApiError::Query(e) => e.code(),
            ApiError::UnknownCertificate(_) => codes::UNKNOWN_CERTIFICATE,
            ApiError::WrongBackend { .. } => codes::WRONG_BACKEND,
            ApiError::WrongHolderKind { .. } => codes::WRONG_HOLDER_KIND,
            ApiError::Unauthorized => codes::UNAUTHORIZED,
            ApiError::BadAdminRequest(_) => "admin.bad_request",
            ApiError::Unavailable(_) => codes::UNAVAILABLE,
        }
    }

    fn title(&self) -> &'static str {
        match self.status() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::SERVICE_UNAVAILABLE => "Backend unavailable",
            _ => "Bad request",
        }
    }

    /// The HTTP answer. Logged here, once: client faults at debug, unavailability at info.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        if status.is_server_error() {
            tracing::info!(code = self.code(), "{self}");
        } else {
            tracing::debug!(code = self.code(), "{self}");
        }
        let problem = Problem::new(
            status.as_u16(),
            self.code(),
            self.title(),
            Some(self.to_string()),
        );
        let body = serde_json::to_vec(&problem).expect("problems serialize");
        let mut resp = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp = resp.header(header::RETRY_AFTER, "1");
        }
        if status == StatusCode::UNAUTHORIZED {
            resp = resp.header(header::WWW_AUTHENTICATE, "Bearer");
        }
        resp.body(Full::new(Bytes::from(body)))
            .expect("static headers are valid")
    }
}

/// A `200` JSON answer.
pub fn json_response(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).expect("responses serialize");
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}
