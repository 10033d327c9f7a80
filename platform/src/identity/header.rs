//! A token's shape and header, read before any key is looked up: three base64url parts, a JSON
//! header with an algorithm this platform accepts and the id of the key that signed it. `none`
//! and the HMAC algorithms are refused here, by name, so no key — whatever the provider's JWKS
//! holds — is ever used with a symmetric algorithm.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::TokenError;

/// Longest token read: access tokens are a few hundred bytes to a couple of kilobytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest key id accepted, in a header or a JWKS.
pub const MAX_KID_LEN: usize = 256;

/// The signature algorithms accepted, as JWS names them.
pub const ACCEPTED_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
];

/// What the header says, once it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenHeader {
    pub alg: Algorithm,
    pub kid: String,
}

/// Checks the token's shape and reads its header.
pub(crate) fn read(token: &str) -> Result<TokenHeader, TokenError> {
    let malformed = |m: &str| TokenError::Malformed(m.to_string());
    if token.is_empty() {
        return Err(malformed("it is empty"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed(format!(
            "it is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => return Err(malformed("encrypted tokens (JWE) are not accepted")),
        _ => return Err(malformed("a JWT has three dot-separated parts")),
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(malformed("a part is empty (an unsigned token?)"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(parts[0])
        .map_err(|_| malformed("the header is not base64url"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| malformed("the header is not a JSON object"))?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        Some(_) => return Err(malformed("the header's `alg` is not a string")),
        None => return Err(malformed("the header has no `alg`")),
    };
    let alg = accepted(alg)?;
    if header.contains_key("crit") {
        return Err(malformed(
            "the header's `crit` names extensions this platform does not understand",
        ));
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => kid.clone(),
        Some(Value::String(_)) => {
            return Err(TokenError::Malformed(format!(
                "the header's `kid` must be 1 to {MAX_KID_LEN} characters"
            )))
        }
        Some(_) => return Err(malformed("the header's `kid` is not a string")),
        None => {
            return Err(malformed(
                "the header names no key (`kid`); the identity provider's tokens always do",
            ))
        }
    };
    Ok(TokenHeader { alg, kid })
}

/// The algorithm named `alg`, if it is one of [`ACCEPTED_ALGORITHMS`]; `none` and the HMAC
/// family are forbidden, any other name unsupported.
pub(crate) fn accepted(alg: &str) -> Result<Algorithm, TokenError> {
    match alg {
        "ES256" => Ok(Algorithm::ES256),
        "EdDSA" => Ok(Algorithm::EdDSA),
        "RS256" => Ok(Algorithm::RS256),
        "PS256" => Ok(Algorithm::PS256),
        _ if alg.eq_ignore_ascii_case("none") || alg.to_ascii_uppercase().starts_with("HS") => {
            Err(TokenError::ForbiddenAlgorithm { alg: shown(alg) })
        }
        _ => Err(TokenError::UnsupportedAlgorithm { alg: shown(alg) }),
    }
}

/// A value the client sent, cut to a length fit for an error message.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn reads_alg_and_kid() {
        assert_eq!(
            read(&token(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#)),
            Ok(TokenHeader {
                alg: Algorithm::ES256,
                kid: "k1".into()
            })
        );
    }

    #[test]
    fn refuses_none_and_hmac_by_name() {
        for alg in ["none", "None", "NONE", "HS256", "HS384", "HS512", "hs256"] {
            let header = format!(r#"{{"alg":"{alg}","kid":"k1"}}"#);
            assert_eq!(
                read(&token(&header)).map_err(|e| e.code()),
                Err("token.forbidden_algorithm"),
                "{alg}"
            );
        }
        for alg in ["ES384", "RS512", "PS512", "ES256K", "X"] {
            let header = format!(r#"{{"alg":"{alg}","kid":"k1"}}"#);
            assert_eq!(
                read(&token(&header)).map_err(|e| e.code()),
                Err("token.unsupported_algorithm"),
                "{alg}"
            );
        }
    }

    #[test]
    fn refuses_odd_shapes() {
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.b.c.d.e".into(),
            format!(
                "{}.e30.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k"}"#)
            ),
            "!!!.e30.c2ln".into(),
            token("[1]"),
            token(r#"{"kid":"k"}"#),
            token(r#"{"alg":256,"kid":"k"}"#),
            token(r#"{"alg":"ES256"}"#),
            token(r#"{"alg":"ES256","kid":""}"#),
            token(r#"{"alg":"ES256","kid":7}"#),
            token(r#"{"alg":"ES256","kid":"k","crit":["b64"]}"#),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(
                read(&bad).map_err(|e| e.code()),
                Err("token.malformed"),
                "{bad:.80}"
            );
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "H".repeat(500);
        let Err(TokenError::UnsupportedAlgorithm { alg }) = accepted(&long) else {
            panic!("accepted");
        };
        assert_eq!(alg.chars().count(), 65);
    }
}
