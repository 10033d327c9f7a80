//! Stage 6, resolve: each requirement of the scenario → its certificate type → the backend that
//! holds the record for this holder by default ([`Catalogue::backend_for`]: "谁制发、谁核验"): the
//! first department's, at the province or in the holder's home city; the national hub for a
//! holder from another province. Where another backend may hold the record (a second issuing
//! department, a city of registration other than the home city), stage 8 asks the index first
//! ([`super::fetch`]).

use wire::catalogue::model::{Backend, CertificateType, Requirement, Scenario};
use wire::catalogue::{Catalogue, RouteError};
use wire::code::HolderClaims;

use crate::error::Failure;

/// One requirement with where to ask about it.
#[derive(Debug, Clone, Copy)]
pub struct Planned<'c> {
    pub requirement: &'c Requirement,
    pub certificate: &'c CertificateType,
    pub backend: &'c Backend,
}

pub fn plan<'c>(
    catalogue: &'c Catalogue,
    scenario: &'c Scenario,
    holder: &HolderClaims,
) -> Result<Vec<Planned<'c>>, Failure> {
    scenario
        .requirements
        .iter()
        .map(|requirement| requirement_of(catalogue, requirement, holder))
        .collect()
}

/// Where to ask about one requirement for this holder (a scenario's, or a service item's
/// material: `crate::materials`).
pub fn requirement_of<'c>(
    catalogue: &'c Catalogue,
    requirement: &'c Requirement,
    holder: &HolderClaims,
) -> Result<Planned<'c>, Failure> {
    let certificate = catalogue
        .certificate(&requirement.certificate)
        .ok_or_else(|| {
            Failure::Internal(format!("catalogue lost `{}`", requirement.certificate))
        })?;
    let backend = catalogue
        .backend_for(&requirement.certificate, holder.city)
        .map_err(|e| match e {
            RouteError::NoHolderCity { .. }
            | RouteError::UnknownCity(_)
            | RouteError::NoNationalHub(_)
            | RouteError::NoCityBackend { .. } => {
                Failure::NoHolderCity(requirement.certificate.clone())
            }
            other => Failure::Internal(other.to_string()),
        })?;
    Ok(Planned {
        requirement,
        certificate,
        backend,
    })
}
