//! RFC 9457 problem details as every Mianzheng service sends them: the gateway to venues, the
//! issuer backends to the gateway. One body shape, one `type` scheme, a stable machine `code`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Media type of problem bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Prefix of every problem `type` URI; the machine code follows.
pub const PROBLEM_TYPE_BASE: &str = "urn:mianzheng:problem:";

/// An RFC 9457 problem with our stable `code` and, where the sender has one, the request id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:mianzheng:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    /// The stable machine code, e.g. `code.expired`, `query.wrong_backend`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &str, detail: Option<String>) -> Problem {
        Problem {
            type_: type_uri(code),
            title: title.to_string(),
            status,
            code: code.to_string(),
            detail,
            request_id: None,
        }
    }

    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Problem {
        self.request_id = Some(request_id.into());
        self
    }
}

/// The `type` URI of machine code `code`.
pub fn type_uri(code: &str) -> String {
    format!("{PROBLEM_TYPE_BASE}{code}")
}
