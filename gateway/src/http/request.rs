//! What every route reads off a request before its own work: the request id, a bearer token,
//! and a body bounded in size and time (a trickling client cannot hold a worker).

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;

use crate::error::Failure;

/// The request id: the client's `x-request-id` when it is short and plain, otherwise a fresh
/// random one. Echoed in the response header, the problem body and the log line.
pub fn request_id<B>(req: &Request<B>) -> String {
    let given = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(id) => id.to_string(),
        None => crate::http::problem::fresh_request_id(),
    }
}

/// The token of an `Authorization: Bearer <token>` header (venue keys, department tokens).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Reads the body: refused with 413 before reading when `Content-Length` says it is too big,
/// cut off at `max` bytes otherwise, and abandoned with 408 when it has not fully arrived
/// within `deadline`.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    max: usize,
    deadline: Duration,
) -> Result<Bytes, Failure> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        });
    if !json {
        return Err(Failure::UnsupportedMediaType);
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Failure::BodyTooLarge { max });
    }
    let limited = Limited::new(body, max);
    match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => Err(Failure::BodyTimeout),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Failure::BodyTooLarge { max })
        }
        Ok(Err(e)) => Err(Failure::MalformedRequest(format!("reading the body: {e}"))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_taken_only_when_plain() {
        let with = |v: &str| {
            Request::builder()
                .header("x-request-id", v)
                .body(())
                .expect("request")
        };
        assert_eq!(request_id(&with("abc-123")), "abc-123");
        let fresh = |id: String| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(fresh(request_id(&with("bad id with spaces"))));
        assert!(fresh(request_id(&with(&"x".repeat(65)))));
        assert!(fresh(request_id(&Request::new(()))));
    }
}
