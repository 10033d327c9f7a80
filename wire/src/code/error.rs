//! Every way a holder code can fail, each with a stable machine code (`code.*`) that the
//! gateway returns in its problem responses and that `gateway code inspect` prints.

use crate::keys::KeyId;

/// Why a code was refused. The variants follow the decoding order; [`CodeError::code`] is the
/// stable machine code clients may match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(
    test,
    derive(strum::EnumDiscriminants),
    strum_discriminants(name(CodeErrorKind), derive(strum::EnumIter))
)]
pub enum CodeError {
    #[error("code is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("code does not start with the prefix `{expected}`")]
    BadPrefix { expected: String },
    #[error("invalid base45 character {found:?} at position {position}")]
    Base45Char { position: usize, found: char },
    #[error("base45 text has a dangling single character (length {len} is 1 mod 3)")]
    Base45Length { len: usize },
    #[error(
        "non-canonical base45: the group at position {position} decodes to {value}, over {max}"
    )]
    Base45NonCanonical {
        position: usize,
        value: u32,
        max: u32,
    },
    #[error("zlib data is corrupt: {0}")]
    Compression(String),
    #[error("decompressed code exceeds {max} bytes")]
    DecompressedTooLarge { max: usize },
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    #[error("not a COSE_Sign1 or COSE_Mac0 message: {0}")]
    NotCose(String),
    #[error("the protected header names no algorithm")]
    MissingAlgorithm,
    #[error("algorithm {0} is not supported")]
    UnsupportedAlgorithm(i64),
    #[error("algorithm {0} is not accepted by this verifier")]
    AlgorithmNotAccepted(&'static str),
    #[error("message type does not match its algorithm ({0})")]
    WrongMessageType(&'static str),
    #[error("critical header {0} is not understood")]
    UnknownCriticalHeader(String),
    #[error("no key id in either header")]
    MissingKeyId,
    #[error("no trusted key with id `{0}`")]
    UnknownKey(KeyId),
    #[error("key `{0}` is outside its validity window")]
    KeyNotValid(KeyId),
    #[error("signature or MAC does not verify")]
    BadSignature,
    #[error("the payload is not a valid CWT claims set: {0}")]
    BadClaims(String),
    #[error("required claim `{0}` is missing")]
    MissingClaim(&'static str),
    #[error("claim `{claim}` is {value}, outside the times a code may carry")]
    TimeOutOfRange { claim: &'static str, value: i128 },
    #[error("code expires at {expires_at}, before it was issued at {issued_at}")]
    ExpiresBeforeIssued { issued_at: i64, expires_at: i64 },
    #[error("code expired at {expired_at} (checked at {now})")]
    Expired { expired_at: i64, now: i64 },
    #[error("code is not valid before {valid_from} (checked at {now})")]
    NotYetValid { valid_from: i64, now: i64 },
    #[error("code lives {lifetime} s, more than the {max} s a code of its medium may")]
    LifetimeTooLong { lifetime: i64, max: i64 },
}

impl CodeError {
    /// One error of each kind, with placeholder details: what lists every machine code (the
    /// gateway's API document names them all). A test checks that no kind is left out.
    pub fn one_of_each() -> Vec<CodeError> {
        let key = || KeyId::new(*b"kid");
        vec![
            CodeError::TooLarge { len: 0, max: 0 },
            CodeError::BadPrefix {
                expected: String::new(),
            },
            CodeError::Base45Char {
                position: 0,
                found: ' ',
            },
            CodeError::Base45Length { len: 0 },
            CodeError::Base45NonCanonical {
                position: 0,
                value: 0,
                max: 0,
            },
            CodeError::Compression(String::new()),
            CodeError::DecompressedTooLarge { max: 0 },
            CodeError::Cbor(String::new()),
            CodeError::NotCose(String::new()),
            CodeError::MissingAlgorithm,
            CodeError::UnsupportedAlgorithm(0),
            CodeError::AlgorithmNotAccepted(""),
            CodeError::WrongMessageType(""),
            CodeError::UnknownCriticalHeader(String::new()),
            CodeError::MissingKeyId,
            CodeError::UnknownKey(key()),
            CodeError::KeyNotValid(key()),
            CodeError::BadSignature,
            CodeError::BadClaims(String::new()),
            CodeError::MissingClaim(""),
            CodeError::TimeOutOfRange {
                claim: "",
                value: 0,
            },
            CodeError::ExpiresBeforeIssued {
                issued_at: 0,
                expires_at: 0,
            },
            CodeError::Expired {
                expired_at: 0,
                now: 0,
            },
            CodeError::NotYetValid {
                valid_from: 0,
                now: 0,
            },
            CodeError::LifetimeTooLong {
                lifetime: 0,
                max: 0,
            },
        ]
    }

    /// The stable machine code of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            CodeError::TooLarge { .. } => "code.too_large",
            CodeError::BadPrefix { .. } => "code.bad_prefix",
            CodeError::Base45Char { .. } | CodeError::Base45Length { .. } => "code.bad_base45",
            CodeError::Base45NonCanonical { .. } => "code.non_canonical_base45",
            CodeError::Compression(_) => "code.bad_compression",
            CodeError::DecompressedTooLarge { .. } => "code.decompressed_too_large",
            CodeError::Cbor(_) => "code.bad_cbor",
            CodeError::NotCose(_) => "code.bad_cose",
            CodeError::MissingAlgorithm => "code.missing_algorithm",
            CodeError::UnsupportedAlgorithm(_) => "code.unsupported_algorithm",
            CodeError::AlgorithmNotAccepted(_) => "code.wrong_profile",
            CodeError::WrongMessageType(_) => "code.wrong_message_type",
            CodeError::UnknownCriticalHeader(_) => "code.unknown_critical_header",
            CodeError::MissingKeyId => "code.missing_kid",
            CodeError::UnknownKey(_) => "code.unknown_key",
            CodeError::KeyNotValid(_) => "code.key_not_valid",
            CodeError::BadSignature => "code.bad_signature",
            CodeError::BadClaims(_) => "code.bad_claims",
            CodeError::MissingClaim(_) => "code.missing_claim",
            CodeError::TimeOutOfRange { .. } => "code.time_out_of_range",
            CodeError::ExpiresBeforeIssued { .. } => "code.expires_before_issued",
            CodeError::Expired { .. } => "code.expired",
            CodeError::NotYetValid { .. } => "code.not_yet_valid",
            CodeError::LifetimeTooLong { .. } => "code.lifetime_too_long",
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator as _;

    use super::*;

    #[test]
    fn one_of_each_leaves_no_kind_out() {
        let listed: Vec<CodeErrorKind> = CodeError::one_of_each()
            .iter()
            .map(CodeErrorKind::from)
            .collect();
        for kind in CodeErrorKind::iter() {
            assert_eq!(
                listed.iter().filter(|k| **k == kind).count(),
                1,
                "CodeError::{kind:?} must be in CodeError::one_of_each once"
            );
        }
    }
}
