//! `POST /token`: the resource owner password grant (RFC 6749 §4.3) — the demo holder's
//! username and password in, an access token out. The token names the `client_id` as its
//! audience; errors are RFC 6749 §5.2 answers (`{"error": …, "error_description": …}`, 400).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{DemoHolder, Shared};

/// Largest token request read.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;
/// Longest `client_id` accepted.
const MAX_CLIENT_ID_LEN: usize = 128;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl GrantError {
    fn bad(error: &'static str, description: impl Into<String>) -> GrantError {
        GrantError {
            status: 400,
            error,
            description: description.into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// The answer to a token request with this form body, at Unix time `now`.
pub(crate) fn answer(
    shared: &Shared,
    content_type: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Value, GrantError> {
    let form = content_type.is_some_and(|t| {
        t.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !form {
        return Err(GrantError::bad(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut params: HashMap<String, String> = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            // RFC 6749 §3.2: parameters must not be included more than once.
            return Err(GrantError::bad(
                "invalid_request",
                format!("parameter `{name}` is repeated"),
            ));
        }
    }
    let param = |name: &'static str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| GrantError::bad("invalid_request", format!("`{name}` is missing")))
    };
    let grant_type = param("grant_type")?;
    if grant_type != "password" {
        return Err(GrantError::bad(
            "unsupported_grant_type",
            "only the `password` grant is offered",
        ));
    }
    let client_id = param("client_id")?;
    if client_id.len() > MAX_CLIENT_ID_LEN
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return Err(GrantError::bad(
            "invalid_request",
            "`client_id` must be 1 to 128 printable ASCII characters",
        ));
    }
    let username = param("username")?;
    let password = param("password")?;
    let holder = shared
        .holders
        .get(username.as_str())
        .filter(|h| same(h.password.as_bytes(), password.as_bytes()))
        .ok_or_else(|| GrantError::bad("invalid_grant", "wrong username or password"))?;
    let lifetime = shared.token_lifetime_secs();
    let token = shared
        .sign(&claims(&shared.issuer, holder, client_id, now, lifetime))
        .map_err(|e| {
            tracing::error!("demo identity provider: {e}");
            GrantError {
                status: 500,
                error: "server_error",
                description: "the token could not be signed".into(),
            }
        })?;
    Ok(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime,
    }))
}

/// The access token's claims for `holder`.
pub(crate) fn claims(
    issuer: &str,
    holder: &DemoHolder,
    audience: &str,
    now: i64,
    lifetime: i64,
) -> Value {
    let mut claims = json!({
        "iss": issuer,
        "sub": holder.subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": hex::encode(rand::random::<[u8; 16]>()),
        "name": holder.name,
        "holder_kind": holder.kind.as_str(),
    });
    if let Some(city) = holder.city {
        claims["city"] = json!(city);
    }
    claims
}

/// Byte strings compared in time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
