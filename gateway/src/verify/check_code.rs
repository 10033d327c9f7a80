//! Stage 5, check the code: profile accepted, key by id in the trust list and valid now,
//! signature or MAC, time window, made for presentation to a venue, HMAC only where the
//! scenario allows it, holder kind fits the scenario, consent scope covers every
//! certificate the scenario asks for, and — last, so only good codes are remembered — the nonce
//! not seen before on this node within the code's validity (the store's check, across nodes
//! and restarts, comes with the audit entry's commit in stage 11). Ed25519 signatures are checked in batches across
//! concurrent requests ([`crate::verify::signature_batch`]); a code whose signature verified
//! before is not verified again ([`crate::verify::verified_codes`]).

use chrono::{DateTime, Utc};
use wire::catalogue::model::Scenario;
use wire::code::{CodeError, DecodedCode, HolderClaims, Purpose, Verifier};
use wire::keys::Algorithm;

use crate::cluster::replay::ReplayGuard;
use crate::error::Failure;
use crate::metrics::Metrics;
use crate::verify::signature_batch::SignatureBatcher;
use crate::verify::verified_codes::VerifiedCodes;

/// What checks a code's authenticity: the trust list, the Ed25519 batcher, and the codes
/// whose signature verified before.
#[derive(Debug, Clone, Copy)]
pub struct CodeChecks<'s> {
    pub verifier: &'s Verifier,
    pub signatures: &'s SignatureBatcher,
    pub verified: &'s VerifiedCodes,
    pub metrics: &'s Metrics,
    /// How long past its expiry a code is still accepted (`codes.clock_skew_secs`).
    pub skew: std::time::Duration,
}

/// A code as presented: its text, and what it decoded to.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'c> {
    pub text: &'c str,
    pub decoded: &'c DecodedCode,
}

pub async fn check(
    checks: CodeChecks<'_>,
    replay: &ReplayGuard,
    code: Presented<'_>,
    scenario: &Scenario,
    now: DateTime<Utc>,
) -> Result<HolderClaims, Failure> {
    let decoded = code.decoded;
    let claims = authentic(checks, code, now, Purpose::Presentation).await?;
    if decoded.message.algorithm() == Algorithm::Hmac256 && !scenario.allow_hmac {
        return Err(Failure::ProfileNotAllowed(scenario.id.clone()));
    }
    if claims.kind != scenario.holder {
        return Err(Failure::WrongHolderKind {
            scenario: scenario.id.clone(),
            expected: scenario.holder.as_str(),
            actual: claims.kind.as_str(),
        });
    }
    if let Some(missing) = scenario
        .requirements
        .iter()
        .find(|r| !claims.allows(&r.certificate))
    {
        return Err(Failure::ScopeNotGranted(missing.certificate.clone()));
    }
    spend(replay, &claims, now)?;
    Ok(claims)
}

/// The code's claims if its key, signature or MAC and time window check out and it was made
/// for `purpose` (nothing about the scenario, and the nonce is not spent).
pub async fn authentic(
    checks: CodeChecks<'_>,
    code: Presented<'_>,
    now: DateTime<Utc>,
    purpose: Purpose,
) -> Result<HolderClaims, Failure> {
    let CodeChecks {
        verifier,
        signatures,
        verified: remembered,
        metrics,
        skew,
    } = checks;
    let decoded = code.decoded;
    // A signature that verified before is not verified again; MACs are cheaper than a look-up.
    let signed = !decoded.message.algorithm().is_mac();
    let digest = signed.then(|| VerifiedCodes::digest(code.text));
    let seen = digest.filter(|d| remembered.contains(d));
    if signed {
        metrics.cache("signatures", seen.is_some());
    }
    let verified = match seen {
        Some(_) => verifier.check_with_signature_remembered(decoded, now),
        // EdDSA signatures go to the batcher; every other profile is checked here in line.
        None => match verifier
            .detach_signature(decoded, now)
            .map_err(Failure::CodeRejected)?
        {
            Some(signature) => match signatures.verify(signature).await {
                true => verifier.check_with_signature_verified(decoded, now),
                false => Err(CodeError::BadSignature),
            },
            None => verifier.check(decoded, now),
        }
        .inspect(|verified| {
            if let Some(digest) = digest {
                remembered.remember(digest, verified.claims.expires_at, skew, now);
            }
        }),
    }
    .map_err(Failure::CodeRejected)?;
    if verified.claims.purpose != purpose {
        return Err(Failure::WrongPurpose {
            expected: purpose,
            actual: verified.claims.purpose,
        });
    }
    Ok(verified.claims)
}

/// Spends the code's nonce on this node — the fast path for a replay here: a second use within
/// its validity is refused with when it was first used. What holds across nodes and restarts is
/// the store's spent code, written with the use's audit entry (or by the holder's routes).
pub fn spend(
    replay: &ReplayGuard,
    claims: &HolderClaims,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    replay
        .first_use(&claims.nonce, claims.expires_at, now.timestamp_micros())
        .map_err(|first_us| Failure::CodeReplayed {
            node: replay.node().to_owned(),
            at: DateTime::from_timestamp_micros(first_us).unwrap_or(now),
        })
}
