//! Stage 5, check the code: profile accepted, key by id in the trust list and valid now,
//! signature or MAC, time window, made for presentation to a venue, HMAC only where the
//! scenario allows it, holder kind fits the scenario, consent scope covers every
//! certificate the scenario asks for, and — last, so only good codes are remembered — the nonce
//! not seen before on this node within the code's validity (the store's check, across nodes
//! and restarts, comes with the audit entry's commit in stage 11). Ed25519 signatures are checked in batches across
//! concurrent requests ([`crate::verify::signature_batch`]); a code whose signature verified
//! before is not verified again ([`crate::verify::verified_codes`]).
//!
//! Two kinds of code carry more: a code shown by a presenter (an agent for a company, a family
//! member for an elder) is refused once its delegation is revoked, on every node
//! ([`crate::cluster::revocations`]); a printed code is accepted only where the scenario is
//! `paper_ok`, is refused once reported lost, and is spent per venue and day rather than once
//! ([`Use`]).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use wire::calendar::china_today;
use wire::catalogue::model::Scenario;
use wire::code::{CodeError, DecodedCode, HolderClaims, Medium, Purpose, Verifier};
use wire::keys::Algorithm;

use crate::cluster::replay::{spend_of, ReplayGuard};
use crate::cluster::revocations::Revocations;
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

/// What one use of a code spends: its nonce until the code expires — or, for a printed code,
/// its use at this venue on this day (a printed code may be used once per venue per day), until
/// the day ends in China.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub nonce: Vec<u8>,
    /// Unix seconds: when the spent nonce may be forgotten.
    pub until: i64,
}

impl Use {
    /// A code used up at once: its nonce, until it expires (a phone's code; the holder's own
    /// routes and a service window take no other).
    pub fn whole(claims: &HolderClaims) -> Use {
        Use {
            nonce: claims.nonce.clone(),
            until: claims.expires_at,
        }
    }

    /// The use of `claims` at `venue` at `now`.
    pub fn of(claims: &HolderClaims, venue: &str, now: DateTime<Utc>) -> Use {
        match claims.medium {
            Medium::Phone => Use::whole(claims),
            Medium::Paper => {
                let today = china_today(now);
                let mut h = Sha256::new();
                h.update(b"mianzheng-paper-use/1");
                h.update((claims.nonce.len() as u32).to_be_bytes());
                h.update(&claims.nonce);
                h.update((venue.len() as u32).to_be_bytes());
                h.update(venue.as_bytes());
                h.update(today.to_string().as_bytes());
                let day_ends = today
                    .succ_opt()
                    .and_then(|next| next.and_hms_opt(0, 0, 0))
                    .map_or(claims.expires_at, |midnight| {
                        midnight.and_utc().timestamp() - CHINA_OFFSET_SECS
                    });
                Use {
                    nonce: h.finalize()[..16].to_vec(),
                    until: day_ends.min(claims.expires_at),
                }
            }
        }
    }

    /// Where the use is filed in the store's spent codes.
    pub fn spend(&self) -> store::Spend {
        spend_of(&self.nonce, self.until)
    }
}

/// China Standard Time is UTC+8, all year.
const CHINA_OFFSET_SECS: i64 = 8 * 3600;

/// A code checked for a scenario at a venue: its claims, and what its use spends.
#[derive(Debug, Clone)]
pub struct Checked {
    pub claims: HolderClaims,
    pub spent: Use,
}

/// Where the code is shown, and what refuses revoked ones.
#[derive(Debug, Clone, Copy)]
pub struct Showing<'a> {
    pub scenario: &'a Scenario,
    pub venue: &'a str,
    pub revocations: &'a Revocations,
}

pub async fn check(
    checks: CodeChecks<'_>,
    replay: &ReplayGuard,
    code: Presented<'_>,
    showing: Showing<'_>,
    now: DateTime<Utc>,
) -> Result<Checked, Failure> {
    let decoded = code.decoded;
    let scenario = showing.scenario;
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
    if claims.medium == Medium::Paper {
        if !scenario.paper_ok {
            return Err(Failure::PaperNotAccepted(format!(
                "scenario `{}`",
                scenario.id
            )));
        }
        showing
            .revocations
            .check_paper_code(&hex::encode(&claims.nonce))
            .await?;
    }
    if let Some(presenter) = &claims.presenter {
        showing
            .revocations
            .check_delegation(&presenter.delegation)
            .await?;
    }
    let spent = Use::of(&claims, showing.venue, now);
    spend(replay, &spent, now)?;
    Ok(Checked { claims, spent })
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
    if verified.claims.medium == Medium::Paper && purpose != Purpose::Presentation {
        return Err(Failure::PaperNotAccepted(format!("the {purpose} route")));
    }
    Ok(verified.claims)
}

/// Spends the use on this node — the fast path for a replay here: a second use within its
/// validity is refused with when it was first used. What holds across nodes and restarts is
/// the store's spent code, written with the use's audit entry (or by the holder's routes).
pub fn spend(replay: &ReplayGuard, spent: &Use, now: DateTime<Utc>) -> Result<(), Failure> {
    replay
        .first_use(&spent.nonce, spent.until, now.timestamp_micros())
        .map_err(|first_us| Failure::CodeReplayed {
            node: replay.node().to_owned(),
            at: DateTime::from_timestamp_micros(first_us).unwrap_or(now),
        })
}
