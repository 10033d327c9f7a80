//! Stage 8, fetch — its seal check: before a department's answer is cached or used, its seal must
//! verify with that department's key, it must answer for the holder and type asked, it must be
//! fresh (sealed for this very query, recently), and its identifiers and fields must be
//! well-formed. A record that fails is not cached and its requirement answers `unavailable`
//! (the department's fault, counted per backend).
//!
//! Freshness is what stops an old valid record from being replayed after a revocation: the
//! query's nonce is under the seal, so an answer kept from an earlier query (by a middleman, a
//! cache in between, a backend restored from a backup) does not pass for this one, and
//! `issued_at` is under the seal, so a backend cannot keep answering from a frozen copy.
//! Records served from the record cache, or stale while a department is down, were checked
//! when they arrived and keep the cache's own rules.

use std::time::Duration;

use chrono::{DateTime, Utc};
use wire::catalogue::model::{Backend, CertificateType};
use wire::issuer_api::Record;
use wire::keys::TrustList;

/// The stable code of an answer refused for freshness, in logs and the audit.
pub const STALE_RECORD: &str = "department.stale_record";

/// What one department answer is checked against besides its seal.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The holder's handle the query asked for.
    pub subject: &'a str,
    /// The query's nonce, which the record must carry under its seal.
    pub nonce: &'a str,
    /// How far `issued_at` may be from the gateway's clock, either way (a department's clock
    /// ahead of ours is as suspect as an old answer).
    pub max_age: Duration,
}

/// Why a department's answer was not trusted.
#[derive(Debug, thiserror::Error)]
pub enum SealRejection {
    #[error("answers for another holder or type")]
    WrongRecord,
    #[error("sealed by `{0}`, not the backend's department")]
    WrongDepartment(String),
    #[error("{0}")]
    Seal(#[from] wire::issuer_api::SealError),
    #[error("{0}")]
    Content(#[from] wire::issuer_api::RecordError),
    #[error("{STALE_RECORD}: {0}")]
    Stale(Staleness),
}

/// How a sealed answer fails to be fresh.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Staleness {
    #[error("sealed without the query's nonce")]
    NoNonce,
    #[error("sealed for another query")]
    OtherQuery,
    #[error("issued {age_secs} s ago, more than the {max_secs} s allowed")]
    TooOld { age_secs: i64, max_secs: u64 },
    #[error("issued {ahead_secs} s in the future by the gateway's clock, more than the {max_secs} s allowed")]
    FromTheFuture { ahead_secs: i64, max_secs: u64 },
}

impl SealRejection {
    /// The upstream outcome this rejection counts as (see `metrics::UPSTREAM_OUTCOMES`).
    pub fn outcome(&self) -> &'static str {
        match self {
            SealRejection::Stale(_) => "stale_record",
            _ => "rejected",
        }
    }
}

pub fn check(
    record: &Record,
    expected: Expected<'_>,
    certificate: &CertificateType,
    backend: &Backend,
    trust: &TrustList,
    now: DateTime<Utc>,
) -> Result<(), SealRejection> {
    if record.subject != expected.subject || record.certificate != certificate.code {
        return Err(SealRejection::WrongRecord);
    }
    if record.department != backend.department {
        return Err(SealRejection::WrongDepartment(record.department.clone()));
    }
    record.verify_seal(trust, now)?;
    freshness(record, expected, now).map_err(SealRejection::Stale)?;
    record.validate_identifiers()?;
    record.validate_fields(certificate)?;
    Ok(())
}

/// Whether a record whose seal holds answers this query, now.
fn freshness(record: &Record, expected: Expected<'_>, now: DateTime<Utc>) -> Result<(), Staleness> {
    match record.query_nonce.as_deref() {
        None => return Err(Staleness::NoNonce),
        Some(nonce) if nonce != expected.nonce => return Err(Staleness::OtherQuery),
        Some(_) => {}
    }
    let max_secs = expected.max_age.as_secs();
    let max_age = chrono::Duration::from_std(expected.max_age).unwrap_or(chrono::Duration::MAX);
    let age = now.signed_duration_since(record.issued_at);
    if age > max_age {
        return Err(Staleness::TooOld {
            age_secs: age.num_seconds(),
            max_secs,
        });
    }
    if -age > max_age {
        return Err(Staleness::FromTheFuture {
            ahead_secs: (-age).num_seconds(),
            max_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(nonce: Option<&str>, issued_at: DateTime<Utc>) -> Record {
        let mut r = Record::not_found("senior-citizen-card", "health", "h-1", issued_at);
        r.query_nonce = nonce.map(str::to_string);
        r
    }

    fn expected(nonce: &str) -> Expected<'_> {
        Expected {
            subject: "h-1",
            nonce,
            max_age: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_record_for_this_query_issued_just_now_is_fresh() {
        let now = Utc::now();
        let r = record(Some("q-1"), now - chrono::Duration::seconds(2));
        assert_eq!(freshness(&r, expected("q-1"), now), Ok(()));
        let r = record(Some("q-1"), now + chrono::Duration::seconds(2));
        assert_eq!(freshness(&r, expected("q-1"), now), Ok(()));
    }

    #[test]
    fn records_of_other_queries_old_or_future_are_stale() {
        let now = Utc::now();
        assert_eq!(
            freshness(&record(None, now), expected("q-1"), now),
            Err(Staleness::NoNonce)
        );
        assert_eq!(
            freshness(&record(Some("q-0"), now), expected("q-1"), now),
            Err(Staleness::OtherQuery)
        );
        let old = record(Some("q-1"), now - chrono::Duration::seconds(31));
        assert_eq!(
            freshness(&old, expected("q-1"), now),
            Err(Staleness::TooOld {
                age_secs: 31,
                max_secs: 30
            })
        );
        let ahead = record(Some("q-1"), now + chrono::Duration::seconds(45));
        assert_eq!(
            freshness(&ahead, expected("q-1"), now),
            Err(Staleness::FromTheFuture {
                ahead_secs: 45,
                max_secs: 30
            })
        );
    }
}
