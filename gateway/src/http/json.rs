//! JSON in and out for the API routes beside the hot path (objections, "who checked me", the
//! admin API): strict parsing of a bounded body, and answers with the request id.

use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Failure;
use crate::http::problem::REQUEST_ID_HEADER;
use crate::http::request;

/// Largest JSON body these routes take.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads and parses a JSON body (content type, size and time bounded; unknown fields are the
/// type's business — the API types refuse them).
pub async fn read<T: DeserializeOwned>(headers: &HeaderMap, body: Incoming) -> Result<T, Failure> {
    let bytes = request::read_body(headers, body, MAX_BODY_BYTES, BODY_TIMEOUT).await?;
    parse(&bytes)
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| Failure::MalformedRequest(format!("body: {e}")))
}

/// A JSON answer.
pub fn reply<T: Serialize>(
    status: StatusCode,
    body: &T,
    request_id: &str,
) -> Response<Full<Bytes>> {
    match serde_json::to_vec(body) {
        Ok(json) => Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json")
            .header(REQUEST_ID_HEADER, request_id)
            .body(Full::new(Bytes::from(json)))
            .expect("static headers are valid"),
        Err(e) => Failure::Internal(format!("serialising an answer: {e}"))
            .problem(request_id)
            .into_response(),
    }
}

/// 204 No Content: the change is done and there is nothing to say.
pub fn no_content(request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(REQUEST_ID_HEADER, request_id)
        .body(Full::new(Bytes::new()))
        .expect("static headers are valid")
}

/// The answer for a result: the value as JSON with `status`, or the failure's problem.
pub fn answer<T: Serialize>(
    result: Result<T, Failure>,
    status: StatusCode,
    request_id: &str,
) -> Response<Full<Bytes>> {
    match result {
        Ok(value) => reply(status, &value, request_id),
        Err(failure) => {
            match failure.fault() {
                crate::error::Fault::Gateway => {
                    tracing::error!(request_id, code = failure.code(), error = ?failure, "request failed")
                }
                _ => tracing::info!(request_id, code = failure.code(), "request refused"),
            }
            failure.problem(request_id).into_response()
        }
    }
}

/// The value of query parameter `name`, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A numeric query parameter within `1..=max`, `default` when absent.
pub fn limit_param(query: Option<&str>, default: u32, max: u32) -> Result<u32, Failure> {
    match query_param(query, "limit") {
        None => Ok(default),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Failure::MalformedRequest(format!(
                "limit `{text}` must be a number within 1..={max}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let q = Some("department=public-security&after=obj%2D1&note=a+b&limit=5");
        assert_eq!(
            query_param(q, "department").as_deref(),
            Some("public-security")
        );
        assert_eq!(query_param(q, "after").as_deref(), Some("obj-1"));
        assert_eq!(query_param(q, "note").as_deref(), Some("a b"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(Some("x=%zz"), "x").as_deref(), Some("%zz"));
        assert_eq!(query_param(Some("x=%4"), "x").as_deref(), Some("%4"));
        assert_eq!(limit_param(q, 10, 100).ok(), Some(5));
        assert_eq!(limit_param(None, 10, 100).ok(), Some(10));
        assert!(limit_param(Some("limit=0"), 10, 100).is_err());
        assert!(limit_param(Some("limit=101"), 10, 100).is_err());
    }
}
