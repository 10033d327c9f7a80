//! Stage 8, fetch — its seal check: before a department's answer is cached or used, its seal must
//! verify with that department's key, it must answer for the holder and type asked, and its
//! identifiers and fields must be well-formed. A record that fails is not cached and its
//! requirement answers `unavailable` (the department's fault, counted per backend).

use chrono::{DateTime, Utc};
use wire::catalogue::model::{Backend, CertificateType};
use wire::issuer_api::Record;
use wire::keys::TrustList;

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
}

pub fn check(
    record: &Record,
    subject: &str,
    certificate: &CertificateType,
    backend: &Backend,
    trust: &TrustList,
    now: DateTime<Utc>,
) -> Result<(), SealRejection> {
    if record.subject != subject || record.certificate != certificate.code {
        return Err(SealRejection::WrongRecord);
    }
    if record.department != backend.department {
        return Err(SealRejection::WrongDepartment(record.department.clone()));
    }
    record.verify_seal(trust, now)?;
    record.validate_identifiers()?;
    record.validate_fields(certificate)?;
    Ok(())
}
