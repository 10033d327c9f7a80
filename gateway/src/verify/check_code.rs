//! Stage 5, check the code: profile accepted, key by id in the trust list and valid now,
//! signature or MAC, time window, holder kind fits the scenario, consent scope covers every
//! certificate the scenario asks for, and — last, so only good codes are remembered — the nonce
//! not seen before within the code's validity.

use chrono::{DateTime, Utc};
use wire::catalogue::model::{HolderKind, Scenario};
use wire::code::{DecodedCode, HolderClaims, Verifier};

use crate::error::Failure;
use crate::replay::ReplayGuard;

fn kind_name(kind: HolderKind) -> &'static str {
    match kind {
        HolderKind::Person => "person",
        HolderKind::Organisation => "organisation",
    }
}

pub fn check(
    verifier: &Verifier,
    replay: &ReplayGuard,
    decoded: &DecodedCode,
    scenario: &Scenario,
    now: DateTime<Utc>,
) -> Result<HolderClaims, Failure> {
    let verified = verifier
        .check(decoded, now)
        .map_err(Failure::CodeRejected)?;
    let claims = verified.claims;
    if claims.kind != scenario.holder {
        return Err(Failure::WrongHolderKind {
            scenario: scenario.id.clone(),
            expected: kind_name(scenario.holder),
            actual: kind_name(claims.kind),
        });
    }
    if let Some(missing) = scenario
        .requirements
        .iter()
        .find(|r| !claims.allows(&r.certificate))
    {
        return Err(Failure::ScopeNotGranted(missing.certificate.clone()));
    }
    if !replay.first_use(&claims.nonce, claims.expires_at, now.timestamp()) {
        return Err(Failure::CodeReplayed);
    }
    Ok(claims)
}
