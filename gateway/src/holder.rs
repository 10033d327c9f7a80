//! A holder authenticating with a fresh code of their own (for "who checked me" and for filing
//! objections): the code must decode, verify (key, signature or MAC, time window) and not have
//! been used before on any node — it is spent here, in the store, so a code a venue scanned
//! cannot be reused to read the holder's history.
//!
//! - [`accesses`] — `GET /v1/holder/accesses`: "who checked me".
//! - [`objection_filing`] — `POST /v1/objections`, by a holder or a venue.

pub mod accesses;
pub mod objection_filing;

use chrono::Utc;
use http::HeaderMap;
use wire::api::HOLDER_AUTH_SCHEME;
use wire::code::HolderClaims;

use crate::error::Failure;
use crate::objections::Holder;
use crate::verify::{check_code, decode, VerifyService};

/// The code of `Authorization: Holder <code>`.
pub fn code_from_header(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, code) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case(HOLDER_AUTH_SCHEME)
        .then(|| code.trim())
        .filter(|c| !c.is_empty())
}

/// The claims of a fresh, authentic code, its nonce spent — on this node first (the fast
/// path), then in the store, committed, so no node accepts it again.
pub async fn authenticate(service: &VerifyService, code: &str) -> Result<HolderClaims, Failure> {
    let claims = authentic(service, code).await?;
    check_code::spend(&service.replay, &claims, Utc::now())?;
    let spend = crate::cluster::replay::spend_of(&claims.nonce, claims.expires_at);
    match service.audit.spend(service.registry.store(), spend).await {
        Ok(()) => Ok(claims),
        Err(e) => {
            if !matches!(e, Failure::CodeReplayed { .. }) {
                // Not recorded as spent: the holder may show the same code again.
                service.replay.forget(&claims.nonce, claims.expires_at);
            }
            Err(e)
        }
    }
}

/// The claims of an authentic code within its validity, its nonce not spent (a code a venue
/// has just used for a verification, shown again with an objection).
pub async fn authentic(service: &VerifyService, code: &str) -> Result<HolderClaims, Failure> {
    let decoded = decode::code(&service.verifier, code)?;
    check_code::authentic(&service.verifier, &service.signatures, &decoded, Utc::now()).await
}

/// The holder a code names, as the objection desk needs them.
pub fn holder(service: &VerifyService, claims: &HolderClaims) -> Holder {
    Holder {
        handle: claims.subject.clone(),
        hash: service.subjects.hash(&claims.subject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_scheme_is_read_and_nothing_else() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::AUTHORIZATION, v.parse().expect("header"));
            h
        };
        assert_eq!(code_from_header(&with("Holder MZ1:AB C")), Some("MZ1:AB C"));
        assert_eq!(code_from_header(&with("holder MZ1:X")), Some("MZ1:X"));
        assert_eq!(code_from_header(&with("Bearer MZ1:X")), None);
        assert_eq!(code_from_header(&with("Holder ")), None);
        assert_eq!(code_from_header(&HeaderMap::new()), None);
    }
}
