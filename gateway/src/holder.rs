//! A holder authenticating with a fresh code of their own (for "who checked me" and for filing
//! objections): the code must decode, verify (key, signature or MAC, time window), be made for
//! the holder's own access (a code shown to a venue, or photographed there, opens nothing here)
//! and not have been used before on any node. It is spent with what the route commits, and
//! only then: a failure that is not the holder's doing leaves it unspent.
//!
//! - [`accesses`] — `GET /v1/holder/accesses`: "who checked me".
//! - [`objection_filing`] — `POST /v1/objections`, by a holder or a venue.

pub mod accesses;
pub mod limits;
pub mod objection_filing;

use chrono::Utc;
use http::HeaderMap;
use wire::api::HOLDER_AUTH_SCHEME;
use wire::code::{HolderClaims, Purpose};

use crate::cluster::replay::spend_of;
use crate::error::Failure;
use crate::objections::{CodeSpend, Holder};
use crate::verify::{check_code, decode, VerifyService};
use limits::HolderLimits;

/// The code of `Authorization: Holder <code>`.
pub fn code_from_header(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, code) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case(HOLDER_AUTH_SCHEME)
        .then(|| code.trim())
        .filter(|c| !c.is_empty())
}

/// The claims of a fresh, authentic code made for the holder's own access, taken on this node
/// (the fast path for a replay here). A taken code is spent for good only together with what
/// its route commits — [`commit_spend`], or the objection filed with it ([`durable_spend`]) —
/// and a route that fails first gives it back ([`give_back`]), so a retry after a failure that
/// is not the holder's doing passes.
///
/// The holder's rate limit is taken here, between the two: a code that is not authentic
/// counts against no holder.
pub async fn take(
    service: &VerifyService,
    limits: &HolderLimits,
    code: &str,
) -> Result<HolderClaims, Failure> {
    let claims = authentic(service, code, Purpose::HolderAccess).await?;
    limits
        .admit_subject(service.subjects.hash(&claims.subject))
        .await?;
    check_code::spend(
        &service.replay,
        &check_code::Use::whole(&claims),
        Utc::now(),
    )?;
    Ok(claims)
}

/// Spends a taken code in the store, committed before it returns; refused as replayed when any
/// node spent it first. On any other failure the code is given back.
pub async fn commit_spend(service: &VerifyService, claims: &HolderClaims) -> Result<(), Failure> {
    let spend = spend_of(&claims.nonce, claims.expires_at);
    let spent = service.audit.spend(service.registry.store(), spend).await;
    if let Err(e) = &spent {
        if !matches!(e, Failure::CodeReplayed { .. }) {
            give_back(service, claims);
        }
    }
    spent
}

/// The durable spend of a taken code, for a write that commits it in its own transaction;
/// `None` when the audit trail is off (a code is then remembered by this process only).
pub fn durable_spend(service: &VerifyService, claims: &HolderClaims) -> Option<CodeSpend> {
    service.audit.enabled.then(|| CodeSpend {
        spend: spend_of(&claims.nonce, claims.expires_at),
        node: service.audit.node.clone(),
    })
}

/// Forgets a taken code on this node: its use was not committed.
pub fn give_back(service: &VerifyService, claims: &HolderClaims) {
    service.replay.forget(&claims.nonce, claims.expires_at);
}

/// The claims of an authentic code within its validity, made for `purpose`, its nonce not
/// spent (a venue showing the code a holder has just presented, with an objection).
pub async fn authentic(
    service: &VerifyService,
    code: &str,
    purpose: Purpose,
) -> Result<HolderClaims, Failure> {
    let decoded = decode::code(&service.verifier, code)?;
    let code = check_code::Presented {
        text: code,
        decoded: &decoded,
    };
    check_code::authentic(service.code_checks(), code, Utc::now(), purpose).await
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
