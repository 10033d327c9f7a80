//! [`TokenError`]: every reason an access token is refused, each with a message that may be
//! shown to the client that sent the token (it names no key material, no URL of ours, nothing
//! the client did not send) and a stable problem code ([`TokenError::code`]).

use chrono::{DateTime, SecondsFormat};

/// Why an access token was refused. The `Display` text is safe to return to the client in a
/// `401` problem answer ([`TokenError::http_status`] says which status); the code is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS with a JSON header and payload, or a claim of the wrong type.
    #[error("the access token is malformed: {0}")]
    Malformed(String),
    /// A claim every token must carry is absent.
    #[error("the access token has no `{0}` claim")]
    MissingClaim(&'static str),
    /// `none` or an HMAC algorithm: never accepted, whatever the key.
    #[error(
        "the access token's algorithm `{alg}` is refused: only asymmetric signatures (ES256, EdDSA, RS256, PS256) are accepted"
    )]
    ForbiddenAlgorithm { alg: String },
    /// An asymmetric algorithm this platform does not accept.
    #[error(
        "the access token's algorithm `{alg}` is not supported: ES256, EdDSA, RS256 or PS256 are"
    )]
    UnsupportedAlgorithm { alg: String },
    /// The header's algorithm is not the one the provider's key `kid` signs with.
    #[error(
        "the access token's algorithm `{alg}` is not the one key `{kid}` of the identity provider signs with"
    )]
    AlgorithmMismatch { alg: String, kid: String },
    /// No key of that id among the provider's keys, even after asking the provider again
    /// (or asking again was not allowed yet).
    #[error("the identity provider has no key `{kid}` (the access token's `kid`)")]
    UnknownKey { kid: String },
    /// The signature does not verify with the provider's key.
    #[error(
        "the access token's signature does not verify with the identity provider's key `{kid}`"
    )]
    BadSignature { kid: String },
    /// `exp` (plus the leeway) has passed.
    #[error("the access token expired at {}", rfc3339(*expired_at))]
    Expired { expired_at: i64 },
    /// `nbf` or `iat` is still ahead (beyond the leeway).
    #[error("the access token is not valid before {}", rfc3339(*not_before))]
    NotYetValid { not_before: i64 },
    /// `iss` is another issuer's.
    #[error("the access token was issued by `{actual}`, not by `{expected}`")]
    WrongIssuer { expected: String, actual: String },
    /// `aud` does not name this platform.
    #[error("the access token is not meant for `{expected}` (its `aud` does not name it)")]
    WrongAudience { expected: String },
    /// `sub` is not a subject handle.
    #[error("the access token's `sub` is refused: {0}")]
    BadSubject(&'static str),
    /// `holder_kind` is neither `person` nor `organisation`.
    #[error("the access token's `holder_kind` must be \"person\" or \"organisation\"")]
    BadHolderKind,
    /// `city` is not a 6-digit GB/T 2260 code.
    #[error(
        "the access token's `city` must be a 6-digit GB/T 2260 code (an integer 100000 to 999999)"
    )]
    BadCity,
    /// The provider's keys could not be fetched, and the last ones fetched (if any) are older
    /// than `max_stale`: the token cannot be checked now.
    #[error(
        "the identity provider's keys cannot be fetched now, so the access token cannot be checked; try again later"
    )]
    ProviderUnavailable,
}

impl TokenError {
    /// The stable problem code: `token.` and the reason.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "token.malformed",
            TokenError::MissingClaim(_) => "token.missing_claim",
            TokenError::ForbiddenAlgorithm { .. } => "token.forbidden_algorithm",
            TokenError::UnsupportedAlgorithm { .. } => "token.unsupported_algorithm",
            TokenError::AlgorithmMismatch { .. } => "token.algorithm_mismatch",
            TokenError::UnknownKey { .. } => "token.unknown_key",
            TokenError::BadSignature { .. } => "token.bad_signature",
            TokenError::Expired { .. } => "token.expired",
            TokenError::NotYetValid { .. } => "token.not_yet_valid",
            TokenError::WrongIssuer { .. } => "token.wrong_issuer",
            TokenError::WrongAudience { .. } => "token.wrong_audience",
            TokenError::BadSubject(_) => "token.bad_subject",
            TokenError::BadHolderKind => "token.bad_holder_kind",
            TokenError::BadCity => "token.bad_city",
            TokenError::ProviderUnavailable => "token.provider_unavailable",
        }
    }

    /// The HTTP status to answer with: `401` for every fault of the token (with a
    /// `WWW-Authenticate: Bearer error="invalid_token"` header, RFC 6750), `503` when the
    /// provider's keys cannot be had (the token may be fine).
    pub fn http_status(&self) -> u16 {
        match self {
            TokenError::ProviderUnavailable => 503,
            _ => 401,
        }
    }
}

/// A Unix time as RFC 3339 in UTC, or the bare number when out of chrono's range.
fn rfc3339(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0).map_or_else(
        || format!("Unix time {unix}"),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_namespaced() {
        let all = [
            TokenError::Malformed("x".into()),
            TokenError::MissingClaim("exp"),
            TokenError::ForbiddenAlgorithm { alg: "none".into() },
            TokenError::UnsupportedAlgorithm {
                alg: "ES384".into(),
            },
            TokenError::AlgorithmMismatch {
                alg: "RS256".into(),
                kid: "k".into(),
            },
            TokenError::UnknownKey { kid: "k".into() },
            TokenError::BadSignature { kid: "k".into() },
            TokenError::Expired { expired_at: 0 },
            TokenError::NotYetValid { not_before: 0 },
            TokenError::WrongIssuer {
                expected: "a".into(),
                actual: "b".into(),
            },
            TokenError::WrongAudience {
                expected: "a".into(),
            },
            TokenError::BadSubject("x"),
            TokenError::BadHolderKind,
            TokenError::BadCity,
            TokenError::ProviderUnavailable,
        ];
        let mut codes: Vec<&str> = all.iter().map(TokenError::code).collect();
        assert!(codes.iter().all(|c| c.starts_with("token.")));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn times_read_as_dates() {
        let e = TokenError::Expired {
            expired_at: 1_700_000_000,
        };
        assert_eq!(
            e.to_string(),
            "the access token expired at 2023-11-14T22:13:20Z"
        );
        assert_eq!(e.http_status(), 401);
        assert_eq!(TokenError::ProviderUnavailable.http_status(), 503);
    }
}
