//! A verified token's claims read into an [`Identity`]: the issuer and audience this platform
//! trusts, the validity window (with the leeway), and the holder — a subject handle of the
//! same form a code carries (`wire::code::claims`), the holder kind, the home city.
//!
//! Only called once the signature has been checked: nothing here is trusted before that.

use std::time::Duration;

use serde_json::{Map, Value};
use wire::catalogue::model::{CityCode, HolderKind};
use wire::code::claims::MAX_SUBJECT_LEN;

use super::header::shown;
use super::{Identity, IdentityProviderConfig, TokenError};

/// Longest display name kept.
pub const MAX_NAME_LEN: usize = 256;

/// The identity `claims` assert, checked against `config` at Unix time `now`.
pub(crate) fn identity(
    claims: &Map<String, Value>,
    config: &IdentityProviderConfig,
    now: i64,
) -> Result<Identity, TokenError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == config.issuer => {}
        Some(Value::String(iss)) => {
            return Err(TokenError::WrongIssuer {
                expected: config.issuer.clone(),
                actual: shown(iss),
            })
        }
        Some(_) => return Err(malformed("`iss` is not a string")),
        None => return Err(TokenError::MissingClaim("iss")),
    }
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == config.audience,
        Some(Value::Array(auds)) => {
            let mut named = false;
            for aud in auds {
                match aud {
                    Value::String(aud) => named |= *aud == config.audience,
                    _ => return Err(malformed("`aud` lists a value that is not a string")),
                }
            }
            named
        }
        Some(_) => return Err(malformed("`aud` is neither a string nor an array")),
        None => return Err(TokenError::MissingClaim("aud")),
    };
    if !for_us {
        return Err(TokenError::WrongAudience {
            expected: config.audience.clone(),
        });
    }

    let leeway = seconds(config.leeway);
    let expires_at = numeric_date(claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    if now >= expires_at.saturating_add(leeway) {
        return Err(TokenError::Expired {
            expired_at: expires_at,
        });
    }
    if let Some(not_before) = numeric_date(claims, "nbf")? {
        if not_before > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid { not_before });
        }
    }
    let issued_at = numeric_date(claims, "iat")?.ok_or(TokenError::MissingClaim("iat"))?;
    if issued_at > now.saturating_add(leeway) {
        return Err(TokenError::NotYetValid {
            not_before: issued_at,
        });
    }

    let subject = match claims.get("sub") {
        Some(Value::String(sub)) => subject(sub)?,
        Some(_) => return Err(TokenError::BadSubject("it is not a string")),
        None => return Err(TokenError::MissingClaim("sub")),
    };
    let kind = match claims.get("holder_kind") {
        None | Some(Value::Null) => HolderKind::Person,
        Some(Value::String(k)) if k == "person" => HolderKind::Person,
        Some(Value::String(k)) if k == "organisation" => HolderKind::Organisation,
        Some(_) => return Err(TokenError::BadHolderKind),
    };
    let city = match claims.get("city") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .and_then(|c| CityCode::try_from(c).ok())
                .filter(|c| (100_000..=999_999).contains(c))
                .ok_or(TokenError::BadCity)?,
        ),
        Some(_) => return Err(TokenError::BadCity),
    };
    let name = match claims.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.chars().count() <= MAX_NAME_LEN => Some(name.clone()),
        Some(Value::String(_)) => {
            return Err(TokenError::Malformed(format!(
                "`name` is longer than {MAX_NAME_LEN} characters"
            )))
        }
        Some(_) => return Err(malformed("`name` is not a string")),
    };
    Ok(Identity {
        subject,
        kind,
        city,
        name,
        expires_at,
    })
}

