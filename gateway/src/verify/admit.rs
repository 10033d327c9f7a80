//! Stage 1, admit: the body read under the verify route's size limit and deadline (a trickling
//! client cannot hold a worker), new verifications shed (503) while the audit backlog is full,
//! and — once the venue is known (stage 2), so a stranger learns nothing from a 400 — the JSON
//! parsed strictly. The venue's rate quota is taken in stage 2, when the venue is known.

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::Incoming;
use wire::api::VerifyRequest;

use super::VerifyLimits;
use crate::audit::AuditWriter;
use crate::error::Failure;

/// Reads the body: `application/json`, at most `max_body_bytes`, within `body_timeout`.
pub async fn body(
    headers: &HeaderMap,
    body: Incoming,
    limits: &VerifyLimits,
) -> Result<Bytes, Failure> {
    crate::http::request::read_body(headers, body, limits.max_body_bytes, limits.body_timeout).await
}

/// Refuses new verifications up front while the audit backlog is full, before their code is
/// spent: the venue can retry the same code after `Retry-After`.
pub fn not_backlogged(audit: &AuditWriter) -> Result<(), Failure> {
    match audit.full() {
        Some(retry_after_secs) => Err(Failure::AuditBacklogged {
            retry_after_secs: u32::try_from(retry_after_secs).unwrap_or(u32::MAX),
        }),
        None => Ok(()),
    }
}

/// Parses the verify request; unknown fields are refused so a typo is not silently ignored.
pub fn parse(body: &[u8]) -> Result<VerifyRequest, Failure> {
    crate::http::json::parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        assert!(parse(br#"{"code":"MZ1:x","scenario":"s"}"#).is_ok());
        assert_eq!(
            parse(br#"{"code":"MZ1:x"}"#).map_err(|e| e.code()).err(),
            Some("request.malformed")
        );
        assert_eq!(
            parse(br#"{"code":"x","scenario":"s","extra":1}"#)
                .map_err(|e| e.code())
                .err(),
            Some("request.malformed")
        );
        assert_eq!(
            parse(b"not json").map_err(|e| e.code()).err(),
            Some("request.malformed")
        );
    }
}