/// The subject handle: 1–64 characters of `A–Z a–z 0–9 - _ .`, as in a code's `sub`.
fn subject(sub: &str) -> Result<String, TokenError> {
    if sub.is_empty() {
        return Err(TokenError::BadSubject("it is empty"));
    }
    if sub.len() > MAX_SUBJECT_LEN {
        return Err(TokenError::BadSubject("it is longer than 64 characters"));
    }
    if !sub
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(TokenError::BadSubject(
            "it must be characters of A–Z a–z 0–9 - _ . only",
        ));
    }
    Ok(sub.to_string())
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional), whole seconds down.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // The cast saturates; a date that far out is nonsense either way, and stays so.
                Some(f) if f.is_finite() => Ok(Some(f.floor() as i64)),
                _ => Err(TokenError::Malformed(format!(
                    "`{name}` is not a NumericDate"
                ))),
            }
        }
        Some(_) => Err(TokenError::Malformed(format!(
            "`{name}` is not a NumericDate (seconds since 1970)"
        ))),
    }
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn malformed(m: &str) -> TokenError {
    TokenError::Malformed(m.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn config() -> IdentityProviderConfig {
        IdentityProviderConfig::new("https://id.example", "platform", "https://id.example/j")
    }

    fn good() -> Value {
        json!({
            "iss": "https://id.example", "aud": "platform", "sub": "demo-000001",
            "exp": NOW + 600, "iat": NOW, "nbf": NOW,
            "name": "张三", "holder_kind": "person", "city": 370100,
        })
    }

    fn check(claims: Value) -> Result<Identity, TokenError> {
        let Value::Object(map) = claims else {
            panic!("claims are an object")
        };
        identity(&map, &config(), NOW)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut claims = good();
        claims[key] = value;
        claims
    }

    fn without(key: &str) -> Value {
        let mut claims = good();
        claims.as_object_mut().map(|m| m.remove(key));
        claims
    }

    fn code(claims: Value) -> &'static str {
        check(claims).map_or_else(|e| e.code(), |_| "ok")
    }

    #[test]
    fn a_good_token_reads_into_an_identity() {
        assert_eq!(
            check(good()),
            Ok(Identity {
                subject: "demo-000001".into(),
                kind: HolderKind::Person,
                city: Some(370100),
                name: Some("张三".into()),
                expires_at: NOW + 600,
            })
        );
        let minimal = json!({
            "iss": "https://id.example", "aud": ["other", "platform"], "sub": "o.1_x-Y",
            "exp": NOW + 1, "iat": NOW,
        });
        assert_eq!(
            check(minimal),
            Ok(Identity {
                subject: "o.1_x-Y".into(),
                kind: HolderKind::Person,
                city: None,
                name: None,
                expires_at: NOW + 1,
            })
        );
        assert_eq!(
            check(with("holder_kind", json!("organisation"))).map(|i| i.kind),
            Ok(HolderKind::Organisation)
        );
    }

    #[test]
    fn issuer_and_audience() {
        assert_eq!(
            check(with("iss", json!("https://evil.example"))),
            Err(TokenError::WrongIssuer {
                expected: "https://id.example".into(),
                actual: "https://evil.example".into()
            })
        );
        assert_eq!(
            code(with("iss", json!(["https://id.example"]))),
            "token.malformed"
        );
        assert_eq!(code(without("iss")), "token.missing_claim");
        assert_eq!(code(with("aud", json!("other"))), "token.wrong_audience");
        assert_eq!(code(with("aud", json!(["a", "b"]))), "token.wrong_audience");
        assert_eq!(code(with("aud", json!([]))), "token.wrong_audience");
        assert_eq!(code(with("aud", json!(["platform", 1]))), "token.malformed");
        assert_eq!(code(with("aud", json!(7))), "token.malformed");
        assert_eq!(code(without("aud")), "token.missing_claim");
    }

    #[test]
    fn validity_window_with_leeway() {
        // Expired, but within the 30 s leeway: accepted; at the leeway's end: refused.
        assert_eq!(code(with("exp", json!(NOW - 29))), "ok");
        assert_eq!(
            check(with("exp", json!(NOW - 30))),
            Err(TokenError::Expired {
                expired_at: NOW - 30
            })
        );
        assert_eq!(code(with("exp", json!(NOW as f64 + 0.5))), "ok");
        assert_eq!(code(with("exp", json!("soon"))), "token.malformed");
        assert_eq!(code(without("exp")), "token.missing_claim");
        assert_eq!(code(with("nbf", json!(NOW + 30))), "ok");
        assert_eq!(
            check(with("nbf", json!(NOW + 31))),
            Err(TokenError::NotYetValid {
                not_before: NOW + 31
            })
        );
        assert_eq!(code(without("nbf")), "ok");
        assert_eq!(code(with("iat", json!(NOW + 3600))), "token.not_yet_valid");
        assert_eq!(code(without("iat")), "token.missing_claim");
    }

    #[test]
    fn the_holder() {
        for bad in [
            json!(""),
            json!("a".repeat(65)),
            json!("has space"),
            json!("身份"),
            json!("a/b"),
            json!(12),
        ] {
            assert_eq!(code(with("sub", bad.clone())), "token.bad_subject", "{bad}");
        }
        assert_eq!(code(with("sub", json!("a".repeat(64)))), "ok");
        assert_eq!(code(without("sub")), "token.missing_claim");
        for bad in [json!("Person"), json!("org"), json!(0), json!(true)] {
            assert_eq!(
                code(with("holder_kind", bad.clone())),
                "token.bad_holder_kind",
                "{bad}"
            );
        }
        for bad in [
            json!(99_999),
            json!(1_000_000),
            json!(-370100),
            json!(370100.5),
            json!("370100"),
        ] {
            assert_eq!(code(with("city", bad.clone())), "token.bad_city", "{bad}");
        }
        assert_eq!(code(with("city", json!(100_000))), "ok");
        assert_eq!(code(with("city", json!(999_999))), "ok");
        assert_eq!(code(with("name", json!(1))), "token.malformed");
        assert_eq!(
            code(with("name", json!("名".repeat(257)))),
            "token.malformed"
        );
    }
}
